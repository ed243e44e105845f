#include "event/connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/log.h"

namespace ev {

Connection::Connection(Loop& loop, int fd, const core::SockAddr& peer, uint64_t id)
    : loop_(loop), fd_(fd), peer_(peer), id_(id) {}

Connection::~Connection() {
    io_.reset();
    timer_.reset();
    if (file_fd_ >= 0) {
        ::close(file_fd_);
    }
    for (Queued& q : after_) {
        if (q.fd >= 0) {
            ::close(q.fd);
        }
    }
    ::close(fd_);
}

void Connection::send_file(int fd, uint64_t offset, uint64_t len, bool use_sendfile) {
    if (write_failed_) {
        ::close(fd);
        return;
    }
    if (file_left_ > 0 || !after_.empty()) {
        after_.push_back(Queued{{}, fd, offset, len, use_sendfile});
        return;
    }
    if (file_fd_ >= 0) {
        ::close(file_fd_);
    }
    file_fd_ = fd;
    file_off_ = offset;
    file_left_ = len;
    file_sendfile_ = use_sendfile;
    if (!write_failed_ && !connecting_) {
        flush();
    }
}

void Connection::start() {
    // Responses go out in one write; never let Nagle hold back the tail (nginx: tcp_nodelay).
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    io_ = loop_.make_io(fd_, kRead | kWrite, true, [this](uint32_t ready) { on_io(ready); });
    io_->enable();
}

int Connection::open_connecting(const core::SockAddr& addr, int& err) {
    int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        err = errno;
        return -1;
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
    if (!readable_) {
        return IoStatus::kAgain;
    }
    auto w = buf.writable(max < 4096 ? max : 4096);
    size_t want = w.size() < max ? w.size() : max;
    for (;;) {
        ssize_t n = ::recv(fd_, w.data(), want, 0);
        if (n > 0) {
            buf.commit(static_cast<size_t>(n));
            if (static_cast<size_t>(n) < want) {
                readable_ = false;  // drained: the next edge will say when more arrives
            }
            return IoStatus::kOk;
        }
        if (n == 0) {
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
    if (connecting_) {
        out_.append(data);  // goes out once connected
        return;
    }
    if (file_left_ > 0 || !after_.empty()) {
        // Behind a file: keep the order.
        if (after_.empty() || after_.back().fd >= 0) {
            after_.emplace_back();
        }
        after_.back().data.append(data);
        after_bytes_ += data.size();
        return;
    }
    if (out_.empty()) {
        // Fast path: write directly, queue only what the socket did not take.
        while (!data.empty()) {
            ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL | (more ? MSG_MORE : 0));
            if (n > 0) {
                data.remove_prefix(static_cast<size_t>(n));
                continue;
            }
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                break;
            }
            write_failed_ = true;
            return;
        }
        if (data.empty()) {
            return;
        }
    }
    out_.append(data);
}

bool Connection::flush() {
    for (;;) {
        if (out_.empty() && file_left_ > 0) {
            if (!flush_file()) {
                return false;
            }
            continue;
        }
        if (out_.empty() && !after_.empty()) {
            next_queued();
            continue;
        }
        if (out_.empty()) {
            return true;
        }
        ssize_t n = ::send(fd_, out_.data(), out_.size(), MSG_NOSIGNAL);
        if (n > 0) {
            out_.consume(static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return false;
        }
        write_failed_ = true;
        return false;
    }
}

bool Connection::flush_file() {
    constexpr uint64_t kPiece = 64 * 1024;
    ssize_t n;
    if (file_sendfile_) {
        off_t off = static_cast<off_t>(file_off_);
        n = ::sendfile(fd_, file_fd_, &off,
                       static_cast<size_t>(std::min<uint64_t>(file_left_, 1u << 30)));
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return false;
        }
    } else {
        auto w = out_.writable(kPiece);
        size_t want = static_cast<size_t>(std::min<uint64_t>({file_left_, kPiece, w.size()}));
        n = ::pread(file_fd_, w.data(), want, static_cast<off_t>(file_off_));
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
    file_off_ += static_cast<uint64_t>(n);
    file_left_ -= static_cast<uint64_t>(n);
    if (file_left_ == 0) {
        ::close(file_fd_);
        file_fd_ = -1;
    }
    return true;
}

void Connection::next_queued() {
    Queued q = std::move(after_.front());
    after_.pop_front();
    if (q.fd < 0) {
        after_bytes_ -= q.data.size();
        out_.append(q.data);
        return;
    }
    file_fd_ = q.fd;
    file_off_ = q.offset;
    file_left_ = q.len;
    file_sendfile_ = q.use_sendfile;
    if (file_left_ == 0) {
        ::close(file_fd_);
        file_fd_ = -1;
    }
}

void Connection::on_io(uint32_t ready) {
    // Owners never destroy a connection inside its callbacks (they use Loop::post), so this
    // object outlives the calls below.
    if (connecting_) {
        if (!(ready & (kWrite | kRead))) {
            return;
        }
        connecting_ = false;
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
            err = errno;
        }
        if (err == 0 && output_pending()) {
            flush();
        }
        handler_->on_connect(err);
        return;  // readable data (if any) is read by the handler after on_connect
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
        readable_ = true;
        handler_->on_readable();
    }
}

void Connection::set_timeout(Duration d) {
    if (!timer_) {
        timer_ = loop_.make_timer([this] { handler_->on_timeout(); });
    }
    timer_->arm(d);
}

void Connection::clear_timeout() {
    if (timer_) {
        timer_->cancel();
    }
}

void Connection::shutdown_write() {
    ::shutdown(fd_, SHUT_WR);
}

}  // namespace ev
