// The vrrp helper in process, on a fake system, clock and launcher (vrrp_fakes.h), without
// Helper::run(): vrrp_script trackers (interval, fall, rise), what the trackers say (weights,
// their signs and overrides, Fault), and the shared slots (claim_slots on a zone in process
// memory): a fresh start, a reload's handover, a crashed predecessor's leftovers, an instance
// the new config dropped or moved.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "unit/modules/vrrp/vrrp_fakes.h"
#include "upstream/upstream.h"

namespace vrrp::test {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr Millis kDown100{3609};        // Master_Down_Interval, priority 100 at 1s
constexpr pid_t kDeadPid = 0x7ffffff0;  // above any pid_max: no such process

/// VI_1 (eth0, VRID 51, priority 100, 1s, VIPs 10.0.0.100/24 and 10.0.0.101/32 on eth1) with
/// `extra` inside the instance and `globals` before it in the vrrp block.
std::string vrrp_block(std::string_view extra = "", std::string_view globals = "", int vrid = 51) {
    return "vrrp {\n" + std::string(globals) +
           "    vrrp_instance VI_1 {\n"
           "        interface eth0; virtual_router_id " +
           std::to_string(vrid) +
           "; priority 100; advert_int 1s;\n"
           "        virtual_ipaddress { 10.0.0.100/24; 10.0.1.101/32 dev eth1; }\n"
           "        garp_master_repeat 1;\n" +
           std::string(extra) +
           "    }\n"
           "}\n";
}

class VrrpHelperTest : public HelperFixture {
  protected:
    const InstanceConf& conf_vi1() { return helper_->conf().instances[0]; }
    Tracking track() { return helper_->track(conf_vi1()); }
    const ScriptTracker& script(const char* name) {
        const ScriptTracker* s = helper_->script(name);
        EXPECT_NE(s, nullptr);
        return *s;
    }
    /// The next run of every script due within `d` exits with `code`.
    void run_scripts(Millis d, int code) {
        time_.advance(d);
        while (!launcher_.running.empty()) {
            launcher_.finish(code);
        }
    }
    /// A slot as a previous helper left it: VI_1 (this config's identity and fingerprint) in
    /// `state`, owned by `owner` (0: handed over), with 10.0.0.100/24 up on eth0.
    Slot& previous_slot(State state, pid_t owner, const std::string& conf_text) {
        make(conf_text);  // for the identity of the config's VI_1
        Slot& s = shared_->slots[5];
        snprintf(s.name, sizeof(s.name), "VI_1");
        s.used = 1;
        s.owner = owner;
        s.state = static_cast<uint8_t>(state);
        s.identity = identity(conf_vi1());
        s.fingerprint = fingerprint(conf_vi1());
        s.master = ip("10.0.0.9");
        s.transitions = 7;
        s.vip_count = 1;
        s.vips[0] = SlotVip{ip("10.0.0.100"), eth0_, 24};
        return s;
    }
};

// ---- vrrp_script trackers ----

TEST_F(VrrpHelperTest, ScriptRunsEveryIntervalAndOneAtATime) {
    start(vrrp_block("track_script chk;\n",
                     "vrrp_script chk { script \"/bin/chk arg\"; interval 2s; timeout 5s; }\n"));
    EXPECT_THAT(launcher_.take(), ElementsAre("/bin/chk arg"));  // at once
    launcher_.finish(0);
    time_.advance(1999ms);
    EXPECT_THAT(launcher_.take(), IsEmpty());
    time_.advance(1ms);
    EXPECT_THAT(launcher_.take(), ElementsAre("/bin/chk arg"));
    // Still running at the next interval: not started twice.
    time_.advance(2s);
    EXPECT_THAT(launcher_.take(), IsEmpty());
    launcher_.finish(0);
    time_.advance(2s);
    EXPECT_THAT(launcher_.take(), ElementsAre("/bin/chk arg"));
    launcher_.finish(0);
}

TEST_F(VrrpHelperTest, ScriptFailsAfterFallAndRecoversAfterRise) {
    start(vrrp_block("track_script chk;\n",
                     "vrrp_script chk { script /bin/chk; interval 1s; weight -20; fall 2; "
                     "rise 3; }\n"));
    launcher_.finish(0);
    EXPECT_TRUE(script("chk").ok());
    run_scripts(1s, 1);
    EXPECT_TRUE(script("chk").ok());  // one failure, fall 2
    EXPECT_EQ(track().weight, 0);
    run_scripts(1s, 1);
    EXPECT_FALSE(script("chk").ok());
    EXPECT_EQ(track().weight, -20);
    EXPECT_EQ(slot("VI_1")->priority, 80);  // the instance was told
    run_scripts(1s, 0);
    run_scripts(1s, 0);
    EXPECT_FALSE(script("chk").ok());  // two passes, rise 3
    run_scripts(1s, 1);                // a failure restarts the count
    run_scripts(1s, 0);
    run_scripts(1s, 0);
    EXPECT_FALSE(script("chk").ok());
    run_scripts(1s, 0);
    EXPECT_TRUE(script("chk").ok());
    EXPECT_EQ(slot("VI_1")->priority, 100);
}

TEST_F(VrrpHelperTest, ScriptThatCannotStartCountsAsFailing) {
    start(vrrp_block("track_script chk;\n",
                     "vrrp_script chk { script /bin/chk; interval 1s; weight -20; }\n"));
    launcher_.finish(0);
    launcher_.next_pid = -1;  // the next spawn fails
    time_.advance(1s);
    EXPECT_FALSE(script("chk").ok());
}

// ---- What the trackers say ----

TEST_F(VrrpHelperTest, ScriptWeightSigns) {
    start(
        vrrp_block("track_script down; track_script up; track_script big weight=-50;\n"
                   "track_script zero weight=0;\n",
                   "vrrp_script down { script /d; weight -20; }\n"
                   "vrrp_script up { script /u; weight 15; }\n"
                   "vrrp_script big { script /b; weight -5; }\n"
                   "vrrp_script zero { script /z; weight -5; }\n"));
    // Every script passes: only the positive weight counts (keepalived).
    launcher_.finish_all();
    Tracking t = track();
    EXPECT_FALSE(t.fault);
    EXPECT_EQ(t.weight, 15);
    // /d and /b fail: their negative weights, /b's overridden by the instance.
    time_.advance(1s);
    for (const char* code : {"/d", "/u", "/b", "/z"}) {
        ASSERT_FALSE(launcher_.running.empty());
        EXPECT_EQ(launcher_.running.front().line, code);
        launcher_.finish(code == std::string("/d") || code == std::string("/b") ? 1 : 0);
    }
    t = track();
    EXPECT_FALSE(t.fault);
    EXPECT_EQ(t.weight, 15 - 20 - 50);
    // A failing script tracked with weight=0 is Fault.
    time_.advance(1s);
    launcher_.finish(0);
    launcher_.finish(1);
    launcher_.finish(0);
    launcher_.finish(1);
    t = track();
    EXPECT_TRUE(t.fault);
    EXPECT_EQ(t.weight, 0);
    EXPECT_EQ(instance("VI_1").state(), State::kFault);
}

TEST_F(VrrpHelperTest, InterfacesWorkersAndUpstreams) {
    start(vrrp_block("track_interface eth1 weight=-10; track_interface eth2 weight=-5;\n"
                     "track_workers weight=-30; track_upstream u fault;\n") +
          "http { upstream u { server 127.0.0.1:1; } }\n");
    EXPECT_FALSE(track().fault);
    EXPECT_EQ(track().weight, -5);  // eth2 does not exist: down
    peer().set_link("eth2", true);
    EXPECT_EQ(track().weight, 0);
    peer().set_link("eth1", false);
    EXPECT_EQ(track().weight, -10);
    peer().set_workers_ok(conf_vi1().track_workers_timeout, false);
    EXPECT_EQ(track().weight, -40);
    EXPECT_FALSE(track().fault);
    peer().set_upstream_ok("u", false);
    EXPECT_TRUE(track().fault);
    EXPECT_EQ(track().weight, -40);
    peer().set_upstream_ok("u", true);
    EXPECT_FALSE(track().fault);
    peer().set_link("eth0", false);  // the instance's own interface: Fault
    EXPECT_TRUE(track().fault);
}

TEST_F(VrrpHelperTest, TheSlotSaysWhichTrackerChangedLast) {
    // For the status page: the last tracker change ("... failed" / "... recovered") and the
    // trackers failing now, in config order.
    start(vrrp_block("track_interface eth1 weight=-10; track_upstream u fault;\n") +
          "http { upstream u { server 127.0.0.1:1; } }\n");
    Slot* s = slot("VI_1");
    ASSERT_NE(s, nullptr);
    EXPECT_STREQ(s->tracker, "");
    EXPECT_STREQ(s->failing, "");
    peer().set_link("eth1", false);
    helper_->trackers_changed();
    EXPECT_STREQ(s->tracker, "track_interface eth1 failed");
    EXPECT_STREQ(s->failing, "track_interface eth1");
    EXPECT_EQ(s->priority, 90);
    peer().set_upstream_ok("u", false);
    helper_->trackers_changed();
    EXPECT_STREQ(s->tracker, "track_upstream u failed");
    EXPECT_STREQ(s->failing, "track_interface eth1,track_upstream u");
    EXPECT_EQ(instance("VI_1").state(), State::kFault);
    peer().set_link("eth1", true);
    helper_->trackers_changed();
    EXPECT_STREQ(s->tracker, "track_interface eth1 recovered");
    EXPECT_STREQ(s->failing, "track_upstream u");
    helper_->trackers_changed();  // nothing changed: the last change stays
    EXPECT_STREQ(s->tracker, "track_interface eth1 recovered");
    peer().set_link("eth0", false);  // the instance's own link
    helper_->trackers_changed();
    EXPECT_STREQ(s->tracker, "interface eth0 failed");
    EXPECT_STREQ(s->failing, "interface eth0,track_upstream u");
}

TEST_F(VrrpHelperTest, TrackUpstreamReadsAStreamGroup) {
    if (registry_.find("stream") == nullptr) {
        GTEST_SKIP() << "the stream module is not compiled in";
    }
    // Groups of the stream block only: `up` has a usable server, `gone` none (both `down`);
    // an http group named `gone` would be preferred, there is none.
    make(vrrp_block("track_upstream up weight=-10; track_upstream gone weight=-20;\n") +
             "stream {\n"
             "    upstream up { server 127.0.0.1:1; }\n"
             "    upstream gone { server 127.0.0.1:2 down; server 127.0.0.1:3 down; }\n"
             "}\n",
         false);
    const upstream::Group* gone = upstream::find_group(*cycle_, "gone");
    ASSERT_NE(gone, nullptr);
    EXPECT_TRUE(gone->stream());
    peer().claim_slots();
    EXPECT_EQ(track().weight, 0);  // not polled yet: assumed usable
    peer().poll_upstreams();
    EXPECT_FALSE(track().fault);
    EXPECT_EQ(track().weight, -20);
}

// ---- Slots (claim_slots on a zone in process memory) ----

TEST_F(VrrpHelperTest, FreshStartClaimsAFreeSlot) {
    shared_->slots[0].used = 1;  // another instance's (of this config? no: dropped below)
    snprintf(shared_->slots[0].name, sizeof(shared_->slots[0].name), "OLD");
    start(vrrp_block());
    Slot* s = slot("VI_1");
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->owner, getpid());
    EXPECT_EQ(s->identity, identity(conf_vi1()));
    EXPECT_EQ(s->fingerprint, fingerprint(conf_vi1()));
    EXPECT_EQ(s->state, static_cast<uint8_t>(State::kBackup));
    EXPECT_EQ(slot("OLD"), nullptr);  // not in this config: released
    EXPECT_EQ(instance("VI_1").state(), State::kBackup);
}

