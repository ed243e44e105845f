// The rewrite module's `return code [text|URL]; return URL;` in server and location context.
// Config: accepts, rejects (message), per-level confs. Runtime: the responses, served in this
// process over a socketpair.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "core/cycle.h"
#include "http/http.h"
#include "support/test_modules.h"

namespace mod::http_rewrite {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

class ReturnTest : public ::testing::Test {
  protected:
    ReturnTest() : registry_(core::compiled_modules()) {}

    core::Status load(std::string_view conf) {
        cycle_.reset();
        return support::load_cycle(registry_, dir_, conf, cycle_, nullptr, {}, true);
    }
    /// `directives` inside `http { server { location / { ... } } }`.
    core::Status load_location(std::string_view directives) {
        return load("http {\n server {\n  listen 127.0.0.1:8080;\n  location / {\n   " +
                    std::string(directives) + "\n  }\n }\n}\n");
    }
    std::string error(std::string_view conf) {
        core::Status s = load(conf);
        EXPECT_FALSE(s.is_ok()) << "loaded: " << conf;
        return s.message();
    }
    std::string location_error(std::string_view directives) {
        core::Status s = load_location(directives);
        EXPECT_FALSE(s.is_ok()) << "loaded: " << directives;
        return s.message();
    }
    std::string at(int line) const {
        return " in " + dir_.file("halo.conf") + ":" + std::to_string(line);
    }
    std::string get(std::string_view path = "/", std::string_view method = "GET") {
        return support::http_exchange(*cycle_, std::string(method) + " " + std::string(path) +
                                                   " HTTP/1.1\r\nHost: a\r\n"
                                                   "Connection: close\r\n\r\n");
    }

