// One request's exchange with an upstream group: pick a peer, connect (or reuse a pooled
// keepalive connection), send the request head and body, read and check the response head,
// stream the body to the client at the client's pace, and retry on the next peer when
// proxy_next_upstream allows it. WebSocket (101) becomes a tunnel. An https upstream gets a
// TLS handshake (and, with proxy_ssl_verify, its certificate checked) before the request.
//
// With proxy_request_buffering off the request body follows the head as the client sends it
// (re-chunked when it came chunked), once the connection is up, and the client is read only
// as fast as the upstream takes it; once a byte of it went out the request is not retried.
// A tunnel is paced the same way both ways.
//
// Lifetime: the exchange state is a RequestCtx, destroyed with the request. The request may
// be finished (and destroyed) by the last call that hands it the end of the response, so
// that call is always the last thing a method does. The upstream connection is never
// destroyed inside its own callbacks: it is handed to the pool or to a posted deletion.
#include <fcntl.h>
#include <strings.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "core/log.h"
#include "event/connection.h"
#include "event/runtime.h"
#include "http/parse.h"
#include "http/response_parse.h"
#include "modules/proxy/pool.h"
#include "modules/proxy/proxy.h"
#include "modules/proxy/proxy_ssl.h"

namespace mod::proxy {
namespace {

constexpr size_t kReadPiece = 65536;
// Queued for the upstream beyond this, the client is not read (streamed body, tunnel).
constexpr size_t kUpstreamHighWater = 256 * 1024;

bool idempotent(std::string_view method) {
    return method != "POST" && method != "LOCK" && method != "PATCH";
}

class Exchange : public http::RequestCtx, public ev::ConnectionHandler {
  public:
    Exchange(http::Request& r, const ProxyLocConf& c) : r_(r), c_(c), pass_(*c.pass) {}
    ~Exchange() override {
        release(upstream::Outcome::kAborted);
        drop_upstream();
        if (spill_fd_ >= 0) {
            ::close(spill_fd_);
        }
    }

    /// `streamed`: the request body is passed on as it arrives (proxy_request_buffering off).
    void begin(bool streamed) {
        streaming_ = streamed;
        start_ms_ = upstream::now_ms();
        pick_.request = &r_;
        pick_.client = r_.peer;
        pick_.tried.assign(pass_.group->servers().size(), false);
        request_head_ = request_head(r_, c_, streamed);
        if (pass_.https) {
            ssl_name_ = ssl_name_without_port(c_.ssl_name ? c_.ssl_name->eval(r_) : pass_.host);
            pool_tag_ = tls_pool_tag(*c_.ssl, ssl_name_, *c_.ssl_server_name);
        }
        attempt();
    }

    // ---- upstream connection events ----
    void on_connect(int err) override {
        if (err != 0) {
            fail(kNextError, 502, "connect() failed (%d: %s) while connecting to upstream", err);
            return;
        }
        if (pass_.https) {
            state_ = State::kHandshaking;  // under proxy_connect_timeout still, as nginx
            handshake();
            return;
        }
        state_ = State::kSending;
        if (up_->output_pending()) {
            up_->set_timeout(*c_.send_timeout);
            start_body();  // queued behind the head
        } else {
            on_drained();
        }
    }
    void on_drained() override {
        if (client_paused_) {
            client_paused_ = false;  // the upstream took what was queued: read the client on
            r_.resume_input();
            if (state_ == State::kTunnel) {
                up_->set_timeout(*c_.read_timeout);
            }
        }
        if (state_ == State::kSending) {
            if (streaming_ && !body_in_) {
                up_->clear_timeout();  // waiting for the client (client_body_timeout)
                start_body();
                return;
            }
            state_ = State::kReadingHead;
            up_->set_timeout(*c_.read_timeout);
        }
    }
    void on_readable() override {
        if (state_ == State::kHandshaking) {
            handshake();
            return;
        }
        read_upstream();
    }
    void on_timeout() override {
        switch (state_) {
            case State::kConnecting:
                fail(kNextTimeout, 504, "upstream timed out (%d: %s) while connecting to upstream",
                     ETIMEDOUT);
                return;
            case State::kHandshaking:
                fail(kNextTimeout, 504,
                     "upstream timed out (%d: %s) while SSL handshaking to upstream", ETIMEDOUT);
                return;
            case State::kSending:
                if (up_->output_pending()) {
                    fail(kNextTimeout, 504,
                         "upstream timed out (%d: %s) while sending request to upstream",
                         ETIMEDOUT);
                    return;
                }
                [[fallthrough]];
            case State::kReadingHead:
                fail(kNextTimeout, 504,
                     "upstream timed out (%d: %s) while reading response header from upstream",
                     ETIMEDOUT);
                return;
            default:
                log(core::LogLevel::kError, "upstream timed out (%d: %s) while reading upstream",
                    ETIMEDOUT);
                release(upstream::Outcome::kFailed);
                r_.abort();
        }
    }
    void on_error() override {
        fail(kNextError, 502, "send() failed (%d: %s) while sending request to upstream", EPIPE);
    }

