#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "event/buffer.h"
#include "event/connection.h"
#include "event/listener.h"
#include "event/runtime.h"
#include "http/http.h"
#include "http/parse.h"
#include "http/proxy_protocol.h"

namespace http {

/// The TLS side of an `ssl` port, made by the ssl module (HttpMainConf::make_port_tls) once
/// the port's servers are known. Shared by every worker (built in the master).
class PortTls {
  public:
    virtual ~PortTls() = default;
    /// A server-side transport for a connection just accepted on the port; nullptr when it
    /// cannot be made (logged): the connection is then closed.
    virtual std::unique_ptr<ev::Transport> accept(int fd, uint64_t connection_id) const = 0;
};

/// The servers behind one listening socket; accepts connections for them.
class Port : public ev::ListenHandler {
  public:
    Port(const HttpMainConf& main, core::Listening* listening)
        : main_(main), listening_(listening) {}

    /// `ssl`: that listen directive said `ssl` (one is enough to make the port TLS, as nginx).
    core::Status add_server(const ServerBlock* srv, bool is_default, bool ssl,
                            const std::string& where);
    void on_accept(int fd, const core::SockAddr& peer) override;
    /// tcp_nodelay is on by default: accepted sockets get it from the listening socket.
    bool wants_nodelay() const override { return true; }

    /// A `listen ... ssl` port (TLS expected, even if the ssl module is missing).
    bool ssl() const { return !ssl_where_.empty(); }
    /// file:line of the first `listen ... ssl` of this port.
    const std::string& ssl_where() const { return ssl_where_; }
    /// file:line of the listen directive of the default server.
    const std::string& default_where() const { return default_where_; }
    const PortTls* tls() const { return tls_.get(); }
    void set_tls(std::unique_ptr<PortTls> tls) { tls_ = std::move(tls); }
    const std::vector<const ServerBlock*>& servers() const { return servers_; }

    core::Listening* listening() const { return listening_; }
    const HttpMainConf& main() const { return main_; }
    /// The server for a Host value (exact name match, then the default server).
    /// With `r`, a server_name regex that matches sets its captures ($1.., named) for `r`.
    const ServerBlock* find_server(std::string_view host, Request* r = nullptr) const;
    const ServerBlock& default_server() const { return *default_; }

    /// A port for one address served by the wildcard socket of its port (a `listen` without
    /// `bind` beside a wildcard one): its connections are told apart by their local address.
    const core::SockAddr* hosted_addr() const { return hosted_addr_ ? &*hosted_addr_ : nullptr; }
    void set_hosted_addr(const core::SockAddr& a) { hosted_addr_ = a; }
    /// On the wildcard's port: a port it hands the connections to `p`'s address to.
    void add_hosted(Port* p) { hosted_.push_back(p); }
    /// `listen ... proxy_protocol`: every connection starts with a PROXY protocol header.
    bool proxy_protocol() const { return proxy_protocol_; }
    void set_proxy_protocol() { proxy_protocol_ = true; }
    /// `listen ... http2` on this port (the whole port speaks HTTP/2 when asked, as nginx).
    void set_http2(const std::string& where) {
        if (http2_where_.empty()) {
            http2_where_ = where;
        }
    }
    const std::string& http2_where() const { return http2_where_; }
    /// Whether a client may speak HTTP/2 to `srv` on this port: `listen ... http2`, or
    /// `http2 on` in the server (the default server for h2c, the one TLS SNI names for h2).
    bool http2_for(const ServerBlock& srv) const {
        return main_.http2_enabled != nullptr &&
               (!http2_where_.empty() || main_.http2_enabled(srv));
    }

