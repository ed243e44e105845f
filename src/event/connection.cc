#include "event/connection.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "core/log.h"

namespace ev {
namespace {

/// Sends what socket `fd` takes of `data` now, again after EINTR: the bytes sent (fewer than
/// data.size() when the socket is full), or nullopt when the connection failed.
std::optional<size_t> send_now(int fd, std::string_view data, int flags) {
    size_t sent = 0;
    while (sent < data.size()) {
        ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL | flags);
        if (n > 0) {
            sent += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        }
        return std::nullopt;
    }
    return sent;
}

/// Empty pipes of finished splices, for the next ones (pipe2() and two close() a response
/// less). A pipe holds no memory while empty.
class PipePool {
  public:
    bool take(int& rd, int& wr) {
        if (free_.empty()) {
            int p[2];
            if (::pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) {
                return false;
            }
            rd = p[0];
            wr = p[1];
            return true;
        }
        std::tie(rd, wr) = free_.back();
        free_.pop_back();
        return true;
    }
    void give(int rd, int wr, bool empty) {
        if (empty && free_.size() < kKept) {
            free_.emplace_back(rd, wr);
            return;
        }
        ::close(rd);
        ::close(wr);
    }

  private:
    static constexpr size_t kKept = 64;
    std::vector<std::pair<int, int>> free_;
};

PipePool& pipe_pool() {
    // Per worker (one thread); never destroyed (a connection may outlive static objects at
    // exit), its descriptors close with the process.
    static PipePool* pool = new PipePool;
    return *pool;
}

}  // namespace

Connection::Connection(Loop& loop, int fd, const core::SockAddr& peer, uint64_t id)
    : loop_(loop), fd_(fd), id_(id) {
    if ((peer.family() == AF_INET || peer.family() == AF_INET6) && peer.len <= sizeof(peer_)) {
        memcpy(&peer_, peer.get(), peer.len);
        peer_len_ = static_cast<uint8_t>(peer.len);
    } else {
        other_peer_ = std::make_unique<core::SockAddr>(peer);
    }
}

void Connection::set_sendfile_max_chunk(uint64_t bytes) {
    if (files_ == nullptr) {
        if (bytes == 0) {
            return;  // the default
        }
        files_ = std::make_unique<Files>(this);
    }
    files_->max_chunk = bytes;
}

core::SockAddr Connection::peer() const {
    if (other_peer_ != nullptr) {
        return *other_peer_;
    }
    core::SockAddr a;
    memcpy(a.get(), &peer_, peer_len_);
    a.len = peer_len_;
    return a;
}

Connection::~Connection() {
    io_.stop();
    timeout_.cancel();
    if (transport_ != nullptr) {
        // close_notify when the exchange ended cleanly (not after a failed or stuck write).
        if (handshake_done_ && !write_failed_ && !output_pending()) {
            transport_->shutdown();
        }
        transport_.reset();
    }
    files_.reset();
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

int Connection::release(std::unique_ptr<Transport>& transport) {
    io_.stop();
    timeout_.cancel();
    transport = std::move(transport_);
    files_.reset();
    out_.clear();
    return std::exchange(fd_, -1);
}

Connection::Files::~Files() {
    if (fd >= 0) {
        ::close(fd);
    }
    if (pipe_rd >= 0) {
        pipe_pool().give(pipe_rd, pipe_wr, piped == 0);
    }
    for (Queued& q : after) {
        if (q.fd >= 0) {
            ::close(q.fd);
        }
    }
}

void Connection::send_file(int fd, uint64_t offset, uint64_t len, bool use_sendfile) {
    if (write_failed_) {
        ::close(fd);
        return;
    }
    if (files_ == nullptr) {
        files_ = std::make_unique<Files>(this);
    }
    if (files_->left > 0 || !files_->after.empty()) {
        files_->after.push_back(Queued{{}, fd, offset, len, use_sendfile});
        return;
    }
    if (files_->fd >= 0) {
        ::close(files_->fd);
    }
    files_->fd = fd;
    files_->off = offset;
    files_->left = len;
    files_->sendfile = use_sendfile && transport_ == nullptr;
    if (!write_failed_ && !connecting_) {
        flush();
    }
}

void Connection::start(bool nodelay) {
    if (nodelay) {
        set_tcp_option(TCP_NODELAY, true);  // never let Nagle hold back a request's tail
    }
    io_.start(loop_, fd_, &Connection::io_ready, this);
}

bool Connection::set_tcp_option(int option, bool on) {
    int v = on ? 1 : 0;
    return setsockopt(fd_, IPPROTO_TCP, option, &v, sizeof(v)) == 0;
}

int Connection::open_connecting(const core::SockAddr& addr, int& err) {
    bool bind_failed = false;
    return open_connecting(addr, err, ConnectOptions{}, bind_failed);
}

int Connection::open_connecting(const core::SockAddr& addr, int& err, const ConnectOptions& opt,
                                bool& bind_failed) {
    int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        err = errno;
        return -1;
    }
    bind_failed = false;
    if (opt.keepalive) {
        int on = 1;
        (void)::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
    }
    if (opt.local != nullptr) {
        if (opt.local->port() == 0) {
            int on = 1;  // the port is chosen at connect(), as nginx does
            (void)::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof(on));
        }
        if (::bind(fd, opt.local->get(), opt.local->len) != 0) {
            err = errno;
            bind_failed = true;
            ::close(fd);
            return -1;
        }
    }
    if (::connect(fd, addr.get(), addr.len) != 0 && errno != EINPROGRESS) {
        err = errno;
        ::close(fd);
        return -1;
    }
    err = 0;
    return fd;
}

