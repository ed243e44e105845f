// Upstream state shared by the workers: with two workers (reuseport, so the kernel spreads
// the connections over both), the smooth weighted round robin of a group with a zone gives
// the exact counts one process would, and least_conn sees the connections the other worker
// holds. Both workers must have served requests for the test to mean anything.
#include <set>
#include <string>
#include <thread>

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
    log_format w '$pid $upstream_addr';
    access_log logs/access.log w;

    upstream wrr {
        zone wrr 64k;
        server %%B0%% weight=5;
        server %%B1%%;
        server %%B2%%;
    }
    upstream lc {
        zone lc 64k;
        least_conn;
        server %%B3%%;
        server %%B4%%;
    }

    server {
        listen 127.0.0.1:%%PORT_0%% reuseport;
        location /wrr/ {
            proxy_pass http://wrr;
        }
        location /lc/ {
            proxy_pass http://lc;
            proxy_read_timeout 30s;
        }
    }
}
)";

class ProxyWorkersTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_proxy") || !halo_has_module("http_upstream") ||
            !halo_has_module("http_upstream_least_conn")) {
            GTEST_SKIP() << "the proxy or upstream modules are not compiled in";
        }
        for (int i = 0; i < 5; i++) {
            backends_.push_back(std::make_unique<Backend>("b" + std::to_string(i)));
        }
        std::string conf(kConf);
        for (int i = 0; i < 5; i++) {
            std::string key = "%%B" + std::to_string(i) + "%%";
            for (size_t at; (at = conf.find(key)) != std::string::npos;) {
                conf.replace(at, key.size(), backends_[i]->address());
            }
        }
        halo_.write_conf(conf);
        ASSERT_TRUE(halo_.start()) << halo_.error_log();
        workers_ = halo_.wait_workers(2);
        ASSERT_EQ(workers_.size(), 2u) << halo_.error_log();
    }

    HttpResponse get(std::string_view path) {
        HttpConnection c;
        if (!c.connect(halo_.port(0))) {
            return {};
        }
        c.send("GET " + std::string(path) + " HTTP/1.1\r\nHost: w\r\nConnection: close\r\n\r\n");
        auto r = c.read_response(10s);
        return r ? *r : HttpResponse{};
    }

    /// The pids in the access log that served a request.
    std::set<std::string> serving_pids() {
        std::set<std::string> pids;
        std::string log = read_file(halo_.path("logs/access.log")).value_or("");
        for (size_t at = 0; at < log.size();) {
            size_t nl = log.find('\n', at);
            std::string line = log.substr(at, nl - at);
            pids.insert(line.substr(0, line.find(' ')));
            at = nl == std::string::npos ? log.size() : nl + 1;
        }
        return pids;
    }

    Halo halo_;
    std::vector<std::unique_ptr<Backend>> backends_;
    std::vector<pid_t> workers_;
};

TEST_F(ProxyWorkersTest, SmoothWeightsAreExactAcrossTwoWorkers) {
    // 7 rounds of 5,1,1 = 70 requests, each on its own connection (so both workers take some).
    for (int i = 0; i < 70; i++) {
        HttpResponse r = get("/wrr/x");
        ASSERT_EQ(r.status, 200) << halo_.error_log();
    }
    EXPECT_EQ(backends_[0]->requests(), 50);
    EXPECT_EQ(backends_[1]->requests(), 10);
    EXPECT_EQ(backends_[2]->requests(), 10);
    EXPECT_EQ(serving_pids().size(), 2u)
        << "one worker served everything: the test shows nothing about shared state\n"
        << read_file(halo_.path("logs/access.log")).value_or("");
}

TEST_F(ProxyWorkersTest, LeastConnCountsConnectionsOfBothWorkers) {
    // b3 holds every request until released; b4 answers at once. Requests that hang on b3
    // are held by whichever worker took them; least_conn in the other worker must still see
    // b3 as busy and send everything else to b4.
    std::atomic<bool> release{false};
    backends_[3]->set_handler([&](BackendConn& c, const BackendRequest&) {
        while (!release.load()) {
            std::this_thread::sleep_for(10ms);
        }
        c.send("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nb3\n");
        c.close_after();
    });
    // Requests until one lands on b3 and hangs there (those that reach b4 return at once).
    std::vector<std::thread> held;
    struct Release {
        std::atomic<bool>& release;
        std::vector<std::thread>& held;
        ~Release() {
            release = true;
            for (auto& t : held) {
                t.join();
            }
        }
    } guard{release, held};
    for (int i = 0; i < 5 && backends_[3]->requests() == 0; i++) {
        held.emplace_back([this] { get("/lc/held"); });
        wait_until([&] { return backends_[3]->requests() == 1 || backends_[4]->requests() > i; },
                   10s);
    }
    ASSERT_EQ(backends_[3]->requests(), 1);
    int to_b4 = 0;
    for (int i = 0; i < 20; i++) {
        HttpResponse r = get("/lc/x");
        ASSERT_EQ(r.status, 200) << halo_.error_log();
        to_b4 += r.body == "b4\n";
    }
    EXPECT_EQ(to_b4, 20) << "a worker picked the busy server";
    EXPECT_EQ(serving_pids().size(), 2u) << read_file(halo_.path("logs/access.log")).value_or("");
}

}  // namespace
}  // namespace halo_test
