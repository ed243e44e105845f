// Which error responses end a kept-alive connection: nginx closes it after 400, 413, 414, 495,
// 496, 497, 500 and 501 (also when error_page answers them), and keeps it after the other
// statuses. halo and Debian's nginx run the same config and get the same requests.
#include <gtest/gtest.h>

#include <string>

#include "support/harness.h"
#include "support/nginx.h"

namespace halo_test {
namespace {

constexpr std::string_view kHttp = R"(
http {
    access_log off;
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /e500 { return 500; }
        location = /e501 { return 501; }
        location = /e404 { return 404; }
        location = /e503 { return 503; }
        location = /e500text { return 500 "text\n"; }
        location = /e500page { error_page 500 /ok; return 500; }
        location = /e404page { error_page 404 /ok; return 404; }
        location = /ok { return 200 "ok\n"; }
    }
}
)";

class ErrorCloseTest : public ::testing::Test {
  protected:
    void SetUp() override {
        halo_port_ = halo_.port(0);
        nginx_port_ = free_port();
        halo_.write_conf("daemon off;\nerror_log logs/error.log;\nevents {}\n" +
                         replace_all(std::string(kHttp), "%%PORT%%", std::to_string(halo_port_)));
        ASSERT_TRUE(halo_.start());
        ASSERT_TRUE(nginx_.start(
            "error_log logs/error.log;\nevents {}\n" +
                replace_all(std::string(kHttp), "%%PORT%%", std::to_string(nginx_port_)),
            nginx_port_));
    }

    /// One kept-alive request: its status, and whether the server closed the connection after
    /// it ("closed" or "open").
    static std::string outcome(uint16_t port, const std::string& path) {
        HttpConnection c;
        if (!c.connect(port)) {
            return "connect failed";
        }
        c.send(get_request(path, "localhost", /*keepalive=*/true));
        auto r = c.read_response();
        if (!r) {
            return "no response: " + c.error();
        }
        bool closed = c.wait_closed(std::chrono::milliseconds(1500));
        return std::to_string(r->status) + (closed ? " closed" : " open");
    }

    Halo halo_;
    Nginx nginx_;
    uint16_t halo_port_ = 0;
    uint16_t nginx_port_ = 0;
};

TEST_F(ErrorCloseTest, ConnectionAfterErrorsAsNginx) {
    for (const char* path :
         {"/e500", "/e501", "/e404", "/e503", "/e500text", "/e500page", "/e404page"}) {
        SCOPED_TRACE(path);
        std::string n = outcome(nginx_port_, path);
        EXPECT_EQ(outcome(halo_port_, path), n);
    }
    // The expectations themselves, so that the test says what nginx does.
    EXPECT_EQ(outcome(halo_port_, "/e500"), "500 closed");
    EXPECT_EQ(outcome(halo_port_, "/e500page"), "500 closed");  // error_page keeps the status
    EXPECT_EQ(outcome(halo_port_, "/e404"), "404 open");
}

}  // namespace
}  // namespace halo_test
