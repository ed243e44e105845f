#pragma once

// The anycast helper process: owns the announcing interface (anycast_net.h), puts the service
// addresses on it while the node is healthy and takes them off when a tracker fails, so that
// the local routing daemon announces or withdraws the route. Spawned by the master when the
// `anycast` block has an address; stopped before the workers (withdraw, drain, then stop).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/cycle.h"
#include "core/process.h"
#include "core/status.h"
#include "modules/anycast/anycast_conf.h"
#include "modules/anycast/anycast_status.h"

namespace anycast {

/// The root of the "halo_anycast" shared zone (plain data): the helper's state for the status
/// page and the next helper, the workers' beats.
struct SharedState {
    uint64_t generation;  // grows with every cycle: a helper told to quit knows it was replaced
    int32_t owner;        // pid of the helper that runs the block now
    uint8_t state;        // ServiceState
    char reason[64];      // why withdrawn
    uint64_t transitions;
    int64_t last_change_ms;        // Unix ms
    uint32_t held[kMaxAddresses];  // the addresses the last helper kept local (host order)
    uint32_t held_count;
    struct {
        int64_t beat_ms;  // steady-clock ms of the worker's last loop turn
        int32_t pid;
    } workers[kMaxWorkers];
};

/// What the helper last did with the addresses (SharedState::state).
enum class ServiceState : uint8_t { kInit = 0, kAnnounced = 1, kWithdrawn = 2 };

/// What the trackers say: "" = healthy, else the first failing tracker ("upstream app",
/// "workers"). `upstream_ok(name)` and `oldest_beat_age` are the observations.
std::string verdict(const AnycastConf& conf, const std::vector<std::string>& failed_upstreams,
                    std::optional<Millis> oldest_beat_age);

/// From the module's postconfiguration: the shared zone and the helper process.
core::Status setup_helper(core::Cycle& cycle, const AnycastConf& conf);

/// init_process / exit_process of the module: in a worker, the track_workers beat.
core::Status init_worker(core::Cycle& cycle, const core::ProcessInfo& info);
void exit_worker(core::Cycle& cycle);

}  // namespace anycast
