// The vrrp module's directives: the vrrp block, vrrp_script and vrrp_instance with keepalived's
// names, defaults, and every rejection with its message and file:line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "core/cycle.h"
#include "modules/vrrp/vrrp_conf.h"
#include "support/test_modules.h"

namespace vrrp {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

class VrrpConfigTest : public ::testing::Test {
  protected:
    VrrpConfigTest() : registry_(core::compiled_modules()) {}

    core::Status load(std::string_view text) {
        cycle_.reset();
        return support::load_cycle(registry_, dir_, text, cycle_, nullptr, {}, true);
    }
    std::string error(std::string_view text) {
        core::Status s = load(text);
        EXPECT_FALSE(s.is_ok()) << "loaded: " << text;
        return s.message();
    }
    /// `body` inside `vrrp_instance VI_1 { ... }` (line 3 is the first line of body).
    std::string instance_error(std::string_view body, std::string_view globals = "") {
        return error("vrrp {\n" + std::string(globals) + "vrrp_instance VI_1 {\n" +
                     std::string(body) + "}\n}\n");
    }
    std::string at(int line) const {
        return " in " + dir_.file("halo.conf") + ":" + std::to_string(line);
    }
    const VrrpConf& conf() const { return *vrrp_conf(*cycle_); }

    support::TempDir dir_;
    core::ModuleRegistry registry_;
    std::unique_ptr<core::Cycle> cycle_;
};

// The example of issue 6, as written.
constexpr std::string_view kIssueExample = R"(
http { upstream tomcats { server 127.0.0.1:8080; } }
vrrp {
    version 2;                      # 3 by default
    vrrp_instance VI_1 {
        state BACKUP;
        interface eth0;
        virtual_router_id 51;
        priority 100;
        advert_int 1000ms;          # 1s, 100ms, ...
        authentication { auth_type PASS; auth_pass 1111; }   # v2 only
        virtual_ipaddress { 10.77.0.100/24; }
        track_upstream tomcats weight=-50;
    }
}
)";

TEST_F(VrrpConfigTest, IssueExample) {
    core::Status s = load(kIssueExample);
    ASSERT_TRUE(s.is_ok()) << s.message();
    ASSERT_EQ(conf().instances.size(), 1u);
    const InstanceConf& i = conf().instances[0];
    EXPECT_EQ(i.name, "VI_1");
    EXPECT_EQ(i.version, 2);
    EXPECT_EQ(i.state, StartState::kBackup);
    EXPECT_EQ(i.interface, "eth0");
    EXPECT_EQ(i.vrid, 51);
    EXPECT_EQ(i.priority, 100);
    EXPECT_EQ(i.advert_int, 1s);
    EXPECT_EQ(i.auth_pass, std::optional<std::string>("1111"));
    ASSERT_EQ(i.vips.size(), 1u);
    EXPECT_EQ(i.vips[0].text(), "10.77.0.100/24");
    ASSERT_EQ(i.track_upstreams.size(), 1u);
    EXPECT_EQ(i.track_upstreams[0].name, "tomcats");
    EXPECT_EQ(i.track_upstreams[0].action, (TrackAction{-50, false}));
    EXPECT_TRUE(i.preempt);
    EXPECT_EQ(i.where, dir_.file("halo.conf") + ":5");
}

