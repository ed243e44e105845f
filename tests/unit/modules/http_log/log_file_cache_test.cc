// LogFileCache (open_log_file_cache in one worker): descriptors kept open and shared, max=
// closes the least recently used, inactive= closes files on a later lookup (two at most, as
// nginx), min_uses= keeps a file only once used that often, valid= reopens a moved file by
// name, clear() (reopen) forgets everything. Time is passed in, never slept.
#include "http/modules/log/log_file_cache.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "support/test_modules.h"

namespace mod::http_log {
namespace {

using namespace std::chrono_literals;
using Clock = LogFileCache::Clock;

class LogFileCacheTest : public ::testing::Test {
  protected:
    std::string path(const std::string& name) { return dir_.file(name); }
    /// Opens `name` through `cache` at `t`, writes `line` and closes what the cache does not
    /// keep, as the log module does.
    bool write(LogFileCache& cache, const std::string& name, std::string_view line,
               Clock::time_point t) {
        LogFileCache::Open f = cache.open(path(name), t);
        if (f.fd < 0) {
            return false;
        }
        bool ok = ::write(f.fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
        if (!f.kept) {
            ::close(f.fd);
        }
        return ok;
    }

    support::TempDir dir_;
    Clock::time_point t0_ = Clock::now();
};

TEST_F(LogFileCacheTest, KeepsOneDescriptorPerFile) {
    LogFileCache cache(10, 10s, 1, 60s);
    LogFileCache::Open a1 = cache.open(path("a.log"), t0_);
    LogFileCache::Open a2 = cache.open(path("a.log"), t0_ + 1s);
    ASSERT_GE(a1.fd, 0);
    EXPECT_TRUE(a1.kept);
    EXPECT_EQ(a1.fd, a2.fd);
    EXPECT_EQ(cache.open_descriptors(), 1u);
    struct stat st {};
    ASSERT_EQ(stat(path("a.log").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST_F(LogFileCacheTest, MaxClosesTheLeastRecentlyUsed) {
    LogFileCache cache(2, 1h, 1, 1h);
    ASSERT_TRUE(write(cache, "a.log", "a\n", t0_));
    ASSERT_TRUE(write(cache, "b.log", "b\n", t0_ + 1s));
    ASSERT_TRUE(write(cache, "a.log", "a\n", t0_ + 2s));  // b is now the oldest
    ASSERT_TRUE(write(cache, "c.log", "c\n", t0_ + 3s));
    EXPECT_TRUE(cache.holds(path("a.log")));
    EXPECT_FALSE(cache.holds(path("b.log")));
    EXPECT_TRUE(cache.holds(path("c.log")));
    EXPECT_EQ(cache.open_descriptors(), 2u);
    EXPECT_EQ(dir_.read("a.log"), "a\na\n");
}

TEST_F(LogFileCacheTest, InactiveFilesCloseOnALaterLookupTwoAtATime) {
    LogFileCache cache(10, 5s, 1, 1h);
    for (const char* name : {"a.log", "b.log", "c.log"}) {
        ASSERT_TRUE(write(cache, name, "x\n", t0_));
    }
    // Nothing closes by itself: only a lookup expires files.
    EXPECT_EQ(cache.open_descriptors(), 3u);
    ASSERT_TRUE(write(cache, "d.log", "d\n", t0_ + 5s));  // not longer than inactive
    EXPECT_EQ(cache.open_descriptors(), 4u);
    ASSERT_TRUE(write(cache, "d.log", "d\n", t0_ + 6s));
    EXPECT_FALSE(cache.holds(path("a.log")));
    EXPECT_FALSE(cache.holds(path("b.log")));
    EXPECT_TRUE(cache.holds(path("c.log")));  // two per lookup, as nginx
    ASSERT_TRUE(write(cache, "d.log", "d\n", t0_ + 7s));
    EXPECT_FALSE(cache.holds(path("c.log")));
    EXPECT_EQ(cache.open_descriptors(), 1u);
}

TEST_F(LogFileCacheTest, MinUsesKeepsAFileOnlyOnceUsedThatOften) {
    LogFileCache cache(10, 1h, 3, 1h);
    LogFileCache::Open f = cache.open(path("a.log"), t0_);
    EXPECT_FALSE(f.kept);
    ::close(f.fd);
    f = cache.open(path("a.log"), t0_ + 1s);
    EXPECT_FALSE(f.kept);
    ::close(f.fd);
    EXPECT_EQ(cache.open_descriptors(), 0u);
    f = cache.open(path("a.log"), t0_ + 2s);
    EXPECT_TRUE(f.kept);
    EXPECT_TRUE(cache.holds(path("a.log")));
}

TEST_F(LogFileCacheTest, AfterValidAMovedFileIsReopenedByName) {
    LogFileCache cache(10, 1h, 1, 30s);
    ASSERT_TRUE(write(cache, "a.log", "1\n", t0_));
    ASSERT_EQ(rename(path("a.log").c_str(), path("a.log.1").c_str()), 0);
    ASSERT_TRUE(write(cache, "a.log", "2\n", t0_ + 29s));  // still valid: the moved file
    ASSERT_TRUE(write(cache, "a.log", "3\n", t0_ + 31s));  // checked by name: a new file
    EXPECT_EQ(dir_.read("a.log.1"), "1\n2\n");
    EXPECT_EQ(dir_.read("a.log"), "3\n");
    // The same file under its name keeps its descriptor.
    int fd = cache.open(path("a.log"), t0_ + 31s).fd;
    EXPECT_EQ(cache.open(path("a.log"), t0_ + 70s).fd, fd);
}

TEST_F(LogFileCacheTest, ClearClosesEverything) {
    LogFileCache cache(10, 1h, 1, 1h);
    ASSERT_TRUE(write(cache, "a.log", "1\n", t0_));
    ASSERT_EQ(rename(path("a.log").c_str(), path("a.log.1").c_str()), 0);
    cache.clear();
    EXPECT_EQ(cache.open_descriptors(), 0u);
    ASSERT_TRUE(write(cache, "a.log", "2\n", t0_ + 1s));
    EXPECT_EQ(dir_.read("a.log.1"), "1\n");
    EXPECT_EQ(dir_.read("a.log"), "2\n");
}

TEST_F(LogFileCacheTest, AnErrorIsNotCached) {
    LogFileCache cache(10, 1h, 1, 1h);
    EXPECT_LT(cache.open(path("nodir/a.log"), t0_).fd, 0);
    EXPECT_EQ(errno, ENOENT);
    ASSERT_EQ(mkdir(path("nodir").c_str(), 0755), 0);
    EXPECT_TRUE(write(cache, "nodir/a.log", "x\n", t0_ + 1s));
}

}  // namespace
}  // namespace mod::http_log
