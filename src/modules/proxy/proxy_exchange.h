#pragma once

// The state of one proxied request (see proxy_request.cc for the whole story). Internal to
// the proxy module: proxy_request.cc connects, sends and retries; proxy_response.cc reads the
// response and hands it to the client, and runs tunnels.

#include <fcntl.h>
#include <strings.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "core/log.h"
#include "event/connection.h"
#include "event/rate_limit.h"
#include "event/resolver.h"
#include "event/runtime.h"
#include "http/parse.h"
#include "http/response_parse.h"
#include "modules/proxy/proxy.h"
#include "modules/proxy/proxy_cache.h"
#include "modules/proxy/proxy_codec.h"
#include "tls/client_context.h"
#include "upstream/pool.h"

namespace mod::proxy::detail {

constexpr size_t kReadPiece = 65536;
// A body longer than this beyond what came with the head is spliced: below a pipe's worth,
// splicing costs as much as copying (measured: a 64 KiB response copied, 41.5 µs; spliced
// after its first read, 43.7).
constexpr size_t kSpliceMin = 65536;
// Queued for the upstream beyond this, the client is not read (streamed body, tunnel).
constexpr size_t kUpstreamHighWater = 256 * 1024;

inline bool idempotent(std::string_view method) {
    return method != "POST" && method != "LOCK" && method != "PATCH";
}

/// For a proxy_pass with variables: the request's own ProxyPass (a RequestPass ctx) from the
/// evaluated URL, its group set when the host names one; nullptr (logged) when the URL is not
/// one: the caller answers 500.
const ProxyPass* eval_pass(http::Request& r, const ProxyPass& conf);

class Exchange : public http::RequestCtx, public ev::ConnectionHandler {
  public:
    /// `codec`: the upstream's protocol when it is not HTTP (fastcgi_pass, scgi_pass, ...).
    Exchange(http::Request& r, const ProxyLocConf& c, const ProxyPass& pass,
             std::unique_ptr<Codec> codec = nullptr)
        : r_(r), c_(c), pass_(pass), codec_(std::move(codec)) {}
    ~Exchange() override {
        release(upstream::Outcome::kAborted);
        drop_upstream();
        if (spill_fd_ >= 0) {
            ::close(spill_fd_);
        }
    }

    /// `streamed`: the request body is passed on as it arrives (proxy_request_buffering off).
    void begin(bool streamed);
    const ProxyPass& pass() const { return pass_; }

    // ---- upstream connection events ----
    void on_connect(int err) override;
    void on_drained() override;
    void on_readable() override;
    void on_timeout() override;
    void on_error() override;

    /// The client drained what it was sent: read on.
    static void resume(http::Request& r);
    static void tunnel_from_client(http::Request& r, std::string_view data);
    /// A piece of a streamed request body (Session::stream_body).
    static void body_data(http::Request& r, std::string_view data, bool last);
    /// The client closed its connection before the response was done (Request::
    /// on_client_closed, set unless proxy_ignore_client_abort is on): the upstream exchange
    /// ends too, the request with 499, as nginx.
    static void client_closed(http::Request& r);

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
    static std::string format(const char* fmt, int err);

    void log(core::LogLevel level, const char* fmt, int err = 0);
    void log_text(core::LogLevel level, const std::string& msg);

    http::UpstreamLog& upstream_log();

    /// The peers are known: the request head, then the first attempt.
    void begin_with_peers();

    /// proxy_pass with variables (proxy_resolve.cc): the group of the evaluated host (an
    /// upstream block, another proxy_pass's group), else its address or the addresses the
    /// resolver finds; then begin_with_peers(), or an error answers the request.
    void find_peers();
    void on_resolved(const std::string& host, uint16_t port, const ev::ResolveResult& res);
    /// `msg` with the request's context (client, server, request, host), as nginx logs it.
    void log_request(core::LogLevel level, const std::string& msg);