TEST_F(VrrpHelperTest, HandedOverMasterContinuesWithoutAMove) {
    Slot& s = previous_slot(State::kMaster, 0, vrrp_block());
    peer().make_scripts();
    peer().claim_slots();
    Instance& i = instance("VI_1");
    EXPECT_EQ(i.state(), State::kMaster);
    EXPECT_EQ(&i.slot(), &s);
    // Nothing removed; only the VIP the previous helper did not have gets gratuitous ARP; an
    // advert at once; no notify script (the instance did not change state).
    EXPECT_THAT(io_.take(),
                ElementsAre("add 10.0.0.100/24 2", "add 10.0.1.101/32 3", "garp 10.0.1.101 3"));
    EXPECT_THAT(io_.take_priorities("eth0"), ElementsAre(100));
    EXPECT_THAT(launcher_.take(), IsEmpty());
    EXPECT_EQ(s.owner, getpid());
    EXPECT_EQ(s.transitions, 7u);
    EXPECT_EQ(s.vip_count, 2u);
    time_.advance(1s);
    EXPECT_THAT(io_.take_priorities("eth0"), ElementsAre(100));
}

TEST_F(VrrpHelperTest, HandedOverBackupContinuesWithItsMaster) {
    Slot& s = previous_slot(State::kBackup, 0, vrrp_block());
    s.vip_count = 0;
    peer().claim_slots();
    EXPECT_EQ(instance("VI_1").state(), State::kBackup);
    EXPECT_EQ(s.master, ip("10.0.0.9"));
    EXPECT_THAT(io_.take(), IsEmpty());  // a backup had no VIPs: nothing to remove
    time_.advance(kDown100 - 1ms);
    EXPECT_EQ(instance("VI_1").state(), State::kBackup);
    time_.advance(1ms);
    EXPECT_EQ(instance("VI_1").state(), State::kMaster);
}

