// The module registry and directive dispatch: context checks, argument counts, block/plain
// mismatches, typed slot setters with bounds and duplicates, custom setters, create/merge and
// inheritance between levels, and the value parsers behind the slots.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/conf_context.h"
#include "core/cycle.h"
#include "core/module.h"
#include "support/test_modules.h"

namespace core {
extern const Module kCoreModule;

namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// ---- a test module: one conf type at the main level and again inside `test_block { }` ----

struct TestConf : ConfBase {
    std::optional<bool> flag;
    std::optional<std::chrono::milliseconds> timeout;
    std::optional<Size> size;
    std::optional<std::string> text;
    std::optional<int> bounded;    // 1..10
    std::optional<int64_t> wide;   // default bounds 0..INT32_MAX
    std::optional<uint16_t> port;  // 1..65535
    std::vector<std::string> list;
    std::vector<std::string> block_names;
    std::vector<ConfVector> blocks;  // kUpstream confs of every test_block
};

Status merge(const TestConf& parent, TestConf& child) {
    inherit(child.flag, parent.flag, false);
    inherit(child.timeout, parent.timeout, 60s);
    inherit(child.size, parent.size, Size{4096});
    inherit(child.text, parent.text, "default");
    inherit(child.bounded, parent.bounded, 5);
    inherit(child.wide, parent.wide, 7);
    inherit(child.port, parent.port, 80);
    return Status::ok();
}

/// A conf type without merge(): nothing is inherited and no default is applied.
struct PlainConf : ConfBase {
    std::optional<int> value;
};

/// A conf type that only exists at the http location level.
struct LocOnlyConf : ConfBase {
    std::optional<bool> x;
};

std::vector<std::string> g_noconf_args;
std::vector<std::string> g_other_calls;

Status set_list(ConfContext& cf, TestConf& conf) {
    for (const auto& a : cf.args()) {
        if (a == "bad") {
            return cf.invalid_value(a);
        }
        if (a == "worse") {
            return cf.invalid_value(a, "it must not be worse");
        }
        if (a == "fail") {
            return cf.error("list failed on \"" + a + "\"");
        }
        conf.list.push_back(a);
    }
    return Status::ok();
}

Status set_noconf(ConfContext& cf) {
    for (const auto& a : cf.args()) {
        g_noconf_args.push_back(a);
    }
    return Status::ok();
}

Status set_block(ConfContext& cf, TestConf& conf) {
    conf.block_names.push_back(cf.arg(0));
    conf.blocks.push_back(cf.create_confs(ConfLevel::kUpstream));
    ConfContext::Frame frame{ConfLevel::kUpstream, &conf.blocks.back()};
    return cf.apply_block(cf.node().children, kCtxUpstream, std::span(&frame, 1));
}

/// After the main level is finalized: the blocks inherit from it.
Status test_postconfiguration(Cycle& cycle) {
    ConfContext cf(cycle, cycle.registry());
    for (auto& b : cycle.conf<TestConf>().blocks) {
        HALO_TRY(cf.merge_confs(ConfLevel::kUpstream, cycle.main_confs(), b));
    }
    return Status::ok();
}

constexpr uint32_t kMainAndBlock = kCtxMain | kCtxUpstream;

constexpr Directive kTestDirectives[] = {
    {"t_flag", kMainAndBlock, kArgs1, slot<&TestConf::flag>()},
    {"t_timeout", kMainAndBlock, kArgs1, slot<&TestConf::timeout>()},
    {"t_size", kMainAndBlock, kArgs1, slot<&TestConf::size>()},
    {"t_text", kMainAndBlock, kArgs1, slot<&TestConf::text>()},
    {"t_bounded", kMainAndBlock, kArgs1, slot<&TestConf::bounded, 1, 10>()},
    {"t_wide", kMainAndBlock, kArgs1, slot<&TestConf::wide>()},
    {"t_port", kMainAndBlock, kArgs1, slot<&TestConf::port, 1, 65535>()},
    {"t_list", kMainAndBlock, kArgs1ToN, setter<&set_list>()},
    {"t_two", kCtxMain, kArgs2, setter<&set_list>()},
    {"t_noconf", kMainAndBlock, Args{0, 3, false}, setter_noconf<&set_noconf>()},
    {"t_block", kCtxMain, kArgsBlock1, setter<&set_block>()},
    {"t_block_only", kCtxUpstream, kArgs1, slot<&TestConf::text>()},
    {"t_shared", kCtxMain, kArgs1, setter<&set_list>()},
};

constexpr ConfHooks kTestConfs[] = {
    conf_hooks<TestConf>(ConfLevel::kMain),
    conf_hooks<TestConf>(ConfLevel::kUpstream),
};

const Module kTestModule{
    .name = "test",
    .type = ModuleType::kCore,
    .directives = kTestDirectives,
    .confs = kTestConfs,
    .postconfiguration = &test_postconfiguration,
};

Status set_other_shared(ConfContext& cf) {
    g_other_calls.push_back(cf.arg(0));
    return Status::ok();
}

// A second module: another directive called `t_shared` (block context only), a conf without
// merge, and a conf type at a level the main context never has. A directive's slot must
// name a conf type of its own module.
constexpr Directive kOtherDirectives[] = {
    {"t_shared", kCtxUpstream, kArgs1, setter_noconf<&set_other_shared>()},
    {"t_plain", kCtxMain, kArgs1, slot<&PlainConf::value>()},
    {"t_loc_only", kCtxMain, kArgs1, slot<&LocOnlyConf::x>()},
};

constexpr ConfHooks kOtherConfs[] = {
    conf_hooks<PlainConf>(ConfLevel::kMain),
    conf_hooks<LocOnlyConf>(ConfLevel::kHttpLoc),
};

const Module kOtherModule{
    .name = "other",
    .type = ModuleType::kCore,
    .directives = kOtherDirectives,
    .confs = kOtherConfs,
};

const Module* const kModules[] = {&kCoreModule, &kTestModule, &kOtherModule};

class ConfContextTest : public ::testing::Test {
  protected:
    ConfContextTest() : registry_(kModules) {
        g_noconf_args.clear();
        g_other_calls.clear();
    }

