// The master process runs the helper processes modules ask for: it respawns a helper that
// dies abnormally (and logs why), does not respawn one that exits with kFatalChildExit, and
// exits on SIGTERM taking its children with it. Runs the real master in a forked child; every
// wait polls with a generous deadline, nothing depends on timing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/cycle.h"
#include "core/module.h"
#include "core/process.h"
#include "support/test_modules.h"

namespace core {
extern const Module kCoreModule;
}
namespace ev {
extern const core::Module kEventModule;
}

namespace core {
namespace {

using ::testing::HasSubstr;

/// The helper. Appends its pid to `starts` next to the config, then acts as the `mode` file
/// there says: "pause" waits to be killed, "fatal" exits with kFatalChildExit, "fail:N" exits
/// with code 1 until N helpers have started, then waits.
int helper_run(Cycle& cycle, const ProcessInfo& info) {
    std::string dir = cycle.conf_dir();
    std::string mode;
    std::ifstream(dir + "/mode") >> mode;
    int started = 0;
    {
        std::ofstream out(dir + "/starts", std::ios::app);
        out << getpid() << " " << info.helper_name << "\n";
    }
    {
        std::ifstream in(dir + "/starts");
        std::string line;
        while (std::getline(in, line)) {
            started++;
        }
    }
    if (mode == "fatal") {
        return kFatalChildExit;
    }
    if (mode.rfind("fail:", 0) == 0 && started < std::stoi(mode.substr(5))) {
        return 1;
    }
    unblock_signals();  // nothing to watch: SIGTERM's default action ends it
    for (;;) {
        pause();
    }
    return 0;
}

Status helper_postconfiguration(Cycle& cycle) {
    cycle.add_helper(HelperSpec{"test", &helper_run});
    return Status::ok();
}

const Module kHelperModule{
    .name = "test_helper",
    .type = ModuleType::kProcess,
    .directives = {},
    .confs = {},
    .postconfiguration = &helper_postconfiguration,
};

const Module* const kModules[] = {&kCoreModule, &ev::kEventModule, &kHelperModule};

bool wait_for(const std::function<bool()>& done,
              std::chrono::seconds limit = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

bool alive(pid_t pid) {
    return pid > 0 && kill(pid, 0) == 0;
}

size_t count(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) {
        n++;
    }
    return n;
}

/// A master (with one worker and the test helper) running in a forked child, and everything
/// needed to watch it. The destructor kills whatever is left.
class MasterProcess {
  public:
    explicit MasterProcess(const std::string& mode) {
        chmod(dir_.path().c_str(), 0777);
        dir_.write("mode", mode + "\n");
        std::string conf =
            "daemon off;\n"
            "worker_processes 1;\n"
            "error_log " +
            dir_.file("error.log") +
            " info;\n"
            "pid " +
            dir_.file("halo.pid") + ";\nevents {}\n";
        if (geteuid() == 0) {
            conf += "user root;\n";
        }
        dir_.write("halo.conf", conf);
        pid_ = fork();
        if (pid_ == 0) {
            ModuleRegistry registry(kModules);
            ModuleRegistry::set_active(&registry);
            CycleOptions options = support::cycle_options(dir_);
            std::unique_ptr<Cycle> cycle;
            Status s = Cycle::create(options, registry, nullptr, cycle);
            if (!s.is_ok()) {
                fprintf(stderr, "cycle: %s\n", s.message().c_str());
                _exit(3);
            }
            _exit(run_master(std::move(cycle), options, registry));
        }
    }
    ~MasterProcess() {
        if (pid_ > 0) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        for (pid_t p : helpers()) {
            kill(p, SIGKILL);  // normally gone already (PDEATHSIG, or reaped by the master)
        }
    }

