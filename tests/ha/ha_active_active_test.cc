// Active-active VRRP through the real binary (docs/vrrp.md, "Active-active"): three nodes,
// two virtual routers. VI_A (VRID 61, 10.77.0.100) has node 1 as its master, then node 3,
// then node 2; VI_B (VRID 62, 10.77.0.101) has node 2, then node 1, then node 3. Each VIP is
// served by its own master; a crashed master moves its VIP only (to its next node), the
// other VIP stays where it is (no transition at all on its master), and the restarted node
// takes its VIP back (preempt).
#include <string>
#include <vector>

#include "ha_lab.h"

namespace halo_test {
namespace {

constexpr const char* kVipA = "10.77.0.100";
constexpr const char* kVipB = "10.77.0.101";

/// The vrrp block of a node: its priority in VI_A and in VI_B.
std::string two_routers(int prio_a, int prio_b) {
    auto inst = [](const char* name, int vrid, int prio, const char* vip) {
        return std::string("  vrrp_instance ") + name +
               " {\n    interface eth0;\n    virtual_router_id " + std::to_string(vrid) +
               ";\n    priority " + std::to_string(prio) + ";\n    advert_int 100ms;\n" +
               "    virtual_ipaddress { " + vip + "/24; }\n  }\n";
    };
    return inst("VI_A", 61, prio_a, kVipA) + inst("VI_B", 62, prio_b, kVipB);
}

class ActiveActiveTest : public HaTest {
  protected:
    std::vector<int> holders(const char* vip) const {
        std::vector<int> out;
        for (int i = 1; i <= 3; i++) {
            if (lab_.has_vip(i, vip)) {
                out.push_back(i);
            }
        }
        return out;
    }
    bool holders_are(const char* vip, std::vector<int> want, Millis timeout = 20s) const {
        return wait_until([&] { return holders(vip) == want; }, timeout);
    }
    std::string get(const char* vip) const { return lab_.curl(std::string("http://") + vip + "/"); }
    /// Lines of node i's error log for instance `name` entering MASTER.
    size_t became_master(int i, const std::string& name) {
        return node(i).count("vrrp_instance \"" + name + "\" BACKUP -> MASTER");
    }
};

TEST_F(ActiveActiveTest, EachVipOnItsOwnMasterACrashMovesOneVipOnly) {
    // Node:         1    2    3
    // VI_A (.100): 100   80   90
    // VI_B (.101):  90  100   80
    nodes_.push_back(std::make_unique<HaloNode>(lab_, 1, two_routers(100, 90)));
    nodes_.push_back(std::make_unique<HaloNode>(lab_, 2, two_routers(80, 100)));
    nodes_.push_back(std::make_unique<HaloNode>(lab_, 3, two_routers(90, 80)));
    for (int i = 1; i <= 3; i++) {
        node(i).start();
    }
    ASSERT_TRUE(holders_are(kVipA, {1})) << node(1).error_log();
    ASSERT_TRUE(holders_are(kVipB, {2})) << node(2).error_log();
    // Both nodes serve at once, each its own VIP: the client list (or DNS) spreads clients.
    EXPECT_TRUE(wait_until([&] { return get(kVipA) == "node1\n"; }, 10s));
    EXPECT_TRUE(wait_until([&] { return get(kVipB) == "node2\n"; }, 10s));
    // Node 3 is the backup of both. (Counts are taken from here: at startup every node
    // waits its Master_Down_Interval, and a node that started late may be master briefly.)
    size_t a_on_2 = became_master(2, "VI_A");
    size_t b_on_1 = became_master(1, "VI_B");
    size_t b_on_3 = became_master(3, "VI_B");
    size_t b_on_2 = became_master(2, "VI_B");
    size_t b_left_2 = node(2).count("vrrp_instance \"VI_B\" MASTER ->");

    // Node 1 dies whole (nothing sent, its link gone): VI_A moves to node 3 (90 > 80); VI_B
    // stays on node 2, whose VI_B does not move at all.
    node(1).proc().kill_all(SIGKILL);
    ASSERT_TRUE(lab_.set_link(1, false));
    ASSERT_TRUE(wait_until([&] { return lab_.has_vip(3, kVipA); }, 10s)) << node(3).error_log();
    EXPECT_TRUE(wait_until([&] { return get(kVipA) == "node3\n"; }, 10s));
    EXPECT_EQ(holders(kVipB), std::vector<int>{2});
    EXPECT_EQ(get(kVipB), "node2\n");
    EXPECT_FALSE(lab_.has_vip(2, kVipA));
    EXPECT_EQ(became_master(2, "VI_A"), a_on_2) << node(2).error_log();
    EXPECT_EQ(became_master(3, "VI_B"), b_on_3) << node(3).error_log();

    // Node 1 comes back: it removes the VIP it left behind, starts as backup, and preempts
    // VI_A from node 3 (100 > 90); VI_B is still untouched on node 2.
    ASSERT_TRUE(lab_.set_link(1, true));
    node(1).start();
    ASSERT_TRUE(holders_are(kVipA, {1})) << node(1).error_log();
    EXPECT_TRUE(wait_until([&] { return get(kVipA) == "node1\n"; }, 10s));
    EXPECT_GE(node(3).count("vrrp_instance \"VI_A\" MASTER -> BACKUP (advertisement with a "
                            "higher priority)"),
              1u)
        << node(3).error_log();
    EXPECT_EQ(holders(kVipB), std::vector<int>{2});
    EXPECT_EQ(get(kVipB), "node2\n");
    // Node 1's VI_B heard node 2 (100) and stayed backup.
    EXPECT_EQ(became_master(1, "VI_B"), b_on_1) << node(1).error_log();
    EXPECT_EQ(became_master(2, "VI_B"), b_on_2);
    EXPECT_EQ(node(2).count("vrrp_instance \"VI_B\" MASTER ->"), b_left_2);
}

}  // namespace
}  // namespace halo_test
