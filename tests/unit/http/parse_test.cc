// The request head parser (RFC 9112), status reason phrases and header lookup.
#include "http/parse.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
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
    EXPECT_EQ(error_status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"), 501);
    EXPECT_EQ(
        error_status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
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

// ---- incremental parsing: byte at a time gives the one-shot result ----

/// Every observable field of a parse, as text (readable diffs when two parses differ).
std::string describe(ParseResult result, int status, size_t consumed, const Request& r) {
    std::string s;
    switch (result) {
        case ParseResult::kComplete:
            s = "complete consumed=" + std::to_string(consumed);
            break;
        case ParseResult::kIncomplete:
            return "incomplete";
        case ParseResult::kError:
            return "error " + std::to_string(status);
    }
    s += " method=" + std::string(r.method) + " target=" + std::string(r.target) +
         " path=" + std::string(r.path) + " args=" + std::string(r.args) +
         " minor=" + std::to_string(r.http_minor) + " uri=" + r.uri +
         " host=" + std::string(r.host) + " cl=" + std::to_string(r.content_length) +
         " chunked=" + std::to_string(r.chunked) + " expect=" + std::to_string(r.expect_continue) +
         " upgrade=" + std::to_string(r.upgrade) + " keepalive=" + std::to_string(r.keepalive);
    for (const Header& h : r.headers) {
        s += " [" + std::string(h.name) + "=" + std::string(h.value) + "]";
    }
    return s;
}

std::string one_shot(std::string_view in, size_t max_line = 8192, size_t max_head = 32768) {
    Parsed p = parse(in, max_line, max_head);
    return describe(p.result, p.status, p.consumed, p.r);
}

/// Feeds prefixes of `in` of increasing length (0, 1, 2, ...) into one HeadParser until it
/// stops answering kIncomplete, as a session does with a client sending a byte at a time.
std::string byte_at_a_time(std::string_view in, size_t max_line = 8192, size_t max_head = 32768) {
    HeadParser parser(max_line, max_head);
    Request r;
    for (size_t n = 0; n <= in.size(); n++) {
        ParseResult res = parser.parse(in.substr(0, n), r);
        if (res != ParseResult::kIncomplete) {
            return describe(res, parser.status(), parser.consumed(), r);
        }
    }
    return "incomplete";
}

/// As byte_at_a_time(), but every prefix is a copy in a fresh allocation (the previous one is
/// overwritten, then freed, after the new one exists): only offsets may survive between calls.
std::string byte_at_a_time_moving(std::string_view in, size_t max_line = 8192,
                                  size_t max_head = 32768) {
    HeadParser parser(max_line, max_head);
    Request r;
    auto buf = std::make_unique<std::string>();
    for (size_t n = 0; n <= in.size(); n++) {
        // The std::string object and its heap buffer are both new (with 32 bytes of slack so
        // that even short prefixes live on the heap).
        auto next = std::make_unique<std::string>(in.substr(0, n));
        next->reserve(n + 32);
        std::fill(buf->begin(), buf->end(), '#');
        buf = std::move(next);
        ParseResult res = parser.parse(*buf, r);
        if (res != ParseResult::kIncomplete) {
            std::string d = describe(res, parser.status(), parser.consumed(), r);
            return d;
        }
    }
    return "incomplete";
}

/// Asserts that one-shot, byte-at-a-time and moving-buffer parses of `in` agree, and returns
/// the one-shot description.
std::string all_ways(std::string_view in, size_t max_line = 8192, size_t max_head = 32768) {
    std::string once = one_shot(in, max_line, max_head);
    EXPECT_EQ(byte_at_a_time(in, max_line, max_head), once) << "byte at a time: " << in;
    EXPECT_EQ(byte_at_a_time_moving(in, max_line, max_head), once) << "moving buffer: " << in;
    return once;
}

const char* const kValidHeads[] = {
    "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /index.html?a=1&b=2 HTTP/1.1\r\nHost: example.com\r\nX-A:  v  \r\n\r\n",
    "\r\n\nGET / HTTP/1.1\nHost: a\n\n",
    "GET / HTTP/1.1\r\nHost: a\n\r\n",
    "GET / HTTP/1.0\r\n\r\n",
    "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, keep-alive\r\nUpgrade: x\r\n\r\n",
    "POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n",
    "POST /f HTTP/1.1\r\nHost: a\r\nContent-Length:\t7\t\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ChUnKeD\r\nExpect: 100-continue\r\n\r\n",
    "PUT /up HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n",
    "GET http://Example.org:8080/p/q?x=1 HTTP/1.1\r\n\r\n",
    "GET http://example.org/p HTTP/1.1\r\nHost: other.example\r\n\r\n",
    "GET https://h HTTP/1.1\r\nHost: h\r\n\r\n",
    "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /a/./b/../c//d/%41%20%2f?q=%zz HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Spaces:   \r\nX-Obs: \x80\xff\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\r\nX-Twice: 1\r\nx-twice: 2\r\n\r\n",
    "M-SEARCH /~user!$&'()*+,;=:@ HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
};

TEST(HeadParserTest, ValidHeadsByteAtATimeMatchOneShot) {
    for (const char* head : kValidHeads) {
        std::string out = all_ways(head);
        EXPECT_EQ(out.rfind("complete consumed=", 0), 0u) << head << " -> " << out;
    }
}

TEST(HeadParserTest, ValidHeadWithPipelinedBytesMatchesOneShot) {
    // The next request (or a body) after the head: incremental parsing stops at the same place.
    std::string head = "POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n";
    std::string in = head + "helloGET / HTTP/1.1\r\nHost: b\r\n\r\n";
    Parsed p = parse(in);
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_EQ(p.consumed, head.size());
    EXPECT_EQ(byte_at_a_time(in), one_shot(in));
    EXPECT_EQ(byte_at_a_time_moving(in), one_shot(in));
}

const char* const kInvalidHeads[] = {
    "BAD\r\n\r\n",
    "GET\r\n\r\n",
    "GET /\r\n\r\n",
    " GET / HTTP/1.1\r\n\r\n",
    "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
    "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET relative HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET / HTTP/1.a\r\nHost: a\r\n\r\n",
    "GET / HTTP/2.0\r\nHost: a\r\n\r\n",
    "GET / HTTP/1.1\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
    "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01z\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nX: a\rz\r\n\r\n",
    "GET / HTTP/1.1\r\r\nHost: a\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
    "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
    "GET /.. HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /a/%zz HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET http:///p HTTP/1.1\r\n\r\n",
    "GET * HTTP/1.1\r\nHost: a\r\n\r\n",
};

TEST(HeadParserTest, InvalidHeadsByteAtATimeMatchOneShot) {
    for (const char* head : kInvalidHeads) {
        std::string out = all_ways(head);
        EXPECT_EQ(out.rfind("error ", 0), 0u) << head << " -> " << out;
    }
}

TEST(HeadParserTest, ErrorIsReportedAsSoonAsTheBadLineEnds) {
    // A bad request line is refused before the rest of the head arrives.
    HeadParser p(8192, 32768);
    Request r;
    EXPECT_EQ(p.parse("GET / HTTP/1.1 x", r), ParseResult::kIncomplete);
    EXPECT_EQ(p.parse("GET / HTTP/1.1 x\r\n", r), ParseResult::kError);
    EXPECT_EQ(p.status(), 400);
}

TEST(HeadParserTest, MethodsAreUpperCaseLettersUnderscoreAndDash) {
    // nginx's rule: a lower-case or other token character is refused (never forwarded).
    for (const char* head :
         {"get / HTTP/1.1\r\nHost: a\r\n\r\n", "Get / HTTP/1.1\r\nHost: a\r\n\r\n",
          "GET1 / HTTP/1.1\r\nHost: a\r\n\r\n", "G~T / HTTP/1.1\r\nHost: a\r\n\r\n"}) {
        HeadParser p(8192, 32768);
        Request r;
        EXPECT_EQ(p.parse(head, r), ParseResult::kError) << head;
        EXPECT_EQ(p.status(), 400) << head;
        EXPECT_EQ(p.reason(), "client sent invalid method") << head;
        EXPECT_TRUE(p.line_refused());
    }
    for (const char* head :
         {"G_T / HTTP/1.1\r\nHost: a\r\n\r\n", "M-SEARCH / HTTP/1.1\r\nHost: a\r\n\r\n"}) {
        Parsed p = parse(head);
        EXPECT_EQ(p.result, ParseResult::kComplete) << head;
    }
}

TEST(HeadParserTest, BadMethodByteIsRefusedAtOnce) {
    // A TLS ClientHello on a plain port: no line end will come, the first byte is enough.
    HeadParser p(8192, 32768);
    Request r;
    std::string hello("\x16\x03\x01\x00\x05hello", 10);
    EXPECT_EQ(p.parse(hello, r), ParseResult::kError);
    EXPECT_EQ(p.status(), 400);
    EXPECT_EQ(p.reason(), "client sent invalid method");
    EXPECT_EQ(p.request_line(hello), hello);
    // Byte at a time: refused with the first byte, not later.
    HeadParser q(8192, 32768);
    EXPECT_EQ(q.parse(hello.substr(0, 1), r), ParseResult::kError);
    HeadParser lower(8192, 32768);
    EXPECT_EQ(lower.parse("GE", r), ParseResult::kIncomplete);
    EXPECT_EQ(lower.parse("GEt", r), ParseResult::kError);
}

TEST(HeadParserTest, BareCrIsRefusedAtOnce) {
    HeadParser p(8192, 32768);
    Request r;
    EXPECT_EQ(p.parse("GET /a\r", r), ParseResult::kIncomplete);  // may be a CRLF
    EXPECT_EQ(p.parse("GET /a\rb", r), ParseResult::kError);
    EXPECT_EQ(p.status(), 400);
    EXPECT_EQ(p.request_line("GET /a\rb"), "GET /a");  // as nginx: up to the CR
    HeadParser h(8192, 32768);
    std::string head = "GET / HTTP/1.1\r\nHost: x\rY";
    EXPECT_EQ(h.parse(head, r), ParseResult::kError);
    EXPECT_FALSE(h.line_refused());
    EXPECT_EQ(h.reason(), "client sent invalid header line: \"Host: x\\x0D\"");
    EXPECT_EQ(h.request_line(head), "GET / HTTP/1.1");
}

TEST(HeadParserTest, RefusalsSayWhyAndKeepTheRequestLine) {
    struct Case {
        std::string head;
        int status;
        std::string reason;
        std::string line;
        bool line_refused;
    };
    const Case cases[] = {
        {"GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400, "client sent invalid request",
         "GET /%zz HTTP/1.1", true},
        {"GET /" + std::string(100, 'u') + " HTTP/1.1\r\n", 414, "client sent too long URI",
         "GET /" + std::string(100, 'u') + " HTTP/1.1", true},
        {"GET /" + std::string(100, 'u'), 414, "client sent too long URI",
         "GET /" + std::string(100, 'u'), true},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\n", 400,
         "client sent duplicate header line: \"content-length: 6\", previous value: "
         "\"Content-Length: 5\"",
         "POST / HTTP/1.1", false},
        {"GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Basic YTpi\r\nauthorization: Basic "
         "Yzpk\r\n\r\n",
         400,
         "client sent duplicate header line: \"authorization: Basic Yzpk\", previous value: "
         "\"Authorization: Basic YTpi\"",
         "GET / HTTP/1.1", false},
        {"GET / HTTP/2.0\r\n\r\n", 505, "client sent invalid version", "GET / HTTP/2.0", true},
        {"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "client sent invalid host header",
         "GET / HTTP/1.1", false},
        {"GET / HTTP/1.1\r\n\r\n", 400, "client sent HTTP/1.1 request without \"Host\" header",
         "GET / HTTP/1.1", false},
        {"GET / HTTP/1.1\r\nHost: a\r\nBad Name: \"x\"\r\n\r\n", 400,
         "client sent invalid header line: \"Bad Name: \\x22x\\x22\"", "GET / HTTP/1.1", false},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501,
         "client sent unknown \"Transfer-Encoding\": \"gzip\"", "POST / HTTP/1.1", false},
        {"GET http://a/b/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400,
         "client sent duplicate host header: \"Host: b\", previous value: \"Host: a\"",
         "GET http://a/b/ HTTP/1.1", false},
    };
    for (const Case& c : cases) {
        HeadParser p(64, 32768);
        Request r;
        ASSERT_EQ(p.parse(c.head, r), ParseResult::kError) << c.head;
        EXPECT_EQ(p.status(), c.status) << c.head;
        EXPECT_EQ(p.reason(), c.reason) << c.head;
        EXPECT_EQ(p.request_line(c.head), c.line) << c.head;
        EXPECT_EQ(p.line_refused(), c.line_refused) << c.head;
    }
}