  private:
    const HttpMainConf& main_;
    core::Listening* listening_;
    std::optional<core::SockAddr> hosted_addr_;
    std::vector<Port*> hosted_;
    bool proxy_protocol_ = false;
    std::string http2_where_;
    std::vector<const ServerBlock*> servers_;
    const ServerBlock* default_ = nullptr;
    bool explicit_default_ = false;
    std::string ssl_where_;
    std::string default_where_;
    std::unique_ptr<PortTls> tls_;
    // Whether new connections are read at once (port.cc): the recent share of those reads that
    // found the request already there, in 1/256.
    int first_read_hits_ = 256;
    unsigned accepts_ = 0;
};

/// What an HTTP/1 session hands over to the http_v2 module when the client's first bytes are
/// HTTP/2's connection preface (HttpMainConf::start_http2).
struct Http2Start {
    const Port* port = nullptr;
    int fd = -1;
    core::SockAddr peer;
    uint64_t id = 0;  // the connection's number stays
    std::unique_ptr<ev::Transport> transport;
    std::unique_ptr<ProxyHeader> proxy;
    std::string preread;  // what was read: the preface and what followed it
    std::chrono::steady_clock::time_point accepted;
};

/// What a request runs on, as the modules see it through Request: an HTTP/1 connection
/// (Http1Session) or an HTTP/2 stream (the http_v2 module). It runs the phase engine; the
/// subclass moves the bytes. One request at a time.
class Session {
  public:
    explicit Session(const Port& port) : port_(port) {}
    virtual ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    /// Queues response bytes for the current request.
    virtual void write(std::string_view data, bool more = false) = 0;
    /// A response head and the body bytes at hand, in one system call when the socket takes them.
    virtual void write(std::string_view head, std::string_view body) = 0;
    /// Queues a file range (the session owns and closes `fd`).
    virtual void write_file(int fd, uint64_t offset, uint64_t len, bool use_sendfile) = 0;
    /// After "101 Switching Protocols": raw bytes both ways (HTTP/1 only).
    virtual void start_tunnel(void (*on_data)(Request&, std::string_view)) = 0;
    /// Body bytes of a streamed response were queued: a slow client gets send_timeout.
    virtual void body_written() = 0;
    virtual bool output_pending() const = 0;
    virtual size_t output_buffered() const = 0;
    /// Zero-copy body forwarding (Request::splice_body); false where it cannot be.
    virtual bool prepare_splice() = 0;
    virtual ev::IoStatus splice_from(ev::Connection& from, size_t max, size_t& n) = 0;
    /// More than a few buffers are waiting for the client (or it is gone).
    virtual bool output_blocked() const = 0;
    /// The current request has its whole response queued.
    virtual void response_done() = 0;
    /// Drops the request without a response (444): HTTP/1 closes the connection, HTTP/2
    /// resets the stream.
    virtual void abort() = 0;
    /// The client went away while the request ran (Request::client_gone).
    virtual void client_gone() = 0;
    /// Called by Request before a response head is written.
    virtual void before_head(Request& r) = 0;
    /// The protocol's part of the response head (after the header filters): HTTP/1 appends
    /// the head's text to `head` (sent with the first body bytes), HTTP/2 submits it.
    virtual void make_head(Request& r, bool no_body, std::string& head) = 0;
    /// See Request::read_body(), stream_body(), pause_input(), resume_input().
    virtual Flow read_body(BodyHandler done) = 0;
    virtual void stream_body(BodyDataHandler on_data) = 0;
    virtual void pause_input() = 0;
    virtual void resume_input() = 0;
    /// The PROXY protocol header the connection began with, or nullptr.
    virtual const ProxyHeader* proxy_header() const = 0;
    /// The connection's security layer (TLS), or nullptr for a plain connection.
    virtual const ev::Transport* transport() const = 0;
    /// The local address of the connection ($server_addr), looked up once.
    virtual const core::SockAddr& local_addr() = 0;
    /// Requests on this connection so far ($connection_requests).
    virtual int requests() const = 0;
    /// When the connection was accepted ($connection_time).
    virtual std::chrono::steady_clock::time_point accepted() const = 0;
    /// The connection's socket ($tcpinfo_*).
    virtual int fd() const = 0;

    /// Runs the phases again from server_rewrite (internal redirect).
    void restart_at_find_config() { run_from(Phase::kServerRewrite); }
    /// Runs the phases again from the first handler of `phase` (or the next phase with one).
    void run_from(Phase phase);
    /// Runs (or resumes) the phase engine on the current request.
    void run_phases();
    const Port& port() const { return port_; }
    /// Whether the connection is TLS ($https, $scheme).
    bool secure() const { return transport() != nullptr; }
    /// The scheme clients use on this connection.
    std::string_view scheme() const { return secure() ? "https" : "http"; }

  protected:
    /// The find_config phase: picks the location; false when the request got answered.
    bool find_config();
    /// What the connection makes of the location found (keepalive, TCP options).
    virtual void location_found(Request& r, const HttpLocConf& lc) {}
    /// Answers the current request with an error and ends what is left of its input.
    virtual void fail_request(int status) = 0;
    /// Runs the log phase once for the current request.
    void log_request();
    /// Request bodies read whole (read_body): `data` goes to memory up to
    /// client_body_buffer_size, then to a temporary file. False on error (logged).
    bool store_body(RequestBody& b, std::string_view data);
    /// Moves the body into its temporary file (created here), from store_body() or, for an
    /// empty body with client_body_in_file_only, when the body ends. False on error (logged).
    bool open_body_file(RequestBody& b);
    /// The end of a body read by read_body(): client_body_in_file_only gives even an empty
    /// one (Content-Length: 0, or an empty chunked body) its file. False on error.
    bool finish_body(RequestBody& b);

