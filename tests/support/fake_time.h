#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "event/loop.h"

namespace support {

/// A manual clock for runtime tests: time stands still until advance() moves it, and timers
/// fire only inside advance(), in deadline order (equal deadlines in the order they were
/// armed). Timers armed by callbacks during advance() that fall within the window fire too.
/// Header-only dependency on src/event/loop.h (pure interfaces), so it links into any test
/// binary. Single-threaded; the FakeTime must outlive its timers' use (a timer destroyed
/// after it simply becomes inert).
class FakeTime : public ev::TimeSource {
  public:
    /// Starts at an arbitrary, fixed time point (not the epoch, so `now() - x` stays valid).
    FakeTime();
    explicit FakeTime(ev::TimePoint start) : now_(start) {}
    ~FakeTime() override;
    FakeTime(const FakeTime&) = delete;
    FakeTime& operator=(const FakeTime&) = delete;

    ev::TimePoint now() const override { return now_; }
    std::unique_ptr<ev::Timer> make_timer(std::function<void()> cb) override;

    /// Moves the clock forward by `d` (negative counts as zero), firing every timer whose
    /// deadline is reached, with now() equal to that timer's deadline while it runs.
    void advance(ev::Duration d);
    /// Fires the timers already due (advance(0)).
    void run_due() { advance(ev::Duration(0)); }

    /// Timers currently armed.
    size_t armed_count() const;
    /// The earliest armed deadline, if any.
    std::optional<ev::TimePoint> next_deadline() const;
    /// Timers fired since construction.
    uint64_t fired_count() const { return fired_; }

  private:
    class FakeTimer;
    friend class FakeTimer;

    FakeTimer* next_due(ev::TimePoint limit) const;

    ev::TimePoint now_;
    std::vector<FakeTimer*> timers_;  // every live timer, armed or not
    uint64_t next_seq_ = 0;
    uint64_t fired_ = 0;
};

}  // namespace support
