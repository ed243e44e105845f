// The error log: levels, targets, nginx's line format, reopen; printf-style format().
#include "core/log.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <regex>
#include <string>

#include "support/test_modules.h"

namespace core {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(LogLevelTest, NamesRoundTrip) {
    const char* names[] = {"emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"};
    for (int i = 0; i < 8; i++) {
        LogLevel l = LogLevel::kError;
        ASSERT_TRUE(parse_log_level(names[i], l)) << names[i];
        EXPECT_EQ(static_cast<int>(l), i);
        EXPECT_EQ(log_level_name(l), names[i]);
    }
    LogLevel l = LogLevel::kInfo;
    EXPECT_FALSE(parse_log_level("warning", l));
    EXPECT_FALSE(parse_log_level("", l));
    EXPECT_FALSE(parse_log_level("ERROR", l));
    EXPECT_EQ(l, LogLevel::kInfo);  // untouched on failure
}

TEST(FormatTest, ShortAndLong) {
    EXPECT_EQ(format("%d-%s", 42, "x"), "42-x");
    EXPECT_EQ(format("%s", ""), "");
    std::string big(1000, 'q');
    EXPECT_EQ(format("[%s]", big.c_str()), "[" + big + "]");
}

std::shared_ptr<OpenFile> open_file(const std::string& path) {
    auto f = std::make_shared<OpenFile>();
    f->path = path;
    std::string err;
    EXPECT_TRUE(f->reopen(&err)) << err;
    return f;
}

TEST(LogTest, EnabledFollowsTheMostVerboseTarget) {
    Log empty;
    EXPECT_TRUE(empty.empty());
    EXPECT_TRUE(empty.enabled(LogLevel::kNotice));  // stderr before a cycle exists
    EXPECT_FALSE(empty.enabled(LogLevel::kInfo));

    Log log;
    log.add_target(LogTarget{nullptr, LogLevel::kWarn});
    EXPECT_FALSE(log.empty());
    EXPECT_TRUE(log.enabled(LogLevel::kEmerg));
    EXPECT_TRUE(log.enabled(LogLevel::kWarn));
    EXPECT_FALSE(log.enabled(LogLevel::kNotice));
    log.add_target(LogTarget{nullptr, LogLevel::kDebug});
    EXPECT_TRUE(log.enabled(LogLevel::kDebug));
}

TEST(LogTest, WritesNginxFormatToEachTargetAtItsLevel) {
    support::TempDir dir;
    auto all = open_file(dir.file("all.log"));
    auto errors = open_file(dir.file("errors.log"));
    Log log;
    log.add_target(LogTarget{all, LogLevel::kDebug});
    log.add_target(LogTarget{errors, LogLevel::kError});
    log.write(LogLevel::kInfo, 0, "just info");
    log.write(LogLevel::kCrit, 5, "bad thing");

    std::string a = dir.read("all.log");
    std::string e = dir.read("errors.log");
    std::regex line(R"(\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} \[info\] )" + std::to_string(getpid()) +
                    R"(#0: just info\n)");
    EXPECT_TRUE(std::regex_search(a, line)) << a;
    EXPECT_THAT(a, HasSubstr("[crit] " + std::to_string(getpid()) + "#0: *5 bad thing\n"));
    EXPECT_THAT(e, Not(HasSubstr("just info")));
    EXPECT_THAT(e, HasSubstr("#0: *5 bad thing\n"));
}

TEST(LogTest, CurrentLogSwitches) {
    support::TempDir dir;
    auto f = open_file(dir.file("cur.log"));
    Log log;
    log.add_target(LogTarget{f, LogLevel::kInfo});
    set_current_log(&log);
    EXPECT_EQ(&current_log(), &log);
    HALO_LOG(kInfo, "value %d", 7);
    HALO_LOG(kDebug, "hidden");
    log_conn(LogLevel::kWarn, 3, "conn %s", "x");
    set_current_log(nullptr);
    EXPECT_NE(&current_log(), &log);
    EXPECT_TRUE(current_log().empty());
    std::string text = dir.read("cur.log");
    EXPECT_THAT(text, HasSubstr("[info] "));
    EXPECT_THAT(text, HasSubstr("value 7\n"));
    EXPECT_THAT(text, Not(HasSubstr("hidden")));
    EXPECT_THAT(text, HasSubstr("[warn] "));
    EXPECT_THAT(text, HasSubstr("*3 conn x\n"));
}

TEST(OpenFileTest, ReopenFollowsRotation) {
    support::TempDir dir;
    auto f = open_file(dir.file("r.log"));
    int first = f->fd;
    ASSERT_EQ(write(f->fd, "old\n", 4), 4);
    ASSERT_EQ(rename(dir.file("r.log").c_str(), dir.file("r.log.1").c_str()), 0);
    std::string err;
    ASSERT_TRUE(f->reopen(&err)) << err;
    EXPECT_GE(f->fd, 0);
    EXPECT_NE(f->fd, first);
    EXPECT_EQ(fcntl(first, F_GETFD), -1);  // the old one was closed
    ASSERT_EQ(write(f->fd, "new\n", 4), 4);
    EXPECT_EQ(dir.read("r.log.1"), "old\n");
    EXPECT_EQ(dir.read("r.log"), "new\n");
}

TEST(OpenFileTest, FailedReopenKeepsTheOldDescriptor) {
    support::TempDir dir;
    auto f = open_file(dir.file("k.log"));
    int fd = f->fd;
    f->path = dir.file("missing/k.log");
    std::string err;
    EXPECT_FALSE(f->reopen(&err));
    EXPECT_EQ(err,
              "open() \"" + dir.file("missing/k.log") + "\" failed (2: No such file or directory)");
    EXPECT_EQ(f->fd, fd);
    EXPECT_NE(fcntl(fd, F_GETFD), -1);
}

TEST(OpenFileTest, AppendsToAnExistingFile) {
    support::TempDir dir;
    dir.write("a.log", "before\n");
    auto f = open_file(dir.file("a.log"));
    ASSERT_EQ(write(f->fd, "after\n", 6), 6);
    EXPECT_EQ(dir.read("a.log"), "before\nafter\n");
}

}  // namespace
}  // namespace core
