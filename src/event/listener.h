#pragma once

#include <memory>

#include "core/net.h"
#include "event/loop.h"

namespace ev {

/// What a protocol module does with an accepted socket (it owns `fd` from then on).
class ListenHandler {
  public:
    virtual ~ListenHandler() = default;
    virtual void on_accept(int fd, const core::SockAddr& peer) = 0;
    /// A datagram socket (`listen ... udp`) is readable: the protocol reads what it wants from
    /// `fd` (the listening socket itself, shared with other workers unless reuseport).
    virtual void on_datagrams(int fd) {}
    /// Whether the protocol wants TCP_NODELAY on most of its connections: the listener then
    /// sets it on the listening socket, and Linux copies it to each accepted socket (no
    /// setsockopt per connection). Asked once, when the listener is made.
    virtual bool wants_nodelay() const { return false; }
    /// True when the sockets handed to on_accept() come with TCP_NODELAY set (see
    /// wants_nodelay(); false on a Unix socket, or for sockets not from a Listener).
    bool accepted_nodelay() const { return accepted_nodelay_; }

  private:
    friend class Listener;
    bool accepted_nodelay_ = false;
};

/// Asked by a listener before each accept (worker_connections): false stops accepting for
/// this wake-up. Told when the socket's queue is empty (accept() would block).
class AcceptGate {
  public:
    virtual ~AcceptGate() = default;
    virtual bool may_accept() = 0;
    virtual void accept_queue_empty() {}
};

/// Accepts on one listening socket of the cycle and passes each new socket on. Can be paused
/// (accept_mutex, worker_connections reached, graceful shutdown).
class Listener {
  public:
    /// `datagram`: a UDP socket, whose readiness goes to ListenHandler::on_datagrams (no
    /// accept, no gate).
    Listener(Loop& loop, int fd, ListenHandler& handler, bool datagram = false);
    void enable() { io_->enable(); }
    void disable() { io_->disable(); }
    bool enabled() const { return io_->enabled(); }
    int fd() const { return fd_; }

    /// Set by the runtime (see AcceptGate).
    void set_gate(AcceptGate* gate) { gate_ = gate; }
    /// multi_accept on: accept every queued connection at each wake-up (off: one).
    void set_multi_accept(bool on) { multi_accept_ = on; }

  private:
    void on_ready();

    int fd_;
    ListenHandler& handler_;
    std::unique_ptr<IoWatcher> io_;
    AcceptGate* gate_ = nullptr;
    bool multi_accept_ = false;
    bool datagram_ = false;
};

}  // namespace ev
