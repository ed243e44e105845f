#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <list>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/net.h"
#include "event/buffer.h"
#include "event/loop.h"
#include "event/transport.h"

namespace ev {

/// Callbacks of a Connection's owner (the protocol session).
class ConnectionHandler {
  public:
    virtual ~ConnectionHandler() = default;
    /// New bytes may be readable (edge-triggered: read until kAgain).
    virtual void on_readable() = 0;
    /// All queued output has been written.
    virtual void on_drained() = 0;
    /// The timeout set with set_timeout() expired.
    virtual void on_timeout() = 0;
    /// A write failed (peer gone); the owner should close.
    virtual void on_error() = 0;
    /// An outgoing connection (Connection::connect) is established (`err` 0) or failed.
    virtual void on_connect(int err) {}
};

enum class IoStatus { kOk, kAgain, kEof, kError };

/// A non-blocking TCP connection with an output queue and one timeout. Registered once with
/// the loop (edge-triggered read+write) for its whole life. Closes the socket when destroyed.
/// Never destroy one from inside its own callbacks: hand it to Loop::post.
class Connection {
  public:
    Connection(Loop& loop, int fd, const core::SockAddr& peer, uint64_t id);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    void set_handler(ConnectionHandler* h) { handler_ = h; }
    /// Puts a security layer (TLS) between this connection and its socket; call before the
    /// first read() that is to go through it (before start(), or once a PROXY header is read). The
    /// handshake runs inside the first read()s: they say kAgain until it is done, kEof/kError when
    /// it fails. Output queued meanwhile waits for it.
    void set_transport(std::unique_ptr<Transport> t) { transport_ = std::move(t); }
    /// A transport whose handshake another Connection on the same socket completed.
    void adopt_transport(std::unique_ptr<Transport> t) {
        transport_ = std::move(t);
        handshake_done_ = transport_ != nullptr;
    }
    /// Hands the socket (and its transport) over to a new owner: events and the timeout stop,
    /// queued output is dropped, and the destructor closes nothing. Returns the fd.
    int release(std::unique_ptr<Transport>& transport);
    /// The security layer, or nullptr (plain, or a plain client on a TLS port).
    const Transport* transport() const { return transport_.get(); }
    /// True once the transport's handshake has completed (a client waits for it to check the
    /// peer before it sends anything).
    bool handshake_done() const { return transport_ != nullptr && handshake_done_; }
    /// Starts delivering events (call once the handler is set). `nodelay`: TCP_NODELAY now
    /// (outgoing connections); a server session decides later (tcp_nodelay).
    void start(bool nodelay = true);
    /// Sets or clears a TCP option of the socket (TCP_NODELAY, TCP_CORK); false on error.
    bool set_tcp_option(int option, bool on);
    /// The most one sendfile() call sends (nginx's sendfile_max_chunk; 0: no limit). After a
    /// full chunk the rest waits for the next turn of the loop, so that one fast client
    /// cannot keep the worker from the others.
    void set_sendfile_max_chunk(uint64_t bytes);
    /// A non-blocking TCP socket connecting to `addr`: the fd, or -1 with `err` set (then no
    /// connection was made). Use it for a Connection, then start_connect().
    static int open_connecting(const core::SockAddr& addr, int& err);
    /// What open_connecting() may do to the socket before connecting.
    struct ConnectOptions {
        const core::SockAddr* local = nullptr;  // bind() to it first (proxy_bind)
        bool keepalive = false;                 // SO_KEEPALIVE (proxy_socket_keepalive)
    };
    /// open_connecting() with `opt`: a failed bind() gives -1 with `err` and `bind_failed`.
    static int open_connecting(const core::SockAddr& addr, int& err, const ConnectOptions& opt,
                               bool& bind_failed);
    /// Like start(), for a socket from open_connecting(): on_connect() tells the outcome. Call
    /// it before queueing output: what is sent meanwhile waits for the connection.
    /// `nodelay` false: no TCP_NODELAY (a unix socket has no such option).
    void start_connect(bool nodelay = true);
    /// Hands the connection to a new owner (a keepalive pool, or back to a request).
    ConnectionHandler* handler() const { return handler_; }

    uint64_t id() const { return id_; }
    int fd() const { return fd_; }
    /// The peer's address (kept compact: 32 bytes for IPv4/IPv6 in every connection).
    core::SockAddr peer() const;
    Loop& loop() { return loop_; }

    /// Reads once into `buf` (at most `max` bytes).
    IoStatus read(Buffer& buf, size_t max);
    /// Reads once into `out` (`n` set on kOk): a caller's scratch space, for bytes that are
    /// passed on at once and need no buffer of their own (a proxied body). Plain connections
    /// only (kError through a transport: use read()).
    IoStatus read_into(std::span<char> out, size_t& n);
    /// Copies what has arrived (at most buf.size() bytes) without taking it from the socket
    /// (MSG_PEEK; `n` set on kOk), past any transport: a PROXY protocol header is looked at
    /// before the TLS layer is put on, then read() exactly.
    IoStatus peek(std::span<char> buf, size_t& n);

