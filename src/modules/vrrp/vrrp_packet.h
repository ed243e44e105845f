#pragma once

// VRRP advertisements: encode, decode and the receive checks of RFC 5798 (VRRPv3, IPv4 and
// IPv6) and RFC 3768 (VRRPv2, IPv4 only). Pure functions on bytes, no sockets: the helper reads
// datagrams (IP header included: an IPv4 raw socket gives it, the IPv6 socket rebuilds it from
// the ancillary data) and hands them here.
//
//   v3 (RFC 5798 §5.1)                       v2 (RFC 3768 §5.1)
//   0: version(4) | type(4)                  0: version(4) | type(4)
//   1: virtual router id                     1: virtual router id
//   2: priority                              2: priority
//   3: count of addresses                    3: count of addresses
//   4-5: reserved(4) | max adver int(12, cs) 4: auth type     5: adver int (s)
//   6-7: checksum                            6-7: checksum
//   8..: IPv4 or IPv6 addresses              8..: IPv4 addresses, then 8 octets auth data

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "modules/vrrp/vrrp_conf.h"

namespace vrrp {

/// RFC 5798 §5.1.1.3 / RFC 3768 §5.2.4: the IP protocol number assigned to VRRP.
inline constexpr uint8_t kIpProtoVrrp = 112;
/// RFC 5798 §5.1.1.2 / RFC 3768 §5.2.2: the IPv4 multicast group adverts are sent to.
inline constexpr IpAddr kMulticastGroup = IpAddr::from_v4(0xE0000012);  // 224.0.0.18
/// RFC 5798 §5.1.2.2: the IPv6 multicast group adverts are sent to, ff02::12.
inline constexpr IpAddr kMulticastGroup6 =
    IpAddr::from_v6({0xFF, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12});
/// RFC 5798 §5.1.1.3, §5.1.2.3 / RFC 3768 §5.2.3: sent with TTL (IPv6: Hop Limit) 255;
/// anything else is discarded.
inline constexpr uint8_t kTtl = 255;
/// RFC 5798 §5.2.2 / RFC 3768 §5.3.2: the only packet type, ADVERTISEMENT.
inline constexpr uint8_t kTypeAdvertisement = 1;
/// RFC 5798 §5.2.4 / RFC 3768 §5.3.4: 255 = the router owning the addresses.
inline constexpr uint8_t kPriorityOwner = 255;
/// RFC 5798 §5.2.4 / RFC 3768 §5.3.4: 0 = the master stops; backups take over at once.
inline constexpr uint8_t kPriorityStop = 0;
/// RFC 5798 §5.2.4 / RFC 3768 §5.3.4: the default priority of a backup.
inline constexpr uint8_t kPriorityDefault = 100;
/// RFC 5798 §5.1 / RFC 3768 §5.1: version..checksum, before the address list.
inline constexpr size_t kFixedSize = 8;
/// RFC 3768 §5.3.6: Auth Type 0 = none, 1 = simple text password (2, IP AH, is obsolete).
inline constexpr uint8_t kAuthNone = 0;
inline constexpr uint8_t kAuthPass = 1;
/// RFC 3768 §5.3.10: the authentication data that follows the addresses in v2.
inline constexpr size_t kAuthDataSize = 8;
/// RFC 5798 §5.2.7: Max Adver Int is 12 bits of centiseconds.
inline constexpr uint16_t kMaxAdverIntCs = 0x0FFF;
/// Minimal IPv4 header (RFC 791); options may make it longer.
inline constexpr size_t kIpHeaderMin = 20;
/// The IPv6 header (RFC 8200 §3). The helper's IPv6 socket gives no extension headers.
inline constexpr size_t kIp6HeaderSize = 40;

/// One advertisement, either version.
struct Advert {
    int version = 3;
    uint8_t vrid = 0;
    uint8_t priority = 0;
    /// v3: Max Adver Int (a multiple of 10ms); v2: Adver Int (a multiple of 1s).
    Millis interval{1000};
    uint8_t auth_type = kAuthNone;       // v2 only
    std::array<uint8_t, 8> auth_data{};  // v2 only, zero padded
    std::vector<IpAddr> addrs;
    friend bool operator==(const Advert&, const Advert&) = default;
};

/// The v2 auth data for `auth_pass` (RFC 3768 §5.3.10: zero padded to 8 octets).
std::array<uint8_t, 8> pass_data(std::string_view pass);

/// The VRRP message (what follows the IP header). `src`/`dst` are the addresses it will be
/// sent with: the v3 checksum covers a pseudo-header made of them (RFC 5798 §5.2.8; for IPv6
/// the pseudo-header of RFC 8200 §8.1). The addresses in `advert` are all of `src`'s family.
std::vector<uint8_t> encode(const Advert& advert, IpAddr src, IpAddr dst);

/// The internet checksum (RFC 1071) of `data`, continuing from `sum` (not complemented).
uint32_t checksum_add(std::span<const uint8_t> data, uint32_t sum = 0);
uint16_t checksum_fold(uint32_t sum);

/// Why a packet was dropped by decode().
enum class DecodeError {
    kOk,
    kTruncated,    // shorter than its headers, its IP total length or its address list
    kNotIp,        // IP version is not 4 or 6, or the IPv4 header length is invalid
    kNotVrrp,      // IP protocol is not 112
    kBadTtl,       // RFC 5798 §7.1 / RFC 3768 §7.1: TTL (IPv6: Hop Limit) must be 255
    kBadVersion,   // VRRP version is not the one expected
    kBadType,      // not an ADVERTISEMENT
    kBadChecksum,  // RFC 5798 §5.2.8 / RFC 3768 §5.3.8
};
std::string_view decode_error_text(DecodeError e);

/// A decoded datagram.
struct Received {
    IpAddr src;
    IpAddr dst;
    uint8_t ttl = 0;  // IPv6: the Hop Limit
    Advert advert;
};

/// Parses an IPv4 or IPv6 datagram carrying a VRRP message (IP header included) and makes the
/// checks every packet must pass whatever instance it is for (RFC 5798 §7.1 for each family):
/// IP header, protocol (IPv6: Next Header), TTL / Hop Limit 255, version `version` (IPv6 is
/// v3 only), type, complete message, checksum. The addresses are of the datagram's family.
DecodeError decode(std::span<const uint8_t> datagram, int version, Received& out);

/// What the receiving instance expects (its own configuration).
struct Expect {
    int version = 3;
    uint8_t vrid = 0;
    uint8_t priority = 0;  // the local (configured) priority: 255 = we own the addresses
    Millis interval{1000};
    std::optional<std::string> auth_pass;
    std::vector<IpAddr> addrs;
};

/// The instance-level verdict on a decoded advert (RFC 5798 §7.1, RFC 3768 §7.1).
enum class Verdict {
    kAccept,
    kAcceptMismatch,    // addresses differ but the sender is the owner: processed, logged
    kOtherRouter,       // another VRID: not ours, ignored silently
    kLocalOwner,        // we are the address owner (priority 255): MUST discard
    kAuthMismatch,      // v2: Auth Type or password differ: MUST discard
    kIntervalMismatch,  // v2: Adver Interval differs from ours: MUST discard
    kAddressMismatch,   // address list differs and the sender is not the owner: MUST discard
};
std::string_view verdict_text(Verdict v);

Verdict check(const Advert& advert, const Expect& expect);

}  // namespace vrrp
