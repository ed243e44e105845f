// Request bodies through the real binary. Only `return` answers here, so every body is discarded
// by the session: chunked and Content-Length bodies skipped before the next request,
// client_max_body_size (413 at once, readable thanks to lingering close), Expect: 100-continue
// with a final response, client_body_timeout on a discard, lingering_close/_time/_timeout, and
// clients going away mid-body.
#include <chrono>
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
    server {
        listen 127.0.0.1:%%PORT_0%%;
        server_name localhost;

        location / { return 200 "root\n"; }
        location /small { client_max_body_size 10; return 200 "small\n"; }
        location /slow { client_body_timeout 1s; return 200 "slow\n"; }
    }

    server {
        listen 127.0.0.1:%%PORT_1%%;
        client_max_body_size 10;
        lingering_timeout 1s;
        lingering_time 20s;
        location / { return 200 "linger\n"; }
    }

    server {
        listen 127.0.0.1:%%PORT_2%%;
        lingering_close always;
        location / { return 200 "always\n"; }
    }

    server {
        listen 127.0.0.1:%%PORT_3%%;
        client_max_body_size 10;
        lingering_close off;
        location / { return 200 "off\n"; }
    }
}
)";

class RequestBodyTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        if (!halo_has_module("http_rewrite")) {
            return;
        }
        halo_ = new Halo();
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
    }

    void SetUp() override {
        if (!halo_has_module("http_rewrite")) {
            GTEST_SKIP() << "the http_rewrite module is not compiled in";
        }
        ASSERT_TRUE(start_ok_) << "halo did not start";
        ASSERT_GT(worker_, 0);
    }

    void TearDown() override {
        // Whatever a test sent, the worker is still the same process (it did not crash).
        if (halo_ != nullptr && worker_ > 0 && !IsSkipped()) {
            EXPECT_TRUE(process_alive(worker_)) << "the worker died";
            auto now = halo_->workers();
            EXPECT_EQ(now, std::vector<pid_t>{worker_}) << halo_->error_log();
            if (!now.empty()) {
                worker_ = now[0];
            }
        }
    }

    static uint16_t port(int i = 0) { return halo_->port(i); }

    static std::string post_head(std::string_view path, std::string_view framing,
                                 std::string_view extra = {}) {
        return "POST " + std::string(path) + " HTTP/1.1\r\nHost: localhost\r\n" +
               std::string(framing) + "\r\n" + std::string(extra) + "\r\n";
    }

    /// Sends `data` in pieces of `piece` bytes with `pause` between them; the number of pieces
    /// sent before a send failed (the server reset the connection), or all of them.
    static size_t trickle(HttpConnection& c, std::string_view data, size_t piece, Millis pause) {
        size_t sent = 0;
        while (!data.empty()) {
            std::this_thread::sleep_for(pause);
            size_t n = std::min(piece, data.size());
            if (!c.send(data.substr(0, n))) {
                return sent;
            }
            sent++;
            data.remove_prefix(n);
        }
        return sent;
    }

    static inline Halo* halo_ = nullptr;
    static inline bool start_ok_ = false;
    static inline pid_t worker_ = -1;
};

// ---- discarded bodies and the next request ----

TEST_F(RequestBodyTest, ChunkedPostThenASecondRequest) {
    HttpConnection c;
    ASSERT_TRUE(c.connect(port()));
    // The head first: `return` answers before the body arrives.
    ASSERT_TRUE(c.send(post_head("/", "Transfer-Encoding: chunked")));
    auto r1 = c.read_response();
    ASSERT_TRUE(r1) << c.error();
    EXPECT_EQ(r1->status, 200);
    EXPECT_EQ(r1->body, "root\n");
    EXPECT_EQ(r1->header("connection"), "keep-alive");
    // Then the body, in pieces, and a second request.
    ASSERT_TRUE(c.send("5\r\nhel"));
    std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(c.send("lo\r\n1000;ext=1\r\n" + std::string(0x1000, 'z') + "\r\n0\r\nT: v\r\n"));
    std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(c.send("\r\n" + get_request("/small", "localhost", true)));
    auto r2 = c.read_response();
    ASSERT_TRUE(r2) << c.error();
    EXPECT_EQ(r2->status, 200);
    EXPECT_EQ(r2->body, "small\n");
    EXPECT_EQ(c.unread(), "");
}

