#pragma once

// The core of nginx's limit_req: `limit_req_zone key zone=name:size rate=R` is a shared memory
// zone holding, per key, a leaky bucket: its excess (in thousandths of a request, nginx's
// integer form) and the time it was last updated. A request adds one request (1000) to the
// excess of its key in every zone of its `limit_req`s, the excess drains at the zone's rate;
// above `burst` it is rejected, above `delay` (0 by default, everything with nodelay) it waits
// until the excess over `delay` has drained. A layer: the http_limit_req module parses its
// directives through it and keeps the http side (the key's variables, the phase handler, the
// delay's timer, $limit_req_status).
//
// In the zone: a chained hash table of nodes {key, excess, last, count} and an LRU list of
// them, under the zone's ShmMutex, in every process. A new key first expires up to two
// drained keys idle for 60 s from the LRU's tail; when the zone has no room, the oldest key
// goes by force; when there is still none the request is refused ("could not allocate node",
// as nginx). The zone survives a reload when its name and size are unchanged; a reload that
// changes its key is refused, as nginx refuses it.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/conf_context.h"
#include "core/log.h"
#include "core/shm.h"
#include "core/shm_table.h"
#include "core/status.h"

namespace core {
class Cycle;
}

namespace limit_req {

/// nginx: a key longer than this is not limited (an error line says so).
inline constexpr size_t kMaxKeyLength = 65535;
/// nginx: a zone of less than 8 pages is refused ("is too small").
inline constexpr uint64_t kMinZoneSize = core::kMinTableZoneSize;
/// nginx: a key idle this long whose excess has drained may be expired for a new one.
inline constexpr int64_t kIdleExpireMs = 60000;
/// `nodelay`: no excess is ever delayed (nginx's NGX_MAX_INT_T_VALUE / 1000, in thousandths).
inline constexpr uint64_t kNoDelay = uint64_t{INT64_MAX / 1000} * 1000;
/// The largest rate (requests per second), burst and delay we take: beyond them the integer
/// arithmetic of the bucket would overflow (nginx does not check; no real limit is near).
inline constexpr int64_t kMaxRate = 1000000000;
inline constexpr int64_t kMaxBurst = 1000000000000;

/// nginx's $limit_req_status values; kNone: no key was limited (the variable has no value).
enum class LimitStatus : uint8_t {
    kNone,
    kPassed,
    kDelayed,
    kRejected,
    kDelayedDryRun,
    kRejectedDryRun,
};
/// "PASSED", "DELAYED", "REJECTED", "DELAYED_DRY_RUN", "REJECTED_DRY_RUN" ("" for kNone).
std::string_view status_name(LimitStatus s);

struct Node;

/// A zone's counters, readable by any process (the status page). A request is counted once
/// per zone that saw its key: rejected (or delayed) in the zone that decided it, passed in the
/// others it went through.
struct ZoneStats {
    uint64_t passed = 0;
    uint64_t delayed = 0;
    uint64_t rejected = 0;  // over burst, or the zone full
    uint64_t delayed_dry_run = 0;
    uint64_t rejected_dry_run = 0;
    uint64_t keys = 0;  // keys (buckets) held now
};

/// The part of a zone in shared memory (its pool's root object).
struct Shared : core::ShmTableHead<Node> {
    Node* lru_head = nullptr;  // the most recently used key
    Node* lru_tail = nullptr;  // the least recently used: expired first
    std::atomic<uint64_t> passed{0};
    std::atomic<uint64_t> delayed{0};
    std::atomic<uint64_t> rejected{0};
    std::atomic<uint64_t> delayed_dry_run{0};
    std::atomic<uint64_t> rejected_dry_run{0};
};

/// A key's bucket as it stands (tests, diagnostics).
struct BucketView {
    int64_t excess = 0;  // thousandths of a request
    int64_t last = 0;    // steady ms of the last update (0: not yet accounted)
    uint32_t count = 0;  // requests between their lookup and their accounting
};

/// One `limit_req_zone` of a cycle (its process-local handle; the buckets are in shared
/// memory). A module may derive from it to keep its key's compiled form. Owned by the cycle's
/// Registry; usable in every process once the cycle's zones are initialized.
class Zone : public core::ShmTable<Node, Shared> {
  public:
    /// `rate`: in thousandths of a request per second (10r/s is 10000, 1r/m is 16).
    Zone(std::string name, uint64_t size, std::string key_text, uint64_t rate, std::string where);
    virtual ~Zone();

    uint64_t rate() const { return rate_; }

    /// The init hook of its ShmZone (in the master, before the workers exist; also usable by
    /// tests on a segment of their own): formats the table, or takes the previous cycle's when
    /// `reused`. Fails when the zone is too small or a reload changed the key.
    core::Status attach(core::ShmZone& shm, bool reused);

