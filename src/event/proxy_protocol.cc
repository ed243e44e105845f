// The PROXY protocol header (HAProxy's spec, versions 1 and 2): parsed for http and stream
// listeners that say `proxy_protocol`.
#include "event/proxy_protocol.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "core/conf_context.h"

namespace ev {
namespace {

// Spec §2.1: a v1 line is at most 107 bytes with its CRLF.
constexpr size_t kV1Max = 107;
// Spec §2.2: the v2 signature, then version/command, family/protocol, length (big endian).
constexpr unsigned char kV2Sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                      0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

ProxyParse parse_v1(std::string_view in, ProxyHeader& out, size_t& consumed) {
    size_t end = in.find("\r\n");
    if (end == std::string_view::npos) {
        return in.size() >= kV1Max ? ProxyParse::kBad : ProxyParse::kIncomplete;
    }
    if (end + 2 > kV1Max) {
        return ProxyParse::kBad;
    }
    std::string_view line = in.substr(6, end - 6);  // after "PROXY "
    consumed = end + 2;
    if (line.substr(0, 7) == "UNKNOWN") {
        out.has_addrs = false;
        return ProxyParse::kDone;
    }
    std::string_view fields[4];
    std::string_view proto = line.substr(0, 4);
    if (proto != "TCP4" && proto != "TCP6") {
        return ProxyParse::kBad;
    }
    line.remove_prefix(4);
    for (std::string_view& f : fields) {
        if (line.empty() || line[0] != ' ') {
            return ProxyParse::kBad;
        }
        line.remove_prefix(1);
        size_t sp = line.find(' ');
        f = line.substr(0, sp);
        line = sp == std::string_view::npos ? std::string_view() : line.substr(sp);
    }
    if (!line.empty()) {
        return ProxyParse::kBad;
    }
    auto sport = core::parse_int(fields[2]);
    auto dport = core::parse_int(fields[3]);
    if (!sport || !dport || *sport > 65535 || *dport > 65535) {
        return ProxyParse::kBad;
    }
    auto src = core::SockAddr::from_ip(fields[0], static_cast<uint16_t>(*sport));
    auto dst = core::SockAddr::from_ip(fields[1], static_cast<uint16_t>(*dport));
    int family = proto == "TCP4" ? AF_INET : AF_INET6;
    if (!src || !dst || src->family() != family || dst->family() != family) {
        return ProxyParse::kBad;
    }
    out.src = *src;
    out.dst = *dst;
    out.has_addrs = true;
    return ProxyParse::kDone;
}

core::SockAddr inet_addr(int family, const unsigned char* addr, const unsigned char* port) {
    core::SockAddr a;
    uint16_t p = static_cast<uint16_t>((port[0] << 8) | port[1]);
    if (family == AF_INET) {
        a.storage.in4.sin_family = AF_INET;
        memcpy(&a.storage.in4.sin_addr, addr, 4);
        a.storage.in4.sin_port = htons(p);
        a.len = sizeof(sockaddr_in);
    } else {
        a.storage.in6.sin6_family = AF_INET6;
        memcpy(&a.storage.in6.sin6_addr, addr, 16);
        a.storage.in6.sin6_port = htons(p);
        a.len = sizeof(sockaddr_in6);
    }
    return a;
}

/// The addresses of a v2 TCP header whose address block `a` has `len` bytes: the source and
/// destination addresses, then their ports.
bool read_tcp_addrs(int family, const unsigned char* a, size_t len, ProxyHeader& out) {
    size_t n = family == AF_INET ? 4 : 16;
    if (len < 2 * n + 4) {
        return false;
    }
    out.src = inet_addr(family, a, a + 2 * n);
    out.dst = inet_addr(family, a + n, a + 2 * n + 2);
    out.has_addrs = true;
    return true;
}

ProxyParse parse_v2(std::string_view in, ProxyHeader& out, size_t& consumed) {
    if (in.size() < 16) {
        return ProxyParse::kIncomplete;
    }
    auto* b = reinterpret_cast<const unsigned char*>(in.data());
    if ((b[12] & 0xF0) != 0x20) {
        return ProxyParse::kBad;  // version 2 only
    }
    size_t len = static_cast<size_t>((b[14] << 8) | b[15]);
    if (in.size() < 16 + len) {
        return ProxyParse::kIncomplete;
    }
    consumed = 16 + len;
    out.has_addrs = false;
    int command = b[12] & 0x0F;
    if (command == 0) {
        return ProxyParse::kDone;  // LOCAL: the balancer's own connection (health check)
    }
    if (command != 1) {
        return ProxyParse::kBad;
    }
    // 0x11 TCP over IPv4, 0x21 TCP over IPv6; UNSPEC, UDP, unix: the connection's own
    // addresses stand (as nginx).
    int family = b[13] == 0x11 ? AF_INET : b[13] == 0x21 ? AF_INET6 : AF_UNSPEC;
    if (family != AF_UNSPEC && !read_tcp_addrs(family, b + 16, len, out)) {
        return ProxyParse::kBad;
    }
    return ProxyParse::kDone;
}
}  // namespace

ProxyParse parse_proxy_header(std::string_view in, ProxyHeader& out, size_t& consumed) {
    size_t n = std::min(in.size(), sizeof(kV2Sig));
    if (n > 0 && memcmp(in.data(), kV2Sig, n) == 0) {
        return n < sizeof(kV2Sig) ? ProxyParse::kIncomplete : parse_v2(in, out, consumed);
    }
    n = std::min<size_t>(in.size(), 6);
    if (in.substr(0, n) != std::string_view("PROXY ").substr(0, n)) {
        return ProxyParse::kBad;
    }
    return n < 6 ? ProxyParse::kIncomplete : parse_v1(in, out, consumed);
}

}  // namespace ev
