// limit_rate through the real binary: large downloads timed by the client and their rate
// checked within a generous band (±15% of the limit: timers run late on a loaded machine;
// the measured numbers are printed), static files and proxied responses, HTTP/1, TLS and
// HTTP/2 (each stream paced on its own), keepalive and pipelined responses, limit_rate_after
// (the first bytes fast), `set $limit_rate` and limit_rate with variables, X-Accel-Limit-Rate
// from an upstream (also behind X-Accel-Redirect; proxy_ignore_headers), proxy_limit_rate
// (only with buffering, as nginx), limit_rate 0 unpaced, $limit_rate in the access log, a
// client that goes away during a pause (the connection is closed and logged, the worker
// serves on), config errors, and the same downloads from Debian's nginx side by side.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/backend.h"
#include "support/h2_client.h"
#include "support/harness.h"
#include "support/nginx.h"
#include "support/test_cert.h"

namespace halo_test {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMiB = 1024 * 1024;

constexpr std::string_view kConf = R"(
daemon off;
worker_processes 1;
error_log logs/error.log info;

events {
    worker_connections 64;
}

http {
    log_format lr '$uri $status $body_bytes_sent $limit_rate';
    access_log logs/access.log lr;
    root %%PREFIX%%/html;

    map $arg_speed $rate {
        default 0;
        slow 512k;
    }

    upstream backend {
        server %%BACKEND%%;
    }

    server {
        listen 127.0.0.1:%%PORT_0%%;
        listen 127.0.0.1:%%PORT_1%% http2;
        listen 127.0.0.1:%%PORT_2%% ssl;
        ssl_certificate %%PREFIX%%/a.crt;
        ssl_certificate_key %%PREFIX%%/a.key;

        location /fast/ {
        }
        location /paced/ {
            limit_rate 1m;
        }
        location /zero/ {
            limit_rate 1m;
            location /zero/in/ {
                limit_rate 0;
            }
        }
        location /after/ {
            limit_rate_after 1m;
            limit_rate 512k;
        }
        location /set/ {
            set $limit_rate 512k;
        }
        location /bad/ {
            set $limit_rate fast;
        }
        location /if/ {
            if ($arg_slow) {
                set $limit_rate 512k;
            }
        }
        location /map/ {
            limit_rate $rate;
        }
        location /gone/ {
            limit_rate 16k;
        }
        location /gz/ {
            limit_rate 1m;
            gzip on;
            gzip_types application/octet-stream;
            default_type application/octet-stream;
        }
        location /proxy/ {
            limit_rate 1m;
            proxy_pass http://backend;
        }
        location /accel/ {
            proxy_pass http://backend;
        }
        location /sendfile/ {
            proxy_pass http://backend;
        }
        location /protected/ {
            internal;
            alias %%PREFIX%%/html/fast/;
        }
        location /accel-ignored/ {
            proxy_ignore_headers X-Accel-Limit-Rate;
            proxy_pass http://backend;
        }
        location /plr/ {
            proxy_limit_rate 512k;
            proxy_pass http://backend;
        }
        location /plr-unbuffered/ {
            proxy_limit_rate 512k;
            proxy_buffering off;
            proxy_pass http://backend;
        }
    }
}
)";

/// One download over HTTP/1.1 read as fast as the client can: when its bytes came.
struct Download {
    int status = 0;
    std::string head;
    size_t body = 0;
    double seconds = 0;       // from the request to the last byte
    double mark_seconds = 0;  // from the request until `mark` body bytes were in
    std::string error;

    double rate() const { return seconds > 0 ? static_cast<double>(body) / seconds : 0; }
};

double since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