TEST_F(VrrpHelperTest, CrashedPredecessorsVipsAreRemovedAndItStartsOver) {
    Slot& s = previous_slot(State::kMaster, kDeadPid, vrrp_block());
    s.vips[0] = SlotVip{ip("10.0.0.77"), eth0_, 24};  // an address of an older config
    io_.vips.insert({eth0_, ip("10.0.0.77")});
    peer().claim_slots();
    EXPECT_EQ(instance("VI_1").state(), State::kBackup);
    std::vector<std::string> ev = io_.take();
    ASSERT_FALSE(ev.empty());
    EXPECT_EQ(ev[0], "del 10.0.0.77 2");  // what the slot recorded, first
    EXPECT_EQ(s.owner, getpid());
    EXPECT_EQ(s.vip_count, 0u);
    EXPECT_TRUE(io_.vips.empty());
}

TEST_F(VrrpHelperTest, InstanceMovedToAnotherRouterIsDropped) {
    // The slot is VI_1 on VRID 51; the new config has VI_1 on VRID 52: another virtual router.
    Slot& s = previous_slot(State::kMaster, 0, vrrp_block());
    s.vips[0] = SlotVip{ip("10.0.0.77"), eth0_, 24};
    uint64_t old_identity = s.identity;
    make(vrrp_block("", "", 52));
    peer().claim_slots();
    std::vector<std::string> ev = io_.take();
    ASSERT_FALSE(ev.empty());
    EXPECT_EQ(ev[0], "del 10.0.0.77 2");
    EXPECT_EQ(instance("VI_1").state(), State::kBackup);
    Slot* now = slot("VI_1");
    ASSERT_NE(now, nullptr);
    EXPECT_NE(now->identity, old_identity);
    EXPECT_EQ(now->transitions, 1u);  // counted afresh
}

