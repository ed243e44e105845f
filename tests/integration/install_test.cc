// `make install DESTDIR=<tmp>` from the source tree under test (PREFIX=/usr/local/halo, inside
// the DESTDIR): nginx's layout, the installed binary is the built one, the shipped halo.conf
// serves the welcome page from the installed prefix, a second install keeps the operator's
// halo.conf and html/. Then the systemd unit's commands, run one by one as systemd runs them
// (Type=forking): start, reloads that fail visibly, graceful stop.
//
// The shipped halo.conf listens on 127.0.0.1:8080; the tests edit the installed copy to listen
// on a free port instead (that edit is also what shows that a reinstall keeps it).
#include <sys/stat.h>
#include <unistd.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <sstream>
#include <thread>

#include "support/install.h"

namespace halo_test {
namespace {

constexpr std::string_view kShippedListen = "127.0.0.1:8080";

bool is_dir(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

/// The values of `key=` lines in the [Service] section of a unit, in order.
std::vector<std::string> service_values(const std::string& unit, std::string_view key) {
    std::vector<std::string> out;
    std::istringstream in(unit);
    std::string line;
    bool service = false;
    while (std::getline(in, line)) {
        if (!line.empty() && line[0] == '[') {
            service = line == "[Service]";
        } else if (service && line.rfind(std::string(key) + "=", 0) == 0) {
            out.push_back(line.substr(key.size() + 1));
        }
    }
    return out;
}

/// Runs one Exec line of the unit as systemd would for this unit: a plain command line (the
/// unit uses no systemd-only syntax) with $MAINPID in the environment.
RunResult run_exec(const std::string& line, pid_t mainpid = 0) {
    return run_command({"env", "MAINPID=" + std::to_string(mainpid), "/bin/sh", "-c", line}, 60s);
}

/// Runs the commands of one Exec key in order, stopping at the first failure as systemd does;
/// returns the last result.
RunResult run_execs(const std::vector<std::string>& lines, pid_t mainpid = 0) {
    RunResult r;
    for (const auto& line : lines) {
        r = run_exec(line, mainpid);
        if (r.status != 0) {
            break;
        }
    }
    return r;
}

/// A socket listening on 127.0.0.1:port; -1 on failure.
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

class InstallTest : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string why = install_unavailable();
        if (!why.empty()) {
            GTEST_SKIP() << why;
        }
        if (!halo_has_module("http_static") || !halo_has_module("http_log")) {
            GTEST_SKIP() << "the shipped halo.conf needs the http_static and http_log modules";
        }
        // Workers run as nobody when the tests run as root: what make creates must be readable.
        old_umask_ = ::umask(022);
        RunResult r = inst_.install();
        ASSERT_EQ(r.status, 0) << r;
    }
    void TearDown() override { ::umask(old_umask_); }

    /// Moves the installed halo.conf's listen to `port`.
    void listen_on_port(uint16_t port) {
        auto conf = read_file(inst_.path("conf/halo.conf"));
        ASSERT_TRUE(conf);
        ASSERT_NE(conf->find(kShippedListen), std::string::npos) << "the shipped listen moved";
        ASSERT_TRUE(
            inst_.edit("conf/halo.conf", kShippedListen, "127.0.0.1:" + std::to_string(port)));
    }