    /// The client drained what it was sent: read on.
    static void resume(http::Request& r) {
        if (Exchange* x = r.ctx<Exchange>()) {
            x->file_queued_ = false;
            if (x->state_ == State::kDone) {
                x->flush_spill(true);  // the upstream is done: the rest of the file, the end
            } else {
                x->read_upstream();
            }
        }
    }
    static void tunnel_from_client(http::Request& r, std::string_view data) {
        if (Exchange* x = r.ctx<Exchange>(); x != nullptr && x->up_) {
            x->up_->send(data);
            x->up_->set_timeout(*x->c_.read_timeout);
            x->pace_client();
        }
    }
    /// A piece of a streamed request body (Session::stream_body).
    static void body_data(http::Request& r, std::string_view data, bool last) {
        if (Exchange* x = r.ctx<Exchange>()) {
            x->forward_body(data, last);  // may end the request
        }
    }

  private:
    enum class State {
        kConnecting,
        kHandshaking,
        kSending,
        kReadingHead,
        kReadingBody,
        kTunnel,
        kDone
    };

    /// `fmt` with "%d: %s" filled from `err` when it has them.
    static std::string format(const char* fmt, int err) {
        std::string msg = fmt;
        if (msg.find("%d") != std::string::npos) {
            char buf[512];
            snprintf(buf, sizeof(buf), fmt, err, strerror(err));
            msg = buf;
        }
        return msg;
    }

    void log(core::LogLevel level, const char* fmt, int err = 0) {
        log_text(level, format(fmt, err));
    }
    void log_text(core::LogLevel level, const std::string& msg) {
        core::log_conn(level, r_.connection_id, "%s, client: %s, upstream: \"%s\"", msg.c_str(),
                       r_.peer.host_text().c_str(),
                       peer_.server != nullptr ? peer_.server->name.c_str() : "");
    }

    http::UpstreamLog& upstream_log() {
        http::UpstreamLog* l = r_.ctx<http::UpstreamLog>();
        return l != nullptr ? *l : r_.make_ctx<http::UpstreamLog>();
    }

    /// One attempt: a peer, a connection, the request.
    void attempt() {
        if (body_started_ && !client_paused_) {
            client_paused_ = true;  // a streamed body waits for the next connection
            r_.pause_input();
        }
        peer_ = pass_.group->acquire(pick_);
        if (peer_.index < 0) {
            log(core::LogLevel::kError, "no live upstreams while connecting to upstream");
            upstream_log().attempts.push_back({pass_.group->name(), 502, 0});
            finish_error(502);
            return;
        }
        released_ = false;
        pick_.tried[static_cast<size_t>(peer_.index)] = true;
        tries_++;
        attempt_ms_ = upstream::now_ms();
        in_.clear();
        scan_ = 0;
        chunked_.reset();
        state_ = State::kConnecting;
        up_ = pool_take(*pass_.group, peer_.server->addr, pool_tag_, conn_requests_);
        reused_ = up_ != nullptr;
        if (up_) {
            up_->set_handler(this);
            state_ = State::kSending;
            if (!send_request()) {
                request_not_sent();
                return;
            }
            if (up_ && !up_->output_pending() && state_ == State::kSending) {
                on_drained();
            }
            return;
        }
        int err = 0;
        int fd = ev::Connection::open_connecting(peer_.server->addr, err);
        if (fd < 0) {
            fail(kNextError, 502, "connect() failed (%d: %s) while connecting to upstream", err);
            return;
        }
        up_ = std::make_unique<ev::Connection>(ev::Runtime::current().loop(), fd,
                                               peer_.server->addr, r_.connection_id);
        up_->set_handler(this);
        state_ = State::kConnecting;
        if (pass_.https) {
            // The request waits for the handshake and the certificate check (handshake()).
            if (!start_tls(*c_.ssl, *up_, ssl_name_, *c_.ssl_server_name)) {
                fail(kNextError, 502, "SSL_new() failed while connecting to upstream");
                return;
            }
            up_->start_connect();
            up_->set_timeout(*c_.connect_timeout);
            return;
        }
        up_->start_connect();
        if (!send_request()) {  // queued until connected
            request_not_sent();
            return;
        }
        up_->set_timeout(*c_.connect_timeout);
    }

