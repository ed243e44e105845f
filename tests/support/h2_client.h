#pragma once

// A small blocking HTTP/2 test client over one loopback TCP connection (h2c with prior
// knowledge, or TLS with ALPN "h2"). Frames are built and parsed here (RFC 9113 §4.1: the
// 9-byte header), so a test can send anything, malformed frames included; header blocks are
// HPACK-coded with libnghttp2's deflater and inflater (RFC 7541), and raw HPACK bytes can be
// sent too (hpack_* helpers) to break the compression rules on purpose.
//
// Every frame read goes through one place (read_frame) that keeps the connection's state: the
// server's SETTINGS are recorded and acknowledged, PINGs answered, header blocks decoded in
// order (one inflater per connection, as HPACK requires), DATA appended to its stream and,
// unless set_auto_window(false), the flow-control windows reopened; RST_STREAM and GOAWAY are
// recorded. The helpers (request, wait_goaway, wait_rst, connection_closed) read frames until
// what they wait for shows up, or the deadline.
//
// Linked into every test binary: plain POSIX, GoogleTest-free, libnghttp2 (HPACK only) and,
// when halo is built with OpenSSL, OpenSSL for connect_tls().
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "support/h2_frames.h"

namespace halo_test::h2 {

struct GoawayInfo {
    uint32_t last_stream = 0;
    uint32_t error = 0;
    std::string debug;
};

/// What a stream received.
struct StreamState {
    std::vector<HeaderList> header_blocks;  // each decoded block (informational, final, trailers)
    std::string body;
    bool ended = false;           // END_STREAM seen
    std::optional<uint32_t> rst;  // RST_STREAM error code
    size_t data_frames = 0;
    size_t max_data_frame = 0;  // the largest DATA payload
    uint32_t recv_unacked = 0;  // DATA bytes not yet given back with WINDOW_UPDATE
};

struct Response {
    std::string error;  // why there is no complete response (empty when there is one)
    uint32_t stream = 0;
    int status = 0;
    HeaderList headers;  // the final header block, pseudo-headers included
    std::string body;
    HeaderList trailers;
    std::optional<uint32_t> rst;  // the stream was reset (its error code)

    /// The first value of `name` (lower case), empty when absent.
    std::string header(std::string_view name) const;
    bool has(std::string_view name) const;
};

class Client {
  public:
    Client();
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    /// Connects to 127.0.0.1:port (TCP_NODELAY); false (see error()) on failure.
    bool connect(uint16_t port, Millis timeout = 5s);
    /// Connects, then a TLS handshake offering ALPN `alpn` (only "h2" by default); false when
    /// the handshake fails or the server picks another protocol. Needs OpenSSL in the build.
    bool connect_tls(uint16_t port, const std::vector<std::string>& alpn = {"h2"},
                     Millis timeout = 5s);
    /// The protocol ALPN chose ("" when none).
    const std::string& alpn() const { return alpn_; }

    /// The client preface: the magic, then SETTINGS with `settings`.
    bool send_preface(const Settings& settings = {});
    /// send_preface(), then reads until the server's SETTINGS arrived (acknowledged) and the
    /// server acknowledged ours. False on timeout, GOAWAY or close.
    bool handshake(const Settings& settings = {}, Millis timeout = 5s);

    // ---- sending ----
    bool send_raw(std::string_view bytes);
    bool send_frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload);
    bool send_settings(const Settings& settings);
    bool send_settings_ack();
    bool send_ping(std::string_view opaque8, bool ack = false);
    bool send_window_update(uint32_t stream, uint32_t increment);
    bool send_rst(uint32_t stream, uint32_t error);
    bool send_goaway(uint32_t last_stream, uint32_t error, std::string_view debug = {});
    bool send_priority(uint32_t stream, uint32_t depends_on, uint8_t weight,
                       bool exclusive = false);
    /// DATA frames within the server's max frame size and flow-control windows (waiting,
    /// frames read meanwhile, up to `timeout` for WINDOW_UPDATE when a window is closed).
    bool send_data(uint32_t stream, std::string_view data, bool end_stream, Millis timeout = 5s);
    /// HPACK-encodes `headers` with the connection's deflater (names and values as given:
    /// upper case and connection headers too).
    std::string encode(const HeaderList& headers);
    /// One header block (already encoded) as HEADERS, split into CONTINUATION frames of at
    /// most `fragment` bytes when `fragment` > 0. END_HEADERS on the last frame.
    bool send_header_block(uint32_t stream, std::string_view block, bool end_stream,
                           size_t fragment = 0);
    bool send_headers(uint32_t stream, const HeaderList& headers, bool end_stream,
                      size_t fragment = 0) {
        return send_header_block(stream, encode(headers), end_stream, fragment);
    }

