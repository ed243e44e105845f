// The chunked body decoder (RFC 9112 §7.1): valid bodies fed whole, split at every byte position
// and a byte at a time; extensions, trailers, hex case; malformed framing; where it stops.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "http/parse.h"

namespace http {
namespace {

using Result = ChunkedDecoder::Result;

/// What feeding a decoder produced: the body, how it ended and how many input bytes it used.
struct Decoded {
    std::string body;
    std::string outcome;  // "done", "need-more" or "error"
    size_t used = 0;      // input bytes consumed in total
    std::string left;     // input bytes not consumed (pipelined data after kDone)
};

/// Feeds `pieces` one after the other, the way a session does: unconsumed bytes stay in front
/// of the next piece; data spans are collected; stops at kDone or kError.
Decoded feed(const std::vector<std::string>& pieces) {
    ChunkedDecoder d;
    Decoded out;
    std::string buf;
    for (const std::string& piece : pieces) {
        buf += piece;
        for (;;) {
            size_t used = 12345;
            std::string_view data = "stale";
            Result res = d.decode(buf, used, data);
            EXPECT_LE(used, buf.size());
            if (!data.empty()) {
                // The span is a view into the input, inside the consumed part.
                EXPECT_GE(data.data(), buf.data());
                EXPECT_LE(data.data() + data.size(), buf.data() + used);
            }
            out.body.append(data);
            out.used += used;
            buf.erase(0, used);
            if (res == Result::kError) {
                out.outcome = "error";
                out.left = buf;
                return out;
            }
            if (res == Result::kDone) {
                EXPECT_TRUE(d.done());
                out.outcome = "done";
                out.left = buf;
                return out;
            }
            if (used == 0 && data.empty()) {
                break;  // needs more input
            }
            if (buf.empty()) {
                break;
            }
        }
    }
    out.outcome = "need-more";
    out.left = buf;
    return out;
}

Decoded whole(std::string_view in) {
    return feed({std::string(in)});
}

Decoded bytewise(std::string_view in) {
    std::vector<std::string> pieces;
    for (char c : in) {
        pieces.emplace_back(1, c);
    }
    return feed(pieces);
}

/// Decodes `in` whole, a byte at a time and split in two at every position; every way must
/// give `body` and end with `outcome`.
void expect_all_ways(std::string_view in, std::string_view body, std::string_view outcome) {
    Decoded w = whole(in);
    EXPECT_EQ(w.outcome, outcome) << "whole: " << in;
    EXPECT_EQ(w.body, body) << "whole: " << in;
    Decoded b = bytewise(in);
    EXPECT_EQ(b.outcome, outcome) << "bytewise: " << in;
    EXPECT_EQ(b.body, body) << "bytewise: " << in;
    std::string bad_cuts;  // one failure line for all split positions
    for (size_t cut = 0; cut <= in.size(); cut++) {
        Decoded s = feed({std::string(in.substr(0, cut)), std::string(in.substr(cut))});
        if (s.outcome != outcome || s.body != body) {
            bad_cuts += " " + std::to_string(cut) + "(" + s.outcome + ")";
        }
    }
    EXPECT_EQ(bad_cuts, "") << "split at these positions went wrong: " << in;
}

void expect_valid(std::string_view in, std::string_view body) {
    expect_all_ways(in, body, "done");
    EXPECT_EQ(whole(in).used, in.size()) << in;
}

void expect_error(std::string_view in) {
    expect_all_ways(in, whole(in).body, "error");
}

// ---- valid bodies ----

TEST(ChunkedDecoderTest, EmptyBody) {
    expect_valid("0\r\n\r\n", "");
}

TEST(ChunkedDecoderTest, OneChunk) {
    expect_valid("5\r\nhello\r\n0\r\n\r\n", "hello");
}

TEST(ChunkedDecoderTest, SeveralChunks) {
    expect_valid("5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n", "hello world");
}

TEST(ChunkedDecoderTest, DataMayContainFramingBytes) {
    // CR, LF, digits and NULs in the data are data.
    std::string data("0\r\n\r\n\0\n5", 8);
    expect_valid("8\r\n" + data + "\r\n0\r\n\r\n", data);
}

TEST(ChunkedDecoderTest, HexSizesInEitherCase) {
    std::string a(10, 'a'), b(0xAB, 'b'), c(0x1f, 'c');
    expect_valid("A\r\n" + a + "\r\nab\r\n" + b + "\r\n1F\r\n" + c + "\r\n0\r\n\r\n", a + b + c);
    expect_valid("00000a\r\n" + a + "\r\n000\r\n\r\n", a);  // leading zeros
}

TEST(ChunkedDecoderTest, LargeChunk) {
    std::string big(70000, 'x');
    for (size_t i = 0; i < big.size(); i += 7) {
        big[i] = static_cast<char>('a' + i % 26);
    }
    std::string in = "11170\r\n" + big + "\r\n0\r\n\r\n";
    Decoded w = whole(in);
    EXPECT_EQ(w.outcome, "done");
    EXPECT_EQ(w.body, big);
    // In pieces of 1000 bytes.
    std::vector<std::string> pieces;
    for (size_t i = 0; i < in.size(); i += 1000) {
        pieces.push_back(in.substr(i, 1000));
    }
    Decoded p = feed(pieces);
    EXPECT_EQ(p.outcome, "done");
    EXPECT_EQ(p.body, big);
}

TEST(ChunkedDecoderTest, Extensions) {
    expect_valid("5;name=value\r\nhello\r\n0\r\n\r\n", "hello");
    expect_valid("5;a;b=c;d=\"q;x\"\r\nhello\r\n0;last=1\r\n\r\n", "hello");
    expect_valid("5 ;a=b\r\nhello\r\n0\r\n\r\n", "hello");  // BWS before ';'
    expect_valid("5\t;a\r\nhello\r\n0\r\n\r\n", "hello");
    expect_valid("5;" + std::string(1000, 'e') + "\r\nhello\r\n0\r\n\r\n", "hello");
}

TEST(ChunkedDecoderTest, Trailers) {
    expect_valid("5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n", "hello");
    expect_valid("5\r\nhello\r\n0\r\nA: 1\r\nB: 2\r\nC:\r\n\r\n", "hello");
    expect_valid("0\r\nX: a\tb \x80\r\n\r\n", "");
}

// ---- where it stops ----

TEST(ChunkedDecoderTest, DoneLeavesPipelinedBytesUntouched) {
    std::string body = "3\r\nabc\r\n0\r\nT: v\r\n\r\n";
    std::string next = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    std::string in = body + next;
    Decoded w = whole(in);
    EXPECT_EQ(w.outcome, "done");
    EXPECT_EQ(w.body, "abc");
    EXPECT_EQ(w.used, body.size());
    EXPECT_EQ(w.left, next);
    Decoded b = feed({body.substr(0, 10), body.substr(10) + next});
    EXPECT_EQ(b.outcome, "done");
    EXPECT_EQ(b.used, body.size());
    EXPECT_EQ(b.left, next);
    // Even a next "request" that looks like chunks.
    Decoded c = whole("0\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    EXPECT_EQ(c.outcome, "done");
    EXPECT_EQ(c.used, 5u);
    EXPECT_EQ(c.left, "5\r\nhello\r\n0\r\n\r\n");
}

TEST(ChunkedDecoderTest, CallsAfterDoneConsumeNothing) {
    ChunkedDecoder d;
    size_t used = 0;
    std::string_view data;
    std::string in = "0\r\n\r\nNEXT";
    ASSERT_EQ(d.decode(in, used, data), Result::kDone);
    EXPECT_EQ(used, 5u);
    EXPECT_TRUE(d.done());
    EXPECT_EQ(d.decode(std::string_view(in).substr(used), used, data), Result::kDone);
    EXPECT_EQ(used, 0u);
    EXPECT_TRUE(data.empty());
    d.reset();
    EXPECT_FALSE(d.done());
    EXPECT_EQ(d.decode("1\r\n", used, data), Result::kNeedMore);
    EXPECT_EQ(used, 3u);
}

TEST(ChunkedDecoderTest, StopsAfterEachDataSpan) {
    ChunkedDecoder d;
    size_t used = 0;
    std::string_view data;
    std::string in = "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    ASSERT_EQ(d.decode(in, used, data), Result::kNeedMore);
    EXPECT_EQ(data, "abc");
    EXPECT_EQ(used, 6u);
    std::string_view rest = std::string_view(in).substr(used);
    ASSERT_EQ(d.decode(rest, used, data), Result::kNeedMore);
    EXPECT_EQ(data, "de");
    EXPECT_EQ(used, 7u);  // "\r\n2\r\nde"
    rest = rest.substr(used);
    ASSERT_EQ(d.decode(rest, used, data), Result::kDone);
    EXPECT_TRUE(data.empty());
    EXPECT_EQ(used, rest.size());
}

TEST(ChunkedDecoderTest, IncompleteBodiesNeedMore) {
    for (const char* in : {"", "5", "5\r", "5\r\n", "5\r\nhel", "5\r\nhello", "5\r\nhello\r",
                           "5\r\nhello\r\n", "5\r\nhello\r\n0", "5\r\nhello\r\n0\r\n",
                           "5\r\nhello\r\n0\r\n\r", "0\r\nX: y\r\n", "5;ext", "0\r\nX: y"}) {
        EXPECT_EQ(whole(in).outcome, "need-more") << in;
        EXPECT_EQ(bytewise(in).outcome, "need-more") << in;
    }
}

TEST(ChunkedDecoderTest, FifteenHexDigitsAreAccepted) {
    Decoded d = whole("fffffffffffffff\r\nabc");
    EXPECT_EQ(d.outcome, "need-more");
    EXPECT_EQ(d.body, "abc");
}

// ---- malformed ----

TEST(ChunkedDecoderTest, NoDigits) {
    expect_error("\r\n\r\n");
    expect_error(";ext\r\nhello\r\n0\r\n\r\n");
    expect_error(" 5\r\nhello\r\n0\r\n\r\n");
    expect_error("5\r\nhello\r\n\r\n0\r\n\r\n");  // empty size line after data
}

TEST(ChunkedDecoderTest, TooManyHexDigits) {
    expect_error("1000000000000000\r\nx\r\n0\r\n\r\n");  // 16 digits
    expect_error("ffffffffffffffffff\r\n");
    expect_error("0000000000000000000005\r\nhello\r\n0\r\n\r\n");
}

TEST(ChunkedDecoderTest, NonHexOrSignedSizes) {
    expect_error("g\r\n");
    expect_error("5g\r\nhello\r\n0\r\n\r\n");
    expect_error("-5\r\nhello\r\n0\r\n\r\n");
    expect_error("+5\r\nhello\r\n0\r\n\r\n");
    expect_error("0x5\r\nhello\r\n0\r\n\r\n");
    expect_error("GET / HTTP/1.1\r\n\r\n");
}

TEST(ChunkedDecoderTest, BareLfInSizeLine) {
    expect_error("5\nhello\r\n0\r\n\r\n");
    expect_error("5;a=b\nhello\r\n0\r\n\r\n");
    expect_error("5\r\nhello\r\n0\n\r\n");
    expect_error("5\rhello\r\n0\r\n\r\n");  // CR not followed by LF
}

TEST(ChunkedDecoderTest, MissingCrlfAfterData) {
    expect_error("5\r\nhelloX\r\n0\r\n\r\n");
    expect_error("5\r\nhello0\r\n\r\n");
    expect_error("5\r\nhello\n0\r\n\r\n");
    expect_error("5\r\nhello\rX0\r\n\r\n");
    expect_error("3\r\nhello\r\n0\r\n\r\n");  // more data than announced
}

TEST(ChunkedDecoderTest, BadFinalCrlf) {
    expect_error("0\r\n\rX");
    expect_error("0\r\n\n");
    expect_error("0\r\nX: y\n\r\n");
    expect_error("0\r\nX: y\r\r\n");
}

TEST(ChunkedDecoderTest, TrailerStartingWithWhitespaceOrColon) {
    expect_error("0\r\n X: y\r\n\r\n");
    expect_error("0\r\n\tX: y\r\n\r\n");
    expect_error("0\r\n: y\r\n\r\n");
    expect_error("0\r\nX: y\r\n folded\r\n\r\n");
    expect_error("0\r\n(X: y\r\n\r\n");
}

TEST(ChunkedDecoderTest, ControlCharactersInExtensionsAndTrailers) {
    expect_error("5;a\x01\r\nhello\r\n0\r\n\r\n");
    expect_error("5;a\x7f\r\nhello\r\n0\r\n\r\n");
    expect_error(std::string("5;a\0b\r\nhello\r\n0\r\n\r\n", 19));
    expect_error("0\r\nX: a\x01\r\n\r\n");
    expect_error("0\r\nX: a\rb\r\n\r\n");
}

TEST(ChunkedDecoderTest, ExtensionTooLong) {
    expect_error("5;" + std::string(5000, 'e') + "\r\nhello\r\n0\r\n\r\n");
    // The limit counts across reads, too.
    std::vector<std::string> pieces{"5;"};
    for (int i = 0; i < 50; i++) {
        pieces.push_back(std::string(100, 'e'));
    }
    EXPECT_EQ(feed(pieces).outcome, "error");
}

TEST(ChunkedDecoderTest, TrailersTooLong) {
    std::string trailers;
    for (int i = 0; i < 200; i++) {
        trailers += "X-" + std::to_string(i) + ": " + std::string(60, 'v') + "\r\n";
    }
    EXPECT_EQ(whole("0\r\n" + trailers + "\r\n").outcome, "error");
    EXPECT_EQ(whole("0\r\nX: " + std::string(9000, 'v') + "\r\n\r\n").outcome, "error");
}

// A trailer section holds fields (RFC 9112 §7.1.2): a line that is not one is a malformed body.
TEST(ChunkedDecoderTest, TrailerThatIsNotAFieldIsAnError) {
    expect_error("0\r\nnocolon\r\n\r\n");
    expect_error("0\r\nX: y\r\nnocolon\r\n\r\n");
}

// The same field syntax as in a head (RFC 9112 §5.1): a token, then the colon, no whitespace
// in between (a head with "X : y" or "X(y): z" is 400 too).
TEST(ChunkedDecoderTest, TrailerFieldNameMustBeAToken) {
    expect_error("0\r\nX : y\r\n\r\n");
    expect_error("0\r\nX\t: y\r\n\r\n");
    expect_error("0\r\nX(y): z\r\n\r\n");
}

// RFC 9112 §7.1.1: after the size only BWS ";" may start an extension. "5 5" is not size 5 with
// an extension "5" (another parser may read 0x55): a framing ambiguity, refused.
TEST(ChunkedDecoderTest, TextAfterTheSizeThatIsNotAnExtensionIsAnError) {
    expect_error("5 5\r\nhello\r\n0\r\n\r\n");
    expect_error("5 junk\r\nhello\r\n0\r\n\r\n");
    expect_error("0 \r\n\r\n0\r\n\r\n");
}

TEST(ChunkedDecoderTest, ErrorReportsWhereItStopped) {
    ChunkedDecoder d;
    size_t used = 99;
    std::string_view data;
    EXPECT_EQ(d.decode("5\r\nhelloX", used, data), Result::kNeedMore);  // the data span first
    EXPECT_EQ(data, "hello");
    EXPECT_EQ(d.decode("X", used, data), Result::kError);
    EXPECT_EQ(used, 0u);
    EXPECT_TRUE(data.empty());
}

}  // namespace
}  // namespace http