    /// Advances the TLS handshake of a new upstream connection; once it is done (and the
    /// certificate passed proxy_ssl_verify), the request goes out.
    void handshake() {
        ev::IoStatus st = up_->read(in_, c_.buffer_size->bytes + 1);
        if (st == ev::IoStatus::kEof || st == ev::IoStatus::kError) {
            std::string why = tls_handshake_error(*up_);
            fail_text(kNextError, 502,
                      (why.empty() ? "peer closed connection in SSL handshake" : why) +
                          " while SSL handshaking to upstream");
            return;
        }
        if (!up_->handshake_done()) {
            return;  // the socket says when to go on
        }
        if (*c_.ssl_verify) {
            std::string why = tls_check_peer(*up_, ssl_name_);
            if (!why.empty()) {
                fail_text(kNextError, 502, why + " while SSL handshaking to upstream");
                return;
            }
        }
        state_ = State::kSending;
        up_->set_timeout(*c_.send_timeout);
        if (!send_request()) {
            request_not_sent();
            return;
        }
        if (up_->output_pending()) {
            start_body();  // a streamed body follows the head
        } else {
            on_drained();
        }
        if (st == ev::IoStatus::kOk && up_) {
            read_upstream();  // the server spoke first: what it said is read as the response
        }
    }

    /// Queues the head and the body; false (nothing queued) when the body's file cannot be
    /// shared with the connection: the client gets 500, never a request without its body.
    bool send_request() {
        bool body = *c_.pass_request_body && r_.body && r_.body->size > 0;
        int fd = -1;
        if (body && r_.body->in_file() && (fd = ::dup(r_.body->fd)) < 0) {
            log(core::LogLevel::kCrit, "dup() of the request body file failed (%d: %s)", errno);
            return false;
        }
        up_->send(request_head_, body);
        if (fd >= 0) {
            up_->send_file(fd, 0, r_.body->size, true);
        } else if (body) {
            up_->send(r_.body->memory);
        }
        return true;
    }

    void request_not_sent() {
        release(upstream::Outcome::kAborted);
        drop_upstream();
        finish_error(500);
    }

    /// An attempt failed with `reason` (a NextUpstream bit): the next peer when allowed, else
    /// the error `status` to the client.
    void fail(uint32_t reason, int status, const char* fmt, int err = 0) {
        fail_text(reason, status, format(fmt, err));
    }
    void fail_text(uint32_t reason, int status, const std::string& msg) {
        bool stale = reused_ && state_ != State::kReadingBody && in_.size() == 0 &&
                     reason == kNextError && !body_gone();
        log_text(stale ? core::LogLevel::kInfo : core::LogLevel::kError, msg);
        drop_upstream();
        int64_t now = upstream::now_ms();
        upstream_log().attempts.push_back(
            {peer_.server != nullptr ? peer_.server->name : "", status, now - attempt_ms_});
        if (stale && idempotent(r_.method)) {
            // A pooled connection the server had closed: not the server's fault, once more.
            release(upstream::Outcome::kAborted);
            pick_.tried[static_cast<size_t>(peer_.index)] = false;
            tries_--;
            attempt();
            return;
        }
        release(upstream::Outcome::kFailed);
        if (retry_allowed(reason, state_ != State::kConnecting && state_ != State::kHandshaking)) {
            attempt();
            return;
        }
        finish_error(status);  // the last attempt's status (504 after a timeout), as nginx
    }

    /// proxy_next_upstream: whether a failure for `reason` moves the request to another peer.
    /// A request already `sent` is retried only when idempotent (or non_idempotent is set).
    bool retry_allowed(uint32_t reason, bool sent) const {
        uint32_t allowed = *c_.next_upstream;
        return (allowed & reason) && !(allowed & kNextOff) &&
               (!sent || idempotent(r_.method) || (allowed & kNextNonIdempotent)) &&
               (*c_.next_upstream_tries == 0 || tries_ < *c_.next_upstream_tries) &&
               (c_.next_upstream_timeout->count() == 0 ||
                upstream::now_ms() - start_ms_ < c_.next_upstream_timeout->count()) &&
               has_untried_peer() && !body_gone();
    }

