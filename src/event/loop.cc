#include "event/loop.h"

#include "core/clock.h"

#include <event2/event.h>
#include <event2/event_struct.h>

#include <csignal>
#include <cstdlib>

namespace ev {
namespace {

event_base* base_of(void* p) {
    return static_cast<event_base*>(p);
}

/// Our event bits and libevent's, one for one.
struct EventBit {
    uint32_t ours;
    short libevent;
};
constexpr EventBit kEventBits[] = {{kRead, EV_READ}, {kWrite, EV_WRITE}, {kClosed, EV_CLOSED}};

/// Libevent's bits for `events` (kRead|kWrite|kClosed).
short to_what(uint32_t events) {
    short what = 0;
    for (const EventBit& b : kEventBits) {
        what |= (events & b.ours) != 0 ? b.libevent : 0;
    }
    return what;
}

/// Our ready bits for libevent's `what`.
uint32_t to_ready(short what) {
    uint32_t ready = 0;
    for (const EventBit& b : kEventBits) {
        ready |= (what & b.libevent) != 0 ? b.ours : 0;
    }
    return ready;
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
        short what = EV_PERSIST | to_what(events);
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
        static_cast<LibeventIo*>(arg)->cb_(to_ready(what));
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

bool event_method_available(std::string_view name) {
    for (const char** m = event_get_supported_methods(); m != nullptr && *m != nullptr; m++) {
        if (name == *m) {
            return true;
        }
    }
    return false;
}

Loop::Loop(std::string_view method) {
    event_config* cfg = event_config_new();
    // Timers are measured with CLOCK_MONOTONIC; the loop never needs wall time.
    event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
    if (!method.empty()) {
        // libevent picks the first method not avoided: avoid all but the one asked for.
        for (const char** m = event_get_supported_methods(); m != nullptr && *m != nullptr; m++) {
            if (method != *m) {
                event_config_avoid_method(cfg, *m);
            }
        }
    }
    base_ = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (base_ == nullptr) {
        abort();
    }
    peer_close_ = (event_base_get_features(base_of(base_)) & EV_FEATURE_EARLY_CLOSE) != 0;
    posted_trigger_ = make_timer([this] { run_posted(); });
}

Loop::~Loop() {
    posted_trigger_.reset();
    deadlines_.clear();
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
    // Tasks posted by this turn's callbacks run right after them, here: the trigger timer
    // would cost another epoll_wait() (a zero timeout) before they run.
    in_turn_ = true;
    // Clock reads in this turn's callbacks share one reading, taken after the wait.
    core::TurnTime saved = core::turn_time;
    core::turn_time.on = true;
    core::turn_time.fresh = false;
    event_base_loop(base_of(base_), EVLOOP_ONCE);
    run_posted();
    core::turn_time = saved;
    in_turn_ = false;
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
    if (!in_turn_ && !posted_trigger_->armed()) {
        posted_trigger_->arm(Duration(0));
    }
}

void Loop::run_posted() {
    while (!posted_.empty()) {
        // Swap with a kept vector, so that neither loses its capacity (no allocation per
        // batch); tasks posted meanwhile go to the next round.
        running_.swap(posted_);
        for (auto& t : running_) {
            t();
        }
        running_.clear();
    }
}

}  // namespace ev

namespace ev {

// ---- deadlines ----

/// Every armed Deadline of one duration, oldest (soonest) first.
class DeadlineList {
  public:
    DeadlineList(Loop& loop, Duration d) : d_(d) {
        timer_ = loop.make_timer([this] { expire(); });
    }
    ~DeadlineList() {
        while (head_ != nullptr) {
            unlink(*head_);
        }
    }
    Duration duration() const { return d_; }

    void push(Deadline& x, TimePoint at) {
        x.at_ = at;
        x.list_ = this;
        x.prev_ = tail_;
        x.next_ = nullptr;
        (tail_ != nullptr ? tail_->next_ : head_) = &x;
        tail_ = &x;
        if (!timer_->armed()) {
            timer_->arm(d_);
        }
    }
    /// Moves `x` (already in this list) to the tail with a new deadline.
    void renew(Deadline& x, TimePoint at) {
        if (tail_ == &x) {
            x.at_ = at;  // still the latest: the order holds
            return;
        }
        unlink(x);
        push(x, at);
    }
    void unlink(Deadline& x) {
        (x.prev_ != nullptr ? x.prev_->next_ : head_) = x.next_;
        (x.next_ != nullptr ? x.next_->prev_ : tail_) = x.prev_;
        x.prev_ = x.next_ = nullptr;
        x.list_ = nullptr;
        // The timer stays armed for a head that went away: expire() re-arms it lazily.
    }

  private:
    void expire() {
        TimePoint now = Clock::now();
        // A callback may arm, cancel or destroy any deadline (this list's too): take the head
        // again each time.
        while (head_ != nullptr && head_->at_ <= now) {
            Deadline& x = *head_;
            unlink(x);
            x.cb_(x.owner_);
        }
        if (head_ != nullptr) {
            // Round up to the next millisecond, so that the timer never fires early.
            timer_->arm(std::chrono::ceil<Duration>(head_->at_ - now));
        }
    }

    Duration d_;
    Deadline* head_ = nullptr;
    Deadline* tail_ = nullptr;
    std::unique_ptr<Timer> timer_;
};

DeadlineList& Loop::deadlines(Duration d) {
    for (auto& l : deadlines_) {
        if (l->duration() == d) {
            return *l;
        }
    }
    deadlines_.push_back(std::make_unique<DeadlineList>(*this, d));
    return *deadlines_.back();
}

void Deadline::arm(Loop& loop, Duration after) {
    TimePoint at = core::steady_now() + after;
    if (list_ != nullptr && list_->duration() == after) {
        list_->renew(*this, at);
        return;
    }
    cancel();
    loop.deadlines(after).push(*this, at);
}

void Deadline::cancel() {
    if (list_ != nullptr) {
        list_->unlink(*this);
    }
}

// ---- descriptors ----

static_assert(sizeof(event) <= FdWatch::kEventBytes && alignof(event) <= 8,
              "FdWatch's storage does not fit libevent's struct event");

void FdWatch::start(Loop& loop, int fd, Callback cb, void* owner) {
    if (started_) {
        return;
    }
    cb_ = cb;
    owner_ = owner;
    auto* ev = reinterpret_cast<event*>(event_);
    uint32_t events = kRead | kWrite | (loop.reports_peer_close() ? kClosed : 0u);
    event_assign(ev, base_of(loop.native()), fd, EV_PERSIST | EV_ET | to_what(events),
                 &FdWatch::fire, this);
    event_add(ev, nullptr);
    started_ = true;
}

void FdWatch::stop() {
    if (started_) {
        event_del(reinterpret_cast<event*>(event_));
        started_ = false;
    }
}

void FdWatch::fire(int, short what, void* arg) {
    auto* self = static_cast<FdWatch*>(arg);
    self->cb_(self->owner_, to_ready(what));
}

}  // namespace ev
