// access_log through the real binary: the default combined line, a json format, `off`,
// several logs, buffer= with flush= and the flush at worker exit, and `-s reopen` after the
// file was moved away (logrotate).
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <regex>
#include <sstream>
#include <string>
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

class AccessLogTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_log") || !halo_has_module("http_rewrite")) {
            GTEST_SKIP() << "the http_log or http_rewrite module is not compiled in";
        }
    }

    /// Starts halo with `http_body` inside http { } (one worker).
    void start(std::string_view http_body) {
        halo_.write_conf(
            "daemon off;\nworker_processes 1;\nerror_log logs/error.log info;\n"
            "events { worker_connections 64; }\n"
            "http {\n" +
            std::string(http_body) + "\n}\n");
        ASSERT_TRUE(halo_.start());
        ASSERT_EQ(halo_.wait_workers(1).size(), 1u);
    }
    std::string text(std::string_view rel) { return read_file(halo_.path(rel)).value_or(""); }
    std::vector<std::string> lines(std::string_view rel) { return lines_of(text(rel)); }
    /// Waits until `rel` has `n` lines; returns them.
    std::vector<std::string> wait_lines(std::string_view rel, size_t n, Millis timeout = 10s) {
        wait_until([&] { return lines(rel).size() >= n; }, timeout);
        return lines(rel);
    }
    HttpResponse request(std::string_view raw, int port = 0) {
        HttpConnection c;
        EXPECT_TRUE(c.connect(halo_.port(port))) << c.error();
        EXPECT_TRUE(c.send(raw)) << c.error();
        auto r = c.read_response();
        EXPECT_TRUE(r) << c.error();
        return r.value_or(HttpResponse{});
    }

    Halo halo_;
};

