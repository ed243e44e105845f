// Process titles as nginx sets them: /proc/<pid>/cmdline of the master ("halo: master process
// <the command line>"), of workers ("halo: worker process", "... is shutting down" while a
// retired worker finishes a request) and of helpers ("halo: healthcheck process").
#include <algorithm>
#include <atomic>
#include <csignal>
#include <string>

#include "support/backend.h"
#include "support/harness.h"

namespace halo_test {
namespace {

/// The title as `ps` shows it: /proc/<pid>/cmdline with the NULs that end it dropped and
/// the ones between words shown as spaces.
std::string title_of(pid_t pid) {
    std::string s = read_file("/proc/" + std::to_string(pid) + "/cmdline").value_or("");
    while (!s.empty() && s.back() == '\0') {
        s.pop_back();
    }
    for (char& c : s) {
        if (c == '\0') {
            c = ' ';
        }
    }
    return s;
}

constexpr std::string_view kConf = R"(
daemon off;
worker_processes 2;
events { }
http {
    access_log off;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { return 200 "ok\n"; }
    }
}
)";

/// The title of a child of the master once it has set its own (a child seen at once after the
/// fork may still show the master's).
std::string child_title(pid_t pid) {
    std::string t;
    wait_until([&] { return (t = title_of(pid)).rfind("halo: master process", 0) != 0; });
    return t;
}

TEST(ProcTitleTest, MasterAndWorkers) {
    Halo h;
    h.write_conf(kConf);
    ASSERT_TRUE(h.start());
    std::vector<pid_t> workers = h.wait_workers(2);
    ASSERT_EQ(workers.size(), 2u);
    EXPECT_EQ(title_of(h.master_pid()),
              "halo: master process " + h.bin() + " -p " + h.prefix() + "/ -c " + h.conf_path());
    for (pid_t w : workers) {
        EXPECT_EQ(child_title(w), "halo: worker process");
    }
    // The same shape as nginx's: "nginx: master process ...", "nginx: worker process".
}

TEST(ProcTitleTest, ARetiringWorkerSaysItIsShuttingDown) {
    if (!halo_has_module("http_proxy")) {
        GTEST_SKIP() << "http_proxy not compiled in";
    }
    // A backend that answers only when told keeps the old worker busy after the reload.
    std::atomic<bool> release{false};
    std::atomic<int> got{0};
    Backend slow("slow", [&](BackendConn& c, const BackendRequest&) {
        got++;
        wait_until([&] { return release.load(); }, 20s);
        c.send(Backend::ok_response("late\n", true));
    });
    Halo h;
    std::string conf = R"(
daemon off;
worker_processes 1;
events { }
http {
    access_log off;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { proxy_pass http://127.0.0.1:)" +
                       std::to_string(slow.port()) + R"(; proxy_read_timeout 30s; }
    }
}
)";
    h.write_conf(conf);
    ASSERT_TRUE(h.start());
    std::vector<pid_t> old = h.wait_workers(1);
    ASSERT_EQ(old.size(), 1u);
    HttpConnection c;
    ASSERT_TRUE(c.connect(h.port(0)));
    ASSERT_TRUE(c.send(get_request("/")));
    ASSERT_TRUE(wait_until([&] { return got.load() == 1; }));
    ASSERT_TRUE(h.signal(SIGHUP));
    ASSERT_EQ(h.wait_new_workers(1, old).size(), 1u);
    EXPECT_TRUE(wait_until([&] {
        return title_of(old[0]) == "halo: worker process is shutting down";
    })) << title_of(old[0]);
    release = true;
    auto r = c.read_response();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->body, "late\n");
}

TEST(ProcTitleTest, HelperProcess) {
    if (!halo_has_module("http_healthcheck")) {
        GTEST_SKIP() << "healthcheck not compiled in";
    }
    Backend b("b");
    Halo h;
    h.write_conf(R"(
daemon off;
worker_processes 1;
events { }
http {
    access_log off;
    upstream u {
        server )" +
                 b.address() + R"(;
        health_check type=http uri=/ interval=1s;
    }
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { proxy_pass http://u; }
    }
}
)");
    ASSERT_TRUE(h.start());
    std::vector<pid_t> children = h.wait_workers(2);
    ASSERT_EQ(children.size(), 2u);
    std::vector<std::string> titles;
    for (pid_t p : children) {
        titles.push_back(child_title(p));
    }
    std::sort(titles.begin(), titles.end());
    EXPECT_EQ(titles,
              (std::vector<std::string>{"halo: healthcheck process", "halo: worker process"}));
}

}  // namespace
}  // namespace halo_test
