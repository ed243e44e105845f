// Active health checks through the real binary, with test backends on loopback
// (tests/support/backend.h): a stopped backend is taken out (no client request is even tried
// on it, $upstream_addr shows) and comes back after it restarts; a backend that answers its
// checks with 503, a wrong body, garbage, a reset or nothing at all gets no client request
// from either of two workers; the checker is respawned when killed; a reload keeps the state
// of the servers it keeps; https checks on another port; `master_process off`.
//
// Checks run every 100ms, with timeouts long enough (1s) that a healthy backend on a loaded
// machine does not fail them. Nothing asserts how fast a transition comes: every wait polls
// with a generous deadline. The time a transition took is printed for the record.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/backend.h"
#include "support/harness.h"

namespace halo_test {
namespace {

constexpr std::string_view kConf = R"(
daemon off;
worker_processes 2;
error_log logs/error.log info;

events {
    worker_connections 256;
}

http {
    log_format up '$pid $request_uri $status [$upstream_addr]';
    access_log logs/access.log up;

    upstream app {
        server %%B0%% max_fails=0;
        server %%B1%% max_fails=0;
        health_check %%CHECK%%;
    }

    server {
        listen 127.0.0.1:%%PORT_0%% reuseport;
        location / {
            proxy_pass http://app;
            proxy_read_timeout 5s;
        }
    }
}
)";

constexpr std::string_view kCheck =
    "type=http uri=/health expect=200-399 interval=100ms timeout=1s fall=3 rise=2";

/// What a backend's /health answers; other paths always get the backend's name.
enum class Health { kOk, k503, kWrongBody, kHang, kGarbage, kReset, kClose };

class HealthBackend {
  public:
    explicit HealthBackend(const std::string& name)
        : backend_(name,
                   [this, name](BackendConn& c, const BackendRequest& r) { serve(name, c, r); }) {}

    void set(Health h) { health_ = h; }
    Backend& backend() { return backend_; }
    std::string address() const { return backend_.address(); }
    /// Requests that were not health checks.
    int client_requests() const {
        int n = 0;
        for (const auto& r : backend_.seen()) {
            n += r.target != "/health" ? 1 : 0;
        }
        return n;
    }
    int checks() const { return static_cast<int>(backend_.seen().size()) - client_requests(); }

  private:
    void serve(const std::string& name, BackendConn& c, const BackendRequest& r) {
        c.close_after();
        if (r.target != "/health") {
            c.send(Backend::ok_response(name + "\n", true));
            return;
        }
        switch (health_.load()) {
            case Health::kOk:
                c.send(Backend::ok_response("{\"status\":\"up\"}\n", true));
                break;
            case Health::k503:
                c.send(
                    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                    "Connection: close\r\n\r\n");
                break;
            case Health::kWrongBody:
                c.send(Backend::ok_response("{\"status\":\"starting\"}\n", true));
                break;
            case Health::kHang:
                while (!c.read_some(10000).empty()) {
                }  // until the checker gives up and closes
                break;
            case Health::kGarbage:
                c.send("\x01\x02garbage, not http\r\n\r\n");
                break;
            case Health::kReset: {
                linger l{1, 0};  // close() sends RST
                setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof(l));
                break;
            }
            case Health::kClose:
                break;
        }
    }

    std::atomic<Health> health_{Health::kOk};
    Backend backend_;
};

