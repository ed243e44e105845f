#pragma once

// What the status page shows of the anycast block: read in any process (a worker serving the
// page) from the shared zone the anycast helper writes. Other modules include this header
// and find the reader on the cycle (core::Cycle::attachment); they never link the module.

#include <cstdint>
#include <string>
#include <vector>

#include "core/cycle.h"

namespace anycast {

struct ServiceStatus {
    std::string state;      // "ANNOUNCED", "WITHDRAWN", "INIT" (no helper yet)
    std::string reason;     // why withdrawn: "upstream app", "workers", "stopping", ""
    std::string interface;  // the announcing interface
    std::vector<std::string> addresses;
    uint64_t transitions = 0;
    int64_t last_change_ms = 0;  // Unix ms, 0 = none yet
};

/// The anycast block's state; empty without the block or without the shared zone.
std::vector<ServiceStatus> service_status(const core::Cycle& cycle);

/// Attached by the anycast module to every cycle, `read` = service_status.
struct StatusReader {
    std::vector<ServiceStatus> (*read)(const core::Cycle&) = nullptr;
};

}  // namespace anycast
