#include "core/net.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <algorithm>

#include <cstddef>
#include <cstring>

#include "core/conf_context.h"

namespace core {

uint16_t SockAddr::port() const {
    if (family() != AF_INET && family() != AF_INET6) {
        return 0;
    }
    if (family() == AF_INET) {
        return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
    }
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
}

std::string SockAddr::host_text() const {
    char buf[INET6_ADDRSTRLEN] = {0};
    if (family() == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, buf,
                  sizeof(buf));
    } else if (family() == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, buf,
                  sizeof(buf));
    } else if (family() == AF_UNIX) {
        return text();
    }
    return buf;
}

std::string_view SockAddr::unix_path() const {
    constexpr size_t kPathAt = offsetof(sockaddr_un, sun_path);
    if (family() != AF_UNIX || len <= kPathAt || storage.un.sun_path[0] == '\0') {
        return {};
    }
    size_t max = std::min<size_t>(len - kPathAt, sizeof(storage.un.sun_path));
    return std::string_view(storage.un.sun_path, strnlen(storage.un.sun_path, max));
}

std::string SockAddr::text() const {
    if (family() == AF_UNIX) {
        // nginx: "unix:/path" for a named socket (an upstream), "unix:" for a unix client.
        return "unix:" + std::string(unix_path());
    }
    if (family() == AF_INET6) {
        return "[" + host_text() + "]:" + std::to_string(port());
    }
    return host_text() + ":" + std::to_string(port());
}

bool SockAddr::operator==(const SockAddr& o) const {
    return len == o.len && memcmp(&storage, &o.storage, len) == 0;
}

std::optional<SockAddr> SockAddr::parse(std::string_view text, uint16_t default_port) {
    std::string host;
    std::string_view port_text;
    if (!text.empty() && text[0] == '[') {
        size_t close = text.find(']');
        if (close == std::string_view::npos) {
            return std::nullopt;
        }
        host = std::string(text.substr(1, close - 1));
        std::string_view rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest[0] != ':') {
                return std::nullopt;
            }
            port_text = rest.substr(1);
        }
        if (host.empty()) {
            return std::nullopt;
        }
    } else {
        size_t colon = text.rfind(':');
        if (colon != std::string_view::npos) {
            host = std::string(text.substr(0, colon));
            port_text = text.substr(colon + 1);
        } else if (parse_int(text)) {
            port_text = text;
        } else {
            host = std::string(text);
        }
    }
    uint16_t port = default_port;
    bool bracketed = !text.empty() && text[0] == '[';
    bool port_given = !port_text.empty() ||
                      (bracketed ? text.back() != ']' : text.find(':') != std::string_view::npos);
    if (port_given) {
        auto p = parse_int(port_text);
        if (!p || *p < 1 || *p > 65535) {
            return std::nullopt;
        }
        port = static_cast<uint16_t>(*p);
    }
    return from_ip(host.empty() || host == "*" ? "0.0.0.0" : host, port);
}

std::optional<SockAddr> SockAddr::from_ip(std::string_view ip, uint16_t port) {
    std::string host(ip);
    SockAddr a;
    auto* in = reinterpret_cast<sockaddr_in*>(&a.storage);
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
    if (inet_pton(AF_INET, host.c_str(), &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        a.len = sizeof(sockaddr_in);
        return a;
    }
    if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        a.len = sizeof(sockaddr_in6);
        return a;
    }
    return std::nullopt;
}

std::optional<SockAddr> SockAddr::from_unix_path(std::string_view path) {
    SockAddr a;
    if (path.empty() || path.size() >= sizeof(a.storage.un.sun_path)) {
        return std::nullopt;
    }
    a.storage.un.sun_family = AF_UNIX;
    memcpy(a.storage.un.sun_path, path.data(), path.size());
    a.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
    return a;
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
    Cidr c;
    if (text == "all") {
        return c;
    }
    size_t slash = text.find('/');
    std::string host(text.substr(0, slash));
    int max_bits = 0;
    if (inet_pton(AF_INET, host.c_str(), c.addr) == 1) {
        c.family = AF_INET;
        max_bits = 32;
    } else if (inet_pton(AF_INET6, host.c_str(), c.addr) == 1) {
        c.family = AF_INET6;
        max_bits = 128;
    } else {
        return std::nullopt;
    }
    c.bits = max_bits;
    if (slash != std::string_view::npos) {
        auto b = parse_int(text.substr(slash + 1));
        if (!b || *b > max_bits) {
            return std::nullopt;
        }
        c.bits = static_cast<int>(*b);
    }
    // Clear host bits, as nginx does ("low address bits ... are meaningless" is only a warning).
    for (int i = c.bits; i < max_bits; i++) {
        c.addr[i / 8] &= static_cast<uint8_t>(~(0x80 >> (i % 8)));
    }
    return c;
}

bool Cidr::contains(const SockAddr& a) const {
    if (family == 0) {
        return true;
    }
    const uint8_t* bytes = nullptr;
    uint8_t mapped[4];
    if (a.family() == AF_INET && family == AF_INET) {
        bytes = reinterpret_cast<const uint8_t*>(
            &reinterpret_cast<const sockaddr_in*>(&a.storage)->sin_addr);
    } else if (a.family() == AF_INET6) {
        const auto* in6 = &reinterpret_cast<const sockaddr_in6*>(&a.storage)->sin6_addr;
        if (family == AF_INET6) {
            bytes = in6->s6_addr;
        } else if (IN6_IS_ADDR_V4MAPPED(in6)) {
            memcpy(mapped, in6->s6_addr + 12, 4);
            bytes = mapped;
        }
    }
    if (bytes == nullptr) {
        return false;
    }
    for (int i = 0; i < bits; i++) {
        int mask = 0x80 >> (i % 8);
        if ((bytes[i / 8] & mask) != (addr[i / 8] & mask)) {
            return false;
        }
    }
    return true;
}

bool resolve_host(const std::string& host, uint16_t port, std::vector<core::SockAddr>& out) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || res == nullptr) {
        return false;
    }
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) {
            continue;
        }
        core::SockAddr a;
        memcpy(&a.storage, ai->ai_addr, ai->ai_addrlen);
        a.len = ai->ai_addrlen;
        if (ai->ai_family == AF_INET) {
            reinterpret_cast<sockaddr_in*>(&a.storage)->sin_port = htons(port);
        } else {
            reinterpret_cast<sockaddr_in6*>(&a.storage)->sin6_port = htons(port);
        }
        if (std::find(out.begin(), out.end(), a) == out.end()) {
            out.push_back(a);
        }
    }
    freeaddrinfo(res);
    return !out.empty();
}

}  // namespace core