TEST_F(VrrpConfigTest, DefaultsAndEveryDirective) {
    core::Status s = load(R"(http { upstream app { server 127.0.0.1:1; } }
vrrp {
    script_user root;
    vrrp_script chk {
        script "/bin/sh -c 'exit 0'";
        interval 2s;
        timeout 500ms;
        weight -20;
        fall 3;
        rise 2;
        user nobody;
    }
    vrrp_script bare { script /bin/true arg; }
    vrrp_instance A {
        interface veth0;
        virtual_router_id 7;
        virtual_ipaddress {
            10.77.0.100/24;
            10.77.0.101 dev veth1;
        }
    }
    vrrp_instance B {
        state MASTER;
        version 3;
        interface veth0;
        virtual_router_id 8;
        priority 255;
        advert_int 100ms;
        nopreempt;
        preempt_delay 5s;
        unicast_src_ip 10.77.0.1;
        unicast_peer { 10.77.0.2; 10.77.0.3; }
        track_script chk;
        track_script bare weight=10;
        track_interface veth1;
        track_interface veth2 weight=-10;
        track_workers;
        track_upstream app fault;
        notify_master "/x master";
        notify_backup /x;
        notify_fault /y;
        notify /z;
        garp_master_delay 0;
        garp_master_repeat 3;
        garp_master_refresh 60s;
    }
}
)");
    ASSERT_TRUE(s.is_ok()) << s.message();
    const VrrpConf& c = conf();
    EXPECT_EQ(c.script_user, std::optional<std::string>("root"));
    ASSERT_EQ(c.scripts.size(), 2u);
    const ScriptConf& chk = c.scripts[0];
    EXPECT_EQ(chk.script, "/bin/sh -c 'exit 0'");
    EXPECT_EQ(chk.interval, 2s);
    EXPECT_EQ(chk.timeout, 500ms);
    EXPECT_EQ(chk.weight, -20);
    EXPECT_EQ(chk.fall, 3);
    EXPECT_EQ(chk.rise, 2);
    EXPECT_EQ(chk.user, std::optional<std::string>("nobody"));
    EXPECT_EQ(c.scripts[1].script, "/bin/true arg");
    EXPECT_EQ(c.scripts[1].interval, 1s);
    EXPECT_EQ(c.scripts[1].timeout, 1s);  // the interval
    EXPECT_EQ(c.scripts[1].fall, 1);

    ASSERT_EQ(c.instances.size(), 2u);
    const InstanceConf& a = c.instances[0];
    EXPECT_EQ(a.version, 3);
    EXPECT_EQ(a.priority, 100);
    EXPECT_EQ(a.advert_int, 1s);
    EXPECT_EQ(a.state, StartState::kBackup);
    EXPECT_FALSE(a.auth_pass);
    ASSERT_EQ(a.vips.size(), 2u);
    EXPECT_EQ(a.vips[1].text(), "10.77.0.101/32 dev veth1");
    EXPECT_EQ(a.garp_master_delay, 5s);
    EXPECT_EQ(a.garp_master_repeat, 5);
    EXPECT_EQ(a.garp_master_refresh, 0s);
    EXPECT_TRUE(a.preempt);

    const InstanceConf& b = c.instances[1];
    EXPECT_EQ(b.state, StartState::kMaster);
    EXPECT_EQ(b.priority, 255);
    EXPECT_EQ(b.advert_int, 100ms);
    EXPECT_FALSE(b.preempt);
    EXPECT_EQ(b.preempt_delay, 5s);
    EXPECT_EQ(b.unicast_src, IpAddr::parse("10.77.0.1"));
    ASSERT_EQ(b.unicast_peers.size(), 2u);
    EXPECT_EQ(b.unicast_peers[1].text(), "10.77.0.3");
    ASSERT_EQ(b.track_scripts.size(), 2u);
    EXPECT_FALSE(b.track_scripts[0].weight);
    EXPECT_EQ(b.track_scripts[1].weight, std::optional<int>(10));
    ASSERT_EQ(b.track_interfaces.size(), 2u);
    EXPECT_EQ(b.track_interfaces[0].action, (TrackAction{0, true}));
    EXPECT_EQ(b.track_interfaces[1].action, (TrackAction{-10, false}));
    EXPECT_EQ(b.track_workers, std::optional<TrackAction>(TrackAction{0, true}));
    EXPECT_EQ(b.track_upstreams[0].action, (TrackAction{0, true}));
    EXPECT_EQ(b.notify_master, "/x master");
    EXPECT_EQ(b.notify_backup, "/x");
    EXPECT_EQ(b.notify_fault, "/y");
    EXPECT_EQ(b.notify, "/z");
    EXPECT_EQ(b.garp_master_delay, 0s);
    EXPECT_EQ(b.garp_master_repeat, 3);
    EXPECT_EQ(b.garp_master_refresh, 60s);
}

TEST_F(VrrpConfigTest, AdvertIntForms) {
    for (auto [text, ms] : {std::pair{"1", 1000}, {"1s", 1000}, {"1000ms", 1000}, {"3s", 3000}}) {
        ASSERT_TRUE(load("vrrp { version 2; vrrp_instance I { interface e; virtual_router_id 1; "
                         "advert_int " +
                         std::string(text) + "; } }")
                        .is_ok())
            << text;
        EXPECT_EQ(conf().instances[0].advert_int, Millis(ms)) << text;
    }
    ASSERT_TRUE(
        load("vrrp { vrrp_instance I { interface e; virtual_router_id 1; advert_int 20ms; } }")
            .is_ok());
    EXPECT_EQ(conf().instances[0].advert_int, 20ms);
}

TEST_F(VrrpConfigTest, GlobalVersionAppliesToEveryInstanceUnlessOverridden) {
    ASSERT_TRUE(load("vrrp { vrrp_instance A { interface e; virtual_router_id 1; }\n"
                     "version 2;\n"
                     "vrrp_instance B { version 3; interface e; virtual_router_id 2; } }")
                    .is_ok());
    EXPECT_EQ(conf().instances[0].version, 2);
    EXPECT_EQ(conf().instances[1].version, 3);
}

TEST_F(VrrpConfigTest, NoVrrpBlockNoInstances) {
    ASSERT_TRUE(load("events {}\n").is_ok());
    EXPECT_TRUE(conf().instances.empty());
    EXPECT_FALSE(conf().seen);
}

// ---- rejections ----

constexpr std::string_view kBase = "interface eth0;\nvirtual_router_id 51;\n";

