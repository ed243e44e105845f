// VRRP packet encode/decode and receive checks against byte vectors: hand-built ones and
// datagrams captured from Debian's keepalived 2.2.7 (v2 with auth PASS, v3 at 1s and 100ms),
// including every validation failure RFC 5798 §7.1 and RFC 3768 §7.1 require.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "modules/vrrp/vrrp_packet.h"

namespace vrrp {
namespace {

using namespace std::chrono_literals;

std::vector<uint8_t> hex(std::string_view h) {
    std::vector<uint8_t> out;
    for (size_t i = 0; i + 1 < h.size(); i += 2) {
        out.push_back(static_cast<uint8_t>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
    }
    return out;
}

IpAddr ip(const char* s) {
    return *IpAddr::parse(s);
}

// Captured from keepalived 2.2.7 (`state MASTER; virtual_router_id 51; priority 100;
// advert_int 1; auth_type PASS; auth_pass 1111; virtual_ipaddress { 192.168.200.16 }`, the
// seed's config) on a veth with 10.99.0.1: IP header (TOS 0xc0, TTL 255, proto 112) + VRRPv2.
constexpr std::string_view kKeepalivedV2 =
    "45c0002800020000ff70d02d0a630001e0000012"
    "21336401"          // v2 advertisement, VRID 51, priority 100, 1 address
    "01018eae"          // auth type 1 (PASS), adver int 1s, checksum
    "c0a8c810"          // 192.168.200.16
    "3131313100000000"  // "1111" zero padded
    ;

// keepalived 2.2.7 with `vrrp_version 3`, two addresses, advert_int 1 (100 cs).
constexpr std::string_view kKeepalivedV3 =
    "45c0002400020000ff70d0310a630001e0000012"
    "31336402"  // v3 advertisement, VRID 51, priority 100, 2 addresses
    "00646a0c"  // max adver int 100 cs, checksum (with the IPv4 pseudo-header)
    "0a4d00640a4d0065";

// The same with advert_int 0.1 (10 cs).
constexpr std::string_view kKeepalivedV3Fast =
    "45c00024001d0000ff70d0160a630001e0000012"
    "31336402000a6a660a4d00640a4d0065";

TEST(VrrpPacketTest, DecodesKeepalivedV2) {
    Received r;
    ASSERT_EQ(decode(hex(kKeepalivedV2), 2, r), DecodeError::kOk);
    EXPECT_EQ(r.src, ip("10.99.0.1"));
    EXPECT_EQ(r.dst, kMulticastGroup);
    EXPECT_EQ(r.ttl, 255);
    EXPECT_EQ(r.advert.version, 2);
    EXPECT_EQ(r.advert.vrid, 51);
    EXPECT_EQ(r.advert.priority, 100);
    EXPECT_EQ(r.advert.interval, 1s);
    EXPECT_EQ(r.advert.auth_type, kAuthPass);
    EXPECT_EQ(r.advert.auth_data, pass_data("1111"));
    ASSERT_EQ(r.advert.addrs.size(), 1u);
    EXPECT_EQ(r.advert.addrs[0], ip("192.168.200.16"));

    Expect e{2, 51, 90, 1s, "1111", {ip("192.168.200.16")}};
    EXPECT_EQ(check(r.advert, e), Verdict::kAccept);
}

TEST(VrrpPacketTest, EncodesWhatKeepalivedSendsV2) {
    Advert a;
    a.version = 2;
    a.vrid = 51;
    a.priority = 100;
    a.interval = 1s;
    a.auth_type = kAuthPass;
    a.auth_data = pass_data("1111");
    a.addrs = {ip("192.168.200.16")};
    std::vector<uint8_t> want = hex(kKeepalivedV2);
    want.erase(want.begin(), want.begin() + 20);
    EXPECT_EQ(encode(a, ip("10.99.0.1"), kMulticastGroup), want);
}

TEST(VrrpPacketTest, DecodesAndEncodesKeepalivedV3) {
    for (auto [bytes, interval] : {std::pair{kKeepalivedV3, 1000ms}, {kKeepalivedV3Fast, 100ms}}) {
        Received r;
        ASSERT_EQ(decode(hex(bytes), 3, r), DecodeError::kOk);
        EXPECT_EQ(r.advert.version, 3);
        EXPECT_EQ(r.advert.vrid, 51);
        EXPECT_EQ(r.advert.priority, 100);
        EXPECT_EQ(r.advert.interval, interval);
        ASSERT_EQ(r.advert.addrs.size(), 2u);
        EXPECT_EQ(r.advert.addrs[1], ip("10.77.0.101"));
        std::vector<uint8_t> want = hex(bytes);
        want.erase(want.begin(), want.begin() + 20);
        EXPECT_EQ(encode(r.advert, r.src, r.dst), want);
    }
}

TEST(VrrpPacketTest, V3ChecksumCoversThePseudoHeader) {
    Advert a;
    a.vrid = 7;
    a.priority = 200;
    a.interval = 20ms;
    a.addrs = {ip("10.0.0.1")};
    // Checksum computed by hand (independently of the code): the 16-bit words of the
    // pseudo-header 10.0.0.2 -> 10.0.0.3, 0/112, length 12, and of the message, summed,
    // folded and inverted: 0xe872.
    std::vector<uint8_t> bytes = encode(a, ip("10.0.0.2"), ip("10.0.0.3"));
    EXPECT_EQ(bytes, hex("3107c8010002e8720a000001"));
    // The same message to another destination has another checksum (v2 would not).
    EXPECT_NE(encode(a, ip("10.0.0.2"), kMulticastGroup), bytes);
    a.version = 2;
    a.interval = 1s;
    EXPECT_EQ(encode(a, ip("10.0.0.2"), kMulticastGroup), encode(a, ip("9.9.9.9"), ip("1.1.1.1")));
}

TEST(VrrpPacketTest, V3IntervalIsTwelveBitsOfCentiseconds) {
    Advert a;
    a.vrid = 1;
    a.priority = 1;
    a.interval = 40950ms;
    a.addrs = {ip("10.0.0.1")};
    std::vector<uint8_t> b = encode(a, ip("10.0.0.2"), kMulticastGroup);
    EXPECT_EQ(b[4], 0x0F);
    EXPECT_EQ(b[5], 0xFF);
    // Reserved bits set by a sender are ignored by a receiver (RFC 5798 §5.2.6).
    std::vector<uint8_t> ipv4 =
        hex("45c0002000000000ff700000"
            "0a000002e0000012");
    b[4] |= 0xF0;
    b[6] = b[7] = 0;
    uint32_t sum = checksum_add(hex("0a000002e00000120070000c"));
    uint16_t c = checksum_fold(checksum_add(b, sum));
    b[6] = static_cast<uint8_t>(c >> 8);
    b[7] = static_cast<uint8_t>(c);
    ipv4.insert(ipv4.end(), b.begin(), b.end());
    Received r;
    ASSERT_EQ(decode(ipv4, 3, r), DecodeError::kOk);
    EXPECT_EQ(r.advert.interval, 40950ms);
}

// ---- every decode failure ----

std::vector<uint8_t> v2_packet() {
    return hex(kKeepalivedV2);
}

TEST(VrrpPacketTest, RejectsTruncated) {
    Received r;
    std::vector<uint8_t> p = v2_packet();
    EXPECT_EQ(decode(std::span(p).first(19), 2, r), DecodeError::kTruncated);
    EXPECT_EQ(decode(std::span(p).first(p.size() - 1), 2, r), DecodeError::kTruncated);
    // The IP total length says the message ends before the auth data.
    p[3] = 0x20;
    EXPECT_EQ(decode(p, 2, r), DecodeError::kTruncated);
    // A count that claims more addresses than the packet holds.
    p = v2_packet();
    p[23] = 3;
    EXPECT_EQ(decode(p, 2, r), DecodeError::kTruncated);
    // Only the fixed part of the header.
    p = v2_packet();
    p[3] = 24;
    EXPECT_EQ(decode(p, 2, r), DecodeError::kTruncated);
}

TEST(VrrpPacketTest, IgnoresLinkLayerPadding) {
    std::vector<uint8_t> p = hex(kKeepalivedV3);
    p.resize(p.size() + 10, 0);  // Ethernet minimum frame padding
    Received r;
    EXPECT_EQ(decode(p, 3, r), DecodeError::kOk);
}

TEST(VrrpPacketTest, RejectsNonIpv4AndNonVrrp) {
    Received r;
    std::vector<uint8_t> p = v2_packet();
    p[0] = 0x55;  // IP version 5
    EXPECT_EQ(decode(p, 2, r), DecodeError::kNotIp);
    p[0] = 0x44;  // IHL 4 words < 20 bytes
    EXPECT_EQ(decode(p, 2, r), DecodeError::kNotIp);
    p = v2_packet();
    p[9] = 17;
    EXPECT_EQ(decode(p, 2, r), DecodeError::kNotVrrp);
}

TEST(VrrpPacketTest, RejectsTtlOtherThan255) {
    Received r;
    std::vector<uint8_t> p = v2_packet();
    p[8] = 254;
    EXPECT_EQ(decode(p, 2, r), DecodeError::kBadTtl);
    p[8] = 1;
    EXPECT_EQ(decode(p, 2, r), DecodeError::kBadTtl);
}

TEST(VrrpPacketTest, RejectsOtherVersionAndType) {
    Received r;
    EXPECT_EQ(decode(v2_packet(), 3, r), DecodeError::kBadVersion);
    EXPECT_EQ(decode(hex(kKeepalivedV3), 2, r), DecodeError::kBadVersion);
    std::vector<uint8_t> p = v2_packet();
    p[20] = 0x22;  // type 2 does not exist
    EXPECT_EQ(decode(p, 2, r), DecodeError::kBadType);
}

TEST(VrrpPacketTest, RejectsBadChecksum) {
    Received r;
    std::vector<uint8_t> p = v2_packet();
    p[27] ^= 0x01;
    EXPECT_EQ(decode(p, 2, r), DecodeError::kBadChecksum);
    p = v2_packet();
    p[22] = 101;  // priority changed, checksum not
    EXPECT_EQ(decode(p, 2, r), DecodeError::kBadChecksum);
    // v3: the same VRRP bytes from another source fail (the pseudo-header differs).
    p = hex(kKeepalivedV3);
    p[15] = 0x02;  // source 10.99.0.2
    EXPECT_EQ(decode(p, 3, r), DecodeError::kBadChecksum);
    // A v3 checksum computed without the pseudo-header, as v2 does, is wrong.
    Advert a = {};
    a.vrid = 51;
    a.priority = 100;
    a.addrs = {ip("10.77.0.100")};
    a.version = 3;
    std::vector<uint8_t> v = encode(a, IpAddr::from_v4(0), IpAddr::from_v4(0));
    v[6] = v[7] = 0;
    uint16_t c = checksum_fold(checksum_add(v));
    v[6] = static_cast<uint8_t>(c >> 8);
    v[7] = static_cast<uint8_t>(c);
    p =
        hex("45c0002000000000ff700000"
            "0a630001e0000012");
    p.insert(p.end(), v.begin(), v.end());
    EXPECT_EQ(decode(p, 3, r), DecodeError::kBadChecksum);
}

// ---- instance checks ----

Advert v2_advert() {
    Received r;
    EXPECT_EQ(decode(v2_packet(), 2, r), DecodeError::kOk);
    return r.advert;
}

TEST(VrrpPacketTest, CheckOtherVrid) {
    Expect e{2, 52, 90, 1s, "1111", {ip("192.168.200.16")}};
    EXPECT_EQ(check(v2_advert(), e), Verdict::kOtherRouter);
}

TEST(VrrpPacketTest, CheckAuthentication) {
    Expect e{2, 51, 90, 1s, "2222", {ip("192.168.200.16")}};
    EXPECT_EQ(check(v2_advert(), e), Verdict::kAuthMismatch);
    e.auth_pass.reset();
    EXPECT_EQ(check(v2_advert(), e), Verdict::kAuthMismatch);  // type PASS vs none
    e.auth_pass = "11110";
    EXPECT_EQ(check(v2_advert(), e), Verdict::kAuthMismatch);
    Advert a = v2_advert();
    a.auth_type = kAuthNone;
    a.auth_data = {};
    e.auth_pass.reset();
    EXPECT_EQ(check(a, e), Verdict::kAccept);
}

TEST(VrrpPacketTest, CheckLocalOwnerDiscards) {
    Expect e{2, 51, 255, 1s, "1111", {ip("192.168.200.16")}};
    EXPECT_EQ(check(v2_advert(), e), Verdict::kLocalOwner);
}

TEST(VrrpPacketTest, CheckV2IntervalMismatch) {
    Expect e{2, 51, 90, 2s, "1111", {ip("192.168.200.16")}};
    EXPECT_EQ(check(v2_advert(), e), Verdict::kIntervalMismatch);
    // v3 learns the master's interval: no mismatch.
    Received r;
    ASSERT_EQ(decode(hex(kKeepalivedV3Fast), 3, r), DecodeError::kOk);
    Expect e3{3, 51, 90, 1s, std::nullopt, {ip("10.77.0.101"), ip("10.77.0.100")}};
    EXPECT_EQ(check(r.advert, e3), Verdict::kAccept);  // order of the list does not matter
}

TEST(VrrpPacketTest, CheckAddresses) {
    Expect e{2, 51, 90, 1s, "1111", {ip("192.168.200.17")}};
    EXPECT_EQ(check(v2_advert(), e), Verdict::kAddressMismatch);
    e.addrs = {ip("192.168.200.16"), ip("192.168.200.17")};
    EXPECT_EQ(check(v2_advert(), e), Verdict::kAddressMismatch);
    Advert owner = v2_advert();
    owner.priority = kPriorityOwner;
    EXPECT_EQ(check(owner, e), Verdict::kAcceptMismatch);
}

// ---- IPv6 (RFC 5798 §5.1.2, §5.2.8 with the RFC 8200 §8.1 pseudo-header, §7.1) ----

// VRRPv3 from fe80::1 to ff02::12: VRID 51, priority 100, 1s, fd77::100. The checksum was
// computed apart from halo (Python: one's complement sum over source, destination, 32-bit
// length, three zeros, Next Header 112, then the message).
constexpr std::string_view kV6Message =
    "31336401"                          // v3 advertisement, VRID 51, priority 100, 1 address
    "00646dd0"                          // max adver int 100 cs, checksum
    "fd770000000000000000000000000100"  // fd77::100
    ;

/// `message` behind an IPv6 header (what the helper's socket rebuilds from ancillary data).
std::vector<uint8_t> v6_datagram(std::span<const uint8_t> message, IpAddr src, IpAddr dst,
                                 uint8_t hops = 255) {
    std::vector<uint8_t> d(kIp6HeaderSize, 0);
    d[0] = 0x60;
    d[4] = static_cast<uint8_t>(message.size() >> 8);
    d[5] = static_cast<uint8_t>(message.size());
    d[6] = kIpProtoVrrp;
    d[7] = hops;
    std::copy_n(src.bytes.begin(), 16, d.begin() + 8);
    std::copy_n(dst.bytes.begin(), 16, d.begin() + 24);
    d.insert(d.end(), message.begin(), message.end());
    return d;
}

Advert v6_advert() {
    Advert a;
    a.version = 3;
    a.vrid = 51;
    a.priority = 100;
    a.interval = 1s;
    a.addrs = {ip("fd77::100")};
    return a;
}

TEST(VrrpPacketTest, EncodesIpv6WithTheIpv6PseudoHeader) {
    EXPECT_EQ(encode(v6_advert(), ip("fe80::1"), kMulticastGroup6), hex(kV6Message));
    EXPECT_EQ(kMulticastGroup6, ip("ff02::12"));
    // Another source changes the checksum: the pseudo-header covers it.
    EXPECT_NE(encode(v6_advert(), ip("fe80::2"), kMulticastGroup6), hex(kV6Message));
}

TEST(VrrpPacketTest, DecodesIpv6) {
    Received r;
    std::vector<uint8_t> d = v6_datagram(hex(kV6Message), ip("fe80::1"), kMulticastGroup6);
    ASSERT_EQ(decode(d, 3, r), DecodeError::kOk);
    EXPECT_EQ(r.src, ip("fe80::1"));
    EXPECT_EQ(r.dst, ip("ff02::12"));
    EXPECT_TRUE(r.src.is_link_local());
    EXPECT_EQ(r.ttl, 255);
    EXPECT_EQ(r.advert, v6_advert());
    EXPECT_EQ(r.advert.addrs[0].text(), "fd77::100");
    // Round trip with several addresses.
    Advert a = v6_advert();
    a.addrs = {ip("fd77::1"), ip("2001:db8::5"), ip("fe80::12")};
    a.interval = 40950ms;
    a.priority = 255;
    ASSERT_EQ(
        decode(v6_datagram(encode(a, ip("fe80::9"), ip("fe80::7")), ip("fe80::9"), ip("fe80::7")),
               3, r),
        DecodeError::kOk);
    EXPECT_EQ(r.advert, a);
}

TEST(VrrpPacketTest, Ipv6ReceiveChecks) {
    Received r;
    std::vector<uint8_t> msg = hex(kV6Message);
    IpAddr src = ip("fe80::1");
    // RFC 5798 §7.1: MUST verify the Hop Limit is 255.
    EXPECT_EQ(decode(v6_datagram(msg, src, kMulticastGroup6, 254), 3, r), DecodeError::kBadTtl);
    EXPECT_EQ(decode(v6_datagram(msg, src, kMulticastGroup6, 1), 3, r), DecodeError::kBadTtl);
    // ...the checksum: another source, destination, or a flipped bit.
    EXPECT_EQ(decode(v6_datagram(msg, ip("fe80::2"), kMulticastGroup6), 3, r),
              DecodeError::kBadChecksum);
    EXPECT_EQ(decode(v6_datagram(msg, src, ip("ff02::1")), 3, r), DecodeError::kBadChecksum);
    std::vector<uint8_t> bad = msg;
    bad[23] ^= 1;
    EXPECT_EQ(decode(v6_datagram(bad, src, kMulticastGroup6), 3, r), DecodeError::kBadChecksum);
    // ...the version: VRRPv2 has no IPv6 (RFC 3768 is IPv4 only).
    EXPECT_EQ(decode(v6_datagram(msg, src, kMulticastGroup6), 2, r), DecodeError::kBadVersion);
    // ...that the packet holds every address the count announces.
    std::vector<uint8_t> two = msg;
    two[3] = 2;
    EXPECT_EQ(decode(v6_datagram(two, src, kMulticastGroup6), 3, r), DecodeError::kTruncated);
    std::vector<uint8_t> d = v6_datagram(msg, src, kMulticastGroup6);
    d.resize(d.size() - 1);  // the payload length says one octet more than there is
    EXPECT_EQ(decode(d, 3, r), DecodeError::kTruncated);
    d = v6_datagram(msg, src, kMulticastGroup6);
    d[6] = 17;  // Next Header UDP
    EXPECT_EQ(decode(d, 3, r), DecodeError::kNotVrrp);
    d.resize(30);
    EXPECT_EQ(decode(d, 3, r), DecodeError::kTruncated);
}

TEST(VrrpPacketTest, Ipv6AddressListCheck) {
    Expect e;
    e.vrid = 51;
    e.priority = 100;
    e.addrs = {ip("fd77::100")};
    EXPECT_EQ(check(v6_advert(), e), Verdict::kAccept);
    e.addrs = {ip("fd77::101")};
    EXPECT_EQ(check(v6_advert(), e), Verdict::kAddressMismatch);
}

TEST(VrrpPacketTest, AddressTextAndOrder) {
    EXPECT_EQ(ip("FD77:0:0::1").text(), "fd77::1");
    EXPECT_EQ(ip("10.1.2.3").text(), "10.1.2.3");
    EXPECT_EQ(IpAddr{}.text(), "");
    EXPECT_FALSE(IpAddr::parse("fd77::1/64"));
    EXPECT_FALSE(IpAddr::parse("10.0.0.256"));
    // RFC 5798 §6.4.3 compares addresses as unsigned integers: network order octets.
    EXPECT_LT(ip("fe80::1"), ip("fe80::2"));
    EXPECT_LT(ip("fe80::ff"), ip("fe80::1:0"));
    EXPECT_LT(ip("10.0.0.255"), ip("10.0.1.0"));
    EXPECT_EQ(ip("10.0.1.0").v4_value(), 0x0A000100u);
    EXPECT_TRUE(ip("fe80::1").is_link_local());
    EXPECT_TRUE(ip("febf::1").is_link_local());
    EXPECT_FALSE(ip("fec0::1").is_link_local());
    EXPECT_FALSE(ip("fd77::1").is_link_local());
}

}  // namespace
}  // namespace vrrp
