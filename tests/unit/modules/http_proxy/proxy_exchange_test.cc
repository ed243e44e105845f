// One proxied request (proxy_request.cc, proxy_response.cc), served in this process: a cycle
// from inline config, a worker runtime kept across requests (so that its keepalive pool
// lives on), clients over socketpairs and scripted origin servers on loopback
// (halo_test::Backend). Covers relaying, keepalive reuse, proxy_next_upstream and timeouts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "core/process.h"
#include "event/runtime.h"
#include "http/http.h"
#include "support/backend.h"
#include "support/http_unit.h"
#include "support/test_modules.h"
#include "upstream/pool.h"

namespace mod::proxy {
namespace {

using halo_test::Backend;
using halo_test::BackendConn;
using halo_test::BackendRequest;
using ::testing::EndsWith;

/// A port of 127.0.0.1 nobody listens on: connecting is refused.
std::string refused() {
    return "127.0.0.1:" + std::to_string(support::free_port());
}

/// The body of a chunked message body (empty when malformed).
std::string dechunk(std::string_view in) {
    std::string out;
    for (;;) {
        size_t eol = in.find("\r\n");
        if (eol == std::string_view::npos) {
            return {};
        }
        size_t n = std::stoul(std::string(in.substr(0, eol)), nullptr, 16);
        if (n == 0) {
            return out;
        }
        if (in.size() < eol + 2 + n + 2) {
            return {};
        }
        out.append(in.substr(eol + 2, n));
        in.remove_prefix(eol + 2 + n + 2);
    }
}

class ProxyExchangeTest : public support::HttpUnitTest {
  protected:
    ~ProxyExchangeTest() override { stop(); }

    /// Loads `upstream u { <servers> }` and a server whose location / proxies to it, with
    /// `directives` in the location, and starts a worker runtime for it.
    void start(std::string_view servers, std::string_view directives = {}) {
        stop();
        std::string conf =
            "http {\n"
            " upstream u {\n  " +
            std::string(servers) +
            "\n }\n"
            " server {\n  listen 127.0.0.1:8080;\n"
            "  location / {\n   proxy_pass http://u;\n"
            "   add_header X-Upstream-Status $upstream_status always;\n   " +
            std::string(directives) + "\n  }\n }\n}\n";
        core::Status s = load(conf);
        ASSERT_TRUE(s.is_ok()) << s.message();
        runtime_ = std::make_unique<ev::Runtime>(*cycle_, info_);
    }
    /// The pool's connections go before the runtime and the cycle they belong to.
    void stop() {
        if (!runtime_) {
            return;
        }
        upstream::pool_clear();
        for (int i = 0; i < 3; i++) {
            runtime_->loop().run_once(ev::Duration(0));
        }
        runtime_.reset();
    }

