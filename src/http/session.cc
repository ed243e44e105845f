#include "http/session.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <strings.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <utility>

#include "core/log.h"
#include "http/error_log.h"

namespace http {
namespace {

const HttpSrvConf& srv_conf(const ServerBlock& s) {
    return core::conf_of<HttpSrvConf>(s.srv_confs);
}

}  // namespace

// ---- Session: connection and request lifecycle ----

Http1Session::Http1Session(const Port& port, int fd, const core::SockAddr& peer, bool nodelay)
    : Session(port),
      conn_(ev::Runtime::current().loop(), fd, peer, ev::Runtime::current().next_connection_id()),
      nodelay_(nodelay) {
    ev::Runtime::current().connection_opened();
    count_connection(1);
    conn_.set_handler(this);
    proxy_wanted_ = port.proxy_protocol();
    // With proxy_protocol the PROXY header comes in clear: TLS starts once it is read.
    if (port.tls() != nullptr && !proxy_wanted_ && !start_tls()) {
        return;
    }
    // Until its first byte the connection is idle: its slot may be reclaimed for a new one.
    ev::Runtime::current().set_idle(this);
    started_ = core::steady_now();
    conn_.set_timeout(*srv_conf(port_.default_server()).client_header_timeout);
}

bool Http1Session::begin(bool read_now) {
    if (state_ == State::kClosed) {
        return true;  // TLS could not start
    }
    if (read_now) {
        // The request may be in the socket already (the client sends as soon as connect()
        // returns): read it now. A connection answered and closed here never joins the loop
        // (no epoll_ctl ADD, no DEL before close).
        process_input();
        if (state_ == State::kClosed) {
            return true;
        }
    }
    bool found = !read_now || !(state_ == State::kReadingHead && in_.empty() && !req_);
    // A connection that has to wait (for input, for the socket to take the rest of a
    // response, for an upstream) joins the loop now; being edge-triggered, it learns at once
    // what is already readable or writable.
    conn_.start(false);  // TCP_NODELAY as the location says (connection_rules)
    return found;
}

void Http1Session::close_idle(bool reclaimed) {
    if (reclaimed) {
        count_reclaimed();
    }
    close();
}

Http1Session::~Http1Session() = default;

size_t Http1Session::max_head() const {
    const auto& srv = srv_conf(port_.default_server());
    return srv.large_header_buffer_size->bytes * static_cast<size_t>(*srv.large_header_buffers);
}

Http1Session::Work& Http1Session::make_work() {
    const auto& srv = srv_conf(port_.default_server());
    work_ = std::make_unique<Work>(srv.large_header_buffer_size->bytes, max_head());
    // As nginx, the head is read with the rules of the address's default server.
    work_->parser.set_rules(
        {*srv.merge_slashes, *srv.underscores_in_headers, *srv.ignore_invalid_headers});
    return *work_;
}

void Http1Session::on_drained() {
    if (state_ == State::kWriting) {
        finish_request();
    } else if (state_ == State::kRunning && req_) {
        conn_.clear_timeout();
        // A handler may finish the request (and the next pipelined one may start): check the
        // request count before going on.
        int current = requests_;
        if (auto resume = req_->filter_on_drained) {
            req_->filter_on_drained = nullptr;
            resume(*req_);
            if (requests_ != current || state_ != State::kRunning || req_->output_blocked()) {
                return;
            }
        }
        if (auto resume = req_->on_drained) {
            req_->on_drained = nullptr;
            resume(*req_);
        }
    } else if (state_ == State::kTunnel && req_) {
        conn_.clear_timeout();                 // send_timeout (body_written) is over
        if (auto resume = req_->on_drained) {  // the upstream side reads on
            req_->on_drained = nullptr;
            resume(*req_);
        }
    }
}

void Http1Session::body_written() {
    if (state_ == State::kClosed) {
        return;
    }
    if (conn_.failed()) {
        close();  // the producer sees output_blocked() and stops; the request goes with us
        return;
    }
    if (conn_.output_pending()) {
        conn_.set_timeout(*loc().send_timeout);
    }
}

bool Http1Session::output_blocked() const {
    constexpr size_t kHighWater = 256 * 1024;
    return state_ == State::kClosed || conn_.failed() || conn_.output_buffered() > kHighWater;
}

void Http1Session::on_timeout() {
    if ((state_ != State::kReadingHead || !in_.empty()) && state_ != State::kKeepalive &&
        state_ != State::kLingering) {
        reset_on_close(req_ && req_->loc_confs != nullptr
                           ? loc()
                           : core::conf_of<HttpLocConf>(port_.default_server().loc_confs));
    }
    switch (state_) {
        case State::kReadingHead:
            if (!in_.empty()) {
                drop_head(408, "client timed out");
                return;
            }
            close();
            return;
        case State::kReadingBody:
            log(core::LogLevel::kInfo, "client timed out while sending the request body");
            fail_request(408);
            return;
        case State::kRunning:
            if (streaming() && !input_paused() && !conn_.output_pending()) {
                log(core::LogLevel::kInfo, "client timed out while sending the request body");
                fail_request(408);  // a head already sent: the connection is dropped
                return;
            }
            [[fallthrough]];
        case State::kWriting:
        case State::kTunnel:
            if (state_ != State::kRunning || conn_.output_pending()) {
                log(core::LogLevel::kInfo, "client timed out (send_timeout)");
            }
            close();
            return;
        default:
            close();
    }
}

bool Http1Session::read_more(size_t max_total) {
    size_t room = max_total > in_.size() ? max_total - in_.size() : 0;
    if (room == 0) {
        return false;
    }
    switch (conn_.read(in_, room)) {
        case ev::IoStatus::kOk:
            return true;
        case ev::IoStatus::kAgain:
            return false;
        case ev::IoStatus::kEof:
            if (state_ == State::kReadingHead && !in_.empty()) {
                drop_head(400, "client prematurely closed connection");
                return false;
            }
            if (state_ == State::kReadingBody || streaming()) {
                log(core::LogLevel::kInfo, "client prematurely closed connection");
            }
            close();
            return false;
        case ev::IoStatus::kError:
            close();
            return false;
    }
    return false;
}

void Http1Session::process_input() {
    if (in_process_) {
        return;
    }
    in_process_ = true;
    while (step()) {
    }
    in_process_ = false;
}

bool Http1Session::step_keepalive() {
    if (!read_more(max_head())) {
        return false;
    }
    ev::Runtime::current().clear_idle(this);
    state_ = State::kReadingHead;
    conn_.set_timeout(*srv_conf(port_.default_server()).client_header_timeout);
    return true;
}

bool Http1Session::http2_allowed() const {
    if (port_.main().start_http2 == nullptr) {
        return false;
    }
    // On TLS only when ALPN said so (RFC 9113 §3.3); in clear with prior knowledge (§3.3).
    return secure() ? transport()->alpn() == "h2" : port_.http2_for(port_.default_server());
}

void Http1Session::start_http2() {
    Http2Start st;
    st.port = &port_;
    st.peer = conn_.peer();
    st.id = conn_.id();
    st.proxy = std::move(proxy_);
    st.preread.assign(in_.view());
    st.accepted = accepted_;
    in_.clear();
    st.fd = conn_.release(st.transport);
    close();  // the socket is the HTTP/2 connection's now; it counts itself
    port_.main().start_http2(st);
}

void Http1Session::head_request(std::string_view reason) {
    // A fresh request: what the parser had set (framing, headers) is not acted upon. The
    // method, request line and host, when they were read, go into the logs.
    const HeadParser& parser = work().parser;
    std::string_view method = req_ ? req_->method : std::string_view();
    std::string_view host = req_ ? req_->host : std::string_view();
    RequestStat stat = req_ ? std::move(req_->stat) : RequestStat();
    req_ = std::make_unique<Request>();
    req_->stat = std::move(stat);
    req_->stat.start_writing();
    req_->session = this;
    req_->connection_id = conn_.id();
    req_->peer = conn_.peer();
    req_->start = core::steady_now();
    req_->method = method.empty() ? "GET" : method;
    req_->request_line = parser.request_line(in_.view());
    req_->host = host;
    // A refused request line: the server TLS SNI chose, as in nginx (no Host read yet).
    bool sni = host.empty() && secure() && parser.line_refused();
    req_->server = port_.find_server(sni ? transport()->server_name() : host);
    req_->loc_confs = &req_->server->loc_confs;
    // nginx's level: the client's fault, so info (the access log has every refused request).
    log(core::LogLevel::kInfo, "%.*s while reading client request %s",
        static_cast<int>(reason.size()), reason.data(), parser.line_refused() ? "line" : "headers");
}

void Http1Session::reject_head() {
    head_request(work().parser.reason());
    fail_request(work().parser.status());
}

void Http1Session::drop_head(int status, std::string_view reason) {
    head_request(reason);
    req_->status = status;  // as nginx logs it; nothing is sent
    log_request();
    close();
}

bool Http1Session::step_head() {
    if (proxy_wanted_) {
        return step_proxy_header();
    }
    if (requests_ == 0 && !req_ && !in_.empty() && in_.view()[0] == 'P' && http2_allowed()) {
        // HTTP/2's connection preface instead of a request (RFC 9113 §3.4).
        constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        std::string_view seen = in_.view().substr(0, kPreface.size());
        if (seen == kPreface) {
            start_http2();
            return false;
        }
        if (kPreface.starts_with(seen)) {
            return read_more(max_head() + 1);
        }
    }
    if (!in_.empty()) {
        if (!req_) {
            ev::Runtime::current().clear_idle(this);  // a request is coming in
            req_ = std::make_unique<Request>();
            req_->stat.start_reading();
        }
        switch (work().parser.parse(in_.view(), *req_)) {
            case ParseResult::kComplete:
                work().head_len = work().parser.consumed();
                for (std::string_view line : work().parser.ignored_lines(in_.view())) {
                    core::log_conn(core::LogLevel::kInfo, conn_.id(),
                                   "client sent invalid header line: \"%s\"",
                                   escape_log(line.substr(0, 256)).c_str());
                }
                start_request();
                return true;  // finish_request() may already have made us ready again
            case ParseResult::kError:
                reject_head();
                return true;
            case ParseResult::kIncomplete:
                break;
        }
    }
    return read_more(max_head() + 1);
}

bool Http1Session::body_outcome(BodyStep outcome, bool keep) {
    switch (outcome) {
        case BodyStep::kDone:
            if (keep) {
                state_ = State::kRunning;
                conn_.clear_timeout();
                if (!finish_body(*work().body)) {
                    fail_request(500);
                    return true;
                }
                req_->body = std::move(work().body);
                work().body_handler(*req_);  // may finish the request
            } else {
                state_ = State::kReadingHead;
                conn_.set_timeout(*srv_conf(port_.default_server()).client_header_timeout);
            }
            return true;
        case BodyStep::kBad:
            log(core::LogLevel::kError, "client sent invalid chunked body");
            keep ? fail_request(400) : close();
            return true;
        case BodyStep::kTooLarge:
            log(core::LogLevel::kError,
                "client intended to send too large chunked body: %llu bytes",
                static_cast<unsigned long long>(work().body_seen));
            keep ? fail_request(413) : close();
            return true;
        case BodyStep::kFailed:
            fail_request(500);
            return true;
        case BodyStep::kNeedMore:
        case BodyStep::kGone:
            break;
    }
    return false;
}

bool Http1Session::step_body() {
    bool keep = state_ == State::kReadingBody;
    if (body_outcome(take_body(keep ? BodyMode::kStore : BodyMode::kDiscard), keep)) {
        return true;
    }
    if (!read_more(in_.size() + 65536)) {
        return false;
    }
    // client_body_timeout is the wait between two reads, also while discarding.
    conn_.set_timeout(keep ? *loc().client_body_timeout : work().discard_timeout);
    return true;
}

bool Http1Session::step_lingering() {
    if (!read_more(65536)) {
        return false;
    }
    in_.clear();
    if (ev::Clock::now() >= work().linger_deadline) {
        close();
        return false;
    }
    conn_.set_timeout(work().linger_timeout);  // the wait between reads, as nginx
    return true;
}

bool Http1Session::step_tunnel() {
    if (input_paused() || !read_more(65536)) {
        return false;
    }
    work().tunnel(*req_, in_.view());
    in_.clear();
    return state_ == State::kTunnel;
}

bool Http1Session::step() {
    switch (state_) {
        case State::kKeepalive:
            return step_keepalive();
        case State::kReadingHead:
            return step_head();
        case State::kReadingBody:
        case State::kDiscardingBody:
            return step_body();
        case State::kLingering:
            return step_lingering();
        case State::kTunnel:
            return step_tunnel();
        case State::kRunning:
            if (!streaming() && conn_.peer_closed() && req_ && req_->on_client_closed) {
                auto closed = std::exchange(req_->on_client_closed, nullptr);
                closed(*req_);  // may end the request (and close us)
                return false;
            }
            return streaming() && !input_paused() && stream_step();
        case State::kWriting:
        case State::kClosed:
            return false;
    }
    return false;
}

void Http1Session::start_tunnel(void (*on_data)(Request&, std::string_view)) {
    state_ = State::kTunnel;
    work().tunnel = on_data;
    close_after_ = true;
    conn_.clear_timeout();
    detach_head();
    if (!in_.empty()) {
        std::string early(in_.view());
        in_.clear();
        on_data(*req_, early);
    }
    if (state_ == State::kTunnel) {
        post_input();  // bytes that arrived before the switch (edge-triggered)
    }
}

void Http1Session::post_input() {
    if (input_posted_ || state_ == State::kClosed) {
        return;
    }
    // Safe: a deletion is posted by close(), after this task when it comes later.
    input_posted_ = true;
    ev::Runtime::current().loop().post([this] {
        input_posted_ = false;
        if (state_ != State::kClosed) {
            process_input();
        }
    });
}

void Http1Session::start_request() {
    Request& r = *req_;
    r.session = this;
    r.connection_id = conn_.id();
    r.peer = conn_.peer();
    r.start = core::steady_now();
    r.server = port_.find_server(r.host, &r);
    r.loc_confs = &r.server->loc_confs;
    r.request_length = work().head_len;
    r.pipelined = next_pipelined_;
    next_pipelined_ = false;
    r.stat.start_writing();
    requests_++;

    work().body_left = r.chunked ? 0 : r.content_length;
    work().body_chunked = r.chunked;
    work().body_seen = 0;
    work().body_done = !r.has_body();
    work().continue_sent = false;
    work().chunked.reset();
    conn_.clear_timeout();
    if (port_.ssl() && !secure()) {
        log(core::LogLevel::kInfo, "client sent plain HTTP request to HTTPS port");
        fail_request(kStatusPlainHttpToHttps);  // error_page 497 may redirect it
        return;
    }
    state_ = State::kRunning;
    run_phases();
}

void Http1Session::location_found(Request& r, const HttpLocConf& lc) {
    if (requests_ >= *lc.keepalive_requests || lc.keepalive_timeout->count() == 0 ||
        ev::Runtime::current().shutting_down()) {
        r.keepalive = false;
    }
    connection_rules(r, lc);
}

void Http1Session::before_head(Request& r) {
    // A client waiting for "100 Continue" gets it before a final response that leaves its
    // body unread, so that it sends the body, which is then discarded and the connection kept
    // (nginx does the same when it discards a body).
    if (!work().body_done && r.expect_continue && !work().continue_sent && !close_after_ &&
        r.http_minor >= 1 && in_.size() <= work().head_len) {
        conn_.send("HTTP/1.1 100 Continue\r\n\r\n");
        work().continue_sent = true;
    }
}

void Http1Session::fail_request(int status) {
    work().stream = nullptr;  // the body is not delivered any more (the rest is not read)
    close_after_ = true;
    req_->keepalive = false;
    state_ = State::kRunning;
    req_->send_error(status);
}

void Http1Session::response_done() {
    if (state_ == State::kClosed) {
        return;  // the connection failed while the response was streamed
    }
    state_ = State::kWriting;
    if (conn_.failed()) {
        close();
        return;
    }
    if (!conn_.output_pending()) {
        finish_request();
        return;
    }
    conn_.set_timeout(*loc().send_timeout);
}

void Http1Session::abort() {
    if (req_ && !req_->head_sent) {
        req_->status = 444;  // nginx logs a dropped request with 444
    }
    if (req_ && req_->loc_confs != nullptr) {
        reset_on_close(loc());  // nginx resets a 444 as a timed out connection
    }
    close();
}

void Http1Session::finish_request() {
    Request& r = *req_;
    work().stream = nullptr;  // what is left of a streamed body is discarded
    work().input_paused = false;
    r.completed = true;  // all of the response went out (on_drained)
    log_request();
    bool keep = r.keepalive && !close_after_ && !ev::Runtime::current().shutting_down();
    auto keepalive_timeout = *loc().keepalive_timeout;
    auto body_timeout = *loc().client_body_timeout;
    // Linger when the client may still be sending (nginx's "on"), or always when asked.
    int mode = *loc().lingering_close;
    bool linger = mode == kLingeringAlways ||
                  (mode == kLingeringOn &&
                   (!work().body_done || close_after_ || in_.size() > work().head_len));
    if (!keep) {
        if (linger) {
            lingering_close();
        } else {
            close();
        }
        return;
    }
    uncork();
    in_.consume(work().head_len);
    work().head_len = 0;
    work().parser.reset();
    work().body.reset();
    req_.reset();
    if (!work().body_done) {
        state_ = State::kDiscardingBody;
        work().discard_timeout = body_timeout;
        conn_.set_timeout(body_timeout);
    } else if (in_.empty()) {
        state_ = State::kKeepalive;
        work_.reset();  // an idle connection keeps no request state
        in_.release_if_empty();
        conn_.release_buffers();
        ev::Runtime::current().set_idle(this);
        conn_.set_timeout(keepalive_timeout);
    } else {
        state_ = State::kReadingHead;
        next_pipelined_ = true;  // $pipe
        conn_.set_timeout(*srv_conf(port_.default_server()).client_header_timeout);
    }
    // Input may have arrived while we were writing (edge-triggered: no new event comes).
    process_input();
}

void Http1Session::lingering_close() {
    const auto& lc = loc();
    if (conn_.failed()) {
        close();
        return;
    }
    // Read and drop what the client still sends, so that our response is not destroyed by a
    // reset (RFC 9112 §9.6), for lingering_time at most.
    conn_.shutdown_write();
    work().linger_deadline = ev::Clock::now() + *lc.lingering_time;
    work().linger_timeout = *lc.lingering_timeout;
    conn_.set_timeout(work().linger_timeout);
    work().body.reset();
    req_.reset();
    in_.clear();
    state_ = State::kLingering;
    process_input();
}

void Http1Session::close() {
    if (state_ == State::kClosed) {
        return;
    }
    if (state_ == State::kRunning || state_ == State::kWriting || state_ == State::kReadingBody ||
        state_ == State::kTunnel) {
        log_request();  // a request cut short (client gone, 444) is logged too
    }
    state_ = State::kClosed;
    auto& rt = ev::Runtime::current();
    rt.clear_idle(this);
    conn_.clear_timeout();
    rt.connection_closed();
    count_connection(-1);
    rt.loop().post([this] { delete this; });
}

namespace {

/// The listening socket's own address when it names one (not 0.0.0.0 or [::]): the local
/// address of every connection it accepts, no getsockname() needed (nginx's rule).
const core::SockAddr* specific_listen_addr(const Port& port) {
    if (const core::SockAddr* hosted = port.hosted_addr()) {
        return hosted;
    }
    const core::Listening* l = port.listening();
    if (l == nullptr || l->addr.len == 0) {
        return nullptr;
    }
    const sockaddr* sa = l->addr.get();
    if (sa->sa_family == AF_INET) {
        return reinterpret_cast<const sockaddr_in*>(sa)->sin_addr.s_addr != INADDR_ANY ? &l->addr
                                                                                       : nullptr;
    }
    if (sa->sa_family == AF_INET6) {
        const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr;
        return IN6_IS_ADDR_UNSPECIFIED(&a) ? nullptr : &l->addr;
    }
    return nullptr;
}

}  // namespace

const core::SockAddr& Http1Session::local_addr() {
    if (work().local.len == 0) {
        if (const core::SockAddr* a = specific_listen_addr(port_)) {
            work().local = *a;
            return work().local;
        }
        work().local.len = sizeof(work().local.storage);
        if (getsockname(conn_.fd(), work().local.get(), &work().local.len) != 0) {
            work().local.len = 0;
        }
    }
    return work().local;
}

void Http1Session::log(core::LogLevel level, const char* fmt, ...) {
    const core::Log& log =
        req_ != nullptr ? request_log(*req_) : server_log(&port_.default_server());
    if (!log.enabled(level)) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    std::string msg = core::vformat(fmt, ap);
    va_end(ap);
    if (req_ != nullptr) {
        msg += req_->log_context();
    } else {
        // nginx before a request exists: the listening address stands for the server.
        msg += ", client: " + conn_.peer().host_text() + ", server: " +
               (port_.listening() != nullptr ? port_.listening()->addr.text() : std::string());
    }
    log.write(level, conn_.id(), msg);
}

}  // namespace http