    /// One attempt: a peer, a connection, the request.
    void attempt();

    /// Advances the TLS handshake of a new upstream connection; once it is done (and the
    /// certificate passed proxy_ssl_verify), the request goes out.
    void handshake();

    /// Queues the head and the body; false (nothing queued) when the body's file cannot be
    /// shared with the connection: the client gets 500, never a request without its body.
    bool send_request();

    void request_not_sent();

    /// An attempt failed with `reason` (a NextUpstream bit): the next peer when allowed, else
    /// the error `status` to the client.
    void fail(uint32_t reason, int status, const char* fmt, int err = 0);
    /// `level`: the message's level (error; crit for a connect() nginx logs so).
    void fail_text(uint32_t reason, int status, const std::string& msg,
                   core::LogLevel level = core::LogLevel::kError);

    /// proxy_next_upstream: whether a failure for `reason` moves the request to another peer.
    /// A request already `sent` is retried only when idempotent (or non_idempotent is set).
    bool retry_allowed(uint32_t reason, bool sent) const;

    /// A streamed body of which bytes went to an upstream: it cannot be sent again (nginx).
    bool body_gone() const { return streaming_ && body_sent_ > 0; }

    /// The connection is up: a streamed body starts flowing (or flows on after a retry).
    void start_body();

    /// Passes a piece of the streamed body on, re-chunked when the client sent it chunked;
    /// pauses the client while the upstream is behind.
    void forward_body(std::string_view data, bool last);

    /// Stops reading the client while too much waits for the upstream; on_drained() resumes.
    void pace_client();

    void finish_error(int status);

    void release(upstream::Outcome outcome);

    void drop_upstream() { upstream::drop_connection(std::move(up_)); }

    // ---- response ----

    void read_upstream();
    /// A body piece from a plain upstream, through the worker's scratch space; false when the
    /// exchange moved on (or waits).
    bool read_body_piece(size_t budget = SIZE_MAX);
    /// The same for the response head (and the body bytes that came with it).
    bool read_head_piece();
    /// Reads at most `want` bytes into the scratch space (`n` set); false when nothing came
    /// (the read timeout is set) or the upstream closed (handled).
    bool read_scratch(size_t want, size_t& n);
    /// Body bytes read (not in in_): handed on; false when the exchange moved on.
    bool body_view(std::string_view data);
    /// Plain sockets both sides, the body unchanged: it moves by splice(2). True when the
    /// client fell behind with proxy_buffering on: the copying path goes on from there (it
    /// spills past proxy_buffers); false when the exchange waits or moved on.
    bool splice_body();
    /// What may wait in memory for the client before the upstream waits or the temp file
    /// takes the rest (proxy_buffers; proxy_buffer_size without buffering).
    size_t memory_bound() const;
    bool client_behind() const;
    /// proxy_limit_rate: how much the next read of the body may take (SIZE_MAX: not paced);
    /// 0 while the rate says wait (the timer resumes reading).
    size_t read_budget();
    /// Counts body bytes read under proxy_limit_rate: the pause after them.
    void count_read(size_t n);
    void pause_reading(std::chrono::milliseconds d);

    /// New bytes in in_; false when the exchange moved on (or ended).
    bool on_bytes();

    bool on_head();

    bool has_untried_peer() const;

    /// X-Accel-Redirect: an internal redirect to the URI (or named location) it names.
    void accel_redirect(std::string uri);

    void fail_status(int status, uint32_t bit);

    bool has_error_page(int status) const;

    /// The upstream's status and headers to the client.
    void pass_head();

    /// Body bytes for the client: straight on, or into the temp file while the client is
    /// slower than the upstream (proxy_buffering), so that the upstream is freed early.
    bool deliver(std::string_view data);

    bool can_spill() const;

    /// Hands the client what the temp file holds beyond what it was given; with `last`, the
    /// end of the body too (the last thing done: it may end the request).
    void flush_spill(bool last);

