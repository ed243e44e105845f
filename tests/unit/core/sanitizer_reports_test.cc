// The harness's check for sanitizer reports (make asan): a report file left by a process the
// test ran fails the test, once; without $HALO_SANITIZER_REPORTS nothing is checked.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>

#include "support/harness.h"
#include "support/sanitizer.h"

namespace halo_test {
namespace {

class SanitizerReportsTest : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_EQ(setenv("HALO_SANITIZER_REPORTS", dir_.path().c_str(), 1), 0);
    }
    void TearDown() override { unsetenv("HALO_SANITIZER_REPORTS"); }

    TempDir dir_{"halo-sanitizer"};
};

TEST_F(SanitizerReportsTest, ANewReportFailsTheTestOnce) {
    expect_no_sanitizer_reports("nothing yet");  // a folder (the TempDir's logs/) is no report
    ASSERT_TRUE(write_file(dir_ / "asan.4242", "==4242==ERROR: AddressSanitizer: use-after-free"));
    EXPECT_NONFATAL_FAILURE(expect_no_sanitizer_reports("worker 4242"),
                            "AddressSanitizer: use-after-free");
    expect_no_sanitizer_reports("the same report again");  // reported once
    ASSERT_TRUE(write_file(dir_ / "ubsan.4243", "runtime error: misaligned address"));
    EXPECT_NONFATAL_FAILURE(expect_no_sanitizer_reports("worker 4243"), "ubsan.4243");
}

TEST_F(SanitizerReportsTest, NothingIsCheckedWithoutTheVariable) {
    unsetenv("HALO_SANITIZER_REPORTS");
    ASSERT_TRUE(write_file(dir_ / "asan.4244", "==4244==ERROR: AddressSanitizer"));
    expect_no_sanitizer_reports("a normal build");
}

}  // namespace
}  // namespace halo_test
