#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
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

/// One process as the master knows it (the status page's process list).
struct ProcessRecord {
    pid_t pid = -1;
    ProcessRole role = ProcessRole::kWorker;
    int worker_index = 0;           // workers
    std::string helper_name;        // helpers
    int64_t started_ms = 0;         // wall clock (Unix ms) when it was forked
    int64_t started_steady_ms = 0;  // the same on the steady clock (for uptimes)
    uint32_t respawns = 0;          // how often its place was respawned after an abnormal exit
    bool retiring = false;          // told to exit (an old generation after a reload, or stopping)
};

/// What the master publishes to the cycle's process observers (Cycle::add_process_observer)
/// each time it changes. A single process (`master_process off`) publishes itself as `self`
/// with role kSingle and no children.
struct ProcessTable {
    ProcessRecord self;    // the master (role kMaster), or the single process
    uint32_t reloads = 0;  // configurations loaded by reloads since the master started
    std::vector<ProcessRecord> children;
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

/// What the master sends the workers of an old generation after a reload (a real-time signal,
/// SIGRTMIN+1): stop like SIGQUIT, but keep idle keep-alive connections until their next
/// request (see ev::Runtime::quit). Helpers of an old generation get SIGQUIT.
int retire_signal();

/// Children start with the master's signals blocked; a child unblocks them once its loop
/// watches them (workers: done by the runtime; helpers: their run function, itself).
void unblock_signals();

/// Detaches from the terminal (daemon on). Returns false on failure. The calling process
/// returns in the daemon; the original process waits until the daemon calls daemon_ready()
/// (then exits 0) or dies first (then prints an error and exits 1), so that whoever started
/// halo finds the pid file in place when the command returns (systemd's Type=forking).
bool daemonize();
/// Lets the process that daemonize() left waiting exit with success. No-op when not a daemon
/// or already done; call before forking any child.
void daemon_ready();

/// Writes the pid file. remove_pid_file() also removes the reload result next to it.
bool write_pid_file(const std::string& path);
void remove_pid_file(const std::string& path);
/// Writes the ReloadResult of a process that just started (generation 0), next to the pid
/// file: `halo -s reload` waits for results only from a process that writes them. `single`:
/// master_process off. False (logged) on failure.
bool write_start_result(const std::string& pid_path, bool single);

}  // namespace core
