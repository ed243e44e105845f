// What a config may take (core::ConfLimits): block nesting, file sizes, the number of included
// files, and only regular files. Each limit is refused with an nginx-worded error naming the
// file:line where it was crossed, and never by exhausting the process.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "core/conf_file.h"
#include "support/test_modules.h"

namespace core {
namespace {

using ::testing::HasSubstr;

/// `n` nested `location / {` blocks around `inner`, on one line each.
std::string nested(int n, std::string_view inner = "a;\n") {
    std::string text;
    for (int i = 0; i < n; i++) {
        text += "location / {\n";
    }
    text += inner;
    for (int i = 0; i < n; i++) {
        text += "}\n";
    }
    return text;
}

TEST(ConfLimitsTest, NestingUpToTheLimitIsRead) {
    ConfDocument doc;
    Status s = ConfParser("/nonexistent").parse_text(nested(100), "t.conf", doc);
    ASSERT_TRUE(s.is_ok()) << s.message();
    const ConfNode* n = &doc.directives[0];
    int depth = 1;
    while (!n->children.empty() && n->children[0].block) {
        n = &n->children[0];
        depth++;
    }
    EXPECT_EQ(depth, 100);
}

TEST(ConfLimitsTest, DeeperNestingIsRefusedWhereItCrossesTheLimit) {
    ConfDocument doc;
    Status s = ConfParser("/nonexistent").parse_text(nested(101), "t.conf", doc);
    ASSERT_FALSE(s.is_ok());
    // Line 101 holds the 101st `{`.
    EXPECT_EQ(s.message(), "too deeply nested blocks (more than 100) in t.conf:101");
}

// The case: 30,000 levels overflowed the stack of the recursive walkers (and of the
// tree's destructor). Now refused at level 101, at once.
TEST(ConfLimitsTest, ThirtyThousandLevelsAreRefused) {
    std::string text;
    for (int i = 0; i < 30000; i++) {
        text += "location / { ";
    }
    ConfDocument doc;
    Status s = ConfParser("/nonexistent").parse_text(text, "deep.conf", doc);
    EXPECT_EQ(s.message(), "too deeply nested blocks (more than 100) in deep.conf:1");
}

TEST(ConfLimitsTest, NestingCountsAcrossIncludes) {
    support::TempDir dir;
    ConfLimits limits;
    limits.max_block_depth = 4;
    dir.write("inner.conf", "b {\n  c {\n    d;\n  }\n}\n");      // two more levels
    dir.write("deeper.conf", "b {\n  c {\n    e { }\n  }\n}\n");  // three more levels
    std::string ok = dir.write("ok.conf", "a {\n  x {\n    include inner.conf;\n  }\n}\n");
    std::string bad = dir.write("bad.conf", "a {\n  x {\n    include deeper.conf;\n  }\n}\n");
    ConfDocument doc;
    Status s = ConfParser(dir.path(), limits).parse_file(ok, doc);
    EXPECT_TRUE(s.is_ok()) << s.message();
    ConfDocument doc2;
    s = ConfParser(dir.path(), limits).parse_file(bad, doc2);
    EXPECT_EQ(s.message(),
              "too deeply nested blocks (more than 4) in " + dir.file("deeper.conf") + ":3");
}

TEST(ConfLimitsTest, IncludeOfADeviceIsRefusedWithoutReadingIt) {
    support::TempDir dir;
    std::string path = dir.write("halo.conf", "http {\n  include /dev/zero;\n}\n");
    ConfDocument doc;
    Status s = ConfParser(dir.path()).parse_file(path, doc);
    EXPECT_EQ(s.message(),
              "\"/dev/zero\" is not a regular file (a character device) in " + path + ":2");
}

TEST(ConfLimitsTest, IncludeOfAFifoIsRefusedWithoutWaitingForAWriter) {
    support::TempDir dir;
    ASSERT_EQ(mkfifo(dir.file("pipe").c_str(), 0600), 0);
    std::string path = dir.write("halo.conf", "a;\ninclude pipe;\n");
    ConfDocument doc;
    Status s = ConfParser(dir.path()).parse_file(path, doc);
    EXPECT_EQ(s.message(),
              "\"" + dir.file("pipe") + "\" is not a regular file (a fifo) in " + path + ":2");
}

TEST(ConfLimitsTest, MainFileMustBeRegular) {
    ConfDocument doc;
    Status s = ConfParser("/dev").parse_file("/dev/zero", doc);
    EXPECT_EQ(s.message(), "\"/dev/zero\" is not a regular file (a character device)");
}

TEST(ConfLimitsTest, FileLargerThanTheLimitIsRefused) {
    support::TempDir dir;
    ConfLimits limits;
    limits.max_file_size = 1024;
    dir.write("small.conf", std::string(1023, '#') + "\n");  // exactly 1k
    dir.write("big.conf", std::string(1024, '#') + "\n");
    std::string ok = dir.write("ok.conf", "include small.conf;\n");
    std::string bad = dir.write("bad.conf", "a;\ninclude big.conf;\n");
    ConfDocument doc;
    EXPECT_TRUE(ConfParser(dir.path(), limits).parse_file(ok, doc).is_ok());
    Status s = ConfParser(dir.path(), limits).parse_file(bad, doc);
    EXPECT_EQ(s.message(),
              "\"" + dir.file("big.conf") + "\" is too large (more than 1k) in " + bad + ":2");
}

TEST(ConfLimitsTest, FilesLargerThanTheLimitInTotalAreRefused) {
    support::TempDir dir;
    ConfLimits limits;
    limits.max_total_size = 4096;
    for (const char* name : {"1.conf", "2.conf", "3.conf", "4.conf"}) {
        dir.write(std::string("d/") + name, std::string(1100, '#') + "\n");  // the 4th crosses
    }
    std::string path = dir.write("halo.conf", "include d/*.conf;\n");
    ConfDocument doc;
    Status s = ConfParser(dir.path(), limits).parse_file(path, doc);
    EXPECT_EQ(s.message(),
              "the configuration files are too large in total (more than 4k) in " + path + ":1");
}

TEST(ConfLimitsTest, IncludedFilesAreCounted) {
    support::TempDir dir;
    ConfLimits limits;
    limits.max_included_files = 3;
    for (const char* name : {"a.conf", "b.conf", "c.conf"}) {
        dir.write(std::string("d/") + name, "include e/*.conf;\n");
    }
    dir.write("e/x.conf", "x;\n");
    std::string path = dir.write("halo.conf", "include d/*.conf;\n");
    ConfDocument doc;
    Status s = ConfParser(dir.path(), limits).parse_file(path, doc);
    // a.conf, then its e/x.conf, then b.conf, then b's x.conf: the fourth.
    EXPECT_EQ(s.message(),
              "too many included files (more than 3) in " + dir.file("d/b.conf") + ":1");
}

TEST(ConfLimitsTest, SizeText) {
    EXPECT_EQ(size_text(0), "0");
    EXPECT_EQ(size_text(1000), "1000");
    EXPECT_EQ(size_text(4096), "4k");
    EXPECT_EQ(size_text(8 * 1024 * 1024), "8m");
    EXPECT_EQ(size_text(3ull * 1024 * 1024 * 1024), "3g");
}

}  // namespace
}  // namespace core