/// GET `path` on a new connection (Connection: close), read to the end.
Download download(uint16_t port, const std::string& path, size_t mark = 0,
                  const std::string& extra = {}) {
    Download d;
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    auto t0 = Clock::now();
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
        d.error = "connect failed";
        ::close(fd);
        return d;
    }
    std::string req =
        "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" + extra + "\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
        d.error = "send failed";
        ::close(fd);
        return d;
    }
    std::string head;
    bool in_body = false;
    std::vector<char> buf(256 * 1024);
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 30000) <= 0) {
            d.error = "timed out";
            break;
        }
        ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n <= 0) {
            break;
        }
        size_t got = static_cast<size_t>(n);
        if (!in_body) {
            head.append(buf.data(), got);
            size_t end = head.find("\r\n\r\n");
            if (end == std::string::npos) {
                continue;
            }
            got = head.size() - end - 4;
            head.resize(end + 4);
            in_body = true;
        }
        d.body += got;
        if (mark > 0 && d.mark_seconds == 0 && d.body >= mark) {
            d.mark_seconds = since(t0);
        }
    }
    d.seconds = since(t0);
    ::close(fd);
    d.head = head;
    if (head.size() > 12) {
        d.status = std::atoi(head.c_str() + 9);
    }
    return d;
}

std::string show(const Download& d) {
    char line[160];
    snprintf(line, sizeof(line), "%zu bytes in %.3f s (%.1f KiB/s; mark at %.3f s)%s%s", d.body,
             d.seconds, d.rate() / 1024, d.mark_seconds, d.error.empty() ? "" : ": ",
             d.error.c_str());
    return line;
}

/// The band a paced download's rate must fall in: ±15% of `limit` (see the top).
::testing::AssertionResult within_band(double measured, double limit) {
    if (measured >= limit * 0.85 && measured <= limit * 1.15) {
        return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure()
           << "rate " << measured / 1024 << " KiB/s is not within 15% of " << limit / 1024
           << " KiB/s";
}

class LimitRateTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_proxy") || !halo_has_module("http_rewrite") ||
            !halo_has_module("http_map") || !halo_has_module("http_v2") ||
            !halo_has_module("http_ssl")) {
            GTEST_SKIP() << "http_proxy, http_rewrite, http_map, http_v2 or http_ssl is not "
                            "compiled in";
        }
        // /big (2 MiB) and /mid (1 MiB); X-Accel-Limit-Rate on the /accel ones.
        backend_ = std::make_unique<Backend>("b", [this](BackendConn& c, const BackendRequest& r) {
            size_t size = r.target.find("/big") != std::string::npos ? 2 * kMiB : kMiB;
            std::string extra;
            if (r.target.rfind("/accel", 0) == 0) {
                extra = "X-Accel-Limit-Rate: 524288\r\n";
            }
            if (r.target.rfind("/sendfile/", 0) == 0) {
                // The application names a file and its pace; halo serves it (X-Sendfile style).
                c.send(
                    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Accel-Redirect: "
                    "/protected/1m.bin\r\nX-Accel-Limit-Rate: 524288\r\n\r\n");
                return;
            }
            std::string head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(size) +
                               "\r\n" + extra + "\r\n";
            c.send(head);
            c.send(std::string_view(file_).substr(0, size));
        });
        file_ = pattern_bytes(2 * kMiB);
        std::string conf(kConf);
        size_t at = conf.find("%%BACKEND%%");
        conf.replace(at, 11, backend_->address());
        halo_.write_conf(conf);
        for (const char* dir : {"fast", "paced", "zero", "zero/in", "after", "set", "bad", "if",
                                "map", "gone", "gz"}) {
            std::string d = halo_.path(std::string("html/") + dir);
            ASSERT_EQ(run_command({"mkdir", "-p", d}).status, 0);
            ASSERT_TRUE(write_file(d + "/2m.bin", file_));
            ASSERT_TRUE(write_file(d + "/1m.bin", std::string_view(file_).substr(0, kMiB)));
        }
        ASSERT_TRUE(
            make_certificate("a.test", halo_.prefix() + "/a.crt", halo_.prefix() + "/a.key"));
        ASSERT_TRUE(halo_.start()) << halo_.error_log();
    }

    Download get(const std::string& path, size_t mark = 0) {
        Download d = download(halo_.port(0), path, mark);
        std::printf("[ limit_rate ] %-28s %s\n", path.c_str(), show(d).c_str());
        return d;
    }

    /// The access log's line for `uri` (the last one), once written.
    std::string access_line(const std::string& uri) {
        std::string found;
        wait_until([&] {
            auto log = read_file(halo_.path("logs/access.log"));
            if (!log) {
                return false;
            }
            auto lines = log_lines_with(*log, uri + " ");
            if (lines.empty()) {
                return false;
            }
            found = lines.back();
            return true;
        });
        return found;
    }

    std::string file_;
    std::unique_ptr<Backend> backend_;
    Halo halo_;
};

