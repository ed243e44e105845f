#pragma once
// An HTTP/2 connection (RFC 9113): libnghttp2 does the framing, HPACK (RFC 7541), stream
// states and flow control; this owns the socket, the streams (each an http::Session that runs
// one request through the phase engine like an HTTP/1 connection does) and the limits.
#include <nghttp2/nghttp2.h>

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "event/buffer.h"
#include "event/connection.h"
#include "event/runtime.h"
#include "http/modules/http2/h2_conf.h"
#include "http/session.h"

namespace mod::http_v2 {

class H2Stream;

class H2Connection final : public ev::ConnectionHandler, public ev::Idle {
  public:
    /// Takes over what an HTTP/1 session read (HttpMainConf::start_http2). Owns itself.
    static void start(http::Http2Start& st);
    ~H2Connection() override;

    void on_readable() override;
    void on_drained() override;
    void on_timeout() override;
    void on_error() override { close(); }
    void close_idle(bool reclaimed) override;

    // For the streams.
    nghttp2_session* ng() { return ng_; }
    ev::Connection& conn() { return conn_; }
    const http::Port& port() const { return port_; }
    const http::ProxyHeader* proxy_header() const { return proxy_.get(); }
    const core::SockAddr& local_addr();
    int requests() const { return requests_; }
    std::chrono::steady_clock::time_point accepted() const { return accepted_; }
    const Http2SrvConf& conf() const { return conf_; }
    bool closed() const { return closed_; }
    /// Frames are waiting to be sent: they go out once the current event is handled.
    void want_flush();
    /// A stream we reset (its client may still send a frame or two on it).
    void note_reset(int32_t id);
    /// A stream ended (its request is logged, nghttp2 closed it): freed after this event.
    void retire(int32_t id);
    /// The client goes away or broke the protocol: the connection ends (GOAWAY when possible).
    void close();
    /// Logs about the connection with nginx's context (client, listening address) to the
    /// default server's error log.
    void log(core::LogLevel level, const char* fmt, ...) __attribute__((format(printf, 3, 4)));

  private:
    H2Connection(http::Http2Start& st, const Http2SrvConf& conf);
    bool init();
    void process_input(std::string_view data);
    /// Runs the requests whose heads were completed by the last input (outside nghttp2's
    /// callbacks).
    void run_ready();
    /// Finds the frame boundaries of `data` (continuing the last call's) and checks what
    /// libnghttp2 lets pass: the offset of the first frame to refuse, or data.size().
    size_t scan_frames(std::string_view data);
    bool recently_reset(uint32_t id) const;
    bool take_reset_token();
    void flush();
    void update_timer();
    /// Graceful end (reload, quit, keepalive_requests): GOAWAY with the last stream taken;
    /// the streams in flight finish, then the connection closes.
    void goaway();

    // nghttp2's callbacks.
    static int on_begin_headers(nghttp2_session* s, const nghttp2_frame* f, void* self);
    static int on_header(nghttp2_session* s, const nghttp2_frame* f, const uint8_t* name,
                         size_t namelen, const uint8_t* value, size_t valuelen, uint8_t flags,
                         void* self);
    static int on_frame_recv(nghttp2_session* s, const nghttp2_frame* f, void* self);
    static int on_data_chunk(nghttp2_session* s, uint8_t flags, int32_t id, const uint8_t* data,
                             size_t len, void* self);
    static int on_frame_send(nghttp2_session* s, const nghttp2_frame* f, void* self);
    static int on_stream_close(nghttp2_session* s, int32_t id, uint32_t error, void* self);
    static int on_invalid_frame(nghttp2_session* s, const nghttp2_frame* f, int error, void* self);
    static int on_error(nghttp2_session* s, int code, const char* msg, size_t len, void* self);

    const http::Port& port_;
    const Http2SrvConf& conf_;
    ev::Connection conn_;
    nghttp2_session* ng_ = nullptr;
    std::unique_ptr<http::ProxyHeader> proxy_;
    std::unordered_map<int32_t, std::unique_ptr<H2Stream>> streams_;
    std::vector<int32_t> ready_;  // streams whose heads are complete, to run
    std::string out_;             // frames gathered for one write
    core::SockAddr local_{};
    std::chrono::steady_clock::time_point accepted_;
    int requests_ = 0;
    uint64_t received_ = 0;  // bytes read
    uint64_t useful_ = 0;    // of which header fields and body data (the flood rule)
    int64_t priority_budget_ = 0;
    // The frame scanner (scan_frames): a frame header being read, the payload left to skip.
    char scan_head_[9] = {};
    size_t scan_have_ = 0;
    uint32_t scan_skip_ = 24;  // the client's preface
    uint32_t max_stream_ = 0;
    uint32_t bad_stream_ = 0;
    uint32_t reset_[16] = {};
    unsigned reset_next_ = 0;
    double reset_tokens_ = 1000;
    int64_t reset_refill_ms_ = 0;  // PRIORITY frames a client may still send (nginx's rule)
    bool closed_ = false;
    bool flush_posted_ = false;
    bool in_input_ = false;
    bool goaway_sent_ = false;
    bool idle_ = false;
};

}  // namespace mod::http_v2
