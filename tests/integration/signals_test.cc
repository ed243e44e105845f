// Process control: `halo -s stop|quit|reload|reopen`, the signals behind them, daemon mode,
// graceful and fast shutdown.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/harness.h"

namespace halo_test {
namespace {

/// A config answering `body` on %%PORT_0%% with `workers` workers (daemon off).
std::string conf(std::string_view body, int workers = 1, std::string_view main_extra = "") {
    std::string c = "daemon off;\nworker_processes " + std::to_string(workers) +
                    ";\nerror_log logs/error.log notice;\n";
    c += main_extra;
    c += R"(
events {
    worker_connections 64;
}

http {
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / {
            return 200 ")";
    c += body;
    c += R"(\n";
        }
    }
}
)";
    return c;
}

class SignalsTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_rewrite")) {
            GTEST_SKIP() << "the http_rewrite module is not compiled in";
        }
    }

    Halo halo_;
};

TEST_F(SignalsTest, StopWithoutMasterFails) {
    halo_.write_conf(conf("one"));
    for (const char* sig : {"stop", "quit", "reload", "reopen"}) {
        RunResult r = halo_.run({"-s", sig});
        EXPECT_EQ(r.status, 1) << sig << ": " << r;
        EXPECT_NE(r.err.find("halo: [error] open() \"" + halo_.path("logs/halo.pid") +
                             "\" failed (2: No such file or directory) (is halo running?)\n"),
                  std::string::npos)
            << sig << ": " << r;
    }
}