TEST_F(RequestBodyTest, PipelinedAfterChunkedAndContentLengthBodies) {
    HttpConnection c;
    ASSERT_TRUE(c.connect(port()));
    std::string inner = get_request("/small", "localhost", true);  // must not be served
    ASSERT_TRUE(c.send(post_head("/", "Transfer-Encoding: chunked") + "3\r\nabc\r\n0\r\n\r\n" +
                       post_head("/", "Content-Length: " + std::to_string(inner.size())) + inner +
                       get_request("/slow", "localhost", true)));
    std::vector<std::string> bodies;
    for (int i = 0; i < 3; i++) {
        auto r = c.read_response();
        ASSERT_TRUE(r) << i << ": " << c.error();
        bodies.push_back(r->body);
    }
    EXPECT_EQ(bodies, (std::vector<std::string>{"root\n", "root\n", "slow\n"}));
    EXPECT_FALSE(c.read_response(300ms)) << "a body was served as a request";
}

TEST_F(RequestBodyTest, MalformedDiscardedChunkedBodyEndsTheConnection) {
    HttpConnection c;
    ASSERT_TRUE(c.connect(port()));
    ASSERT_TRUE(c.send(post_head("/", "Transfer-Encoding: chunked") + "zz\r\n" +
                       get_request("/", "localhost", true)));
    auto r = c.read_response();
    ASSERT_TRUE(r) << c.error();
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(c.wait_closed());
    EXPECT_EQ(c.unread(), "") << "the request after a malformed body was served";
}

// ---- client_max_body_size ----

TEST_F(RequestBodyTest, ContentLengthOverTheLimitIs413AndReadable) {
    HttpConnection c;
    ASSERT_TRUE(c.connect(port()));
    ASSERT_TRUE(c.send(post_head("/small", "Content-Length: 100")));
    auto r = c.read_response();
    ASSERT_TRUE(r) << c.error();
    EXPECT_EQ(r->status, 413);
    EXPECT_EQ(r->header("connection"), "close");
    // The client goes on with its body after reading the 413: no reset (lingering close).
    ASSERT_TRUE(c.send(std::string(50, 'b')));
    std::this_thread::sleep_for(100ms);
    ASSERT_TRUE(c.send(std::string(50, 'b')));
    std::this_thread::sleep_for(100ms);
    EXPECT_TRUE(c.send("x")) << "reset while the client was still sending: " << c.error();
    EXPECT_TRUE(c.wait_closed());
}

TEST_F(RequestBodyTest, LargeBodySentBlindlyStillGetsThe413) {
    // A client that does not read before it has sent everything (1 MiB after the head): the
    // server must drain it rather than reset the connection, which would destroy the 413.
    HttpConnection c;
    ASSERT_TRUE(c.connect(port()));
    ASSERT_TRUE(c.send(post_head("/small", "Content-Length: 1048576") + std::string(1048576, 'b')))
        << c.error();
    auto r = c.read_response();
    ASSERT_TRUE(r) << c.error();
    EXPECT_EQ(r->status, 413);
    EXPECT_TRUE(c.wait_closed());
}

TEST_F(RequestBodyTest, ContentLengthAtTheLimitIsFine) {
    HttpConnection c;
    ASSERT_TRUE(c.connect(port()));
    ASSERT_TRUE(c.send(post_head("/small", "Content-Length: 10") + "0123456789" +
                       get_request("/small", "localhost", true)));
    auto r1 = c.read_response();
    ASSERT_TRUE(r1) << c.error();
    EXPECT_EQ(r1->status, 200);
    auto r2 = c.read_response();
    ASSERT_TRUE(r2) << c.error();
    EXPECT_EQ(r2->status, 200);
}