    /// The next client stream id (1, 3, 5...), taken.
    uint32_t next_stream();
    /// GET-style request headers: :method, :scheme http, :authority localhost, :path, then
    /// `extra`.
    static HeaderList request_headers(std::string_view path, std::string_view method = "GET",
                                      const HeaderList& extra = {});

    // ---- receiving ----
    /// Reads one frame (processing it as described at the top); std::nullopt on timeout or
    /// when the connection closed (see closed()).
    std::optional<Frame> read_frame(Millis timeout = 5s);
    /// Reads frames until one of `type` (and, when given, on `stream`) arrives.
    std::optional<Frame> wait_frame(uint8_t type, Millis timeout = 5s,
                                    std::optional<uint32_t> stream = std::nullopt);

    /// A request on a new stream: headers (END_STREAM when `body` is empty), the body in DATA
    /// frames of at most the server's max frame size, then frames until the stream ends or
    /// is reset, or the connection goes away.
    Response request(const HeaderList& headers, std::string_view body = {}, Millis timeout = 5s);
    /// Reads until stream `id` ended or was reset (or the connection ended).
    Response read_response(uint32_t id, Millis timeout = 5s);
    /// Reads until a GOAWAY arrives (or one already did); std::nullopt on timeout or when the
    /// connection closed without one.
    std::optional<GoawayInfo> wait_goaway(Millis timeout = 5s);
    /// Reads until stream `id` is reset; its error code, std::nullopt otherwise.
    std::optional<uint32_t> wait_rst(uint32_t id, Millis timeout = 5s);
    /// Reads (and processes) frames until the server closes the connection: true when it did
    /// before the deadline.
    bool connection_closed(Millis timeout = 5s);

    /// The GOAWAY received, if any.
    const std::optional<GoawayInfo>& goaway() const { return goaway_; }
    bool closed() const { return closed_; }
    /// Why the last call failed (client side: connect, HPACK decoding, I/O).
    const std::string& error() const { return error_; }
    /// A SETTINGS value the server sent, if it sent it.
    std::optional<uint32_t> server_setting(uint16_t id) const;
    bool server_settings_seen() const { return server_settings_seen_; }
    /// SETTINGS with ACK received (answers to ours).
    int settings_acks() const { return settings_acks_; }
    /// The state of stream `id` (empty when nothing arrived on it).
    const StreamState& stream(uint32_t id) { return streams_[id]; }
    /// When on (the default), DATA is given back at once with WINDOW_UPDATE on the stream
    /// and the connection; when off, the client's windows close as DATA arrives.
    void set_auto_window(bool on) { auto_window_ = on; }
    /// When on (the default), the server's SETTINGS and PINGs are acknowledged.
    void set_auto_ack(bool on) { auto_ack_ = on; }
    /// When on (the default), a write the server does not take (its receive buffer full) lets
    /// the client read meanwhile (kept, not processed, until the next read_frame), so neither
    /// side blocks. Off for floods that must not read: the write then waits up to 5 s.
    void set_read_while_sending(bool on) { read_while_sending_ = on; }
    /// Every frame read so far (types only), for messages.
    const std::string& trace() const { return trace_; }
    /// DATA bytes not yet given back on the connection (auto_window off).
    uint32_t conn_recv_unacked() const { return conn_unacked_; }
    void close();
    int fd() const { return fd_; }

  private:
    struct Tls;
    int fill(std::chrono::steady_clock::time_point deadline);
    long io_read(char* buf, size_t n);
    long io_write(const char* buf, size_t n);
    void process(const Frame& f);
    void decode_block(uint32_t stream, const std::string& block);

    int fd_ = -1;
    std::unique_ptr<Tls> tls_;
    std::string alpn_;
    std::string in_;
    std::string error_;
    std::string trace_;
    bool closed_ = false;
    bool auto_window_ = true;
    bool auto_ack_ = true;
    bool read_while_sending_ = true;
    bool server_settings_seen_ = false;
    int settings_acks_ = 0;
    uint32_t next_stream_ = 1;
    uint32_t server_max_frame_ = kDefaultMaxFrame;
    uint32_t conn_unacked_ = 0;
    // our send windows (RFC 9113 §6.9): the connection's, and per stream what WINDOW_UPDATE
    // added minus what we sent, on top of the server's SETTINGS_INITIAL_WINDOW_SIZE
    int64_t conn_send_window_ = kInitialWindow;
    int64_t server_initial_window_ = kInitialWindow;
    std::map<uint32_t, int64_t> send_delta_;
    std::map<uint16_t, uint32_t> server_settings_;
    std::map<uint32_t, StreamState> streams_;
    std::optional<GoawayInfo> goaway_;
    // a header block being assembled from HEADERS + CONTINUATION
    uint32_t block_stream_ = 0;
    std::string block_;
    bool block_end_stream_ = false;
    void* deflater_ = nullptr;  // nghttp2_hd_deflater*
    void* inflater_ = nullptr;  // nghttp2_hd_inflater*
};

}  // namespace halo_test::h2
