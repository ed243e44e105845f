#include "modules/vrrp/vrrp_io.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netpacket/packet.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "modules/vrrp/vrrp_packet.h"

namespace vrrp {
namespace {

std::string sys_error(const char* what) {
    return std::string(what) + " failed (" + std::to_string(errno) + ": " + strerror(errno) + ")";
}

in_addr to_in(IpAddr a) {
    in_addr r{};
    memcpy(&r, a.bytes.data(), 4);
    return r;
}

in6_addr to_in6(const IpAddr& a) {
    in6_addr r{};
    memcpy(&r, a.bytes.data(), 16);
    return r;
}

/// A sockaddr_in6 for `a`; link-scoped addresses (link-local, ff02::/16) get `ifindex` as
/// their zone.
sockaddr_in6 sockaddr6(const IpAddr& a, unsigned ifindex) {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_addr = to_in6(a);
    if (a.is_link_local() || (a.bytes[0] == 0xFF && (a.bytes[1] & 0x0F) == 0x02)) {
        sa.sin6_scope_id = ifindex;
    }
    return sa;
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

namespace {

/// RFC 5798 §5.1.2.1: the link-local address of `name`, from /proc/net/if_inet6 (address,
/// ifindex, prefix length, scope, flags, name; hex), which gives the flags getifaddrs() does
/// not: a tentative address (IFA_F_TENTATIVE, DAD under way) or a duplicate one is skipped.
std::optional<IpAddr> link_local_address(const std::string& name, const std::vector<IpAddr>& skip) {
    FILE* f = fopen("/proc/net/if_inet6", "re");
    if (f == nullptr) {
        return std::nullopt;
    }
    std::optional<IpAddr> found;
    char hex[33], ifname[IFNAMSIZ + 1];
    unsigned index, plen, scope, flags;
    while (!found &&
           fscanf(f, "%32s %x %x %x %x %16s", hex, &index, &plen, &scope, &flags, ifname) == 6) {
        std::array<uint8_t, 16> b;
        for (size_t i = 0; i < 16; i++) {
            b[i] = static_cast<uint8_t>(std::stoul(std::string(hex + 2 * i, 2), nullptr, 16));
        }
        IpAddr a = IpAddr::from_v6(b);
        if (name != ifname || !a.is_link_local() ||
            (flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)) != 0 ||
            std::find(skip.begin(), skip.end(), a) != skip.end()) {
            continue;
        }
        found = a;
    }
    fclose(f);
    return found;
}

}  // namespace

std::optional<IpAddr> primary_address(const std::string& name, int family,
                                      const std::vector<IpAddr>& skip) {
    if (family == 6) {
        return link_local_address(name, skip);
    }
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0) {
        return std::nullopt;
    }
    std::optional<IpAddr> found;
    for (ifaddrs* i = list; i != nullptr && !found; i = i->ifa_next) {
        if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET || name != i->ifa_name) {
            continue;
        }
        IpAddr a =
            IpAddr::from_v4(ntohl(reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr));
        bool is_vip = false;
        for (const IpAddr& s : skip) {
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

bool VrrpSocket::open(const std::string& ifname, unsigned ifindex, IpAddr src, bool multicast,
                      std::string& error) {
    if (src.is_v6()) {
        return open6(ifname, ifindex, src, multicast, error);
    }
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

bool VrrpSocket::open6(const std::string& ifname, unsigned ifindex, IpAddr src, bool multicast,
                       std::string& error) {
    v6_ = true;
    ifindex_ = ifindex;
    for (int* fd : {&recv_fd_, &send_fd_}) {
        *fd = ::socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, kIpProtoVrrp);
        if (*fd < 0) {
            error = sys_error("socket(AF_INET6, SOCK_RAW, 112)");
            return false;
        }
        if (setsockopt(*fd, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(),
                       static_cast<socklen_t>(ifname.size())) != 0) {
            error = sys_error(("setsockopt(SO_BINDTODEVICE, " + ifname + ")").c_str());
            return false;
        }
    }
    // An IPv6 raw socket gives no IP header: the hop limit and the destination come as
    // ancillary data (RFC 3542 §6), the source as the peer address.
    int on = 1;
    if (setsockopt(recv_fd_, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &on, sizeof(on)) != 0 ||
        setsockopt(recv_fd_, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof(on)) != 0) {
        error = sys_error("setsockopt(IPV6_RECVHOPLIMIT)");
        return false;
    }
    if (multicast) {
        // RFC 5798 §5.1.2.2: adverts go to ff02::12; join it on this interface only.
        ipv6_mreq mr{};
        mr.ipv6mr_multiaddr = to_in6(kMulticastGroup6);
        mr.ipv6mr_interface = ifindex;
        if (setsockopt(recv_fd_, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, &mr, sizeof(mr)) != 0) {
            error = sys_error("setsockopt(IPV6_ADD_MEMBERSHIP ff02::12)");
            return false;
        }
        int idx = static_cast<int>(ifindex);
        setsockopt(send_fd_, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx, sizeof(idx));
    }
    // RFC 5798 §5.1.2.3: Hop Limit 255. Our own adverts are not looped back.
    int hops = kTtl;
    int loop = 0;
    int tclass = IPTOS_PREC_INTERNETCONTROL;  // as the IPv4 TOS
    if (setsockopt(send_fd_, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof(hops)) != 0 ||
        setsockopt(send_fd_, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof(hops)) != 0 ||
        setsockopt(send_fd_, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &loop, sizeof(loop)) != 0) {
        error = sys_error("setsockopt(IPV6_UNICAST_HOPS 255)");
        return false;
    }
    setsockopt(send_fd_, IPPROTO_IPV6, IPV6_TCLASS, &tclass, sizeof(tclass));
    // The source (link-local: RFC 5798 §5.1.2.1); the checksum's pseudo-header covers it.
    sockaddr_in6 sa = sockaddr6(src, ifindex);
    if (::bind(send_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
        error = sys_error(("bind(" + src.text() + "%" + ifname + ")").c_str());
        return false;
    }
    return true;
}

bool VrrpSocket::send(std::span<const uint8_t> message, IpAddr dst, std::string& error) {
    sockaddr_in sa{};
    sockaddr_in6 sa6{};
    sockaddr* to = reinterpret_cast<sockaddr*>(&sa);
    socklen_t len = sizeof(sa);
    if (v6_) {
        sa6 = sockaddr6(dst, ifindex_);
        to = reinterpret_cast<sockaddr*>(&sa6);
        len = sizeof(sa6);
    } else {
        sa.sin_family = AF_INET;
        sa.sin_addr = to_in(dst);
    }
    ssize_t n = ::sendto(send_fd_, message.data(), message.size(), 0, to, len);
    if (n != static_cast<ssize_t>(message.size())) {
        error = sys_error(("sendto(" + dst.text() + ")").c_str());
        return false;
    }
    return true;
}

ssize_t VrrpSocket::receive(std::span<uint8_t> buf) {
    if (!v6_) {
        ssize_t n = ::recv(recv_fd_, buf.data(), buf.size(), 0);
        return n < 0 ? 0 : n;
    }
    if (buf.size() <= kIp6HeaderSize) {
        return 0;
    }
    // Read the message after room for the IPv6 header, then write the header decode() reads
    // (RFC 8200 §3): version 6, payload length, Next Header 112, Hop Limit, source, dest.
    sockaddr_in6 from{};
    alignas(cmsghdr) char control[256];
    iovec iov{buf.data() + kIp6HeaderSize, buf.size() - kIp6HeaderSize};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof(from);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n = ::recvmsg(recv_fd_, &msg, 0);
    if (n < 0 || n > 0xFFFF) {
        return 0;
    }
    int hops = 0;
    in6_addr dst{};
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT) {
            memcpy(&hops, CMSG_DATA(c), sizeof(hops));
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            in6_pktinfo pi;
            memcpy(&pi, CMSG_DATA(c), sizeof(pi));
            dst = pi.ipi6_addr;
        }
    }
    uint8_t* h = buf.data();
    memset(h, 0, kIp6HeaderSize);
    h[0] = 0x60;
    h[4] = static_cast<uint8_t>(n >> 8);
    h[5] = static_cast<uint8_t>(n);
    h[6] = kIpProtoVrrp;
    h[7] = static_cast<uint8_t>(hops);
    memcpy(h + 8, &from.sin6_addr, 16);
    memcpy(h + 24, &dst, 16);
    return static_cast<ssize_t>(kIp6HeaderSize) + n;
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

bool Netlink::request(uint16_t type, uint16_t flags, unsigned ifindex, IpAddr addr, uint8_t prefix,
                      bool dad, std::string& error) {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | NLM_F_ACK | flags);
    nlh->nlmsg_seq = ++seq_;
    auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
    ifa->ifa_family = addr.is_v6() ? AF_INET6 : AF_INET;
    ifa->ifa_prefixlen = prefix;
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    ifa->ifa_index = ifindex;
    auto len = static_cast<uint16_t>(addr.size());
    mnl_attr_put(nlh, IFA_LOCAL, len, addr.bytes.data());
    if (type == RTM_NEWADDR) {
        mnl_attr_put(nlh, IFA_ADDRESS, len, addr.bytes.data());
        if (addr.is_v6() && !dad) {
            // As keepalived: a virtual address is usable at once, not tentative for the
            // duplicate address detection's second (the other router just gave it up).
            ifa->ifa_flags = IFA_F_NODAD;
        }
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

bool Netlink::add_address(unsigned ifindex, IpAddr addr, uint8_t prefix, std::string& error,
                          bool dad) {
    if (request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifindex, addr, prefix, dad, error)) {
        return true;
    }
    return errno == EEXIST;
}

bool Netlink::del_address(unsigned ifindex, IpAddr addr, uint8_t prefix, std::string& error) {
    if (request(RTM_DELADDR, 0, ifindex, addr, addr.is_v6() ? prefix : 0, false, error)) {
        return true;
    }
    return errno == EADDRNOTAVAIL || errno == ENODEV;
}

// ---- LinkMonitor ----

bool LinkMonitor::open(std::string& error) {
    nl_ = open_rtnetlink(SOCK_CLOEXEC | SOCK_NONBLOCK, RTMGRP_LINK | RTMGRP_IPV6_IFADDR,
                         "rtnetlink link monitor", error);
    return nl_ != nullptr;
}

int LinkMonitor::fd() const {
    return mnl_socket_get_fd(nl_.get());
}

namespace {

struct LinkCb {
    const std::function<void(const std::string&, bool)>* changed;
    bool addresses = false;
};

int link_attr(const nlattr* attr, void* data) {
    if (mnl_attr_get_type(attr) == IFLA_IFNAME && mnl_attr_validate(attr, MNL_TYPE_STRING) >= 0) {
        *static_cast<const char**>(data) = mnl_attr_get_str(attr);
    }
    return MNL_CB_OK;
}

int link_msg(const nlmsghdr* nlh, void* data) {
    if (nlh->nlmsg_type == RTM_NEWADDR || nlh->nlmsg_type == RTM_DELADDR) {
        static_cast<LinkCb*>(data)->addresses = true;
        return MNL_CB_OK;
    }
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

void LinkMonitor::read(const std::function<void(const std::string&, bool)>& changed,
                       const std::function<void()>& addresses) {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    LinkCb cb{&changed};
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl_.get(), buf.data(), buf.size());
        if (n <= 0) {
            break;
        }
        mnl_cb_run(buf.data(), static_cast<size_t>(n), 0, 0, link_msg, &cb);
    }
    if (cb.addresses && addresses) {
        addresses();
    }
}

// ---- gratuitous ARP ----

bool send_gratuitous_arp(unsigned ifindex, const std::array<uint8_t, 6>& mac, IpAddr addr,
                         std::string& error) {
    int fd = ::socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP));
    if (fd < 0) {
        error = sys_error("socket(AF_PACKET)");
        return false;
    }
    // RFC 826 ARP request: hardware Ethernet, protocol IPv4, sender = target = the address.
    uint8_t p[28] = {0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01};
    uint32_t be = htonl(addr.v4_value());
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

// ---- unsolicited neighbour advertisement ----

namespace {

/// Whether `ifindex` forwards IPv6 (net.ipv6.conf.IF.forwarding): a router, for the R flag.
bool ipv6_forwarding(unsigned ifindex) {
    char name[IF_NAMESIZE];
    if (if_indextoname(ifindex, name) == nullptr) {
        return false;
    }
    std::string path = std::string("/proc/sys/net/ipv6/conf/") + name + "/forwarding";
    FILE* f = fopen(path.c_str(), "re");
    if (f == nullptr) {
        return false;
    }
    int on = 0;
    bool ok = fscanf(f, "%d", &on) == 1;
    fclose(f);
    return ok && on != 0;
}

}  // namespace

bool send_unsolicited_na(unsigned ifindex, const std::array<uint8_t, 6>& mac, IpAddr addr,
                         std::string& error) {
    // The kernel fills in the ICMPv6 checksum of a raw ICMPv6 socket (RFC 3542 §3.1) and picks
    // the interface's link-local address as the source of a link-scope destination.
    int fd = ::socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
    if (fd < 0) {
        error = sys_error("socket(AF_INET6, SOCK_RAW, ICMPv6)");
        return false;
    }
    // RFC 4861 §7.1.2: a neighbour discards an NA whose hop limit is not 255.
    int hops = 255;
    int idx = static_cast<int>(ifindex);
    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof(hops));
    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx, sizeof(idx));
    // RFC 4861 §4.4: type 136, code 0, checksum, flags (R S O + 29 reserved bits), target,
    // then option 2 (target link-layer address, length 1 = 8 octets).
    uint8_t p[32] = {ND_NEIGHBOR_ADVERT, 0, 0, 0};
    p[4] = 0x20;  // O (Override): replace the cached link-layer address; S=0: unsolicited
    // R (Router), which RFC 5798 §6.4.1 asks of a virtual router, only when the interface
    // forwards IPv6, as keepalived: a neighbour takes a node that says R for a router, and
    // a service address on a host is not one.
    if (ipv6_forwarding(ifindex)) {
        p[4] |= 0x80;
    }
    memcpy(p + 8, addr.bytes.data(), 16);
    p[24] = ND_OPT_TARGET_LINKADDR;
    p[25] = 1;
    memcpy(p + 26, mac.data(), 6);
    // RFC 4861 §7.2.6: to the all-nodes multicast address.
    IpAddr all_nodes = IpAddr::from_v6({0xFF, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
    sockaddr_in6 to = sockaddr6(all_nodes, ifindex);
    bool ok = ::sendto(fd, p, sizeof(p), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) ==
              static_cast<ssize_t>(sizeof(p));
    if (!ok) {
        error = sys_error("sendto(unsolicited neighbour advertisement)");
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

std::optional<IpAddr> KernelIo::primary_address(const std::string& name, int family,
                                                const std::vector<IpAddr>& skip) {
    return vrrp::primary_address(name, family, skip);
}

std::optional<std::array<uint8_t, 6>> KernelIo::hw_address(const std::string& name) {
    return vrrp::hw_address(name);
}

bool KernelIo::send_gratuitous_arp(unsigned ifindex, const std::array<uint8_t, 6>& mac, IpAddr addr,
                                   std::string& error) {
    return vrrp::send_gratuitous_arp(ifindex, mac, addr, error);
}

bool KernelIo::send_unsolicited_na(unsigned ifindex, const std::array<uint8_t, 6>& mac, IpAddr addr,
                                   std::string& error) {
    return vrrp::send_unsolicited_na(ifindex, mac, addr, error);
}

bool KernelIo::add_address(unsigned ifindex, IpAddr addr, uint8_t prefix, bool dad,
                           std::string& error) {
    return netlink_.add_address(ifindex, addr, prefix, error, dad);
}

bool KernelIo::del_address(unsigned ifindex, IpAddr addr, uint8_t prefix, std::string& error) {
    return netlink_.del_address(ifindex, addr, prefix, error);
}

std::unique_ptr<AdvertSocket> KernelIo::open_socket(const std::string& ifname, unsigned ifindex,
                                                    IpAddr src, bool multicast,
                                                    std::string& error) {
    auto socket = std::make_unique<VrrpSocket>();
    if (!socket->open(ifname, ifindex, src, multicast, error)) {
        return nullptr;
    }
    return socket;
}

}  // namespace vrrp