TEST_F(LimitRateTest, StaticFileIsPacedAtTheRate) {
    Download d = get("/paced/2m.bin");
    ASSERT_EQ(d.status, 200) << show(d);
    EXPECT_EQ(d.body, 2 * kMiB);
    EXPECT_TRUE(within_band(d.rate(), kMiB)) << show(d);
    // $limit_rate in the log phase: the rate the response had.
    EXPECT_EQ(access_line("/paced/2m.bin"), "/paced/2m.bin 200 2097152 1048576");
}

TEST_F(LimitRateTest, CompressedFileIsPaced) {
    // gzip holds the file and compresses it as the pacer takes the output (its own
    // filter_on_drained, called by the pacer when it wants more).
    Download d = download(halo_.port(0), "/gz/2m.bin", 0, "Accept-Encoding: gzip\r\n");
    std::printf("[ limit_rate ] %-28s %s\n", "/gz/2m.bin (gzip)", show(d).c_str());
    ASSERT_EQ(d.status, 200) << show(d);
    EXPECT_NE(d.head.find("Content-Encoding: gzip"), std::string::npos) << d.head;
    EXPECT_GT(d.body, 2 * kMiB);  // random bytes do not shrink; chunked framing adds a little
    EXPECT_TRUE(within_band(d.rate(), kMiB)) << show(d);
}

TEST_F(LimitRateTest, ZeroAndNoLimitAreNotPaced) {
    // 2 MiB at 1m would take about two seconds; unpaced, loopback takes milliseconds.
    Download plain = get("/fast/2m.bin");
    EXPECT_EQ(plain.body, 2 * kMiB);
    EXPECT_LT(plain.seconds, 1.0) << show(plain);
    Download zero = get("/zero/in/2m.bin");  // `limit_rate 0` under a paced location
    EXPECT_EQ(zero.body, 2 * kMiB);
    EXPECT_LT(zero.seconds, 1.0) << show(zero);
    EXPECT_EQ(access_line("/zero/in/2m.bin"), "/zero/in/2m.bin 200 2097152 0");
    Download outer = get("/zero/1m.bin");  // the enclosing location still is
    EXPECT_TRUE(within_band(outer.rate(), kMiB)) << show(outer);
}

TEST_F(LimitRateTest, LimitRateAfterSendsTheFirstBytesAtOnce) {
    Download d = get("/after/2m.bin", kMiB);
    ASSERT_EQ(d.body, 2 * kMiB) << show(d);
    // The first MiB unpaced, the second at 512k (about two seconds).
    EXPECT_LT(d.mark_seconds, 0.5) << show(d);
    double paced = static_cast<double>(kMiB) / (d.seconds - d.mark_seconds);
    EXPECT_TRUE(within_band(paced, 512 * 1024)) << show(d);
}

