// `halo -s reload` reports the outcome: it exits 0 only once the master serves the new
// configuration, and 1 with the error when the master could not load it (a port only the master
// fails to bind), with the old configuration still serving. The result file behind it
// (<pid file>.reload), the cases where no answer can come (master_process off, a stopped
// master, a master that does not write results), and the daemon start that waits for the pid
// file (systemd's Type=forking).
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support/harness.h"

namespace halo_test {
namespace {

/// A config answering `body` on the given harness ports (daemon off, one worker).
std::string conf(std::string_view body, std::vector<int> ports = {0},
                 std::string_view main_extra = "") {
    std::string c = "daemon off;\nworker_processes 1;\nerror_log logs/error.log notice;\n";
    c += main_extra;
    c += "events {\n    worker_connections 64;\n}\nhttp {\n    server {\n";
    for (int p : ports) {
        c += "        listen 127.0.0.1:%%PORT_" + std::to_string(p) + "%%;\n";
    }
    c += "        location / {\n            return 200 \"";
    c += body;
    c += "\\n\";\n        }\n    }\n}\n";
    return c;
}

/// A socket listening on 127.0.0.1:port (someone else's server); -1 on failure.
int listen_on(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 ||
        ::listen(fd, 8) != 0) {
        if (fd >= 0) {
            ::close(fd);
        }
        return -1;
    }
    return fd;
}

class ReloadResultTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_rewrite")) {
            GTEST_SKIP() << "the http_rewrite module is not compiled in";
        }
    }
    std::string result_path() const { return halo_.pid_path() + ".reload"; }

    Halo halo_;
};

TEST_F(ReloadResultTest, MasterWritesItsResultAtStartAndRemovesItAtExit) {
    halo_.write_conf(conf("one"));
    ASSERT_TRUE(halo_.start());
    auto text = read_file(result_path());
    ASSERT_TRUE(text) << result_path();
    EXPECT_NE(text->find("pid " + std::to_string(halo_.master_pid()) + "\n"), std::string::npos)
        << *text;
    EXPECT_NE(text->find("mode master\n"), std::string::npos) << *text;
    EXPECT_NE(text->find("generation 0\n"), std::string::npos) << *text;
    EXPECT_NE(text->find("result ok\n"), std::string::npos) << *text;

    ASSERT_EQ(halo_.run({"-s", "quit"}).status, 0);
    EXPECT_EQ(halo_.wait_exit(), 0);
    EXPECT_FALSE(file_exists(halo_.pid_path()));
    EXPECT_FALSE(file_exists(result_path()));
}

TEST_F(ReloadResultTest, FailureOnlyTheMasterSeesIsReportedAndTheOldConfigKeepsServing) {
    halo_.write_conf(conf("one"));
    ASSERT_TRUE(halo_.start());
    auto workers = halo_.wait_workers(1);
    ASSERT_EQ(workers.size(), 1u);

    // The new config is valid (-t passes: it binds nothing), but its second port is taken.
    int blocker = listen_on(halo_.port(1));
    ASSERT_GE(blocker, 0);
    halo_.write_conf(conf("two", {0, 1}));
    EXPECT_EQ(halo_.run({"-t", "-q"}).status, 0);
    RunResult r = halo_.run({"-s", "reload"});
    EXPECT_EQ(r.status, 1) << r;
    const std::string bind_error =
        "halo: [emerg] bind() to 127.0.0.1:" + std::to_string(halo_.port(1)) + " failed (98: ";
    EXPECT_NE(r.err.find(bind_error), std::string::npos) << r;
    EXPECT_NE(r.err.find(halo_.conf_path() + ":10\n"), std::string::npos) << r;
    EXPECT_NE(r.err.find("halo: reload failed, the previous configuration keeps serving\n"),
              std::string::npos)
        << r;
    EXPECT_TRUE(halo_.master_alive());
    EXPECT_EQ(halo_.workers(), workers);
    EXPECT_EQ(halo_.get_body(), "one\n");
    ::close(blocker);

    // Port free: the same config loads and -s reload says so.
    r = halo_.run({"-s", "reload"});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_EQ(r.err, "") << r;
    EXPECT_EQ(halo_.wait_new_workers(1, workers).size(), 1u);
    EXPECT_TRUE(wait_until([&] { return get_body(halo_.port(1)) == "two\n"; }));
}

TEST_F(ReloadResultTest, SuccessIsReportedOnlyOnceTheMasterHasTheNewSockets) {
    halo_.write_conf(conf("one"));
    ASSERT_TRUE(halo_.start());
    const uint16_t added = halo_.port(1);
    halo_.write_conf(conf("two", {0, 1}));
    RunResult r = halo_.run({"-s", "reload"});
    ASSERT_EQ(r.status, 0) << r;
    // No waiting: when -s reload has returned, the master has loaded the config and listens.
    EXPECT_TRUE(port_accepts(added));
    auto text = read_file(result_path());
    ASSERT_TRUE(text);
    EXPECT_NE(text->find("generation 1\n"), std::string::npos) << *text;
    EXPECT_NE(text->find("result ok\n"), std::string::npos) << *text;
    EXPECT_TRUE(wait_until([&] { return get_body(added) == "two\n"; }));
}

