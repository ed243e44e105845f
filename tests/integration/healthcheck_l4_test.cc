// Active health checks of L4 services through the real binary: `type=tcp` with send= and
// expect= against a line server written here (answers "+OK" to "PING\r\n", or garbage, or
// nothing, or closes), and `type=udp` against a datagram echo written here that can be made
// silent, answer the wrong thing, or be stopped (its port then answers with ICMP port
// unreachable), and against the test DNS server (tests/support/dns_server.h) with the DNS
// query of docs/healthcheck.md. Then the same servers behind the stream proxy (TCP and UDP):
// the session that would have gone to a server its check took out goes to the other one. The groups
// are http upstream groups whose servers are not HTTP at all (what a stream upstream will hold);
// what a check finds is read on the status page (JSON and Prometheus) and in the error log.
//
// Checks run every 100ms with timeouts long enough (1s) that a healthy server on a loaded
// machine does not fail them; every wait polls with a generous deadline, nothing asserts how
// fast a transition comes.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/dns_server.h"
#include "support/harness.h"
#include "support/json.h"
#include "support/prometheus.h"

namespace halo_test {
namespace {

// ---- test servers ----

/// A socket on 127.0.0.1:`port` (0: any) of `type`, bound (and listening for TCP); -1 on error.
int bound_socket(int type, uint16_t port) {
    int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        (type == SOCK_STREAM && ::listen(fd, 64) != 0)) {
        ::close(fd);
        return -1;
    }
    return fd;
}

uint16_t local_port(int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof(a);
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
}

/// A thread polling one socket until stop(): `on_ready` runs for each readiness of it (and
/// of the extra descriptors it adds through `extra`).
class PollThread {
  public:
    ~PollThread() { stop(); }

    void run(std::function<void(std::vector<pollfd>&)> step) {
        if (pipe2(wake_, O_CLOEXEC) != 0) {
            return;
        }
        thread_ = std::thread([this, step = std::move(step)] {
            std::vector<pollfd> fds;
            for (;;) {
                fds.clear();
                fds.push_back({wake_[0], POLLIN, 0});
                step(fds);  // adds its descriptors (first call: no revents)
                if (::poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR) {
                    return;
                }
                if (fds[0].revents != 0) {
                    return;
                }
                step(fds);  // handles what is ready
            }
        });
    }
    void stop() {
        if (thread_.joinable()) {
            ssize_t n = ::write(wake_[1], "x", 1);
            (void)n;
            thread_.join();
        }
        for (int& fd : wake_) {
            if (fd >= 0) {
                ::close(fd);
                fd = -1;
            }
        }
    }

  private:
    int wake_[2] = {-1, -1};
    std::thread thread_;
};

/// A TCP line server: reads a line (up to "\r\n") on each connection and answers as set.
class LineServer {
  public:
    enum class Mode { kOk, kGarbage, kGarbageKeepOpen, kSilent, kClose };

    LineServer() {
        fd_ = bound_socket(SOCK_STREAM, 0);
        port_ = fd_ >= 0 ? local_port(fd_) : 0;
        start();
    }
    ~LineServer() { stop(); }

    void set(Mode m) { mode_ = m; }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    /// The lines received so far (without their "\r\n").
    std::vector<std::string> lines() {
        std::lock_guard<std::mutex> lock(mu_);
        return lines_;
    }
    int line_count() { return static_cast<int>(lines().size()); }

  private:
    void start() {
        if (fd_ < 0) {
            return;
        }
        thread_.run([this](std::vector<pollfd>& fds) {
            if (fds.size() == 1) {  // adding
                fds.push_back({fd_, POLLIN, 0});
                for (const auto& c : conns_) {
                    fds.push_back({c.first, POLLIN, 0});
                }
                return;
            }
            for (size_t i = 1; i < fds.size(); i++) {
                if (fds[i].revents == 0) {
                    continue;
                }
                if (fds[i].fd == fd_) {
                    int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
                    if (c >= 0) {
                        conns_[c];
                    }
                    continue;
                }
                serve(fds[i].fd);
            }
        });
    }