    /// A streamed body of which bytes went to an upstream: it cannot be sent again (nginx).
    bool body_gone() const { return streaming_ && body_sent_ > 0; }

    /// The connection is up: a streamed body starts flowing (or flows on after a retry).
    void start_body() {
        if (!streaming_ || body_in_) {
            return;
        }
        if (!body_started_) {
            body_started_ = true;
            r_.stream_body(&Exchange::body_data);  // the first piece comes from the loop
        } else if (client_paused_ && up_->output_buffered() <= kUpstreamHighWater) {
            client_paused_ = false;
            r_.resume_input();
        }
    }

    /// Passes a piece of the streamed body on, re-chunked when the client sent it chunked;
    /// pauses the client while the upstream is behind.
    void forward_body(std::string_view data, bool last) {
        if (!up_ || body_in_) {
            body_sent_ += data.size() + 1;  // no upstream (it failed): dropped, never resent
            return;
        }
        if (r_.chunked) {
            chunk_.clear();
            if (!data.empty()) {
                char size[20];
                snprintf(size, sizeof(size), "%zx\r\n", data.size());
                chunk_ += size;
                chunk_.append(data);
                chunk_ += "\r\n";
            }
            if (last) {
                chunk_ += "0\r\n\r\n";
            }
            data = chunk_;
        }
        up_->send(data);
        body_sent_ += data.size();
        body_in_ = last;
        if (up_->failed()) {
            fail(kNextError, 502, "send() failed (%d: %s) while sending request to upstream",
                 errno != 0 ? errno : EPIPE);
            return;  // the request may be gone
        }
        pace_client();
        if (state_ == State::kSending && up_->output_pending()) {
            up_->set_timeout(*c_.send_timeout);
        } else if (state_ == State::kSending && last) {
            on_drained();  // all out at once: no drain event comes
        }
    }

    /// Stops reading the client while too much waits for the upstream; on_drained() resumes.
    void pace_client() {
        if (!client_paused_ && up_->output_buffered() > kUpstreamHighWater) {
            client_paused_ = true;
            r_.pause_input();
            up_->set_timeout(*c_.send_timeout);
        }
    }

    void finish_error(int status) {
        state_ = State::kDone;
        r_.send_error(status);  // may finish the request: nothing after this
    }

    void release(upstream::Outcome outcome) {
        if (released_ || peer_.index < 0) {
            return;
        }
        released_ = true;
        int64_t now = upstream::now_ms();
        pass_.group->release(peer_, outcome, upstream::Millis(now - attempt_ms_), now);
    }

    void drop_upstream() { drop_connection(std::move(up_)); }

    // ---- response ----

    void read_upstream() {
        while (up_ && (state_ == State::kReadingHead || state_ == State::kReadingBody ||
                       state_ == State::kSending || state_ == State::kTunnel)) {
            if (state_ == State::kTunnel && r_.output_blocked()) {
                // The client is behind: the upstream waits (send_timeout runs on the client).
                r_.on_drained = &Exchange::resume;
                up_->clear_timeout();
                return;
            }
            if (state_ == State::kReadingBody) {
                bool blocked = r_.output_blocked() || file_queued_;
                if (!blocked && spill_sent_ < spill_written_) {
                    flush_spill(false);
                    blocked = file_queued_;
                }
                if (blocked && !can_spill()) {
                    // proxy_buffering off, or the temp file is full: the upstream waits.
                    r_.on_drained = &Exchange::resume;
                    up_->clear_timeout();
                    return;
                }
            }
            size_t limit = state_ == State::kReadingBody || state_ == State::kTunnel
                               ? in_.size() + kReadPiece
                               : c_.buffer_size->bytes + 1;
            switch (up_->read(in_, limit > in_.size() ? limit - in_.size() : 1)) {
                case ev::IoStatus::kOk:
                    if (!on_bytes()) {
                        return;
                    }
                    continue;
                case ev::IoStatus::kAgain:
                    up_->set_timeout(*c_.read_timeout);
                    return;
                case ev::IoStatus::kEof:
                case ev::IoStatus::kError:
                    on_upstream_closed();
                    return;
            }
        }
    }

