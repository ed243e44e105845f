// Reload (SIGHUP / -s reload): a whole new configuration with new workers, the master stays,
// old workers drain and exit, listening sockets are handed over so that nothing is refused.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include "support/harness.h"

namespace halo_test {
namespace {

struct Options {
    int workers = 1;
    std::string listen_params;  // e.g. " reuseport"
    std::vector<int> ports = {0};
    std::string main_extra;
    std::string events_extra;  // e.g. "accept_mutex on;"
};

/// A config answering `body` on the given harness ports.
std::string conf(std::string_view body, const Options& o = {}) {
    std::string c = "daemon off;\nworker_processes " + std::to_string(o.workers) +
                    ";\nerror_log logs/error.log notice;\n" + o.main_extra +
                    "\nevents {\n    worker_connections 256;\n    " + o.events_extra +
                    "\n}\n\nhttp {\n    server {\n";
    for (int p : o.ports) {
        c +=
            "        listen 127.0.0.1:%%PORT_" + std::to_string(p) + "%%" + o.listen_params + ";\n";
    }
    c += "        location / {\n            return 200 \"";
    c += body;
    c += "\\n\";\n        }\n    }\n}\n";
    return c;
}

bool all_gone(const std::vector<pid_t>& pids) {
    for (pid_t p : pids) {
        if (process_alive(p)) {
            return false;
        }
    }
    return true;
}

class ReloadTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_rewrite")) {
            GTEST_SKIP() << "the http_rewrite module is not compiled in";
        }
    }

    Halo halo_;
};

TEST_F(ReloadTest, ReloadChangesResponseAndReplacesWorkers) {
    Options o;
    o.workers = 2;
    halo_.write_conf(conf("one", o));
    ASSERT_TRUE(halo_.start());
    const pid_t master = halo_.master_pid();
    auto old = halo_.wait_workers(2);
    ASSERT_EQ(old.size(), 2u);
    EXPECT_EQ(halo_.get_body(), "one\n");

    halo_.write_conf(conf("two", o));
    ASSERT_TRUE(halo_.signal(SIGHUP));
    auto fresh = halo_.wait_new_workers(2, old);
    ASSERT_EQ(fresh.size(), 2u);
    EXPECT_TRUE(wait_until([&] { return all_gone(old); })) << "old workers did not exit";
    for (int i = 0; i < 10; i++) {
        EXPECT_EQ(halo_.get_body(), "two\n");
    }
    EXPECT_EQ(halo_.master_pid(), master);
    EXPECT_TRUE(halo_.master_alive());
    EXPECT_EQ(read_pid_file(halo_.pid_path()), master);
    for (pid_t w : fresh) {
        EXPECT_EQ(parent_of(w), master);
    }
}

TEST_F(ReloadTest, ReloadChangesWorkerCount) {
    Options o;
    o.workers = 1;
    halo_.write_conf(conf("one", o));
    ASSERT_TRUE(halo_.start());
    auto gen1 = halo_.wait_workers(1);
    ASSERT_EQ(gen1.size(), 1u);

    o.workers = 3;
    halo_.write_conf(conf("three", o));
    ASSERT_TRUE(halo_.signal(SIGHUP));
    auto gen2 = halo_.wait_new_workers(3, gen1);
    ASSERT_EQ(gen2.size(), 3u);
    // Old workers accept until they have handled their QUIT.
    EXPECT_TRUE(wait_until([&] { return all_gone(gen1); }));
    EXPECT_EQ(halo_.get_body(), "three\n");

    o.workers = 2;
    halo_.write_conf(conf("two", o));
    ASSERT_EQ(halo_.run({"-s", "reload"}).status, 0);
    auto gen3 = halo_.wait_new_workers(2, gen2);
    ASSERT_EQ(gen3.size(), 2u);
    EXPECT_TRUE(wait_until([&] { return all_gone(gen2); }));
    EXPECT_EQ(halo_.get_body(), "two\n");
    EXPECT_EQ(halo_.workers(), gen3);
}

