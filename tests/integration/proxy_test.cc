// The reverse proxy through the real binary, with test backends on loopback
// (tests/support/backend.h): smooth weighted distribution, what the backend receives
// (method, URI replacement, headers, sized and chunked bodies), what the client receives
// (headers, chunked bodies), a backend killed mid-test, one that hangs (504 and
// next_upstream), backup takeover, a 120 MiB response streamed with bounded memory,
// keepalive reuse, WebSocket echo, invalid responses (502) and the upstream variables.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include "support/backend.h"
#include "support/harness.h"

namespace halo_test {
namespace {

constexpr std::string_view kConf = R"(
daemon off;
worker_processes 1;
error_log logs/error.log info;

events {
    worker_connections 1024;
}

http {
    log_format up '$request_uri $status [$upstream_addr] [$upstream_status]';
    access_log logs/access.log up;

    upstream three {
        server %%B0%% weight=5;
        server %%B1%%;
        server %%B2%%;
    }
    upstream ka {
        server %%B3%%;
        keepalive 4;
    }
    upstream withbackup {
        server %%B4%% max_fails=1 fail_timeout=30s;
        server %%B5%% backup;
    }
    upstream slow {
        server %%B6%%;
        server %%B7%%;
    }
    upstream gone {
        server 127.0.0.1:1;
    }

    server {
        listen 127.0.0.1:%%PORT_0%%;

        location /three/ {
            proxy_pass http://three;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Real-IP $remote_addr;
        }
        location /ka/ {
            proxy_pass http://ka;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location /uri/ {
            proxy_pass http://%%B3%%/base/;
        }
        location /backup/ {
            proxy_pass http://withbackup;
        }
        location /slow/ {
            proxy_pass http://slow;
            proxy_read_timeout 1s;
        }
        location /slow-only/ {
            proxy_pass http://%%B6%%;
            proxy_read_timeout 1s;
        }
        location /gone/ {
            proxy_pass http://gone;
        }
        location /ws/ {
            proxy_pass http://ka;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_read_timeout 5s;
        }
    }
}
)";

/// Bytes of the large response: a pattern the client can check without keeping it.
char big_byte(uint64_t i) {
    return static_cast<char>('a' + (i * 7 + i / 4096) % 26);
}

/// /proc/<pid>/status field in kB.
long status_kb(pid_t pid, const std::string& field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(field + ":", 0) == 0) {
            return std::stol(line.substr(field.size() + 1));
        }
    }
    return -1;
}

class ProxyTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        if (!halo_has_module("http_proxy") || !halo_has_module("http_upstream")) {
            return;
        }
        for (int i = 0; i < 8; i++) {
            backends_[i] = new Backend("b" + std::to_string(i));
        }
        halo_ = new Halo();
        std::string conf(kConf);
        for (int i = 0; i < 8; i++) {
            std::string key = "%%B" + std::to_string(i) + "%%";
            for (size_t at; (at = conf.find(key)) != std::string::npos;) {
                conf.replace(at, key.size(), backends_[i]->address());
            }
        }
        halo_->write_conf(conf);
        start_ok_ = halo_->start();
        if (start_ok_) {
            auto w = halo_->wait_workers(1);
            worker_ = w.empty() ? -1 : w[0];
        }
    }
    static void TearDownTestSuite() {
        delete halo_;
        halo_ = nullptr;
        for (auto*& b : backends_) {
            delete b;
            b = nullptr;
        }
    }
    void SetUp() override {
        if (!halo_has_module("http_proxy") || !halo_has_module("http_upstream")) {
            GTEST_SKIP() << "the proxy or upstream module is not compiled in";
        }
        ASSERT_TRUE(start_ok_) << "halo did not start";
    }
    void TearDown() override {
        if (halo_ != nullptr && worker_ > 0 && !IsSkipped()) {
            EXPECT_EQ(halo_->workers(), std::vector<pid_t>{worker_}) << halo_->error_log();
        }
    }
    static HttpResponse get(std::string_view path, std::string_view extra = {}) {
        HttpConnection c;
        if (!c.connect(halo_->port(0))) {
            return {};
        }
        c.send("GET " + std::string(path) + " HTTP/1.1\r\nHost: front\r\n" + std::string(extra) +
               "Connection: close\r\n\r\n");
        auto r = c.read_response(10s);
        return r ? *r : HttpResponse{};
    }
    static std::string access_log() {
        return read_file(halo_->path("logs/access.log")).value_or("");
    }

    static Halo* halo_;
    static Backend* backends_[8];
    static bool start_ok_;
    static pid_t worker_;
};

