// One vrrp_instance in the helper, on a fake system and a fake clock (vrrp_fakes.h): startup in
// Backup with a predecessor's leftovers removed, Master after Master_Down_Interval with the
// virtual IPs added and gratuitous ARP, adverts every advert_int, back to Backup on a better
// advert with the VIPs removed, the adverts it must ignore, priority 0 on shutdown and the
// graceful stop, unicast peers, tracking weights and Fault, notify scripts, and the slot the
// status page and the next helper read.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "unit/modules/vrrp/vrrp_fakes.h"

namespace vrrp::test {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

/// VI_1 on eth0 (index 2), VRID 51, v3 at 1s, two VIPs (the second on eth1, index 3),
/// `garp_repeat` gratuitous ARPs per VIP and round; `extra` goes inside the instance block.
std::string one_instance(int priority = 100, std::string_view extra = "", int garp_repeat = 1) {
    return "vrrp {\n"
           "    vrrp_instance VI_1 {\n"
           "        interface eth0; virtual_router_id 51; priority " +
           std::to_string(priority) +
           "; advert_int 1s;\n"
           "        virtual_ipaddress { 10.0.0.100/24; 10.0.0.101/32 dev eth1; }\n"
           "        garp_master_repeat " +
           std::to_string(garp_repeat) + ";\n" + std::string(extra) +
           "    }\n"
           "}\n";
}

// Master_Down_Interval for priority 100 at 1s: 3 * 1000 + (256 - 100) * 1000 / 256 = 3609ms.
constexpr Millis kDown100{3609};

class VrrpInstanceTest : public HelperFixture {
  protected:
    /// Starts VI_1 and lets it become Master; forgets what it did on the way.
    void start_master(int priority = 100, std::string_view extra = "", int garp_repeat = 1) {
        start(one_instance(priority, extra, garp_repeat));
        time_.advance(kDown100);
        ASSERT_EQ(instance("VI_1").state(), State::kMaster);
        io_.take();
        io_.take_priorities("eth0");
        launcher_.take();
    }
};

TEST_F(VrrpInstanceTest, StartsBackupAndRemovesWhatAPredecessorLeft) {
    start(one_instance());
    Instance& i = instance("VI_1");
    EXPECT_TRUE(i.running());
    EXPECT_EQ(i.state(), State::kBackup);
    // A fresh start removes the VIPs a crashed helper may have left (DESIGN pitfalls).
    EXPECT_THAT(io_.take(), ElementsAre("del 10.0.0.100 2", "del 10.0.0.101 3"));
    EXPECT_THAT(io_.take_priorities("eth0"), IsEmpty());
    EXPECT_TRUE(io_.vips.empty());
}

TEST_F(VrrpInstanceTest, BecomesMasterAfterMasterDownInterval) {
    start(one_instance());
    io_.take();
    time_.advance(kDown100 - 1ms);
    EXPECT_EQ(instance("VI_1").state(), State::kBackup);
    EXPECT_THAT(io_.take(), IsEmpty());
    time_.advance(1ms);
    EXPECT_EQ(instance("VI_1").state(), State::kMaster);
    // RFC 5798 §6.4.2: an advert, the addresses, a gratuitous ARP for each.
    EXPECT_THAT(io_.take_priorities("eth0"), ElementsAre(100));
    EXPECT_THAT(io_.take(), ElementsAre("add 10.0.0.100/24 2", "add 10.0.0.101/32 3",
                                        "garp 10.0.0.100 2", "garp 10.0.0.101 3"));
    EXPECT_TRUE(io_.has_vip(eth0_, "10.0.0.100"));
    EXPECT_TRUE(io_.has_vip(eth1_, "10.0.0.101"));
}

TEST_F(VrrpInstanceTest, AdvertisesEveryIntervalToTheGroup) {
    start_master();
    time_.advance(999ms);
    EXPECT_THAT(io_.take_priorities("eth0"), IsEmpty());
    time_.advance(1ms);
    EXPECT_THAT(io_.take_priorities("eth0"), ElementsAre(100));
    time_.advance(3s);
    ASSERT_EQ(io_.sent["eth0"].size(), 3u);
    const Sent& s = io_.sent["eth0"].back();
    EXPECT_EQ(s.dst, kMulticastGroup);
    EXPECT_EQ(s.advert.version, 3);
    EXPECT_EQ(s.advert.vrid, 51);
    EXPECT_EQ(s.advert.interval, 1s);
    EXPECT_THAT(s.advert.addrs, ElementsAre(ip("10.0.0.100"), ip("10.0.0.101")));
}

TEST_F(VrrpInstanceTest, RepeatsGratuitousArpAfterGarpMasterDelay) {
    start_master(100, "garp_master_delay 2s;\n", 2);
    time_.advance(1999ms);
    EXPECT_THAT(io_.take(), IsEmpty());
    time_.advance(1ms);
    EXPECT_THAT(io_.take(), ElementsAre("garp 10.0.0.100 2", "garp 10.0.0.101 3",
                                        "garp 10.0.0.100 2", "garp 10.0.0.101 3"));
    time_.advance(10s);  // two rounds only
    EXPECT_THAT(io_.take(), IsEmpty());
}

TEST_F(VrrpInstanceTest, HigherPriorityAdvertTakesAMasterToBackupAndRemovesTheVips) {
    start_master();
    advert_from("10.0.0.2", 150);
    Instance& i = instance("VI_1");
    EXPECT_EQ(i.state(), State::kBackup);
    EXPECT_THAT(io_.take(), ElementsAre("del 10.0.0.100 2", "del 10.0.0.101 3"));
    EXPECT_TRUE(io_.vips.empty());
    // No more adverts from a backup.
    time_.advance(3s);
    EXPECT_THAT(io_.take_priorities("eth0"), IsEmpty());
    EXPECT_EQ(slot("VI_1")->master, ip("10.0.0.2"));
}

TEST_F(VrrpInstanceTest, LowerPriorityAdvertDoesNotMoveAMaster) {
    start_master();
    advert_from("10.0.0.2", 50);
    EXPECT_EQ(instance("VI_1").state(), State::kMaster);
    EXPECT_THAT(io_.take(), IsEmpty());
}

TEST_F(VrrpInstanceTest, BackupHearingItsMasterStaysBackup) {
    start(one_instance());
    for (int s = 0; s < 10; s++) {
        advert_from("10.0.0.2", 150);
        time_.advance(1s);
    }
    EXPECT_EQ(instance("VI_1").state(), State::kBackup);
    // Silence: Master_Down_Interval is computed from the master's interval.
    time_.advance(kDown100 - 1s);
    EXPECT_EQ(instance("VI_1").state(), State::kMaster);
}

TEST_F(VrrpInstanceTest, IgnoresAdvertsForOthersAndItsOwn) {
    start(one_instance());
    time_.advance(2s);
    advert_from("10.0.0.2", 150, "eth0", 52);  // another virtual router
    advert_from("10.0.0.1", 150);              // our own address (looped back)
    peer_addrs_ = {ip("10.0.0.100")};
    advert_from("10.0.0.3", 150);  // the address list differs, not the owner: dropped
    time_.advance(kDown100 - 2s);
    EXPECT_EQ(instance("VI_1").state(), State::kMaster);
}

TEST_F(VrrpInstanceTest, PriorityZeroMakesTheBackupTakeOverAfterSkewTime) {
    start(one_instance());
    advert_from("10.0.0.2", 150);
    advert_from("10.0.0.2", 0);
    // Skew_Time = (256 - 100) * 1000 / 256 = 609ms.
    time_.advance(608ms);
    EXPECT_EQ(instance("VI_1").state(), State::kBackup);
    time_.advance(1ms);
    EXPECT_EQ(instance("VI_1").state(), State::kMaster);
}

TEST_F(VrrpInstanceTest, OwnerStartsMasterAtOnce) {
    start(one_instance(255));
    EXPECT_EQ(instance("VI_1").state(), State::kMaster);
    EXPECT_THAT(io_.take_priorities("eth0"), ElementsAre(255));
    EXPECT_TRUE(io_.has_vip(eth0_, "10.0.0.100"));
}

TEST_F(VrrpInstanceTest, ShutdownSendsPriorityZeroAndRemovesTheVips) {
    start_master();
    Instance& i = instance("VI_1");
    i.shutdown();
    EXPECT_EQ(i.state(), State::kInit);
    EXPECT_THAT(io_.take_priorities("eth0"), ElementsAre(0));
    EXPECT_THAT(io_.take(), ElementsAre("del 10.0.0.100 2", "del 10.0.0.101 3"));
    EXPECT_TRUE(io_.vips.empty());
    Slot* s = slot("VI_1");
    EXPECT_EQ(s->owner, 0);
    EXPECT_EQ(s->state, static_cast<uint8_t>(State::kInit));
    EXPECT_EQ(s->vip_count, 0u);
    time_.advance(10s);
    EXPECT_THAT(io_.take_priorities("eth0"), IsEmpty());
}

TEST_F(VrrpInstanceTest, BackupShutdownSendsNothing) {
    start(one_instance());
    io_.take();
    instance("VI_1").shutdown();
    EXPECT_THAT(io_.take_priorities("eth0"), IsEmpty());
    EXPECT_THAT(io_.take(), IsEmpty());  // no VIPs were up
}

TEST_F(VrrpInstanceTest, LeaveKeepsTheVipsUntilTheNewMasterIsHeard) {
    start_master();
    bool done = false;
    instance("VI_1").leave([&] { done = true; });
    EXPECT_THAT(io_.take_priorities("eth0"), ElementsAre(0));
    EXPECT_TRUE(io_.has_vip(eth0_, "10.0.0.100"));
    time_.advance(1s);  // priority 0 again every advert_int
    EXPECT_THAT(io_.take_priorities("eth0"), ElementsAre(0));
    advert_from("10.0.0.2", 90);  // the new master
    EXPECT_FALSE(done);
    EXPECT_TRUE(io_.has_vip(eth0_, "10.0.0.100"));
    time_.advance(leave_linger(helper_->conf().instances[0]) - 1ms);
    EXPECT_FALSE(done);
    time_.advance(1ms);
    EXPECT_TRUE(done);
    EXPECT_TRUE(io_.vips.empty());
    EXPECT_THAT(io_.take_priorities("eth0"), IsEmpty());  // no second priority 0
}

TEST_F(VrrpInstanceTest, LeaveGivesUpAfterLeaveWait) {
    start_master();
    bool done = false;
    instance("VI_1").leave([&] { done = true; });
    time_.advance(leave_wait(helper_->conf().instances[0]) - 1ms);
    EXPECT_FALSE(done);
    EXPECT_TRUE(io_.has_vip(eth0_, "10.0.0.100"));
    time_.advance(1ms);
    EXPECT_TRUE(done);
    EXPECT_TRUE(io_.vips.empty());
}

TEST_F(VrrpInstanceTest, Version2CarriesThePasswordAndDropsAWrongOne) {
    io_.version = 2;
    start_master(100, "version 2; authentication { auth_type PASS; auth_pass secret; }\n");
    time_.advance(1s);
    ASSERT_EQ(io_.sent["eth0"].size(), 1u);
    const Advert& sent = io_.sent["eth0"][0].advert;
    EXPECT_EQ(sent.version, 2);
    EXPECT_EQ(sent.auth_type, kAuthPass);
    EXPECT_EQ(sent.auth_data, pass_data("secret"));
    // RFC 3768 §7.1: a better advert with another password is discarded...
    Advert a = sent;
    a.priority = 150;
    a.auth_data = pass_data("guess");
    io_.sockets["eth0"]->deliver(a, ip("10.0.0.2"));
    pump();
    EXPECT_EQ(instance("VI_1").state(), State::kMaster);
    // ...and the same with the right one is heard.
    a.auth_data = pass_data("secret");
    io_.sockets["eth0"]->deliver(a, ip("10.0.0.2"));
    pump();
    EXPECT_EQ(instance("VI_1").state(), State::kBackup);
}

TEST_F(VrrpInstanceTest, UnicastPeersGetEachAdvert) {
    start_master(100, "unicast_peer { 10.0.0.2; 10.0.0.3; }\n");
    time_.advance(1s);
    const std::vector<Sent>& sent = io_.sent["eth0"];
    ASSERT_EQ(sent.size(), 2u);
    EXPECT_EQ(sent[0].dst, ip("10.0.0.2"));
    EXPECT_EQ(sent[1].dst, ip("10.0.0.3"));
}

TEST_F(VrrpInstanceTest, TrackedInterfaceWeightLowersTheAdvertisedPriority) {
    start_master(100, "track_interface eth1 weight=-30;\n");
    peer().set_link("eth1", false);
    helper_->trackers_changed();
    EXPECT_THAT(io_.take_priorities("eth0"), ElementsAre(70));  // at once
    EXPECT_EQ(slot("VI_1")->priority, 70);
    EXPECT_EQ(slot("VI_1")->base_priority, 100);
    // A backup at 90 now wins.
    advert_from("10.0.0.2", 90);
    EXPECT_EQ(instance("VI_1").state(), State::kBackup);
    peer().set_link("eth1", true);
    helper_->trackers_changed();
    EXPECT_EQ(slot("VI_1")->priority, 100);
}

TEST_F(VrrpInstanceTest, InterfaceDownIsFaultAndTheMasterLetsGo) {
    start_master(100, "notify_fault /n/fault;\n");
    peer().set_link("eth0", false);
    helper_->trackers_changed();
    Instance& i = instance("VI_1");
    EXPECT_EQ(i.state(), State::kFault);
    EXPECT_THAT(io_.take_priorities("eth0"), ElementsAre(0));
    EXPECT_TRUE(io_.vips.empty());
    EXPECT_THAT(launcher_.take(), ElementsAre("/n/fault INSTANCE VI_1 FAULT 100"));
    time_.advance(10s);
    EXPECT_EQ(i.state(), State::kFault);
    peer().set_link("eth0", true);
    helper_->trackers_changed();
    EXPECT_EQ(i.state(), State::kBackup);
}

TEST_F(VrrpInstanceTest, NotifyScriptsRunOneAtATimeInOrder) {
    start(one_instance(100, "notify_master /n/master; notify_backup /n/backup; notify /n/all;\n"));
    EXPECT_THAT(launcher_.take(), ElementsAre("/n/backup INSTANCE VI_1 BACKUP 100"));
    time_.advance(kDown100);
    advert_from("10.0.0.2", 150);
    // Still the first one running: nothing else started.
    EXPECT_THAT(launcher_.take(), IsEmpty());
    launcher_.finish_all();
    EXPECT_THAT(launcher_.take(),
                ElementsAre("/n/all INSTANCE VI_1 BACKUP 100", "/n/master INSTANCE VI_1 MASTER 100",
                            "/n/all INSTANCE VI_1 MASTER 100", "/n/backup INSTANCE VI_1 BACKUP 100",
                            "/n/all INSTANCE VI_1 BACKUP 100"));
}

TEST_F(VrrpInstanceTest, SlotShowsTheStateForTheStatusPageAndTheNextHelper) {
    start(one_instance());
    Slot* s = slot("VI_1");
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->owner, getpid());
    EXPECT_EQ(s->state, static_cast<uint8_t>(State::kBackup));
    EXPECT_EQ(s->priority, 100);
    EXPECT_EQ(s->identity, identity(helper_->conf().instances[0]));
    EXPECT_EQ(s->fingerprint, fingerprint(helper_->conf().instances[0]));
    EXPECT_EQ(s->vip_count, 0u);
    EXPECT_EQ(s->transitions, 1u);
    time_.advance(kDown100);
    EXPECT_EQ(s->state, static_cast<uint8_t>(State::kMaster));
    EXPECT_EQ(s->master, ip("10.0.0.1"));
    EXPECT_EQ(s->transitions, 2u);
    EXPECT_GT(s->last_change_ms, 0);
    ASSERT_EQ(s->vip_count, 2u);
    EXPECT_EQ(s->vips[0].addr, ip("10.0.0.100"));
    EXPECT_EQ(s->vips[0].ifindex, eth0_);
    EXPECT_EQ(s->vips[0].prefix, 24);
    EXPECT_EQ(s->vips[1].addr, ip("10.0.0.101"));
    EXPECT_EQ(s->vips[1].ifindex, eth1_);
    EXPECT_EQ(s->vips[1].prefix, 32);
    advert_from("10.0.0.2", 150);
    EXPECT_EQ(s->state, static_cast<uint8_t>(State::kBackup));
    EXPECT_EQ(s->master, ip("10.0.0.2"));
    EXPECT_EQ(s->vip_count, 0u);
    EXPECT_EQ(s->transitions, 3u);
}

TEST_F(VrrpInstanceTest, NoSocketDoesNotRunUntilARetryGetsOne) {
    io_.fail_sockets = true;
    start(one_instance());
    EXPECT_FALSE(instance("VI_1").running());
    EXPECT_EQ(slot("VI_1")->state, static_cast<uint8_t>(State::kInit));
    time_.advance(10s);
    EXPECT_THAT(io_.take_priorities("eth0"), IsEmpty());
    io_.fail_sockets = false;
    peer().retry_setup();  // a link changed
    EXPECT_TRUE(instance("VI_1").running());
    EXPECT_EQ(instance("VI_1").state(), State::kBackup);
}

}  // namespace
}  // namespace vrrp::test