TEST_F(VrrpConfigTest, PriorityRange) {
    EXPECT_EQ(instance_error("priority 0;\n"),
              "invalid value \"0\" in \"priority\" directive, it must be 1..255" + at(3));
    EXPECT_EQ(instance_error("priority 256;\n"),
              "invalid value \"256\" in \"priority\" directive, it must be 1..255" + at(3));
    EXPECT_EQ(instance_error("priority -1;\n"),
              "invalid value \"-1\" in \"priority\" directive, it must be 1..255" + at(3));
    EXPECT_EQ(instance_error("priority 10;\npriority 20;\n"),
              "\"priority\" directive is duplicate" + at(4));
}

TEST_F(VrrpConfigTest, VridRange) {
    EXPECT_EQ(instance_error("virtual_router_id 0;\n"),
              "invalid value \"0\" in \"virtual_router_id\" directive, it must be 1..255" + at(3));
    EXPECT_EQ(
        instance_error("virtual_router_id 256;\n"),
        "invalid value \"256\" in \"virtual_router_id\" directive, it must be 1..255" + at(3));
}

TEST_F(VrrpConfigTest, AdvertIntV2WholeSeconds) {
    EXPECT_EQ(instance_error(std::string(kBase) + "advert_int 100ms;\n", "version 2;\n"),
              "invalid value \"100ms\" in \"advert_int\" directive, VRRP version 2 needs whole "
              "seconds (1s..255s)" +
                  at(6));
    EXPECT_EQ(instance_error(std::string(kBase) + "advert_int 256s;\nversion 2;\n"),
              "invalid value \"256000ms\" in \"advert_int\" directive, VRRP version 2 needs whole "
              "seconds (1s..255s)" +
                  at(5));
}

TEST_F(VrrpConfigTest, AdvertIntV3Centiseconds) {
    EXPECT_EQ(instance_error(std::string(kBase) + "advert_int 15ms;\n"),
              "invalid value \"15ms\" in \"advert_int\" directive, VRRP version 3 needs steps of "
              "10ms up to 40950ms" +
                  at(5));
    EXPECT_EQ(instance_error(std::string(kBase) + "advert_int 41s;\n"),
              "invalid value \"41000ms\" in \"advert_int\" directive, VRRP version 3 needs steps "
              "of 10ms up to 40950ms" +
                  at(5));
    EXPECT_EQ(instance_error("advert_int 0;\n"),
              "invalid value \"0\" in \"advert_int\" directive, expected a time such as 1s, "
              "100ms" +
                  at(3));
    EXPECT_EQ(instance_error("advert_int fast;\n"),
              "invalid value \"fast\" in \"advert_int\" directive, expected a time such as 1s, "
              "100ms" +
                  at(3));
}

TEST_F(VrrpConfigTest, AuthenticationOnlyInV2) {
    EXPECT_EQ(instance_error(std::string(kBase) +
                             "authentication {\nauth_type PASS;\nauth_pass 1111;\n}\n"),
              "\"authentication\" is only allowed with VRRP version 2 (vrrp_instance \"VI_1\" "
              "uses version 3)" +
                  at(5));
    EXPECT_EQ(instance_error("authentication { auth_type AH; auth_pass x; }\n"),
              "invalid value \"AH\" in \"auth_type\", only PASS is supported" + at(3));
    EXPECT_EQ(instance_error("authentication { auth_type PASS; auth_pass 123456789; }\n"),
              "invalid value \"123456789\" in \"auth_pass\", 1..8 characters" + at(3));
    EXPECT_EQ(instance_error("authentication { auth_type PASS; }\n"),
              "\"authentication\" needs both \"auth_type PASS\" and \"auth_pass\"" + at(3));
    EXPECT_EQ(instance_error("authentication { auth_kind PASS; }\n"),
              "unknown parameter \"auth_kind\" in \"authentication\"" + at(3));
}

TEST_F(VrrpConfigTest, MissingInterfaceOrVrid) {
    EXPECT_EQ(instance_error("virtual_router_id 1;\n"),
              "no \"interface\" in vrrp_instance \"VI_1\"" + at(2));
    EXPECT_EQ(instance_error("interface eth0;\n"),
              "no \"virtual_router_id\" in vrrp_instance \"VI_1\"" + at(2));
}

TEST_F(VrrpConfigTest, DuplicateVridOnOneInterface) {
    EXPECT_EQ(error("vrrp {\nvrrp_instance A { interface e; virtual_router_id 5; }\n"
                    "vrrp_instance B { interface e; virtual_router_id 5; }\n}\n"),
              "virtual_router_id 5 on \"e\" is already used by vrrp_instance \"A\"" + at(3));
    // The same VRID on another interface is another virtual router.
    EXPECT_TRUE(load("vrrp {\nvrrp_instance A { interface e; virtual_router_id 5; }\n"
                     "vrrp_instance B { interface f; virtual_router_id 5; }\n}\n")
                    .is_ok());
    EXPECT_EQ(
        error("vrrp {\nvrrp_instance A { interface e; virtual_router_id 5; }\n"
              "vrrp_instance A { interface f; virtual_router_id 6; }\n}\n"),
        "duplicate vrrp_instance \"A\", first defined in " + dir_.file("halo.conf") + ":2" + at(3));
}