TEST_F(LimitRateTest, SetLimitRateVariable) {
    Download d = get("/set/1m.bin");
    ASSERT_EQ(d.body, kMiB) << show(d);
    EXPECT_TRUE(within_band(d.rate(), 512 * 1024)) << show(d);
    EXPECT_EQ(access_line("/set/1m.bin"), "/set/1m.bin 200 1048576 524288");
    // In an `if` of the location: only when the condition holds.
    Download fast = get("/if/1m.bin");
    EXPECT_LT(fast.seconds, 1.0) << show(fast);
    Download slow = get("/if/1m.bin?slow=1");
    EXPECT_TRUE(within_band(slow.rate(), 512 * 1024)) << show(slow);
    // Not a size: nginx's error line, and the response is not paced.
    Download bad = get("/bad/1m.bin");
    EXPECT_EQ(bad.body, kMiB);
    EXPECT_LT(bad.seconds, 1.0) << show(bad);
    EXPECT_NE(halo_.error_log().find("invalid $limit_rate \"fast\""), std::string::npos)
        << halo_.error_log();
}

TEST_F(LimitRateTest, LimitRateWithVariables) {
    Download slow = get("/map/1m.bin?speed=slow");
    EXPECT_TRUE(within_band(slow.rate(), 512 * 1024)) << show(slow);
    Download fast = get("/map/1m.bin");  // the map gives 0
    EXPECT_LT(fast.seconds, 1.0) << show(fast);
}

TEST_F(LimitRateTest, ProxiedResponseIsPaced) {
    Download d = get("/proxy/big");
    ASSERT_EQ(d.status, 200) << show(d);
    EXPECT_EQ(d.body, 2 * kMiB);
    EXPECT_TRUE(within_band(d.rate(), kMiB)) << show(d);
}

TEST_F(LimitRateTest, XAccelLimitRateFromTheUpstream) {
    Download d = get("/accel/mid");
    ASSERT_EQ(d.status, 200) << show(d);
    EXPECT_EQ(d.body, kMiB);
    EXPECT_TRUE(within_band(d.rate(), 512 * 1024)) << show(d);
    EXPECT_EQ(d.head.find("X-Accel-Limit-Rate"), std::string::npos) << d.head;  // hidden
    EXPECT_EQ(access_line("/accel/mid"), "/accel/mid 200 1048576 524288");
    Download ignored = get("/accel-ignored/mid");
    EXPECT_EQ(ignored.body, kMiB);
    EXPECT_LT(ignored.seconds, 1.0) << show(ignored);
}

TEST_F(LimitRateTest, XAccelLimitRatePacesWhatXAccelRedirectServes) {
    Download d = get("/sendfile/x");
    ASSERT_EQ(d.status, 200) << show(d);
    EXPECT_EQ(d.body, kMiB);
    EXPECT_TRUE(within_band(d.rate(), 512 * 1024)) << show(d);
}

TEST_F(LimitRateTest, ProxyLimitRatePacesReadingTheUpstream) {
    Download d = get("/plr/mid");
    ASSERT_EQ(d.status, 200) << show(d);
    EXPECT_EQ(d.body, kMiB);
    EXPECT_TRUE(within_band(d.rate(), 512 * 1024)) << show(d);
    // As nginx: only with proxy_buffering on.
    Download unbuffered = get("/plr-unbuffered/mid");
    EXPECT_EQ(unbuffered.body, kMiB);
    EXPECT_LT(unbuffered.seconds, 1.0) << show(unbuffered);
}

TEST_F(LimitRateTest, Http2DownloadIsPaced) {
    RunResult r =
        run_command({"curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w",
                     "%{http_version} %{size_download} %{time_total}",
                     "http://127.0.0.1:" + std::to_string(halo_.port(1)) + "/paced/2m.bin"},
                    30s);
    std::printf("[ limit_rate ] h2 (curl) /paced/2m.bin: %s\n", r.out.c_str());
    ASSERT_EQ(r.status, 0) << r;
    std::istringstream in(r.out);
    std::string version;
    size_t size = 0;
    double seconds = 0;
    ASSERT_TRUE(in >> version >> size >> seconds) << r.out;
    EXPECT_EQ(version, "2");
    EXPECT_EQ(size, 2 * kMiB);
    EXPECT_TRUE(within_band(static_cast<double>(size) / seconds, kMiB)) << r.out;
}