TEST_F(ReloadTest, OldWorkerFinishesRequestInProgress) {
    halo_.write_conf(conf("one"));
    ASSERT_TRUE(halo_.start());
    auto old = halo_.wait_workers(1);
    ASSERT_EQ(old.size(), 1u);

    HttpConnection slow;
    ASSERT_TRUE(slow.connect(halo_.port(0)));
    ASSERT_TRUE(slow.send("GET / HTTP/1.1\r\nHost: localhost\r\n"));
    ASSERT_TRUE(wait_until([&] { return established_connections(old[0], halo_.port(0)) == 1; }));

    halo_.write_conf(conf("two"));
    ASSERT_TRUE(halo_.signal(SIGHUP));
    ASSERT_EQ(halo_.wait_new_workers(1, old).size(), 1u);
    EXPECT_TRUE(wait_until([&] { return halo_.get_body() == "two\n"; }));
    // The old worker drains: it is still there for the request it has started.
    EXPECT_TRUE(process_alive(old[0]));

    ASSERT_TRUE(slow.send("\r\n"));
    auto resp = slow.read_response();
    ASSERT_TRUE(resp) << slow.error();
    EXPECT_EQ(resp->body, "one\n") << "served by the old configuration";
    EXPECT_EQ(resp->header("connection"), "close");
    EXPECT_TRUE(slow.wait_closed());
    EXPECT_TRUE(wait_until([&] { return !process_alive(old[0]); }));
}

TEST_F(ReloadTest, ReloadMovesListenPort) {
    Options o;
    o.ports = {0};
    halo_.write_conf(conf("first", o));
    ASSERT_TRUE(halo_.start());
    auto old = halo_.wait_workers(1);
    ASSERT_EQ(old.size(), 1u);

    o.ports = {1};
    halo_.write_conf(conf("moved", o));
    ASSERT_TRUE(halo_.signal(SIGHUP));
    ASSERT_EQ(halo_.wait_new_workers(1, old).size(), 1u);
    ASSERT_TRUE(wait_for_port(halo_.port(1)));
    EXPECT_EQ(get_body(halo_.port(1)), "moved\n");
    EXPECT_TRUE(wait_until([&] { return all_gone(old); }));
    // The port the new config dropped is closed (no process keeps it open).
    EXPECT_TRUE(wait_port_closed(halo_.port(0), 5s))
        << "port " << halo_.port(0) << " is still open after the reload";
}

TEST_F(ReloadTest, ReloadAddsPortAndKeepsTheOld) {
    Options o;
    o.ports = {0};
    halo_.write_conf(conf("a", o));
    ASSERT_TRUE(halo_.start());
    auto old = halo_.wait_workers(1);

    o.ports = {0, 1};
    halo_.write_conf(conf("b", o));
    ASSERT_TRUE(halo_.signal(SIGHUP));
    ASSERT_EQ(halo_.wait_new_workers(1, old).size(), 1u);
    ASSERT_TRUE(wait_for_port(halo_.port(1)));
    EXPECT_TRUE(wait_until([&] { return all_gone(old); }));
    EXPECT_EQ(get_body(halo_.port(0)), "b\n");
    EXPECT_EQ(get_body(halo_.port(1)), "b\n");
}

