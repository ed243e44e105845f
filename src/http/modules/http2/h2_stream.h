#pragma once
// One HTTP/2 stream carrying one request: the http::Session the modules write to. Its head
// arrives as header fields (HPACK-decoded by nghttp2), is written out as an HTTP/1.1 head in
// the stream's own buffer and read by the same parser as an HTTP/1 request, so every rule
// (URI normalization, header checks, limits) is the same; the response goes out as HEADERS
// and DATA frames, paced by the client's flow-control window.
#include <nghttp2/nghttp2.h>

#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "http/http.h"
#include "http/session.h"

namespace mod::http_v2 {

class H2Connection;

class H2Stream final : public http::Session {
  public:
    H2Stream(H2Connection& c, int32_t id);
    ~H2Stream() override;

    int32_t id() const { return id_; }
    // From the connection (nghttp2's callbacks).
    /// One header field; false (logged) when a field or the whole list is over
    /// large_client_header_buffers: the connection ends.
    bool add_field(std::string_view name, std::string_view value);
    /// The head is complete (`end`: and the request has no body): ready to run.
    void head_done(bool end);
    /// Runs the request (from H2Connection::run_ready()).
    void run();
    void on_data(std::string_view data);
    void on_body_end();
    /// The last DATA (or HEADERS) frame with END_STREAM was handed to the socket's queue.
    void response_sent();
    /// nghttp2 closed the stream (`error`: the reset's code, 0 when it ended normally), or the
    /// connection is going away. The request, if still running, is ended as nginx ends one
    /// whose client left.
    void closed(uint32_t error);
    bool running() const { return req_ != nullptr; }
    /// nghttp2 asks for DATA: copies what is queued into `buf`.
    ssize_t read_data(uint8_t* buf, size_t length, uint32_t* flags);

    // http::Session.
    void write(std::string_view data, bool more = false) override;
    void write(std::string_view head, std::string_view body) override;
    void write_file(int fd, uint64_t offset, uint64_t len, bool use_sendfile) override;
    void start_tunnel(void (*on_data)(http::Request&, std::string_view)) override;
    void body_written() override {}
    bool output_pending() const override { return out_bytes_ > 0; }
    size_t output_buffered() const override { return mem_bytes_; }
    bool prepare_splice() override { return false; }
    ev::IoStatus splice_from(ev::Connection& from, size_t max, size_t& n) override;
    bool output_blocked() const override;
    void response_done() override;
    void abort() override;
    void client_gone() override;
    void before_head(http::Request& r) override {}
    void make_head(http::Request& r, bool no_body, std::string& head) override;
    http::Flow read_body(http::BodyHandler done) override;
    void stream_body(http::BodyDataHandler on_data) override;
    void pause_input() override;
    void resume_input() override;
    const http::ProxyHeader* proxy_header() const override;
    const ev::Transport* transport() const override;
    const core::SockAddr& local_addr() override;
    int requests() const override;
    std::chrono::steady_clock::time_point accepted() const override;
    int fd() const override;

  protected:
    void fail_request(int status) override;

  private:
    struct Piece {
        std::string data;  // memory, or a file range when fd >= 0
        size_t taken = 0;
        int fd = -1;
        uint64_t offset = 0;
        uint64_t left = 0;
    };
    /// Starts the request from the head (parsed as HTTP/1.1), or answers what it refuses.
    void start_request();
    void finish_request();
    /// The body bytes the request takes now (read_body, stream_body) go to it; the others
    /// wait in preread_ (bounded by the window the client was given).
    void deliver_body();
    void take_body();
    /// Gives the client `n` more bytes of window (they were taken).
    void consume(size_t n);
    void resume_data();
    void post_drained();
    /// The response's trailer fields (add_trailer, an upstream's), as a last HEADERS frame.
    void send_trailers();
    void drained();
    void queue(Piece p);
    /// client_body_timeout between two pieces of a body the request waits for.
    void arm_body_timer();
    static void body_timed_out(void* self);

    H2Connection& c_;
    int32_t id_;
    // The head as HTTP/1.1 text (the request's views point into it) and what it came from.
    std::string head_;
    std::string line_;  // "GET / HTTP/2.0" ($request)
    std::string method_, path_, authority_, cookie_;
    size_t head_bytes_ = 0;
    bool too_large_ = false;
    bool bad_ = false;  // a field the HTTP/1 head cannot carry
    // Request body.
    std::string preread_;
    bool body_end_ = false;
    bool no_body_ = false;  // END_STREAM came with the head
    bool body_mode_store_ = false;
    bool input_paused_ = false;
    http::BodyHandler body_done_ = nullptr;
    http::BodyDataHandler body_data_ = nullptr;
    std::unique_ptr<http::RequestBody> body_;
    uint64_t body_seen_ = 0;
    bool discard_ = false;  // the request no longer takes its body
    // Response.
    std::deque<Piece> out_;
    uint64_t out_bytes_ = 0;  // queued, not yet taken by nghttp2
    size_t mem_bytes_ = 0;    // of which in memory
    bool head_submitted_ = false;
    bool last_ = false;      // response_done(): nothing more comes
    bool deferred_ = false;  // nghttp2 was told to wait for data
    bool sent_all_ = false;  // END_STREAM went out
    bool drain_posted_ = false;
    mutable bool was_blocked_ = false;  // output_blocked() said yes: on_drained is owed
    bool closed_ = false;               // nghttp2 closed the stream
    bool finished_ = false;             // the request was logged
    size_t chunk_size_ = 8192;
    ev::Deadline body_timer_{&H2Stream::body_timed_out, this};
    std::shared_ptr<char> token_ = std::make_shared<char>();  // posted tasks check it
};

}  // namespace mod::http_v2
