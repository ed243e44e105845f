// `resolver` and variables in `proxy_pass` through the real binary, with a DNS server of the
// test's own on a loopback UDP port (tests/support/dns_server.h), never real DNS: a variable
// naming an upstream group, a name resolved by the worker (and cached for its TTL, or for
// valid=), the URI rules with variables, and the 502s nginx gives (no resolver, a name not
// found, no answer within resolver_timeout), each with nginx's error-log line.
#include <string>

#include "support/backend.h"
#include "support/dns_server.h"
#include "support/harness.h"

namespace halo_test {
namespace {

constexpr std::string_view kConf = R"(
daemon off;
worker_processes 1;
error_log logs/error.log info;

events {
    worker_connections 128;
}

http {
    access_log off;
    upstream app {
        server %%B0%%;
    }
    resolver_timeout 1s;

    server {
        listen 127.0.0.1:%%PORT_0%%;
        resolver %%DNS%% ipv6=off;

        location /group/ {
            proxy_pass http://$arg_up;
        }
        location /scheme/ {
            proxy_pass $scheme://app;
        }
        location /name/ {
            proxy_pass http://$arg_h:%%P1%%;
        }
        location /fixed/ {
            proxy_pass http://$arg_h:%%P1%%/fixed/path;
        }
        location /requri/ {
            proxy_pass http://svc.test:%%P1%%$request_uri;
        }
        location /short/ {
            proxy_pass http://$arg_h:%%P1%%;
            proxy_set_header X-Proxy-Host $proxy_host;
        }
        location /valid/ {
            resolver %%DNS%% valid=300s ipv6=off;
            proxy_pass http://$arg_h:%%P1%%;
        }
        location /prefix/ {
            proxy_pass $arg_url;
        }
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;  # no resolver here
        location / {
            proxy_pass http://$arg_h:%%P1%%;
        }
    }
}
)";

class ResolverTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_proxy") || !halo_has_module("http_resolver")) {
            GTEST_SKIP() << "the proxy or resolver module is not compiled in";
        }
        b0_ = std::make_unique<Backend>("b0");
        b1_ = std::make_unique<Backend>("b1");
        dns_ = std::make_unique<DnsServer>();
        ASSERT_NE(dns_->port(), 0);
    }
    /// Starts halo on `conf` (kConf when empty) with the placeholders filled in.
    ::testing::AssertionResult start(std::string conf = {}) {  // kConf when empty
        if (conf.empty()) {
            conf = std::string(kConf);
        }
        replace(conf, "%%B0%%", b0_->address());
        replace(conf, "%%P1%%", std::to_string(b1_->port()));
        replace(conf, "%%DNS%%", dns_->address());
        halo_.write_conf(conf);
        return halo_.start();
    }
    static void replace(std::string& s, const std::string& key, const std::string& value) {
        for (size_t at; (at = s.find(key)) != std::string::npos;) {
            s.replace(at, key.size(), value);
        }
    }
    HttpResponse get(std::string_view path, int port_index = 0) {
        auto r = http_get(halo_.port(port_index), path);
        return r ? *r : HttpResponse{};
    }

    std::unique_ptr<Backend> b0_, b1_;
    std::unique_ptr<DnsServer> dns_;
    Halo halo_;
};

TEST_F(ResolverTest, AVariableNamingAnUpstreamGroupUsesIt) {
    ASSERT_TRUE(start());
    EXPECT_EQ(get("/group/x?up=app").body, "b0\n");
    EXPECT_EQ(get("/scheme/x").body, "b0\n");
    EXPECT_EQ(dns_->queries("app"), 0);  // a group: never asked
}

TEST_F(ResolverTest, ANameIsResolvedByTheWorkerAndCachedForItsTtl) {
    dns_->set("svc.test", {"127.0.0.1"}, {}, 300);
    ASSERT_TRUE(start());
    for (int i = 0; i < 3; i++) {
        HttpResponse r = get("/name/a?h=svc.test");
        ASSERT_EQ(r.status, 200) << halo_.error_log();
        EXPECT_EQ(r.body, "b1\n");
    }
    EXPECT_EQ(dns_->queries("svc.test", 1), 1);   // asked once, then the cache
    EXPECT_EQ(dns_->queries("svc.test", 28), 0);  // ipv6=off
    auto seen = b1_->seen();
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.back().headers["host"], "svc.test:" + std::to_string(b1_->port()));
    EXPECT_EQ(seen.back().target, "/name/a?h=svc.test");  // no URI part: the request's
}

TEST_F(ResolverTest, AnExpiredTtlAsksAgain) {
    dns_->set("short.test", {"127.0.0.1"}, {}, 1);
    ASSERT_TRUE(start());
    ASSERT_EQ(get("/name/?h=short.test").status, 200) << halo_.error_log();
    EXPECT_TRUE(wait_until([&] {
        return get("/name/?h=short.test").status == 200 && dns_->queries("short.test", 1) >= 2;
    }));
}

TEST_F(ResolverTest, ValidOverridesAZeroTtl) {
    dns_->set("zero.test", {"127.0.0.1"}, {}, 0);
    ASSERT_TRUE(start());
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(get("/valid/?h=zero.test").status, 200) << halo_.error_log();
    }
    EXPECT_EQ(dns_->queries("zero.test", 1), 1);  // valid=300s
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ(get("/name/?h=zero.test").status, 200) << halo_.error_log();
    }
    EXPECT_EQ(dns_->queries("zero.test", 1), 3);  // the http-level resolver: TTL 0
}

