#pragma once

// The shared core of nginx's geo for http and stream: `geo [$address] $variable { ... }`
// gives $variable a value chosen by a client address. A layer: the http_geo and stream_geo
// modules hand it their block's lines (build()) and ask it for the value of an address
// (Geo::find()); they keep the protocol's side (where the address comes from, the variable).
//
// Two kinds of table, as nginx's:
//   - CIDR (the default): `10.0.0.0/8 value;`, IPv4 and IPv6, the longest prefix wins. Kept by
//     (address, length) while read (nginx's radix tree answers the same: a prefix given twice
//     is a duplicate, `delete` removes an exact prefix), then swept into sorted, disjoint
//     intervals searched by bisection.
//   - ranges (`ranges;` first in the block): `10.0.0.1-10.0.0.9 value;`, IPv4 only, kept per
//     /16 as nginx keeps them (the same duplicate, split and overlap rules), then flattened
//     the same way. An IPv6 address (not v4-mapped) looks up 255.255.255.255.
//
// Values are plain strings (nginx's geo values hold no variables). Built at config time in the
// process that reads the config; const afterwards, read by every worker.

#include <netinet/in.h>

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/conf_file.h"
#include "core/net.h"
#include "core/status.h"

namespace geo {

using Key6 = unsigned __int128;

/// An address block as nginx's ngx_ptocidr reads it: "10.0.0.0/8", "2001:db8::/32", or one
/// address ("10.1.2.3" is a /32, "::1" a /128).
struct Net {
    int family = AF_INET;  // AF_INET or AF_INET6
    uint32_t v4 = 0;       // host order, low bits cleared
    Key6 v6 = 0;           // most significant byte first, low bits cleared
    int bits = 32;
};

enum class NetParse : uint8_t {
    kOk,
    kLowBits,  // valid, but bits were set beyond the prefix (nginx warns; they are cleared)
    kInvalid,
};

/// Reads `text` as a Net (nginx's ngx_ptocidr; "255.255.255.255" is the /32 of that address).
NetParse parse_net(std::string_view text, Net& out);

/// nginx's ngx_inet_addr: exactly four decimal octets ("10.0.0.1", "010.0.0.1" is 10.0.0.1),
/// in host order. Unlike nginx, an empty octet ("10..0.1") is refused, and "255.255.255.255"
/// is read (nginx cannot tell it from its error value, so it refuses it in ranges and in
/// "255.255.255.255/32").
std::optional<uint32_t> parse_ipv4(std::string_view text);

/// nginx's ngx_parse_addr: an IPv4 or IPv6 address without a port (port 0).
std::optional<core::SockAddr> parse_addr(std::string_view text);
/// nginx's ngx_parse_addr_port: as parse_addr, or "1.2.3.4:80", "[::1]:80".
std::optional<core::SockAddr> parse_addr_port(std::string_view text);

/// The block a SockAddr's address falls in: nginx's IPv4 view of it (an IPv4 address, or a
/// v4-mapped IPv6 one), else nullopt.
std::optional<uint32_t> ipv4_of(const core::SockAddr& a);

/// nginx's ngx_http_get_forwarded_addr: when `addr` is a trusted proxy, replaces it with the
/// last address of the X-Forwarded-For `headers` (given in the order received; entries split
/// at commas and blanks, the last header read first); with `recursive`, walks left while the
/// address found is trusted too. An entry that is not an address stops the walk (the last
/// good one stays).
void forwarded_addr(core::SockAddr& addr, std::span<const std::string_view> headers,
                    const std::vector<core::Cidr>& proxies, bool recursive);

/// A longest-prefix-match table of one family (Key: uint32_t for IPv4, Key6 for IPv6). While
/// the config is read, the prefixes are a hash table by (address, length), which gives nginx's
/// radix-tree answers: a prefix given twice is a duplicate, `delete` removes an exact prefix.
/// compile() sorts them and sweeps them into disjoint intervals, so a lookup is one bisection.
template <class Key>
class PrefixTable {
  public:
    static constexpr int kWidth = sizeof(Key) * 8;
    static constexpr uint32_t kNone = UINT32_MAX;

