// The table-driven slot setters: enum_slot and bitmask_slot (a word or words from a constexpr
// table of names), path_slot, a flag directive of no argument, and a slot whose error detail is
// worded by the module.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "core/conf_context.h"
#include "core/cycle.h"
#include "core/module.h"
#include "support/test_modules.h"

namespace core {
extern const Module kCoreModule;

namespace {

using namespace std::chrono_literals;

enum Color { kRed = 1, kGreen = 2, kBlue = 3 };
enum Bits : uint32_t { kBitOff = 1u << 0, kBitA = 1u << 1, kBitB = 1u << 2, kBitC = 1u << 3 };

struct SlotConf : ConfBase {
    std::optional<int> color;
    std::optional<int> level;
    std::optional<uint32_t> bits;
    std::optional<uint32_t> plain_bits;  // a table without "off"
    std::optional<std::string> path;
    std::optional<bool> present;
    std::optional<std::chrono::milliseconds> timeout;
    std::optional<Size> size;
    int64_t buffers = 0;
    Size buffer_size;
};

constexpr Named<int> kColors[] = {{"red", kRed}, {"green", kGreen}, {"blue", kBlue}};
constexpr Named<uint32_t> kBitNames[] = {{"off", kBitOff}, {"a", kBitA}, {"b", kBitB}};
constexpr Named<uint32_t> kPlainBitNames[] = {{"a", kBitA}, {"c", kBitC}};
constexpr char kColorDetail[] = "it must be red, green or blue";
constexpr char kLevelDetail[] = "it must be between 1 and 9";
constexpr char kTimeDetail[] = "expected a time such as 1s";
constexpr char kNoDetail[] = "";

Status set_buffers(ConfContext& cf, SlotConf& conf) {
    return parse_buffers(cf, 512, conf.buffers, conf.buffer_size);
}

constexpr Directive kDirectives[] = {
    {"s_color", kCtxMain, kArgs1, enum_slot<&SlotConf::color, kColors>()},
    {"s_color_worded", kCtxMain, kArgs1, enum_slot<&SlotConf::color, kColors, kColorDetail>()},
    {"s_level", kCtxMain, kArgs1, slot<&SlotConf::level, 1, 9, kLevelDetail>()},
    {"s_bits", kCtxMain, kArgs1ToN, bitmask_slot<&SlotConf::bits, kBitNames>()},
    {"s_plain_bits", kCtxMain, kArgs1ToN, bitmask_slot<&SlotConf::plain_bits, kPlainBitNames>()},
    {"s_path", kCtxMain, kArgs1, path_slot<&SlotConf::path>()},
    {"s_present", kCtxMain, kArgs0, slot<&SlotConf::present>()},
    {"s_timeout", kCtxMain, kArgs1, slot<&SlotConf::timeout, 0, 0, kTimeDetail>()},
    {"s_size", kCtxMain, kArgs1, slot<&SlotConf::size, 0, 0, kNoDetail>()},
    {"s_buffers", kCtxMain, kArgs2, setter<&set_buffers>()},
};

constexpr ConfHooks kConfs[] = {conf_hooks<SlotConf>(ConfLevel::kMain)};

const Module kSlotModule{
    .name = "slots",
    .type = ModuleType::kCore,
    .directives = kDirectives,
    .confs = kConfs,
};

const Module* const kModules[] = {&kCoreModule, &kSlotModule};

class ConfSlotsTest : public ::testing::Test {
  protected:
    ConfSlotsTest() : registry_(kModules) {}

    Status load(std::string_view conf) {
        cycle_.reset();
        return support::load_cycle(registry_, dir_, conf, cycle_);
    }
    std::string error(std::string_view conf) {
        Status s = load(conf);
        EXPECT_FALSE(s.is_ok()) << "loaded: " << conf;
        return s.message();
    }
    std::string at(int line) const {
        return " in " + dir_.file("halo.conf") + ":" + std::to_string(line);
    }
    SlotConf& conf() { return cycle_->conf<SlotConf>(); }

