// The connection directives through the real binary: tcp_nodelay and tcp_nopush as the kernel
// has them on the worker's side of a client connection (pidfd_getfd), sendfile_max_chunk (the
// worker's write calls), keepalive_time, keepalive_disable (compared with Debian's nginx when
// it is installed), reset_timedout_connection (the client sees a reset), and the hash sizing
// hints (accepted and checked as nginx checks them).
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "integration/sockopt_probe.h"
#include "support/harness.h"

namespace halo_test {
namespace {

constexpr std::string_view kConf = R"(
daemon off;
worker_processes 1;
error_log logs/error.log info;
events { worker_connections 64; }
http {
    access_log off;
    sendfile on;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        root %%PREFIX%%/html;
        location /nopush/ { tcp_nopush on; alias %%PREFIX%%/html/; }
        location /nagle/ { tcp_nodelay off; alias %%PREFIX%%/html/; }
        location /chunk16k/ { sendfile_max_chunk 16k; alias %%PREFIX%%/html/; }
        location /unlimited/ { sendfile_max_chunk 0; alias %%PREFIX%%/html/; }
        location /ka { return 200 "ka\n"; }
        location /none/ { keepalive_disable none; return 200 "none\n"; }
        location /safari/ { keepalive_disable safari; return 200 "safari\n"; }
        location /drop { reset_timedout_connection on; return 444; }
        location /drop-fin { return 444; }
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        keepalive_time 1s;
        location / { return 200 "short\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_2%%;
        client_header_timeout 1s;
        reset_timedout_connection on;
        return 200 "reset\n";
    }
    server {
        listen 127.0.0.1:%%PORT_3%%;
        client_header_timeout 1s;
        return 200 "fin\n";
    }
}
)";

class ConnTuningTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        if (!halo_has_module("http_static") || !halo_has_module("http_rewrite")) {
            return;
        }
        halo_ = new Halo();
        std::string big(8 * 1024 * 1024, 'x');
        for (size_t i = 0; i < big.size(); i += 4096) {
            big[i] = static_cast<char>('a' + (i / 4096) % 26);
        }
        ::mkdir(halo_->path("html").c_str(), 0755);
        write_file(halo_->path("html/big.bin"), big);
        ::chmod(halo_->path("html/big.bin").c_str(), 0644);
        std::string huge;
        huge.reserve(6 * big.size());
        for (int i = 0; i < 6; i++) {
            huge += big;
        }
        write_file(halo_->path("html/huge.bin"), huge);
        ::chmod(halo_->path("html/huge.bin").c_str(), 0644);
        halo_->write_conf(kConf);
        started_ = halo_->start();
        if (started_) {
            auto w = halo_->wait_workers(1);
            worker_ = w.empty() ? -1 : w[0];
        }
    }
    static void TearDownTestSuite() {
        delete halo_;
        halo_ = nullptr;
    }
    void SetUp() override {
        if (!halo_has_module("http_static") || !halo_has_module("http_rewrite")) {
            GTEST_SKIP() << "the http_static or http_rewrite module is not compiled in";
        }
        ASSERT_TRUE(started_);
        ASSERT_GT(worker_, 0);
    }

    /// A keep-alive request on `c`, its response.
    static std::optional<HttpResponse> ask(HttpConnection& c, std::string_view path,
                                           std::string_view extra = {},
                                           std::string_view method = "GET") {
        std::string req = std::string(method) + " " + std::string(path) +
                          " HTTP/1.1\r\nHost: x\r\n" + std::string(extra);
        if (method == "POST") {
            req += "Content-Length: 0\r\n";
        }
        req += "\r\n";
        if (!c.send(req)) {
            return std::nullopt;
        }
        return c.read_response(20s);
    }

    /// A worker's write-like system calls so far (syscw of /proc/<pid>/io).
    static long syscw(pid_t pid) {
        std::ifstream in("/proc/" + std::to_string(pid) + "/io");
        std::string key;
        long v = -1;
        while (in >> key >> v) {
            if (key == "syscw:") {
                return v;
            }
        }
        return -1;
    }

    static Halo* halo_;
    static bool started_;
    static pid_t worker_;
};
Halo* ConnTuningTest::halo_ = nullptr;
bool ConnTuningTest::started_ = false;
pid_t ConnTuningTest::worker_ = -1;