    support::TempDir dir_;
    core::ModuleRegistry registry_;
    std::unique_ptr<core::Cycle> cycle_;
};

// ---- config: accepted forms ----

TEST_F(ReturnTest, AcceptsCodeAndText) {
    core::Status s = load_location("return 200 \"x\";");
    EXPECT_TRUE(s.is_ok()) << s.message();
}

TEST_F(ReturnTest, AcceptsCodeAlone) {
    core::Status s = load_location("return 204;");
    EXPECT_TRUE(s.is_ok()) << s.message();
}

TEST_F(ReturnTest, AcceptsRedirectWithUrl) {
    core::Status s = load_location("return 301 http://a/;");
    EXPECT_TRUE(s.is_ok()) << s.message();
}

TEST_F(ReturnTest, AcceptsBareUrl) {
    for (const char* url : {"http://a/", "https://a/x", "$scheme://$host$request_uri"}) {
        core::Status s = load_location(std::string("return ") + url + ";");
        EXPECT_TRUE(s.is_ok()) << url << ": " << s.message();
    }
}

TEST_F(ReturnTest, AcceptsServerLevel) {
    core::Status s = load("http { server { listen 127.0.0.1:8080; return 403; } }");
    EXPECT_TRUE(s.is_ok()) << s.message();
}

TEST_F(ReturnTest, AcceptsServerAndLocationTogether) {
    core::Status s = load(
        "http { server { listen 127.0.0.1:8080; return 403;\n"
        "  location / { return 200; } } }");
    EXPECT_TRUE(s.is_ok()) << s.message();
}

TEST_F(ReturnTest, AcceptsEdgeCodes) {
    EXPECT_TRUE(load_location("return 0;").is_ok());
    EXPECT_TRUE(load_location("return 999;").is_ok());
    EXPECT_TRUE(load_location("return 444;").is_ok());
}

// ---- config: rejections ----

TEST_F(ReturnTest, RejectsNonNumericCode) {
    EXPECT_EQ(location_error("return abc;"), "invalid return code \"abc\"" + at(5));
}

TEST_F(ReturnTest, RejectsCodeAboveThreeDigits) {
    EXPECT_EQ(location_error("return 1000;"), "invalid return code \"1000\"" + at(5));
    EXPECT_EQ(location_error("return 99999999999999999999;"),
              "invalid return code \"99999999999999999999\"" + at(5));
}

TEST_F(ReturnTest, RejectsUrlWithText) {
    EXPECT_EQ(location_error("return http://a/ text;"),
              "invalid return code \"http://a/\"" + at(5));
}

TEST_F(ReturnTest, RejectsNegativeCode) {
    EXPECT_EQ(location_error("return -1;"), "invalid return code \"-1\"" + at(5));
}

TEST_F(ReturnTest, SeveralReturnsTheFirstAnswers) {
    // nginx: return is a step of the script; the first one reached ends it.
    ASSERT_TRUE(load_location("return 200 first;\n   return 301 http://a/;").is_ok());
    EXPECT_THAT(get(), EndsWith("\r\n\r\nfirst"));
    ASSERT_TRUE(
        load("http { server { listen 127.0.0.1:8080;\n return 200 one;\n return 404; } }").is_ok());
    EXPECT_THAT(get(), EndsWith("\r\n\r\none"));
}

TEST_F(ReturnTest, RejectsHttpAndMainContext) {
    EXPECT_EQ(error("http {\n return 200; }"), "\"return\" directive is not allowed here" + at(2));
    EXPECT_EQ(error("return 200;"), "\"return\" directive is not allowed here" + at(1));
    EXPECT_EQ(error("events {\n return 200; }"),
              "\"return\" directive is not allowed here" + at(2));
}

TEST_F(ReturnTest, RejectsWrongArgumentCount) {
    EXPECT_EQ(location_error("return;"),
              "invalid number of arguments in \"return\" directive" + at(5));
    EXPECT_EQ(location_error("return 200 a b;"),
              "invalid number of arguments in \"return\" directive" + at(5));
}

TEST_F(ReturnTest, RejectsBlock) {
    EXPECT_EQ(location_error("return 200 { }"),
              "directive \"return\" is not terminated by \";\"" + at(5));
}

// ---- runtime ----

TEST_F(ReturnTest, TextBodyWithDefaultType) {
    ASSERT_TRUE(load_location("return 200 \"hello\";").is_ok());
    std::string out = get();
    EXPECT_THAT(out, StartsWith("HTTP/1.1 200 OK\r\n"));
    EXPECT_THAT(out, HasSubstr("\r\nContent-Type: text/plain\r\n"));
    EXPECT_THAT(out, HasSubstr("\r\nContent-Length: 5\r\n"));
    EXPECT_THAT(out, EndsWith("\r\n\r\nhello"));
}

TEST_F(ReturnTest, CodeWithoutTextHasEmptyBody) {
    ASSERT_TRUE(load_location("return 200;").is_ok());
    std::string out = get();
    EXPECT_THAT(out, StartsWith("HTTP/1.1 200 OK\r\n"));
    EXPECT_THAT(out, HasSubstr("\r\nContent-Length: 0\r\n"));
    EXPECT_THAT(out, HasSubstr("\r\nContent-Type: text/plain\r\n"));  // nginx: default_type
    ASSERT_TRUE(load_location("return 204;").is_ok());
    out = get();
    EXPECT_THAT(out, StartsWith("HTTP/1.1 204 No Content\r\n"));
    EXPECT_THAT(out, Not(HasSubstr("Content-Type")));  // nginx sends none with a 204
}

TEST_F(ReturnTest, RedirectSetsLocation) {
    ASSERT_TRUE(load_location("return 301 http://a/;").is_ok());
    std::string out = get();
    EXPECT_THAT(out, StartsWith("HTTP/1.1 301 Moved Permanently\r\n"));
    EXPECT_THAT(out, HasSubstr("\r\nLocation: http://a/\r\n"));
    EXPECT_THAT(out, HasSubstr("<title>301 Moved Permanently</title>"));
}

TEST_F(ReturnTest, BareUrlIsA302) {
    ASSERT_TRUE(load_location("return https://b/x;").is_ok());
    std::string out = get();
    EXPECT_THAT(out, StartsWith("HTTP/1.1 302 Moved Temporarily\r\n"));
    EXPECT_THAT(out, HasSubstr("\r\nLocation: https://b/x\r\n"));
}

TEST_F(ReturnTest, EveryRedirectCode) {
    for (int code : {301, 302, 303, 307, 308}) {
        ASSERT_TRUE(load_location("return " + std::to_string(code) + " /next;").is_ok());
        std::string out = get();
        EXPECT_THAT(out, StartsWith("HTTP/1.1 " + std::to_string(code) + " ")) << code;
        // absolute_redirect (on by default) completes the path with the scheme and host.
        EXPECT_THAT(out, HasSubstr("\r\nLocation: http://a:8080/next\r\n")) << code;
    }
    ASSERT_TRUE(load_location("absolute_redirect off; return 301 /next;").is_ok());
    EXPECT_THAT(get(), HasSubstr("\r\nLocation: /next\r\n"));
    ASSERT_TRUE(load("http {\n server_name_in_redirect on;\n server {\n  listen 127.0.0.1:8080;\n"
                     "  server_name main.example;\n  return 302 /x;\n }\n}\n")
                    .is_ok());
    EXPECT_THAT(get(), HasSubstr("\r\nLocation: http://main.example:8080/x\r\n"));
}

TEST_F(ReturnTest, ErrorCodeWithoutTextSendsTheDefaultPage) {
    ASSERT_TRUE(load_location("return 403;").is_ok());
    std::string out = get();
    EXPECT_THAT(out, StartsWith("HTTP/1.1 403 Forbidden\r\n"));
    EXPECT_THAT(out, HasSubstr("<title>403 Forbidden</title>"));
    EXPECT_THAT(out, HasSubstr("\r\nContent-Type: text/html\r\n"));
}

TEST_F(ReturnTest, ErrorCodeWithText) {
    ASSERT_TRUE(load_location("return 503 \"busy\";").is_ok());
    std::string out = get();
    EXPECT_THAT(out, StartsWith("HTTP/1.1 503 Service Temporarily Unavailable\r\n"));
    EXPECT_THAT(out, EndsWith("\r\n\r\nbusy"));
}

TEST_F(ReturnTest, NoContentHasNoBody) {
    ASSERT_TRUE(load_location("return 204;").is_ok());
    std::string out = get();
    EXPECT_THAT(out, StartsWith("HTTP/1.1 204 No Content\r\n"));
    EXPECT_THAT(out, EndsWith("\r\n\r\n"));
}

TEST_F(ReturnTest, UnknownCodeSaysUnknown) {
    ASSERT_TRUE(load_location("return 299 x;").is_ok());
    EXPECT_THAT(get(), StartsWith("HTTP/1.1 299 Unknown\r\n"));
}

TEST_F(ReturnTest, Code444ClosesWithoutAResponse) {
    ASSERT_TRUE(load_location("return 444;").is_ok());
    EXPECT_EQ(get(), "");
}

TEST_F(ReturnTest, ServerLevelReturnRunsBeforeLocations) {
    ASSERT_TRUE(load("http { server { listen 127.0.0.1:8080; return 200 server;\n"
                     "  location / { return 200 location; } } }")
                    .is_ok());
    EXPECT_THAT(get(), EndsWith("\r\n\r\nserver"));
}

TEST_F(ReturnTest, LocationWithoutReturnFallsThrough) {
    ASSERT_TRUE(load("http { server { listen 127.0.0.1:8080;\n"
                     "  location / { return 200 root; }\n"
                     "  location /none { } } }")
                    .is_ok());
    EXPECT_THAT(get("/"), EndsWith("\r\n\r\nroot"));
    EXPECT_THAT(get("/none"), StartsWith("HTTP/1.1 404 Not Found\r\n"));
}

TEST_F(ReturnTest, ReturnIsNotInheritedByNestedLocations) {
    // nginx: rewrite-module directives are not inherited into nested locations.
    ASSERT_TRUE(load("http { server { listen 127.0.0.1:8080;\n"
                     "  location /a { return 200 outer;\n"
                     "    location /a/b { } } } }")
                    .is_ok());
    EXPECT_THAT(get("/a"), EndsWith("\r\n\r\nouter"));
    EXPECT_THAT(get("/a/b"), StartsWith("HTTP/1.1 404 "));
}

TEST_F(ReturnTest, HeadRequestGetsNoBody) {
    ASSERT_TRUE(load_location("return 200 \"hello\";").is_ok());
    std::string out = get("/", "HEAD");
    EXPECT_THAT(out, HasSubstr("\r\nContent-Length: 5\r\n"));
    EXPECT_THAT(out, EndsWith("\r\n\r\n"));
}

}  // namespace
}  // namespace mod::http_rewrite
