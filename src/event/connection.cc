#include "event/connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace ev {

Connection::Connection(Loop& loop, int fd, const core::SockAddr& peer, uint64_t id)
    : loop_(loop), fd_(fd), peer_(peer), id_(id) {}

Connection::~Connection() {
    io_.reset();
    timer_.reset();
    ::close(fd_);
}

void Connection::start() {
    // Responses go out in one write; never let Nagle hold back the tail (nginx: tcp_nodelay).
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    io_ = loop_.make_io(fd_, kRead | kWrite, true, [this](uint32_t ready) { on_io(ready); });
    io_->enable();
}

IoStatus Connection::read(Buffer& buf, size_t max) {
    auto w = buf.writable(max < 4096 ? max : 4096);
    size_t want = w.size() < max ? w.size() : max;
    for (;;) {
        ssize_t n = ::recv(fd_, w.data(), want, 0);
        if (n > 0) {
            buf.commit(static_cast<size_t>(n));
            return IoStatus::kOk;
        }
        if (n == 0) {
            return IoStatus::kEof;
        }
        if (errno == EINTR) {
            continue;
        }
        return errno == EAGAIN || errno == EWOULDBLOCK ? IoStatus::kAgain : IoStatus::kError;
    }
}

void Connection::send(std::string_view data) {
    if (write_failed_) {
        return;
    }
    if (out_.empty()) {
        // Fast path: write directly, queue only what the socket did not take.
        while (!data.empty()) {
            ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
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
    while (!out_.empty()) {
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
    return true;
}

void Connection::on_io(uint32_t ready) {
    // Owners never destroy a connection inside its callbacks (they use Loop::post), so this
    // object outlives the calls below.
    if ((ready & kWrite) && !out_.empty()) {
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
