// The shared TLS session cache: store, lookup, replace, remove, expiry, eviction of the oldest
// when the zone is full, bad ids, and a session stored by another process.
#include "tls/session_cache.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

namespace tls {
namespace {

std::vector<uint8_t> bytes(std::string_view s) {
    return std::vector<uint8_t>(s.begin(), s.end());
}

class SessionCacheTest : public ::testing::Test {
  protected:
    void make(size_t zone_size) {
        std::string err;
        seg_ = core::ShmSegment::create(zone_size, &err);
        ASSERT_NE(seg_, nullptr) << err;
        pool_ = core::ShmPool::format(*seg_);
        ASSERT_TRUE(SessionCache::format(*pool_));
        cache_ = std::make_unique<SessionCache>(*pool_);
    }
    void SetUp() override { make(256 * 1024); }

    bool store(std::string_view id, std::string_view der, int64_t expire, int64_t now = 100) {
        return cache_->store(bytes(id), bytes(der), expire, now);
    }
    std::string lookup(std::string_view id, int64_t now = 100) {
        auto v = cache_->lookup(bytes(id), now);
        return v ? *v : "<none>";
    }

    std::unique_ptr<core::ShmSegment> seg_;
    core::ShmPool* pool_ = nullptr;
    std::unique_ptr<SessionCache> cache_;
};

TEST_F(SessionCacheTest, StoresAndLooksUp) {
    EXPECT_TRUE(store("id-1", "session one", 400));
    EXPECT_TRUE(store("id-2", "session two", 400));
    EXPECT_EQ(lookup("id-1"), "session one");
    EXPECT_EQ(lookup("id-2"), "session two");
    EXPECT_EQ(cache_->size(), 2u);
}

TEST_F(SessionCacheTest, UnknownIdMisses) {
    EXPECT_TRUE(store("id-1", "x", 400));
    EXPECT_EQ(lookup("id-3"), "<none>");
    EXPECT_EQ(lookup("id-"), "<none>");  // a prefix is another id
}

TEST_F(SessionCacheTest, SameIdReplaces) {
    EXPECT_TRUE(store("id", "old", 400));
    EXPECT_TRUE(store("id", "new", 400));
    EXPECT_EQ(lookup("id"), "new");
    EXPECT_EQ(cache_->size(), 1u);
}

TEST_F(SessionCacheTest, Removes) {
    EXPECT_TRUE(store("a", "1", 400));
    EXPECT_TRUE(store("b", "2", 400));
    cache_->remove(bytes("a"));
    cache_->remove(bytes("missing"));
    EXPECT_EQ(lookup("a"), "<none>");
    EXPECT_EQ(lookup("b"), "2");
    EXPECT_EQ(cache_->size(), 1u);
}

TEST_F(SessionCacheTest, ExpiredSessionIsNotReturned) {
    EXPECT_TRUE(store("a", "1", 400));
    EXPECT_EQ(lookup("a", 399), "1");
    EXPECT_EQ(lookup("a", 400), "<none>");  // expired at its expiry time
    EXPECT_EQ(cache_->size(), 0u);          // and dropped
}

TEST_F(SessionCacheTest, StoreDropsExpiredOldest) {
    EXPECT_TRUE(store("old-1", "1", 150, 100));
    EXPECT_TRUE(store("old-2", "2", 150, 100));
    EXPECT_TRUE(store("live", "3", 900, 100));
    EXPECT_EQ(cache_->size(), 3u);
    EXPECT_TRUE(store("new", "4", 900, 200));  // at 200 both old ones have expired
    EXPECT_EQ(cache_->size(), 2u);
    EXPECT_EQ(lookup("live", 200), "3");
    EXPECT_EQ(lookup("new", 200), "4");
}

TEST_F(SessionCacheTest, FullZoneEvictsTheOldest) {
    make(64 * 1024);
    std::string der(1500, 'x');
    for (int i = 0; i < 200; i++) {
        ASSERT_TRUE(store("s" + std::to_string(i), der + std::to_string(i), 10000)) << i;
    }
    EXPECT_LT(cache_->size(), 200u);
    EXPECT_GT(cache_->size(), 5u);
    EXPECT_EQ(lookup("s0"), "<none>");
    EXPECT_EQ(lookup("s199"), der + "199");
}

TEST_F(SessionCacheTest, RejectsBadIdsAndHugeSessions) {
    EXPECT_FALSE(store("", "x", 400));
    EXPECT_FALSE(store(std::string(33, 'i'), "x", 400));
    EXPECT_TRUE(store(std::string(32, 'i'), "x", 400));
    EXPECT_FALSE(store("big", std::string(512 * 1024, 'x'), 400));
    EXPECT_EQ(lookup(std::string(33, 'i')), "<none>");
}

TEST_F(SessionCacheTest, TooSmallZoneIsRefused) {
    std::string err;
    auto seg = core::ShmSegment::create(16 * 1024, &err);
    ASSERT_NE(seg, nullptr) << err;
    EXPECT_FALSE(SessionCache::format(*core::ShmPool::format(*seg)));
}

TEST_F(SessionCacheTest, SessionStoredByAnotherProcess) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        SessionCache child(*pool_);
        _exit(child.store(bytes("from-child"), bytes("worker 2"), 400, 100) ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_EQ(lookup("from-child"), "worker 2");
}

}  // namespace
}  // namespace tls
