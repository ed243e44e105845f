// access_log paths with variables and open_log_file_cache through the real binary, as nginx:
// one file per Host, created by the worker user; the cache keeps the descriptors (seen in
// /proc/<worker>/fd), closes the least recently used past max= and inactive ones on a later
// request; a missing folder or document root gives an error log line and the request is still
// served; `-s reopen` and a reload start new files.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"

namespace halo_test {
namespace {

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        out.push_back(line);
    }
    return out;
}

/// The files under `dir` that `pid` holds open (names only), sorted.
std::vector<std::string> open_files_in(pid_t pid, const std::string& dir) {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
        std::error_code ec2;
        auto target = std::filesystem::read_symlink(e.path(), ec2);
        if (!ec2 && target.parent_path() == dir) {
            out.push_back(target.filename());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

class AccessLogVarsTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_log") || !halo_has_module("http_rewrite")) {
            GTEST_SKIP() << "the http_log or http_rewrite module is not compiled in";
        }
    }
    /// A folder under logs/ the workers (nobody when run as root) may create files in, as
    /// nginx asks of paths with variables.
    void make_dir(const std::string& rel) {
        std::filesystem::create_directories(halo_.path(rel));
        ::chmod(halo_.path(rel).c_str(), 0777);
    }
    void start(std::string_view http_body) {
        // nginx writes no line when the request's document root is missing (html/ here).
        std::filesystem::create_directories(halo_.path("html"));
        halo_.write_conf(
            "daemon off;\nworker_processes 1;\nerror_log logs/error.log info;\n"
            "events { worker_connections 64; }\n"
            "http {\n log_format u '$host $uri';\n" +
            std::string(http_body) + "\n}\n");
        ASSERT_TRUE(halo_.start());
        auto w = halo_.wait_workers(1);
        ASSERT_EQ(w.size(), 1u);
        worker_ = w[0];
    }
    int get(std::string_view path, std::string_view host, int port = 0) {
        auto r = http_get(halo_.port(port), path, host);
        return r ? r->status : -1;
    }
    std::vector<std::string> lines(std::string_view rel) {
        return lines_of(read_file(halo_.path(rel)).value_or(""));
    }
    /// The log is written after the response: wait for `n` lines.
    std::vector<std::string> wait_lines(std::string_view rel, size_t n) {
        wait_until([&] { return lines(rel).size() >= n; });
        return lines(rel);
    }

    Halo halo_;
    pid_t worker_ = -1;
};

