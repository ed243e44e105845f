// Unix-socket upstreams through the real binary, as nginx has them: `server unix:PATH` in an
// upstream block and `proxy_pass http://unix:PATH:/uri`, to test backends listening on unix
// sockets in the test's prefix. Round robin between two of them, keepalive reuse, hash and
// ip_hash, what the backend receives (Host "localhost", the URI part), $upstream_addr and
// $proxy_host, a missing socket (502 and nginx's crit line), the status page and its
// Prometheus output naming the peers "unix:PATH". The expected values were taken from Debian's
// nginx 1.22 on the same shapes of configuration.
#include <sys/stat.h>

#include <map>
#include <string>

#include "support/backend.h"
#include "support/harness.h"
#include "support/json.h"
#include "support/prometheus.h"

namespace halo_test {
namespace {

constexpr std::string_view kConf = R"(
daemon off;
worker_processes 1;
error_log logs/error.log info;

events {
    worker_connections 1024;
}

http {
    log_format up '$uri [$upstream_addr] [$proxy_host]';
    access_log logs/access.log up;

    upstream two {
        server %%S0%%;
        server %%S1%%;
    }
    upstream ka {
        server %%S2%% max_fails=3 fail_timeout=5s weight=2;
        keepalive 4;
    }
    upstream hashed {
        hash $arg_k consistent;
        server %%S0%%;
        server %%S1%%;
    }
    upstream iphash {
        ip_hash;
        server %%S0%%;
        server %%S1%%;
    }

    server {
        listen 127.0.0.1:%%PORT_0%%;

        location /two/ {
            proxy_pass http://two;
        }
        location /ka/ {
            proxy_pass http://ka;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location /direct/ {
            proxy_set_header X-Proxy-Port "port=$proxy_port";
            proxy_pass http://%%S2%%:/base/;
        }
        location /missing/ {
            proxy_pass http://unix:%%PREFIX%%/missing.sock;
        }
        location /hash/ {
            proxy_pass http://hashed;
        }
        location /iphash/ {
            proxy_pass http://iphash;
        }
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        location = /status { status; }
        location = /metrics { status format=prometheus; }
    }
}
)";

class ProxyUnixTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_proxy") || !halo_has_module("http_upstream")) {
            GTEST_SKIP() << "the proxy or upstream module is not compiled in";
        }
        // The workers run as `user` (nobody): they reach the sockets through the prefix.
        ASSERT_EQ(::chmod(halo_.prefix().c_str(), 0755), 0);
        for (int i = 0; i < 3; i++) {
            backends_[i] = std::make_unique<Backend>(
                "s" + std::to_string(i), UnixSocket{halo_.path("s" + std::to_string(i) + ".sock")});
        }
        std::string conf(kConf);
        for (int i = 0; i < 3; i++) {
            std::string key = "%%S" + std::to_string(i) + "%%";
            for (size_t at; (at = conf.find(key)) != std::string::npos;) {
                conf.replace(at, key.size(), backends_[i]->address());
            }
        }
        halo_.write_conf(conf);
        ASSERT_TRUE(halo_.start()) << halo_.error_log();
        ASSERT_EQ(halo_.wait_workers(1).size(), 1u);
    }
    void TearDown() override {
        halo_.kill_all();
        for (auto& b : backends_) {
            b.reset();
        }
    }
    HttpResponse get(std::string_view path) {
        auto r = http_get(halo_.port(0), path);
        return r ? *r : HttpResponse{};
    }
    std::string access_log() const { return read_file(halo_.path("logs/access.log")).value_or(""); }
    /// The access log once it holds `line` (the worker writes it after the answer has gone):
    /// all of it, for the assertion's message.
    std::string access_log_with(const std::string& line) const {
        wait_until([&] { return access_log().find(line) != std::string::npos; });
        return access_log();
    }

    Halo halo_;
    std::unique_ptr<Backend> backends_[3];
};

TEST_F(ProxyUnixTest, RoundRobinBetweenTwoUnixSockets) {
    std::string order;
    for (int i = 0; i < 6; i++) {
        HttpResponse r = get("/two/" + std::to_string(i));
        ASSERT_EQ(r.status, 200) << halo_.error_log();
        order += r.body.substr(0, 2) + " ";
    }
    EXPECT_EQ(order, "s0 s1 s0 s1 s0 s1 ");
    EXPECT_EQ(backends_[0]->requests(), 3);
    EXPECT_EQ(backends_[1]->requests(), 3);
    // $upstream_addr as nginx writes it; $proxy_host is the group.
    std::string log = access_log_with("/two/1 [");
    EXPECT_NE(log.find("/two/0 [" + backends_[0]->address() + "] [two]\n"), std::string::npos)
        << log;
    EXPECT_NE(log.find("/two/1 [" + backends_[1]->address() + "] [two]\n"), std::string::npos)
        << log;
    EXPECT_EQ(backends_[0]->seen().back().headers["host"], "two");
}

