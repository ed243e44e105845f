#pragma once

// The vrrp helper's contact with the system: raw IP sockets for protocol 112 (multicast
// 224.0.0.18 or ff02::12 on an interface, or unicast peers), rtnetlink through libmnl (virtual
// IPs added and removed, link state changes), gratuitous ARP through AF_PACKET, unsolicited
// neighbour advertisements through an ICMPv6 socket, interface lookups.
// Linux only. Every call that fails returns false / nullopt with `error` set; nothing throws.

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "modules/vrrp/vrrp_conf.h"

struct mnl_socket;

namespace vrrp {

/// Interface index of `name`, 0 when there is none.
unsigned if_index(const std::string& name);
/// IFF_UP and IFF_RUNNING (carrier) both set.
bool link_is_up(const std::string& name);
/// The address adverts of family `family` (4 or 6) are sent from: IPv4, the first address of
/// `name` that is not in `skip` (the virtual IPs; RFC 5798 §5.1.1.1); IPv6, its link-local
/// address (RFC 5798 §5.1.2.1) not in `skip`, once duplicate address detection is done with
/// it (a tentative address cannot be bound).
std::optional<IpAddr> primary_address(const std::string& name, int family,
                                      const std::vector<IpAddr>& skip);
/// The link-layer address of `name` (Ethernet), for gratuitous ARP.
std::optional<std::array<uint8_t, 6>> hw_address(const std::string& name);

/// One instance's advertisement socket as the instance uses it: VrrpSocket, or a fake in the
/// unit tests.
class AdvertSocket {
  public:
    virtual ~AdvertSocket() = default;
    /// Sends one VRRP message (no IP header) to `dst` (of the socket's family).
    virtual bool send(std::span<const uint8_t> message, IpAddr dst, std::string& error) = 0;
    /// Reads one datagram (IP header included; IPv6: rebuilt from the ancillary data, without
    /// extension headers) into `buf`; 0 when nothing is waiting.
    virtual ssize_t receive(std::span<uint8_t> buf) = 0;
    /// Readable when a datagram waits (watched by the helper's loop).
    virtual int recv_fd() const = 0;
};

/// The raw sockets of one instance: one to receive (bound to the interface, joined to the
/// group), one to send (source address bound, TTL / hop limit 255, multicast loop off). The
/// family is `src`'s.
class VrrpSocket final : public AdvertSocket {
  public:
    VrrpSocket() = default;
    ~VrrpSocket() override;
    VrrpSocket(const VrrpSocket&) = delete;
    VrrpSocket& operator=(const VrrpSocket&) = delete;

    /// `multicast`: join 224.0.0.18 (IPv6: ff02::12) on the interface; else unicast only.
    bool open(const std::string& ifname, unsigned ifindex, IpAddr src, bool multicast,
              std::string& error);
    bool send(std::span<const uint8_t> message, IpAddr dst, std::string& error) override;
    ssize_t receive(std::span<uint8_t> buf) override;
    int recv_fd() const override { return recv_fd_; }

  private:
    bool open6(const std::string& ifname, unsigned ifindex, IpAddr src, bool multicast,
               std::string& error);
    int recv_fd_ = -1;
    int send_fd_ = -1;
    bool v6_ = false;
    unsigned ifindex_ = 0;
};

/// Closes a libmnl socket (the deleter of MnlSocket).
struct MnlClose {
    void operator()(mnl_socket* nl) const;
};
/// An rtnetlink socket (libmnl), closed with its owner.
using MnlSocket = std::unique_ptr<mnl_socket, MnlClose>;

/// An rtnetlink socket for address changes (requests wait for the kernel's answer).
class Netlink {
  public:
    bool open(std::string& error);
    /// Adds `addr/prefix` to interface `ifindex`; an address already there is success. IPv6:
    /// with IFA_F_NODAD (usable at once) unless `dad`.
    bool add_address(unsigned ifindex, IpAddr addr, uint8_t prefix, std::string& error,
                     bool dad = false);
    /// Removes `addr` (any prefix) from `ifindex`; an address not there is success.
    /// IPv4: any prefix; IPv6: the kernel matches `prefix` too (inet6_addr_del).
    bool del_address(unsigned ifindex, IpAddr addr, uint8_t prefix, std::string& error);

