// Shared memory: segments shared with forked children, the size-class pool, and the robust
// process-shared mutex (a holder that dies must not deadlock the others).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/shm.h"

namespace core {
namespace {

/// Waits for `pid` with a generous deadline; kills it when it does not exit. Returns the
/// wait status, or -1 on timeout.
int wait_child(pid_t pid, std::chrono::seconds limit = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        int status = 0;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            return status;
        }
        if (std::chrono::steady_clock::now() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

std::unique_ptr<ShmSegment> segment(size_t size) {
    std::string err;
    auto seg = ShmSegment::create(size, &err);
    EXPECT_NE(seg, nullptr) << err;
    return seg;
}

TEST(ShmSegmentTest, CreateMapsZeroedMemory) {
    auto seg = segment(8192);
    ASSERT_NE(seg, nullptr);
    EXPECT_EQ(seg->size(), 8192u);
    ASSERT_NE(seg->base(), nullptr);
    const auto* p = static_cast<const unsigned char*>(seg->base());
    for (size_t i = 0; i < seg->size(); i++) {
        ASSERT_EQ(p[i], 0) << i;
    }
}

TEST(ShmSegmentTest, CreateFailureSetsError) {
    std::string err;
    auto seg = ShmSegment::create(0, &err);
    EXPECT_EQ(seg, nullptr);
    EXPECT_NE(err.find("mmap(MAP_ANON|MAP_SHARED, 0) failed"), std::string::npos) << err;
}

TEST(ShmSegmentTest, SharedWithForkedChild) {
    auto seg = segment(4096);
    ASSERT_NE(seg, nullptr);
    auto* word = static_cast<volatile int*>(seg->base());
    *word = 1;
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        int seen = *word;
        *word = 42;
        _exit(seen == 1 ? 0 : 1);
    }
    int status = wait_child(pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_EQ(*word, 42);
}

TEST(ShmPoolTest, FormatAndOf) {
    auto seg = segment(64 * 1024);
    ShmPool* pool = ShmPool::format(*seg);
    EXPECT_EQ(static_cast<void*>(pool), seg->base());
    EXPECT_EQ(ShmPool::of(*seg), pool);
    EXPECT_EQ(pool->capacity(), 64u * 1024);
    EXPECT_GT(pool->used(), 0u);  // the pool header
    EXPECT_LT(pool->used(), 1024u);
    EXPECT_EQ(pool->root, nullptr);
}

TEST(ShmPoolTest, AllocationsAreZeroedAlignedInsideAndDistinct) {
    auto seg = segment(256 * 1024);
    ShmPool* pool = ShmPool::format(*seg);
    auto* begin = static_cast<char*>(seg->base());
    auto* end = begin + seg->size();
    std::vector<std::pair<char*, size_t>> blocks;
    for (size_t n : {1, 7, 16, 17, 100, 1000, 4096, 5000}) {
        auto* p = static_cast<char*>(pool->alloc(n));
        ASSERT_NE(p, nullptr) << n;
        EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 16, 0u) << n;
        EXPECT_GE(p, begin);
        EXPECT_LE(p + n, end);
        for (size_t i = 0; i < n; i++) {
            ASSERT_EQ(p[i], 0) << n;
        }
        memset(p, 0xab, n);
        blocks.emplace_back(p, n);
    }
    // No two blocks overlap.
    for (size_t i = 0; i < blocks.size(); i++) {
        for (size_t j = i + 1; j < blocks.size(); j++) {
            auto [a, an] = blocks[i];
            auto [b, bn] = blocks[j];
            EXPECT_TRUE(a + an <= b || b + bn <= a) << i << " " << j;
        }
    }
}

TEST(ShmPoolTest, FreedBlockIsReusedZeroed) {
    auto seg = segment(64 * 1024);
    ShmPool* pool = ShmPool::format(*seg);
    auto* p = static_cast<char*>(pool->alloc(100));
    ASSERT_NE(p, nullptr);
    memset(p, 0x5a, 100);
    size_t used = pool->used();
    pool->free(p);
    auto* q = static_cast<char*>(pool->alloc(90));  // same size class
    EXPECT_EQ(q, p);
    EXPECT_EQ(pool->used(), used);  // no new memory taken
    for (size_t i = 0; i < 90; i++) {
        ASSERT_EQ(q[i], 0) << i;
    }
    // Another size class does not take it.
    pool->free(q);
    auto* r = pool->alloc(1000);
    EXPECT_NE(r, p);
}

TEST(ShmPoolTest, FreeListIsPerSizeClassAndLifo) {
    auto seg = segment(64 * 1024);
    ShmPool* pool = ShmPool::format(*seg);
    void* a = pool->alloc(40);
    void* b = pool->alloc(40);
    void* c = pool->alloc(40);
    pool->free(a);
    pool->free(c);
    EXPECT_EQ(pool->alloc(40), c);
    EXPECT_EQ(pool->alloc(40), a);
    (void)b;
}

TEST(ShmPoolTest, ReturnsNullWhenFull) {
    auto seg = segment(16 * 1024);
    ShmPool* pool = ShmPool::format(*seg);
    EXPECT_EQ(pool->alloc(16 * 1024), nullptr);  // bigger than the zone
    int count = 0;
    while (pool->alloc(1000) != nullptr) {  // 1 KiB blocks
        count++;
        ASSERT_LT(count, 100);
    }
    EXPECT_GT(count, 10);
    EXPECT_LE(pool->used(), pool->capacity());
    EXPECT_EQ(pool->alloc(1000), nullptr);
    // Smaller classes may still fit in what is left; each answer is inside the zone or null.
    void* small = pool->alloc(8);
    if (small != nullptr) {
        EXPECT_LT(static_cast<char*>(small), static_cast<char*>(seg->base()) + seg->size());
    }
}

TEST(ShmPoolTest, HugeRequestsReturnNull) {
    auto seg = segment(64 * 1024);
    ShmPool* pool = ShmPool::format(*seg);
    EXPECT_EQ(pool->alloc(size_t{1} << 47), nullptr);
    EXPECT_EQ(pool->alloc(size_t{1} << 40), nullptr);
    // n + header must not wrap around to a small block.
    EXPECT_EQ(pool->alloc(SIZE_MAX), nullptr);
    EXPECT_EQ(pool->alloc(SIZE_MAX - 8), nullptr);
}

TEST(ShmPoolTest, ZeroSizeAllocationDoesNotCorruptItsNeighbour) {
    auto seg = segment(64 * 1024);
    ShmPool* pool = ShmPool::format(*seg);
    void* empty = pool->alloc(0);
    auto* next = static_cast<char*>(pool->alloc(0));
    void* third = pool->alloc(0);
    ASSERT_NE(empty, nullptr);
    ASSERT_NE(next, nullptr);
    ASSERT_NE(third, nullptr);
    pool->free(empty);
    pool->free(next);
    // Both blocks went back to their free list: two zero-size allocations take them again
    // without touching fresh memory.
    size_t used = pool->used();
    void* x = pool->alloc(0);
    void* y = pool->alloc(0);
    EXPECT_EQ(pool->used(), used);
    EXPECT_TRUE((x == empty && y == next) || (x == next && y == empty));
}

TEST(ShmPoolTest, InvalidFreeIsIgnored) {
    auto seg = segment(64 * 1024);
    ShmPool* pool = ShmPool::format(*seg);
    pool->free(nullptr);
    void* a = pool->alloc(64);
    pool->free(a);
    pool->free(a);  // double free: the header magic is gone, so it is refused
    void* b = pool->alloc(64);
    void* c = pool->alloc(64);
    EXPECT_EQ(b, a);
    EXPECT_NE(c, a);  // the block was not put on the free list twice
}

TEST(ShmPoolTest, AllocObjectConstructs) {
    struct Obj {
        int x = 7;
        char s[5] = "abcd";
    };
    auto seg = segment(64 * 1024);
    ShmPool* pool = ShmPool::format(*seg);
    Obj* o = pool->alloc_object<Obj>();
    ASSERT_NE(o, nullptr);
    EXPECT_EQ(o->x, 7);
    EXPECT_STREQ(o->s, "abcd");
}

TEST(ShmPoolTest, ChildAllocationsAreVisibleToTheParent) {
    auto seg = segment(64 * 1024);
    ShmPool* pool = ShmPool::format(*seg);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        auto* p = static_cast<int*>(pool->alloc(sizeof(int)));
        if (p == nullptr) {
            _exit(1);
        }
        *p = 1234;
        pool->root = p;
        _exit(0);
    }
    int status = wait_child(pid);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
    ASSERT_NE(pool->root, nullptr);
    EXPECT_EQ(*static_cast<int*>(pool->root), 1234);
    // The parent's next allocation does not hand out the child's block.
    EXPECT_NE(pool->alloc(sizeof(int)), pool->root);
}

TEST(ShmPoolTest, ConcurrentProcessesNeverShareABlock) {
    auto seg = segment(1024 * 1024);
    ShmPool* pool = ShmPool::format(*seg);
    constexpr int kChildren = 4;
    constexpr int kEach = 200;
    // Every child records its blocks in a table in the zone.
    auto* table = static_cast<void**>(pool->alloc(sizeof(void*) * kChildren * kEach));
    ASSERT_NE(table, nullptr);
    std::vector<pid_t> pids;
    for (int c = 0; c < kChildren; c++) {
        pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            for (int i = 0; i < kEach; i++) {
                void* p = pool->alloc(32);
                if (p == nullptr) {
                    _exit(1);
                }
                table[c * kEach + i] = p;
            }
            _exit(0);
        }
        pids.push_back(pid);
    }
    for (pid_t pid : pids) {
        int status = wait_child(pid);
        ASSERT_TRUE(WIFEXITED(status));
        EXPECT_EQ(WEXITSTATUS(status), 0);
    }
    std::set<void*> seen(table, table + kChildren * kEach);
    EXPECT_EQ(seen.size(), static_cast<size_t>(kChildren * kEach));
    EXPECT_EQ(seen.count(nullptr), 0u);
}

