#pragma once

// The harness of the stream differential tests (stream_differential_test.cc): Debian's nginx
// stream module and halo run the same stream block one after the other, on the same ports
// and in front of the same backends; a scenario's client actions go to each, and what they
// observed is compared (Scenario, differential()). With a blocking client, scripted TCP
// backends (half-close, reset) and a blackhole address (a full accept queue).
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "support/harness.h"
#include "support/nginx.h"
#include "support/stream_backend.h"

// Everything in a namespace of its own: classes defined in a header must not meet another
// test file's classes of the same name.
namespace halo_test::stream_diff {

inline constexpr char kNginxStream[] = "/usr/lib/nginx/modules/ngx_stream_module.so";

/// What one proxy did in a scenario: named observations, in the order they were made.
using Observed = std::vector<std::pair<std::string, std::string>>;

/// A difference a scenario expects: halo's documented behaviour differs from nginx's on
/// purpose. `key` is an observation's name.
struct Intended {
    std::string_view key;
    std::string_view reason;
};

// ---- a blocking test client --------------------------------------------------------------------

/// One TCP connection to 127.0.0.1:port, read with poll() and deadlines. With a `source`
/// port the client binds to it (so that $remote_port is the same for both proxies) and
/// closes with a reset (no TIME_WAIT: the second proxy's client reuses the same addresses).
class Client {
  public:
    explicit Client(uint16_t port, uint16_t source = 0) : source_(source) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int one = 1;
        a.sin_port = htons(source);
        if (source != 0 && (::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
                            ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0)) {
            ::close(fd_);
            fd_ = -1;
            return;
        }
        a.sin_port = htons(port);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }
    ~Client() {
        if (fd_ >= 0) {
            if (source_ != 0) {
                linger l{1, 0};
                ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
            }
            ::close(fd_);
        }
    }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    bool connected() const { return fd_ >= 0; }
    bool send(std::string_view data) { return fd_ >= 0 && send_all(fd_, data); }
    void shutdown_write() {
        if (fd_ >= 0) {
            ::shutdown(fd_, SHUT_WR);
        }
    }
    /// Reads until what was read ends with `suffix`, the peer closed, or `timeout` passed.
    const std::string& read_until(std::string_view suffix, Millis timeout = 5s) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (closed_.empty() && !got_.ends_with(suffix) && fill(deadline)) {
        }
        return got_;
    }
    /// Reads until the peer closes: "eof" or "reset", or "open" when it did not within
    /// `timeout`.
    std::string wait_closed(Millis timeout = 5s) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (closed_.empty() && fill(deadline)) {
        }
        return closed_.empty() ? "open" : closed_;
    }
    /// Everything read so far.
    const std::string& got() const { return got_; }

  private:
    /// One read before `deadline`; false on timeout or once closed.
    bool fill(std::chrono::steady_clock::time_point deadline) {
        if (fd_ < 0) {
            closed_ = "no connection";
            return false;
        }
        auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
        pollfd p{fd_, POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
            return false;
        }
        char buf[65536];
        ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
        if (n > 0) {
            got_.append(buf, static_cast<size_t>(n));
            return true;
        }
        closed_ = n == 0 ? "eof" : errno == ECONNRESET ? "reset" : "error";
        return false;
    }

    uint16_t source_ = 0;
    int fd_ = -1;
    std::string got_;
    std::string closed_;
};

// ---- scripted backends -------------------------------------------------------------------------

/// A TCP backend for half-close scenarios, recording per connection every byte it read before
/// the EOF. kTally: reads to EOF, then writes "got N\n" and closes. kByeFirst: writes "bye\n",
/// shuts its writing side down, then reads to EOF. kReset: resets the connection once it read
/// something (what it read is recorded).
class ScriptBackend {
  public:
    enum class Mode { kTally, kByeFirst, kReset };
    explicit ScriptBackend(Mode mode) : mode_(mode), acceptor_([this](int fd, int) { serve(fd); }) {
        acceptor_.listen();
    }
    ~ScriptBackend() { acceptor_.stop(); }

    std::string address() const { return "127.0.0.1:" + std::to_string(acceptor_.port()); }
    int connections() const { return acceptor_.accepted(); }
    /// What each finished connection read before its EOF, in order of completion.
    std::vector<std::string> reads() const {
        std::lock_guard<std::mutex> lock(mu_);
        return reads_;
    }

  private:
    void serve(int fd) {
        if (mode_ == Mode::kByeFirst) {
            send_all(fd, "bye\n");
            ::shutdown(fd, SHUT_WR);
        }
        std::string in;
        char buf[4096];
        for (;;) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 10000) <= 0) {
                break;
            }
            ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
            if (n <= 0) {
                break;
            }
            in.append(buf, static_cast<size_t>(n));
            if (mode_ == Mode::kReset) {
                linger l{1, 0};  // the acceptor's close() sends a RST
                ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
                break;
            }
        }
        if (mode_ == Mode::kTally) {
            send_all(fd, "got " + std::to_string(in.size()) + "\n");
        }
        std::lock_guard<std::mutex> lock(mu_);
        reads_.push_back(in);
    }

    Mode mode_;
    mutable std::mutex mu_;
    std::vector<std::string> reads_;
    TcpAcceptor acceptor_;  // last: its threads use the members above
};

