// The upstream keepalive pool at a thousand clients, counted on the backend: 1000 keep-alive
// clients send one request each at once, the backend holds every answer until all 1000 are in
// (so that 1000 upstream connections are busy at the same moment, whatever the scheduling),
// then answers them all; several rounds. With `keepalive 64 adaptive` halo keeps the 1000
// connections and opens none after the first round; with nginx's `keepalive 64` it keeps 64
// idle ones after each round and opens the 936 others again in the next.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"

namespace halo_test {
namespace {

constexpr int kClients = 1000;
constexpr int kRounds = 4;

/// Raises this process's open-file limit to at least `n` (clients and backend ends).
bool raise_nofile(rlim_t n) {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return false;
    }
    if (rl.rlim_cur >= n) {
        return true;
    }
    rl.rlim_cur = std::min(n, rl.rlim_max);
    return setrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= n;
}

/// A one-thread epoll HTTP backend that counts the connections it accepts and closes. Every
/// request (a GET without body) is answered with a small keep-alive 200; while a barrier is
/// set, answers wait until that many requests are pending.
class CountingBackend {
  public:
    CountingBackend() {
        listen_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int on = 1;
        setsockopt(listen_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ok_ = ::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
              ::listen(listen_, 4096) == 0;
        socklen_t len = sizeof(a);
        getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        ep_ = epoll_create1(EPOLL_CLOEXEC);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = listen_;
        epoll_ctl(ep_, EPOLL_CTL_ADD, listen_, &ev);
        thread_ = std::thread([this] { run(); });
    }
    ~CountingBackend() {
        stop_ = true;
        thread_.join();
        for (auto& [fd, conn] : conns_) {
            ::close(fd);
        }
        ::close(ep_);
        ::close(listen_);
    }
    bool ok() const { return ok_; }
    uint16_t port() const { return port_; }
    /// Answers wait until `n` requests are pending (0: answer at once).
    void set_barrier(int n) { barrier_ = n; }
    int accepted() const { return accepted_; }
    int closed() const { return closed_; }
    int open() const { return accepted_ - closed_; }
    int requests() const { return requests_; }

  private:
    struct Conn {
        std::string in;
        int pending = 0;  // requests read, not answered
    };

    void run() {
        std::vector<epoll_event> events(256);
        while (!stop_) {
            int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 20);
            for (int i = 0; i < n; i++) {
                int fd = events[static_cast<size_t>(i)].data.fd;
                if (fd == listen_) {
                    accept_all();
                } else {
                    read_conn(fd);
                }
            }
            answer();
        }
    }
    void accept_all() {
        for (;;) {
            int fd = ::accept4(listen_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                return;
            }
            accepted_++;
            conns_[fd] = Conn{};
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.fd = fd;
            epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
        }
    }
    void read_conn(int fd) {
        Conn& c = conns_[fd];
        char buf[4096];
        for (;;) {
            ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
            if (n > 0) {
                c.in.append(buf, static_cast<size_t>(n));
                continue;
            }
            if (n == 0 || errno != EAGAIN) {
                pending_ -= c.pending;
                conns_.erase(fd);
                ::close(fd);  // also leaves the epoll set
                closed_++;
                return;
            }
            break;
        }
        for (size_t end; (end = c.in.find("\r\n\r\n")) != std::string::npos;) {
            c.in.erase(0, end + 4);
            c.pending++;
            pending_++;
            requests_++;
        }
    }
    void answer() {
        if (pending_ == 0 || (barrier_ > 0 && pending_ < barrier_)) {
            return;
        }
        static constexpr std::string_view kOk =
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n";
        for (auto& [fd, c] : conns_) {
            for (; c.pending > 0; c.pending--) {
                ::send(fd, kOk.data(), kOk.size(), MSG_NOSIGNAL);  // fits the empty buffer
                pending_--;
            }
        }
    }

