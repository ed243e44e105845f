// The master respawns workers that die abnormally, and only those of the current generation.
#include <signal.h>
#include <unistd.h>

#include <algorithm>

#include "support/harness.h"

namespace halo_test {
namespace {

std::string conf(std::string_view body, int workers, bool with_error_log = true) {
    std::string c = "daemon off;\nworker_processes " + std::to_string(workers) + ";\n";
    if (with_error_log) {
        c += "error_log logs/error.log notice;\n";
    }
    c += "events {\n    worker_connections 64;\n}\nhttp {\n    server {\n"
         "        listen 127.0.0.1:%%PORT_0%%;\n        location / {\n            return 200 \"";
    c += body;
    c += "\\n\";\n        }\n    }\n}\n";
    return c;
}

bool contains(const std::vector<pid_t>& v, pid_t p) {
    return std::find(v.begin(), v.end(), p) != v.end();
}

class RespawnTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_rewrite")) {
            GTEST_SKIP() << "the http_rewrite module is not compiled in";
        }
    }

    Halo halo_;
};

TEST_F(RespawnTest, KilledWorkerIsRespawned) {
    halo_.write_conf(conf("alive", 2));
    ASSERT_TRUE(halo_.start());
    auto workers = halo_.wait_workers(2);
    ASSERT_EQ(workers.size(), 2u);

    for (int round = 0; round < 3; round++) {
        const pid_t victim = workers[0];
        ASSERT_EQ(::kill(victim, SIGKILL), 0);
        std::vector<pid_t> now;
        ASSERT_TRUE(wait_until([&] {
            now = halo_.workers();
            return now.size() == 2 && !contains(now, victim);
        })) << "worker "
            << victim << " was not replaced";
        EXPECT_TRUE(contains(now, workers[1])) << "the other worker was disturbed";
        EXPECT_FALSE(process_alive(victim));
        for (int i = 0; i < 5; i++) {
            EXPECT_EQ(halo_.get_body(), "alive\n");
        }
        EXPECT_NE(halo_.error_log().find("[alert] " + std::to_string(halo_.master_pid()) +
                                         "#0: worker process " + std::to_string(victim) +
                                         " exited on signal 9"),
                  std::string::npos)
            << halo_.error_log();
        // Next round kills the survivor of this one.
        const pid_t replacement = now[0] == workers[1] ? now[1] : now[0];
        workers = {workers[1], replacement};
    }
    EXPECT_TRUE(halo_.master_alive());
}

TEST_F(RespawnTest, RespawnedWorkerServesAlone) {
    // With a single worker, the respawned one is the only one serving.
    halo_.write_conf(conf("solo", 1));
    ASSERT_TRUE(halo_.start());
    auto workers = halo_.wait_workers(1);
    ASSERT_EQ(workers.size(), 1u);
    ASSERT_EQ(::kill(workers[0], SIGKILL), 0);
    auto fresh = halo_.wait_new_workers(1, workers);
    ASSERT_EQ(fresh.size(), 1u);
    EXPECT_EQ(halo_.get_body(), "solo\n");
    EXPECT_EQ(established_connections(fresh[0], halo_.port(0)), 0);
}

TEST_F(RespawnTest, DrainingOldWorkerIsNotRespawned) {
    halo_.write_conf(conf("one", 1));
    ASSERT_TRUE(halo_.start());
    auto old = halo_.wait_workers(1);
    ASSERT_EQ(old.size(), 1u);

    // Keep the old worker busy so that it drains after the reload.
    HttpConnection busy;
    ASSERT_TRUE(busy.connect(halo_.port(0)));
    ASSERT_TRUE(busy.send("GET / HTTP/1.1\r\n"));
    ASSERT_TRUE(wait_until([&] { return established_connections(old[0], halo_.port(0)) == 1; }));

    halo_.write_conf(conf("two", 1));
    ASSERT_TRUE(halo_.signal(SIGHUP));
    auto fresh = halo_.wait_new_workers(1, old);
    ASSERT_EQ(fresh.size(), 1u);
    ASSERT_TRUE(process_alive(old[0]));

    ASSERT_EQ(::kill(old[0], SIGKILL), 0);
    EXPECT_TRUE(wait_until([&] { return !process_alive(old[0]); }));
    // Signals are handled in order: once a later USR1 is logged, the SIGCHLD was handled.
    ASSERT_TRUE(halo_.signal(SIGUSR1));
    ASSERT_TRUE(
        wait_until([&] { return halo_.error_log().find("reopening logs") != std::string::npos; }));
    EXPECT_EQ(halo_.workers(), fresh) << "an old-generation worker was respawned";
    EXPECT_EQ(halo_.get_body(), "two\n");
}

TEST_F(RespawnTest, WorkerKilledDuringQuitIsNotRespawned) {
    halo_.write_conf(conf("one", 1));
    ASSERT_TRUE(halo_.start());
    auto workers = halo_.wait_workers(1);
    ASSERT_EQ(workers.size(), 1u);

    HttpConnection busy;
    ASSERT_TRUE(busy.connect(halo_.port(0)));
    ASSERT_TRUE(busy.send("GET / HTTP/1.1\r\n"));
    ASSERT_TRUE(
        wait_until([&] { return established_connections(workers[0], halo_.port(0)) == 1; }));
    ASSERT_TRUE(halo_.signal(SIGQUIT));
    ASSERT_TRUE(wait_until(
        [&] { return log_lines_with(halo_.error_log(), "gracefully shutting down").size() >= 2; }));
    ASSERT_EQ(::kill(workers[0], SIGKILL), 0);
    EXPECT_EQ(halo_.wait_exit(), 0);
    EXPECT_TRUE(halo_.workers().empty());
}

TEST_F(RespawnTest, WorkersExitWhenMasterIsKilled) {
    halo_.write_conf(conf("one", 2));
    ASSERT_TRUE(halo_.start());
    auto workers = halo_.wait_workers(2);
    ASSERT_EQ(workers.size(), 2u);
    ASSERT_TRUE(halo_.signal(SIGKILL));
    EXPECT_EQ(halo_.wait_exit(), 128 + SIGKILL);
    // The workers ask for a parent-death signal: none may outlive the master.
    bool gone =
        wait_until([&] { return std::none_of(workers.begin(), workers.end(), process_alive); });
    for (pid_t w : workers) {
        EXPECT_FALSE(process_alive(w))
            << "worker " << w << " outlived its master (uid " << process_euid(w) << ")";
    }
    if (gone) {
        EXPECT_TRUE(wait_port_closed(halo_.port(0)));
    }
}

TEST_F(RespawnTest, ErrorLogFromCommandLineGetsTheAlert) {
    // No error_log directive: -e chooses the file.
    halo_.write_conf(conf("one", 1, /*with_error_log=*/false));
    ASSERT_TRUE(halo_.start({"-e", "logs/custom.log"}));
    auto workers = halo_.wait_workers(1);
    ASSERT_EQ(workers.size(), 1u);
    ASSERT_EQ(::kill(workers[0], SIGKILL), 0);
    ASSERT_EQ(halo_.wait_new_workers(1, workers).size(), 1u);
    EXPECT_TRUE(wait_until([&] {
        return read_file(halo_.path("logs/custom.log"))
                   .value_or("")
                   .find("worker process " + std::to_string(workers[0]) + " exited on signal 9") !=
               std::string::npos;
    })) << read_file(halo_.path("logs/custom.log")).value_or("<no file>");
    EXPECT_FALSE(file_exists(halo_.path("logs/error.log")));
}

}  // namespace
}  // namespace halo_test
