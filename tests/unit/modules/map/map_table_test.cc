// The map lookup of http and stream without a config: exact keys (case-insensitive), hostname masks
// and their precedence, regexes in order with captures, conflicts and invalid masks.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "modules/map/map_table.h"

namespace map {
namespace {

using ::testing::ElementsAre;
using Add = MapTable::AddResult;

regex::Regex regex(std::string_view p, bool caseless = false) {
    regex::Regex re;
    EXPECT_TRUE(regex::Regex::compile(p, caseless, re).is_ok()) << p;
    return re;
}

TEST(MapTableTest, ExactKeysIgnoreCase) {
    MapTable t;
    EXPECT_EQ(t.add("Alpha", 1), Add::kOk);
    EXPECT_EQ(t.add("beta", 2), Add::kOk);
    EXPECT_EQ(t.add("", 3), Add::kOk);
    EXPECT_EQ(t.find("alpha"), 1u);
    EXPECT_EQ(t.find("ALPHA"), 1u);
    EXPECT_EQ(t.find("beta"), 2u);
    EXPECT_EQ(t.find(""), 3u);  // an empty key matches an empty value
    EXPECT_EQ(t.find("gamma"), std::nullopt);
    EXPECT_EQ(t.find("alph"), std::nullopt);
}

TEST(MapTableTest, DuplicateKeysConflict) {
    MapTable t;
    EXPECT_EQ(t.add("a", 1), Add::kOk);
    EXPECT_EQ(t.add("A", 2), Add::kConflict);
}

TEST(MapTableTest, WithoutHostnamesMasksAreExactKeys) {
    MapTable t;
    EXPECT_EQ(t.add("*.example.com", 1), Add::kOk);
    EXPECT_EQ(t.add(".example.org", 2), Add::kOk);
    EXPECT_EQ(t.find("www.example.com"), std::nullopt);
    EXPECT_EQ(t.find("*.example.com"), 1u);
    EXPECT_EQ(t.find("example.org"), std::nullopt);
    EXPECT_EQ(t.find("example.com."), std::nullopt);
}

TEST(MapTableTest, HostnameMasks) {
    MapTable t;
    t.set_hostnames();
    EXPECT_EQ(t.add("*.example.com", 1), Add::kOk);
    EXPECT_EQ(t.add(".example.org", 2), Add::kOk);
    EXPECT_EQ(t.add("www.example.*", 3), Add::kOk);
    EXPECT_EQ(t.add("mail.example.com", 4), Add::kOk);
    EXPECT_EQ(t.add("*.a.example.com", 5), Add::kOk);
    EXPECT_EQ(t.find("x.example.com"), 1u);
    EXPECT_EQ(t.find("y.x.example.com"), 1u);
    EXPECT_EQ(t.find("example.com"), std::nullopt);  // "*." needs a name in front
    EXPECT_EQ(t.find("example.org"), 2u);            // "." covers the domain itself
    EXPECT_EQ(t.find("x.example.org"), 2u);
    EXPECT_EQ(t.find("www.example.net"), 3u);
    EXPECT_EQ(t.find("www.example.co.uk"), 3u);
    EXPECT_EQ(t.find("www.example"), std::nullopt);
    EXPECT_EQ(t.find("mail.example.com"), 4u);  // exact beats the mask
    EXPECT_EQ(t.find("b.a.example.com"), 5u);   // the most specific mask wins
    EXPECT_EQ(t.find("a.example.com"), 1u);
    EXPECT_EQ(t.find("X.EXAMPLE.COM."), 1u);   // case and one trailing dot ignored
    EXPECT_EQ(t.find("www.example.com"), 1u);  // a leading mask beats a trailing one
}

TEST(MapTableTest, HostnameMaskConflicts) {
    MapTable t;
    t.set_hostnames();
    EXPECT_EQ(t.add("example.com", 1), Add::kOk);
    EXPECT_EQ(t.add(".example.com", 2), Add::kConflict);  // covers example.com too
    EXPECT_EQ(t.add("*.x.com", 3), Add::kOk);
    EXPECT_EQ(t.add(".x.com", 4), Add::kConflict);
    EXPECT_EQ(t.add("*.x.com", 5), Add::kConflict);
    EXPECT_EQ(t.add("w.*", 6), Add::kOk);
    EXPECT_EQ(t.add("W.*", 7), Add::kConflict);
    MapTable u;
    u.set_hostnames();
    EXPECT_EQ(u.add(".y.com", 1), Add::kOk);
    EXPECT_EQ(u.add("y.com", 2), Add::kConflict);
}

TEST(MapTableTest, InvalidMasks) {
    MapTable t;
    t.set_hostnames();
    for (const char* key : {"*", "*.", "a.*.com", "*.a.*", "**.a", "a..b", "*a.com", "a*"}) {
        EXPECT_EQ(t.add(key, 1), Add::kInvalid) << key;
    }
    EXPECT_EQ(t.add(".", 1), Add::kOk);  // no mask: an exact key
}

TEST(MapTableTest, HostnamesOnlyAffectLaterKeys) {
    MapTable t;
    EXPECT_EQ(t.add("*.early.com", 1), Add::kOk);
    t.set_hostnames();
    EXPECT_EQ(t.add("*.late.com", 2), Add::kOk);
    EXPECT_EQ(t.find("a.early.com"), std::nullopt);
    EXPECT_EQ(t.find("a.late.com"), 2u);
}

TEST(MapTableTest, RegexesInOrderAfterExactKeys) {
    MapTable t;
    t.add_regex(regex("^/a"), 1);
    t.add_regex(regex("^/a/b"), 2);
    t.add_regex(regex("^/C", true), 3);
    EXPECT_EQ(t.add("/a/exact", 4), Add::kOk);
    EXPECT_EQ(t.find("/a/b"), 1u);  // the first regex that matches
    EXPECT_EQ(t.find("/a/exact"), 4u);
    EXPECT_EQ(t.find("/c/x"), 3u);
    EXPECT_EQ(t.find("/d"), std::nullopt);
}

TEST(MapTableTest, RegexCaptures) {
    MapTable t;
    t.add_regex(regex("^/u/(\\d+)/(\\w+)$"), 7);
    std::vector<std::string_view> groups;
    EXPECT_EQ(t.find("/u/12/ab", &groups), 7u);
    EXPECT_THAT(groups, ElementsAre("/u/12/ab", "12", "ab"));
    groups.clear();
    t.add("exact", 1);
    EXPECT_EQ(t.find("exact", &groups), 1u);
    EXPECT_TRUE(groups.empty());  // no regex: no captures
}

TEST(MapTableTest, NoRegexOnAnEmptySubject) {
    MapTable t;
    t.add_regex(regex("^$"), 1);
    EXPECT_EQ(t.find(""), std::nullopt);
}

TEST(MapTableTest, RegexSeesTheOriginalCase) {
    MapTable t;
    t.add_regex(regex("^ABC$"), 1);
    EXPECT_EQ(t.find("ABC"), 1u);
    EXPECT_EQ(t.find("abc"), std::nullopt);
}

// The cases written for the stream map (the same table).

TEST(StreamMapTableTest, ExactKeysIgnoreCase) {
    MapTable t;
    EXPECT_EQ(t.add("A.example.com", 0), Add::kOk);
    EXPECT_EQ(t.add("b.example.com", 1), Add::kOk);
    EXPECT_EQ(t.find("a.EXAMPLE.com"), 0u);
    EXPECT_EQ(t.find("b.example.com"), 1u);
    EXPECT_EQ(t.find("c.example.com"), std::nullopt);
    EXPECT_EQ(t.find(""), std::nullopt);
    EXPECT_EQ(t.add("a.example.com", 2), Add::kConflict);
}

TEST(StreamMapTableTest, WithoutHostnamesAStarIsAnOrdinaryKey) {
    MapTable t;
    EXPECT_EQ(t.add("*.example.com", 0), Add::kOk);
    EXPECT_EQ(t.find("www.example.com"), std::nullopt);
    EXPECT_EQ(t.find("*.example.com"), 0u);
    EXPECT_EQ(t.find("example.com."), std::nullopt);
}

TEST(StreamMapTableTest, HostnameMasksExactFirstThenLongestHeadThenTail) {
    MapTable t;
    t.set_hostnames();
    ASSERT_EQ(t.add("*.example.com", 0), Add::kOk);
    ASSERT_EQ(t.add("*.api.example.com", 1), Add::kOk);
    ASSERT_EQ(t.add("www.example.*", 2), Add::kOk);
    ASSERT_EQ(t.add("exact.api.example.com", 3), Add::kOk);
    ASSERT_EQ(t.add(".example.org", 4), Add::kOk);
    EXPECT_EQ(t.find("x.example.com"), 0u);
    EXPECT_EQ(t.find("x.api.example.com"), 1u);
    EXPECT_EQ(t.find("exact.api.example.com"), 3u);
    EXPECT_EQ(t.find("exact.api.example.com."), 3u);  // the trailing dot is ignored
    EXPECT_EQ(t.find("www.example.net"), 2u);
    EXPECT_EQ(t.find("www.example.com"), 0u);  // a leading mask wins over a trailing one
    EXPECT_EQ(t.find("example.com"), std::nullopt);
    EXPECT_EQ(t.find("example.org"), 4u);  // ".x" is also the exact "x"
    EXPECT_EQ(t.find("a.b.example.org"), 4u);
}

TEST(StreamMapTableTest, InvalidAndConflictingMasks) {
    MapTable t;
    t.set_hostnames();
    EXPECT_EQ(t.add("*.*.example.com", 0), Add::kInvalid);
    EXPECT_EQ(t.add("www.*.com", 0), Add::kInvalid);
    EXPECT_EQ(t.add("a..example.com", 0), Add::kInvalid);
    EXPECT_EQ(t.add("*.example.com", 0), Add::kOk);
    EXPECT_EQ(t.add(".example.com", 1), Add::kConflict);
    EXPECT_EQ(t.add("example.com", 1), Add::kOk);
    EXPECT_EQ(t.add(".example.com", 2), Add::kConflict);
}

TEST(StreamMapTableTest, RegexesInOrderAfterStringsAndNeverOnEmpty) {
    MapTable t;
    ASSERT_EQ(t.add("db.internal", 0), Add::kOk);
    t.add_regex(regex("^db\\."), 1);
    t.add_regex(regex("\\.internal$"), 2);
    t.add_regex(regex("^MQTT", true), 3);
    t.add_regex(regex("^$"), 4);
    EXPECT_EQ(t.find("db.internal"), 0u);
    EXPECT_EQ(t.find("db.other"), 1u);
    EXPECT_EQ(t.find("cache.internal"), 2u);
    EXPECT_EQ(t.find("mqtt.example"), 3u);
    EXPECT_EQ(t.find("Db.Other"), std::nullopt);  // regexes keep their case unless ~*
    EXPECT_EQ(t.find(""), std::nullopt);
}

TEST(StreamMapTableTest, ABadRegexNamesThePatternAndTheOffset) {
    regex::Regex re;
    core::Status s = regex::Regex::compile("(abc", false, re);
    ASSERT_FALSE(s.is_ok());
    EXPECT_NE(s.message().find("pcre2_compile() failed: missing closing parenthesis in \"(abc\""),
              std::string::npos)
        << s.message();
}

}  // namespace
}  // namespace map
