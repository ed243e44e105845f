// Core and events directives through the real binary, checked on the processes they act on:
// env (the time zone of the lines a worker logs), worker_priority (nice), worker_rlimit_core
// (/proc/<pid>/limits), working_directory (/proc/<pid>/cwd), worker_cpu_affinity
// (Cpus_allowed_list), use (the event method: an epoll descriptor or none), multi_accept,
// pcre_jit; the refusals (load_module, thread_pool, timer_resolution, debug_connection,
// use of a method this system lacks) with their messages.
#include <sched.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "support/harness.h"

namespace halo_test {
namespace {

std::string proc(pid_t pid, std::string_view what) {
    return read_file("/proc/" + std::to_string(pid) + "/" + std::string(what)).value_or("");
}

/// A field of /proc/<pid>/status ("Cpus_allowed_list").
std::string status_field(pid_t pid, std::string_view name) {
    for (const std::string& line : log_lines_with(proc(pid, "status"), name)) {
        if (line.starts_with(std::string(name) + ":")) {
            std::string v = line.substr(name.size() + 1);
            v.erase(0, v.find_first_not_of(" \t"));
            return v;
        }
    }
    return {};
}

std::string conf_with(std::string_view main, std::string_view events = {}) {
    return "daemon off;\n" + std::string(main) + "\nevents { " + std::string(events) +
           " }\nhttp { access_log off; server { listen 127.0.0.1:%%PORT_0%%; location / { "
           "return 200 \"ok\\n\"; } } }\n";
}

/// "YYYY/MM/DD HH:MM:SS" of `t` in the zone `tz` (e.g. "UTC-9" for Tokyo, POSIX sign).
std::string log_time(time_t t, int offset_hours) {
    t += offset_hours * 3600;
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[32];
    strftime(buf, sizeof(buf), "%Y/%m/%d %H:%M:%S", &tm);
    return buf;
}

/// The time at the start of the error log line that contains `needle`.
std::string line_time(const std::string& log, std::string_view needle) {
    auto lines = log_lines_with(log, needle);
    return lines.empty() ? "" : lines[0].substr(0, 19);
}

/// Whether `logged` is a time between `before` and `after` in the zone `offset_hours` east.
bool logged_between(const std::string& logged, time_t before, time_t after, int offset_hours) {
    return logged >= log_time(before, offset_hours) && logged <= log_time(after, offset_hours);
}

// `env`: the workers get only the variables it names or sets, and TZ. Its effect seen from
// outside: the time zone of the lines a worker logs (the master keeps its own environment).
TEST(CoreDirectivesTest, EnvSetsTheWorkersTimeZone) {
    if (!file_exists("/usr/share/zoneinfo/Asia/Tokyo")) {
        GTEST_SKIP() << "no tzdata";
    }
    Halo h;
    h.write_conf(
        "daemon off;\nworker_processes 1;\nerror_log logs/error.log info;\n"
        "env TZ=Asia/Tokyo;\nevents { }\nhttp { access_log off; server { listen "
        "127.0.0.1:%%PORT_0%%; root %%PREFIX%%; } }\n");
    setenv("TZ", "UTC", 1);
    time_t before = time(nullptr);
    ::testing::AssertionResult started = h.start();
    unsetenv("TZ");
    ASSERT_TRUE(started);
    EXPECT_EQ(http_get(h.port(0), "/missing-tz")->status, 404);
    ASSERT_TRUE(wait_until([&] { return !line_time(h.error_log(), "missing-tz").empty(); }));
    time_t after = time(nullptr);
    std::string worker = line_time(h.error_log(), "missing-tz");
    std::string master = line_time(h.error_log(), "start worker process");
    EXPECT_TRUE(logged_between(worker, before, after, 9)) << worker << "\n" << h.error_log();
    EXPECT_TRUE(logged_between(master, before, after, 0)) << master << "\n" << h.error_log();
}

TEST(CoreDirectivesTest, TheWorkersKeepTzWithoutEnv) {
    if (!file_exists("/usr/share/zoneinfo/Asia/Tokyo")) {
        GTEST_SKIP() << "no tzdata";
    }
    for (std::string conf : {"", "env TZ;\n"}) {
        Halo h;
        h.write_conf("daemon off;\nworker_processes 1;\n" + conf +
                     "events { }\nhttp { access_log off; server { listen 127.0.0.1:%%PORT_0%%; "
                     "root %%PREFIX%%; } }\n");
        setenv("TZ", "Asia/Tokyo", 1);
        time_t before = time(nullptr);
        ::testing::AssertionResult started = h.start();
        unsetenv("TZ");
        ASSERT_TRUE(started);
        EXPECT_EQ(http_get(h.port(0), "/missing-tz")->status, 404);
        ASSERT_TRUE(wait_until([&] { return !line_time(h.error_log(), "missing-tz").empty(); }));
        time_t after = time(nullptr);
        std::string worker = line_time(h.error_log(), "missing-tz");
        EXPECT_TRUE(logged_between(worker, before, after, 9)) << conf << worker;
    }
}

TEST(CoreDirectivesTest, PriorityCoreLimitAndWorkingDirectory) {
    Halo h;
    std::filesystem::create_directory(h.path("work"));
    h.write_conf(
        conf_with("worker_processes 1;\nworker_priority 7;\nworker_rlimit_core 5m;\n"
                  "working_directory " +
                  h.path("work") + ";\n"));
    ASSERT_TRUE(h.start());
    std::vector<pid_t> w = h.wait_workers(1);
    ASSERT_EQ(w.size(), 1u);
    // The worker sets its priority, limits and directory after the fork: once it has answered,
    // it has.
    EXPECT_EQ(get_body(h.port(0)), "ok\n");
    // /proc/<pid>/stat: field 19 is the nice value.
    std::string stat = proc(w[0], "stat");
    std::string rest = stat.substr(stat.rfind(')') + 2);
    std::vector<std::string> fields;
    size_t start = 0;
    while (start < rest.size()) {
        size_t sp = rest.find(' ', start);
        fields.push_back(rest.substr(start, sp - start));
        start = sp == std::string::npos ? rest.size() : sp + 1;
    }
    ASSERT_GT(fields.size(), 17u);
    EXPECT_EQ(fields[16], "7") << stat;  // field 19 of the line = index 16 after "(comm) "
    EXPECT_FALSE(log_lines_with(proc(w[0], "limits"), "Max core file size").empty());
    std::string limits = log_lines_with(proc(w[0], "limits"), "Max core file size")[0];
    EXPECT_NE(limits.find(" 5242880 "), std::string::npos) << limits;
    char cwd[4096] = {};
    std::string link = "/proc/" + std::to_string(w[0]) + "/cwd";
    ssize_t n = readlink(link.c_str(), cwd, sizeof(cwd) - 1);
    ASSERT_GT(n, 0);
    EXPECT_EQ(std::string(cwd, static_cast<size_t>(n)), h.path("work"));
}

TEST(CoreDirectivesTest, WorkingDirectoryThatCannotBeEnteredStopsTheWorker) {
    Halo h;
    h.write_conf(conf_with("worker_processes 1;\nworking_directory " + h.path("missing") +
                           ";\nerror_log logs/error.log;\n"));
    ASSERT_TRUE(h.start());  // the master listens; its worker cannot start
    EXPECT_TRUE(wait_until([&] {
        return !log_lines_with(h.error_log(), "chdir(\"" + h.path("missing") + "\") failed")
                    .empty();
    })) << h.error_log();
    // Fatal, as in nginx: the worker exits and is not respawned.
    EXPECT_TRUE(wait_until([&] { return h.workers().empty(); })) << h.error_log();
    EXPECT_FALSE(log_lines_with(h.error_log(), "cannot be respawned").empty()) << h.error_log();
}

TEST(CoreDirectivesTest, CpuAffinity) {
    cpu_set_t mine;
    CPU_ZERO(&mine);
    sched_getaffinity(0, sizeof(mine), &mine);
    if (!CPU_ISSET(0, &mine) || !CPU_ISSET(1, &mine)) {
        GTEST_SKIP() << "needs CPUs 0 and 1";
    }
    {
        Halo h;
        h.write_conf(conf_with("worker_processes 2;\nworker_cpu_affinity 10 01;\n"));
        ASSERT_TRUE(h.start());
        std::vector<pid_t> w = h.wait_workers(2);
        ASSERT_EQ(w.size(), 2u);
        std::vector<std::string> lists = {status_field(w[0], "Cpus_allowed_list"),
                                          status_field(w[1], "Cpus_allowed_list")};
        std::sort(lists.begin(), lists.end());
        EXPECT_EQ(lists, (std::vector<std::string>{"0", "1"}));
    }
    {
        Halo h;
        h.write_conf(conf_with("worker_processes 2;\nworker_cpu_affinity auto 10;\n"));
        ASSERT_TRUE(h.start());
        std::vector<pid_t> w = h.wait_workers(2);
        ASSERT_EQ(w.size(), 2u);
        for (pid_t p : w) {
            EXPECT_EQ(status_field(p, "Cpus_allowed_list"), "1");
        }
    }
}

/// Whether `pid` holds an epoll descriptor (its event loop uses epoll).
bool has_epoll(pid_t pid) {
    std::string dir = "/proc/" + std::to_string(pid) + "/fd";
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        std::error_code ec;
        auto target = std::filesystem::read_symlink(e.path(), ec);
        if (!ec && target.string().find("eventpoll") != std::string::npos) {
            return true;
        }
    }
    return false;
}

TEST(CoreDirectivesTest, UseSelectsTheEventMethod) {
    for (std::string method : {"poll", "epoll", "select"}) {
        Halo h;
        h.write_conf(conf_with("worker_processes 1;", "use " + method + ";"));
        ASSERT_TRUE(h.start()) << method;
        std::vector<pid_t> w = h.wait_workers(1);
        ASSERT_EQ(w.size(), 1u);
        EXPECT_EQ(get_body(h.port(0)), "ok\n") << method;
        EXPECT_EQ(has_epoll(w[0]), method == "epoll") << method;
    }
}

TEST(CoreDirectivesTest, MultiAcceptServesABurstEitherWay) {
    for (std::string value : {"on", "off"}) {
        Halo h;
        h.write_conf(conf_with("worker_processes 1;", "multi_accept " + value + ";"));
        ASSERT_TRUE(h.start());
        std::vector<pid_t> w = h.wait_workers(1);
        ASSERT_EQ(w.size(), 1u);
        // Connections queue while the worker is stopped, then it takes them all.
        kill(w[0], SIGSTOP);
        std::vector<std::unique_ptr<HttpConnection>> conns;
        for (int i = 0; i < 20; i++) {
            conns.push_back(std::make_unique<HttpConnection>());
            ASSERT_TRUE(conns.back()->connect(h.port(0)));
            ASSERT_TRUE(conns.back()->send(get_request("/")));
        }
        kill(w[0], SIGCONT);
        for (auto& c : conns) {
            auto r = c->read_response();
            ASSERT_TRUE(r.has_value()) << value;
            EXPECT_EQ(r->body, "ok\n");
        }
    }
}

TEST(CoreDirectivesTest, PcreJitOnAndOff) {
    if (!halo_has_module("http_rewrite")) {
        GTEST_SKIP() << "http_rewrite not compiled in";
    }
    for (std::string value : {"on", "off"}) {
        Halo h;
        h.write_conf("daemon off;\npcre_jit " + value +
                     ";\nevents { }\nhttp { access_log off; server { listen "
                     "127.0.0.1:%%PORT_0%%; location ~ ^/(\\w+)/(\\d+)$ { return 200 \"$2 "
                     "$1\\n\"; } } }\n");
        ASSERT_TRUE(h.start());
        EXPECT_EQ(get_body(h.port(0), "/item/42"), "42 item\n") << value;
        EXPECT_EQ(http_get(h.port(0), "/item/x")->status, 404) << value;
    }
}

/// `halo -t` on `conf`: its [emerg] line.
std::string test_error(const std::string& conf) {
    TempDir dir("halo-core");
    write_file(dir / "t.conf", conf);
    RunResult r = run_command({halo_bin(), "-t", "-p", dir.path() + "/", "-c", dir / "t.conf"});
    EXPECT_NE(r.status, 0) << conf;
    std::string e = r.err.substr(std::min(r.err.size(), r.err.find("[emerg] ")));
    return e.substr(0, e.find('\n'));
}

TEST(CoreDirectivesTest, Refusals) {
    std::string e =
        test_error("load_module /usr/lib/nginx/modules/ngx_mail_module.so;\nevents { }\n");
    EXPECT_NE(e.find("\"load_module\" is not supported by halo: halo compiles its modules in "
                     "with ./configure; module \"ngx_mail_module\" cannot be loaded"),
              std::string::npos)
        << e;
    EXPECT_NE(e.find("t.conf:1"), std::string::npos) << e;
    e = test_error("thread_pool default threads=32 max_queue=65536;\nevents { }\n");
    EXPECT_NE(e.find("\"thread_pool\" is not supported by halo"), std::string::npos) << e;
    e = test_error("timer_resolution 100ms;\nevents { }\n");
    EXPECT_NE(e.find("\"timer_resolution\" is not supported by halo"), std::string::npos) << e;
    e = test_error("events {\n debug_connection 127.0.0.1;\n}\n");
    EXPECT_NE(e.find("\"debug_connection\" is not supported by halo"), std::string::npos) << e;
    EXPECT_NE(e.find("t.conf:2"), std::string::npos) << e;
}

TEST(CoreDirectivesTest, ErrorsWordedAsNginx) {
    // Each refused by both, with the same message and file:line.
    const char* confs[] = {
        "events { use kqueue; }\n",
        "worker_cpu_affinity 0102;\nevents { }\n",
        "worker_cpu_affinity auto 01 10;\nevents { }\n",
        "worker_priority high;\nevents { }\n",
        "worker_priority 1;\nworker_priority 2;\nevents { }\n",
        "pcre_jit maybe;\nevents { }\n",
        "events { multi_accept yes; }\n",
        "worker_rlimit_core lots;\nevents { }\n",
    };
    for (const char* conf : confs) {
        std::string halo = test_error(conf);
        if (!file_exists("/usr/sbin/nginx")) {
            continue;
        }
        TempDir dir("halo-core");
        write_file(dir / "t.conf", conf);
        RunResult n = run_command({"/usr/sbin/nginx", "-t", "-p", dir.path() + "/", "-c",
                                   dir / "t.conf", "-g", "pid " + dir.path() + "/n.pid;"});
        std::string nginx = n.err.substr(std::min(n.err.size(), n.err.find("[emerg] ")));
        nginx = nginx.substr(0, nginx.find('\n'));
        // Debian's nginx logs to stderr in its error log format: "[emerg] pid#tid: ...".
        nginx = std::regex_replace(nginx, std::regex(R"(^\[emerg\] \d+#\d+: )"), "[emerg] ");
        // Same message; the file:line differ only by the temporary folder.
        auto tail = [](const std::string& s) {
            std::string out = s;
            size_t in = out.rfind(" in /");
            size_t colon = out.rfind(':');
            if (in != std::string::npos && colon != std::string::npos && colon > in) {
                out.replace(in, colon - in, " in <file>");
            }
            return out;
        };
        EXPECT_EQ(tail(halo), tail(nginx)) << conf;
    }
}

}  // namespace
}  // namespace halo_test
