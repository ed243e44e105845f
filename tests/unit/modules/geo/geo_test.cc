// The geo layer without the config system: nginx's CIDR and address parsing, the longest
// prefix (the flattened table against a walk of the trie on random prefixes), ranges with
// nginx's split, duplicate, overlap and delete rules, whole blocks read by build() (errors
// with file:line), and the X-Forwarded-For walk of `proxy` / `proxy_recursive`.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "core/conf_file.h"
#include "modules/geo/geo.h"

namespace geo {
namespace {

core::SockAddr addr(std::string_view text) {
    auto a = parse_addr(text);
    EXPECT_TRUE(a.has_value()) << text;
    return a.value_or(core::SockAddr{});
}

// ---- parsing ----

TEST(GeoParseTest, Ipv4AsNginxReadsIt) {
    EXPECT_EQ(parse_ipv4("10.1.2.3"), 0x0a010203u);
    EXPECT_EQ(parse_ipv4("0.0.0.0"), 0u);
    EXPECT_EQ(parse_ipv4("255.255.255.255"), 0xffffffffu);
    EXPECT_EQ(parse_ipv4("010.001.2.3"), 0x0a010203u);  // leading zeros are decimal
    EXPECT_EQ(parse_ipv4("0000010.1.2.3"), 0x0a010203u);
    for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", "a.b.c.d", "1..2.3",
                            "1.2.3.", "1.2.3.1000", "::1"}) {
        EXPECT_FALSE(parse_ipv4(bad)) << bad;
    }
}

TEST(GeoParseTest, Networks) {
    Net n;
    ASSERT_EQ(parse_net("10.0.0.0/8", n), NetParse::kOk);
    EXPECT_EQ(n.family, AF_INET);
    EXPECT_EQ(n.v4, 0x0a000000u);
    EXPECT_EQ(n.bits, 8);
    ASSERT_EQ(parse_net("10.1.2.3", n), NetParse::kOk);
    EXPECT_EQ(n.bits, 32);
    ASSERT_EQ(parse_net("0.0.0.0/0", n), NetParse::kOk);
    EXPECT_EQ(n.bits, 0);
    ASSERT_EQ(parse_net("255.255.255.255", n), NetParse::kOk);
    EXPECT_EQ(n.v4, 0xffffffffu);
    // Host bits are cleared, with nginx's warning.
    ASSERT_EQ(parse_net("10.1.2.3/8", n), NetParse::kLowBits);
    EXPECT_EQ(n.v4, 0x0a000000u);
    ASSERT_EQ(parse_net("2001:db8::1/32", n), NetParse::kLowBits);
    EXPECT_EQ(n.family, AF_INET6);
    EXPECT_EQ(n.bits, 32);
    EXPECT_EQ(n.v6, Key6{0x20010db8} << 96);
    ASSERT_EQ(parse_net("::1", n), NetParse::kOk);
    EXPECT_EQ(n.bits, 128);
    EXPECT_EQ(n.v6, Key6{1});
    ASSERT_EQ(parse_net("::/0", n), NetParse::kOk);
    for (const char* bad : {"10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "10.0.0.0/-1",
                            "example.com", "10.0.0.0/8/8", "", "1.2.3.4-1.2.3.5"}) {
        EXPECT_EQ(parse_net(bad, n), NetParse::kInvalid) << bad;
    }
}

TEST(GeoParseTest, AddressesWithAndWithoutPort) {
    EXPECT_EQ(addr("192.0.2.1").host_text(), "192.0.2.1");
    EXPECT_EQ(addr("2001:db8::5").host_text(), "2001:db8::5");
    auto a = parse_addr_port("192.0.2.1:8080");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->host_text(), "192.0.2.1");
    EXPECT_EQ(a->port(), 8080);
    a = parse_addr_port("[2001:db8::5]:443");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->host_text(), "2001:db8::5");
    EXPECT_EQ(a->port(), 443);
    for (const char* bad :
         {"192.0.2.1:0", "192.0.2.1:65536", "[::1]", "[::1]:", "host:80", "unknown", ""}) {
        EXPECT_FALSE(parse_addr_port(bad)) << bad;
    }
    EXPECT_FALSE(parse_addr("192.0.2.1:80"));
}

TEST(GeoParseTest, MappedAddressesAreIpv4) {
    EXPECT_EQ(ipv4_of(addr("::ffff:10.1.2.3")), 0x0a010203u);
    EXPECT_EQ(ipv4_of(addr("10.1.2.3")), 0x0a010203u);
    EXPECT_FALSE(ipv4_of(addr("2001:db8::1")));
}

