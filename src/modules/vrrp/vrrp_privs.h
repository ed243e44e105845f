#pragma once

// The vrrp helper's process setup, done first thing in the helper: real-time scheduling and
// memory locking (vrrp_rt_priority, vrrp_no_swap), then the switch to the `user` of the
// workers keeping only the capabilities VRRP needs.

#include <cstdint>

#include "core/cycle.h"
#include "modules/vrrp/vrrp_conf.h"

namespace vrrp {

/// Capability bits (CapEff in /proc/PID/status) the helper keeps: CAP_NET_RAW (raw VRRP and
/// ARP sockets, SO_BINDTODEVICE) and CAP_NET_ADMIN (adding and removing the VIPs).
uint64_t helper_capabilities(bool switch_users, bool lock_memory);

/// Whether this process may switch users (CAP_SETUID in its effective set: root, or the
/// helper after drop_privileges kept it for scripts).
bool can_switch_user();

/// vrrp_rt_priority and vrrp_no_swap. Failures are logged (the helper runs on without).
void apply_scheduling(const VrrpConf& conf);

/// Started as root: becomes the `user` of the workers (default nobody) keeping only
/// helper_capabilities(); CAP_SETUID/CAP_SETGID too when a script runs as another user, and
/// CAP_IPC_LOCK with vrrp_no_swap. Does nothing when not root or when `user` is root.
/// `master` is the master's pid (the parent-death signal is set again after the switch).
/// False: logged, fatal for the helper.
bool drop_privileges(const core::Cycle& cycle, const VrrpConf& conf, pid_t master);

}  // namespace vrrp