// ---- ShmMutex ----

TEST(ShmMutexTest, LockUnlockTryLock) {
    auto seg = segment(4096);
    auto* m = new (seg->base()) ShmMutex();
    m->init();
    EXPECT_TRUE(m->lock());
    m->unlock();
    EXPECT_TRUE(m->try_lock());
    m->unlock();
    { ShmLockGuard guard(*m); }
    EXPECT_TRUE(m->try_lock());
    m->unlock();
}

TEST(ShmMutexTest, TryLockFailsWhileAnotherProcessHoldsIt) {
    auto seg = segment(4096);
    auto* m = new (seg->base()) ShmMutex();
    m->init();
    auto* flags = reinterpret_cast<volatile int*>(static_cast<char*>(seg->base()) + 1024);
    flags[0] = 0;  // child holds the lock
    flags[1] = 0;  // parent is done checking
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        m->lock();
        flags[0] = 1;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (flags[1] == 0 && std::chrono::steady_clock::now() < deadline) {
            usleep(1000);
        }
        m->unlock();
        _exit(0);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (flags[0] == 0 && std::chrono::steady_clock::now() < deadline) {
        usleep(1000);
    }
    ASSERT_EQ(flags[0], 1);
    EXPECT_FALSE(m->try_lock());
    flags[1] = 1;
    int status = wait_child(pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_TRUE(m->lock());  // released normally: no owner died
    m->unlock();
}

TEST(ShmMutexTest, OwnerDyingWithTheLockDoesNotDeadlock) {
    auto seg = segment(4096);
    auto* m = new (seg->base()) ShmMutex();
    m->init();
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        m->lock();
        _exit(0);  // dies holding it
    }
    int status = wait_child(pid);
    ASSERT_TRUE(WIFEXITED(status));

    // Lock in a forked checker, so that a deadlock fails the test instead of hanging it.
    pid_t checker = fork();
    ASSERT_GE(checker, 0);
    if (checker == 0) {
        bool clean = m->lock();  // false: the previous owner died
        m->unlock();
        bool again = m->lock();  // consistent again: a normal lock
        m->unlock();
        _exit(!clean && again ? 0 : 1);
    }
    status = wait_child(checker);
    ASSERT_NE(status, -1) << "lock() deadlocked after its owner died";
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    // And in this process too.
    EXPECT_TRUE(m->lock());
    m->unlock();
}

TEST(ShmMutexTest, TryLockTakesOverFromADeadOwner) {
    auto seg = segment(4096);
    auto* m = new (seg->base()) ShmMutex();
    m->init();
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        m->lock();
        _exit(0);
    }
    ASSERT_TRUE(WIFEXITED(wait_child(pid)));
    EXPECT_TRUE(m->try_lock());
    m->unlock();
    EXPECT_TRUE(m->try_lock());
    m->unlock();
}

TEST(ShmMutexTest, PoolLockRecoversFromAChildKilledInside) {
    auto seg = segment(64 * 1024);
    ShmPool* pool = ShmPool::format(*seg);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        pool->mutex().lock();
        raise(SIGKILL);
        _exit(1);
    }
    int status = wait_child(pid);
    ASSERT_TRUE(WIFSIGNALED(status));
    pid_t checker = fork();
    ASSERT_GE(checker, 0);
    if (checker == 0) {
        _exit(pool->alloc(10) != nullptr ? 0 : 1);
    }
    status = wait_child(checker);
    ASSERT_NE(status, -1) << "alloc() deadlocked on a mutex whose owner was killed";
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

}  // namespace
}  // namespace core