    void serve(int c) {
        char buf[512];
        ssize_t n = ::recv(c, buf, sizeof(buf), 0);
        if (n < 0 && errno == EAGAIN) {
            return;
        }
        if (n <= 0) {
            ::close(c);
            conns_.erase(c);
            return;
        }
        std::string& in = conns_[c];
        in.append(buf, static_cast<size_t>(n));
        size_t eol = in.find("\r\n");
        if (eol == std::string::npos) {
            return;
        }
        {
            std::lock_guard<std::mutex> lock(mu_);
            lines_.push_back(in.substr(0, eol));
        }
        in.clear();
        switch (mode_.load()) {
            case Mode::kOk:
                (void)!::send(c, "+OK\r\n", 5, MSG_NOSIGNAL);
                break;
            case Mode::kGarbage:
                (void)!::send(c, "-ERR unknown\r\n", 14, MSG_NOSIGNAL);
                break;
            case Mode::kGarbageKeepOpen:
                (void)!::send(c, "-ERR unknown\r\n", 14, MSG_NOSIGNAL);
                return;
            case Mode::kSilent:
                return;  // keeps the connection until the checker closes it
            case Mode::kClose:
                break;
        }
        ::close(c);
        conns_.erase(c);
    }

    void stop() {
        thread_.stop();
        for (const auto& c : conns_) {
            ::close(c.first);
        }
        conns_.clear();
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }

    int fd_ = -1;
    uint16_t port_ = 0;
    std::atomic<Mode> mode_{Mode::kOk};
    std::map<int, std::string> conns_;  // the poll thread's
    std::mutex mu_;
    std::vector<std::string> lines_;
    PollThread thread_;
};

/// A UDP server on a fixed port: echoes each datagram, answers "nope", or says nothing; when
/// stopped its port is closed (the kernel answers with ICMP port unreachable).
class UdpServer {
  public:
    enum class Mode { kEcho, kWrong, kSilent };

    UdpServer() {
        int fd = bound_socket(SOCK_DGRAM, 0);
        port_ = fd >= 0 ? local_port(fd) : 0;
        start(fd);
    }
    ~UdpServer() { stop(); }

    void set(Mode m) { mode_ = m; }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    std::vector<std::string> datagrams() {
        std::lock_guard<std::mutex> lock(mu_);
        return datagrams_;
    }
    int count() { return static_cast<int>(datagrams().size()); }
    void stop() {
        thread_.stop();
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }
    /// Binds the same port again.
    bool restart() {
        stop();
        int fd = bound_socket(SOCK_DGRAM, port_);
        start(fd);
        return fd >= 0;
    }

  private:
    void start(int fd) {
        fd_ = fd;
        if (fd_ < 0) {
            return;
        }
        thread_.run([this](std::vector<pollfd>& fds) {
            if (fds.size() == 1) {
                fds.push_back({fd_, POLLIN, 0});
                return;
            }
            if (fds[1].revents == 0) {
                return;
            }
            char buf[2048];
            sockaddr_storage from{};
            socklen_t len = sizeof(from);
            ssize_t n = ::recvfrom(fd_, buf, sizeof(buf), MSG_DONTWAIT,
                                   reinterpret_cast<sockaddr*>(&from), &len);
            if (n < 0) {
                return;
            }
            {
                std::lock_guard<std::mutex> lock(mu_);
                datagrams_.emplace_back(buf, static_cast<size_t>(n));
            }
            const sockaddr* to = reinterpret_cast<const sockaddr*>(&from);
            switch (mode_.load()) {
                case Mode::kEcho:
                    (void)!::sendto(fd_, buf, static_cast<size_t>(n), 0, to, len);
                    break;
                case Mode::kWrong:
                    (void)!::sendto(fd_, "nope", 4, 0, to, len);
                    break;
                case Mode::kSilent:
                    break;
            }
        });
    }

    int fd_ = -1;
    uint16_t port_ = 0;
    std::atomic<Mode> mode_{Mode::kEcho};
    std::mutex mu_;
    std::vector<std::string> datagrams_;
    PollThread thread_;
};

// ---- halo ----

constexpr std::string_view kConf = R"(
daemon off;
worker_processes 1;
error_log logs/error.log info;

events {
    worker_connections 64;
}

http {
    upstream tcpapp {
        server %%T0%%;
        server %%T1%%;
        health_check %%TCP_CHECK%%;
    }
    upstream udpapp {
        server %%U0%%;
        server %%U1%%;
        health_check %%UDP_CHECK%%;
    }

    server {
        listen 127.0.0.1:%%PORT_0%%;
        location = /status { status; }
        location = /metrics { status format=prometheus; }
    }
}
)";

