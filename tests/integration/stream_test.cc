// The stream module through the real binary: TCP sessions spread over weighted backends, a
// UDP request/response service, a backend killed mid-test (passive failures and an active
// health check take it out), the PROXY protocol to a backend and from a client, config errors
// with file:line, and the http and stream name spaces of upstream blocks.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "support/harness.h"

namespace halo_test {
namespace {

/// A loopback TCP server: greets with "NAME\n" (or first reads a PROXY line with
/// `read_proxy`), then echoes until the client closes.
class EchoServer {
  public:
    explicit EchoServer(std::string name, bool read_proxy = false)
        : name_(std::move(name)), read_proxy_(read_proxy) {
        port_ = start();
    }
    ~EchoServer() { stop(); }
    uint16_t port() const { return port_; }
    int accepted() const { return accepted_; }
    std::string proxy_line() {
        std::lock_guard<std::mutex> g(mu_);
        return proxy_line_;
    }
    void stop() {
        if (fd_ >= 0) {
            ::shutdown(fd_, SHUT_RDWR);
            ::close(fd_);
            fd_ = -1;
        }
        if (thread_.joinable()) {
            thread_.join();
        }
    }

  private:
    uint16_t start(uint16_t port = 0) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(port);
        ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
        ::listen(fd_, 64);
        socklen_t len = sizeof(a);
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        int lfd = fd_;
        thread_ = std::thread([this, lfd] {
            for (;;) {
                int c = ::accept(lfd, nullptr, nullptr);
                if (c < 0) {
                    return;
                }
                accepted_++;
                std::thread([this, c] { serve(c); }).detach();
            }
        });
        return ntohs(a.sin_port);
    }
    void serve(int c) {
        char buf[65536];
        std::string first;
        if (read_proxy_) {
            while (first.find("\r\n") == std::string::npos) {
                ssize_t n = ::recv(c, buf, 1, 0);
                if (n <= 0) {
                    ::close(c);
                    return;
                }
                first.append(buf, static_cast<size_t>(n));
            }
            std::lock_guard<std::mutex> g(mu_);
            proxy_line_ = first;
        }
        std::string hello = name_ + "\n";
        ::send(c, hello.data(), hello.size(), MSG_NOSIGNAL);
        for (;;) {
            ssize_t n = ::recv(c, buf, sizeof(buf), 0);
            if (n <= 0) {
                break;
            }
            ::send(c, buf, static_cast<size_t>(n), MSG_NOSIGNAL);
        }
        ::close(c);
    }

    std::string name_;
    bool read_proxy_;
    int fd_ = -1;
    uint16_t port_ = 0;
    std::thread thread_;
    std::atomic<int> accepted_{0};
    std::mutex mu_;
    std::string proxy_line_;
};

/// A loopback UDP server answering each datagram with "NAME:" + the datagram.
class UdpEcho {
  public:
    explicit UdpEcho(std::string name) : name_(std::move(name)) {
        fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
        socklen_t len = sizeof(a);
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] {
            char buf[65536];
            for (;;) {
                sockaddr_in from{};
                socklen_t fl = sizeof(from);
                ssize_t n =
                    ::recvfrom(fd_, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &fl);
                if (n <= 0 || stop_) {
                    return;
                }
                std::string out = name_ + ":" + std::string(buf, static_cast<size_t>(n));
                ::sendto(fd_, out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&from), fl);
            }
        });
    }
    ~UdpEcho() {
        stop_ = true;
        ::shutdown(fd_, SHUT_RDWR);
        ::close(fd_);
        thread_.join();
    }
    uint16_t port() const { return port_; }

  private:
    std::string name_;
    int fd_ = -1;
    uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

