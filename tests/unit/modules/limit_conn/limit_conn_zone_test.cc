// The limit_conn zone on a segment of its own: counting up to the limit, release and the
// key's node freed by its last holder, keys apart, a full zone refusing new keys (nginx),
// counts shared with a forked process, the statistics, and a reload: the zone's counts kept
// when it is reused, a changed key refused.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "core/shm.h"
#include "modules/limit_conn/limit_conn_zone.h"

namespace limit_conn {
namespace {

/// A zone attached to a fresh segment of `size` bytes, as the master's init does.
struct TestZone {
    std::shared_ptr<core::ShmSegment> seg;
    core::ShmZone shm;
    std::unique_ptr<Zone> zone;

    explicit TestZone(uint64_t size, std::string key = "$binary_remote_addr") {
        std::string err;
        seg = core::ShmSegment::create(size, &err);
        EXPECT_TRUE(seg) << err;
        core::ShmPool::format(*seg);
        shm.name = "z";
        shm.size = size;
        shm.segment = seg;
        zone = std::make_unique<Zone>("z", size, std::move(key), "t.conf:1");
        core::Status s = zone->attach(shm, false);
        EXPECT_TRUE(s.is_ok()) << s.message();
    }
};

TEST(LimitConnZoneTest, CountsUpToTheLimitThenRefuses) {
    TestZone t(1 << 20);
    Zone& z = *t.zone;
    Node* a = nullptr;
    Node* b = nullptr;
    Node* c = nullptr;
    EXPECT_EQ(z.acquire("k", 2, false, a), Outcome::kPassed);
    EXPECT_EQ(z.acquire("k", 2, false, b), Outcome::kPassed);
    EXPECT_EQ(a, b);  // one node per key
    EXPECT_EQ(z.holders("k"), 2u);
    EXPECT_EQ(z.acquire("k", 2, false, c), Outcome::kLimited);
    EXPECT_EQ(c, nullptr);
    z.release(a);
    EXPECT_EQ(z.holders("k"), 1u);
    EXPECT_EQ(z.acquire("k", 2, false, c), Outcome::kPassed);
    z.release(b);
    z.release(c);
    EXPECT_EQ(z.holders("k"), 0u);
    EXPECT_EQ(z.stats().keys, 0u);  // the last holder freed the node
    ZoneStats s = z.stats();
    EXPECT_EQ(s.passed, 3u);
    EXPECT_EQ(s.rejected, 1u);
    EXPECT_EQ(s.rejected_dry_run, 0u);
}

TEST(LimitConnZoneTest, KeysAreCountedApart) {
    TestZone t(1 << 20);
    Zone& z = *t.zone;
    std::vector<Node*> held;
    // Many keys (more than buckets: chains) with one holder each; a limit of 1 each.
    for (int i = 0; i < 5000; i++) {
        Node* n = nullptr;
        ASSERT_EQ(z.acquire("key-" + std::to_string(i), 1, false, n), Outcome::kPassed) << i;
        held.push_back(n);
    }
    EXPECT_EQ(z.stats().keys, 5000u);
    for (int i = 0; i < 5000; i += 7) {
        Node* n = nullptr;
        EXPECT_EQ(z.acquire("key-" + std::to_string(i), 1, false, n), Outcome::kLimited) << i;
    }
    for (Node* n : held) {
        z.release(n);
    }
    EXPECT_EQ(z.stats().keys, 0u);
    Node* n = nullptr;
    EXPECT_EQ(z.acquire("key-7", 1, false, n), Outcome::kPassed);
    z.release(n);
}

TEST(LimitConnZoneTest, LongestKeyFitsAndKeysDifferingInLength) {
    TestZone t(1 << 20);
    Zone& z = *t.zone;
    std::string longest(kMaxKeyLength, 'x');
    Node* a = nullptr;
    Node* b = nullptr;
    ASSERT_EQ(z.acquire(longest, 1, false, a), Outcome::kPassed);
    ASSERT_EQ(z.acquire(longest.substr(1), 1, false, b), Outcome::kPassed);  // another key
    EXPECT_EQ(z.holders(longest), 1u);
    z.release(a);
    z.release(b);
}

TEST(LimitConnZoneTest, FullZoneRefusesNewKeysButCountsKnownOnes) {
    TestZone t(kMinZoneSize);
    Zone& z = *t.zone;
    std::vector<Node*> held;
    Node* n = nullptr;
    int i = 0;
    for (; i < 100000; i++) {
        Outcome out = z.acquire("client-" + std::to_string(i), 10, false, n);
        if (out == Outcome::kNoMemory) {
            break;
        }
        ASSERT_EQ(out, Outcome::kPassed);
        held.push_back(n);
    }
    ASSERT_LT(i, 100000) << "a 32k zone never filled";
    EXPECT_GT(i, 100);  // most of the zone holds nodes
    EXPECT_EQ(z.stats().rejected, 1u);
    // A key already counted still gets its holds (no new node needed).
    EXPECT_EQ(z.acquire("client-0", 10, false, n), Outcome::kPassed);
    held.push_back(n);
    // Once keys go away, their room serves new keys.
    z.release(held[1]);
    EXPECT_EQ(z.acquire("new", 10, false, n), Outcome::kPassed);
    held[1] = n;
    for (Node* h : held) {
        z.release(h);
    }
    EXPECT_EQ(z.stats().keys, 0u);
}

TEST(LimitConnZoneTest, DryRunRefusalsAreCountedApart) {
    TestZone t(1 << 20);
    Zone& z = *t.zone;
    Node* a = nullptr;
    Node* b = nullptr;
    ASSERT_EQ(z.acquire("k", 1, true, a), Outcome::kPassed);
    EXPECT_EQ(z.acquire("k", 1, true, b), Outcome::kLimited);
    ZoneStats s = z.stats();
    EXPECT_EQ(s.passed, 1u);
    EXPECT_EQ(s.rejected, 0u);
    EXPECT_EQ(s.rejected_dry_run, 1u);
    z.release(a);
}

TEST(LimitConnZoneTest, CountsAreSharedWithForkedProcesses) {
    TestZone t(1 << 20);
    Zone& z = *t.zone;
    int to_child[2];
    int to_parent[2];
    ASSERT_EQ(pipe(to_child), 0);
    ASSERT_EQ(pipe(to_parent), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        Node* n = nullptr;
        char c = z.acquire("shared", 1, false, n) == Outcome::kPassed ? 'y' : 'n';
        (void)!write(to_parent[1], &c, 1);
        (void)!read(to_child[0], &c, 1);  // hold until told
        z.release(n);
        (void)!write(to_parent[1], &c, 1);
        _exit(0);
    }
    char c = 0;
    ASSERT_EQ(read(to_parent[0], &c, 1), 1);
    EXPECT_EQ(c, 'y');
    Node* n = nullptr;
    EXPECT_EQ(z.acquire("shared", 1, false, n), Outcome::kLimited);  // the child holds it
    (void)!write(to_child[1], &c, 1);
    ASSERT_EQ(read(to_parent[0], &c, 1), 1);
    EXPECT_EQ(z.acquire("shared", 1, false, n), Outcome::kPassed);
    z.release(n);
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (int fd : {to_child[0], to_child[1], to_parent[0], to_parent[1]}) {
        close(fd);
    }
}

TEST(LimitConnZoneTest, ReloadKeepsCountsAndRefusesAnotherKey) {
    TestZone t(1 << 20);
    Node* held = nullptr;
    ASSERT_EQ(t.zone->acquire("k", 1, false, held), Outcome::kPassed);

    // The next cycle's zone on the same segment (same name and size): the count is there.
    Zone next("z", 1 << 20, "$binary_remote_addr", "t.conf:2");
    core::Status s = next.attach(t.shm, true);
    ASSERT_TRUE(s.is_ok()) << s.message();
    Node* n = nullptr;
    EXPECT_EQ(next.acquire("k", 1, false, n), Outcome::kLimited);
    t.zone->release(held);  // a request of the old cycle ends
    EXPECT_EQ(next.acquire("k", 1, false, n), Outcome::kPassed);
    next.release(n);
    EXPECT_EQ(next.stats().passed, 2u);  // the statistics go on too

    Zone other("z", 1 << 20, "$remote_addr", "t.conf:3");
    s = other.attach(t.shm, true);
    EXPECT_EQ(s.message(),
              "limit_conn_zone \"z\" uses the \"$remote_addr\" key while previously it used the "
              "\"$binary_remote_addr\" key in t.conf:3");
}

TEST(LimitConnZoneTest, BucketCountGrowsWithTheZone) {
    EXPECT_GT(core::shm_table_buckets(kMinZoneSize), 0u);
    EXPECT_LT(core::shm_table_buckets(kMinZoneSize) * sizeof(void*), kMinZoneSize / 8);
    EXPECT_GT(core::shm_table_buckets(10 << 20), core::shm_table_buckets(1 << 20));
}

TEST(LimitConnZoneTest, StatusNames) {
    EXPECT_EQ(status_name(LimitStatus::kPassed), "PASSED");
    EXPECT_EQ(status_name(LimitStatus::kRejected), "REJECTED");
    EXPECT_EQ(status_name(LimitStatus::kRejectedDryRun), "REJECTED_DRY_RUN");
    EXPECT_EQ(status_name(LimitStatus::kNone), "");
}

}  // namespace
}  // namespace limit_conn