TEST_F(AccessLogVarsTest, OneFilePerHostWithTheRightLines) {
    make_dir("logs/vh");
    start(
        "server { listen 127.0.0.1:%%PORT_0%%; access_log logs/vh/$host.log u;\n"
        " location / { return 200 \"ok\"; } }");
    EXPECT_TRUE(std::filesystem::is_empty(halo_.path("logs/vh")))
        << "the configuration created a file";
    EXPECT_EQ(get("/1", "one.example"), 200);
    EXPECT_EQ(get("/2", "two.example"), 200);
    EXPECT_EQ(get("/3", "one.example"), 200);
    EXPECT_EQ(wait_lines("logs/vh/one.example.log", 2),
              (std::vector<std::string>{"one.example /1", "one.example /3"}));
    EXPECT_EQ(wait_lines("logs/vh/two.example.log", 1),
              (std::vector<std::string>{"two.example /2"}));
    // Without open_log_file_cache each line opens and closes its file.
    EXPECT_TRUE(open_files_in(worker_, halo_.path("logs/vh")).empty());
    struct stat st {};
    ASSERT_EQ(::stat(halo_.path("logs/vh/one.example.log").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644u);
    if (geteuid() == 0) {
        EXPECT_NE(st.st_uid, 0u) << "the file is not created by the worker user";
    }
}

TEST_F(AccessLogVarsTest, CacheKeepsDescriptorsUpToMax) {
    make_dir("logs/vh");
    start(
        "server { listen 127.0.0.1:%%PORT_0%%; access_log logs/vh/$host.log u;\n"
        " open_log_file_cache max=2 inactive=1h;\n location / { return 200 \"ok\"; } }");
    std::string dir = halo_.path("logs/vh");
    EXPECT_EQ(get("/", "a"), 200);
    EXPECT_EQ(get("/", "b"), 200);
    wait_lines("logs/vh/b.log", 1);
    EXPECT_EQ(open_files_in(worker_, dir), (std::vector<std::string>{"a.log", "b.log"}));
    EXPECT_EQ(get("/", "c"), 200);  // the third file closes the least recently used
    wait_lines("logs/vh/c.log", 1);
    EXPECT_EQ(open_files_in(worker_, dir), (std::vector<std::string>{"b.log", "c.log"}));
    EXPECT_EQ(get("/again", "a"), 200);
    EXPECT_EQ(wait_lines("logs/vh/a.log", 2), (std::vector<std::string>{"a /", "a /again"}));
}

TEST_F(AccessLogVarsTest, CacheClosesInactiveFilesOnALaterRequest) {
    make_dir("logs/vh");
    start(
        "server { listen 127.0.0.1:%%PORT_0%%; access_log logs/vh/$host.log u;\n"
        " open_log_file_cache max=10 inactive=1s;\n location / { return 200 \"ok\"; } }");
    std::string dir = halo_.path("logs/vh");
    EXPECT_EQ(get("/", "a"), 200);
    EXPECT_EQ(get("/", "b"), 200);
    wait_lines("logs/vh/b.log", 1);
    // Files expire on a lookup, as nginx's: without one they stay open.
    EXPECT_EQ(open_files_in(worker_, dir), (std::vector<std::string>{"a.log", "b.log"}));
    std::this_thread::sleep_for(2500ms);  // well past inactive=1s
    EXPECT_EQ(get("/", "c"), 200);
    wait_lines("logs/vh/c.log", 1);
    EXPECT_EQ(open_files_in(worker_, dir), (std::vector<std::string>{"c.log"}));
}

TEST_F(AccessLogVarsTest, MissingFolderLogsAnErrorAndTheRequestIsServed) {
    start(
        "server { listen 127.0.0.1:%%PORT_0%%; server_name s;\n"
        " access_log logs/nodir/$host.log u;\n location / { return 200 \"ok\"; } }");
    EXPECT_EQ(get("/x", "h"), 200);
    std::string want = "[crit] ";
    std::string line = "open() \"" + halo_.path("logs/nodir/h.log") +
                       "\" failed (2: No such file or directory) while logging request, client: "
                       "127.0.0.1, server: s, request: \"GET /x HTTP/1.1\", host: \"h\"";
    ASSERT_TRUE(wait_until([&] { return !log_lines_with(halo_.error_log(), line).empty(); }))
        << halo_.error_log();
    EXPECT_NE(log_lines_with(halo_.error_log(), line)[0].find(want), std::string::npos);
}

TEST_F(AccessLogVarsTest, MissingDocumentRootSkipsTheLine) {
    if (!halo_has_module("http_static")) {
        GTEST_SKIP() << "the http_static module is not compiled in";
    }
    make_dir("logs/vh");
    start(
        "server { listen 127.0.0.1:%%PORT_0%%; server_name s;\n"
        " access_log logs/vh/$host.log u;\n"
        " location /noroot { root " +
        halo_.path("nonexistent") +
        "; return 200 \"ok\"; }\n"
        " location / { return 200 \"ok\"; } }");
    EXPECT_EQ(get("/noroot", "h"), 200);
    std::string line = "[error] ";
    std::string msg = "testing \"" + halo_.path("nonexistent") +
                      "\" existence failed (2: No such file or directory) while logging request";
    ASSERT_TRUE(wait_until([&] { return !log_lines_with(halo_.error_log(), msg).empty(); }))
        << halo_.error_log();
    EXPECT_NE(log_lines_with(halo_.error_log(), msg)[0].find(line), std::string::npos);
    EXPECT_EQ(get("/other", "h"), 200);
    EXPECT_EQ(wait_lines("logs/vh/h.log", 1), (std::vector<std::string>{"h /other"}));
}

TEST_F(AccessLogVarsTest, ReopenStartsNewFilesForCachedOnes) {
    make_dir("logs/vh");
    start(
        "server { listen 127.0.0.1:%%PORT_0%%; access_log logs/vh/$host.log u;\n"
        " open_log_file_cache max=10 inactive=1h valid=1h;\n"
        " location / { return 200 \"ok\"; } }");
    EXPECT_EQ(get("/before", "a"), 200);
    ASSERT_EQ(wait_lines("logs/vh/a.log", 1).size(), 1u);
    ASSERT_EQ(::rename(halo_.path("logs/vh/a.log").c_str(), halo_.path("logs/vh/a.log.1").c_str()),
              0);
    RunResult r = halo_.run({"-s", "reopen"});
    ASSERT_EQ(r.status, 0) << r;
    ASSERT_TRUE(wait_until([&] {
        return halo_.error_log().find(std::to_string(worker_) + "#0: reopening logs") !=
               std::string::npos;
    })) << halo_.error_log();
    EXPECT_EQ(get("/after", "a"), 200);
    EXPECT_EQ(wait_lines("logs/vh/a.log", 1), (std::vector<std::string>{"a /after"}));
    EXPECT_EQ(lines("logs/vh/a.log.1"), (std::vector<std::string>{"a /before"}));
}

TEST_F(AccessLogVarsTest, ReloadChangesThePath) {
    make_dir("logs/vh");
    make_dir("logs/vh2");
    start(
        "server { listen 127.0.0.1:%%PORT_0%%; access_log logs/vh/$host.log u;\n"
        " open_log_file_cache max=10;\n location / { return 200 \"ok\"; } }");
    EXPECT_EQ(get("/old", "a"), 200);
    ASSERT_EQ(wait_lines("logs/vh/a.log", 1).size(), 1u);
    halo_.write_conf(
        "daemon off;\nworker_processes 1;\nerror_log logs/error.log info;\n"
        "events { worker_connections 64; }\n"
        "http {\n log_format u '$host $uri';\n"
        "server { listen 127.0.0.1:%%PORT_0%%; access_log logs/vh2/$host.log u;\n"
        " open_log_file_cache max=10;\n location / { return 200 \"ok\"; } }\n}\n");
    auto old = halo_.workers();
    RunResult r = halo_.run({"-s", "reload"});
    ASSERT_EQ(r.status, 0) << r;
    ASSERT_EQ(halo_.wait_new_workers(1, old).size(), 1u);
    wait_until([&] { return halo_.workers().size() == 1; });
    EXPECT_EQ(get("/new", "a"), 200);
    EXPECT_EQ(wait_lines("logs/vh2/a.log", 1), (std::vector<std::string>{"a /new"}));
    EXPECT_EQ(lines("logs/vh/a.log"), (std::vector<std::string>{"a /old"}));
}

}  // namespace
}  // namespace halo_test
