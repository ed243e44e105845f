#pragma once

#include <memory>
#include <string>

#include "core/conf_context.h"
#include "core/cycle.h"

namespace core {

enum class ProcessRole { kMaster, kWorker, kHelper, kSingle };

/// Who the current process is; passed to init_process hooks and helpers.
struct ProcessInfo {
    ProcessRole role = ProcessRole::kSingle;
    int worker_index = 0;     // 0..N-1 for workers
    std::string helper_name;  // for helpers
};

/// Exit status a child uses for errors that respawning cannot fix (bad user, setuid failed):
/// the master then does not respawn it.
inline constexpr int kFatalChildExit = 2;

/// The master: forks workers and helpers from `cycle`, respawns those that die, and handles
/// HUP (reload), QUIT (graceful), TERM/INT (fast), USR1 (reopen). Returns the exit status.
int run_master(std::unique_ptr<Cycle> cycle, const CycleOptions& options,
               const ModuleRegistry& registry);

/// `master_process off`: serves from this one process.
int run_single(std::unique_ptr<Cycle> cycle);

/// Children start with the master's signals blocked; a child unblocks them once its loop
/// watches them (workers: done by the runtime; helpers: before their run function).
void unblock_signals();

/// Detaches from the terminal (daemon on). Returns false on failure.
bool daemonize();

/// Writes/removes the pid file.
bool write_pid_file(const std::string& path);
void remove_pid_file(const std::string& path);

}  // namespace core
