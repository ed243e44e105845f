// The anycast module's block: defaults, every directive, and every rejection with its message
// and file:line; the trackers' verdict.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "core/cycle.h"
#include "modules/anycast/anycast_conf.h"
#include "modules/anycast/anycast_helper.h"
#include "support/test_modules.h"

namespace anycast {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

class AnycastConfigTest : public ::testing::Test {
  protected:
    AnycastConfigTest() : registry_(core::compiled_modules()) {}

    core::Status load(std::string_view text) {
        cycle_.reset();
        return support::load_cycle(registry_, dir_, text, cycle_, nullptr, {}, true);
    }
    /// The error of `body` inside `anycast { ... }` (line 3 is body's first line).
    std::string error(std::string_view body) {
        core::Status s = load(std::string(kHttp) + "anycast {\n" + std::string(body) + "}\n");
        EXPECT_FALSE(s.is_ok()) << "loaded: " << body;
        return s.message();
    }
    std::string at(int line) const {
        return " in " + dir_.file("halo.conf") + ":" + std::to_string(line);
    }
    const AnycastConf& conf() const { return *anycast_conf(*cycle_); }

    static constexpr std::string_view kHttp = "http { upstream app { server 127.0.0.1:8080; } }\n";
    support::TempDir dir_;
    core::ModuleRegistry registry_;
    std::unique_ptr<core::Cycle> cycle_;
};

TEST_F(AnycastConfigTest, EveryDirective) {
    ASSERT_TRUE(load(std::string(kHttp) + R"(anycast {
    address 10.77.0.200/32;
    address 10.77.0.201;
    interface any1;
    track_upstream app;
    track_workers timeout=300ms;
    drain_timeout 3s;
}
)")
                    .is_ok());
    const AnycastConf& c = conf();
    EXPECT_TRUE(c.active());
    ASSERT_EQ(c.addresses.size(), 2u);
    EXPECT_EQ(c.addresses[0], 0x0a4d00c8u);
    EXPECT_EQ(c.address_text[1], "10.77.0.201/32");
    EXPECT_EQ(c.interface, "any1");
    ASSERT_EQ(c.track_upstreams.size(), 1u);
    EXPECT_EQ(c.track_upstreams[0].name, "app");
    EXPECT_EQ(c.track_workers, 300ms);
    EXPECT_EQ(c.drain_timeout, 3s);
}

TEST_F(AnycastConfigTest, Defaults) {
    ASSERT_TRUE(load("anycast { address 10.77.0.200/32; track_workers; }\n").is_ok());
    EXPECT_EQ(conf().interface, "anycast0");
    EXPECT_EQ(conf().track_workers, kDefaultWorkersTimeout);
    EXPECT_EQ(conf().drain_timeout, 5s);
    EXPECT_TRUE(conf().track_upstreams.empty());
}

TEST_F(AnycastConfigTest, NoBlockNoHelper) {
    ASSERT_TRUE(load("events {}\n").is_ok());
    EXPECT_FALSE(conf().active());
}

TEST_F(AnycastConfigTest, Rejections) {
    EXPECT_EQ(error("address 10.77.0.300/32;\n"),
              "invalid value \"10.77.0.300/32\" in \"address\" directive, expected an IPv4 "
              "address such as 10.77.0.200/32" +
                  at(3));
    EXPECT_EQ(error("address 10.77.0.200/24;\n"),
              "invalid value \"10.77.0.200/24\" in \"address\" directive, an anycast address is "
              "a host route: /32" +
                  at(3));
    EXPECT_EQ(
        error("address 127.0.0.1;\n"),
        "invalid value \"127.0.0.1\" in \"address\" directive, not a unicast address" + at(3));
    EXPECT_EQ(
        error("address 224.0.0.1;\n"),
        "invalid value \"224.0.0.1\" in \"address\" directive, not a unicast address" + at(3));
    EXPECT_EQ(error("address fd00::1/128;\n"),
              "IPv6 anycast address \"fd00::1/128\" is not supported yet" + at(3));
    EXPECT_EQ(error("address 10.0.0.1;\naddress 10.0.0.1/32;\n"),
              "duplicate anycast address \"10.0.0.1/32\"" + at(4));
    EXPECT_EQ(error("address 10.0.0.1 10.0.0.2;\n"),
              "invalid number of arguments in \"address\" directive" + at(3));
    EXPECT_EQ(error("interface lo;\naddress 10.0.0.1;\n"),
              "invalid value \"lo\" in \"interface\" directive, the announcing interface is a "
              "device the anycast helper creates (a TUN interface), not an existing one" +
                  at(3));
    EXPECT_EQ(error("interface a;\ninterface b;\n"),
              "\"interface\" directive is duplicate" + at(4));
    EXPECT_EQ(error("interface abcdefghijklmnopq;\n"),
              "invalid value \"abcdefghijklmnopq\" in \"interface\" directive, not an interface "
              "name" +
                  at(3));
    EXPECT_EQ(error("address 10.0.0.1;\ntrack_upstream app;\ntrack_upstream app;\n"),
              "\"app\" is tracked twice" + at(5));
    EXPECT_EQ(error("track_workers 200ms;\n"),
              "invalid value \"200ms\" in \"track_workers\" directive, expected timeout=T with T "
              "100ms..60s" +
                  at(3));
    EXPECT_EQ(error("track_workers timeout=50ms;\n"),
              "invalid value \"timeout=50ms\" in \"track_workers\" directive, expected timeout=T "
              "with T 100ms..60s" +
                  at(3));
    EXPECT_EQ(error("drain_timeout forever;\n"),
              "invalid value \"forever\" in \"drain_timeout\" directive, expected a time up to 1h "
              "such as 5s" +
                  at(3));
    EXPECT_EQ(error("announce bgp;\n"), "unknown directive \"announce\"" + at(3));
    EXPECT_EQ(error("track_workers;\n"), "no \"address\" in the anycast block" + at(2));
    EXPECT_EQ(error("address 10.0.0.1;\ntrack_upstream nope;\n"),
              "unknown upstream \"nope\" in \"track_upstream\"" + at(4));
    EXPECT_THAT(load("anycast { address 10.0.0.1; }\nanycast { address 10.0.0.2; }\n").message(),
                HasSubstr("\"anycast\" directive is duplicate"));
}

TEST_F(AnycastConfigTest, Verdict) {
    ASSERT_TRUE(load(std::string(kHttp) +
                     "anycast { address 10.0.0.1; track_upstream app; track_workers; }\n")
                    .is_ok());
    EXPECT_EQ(verdict(conf(), {}, 50ms), "");
    EXPECT_EQ(verdict(conf(), {"app"}, 50ms), "upstream app");
    EXPECT_EQ(verdict(conf(), {}, 250ms), "workers");
    EXPECT_EQ(verdict(conf(), {"app"}, 250ms), "workers");
    EXPECT_EQ(verdict(conf(), {"other"}, std::nullopt), "");
}

}  // namespace
}  // namespace anycast