    Status load(std::string_view conf) {
        cycle_.reset();
        return support::load_cycle(registry_, dir_, conf, cycle_);
    }
    /// The error of loading `conf` (empty when it loads).
    std::string error(std::string_view conf) {
        Status s = load(conf);
        EXPECT_FALSE(s.is_ok()) << "loaded: " << conf;
        return s.message();
    }
    std::string at(int line) const {
        return " in " + dir_.file("halo.conf") + ":" + std::to_string(line);
    }
    TestConf& conf() { return cycle_->conf<TestConf>(); }

    support::TempDir dir_;
    ModuleRegistry registry_;
    std::unique_ptr<Cycle> cycle_;
};

// ---- registry ----

TEST_F(ConfContextTest, RegistryIndexesModulesAndConfs) {
    EXPECT_EQ(registry_.size(), 3u);
    EXPECT_EQ(&registry_.at(1), &kTestModule);
    EXPECT_EQ(registry_.index_of(kCoreModule), 0);
    EXPECT_EQ(registry_.index_of(kOtherModule), 2);
    Module stranger{.name = "stranger", .directives = {}, .confs = {}};
    EXPECT_EQ(registry_.index_of(stranger), -1);
    EXPECT_EQ(registry_.find("test"), &kTestModule);
    EXPECT_EQ(registry_.find("nope"), nullptr);
    EXPECT_EQ(ConfSlot<TestConf>::index, 1);
    EXPECT_EQ(ConfSlot<PlainConf>::index, 2);
    EXPECT_EQ(ConfSlot<LocOnlyConf>::index, 2);
    ASSERT_NE(registry_.hooks(1, ConfLevel::kUpstream), nullptr);
    EXPECT_EQ(registry_.hooks(1, ConfLevel::kUpstream)->level, ConfLevel::kUpstream);
    EXPECT_EQ(registry_.hooks(1, ConfLevel::kHttpLoc), nullptr);
    EXPECT_NE(registry_.hooks(2, ConfLevel::kHttpLoc), nullptr);
}

TEST_F(ConfContextTest, RegistryLookupFindsEveryModuleOfAName) {
    auto shared = registry_.lookup("t_shared");
    ASSERT_EQ(shared.size(), 2u);
    EXPECT_EQ(shared[0].module, 1);
    EXPECT_EQ(shared[1].module, 2);
    EXPECT_EQ(shared[1].directive->contexts, kCtxUpstream);
    EXPECT_EQ(registry_.lookup("t_flag").size(), 1u);
    EXPECT_TRUE(registry_.lookup("nothing").empty());
    // The core module's own directives are there too.
    EXPECT_EQ(registry_.lookup("worker_processes").size(), 1u);
}

TEST_F(ConfContextTest, ActiveRegistry) {
    ModuleRegistry::set_active(&registry_);
    EXPECT_EQ(&ModuleRegistry::active(), &registry_);
    ModuleRegistry::set_active(nullptr);
}

// ---- success path: every slot type ----

TEST_F(ConfContextTest, SlotsOfEveryType) {
    Status s = load(
        "t_flag on;\n"
        "t_timeout 1m30s;\n"
        "t_size 4k;\n"
        "t_text \"hello world\";\n"
        "t_bounded 10;\n"
        "t_wide 2147483647;\n"
        "t_port 65535;\n");
    ASSERT_TRUE(s.is_ok()) << s.message();
    EXPECT_EQ(conf().flag, true);
    EXPECT_EQ(conf().timeout, 90s);
    EXPECT_EQ(conf().size, Size{4096});
    EXPECT_EQ(conf().text, "hello world");
    EXPECT_EQ(conf().bounded, 10);
    EXPECT_EQ(conf().wide, INT32_MAX);
    EXPECT_EQ(conf().port, 65535);
}

TEST_F(ConfContextTest, FlagOff) {
    ASSERT_TRUE(load("t_flag off;").is_ok());
    EXPECT_EQ(conf().flag, false);
}

TEST_F(ConfContextTest, DefaultsComeFromMerge) {
    ASSERT_TRUE(load("").is_ok());
    EXPECT_EQ(conf().flag, false);
    EXPECT_EQ(conf().timeout, 60s);
    EXPECT_EQ(conf().size, Size{4096});
    EXPECT_EQ(conf().text, "default");
    EXPECT_EQ(conf().bounded, 5);
    EXPECT_EQ(conf().wide, 7);
    EXPECT_EQ(conf().port, 80);
}

TEST_F(ConfContextTest, ConfWithoutMergeKeepsWhatWasSet) {
    ASSERT_TRUE(load("").is_ok());
    EXPECT_FALSE(cycle_->conf<PlainConf>().value.has_value());
    ASSERT_TRUE(load("t_plain 3;").is_ok());
    EXPECT_EQ(cycle_->conf<PlainConf>().value, 3);
}

TEST_F(ConfContextTest, LowerBoundsAccepted) {
    ASSERT_TRUE(load("t_bounded 1; t_wide 0; t_port 1; t_timeout 0; t_size 0;").is_ok());
    EXPECT_EQ(conf().bounded, 1);
    EXPECT_EQ(conf().wide, 0);
    EXPECT_EQ(conf().port, 1);
    EXPECT_EQ(conf().timeout, 0ms);
    EXPECT_EQ(conf().size, Size{0});
}

TEST_F(ConfContextTest, CustomSetterGetsEveryArgument) {
    ASSERT_TRUE(load("t_list a b c;\nt_list d;").is_ok());
    EXPECT_THAT(conf().list, ElementsAre("a", "b", "c", "d"));
}

TEST_F(ConfContextTest, SetterWithoutConf) {
    ASSERT_TRUE(load("t_noconf;\nt_noconf x y z;").is_ok());
    EXPECT_THAT(g_noconf_args, ElementsAre("x", "y", "z"));
}

TEST_F(ConfContextTest, SameNameInTwoModulesDispatchesByContext) {
    ASSERT_TRUE(load("t_shared main;\nt_block b { t_shared inner; }").is_ok());
    EXPECT_THAT(conf().list, ElementsAre("main"));
    EXPECT_THAT(g_other_calls, ElementsAre("inner"));
}

// ---- every rejection, with its message ----

TEST_F(ConfContextTest, UnknownDirective) {
    EXPECT_EQ(error("t_flag on;\n\nbogus 1;"), "unknown directive \"bogus\"" + at(3));
    EXPECT_EQ(error("t_block b {\n  nope;\n}"), "unknown directive \"nope\"" + at(2));
}

TEST_F(ConfContextTest, NotAllowedHere) {
    EXPECT_EQ(error("t_block_only x;"), "\"t_block_only\" directive is not allowed here" + at(1));
    EXPECT_EQ(error("t_block b {\n t_block c { }\n}"),
              "\"t_block\" directive is not allowed here" + at(2));
    EXPECT_EQ(error("t_block b {\n t_two x y;\n}"),
              "\"t_two\" directive is not allowed here" + at(2));
}

TEST_F(ConfContextTest, NotAllowedWhenItsConfLevelIsNotOpen) {
    // Declared for the main context, but its conf lives at the http location level.
    EXPECT_EQ(error("t_loc_only on;"), "\"t_loc_only\" directive is not allowed here" + at(1));
}

TEST_F(ConfContextTest, BlockDirectiveWithoutBlock) {
    EXPECT_EQ(error("\nt_block b;"), "directive \"t_block\" has no opening \"{\"" + at(2));
}

TEST_F(ConfContextTest, PlainDirectiveWithBlock) {
    EXPECT_EQ(error("t_flag on { }"), "directive \"t_flag\" is not terminated by \";\"" + at(1));
}

TEST_F(ConfContextTest, InvalidNumberOfArguments) {
    EXPECT_EQ(error("t_flag;"), "invalid number of arguments in \"t_flag\" directive" + at(1));
    EXPECT_EQ(error("t_flag on off;"),
              "invalid number of arguments in \"t_flag\" directive" + at(1));
    EXPECT_EQ(error("t_two a;"), "invalid number of arguments in \"t_two\" directive" + at(1));
    EXPECT_EQ(error("t_two a b c;"), "invalid number of arguments in \"t_two\" directive" + at(1));
    EXPECT_EQ(error("t_list;"), "invalid number of arguments in \"t_list\" directive" + at(1));
    EXPECT_EQ(error("t_noconf a b c d;"),
              "invalid number of arguments in \"t_noconf\" directive" + at(1));
    EXPECT_EQ(error("t_block { }"), "invalid number of arguments in \"t_block\" directive" + at(1));
    EXPECT_EQ(error("t_block a b { }"),
              "invalid number of arguments in \"t_block\" directive" + at(1));
}

TEST_F(ConfContextTest, DuplicateOfEverySlotType) {
    EXPECT_EQ(error("t_flag on;\nt_flag on;"), "\"t_flag\" directive is duplicate" + at(2));
    EXPECT_EQ(error("t_timeout 1s;\nt_timeout 2s;"),
              "\"t_timeout\" directive is duplicate" + at(2));
    EXPECT_EQ(error("t_size 1k;\nt_size 1k;"), "\"t_size\" directive is duplicate" + at(2));
    EXPECT_EQ(error("t_text a;\nt_text b;"), "\"t_text\" directive is duplicate" + at(2));
    EXPECT_EQ(error("t_bounded 1;\nt_bounded 2;"), "\"t_bounded\" directive is duplicate" + at(2));
    EXPECT_EQ(error("t_wide 1;\nt_wide 1;"), "\"t_wide\" directive is duplicate" + at(2));
    EXPECT_EQ(error("t_port 1;\n\nt_port 2;"), "\"t_port\" directive is duplicate" + at(3));
}

TEST_F(ConfContextTest, DuplicateIsCheckedBeforeTheValue) {
    EXPECT_EQ(error("t_flag on;\nt_flag maybe;"), "\"t_flag\" directive is duplicate" + at(2));
}

TEST_F(ConfContextTest, SameSlotInMainAndBlockIsNoDuplicate) {
    ASSERT_TRUE(load("t_flag on;\nt_block b { t_flag off; }").is_ok());
}

TEST_F(ConfContextTest, InvalidFlag) {
    EXPECT_EQ(
        error("t_flag yes;"),
        "invalid value \"yes\" in \"t_flag\" directive, it must be \"on\" or \"off\"" + at(1));
    EXPECT_EQ(error("t_flag ON;"),
              "invalid value \"ON\" in \"t_flag\" directive, it must be \"on\" or \"off\"" + at(1));
}

TEST_F(ConfContextTest, InvalidDuration) {
    for (const char* bad : {"abc", "10x", "1s1m", "-1", "1.5s", "s"}) {
        EXPECT_EQ(error(std::string("t_timeout ") + bad + ";"),
                  std::string("invalid value \"") + bad +
                      "\" in \"t_timeout\" directive, expected a time such as 500ms, 10s, 1m" +
                      at(1));
    }
    EXPECT_EQ(error("t_timeout \"\";"),
              "invalid value \"\" in \"t_timeout\" directive, expected a time such as 500ms, "
              "10s, 1m" +
                  at(1));
}

TEST_F(ConfContextTest, InvalidSize) {
    for (const char* bad : {"abc", "4x", "1.5m", "-1", "k", "4kb"}) {
        EXPECT_EQ(error(std::string("t_size ") + bad + ";"),
                  std::string("invalid value \"") + bad +
                      "\" in \"t_size\" directive, expected a size such as 512, 4k, 1m" + at(1));
    }
}

TEST_F(ConfContextTest, IntegerBounds) {
    EXPECT_EQ(error("t_bounded 0;"),
              "invalid value \"0\" in \"t_bounded\" directive, it must be 1..10" + at(1));
    EXPECT_EQ(error("t_bounded 11;"),
              "invalid value \"11\" in \"t_bounded\" directive, it must be 1..10" + at(1));
    EXPECT_EQ(error("t_bounded -1;"),
              "invalid value \"-1\" in \"t_bounded\" directive, it must be 1..10" + at(1));
    EXPECT_EQ(error("t_bounded 5x;"),
              "invalid value \"5x\" in \"t_bounded\" directive, it must be 1..10" + at(1));
    EXPECT_EQ(
        error("t_wide 2147483648;"),
        "invalid value \"2147483648\" in \"t_wide\" directive, it must be 0..2147483647" + at(1));
    EXPECT_EQ(error("t_port 65536;"),
              "invalid value \"65536\" in \"t_port\" directive, it must be 1..65535" + at(1));
    EXPECT_EQ(error("t_port 99999999999999999999;"),
              "invalid value \"99999999999999999999\" in \"t_port\" directive, it must be "
              "1..65535" +
                  at(1));
}

TEST_F(ConfContextTest, CustomSetterErrors) {
    EXPECT_EQ(error("t_list a bad;"), "invalid value \"bad\" in \"t_list\" directive" + at(1));
    EXPECT_EQ(error("t_list worse;"),
              "invalid value \"worse\" in \"t_list\" directive, it must not be worse" + at(1));
    EXPECT_EQ(error("\nt_list fail;"), "list failed on \"fail\"" + at(2));
}

TEST_F(ConfContextTest, ErrorInsideBlockNamesTheInnerLine) {
    EXPECT_EQ(error("t_block b {\n  t_flag on;\n  t_flag off;\n}"),
              "\"t_flag\" directive is duplicate" + at(3));
}

TEST_F(ConfContextTest, FirstErrorWins) {
    EXPECT_EQ(error("t_list bad;\nt_list worse;"),
              "invalid value \"bad\" in \"t_list\" directive" + at(1));
}

TEST_F(ConfContextTest, EveryUnknownDirectiveIsReported) {
    // In file order, one line each; an unknown block once, without its body.
    EXPECT_EQ(error("bogus1;\nt_block b {\n  bogus2 1;\n}\nbogus3 {\n  bogus4;\n}"),
              "unknown directive \"bogus1\"" + at(1) + "\nunknown directive \"bogus2\"" + at(3) +
                  "\nunknown directive \"bogus3\"" + at(5));
    // Then the first other error, after the unknown directives met before it.
    EXPECT_EQ(error("bogus1;\nt_list bad;\nbogus2;"),
              "unknown directive \"bogus1\"" + at(1) +
                  "\ninvalid value \"bad\" in \"t_list\" directive" + at(2));
}

// ---- inheritance from the main level into blocks ----

TEST_F(ConfContextTest, BlocksInheritFromMainThenDefaults) {
    Status s = load(
        "t_flag on;\n"
        "t_text main;\n"
        "t_block a { t_text own; t_bounded 2; }\n"
        "t_block b { t_flag off; }\n"
        "t_block c { }\n");
    ASSERT_TRUE(s.is_ok()) << s.message();
    ASSERT_EQ(conf().blocks.size(), 3u);
    EXPECT_THAT(conf().block_names, ElementsAre("a", "b", "c"));
    const auto& a = conf_of<TestConf>(conf().blocks[0]);
    const auto& b = conf_of<TestConf>(conf().blocks[1]);
    const auto& c = conf_of<TestConf>(conf().blocks[2]);
    EXPECT_EQ(a.text, "own");   // own value
    EXPECT_EQ(a.flag, true);    // from main
    EXPECT_EQ(a.bounded, 2);    // own value
    EXPECT_EQ(b.flag, false);   // own value beats main's
    EXPECT_EQ(b.text, "main");  // from main
    EXPECT_EQ(b.bounded, 5);    // main's default
    EXPECT_EQ(c.timeout, 60s);  // default through main
    EXPECT_EQ(c.flag, true);
    EXPECT_EQ(conf().text, "main");  // main is not changed by a block
    EXPECT_EQ(conf().bounded, 5);
}

TEST_F(ConfContextTest, BlockOnlyDirectiveWritesTheBlockConf) {
    ASSERT_TRUE(load("t_block a { t_block_only x; }").is_ok());
    EXPECT_EQ(conf_of<TestConf>(conf().blocks[0]).text, "x");
    EXPECT_EQ(conf().text, "default");
}

// ---- ConfContext used directly ----

TEST_F(ConfContextTest, CreateConfsPerLevel) {
    ASSERT_TRUE(load("").is_ok());
    ConfContext cf(*cycle_, registry_);
    ConfVector main = cf.create_confs(ConfLevel::kMain);
    ASSERT_EQ(main.size(), 3u);
    EXPECT_TRUE(main[0] != nullptr);  // CoreConf
    EXPECT_TRUE(main[1] != nullptr);  // TestConf
    EXPECT_TRUE(main[2] != nullptr);  // PlainConf
    ConfVector loc = cf.create_confs(ConfLevel::kHttpLoc);
    EXPECT_TRUE(loc[0] == nullptr);
    EXPECT_TRUE(loc[1] == nullptr);
    EXPECT_TRUE(loc[2] != nullptr);  // LocOnlyConf
    // Fresh objects: nothing set.
    EXPECT_FALSE(conf_of<TestConf>(main).flag.has_value());
}

TEST_F(ConfContextTest, MergeAndFinalize) {
    ASSERT_TRUE(load("").is_ok());
    ConfContext cf(*cycle_, registry_);
    ConfVector parent = cf.create_confs(ConfLevel::kUpstream);
    ConfVector child = cf.create_confs(ConfLevel::kUpstream);
    conf_of<TestConf>(parent).text = "p";
    conf_of<TestConf>(parent).bounded = 9;
    conf_of<TestConf>(child).bounded = 3;
    ASSERT_TRUE(cf.merge_confs(ConfLevel::kUpstream, parent, child).is_ok());
    EXPECT_EQ(conf_of<TestConf>(child).text, "p");
    EXPECT_EQ(conf_of<TestConf>(child).bounded, 3);
    EXPECT_EQ(conf_of<TestConf>(child).port, 80);  // default

    ConfVector lone = cf.create_confs(ConfLevel::kUpstream);
    conf_of<TestConf>(lone).port = 8080;
    ASSERT_TRUE(cf.finalize_confs(ConfLevel::kUpstream, lone).is_ok());
    EXPECT_EQ(conf_of<TestConf>(lone).port, 8080);
    EXPECT_EQ(conf_of<TestConf>(lone).text, "default");
}

TEST_F(ConfContextTest, ApplyBlockWithOwnFrame) {
    ASSERT_TRUE(load("").is_ok());
    ConfDocument doc;
    ASSERT_TRUE(ConfParser("/").parse_text("t_flag on;\nt_size 1m;", "inline", doc).is_ok());
    ConfContext cf(*cycle_, registry_);
    ConfVector confs = cf.create_confs(ConfLevel::kMain);
    ConfContext::Frame frame{ConfLevel::kMain, &confs};
    ASSERT_TRUE(cf.apply_block(doc.directives, kCtxMain, std::span(&frame, 1)).is_ok());
    EXPECT_EQ(conf_of<TestConf>(confs).flag, true);
    EXPECT_EQ(conf_of<TestConf>(confs).size, Size{1024 * 1024});
    EXPECT_EQ(cf.context(), kCtxMain);
    // The cycle's own conf is another object.
    EXPECT_EQ(conf().flag, false);
}

TEST_F(ConfContextTest, ApplyBlockRestoresContextAfterAnError) {
    ASSERT_TRUE(load("").is_ok());
    ConfDocument doc;
    ASSERT_TRUE(
        ConfParser("/").parse_text("t_block_only x;\nt_flag maybe;", "inline", doc).is_ok());
    ConfContext cf(*cycle_, registry_);
    ConfVector confs = cf.create_confs(ConfLevel::kUpstream);
    ConfContext::Frame frame{ConfLevel::kUpstream, &confs};
    Status s = cf.apply_block(doc.directives, kCtxUpstream, std::span(&frame, 1));
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.message(),
              "invalid value \"maybe\" in \"t_flag\" directive, it must be \"on\" or \"off\" in "
              "inline:2");
    EXPECT_EQ(conf_of<TestConf>(confs).text, "x");
    EXPECT_EQ(cf.context(), kCtxMain);
    // No directive at hand: errors carry no location.
    EXPECT_EQ(cf.error("plain").message(), "plain");
}

