#include "http/modules/http2/h2_connection.h"

#include <sys/socket.h>

#include <algorithm>
#include <cstdarg>
#include <cstring>

#include "core/log.h"
#include "http/error_log.h"
#include "http/modules/http2/h2_stream.h"
#include "http/stats.h"

namespace mod::http_v2 {
namespace {

constexpr size_t kOutHigh = 256 * 1024;  // frames queued for the socket before we wait
constexpr size_t kWriteBatch = 64 * 1024;

const http::HttpSrvConf& srv_conf(const http::ServerBlock& s) {
    return core::conf_of<http::HttpSrvConf>(s.srv_confs);
}
const http::HttpLocConf& default_loc(const http::Port& p) {
    return core::conf_of<http::HttpLocConf>(p.default_server().loc_confs);
}

}  // namespace

namespace {
// The open HTTP/2 connections of this process: a reload or a stop sends each its GOAWAY.
std::vector<H2Connection*>& live() {
    static std::vector<H2Connection*> v;
    return v;
}
}  // namespace

void H2Connection::start(http::Http2Start& st) {
    static ev::Runtime* hooked = nullptr;
    if (hooked != &ev::Runtime::current()) {
        hooked = &ev::Runtime::current();
        hooked->on_quit([] {
            std::vector<H2Connection*> all = live();
            for (H2Connection* c : all) {
                c->goaway();  // the streams in flight finish, then the connection closes
            }
        });
    }
    const auto& conf = core::conf_of<Http2SrvConf>(st.port->default_server().srv_confs);
    auto* c = new H2Connection(st, conf);  // owns itself: freed by close()
    if (!c->init()) {
        c->close();
        return;
    }
    c->process_input(st.preread);
    if (!c->closed_) {
        c->conn_.start(false);
    }
}

H2Connection::H2Connection(http::Http2Start& st, const Http2SrvConf& conf)
    : port_(*st.port),
      conf_(conf),
      conn_(ev::Runtime::current().loop(), st.fd, st.peer, st.id),
      proxy_(std::move(st.proxy)),
      accepted_(st.accepted) {
    ev::Runtime::current().connection_opened();
    http::count_h2_connection(1);
    conn_.set_handler(this);
    conn_.adopt_transport(std::move(st.transport));
    live().push_back(this);
}

H2Connection::~H2Connection() {
    std::erase(live(), this);
    streams_.clear();  // before the session: a stream may still ask it something
    if (ng_ != nullptr) {
        nghttp2_session_del(ng_);
    }
}

bool H2Connection::init() {
    priority_budget_ = std::max<int64_t>(static_cast<int64_t>(*conf_.max_concurrent_streams), 100);
    nghttp2_session_callbacks* cb = nullptr;
    if (nghttp2_session_callbacks_new(&cb) != 0) {
        return false;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, &on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, &on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, &on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, &on_stream_close);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, &on_invalid_frame);
    nghttp2_session_callbacks_set_error_callback2(cb, &on_error);
    nghttp2_option* opt = nullptr;
    if (nghttp2_option_new(&opt) != 0) {
        nghttp2_session_callbacks_del(cb);
        return false;
    }
    // Request bodies open the window as they are taken, not as they arrive.
    nghttp2_option_set_no_auto_window_update(opt, 1);
    // The client's preface was read by the HTTP/1 session: it is fed in again as it came.
    size_t max_head = srv_conf(port_.default_server()).large_header_buffer_size->bytes *
                      static_cast<size_t>(*srv_conf(port_.default_server()).large_header_buffers);
    nghttp2_option_set_max_send_header_block_length(opt, 4 * max_head + 65536);
    nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
    // Floods (each closes the connection with GOAWAY, logged): RST_STREAM right after
    // HEADERS (CVE-2023-44487: a bucket of 1000, 33 a second, in on_frame_recv with
    // ENHANCE_YOUR_CALM), CONTINUATION frames without end (CVE-2024-27316: the header list
    // limit, then 1024 frames, then the byte rule),
    // SETTINGS and PING answers the client does not read (1000 queued), SETTINGS with
    // more than 32 entries; PRIORITY frames within nginx's budget (on_frame_recv), no closed
    // stream kept for the priority tree.
    nghttp2_option_set_stream_reset_rate_limit(opt, 1u << 30, 1u << 30);  // ours: on_frame_recv
    nghttp2_option_set_max_continuations(opt, 1024);  // the header list limit comes first
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_option_set_max_settings(opt, 32);
    nghttp2_option_set_no_closed_streams(opt, 1);
    int rc = nghttp2_session_server_new2(&ng_, cb, this, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    if (rc != 0) {
        ng_ = nullptr;
        return false;
    }
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
         static_cast<uint32_t>(*conf_.max_concurrent_streams)},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE,
         static_cast<uint32_t>(conf_.body_preread_size->bytes)},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<uint32_t>(max_head)},
    };
    if (nghttp2_submit_settings(ng_, NGHTTP2_FLAG_NONE, settings,
                                sizeof(settings) / sizeof(settings[0])) != 0) {
        return false;
    }
    // The connection's window is as large as it can be (as nginx): each stream's own window
    // (http2_body_preread_size) bounds what the client may send ahead.
    nghttp2_session_set_local_window_size(ng_, NGHTTP2_FLAG_NONE, 0, NGHTTP2_MAX_WINDOW_SIZE);
    update_timer();
    return true;
}

