// FastCGI through the real binary against Debian's PHP-FPM (php-fpm8.2), each test running
// its own FPM (config and pool in a temp folder, a loopback port from the harness, started
// and killed by pid): a PHP page with Debian's snippets/fastcgi-php.conf unchanged, POST
// bodies (small, 1 MB from a file, chunked, streamed), PATH_INFO from
// fastcgi_split_path_info, PHP's error_log() in halo's error log as nginx writes it,
// fastcgi_keep_conn reuse, fastcgi_intercept_errors with error_page, and an FPM pool stopped
// and restarted under load with fastcgi_next_upstream moving requests to the other pool.
// Skips when php-fpm8.2 is not installed.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "support/harness.h"
#include "support/nginx.h"

namespace halo_test {
namespace {

constexpr const char* kFpm = "/usr/sbin/php-fpm8.2";
constexpr std::string_view kFastcgiPhp = "/etc/nginx/snippets/fastcgi-php.conf";

constexpr std::string_view kIndexPhp = R"(<?php
if (isset($_GET['status'])) { http_response_code((int)$_GET['status']); }
if (isset($_GET['loc'])) { header("Location: /elsewhere"); }
header("X-Test: yes");
echo "method=", $_SERVER['REQUEST_METHOD'], "\n";
echo "script=", $_SERVER['SCRIPT_NAME'], "\n";
echo "path_info=", $_SERVER['PATH_INFO'] ?? '', "\n";
echo "query=", $_SERVER['QUERY_STRING'], "\n";
echo "pool=", getenv('POOL'), "\n";
$b = file_get_contents('php://input');
echo "body_len=", strlen($b), " md5=", md5($b), "\n";
if (isset($_GET['err'])) { error_log("custom error from php"); }
)";

/// One PHP-FPM master with one static pool on 127.0.0.1:port, in the foreground, ours.
class Fpm {
  public:
    /// `unix_path`: listen there instead of on a loopback port.
    Fpm(const std::string& dir, std::string name, std::string unix_path = {})
        : dir_(dir), name_(std::move(name)), unix_path_(std::move(unix_path)) {
        port_ = free_port();
    }
    ~Fpm() { stop(); }

    uint16_t port() const { return port_; }

    bool start() {
        std::string conf = dir_ + "/" + name_ + ".conf";
        FILE* f = fopen(conf.c_str(), "w");
        if (f == nullptr) {
            return false;
        }
        fprintf(f,
                "[global]\nerror_log = %s/%s.log\ndaemonize = no\n"
                "[%s]\nlisten = %s\nlisten.mode = 0666\npm = static\npm.max_children = 4\n"
                "env[POOL] = %s\nclear_env = no\n",
                dir_.c_str(), name_.c_str(), name_.c_str(),
                unix_path_.empty() ? ("127.0.0.1:" + std::to_string(port_)).c_str()
                                   : unix_path_.c_str(),
                name_.c_str());
        fclose(f);
        pid_ = fork();
        if (pid_ == 0) {
            setpgid(0, 0);
            execl(kFpm, kFpm, "-n", "-y", conf.c_str(), "-F", "-R", nullptr);
            _exit(127);
        }
        if (!unix_path_.empty()) {
            return pid_ > 0 && wait_until([&] { return access(unix_path_.c_str(), F_OK) == 0; });
        }
        return pid_ > 0 && wait_for_port(port_, 10s);
    }
    void stop() {
        if (pid_ > 0) {
            ::kill(pid_, SIGQUIT);  // graceful: the requests being served finish
            int st = 0;
            waitpid(pid_, &st, 0);
            pid_ = -1;
            if (unix_path_.empty()) {
                wait_port_closed(port_, 10s);
            }
        }
    }