TEST_F(ConfContextTest, ApplyWithoutAnyFrameIsNotAllowed) {
    ASSERT_TRUE(load("").is_ok());
    ConfDocument doc;
    ASSERT_TRUE(ConfParser("/").parse_text("t_flag on;", "inline", doc).is_ok());
    ConfContext cf(*cycle_, registry_);
    Status s = cf.apply(doc.directives[0]);
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.message(), "\"t_flag\" directive is not allowed here in inline:1");
    // A setter that needs no conf works anywhere its context allows.
    ConfDocument doc2;
    ASSERT_TRUE(ConfParser("/").parse_text("t_noconf q;", "inline", doc2).is_ok());
    ASSERT_TRUE(cf.apply(doc2.directives[0]).is_ok());
    EXPECT_THAT(g_noconf_args, ElementsAre("q"));
}

TEST_F(ConfContextTest, FullPathUsesThePrefix) {
    ASSERT_TRUE(load("").is_ok());
    ConfContext cf(*cycle_, registry_);
    EXPECT_EQ(cf.full_path("logs/x.log"), dir_.prefix() + "logs/x.log");
    EXPECT_EQ(cf.full_path("/abs/x.log"), "/abs/x.log");
    EXPECT_EQ(cycle_->conf_dir(), dir_.path());
}

