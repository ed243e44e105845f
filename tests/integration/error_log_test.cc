// error_log in every context nginx allows (main, http, server, location), several per level,
// levels, stderr and syslog (a loopback UDP socket and a unix datagram socket the test
// creates), the refusals with nginx's messages, and the context of a request's error line
// compared with Debian's nginx on the same events (a missing file, a refused upstream).
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <netinet/in.h>

#include <cstring>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "support/harness.h"

namespace halo_test {
namespace {

/// A datagram socket the test reads syslog messages from: loopback UDP or a unix socket.
class SyslogSink {
  public:
    /// UDP on 127.0.0.1, a free port.
    SyslogSink() {
        fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
        socklen_t len = sizeof(a);
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
    }
    /// A unix datagram socket at `path`, writable by the worker user.
    explicit SyslogSink(const std::string& path) : path_(path) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
        ::unlink(path.c_str());
        ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
        ::chmod(path.c_str(), 0666);
    }
    ~SyslogSink() {
        ::close(fd_);
        if (!path_.empty()) {
            ::unlink(path_.c_str());
        }
    }
    uint16_t port() const { return port_; }

    /// Waits for a message containing `needle` (others are kept in all()).
    std::string wait_for(std::string_view needle, Millis timeout = 10s) {
        std::string found;
        wait_until(
            [&] {
                char buf[65536];
                ssize_t n;
                while ((n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
                    all_.emplace_back(buf, static_cast<size_t>(n));
                }
                for (const auto& m : all_) {
                    if (m.find(needle) != std::string::npos) {
                        found = m;
                        return true;
                    }
                }
                return false;
            },
            timeout);
        return found;
    }
    const std::vector<std::string>& all() const { return all_; }

  private:
    int fd_ = -1;
    uint16_t port_ = 0;
    std::string path_;
    std::vector<std::string> all_;
};

std::string read_log(const Halo& h, std::string_view rel) {
    return read_file(h.path(rel)).value_or("");
}

/// The request's error line in `log` that contains `needle`, from the message on (after
/// "pid#tid: *N "), so that nginx's and halo's lines compare.
std::string message_of(const std::string& log, std::string_view needle) {
    for (const std::string& line : log_lines_with(log, needle)) {
        static const std::regex head(R"(^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[\w+\] \d+#\d+: \*\d+ )");
        std::smatch m;
        if (std::regex_search(line, m, head)) {
            return line.substr(static_cast<size_t>(m.length(0)));
        }
    }
    return {};
}

class ErrorLogTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_static") || !halo_has_module("http_access")) {
            GTEST_SKIP() << "http_static or http_access not compiled in";
        }
    }
};

TEST_F(ErrorLogTest, TheInnermostLevelsLogsTakeARequestsMessages) {
    Halo h;
    h.write_conf(R"(
daemon off;
worker_processes 1;
error_log logs/main.log info;
events { }
http {
    access_log off;
    error_log logs/http.log;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        server_name one;
        root %%PREFIX%%/html;
        error_log logs/server.log warn;
        error_log logs/server2.log;
        location /loc/ {
            error_log logs/loc.log error;
        }
        location /deny/ {
            deny all;
        }
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        server_name two;
        root %%PREFIX%%/html;
    }
}
)");
    ASSERT_TRUE(h.start());
    EXPECT_EQ(http_get(h.port(0), "/loc/missing-a")->status, 404);
    EXPECT_EQ(http_get(h.port(0), "/missing-b")->status, 404);
    EXPECT_EQ(http_get(h.port(0), "/deny/x")->status, 403);
    EXPECT_EQ(http_get(h.port(1), "/missing-c")->status, 404);

    ASSERT_TRUE(wait_until(
        [&] { return !log_lines_with(read_log(h, "logs/http.log"), "missing-c").empty(); }));
    // The location's own log only.
    EXPECT_EQ(log_lines_with(read_log(h, "logs/loc.log"), "missing-a").size(), 1u);
    for (auto rel : {"logs/server.log", "logs/server2.log", "logs/http.log", "logs/main.log"}) {
        EXPECT_TRUE(log_lines_with(read_log(h, rel), "missing-a").empty()) << rel;
    }
    // The server's two logs (a location without error_log inherits them).
    for (auto rel : {"logs/server.log", "logs/server2.log"}) {
        EXPECT_EQ(log_lines_with(read_log(h, rel), "missing-b").size(), 1u) << rel;
        EXPECT_EQ(log_lines_with(read_log(h, rel), "access forbidden by rule").size(), 1u) << rel;
    }
    // The other server has none: the http level's.
    EXPECT_TRUE(log_lines_with(read_log(h, "logs/server.log"), "missing-c").empty());
    EXPECT_TRUE(log_lines_with(read_log(h, "logs/main.log"), "missing-c").empty());
    // The main log keeps the process messages (its level: info).
    EXPECT_FALSE(log_lines_with(read_log(h, "logs/main.log"), "start worker process").empty());
    EXPECT_TRUE(log_lines_with(read_log(h, "logs/http.log"), "start worker process").empty());

    std::string line = log_lines_with(read_log(h, "logs/loc.log"), "missing-a")[0];
    EXPECT_NE(line.find("[error]"), std::string::npos) << line;
    EXPECT_NE(line.find(", client: 127.0.0.1, server: one, request: \"GET /loc/missing-a "
                        "HTTP/1.1\", host: \"localhost\""),
              std::string::npos)
        << line;
}