    /// New bytes in in_; false when the exchange moved on (or ended).
    bool on_bytes() {
        if (state_ == State::kTunnel) {
            r_.write_raw(in_.view());
            in_.clear();
            return true;
        }
        if (state_ == State::kReadingBody) {
            return body_bytes();
        }
        std::string why;
        switch (http::parse_response_head(in_.view(), c_.buffer_size->bytes, scan_, head_, &why)) {
            case http::ParseResult::kIncomplete:
                return true;
            case http::ParseResult::kError:
                fail_text(kNextInvalidHeader, 502,
                          why + " while reading response header from upstream");
                return false;
            case http::ParseResult::kComplete:
                break;
        }
        return on_head();
    }

    bool on_head() {
        int status = head_.status;
        if (status >= 100 && status < 200 && status != 101) {
            in_.consume(head_.head_len);  // 100 Continue and friends: the final one follows
            scan_ = 0;
            return in_.empty() ? true : on_bytes();
        }
        if (status == 101) {
            if (!r_.upgrade || !head_.upgrade) {
                fail(kNextInvalidHeader, 502, "upstream sent unexpected 101 response");
                return false;
            }
            return start_tunnel();
        }
        static constexpr std::pair<int, uint32_t> kStatusBits[] = {
            {500, kNextHttp500}, {502, kNextHttp502}, {503, kNextHttp503}, {504, kNextHttp504},
            {403, kNextHttp403}, {404, kNextHttp404}, {429, kNextHttp429}};
        for (auto [code, bit] : kStatusBits) {
            if (status == code && retry_allowed(bit, true)) {
                // Counted as the server's failure only for 5xx, as nginx.
                fail_status(status, bit);
                return false;
            }
        }
        auto& attempts = upstream_log().attempts;
        attempts.push_back({peer_.server->name, status, upstream::now_ms() - attempt_ms_});
        if (*c_.intercept_errors && status >= 300 && has_error_page(status)) {
            release(upstream::Outcome::kOk);
            drop_upstream();
            state_ = State::kDone;
            r_.send_error(status);  // error_page: an internal redirect, we are retired
            return false;
        }
        pass_head();
        state_ = State::kReadingBody;
        framing_ = head_.framing(r_.method == "HEAD");
        body_left_ = head_.content_length.value_or(0);
        in_.consume(head_.head_len);
        if (framing_ == http::BodyFraming::kNone ||
            (framing_ == http::BodyFraming::kLength && body_left_ == 0)) {
            finish_body();
            return false;
        }
        return in_.empty() ? true : body_bytes();
    }

    bool has_untried_peer() const {
        for (bool t : pick_.tried) {
            if (!t) {
                return true;
            }
        }
        return false;
    }

    void fail_status(int status, uint32_t bit) {
        log(core::LogLevel::kWarn, ("upstream answered " + std::to_string(status) +
                                    ", trying the next one (proxy_next_upstream)")
                                       .c_str());
        upstream_log().attempts.push_back(
            {peer_.server->name, status, upstream::now_ms() - attempt_ms_});
        drop_upstream();
        release(status >= 500 ? upstream::Outcome::kFailed : upstream::Outcome::kOk);
        attempt();
    }

    bool has_error_page(int status) const {
        const auto& pages = r_.loc_conf<http::HttpLocConf>().error_pages;
        if (!pages || r_.in_error_page) {
            return false;
        }
        for (const auto& p : *pages) {
            for (int code : p->codes) {
                if (code == status) {
                    return true;
                }
            }
        }
        return false;
    }

    /// The upstream's status and headers to the client.
    void pass_head() {
        std::string_view type = pass_response_headers(r_, c_, head_);
        std::optional<uint64_t> length = head_.content_length;
        if (head_.chunked || head_.status == 204 || head_.status == 304) {
            length.reset();
        }
        r_.send_head(head_.status, type, length);
    }

    /// Body bytes for the client: straight on, or into the temp file while the client is
    /// slower than the upstream (proxy_buffering), so that the upstream is freed early.
    bool deliver(std::string_view data) {
        if (spill_fd_ < 0 && !r_.output_blocked() && !file_queued_) {
            http::BodyChunk c;
            c.data = data;
            r_.send_body(c);
            return true;
        }
        if (spill_fd_ < 0) {
            spill_fd_ = http::open_temp_file(*c_.temp_path);
            if (spill_fd_ < 0) {
                log(core::LogLevel::kCrit, "open() of a temporary file failed (%d: %s)", errno);
                return false;
            }
            log(core::LogLevel::kWarn, "an upstream response is buffered to a temporary file");
        }
        while (!data.empty()) {
            ssize_t n =
                ::pwrite(spill_fd_, data.data(), data.size(), static_cast<off_t>(spill_written_));
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                log(core::LogLevel::kCrit, "pwrite() to a temporary file failed (%d: %s)", errno);
                return false;
            }
            spill_written_ += static_cast<uint64_t>(n);
            data.remove_prefix(static_cast<size_t>(n));
        }
        return true;
    }