void H2Connection::log(core::LogLevel level, const char* fmt, ...) {
    const core::Log& l = http::server_log(&port_.default_server());
    if (!l.enabled(level)) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    std::string msg = core::vformat(fmt, ap);
    va_end(ap);
    msg += ", client: " + conn_.peer().host_text() + ", server: " +
           (port_.listening() != nullptr ? port_.listening()->addr.text() : std::string());
    l.write(level, conn_.id(), msg);
}

// ---- input ----

void H2Connection::on_readable() {
    if (closed_) {
        return;
    }
    // One read takes up to http2_recv_buffer_size, into a space the worker's connections
    // share (as nginx's recv buffer): nghttp2 copies what it keeps before the next read.
    const auto& main = core::conf_of<Http2MainConf>(port_.main().main_confs);
    size_t max = main.recv_buffer_size->bytes;
    static std::vector<char> space;
    static ev::Buffer tls_in;
    if (space.size() < max) {
        space.resize(max);
    }
    for (;;) {
        if (conn_.output_buffered() > kOutHigh) {
            break;  // the client does not read what it asked for: it waits (on_drained)
        }
        size_t n = 0;
        std::string_view got;
        ev::IoStatus st;
        if (conn_.transport() == nullptr) {
            st = conn_.read_into(std::span<char>(space.data(), max), n);
            got = std::string_view(space.data(), n);
        } else {
            tls_in.clear();
            st = conn_.read(tls_in, max);
            got = tls_in.view();
        }
        switch (st) {
            case ev::IoStatus::kOk:
                process_input(got);
                if (closed_) {
                    return;
                }
                continue;
            case ev::IoStatus::kAgain:
                break;
            case ev::IoStatus::kEof:
            case ev::IoStatus::kError:
                close();
                return;
        }
        break;
    }
}

