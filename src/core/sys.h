#pragma once

// Small system-call helpers shared by every process type: one rule each for writing a whole
// buffer, for asking whether a process still exists and for collecting exited children.

#include <sys/types.h>

#include <functional>
#include <string_view>

namespace core {

/// Writes all of `data` to `fd` (blocking file or pipe), again after EINTR and partial
/// writes. False on failure, errno set (0 when write() wrote nothing).
bool write_all(int fd, std::string_view data);

/// Whether process `pid` exists (kill(pid, 0); EPERM: it exists, owned by another user).
/// False for pid <= 0.
bool process_alive(pid_t pid);

/// Collects every child process that has exited, without blocking (waitpid WNOHANG), and calls
/// `exited(pid, status)` for each, `status` as waitpid gives it. For SIGCHLD handlers.
void reap_exited_children(const std::function<void(pid_t pid, int status)>& exited);

}  // namespace core
