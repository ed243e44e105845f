// Reloads and keep-alive connections: a worker retiring after a reload keeps its idle
// keep-alive connections until their next request, answers it (the old configuration) with
// "Connection: close" and only then closes, so that a client sending on a kept-alive
// connection just as the reload happens loses nothing. A stop (QUIT) still closes idle
// connections at once, as nginx does.
#include <signal.h>

#include <atomic>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>

#include "support/harness.h"

namespace halo_test {
namespace {

std::string conf(std::string_view body, std::string_view main_extra = "") {
    std::string c = "daemon off;\nworker_processes 2;\nerror_log logs/error.log notice;\n";
    c += main_extra;
    c += "\nevents {\n    worker_connections 256;\n}\n\nhttp {\n    server {\n";
    c += "        listen 127.0.0.1:%%PORT_0%%;\n        location / {\n";
    c += "            return 200 \"";
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

class ReloadKeepaliveTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_rewrite")) {
            GTEST_SKIP() << "the http_rewrite module is not compiled in";
        }
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

    Halo halo_;
};

TEST_F(ReloadKeepaliveTest, RetiringWorkerAnswersTheNextRequestOfAnIdleConnection) {
    halo_.write_conf(conf("one"));
    ASSERT_TRUE(halo_.start());
    auto gen1 = halo_.wait_workers(2);
    ASSERT_EQ(gen1.size(), 2u);
    HttpConnection idle;
    open_idle(idle, "one");

    halo_.write_conf(conf("two"));
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
    halo_.write_conf(conf("one"));
    ASSERT_TRUE(halo_.start());
    auto gen1 = halo_.wait_workers(2);
    ASSERT_EQ(gen1.size(), 2u);
    HttpConnection idle;
    open_idle(idle, "one");
    halo_.write_conf(conf("two"));
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
    halo_.write_conf(conf("one", "worker_shutdown_timeout 1s;\n"));
    ASSERT_TRUE(halo_.start());
    auto gen1 = halo_.wait_workers(2);
    ASSERT_EQ(gen1.size(), 2u);
    HttpConnection idle;
    open_idle(idle, "one");
    halo_.write_conf(conf("two", "worker_shutdown_timeout 1s;\n"));
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
    halo_.write_conf(conf("one"));
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
        halo_.write_conf(conf(i % 2 == 0 ? "two" : "one"));
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
