// A configuration that would crash or exhaust the process reading it cannot take the service
// down: 30,000 nested blocks (the recursive walkers' stack) and `include /dev/zero;` (memory
// without bound) are refused by `halo -t`, by `halo -s reload` and by the master on a raw
// SIGHUP, which reads every new configuration in a bounded child first. The old configuration
// keeps serving and the failure is reported.
#include <signal.h>
#include <sys/resource.h>

#include "support/harness.h"
#include "support/sanitizer.h"

namespace halo_test {
namespace {

/// A config answering `body` on port 0, with `inner` (one line) inside `location /`.
std::string conf(std::string_view body, std::string_view inner = "") {
    std::string c =
        "daemon off;\nworker_processes 1;\nerror_log logs/error.log notice;\n"
        "events {\n    worker_connections 64;\n}\nhttp {\n    server {\n"
        "        listen 127.0.0.1:%%PORT_0%%;\n        location / {\n";
    c += inner;  // line 11
    c += "\n            return 200 \"";
    c += body;
    c += "\\n\";\n        }\n    }\n}\n";
    return c;
}

/// 30,000 nested locations on line 11 (the config); the 101st `{` crosses the limit.
std::string deep_nesting() {
    std::string open;
    std::string close;
    for (int i = 0; i < 30000; i++) {
        open += "location / { ";
        close += "} ";
    }
    return open + close;
}

class ConfigSafetyTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_rewrite")) {
            GTEST_SKIP() << "the http_rewrite module is not compiled in";
        }
        halo_.write_conf(conf("old"));
        ASSERT_TRUE(halo_.start());
        workers_ = halo_.wait_workers(1);
        ASSERT_EQ(workers_.size(), 1u);
    }

    /// The master's result for `generation` (its SIGHUPs so far), once it is written.
    std::string wait_result(int generation) {
        const std::string path = halo_.pid_path() + ".reload";
        const std::string want = "generation " + std::to_string(generation) + "\n";
        std::string text;
        EXPECT_TRUE(wait_until([&] {
            text = read_file(path).value_or("");
            return text.find(want) != std::string::npos;
        })) << text;
        return text;
    }

    /// The reload failed with `message` (and the same in the error log), and the old
    /// configuration still serves from the same master and worker.
    void expect_refused_and_old_serving(const std::string& message) {
        auto lines = log_lines_with(halo_.error_log(), "#0: " + message);
        ASSERT_EQ(lines.size(), 1u) << halo_.error_log();
        EXPECT_NE(lines[0].find(" [emerg] "), std::string::npos) << lines[0];
        EXPECT_EQ(log_lines_with(halo_.error_log(),
                                 "reload failed, the previous configuration keeps serving")
                      .size(),
                  1u)
            << halo_.error_log();
        EXPECT_TRUE(halo_.master_alive());
        EXPECT_EQ(halo_.workers(), workers_);
        EXPECT_EQ(halo_.get_body(), "old\n");
    }

    /// `-s reload` was refused with `message` without a crash, the master not asked.
    void expect_reload_command_refused(const std::string& message) {
        RunResult r = halo_.run({"-s", "reload"});
        EXPECT_EQ(r.status, 1) << r;
        EXPECT_NE(r.err.find("halo: [emerg] " + message), std::string::npos) << r;
        EXPECT_TRUE(halo_.master_alive());
        EXPECT_EQ(halo_.workers(), workers_);
        EXPECT_EQ(halo_.get_body(), "old\n");
    }

    Halo halo_;
    std::vector<pid_t> workers_;
};

TEST_F(ConfigSafetyTest, DeepNestingBySighupLeavesTheOldConfigServing) {
    halo_.write_conf(conf("new", deep_nesting()));
    ASSERT_TRUE(halo_.signal(SIGHUP));
    std::string result = wait_result(1);
    const std::string message =
        "too deeply nested blocks (more than 100) in " + halo_.conf_path() + ":11";
    EXPECT_NE(result.find("result failed\n"), std::string::npos) << result;
    EXPECT_NE(result.find(message), std::string::npos) << result;
    expect_refused_and_old_serving(message);

    // A good configuration loads afterwards.
    halo_.write_conf(conf("new"));
    RunResult r = halo_.run({"-s", "reload"});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_TRUE(wait_until([&] { return halo_.get_body() == "new\n"; }));
}

