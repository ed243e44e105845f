#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "core/shm.h"

namespace tls {

/// TLS sessions kept in a shared zone (`ssl_session_cache shared:name:size`), so that a client
/// resumes its session on whichever worker it reaches. Keyed by session id, the value is the
/// session's DER form. Entries expire at the time given when stored; the oldest are dropped
/// first when the zone is full, and a few expired ones on every store. Every call takes the
/// zone's mutex, so any process may use it. Knows nothing of OpenSSL (testable alone).
class SessionCache {
  public:
    /// RFC 8446 §4.1.2 / RFC 5246 §7.4.1.2: a session id is at most 32 bytes.
    static constexpr size_t kMaxIdLength = 32;

    /// Lays the cache out in a new zone's pool (master, before forking); false when the zone
    /// is too small to hold its table.
    static bool format(core::ShmPool& pool);
    /// The cache of a formatted pool.
    explicit SessionCache(core::ShmPool& pool) : pool_(pool) {}

    /// Stores (or replaces) session `id` until `expire` (seconds, same clock as `now`).
    /// False when it cannot be stored (bad id, or larger than the zone can hold).
    bool store(std::span<const uint8_t> id, std::span<const uint8_t> der, int64_t expire,
               int64_t now);
    /// A copy of the DER form of `id` when present and not expired at `now` (an expired entry
    /// is removed).
    std::optional<std::string> lookup(std::span<const uint8_t> id, int64_t now);
    /// Removes `id` when present.
    void remove(std::span<const uint8_t> id);
    /// Number of sessions stored.
    size_t size() const;

  private:
    core::ShmPool& pool_;
};

}  // namespace tls
