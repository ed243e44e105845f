// `halo --import-keepalived`: keepalived's syntax (comments, quotes, braces, includes, errors
// with file:line), the mapping of each keyword, the report of what is skipped, and round trips:
// the imported text loaded by halo's own config code, field by field.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "core/cycle.h"
#include "modules/vrrp/keepalived_import.h"
#include "modules/vrrp/keepalived_map.h"
#include "modules/vrrp/keepalived_parse.h"
#include "modules/vrrp/vrrp_conf.h"
#include "support/test_modules.h"

namespace vrrp::keepalived {
namespace {

using namespace std::chrono_literals;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

KaDocument parse_ok(std::string_view text, const std::string& dir = ".") {
    KaDocument doc;
    core::Status s = parse_text(text, "k.conf", dir, doc);
    EXPECT_TRUE(s.is_ok()) << s.message();
    return doc;
}

std::string parse_error(std::string_view text) {
    KaDocument doc;
    core::Status s = parse_text(text, "k.conf", ".", doc);
    EXPECT_FALSE(s.is_ok()) << text;
    return s.message();
}

TEST(KeepalivedParseTest, CommentsQuotesAndBlocks) {
    KaDocument doc = parse_ok(
        "! a comment\n"
        "# another\n"
        "vrrp_script chk {   ! trailing comment\n"
        "    script \"/bin/check arg # not a comment\"\n"
        "    interval 2 # comment after a value\n"
        "}\n"
        "vrrp_instance VI_1\n"
        "{\n"
        "    authentication { auth_type PASS\n"
        "      auth_pass 1111 }\n"
        "}\n");
    ASSERT_EQ(doc.nodes.size(), 2u);
    const KaNode& s = doc.nodes[0];
    EXPECT_EQ(s.line, 3);
    EXPECT_THAT(s.words, ElementsAre("vrrp_script", "chk"));
    ASSERT_EQ(s.children.size(), 2u);
    EXPECT_THAT(s.children[0].words, ElementsAre("script", "/bin/check arg # not a comment"));
    EXPECT_THAT(s.children[1].words, ElementsAre("interval", "2"));
    EXPECT_EQ(s.children[1].where(), "k.conf:5");
    const KaNode& i = doc.nodes[1];
    EXPECT_TRUE(i.block);  // the brace on the next line opens the instance's block
    ASSERT_EQ(i.children.size(), 1u);
    ASSERT_EQ(i.children[0].children.size(), 2u);
    EXPECT_THAT(i.children[0].children[1].words, ElementsAre("auth_pass", "1111"));
    EXPECT_EQ(i.children[0].children[1].line, 10);
}

TEST(KeepalivedParseTest, ConditionalLinesKeepTheirCondition) {
    KaDocument doc = parse_ok("vrrp_instance V {\n@high priority 170\n@^low priority 85\n}\n");
    ASSERT_EQ(doc.nodes[0].children.size(), 2u);
    EXPECT_EQ(doc.nodes[0].children[0].condition, "@high");
    EXPECT_THAT(doc.nodes[0].children[0].words, ElementsAre("priority", "170"));
    EXPECT_EQ(doc.nodes[0].children[1].condition, "@^low");
}

TEST(KeepalivedParseTest, ErrorsNameFileAndLine) {
    EXPECT_EQ(parse_error("global_defs {\n  router_id A\n"),
              "k.conf:3: unexpected end of file, the \"{\" of line 1 is not closed");
    EXPECT_EQ(parse_error("global_defs {\n}\n}\n"), "k.conf:3: unexpected \"}\"");
    EXPECT_EQ(parse_error("vrrp_script a {\n script \"/bin/x\n}\n"),
              "k.conf:2: unterminated quoted string");
    EXPECT_EQ(parse_error("router_id a {\n}\n{\n}\n"), "k.conf:3: unexpected \"{\"");
    EXPECT_EQ(parse_error("include /nonexistent/halo-k.conf\n").rfind("k.conf:1: ", 0), 0u);
}

TEST(KeepalivedParseTest, IncludesResolveRelativeToTheFileAndGlob) {
    support::TempDir dir;
    std::filesystem::create_directories(dir.path() + "/conf.d/sub");
    dir.write("conf.d/a.conf", "vrrp_script a {\n script /bin/true\n}\n");
    dir.write("conf.d/b.conf", "include sub/c.conf\n");
    dir.write("conf.d/sub/c.conf", "\n\nvrrp_script c {\n script /bin/true\n}\n");
    dir.write("main.conf", "include conf.d/*.conf\ninclude none/*.conf\nglobal_defs {\n}\n");
    KaDocument doc;
    core::Status s = parse_file(dir.file("main.conf"), doc);
    ASSERT_TRUE(s.is_ok()) << s.message();
    ASSERT_EQ(doc.nodes.size(), 3u);
    EXPECT_THAT(doc.nodes[0].words, ElementsAre("vrrp_script", "a"));
    EXPECT_EQ(doc.nodes[1].where(), dir.file("conf.d/sub/c.conf") + ":3");
    EXPECT_EQ(doc.nodes[2].where(), dir.file("main.conf") + ":3");
    EXPECT_THAT(doc.notes, ElementsAre(dir.file("main.conf") +
                                       ":2: include \"none/*.conf\" matches no file (skipped)"));
}

TEST(KeepalivedImportTest, ValueConversions) {
    EXPECT_EQ(parse_seconds("2"), 2000ms);
    EXPECT_EQ(parse_seconds("0.5"), 500ms);
    EXPECT_EQ(parse_seconds("1.25"), 1250ms);
    EXPECT_FALSE(parse_seconds("1s"));
    EXPECT_FALSE(parse_seconds("-1"));
    EXPECT_EQ(duration_text(2000ms), "2s");
    EXPECT_EQ(duration_text(250ms), "250ms");
    EXPECT_EQ(word("/bin/x"), "/bin/x");
    EXPECT_EQ(word("/bin/x arg"), "\"/bin/x arg\"");
    EXPECT_EQ(word("a\"b"), "\"a\\\"b\"");
}

/// Imports `text`, then loads the result with halo's config code (as `halo -t` does).
class KeepalivedRoundTripTest : public ::testing::Test {
  protected:
    KeepalivedRoundTripTest() : registry_(core::compiled_modules()) {}

