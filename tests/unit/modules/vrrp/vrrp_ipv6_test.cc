// An IPv6 vrrp_instance in the helper, on the fake system and clock (vrrp_fakes.h): adverts to
// ff02::12 from the interface's link-local address (RFC 5798 §5.1.2), virtual addresses added
// without duplicate address detection unless `-nodad`, an unsolicited neighbour advertisement
// per IPv6 address where IPv4 has gratuitous ARP (§6.4.2) with garp_master_delay/repeat
// applying to them, excluded addresses of either family up and down with the instance but not
// advertised, and the election between link-local addresses (§6.4.3).
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

std::string v6_instance(int priority = 100, std::string_view extra = "garp_master_repeat 1;\n") {
    return "vrrp {\n"
           "    vrrp_instance V6 {\n"
           "        interface eth0; virtual_router_id 51; priority " +
           std::to_string(priority) +
           "; advert_int 1s;\n"
           "        virtual_ipaddress { fd77::100/64; fd77::101 dev eth1 -nodad; }\n"
           "        virtual_ipaddress_excluded { 10.0.0.100/24; }\n" +
           std::string(extra) +
           "    }\n"
           "}\n";
}

constexpr Millis kDown100{3609};  // 3 * 1000 + (256 - 100) * 1000 / 256

class VrrpIpv6Test : public HelperFixture {
  protected:
    VrrpIpv6Test() {
        io_.links["eth0"].link_local = ip("fe80::1");
        io_.links["eth1"].link_local = ip("fe80::2:1");
        peer_addrs_ = {ip("fd77::100"), ip("fd77::101")};
    }
    void advert6(const char* from, uint8_t priority) {
        Advert a;
        a.version = 3;
        a.vrid = 51;
        a.priority = priority;
        a.interval = 1s;
        a.addrs = peer_addrs_;
        ASSERT_NE(io_.sockets["eth0"], nullptr);
        io_.sockets["eth0"]->deliver(a, ip(from), kMulticastGroup6);
        pump();
    }
};

TEST_F(VrrpIpv6Test, MasterAdvertisesToFf02_12AndAnnouncesWithNeighbourAdvertisements) {
    start(v6_instance());
    EXPECT_THAT(io_.take(),
                ElementsAre("del fd77::100/64 2", "del fd77::101/128 3", "del 10.0.0.100 2"));
    time_.advance(kDown100);
    ASSERT_EQ(instance("V6").state(), State::kMaster);
    // IFA_F_NODAD unless `-nodad`; NA for IPv6, gratuitous ARP for the excluded IPv4 address.
    EXPECT_THAT(io_.take(),
                ElementsAre("add fd77::100/64 2", "add fd77::101/128 3 dad", "add 10.0.0.100/24 2",
                            "na fd77::100 2", "na fd77::101 3", "garp 10.0.0.100 2"));
    ASSERT_EQ(io_.sent["eth0"].size(), 1u);
    const Sent& s = io_.sent["eth0"][0];
    EXPECT_EQ(s.dst, kMulticastGroup6);
    EXPECT_EQ(s.advert.version, 3);
    // The excluded address is not advertised.
    EXPECT_THAT(s.advert.addrs, ElementsAre(ip("fd77::100"), ip("fd77::101")));
    EXPECT_TRUE(io_.has_vip(eth0_, "fd77::100"));
    EXPECT_TRUE(io_.has_vip(eth0_, "10.0.0.100"));
    EXPECT_EQ(slot("V6")->master, ip("fe80::1"));
    EXPECT_EQ(slot("V6")->vips[0].addr, ip("fd77::100"));
}

TEST_F(VrrpIpv6Test, GarpMasterDelayAndRepeatApplyToNeighbourAdvertisements) {
    start(v6_instance(100, "garp_master_delay 2s; garp_master_repeat 2;\n"));
    time_.advance(kDown100);
    io_.take();
    time_.advance(2s);
    EXPECT_THAT(io_.take(), ElementsAre("na fd77::100 2", "na fd77::101 3", "garp 10.0.0.100 2",
                                        "na fd77::100 2", "na fd77::101 3", "garp 10.0.0.100 2"));
    time_.advance(10s);
    EXPECT_THAT(io_.take(), IsEmpty());
}