TEST_F(VrrpHelperTest, InstanceThatCannotRunDropsWhatItsPredecessorHad) {
    Slot& s = previous_slot(State::kMaster, 0, vrrp_block());
    io_.vips.insert({eth0_, ip("10.0.0.100")});
    io_.links.erase("eth0");
    peer().claim_slots();
    EXPECT_FALSE(instance("VI_1").running());
    EXPECT_THAT(io_.take(), ElementsAre("del 10.0.0.100 2"));
    EXPECT_TRUE(io_.vips.empty());
    // The status page shows it not running, not the previous helper's Master.
    EXPECT_EQ(s.state, static_cast<uint8_t>(State::kInit));
    EXPECT_EQ(s.priority, 0);
    EXPECT_TRUE(s.master.empty());
    EXPECT_EQ(s.vip_count, 0u);
}

TEST_F(VrrpHelperTest, InstanceStartsWhenItsInterfaceAppears) {
    io_.links.erase("eth0");
    start(vrrp_block());
    EXPECT_FALSE(instance("VI_1").running());
    peer().retry_setup();  // another link changed: still missing
    EXPECT_FALSE(instance("VI_1").running());
    eth0_ = io_.add_link("eth0", "10.0.0.1");
    peer().set_link("eth0", true);  // as the link monitor does, before it retries
    peer().retry_setup();
    EXPECT_TRUE(instance("VI_1").running());
    EXPECT_EQ(instance("VI_1").state(), State::kBackup);
    time_.advance(kDown100);
    EXPECT_EQ(instance("VI_1").state(), State::kMaster);
    EXPECT_TRUE(io_.has_vip(eth0_, "10.0.0.100"));
}

