#pragma once

// The anycast module's configuration: a top-level `anycast { }` block.
//
//   anycast {
//       address 10.77.0.200/32;          # one or more service addresses (IPv4, /32)
//       interface anycast0;              # the announcing interface the helper creates
//                                        # (a TUN device, gone with the helper); default
//                                        # anycast0
//       track_upstream app;              # withdrawn while group "app" has no usable server
//       track_workers [timeout=200ms];   # withdrawn while a worker does not run its loop
//       drain_timeout 5s;                # graceful stop: serve this long after withdrawing
//   }
//
// See docs/anycast.md for the routing daemon's side (FRR bgpd, redistribute connected).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/module.h"

namespace core {
class Cycle;
}

namespace anycast {

using Millis = std::chrono::milliseconds;

/// One track_upstream line.
struct TrackedUpstream {
    std::string name;
    std::string where;  // file:line
};

/// The `anycast` block of a cycle (main level; immutable once the cycle is built).
struct AnycastConf : core::ConfBase {
    bool seen = false;
    std::string where;                // the block's file:line
    std::vector<uint32_t> addresses;  // host order, each a /32
    std::vector<std::string> address_text;
    std::string interface = "anycast0";
    std::vector<TrackedUpstream> track_upstreams;
    std::optional<Millis> track_workers;  // the timeout when tracked
    Millis drain_timeout{5000};
    /// Whether the block is there with at least one address (the helper runs).
    bool active() const { return seen && !addresses.empty(); }
};

/// track_workers: each worker stamps its slot every kWorkerBeat; the default timeout.
inline constexpr Millis kWorkerBeat{50};
inline constexpr Millis kDefaultWorkersTimeout{200};
inline constexpr Millis kMinWorkersTimeout{100};
/// How often the helper looks at its trackers (the vrrp helper's kTrackerPoll).
inline constexpr Millis kTrackerPoll{25};
/// A worker that has not beaten since the helper started is given this long to come up.
inline constexpr Millis kWorkerStartGrace{2000};
inline constexpr size_t kMaxAddresses = 16;
inline constexpr size_t kMaxWorkers = 256;

/// The cycle's anycast block; nullptr when the module is not compiled into its registry.
const AnycastConf* anycast_conf(const core::Cycle& cycle);

}  // namespace anycast
