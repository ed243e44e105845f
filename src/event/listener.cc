#include "event/listener.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"

namespace ev {

Listener::Listener(Loop& loop, int fd, ListenHandler& handler, bool datagram)
    : fd_(fd), handler_(handler), datagram_(datagram) {
    io_ = loop.make_io(fd, kRead, false, [this](uint32_t) { on_ready(); });
    if (!datagram && handler.wants_nodelay()) {
        // Inherited by the sockets accept4() returns (Linux); fails on a Unix socket.
        int on = 1;
        handler.accepted_nodelay_ = setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == 0;
    }
}

void Listener::on_ready() {
    if (datagram_) {
        handler_.on_datagrams(fd_);
        return;
    }
    // multi_accept off (nginx's default): one connection per wake-up, the level-triggered
    // socket wakes the loop again for the next; on: until the queue is empty.
    for (bool more = true; more; more = multi_accept_) {
        if (gate_ != nullptr && !gate_->may_accept()) {
            return;
        }
        core::SockAddr peer;
        peer.len = sizeof(peer.storage);
        int fd = ::accept4(fd_, peer.get(), &peer.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                HALO_LOG(kAlert, "accept4() failed (%d: %s)", errno, strerror(errno));
            } else if (gate_ != nullptr) {
                gate_->accept_queue_empty();
            }
            return;
        }
        handler_.on_accept(fd, peer);
    }
}

}  // namespace ev
