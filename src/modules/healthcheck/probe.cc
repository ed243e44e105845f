// TCP, HTTP and HTTPS checks over ev::Connection, UDP checks on a connected datagram socket.
// A TCP-based check connects, sends (http/https: one GET with `Connection: close`; tcp: the
// `send=` string, if any), reads until ResponseCheck or ReplyCheck decides (tcp without
// `expect=`: reads nothing), and reports once. A UDP check sends its datagram and judges the
// first reply, or the ICMP error the kernel reports as ECONNREFUSED. Whatever the peer does
// (refuses, resets, answers garbage, never answers) ends in one CheckResult; never answering
// is the Checker's timeout, which asks the probe (at_timeout) and destroys it.
#include "modules/healthcheck/probe.h"

#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <string>

#include "core/log.h"
#include "event/buffer.h"
#include "event/connection.h"
#include "tls/ssl_transport.h"

namespace mod::healthcheck {
namespace {

/// Takes the events of a connection whose check is over, until its posted destruction.
class Ignore final : public ev::ConnectionHandler {
  public:
    void on_readable() override {}
    void on_drained() override {}
    void on_timeout() override {}
    void on_error() override {}
    void on_connect(int) override {}
};
Ignore g_ignore;

/// The host part of "host:port" / "[v6]:port" (for SNI), empty when it is an IP literal
/// (RFC 6066 §3: literal addresses are not sent as server names).
std::string sni_name(const std::string& host) {
    std::string h = host;
    if (!h.empty() && h[0] == '[') {
        return {};
    }
    size_t colon = h.rfind(':');
    if (colon != std::string::npos && h.find(':') == colon) {
        h.resize(colon);
    }
    in6_addr a6;
    in_addr a4;
    if (h.empty() || inet_pton(AF_INET, h.c_str(), &a4) == 1 ||
        inet_pton(AF_INET6, h.c_str(), &a6) == 1) {
        return {};
    }
    return h;
}

class NetProbe final : public Probe, public ev::ConnectionHandler {
  public:
    NetProbe(ev::Loop& loop, const CheckSpec& spec, const Target& target, Prober::Done done)
        : loop_(loop), spec_(spec), target_(target), done_(std::move(done)), check_(spec) {
        if (spec.reply) {
            reply_.emplace(*spec.reply, /*datagram=*/false);
        }
    }

    ~NetProbe() override {
        // Cancelled (timeout, shutdown): never from the connection's own callbacks.
        conn_.reset();
    }

    /// Opens the connection; an immediate failure is reported before this returns.
    void begin(SSL_CTX* tls, uint64_t id) {
        int err = 0;
        int fd = ev::Connection::open_connecting(target_.addr, err);
        if (fd < 0) {
            report(connect_failure(err));
            return;
        }
        conn_ = std::make_unique<ev::Connection>(loop_, fd, target_.addr, id);
        conn_->set_handler(this);
        if (spec_.type == CheckType::kHttps) {
            std::unique_ptr<ev::Transport> t;
            if (tls != nullptr) {
                t = tls::SslTransport::connect(tls, fd, id, sni_name(target_.host));
            }
            if (t == nullptr) {
                report(CheckResult::fail(Failure::kTls));
                return;
            }
            conn_->set_transport(std::move(t));
        }
        conn_->start_connect();
    }

    // ---- ev::ConnectionHandler ----

    void on_connect(int err) override {
        if (err != 0) {
            report(connect_failure(err));
            return;
        }
        if (spec_.type == CheckType::kTcp) {
            if (!spec_.send.empty()) {
                conn_->send(spec_.send);
                if (conn_->failed()) {
                    report(io_failure(errno));
                    return;
                }
            }
            if (!reply_) {
                if (!conn_->output_pending()) {
                    report(CheckResult::pass());  // connected (and sent): nothing to read
                }
                return;  // else on_drained()
            }
            on_readable();  // a banner may be in already
            return;
        }
        conn_->send(NetProber::request(spec_, target_));
        if (conn_->failed()) {
            report(io_failure(errno));
            return;
        }
        on_readable();  // https: drives the handshake
    }

    void on_readable() override {
        if (spec_.type == CheckType::kTcp) {
            read_reply();
            return;
        }
        for (;;) {
            ev::IoStatus s = conn_->read(in_, 16384);
            if (s == ev::IoStatus::kAgain) {
                return;
            }
            if (s == ev::IoStatus::kError) {
                int e = errno;
                if (spec_.type == CheckType::kHttps && e != ECONNRESET && in_.empty()) {
                    report(CheckResult::fail(Failure::kTls));
                } else {
                    report(io_failure(e));
                }
                return;
            }
            bool eof = s == ev::IoStatus::kEof;
            CheckResult r;
            if (check_.feed(in_.view(), eof, r) == ResponseCheck::Verdict::kDone) {
                report(r);
                return;
            }
            if (in_.size() > CheckSpec::kMaxHead + CheckSpec::kMaxBody + 16384) {
                report(CheckResult::fail(Failure::kInvalidResponse));  // (not reached)
                return;
            }
        }
    }

    void on_drained() override {
        if (spec_.type == CheckType::kTcp && !reply_ && conn_ != nullptr) {
            report(CheckResult::pass());  // `send=` went out, nothing to wait for
        }
    }
    void on_timeout() override {}
    void on_error() override { report(io_failure(errno)); }

    std::optional<CheckResult> at_timeout() const override {
        return reply_ ? reply_->at_timeout(in_.view()) : std::nullopt;
    }