  private:
    std::string dir_;
    std::string name_;
    std::string unix_path_;
    uint16_t port_ = 0;
    pid_t pid_ = -1;
};

class FastcgiPhpTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_fastcgi")) {
            GTEST_SKIP() << "the fastcgi module is not compiled in";
        }
        if (access(kFpm, X_OK) != 0 || access(std::string(kFastcgiPhp).c_str(), R_OK) != 0) {
            GTEST_SKIP() << kFpm << " or " << kFastcgiPhp << " is missing";
        }
        halo_.write("html/index.php", kIndexPhp);
        halo_.write("html/err404.html", "custom not found page\n");
        // The snippet includes fastcgi.conf relative to the config's folder, as on Debian.
        ASSERT_EQ(symlink("/etc/nginx/fastcgi.conf", halo_.path("fastcgi.conf").c_str()), 0);
    }

    /// halo with `locations` in a server on PORT_0, `http_extra` at the http level.
    bool start_halo(const std::string& http_extra, const std::string& locations,
                    const std::string& listen_params = "") {
        halo_.write_conf(R"(
daemon off;
worker_processes 1;
error_log logs/error.log info;
events { worker_connections 256; }
http {
    access_log off;
)" + http_extra + R"(
    server {
        listen 127.0.0.1:%%PORT_0%%)" +
                         listen_params + R"(;
        root %%PREFIX%%/html;
        index index.php;
)" + locations + R"(
    }
}
)");
        return halo_.start();
    }

    RunResult curl(const std::vector<std::string>& extra, const std::string& path) {
        std::vector<std::string> argv = {"curl", "-sS", "--max-time", "20", "-i"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        argv.push_back("http://127.0.0.1:" + std::to_string(halo_.port(0)) + path);
        return run_command(argv, 25s);
    }

    std::string md5_of(const std::string& path) {
        RunResult r = run_command({"md5sum", path});
        return r.out.substr(0, 32);
    }

    Halo halo_;
    TempDir fpm_dir_{"halo-fpm"};
};

std::string snippet_location(uint16_t fpm_port) {
    return R"(
        location ~ [^/]\.php(/|$) {
            include /etc/nginx/snippets/fastcgi-php.conf;
            fastcgi_pass 127.0.0.1:)" +
           std::to_string(fpm_port) + R"(;
        }
)";
}