TEST_F(RequestBodyTest, LingeringCloseOffClosesAfterThe413) {
    HttpConnection c;
    ASSERT_TRUE(c.connect(port(3)));
    ASSERT_TRUE(c.send(post_head("/", "Content-Length: 100")));
    auto r = c.read_response();
    ASSERT_TRUE(r) << c.error();
    EXPECT_EQ(r->status, 413);
    EXPECT_TRUE(c.wait_closed());
    // Nobody reads any more: the body is refused by the kernel (reset) soon.
    EXPECT_LT(trickle(c, std::string(10, 'b'), 1, 100ms), 10u);
}

// ---- Expect: 100-continue ----

TEST_F(RequestBodyTest, ExpectContinueWithReturnGetsContinueThenTheResponseAndKeepsTheConnection) {
    // As nginx when it discards a body: "100 Continue" first, the final response, then the
    // body is read and dropped and the connection serves the next request.
    HttpConnection c;
    ASSERT_TRUE(c.connect(port()));
    ASSERT_TRUE(c.send(post_head("/", "Content-Length: 5", "Expect: 100-continue\r\n")));
    auto r = c.read_response();
    ASSERT_TRUE(r) << c.error();
    int interim = 0;
    while (r && r->status == 100) {
        interim++;
        r = c.read_response();
    }
    ASSERT_TRUE(r) << c.error();
    EXPECT_EQ(interim, 1);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "root\n");
    EXPECT_EQ(r->header("connection"), "keep-alive");
    ASSERT_TRUE(c.send("hello"));
    ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    auto next = c.read_response();
    ASSERT_TRUE(next) << c.error();
    EXPECT_EQ(next->status, 200);
}

TEST_F(RequestBodyTest, ExpectContinueOverTheLimitIs413) {
    HttpConnection c;
    ASSERT_TRUE(c.connect(port()));
    ASSERT_TRUE(c.send(post_head("/small", "Content-Length: 11", "Expect: 100-continue\r\n")));
    auto r = c.read_response();
    ASSERT_TRUE(r) << c.error();
    EXPECT_EQ(r->status, 413);
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_TRUE(c.wait_closed());
}

TEST_F(RequestBodyTest, ExpectContinueWithTheBodyAlreadySentKeepsTheConnection) {
    HttpConnection c;
    ASSERT_TRUE(c.connect(port()));
    ASSERT_TRUE(c.send(post_head("/", "Content-Length: 5", "Expect: 100-continue\r\n") + "hello" +
                       get_request("/slow", "localhost", true)));
    auto r1 = c.read_response();
    ASSERT_TRUE(r1) << c.error();
    EXPECT_EQ(r1->status, 200);
    auto r2 = c.read_response();
    ASSERT_TRUE(r2) << c.error() << " (the body came with the head: the connection could go on)";
    EXPECT_EQ(r2->body, "slow\n");
}

// ---- client_body_timeout while discarding ----

TEST_F(RequestBodyTest, DiscardedBodyNeverCompletingTimesOut) {
    HttpConnection c;
    ASSERT_TRUE(c.connect(port()));
    ASSERT_TRUE(c.send(post_head("/slow", "Content-Length: 10") + "abc"));
    auto r = c.read_response();
    ASSERT_TRUE(r) << c.error();
    EXPECT_EQ(r->status, 200);
    auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(c.wait_closed(5s)) << "client_body_timeout 1s";
    EXPECT_GE(std::chrono::steady_clock::now() - start, 700ms) << "closed before the timeout";
}