    /// One client connection: sends `request` and reads until the server closes it.
    support::Response fetch(std::string_view request) {
        http::HttpMainConf* main = http::http_main(*cycle_);
        int sv[2];
        if (!runtime_ || main == nullptr ||
            socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
            ADD_FAILURE() << "no runtime or no socketpair";
            return {};
        }
        core::SockAddr peer;
        main->ports[0]->on_accept(sv[0], peer);  // the session owns sv[0]
        std::string out;
        auto deadline = ev::Clock::now() + std::chrono::seconds(5);
        bool eof = false;
        size_t off = 0;
        while (!eof && ev::Clock::now() < deadline) {
            if (off < request.size()) {
                ssize_t n = ::send(sv[1], request.data() + off, request.size() - off, MSG_NOSIGNAL);
                off += n > 0 ? static_cast<size_t>(n) : 0;
            }
            runtime_->loop().run_once(ev::Duration(5));
            char buf[16384];
            ssize_t n;
            while ((n = ::read(sv[1], buf, sizeof(buf))) > 0) {
                out.append(buf, static_cast<size_t>(n));
            }
            eof = n == 0;
        }
        ::close(sv[1]);
        for (int i = 0; i < 100 && runtime_->active_connections() > 0; i++) {
            runtime_->loop().run_once(ev::Duration(5));
        }
        EXPECT_TRUE(eof) << "no end of response: " << out;
        return support::parse_response(out);
    }
    support::Response get(std::string_view target = "/") {
        return fetch("GET " + std::string(target) +
                     " HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    }
    support::Response post(std::string_view body) {
        return fetch("POST / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + std::string(body));
    }

    core::ProcessInfo info_;
    std::unique_ptr<ev::Runtime> runtime_;
};

// ---- relaying ----

TEST_F(ProxyExchangeTest, RelaysStatusHeadersAndContentLengthBody) {
    Backend b("b", [](BackendConn& c, const BackendRequest&) {
        c.send("HTTP/1.1 201 Created\r\nX-Origin: b\r\nContent-Length: 11\r\n\r\nhello world");
    });
    start("server " + b.address() + ";");
    support::Response r = get("/path?q=1");
    EXPECT_EQ(r.status, 201);
    EXPECT_EQ(r.header("x-origin"), "b");
    EXPECT_EQ(r.header("content-length"), "11");
    EXPECT_EQ(r.body, "hello world");
    ASSERT_EQ(b.seen().size(), 1u);
    EXPECT_EQ(b.seen()[0].method, "GET");
    EXPECT_EQ(b.seen()[0].target, "/path?q=1");
}

TEST_F(ProxyExchangeTest, RelaysChunkedBody) {
    Backend b("b", [](BackendConn& c, const BackendRequest&) {
        c.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
        c.send("6\r\n world\r\n0\r\n\r\n");
    });
    start("server " + b.address() + ";");
    support::Response r = get();
    EXPECT_EQ(r.status, 200);
    EXPECT_FALSE(r.has_header("content-length"));
    ASSERT_EQ(r.header("transfer-encoding"), "chunked");
    EXPECT_EQ(dechunk(r.body), "hello world");
    EXPECT_THAT(r.body, EndsWith("0\r\n\r\n"));
}

// The server's last bytes and its FIN arrive in one edge: the EOF that ends this body must
// still be seen (ev::Connection keeps reading after a short read once the peer closed), or the
// client would wait for proxy_read_timeout.
TEST_F(ProxyExchangeTest, RelaysBodyEndingWithTheConnection) {
    Backend b("b", [](BackendConn& c, const BackendRequest&) {
        c.send("HTTP/1.1 200 OK\r\n\r\nuntil the end");
        c.close_after();
    });
    start("server " + b.address() + "; keepalive 4;");
    support::Response r = get();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(dechunk(r.body), "until the end");  // the client gets it chunked
    EXPECT_EQ(upstream::pool_size(), 0u);
}

// ---- keepalive ----

constexpr std::string_view kKeepalive = "proxy_http_version 1.1; proxy_set_header Connection \"\";";

TEST_F(ProxyExchangeTest, UpstreamConnectionReusedForTheNextRequest) {
    Backend b("b");
    start("server " + b.address() + "; keepalive 4;", kKeepalive);
    EXPECT_EQ(get().body, "b\n");
    EXPECT_EQ(upstream::pool_size(), 1u);
    EXPECT_EQ(get().body, "b\n");
    EXPECT_EQ(b.requests(), 2);
    EXPECT_EQ(b.connections(), 1);
}

TEST_F(ProxyExchangeTest, ConnectionReusedAfterAChunkedResponse) {
    Backend b("b", [](BackendConn& c, const BackendRequest&) {
        c.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n");
    });
    start("server " + b.address() + "; keepalive 4;", kKeepalive);
    EXPECT_EQ(dechunk(get().body), "ok");
    EXPECT_EQ(dechunk(get().body), "ok");
    EXPECT_EQ(b.requests(), 2);
    EXPECT_EQ(b.connections(), 1);
}

/// A server that hangs up, unanswered, the second request on its first connection (a pooled
/// connection it had just closed): `first` counts the requests of that connection.
Backend::Handler hang_up_second(std::atomic<int>& first) {
    return [&first](BackendConn& c, const BackendRequest& r) {
        if (r.connection == 0 && ++first == 2) {
            c.close_after();
            return;
        }
        c.send(Backend::ok_response("b\n"));
    };
}

TEST_F(ProxyExchangeTest, StalePooledConnectionIsRetriedOnTheSamePeer) {
    std::atomic<int> first{0};
    Backend b("b", hang_up_second(first));
    start("server " + b.address() + "; keepalive 4;", kKeepalive);
    EXPECT_EQ(get().body, "b\n");
    support::Response r = get();  // the only peer, once more on a new connection
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("x-upstream-status"), "502, 200");
    EXPECT_EQ(b.connections(), 2);
}

TEST_F(ProxyExchangeTest, StalePooledConnectionNotRetriedForPost) {
    std::atomic<int> first{0};
    Backend b("b", hang_up_second(first));
    start("server " + b.address() + "; keepalive 4;", kKeepalive);
    EXPECT_EQ(get().body, "b\n");
    EXPECT_EQ(post("data").status, 502);
    EXPECT_EQ(b.connections(), 1);
}

TEST_F(ProxyExchangeTest, NoPoolWithoutKeepalive) {
    Backend b("b");
    start("server " + b.address() + ";", kKeepalive);
    EXPECT_EQ(get().body, "b\n");
    EXPECT_EQ(upstream::pool_size(), 0u);
    EXPECT_EQ(get().body, "b\n");
    EXPECT_EQ(b.connections(), 2);
}

TEST_F(ProxyExchangeTest, NotReusedAfterConnectionClose) {
    // The server says close but leaves the socket open: only the header can stop the reuse.
    Backend b("b", [](BackendConn& c, const BackendRequest&) {
        c.send(Backend::ok_response("b\n", true));
    });
    start("server " + b.address() + "; keepalive 4;", kKeepalive);
    EXPECT_EQ(get().body, "b\n");
    EXPECT_EQ(upstream::pool_size(), 0u);
    EXPECT_EQ(get().body, "b\n");
    EXPECT_EQ(b.connections(), 2);
}

// ---- proxy_next_upstream ----

TEST_F(ProxyExchangeTest, RefusedConnectionTriesTheNextPeer) {
    Backend b("b");
    std::string servers = "server " + refused() + "; server " + b.address() + ";";
    start(servers, "proxy_next_upstream off;");
    EXPECT_EQ(get().status, 502);  // the refused one is picked first
    EXPECT_EQ(b.requests(), 0);
    start(servers);
    support::Response r = get();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "b\n");
    EXPECT_EQ(r.header("x-upstream-status"), "502, 200");
    EXPECT_EQ(b.requests(), 1);
}

TEST_F(ProxyExchangeTest, NoPeerLeftGives502) {
    start("server " + refused() + "; server " + refused() + ";");
    support::Response r = get();
    EXPECT_EQ(r.status, 502);
    EXPECT_EQ(r.header("x-upstream-status"), "502, 502");
}

/// A first server answering 503 and a second answering 200.
class Retry503Test : public ProxyExchangeTest {
  protected:
    Backend busy_{"busy", [](BackendConn& c, const BackendRequest&) {
                      c.send("HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy");
                  }};
    Backend ok_{"ok"};
    std::string servers_ = "server " + busy_.address() + "; server " + ok_.address() + ";";
};

TEST_F(Retry503Test, RelayedByDefault) {
    start(servers_);
    support::Response r = get();
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.body, "busy");
    EXPECT_EQ(ok_.requests(), 0);
}

TEST_F(Retry503Test, RetriedWithHttp503) {
    start(servers_, "proxy_next_upstream error timeout http_503;");
    support::Response r = get();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "ok\n");
    EXPECT_EQ(r.header("x-upstream-status"), "503, 200");
    EXPECT_EQ(busy_.requests(), 1);
}

/// A first server that reads the request and closes without answering, and a good second.
class NonIdempotentTest : public ProxyExchangeTest {
  protected:
    Backend hangup_{"hangup", [](BackendConn& c, const BackendRequest&) { c.close_after(); }};
    Backend ok_{"ok"};
    std::string servers_ = "server " + hangup_.address() + "; server " + ok_.address() + ";";
};

TEST_F(NonIdempotentTest, PostNotRetriedAfterItWasSent) {
    start(servers_);
    support::Response r = post("data");
    EXPECT_EQ(r.status, 502);
    EXPECT_EQ(r.header("x-upstream-status"), "502");
    ASSERT_EQ(hangup_.seen().size(), 1u);
    EXPECT_EQ(hangup_.seen()[0].body, "data");
    EXPECT_EQ(ok_.requests(), 0);
}

TEST_F(NonIdempotentTest, GetRetried) {
    start(servers_);
    support::Response r = get();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("x-upstream-status"), "502, 200");
}

