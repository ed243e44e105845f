// HTTP/1.1 basics of the foundation: keepalive, HTTP/1.0, pipelining, location matching,
// server selection, `return`, malformed requests and the header limits.
#include <memory>
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

        location = / { return 200 "exact root\n"; }
        location / { return 200 "root\n"; }
        location /a {
            return 200 "a\n";
            location /a/b { return 200 "a/b\n"; }
        }
        location /nested/ {
            location /nested/x { return 200 "nested x\n"; }
        }
        location = /exact { return 200 "exact\n"; }
        location ^~ /static/ { return 200 "static\n"; }
        location /redirect { return 301 http://example.com/target; }
        location /found { return http://example.com/found; }
        location /empty { return 204; }
        location /forbidden { return 403; }
        location /drop { return 444; }
        location /teapot { return 418 "short and stout\n"; }
    }

    server {
        listen 127.0.0.1:%%PORT_0%%;
        server_name other.example www.other.example;
        return 200 "other server\n";
    }

    server {
        listen 127.0.0.1:%%PORT_1%%;
        location /only { return 200 "only\n"; }
    }

    server {
        listen 127.0.0.1:%%PORT_2%%;
        keepalive_requests 2;
        location / { return 200 "limited\n"; }
    }

    server {
        listen 127.0.0.1:%%PORT_3%%;
        keepalive_timeout 0;
        server_tokens off;
        location / { return 200 "no keepalive\n"; }
    }

    server {
        listen 127.0.0.1:%%PORT_4%%;
        keepalive_timeout 1s;
        client_header_timeout 1s;
        location / { return 200 "short timeouts\n"; }
    }

    server {
        listen 127.0.0.1:%%PORT_5%%;
        server_name first.example;
        return 200 "first\n";
    }

    server {
        listen 127.0.0.1:%%PORT_5%% default_server;
        server_name second.example;
        return 200 "second\n";
    }
}
)";

class HttpBasicTest : public ::testing::Test {
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

    /// Sends raw bytes on a new connection and reads one response.
    static std::optional<HttpResponse> raw(std::string_view request, int port_index = 0,
                                           HttpConnection* keep = nullptr, bool head = false) {
        HttpConnection local;
        HttpConnection& c = keep != nullptr ? *keep : local;
        if (!c.connected() && !c.connect(port(port_index))) {
            ADD_FAILURE() << c.error();
            return std::nullopt;
        }
        if (!c.send(request)) {
            ADD_FAILURE() << c.error();
            return std::nullopt;
        }
        auto r = c.read_response(5s, head);
        if (!r) {
            ADD_FAILURE() << "no response: " << c.error();
        }
        return r;
    }

    static std::string body_for(std::string_view path, std::string_view host = "localhost",
                                int port_index = 0) {
        std::string error;
        auto r = http_get(port(port_index), path, host, &error);
        return r ? r->body : "<error: " + error + ">";
    }

    static inline Halo* halo_ = nullptr;
    static inline bool start_ok_ = false;
    static inline pid_t worker_ = -1;
};

TEST_F(HttpBasicTest, ResponseHeaders) {
    auto r = raw("GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->version, "HTTP/1.1");
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->reason, "OK");
    EXPECT_EQ(r->body, "root\n");
    EXPECT_EQ(r->header("content-type"), "text/plain");
    EXPECT_EQ(r->header("content-length"), "5");
    EXPECT_EQ(r->header("connection"), "keep-alive");
    EXPECT_EQ(r->header("server").rfind("halo/", 0), 0u) << r->header("server");
    EXPECT_EQ(r->header("date").size(), 29u) << r->header("date");  // IMF-fixdate
    EXPECT_EQ(r->header("date").substr(25), " GMT");
}

TEST_F(HttpBasicTest, ServerTokensOff) {
    auto r = raw("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", 3);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("server"), "halo");
}

TEST_F(HttpBasicTest, KeepaliveServesTwoRequestsOnOneConnection) {
    HttpConnection c;
    ASSERT_TRUE(c.connect(port()));
    for (const char* path : {"/a", "/exact", "/x"}) {
        ASSERT_TRUE(c.send(get_request(path, "localhost", true)));
        auto r = c.read_response();
        ASSERT_TRUE(r) << path << ": " << c.error();
        EXPECT_EQ(r->status, 200);
        EXPECT_EQ(r->header("connection"), "keep-alive");
    }
    EXPECT_EQ(established_connections(worker_, port()), 1);
}

