#include "http/modules/http2/h2_stream.h"

#include <strings.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "auto_config.h"
#include "core/clock.h"
#include "core/log.h"
#include "http/error_log.h"
#include "http/modules/http2/h2_connection.h"
#include "http/parse.h"

namespace mod::http_v2 {
namespace {

const http::HttpSrvConf& srv_conf(const http::ServerBlock& s) {
    return core::conf_of<http::HttpSrvConf>(s.srv_confs);
}

/// Response fields HTTP/2 does not carry (RFC 9113 §8.2.2).
bool connection_specific(std::string_view name) {
    static constexpr std::string_view kNames[] = {"connection", "keep-alive", "proxy-connection",
                                                  "transfer-encoding", "upgrade"};
    for (std::string_view n : kNames) {
        if (n.size() == name.size() && strncasecmp(n.data(), name.data(), n.size()) == 0) {
            return true;
        }
    }
    return false;
}

ssize_t read_cb(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                nghttp2_data_source* source, void*) {
    return static_cast<H2Stream*>(source->ptr)->read_data(buf, length, flags);
}

}  // namespace

H2Stream::H2Stream(H2Connection& c, int32_t id) : http::Session(c.port()), c_(c), id_(id) {}

H2Stream::~H2Stream() {
    for (Piece& p : out_) {
        if (p.fd >= 0) {
            ::close(p.fd);
        }
    }
}

// ---- the request head ----

bool H2Stream::add_field(std::string_view name, std::string_view value) {
    const auto& srv = srv_conf(port_.default_server());
    size_t one = srv.large_header_buffer_size->bytes;
    size_t max = one * static_cast<size_t>(*srv.large_header_buffers);
    head_bytes_ += name.size() + value.size() + 4;
    if (too_large_) {
        return false;
    }
    if (name.size() + value.size() + 4 > one || head_bytes_ > max) {
        too_large_ = true;
        c_.log(core::LogLevel::kInfo, "%s",
               name.size() + value.size() + 4 > one ? "client sent too large header field"
                                                    : "client sent too large header");
        return false;
    }
    // nghttp2 checked the fields (RFC 9113 §8.2, §8.3): lowercase names, no connection-specific
    // field, the pseudo-fields of a request once each and first.
    if (name == ":method") {
        method_.assign(value);
    } else if (name == ":path") {
        path_.assign(value);
    } else if (name == ":authority") {
        authority_.assign(value);
    } else if (name == "cookie") {
        if (!cookie_.empty()) {
            cookie_ += "; ";  // RFC 9113 §8.2.3: the pieces are joined for HTTP/1.1
        }
        cookie_.append(value);
    } else if (!name.empty() && name[0] != ':') {
        head_.append(name).append(": ").append(value).append("\r\n");
    }
    return true;
}

void H2Stream::head_done(bool end) {
    body_end_ = end;
    no_body_ = end;  // body_end_ may come with DATA before the request runs
}

void H2Stream::run() {
    if (too_large_) {
        return;  // the connection ends (ENHANCE_YOUR_CALM): no answer on this stream
    }
    // The head as HTTP/1.1 would carry it: the same parser decides (and refuses) it.
    const std::string& target = path_.empty() ? authority_ : path_;  // CONNECT has no :path
    line_ = method_ + " " + target + " HTTP/2.0";                    // $request
    std::string fields = std::move(head_);
    head_.clear();
    head_.reserve(line_.size() + authority_.size() + cookie_.size() + fields.size() + 20);
    head_.append(method_).append(" ").append(target).append(" HTTP/1.1\r\n");
    if (!authority_.empty()) {
        head_.append("Host: ").append(authority_).append("\r\n");
    }
    if (!cookie_.empty()) {
        head_.append("Cookie: ").append(cookie_).append("\r\n");
    }
    head_.append(fields).append("\r\n");
    std::string().swap(cookie_);
    start_request();
}

void H2Stream::start_request() {
    const auto& srv = srv_conf(port_.default_server());
    size_t max =
        srv.large_header_buffer_size->bytes * static_cast<size_t>(*srv.large_header_buffers);
    req_ = std::make_unique<http::Request>();
    http::Request& r = *req_;
    r.stat.start_reading();
    r.session = this;
    r.connection_id = c_.conn().id();
    r.peer = c_.conn().peer();
    r.start = core::steady_now();
    r.http2 = true;
    r.keepalive = true;
    http::HeadParser parser(max + head_.size(), max + head_.size());
    parser.set_rules(
        {*srv.merge_slashes, *srv.underscores_in_headers, *srv.ignore_invalid_headers});
    http::ParseResult pr = parser.parse(head_, r);
    r.request_line = line_;
    r.http_minor = 1;
    r.request_length = head_bytes_;
    r.stat.start_writing();
    if (pr != http::ParseResult::kComplete) {
        if (r.method.empty()) {
            r.method = method_.empty() ? std::string_view("GET") : std::string_view(method_);
        }
        r.server = port_.find_server(authority_);
        r.loc_confs = &r.server->loc_confs;
        http::log_error(r, core::LogLevel::kInfo, "%s while reading client request headers",
                        std::string(parser.reason()).c_str());
        discard_ = true;
        r.send_error(parser.status());
        return;
    }
    // A body without Content-Length (nghttp2 checks one that is given against the DATA): its
    // length is known at its end, as a chunked one's.
    r.chunked = !no_body_ && r.find_header("Content-Length") == nullptr;
    r.server = port_.find_server(r.host, &r);
    r.loc_confs = &r.server->loc_confs;
    run_phases();
}

// ---- request body ----

void H2Stream::on_data(std::string_view data) {
    body_seen_ += data.size();
    if (discard_ || finished_) {
        consume(data.size());
        return;
    }
    preread_.append(data);
    deliver_body();
}

void H2Stream::arm_body_timer() {
    bool waiting = req_ && !finished_ && !body_end_ && !input_paused_ &&
                   (body_mode_store_ || body_data_ != nullptr);
    if (waiting) {
        body_timer_.arm(ev::Runtime::current().loop(), *loc().client_body_timeout);
    } else {
        body_timer_.cancel();
    }
}

void H2Stream::body_timed_out(void* self) {
    auto* s = static_cast<H2Stream*>(self);
    if (!s->req_ || s->finished_) {
        return;
    }
    http::log_error(*s->req_, core::LogLevel::kInfo,
                    "client timed out while sending the request body");
    s->fail_request(408);
}

void H2Stream::on_body_end() {
    body_end_ = true;
    deliver_body();
}

void H2Stream::consume(size_t n) {
    if (n > 0 && !c_.closed()) {
        nghttp2_session_consume(c_.ng(), id_, n);
        c_.want_flush();
    }
}

http::Flow H2Stream::read_body(http::BodyHandler done) {
    body_done_ = done;
    body_mode_store_ = true;
    body_ = std::make_unique<http::RequestBody>();
    deliver_body();
    return http::Flow::kSuspend;
}

void H2Stream::stream_body(http::BodyDataHandler on_data) {
    body_data_ = on_data;
    input_paused_ = false;
    // The first piece comes from the event loop, never from inside this call.
    ev::Runtime::current().loop().post([this, w = std::weak_ptr<char>(token_), alive = req_.get()] {
        if (!w.expired() && req_.get() == alive && body_data_ != nullptr) {
            deliver_body();
        }
    });
}

void H2Stream::pause_input() {
    input_paused_ = true;
    body_timer_.cancel();  // the consumer's own timeout covers the wait
}

void H2Stream::resume_input() {
    if (!input_paused_) {
        return;
    }
    input_paused_ = false;
    ev::Runtime::current().loop().post([this, w = std::weak_ptr<char>(token_), alive = req_.get()] {
        if (!w.expired() && req_.get() == alive) {
            deliver_body();
        }
    });
}

void H2Stream::deliver_body() {
    if (!req_ || finished_) {
        return;
    }
    take_body();
    if (req_ && !finished_) {
        arm_body_timer();
    }
}

void H2Stream::take_body() {
    http::Request& r = *req_;
    uint64_t max = loc().client_max_body_size->bytes;
    if (max > 0 && body_seen_ > max && (body_mode_store_ || body_data_ != nullptr)) {
        http::log_error(r, core::LogLevel::kError,
                        "client intended to send too large body: %llu+ bytes",
                        static_cast<unsigned long long>(body_seen_));
        fail_request(413);
        return;
    }
    if (body_mode_store_) {
        size_t n = preread_.size();
        if (n > 0) {
            if (!store_body(*body_, preread_)) {
                fail_request(500);
                return;
            }
            preread_.clear();
            consume(n);
        }
        if (body_end_) {
            body_mode_store_ = false;
            if (!finish_body(*body_)) {
                fail_request(500);
                return;
            }
            r.body = std::move(body_);
            body_done_(r);  // may finish the request
        }
        return;
    }
    if (body_data_ != nullptr && !input_paused_) {
        std::string piece = std::move(preread_);
        preread_.clear();
        bool last = body_end_;
        http::BodyDataHandler h = body_data_;
        if (last) {
            body_data_ = nullptr;
        }
        consume(piece.size());
        if (!piece.empty() || last) {
            h(r, piece, last);  // may pause the input or finish the request
        }
    }
}

// ---- the response ----

void H2Stream::make_head(http::Request& r, bool no_body, std::string&) {
    const auto& lc = loc();
    std::vector<std::string> keep;  // the strings the fields point into
    keep.reserve(4 + r.out_headers.size());
    std::vector<nghttp2_nv> nv;
    nv.reserve(4 + r.out_headers.size());
    auto add = [&](std::string_view name, std::string_view value) {
        nv.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                      reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                      value.size(), NGHTTP2_NV_FLAG_NONE});
        r.bytes_sent += name.size() + value.size() + 2;
    };
    keep.push_back(std::to_string(r.status));
    add(":status", keep.back());
    add("server", *lc.server_tokens ? "halo/" HALO_VERSION : "halo");
    keep.emplace_back(http::http_date());
    add("date", keep.back());
    if (!r.out.content_type.empty()) {
        add("content-type", r.out.content_type);
    }
    if (r.out.content_length && !no_body) {
        keep.push_back(std::to_string(*r.out.content_length));
        add("content-length", keep.back());
    }
    for (auto& [name, value] : r.out_headers) {
        if (connection_specific(name)) {
            continue;
        }
        // RFC 9113 §8.2.1: field names in lowercase.
        keep.emplace_back(name);
        for (char& ch : keep.back()) {
            ch = static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
        }
        add(keep.back(), value);
    }
    chunk_size_ = core::conf_of<Http2LocConf>(*r.loc_confs).chunk_size->bytes;
    nghttp2_data_provider prd;
    prd.source.ptr = this;
    prd.read_callback = &read_cb;
    bool body = !no_body && !r.out.header_only;
    head_submitted_ = true;
    if (c_.closed() || closed_) {
        return;
    }
    int rc = nghttp2_submit_response(c_.ng(), id_, nv.data(), nv.size(), body ? &prd : nullptr);
    if (rc != 0) {
        http::log_error(r, core::LogLevel::kError, "HTTP/2 response head not sent (%s)",
                        nghttp2_strerror(rc));
    }
    c_.want_flush();
}