void Connection::start_connect() {
    connecting_ = true;
    start();
}

IoStatus Connection::read(Buffer& buf, size_t max) {
    if (transport_ != nullptr) {
        return read_secure(buf, max);
    }
    if (!readable_) {
        return IoStatus::kAgain;
    }
    // A buffer without storage (an idle connection's) gets some only when bytes arrive: read
    // into the stack first, so that a wakeup with nothing to read allocates nothing.
    char stack[4096];
    bool unallocated = buf.capacity() == 0;
    auto w =
        unallocated ? std::span<char>(stack, sizeof(stack)) : buf.writable(max < 4096 ? max : 4096);
    size_t n = 0;
    IoStatus st = read_into(w.subspan(0, w.size() < max ? w.size() : max), n);
    if (st == IoStatus::kOk) {
        if (unallocated) {
            buf.append(std::string_view(stack, n));
        } else {
            buf.commit(n);
        }
    }
    return st;
}

IoStatus Connection::read_into(std::span<char> out, size_t& n) {
    if (transport_ != nullptr) {
        return IoStatus::kError;
    }
    if (!readable_) {
        return IoStatus::kAgain;
    }
    for (;;) {
        ssize_t got = ::recv(fd_, out.data(), out.size(), 0);
        if (got > 0) {
            n = static_cast<size_t>(got);
            if (n < out.size() && !peer_closed_ && loop_.reports_peer_close()) {
                readable_ = false;  // drained: the next edge will say when more (or EOF) arrives
            }
            return IoStatus::kOk;
        }
        if (got == 0) {
            return IoStatus::kEof;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            readable_ = false;
            return IoStatus::kAgain;
        }
        return IoStatus::kError;
    }
}

IoStatus Connection::peek(std::span<char> buf, size_t& n) {
    if (!readable_) {
        return IoStatus::kAgain;
    }
    for (;;) {
        ssize_t got = ::recv(fd_, buf.data(), buf.size(), MSG_PEEK);
        if (got > 0) {
            n = static_cast<size_t>(got);
            return IoStatus::kOk;
        }
        if (got == 0) {
            return IoStatus::kEof;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            readable_ = false;
            return IoStatus::kAgain;
        }
        return IoStatus::kError;
    }
}