    void import(std::string_view text) {
        result_ = ImportResult();
        core::Status s = import_text(text, "k.conf", result_);
        ASSERT_TRUE(s.is_ok()) << s.message();
        core::Status l =
            support::load_cycle(registry_, dir_, result_.conf, cycle_, nullptr, {}, true);
        ASSERT_TRUE(l.is_ok()) << l.message() << "\n" << result_.conf;
    }
    const VrrpConf& conf() const { return *vrrp_conf(*cycle_); }

    support::TempDir dir_;
    core::ModuleRegistry registry_;
    std::unique_ptr<core::Cycle> cycle_;
    ImportResult result_;
};

TEST_F(KeepalivedRoundTripTest, EveryInstanceField) {
    import(R"(global_defs {
    router_id LVS_DEVEL
    script_user nobody
    vrrp_garp_master_repeat 3
}
vrrp_script chk_nginx {
    script "/etc/keepalived/check_nginx.sh --quick"
    interval 2
    timeout 1.5
    weight -20
    fall 3
    rise 2
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 2
    authentication {
        auth_type PASS
        auth_pass 1111
    }
    virtual_ipaddress {
        192.168.1.108
        192.168.1.109/24 dev eth1
    }
    nopreempt
    preempt_delay 5
    unicast_src_ip 10.0.0.1
    unicast_peer {
        10.0.0.2
        10.0.0.3
    }
    track_script {
        chk_nginx weight -30
    }
    track_interface {
        eth1
        eth2 weight -10
    }
    notify_master "/usr/local/bin/notify master"
    notify /usr/local/bin/notify.sh
    garp_master_delay 10
    garp_master_refresh 60
}
)");
    EXPECT_THAT(result_.skipped, ::testing::IsEmpty());
    EXPECT_THAT(result_.conf, HasSubstr("# keepalived router_id LVS_DEVEL (k.conf:2)"));
    const VrrpConf& c = conf();
    EXPECT_EQ(c.script_user, "nobody");
    ASSERT_EQ(c.scripts.size(), 1u);
    const ScriptConf& s = c.scripts[0];
    EXPECT_EQ(s.name, "chk_nginx");
    EXPECT_EQ(s.script, "/etc/keepalived/check_nginx.sh --quick");
    EXPECT_EQ(s.interval, 2000ms);
    EXPECT_EQ(s.timeout, 1500ms);
    EXPECT_EQ(s.weight, -20);
    EXPECT_EQ(s.fall, 3);
    EXPECT_EQ(s.rise, 2);
    ASSERT_EQ(c.instances.size(), 1u);
    const InstanceConf& i = c.instances[0];
    EXPECT_EQ(i.name, "VI_1");
    EXPECT_EQ(i.version, 2);  // keepalived's default
    EXPECT_EQ(i.state, StartState::kMaster);
    EXPECT_EQ(i.interface, "eth0");
    EXPECT_EQ(i.vrid, 51);
    EXPECT_EQ(i.priority, 100);
    EXPECT_EQ(i.advert_int, 2000ms);
    EXPECT_EQ(i.auth_pass, "1111");
    ASSERT_EQ(i.vips.size(), 2u);
    EXPECT_EQ(i.vips[0].text(), "192.168.1.108/32");
    EXPECT_EQ(i.vips[1].text(), "192.168.1.109/24 dev eth1");
    EXPECT_FALSE(i.preempt);
    EXPECT_EQ(i.preempt_delay, 5000ms);
    EXPECT_EQ(i.unicast_src->text(), "10.0.0.1");
    ASSERT_EQ(i.unicast_peers.size(), 2u);
    EXPECT_EQ(i.unicast_peers[1].text(), "10.0.0.3");
    ASSERT_EQ(i.track_scripts.size(), 1u);
    EXPECT_EQ(i.track_scripts[0].weight, -30);
    ASSERT_EQ(i.track_interfaces.size(), 2u);
    EXPECT_TRUE(i.track_interfaces[0].action.fault);
    EXPECT_EQ(i.track_interfaces[1].action.weight, -10);
    EXPECT_EQ(i.notify_master, "/usr/local/bin/notify master");
    EXPECT_EQ(i.notify, "/usr/local/bin/notify.sh");
    EXPECT_EQ(i.garp_master_delay, 10000ms);
    EXPECT_EQ(i.garp_master_repeat, 3);  // from global_defs
    EXPECT_EQ(i.garp_master_refresh, 60000ms);
}

TEST_F(KeepalivedRoundTripTest, SyncGroups) {
    // keepalived writes the groups first; halo's go after the instances they name.
    import(R"(vrrp_sync_group G1 {
    group {
        VI_1
        VI_2 VI_9
    }
    notify_master "/bin/m arg"
    notify /bin/n
    global_tracking
    smtp_alert
}
vrrp_sync_group G2 {
    group {
        VI_2
        VI_3
    }
    sync_group_tracking_weight
}
vrrp_sync_group G3 {
    VI_3
}
vrrp_sync_group G1 {
    group { VI_3 }
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 52
}
vrrp_instance VI_3 {
    interface eth0
    virtual_router_id 53
}
vrrp_instance VI_4 {
    virtual_router_id 54
}
)");
    ASSERT_EQ(conf().sync_groups.size(), 2u) << result_.conf;
    const SyncGroupConf& g1 = conf().sync_groups[0];
    EXPECT_EQ(g1.name, "G1");
    EXPECT_THAT(g1.members, ElementsAre("VI_1", "VI_2"));
    EXPECT_EQ(g1.notify_master, "/bin/m arg");
    EXPECT_EQ(g1.notify, "/bin/n");
    EXPECT_TRUE(g1.tracking_weight);  // global_tracking: keepalived's older name
    const SyncGroupConf& g2 = conf().sync_groups[1];
    EXPECT_THAT(g2.members, ElementsAre("VI_3"));  // VI_2 is G1's
    EXPECT_TRUE(g2.tracking_weight);
    EXPECT_EQ(conf().instances[2].sync_group, "G2");
    EXPECT_THAT(result_.conf, HasSubstr("# keepalived k.conf:1"));
    EXPECT_THAT(
        result_.skipped,
        ElementsAre(
            "k.conf:4: keepalived keyword \"group VI_9\" is not supported: no vrrp_instance VI_9 "
            "was imported (skipped)",
            "k.conf:9: keepalived keyword \"smtp_alert\" is not supported (skipped)",
            "k.conf:13: keepalived keyword \"group VI_2\" is not supported: the instance is in a "
            "vrrp_sync_group before (halo allows one) (skipped)",
            "k.conf:18: keepalived keyword \"vrrp_sync_group G3\" is not supported: it has no "
            "\"group { ... }\" (skipped)",
            "k.conf:19: keepalived keyword \"VI_3\" is not supported (skipped)",
            "k.conf:21: keepalived keyword \"vrrp_sync_group G1\" is not supported: a group of "
            "that name is defined before (skipped)",
            "k.conf:36: keepalived keyword \"vrrp_instance VI_4\" is not supported: it has no "
            "usable \"interface\" (skipped)"));
}

