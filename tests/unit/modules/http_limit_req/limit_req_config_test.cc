// The http limit_req directives: the accepted forms, and every refusal with nginx's words and
// the directive's file:line (a missing, unknown or too small zone, a bad rate, burst or delay,
// an unknown parameter, `sync` of nginx Plus, duplicates, a zone name taken by another use),
// the levels and their inheritance (a level's own limit_req replacing the enclosing ones).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "support/http_unit.h"

namespace {

using ::testing::HasSubstr;

class HttpLimitReqConfigTest : public support::HttpUnitTest {
  protected:
    void SetUp() override {
        if (registry_.find("http_limit_req") == nullptr) {
            GTEST_SKIP() << "http_limit_req is not compiled in";
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

TEST_F(HttpLimitReqConfigTest, AcceptedForms) {
    core::Status s = load_http(
        " limit_req_zone $binary_remote_addr zone=perip:10m rate=10r/s;\n"
        " limit_req_zone $server_name zone=perserver:1m rate=600r/m;\n"
        " limit_req_zone $uri zone=bare:32k rate=5;\n"  // a bare number: per second (nginx)
        " limit_req zone=perserver burst=100;",
        "  limit_req zone=perip burst=5 nodelay;\n"
        "  limit_req zone=bare;\n"
        "  limit_req_status 429;\n"
        "  limit_req_log_level warn;\n"
        "  limit_req_dry_run on;\n"
        "  location / { limit_req zone=perip burst=20 delay=8; limit_req zone=perserver; }\n"
        "  location /l { limit_req_log_level info; limit_req_status 599; }");
    EXPECT_TRUE(s.is_ok()) << s.message();
    // limit_req before its zone is declared (nginx resolves it at the end); the parameters of
    // both in any order.
    s = load_http(
        " limit_req burst=3 zone=late;\n limit_req_zone $remote_addr rate=1r/s "
        "zone=late:32k;");
    EXPECT_TRUE(s.is_ok()) << s.message();
    // A key of text and variables.
    s = load_http(" limit_req_zone \"$host:$remote_addr\" zone=hk:1m rate=1r/m;",
                  "  limit_req zone=hk;");
    EXPECT_TRUE(s.is_ok()) << s.message();
}

TEST_F(HttpLimitReqConfigTest, ZoneRefusals) {
    EXPECT_EQ(http_error(" limit_req_zone $binary_remote_addr zone=a rate=1r/s;"),
              "invalid zone size \"zone=a\"" + at(2));
    EXPECT_EQ(http_error(" limit_req_zone $binary_remote_addr zone=a:lots rate=1r/s;"),
              "invalid zone size \"zone=a:lots\"" + at(2));
    EXPECT_EQ(http_error(" limit_req_zone $binary_remote_addr zone=a:1k rate=1r/s;"),
              "zone \"zone=a:1k\" is too small" + at(2));
    EXPECT_EQ(http_error(" limit_req_zone $binary_remote_addr zone=:1m rate=1r/s;"),
              "\"limit_req_zone\" must have \"zone\" parameter" + at(2));
    EXPECT_EQ(http_error(" limit_req_zone $binary_remote_addr rate=1r/s rate=2r/s;"),
              "\"limit_req_zone\" must have \"zone\" parameter" + at(2));
    EXPECT_EQ(http_error(" limit_req_zone $binary_remote_addr zone=a:1m size=1m;"),
              "invalid parameter \"size=1m\"" + at(2));
    EXPECT_THAT(http_error(" limit_req_zone $binary_remote_addr zone=a:1m;"),
                HasSubstr("invalid number of arguments in \"limit_req_zone\" directive"));
    EXPECT_EQ(http_error(" limit_req_zone $binary_remote_addr zone=a:1m rate=1r/s burst=5;"),
              "invalid number of arguments in \"limit_req_zone\" directive" + at(2));
    EXPECT_EQ(http_error(" limit_req_zone $binary_remote_addr zone=a:1m rate=1r/s sync;"),
              "the \"sync\" parameter of \"limit_req_zone\" is not supported (nginx Plus's zone "
              "synchronization)" +
                  at(2));
    EXPECT_EQ(http_error(" limit_req_zone $binary_remote_addr zone=a:1m rate=1r/s;\n"
                         " limit_req_zone $remote_addr zone=a:1m rate=2r/s;"),
              "limit_req_zone \"a\" is already bound to key \"$binary_remote_addr\"" + at(3));
    EXPECT_EQ(http_error(" limit_req_zone $no_such_variable zone=a:1m rate=1r/s;"),
              "unknown \"no_such_variable\" variable" + at(2));
    EXPECT_THAT(http_error("", "  limit_req_zone $remote_addr zone=a:1m rate=1r/s;"),
                HasSubstr("\"limit_req_zone\" directive is not allowed here"));
    // One name space with the other shared zones (nginx's "different use").
    EXPECT_EQ(http_error(" limit_req_zone $binary_remote_addr zone=a:1m rate=1r/s;\n"
                         " upstream u { zone a 64k; server 127.0.0.1:1; }"),
              "the shared memory zone \"a\" is already declared for a different use" + at(3));
}

TEST_F(HttpLimitReqConfigTest, RateRefusals) {
    for (const char* rate : {"rate=0r/s", "rate=r/s", "rate=", "rate=1r/h", "rate=-1r/s",
                             "rate=1.5r/s", "rate=10 r/s", "rate=99999999999r/s"}) {
        EXPECT_EQ(http_error(" limit_req_zone $binary_remote_addr zone=a:1m \"" +
                             std::string(rate) + "\";"),
                  "invalid rate \"" + std::string(rate) + "\"" + at(2))
            << rate;
    }
}

TEST_F(HttpLimitReqConfigTest, LimitRefusals) {
    const char* zone = " limit_req_zone $binary_remote_addr zone=a:1m rate=1r/s;";
    EXPECT_EQ(http_error(zone, "  limit_req burst=5;"),
              "\"limit_req\" must have \"zone\" parameter" + at(5));
    EXPECT_EQ(http_error(zone, "  limit_req zone=a burst=0;"),
              "invalid burst value \"burst=0\"" + at(5));
    EXPECT_EQ(http_error(zone, "  limit_req zone=a burst=x;"),
              "invalid burst value \"burst=x\"" + at(5));
    EXPECT_EQ(http_error(zone, "  limit_req zone=a delay=0;"),
              "invalid delay value \"delay=0\"" + at(5));
    EXPECT_EQ(http_error(zone, "  limit_req zone=a delay=-2;"),
              "invalid delay value \"delay=-2\"" + at(5));
    EXPECT_EQ(http_error(zone, "  limit_req zone=a fast;"), "invalid parameter \"fast\"" + at(5));
    EXPECT_THAT(http_error(zone, "  limit_req;"),
                HasSubstr("invalid number of arguments in \"limit_req\" directive"));
    EXPECT_THAT(http_error(zone, "  limit_req zone=a burst=1 nodelay delay=1;"),
                HasSubstr("invalid number of arguments in \"limit_req\" directive"));
    EXPECT_EQ(http_error(zone, "  limit_req zone=a;\n  limit_req zone=a burst=2;"),
              "\"limit_req\" directive is duplicate" + at(6));
    EXPECT_EQ(http_error(zone, "  location / { limit_req zone=nozone; }"),
              "zero size shared memory zone \"nozone\"" + at(5));
    EXPECT_EQ(http_error(zone, "  limit_req_status 399;"),
              "invalid value \"399\" in \"limit_req_status\" directive, it must be between 400 "
              "and 599" +
                  at(5));
    EXPECT_EQ(http_error(zone, "  limit_req_status 600;"),
              "invalid value \"600\" in \"limit_req_status\" directive, it must be between 400 "
              "and 599" +
                  at(5));
    EXPECT_THAT(http_error(zone, "  limit_req_log_level debug;"),
                HasSubstr("invalid value \"debug\" in \"limit_req_log_level\" directive"));
    EXPECT_THAT(http_error(zone, "  limit_req_dry_run maybe;"),
                HasSubstr("invalid value \"maybe\" in \"limit_req_dry_run\" directive"));
    EXPECT_THAT(http_error(zone, "  location / { if ($arg_x) { limit_req zone=a; } }"),
                HasSubstr("\"limit_req\" directive is not allowed here"));
    EXPECT_EQ(http_error(zone, "  limit_req_status 503;\n  limit_req_status 429;"),
              "\"limit_req_status\" directive is duplicate" + at(6));
}

TEST_F(HttpLimitReqConfigTest, AZoneOfAnotherModuleIsAnotherUse) {
    if (registry_.find("http_limit_conn") == nullptr) {
        GTEST_SKIP() << "http_limit_conn is not compiled in";
    }
    EXPECT_EQ(http_error(" limit_conn_zone $binary_remote_addr zone=a:1m;\n"
                         " limit_req_zone $binary_remote_addr zone=a:1m rate=1r/s;"),
              "the shared memory zone \"a\" is already declared for a different use" + at(3));
    EXPECT_EQ(http_error(" limit_conn_zone $binary_remote_addr zone=a:1m;", "  limit_req zone=a;"),
              "the shared memory zone \"a\" is already declared for a different use" + at(5));
}

}  // namespace
