// `server name resolve` (nginx 1.27.3) through the real binary: the workers look the name up
// with the http block's `resolver` (a DNS server of the test's own on a loopback UDP port,
// tests/support/dns_server.h, never real DNS) and traffic follows the answer as it changes,
// without a reload: one address, another, both, then NXDOMAIN (no peer: 502). The backends
// listen on 127.0.0.2 and 127.0.0.3 with one port, as the servers of one name do. The status
// page lists the addresses the name has now.
#include <set>
#include <string>

#include "support/backend.h"
#include "support/dns_server.h"
#include "support/harness.h"
#include "support/json.h"

namespace halo_test {
namespace {

constexpr std::string_view kConf = R"(
daemon off;
worker_processes 2;
error_log logs/error.log info;

events {
    worker_connections 128;
}

http {
    access_log off;
    resolver %%DNS%% ipv6=off;

    upstream app {
        zone app 64k;
        server app.test:%%P%% resolve;
    }

    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / {
            proxy_pass http://app;
        }
        location = /status { status; }
    }
}
)";

class UpstreamResolveTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_proxy") || !halo_has_module("http_upstream") ||
            !halo_has_module("http_resolver")) {
            GTEST_SKIP() << "the proxy, upstream or resolver module is not compiled in";
        }
        a_ = std::make_unique<Backend>("a", "127.0.0.2", 0);
        ASSERT_NE(a_->port(), 0);
        b_ = std::make_unique<Backend>("b", "127.0.0.3", a_->port());
        ASSERT_EQ(b_->port(), a_->port());
        dns_.set("app.test", {"127.0.0.2"}, {}, 1);
        std::string conf(kConf);
        conf.replace(conf.find("%%DNS%%"), 7, dns_.address());
        conf.replace(conf.find("%%P%%"), 5, std::to_string(a_->port()));
        halo_.write_conf(conf);
        ASSERT_TRUE(halo_.start()) << halo_.error_log();
        ASSERT_EQ(halo_.wait_workers(2).size(), 2u);
    }

    /// The backends that answer 20 requests (on new connections, so both workers serve).
    std::set<std::string> answering() {
        std::set<std::string> out;
        for (int i = 0; i < 20; i++) {
            auto r = http_get(halo_.port(0), "/x");
            out.insert(r ? (r->status == 200 ? r->body : std::to_string(r->status)) : "none");
        }
        return out;
    }
    bool answered_by(const std::set<std::string>& want) {
        return wait_until([&] { return answering() == want; }, 20s);
    }

    DnsServer dns_;
    std::unique_ptr<Backend> a_;
    std::unique_ptr<Backend> b_;
    Halo halo_;
};

TEST_F(UpstreamResolveTest, TrafficFollowsTheNamesAddressesWithoutAReload) {
    pid_t master = halo_.master_pid();
    std::vector<pid_t> workers = halo_.workers();
    ASSERT_TRUE(answered_by({"a\n"})) << halo_.error_log();

    dns_.set("app.test", {"127.0.0.3"}, {}, 1);
    ASSERT_TRUE(answered_by({"b\n"})) << halo_.error_log();

    dns_.set("app.test", {"127.0.0.2", "127.0.0.3"}, {}, 1);
    ASSERT_TRUE(answered_by({"a\n", "b\n"})) << halo_.error_log();

    // The status page lists both addresses of the name, nothing for the empty slots.
    auto r = http_get(halo_.port(0), "/status");
    ASSERT_TRUE(r && r->status == 200);
    auto j = Json::parse(r->body);
    ASSERT_TRUE(j) << r->body;
    std::set<std::string> peers;
    for (const Json& p : (*j)["upstreams"][0]["peers"].items()) {
        peers.insert(p["server"].str());
        EXPECT_EQ(p["name"].str(), "app.test:" + std::to_string(a_->port()));
    }
    EXPECT_EQ(peers, (std::set<std::string>{a_->address(), b_->address()})) << r->body;

    // The name is gone (NXDOMAIN): no peer is left, 502 as nginx, and the error is logged.
    dns_.set_rcode("app.test", 3);
    ASSERT_TRUE(answered_by({"502"})) << halo_.error_log();
    EXPECT_NE(halo_.error_log().find("app.test could not be resolved (3: Host not found)"),
              std::string::npos)
        << halo_.error_log();

    dns_.set("app.test", {"127.0.0.2"}, {}, 1);
    ASSERT_TRUE(answered_by({"a\n"})) << halo_.error_log();
    // All of it without a reload or a new worker.
    EXPECT_EQ(halo_.master_pid(), master);
    EXPECT_EQ(halo_.workers(), workers);
}

}  // namespace
}  // namespace halo_test