TEST_F(ResolverTest, AUriPartWithVariablesReplacesTheWholeUri) {
    dns_->set("svc.test", {"127.0.0.1"});
    ASSERT_TRUE(start());
    ASSERT_EQ(get("/fixed/a/b?h=svc.test").status, 200) << halo_.error_log();
    EXPECT_EQ(b1_->seen().back().target, "/fixed/path");  // no arguments either (nginx)
    ASSERT_EQ(get("/requri/x%20y?a=1").status, 200) << halo_.error_log();
    EXPECT_EQ(b1_->seen().back().target, "/requri/x%20y?a=1");
}

TEST_F(ResolverTest, ProxyHostIsTheEvaluatedHost) {
    dns_->set("svc.test", {"127.0.0.1"});
    ASSERT_TRUE(start());
    ASSERT_EQ(get("/short/?h=svc.test").status, 200) << halo_.error_log();
    EXPECT_EQ(b1_->seen().back().headers["x-proxy-host"],
              "svc.test:" + std::to_string(b1_->port()));
}

TEST_F(ResolverTest, AnAddressNeedsNoResolver) {
    ASSERT_TRUE(start());
    EXPECT_EQ(get("/?h=127.0.0.1", 1).body, "b1\n");
}

TEST_F(ResolverTest, WithoutAResolverANameIs502) {
    ASSERT_TRUE(start());
    EXPECT_EQ(get("/?h=svc.test", 1).status, 502);
    EXPECT_TRUE(wait_until([&] {
        return halo_.error_log().find(
                   "no resolver defined to resolve svc.test, client: "
                   "127.0.0.1") != std::string::npos;
    })) << halo_.error_log();
    EXPECT_EQ(dns_->queries("svc.test"), 0);
}

TEST_F(ResolverTest, AnUnknownNameIs502HostNotFound) {
    ASSERT_TRUE(start());
    EXPECT_EQ(get("/name/?h=nowhere.test").status, 502);
    EXPECT_TRUE(wait_until([&] {
        return halo_.error_log().find("nowhere.test could not be resolved (3: Host not found)") !=
               std::string::npos;
    })) << halo_.error_log();
}

TEST_F(ResolverTest, NoAnswerWithinResolverTimeoutIs502) {
    dns_->set_silent("slow.test");
    ASSERT_TRUE(start());
    EXPECT_EQ(get("/name/?h=slow.test").status, 502);
    EXPECT_TRUE(wait_until([&] {
        return halo_.error_log().find(
                   "slow.test could not be resolved (110: Operation timed out)") !=
               std::string::npos;
    })) << halo_.error_log();
}

TEST_F(ResolverTest, AUrlThatIsNotHttpIs500) {
    ASSERT_TRUE(start());
    EXPECT_EQ(get("/prefix/?url=ftp://x").status, 500);
    EXPECT_TRUE(wait_until([&] {
        return halo_.error_log().find("invalid URL prefix in \"ftp://x\"") != std::string::npos;
    })) << halo_.error_log();
}

// ---- configuration ----

class ResolverConfTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_proxy") || !halo_has_module("http_resolver")) {
            GTEST_SKIP() << "the proxy or resolver module is not compiled in";
        }
    }
    RunResult check(std::string_view http_body) {
        halo_.write_conf("events {}\nhttp {\n" + std::string(http_body) + "\n}\n");
        return halo_.run({"-t"});
    }
    Halo halo_;
};

TEST_F(ResolverConfTest, RefusesWhatNginxRefuses) {
    RunResult r = check("resolver 127.0.0.1 ipv6=maybe;");
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("invalid parameter: ipv6=maybe in "), std::string::npos) << r;
    r = check("resolver nosuchhost.invalid;");
    EXPECT_NE(r.err.find("host not found in resolver \"nosuchhost.invalid\" in "),
              std::string::npos)
        << r;
    r = check("resolver 127.0.0.1 ipv4=off ipv6=off;");
    EXPECT_NE(r.err.find("\"ipv4\" and \"ipv6\" cannot both be \"off\""), std::string::npos) << r;
    r = check("resolver 127.0.0.1 status_zone=z;");
    EXPECT_NE(r.err.find("\"status_zone\" of \"resolver\" is not supported by halo"),
              std::string::npos)
        << r;
    // `server ... resolve` (upstream_resolve_test.cc) needs a zone, as in nginx 1.27.3.
    r = check("upstream u { server localhost:8080 resolve; }");
    EXPECT_NE(r.err.find("resolving names at run time requires upstream \"u\" to be in shared "
                         "memory in "),
              std::string::npos)
        << r;
    r = check("resolver_timeout 0;");
    EXPECT_NE(r.status, 0) << r;
    r = check("server { location / { proxy_pass http://$host; proxy_redirect default; } }");
    EXPECT_NE(r.err.find("\"proxy_redirect default\" cannot be used with \"proxy_pass\" "
                         "directive with variables in "),
              std::string::npos)
        << r;
}

TEST_F(ResolverConfTest, AcceptsNginxForms) {
    RunResult r = check(
        "resolver 127.0.0.1 127.0.0.2:5353 [::1]:53 valid=30s ipv6=off;\n"
        "resolver_timeout 5s;\n"
        "server { location / { resolver 127.0.0.1 ipv4=on; proxy_pass http://$host$request_uri; }"
        " location ~ ^/x/ { proxy_pass http://$host/a/b; } }");
    EXPECT_EQ(r.status, 0) << r;
}

}  // namespace
}  // namespace halo_test
