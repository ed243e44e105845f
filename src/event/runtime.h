#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "event/listener.h"
#include "event/loop.h"

namespace core {
class Cycle;
class ShmMutex;
struct ProcessInfo;
}  // namespace core

namespace ev {

/// A connection that holds a worker_connections slot while waiting for its client: kept alive
/// between requests, or accepted and waiting for the first byte. When the worker runs out of
/// slots, the runtime reclaims the oldest of them for new clients (as nginx's
/// ngx_drain_connections); a worker that quits (not one that retires after a reload) closes
/// them all. Listed in the runtime through the links inside it (no allocation per idle period).
class Idle {
  public:
    virtual ~Idle() = default;
    /// Close now: the slot is needed (`reclaimed`), or the worker quits.
    virtual void close_idle(bool reclaimed) = 0;

  private:
    friend class Runtime;
    Idle* idle_prev_ = nullptr;  // both null: not listed
    Idle* idle_next_ = nullptr;
};

/// The event runtime of one worker (or single-process) process: its loop, the listeners it
/// accepts on, connection accounting (worker_connections), accept_mutex, and graceful exit.
/// One per process; reachable with Runtime::current() from protocol code.
class Runtime : private AcceptGate {
  public:
    Runtime(core::Cycle& cycle, const core::ProcessInfo& info);
    ~Runtime() override;

    static Runtime& current() { return *current_; }

    Loop& loop() { return loop_; }
    core::Cycle& cycle() { return cycle_; }
    uint64_t next_connection_id() { return ++last_id_; }

    /// Bookkeeping of open client connections (the worker_connections budget).
    /// A worker over its budget (it may accept one more when it has idle connections) closes
    /// the oldest idle ones.
    void connection_opened();
    void connection_closed();
    size_t active_connections() const { return active_; }

    /// Lists `c` as idle (newest first); a worker that was full accepts again.
    void set_idle(Idle* c);
    void clear_idle(Idle* c) {
        if (c->idle_next_ != nullptr) {
            c->idle_prev_->idle_next_ = c->idle_next_;
            c->idle_next_->idle_prev_ = c->idle_prev_;
            c->idle_prev_ = c->idle_next_ = nullptr;
            idle_count_--;
        }
    }
    size_t idle_connections() const { return idle_count_; }

    /// Stops accepting and exits when the last connection is done. `close_idle` (QUIT: the
    /// server stops) closes the idle connections now, as nginx does. Without it (a worker
    /// retiring after a reload, while the new generation serves) they stay until their next
    /// request, which is answered with "Connection: close", or their timeout: a client that
    /// sends on a kept-alive connection just as the reload happens loses nothing.
    void quit(bool close_idle = true);
    /// Called once when quit() begins (reload or stop), after the idle connections were
    /// handled: a protocol that can announce the end on its open connections, idle or not
    /// (HTTP/2's GOAWAY), does it here.
    void on_quit(std::function<void()> hook) { quit_hooks_.push_back(std::move(hook)); }
    /// Exits at once (TERM/INT).
    void stop();
    bool shutting_down() const { return shutting_down_; }

    /// Runs the worker until it has to exit.
    void run();

  private:
    bool may_accept() override;
    void accept_queue_empty() override;
    /// Whether this worker may take one more connection: a free slot, or an idle connection to
    /// reclaim once workers with free slots had their chance.
    bool room_for_one_more();
    /// Whether a listening socket of this worker has a connection queued.
    bool connections_waiting() const;
    /// Closes some of the oldest idle connections to make room.
    void reclaim_idle();
    void close_all_idle();
    void set_accepting(bool on);
    void check_exit();

    static inline Runtime* current_ = nullptr;
    core::Cycle& cycle_;
    Loop loop_;
    struct Accepting {
        std::unique_ptr<Listener> listener;
        bool own;  // a reuseport socket of this worker: never behind accept_mutex
    };
    void set_mutex_held(bool held);
    void apply_listeners();

    std::vector<Accepting> listeners_;
    bool mutex_held_ = false;
    std::vector<std::unique_ptr<SignalWatcher>> signals_;
    std::unique_ptr<Timer> shutdown_timer_;
    std::unique_ptr<Timer> reclaim_timer_;
    bool may_reclaim_ = false;  // full, paused once, and connections still wait
    /// The head of the circular list of idle connections.
    struct IdleHead final : Idle {
        IdleHead() { static_cast<Idle*>(this)->idle_prev_ = idle_next_ = this; }
        void close_idle(bool) override {}
    };
    IdleHead idle_;
    std::vector<std::function<void()>> quit_hooks_;
    size_t idle_count_ = 0;
    int64_t reclaim_logged_s_ = 0;  // the second of the last "reusing connections" warning
    bool idle_closed_ = false;      // quit() closed the idle connections
    uint64_t last_id_ = 0;
    size_t active_ = 0;
    size_t max_connections_ = 512;
    bool accepting_ = false;
    bool shutting_down_ = false;
    bool worker_ = false;  // a worker process (its title changes when it shuts down)
    bool exit_ = false;
    core::ShmMutex* accept_mutex_ = nullptr;
    Duration accept_mutex_delay_{500};
};

}  // namespace ev