TEST_F(ConfigSafetyTest, DeepNestingByReloadCommandIsRefused) {
    halo_.write_conf(conf("new", deep_nesting()));
    expect_reload_command_refused("too deeply nested blocks (more than 100) in " +
                                  halo_.conf_path() + ":11");
}

TEST_F(ConfigSafetyTest, IncludeOfDevZeroBySighupLeavesTheOldConfigServing) {
    halo_.write_conf(conf("new", "include /dev/zero;"));
    ASSERT_TRUE(halo_.signal(SIGHUP));
    std::string result = wait_result(1);
    const std::string message =
        "\"/dev/zero\" is not a regular file (a character device) in " + halo_.conf_path() + ":11";
    EXPECT_NE(result.find("result failed\n"), std::string::npos) << result;
    EXPECT_NE(result.find(message), std::string::npos) << result;
    expect_refused_and_old_serving(message);
}

TEST_F(ConfigSafetyTest, IncludeOfDevZeroByReloadCommandIsRefused) {
    halo_.write_conf(conf("new", "include /dev/zero;"));
    expect_reload_command_refused("\"/dev/zero\" is not a regular file (a character device) in " +
                                  halo_.conf_path() + ":11");
}

// A configuration within the limits that still kills the parser (here: 99 nested blocks on a
// master started with a 64 KB stack, so that the check's recursion overflows it): the check
// child dies, the master logs it and keeps serving, and a later good reload works.
TEST(ConfigSafetyCrashTest, ACheckThatCrashesFailsTheReloadAndTheOldConfigServes) {
    if (!halo_has_module("http_rewrite")) {
        GTEST_SKIP() << "the http_rewrite module is not compiled in";
    }
    if (sanitized_run()) {
        GTEST_SKIP() << "AddressSanitizer turns the stack overflow into a report and exit(1)";
    }
    Halo halo;
    halo.write_conf(conf("old"));
    rlimit saved{};
    ASSERT_EQ(getrlimit(RLIMIT_STACK, &saved), 0);
    rlimit small = saved;
    small.rlim_cur = 64 * 1024;  // inherited by the master through fork and exec
    ASSERT_EQ(setrlimit(RLIMIT_STACK, &small), 0);
    ::testing::AssertionResult started = halo.start();
    setrlimit(RLIMIT_STACK, &saved);
    ASSERT_TRUE(started);
    auto workers = halo.wait_workers(1);
    ASSERT_EQ(workers.size(), 1u);

    std::string open;
    std::string close;
    for (int i = 0; i < 96; i++) {  // with http, server and location: 99 levels
        open += "location / { ";
        close += "} ";
    }
    halo.write_conf(conf("new", open + "return 200 \"deep\";" + close));
    ASSERT_TRUE(halo.signal(SIGHUP));
    EXPECT_TRUE(wait_until([&] {
        return halo.error_log().find("reload failed") != std::string::npos;
    })) << halo.error_log();
    auto lines = log_lines_with(halo.error_log(), "#0: the configuration check crashed (signal 11");
    EXPECT_EQ(lines.size(), 1u) << halo.error_log();
    EXPECT_TRUE(halo.master_alive());
    EXPECT_EQ(halo.workers(), workers);
    EXPECT_EQ(halo.get_body(), "old\n");

    halo.write_conf(conf("new"));
    ASSERT_TRUE(halo.signal(SIGHUP));
    EXPECT_TRUE(wait_until([&] { return halo.get_body() == "new\n"; }));
}

TEST(ConfigSafetyTestT, TestCommandRefusesThemWithoutCrashing) {
    Halo halo;
    halo.write_conf(conf("new", deep_nesting()));
    RunResult r = halo.run({"-t"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("halo: [emerg] too deeply nested blocks (more than 100) in " +
                         halo.conf_path() + ":11\n"),
              std::string::npos)
        << r;
    EXPECT_NE(r.err.find("test failed"), std::string::npos) << r;

    halo.write_conf(conf("new", "include /dev/zero;"));
    r = halo.run({"-t"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("halo: [emerg] \"/dev/zero\" is not a regular file (a character "
                         "device) in " +
                         halo.conf_path() + ":11\n"),
              std::string::npos)
        << r;
}

}  // namespace
}  // namespace halo_test