// ---- the longest prefix ----

TEST(GeoPrefixTest, LongestPrefixWins) {
    auto make = [](PrefixTable<uint32_t>& t) {
        constexpr uint32_t kNone = PrefixTable<uint32_t>::kNone;
        EXPECT_EQ(t.insert(0x0a000000, 8, 1), kNone);
        EXPECT_EQ(t.insert(0x0a010000, 16, 2), kNone);
        EXPECT_EQ(t.insert(0x0a010203, 32, 3), kNone);
        EXPECT_EQ(t.insert(0x0a010000, 16, 4), 2u);  // a duplicate gives the old value back
    };
    PrefixTable<uint32_t> t;
    make(t);
    t.compile(0);
    EXPECT_EQ(t.find(0x0a010203), 3u);
    EXPECT_EQ(t.find(0x0a010204), 4u);
    EXPECT_EQ(t.find(0x0a020000), 1u);
    EXPECT_EQ(t.find(0x0b000000), 0u);
    EXPECT_EQ(t.find(0x09ffffff), 0u);
    EXPECT_EQ(t.find(0xffffffff), 0u);
    EXPECT_EQ(t.find(0), 0u);

    PrefixTable<uint32_t> d;
    make(d);
    EXPECT_TRUE(d.remove(0x0a010000, 16));
    EXPECT_FALSE(d.remove(0x0a010000, 16));  // gone already
    EXPECT_FALSE(d.remove(0x0a010000, 17));  // never there
    d.compile(7);
    EXPECT_EQ(d.find(0x0a010204), 1u);
    EXPECT_EQ(d.find(0x0a010203), 3u);
    EXPECT_EQ(d.find(0x0b000000), 7u);
}

TEST(GeoPrefixTest, HostRoutesAtBothEnds) {
    PrefixTable<uint32_t> t;
    t.insert(0, 32, 1);
    t.insert(0xffffffff, 32, 2);
    t.insert(0, 0, 3);
    t.compile(0);
    EXPECT_EQ(t.find(0), 1u);
    EXPECT_EQ(t.find(1), 3u);
    EXPECT_EQ(t.find(0xfffffffe), 3u);
    EXPECT_EQ(t.find(0xffffffff), 2u);
}

template <class Key>
void check_random_prefixes(std::mt19937_64& rng) {
    constexpr int kWidth = sizeof(Key) * 8;
    PrefixTable<Key> t;
    std::vector<Key> probes;
    auto random_key = [&] {
        Key k = static_cast<Key>(rng());
        if constexpr (sizeof(Key) > 8) {
            k = (k << 64) | static_cast<Key>(rng());
        }
        // Cluster the keys so that prefixes nest: a few top bits only.
        return static_cast<Key>(k & (~Key(0) >> 4));
    };
    for (uint32_t v = 1; v <= 2000; v++) {
        Key k = random_key();
        int bits = static_cast<int>(rng() % (kWidth + 1));
        Key mask = bits == 0 ? Key(0) : static_cast<Key>(~Key(0) << (kWidth - bits));
        t.insert(static_cast<Key>(k & mask), bits, v);
        probes.push_back(k);
        if (v % 7 == 0) {
            t.remove(static_cast<Key>(k & mask), bits);
        }
    }
    for (int i = 0; i < 2000; i++) {
        probes.push_back(random_key());
    }
    std::vector<std::pair<Key, uint32_t>> want;  // by the trie, before compile() frees it
    for (Key p : probes) {
        for (Key k : {p, static_cast<Key>(p + 1), static_cast<Key>(p - 1)}) {
            want.emplace_back(k, t.find_slow(k));
        }
    }
    t.compile(PrefixTable<Key>::kNone);
    for (const auto& [k, v] : want) {
        ASSERT_EQ(t.find(k), v);
    }
}

TEST(GeoPrefixTest, FlattenedTableAgreesWithTheTrie) {
    std::mt19937_64 rng(20);
    check_random_prefixes<uint32_t>(rng);
    check_random_prefixes<Key6>(rng);
}

// ---- ranges ----