TEST_F(VrrpConfigTest, VirtualAddresses) {
    EXPECT_EQ(instance_error("virtual_ipaddress {\n10.0.0.300/24;\n}\n"),
              "invalid virtual address \"10.0.0.300/24\"" + at(4));
    EXPECT_EQ(instance_error("virtual_ipaddress {\n10.0.0.1/33;\n}\n"),
              "invalid virtual address \"10.0.0.1/33\"" + at(4));
    EXPECT_EQ(instance_error("virtual_ipaddress {\n10.0.0.1/24 label x;\n}\n"),
              "invalid parameter \"label\" of virtual address 10.0.0.1/24 (expected \"dev "
              "NAME\")" +
                  at(4));
    EXPECT_EQ(instance_error("virtual_ipaddress {\n10.0.0.1/24;\n10.0.0.1/16;\n}\n"),
              "duplicate virtual address \"10.0.0.1/16\"" + at(5));
    EXPECT_EQ(instance_error("virtual_ipaddress {\nfd00::1/129;\n}\n"),
              "invalid virtual address \"fd00::1/129\"" + at(4));
    EXPECT_EQ(
        instance_error("virtual_ipaddress {\n10.0.0.1 -nodad;\n}\n"),
        "invalid parameter \"-nodad\" of virtual address 10.0.0.1 (expected \"dev NAME\")" + at(4));
}

TEST_F(VrrpConfigTest, Ipv6Instance) {
    ASSERT_TRUE(load("vrrp {\nvrrp_instance V6 {\ninterface eth0;\nvirtual_router_id 5;\n"
                     "virtual_ipaddress_excluded {\n10.0.0.5/24;\nfd77::102/64;\n}\n"
                     "virtual_ipaddress {\nfd77::100/64;\nfd77::101 dev eth1 -nodad;\n}\n}\n"
                     // The same VRID on the same link: IPv4 and IPv6 routers are apart.
                     "vrrp_instance V4 {\ninterface eth0;\nvirtual_router_id 5;\n"
                     "virtual_ipaddress {\n10.0.0.1/24;\n}\n}\n}\n")
                    .is_ok());
    const InstanceConf& c = conf().instances[0];
    EXPECT_TRUE(c.ipv6);
    EXPECT_EQ(c.version, 3);
    ASSERT_EQ(c.vips.size(), 4u);
    EXPECT_EQ(c.vips[0].text(), "fd77::100/64");
    EXPECT_FALSE(c.vips[0].dad);
    EXPECT_FALSE(c.vips[0].excluded);
    EXPECT_EQ(c.vips[1].text(), "fd77::101/128 dev eth1");
    EXPECT_TRUE(c.vips[1].dad);
    EXPECT_TRUE(c.vips[2].excluded);
    EXPECT_EQ(c.vips[2].text(), "10.0.0.5/24");
    EXPECT_TRUE(c.vips[3].excluded);
    EXPECT_FALSE(conf().instances[1].ipv6);
}

TEST_F(VrrpConfigTest, Ipv6Refusals) {
    // One family in the adverts (keepalived drops the other with "address family must match").
    EXPECT_EQ(instance_error("virtual_ipaddress {\n10.0.0.1/24;\nfd77::1/64;\n}\n"),
              "virtual address \"fd77::1/64\" is IPv6 but \"10.0.0.1/24\" before it is not: the "
              "addresses of \"virtual_ipaddress\" are advertised together and must be of one "
              "family; list the other family in \"virtual_ipaddress_excluded\"" +
                  at(5));
    EXPECT_EQ(instance_error("virtual_ipaddress {\nfd77::1;\n}\n"
                             "virtual_ipaddress_excluded {\nfd77::1;\n}\n"),
              "duplicate virtual address \"fd77::1\"" + at(7));
    // RFC 3768 is IPv4 only.
    EXPECT_EQ(instance_error(std::string(kBase) + "version 2;\nvirtual_ipaddress {\nfd77::1;\n}\n"),
              "vrrp_instance \"VI_1\" has IPv6 virtual addresses: VRRP version 2 is IPv4 only, "
              "IPv6 needs version 3 (RFC 5798)" +
                  at(5));  // the instance's `version 2;`
    EXPECT_EQ(
        instance_error(std::string(kBase) + "virtual_ipaddress {\nfd77::1;\n}\n", "version 2;\n"),
        "vrrp_instance \"VI_1\" has IPv6 virtual addresses: VRRP version 2 is IPv4 only, "
        "IPv6 needs version 3 (RFC 5798)" +
            at(3));
    EXPECT_EQ(instance_error(std::string(kBase) +
                             "virtual_ipaddress {\nfd77::1;\n}\nunicast_peer {\n10.0.0.2;\n}\n"),
              "\"unicast_peer\" 10.0.0.2 is not IPv6 as the virtual addresses of vrrp_instance "
              "\"VI_1\"" +
                  at(2));
    EXPECT_EQ(instance_error(std::string(kBase) + "virtual_ipaddress {\n10.0.0.1;\n}\n"
                                                  "unicast_src_ip fe80::1;\nunicast_peer {\n"
                                                  "10.0.0.2;\n}\n"),
              "\"unicast_src_ip\" fe80::1 is not IPv4 as the virtual addresses of vrrp_instance "
              "\"VI_1\"" +
                  at(2));
}