TEST_F(FastcgiPhpTest, PhpPageWithDebianSnippetAndPathInfo) {
    Fpm fpm(fpm_dir_.path(), "www");
    ASSERT_TRUE(fpm.start());
    ASSERT_TRUE(start_halo("", snippet_location(fpm.port()))) << halo_.error_log();
    RunResult r = curl({}, "/index.php/extra/path?a=1");
    ASSERT_EQ(r.status, 0) << r;
    EXPECT_NE(r.out.find("HTTP/1.1 200 OK\r\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("X-Test: yes\r\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("Content-Type: text/html; charset=UTF-8\r\n"), std::string::npos);
    EXPECT_EQ(r.out.find("Status:"), std::string::npos) << r.out;  // hidden, as nginx
    EXPECT_NE(r.out.find("method=GET\nscript=/index.php\npath_info=/extra/path\nquery=a=1\n"),
              std::string::npos)
        << r.out;
    // The directory's index through fastcgi_index (SCRIPT_NAME from $fastcgi_script_name).
    r = curl({}, "/");
    EXPECT_NE(r.out.find("script=/index.php\n"), std::string::npos) << r.out;
    // try_files $fastcgi_script_name =404: no such script.
    r = curl({}, "/missing.php");
    EXPECT_NE(r.out.find("HTTP/1.1 404 Not Found\r\n"), std::string::npos) << r.out;
    // Status: and Location: from PHP.
    r = curl({}, "/index.php?status=410");
    EXPECT_NE(r.out.find("HTTP/1.1 410 Gone\r\n"), std::string::npos) << r.out;
    r = curl({}, "/index.php?loc=1");
    EXPECT_EQ(r.out.rfind("HTTP/1.1 302 ", 0), 0u) << r.out;  // PHP says "302 Found"
    EXPECT_NE(r.out.find("Location: /elsewhere\r\n"), std::string::npos) << r.out;
}

TEST_F(FastcgiPhpTest, PostBodiesSmallLargeChunkedAndStreamed) {
    Fpm fpm(fpm_dir_.path(), "www");
    ASSERT_TRUE(fpm.start());
    ASSERT_TRUE(start_halo("client_max_body_size 8m;", snippet_location(fpm.port()) + R"(
        location /streamed/ {
            fastcgi_request_buffering off;
            include fastcgi.conf;
            fastcgi_param SCRIPT_FILENAME %%PREFIX%%/html/index.php;
            fastcgi_pass 127.0.0.1:)" + std::to_string(fpm.port()) +
                                                           ";\n        }\n"))
        << halo_.error_log();
    RunResult r = curl({"--data-binary", "hello=world"}, "/index.php");
    EXPECT_NE(r.out.find("method=POST\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("body_len=11 md5=9df8ae61707d4fabedbde18b4f7d2566\n"), std::string::npos)
        << r.out;
    // 1 MB: over client_body_buffer_size, so from the body's temporary file, in records.
    std::string big = fpm_dir_ / "big";
    RunResult dd =
        run_command({"dd", "if=/dev/urandom", "of=" + big, "bs=1024", "count=1024", "status=none"});
    ASSERT_EQ(dd.status, 0) << dd;
    std::string want = "body_len=1048576 md5=" + md5_of(big) + "\n";
    r = curl({"--data-binary", "@" + big}, "/index.php");
    EXPECT_NE(r.out.find(want), std::string::npos) << r.out.substr(0, 400);
    r = curl({"-H", "Transfer-Encoding: chunked", "--data-binary", "@" + big}, "/index.php");
    EXPECT_NE(r.out.find(want), std::string::npos) << r.out.substr(0, 400);
    // fastcgi_request_buffering off: STDIN records as the body arrives, chunked or not.
    r = curl({"--data-binary", "@" + big}, "/streamed/x");
    EXPECT_NE(r.out.find(want), std::string::npos) << r.out.substr(0, 400);
    // A chunked one goes out as it comes too, without CONTENT_LENGTH (as nginx): PHP reads
    // no body without one, so only the request's answer is checked.
    r = curl({"-H", "Transfer-Encoding: chunked", "--data-binary", "@" + big}, "/streamed/x");
    EXPECT_NE(r.out.find("HTTP/1.1 200 OK\r\n"), std::string::npos) << r.out.substr(0, 400);
}

TEST_F(FastcgiPhpTest, PhpStderrInErrorLogAsNginxWritesIt) {
    Fpm fpm(fpm_dir_.path(), "www");
    ASSERT_TRUE(fpm.start());
    ASSERT_TRUE(start_halo("", snippet_location(fpm.port()))) << halo_.error_log();
    RunResult r = curl({}, "/index.php?err=1");
    EXPECT_NE(r.out.find("HTTP/1.1 200 OK\r\n"), std::string::npos) << r.out;
    std::string port = std::to_string(halo_.port(0));
    std::string want =
        "FastCGI sent in stderr: \"PHP message: custom error from php\" while reading response "
        "header from upstream, client: 127.0.0.1, server: , request: \"GET /index.php?err=1 "
        "HTTP/1.1\", upstream: \"fastcgi://127.0.0.1:" +
        std::to_string(fpm.port()) + "\", host: \"127.0.0.1:" + port + "\"";
    ASSERT_TRUE(wait_until([&] { return !log_lines_with(halo_.error_log(), want).empty(); }))
        << halo_.error_log();
    EXPECT_NE(log_lines_with(halo_.error_log(), want)[0].find("[error]"), std::string::npos);
}

TEST_F(FastcgiPhpTest, KeepConnReusesOneConnection) {
    Fpm fpm(fpm_dir_.path(), "www");
    ASSERT_TRUE(fpm.start());
    std::string port = std::to_string(fpm.port());
    ASSERT_TRUE(start_halo("upstream php { server 127.0.0.1:" + port + "; keepalive 4; }",
                           R"(
        location /kept/ {
            include fastcgi.conf;
            fastcgi_param SCRIPT_FILENAME %%PREFIX%%/html/index.php;
            fastcgi_keep_conn on;
            fastcgi_pass php;
        }
        location /closed/ {
            include fastcgi.conf;
            fastcgi_param SCRIPT_FILENAME %%PREFIX%%/html/index.php;
            fastcgi_pass php;
        }
)")) << halo_.error_log();
    std::vector<pid_t> workers = halo_.wait_workers(1);
    ASSERT_EQ(workers.size(), 1u);
    for (int i = 0; i < 10; i++) {
        RunResult r = curl({}, "/kept/" + std::to_string(i));
        ASSERT_NE(r.out.find("method=GET"), std::string::npos) << r.out;
    }
    // One connection carried the ten requests and waits in the pool.
    EXPECT_EQ(connections_to(workers[0], fpm.port()), 1);
    std::string fpm_side =
        run_command({"ss", "-tnH", "state", "established", "sport", "=", ":" + port}).out;
    EXPECT_EQ(std::count(fpm_side.begin(), fpm_side.end(), '\n'), 1) << fpm_side;
    for (int i = 0; i < 5; i++) {
        RunResult r = curl({}, "/closed/" + std::to_string(i));
        ASSERT_NE(r.out.find("method=GET"), std::string::npos) << r.out;
    }
    // Without FCGI_KEEP_CONN FPM closes each, the pooled one too once it carried one of
    // these (the pool is the group's, as nginx's keepalive): none is left open.
    EXPECT_TRUE(wait_until([&] { return connections_to(workers[0], fpm.port()) == 0; }))
        << connections_to(workers[0], fpm.port());
}

TEST_F(FastcgiPhpTest, InterceptErrorsWithErrorPage) {
    Fpm fpm(fpm_dir_.path(), "www");
    ASSERT_TRUE(fpm.start());
    std::string port = std::to_string(fpm.port());
    ASSERT_TRUE(start_halo("", R"(
        location = /err404.html { internal; }
        location /icpt/ {
            include fastcgi.conf;
            fastcgi_param SCRIPT_FILENAME %%PREFIX%%/html/index.php;
            fastcgi_intercept_errors on;
            error_page 404 /err404.html;
            fastcgi_pass 127.0.0.1:)" +
                                   port + R"(;
        }
        location /plain/ {
            include fastcgi.conf;
            fastcgi_param SCRIPT_FILENAME %%PREFIX%%/html/index.php;
            error_page 404 /err404.html;
            fastcgi_pass 127.0.0.1:)" +
                                   port + R"(;
        }
)")) << halo_.error_log();
    RunResult r = curl({}, "/icpt/x?status=404");
    EXPECT_NE(r.out.find("HTTP/1.1 404 Not Found\r\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("custom not found page\n"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("X-Test"), std::string::npos) << r.out;
    r = curl({}, "/plain/x?status=404");
    EXPECT_NE(r.out.find("HTTP/1.1 404 Not Found\r\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("method=GET"), std::string::npos) << r.out;  // PHP's own body
}

TEST_F(FastcgiPhpTest, PoolRestartedUnderLoadNextUpstreamRetries) {
    Fpm a(fpm_dir_.path(), "a");
    Fpm b(fpm_dir_.path(), "b");
    ASSERT_TRUE(a.start());
    ASSERT_TRUE(b.start());
    // max_fails=0 on a: halo keeps trying it while it is down (with passive health a first
    // failure on a kept connection could take it out for fail_timeout, and no connect would
    // be refused during the test), so the refusals below always happen.
    ASSERT_TRUE(start_halo("upstream pools { server 127.0.0.1:" + std::to_string(a.port()) +
                               " max_fails=0; server 127.0.0.1:" + std::to_string(b.port()) +
                               "; keepalive 2; }",
                           R"(
        location / {
            include fastcgi.conf;
            fastcgi_param SCRIPT_FILENAME %%PREFIX%%/html/index.php;
            fastcgi_next_upstream error timeout;
            fastcgi_keep_conn on;
            fastcgi_pass pools;
        }
)")) << halo_.error_log();
    // Both pools answer while both run.
    int from_a = 0;
    int from_b = 0;
    for (int i = 0; i < 6; i++) {
        std::string out = curl({}, "/x").out;
        from_a += out.find("pool=a\n") != std::string::npos;
        from_b += out.find("pool=b\n") != std::string::npos;
    }
    EXPECT_EQ(from_a, 3);
    EXPECT_EQ(from_b, 3);
    // Load from a thread while pool a is stopped and started again, twice: every request
    // is answered by PHP (b takes those a cannot; a kept connection a closed is retried).
    std::atomic<bool> done{false};
    std::atomic<int> ok{0};
    std::atomic<int> bad{0};
    std::thread load([&] {
        while (!done) {
            RunResult r = curl({}, "/x");
            (r.out.find("HTTP/1.1 200 OK\r\n") != std::string::npos ? ok : bad)++;
        }
    });
    for (int round = 0; round < 2; round++) {
        int before = ok;
        wait_until([&] { return ok >= before + 5; });
        a.stop();
        before = ok;
        wait_until([&] { return ok >= before + 10; });
        ASSERT_TRUE(a.start());
    }
    int before = ok;
    wait_until([&] { return ok >= before + 5; });
    done = true;
    load.join();
    EXPECT_EQ(bad, 0);
    EXPECT_GE(ok, 35);
    // The refused connections were logged and the requests moved on.
    EXPECT_FALSE(log_lines_with(halo_.error_log(), "while connecting to upstream").empty());
}

TEST_F(FastcgiPhpTest, UnixSocketVariablesAndCatchStderr) {
    std::string sock = fpm_dir_ / "fpm.sock";
    Fpm unix_fpm(fpm_dir_.path(), "u", sock);
    ASSERT_TRUE(unix_fpm.start());
    Fpm tcp_fpm(fpm_dir_.path(), "t");
    ASSERT_TRUE(tcp_fpm.start());
    std::string common = R"(
            include fastcgi.conf;
            fastcgi_param SCRIPT_FILENAME %%PREFIX%%/html/index.php;
)";
    ASSERT_TRUE(start_halo("", R"(
        location /unix/ {)" + common +
                                   R"(
            fastcgi_pass unix:)" + sock +
                                   R"(;
        }
        location /var/ {)" + common +
                                   R"(
            set $fpm 127.0.0.1:)" + std::to_string(tcp_fpm.port()) +
                                   R"(;
            fastcgi_pass $fpm;
        }
        location /caught/ {)" + common +
                                   R"(
            fastcgi_catch_stderr "custom error";
            fastcgi_pass unix:)" + sock +
                                   R"(;
        }
        location /words/ {)" + common +
                                   R"(
            fastcgi_catch_stderr "sent in stderr";
            fastcgi_pass unix:)" + sock +
                                   R"(;
        }
)")) << halo_.error_log();
    RunResult r = curl({}, "/unix/x");
    EXPECT_NE(r.out.find("pool=u\n"), std::string::npos) << r.out;
    r = curl({}, "/var/x");
    EXPECT_NE(r.out.find("pool=t\n"), std::string::npos) << r.out;
    // A STDERR record with the string before the head: the answer is invalid, 502.
    r = curl({}, "/caught/x?err=1");
    EXPECT_NE(r.out.find("HTTP/1.1 502 Bad Gateway\r\n"), std::string::npos) << r.out;
    EXPECT_FALSE(log_lines_with(halo_.error_log(), "upstream sent invalid header").empty())
        << halo_.error_log();
    r = curl({}, "/caught/x");
    EXPECT_NE(r.out.find("HTTP/1.1 200 OK\r\n"), std::string::npos) << r.out;
    // The patterns look at what PHP wrote, not at the words of halo's log line around it.
    r = curl({}, "/words/x?err=1");
    EXPECT_NE(r.out.find("HTTP/1.1 200 OK\r\n"), std::string::npos) << r.out;
    EXPECT_NE(
        log_lines_with(halo_.error_log(), "upstream: \"fastcgi://unix:" + sock + ":\"").size(), 0u)
        << halo_.error_log();
}