TEST_F(ReloadResultTest, ConfigErrorIsRefusedBeforeSignalling) {
    halo_.write_conf(conf("one"));
    ASSERT_TRUE(halo_.start());
    auto before = read_file(result_path());
    ASSERT_TRUE(before);
    halo_.write_conf(conf("two") + "bad_directive;\nother_bad on;\n");
    RunResult r = halo_.run({"-s", "reload"});
    EXPECT_EQ(r.status, 1) << r;
    // Every unknown directive, each on its own [emerg] line.
    EXPECT_NE(r.err.find("halo: [emerg] unknown directive \"bad_directive\""), std::string::npos)
        << r;
    EXPECT_NE(r.err.find("halo: [emerg] unknown directive \"other_bad\""), std::string::npos) << r;
    // The master was not asked: its result is the one from its start.
    EXPECT_EQ(read_file(result_path()), before);
    EXPECT_EQ(halo_.get_body(), "one\n");
}

TEST_F(ReloadResultTest, SingleProcessCannotReloadAndSaysSo) {
    halo_.write_conf(conf("single", {0}, "master_process off;\n"));
    ASSERT_TRUE(halo_.start());
    RunResult r = halo_.run({"-s", "reload"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("runs with \"master_process off\" and cannot reload"), std::string::npos)
        << r;
    EXPECT_TRUE(halo_.master_alive());
    EXPECT_EQ(halo_.get_body(), "single\n");
}

TEST_F(ReloadResultTest, MasterThatDoesNotAnswerFailsTheReloadAfterTheWait) {
    halo_.write_conf(conf("one"));
    ASSERT_TRUE(halo_.start());
    ASSERT_EQ(halo_.wait_workers(1).size(), 1u);
    // A stopped master takes the signal but cannot answer.
    ASSERT_TRUE(halo_.signal(SIGSTOP));
    halo_.write_conf(conf("two"));
    RunResult r = halo_.run({"-s", "reload"}, 30s);
    ASSERT_TRUE(halo_.signal(SIGCONT));
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("did not report the outcome of the reload within 10 s"), std::string::npos)
        << r;
    // Once running again it handles the pending SIGHUP.
    EXPECT_TRUE(wait_until([&] { return halo_.get_body() == "two\n"; }));
}

TEST_F(ReloadResultTest, MasterWithoutAResultFileGetsTheSignalWithAWarning) {
    halo_.write_conf(conf("one"));
    ASSERT_TRUE(halo_.start());
    // As an older halo that writes no results.
    ASSERT_EQ(::unlink(result_path().c_str()), 0);
    halo_.write_conf(conf("two"));
    RunResult r = halo_.run({"-s", "reload"});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_NE(r.err.find("[warn] the master process " + std::to_string(halo_.master_pid()) +
                         " does not report the outcome of a reload"),
              std::string::npos)
        << r;
    EXPECT_TRUE(wait_until([&] { return halo_.get_body() == "two\n"; }));
}

TEST_F(ReloadResultTest, DaemonStartReturnsOnceThePidFileIsWritten) {
    std::string c = conf("daemon");
    c.replace(c.find("daemon off;"), 11, "daemon on;");
    halo_.write_conf(c);
    RunResult r = halo_.run({});
    ASSERT_EQ(r.status, 0) << r;
    // No waiting: systemd (Type=forking) reads the pid file as soon as the command returns.
    auto pid = read_pid_file(halo_.pid_path());
    ASSERT_TRUE(pid) << "no pid file when the starting command returned";
    EXPECT_TRUE(process_alive(*pid));
    EXPECT_EQ(getsid(*pid), *pid);
    // Stopped through the pid file (the harness only knows processes it started itself).
    EXPECT_EQ(halo_.run({"-s", "stop"}).status, 0);
    EXPECT_TRUE(wait_until([&] { return !process_alive(*pid); }));
    if (process_alive(*pid)) {
        ::kill(*pid, SIGKILL);
    }
}

TEST_F(ReloadResultTest, DaemonThatFailsAfterDetachingFailsTheStart) {
    // The pid file's folder is missing: -t is happy (it writes no pid file), the daemon is not.
    std::string c = conf("daemon", {0}, "pid logs/missing/halo.pid;\n");
    c.replace(c.find("daemon off;"), 11, "daemon on;");
    halo_.write_conf(c);
    ASSERT_EQ(halo_.run({"-t", "-q"}).status, 0);
    RunResult r = halo_.run({});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("halo: [emerg] the daemon process"), std::string::npos) << r;
    EXPECT_NE(r.err.find("failed to start (see the error log)"), std::string::npos) << r;
    EXPECT_NE(halo_.error_log().find("logs/missing/halo.pid.reload.tmp\" failed (2: "),
              std::string::npos)
        << halo_.error_log();
    EXPECT_TRUE(wait_port_closed(halo_.port(0)));
}

}  // namespace
}  // namespace halo_test
