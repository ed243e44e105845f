// proxy_ignore_client_abort through the real binary. `off` (the default): a client that
// closes its connection while halo waits for the upstream's response ends the upstream
// exchange too (the backend sees its connection closed), the request is logged with 499 and
// nginx's info line. `on`: the exchange goes on, the backend keeps its connection and its
// response is read.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
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
    log_format st '$uri $status [$upstream_status]';
    access_log logs/access.log st;

    server {
        listen 127.0.0.1:%%PORT_0%%;

        location /off/ {
            proxy_pass http://%%B0%%;
        }
        location /on/ {
            proxy_ignore_client_abort on;
            proxy_pass http://%%B0%%;
        }
        location = /barrier {
            return 204;
        }
    }
}
)";

/// Whether `fd` saw its peer close within `ms` (readable with nothing to read).
bool peer_closes(int fd, int ms) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, ms) != 1) {
        return false;
    }
    char c;
    return ::recv(fd, &c, 1, MSG_PEEK) == 0;
}

class ProxyClientAbortTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_proxy") || !halo_has_module("http_rewrite")) {
            GTEST_SKIP() << "the proxy or rewrite module is not compiled in";
        }
        std::string conf(kConf);
        conf.replace(conf.find("%%B0%%"), 6, backend_.address());
        conf.replace(conf.find("%%B0%%"), 6, backend_.address());
        halo_.write_conf(conf);
        ASSERT_TRUE(halo_.start()) << halo_.error_log();
        ASSERT_EQ(halo_.wait_workers(1).size(), 1u);
    }
    /// Sends `GET path` and closes the connection once the backend has the request.
    void send_and_leave(const std::string& path) {
        HttpConnection c;
        ASSERT_TRUE(c.connect(halo_.port(0)));
        ASSERT_TRUE(c.send("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n"));
        ASSERT_TRUE(wait_until([&] { return got_ > 0; })) << halo_.error_log();
        c.close();
    }
    std::string access_log() const { return read_file(halo_.path("logs/access.log")).value_or(""); }

    std::atomic<int> got_{0};
    std::atomic<int> release_{0};
    std::atomic<int> closed_{-1};  // 1: the backend saw halo close, 0: it did not
    Backend backend_{"b0", [this](BackendConn& c, const BackendRequest&) {
                         got_++;
                         if (peer_closes(c.fd(), 0)) {
                             closed_ = 1;
                             return;
                         }
                         // Waits for halo to close, or for the test to let it answer.
                         while (release_ == 0) {
                             if (peer_closes(c.fd(), 20)) {
                                 closed_ = 1;
                                 c.close_after();
                                 return;
                             }
                         }
                         closed_ = 0;
                         c.send(Backend::ok_response("late\n", true));
                         c.close_after();
                     }};
    Halo halo_;
};

TEST_F(ProxyClientAbortTest, OffClosesTheUpstreamWhenTheClientLeaves) {
    send_and_leave("/off/x");
    ASSERT_TRUE(wait_until([&] { return closed_ == 1; }, 10s)) << halo_.error_log();
    release_ = 1;
    ASSERT_TRUE(wait_until([&] { return access_log().find("/off/x") != std::string::npos; }));
    EXPECT_NE(access_log().find("/off/x 499 ["), std::string::npos) << access_log();
    EXPECT_NE(halo_.error_log().find("epoll_wait() reported that client prematurely closed "
                                     "connection, so upstream connection is closed too while "
                                     "reading response header from upstream, client: 127.0.0.1"),
              std::string::npos)
        << halo_.error_log();
}

TEST_F(ProxyClientAbortTest, OnLetsTheExchangeGoOn) {
    send_and_leave("/on/x");
    // A later request answered by the one worker: it has seen the client's close by now.
    ASSERT_EQ(http_get(halo_.port(0), "/barrier")->status, 204);
    ASSERT_EQ(http_get(halo_.port(0), "/barrier")->status, 204);
    release_ = 1;
    ASSERT_TRUE(wait_until([&] { return closed_ != -1; }, 10s));
    EXPECT_EQ(closed_, 0) << "halo closed the upstream connection\n" << halo_.error_log();
    ASSERT_TRUE(wait_until([&] { return access_log().find("/on/x") != std::string::npos; }))
        << halo_.error_log();
    EXPECT_NE(access_log().find("/on/x 200 [200]"), std::string::npos) << access_log();
}

}  // namespace
}  // namespace halo_test
