// IPv6 VRRP (VRRPv3, RFC 5798 §5.1.2) through the real binary, in the lab of ha_lab.h (a
// bridge, fd77::/64 beside 10.77.0.0/24, link-local addresses): two halo nodes fail the IPv6
// VIP fd77::100 over on a crash, the client reaches it with curl -6 before and after, and its
// neighbour cache follows the new master's unsolicited neighbour advertisement; unicast peers
// hand it over and back; an instance
// whose link-local address is still tentative starts once DAD is done with it; halo and
// Debian's keepalived in one IPv6 group elect each other, the higher priority winning both
// ways.
//
// Needs root and `ip netns` (skipped with a message otherwise); the keepalived test needs
// keepalived (auto/deps --test installs it).
#include <iostream>
#include <string>
#include <vector>

#include "ha_lab.h"
#include "support/json.h"

namespace halo_test {
namespace {

std::string v6_instance(int priority, const std::string& extra = {}) {
    return "  vrrp_instance VI_6 {\n    state BACKUP;\n    interface eth0;\n"
           "    virtual_router_id 61;\n    priority " +
           std::to_string(priority) + ";\n    advert_int 100ms;\n" + extra +
           "    virtual_ipaddress { fd77::100/64; }\n  }\n";
}

// The server of every node: IPv6 too, and the status page.
constexpr const char* kServerExtra = "    listen [::]:80;\n    location = /status { status; }\n";

class HaIpv6Test : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("vrrp")) {
            GTEST_SKIP() << "halo is built without the vrrp module";
        }
        if (access("/proc/sys/net/ipv6", F_OK) != 0) {
            GTEST_SKIP() << "no IPv6 in this kernel";
        }
        std::string why = lab_.build(2);
        if (!why.empty()) {
            GTEST_SKIP() << "HA tests need root and network namespaces: " << why;
        }
    }
    HaloNode& add_node(int i, int priority, const std::string& extra = {}) {
        nodes_.push_back(std::make_unique<HaloNode>(lab_, i, v6_instance(priority, extra),
                                                    std::string(), kServerExtra));
        return *nodes_.back();
    }
    HaloNode& node(int i) { return *nodes_[static_cast<size_t>(i - 1)]; }
    /// Node i's one vrrp instance on its status page (null when unreachable).
    Json vrrp_entry(int i) {
        auto j =
            Json::parse(lab_.curl("http://10.77.0." + std::to_string(i) + "/status?format=json"));
        if (!j || !(*j)["vrrp"].is_array() || (*j)["vrrp"].size() != 1) {
            return Json();
        }
        return (*j)["vrrp"][0];
    }

    Lab lab_;
    std::vector<std::unique_ptr<HaloNode>> nodes_;
};

TEST_F(HaIpv6Test, TwoNodesFailAnIpv6VipOverAndTheClientFollowsTheNeighbourAdvertisement) {
    // A dual-stack service as keepalived writes it: the IPv4 address rides along, excluded
    // from the IPv6 adverts.
    const std::string excluded = "    virtual_ipaddress_excluded { 10.77.0.100/24; }\n";
    add_node(1, 100, excluded).start();
    ASSERT_TRUE(wait_until([&] { return lab_.has_vip6(1); }, 20s)) << node(1).error_log();
    // Node 2 forwards IPv6: its neighbour advertisements carry the Router flag (keepalived's
    // rule), node 1's do not.
    ASSERT_EQ(run_command({"ip", "netns", "exec", lab_.node(2), "sysctl", "-qw",
                           "net.ipv6.conf.eth0.forwarding=1"},
                          10s)
                  .status,
              0);
    add_node(2, 90, excluded).start();
    ASSERT_TRUE(wait_until([&] { return node(2).count("INIT -> BACKUP") == 1; }));
    // The backup learns the master from its adverts: its link-local address (§5.1.2.1).
    std::string ll1 = lab_.link_local(lab_.node(1));
    ASSERT_FALSE(ll1.empty());
    ASSERT_TRUE(wait_until([&] { return vrrp_entry(2)["master"].str() == ll1; }))
        << node(2).error_log();
    EXPECT_EQ(lab_.vip_holders(2, true), std::vector<int>{1});
    ASSERT_TRUE(wait_until([&] { return lab_.curl_vip6() == "node1\n"; }, 10s));
    EXPECT_EQ(lab_.vip_holders(2), std::vector<int>{1});
    EXPECT_TRUE(wait_until([&] { return lab_.curl_vip() == "node1\n"; }, 10s));
    std::string mac1 = lab_.mac(lab_.node(1));
    std::string mac2 = lab_.mac(lab_.node(2));
    ASSERT_NE(mac1, mac2);
    EXPECT_EQ(lab_.client_neighbour(kVip6), mac1);
    EXPECT_EQ(ip({"-n", lab_.ns("cl"), "-6", "neigh", "show", kVip6}).out.find(" router"),
              std::string::npos);
    Json n1 = vrrp_entry(1);
    EXPECT_EQ(n1["state"].str(), "MASTER");
    EXPECT_EQ(n1["addresses"][0].str(), "fd77::100/64");

    // The master dies at once (every process) and its link goes: the VIP stays configured
    // there, nothing more is sent.
    node(1).proc().kill_all(SIGKILL);
    ASSERT_TRUE(lab_.set_link(1, false));
    ASSERT_TRUE(wait_until([&] { return lab_.has_vip6(2); }, 10s)) << node(2).error_log();
    EXPECT_GE(node(2).count("BACKUP -> MASTER (no advertisement from a better master"), 1u);
    // The client sent nothing since: only node 2's unsolicited neighbour advertisement (its
    // Override flag) can have moved the client's entry for the VIP to node 2's MAC.
    EXPECT_TRUE(wait_until([&] { return lab_.client_neighbour(kVip6) == mac2; }, 5s))
        << "the client's neighbour entry: " << lab_.client_neighbour(kVip6);
    EXPECT_NE(ip({"-n", lab_.ns("cl"), "-6", "neigh", "show", kVip6}).out.find(" router"),
              std::string::npos);
    EXPECT_TRUE(wait_until([&] { return lab_.curl_vip6() == "node2\n"; }, 10s));
    EXPECT_TRUE(wait_until([&] { return lab_.curl_vip() == "node2\n"; }, 10s));
    EXPECT_EQ(vrrp_entry(2)["master"].str(), lab_.link_local(lab_.node(2)));
    EXPECT_EQ(node(2).count("cannot"), 0u) << node(2).error_log();
}