    bool can_spill() const {
        return *c_.buffering && spill_written_ - spill_sent_ < c_.max_temp_file_size->bytes;
    }

    /// Hands the client what the temp file holds beyond what it was given; with `last`, the
    /// end of the body too (the last thing done: it may end the request).
    void flush_spill(bool last) {
        http::BodyChunk c;
        uint64_t n = spill_written_ - spill_sent_;
        if (n > 0) {
            c.fd = ::dup(spill_fd_);
            if (c.fd < 0) {
                log(core::LogLevel::kCrit, "dup() failed (%d: %s)", errno);
                r_.abort();
                return;
            }
            c.offset = spill_sent_;
            c.length = n;
            spill_sent_ += n;
        }
        c.last = last;
        if (!last) {
            if (n == 0) {
                return;
            }
            file_queued_ = true;
            r_.on_drained = &Exchange::resume;
            r_.send_body(c);
            if (!r_.output_pending()) {
                file_queued_ = false;  // written at once: no drain event will come
                r_.on_drained = nullptr;
            }
            return;
        }
        r_.send_body(c);
    }

    bool body_bytes() {
        while (!in_.empty()) {
            http::BodyChunk c;
            if (framing_ == http::BodyFraming::kLength) {
                size_t n = static_cast<size_t>(std::min<uint64_t>(body_left_, in_.size()));
                body_left_ -= n;
                if (body_left_ == 0) {
                    if (in_.size() > n) {
                        extra_bytes_ = true;  // more than announced: not reusable
                    }
                    std::string last(in_.view().substr(0, n));
                    in_.clear();
                    finish_body(last);
                    return false;
                }
                if (!deliver(in_.view().substr(0, n))) {
                    return give_up();
                }
                in_.consume(n);
            } else if (framing_ == http::BodyFraming::kChunked) {
                size_t used = 0;
                std::string_view data;
                auto res = chunked_.decode(in_.view(), used, data);
                if (res == http::ChunkedDecoder::Result::kError) {
                    log(core::LogLevel::kError, "upstream sent invalid chunked response");
                    release(upstream::Outcome::kFailed);
                    drop_upstream();
                    r_.abort();
                    return false;
                }
                if (!data.empty() && !deliver(data)) {
                    return give_up();
                }
                in_.consume(used);
                if (res == http::ChunkedDecoder::Result::kDone) {
                    extra_bytes_ = !in_.empty();
                    in_.clear();
                    finish_body();
                    return false;
                }
                if (used == 0) {
                    break;  // needs more input
                }
            } else {
                if (!deliver(in_.view())) {
                    return give_up();
                }
                in_.clear();
            }
        }
        return true;
    }

    /// The response cannot be completed (a temp file error): the client sees it cut short.
    bool give_up() {
        release(upstream::Outcome::kAborted);
        drop_upstream();
        r_.abort();
        return false;
    }

    void on_upstream_closed() {
        if (state_ == State::kTunnel) {
            release(upstream::Outcome::kOk);
            drop_upstream();
            r_.abort();  // the tunnel ends with either side
            return;
        }
        if (state_ == State::kReadingBody) {
            if (framing_ == http::BodyFraming::kUntilClose) {
                drop_upstream();
                finish_body();
                return;
            }
            log(core::LogLevel::kError,
                "upstream prematurely closed connection while reading upstream");
            release(upstream::Outcome::kFailed);
            drop_upstream();
            r_.abort();
            return;
        }
        fail(kNextError, 502,
             "upstream prematurely closed connection while reading response header from "
             "upstream");
    }

