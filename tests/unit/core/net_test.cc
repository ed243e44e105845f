// core::SockAddr: nginx's listen address forms.
#include "core/net.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace core {
namespace {

std::string text(std::string_view in, uint16_t def = 80) {
    auto a = SockAddr::parse(in, def);
    return a ? a->text() : "<none>";
}

TEST(SockAddrTest, Forms) {
    EXPECT_EQ(text("127.0.0.1:8080"), "127.0.0.1:8080");
    EXPECT_EQ(text("8080"), "0.0.0.0:8080");
    EXPECT_EQ(text("*:8080"), "0.0.0.0:8080");
    EXPECT_EQ(text(":8080"), "0.0.0.0:8080");
    EXPECT_EQ(text("*"), "0.0.0.0:80");
    EXPECT_EQ(text("10.1.2.3"), "10.1.2.3:80");
    EXPECT_EQ(text("10.1.2.3", 443), "10.1.2.3:443");
    EXPECT_EQ(text("[::1]:8080"), "[::1]:8080");
    EXPECT_EQ(text("[::]:1"), "[::]:1");
    EXPECT_EQ(text("1.2.3.4:65535"), "1.2.3.4:65535");
}

// nginx: `listen [::1];` is port 80, as `listen 127.0.0.1;` is.
TEST(SockAddrTest, BracketedIpv6WithoutPortTakesTheDefaultPort) {
    EXPECT_EQ(text("[::1]"), "[::1]:80");
    EXPECT_EQ(text("[::]", 8000), "[::]:8000");
}

TEST(SockAddrTest, Rejects) {
    for (const char* bad :
         {"localhost:80", "1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4:", "1.2.3.4:x", "::1", "[::1",
          "[::1]x", "[]:80", "[::1]:", "0", "99999", "1.2.3:80", "a b"}) {
        EXPECT_FALSE(SockAddr::parse(bad, 80).has_value()) << bad;
    }
}

TEST(SockAddrTest, AccessorsAndEquality) {
    auto a = SockAddr::parse("127.0.0.1:8080", 80);
    auto b = SockAddr::parse("127.0.0.1:8080", 80);
    auto c = SockAddr::parse("127.0.0.1:8081", 80);
    auto d = SockAddr::parse("[::1]:8080", 80);
    ASSERT_TRUE(a && b && c && d);
    EXPECT_EQ(a->family(), AF_INET);
    EXPECT_EQ(a->port(), 8080);
    EXPECT_EQ(a->host_text(), "127.0.0.1");
    EXPECT_EQ(a->len, sizeof(sockaddr_in));
    EXPECT_TRUE(*a == *b);
    EXPECT_FALSE(*a == *c);
    EXPECT_FALSE(*a == *d);
    EXPECT_EQ(d->family(), AF_INET6);
    EXPECT_EQ(d->port(), 8080);
    EXPECT_EQ(d->host_text(), "::1");
    EXPECT_TRUE(*SockAddr::parse("*:80", 80) == *SockAddr::parse("0.0.0.0:80", 80));
}

TEST(SockAddrTest, EmptyAddress) {
    SockAddr none;
    EXPECT_EQ(none.host_text(), "");
    EXPECT_EQ(none.len, 0u);
}

}  // namespace
}  // namespace core