TEST_F(VrrpIpv6Test, HigherPriorityFromALinkLocalSenderWins) {
    start(v6_instance());
    time_.advance(kDown100);
    io_.take();
    advert6("fe80::9", 150);
    EXPECT_EQ(instance("V6").state(), State::kBackup);
    EXPECT_THAT(io_.take(),
                ElementsAre("del fd77::100/64 2", "del fd77::101/128 3", "del 10.0.0.100 2"));
    EXPECT_EQ(slot("V6")->master, ip("fe80::9"));
}

TEST_F(VrrpIpv6Test, EqualPriorityTheGreaterLinkLocalAddressWins) {
    // RFC 5798 §6.4.3: equal priority, the greater primary address: fe80::1 < fe80::9.
    start(v6_instance());
    time_.advance(kDown100);
    io_.take();
    advert6("fe80::1", 100);  // our own address (a looped copy): ignored
    EXPECT_EQ(instance("V6").state(), State::kMaster);
    advert6("fe80::9", 100);
    EXPECT_EQ(instance("V6").state(), State::kBackup);
    // A master with the greater address stays master: fe80:: < fe80::1.
    start(v6_instance());
    time_.advance(kDown100);
    advert6("fe80::", 100);
    EXPECT_EQ(instance("V6").state(), State::kMaster);
}

TEST_F(VrrpIpv6Test, UnicastPeersGetTheAdvertsAndOnlyTheirsCount) {
    start(v6_instance(100, "unicast_src_ip fd77::1; unicast_peer { fd77::2; fd77::3; }\n"));
    time_.advance(kDown100);
    ASSERT_EQ(instance("V6").state(), State::kMaster);
    ASSERT_EQ(io_.sent["eth0"].size(), 2u);
    EXPECT_EQ(io_.sent["eth0"][0].dst, ip("fd77::2"));
    EXPECT_EQ(io_.sent["eth0"][1].dst, ip("fd77::3"));
    EXPECT_EQ(slot("V6")->master, ip("fd77::1"));  // the source: unicast_src_ip
    // A better advert from an address that is not a peer is ignored; from a peer it counts.
    advert6("fd77::9", 200);
    EXPECT_EQ(instance("V6").state(), State::kMaster);
    advert6("fd77::3", 200);
    EXPECT_EQ(instance("V6").state(), State::kBackup);
}

TEST_F(VrrpIpv6Test, AReloadHandsTheIpv6MasterOverWithoutAMove) {
    // The slot a previous helper left: V6 master (handed over), fd77::100/64 up, the master
    // fe80::1 (IPv6 addresses in the shared slot).
    make(v6_instance());
    const InstanceConf& c = helper_->conf().instances[0];
    Slot& s = shared_->slots[3];
    snprintf(s.name, sizeof(s.name), "V6");
    s.used = 1;
    s.owner = 0;
    s.state = static_cast<uint8_t>(State::kMaster);
    s.identity = identity(c);
    s.fingerprint = fingerprint(c);
    s.master = ip("fe80::1");
    s.transitions = 3;
    s.vip_count = 1;
    s.vips[0] = SlotVip{ip("fd77::100"), eth0_, 64};
    peer().make_scripts();
    peer().claim_slots();
    EXPECT_EQ(instance("V6").state(), State::kMaster);
    // Nothing removed; only what the previous helper did not have is announced.
    EXPECT_THAT(io_.take(),
                ElementsAre("add fd77::100/64 2", "add fd77::101/128 3 dad", "na fd77::101 3",
                            "add 10.0.0.100/24 2", "garp 10.0.0.100 2"));
    EXPECT_EQ(s.master, ip("fe80::1"));
    EXPECT_EQ(s.transitions, 3u);
    EXPECT_EQ(s.vip_count, 3u);
    EXPECT_EQ(s.vips[1].addr, ip("fd77::101"));
    EXPECT_EQ(s.vips[1].prefix, 128);
}

TEST_F(VrrpIpv6Test, NoLinkLocalAddressNoInstance) {
    io_.links["eth0"].link_local.reset();
    start(v6_instance());
    EXPECT_FALSE(instance("V6").running());
}

}  // namespace
}  // namespace vrrp::test
