// The reload result file (`<pid file>.reload`) that `halo -s reload` reads: its text round
// trips, anything else is rejected, and it is replaced atomically.
#include "core/reload_result.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "support/harness.h"

namespace core {
namespace {

ReloadResult sample() {
    ReloadResult r;
    r.pid = 4242;
    r.generation = 7;
    r.started_ns = 123456789012345;
    r.ok = false;
    r.message = "bind() to 127.0.0.1:80 failed (98: Address already in use) in /x/halo.conf:12";
    return r;
}

void expect_same(const ReloadResult& a, const ReloadResult& b) {
    EXPECT_EQ(a.pid, b.pid);
    EXPECT_EQ(a.single, b.single);
    EXPECT_EQ(a.generation, b.generation);
    EXPECT_EQ(a.started_ns, b.started_ns);
    EXPECT_EQ(a.ok, b.ok);
    EXPECT_EQ(a.message, b.message);
}

TEST(ReloadResultTest, PathIsNextToThePidFile) {
    EXPECT_EQ(reload_result_path("/usr/local/halo/logs/halo.pid"),
              "/usr/local/halo/logs/halo.pid.reload");
}

TEST(ReloadResultTest, FailedResultRoundTrips) {
    ReloadResult r = sample();
    auto back = decode_reload_result(encode_reload_result(r));
    ASSERT_TRUE(back);
    expect_same(*back, r);
}

TEST(ReloadResultTest, OkSingleResultRoundTrips) {
    ReloadResult r;
    r.pid = 1;
    r.single = true;
    auto back = decode_reload_result(encode_reload_result(r));
    ASSERT_TRUE(back);
    expect_same(*back, r);
}

TEST(ReloadResultTest, MessageKeepsNewlinesAndSpaces) {
    ReloadResult r = sample();
    r.message = "first line\nsecond  line \n";
    auto back = decode_reload_result(encode_reload_result(r));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->message, r.message);
}

TEST(ReloadResultTest, RejectsWhatItDidNotWrite) {
    const std::string good = encode_reload_result(sample());
    EXPECT_FALSE(decode_reload_result(""));
    EXPECT_FALSE(decode_reload_result("4242\n"));                              // a pid file
    EXPECT_FALSE(decode_reload_result(good.substr(0, good.find("message"))));  // cut short
    auto replaced = [&](std::string_view from, std::string_view to) {
        std::string t = good;
        t.replace(t.find(from), from.size(), to);
        return t;
    };
    EXPECT_FALSE(decode_reload_result(replaced("halo-reload-result 1", "halo-reload-result 2")));
    EXPECT_FALSE(decode_reload_result(replaced("pid 4242", "pid 0")));
    EXPECT_FALSE(decode_reload_result(replaced("pid 4242", "pid -3")));
    EXPECT_FALSE(decode_reload_result(replaced("mode master", "mode other")));
    EXPECT_FALSE(decode_reload_result(replaced("generation 7", "generation seven")));
    EXPECT_FALSE(decode_reload_result(replaced("result failed", "result maybe")));
    EXPECT_FALSE(decode_reload_result(replaced("started ", "begun ")));
}

TEST(ReloadResultTest, WriteReplacesTheFileAndLeavesNoTemporary) {
    halo_test::TempDir dir("halo-reload-result");
    const mode_t old_umask = umask(022);
    const std::string path = dir / "halo.pid.reload";
    std::string err;
    ReloadResult first = sample();
    ASSERT_TRUE(write_reload_result(path, first, &err)) << err;
    auto read = read_reload_result(path);
    ASSERT_TRUE(read);
    expect_same(*read, first);

    ReloadResult second = sample();
    second.generation = 8;
    second.ok = true;
    second.message.clear();
    ASSERT_TRUE(write_reload_result(path, second, &err)) << err;
    read = read_reload_result(path);
    ASSERT_TRUE(read);
    expect_same(*read, second);
    EXPECT_FALSE(halo_test::file_exists(path + ".tmp"));
    struct stat st {};
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644u) << "readable by a `halo -s reload` of another user";
    umask(old_umask);
}

TEST(ReloadResultTest, WriteIntoAMissingFolderFailsWithTheReason) {
    std::string err;
    EXPECT_FALSE(write_reload_result("/nonexistent-halo-dir/halo.pid.reload", sample(), &err));
    EXPECT_NE(err.find("open() \"/nonexistent-halo-dir/halo.pid.reload.tmp\" failed (2: "),
              std::string::npos)
        << err;
    EXPECT_FALSE(read_reload_result("/nonexistent-halo-dir/halo.pid.reload"));
}

TEST(ReloadResultTest, MonotonicClockMovesForward) {
    int64_t a = monotonic_ns();
    int64_t b = monotonic_ns();
    EXPECT_GT(a, 0);
    EXPECT_GE(b, a);
}

}  // namespace
}  // namespace core
