// The http split_clients directive: the bucket of a key (the slices of the layer, evaluated
// per request), `*`, a total under 100% leaving the rest empty, and the rejections with
// nginx's wording and file:line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "modules/split_clients/split_clients.h"
#include "support/http_unit.h"

namespace mod::http_split_clients {
namespace {

using ::testing::HasSubstr;

class SplitClientsConfigTest : public support::HttpUnitTest {
  protected:
    core::Status load_split(std::string_view block, std::string_view loc) {
        return load("http {\n" + std::string(block) +
                    "\n server { listen 127.0.0.1:8080;\n  location / { " + std::string(loc) +
                    " } }\n}\n");
    }
};

TEST_F(SplitClientsConfigTest, BucketsOfKeys) {
    core::Status s = load_split("split_clients \"${arg_k}AAA\" $v {\n 50% a;\n 25% b;\n}",
                                "return 200 \"[$v]\";");
    ASSERT_TRUE(s.is_ok()) << s.message();
    int seen_a = 0, seen_b = 0, seen_none = 0;
    for (int i = 0; i < 200; i++) {
        std::string k = "key" + std::to_string(i);
        uint32_t h = split_clients::murmur_hash2(k + "AAA");
        std::string want = h < 0x7fffffffu ? "[a]" : h < 0xbffffffeu ? "[b]" : "[]";
        std::string got = body("/?k=" + k);
        ASSERT_EQ(got, want) << k;
        (got == "[a]" ? seen_a : got == "[b]" ? seen_b : seen_none)++;
    }
    EXPECT_GT(seen_a, 0);
    EXPECT_GT(seen_b, 0);
    EXPECT_GT(seen_none, 0);
}

TEST_F(SplitClientsConfigTest, Rejections) {
    auto err = [&](std::string_view block) {
        core::Status s = load_split(block, "return 200;");
        EXPECT_FALSE(s.is_ok()) << block;
        return s.message();
    };
    EXPECT_EQ(err("split_clients $uri $v {\n 60% a;\n 60% b;\n}"),
              "percent total is greater than 100%" + at(4));
    EXPECT_EQ(err("split_clients $uri $v {\n 6 a;\n}"), "invalid percent value \"6\"" + at(3));
    EXPECT_EQ(err("split_clients $uri v {\n}"), "invalid variable name \"v\"" + at(2));
    EXPECT_EQ(err("split_clients $uri $v {\n}\nsplit_clients $uri $v {\n}"),
              "the duplicate \"v\" variable" + at(4));
    EXPECT_THAT(err("split_clients $nosuch $v {\n}"), HasSubstr("unknown \"nosuch\" variable"));
    EXPECT_THAT(err("split_clients $uri {\n}"), HasSubstr("invalid number of arguments"));
}

}  // namespace
}  // namespace mod::http_split_clients
