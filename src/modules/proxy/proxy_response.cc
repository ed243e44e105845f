// The response side of a proxied request (Exchange, proxy_exchange.h): the upstream's head is
// read and checked (502 on garbage, next_upstream on error statuses), the body reaches the
// client at the client's pace (spilling to a temp file while it is slow), and a 101 answer
// becomes a tunnel.

#include "core/clock.h"
#include "http/error_log.h"
#include "http/session.h"
#include "modules/proxy/proxy_exchange.h"

namespace mod::proxy::detail {

void Exchange::tunnel_from_client(http::Request& r, std::string_view data) {
    if (Exchange* x = r.ctx<Exchange>(); x != nullptr && x->up_) {
        x->up_->send(data);
        x->up_->set_timeout(*x->c_.read_timeout);
        x->pace_client();
    }
}

namespace {

// Body bytes from a plain upstream are read into this worker-wide space and handed on at
// once (64 KiB a system call, and no per-request buffer): only what the client cannot take
// yet is kept, in its output queue. `busy` guards against a nested use.
struct Scratch {
    std::unique_ptr<char[]> bytes{new char[kReadPiece]};
    bool busy = false;
};

Scratch& scratch() {
    static Scratch s;
    return s;
}

}  // namespace

size_t Exchange::memory_bound() const {
    // nginx's rule: proxy_buffers hold what the client has not taken; past them the body goes
    // to the temp file (buffering) or the upstream waits. Without buffering one buffer
    // (proxy_buffer_size) does. A read may go past it by one piece.
    return buffering_ ? c_.buffers_total->bytes : c_.buffer_size->bytes;
}

bool Exchange::client_behind() const {
    return !background_ && (r_.output_blocked() || r_.output_buffered() > memory_bound());
}

void Exchange::read_upstream() {
    while (up_ && (state_ == State::kReadingHead || state_ == State::kReadingBody ||
                   state_ == State::kSending || state_ == State::kTunnel)) {
        size_t budget = SIZE_MAX;
        if (state_ == State::kTunnel && r_.output_blocked()) {
            // The client is behind: the upstream waits (send_timeout runs on the client).
            r_.on_drained = &Exchange::resume;
            up_->clear_timeout();
            return;
        }
        if (state_ == State::kReadingBody) {
            if (splicing_ && !splice_body()) {
                return;
            }
            bool blocked = client_behind() || file_queued_;
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
            budget = read_rate_.rate == 0 ? SIZE_MAX : read_budget();
            if (budget == 0) {
                return;
            }
            if (in_.empty() && codec_ == nullptr && up_->transport() == nullptr &&
                !scratch().busy) {
                if (!read_body_piece(budget)) {
                    return;
                }
                continue;
            }
        }
        if (codec_) {
            if (!codec_bytes(budget)) {
                return;
            }
            continue;
        }
        if (state_ == State::kReadingHead && in_.empty() && up_->transport() == nullptr &&
            !scratch().busy) {
            if (!read_head_piece()) {
                return;
            }
            continue;
        }
        size_t limit = state_ == State::kReadingBody || state_ == State::kTunnel
                           ? in_.size() + std::min(kReadPiece, budget)
                           : c_.buffer_size->bytes + 1;
        size_t had = in_.size();
        switch (up_->read(in_, limit > in_.size() ? limit - in_.size() : 1)) {
            case ev::IoStatus::kOk:
                if (budget != SIZE_MAX) {
                    count_read(in_.size() - had);
                }
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

namespace {

/// Marks the scratch space in use until the end of the scope (also when the exchange ends
/// inside: finish_body() may end the request and us with it).
struct Hold {
    explicit Hold(Scratch& s) : sc(s) { sc.busy = true; }
    ~Hold() { sc.busy = false; }
    Scratch& sc;
};

}  // namespace

bool Exchange::read_head_piece() {
    // The whole response often comes in one read: head and body from the scratch space, the
    // head parsed where it lies (pass_head() copies what it keeps), the body handed on.
    Scratch& sc = scratch();
    size_t n = 0;
    if (!read_scratch(kReadPiece, n)) {
        return false;
    }
    Hold hold(sc);
    std::string_view data(sc.bytes.get(), n);
    std::string why;
    if (http::parse_response_head(data, c_.buffer_size->bytes, scan_, head_, &why) ==
            http::ParseResult::kComplete &&
        head_.status >= 200 && head_.status != 101) {
        head_outside_ = true;
        head_rest_ = data.size() - head_.head_len;
        if (!on_head()) {
            return false;
        }
        head_outside_ = false;
        std::string_view rest = data.substr(head_.head_len);
        return rest.empty() || body_view(rest);
    }
    // A head in pieces, 1xx, 101, garbage: the usual path, from in_.
    in_.append(data);
    scan_ = 0;
    return on_bytes();
}

namespace {
// proxy_limit_rate: how far reading may fall behind the rate's schedule and catch up.
constexpr std::chrono::milliseconds kRateSlack{250};
}  // namespace

size_t Exchange::read_budget() {
    if (read_paused_) {
        return 0;
    }
    std::chrono::milliseconds wait{0};
    uint64_t n = read_rate_.allowance(core::steady_ms(), wait);
    if (n > 0) {
        // At most 1/16 of a second's worth a read: an even pace (as the client's limit_rate).
        uint64_t piece = std::max<uint64_t>(read_rate_.rate / 16, 4096);
        return static_cast<size_t>(std::min<uint64_t>({n, kReadPiece, piece}));
    }
    pause_reading(wait);
    return 0;
}

void Exchange::count_read(size_t n) {
    std::chrono::milliseconds pause = read_rate_.account(n, core::steady_ms(), kRateSlack);
    if (pause.count() > 0) {
        pause_reading(pause);
    }
}

void Exchange::pause_reading(std::chrono::milliseconds d) {
    if (read_timer_ == nullptr) {
        read_timer_ = ev::Runtime::current().loop().make_timer([this] {
            read_paused_ = false;
            read_upstream();
        });
    }
    read_paused_ = true;
    read_timer_->arm(d);
    up_->clear_timeout();  // nginx: a delayed read waits for the rate, not proxy_read_timeout
}

bool Exchange::read_body_piece(size_t budget) {
    size_t want = std::min(kReadPiece, budget);
    if (framing_ == http::BodyFraming::kLength && body_left_ < want) {
        want = static_cast<size_t>(body_left_) + 1;  // one more: a server sending too much
    }
    size_t n = 0;
    if (!read_scratch(want, n)) {
        return false;
    }
    if (budget != SIZE_MAX) {
        count_read(n);
    }
    Hold hold(scratch());
    return body_view(std::string_view(scratch().bytes.get(), n));
}

bool Exchange::read_scratch(size_t want, size_t& n) {
    switch (up_->read_into(std::span<char>(scratch().bytes.get(), want), n)) {
        case ev::IoStatus::kOk:
            return true;
        case ev::IoStatus::kAgain:
            up_->set_timeout(*c_.read_timeout);
            return false;
        case ev::IoStatus::kEof:
        case ev::IoStatus::kError:
            on_upstream_closed();
            return false;
    }
    return false;
}

bool Exchange::body_view(std::string_view data) {
    if (framing_ == http::BodyFraming::kChunked || !in_.empty()) {
        in_.append(data);  // the decoder keeps what it cannot use yet in in_
        return body_bytes();
    }
    if (framing_ == http::BodyFraming::kLength && data.size() >= body_left_) {
        extra_bytes_ = data.size() > body_left_;  // more than announced: not reusable
        data = data.substr(0, static_cast<size_t>(body_left_));
        body_left_ = 0;
        finish_body(data);
        return false;
    }
    if (framing_ == http::BodyFraming::kLength) {
        body_left_ -= data.size();
    }
    return deliver(data) ? true : give_up();
}

bool Exchange::splice_body() {
    for (;;) {
        if (r_.output_pending() || r_.output_blocked()) {
            if (buffering_ && can_spill() && !r_.output_blocked()) {
                // The client is behind: as nginx's buffering, the rest goes through memory
                // and the temp file (queued behind the pipe), so that the upstream is freed.
                splicing_ = false;
                return true;
            }
            // proxy_buffering off: the upstream waits until the client drained the pipe.
            r_.on_drained = &Exchange::resume;
            up_->clear_timeout();
            return false;
        }
        size_t n = 0;
        switch (r_.splice_body(*up_, static_cast<size_t>(body_left_), n)) {
            case ev::IoStatus::kOk:
                body_left_ -= n;
                if (body_left_ == 0) {
                    finish_body();
                    return false;
                }
                continue;
            case ev::IoStatus::kAgain:
                up_->set_timeout(*c_.read_timeout);
                return false;
            case ev::IoStatus::kEof:
            case ev::IoStatus::kError:
                on_upstream_closed();
                return false;
        }
    }
}

bool Exchange::on_bytes() {
    if (state_ == State::kTunnel) {
        r_.write_raw(in_.view());
        in_.clear();
        return true;
    }
    if (state_ == State::kReadingBody) {
        return body_bytes();
    }
    std::string why;
    auto parsed =
        codec_ ? codec_->parse_head(in_.view(), c_.buffer_size->bytes, scan_, head_, &why)
               : http::parse_response_head(in_.view(), c_.buffer_size->bytes, scan_, head_, &why);
    switch (parsed) {
        case http::ParseResult::kIncomplete:
            return true;
        case http::ParseResult::kError:
            fail_text(kNextInvalidHeader, 502,
                      why + " while reading response header from upstream");
            return false;
        case http::ParseResult::kComplete:
            break;
    }
    head_outside_ = false;
    head_rest_ = 0;
    return on_head();
}

bool Exchange::on_head() {
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
    http::UpstreamLog& ulog = upstream_log();
    ulog.attempts.push_back({peer_.server->name, status, core::steady_ms() - attempt_ms_});
    if (r_.session->port().main().upstream_headers_used) {
        ulog.headers.clear();  // $upstream_http_*: the last response's
        for (const http::Header& h : head_.headers) {
            ulog.headers.emplace_back(h.name, h.value);
        }
    }
    if (cache_answers(r_, c_, pass_, head_, false)) {
        // proxy_cache_revalidate's 304, or a stale entry for this status: the cache answers.
        release(upstream::Outcome::kOk);
        drop_upstream();
        state_ = State::kDone;
        cache_answers(r_, c_, pass_, head_, true);  // may end the request: nothing after this
        return false;
    }
    if (!(*c_.ignore_headers & kIgnoreXAccelLimitRate)) {
        if (const http::Header* h = head_.find("X-Accel-Limit-Rate")) {
            // nginx: digits only (no size suffix); anything else leaves the rate alone. Set
            // first: it paces what an X-Accel-Redirect or an intercepted error leads to too.
            if (auto n = core::parse_int(h->value)) {
                r_.limit_rate = static_cast<uint64_t>(*n);
            }
        }
    }
    if (!(*c_.ignore_headers & kIgnoreXAccelRedirect) && !background_) {
        if (const http::Header* h = head_.find("X-Accel-Redirect")) {
            accel_redirect(std::string(h->value));
            return false;
        }
    }
    if (!(*c_.ignore_headers & kIgnoreXAccelBuffering)) {
        if (const http::Header* h = head_.find("X-Accel-Buffering")) {
            if (http::iequals(h->value, "yes")) {
                buffering_ = true;
            } else if (http::iequals(h->value, "no")) {
                buffering_ = false;
            }
        }
    }
    if (*c_.intercept_errors && status >= 300 && has_error_page(status) && !background_) {
        release(upstream::Outcome::kOk);
        drop_upstream();
        state_ = State::kDone;
        r_.send_error(status);  // error_page: an internal redirect, we are retired
        return false;
    }
    if (!(*c_.ignore_headers & kIgnoreXAccelCharset)) {
        if (const http::Header* h = head_.find("X-Accel-Charset")) {
            r_.out.override_charset = std::string(h->value);  // for the charset filter
        }
    }
    cache_ = cache_store_begin(r_, c_, head_);
    if (cache_ != nullptr && head_.status == 200) {
        r_.allow_ranges = true;  // the client's Range was not sent upstream: cut it here (nginx)
    }
    pass_head();
    state_ = State::kReadingBody;
    framing_ = head_.framing(r_.method == "HEAD" && !cache_converted_head(r_));
    if (codec_ && framing_ != http::BodyFraming::kNone) {
        framing_ = http::BodyFraming::kUntilClose;  // the records (or the close) end it
    }
    body_left_ = head_.content_length.value_or(0);
    if (buffering_ && !c_.limit_rate->zero()) {
        // proxy_limit_rate: as nginx, only with buffering, counted from the response head.
        read_rate_.rate = c_.limit_rate->eval(r_);
        read_rate_.start_s = core::steady_ms() / 1000;
        if (read_rate_.rate > 0) {
            // The body bytes that came with the head count: the next read waits for them.
            count_read(head_outside_ ? head_rest_ : in_.size() - head_.head_len);
        }
    }
    // A body of known length between two plain sockets that no filter changes: the kernel
    // moves it (splice(2)) while the client keeps up (without buffering, always).
    splicing_ = cache_ == nullptr && !background_ && framing_ == http::BodyFraming::kLength &&
                body_left_ > in_.size() + head_rest_ + kSpliceMin && up_->transport() == nullptr &&
                read_rate_.rate == 0 && r_.can_splice_body();
    if (splicing_ && http::request_log(r_).enabled(core::LogLevel::kDebug)) {
        log(core::LogLevel::kDebug, "the body moves by splice(2)");  // built only when wanted
    }
    trailers_.clear();
    if (framing_ == http::BodyFraming::kChunked && *c_.pass_trailers) {
        chunked_.keep_trailers(&trailers_);
    }
    if (!head_outside_) {
        in_.consume(head_.head_len);
    }
    if (framing_ == http::BodyFraming::kNone ||
        (framing_ == http::BodyFraming::kLength && body_left_ == 0)) {
        finish_body();
        return false;
    }
    return in_.empty() ? true : body_bytes();
}

void Exchange::accel_redirect(std::string uri) {
    // nginx: the upstream is done with; the request goes on, as GET (HEAD stays), at the URI
    // or named location the upstream gave.
    release(upstream::Outcome::kOk);
    drop_upstream();
    state_ = State::kDone;
    if (r_.method != "HEAD") {
        r_.method = "GET";
    }
    std::string args;
    if (uri.empty() || uri[0] != '@') {
        size_t q = uri.find('?');
        if (q != std::string::npos) {
            args = uri.substr(q + 1);
            uri.resize(q);
        }
    }
    r_.internal_redirect(std::move(uri), args);  // we are retired: nothing after this
}

bool Exchange::has_untried_peer() const {
    for (bool t : pick_.tried) {
        if (!t) {
            return true;
        }
    }
    return false;
}

void Exchange::fail_status(int status, uint32_t bit) {
    log(core::LogLevel::kWarn, ("upstream answered " + std::to_string(status) +
                                ", trying the next one (proxy_next_upstream)")
                                   .c_str());
    upstream_log().attempts.push_back(
        {peer_.server->name, status, core::steady_ms() - attempt_ms_});
    drop_upstream();
    release(status >= 500 ? upstream::Outcome::kFailed : upstream::Outcome::kOk);
    attempt();
}

bool Exchange::has_error_page(int status) const {
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

void Exchange::pass_head() {
    if (background_) {
        return;  // the client has its answer (the stale entry)
    }
    std::string_view type = pass_response_headers(r_, c_, pass_, head_);
    r_.out.location_as_is = codec_ != nullptr;
    std::optional<uint64_t> length = head_.content_length;
    if (head_.chunked || head_.status == 204 || head_.status == 304) {
        length.reset();
    }
    r_.send_head(head_.status, type, length);
}

bool Exchange::deliver(std::string_view data) {
    if (cache_ != nullptr) {
        cache_write(*cache_, data);
    }
    if (background_) {
        return true;
    }
    if (spill_fd_ < 0 && (!can_spill() || !client_behind())) {
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
        log_text(core::LogLevel::kWarn, "an upstream response is buffered to a temporary file (" +
                                            std::to_string(r_.output_buffered()) +
                                            " bytes wait for the client, proxy_buffers hold " +
                                            std::to_string(memory_bound()) + ")");
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

bool Exchange::can_spill() const {
    return buffering_ && spill_written_ - spill_sent_ < c_.max_temp_file_size->bytes;
}

void Exchange::flush_spill(bool last) {
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

bool Exchange::body_bytes() {
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
                pass_trailers();
                finish_body();
                return false;
            }
            if (used == 0) {
                break;  // needs more input
            }
        } else {
            std::string_view data = codec_ ? codec_due(in_.view()) : in_.view();
            if (codec_end_ && !codec_short()) {
                // The records ended with these bytes: they go out with the end of the body
                // (one write to the client, as the last bytes of a length-framed body).
                std::string last(data);
                in_.clear();
                finish_body(last);
                return false;
            }
            if (!data.empty() && !deliver(data)) {
                return give_up();
            }
            in_.clear();
            if (codec_end_) {
                return give_up();  // short of its Content-Length (logged): the client sees it
            }
        }
    }
    return true;
}

bool Exchange::give_up() {
    release(upstream::Outcome::kAborted);
    drop_upstream();
    r_.abort();
    return false;
}

void Exchange::on_upstream_closed() {
    if (state_ == State::kTunnel) {
        release(upstream::Outcome::kOk);
        drop_upstream();
        if (r_.output_buffered() > 0) {
            // As nginx: what the upstream sent before closing reaches the client first; the
            // tunnel ends once it has (resume()), or with send_timeout.
            r_.on_drained = &Exchange::resume;
            return;
        }
        r_.abort();  // the tunnel ends with either side
        return;
    }
    if (state_ == State::kReadingBody) {
        if (framing_ == http::BodyFraming::kUntilClose && !(codec_ && codec_->framed())) {
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

void Exchange::pass_trailers() {
    std::string_view rest(trailers_);
    while (!rest.empty()) {
        size_t eol = rest.find('\n');
        std::string_view line = rest.substr(0, eol);
        rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);
        size_t colon = line.find(':');  // the decoder checked: "token: value"
        std::string_view name = line.substr(0, colon);
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
            value.remove_prefix(1);
        }
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
            value.remove_suffix(1);
        }
        if (!skip_response_header(name, c_)) {
            r_.out_trailers.emplace_back(std::string(name), std::string(value));
        }
    }
}

void Exchange::finish_body(std::string_view last_bytes) {
    state_ = State::kDone;
    if (cache_ != nullptr) {
        CacheState* cs = cache_;
        cache_ = nullptr;
        cache_write(*cs, last_bytes);
        cache_store_end(*cs);
    }
    // A streamed body must have gone out whole (nginx's request_body_sent).
    bool reusable = up_ && pass_.group->keepalive() > 0 &&
                    (codec_ ? codec_end_ && raw_.empty() && codec_->reusable()
                            : *c_.http_minor == 1 && !head_.close && !extra_bytes_ &&
                                  framing_ != http::BodyFraming::kUntilClose) &&
                    (!streaming_ || body_in_) && !up_->output_pending();
    release(upstream::Outcome::kOk);
    if (reusable) {
        upstream::pool_put(*pass_.group, peer_.server->addr, pool_tag_, std::move(up_),
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
    c.data = background_ ? std::string_view() : last_bytes;
    c.last = true;
    r_.send_body(c);
}

bool Exchange::start_tunnel() {
    for (const http::Header& h : head_.headers) {
        if (http::iequals(h.name, "Upgrade")) {
            r_.out_headers.emplace_back("Upgrade", std::string(h.value));
        } else if (!skip_response_header(h.name, c_)) {
            r_.out_headers.emplace_back(std::string(h.name), std::string(h.value));
        }
    }
    upstream_log().attempts.push_back({peer_.server->name, 101, core::steady_ms() - attempt_ms_});
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

}  // namespace mod::proxy::detail