TEST_F(VrrpConfigTest, StateAndFlags) {
    EXPECT_EQ(
        instance_error("state PRIMARY;\n"),
        "invalid value \"PRIMARY\" in \"state\" directive, it must be MASTER or BACKUP" + at(3));
    EXPECT_EQ(instance_error("nopreempt on;\n"),
              "invalid number of arguments in \"nopreempt\" directive" + at(3));
    EXPECT_EQ(instance_error("version 4;\n"),
              "invalid value \"4\" in \"version\" directive, it must be 2 or 3" + at(3));
}

TEST_F(VrrpConfigTest, Unicast) {
    EXPECT_EQ(instance_error("unicast_peer {\n10.0.0.2;\nbogus;\n}\n"),
              "invalid unicast peer \"bogus\"" + at(5));
    EXPECT_EQ(instance_error("unicast_peer {\n}\n"), "\"unicast_peer\" block is empty" + at(3));
    EXPECT_EQ(instance_error(std::string(kBase) + "unicast_src_ip 10.0.0.1;\n"),
              "\"unicast_src_ip\" without \"unicast_peer\" in vrrp_instance \"VI_1\"" + at(2));
    EXPECT_EQ(
        instance_error("unicast_src_ip x;\n"),
        "invalid value \"x\" in \"unicast_src_ip\" directive, expected an IPv4 or IPv6 address" +
            at(3));
}

TEST_F(VrrpConfigTest, Tracking) {
    EXPECT_EQ(instance_error(std::string(kBase) + "track_script nosuch;\n"),
              "unknown vrrp_script \"nosuch\"" + at(5));
    EXPECT_EQ(instance_error("track_upstream app weight=-300;\n"),
              "invalid value \"weight=-300\" in \"track_upstream\" directive, the weight must be "
              "-253..253" +
                  at(3));
    EXPECT_EQ(instance_error("track_upstream app heavy;\n"),
              "invalid value \"heavy\" in \"track_upstream\" directive, expected weight=N or "
              "fault" +
                  at(3));
    EXPECT_EQ(instance_error("track_script s fault;\n"),
              "invalid value \"fault\" in \"track_script\" directive, expected weight=N" + at(3));
    EXPECT_EQ(instance_error("track_workers;\ntrack_workers;\n"),
              "\"track_workers\" directive is duplicate" + at(4));
    EXPECT_EQ(instance_error("track_interface e1;\ntrack_interface e1 weight=-5;\n"),
              "\"e1\" is tracked twice" + at(4));
}

TEST_F(VrrpConfigTest, InstanceNameFitsTheSharedSlot) {
    std::string name(64, 'n');
    EXPECT_EQ(
        error("vrrp {\nvrrp_instance " + name + " { interface e; virtual_router_id 5; }\n}\n"),
        "vrrp_instance name \"" + name + "\" is longer than 63 bytes" + at(2));
    name.pop_back();
    EXPECT_TRUE(
        load("vrrp {\nvrrp_instance " + name + " { interface e; virtual_router_id 5; }\n}\n")
            .is_ok());
}

TEST_F(VrrpConfigTest, TrackUpstreamNeedsAGroup) {
    EXPECT_EQ(error("http { upstream app { server 127.0.0.1:1; } }\nvrrp {\n"
                    "vrrp_instance A {\ninterface e;\nvirtual_router_id 1;\n"
                    "track_upstream app;\ntrack_upstream other weight=-10;\n}\n}\n"),
              "unknown upstream \"other\" in \"track_upstream\"" + at(7));
}

TEST_F(VrrpConfigTest, Scripts) {
    EXPECT_EQ(error("vrrp {\nvrrp_script s {\ninterval 1s;\n}\n}\n"),
              "no \"script\" in vrrp_script \"s\"" + at(2));
    EXPECT_EQ(error("vrrp {\nvrrp_script s {\nscript x;\nweight -300;\n}\n}\n"),
              "invalid value \"-300\" in \"weight\" directive, it must be -253..253" + at(4));
    EXPECT_EQ(error("vrrp {\nvrrp_script s {\nscript x;\nfall 0;\n}\n}\n"),
              "invalid value \"0\" in \"fall\" directive, it must be 1..1000" + at(4));
    EXPECT_EQ(error("vrrp {\nvrrp_script s {\nscript x;\nuser no_such_user_here;\n}\n}\n"),
              "unknown user \"no_such_user_here\" in \"user\" directive" + at(4));
    EXPECT_EQ(
        error("vrrp {\nvrrp_script s { script x; }\nvrrp_script s { script y; }\n}\n"),
        "duplicate vrrp_script \"s\", first defined in " + dir_.file("halo.conf") + ":2" + at(3));
}

