// run_isolated_check: a check run in a forked child, bounded in time and memory, whose crash
// or runaway becomes an error in the caller, which keeps running unharmed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <memory>
#include <vector>

#include "core/conf_check.h"

namespace core {
namespace {

using namespace std::chrono_literals;
using ::testing::StartsWith;

int g_touched = 0;  // changed by a check: the change stays in the child

TEST(ConfCheckTest, OkAndErrorsComeBackAsTheCheckSaidThem) {
    EXPECT_TRUE(run_isolated_check([] { return Status::ok(); }).is_ok());
    Status s = run_isolated_check([] {
        return Status::error("unknown directive \"a\" in t.conf:1\nunknown directive \"b\"");
    });
    EXPECT_EQ(s.message(), "unknown directive \"a\" in t.conf:1\nunknown directive \"b\"");
}

TEST(ConfCheckTest, TheCheckRunsInAnotherProcess) {
    g_touched = 0;
    EXPECT_TRUE(run_isolated_check([] {
                    g_touched = 1;
                    return Status::ok();
                }).is_ok());
    EXPECT_EQ(g_touched, 0);
}

TEST(ConfCheckTest, ACrashIsAnErrorHere) {
#if defined(__SANITIZE_ADDRESS__)
    GTEST_SKIP() << "AddressSanitizer turns the SIGSEGV into a report and exit(1)";
#endif
    Status s = run_isolated_check([] {
        raise(SIGSEGV);
        return Status::ok();
    });
    EXPECT_EQ(s.message(), "the configuration check crashed (signal 11: Segmentation fault)");
}

TEST(ConfCheckTest, ACheckThatNeverEndsIsStoppedAtItsTime) {
    CheckBounds bounds;
    bounds.time = 200ms;
    Status s = run_isolated_check(
        [] {
            for (volatile bool forever = true; forever;) {
            }
            return Status::ok();
        },
        bounds);
    EXPECT_EQ(s.message(), "the configuration check did not finish within 200ms");
}

// A check that blocks SIGALRM (or hangs where the timer cannot reach it) is killed a second
// later.
TEST(ConfCheckTest, ACheckDeafToItsTimerIsKilled) {
    CheckBounds bounds;
    bounds.time = 100ms;
    Status s = run_isolated_check(
        [] {
            signal(SIGALRM, SIG_IGN);
            for (volatile bool forever = true; forever;) {
            }
            return Status::ok();
        },
        bounds);
    EXPECT_EQ(s.message(), "the configuration check did not finish within 100ms");
}

TEST(ConfCheckTest, ACheckThatAllocatesWithoutBoundRunsOutOfMemory) {
#if defined(__SANITIZE_ADDRESS__)
    GTEST_SKIP() << "no RLIMIT_AS under AddressSanitizer";
#endif
    CheckBounds bounds;
    bounds.memory = 64 * 1024 * 1024;
    Status s = run_isolated_check(
        [] {
            std::vector<std::unique_ptr<char[]>> hoard;
            for (;;) {
                hoard.emplace_back(new char[1024 * 1024]);
                hoard.back()[0] = 1;
            }
            return Status::ok();
        },
        bounds);
    EXPECT_EQ(s.message(), "the configuration check ran out of memory (more than 64m added)");
}

TEST(ConfCheckTest, AnExceptionIsAnError) {
    Status s = run_isolated_check([]() -> Status { throw 42; });
    EXPECT_THAT(s.message(), StartsWith("the configuration check failed"));
}

}  // namespace
}  // namespace core
