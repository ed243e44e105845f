// core::HostKeys: the string keys of a map block (exact keys and hostname masks) as nginx
// looks them up.
#include "core/host_keys.h"

#include <gtest/gtest.h>

#include <string>

namespace core {
namespace {

using R = HostKeys::AddResult;

TEST(HostKeysTest, ExactKeysIgnoreCase) {
    HostKeys k;
    EXPECT_EQ(k.add("Example.COM", 1), R::kOk);
    EXPECT_EQ(k.add("example.com", 2), R::kConflict);
    EXPECT_EQ(k.find("EXAMPLE.com"), 1u);
    EXPECT_EQ(k.find("example.com."), std::nullopt);  // the trailing dot counts without hostnames
    EXPECT_EQ(k.find(""), std::nullopt);
}

TEST(HostKeysTest, MasksTakeTheLongestMatchAfterTheExactKey) {
    HostKeys k;
    k.set_hostnames();
    EXPECT_EQ(k.add("*.example.com", 1), R::kOk);
    EXPECT_EQ(k.add("*.a.example.com", 2), R::kOk);
    EXPECT_EQ(k.add("www.*", 3), R::kOk);
    EXPECT_EQ(k.add("www.example.*", 4), R::kOk);
    EXPECT_EQ(k.add(".org", 5), R::kOk);  // also the exact "org"
    EXPECT_EQ(k.add("b.a.example.com", 6), R::kOk);
    EXPECT_EQ(k.find("x.example.com"), 1u);
    EXPECT_EQ(k.find("x.a.example.com"), 2u);
    EXPECT_EQ(k.find("b.a.example.com"), 6u);        // exact first
    EXPECT_EQ(k.find("b.a.example.com."), 6u);       // a trailing dot is ignored
    EXPECT_EQ(k.find("example.com"), std::nullopt);  // a mask needs more than itself
    EXPECT_EQ(k.find("www.example.com"), 1u);        // leading masks before trailing ones
    EXPECT_EQ(k.find("www.example.net"), 4u);        // the longest trailing mask
    EXPECT_EQ(k.find("www.other"), 3u);
    EXPECT_EQ(k.find("www."), std::nullopt);
    EXPECT_EQ(k.find("org"), 5u);
    EXPECT_EQ(k.find("x.org"), 5u);
    EXPECT_EQ(k.find("."), std::nullopt);
    EXPECT_EQ(k.find(""), std::nullopt);
}

TEST(HostKeysTest, InvalidMasksAndConflicts) {
    HostKeys k;
    k.set_hostnames();
    EXPECT_EQ(k.add("a.*.com", 1), R::kInvalid);
    EXPECT_EQ(k.add("*.*.com", 1), R::kInvalid);
    EXPECT_EQ(k.add("a..com", 1), R::kInvalid);
    EXPECT_EQ(k.add("*.x.com", 1), R::kOk);
    EXPECT_EQ(k.add(".x.com", 2), R::kConflict);  // the same leading mask
    EXPECT_EQ(k.add("y.com", 3), R::kOk);
    EXPECT_EQ(k.add(".y.com", 4), R::kConflict);  // its exact part is there
}

TEST(HostKeysTest, ManyKeysAreAllFound) {
    HostKeys k;
    k.set_hostnames();
    for (size_t i = 0; i < 200000; i++) {
        ASSERT_EQ(k.add("host" + std::to_string(i) + ".example.com", i), R::kOk);
        ASSERT_EQ(k.add("*.zone" + std::to_string(i) + ".net", 1000000 + i), R::kOk);
    }
    for (size_t i = 0; i < 200000; i += 997) {
        EXPECT_EQ(k.find("host" + std::to_string(i) + ".example.com"), i);
        EXPECT_EQ(k.find("a.b.zone" + std::to_string(i) + ".net"), 1000000 + i);
    }
    EXPECT_EQ(k.find("host200000.example.com"), std::nullopt);
}

}  // namespace
}  // namespace core