void H2Stream::queue(Piece p) {
    out_bytes_ += p.fd >= 0 ? p.left : p.data.size();
    mem_bytes_ += p.data.size();
    out_.push_back(std::move(p));
    resume_data();
}

void H2Stream::write(std::string_view data, bool) {
    if (data.empty() || closed_) {
        return;
    }
    if (!out_.empty() && out_.back().fd < 0 && out_.back().data.size() < 16384) {
        out_.back().data.append(data);  // small pieces share a frame
        out_bytes_ += data.size();
        mem_bytes_ += data.size();
        resume_data();
        return;
    }
    Piece p;
    p.data.assign(data);
    queue(std::move(p));
}

void H2Stream::write(std::string_view head, std::string_view body) {
    write(head);
    write(body);
}

void H2Stream::write_file(int fd, uint64_t offset, uint64_t len, bool) {
    if (closed_) {
        ::close(fd);
        return;
    }
    Piece p;
    p.fd = fd;
    p.offset = offset;
    p.left = len;
    queue(std::move(p));
}

void H2Stream::start_tunnel(void (*)(http::Request&, std::string_view)) {
    abort();  // HTTP/2 has no 101 (RFC 9113 §8.6): the module should not get here
}

ev::IoStatus H2Stream::splice_from(ev::Connection&, size_t, size_t& n) {
    n = 0;
    return ev::IoStatus::kError;  // prepare_splice() said no
}