TEST_F(KeepalivedRoundTripTest, SyncGroupMembersLoseTheirTrackerWeights) {
    // keepalived ignores the tracker weights of a sync group's members (a failing tracker is
    // a FAULT) unless the group keeps them: the import says the same in halo's words.
    import(R"(vrrp_script chk {
    script /bin/true
    weight -20
}
vrrp_sync_group G {
    group {
        VI_1
        @node2 VI_2
    }
    notify /bin/a
    notify /bin/b
}
vrrp_sync_group K {
    group {
        VI_2
    }
    global_tracking
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    track_script {
        chk weight -30
    }
    track_interface {
        eth1 weight 10
    }
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 52
    priority 100
    track_interface {
        eth1 weight 10
    }
}
)");
    const InstanceConf& a = conf().instances[0];
    EXPECT_EQ(a.priority, 100);  // no bonus for the interface weight
    ASSERT_EQ(a.track_scripts.size(), 1u);
    EXPECT_EQ(a.track_scripts[0].weight, std::optional<int>(0));
    EXPECT_EQ(a.track_interfaces[0].action, (TrackAction{0, true}));
    const InstanceConf& b = conf().instances[1];  // in K, which keeps weights
    EXPECT_EQ(b.priority, 110);
    ASSERT_EQ(b.track_interfaces.size(), 1u);
    EXPECT_EQ(b.track_interfaces[0].action, (TrackAction{-10, false}));
    EXPECT_EQ(conf().sync_groups[0].members, std::vector<std::string>{"VI_1"});
    EXPECT_EQ(conf().sync_groups[0].notify, "/bin/a");
    EXPECT_EQ(conf().sync_groups[1].members, std::vector<std::string>{"VI_2"});
    EXPECT_THAT(result_.skipped,
                Contains("k.conf:8: keepalived keyword \"@node2\" is not supported: "
                         "conditional configuration (skipped)"));
    EXPECT_THAT(result_.skipped, Contains("k.conf:11: keepalived keyword \"notify\" is not "
                                          "supported: it is given before (skipped)"));
    EXPECT_THAT(result_.skipped, Contains(HasSubstr("k.conf:24: track_script chk: its weight is "
                                                    "ignored")));
}

