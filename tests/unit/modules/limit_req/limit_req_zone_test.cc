// The limit_req zone on a segment of its own, with the clock given by the test: nginx's leaky
// bucket (1 + burst at once, one more per 1/rate, the excess in thousandths), the delay of
// `delay=` and `nodelay`, several limits on a request (the earlier ones accounted only when
// all pass, the longest delay wins), expiry of idle drained keys and eviction of the oldest
// when the zone is full (a zone whose keys are all in use refuses: "could not allocate node"),
// the statistics and dry run, buckets shared with a forked process, and a reload keeping the
// buckets (a changed key refused).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/shm.h"
#include "modules/limit_req/limit_req_zone.h"

namespace limit_req {
namespace {

constexpr int64_t kT0 = 1000000;  // steady ms of the tests' first request

/// A zone attached to a fresh segment of `size` bytes, as the master's init does.
struct TestZone {
    std::shared_ptr<core::ShmSegment> seg;
    core::ShmZone shm;
    std::unique_ptr<Zone> zone;

    explicit TestZone(uint64_t rate, uint64_t size = 1 << 20, std::string name = "z",
                      std::string key = "$binary_remote_addr") {
        std::string err;
        seg = core::ShmSegment::create(size, &err);
        EXPECT_TRUE(seg) << err;
        core::ShmPool::format(*seg);
        shm.name = name;
        shm.size = size;
        shm.segment = seg;
        zone = std::make_unique<Zone>(name, size, std::move(key), rate, "t.conf:1");
        core::Status s = zone->attach(shm, false);
        EXPECT_TRUE(s.is_ok()) << s.message();
    }
};

Limit limit_of(Zone& z, uint64_t burst, uint64_t delay = 0) {
    return Limit{z.name(), burst * 1000, delay, "t.conf:2", &z};
}

/// Keys of one length (their nodes of one size class, as the addresses of real zones).
std::string client(int i) {
    char buf[32];
    snprintf(buf, sizeof(buf), "client-%06d", i);
    return buf;
}

/// One request with one key for every limit.
Decision one(const LimitList& limits, std::string_view key, int64_t now, bool dry = false) {
    std::vector<std::string_view> keys(limits.size(), key);
    return check(limits, keys, now, dry);
}

TEST(LimitReqZoneTest, OnePlusBurstAtOnceThenOnePerInterval) {
    TestZone t(10000);  // 10r/s
    LimitList limits{limit_of(*t.zone, 5, kNoDelay)};
    for (int i = 0; i < 6; i++) {
        Decision d = one(limits, "k", kT0);
        EXPECT_EQ(d.status, LimitStatus::kPassed) << i;
        EXPECT_EQ(d.excess, uint64_t(i) * 1000) << i;
    }
    Decision d = one(limits, "k", kT0);
    EXPECT_EQ(d.status, LimitStatus::kRejected);
    EXPECT_EQ(d.excess, 6000u);  // what the log line shows: 6.000
    EXPECT_EQ(d.by, &limits[0]);
    EXPECT_EQ(t.zone->bucket("k")->excess, 5000);  // a rejection does not account
    // 100 ms later one request has drained: one more passes, the next not.
    EXPECT_EQ(one(limits, "k", kT0 + 100).status, LimitStatus::kPassed);
    EXPECT_EQ(one(limits, "k", kT0 + 100).status, LimitStatus::kRejected);
    // 99 ms: 990 drained, 5010 > 5000.
    EXPECT_EQ(one(limits, "k", kT0 + 199).status, LimitStatus::kRejected);
    EXPECT_EQ(one(limits, "k", kT0 + 200).status, LimitStatus::kPassed);
    // After a long pause the bucket is empty again.
    EXPECT_EQ(one(limits, "k", kT0 + 60000).excess, 0u);
}

TEST(LimitReqZoneTest, WithoutBurstOneRequestPerInterval) {
    TestZone t(2000);  // 2r/s: one each 500 ms
    LimitList limits{limit_of(*t.zone, 0)};
    EXPECT_EQ(one(limits, "k", kT0).status, LimitStatus::kPassed);
    EXPECT_EQ(one(limits, "k", kT0 + 499).status, LimitStatus::kRejected);
    EXPECT_EQ(one(limits, "k", kT0 + 500).status, LimitStatus::kPassed);
    EXPECT_EQ(one(limits, "other", kT0 + 500).status, LimitStatus::kPassed);  // keys apart
}

TEST(LimitReqZoneTest, RatePerMinute) {
    TestZone t(30 * 1000 / 60);  // 30r/m: 500 thousandths per second, one each 2 s
    LimitList limits{limit_of(*t.zone, 0)};
    EXPECT_EQ(one(limits, "k", kT0).status, LimitStatus::kPassed);
    EXPECT_EQ(one(limits, "k", kT0 + 1999).status, LimitStatus::kRejected);
    EXPECT_EQ(one(limits, "k", kT0 + 2000).status, LimitStatus::kPassed);
}

TEST(LimitReqZoneTest, DelayedUntilTheExcessDrains) {
    TestZone t(10000);
    LimitList limits{limit_of(*t.zone, 5)};  // default: every excess waits
    Decision d = one(limits, "k", kT0);
    EXPECT_EQ(d.status, LimitStatus::kPassed);
    for (uint64_t i = 1; i <= 5; i++) {
        d = one(limits, "k", kT0);
        EXPECT_EQ(d.status, LimitStatus::kDelayed) << i;
        EXPECT_EQ(d.delay_ms, i * 100) << i;  // excess i requests at 10r/s
    }
    EXPECT_EQ(one(limits, "k", kT0).status, LimitStatus::kRejected);
}

TEST(LimitReqZoneTest, DelayParameterLetsTheFirstExcessThrough) {
    TestZone t(10000);
    LimitList limits{limit_of(*t.zone, 5, 2000)};                     // delay=2
    EXPECT_EQ(one(limits, "k", kT0).status, LimitStatus::kPassed);    // excess 0
    EXPECT_EQ(one(limits, "k", kT0).status, LimitStatus::kPassed);    // 1
    EXPECT_EQ(one(limits, "k", kT0).status, LimitStatus::kPassed);    // 2
    EXPECT_EQ(one(limits, "k", kT0).delay_ms, 100u);                  // 3: 1 over delay
    EXPECT_EQ(one(limits, "k", kT0).delay_ms, 200u);                  // 4
    EXPECT_EQ(one(limits, "k", kT0).delay_ms, 300u);                  // 5
    EXPECT_EQ(one(limits, "k", kT0).status, LimitStatus::kRejected);  // 6 > burst
}

TEST(LimitReqZoneTest, SteadyOverloadAdmitsTheRatePlusTheBurst) {
    // 20 r/s offered for 10 s against 10r/s burst=5 nodelay: the bucket admits 1 + 5 at first,
    // then one per 100 ms.
    TestZone t(10000);
    LimitList limits{limit_of(*t.zone, 5, kNoDelay)};
    int passed = 0;
    for (int64_t ms = 0; ms < 10000; ms += 50) {
        passed += one(limits, "k", kT0 + ms).status == LimitStatus::kPassed;
    }
    EXPECT_GE(passed, 104);
    EXPECT_LE(passed, 106);
}

TEST(LimitReqZoneTest, EmptyKeysAreNotLimited) {
    TestZone t(10000);
    LimitList limits{limit_of(*t.zone, 0)};
    for (int i = 0; i < 5; i++) {
        EXPECT_EQ(one(limits, "", kT0).status, LimitStatus::kNone);
    }
    EXPECT_EQ(t.zone->stats().keys, 0u);
    EXPECT_EQ(t.zone->stats().passed, 0u);
}

TEST(LimitReqZoneTest, SeveralLimitsAccountOnlyWhenAllPass) {
    TestZone a(10000, 1 << 20, "a");
    TestZone b(1000, 1 << 20, "b");  // 1r/s
    LimitList limits{limit_of(*a.zone, 10, kNoDelay), limit_of(*b.zone, 1, kNoDelay)};
    EXPECT_EQ(one(limits, "k", kT0).status, LimitStatus::kPassed);
    EXPECT_EQ(one(limits, "k", kT0).status, LimitStatus::kPassed);
    Decision d = one(limits, "k", kT0);  // b's burst of 1 is used up
    EXPECT_EQ(d.status, LimitStatus::kRejected);
    EXPECT_EQ(d.by, &limits[1]);
    EXPECT_EQ(a.zone->bucket("k")->excess, 1000);  // the rejected request not accounted in a
    EXPECT_EQ(a.zone->bucket("k")->count, 0u);     // and not held
    EXPECT_EQ(b.zone->bucket("k")->excess, 1000);
    ZoneStats sa = a.zone->stats();
    ZoneStats sb = b.zone->stats();
    EXPECT_EQ(sa.passed, 2u);
    EXPECT_EQ(sa.rejected, 0u);
    EXPECT_EQ(sb.passed, 2u);
    EXPECT_EQ(sb.rejected, 1u);
    // The first limit rejecting stops the lookup: b is not consulted.
    LimitList first_rejects{limit_of(*b.zone, 1, kNoDelay), limit_of(*a.zone, 10, kNoDelay)};
    EXPECT_EQ(one(first_rejects, "k", kT0).by, &first_rejects[0]);
    EXPECT_EQ(a.zone->bucket("k")->excess, 1000);
}

TEST(LimitReqZoneTest, ManyLimitsOnOneRequest) {
    // More limits than check() keeps on its stack: the last one, the strictest, decides.
    std::vector<std::unique_ptr<TestZone>> zones;
    LimitList limits;
    for (int i = 0; i < 10; i++) {
        zones.push_back(std::make_unique<TestZone>(10000, 1 << 20, "z" + std::to_string(i)));
    }
    for (int i = 0; i < 10; i++) {
        limits.push_back(limit_of(*zones[i]->zone, i == 9 ? 1 : 5, kNoDelay));
    }
    EXPECT_EQ(one(limits, "k", kT0).status, LimitStatus::kPassed);
    EXPECT_EQ(one(limits, "k", kT0).status, LimitStatus::kPassed);
    Decision d = one(limits, "k", kT0);
    EXPECT_EQ(d.status, LimitStatus::kRejected);
    EXPECT_EQ(d.by, &limits[9]);
    for (int i = 0; i < 9; i++) {
        EXPECT_EQ(zones[i]->zone->bucket("k")->excess, 1000) << i;  // two accounted, not three
        EXPECT_EQ(zones[i]->zone->bucket("k")->count, 0u) << i;
    }
}

TEST(LimitReqZoneTest, TheLongestDelayWins) {
    TestZone a(10000, 1 << 20, "a");  // 100 ms a request
    TestZone b(2000, 1 << 20, "b");   // 500 ms a request
    LimitList limits{limit_of(*a.zone, 10), limit_of(*b.zone, 10)};
    EXPECT_EQ(one(limits, "k", kT0).status, LimitStatus::kPassed);
    Decision d = one(limits, "k", kT0);
    EXPECT_EQ(d.status, LimitStatus::kDelayed);
    EXPECT_EQ(d.delay_ms, 500u);
    EXPECT_EQ(d.by, &limits[1]);
    // The other way round: the first limit's delay is the longest.
    LimitList swapped{limit_of(*b.zone, 10), limit_of(*a.zone, 10)};
    d = one(swapped, "x", kT0);
    EXPECT_EQ(d.status, LimitStatus::kPassed);
    d = one(swapped, "x", kT0);
    EXPECT_EQ(d.delay_ms, 500u);
    EXPECT_EQ(d.by, &swapped[0]);
    EXPECT_EQ(a.zone->stats().delayed, 0u);  // the zone that decided the delay counts it
    EXPECT_EQ(a.zone->stats().passed, 4u);
    EXPECT_EQ(b.zone->stats().delayed, 2u);
    // A nodelay limit never delays, whatever its excess.
    LimitList mixed{limit_of(*b.zone, 10, kNoDelay), limit_of(*a.zone, 10, kNoDelay)};
    EXPECT_EQ(one(mixed, "x", kT0).status, LimitStatus::kPassed);
}

TEST(LimitReqZoneTest, LastLimitWithoutKeyStillAccountsTheOthers) {
    TestZone a(10000, 1 << 20, "a");
    TestZone b(10000, 1 << 20, "b");
    LimitList limits{limit_of(*a.zone, 5), limit_of(*b.zone, 5)};
    std::vector<std::string_view> keys{"k", ""};
    EXPECT_EQ(check(limits, keys, kT0, false).status, LimitStatus::kPassed);
    Decision d = check(limits, keys, kT0, false);
    EXPECT_EQ(d.status, LimitStatus::kDelayed);
    EXPECT_EQ(d.by, &limits[0]);
    EXPECT_EQ(d.delay_ms, 100u);
    EXPECT_EQ(b.zone->stats().keys, 0u);
}

TEST(LimitReqZoneTest, DryRunDecidesAndCountsApart) {
    TestZone t(10000);
    LimitList limits{limit_of(*t.zone, 1)};
    EXPECT_EQ(one(limits, "k", kT0, true).status, LimitStatus::kPassed);
    EXPECT_EQ(one(limits, "k", kT0, true).status, LimitStatus::kDelayedDryRun);
    EXPECT_EQ(one(limits, "k", kT0, true).status, LimitStatus::kRejectedDryRun);
    ZoneStats s = t.zone->stats();
    EXPECT_EQ(s.passed, 1u);
    EXPECT_EQ(s.delayed, 0u);
    EXPECT_EQ(s.rejected, 0u);
    EXPECT_EQ(s.delayed_dry_run, 1u);
    EXPECT_EQ(s.rejected_dry_run, 1u);
}

TEST(LimitReqZoneTest, ClockGoingBackDrainsNothing) {
    TestZone t(10000);
    LimitList limits{limit_of(*t.zone, 5, kNoDelay)};
    one(limits, "k", kT0);
    EXPECT_EQ(one(limits, "k", kT0 - 500).excess, 1000u);  // counted as 0 ms
    EXPECT_EQ(t.zone->bucket("k")->last, kT0);             // and the stamp stays
}

TEST(LimitReqZoneTest, IdleDrainedKeysExpireForNewOnes) {
    TestZone t(10000);
    LimitList limits{limit_of(*t.zone, 5, kNoDelay)};
    one(limits, "old1", kT0);
    one(limits, "old2", kT0);
    one(limits, "old3", kT0);
    EXPECT_EQ(t.zone->stats().keys, 3u);
    // Within the minute nothing expires.
    one(limits, "new1", kT0 + 59999);
    EXPECT_EQ(t.zone->stats().keys, 4u);
    // A minute later a new key expires up to two of the oldest, drained ones (nginx).
    one(limits, "new2", kT0 + 60000);
    EXPECT_EQ(t.zone->stats().keys, 3u);
    EXPECT_FALSE(t.zone->bucket("old1"));
    EXPECT_FALSE(t.zone->bucket("old2"));
    EXPECT_TRUE(t.zone->bucket("old3"));
    // A key used again moved to the head of the LRU: the oldest is another.
    one(limits, "old3", kT0 + 60001);
    one(limits, "new3", kT0 + 200000);
    EXPECT_TRUE(t.zone->bucket("old3"));
    EXPECT_FALSE(t.zone->bucket("new1"));
}

TEST(LimitReqZoneTest, AFullZoneEvictsTheOldestKey) {
    TestZone t(10000, kMinZoneSize);
    LimitList limits{limit_of(*t.zone, 5, kNoDelay)};
    int i = 0;
    uint64_t keys = 0;
    for (; i < 100000; i++) {
        one(limits, client(i), kT0);
        uint64_t now_keys = t.zone->stats().keys;
        if (now_keys == keys) {
            break;  // full: a new key took the oldest one's place
        }
        keys = now_keys;
    }
    ASSERT_LT(i, 100000) << "a 32k zone never filled";
    EXPECT_GT(i, 100);
    EXPECT_FALSE(t.zone->bucket(client(0)));
    EXPECT_TRUE(t.zone->bucket(client(i)));
    EXPECT_EQ(t.zone->stats().rejected, 0u);
}

TEST(LimitReqZoneTest, AZoneOfKeysInUseRefusesANewKey) {
    // Keys held by requests in progress (between their lookup and their accounting) are never
    // evicted: with all of them held there is no room, and the request is refused.
    TestZone t(10000, kMinZoneSize);
    std::vector<Node*> held;
    for (int i = 0; i < 100000; i++) {
        uint64_t excess = 0;
        Node* n = nullptr;
        Zone::Lookup rc = t.zone->lookup(client(i), 5000, false, kT0, excess, n);
        if (rc == Zone::Lookup::kNoMemory) {
            break;
        }
        ASSERT_EQ(rc, Zone::Lookup::kAgain);
        held.push_back(n);
    }
    ASSERT_FALSE(held.empty());
    LimitList limits{limit_of(*t.zone, 5, kNoDelay)};
    Decision d = one(limits, "one-more", kT0);
    EXPECT_EQ(d.status, LimitStatus::kRejected);
    EXPECT_TRUE(d.no_memory);
    EXPECT_EQ(one(limits, "one-more", kT0, true).status, LimitStatus::kRejectedDryRun);
    for (Node* n : held) {
        t.zone->unhold(n);
    }
    EXPECT_EQ(one(limits, "one-more", kT0).status, LimitStatus::kPassed);
}

TEST(LimitReqZoneTest, BucketsAreSharedWithForkedProcesses) {
    TestZone t(10000);
    LimitList limits{limit_of(*t.zone, 2, kNoDelay)};
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        bool ok = one(limits, "shared", kT0).status == LimitStatus::kPassed &&
                  one(limits, "shared", kT0).status == LimitStatus::kPassed;
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_EQ(one(limits, "shared", kT0).status, LimitStatus::kPassed);  // excess 2
    EXPECT_EQ(one(limits, "shared", kT0).status, LimitStatus::kRejected);
    EXPECT_EQ(t.zone->stats().passed, 3u);
}

TEST(LimitReqZoneTest, ReloadKeepsBucketsAndRefusesAnotherKey) {
    TestZone t(10000);
    LimitList limits{limit_of(*t.zone, 1, kNoDelay)};
    one(limits, "k", kT0);
    one(limits, "k", kT0);

    // The next cycle's zone on the same segment (same name and size), another rate: the
    // bucket is there, drained at the new rate.
    Zone next("z", 1 << 20, "$binary_remote_addr", 1000, "t.conf:2");
    core::Status s = next.attach(t.shm, true);
    ASSERT_TRUE(s.is_ok()) << s.message();
    LimitList again{limit_of(next, 1, kNoDelay)};
    EXPECT_EQ(one(again, "k", kT0).status, LimitStatus::kRejected);
    EXPECT_EQ(one(again, "k", kT0 + 999).status, LimitStatus::kRejected);
    EXPECT_EQ(one(again, "k", kT0 + 1000).status, LimitStatus::kPassed);
    EXPECT_EQ(next.stats().passed, 3u);  // the statistics go on too

    Zone other("z", 1 << 20, "$remote_addr", 1000, "t.conf:3");
    s = other.attach(t.shm, true);
    EXPECT_EQ(s.message(),
              "limit_req \"z\" uses the \"$remote_addr\" key while previously it used the "
              "\"$binary_remote_addr\" key in t.conf:3");
}

TEST(LimitReqZoneTest, LogLevelsAndStatusNames) {
    EXPECT_EQ(delay_log_level(core::LogLevel::kError), core::LogLevel::kWarn);
    EXPECT_EQ(delay_log_level(core::LogLevel::kWarn), core::LogLevel::kNotice);
    EXPECT_EQ(delay_log_level(core::LogLevel::kNotice), core::LogLevel::kInfo);
    EXPECT_EQ(delay_log_level(core::LogLevel::kInfo), core::LogLevel::kInfo);
    EXPECT_EQ(status_name(LimitStatus::kPassed), "PASSED");
    EXPECT_EQ(status_name(LimitStatus::kDelayed), "DELAYED");
    EXPECT_EQ(status_name(LimitStatus::kRejected), "REJECTED");
    EXPECT_EQ(status_name(LimitStatus::kDelayedDryRun), "DELAYED_DRY_RUN");
    EXPECT_EQ(status_name(LimitStatus::kRejectedDryRun), "REJECTED_DRY_RUN");
    EXPECT_EQ(status_name(LimitStatus::kNone), "");
}

}  // namespace
}  // namespace limit_req
