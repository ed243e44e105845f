// Log reopening (USR1 / -s reopen), as logrotate uses it: the master reopens the files and
// gives them to the worker user, the workers reopen theirs.
#include <dirent.h>
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

/// The targets of `pid`'s open descriptors (readlink of /proc/<pid>/fd/*).
std::vector<std::string> open_fds(pid_t pid) {
    std::vector<std::string> out;
    std::string dir = "/proc/" + std::to_string(pid) + "/fd";
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
        return out;
    }
    while (dirent* e = ::readdir(d)) {
        char buf[4096];
        std::string link = dir + "/" + e->d_name;
        ssize_t n = ::readlink(link.c_str(), buf, sizeof(buf) - 1);
        if (n > 0) {
            out.emplace_back(buf, static_cast<size_t>(n));
        }
    }
    ::closedir(d);
    return out;
}

/// "<pid>: <file>" for every file under `dir` that the master or one of its children holds
/// open although it was deleted (the kernel's " (deleted)" mark on the link).
std::vector<std::string> deleted_files_held(pid_t master, const std::string& dir) {
    std::vector<std::string> held;
    std::vector<pid_t> family = children_of(master);
    family.push_back(master);
    for (pid_t p : family) {
        for (const std::string& f : open_fds(p)) {
            if (f.starts_with(dir + "/") && f.ends_with(" (deleted)")) {
                held.push_back(std::to_string(p) + ": " + f);
            }
        }
    }
    return held;
}

std::string joined(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) {
        out += l + "\n";
    }
    return out;
}

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
    // Every worker of an earlier generation: one retired a round ago may still be exiting (its
    // loop, and with it its USR1 handler, gone) on a loaded machine; it is not young.
    std::vector<pid_t> earlier = gen;
    int hits = 0;
    for (int round = 0; round < 20 && hits < 10 && !HasFailure(); round++) {
        ASSERT_TRUE(halo_.signal(SIGHUP));
        // As soon as a new worker exists that has no USR1 handler yet, send the reopen.
        pid_t young = -1;
        wait_until(
            [&] {
                int ready = 0;
                for (pid_t k : children_of(halo_.master_pid())) {
                    if (std::find(earlier.begin(), earlier.end(), k) != earlier.end()) {
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
        auto next = halo_.wait_new_workers(4, earlier);
        ASSERT_EQ(next.size(), 4u);
        if (young > 0) {
            EXPECT_TRUE(std::find(next.begin(), next.end(), young) != next.end() &&
                        process_alive(young))
                << "worker " << young << " died on the USR1 sent right after it was forked\n"
                << halo_.error_log();
        }
        earlier.insert(earlier.end(), next.begin(), next.end());
    }
    std::cerr << "reopen right after reload: hit the window of " << hits << " young workers\n";
}

TEST_F(ReopenTest, RotatedLogsAreReleasedAfterReloads) {
    // logrotate after reloads: mv, USR1, rm. No halo process -- master, new workers, or old
    // ones still draining -- may keep a rotated log open (its disk space would never be
    // freed), and workers forked after a reload must not inherit the previous cycle's files.
    halo_.write_conf(R"(
daemon off;
worker_processes 2;
error_log logs/error.log notice;
events { worker_connections 64; }
http {
    access_log logs/access.log;
    server { listen 127.0.0.1:%%PORT_0%%; }
}
)");
    ASSERT_TRUE(halo_.start());
    std::vector<pid_t> gen = halo_.wait_workers(2);
    ASSERT_EQ(gen.size(), 2u);
    const size_t fds_before = open_fds(gen[0]).size();
    ASSERT_GT(fds_before, 0u);

    // A draining old worker: it holds a keep-alive connection across the reloads.
    HttpConnection idle;
    ASSERT_TRUE(idle.connect(halo_.port(0)));
    ASSERT_TRUE(idle.send(get_request("/?idle", "localhost", true)));
    ASSERT_TRUE(idle.read_response().has_value());

    // The worker holding it retires after the first reload and stays (it answers the next
    // request on that connection): every earlier generation counts as old.
    std::vector<pid_t> earlier = gen;
    for (int i = 0; i < 5; i++) {
        ASSERT_TRUE(halo_.signal(SIGHUP));
        gen = halo_.wait_new_workers(2, earlier);
        ASSERT_EQ(gen.size(), 2u) << "reload " << i + 1 << "\n" << halo_.error_log();
        earlier.insert(earlier.end(), gen.begin(), gen.end());
    }
    for (pid_t w : gen) {
        EXPECT_EQ(open_fds(w).size(), fds_before) << "worker " << w << " after 5 reloads holds:\n"
                                                  << joined(open_fds(w));
    }

    const std::string logs = halo_.path("logs");
    for (const char* name : {"error.log", "access.log"}) {
        std::string from = logs + "/" + name;
        ASSERT_EQ(::rename(from.c_str(), (from + ".1").c_str()), 0) << from;
    }
    ASSERT_TRUE(halo_.signal(SIGUSR1));
    ASSERT_TRUE(wait_until(
        [&] { return file_exists(logs + "/error.log") && file_exists(logs + "/access.log"); }));
    // Every current worker has seen the USR1 (it logs before reopening, into the old file).
    ASSERT_TRUE(wait_until([&] {
        std::string old = read_file(logs + "/error.log.1").value_or("");
        for (pid_t w : gen) {
            if (old.find(std::to_string(w) + "#0: reopening logs") == std::string::npos) {
                return false;
            }
        }
        return true;
    }));
    ASSERT_EQ(::unlink((logs + "/error.log.1").c_str()), 0);
    ASSERT_EQ(::unlink((logs + "/access.log.1").c_str()), 0);
    EXPECT_TRUE(wait_until([&] { return deleted_files_held(halo_.master_pid(), logs).empty(); }))
        << "rotated logs still held open:\n"
        << joined(deleted_files_held(halo_.master_pid(), logs));

    // New lines go to the new files: the access log, and each worker's next reopen.
    EXPECT_EQ(get_body(halo_.port(0), "/?after").find("<error"), std::string::npos);
    EXPECT_TRUE(wait_until([&] {
        return read_file(logs + "/access.log").value_or("").find("/?after") != std::string::npos;
    })) << read_file(logs + "/access.log").value_or("");
    ASSERT_TRUE(halo_.signal(SIGUSR1));
    EXPECT_TRUE(wait_until([&] {
        std::string now = read_file(logs + "/error.log").value_or("");
        for (pid_t w : gen) {
            if (now.find(std::to_string(w) + "#0: reopening logs") == std::string::npos) {
                return false;
            }
        }
        return true;
    })) << read_file(logs + "/error.log").value_or("");
    EXPECT_TRUE(deleted_files_held(halo_.master_pid(), logs).empty())
        << joined(deleted_files_held(halo_.master_pid(), logs));
}

}  // namespace
}  // namespace halo_test
