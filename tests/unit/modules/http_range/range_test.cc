// The range filter's parser: what nginx 1.22 answers for each Range value (checked against
// Debian's nginx on a 10-byte file: 206, 200 for the whole file, 416).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http/modules/range/range.h"

namespace mod::http_range {
namespace {

struct Case {
    const char* header;
    uint64_t size;
    RangeResult result;
    std::vector<std::pair<uint64_t, uint64_t>> ranges = {};
};

TEST(RangeParseTest, AsNginx) {
    const Case kCases[] = {
        {"bytes=0-4", 10, RangeResult::kRange, {{0, 4}}},
        {"bytes=0-0", 10, RangeResult::kRange, {{0, 0}}},
        {"bytes=9-9", 10, RangeResult::kRange, {{9, 9}}},
        {"bytes=5-", 10, RangeResult::kRange, {{5, 9}}},
        {"bytes=-3", 10, RangeResult::kRange, {{7, 9}}},
        {"bytes=-20", 10, RangeResult::kRange, {{0, 9}}},    // a suffix longer than the file
        {"bytes=2-100", 10, RangeResult::kRange, {{2, 9}}},  // the end is clamped
        {"bytes= 1 - 2 ", 10, RangeResult::kRange, {{1, 2}}},
        {"Bytes=0-1", 10, RangeResult::kRange, {{0, 1}}},  // the unit in any case
        {"bytes=0-1,3-4", 10, RangeResult::kRange, {{0, 1}, {3, 4}}},
        {"bytes=0-1 ,3-4", 10, RangeResult::kRange, {{0, 1}, {3, 4}}},
        {"bytes=20-30,0-1", 10, RangeResult::kRange, {{0, 1}}},  // past the end: left out
        {"bytes=0-5,3-8", 10, RangeResult::kNone},  // more bytes than the file: all of it
        {"bytes=10-", 10, RangeResult::kUnsatisfiable},
        {"bytes=10-20", 10, RangeResult::kUnsatisfiable},
        {"bytes=-0", 10, RangeResult::kUnsatisfiable},
        {"bytes=5-3", 10, RangeResult::kUnsatisfiable},  // nginx: 416, not ignored
        {"bytes=abc", 10, RangeResult::kUnsatisfiable},
        {"bytes=1", 10, RangeResult::kUnsatisfiable},
        {"bytes=-", 10, RangeResult::kUnsatisfiable},
        {"bytes=+1-2", 10, RangeResult::kUnsatisfiable},
        {"bytes=0-1,,3-4", 10, RangeResult::kUnsatisfiable},
        {"bytes=99999999999999999999-", 10, RangeResult::kUnsatisfiable},  // overflow
        {"bytes=", 10, RangeResult::kNone},  // too short to be a range: ignored
        {"items=0-1", 10, RangeResult::kNone},
        {"", 10, RangeResult::kNone},
        {"bytes=0-", 0, RangeResult::kNone},  // an empty file is sent whole
        {"bytes=-5", 0, RangeResult::kNone},
        {"bytes=0-0", 0, RangeResult::kNone},
    };
    for (const Case& c : kCases) {
        std::vector<ByteRange> got;
        RangeResult result = parse_ranges(c.header, c.size, 1000, got);
        EXPECT_EQ(result, c.result) << '"' << c.header << "\" size " << c.size;
        if (result == RangeResult::kRange && c.result == RangeResult::kRange) {
            ASSERT_EQ(got.size(), c.ranges.size()) << c.header;
            for (size_t i = 0; i < got.size(); i++) {
                EXPECT_EQ(got[i].first, c.ranges[i].first) << c.header;
                EXPECT_EQ(got[i].last, c.ranges[i].second) << c.header;
            }
        }
    }
}

TEST(RangeParseTest, MaxRanges) {
    std::vector<ByteRange> got;
    EXPECT_EQ(parse_ranges("bytes=0-1,2-3", 10, 2, got), RangeResult::kRange);
    EXPECT_EQ(got.size(), 2u);
    EXPECT_EQ(parse_ranges("bytes=0-1,2-3,4-5", 10, 2, got), RangeResult::kNone);
    EXPECT_EQ(parse_ranges("bytes=0-1", 10, 1, got), RangeResult::kRange);
}

TEST(RangeParseTest, LargeOffsets) {
    std::vector<ByteRange> got;
    const uint64_t size = 5ull * 1024 * 1024 * 1024;  // 5 GiB
    ASSERT_EQ(parse_ranges("bytes=4294967296-", size, 1, got), RangeResult::kRange);
    EXPECT_EQ(got[0].first, 4294967296u);
    EXPECT_EQ(got[0].last, size - 1);
    ASSERT_EQ(parse_ranges("bytes=-1", size, 1, got), RangeResult::kRange);
    EXPECT_EQ(got[0].first, size - 1);
}

}  // namespace
}  // namespace mod::http_range