TEST_F(ErrorLogTest, LevelsFilterPerLog) {
    Halo h;
    h.write_conf(R"(
daemon off;
worker_processes 1;
events { }
http {
    access_log off;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        root %%PREFIX%%/html;
        error_log logs/crit.log crit;
        error_log logs/error.log error;
    }
}
)");
    ASSERT_TRUE(h.start());
    EXPECT_EQ(http_get(h.port(0), "/missing-d")->status, 404);
    ASSERT_TRUE(wait_until(
        [&] { return !log_lines_with(read_log(h, "logs/error.log"), "missing-d").empty(); }));
    EXPECT_TRUE(log_lines_with(read_log(h, "logs/crit.log"), "missing-d").empty());
}

TEST_F(ErrorLogTest, SyslogOverUdp) {
    SyslogSink sink;
    Halo h;
    h.write_conf(R"(
daemon off;
worker_processes 1;
events { }
http {
    access_log off;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        server_name web;
        root %%PREFIX%%/html;
        location /a/ {
            error_log syslog:server=127.0.0.1:)" +
                 std::to_string(sink.port()) + R"(,facility=local6,tag=web_1,nohostname;
        }
        location /b/ {
            error_log syslog:server=127.0.0.1:)" +
                 std::to_string(sink.port()) + R"( warn;
        }
    }
}
)");
    ASSERT_TRUE(h.start());
    EXPECT_EQ(http_get(h.port(0), "/a/missing-e")->status, 404);
    std::string m = sink.wait_for("missing-e");
    ASSERT_FALSE(m.empty());
    // RFC 3164: <PRI> (local6 = 22, error = 3: 22 * 8 + 3), "Mmm dd hh:mm:ss", the tag; then
    // nginx's whole line, its own time included, without the newline.
    std::regex shape(
        R"(^<179>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d web_1: \d{4}/\d\d/\d\d \d\d:\d\d:\d\d )"
        R"(\[error\] \d+#\d+: \*\d+ open\(\) ".*/html/a/missing-e" failed \(2: No such file or )"
        R"(directory\), client: 127\.0\.0\.1, server: web, request: "GET /a/missing-e )"
        R"(HTTP/1\.1", host: "localhost"$)");
    EXPECT_TRUE(std::regex_search(m, shape)) << m;

    // Defaults: local7 (23 * 8 + 3 = 187), this machine's name, tag "halo".
    EXPECT_EQ(http_get(h.port(0), "/b/missing-f")->status, 404);
    m = sink.wait_for("missing-f");
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    std::string lower(host);
    for (char& c : lower) {
        c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    }
    EXPECT_EQ(m.substr(0, 5), "<187>") << m;
    EXPECT_NE(m.find(" " + lower + " halo: "), std::string::npos) << m;
}