constexpr std::string_view kTcpCheck =
    R"(type=tcp "send=PING\r\n" expect=+OK interval=100ms timeout=1s fall=2 rise=2)";

// A DNS-shaped probe: a 2-byte id first, matched back by a regex (PCRE2 reads \x00 itself).
constexpr std::string_view kUdpCheck =
    R"("send=\x00\x2aHALO\r\n" "expect=~^\x00\x2aHALO" interval=100ms timeout=1s fall=2 rise=1)";

std::string replace_all(std::string text, const std::string& key, const std::string& value) {
    for (size_t at = 0; (at = text.find(key, at)) != std::string::npos; at += value.size()) {
        text.replace(at, key.size(), value);
    }
    return text;
}

class HealthCheckL4Test : public ::testing::Test {
  protected:
    void SetUp() override {
        for (const char* m : {"http_healthcheck", "http_upstream", "http_status"}) {
            if (!halo_has_module(m)) {
                GTEST_SKIP() << "the " << m << " module is not compiled in";
            }
        }
    }

    void start(std::string_view udp_check = kUdpCheck, std::string_view tcp_check = kTcpCheck) {
        std::string conf(kConf);
        conf = replace_all(conf, "%%TCP_CHECK%%", std::string(tcp_check));
        conf = replace_all(conf, "%%UDP_CHECK%%", "type=udp " + std::string(udp_check));
        conf = replace_all(conf, "%%T0%%", t0_.address());
        conf = replace_all(conf, "%%T1%%", t1_.address());
        conf = replace_all(conf, "%%U0%%", u0_.address());
        conf = replace_all(conf, "%%U1%%", u1_.address());
        halo_.write_conf(conf);
        ASSERT_TRUE(halo_.start());
        ASSERT_EQ(halo_.wait_workers(2).size(), 2u) << halo_.error_log();  // worker + helper
    }

    std::optional<Json> json() {
        auto r = http_get(halo_.port(0), "/status");
        if (!r || r->status != 200) {
            return std::nullopt;
        }
        return Json::parse(r->body);
    }
    /// The status page's entry of upstream `group`, peer `addr` (a copy), when it is there.
    std::optional<Json> peer(const std::string& group, const std::string& addr) {
        std::optional<Json> j = json();
        if (!j) {
            return std::nullopt;
        }
        for (const Json& u : (*j)["upstreams"].items()) {
            if (u["name"].str() != group) {
                continue;
            }
            for (const Json& p : u["peers"].items()) {
                if (p["server"].str() == addr) {
                    return p;
                }
            }
        }
        return std::nullopt;
    }
    std::optional<Json> upstream(const std::string& group) {
        std::optional<Json> j = json();
        if (j) {
            for (const Json& u : (*j)["upstreams"].items()) {
                if (u["name"].str() == group) {
                    return u;
                }
            }
        }
        return std::nullopt;
    }
    /// Waits until the status page shows the peer in `state` ("up", "down").
    bool shown(const std::string& group, const std::string& addr, const std::string& state) {
        return wait_until([&] {
            auto p = peer(group, addr);
            return p && p->is_object() && (*p)["state"].str() == state;
        });
    }
    /// halo_upstream_peer_up of the peer, from the Prometheus text.
    std::optional<double> prom_up(const std::string& group, const std::string& addr) {
        auto r = http_get(halo_.port(0), "/metrics");
        if (!r || r->status != 200) {
            return std::nullopt;
        }
        auto p = PromText::parse(r->body);
        if (!p) {
            return std::nullopt;
        }
        return p->value("halo_upstream_peer_up", {{"upstream", group}, {"peer", addr}});
    }
    bool logged(const std::string& needle) {
        return wait_until([&] { return !log_lines_with(halo_.error_log(), needle).empty(); }, 15s,
                          10ms);
    }
    std::string down_line(const std::string& group, const std::string& addr,
                          const std::string& reason) {
        return "upstream server " + addr + " in upstream \"" + group + "\" is down: " + reason;
    }
    std::string up_line(const std::string& group, const std::string& addr) {
        return "upstream server " + addr + " in upstream \"" + group + "\" is up";
    }

    LineServer t0_;
    LineServer t1_;
    UdpServer u0_;
    UdpServer u1_;
    Halo halo_;
};

