#include "modules/vrrp/vrrp_io.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netpacket/packet.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "modules/vrrp/vrrp_packet.h"

namespace vrrp {
namespace {

std::string sys_error(const char* what) {
    return std::string(what) + " failed (" + std::to_string(errno) + ": " + strerror(errno) + ")";
}

in_addr to_in(Ip4 a) {
    in_addr r{};
    r.s_addr = htonl(a.value);
    return r;
}

bool ifreq_of(const std::string& name, unsigned long request, ifreq& out) {
    if (name.size() >= IFNAMSIZ) {
        return false;
    }
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    memset(&out, 0, sizeof(out));
    memcpy(out.ifr_name, name.c_str(), name.size());
    bool ok = ioctl(fd, request, &out) == 0;
    ::close(fd);
    return ok;
}

}  // namespace

unsigned if_index(const std::string& name) {
    return if_nametoindex(name.c_str());
}

bool link_is_up(const std::string& name) {
    ifreq r;
    if (!ifreq_of(name, SIOCGIFFLAGS, r)) {
        return false;
    }
    return (r.ifr_flags & IFF_UP) && (r.ifr_flags & IFF_RUNNING);
}

std::optional<Ip4> primary_address(const std::string& name, const std::vector<Ip4>& skip) {
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0) {
        return std::nullopt;
    }
    std::optional<Ip4> found;
    for (ifaddrs* i = list; i != nullptr && !found; i = i->ifa_next) {
        if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET || name != i->ifa_name) {
            continue;
        }
        Ip4 a{ntohl(reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr)};
        bool is_vip = false;
        for (Ip4 s : skip) {
            is_vip = is_vip || s == a;
        }
        if (!is_vip) {
            found = a;
        }
    }
    freeifaddrs(list);
    return found;
}

std::optional<std::array<uint8_t, 6>> hw_address(const std::string& name) {
    ifreq r;
    if (!ifreq_of(name, SIOCGIFHWADDR, r)) {
        return std::nullopt;
    }
    std::array<uint8_t, 6> mac;
    memcpy(mac.data(), r.ifr_hwaddr.sa_data, mac.size());
    return mac;
}

// ---- VrrpSocket ----

VrrpSocket::~VrrpSocket() {
    if (recv_fd_ >= 0) {
        ::close(recv_fd_);
    }
    if (send_fd_ >= 0) {
        ::close(send_fd_);
    }
}

