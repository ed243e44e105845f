#pragma once

// What the geo and split_clients integration tests share: clients that connect from a chosen
// loopback address (127.x.y.z are all local on Linux; ::1), keepalive GET loops, the main
// config lines, and the http and stream fixtures (self-skipping without the modules).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <string_view>
#include <vector>

#include "support/harness.h"
#include "support/stream_backend.h"

namespace halo_test {

/// A TCP connection to 127.0.0.1:port from `source` (any 127.x address, port chosen by the
/// kernel); -1 on failure.
inline int connect_from(const std::string& source, uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    inet_pton(AF_INET, source.c_str(), &a.sin_addr);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
        ::close(fd);
        return -1;
    }
    a.sin_port = htons(port);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

/// A TCP connection to [::1]:port (from ::1); -1 on failure (no IPv6 loopback).
inline int connect6(uint16_t port) {
    int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    a.sin6_port = htons(port);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

/// Sends `data` from `source` and reads until the server closes (or `want` bytes came).
inline std::string exchange_from(const std::string& source, uint16_t port, std::string_view data,
                                 size_t want = SIZE_MAX) {
    int fd = source == "::1" ? connect6(port) : connect_from(source, port);
    if (fd < 0) {
        return "<connect failed>";
    }
    send_all(fd, data);
    std::string out;
    char buf[4096];
    while (out.size() < want) {
        ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) {
            break;
        }
        out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
}

/// The body of GET `path` from `source` (with `headers` lines, each ending in CRLF).
inline std::string body_from(const std::string& source, uint16_t port, std::string_view path,
                             std::string_view headers = {}) {
    std::string req = "GET " + std::string(path) + " HTTP/1.1\r\nHost: t\r\n" +
                      std::string(headers) + "Connection: close\r\n\r\n";
    std::string raw = exchange_from(source, port, req);
    size_t end = raw.find("\r\n\r\n");
    return end == std::string::npos ? "<no response: " + raw + ">" : raw.substr(end + 4);
}

/// Bodies of GET `paths` over keepalive connections to 127.0.0.1:port (a new one every 200
/// requests: nginx closes after keepalive_requests).
inline std::vector<std::string> bodies(uint16_t port, const std::vector<std::string>& paths) {
    std::vector<std::string> out;
    HttpConnection c;
    for (size_t i = 0; i < paths.size(); i++) {
        if (i % 200 == 0) {
            c.close();
            if (!c.connect(port)) {
                out.push_back("<connect: " + c.error() + ">");
                continue;
            }
        }
        c.send(get_request(paths[i], "t", true));
        auto r = c.read_response();
        out.push_back(r ? r->body : "<error: " + c.error() + ">");
    }
    return out;
}

inline constexpr std::string_view kMain =
    "daemon off;\nworker_processes 2;\nerror_log logs/error.log info;\n"
    "events { worker_connections 256; }\n";

class GeoSplitClientsTest : public ::testing::Test {
  protected:
    void SetUp() override {
        for (const char* m : {"http_geo", "http_split_clients", "http_rewrite", "http_realip"}) {
            if (!halo_has_module(m)) {
                GTEST_SKIP() << "the " << m << " module is not compiled in";
            }
        }
    }
    void start(std::string_view http_block) {
        halo_.write_conf(std::string(kMain) + std::string(http_block));
        ASSERT_TRUE(halo_.start());
    }
    RunResult check(std::string_view rest) {
        halo_.write_conf(std::string(kMain) + std::string(rest));
        return halo_.run({"-t"});
    }
    void expect_emerg(std::string_view rest, const std::string& message, int line) {
        RunResult r = check(rest);
        EXPECT_EQ(r.status, 1) << r;
        std::string want = "halo: [emerg] " + message + " in " + halo_.conf_path() + ":" +
                           std::to_string(line) + "\n";
        EXPECT_NE(r.err.find(want), std::string::npos) << "expected: " << want << r;
    }
    Halo halo_;
};

class StreamGeoTest : public GeoSplitClientsTest {
  protected:
    void SetUp() override {
        for (const char* m : {"stream_geo", "stream_split_clients", "stream_proxy", "stream_log",
                              "stream_map", "http_split_clients", "http_rewrite"}) {
            if (!halo_has_module(m)) {
                GTEST_SKIP() << "the " << m << " module is not compiled in";
            }
        }
    }
};

/// MurmurHash2 as nginx's ngx_murmur_hash2, written again for the test.
inline uint32_t murmur2(std::string_view d) {
    const uint32_t m = 0x5bd1e995;
    uint32_t h = static_cast<uint32_t>(d.size());
    size_t i = 0;
    for (; i + 4 <= d.size(); i += 4) {
        uint32_t k = 0;
        for (int j = 3; j >= 0; j--) {
            k = (k << 8) | static_cast<unsigned char>(d[i + j]);
        }
        k *= m;
        k ^= k >> 24;
        k *= m;
        h = (h * m) ^ k;
    }
    size_t rest = d.size() - i;
    if (rest > 0) {
        for (size_t j = rest; j-- > 0;) {
            h ^= static_cast<uint32_t>(static_cast<unsigned char>(d[i + j])) << (8 * j);
        }
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

}  // namespace halo_test