    const HttpLocConf& loc() const { return req_->loc_conf<HttpLocConf>(); }

    const Port& port_;
    std::unique_ptr<Request> req_;
};

/// HTTP/1.1's response head for `r` (status line, Server, Date, the headers, Connection), its
/// framing decided: a body of unknown length is chunked (HTTP/1.1) or ends with the connection.
void format_http1_head(Request& r, bool no_body, std::string& head);

/// One client connection: reads requests, runs them through the phase engine, reads or
/// discards their bodies, writes the responses, keeps the connection alive between requests
/// and closes it lingering when the client may still be sending.
/// Owns itself: created on accept, destroyed (posted) when closed.
class Http1Session final : public Session, public ev::ConnectionHandler, public ev::Idle {
  public:
    /// `nodelay`: the socket has TCP_NODELAY already (from the listening socket).
    Http1Session(const Port& port, int fd, const core::SockAddr& peer, bool nodelay);
    ~Http1Session() override;
    /// Called once, right after the constructor (Port::on_accept): with `read_now`, reads
    /// what has arrived; registers the connection with the loop if it has to wait. False when
    /// the read found nothing yet.
    bool begin(bool read_now);

    void on_readable() override { process_input(); }
    void on_drained() override;
    void on_timeout() override;
    void on_error() override { close(); }
    void close_idle(bool reclaimed) override;

    // Session (see there).
    void write(std::string_view data, bool more = false) override { conn_.send(data, more); }
    void write(std::string_view head, std::string_view body) override { conn_.send(head, body); }
    /// With sendfile, tcp_nopush corks the socket until the response is done and
    /// sendfile_max_chunk bounds each call (session_conn.cc).
    void write_file(int fd, uint64_t offset, uint64_t len, bool use_sendfile) override;
    /// `on_data` gets what the client sends (first what followed the request head); the
    /// client's close ends the session.
    void start_tunnel(void (*on_data)(Request&, std::string_view)) override;
    void body_written() override;
    bool output_pending() const override { return conn_.output_pending(); }
    size_t output_buffered() const override { return conn_.output_buffered(); }
    bool prepare_splice() override { return conn_.prepare_splice(); }
    ev::IoStatus splice_from(ev::Connection& from, size_t max, size_t& n) override {
        return conn_.splice_from(from, max, n);
    }
    bool output_blocked() const override;
    void response_done() override;
    /// Drops the connection (the request gets no response).
    void abort() override;
    /// The connection is closed, the request logged as it stands.
    void client_gone() override { close(); }
    void before_head(Request& r) override;
    void make_head(Request& r, bool no_body, std::string& head) override {
        format_http1_head(r, no_body, head);
    }
    Flow read_body(BodyHandler done) override;
    void stream_body(BodyDataHandler on_data) override;
    void pause_input() override;
    void resume_input() override;
    const ProxyHeader* proxy_header() const override { return proxy_.get(); }
    const ev::Transport* transport() const override { return conn_.transport(); }
    const core::SockAddr& local_addr() override;
    int requests() const override { return requests_; }
    std::chrono::steady_clock::time_point accepted() const override { return accepted_; }
    int fd() const override { return conn_.fd(); }

  private:
    enum class State : uint8_t {
        kReadingHead,
        kRunning,
        kReadingBody,
        kWriting,
        kDiscardingBody,
        kKeepalive,
        kLingering,
        kTunnel,
        kClosed,
    };
    enum class BodyStep { kNeedMore, kDone, kBad, kTooLarge, kFailed, kGone };
    /// What take_body() does with the body bytes: keep them (read_body), hand them to the
    /// stream handler (stream_body), or drop them (after the response).
    enum class BodyMode { kStore, kStream, kDiscard };

