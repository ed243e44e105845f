#pragma once

// The vrrp helper process: runs every vrrp_instance of the cycle (sockets, timers, virtual
// IPs, tracking, notify scripts). Spawned by the master when any instance is configured.

#include "core/cycle.h"
#include "core/process.h"
#include "core/status.h"
#include "modules/vrrp/vrrp_conf.h"

namespace vrrp {

/// From the module's postconfiguration: registers the helper process and the shared zone
/// that carries the instances' state across a reload and to the status page.
core::Status setup_helper(core::Cycle& cycle, VrrpConf& conf);

/// init_process / exit_process of the module: in a worker, the track_workers beat.
core::Status init_worker(core::Cycle& cycle, const core::ProcessInfo& info);
void exit_worker(core::Cycle& cycle);

}  // namespace vrrp
