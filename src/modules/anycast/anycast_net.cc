#include "modules/anycast/anycast_net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace anycast {
namespace {

std::string sys_error(const std::string& what) {
    return what + " failed (" + std::to_string(errno) + ": " + strerror(errno) + ")";
}

}  // namespace

TunDevice::~TunDevice() {
    close();
}

bool TunDevice::open(const std::string& name, std::string& error) {
    if (name.empty() || name.size() >= IFNAMSIZ) {
        error = "invalid interface name \"" + name + "\"";
        return false;
    }
    int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        error = sys_error("open(\"/dev/net/tun\")");
        return false;
    }
    ifreq ifr{};
    // IFF_MULTI_QUEUE: the next helper (a reload) attaches its own queue before this one
    // closes, so the device and its routes never go away on a reload.
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE;
    memcpy(ifr.ifr_name, name.c_str(), name.size());
    if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
        error = sys_error("making the TUN interface \"" + name + "\" (ioctl TUNSETIFF)");
        if (errno == EINVAL || errno == EBUSY) {
            error += ": an interface of another kind has that name";
        }
        ::close(fd);
        return false;
    }
    fd_ = fd;
    name_ = name;
    // No IPv6 on it: no link-local address, no router solicitations queued to a device
    // nobody reads (best effort: a kernel without IPv6 has no such file).
    int v6 =
        ::open(("/proc/sys/net/ipv6/conf/" + name + "/disable_ipv6").c_str(), O_WRONLY | O_CLOEXEC);
    if (v6 >= 0) {
        (void)!write(v6, "1", 1);
        ::close(v6);
    }
    return true;
}

bool TunDevice::set_up(std::string& error) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        error = sys_error("socket()");
        return false;
    }
    ifreq ifr{};
    memcpy(ifr.ifr_name, name_.c_str(), name_.size());
    bool ok = ioctl(s, SIOCGIFFLAGS, &ifr) == 0;
    if (ok && (ifr.ifr_flags & IFF_UP) == 0) {
        ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
        ok = ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
    }
    if (!ok) {
        error = sys_error("setting \"" + name_ + "\" up");
    }
    ::close(s);
    return ok;
}

void TunDevice::close() {
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
}

bool set_local_route(bool add, uint32_t addr, std::string& error) {
    mnl_socket* nl = mnl_socket_open(NETLINK_ROUTE);
    if (nl == nullptr) {
        error = sys_error("rtnetlink socket");
        return false;
    }
    struct Closer {
        mnl_socket* nl;
        ~Closer() { mnl_socket_close(nl); }
    } closer{nl};
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        error = sys_error("rtnetlink bind");
        return false;
    }
    unsigned lo = if_nametoindex("lo");
    if (lo == 0) {
        error = "no interface \"lo\"";
        return false;
    }
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE;
    nlh->nlmsg_flags =
        static_cast<uint16_t>(NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0));
    uint32_t seq = 1;
    nlh->nlmsg_seq = seq;
    auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
    rtm->rtm_family = AF_INET;
    rtm->rtm_dst_len = 32;
    rtm->rtm_table = RT_TABLE_LOCAL;
    rtm->rtm_protocol = kRouteProtocol;
    rtm->rtm_scope = RT_SCOPE_HOST;
    rtm->rtm_type = RTN_LOCAL;
    mnl_attr_put_u32(nlh, RTA_DST, htonl(addr));
    mnl_attr_put_u32(nlh, RTA_OIF, lo);
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
        error = sys_error("rtnetlink send");
        return false;
    }
    uint32_t portid = mnl_socket_get_portid(nl);
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl, buf.data(), buf.size());
        if (n < 0) {
            error = sys_error("rtnetlink receive");
            return false;
        }
        int r = mnl_cb_run(buf.data(), static_cast<size_t>(n), seq, portid, nullptr, nullptr);
        if (r == MNL_CB_ERROR) {
            if ((add && errno == EEXIST) || (!add && errno == ESRCH)) {
                return true;
            }
            error = sys_error(add ? "adding the local route" : "removing the local route");
            return false;
        }
        if (r == MNL_CB_STOP) {
            return true;
        }
    }
}

}  // namespace anycast