TEST_F(HaIpv6Test, UnicastPeersHandTheVipOverAndBack) {
    // Each node sends from its fd77:: address to the other's (the source a peer accepts is
    // the address it lists).
    add_node(1, 100, "    unicast_src_ip fd77::1;\n    unicast_peer { fd77::2; }\n").start();
    ASSERT_TRUE(wait_until([&] { return lab_.has_vip6(1); }, 20s)) << node(1).error_log();
    add_node(2, 90, "    unicast_src_ip fd77::2;\n    unicast_peer { fd77::1; }\n").start();
    ASSERT_TRUE(wait_until([&] { return vrrp_entry(2)["master"].str() == "fd77::1"; }))
        << node(2).error_log();
    ASSERT_TRUE(wait_until([&] { return lab_.curl_vip6() == "node1\n"; }, 10s));
    node(1).proc().signal(SIGTERM);
    ASSERT_TRUE(node(1).proc().wait_exit());
    ASSERT_TRUE(wait_until([&] { return lab_.vip_holders(2, true) == std::vector<int>{2}; }, 10s))
        << node(2).error_log();
    EXPECT_EQ(node(2).count("(the master sent priority 0)"), 1u) << node(2).error_log();
    EXPECT_TRUE(wait_until([&] { return lab_.curl_vip6() == "node2\n"; }, 10s));
    node(1).start();
    ASSERT_TRUE(wait_until([&] { return lab_.vip_holders(2, true) == std::vector<int>{1}; }, 20s))
        << node(1).error_log();
    EXPECT_TRUE(wait_until([&] { return lab_.curl_vip6() == "node1\n"; }, 10s));
    EXPECT_EQ(node(1).count("dropped a packet") + node(2).count("dropped a packet"), 0u);
}

TEST_F(HaIpv6Test, AnInstanceStartsOnceItsLinkLocalAddressLeavesDad) {
    // Node 1's eth0 down: no link-local address, the instance cannot run.
    ASSERT_TRUE(lab_.set_link(1, false));
    add_node(1, 100).start();
    ASSERT_TRUE(wait_until([&] { return node(1).count("has no IPv6 link-local address") >= 1; }))
        << node(1).error_log();
    // Up again with duplicate address detection on: its new link-local address is tentative
    // for a second or more (a tentative address cannot be bound), past the link-up event.
    ASSERT_EQ(run_command({"ip", "netns", "exec", lab_.node(1), "sysctl", "-qw",
                           "net.ipv6.conf.eth0.accept_dad=1"},
                          10s)
                  .status,
              0);
    ASSERT_TRUE(lab_.set_link(1, true));
    // The address change (RTMGRP_IPV6_IFADDR) that ends DAD lets it start.
    ASSERT_TRUE(wait_until([&] { return lab_.has_vip6(1); }, 20s)) << node(1).error_log();
    EXPECT_EQ(node(1).count("can run now"), 1u) << node(1).error_log();
    EXPECT_TRUE(wait_until([&] { return lab_.curl_vip6() == "node1\n"; }, 10s));
}

