// Directives of the core module (main context) through Cycle::create with the compiled-in
// module table: success path, defaults, every rejection with its message.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "core/core_module.h"
#include "core/cycle.h"
#include "support/test_modules.h"

namespace core {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

class CoreModuleTest : public ::testing::Test {
  protected:
    CoreModuleTest() : registry_(compiled_modules()) {}

    Status load(std::string_view conf, std::string params = {}) {
        cycle_.reset();
        return support::load_cycle(registry_, dir_, conf, cycle_, nullptr, std::move(params));
    }
    std::string error(std::string_view conf) {
        Status s = load(conf);
        EXPECT_FALSE(s.is_ok()) << "loaded: " << conf;
        return s.message();
    }
    std::string at(int line) const {
        return " in " + dir_.file("halo.conf") + ":" + std::to_string(line);
    }
    const CoreConf& core() const { return cycle_->conf<CoreConf>(); }

    support::TempDir dir_;
    ModuleRegistry registry_;
    std::unique_ptr<Cycle> cycle_;
};

TEST_F(CoreModuleTest, Defaults) {
    Status s = load("events {\n}\n");  // an empty file is refused (no "events" section)
    ASSERT_TRUE(s.is_ok()) << s.message();
    EXPECT_EQ(core().daemon, true);
    EXPECT_EQ(core().master_process, true);
    EXPECT_EQ(core().worker_processes, 1);
    EXPECT_EQ(core().user, "nobody");
    EXPECT_FALSE(core().group.has_value());
    EXPECT_EQ(core().pid, dir_.prefix() + "logs/halo.pid");
    EXPECT_FALSE(core().rlimit_nofile.has_value());
    EXPECT_FALSE(core().shutdown_timeout.has_value());
    EXPECT_EQ(cycle_->worker_count(), 1);
    // The default error log: <prefix>/logs/error.log at "error".
    ASSERT_EQ(cycle_->log().targets().size(), 1u);
    ASSERT_NE(cycle_->log().targets()[0].file, nullptr);
    EXPECT_EQ(cycle_->log().targets()[0].file->path, dir_.prefix() + "logs/error.log");
    EXPECT_GE(cycle_->log().targets()[0].file->fd, 0);
    EXPECT_EQ(cycle_->log().targets()[0].level, LogLevel::kError);
}

TEST_F(CoreModuleTest, Flags) {
    ASSERT_TRUE(load("daemon off;\nmaster_process off;").is_ok());
    EXPECT_EQ(core().daemon, false);
    EXPECT_EQ(core().master_process, false);
}

TEST_F(CoreModuleTest, FlagErrors) {
    EXPECT_EQ(error("daemon no;"),
              "invalid value \"no\" in \"daemon\" directive, it must be \"on\" or \"off\"" + at(1));
    EXPECT_EQ(error("master_process 1;"),
              "invalid value \"1\" in \"master_process\" directive, it must be \"on\" or \"off\"" +
                  at(1));
    EXPECT_EQ(error("daemon on;\ndaemon off;"), "\"daemon\" directive is duplicate" + at(2));
    EXPECT_EQ(error("daemon;"), "invalid number of arguments in \"daemon\" directive" + at(1));
}

TEST_F(CoreModuleTest, WorkerProcessesNumber) {
    ASSERT_TRUE(load("worker_processes 4;").is_ok());
    EXPECT_EQ(core().worker_processes, 4);
    EXPECT_EQ(cycle_->worker_count(), 4);
    ASSERT_TRUE(load("worker_processes 1024;").is_ok());
    EXPECT_EQ(core().worker_processes, 1024);
}

TEST_F(CoreModuleTest, WorkerProcessesAuto) {
    ASSERT_TRUE(load("worker_processes auto;").is_ok());
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    EXPECT_EQ(core().worker_processes, n > 0 ? static_cast<int>(n) : 1);
}

TEST_F(CoreModuleTest, SingleProcessHasOneWorker) {
    ASSERT_TRUE(load("worker_processes 4;\nmaster_process off;").is_ok());
    EXPECT_EQ(cycle_->worker_count(), 1);
}

TEST_F(CoreModuleTest, WorkerProcessesErrors) {
    for (const char* bad : {"0", "1025", "abc", "-1", "2x", "Auto"}) {
        EXPECT_EQ(error(std::string("worker_processes ") + bad + ";"),
                  std::string("invalid value \"") + bad +
                      "\" in \"worker_processes\" directive, it must be \"auto\" or 1..1024" +
                      at(1));
    }
    EXPECT_EQ(error("worker_processes 1;\nworker_processes auto;"),
              "\"worker_processes\" directive is duplicate" + at(2));
    EXPECT_EQ(error("worker_processes auto;\nworker_processes 1;"),
              "\"worker_processes\" directive is duplicate" + at(2));
}

TEST_F(CoreModuleTest, Pid) {
    ASSERT_TRUE(load("pid run/halo.pid;").is_ok());
    EXPECT_EQ(core().pid, dir_.prefix() + "run/halo.pid");
    ASSERT_TRUE(load("pid /var/run/x.pid;").is_ok());
    EXPECT_EQ(core().pid, "/var/run/x.pid");
    EXPECT_EQ(error("pid a;\npid b;"), "\"pid\" directive is duplicate" + at(2));
    EXPECT_EQ(error("pid a b;"), "invalid number of arguments in \"pid\" directive" + at(1));
}

TEST_F(CoreModuleTest, UserAndGroup) {
    ASSERT_TRUE(load("user nobody nogroup;").is_ok());
    EXPECT_EQ(core().user, "nobody");
    EXPECT_EQ(core().group, "nogroup");
    if (geteuid() == 0) {
        struct passwd* pw = getpwnam("nobody");
        ASSERT_NE(pw, nullptr);
        EXPECT_EQ(core().uid, pw->pw_uid);
        EXPECT_NE(core().gid, static_cast<gid_t>(-1));
    } else {
        EXPECT_EQ(core().uid, static_cast<uid_t>(-1));  // resolved as root only
    }
    EXPECT_EQ(error("user a;\nuser b;"), "\"user\" directive is duplicate" + at(2));
    EXPECT_EQ(error("user a b c;"), "invalid number of arguments in \"user\" directive" + at(1));
    EXPECT_EQ(error("user;"), "invalid number of arguments in \"user\" directive" + at(1));
}

TEST_F(CoreModuleTest, UserWithoutGroupTakesTheUsersGroup) {
    if (geteuid() != 0) {
        GTEST_SKIP() << "user is resolved as root only";
    }
    ASSERT_TRUE(load("user nobody;").is_ok());
    struct passwd* pw = getpwnam("nobody");
    ASSERT_NE(pw, nullptr);
    EXPECT_EQ(core().uid, pw->pw_uid);
    EXPECT_EQ(core().gid, pw->pw_gid);
}

TEST_F(CoreModuleTest, UnknownUserAndGroup) {
    if (geteuid() != 0) {
        GTEST_SKIP() << "user is resolved as root only";
    }
    EXPECT_EQ(error("user halo_no_such_user_x;"),
              "getpwnam(\"halo_no_such_user_x\") failed: no such user");
    EXPECT_EQ(error("user nobody halo_no_such_group_x;"),
              "getgrnam(\"halo_no_such_group_x\") failed: no such group");
}

TEST_F(CoreModuleTest, RlimitAndShutdownTimeout) {
    ASSERT_TRUE(load("worker_rlimit_nofile 1048576;\nworker_shutdown_timeout 10s;").is_ok());
    EXPECT_EQ(core().rlimit_nofile, 1048576);
    EXPECT_EQ(core().shutdown_timeout, 10s);
    EXPECT_EQ(
        error("worker_rlimit_nofile 0;"),
        "invalid value \"0\" in \"worker_rlimit_nofile\" directive, it must be 1..1048576" + at(1));
    EXPECT_EQ(error("worker_rlimit_nofile 1048577;"),
              "invalid value \"1048577\" in \"worker_rlimit_nofile\" directive, it must be "
              "1..1048576" +
                  at(1));
    EXPECT_EQ(error("worker_shutdown_timeout soon;"),
              "invalid value \"soon\" in \"worker_shutdown_timeout\" directive, expected a time "
              "such as 500ms, 10s, 1m" +
                  at(1));
}

TEST_F(CoreModuleTest, ErrorLogTargetsAndLevels) {
    Status s = load(
        "error_log stderr debug;\n"
        "error_log logs/a.log;\n"
        "error_log /dev/null emerg;\n");
    ASSERT_TRUE(s.is_ok()) << s.message();
    ASSERT_EQ(core().error_logs.size(), 3u);
    EXPECT_EQ(core().error_logs[0].file, nullptr);
    EXPECT_EQ(core().error_logs[0].level, LogLevel::kDebug);
    ASSERT_NE(core().error_logs[1].file, nullptr);
    EXPECT_EQ(core().error_logs[1].file->path, dir_.prefix() + "logs/a.log");
    EXPECT_EQ(core().error_logs[1].level, LogLevel::kError);
    EXPECT_EQ(core().error_logs[2].file->path, "/dev/null");
    EXPECT_EQ(core().error_logs[2].level, LogLevel::kEmerg);
    EXPECT_EQ(core().first_error_log_where, dir_.file("halo.conf") + ":1");
    EXPECT_EQ(cycle_->log().targets().size(), 3u);
    EXPECT_TRUE(cycle_->log().enabled(LogLevel::kDebug));
    // The files are open once the cycle exists.
    EXPECT_GE(core().error_logs[1].file->fd, 0);
}

TEST_F(CoreModuleTest, ErrorLogEveryLevelName) {
    const std::pair<const char*, LogLevel> levels[] = {
        {"debug", LogLevel::kDebug}, {"info", LogLevel::kInfo},   {"notice", LogLevel::kNotice},
        {"warn", LogLevel::kWarn},   {"error", LogLevel::kError}, {"crit", LogLevel::kCrit},
        {"alert", LogLevel::kAlert}, {"emerg", LogLevel::kEmerg},
    };
    for (const auto& [name, level] : levels) {
        ASSERT_TRUE(load(std::string("error_log stderr ") + name + ";").is_ok()) << name;
        ASSERT_EQ(core().error_logs.size(), 1u);
        EXPECT_EQ(core().error_logs[0].level, level) << name;
    }
}

TEST_F(CoreModuleTest, SameErrorLogFileIsOpenedOnce) {
    ASSERT_TRUE(load("error_log logs/a.log;\nerror_log logs/a.log info;").is_ok());
    EXPECT_EQ(core().error_logs[0].file, core().error_logs[1].file);
    EXPECT_EQ(cycle_->files().size(), 1u);
}

TEST_F(CoreModuleTest, ErrorLogErrors) {
    // nginx's words (tests/integration/error_log_test.cc compares them with nginx -t).
    EXPECT_EQ(error("error_log stderr verbose;"), "invalid log level \"verbose\"" + at(1));
    EXPECT_EQ(error("error_log;"),
              "invalid number of arguments in \"error_log\" directive" + at(1));
    EXPECT_EQ(error("error_log a b c;"), "invalid log level \"b\"" + at(1));
    EXPECT_EQ(error("error_log a warn error;"), "duplicate log level \"error\"" + at(1));
    EXPECT_EQ(error("error_log nodir/x.log;"),
              "open() \"" + dir_.prefix() + "nodir/x.log\" failed (2: No such file or directory)");
}

TEST_F(CoreModuleTest, CommandLineErrorLogOption) {
    cycle_.reset();
    dir_.write("halo.conf", "events {\n}\n");
    CycleOptions o = support::cycle_options(dir_);
    o.error_log = "stderr";
    ASSERT_TRUE(Cycle::create(o, registry_, nullptr, cycle_).is_ok());
    ASSERT_EQ(cycle_->log().targets().size(), 1u);
    EXPECT_EQ(cycle_->log().targets()[0].file, nullptr);

    o.error_log = "logs/other.log";
    ASSERT_TRUE(Cycle::create(o, registry_, nullptr, cycle_).is_ok());
    ASSERT_EQ(cycle_->log().targets().size(), 1u);
    EXPECT_EQ(cycle_->log().targets()[0].file->path, dir_.prefix() + "logs/other.log");

    // error_log in the config wins over -e.
    dir_.write("halo.conf", "error_log stderr;");
    ASSERT_TRUE(Cycle::create(o, registry_, nullptr, cycle_).is_ok());
    ASSERT_EQ(cycle_->log().targets().size(), 1u);
    EXPECT_EQ(cycle_->log().targets()[0].file, nullptr);
}

TEST_F(CoreModuleTest, MainDirectivesAreNotAllowedInBlocks) {
    EXPECT_EQ(error("events {\n  daemon off;\n}"),
              "\"daemon\" directive is not allowed here" + at(2));
    EXPECT_EQ(error("http {\n  worker_processes 2;\n}"),
              "\"worker_processes\" directive is not allowed here" + at(2));
}

TEST_F(CoreModuleTest, CommandLineParams) {
    ASSERT_TRUE(load("worker_processes 2;", "daemon off; master_process off;").is_ok());
    EXPECT_EQ(core().daemon, false);
    EXPECT_EQ(core().master_process, false);
    EXPECT_EQ(core().worker_processes, 2);
}

}  // namespace
}  // namespace core