TEST_F(VrrpHelperTest, StopHandsTheMastersVipsOverThenExits) {
    start(vrrp_block());
    time_.advance(kDown100);
    ASSERT_EQ(instance("VI_1").state(), State::kMaster);
    io_.take_priorities("eth0");
    peer().stop(false);
    EXPECT_THAT(io_.take_priorities("eth0"), ElementsAre(0));
    EXPECT_TRUE(io_.has_vip(eth0_, "10.0.0.100"));  // the workers still serve it
    time_.advance(leave_wait(conf_vi1()));          // no new master heard
    EXPECT_TRUE(io_.vips.empty());
    EXPECT_EQ(slot("VI_1")->owner, 0);
    EXPECT_EQ(slot("VI_1")->state, static_cast<uint8_t>(State::kInit));
}

TEST_F(VrrpHelperTest, StopForAReloadReleasesTheSlotsAsTheyAre) {
    start(vrrp_block());
    time_.advance(kDown100);
    io_.take();
    io_.take_priorities("eth0");
    peer().stop(true);
    Slot* s = slot("VI_1");
    EXPECT_EQ(s->owner, 0);
    EXPECT_EQ(s->state, static_cast<uint8_t>(State::kMaster));
    EXPECT_EQ(s->vip_count, 2u);
    EXPECT_THAT(io_.take(), IsEmpty());  // the VIPs stay for the next helper
    // A master goes on advertising until the next helper has claimed the slot...
    time_.advance(1s);
    EXPECT_THAT(io_.take_priorities("eth0"), ElementsAre(100));
    // ...and its state no longer changes (a better advert is the next helper's business).
    peer_addrs_ = {ip("10.0.0.100"), ip("10.0.1.101")};
    advert_from("10.0.0.2", 150);
    EXPECT_EQ(instance("VI_1").state(), State::kMaster);
    EXPECT_EQ(s->state, static_cast<uint8_t>(State::kMaster));
}

TEST_F(VrrpHelperTest, ReloadHandsOverToTheNextHelper) {
    start(vrrp_block("notify_master /n/master;\n"));
    time_.advance(kDown100);
    ASSERT_EQ(instance("VI_1").state(), State::kMaster);
    launcher_.finish_all();
    launcher_.take();
    for (auto& i : peer().instances()) {
        i->hand_over();
    }
    Slot* s = slot("VI_1");
    EXPECT_EQ(s->owner, 0);
    EXPECT_EQ(s->state, static_cast<uint8_t>(State::kMaster));
    EXPECT_EQ(s->vip_count, 2u);
    io_.take();
    // The next helper (same zone, same config) takes it over as it is.
    make(vrrp_block("notify_master /n/master;\n"));
    peer().claim_slots();
    EXPECT_EQ(instance("VI_1").state(), State::kMaster);
    EXPECT_EQ(s->owner, getpid());
    EXPECT_EQ(s->transitions, 2u);
    for (const std::string& e : io_.take()) {
        EXPECT_EQ(e.rfind("del ", 0), std::string::npos) << e;
        EXPECT_EQ(e.rfind("garp ", 0), std::string::npos) << e;
    }
    EXPECT_THAT(launcher_.take(), IsEmpty());
    EXPECT_TRUE(io_.has_vip(eth0_, "10.0.0.100"));
}

}  // namespace
}  // namespace vrrp::test