TEST_F(NonIdempotentTest, PostRetriedWithNonIdempotent) {
    start(servers_, "proxy_next_upstream error non_idempotent;");
    support::Response r = post("data");
    EXPECT_EQ(r.status, 200);
    ASSERT_EQ(ok_.seen().size(), 1u);
    EXPECT_EQ(ok_.seen()[0].body, "data");
}

// ---- timeouts ----

TEST_F(ProxyExchangeTest, ReadTimeoutGives504) {
    // Reads the request, then waits for the proxy to give up and close.
    Backend b("b", [](BackendConn& c, const BackendRequest&) {
        c.read_some(3000);
        c.close_after();
    });
    start("server " + b.address() + ";", "proxy_read_timeout 100ms;");
    support::Response r = get();
    EXPECT_EQ(r.status, 504);
    EXPECT_EQ(r.header("x-upstream-status"), "504");
}

TEST_F(ProxyExchangeTest, ReadTimeoutTriesTheNextPeer) {
    Backend silent("silent", [](BackendConn& c, const BackendRequest&) {
        c.read_some(3000);
        c.close_after();
    });
    Backend ok("ok");
    start("server " + silent.address() + "; server " + ok.address() + ";",
          "proxy_read_timeout 100ms;");
    support::Response r = get();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("x-upstream-status"), "504, 200");
}

}  // namespace
}  // namespace mod::proxy
