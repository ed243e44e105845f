// The upstream response head parser (RFC 9112 §4, §5, §6): status line forms, HTTP/1.0 and
// 1.1 connection rules, invalid and folded fields, Content-Length (duplicates, conflicts),
// Transfer-Encoding (with and without Content-Length), the framing of 1xx/204/304 and HEAD,
// the head size limit, and heads split across reads at every byte.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "http/response_parse.h"

namespace http {
namespace {

using namespace std::string_view_literals;

constexpr size_t kMax = 4096;

struct Parsed {
    ParseResult result = ParseResult::kIncomplete;
    ParsedResponse head;
    std::string error;
};

/// Parses `in` in one call.
Parsed parse(std::string_view in, size_t max_head = kMax) {
    Parsed p;
    size_t scan = 0;
    p.result = parse_response_head(in, max_head, scan, p.head, &p.error);
    return p;
}

/// Feeds `in` in pieces of `step` bytes, the way the proxy reads (the buffer grows, `scan`
/// carries over); the result of the first call that is not kIncomplete.
Parsed parse_split(std::string_view in, size_t step, size_t max_head = kMax) {
    Parsed p;
    size_t scan = 0;
    for (size_t len = std::min(step, in.size());; len = std::min(len + step, in.size())) {
        p.result = parse_response_head(in.substr(0, len), max_head, scan, p.head, &p.error);
        if (p.result != ParseResult::kIncomplete || len == in.size()) {
            return p;
        }
    }
}

std::string header(const ParsedResponse& r, std::string_view name) {
    const Header* h = r.find(name);
    return h == nullptr ? "<none>" : std::string(h->value);
}

// ---- status line ----

TEST(ResponseParse, StatusLineWithReason) {
    std::string in = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    Parsed p = parse(in);
    ASSERT_EQ(p.result, ParseResult::kComplete) << p.error;
    EXPECT_EQ(p.head.minor, 1);
    EXPECT_EQ(p.head.status, 200);
    EXPECT_EQ(p.head.reason, "OK");
    EXPECT_EQ(p.head.head_len, in.size() - 5);  // the body is not part of the head
    EXPECT_EQ(p.head.content_length, 5u);
    EXPECT_FALSE(p.head.close);
    EXPECT_EQ(p.head.framing(false), BodyFraming::kLength);
}

TEST(ResponseParse, ReasonPhraseForms) {
    // A reason with spaces, an empty one after the space, none at all (nginx accepts these).
    Parsed p = parse("HTTP/1.1 404 Not Found Here\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_EQ(p.head.status, 404);
    EXPECT_EQ(p.head.reason, "Not Found Here");
    p = parse("HTTP/1.1 204 \r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_EQ(p.head.status, 204);
    EXPECT_EQ(p.head.reason, "");
    p = parse("HTTP/1.1 500\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_EQ(p.head.status, 500);
    EXPECT_EQ(p.head.reason, "");
    p = parse("HTTP/1.1 599 Whatever\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_EQ(p.head.status, 599);
}

TEST(ResponseParse, BareLineFeedsEndLines) {
    Parsed p = parse("HTTP/1.1 200 OK\nX-A: 1\nContent-Length: 2\n\nhi");
    ASSERT_EQ(p.result, ParseResult::kComplete) << p.error;
    EXPECT_EQ(header(p.head, "x-a"), "1");
    EXPECT_EQ(p.head.content_length, 2u);
    EXPECT_EQ(p.head.head_len,
              std::string_view("HTTP/1.1 200 OK\nX-A: 1\nContent-Length: 2\n\n").size());
    // Mixed: CRLF lines ended by a bare LF blank line, and the other way round.
    p = parse("HTTP/1.1 200 OK\r\nX-A: 1\r\n\nbody");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_EQ(p.head.head_len, std::string_view("HTTP/1.1 200 OK\r\nX-A: 1\r\n\n").size());
    p = parse("HTTP/1.1 200 OK\nX-A: 1\n\r\nbody");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_EQ(p.head.head_len, std::string_view("HTTP/1.1 200 OK\nX-A: 1\n\r\n").size());
}

TEST(ResponseParse, InvalidStatusLines) {
    for (std::string_view bad : {
             "HTTP/1.1 2000 OK\r\n\r\n",  // four digits
             "HTTP/1.1 20 OK\r\n\r\n",    // two digits
             "HTTP/1.1 abc OK\r\n\r\n",   // not digits
             "HTTP/1.1 099 Low\r\n\r\n",  // below 100
             "HTTP/1.1 200OK\r\n\r\n",    // no space after the code
             "HTTP/1.1  200 OK\r\n\r\n",  // two spaces
         }) {
        Parsed p = parse(bad);
        EXPECT_EQ(p.result, ParseResult::kError) << bad;
        EXPECT_EQ(p.error, "upstream sent invalid status") << bad;
    }
    for (std::string_view bad : {
             "HTTP/2.0 200 OK\r\n\r\n",  // not HTTP/1.x
             "HTTP/1.10 200 OK\r\n\r\n",
             "http/1.1 200 OK\r\n\r\n",  // the name is case-sensitive (RFC 9112 §2.3)
             "HTTP/1.x 200 OK\r\n\r\n",
             "ICY 200 OK\r\n\r\n",
             "this is not HTTP\r\n\r\n",
             "HTTP/1.1 20",  // too short even once complete
             "HTTP/1.1\t200 OK\r\n\r\n",
             "\r\n\r\n",
         }) {
        std::string in(bad);
        if (in.find("\n\n") == std::string::npos && in.find("\r\n\r\n") == std::string::npos) {
            in += "\r\n\r\n";
        }
        Parsed p = parse(in);
        EXPECT_EQ(p.result, ParseResult::kError) << bad;
        EXPECT_EQ(p.error, "upstream sent no valid HTTP/1.0 header") << bad;
    }
}

// ---- versions and the connection ----

TEST(ResponseParse, Http11KeepsTheConnectionUnlessClose) {
    Parsed p = parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_FALSE(p.head.close);
    p = parse("HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_TRUE(p.head.close);
    // A token in a list, and over two fields.
    p = parse("HTTP/1.1 200 OK\r\nConnection: foo, close\r\n\r\n");
    EXPECT_TRUE(p.head.close);
    p = parse("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n");
    EXPECT_TRUE(p.head.close);
    p = parse("HTTP/1.1 200 OK\r\nConnection: closed\r\n\r\n");  // not the token
    EXPECT_FALSE(p.head.close);
}

TEST(ResponseParse, Http10ClosesUnlessKeepAlive) {
    Parsed p = parse("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_EQ(p.head.minor, 0);
    EXPECT_TRUE(p.head.close);
    EXPECT_EQ(p.head.framing(false), BodyFraming::kLength);
    p = parse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 3\r\n\r\nabc");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_FALSE(p.head.close);
    // Without a length an HTTP/1.0 body ends with the connection.
    p = parse("HTTP/1.0 200 OK\r\n\r\nuntil the end");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_EQ(p.head.framing(false), BodyFraming::kUntilClose);
    EXPECT_TRUE(p.head.close);
}

TEST(ResponseParse, UpgradeToken) {
    Parsed p = parse(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_EQ(p.head.status, 101);
    EXPECT_TRUE(p.head.upgrade);
    EXPECT_EQ(p.head.framing(false), BodyFraming::kNone);
    p = parse("HTTP/1.1 200 OK\r\nUpgrade: websocket\r\n\r\n");
    EXPECT_FALSE(p.head.upgrade);  // the Connection token is what counts
}

// ---- fields ----

TEST(ResponseParse, FieldsKeepOrderAndDuplicates) {
    Parsed p = parse(
        "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-Empty:\r\nSet-Cookie: b=2\r\n"
        "X-Spaces: \t value with  inner  spaces \t\r\nX-Obs: caf\xc3\xa9\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete) << p.error;
    ASSERT_EQ(p.head.headers.size(), 5u);
    EXPECT_EQ(p.head.headers[0].name, "Set-Cookie");
    EXPECT_EQ(p.head.headers[0].value, "a=1");
    EXPECT_EQ(p.head.headers[1].value, "");
    EXPECT_EQ(p.head.headers[2].value, "b=2");
    EXPECT_EQ(p.head.headers[3].value, "value with  inner  spaces");  // OWS trimmed only
    EXPECT_EQ(p.head.headers[4].value, "caf\xc3\xa9");                // obs-text passes
    EXPECT_EQ(header(p.head, "SET-COOKIE"), "a=1");                   // find(): the first, any case
    EXPECT_EQ(header(p.head, "Missing"), "<none>");
}

TEST(ResponseParse, FoldedAndInvalidFieldsAreRejected) {
    for (std::string_view bad : std::initializer_list<std::string_view>{
             "HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\n\r\n",  // obs-fold (RFC 9112 §5.2)
             "HTTP/1.1 200 OK\r\nX-A: 1\r\n\tfolded\r\n\r\n",  // obs-fold with a tab
             "HTTP/1.1 200 OK\r\n folded-first: 1\r\n\r\n",    // a leading space
             "HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",       // no colon
             "HTTP/1.1 200 OK\r\n: no name\r\n\r\n",           // empty name
             "HTTP/1.1 200 OK\r\nX-A : 1\r\n\r\n",             // space before the colon
             "HTTP/1.1 200 OK\r\nX(A): 1\r\n\r\n",             // not a token
             "HTTP/1.1 200 OK\r\nX-A: a\x01z\r\n\r\n",         // a control character
             "HTTP/1.1 200 OK\r\nX-A: a\rz\r\n\r\n",           // a bare CR inside
             "HTTP/1.1 200 OK\r\nX-A: a\0z\r\n\r\n"sv,         // NUL
         }) {
        Parsed p = parse(bad);
        EXPECT_EQ(p.result, ParseResult::kError) << bad;
        EXPECT_EQ(p.error, "upstream sent invalid header") << bad;
    }
}

// ---- Content-Length ----

TEST(ResponseParse, ContentLengthValues) {
    Parsed p = parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_EQ(p.head.content_length, 0u);
    EXPECT_EQ(p.head.framing(false), BodyFraming::kLength);
    p = parse("HTTP/1.1 200 OK\r\ncontent-length:  123456789012 \r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_EQ(p.head.content_length, 123456789012u);
    for (std::string_view bad :
         {"", "-1", "+5", "1 2", "0x10", "12a", "1,1", "9999999999999999999"}) {
        p = parse("HTTP/1.1 200 OK\r\nContent-Length: " + std::string(bad) + "\r\n\r\n");
        EXPECT_EQ(p.result, ParseResult::kError) << bad;
        EXPECT_EQ(p.error, "upstream sent invalid \"Content-Length\" header") << bad;
    }
}

TEST(ResponseParse, DuplicateContentLength) {
    // The same value twice is one length (RFC 9110 §8.6); two different ones are an error.
    Parsed p = parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Length: 10\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_EQ(p.head.content_length, 10u);
    p = parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Length: 11\r\n\r\n0123456789");
    EXPECT_EQ(p.result, ParseResult::kError);
    EXPECT_EQ(p.error, "upstream sent invalid \"Content-Length\" header");
}

// ---- Transfer-Encoding ----

TEST(ResponseParse, ChunkedTransferEncoding) {
    Parsed p = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_TRUE(p.head.chunked);
    EXPECT_FALSE(p.head.close);
    EXPECT_EQ(p.head.framing(false), BodyFraming::kChunked);
    // Chunked last in a list, any case; or in the second of two fields.
    p = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n");
    EXPECT_TRUE(p.head.chunked);
    p = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n");
    EXPECT_TRUE(p.head.chunked);
}

TEST(ResponseParse, OtherTransferCodingsReadUntilClose) {
    // RFC 9112 §6.3 (4): chunked not final: the body ends with the connection.
    for (std::string_view te : {"gzip", "chunked, gzip", "chunked\r\nTransfer-Encoding: gzip"}) {
        Parsed p = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: " + std::string(te) + "\r\n\r\n");
        ASSERT_EQ(p.result, ParseResult::kComplete) << te;
        EXPECT_FALSE(p.head.chunked) << te;
        EXPECT_TRUE(p.head.close) << te;
        EXPECT_EQ(p.head.framing(false), BodyFraming::kUntilClose) << te;
    }
}

TEST(ResponseParse, TransferEncodingWithContentLengthIsRejected) {
    // RFC 9112 §6.3 (3): a likely smuggling attempt, "ought to be handled as an error"; nginx
    // answers 502, and halo's request parser refuses the same pair from clients.
    for (std::string_view in : {
             "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n",
         }) {
        Parsed p = parse(in);
        EXPECT_EQ(p.result, ParseResult::kError) << in;
        EXPECT_EQ(p.error,
                  "upstream sent \"Content-Length\" and \"Transfer-Encoding\" headers at the "
                  "same time")
            << in;
    }
}

TEST(ResponseParse, Http10WithTransferEncodingClosesAfter) {
    // RFC 9112 §6.1: the framing of an HTTP/1.0 message with Transfer-Encoding is suspect:
    // decode it, then close, even when keep-alive was offered.
    Parsed p =
        parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_TRUE(p.head.chunked);
    EXPECT_TRUE(p.head.close);
}

// ---- framing of bodiless responses ----

TEST(ResponseParse, FramingOfBodilessResponses) {
    struct Case {
        std::string_view in;
        bool head_request;
        BodyFraming want;
    };
    const Case cases[] = {
        {"HTTP/1.1 100 Continue\r\n\r\n", false, BodyFraming::kNone},
        {"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n", false, BodyFraming::kNone},
        {"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", false, BodyFraming::kNone},
        {"HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n", false,
         BodyFraming::kNone},
        {"HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n", false, BodyFraming::kNone},
        {"HTTP/1.1 304 Not Modified\r\n\r\n", false, BodyFraming::kNone},
        {"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", true, BodyFraming::kNone},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true, BodyFraming::kNone},
        {"HTTP/1.1 200 OK\r\n\r\n", true, BodyFraming::kNone},
        {"HTTP/1.1 200 OK\r\n\r\n", false, BodyFraming::kUntilClose},
        {"HTTP/1.1 205 Reset Content\r\nContent-Length: 0\r\n\r\n", false, BodyFraming::kLength},
    };
    for (const Case& c : cases) {
        Parsed p = parse(c.in);
        ASSERT_EQ(p.result, ParseResult::kComplete) << c.in;
        EXPECT_EQ(p.head.framing(c.head_request), c.want) << c.in << " HEAD=" << c.head_request;
    }
    // A 304 keeps its Content-Length field as information (the proxy does not frame by it).
    Parsed p = parse("HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n");
    EXPECT_EQ(p.head.content_length, 1234u);
}

TEST(ResponseParse, InterimResponseThenFinalInOneBuffer) {
    // The caller consumes head_len bytes of a 1xx and parses the final head from there.
    std::string in =
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
    Parsed p = parse(in);
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_EQ(p.head.status, 100);
    std::string rest = in.substr(p.head.head_len);
    p = parse(rest);
    ASSERT_EQ(p.result, ParseResult::kComplete);
    EXPECT_EQ(p.head.status, 201);
    EXPECT_EQ(rest.substr(p.head.head_len), "ok");
}

// ---- size limit ----

TEST(ResponseParse, HeadTooLarge) {
    std::string head = "HTTP/1.1 200 OK\r\nX-Fill: ";
    std::string tail = "\r\n\r\n";
    std::string fill(100 - head.size() - tail.size(), 'f');
    std::string exact = head + fill + tail;  // exactly 100 bytes
    ASSERT_EQ(exact.size(), 100u);
    Parsed p = parse(exact + "body bytes do not count", 100);
    EXPECT_EQ(p.result, ParseResult::kComplete) << p.error;
    EXPECT_EQ(p.head.head_len, 100u);
    p = parse(head + fill + "g" + tail, 100);
    EXPECT_EQ(p.result, ParseResult::kError);
    EXPECT_EQ(p.error, "upstream sent too big header");
    // Still incomplete at the limit; an error one byte past it (the proxy reads limit + 1).
    std::string open = head + std::string(100 - head.size(), 'f');
    EXPECT_EQ(parse(open, 100).result, ParseResult::kIncomplete);
    p = parse(open + "f", 100);
    EXPECT_EQ(p.result, ParseResult::kError);
    EXPECT_EQ(p.error, "upstream sent too big header");
}

// ---- split across reads ----

TEST(ResponseParse, SplitAtEveryByteGivesTheSameHead) {
    const std::string heads[] = {
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
        "Connection: keep-alive\r\nX-Long: " +
            std::string(300, 'v') + "\r\n\r\nhello",
        "HTTP/1.0 404 Not Found\nServer: x\nTransfer-Encoding: chunked\n\n0\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nETag: \"1\"\r\n\n",
    };
    for (const std::string& in : heads) {
        Parsed whole = parse(in);
        ASSERT_EQ(whole.result, ParseResult::kComplete) << in;
        for (size_t step = 1; step <= 7; step++) {
            Parsed p = parse_split(in, step);
            ASSERT_EQ(p.result, ParseResult::kComplete) << "step " << step;
            EXPECT_EQ(p.head.status, whole.head.status);
            EXPECT_EQ(p.head.minor, whole.head.minor);
            EXPECT_EQ(p.head.head_len, whole.head.head_len) << "step " << step;
            EXPECT_EQ(p.head.content_length, whole.head.content_length);
            EXPECT_EQ(p.head.chunked, whole.head.chunked);
            EXPECT_EQ(p.head.close, whole.head.close);
            ASSERT_EQ(p.head.headers.size(), whole.head.headers.size());
            for (size_t i = 0; i < p.head.headers.size(); i++) {
                EXPECT_EQ(p.head.headers[i].name, whole.head.headers[i].name);
                EXPECT_EQ(p.head.headers[i].value, whole.head.headers[i].value);
            }
        }
        // Every prefix that lacks the blank line is incomplete, never an error.
        size_t scan = 0;
        ParsedResponse r;
        for (size_t len = 0; len < whole.head.head_len; len++) {
            EXPECT_EQ(parse_response_head(std::string_view(in).substr(0, len), kMax, scan, r),
                      ParseResult::kIncomplete)
                << len;
        }
    }
}

TEST(ResponseParse, SplitInsideTheBlankLine) {
    // The cut falls between the CR and LF of the last line, then inside the blank line.
    std::string in = "HTTP/1.1 200 OK\r\nA: b\r\n\r\nrest";
    for (size_t cut : {in.find("b\r") + 2, in.find("\r\n\r\n") + 2, in.find("\r\n\r\n") + 3}) {
        size_t scan = 0;
        ParsedResponse r;
        ASSERT_EQ(parse_response_head(std::string_view(in).substr(0, cut), kMax, scan, r),
                  ParseResult::kIncomplete)
            << cut;
        ASSERT_EQ(parse_response_head(in, kMax, scan, r), ParseResult::kComplete) << cut;
        EXPECT_EQ(r.head_len, in.size() - 4) << cut;
        EXPECT_EQ(header(r, "A"), "b");
    }
}

}  // namespace
}  // namespace http
