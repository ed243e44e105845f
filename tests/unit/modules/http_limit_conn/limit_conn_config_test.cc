// The http limit_conn directives: the accepted forms, and every refusal with nginx's words and
// the directive's file:line (an unknown zone, a zone without size or too small, a bad number,
// duplicates, a zone name taken by another use, the stream block's zones apart).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "support/http_unit.h"

namespace {

using ::testing::HasSubstr;

class HttpLimitConnConfigTest : public support::HttpUnitTest {
  protected:
    void SetUp() override {
        if (registry_.find("http_limit_conn") == nullptr) {
            GTEST_SKIP() << "http_limit_conn is not compiled in";
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

TEST_F(HttpLimitConnConfigTest, AcceptedForms) {
    core::Status s = load_http(
        " limit_conn_zone $binary_remote_addr zone=perip:10m;\n"
        " limit_conn_zone $server_name zone=perserver:1m;\n"
        " limit_conn perserver 100;",
        "  limit_conn perip 2;\n"
        "  limit_conn_status 429;\n"
        "  limit_conn_log_level warn;\n"
        "  limit_conn_dry_run on;\n"
        "  location / { limit_conn perip 1; limit_conn perserver 10; }\n"
        "  location /l { limit_conn_log_level info; limit_conn_status 599; }");
    EXPECT_TRUE(s.is_ok()) << s.message();
    // limit_conn before its zone is declared (nginx resolves it at the end).
    s = load_http(" limit_conn late 1;\n limit_conn_zone $remote_addr zone=late:32k;");
    EXPECT_TRUE(s.is_ok()) << s.message();
    // A key of text and variables.
    s = load_http(" limit_conn_zone \"$host:$remote_addr\" zone=hk:1m;", "  limit_conn hk 5;");
    EXPECT_TRUE(s.is_ok()) << s.message();
}

TEST_F(HttpLimitConnConfigTest, ZoneRefusals) {
    EXPECT_EQ(http_error(" limit_conn_zone $binary_remote_addr zone=a;"),
              "invalid zone size \"zone=a\"" + at(2));
    EXPECT_EQ(http_error(" limit_conn_zone $binary_remote_addr zone=a:lots;"),
              "invalid zone size \"zone=a:lots\"" + at(2));
    EXPECT_EQ(http_error(" limit_conn_zone $binary_remote_addr zone=a:1k;"),
              "zone \"zone=a:1k\" is too small" + at(2));
    EXPECT_EQ(http_error(" limit_conn_zone $binary_remote_addr zone=:1m;"),
              "\"limit_conn_zone\" must have \"zone\" parameter" + at(2));
    EXPECT_EQ(http_error(" limit_conn_zone $binary_remote_addr size=1m;"),
              "invalid parameter \"size=1m\"" + at(2));
    EXPECT_THAT(http_error(" limit_conn_zone $binary_remote_addr;"),
                HasSubstr("invalid number of arguments in \"limit_conn_zone\" directive"));
    EXPECT_EQ(http_error(" limit_conn_zone $binary_remote_addr zone=a:1m;\n"
                         " limit_conn_zone $remote_addr zone=a:1m;"),
              "limit_conn_zone \"a\" is already bound to key \"$binary_remote_addr\"" + at(3));
    EXPECT_EQ(http_error(" limit_conn_zone $no_such_variable zone=a:1m;"),
              "unknown \"no_such_variable\" variable" + at(2));
    EXPECT_THAT(http_error("", "  limit_conn_zone $remote_addr zone=a:1m;"),
                HasSubstr("\"limit_conn_zone\" directive is not allowed here"));
    // One name space with the other shared zones (nginx's "different use").
    EXPECT_EQ(http_error(" limit_conn_zone $binary_remote_addr zone=a:1m;\n"
                         " upstream u { zone a 64k; server 127.0.0.1:1; }"),
              "the shared memory zone \"a\" is already declared for a different use" + at(3));
}

TEST_F(HttpLimitConnConfigTest, LimitRefusals) {
    const char* zone = " limit_conn_zone $binary_remote_addr zone=a:1m;";
    EXPECT_EQ(http_error(zone, "  limit_conn a 0;"), "invalid number of connections \"0\"" + at(5));
    EXPECT_EQ(http_error(zone, "  limit_conn a x;"), "invalid number of connections \"x\"" + at(5));
    EXPECT_EQ(http_error(zone, "  limit_conn a -1;"),
              "invalid number of connections \"-1\"" + at(5));
    EXPECT_EQ(http_error(zone, "  limit_conn a 65536;"),
              "connection limit must be less 65536" + at(5));
    EXPECT_EQ(http_error(zone, "  limit_conn a 1;\n  limit_conn a 2;"),
              "\"limit_conn\" directive is duplicate" + at(6));
    EXPECT_EQ(http_error(zone, "  location / { limit_conn nozone 1; }"),
              "zero size shared memory zone \"nozone\"" + at(5));
    EXPECT_EQ(http_error(zone, "  limit_conn_status 399;"),
              "invalid value \"399\" in \"limit_conn_status\" directive, it must be between 400 "
              "and 599" +
                  at(5));
    EXPECT_THAT(http_error(zone, "  limit_conn_log_level debug;"),
                HasSubstr("invalid value \"debug\" in \"limit_conn_log_level\" directive"));
    EXPECT_THAT(http_error(zone, "  limit_conn_dry_run maybe;"),
                HasSubstr("invalid value \"maybe\" in \"limit_conn_dry_run\" directive"));
    EXPECT_EQ(http_error(zone, "  limit_conn_status 503;\n  limit_conn_status 429;"),
              "\"limit_conn_status\" directive is duplicate" + at(6));
}

TEST_F(HttpLimitConnConfigTest, StreamZonesAreAnotherUse) {
    // The stream block's limit_conn zones share the name space but not the zones.
    if (registry_.find("stream_limit_conn") == nullptr) {
        GTEST_SKIP() << "stream_limit_conn is not compiled in";
    }
    EXPECT_EQ(error("http {\n limit_conn_zone $binary_remote_addr zone=a:1m;\n}\n"
                    "stream {\n limit_conn_zone $binary_remote_addr zone=a:1m;\n}\n"),
              "the shared memory zone \"a\" is already declared for a different use" + at(5));
    EXPECT_EQ(error("http {\n limit_conn_zone $binary_remote_addr zone=a:1m;\n}\n"
                    "stream {\n server {\n  listen 127.0.0.1:8081;\n  limit_conn a 1;\n"
                    "  proxy_pass 127.0.0.1:1;\n }\n}\n"),
              "zero size shared memory zone \"a\"" + at(7));
}

}  // namespace