    void process_input();
    /// One step of the state machine; false when it has to wait for input.
    bool step();
    // The steps of step(), one per state that reads.
    bool step_keepalive();
    bool step_head();
    bool step_body();
    bool step_lingering();
    bool step_tunnel();
    /// Whether the client may start HTTP/2 here (prior knowledge in clear, ALPN on TLS).
    bool http2_allowed() const;
    /// Hands the connection over to the http_v2 module (it sent the HTTP/2 preface).
    void start_http2();
    /// Reads the PROXY protocol header first (session_conn.cc); false when it has to wait.
    bool step_proxy_header();
    /// The same on an `ssl` port, where the TLS handshake follows the header.
    bool step_proxy_header_tls();
    /// Logs nginx's "broken header" line for what arrived and closes the connection.
    void broken_proxy_header(std::string_view seen);
    /// Puts the port's TLS layer on the connection; false (connection closed) when it fails.
    bool start_tls();
    /// Answers a head the parser refused (from the server its Host names, if read).
    void reject_head();
    /// Logs (access and error log) and drops a head cut short by a timeout or the client.
    void drop_head(int status, std::string_view reason);
    /// Makes req_ a request for the head read so far, for the logs and an error response;
    /// logs `reason` with nginx's context (client, server, request line as far as read).
    void head_request(std::string_view reason);
    /// Acts on what take_body() found; false when it has to read more (kNeedMore, kGone).
    bool body_outcome(BodyStep outcome, bool keep);
    void start_request();
    void finish_request();
    void close();
    void lingering_close();
    // Connection rules of the location (session_conn.cc): keepalive_time, keepalive_disable and
    // tcp_nodelay once the location is known; the cork lifted when the response is done; a
    // reset instead of a FIN for a timed out or 444 connection (reset_timedout_connection).
    void connection_rules(Request& r, const HttpLocConf& lc);
    void uncork();
    void reset_on_close(const HttpLocConf& lc);
    bool read_more(size_t max_total);
    /// Moves the request head out of the input buffer so that the buffer can take the body.
    void detach_head();
    /// kGone: the stream handler finished the request (the state moved on).
    BodyStep take_body(BodyMode mode);
    /// One step of a streamed body while the request runs; false when it has to wait.
    bool stream_step();
    /// Runs process_input() from the event loop (once however often asked).
    void post_input();
    void fail_request(int status) override;
    void location_found(Request& r, const HttpLocConf& lc) override;
    /// Logs about this connection with nginx's context: the current request's (its level's
    /// error log, see http::log_error), else `, client: a, server: listen address` to the
    /// default server's error log.
    void log(core::LogLevel level, const char* fmt, ...) __attribute__((format(printf, 3, 4)));

    /// What only a connection with a request in progress needs: made with the first byte of
    /// a request, dropped when the connection goes idle (keepalive), so that the many idle
    /// connections of a busy server cost little.
    struct Work {
        Work(size_t header_buffer, size_t max_head) : parser(header_buffer, max_head) {}
        HeadParser parser;
        size_t head_len = 0;  // bytes of in_ holding the current request's head
        // The current request's body.
        ChunkedDecoder chunked;
        uint64_t body_left = 0;  // Content-Length still to come
        uint64_t body_seen = 0;  // body bytes taken so far
        bool body_done = true;
        bool body_chunked = false;
        bool continue_sent = false;
        bool input_paused = false;  // pause_input(): the consumer is full
        BodyHandler body_handler = nullptr;
        BodyDataHandler stream = nullptr;  // the body is streamed to it (until its last piece)
        std::unique_ptr<RequestBody> body;
        ev::TimePoint linger_deadline;
        ev::Duration linger_timeout{0};
        ev::Duration discard_timeout{0};
        core::SockAddr local{};
        void (*tunnel)(Request&, std::string_view) = nullptr;
    };
    Work& work() { return work_ ? *work_ : make_work(); }
    Work& make_work();
    bool streaming() const { return work_ != nullptr && work_->stream != nullptr; }
    bool input_paused() const { return work_ != nullptr && work_->input_paused; }
    /// large_client_header_buffers of the default server: the most a request head may take.
    size_t max_head() const;

    ev::Connection conn_;
    ev::Buffer in_;
    std::unique_ptr<Work> work_;
    int requests_ = 0;
    ev::TimePoint started_;  // keepalive_time counts from here
    std::chrono::steady_clock::time_point accepted_ = core::steady_now();
    bool next_pipelined_ = false;  // the next head was in the buffer when a request ended
    State state_ = State::kReadingHead;
    bool corked_ = false;         // TCP_CORK set (tcp_nopush)
    bool nodelay_ = false;        // TCP_NODELAY set (tcp_nodelay)
    bool nodelay_asked_ = false;  // a location said tcp_nodelay on (else it came with accept)
    bool proxy_wanted_ = false;   // the PROXY protocol header is still to come
    std::unique_ptr<ProxyHeader> proxy_;
    bool close_after_ = false;
    bool in_process_ = false;    // process_input() is on the stack
    bool input_posted_ = false;  // a process_input() is posted
};

}  // namespace http