TEST(GeoRangeTest, SplitDuplicateOverlapDelete) {
    RangeTable t;
    using Added = RangeTable::Added;
    EXPECT_EQ(t.add(0x0a000000, 0x0a0000ff, 1).what, Added::kOk);  // 10.0.0.0-10.0.0.255
    EXPECT_EQ(t.add(0x0a000010, 0x0a00001f, 2).what, Added::kOk);  // inside: splits it
    EXPECT_EQ(t.add(0x0a000000, 0x0a000005, 3).what, Added::kOk);  // same start
    EXPECT_EQ(t.add(0x0a0000f0, 0x0a0000ff, 4).what, Added::kOk);  // same end
    auto dup = t.add(0x0a000010, 0x0a00001f, 5);
    EXPECT_EQ(dup.what, Added::kDuplicate);
    EXPECT_EQ(dup.replaced, std::vector<uint32_t>{2u});
    auto over = t.add(0x0a00000f, 0x0a000011, 6);  // across a boundary
    EXPECT_EQ(over.what, Added::kOverlap);
    EXPECT_EQ(over.first, 0x0a000010u);
    EXPECT_EQ(over.last, 0x0a00001fu);
    EXPECT_EQ(t.add(0x09000000, 0x0b000000, 7).what, Added::kOverlap);  // holds them all
    EXPECT_FALSE(t.remove(0x0a000000, 0x0a0000ff));                     // not a piece any more
    EXPECT_TRUE(t.remove(0x0a0000f0, 0x0a0000ff));
    t.compile();
    EXPECT_EQ(t.find(0x0a000000, 0), 3u);
    EXPECT_EQ(t.find(0x0a000005, 0), 3u);
    EXPECT_EQ(t.find(0x0a000006, 0), 1u);
    EXPECT_EQ(t.find(0x0a000010, 0), 5u);
    EXPECT_EQ(t.find(0x0a00001f, 0), 5u);
    EXPECT_EQ(t.find(0x0a000020, 0), 1u);
    EXPECT_EQ(t.find(0x0a0000ef, 0), 1u);
    EXPECT_EQ(t.find(0x0a0000f0, 9), 9u);  // deleted
    EXPECT_EQ(t.find(0x0b000000, 9), 9u);
}

TEST(GeoRangeTest, RangesAcrossManySlash16s) {
    RangeTable t;
    EXPECT_EQ(t.add(0x0afffff0, 0x0c00000f, 1).what, RangeTable::Added::kOk);
    EXPECT_EQ(t.add(0xfffffff0, 0xffffffff, 2).what, RangeTable::Added::kOk);
    EXPECT_EQ(t.add(0, 0, 3).what, RangeTable::Added::kOk);
    // A duplicate replaces the piece in each of the 258 /16s it spans (nginx warns for each).
    auto dup = t.add(0x0afffff0, 0x0c00000f, 4);
    EXPECT_EQ(dup.what, RangeTable::Added::kDuplicate);
    EXPECT_EQ(dup.replaced, std::vector<uint32_t>(258, 1u));
    EXPECT_EQ(t.add(0x0afffff0, 0x0c00000f, 1).replaced, std::vector<uint32_t>(258, 4u));
    // Deleting takes the pieces it names exactly, /16 by /16 (as nginx keeps them).
    EXPECT_FALSE(t.remove(0x0c000000, 0x0c000005));
    EXPECT_TRUE(t.remove(0x0afffff0, 0x0bffffff));
    t.compile();
    EXPECT_EQ(t.find(0x0afffff0, 0), 0u);
    EXPECT_EQ(t.find(0x0b123456, 0), 0u);
    EXPECT_EQ(t.find(0x0c000000, 0), 1u);
    EXPECT_EQ(t.find(0x0c00000f, 0), 1u);
    EXPECT_EQ(t.find(0x0c000010, 0), 0u);
    EXPECT_EQ(t.find(0xffffffff, 0), 2u);
    EXPECT_EQ(t.find(0, 0), 3u);
    EXPECT_EQ(t.find(1, 0), 0u);
}

// ---- whole blocks ----

class GeoBuildTest : public ::testing::Test {
  protected:
    core::Status load(std::string_view body, bool proxy = true) {
        core::ConfDocument doc;
        core::ConfParser parser("/tmp");
        core::Status s =
            parser.parse_text("geo $g {\n" + std::string(body) + "\n}\n", "geo.conf", doc);
        if (!s.is_ok()) {
            return s;
        }
        geo_ = Geo();
        return build(doc.directives[0].children, Options{.proxy = proxy}, geo_);
    }
    std::string find(std::string_view a) {
        core::SockAddr sa = addr(a);
        return geo_.find(&sa);
    }
    std::string error(std::string_view body, bool proxy = true) {
        core::Status s = load(body, proxy);
        EXPECT_FALSE(s.is_ok()) << body;
        return s.message();
    }
    Geo geo_;
};

