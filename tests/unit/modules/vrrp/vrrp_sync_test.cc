// vrrp_sync_group in the helper (SyncGroup, keepalived's semantics) with two instances on a
// fake system and a fake clock (vrrp_fakes.h): a backup becomes Master only when every member
// wants to, then all do; a member leaving Master takes the others to Backup; one member in
// Fault (or one that cannot run) puts the group in Fault; the group's notify scripts, once per
// group state and after the members'; settle() after the start.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "unit/modules/vrrp/vrrp_fakes.h"

namespace vrrp::test {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

/// VI_1 on eth0 (VRID 51, 10.0.0.100) and VI_2 on eth1 (VRID 52, 10.0.1.100), both v3 at 1s,
/// in VG_1 with its four notify scripts. `one` and `two` go inside each instance block.
std::string group_of_two(int prio1 = 100, int prio2 = 100, std::string_view one = "",
                         std::string_view two = "", std::string_view group = "") {
    return "vrrp {\n"
           "    vrrp_instance VI_1 {\n"
           "        interface eth0; virtual_router_id 51; priority " +
           std::to_string(prio1) +
           "; advert_int 1s;\n"
           "        virtual_ipaddress { 10.0.0.100/24; } garp_master_repeat 1;\n" +
           std::string(one) +
           "    }\n"
           "    vrrp_instance VI_2 {\n"
           "        interface eth1; virtual_router_id 52; priority " +
           std::to_string(prio2) +
           "; advert_int 1s;\n"
           "        virtual_ipaddress { 10.0.1.100/24; } garp_master_repeat 1;\n" +
           std::string(two) +
           "    }\n"
           "    vrrp_sync_group VG_1 {\n"
           "        group { VI_1; VI_2; }\n"
           "        notify_master /g/master; notify_backup /g/backup; notify_fault /g/fault;\n"
           "        notify /g/all;\n" +
           std::string(group) +
           "    }\n"
           "}\n";
}

constexpr Millis kDown100{3609};  // Master_Down_Interval, priority 100 at 1s

class VrrpSyncTest : public HelperFixture {
  protected:
    VrrpSyncTest() {
        io_.add_link("eth2", "10.0.2.1");  // tracked by some tests
        peer_addrs_ = {ip("10.0.0.100")};
    }