TEST_F(HealthCheckL4Test, TcpSendExpectDownOnGarbageUpAgainOnOk) {
    start();
    ASSERT_TRUE(wait_until([&] { return t0_.line_count() >= 2 && t1_.line_count() >= 2; }))
        << halo_.error_log();
    EXPECT_EQ(t0_.lines()[0], "PING");  // "send=PING\r\n": exactly one line
    auto u = upstream("tcpapp");
    ASSERT_TRUE(u) << "no tcpapp on the status page";
    EXPECT_EQ((*u)["health_check"]["type"].str(), "tcp");
    EXPECT_FALSE((*u)["health_check"].has("uri"));
    ASSERT_TRUE(wait_until([&] {
        auto p = peer("tcpapp", t1_.address());
        return p && (*p)["health_check"]["checks"].integer() > 0;
    }));
    EXPECT_TRUE(shown("tcpapp", t1_.address(), "up"));
    EXPECT_EQ(prom_up("tcpapp", t1_.address()), 1.0);

    t1_.set(LineServer::Mode::kGarbage);
    ASSERT_TRUE(logged(down_line("tcpapp", t1_.address(), "reply mismatch (2 failed checks)")))
        << halo_.error_log();
    ASSERT_TRUE(shown("tcpapp", t1_.address(), "down")) << halo_.error_log();
    auto p = peer("tcpapp", t1_.address());
    ASSERT_TRUE(p);
    EXPECT_EQ((*p)["down_reason"].str(), "health_check");
    EXPECT_EQ((*p)["health_check"]["reason"].str(), "reply mismatch");
    EXPECT_FALSE((*p)["health_check"]["last_ok"].boolean());
    EXPECT_EQ(prom_up("tcpapp", t1_.address()), 0.0);
    EXPECT_TRUE(shown("tcpapp", t0_.address(), "up"));  // the other one is fine

    t1_.set(LineServer::Mode::kOk);
    ASSERT_TRUE(logged(up_line("tcpapp", t1_.address()) + ": ok (2 passed checks)"))
        << halo_.error_log();
    EXPECT_TRUE(shown("tcpapp", t1_.address(), "up"));
    EXPECT_EQ(prom_up("tcpapp", t1_.address()), 1.0);
}

TEST_F(HealthCheckL4Test, TcpSilentAndClosingServersAreReported) {
    start();
    t0_.set(LineServer::Mode::kSilent);
    t1_.set(LineServer::Mode::kClose);
    EXPECT_TRUE(logged(down_line("tcpapp", t0_.address(), "timeout after 1s (2 failed checks)")))
        << halo_.error_log();
    EXPECT_TRUE(logged(
        down_line("tcpapp", t1_.address(), "connection closed prematurely (2 failed checks)")))
        << halo_.error_log();
    EXPECT_TRUE(shown("tcpapp", t0_.address(), "down"));
    EXPECT_TRUE(shown("tcpapp", t1_.address(), "down"));
}

TEST_F(HealthCheckL4Test, TcpRegexMismatchWhileTheServerKeepsTheConnection) {
    // A regex is decided at the close, or, when the server keeps the connection open after a
    // wrong answer, at the timeout: a mismatch then, not a timeout.
    start(
        kUdpCheck,
        R"(type=tcp "send=PING\r\n" "expect=~^\+OK\r\n" interval=100ms timeout=1s fall=1 rise=1)");
    ASSERT_TRUE(wait_until([&] { return t0_.line_count() >= 2; })) << halo_.error_log();
    EXPECT_TRUE(shown("tcpapp", t0_.address(), "up"));
    t0_.set(LineServer::Mode::kGarbageKeepOpen);
    t1_.set(LineServer::Mode::kGarbage);  // closes after it
    EXPECT_TRUE(logged(down_line("tcpapp", t0_.address(), "reply mismatch (1 failed checks)")))
        << halo_.error_log();
    EXPECT_TRUE(logged(down_line("tcpapp", t1_.address(), "reply mismatch (1 failed checks)")))
        << halo_.error_log();
    EXPECT_TRUE(log_lines_with(halo_.error_log(), "\"tcpapp\" is down: timeout").empty())
        << halo_.error_log();
    t0_.set(LineServer::Mode::kOk);
    EXPECT_TRUE(logged(up_line("tcpapp", t0_.address()) + ": ok")) << halo_.error_log();
}