TEST_F(RequestBodyTest, SlowButSteadyDiscardedBodyIsNotTimedOut) {
    // nginx: client_body_timeout is "between two successive read operations, not for the
    // transmission of the whole request body".
    HttpConnection c;
    ASSERT_TRUE(c.connect(port()));
    ASSERT_TRUE(c.send(post_head("/slow", "Content-Length: 10")));
    auto r = c.read_response();
    ASSERT_TRUE(r) << c.error();
    EXPECT_EQ(trickle(c, "0123456789", 1, 300ms), 10u) << "reset while sending the body";
    ASSERT_TRUE(c.send(get_request("/", "localhost", true)));
    auto r2 = c.read_response();
    ASSERT_TRUE(r2) << "the connection was closed during a steady 3 s body: " << c.error();
    EXPECT_EQ(r2->body, "root\n");
}

// ---- lingering ----

TEST_F(RequestBodyTest, LingeringTimeoutIsTheWaitBetweenReads) {
    // nginx: lingering_timeout is how long to wait for more data; each read starts it again,
    // for lingering_time (20s here) at most.
    HttpConnection c;
    ASSERT_TRUE(c.connect(port(1)));
    ASSERT_TRUE(c.send(post_head("/", "Content-Length: 100000")));
    auto r = c.read_response();
    ASSERT_TRUE(r) << c.error();
    EXPECT_EQ(r->status, 413);
    EXPECT_EQ(trickle(c, std::string(10, 'b'), 1, 300ms), 10u)
        << "reset while the client was still sending, within lingering_time";
}

TEST_F(RequestBodyTest, LingeringEndsWhenTheClientGoesQuiet) {
    HttpConnection c;
    ASSERT_TRUE(c.connect(port(1)));
    ASSERT_TRUE(c.send(post_head("/", "Content-Length: 100000")));
    auto r = c.read_response();
    ASSERT_TRUE(r) << c.error();
    EXPECT_TRUE(c.wait_closed());
    // The worker holds the socket for lingering_timeout (1s) of silence, then lets it go.
    EXPECT_TRUE(wait_until([&] { return established_connections(worker_, port(1)) == 0; }, 5s));
}

TEST_F(RequestBodyTest, LingeringCloseAlwaysLingersAfterAConnectionClose) {
    HttpConnection c;
    ASSERT_TRUE(c.connect(port(2)));
    ASSERT_TRUE(c.send(get_request("/", "localhost", false)));
    auto r = c.read_response();
    ASSERT_TRUE(r) << c.error();
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_TRUE(c.wait_closed());
    // `always`: the server still reads (and drops) what comes, instead of resetting.
    EXPECT_EQ(trickle(c, "abcde", 1, 100ms), 5u);
}

// ---- clients going away ----

TEST_F(RequestBodyTest, ClientClosingMidBodyDoesNotHurtTheWorker) {
    for (int i = 0; i < 5; i++) {
        HttpConnection c;
        ASSERT_TRUE(c.connect(port()));
        ASSERT_TRUE(c.send(post_head("/", "Content-Length: 100000") + std::string(5000, 'x')));
        if (i % 2 == 0) {
            ASSERT_TRUE(c.read_response());
        }
    }
    for (int i = 0; i < 3; i++) {
        HttpConnection c;
        ASSERT_TRUE(c.connect(port()));
        ASSERT_TRUE(c.send(post_head("/", "Transfer-Encoding: chunked") + "1000\r\nabc"));
    }
    {
        HttpConnection c;  // mid-413 linger
        ASSERT_TRUE(c.connect(port(1)));
        ASSERT_TRUE(c.send(post_head("/", "Content-Length: 100000") + "abc"));
    }
    EXPECT_EQ(get_body(port(), "/slow"), "slow\n");
    // Every one of those connections is let go.
    EXPECT_TRUE(wait_until([&] { return established_connections(worker_, port()) == 0; }, 5s));
    EXPECT_TRUE(wait_until([&] { return established_connections(worker_, port(1)) == 0; }, 5s));
    // TearDown checks that the same worker process is still serving.
}

}  // namespace
}  // namespace halo_test
