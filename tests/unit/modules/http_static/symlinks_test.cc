// disable_symlinks' open walk (symlinks.cc): what each mode opens and refuses, on a tree of
// files and links in a temporary folder; and the from= prefix as nginx computes it.
#include "http/modules/static/symlinks.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "support/test_modules.h"

namespace mod::http_static {
namespace {

class SymlinksTest : public ::testing::Test {
  protected:
    void SetUp() override {
        root_ = dir_.path();
        mkdir((root_ + "/real").c_str(), 0755);
        dir_.write("real/file.txt", "data");
        ASSERT_EQ(symlink("real", (root_ + "/link").c_str()), 0);
        ASSERT_EQ(symlink("file.txt", (root_ + "/real/same.txt").c_str()), 0);
        ASSERT_EQ(symlink("file.txt", (root_ + "/real/other.txt").c_str()), 0);
        if (geteuid() == 0) {
            ASSERT_EQ(lchown((root_ + "/real/other.txt").c_str(), 65534, 65534), 0);
        }
    }
    int open_err(const std::string& rel, Symlinks mode, size_t from = 0) {
        OpenedFile f = open_no_symlinks(root_ + rel, mode, from);
        if (f.fd >= 0) {
            close(f.fd);
            return 0;
        }
        return f.err;
    }

    support::TempDir dir_;
    std::string root_;
};

TEST_F(SymlinksTest, OffFollowsEverything) {
    EXPECT_EQ(open_err("/link/file.txt", Symlinks::kOff), 0);
    EXPECT_EQ(open_err("/real/same.txt", Symlinks::kOff), 0);
    EXPECT_EQ(open_err("/real/nothing", Symlinks::kOff), ENOENT);
}

TEST_F(SymlinksTest, OnRefusesAnyLink) {
    EXPECT_EQ(open_err("/real/file.txt", Symlinks::kOn), 0);
    EXPECT_EQ(open_err("/real/same.txt", Symlinks::kOn), ELOOP);
    // A linked folder is opened as the link itself: what is under it is not there (nginx).
    EXPECT_EQ(open_err("/link/file.txt", Symlinks::kOn), ENOTDIR);
    EXPECT_EQ(open_err("/real/", Symlinks::kOn), 0);  // a trailing slash: the folder
    EXPECT_EQ(open_err("/real/nothing", Symlinks::kOn), ENOENT);
    OpenedFile f = open_no_symlinks(root_ + "/real/same.txt", Symlinks::kOn, 0);
    EXPECT_STREQ(f.failed, "openat()");
}

TEST_F(SymlinksTest, FromSkipsTheLeadingPart) {
    std::string path = root_ + "/link/file.txt";
    size_t skip = 0;
    ASSERT_TRUE(symlinks_from(path, root_ + "/link", skip));
    EXPECT_EQ(skip, (root_ + "/link").size());
    EXPECT_EQ(open_err("/link/file.txt", Symlinks::kOn, skip), 0);
    ASSERT_TRUE(symlinks_from(path, root_ + "/link/", skip));  // with its slash
    EXPECT_EQ(skip, (root_ + "/link").size());
    ASSERT_TRUE(symlinks_from(path, "/elsewhere", skip));  // not a prefix: all checked
    EXPECT_EQ(skip, 0u);
    EXPECT_FALSE(symlinks_from(path, path, skip));  // the path itself: no check
}

TEST_F(SymlinksTest, IfNotOwnerComparesOwners) {
    EXPECT_EQ(open_err("/real/same.txt", Symlinks::kIfNotOwner), 0);
    EXPECT_EQ(open_err("/link/file.txt", Symlinks::kIfNotOwner), 0);
    if (geteuid() != 0) {
        GTEST_SKIP() << "a link of another owner needs root (lchown)";
    }
    EXPECT_EQ(open_err("/real/other.txt", Symlinks::kIfNotOwner), ELOOP);
}

}  // namespace
}  // namespace mod::http_static