TEST_F(FastcgiPhpTest, LargeAnswerToASlowClientGoesThroughTheTempFile) {
    halo_.write("html/big.php", R"(<?php
$s = '';
for ($i = 0; strlen($s) < 3000000; $i++) { $s .= md5((string)$i) . "\n"; }
echo substr($s, 0, 3000000);
)");
    Fpm fpm(fpm_dir_.path(), "www");
    ASSERT_TRUE(fpm.start());
    ASSERT_TRUE(start_halo("",
                           R"(
        location / {
            include fastcgi.conf;
            fastcgi_buffers 2 4k;
            fastcgi_pass 127.0.0.1:)" +
                               std::to_string(fpm.port()) + ";\n        }\n",
                           " sndbuf=65536"))
        << halo_.error_log();
    std::string fast = fpm_dir_ / "fast";
    RunResult r = run_command({"curl", "-sS", "-o", fast,
                               "http://127.0.0.1:" + std::to_string(halo_.port(0)) + "/big.php"},
                              25s);
    ASSERT_EQ(r.status, 0) << r;
    EXPECT_EQ(run_command({"stat", "-c", "%s", fast}).out, "3000000\n");
    // A client that reads nothing for now (a small socket buffer on halo's side): the answer
    // outruns it and the rest waits in fastcgi_temp; then it reads it all.
    HttpConnection slow;
    ASSERT_TRUE(slow.connect(halo_.port(0)));
    ASSERT_TRUE(slow.send("GET /big.php HTTP/1.0\r\nHost: x\r\n\r\n"));  // not chunked
    ASSERT_TRUE(wait_until([&] {
        return !log_lines_with(halo_.error_log(), "buffered to a temporary file").empty();
    })) << halo_.error_log();
    std::optional<HttpResponse> resp = slow.read_response(20s);
    ASSERT_TRUE(resp.has_value()) << slow.error();
    EXPECT_EQ(resp->status, 200);
    std::string body_file = fpm_dir_ / "slow";
    FILE* f = fopen(body_file.c_str(), "w");
    ASSERT_NE(f, nullptr);
    fwrite(resp->body.data(), 1, resp->body.size(), f);
    fclose(f);
    EXPECT_EQ(run_command({"md5sum", body_file}).out.substr(0, 32),
              run_command({"md5sum", fast}).out.substr(0, 32));
    EXPECT_EQ(access(halo_.path("fastcgi_temp").c_str(), F_OK), 0);
}

