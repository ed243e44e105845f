#pragma once

#include <cstdint>
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

/// A connection a protocol keeps open between requests (keepalive). The runtime closes every
/// idle one when the worker shuts down gracefully.
/// Listed in the runtime through the links inside it (no allocation per idle period).
class Idle {
  public:
    virtual ~Idle() = default;
    virtual void close_idle() = 0;

  private:
    friend class Runtime;
    Idle* idle_prev_ = nullptr;  // both null: not listed
    Idle* idle_next_ = nullptr;
};

/// The event runtime of one worker (or single-process) process: its loop, the listeners it
/// accepts on, connection accounting (worker_connections), accept_mutex, and graceful exit.
/// One per process; reachable with Runtime::current() from protocol code.
class Runtime {
  public:
    Runtime(core::Cycle& cycle, const core::ProcessInfo& info);
    ~Runtime();

    static Runtime& current() { return *current_; }

    Loop& loop() { return loop_; }
    core::Cycle& cycle() { return cycle_; }
    uint64_t next_connection_id() { return ++last_id_; }

    /// Bookkeeping of open client connections (the worker_connections budget).
    void connection_opened() { active_++; }
    void connection_closed();
    size_t active_connections() const { return active_; }

    void set_idle(Idle* c) {
        if (c->idle_next_ == nullptr) {
            c->idle_prev_ = &idle_;
            c->idle_next_ = idle_.idle_next_;
            idle_.idle_next_->idle_prev_ = c;
            idle_.idle_next_ = c;
        }
    }
    void clear_idle(Idle* c) {
        if (c->idle_next_ != nullptr) {
            c->idle_prev_->idle_next_ = c->idle_next_;
            c->idle_next_->idle_prev_ = c->idle_prev_;
            c->idle_prev_ = c->idle_next_ = nullptr;
        }
    }

    /// Stops accepting, closes idle connections, exits when the last one is done (QUIT).
    void quit();
    /// Exits at once (TERM/INT).
    void stop();
    bool shutting_down() const { return shutting_down_; }

    /// Runs the worker until it has to exit.
    void run();

  private:
    static bool may_accept(void* self);
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
    std::unique_ptr<Timer> resume_accept_timer_;
    /// The head of the circular list of idle connections.
    struct IdleHead final : Idle {
        IdleHead() { static_cast<Idle*>(this)->idle_prev_ = idle_next_ = this; }
        void close_idle() override {}
    };
    IdleHead idle_;
    uint64_t last_id_ = 0;
    size_t active_ = 0;
    size_t max_connections_ = 512;
    bool accepting_ = false;
    bool shutting_down_ = false;
    bool exit_ = false;
    core::ShmMutex* accept_mutex_ = nullptr;
    Duration accept_mutex_delay_{500};
};

}  // namespace ev