/// A listening socket whose accept queue is full (backlog 0, one connection queued and never
/// accepted): the kernel drops further SYNs, so a connect to it hangs until its timeout.
class Blackhole {
  public:
    Blackhole() {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(a);
        if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
            ::listen(listen_fd_, 0) != 0 ||
            ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
            return;
        }
        port_ = ntohs(a.sin_port);
        filler_ = std::make_unique<Client>(port_);
    }
    ~Blackhole() {
        filler_.reset();
        ::close(listen_fd_);
    }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    /// True when a connect to it does not complete within `wait` (the kernel drops the SYN).
    bool holds(Millis wait = 300ms) const {
        if (port_ == 0) {
            return false;
        }
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port_);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
        bool pending = rc != 0 && errno == EINPROGRESS;
        if (pending) {
            pollfd p{fd, POLLOUT, 0};
            pending = ::poll(&p, 1, static_cast<int>(wait.count())) == 0;
        }
        ::close(fd);
        return pending;
    }

  private:
    int listen_fd_ = -1;
    uint16_t port_ = 0;
    std::unique_ptr<Client> filler_;
};

// ---- the proxies -------------------------------------------------------------------------------

/// The main part of the configuration both run (nginx loads its stream module; halo accepts
/// the load_module of a module it has compiled in), then the scenario's stream block, which
/// logs every session to logs/stream.log in the format below. `ready_port` is a server of its
/// own, unlogged, whose accepting connections tells that the proxy is up.
inline std::string full_conf(const std::string& stream_body, uint16_t ready_port) {
    return std::string("load_module ") + kNginxStream +
           ";\n"
           "worker_processes 1;\n"
           "error_log %%PREFIX%%/logs/error.log info;\n"
           "events { worker_connections 256; }\n"
           "stream {\n"
           "    log_format diff '$remote_addr|$protocol|$status|$bytes_sent|$bytes_received|"
           "$upstream_addr|$upstream_bytes_sent|$upstream_bytes_received|$proxy_protocol_addr|"
           "$ssl_preread_server_name';\n"
           "    access_log %%PREFIX%%/logs/stream.log diff;\n"
           "    server { listen 127.0.0.1:" +
           std::to_string(ready_port) + "; access_log off; proxy_pass 127.0.0.1:1; }\n" +
           stream_body + "}\n";
}

/// The fields of that format, by index (for Scenario::apart).
enum LogField {
    kAddr,
    kProtocol,
    kStatus,
    kBytesSent,
    kBytesReceived,
    kUpAddr,
    kUpSent,
    kUpReceived,
    kProxyProtocolAddr,
    kPrereadServerName
};

/// nginx or halo, started on a configuration; the stream.log lines.
class Proxy {
  public:
    explicit Proxy(bool halo) : is_halo_(halo) {}
    const char* name() const { return is_halo_ ? "halo" : "nginx"; }

    ::testing::AssertionResult start(const std::string& conf, uint16_t tcp_port) {
        if (!is_halo_) {
            return nginx_.start(conf, tcp_port);
        }
        halo_.write_conf(conf);
        ::testing::AssertionResult r = halo_.start({"-g", "daemon off;"});
        if (!r) {
            return r;
        }
        if (!wait_for_port(tcp_port)) {
            return ::testing::AssertionFailure() << "halo does not listen on " << tcp_port << "\n"
                                                 << halo_.error_log();
        }
        return r;
    }
    void stop() {
        if (is_halo_) {
            halo_.kill_all();
        } else {
            nginx_.stop();
        }
    }
    std::string path(std::string_view rel) const {
        return is_halo_ ? halo_.path(rel) : nginx_.path(rel);
    }
    std::vector<std::string> log_lines() const {
        std::string text = read_file(path("logs/stream.log")).value_or("");
        std::vector<std::string> lines;
        size_t start = 0;
        for (size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
            lines.push_back(text.substr(start, nl - start));
            start = nl + 1;
        }
        return lines;
    }
    std::string error_log() const { return read_file(path("logs/error.log")).value_or(""); }

  private:
    bool is_halo_;
    Nginx nginx_;
    Halo halo_;
};

/// One scenario: `act` does the client actions against the proxy (listening on the ports the
/// test chose) and records what it saw; `sessions` log lines are then awaited and recorded as
/// "log N" (sorted: sessions may end in any order). The log fields of `apart` are left out
/// of those lines (shown as "*") and recorded on their own as "log field F" (the values of
/// the sorted lines, in order), so that an intended difference in one field does not hide the
/// others; `unstable` fields are left out and not recorded (they vary from run to run on the
/// same proxy, e.g. the bytes of a TLS handshake).
struct Scenario {
    std::string stream_body;
    size_t sessions;
    std::function<void(Observed&)> act;
    std::vector<Intended> intended = {};
    std::vector<LogField> apart = {};
    std::vector<LogField> unstable = {};
};