TEST_F(GeoBuildTest, CidrBlock) {
    ASSERT_TRUE(load("default ZZ;\n127.0.0.0/8 lo;\n127.0.0.2 two;\n10.0.0.0/8 ten;\n"
                     "delete 10.1.0.0/16;\n10.2.0.0/16 \"ten two\";\n2001:db8::/32 doc;\n"
                     "::1 six;\nvolatile;")
                    .is_ok());
    EXPECT_EQ(find("127.0.0.1"), "lo");
    EXPECT_EQ(find("127.0.0.2"), "two");
    EXPECT_EQ(find("10.1.2.3"), "ten");
    EXPECT_EQ(find("10.2.2.3"), "ten two");
    EXPECT_EQ(find("192.0.2.1"), "ZZ");
    EXPECT_EQ(find("::ffff:127.0.0.2"), "two");  // v4-mapped: the IPv4 table
    EXPECT_EQ(find("2001:db8:1::1"), "doc");
    EXPECT_EQ(find("::1"), "six");
    EXPECT_EQ(find("2001:db9::1"), "ZZ");  // `default` is both families'
    EXPECT_EQ(geo_.find(nullptr), "ZZ");   // no address: 255.255.255.255
    EXPECT_TRUE(geo_.is_volatile());
    EXPECT_FALSE(geo_.ranges());
}

TEST_F(GeoBuildTest, WithoutDefaultTheValueIsEmpty) {
    ASSERT_TRUE(load("10.0.0.0/8 ten;").is_ok());
    EXPECT_EQ(find("10.0.0.1"), "ten");
    EXPECT_EQ(find("11.0.0.1"), "");
    EXPECT_EQ(find("::2"), "");
    ASSERT_TRUE(load("255.255.255.255 none;").is_ok());
    EXPECT_EQ(geo_.find(nullptr), "none");
}

TEST_F(GeoBuildTest, DuplicatesReplaceTheOldValue) {
    ASSERT_TRUE(load("10.0.0.0/8 a;\n10.0.0.0/8 b;\ndefault x;\ndefault y;").is_ok());
    EXPECT_EQ(find("10.0.0.1"), "b");
    EXPECT_EQ(find("11.0.0.1"), "y");
}

TEST_F(GeoBuildTest, RangesBlock) {
    ASSERT_TRUE(load("ranges;\ndefault none;\n127.0.0.1-127.0.0.1 one;\n"
                     "127.0.0.2-127.0.0.10 few;\n10.0.0.0-10.255.255.255 ten;\n"
                     "10.1.0.0-10.1.255.255 ten-one;\ndelete 127.0.0.2-127.0.0.10;")
                    .is_ok());
    EXPECT_TRUE(geo_.ranges());
    EXPECT_EQ(find("127.0.0.1"), "one");
    EXPECT_EQ(find("127.0.0.5"), "none");  // deleted
    EXPECT_EQ(find("10.1.2.3"), "ten-one");
    EXPECT_EQ(find("10.2.2.3"), "ten");
    EXPECT_EQ(find("::ffff:127.0.0.1"), "one");
    EXPECT_EQ(find("2001:db8::1"), "none");  // IPv6: 255.255.255.255
    ASSERT_TRUE(load("ranges;\n0.0.0.0-255.255.255.255 all;\n").is_ok());
    EXPECT_EQ(find("2001:db8::1"), "all");
    EXPECT_EQ(geo_.find(nullptr), "all");
}

TEST_F(GeoBuildTest, ProxiesAreKept) {
    ASSERT_TRUE(load("proxy 10.0.0.0/8;\nproxy ::1;\nproxy_recursive;\n").is_ok());
    ASSERT_EQ(geo_.proxies().size(), 2u);
    EXPECT_TRUE(geo_.proxies()[0].contains(addr("10.9.9.9")));
    EXPECT_FALSE(geo_.proxies()[0].contains(addr("11.9.9.9")));
    EXPECT_TRUE(geo_.proxies()[1].contains(addr("::1")));
    EXPECT_TRUE(geo_.proxy_recursive());
}

