#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace core {

/// An IPv4, IPv6 or unix-domain socket address.
struct SockAddr {
    /// Room for the largest family we use (a unix socket's path: 110 bytes, not
    /// sockaddr_storage's 128). `ss_family` overlays each family's first field.
    struct Storage {
        union {
            sockaddr_un un;
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
    /// "127.0.0.1:8080", "[::1]:80", "unix:/run/app.sock" ("unix:" for an unnamed unix
    /// socket, a unix client's address, as nginx's $remote_addr).
    std::string text() const;
    /// Address without port: "127.0.0.1", "::1"; a unix socket's as text().
    std::string host_text() const;
    /// A unix socket's path ("" for other families and unnamed sockets).
    std::string_view unix_path() const;
    bool operator==(const SockAddr& o) const;

    /// Parses nginx's listen forms: "127.0.0.1:8080", "8080", "*:8080", "[::1]:8080",
    /// "localhost:8080" is not resolved here (nullopt). A missing port takes `default_port`.
    static std::optional<SockAddr> parse(std::string_view text, uint16_t default_port);
    /// A bare IPv4 or IPv6 address ("10.0.0.1", "::1") with `port`.
    static std::optional<SockAddr> from_ip(std::string_view ip, uint16_t port);
    /// A unix socket's address from its path (nginx's `unix:PATH` without the prefix);
    /// nullopt when the path is empty or longer than sun_path holds.
    static std::optional<SockAddr> from_unix_path(std::string_view path);
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