    pid_t pid() const { return pid_; }
    std::string log() const { return dir_.read("error.log"); }
    /// Pids of every helper started so far, in order.
    std::vector<pid_t> helpers() const {
        std::vector<pid_t> out;
        std::istringstream in(dir_.read("starts"));
        long pid = 0;
        std::string name;
        while (in >> pid >> name) {
            out.push_back(static_cast<pid_t>(pid));
        }
        return out;
    }
    /// Sends SIGTERM and waits for the exit status (-1 when it did not exit).
    int terminate() {
        if (kill(pid_, SIGTERM) != 0) {
            return -1;
        }
        int status = 0;
        if (!wait_for([&] { return waitpid(pid_, &status, WNOHANG) == pid_; })) {
            return -1;
        }
        pid_ = 0;
        return status;
    }

  private:
    support::TempDir dir_;
    pid_t pid_ = -1;
};

TEST(HelperProcessTest, KilledHelperIsRespawnedAndMasterExitsOnTerm) {
    MasterProcess master("pause");
    ASSERT_GT(master.pid(), 0);
    ASSERT_TRUE(wait_for([&] { return master.helpers().size() == 1; }))
        << "no helper started; error.log:\n"
        << master.log();
    pid_t first = master.helpers()[0];
    EXPECT_NE(first, master.pid());
    ASSERT_TRUE(alive(first));

    ASSERT_EQ(kill(first, SIGKILL), 0);
    ASSERT_TRUE(wait_for([&] { return master.helpers().size() == 2; }))
        << "the helper was not respawned; error.log:\n"
        << master.log();
    pid_t second = master.helpers()[1];
    EXPECT_NE(second, first);
    EXPECT_TRUE(alive(second));

    std::string died = "helper process " + std::to_string(first) + " exited on signal 9";
    ASSERT_TRUE(wait_for([&] { return master.log().find(died) != std::string::npos; }))
        << master.log();
    EXPECT_THAT(master.log(), HasSubstr("[alert]"));
    EXPECT_THAT(master.log(), HasSubstr("start test helper process " + std::to_string(second)));

    int status = master.terminate();
    ASSERT_NE(status, -1) << "the master did not exit on SIGTERM; error.log:\n" << master.log();
    ASSERT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status), 0);
    // Its children went with it.
    EXPECT_TRUE(wait_for([&] { return !alive(second); }));
    EXPECT_THAT(master.log(), HasSubstr("exiting"));
    EXPECT_EQ(master.helpers().size(), 2u);  // not respawned while exiting
}

TEST(HelperProcessTest, HelperFailingWithAnErrorCodeIsRespawned) {
    MasterProcess master("fail:3");
    ASSERT_TRUE(wait_for([&] { return master.helpers().size() == 3; })) << "error.log:\n"
                                                                        << master.log();
    std::vector<pid_t> pids = master.helpers();
    ASSERT_TRUE(wait_for([&] {
        return master.log().find("helper process " + std::to_string(pids[1]) +
                                 " exited with code 1") != std::string::npos;
    })) << master.log();
    EXPECT_TRUE(alive(pids[2]));
    int status = master.terminate();
    ASSERT_NE(status, -1) << master.log();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST(HelperProcessTest, FatalExitIsNotRespawned) {
    MasterProcess master("fatal");
    ASSERT_TRUE(wait_for([&] {
        return master.log().find("cannot be respawned") != std::string::npos;
    })) << "error.log:\n"
        << master.log();
    ASSERT_EQ(master.helpers().size(), 1u);
    EXPECT_THAT(master.log(), HasSubstr("helper process " + std::to_string(master.helpers()[0]) +
                                        " exited with code 2"));
    // The master keeps running without it.
    EXPECT_TRUE(alive(master.pid()));
    int status = master.terminate();
    ASSERT_NE(status, -1) << master.log();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    // The spawn of a respawn is logged at once, in the same reap: one start only.
    EXPECT_EQ(count(master.log(), "start test helper process"), 1u) << master.log();
    EXPECT_EQ(master.helpers().size(), 1u);
}

}  // namespace
}  // namespace core