    State state(const char* name) { return instance(name).state(); }
    /// An advert from `from` for VI_2 (VRID 52 on eth1, its address).
    void advert_vi2(const char* from, uint8_t priority) {
        std::vector<IpAddr> saved = peer_addrs_;
        peer_addrs_ = {ip("10.0.1.100")};
        advert_from(from, priority, "eth1", 52);
        peer_addrs_ = saved;
    }
    /// Starts the group and lets both become Master; forgets what they did on the way.
    void start_masters(std::string_view one = "", std::string_view two = "") {
        start(group_of_two(100, 100, one, two));
        time_.advance(kDown100);
        ASSERT_EQ(state("VI_1"), State::kMaster);
        ASSERT_EQ(state("VI_2"), State::kMaster);
        io_.take();
        io_.take_priorities("eth0");
        io_.take_priorities("eth1");
        launcher_.finish_all();
        launcher_.take();
    }
};

TEST_F(VrrpSyncTest, BothStartBackupAndBecomeMasterTogether) {
    start(group_of_two());
    EXPECT_EQ(state("VI_1"), State::kBackup);
    EXPECT_EQ(state("VI_2"), State::kBackup);
    time_.advance(kDown100);
    EXPECT_EQ(state("VI_1"), State::kMaster);
    EXPECT_EQ(state("VI_2"), State::kMaster);
    EXPECT_TRUE(io_.has_vip(eth0_, "10.0.0.100"));
    EXPECT_TRUE(io_.has_vip(eth1_, "10.0.1.100"));
}

TEST_F(VrrpSyncTest, BackupWaitsUntilEveryMemberWantsMaster) {
    start(group_of_two());
    // VI_2 hears a master on eth1; VI_1 hears nothing on eth0.
    for (int s = 0; s < 8; s++) {
        advert_vi2("10.0.1.2", 150);
        time_.advance(1s);
    }
    EXPECT_EQ(state("VI_1"), State::kBackup);
    EXPECT_TRUE(instance("VI_1").wants_master());
    EXPECT_FALSE(instance("VI_2").wants_master());
    EXPECT_THAT(io_.take_priorities("eth0"), IsEmpty());
    EXPECT_FALSE(io_.has_vip(eth0_, "10.0.0.100"));
    // VI_2's master goes silent: once VI_2 wants Master too, both become Master at once.
    time_.advance(kDown100 - 1s - 1ms);
    EXPECT_EQ(state("VI_2"), State::kBackup);
    time_.advance(1ms);
    EXPECT_EQ(state("VI_1"), State::kMaster);
    EXPECT_EQ(state("VI_2"), State::kMaster);
    EXPECT_THAT(io_.take_priorities("eth0"), ElementsAre(100));
    EXPECT_THAT(io_.take_priorities("eth1"), ElementsAre(100));
}

TEST_F(VrrpSyncTest, MemberLeavingMasterTakesTheOthersToBackup) {
    start_masters();
    advert_from("10.0.0.2", 150);  // VI_1 hears a better master
    EXPECT_EQ(state("VI_1"), State::kBackup);
    EXPECT_EQ(state("VI_2"), State::kBackup);
    EXPECT_TRUE(io_.vips.empty());
    time_.advance(2s);
    EXPECT_THAT(io_.take_priorities("eth1"), IsEmpty());
    // VI_2 waits for VI_1, which hears its master.
    for (int s = 0; s < 8; s++) {
        advert_from("10.0.0.2", 150);
        time_.advance(1s);
    }
    EXPECT_EQ(state("VI_2"), State::kBackup);
    EXPECT_TRUE(instance("VI_2").wants_master());
}

TEST_F(VrrpSyncTest, OneMemberInFaultPutsTheGroupInFault) {
    start_masters();
    peer().set_link("eth1", false);
    helper_->trackers_changed();
    EXPECT_EQ(state("VI_2"), State::kFault);
    EXPECT_EQ(state("VI_1"), State::kFault);
    EXPECT_THAT(io_.take_priorities("eth0"), ElementsAre(0));
    EXPECT_THAT(io_.take_priorities("eth1"), ElementsAre(0));
    EXPECT_TRUE(io_.vips.empty());
    time_.advance(10s);
    EXPECT_EQ(state("VI_1"), State::kFault);
    peer().set_link("eth1", true);
    helper_->trackers_changed();
    EXPECT_EQ(state("VI_1"), State::kBackup);
    EXPECT_EQ(state("VI_2"), State::kBackup);
}

TEST_F(VrrpSyncTest, AMemberWeightIsFaultWithoutSyncGroupTrackingWeight) {
    start_masters("track_interface eth2 weight=-30;\n");
    peer().set_link("eth2", false);
    helper_->trackers_changed();
    EXPECT_EQ(state("VI_1"), State::kFault);
    EXPECT_EQ(state("VI_2"), State::kFault);
}

TEST_F(VrrpSyncTest, SyncGroupTrackingWeightKeepsTheWeight) {
    start(group_of_two(100, 100, "track_interface eth2 weight=-30;\n", "",
                       "sync_group_tracking_weight;\n"));
    time_.advance(kDown100);
    io_.take_priorities("eth0");
    peer().set_link("eth2", false);
    helper_->trackers_changed();
    EXPECT_EQ(state("VI_1"), State::kMaster);
    EXPECT_EQ(state("VI_2"), State::kMaster);
    EXPECT_THAT(io_.take_priorities("eth0"), ElementsAre(70));
}

TEST_F(VrrpSyncTest, MemberThatCannotRunKeepsTheGroupInFault) {
    io_.links.erase("eth1");
    start(group_of_two());
    EXPECT_FALSE(instance("VI_2").running());
    EXPECT_EQ(state("VI_1"), State::kFault);
    time_.advance(10s);
    EXPECT_EQ(state("VI_1"), State::kFault);
    EXPECT_THAT(io_.take_priorities("eth0"), IsEmpty());
    EXPECT_THAT(launcher_.take(), ElementsAre("/g/fault GROUP VG_1 FAULT"));
}

TEST_F(VrrpSyncTest, GroupNotifiesOncePerGroupState) {
    start(group_of_two());
    time_.advance(kDown100);
    advert_from("10.0.0.2", 150);
    peer().set_link("eth1", false);
    helper_->trackers_changed();
    launcher_.finish_all();
    EXPECT_THAT(launcher_.take(),
                ElementsAre("/g/backup GROUP VG_1 BACKUP", "/g/all GROUP VG_1 BACKUP",
                            "/g/master GROUP VG_1 MASTER", "/g/all GROUP VG_1 MASTER",
                            "/g/backup GROUP VG_1 BACKUP", "/g/all GROUP VG_1 BACKUP",
                            "/g/fault GROUP VG_1 FAULT", "/g/all GROUP VG_1 FAULT"));
}

TEST_F(VrrpSyncTest, GroupNotifiesAfterItsMembers) {
    start_masters("notify_master /i/master;\n", "notify_master /i/master;\n");
    advert_from("10.0.0.2", 150);
    launcher_.finish_all();
    launcher_.take();
    time_.advance(kDown100);  // silence on both: Master together again
    EXPECT_EQ(state("VI_1"), State::kMaster);
    EXPECT_THAT(launcher_.take(),
                ElementsAre("/i/master INSTANCE VI_2 MASTER 100",
                            "/i/master INSTANCE VI_1 MASTER 100", "/g/master GROUP VG_1 MASTER"));
}

TEST_F(VrrpSyncTest, SettleTakesTheOthersToAnOwnerThatStartedMaster) {
    start(group_of_two(255, 100));
    // VI_1 (the owner) was Master before VI_2 started; settle() brings VI_2 along at once.
    EXPECT_EQ(state("VI_1"), State::kMaster);
    EXPECT_EQ(state("VI_2"), State::kMaster);
    EXPECT_TRUE(io_.has_vip(eth1_, "10.0.1.100"));
}

}  // namespace
}  // namespace vrrp::test
