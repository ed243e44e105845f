// The events { } block: worker_connections, accept_mutex, accept_mutex_delay; defaults,
// rejections, and the accept mutex zone across reloads.
#include "event/event_module.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "core/cycle.h"
#include "core/shm.h"
#include "support/test_modules.h"

namespace ev {
namespace {

using namespace std::chrono_literals;

class EventModuleTest : public ::testing::Test {
  protected:
    EventModuleTest() : registry_(core::compiled_modules()) {}

    core::Status load(std::string_view conf, bool test_only = false) {
        cycle_.reset();
        return support::load_cycle(registry_, dir_, conf, cycle_, nullptr, {}, test_only);
    }
    std::string error(std::string_view conf) {
        core::Status s = load(conf);
        EXPECT_FALSE(s.is_ok()) << "loaded: " << conf;
        return s.message();
    }
    std::string at(int line) const {
        return " in " + dir_.file("halo.conf") + ":" + std::to_string(line);
    }
    const EventConf& conf() const { return cycle_->conf<EventConf>(); }

    support::TempDir dir_;
    core::ModuleRegistry registry_;
    std::unique_ptr<core::Cycle> cycle_;
};

TEST_F(EventModuleTest, Defaults) {
    ASSERT_TRUE(load("daemon off;\n").is_ok());
    EXPECT_FALSE(conf().seen);
    EXPECT_EQ(conf().worker_connections, 512);
    EXPECT_EQ(conf().accept_mutex, false);
    EXPECT_EQ(conf().accept_mutex_delay, 500ms);
    EXPECT_EQ(conf().mutex, nullptr);
}

TEST_F(EventModuleTest, Directives) {
    core::Status s = load(
        "events {\n"
        "  worker_connections 1024;\n"
        "  accept_mutex on;\n"
        "  accept_mutex_delay 100ms;\n"
        "}\n");
    ASSERT_TRUE(s.is_ok()) << s.message();
    EXPECT_TRUE(conf().seen);
    EXPECT_EQ(conf().worker_connections, 1024);
    EXPECT_EQ(conf().accept_mutex, true);
    EXPECT_EQ(conf().accept_mutex_delay, 100ms);
    // One worker: no lock needed.
    EXPECT_EQ(conf().mutex, nullptr);
    EXPECT_EQ(cycle_->find_shm_zone("halo_accept_mutex"), nullptr);
}

TEST_F(EventModuleTest, Rejections) {
    EXPECT_EQ(error("events { }\nevents { }"), "\"events\" directive is duplicate" + at(2));
    EXPECT_EQ(error("events;"), "directive \"events\" has no opening \"{\"" + at(1));
    EXPECT_EQ(error("worker_connections 10;"),
              "\"worker_connections\" directive is not allowed here" + at(1));
    EXPECT_EQ(
        error("events {\n worker_connections 0; }"),
        "invalid value \"0\" in \"worker_connections\" directive, it must be 1..1048576" + at(2));
    EXPECT_EQ(error("events {\n worker_connections 1048577; }"),
              "invalid value \"1048577\" in \"worker_connections\" directive, it must be "
              "1..1048576" +
                  at(2));
    EXPECT_EQ(error("events {\n worker_connections 1;\n worker_connections 2; }"),
              "\"worker_connections\" directive is duplicate" + at(3));
    EXPECT_EQ(error("events {\n accept_mutex yes; }"),
              "invalid value \"yes\" in \"accept_mutex\" directive, it must be \"on\" or "
              "\"off\"" +
                  at(2));
    EXPECT_EQ(error("events {\n accept_mutex_delay soon; }"),
              "invalid value \"soon\" in \"accept_mutex_delay\" directive, expected a time such "
              "as 500ms, 10s, 1m" +
                  at(2));
    EXPECT_EQ(error("events {\n events { } }"), "\"events\" directive is not allowed here" + at(2));
    EXPECT_EQ(error("http {\n worker_connections 1; }"),
              "\"worker_connections\" directive is not allowed here" + at(2));
}

TEST_F(EventModuleTest, AcceptMutexZoneWithSeveralWorkers) {
    core::Status s = load("worker_processes 2;\nevents { accept_mutex on; }");
    ASSERT_TRUE(s.is_ok()) << s.message();
    core::ShmZone* zone = cycle_->find_shm_zone("halo_accept_mutex");
    ASSERT_NE(zone, nullptr);
    ASSERT_NE(conf().mutex, nullptr);
    EXPECT_TRUE(conf().mutex->try_lock());
    conf().mutex->unlock();
}

TEST_F(EventModuleTest, AcceptMutexNotInTestMode) {
    ASSERT_TRUE(load("worker_processes 2;\nevents { accept_mutex on; }", true).is_ok());
    EXPECT_EQ(cycle_->find_shm_zone("halo_accept_mutex"), nullptr);
    EXPECT_EQ(conf().mutex, nullptr);
}

// Every reload reuses the accept mutex zone (4 KiB). Reloading must not use it up: a master
// that crashes on its Nth SIGHUP takes the whole server down. Run in a child so that a crash
// fails this test only.
TEST_F(EventModuleTest, AcceptMutexSurvivesManyReloads) {
    constexpr int kReloads = 200;
    dir_.write("halo.conf", "worker_processes 2;\nevents { accept_mutex on; }\n");
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        core::CycleOptions o = support::cycle_options(dir_);
        std::unique_ptr<core::Cycle> current;
        for (int i = 0; i < kReloads; i++) {
            std::unique_ptr<core::Cycle> next;
            if (!core::Cycle::create(o, registry_, current.get(), next).is_ok()) {
                _exit(2);
            }
            if (next->conf<EventConf>().mutex == nullptr) {
                _exit(3);
            }
            current = std::move(next);
        }
        _exit(0);
    }
    int status = 0;
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (waitpid(pid, &status, WNOHANG) != pid) {
        if (std::chrono::steady_clock::now() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            FAIL() << "reload loop did not finish";
        }
        std::this_thread::sleep_for(5ms);
    }
    ASSERT_FALSE(WIFSIGNALED(status))
        << "crashed with signal " << WTERMSIG(status) << " within " << kReloads << " reloads";
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace ev
