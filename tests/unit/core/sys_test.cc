// The core's one-rule helpers: the millisecond clocks, write_all over a pipe, process_alive,
// and JSON string escaping.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "core/clock.h"
#include "core/json.h"
#include "core/sys.h"

namespace core {
namespace {

TEST(ClockTest, SteadyNeverGoesBackAndWallIsUnixTime) {
    int64_t a = steady_ms();
    int64_t b = steady_ms();
    EXPECT_LE(a, b);
    EXPECT_GT(unix_ms(), 1'600'000'000'000);  // after September 2020
}

TEST(WriteAllTest, WritesEverythingAcrossPartialWrites) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    // More than a pipe holds at once: a reader drains it while write_all goes on.
    std::string data(256 * 1024, 'x');
    data.back() = 'y';
    pid_t reader = fork();
    ASSERT_GE(reader, 0);
    if (reader == 0) {
        close(fds[1]);
        size_t total = 0;
        char last = 0;
        char buf[4096];
        ssize_t n;
        while ((n = read(fds[0], buf, sizeof(buf))) > 0) {
            total += static_cast<size_t>(n);
            last = buf[n - 1];
        }
        _exit(total == 256 * 1024 && last == 'y' ? 0 : 1);
    }
    close(fds[0]);
    EXPECT_TRUE(write_all(fds[1], data));
    close(fds[1]);
    int status = 0;
    ASSERT_EQ(waitpid(reader, &status, 0), reader);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(WriteAllTest, FailsWithErrnoOnABadDescriptor) {
    EXPECT_FALSE(write_all(-1, "x"));
    EXPECT_EQ(errno, EBADF);
    EXPECT_TRUE(write_all(-1, ""));  // nothing to write
}

TEST(ProcessAliveTest, SelfExistsAReapedChildDoesNot) {
    EXPECT_TRUE(process_alive(getpid()));
    EXPECT_FALSE(process_alive(0));
    EXPECT_FALSE(process_alive(-1));
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        _exit(0);
    }
    ASSERT_EQ(waitpid(child, nullptr, 0), child);
    EXPECT_FALSE(process_alive(child));
}

// As nginx's ngx_escape_json (access_log escape=json, autoindex_format json): \b and \f in their
// short forms, DEL and UTF-8 as they are.
TEST(JsonTest, EscapesQuotesBackslashesAndControls) {
    std::string out;
    append_json_escaped(out, std::string("a\"b\\c\n\r\t\b\f\x01\x1f\x7f\xC3\xA9", 15));
    EXPECT_EQ(out, "a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\x7f\xC3\xA9");
    out.clear();
    append_json_string(out, "x");
    EXPECT_EQ(out, "\"x\"");
}

}  // namespace
}  // namespace core
