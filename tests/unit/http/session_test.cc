// HTTP sessions served in this process over a socketpair (support::http_exchange): default
// 404, malformed requests, keepalive and pipelining, HEAD, server and location selection.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "core/cycle.h"
#include "http/http.h"
#include "support/test_modules.h"

namespace http {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

class SessionTest : public ::testing::Test {
  protected:
    SessionTest() : registry_(core::compiled_modules()) {}

    void load(std::string_view conf) {
        cycle_.reset();
        core::Status s = support::load_cycle(registry_, dir_, conf, cycle_, nullptr, {}, true);
        ASSERT_TRUE(s.is_ok()) << s.message();
    }
    std::string exchange(std::string_view request) {
        return support::http_exchange(*cycle_, request);
    }
    /// Number of responses (status lines) in `out`.
    static int responses(const std::string& out) {
        int n = 0;
        for (size_t p = out.find("HTTP/1.1 "); p != std::string::npos;
             p = out.find("HTTP/1.1 ", p + 1)) {
            n++;
        }
        return n;
    }

    support::TempDir dir_;
    core::ModuleRegistry registry_;
    std::unique_ptr<core::Cycle> cycle_;
};

TEST_F(SessionTest, NoHandlerAnswers404) {
    load("http { server { listen 127.0.0.1:8080; } }");
    std::string out = exchange("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    EXPECT_THAT(out, StartsWith("HTTP/1.1 404 Not Found\r\n"));
    EXPECT_THAT(out, HasSubstr("\r\nServer: halo/"));
    EXPECT_THAT(out, HasSubstr("\r\nContent-Type: text/html\r\n"));
    EXPECT_THAT(out, HasSubstr("\r\nConnection: close\r\n"));
    EXPECT_THAT(out, HasSubstr("<title>404 Not Found</title>"));
}

TEST_F(SessionTest, ServerTokensOff) {
    load("http { server_tokens off; server { listen 127.0.0.1:8080; } }");
    std::string out = exchange("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    EXPECT_THAT(out, HasSubstr("\r\nServer: halo\r\n"));
    EXPECT_THAT(out, Not(HasSubstr("halo/")));
}

TEST_F(SessionTest, MalformedRequestGets400AndClose) {
    load("http { server { listen 127.0.0.1:8080; } }");
    std::string out = exchange("BAD\r\n\r\n");
    EXPECT_THAT(out, StartsWith("HTTP/1.1 400 Bad Request\r\n"));
    EXPECT_THAT(out, HasSubstr("\r\nConnection: close\r\n"));
}

TEST_F(SessionTest, UnsupportedVersionGets505) {
    load("http { server { listen 127.0.0.1:8080; } }");
    EXPECT_THAT(exchange("GET / HTTP/2.0\r\n\r\n"),
                StartsWith("HTTP/1.1 505 HTTP Version Not Supported\r\n"));
}

TEST_F(SessionTest, TooLongRequestLineGets414) {
    load("http { large_client_header_buffers 2 128; server { listen 127.0.0.1:8080; } }");
    std::string out = exchange("GET /" + std::string(300, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_THAT(out, StartsWith("HTTP/1.1 414 "));
}

TEST_F(SessionTest, PipelinedRequestsOnOneConnection) {
    load("http { server { listen 127.0.0.1:8080; location / { return 200 ok; } } }");
    std::string out = exchange(
        "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
        "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n"
        "GET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(responses(out), 3);
    EXPECT_THAT(out, HasSubstr("Connection: keep-alive"));
    EXPECT_THAT(out, EndsWith("Connection: close\r\n\r\nok"));
}

TEST_F(SessionTest, KeepaliveRequestsLimit) {
    load(
        "http { keepalive_requests 2;\n"
        "  server { listen 127.0.0.1:8080; location / { return 200 ok; } } }");
    std::string out = exchange(
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_EQ(responses(out), 2);  // the second response closes the connection
    EXPECT_THAT(out, EndsWith("Connection: close\r\n\r\nok"));
}

TEST_F(SessionTest, RequestBodyIsSkippedBeforeTheNextRequest) {
    load("http { server { listen 127.0.0.1:8080; location / { return 200 ok; } } }");
    std::string out = exchange(
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(responses(out), 2);
}

TEST_F(SessionTest, HeadHasNoBody) {
    load("http { server { listen 127.0.0.1:8080; location / { return 200 body; } } }");
    std::string out = exchange("HEAD / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    EXPECT_THAT(out, StartsWith("HTTP/1.1 200 OK\r\n"));
    EXPECT_THAT(out, HasSubstr("Content-Length: 4\r\n"));
    EXPECT_THAT(out, EndsWith("\r\n\r\n"));
}

TEST_F(SessionTest, ServerChosenByHost) {
    load(
        "http {\n"
        "  server { listen 127.0.0.1:8080; server_name a.test; return 200 A; }\n"
        "  server { listen 127.0.0.1:8080 default_server; server_name b.test; return 200 B; }\n"
        "}");
    EXPECT_THAT(exchange("GET / HTTP/1.1\r\nHost: A.test:8080\r\nConnection: close\r\n\r\n"),
                EndsWith("\r\n\r\nA"));
    EXPECT_THAT(exchange("GET / HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n"),
                EndsWith("\r\n\r\nB"));
    EXPECT_THAT(exchange("GET / HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n"),
                EndsWith("\r\n\r\nB"));
    EXPECT_THAT(exchange("GET http://a.test/ HTTP/1.1\r\nConnection: close\r\n\r\n"),
                EndsWith("\r\n\r\nA"));  // absolute-form: the target's authority
}

TEST_F(SessionTest, LocationMatching) {
    load(
        "http { server { listen 127.0.0.1:8080;\n"
        "  location / { return 200 root; }\n"
        "  location /a { return 200 a; }\n"
        "  location /a/b { return 200 ab; }\n"
        "  location = /a/b/exact { return 200 exact; }\n"
        "  location /n {\n"
        "    location /n/inner { return 200 inner; }\n"
        "    return 200 n;\n"
        "  }\n"
        "} }");
    auto get = [&](const std::string& path) {
        std::string out =
            exchange("GET " + path + " HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        size_t body = out.find("\r\n\r\n");
        return body == std::string::npos ? out : out.substr(body + 4);
    };
    EXPECT_EQ(get("/"), "root");
    EXPECT_EQ(get("/zzz"), "root");
    EXPECT_EQ(get("/a"), "a");
    EXPECT_EQ(get("/abc"), "a");
    EXPECT_EQ(get("/a/b/c"), "ab");
    EXPECT_EQ(get("/a/b/exact"), "exact");
    EXPECT_EQ(get("/a/b/exact/more"), "ab");
    EXPECT_EQ(get("/n/x"), "n");
    EXPECT_EQ(get("/n/inner/x"), "inner");
    EXPECT_EQ(get("/a?x=/a/b"), "a");
}

TEST_F(SessionTest, SlowClientByteAtATime) {
    load("http { server { listen 127.0.0.1:8080; location / { return 200 ok; } } }");
    std::string out = support::http_exchange(
        *cycle_,
        "GET /1 HTTP/1.1\r\nHost: a\r\nX-Long: " + std::string(300, 'v') +
            "\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        1);
    EXPECT_EQ(responses(out), 2);
    EXPECT_THAT(out, EndsWith("Connection: close\r\n\r\nok"));
}

TEST_F(SessionTest, SlowClientOverlongLineIsRejected) {
    load("http { large_client_header_buffers 2 128; server { listen 127.0.0.1:8080; } }");
    std::string out = support::http_exchange(
        *cycle_, "GET /" + std::string(400, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", 7);
    EXPECT_THAT(out, StartsWith("HTTP/1.1 414 "));
    out = support::http_exchange(
        *cycle_, "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(400, 'b') + "\r\n\r\n", 7);
    EXPECT_THAT(out, StartsWith("HTTP/1.1 431 "));
}

TEST_F(SessionTest, DefaultTypeFromTheLocation) {
    load(
        "http { default_type application/json;\n"
        "  server { listen 127.0.0.1:8080;\n"
        "    location / { return 200 '{}'; }\n"
        "    location /t { default_type text/plain; return 200 t; } } }");
    EXPECT_THAT(exchange("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
                HasSubstr("\r\nContent-Type: application/json\r\n"));
    EXPECT_THAT(exchange("GET /t HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
                HasSubstr("\r\nContent-Type: text/plain\r\n"));
}

}  // namespace
}  // namespace http