// ---- value parsers ----

TEST(ParseDurationTest, Accepts) {
    EXPECT_EQ(parse_duration("30"), 30s);
    EXPECT_EQ(parse_duration("0"), 0ms);
    EXPECT_EQ(parse_duration("500ms"), 500ms);
    EXPECT_EQ(parse_duration("10s"), 10s);
    EXPECT_EQ(parse_duration("1m30s"), 90s);
    EXPECT_EQ(parse_duration("2h"), 2h);
    EXPECT_EQ(parse_duration("1d"), 24h);
    EXPECT_EQ(parse_duration("1w"), 7 * 24h);
    EXPECT_EQ(parse_duration("1M"), 30 * 24h);
    EXPECT_EQ(parse_duration("1y"), 365 * 24h);
    EXPECT_EQ(parse_duration("1d2h3m4s5ms"), 24h + 2h + 3min + 4s + 5ms);
    EXPECT_EQ(parse_duration("1s500ms"), 1500ms);
}

TEST(ParseDurationTest, Rejects) {
    for (const char* bad :
         {"", "abc", "10x", "1s1m", "1m1m", "ms", "1.5s", "-1", "1 s", "1h30", "s1", "1mss"}) {
        EXPECT_EQ(parse_duration(bad), std::nullopt) << bad;
    }
    EXPECT_EQ(parse_duration("9999999999999999999y"), std::nullopt);
    EXPECT_EQ(parse_duration("999999999999y"), std::nullopt);  // overflows int64 milliseconds
}

