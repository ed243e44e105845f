#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "core/conf_context.h"

namespace core {
class ShmMutex;
}

namespace ev {

/// `events { worker_connections N; accept_mutex on|off; accept_mutex_delay T; multi_accept
/// on|off; use method; }`
struct EventConf : core::ConfBase {
    std::optional<int> worker_connections;                        // 512
    std::optional<bool> accept_mutex;                             // off
    std::optional<std::chrono::milliseconds> accept_mutex_delay;  // 500ms
    std::optional<bool> multi_accept;                             // off
    std::optional<std::string> use;  // event method ("epoll", "poll", "select"); best if unset
    bool seen = false;               // an events block was given
    /// The lock in shared memory when accept_mutex is in use (several workers).
    core::ShmMutex* mutex = nullptr;
};

core::Status merge(const EventConf& parent, EventConf& child);

}  // namespace ev