TEST_F(ConnTuningTest, TcpNodelayIsSetAsTheLocationSays) {
    if (!can_probe_sockets()) {
        GTEST_SKIP() << "reading a worker's sockets needs root (pidfd_getfd)";
    }
    for (std::string_view path : {"/ka", "/nagle/big.bin"}) {
        HttpConnection c;
        ASSERT_TRUE(c.connect(halo_->port(0)));
        auto r = ask(c, path);
        ASSERT_TRUE(r.has_value()) << c.error();
        ASSERT_EQ(r->status, 200);
        EXPECT_EQ(r->header("connection"), "keep-alive");
        int s = dup_connection_of(worker_, local_port(c.fd()));
        ASSERT_GE(s, 0);
        EXPECT_EQ(int_option(s, IPPROTO_TCP, TCP_NODELAY), path == "/ka" ? 1 : 0) << path;
        ::close(s);
    }
}

TEST_F(ConnTuningTest, TcpNopushCorksTheFileResponseUntilItIsDone) {
    if (!can_probe_sockets()) {
        GTEST_SKIP() << "reading a worker's sockets needs root (pidfd_getfd)";
    }
    for (bool nopush : {true, false}) {
        HttpConnection c;
        ASSERT_TRUE(c.connect(halo_->port(0)));
        // (Not a small receive buffer: a window under a segment keeps a corked socket waiting
        // 200 ms per window, in nginx as here.)
        std::string path = nopush ? "/nopush/huge.bin" : "/huge.bin";
        ASSERT_TRUE(c.send("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n"));
        // The client does not read: the 48 MiB file (more than the socket buffers hold) is
        // stuck in flight, its socket corked.
        int s = -1;
        ASSERT_TRUE(wait_until([&] {
            s = dup_connection_of(worker_, local_port(c.fd()));
            return s >= 0;
        }));
        EXPECT_TRUE(wait_until([&] {
            return int_option(s, SOL_SOCKET, SO_SNDBUF).has_value() &&
                   int_option(s, IPPROTO_TCP, TCP_CORK) == (nopush ? 1 : 0);
        })) << path;
        auto r = c.read_response(60s);
        ASSERT_TRUE(r.has_value()) << c.error();
        EXPECT_EQ(r->body.size(), 48u * 1024 * 1024);
        EXPECT_EQ(r->header("connection"), "keep-alive");
        // Done and kept alive: the cork is lifted (the last segment went out).
        EXPECT_TRUE(wait_until([&] { return int_option(s, IPPROTO_TCP, TCP_CORK) == 0; }));
        ::close(s);
    }
}

TEST_F(ConnTuningTest, SendfileMaxChunkBoundsEachCall) {
    // 8 MiB in calls of at most 16 KiB: at least 512 write calls of the worker. Without the
    // limit a reader as fast as this one takes the file in a few dozen.
    long before = syscw(worker_);
    if (before < 0) {
        GTEST_SKIP() << "/proc/<pid>/io is not readable here";
    }
    auto r = http_get(halo_->port(0), "/chunk16k/big.bin");
    ASSERT_TRUE(r.has_value());
    ASSERT_EQ(r->body.size(), 8u * 1024 * 1024);
    long chunked = syscw(worker_) - before;
    EXPECT_GE(chunked, 512);
    before = syscw(worker_);
    auto u = http_get(halo_->port(0), "/unlimited/big.bin");
    ASSERT_TRUE(u.has_value());
    EXPECT_EQ(u->body, r->body);
    long unlimited = syscw(worker_) - before;
    RecordProperty("write_calls_16k", static_cast<int>(chunked));
    RecordProperty("write_calls_unlimited", static_cast<int>(unlimited));
}

