// ev::RateLimit: nginx's pacing rule with a clock the test sets (no loop, no sleeping).
#include "event/rate_limit.h"

#include <gtest/gtest.h>

namespace ev {
namespace {

using std::chrono::milliseconds;

constexpr uint64_t kRate = 1024 * 1024;  // 1m

RateLimit make(uint64_t after = 0) {
    RateLimit l;
    l.rate = kRate;
    l.after = after;
    l.start_s = 100;  // the transfer began in second 100
    return l;
}

TEST(RateLimitTest, TheFirstSecondAllowsTheRate) {
    RateLimit l = make();
    milliseconds wait{0};
    EXPECT_EQ(l.allowance(100'500, wait), kRate);
    l.moved = kRate;
    EXPECT_EQ(l.allowance(100'999, wait), 0u);
    EXPECT_EQ(wait, milliseconds(1));  // nginx: the overdraft at the rate, plus 1 ms
    l.moved = kRate + kRate / 2;
    EXPECT_EQ(l.allowance(100'999, wait), 0u);
    EXPECT_EQ(wait, milliseconds(501));
    EXPECT_EQ(l.allowance(101'000, wait), kRate / 2);  // second 2: twice the rate in all
}

TEST(RateLimitTest, AfterBytesAreFree) {
    RateLimit l = make(3 * kRate);
    milliseconds wait{0};
    EXPECT_EQ(l.allowance(100'000, wait), 4 * kRate);
    EXPECT_EQ(l.account(2 * kRate, 100'000), milliseconds(0));  // all within `after`
    // Half within `after`, half paced: a pause for the paced half only.
    EXPECT_EQ(l.account(2 * kRate, 100'010), milliseconds(1000));
}

TEST(RateLimitTest, PausesFollowASchedule) {
    RateLimit l = make();
    constexpr milliseconds kSlack{250};
    // 64 KiB at 1m: 62.5 ms each, rounded up; the schedule keeps the fractions.
    EXPECT_EQ(l.account(65536, 100'000, kSlack), milliseconds(63));
    // The timer fired 10 ms late: the next pause is that much shorter.
    EXPECT_EQ(l.account(65536, 100'072, kSlack), milliseconds(53));
    // On time again.
    EXPECT_EQ(l.account(65536, 100'125, kSlack), milliseconds(63));
    EXPECT_EQ(l.moved, 3 * 65536u);
    // Without slack, lateness is not made up (each pause counts from now).
    RateLimit strict = make();
    EXPECT_EQ(strict.account(65536, 100'000), milliseconds(63));
    EXPECT_EQ(strict.account(65536, 100'072), milliseconds(63));
}

TEST(RateLimitTest, AStallIsMadeUpOnlyWithinTheSlack) {
    RateLimit l = make();
    EXPECT_EQ(l.account(65536, 100'000, milliseconds(250)), milliseconds(63));
    // Two seconds later (a slow client): no burst of two seconds' worth; at most 250 ms of it.
    milliseconds total{0};
    int passes = 0;
    int64_t now = 102'000;
    for (milliseconds d{0}; d.count() == 0 && passes < 100; passes++) {
        d = l.account(65536, now, milliseconds(250));
        total += d;
    }
    EXPECT_EQ(passes, 5);  // 4 passes (250 ms of 62.5) go at once, the 5th waits
    EXPECT_GT(total.count(), 0);
}

TEST(RateLimitTest, SlowRatesWaitLong) {
    RateLimit l;
    l.rate = 100;
    l.start_s = 0;
    EXPECT_EQ(l.account(100, 0), milliseconds(1000));
    milliseconds wait{0};
    EXPECT_EQ(l.allowance(10, wait), 0u);
    EXPECT_EQ(wait, milliseconds(1));
    EXPECT_EQ(l.allowance(1000, wait), 100u);
}

}  // namespace
}  // namespace ev
