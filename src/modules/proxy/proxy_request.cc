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

#include "core/clock.h"
#include "http/body_file.h"
#include "http/error_log.h"
#include "modules/proxy/proxy_exchange.h"

namespace mod::proxy {
namespace detail {

void Exchange::begin(bool streamed) {
    streaming_ = streamed;
    background_ = cache_background(r_);
    if (!*c_.ignore_client_abort && !background_) {  // a refresh runs on without its client
        r_.on_client_closed = &Exchange::client_closed;
    }
    buffering_ = *c_.buffering;
    start_ms_ = core::steady_ms();
    if (pass_.group == nullptr) {
        find_peers();
        return;
    }
    begin_with_peers();
}

void Exchange::begin_with_peers() {
    pick_.request = &r_;
    pick_.client = r_.peer;
    pick_.tried.assign(pass_.group->servers().size(), false);
    if (codec_) {
        request_head_ = codec_->request_head(r_, streaming_);
        pool_tag_ = codec_->pool_tag();
        if (request_head_.empty()) {
            log_request(core::LogLevel::kError, std::string(codec_->request_error()));
            finish_error(500);
            return;
        }
        attempt();
        return;
    }
    if (c_.set_body) {
        set_body_ = c_.set_body->eval(r_);
    }
    request_head_ = request_head(r_, c_, pass_, streaming_, set_body_ ? &*set_body_ : nullptr);
    cache_request_head(r_, request_head_);
    if (pass_.https) {
        ssl_name_ = ssl_name_without_port(c_.ssl_name ? c_.ssl_name->eval(r_) : pass_.host);
        pool_tag_ = tls_pool_tag(*c_.ssl, ssl_name_, *c_.ssl_server_name);
    }
    attempt();
}

void Exchange::on_connect(int err) {
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

void Exchange::on_drained() {
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

void Exchange::on_readable() {
    if (state_ == State::kHandshaking) {
        handshake();
        return;
    }
    read_upstream();
}

void Exchange::on_timeout() {
    switch (state_) {
        case State::kConnecting:
            fail(kNextTimeout, 504, "upstream timed out (%d: %s) while connecting to upstream",
                 ETIMEDOUT);
            return;
        case State::kHandshaking:
            fail(kNextTimeout, 504, "upstream timed out (%d: %s) while SSL handshaking to upstream",
                 ETIMEDOUT);
            return;
        case State::kSending:
            if (up_->output_pending()) {
                fail(kNextTimeout, 504,
                     "upstream timed out (%d: %s) while sending request to upstream", ETIMEDOUT);
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

void Exchange::on_error() {
    fail(kNextError, 502, "send() failed (%d: %s) while sending request to upstream", EPIPE);
}

void Exchange::client_closed(http::Request& r) {
    Exchange* x = r.ctx<Exchange>();
    if (x == nullptr || x->state_ == State::kDone || x->state_ == State::kTunnel) {
        return;  // the response is complete (or a tunnel, which ends with either side)
    }
    const char* during = "while reading upstream";
    switch (x->state_) {
        case State::kConnecting:
        case State::kHandshaking:
            during = "while connecting to upstream";
            break;
        case State::kSending:
            during = "while sending request to upstream";
            break;
        case State::kReadingHead:
            during = "while reading response header from upstream";
            break;
        default:
            break;
    }
    x->log_text(core::LogLevel::kInfo,
                std::string("epoll_wait() reported that client prematurely closed connection, so "
                            "upstream connection is closed too ") +
                    during);
    x->release(upstream::Outcome::kAborted);
    x->drop_upstream();
    x->state_ = State::kDone;
    r.client_gone();  // we are destroyed with the request: nothing after this
}

void Exchange::resume(http::Request& r) {
    if (Exchange* x = r.ctx<Exchange>()) {
        x->file_queued_ = false;
        if (x->state_ == State::kDone) {
            x->flush_spill(true);  // the upstream is done: the rest of the file, the end
        } else if (x->state_ == State::kTunnel && !x->up_) {
            r.abort();  // the upstream closed the tunnel: the client has its last bytes now
        } else {
            x->read_upstream();
        }
    }
}

void Exchange::body_data(http::Request& r, std::string_view data, bool last) {
    if (Exchange* x = r.ctx<Exchange>()) {
        x->forward_body(data, last);  // may end the request
    }
}

std::string Exchange::format(const char* fmt, int err) {
    std::string msg = fmt;
    if (msg.find("%d") != std::string::npos) {
        char buf[512];
        snprintf(buf, sizeof(buf), fmt, err, strerror(err));
        msg = buf;
    }
    return msg;
}

void Exchange::log(core::LogLevel level, const char* fmt, int err) {
    log_text(level, format(fmt, err));
}

void Exchange::log_text(core::LogLevel level, const std::string& msg) {
    // nginx's `upstream: "http://127.0.0.1:8080/uri"`: the peer's address (the group's name
    // when no peer was picked) and the URI sent to it.
    std::string& current = upstream_log().current;
    current = codec_ ? codec_->scheme() : pass_.https ? "https://" : "http://";
    current += peer_.server != nullptr  ? peer_.server->addr.text()
               : pass_.group != nullptr ? pass_.group->name()
                                        : pass_.authority;
    if (peer_.server != nullptr && peer_.server->addr.family() == AF_UNIX) {
        current += ':';  // nginx: "http://unix:/run/app.sock:/uri"
    }
    if (codec_) {
        http::log_error(r_, level, "%s", msg.c_str());  // nginx: no URI after the address
        return;
    }
    std::string_view line(request_head_);
    line = line.substr(0, line.find('\r'));
    size_t sp = line.find(' ');
    size_t end = line.rfind(' ');
    if (sp != std::string_view::npos && end > sp) {
        current += line.substr(sp + 1, end - sp - 1);
    }
    http::log_error(r_, level, "%s", msg.c_str());
}

http::UpstreamLog& Exchange::upstream_log() {
    http::UpstreamLog* l = r_.ctx<http::UpstreamLog>();
    return l != nullptr ? *l : r_.make_ctx<http::UpstreamLog>();
}

void Exchange::attempt() {
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
    attempt_ms_ = core::steady_ms();
    in_.clear();
    scan_ = 0;
    chunked_.reset();
    if (codec_) {
        raw_.clear();
        codec_end_ = false;
        codec_->reset();
    }
    state_ = State::kConnecting;
    up_ = upstream::pool_take(*pass_.group, peer_.server->addr, pool_tag_, conn_requests_);
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
    ev::Connection::ConnectOptions opt;
    opt.keepalive = *c_.socket_keepalive;
    std::optional<core::SockAddr> local;
    if (c_.bind && !c_.bind->off) {
        local = c_.bind->addr;
        if (c_.bind->value) {
            std::string text = c_.bind->value->eval(r_);
            local = text.empty() ? std::nullopt : parse_bind_address(text);
            if (!text.empty() && !local) {
                release(upstream::Outcome::kAborted);
                log_request(core::LogLevel::kError, "invalid local address \"" + text + "\"");
                finish_error(500);
                return;
            }
        }
        opt.local = local ? &*local : nullptr;
    }
    bool bind_failed = false;
    int fd = ev::Connection::open_connecting(peer_.server->addr, err, opt, bind_failed);
    if (fd < 0 && bind_failed) {
        release(upstream::Outcome::kAborted);
        log(core::LogLevel::kCrit,
            ("bind(" + local->text() + ") failed (%d: %s) while connecting to upstream").c_str(),
            err);
        finish_error(500);
        return;
    }
    if (fd < 0) {
        // Refused at once (a unix socket's missing path): nginx names the address here.
        std::string fmt = "connect() to ";
        for (char ch : peer_.server->addr.text()) {
            fmt += ch == '%' ? "%%" : std::string(1, ch);
        }
        fmt += " failed (%d: %s) while connecting to upstream";
        // nginx: crit, but error for what a peer or the network may cause.
        bool expected = err == ECONNREFUSED || err == EAGAIN || err == ECONNRESET ||
                        err == ENETDOWN || err == ENETUNREACH || err == EHOSTDOWN ||
                        err == EHOSTUNREACH;
        fail_text(kNextError, 502, format(fmt.c_str(), err),
                  expected ? core::LogLevel::kError : core::LogLevel::kCrit);
        return;
    }
    up_ = std::make_unique<ev::Connection>(ev::Runtime::current().loop(), fd, peer_.server->addr,
                                           r_.connection_id);
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

void Exchange::handshake() {
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

bool Exchange::send_request() {
    if (set_body_) {
        up_->send(request_head_, !set_body_->empty());
        if (!set_body_->empty()) {
            up_->send(*set_body_);
        }
        return true;
    }
    if (codec_) {
        return send_codec_body();
    }
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

bool Exchange::send_codec_body() {
    bool body = *c_.pass_request_body && r_.body && r_.body->size > 0;
    if (streaming_) {
        up_->send(request_head_);  // the body follows as it comes (forward_body)
        return true;
    }
    std::string out = request_head_;
    if (body && !r_.body->in_file()) {
        std::string_view data = r_.body->memory;
        for (size_t at = 0; at < data.size(); at += codec_->max_piece()) {
            std::string_view piece = data.substr(at, codec_->max_piece());
            codec_->body_prefix(piece.size(), out);
            out.append(piece);
        }
    } else if (body) {
        // The file in pieces, each after its prefix (a record head), each its own descriptor.
        for (uint64_t at = 0; at < r_.body->size; at += codec_->max_piece()) {
            size_t len =
                static_cast<size_t>(std::min<uint64_t>(codec_->max_piece(), r_.body->size - at));
            codec_->body_prefix(len, out);
            int fd = ::dup(r_.body->fd);
            if (fd < 0) {
                log(core::LogLevel::kCrit, "dup() of the request body file failed (%d: %s)", errno);
                return false;
            }
            up_->send(out, true);
            out.clear();
            up_->send_file(fd, at, len, true);
        }
    }
    codec_->body_end(out);
    up_->send(out);
    return true;
}

void Exchange::request_not_sent() {
    release(upstream::Outcome::kAborted);
    drop_upstream();
    finish_error(500);
}

void Exchange::fail(uint32_t reason, int status, const char* fmt, int err) {
    fail_text(reason, status, format(fmt, err));
}

void Exchange::fail_text(uint32_t reason, int status, const std::string& msg,
                         core::LogLevel level) {
    bool stale = reused_ && state_ != State::kReadingBody && in_.size() == 0 &&
                 reason == kNextError && !body_gone();
    log_text(stale ? core::LogLevel::kInfo : level, msg);
    drop_upstream();
    int64_t now = core::steady_ms();
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

bool Exchange::retry_allowed(uint32_t reason, bool sent) const {
    uint32_t allowed = *c_.next_upstream;
    return (allowed & reason) && !(allowed & kNextOff) &&
           (!sent || idempotent(r_.method) || (allowed & kNextNonIdempotent)) &&
           (*c_.next_upstream_tries == 0 || tries_ < *c_.next_upstream_tries) &&
           (c_.next_upstream_timeout->count() == 0 ||
            core::steady_ms() - start_ms_ < c_.next_upstream_timeout->count()) &&
           has_untried_peer() && !body_gone();
}

void Exchange::start_body() {
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

void Exchange::forward_body(std::string_view data, bool last) {
    if (!up_ || body_in_) {
        body_sent_ += data.size() + 1;  // no upstream (it failed): dropped, never resent
        return;
    }
    if (codec_) {
        chunk_.clear();
        for (size_t at = 0; at < data.size(); at += codec_->max_piece()) {
            std::string_view piece = data.substr(at, codec_->max_piece());
            codec_->body_prefix(piece.size(), chunk_);
            chunk_.append(piece);
        }
        if (last) {
            codec_->body_end(chunk_);
        }
        data = chunk_;
    } else if (r_.chunked) {
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

void Exchange::pace_client() {
    if (!client_paused_ && up_->output_buffered() > kUpstreamHighWater) {
        client_paused_ = true;
        r_.pause_input();
        up_->set_timeout(*c_.send_timeout);
    }
}

void Exchange::finish_error(int status) {
    state_ = State::kDone;
    if (background_) {
        cache_background_end(r_);  // the client has the stale answer: the request ends
        return;
    }
    if (cache_on_error(r_, c_, pass_, status)) {
        return;  // proxy_cache_use_stale: the stale entry answered
    }
    r_.send_error(status);  // may finish the request: nothing after this
}

void Exchange::release(upstream::Outcome outcome) {
    if (released_ || peer_.index < 0) {
        return;
    }
    released_ = true;
    int64_t now = core::steady_ms();
    pass_.group->release(peer_, outcome, upstream::Millis(now - attempt_ms_), now);
}

void body_read(http::Request& r) {
    if (Exchange* x = r.ctx<Exchange>()) {
        x->begin(false);
    }
}

}  // namespace detail

using detail::body_read;
using detail::eval_pass;
using detail::Exchange;

http::Flow start(http::Request& r, const ProxyLocConf& conf, std::unique_ptr<Codec> codec) {
    const ProxyPass* pass = conf.pass.get();
    if (pass->value) {
        pass = eval_pass(r, *pass);
        if (pass == nullptr) {
            r.send_error(500);
            return http::Flow::kDone;
        }
    }
    if (conf.cache.enabled()) {
        if (auto f = detail::cache_lookup(r, conf, *pass, codec)) {
            return *f;  // answered from the cache, or waiting for proxy_cache_lock
        }
    }
    return detail::start_exchange(r, conf, *pass, std::move(codec));
}

namespace detail {

http::Flow start_exchange(http::Request& r, const ProxyLocConf& conf, const ProxyPass& p,
                          std::unique_ptr<Codec> codec) {
    const ProxyPass* pass = &p;
    bool chunked_ok = codec ? codec->streams_unknown_length() : *conf.http_minor == 1;
    Exchange& x = r.make_ctx<Exchange>(r, conf, *pass, std::move(codec));
    if (r.has_body() && *conf.pass_request_body && !*conf.request_buffering && !conf.set_body &&
        (!r.chunked || chunked_ok)) {
        // proxy_request_buffering off: the body follows the head as it comes. A chunked one
        // needs HTTP/1.1 to the upstream; with 1.0 it is read whole for its length (nginx).
        x.begin(true);
        return http::Flow::kSuspend;
    }
    if (r.has_body() || http::wants_body_file(r)) {
        // Read whole first; when it is not passed, read and dropped (the client may wait).
        // client_body_in_file_only gives even an empty body its file.
        return r.read_body(&body_read);
    }
    x.begin(false);
    return http::Flow::kSuspend;
}

}  // namespace detail

}  // namespace mod::proxy