TEST_F(HealthCheckL4Test, UdpStoppedServerIsRefusedThenBack) {
    start();
    ASSERT_TRUE(wait_until([&] { return u0_.count() >= 2 && u1_.count() >= 2; }))
        << halo_.error_log();
    EXPECT_EQ(u0_.datagrams()[0], std::string("\x00\x2aHALO\r\n", 8));  // the bytes of send=
    auto u = upstream("udpapp");
    ASSERT_TRUE(u);
    EXPECT_EQ((*u)["health_check"]["type"].str(), "udp");
    EXPECT_FALSE((*u)["health_check"].has("uri"));
    EXPECT_TRUE(shown("udpapp", u0_.address(), "up"));

    u0_.stop();  // ICMP port unreachable from now on
    ASSERT_TRUE(logged(down_line("udpapp", u0_.address(), "connection refused (2 failed checks)")))
        << halo_.error_log();
    ASSERT_TRUE(shown("udpapp", u0_.address(), "down"));
    EXPECT_EQ((*peer("udpapp", u0_.address()))["health_check"]["reason"].str(),
              "connection refused");
    EXPECT_EQ(prom_up("udpapp", u0_.address()), 0.0);
    EXPECT_TRUE(shown("udpapp", u1_.address(), "up"));

    ASSERT_TRUE(u0_.restart());
    ASSERT_TRUE(logged(up_line("udpapp", u0_.address()) + ": ok (1 passed checks)"))
        << halo_.error_log();
    EXPECT_TRUE(shown("udpapp", u0_.address(), "up"));
    EXPECT_EQ(prom_up("udpapp", u0_.address()), 1.0);
}

TEST_F(HealthCheckL4Test, UdpSilenceTimesOutAndAWrongReplyMismatches) {
    start();
    u0_.set(UdpServer::Mode::kSilent);
    u1_.set(UdpServer::Mode::kWrong);
    EXPECT_TRUE(logged(down_line("udpapp", u0_.address(), "timeout after 1s (2 failed checks)")))
        << halo_.error_log();
    EXPECT_TRUE(logged(down_line("udpapp", u1_.address(), "reply mismatch (2 failed checks)")))
        << halo_.error_log();
    u0_.set(UdpServer::Mode::kEcho);
    u1_.set(UdpServer::Mode::kEcho);
    EXPECT_TRUE(logged(up_line("udpapp", u0_.address()))) << halo_.error_log();
    EXPECT_TRUE(logged(up_line("udpapp", u1_.address()))) << halo_.error_log();
}

TEST_F(HealthCheckL4Test, UdpWithoutExpectPassesOnSilenceFailsOnRefusal) {
    // nginx plus's rule: no ICMP error within the timeout is a pass.
    start("\"send=<14>halo: health check\" interval=100ms timeout=300ms fall=1 rise=1");
    u0_.set(UdpServer::Mode::kSilent);
    ASSERT_TRUE(wait_until([&] {
        auto p = peer("udpapp", u0_.address());
        return p && p->is_object() && (*p)["health_check"]["checks"].integer() >= 3;
    })) << halo_.error_log();
    auto p = peer("udpapp", u0_.address());
    EXPECT_EQ((*p)["state"].str(), "up");
    EXPECT_TRUE((*p)["health_check"]["last_ok"].boolean());
    EXPECT_EQ((*p)["health_check"]["failures"].integer(), 0);
    EXPECT_EQ(u0_.datagrams()[0], "<14>halo: health check");

    u0_.stop();
    ASSERT_TRUE(logged(down_line("udpapp", u0_.address(), "connection refused (1 failed checks)")))
        << halo_.error_log();
    EXPECT_TRUE(shown("udpapp", u0_.address(), "down"));
    ASSERT_TRUE(u0_.restart());  // echoes: a reply passes at once
    EXPECT_TRUE(logged(up_line("udpapp", u0_.address()) + ": ok (1 passed checks)"))
        << halo_.error_log();
    EXPECT_TRUE(log_lines_with(halo_.error_log(), "\"udpapp\" is down: timeout").empty())
        << halo_.error_log();
}

