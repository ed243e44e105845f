// vrrp_sync_group through the real binary: two nodes, each with two instances (VRID 51 with
// 10.77.0.100 and VRID 52 with 10.77.0.101) in one sync group. Only VI_2 tracks a link; when
// it fails, VI_1 follows it into Fault and both addresses move together, and they come back
// together. The group's notify script sees the group's states in order.
#include <string>
#include <vector>

#include "ha_lab.h"
#include "support/json.h"

namespace halo_test {
namespace {

constexpr const char* kVip2 = "10.77.0.101";

/// Two instances in vrrp_sync_group VG; VI_2 tracks `track` (a link) when it is not empty.
std::string sync_pair(int priority, const std::string& track, const std::string& group_extra) {
    auto inst = [&](int n, const std::string& extra) {
        return "  vrrp_instance VI_" + std::to_string(n) +
               " {\n    interface eth0;\n    virtual_router_id " + std::to_string(50 + n) +
               ";\n    priority " + std::to_string(priority) + ";\n    advert_int 100ms;\n" +
               extra + "    virtual_ipaddress { 10.77.0." + std::to_string(99 + n) +
               "/24; }\n  }\n";
    };
    return "  vrrp_sync_group VG {\n    group { VI_1; VI_2; }\n" + group_extra + "  }\n" +
           inst(1, "") + inst(2, track.empty() ? "" : "    track_interface " + track + ";\n");
}

TEST_F(HaTest, SyncGroupMovesItsAddressesTogether) {
    std::string ns1 = lab_.node(1);
    ASSERT_TRUE(lab_.add_veth(1, "trk0", "trk1"));
    TempDir hooks("halo-hooks");
    chmod(hooks.path().c_str(), 0777);  // scripts run as nobody
    write_file(hooks / "notify.sh", "#!/bin/sh\necho \"$*\" >> " + (hooks / "notify.log") + "\n");
    chmod((hooks / "notify.sh").c_str(), 0755);

    nodes_.push_back(std::make_unique<HaloNode>(
        lab_, 1, sync_pair(100, "trk0", "    notify " + (hooks / "notify.sh") + ";\n")));
    nodes_.push_back(std::make_unique<HaloNode>(lab_, 2, sync_pair(90, "", "")));
    auto holders = [&](const char* addr) {
        std::vector<int> out;
        for (int i = 1; i <= 2; i++) {
            if (lab_.has_vip(i, addr)) {
                out.push_back(i);
            }
        }
        return out;
    };
    auto both_on = [&](int n) {
        return wait_until(
            [&] {
                return holders(kVip) == std::vector<int>{n} &&
                       holders(kVip2) == std::vector<int>{n};
            },
            20s);
    };
    node(1).start();
    ASSERT_TRUE(both_on(1)) << node(1).error_log();
    // The group became Master together: one instance waited for the other to want it too.
    EXPECT_GE(node(1).count("waits for the other instances of vrrp_sync_group \"VG\""), 1u)
        << node(1).error_log();
    node(2).start();
    ASSERT_TRUE(wait_until([&] { return node(2).count("INIT -> BACKUP (startup)") == 2; }))
        << node(2).error_log();
    ASSERT_TRUE(both_on(1));

    // VI_2's tracked link goes down: VI_2 enters Fault, VI_1 (which tracks nothing) follows
    // it, and node 2 takes both addresses.
    ASSERT_EQ(ip({"-n", ns1, "link", "set", "trk0", "down"}).status, 0);
    ASSERT_TRUE(both_on(2)) << node(1).error_log() << node(2).error_log();
    EXPECT_TRUE(wait_until([&] {
        return node(1).count("vrrp_instance \"VI_1\" MASTER -> FAULT") == 1 &&
               node(1).count("vrrp_instance \"VI_2\" MASTER -> FAULT") == 1;
    })) << node(1).error_log();

    // The link comes back: node 1 preempts both, together.
    ASSERT_EQ(ip({"-n", ns1, "link", "set", "trk0", "up"}).status, 0);
    ASSERT_TRUE(both_on(1)) << node(1).error_log() << node(2).error_log();
    // Node 2 was outbid on one instance and the other followed it to Backup (or heard node 1
    // itself first): both are backups again, none stayed Master.
    EXPECT_TRUE(wait_until([&] {
        return node(2).count("vrrp_instance \"VI_1\" MASTER -> BACKUP") == 1 &&
               node(2).count("vrrp_instance \"VI_2\" MASTER -> BACKUP") == 1;
    })) << node(2).error_log();

    // The group's notify script: its states in order, "GROUP name state".
    std::vector<std::string> want = {"GROUP VG BACKUP", "GROUP VG MASTER", "GROUP VG FAULT",
                                     "GROUP VG BACKUP", "GROUP VG MASTER"};
    std::vector<std::string> lines;
    EXPECT_TRUE(wait_until([&] {
        lines = log_lines_with(read_file(hooks / "notify.log").value_or(""), "GROUP");
        return lines.size() >= want.size();
    }));
    EXPECT_EQ(lines, want);

    // A reload changes nothing: both instances continue as Master, the group says nothing.
    auto taken_over = [&](size_t n) {
        return wait_until([&] {
            return node(1).count("(state taken over from the previous vrrp process)") == n;
        });
    };
    size_t transitions = node(1).count(" -> ");
    node(1).proc().signal(SIGHUP);
    ASSERT_TRUE(taken_over(2)) << node(1).error_log();
    EXPECT_TRUE(both_on(1));
    EXPECT_EQ(node(1).count(" -> "), transitions + 2) << node(1).error_log();  // those two
    // The notify scripts run in order: anything the reload had queued would come before the
    // group's next state.
    auto notified = [&](const std::vector<std::string>& expect) {
        EXPECT_TRUE(wait_until([&] {
            lines = log_lines_with(read_file(hooks / "notify.log").value_or(""), "GROUP");
            return lines.size() >= expect.size();
        }));
        EXPECT_EQ(lines, expect);
    };
    ASSERT_EQ(ip({"-n", ns1, "link", "set", "trk0", "down"}).status, 0);
    ASSERT_TRUE(both_on(2)) << node(1).error_log();
    want.push_back("GROUP VG FAULT");
    notified(want);

    // A reload in Fault stays in Fault, quietly; the link back brings the group back.
    node(1).proc().signal(SIGHUP);
    ASSERT_TRUE(taken_over(4)) << node(1).error_log();
    EXPECT_EQ(node(1).count("continues in FAULT"), 2u) << node(1).error_log();
    ASSERT_EQ(ip({"-n", ns1, "link", "set", "trk0", "up"}).status, 0);
    ASSERT_TRUE(both_on(1)) << node(1).error_log();
    want.insert(want.end(), {"GROUP VG BACKUP", "GROUP VG MASTER"});
    notified(want);
}

TEST_F(HaTest, SyncGroupFailsOverOnACrashAndPreemptsBackTogether) {
    nodes_.push_back(std::make_unique<HaloNode>(lab_, 1, sync_pair(100, "", ""), std::string(),
                                                "    location = /status { status; }\n"));
    nodes_.push_back(std::make_unique<HaloNode>(lab_, 2, sync_pair(90, "", "")));
    auto on = [&](int n, bool other_too) {
        return wait_until(
            [&] {
                return lab_.has_vip(n) && lab_.has_vip(n, kVip2) &&
                       (other_too || (!lab_.has_vip(3 - n) && !lab_.has_vip(3 - n, kVip2)));
            },
            20s);
    };
    auto both_on = [&](int n) { return on(n, false); };
    node(1).start();
    ASSERT_TRUE(both_on(1)) << node(1).error_log();
    // The status page names each instance's group.
    auto status = Json::parse(lab_.curl("http://10.77.0.1/status?format=json"));
    ASSERT_TRUE(status && (*status)["vrrp"].size() == 2u);
    EXPECT_EQ((*status)["vrrp"][0]["sync_group"].str(), "VG");
    EXPECT_EQ((*status)["vrrp"][1]["sync_group"].str(), "VG");
    node(2).start();
    ASSERT_TRUE(wait_until([&] { return node(2).count("INIT -> BACKUP (startup)") == 2; }));
    // The whole node dies at once and its link goes: its addresses stay on its interface.
    node(1).proc().kill_all(SIGKILL);
    ASSERT_TRUE(lab_.set_link(1, false));
    ASSERT_TRUE(on(2, true)) << node(2).error_log();
    EXPECT_TRUE(
        wait_until([&] { return lab_.curl(std::string("http://") + kVip2 + "/") == "node2\n"; }));
    // Back: the stale addresses are removed, then both are preempted back.
    ASSERT_TRUE(lab_.set_link(1, true));
    node(1).start();
    ASSERT_TRUE(both_on(1)) << node(1).error_log() << node(2).error_log();
    EXPECT_TRUE(
        wait_until([&] { return lab_.curl(std::string("http://") + kVip2 + "/") == "node1\n"; }));
}

TEST_F(HaTest, ReloadThatGroupsAnInstanceWithAMasterMakesItMasterAtOnce) {
    // Node 1 runs VI_1 alone and is its master; a reload adds VI_2 and groups the two. The
    // new instance follows its group's master without waiting for its Master_Down_Timer.
    std::string alone = sync_pair(100, "", "");
    alone = alone.substr(alone.find("  vrrp_instance VI_1"));
    alone = alone.substr(0, alone.find("  vrrp_instance VI_2"));
    nodes_.push_back(std::make_unique<HaloNode>(lab_, 1, alone));
    node(1).start();
    ASSERT_TRUE(wait_until([&] { return lab_.has_vip(1); }, 20s)) << node(1).error_log();
    node(1).write_conf(sync_pair(100, "", ""));
    node(1).proc().signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] { return lab_.has_vip(1, kVip2); }, 20s)) << node(1).error_log();
    EXPECT_TRUE(lab_.has_vip(1));
    EXPECT_EQ(node(1).count("vrrp_instance \"VI_1\" continues in MASTER"), 1u);
    EXPECT_EQ(node(1).count("vrrp_instance \"VI_2\" BACKUP -> MASTER (another instance of its "
                            "vrrp_sync_group changed state)"),
              1u)
        << node(1).error_log();
}

}  // namespace
}  // namespace halo_test