bool H2Stream::output_blocked() const {
    if (closed_ || c_.closed()) {
        return true;
    }
    if (out_bytes_ > 2 * chunk_size_ + 65536) {
        was_blocked_ = true;
        return true;
    }
    return false;
}

void H2Stream::resume_data() {
    if (deferred_ && !c_.closed() && !closed_) {
        deferred_ = false;
        nghttp2_session_resume_data(c_.ng(), id_);
    }
    c_.want_flush();
}

void H2Stream::response_done() {
    last_ = true;
    if (closed_) {
        finish_request();
        return;
    }
    resume_data();
}

ssize_t H2Stream::read_data(uint8_t* buf, size_t length, uint32_t* flags) {
    length = std::min(length, chunk_size_);
    size_t n = 0;
    while (n < length && !out_.empty()) {
        Piece& p = out_.front();
        if (p.fd >= 0) {
            size_t want = static_cast<size_t>(std::min<uint64_t>(p.left, length - n));
            ssize_t got = pread(p.fd, buf + n, want, static_cast<off_t>(p.offset));
            if (got <= 0) {
                http::log_error(*req_, core::LogLevel::kCrit, "pread() failed (%d: %s)", errno,
                                strerror(errno));
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // the stream is reset
            }
            p.offset += static_cast<uint64_t>(got);
            p.left -= static_cast<uint64_t>(got);
            out_bytes_ -= static_cast<uint64_t>(got);
            n += static_cast<size_t>(got);
            if (p.left == 0) {
                ::close(p.fd);
                out_.pop_front();
            }
        } else {
            size_t take = std::min(p.data.size() - p.taken, length - n);
            memcpy(buf + n, p.data.data() + p.taken, take);
            p.taken += take;
            n += take;
            out_bytes_ -= take;
            mem_bytes_ -= take;
            if (p.taken == p.data.size()) {
                out_.pop_front();
            }
        }
    }
    if (out_.empty() && last_) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (req_ && !req_->out_trailers.empty()) {
            send_trailers();  // END_STREAM comes with them
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        }
    } else if (n == 0) {
        deferred_ = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    // As an HTTP/1 connection: the producer hears when what it queued has gone (all of it,
    // or enough after it was told to wait).
    if ((out_bytes_ == 0 || (was_blocked_ && !output_blocked())) && req_ &&
        (req_->on_drained != nullptr || req_->filter_on_drained != nullptr || was_blocked_)) {
        post_drained();
    }
    return static_cast<ssize_t>(n);
}

