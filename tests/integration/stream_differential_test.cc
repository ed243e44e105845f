// Differential tests of the `stream` module: Debian's nginx 1.22 stream module (the reference)
// and halo run the SAME configuration, one after the other, on the same ports and in front of
// the same backends; the same client actions go to each, and what can be observed is compared:
// the bytes the client and the backends received, whether the proxy closed the connection (and
// how), half-close, UDP replies and sessions, the PROXY header's shape, and the access log lines
// of one log_format of stream variables ($session_time left out: it is the one value that may
// differ). Running them one after the other (not side by side) keeps every address the same,
// so `$upstream_addr` compares as is and `hash ... consistent` places the same ring of points.
//
// A difference fails the test unless the scenario lists it as intended (halo's documented
// behaviour, docs/stream.md), with the reason. Skipped when nginx or its stream module
// (libnginx-mod-stream) is not installed.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "support/harness.h"
#include "support/nginx.h"
#include "support/stream_backend.h"

namespace halo_test {
namespace {

constexpr char kNginxStream[] = "/usr/lib/nginx/modules/ngx_stream_module.so";

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
std::string full_conf(const std::string& stream_body, uint16_t ready_port) {
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

std::vector<std::string> split_fields(const std::string& line) {
    std::vector<std::string> f;
    size_t start = 0;
    for (size_t bar = line.find('|'); bar != std::string::npos; bar = line.find('|', start)) {
        f.push_back(line.substr(start, bar - start));
        start = bar + 1;
    }
    f.push_back(line.substr(start));
    return f;
}

Observed run_one(bool halo, const Scenario& sc, uint16_t ready, std::string* error_log) {
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

/// Runs `sc` with nginx, then with halo, and compares what each did.
void differential(const Scenario& sc) {
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

// ---- TCP
// -----------------------------------------------------------------------------------------

TEST_F(StreamDifferentialTest, TcpEcho) {
    TcpEchoBackend e1("e1");
    uint16_t p = free_port();
    std::string big = pattern_bytes(300000);  // past the copy path: the splice one
    differential(
        {"    server { listen 127.0.0.1:" + port_text(p) + "; proxy_pass " + e1.address() + "; }\n",
         2, [&](Observed& o) {
             int before = static_cast<int>(e1.bytes());
             {
                 Client c(p);
                 o.emplace_back("greeting", c.read_until("\n"));
                 c.send("ping\n");
                 o.emplace_back("echo", c.read_until("ping\n"));
             }
             {
                 Client c(p);
                 c.read_until("\n");
                 c.send(big);
                 bool same = c.read_until(big).ends_with(big);
                 o.emplace_back("big echo", same ? "equal" : "differs");
             }
             wait_until([&] { return e1.open_connections() == 0; });
             o.emplace_back("backend bytes", std::to_string(static_cast<int>(e1.bytes()) - before));
         }});
}

/// The client half-closes: `proxy_half_close off` (nginx's default) ends the session once the
/// client's bytes are delivered; `on` passes the FIN on and waits for the backend's answer.
TEST_F(StreamDifferentialTest, ClientHalfClose) {
    ScriptBackend tally(ScriptBackend::Mode::kTally);
    uint16_t off = free_port(), on = free_port();
    std::string pass = "proxy_pass " + tally.address() + ";";
    differential({"    server { listen 127.0.0.1:" + port_text(off) + "; " + pass + " }\n" +
                      "    server { listen 127.0.0.1:" + port_text(on) + "; " + pass +
                      " proxy_half_close on; }\n",
                  2, [&](Observed& o) {
                      size_t before = tally.reads().size();
                      for (uint16_t port : {off, on}) {
                          std::string tag = port == off ? "off " : "on ";
                          Client c(port);
                          c.send("abc");
                          c.shutdown_write();
                          o.emplace_back(tag + "closed", c.wait_closed());
                          o.emplace_back(tag + "client got", c.got());
                          wait_until([&] { return tally.reads().size() > before; });
                          std::vector<std::string> r = tally.reads();
                          o.emplace_back(tag + "backend got",
                                         r.size() > before ? r[before] : "(nothing)");
                          before = r.size();
                      }
                  }});
}

/// The backend half-closes first ("bye", then FIN) and reads on: without proxy_half_close the
/// session ends; with it, what the client sends after the FIN still reaches the backend.
TEST_F(StreamDifferentialTest, UpstreamHalfClose) {
    ScriptBackend bye(ScriptBackend::Mode::kByeFirst);
    uint16_t off = free_port(), on = free_port();
    std::string pass = "proxy_pass " + bye.address() + ";";
    differential({"    server { listen 127.0.0.1:" + port_text(off) + "; " + pass + " }\n" +
                      "    server { listen 127.0.0.1:" + port_text(on) + "; " + pass +
                      " proxy_half_close on; }\n",
                  2, [&](Observed& o) {
                      size_t before = bye.reads().size();
                      for (uint16_t port : {off, on}) {
                          std::string tag = port == off ? "off " : "on ";
                          Client c(port);
                          o.emplace_back(tag + "closed", c.wait_closed());
                          o.emplace_back(tag + "client got", c.got());
                          c.send("late");
                          c.shutdown_write();
                          wait_until([&] { return bye.reads().size() > before; });
                          std::vector<std::string> r = bye.reads();
                          o.emplace_back(tag + "backend got",
                                         r.size() > before ? r[before] : "(nothing)");
                          before = r.size();
                      }
                  }});
}

/// The backend resets the connection: the session ends (nginx takes a failed recv() as the
/// end of that side: status 200, "upstream disconnected").
TEST_F(StreamDifferentialTest, UpstreamReset) {
    ScriptBackend reset(ScriptBackend::Mode::kReset);
    uint16_t p = free_port();
    differential({"    server { listen 127.0.0.1:" + port_text(p) + "; proxy_pass " +
                      reset.address() + "; }\n",
                  1, [&](Observed& o) {
                      Client c(p);
                      c.send("x\n");
                      o.emplace_back("closed", c.wait_closed());
                      o.emplace_back("client got", c.got());
                  }});
}

/// A refused connect tries the next server ($upstream_addr lists both, $upstream_bytes_* one
/// value each); when every server refuses, or with proxy_next_upstream off, the session ends
/// with 502.
TEST_F(StreamDifferentialTest, RefusedUpstreamNextAnd502) {
    TcpEchoBackend e1("e1");
    uint16_t refused1 = free_port(), refused2 = free_port();
    uint16_t next = free_port(), none = free_port(), off = free_port();
    auto addr = [](uint16_t port) { return "127.0.0.1:" + std::to_string(port); };
    differential({"    upstream next { server " + addr(refused1) + "; server " + e1.address() +
                      "; }\n"
                      "    upstream none { server " +
                      addr(refused1) + "; server " + addr(refused2) +
                      "; }\n"
                      "    upstream first { server " +
                      addr(refused1) + "; server " + e1.address() +
                      "; }\n"
                      "    server { listen 127.0.0.1:" +
                      port_text(next) +
                      "; proxy_pass next; }\n"
                      "    server { listen 127.0.0.1:" +
                      port_text(none) +
                      "; proxy_pass none; }\n"
                      "    server { listen 127.0.0.1:" +
                      port_text(off) + "; proxy_pass first; proxy_next_upstream off; }\n",
                  3, [&](Observed& o) {
                      {
                          Client c(next);
                          c.read_until("\n");
                          c.send("x\n");
                          o.emplace_back("next got", c.read_until("x\n"));
                      }
                      // (nothing sent: bytes the proxy has not read when it closes would make
                      // the close a reset or not depending on timing)
                      {
                          Client c(none);
                          o.emplace_back("none closed", c.wait_closed());
                          o.emplace_back("none got", c.got());
                      }
                      Client c(off);
                      o.emplace_back("next off closed", c.wait_closed());
                      o.emplace_back("next off got", c.got());
                  }});
}

/// proxy_connect_timeout: a connect that never completes (a full accept queue) times out and
/// the next server is tried.
TEST_F(StreamDifferentialTest, ConnectTimeoutToBlackhole) {
    Blackhole hole;
    if (!hole.holds()) {
        GTEST_SKIP() << "a full accept queue does not hold a connect here";
    }
    TcpEchoBackend e1("e1");
    uint16_t p = free_port();
    differential({"    upstream g { server " + hole.address() + "; server " + e1.address() +
                      "; }\n"
                      "    server { listen 127.0.0.1:" +
                      port_text(p) + "; proxy_pass g; proxy_connect_timeout 300ms; }\n",
                  1, [&](Observed& o) {
                      Client c(p);
                      o.emplace_back("greeting", c.read_until("\n", 10s));
                  }});
}

/// proxy_timeout: a session in which nothing moves is closed.
TEST_F(StreamDifferentialTest, ProxyTimeoutIdleClose) {
    TcpEchoBackend e1("e1");
    uint16_t p = free_port();
    differential({"    server { listen 127.0.0.1:" + port_text(p) + "; proxy_pass " + e1.address() +
                      "; proxy_timeout 300ms; }\n",
                  1, [&](Observed& o) {
                      Client c(p);
                      o.emplace_back("greeting", c.read_until("\n"));
                      o.emplace_back("closed", c.wait_closed(10s));
                      wait_until([&] { return e1.open_connections() == 0; });
                      o.emplace_back("backend open", std::to_string(e1.open_connections()));
                  }});
}

/// $bytes_received and the bytes read in the preread phase: nginx 1.22 reads them out of the
/// socket into a buffer it hands to the proxy without counting them, so its $bytes_received
/// leaves out the ClientHello (or whatever the client sent before the content phase). Since
/// 1.25.5 nginx peeks at them (recv MSG_PEEK, "Stream: socket peek in preread phase") and the
/// proxy reads and counts them like any other byte, as the variable is documented ("number of
/// bytes received from a client"). halo counts them once the proxy passes them on, as nginx
/// does now (docs/stream.md, Variables); bytes that never reach the proxy (a full preread
/// buffer, a refused PROXY header) count in neither.
constexpr char kPrereadReceived[] =
    "intended: halo's $bytes_received counts the bytes read in the preread phase, as nginx's "
    "documentation and nginx since 1.25.5 do; nginx 1.22 leaves them out";

/// ssl_preread with a client that sends nothing: once preread_timeout passes, the session goes
/// on to proxy_pass with an empty $ssl_preread_server_name; a client that sends something
/// other than a ClientHello goes on at once.
TEST_F(StreamDifferentialTest, PrereadTimeoutAndNotTls) {
    TcpEchoBackend dflt("default"), named("named");
    uint16_t p = free_port();
    differential(
        {"    map $ssl_preread_server_name $be {\n"
         "        default " +
             dflt.address() + ";\n        a.example " + named.address() +
             ";\n    }\n"
             "    server { listen 127.0.0.1:" +
             port_text(p) + "; ssl_preread on; preread_timeout 300ms; proxy_pass $be; }\n",
         2,
         [&](Observed& o) {
             {
                 Client c(p);
                 o.emplace_back("silent client got", c.read_until("\n", 10s));
             }
             Client c(p);
             c.send("hello\n");
             o.emplace_back("plain client got", c.read_until("hello\n"));
         },
         {{"log field 4", kPrereadReceived}},
         {kBytesReceived}});
}

/// ssl_preread routing: a map on $ssl_preread_server_name picks the upstream; the client's
/// handshake reaches that backend (its certificate, its SNI).
TEST_F(StreamDifferentialTest, SslPrereadRoutesOnSni) {
    TlsPassthroughBackend a("a"), b("b"), dflt("d");
    if (a.port() == 0) {
        GTEST_SKIP() << "the TLS backend needs OpenSSL";
    }
    uint16_t p = free_port();
    const TlsPassthroughBackend* all[] = {&a, &b, &dflt};
    differential(
        {"    map $ssl_preread_server_name $be {\n"
         "        a.example " +
             a.address() + ";\n        b.example " + b.address() + ";\n        default " +
             dflt.address() +
             ";\n    }\n"
             "    server { listen 127.0.0.1:" +
             port_text(p) + "; ssl_preread on; proxy_pass $be; }\n",
         3,
         [&](Observed& o) {
             for (const char* sni : {"a.example", "b.example", "other.example"}) {
                 std::string fp;
                 std::string got = tls_roundtrip(p, sni, &fp, "x\n");
                 o.emplace_back(std::string(sni) + " got", got);
                 std::string who = "(unknown certificate)";
                 for (const TlsPassthroughBackend* t : all) {
                     if (t->fingerprint() == fp) {
                         who = t->name() + " sni=" + t->last_server_name();
                     }
                 }
                 o.emplace_back(std::string(sni) + " reached", who);
             }
         },
         {{"log field 4", kPrereadReceived}},
         {kBytesReceived},
         {kBytesSent, kUpReceived}});
}

/// allow/deny: a denied client is closed with status 403 and no upstream.
TEST_F(StreamDifferentialTest, AllowDeny) {
    TcpEchoBackend e1("e1");
    uint16_t denied = free_port(), allowed = free_port();
    std::string pass = " proxy_pass " + e1.address() + "; }\n";
    differential({"    server { listen 127.0.0.1:" + port_text(denied) +
                      "; deny 127.0.0.1; allow all;" + pass + "    server { listen 127.0.0.1:" +
                      port_text(allowed) + "; allow 127.0.0.1; deny all;" + pass,
                  2, [&](Observed& o) {
                      {
                          Client c(denied);
                          c.send("x\n");
                          o.emplace_back("denied closed", c.wait_closed());
                          o.emplace_back("denied got", c.got());
                      }
                      Client c(allowed);
                      o.emplace_back("allowed got", c.read_until("\n"));
                  }});
}

/// proxy_protocol on: the backend reads a PROXY v1 header of the client's and the listening
/// addresses (the client's port is compared by shape: it differs from run to run).
TEST_F(StreamDifferentialTest, ProxyProtocolToBackend) {
    ProxyProtocolBackend pp("pp");
    uint16_t p = free_port();
    differential({"    server { listen 127.0.0.1:" + port_text(p) + "; proxy_pass " + pp.address() +
                      "; proxy_protocol on; }\n",
                  1, [&](Observed& o) {
                      size_t before = pp.headers().size();
                      {
                          Client c(p);
                          c.send("hi");
                          o.emplace_back("echo", c.read_until("hi"));
                      }
                      wait_until([&] { return pp.headers().size() > before; });
                      std::vector<ProxyHeader> h = pp.headers();
                      if (h.size() <= before) {
                          o.emplace_back("header", "(none)");
                          return;
                      }
                      const ProxyHeader& x = h[before];
                      o.emplace_back("header", "v" + std::to_string(x.version) + " " + x.command +
                                                   " " + x.family + " " + x.src_addr + " " +
                                                   x.dst_addr + " dst_port " +
                                                   std::to_string(x.dst_port) + " src_port " +
                                                   (x.src_port != 0 ? "set" : "0") + x.error);
                  }});
}

/// listen ... proxy_protocol: the client's PROXY header gives $proxy_protocol_addr, and
/// `proxy_protocol on` sends the backend the connection's own addresses (nginx writes the
/// header from the connection, which only the realip module would change); a bad header ends
/// the session with 400.
TEST_F(StreamDifferentialTest, ProxyProtocolListen) {
    ProxyProtocolBackend pp("pp");
    uint16_t p = free_port();
    differential({"    server { listen 127.0.0.1:" + port_text(p) + " proxy_protocol; proxy_pass " +
                      pp.address() + "; proxy_protocol on; }\n",
                  2,
                  [&](Observed& o) {
                      size_t before = pp.headers().size();
                      {
                          Client c(p);
                          c.send("PROXY TCP4 10.1.2.3 10.4.5.6 1111 2222\r\nhi");
                          o.emplace_back("echo", c.read_until("hi"));
                      }
                      wait_until([&] { return pp.headers().size() > before; });
                      std::vector<ProxyHeader> h = pp.headers();
                      o.emplace_back("header", h.size() > before
                                                   ? h[before].family + " " + h[before].src_addr +
                                                         " " + h[before].dst_addr
                                                   : "(none)");
                      Client c(p);
                      c.send("GARBAGE\r\n");
                      o.emplace_back("bad header closed", c.wait_closed());
                      o.emplace_back("bad header got", c.got());
                  },
                  {{"bad header closed",
                    "intended: nginx peeks at the PROXY header (MSG_PEEK) and closes with the "
                    "bytes unread, so the kernel resets the connection; halo has read them, so "
                    "its close is a FIN. Either way the session ends at once, with 400"}}});
}

/// ssl_preread with a ClientHello larger than preread_buffer_size: the session ends (400).
TEST_F(StreamDifferentialTest, PrereadBufferFull) {
    TlsPassthroughBackend t("t");
    if (t.port() == 0) {
        GTEST_SKIP() << "the TLS backend needs OpenSSL";
    }
    uint16_t p = free_port();
    differential({"    server { listen 127.0.0.1:" + port_text(p) +
                      "; ssl_preread on; preread_buffer_size 64; proxy_pass " + t.address() +
                      "; }\n",
                  1, [&](Observed& o) {
                      std::string fp;
                      o.emplace_back("got", tls_roundtrip(p, "a.example", &fp, "x\n"));
                      o.emplace_back("backend connections", std::to_string(t.connections()));
                  }});
}

/// hash (consistent or not): every connection of a client goes to one backend, the one nginx
/// picks: the same addresses give the same hash and the same ring of points. $remote_addr is
/// one key for every connection here; $remote_port, with clients bound to the same six source
/// ports for both proxies, spreads them over the three backends as nginx does.
TEST_F(StreamDifferentialTest, HashPicksAsNginx) {
    TcpEchoBackend e1("e1"), e2("e2"), e3("e3");
    uint16_t by_addr = free_port(), by_port = free_port(), by_port_plain = free_port();
    std::vector<uint16_t> sources;
    for (int i = 0; i < 6; i++) {
        sources.push_back(free_port());
    }
    std::string servers =
        " server " + e1.address() + "; server " + e2.address() + "; server " + e3.address() + ";";
    auto server = [](uint16_t port, const std::string& group) {
        return "    server { listen 127.0.0.1:" + std::to_string(port) + "; proxy_pass " + group +
               "; }\n";
    };
    differential({"    upstream a { hash $remote_addr consistent;" + servers + " }\n" +
                      "    upstream p { hash $remote_port consistent;" + servers + " }\n" +
                      "    upstream q { hash $remote_port;" + servers + " }\n" +
                      server(by_addr, "a") + server(by_port, "p") + server(by_port_plain, "q"),
                  15, [&](Observed& o) {
                      for (int i = 0; i < 3; i++) {
                          Client c(by_addr);
                          o.emplace_back("remote_addr " + std::to_string(i), c.read_until("\n"));
                      }
                      for (uint16_t port : {by_port, by_port_plain}) {
                          std::string tag =
                              port == by_port ? "remote_port consistent " : "remote_port hash ";
                          for (size_t i = 0; i < sources.size(); i++) {
                              Client c(port, sources[i]);
                              o.emplace_back(tag + std::to_string(i),
                                             c.connected() ? c.read_until("\n") : "(no connect)");
                          }
                      }
                  }});
}

// ---- UDP
// -----------------------------------------------------------------------------------------

/// UDP sessions: proxy_responses 1 (one reply per datagram ends the session), proxy_responses 0
/// (no reply expected: the session ends once the datagram is sent, and a reply has nowhere to
/// go), proxy_requests 2 (the session waits for the client's second datagram and its reply;
/// the third datagram starts a new session, which ends at proxy_timeout), and a backend that
/// never answers (proxy_timeout before the expected reply: 502).
///
/// Left out: a backend that sends two replies to a datagram with proxy_responses 1. nginx
/// reads every reply already queued on the upstream socket before it checks the count, so the
/// client gets one or both depending on how fast the second came; halo stops at the first.
TEST_F(StreamDifferentialTest, UdpResponsesAndRequests) {
    UdpEchoBackend one("one", 1), zero("zero", 1), req("req", 1), silent("silent", 0);
    uint16_t r1 = free_port(), r0 = free_port(), rq = free_port(), quiet = free_port();
    auto server = [](uint16_t port, const UdpEchoBackend& b, const std::string& more) {
        return "    server { listen 127.0.0.1:" + std::to_string(port) + " udp; proxy_pass " +
               b.address() + "; proxy_timeout 1s; " + more + " }\n";
    };
    differential({server(r1, one, "proxy_responses 1;") + server(r0, zero, "proxy_responses 0;") +
                      server(rq, req, "proxy_responses 1; proxy_requests 2;") +
                      server(quiet, silent, "proxy_responses 1;"),
                  5, [&](Observed& o) {
                      {
                          UdpClient c(r1);
                          c.send("q1");
                          o.emplace_back("responses 1: reply", c.receive());
                      }
                      {
                          int before = zero.datagrams();
                          UdpClient c(r0);
                          c.send("q0");
                          wait_until([&] { return zero.datagrams() > before; });
                          o.emplace_back("responses 0: backend datagrams",
                                         std::to_string(zero.datagrams() - before));
                          o.emplace_back("responses 0: reply", c.receive(300ms));
                      }
                      {
                          size_t sources = req.sources().size();
                          UdpClient c(rq);
                          for (const char* q : {"a", "b", "c"}) {
                              c.send(q);
                              o.emplace_back(std::string("requests 2: ") + q, c.receive());
                          }
                          o.emplace_back("requests 2: backend sessions",
                                         std::to_string(req.sources().size() - sources));
                      }
                      UdpClient c(quiet);
                      c.send("q");
                      o.emplace_back("silent: reply", c.receive(300ms));
                  }});
}

}  // namespace
}  // namespace halo_test
