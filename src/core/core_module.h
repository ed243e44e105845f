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
    /// `env VAR` / `env VAR=VALUE`, in order: the environment of workers (TZ is always kept).
    std::vector<std::string> env;
    std::optional<int> priority;                   // worker_priority N (0)
    std::optional<Size> rlimit_core;               // worker_rlimit_core size
    std::optional<std::string> working_directory;  // working_directory path
    std::optional<bool> pcre_jit;                  // pcre_jit on|off (on: see docs)
    /// worker_cpu_affinity: one CPU set per worker (the last for the rest), or with `auto`
    /// the CPUs of the one set given (all by default), one per worker in turn.
    std::vector<std::vector<bool>> cpu_affinity;
    bool cpu_affinity_auto = false;

    // Resolved when the cycle is created (as root only).
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
};

Status merge(const CoreConf& parent, CoreConf& child);

/// The arguments of an `error_log` directive at hand (`file|stderr|syslog:... [level]`), as
/// nginx reads them in every context: a file is registered with the cycle (opened with it),
/// a syslog server is resolved now. Errors name the directive's file:line.
Status parse_error_log(ConfContext& cf, LogTarget& out);

/// The CPUs worker `worker` is bound to by worker_cpu_affinity (empty: not bound).
std::vector<int> worker_cpus(const CoreConf& conf, int worker);

/// In a worker or helper process that drops its privileges, before it does: the `env`
/// environment, worker_rlimit_core and, for workers (`worker` >= 0), worker_priority and
/// worker_cpu_affinity (failures are logged, as nginx does, and the process goes on).
bool apply_worker_settings(const CoreConf& conf, int worker);
/// The `env` environment alone (a single process, as nginx's master_process off).
void apply_environment(const CoreConf& conf);
/// After dropping privileges: working_directory. False (logged) when it cannot be entered:
/// the process must not run, as in nginx.
bool enter_working_directory(const CoreConf& conf);

}  // namespace core