Halo* ProxyTest::halo_ = nullptr;
Backend* ProxyTest::backends_[8] = {};
bool ProxyTest::start_ok_ = false;
pid_t ProxyTest::worker_ = -1;

TEST_F(ProxyTest, SmoothWeightedRoundRobinOverThreeBackends) {
    std::string order;
    std::map<std::string, int> count;
    for (int i = 0; i < 70; i++) {
        HttpResponse r = get("/three/x");
        ASSERT_EQ(r.status, 200) << halo_->error_log();
        count[r.body]++;
        if (i < 7) {
            order += r.body.substr(0, 2) + " ";
        }
    }
    EXPECT_EQ(count["b0\n"], 50);
    EXPECT_EQ(count["b1\n"], 10);
    EXPECT_EQ(count["b2\n"], 10);
    // nginx's smooth sequence for 5,1,1: a a b a c a a.
    EXPECT_EQ(order, "b0 b0 b1 b0 b2 b0 b0 ");
}

TEST_F(ProxyTest, TheBackendSeesTheRequestAsNginxWouldSendIt) {
    size_t before = backends_[3]->seen().size();
    HttpResponse r = get("/uri/some%20path/x?q=1&r=2", "X-Custom: yes\r\nKeep-Alive: 300\r\n");
    ASSERT_EQ(r.status, 200);
    auto seen = backends_[3]->seen();
    ASSERT_GT(seen.size(), before);
    BackendRequest q = seen.back();
    // The matched prefix /uri/ is replaced by the URI part /base/.
    EXPECT_EQ(q.target, "/base/some%20path/x?q=1&r=2");
    EXPECT_EQ(q.version, "HTTP/1.0");  // proxy_http_version 1.0 by default
    EXPECT_EQ(q.headers["host"], backends_[3]->address());
    EXPECT_EQ(q.headers["connection"], "close");
    EXPECT_EQ(q.headers["x-custom"], "yes");
    EXPECT_EQ(q.headers.count("keep-alive"), 0u);  // hop-by-hop

    before =
        backends_[0]->seen().size() + backends_[1]->seen().size() + backends_[2]->seen().size();
    r = get("/three/a?b", "X-Forwarded-For: 10.1.1.1\r\n");
    ASSERT_EQ(r.status, 200);
    BackendRequest last;
    for (int i = 0; i < 3; i++) {
        for (const auto& s : backends_[i]->seen()) {
            if (s.target == "/three/a?b") {
                last = s;
            }
        }
    }
    EXPECT_EQ(last.target, "/three/a?b");  // no URI part: the request URI as sent
    EXPECT_EQ(last.headers["host"], "three");
    EXPECT_EQ(last.headers["x-forwarded-for"], "10.1.1.1, 127.0.0.1");
    EXPECT_EQ(last.headers["x-real-ip"], "127.0.0.1");
}

