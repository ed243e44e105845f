// The stream map lookup without a config: exact keys (case-insensitive), hostname masks and
// their precedence, regexes in order, conflicts and invalid masks.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "stream/modules/map/map_table.h"

namespace mod::stream_map {
namespace {

using Add = MapTable::AddResult;

MapRegex regex(std::string_view p, bool caseless = false) {
    MapRegex re;
    EXPECT_TRUE(MapRegex::compile(p, caseless, re).is_ok()) << p;
    return re;
}

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
    MapRegex re;
    core::Status s = MapRegex::compile("(abc", false, re);
    ASSERT_FALSE(s.is_ok());
    EXPECT_NE(s.message().find("pcre2_compile() failed: missing closing parenthesis in \"(abc\""),
              std::string::npos)
        << s.message();
}

}  // namespace
}  // namespace mod::stream_map
