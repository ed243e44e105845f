// proxy_pass_trailers (nginx 1.27.2) through the real binary: the trailer fields of a chunked
// upstream response reach an HTTP/1.1 client after the body with `on` (but the fields
// proxy_hide_header hides), and are dropped with `off` (the default).
#include <poll.h>
#include <sys/socket.h>

#include <string>

#include "support/backend.h"
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

    server {
        listen 127.0.0.1:%%PORT_0%%;

        location /on/ {
            proxy_pass_trailers on;
            proxy_hide_header X-Secret;
            proxy_pass http://%%B0%%;
        }
        location /off/ {
            proxy_pass http://%%B0%%;
        }
    }
}
)";

class ProxyTrailersTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_proxy")) {
            GTEST_SKIP() << "the proxy module is not compiled in";
        }
        backend_.set_handler([](BackendConn& c, const BackendRequest&) {
            c.send(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
                "Trailer: X-Checksum\r\n\r\n"
                "5\r\nhello\r\n0\r\nX-Checksum: abc123\r\nX-Secret: s\r\n"
                "Server-Timing: db;dur=53\r\n\r\n");
            c.close_after();
        });
        std::string conf(kConf);
        for (size_t at; (at = conf.find("%%B0%%")) != std::string::npos;) {
            conf.replace(at, 6, backend_.address());
        }
        halo_.write_conf(conf);
        ASSERT_TRUE(halo_.start()) << halo_.error_log();
        ASSERT_EQ(halo_.wait_workers(1).size(), 1u);
    }

    /// The raw response to `GET path` (HTTP/1.1, Connection: close), framing included.
    std::string raw(const std::string& path) {
        HttpConnection c;
        if (!c.connect(halo_.port(0)) ||
            !c.send("GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) {
            return {};
        }
        std::string out;
        for (;;) {
            pollfd p{c.fd(), POLLIN, 0};
            if (::poll(&p, 1, 5000) != 1) {
                break;
            }
            char buf[4096];
            ssize_t n = ::recv(c.fd(), buf, sizeof(buf), 0);
            if (n <= 0) {
                break;
            }
            out.append(buf, static_cast<size_t>(n));
        }
        return out;
    }

    Backend backend_{"b0"};
    Halo halo_;
};

TEST_F(ProxyTrailersTest, OnPassesTheTrailerFieldsButHiddenOnes) {
    std::string r = raw("/on/x");
    EXPECT_NE(r.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << r;
    size_t body = r.find("\r\n\r\n");
    ASSERT_NE(body, std::string::npos) << r;
    EXPECT_EQ(r.substr(body + 4),
              "5\r\nhello\r\n0\r\nX-Checksum: abc123\r\nServer-Timing: db;dur=53\r\n\r\n")
        << r;
}

TEST_F(ProxyTrailersTest, OffDropsThem) {
    std::string r = raw("/off/x");
    size_t body = r.find("\r\n\r\n");
    ASSERT_NE(body, std::string::npos) << r;
    EXPECT_EQ(r.substr(body + 4), "5\r\nhello\r\n0\r\n\r\n") << r;
}

TEST_F(ProxyTrailersTest, AnHttp10ClientGetsNoTrailers) {
    HttpConnection c;
    ASSERT_TRUE(c.connect(halo_.port(0)));
    ASSERT_TRUE(c.send("GET /on/x HTTP/1.0\r\n\r\n"));
    auto r = c.read_response(5s);
    ASSERT_TRUE(r.has_value()) << c.error();
    EXPECT_EQ(r->body, "hello");
    EXPECT_FALSE(r->has_header("X-Checksum"));
}

}  // namespace
}  // namespace halo_test