TEST(HeadParserTest, RequestLineOfACompleteHeadIsAsSent) {
    std::string in = "\r\nGET /a?b HTTP/1.0\r\n\r\n";
    Parsed p = parse(in);
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_EQ(p.r.request_line, "GET /a?b HTTP/1.0");
}

TEST(HeadParserTest, ResetParsesTheNextRequest) {
    HeadParser p(8192, 32768);
    Request r;
    std::string first = "GET /1 HTTP/1.1\r\nHost: a\r\nX-One: 1\r\n\r\n";
    ASSERT_EQ(p.parse(first, r), ParseResult::kComplete);
    EXPECT_EQ(p.consumed(), first.size());
    p.reset();
    Request r2;
    std::string second = "POST /2 HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc";
    ASSERT_EQ(p.parse(second, r2), ParseResult::kComplete);
    EXPECT_EQ(r2.method, "POST");
    EXPECT_EQ(r2.uri, "/2");
    EXPECT_EQ(r2.http_minor, 0);
    EXPECT_EQ(r2.content_length, 3u);
    ASSERT_EQ(r2.headers.size(), 1u);  // nothing left over from the first request
    EXPECT_EQ(p.consumed(), second.size() - 3);
    // And after an error.
    p.reset();
    Request r3;
    ASSERT_EQ(p.parse("BAD\r\n", r3), ParseResult::kError);
    p.reset();
    EXPECT_EQ(p.status(), 0);
    ASSERT_EQ(p.parse(first, r3), ParseResult::kComplete);
    EXPECT_EQ(r3.uri, "/1");
}