// ---- halo and Debian's keepalived in one IPv6 group ----

class Keepalived6 {
  public:
    Keepalived6(Lab& lab, int index, int priority) : dir_("halo-ka6") {
        write_file(dir_ / "keepalived.conf",
                   "global_defs {\n    router_id ka" + std::to_string(index) +
                       "\n    vrrp_version 3\n}\n"
                       "vrrp_instance VI_6 {\n    state BACKUP\n    interface eth0\n"
                       "    virtual_router_id 61\n    priority " +
                       std::to_string(priority) +
                       "\n    advert_int 0.1\n"
                       "    virtual_ipaddress {\n        fd77::100/64\n    }\n}\n");
        proc_ = std::make_unique<NsProcess>(
            lab.node(index),
            std::vector<std::string>{"keepalived", "-n", "-l", "-D", "--vrrp", "-f",
                                     dir_ / "keepalived.conf", "-p", dir_ / "k.pid", "-r",
                                     dir_ / "v.pid", "-c", dir_ / "c.pid"},
            dir_ / "out.log");
    }
    ~Keepalived6() {
        if (::testing::Test::HasFailure()) {
            std::cerr << "---- keepalived ----\n" << output();
        }
        proc_->kill_all(SIGTERM);
    }
    std::string output() const { return read_file(dir_ / "out.log").value_or(""); }
    size_t count(const std::string& needle) const {
        return log_lines_with(output(), needle).size();
    }

  private:
    TempDir dir_;
    std::unique_ptr<NsProcess> proc_;
};

TEST_F(HaIpv6Test, HaloAndKeepalivedElectEachOtherBothWays) {
    if (run_command({"keepalived", "--version"}, 10s).status != 0) {
        GTEST_SKIP() << "keepalived is not installed (apt-get install keepalived)";
    }
    // keepalived (90) alone first: it becomes master.
    Keepalived6 k2(lab_, 2, 90);
    ASSERT_TRUE(wait_until([&] { return lab_.has_vip6(2); }, 20s)) << k2.output();
    ASSERT_TRUE(wait_until([&] { return k2.count("Entering MASTER STATE") == 1; }));
    // halo (100) preempts: keepalived reads halo's IPv6 advert (checksum with the IPv6
    // pseudo-header, hop limit 255, link-local source) and gives way.
    add_node(1, 100).start();
    ASSERT_TRUE(wait_until([&] { return lab_.vip_holders(2, true) == std::vector<int>{1}; }, 20s))
        << k2.output();
    ASSERT_TRUE(wait_until([&] { return k2.count("Entering BACKUP STATE") >= 1; })) << k2.output();
    EXPECT_EQ(k2.count("received advert from " + lab_.link_local(lab_.node(1)) +
                       " with higher priority 100, ours 90"),
              1u)
        << k2.output();
    EXPECT_TRUE(wait_until([&] { return lab_.curl_vip6() == "node1\n"; }, 10s));
    // halo stops: its priority 0 makes keepalived take over.
    node(1).proc().signal(SIGTERM);
    ASSERT_TRUE(node(1).proc().wait_exit());
    ASSERT_TRUE(wait_until([&] { return lab_.vip_holders(2, true) == std::vector<int>{2}; }, 20s))
        << k2.output() << "node 1 (halo): "
        << ip({"-n", lab_.node(1), "-6", "-o", "addr", "show", "dev", "eth0"}).out;
    EXPECT_GE(k2.count("Entering MASTER STATE"), 2u) << k2.output();

    // halo comes back below keepalived (80 < 90): it stays backup and follows keepalived's
    // adverts, all decoded and accepted.
    node(1).write_conf(v6_instance(80));
    node(1).start();
    std::string ll2 = lab_.link_local(lab_.node(2));
    ASSERT_FALSE(ll2.empty());
    ASSERT_TRUE(wait_until([&] { return vrrp_entry(1)["master"].str() == ll2; }, 20s))
        << node(1).error_log();
    EXPECT_EQ(vrrp_entry(1)["state"].str(), "BACKUP");
    EXPECT_EQ(vrrp_entry(1)["priority"].integer(), 80);
    EXPECT_EQ(lab_.vip_holders(2, true), std::vector<int>{2});
    EXPECT_EQ(node(1).count("-> MASTER"), 1u) << node(1).error_log();  // the first run's
    EXPECT_EQ(node(1).count("dropped a packet"), 0u) << node(1).error_log();
    EXPECT_EQ(node(1).count("advertisement from fe80"), 0u) << node(1).error_log();
}

}  // namespace
}  // namespace halo_test
