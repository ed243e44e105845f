#include "modules/vrrp/vrrp_packet.h"

#include <algorithm>

namespace vrrp {
namespace {

void put16(std::vector<uint8_t>& out, size_t at, uint16_t v) {
    out[at] = static_cast<uint8_t>(v >> 8);
    out[at + 1] = static_cast<uint8_t>(v & 0xFF);
}

uint16_t get16(std::span<const uint8_t> in, size_t at) {
    return static_cast<uint16_t>((in[at] << 8) | in[at + 1]);
}

uint32_t get32(std::span<const uint8_t> in, size_t at) {
    return (static_cast<uint32_t>(in[at]) << 24) | (static_cast<uint32_t>(in[at + 1]) << 16) |
           (static_cast<uint32_t>(in[at + 2]) << 8) | in[at + 3];
}

void put32(std::vector<uint8_t>& out, uint32_t v) {
    out.push_back(static_cast<uint8_t>(v >> 24));
    out.push_back(static_cast<uint8_t>(v >> 16));
    out.push_back(static_cast<uint8_t>(v >> 8));
    out.push_back(static_cast<uint8_t>(v));
}

void put_addr(std::vector<uint8_t>& out, const IpAddr& a) {
    out.insert(out.end(), a.bytes.begin(), a.bytes.begin() + static_cast<long>(a.size()));
}

IpAddr get_addr(std::span<const uint8_t> in, size_t at, bool v6) {
    if (!v6) {
        return IpAddr::from_v4(get32(in, at));
    }
    std::array<uint8_t, 16> b;
    std::copy_n(in.begin() + static_cast<long>(at), 16, b.begin());
    return IpAddr::from_v6(b);
}

/// RFC 5798 §5.2.8: the v3 checksum covers a pseudo-header, then the VRRP message. IPv4: as
/// TCP and UDP do (source, destination, zero, protocol 112, 16-bit VRRP length); IPv6: RFC
/// 8200 §8.1 (source, destination, 32-bit upper-layer length, three zero octets, Next Header
/// 112).
uint32_t pseudo_header_sum(const IpAddr& src, const IpAddr& dst, size_t length) {
    std::vector<uint8_t> ph;
    put_addr(ph, src);
    put_addr(ph, dst);
    if (src.is_v6()) {
        put32(ph, static_cast<uint32_t>(length));
        ph.insert(ph.end(), {0, 0, 0, kIpProtoVrrp});
    } else {
        ph.push_back(0);
        ph.push_back(kIpProtoVrrp);
        ph.push_back(static_cast<uint8_t>(length >> 8));
        ph.push_back(static_cast<uint8_t>(length));
    }
    return checksum_add(ph);
}

}  // namespace

uint32_t checksum_add(std::span<const uint8_t> data, uint32_t sum) {
    size_t i = 0;
    for (; i + 1 < data.size(); i += 2) {
        sum += static_cast<uint32_t>((data[i] << 8) | data[i + 1]);
    }
    if (i < data.size()) {
        sum += static_cast<uint32_t>(data[i] << 8);  // odd length: pad with a zero octet
    }
    return sum;
}

uint16_t checksum_fold(uint32_t sum) {
    while (sum >> 16) {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    return static_cast<uint16_t>(~sum & 0xFFFF);
}

std::array<uint8_t, 8> pass_data(std::string_view pass) {
    std::array<uint8_t, 8> d{};
    std::copy_n(pass.begin(), std::min(pass.size(), d.size()), d.begin());
    return d;
}

std::vector<uint8_t> encode(const Advert& a, IpAddr src, IpAddr dst) {
    std::vector<uint8_t> out(kFixedSize);
    out[0] = static_cast<uint8_t>((a.version << 4) | kTypeAdvertisement);
    out[1] = a.vrid;
    out[2] = a.priority;
    out[3] = static_cast<uint8_t>(a.addrs.size());
    if (a.version == 3) {
        // RFC 5798 §5.2.6-7: 4 reserved bits (zero), then Max Adver Int in centiseconds.
        auto cs = static_cast<uint16_t>(std::min<int64_t>(a.interval.count() / 10, kMaxAdverIntCs));
        put16(out, 4, cs);
    } else {
        // RFC 3768 §5.3.6-7: Auth Type, then Adver Int in seconds.
        out[4] = a.auth_type;
        out[5] = static_cast<uint8_t>(std::min<int64_t>(a.interval.count() / 1000, 255));
    }
    for (const IpAddr& ip : a.addrs) {
        put_addr(out, ip);
    }
    if (a.version == 2) {
        out.insert(out.end(), a.auth_data.begin(), a.auth_data.end());
    }
    uint32_t sum = a.version == 3 ? pseudo_header_sum(src, dst, out.size()) : 0;
    put16(out, 6, checksum_fold(checksum_add(out, sum)));
    return out;
}

std::string_view decode_error_text(DecodeError e) {
    switch (e) {
        case DecodeError::kOk:
            return "ok";
        case DecodeError::kTruncated:
            return "truncated packet";
        case DecodeError::kNotIp:
            return "not an IPv4 or IPv6 packet";
        case DecodeError::kNotVrrp:
            return "not a VRRP packet (IP protocol is not 112)";
        case DecodeError::kBadTtl:
            return "TTL (hop limit) is not 255";
        case DecodeError::kBadVersion:
            return "VRRP version differs";
        case DecodeError::kBadType:
            return "not an advertisement";
        case DecodeError::kBadChecksum:
            return "bad checksum";
    }
    return "?";
}

namespace {

/// RFC 791: the IPv4 header. Sets the addresses and TTL; `ihl` is its length.
DecodeError decode_ipv4(std::span<const uint8_t>& d, size_t& ihl, Received& out) {
    // IHL in 32-bit words (5..15).
    ihl = static_cast<size_t>(d[0] & 0x0F) * 4;
    if (ihl < kIpHeaderMin) {
        return DecodeError::kNotIp;
    }
    size_t total = get16(d, 2);
    if (total < ihl || total > d.size()) {
        return DecodeError::kTruncated;
    }
    d = d.first(total);  // link-layer padding of short frames is not part of the packet
    if (d[9] != kIpProtoVrrp) {
        return DecodeError::kNotVrrp;
    }
    out.ttl = d[8];
    out.src = get_addr(d, 12, false);
    out.dst = get_addr(d, 16, false);
    return DecodeError::kOk;
}

/// RFC 8200 §3: the IPv6 header (no extension headers: the helper's socket gives none).
DecodeError decode_ipv6(std::span<const uint8_t>& d, size_t& ihl, Received& out) {
    ihl = kIp6HeaderSize;
    if (d.size() < kIp6HeaderSize) {
        return DecodeError::kTruncated;
    }
    size_t payload = get16(d, 4);
    if (kIp6HeaderSize + payload > d.size()) {
        return DecodeError::kTruncated;
    }
    d = d.first(kIp6HeaderSize + payload);
    if (d[6] != kIpProtoVrrp) {
        return DecodeError::kNotVrrp;
    }
    out.ttl = d[7];
    out.src = get_addr(d, 8, true);
    out.dst = get_addr(d, 24, true);
    return DecodeError::kOk;
}

}  // namespace

DecodeError decode(std::span<const uint8_t> d, int version, Received& out) {
    if (d.size() < kIpHeaderMin) {
        return DecodeError::kTruncated;
    }
    bool v6 = (d[0] >> 4) == 6;
    if ((d[0] >> 4) != 4 && !v6) {
        return DecodeError::kNotIp;
    }
    size_t ihl = 0;
    DecodeError e = v6 ? decode_ipv6(d, ihl, out) : decode_ipv4(d, ihl, out);
    if (e != DecodeError::kOk) {
        return e;
    }
    // RFC 5798 §7.1 / RFC 3768 §7.1: MUST verify that the IP TTL (IPv6: Hop Limit) is 255.
    if (out.ttl != kTtl) {
        return DecodeError::kBadTtl;
    }
    std::span<const uint8_t> v = d.subspan(ihl);
    if (v.size() < kFixedSize) {
        return DecodeError::kTruncated;
    }
    // RFC 5798 §7.1 / RFC 3768 §7.1: MUST verify the VRRP version (IPv6: v3 only).
    if ((v[0] >> 4) != version || (v6 && version != 3)) {
        return DecodeError::kBadVersion;
    }
    // RFC 5798 §5.2.2 / RFC 3768 §5.3.2: a packet of unknown type MUST be discarded.
    if ((v[0] & 0x0F) != kTypeAdvertisement) {
        return DecodeError::kBadType;
    }
    Advert& a = out.advert;
    a.version = version;
    a.vrid = v[1];
    a.priority = v[2];
    size_t count = v[3];
    // RFC 5798 §7.1 / RFC 3768 §7.1: MUST verify that the packet holds the whole message
    // (the fixed fields, every address and, in v2, the authentication data).
    size_t asize = v6 ? 16 : 4;
    size_t need = kFixedSize + count * asize + (version == 2 ? kAuthDataSize : 0);
    if (v.size() < need) {
        return DecodeError::kTruncated;
    }
    // RFC 5798 §7.1 / RFC 3768 §7.1: MUST verify the checksum (v3: with the pseudo-header).
    // Extra octets past the message belong to it for the sender's checksum (as IP length).
    uint32_t sum = version == 3 ? pseudo_header_sum(out.src, out.dst, v.size()) : 0;
    if (checksum_fold(checksum_add(v, sum)) != 0) {
        return DecodeError::kBadChecksum;
    }
    if (version == 3) {
        a.interval = Millis((get16(v, 4) & kMaxAdverIntCs) * 10);
        a.auth_type = kAuthNone;
        a.auth_data = {};
    } else {
        a.auth_type = v[4];
        a.interval = Millis(v[5] * 1000);
    }
    a.addrs.clear();
    for (size_t i = 0; i < count; i++) {
        a.addrs.push_back(get_addr(v, kFixedSize + i * asize, v6));
    }
    if (version == 2) {
        std::copy_n(v.begin() + static_cast<long>(kFixedSize + count * asize), kAuthDataSize,
                    a.auth_data.begin());
    }
    return DecodeError::kOk;
}

std::string_view verdict_text(Verdict v) {
    switch (v) {
        case Verdict::kAccept:
            return "accepted";
        case Verdict::kAcceptMismatch:
            return "accepted from the address owner although its addresses differ";
        case Verdict::kOtherRouter:
            return "another virtual router";
        case Verdict::kLocalOwner:
            return "we own the addresses (priority 255)";
        case Verdict::kAuthMismatch:
            return "authentication differs";
        case Verdict::kIntervalMismatch:
            return "advertisement interval differs";
        case Verdict::kAddressMismatch:
            return "virtual addresses differ";
    }
    return "?";
}

Verdict check(const Advert& a, const Expect& e) {
    // RFC 5798 §7.1 / RFC 3768 §7.1: MUST verify that the VRID is configured on the receiving
    // interface.
    if (a.vrid != e.vrid) {
        return Verdict::kOtherRouter;
    }
    // RFC 3768 §7.1: MUST perform the authentication of the local Auth Type; a different type
    // or password is discarded.
    if (e.version == 2) {
        uint8_t want = e.auth_pass ? kAuthPass : kAuthNone;
        if (a.auth_type != want) {
            return Verdict::kAuthMismatch;
        }
        if (e.auth_pass && a.auth_data != pass_data(*e.auth_pass)) {
            return Verdict::kAuthMismatch;
        }
    }
    // RFC 5798 §7.1 / RFC 3768 §7.1: ...and that the local router is not the address owner
    // (priority 255); if it is, the packet MUST be discarded.
    if (e.priority == kPriorityOwner) {
        return Verdict::kLocalOwner;
    }
    // RFC 3768 §7.1: MUST verify that the Adver Interval equals the local one, else discard.
    // (v3 learns the master's interval instead: RFC 5798 §6.4.2.)
    if (e.version == 2 && a.interval != e.interval) {
        return Verdict::kIntervalMismatch;
    }
    // RFC 5798 §7.1 / RFC 3768 §7.1: MAY verify the address list; on a mismatch log it, and
    // drop the packet unless its sender is the address owner (priority 255).
    std::vector<IpAddr> got = a.addrs, want = e.addrs;
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    if (got != want) {
        return a.priority == kPriorityOwner ? Verdict::kAcceptMismatch : Verdict::kAddressMismatch;
    }
    return Verdict::kAccept;
}

}  // namespace vrrp
