// The auth_request directives: the accepted forms (`off`, nested levels, auth_request_set with
// variables), and the refusals with nginx's words and the directive's file:line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "support/http_unit.h"

namespace {

using ::testing::HasSubstr;

class HttpAuthRequestConfigTest : public support::HttpUnitTest {
  protected:
    void SetUp() override {
        if (registry_.find("http_auth_request") == nullptr) {
            GTEST_SKIP() << "http_auth_request is not compiled in";
        }
    }
    /// `http_lines` at the http level (from line 2), then a server with `server_lines`.
    core::Status load_http(std::string_view http_lines, std::string_view server_lines = {}) {
        return load("http {\n" + std::string(http_lines) +
                    "\n server {\n  listen 127.0.0.1:8080;\n" + std::string(server_lines) +
                    "\n }\n}\n");
    }
    std::string http_error(std::string_view http_lines, std::string_view server_lines = {}) {
        core::Status s = load_http(http_lines, server_lines);
        EXPECT_FALSE(s.is_ok()) << "loaded: " << http_lines << " / " << server_lines;
        return s.message();
    }
};

TEST_F(HttpAuthRequestConfigTest, AcceptedForms) {
    core::Status s = load_http(
        " auth_request /auth;\n"
        " auth_request_set $user $upstream_http_x_user;",
        "  auth_request_set $status_seen \"$upstream_status:$user\";\n"
        "  location / { auth_request /other; }\n"
        "  location /open { auth_request off; }\n"
        "  location = /auth { internal; return 204; }");
    EXPECT_TRUE(s.is_ok()) << s.message();
    // The variable may be read elsewhere before any auth_request sets it.
    s = load_http(" add_header X-User $who;", "  auth_request_set $who $remote_addr;");
    EXPECT_TRUE(s.is_ok()) << s.message();
}

TEST_F(HttpAuthRequestConfigTest, Refusals) {
    EXPECT_EQ(http_error(" auth_request /a;\n auth_request /b;"),
              "\"auth_request\" directive is duplicate" + at(3));
    EXPECT_EQ(http_error(" auth_request_set user $remote_addr;"),
              "invalid variable name \"user\"" + at(2));
    EXPECT_EQ(http_error(" auth_request_set $u $no_such_variable;"),
              "unknown \"no_such_variable\" variable" + at(2));
    EXPECT_THAT(http_error(" auth_request;"),
                HasSubstr("invalid number of arguments in \"auth_request\" directive"));
    EXPECT_THAT(http_error(" auth_request_set $u;"),
                HasSubstr("invalid number of arguments in \"auth_request_set\" directive"));
    // A built-in variable that cannot be changed (nginx's "duplicate" variable).
    EXPECT_THAT(http_error(" auth_request_set $remote_addr x;"),
                HasSubstr("the duplicate \"remote_addr\" variable"));
}

}  // namespace