void H2Connection::process_input(std::string_view data) {
    // nginx's flood rule: frames that carry no request data (PRIORITY, PING, WINDOW_UPDATE,
    // SETTINGS, empty DATA...) may not be more than 8 times the bytes that do, past 1 MiB.
    received_ += data.size();
    size_t bad = scan_frames(data);
    in_input_ = true;
    ssize_t n = nghttp2_session_mem_recv(ng_, reinterpret_cast<const uint8_t*>(data.data()),
                                         std::min(bad, data.size()));
    in_input_ = false;
    if (n >= 0 && bad < data.size()) {
        // RFC 9113 §5.1.1: a new stream's id is above every earlier one (libnghttp2 ignores
        // such a HEADERS frame; the RFC makes it a connection error).
        log(core::LogLevel::kInfo, "client sent HEADERS frame with incorrect identifier %u",
            bad_stream_);
        nghttp2_session_terminate_session(ng_, NGHTTP2_PROTOCOL_ERROR);
        goaway_sent_ = true;
        flush();
        close();
        return;
    }
    if (n < 0) {
        // Fatal for the connection: nghttp2 sent (queued) a GOAWAY where one applies.
        if (n == NGHTTP2_ERR_FLOODED) {
            // More than 1000 SETTINGS or PING answers queued: the client does not read them.
            log(core::LogLevel::kInfo,
                "http2 flood detected: the client does not read the "
                "answers to its SETTINGS and PING frames");
        } else {
            log(core::LogLevel::kInfo,
                "client sent invalid HTTP/2 data (%s) while processing HTTP/2 connection",
                nghttp2_strerror(static_cast<int>(n)));
        }
        flush();
        close();
        return;
    }
    if (received_ / 8 > useful_ + 1024 * 1024) {
        log(core::LogLevel::kInfo,
            "http2 flood detected: %llu bytes received, %llu of them "
            "requests and bodies",
            static_cast<unsigned long long>(received_), static_cast<unsigned long long>(useful_));
        nghttp2_submit_goaway(ng_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(ng_),
                              NGHTTP2_ENHANCE_YOUR_CALM, nullptr, 0);
        goaway_sent_ = true;
        close();
        return;
    }
    run_ready();
    if (!closed_) {
        flush();
    }
}

size_t H2Connection::scan_frames(std::string_view data) {
    size_t at = 0;
    while (at < data.size()) {
        if (scan_skip_ > 0) {
            size_t n = std::min<size_t>(scan_skip_, data.size() - at);
            scan_skip_ -= n;
            at += n;
            continue;
        }
        size_t take = std::min(data.size() - at, sizeof(scan_head_) - scan_have_);
        memcpy(scan_head_ + scan_have_, data.data() + at, take);
        scan_have_ += take;
        at += take;
        if (scan_have_ < sizeof(scan_head_)) {
            break;
        }
        scan_have_ = 0;
        const auto* h = reinterpret_cast<const uint8_t*>(scan_head_);
        scan_skip_ = (uint32_t{h[0]} << 16) | (uint32_t{h[1]} << 8) | h[2];
        uint32_t id =
            ((uint32_t{h[5]} & 0x7f) << 24) | (uint32_t{h[6]} << 16) | (uint32_t{h[7]} << 8) | h[8];
        if (h[3] != NGHTTP2_HEADERS || id == 0 || (id & 1) == 0) {
            continue;  // nghttp2 judges those
        }
        if (id > max_stream_) {
            max_stream_ = id;
        } else if (!streams_.contains(static_cast<int32_t>(id)) && !recently_reset(id)) {
            bad_stream_ = id;
            return at - sizeof(scan_head_);
        }
    }
    return data.size();
}

bool H2Connection::take_reset_token() {
    // A bucket of 1000 RST_STREAM frames, 33 more a second (libnghttp2's numbers).
    int64_t now =
        std::chrono::duration_cast<std::chrono::milliseconds>(ev::Clock::now().time_since_epoch())
            .count();
    if (reset_refill_ms_ == 0) {
        reset_refill_ms_ = now;
    }
    reset_tokens_ = std::min(1000.0, reset_tokens_ + (now - reset_refill_ms_) * 0.033);
    reset_refill_ms_ = now;
    if (reset_tokens_ < 1) {
        return false;
    }
    reset_tokens_ -= 1;
    return true;
}

void H2Connection::note_reset(int32_t id) {
    reset_[reset_next_++ % (sizeof(reset_) / sizeof(reset_[0]))] = static_cast<uint32_t>(id);
}

bool H2Connection::recently_reset(uint32_t id) const {
    // RFC 9113 §5.4.2: frames on a stream we reset may still come (trailers in flight).
    return std::find(std::begin(reset_), std::end(reset_), id) != std::end(reset_);
}