TEST(ParseSizeTest, AcceptsAndRejects) {
    EXPECT_EQ(parse_size("512"), Size{512});
    EXPECT_EQ(parse_size("4k"), Size{4096});
    EXPECT_EQ(parse_size("4K"), Size{4096});
    EXPECT_EQ(parse_size("8m"), Size{8u << 20});
    EXPECT_EQ(parse_size("8M"), Size{8u << 20});
    EXPECT_EQ(parse_size("1g"), Size{1ull << 30});
    EXPECT_EQ(parse_size("1G"), Size{1ull << 30});
    EXPECT_EQ(parse_size("0"), Size{0});
    for (const char* bad : {"", "k", "4t", "4kb", "-4k", "1.5m", " 4k", "4 k"}) {
        EXPECT_EQ(parse_size(bad), std::nullopt) << bad;
    }
}

TEST(ParseIntTest, AcceptsAndRejects) {
    EXPECT_EQ(parse_int("0"), 0);
    EXPECT_EQ(parse_int("007"), 7);
    EXPECT_EQ(parse_int("123456789012345678"), 123456789012345678LL);  // 18 digits
    for (const char* bad : {"", "-1", "+1", "1x", " 1", "1 ", "1234567890123456789", "0x10"}) {
        EXPECT_EQ(parse_int(bad), std::nullopt) << bad;
    }
}

TEST(InheritTest, ChildThenParentThenDefault) {
    std::optional<int> child;
    std::optional<int> parent;
    inherit(child, parent, 3);
    EXPECT_EQ(child, 3);
    child.reset();
    parent = 2;
    inherit(child, parent, 3);
    EXPECT_EQ(child, 2);
    child = 1;
    inherit(child, parent, 3);
    EXPECT_EQ(child, 1);
    std::optional<std::string> s;
    inherit(s, std::optional<std::string>(), "text");
    EXPECT_EQ(s, "text");
}

}  // namespace
}  // namespace core