void H2Stream::send_trailers() {
    std::vector<std::string> names;
    names.reserve(req_->out_trailers.size());
    std::vector<nghttp2_nv> nv;
    for (auto& [name, value] : req_->out_trailers) {
        names.emplace_back(name);
        for (char& ch : names.back()) {
            ch = static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
        }
        nv.push_back({reinterpret_cast<uint8_t*>(names.back().data()),
                      reinterpret_cast<uint8_t*>(value.data()), names.back().size(), value.size(),
                      NGHTTP2_NV_FLAG_NONE});
    }
    nghttp2_submit_trailer(c_.ng(), id_, nv.data(), nv.size());
}

void H2Stream::post_drained() {
    was_blocked_ = false;
    if (drain_posted_) {
        return;
    }
    drain_posted_ = true;
    ev::Runtime::current().loop().post([this, w = std::weak_ptr<char>(token_), alive = req_.get()] {
        if (w.expired()) {
            return;
        }
        drain_posted_ = false;
        if (req_.get() == alive && alive != nullptr) {
            drained();
        }
    });
}

void H2Stream::drained() {
    http::Request& r = *req_;
    if (auto resume = r.filter_on_drained) {
        r.filter_on_drained = nullptr;
        resume(r);
        if (!req_ || req_.get() != &r || r.output_blocked()) {
            return;
        }
    }
    if (auto resume = r.on_drained) {
        r.on_drained = nullptr;
        resume(r);
    }
}

void H2Stream::response_sent() {
    sent_all_ = true;
    finish_request();
    if (!body_end_ && !closed_ && !c_.closed()) {
        // RFC 9113 §8.1: the response is complete, the rest of the request is not wanted.
        nghttp2_submit_rst_stream(c_.ng(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_NO_ERROR);
        c_.note_reset(id_);
        c_.want_flush();
    }
}

void H2Stream::finish_request() {
    if (finished_ || !req_) {
        return;
    }
    finished_ = true;
    body_timer_.cancel();
    req_->completed = sent_all_;
    log_request();
    discard_ = true;
    if (!preread_.empty()) {
        consume(preread_.size());
        preread_.clear();
    }
    if (closed_ && !c_.closed()) {
        c_.retire(id_);
    }
}

void H2Stream::closed(uint32_t error) {
    if (closed_) {
        return;
    }
    closed_ = true;
    if (req_ && !finished_) {
        if (!req_->head_sent) {
            req_->status = 499;  // nginx: the client closed the stream before the response
        }
        finish_request();  // logged as it stands
    }
    if (!c_.closed()) {
        if (finished_ || !req_) {
            c_.retire(id_);
        }
    }
}

void H2Stream::abort() {
    if (req_ && !req_->head_sent) {
        req_->status = 444;
    }
    if (!closed_ && !c_.closed()) {
        nghttp2_submit_rst_stream(c_.ng(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_INTERNAL_ERROR);
        c_.note_reset(id_);
        c_.want_flush();
    }
    finish_request();
}

void H2Stream::client_gone() {
    abort();
}

void H2Stream::fail_request(int status) {
    body_mode_store_ = false;
    body_data_ = nullptr;
    discard_ = true;
    if (!req_->head_sent) {
        req_->send_error(status);
    } else {
        abort();
    }
}

const http::ProxyHeader* H2Stream::proxy_header() const {
    return c_.proxy_header();
}
const ev::Transport* H2Stream::transport() const {
    return const_cast<H2Connection&>(c_).conn().transport();
}
const core::SockAddr& H2Stream::local_addr() {
    return c_.local_addr();
}
int H2Stream::requests() const {
    return c_.requests();
}
std::chrono::steady_clock::time_point H2Stream::accepted() const {
    return c_.accepted();
}
int H2Stream::fd() const {
    return const_cast<H2Connection&>(c_).conn().fd();
}

}  // namespace mod::http_v2