TEST_F(KeepalivedRoundTripTest, GroupTrackersAreWrittenInEachMember) {
    import(R"(vrrp_script chk {
    script /bin/true
}
vrrp_sync_group G {
    group {
        VI_1
        VI_2
    }
    track_script {
        chk
    }
    track_interface {
        eth1 weight 10
    }
    sync_group_tracking_weight
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    track_script {
        chk weight -20
    }
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 52
    priority 90
    track_script {
        chk
        chk
    }
}
)");
    const InstanceConf& a = conf().instances[0];
    const InstanceConf& b = conf().instances[1];
    // The group's chk comes first; VI_1's own (weight -20) is reported, not doubled.
    ASSERT_EQ(a.track_scripts.size(), 1u);
    EXPECT_EQ(a.track_scripts[0].weight, std::nullopt);
    ASSERT_EQ(b.track_scripts.size(), 1u);
    // The group keeps weights: the positive interface weight raises each member's priority.
    EXPECT_EQ(a.priority, 110);
    EXPECT_EQ(b.priority, 100);
    ASSERT_EQ(a.track_interfaces.size(), 1u);
    EXPECT_EQ(a.track_interfaces[0].action, (TrackAction{-10, false}));
    ASSERT_EQ(b.track_interfaces.size(), 1u);
    EXPECT_EQ(b.track_interfaces[0].action, (TrackAction{-10, false}));
    auto twice = [](int line) {
        return "k.conf:" + std::to_string(line) +
               ": keepalived keyword \"track_script\" is not supported: \"chk\" is tracked "
               "twice (skipped)";
    };
    auto raised = [](int line, const char* name, int from) {
        return "k.conf:" + std::to_string(line) + ": vrrp_instance " + name +
               ": the positive track_interface weights (10, added while up) are written as "
               "negative ones (added while down) with priority " +
               std::to_string(from) + " + 10 = " + std::to_string(from + 10);
    };
    EXPECT_THAT(result_.skipped, ElementsAre(raised(17, "VI_1", 100), twice(22),
                                             raised(25, "VI_2", 90), twice(30), twice(31)));
}