TEST_F(ErrorLogTest, SyslogOverAUnixSocketAtMainLevel) {
    Halo h;
    SyslogSink sink(h.path("log.sock"));
    h.write_conf(R"(
daemon off;
worker_processes 1;
error_log syslog:server=unix:%%PREFIX%%/log.sock info;
events { }
http {
    access_log off;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        root %%PREFIX%%/html;
    }
}
)");
    ASSERT_TRUE(h.start());
    // The master's notice, and a worker's error (info and more severe go there).
    EXPECT_FALSE(sink.wait_for("start worker process").empty());
    EXPECT_EQ(http_get(h.port(0), "/missing-g")->status, 404);
    std::string m = sink.wait_for("missing-g");
    EXPECT_EQ(m.substr(0, 5), "<187>") << m;
    EXPECT_EQ(read_log(h, "logs/error.log"), "");  // the syslog replaced the default file
}

TEST_F(ErrorLogTest, StderrAtServerLevel) {
    Halo h;
    h.write_conf(R"(
daemon off;
worker_processes 1;
events { }
http {
    access_log off;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        root %%PREFIX%%/html;
        error_log stderr;
    }
}
)");
    ASSERT_TRUE(h.start());
    EXPECT_EQ(http_get(h.port(0), "/missing-h")->status, 404);
    EXPECT_TRUE(
        wait_until([&] { return !log_lines_with(h.master_stderr(), "missing-h").empty(); }));
    EXPECT_TRUE(log_lines_with(read_log(h, "logs/error.log"), "missing-h").empty());
}