  private:
    /// A tcp check's reply, against `expect=` (nothing is read without one).
    void read_reply() {
        if (!reply_ || conn_ == nullptr) {
            return;
        }
        for (;;) {
            ev::IoStatus s = conn_->read(in_, 4096);
            if (s == ev::IoStatus::kAgain) {
                return;
            }
            if (s == ev::IoStatus::kError) {
                report(io_failure(errno));
                return;
            }
            CheckResult r;
            if (reply_->feed(in_.view(), s == ev::IoStatus::kEof, r) ==
                ReplyCheck::Verdict::kDone) {
                report(r);
                return;
            }
        }
    }

    static CheckResult connect_failure(int err) {
        return err == ECONNREFUSED ? CheckResult::fail(Failure::kConnectRefused)
                                   : CheckResult::fail(Failure::kConnectFailed, err);
    }
    static CheckResult io_failure(int err) {
        if (err == ECONNRESET || err == EPIPE) {
            return CheckResult::fail(Failure::kReset);
        }
        return CheckResult::fail(Failure::kIoError, err);
    }

    /// Reports once. The connection is closed after the current callback returns (it may be
    /// on the stack); `done_` may retire this probe, so nothing touches `this` after it.
    void report(const CheckResult& r) {
        if (!done_) {
            return;
        }
        if (conn_ != nullptr) {
            conn_->set_handler(&g_ignore);
            ev::Connection* c = conn_.release();
            loop_.post([c] { delete c; });
        }
        Prober::Done done = std::move(done_);
        done_ = nullptr;
        done(r);
    }

    ev::Loop& loop_;
    const CheckSpec& spec_;
    const Target& target_;
    Prober::Done done_;
    ResponseCheck check_;
    std::optional<ReplyCheck> reply_;  // tcp with expect=
    std::unique_ptr<ev::Connection> conn_;
    ev::Buffer in_;
};

/// A udp check: one connected socket per check (a fresh source port, so no late reply of an
/// earlier check is taken for this one's), one datagram out, the first one in judged.
class UdpProbe final : public Probe {
  public:
    UdpProbe(ev::Loop& loop, const CheckSpec& spec, Prober::Done done)
        : loop_(loop), spec_(spec), done_(std::move(done)) {
        if (spec.reply) {
            reply_.emplace(*spec.reply, /*datagram=*/true);
        }
    }
    ~UdpProbe() override {
        io_.reset();
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }

    /// Sends the datagram; an immediate failure is reported before this returns.
    void begin(const core::SockAddr& addr) {
        fd_ = ::socket(addr.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd_ < 0) {
            report(CheckResult::fail(Failure::kConnectFailed, errno));
            return;
        }
        if (::connect(fd_, addr.get(), addr.len) != 0) {
            report(CheckResult::fail(Failure::kConnectFailed, errno));
            return;
        }
        io_ = loop_.make_io(fd_, ev::kRead, /*edge=*/false, [this](uint32_t) { on_readable(); });
        io_->enable();
        if (::send(fd_, spec_.send.data(), spec_.send.size(), 0) < 0) {
            report(failure(errno));
        }
    }

    /// Without `expect=`, silence until the timeout passes (nginx plus: no ICMP error came).
    std::optional<CheckResult> at_timeout() const override {
        return reply_ ? std::nullopt : std::optional<CheckResult>(CheckResult::pass());
    }

  private:
    static CheckResult failure(int err) {
        return err == ECONNREFUSED ? CheckResult::fail(Failure::kRefused)
                                   : CheckResult::fail(Failure::kIoError, err);
    }

    void on_readable() {
        char buf[CheckSpec::kMaxReply];
        ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);  // (a longer datagram is cut short)
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                report(failure(errno));
            }
            return;
        }
        if (!reply_) {
            report(CheckResult::pass());  // any reply
            return;
        }
        CheckResult r;
        reply_->feed(std::string_view(buf, static_cast<size_t>(n)), true, r);
        report(r);
    }

    /// Reports once and stops watching; `done_` may retire this probe.
    void report(const CheckResult& r) {
        if (!done_) {
            return;
        }
        if (io_ != nullptr) {
            io_->disable();
        }
        Prober::Done done = std::move(done_);
        done_ = nullptr;
        done(r);
    }

    ev::Loop& loop_;
    const CheckSpec& spec_;
    Prober::Done done_;
    std::optional<ReplyCheck> reply_;
    int fd_ = -1;
    std::unique_ptr<ev::IoWatcher> io_;
};

}  // namespace

NetProber::NetProber(ev::Loop& loop) : loop_(loop) {}

NetProber::~NetProber() {
    if (tls_ != nullptr) {
        SSL_CTX_free(tls_);
    }
}

SSL_CTX* NetProber::tls_context() {
    if (tls_ == nullptr) {
        tls_ = SSL_CTX_new(TLS_client_method());
        if (tls_ == nullptr) {
            HALO_LOG(kAlert, "SSL_CTX_new() failed (%s)", tls::ssl_error_text().c_str());
            return nullptr;
        }
        SSL_CTX_set_verify(tls_, SSL_VERIFY_NONE, nullptr);
        SSL_CTX_set_min_proto_version(tls_, TLS1_2_VERSION);
    }
    return tls_;
}

std::string NetProber::request(const CheckSpec& spec, const Target& target) {
    return "GET " + spec.uri + " HTTP/1.1\r\nHost: " + target.host +
           "\r\nUser-Agent: halo-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n";
}

std::unique_ptr<Probe> NetProber::start(const CheckSpec& spec, const Target& target, Done done) {
    if (spec.type == CheckType::kUdp) {
        auto u = std::make_unique<UdpProbe>(loop_, spec, std::move(done));
        u->begin(target.addr);
        return u;
    }
    auto p = std::make_unique<NetProbe>(loop_, spec, target, std::move(done));
    p->begin(spec.type == CheckType::kHttps ? tls_context() : nullptr, ++next_id_);
    return p;
}

}  // namespace mod::healthcheck
