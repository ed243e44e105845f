#pragma once

// The http_healthcheck module's interface for its tests (other modules see what a check does
// through upstream::Group::health_check()).
//
// `health_check [type=tcp|udp|http|https] [uri=/path] [expect=200-399,...|reply] [body=~regex]
//               [host=name] [send=string] [port=N] [interval=5s] [timeout=..] [jitter=0]
//               [fall=1] [rise=1];`
// in an `upstream { }` block of http or stream (there the default type is tcp). The checks run in
// the healthcheck helper process (spawned and respawned by the master; in the one process of
// `master_process off`), never in workers. Results are published per peer in the group's shared
// state (upstream::PeerState: health_down and upstream::HealthInfo), which every worker's balancer
// reads.

#include <string_view>

#include "core/cycle.h"
#include "modules/healthcheck/healthcheck.h"
#include "upstream/upstream.h"

namespace mod::healthcheck {

/// The `health_check` of upstream group `name` (of the stream block with `stream`: its own
/// name space) in `cycle`, or nullptr (none, or the module is not compiled in).
const CheckSpec* find_check(core::Cycle& cycle, std::string_view name, bool stream = false);

}  // namespace mod::healthcheck