/// The error log lines of a request served by `bin` (halo or nginx) on the same config: a
/// missing file and a refused upstream.
std::vector<std::string> context_lines(const std::string& bin, uint16_t refused) {
    Halo h(bin);
    std::filesystem::create_directory(h.path("html"));
    h.write_conf(R"(
daemon off;
worker_processes 1;
pid logs/halo.pid;
error_log logs/main.log;
events { }
http {
    access_log off;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        server_name localhost;
        root %%PREFIX%%/html;
        error_log logs/site.log;
        location /p/ { proxy_pass http://127.0.0.1:)" +
                 std::to_string(refused) + R"(; }
    }
}
)");
    EXPECT_TRUE(h.start()) << bin;
    HttpConnection c;
    EXPECT_TRUE(c.connect(h.port(0)));
    c.send("GET /missing?x=1 HTTP/1.1\r\nHost: example.com\r\nReferer: http://r/\r\n\r\n");
    EXPECT_EQ(c.read_response()->status, 404) << bin;
    c.send("GET /p/a?b=1 HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(c.read_response()->status, 502) << bin;
    std::vector<std::string> out;
    wait_until([&] { return !log_lines_with(read_log(h, "logs/site.log"), "upstream").empty(); });
    std::string log = read_log(h, "logs/site.log");
    std::string refused_text = std::to_string(refused);
    for (std::string_view needle : {"open()", "connect()"}) {
        std::string m = message_of(log, needle);
        // The prefix and ports differ between the two runs; the rest must not.
        for (const auto& [from, to] : {std::pair{h.prefix(), std::string("<prefix>")},
                                       std::pair{refused_text, std::string("<port>")}}) {
            for (size_t at; (at = m.find(from)) != std::string::npos;) {
                m.replace(at, from.size(), to);
            }
        }
        out.push_back(m);
    }
    return out;
}

TEST_F(ErrorLogTest, RequestContextAsNginxWritesIt) {
    if (!halo_has_module("http_proxy")) {
        GTEST_SKIP() << "http_proxy not compiled in";
    }
    uint16_t refused = free_port();  // nothing listens there
    std::vector<std::string> halo = context_lines(halo_bin(), refused);
    ASSERT_EQ(halo.size(), 2u);
    EXPECT_EQ(halo[0],
              "open() \"<prefix>/html/missing\" failed (2: No such file or directory), client: "
              "127.0.0.1, server: localhost, request: \"GET /missing?x=1 HTTP/1.1\", host: "
              "\"example.com\", referrer: \"http://r/\"");
    EXPECT_EQ(halo[1],
              "connect() failed (111: Connection refused) while connecting to upstream, client: "
              "127.0.0.1, server: localhost, request: \"GET /p/a?b=1 HTTP/1.1\", upstream: "
              "\"http://127.0.0.1:<port>/p/a?b=1\", host: \"example.com\"");
    if (!file_exists("/usr/sbin/nginx")) {
        GTEST_SKIP() << "no /usr/sbin/nginx to compare with";
    }
    EXPECT_EQ(context_lines("/usr/sbin/nginx", refused), halo);
}

/// `halo -t` and `nginx -t` on `conf`: the [emerg] line of each, from "[emerg] " on.
struct TwoVerdicts {
    std::string halo, nginx;
};
TwoVerdicts both_test(const std::string& body) {
    TwoVerdicts v;
    TempDir dir("halo-errlog");
    std::string conf = dir / "t.conf";
    write_file(conf, body);
    RunResult h = run_command({halo_bin(), "-t", "-p", dir.path() + "/", "-c", conf});
    v.halo = h.err.substr(std::min(h.err.size(), h.err.find("[emerg] ")));
    v.halo = v.halo.substr(0, v.halo.find('\n'));
    if (file_exists("/usr/sbin/nginx")) {
        RunResult n = run_command({"/usr/sbin/nginx", "-t", "-p", dir.path() + "/", "-c", conf,
                                   "-g", "pid " + dir.path() + "/nginx.pid;"});
        v.nginx = n.err.substr(std::min(n.err.size(), n.err.find("[emerg] ")));
        v.nginx = v.nginx.substr(0, v.nginx.find('\n'));
        // Debian's nginx logs to stderr in its error log format: "[emerg] pid#tid: ...".
        v.nginx = std::regex_replace(v.nginx, std::regex(R"(^\[emerg\] \d+#\d+: )"), "[emerg] ");
    }
    return v;
}

TEST(ErrorLogConfigTest, RefusalsWordedAsNginx) {
    const char* same[] = {
        "error_log syslog:server=unix:/dev/log,facility=nope;\nevents { }\n",
        "error_log syslog:server=127.0.0.1,severity=loud;\nevents { }\n",
        "error_log syslog:facility=local1;\nevents { }\n",
        "error_log syslog:server=127.0.0.1,bogus=1;\nevents { }\n",
        "error_log syslog:server=127.0.0.1,tag=a-b;\nevents { }\n",
        "error_log syslog:server=127.0.0.1,tag=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;\nevents { }\n",
        "error_log syslog:server=127.0.0.1,server=127.0.0.2;\nevents { }\n",
        "error_log logs/e.log warn error;\nevents { }\n",
        "error_log logs/e.log loud;\nevents { }\n",
        "events { }\nhttp { server { location / { error_log logs/e.log lots; } } }\n",
    };
    for (const char* conf : same) {
        TwoVerdicts v = both_test(conf);
        EXPECT_NE(v.halo, "") << conf;
        // halo names itself where nginx does; the rest (message, file:line) is the same.
        if (!v.nginx.empty()) {
            EXPECT_EQ(v.halo, v.nginx) << conf;
        }
    }
}

TEST(ErrorLogConfigTest, HaloRefusals) {
    TwoVerdicts v = both_test("error_log memory:32m;\nevents { }\n");
    EXPECT_NE(v.halo.find("\"memory:\" error log is not supported by halo"), std::string::npos)
        << v.halo;
    EXPECT_NE(v.halo.find("t.conf:1"), std::string::npos) << v.halo;
    v = both_test("error_log logs/e.log debug_http;\nevents { }\n");
    EXPECT_NE(v.halo.find("\"debug_http\" log level is not supported by halo"), std::string::npos)
        << v.halo;
    // error_log is not allowed in an `if` (as in nginx).
    v = both_test("events { }\nhttp { server { location / { if ($uri) { error_log x; } } } }\n");
    EXPECT_NE(v.halo.find("\"error_log\" directive is not allowed here"), std::string::npos)
        << v.halo;
}

TEST(ErrorLogConfigTest, SyslogToDevLogPassesTheTest) {
    // Accepted as nginx accepts it, whether /dev/log exists or not: the socket is opened when
    // the first line is sent.
    TempDir dir("halo-errlog");
    write_file(dir / "t.conf",
               "error_log syslog:server=unix:/dev/log;\nevents { }\nhttp { server { "
               "error_log syslog:server=unix:/dev/log,tag=site notice; } }\n");
    RunResult r = run_command({halo_bin(), "-t", "-p", dir.path() + "/", "-c", dir / "t.conf"});
    EXPECT_EQ(r.status, 0) << r;
}

}  // namespace
}  // namespace halo_test