TEST_F(HealthCheckL4Test, DnsQueryOverUdpAsDocumented) {
    // docs/healthcheck.md's DNS check: "example.com A" with id 0x1234; the answer must carry
    // the id, the QR bit and RCODE 0 (NOERROR).
    DnsServer dns;
    dns.set("example.com", {"192.0.2.1"});
    std::string check =
        R"("send=\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01")"
        R"( "expect=~^\x12\x34[\x80-\xff][\x00\x10\x20\x30\x80\x90\xa0\xb0]")"
        " interval=100ms timeout=1s fall=1 rise=1";
    std::string conf = replace_all(std::string(kConf), "        server %%U1%%;\n", "");
    conf = replace_all(conf, "%%U0%%", dns.address());
    conf = replace_all(conf, "%%UDP_CHECK%%", "type=udp " + check);
    conf = replace_all(conf, "%%TCP_CHECK%%", std::string(kTcpCheck));
    conf = replace_all(conf, "%%T0%%", t0_.address());
    conf = replace_all(conf, "%%T1%%", t1_.address());
    halo_.write_conf(conf);
    ASSERT_TRUE(halo_.start());
    ASSERT_TRUE(wait_until([&] {
        auto p = peer("udpapp", dns.address());
        return p && p->is_object() && (*p)["health_check"]["checks"].integer() >= 2;
    })) << halo_.error_log();
    EXPECT_GE(dns.queries("example.com", 1), 2);
    EXPECT_EQ((*peer("udpapp", dns.address()))["state"].str(), "up");
    EXPECT_TRUE(log_lines_with(halo_.error_log(), "\"udpapp\" is down").empty())
        << halo_.error_log();

    dns.set_rcode("example.com", 2);  // SERVFAIL
    ASSERT_TRUE(logged(down_line("udpapp", dns.address(), "reply mismatch (1 failed checks)")))
        << halo_.error_log();
    EXPECT_TRUE(shown("udpapp", dns.address(), "down"));
    dns.set("example.com", {"192.0.2.1"});
    EXPECT_TRUE(logged(up_line("udpapp", dns.address()) + ": ok (1 passed checks)"))
        << halo_.error_log();
    EXPECT_TRUE(shown("udpapp", dns.address(), "up"));
}

// ---- through the stream proxy ----

constexpr std::string_view kStreamConf = R"(
daemon off;
worker_processes 1;
error_log logs/error.log info;

events {
    worker_connections 64;
}

stream {
    upstream lines {
        server %%T0%%;
        server %%T1%%;
        health_check "send=PING\r\n" expect=+OK interval=100ms timeout=1s fall=1 rise=1;
    }
    upstream echo {
        server %%U0%%;
        server %%U1%%;
        health_check type=udp "send=\x00\x2aHALO\r\n" "expect=~^\x00\x2aHALO"
                     interval=100ms timeout=1s fall=1 rise=1;
    }
    server {
        listen 127.0.0.1:%%PORT_0%%;
        proxy_pass lines;
        proxy_timeout 5s;
    }
    server {
        listen 127.0.0.1:%%UDP_PORT%% udp;
        proxy_pass echo;
        proxy_responses 1;
        proxy_timeout 2s;
    }
}
)";

/// A UDP port on 127.0.0.1 that was free a moment ago.
uint16_t free_udp_port() {
    int fd = bound_socket(SOCK_DGRAM, 0);
    uint16_t port = fd >= 0 ? local_port(fd) : 0;
    if (fd >= 0) {
        ::close(fd);
    }
    return port;
}

/// Sends `line` + "\r\n" on a new TCP connection to 127.0.0.1:port; the answer until the close.
std::string tcp_exchange(uint16_t port, const std::string& line) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::string out;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
        std::string msg = line + "\r\n";
        (void)!::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL);
        char buf[256];
        for (ssize_t n; (n = ::recv(fd, buf, sizeof(buf), 0)) > 0;) {
            out.append(buf, static_cast<size_t>(n));
        }
    }
    ::close(fd);
    return out;
}

/// Sends `msg` in one datagram to 127.0.0.1:port from a new socket; the reply, or "".
std::string udp_exchange(uint16_t port, const std::string& msg) {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::string out;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
        ::send(fd, msg.data(), msg.size(), 0) >= 0) {
        char buf[2048];
        ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n > 0) {
            out.assign(buf, static_cast<size_t>(n));
        }
    }
    ::close(fd);
    return out;
}

/// How many of `lines` start with `prefix`.
int starting_with(const std::vector<std::string>& lines, const std::string& prefix) {
    int n = 0;
    for (const auto& l : lines) {
        n += l.rfind(prefix, 0) == 0 ? 1 : 0;
    }
    return n;
}

