#include "event/runtime.h"

#include <unistd.h>

#include <csignal>

#include "core/core_module.h"
#include "core/cycle.h"
#include "core/log.h"
#include "core/process.h"
#include "core/shm.h"
#include "event/event_module.h"

namespace ev {

Runtime::Runtime(core::Cycle& cycle, const core::ProcessInfo& info) : cycle_(cycle) {
    current_ = this;
    const auto& ev = cycle.conf<EventConf>();
    max_connections_ = static_cast<size_t>(*ev.worker_connections);
    accept_mutex_ = ev.mutex;
    accept_mutex_delay_ = *ev.accept_mutex_delay;
    for (auto& l : cycle.listening()) {
        if (l->handler == nullptr || l->fds.empty()) {
            continue;
        }
        auto listener =
            std::make_unique<Listener>(loop_, l->fd_for_worker(info.worker_index), *l->handler);
        listener->set_gate(&Runtime::may_accept, this);
        // A reuseport socket is this worker's own: only shared sockets go behind the mutex
        // (as in nginx), or connections queued on it would wait for the lock.
        listeners_.push_back({std::move(listener), l->options.reuseport});
    }
    signals_.push_back(loop_.make_signal(SIGQUIT, [this] {
        HALO_LOG(kNotice, "gracefully shutting down");
        quit();
    }));
    signals_.push_back(loop_.make_signal(SIGTERM, [this] { stop(); }));
    signals_.push_back(loop_.make_signal(SIGINT, [this] { stop(); }));
    signals_.push_back(loop_.make_signal(SIGUSR1, [this] {
        HALO_LOG(kNotice, "reopening logs");
        cycle_.reopen_files(static_cast<uid_t>(-1));
    }));
    signals_.push_back(loop_.make_signal(SIGHUP, [] {}));
}

Runtime::~Runtime() {
    if (current_ == this) {
        current_ = nullptr;
    }
}

bool Runtime::may_accept(void* arg) {
    auto* self = static_cast<Runtime*>(arg);
    if (self->active_ < self->max_connections_) {
        return true;
    }
    HALO_LOG(kAlert, "%zu worker_connections are not enough", self->max_connections_);
    self->set_accepting(false);
    return false;
}

void Runtime::set_accepting(bool on) {
    accepting_ = on;
    apply_listeners();
}

void Runtime::set_mutex_held(bool held) {
    mutex_held_ = held;
    apply_listeners();
}

void Runtime::apply_listeners() {
    for (auto& l : listeners_) {
        bool on = accepting_ && (l.own || accept_mutex_ == nullptr || mutex_held_);
        if (on) {
            l.listener->enable();
        } else {
            l.listener->disable();
        }
    }
}

void Runtime::connection_closed() {
    active_--;
    if (shutting_down_) {
        check_exit();
    } else if (!accepting_ && active_ < max_connections_) {
        set_accepting(true);
    }
}

void Runtime::check_exit() {
    if (active_ == 0) {
        exit_ = true;
        loop_.exit();
    }
}

void Runtime::quit() {
    if (shutting_down_) {
        return;
    }
    shutting_down_ = true;
    set_accepting(false);
    listeners_.clear();
    cycle_.close_listening();
    // close_idle() unregisters the connection, so iterate over a copy.
    std::vector<Idle*> idle;
    for (Idle* c = idle_.idle_next_; c != &idle_; c = c->idle_next_) {
        idle.push_back(c);
    }
    for (Idle* c : idle) {
        c->close_idle();
    }
    const auto& core = cycle_.conf<core::CoreConf>();
    if (core.shutdown_timeout) {
        shutdown_timer_ = loop_.make_timer([this] {
            HALO_LOG(kNotice, "worker_shutdown_timeout expired with %zu connections open", active_);
            stop();
        });
        shutdown_timer_->arm(*core.shutdown_timeout);
    }
    loop_.post([this] { check_exit(); });
}

void Runtime::stop() {
    exit_ = true;
    loop_.exit();
}

void Runtime::run() {
    if (accept_mutex_ == nullptr) {
        set_accepting(true);
        while (!exit_) {
            loop_.run_once(Duration(-1));
        }
        return;
    }
    set_accepting(true);
    while (!exit_) {
        bool held = false;
        if (!shutting_down_ && active_ < max_connections_) {
            held = accept_mutex_->try_lock();
        }
        set_mutex_held(held);
        loop_.run_once(held ? Duration(-1) : accept_mutex_delay_);
        if (held) {
            accept_mutex_->unlock();
        }
    }
}

}  // namespace ev
