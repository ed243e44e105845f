#pragma once

// The status module's side of the stream block: counters per listen address of every stream
// server (sessions started, open, ended by status class, bytes), counted by a post_accept and
// a log handler of the stream phases, and their view for the status page.
//
// The stream core is a module that a build may leave out (--without-stream_module): this code
// reads it only through its header (its conf types, inline accessors and data members) and
// calls none of its functions, so the status module links without it; the stream block is
// found by its conf type when the cycle's module table has the stream module.

#include <string>
#include <vector>

#include "core/conf_context.h"
#include "core/cycle.h"
#include "modules/status/status.h"
#include "modules/status/status_zone.h"

namespace mod::status {

/// One listen address of a stream server and its counters in the zone.
struct StreamListenCounters {
    const void* listen = nullptr;  // the stream::Port's Listen (identity only)
    StreamCounters* counters = nullptr;
};

/// Per stream server (ConfLevel::kStreamSrv): its listen addresses' counters, set when the
/// status zone is made. Not inherited.
struct StatusStreamSrvConf : core::ConfBase {
    std::vector<StreamListenCounters> listens;
};

/// From the status module's postconfiguration, when it counts (a status location exists):
/// registers the stream handlers that count sessions; nothing without a stream block.
void install_stream_counting(core::Cycle& cycle);

/// In the master, once the zone exists: counters for every listen address of the stream
/// block (known across reloads by protocol and address).
void init_stream_counters(core::Cycle& cycle, StatusZone& zone, uint64_t generation);

/// The stream servers with their counters (zeros when `counted` is false); empty without a
/// stream block.
std::vector<StreamServerView> stream_servers(core::Cycle& cycle);

}  // namespace mod::status
