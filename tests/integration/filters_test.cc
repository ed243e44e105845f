// Response filters and slow or vanishing clients through the real binary: gzip read back by
// `curl --compressed` (a text page, a 6 MiB file compressed while the client paces it), the
// chunked framing of a compressed response checked byte for byte, a client that stops
// reading (send_timeout closes it, with and without gzip), and clients that close in the
// middle of a large response (the worker lives on and serves the next request).
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "support/harness.h"

namespace halo_test {
namespace {

constexpr std::string_view kConf = R"(
daemon off;
worker_processes 1;
error_log logs/error.log info;

events {
    worker_connections 128;
}

http {
    log_format sizes '$request_uri $status $body_bytes_sent';
    access_log logs/access.log sizes;
    send_timeout 1s;

    server {
        listen 127.0.0.1:%%PORT_0%%;
        root %%PREFIX%%/html;
        sendfile on;
        gzip on;
        gzip_types text/plain application/octet-stream;
        gzip_vary on;

        location /plain/ {
            gzip off;
        }
    }
}
)";

/// Text that compresses well, different on every line.
std::string text_bytes(size_t n) {
    std::string s;
    while (s.size() < n) {
        s += "line " + std::to_string(s.size()) + ": a reasonably ordinary sentence of text\n";
    }
    s.resize(n);
    return s;
}

/// Bytes that do not compress (every value occurs).
std::string noise_bytes(size_t n) {
    std::string s(n, '\0');
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        s[i] = static_cast<char>(x);
    }
    return s;
}

class FiltersTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        if (!halo_has_module("http_gzip") || !halo_has_module("http_static")) {
            return;
        }
        halo_ = new Halo();
        text_ = new std::string(text_bytes(300 * 1024));
        noise_ = new std::string(noise_bytes(6 * 1024 * 1024));
        put("html/page.txt", *text_);
        put("html/noise.txt", *noise_);
        put("html/plain/big.bin", *noise_ + *noise_ + *noise_);
        halo_->write_conf(kConf);
        start_ok_ = halo_->start();
        if (start_ok_) {
            auto w = halo_->wait_workers(1);
            worker_ = w.empty() ? -1 : w[0];
        }
    }
    static void TearDownTestSuite() {
        delete halo_;
        halo_ = nullptr;
        delete text_;
        delete noise_;
    }
    static void put(const std::string& rel, const std::string& data) {
        std::string p = halo_->path(rel);
        ::mkdir(halo_->path("html").c_str(), 0755);
        ::mkdir(halo_->path("html/plain").c_str(), 0755);
        ASSERT_TRUE(write_file(p, data)) << p;
        ::chmod(p.c_str(), 0644);
    }
    void SetUp() override {
        if (!halo_has_module("http_gzip") || !halo_has_module("http_static")) {
            GTEST_SKIP() << "the http_gzip or http_static module is not compiled in";
        }
        ASSERT_TRUE(start_ok_) << "halo did not start";
        ASSERT_GT(worker_, 0);
    }
    void TearDown() override {
        if (halo_ != nullptr && worker_ > 0 && !IsSkipped()) {
            EXPECT_EQ(halo_->workers(), std::vector<pid_t>{worker_}) << halo_->error_log();
        }
    }
    std::string url(std::string_view path) const {
        return "http://127.0.0.1:" + std::to_string(halo_->port(0)) + std::string(path);
    }
    /// Connects with a small receive buffer, asks for `path` and reads nothing.
    static int stalled_client(std::string_view path, std::string_view extra = {}) {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        int small = 4096;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(halo_->port(0));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
            ::close(fd);
            return -1;
        }
        std::string req =
            "GET " + std::string(path) + " HTTP/1.1\r\nHost: x\r\n" + std::string(extra) + "\r\n";
        if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
            ::close(fd);
            return -1;
        }
        return fd;
    }

    static Halo* halo_;
    static std::string* text_;
    static std::string* noise_;
    static bool start_ok_;
    static pid_t worker_;
};

Halo* FiltersTest::halo_ = nullptr;
std::string* FiltersTest::text_ = nullptr;
std::string* FiltersTest::noise_ = nullptr;
bool FiltersTest::start_ok_ = false;
pid_t FiltersTest::worker_ = -1;