TEST_F(ConnTuningTest, KeepaliveTimeEndsTheConnectionAfterItsTime) {
    HttpConnection c;
    ASSERT_TRUE(c.connect(halo_->port(1)));
    auto first = ask(c, "/");
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(first->header("connection"), "keep-alive");
    std::this_thread::sleep_for(1200ms);  // past keepalive_time 1s (a lower bound, not a race)
    auto second = ask(c, "/");
    ASSERT_TRUE(second.has_value()) << c.error();
    EXPECT_EQ(second->body, "short\n");
    EXPECT_EQ(second->header("connection"), "close");
    EXPECT_TRUE(c.wait_closed());
}

/// The Connection header of a response to `method path` with User-Agent `ua` on port.
std::string connection_header(uint16_t port, std::string_view method, std::string_view path,
                              std::string_view ua) {
    HttpConnection c;
    if (!c.connect(port)) {
        return "<connect>";
    }
    std::string req = std::string(method) + " " + std::string(path) +
                      " HTTP/1.1\r\nHost: x\r\nUser-Agent: " + std::string(ua) + "\r\n";
    req += method == "POST" ? "Content-Length: 0\r\n\r\n" : "\r\n";
    if (!c.send(req)) {
        return "<send>";
    }
    auto r = c.read_response();
    return r ? r->header("connection") : "<no response>";
}

constexpr std::string_view kMsie6 = "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.0)";
constexpr std::string_view kMsie6Sv1 = "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)";
constexpr std::string_view kMsie5 = "Mozilla/4.0 (compatible; MSIE 5.5; Windows 98)";
constexpr std::string_view kOpera = "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1) Opera 8.5";
constexpr std::string_view kSafari =
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Safari/605.1.15";
constexpr std::string_view kChrome =
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36";

struct AgentCase {
    std::string_view method;
    std::string_view path;
    std::string_view ua;
};
constexpr AgentCase kAgentCases[] = {
    {"POST", "/ka", kMsie6},      {"GET", "/ka", kMsie6},       {"POST", "/ka", kMsie6Sv1},
    {"POST", "/ka", kMsie5},      {"POST", "/ka", kOpera},      {"POST", "/none/", kMsie6},
    {"GET", "/safari/", kSafari}, {"GET", "/safari/", kChrome}, {"GET", "/ka", kSafari},
    {"POST", "/safari/", kMsie6},
};

TEST_F(ConnTuningTest, KeepaliveDisableTellsBrowsersApartAsNginx) {
    std::vector<std::string> got;
    for (const AgentCase& a : kAgentCases) {
        got.push_back(connection_header(halo_->port(0), a.method, a.path, a.ua));
    }
    // What nginx answers (its documentation and source: MSIE 4-6 POSTs, Safari on Mac OS X).
    const std::vector<std::string> expected = {
        "close",      "keep-alive", "keep-alive", "close",      "keep-alive",
        "keep-alive", "close",      "keep-alive", "keep-alive", "keep-alive"};
    EXPECT_EQ(got, expected);

    // The same requests to Debian's nginx on the same locations, when it is installed.
    if (run_command({"nginx", "-v"}).status != 0) {
        return;
    }
    TempDir dir("nginx-ka");
    uint16_t port = free_port();
    std::string conf =
        "pid " + dir.path() + "/nginx.pid;\nerror_log " + dir.path() +
        "/logs/error.log;\ndaemon off;\nmaster_process off;\nevents {}\nhttp {\n"
        "access_log off;\nclient_body_temp_path " +
        dir.path() + "/tmp;\nserver {\nlisten 127.0.0.1:" + std::to_string(port) +
        ";\nlocation /ka { return 200 \"ka\\n\"; }\n"
        "location /none/ { keepalive_disable none; return 200 \"none\\n\"; }\n"
        "location /safari/ { keepalive_disable safari; return 200 \"safari\\n\"; }\n}\n}\n";
    ASSERT_TRUE(write_file(dir / "nginx.conf", conf));
    pid_t pid = fork();
    if (pid == 0) {
        execlp("nginx", "nginx", "-p", (dir.path() + "/").c_str(), "-c",
               (dir / "nginx.conf").c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    ASSERT_GT(pid, 0);
    bool up = wait_for_port(port);
    std::vector<std::string> nginx;
    for (const AgentCase& a : kAgentCases) {
        nginx.push_back(connection_header(port, a.method, a.path, a.ua));
    }
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
    ASSERT_TRUE(up);
    EXPECT_EQ(got, nginx);
}

/// Opens a connection to `port`, sends half a request head and waits for the server to end
/// it: true for a reset (ECONNRESET), false for an orderly close.
std::optional<bool> ended_by_reset(uint16_t port, std::string_view send) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        ::send(fd, send.data(), send.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(send.size())) {
        ::close(fd);
        return std::nullopt;
    }
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    char buf[4096];
    for (;;) {
        ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n > 0) {
            continue;  // a response (none expected) is read past
        }
        if (n == 0) {
            return false;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == ECONNRESET) {
            return true;
        }
        return std::nullopt;  // timed out
    }
}

