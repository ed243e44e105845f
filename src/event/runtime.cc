#include "event/runtime.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <vector>

#include "core/clock.h"
#include "core/core_module.h"
#include "core/cycle.h"
#include "core/log.h"
#include "core/process.h"
#include "core/proctitle.h"
#include "core/shm.h"
#include "event/event_module.h"

namespace ev {

Runtime::Runtime(core::Cycle& cycle, const core::ProcessInfo& info)
    : cycle_(cycle), loop_(cycle.conf<EventConf>().use.value_or("")) {
    current_ = this;
    worker_ = info.role == core::ProcessRole::kWorker;
    const auto& ev = cycle.conf<EventConf>();
    max_connections_ = static_cast<size_t>(*ev.worker_connections);
    accept_mutex_ = ev.mutex;
    accept_mutex_delay_ = *ev.accept_mutex_delay;
    for (auto& l : cycle.listening()) {
        if (l->handler == nullptr || l->fds.empty()) {
            continue;
        }
        auto listener = std::make_unique<Listener>(loop_, l->fd_for_worker(info.worker_index),
                                                   *l->handler, l->options.udp);
        listener->set_gate(this);
        listener->set_multi_accept(*ev.multi_accept);
        // A reuseport socket is this worker's own: only shared sockets go behind the mutex
        // (as in nginx), or connections queued on it would wait for the lock. A UDP socket is
        // read by every worker (nginx).
        listeners_.push_back({std::move(listener), l->options.reuseport || l->options.udp});
    }
    signals_.push_back(loop_.make_signal(SIGQUIT, [this] {
        HALO_LOG(kNotice, "gracefully shutting down");
        quit();
    }));
    signals_.push_back(loop_.make_signal(core::retire_signal(), [this] {
        HALO_LOG(kNotice, "gracefully shutting down (a new configuration serves)");
        quit(false);
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

bool Runtime::may_accept() {
    if (room_for_one_more()) {
        return true;
    }
    if (idle_count_ == 0) {
        HALO_LOG(kAlert, "%zu worker_connections are not enough", max_connections_);
    }
    set_accepting(false);
    return false;
}

bool Runtime::room_for_one_more() {
    if (active_ < max_connections_) {
        return true;
    }
    if (idle_count_ == 0) {
        return false;
    }
    if (may_reclaim_) {
        return true;
    }
    // Full, but with idle connections: first leave new connections to workers with free
    // slots for a pause (accept_mutex_delay); if some are still waiting after it, make room.
    if (!reclaim_timer_) {
        reclaim_timer_ = loop_.make_timer([this] {
            if (!shutting_down_) {
                may_reclaim_ = connections_waiting();
                set_accepting(true);
            }
        });
    }
    if (!reclaim_timer_->armed()) {
        reclaim_timer_->arm(accept_mutex_delay_);
    }
    return false;
}

bool Runtime::connections_waiting() const {
    std::vector<pollfd> fds;
    for (const auto& l : listeners_) {
        fds.push_back({l.listener->fd(), POLLIN, 0});
    }
    return ::poll(fds.data(), fds.size(), 0) > 0;
}

void Runtime::accept_queue_empty() {
    may_reclaim_ = false;  // nobody is waiting: the next time this worker is full, pause again
}

void Runtime::connection_opened() {
    active_++;
    if (active_ > max_connections_) {
        reclaim_idle();  // accepted with the budget spent (room_for_one_more)
    }
}

void Runtime::reclaim_idle() {
    // As nginx: an eighth of the idle connections, at least one and at most 32, oldest first
    // (the list's tail), so that a burst of new clients does not close them one accept at a
    // time; a warning at most once a second.
    size_t n = std::clamp<size_t>(idle_count_ / 8, 1, 32);
    int64_t now_s = core::steady_ms() / 1000;
    if (now_s != reclaim_logged_s_) {
        reclaim_logged_s_ = now_s;
        HALO_LOG(kWarn, "%zu worker_connections are not enough, reusing connections",
                 max_connections_);
    }
    for (size_t i = 0; i < n && idle_count_ > 0; i++) {
        Idle* oldest = idle_.idle_prev_;
        clear_idle(oldest);
        oldest->close_idle(true);
    }
}

void Runtime::set_idle(Idle* c) {
    if (c->idle_next_ != nullptr) {
        return;
    }
    c->idle_prev_ = &idle_;
    c->idle_next_ = idle_.idle_next_;
    idle_.idle_next_->idle_prev_ = c;
    idle_.idle_next_ = c;
    idle_count_++;
    if (!accepting_ && !shutting_down_) {
        set_accepting(true);  // a full worker can make room now (see room_for_one_more)
    }
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

void Runtime::close_all_idle() {
    idle_closed_ = true;
    while (idle_count_ > 0) {
        Idle* c = idle_.idle_next_;
        clear_idle(c);
        c->close_idle(false);
    }
}

void Runtime::quit(bool close_idle) {
    if (shutting_down_) {
        if (close_idle && !idle_closed_) {
            close_all_idle();  // a retiring worker told to quit (the server stops)
        }
        return;
    }
    shutting_down_ = true;
    if (worker_) {
        core::set_process_title("worker process is shutting down");  // as nginx
    }
    set_accepting(false);
    listeners_.clear();
    cycle_.close_listening();
    if (close_idle) {
        close_all_idle();
    }
    for (auto& hook : quit_hooks_) {
        hook();
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
        if (!shutting_down_ && room_for_one_more()) {
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