TEST_F(FiltersTest, CurlCompressedReadsGzippedText) {
    std::string out = halo_->path("page.out");
    RunResult r = run_command({"curl", "-sS", "--compressed", "-D", halo_->path("page.head"), "-o",
                               out, url("/page.txt")});
    ASSERT_EQ(r.status, 0) << r;
    EXPECT_EQ(read_file(out).value_or(""), *text_);
    std::string head = read_file(halo_->path("page.head")).value_or("");
    EXPECT_NE(head.find("Content-Encoding: gzip\r\n"), std::string::npos) << head;
    EXPECT_NE(head.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << head;
    EXPECT_NE(head.find("Vary: Accept-Encoding\r\n"), std::string::npos) << head;

    // Without --compressed curl does not ask: the same file, with its length.
    r = run_command({"curl", "-sS", "-D", "-", "-o", "/dev/null", url("/page.txt")});
    EXPECT_EQ(r.out.find("Content-Encoding"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("Content-Length: " + std::to_string(text_->size())), std::string::npos);
}

TEST_F(FiltersTest, CurlCompressedReadsALargeFileCompressedAtTheClientsPace) {
    std::string out = halo_->path("noise.out");
    // --limit-rate keeps the client slower than the compressor: halo must pause and resume.
    RunResult r = run_command(
        {"curl", "-sS", "--compressed", "--limit-rate", "4M", "-o", out, url("/noise.txt")}, 30s);
    ASSERT_EQ(r.status, 0) << r;
    EXPECT_TRUE(read_file(out).value_or("") == *noise_) << "the decompressed body differs";
}

TEST_F(FiltersTest, ChunkedFramingOfACompressedResponseIsExact) {
    HttpConnection c;
    ASSERT_TRUE(c.connect(halo_->port(0)));
    ASSERT_TRUE(
        c.send("GET /page.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n"
               "Connection: close\r\n\r\n"));
    ASSERT_TRUE(c.wait_closed(10s));
    const std::string& raw = c.unread();
    size_t end = raw.find("\r\n\r\n");
    ASSERT_NE(end, std::string::npos);
    std::string body;
    size_t pos = end + 4;
    for (;;) {
        size_t eol = raw.find("\r\n", pos);
        ASSERT_NE(eol, std::string::npos) << "truncated chunk size line";
        size_t n = std::stoul(raw.substr(pos, eol - pos), nullptr, 16);
        if (n == 0) {
            EXPECT_EQ(raw.substr(eol), "\r\n\r\n");  // no trailers, nothing after
            break;
        }
        ASSERT_EQ(raw.substr(eol + 2 + n, 2), "\r\n") << "chunk data not followed by CRLF";
        body += raw.substr(eol + 2, n);
        pos = eol + 2 + n + 2;
    }
    // gzip magic, deflate method; the decompressed content is checked with curl above.
    ASSERT_GE(body.size(), 18u);
    EXPECT_EQ(static_cast<unsigned char>(body[0]), 0x1f);
    EXPECT_EQ(static_cast<unsigned char>(body[1]), 0x8b);
    EXPECT_EQ(body[2], 8);
    EXPECT_LT(body.size(), text_->size() / 3);
}

TEST_F(FiltersTest, AClientThatStopsReadingIsClosedBySendTimeout) {
    for (std::string_view extra :
         {std::string_view(), std::string_view("Accept-Encoding: gzip\r\n")}) {
        size_t before = log_lines_with(halo_->error_log(), "send_timeout").size();
        std::string path = extra.empty() ? "/plain/big.bin" : "/noise.txt";
        int fd = stalled_client(path, extra);
        ASSERT_GE(fd, 0);
        // send_timeout is 1s: the worker gives up on the connection while we do not read.
        bool closed =
            wait_until([&] { return established_connections(worker_, halo_->port(0)) == 0; }, 8s);
        EXPECT_TRUE(closed) << "the stalled connection is still open (" << path << ")";
        EXPECT_TRUE(wait_until([&] {
            return log_lines_with(halo_->error_log(), "send_timeout").size() > before;
        })) << halo_->error_log();
        ::close(fd);
        // The request was logged with what was sent, less than the whole file.
        EXPECT_TRUE(wait_until([&] {
            return !log_lines_with(read_file(halo_->path("logs/access.log")).value_or(""),
                                   path + " 200 ")
                        .empty();
        }));
        EXPECT_EQ(get_body(halo_->port(0), "/page.txt"), *text_);
    }
}

TEST_F(FiltersTest, ClientsClosingMidResponseLeaveTheWorkerServing) {
    for (int i = 0; i < 6; i++) {
        bool gzip = i % 2 == 1;
        HttpConnection c;
        ASSERT_TRUE(c.connect(halo_->port(0)));
        ASSERT_TRUE(c.send(std::string("GET ") + (gzip ? "/noise.txt" : "/plain/big.bin") +
                           " HTTP/1.1\r\nHost: x\r\n" + (gzip ? "Accept-Encoding: gzip\r\n" : "") +
                           "\r\n"));
        // Read a little of the response, then vanish: a reset when i is even (SO_LINGER 0),
        // a plain close otherwise.
        struct pollfd p = {c.fd(), POLLIN, 0};
        ASSERT_EQ(::poll(&p, 1, 5000), 1);
        char buf[4096];
        ASSERT_GT(::recv(c.fd(), buf, sizeof(buf), 0), 0);
        if (i % 4 < 2) {
            struct linger lg = {1, 0};
            setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        }
        c.close();
    }
    EXPECT_TRUE(
        wait_until([&] { return established_connections(worker_, halo_->port(0)) == 0; }, 8s));
    EXPECT_EQ(get_body(halo_->port(0), "/page.txt"), *text_);
    EXPECT_EQ(halo_->workers(), std::vector<pid_t>{worker_}) << halo_->error_log();
}

}  // namespace
}  // namespace halo_test