/// Connects to `port`, sends `prefix` + `data` and reads until `want` bytes came (the
/// backend's greeting line and the echo: the default) or the connection ends; without
/// `proxy_half_close` a client's half-close ends the session (nginx), so it stays open.
std::string tcp_exchange(uint16_t port, std::string_view data, const std::string& prefix = "",
                         size_t want = 0) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
        ::close(fd);
        return "connect failed";
    }
    std::string all = prefix + std::string(data);
    ::send(fd, all.data(), all.size(), MSG_NOSIGNAL);
    std::string out;
    char buf[65536];
    for (;;) {
        ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) {
            break;
        }
        out.append(buf, static_cast<size_t>(n));
        size_t nl = out.find('\n');
        if (nl != std::string::npos && out.size() >= (want != 0 ? want : nl + 1 + data.size())) {
            break;
        }
    }
    ::close(fd);
    return out;
}

/// One datagram to `port` and its answer ("" after 3 s).
std::string udp_exchange(uint16_t port, std::string_view data) {
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    ::sendto(fd, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    pollfd p{fd, POLLIN, 0};
    std::string out;
    if (::poll(&p, 1, 3000) == 1) {
        char buf[65536];
        ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n > 0) {
            out.assign(buf, static_cast<size_t>(n));
        }
    }
    ::close(fd);
    return out;
}

std::string first_line(const std::string& s) {
    return s.substr(0, s.find('\n'));
}

class StreamTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("stream_proxy")) {
            GTEST_SKIP() << "the stream_proxy module is not compiled in";
        }
    }
    std::string conf(std::string_view stream_block, int workers = 1) {
        return "daemon off;\nworker_processes " + std::to_string(workers) +
               ";\nerror_log logs/error.log info;\nevents { worker_connections 256; }\n" +
               std::string(stream_block);
    }
    void expect_emerg(std::string_view stream_block, const std::string& message, int line) {
        halo_.write_conf(conf(stream_block));
        RunResult r = halo_.run({"-t"});
        EXPECT_EQ(r.status, 1) << r;
        std::string want = "halo: [emerg] " + message + " in " + halo_.conf_path() + ":" +
                           std::to_string(line) + "\n";
        EXPECT_NE(r.err.find(want), std::string::npos) << "expected: " << want << r;
    }
    Halo halo_;
};

TEST_F(StreamTest, TcpSessionsFollowTheWeightsOfThreeBackends) {
    EchoServer a("a"), b("b"), c("c");
    halo_.write_conf(
        conf("stream {\n"
             "    upstream be {\n"
             "        server 127.0.0.1:" +
             std::to_string(a.port()) +
             " weight=5;\n"
             "        server 127.0.0.1:" +
             std::to_string(b.port()) +
             ";\n"
             "        server 127.0.0.1:" +
             std::to_string(c.port()) +
             ";\n"
             "    }\n"
             "    server { listen 127.0.0.1:%%PORT_0%%; proxy_pass be; }\n"
             "}\n"));
    ASSERT_TRUE(halo_.start());
    std::string seq;
    for (int i = 0; i < 14; i++) {
        std::string out = tcp_exchange(halo_.port(0), "ping\n");
        ASSERT_EQ(out.substr(out.find('\n') + 1), "ping\n") << out;
        seq += first_line(out);
    }
    // nginx's smooth weighted round robin, 5:1:1: "aabacaa" over and over (the harness's
    // probe of the port took the first pick, so the run starts somewhere in the cycle).
    std::string cycle = "aabacaa";
    EXPECT_NE((cycle + cycle + cycle + cycle).find(seq), std::string::npos) << seq;
}

TEST_F(StreamTest, LargeTransferIsRelayedByteForByte) {
    EchoServer a("a");
    halo_.write_conf(
        conf("stream {\n    server { listen 127.0.0.1:%%PORT_0%%; proxy_pass "
             "127.0.0.1:" +
             std::to_string(a.port()) + "; }\n}\n"));
    ASSERT_TRUE(halo_.start());
    std::string big = pattern_bytes(3 * 1024 * 1024 + 17);  // past the splice threshold
    std::string out = tcp_exchange(halo_.port(0), big);
    ASSERT_EQ(out.size(), 2 + big.size());
    EXPECT_TRUE(out.substr(2) == big);
}

