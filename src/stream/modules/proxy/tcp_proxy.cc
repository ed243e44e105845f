// A proxied TCP session: connect to a peer of the group (the next one when that fails, within
// proxy_next_upstream_tries/_timeout), send the PROXY header and the preread bytes, then relay
// both ways until one side ends. Small exchanges are copied through one worker-wide buffer;
// once a direction has moved more than kSpliceAfter bytes, it moves by splice(2) through a
// pipe (no copy into user space), as long as neither side has a transport. With proxy_ssl the
// upstream's TLS handshake (and its certificate check) comes between connect and relay; a
// failed one tries the next upstream, as a failed connect does.
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "core/clock.h"
#include "core/log.h"
#include "event/rate_limit.h"
#include "event/runtime.h"
#include "stream/modules/proxy/stream_proxy.h"
#include "tls/client_context.h"
#include "upstream/pool.h"

namespace mod::stream_proxy {
namespace {

constexpr size_t kScratch = 64 * 1024;
constexpr uint64_t kSpliceAfter = 64 * 1024;

char g_scratch[kScratch];
ev::Buffer g_tls_scratch;  // what a TLS side gives (decrypted) on its way to the other

class TcpProxy final : public stream::Content, PeerAttempts {
  public:
    TcpProxy(stream::Session& s, const ProxyConf& conf, const upstream::Group& group)
        : PeerAttempts(s, conf, group), client_side_(this, true), up_side_(this, false) {
        up_flow_.limit.rate = conf.upload_rate->bytes;
        down_flow_.limit.rate = conf.download_rate->bytes;
        // nginx's start_sec: the second the session began in.
        up_flow_.limit.start_s = first_ms_ / 1000;
        down_flow_.limit.start_s = first_ms_ / 1000;
    }
    ~TcpProxy() override { release(upstream::Outcome::kOk); }

    void attempt();

  private:
    /// The events of one of the two connections.
    struct Side final : ev::ConnectionHandler {
        Side(TcpProxy* p, bool client) : proxy(p), is_client(client) {}
        void on_readable() override { proxy->on_readable(is_client); }
        void on_drained() override { proxy->on_drained(is_client); }
        void on_timeout() override { proxy->on_timeout(is_client); }
        void on_error() override { proxy->on_error(is_client); }
        void on_connect(int err) override { proxy->on_connect(err); }
        TcpProxy* proxy;
        bool is_client;
    };
    /// One direction of the relay.
    struct Flow {
        // proxy_upload_rate / proxy_download_rate (rate 0: none) and the bytes read (moved).
        ev::RateLimit limit;
        bool eof = false;
        bool splice = false;
        bool shut = false;     // half-close passed on
        bool delayed = false;  // over its rate: reading waits for the delay timer
    };

    void on_connect(int err);
    /// proxy_ssl: advances the upstream's handshake; connected() once it is done and checked.
    void handshake();
    void connected();
    void connect_failed(const char* what, int err);
    /// The attempt failed (`why` logged at error level): the next upstream, or the end.
    void attempt_failed(const std::string& why);
    void on_readable(bool client);
    void on_drained(bool client);
    void on_timeout(bool client);
    void on_error(bool client);
    /// Moves what `from` has to the other side while it takes it.
    void pump(bool from_client);
    void after_eof(bool from_client);
    void arm_timeout();
    /// What `f` may read now under its rate (SIZE_MAX: no limit); 0 after arming its delay timer.
    size_t allowance(Flow& f, bool from_client);
    void resume(bool from_client);
    void end(int status);
    ev::Connection& conn(bool client) { return client ? *s_.client : *up_; }

