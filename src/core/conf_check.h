#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include "core/cycle.h"
#include "core/status.h"

namespace core {

/// How far a configuration check run apart may go before it is stopped.
struct CheckBounds {
    /// Wall time: the child gets SIGALRM at this time, and SIGKILL a second later.
    std::chrono::milliseconds time{60000};
    /// Address space the child may add to what it had at the fork (RLIMIT_AS). Not applied
    /// under AddressSanitizer, which reserves terabytes of address space.
    uint64_t memory = 2ull * 1024 * 1024 * 1024;
};

/// Runs `check` in a short-lived forked child bounded by `bounds`, so that a configuration
/// that crashes the parser or makes it run away (in time or memory) cannot touch the calling
/// process: the master before it loads a configuration on SIGHUP, `halo -t` and `halo -s`.
///
/// The child (process name `halo: check`) reports the verdict through a pipe and exits
/// without running destructors of what it inherited. The result is the check's own Status
/// when the child could report one; otherwise an error such as `the configuration check
/// crashed (signal 11: Segmentation fault)`, `the configuration check ran out of memory (more
/// than 2g added)` or `the configuration check did not finish within 60s`. The caller waits
/// synchronously (at most `bounds.time` + 1 s). The check runs with the current error log
/// replaced by a silent one: the caller logs the result.
/// Call from a single-threaded process.
Status run_isolated_check(const std::function<Status()>& check, const CheckBounds& bounds = {});

/// Loads the configuration `options` names as `halo -t` does (Cycle::create with test_only:
/// no sockets, no shared memory), in a child bounded by `bounds` (run_isolated_check): ok
/// when it loads, else its error or how the check died.
Status check_config_apart(const CycleOptions& options, const ModuleRegistry& registry,
                          const CheckBounds& bounds = {});

}  // namespace core
