#pragma once

// The anycast helper's contact with the system (Linux only): the announcing interface, a TUN
// device that exists only while a process holds it open (so that a crash of the helper takes
// the announcement down with it), and the local routes that keep the service addresses local
// to the node whether they are announced or not. Every call that fails returns false with
// `error` set; nothing throws.

#include <cstdint>
#include <string>

namespace anycast {

/// A queue of the multi-queue TUN device `name`: made when no process holds it, joined when
/// another helper (the one a reload replaces) still does. Closed with its owner; the kernel
/// deletes the device when the last queue closes.
class TunDevice {
  public:
    TunDevice() = default;
    ~TunDevice();
    TunDevice(const TunDevice&) = delete;
    TunDevice& operator=(const TunDevice&) = delete;

    /// Opens /dev/net/tun (needs root: before the helper drops its privileges).
    bool open(const std::string& name, std::string& error);
    /// Sets the link up (IFF_UP); the routing daemon sees it with its addresses.
    bool set_up(std::string& error);
    void close();
    bool is_open() const { return fd_ >= 0; }
    int fd() const { return fd_; }
    const std::string& name() const { return name_; }

  private:
    int fd_ = -1;
    std::string name_;
};

/// `ip route add|del local ADDR/32 dev lo table local proto halo`: the kernel accepts the
/// service address as its own without an interface address the routing daemon would see.
/// Adding a route already there and removing one not there are success.
bool set_local_route(bool add, uint32_t addr, std::string& error);

/// The RTM protocol number of the local routes (a private value, shown by `ip route`).
inline constexpr uint8_t kRouteProtocol = 199;

}  // namespace anycast
