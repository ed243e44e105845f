#pragma once

#include <chrono>
#include <optional>

#include "core/conf_context.h"

namespace core {
class ShmMutex;
}

namespace ev {

/// `events { worker_connections N; accept_mutex on|off; accept_mutex_delay T; }`
struct EventConf : core::ConfBase {
    std::optional<int> worker_connections;                        // 512
    std::optional<bool> accept_mutex;                             // off
    std::optional<std::chrono::milliseconds> accept_mutex_delay;  // 500ms
    bool seen = false;                                            // an events block was given
    /// The lock in shared memory when accept_mutex is in use (several workers).
    core::ShmMutex* mutex = nullptr;
};

core::Status merge(const EventConf& parent, EventConf& child);

}  // namespace ev
