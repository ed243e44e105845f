#include "http/modules/http2/h2_connection.h"

#include <sys/socket.h>

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

void H2Connection::start(http::Http2Start& st) {
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
}

H2Connection::~H2Connection() {
    streams_.clear();  // before the session: a stream may still ask it something
    if (ng_ != nullptr) {
        nghttp2_session_del(ng_);
    }
}

bool H2Connection::init() {
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
    const auto& main = core::conf_of<Http2MainConf>(port_.main().main_confs);
    size_t max = main.recv_buffer_size->bytes;
    ev::Buffer in;
    for (;;) {
        if (conn_.output_buffered() > kOutHigh) {
            break;  // the client does not read what it asked for: it waits (on_drained)
        }
        in.clear();
        switch (conn_.read(in, max)) {
            case ev::IoStatus::kOk:
                process_input(in.view());
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
    in_input_ = true;
    ssize_t n =
        nghttp2_session_mem_recv(ng_, reinterpret_cast<const uint8_t*>(data.data()), data.size());
    in_input_ = false;
    if (n < 0) {
        // Fatal for the connection: nghttp2 sent (queued) a GOAWAY where one applies.
        log(n == NGHTTP2_ERR_FLOODED || n == NGHTTP2_ERR_BAD_CLIENT_MAGIC ? core::LogLevel::kInfo
                                                                          : core::LogLevel::kInfo,
            "client sent invalid HTTP/2 data (%s) while processing HTTP/2 connection",
            nghttp2_strerror(static_cast<int>(n)));
        if (n == NGHTTP2_ERR_FLOODED) {
            log(core::LogLevel::kWarn,
                "client floods the connection with frames that need an answer (SETTINGS, "
                "PING, RST_STREAM): closing it");
        }
        flush();
        close();
        return;
    }
    run_ready();
    if (!closed_) {
        flush();
    }
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
        // Idle: keepalive_timeout (nginx applies it to HTTP/2 connections since 1.19.7).
        if (!idle_) {
            idle_ = true;
            rt.set_idle(this);
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
    if (st == nullptr || f->hd.type != NGHTTP2_HEADERS) {
        return 0;  // trailers of a request: not kept (nginx ignores them too)
    }
    st->add_field({reinterpret_cast<const char*>(name), namelen},
                  {reinterpret_cast<const char*>(value), valuelen});
    return 0;
}

int H2Connection::on_frame_recv(nghttp2_session* s, const nghttp2_frame* f, void* self) {
    auto* c = static_cast<H2Connection*>(self);
    auto* st = static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(s, f->hd.stream_id));
    switch (f->hd.type) {
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
    auto* st = static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(s, id));
    if (st == nullptr) {
        nghttp2_session_consume_connection(s, len);  // a stream we no longer follow
        return 0;
    }
    st->on_data({reinterpret_cast<const char*>(data), len});
    return 0;
}

int H2Connection::on_frame_send(nghttp2_session* s, const nghttp2_frame* f, void* self) {
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