    /// Queues `data` and writes as much as the socket takes now; the rest goes out when the
    /// socket is writable, then on_drained() is called.
    /// `more`: further bytes follow at once (a file body): the kernel may hold this back to
    /// fill a segment (MSG_MORE), saving a packet per small response.
    void send(std::string_view data, bool more = false);
    /// send(a) then send(b), in one system call when both go out at once (writev): a response
    /// head and the body bytes at hand.
    void send(std::string_view a, std::string_view b);
    /// Queues `len` bytes of the open file `fd` from `offset`, after what is queued already.
    /// The connection closes `fd` when done (or destroyed). With `use_sendfile` the kernel
    /// copies the bytes (sendfile(2)); otherwise (and always through a transport) they are
    /// read in 64 KiB pieces.
    void send_file(int fd, uint64_t offset, uint64_t len, bool use_sendfile);
    /// Zero-copy forwarding (splice(2)) from the plain socket of `from` to this plain
    /// connection's socket, through a pipe of this connection: at most `max` bytes are taken
    /// from `from`, queued after what is queued already, and sent as far as the socket takes
    /// them now (the rest when it is writable; on_drained() follows). `n`: the bytes taken
    /// (kOk; 0 while earlier ones still wait: the peer is behind). kAgain: `from` has nothing
    /// now. kEof, kError (no pipe could be made, or a transport on either side).
    IoStatus splice_from(Connection& from, size_t max, size_t& n);
    /// Makes the pipe splice_from() uses (kept until the connection goes idle); false when
    /// there can be none (a transport, or pipe2() failed: then copy the bytes instead).
    bool prepare_splice();
    bool output_pending() const { return !out_.empty() || files_busy(); }
    /// Bytes queued in memory (not counting files): producers pause above a limit.
    size_t output_buffered() const { return out_.size() + (files_ ? files_->after_bytes : 0); }
    /// A write failed: the peer is gone; the owner should close.
    bool failed() const { return write_failed_; }
    /// The peer closed its sending side (EPOLLRDHUP seen; when Loop::reports_peer_close()).
    bool peer_closed() const { return peer_closed_; }

    /// Calls on_timeout() after `d` unless reset or cleared first.
    void set_timeout(Duration d);
    void clear_timeout();

    /// Half-closes the sending side (lingering close); through a transport, its closing alert
    /// goes first.
    void shutdown_write();
    /// Frees the buffers of an idle connection.
    void release_buffers() {
        out_.release_if_empty();
        if (files_ != nullptr && !files_busy()) {
            files_.reset();
        }
    }

  private:
    static void io_ready(void* self, uint32_t ready) {
        static_cast<Connection*>(self)->on_io(ready);
    }
    static void timed_out(void* self) { static_cast<Connection*>(self)->handler_->on_timeout(); }
    static void resume_write(void* self) { static_cast<Connection*>(self)->on_io(kWrite); }
    void on_io(uint32_t ready);
    bool flush();
    /// Starts the next queued item after the current file.
    void next_queued();
    /// Sends (sendfile) or reads into out_ (at most `piece` bytes) the next part of the file.
    bool flush_file(uint64_t piece = 64 * 1024);
    /// Sends what the pipe holds; false while the socket is full (or it failed).
    bool flush_pipe();
    // The transport's side of read() and flush() (kept out of the plain path).
    IoStatus read_secure(Buffer& buf, size_t max);
    bool flush_secure();

    Loop& loop_;
    int fd_;
    // The peer: an IPv4/IPv6 address here, any other (a unix socket's) on the heap.
    union {
        sockaddr_in in4;
        sockaddr_in6 in6;
    } peer_{};
    uint8_t peer_len_ = 0;
    bool write_failed_ = false;
    bool connecting_ = false;
    // Edge-triggered reads: false once a read returned less than asked (the socket is empty
    // until the next readiness event), which saves the recv() that would say EAGAIN. Only
    // while the peer is known not to have closed: a FIN that came with the last bytes brings
    // no edge of its own, so then reads go on until recv() says EOF (nginx: pending_eof).
    bool readable_ = true;
    bool peer_closed_ = false;
    bool handshake_done_ = false;
    std::unique_ptr<core::SockAddr> other_peer_;
    uint64_t id_;
    ConnectionHandler* handler_ = nullptr;
    FdWatch io_;
    Deadline timeout_{&Connection::timed_out, this};
    Buffer out_;
    // What was queued after a file, in order (rare: chunked framing of a file).
    struct Queued {
        std::string data;  // memory, or a file when fd >= 0
        int fd = -1;
        uint64_t offset = 0;
        uint64_t len = 0;
        bool use_sendfile = true;
    };
    // The file being sent after out_ (one at a time) and what waits behind it: made with the
    // first file, dropped when the connection goes idle.
    // The pipe of splice_from() lives here too (sent before a file, after out_).
    struct Files {
        explicit Files(Connection* c) : yield(&Connection::resume_write, c) {}
        Files(const Files&) = delete;
        Files& operator=(const Files&) = delete;
        ~Files();
        int fd = -1;
        uint64_t off = 0;
        uint64_t left = 0;
        bool sendfile = true;
        std::list<Queued> after;
        size_t after_bytes = 0;
        int pipe_rd = -1;
        int pipe_wr = -1;
        size_t piped = 0;        // bytes in the pipe
        Deadline yield;          // sendfile_max_chunk reached: the rest on the next turn
        uint64_t max_chunk = 0;  // sendfile_max_chunk
    };
    bool files_busy() const {
        return files_ != nullptr &&
               (files_->left > 0 || !files_->after.empty() || files_->piped > 0);
    }
    std::unique_ptr<Files> files_;
    std::unique_ptr<Transport> transport_;
};

}  // namespace ev