TEST_F(FastcgiPhpTest, SameAnswersAsDebianNginxToTheSameFpm) {
    if (!nginx_installed()) {
        GTEST_SKIP() << "Debian's nginx is not installed";
    }
    Fpm fpm(fpm_dir_.path(), "www");
    ASSERT_TRUE(fpm.start());
    std::string locations = snippet_location(fpm.port()) + R"(
        location /icpt/ {
            include fastcgi.conf;
            fastcgi_param SCRIPT_FILENAME )" +
                            halo_.path("html") + R"(/index.php;
            fastcgi_intercept_errors on;
            error_page 404 /err404.html;
            fastcgi_pass 127.0.0.1:)" +
                            std::to_string(fpm.port()) + R"(;
        }
)";
    ASSERT_TRUE(start_halo("", locations)) << halo_.error_log();
    Nginx nginx;
    ASSERT_EQ(symlink("/etc/nginx/fastcgi.conf", nginx.path("fastcgi.conf").c_str()), 0);
    ASSERT_TRUE(nginx.start(R"(
worker_processes 1;
error_log %%PREFIX%%/error.log info;
events { worker_connections 64; }
http {
    access_log off;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        root )" + halo_.path("html") +
                            R"(;
        index index.php;
)" + locations + R"(
    }
}
)"));
    for (std::string path : {"/index.php/a/b?x=1", "/", "/missing.php", "/index.php?status=404",
                             "/index.php?status=503", "/index.php?loc=1", "/icpt/?status=404"}) {
        RawResponse h = fetch_raw(halo_.port(0), request_text(path));
        RawResponse n = fetch_raw(nginx.port(), request_text(path));
        EXPECT_EQ(h.status, n.status) << path;
        for (std::string_view name : {"Content-Type", "X-Test", "Location", "Status"}) {
            EXPECT_EQ(h.header(name), n.header(name)) << path << " " << name;
        }
        if (n.status == 200 || path.find("status=") != std::string::npos) {
            EXPECT_EQ(replace_all(h.body, "halo/0.1.0", "nginx"),
                      replace_all(n.body, "nginx/1.22.1", "nginx"))
                << path;
        }
    }
}

}  // namespace
}  // namespace halo_test