void Connection::send(std::string_view data, bool more) {
    if (write_failed_) {
        return;
    }
    if (connecting_ && !files_busy()) {
        out_.append(data);  // goes out once connected
        return;
    }
    if (files_busy()) {
        // Behind a file: keep the order.
        if (files_->after.empty() || files_->after.back().fd >= 0) {
            files_->after.emplace_back();
        }
        files_->after.back().data.append(data);
        files_->after_bytes += data.size();
        return;
    }
    if (transport_ != nullptr) {
        // One record for a head and what follows it: queue while more comes.
        out_.append(data);
        if (!more) {
            flush_secure();
        }
        return;
    }
    if (out_.empty()) {
        // Fast path: write directly, queue only what the socket did not take.
        std::optional<size_t> sent = send_now(fd_, data, more ? MSG_MORE : 0);
        if (!sent) {
            write_failed_ = true;
            return;
        }
        data.remove_prefix(*sent);
        if (data.empty()) {
            return;
        }
    }
    out_.append(data);
}

void Connection::send(std::string_view a, std::string_view b) {
    if (write_failed_ || connecting_ || files_busy() || transport_ != nullptr || !out_.empty()) {
        send(a, true);  // queued anyway (or one TLS record): no system call to save
        send(b);
        return;
    }
    struct iovec iov[2] = {{const_cast<char*>(a.data()), a.size()},
                           {const_cast<char*>(b.data()), b.size()}};
    struct msghdr msg {};
    msg.msg_iov = iov;
    msg.msg_iovlen = 2;
    ssize_t n;
    do {
        n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        write_failed_ = true;
        return;
    }
    size_t sent = n > 0 ? static_cast<size_t>(n) : 0;
    if (sent < a.size()) {
        out_.append(a.substr(sent));
        out_.append(b);
        return;
    }
    if (sent == a.size() + b.size()) {
        return;
    }
    b.remove_prefix(sent - a.size());
    out_.append(b);  // a short write: the socket is full (nothing when all went)
}

bool Connection::flush() {
    if (transport_ != nullptr) {
        return flush_secure();
    }
    for (;;) {
        if (out_.empty() && files_ != nullptr && files_->piped > 0) {
            if (!flush_pipe()) {
                return false;
            }
            continue;
        }
        if (out_.empty() && files_ != nullptr && files_->left > 0) {
            if (!flush_file()) {
                return false;
            }
            continue;
        }
        if (out_.empty() && files_ != nullptr && !files_->after.empty()) {
            next_queued();
            continue;
        }
        if (out_.empty()) {
            return true;
        }
        std::optional<size_t> sent = send_now(fd_, std::string_view(out_.data(), out_.size()), 0);
        if (!sent) {
            write_failed_ = true;
            return false;
        }
        out_.consume(*sent);
        if (!out_.empty()) {
            return false;  // the socket is full
        }
    }
}

bool Connection::flush_file(uint64_t piece) {
    ssize_t n;
    if (files_->sendfile) {
        if (files_->yield.armed()) {
            return false;  // sendfile_max_chunk: the rest goes on the next turn
        }
        off_t off = static_cast<off_t>(files_->off);
        uint64_t limit = files_->max_chunk > 0 ? files_->max_chunk : 1u << 30;
        n = ::sendfile(fd_, files_->fd, &off, static_cast<size_t>(std::min(files_->left, limit)));
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return false;
        }
        if (n > 0 && files_->max_chunk > 0 && static_cast<uint64_t>(n) == limit &&
            files_->left > limit) {
            // A full chunk: give the other connections a turn before the next one.
            files_->off += static_cast<uint64_t>(n);
            files_->left -= static_cast<uint64_t>(n);
            files_->yield.arm(loop_, Duration(0));
            return false;
        }
    } else {
        auto w = out_.writable(static_cast<size_t>(piece));
        size_t want = static_cast<size_t>(std::min<uint64_t>({files_->left, piece, w.size()}));
        n = ::pread(files_->fd, w.data(), want, static_cast<off_t>(files_->off));
        if (n > 0) {
            out_.commit(static_cast<size_t>(n));
        }
    }
    if (n < 0 && errno == EINTR) {
        return true;
    }
    if (n <= 0) {
        // A read error, or the file shrank under us: the response cannot be completed.
        core::log_conn(core::LogLevel::kCrit, id_, "sending a file failed (%d: %s)",
                       n < 0 ? errno : 0, n < 0 ? strerror(errno) : "file truncated");
        write_failed_ = true;
        return false;
    }
    files_->off += static_cast<uint64_t>(n);
    files_->left -= static_cast<uint64_t>(n);
    if (files_->left == 0) {
        ::close(files_->fd);
        files_->fd = -1;
    }
    return true;
}

