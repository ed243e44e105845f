// The http geo directive: accepted forms, the address from a variable (`geo $arg_ip $g`), an
// included file of networks, `proxy` with X-Forwarded-For, `volatile`, and the rejections
// with nginx's wording and file:line, served in this process over a socketpair (whose peer
// has no address: nginx's unix-socket case, looked up as 255.255.255.255).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "support/http_unit.h"

namespace mod::http_geo {
namespace {

using ::testing::HasSubstr;

class GeoConfigTest : public support::HttpUnitTest {
  protected:
    /// `block` at http level (from line 2), then a server whose location / has `loc`.
    core::Status load_geo(std::string_view block, std::string_view loc) {
        return load("http {\n" + std::string(block) +
                    "\n server { listen 127.0.0.1:8080;\n  location / { " + std::string(loc) +
                    " } }\n}\n");
    }
    void serve_geo(std::string_view block, std::string_view loc) {
        core::Status s = load_geo(block, loc);
        ASSERT_TRUE(s.is_ok()) << s.message();
    }
    std::string geo_error(std::string_view block) {
        core::Status s = load_geo(block, "return 200;");
        EXPECT_FALSE(s.is_ok()) << "loaded: " << block;
        return s.message();
    }
};

TEST_F(GeoConfigTest, AddressFromAVariable) {
    serve_geo(
        "geo $arg_ip $g {\n default none;\n 10.0.0.0/8 ten;\n 10.1.0.0/16 ten-one;\n"
        " 2001:db8::/32 doc;\n}",
        "return 200 \"[$g]\";");
    EXPECT_EQ(body("/?ip=10.2.3.4"), "[ten]");
    EXPECT_EQ(body("/?ip=10.1.3.4"), "[ten-one]");
    EXPECT_EQ(body("/?ip=2001:db8::7"), "[doc]");
    EXPECT_EQ(body("/?ip=192.0.2.1"), "[none]");
    EXPECT_EQ(body("/?ip=junk"), "[none]");  // not an address: 255.255.255.255
    EXPECT_EQ(body("/"), "[none]");
}

TEST_F(GeoConfigTest, ThePeerOfASocketpairIsNoAddress) {
    serve_geo("geo $g {\n default d;\n 255.255.255.255/32 none;\n}", "return 200 $g;");
    EXPECT_EQ(body("/"), "none");
}

TEST_F(GeoConfigTest, RangesAndInclude) {
    dir_.write("nets.geo", "10.0.0.1-10.0.0.9 low;\n10.0.0.10-10.0.0.20 high;\n");
    serve_geo(
        "geo $arg_ip $g {\n ranges;\n default out;\n include " + dir_.file("nets.geo") + ";\n}",
        "return 200 $g;");
    EXPECT_EQ(body("/?ip=10.0.0.1"), "low");
    EXPECT_EQ(body("/?ip=10.0.0.15"), "high");
    EXPECT_EQ(body("/?ip=10.0.0.21"), "out");
}

TEST_F(GeoConfigTest, AGlobIncludeAndProxyBeforeRanges) {
    dir_.write("geo.d/a.geo", "10.0.0.0/8 ten;\n");
    dir_.write("geo.d/b.geo", "10.1.0.0/16 ten-one;\n");
    serve_geo("geo $arg_ip $g {\n default none;\n include " + dir_.file("geo.d") +
                  "/*.geo;\n}\n"
                  "geo $arg_ip $r {\n proxy 127.0.0.1;\n volatile;\n ranges;\n"
                  " 10.0.0.1-10.0.0.1 one;\n}",
              "return 200 \"$g $r\";");
    EXPECT_EQ(body("/?ip=10.2.0.1"), "ten ");
    EXPECT_EQ(body("/?ip=10.1.0.1"), "ten-one ");
    EXPECT_EQ(body("/?ip=10.0.0.1"), "ten one");
}

TEST_F(GeoConfigTest, ErrorsInAnIncludedFileNameIt) {
    dir_.write("bad.geo", "10.0.0.0/8 a;\n10.0.0.0/99 b;\n");
    EXPECT_EQ(geo_error("geo $g {\n include " + dir_.file("bad.geo") + ";\n}"),
              "invalid network \"10.0.0.0/99\" in " + dir_.file("bad.geo") + ":2");
}

TEST_F(GeoConfigTest, ProxyTakesTheForwardedAddress) {
    // The socketpair's peer is no address, so the source is $arg_peer here.
    serve_geo(
        "geo $arg_peer $g {\n default none;\n proxy 127.0.0.0/8;\n"
        " 192.0.2.0/24 doc;\n 127.0.0.0/8 lo;\n}",
        "return 200 $g;");
    EXPECT_EQ(body("/?peer=127.0.0.1", "X-Forwarded-For: 192.0.2.5\r\n"), "doc");
    EXPECT_EQ(body("/?peer=127.0.0.1", "X-Forwarded-For: 192.0.2.5, 127.0.0.3\r\n"), "lo");
    EXPECT_EQ(body("/?peer=127.0.0.1"), "lo");
    EXPECT_EQ(body("/?peer=198.51.100.1", "X-Forwarded-For: 192.0.2.5\r\n"), "none");
    serve_geo(
        "geo $arg_peer $g {\n default none;\n proxy 127.0.0.0/8;\n proxy_recursive;\n"
        " 192.0.2.0/24 doc;\n 127.0.0.0/8 lo;\n}",
        "return 200 $g;");
    EXPECT_EQ(body("/?peer=127.0.0.1", "X-Forwarded-For: 192.0.2.5, 127.0.0.3\r\n"), "doc");
    EXPECT_EQ(
        body("/?peer=127.0.0.1", "X-Forwarded-For: 192.0.2.5\r\nX-Forwarded-For: 127.0.0.3\r\n"),
        "doc");
}

TEST_F(GeoConfigTest, Rejections) {
    EXPECT_EQ(geo_error("geo g {\n}"), "invalid variable name \"g\"" + at(2));
    EXPECT_EQ(geo_error("geo $a g {\n}"), "invalid variable name \"g\"" + at(2));
    EXPECT_EQ(geo_error("geo $g {\n 10.0.0.0/33 a;\n}"), "invalid network \"10.0.0.0/33\"" + at(3));
    EXPECT_EQ(geo_error("geo $g {\n default a;\n ranges;\n}"),
              "the \"ranges\" directive must be the first directive inside \"geo\" block" + at(4));
    EXPECT_EQ(geo_error("geo $g {\n ranges;\n 10.0.0.1-10.0.0.9 a;\n 10.0.0.9-10.0.0.12 b;\n}"),
              "range \"10.0.0.9-10.0.0.12\" overlaps \"10.0.0.1-10.0.0.9\"" + at(5));
    EXPECT_EQ(geo_error("geo $g {\n}\ngeo $g {\n}"), "the duplicate \"g\" variable" + at(4));
    EXPECT_THAT(geo_error("geo $remote_addr {\n}"), HasSubstr("the duplicate \"remote_addr\""));
    EXPECT_THAT(geo_error("geo $a $b $c {\n}"), HasSubstr("invalid number of arguments"));
    EXPECT_THAT(geo_error("geo $g;"), HasSubstr("\"geo\""));
}

TEST_F(GeoConfigTest, ValuesArePlainStrings) {
    serve_geo("geo $g {\n default $uri;\n}", "return 200 $g;");  // nginx: no variables
    EXPECT_EQ(body("/x"), "$uri");
}

}  // namespace
}  // namespace mod::http_geo