TEST_F(ReloadTest, ReloadFailsWhenNewPortIsBusy) {
    Options o;
    o.workers = 2;
    halo_.write_conf(conf("one", o));
    ASSERT_TRUE(halo_.start());
    auto workers = halo_.wait_workers(2);
    ASSERT_EQ(workers.size(), 2u);

    // Someone else listens on the port the new config wants.
    int blocker = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(blocker, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(halo_.port(1));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(blocker, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
    ASSERT_EQ(::listen(blocker, 8), 0);

    o.ports = {0, 1};
    halo_.write_conf(conf("two", o));
    ASSERT_TRUE(halo_.signal(SIGHUP));
    const std::string bind_error =
        "bind() to 127.0.0.1:" + std::to_string(halo_.port(1)) + " failed (98: ";
    EXPECT_TRUE(wait_until([&] { return halo_.error_log().find(bind_error) != std::string::npos; }))
        << halo_.error_log();
    EXPECT_TRUE(halo_.master_alive());
    EXPECT_EQ(halo_.workers(), workers);
    EXPECT_EQ(halo_.get_body(), "one\n");
    ::close(blocker);

    // With the port free the same config loads.
    ASSERT_TRUE(halo_.signal(SIGHUP));
    ASSERT_EQ(halo_.wait_new_workers(2, workers).size(), 2u);
    EXPECT_TRUE(wait_until([&] { return get_body(halo_.port(1)) == "two\n"; }));
}

/// Sends SIGHUP and waits for `n` new workers; returns early (empty) when the master logs that
/// the reload failed, so that a broken reload fails the test at once.
std::vector<pid_t> reload(Halo& halo, size_t n, const std::vector<pid_t>& old) {
    const size_t failed_before = log_lines_with(halo.error_log(), "reload failed").size();
    if (!halo.signal(SIGHUP)) {
        return {};
    }
    std::vector<pid_t> fresh;
    wait_until([&] {
        fresh = halo.wait_new_workers(n, old, 0ms);
        return !fresh.empty() ||
               log_lines_with(halo.error_log(), "reload failed").size() > failed_before;
    });
    return fresh;
}

TEST_F(ReloadTest, ReloadAddingReuseport) {
    Options o;
    o.workers = 2;
    halo_.write_conf(conf("plain", o));
    ASSERT_TRUE(halo_.start());
    auto gen1 = halo_.wait_workers(2);
    ASSERT_EQ(gen1.size(), 2u);

    // nginx applies a reuseport change on reload; the port must stay served throughout.
    o.listen_params = " reuseport";
    halo_.write_conf(conf("reuseport", o));
    auto gen2 = reload(halo_, 2, gen1);
    ASSERT_EQ(gen2.size(), 2u) << "reload adding reuseport failed:\n" << halo_.error_log();
    EXPECT_TRUE(wait_until([&] { return all_gone(gen1); }));
    for (int i = 0; i < 10; i++) {
        EXPECT_EQ(halo_.get_body(), "reuseport\n");
    }
}

TEST_F(ReloadTest, ReloadRemovingReuseport) {
    Options o;
    o.workers = 2;
    o.listen_params = " reuseport";
    halo_.write_conf(conf("reuseport", o));
    ASSERT_TRUE(halo_.start());
    auto gen1 = halo_.wait_workers(2);
    ASSERT_EQ(gen1.size(), 2u);

    o.listen_params = "";
    halo_.write_conf(conf("plain", o));
    auto gen2 = reload(halo_, 2, gen1);
    ASSERT_EQ(gen2.size(), 2u) << "reload removing reuseport failed:\n" << halo_.error_log();
    EXPECT_TRUE(wait_until([&] { return all_gone(gen1); }));
    for (int i = 0; i < 10; i++) {
        EXPECT_EQ(halo_.get_body(), "plain\n");
    }
}

TEST_F(ReloadTest, ReuseportReloadChangingWorkerCount) {
    Options o;
    o.workers = 2;
    o.listen_params = " reuseport";
    halo_.write_conf(conf("two", o));
    ASSERT_TRUE(halo_.start());
    auto gen1 = halo_.wait_workers(2);
    ASSERT_EQ(gen1.size(), 2u);

    o.workers = 3;
    halo_.write_conf(conf("three", o));
    ASSERT_TRUE(halo_.signal(SIGHUP));
    auto gen2 = halo_.wait_new_workers(3, gen1);
    ASSERT_EQ(gen2.size(), 3u) << halo_.error_log();
    EXPECT_TRUE(wait_until([&] { return all_gone(gen1); }));
    for (int i = 0; i < 20; i++) {
        EXPECT_EQ(halo_.get_body(), "three\n");
    }

    o.workers = 1;
    halo_.write_conf(conf("one", o));
    ASSERT_TRUE(halo_.signal(SIGHUP));
    ASSERT_EQ(halo_.wait_new_workers(1, gen2).size(), 1u) << halo_.error_log();
    EXPECT_TRUE(wait_until([&] { return all_gone(gen2); }));
    for (int i = 0; i < 20; i++) {
        EXPECT_EQ(halo_.get_body(), "one\n");
    }
}

// ---- reload under load ----

struct LoadStats {
    std::atomic<int> requests{0};
    std::atomic<int> connect_failures{0};
    std::atomic<int> failures{0};
    std::atomic<int> keepalive_closed{0};  // idle keepalive closed by a quitting worker
    std::mutex mu;
    std::map<std::string, int> bodies;
    std::vector<std::string> errors;

    void fail(std::atomic<int>& counter, const std::string& what) {
        counter++;
        std::lock_guard<std::mutex> lock(mu);
        if (errors.size() < 20) {
            errors.push_back(what);
        }
    }
    void saw(const std::string& body) {
        std::lock_guard<std::mutex> lock(mu);
        bodies[body]++;
    }
};

void client_loop(uint16_t port, const std::atomic<bool>& stop, LoadStats& st) {
    for (int i = 0; !stop; i++) {
        HttpConnection c;
        if (!c.connect(port, 3s)) {
            st.fail(st.connect_failures, "connect: " + c.error());
            continue;
        }
        const bool keepalive = i % 4 == 0;
        if (!c.send(get_request("/", "localhost", keepalive))) {
            st.fail(st.failures, "send: " + c.error());
            continue;
        }
        auto r = c.read_response(5s);
        st.requests++;
        if (!r) {
            st.fail(st.failures, "response on a new connection: " + c.error());
            continue;
        }
        if (r->status != 200 || (r->body != "one\n" && r->body != "two\n")) {
            st.fail(st.failures,
                    "unexpected response " + std::to_string(r->status) + " " + r->body);
            continue;
        }
        st.saw(r->body);
        if (!keepalive || r->header("connection") == "close") {
            continue;  // a retiring worker said it closes
        }
        // A second request on the same connection: a worker retiring after a reload answers
        // it (with "Connection: close") rather than closing the idle connection.
        bool sent = c.send(get_request("/", "localhost", false));
        auto r2 = sent ? c.read_response(5s) : std::nullopt;
        st.requests++;
        if (!r2) {
            if (!sent || c.eof_before_response()) {
                st.keepalive_closed++;
            } else {
                st.fail(st.failures, "keepalive response: " + c.error());
            }
            continue;
        }
        if (r2->status != 200 || (r2->body != "one\n" && r2->body != "two\n")) {
            st.fail(st.failures, "unexpected keepalive response " + r2->body);
            continue;
        }
        st.saw(r2->body);
    }
}

void reload_under_load(Halo& halo, const std::string& listen_params,
                       const std::string& events_extra = "") {
    Options o;
    o.workers = 2;
    o.listen_params = listen_params;
    o.events_extra = events_extra;
    halo.write_conf(conf("one", o));
    ASSERT_TRUE(halo.start());
    auto gen = halo.wait_workers(2);
    ASSERT_EQ(gen.size(), 2u);
    const pid_t master = halo.master_pid();

    LoadStats st;
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    for (int t = 0; t < 2; t++) {
        clients.emplace_back(client_loop, halo.port(0), std::cref(stop), std::ref(st));
    }
    ASSERT_TRUE(wait_until([&] { return st.requests > 20; }));

    for (int i = 0; i < 5; i++) {
        const std::string body = i % 2 == 0 ? "two" : "one";
        halo.write_conf(conf(body, o));
        if (i % 2 == 0) {
            EXPECT_TRUE(halo.signal(SIGHUP));
        } else {
            RunResult r = halo.run({"-s", "reload"});
            EXPECT_EQ(r.status, 0) << r;
        }
        auto next = halo.wait_new_workers(2, gen);
        EXPECT_EQ(next.size(), 2u) << "reload " << i;
        EXPECT_TRUE(wait_until([&] { return all_gone(gen); })) << "reload " << i;
        EXPECT_TRUE(wait_until([&] { return halo.get_body() == body + "\n"; })) << "reload " << i;
        int before = st.requests;
        EXPECT_TRUE(wait_until([&] { return st.requests > before + 10; }));
        gen = next;
    }
    stop = true;
    for (auto& t : clients) {
        t.join();
    }

    EXPECT_EQ(halo.master_pid(), master);
    EXPECT_TRUE(halo.master_alive());
    EXPECT_EQ(st.connect_failures, 0);
    EXPECT_EQ(st.failures, 0);
    EXPECT_EQ(st.keepalive_closed, 0);
    for (const auto& e : st.errors) {
        ADD_FAILURE() << e;
    }
    EXPECT_GT(st.bodies["one\n"], 0);
    EXPECT_GT(st.bodies["two\n"], 0);
    std::cerr << "reload under load: " << st.requests << " requests, " << st.keepalive_closed
              << " idle keepalive connections closed by quitting workers\n";
}

TEST_F(ReloadTest, NoRefusedConnectionsAcrossReloads) {
    reload_under_load(halo_, "");
}

TEST_F(ReloadTest, NoRefusedConnectionsAcrossReloadsWithReuseport) {
    reload_under_load(halo_, " reuseport");
}

TEST_F(ReloadTest, NoRefusedConnectionsAcrossReloadsWithAcceptMutex) {
    // The accept mutex lives in a shared zone that the reloads reuse.
    reload_under_load(halo_, "", "accept_mutex on;");
}

// ---- keep-alive connections across reloads ----
//
// A worker retiring after a reload keeps its idle keep-alive connections until their next
// request, answers it (the old configuration) with "Connection: close" and only then closes,
// so that a client sending on a kept-alive connection just as the reload happens loses
// nothing. A stop (QUIT) still closes idle connections at once, as nginx does.

class ReloadKeepaliveTest : public ReloadTest {
  protected:
    /// Two workers, and `main_extra` in the main context.
    static Options two_workers(std::string main_extra = "") {
        Options o;
        o.workers = 2;
        o.main_extra = std::move(main_extra);
        return o;
    }

    /// A keep-alive connection with one request answered by `body`.
    void open_idle(HttpConnection& c, std::string_view body) {
        ASSERT_TRUE(c.connect(halo_.port(0)));
        ASSERT_TRUE(c.send(get_request("/", "localhost", true)));
        auto r = c.read_response();
        ASSERT_TRUE(r) << c.error();
        EXPECT_EQ(r->body, std::string(body) + "\n");
        EXPECT_EQ(r->header("connection"), "keep-alive");
    }
};

TEST_F(ReloadKeepaliveTest, RetiringWorkerAnswersTheNextRequestOfAnIdleConnection) {
    halo_.write_conf(conf("one", two_workers()));
    ASSERT_TRUE(halo_.start());
    auto gen1 = halo_.wait_workers(2);
    ASSERT_EQ(gen1.size(), 2u);
    HttpConnection idle;
    open_idle(idle, "one");

    halo_.write_conf(conf("two", two_workers()));
    RunResult rr = halo_.run({"-s", "reload"});
    ASSERT_EQ(rr.status, 0) << rr;
    ASSERT_EQ(halo_.wait_new_workers(2, gen1).size(), 2u) << halo_.error_log();
    ASSERT_TRUE(wait_until([&] { return halo_.get_body() == "two\n"; }));
    // The worker holding the idle connection stays for it (the other one is gone).
    ASSERT_TRUE(wait_until(
        [&] { return !all_gone(gen1) && (!process_alive(gen1[0]) || !process_alive(gen1[1])); }));
    std::this_thread::sleep_for(300ms);
    EXPECT_FALSE(all_gone(gen1));

    ASSERT_TRUE(idle.send(get_request("/", "localhost", true)));
    auto r = idle.read_response();
    ASSERT_TRUE(r) << idle.error();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "one\n");  // the configuration the connection was accepted with
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_TRUE(idle.wait_closed(5s));
    EXPECT_TRUE(wait_until([&] { return all_gone(gen1); }));
}

TEST_F(ReloadKeepaliveTest, StopClosesTheIdleConnectionsOfARetiringWorker) {
    halo_.write_conf(conf("one", two_workers()));
    ASSERT_TRUE(halo_.start());
    auto gen1 = halo_.wait_workers(2);
    ASSERT_EQ(gen1.size(), 2u);
    HttpConnection idle;
    open_idle(idle, "one");
    halo_.write_conf(conf("two", two_workers()));
    ASSERT_TRUE(halo_.signal(SIGHUP));
    ASSERT_EQ(halo_.wait_new_workers(2, gen1).size(), 2u) << halo_.error_log();
    std::this_thread::sleep_for(300ms);
    EXPECT_FALSE(all_gone(gen1));

    ASSERT_TRUE(halo_.signal(SIGQUIT));
    EXPECT_TRUE(idle.wait_closed(5s));
    EXPECT_EQ(idle.unread(), "");
    EXPECT_EQ(halo_.wait_exit(), 0);
    EXPECT_TRUE(all_gone(gen1));
}

TEST_F(ReloadKeepaliveTest, WorkerShutdownTimeoutBoundsTheWait) {
    halo_.write_conf(conf("one", two_workers("worker_shutdown_timeout 1s;\n")));
    ASSERT_TRUE(halo_.start());
    auto gen1 = halo_.wait_workers(2);
    ASSERT_EQ(gen1.size(), 2u);
    HttpConnection idle;
    open_idle(idle, "one");
    halo_.write_conf(conf("two", two_workers("worker_shutdown_timeout 1s;\n")));
    ASSERT_TRUE(halo_.signal(SIGHUP));
    ASSERT_EQ(halo_.wait_new_workers(2, gen1).size(), 2u) << halo_.error_log();
    EXPECT_TRUE(idle.wait_closed(10s));
    EXPECT_TRUE(wait_until([&] { return all_gone(gen1); }));
    EXPECT_FALSE(log_lines_with(halo_.error_log(), "worker_shutdown_timeout expired").empty());
}

struct Load {
    std::atomic<int> requests{0};
    std::atomic<int> failures{0};
    std::atomic<int> closed_by_server{0};  // answered with "Connection: close"
    std::mutex mu;
    std::vector<std::string> errors;

    void fail(const std::string& what) {
        failures++;
        std::lock_guard<std::mutex> lock(mu);
        if (errors.size() < 20) {
            errors.push_back(what);
        }
    }
};

/// One client: requests on a kept-alive connection, with short random pauses so that the
/// connection is often idle when a reload comes; a new connection only when the server said
/// "Connection: close". Every request must be answered.
void keepalive_client(uint16_t port, int seed, const std::atomic<bool>& stop, Load& load) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> pause_us(0, 3000);
    std::unique_ptr<HttpConnection> c;
    while (!stop) {
        if (!c) {
            c = std::make_unique<HttpConnection>();
            if (!c->connect(port, 3s)) {
                load.fail("connect: " + c->error());
                c.reset();
                continue;
            }
        }
        bool sent = c->send(get_request("/", "localhost", true));
        auto r = sent ? c->read_response(5s) : std::nullopt;
        load.requests++;
        if (!r) {
            load.fail(std::string(sent ? "no response: " : "send: ") + c->error() +
                      (c->eof_before_response() ? " (closed before a response)" : ""));
            c.reset();
            continue;
        }
        if (r->status != 200 || (r->body != "one\n" && r->body != "two\n")) {
            load.fail("unexpected response " + std::to_string(r->status) + " " + r->body);
        }
        if (r->header("connection") == "close") {
            load.closed_by_server++;
            c.reset();
        }
        std::this_thread::sleep_for(std::chrono::microseconds(pause_us(rng)));
    }
}