TEST_F(AccessLogTest, DefaultIsCombinedInLogsAccessLog) {
    start("server { listen 127.0.0.1:%%PORT_0%%; location / { return 200 \"hello\"; } }");
    HttpResponse r = request(
        "GET /path?q=1 HTTP/1.1\r\nHost: localhost\r\nReferer: http://ref.example/\r\n"
        "User-Agent: agent/1.0 (test)\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(r.status, 200);
    auto got = wait_lines("logs/access.log", 1);
    ASSERT_EQ(got.size(), 1u) << text("logs/access.log");
    static const std::regex kLine(
        R"(127\.0\.0\.1 - - \[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} )"
        R"([+-][0-9]{4}\] "GET /path\?q=1 HTTP/1\.1" 200 5 "http://ref\.example/" )"
        R"re("agent/1\.0 \(test\)")re");
    EXPECT_TRUE(std::regex_match(got[0], kLine)) << got[0];
}

TEST_F(AccessLogTest, CombinedForErrorsAndMissingHeaders) {
    start("server { listen 127.0.0.1:%%PORT_0%%; location /x { return 200 x; } }");
    request("GET /nothing HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    request("GET /../x HTTP/1.1\r\nHost: localhost\r\n\r\n");
    auto got = wait_lines("logs/access.log", 2);
    ASSERT_EQ(got.size(), 2u) << text("logs/access.log");
    EXPECT_TRUE(
        std::regex_search(got[0], std::regex(R"(\] "GET /nothing HTTP/1\.1" 404 [0-9]+ "-" "-"$)")))
        << got[0];
    EXPECT_TRUE(std::regex_search(got[1], std::regex(R"(" 400 [0-9]+ "-" "-"$)"))) << got[1];
}

TEST_F(AccessLogTest, JsonFormat) {
    start(R"(
    log_format j escape=json '{"addr":"$remote_addr","req":"$request","status":$status,'
                             '"ua":"$http_user_agent","none":"$http_x_none"}';
    access_log logs/j.log j;
    server { listen 127.0.0.1:%%PORT_0%%; location / { return 200 "ok"; } }
)");
    request(
        "GET /a%22b HTTP/1.1\r\nHost: localhost\r\nUser-Agent: say \"hi\"\\\r\n"
        "Connection: close\r\n\r\n");
    auto got = wait_lines("logs/j.log", 1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0],
              "{\"addr\":\"127.0.0.1\",\"req\":\"GET /a%22b HTTP/1.1\",\"status\":200,"
              "\"ua\":\"say \\\"hi\\\"\\\\\",\"none\":\"\"}");
}

TEST_F(AccessLogTest, DefaultEscaping) {
    start(R"(
    log_format e '$uri|$http_user_agent';
    access_log logs/e.log e;
    server { listen 127.0.0.1:%%PORT_0%%; location / { return 200 "ok"; } }
)");
    request(
        "GET /a%22b%5C%01%C3%A9 HTTP/1.1\r\nHost: localhost\r\nUser-Agent: q\"b\\\r\n"
        "Connection: close\r\n\r\n");
    auto got = wait_lines("logs/e.log", 1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0], R"(/a\x22b\x5C\x01\xC3\xA9|q\x22b\x5C)");
}

TEST_F(AccessLogTest, OffAndSeveralLogs) {
    start(R"(
    log_format u '$uri';
    log_format s '$status';
    access_log logs/u.log u;
    access_log logs/s.log s;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location /logged { return 200 "ok"; }
        location /quiet { access_log off; return 200 "ok"; }
        location /own { access_log logs/own.log u; return 204; }
    }
)");
    for (const char* path : {"/logged", "/quiet", "/own", "/logged/2"}) {
        request(get_request(path));
    }
    auto u = wait_lines("logs/u.log", 2);
    EXPECT_EQ(u, (std::vector<std::string>{"/logged", "/logged/2"}));
    EXPECT_EQ(wait_lines("logs/s.log", 2), (std::vector<std::string>{"200", "200"}));
    EXPECT_EQ(wait_lines("logs/own.log", 1), (std::vector<std::string>{"/own"}));
    EXPECT_FALSE(file_exists(halo_.path("logs/access.log")));
}

TEST_F(AccessLogTest, AbortedDownloadIsLogged) {
    // nginx logs every request it started to answer, also when the client goes away in the
    // middle of the body (with the bytes actually sent).
    std::string big(8 * 1024 * 1024, 'x');
    ASSERT_EQ(::mkdir(halo_.path("html").c_str(), 0755), 0);
    ASSERT_TRUE(write_file(halo_.path("html/big.bin"), big));
    ::chmod(halo_.path("html/big.bin").c_str(), 0644);
    start(R"(
    log_format f '$uri $status';
    access_log logs/a.log f;
    server { listen 127.0.0.1:%%PORT_0%%; sendfile on; }
)");
    {
        HttpConnection c;
        ASSERT_TRUE(c.connect(halo_.port(0)));
        ASSERT_TRUE(c.send("GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n"));
        // Read a little of the response, then go away with the rest unread.
        struct pollfd pfd = {c.fd(), POLLIN, 0};
        ASSERT_EQ(::poll(&pfd, 1, 5000), 1);
        char buf[4096];
        ASSERT_GT(::read(c.fd(), buf, sizeof(buf)), 0);
    }
    request(get_request("/after"));
    auto got = wait_lines("logs/a.log", 2, 5s);
    EXPECT_EQ(got, (std::vector<std::string>{"/big.bin 200", "/after 404"})) << text("logs/a.log");
}

TEST_F(AccessLogTest, BufferedLinesAppearAfterFlushTime) {
    start(R"(
    log_format u '$uri';
    access_log logs/b.log u buffer=64k flush=2s;
    server { listen 127.0.0.1:%%PORT_0%%; location / { return 200 "ok"; } }
)");
    auto sent = std::chrono::steady_clock::now();
    request(get_request("/buffered"));
    request(get_request("/buffered/2"));
    if (std::chrono::steady_clock::now() - sent < 1500ms) {
        EXPECT_EQ(text("logs/b.log"), "") << "written before the flush time";
    }
    EXPECT_EQ(wait_lines("logs/b.log", 2, 10s),
              (std::vector<std::string>{"/buffered", "/buffered/2"}));
}

TEST_F(AccessLogTest, FullBufferIsWritten) {
    start(R"(
    log_format u '$uri';
    access_log logs/b.log u buffer=64 flush=1h;
    server { listen 127.0.0.1:%%PORT_0%%; location / { return 200 "ok"; } }
)");
    // 30-byte lines in a 64-byte buffer: the third line does not fit, the first two go out.
    request(get_request("/aaaaaaaaaaaaaaaaaaaaaaaaaaaa1"));
    request(get_request("/aaaaaaaaaaaaaaaaaaaaaaaaaaaa2"));
    request(get_request("/aaaaaaaaaaaaaaaaaaaaaaaaaaaa3"));
    auto got = wait_lines("logs/b.log", 2);
    EXPECT_EQ(got, (std::vector<std::string>{"/aaaaaaaaaaaaaaaaaaaaaaaaaaaa1",
                                             "/aaaaaaaaaaaaaaaaaaaaaaaaaaaa2"}));
}

TEST_F(AccessLogTest, BufferedLinesAreWrittenWhenTheWorkerExits) {
    start(R"(
    log_format u '$uri';
    access_log logs/b.log u buffer=64k flush=1h;
    server { listen 127.0.0.1:%%PORT_0%%; location / { return 200 "ok"; } }
)");
    request(get_request("/at-exit"));
    EXPECT_EQ(text("logs/b.log"), "");
    ASSERT_TRUE(halo_.signal(SIGQUIT));
    ASSERT_TRUE(halo_.wait_exit(10s).has_value());
    EXPECT_EQ(lines("logs/b.log"), (std::vector<std::string>{"/at-exit"}));
}

TEST_F(AccessLogTest, BufferedLinesAreWrittenOnFastShutdown) {
    start(R"(
    log_format u '$uri';
    access_log logs/b.log u buffer=64k flush=1h;
    server { listen 127.0.0.1:%%PORT_0%%; location / { return 200 "ok"; } }
)");
    request(get_request("/at-term"));
    ASSERT_TRUE(halo_.signal(SIGTERM));
    ASSERT_TRUE(halo_.wait_exit(10s).has_value());
    EXPECT_EQ(lines("logs/b.log"), (std::vector<std::string>{"/at-term"}));
}

TEST_F(AccessLogTest, ReopenAfterRotation) {
    start(R"(
    log_format u '$uri';
    access_log logs/r.log u;
    server { listen 127.0.0.1:%%PORT_0%%; location / { return 200 "ok"; } }
)");
    request(get_request("/before"));
    ASSERT_EQ(wait_lines("logs/r.log", 1), (std::vector<std::string>{"/before"}));
    ASSERT_EQ(::rename(halo_.path("logs/r.log").c_str(), halo_.path("logs/r.log.1").c_str()), 0);
    // Until the reopen, lines still go to the moved file.
    request(get_request("/moved"));
    EXPECT_EQ(wait_lines("logs/r.log.1", 2), (std::vector<std::string>{"/before", "/moved"}));
    RunResult r = halo_.run({"-s", "reopen"});
    ASSERT_EQ(r.status, 0) << r;
    ASSERT_TRUE(wait_until([&] { return file_exists(halo_.path("logs/r.log")); }));
    // The worker reopens after the master: retry until a line lands in the new file.
    bool landed = wait_until(
        [&] {
            request(get_request("/after"));
            return text("logs/r.log").find("/after") != std::string::npos;
        },
        10s, 200ms);
    EXPECT_TRUE(landed) << "new r.log: " << text("logs/r.log");
    for (const std::string& l : lines("logs/r.log")) {
        EXPECT_EQ(l, "/after");
    }
    EXPECT_EQ(lines("logs/r.log.1").front(), "/before");
    if (geteuid() == 0) {
        struct stat st;
        ASSERT_EQ(::stat(halo_.path("logs/r.log").c_str(), &st), 0);
        EXPECT_NE(st.st_uid, 0u) << "the new access log is not given to the worker user";
    }
}

TEST_F(AccessLogTest, BufferedLinesGoToTheOldFileOnReopen) {
    // nginx flushes log buffers before it reopens the files (ngx_reopen_files calls
    // file->flush): lines of requests served before the rotation stay in the rotated file.
    start(R"(
    log_format u '$uri';
    access_log logs/r.log u buffer=64k flush=1h;
    server { listen 127.0.0.1:%%PORT_0%%; location / { return 200 "ok"; } }
)");
    auto workers = halo_.workers();
    request(get_request("/before-rotation"));
    ASSERT_EQ(::rename(halo_.path("logs/r.log").c_str(), halo_.path("logs/r.log.1").c_str()), 0);
    RunResult r = halo_.run({"-s", "reopen"});
    ASSERT_EQ(r.status, 0) << r;
    ASSERT_TRUE(wait_until([&] {
        std::string log = halo_.error_log();
        for (pid_t w : workers) {
            if (log.find(std::to_string(w) + "#0: reopening logs") == std::string::npos) {
                return false;
            }
        }
        return true;
    })) << halo_.error_log();
    ASSERT_TRUE(halo_.signal(SIGQUIT));
    ASSERT_TRUE(halo_.wait_exit(10s).has_value());
    EXPECT_EQ(lines("logs/r.log.1"), (std::vector<std::string>{"/before-rotation"}));
    EXPECT_EQ(text("logs/r.log"), "");
}

TEST_F(AccessLogTest, UnknownVariableFailsTheTest) {
    halo_.write_conf(
        "events { }\nhttp {\n log_format f '$uri $bogus';\n"
        " server { listen 127.0.0.1:%%PORT_0%%; } }\n");
    RunResult r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("unknown \"bogus\" variable in " + halo_.conf_path() + ":3"),
              std::string::npos)
        << r;
}

}  // namespace
}  // namespace halo_test