void H2Connection::run_ready() {
    while (!ready_.empty() && !closed_) {
        std::vector<int32_t> ready = std::move(ready_);
        ready_.clear();
        for (int32_t id : ready) {
            auto it = streams_.find(id);
            if (it != streams_.end() && !closed_) {
                requests_++;
                it->second->run();
            }
        }
    }
    const auto& lc = default_loc(port_);
    if (!closed_ && !goaway_sent_ &&
        (requests_ >= static_cast<int>(*lc.keepalive_requests) ||
         ev::Runtime::current().shutting_down())) {
        goaway();  // nginx: keepalive_requests counts the streams of an HTTP/2 connection
    }
}

// ---- output ----

void H2Connection::want_flush() {
    if (flush_posted_ || closed_ || in_input_) {
        return;  // process_input() flushes when it is done
    }
    flush_posted_ = true;
    ev::Runtime::current().loop().post([this] {
        flush_posted_ = false;
        if (!closed_) {
            flush();
        }
    });
}

void H2Connection::flush() {
    if (closed_) {
        return;
    }
    while (conn_.output_buffered() < kOutHigh) {
        const uint8_t* data = nullptr;
        ssize_t n = nghttp2_session_mem_send(ng_, &data);
        if (n < 0) {
            log(core::LogLevel::kInfo, "HTTP/2 output failed (%s)",
                nghttp2_strerror(static_cast<int>(n)));
            close();
            return;
        }
        if (n == 0) {
            break;
        }
        out_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
        if (out_.size() >= kWriteBatch) {
            conn_.send(out_);
            out_.clear();
        }
    }
    if (!out_.empty()) {
        conn_.send(out_);
        out_.clear();
    }
    if (conn_.failed()) {
        close();
        return;
    }
    if (!nghttp2_session_want_read(ng_) && !nghttp2_session_want_write(ng_) &&
        !conn_.output_pending()) {
        close();  // GOAWAY sent and every stream done
        return;
    }
    if (goaway_sent_ && streams_.empty() && !conn_.output_pending()) {
        close();
        return;
    }
    update_timer();
}

void H2Connection::on_drained() {
    flush();
    if (!closed_ && conn_.output_buffered() < kOutHigh) {
        on_readable();  // reading stopped while the client did not take its frames
    }
}

void H2Connection::update_timer() {
    if (closed_) {
        return;
    }
    auto& rt = ev::Runtime::current();
    const auto& lc = default_loc(port_);
    if (streams_.empty()) {
        // Idle: keepalive_timeout (nginx applies it to HTTP/2 connections since 1.19.7); an
        // idle connection keeps no buffer of ours.
        if (!idle_) {
            idle_ = true;
            rt.set_idle(this);
        }
        if (!conn_.output_pending()) {
            conn_.release_buffers();
        }
        conn_.set_timeout(*lc.keepalive_timeout);
        return;
    }
    if (idle_) {
        idle_ = false;
        rt.clear_idle(this);
    }
    if (conn_.output_pending() || nghttp2_session_want_write(ng_)) {
        conn_.set_timeout(*lc.send_timeout);  // a client that takes nothing goes
    } else {
        conn_.clear_timeout();  // the requests' own timeouts run
    }
}

void H2Connection::on_timeout() {
    if (!streams_.empty()) {
        log(core::LogLevel::kInfo, "client timed out (send_timeout) on HTTP/2 connection");
    }
    goaway();  // keepalive_timeout: GOAWAY NO_ERROR, as nginx
    close();
}

void H2Connection::close_idle(bool reclaimed) {
    if (reclaimed) {
        http::count_reclaimed();
    }
    goaway();
    close();
}

void H2Connection::goaway() {
    if (goaway_sent_ || closed_) {
        return;
    }
    goaway_sent_ = true;
    nghttp2_submit_goaway(ng_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(ng_),
                          NGHTTP2_NO_ERROR, nullptr, 0);
    want_flush();
}

