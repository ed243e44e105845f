#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace core {

/// An IPv4 or IPv6 socket address.
struct SockAddr {
    /// Room for the largest family we use (IPv6: 28 bytes, not sockaddr_storage's 128): every
    /// connection holds one or two of these. `ss_family` overlays each family's first field.
    struct Storage {
        union {
            sockaddr_in6 in6;
            sockaddr_in in4;
            sa_family_t ss_family;
        };
    };
    Storage storage{};
    socklen_t len = 0;

    const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
    sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
    int family() const { return storage.ss_family; }
    uint16_t port() const;
    /// "127.0.0.1:8080", "[::1]:80".
    std::string text() const;
    /// Address without port: "127.0.0.1", "::1".
    std::string host_text() const;
    bool operator==(const SockAddr& o) const;

    /// Parses nginx's listen forms: "127.0.0.1:8080", "8080", "*:8080", "[::1]:8080",
    /// "localhost:8080" is not resolved here (nullopt). A missing port takes `default_port`.
    static std::optional<SockAddr> parse(std::string_view text, uint16_t default_port);
    /// A bare IPv4 or IPv6 address ("10.0.0.1", "::1") with `port`.
    static std::optional<SockAddr> from_ip(std::string_view ip, uint16_t port);
};

/// An address block ("10.0.0.0/8", "::1", "all"), as allow/deny and set_real_ip_from take.
struct Cidr {
    int family = 0;  // 0 = all
    uint8_t addr[16] = {};
    int bits = 0;

    static std::optional<Cidr> parse(std::string_view text);
    bool contains(const SockAddr& a) const;
};

/// Every IPv4/IPv6 address of `host` with `port`, added to `out` without repeats (a blocking
/// getaddrinfo: for configuration time, in the master, as nginx resolves there). False when
/// the name gives none.
bool resolve_host(const std::string& host, uint16_t port, std::vector<SockAddr>& out);

}  // namespace core