namespace halo_test {
namespace {

// fastcgi_cache: the cache layer of proxy_cache on the FastCGI exchange. A PHP page counting
// its runs: MISS then HIT with the same count (PHP ran once), another key its own entry, the
// client's conditional fields not passed to PHP while caching, purge, and fastcgi_cache_key
// required as nginx requires it.
TEST_F(FastcgiPhpTest, FastcgiCacheMissHitPurge) {
    Fpm fpm(fpm_dir_.path(), "www");
    ASSERT_TRUE(fpm.start());
    halo_.write("html/count.php", R"(<?php
$f = __DIR__ . '/count.txt';
$n = (int)@file_get_contents($f) + 1;
file_put_contents($f, $n);
header("Cache-Control: max-age=60");
echo "run=", $n, " ims=", $_SERVER['HTTP_IF_MODIFIED_SINCE'] ?? '-', "\n";
)");
    std::string loc = R"(
        location ~ \.php$ {
            include fastcgi.conf;
            fastcgi_pass 127.0.0.1:)" +
                      std::to_string(fpm.port()) + R"(;
            fastcgi_cache php;
            fastcgi_cache_key $request_uri;
            add_header X-Cache $upstream_cache_status;
        }
        location /purge/ {
            fastcgi_cache_purge php /count.php;
        }
)";
    ASSERT_TRUE(
        start_halo("fastcgi_cache_path %%PREFIX%%/fcache levels=1:2 keys_zone=php:1m;", loc))
        << halo_.error_log();
    RunResult r = curl({"-H", "If-Modified-Since: Mon, 01 Jan 2024 00:00:00 GMT"}, "/count.php");
    EXPECT_NE(r.out.find("X-Cache: MISS\r\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("run=1 ims=-\n"), std::string::npos) << r.out;
    r = curl({}, "/count.php");
    EXPECT_NE(r.out.find("HTTP/1.1 200 OK\r\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("X-Cache: HIT\r\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("run=1 ims=-\n"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("Status:"), std::string::npos) << r.out;
    r = curl({}, "/count.php?other");
    EXPECT_NE(r.out.find("X-Cache: MISS\r\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("run=2 "), std::string::npos) << r.out;
    r = curl({}, "/purge/");
    EXPECT_NE(r.out.find("HTTP/1.1 200 OK\r\n"), std::string::npos) << r.out;
    r = curl({}, "/count.php");
    EXPECT_NE(r.out.find("X-Cache: MISS\r\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("run=3 "), std::string::npos) << r.out;
    r = curl({}, "/count.php");
    EXPECT_NE(r.out.find("X-Cache: HIT\r\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("run=3 "), std::string::npos) << r.out;
    // Entries on disk under levels=1:2.
    RunResult files = run_command({"find", halo_.path("fcache"), "-type", "f"});
    EXPECT_EQ(std::count(files.out.begin(), files.out.end(), '\n'), 2) << files.out;

    // Without fastcgi_cache_key: nginx's refusal.
    halo_.write_conf(R"(
events {}
http {
    fastcgi_cache_path /tmp/x keys_zone=z:1m;
    server { location / { fastcgi_pass 127.0.0.1:9; fastcgi_cache z; } }
}
)");
    RunResult t = halo_.run({"-t"});
    EXPECT_NE(t.status, 0);
    EXPECT_NE(t.err.find("no \"fastcgi_cache_key\" for \"fastcgi_cache\""), std::string::npos)
        << t.err;
}

}  // namespace
}  // namespace halo_test

namespace halo_test {
namespace {

// PARAMS records hold whole pairs (PHP-FPM parses each record alone): 60 KB of request
// headers reach PHP intact. A Content-Length from PHP bounds the body as nginx bounds it: the
// excess is dropped (the keep-alive connection stays in step), a short body closes the
// connection (logged).
TEST_F(FastcgiPhpTest, LargeParamsAndContentLengthFromPhp) {
    Fpm fpm(fpm_dir_.path(), "www");
    ASSERT_TRUE(fpm.start());
    halo_.write("html/len.php", R"(<?php
if (isset($_GET['more'])) { header('Content-Length: 5'); echo str_repeat('x', 20); exit; }
if (isset($_GET['less'])) { header('Content-Length: 50'); echo 'short'; exit; }
$n = 0;
foreach (['HTTP_X_A', 'HTTP_X_B', 'HTTP_X_C', 'HTTP_X_D', 'HTTP_X_E'] as $h) {
    $n += strlen($_SERVER[$h] ?? '');
}
echo "headers=", $n, "\n";
)");
    std::string loc = R"(
        location ~ \.php$ {
            include fastcgi.conf;
            fastcgi_pass 127.0.0.1:)" +
                      std::to_string(fpm.port()) + ";\n        }\n";
    ASSERT_TRUE(start_halo("large_client_header_buffers 8 16k;", loc)) << halo_.error_log();
    std::vector<std::string> args;
    for (const char* h : {"X-A", "X-B", "X-C", "X-D", "X-E"}) {
        args.push_back("-H");
        args.push_back(std::string(h) + ": " + std::string(12000, 'v'));
    }
    RunResult r = curl(args, "/len.php");
    EXPECT_NE(r.out.find("HTTP/1.1 200 OK\r\n"), std::string::npos) << r.out.substr(0, 300);
    EXPECT_NE(r.out.find("headers=60000\n"), std::string::npos) << r.out.substr(0, 300);

    // Two requests on one connection: the 15 bytes beyond Content-Length are not sent.
    std::string base = "http://127.0.0.1:" + std::to_string(halo_.port(0));
    RunResult two = run_command(
        {"curl", "-sS", "--max-time", "10", base + "/len.php?more", base + "/len.php?more"}, 15s);
    EXPECT_EQ(two.status, 0) << two;
    EXPECT_EQ(two.out, "xxxxxxxxxx");
    EXPECT_TRUE(wait_until([&] {
        return halo_.error_log().find(
                   "upstream sent more data than specified in "
                   "\"Content-Length\" header") != std::string::npos;
    })) << halo_.error_log();
    // Short of its Content-Length: the client sees the transfer cut (curl: 18).
    RunResult less = run_command({"curl", "-sS", "--max-time", "10", base + "/len.php?less"}, 15s);
    EXPECT_EQ(less.status, 18) << less;
    EXPECT_TRUE(wait_until([&] {
        return halo_.error_log().find(
                   "upstream prematurely closed connection while reading "
                   "upstream") != std::string::npos;
    })) << halo_.error_log();
}

}  // namespace
}  // namespace halo_test