    Installation inst_;
    mode_t old_umask_ = 022;
};

TEST_F(InstallTest, LaysOutThePrefixAsNginxDoes) {
    for (const char* rel :
         {"sbin/halo", "conf/halo.conf", "conf/halo.conf.default", "conf/mime.types",
          "conf/mime.types.default", "conf/examples/ha-node1.conf", "conf/examples/ha-node2.conf",
          "conf/examples/ha-node3.conf", "html/index.html", "html/50x.html",
          "share/halo/halo.service", "share/halo/halo.logrotate", "share/man/man8/halo.8"}) {
        EXPECT_TRUE(file_exists(inst_.path(rel))) << rel;
    }
    EXPECT_TRUE(is_dir(inst_.path("logs")));
    EXPECT_EQ(::access(inst_.path("sbin/halo").c_str(), X_OK), 0);
    // The built binary, byte for byte.
    auto installed = read_file(inst_.path("sbin/halo"));
    auto built = read_file(halo_bin());
    ASSERT_TRUE(installed && built);
    EXPECT_TRUE(*installed == *built) << "sbin/halo is not " << halo_bin();
    const std::string top = halo_top();
    EXPECT_EQ(read_file(inst_.path("conf/halo.conf")), read_file(top + "/conf/halo.conf"));
    EXPECT_EQ(read_file(inst_.path("conf/mime.types")), read_file(top + "/conf/mime.types"));
    EXPECT_EQ(read_file(inst_.path("html/index.html")), read_file(top + "/html/index.html"));
    EXPECT_EQ(read_file(inst_.path("share/man/man8/halo.8")), read_file(top + "/man/halo.8"));
    // The unit and the snippet name the prefix they were installed for.
    std::string unit = read_file(inst_.path("share/halo/halo.service")).value_or("");
    EXPECT_NE(unit.find("ExecStart=/usr/local/halo/sbin/halo -p /usr/local/halo/\n"),
              std::string::npos)
        << unit;
    EXPECT_NE(unit.find("PIDFile=/usr/local/halo/logs/halo.pid\n"), std::string::npos) << unit;
    // The shipped config is valid from the installed prefix as it is.
    RunResult t = inst_.run({"-t"});
    EXPECT_EQ(t.status, 0) << t;
}

TEST_F(InstallTest, OtherPrefixIsWrittenIntoTheUnitTheSnippetAndTheManPage) {
    TempDir dest("halo-install-other");
    RunResult r = run_command({"env", "-u", "MAKEFLAGS", "-u", "MFLAGS", "-u", "MAKELEVEL", "make",
                               "-f", halo_bin().substr(0, halo_bin().rfind('/')) + "/Makefile",
                               "install", "DESTDIR=" + dest.path(), "PREFIX=/opt/web&co"},
                              120s, halo_top());
    ASSERT_EQ(r.status, 0) << r;
    for (const char* rel :
         {"share/halo/halo.service", "share/halo/halo.logrotate", "share/man/man8/halo.8"}) {
        std::string text = read_file(dest / ("opt/web&co/" + std::string(rel))).value_or("");
        EXPECT_NE(text.find("/opt/web&co/"), std::string::npos) << rel;
        EXPECT_EQ(text.find("/usr/local/halo"), std::string::npos) << rel;
    }
}

TEST_F(InstallTest, InstalledBinaryServesTheWelcomePageFromItsPrefix) {
    const uint16_t port = free_port();
    listen_on_port(port);
    // As an operator starts it: it detaches (daemon on in the shipped config).
    RunResult r = inst_.run({});
    ASSERT_EQ(r.status, 0) << r;
    pid_t master = inst_.track();
    ASSERT_GT(master, 0) << "no pid file at " << inst_.path("logs/halo.pid");
    ASSERT_TRUE(wait_for_port(port));

    auto resp = http_get(port, "/");
    ASSERT_TRUE(resp);
    EXPECT_EQ(resp->status, 200);
    EXPECT_EQ(resp->header("content-type"), "text/html");
    EXPECT_EQ(resp->body, read_file(inst_.path("html/index.html")).value_or("?"));
    EXPECT_NE(resp->body.find("Welcome to halo!"), std::string::npos);
    // The relative log paths of the shipped config resolve against the installed prefix.
    EXPECT_TRUE(wait_until([&] {
        return read_file(inst_.path("logs/access.log"))
                   .value_or("")
                   .find("\"GET / HTTP/1.1\" 200") != std::string::npos;
    }));
    EXPECT_NE(read_file(inst_.path("logs/error.log")).value_or("").find("start worker process"),
              std::string::npos);

    // Reinstall over the running halo: halo.conf (with its edited port) and html/ are kept,
    // halo.conf.default is the shipped one again.
    const std::string edited = read_file(inst_.path("conf/halo.conf")).value_or("");
    ASSERT_TRUE(write_file(inst_.path("html/index.html"), "our own page\n"));
    ASSERT_TRUE(write_file(inst_.path("conf/halo.conf.default"), "stale\n"));
    r = inst_.install();
    ASSERT_EQ(r.status, 0) << r;
    EXPECT_NE(r.out.find("keeping the installed '" + inst_.path("conf/halo.conf") + "'"),
              std::string::npos)
        << r;
    EXPECT_EQ(read_file(inst_.path("conf/halo.conf")), edited);
    EXPECT_EQ(read_file(inst_.path("conf/halo.conf.default")),
              read_file(halo_top() + "/conf/halo.conf"));
    EXPECT_EQ(get_body(port, "/"), "our own page\n");

    r = inst_.run({"-s", "quit"});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_TRUE(wait_until([&] { return !process_alive(master); }));
    EXPECT_FALSE(file_exists(inst_.path("logs/halo.pid")));
}

TEST_F(InstallTest, SystemdUnitCommandsStartReloadAndStop) {
    const std::string unit = inst_.relocated("share/halo/halo.service");
    ASSERT_EQ(service_values(unit, "Type"), std::vector<std::string>{"forking"});
    const auto pid_file = service_values(unit, "PIDFile");
    ASSERT_EQ(pid_file, std::vector<std::string>{inst_.path("logs/halo.pid")});
    const auto start_pre = service_values(unit, "ExecStartPre");
    const auto start = service_values(unit, "ExecStart");
    const auto reload = service_values(unit, "ExecReload");
    const auto stop = service_values(unit, "ExecStop");
    ASSERT_EQ(start.size(), 1u);
    ASSERT_FALSE(start_pre.empty());
    ASSERT_EQ(reload.size(), 1u);
    ASSERT_FALSE(stop.empty());

    const uint16_t port = free_port();
    listen_on_port(port);
    RunResult r = run_execs(start_pre);
    ASSERT_EQ(r.status, 0) << r;
    r = run_exec(start[0]);
    ASSERT_EQ(r.status, 0) << r;
    // Type=forking: the pid file is there when ExecStart returns.
    auto mainpid = read_pid_file(pid_file[0]);
    ASSERT_TRUE(mainpid) << "no pid file when ExecStart returned";
    inst_.track();
    ASSERT_TRUE(wait_for_port(port));
    EXPECT_EQ(http_get(port, "/")->status, 200);

    // A broken config: `systemctl reload` fails at its first command and says why.
    const std::string good = read_file(inst_.path("conf/halo.conf")).value_or("");
    ASSERT_TRUE(inst_.edit("conf/halo.conf", "sendfile", "no_such_directive on;\n    sendfile"));
    r = run_execs(reload, *mainpid);
    EXPECT_NE(r.status, 0) << r;
    EXPECT_NE(r.err.find("unknown directive \"no_such_directive\""), std::string::npos) << r;

    // A valid config whose new port is taken: only the master can tell, and -s reload does.
    const uint16_t busy = free_port();
    int blocker = listen_on(busy);
    ASSERT_GE(blocker, 0);
    const std::string first = "127.0.0.1:" + std::to_string(port) + ";";
    ASSERT_TRUE(write_file(inst_.path("conf/halo.conf"), good));
    ASSERT_TRUE(
        inst_.edit("conf/halo.conf", first,
                   first + "\n        listen       127.0.0.1:" + std::to_string(busy) + ";"));
    r = run_execs(reload, *mainpid);
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("bind() to 127.0.0.1:" + std::to_string(busy) + " failed"),
              std::string::npos)
        << r;
    EXPECT_EQ(http_get(port, "/")->status, 200) << "the old configuration keeps serving";
    ::close(blocker);
    // The port is free now: the reload succeeds and the new port answers.
    r = run_execs(reload, *mainpid);
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_TRUE(wait_until([&] {
        auto resp = http_get(busy, "/");
        return resp && resp->status == 200;
    }));
    EXPECT_EQ(read_pid_file(pid_file[0]), mainpid) << "a reload keeps the master";
    inst_.track();