TEST_F(ReloadKeepaliveTest, TwentyReloadsUnderKeepaliveLoadLoseNoRequest) {
    halo_.write_conf(conf("one", two_workers()));
    ASSERT_TRUE(halo_.start());
    auto gen = halo_.wait_workers(2);
    ASSERT_EQ(gen.size(), 2u);

    Load load;
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    for (int t = 0; t < 4; t++) {
        clients.emplace_back(keepalive_client, halo_.port(0), t, std::cref(stop), std::ref(load));
    }
    ASSERT_TRUE(wait_until([&] { return load.requests > 50; }));
    for (int i = 0; i < 20; i++) {
        halo_.write_conf(conf(i % 2 == 0 ? "two" : "one", two_workers()));
        if (i % 2 == 0) {
            EXPECT_TRUE(halo_.signal(SIGHUP));
        } else {
            RunResult r = halo_.run({"-s", "reload"});
            EXPECT_EQ(r.status, 0) << r;
        }
        auto next = halo_.wait_new_workers(2, gen);
        EXPECT_EQ(next.size(), 2u) << "reload " << i;
        int before = load.requests;
        EXPECT_TRUE(wait_until([&] { return load.requests > before + 20; })) << "reload " << i;
        gen = next;
    }
    stop = true;
    for (auto& t : clients) {
        t.join();
    }
    EXPECT_EQ(load.failures, 0);
    for (const auto& e : load.errors) {
        ADD_FAILURE() << e;
    }
    EXPECT_GT(load.closed_by_server, 0);  // retiring workers did answer with "close"
    std::cerr << "20 reloads under keep-alive load: " << load.requests << " requests, "
              << load.closed_by_server << " answered with Connection: close, " << load.failures
              << " failed\n";
    EXPECT_TRUE(halo_.master_alive());
}

}  // namespace
}  // namespace halo_test
