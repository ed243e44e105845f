// Proxied response bodies through the real binary, as nginx buffers them: a client that
// takes the body as fast as the upstream sends it never costs a temporary file (64 KiB and
// 10 MiB, length-framed and chunked); a client that reads nothing makes halo spill past
// `proxy_buffers` and its memory stays bounded while the whole body waits on disk; with
// `proxy_buffering off` the body moves by splice(2) between plain sockets, at the client's
// pace, and the upstream connection is reused after it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <string>
#include <thread>

#include "support/backend.h"
#include "support/harness.h"
#include "support/sanitizer.h"

namespace halo_test {
namespace {

constexpr std::string_view kConf = R"(
daemon off;
worker_processes 1;
error_log logs/error.log debug;

events {
    worker_connections 1024;
}

http {
    access_log off;
    proxy_temp_path %%PREFIX%%/proxy_temp;

    upstream one {
        server %%B0%%;
        keepalive 4;
    }

    server {
        listen 127.0.0.1:%%PORT_0%%;
        proxy_http_version 1.1;
        proxy_set_header Connection "";

        location /buf/ {
            proxy_pass http://one;
        }
        location /small-buffers/ {
            proxy_pass http://one;
            proxy_buffers 4 4k;
        }
        location /unbuffered/ {
            proxy_pass http://one;
            proxy_buffering off;
        }
    }
}
)";

char body_byte(uint64_t i) {
    return static_cast<char>('A' + (i * 13 + i / 1000) % 26);
}

/// The backend's answer to /<location>/<size>[/chunked]: `size` pattern bytes.
void send_body(BackendConn& c, const BackendRequest& r, std::atomic<int>* done) {
    std::string_view t = r.target;
    bool chunked = t.ends_with("/chunked");
    if (chunked) {
        t.remove_suffix(8);
    }
    uint64_t size = std::stoull(std::string(t.substr(t.rfind('/') + 1)));
    std::string head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n";
    head += chunked ? "Transfer-Encoding: chunked\r\n\r\n"
                    : "Content-Length: " + std::to_string(size) + "\r\n\r\n";
    if (!c.send(head)) {
        return;
    }
    std::string piece;
    for (uint64_t off = 0; off < size;) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(size - off, 48 * 1024 + 7));
        piece.clear();
        if (chunked) {
            char hex[32];
            snprintf(hex, sizeof(hex), "%zx\r\n", n);
            piece += hex;
        }
        for (size_t i = 0; i < n; i++) {
            piece += body_byte(off + i);
        }
        if (chunked) {
            piece += "\r\n";
        }
        if (!c.send(piece)) {
            return;
        }
        off += n;
    }
    if (chunked && !c.send("0\r\n\r\n")) {
        return;
    }
    if (done != nullptr) {
        done->fetch_add(1);
    }
}

/// A client socket whose kernel receive buffer holds `bytes` (set before connecting, so that
/// the window matches): with a large one the client takes everything at once, with a tiny
/// one it takes almost nothing until it reads.
int connect_with_rcvbuf(uint16_t port, int bytes) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    // SO_RCVBUFFORCE passes net.core.rmem_max (root only); SO_RCVBUF otherwise.
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) != 0) {
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

/// Reads one response of `size` body bytes from `fd` (the body checked against the pattern
/// without keeping it): the body bytes that matched, or -1 on a wrong byte or a short body.
/// `unframed`: no Content-Length, the body ends with the connection.
int64_t read_checked(int fd, uint64_t size, bool unframed = false) {
    std::string head;
    uint64_t got = 0;
    std::string buf(1 << 20, '\0');
    while (got < size) {
        struct pollfd p = {fd, POLLIN, 0};
        if (::poll(&p, 1, 10000) != 1) {
            return -1;
        }
        ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n <= 0) {
            return -1;
        }
        size_t start = 0;
        if (head.find("\r\n\r\n") == std::string::npos) {
            head.append(buf.data(), static_cast<size_t>(n));
            size_t end = head.find("\r\n\r\n");
            if (end == std::string::npos) {
                continue;
            }
            start = static_cast<size_t>(n) - (head.size() - end - 4);
            if (!unframed &&
                head.find("Content-Length: " + std::to_string(size)) == std::string::npos) {
                return -1;
            }
        }
        for (size_t i = start; i < static_cast<size_t>(n); i++) {
            if (buf[i] != body_byte(got + (i - start))) {
                return -1;
            }
        }
        got += static_cast<size_t>(n) - start;
    }
    if (unframed) {
        // Unframed: the end of the body is the close (halo has then seen the upstream's).
        struct pollfd p = {fd, POLLIN, 0};
        if (::poll(&p, 1, 10000) != 1 || ::recv(fd, buf.data(), buf.size(), 0) != 0) {
            return -1;
        }
    }
    return static_cast<int64_t>(got);
}

class ProxyBodyTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_proxy") || !halo_has_module("http_upstream")) {
            GTEST_SKIP() << "the proxy or upstream module is not compiled in";
        }
        backend_ = std::make_unique<Backend>(
            "b0", [this](BackendConn& c, const BackendRequest& r) { send_body(c, r, &sent_); });
        std::string conf(kConf);
        conf.replace(conf.find("%%B0%%"), 6, backend_->address());
        halo_.write_conf(conf);
        ASSERT_TRUE(std::filesystem::create_directories(halo_.path("proxy_temp")));
        ASSERT_TRUE(halo_.start());
        auto workers = halo_.wait_workers(1);
        ASSERT_EQ(workers.size(), 1u);
        worker_ = workers[0];
    }

    /// Files in proxy_temp the worker has open (O_TMPFILE ones have no name but show the
    /// folder and an inode in /proc; a file queued for the client is a second descriptor).
    size_t temp_files_open() {
        std::set<std::string> files;
        std::string dir = halo_.path("proxy_temp");
        std::error_code ec;
        for (const auto& e :
             std::filesystem::directory_iterator("/proc/" + std::to_string(worker_) + "/fd", ec)) {
            std::string target = std::filesystem::read_symlink(e.path(), ec).string();
            if (!ec && target.starts_with(dir)) {
                files.insert(target);
            }
        }
        return files.size();
    }

    size_t spill_lines() {
        return log_lines_with(halo_.error_log(), "buffered to a temporary file").size();
    }

    std::atomic<int> sent_{0};
    std::unique_ptr<Backend> backend_;
    Halo halo_;
    pid_t worker_ = -1;
};

