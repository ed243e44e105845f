#pragma once

// The keys zone of a cache (`proxy_cache_path ... keys_zone=name:size`): one entry per cached
// key in shared memory, found by the MD5 of the key, kept in least-recently-used order. The
// workers look entries up and mark the ones they fill; the cache loader adds the files found
// on disk at start; the cache manager removes the inactive ones and keeps the size in bounds.
// Entries and counters live in the zone, so they survive a reload that keeps the zone.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/shm.h"

namespace mod::cache {

using Md5 = std::array<uint8_t, 16>;

/// One key's entry (in shared memory; every field under the pool's mutex).
struct ShmEntry {
    Md5 md5{};
    ShmEntry* hash_next = nullptr;
    ShmEntry* lru_prev = nullptr;  // towards the most recently used
    ShmEntry* lru_next = nullptr;
    int64_t valid_until = 0;  // unix seconds: fresh until then (with exists)
    int64_t last_used = 0;    // unix seconds: `inactive` counts from it
    int64_t lock_until = 0;   // unix ms: while `updating`, the holder's claim ends then
    uint64_t disk_size = 0;   // bytes the file takes on disk (blocks)
    uint32_t uses = 0;        // lookups since the entry was made (proxy_cache_min_uses)
    bool exists = false;      // a file is on disk
    bool updating = false;    // a request is filling or refreshing it
};

/// Per zone counters (status page, Prometheus); atomics, no lock needed.
struct ZoneCounters {
    std::atomic<uint64_t> hits{0};
    std::atomic<uint64_t> misses{0};
    std::atomic<uint64_t> expired{0};
    std::atomic<uint64_t> stale{0};
    std::atomic<uint64_t> updating{0};
    std::atomic<uint64_t> revalidated{0};
    std::atomic<uint64_t> bypass{0};
};

/// The zone's root object.
struct ShmIndex {
    static constexpr uint64_t kMagic = 0x48414c4f43414348ull;  // "HALOCACH"
    uint64_t magic = 0;
    uint32_t buckets = 0;
    ShmEntry** table = nullptr;
    ShmEntry* lru_head = nullptr;  // most recently used
    ShmEntry* lru_tail = nullptr;
    uint64_t entries = 0;
    uint64_t size = 0;          // sum of disk_size of the entries with a file
    bool loaded = false;        // the cache loader has run over the files
    uint64_t load_started = 0;  // unix ms the loader began (0: not yet)
    ZoneCounters counters;
};

/// What a lookup saw.
struct Found {
    bool exists = false;  // a file is there (fresh or not)
    int64_t valid_until = 0;
    bool updating = false;  // another request fills or refreshes the entry
    uint32_t uses = 0;
};

/// A zone's counters and size, read at once (the status page).
struct ZoneStats {
    uint64_t hits = 0;
    uint64_t misses = 0;
    uint64_t expired = 0;
    uint64_t stale = 0;
    uint64_t updating = 0;
    uint64_t revalidated = 0;
    uint64_t bypass = 0;
    uint64_t size = 0;
    uint64_t entries = 0;
};

/// The process-side handle of one keys zone; valid once attach() ran (in the master, before
/// the children are forked). Every method is callable from any process of the cycle.
class Zone {
  public:
    /// Formats a fresh zone, or takes the index a previous cycle left in a reused one.
    core::Status attach(core::ShmZone& shm, bool reused);
    /// For unit tests: the zone on `pool`, formatted.
    core::Status attach_pool(core::ShmPool& pool);
    /// Removes the file of an entry the zone had to drop for room (nginx's forced expiry:
    /// the least recently used entry with a file goes when the zone is full). Called after
    /// the zone's lock is released.
    void set_unlink(std::function<void(const Md5&)> f) { unlink_ = std::move(f); }

    /// Finds (or makes) the entry of `md5`, counts a use and touches it (`now` unix seconds).
    /// False when the zone has no room even after dropping unused entries (the request then
    /// goes to the upstream without the cache).
    bool lookup(const Md5& md5, int64_t now, Found& out);
    /// Looks without counting or making anything.
    bool peek(const Md5& md5, Found& out);
    /// Claims the entry for filling or refreshing until `now_ms + age_ms`: false when another
    /// request holds an unexpired claim.
    bool try_claim(const Md5& md5, int64_t now_ms, int64_t age_ms);
    /// Gives a claim up (the response was not stored).
    void release(const Md5& md5);
    /// A file for `md5` was stored (renamed into place): fresh until `valid_until`, `disk_size`
    /// bytes on disk. Ends the claim.
    void stored(const Md5& md5, int64_t valid_until, uint64_t disk_size, int64_t now);
    /// A 304 refreshed the entry: fresh until `valid_until`.
    void refreshed(const Md5& md5, int64_t valid_until);
    /// Drops the entry (the file was removed or is bad); true when it had a file.
    bool remove(const Md5& md5);
    /// The loader: an entry for a file found on disk (kept as it is when already known).
    bool add_loaded(const Md5& md5, int64_t valid_until, uint64_t disk_size, int64_t mtime);

    /// The manager: the entries unused for `inactive_s` (not being filled) are removed from
    /// the zone; `unlink` is called for each that had a file. Returns how many went.
    size_t expire_inactive(int64_t now, int64_t inactive_s,
                           const std::function<void(const Md5&)>& unlink);
    /// The manager: least recently used files removed until the size is at most `max_size`
    /// (0: no bound) and `need_free()` says no more; `unlink` is called for each.
    size_t shrink(uint64_t max_size, const std::function<bool()>& need_free,
                  const std::function<void(const Md5&)>& unlink);

    uint64_t size() const;
    uint64_t entries() const;
    bool loaded() const;
    void set_loaded();
    /// Inline, so that readers (the status module) need only this header.
    ZoneStats stats() const {
        ZoneStats st;
        if (index_ == nullptr) {
            return st;
        }
        const ZoneCounters& c = index_->counters;
        st.hits = c.hits.load(std::memory_order_relaxed);
        st.misses = c.misses.load(std::memory_order_relaxed);
        st.expired = c.expired.load(std::memory_order_relaxed);
        st.stale = c.stale.load(std::memory_order_relaxed);
        st.updating = c.updating.load(std::memory_order_relaxed);
        st.revalidated = c.revalidated.load(std::memory_order_relaxed);
        st.bypass = c.bypass.load(std::memory_order_relaxed);
        core::ShmLockGuard g(pool_->mutex());
        st.size = index_->size;
        st.entries = index_->entries;
        return st;
    }
    ZoneCounters& counters() { return index_->counters; }
    const ZoneCounters& counters() const { return index_->counters; }

  private:
    ShmEntry* find_locked(const Md5& md5) const;
    void unlink_lru(ShmEntry* e);
    void push_front(ShmEntry* e);
    void erase_locked(ShmEntry* e);
    ShmEntry* make_locked(const Md5& md5);

    /// Unlinks the files of entries dropped under the lock (forced expiry).
    void flush_dropped();

    core::ShmPool* pool_ = nullptr;
    ShmIndex* index_ = nullptr;
    std::function<void(const Md5&)> unlink_;
    std::vector<Md5> dropped_;  // files to unlink once the lock is released (this process)
};

}  // namespace mod::cache