TEST_F(GeoBuildTest, ErrorsAsNginxWithFileAndLine) {
    EXPECT_EQ(error("10.0.0.0/8 a;\n10.0.0.0/33 b;"),
              "invalid network \"10.0.0.0/33\" in geo.conf:3");
    EXPECT_EQ(error("bogus x;"), "invalid network \"bogus\" in geo.conf:2");
    EXPECT_EQ(error("10.0.0.0/8;"), "invalid number of the geo parameters in geo.conf:2");
    EXPECT_EQ(error("10.0.0.0/8 a b;"), "invalid number of the geo parameters in geo.conf:2");
    EXPECT_EQ(error("default a;\nranges;"),
              "the \"ranges\" directive must be the first directive inside \"geo\" block in "
              "geo.conf:3");
    EXPECT_EQ(error("ranges;\n10.0.0.0/8 a;"), "invalid range \"10.0.0.0/8\" in geo.conf:3");
    EXPECT_EQ(error("ranges;\n10.0.0.9-10.0.0.1 a;"),
              "invalid range \"10.0.0.9-10.0.0.1\" in geo.conf:3");
    EXPECT_EQ(error("ranges;\n10.0.0.1-10.0.0.9 a;\n10.0.0.5-10.0.0.20 b;"),
              "range \"10.0.0.5-10.0.0.20\" overlaps \"10.0.0.1-10.0.0.9\" in geo.conf:4");
    EXPECT_EQ(error("proxy bogus;"), "invalid network \"bogus\" in geo.conf:2");
    EXPECT_EQ(error("10.0.0.0/8 { }"), "unexpected \"{\" in geo.conf:2");
    // The stream geo has no proxy: nginx reads those lines as networks.
    EXPECT_EQ(error("proxy 10.0.0.1;", false), "invalid network \"proxy\" in geo.conf:2");
    EXPECT_EQ(error("proxy_recursive;", false),
              "invalid number of the geo parameters in geo.conf:2");
}

// ---- X-Forwarded-For ----

TEST(GeoForwardedTest, LastAddressFromATrustedProxy) {
    std::vector<core::Cidr> proxies{*core::Cidr::parse("127.0.0.0/8"),
                                    *core::Cidr::parse("10.0.0.0/8")};
    auto walk = [&](std::string_view peer, std::vector<std::string_view> headers, bool recursive) {
        core::SockAddr a = addr(peer);
        forwarded_addr(a, headers, proxies, recursive);
        return a.host_text();
    };
    EXPECT_EQ(walk("127.0.0.1", {"192.0.2.1, 10.0.0.1"}, false), "10.0.0.1");
    EXPECT_EQ(walk("127.0.0.1", {"192.0.2.1, 10.0.0.1"}, true), "192.0.2.1");
    EXPECT_EQ(walk("127.0.0.1", {"192.0.2.9, 192.0.2.1, 10.0.0.1"}, true), "192.0.2.1");
    EXPECT_EQ(walk("127.0.0.1", {"10.0.0.2, 10.0.0.1"}, true), "10.0.0.2");  // all trusted
    EXPECT_EQ(walk("192.0.2.7", {"192.0.2.1"}, true), "192.0.2.7");          // peer not trusted
    EXPECT_EQ(walk("127.0.0.1", {"junk"}, false), "127.0.0.1");
    EXPECT_EQ(walk("127.0.0.1", {"junk, 10.0.0.1"}, true), "10.0.0.1");  // keeps the last good
    EXPECT_EQ(walk("127.0.0.1", {"192.0.2.1:8080"}, false), "192.0.2.1");
    EXPECT_EQ(walk("127.0.0.1", {"[2001:db8::1]:443"}, false), "2001:db8::1");
    EXPECT_EQ(walk("127.0.0.1", {"192.0.2.1 10.0.0.1,, "}, true), "192.0.2.1");
    // Several headers: the last one first, then the earlier ones while trusted.
    EXPECT_EQ(walk("127.0.0.1", {"192.0.2.1", "10.0.0.1"}, true), "192.0.2.1");
    EXPECT_EQ(walk("127.0.0.1", {"192.0.2.1", "10.0.0.1"}, false), "10.0.0.1");
    EXPECT_EQ(walk("127.0.0.1", {"192.0.2.1", "192.0.2.2"}, true), "192.0.2.2");
    EXPECT_EQ(walk("127.0.0.1", {}, true), "127.0.0.1");
}

}  // namespace
}  // namespace geo
