// The keys zone of the cache on a segment of its own: lookup counts uses and makes entries,
// one claim at a time (a claim past its age is taken over), stored() ends the claim and counts
// the size, the manager's inactive pass and max_size shrink in least-recently-used order, the
// loader's entries, a reload keeping the index, and a full zone making room.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/shm.h"
#include "modules/cache/cache_file.h"
#include "modules/cache/cache_zone.h"

namespace mod::cache {
namespace {

struct TestZone {
    std::shared_ptr<core::ShmSegment> seg;
    core::ShmZone shm;
    Zone zone;

    explicit TestZone(size_t size = 1 << 20) {
        std::string err;
        seg = core::ShmSegment::create(size, &err);
        EXPECT_TRUE(seg) << err;
        core::ShmPool::format(*seg);
        shm.name = "c";
        shm.size = size;
        shm.segment = seg;
        shm.where = "t.conf:1";
        core::Status s = zone.attach(shm, false);
        EXPECT_TRUE(s.is_ok()) << s.message();
    }
};

Md5 key(int i) {
    return md5_of("key" + std::to_string(i));
}

TEST(CacheZoneTest, LookupMakesEntryAndCountsUses) {
    TestZone t;
    Found f;
    ASSERT_TRUE(t.zone.lookup(key(1), 100, f));
    EXPECT_FALSE(f.exists);
    EXPECT_EQ(f.uses, 1u);
    ASSERT_TRUE(t.zone.lookup(key(1), 101, f));
    EXPECT_EQ(f.uses, 2u);
    EXPECT_EQ(t.zone.entries(), 1u);
    EXPECT_FALSE(t.zone.peek(key(2), f));
}

TEST(CacheZoneTest, OneClaimAtATimeUntilItsAge) {
    TestZone t;
    EXPECT_TRUE(t.zone.try_claim(key(1), 1000, 5000));
    EXPECT_FALSE(t.zone.try_claim(key(1), 2000, 5000));
    Found f;
    ASSERT_TRUE(t.zone.lookup(key(1), 2, f));
    EXPECT_TRUE(f.updating);
    // Past lock_age, another request may take it over.
    EXPECT_TRUE(t.zone.try_claim(key(1), 6001, 5000));
    t.zone.release(key(1));
    EXPECT_TRUE(t.zone.try_claim(key(1), 6002, 5000));
}

TEST(CacheZoneTest, StoredEndsClaimAndCountsSize) {
    TestZone t;
    ASSERT_TRUE(t.zone.try_claim(key(1), 1000, 5000));
    t.zone.stored(key(1), 500, 8192, 100);
    Found f;
    ASSERT_TRUE(t.zone.peek(key(1), f));
    EXPECT_TRUE(f.exists);
    EXPECT_FALSE(f.updating);
    EXPECT_EQ(f.valid_until, 500);
    EXPECT_EQ(t.zone.size(), 8192u);
    t.zone.stored(key(1), 600, 4096, 101);  // replaced: the size is the new file's
    EXPECT_EQ(t.zone.size(), 4096u);
    EXPECT_TRUE(t.zone.remove(key(1)));
    EXPECT_EQ(t.zone.size(), 0u);
    EXPECT_EQ(t.zone.entries(), 0u);
    EXPECT_FALSE(t.zone.remove(key(1)));
}

TEST(CacheZoneTest, InactiveEntriesGoOldestFirst) {
    TestZone t;
    for (int i = 0; i < 4; i++) {
        t.zone.stored(key(i), 10000, 4096, 100 + i);
        Found f;
        t.zone.lookup(key(i), 100 + i, f);
    }
    std::vector<Md5> unlinked;
    // inactive 10s at 111: used at 100 and 101 are gone, 102 and 103 stay.
    size_t n = t.zone.expire_inactive(111, 10, [&](const Md5& m) { unlinked.push_back(m); });
    EXPECT_EQ(n, 2u);
    ASSERT_EQ(unlinked.size(), 2u);
    EXPECT_EQ(unlinked[0], key(0));
    EXPECT_EQ(unlinked[1], key(1));
    EXPECT_EQ(t.zone.entries(), 2u);
    EXPECT_EQ(t.zone.size(), 8192u);
}

TEST(CacheZoneTest, ShrinkRemovesLeastRecentlyUsedToMaxSize) {
    TestZone t;
    for (int i = 0; i < 5; i++) {
        t.zone.stored(key(i), 10000, 4096, 100);
        Found f;
        t.zone.lookup(key(i), 100, f);
    }
    Found f;
    t.zone.lookup(key(0), 101, f);  // key 0 is the most recently used now
    std::vector<Md5> unlinked;
    t.zone.shrink(
        3 * 4096, [] { return false; }, [&](const Md5& m) { unlinked.push_back(m); });
    ASSERT_EQ(unlinked.size(), 2u);
    EXPECT_EQ(unlinked[0], key(1));
    EXPECT_EQ(unlinked[1], key(2));
    EXPECT_EQ(t.zone.size(), 3u * 4096);
    EXPECT_TRUE(t.zone.peek(key(0), f));
}

TEST(CacheZoneTest, ShrinkSkipsEntriesBeingFilled) {
    TestZone t;
    t.zone.stored(key(1), 10000, 4096, 100);
    ASSERT_TRUE(t.zone.try_claim(key(1), 1000, 5000));  // being refreshed
    t.zone.stored(key(2), 10000, 4096, 101);
    std::vector<Md5> unlinked;
    t.zone.shrink(
        1, [] { return false; }, [&](const Md5& m) { unlinked.push_back(m); });
    ASSERT_EQ(unlinked.size(), 1u);
    EXPECT_EQ(unlinked[0], key(2));
}

TEST(CacheZoneTest, LoaderAddsAtTheOldEndAndKeepsKnownEntries) {
    TestZone t;
    t.zone.stored(key(1), 10000, 4096, 100);
    EXPECT_TRUE(t.zone.add_loaded(key(1), 1, 1, 1));  // known: unchanged
    EXPECT_TRUE(t.zone.add_loaded(key(2), 20000, 8192, 50));
    Found f;
    ASSERT_TRUE(t.zone.peek(key(1), f));
    EXPECT_EQ(f.valid_until, 10000);
    ASSERT_TRUE(t.zone.peek(key(2), f));
    EXPECT_EQ(f.valid_until, 20000);
    EXPECT_TRUE(f.exists);
    EXPECT_EQ(t.zone.size(), 4096u + 8192u);
    std::vector<Md5> unlinked;
    t.zone.shrink(
        8192, [] { return false; }, [&](const Md5& m) { unlinked.push_back(m); });
    ASSERT_EQ(unlinked.size(), 1u);
    EXPECT_EQ(unlinked[0], key(2));  // the loaded one was the least recently used
    EXPECT_FALSE(t.zone.loaded());
    t.zone.set_loaded();
    EXPECT_TRUE(t.zone.loaded());
}

TEST(CacheZoneTest, ReloadKeepsTheIndex) {
    TestZone t;
    t.zone.stored(key(7), 10000, 4096, 100);
    t.zone.counters().hits += 3;
    Zone again;
    ASSERT_TRUE(again.attach(t.shm, true).is_ok());
    Found f;
    ASSERT_TRUE(again.peek(key(7), f));
    EXPECT_TRUE(f.exists);
    EXPECT_EQ(again.counters().hits.load(), 3u);
}

TEST(CacheZoneTest, FullZoneDropsUnusedEntriesWithoutFiles) {
    TestZone t(64 * 1024);
    Found f;
    int made = 0;
    for (int i = 0; i < 5000; i++) {
        if (!t.zone.lookup(key(i), 100, f)) {
            break;
        }
        made++;
    }
    EXPECT_EQ(made, 5000);  // room made by dropping the oldest entries without a file
    EXPECT_LT(t.zone.entries(), 5000u);
}

TEST(CacheZoneTest, FullZoneForcesTheOldestFileOut) {
    TestZone t(64 * 1024);
    std::vector<Md5> unlinked;
    t.zone.set_unlink([&](const Md5& m) { unlinked.push_back(m); });
    int stored = 0;
    for (int i = 0; i < 5000 && unlinked.empty(); i++) {
        t.zone.stored(key(i), 10000, 4096, 100 + i);
        stored++;
    }
    // Once full, the next entry made room by dropping the least recently used file.
    ASSERT_EQ(unlinked.size(), 1u);
    EXPECT_EQ(unlinked[0], key(0));
    Found f;
    EXPECT_TRUE(t.zone.peek(key(stored - 1), f));
    EXPECT_FALSE(t.zone.peek(key(0), f));
    EXPECT_TRUE(t.zone.lookup(key(99999), 200, f));  // a lookup makes room the same way
    EXPECT_EQ(unlinked.size(), 2u);
    EXPECT_EQ(unlinked[1], key(1));
}

}  // namespace
}  // namespace mod::cache