    support::TempDir dir_;
    ModuleRegistry registry_;
    std::unique_ptr<Cycle> cycle_;
};

TEST_F(ConfSlotsTest, EnumTakesTheValueOfItsWord) {
    ASSERT_TRUE(load("s_color green;").is_ok());
    EXPECT_EQ(conf().color, kGreen);
    ASSERT_TRUE(load("s_color_worded blue;").is_ok());
    EXPECT_EQ(conf().color, kBlue);
}

TEST_F(ConfSlotsTest, EnumRejectsAnUnknownWordAndADuplicate) {
    EXPECT_EQ(error("s_color pink;"), "invalid value \"pink\" in \"s_color\" directive" + at(1));
    EXPECT_EQ(error("s_color_worded Red;"),
              "invalid value \"Red\" in \"s_color_worded\" directive, it must be red, green or "
              "blue" +
                  at(1));
    EXPECT_EQ(error("s_color red;\ns_color red;"), "\"s_color\" directive is duplicate" + at(2));
}

TEST_F(ConfSlotsTest, BitmaskOrsItsWords) {
    ASSERT_TRUE(load("s_bits a b a;").is_ok());
    EXPECT_EQ(conf().bits, kBitA | kBitB);
    ASSERT_TRUE(load("s_bits off;").is_ok());
    EXPECT_EQ(conf().bits, kBitOff);
    ASSERT_TRUE(load("s_plain_bits c a;").is_ok());
    EXPECT_EQ(conf().plain_bits, kBitA | kBitC);
}

TEST_F(ConfSlotsTest, BitmaskRejectsUnknownWordsOffWithOthersAndADuplicate) {
    EXPECT_EQ(error("s_bits a z;"), "invalid value \"z\" in \"s_bits\" directive" + at(1));
    EXPECT_EQ(error("s_bits a off;"),
              "\"off\" cannot be combined with other values of \"s_bits\"" + at(1));
    EXPECT_EQ(error("s_plain_bits off;"),
              "invalid value \"off\" in \"s_plain_bits\" directive" + at(1));
    EXPECT_EQ(error("s_bits a;\ns_bits b;"), "\"s_bits\" directive is duplicate" + at(2));
}

TEST_F(ConfSlotsTest, WordedBoundsKeepTheModulesWording) {
    ASSERT_TRUE(load("s_level 9;").is_ok());
    EXPECT_EQ(conf().level, 9);
    EXPECT_EQ(error("s_level 10;"),
              "invalid value \"10\" in \"s_level\" directive, it must be between 1 and 9" + at(1));
    EXPECT_EQ(
        error("s_timeout soon;"),
        "invalid value \"soon\" in \"s_timeout\" directive, expected a time such as 1s" + at(1));
    EXPECT_EQ(error("s_size big;"), "invalid value \"big\" in \"s_size\" directive" + at(1));
    ASSERT_TRUE(load("s_timeout 2s;\ns_size 2k;").is_ok());
    EXPECT_EQ(conf().timeout, 2s);
    EXPECT_EQ(conf().size, Size{2048});
}

TEST_F(ConfSlotsTest, PathIsResolvedAgainstThePrefix) {
    ASSERT_TRUE(load("s_path logs/x.pid;").is_ok());
    EXPECT_EQ(conf().path, dir_.file("logs/x.pid"));
    ASSERT_TRUE(load("s_path /var/run/x.pid;").is_ok());
    EXPECT_EQ(conf().path, "/var/run/x.pid");
    EXPECT_EQ(error("s_path a;\ns_path b;"), "\"s_path\" directive is duplicate" + at(2));
}

TEST_F(ConfSlotsTest, FlagOfNoArgumentIsPresence) {
    ASSERT_TRUE(load("").is_ok());
    EXPECT_FALSE(conf().present.has_value());
    ASSERT_TRUE(load("s_present;").is_ok());
    EXPECT_EQ(conf().present, true);
    EXPECT_EQ(error("s_present;\ns_present;"), "\"s_present\" directive is duplicate" + at(2));
}

TEST_F(ConfSlotsTest, BuffersTakeANumberAndASize) {
    ASSERT_TRUE(load("s_buffers 4 8k;").is_ok());
    EXPECT_EQ(conf().buffers, 4);
    EXPECT_EQ(conf().buffer_size, Size{8192});
    EXPECT_EQ(error("s_buffers 0 8k;"),
              "invalid value \"0\" in \"s_buffers\" directive, the "
              "number must be 1..65536" +
                  at(1));
    EXPECT_EQ(error("s_buffers x y;"),
              "invalid value \"x\" in \"s_buffers\" directive, the "
              "number must be 1..65536" +
                  at(1));
    EXPECT_EQ(error("s_buffers 65537 8k;"),
              "invalid value \"65537\" in \"s_buffers\" "
              "directive, the number must be 1..65536" +
                  at(1));
    EXPECT_EQ(error("s_buffers 1025 1m;"),
              "1025 buffers of 1m are more than 1g in \"s_buffers\" directive" + at(1));
    ASSERT_TRUE(load("s_buffers 1024 1m;").is_ok());
    EXPECT_EQ(error("s_buffers 4 511;"),
              "invalid value \"511\" in \"s_buffers\" directive" + at(1));
}

}  // namespace
}  // namespace core