TEST_F(VrrpConfigTest, RealTimeSchedulingAndNoSwap) {
    ASSERT_TRUE(load("vrrp {\n}\n").is_ok());
    EXPECT_FALSE(conf().rt_priority);  // off by default, as keepalived
    EXPECT_FALSE(conf().no_swap);
    ASSERT_TRUE(load("vrrp {\nvrrp_rt_priority 50;\nvrrp_no_swap;\n}\n").is_ok());
    EXPECT_EQ(conf().rt_priority, 50);
    EXPECT_TRUE(conf().no_swap);
    ASSERT_TRUE(load("vrrp {\nvrrp_rt_priority 1;\n}\n").is_ok());
    EXPECT_EQ(conf().rt_priority, 1);
    ASSERT_TRUE(load("vrrp {\nvrrp_rt_priority 99;\n}\n").is_ok());
    EXPECT_EQ(conf().rt_priority, 99);
    for (const char* bad : {"0", "100", "-5", "high"}) {
        EXPECT_EQ(error(std::string("vrrp {\nvrrp_rt_priority ") + bad + ";\n}\n"),
                  std::string("invalid value \"") + bad +
                      "\" in \"vrrp_rt_priority\" directive, it must be 1..99" + at(2));
    }
    EXPECT_EQ(error("vrrp {\nvrrp_rt_priority 10;\nvrrp_rt_priority 20;\n}\n"),
              "\"vrrp_rt_priority\" directive is duplicate" + at(3));
    EXPECT_EQ(error("vrrp {\nvrrp_no_swap;\nvrrp_no_swap;\n}\n"),
              "\"vrrp_no_swap\" directive is duplicate" + at(3));
    EXPECT_EQ(error("vrrp {\nvrrp_no_swap on;\n}\n"),
              "invalid number of arguments in \"vrrp_no_swap\" directive" + at(2));
    EXPECT_EQ(instance_error("vrrp_rt_priority 10;\n"),
              "\"vrrp_rt_priority\" directive is not allowed here" + at(3));
    EXPECT_EQ(error("vrrp_rt_priority 10;\n"),
              "\"vrrp_rt_priority\" directive is not allowed here" + at(1));
}

TEST_F(VrrpConfigTest, TrackWorkersTimeout) {
    ASSERT_TRUE(load("vrrp {\nvrrp_instance A {\ninterface eth0;\nvirtual_router_id 1;\n"
                     "track_workers;\n}\nvrrp_instance B {\ninterface eth0;\n"
                     "virtual_router_id 2;\ntrack_workers weight=-50 timeout=500ms;\n}\n}\n")
                    .is_ok());
    ASSERT_EQ(conf().instances.size(), 2u);
    EXPECT_EQ(conf().instances[0].track_workers_timeout, 200ms);  // the default
    EXPECT_TRUE(conf().instances[0].track_workers->fault);
    EXPECT_EQ(conf().instances[1].track_workers_timeout, 500ms);
    EXPECT_EQ(conf().instances[1].track_workers->weight, -50);
    EXPECT_EQ(instance_error("track_workers timeout=50ms;\n"),
              "invalid value \"timeout=50ms\" in \"track_workers\" directive, the timeout must be "
              "100ms..60s" +
                  at(3));
    EXPECT_EQ(instance_error("track_workers timeout=soon;\n"),
              "invalid value \"timeout=soon\" in \"track_workers\" directive, the timeout must "
              "be 100ms..60s" +
                  at(3));
    EXPECT_EQ(instance_error("track_workers often;\n"),
              "invalid value \"often\" in \"track_workers\" directive, expected weight=N, fault "
              "or timeout=T" +
                  at(3));
    EXPECT_EQ(instance_error("track_upstream app timeout=1s;\n"),
              "invalid value \"timeout=1s\" in \"track_upstream\" directive, expected weight=N "
              "or fault" +
                  at(3));
}

constexpr std::string_view kTwoInstances = R"(
vrrp_instance VI_1 { interface lo; virtual_router_id 1; virtual_ipaddress { 10.77.0.100/24; } }
vrrp_instance VI_2 { interface lo; virtual_router_id 2; virtual_ipaddress { 10.77.0.101/24; } }
vrrp_instance VI_3 { interface lo; virtual_router_id 3; virtual_ipaddress { 10.77.0.102/24; } }
)";