TEST_F(KeepalivedRoundTripTest, SkippedKeywordsAreReportedWithTheirLines) {
    import(R"(global_defs {
    notification_email {
        root@example.org
    }
    vrrp_strict
}
vrrp_sync_group G {
    group { VI_1 }
}
vrrp_instance VI_1 {
    interface eth0
    smtp_alert
    virtual_router_id 51
    authentication {
        auth_type AH
        auth_pass 1111
    }
    virtual_ipaddress {
        192.168.200.18
        192.168.200.18 label eth0:1
        fe80::1/64
    }
    track_script {
        missing
    }
}
)");
    EXPECT_THAT(result_.skipped,
                ElementsAre("k.conf:2: keepalived keyword \"notification_email\" is not "
                            "supported (skipped)",
                            "k.conf:5: keepalived keyword \"vrrp_strict\" is not supported "
                            "(skipped)",
                            "k.conf:12: keepalived keyword \"smtp_alert\" is not supported "
                            "(skipped)",
                            "k.conf:14: keepalived keyword \"auth_type AH\" is not supported: "
                            "halo supports auth_type PASS only (skipped)",
                            "k.conf:20: keepalived keyword \"virtual_ipaddress 192.168.200.18\" "
                            "is not supported: the address is listed twice (skipped)",
                            "k.conf:21: keepalived keyword \"virtual_ipaddress fe80::1/64\" is "
                            "not supported: keepalived ignores it too: its family is not the one "
                            "of the instance's first address (list it in "
                            "virtual_ipaddress_excluded) (skipped)",
                            "k.conf:24: keepalived keyword \"track_script\" is not supported: "
                            "vrrp_script \"missing\" was not imported (skipped)"));
    ASSERT_EQ(conf().instances.size(), 1u);
    EXPECT_FALSE(conf().instances[0].auth_pass);
    EXPECT_EQ(conf().instances[0].vips.size(), 1u);
}

TEST_F(KeepalivedRoundTripTest, VersionAndIntervals) {
    import(R"(global_defs {
    vrrp_version 3
}
vrrp_instance A {
    interface eth0
    virtual_router_id 1
    advert_int 0.25
    authentication {
        auth_type PASS
        auth_pass 1111
    }
}
vrrp_instance B {
    version 2
    interface eth0
    virtual_router_id 2
    advert_int 0.5
}
)");
    ASSERT_EQ(conf().instances.size(), 2u);
    EXPECT_EQ(conf().instances[0].version, 3);
    EXPECT_EQ(conf().instances[0].advert_int, 250ms);
    EXPECT_EQ(conf().instances[1].version, 2);
    EXPECT_EQ(conf().instances[1].advert_int, 1000ms);  // v2 needs whole seconds
    EXPECT_THAT(result_.skipped,
                Contains("k.conf:8: keepalived keyword \"authentication\" is not supported: VRRP "
                         "version 3 has no authentication (RFC 5798) (skipped)"));
    EXPECT_THAT(result_.skipped,
                Contains("k.conf:17: keepalived advert_int 0.5 written as 1s (VRRP version 2)"));
}