void H2Connection::close() {
    if (closed_) {
        return;
    }
    if (ng_ != nullptr && !conn_.failed()) {
        // What nghttp2 still has (a GOAWAY) goes out if the socket takes it now.
        const uint8_t* data = nullptr;
        ssize_t n;
        while ((n = nghttp2_session_mem_send(ng_, &data)) > 0) {
            out_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
        }
        if (!out_.empty()) {
            conn_.send(out_);
            out_.clear();
        }
    }
    closed_ = true;
    for (auto& [id, s] : streams_) {
        s->closed(NGHTTP2_CANCEL);  // requests still running end as their client left
    }
    auto& rt = ev::Runtime::current();
    rt.clear_idle(this);
    conn_.clear_timeout();
    rt.connection_closed();
    http::count_h2_connection(-1);
    rt.loop().post([this] { delete this; });
}

void H2Connection::retire(int32_t id) {
    auto it = streams_.find(id);
    if (it == streams_.end()) {
        return;
    }
    // Freed after the current event: the stream may be on the stack.
    std::shared_ptr<H2Stream> gone(std::move(it->second));
    streams_.erase(it);
    ev::Runtime::current().loop().post([gone] {});
    if (ev::Runtime::current().shutting_down()) {
        goaway();  // the streams in flight finish, then the connection closes (flush)
    }
    update_timer();
}

const core::SockAddr& H2Connection::local_addr() {
    if (local_.len == 0) {
        local_.len = sizeof(local_.storage);
        if (getsockname(conn_.fd(), local_.get(), &local_.len) != 0) {
            local_.len = 0;
        }
    }
    return local_;
}

// ---- nghttp2's callbacks ----

int H2Connection::on_begin_headers(nghttp2_session* s, const nghttp2_frame* f, void* self) {
    auto* c = static_cast<H2Connection*>(self);
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) {
        return 0;
    }
    if (c->goaway_sent_) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // after GOAWAY: not processed
    }
    // nginx's PRIORITY budget grows with the streams a client opens.
    c->priority_budget_ += static_cast<int64_t>(*c->conf_.max_concurrent_streams);
    http::count_h2_stream();
    auto stream = std::make_unique<H2Stream>(*c, f->hd.stream_id);
    nghttp2_session_set_stream_user_data(s, f->hd.stream_id, stream.get());
    c->streams_[f->hd.stream_id] = std::move(stream);
    c->update_timer();
    return 0;
}

int H2Connection::on_header(nghttp2_session* s, const nghttp2_frame* f, const uint8_t* name,
                            size_t namelen, const uint8_t* value, size_t valuelen, uint8_t flags,
                            void* self) {
    auto* st = static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(s, f->hd.stream_id));
    if (st == nullptr || f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) {
        return 0;  // trailers of a request: not kept (nginx ignores them too)
    }
    static_cast<H2Connection*>(self)->useful_ += namelen + valuelen;
    if (!st->add_field({reinterpret_cast<const char*>(name), namelen},
                       {reinterpret_cast<const char*>(value), valuelen})) {
        // Past large_client_header_buffers (an HPACK bomb decodes into far more): as nginx,
        // the connection ends with ENHANCE_YOUR_CALM; the rest of the block is not kept.
        nghttp2_session_terminate_session(s, NGHTTP2_ENHANCE_YOUR_CALM);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    return 0;
}