inline std::vector<std::string> split_fields(const std::string& line) {
    std::vector<std::string> f;
    size_t start = 0;
    for (size_t bar = line.find('|'); bar != std::string::npos; bar = line.find('|', start)) {
        f.push_back(line.substr(start, bar - start));
        start = bar + 1;
    }
    f.push_back(line.substr(start));
    return f;
}

inline Observed run_one(bool halo, const Scenario& sc, uint16_t ready, std::string* error_log) {
    Proxy proxy(halo);
    Observed o;
    ::testing::AssertionResult started = proxy.start(full_conf(sc.stream_body, ready), ready);
    if (!started) {
        ADD_FAILURE() << proxy.name() << " did not start: " << started.message();
        return o;
    }
    sc.act(o);
    wait_until([&] { return proxy.log_lines().size() >= sc.sessions; }, 15s);
    // the lines with the fields apart and unstable masked, sorted, each with those fields
    std::vector<std::pair<std::string, std::vector<std::string>>> lines;
    for (const std::string& line : proxy.log_lines()) {
        std::vector<std::string> f = split_fields(line);
        std::vector<std::string> apart;
        for (LogField i : sc.apart) {
            apart.push_back(static_cast<size_t>(i) < f.size() ? f[i] : "(none)");
        }
        std::string masked;
        for (size_t i = 0; i < f.size(); i++) {
            auto is = [&](const std::vector<LogField>& v) {
                return std::find(v.begin(), v.end(), static_cast<LogField>(i)) != v.end();
            };
            masked += (i == 0 ? "" : "|") + (is(sc.apart) || is(sc.unstable) ? "*" : f[i]);
        }
        lines.emplace_back(masked, apart);
    }
    std::sort(lines.begin(), lines.end());
    o.emplace_back("log lines", std::to_string(lines.size()));
    for (size_t i = 0; i < lines.size(); i++) {
        o.emplace_back("log " + std::to_string(i), lines[i].first);
    }
    for (size_t k = 0; k < sc.apart.size(); k++) {
        std::string values;
        for (const auto& l : lines) {
            values += (values.empty() ? "" : " ; ") + l.second[k];
        }
        o.emplace_back("log field " + std::to_string(sc.apart[k]), values);
    }
    *error_log = proxy.error_log();
    proxy.stop();
    return o;
}

/// What each proxy observed, by name (differential()'s result).
struct Observations {
    std::map<std::string, std::string> nginx;
    std::map<std::string, std::string> halo;
};

/// Runs `sc` with nginx, then with halo, and compares what each did; returns both, so that a
/// scenario with an intended difference asserts halo's documented value too.
inline Observations differential(const Scenario& sc) {
    std::string nginx_errors, halo_errors;
    uint16_t ready = free_port();
    Observed nginx = run_one(false, sc, ready, &nginx_errors);
    Observed halo = run_one(true, sc, ready, &halo_errors);
    std::map<std::string, std::string> n(nginx.begin(), nginx.end());
    std::map<std::string, std::string> h(halo.begin(), halo.end());
    std::vector<std::string> keys;
    for (const auto& [k, v] : nginx) {
        keys.push_back(k);
    }
    for (const auto& [k, v] : halo) {
        if (!n.contains(k)) {
            keys.push_back(k);
        }
    }
    std::string report;
    for (const std::string& k : keys) {
        std::string nv = n.contains(k) ? n[k] : "(none)";
        std::string hv = h.contains(k) ? h[k] : "(none)";
        if (nv == hv) {
            continue;
        }
        auto it = std::find_if(sc.intended.begin(), sc.intended.end(),
                               [&](const Intended& i) { return i.key == k; });
        std::string block = k + "\n  nginx: " + printable(nv) + "\n  halo : " + printable(hv);
        if (it != sc.intended.end()) {
            std::cout << "[intended] " << block << "\n  (" << it->reason << ")\n";
            continue;
        }
        report += block + "\n";
    }
    if (!report.empty()) {
        ADD_FAILURE() << "halo differs from nginx:\n"
                      << report << "--- nginx error log:\n"
                      << nginx_errors << "--- halo error log:\n"
                      << halo_errors;
    }
    if (getenv("HALO_DIFF_VERBOSE") != nullptr) {
        for (const auto& [k, v] : nginx) {
            std::cout << k << ": " << printable(v) << "\n";
        }
    }
    return {std::move(n), std::move(h)};
}

class StreamDifferentialTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!nginx_installed() || ::access(kNginxStream, R_OK) != 0) {
            GTEST_SKIP() << "nginx or its stream module (" << kNginxStream
                         << ", libnginx-mod-stream) is not installed";
        }
        for (const char* m :
             {"stream_proxy", "stream_access", "stream_log", "stream_map", "stream_ssl_preread"}) {
            if (!halo_has_module(m)) {
                GTEST_SKIP() << "the " << m << " module is not compiled in";
            }
        }
    }
    static std::string port_text(uint16_t p) { return std::to_string(p); }
};

}  // namespace halo_test::stream_diff
