// Worker process settings: worker_processes, user, worker_rlimit_nofile.
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <functional>
#include <sstream>

#include "support/harness.h"

namespace halo_test {
namespace {

std::string conf(std::string_view main_extra) {
    std::string c = "daemon off;\nerror_log logs/error.log notice;\n";
    c += main_extra;
    c += "\nevents { }\nhttp {\n    server {\n        listen 127.0.0.1:%%PORT_0%%;\n    }\n}\n";
    return c;
}

/// A numeric field of /proc/<pid>/status ("Gid:" -> effective gid, second column).
long status_field(pid_t pid, const std::string& name, int column) {
    auto text = read_file("/proc/" + std::to_string(pid) + "/status");
    std::istringstream in(text.value_or(""));
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(name, 0) == 0) {
            std::istringstream words(line.substr(name.size()));
            long v = -1;
            for (int i = 0; i <= column; i++) {
                words >> v;
            }
            return v;
        }
    }
    return -1;
}

/// "Max open files" soft limit from /proc/<pid>/limits.
long max_open_files(pid_t pid) {
    auto text = read_file("/proc/" + std::to_string(pid) + "/limits");
    std::istringstream in(text.value_or(""));
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("Max open files", 0) == 0) {
            return atol(line.substr(14).c_str());
        }
    }
    return -1;
}

/// Waits until `read(pid)` is `want` (a worker sets its user and limits after the fork, so a
/// worker seen at once may not have yet), and returns the last value read.
long settled(pid_t pid, const std::function<long(pid_t)>& read, long want) {
    long got = read(pid);
    wait_until([&] { return (got = read(pid)) == want; }, 10s);
    return got;
}

long egid_of(pid_t pid) {
    return status_field(pid, "Gid:", 1);
}

class WorkersTest : public ::testing::Test {
  protected:
    Halo halo_;
};

TEST_F(WorkersTest, WorkerProcessesCount) {
    halo_.write_conf(conf("worker_processes 3;\n"));
    ASSERT_TRUE(halo_.start());
    auto workers = halo_.wait_workers(3);
    ASSERT_EQ(workers.size(), 3u);
    for (pid_t w : workers) {
        EXPECT_EQ(parent_of(w), halo_.master_pid());
    }
}

TEST_F(WorkersTest, WorkerProcessesAuto) {
    halo_.write_conf(conf("worker_processes auto;\n"));
    ASSERT_TRUE(halo_.start());
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    ASSERT_GT(cpus, 0);
    EXPECT_EQ(halo_.wait_workers(static_cast<size_t>(cpus)).size(), static_cast<size_t>(cpus));
}

TEST_F(WorkersTest, DefaultIsOneWorker) {
    halo_.write_conf(conf(""));
    ASSERT_TRUE(halo_.start());
    EXPECT_EQ(halo_.wait_workers(1).size(), 1u);
}

TEST_F(WorkersTest, WorkersRunAsNobodyByDefault) {
    if (geteuid() != 0) {
        GTEST_SKIP() << "needs root";
    }
    struct passwd* pw = getpwnam("nobody");
    ASSERT_NE(pw, nullptr);
    halo_.write_conf(conf("worker_processes 2;\n"));
    ASSERT_TRUE(halo_.start());
    auto workers = halo_.wait_workers(2);
    ASSERT_EQ(workers.size(), 2u);
    EXPECT_EQ(process_euid(halo_.master_pid()), 0);
    for (pid_t w : workers) {
        EXPECT_EQ(settled(w, process_euid, pw->pw_uid), static_cast<long>(pw->pw_uid));
        EXPECT_EQ(settled(w, egid_of, pw->pw_gid), static_cast<long>(pw->pw_gid));
    }
}

TEST_F(WorkersTest, UserAndGroup) {
    if (geteuid() != 0) {
        GTEST_SKIP() << "needs root";
    }
    struct passwd* pw = getpwnam("daemon");
    struct group* gr = getgrnam("nogroup");
    if (pw == nullptr || gr == nullptr) {
        GTEST_SKIP() << "no user daemon / group nogroup on this system";
    }
    const uid_t uid = pw->pw_uid;
    const gid_t gid = gr->gr_gid;
    halo_.write_conf(conf("user daemon nogroup;\n"));
    ASSERT_TRUE(halo_.start());
    auto workers = halo_.wait_workers(1);
    ASSERT_EQ(workers.size(), 1u);
    EXPECT_EQ(settled(workers[0], process_euid, uid), static_cast<long>(uid));
    EXPECT_EQ(settled(workers[0], egid_of, gid), static_cast<long>(gid));
}

TEST_F(WorkersTest, UnknownUserFailsTheConfigTest) {
    if (geteuid() != 0) {
        GTEST_SKIP() << "`user` is only resolved as root";
    }
    halo_.write_conf(conf("user no_such_user_here;\n"));
    RunResult r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("no_such_user_here"), std::string::npos) << r;
}

TEST_F(WorkersTest, WorkerRlimitNofile) {
    halo_.write_conf(conf("worker_rlimit_nofile 2345;\n"));
    ASSERT_TRUE(halo_.start());
    auto workers = halo_.wait_workers(1);
    ASSERT_EQ(workers.size(), 1u);
    EXPECT_EQ(settled(workers[0], max_open_files, 2345), 2345);
}

TEST_F(WorkersTest, WorkerRlimitNofileRange) {
    halo_.write_conf(conf("worker_rlimit_nofile 0;\n"));
    RunResult r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("\"worker_rlimit_nofile\""), std::string::npos) << r;
}

}  // namespace
}  // namespace halo_test