    // Graceful stop: when the last ExecStop command returns, the master is gone.
    // The test process is a child subreaper (see Halo): the detached master is our child and
    // would stay a zombie, which `kill -0` still finds. Reap it meanwhile, as systemd does.
    std::atomic<bool> stopped{false};
    std::thread stopper([&] {
        r = run_execs(stop, *mainpid);
        stopped = true;
    });
    while (!stopped) {
        process_alive(*mainpid);  // reaps it once it has exited
        std::this_thread::sleep_for(20ms);
    }
    stopper.join();
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_FALSE(process_alive(*mainpid));
    EXPECT_FALSE(file_exists(pid_file[0]));
}

TEST_F(InstallTest, SystemdAcceptsTheUnit) {
    if (run_command({"systemd-analyze", "--version"}).status != 0) {
        GTEST_SKIP() << "systemd-analyze is not installed";
    }
    // Verified as installed without DESTDIR would be: the paths it names exist.
    const std::string unit_path = inst_.destdir() + "/halo.service";
    ASSERT_TRUE(write_file(unit_path, inst_.relocated("share/halo/halo.service")));
    RunResult r = run_command({"systemd-analyze", "verify", "--man=no", unit_path}, 60s);
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_EQ(r.err.find("halo.service:"), std::string::npos) << r;
}

}  // namespace
}  // namespace halo_test
