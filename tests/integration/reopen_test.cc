// Log reopening (USR1 / -s reopen), as logrotate uses it: the master reopens the files and
// gives them to the worker user, the workers reopen theirs.
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "support/harness.h"

namespace halo_test {
namespace {

constexpr std::string_view kConf = R"(
daemon off;
worker_processes 2;
error_log logs/error.log notice;

events {
    worker_connections 64;
}

http {
    server {
        listen 127.0.0.1:%%PORT_0%%;
    }
}
)";

class ReopenTest : public ::testing::Test {
  protected:
    Halo halo_;
};

TEST_F(ReopenTest, ReopenAfterRotationCreatesNewLog) {
    halo_.write_conf(kConf);
    ASSERT_TRUE(halo_.start());
    auto workers = halo_.wait_workers(2);
    ASSERT_EQ(workers.size(), 2u);
    const std::string log = halo_.path("logs/error.log");
    const std::string rotated = halo_.path("logs/error.log.1");
    ASSERT_TRUE(file_exists(log));

    // logrotate: move the file away, then ask for a reopen.
    ASSERT_EQ(::rename(log.c_str(), rotated.c_str()), 0);
    RunResult r = halo_.run({"-s", "reopen"});
    EXPECT_EQ(r.status, 0) << r;
    ASSERT_TRUE(wait_until([&] { return file_exists(log); })) << "no new error.log";

    // Every worker has seen the USR1 (it logs before reopening, into the old file).
    ASSERT_TRUE(wait_until([&] {
        std::string old = read_file(rotated).value_or("");
        for (pid_t w : workers) {
            if (old.find(std::to_string(w) + "#0: reopening logs") == std::string::npos) {
                return false;
            }
        }
        return true;
    })) << read_file(rotated).value_or("");

    if (geteuid() == 0) {
        // Given to the worker user (nobody by default), so workers can reopen it.
        struct passwd* pw = getpwnam("nobody");
        ASSERT_NE(pw, nullptr);
        struct stat st;
        ASSERT_EQ(::stat(log.c_str(), &st), 0);
        EXPECT_EQ(st.st_uid, pw->pw_uid) << "the new error.log is not owned by the worker user";
    }

    // The master writes to the new file...
    ASSERT_TRUE(halo_.signal(SIGHUP));
    EXPECT_TRUE(wait_until([&] {
        return read_file(log).value_or("").find("reconfiguring") != std::string::npos;
    })) << read_file(log).value_or("");
    EXPECT_EQ(read_file(rotated).value_or("").find("reconfiguring"), std::string::npos);

    // ...and so do the old workers: they log their graceful shutdown after the reopen.
    EXPECT_TRUE(wait_until([&] {
        std::string now = read_file(log).value_or("");
        for (pid_t w : workers) {
            if (now.find(std::to_string(w) + "#0: gracefully shutting down") == std::string::npos) {
                return false;
            }
        }
        return true;
    })) << "new error.log:\n"
        << read_file(log).value_or("") << "\nrotated:\n"
        << read_file(rotated).value_or("");
}

TEST_F(ReopenTest, ReopenWithoutRotationKeepsAppending) {
    halo_.write_conf(kConf);
    ASSERT_TRUE(halo_.start());
    ASSERT_EQ(halo_.wait_workers(2).size(), 2u);
    const std::string log = halo_.path("logs/error.log");
    const std::string before = read_file(log).value_or("");
    ASSERT_FALSE(before.empty());
    ASSERT_TRUE(halo_.signal(SIGUSR1));
    ASSERT_TRUE(wait_until(
        [&] { return log_lines_with(read_file(log).value_or(""), "reopening logs").size() >= 3; }));
    ASSERT_TRUE(halo_.signal(SIGHUP));
    EXPECT_TRUE(wait_until(
        [&] { return read_file(log).value_or("").find("reconfiguring") != std::string::npos; }));
    // Appended, not truncated.
    EXPECT_EQ(read_file(log).value_or("").substr(0, before.size()), before);
}

TEST_F(ReopenTest, ReopenRightAfterReloadKeepsWorkers) {
    // logrotate may run at any moment, e.g. right after a reload: a USR1 that reaches a new
    // worker before its event loop is set up must not kill it.
    halo_.write_conf(R"(
daemon off;
worker_processes 4;
error_log logs/error.log notice;
events { }
http { server { listen 127.0.0.1:%%PORT_0%%; } }
)");
    ASSERT_TRUE(halo_.start());
    std::vector<pid_t> gen = halo_.wait_workers(4);
    ASSERT_EQ(gen.size(), 4u);
    int hits = 0;
    for (int round = 0; round < 20 && hits < 10 && !HasFailure(); round++) {
        ASSERT_TRUE(halo_.signal(SIGHUP));
        // As soon as a new worker exists that has no USR1 handler yet, send the reopen.
        pid_t young = -1;
        wait_until(
            [&] {
                int ready = 0;
                for (pid_t k : children_of(halo_.master_pid())) {
                    if (std::find(gen.begin(), gen.end(), k) != gen.end()) {
                        continue;
                    }
                    if (!catches_signal(k, SIGUSR1)) {
                        young = k;
                        return true;
                    }
                    ready++;
                }
                return ready == 4;
            },
            5s, 0ms);
        if (young > 0) {
            hits++;
            ASSERT_TRUE(halo_.signal(SIGUSR1));
        }
        auto next = halo_.wait_new_workers(4, gen);
        ASSERT_EQ(next.size(), 4u);
        if (young > 0) {
            EXPECT_TRUE(std::find(next.begin(), next.end(), young) != next.end() &&
                        process_alive(young))
                << "worker " << young << " died on the USR1 sent right after it was forked\n"
                << halo_.error_log();
        }
        gen = next;
    }
    std::cerr << "reopen right after reload: hit the window of " << hits << " young workers\n";
}

}  // namespace
}  // namespace halo_test