TEST_F(LimitRateTest, Http2StreamsArePacedEachOnItsOwn) {
    // Two streams of one connection at once: each gets the rate (nginx: per request), so
    // both end after about one second, not two.
    h2::Client c;
    ASSERT_TRUE(c.connect(halo_.port(1))) << c.error();
    ASSERT_TRUE(c.handshake()) << c.error();
    auto t0 = Clock::now();
    uint32_t s1 = c.next_stream();
    uint32_t s3 = c.next_stream();
    ASSERT_TRUE(c.send_headers(s1, h2::Client::request_headers("/paced/1m.bin"), true));
    ASSERT_TRUE(c.send_headers(s3, h2::Client::request_headers("/paced/1m.bin"), true));
    double ended[2] = {0, 0};
    while ((ended[0] == 0 || ended[1] == 0) && since(t0) < 20) {
        if (!c.read_frame(10s)) {
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (ended[i] == 0 && c.stream(i == 0 ? s1 : s3).ended) {
                ended[i] = since(t0);
            }
        }
    }
    std::printf("[ limit_rate ] h2 two streams of 1 MiB at 1m: %.3f s and %.3f s\n", ended[0],
                ended[1]);
    for (int i = 0; i < 2; i++) {
        const h2::StreamState& st = c.stream(i == 0 ? s1 : s3);
        EXPECT_EQ(st.body.size(), kMiB) << i;
        EXPECT_EQ(st.body, std::string_view(file_).substr(0, kMiB)) << i;
        ASSERT_GT(ended[i], 0) << i;
        EXPECT_TRUE(within_band(static_cast<double>(kMiB) / ended[i], kMiB)) << i;
    }
}

TEST_F(LimitRateTest, Http2StreamResetDuringAPauseIsCleanedUp) {
    h2::Client c;
    ASSERT_TRUE(c.connect(halo_.port(1))) << c.error();
    ASSERT_TRUE(c.handshake()) << c.error();
    uint32_t id = c.next_stream();
    ASSERT_TRUE(c.send_headers(id, h2::Client::request_headers("/gone/2m.bin"), true));
    ASSERT_TRUE(c.wait_frame(0x0 /* DATA */, 5s, id)) << c.error();
    ASSERT_TRUE(c.send_rst(id, 0x8 /* CANCEL */));
    // The stream ends where it stood, logged; the connection serves on.
    std::string line = access_line("/gone/2m.bin");
    ASSERT_FALSE(line.empty()) << halo_.error_log();
    unsigned long sent = 0;
    ASSERT_EQ(std::sscanf(line.c_str(), "/gone/2m.bin %*d %lu 16384", &sent), 1) << line;
    EXPECT_LT(sent, 256 * 1024u) << line;
    h2::Response next = c.request(h2::Client::request_headers("/fast/1m.bin"), {}, 10s);
    EXPECT_EQ(next.status, 200) << next.error;
    EXPECT_EQ(next.body.size(), kMiB);
}

TEST_F(LimitRateTest, TlsDownloadIsPaced) {
    RunResult r =
        run_command({"curl", "-sS", "-k", "--http1.1", "-o", "/dev/null", "-w",
                     "%{size_download} %{time_total}",
                     "https://127.0.0.1:" + std::to_string(halo_.port(2)) + "/paced/2m.bin"},
                    30s);
    std::printf("[ limit_rate ] https (curl) /paced/2m.bin: %s\n", r.out.c_str());
    ASSERT_EQ(r.status, 0) << r;
    std::istringstream in(r.out);
    size_t size = 0;
    double seconds = 0;
    ASSERT_TRUE(in >> size >> seconds) << r.out;
    EXPECT_EQ(size, 2 * kMiB);
    EXPECT_TRUE(within_band(static_cast<double>(size) / seconds, kMiB)) << r.out;
}

