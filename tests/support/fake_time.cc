#include "support/fake_time.h"

#include <algorithm>
#include <chrono>

namespace support {

class FakeTime::FakeTimer final : public ev::Timer {
  public:
    FakeTimer(FakeTime* owner, std::function<void()> cb) : owner_(owner), cb_(std::move(cb)) {}
    ~FakeTimer() override {
        if (owner_ != nullptr) {
            std::erase(owner_->timers_, this);
        }
    }

    void arm(ev::Duration after) override {
        if (owner_ == nullptr) {
            return;
        }
        if (after.count() < 0) {
            after = ev::Duration(0);
        }
        deadline_ = owner_->now_ + after;
        seq_ = owner_->next_seq_++;
        armed_ = true;
    }
    void cancel() override { armed_ = false; }
    bool armed() const override { return armed_; }

    ev::TimePoint deadline() const { return deadline_; }
    uint64_t seq() const { return seq_; }
    /// Disarms and runs the callback (a copy: the callback may destroy this timer).
    void fire() {
        armed_ = false;
        std::function<void()> cb = cb_;
        cb();
    }
    void detach() {
        owner_ = nullptr;
        armed_ = false;
    }

  private:
    FakeTime* owner_;
    std::function<void()> cb_;
    ev::TimePoint deadline_{};
    uint64_t seq_ = 0;
    bool armed_ = false;
};

FakeTime::FakeTime() : now_(ev::TimePoint{} + std::chrono::hours(24)) {}

FakeTime::~FakeTime() {
    for (FakeTimer* t : timers_) {
        t->detach();
    }
}

std::unique_ptr<ev::Timer> FakeTime::make_timer(std::function<void()> cb) {
    auto t = std::make_unique<FakeTimer>(this, std::move(cb));
    timers_.push_back(t.get());
    return t;
}

FakeTime::FakeTimer* FakeTime::next_due(ev::TimePoint limit) const {
    FakeTimer* best = nullptr;
    for (FakeTimer* t : timers_) {
        if (!t->armed() || t->deadline() > limit) {
            continue;
        }
        if (best == nullptr || t->deadline() < best->deadline() ||
            (t->deadline() == best->deadline() && t->seq() < best->seq())) {
            best = t;
        }
    }
    return best;
}

void FakeTime::advance(ev::Duration d) {
    if (d.count() < 0) {
        d = ev::Duration(0);
    }
    ev::TimePoint target = now_ + d;
    // Re-scan after every callback: it may arm, cancel or destroy any timer.
    while (FakeTimer* t = next_due(target)) {
        now_ = std::max(now_, t->deadline());
        fired_++;
        t->fire();
    }
    now_ = target;
}

size_t FakeTime::armed_count() const {
    return static_cast<size_t>(
        std::count_if(timers_.begin(), timers_.end(), [](FakeTimer* t) { return t->armed(); }));
}

std::optional<ev::TimePoint> FakeTime::next_deadline() const {
    FakeTimer* t = next_due(ev::TimePoint::max());
    if (t == nullptr) {
        return std::nullopt;
    }
    return t->deadline();
}

}  // namespace support