TEST_F(KeepalivedRoundTripTest, InstancesHaloWouldRefuseAreLeftOut) {
    import(R"(vrrp_script empty {
    interval 2
}
vrrp_instance NO_IF {
    virtual_router_id 1
}
vrrp_instance A {
    interface eth0
    virtual_router_id 7
}
vrrp_instance B {
    interface eth0
    virtual_router_id 7
}
vrrp_instance A {
    interface eth1
    virtual_router_id 8
}
)");
    ASSERT_EQ(conf().instances.size(), 1u);
    EXPECT_EQ(conf().instances[0].name, "A");
    EXPECT_TRUE(conf().scripts.empty());
    EXPECT_THAT(result_.skipped, ElementsAre(HasSubstr("k.conf:1: keepalived keyword \"vrrp_script "
                                                       "empty\" is not supported: it has no"),
                                             HasSubstr("k.conf:4: keepalived keyword "
                                                       "\"vrrp_instance NO_IF\""),
                                             HasSubstr("k.conf:11: keepalived keyword "
                                                       "\"vrrp_instance B\""),
                                             HasSubstr("k.conf:15: keepalived keyword "
                                                       "\"vrrp_instance A\"")));
}

// Values keepalived takes and halo's config would refuse: reported and left out, so that
// the output still loads (those of virtual_servers: keepalived_lvs_test.cc).
TEST_F(KeepalivedRoundTripTest, ValuesHaloWouldRefuseAreLeftOut) {
    import(R"(vrrp_script a {
  script /bin/true
}
vrrp_script a {
  script /bin/false
}
vrrp_instance "my inst" {
  interface eth0
  virtual_router_id 9
  unicast_src_ip 10.0.0.1
  notify ""
  track_script {
    a weight 300
  }
  virtual_ipaddress {
    10.0.0.5/33
    10.0.0.7 dev
  }
  priority 0
  preempt_delay 5000
}
)");
    ASSERT_EQ(conf().instances.size(), 1u);
    EXPECT_EQ(conf().instances[0].name, "my inst");
    EXPECT_FALSE(conf().instances[0].unicast_src);
    EXPECT_EQ(conf().instances[0].priority, 100);
    EXPECT_EQ(conf().scripts[0].script, "/bin/true");
    EXPECT_THAT(
        result_.skipped,
        ElementsAre(HasSubstr("k.conf:4: keepalived keyword \"vrrp_script a\""),
                    HasSubstr("k.conf:10: keepalived keyword \"unicast_src_ip\""),
                    HasSubstr("k.conf:11: keepalived keyword \"notify\""),
                    HasSubstr("k.conf:13: keepalived keyword \"weight 300\""),
                    HasSubstr("k.conf:16: keepalived keyword \"virtual_ipaddress 10.0.0.5/33\""),
                    "k.conf:17: keepalived keyword \"dev\" is not supported (skipped)",
                    "k.conf:19: keepalived keyword \"priority 0\" is not supported: invalid "
                    "value (skipped)",
                    HasSubstr("k.conf:20: keepalived keyword \"preempt_delay 5000\"")));
}

