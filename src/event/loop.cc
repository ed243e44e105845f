#include "event/loop.h"

#include <event2/event.h>

#include <csignal>
#include <cstdlib>

namespace ev {
namespace {

event_base* base_of(void* p) {
    return static_cast<event_base*>(p);
}

timeval to_timeval(Duration d) {
    auto ms = d.count() < 0 ? 0 : d.count();
    timeval tv;
    tv.tv_sec = static_cast<time_t>(ms / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
    return tv;
}

class LibeventTimer final : public Timer {
  public:
    LibeventTimer(event_base* base, std::function<void()> cb) : cb_(std::move(cb)) {
        ev_ = evtimer_new(base, &LibeventTimer::fire, this);
    }
    ~LibeventTimer() override { event_free(ev_); }

    void arm(Duration after) override {
        timeval tv = to_timeval(after);
        evtimer_add(ev_, &tv);
    }
    void cancel() override { evtimer_del(ev_); }
    bool armed() const override { return evtimer_pending(ev_, nullptr) != 0; }

  private:
    static void fire(evutil_socket_t, short, void* arg) {
        // The callback may destroy this timer: copy nothing after the call.
        static_cast<LibeventTimer*>(arg)->cb_();
    }
    event* ev_;
    std::function<void()> cb_;
};

class LibeventIo final : public IoWatcher {
  public:
    LibeventIo(event_base* base, int fd, uint32_t events, bool edge,
               std::function<void(uint32_t)> cb)
        : cb_(std::move(cb)) {
        short what = EV_PERSIST;
        if (events & kRead) {
            what |= EV_READ;
        }
        if (events & kWrite) {
            what |= EV_WRITE;
        }
        if (edge) {
            what |= EV_ET;
        }
        ev_ = event_new(base, fd, what, &LibeventIo::fire, this);
    }
    ~LibeventIo() override { event_free(ev_); }

    void enable() override {
        if (!enabled_) {
            event_add(ev_, nullptr);
            enabled_ = true;
        }
    }
    void disable() override {
        if (enabled_) {
            event_del(ev_);
            enabled_ = false;
        }
    }
    bool enabled() const override { return enabled_; }

  private:
    static void fire(evutil_socket_t, short what, void* arg) {
        uint32_t ready = 0;
        if (what & EV_READ) {
            ready |= kRead;
        }
        if (what & EV_WRITE) {
            ready |= kWrite;
        }
        static_cast<LibeventIo*>(arg)->cb_(ready);
    }
    event* ev_;
    bool enabled_ = false;
    std::function<void(uint32_t)> cb_;
};

class LibeventSignal final : public SignalWatcher {
  public:
    LibeventSignal(event_base* base, int signo, std::function<void()> cb) : cb_(std::move(cb)) {
        ev_ = evsignal_new(base, signo, &LibeventSignal::fire, this);
        event_add(ev_, nullptr);
    }
    ~LibeventSignal() override { event_free(ev_); }

  private:
    static void fire(evutil_socket_t, short, void* arg) {
        static_cast<LibeventSignal*>(arg)->cb_();
    }
    event* ev_;
    std::function<void()> cb_;
};

}  // namespace

Loop::Loop() {
    event_config* cfg = event_config_new();
    // Timers are measured with CLOCK_MONOTONIC; the loop never needs wall time.
    event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
    base_ = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (base_ == nullptr) {
        abort();
    }
    posted_trigger_ = make_timer([this] { run_posted(); });
}

Loop::~Loop() {
    posted_trigger_.reset();
    event_base_free(base_of(base_));
}

void Loop::run() {
    event_base_dispatch(base_of(base_));
}

void Loop::run_once(Duration max_wait) {
    std::unique_ptr<Timer> wake;
    if (max_wait.count() >= 0) {
        wake = make_timer([] {});
        wake->arm(max_wait);
    }
    event_base_loop(base_of(base_), EVLOOP_ONCE);
}

void Loop::exit() {
    event_base_loopbreak(base_of(base_));
}

std::unique_ptr<Timer> Loop::make_timer(std::function<void()> cb) {
    return std::make_unique<LibeventTimer>(base_of(base_), std::move(cb));
}

std::unique_ptr<IoWatcher> Loop::make_io(int fd, uint32_t events, bool edge,
                                         std::function<void(uint32_t)> cb) {
    return std::make_unique<LibeventIo>(base_of(base_), fd, events, edge, std::move(cb));
}

std::unique_ptr<SignalWatcher> Loop::make_signal(int signo, std::function<void()> cb) {
    return std::make_unique<LibeventSignal>(base_of(base_), signo, std::move(cb));
}

void Loop::post(std::function<void()> task) {
    posted_.push_back(std::move(task));
    if (!posted_trigger_->armed()) {
        posted_trigger_->arm(Duration(0));
    }
}

void Loop::run_posted() {
    while (!posted_.empty()) {
        std::vector<std::function<void()>> batch;
        batch.swap(posted_);
        for (auto& t : batch) {
            t();
        }
    }
}

}  // namespace ev