bool VrrpSocket::open(const std::string& ifname, unsigned ifindex, Ip4 src, bool multicast,
                      std::string& error) {
    for (int* fd : {&recv_fd_, &send_fd_}) {
        *fd = ::socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, kIpProtoVrrp);
        if (*fd < 0) {
            error = sys_error("socket(AF_INET, SOCK_RAW, 112)");
            return false;
        }
        if (setsockopt(*fd, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(),
                       static_cast<socklen_t>(ifname.size())) != 0) {
            error = sys_error(("setsockopt(SO_BINDTODEVICE, " + ifname + ")").c_str());
            return false;
        }
    }
    if (multicast) {
        // RFC 5798 §5.1.1.2: adverts go to 224.0.0.18; join it on this interface only.
        ip_mreqn mr{};
        mr.imr_multiaddr = to_in(kMulticastGroup);
        mr.imr_ifindex = static_cast<int>(ifindex);
        if (setsockopt(recv_fd_, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) != 0) {
            error = sys_error("setsockopt(IP_ADD_MEMBERSHIP 224.0.0.18)");
            return false;
        }
        ip_mreqn out{};
        out.imr_ifindex = static_cast<int>(ifindex);
        setsockopt(send_fd_, IPPROTO_IP, IP_MULTICAST_IF, &out, sizeof(out));
    }
    // RFC 5798 §5.1.1.3: TTL 255 (unicast and multicast). Our own adverts are not looped back.
    int ttl = kTtl;
    int loop = 0;
    int tos = IPTOS_PREC_INTERNETCONTROL;  // as keepalived: network control precedence
    if (setsockopt(send_fd_, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl)) != 0 ||
        setsockopt(send_fd_, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl)) != 0 ||
        setsockopt(send_fd_, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop)) != 0) {
        error = sys_error("setsockopt(IP_TTL 255)");
        return false;
    }
    setsockopt(send_fd_, IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
    // The source address (the v3 checksum covers it). A bound raw socket only receives what
    // is sent to that address, hence the second, unbound socket to receive.
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr = to_in(src);
    if (::bind(send_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
        error = sys_error(("bind(" + src.text() + ")").c_str());
        return false;
    }
    return true;
}

bool VrrpSocket::send(std::span<const uint8_t> message, Ip4 dst, std::string& error) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr = to_in(dst);
    ssize_t n = ::sendto(send_fd_, message.data(), message.size(), 0,
                         reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
    if (n != static_cast<ssize_t>(message.size())) {
        error = sys_error(("sendto(" + dst.text() + ")").c_str());
        return false;
    }
    return true;
}

ssize_t VrrpSocket::receive(std::span<uint8_t> buf) {
    ssize_t n = ::recv(recv_fd_, buf.data(), buf.size(), 0);
    return n < 0 ? 0 : n;
}

// ---- Netlink ----

void MnlClose::operator()(mnl_socket* nl) const {
    mnl_socket_close(nl);
}

namespace {

/// An rtnetlink socket opened with `flags` and bound to the multicast `groups` (0: none);
/// nullptr with `error` naming `what` when that fails.
MnlSocket open_rtnetlink(int flags, unsigned groups, const char* what, std::string& error) {
    MnlSocket nl(mnl_socket_open2(NETLINK_ROUTE, flags));
    if (nl == nullptr || mnl_socket_bind(nl.get(), groups, MNL_SOCKET_AUTOPID) < 0) {
        error = sys_error(what);
        return nullptr;
    }
    return nl;
}

}  // namespace

bool Netlink::open(std::string& error) {
    nl_ = open_rtnetlink(SOCK_CLOEXEC, 0, "rtnetlink socket", error);
    if (nl_ == nullptr) {
        return false;
    }
    portid_ = mnl_socket_get_portid(nl_.get());
    seq_ = static_cast<uint32_t>(time(nullptr));
    return true;
}

bool Netlink::request(uint16_t type, uint16_t flags, unsigned ifindex, Ip4 addr, uint8_t prefix,
                      std::string& error) {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | NLM_F_ACK | flags);
    nlh->nlmsg_seq = ++seq_;
    auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
    ifa->ifa_family = AF_INET;
    ifa->ifa_prefixlen = prefix;
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    ifa->ifa_index = ifindex;
    uint32_t be = htonl(addr.value);
    mnl_attr_put_u32(nlh, IFA_LOCAL, be);
    if (type == RTM_NEWADDR) {
        mnl_attr_put_u32(nlh, IFA_ADDRESS, be);
    }
    if (mnl_socket_sendto(nl_.get(), nlh, nlh->nlmsg_len) < 0) {
        error = sys_error("rtnetlink send");
        return false;
    }
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl_.get(), buf.data(), buf.size());
        if (n < 0) {
            error = sys_error("rtnetlink receive");
            return false;
        }
        int r = mnl_cb_run(buf.data(), static_cast<size_t>(n), seq_, portid_, nullptr, nullptr);
        if (r == MNL_CB_ERROR) {
            error = sys_error(type == RTM_NEWADDR ? "adding the address" : "removing the address");
            return false;
        }
        if (r == MNL_CB_STOP) {
            return true;  // the ACK
        }
    }
}

bool Netlink::add_address(unsigned ifindex, Ip4 addr, uint8_t prefix, std::string& error) {
    if (request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifindex, addr, prefix, error)) {
        return true;
    }
    return errno == EEXIST;
}

bool Netlink::del_address(unsigned ifindex, Ip4 addr, std::string& error) {
    if (request(RTM_DELADDR, 0, ifindex, addr, 0, error)) {
        return true;
    }
    return errno == EADDRNOTAVAIL || errno == ENODEV;
}

// ---- LinkMonitor ----

bool LinkMonitor::open(std::string& error) {
    nl_ =
        open_rtnetlink(SOCK_CLOEXEC | SOCK_NONBLOCK, RTMGRP_LINK, "rtnetlink link monitor", error);
    return nl_ != nullptr;
}

