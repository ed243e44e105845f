#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

namespace ev {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = std::chrono::milliseconds;

/// A one-shot timer. Destroying it cancels it. Callbacks run on the owning loop's thread.
class Timer {
  public:
    virtual ~Timer() = default;
    /// (Re)arms the timer to fire once after `after`.
    virtual void arm(Duration after) = 0;
    virtual void cancel() = 0;
    virtual bool armed() const = 0;
};

/// Time as seen by a component: the real loop in production, a fake in tests (see
/// tests/support/fake_time.h). Components that need time take a TimeSource&, never a Loop.
class TimeSource {
  public:
    virtual ~TimeSource() = default;
    virtual TimePoint now() const = 0;
    virtual std::unique_ptr<Timer> make_timer(std::function<void()> cb) = 0;
};

/// Readiness bits for IoWatcher and FdWatch.
enum IoEvents : uint32_t {
    kRead = 1u << 0,
    kWrite = 1u << 1,
    /// The peer closed its sending side (EPOLLRDHUP): what is left to read ends with EOF. Only
    /// reported when Loop::reports_peer_close().
    kClosed = 1u << 2,
};

/// Watches one descriptor. Registered once for its lifetime (edge-triggered when asked), so
/// nothing is re-armed per read. Destroying it unregisters it.
class IoWatcher {
  public:
    virtual ~IoWatcher() = default;
    /// Starts (again) watching; idempotent.
    virtual void enable() = 0;
    /// Stops watching without destroying; idempotent.
    virtual void disable() = 0;
    virtual bool enabled() const = 0;
};

/// Runs a callback when a signal arrives (in loop context, not in the handler).
class SignalWatcher {
  public:
    virtual ~SignalWatcher() = default;
};

class Loop;
class DeadlineList;

/// A timeout kept inside its owner, for objects there are many of (connections): arming
/// allocates nothing and costs O(1). The loop keeps one FIFO list per distinct duration (a
/// server has a handful: header, body, keepalive, send timeouts), so a list is always in
/// deadline order and one libevent timer, armed for its head, serves all of it.
class Deadline {
  public:
    using Callback = void (*)(void* owner);
    Deadline(Callback cb, void* owner) : cb_(cb), owner_(owner) {}
    ~Deadline() { cancel(); }
    Deadline(const Deadline&) = delete;
    Deadline& operator=(const Deadline&) = delete;

    /// (Re)arms: the callback runs once, `after` from now, unless cancelled or re-armed first.
    void arm(Loop& loop, Duration after);
    void cancel();
    bool armed() const { return list_ != nullptr; }

  private:
    friend class DeadlineList;
    Callback cb_;
    void* owner_;
    DeadlineList* list_ = nullptr;
    Deadline* prev_ = nullptr;
    Deadline* next_ = nullptr;
    TimePoint at_{};
};

/// Watches one descriptor for reads and writes, edge-triggered, with the libevent event held
/// inside this object (no allocation, no std::function): for connections.
class FdWatch {
  public:
    using Callback = void (*)(void* owner, uint32_t ready);
    FdWatch() = default;
    ~FdWatch() { stop(); }
    FdWatch(const FdWatch&) = delete;
    FdWatch& operator=(const FdWatch&) = delete;

    /// Registers `fd` (once) for kRead|kWrite, and kClosed where the loop reports it:
    /// `cb(owner, ready)` runs on readiness.
    void start(Loop& loop, int fd, Callback cb, void* owner);
    void stop();
    bool started() const { return started_; }

    /// Bytes reserved for libevent's struct event (checked at compile time in loop.cc).
    static constexpr size_t kEventBytes = 128;

  private:
    static void fire(int fd, short what, void* arg);
    alignas(8) unsigned char event_[kEventBytes];
    bool started_ = false;
    Callback cb_ = nullptr;
    void* owner_ = nullptr;
};

/// Whether this system has event method `name` ("epoll", "poll", "select"...).
bool event_method_available(std::string_view name);

/// One event loop (libevent's event_base), owned by one process or thread.
class Loop : public TimeSource {
  public:
    /// `method`: the event method to use (nginx's `use`: "epoll", "poll", "select"); empty:
    /// the best the system has.
    explicit Loop(std::string_view method = {});
    ~Loop() override;
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;

    /// Runs until exit() is called or nothing is left to watch.
    void run();
    /// Waits for events at most `max_wait` (negative = no limit), runs their callbacks and then
    /// the tasks they posted (without waiting again in between), then returns.
    void run_once(Duration max_wait);
    /// Makes run() return after the current callbacks.
    void exit();

    TimePoint now() const override { return Clock::now(); }
    std::unique_ptr<Timer> make_timer(std::function<void()> cb) override;
    /// `events`: kRead|kWrite|kClosed; `edge`: edge-triggered. The callback gets the ready bits.
    std::unique_ptr<IoWatcher> make_io(int fd, uint32_t events, bool edge,
                                       std::function<void(uint32_t)> cb);
    std::unique_ptr<SignalWatcher> make_signal(int signo, std::function<void()> cb);

    /// Runs `task` after the current callback returns (before waiting again). Used to destroy
    /// objects whose own callback is still on the stack.
    void post(std::function<void()> task);

    /// True when readiness events say that the peer closed (kClosed, from EPOLLRDHUP): then an
    /// edge-triggered reader may stop at a short read, the FIN cannot hide behind it. Fixed for
    /// the loop's life.
    bool reports_peer_close() const { return peer_close_; }

    /// The libevent event_base (only for src/event internals).
    void* native() const { return base_; }
    /// The deadline list for timeouts of `d` (made on first use, kept for the loop's life).
    DeadlineList& deadlines(Duration d);

  private:
    void run_posted();

    std::vector<std::unique_ptr<DeadlineList>> deadlines_;

    void* base_;
    bool peer_close_ = false;
    std::vector<std::function<void()>> posted_;
    std::vector<std::function<void()>> running_;  // the batch run_posted() is running
    std::unique_ptr<Timer> posted_trigger_;       // runs posted tasks when run() is in charge
    bool in_turn_ = false;                        // run_once() runs the posted tasks itself
};

}  // namespace ev
