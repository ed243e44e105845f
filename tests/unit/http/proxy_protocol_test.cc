// The PROXY protocol header parser (HAProxy's spec, v1 text and v2 binary): complete, partial
// and broken headers.
#include "http/proxy_protocol.h"

#include <gtest/gtest.h>

#include <string>

namespace http {
namespace {

ProxyParse parse(std::string_view in, ProxyHeader& h, size_t& used) {
    used = 0;
    return parse_proxy_header(in, h, used);
}

TEST(ProxyProtocolParseTest, V1) {
    ProxyHeader h;
    size_t used = 0;
    std::string line = "PROXY TCP4 192.0.2.7 198.51.100.9 40000 443\r\nGET / HTTP/1.1\r\n";
    ASSERT_EQ(parse(line, h, used), ProxyParse::kDone);
    EXPECT_EQ(used, line.find("GET"));
    EXPECT_TRUE(h.has_addrs);
    EXPECT_EQ(h.src.text(), "192.0.2.7:40000");
    EXPECT_EQ(h.dst.text(), "198.51.100.9:443");
    ASSERT_EQ(parse("PROXY TCP6 2001:db8::1 ::1 1 2\r\n", h, used), ProxyParse::kDone);
    EXPECT_EQ(h.src.text(), "[2001:db8::1]:1");
    ASSERT_EQ(parse("PROXY UNKNOWN ffff::1 ::1 1 2\r\n", h, used), ProxyParse::kDone);
    EXPECT_FALSE(h.has_addrs);
}

TEST(ProxyProtocolParseTest, V1PartialAndBroken) {
    ProxyHeader h;
    size_t used = 0;
    EXPECT_EQ(parse("PRO", h, used), ProxyParse::kIncomplete);
    EXPECT_EQ(parse("PROXY TCP4 192.0.2.7", h, used), ProxyParse::kIncomplete);
    EXPECT_EQ(parse("GET / HTTP/1.1\r\n", h, used), ProxyParse::kBad);
    EXPECT_EQ(parse("PROXY TCP4 192.0.2.7 ::1 1 2\r\n", h, used), ProxyParse::kBad);
    EXPECT_EQ(parse("PROXY TCP4 192.0.2.7 192.0.2.8 1 70000\r\n", h, used), ProxyParse::kBad);
    EXPECT_EQ(parse("PROXY TCP4 192.0.2.7 192.0.2.8 1 2 3\r\n", h, used), ProxyParse::kBad);
    EXPECT_EQ(parse("PROXY UDP4 192.0.2.7 192.0.2.8 1 2\r\n", h, used), ProxyParse::kBad);
    EXPECT_EQ(parse("PROXY TCP4 " + std::string(120, '1'), h, used), ProxyParse::kBad);
}

TEST(ProxyProtocolParseTest, V2) {
    const std::string sig("\r\n\r\n\0\r\nQUIT\n", 12);
    std::string v4 = sig + std::string("\x21\x11\x00\x0c", 4) +
                     std::string("\xc0\x00\x02\x07\xc6\x33\x64\x09\x9c\x40\x01\xbb", 12);
    ProxyHeader h;
    size_t used = 0;
    ASSERT_EQ(parse(v4 + "GET", h, used), ProxyParse::kDone);
    EXPECT_EQ(used, v4.size());
    EXPECT_EQ(h.src.text(), "192.0.2.7:40000");
    EXPECT_EQ(h.dst.text(), "198.51.100.9:443");
    EXPECT_EQ(parse(v4.substr(0, 20), h, used), ProxyParse::kIncomplete);
    EXPECT_EQ(parse(sig.substr(0, 5), h, used), ProxyParse::kIncomplete);
    // LOCAL: no addresses.
    ASSERT_EQ(parse(sig + std::string("\x20\x00\x00\x00", 4), h, used), ProxyParse::kDone);
    EXPECT_FALSE(h.has_addrs);
    EXPECT_EQ(used, 16u);
    // Version 1 in the v2 framing, and a too short address block, are broken.
    EXPECT_EQ(parse(sig + std::string("\x11\x11\x00\x00", 4), h, used), ProxyParse::kBad);
    EXPECT_EQ(parse(sig + std::string("\x21\x11\x00\x02xx", 6), h, used), ProxyParse::kBad);
}

}  // namespace
}  // namespace http