TEST_F(LimitRateTest, KeepaliveConnectionPacesEachResponse) {
    // Two paced responses on one connection, the second pipelined behind the first: each is
    // paced from its own start, whole, and the connection serves an unpaced one after them.
    HttpConnection c;
    ASSERT_TRUE(c.connect(halo_.port(0)));
    std::string req = get_request("/paced/1m.bin", "localhost", true);
    auto t0 = Clock::now();
    ASSERT_TRUE(c.send(req + req));
    for (int i = 0; i < 2; i++) {
        auto resp = c.read_response(10s);
        ASSERT_TRUE(resp) << c.error();
        EXPECT_EQ(resp->status, 200);
        EXPECT_EQ(resp->body, std::string_view(file_).substr(0, kMiB));
    }
    double both = since(t0);
    std::printf("[ limit_rate ] two 1 MiB responses at 1m on one connection: %.3f s\n", both);
    EXPECT_TRUE(within_band(2.0 * kMiB / both, kMiB)) << both;
    ASSERT_TRUE(c.send(get_request("/fast/1m.bin", "localhost", true)));
    auto fast = c.read_response(10s);
    ASSERT_TRUE(fast) << c.error();
    EXPECT_EQ(fast->body.size(), kMiB);
}

TEST_F(LimitRateTest, ClientGoneDuringAPauseIsCleanedUp) {
    // 16k a second: the 2 MiB response would take two minutes. Read a little, then leave.
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(halo_.port(0));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    std::string req = "GET /gone/2m.bin HTTP/1.1\r\nHost: localhost\r\n\r\n";
    ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
    char buf[4096];
    pollfd p{fd, POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 5000), 1);
    ASSERT_GT(::recv(fd, buf, sizeof(buf), 0), 0);
    std::vector<pid_t> workers = halo_.wait_workers(1);
    ASSERT_EQ(workers.size(), 1u);
    EXPECT_EQ(established_connections(workers[0], halo_.port(0)), 1);
    ::close(fd);
    // The next pass finds the client gone: the connection closes, the request is logged with
    // what it sent (a few KiB, not 2 MiB).
    std::string line = access_line("/gone/2m.bin");
    ASSERT_FALSE(line.empty()) << halo_.error_log();
    unsigned long sent = 0;
    ASSERT_EQ(std::sscanf(line.c_str(), "/gone/2m.bin 200 %lu 16384", &sent), 1) << line;
    EXPECT_LT(sent, 256 * 1024u) << line;
    EXPECT_TRUE(
        wait_until([&] { return established_connections(workers[0], halo_.port(0)) == 0; }));
    // The worker serves on.
    Download d = get("/fast/1m.bin");
    EXPECT_EQ(d.body, kMiB) << show(d);
}

}  // namespace
}  // namespace halo_test

namespace halo_test {
namespace {

/// `halo -t` on an http block holding `lines` in a location: the result.
RunResult check_location(Halo& h, const std::string& lines) {
    h.write_conf("events {}\nhttp {\n    server {\n        location / {\n            " + lines +
                     "\n            proxy_pass http://127.0.0.1:9;\n        }\n    }\n}\n",
                 "check.conf");
    return h.run_raw({"-t", "-p", h.prefix() + "/", "-c", h.path("check.conf")});
}

TEST(LimitRateConfigTest, ProxyLimitRateValues) {
    if (!halo_has_module("http_proxy")) {
        GTEST_SKIP() << "http_proxy is not compiled in";
    }
    Halo h;
    RunResult ok = check_location(h, "proxy_limit_rate 1m;");
    EXPECT_EQ(ok.status, 0) << ok;
    ok = check_location(h, "proxy_limit_rate $arg_rate; limit_rate $arg_r; limit_rate_after 0;");
    EXPECT_EQ(ok.status, 0) << ok;
    struct Refused {
        std::string line;
        std::string message;
    };
    const Refused refused[] = {
        {"proxy_limit_rate fast;", "invalid value \"fast\" in \"proxy_limit_rate\" directive"},
        {"proxy_limit_rate 1k; proxy_limit_rate 2k;",
         "\"proxy_limit_rate\" directive is duplicate"},
        {"proxy_limit_rate 1k 2k;", "invalid number of arguments in \"proxy_limit_rate\""},
    };
    for (const Refused& r : refused) {
        RunResult res = check_location(h, r.line);
        EXPECT_NE(res.status, 0) << r.line;
        EXPECT_NE(res.err.find(r.message), std::string::npos) << r.line << "\n" << res.err;
        EXPECT_NE(res.err.find(h.path("check.conf") + ":5"), std::string::npos) << res.err;
    }
}

}  // namespace
}  // namespace halo_test

