// The manual clock used by runtime tests (tests/support/fake_time.h).
#include "support/fake_time.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace support {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;

TEST(FakeTimeTest, NowMovesOnlyWithAdvance) {
    FakeTime t;
    ev::TimePoint start = t.now();
    EXPECT_EQ(t.now(), start);
    t.advance(1500ms);
    EXPECT_EQ(t.now() - start, 1500ms);
    t.advance(-5ms);  // negative: no move
    EXPECT_EQ(t.now() - start, 1500ms);
}

TEST(FakeTimeTest, ExplicitStart) {
    ev::TimePoint start = ev::TimePoint{} + 10s;
    FakeTime t(start);
    EXPECT_EQ(t.now(), start);
}

TEST(FakeTimeTest, TimerFiresOnlyWhenItsDeadlineIsReached) {
    FakeTime t;
    int fired = 0;
    auto timer = t.make_timer([&] { fired++; });
    EXPECT_FALSE(timer->armed());
    timer->arm(100ms);
    EXPECT_TRUE(timer->armed());
    EXPECT_EQ(t.armed_count(), 1u);
    t.advance(99ms);
    EXPECT_EQ(fired, 0);
    t.advance(1ms);
    EXPECT_EQ(fired, 1);
    EXPECT_FALSE(timer->armed());  // one-shot
    t.advance(1h);
    EXPECT_EQ(fired, 1);
    EXPECT_EQ(t.fired_count(), 1u);
}

TEST(FakeTimeTest, NowIsTheDeadlineInsideTheCallback) {
    FakeTime t;
    ev::TimePoint start = t.now();
    std::vector<ev::Duration> seen;
    auto a = t.make_timer(
        [&] { seen.push_back(std::chrono::duration_cast<ev::Duration>(t.now() - start)); });
    auto b = t.make_timer(
        [&] { seen.push_back(std::chrono::duration_cast<ev::Duration>(t.now() - start)); });
    a->arm(30ms);
    b->arm(10ms);
    t.advance(1s);
    EXPECT_THAT(seen, ElementsAre(10ms, 30ms));
    EXPECT_EQ(t.now() - start, 1s);
}

TEST(FakeTimeTest, FiresInDeadlineOrderThenArmOrder) {
    FakeTime t;
    std::string order;
    auto a = t.make_timer([&] { order += 'a'; });
    auto b = t.make_timer([&] { order += 'b'; });
    auto c = t.make_timer([&] { order += 'c'; });
    auto d = t.make_timer([&] { order += 'd'; });
    c->arm(20ms);
    a->arm(30ms);
    d->arm(20ms);
    b->arm(10ms);
    t.advance(100ms);
    EXPECT_EQ(order, "bcda");
}

TEST(FakeTimeTest, TimersArmedByCallbacksInsideTheWindowFire) {
    FakeTime t;
    ev::TimePoint start = t.now();
    std::vector<ev::Duration> ticks;
    std::unique_ptr<ev::Timer> periodic;
    periodic = t.make_timer([&] {
        ticks.push_back(std::chrono::duration_cast<ev::Duration>(t.now() - start));
        periodic->arm(10ms);
    });
    periodic->arm(10ms);
    t.advance(35ms);
    EXPECT_THAT(ticks, ElementsAre(10ms, 20ms, 30ms));
    EXPECT_TRUE(periodic->armed());
    ASSERT_TRUE(t.next_deadline().has_value());
    EXPECT_EQ(*t.next_deadline() - start, 40ms);
    t.advance(5ms);
    EXPECT_THAT(ticks, ElementsAre(10ms, 20ms, 30ms, 40ms));
}

TEST(FakeTimeTest, TimerArmedOutsideTheWindowWaits) {
    FakeTime t;
    int second = 0;
    auto later = t.make_timer([&] { second++; });
    auto first = t.make_timer([&] { later->arm(50ms); });
    first->arm(10ms);
    t.advance(20ms);
    EXPECT_EQ(second, 0);
    EXPECT_TRUE(later->armed());
    t.advance(39ms);  // 59ms in total; `later` is due at 60ms
    EXPECT_EQ(second, 0);
    t.advance(1ms);
    EXPECT_EQ(second, 1);
}

TEST(FakeTimeTest, ZeroDelayFiresOnTheNextAdvance) {
    FakeTime t;
    int fired = 0;
    auto timer = t.make_timer([&] { fired++; });
    timer->arm(0ms);
    EXPECT_EQ(fired, 0);
    t.run_due();
    EXPECT_EQ(fired, 1);
    timer->arm(-10ms);  // negative: due now
    t.advance(0ms);
    EXPECT_EQ(fired, 2);
}

TEST(FakeTimeTest, CancelAndRearm) {
    FakeTime t;
    int fired = 0;
    auto timer = t.make_timer([&] { fired++; });
    timer->arm(10ms);
    timer->cancel();
    EXPECT_FALSE(timer->armed());
    EXPECT_EQ(t.armed_count(), 0u);
    EXPECT_FALSE(t.next_deadline().has_value());
    t.advance(20ms);
    EXPECT_EQ(fired, 0);
    // Re-arming moves the deadline (from now).
    timer->arm(10ms);
    t.advance(5ms);
    timer->arm(10ms);
    t.advance(9ms);
    EXPECT_EQ(fired, 0);
    t.advance(1ms);
    EXPECT_EQ(fired, 1);
}

TEST(FakeTimeTest, CallbackMayCancelAnotherDueTimer) {
    FakeTime t;
    int b_fired = 0;
    std::unique_ptr<ev::Timer> b = t.make_timer([&] { b_fired++; });
    auto a = t.make_timer([&] { b->cancel(); });
    a->arm(10ms);
    b->arm(20ms);
    t.advance(30ms);
    EXPECT_EQ(b_fired, 0);
}

TEST(FakeTimeTest, CallbackMayDestroyTimers) {
    FakeTime t;
    int fired = 0;
    std::unique_ptr<ev::Timer> other = t.make_timer([&] { fired += 10; });
    std::unique_ptr<ev::Timer> self;
    self = t.make_timer([&] {
        fired++;
        other.reset();
        self.reset();  // destroys the running timer
    });
    self->arm(10ms);
    other->arm(10ms);
    t.advance(20ms);
    EXPECT_EQ(fired, 1);
    EXPECT_TRUE(self == nullptr);
    EXPECT_EQ(t.armed_count(), 0u);
}

TEST(FakeTimeTest, DestroyedTimerNeverFires) {
    FakeTime t;
    int fired = 0;
    auto timer = t.make_timer([&] { fired++; });
    timer->arm(10ms);
    timer.reset();
    t.advance(20ms);
    EXPECT_EQ(fired, 0);
}

TEST(FakeTimeTest, TimerOutlivingTheClockIsInert) {
    std::unique_ptr<ev::Timer> timer;
    {
        FakeTime t;
        timer = t.make_timer([] {});
        timer->arm(10ms);
    }
    EXPECT_FALSE(timer->armed());
    timer->arm(1ms);
    timer->cancel();
}

TEST(FakeTimeTest, UsableThroughTheTimeSourceInterface) {
    FakeTime fake;
    ev::TimeSource& time = fake;
    bool fired = false;
    auto timer = time.make_timer([&] { fired = true; });
    timer->arm(1s);
    fake.advance(1s);
    EXPECT_TRUE(fired);
}

}  // namespace
}  // namespace support
