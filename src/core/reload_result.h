#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace core {

/// What the running halo says about its configuration loads, so that `halo -s reload` can
/// tell the operator whether the reload it asked for worked (nginx's `-s reload` only sends
/// SIGHUP and reports success whatever happens).
///
/// The master writes it to reload_result_path(pid file): once at start (generation 0), then
/// after each SIGHUP it handles. The file is replaced atomically (rename), so a reader sees
/// either the old or the new result, never half of one. Removed when halo exits.
struct ReloadResult {
    int64_t pid = 0;          // the process that wrote it (the master, or the single process)
    bool single = false;      // `master_process off`: that process cannot reload
    uint64_t generation = 0;  // 0 at start, +1 for each SIGHUP handled
    /// CLOCK_MONOTONIC (see monotonic_ns()) when the master began handling this SIGHUP (or
    /// started): a signaller that took the time before sending its SIGHUP knows that a result
    /// with a later start read the configuration after its signal.
    int64_t started_ns = 0;
    bool ok = true;
    std::string message;  // why the load failed (empty when ok)
};

/// "<pid file>.reload": where the process whose pid is in `pid_path` keeps its result.
std::string reload_result_path(const std::string& pid_path);

/// The file's text: "key value" lines, the message last (it may contain anything but NUL).
std::string encode_reload_result(const ReloadResult& r);
/// Parses encode_reload_result's text; std::nullopt when a field is missing or malformed.
std::optional<ReloadResult> decode_reload_result(std::string_view text);

/// Writes `r` to `path` through a temporary file and rename(2). False (and `error`) on failure.
bool write_reload_result(const std::string& path, const ReloadResult& r, std::string* error);
/// The result in `path`, std::nullopt when missing or unreadable.
std::optional<ReloadResult> read_reload_result(const std::string& path);

/// CLOCK_MONOTONIC in nanoseconds: one clock for every process of the machine.
int64_t monotonic_ns();

}  // namespace core
