// The geo layer's tables and address helpers (see geo.h).
#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "modules/geo/geo.h"

namespace geo {

namespace {

bool all_digits(std::string_view s) {
    if (s.empty()) {
        return false;
    }
    for (char c : s) {
        if (c < '0' || c > '9') {
            return false;
        }
    }
    return true;
}

std::optional<Key6> parse_ipv6(std::string_view text, uint8_t (&bytes)[16]) {
    if (text.empty() || text.size() >= INET6_ADDRSTRLEN) {
        return std::nullopt;
    }
    char buf[INET6_ADDRSTRLEN];
    memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    if (inet_pton(AF_INET6, buf, bytes) != 1) {
        return std::nullopt;
    }
    Key6 k = 0;
    for (uint8_t b : bytes) {
        k = (k << 8) | b;
    }
    return k;
}

Key6 key6_of(const in6_addr& a) {
    Key6 k = 0;
    for (uint8_t b : a.s6_addr) {
        k = (k << 8) | b;
    }
    return k;
}

/// The most significant `bits` of a `width`-bit key, as a mask.
template <class Key>
Key prefix_mask(int bits) {
    constexpr int kWidth = sizeof(Key) * 8;
    return bits == 0 ? Key(0) : static_cast<Key>(~Key(0) << (kWidth - bits));
}

}  // namespace

// ---- addresses ----

std::optional<uint32_t> parse_ipv4(std::string_view text) {
    uint32_t addr = 0;
    uint32_t octet = 0;
    int dots = 0;
    size_t digits = 0;
    for (char c : text) {
        if (c >= '0' && c <= '9') {
            octet = octet * 10 + static_cast<uint32_t>(c - '0');
            digits++;
            if (octet > 255) {  // leading zeros are fine, as nginx reads them
                return std::nullopt;
            }
            continue;
        }
        if (c != '.' || digits == 0 || ++dots > 3) {
            return std::nullopt;
        }
        addr = (addr << 8) | octet;
        octet = 0;
        digits = 0;
    }
    if (dots != 3 || digits == 0) {
        return std::nullopt;
    }
    return (addr << 8) | octet;
}

NetParse parse_net(std::string_view text, Net& out) {
    size_t slash = text.find('/');
    std::string_view host = text.substr(0, slash);
    int max_bits = 0;
    uint8_t bytes[16];
    if (auto v4 = parse_ipv4(host)) {
        out.family = AF_INET;
        out.v4 = *v4;
        max_bits = 32;
    } else if (auto v6 = parse_ipv6(host, bytes)) {
        out.family = AF_INET6;
        out.v6 = *v6;
        max_bits = 128;
    } else {
        return NetParse::kInvalid;
    }
    out.bits = max_bits;
    if (slash == std::string_view::npos) {
        return NetParse::kOk;
    }
    std::string_view mask = text.substr(slash + 1);
    if (!all_digits(mask) || mask.size() > 3) {
        return NetParse::kInvalid;
    }
    int bits = 0;
    for (char c : mask) {
        bits = bits * 10 + (c - '0');
    }
    if (bits > max_bits) {
        return NetParse::kInvalid;
    }
    out.bits = bits;
    bool low_bits = false;
    if (out.family == AF_INET) {
        uint32_t m = prefix_mask<uint32_t>(bits);
        low_bits = (out.v4 & ~m) != 0;
        out.v4 &= m;
    } else {
        Key6 m = prefix_mask<Key6>(bits);
        low_bits = (out.v6 & ~m) != 0;
        out.v6 &= m;
    }
    return low_bits ? NetParse::kLowBits : NetParse::kOk;
}

std::optional<core::SockAddr> parse_addr(std::string_view text) {
    core::SockAddr a;
    if (auto v4 = parse_ipv4(text)) {
        a.storage.in4.sin_family = AF_INET;
        a.storage.in4.sin_addr.s_addr = htonl(*v4);
        a.len = sizeof(sockaddr_in);
        return a;
    }
    uint8_t bytes[16];
    if (parse_ipv6(text, bytes)) {
        a.storage.in6.sin6_family = AF_INET6;
        memcpy(a.storage.in6.sin6_addr.s6_addr, bytes, 16);
        a.len = sizeof(sockaddr_in6);
        return a;
    }
    return std::nullopt;
}

std::optional<core::SockAddr> parse_addr_port(std::string_view text) {
    if (auto a = parse_addr(text)) {
        return a;
    }
    std::string_view host;
    size_t colon;
    if (!text.empty() && text[0] == '[') {
        size_t close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return std::nullopt;
        }
        host = text.substr(1, close - 1);
        colon = close + 1;
    } else {
        colon = text.find(':');
        if (colon == std::string_view::npos) {
            return std::nullopt;
        }
        host = text.substr(0, colon);
    }
    std::string_view port_text = text.substr(colon + 1);
    if (!all_digits(port_text) || port_text.size() > 5) {
        return std::nullopt;
    }
    int port = 0;
    for (char c : port_text) {
        port = port * 10 + (c - '0');
    }
    if (port < 1 || port > 65535) {
        return std::nullopt;
    }
    auto a = parse_addr(host);
    if (!a) {
        return std::nullopt;
    }
    if (a->family() == AF_INET) {
        a->storage.in4.sin_port = htons(static_cast<uint16_t>(port));
    } else {
        a->storage.in6.sin6_port = htons(static_cast<uint16_t>(port));
    }
    return a;
}