namespace halo_test {
namespace {

constexpr std::string_view kSideBySide = R"(
http {
    server {
        listen 127.0.0.1:%%PORT%%;
        root %%ROOT%%;
        location /paced/ {
            limit_rate 1m;
        }
        location /after/ {
            limit_rate_after 1m;
            limit_rate 512k;
        }
        location /set/ {
            set $limit_rate 1m;
        }
    }
}
)";

std::string with(std::string text, std::string_view key, const std::string& value) {
    for (size_t at; (at = text.find(key)) != std::string::npos;) {
        text.replace(at, key.size(), value);
    }
    return text;
}

// Debian's nginx and halo on the same configuration and files: the same downloads take the
// same time (each within the band; the numbers are printed side by side). Both run at once.
TEST(LimitRateNginxTest, SameDownloadsAsNginx) {
    if (!halo_has_module("http_rewrite")) {
        GTEST_SKIP() << "http_rewrite is not compiled in";
    }
    if (!nginx_installed()) {
        GTEST_SKIP() << "Debian's nginx (/usr/sbin/nginx) is not installed";
    }
    Halo halo;
    Nginx nginx;
    std::string root = halo.path("html");
    std::string file = pattern_bytes(2 * kMiB);
    for (const char* dir : {"paced", "after", "set"}) {
        ASSERT_EQ(run_command({"mkdir", "-p", root + "/" + dir}).status, 0);
        ASSERT_TRUE(write_file(root + "/" + dir + "/2m.bin", file));
    }
    std::string http = with(std::string(kSideBySide), "%%ROOT%%", root);
    uint16_t halo_port = halo.port(0);
    uint16_t nginx_port = free_port();
    halo.write_conf("daemon off;\nerror_log logs/error.log;\nevents {}\n" +
                    with(http, "%%PORT%%", std::to_string(halo_port)));
    ASSERT_TRUE(halo.start()) << halo.error_log();
    ASSERT_TRUE(nginx.start("error_log logs/error.log;\nevents {}\n" +
                                with(http, "%%PORT%%", std::to_string(nginx_port)),
                            nginx_port));
    struct Case {
        std::string path;
        double rate;
        size_t after;
    };
    const Case cases[] = {
        {"/paced/2m.bin", kMiB, 0}, {"/after/2m.bin", 512 * 1024, kMiB}, {"/set/2m.bin", kMiB, 0}};
    for (const Case& c : cases) {
        Download n;
        std::thread other([&] { n = download(nginx_port, c.path, c.after); });  // side by side
        Download h = download(halo_port, c.path, c.after);
        other.join();
        std::printf("[ limit_rate ] %-14s halo %.3f s, nginx %.3f s\n", c.path.c_str(), h.seconds,
                    n.seconds);
        EXPECT_EQ(h.body, 2 * kMiB) << show(h);
        EXPECT_EQ(n.body, 2 * kMiB) << show(n);
        double paced = static_cast<double>(2 * kMiB - c.after);
        EXPECT_TRUE(within_band(paced / (h.seconds - h.mark_seconds), c.rate)) << show(h);
        EXPECT_TRUE(within_band(paced / (n.seconds - n.mark_seconds), c.rate)) << show(n);
    }
}

}  // namespace
}  // namespace halo_test