TEST_F(VrrpConfigTest, SyncGroup) {
    // keepalived writes the group before its instances; one name per line or several.
    core::Status s = load(
        "vrrp {\nvrrp_sync_group VG_1 {\ngroup {\nVI_1;\nVI_3;\n}\n"
        "notify_master /bin/m;\nnotify_backup \"/bin/b x\";\n"
        "notify_fault /bin/f;\nnotify /bin/n;\n}\n" +
        std::string(kTwoInstances) + "}\n");
    ASSERT_TRUE(s.is_ok()) << s.message();
    ASSERT_EQ(conf().sync_groups.size(), 1u);
    const SyncGroupConf& g = conf().sync_groups[0];
    EXPECT_EQ(g.name, "VG_1");
    EXPECT_EQ(g.where, dir_.file("halo.conf") + ":2");
    EXPECT_EQ(g.members, (std::vector<std::string>{"VI_1", "VI_3"}));
    EXPECT_EQ(g.notify_master, "/bin/m");
    EXPECT_EQ(g.notify_backup, "/bin/b x");
    EXPECT_EQ(g.notify_fault, "/bin/f");
    EXPECT_EQ(g.notify, "/bin/n");
    ASSERT_EQ(conf().instances.size(), 3u);
    EXPECT_EQ(conf().instances[0].sync_group, "VG_1");
    EXPECT_EQ(conf().instances[1].sync_group, "");
    EXPECT_EQ(conf().instances[2].sync_group, "VG_1");
    // The instance's own notify scripts are not the group's.
    EXPECT_EQ(conf().instances[0].notify_master, "");

    s = load("vrrp {\n" + std::string(kTwoInstances) +
             "vrrp_sync_group A { group { VI_1 VI_2; } }\n"
             "vrrp_sync_group B { group { VI_3; } }\n}\n");
    ASSERT_TRUE(s.is_ok()) << s.message();
    ASSERT_EQ(conf().sync_groups.size(), 2u);
    EXPECT_EQ(conf().sync_groups[0].members, (std::vector<std::string>{"VI_1", "VI_2"}));
    EXPECT_EQ(conf().instances[1].sync_group, "A");
    EXPECT_EQ(conf().instances[2].sync_group, "B");
}

TEST_F(VrrpConfigTest, SyncGroupMembersTrackWithFaultUnlessWeightsAreKept) {
    // keepalived: a weight cannot move a sync group, so a weighted tracker of a member puts
    // the group in Fault when it fails; sync_group_tracking_weight keeps the weights.
    std::string instances =
        "vrrp_script up { script /bin/true; weight 20; }\n"
        "vrrp_script chk { script /bin/true; }\n"
        "vrrp_instance VI_1 { interface lo; virtual_router_id 1; track_script up;\n"
        "  track_script chk weight=-10; track_interface lo weight=-20; track_workers weight=-5;\n"
        "  virtual_ipaddress { 10.77.0.100/24; } }\n"
        "vrrp_instance VI_2 { interface lo; virtual_router_id 2; track_script chk;\n"
        "  virtual_ipaddress { 10.77.0.101/24; } }\n";
    core::Status s =
        load("vrrp {\n" + instances + "vrrp_sync_group G { group { VI_1; VI_2; } }\n}\n");
    ASSERT_TRUE(s.is_ok()) << s.message();
    const InstanceConf& i = conf().instances[0];
    ASSERT_EQ(i.track_scripts.size(), 2u);
    EXPECT_EQ(i.track_scripts[0].weight, std::optional<int>(0));
    EXPECT_EQ(i.track_scripts[1].weight, std::optional<int>(0));
    EXPECT_EQ(i.track_interfaces[0].action, (TrackAction{0, true}));
    EXPECT_EQ(i.track_workers, std::optional<TrackAction>(TrackAction{0, true}));
    // A tracker that already means Fault is left as written.
    EXPECT_EQ(conf().instances[1].track_scripts[0].weight, std::nullopt);

    s = load("vrrp {\n" + instances +
             "vrrp_sync_group G { group { VI_1; VI_2; } sync_group_tracking_weight; }\n}\n");
    ASSERT_TRUE(s.is_ok()) << s.message();
    const InstanceConf& k = conf().instances[0];
    EXPECT_EQ(k.track_scripts[0].weight, std::nullopt);
    EXPECT_EQ(k.track_scripts[1].weight, std::optional<int>(-10));
    EXPECT_EQ(k.track_interfaces[0].action, (TrackAction{-20, false}));
    EXPECT_EQ(k.track_workers, std::optional<TrackAction>(TrackAction{-5, false}));
}