TEST_F(HttpBasicTest, Http11DefaultsToKeepalive) {
    HttpConnection c;
    auto r = raw("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", 0, &c);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("connection"), "keep-alive");
    auto again = raw("GET /a HTTP/1.1\r\nHost: localhost\r\n\r\n", 0, &c);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->body, "a\n");
}

TEST_F(HttpBasicTest, ConnectionCloseIsHonoured) {
    HttpConnection c;
    auto r = raw("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 0, &c);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_TRUE(c.wait_closed());
}

TEST_F(HttpBasicTest, Http10ClosesTheConnection) {
    HttpConnection c;
    auto r = raw("GET /a HTTP/1.0\r\n\r\n", 0, &c);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "a\n");
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_TRUE(c.wait_closed());
    EXPECT_EQ(c.unread(), "");
}

TEST_F(HttpBasicTest, Http10KeepaliveOnRequest) {
    HttpConnection c;
    auto r = raw("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0, &c);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("connection"), "keep-alive");
    auto again = raw("GET /exact HTTP/1.0\r\n\r\n", 0, &c);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->body, "exact\n");
    EXPECT_TRUE(c.wait_closed());
}

TEST_F(HttpBasicTest, PipelinedRequestsInOneWrite) {
    HttpConnection c;
    ASSERT_TRUE(c.connect(port()));
    ASSERT_TRUE(
        c.send("GET /a HTTP/1.1\r\nHost: localhost\r\n\r\n"
               "GET /a/b HTTP/1.1\r\nHost: localhost\r\n\r\n"
               "GET /exact HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"));
    for (const char* expected : {"a\n", "a/b\n", "exact\n"}) {
        auto r = c.read_response();
        ASSERT_TRUE(r) << c.error();
        EXPECT_EQ(r->body, expected);
    }
    EXPECT_TRUE(c.wait_closed());
    EXPECT_EQ(c.unread(), "");
}

TEST_F(HttpBasicTest, PipelinedRequestSplitAcrossWrites) {
    HttpConnection c;
    ASSERT_TRUE(c.connect(port()));
    ASSERT_TRUE(c.send("GET /a HTTP/1.1\r\nHost: localhost\r\n\r\nGET /exa"));
    auto r1 = c.read_response();
    ASSERT_TRUE(r1) << c.error();
    EXPECT_EQ(r1->body, "a\n");
    ASSERT_TRUE(c.send("ct HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    auto r2 = c.read_response();
    ASSERT_TRUE(r2) << c.error();
    EXPECT_EQ(r2->body, "exact\n");
}

TEST_F(HttpBasicTest, RequestSentByteByByte) {
    HttpConnection c;
    ASSERT_TRUE(c.connect(port()));
    const std::string req = "GET /a/b HTTP/1.1\r\nHost: localhost\r\nX-Slow: yes\r\n\r\n";
    for (char ch : req) {
        ASSERT_TRUE(c.send(std::string_view(&ch, 1)));
        std::this_thread::sleep_for(1ms);
    }
    auto r = c.read_response();
    ASSERT_TRUE(r) << c.error();
    EXPECT_EQ(r->body, "a/b\n");
}

TEST_F(HttpBasicTest, LocationMatching) {
    struct Case {
        const char* path;
        const char* body;
    } cases[] = {
        {"/", "exact root\n"},          // location = /
        {"/other", "root\n"},           // location /
        {"/a", "a\n"},                  // prefix
        {"/abc", "a\n"},                // prefix match is plain string prefix
        {"/a/", "a\n"},                 //
        {"/a/b", "a/b\n"},              // nested location
        {"/a/b/c", "a/b\n"},            //
        {"/exact", "exact\n"},          // location =
        {"/exact?q=1", "exact\n"},      // the query is not part of the match
        {"/exact/", "root\n"},          // = matches only the exact path
        {"/exactly", "root\n"},         //
        {"/static/x.css", "static\n"},  // ^~
        {"/nested/x", "nested x\n"},    // nested inside a location without return
        {"/teapot", "short and stout\n"},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(body_for(c.path), c.body) << c.path;
    }
}

TEST_F(HttpBasicTest, NestedLocationWithoutHandlerIs404) {
    auto r = http_get(port(), "/nested/y");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
}

TEST_F(HttpBasicTest, NotFoundWhenNoLocationMatches) {
    auto r = http_get(port(1), "/elsewhere");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    EXPECT_EQ(r->reason, "Not Found");
    EXPECT_EQ(r->header("content-type"), "text/html");
    EXPECT_NE(r->body.find("<title>404 Not Found</title>"), std::string::npos) << r->body;
    EXPECT_EQ(body_for("/only", "localhost", 1), "only\n");
}

TEST_F(HttpBasicTest, Return301SetsLocation) {
    auto r = http_get(port(), "/redirect");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 301);
    EXPECT_EQ(r->reason, "Moved Permanently");
    EXPECT_EQ(r->header("location"), "http://example.com/target");
    EXPECT_NE(r->body.find("301 Moved Permanently"), std::string::npos) << r->body;
}

TEST_F(HttpBasicTest, ReturnUrlAloneIs302) {
    auto r = http_get(port(), "/found");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 302);
    EXPECT_EQ(r->header("location"), "http://example.com/found");
}

