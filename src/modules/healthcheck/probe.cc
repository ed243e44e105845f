// TCP, HTTP and HTTPS checks over ev::Connection. A check connects, (for http/https) sends one
// GET with `Connection: close`, reads until ResponseCheck decides, and reports once. Whatever
// the peer does (refuses, resets, answers garbage, never answers) ends in one CheckResult;
// never answering is the Checker's timeout, which destroys the probe.
#include "modules/healthcheck/probe.h"

#include <arpa/inet.h>
#include <openssl/ssl.h>

#include <cerrno>
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
        : loop_(loop), spec_(spec), target_(target), done_(std::move(done)), check_(spec) {}

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
            report(CheckResult::pass());
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

    void on_drained() override {}
    void on_timeout() override {}
    void on_error() override { report(io_failure(errno)); }

  private:
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
    std::unique_ptr<ev::Connection> conn_;
    ev::Buffer in_;
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
    auto p = std::make_unique<NetProbe>(loop_, spec, target, std::move(done));
    p->begin(spec.type == CheckType::kHttps ? tls_context() : nullptr, ++next_id_);
    return p;
}

}  // namespace mod::healthcheck