    Side client_side_;
    Side up_side_;
    bool relaying_ = false;
    bool handshaking_ = false;
    bool done_ = false;
    std::string ssl_name_;  // proxy_ssl: the name verified and sent in SNI
    std::string from_up_;   // proxy_ssl: bytes that came with the end of the handshake
    Flow up_flow_;          // client -> upstream
    Flow down_flow_;        // upstream -> client
    // The pauses of proxy_upload_rate / proxy_download_rate: timers made for the sessions that
    // pause (their delays vary, unlike the few fixed durations ev::Deadline is made for).
    std::unique_ptr<ev::Timer> up_delay_;
    std::unique_ptr<ev::Timer> down_delay_;
    std::unique_ptr<ev::Connection> up_;
};

void TcpProxy::end(int status) {
    if (done_) {
        return;
    }
    done_ = true;
    if (up_) {
        up_->clear_timeout();
    }
    release(relaying_ ? upstream::Outcome::kOk : upstream::Outcome::kFailed);
    s_.finalize(status);
}

void TcpProxy::attempt() {
    if (!acquire_peer()) {
        end(502);
        return;
    }
    if (!s_.upstream_addr.empty()) {
        s_.upstream_connect_time += ", ";
    }
    s_.add_upstream_attempt(peer_.server->addr.text());
    ev::Connection::ConnectOptions opt;
    opt.keepalive = *c_.socket_keepalive;
    opt.local = c_.bind ? &*c_.bind : nullptr;
    int err = 0;
    bool bind_failed = false;
    int fd = ev::Connection::open_connecting(peer_.server->addr, err, opt, bind_failed);
    if (fd < 0) {
        if (bind_failed) {
            release(upstream::Outcome::kAborted);
            log(core::LogLevel::kCrit, "bind(" + c_.bind->text() + ") failed (" +
                                           std::to_string(err) + ": " + strerror(err) + ")");
            end(500);
            return;
        }
        connect_failed("connect() failed", err);
        return;
    }
    up_ = std::make_unique<ev::Connection>(ev::Runtime::current().loop(), fd, peer_.server->addr,
                                           s_.id);
    up_->set_handler(&up_side_);
    if (*c_.ssl_enable) {
        ssl_name_ = upstream_ssl_name(s_, c_, group_);
        if (!tls::start_tls(*c_.ssl, *up_, ssl_name_, *c_.ssl_server_name)) {
            attempt_failed("SSL_new() failed while connecting to upstream");  // logged
            return;
        }
    }
    up_->start_connect();
    up_->set_timeout(*c_.connect_timeout);
}

void TcpProxy::connect_failed(const char* what, int err) {
    attempt_failed(std::string(what) + " (" + std::to_string(err) + ": " + strerror(err) +
                   ") while connecting to upstream");
}

void TcpProxy::attempt_failed(const std::string& why) {
    handshaking_ = false;
    s_.upstream_connect_time += "-";
    log(core::LogLevel::kError, why);
    release(upstream::Outcome::kFailed);
    if (up_) {
        up_->clear_timeout();
        upstream::drop_connection(std::move(up_));
    }
    if (!may_try_next()) {
        end(502);
        return;
    }
    attempt();
}

void TcpProxy::on_connect(int err) {
    if (done_) {
        return;
    }
    if (err != 0) {
        connect_failed("connect() failed", err);
        return;
    }
    if (up_->transport() != nullptr) {
        handshaking_ = true;  // within proxy_connect_timeout, as nginx
        handshake();
        return;
    }
    connected();
}

void TcpProxy::handshake() {
    g_tls_scratch.clear();
    ev::IoStatus st = up_->read(g_tls_scratch, kScratch);
    if (st == ev::IoStatus::kEof || st == ev::IoStatus::kError) {
        std::string why = tls::tls_handshake_error(*up_);
        attempt_failed((why.empty() ? "peer closed connection in SSL handshake" : why) +
                       " while SSL handshaking to upstream");
        return;
    }
    if (!up_->handshake_done()) {
        return;  // the socket says when to go on
    }
    handshaking_ = false;
    if (*c_.ssl_verify) {
        std::string why = tls::tls_check_peer(*up_, ssl_name_);
        if (!why.empty()) {
            attempt_failed(why + " while SSL handshaking to upstream");
            return;
        }
    }
    if (st == ev::IoStatus::kOk) {
        from_up_.assign(g_tls_scratch.view());  // the server spoke first (a greeting)
    }
    connected();
}

void TcpProxy::connected() {
    up_->clear_timeout();
    stream::append_seconds_ms(s_.upstream_connect_time, core::steady_ms() - attempt_ms_);
    relaying_ = true;
    s_.client->set_handler(&client_side_);
    if (*c_.proxy_protocol) {
        // PROXY protocol v1 (nginx's proxy_protocol on): the client and the address it reached.
        const core::SockAddr& src = s_.peer;
        const core::SockAddr& dst = s_.local();
        std::string h;
        if (src.family() == dst.family() && (src.family() == AF_INET || src.family() == AF_INET6)) {
            h = std::string("PROXY ") + (src.family() == AF_INET ? "TCP4 " : "TCP6 ") +
                src.host_text() + " " + dst.host_text() + " " + std::to_string(src.port()) + " " +
                std::to_string(dst.port()) + "\r\n";
        } else {
            h = "PROXY UNKNOWN\r\n";
        }
        up_->send(h);
        s_.upstream_bytes_sent += h.size();
    }
    if (!s_.preread.empty()) {
        up_->send(s_.preread);
        s_.bytes_received += s_.preread.size();  // (not counted when they were read)
        s_.upstream_bytes_sent += s_.preread.size();
        up_flow_.limit.moved += s_.preread.size();
        std::string().swap(s_.preread);
    }
    if (!from_up_.empty()) {
        s_.client->send(from_up_);
        s_.bytes_sent += from_up_.size();
        s_.upstream_bytes_received += from_up_.size();
        down_flow_.limit.moved += from_up_.size();
        std::string().swap(from_up_);
    }
    arm_timeout();
    pump(true);
    if (!done_) {
        pump(false);  // what came with the connect's event (no recv() when nothing did)
    }
}

void TcpProxy::arm_timeout() {
    s_.client->set_timeout(*c_.timeout);
}

void TcpProxy::pump(bool from_client) {
    if (done_ || !relaying_) {
        return;
    }
    Flow& f = from_client ? up_flow_ : down_flow_;
    if (f.delayed) {
        return;  // the delay timer resumes
    }
    ev::Connection& src = conn(from_client);
    ev::Connection& dst = conn(!from_client);
    size_t cap = static_cast<size_t>(c_.buffer_size->bytes);
    bool moved = false;
    while (!f.eof) {
        if (dst.failed()) {
            on_error(!from_client);
            return;
        }
        if (dst.output_buffered() >= cap) {
            break;  // on_drained(dst) resumes
        }
        size_t limit = f.limit.rate == 0 ? SIZE_MAX : allowance(f, from_client);
        if (limit == 0) {
            break;
        }
        size_t n = 0;
        ev::IoStatus st;
        if (f.splice) {
            st = dst.splice_from(src, std::min(kScratch, limit), n);
            if (st == ev::IoStatus::kError && !src.failed()) {
                f.splice = false;  // no pipe: copy
                continue;
            }
            if (st == ev::IoStatus::kOk && n == 0) {
                break;  // the pipe is still full: on_drained(dst) resumes
            }
        } else if (src.transport() != nullptr) {
            g_tls_scratch.clear();
            st = src.read(g_tls_scratch, std::min({cap, kScratch, limit}));
            if (st == ev::IoStatus::kOk) {
                n = g_tls_scratch.view().size();
                dst.send(g_tls_scratch.view());
            }
        } else {
            st = src.read_into(std::span<char>(g_scratch, std::min({cap, kScratch, limit})), n);
            if (st == ev::IoStatus::kOk) {
                dst.send(std::string_view(g_scratch, n));
            }
        }
        if (st == ev::IoStatus::kAgain) {
            break;
        }
        if (st == ev::IoStatus::kEof) {
            f.eof = true;
            break;
        }
        if (st == ev::IoStatus::kError) {
            log(core::LogLevel::kInfo, std::string("recv() failed (") + std::to_string(errno) +
                                           ": " + strerror(errno) + ") while proxying " +
                                           (from_client ? "connection" : "upstream"));
            f.eof = true;  // nginx: a failed read ends that side as its EOF does (status 200)
            break;
        }
        moved = true;
        f.limit.moved += n;
        if (from_client) {
            s_.bytes_received += n;
            s_.upstream_bytes_sent += n;
        } else {
            s_.bytes_sent += n;
            s_.upstream_bytes_received += n;
        }
        if (!f.splice && f.limit.moved > kSpliceAfter && src.transport() == nullptr &&
            dst.transport() == nullptr) {
            f.splice = true;
        }
    }
    if (moved) {
        arm_timeout();
    }
    if (f.eof) {
        after_eof(from_client);
    }
}

size_t TcpProxy::allowance(Flow& f, bool from_client) {
    // nginx's rule (ev::RateLimit): by second t of the session, rate * t bytes may be read.
    std::chrono::milliseconds wait{0};
    uint64_t allowed = f.limit.allowance(core::steady_ms(), wait);
    if (allowed > 0) {
        return static_cast<size_t>(std::min<uint64_t>(allowed, SIZE_MAX));
    }
    f.delayed = true;
    std::unique_ptr<ev::Timer>& delay = from_client ? up_delay_ : down_delay_;
    if (delay == nullptr) {
        delay =
            ev::Runtime::current().loop().make_timer([this, from_client] { resume(from_client); });
    }
    delay->arm(wait);
    return 0;
}

void TcpProxy::resume(bool from_client) {
    Flow& f = from_client ? up_flow_ : down_flow_;
    f.delayed = false;
    pump(from_client);
}

void TcpProxy::after_eof(bool from_client) {
    ev::Connection& dst = conn(!from_client);
    if (dst.output_pending()) {
        return;  // on_drained(dst) comes back here
    }
    Flow& f = from_client ? up_flow_ : down_flow_;
    Flow& other = from_client ? down_flow_ : up_flow_;
    if (!*c_.half_close) {
        end(200);  // nginx: one side closed and its bytes are delivered: the session ends
        return;
    }
    if (!f.shut) {
        f.shut = true;
        dst.shutdown_write();
    }
    if (other.eof && other.shut) {
        end(200);
    }
}

void TcpProxy::on_readable(bool client) {
    if (!client && handshaking_ && !done_) {
        handshake();
        return;
    }
    pump(client);
}

void TcpProxy::on_drained(bool client) {
    // `client` drained: what the upstream sends may flow again, and the other way round.
    if (done_ || !relaying_) {
        return;
    }
    Flow& feeding = client ? down_flow_ : up_flow_;
    if (feeding.eof) {
        after_eof(!client);
        return;
    }
    pump(!client);
}

void TcpProxy::on_timeout(bool client) {
    if (done_) {
        return;
    }
    if (!relaying_) {
        if (handshaking_) {
            attempt_failed(
                "upstream timed out (110: Connection timed out) while SSL handshaking "
                "to upstream");
            return;
        }
        connect_failed("upstream timed out", ETIMEDOUT);
        return;
    }
    (void)client;
    log(core::LogLevel::kInfo, "timed out (110: Connection timed out) while proxying");
    end(200);
}

void TcpProxy::on_error(bool client) {
    if (done_) {
        return;
    }
    if (!client && handshaking_) {
        attempt_failed("send() failed while SSL handshaking to upstream");
        return;
    }
    log(core::LogLevel::kInfo,
        std::string("send() failed while proxying ") + (client ? "to client" : "to upstream"));
    end(200);  // nginx: a failed send while proxying ends the session with 200, either way
}

}  // namespace

void start_tcp(stream::Session& s, const ProxyConf& conf, const upstream::Group& group) {
    auto p = std::make_unique<TcpProxy>(s, conf, group);
    TcpProxy* proxy = p.get();
    s.content = std::move(p);
    proxy->attempt();
}

}  // namespace mod::stream_proxy