TEST_F(SignalsTest, SignalUsesPidDirective) {
    halo_.write_conf(conf("one", 1, "pid run/master.pid;\n"));
    RunResult r = halo_.run({"-s", "stop"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("open() \"" + halo_.path("run/master.pid") + "\" failed"),
              std::string::npos)
        << r;

    ::mkdir(halo_.path("run").c_str(), 0755);
    halo_.set_pid_path("run/master.pid");
    ASSERT_TRUE(halo_.start());
    EXPECT_FALSE(file_exists(halo_.path("logs/halo.pid")));
    RunResult stop = halo_.run({"-s", "stop"});
    EXPECT_EQ(stop.status, 0) << stop;
    EXPECT_EQ(halo_.wait_exit(), 0);
    EXPECT_FALSE(file_exists(halo_.path("run/master.pid")));
}

TEST_F(SignalsTest, InvalidPidFile) {
    halo_.write_conf(conf("one"));
    ASSERT_TRUE(write_file(halo_.path("logs/halo.pid"), "garbage\n"));
    RunResult r = halo_.run({"-s", "stop"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("invalid PID number \"garbage\""), std::string::npos) << r;
}

TEST_F(SignalsTest, StalePidFile) {
    // A pid that existed a moment ago and is gone now.
    pid_t gone = fork();
    if (gone == 0) {
        _exit(0);
    }
    ASSERT_GT(gone, 0);
    waitpid(gone, nullptr, 0);
    halo_.write_conf(conf("one"));
    ASSERT_TRUE(write_file(halo_.path("logs/halo.pid"), std::to_string(gone) + "\n"));
    RunResult r = halo_.run({"-s", "reload"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(
        r.err.find("[error] kill(" + std::to_string(gone) + ", 1) failed (3: No such process)"),
        std::string::npos)
        << r;
}

TEST_F(SignalsTest, StartFailsWhenPortIsBusy) {
    int blocker = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(blocker, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(halo_.port(0));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(blocker, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
    ASSERT_EQ(::listen(blocker, 8), 0);
    halo_.write_conf(conf("one"));
    RunResult r = halo_.run({}, 10s);
    ::close(blocker);
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("halo: [emerg] bind() to 127.0.0.1:" + std::to_string(halo_.port(0)) +
                         " failed (98: Address already in use) in " + halo_.conf_path() + ":"),
              std::string::npos)
        << r;
    EXPECT_FALSE(file_exists(halo_.pid_path()));
}

TEST_F(SignalsTest, StartWritesPidFileAndServes) {
    halo_.write_conf(conf("one", 2));
    ASSERT_TRUE(halo_.start());
    EXPECT_EQ(read_pid_file(halo_.pid_path()), halo_.master_pid());
    EXPECT_EQ(halo_.wait_workers(2).size(), 2u);
    EXPECT_EQ(halo_.get_body(), "one\n");
}

TEST_F(SignalsTest, StopViaSignalOption) {
    halo_.write_conf(conf("one", 2));
    ASSERT_TRUE(halo_.start());
    auto workers = halo_.wait_workers(2);
    ASSERT_EQ(workers.size(), 2u);
    RunResult r = halo_.run({"-s", "stop"});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_EQ(r.err, "");
    EXPECT_EQ(halo_.wait_exit(), 0);
    for (pid_t w : workers) {
        EXPECT_TRUE(wait_until([w] { return !process_alive(w); })) << "worker " << w;
    }
    EXPECT_FALSE(file_exists(halo_.pid_path()));
    EXPECT_TRUE(wait_port_closed(halo_.port(0)));
}

TEST_F(SignalsTest, QuitViaSignalOption) {
    halo_.write_conf(conf("one", 2));
    ASSERT_TRUE(halo_.start());
    auto workers = halo_.wait_workers(2);
    ASSERT_EQ(workers.size(), 2u);
    RunResult r = halo_.run({"-s", "quit"});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_EQ(halo_.wait_exit(), 0);
    for (pid_t w : workers) {
        EXPECT_TRUE(wait_until([w] { return !process_alive(w); })) << "worker " << w;
    }
    EXPECT_FALSE(file_exists(halo_.pid_path()));
    EXPECT_TRUE(wait_port_closed(halo_.port(0)));
}

TEST_F(SignalsTest, SigintStopsFast) {
    halo_.write_conf(conf("one"));
    ASSERT_TRUE(halo_.start());
    ASSERT_TRUE(halo_.signal(SIGINT));
    EXPECT_EQ(halo_.wait_exit(), 0);
    EXPECT_FALSE(file_exists(halo_.pid_path()));
}

TEST_F(SignalsTest, ReloadViaSignalOption) {
    halo_.write_conf(conf("one", 2));
    ASSERT_TRUE(halo_.start());
    auto old = halo_.wait_workers(2);
    ASSERT_EQ(old.size(), 2u);
    halo_.write_conf(conf("two", 2));
    RunResult r = halo_.run({"-s", "reload"});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_EQ(halo_.wait_new_workers(2, old).size(), 2u);
    // Old workers accept until they have handled their QUIT.
    EXPECT_TRUE(wait_until([&] { return halo_.get_body() == "two\n"; }));
    EXPECT_TRUE(halo_.master_alive());
}

TEST_F(SignalsTest, ReloadWithBadConfigIsRefusedBeforeSignalling) {
    halo_.write_conf(conf("one", 2));
    ASSERT_TRUE(halo_.start());
    auto workers = halo_.wait_workers(2);
    ASSERT_EQ(workers.size(), 2u);

    halo_.write_conf(
        "daemon off;\nerror_log logs/error.log notice;\nevents {}\nhttp {\n"
        "    server {\n        listen 127.0.0.1:%%PORT_0%%;\n"
        "        bad_directive;\n    }\n}\n");
    RunResult r = halo_.run({"-s", "reload"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("halo: [emerg] unknown directive \"bad_directive\" in " +
                         halo_.conf_path() + ":7\n"),
              std::string::npos)
        << r;

    // Signals are handled in order; once the master has logged a later USR1, a HUP sent by
    // `-s reload` would have been seen.
    ASSERT_TRUE(halo_.signal(SIGUSR1));
    ASSERT_TRUE(
        wait_until([&] { return halo_.error_log().find("reopening logs") != std::string::npos; }));
    EXPECT_EQ(halo_.error_log().find("reconfiguring"), std::string::npos) << halo_.error_log();
    EXPECT_EQ(halo_.workers(), workers);
    EXPECT_EQ(halo_.get_body(), "one\n");
}

TEST_F(SignalsTest, StopWithBadConfigSendsNothing) {
    halo_.write_conf(conf("one"));
    ASSERT_TRUE(halo_.start());
    halo_.write_conf("daemon off;\nworker_processes many;\n");
    RunResult r = halo_.run({"-s", "stop"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("invalid value \"many\" in \"worker_processes\" directive"),
              std::string::npos)
        << r;
    EXPECT_FALSE(halo_.wait_exit(500ms).has_value()) << "the master stopped";
    EXPECT_EQ(halo_.get_body(), "one\n");
}

TEST_F(SignalsTest, SighupWithBadConfigKeepsOldConfigServing) {
    halo_.write_conf(conf("one", 2));
    ASSERT_TRUE(halo_.start());
    auto workers = halo_.wait_workers(2);
    ASSERT_EQ(workers.size(), 2u);

    halo_.write_conf(
        "daemon off;\nerror_log logs/error.log notice;\nevents {}\nhttp {\n"
        "    server {\n        listen 127.0.0.1:%%PORT_0%%;\n"
        "        location / { return 200 \"two\\n\"; }\n"
        "        location / { return 200 \"dup\\n\"; }\n    }\n}\n");
    ASSERT_TRUE(halo_.signal(SIGHUP));
    ASSERT_TRUE(wait_until([&] {
        return halo_.error_log().find("duplicate location \"/\"") != std::string::npos;
    })) << halo_.error_log();
    std::string log = halo_.error_log();
    EXPECT_NE(log.find("[emerg]"), std::string::npos) << log;
    EXPECT_NE(log.find("duplicate location \"/\" in " + halo_.conf_path() + ":8"),
              std::string::npos)
        << log;

    EXPECT_TRUE(halo_.master_alive());
    EXPECT_EQ(halo_.workers(), workers);
    for (int i = 0; i < 5; i++) {
        EXPECT_EQ(halo_.get_body(), "one\n");
    }

    // The master is still in charge: a fixed config is taken.
    halo_.write_conf(conf("three", 2));
    ASSERT_TRUE(halo_.signal(SIGHUP));
    EXPECT_EQ(halo_.wait_new_workers(2, workers).size(), 2u);
    EXPECT_TRUE(wait_until([&] { return halo_.get_body() == "three\n"; }));
}

TEST_F(SignalsTest, DaemonStartAndQuit) {
    std::string c = conf("daemon", 2);
    c.replace(c.find("daemon off;"), 11, "daemon on;");
    halo_.write_conf(c);
    ASSERT_TRUE(halo_.start({}, /*daemon=*/true));
    // start() saw the command exit while the master keeps running: it detached.
    pid_t master = halo_.master_pid();
    EXPECT_TRUE(halo_.master_alive());
    EXPECT_EQ(halo_.wait_workers(2).size(), 2u);
    EXPECT_EQ(halo_.get_body(), "daemon\n");
    // Detached: its own session, stdio on /dev/null.
    EXPECT_EQ(getsid(master), master);

    RunResult r = halo_.run({"-s", "quit"});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_TRUE(wait_until([&] { return !process_alive(master); }));
    EXPECT_FALSE(file_exists(halo_.pid_path()));
    EXPECT_TRUE(wait_port_closed(halo_.port(0)));
}

TEST_F(SignalsTest, GracefulQuitFinishesInflightRequestAndClosesIdle) {
    halo_.write_conf(conf("bye"));
    ASSERT_TRUE(halo_.start());
    auto workers = halo_.wait_workers(1);
    ASSERT_EQ(workers.size(), 1u);
    const pid_t worker = workers[0];

    HttpConnection idle;
    ASSERT_TRUE(idle.connect(halo_.port(0)));
    ASSERT_TRUE(idle.send(get_request("/", "localhost", true)));
    auto first = idle.read_response();
    ASSERT_TRUE(first) << idle.error();
    EXPECT_EQ(first->header("connection"), "keep-alive");

    HttpConnection inflight;
    ASSERT_TRUE(inflight.connect(halo_.port(0)));
    ASSERT_TRUE(inflight.send("GET / HTTP/1.1\r\nHost: localhost\r\n"));
    ASSERT_TRUE(wait_until([&] { return established_connections(worker, halo_.port(0)) == 2; }));

    RunResult r = halo_.run({"-s", "quit"});
    EXPECT_EQ(r.status, 0) << r;
    // The idle keepalive connection is closed without a response...
    EXPECT_TRUE(idle.wait_closed(5s));
    EXPECT_EQ(idle.unread(), "");
    // ...while the worker waits for the request in progress.
    EXPECT_TRUE(process_alive(worker));
    EXPECT_TRUE(halo_.master_alive());

    ASSERT_TRUE(inflight.send("\r\n"));
    auto resp = inflight.read_response();
    ASSERT_TRUE(resp) << inflight.error();
    EXPECT_EQ(resp->status, 200);
    EXPECT_EQ(resp->body, "bye\n");
    EXPECT_EQ(resp->header("connection"), "close");
    EXPECT_TRUE(inflight.wait_closed(5s));

    EXPECT_EQ(halo_.wait_exit(), 0);
    EXPECT_FALSE(process_alive(worker));
}

TEST_F(SignalsTest, WorkerShutdownTimeoutEndsGracefulQuit) {
    halo_.write_conf(conf("one", 1, "worker_shutdown_timeout 1s;\n"));
    ASSERT_TRUE(halo_.start());
    auto workers = halo_.wait_workers(1);
    ASSERT_EQ(workers.size(), 1u);

    HttpConnection stuck;
    ASSERT_TRUE(stuck.connect(halo_.port(0)));
    ASSERT_TRUE(stuck.send("GET / HTTP/1.1\r\n"));
    ASSERT_TRUE(
        wait_until([&] { return established_connections(workers[0], halo_.port(0)) == 1; }));

    ASSERT_TRUE(halo_.signal(SIGQUIT));
    // Without the timeout the worker would wait for the client_header_timeout (60s).
    EXPECT_EQ(halo_.wait_exit(15s), 0);
    EXPECT_TRUE(stuck.wait_closed(5s));
}

TEST_F(SignalsTest, FastStopDoesNotWaitForRequestsInProgress) {
    halo_.write_conf(conf("one"));
    ASSERT_TRUE(halo_.start());
    auto workers = halo_.wait_workers(1);
    ASSERT_EQ(workers.size(), 1u);

    HttpConnection stuck;
    ASSERT_TRUE(stuck.connect(halo_.port(0)));
    ASSERT_TRUE(stuck.send("GET / HTTP/1.1\r\n"));
    ASSERT_TRUE(
        wait_until([&] { return established_connections(workers[0], halo_.port(0)) == 1; }));

    RunResult r = halo_.run({"-s", "stop"});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_EQ(halo_.wait_exit(15s), 0);
    EXPECT_TRUE(stuck.wait_closed(5s));
    EXPECT_EQ(stuck.unread(), "");
}

TEST_F(SignalsTest, SingleProcessModeServesAndStops) {
    halo_.write_conf(conf("single", 4, "master_process off;\n"));
    ASSERT_TRUE(halo_.start());
    EXPECT_EQ(halo_.get_body(), "single\n");
    EXPECT_TRUE(halo_.workers().empty()) << "master_process off forks no worker";
    EXPECT_TRUE(halo_.run({"-s", "stop"}).status == 0);
    EXPECT_EQ(halo_.wait_exit(), 0);
    EXPECT_FALSE(file_exists(halo_.pid_path()));
}

}  // namespace
}  // namespace halo_test
