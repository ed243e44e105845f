#pragma once

// What the status page shows of each vrrp_instance: read in any process (a worker serving
// the page) from the shared slots the vrrp helper writes, joined with the cycle's config.
// This header is the vrrp module's whole interface to other modules; they include it and find
// the reader on the cycle, never link the module's code.

#include <cstdint>
#include <string>
#include <vector>

#include "core/cycle.h"

namespace vrrp {

struct InstanceStatus {
    std::string name;
    std::string state;  // "INIT", "BACKUP", "MASTER", "FAULT"
    std::string interface;
    std::string sync_group;  // its vrrp_sync_group, "" = none
    int vrid = 0;
    int version = 3;
    int priority = 0;       // effective: after tracking
    int base_priority = 0;  // configured
    std::string master;     // the master last heard (or this node), "" = unknown
    uint64_t transitions = 0;
    int64_t last_change_ms = 0;          // Unix ms; 0 = none yet
    std::vector<std::string> addresses;  // configured, "10.77.0.100/24"
    bool addresses_up = false;           // on the links now (this node is master)
    /// The tracker that last changed the priority or the fault ("track_upstream app failed",
    /// "track_interface eth1 recovered"); "" = none since the instance started.
    std::string tracker;
    std::vector<std::string> failing;  // the trackers failing now
};

/// The instances of `cycle`'s vrrp block in config order; an instance no helper runs (yet)
/// is INIT. Empty without a vrrp block or without the shared zone (`-t`, unit tests).
std::vector<InstanceStatus> instance_status(const core::Cycle& cycle);

/// How another module (the status page) reads the instances without linking this module:
/// the vrrp module attaches one to every cycle (core::Cycle::attachment), with `read` set to
/// instance_status; without the vrrp module compiled in, the cycle has none.
struct StatusReader {
    std::vector<InstanceStatus> (*read)(const core::Cycle&) = nullptr;
};

}  // namespace vrrp