    bool ok_ = false;
    int listen_ = -1;
    int ep_ = -1;
    uint16_t port_ = 0;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<int> barrier_{0};
    std::atomic<int> accepted_{0};
    std::atomic<int> closed_{0};
    std::atomic<int> requests_{0};
    int pending_ = 0;
    std::map<int, Conn> conns_;
};

/// `n` keep-alive clients of halo: one request each at once, then every response read.
class Clients {
  public:
    ~Clients() {
        for (int fd : fds_) {
            ::close(fd);
        }
    }
    bool connect(uint16_t port, int n) {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(port);
        for (int i = 0; i < n; i++) {
            int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
                return false;
            }
            fds_.push_back(fd);
        }
        return true;
    }
    /// Sends one request on every client, then reads every response: how many were 200s.
    int round() {
        static constexpr std::string_view kGet = "GET / HTTP/1.1\r\nHost: pool\r\n\r\n";
        for (int fd : fds_) {
            if (::send(fd, kGet.data(), kGet.size(), MSG_NOSIGNAL) != ssize_t(kGet.size())) {
                return -1;
            }
        }
        int ok = 0;
        for (int fd : fds_) {
            ok += read_response(fd) ? 1 : 0;
        }
        return ok;
    }

  private:
    /// One "200" response with a 3-byte body (blocking, 20 s at most).
    static bool read_response(int fd) {
        timeval tv{20, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        std::string in;
        char buf[2048];
        for (;;) {
            size_t end = in.find("\r\n\r\n");
            if (end != std::string::npos && in.size() >= end + 4 + 3) {
                return in.compare(0, 12, "HTTP/1.1 200") == 0;
            }
            ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
            if (n <= 0) {
                return false;
            }
            in.append(buf, static_cast<size_t>(n));
        }
    }
    std::vector<int> fds_;
};

class UpstreamPoolTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_proxy") || !halo_has_module("http_upstream")) {
            GTEST_SKIP() << "the proxy or upstream modules are not compiled in";
        }
        ASSERT_TRUE(raise_nofile(3 * kClients + 200)) << "RLIMIT_NOFILE too low for the test";
        ASSERT_TRUE(backend_.ok());
    }
    /// Starts halo (one worker) with `keepalive` in the group, and connects the clients.
    void start(const std::string& keepalive) {
        halo_.write_conf(R"(
daemon off;
worker_processes 1;
worker_rlimit_nofile 8192;
error_log logs/error.log error;
events { worker_connections 4096; }
http {
    access_log off;
    upstream be {
        server 127.0.0.1:)" +
                         std::to_string(backend_.port()) + ";\n        " + keepalive + R"(
        keepalive_requests 100000;
    }
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / {
            proxy_pass http://be;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
)");
        ASSERT_TRUE(halo_.start()) << halo_.error_log();
        ASSERT_TRUE(clients_.connect(halo_.port(0), kClients));
        backend_.set_barrier(kClients);  // every round: 1000 upstream connections busy at once
    }

    CountingBackend backend_;
    Halo halo_;
    Clients clients_;
};

TEST_F(UpstreamPoolTest, AdaptivePoolKeepsAThousandConnectionsAcrossRounds) {
    start("keepalive 64 adaptive;");
    ASSERT_EQ(clients_.round(), kClients) << halo_.error_log();
    // The first round needs a connection per request: all held at once by the backend.
    EXPECT_EQ(backend_.accepted(), kClients);
    for (int r = 1; r < kRounds; r++) {
        ASSERT_EQ(clients_.round(), kClients) << "round " << r << "\n" << halo_.error_log();
        EXPECT_EQ(backend_.accepted(), kClients) << "round " << r << " opened new connections";
    }
    EXPECT_EQ(backend_.requests(), kRounds * kClients);
    // Every connection is still open, idle in the pool.
    EXPECT_EQ(backend_.closed(), 0);
    EXPECT_EQ(backend_.open(), kClients);
}

TEST_F(UpstreamPoolTest, FixedKeepaliveKeepsNginxsCapOfIdleConnections) {
    start("keepalive 64;");
    for (int r = 0; r < kRounds; r++) {
        ASSERT_EQ(clients_.round(), kClients) << "round " << r << "\n" << halo_.error_log();
        // After each round, 64 idle connections stay (nginx: the oldest beyond the cap close).
        EXPECT_TRUE(wait_until([&] { return backend_.open() == 64; }))
            << "round " << r << ": " << backend_.open() << " open";
        // The 64 kept are reused; the 936 others are new in every round.
        EXPECT_EQ(backend_.accepted(), kClients + r * (kClients - 64)) << "round " << r;
    }
    EXPECT_EQ(backend_.requests(), kRounds * kClients);
}

}  // namespace
}  // namespace halo_test