bool Connection::prepare_splice() {
    if (transport_ != nullptr) {
        return false;
    }
    if (files_ == nullptr) {
        files_ = std::make_unique<Files>(this);
    }
    return files_->pipe_rd >= 0 || pipe_pool().take(files_->pipe_rd, files_->pipe_wr);
}

IoStatus Connection::splice_from(Connection& from, size_t max, size_t& n) {
    n = 0;
    if (from.transport_ != nullptr || !prepare_splice()) {
        return IoStatus::kError;
    }
    if (files_->piped > 0 || write_failed_) {
        return IoStatus::kOk;  // the peer is behind (or gone): on_drained() (or close) follows
    }
    if (!from.readable_) {
        return IoStatus::kAgain;
    }
    // The pipe is empty here, so EAGAIN means that `from` is; a short count may be the pipe's
    // page slots filling up, so it does not end the edge (the next call sees EAGAIN or more).
    constexpr size_t kPipeCapacity = 64 * 1024;  // Linux's default pipe size
    for (;;) {
        ssize_t got = ::splice(from.fd_, nullptr, files_->pipe_wr, nullptr,
                               std::min(max, kPipeCapacity), SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
        if (got > 0) {
            n = static_cast<size_t>(got);
            files_->piped = n;
            break;
        }
        if (got == 0) {
            return IoStatus::kEof;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            from.readable_ = false;
            return IoStatus::kAgain;
        }
        return IoStatus::kError;
    }
    if (!connecting_) {
        flush();  // what is in out_ first, then the pipe
    }
    return IoStatus::kOk;
}

bool Connection::flush_pipe() {
    while (files_->piped > 0) {
        ssize_t sent = ::splice(files_->pipe_rd, nullptr, fd_, nullptr, files_->piped,
                                SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
        if (sent > 0) {
            files_->piped -= static_cast<size_t>(sent);
            continue;
        }
        if (sent < 0 && errno == EINTR) {
            continue;
        }
        if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return false;
        }
        write_failed_ = true;  // the client is gone (EPIPE, ECONNRESET)
        return false;
    }
    return true;
}

void Connection::next_queued() {
    Queued q = std::move(files_->after.front());
    files_->after.pop_front();
    if (q.fd < 0) {
        files_->after_bytes -= q.data.size();
        out_.append(q.data);
        return;
    }
    files_->fd = q.fd;
    files_->off = q.offset;
    files_->left = q.len;
    files_->sendfile = q.use_sendfile;
    if (files_->left == 0) {
        ::close(files_->fd);
        files_->fd = -1;
    }
}

void Connection::on_io(uint32_t ready) {
    // Owners never destroy a connection inside its callbacks (they use Loop::post), so this
    // object outlives the calls below.
    if (ready & kClosed) {
        peer_closed_ = true;  // EOF follows what is left to read: read() must reach it
        ready |= kRead;
    }
    if (connecting_) {
        if (!(ready & (kWrite | kRead))) {
            return;
        }
        connecting_ = false;
        int err = 0;
        // A failed connect() always wakes us readable too (EPOLLERR|EPOLLHUP: libevent reports
        // them as read and write), so writable alone means connected: no getsockopt() then.
        if (ready != kWrite) {
            socklen_t len = sizeof(err);
            if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
                err = errno;
            }
        } else if (transport_ == nullptr && loop_.reports_peer_close()) {
            // Nothing has arrived yet: the next edge says when something does (a TLS
            // transport must still be free to start its handshake with a read).
            readable_ = false;
        }
        if (err == 0 && output_pending() && !flush() && write_failed_) {
            err = errno != 0 ? errno : EPIPE;  // refused or reset right after the handshake
        }
        handler_->on_connect(err);
        return;  // readable data (if any) is read by the handler after on_connect
    }
    if (ready & kRead) {
        readable_ = true;
    }
    if (transport_ != nullptr) {
        // A TLS read may wait for the socket to take a write (handshake, alerts) and a write
        // for it to be readable: on either event, retry both.
        ready |= kRead | kWrite;
    }
    if ((ready & kWrite) && output_pending()) {
        bool drained = flush();
        if (write_failed_) {
            handler_->on_error();
            return;
        }
        if (drained) {
            handler_->on_drained();
        }
    }
    if (ready & kRead) {
        handler_->on_readable();
    }
}