    bool body_bytes();

    /// The response cannot be completed (a temp file error): the client sees it cut short.
    bool give_up();

    void on_upstream_closed();

    /// The whole response body is in: the connection to the pool (when it can be reused),
    /// the peer released, then the end of the body to the client (last: it may end us).
    void finish_body(std::string_view last_bytes = {});

    bool start_tunnel();

    // ---- another protocol (codec_) ----
    /// Records in raw_ taken apart into in_ (stderr logged); false when the exchange moved on.
    bool decode_records();
    /// New bytes from such an upstream (read into raw_); false when the exchange moved on.
    bool codec_bytes(size_t budget);
    /// The body (buffered) framed as the protocol wants it; false as send_request().
    bool send_codec_body();

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
    std::optional<std::string> set_body_;  // proxy_set_body, evaluated
    bool buffering_ = true;                // proxy_buffering, or X-Accel-Buffering
    ev::RateLimit read_rate_;              // proxy_limit_rate (rate 0: not paced)
    std::unique_ptr<ev::Timer> read_timer_;
    bool read_paused_ = false;  // the rate's pause: reading waits for read_timer_
    std::string ssl_name_;      // https: proxy_ssl_name (SNI, verification), without a port
    std::string pool_tag_;      // https: which pooled connections fit (tls_pool_tag)
    std::unique_ptr<ev::Connection> up_;
    std::unique_ptr<ev::ResolveQuery> query_;  // the resolver is looking up the host
    bool reused_ = false;
    int conn_requests_ = 0;
    State state_ = State::kConnecting;
    ev::Buffer in_;
    size_t scan_ = 0;
    http::ParsedResponse head_;
    http::BodyFraming framing_ = http::BodyFraming::kNone;
    uint64_t body_left_ = 0;
    http::ChunkedDecoder chunked_;
    std::string trailers_;  // proxy_pass_trailers: the chunked response's trailer lines
    /// proxy_pass_trailers: the trailer fields read into the response's, but hidden ones.
    void pass_trailers();
    bool extra_bytes_ = false;
    // The temp file of a response buffered while the client is slow.
    int spill_fd_ = -1;
    uint64_t spill_written_ = 0;
    uint64_t spill_sent_ = 0;
    bool file_queued_ = false;   // a range of it is queued on the client connection
    bool splicing_ = false;      // the body moves by splice(2)
    bool head_outside_ = false;  // the head being handled lies in the scratch space, not in_
    size_t head_rest_ = 0;       // then: the body bytes read with it (not in in_)
    // A streamed request body (proxy_request_buffering off).
    bool streaming_ = false;
    bool body_started_ = false;    // r_.stream_body() was called
    bool body_in_ = false;         // its end was handed to the upstream connection
    bool client_paused_ = false;   // the client is not read: the upstream is behind (or gone)
    uint64_t body_sent_ = 0;       // bytes of it handed to an upstream (framing included)
    std::string chunk_;            // one re-chunked piece
    CacheState* cache_ = nullptr;  // proxy_cache: the response is being stored (a request ctx)
    // proxy_cache_background_update: the client got the stale entry; this exchange only
    // refreshes the cache, and ends the request once done.
    bool background_ = false;
    // Another protocol than HTTP: its codec, the undecoded bytes, and whether its end came.
    std::unique_ptr<Codec> codec_;
    ev::Buffer raw_;
    bool codec_end_ = false;
    bool length_warned_ = false;  // more STDOUT than the head's Content-Length (logged once)
    /// A codec's response with a Content-Length: `data` cut to what is still due (the excess
    /// logged, as nginx); its length counted off body_left_.
    std::string_view codec_due(std::string_view data);
    /// The records ended before the Content-Length was reached: logged, the client's
    /// connection closed (nginx's premature close). True when so.
    bool codec_short();
};

}  // namespace mod::proxy::detail