std::string replace_all(std::string text, const std::string& key, const std::string& value) {
    for (size_t at = 0; (at = text.find(key, at)) != std::string::npos; at += value.size()) {
        text.replace(at, key.size(), value);
    }
    return text;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

class HealthCheckTest : public ::testing::Test {
  protected:
    void SetUp() override {
        for (const char* m : {"http_healthcheck", "http_proxy", "http_upstream"}) {
            if (!halo_has_module(m)) {
                GTEST_SKIP() << "the " << m << " module is not compiled in";
            }
        }
    }

    /// Writes kConf (or `conf`) with the backends and the check, starts halo and waits for
    /// the two workers and the helper.
    void start(std::string_view check = kCheck, std::string conf = std::string(kConf)) {
        write(check, conf);
        ASSERT_TRUE(halo_.start());
        if (conf.find("master_process off") == std::string::npos) {
            ASSERT_EQ(halo_.wait_workers(3).size(), 3u) << halo_.error_log();  // 2 + the helper
        }
    }
    void write(std::string_view check, std::string conf) {
        conf = replace_all(conf, "%%CHECK%%", std::string(check));
        conf = replace_all(conf, "%%B0%%", b0_.address());
        conf = replace_all(conf, "%%B1%%", b1_.address());
        conf = replace_all(conf, "%%B2%%", b2_.address());
        halo_.write_conf(conf);
    }

    /// GET on a new connection; "<status> <body>".
    std::string get(const std::string& path) {
        auto r = http_get(halo_.port(0), path);
        return r ? std::to_string(r->status) + " " + r->body : "error";
    }
    int status_of(const std::string& path) {
        auto r = http_get(halo_.port(0), path);
        return r ? r->status : 0;
    }
    /// True once the error log has a line with `needle`.
    bool logged(const std::string& needle, Millis timeout = 15s) {
        return wait_until([&] { return !log_lines_with(halo_.error_log(), needle).empty(); },
                          timeout, 10ms);
    }
    std::string down_line(HealthBackend& b, const std::string& reason) {
        return "upstream server " + b.address() + " in upstream \"app\"" + checked_on_ +
               " is down: " + reason;
    }
    std::string up_line(HealthBackend& b) {
        return "upstream server " + b.address() + " in upstream \"app\"" + checked_on_ + " is up";
    }
    /// Access log lines of requests whose URI starts with `prefix`.
    std::vector<std::string> access(const std::string& prefix) {
        std::vector<std::string> out;
        std::istringstream in(read_file(halo_.path("logs/access.log")).value_or(""));
        for (std::string line; std::getline(in, line);) {
            size_t sp = line.find(' ');
            if (sp != std::string::npos && line.compare(sp + 1, prefix.size(), prefix) == 0) {
                out.push_back(line);
            }
        }
        return out;
    }
    /// Sends `n` requests /<tag>/<i>; returns how many each backend answered (by body).
    std::map<std::string, int> spread(const std::string& tag, int n) {
        std::map<std::string, int> count;
        for (int i = 0; i < n; i++) {
            count[get("/" + tag + "/" + std::to_string(i))]++;
        }
        return count;
    }
    /// The pid of the running healthcheck helper (the last one the master started).
    pid_t helper_pid() {
        auto lines = log_lines_with(halo_.error_log(), "start healthcheck helper process ");
        if (lines.empty()) {
            return -1;
        }
        const std::string& l = lines.back();
        return static_cast<pid_t>(std::stol(l.substr(l.rfind(' ') + 1)));
    }
    /// Waits until both backends have been checked at least `n` times more than now.
    bool checks_running(int n = 2) {
        int c0 = b0_.checks();
        int c1 = b1_.checks();
        return wait_until([&] { return b0_.checks() >= c0 + n && b1_.checks() >= c1 + n; });
    }

    std::string checked_on_;  // with port=: " (checked on 127.0.0.1:port)"
    HealthBackend b0_{"b0"};
    HealthBackend b1_{"b1"};
    HealthBackend b2_{"b2"};
    Halo halo_;
};

TEST_F(HealthCheckTest, StoppedBackendIsTakenOutThenBroughtBack) {
    start();
    ASSERT_TRUE(checks_running()) << halo_.error_log();
    auto before = spread("before", 10);
    EXPECT_EQ(before["200 b0\n"], 5) << halo_.error_log();
    EXPECT_EQ(before["200 b1\n"], 5);
    // The checks carry the Host of the server (address and port as written).
    BackendRequest check = b0_.backend().seen().front();
    EXPECT_EQ(check.target, "/health");
    EXPECT_EQ(check.headers["host"], b0_.address());
    EXPECT_EQ(check.headers["user-agent"], "halo-health-check");

    auto t0 = std::chrono::steady_clock::now();
    b0_.backend().stop();
    ASSERT_TRUE(logged(down_line(b0_, "connect() refused (3 failed checks)"))) << halo_.error_log();
    std::cout << "[ measured ] stopped backend marked down after " << seconds_since(t0)
              << " s (fall 3 x interval 100ms)\n";
    // No client request is even tried on it: every one has b1 alone as its upstream.
    auto after = spread("after", 20);
    EXPECT_EQ(after["200 b1\n"], 20) << halo_.error_log();
    // (a line is written once its response is sent: wait for the last one)
    ASSERT_TRUE(wait_until([&] { return access("/after/").size() == 20; }));
    auto lines = access("/after/");
    for (const auto& l : lines) {
        EXPECT_NE(l.find("[" + b1_.address() + "]"), std::string::npos) << l;
    }

    t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(b0_.backend().restart());
    ASSERT_TRUE(logged(up_line(b0_) + ": status 200 (2 passed checks)")) << halo_.error_log();
    std::cout << "[ measured ] restarted backend back after " << seconds_since(t0)
              << " s (rise 2 x interval 100ms)\n";
    EXPECT_TRUE(wait_until([&] { return spread("back", 4)["200 b0\n"] > 0; }));
}

TEST_F(HealthCheckTest, TwoWorkersKeepFailingServerOut) {
    start();
    ASSERT_TRUE(checks_running()) << halo_.error_log();
    b0_.set(Health::k503);
    ASSERT_TRUE(logged(down_line(b0_, "status 503 (3 failed checks)"))) << halo_.error_log();
    // b0 still serves, but no worker sends it anything.
    int served = b0_.client_requests();
    auto count = spread("out", 60);
    EXPECT_EQ(count["200 b1\n"], 60) << halo_.error_log();
    EXPECT_EQ(b0_.client_requests(), served);
    std::set<std::string> pids;
    ASSERT_TRUE(wait_until([&] { return access("/out/").size() == 60; }));
    for (const auto& l : access("/out/")) {
        pids.insert(l.substr(0, l.find(' ')));
    }
    EXPECT_EQ(pids.size(), 2u) << "both workers should have served some of the 60 requests";

    // Healthy again: back after `rise` passes, in both workers.
    b0_.set(Health::kOk);
    ASSERT_TRUE(logged(up_line(b0_))) << halo_.error_log();
    auto again = spread("again", 40);
    EXPECT_EQ(again["200 b0\n"], 20) << halo_.error_log();
    EXPECT_EQ(again["200 b1\n"], 20);
}

TEST_F(HealthCheckTest, BodyMismatchTakesServerOut) {
    start(
        "uri=/health body=~\"status\":\"up\" interval=100ms timeout=1s fall=2 rise=1");  // quotes:
                                                                                         // literal
    b1_.set(Health::kWrongBody);
    ASSERT_TRUE(logged(down_line(b1_, "body mismatch (2 failed checks)"))) << halo_.error_log();
    int served = b1_.client_requests();
    EXPECT_EQ(spread("x", 10)["200 b0\n"], 10);
    EXPECT_EQ(b1_.client_requests(), served);
}

TEST_F(HealthCheckTest, HangingGarbageAndResettingBackendsDoNotStopTheChecker) {
    start();
    ASSERT_TRUE(checks_running()) << halo_.error_log();
    pid_t helper = helper_pid();
    ASSERT_GT(helper, 0);

    // Accepts, reads the request, never answers: the check times out.
    b0_.set(Health::kHang);
    ASSERT_TRUE(logged(down_line(b0_, "timeout after 1s (3 failed checks)"))) << halo_.error_log();
    EXPECT_EQ(spread("hang", 10)["200 b1\n"], 10);
    // Garbage instead of HTTP, and a reset.
    b1_.set(Health::kGarbage);
    ASSERT_TRUE(logged(down_line(b1_, "invalid response (3 failed checks)"))) << halo_.error_log();
    EXPECT_EQ(status_of("/none"), 502);  // nothing left to pick (nginx: no live upstreams)
    b0_.set(Health::kReset);
    b1_.set(Health::kClose);
    ASSERT_TRUE(checks_running(3)) << halo_.error_log();
    // All well again: both come back, and it was the same checker all along.
    b0_.set(Health::kOk);
    b1_.set(Health::kOk);
    ASSERT_TRUE(logged(up_line(b0_))) << halo_.error_log();
    ASSERT_TRUE(logged(up_line(b1_))) << halo_.error_log();
    EXPECT_EQ(helper_pid(), helper);
    EXPECT_TRUE(process_alive(helper));
    auto count = spread("well", 10);
    EXPECT_EQ(count["200 b0\n"], 5);
    EXPECT_EQ(count["200 b1\n"], 5);
}

TEST_F(HealthCheckTest, ClosedWithoutAnswerAndResetAreReported) {
    start("uri=/health interval=100ms timeout=1s fall=1 rise=1");
    b0_.set(Health::kClose);
    b1_.set(Health::kReset);
    EXPECT_TRUE(logged(down_line(b0_, "connection closed prematurely"))) << halo_.error_log();
    EXPECT_TRUE(logged(down_line(b1_, "connection reset"))) << halo_.error_log();
}

TEST_F(HealthCheckTest, KilledCheckerIsRespawnedAndGoesOn) {
    start();
    ASSERT_TRUE(checks_running()) << halo_.error_log();
    pid_t first = helper_pid();
    ASSERT_GT(first, 0);
    std::vector<pid_t> children = halo_.workers();
    ASSERT_EQ(children.size(), 3u);
    // It runs as the workers do (the `user`), not as the master.
    if (geteuid() == 0) {
        EXPECT_NE(process_euid(first), 0) << "the healthcheck helper kept root";
    }
    ASSERT_EQ(kill(first, SIGKILL), 0);
    ASSERT_TRUE(wait_until([&] {
        pid_t p = helper_pid();
        return p > 0 && p != first && process_alive(p);
    })) << halo_.error_log();
    pid_t second = helper_pid();
    EXPECT_TRUE(logged("helper process " + std::to_string(first) + " exited on signal 9"));
    // The workers were not touched; the new checker checks.
    std::vector<pid_t> now = halo_.wait_workers(3);
    EXPECT_EQ(now.size(), 3u);
    for (pid_t w : children) {
        if (w != first) {
            EXPECT_TRUE(process_alive(w));
        }
    }
    b1_.set(Health::k503);
    ASSERT_TRUE(logged(down_line(b1_, "status 503"))) << halo_.error_log();
    auto lines = log_lines_with(halo_.error_log(), down_line(b1_, "status 503"));
    EXPECT_NE(lines.back().find(" " + std::to_string(second) + "#"), std::string::npos)
        << lines.back();
    EXPECT_EQ(spread("respawned", 10)["200 b0\n"], 10);
}

TEST_F(HealthCheckTest, ReloadKeepsStateOfServersItKeeps) {
    // rise=1000: a server that is down stays down for 100s of passing checks, unless a reload
    // forgot its state (new servers start up).
    std::string check = "uri=/health interval=100ms timeout=1s fall=1 rise=1000";
    start(check);
    b0_.set(Health::k503);
    ASSERT_TRUE(logged(down_line(b0_, "status 503 (1 failed checks)"))) << halo_.error_log();
    b0_.set(Health::kOk);  // passing again, far from rise
    std::vector<pid_t> old = halo_.wait_workers(3);
    ASSERT_EQ(old.size(), 3u);

    std::string conf = std::string(kConf);
    conf = replace_all(conf, "        server %%B1%% max_fails=0;\n",
                       "        server %%B1%% max_fails=0;\n        server %%B2%% max_fails=0;\n");
    write(check, conf);
    ASSERT_TRUE(halo_.signal(SIGHUP));
    ASSERT_EQ(halo_.wait_new_workers(3, old).size(), 3u) << halo_.error_log();
    int served = b0_.client_requests();
    auto count = spread("reloaded", 20);
    EXPECT_EQ(count["200 b1\n"], 10) << halo_.error_log();
    EXPECT_EQ(count["200 b2\n"], 10);  // the new server starts up
    EXPECT_EQ(b0_.client_requests(), served) << "b0's down state was lost in the reload";
    EXPECT_GT(b2_.checks(), 0);  // and is checked
}

TEST_F(HealthCheckTest, HttpsCheckOnAnotherPort) {
    // Certificate for halo's own TLS server, which answers the checks of both servers.
    TempDir certs("halo-hc-certs");
    RunResult r = run_command(
        {"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", certs / "c.key",
         "-out", certs / "c.crt", "-days", "2", "-subj", "/CN=check.test"},
        30s);
    if (r.status != 0) {
        GTEST_SKIP() << "openssl req failed: " << r;
    }
    std::string conf = std::string(kConf);
    conf = replace_all(conf, "    server {\n", R"(    upstream plain {
        server %%B2%%;
        health_check type=https uri=/health port=%%PORT_0%% interval=100ms timeout=2s fall=1;
    }
    server {
        listen 127.0.0.1:%%PORT_1%% ssl;
        ssl_certificate %%CERTS%%/c.crt;
        ssl_certificate_key %%CERTS%%/c.key;
        location = /health {
            return 200 "up from $host over $scheme\n";
        }
    }
    server {
)");
    conf = replace_all(conf, "%%CERTS%%", certs.path());
    std::string check =
        "type=https uri=/health port=%%PORT_1%% host=check.test "
        "'body=~from check.test over https' interval=100ms timeout=2s fall=1 rise=1";
    start(check, conf);
    // Both servers of app are checked on halo's TLS port; those of `plain` on its plain
    // HTTP port, which answers a TLS hello with a plain 400.
    ASSERT_TRUE(logged("upstream server " + b2_.address() + " in upstream \"plain\" (checked on " +
                       "127.0.0.1:" + std::to_string(halo_.port(0)) +
                       ") is down: SSL handshake failed (1 failed checks)"))
        << halo_.error_log();
    checked_on_ = " (checked on 127.0.0.1:" + std::to_string(halo_.port(1)) + ")";
    EXPECT_TRUE(log_lines_with(halo_.error_log(), "\"app\" is down").empty()) << halo_.error_log();
    auto count = spread("tls", 10);
    EXPECT_EQ(count["200 b0\n"], 5) << halo_.error_log();
    EXPECT_EQ(count["200 b1\n"], 5);
    // A wrong body on the TLS side takes both out.
    halo_.write_conf(
        replace_all(read_file(halo_.conf_path()).value_or(""), "over https'", "over gopher'"));
    ASSERT_TRUE(halo_.signal(SIGHUP));
    ASSERT_TRUE(logged(down_line(b0_, "body mismatch"))) << halo_.error_log();
    ASSERT_TRUE(logged(down_line(b1_, "body mismatch"))) << halo_.error_log();
}

TEST_F(HealthCheckTest, TcpCheck) {
    start("type=tcp interval=100ms timeout=1s fall=2 rise=1");
    // Hanging on HTTP does not matter to a TCP check: the connection is accepted.
    b0_.set(Health::kHang);
    int c0 = b0_.backend().connections();
    int c1 = b1_.backend().connections();
    ASSERT_TRUE(wait_until([&] {
        return b0_.backend().connections() >= c0 + 3 && b1_.backend().connections() >= c1 + 3;
    })) << halo_.error_log();
    EXPECT_EQ(b0_.checks() + b1_.checks(), 0);  // connections only, no request
    EXPECT_TRUE(log_lines_with(halo_.error_log(), "is down").empty()) << halo_.error_log();
    b1_.backend().stop();
    ASSERT_TRUE(logged(down_line(b1_, "connect() refused (2 failed checks)"))) << halo_.error_log();
    EXPECT_EQ(spread("tcp", 6)["200 b0\n"], 6);
    ASSERT_TRUE(b1_.backend().restart());
    ASSERT_TRUE(logged(up_line(b1_) + ": ok (1 passed checks)")) << halo_.error_log();
}

TEST_F(HealthCheckTest, SingleProcessRunsTheChecksItself) {
    std::string conf = replace_all(std::string(kConf), "worker_processes 2;",
                                   "master_process off;\nworker_processes 1;");
    conf = replace_all(conf, " reuseport", "");
    start(kCheck, conf);
    b0_.set(Health::k503);
    ASSERT_TRUE(logged(down_line(b0_, "status 503 (3 failed checks)"))) << halo_.error_log();
    int served = b0_.client_requests();
    EXPECT_EQ(spread("single", 10)["200 b1\n"], 10);
    EXPECT_EQ(b0_.client_requests(), served);
}

}  // namespace
}  // namespace halo_test
