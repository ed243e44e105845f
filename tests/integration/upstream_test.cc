// Upstream blocks through the real binary: `halo -t` accepts every directive of the upstream
// modules and reports errors as nginx does (file:line); a running halo with upstream zones
// reloads, and a reload with a bad upstream keeps the old configuration serving.
#include <signal.h>

#include "support/harness.h"

namespace halo_test {
namespace {

constexpr std::string_view kHead = R"(
daemon off;
worker_processes 2;
error_log logs/error.log notice;

events {
    worker_connections 64;
}

http {
)";

constexpr std::string_view kServer = R"(
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / {
            return 200 "ok\n";
        }
    }
}
)";

class UpstreamTest : public ::testing::Test {
  protected:
    void SetUp() override {
        for (const char* m :
             {"http_upstream", "http_upstream_least_conn", "http_upstream_hash", "http_rewrite"}) {
            if (!halo_has_module(m)) {
                GTEST_SKIP() << "the " << m << " module is not compiled in";
            }
        }
    }

    std::string conf(std::string_view upstreams) {
        return std::string(kHead) + std::string(upstreams) + std::string(kServer);
    }

    /// `halo -t` fails with exactly "halo: [emerg] <message> in halo.conf:<line>".
    void expect_emerg(std::string_view upstreams, const std::string& message, int line) {
        halo_.write_conf(conf(upstreams));
        RunResult r = halo_.run({"-t"});
        EXPECT_EQ(r.status, 1) << r;
        std::string want = "halo: [emerg] " + message + " in " + halo_.conf_path() + ":" +
                           std::to_string(line) + "\n";
        EXPECT_NE(r.err.find(want), std::string::npos) << "expected: " << want << r;
    }

    Halo halo_;
};

constexpr std::string_view kAll = R"(
    upstream app {
        zone app 256k;
        persistence_timeout 50s;
        server 127.0.0.1:8081 weight=5 max_fails=3 fail_timeout=30s max_conns=100;
        server localhost:8082 backup;
        server 127.0.0.1:8083 down;
        keepalive 16;
        keepalive_timeout 30s;
        keepalive_requests 500;
    }
    upstream fewest {
        least_conn;
        server 127.0.0.1:8081;
        server 127.0.0.1:8082 weight=2;
    }
    upstream ring {
        hash $request_uri consistent;
        server 127.0.0.1:8081;
        server 127.0.0.1:8082;
    }
    upstream sticky {
        ip_hash;
        server 127.0.0.1:8081;
        server 127.0.0.1:8082 down;
    }
)";

TEST_F(UpstreamTest, ConfigTestAcceptsEveryDirective) {
    halo_.write_conf(conf(kAll));
    RunResult r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_NE(r.err.find("test is successful"), std::string::npos) << r;
}

TEST_F(UpstreamTest, ConfigTestErrors) {
    // kHead ends on line 10 ("http {"); the upstream text starts on line 11.
    expect_emerg("upstream app {\n  server 127.0.0.1:1 wieght=5;\n}\n",
                 "invalid parameter \"wieght=5\"", 12);
    expect_emerg("upstream app {\n  server no-such-host.invalid:80;\n}\n",
                 "host not found in upstream \"no-such-host.invalid:80\"", 12);
    expect_emerg("upstream app {\n}\n", "no servers are inside upstream", 11);
    expect_emerg("upstream a {\n  server 127.0.0.1:1;\n}\nupstream a {\n  server 127.0.0.1:2;\n}\n",
                 "duplicate upstream \"a\"", 14);
    expect_emerg("upstream a {\n  ip_hash;\n  server 127.0.0.1:1 backup;\n}\n",
                 "balancing method does not support parameter \"backup\"", 13);
    expect_emerg("upstream a {\n  least_conn;\n  hash $uri;\n  server 127.0.0.1:1;\n}\n",
                 "load balancing method redefined", 13);
}

TEST_F(UpstreamTest, ReloadKeepsServingAndRefusesABadUpstream) {
    halo_.write_conf(conf(kAll));
    ASSERT_TRUE(halo_.start());
    std::vector<pid_t> first = halo_.wait_workers(2);
    ASSERT_EQ(first.size(), 2u);
    EXPECT_EQ(halo_.get_body(), "ok\n");

    // Servers changed, zones kept: the new workers start.
    std::string changed(kAll);
    changed.replace(changed.find("server 127.0.0.1:8083 down;"), 27, "server 127.0.0.1:8084;");
    halo_.write_conf(conf(changed));
    ASSERT_TRUE(halo_.signal(SIGHUP));
    std::vector<pid_t> second = halo_.wait_new_workers(2, first);
    ASSERT_EQ(second.size(), 2u);
    EXPECT_EQ(halo_.get_body(), "ok\n");

    // A bad upstream: the reload fails and the running workers stay.
    halo_.write_conf(conf("upstream bad {\n  server 127.0.0.1:1 weight=0;\n}\n"));
    ASSERT_TRUE(halo_.signal(SIGHUP));
    EXPECT_TRUE(wait_until([&] {
        return !log_lines_with(halo_.error_log(), "invalid parameter \"weight=0\"").empty();
    }));
    EXPECT_EQ(halo_.wait_workers(2), second);
    EXPECT_EQ(halo_.get_body(), "ok\n");
}

}  // namespace
}  // namespace halo_test