std::optional<uint32_t> ipv4_of(const core::SockAddr& a) {
    if (a.family() == AF_INET) {
        return ntohl(a.storage.in4.sin_addr.s_addr);
    }
    if (a.family() == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a.storage.in6.sin6_addr)) {
        const uint8_t* p = a.storage.in6.sin6_addr.s6_addr;
        return (uint32_t{p[12]} << 24) | (uint32_t{p[13]} << 16) | (uint32_t{p[14]} << 8) | p[15];
    }
    return std::nullopt;
}

namespace {

bool trusted(const core::SockAddr& a, const std::vector<core::Cidr>& proxies) {
    for (const core::Cidr& c : proxies) {
        if (c.contains(a)) {
            return true;
        }
    }
    return false;
}

enum class Walk : uint8_t { kOk, kDone, kDeclined };

/// One X-Forwarded-For header, right to left (nginx's ..._forwarded_addr_internal).
Walk walk_header(core::SockAddr& addr, std::string_view list,
                 const std::vector<core::Cidr>& proxies, bool recursive) {
    bool found = false;
    for (;;) {
        if (!trusted(addr, proxies)) {
            return found ? Walk::kDone : Walk::kDeclined;
        }
        // Trailing blanks and commas go (nginx never looks at the first byte for them).
        while (list.size() > 1 && (list.back() == ' ' || list.back() == ',')) {
            list.remove_suffix(1);
        }
        size_t sep = list.find_last_of(" ,");
        size_t start = sep == std::string_view::npos || sep == 0 ? 0 : sep + 1;
        auto parsed = parse_addr_port(list.substr(start));
        if (!parsed) {
            return found ? Walk::kDone : Walk::kDeclined;
        }
        addr = *parsed;
        found = true;
        if (!recursive || start == 0) {
            return Walk::kOk;
        }
        list = list.substr(0, start - 1);
    }
}

}  // namespace

void forwarded_addr(core::SockAddr& addr, std::span<const std::string_view> headers,
                    const std::vector<core::Cidr>& proxies, bool recursive) {
    // The last header first; an earlier one only while every address so far was trusted.
    for (size_t i = headers.size(); i-- > 0;) {
        if (walk_header(addr, headers[i], proxies, recursive) != Walk::kOk || !recursive) {
            return;
        }
    }
}

// ---- the prefix table ----

template <class Key>
uint32_t PrefixTable<Key>::insert(Key key, int bits, uint32_t value) {
    auto [it, fresh] = prefixes_.try_emplace(Prefix{key, bits}, value);
    if (fresh) {
        return kNone;
    }
    uint32_t old = it->second;
    it->second = value;
    return old;
}

template <class Key>
bool PrefixTable<Key>::remove(Key key, int bits) {
    return prefixes_.erase(Prefix{key, bits}) != 0;
}

template <class Key>
uint32_t PrefixTable<Key>::find_slow(Key key) const {
    int best_bits = -1;
    uint32_t best = kNone;
    for (const auto& [p, v] : prefixes_) {
        if (p.bits > best_bits && (key & prefix_mask<Key>(p.bits)) == p.key) {
            best_bits = p.bits;
            best = v;
        }
    }
    return best;
}

template <class Key>
void PrefixTable<Key>::emit(Key start, uint32_t value) {
    if (!starts_.empty() && starts_.back() == start) {
        values_.back() = value;  // a longer prefix starting at the same address
        if (values_.size() >= 2 && values_[values_.size() - 2] == value) {
            starts_.pop_back();
            values_.pop_back();
        }
        return;
    }
    if (!values_.empty() && values_.back() == value) {
        return;
    }
    starts_.push_back(start);
    values_.push_back(value);
}

template <class Key>
void PrefixTable<Key>::compile(uint32_t fallback) {
    struct Span {
        Key start;
        Key end;
        int bits;
        uint32_t value;
    };
    std::vector<Span> spans;
    spans.reserve(prefixes_.size());
    for (const auto& [p, v] : prefixes_) {
        spans.push_back(
            Span{p.key, static_cast<Key>(p.key | ~prefix_mask<Key>(p.bits)), p.bits, v});
    }
    prefixes_ = {};
    // Enclosing prefixes first: by start, then shorter first. Prefixes nest or are disjoint,
    // so a stack of the open ones gives the value after each one ends.
    std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
        return a.start != b.start ? a.start < b.start : a.bits < b.bits;
    });
    starts_.clear();
    values_.clear();
    emit(Key(0), fallback);
    std::vector<Span> open;
    auto close_top = [&] {
        Key after = open.back().end;
        open.pop_back();
        if (after != static_cast<Key>(~Key(0))) {
            emit(static_cast<Key>(after + 1), open.empty() ? fallback : open.back().value);
        }
    };
    for (const Span& s : spans) {
        while (!open.empty() && open.back().end < s.start) {
            close_top();
        }
        emit(s.start, s.value);
        open.push_back(s);
    }
    while (!open.empty()) {
        close_top();
    }
    starts_.shrink_to_fit();
    values_.shrink_to_fit();
}