TEST_F(ProxyTest, ResponseHeadersAndChunkedBodiesReachTheClient) {
    backends_[3]->set_handler([](BackendConn& c, const BackendRequest& r) {
        c.send(
            "HTTP/1.1 201 Created\r\nX-Backend: yes\r\nServer: origin\r\nKeep-Alive: timeout=5\r\n"
            "Transfer-Encoding: chunked\r\nContent-Type: text/x-test\r\n\r\n"
            "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n");
    });
    RunResult out =
        run_command({"curl", "-sS", "-D", "-",
                     "http://127.0.0.1:" + std::to_string(halo_->port(0)) + "/ka/chunks"});
    backends_[3]->set_handler({});
    ASSERT_EQ(out.status, 0) << out;
    EXPECT_NE(out.out.find("HTTP/1.1 201 Created\r\n"), std::string::npos) << out.out;
    EXPECT_NE(out.out.find("X-Backend: yes\r\n"), std::string::npos);
    EXPECT_NE(out.out.find("Content-Type: text/x-test\r\n"), std::string::npos);
    EXPECT_NE(out.out.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
    EXPECT_EQ(out.out.find("Server: origin"), std::string::npos);  // nginx hides it
    EXPECT_EQ(out.out.find("Keep-Alive: timeout"), std::string::npos);
    EXPECT_NE(out.out.find("\r\n\r\nhello, world"), std::string::npos) << out.out;
}

TEST_F(ProxyTest, RequestBodiesSizedAndChunked) {
    std::string body(1 << 20, 'x');
    for (size_t i = 0; i < body.size(); i += 997) {
        body[i] = static_cast<char>('a' + i % 26);
    }
    std::string file = halo_->path("body.bin");
    ASSERT_TRUE(write_file(file, body));
    std::string url = "http://127.0.0.1:" + std::to_string(halo_->port(0)) + "/ka/upload";
    for (bool chunked : {false, true}) {
        size_t before = backends_[3]->seen().size();
        std::vector<std::string> cmd = {"curl",          "-sS",      "-o",
                                        "/dev/null",     "-w",       "%{http_code}",
                                        "--data-binary", "@" + file, url};
        if (chunked) {
            cmd.insert(cmd.begin() + 1, {"-H", "Transfer-Encoding: chunked"});
        }
        RunResult r = run_command(cmd, 20s);
        ASSERT_EQ(r.status, 0) << r;
        EXPECT_EQ(r.out, "200");
        auto seen = backends_[3]->seen();
        ASSERT_GT(seen.size(), before);
        BackendRequest q = seen.back();
        EXPECT_EQ(q.method, "POST");
        EXPECT_FALSE(q.chunked);  // buffered first, then sent with its length (as nginx)
        EXPECT_EQ(q.headers["content-length"], std::to_string(body.size()));
        EXPECT_TRUE(q.body == body) << "body differs (" << q.body.size() << " bytes)";
    }
}

TEST_F(ProxyTest, KeepaliveConnectionsToTheBackendAreReused) {
    int before = backends_[3]->connections();
    HttpConnection c;
    ASSERT_TRUE(c.connect(halo_->port(0)));
    for (int i = 0; i < 20; i++) {
        ASSERT_TRUE(c.send("GET /ka/" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n"));
        auto r = c.read_response(5s);
        ASSERT_TRUE(r.has_value()) << c.error();
        EXPECT_EQ(r->body, "b3\n");
    }
    for (int i = 0; i < 10; i++) {
        EXPECT_EQ(get("/ka/new-client").body, "b3\n");
    }
    // One connection carried all 30 (keepalive 4, sequential requests).
    EXPECT_LE(backends_[3]->connections() - before, 1) << halo_->error_log();
}

TEST_F(ProxyTest, AKilledBackendCostsNoClientAnError) {
    int errors = 0;
    for (int i = 0; i < 40; i++) {
        if (i == 10) {
            backends_[1]->stop();
        }
        HttpResponse r = get("/three/k");
        if (r.status != 200) {
            errors++;
        }
        if (i >= 10) {
            EXPECT_NE(r.body, "b1\n") << i;  // stopped: the others answer
        }
    }
    EXPECT_EQ(errors, 0) << halo_->error_log();
    ASSERT_TRUE(backends_[1]->restart());
    EXPECT_NE(halo_->error_log().find("connect() failed (111: Connection refused)"),
              std::string::npos);
}

TEST_F(ProxyTest, AHangingBackendGives504OrTheNextServer) {
    auto hang = [](BackendConn& c, const BackendRequest&) {
        c.read_some(8000);  // never answers; returns when halo gives up
        c.close_after();
    };
    backends_[6]->set_handler(hang);
    HttpResponse r = get("/slow-only/x");
    EXPECT_EQ(r.status, 504);
    EXPECT_NE(halo_->error_log().find("upstream timed out (110: Connection timed out) while "
                                      "reading response header from upstream"),
              std::string::npos);
    // In a group, the timeout moves the (idempotent) request to the next server.
    for (int i = 0; i < 4; i++) {
        r = get("/slow/y");
        EXPECT_EQ(r.status, 200);
        EXPECT_EQ(r.body, "b7\n");
    }
    backends_[6]->set_handler({});
    EXPECT_NE(access_log().find("/slow/y 200 [" + backends_[6]->address() + ", " +
                                backends_[7]->address() + "] [504, 200]"),
              std::string::npos)
        << access_log();
}

TEST_F(ProxyTest, BackupServesWhenThePrimaryIsDown) {
    EXPECT_EQ(get("/backup/").body, "b4\n");
    backends_[4]->stop();
    for (int i = 0; i < 5; i++) {
        HttpResponse r = get("/backup/");
        EXPECT_EQ(r.status, 200);
        EXPECT_EQ(r.body, "b5\n");
    }
    ASSERT_TRUE(backends_[4]->restart());
}

TEST_F(ProxyTest, NoLiveUpstreamsAnd502ForInvalidResponses) {
    HttpResponse r = get("/gone/");
    EXPECT_EQ(r.status, 502);
    backends_[3]->set_handler([](BackendConn& c, const BackendRequest&) {
        c.send("this is not HTTP\r\n\r\n");
        c.close_after();
    });
    r = get("/ka/garbage");
    EXPECT_EQ(r.status, 502);
    backends_[3]->set_handler([](BackendConn& c, const BackendRequest&) {
        c.send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Length: 11\r\n\r\n0123456789");
        c.close_after();
    });
    r = get("/ka/two-lengths");
    EXPECT_EQ(r.status, 502);
    backends_[3]->set_handler({});
    EXPECT_NE(halo_->error_log().find("upstream sent invalid"), std::string::npos);
}

TEST_F(ProxyTest, AHugeResponseIsStreamedWithBoundedMemory) {
    constexpr uint64_t kSize = 120ull << 20;
    backends_[3]->set_handler([](BackendConn& c, const BackendRequest&) {
        c.send("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kSize) + "\r\n\r\n");
        std::string piece(1 << 16, '\0');
        for (uint64_t off = 0; off < kSize; off += piece.size()) {
            for (size_t i = 0; i < piece.size(); i++) {
                piece[i] = big_byte(off + i);
            }
            if (!c.send(piece)) {
                return;
            }
        }
    });
    HttpConnection c;
    ASSERT_TRUE(c.connect(halo_->port(0)));
    ASSERT_TRUE(c.send("GET /ka/huge HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    // Read it by hand, slowly at first, checking every byte.
    std::string head;
    uint64_t got = 0;
    bool ok = true;
    char buf[1 << 16];
    int rounds = 0;
    for (;;) {
        ssize_t n = ::recv(c.fd(), buf, sizeof(buf), 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            struct pollfd p = {c.fd(), POLLIN, 0};
            ::poll(&p, 1, 5000);
            continue;
        }
        if (n <= 0) {
            break;
        }
        size_t start = 0;
        if (head.find("\r\n\r\n") == std::string::npos) {
            head.append(buf, static_cast<size_t>(n));
            size_t end = head.find("\r\n\r\n");
            if (end == std::string::npos) {
                continue;
            }
            start = static_cast<size_t>(n) - (head.size() - end - 4);
        }
        for (size_t i = start; i < static_cast<size_t>(n); i++) {
            ok = ok && buf[i] == big_byte(got + (i - start));
        }
        got += static_cast<size_t>(n) - start;
        if (++rounds < 50) {
            std::this_thread::sleep_for(2ms);  // a slow reader for a while: halo must wait
        }
    }
    backends_[3]->set_handler({});
    EXPECT_EQ(got, kSize);
    EXPECT_TRUE(ok) << "the body differs";
    long hwm = status_kb(worker_, "VmHWM");
    EXPECT_GT(hwm, 0);
    EXPECT_LT(hwm, 48 * 1024) << "the worker's peak memory grew with the response";
}

TEST_F(ProxyTest, WebSocketEchoThroughTheProxy) {
    backends_[3]->set_handler([](BackendConn& c, const BackendRequest& r) {
        if (r.headers.count("upgrade") == 0) {
            c.send(Backend::ok_response("no upgrade\n"));
            return;
        }
        c.send(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
        for (;;) {
            std::string data = c.read_some(5000);
            if (data.empty() || !c.send(data)) {
                break;
            }
        }
        c.close_after();
    });
    HttpConnection c;
    ASSERT_TRUE(c.connect(halo_->port(0)));
    ASSERT_TRUE(
        c.send("GET /ws/chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n"));
    auto r = c.read_response(5s, true);
    ASSERT_TRUE(r.has_value()) << c.error();
    EXPECT_EQ(r->status, 101);
    EXPECT_EQ(r->header("upgrade"), "websocket");
    EXPECT_EQ(r->header("connection"), "upgrade");
    for (std::string msg : {std::string("\x81\x05"
                                        "hello"),
                            std::string("\x81\x03"
                                        "abc"),
                            std::string(3000, 'z')}) {
        ASSERT_TRUE(c.send(msg));
        std::string echoed = c.unread();
        while (echoed.size() < msg.size()) {
            struct pollfd p = {c.fd(), POLLIN, 0};
            ASSERT_EQ(::poll(&p, 1, 5000), 1) << "no echo";
            char buf[4096];
            ssize_t n = ::recv(c.fd(), buf, sizeof(buf), 0);
            ASSERT_GT(n, 0);
            echoed.append(buf, static_cast<size_t>(n));
        }
        EXPECT_EQ(echoed, msg);
        c.close();
        ASSERT_TRUE(c.connect(halo_->port(0)));
        ASSERT_TRUE(
            c.send("GET /ws/chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\n\r\n"));
        r = c.read_response(5s, true);
        ASSERT_TRUE(r.has_value());
    }
    backends_[3]->set_handler({});
}

}  // namespace
}  // namespace halo_test
