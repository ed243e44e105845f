#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/conf_context.h"
#include "core/log.h"

namespace core {

/// Main-context directives of the core module (nginx's ngx_core_module).
struct CoreConf : ConfBase {
    std::optional<bool> daemon;            // daemon on|off (on)
    std::optional<bool> master_process;    // master_process on|off (on)
    std::optional<int> worker_processes;   // worker_processes N|auto (1)
    std::optional<std::string> pid;        // pid path (logs/halo.pid), absolute after merge
    std::optional<int64_t> rlimit_nofile;  // worker_rlimit_nofile N
    std::optional<std::chrono::milliseconds> shutdown_timeout;  // worker_shutdown_timeout
    std::optional<std::string> user;                            // user name [group] (nobody)
    std::optional<std::string> group;
    std::vector<LogTarget> error_logs;  // error_log file [level]
    std::string first_error_log_where;

    // Resolved when the cycle is created (as root only).
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
};

Status merge(const CoreConf& parent, CoreConf& child);

}  // namespace core