TEST_F(VrrpConfigTest, SyncGroupTrackersAreEveryMembers) {
    core::Status s = load(
        "http { upstream app { server 127.0.0.1:1; } }\n"
        "vrrp {\n"
        "vrrp_script chk { script /bin/true; }\n"
        "vrrp_sync_group G {\n"
        "  group { VI_1; VI_2; }\n"
        "  track_script chk;\n"               // line 6
        "  track_interface lo weight=-10;\n"  // line 7
        "  track_upstream app;\n"
        "}\n"
        "vrrp_instance VI_1 { interface lo; virtual_router_id 1; track_script chk weight=-5;\n"
        "  virtual_ipaddress { 10.77.0.100/24; } }\n"
        "vrrp_instance VI_2 { interface lo; virtual_router_id 2;\n"
        "  virtual_ipaddress { 10.77.0.101/24; } }\n"
        "}\n");
    ASSERT_TRUE(s.is_ok()) << s.message();
    const InstanceConf& a = conf().instances[0];
    const InstanceConf& b = conf().instances[1];
    // VI_1 tracks chk itself too (weight -5): the group's is used, as keepalived does.
    ASSERT_EQ(a.track_scripts.size(), 1u);
    EXPECT_EQ(a.track_scripts[0].where, dir_.file("halo.conf") + ":6");
    EXPECT_EQ(a.track_scripts[0].weight, std::nullopt);
    ASSERT_EQ(b.track_scripts.size(), 1u);
    EXPECT_EQ(b.track_scripts[0].where, dir_.file("halo.conf") + ":6");
    for (const InstanceConf* i : {&a, &b}) {
        ASSERT_EQ(i->track_interfaces.size(), 1u);
        EXPECT_EQ(i->track_interfaces[0].action, (TrackAction{0, true}));  // weight to FAULT
        ASSERT_EQ(i->track_upstreams.size(), 1u);
        EXPECT_EQ(i->track_upstreams[0].name, "app");
    }

    EXPECT_EQ(error("vrrp {\nvrrp_sync_group G {\ngroup { VI_1; }\ntrack_script nope;\n}\n"
                    "vrrp_instance VI_1 { interface lo; virtual_router_id 1; }\n}\n"),
              "unknown vrrp_script \"nope\"" + at(4));
    EXPECT_EQ(error("vrrp {\nvrrp_sync_group G {\ngroup { VI_1; }\ntrack_upstream nope;\n}\n"
                    "vrrp_instance VI_1 { interface lo; virtual_router_id 1; }\n}\n"),
              "unknown upstream \"nope\" in \"track_upstream\"" + at(4));
    EXPECT_EQ(error("vrrp {\nvrrp_sync_group G {\ngroup { VI_1; }\ntrack_interface lo;\n"
                    "track_interface lo;\n}\n"
                    "vrrp_instance VI_1 { interface lo; virtual_router_id 1; }\n}\n"),
              "\"lo\" is tracked twice" + at(5));
}

TEST_F(VrrpConfigTest, SyncGroupErrors) {
    auto group_error = [&](std::string_view groups) {
        return error("vrrp {\n" + std::string(groups) + std::string(kTwoInstances) + "}\n");
    };
    EXPECT_EQ(group_error("vrrp_sync_group G {\ngroup {\nVI_1;\nVI_9;\n}\n}\n"),
              "unknown vrrp_instance \"VI_9\" in vrrp_sync_group \"G\"" + at(5));
    EXPECT_EQ(group_error("vrrp_sync_group G {\ngroup { VI_1; VI_2; }\n}\n"
                          "vrrp_sync_group H {\ngroup { VI_3;\nVI_2; }\n}\n"),
              "vrrp_instance \"VI_2\" is already in vrrp_sync_group \"G\"" + at(7));
    EXPECT_EQ(group_error("vrrp_sync_group G {\ngroup { VI_1; VI_1; }\n}\n"),
              "duplicate vrrp_instance \"VI_1\" in \"group\"" + at(3));
    EXPECT_EQ(group_error("vrrp_sync_group G {\nnotify /bin/n;\n}\n"),
              "no \"group\" in vrrp_sync_group \"G\"" + at(2));
    EXPECT_EQ(group_error("vrrp_sync_group G {\ngroup {\n}\n}\n"),
              "\"group\" block is empty" + at(3));
    EXPECT_EQ(group_error("vrrp_sync_group G {\ngroup { VI_1; }\ngroup { VI_2; }\n}\n"),
              "\"group\" directive is duplicate" + at(4));
    EXPECT_EQ(group_error("vrrp_sync_group G {\ngroup { VI_1; }\nnotify /a;\nnotify /b;\n}\n"),
              "\"notify\" directive is duplicate" + at(5));
    EXPECT_EQ(group_error("vrrp_sync_group G {\ngroup { VI_1; }\n}\nvrrp_sync_group G {\n"
                          "group { VI_2; }\n}\n"),
              "duplicate vrrp_sync_group \"G\", first defined in " + dir_.file("halo.conf") + ":2" +
                  at(5));
    EXPECT_EQ(group_error("vrrp_sync_group G {\ngroup { VI_1; }\npriority 100;\n}\n"),
              "\"priority\" directive is not allowed here" + at(4));
    EXPECT_EQ(group_error("vrrp_sync_group G {\ngroup { VI_1 { } }\n}\n"),
              "unexpected block \"VI_1\" in \"group\"" + at(3));
    EXPECT_EQ(instance_error("group { VI_1; }\n"),
              "\"group\" directive is not allowed here" + at(3));
}

TEST_F(VrrpConfigTest, ContextsAreChecked) {
    EXPECT_EQ(error("vrrp {\npriority 100;\n}\n"),
              "\"priority\" directive is not allowed here" + at(2));
    EXPECT_EQ(error("http {\nvrrp {\n}\n}\n"), "\"vrrp\" directive is not allowed here" + at(2));
    EXPECT_EQ(error("vrrp {\n}\nvrrp {\n}\n"), "\"vrrp\" directive is duplicate" + at(3));
    EXPECT_EQ(error("vrrp {\nvrrp_instance A {\nfall 3;\n}\n}\n"),
              "\"fall\" directive is not allowed here" + at(3));
}

}  // namespace
}  // namespace vrrp