  private:
    bool request(uint16_t type, uint16_t flags, unsigned ifindex, IpAddr addr, uint8_t prefix,
                 bool dad, std::string& error);
    MnlSocket nl_;
    uint32_t seq_ = 0;
    uint32_t portid_ = 0;
};

/// Link up/down notifications (RTMGRP_LINK), and IPv6 address changes (RTMGRP_IPV6_IFADDR:
/// a link-local address leaving the tentative state lets an IPv6 instance start).
class LinkMonitor {
  public:
    bool open(std::string& error);
    int fd() const;
    /// Reads what is waiting; calls `changed(ifname, up)` for every link message, then
    /// `addresses()` once if any IPv6 address message came (when given).
    void read(const std::function<void(const std::string& ifname, bool up)>& changed,
              const std::function<void()>& addresses = {});

  private:
    MnlSocket nl_;
};

/// Sends one gratuitous ARP request for `addr` out of `ifindex` (RFC 5798 §6.4.2: "broadcast
/// a gratuitous ARP request containing the virtual router MAC address for each IP address").
/// halo does not use the virtual MAC (as keepalived by default): the interface's own address.
bool send_gratuitous_arp(unsigned ifindex, const std::array<uint8_t, 6>& mac, IpAddr addr,
                         std::string& error);

/// Sends one unsolicited neighbour advertisement for the IPv6 `addr` out of `ifindex` to
/// all-nodes ff02::1, hop limit 255, Override flag set (Router flag too when the interface
/// forwards IPv6, as keepalived), with `mac` as the target link-layer address (RFC 5798 §6.4.1:
/// "for each IPv6 address ... send an unsolicited ND Neighbor Advertisement"; RFC 4861
/// §7.2.6). The neighbours that have an entry for `addr` switch to `mac`.
bool send_unsolicited_na(unsigned ifindex, const std::array<uint8_t, 6>& mac, IpAddr addr,
                         std::string& error);

/// What the vrrp helper asks of the system (the functions above, the sockets, the virtual IPs):
/// the kernel in production (KernelIo), a fake in the unit tests. Each call as the function
/// of the same name.
class SystemIo {
  public:
    virtual ~SystemIo() = default;
    virtual unsigned if_index(const std::string& name) = 0;
    virtual bool link_is_up(const std::string& name) = 0;
    virtual std::optional<IpAddr> primary_address(const std::string& name, int family,
                                                  const std::vector<IpAddr>& skip) = 0;
    virtual std::optional<std::array<uint8_t, 6>> hw_address(const std::string& name) = 0;
    virtual bool send_gratuitous_arp(unsigned ifindex, const std::array<uint8_t, 6>& mac,
                                     IpAddr addr, std::string& error) = 0;
    virtual bool send_unsolicited_na(unsigned ifindex, const std::array<uint8_t, 6>& mac,
                                     IpAddr addr, std::string& error) = 0;
    /// As Netlink::add_address / del_address.
    virtual bool add_address(unsigned ifindex, IpAddr addr, uint8_t prefix, bool dad,
                             std::string& error) = 0;
    virtual bool del_address(unsigned ifindex, IpAddr addr, uint8_t prefix, std::string& error) = 0;
    /// An open socket (VrrpSocket::open), nullptr with `error` set.
    virtual std::unique_ptr<AdvertSocket> open_socket(const std::string& ifname, unsigned ifindex,
                                                      IpAddr src, bool multicast,
                                                      std::string& error) = 0;
};

/// The real SystemIo: the functions above, addresses through `netlink` (owned by the caller,
/// opened before the first address change).
class KernelIo final : public SystemIo {
  public:
    explicit KernelIo(Netlink& netlink) : netlink_(netlink) {}
    unsigned if_index(const std::string& name) override;
    bool link_is_up(const std::string& name) override;
    std::optional<IpAddr> primary_address(const std::string& name, int family,
                                          const std::vector<IpAddr>& skip) override;
    std::optional<std::array<uint8_t, 6>> hw_address(const std::string& name) override;
    bool send_gratuitous_arp(unsigned ifindex, const std::array<uint8_t, 6>& mac, IpAddr addr,
                             std::string& error) override;
    bool send_unsolicited_na(unsigned ifindex, const std::array<uint8_t, 6>& mac, IpAddr addr,
                             std::string& error) override;
    bool add_address(unsigned ifindex, IpAddr addr, uint8_t prefix, bool dad,
                     std::string& error) override;
    bool del_address(unsigned ifindex, IpAddr addr, uint8_t prefix, std::string& error) override;
    std::unique_ptr<AdvertSocket> open_socket(const std::string& ifname, unsigned ifindex,
                                              IpAddr src, bool multicast,
                                              std::string& error) override;

  private:
    Netlink& netlink_;
};

}  // namespace vrrp
