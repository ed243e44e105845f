// logrotate's reopen path, as an installed halo meets it: `make install DESTDIR=<tmp>`, the
// installed share/halo/halo.logrotate with the DESTDIR prefix written in (what it would say
// installed without DESTDIR), `logrotate -f` with a state file of the test's own. Checks that
// the rotated files end up closed by every halo process and that new lines go to new files.
// Skips when logrotate is missing (auto/deps --test installs it).
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/install.h"

namespace halo_test {
namespace {

/// True when `pid` has `path` open (the link of one of its /proc/<pid>/fd entries).
bool holds_open(pid_t pid, const std::string& path) {
    std::string dir = "/proc/" + std::to_string(pid) + "/fd";
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
        return false;
    }
    bool found = false;
    while (dirent* e = ::readdir(d)) {
        char buf[4096];
        std::string link = dir + "/" + e->d_name;
        ssize_t n = ::readlink(link.c_str(), buf, sizeof(buf) - 1);
        if (n > 0 && std::string(buf, static_cast<size_t>(n)) == path) {
            found = true;
            break;
        }
    }
    ::closedir(d);
    return found;
}

/// The master and its live children.
std::vector<pid_t> family(pid_t master) {
    std::vector<pid_t> all = children_of(master);
    all.push_back(master);
    return all;
}

bool any_holds_open(pid_t master, const std::string& path) {
    for (pid_t p : family(master)) {
        if (holds_open(p, path)) {
            return true;
        }
    }
    return false;
}

class LogrotateTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (run_command({"logrotate", "--version"}).status != 0) {
            GTEST_SKIP() << "logrotate is not installed (Debian package logrotate; auto/deps "
                            "--test installs it)";
        }
        std::string why = install_unavailable();
        if (!why.empty()) {
            GTEST_SKIP() << why;
        }
        if (!halo_has_module("http_static") || !halo_has_module("http_log")) {
            GTEST_SKIP() << "the shipped halo.conf needs the http_static and http_log modules";
        }
        old_umask_ = ::umask(022);
        RunResult r = inst_.install();
        ASSERT_EQ(r.status, 0) << r;
    }
    void TearDown() override { ::umask(old_umask_); }

    /// Runs `logrotate -f` on the installed snippet (relocated), with the test's state file.
    RunResult rotate() {
        const std::string conf = inst_.destdir() + "/halo.logrotate";
        // logrotate refuses a config that others may write.
        if (!write_file(conf, inst_.relocated("share/halo/halo.logrotate")) ||
            ::chmod(conf.c_str(), 0644) != 0) {
            RunResult r;
            r.err = "cannot write " + conf;
            return r;
        }
        return run_command({"logrotate", "-f", "-s", inst_.destdir() + "/logrotate.state", conf},
                           60s);
    }
    std::string log(std::string_view rel) { return read_file(inst_.path(rel)).value_or(""); }

    Installation inst_;
    mode_t old_umask_ = 022;
};

TEST_F(LogrotateTest, RotationReopensTheLogsOfTheRunningHalo) {
    const std::string snippet = read_file(inst_.path("share/halo/halo.logrotate")).value_or("");
    EXPECT_NE(snippet.find("kill -USR1 \"$(cat "), std::string::npos) << snippet;

    const uint16_t port = free_port();
    ASSERT_TRUE(
        inst_.edit("conf/halo.conf", "127.0.0.1:8080", "127.0.0.1:" + std::to_string(port)));
    RunResult r = inst_.run({});
    ASSERT_EQ(r.status, 0) << r;
    const pid_t master = inst_.track();
    ASSERT_GT(master, 0);
    ASSERT_TRUE(wait_for_port(port));
    ASSERT_EQ(get_body(port, "/index.html?before").find("Welcome to halo!") != std::string::npos,
              true);
    ASSERT_TRUE(
        wait_until([&] { return log("logs/access.log").find("?before") != std::string::npos; }));
    const std::string access = inst_.path("logs/access.log");
    const std::string error = inst_.path("logs/error.log");
    ASSERT_TRUE(any_holds_open(master, access));
    ASSERT_TRUE(any_holds_open(master, error));

    r = rotate();
    ASSERT_EQ(r.status, 0) << r;
    // delaycompress: the first rotation leaves the rotated files plain.
    EXPECT_NE(log("logs/access.log.1").find("?before"), std::string::npos);
    EXPECT_NE(log("logs/error.log.1").find("start worker process"), std::string::npos);
    // postrotate sent SIGUSR1 (what -s reopen sends): no process keeps a rotated file open.
    EXPECT_TRUE(wait_until([&] {
        return !any_holds_open(master, access + ".1") && !any_holds_open(master, error + ".1");
    })) << "a halo process still writes to a rotated log";
    EXPECT_TRUE(any_holds_open(master, access));
    EXPECT_TRUE(any_holds_open(master, error));

    // New lines go to the new file only.
    EXPECT_NE(get_body(port, "/index.html?after").find("Welcome"), std::string::npos);
    EXPECT_TRUE(
        wait_until([&] { return log("logs/access.log").find("?after") != std::string::npos; }));
    EXPECT_EQ(log("logs/access.log").find("?before"), std::string::npos);
    EXPECT_EQ(log("logs/access.log.1").find("?after"), std::string::npos);

    // The next rotation compresses the previous one (compress + delaycompress).
    r = rotate();
    ASSERT_EQ(r.status, 0) << r;
    EXPECT_TRUE(file_exists(inst_.path("logs/access.log.2.gz")));
    EXPECT_NE(log("logs/access.log.1").find("?after"), std::string::npos);
    EXPECT_TRUE(wait_until([&] { return !any_holds_open(master, access + ".1"); }));
    EXPECT_TRUE(process_alive(master));

    r = inst_.run({"-s", "quit"});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_TRUE(wait_until([&] { return !process_alive(master); }));
}

}  // namespace
}  // namespace halo_test