TEST_F(ProxyUnixTest, ProxyPassToAUnixSocketWithAUriPart) {
    HttpResponse r = get("/direct/x?y=1");
    ASSERT_EQ(r.status, 200) << halo_.error_log();
    EXPECT_EQ(r.body, "s2\n");
    BackendRequest q = backends_[2]->seen().back();
    EXPECT_EQ(q.target, "/base/x?y=1");             // the matched prefix replaced by the URI part
    EXPECT_EQ(q.headers["host"], "localhost");      // nginx's Host for a unix socket
    EXPECT_EQ(q.headers["x-proxy-port"], "port=");  // nginx 1.22: $proxy_port is empty
    std::string log = access_log_with("/direct/x [");
    EXPECT_NE(log.find("/direct/x [" + backends_[2]->address() + "] [localhost]\n"),
              std::string::npos)
        << log;
}

TEST_F(ProxyUnixTest, KeepaliveConnectionsToAUnixSocketAreReused) {
    HttpConnection c;
    ASSERT_TRUE(c.connect(halo_.port(0)));
    for (int i = 0; i < 10; i++) {
        ASSERT_TRUE(c.send("GET /ka/" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n"));
        auto r = c.read_response(5s);
        ASSERT_TRUE(r.has_value()) << c.error();
        EXPECT_EQ(r->body, "s2\n");
    }
    for (int i = 0; i < 5; i++) {
        EXPECT_EQ(get("/ka/other-client").body, "s2\n");
    }
    EXPECT_EQ(backends_[2]->requests(), 15);
    EXPECT_EQ(backends_[2]->connections(), 1) << halo_.error_log();
}

TEST_F(ProxyUnixTest, AMissingSocketIs502WithNginxsErrorLine) {
    HttpResponse r = get("/missing/x");
    EXPECT_EQ(r.status, 502);
    std::string path = halo_.path("missing.sock");
    // nginx 1.22's line, word for word, with its context.
    std::string want = "[crit] ";
    std::string line = "connect() to unix:" + path +
                       " failed (2: No such file or directory) while connecting to upstream, "
                       "client: 127.0.0.1, server: , request: \"GET /missing/x HTTP/1.1\", "
                       "upstream: \"http://unix:" +
                       path + ":/missing/x\"";
    std::string log = halo_.error_log();
    size_t at = log.find(line);
    ASSERT_NE(at, std::string::npos) << log;
    size_t bol = log.rfind('\n', at);
    EXPECT_NE(log.substr(bol + 1, at - bol - 1).find(want), std::string::npos) << log;
    std::string alog = access_log_with("/missing/x [");
    EXPECT_NE(alog.find("/missing/x [unix:" + path + "] [localhost]\n"), std::string::npos) << alog;
}

TEST_F(ProxyUnixTest, HashAndIpHashPickUnixPeers) {
    std::map<std::string, std::string> by_key;
    for (int round = 0; round < 2; round++) {
        for (int k = 0; k < 20; k++) {
            HttpResponse r = get("/hash/?k=" + std::to_string(k));
            ASSERT_EQ(r.status, 200) << halo_.error_log();
            std::string& first = by_key[std::to_string(k)];
            if (round == 0) {
                first = r.body;
            } else {
                EXPECT_EQ(r.body, first) << "key " << k;  // the same key, the same socket
            }
        }
    }
    int s0 = 0;
    for (const auto& [k, body] : by_key) {
        s0 += body == "s0\n" ? 1 : 0;
    }
    EXPECT_GT(s0, 0);  // both sockets take keys
    EXPECT_LT(s0, 20);
    std::string first = get("/iphash/").body;
    ASSERT_TRUE(first == "s0\n" || first == "s1\n") << first;
    for (int i = 0; i < 5; i++) {
        EXPECT_EQ(get("/iphash/").body, first);  // one client, one socket
    }
}

TEST_F(ProxyUnixTest, TheStatusPageNamesUnixPeersAsNginxDoes) {
    ASSERT_EQ(get("/ka/1").status, 200);
    auto r = http_get(halo_.port(1), "/status");
    ASSERT_TRUE(r && r->status == 200);
    auto j = Json::parse(r->body);
    ASSERT_TRUE(j) << r->body;
    const Json* ka = nullptr;
    for (const Json& u : (*j)["upstreams"].items()) {
        if (u["name"].str() == "ka") {
            ka = &u;
        }
    }
    ASSERT_NE(ka, nullptr) << r->body;
    ASSERT_EQ((*ka)["peers"].size(), 1u);
    EXPECT_EQ((*ka)["peers"][0]["server"].str(), backends_[2]->address());
    EXPECT_EQ((*ka)["peers"][0]["requests"].integer(), 1);
    auto m = http_get(halo_.port(1), "/metrics");
    ASSERT_TRUE(m && m->status == 200);
    auto p = PromText::parse(m->body);
    ASSERT_TRUE(p) << m->body;
    EXPECT_EQ(
        p->value("halo_upstream_peer_up", {{"upstream", "ka"}, {"peer", backends_[2]->address()}}),
        1.0)
        << m->body;
}

}  // namespace
}  // namespace halo_test