TEST_F(ConnTuningTest, ResetTimedoutConnectionResetsInsteadOfClosing) {
    EXPECT_EQ(ended_by_reset(halo_->port(2), "GET / HTTP/1.1\r\nHost: x\r\n"), true);
    EXPECT_EQ(ended_by_reset(halo_->port(3), "GET / HTTP/1.1\r\nHost: x\r\n"), false);
    // return 444 is reset too when asked for, as in nginx.
    EXPECT_EQ(ended_by_reset(halo_->port(0), "GET /drop HTTP/1.1\r\nHost: x\r\n\r\n"), true);
    EXPECT_EQ(ended_by_reset(halo_->port(0), "GET /drop-fin HTTP/1.1\r\nHost: x\r\n\r\n"), false);
}

TEST(HashHintsTest, AcceptedAndCheckedAsNginxChecksThem) {
    Halo halo;
    auto check = [&](const std::string& http) {
        halo.write_conf("events {}\nhttp {\n" + http + "\n}\n");
        return halo.run({"-t"});
    };
    RunResult ok = check(
        "types_hash_max_size 2048; types_hash_bucket_size 128;\n"
        "server_names_hash_max_size 1024; server_names_hash_bucket_size 64;\n"
        "variables_hash_max_size 2048; variables_hash_bucket_size 128;\n"
        "proxy_headers_hash_max_size 1024; proxy_headers_hash_bucket_size 128;\n"
        "server { listen 127.0.0.1:8080; types_hash_max_size 512;\n"
        "  location / { types_hash_bucket_size 32; proxy_headers_hash_max_size 64; } }");
    EXPECT_EQ(ok.status, 0) << ok;
    struct Case {
        std::string http;
        std::string message;
    };
    const Case cases[] = {
        {"types_hash_max_size 1k;", "\"types_hash_max_size\" directive invalid number"},
        {"types_hash_max_size 0;",
         "could not build types_hash, you should increase types_hash_max_size: 0"},
        {"types_hash_bucket_size 70000;",
         "could not build types_hash, too large types_hash_bucket_size: 70016"},
        {"types_hash_max_size 10; types_hash_max_size 20;",
         "\"types_hash_max_size\" directive is duplicate"},
        {"variables_hash_max_size 0;",
         "could not build variables_hash, you should increase variables_hash_max_size: 0"},
        {"server { server_names_hash_bucket_size 64; }",
         "\"server_names_hash_bucket_size\" directive is not allowed here"},
        {"server_names_hash_bucket_size -1;",
         "\"server_names_hash_bucket_size\" directive invalid number"},
    };
    for (const Case& c : cases) {
        RunResult r = check(c.http);
        EXPECT_EQ(r.status, 1) << c.http;
        EXPECT_NE(r.err.find(c.message + " in " + halo.conf_path() + ":3"), std::string::npos)
            << c.http << "\n"
            << r;
    }
}

}  // namespace
}  // namespace halo_test