TEST_F(ProxyBodyTest, AFastClientNeverCostsATemporaryFile) {
    // The client's receive buffer takes a whole response: halo always finds the client's
    // socket ready, as with a client that reads as fast as the upstream sends.
    for (std::string path : {"/buf/65536", "/buf/10485760", "/buf/65536/chunked",
                             "/buf/10485760/chunked", "/unbuffered/10485760"}) {
        SCOPED_TRACE(path);
        uint64_t size = std::stoull(path.substr(path.find('/', 1) + 1));
        int fd = connect_with_rcvbuf(halo_.port(0), 32 << 20);
        ASSERT_GE(fd, 0);
        // A chunked upstream body reaches an HTTP/1.0 client unframed (ended by the close).
        bool chunked = path.ends_with("chunked");
        std::string req =
            "GET " + path + (chunked ? " HTTP/1.0" : " HTTP/1.1") + "\r\nHost: x\r\n\r\n";
        ASSERT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
        EXPECT_EQ(read_checked(fd, size, chunked), static_cast<int64_t>(size));
        ::close(fd);
    }
    EXPECT_EQ(spill_lines(), 0u) << halo_.error_log();
    EXPECT_EQ(temp_files_open(), 0u);
    EXPECT_EQ(backend_->connections(), 1) << "the upstream connection was not kept";
}

TEST_F(ProxyBodyTest, ASlowClientSpillsPastProxyBuffersWithBoundedMemory) {
    constexpr uint64_t kSize = 10 << 20;
    long rss_before = status_kb(worker_, "VmRSS");
    int fd = connect_with_rcvbuf(halo_.port(0), 4096);
    ASSERT_GE(fd, 0);
    std::string req =
        "GET /small-buffers/" + std::to_string(kSize) + " HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
    // The client reads nothing: halo takes the whole body from the upstream (the backend
    // finishes sending) and keeps it in a temporary file, not in memory.
    ASSERT_TRUE(wait_until([&] { return sent_.load() == 1; }, 20s)) << "the upstream was held";
    EXPECT_TRUE(wait_until([&] { return spill_lines() == 1; })) << halo_.error_log();
    EXPECT_EQ(temp_files_open(), 1u);
    long grew = status_kb(worker_, "VmRSS") - rss_before;
    EXPECT_LT(grew, (sanitized_run() ? 8 : 3) * 1024) << "KiB: the body was kept in memory";
    EXPECT_EQ(read_checked(fd, kSize), static_cast<int64_t>(kSize));
    ::close(fd);
    EXPECT_TRUE(wait_until([&] { return temp_files_open() == 0u; })) << "the temp file stays open";
}

TEST_F(ProxyBodyTest, UnbufferedBodiesMoveBySpliceAtTheClientsPace) {
    // More than the kernel's socket buffers between the backend and halo can hold.
    constexpr uint64_t kSize = 64 << 20;
    long rss_before = status_kb(worker_, "VmRSS");
    int fd = connect_with_rcvbuf(halo_.port(0), 4096);
    ASSERT_GE(fd, 0);
    std::string req = "GET /unbuffered/" + std::to_string(kSize) + " HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
    // Without buffering the upstream waits for the client: the backend cannot finish, no
    // temp file, no memory.
    ASSERT_TRUE(wait_until([&] {
        return !log_lines_with(halo_.error_log(), "the body moves by splice").empty();
    })) << halo_.error_log();
    std::this_thread::sleep_for(300ms);  // lets a wrong halo run ahead (no threshold on time)
    EXPECT_EQ(sent_.load(), 0);
    EXPECT_EQ(temp_files_open(), 0u);
    EXPECT_LT(status_kb(worker_, "VmRSS") - rss_before, (sanitized_run() ? 8 : 3) * 1024);
    EXPECT_EQ(read_checked(fd, kSize), static_cast<int64_t>(kSize));
    // The next request on the same client connection reuses the upstream connection.
    req = "GET /unbuffered/300000 HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
    EXPECT_EQ(read_checked(fd, 300000), 300000);
    ::close(fd);
    EXPECT_EQ(backend_->connections(), 1);
    EXPECT_EQ(spill_lines(), 0u);
    EXPECT_EQ(log_lines_with(halo_.error_log(), "the body moves by splice").size(), 2u);
}

TEST_F(ProxyBodyTest, AClientGoneMidSpliceEndsTheExchangeCleanly) {
    int fd = connect_with_rcvbuf(halo_.port(0), 4096);
    ASSERT_GE(fd, 0);
    std::string req = "GET /unbuffered/104857600 HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
    char buf[65536];
    ASSERT_GT(::recv(fd, buf, sizeof(buf), 0), 0);
    ::close(fd);
    // The worker lives on and serves the next request.
    std::string five;
    for (int i = 0; i < 5; i++) {
        five += body_byte(i);
    }
    EXPECT_EQ(get_body(halo_.port(0), "/buf/5"), five);
    EXPECT_TRUE(process_alive(worker_));
}

}  // namespace
}  // namespace halo_test
