// auth_delay: a 401 from the access phase (auth_basic, under satisfy all or any) is answered
// only after the delay, with nginx's info line "delaying unauthorized request"; a 403 is not
// delayed; a client that leaves meanwhile is logged 499. The same config runs in Debian's nginx
// and the statuses, challenges and log lines are compared. No upper time bound is asserted:
// only that the 401 did not come before the delay (a loaded machine cannot make it early).
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "support/harness.h"
#include "support/nginx.h"

namespace halo_test {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kHttp = R"(
http {
    access_log logs/access.log;
    server {
        listen 127.0.0.1:%%PORT%%;
        root %%DIR%%/www;
        location /d {
            auth_delay 2s;
            auth_basic "realm";
            auth_basic_user_file %%DIR%%/htpasswd;
        }
        location /any {
            auth_delay 2s;
            satisfy any;
            deny all;
            auth_basic "realm";
            auth_basic_user_file %%DIR%%/htpasswd;
        }
        location /forbidden {
            auth_delay 2s;
            deny all;
        }
        location /none {
            auth_basic "realm";
            auth_basic_user_file %%DIR%%/htpasswd;
        }
    }
}
)";

// "user:pass" in base64.
constexpr std::string_view kGood = "Authorization: Basic dXNlcjpwYXNz\r\n";

class AuthDelayTest : public ::testing::Test {
  protected:
    void SetUp() override {
        halo_.write("htpasswd", "user:{PLAIN}pass\n");
        for (const char* f : {"www/d", "www/any", "www/forbidden", "www/none"}) {
            halo_.write(f, "in\n");
        }
        halo_port_ = halo_.port(0);
        nginx_port_ = free_port();
        std::string http = replace_all(std::string(kHttp), "%%DIR%%", halo_.path("."));
        halo_.write_conf("daemon off;\nerror_log logs/error.log info;\nevents {}\n" +
                         replace_all(http, "%%PORT%%", std::to_string(halo_port_)));
        ASSERT_TRUE(halo_.start());
        ASSERT_TRUE(nginx_.start("error_log logs/error.log info;\nevents {}\n" +
                                     replace_all(http, "%%PORT%%", std::to_string(nginx_port_)),
                                 nginx_port_));
    }

    /// Status and challenge of one request, and whether it came before `early` had passed.
    struct Outcome {
        int status = 0;
        std::string challenge;
        bool early = false;
    };
    static Outcome ask(uint16_t port, const std::string& path, std::string_view extra,
                       std::chrono::milliseconds early) {
        Outcome o;
        HttpConnection c;
        if (!c.connect(port)) {
            return o;
        }
        c.send("GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" +
               std::string(extra) + "\r\n");
        auto start = std::chrono::steady_clock::now();
        auto r = c.read_response(20s);
        if (!r) {
            return o;
        }
        o.early = std::chrono::steady_clock::now() - start < early;
        o.status = r->status;
        o.challenge = r->header("WWW-Authenticate");
        return o;
    }

    static size_t count(const std::string& text, std::string_view what) {
        size_t n = 0;
        for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
            n++;
        }
        return n;
    }

    Halo halo_;
    Nginx nginx_;
    uint16_t halo_port_ = 0;
    uint16_t nginx_port_ = 0;
};

TEST_F(AuthDelayTest, UnauthorizedIsAnsweredAfterTheDelayAsNginx) {
    for (uint16_t port : {halo_port_, nginx_port_}) {
        SCOPED_TRACE(port == halo_port_ ? "halo" : "nginx");
        Outcome in = ask(port, "/d", kGood, 1500ms);
        EXPECT_EQ(in.status, 200);
        Outcome no = ask(port, "/d", "", 1500ms);
        EXPECT_EQ(no.status, 401);
        EXPECT_EQ(no.challenge, "Basic realm=\"realm\"");
        EXPECT_FALSE(no.early) << "the 401 came before auth_delay (2s) had passed";
        Outcome any = ask(port, "/any", "", 1500ms);
        EXPECT_EQ(any.status, 401);
        EXPECT_FALSE(any.early);
        EXPECT_EQ(ask(port, "/forbidden", "", 0ms).status, 403);
        EXPECT_EQ(ask(port, "/none", "", 0ms).status, 401);
    }
    // Two delayed answers each, the same line in both logs.
    EXPECT_EQ(count(halo_.error_log(), "delaying unauthorized request"), 2u) << halo_.error_log();
    EXPECT_EQ(count(nginx_.error_log(), "delaying unauthorized request"), 2u) << nginx_.error_log();
}

TEST_F(AuthDelayTest, AClientLeavingDuringTheDelayIsLogged499) {
    for (uint16_t port : {halo_port_, nginx_port_}) {
        HttpConnection c;
        ASSERT_TRUE(c.connect(port));
        c.send("GET /d HTTP/1.1\r\nHost: localhost\r\n\r\n");
        std::this_thread::sleep_for(300ms);
        c.close();
    }
    std::string halo_access;
    std::string nginx_access;
    ASSERT_TRUE(wait_until(
        [&] {
            halo_access = read_file(halo_.path("logs/access.log")).value_or("");
            nginx_access = read_file(nginx_.path("logs/access.log")).value_or("");
            return count(halo_access, "\" 499 ") == 1 && count(nginx_access, "\" 499 ") == 1;
        },
        10s))
        << "halo:\n"
        << halo_access << "\nnginx:\n"
        << nginx_access;
    EXPECT_EQ(count(halo_.error_log(), "client prematurely closed connection"), 1u)
        << halo_.error_log();
    EXPECT_EQ(count(nginx_.error_log(), "client prematurely closed connection"), 1u)
        << nginx_.error_log();
}

}  // namespace
}  // namespace halo_test