// ---- limits: 414 for the request line, 431 for header lines and the whole head ----

TEST(HeadParserTest, LimitsOneShotAndIncremental) {
    std::string long_uri = "GET /" + std::string(200, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n";
    EXPECT_EQ(all_ways(long_uri, 100), "error 414");
    std::string long_header =
        "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(200, 'b') + "\r\n\r\n";
    EXPECT_EQ(all_ways(long_header, 100), "error 431");
    std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (int i = 0; i < 20; i++) {
        many += "X-" + std::to_string(i) + ": 0123456789\r\n";
    }
    EXPECT_EQ(all_ways(many + "\r\n", 100, 200), "error 431");
    EXPECT_EQ(all_ways(many + "\r\n", 100, 1000).rfind("complete", 0), 0u);
    // Many empty lines before the request line count towards the head.
    EXPECT_EQ(all_ways(std::string(300, '\n') + "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 100, 200),
              "error 431");
}

TEST(HeadParserTest, LimitsAreDetectedBeforeTheLineEnds) {
    // A client streaming an endless line is stopped once it is over the limit.
    HeadParser p(100, 1000);
    Request r;
    std::string line = "GET /" + std::string(95, 'a');  // 100 bytes, no end yet
    EXPECT_EQ(p.parse(line, r), ParseResult::kIncomplete);
    EXPECT_EQ(p.parse(line + "a", r), ParseResult::kError);
    EXPECT_EQ(p.status(), 414);

    HeadParser h(100, 1000);
    std::string head = "GET / HTTP/1.1\r\nX: " + std::string(97, 'b');  // header line of 100
    EXPECT_EQ(h.parse(head, r), ParseResult::kIncomplete);
    EXPECT_EQ(h.parse(head + "b", r), ParseResult::kError);
    EXPECT_EQ(h.status(), 431);

    HeadParser t(100, 200);
    std::string big = "GET / HTTP/1.1\r\n";
    while (big.size() <= 200) {
        big += "X: 0123456789\r\n";
    }
    EXPECT_EQ(t.parse(big, r), ParseResult::kError);  // no end of head yet, already too big
    EXPECT_EQ(t.status(), 431);
}

// A line exactly `max_line` long (CRLF not counted) is accepted one-shot; it must be accepted
// the same way when its CR and LF arrive in separate reads.
TEST(HeadParserTest, LineOfExactlyTheLimitDoesNotDependOnHowItArrives) {
    std::string request_line = "GET /" + std::string(100 - 14, 'a') + " HTTP/1.1";
    ASSERT_EQ(request_line.size(), 100u);
    std::string in = request_line + "\r\nHost: a\r\n\r\n";
    EXPECT_EQ(one_shot(in, 100).rfind("complete", 0), 0u) << one_shot(in, 100);
    EXPECT_EQ(byte_at_a_time(in, 100), one_shot(in, 100));

    std::string header = "X: " + std::string(97, 'b');
    ASSERT_EQ(header.size(), 100u);
    std::string in2 = "GET / HTTP/1.1\r\nHost: a\r\n" + header + "\r\n\r\n";
    EXPECT_EQ(one_shot(in2, 100).rfind("complete", 0), 0u) << one_shot(in2, 100);
    EXPECT_EQ(byte_at_a_time(in2, 100), one_shot(in2, 100));

    // The parser split exactly after the CR.
    HeadParser p(100, 1000);
    Request r;
    EXPECT_EQ(p.parse(in.substr(0, 101), r), ParseResult::kIncomplete) << p.status();
    EXPECT_EQ(p.parse(in, r), ParseResult::kComplete) << p.status();
}

TEST(HeadParserTest, LineOneOverTheLimitIsRefusedBothWays) {
    std::string request_line = "GET /" + std::string(101 - 14, 'a') + " HTTP/1.1";
    ASSERT_EQ(request_line.size(), 101u);
    EXPECT_EQ(all_ways(request_line + "\r\nHost: a\r\n\r\n", 100), "error 414");
    std::string header = "X: " + std::string(98, 'b');
    EXPECT_EQ(all_ways("GET / HTTP/1.1\r\nHost: a\r\n" + header + "\r\n\r\n", 100), "error 431");
}

// ---- bare CR (RFC 9112 §2.2) ----

TEST(ParseRequestTest, BareCrIsRefused) {
    EXPECT_EQ(all_ways("GET / HTTP/1.1\rHost: a\r\n\r\n"), "error 400");
    EXPECT_EQ(all_ways("GET /\r HTTP/1.1\r\nHost: a\r\n\r\n"), "error 400");
    EXPECT_EQ(all_ways("GET\r/ HTTP/1.1\r\nHost: a\r\n\r\n"), "error 400");
    EXPECT_EQ(all_ways("GET / HTTP/1.1\r\r\nHost: a\r\n\r\n"), "error 400");
    EXPECT_EQ(all_ways("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n"), "error 400");
    EXPECT_EQ(all_ways("GET / HTTP/1.1\r\nHost: a\r\r\n\r\n"), "error 400");
    EXPECT_EQ(all_ways("GET / HTTP/1.1\r\nHo\rst: a\r\n\r\n"), "error 400");
    EXPECT_EQ(all_ways("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n"), "error 400");
    EXPECT_EQ(all_ways("\r\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), "error 400");
}

// ---- request smuggling defences ----

TEST(ParseRequestTest, SmugglingContentLengthAndTransferEncoding) {
    const std::string pre = "POST / HTTP/1.1\r\nHost: a\r\n";
    EXPECT_EQ(all_ways(pre + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
              "error 400");
    EXPECT_EQ(all_ways(pre + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"),
              "error 400");
    EXPECT_EQ(all_ways(pre + "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n"),
              "error 400");
    // TE other than chunked is 501, even with a CL (nginx checks the coding first).
    EXPECT_EQ(all_ways(pre + "Content-Length: 3\r\nTransfer-Encoding: gzip\r\n\r\n"), "error 501");
}

TEST(ParseRequestTest, SmugglingDuplicates) {
    const std::string pre = "POST / HTTP/1.1\r\nHost: a\r\n";
    EXPECT_EQ(all_ways(pre + "Content-Length: 5\r\nContent-Length: 5\r\n\r\n"), "error 400");
    EXPECT_EQ(all_ways(pre + "Content-Length: 5\r\nCONTENT-LENGTH: 6\r\n\r\n"), "error 400");
    EXPECT_EQ(all_ways(pre + "Content-Length: 5, 5\r\n\r\n"), "error 400");
    EXPECT_EQ(all_ways(pre + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
              "error 400");
    EXPECT_EQ(all_ways(pre + "Transfer-Encoding: chunked\r\ntransfer-encoding: identity\r\n\r\n"),
              "error 400");
}

TEST(ParseRequestTest, SmugglingTransferEncodingInHttp10) {
    EXPECT_EQ(all_ways("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), "error 400");
    EXPECT_EQ(all_ways("POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"),
              "error 400");
}

TEST(ParseRequestTest, SmugglingUnknownTransferCodings) {
    const std::string pre = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ";
    for (const char* te : {"gzip", "identity", "chunked, gzip", "gzip, chunked", "chunked, chunked",
                           "chunked;q=1", "xchunked", "chunkedx"}) {
        EXPECT_EQ(all_ways(pre + te + "\r\n\r\n"), "error 501") << te;
    }
    // Surrounding whitespace is not part of the value.
    EXPECT_EQ(all_ways(pre + " \tchunked \t\r\n\r\n").rfind("complete", 0), 0u);
}

TEST(ParseRequestTest, SmugglingContentLengthSyntax) {
    const std::string pre = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ";
    for (const char* cl : {"+5", "-5", "5 5", "5,", "0x5", "5a", "a", "1e3", "5.0", "",
                           "99999999999999999999", "1234567890123456789",
                           "\x01"
                           "5",
                           "5\x7f"}) {
        EXPECT_EQ(all_ways(pre + cl + "\r\n\r\n"), "error 400") << "Content-Length: " << cl;
    }
    // Optional whitespace around the value is fine; leading zeros are digits.
    Parsed p = parse(pre + "  17 \t\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_EQ(p.r.content_length, 17u);
    p = parse(pre + "007\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_EQ(p.r.content_length, 7u);
    p = parse(pre + "123456789012345678\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_EQ(p.r.content_length, 123456789012345678u);
}

TEST(ParseRequestTest, SmugglingObsFold) {
    EXPECT_EQ(all_ways("GET / HTTP/1.1\r\nHost: a\r\nX: one\r\n two\r\n\r\n"), "error 400");
    EXPECT_EQ(all_ways("GET / HTTP/1.1\r\nHost: a\r\nX: one\r\n\ttwo\r\n\r\n"), "error 400");
    // A folded line straight after the request line.
    EXPECT_EQ(all_ways("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), "error 400");
    // A fold hiding a Transfer-Encoding from a lenient front end.
    EXPECT_EQ(all_ways("POST / HTTP/1.1\r\nHost: a\r\nX: y\r\n Transfer-Encoding: chunked\r\n"
                       "Content-Length: 3\r\n\r\n"),
              "error 400");
}

TEST(ParseRequestTest, SmugglingWhitespaceBeforeColon) {
    EXPECT_EQ(all_ways("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n"),
              "error 400");
    EXPECT_EQ(all_ways("POST / HTTP/1.1\r\nHost: a\r\nContent-Length\t: 3\r\n\r\n"), "error 400");
    EXPECT_EQ(all_ways("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"), "error 400");
}

/// A string literal with embedded NULs, whole.
template <size_t N>
std::string bytes(const char (&s)[N]) {
    return std::string(s, N - 1);
}

TEST(ParseRequestTest, SmugglingControlCharacters) {
    const std::string pre = "GET / HTTP/1.1\r\nHost: a\r\n";
    EXPECT_EQ(all_ways(pre + bytes("X: a\0b\r\n\r\n")), "error 400");
    EXPECT_EQ(all_ways(pre + bytes("X\0: ab\r\n\r\n")), "error 400");
    EXPECT_EQ(all_ways(pre + "X: a\x1f"
                             "b\r\n\r\n"),
              "error 400");
    EXPECT_EQ(all_ways(pre + "X: a\x7f\r\n\r\n"), "error 400");
    EXPECT_EQ(all_ways(pre + "X: a\x0b\r\n\r\n"), "error 400");
    EXPECT_EQ(all_ways(pre + "X: a\x0c\r\n\r\n"), "error 400");
    EXPECT_EQ(all_ways(pre + "Transfer-Encoding: chunked\x0b\r\n\r\n"), "error 400");
    EXPECT_EQ(all_ways(bytes("GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n")), "error 400");
    EXPECT_EQ(all_ways(bytes("G\0T / HTTP/1.1\r\nHost: a\r\n\r\n")), "error 400");
    // A name with other characters is not refused but ignored, as nginx (ignore_invalid_headers).
    EXPECT_EQ(all_ways(pre + "X(: a\r\n\r\n").rfind("complete", 0), 0u);
    EXPECT_EQ(all_ways(pre + "X Y: a\r\n\r\n"), "error 400");
    // obs-text is allowed in values.
    EXPECT_EQ(all_ways(pre + "X: \xc3\xa9\r\n\r\n").rfind("complete", 0), 0u);
}

// ---- $uri: decoded, dot-segments resolved, slashes merged ----

std::string uri_of(std::string_view target) {
    std::string in = "GET " + std::string(target) + " HTTP/1.1\r\nHost: a\r\n\r\n";
    Parsed p = parse(in);
    if (p.result != ParseResult::kComplete) {
        return "error " + std::to_string(p.status);
    }
    return p.r.uri;
}

TEST(ParseRequestTest, UriNormalization) {
    EXPECT_EQ(uri_of("/"), "/");
    EXPECT_EQ(uri_of("/a/./b"), "/a/b");
    EXPECT_EQ(uri_of("/a/../b"), "/b");
    EXPECT_EQ(uri_of("//a///b"), "/a/b");
    EXPECT_EQ(uri_of("/%41%2fb"), "/A/b");
    EXPECT_EQ(uri_of("/a/.."), "/");
    EXPECT_EQ(uri_of("/a/b/.."), "/a/");
    EXPECT_EQ(uri_of("/a/."), "/a/");
    EXPECT_EQ(uri_of("/."), "/");
    EXPECT_EQ(uri_of("/a/b/"), "/a/b/");
    EXPECT_EQ(uri_of("/a//"), "/a/");
    EXPECT_EQ(uri_of("/a/b/../../c"), "/c");
    EXPECT_EQ(uri_of("/a/%2e%2e/b"), "/b");
    EXPECT_EQ(uri_of("/a/%2E/b"), "/a/b");
    EXPECT_EQ(uri_of("/a/..b/.c"), "/a/..b/.c");
    EXPECT_EQ(uri_of("/a/.../b"), "/a/.../b");
    EXPECT_EQ(uri_of("/a%20b+c"), "/a b+c");
    EXPECT_EQ(uri_of("/a?x=/../..&y=%zz"), "/a");  // the query is not the path
    EXPECT_EQ(uri_of("/%C3%A9"), "/\xc3\xa9");
}

TEST(ParseRequestTest, UriEscapingTheRootOrBadEscapesAre400) {
    EXPECT_EQ(uri_of("/.."), "error 400");
    EXPECT_EQ(uri_of("/../a"), "error 400");
    EXPECT_EQ(uri_of("/a/../.."), "error 400");
    EXPECT_EQ(uri_of("/a/b/../../../c"), "error 400");
    EXPECT_EQ(uri_of("/%2e%2e/x"), "error 400");
    EXPECT_EQ(uri_of("/a%2f..%2f..%2fetc"), "error 400");
    EXPECT_EQ(uri_of("/a/%zz"), "error 400");
    EXPECT_EQ(uri_of("/a/%4"), "error 400");
    EXPECT_EQ(uri_of("/a/%"), "error 400");
    EXPECT_EQ(uri_of("/a%g1"), "error 400");
    EXPECT_EQ(uri_of("/a%00b"), "error 400");
}

// ---- target forms ----

TEST(ParseRequestTest, AbsoluteFormDetails) {
    std::string in = "GET http://h:81/a/../b//c?x=/y HTTP/1.1\r\n\r\n";
    Parsed p = parse(in);
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_EQ(p.r.host, "h:81");
    EXPECT_EQ(p.r.path, "/a/../b//c");
    EXPECT_EQ(p.r.uri, "/b/c");
    EXPECT_EQ(p.r.args, "x=/y");
    EXPECT_EQ(p.r.target, "http://h:81/a/../b//c?x=/y");

    std::string q = "GET http://h?x=/y HTTP/1.1\r\n\r\n";  // query without a path
    p = parse(q);
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_EQ(p.r.host, "h");
    EXPECT_EQ(p.r.uri, "/");
    EXPECT_EQ(p.r.args, "x=/y");

    EXPECT_EQ(all_ways("GET http:///p HTTP/1.1\r\n\r\n"), "error 400");    // no authority
    EXPECT_EQ(all_ways("GET http://h/.. HTTP/1.1\r\n\r\n"), "error 400");  // escapes the root
    EXPECT_EQ(all_ways("GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n"), "error 400");
    EXPECT_EQ(all_ways("GET http://a..b/ HTTP/1.1\r\n\r\n"), "error 400");
    // HTTP/1.0 absolute-form works as well and sets the host.
    p = parse("GET http://old/x HTTP/1.0\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_EQ(p.r.host, "old");
}

// RFC 3986 §3.1: schemes are case-insensitive (nginx accepts "HTTP://").
TEST(ParseRequestTest, AbsoluteFormSchemeIsCaseInsensitive) {
    Parsed p = parse("GET HTTP://h/x HTTP/1.1\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete) << "status " << p.status;
    EXPECT_EQ(p.r.host, "h");
    EXPECT_EQ(p.r.uri, "/x");
}

TEST(ParseRequestTest, OptionsAsteriskDetails) {
    Parsed p = parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_EQ(p.r.target, "*");
    EXPECT_EQ(p.r.uri, "*");
    EXPECT_TRUE(p.r.args.empty());
    EXPECT_EQ(all_ways("OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n"), "error 400");
    EXPECT_EQ(all_ways("OPTIONS ** HTTP/1.1\r\nHost: a\r\n\r\n"), "error 400");
    EXPECT_EQ(all_ways("POST * HTTP/1.1\r\nHost: a\r\n\r\n"), "error 400");
    EXPECT_EQ(all_ways("OPTIONS * HTTP/1.1\r\n\r\n"), "error 400");  // Host still required
}

// ---- Connection, Expect ----

TEST(ParseRequestTest, ConnectionTokenLists) {
    auto conn = [](std::string_view version, std::string_view values) {
        std::string in = "GET / HTTP/1." + std::string(version) + "\r\nHost: a\r\n" +
                         std::string(values) + "\r\n";
        Parsed p = parse(in);
        EXPECT_EQ(p.result, ParseResult::kComplete) << in;
        return std::string(p.r.keepalive ? "keepalive" : "close") + (p.r.upgrade ? "+upgrade" : "");
    };
    EXPECT_EQ(conn("1", ""), "keepalive");
    EXPECT_EQ(conn("1", "Connection: keep-alive\r\n"), "keepalive");
    EXPECT_EQ(conn("1", "Connection: close\r\n"), "close");
    EXPECT_EQ(conn("1", "Connection: CLOSE\r\n"), "close");
    EXPECT_EQ(conn("1", "Connection: keep-alive, close\r\n"), "close");
    EXPECT_EQ(conn("1", "Connection: foo,close ,bar\r\n"), "close");
    EXPECT_EQ(conn("1", "Connection: closed\r\n"), "keepalive");  // a different token
    EXPECT_EQ(conn("1", "Connection: te, x-close\r\n"), "keepalive");
    EXPECT_EQ(conn("1", "Connection: Upgrade\r\n"), "keepalive+upgrade");
    EXPECT_EQ(conn("1", "Connection: keep-alive, Upgrade\r\n"), "keepalive+upgrade");
    EXPECT_EQ(conn("1", "Connection: ,,\r\n"), "keepalive");
    EXPECT_EQ(conn("1", "Connection: x\r\nConnection: close\r\n"), "close");
    EXPECT_EQ(conn("0", ""), "close");
    EXPECT_EQ(conn("0", "Connection: keep-alive\r\n"), "keepalive");
    EXPECT_EQ(conn("0", "Connection: foo, Keep-Alive\r\n"), "keepalive");
    EXPECT_EQ(conn("0", "Connection: keep-alive, close\r\n"), "close");
}

// "close" is final wherever it appears (RFC 9112 §9.6; nginx: close wins over keep-alive).
TEST(ParseRequestTest, ConnectionCloseWinsOverKeepAliveInHttp10) {
    Parsed p = parse("GET / HTTP/1.0\r\nConnection: close, keep-alive\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_FALSE(p.r.keepalive);
    p = parse("GET / HTTP/1.0\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_FALSE(p.r.keepalive);
}

TEST(ParseRequestTest, ExpectContinueFlag) {
    auto expect = [](std::string_view headers) {
        std::string in =
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n" + std::string(headers) + "\r\n";
        Parsed p = parse(in);
        EXPECT_EQ(p.result, ParseResult::kComplete) << in;
        return p.r.expect_continue;
    };
    EXPECT_FALSE(expect(""));
    EXPECT_TRUE(expect("Expect: 100-continue\r\n"));
    EXPECT_TRUE(expect("expect: 100-Continue\r\n"));
    EXPECT_TRUE(expect("Expect:  100-continue  \r\n"));
    EXPECT_FALSE(expect("Expect: 100-continue-x\r\n"));
    EXPECT_FALSE(expect("Expect: 200-ok\r\n"));
    EXPECT_FALSE(expect("X-Expect: 100-continue\r\n"));
}

}  // namespace
}  // namespace http