template <class Key>
uint32_t PrefixTable<Key>::find(Key key) const {
    auto it = std::upper_bound(starts_.begin(), starts_.end(), key);
    return values_[static_cast<size_t>(it - starts_.begin()) - 1];
}

template class PrefixTable<uint32_t>;
template class PrefixTable<Key6>;

// ---- ranges ----

RangeTable::AddResult RangeTable::add(uint32_t start, uint32_t end, uint32_t value) {
    AddResult result;
    for (uint64_t n = start; n <= end; n = (n + 0x10000) & 0xffff0000) {
        auto h = static_cast<uint16_t>(n >> 16);
        auto s = static_cast<uint16_t>(n == start ? n & 0xffff : 0);
        auto e = static_cast<uint16_t>((n | 0xffff) > end ? end & 0xffff : 0xffff);
        std::vector<Piece>& a = chunks_[h];
        size_t at = 0;  // where the new piece goes when nothing is in the way
        bool placed = false;
        for (size_t i = a.size(); i-- > 0;) {
            Piece p = a[i];
            if (e < p.start) {
                continue;
            }
            if (s > p.end) {
                at = i + 1;
                break;
            }
            if (s == p.start && e == p.end) {
                result.what = Added::kDuplicate;  // nginx warns and replaces, then goes on
                result.replaced.push_back(p.value);
                a[i].value = value;
                placed = true;
                break;
            }
            if (s > p.start && e < p.end) {
                a[i].end = static_cast<uint16_t>(s - 1);
                a.insert(a.begin() + static_cast<long>(i) + 1,
                         {Piece{s, e, value}, Piece{static_cast<uint16_t>(e + 1), p.end, p.value}});
                placed = true;
                break;
            }
            if (s == p.start && e < p.end) {
                a[i].start = static_cast<uint16_t>(e + 1);
                a.insert(a.begin() + static_cast<long>(i), Piece{s, e, value});
                placed = true;
                break;
            }
            if (s > p.start && e == p.end) {
                a[i].end = static_cast<uint16_t>(s - 1);
                a.insert(a.begin() + static_cast<long>(i) + 1, Piece{s, e, value});
                placed = true;
                break;
            }
            result.what = Added::kOverlap;
            result.first = (uint32_t{h} << 16) | p.start;
            result.last = (uint32_t{h} << 16) | p.end;
            return result;
        }
        if (!placed) {
            a.insert(a.begin() + static_cast<long>(at), Piece{s, e, value});
        }
        if (h == 0xffff) {
            break;
        }
    }
    return result;
}

bool RangeTable::remove(uint32_t start, uint32_t end) {
    bool all = true;
    for (uint64_t n = start; n <= end; n = (n + 0x10000) & 0xffff0000) {
        auto h = static_cast<uint16_t>(n >> 16);
        auto s = static_cast<uint16_t>(n == start ? n & 0xffff : 0);
        auto e = static_cast<uint16_t>((n | 0xffff) > end ? end & 0xffff : 0xffff);
        auto it = chunks_.find(h);
        bool removed = false;
        if (it != chunks_.end()) {
            std::vector<Piece>& a = it->second;
            for (size_t i = 0; i < a.size(); i++) {
                if (a[i].start == s && a[i].end == e) {
                    a.erase(a.begin() + static_cast<long>(i));
                    removed = true;
                    break;
                }
            }
        }
        all = all && removed;
        if (h == 0xffff) {
            break;
        }
    }
    return all;
}

void RangeTable::compile() {
    starts_.clear();
    ends_.clear();
    values_.clear();
    for (const auto& [h, pieces] : chunks_) {
        for (const Piece& p : pieces) {
            starts_.push_back((uint32_t{h} << 16) | p.start);
            ends_.push_back((uint32_t{h} << 16) | p.end);
            values_.push_back(p.value);
        }
    }
    chunks_.clear();
}

uint32_t RangeTable::find(uint32_t addr, uint32_t fallback) const {
    auto it = std::upper_bound(starts_.begin(), starts_.end(), addr);
    if (it == starts_.begin()) {
        return fallback;
    }
    size_t i = static_cast<size_t>(it - starts_.begin()) - 1;
    return addr <= ends_[i] ? values_[i] : fallback;
}

// ---- one geo block ----

const std::string& Geo::find(const core::SockAddr* addr) const {
    uint32_t v4 = INADDR_NONE;
    if (addr != nullptr) {
        if (auto a = ipv4_of(*addr)) {
            v4 = *a;
        } else if (addr->family() == AF_INET6 && !ranges_) {
            return values_[v6_.find(key6_of(addr->storage.in6.sin6_addr))];
        }
    }
    if (ranges_) {
        return values_[range_table_.find(v4, range_default_)];
    }
    return values_[v4_.find(v4)];
}

}  // namespace geo