    /// Sets the value of the prefix `key`/`bits` (low bits clear); returns the value it had
    /// (kNone: none).
    uint32_t insert(Key key, int bits, uint32_t value);
    /// Removes the value of exactly `key`/`bits`; false when that prefix has none.
    bool remove(Key key, int bits);
    /// Before compile(): the value of the longest prefix holding `key` (kNone when no prefix
    /// does), by a scan of every prefix (tests).
    uint32_t find_slow(Key key) const;

    /// Flattens the prefixes into intervals (addresses no prefix holds get `fallback`) and
    /// frees them: called once, after the last insert() and remove().
    void compile(uint32_t fallback);
    /// After compile(): the value of `key`.
    uint32_t find(Key key) const;

  private:
    struct Prefix {
        Key key;
        int bits;
        bool operator==(const Prefix&) const = default;
    };
    struct PrefixHash {
        size_t operator()(const Prefix& p) const {
            uint64_t lo = static_cast<uint64_t>(p.key);
            uint64_t hi = sizeof(Key) > 8 ? static_cast<uint64_t>(p.key >> 32 >> 32) : 0;
            uint64_t h = (lo ^ (hi * 0x9e3779b97f4a7c15ULL)) * 0xff51afd7ed558ccdULL;
            return static_cast<size_t>((h ^ (h >> 29)) + static_cast<uint64_t>(p.bits));
        }
    };
    void emit(Key start, uint32_t value);

    std::unordered_map<Prefix, uint32_t, PrefixHash> prefixes_;
    std::vector<Key> starts_;
    std::vector<uint32_t> values_;
};

/// IPv4 ranges as nginx keeps them: per /16, sorted, disjoint pieces.
class RangeTable {
  public:
    enum class Added : uint8_t { kOk, kDuplicate, kOverlap };
    struct AddResult {
        Added what = Added::kOk;
        std::vector<uint32_t> replaced;  // kDuplicate: the values replaced, one per /16
        uint32_t first = 0;              // kOverlap: the piece in the way (host order)
        uint32_t last = 0;
    };
    /// Adds [start, end] with `value` (nginx's rules: a range equal to a piece replaces its
    /// value, one inside a piece splits it, any other overlap is refused). Stops at the first
    /// /16 whose piece is in the way.
    AddResult add(uint32_t start, uint32_t end, uint32_t value);
    /// Removes the pieces exactly [start, end] covers in each /16; false when one is missing
    /// (nginx warns then).
    bool remove(uint32_t start, uint32_t end);

    /// Flattens into sorted intervals.
    void compile();
    /// After compile(): the value of `addr`, else `fallback`.
    uint32_t find(uint32_t addr, uint32_t fallback) const;

  private:
    struct Piece {
        uint16_t start;
        uint16_t end;
        uint32_t value;
    };
    std::map<uint16_t, std::vector<Piece>> chunks_;
    std::vector<uint32_t> starts_;
    std::vector<uint32_t> ends_;
    std::vector<uint32_t> values_;
};

/// One geo block, built. Immutable once build() returned.
class Geo {
  public:
    /// The value for an address; nullptr (no address, or one that could not be read) and unix
    /// sockets look up 255.255.255.255, as nginx's INADDR_NONE.
    const std::string& find(const core::SockAddr* addr) const;

    bool ranges() const { return ranges_; }
    bool is_volatile() const { return volatile_; }
    const std::vector<core::Cidr>& proxies() const { return proxies_; }
    bool proxy_recursive() const { return proxy_recursive_; }

  private:
    friend class Builder;
    std::vector<std::string> values_{std::string()};  // [0]: "" (nginx's null value)
    PrefixTable<uint32_t> v4_;
    PrefixTable<Key6> v6_;
    RangeTable range_table_;
    uint32_t range_default_ = 0;
    bool ranges_ = false;
    bool volatile_ = false;
    std::vector<core::Cidr> proxies_;
    bool proxy_recursive_ = false;
};

/// What a protocol's geo takes.
struct Options {
    bool proxy = true;  // `proxy` and `proxy_recursive` (http only, as nginx's)
};

/// Reads the lines of a geo block (includes already expanded) into `out`, with nginx's
/// errors ("invalid network", "invalid range", "range ... overlaps ...", each with its
/// file:line) and warnings in the log ("duplicate network", "low address bits of ... are
/// meaningless", "no network ... to delete").
core::Status build(std::span<const core::ConfNode> lines, const Options& options, Geo& out);

}  // namespace geo
