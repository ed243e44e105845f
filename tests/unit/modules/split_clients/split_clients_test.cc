// The split_clients layer: MurmurHash2 against known vectors (every tail length, bytes above
// 0x7f), nginx's percentages (two decimals at most), the slices' bounds as nginx computes
// them, `*` and a slice completing 100%, and the errors with file:line.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "core/conf_file.h"
#include "modules/split_clients/split_clients.h"

namespace split_clients {
namespace {

TEST(SplitClientsHashTest, MurmurHash2Vectors) {
    // Seed 0, as nginx's ngx_murmur_hash2 (computed by an independent implementation).
    EXPECT_EQ(murmur_hash2(""), 0x0u);
    EXPECT_EQ(murmur_hash2("a"), 0x92685f5eu);
    EXPECT_EQ(murmur_hash2("ab"), 0x1aa14063u);
    EXPECT_EQ(murmur_hash2("abc"), 0x13577c9bu);
    EXPECT_EQ(murmur_hash2("abcd"), 0x26873021u);
    EXPECT_EQ(murmur_hash2("hello"), 0xe56129cbu);
    EXPECT_EQ(murmur_hash2("127.0.0.1"), 0xb6131d91u);
    EXPECT_EQ(murmur_hash2("127.0.0.1AAA"), 0xb5fc5e4bu);
    EXPECT_EQ(murmur_hash2("The quick brown fox jumps over the lazy dog"), 0x212729d0u);
    EXPECT_EQ(murmur_hash2(std::string("\xff\x80\x00\x7f\xfe", 5)), 0x18cc40c0u);
}

TEST(SplitClientsPercentTest, TwoDecimalsAtMost) {
    EXPECT_EQ(parse_percent("0.5"), 50u);
    EXPECT_EQ(parse_percent("2.0"), 200u);
    EXPECT_EQ(parse_percent("12.34"), 1234u);
    EXPECT_EQ(parse_percent("100"), 10000u);
    EXPECT_EQ(parse_percent("5."), 500u);
    EXPECT_EQ(parse_percent(".5"), 50u);
    for (const char* bad : {"", "1.234", "1.2.3", "x", "-1", "1e2", "5 "}) {
        EXPECT_FALSE(parse_percent(bad)) << bad;
    }
}

class SplitClientsBuildTest : public ::testing::Test {
  protected:
    core::Status load(std::string_view body) {
        core::ConfDocument doc;
        core::ConfParser parser("/tmp");
        core::Status s = parser.parse_text("split_clients $k $v {\n" + std::string(body) + "\n}\n",
                                           "sc.conf", doc);
        if (!s.is_ok()) {
            return s;
        }
        table_ = Table();
        return build(doc.directives[0].children, table_);
    }
    std::string pick(uint32_t hash) const {
        const std::string* v = table_.pick(hash);
        return v == nullptr ? "<none>" : *v;
    }
    Table table_;
};

TEST_F(SplitClientsBuildTest, SlicesAsNginxCutsThem) {
    ASSERT_TRUE(load("0.5% .one;\n2.0% .two;\n* \"\";").is_ok());
    ASSERT_EQ(table_.parts().size(), 3u);
    // nginx: bound += percent * 0xffffffff / 10000 (64-bit), kept as 32 bits.
    uint32_t b1 = static_cast<uint32_t>(50 * uint64_t{0xffffffff} / 10000);
    uint32_t b2 = b1 + static_cast<uint32_t>(200 * uint64_t{0xffffffff} / 10000);
    EXPECT_EQ(table_.parts()[0].bound, b1);
    EXPECT_EQ(table_.parts()[1].bound, b2);
    EXPECT_TRUE(table_.parts()[2].rest);
    EXPECT_EQ(pick(0), ".one");
    EXPECT_EQ(pick(b1 - 1), ".one");
    EXPECT_EQ(pick(b1), ".two");
    EXPECT_EQ(pick(b2 - 1), ".two");
    EXPECT_EQ(pick(b2), "");
    EXPECT_EQ(pick(0xffffffff), "");
}

TEST_F(SplitClientsBuildTest, WithoutStarTheRestHasNoValue) {
    ASSERT_TRUE(load("50% a;").is_ok());
    EXPECT_EQ(pick(0), "a");
    EXPECT_EQ(pick(0x7ffffffe), "a");
    EXPECT_EQ(pick(0x80000000), "<none>");
}

TEST_F(SplitClientsBuildTest, ASliceCompletingAHundredTakesTheRest) {
    ASSERT_TRUE(load("50% a;\n50% b;").is_ok());
    EXPECT_TRUE(table_.parts()[1].rest);
    EXPECT_EQ(pick(0xffffffff), "b");
    ASSERT_TRUE(load("100% all;").is_ok());
    EXPECT_EQ(pick(0xffffffff), "all");
    ASSERT_TRUE(load("* all;").is_ok());
    EXPECT_EQ(pick(12345), "all");
}

TEST_F(SplitClientsBuildTest, DistributionFollowsThePercentages) {
    ASSERT_TRUE(load("10% a;\n30% b;\n* c;").is_ok());
    std::map<std::string, int> n;
    for (int i = 0; i < 100000; i++) {
        n[pick(murmur_hash2("client-" + std::to_string(i)))]++;
    }
    // A fixed set of keys: the counts are exact for this hash; the band only documents them.
    EXPECT_NEAR(n["a"], 10000, 600);
    EXPECT_NEAR(n["b"], 30000, 900);
    EXPECT_NEAR(n["c"], 60000, 1000);
}

TEST_F(SplitClientsBuildTest, ErrorsAsNginxWithFileAndLine) {
    auto error = [&](std::string_view body) {
        core::Status s = load(body);
        EXPECT_FALSE(s.is_ok()) << body;
        return s.message();
    };
    EXPECT_EQ(error("60% a;\n50% b;"), "percent total is greater than 100% in sc.conf:3");
    EXPECT_EQ(error("* a;\n1% b;"), "percent total is greater than 100% in sc.conf:3");
    EXPECT_EQ(error("10 a;"), "invalid percent value \"10\" in sc.conf:2");
    EXPECT_EQ(error("0% a;"), "invalid percent value \"0%\" in sc.conf:2");
    EXPECT_EQ(error("1.234% a;"), "invalid percent value \"1.234%\" in sc.conf:2");
    EXPECT_EQ(error("% a;"), "invalid percent value \"%\" in sc.conf:2");
    EXPECT_EQ(error("10% a b;"), "invalid number of the split_clients parameters in sc.conf:2");
    EXPECT_EQ(error("10%;"), "invalid number of the split_clients parameters in sc.conf:2");
    EXPECT_EQ(error("10% a { }"), "unexpected \"{\" in sc.conf:2");
}

}  // namespace
}  // namespace split_clients
