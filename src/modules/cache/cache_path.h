#pragma once

// `proxy_cache_path` (and fastcgi_cache_path, ...): a cache directory and its keys zone, the
// per-cycle registry of them, the cache loader and manager helper processes, and the
// $upstream_cache_status variable. Shared by every module with a cache (the prefix of its
// directives names it in messages).

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/conf_context.h"
#include "http/http.h"
#include "modules/cache/cache_file.h"
#include "modules/cache/cache_zone.h"

namespace mod::cache {

/// One `*_cache_path`.
struct CachePath {
    std::string directive;  // "proxy_cache_path"
    std::string name;       // keys_zone name
    std::string path;       // absolute
    Levels levels;          // empty: files right in `path`
    uint64_t zone_size = 0;
    int64_t inactive_s = 600;   // inactive=10m
    uint64_t max_size = 0;      // 0: no bound
    uint64_t min_free = 0;      // 0: none
    bool use_temp_path = true;  // on: the module's *_temp_path, else files go to `path`
    std::string where;          // file:line
    Zone zone;                  // attached by the shm zone's init

    /// The absolute path of `md5`'s file.
    std::string file_path(const Md5& md5) const;
    /// Removes `md5`'s file (a purge or the manager); true when one was there.
    bool unlink_file(const Md5& md5) const;
    /// Whether the file system has less than min_free available.
    bool short_of_space() const;
};

/// The cache paths of a cycle (a cycle attachment).
struct Registry {
    std::vector<std::unique_ptr<CachePath>> paths;
    bool installed = false;
};

/// Parses `*_cache_path path [levels=] keys_zone=name:size [inactive=] [max_size=] [min_free=]
/// [use_temp_path=]` (other parameters refused by name) and declares its zone.
core::Status add_cache_path(core::ConfContext& cf);
/// The path whose keys zone is `name` in `cycle`; nullptr when none.
CachePath* find_path(core::Cycle& cycle, std::string_view name);

/// For postconfiguration of a module using caches: creates the directories, adds the cache
/// loader and manager helpers and $upstream_cache_status (once per cycle, whoever calls).
core::Status install(core::Cycle& cycle);

/// What $upstream_cache_status shows for a request (kept across internal redirects).
struct StatusCtx : http::RequestCtx {
    std::string status;  // MISS BYPASS EXPIRED STALE UPDATING REVALIDATED HIT
    bool survives_redirect() const override { return true; }
};
void set_status(http::Request& r, std::string_view status);

/// `master_process off`: no helper runs, so the single process loads the caches at start and
/// runs the manager's pass every second on its own loop. For init_process / exit_process of a
/// module with a cache (idempotent: once per cycle whoever calls).
core::Status init_process(core::Cycle& cycle, const core::ProcessInfo& info);
void exit_process(core::Cycle& cycle);

/// The loader's work for one path: every file under it known to the zone (used by the helper
/// and by `master_process off`). Returns the number of files loaded.
size_t load_path(CachePath& p);
/// The manager's one pass over a path: inactive entries, max_size, min_free.
void manage_path(CachePath& p, int64_t now);

}  // namespace mod::cache