    /// The whole response body is in: the connection to the pool (when it can be reused),
    /// the peer released, then the end of the body to the client (last: it may end us).
    void finish_body(std::string_view last_bytes = {}) {
        state_ = State::kDone;
        // A streamed body must have gone out whole (nginx's request_body_sent).
        bool reusable = up_ && pass_.group->keepalive() > 0 && *c_.http_minor == 1 &&
                        !head_.close && !extra_bytes_ &&
                        framing_ != http::BodyFraming::kUntilClose && (!streaming_ || body_in_) &&
                        !up_->output_pending();
        release(upstream::Outcome::kOk);
        if (reusable) {
            pool_put(*pass_.group, peer_.server->addr, pool_tag_, std::move(up_),
                     conn_requests_ + 1);
        } else {
            drop_upstream();
        }
        if (spill_fd_ >= 0) {
            if (!deliver(last_bytes)) {
                r_.abort();
                return;
            }
            if (!file_queued_ && !r_.output_blocked()) {
                flush_spill(true);
            } else {
                r_.on_drained = &Exchange::resume;  // the rest once the client caught up
            }
            return;
        }
        http::BodyChunk c;
        c.data = last_bytes;
        c.last = true;
        r_.send_body(c);
    }

    bool start_tunnel() {
        for (const http::Header& h : head_.headers) {
            if (http::iequals(h.name, "Upgrade")) {
                r_.out_headers.emplace_back("Upgrade", std::string(h.value));
            } else if (!skip_response_header(h.name, c_)) {
                r_.out_headers.emplace_back(std::string(h.name), std::string(h.value));
            }
        }
        upstream_log().attempts.push_back(
            {peer_.server->name, 101, upstream::now_ms() - attempt_ms_});
        r_.out.upgrade = true;
        r_.send_head(101, {}, std::nullopt);
        in_.consume(head_.head_len);
        std::string early(in_.view());
        in_.clear();
        state_ = State::kTunnel;
        up_->set_timeout(*c_.read_timeout);
        r_.start_tunnel(&Exchange::tunnel_from_client);  // writes the head first
        if (!early.empty()) {
            r_.write_raw(early);
        }
        return true;
    }

    http::Request& r_;
    const ProxyLocConf& c_;
    const ProxyPass& pass_;
    upstream::PickContext pick_;
    upstream::Peer peer_;
    bool released_ = true;
    int tries_ = 0;
    int64_t start_ms_ = 0;
    int64_t attempt_ms_ = 0;
    std::string request_head_;
    std::string ssl_name_;  // https: proxy_ssl_name (SNI, verification), without a port
    std::string pool_tag_;  // https: which pooled connections fit (tls_pool_tag)
    std::unique_ptr<ev::Connection> up_;
    bool reused_ = false;
    int conn_requests_ = 0;
    State state_ = State::kConnecting;
    ev::Buffer in_;
    size_t scan_ = 0;
    http::ParsedResponse head_;
    http::BodyFraming framing_ = http::BodyFraming::kNone;
    uint64_t body_left_ = 0;
    http::ChunkedDecoder chunked_;
    bool extra_bytes_ = false;
    // The temp file of a response buffered while the client is slow.
    int spill_fd_ = -1;
    uint64_t spill_written_ = 0;
    uint64_t spill_sent_ = 0;
    bool file_queued_ = false;  // a range of it is queued on the client connection
    // A streamed request body (proxy_request_buffering off).
    bool streaming_ = false;
    bool body_started_ = false;   // r_.stream_body() was called
    bool body_in_ = false;        // its end was handed to the upstream connection
    bool client_paused_ = false;  // the client is not read: the upstream is behind (or gone)
    uint64_t body_sent_ = 0;      // bytes of it handed to an upstream (framing included)
    std::string chunk_;           // one re-chunked piece
};

void body_read(http::Request& r) {
    if (Exchange* x = r.ctx<Exchange>()) {
        x->begin(false);
    }
}

}  // namespace

http::Flow start(http::Request& r, const ProxyLocConf& conf) {
    Exchange& x = r.make_ctx<Exchange>(r, conf);
    if (r.has_body() && *conf.pass_request_body && !*conf.request_buffering &&
        (!r.chunked || *conf.http_minor == 1)) {
        // proxy_request_buffering off: the body follows the head as it comes. A chunked one
        // needs HTTP/1.1 to the upstream; with 1.0 it is read whole for its length (nginx).
        x.begin(true);
        return http::Flow::kSuspend;
    }
    if (r.has_body()) {
        // Read whole first; when it is not passed, read and dropped (the client may wait).
        return r.read_body(&body_read);
    }
    x.begin(false);
    return http::Flow::kSuspend;
}

}  // namespace mod::proxy