TEST_F(StreamTest, UdpRequestsAreAnsweredAndSpreadOverBackends) {
    UdpEcho u1("u1"), u2("u2");
    uint16_t port = free_port();
    halo_.write_conf(
        conf("stream {\n"
             "    upstream dns {\n"
             "        server 127.0.0.1:" +
             std::to_string(u1.port()) +
             ";\n"
             "        server 127.0.0.1:" +
             std::to_string(u2.port()) +
             ";\n"
             "    }\n"
             "    server {\n"
             "        listen 127.0.0.1:" +
             std::to_string(port) +
             " udp;\n"
             "        proxy_pass dns;\n"
             "        proxy_responses 1;\n"
             "        proxy_timeout 2s;\n"
             "    }\n"
             "}\n"));
    ASSERT_TRUE(halo_.start());
    std::map<std::string, int> seen;
    for (int i = 0; i < 6; i++) {
        std::string q = "query" + std::to_string(i);
        std::string out;
        ASSERT_TRUE(wait_until([&] { return !(out = udp_exchange(port, q)).empty(); }));
        ASSERT_EQ(out.substr(out.find(':') + 1), q);
        seen[out.substr(0, out.find(':'))]++;
    }
    EXPECT_EQ(seen["u1"], 3);
    EXPECT_EQ(seen["u2"], 3);
}

TEST_F(StreamTest, AKilledBackendIsTakenOutAndTheActiveCheckMarksItDown) {
    if (!halo_has_module("http_healthcheck")) {
        GTEST_SKIP() << "no healthcheck module";
    }
    EchoServer a("a"), b("b");
    auto dead = std::make_unique<EchoServer>("dead");
    uint16_t dead_port = dead->port();
    halo_.write_conf(
        conf("stream {\n"
             "    upstream be {\n"
             "        server 127.0.0.1:" +
                 std::to_string(a.port()) +
                 ";\n"
                 "        server 127.0.0.1:" +
                 std::to_string(dead_port) +
                 ";\n"
                 "        server 127.0.0.1:" +
                 std::to_string(b.port()) +
                 ";\n"
                 "        health_check type=tcp interval=200ms fall=1 rise=1;\n"
                 "    }\n"
                 "    server { listen 127.0.0.1:%%PORT_0%%; proxy_pass be; }\n"
                 "}\n",
             2));
    ASSERT_TRUE(halo_.start());
    dead->stop();  // killed mid-test: its port refuses
    // The health check notices it, and every new session goes to the two others.
    ASSERT_TRUE(wait_until([&] {
        return halo_.error_log().find("127.0.0.1:" + std::to_string(dead_port) +
                                      "\" in upstream \"be\" is down") != std::string::npos ||
               halo_.error_log().find("127.0.0.1:" + std::to_string(dead_port) +
                                      " in upstream \"be\" is down") != std::string::npos;
    })) << halo_.error_log();
    for (int i = 0; i < 10; i++) {
        std::string line = first_line(tcp_exchange(halo_.port(0), "x"));
        EXPECT_TRUE(line == "a" || line == "b") << line;
    }
}

TEST_F(StreamTest, ARefusingBackendIsSkippedForTheNextOne) {
    EchoServer a("a");
    uint16_t closed = free_port();
    halo_.write_conf(
        conf("stream {\n"
             "    upstream be {\n"
             "        server 127.0.0.1:" +
             std::to_string(closed) +
             ";\n"
             "        server 127.0.0.1:" +
             std::to_string(a.port()) +
             ";\n"
             "    }\n"
             "    server { listen 127.0.0.1:%%PORT_0%%; proxy_pass be; }\n"
             "}\n"));
    ASSERT_TRUE(halo_.start());
    for (int i = 0; i < 4; i++) {
        EXPECT_EQ(first_line(tcp_exchange(halo_.port(0), "x")), "a");
    }
    EXPECT_NE(halo_.error_log().find("connect() failed (111: Connection refused) while "
                                     "connecting to upstream"),
              std::string::npos)
        << halo_.error_log();
}