    /// What lookup() found.
    enum class Lookup : uint8_t {
        kOk,        // accounted (the last limit of a request): within burst
        kAgain,     // within burst, not accounted yet: `held` is counted until account()
        kBusy,      // over burst: the request is rejected
        kNoMemory,  // a new key and no room for it (nginx's "could not allocate node")
    };
    /// nginx's lookup of `key` at `now` (steady ms): `excess` is the key's excess with this
    /// request added. `account` (the request's last limit) stores it; otherwise the node is
    /// held (kept from expiry) until account() or unhold().
    Lookup lookup(std::string_view key, uint64_t burst, bool account, int64_t now, uint64_t& excess,
                  Node*& held);
    /// Stores the request in a node lookup() held, drops the hold; returns the new excess.
    uint64_t account(Node* held, int64_t now);
    /// Drops a hold without accounting (a later limit rejected the request).
    void unhold(Node* held);

    /// Counts a request's outcome in this zone's statistics.
    void count(LimitStatus s);
    ZoneStats stats() const {
        ZoneStats s;
        if (shared_ != nullptr) {
            s.passed = shared_->passed.load(std::memory_order_relaxed);
            s.delayed = shared_->delayed.load(std::memory_order_relaxed);
            s.rejected = shared_->rejected.load(std::memory_order_relaxed);
            s.delayed_dry_run = shared_->delayed_dry_run.load(std::memory_order_relaxed);
            s.rejected_dry_run = shared_->rejected_dry_run.load(std::memory_order_relaxed);
            s.keys = shared_->keys.load(std::memory_order_relaxed);
        }
        return s;
    }
    /// The bucket of `key` now, if the zone holds it (tests, diagnostics).
    std::optional<BucketView> bucket(std::string_view key) const;

  private:
    void lru_unlink(Node* n);
    void lru_push_front(Node* n);
    void remove_locked(Node* n);
    void expire_locked(int n, int64_t now);
    int64_t drained(int64_t ms) const;

    uint64_t rate_;
};

/// One `limit_req zone=name [burst=N] [nodelay | delay=N]` (the zone is resolved after the
/// whole config is read: nginx lets `limit_req` come before its `limit_req_zone`).
struct Limit {
    std::string zone_name;
    uint64_t burst = 0;  // thousandths of a request
    uint64_t delay = 0;  // thousandths; kNoDelay for nodelay
    std::string where;
    Zone* zone = nullptr;
};
/// The limits of one level, shared with the levels that inherit them.
using LimitList = std::vector<Limit>;

/// What check() decided for a request.
struct Decision {
    LimitStatus status = LimitStatus::kNone;  // kNone: no limit had a key
    uint64_t excess = 0;                      // of `by`, for the log line
    const Limit* by = nullptr;                // the limit that rejected or delays most
    uint64_t delay_ms = 0;                    // kDelayed: how long to hold the request
    bool no_memory = false;                   // rejected because `by`'s zone was full
};

/// nginx's limit_req handler for one request at `now` (steady ms): `keys[i]` is the key of
/// `limits[i]` (empty: that limit does not apply). Looks each key up in order until one
/// rejects; the last one accounts at once, the earlier ones when all passed; the delay is the
/// longest any limit asks for. Counts the outcome in the zones' statistics; with `dry_run`
/// it is only counted (kDelayedDryRun, kRejectedDryRun), the caller lets the request through.
Decision check(const LimitList& limits, std::span<const std::string_view> keys, int64_t now,
               bool dry_run);

/// The zones of a cycle (a cycle attachment).
class Registry {
  public:
    const std::vector<std::unique_ptr<Zone>>& zones() const { return zones_; }
    Zone* find(std::string_view name) const;

    /// `limit_req_zone`: registers `zone` (a Zone or a module's kind of it) and its shared
    /// memory under `tag`. Errors as nginx's: the name taken by another zone.
    core::Status add_zone(core::ConfContext& cf, const void* tag, std::unique_ptr<Zone> zone);
    /// `limit_req zone=name [burst=N] [nodelay | delay=N]`: appends to `list` (made when null),
    /// kept for resolve().
    core::Status add_limit(core::ConfContext& cf, std::shared_ptr<LimitList>& list);
    /// From the module's postconfiguration: points every limit at its zone; a zone no
    /// `limit_req_zone` declares fails with nginx's words and the directive's file:line.
    core::Status resolve(core::Cycle& cycle);
    /// Whether any `limit_req` was given (the phase handler is registered only then).
    bool has_limits() const {
        for (const auto& l : lists_) {
            if (!l->empty()) {
                return true;
            }
        }
        return false;
    }

  private:
    std::vector<std::unique_ptr<Zone>> zones_;
    std::vector<std::shared_ptr<LimitList>> lists_;
};

/// The `zone=name:size` and `rate=Nr/s|Nr/m` arguments of `limit_req_zone` (nginx's checks
/// and words; `sync`, nginx Plus's, refused by name). `args`: those after the key.
core::Status parse_zone_args(core::ConfContext& cf, std::span<const std::string> args,
                             std::string& name, uint64_t& size, uint64_t& rate);

/// nginx: a delayed request is logged one level below limit_req_log_level (info stays info).
core::LogLevel delay_log_level(core::LogLevel limit_level);

}  // namespace limit_req
