// `halo -t` on anycast configurations through the real binary: docs/anycast.md's example, and
// errors naming file:line and the directive.
#include "support/harness.h"

namespace halo_test {
namespace {

class AnycastConfigTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("anycast")) {
            GTEST_SKIP() << "halo is built without the anycast module";
        }
    }
    Halo halo_;
};

TEST_F(AnycastConfigTest, DocExamplePasses) {
    halo_.write_conf(R"(events {}
http {
    upstream app { server 127.0.0.1:8080; }
}
anycast {
    address 10.77.0.200/32;
    interface anycast0;
    track_upstream app;
    track_workers timeout=200ms;
    drain_timeout 5s;
}
)");
    RunResult r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_NE(r.err.find("test is successful"), std::string::npos) << r;
}

TEST_F(AnycastConfigTest, ErrorsNameTheLine) {
    halo_.write_conf(
        "events {}\nanycast {\n    address 10.77.0.200/32;\n"
        "    track_upstream nope;\n}\n");
    RunResult r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("unknown upstream \"nope\" in \"track_upstream\" in " + halo_.conf_path() +
                         ":4"),
              std::string::npos)
        << r;
    halo_.write_conf("events {}\nanycast {\n    address 10.77.0.200/32;\n    bgp on;\n}\n");
    r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("unknown directive \"bgp\" in " + halo_.conf_path() + ":4"),
              std::string::npos)
        << r;
    halo_.write_conf("events {}\nanycast {\n    drain_timeout 1s;\n}\n");
    r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("no \"address\" in the anycast block in " + halo_.conf_path() + ":2"),
              std::string::npos)
        << r;
}

}  // namespace
}  // namespace halo_test