int H2Connection::on_frame_recv(nghttp2_session* s, const nghttp2_frame* f, void* self) {
    auto* c = static_cast<H2Connection*>(self);
    auto* st = static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(s, f->hd.stream_id));
    switch (f->hd.type) {
        case NGHTTP2_RST_STREAM:
            if (!c->take_reset_token() && !c->goaway_sent_) {
                // CVE-2023-44487: streams opened and reset at once cost the server work and
                // the client nothing.
                c->log(core::LogLevel::kInfo,
                       "client sent too many RST_STREAM frames (rapid reset)");
                nghttp2_session_terminate_session(s, NGHTTP2_ENHANCE_YOUR_CALM);
                c->goaway_sent_ = true;
            }
            break;
        case NGHTTP2_PRIORITY:
            if (--c->priority_budget_ < 0 && !c->goaway_sent_) {
                c->log(core::LogLevel::kInfo, "client sent too many PRIORITY frames");
                nghttp2_session_terminate_session(s, NGHTTP2_ENHANCE_YOUR_CALM);
                c->goaway_sent_ = true;
            }
            break;
        case NGHTTP2_HEADERS:
            if (st != nullptr && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
                st->head_done((f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0);
                c->ready_.push_back(f->hd.stream_id);
            } else if (st != nullptr && (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
                st->on_body_end();  // trailers end the body
            }
            break;
        case NGHTTP2_DATA:
            if (st != nullptr && (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
                st->on_body_end();
            }
            break;
        default:
            break;
    }
    return 0;
}

int H2Connection::on_data_chunk(nghttp2_session* s, uint8_t flags, int32_t id, const uint8_t* data,
                                size_t len, void* self) {
    static_cast<H2Connection*>(self)->useful_ += len;
    auto* st = static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(s, id));
    if (st == nullptr) {
        nghttp2_session_consume_connection(s, len);  // a stream we no longer follow
        return 0;
    }
    st->on_data({reinterpret_cast<const char*>(data), len});
    return 0;
}

int H2Connection::on_frame_send(nghttp2_session* s, const nghttp2_frame* f, void* self) {
    if (f->hd.type == NGHTTP2_GOAWAY && f->goaway.error_code != NGHTTP2_NO_ERROR) {
        // A connection error (RFC 9113 §5.4.1): the protocol broken, or a flood stopped.
        auto* c = static_cast<H2Connection*>(self);
        c->log(f->goaway.error_code == NGHTTP2_ENHANCE_YOUR_CALM ? core::LogLevel::kWarn
                                                                 : core::LogLevel::kInfo,
               "HTTP/2 connection closed with GOAWAY %s",
               nghttp2_http2_strerror(f->goaway.error_code));
    }
    if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) &&
        (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
        auto* st = static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(s, f->hd.stream_id));
        if (st != nullptr) {
            st->response_sent();
        }
    }
    return 0;
}

int H2Connection::on_stream_close(nghttp2_session* s, int32_t id, uint32_t error, void* self) {
    auto* c = static_cast<H2Connection*>(self);
    auto it = c->streams_.find(id);
    if (it != c->streams_.end()) {
        it->second->closed(error);
    }
    return 0;
}

int H2Connection::on_invalid_frame(nghttp2_session* s, const nghttp2_frame* f, int error,
                                   void* self) {
    auto* c = static_cast<H2Connection*>(self);
    if (error == NGHTTP2_ERR_REFUSED_STREAM && f->hd.type == NGHTTP2_HEADERS) {
        c->log(core::LogLevel::kInfo, "concurrent streams exceeded %llu",
               static_cast<unsigned long long>(*c->conf_.max_concurrent_streams));
        return 0;
    }
    if (error == NGHTTP2_ERR_PROTO && f->hd.type == NGHTTP2_HEADERS &&
        c->streams_.size() >= *c->conf_.max_concurrent_streams) {
        // libnghttp2 makes a stream above the acknowledged limit a connection error.
        c->log(core::LogLevel::kInfo, "concurrent streams exceeded %llu",
               static_cast<unsigned long long>(*c->conf_.max_concurrent_streams));
        return 0;
    }
    c->log(core::LogLevel::kInfo, "client sent invalid HTTP/2 frame (type %u, stream %d): %s",
           static_cast<unsigned>(f->hd.type), f->hd.stream_id, nghttp2_strerror(error));
    return 0;
}

int H2Connection::on_error(nghttp2_session* s, int code, const char* msg, size_t len, void* self) {
    auto* c = static_cast<H2Connection*>(self);
    c->log(core::LogLevel::kInfo, "HTTP/2: %.*s", static_cast<int>(len), msg);
    return 0;
}

}  // namespace mod::http_v2