TEST_F(KeepalivedRoundTripTest, Ipv6Instances) {
    import(R"(global_defs {
    vrrp_version 2
}
vrrp_instance V6 {
    interface eth0
    virtual_router_id 61
    priority 150
    advert_int 0.1
    virtual_ipaddress {
        fd77::100/64
        fd77::101 dev eth1 -nodad
        10.0.0.5/24
    }
    virtual_ipaddress_excluded {
        10.0.0.6/24
        fd77::102
        fd77::100
    }
    unicast_src_ip fe80::1
    unicast_peer {
        fe80::2
        10.0.0.9
    }
}
vrrp_instance V4 {
    interface eth0
    virtual_router_id 61
    virtual_ipaddress {
        10.0.0.1/24
    }
}
vrrp_instance V6v2 {
    interface eth1
    version 2
    virtual_router_id 62
    virtual_ipaddress {
        fd77::200
    }
}
)");
    ASSERT_EQ(conf().instances.size(), 2u) << result_.conf;
    const InstanceConf& v6 = conf().instances[0];
    EXPECT_EQ(v6.name, "V6");
    EXPECT_TRUE(v6.ipv6);
    EXPECT_EQ(v6.version, 3);  // keepalived: IPv6 is v3 unless the instance says otherwise
    EXPECT_EQ(v6.advert_int, 100ms);
    ASSERT_EQ(v6.vips.size(), 4u) << result_.conf;
    EXPECT_EQ(v6.vips[0].text(), "fd77::100/64");
    EXPECT_EQ(v6.vips[1].text(), "fd77::101/128 dev eth1");
    EXPECT_TRUE(v6.vips[1].dad);
    EXPECT_EQ(v6.vips[2].text(), "10.0.0.6/24");
    EXPECT_TRUE(v6.vips[2].excluded);
    EXPECT_EQ(v6.vips[3].text(), "fd77::102/128");
    EXPECT_TRUE(v6.vips[3].excluded);
    EXPECT_EQ(v6.unicast_src, IpAddr::parse("fe80::1"));
    EXPECT_THAT(v6.unicast_peers, ElementsAre(*IpAddr::parse("fe80::2")));
    const InstanceConf& v4 = conf().instances[1];
    EXPECT_FALSE(v4.ipv6);
    EXPECT_EQ(v4.version, 2);
    EXPECT_EQ(v4.vrid, 61);  // the same VRID as V6's on eth0: another virtual router
    EXPECT_THAT(
        result_.skipped,
        ElementsAre(HasSubstr("k.conf:12: keepalived keyword \"virtual_ipaddress 10.0.0.5/24\" "
                              "is not supported: keepalived ignores it too"),
                    HasSubstr("k.conf:17: keepalived keyword \"virtual_ipaddress_excluded "
                              "fd77::100\" is not supported: the address is listed twice"),
                    "k.conf:22: keepalived keyword \"10.0.0.9\" is not supported: not an IPv6 "
                    "peer (skipped)",
                    "k.conf:32: keepalived keyword \"vrrp_instance V6v2\" is not supported: IPv6 "
                    "with VRRP version 2 is keepalived's own (RFC 3768 is IPv4 only); halo runs "
                    "IPv6 instances with version 3 (RFC 5798) (skipped)"));
}

// A removed unicast_src_ip before the raised priority, more VIPs than a slot holds, and the
// real-time settings halo has under keepalived's names.
TEST_F(KeepalivedRoundTripTest, RaisedPriorityAfterARemovedLineAndTheSlotLimits) {
    std::string vips;
    for (size_t i = 1; i <= kMaxSlotVips + 2; i++) {
        vips += "    10.0.1." + std::to_string(i) + "/24\n";
    }
    import(
        "global_defs {\n  vrrp_rt_priority 40\n  vrrp_no_swap\n}\n"
        "vrrp_instance V {\n  interface eth0\n  virtual_router_id 9\n"
        "  unicast_src_ip 10.0.0.1\n  priority 100\n  track_interface {\n    eth1 weight 5\n  }\n"
        "  virtual_ipaddress {\n" +
        vips + "  }\n}\n");
    ASSERT_EQ(conf().instances.size(), 1u);
    const InstanceConf& i = conf().instances[0];
    EXPECT_EQ(i.priority, 105);
    ASSERT_EQ(i.track_interfaces.size(), 1u);
    EXPECT_EQ(i.track_interfaces[0].action.weight, -5);
    EXPECT_EQ(i.vips.size(), kMaxSlotVips);
    EXPECT_THAT(result_.conf, HasSubstr("vrrp_rt_priority 40;"));
    EXPECT_THAT(result_.conf, HasSubstr("vrrp_no_swap;"));
    EXPECT_THAT(result_.skipped,
                ElementsAre(HasSubstr("k.conf:5: vrrp_instance V: the positive track_interface"),
                            HasSubstr("k.conf:8: keepalived keyword \"unicast_src_ip\""),
                            HasSubstr("keepalived keyword \"virtual_ipaddress 10.0.1.33/24\""),
                            HasSubstr("keepalived keyword \"virtual_ipaddress 10.0.1.34/24\"")));
}

TEST_F(KeepalivedRoundTripTest, NothingToMapStillLoads) {
    import("global_defs {\n    router_id X\n}\nstatic_routes {\n    10.0.0.0/8 dev eth0\n}\n");
    EXPECT_EQ(result_.conf.find("vrrp {"), std::string::npos);
    EXPECT_THAT(result_.skipped,
                ElementsAre("k.conf:4: keepalived keyword \"static_routes\" is not supported "
                            "(skipped)"));
}

}  // namespace
}  // namespace vrrp::keepalived