class HealthCheckStreamTest : public HealthCheckL4Test {
  protected:
    void SetUp() override {
        HealthCheckL4Test::SetUp();
        if (!IsSkipped() && !halo_has_module("stream_proxy")) {
            GTEST_SKIP() << "the stream_proxy module is not compiled in";
        }
    }
    void start_stream() {
        udp_port_ = free_udp_port();
        ASSERT_NE(udp_port_, 0);
        std::string conf(kStreamConf);
        conf = replace_all(conf, "%%T0%%", t0_.address());
        conf = replace_all(conf, "%%T1%%", t1_.address());
        conf = replace_all(conf, "%%U0%%", u0_.address());
        conf = replace_all(conf, "%%U1%%", u1_.address());
        conf = replace_all(conf, "%%UDP_PORT%%", std::to_string(udp_port_));
        halo_.write_conf(conf);
        ASSERT_TRUE(halo_.start());
        ASSERT_EQ(halo_.wait_workers(2).size(), 2u) << halo_.error_log();  // worker + helper
    }
    uint16_t udp_port_ = 0;
};

TEST_F(HealthCheckStreamTest, TcpProxyAvoidsTheServerItsCheckTookOut) {
    start_stream();
    // `health_check` with no type in a stream upstream: tcp, with send/expect.
    ASSERT_TRUE(wait_until([&] {
        return starting_with(t0_.lines(), "PING") >= 1 && starting_with(t1_.lines(), "PING") >= 1;
    })) << halo_.error_log();
    for (int i = 0; i < 4; i++) {
        EXPECT_EQ(tcp_exchange(halo_.port(0), "CLIENT " + std::to_string(i)), "+OK\r\n");
    }
    EXPECT_EQ(starting_with(t0_.lines(), "CLIENT"), 2) << halo_.error_log();
    EXPECT_EQ(starting_with(t1_.lines(), "CLIENT"), 2);

    t1_.set(LineServer::Mode::kGarbage);
    ASSERT_TRUE(logged(down_line("lines", t1_.address(), "reply mismatch (1 failed checks)")))
        << halo_.error_log();
    for (int i = 0; i < 6; i++) {
        EXPECT_EQ(tcp_exchange(halo_.port(0), "AFTER " + std::to_string(i)), "+OK\r\n");
    }
    EXPECT_EQ(starting_with(t0_.lines(), "AFTER"), 6) << halo_.error_log();
    EXPECT_EQ(starting_with(t1_.lines(), "AFTER"), 0);

    t1_.set(LineServer::Mode::kOk);
    ASSERT_TRUE(logged(up_line("lines", t1_.address()) + ": ok")) << halo_.error_log();
    for (int i = 0; i < 4; i++) {
        EXPECT_EQ(tcp_exchange(halo_.port(0), "BACK " + std::to_string(i)), "+OK\r\n");
    }
    EXPECT_GT(starting_with(t1_.lines(), "BACK"), 0) << halo_.error_log();
}

TEST_F(HealthCheckStreamTest, UdpProxyAvoidsTheStoppedServer) {
    start_stream();
    ASSERT_TRUE(wait_until([&] { return u0_.count() >= 1 && u1_.count() >= 1; }))
        << halo_.error_log();
    for (int i = 0; i < 4; i++) {
        std::string q = "Q " + std::to_string(i);
        EXPECT_EQ(udp_exchange(udp_port_, q), q) << halo_.error_log();
    }
    EXPECT_EQ(starting_with(u0_.datagrams(), "Q "), 2) << halo_.error_log();
    EXPECT_EQ(starting_with(u1_.datagrams(), "Q "), 2);

    u1_.stop();
    ASSERT_TRUE(logged(down_line("echo", u1_.address(), "connection refused (1 failed checks)")))
        << halo_.error_log();
    for (int i = 0; i < 6; i++) {
        std::string q = "R " + std::to_string(i);
        EXPECT_EQ(udp_exchange(udp_port_, q), q) << halo_.error_log();
    }
    EXPECT_EQ(starting_with(u0_.datagrams(), "R "), 6);

    ASSERT_TRUE(u1_.restart());
    ASSERT_TRUE(logged(up_line("echo", u1_.address()) + ": ok")) << halo_.error_log();
    EXPECT_TRUE(wait_until([&] {
        udp_exchange(udp_port_, "S");
        return starting_with(u1_.datagrams(), "S") > 0;
    })) << halo_.error_log();
}

}  // namespace
}  // namespace halo_test