TEST_F(StreamTest, ProxyProtocolGoesToTheBackendAndComesFromTheClient) {
    EchoServer pp("pp", true);
    halo_.write_conf(
        conf("stream {\n"
             "    server {\n"
             "        listen 127.0.0.1:%%PORT_0%%;\n"
             "        proxy_pass 127.0.0.1:" +
             std::to_string(pp.port()) +
             ";\n"
             "        proxy_protocol on;\n"
             "    }\n"
             "    server {\n"
             "        listen 127.0.0.1:%%PORT_1%% proxy_protocol;\n"
             "        proxy_pass 127.0.0.1:" +
             std::to_string(pp.port()) +
             ";\n"
             "        proxy_protocol on;\n"
             "    }\n"
             "}\n"));
    ASSERT_TRUE(halo_.start());
    std::string out = tcp_exchange(halo_.port(0), "data");
    EXPECT_EQ(out, "pp\ndata");
    std::string line = pp.proxy_line();
    EXPECT_EQ(line.substr(0, 21), "PROXY TCP4 127.0.0.1 ") << line;
    EXPECT_NE(line.find(" " + std::to_string(halo_.port(0)) + "\r\n"), std::string::npos) << line;
    // A client's own PROXY header is read and taken off the bytes.
    out = tcp_exchange(halo_.port(1), "more", "PROXY TCP4 192.0.2.7 127.0.0.1 4000 80\r\n");
    EXPECT_EQ(out, "pp\nmore");
    // A broken one ends the session.
    out = tcp_exchange(halo_.port(1), "GET / HTTP/1.0\r\n\r\n");
    EXPECT_EQ(out, "");
    EXPECT_NE(halo_.error_log().find("broken header"), std::string::npos) << halo_.error_log();
}

TEST_F(StreamTest, ConfigErrorsNameTheLine) {
    expect_emerg("stream {\n    server { proxy_pass 127.0.0.1:1; }\n}\n",
                 "no \"listen\" is defined for server", 6);
    expect_emerg("stream {\n    server {\n        listen 127.0.0.1;\n    }\n}\n",
                 "no port in \"127.0.0.1\" of the \"listen\" directive", 7);
    expect_emerg(
        "stream {\n    upstream u {\n        server 127.0.0.1:1;\n        keepalive 4;\n"
        "    }\n}\n",
        "\"keepalive\" directive is not allowed in a stream upstream (an L4 session is "
        "one connection, never reused)",
        8);
    expect_emerg("stream {\n    upstream u {\n        server 127.0.0.1;\n    }\n}\n",
                 "no port in upstream \"127.0.0.1\"", 7);
    expect_emerg("stream {\n    server {\n        listen 1234 udp backlog=10;\n    }\n}\n",
                 "\"backlog\" parameter is incompatible with \"udp\"", 7);
    expect_emerg("stream {\n    server { listen 1234; }\n    server { listen 1234; }\n}\n",
                 "duplicate \"0.0.0.0:1234\" address and port pair", 7);
}

TEST_F(StreamTest, HttpAndStreamUpstreamsHaveTheirOwnNames) {
    EchoServer a("a");
    halo_.write_conf(
        conf("http {\n"
             "    upstream be { server 127.0.0.1:1; }\n"
             "    server { listen 127.0.0.1:%%PORT_1%%; location / { proxy_pass "
             "http://be; } }\n"
             "}\n"
             "stream {\n"
             "    upstream be { server 127.0.0.1:" +
             std::to_string(a.port()) +
             "; }\n"
             "    server { listen 127.0.0.1:%%PORT_0%%; proxy_pass be; }\n"
             "}\n"));
    ASSERT_TRUE(halo_.start());
    EXPECT_EQ(first_line(tcp_exchange(halo_.port(0), "x")), "a");
}

}  // namespace
}  // namespace halo_test
