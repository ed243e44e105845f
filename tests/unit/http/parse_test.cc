// The request head parser (RFC 9112), status reason phrases and header lookup.
#include "http/parse.h"

#include <gtest/gtest.h>

#include <string>

#include "http/http.h"

namespace http {
namespace {

struct Parsed {
    ParseResult result;
    Request r;
    size_t consumed = 0;
    int status = 0;
};

Parsed parse(std::string_view in, size_t max_line = 8192, size_t max_head = 32768) {
    Parsed p;
    p.result = parse_request_head(in, max_line, max_head, p.r, p.consumed, p.status);
    return p;
}

int error_status(std::string_view in, size_t max_line = 8192, size_t max_head = 32768) {
    Parsed p = parse(in, max_line, max_head);
    EXPECT_EQ(p.result, ParseResult::kError) << in;
    return p.status;
}

TEST(ParseRequestTest, SimpleGet) {
    std::string head = "GET /index.html?a=1&b=2 HTTP/1.1\r\nHost: example.com\r\nX-A:  v  \r\n\r\n";
    std::string in = head + "NEXT";  // views point into `in`: keep it alive
    Parsed p = parse(in);
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_EQ(p.consumed, head.size());
    EXPECT_EQ(p.r.method, "GET");
    EXPECT_EQ(p.r.target, "/index.html?a=1&b=2");
    EXPECT_EQ(p.r.path, "/index.html");
    EXPECT_EQ(p.r.args, "a=1&b=2");
    EXPECT_EQ(p.r.http_minor, 1);
    EXPECT_EQ(p.r.host, "example.com");
    EXPECT_TRUE(p.r.keepalive);
    ASSERT_EQ(p.r.headers.size(), 2u);
    EXPECT_EQ(p.r.headers[1].name, "X-A");
    EXPECT_EQ(p.r.headers[1].value, "v");  // trimmed
    EXPECT_EQ(p.r.content_length, 0u);
}

TEST(ParseRequestTest, BareLineFeedsAndLeadingEmptyLines) {
    std::string in = "\r\n\nGET / HTTP/1.1\nHost: a\n\n";
    Parsed p = parse(in);
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_EQ(p.consumed, in.size());
    EXPECT_EQ(p.r.path, "/");
    EXPECT_TRUE(p.r.args.empty());
}

TEST(ParseRequestTest, Incomplete) {
    EXPECT_EQ(parse("").result, ParseResult::kIncomplete);
    EXPECT_EQ(parse("GET / HT").result, ParseResult::kIncomplete);
    EXPECT_EQ(parse("GET / HTTP/1.1\r\n").result, ParseResult::kIncomplete);
    EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\n").result, ParseResult::kIncomplete);
    EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\n\r").result, ParseResult::kIncomplete);
}

TEST(ParseRequestTest, Http10) {
    Parsed p = parse("GET / HTTP/1.0\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_EQ(p.r.http_minor, 0);
    EXPECT_FALSE(p.r.keepalive);
    EXPECT_TRUE(p.r.host.empty());  // not required in HTTP/1.0
    p = parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_TRUE(p.r.keepalive);
}

TEST(ParseRequestTest, ConnectionClose) {
    Parsed p = parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_FALSE(p.r.keepalive);
}

TEST(ParseRequestTest, ContentLength) {
    Parsed p = parse("POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_EQ(p.r.content_length, 42u);
    // Any duplicate is refused, even an identical one (nginx: "duplicate header line").
    EXPECT_EQ(error_status("POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                           "content-length: 5\r\n\r\n"),
              400);
    EXPECT_EQ(error_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                           "Content-Length: 6\r\n\r\n"),
              400);
    EXPECT_EQ(error_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"), 400);
    EXPECT_EQ(error_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n"), 400);
}

TEST(ParseRequestTest, TransferEncoding) {
    Parsed p = parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_TRUE(p.r.chunked);
    EXPECT_TRUE(p.r.has_body());
    p = parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ChUnKeD\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    // Other codings are not implemented (nginx: 501).
    EXPECT_EQ(error_status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"),
              501);
    EXPECT_EQ(error_status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
              501);
    // Smuggling defences: CL with TE, TE twice, TE in HTTP/1.0.
    EXPECT_EQ(error_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n"),
              400);
    EXPECT_EQ(error_status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n"),
              400);
    EXPECT_EQ(error_status("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
}

TEST(ParseRequestTest, AbsoluteForm) {
    std::string in = "GET http://Example.org:8080/p/q?x=1 HTTP/1.1\r\n\r\n";
    Parsed p = parse(in);
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_EQ(p.r.host, "Example.org:8080");  // the authority is the host: no Host needed
    EXPECT_EQ(p.r.path, "/p/q");
    EXPECT_EQ(p.r.args, "x=1");
    p = parse("GET https://h HTTP/1.1\r\nHost: h\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_EQ(p.r.host, "h");
    EXPECT_EQ(p.r.path, "/");
}

// RFC 9112 §3.2.2: with an absolute-form target the server MUST ignore the Host header and
// use the target's authority; a Host that differs is not an error (proxies send both).
TEST(ParseRequestTest, AbsoluteFormIgnoresAHostHeader) {
    std::string in = "GET http://example.org/p HTTP/1.1\r\nHost: other.example\r\n\r\n";
    Parsed p = parse(in);
    ASSERT_EQ(p.result, ParseResult::kComplete) << "status " << p.status;
    EXPECT_EQ(p.r.host, "example.org");
    EXPECT_EQ(p.r.path, "/p");
}

TEST(ParseRequestTest, OptionsAsterisk) {
    Parsed p = parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_EQ(p.r.path, "*");
    EXPECT_EQ(error_status("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
}

TEST(ParseRequestTest, BadRequestLines) {
    EXPECT_EQ(error_status("GET\r\n\r\n"), 400);
    EXPECT_EQ(error_status("GET /\r\n\r\n"), 400);
    EXPECT_EQ(error_status(" GET / HTTP/1.1\r\n\r\n"), 400);
    EXPECT_EQ(error_status("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    EXPECT_EQ(error_status("GET / x HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    EXPECT_EQ(error_status("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    EXPECT_EQ(error_status("GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    EXPECT_EQ(error_status("GET relative HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    EXPECT_EQ(error_status("GET / HTTP/1.1x\r\nHost: a\r\n\r\n"), 400);
    EXPECT_EQ(error_status("GET / http/1.1\r\nHost: a\r\n\r\n"), 400);
    EXPECT_EQ(error_status("GET / HTTP/1.a\r\nHost: a\r\n\r\n"), 400);
}

TEST(ParseRequestTest, UnsupportedVersion) {
    EXPECT_EQ(error_status("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
    EXPECT_EQ(error_status("GET / HTTP/0.9\r\n\r\n"), 505);
}

TEST(ParseRequestTest, HostRules) {
    EXPECT_EQ(error_status("GET / HTTP/1.1\r\n\r\n"), 400);  // RFC 9112 §3.2
    EXPECT_EQ(error_status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
    // Even an identical repeat is refused, as nginx does ("client sent duplicate host header").
    EXPECT_EQ(error_status("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"), 400);
}

TEST(ParseRequestTest, BadHeaders) {
    EXPECT_EQ(error_status("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n"), 400);
    EXPECT_EQ(error_status("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n"), 400);
    EXPECT_EQ(error_status("GET / HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n"), 400);
    EXPECT_EQ(error_status("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), 400);
    EXPECT_EQ(error_status("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01z\r\n\r\n"), 400);
    EXPECT_EQ(error_status("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fz\r\n\r\n"), 400);
    Parsed p = parse("GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete);  // tabs are fine inside values
    EXPECT_EQ(p.r.headers[1].value, "a\tb");
}

TEST(ParseRequestTest, Limits) {
    std::string long_uri = "GET /" + std::string(200, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n";
    EXPECT_EQ(error_status(long_uri, 100), 414);
    // An unfinished request line already longer than the limit.
    EXPECT_EQ(error_status("GET /" + std::string(200, 'a'), 100), 414);
    std::string long_header =
        "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(200, 'b') + "\r\n\r\n";
    EXPECT_EQ(error_status(long_header, 100), 431);
    std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (int i = 0; i < 20; i++) {
        many += "X-" + std::to_string(i) + ": 0123456789\r\n";
    }
    EXPECT_EQ(error_status(many + "\r\n", 100, 200), 431);
    EXPECT_EQ(error_status(many, 100, 200), 431);  // unfinished and already too big
    EXPECT_EQ(parse(many + "\r\n", 100, 1000).result, ParseResult::kComplete);
}

TEST(RequestTest, FindHeaderIgnoresCase) {
    Parsed p =
        parse("GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: t\r\nX-Twice: 1\r\nx-twice: 2\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    ASSERT_NE(p.r.find_header("user-agent"), nullptr);
    EXPECT_EQ(p.r.find_header("USER-AGENT")->value, "t");
    EXPECT_EQ(p.r.find_header("X-TWICE")->value, "1");  // the first one
    EXPECT_EQ(p.r.find_header("User"), nullptr);
    EXPECT_EQ(p.r.find_header("Missing"), nullptr);
}

TEST(StatusTextTest, KnownAndUnknown) {
    EXPECT_EQ(status_text(200), "OK");
    EXPECT_EQ(status_text(301), "Moved Permanently");
    EXPECT_EQ(status_text(302), "Moved Temporarily");
    EXPECT_EQ(status_text(404), "Not Found");
    EXPECT_EQ(status_text(414), "Request-URI Too Large");
    EXPECT_EQ(status_text(431), "Request Header Fields Too Large");
    EXPECT_EQ(status_text(503), "Service Temporarily Unavailable");
    EXPECT_EQ(status_text(505), "HTTP Version Not Supported");
    EXPECT_EQ(status_text(299), "");
    EXPECT_EQ(status_text(0), "");
}

}  // namespace
}  // namespace http
