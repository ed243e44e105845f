// ev::Buffer: the byte buffer of connections.
#include "event/buffer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace ev {
namespace {

TEST(BufferTest, StartsEmptyWithoutStorage) {
    Buffer b;
    EXPECT_TRUE(b.empty());
    EXPECT_EQ(b.size(), 0u);
    EXPECT_EQ(b.capacity(), 0u);
    EXPECT_EQ(b.view(), "");
}

TEST(BufferTest, AppendAndConsume) {
    Buffer b;
    b.append("hello ");
    b.append("world");
    EXPECT_EQ(b.view(), "hello world");
    EXPECT_EQ(b.size(), 11u);
    EXPECT_GE(b.capacity(), 11u);
    b.consume(6);
    EXPECT_EQ(b.view(), "world");
    EXPECT_EQ(std::string(b.data(), b.size()), "world");
    b.consume(5);
    EXPECT_TRUE(b.empty());
    EXPECT_EQ(b.view(), "");
}

TEST(BufferTest, WritableAndCommit) {
    Buffer b;
    auto w = b.writable(10);
    ASSERT_GE(w.size(), 10u);
    memcpy(w.data(), "abc", 3);
    b.commit(3);
    EXPECT_EQ(b.view(), "abc");
    auto w2 = b.writable(1);
    EXPECT_EQ(w2.data(), b.data() + 3);  // continues after the data
    EXPECT_EQ(w2.size(), b.capacity() - 3);
}

TEST(BufferTest, GrowsKeepingTheData) {
    Buffer b;
    std::string big(5000, 'x');
    b.append("head");
    b.append(big);
    EXPECT_EQ(b.size(), 5004u);
    EXPECT_GE(b.capacity(), 5004u);
    EXPECT_EQ(b.view().substr(0, 4), "head");
    EXPECT_EQ(b.view().substr(4), big);
}

TEST(BufferTest, CompactsInsteadOfGrowingWhenTheFrontIsFree) {
    Buffer b(1024);
    ASSERT_EQ(b.capacity(), 1024u);
    b.append(std::string(1000, 'a'));
    b.append("tail");
    b.consume(1000);
    EXPECT_EQ(b.view(), "tail");
    auto w = b.writable(500);  // 20 bytes free at the end, 1000 at the front
    EXPECT_GE(w.size(), 500u);
    EXPECT_EQ(b.capacity(), 1024u);
    EXPECT_EQ(b.view(), "tail");
    EXPECT_EQ(w.data(), b.data() + 4);
}

TEST(BufferTest, ConsumingEverythingRewinds) {
    Buffer b(1024);
    b.append(std::string(1000, 'a'));
    b.consume(1000);
    auto w = b.writable(1000);
    EXPECT_EQ(b.capacity(), 1024u);
    EXPECT_GE(w.size(), 1000u);
}

TEST(BufferTest, ClearKeepsStorage) {
    Buffer b;
    b.append("data");
    size_t cap = b.capacity();
    b.clear();
    EXPECT_TRUE(b.empty());
    EXPECT_EQ(b.capacity(), cap);
}

TEST(BufferTest, ReleaseIfEmpty) {
    Buffer b;
    b.append("data");
    b.release_if_empty();
    EXPECT_GT(b.capacity(), 0u);  // not empty: kept
    EXPECT_EQ(b.view(), "data");
    b.consume(4);
    b.release_if_empty();
    EXPECT_EQ(b.capacity(), 0u);
    b.append("again");
    EXPECT_EQ(b.view(), "again");
}

TEST(BufferTest, ReserveGuaranteesCapacity) {
    Buffer b;
    b.reserve(3000);
    EXPECT_GE(b.capacity(), 3000u);
    b.append("abc");
    b.reserve(10000);
    EXPECT_GE(b.capacity(), 10000u);
    EXPECT_EQ(b.view(), "abc");
    size_t cap = b.capacity();
    b.reserve(10);  // never shrinks
    EXPECT_EQ(b.capacity(), cap);
}

TEST(BufferTest, SizedConstructor) {
    Buffer b(5000);
    EXPECT_GE(b.capacity(), 5000u);
    EXPECT_TRUE(b.empty());
}

TEST(BufferTest, ManySmallAppendsAndConsumes) {
    Buffer b;
    std::string expect;
    for (int i = 0; i < 2000; i++) {
        std::string piece = std::to_string(i) + ",";
        b.append(piece);
        expect += piece;
        if (i % 3 == 0) {
            b.consume(2);
            expect.erase(0, 2);
        }
    }
    EXPECT_EQ(b.view(), expect);
}

TEST(BufferTest, ReleasedStorageIsReusedForTheNextBufferOfThatSize) {
    const char* first;
    {
        Buffer b;
        b.append("request one");
        first = b.data();
        b.consume(b.size());
        b.release_if_empty();
        EXPECT_EQ(b.capacity(), 0u);
        Buffer c;
        c.append("request two");  // the block b gave back
        EXPECT_EQ(c.data(), first);
        EXPECT_EQ(c.view(), "request two");
    }
    // A size with no free block of its own gets new storage.
    Buffer big(64 * 1024);
    EXPECT_NE(big.data(), first);
    EXPECT_GE(big.capacity(), 64u * 1024);
}

TEST(BufferTest, MoveTakesTheStorageAndLeavesAnEmptyBuffer) {
    Buffer a;
    a.append("payload");
    Buffer b(std::move(a));
    EXPECT_EQ(b.view(), "payload");
    EXPECT_EQ(a.capacity(), 0u);  // NOLINT(bugprone-use-after-move): the moved-from state
    EXPECT_TRUE(a.empty());
    Buffer c;
    c.append("old");
    c = std::move(b);
    EXPECT_EQ(c.view(), "payload");
    a.append("again");  // a moved-from buffer is usable
    EXPECT_EQ(a.view(), "again");
}

TEST(BufferTest, BlocksOfOddSizesGoToTheHeap) {
    char* b = blocks::take(1500);
    memset(b, 1, 1500);
    blocks::give(b, 1500);
    char* huge = blocks::take(1 << 20);
    huge[(1 << 20) - 1] = 1;
    blocks::give(huge, 1 << 20);
}

}  // namespace
}  // namespace ev