void Connection::set_timeout(Duration d) {
    timeout_.arm(loop_, d);
}

void Connection::clear_timeout() {
    timeout_.cancel();
}

void Connection::shutdown_write() {
    if (transport_ != nullptr && handshake_done_ && !output_pending()) {
        transport_->shutdown();
    }
    ::shutdown(fd_, SHUT_WR);
}

// ---- through a transport (TLS) ----

IoStatus Connection::read_secure(Buffer& buf, size_t max) {
    if (!readable_) {
        return IoStatus::kAgain;  // the transport last wanted to read: wait for the edge
    }
    if (!handshake_done_) {
        switch (transport_->handshake()) {
            case TransportStatus::kOk:
                handshake_done_ = true;
                if (output_pending() && !flush_secure() && write_failed_) {
                    return IoStatus::kError;
                }
                break;
            case TransportStatus::kWantRead:
                readable_ = false;
                return IoStatus::kAgain;
            case TransportStatus::kWantWrite:
                return IoStatus::kAgain;  // the write event calls on_readable()
            case TransportStatus::kEof:
                return IoStatus::kEof;
            case TransportStatus::kError:
                return IoStatus::kError;
            case TransportStatus::kPlaintext:
                transport_.reset();  // a plain client: the owner sees transport() == nullptr
                if (output_pending()) {
                    flush();
                }
                return read(buf, max);
        }
    }
    // A record holds up to 16 KiB: read that much when the caller takes it.
    auto w = buf.writable(std::min<size_t>(max, 16384));
    size_t n = 0;
    switch (transport_->read(w.subspan(0, std::min(w.size(), max)), n)) {
        case TransportStatus::kOk:
            buf.commit(n);
            // As a short plain read: the socket is empty, so the next edge says when more (or
            // EOF) arrives, and the read() that would want more is saved.
            if (transport_->drained() && !peer_closed_ && loop_.reports_peer_close()) {
                readable_ = false;
            }
            return IoStatus::kOk;
        case TransportStatus::kWantRead:
            // The transport drained the socket: its recv() said EAGAIN, so unlike a short
            // plain read no FIN can be left behind (that recv() would have returned 0).
            readable_ = false;
            return IoStatus::kAgain;
        case TransportStatus::kWantWrite:
            return IoStatus::kAgain;
        case TransportStatus::kEof:
            return IoStatus::kEof;
        case TransportStatus::kError:
        case TransportStatus::kPlaintext:
            return IoStatus::kError;
    }
    return IoStatus::kError;
}

bool Connection::flush_secure() {
    if (!handshake_done_) {
        return false;
    }
    // RFC 8446 §5.1: a record carries at most 16 KiB. Files are read in (no sendfile through
    // TLS) behind what is queued once less than a record is left, so that a response head and
    // the start of its body share one; 64 KiB at a time (nginx reads 32 KiB output buffers),
    // which the transport cuts into records: one pread() for a 64 KiB file and its head.
    constexpr size_t kRecord = 16384;
    constexpr size_t kFilePiece = 65536;
    for (;;) {
        if (files_ != nullptr && files_->left == 0 && !files_->after.empty()) {
            next_queued();  // what was queued behind the file, in order
            continue;
        }
        if (files_ != nullptr && files_->left > 0 && out_.size() < kRecord) {
            if (!flush_file(kFilePiece)) {
                return false;
            }
            continue;
        }
        if (out_.empty()) {
            return true;
        }
        size_t n = 0;
        switch (transport_->write(out_.view(), n)) {
            case TransportStatus::kOk:
                out_.consume(n);
                continue;
            case TransportStatus::kWantRead:
            case TransportStatus::kWantWrite:
                return false;
            default:
                write_failed_ = true;
                return false;
        }
    }
}

}  // namespace ev