int LinkMonitor::fd() const {
    return mnl_socket_get_fd(nl_.get());
}

namespace {

struct LinkCb {
    const std::function<void(const std::string&, bool)>* changed;
};

int link_attr(const nlattr* attr, void* data) {
    if (mnl_attr_get_type(attr) == IFLA_IFNAME && mnl_attr_validate(attr, MNL_TYPE_STRING) >= 0) {
        *static_cast<const char**>(data) = mnl_attr_get_str(attr);
    }
    return MNL_CB_OK;
}

int link_msg(const nlmsghdr* nlh, void* data) {
    if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK) {
        return MNL_CB_OK;
    }
    auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
    const char* name = nullptr;
    mnl_attr_parse(nlh, sizeof(*ifi), link_attr, &name);
    if (name != nullptr) {
        bool up = nlh->nlmsg_type == RTM_NEWLINK && (ifi->ifi_flags & IFF_UP) &&
                  (ifi->ifi_flags & IFF_RUNNING);
        (*static_cast<LinkCb*>(data)->changed)(name, up);
    }
    return MNL_CB_OK;
}

}  // namespace

void LinkMonitor::read(const std::function<void(const std::string&, bool)>& changed) {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    LinkCb cb{&changed};
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl_.get(), buf.data(), buf.size());
        if (n <= 0) {
            return;
        }
        mnl_cb_run(buf.data(), static_cast<size_t>(n), 0, 0, link_msg, &cb);
    }
}

// ---- gratuitous ARP ----

bool send_gratuitous_arp(unsigned ifindex, const std::array<uint8_t, 6>& mac, Ip4 addr,
                         std::string& error) {
    int fd = ::socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP));
    if (fd < 0) {
        error = sys_error("socket(AF_PACKET)");
        return false;
    }
    // RFC 826 ARP request: hardware Ethernet, protocol IPv4, sender = target = the address.
    uint8_t p[28] = {0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01};
    uint32_t be = htonl(addr.value);
    memcpy(p + 8, mac.data(), 6);
    memcpy(p + 14, &be, 4);
    memset(p + 18, 0xFF, 6);
    memcpy(p + 24, &be, 4);
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_protocol = htons(ETH_P_ARP);
    to.sll_ifindex = static_cast<int>(ifindex);
    to.sll_halen = 6;
    memset(to.sll_addr, 0xFF, 6);
    bool ok = ::sendto(fd, p, sizeof(p), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) ==
              static_cast<ssize_t>(sizeof(p));
    if (!ok) {
        error = sys_error("sendto(gratuitous ARP)");
    }
    ::close(fd);
    return ok;
}

// ---- KernelIo ----

unsigned KernelIo::if_index(const std::string& name) {
    return vrrp::if_index(name);
}

bool KernelIo::link_is_up(const std::string& name) {
    return vrrp::link_is_up(name);
}

std::optional<Ip4> KernelIo::primary_address(const std::string& name,
                                             const std::vector<Ip4>& skip) {
    return vrrp::primary_address(name, skip);
}

std::optional<std::array<uint8_t, 6>> KernelIo::hw_address(const std::string& name) {
    return vrrp::hw_address(name);
}

bool KernelIo::send_gratuitous_arp(unsigned ifindex, const std::array<uint8_t, 6>& mac, Ip4 addr,
                                   std::string& error) {
    return vrrp::send_gratuitous_arp(ifindex, mac, addr, error);
}

bool KernelIo::add_address(unsigned ifindex, Ip4 addr, uint8_t prefix, std::string& error) {
    return netlink_.add_address(ifindex, addr, prefix, error);
}

bool KernelIo::del_address(unsigned ifindex, Ip4 addr, std::string& error) {
    return netlink_.del_address(ifindex, addr, error);
}

std::unique_ptr<AdvertSocket> KernelIo::open_socket(const std::string& ifname, unsigned ifindex,
                                                    Ip4 src, bool multicast, std::string& error) {
    auto socket = std::make_unique<VrrpSocket>();
    if (!socket->open(ifname, ifindex, src, multicast, error)) {
        return nullptr;
    }
    return socket;
}

}  // namespace vrrp