TEST_F(HttpBasicTest, Return204HasNoBody) {
    HttpConnection c;
    auto r = raw("GET /empty HTTP/1.1\r\nHost: localhost\r\n\r\n", 0, &c);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 204);
    EXPECT_EQ(r->body, "");
    // RFC 9110 §8.6: no Content-Length in a 204 (nginx drops it too).
    EXPECT_FALSE(r->has_header("content-length")) << r->header("content-length");
    // The framing is right: the next response on the connection parses.
    auto next = raw("GET /a HTTP/1.1\r\nHost: localhost\r\n\r\n", 0, &c);
    ASSERT_TRUE(next);
    EXPECT_EQ(next->body, "a\n");
}

TEST_F(HttpBasicTest, Return403DefaultPage) {
    auto r = http_get(port(), "/forbidden");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403);
    EXPECT_NE(r->body.find("403 Forbidden"), std::string::npos) << r->body;
}

TEST_F(HttpBasicTest, Return444ClosesWithoutResponse) {
    HttpConnection c;
    ASSERT_TRUE(c.connect(port()));
    ASSERT_TRUE(c.send(get_request("/drop", "localhost", true)));
    EXPECT_TRUE(c.wait_closed());
    EXPECT_EQ(c.unread(), "");
}

TEST_F(HttpBasicTest, HeadHasHeadersButNoBody) {
    HttpConnection c;
    auto r = raw("HEAD /a HTTP/1.1\r\nHost: localhost\r\n\r\n", 0, &c, /*head=*/true);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("content-length"), "2");
    auto next = raw("GET /exact HTTP/1.1\r\nHost: localhost\r\n\r\n", 0, &c);
    ASSERT_TRUE(next);
    EXPECT_EQ(next->body, "exact\n") << "HEAD sent a body";
}

TEST_F(HttpBasicTest, ServerSelectionByHost) {
    EXPECT_EQ(body_for("/a", "other.example"), "other server\n");
    EXPECT_EQ(body_for("/a", "WWW.Other.Example"), "other server\n");
    EXPECT_EQ(body_for("/a", "other.example:8080"), "other server\n");
    EXPECT_EQ(body_for("/a", "other.example."), "other server\n");
    EXPECT_EQ(body_for("/a", "localhost"), "a\n");
    // Unknown names go to the first server of the port...
    EXPECT_EQ(body_for("/a", "unknown.example"), "a\n");
    // ...or to the one marked default_server.
    EXPECT_EQ(body_for("/", "unknown.example", 5), "second\n");
    EXPECT_EQ(body_for("/", "first.example", 5), "first\n");
    EXPECT_EQ(body_for("/", "second.example", 5), "second\n");
}

