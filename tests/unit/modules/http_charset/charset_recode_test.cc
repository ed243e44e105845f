// The charset recoder without the server: nginx's UTF-8 decoding rules, the tables a
// charset_map builds both ways, "&#NNNN;" and "?" from utf-8, and bodies cut into pieces at
// every place (a sequence split between pieces recodes as if whole).
#include "http/modules/charset/charset_recode.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mod::http_charset {
namespace {

uint32_t decode(std::string_view s, size_t* used = nullptr) {
    const auto* p = reinterpret_cast<const uint8_t*>(s.data());
    const uint8_t* start = p;
    uint32_t n = decode_utf8(p, s.size());
    if (used != nullptr) {
        *used = static_cast<size_t>(p - start);
    }
    return n;
}

std::vector<uint8_t> bytes(std::string_view s) {
    return {s.begin(), s.end()};
}

/// koi8-r <-> utf-8 for a few letters: C1 a (U+0430), C2 b (U+0431), A3 yo (U+0451).
CharsetMap koi_utf() {
    CharsetMap m(true);
    EXPECT_TRUE(m.set_utf8(0xC1, bytes("\xD0\xB0")));
    EXPECT_TRUE(m.set_utf8(0xC2, bytes("\xD0\xB1")));
    EXPECT_TRUE(m.set_utf8(0xA3, bytes("\xD1\x91")));
    EXPECT_TRUE(m.set_utf8(0x80, bytes("\xE2\x82\xAC")));  // euro
    return m;
}

std::string recode(const CharsetMap& m, bool forward, const std::vector<std::string>& pieces) {
    Recoder r(m, forward);
    std::string out;
    for (size_t i = 0; i < pieces.size(); i++) {
        r.recode(pieces[i], i + 1 == pieces.size(), out);
    }
    return out;
}

TEST(CharsetRecodeTest, DecodesAsNginx) {
    size_t used = 0;
    EXPECT_EQ(decode("\xD0\xB0", &used), 0x430u);
    EXPECT_EQ(used, 2u);
    EXPECT_EQ(decode("\xE2\x82\xAC"), 0x20ACu);
    EXPECT_EQ(decode("\xF0\x9F\x98\x80"), 0x1F600u);
    EXPECT_EQ(decode("\x80", &used), kUtf8Error);  // a continuation byte as lead
    EXPECT_EQ(used, 1u);
    EXPECT_EQ(decode("\xC0\x80"), kUtf8Error);      // C0 and C1 are never leads
    EXPECT_EQ(decode("\xE0\x80\x80"), kUtf8Error);  // overlong
    EXPECT_EQ(decode("\xE2\x82", &used), kUtf8Incomplete);
    EXPECT_EQ(used, 0u);
    EXPECT_EQ(decode("\xE2\x41\x42", &used), kUtf8Error);  // ends at the ASCII byte, eaten
    EXPECT_EQ(used, 2u);
    EXPECT_EQ(decode("\xF4\x90\x80\x80"), 0x110000u);  // above 10FFFF: malformed for the filter
}

TEST(CharsetRecodeTest, MapLinesToUtf8AreCheckedAsNginx) {
    CharsetMap m(true);
    EXPECT_TRUE(m.set_utf8(0xC0, bytes("\xD1\x8E")));
    EXPECT_FALSE(m.set_utf8(0xC0, bytes("\x41")));              // one byte: not a sequence
    EXPECT_FALSE(m.set_utf8(0xC0, bytes("\xD1")));              // unfinished
    EXPECT_FALSE(m.set_utf8(0xC0, bytes("\xF0\x9F\x98")));      // beyond the BMP
    EXPECT_FALSE(m.set_utf8(0xC0, bytes("\xD1\x8E\x41\x41")));  // four bytes
}

TEST(CharsetRecodeTest, SingleBytesBothWays) {
    CharsetMap m(false);
    m.set_byte(0xC1, 0xE0);
    m.set_byte(0xA3, 0xB8);
    std::string in = "a\xC1\xA3\xFF";
    EXPECT_EQ(recode(m, true, {in}), "a\xE0\xB8?");  // unmapped high bytes: "?"
    EXPECT_EQ(recode(m, false, {"\xE0\xB8\xC1z"}), "\xC1\xA3?z");
    Recoder r(m, true);
    EXPECT_FALSE(r.changes_length());
}

TEST(CharsetRecodeTest, ToUtf8) {
    CharsetMap m = koi_utf();
    EXPECT_EQ(recode(m, true, {"x\xC1\xC2\x80\xFE!"}), "x\xD0\xB0\xD0\xB1\xE2\x82\xAC?!");
    Recoder r(m, true);
    EXPECT_TRUE(r.changes_length());
}

TEST(CharsetRecodeTest, FromUtf8WithEntitiesAndQuestionMarks) {
    CharsetMap m = koi_utf();
    // Mapped letters as bytes; U+4E2D and U+1F600 unmapped: decimal entities; malformed: "?"
    // (FF is read as the lead of four bytes: unfinished at the end, dropped).
    EXPECT_EQ(recode(m, false, {"\xD0\xB0\xD1\x91 \xE4\xB8\xAD \xF0\x9F\x98\x80 \x80 \xFF"}),
              "\xC1\xA3 &#20013; &#128512; ? ");
    // A malformed sequence eats the ASCII byte that ended it, as nginx's decoder does.
    EXPECT_EQ(recode(m, false, {"\xE2\x41z"}), "?z");
    // Unfinished at the end of the body: dropped.
    EXPECT_EQ(recode(m, false, {"ok\xE2\x82"}), "ok");
}

TEST(CharsetRecodeTest, SplitAnywhereRecodesAsWhole) {
    CharsetMap m = koi_utf();
    std::string text = "a\xD0\xB0\xE2\x82\xAC\xF0\x9F\x98\x80\xD1\x91 \xE4\xB8\xAD\xD0\xB1.";
    std::string whole = recode(m, false, {text});
    EXPECT_EQ(whole, "a\xC1\x80&#128512;\xA3 &#20013;\xC2.");
    for (size_t i = 0; i <= text.size(); i++) {
        for (size_t j = i; j <= text.size(); j++) {
            SCOPED_TRACE(std::to_string(i) + "," + std::to_string(j));
            EXPECT_EQ(recode(m, false, {text.substr(0, i), text.substr(i, j - i), text.substr(j)}),
                      whole);
        }
    }
    // One byte at a time.
    std::vector<std::string> single;
    for (char ch : text) {
        single.emplace_back(1, ch);
    }
    EXPECT_EQ(recode(m, false, single), whole);
    // To utf-8 is stateless: pieces change nothing.
    EXPECT_EQ(recode(m, true, {"\xC1", "\xC2", "\x80"}), "\xD0\xB0\xD0\xB1\xE2\x82\xAC");
}

TEST(CharsetRecodeTest, SavedBytesOfAMalformedSequenceAreDroppedAsNginx) {
    CharsetMap m = koi_utf();
    // F0 41 42 at a piece's end waits for a fourth byte; completed, it is malformed at 41 and
    // nginx skips every saved byte (the 42 too), where the same bytes in one piece keep "B".
    EXPECT_EQ(recode(m, false, {"\xF0\x41\x42", "z"}), "?z");
    EXPECT_EQ(recode(m, false, {"\xF0\x41\x42z"}), "?Bz");
}

}  // namespace
}  // namespace mod::http_charset
