#pragma once

// The vrrp helper's contact with the system: raw IP sockets for protocol 112 (multicast
// 224.0.0.18 on an interface, or unicast peers), rtnetlink through libmnl (virtual IPs added
// and removed, link state changes), gratuitous ARP through AF_PACKET, interface lookups.
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
/// The first IPv4 address of `name` that is not in `skip` (the virtual IPs): the primary
/// address adverts are sent from (RFC 5798 §5.1.1.1).
std::optional<Ip4> primary_address(const std::string& name, const std::vector<Ip4>& skip);
/// The link-layer address of `name` (Ethernet), for gratuitous ARP.
std::optional<std::array<uint8_t, 6>> hw_address(const std::string& name);

/// One instance's advertisement socket as the instance uses it: VrrpSocket, or a fake in the
/// unit tests.
class AdvertSocket {
  public:
    virtual ~AdvertSocket() = default;
    /// Sends one VRRP message (no IP header) to `dst`.
    virtual bool send(std::span<const uint8_t> message, Ip4 dst, std::string& error) = 0;
    /// Reads one datagram (IP header included) into `buf`; 0 when nothing is waiting.
    virtual ssize_t receive(std::span<uint8_t> buf) = 0;
    /// Readable when a datagram waits (watched by the helper's loop).
    virtual int recv_fd() const = 0;
};

/// The raw sockets of one instance: one to receive (bound to the interface, joined to the
/// group), one to send (source address bound, TTL 255, multicast loop off).
class VrrpSocket final : public AdvertSocket {
  public:
    VrrpSocket() = default;
    ~VrrpSocket() override;
    VrrpSocket(const VrrpSocket&) = delete;
    VrrpSocket& operator=(const VrrpSocket&) = delete;

    /// `multicast`: join 224.0.0.18 on the interface; else unicast only.
    bool open(const std::string& ifname, unsigned ifindex, Ip4 src, bool multicast,
              std::string& error);
    bool send(std::span<const uint8_t> message, Ip4 dst, std::string& error) override;
    ssize_t receive(std::span<uint8_t> buf) override;
    int recv_fd() const override { return recv_fd_; }

  private:
    int recv_fd_ = -1;
    int send_fd_ = -1;
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
    /// Adds `addr/prefix` to interface `ifindex`; an address already there is success.
    bool add_address(unsigned ifindex, Ip4 addr, uint8_t prefix, std::string& error);
    /// Removes `addr` (any prefix) from `ifindex`; an address not there is success.
    bool del_address(unsigned ifindex, Ip4 addr, std::string& error);

  private:
    bool request(uint16_t type, uint16_t flags, unsigned ifindex, Ip4 addr, uint8_t prefix,
                 std::string& error);
    MnlSocket nl_;
    uint32_t seq_ = 0;
    uint32_t portid_ = 0;
};

/// Link up/down notifications (RTMGRP_LINK).
class LinkMonitor {
  public:
    bool open(std::string& error);
    int fd() const;
    /// Reads what is waiting; calls `changed(ifname, up)` for every link message.
    void read(const std::function<void(const std::string& ifname, bool up)>& changed);

  private:
    MnlSocket nl_;
};

/// Sends one gratuitous ARP request for `addr` out of `ifindex` (RFC 5798 §6.4.2: "broadcast
/// a gratuitous ARP request containing the virtual router MAC address for each IP address").
/// halo does not use the virtual MAC (as keepalived by default): the interface's own address.
bool send_gratuitous_arp(unsigned ifindex, const std::array<uint8_t, 6>& mac, Ip4 addr,
                         std::string& error);

/// What the vrrp helper asks of the system (the functions above, the sockets, the virtual IPs):
/// the kernel in production (KernelIo), a fake in the unit tests. Each call as the function
/// of the same name.
class SystemIo {
  public:
    virtual ~SystemIo() = default;
    virtual unsigned if_index(const std::string& name) = 0;
    virtual bool link_is_up(const std::string& name) = 0;
    virtual std::optional<Ip4> primary_address(const std::string& name,
                                               const std::vector<Ip4>& skip) = 0;
    virtual std::optional<std::array<uint8_t, 6>> hw_address(const std::string& name) = 0;
    virtual bool send_gratuitous_arp(unsigned ifindex, const std::array<uint8_t, 6>& mac, Ip4 addr,
                                     std::string& error) = 0;
    /// As Netlink::add_address / del_address.
    virtual bool add_address(unsigned ifindex, Ip4 addr, uint8_t prefix, std::string& error) = 0;
    virtual bool del_address(unsigned ifindex, Ip4 addr, std::string& error) = 0;
    /// An open socket (VrrpSocket::open), nullptr with `error` set.
    virtual std::unique_ptr<AdvertSocket> open_socket(const std::string& ifname, unsigned ifindex,
                                                      Ip4 src, bool multicast,
                                                      std::string& error) = 0;
};

/// The real SystemIo: the functions above, addresses through `netlink` (owned by the caller,
/// opened before the first address change).
class KernelIo final : public SystemIo {
  public:
    explicit KernelIo(Netlink& netlink) : netlink_(netlink) {}
    unsigned if_index(const std::string& name) override;
    bool link_is_up(const std::string& name) override;
    std::optional<Ip4> primary_address(const std::string& name,
                                       const std::vector<Ip4>& skip) override;
    std::optional<std::array<uint8_t, 6>> hw_address(const std::string& name) override;
    bool send_gratuitous_arp(unsigned ifindex, const std::array<uint8_t, 6>& mac, Ip4 addr,
                             std::string& error) override;
    bool add_address(unsigned ifindex, Ip4 addr, uint8_t prefix, std::string& error) override;
    bool del_address(unsigned ifindex, Ip4 addr, std::string& error) override;
    std::unique_ptr<AdvertSocket> open_socket(const std::string& ifname, unsigned ifindex, Ip4 src,
                                              bool multicast, std::string& error) override;

  private:
    Netlink& netlink_;
};

}  // namespace vrrp
