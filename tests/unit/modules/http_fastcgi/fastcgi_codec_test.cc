// The FastCGI wire format (fastcgi_codec.cc) and the CGI response head (proxy_codec.cc),
// without a server: records written, records taken apart in any split, heads parsed.
#include <gtest/gtest.h>

#include <string>

#include "event/buffer.h"
#include "modules/fastcgi/fastcgi.h"

namespace {

using mod::fastcgi::FastcgiCodec;
using mod::fastcgi::FastcgiLocConf;
using mod::proxy::Codec;

std::string record(uint8_t type, std::string_view content, uint8_t pad = 0) {
    std::string out;
    mod::fastcgi::record_head(type, content.size(), out);
    out[6] = static_cast<char>(pad);
    out.append(content);
    out.append(pad, '\0');
    return out;
}

TEST(FastcgiCodecTest, NameValueLengths) {
    std::string out;
    mod::fastcgi::name_value("A", std::string(200, 'v'), out);
    ASSERT_EQ(out.size(), 1u + 4u + 1u + 200u);
    EXPECT_EQ(out[0], 1);
    EXPECT_EQ(static_cast<unsigned char>(out[1]), 0x80);  // §3.4: four bytes, high bit set
    EXPECT_EQ(static_cast<unsigned char>(out[4]), 200);
}

TEST(FastcgiCodecTest, DecodesStdoutStderrAndEndInAnySplit) {
    FastcgiLocConf c;
    c.keep_conn = true;
    std::string wire = record(mod::fastcgi::kStderr, "PHP Warning: oops.\n") +
                       record(mod::fastcgi::kStdout, "Status: 404 Not Found\r\n\r\nbo", 3) +
                       record(mod::fastcgi::kStdout, "dy") + record(mod::fastcgi::kStdout, "") +
                       record(mod::fastcgi::kEndRequest, std::string(8, '\0'));
    for (size_t step = 1; step <= wire.size(); step++) {
        FastcgiCodec codec(c);
        ev::Buffer raw;
        ev::Buffer out;
        std::vector<std::string> messages;
        std::string why;
        Codec::Decoded d = Codec::Decoded::kMore;
        for (size_t at = 0; at < wire.size(); at += step) {
            raw.append(std::string_view(wire).substr(at, step));
            d = codec.decode(raw, out, messages, why);
            ASSERT_NE(d, Codec::Decoded::kError) << why;
        }
        EXPECT_EQ(d, Codec::Decoded::kEnd) << step;
        EXPECT_EQ(out.view(), "Status: 404 Not Found\r\n\r\nbody");
        ASSERT_EQ(messages.size(), 1u);
        EXPECT_EQ(messages[0], "FastCGI sent in stderr: \"PHP Warning: oops\"");
        EXPECT_TRUE(raw.empty());
    }
}

TEST(FastcgiCodecTest, RefusesUnknownRecordsAndVersions) {
    FastcgiLocConf c;
    FastcgiCodec codec(c);
    ev::Buffer raw;
    ev::Buffer out;
    std::vector<std::string> messages;
    std::string why;
    raw.append(record(9, "x"));
    EXPECT_EQ(codec.decode(raw, out, messages, why), Codec::Decoded::kError);
    EXPECT_EQ(why, "upstream sent unexpected FastCGI record: 9");
    FastcgiCodec codec2(c);
    ev::Buffer raw2;
    std::string bad = record(mod::fastcgi::kStdout, "x");
    bad[0] = 2;
    raw2.append(bad);
    EXPECT_EQ(codec2.decode(raw2, out, messages, why), Codec::Decoded::kError);
}

TEST(CgiHeadTest, StatusLocationAndDefault) {
    http::ParsedResponse h;
    size_t scan = 0;
    ASSERT_EQ(mod::proxy::parse_cgi_head("Status: 404 Not Found\r\nX-A: b\r\n\r\nrest", 4096, scan,
                                         h, nullptr),
              http::ParseResult::kComplete);
    EXPECT_EQ(h.status, 404);
    EXPECT_EQ(h.reason, "Not Found");
    EXPECT_EQ(h.head_len, 33u);
    scan = 0;
    ASSERT_EQ(mod::proxy::parse_cgi_head("Location: /x\n\n", 4096, scan, h, nullptr),
              http::ParseResult::kComplete);
    EXPECT_EQ(h.status, 302);
    scan = 0;
    ASSERT_EQ(
        mod::proxy::parse_cgi_head("Content-Type: text/plain\r\n\r\n", 4096, scan, h, nullptr),
        http::ParseResult::kComplete);
    EXPECT_EQ(h.status, 200);
    scan = 0;
    EXPECT_EQ(mod::proxy::parse_cgi_head("Content-Type: text/pl", 4096, scan, h, nullptr),
              http::ParseResult::kIncomplete);
    std::string why;
    scan = 0;
    EXPECT_EQ(mod::proxy::parse_cgi_head("Status: abc\r\n\r\n", 4096, scan, h, &why),
              http::ParseResult::kError);
    EXPECT_EQ(why, "upstream sent invalid status \"abc\"");
    scan = 0;
    EXPECT_EQ(mod::proxy::parse_cgi_head(std::string(5000, 'a'), 4096, scan, h, &why),
              http::ParseResult::kError);
}

}  // namespace