TEST_F(HttpBasicTest, AbsoluteFormTargetChoosesServer) {
    // RFC 9112 §3.2.2: the authority of an absolute-form target wins over Host.
    auto r = raw("GET http://other.example/a HTTP/1.1\r\nHost: other.example\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "other server\n");
    auto differing = raw("GET http://other.example/a HTTP/1.1\r\nHost: localhost\r\n\r\n");
    ASSERT_TRUE(differing);
    EXPECT_EQ(differing->status, 200) << "a Host differing from the absolute-form authority "
                                         "must be ignored (RFC 9112 §3.2.2), as nginx does";
    EXPECT_EQ(differing->body, "other server\n");
}

TEST_F(HttpBasicTest, LeadingEmptyLinesAreIgnored) {
    auto r = raw("\r\n\r\nGET /a HTTP/1.1\r\nHost: localhost\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "a\n");
}

TEST_F(HttpBasicTest, RequestBodyIsDiscardedBeforeTheNextRequest) {
    HttpConnection c;
    ASSERT_TRUE(c.connect(port()));
    ASSERT_TRUE(
        c.send("POST /a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\n"
               "0123456789"
               "GET /exact HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    auto r1 = c.read_response();
    ASSERT_TRUE(r1) << c.error();
    EXPECT_EQ(r1->body, "a\n");
    auto r2 = c.read_response();
    ASSERT_TRUE(r2) << c.error();
    EXPECT_EQ(r2->body, "exact\n");
}

TEST_F(HttpBasicTest, RequestBodyArrivingLaterIsDiscarded) {
    HttpConnection c;
    ASSERT_TRUE(c.connect(port()));
    ASSERT_TRUE(c.send("POST /a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 20000\r\n\r\n"));
    auto r1 = c.read_response();
    ASSERT_TRUE(r1) << c.error();
    EXPECT_EQ(r1->body, "a\n");
    ASSERT_TRUE(c.send(std::string(12000, 'x')));
    ASSERT_TRUE(c.send(std::string(8000, 'y') + "GET /exact HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    auto r2 = c.read_response();
    ASSERT_TRUE(r2) << c.error();
    EXPECT_EQ(r2->body, "exact\n");
}

// ---- malformed requests ----

void expect_error_and_close(std::optional<HttpResponse> r, HttpConnection& c, int status) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status);
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_TRUE(c.wait_closed()) << "the connection stays open after " << status;
}

TEST_F(HttpBasicTest, MalformedRequestLineIs400AndCloses) {
    for (const char* line :
         {"GARBAGE\r\n\r\n", "GET  HTTP/1.1\r\n\r\n", "GET /a HTTP/1.x\r\n\r\n",
          "G(T /a HTTP/1.1\r\nHost: x\r\n\r\n", "GET a HTTP/1.1\r\nHost: x\r\n\r\n"}) {
        HttpConnection c;
        expect_error_and_close(raw(line, 0, &c), c, 400);
    }
}

TEST_F(HttpBasicTest, UnsupportedVersionIs505) {
    HttpConnection c;
    expect_error_and_close(raw("GET /a HTTP/2.0\r\nHost: localhost\r\n\r\n", 0, &c), c, 505);
}

TEST_F(HttpBasicTest, MissingHostInHttp11Is400) {
    HttpConnection c;
    expect_error_and_close(raw("GET /a HTTP/1.1\r\nAccept: */*\r\n\r\n", 0, &c), c, 400);
}

TEST_F(HttpBasicTest, Http10NeedsNoHost) {
    HttpConnection c;
    auto r = raw("GET /a HTTP/1.0\r\n\r\n", 0, &c);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
}

TEST_F(HttpBasicTest, ConflictingHostsAre400) {
    HttpConnection c;
    expect_error_and_close(
        raw("GET /a HTTP/1.1\r\nHost: localhost\r\nHost: other.example\r\n\r\n", 0, &c), c, 400);
}

TEST_F(HttpBasicTest, ObsoleteLineFoldingIs400) {
    HttpConnection c;
    expect_error_and_close(
        raw("GET /a HTTP/1.1\r\nHost: localhost\r\nX-Folded: one\r\n two\r\n\r\n", 0, &c), c, 400);
}

TEST_F(HttpBasicTest, SpaceBeforeColonIs400) {
    HttpConnection c;
    expect_error_and_close(raw("GET /a HTTP/1.1\r\nHost : localhost\r\n\r\n", 0, &c), c, 400);
}

TEST_F(HttpBasicTest, ChunkedRequestBodyIsAnsweredAndTheConnectionStaysUsable) {
    HttpConnection c;
    auto r1 =
        raw("POST /a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
            "5\r\nhello\r\n0\r\n\r\n",
            0, &c);
    ASSERT_TRUE(r1);
    EXPECT_EQ(r1->status, 200);
    EXPECT_EQ(r1->body, "a\n");
    EXPECT_EQ(r1->header("connection"), "keep-alive");
    // The body was skipped: the next request on the connection is served.
    auto r2 = raw(get_request("/exact", "localhost", true), 0, &c);
    ASSERT_TRUE(r2);
    EXPECT_EQ(r2->body, "exact\n");
}

TEST_F(HttpBasicTest, InvalidContentLengthIs400) {
    HttpConnection c;
    expect_error_and_close(
        raw("POST /a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 12x\r\n\r\n", 0, &c), c, 400);
}

TEST_F(HttpBasicTest, HeaderLineTooLargeIs431) {
    HttpConnection c;
    std::string req =
        "GET /a HTTP/1.1\r\nHost: localhost\r\nX-Big: " + std::string(9000, 'b') + "\r\n\r\n";
    expect_error_and_close(raw(req, 0, &c), c, 431);
}

TEST_F(HttpBasicTest, HeadersTooLargeInTotalAre431) {
    // Each line fits the 8k limit; together they exceed 4 x 8k.
    std::string req = "GET /a HTTP/1.1\r\nHost: localhost\r\n";
    for (int i = 0; i < 6; i++) {
        req += "X-H" + std::to_string(i) + ": " + std::string(7000, 'h') + "\r\n";
    }
    req += "\r\n";
    HttpConnection c;
    expect_error_and_close(raw(req, 0, &c), c, 431);
}

TEST_F(HttpBasicTest, LargeButAcceptedHeaders) {
    std::string req =
        "GET /a HTTP/1.1\r\nHost: localhost\r\nX-Big: " + std::string(7000, 'b') + "\r\n\r\n";
    auto r = raw(req);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
}

TEST_F(HttpBasicTest, RequestLineTooLongIs414) {
    HttpConnection c;
    std::string req = "GET /" + std::string(9000, 'u') + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
    expect_error_and_close(raw(req, 0, &c), c, 414);
}

TEST_F(HttpBasicTest, ClientClosingEarlyDoesNotDisturb) {
    for (int i = 0; i < 5; i++) {
        HttpConnection c;
        ASSERT_TRUE(c.connect(port()));
        ASSERT_TRUE(c.send("GET /a HTTP/1.1\r\nHo"));
    }
    EXPECT_EQ(body_for("/a"), "a\n");
}

// ---- keepalive limits and timeouts ----

TEST_F(HttpBasicTest, KeepaliveRequestsLimit) {
    HttpConnection c;
    auto r1 = raw(get_request("/", "localhost", true), 2, &c);
    ASSERT_TRUE(r1);
    EXPECT_EQ(r1->header("connection"), "keep-alive");
    auto r2 = raw(get_request("/", "localhost", true), 2, &c);
    ASSERT_TRUE(r2);
    EXPECT_EQ(r2->header("connection"), "close") << "keepalive_requests 2";
    EXPECT_TRUE(c.wait_closed());
}

TEST_F(HttpBasicTest, KeepaliveTimeoutZeroDisablesKeepalive) {
    HttpConnection c;
    auto r = raw(get_request("/", "localhost", true), 3, &c);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "no keepalive\n");
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_TRUE(c.wait_closed());
}

TEST_F(HttpBasicTest, IdleKeepaliveConnectionIsClosedAfterTimeout) {
    HttpConnection c;
    auto r = raw(get_request("/", "localhost", true), 4, &c);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("connection"), "keep-alive");
    EXPECT_TRUE(c.wait_closed(10s)) << "keepalive_timeout 1s";
    EXPECT_EQ(c.unread(), "");
}

TEST_F(HttpBasicTest, IncompleteHeaderIsClosedAfterTimeout) {
    HttpConnection c;
    ASSERT_TRUE(c.connect(port(4)));
    ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: localhost\r\n"));
    EXPECT_TRUE(c.wait_closed(10s)) << "client_header_timeout 1s";
}

}  // namespace
}  // namespace halo_test
