#pragma once

// The shared core of nginx's limit_conn for http and stream: `limit_conn_zone key
// zone=name:size` is a shared memory zone that counts, per key, the requests (http) or
// sessions (stream) holding it in every worker; `limit_conn zone number` refuses one more
// when its key already holds `number`. A layer: the http_limit_conn and stream_limit_conn
// modules parse their directives through it and keep the protocol's side (the key's
// variables, the phase handler, $limit_conn_status).
//
// In the zone: a hash table of nodes {key, count}, under the zone's ShmMutex. A node is made
// by the first holder of a key and freed by the last (nginx's rbtree of the same nodes). The
// zone and its counts survive a reload when its name and size are unchanged; a reload that
// changes its key is refused, as nginx refuses it.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
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

namespace limit_conn {

/// nginx: a key longer than this is not counted (an error line says so).
inline constexpr size_t kMaxKeyLength = 255;
/// nginx: `limit_conn zone number` takes 1..65535.
inline constexpr uint32_t kMaxConn = 65535;
/// nginx: a zone of less than 8 pages is refused ("is too small").
inline constexpr uint64_t kMinZoneSize = core::kMinTableZoneSize;

/// What acquire() decided.
enum class Outcome : uint8_t {
    kPassed,    // counted: the caller holds the node until release()
    kLimited,   // the key holds `limit` already
    kNoMemory,  // a new key, and the zone has no room for its node (refused, as nginx)
};

/// nginx's $limit_conn_status values; kNone: no key was counted (the variable has no value).
enum class LimitStatus : uint8_t { kNone, kPassed, kRejected, kRejectedDryRun };
/// "PASSED", "REJECTED", "REJECTED_DRY_RUN" ("" for kNone).
std::string_view status_name(LimitStatus s);

struct Node;

/// A zone's counters, readable by any process (the status page).
struct ZoneStats {
    uint64_t passed = 0;            // counted holds
    uint64_t rejected = 0;          // refusals (limit reached or zone full)
    uint64_t rejected_dry_run = 0;  // what would have been refused under limit_conn_dry_run
    uint64_t keys = 0;              // keys counted now
};

/// The part of a zone in shared memory (its pool's root object).
struct Shared : core::ShmTableHead<Node> {
    std::atomic<uint64_t> passed{0};
    std::atomic<uint64_t> rejected{0};
    std::atomic<uint64_t> rejected_dry_run{0};
};

/// One `limit_conn_zone` of a cycle (its process-local handle; the counts are in shared
/// memory). A module may derive from it to keep its key's compiled form. Owned by the cycle's
/// Registry; usable in every process once the cycle's zones are initialized.
class Zone : public core::ShmTable<Node, Shared> {
  public:
    Zone(std::string name, uint64_t size, std::string key_text, std::string where);
    virtual ~Zone();

    /// "http" or "stream" (set by the module that declared it).
    std::string_view kind() const { return kind_; }
    void set_kind(std::string_view k) { kind_ = k; }

    /// The init hook of its ShmZone (in the master, before the workers exist; also usable by
    /// tests on a segment of their own): formats the table, or takes the previous cycle's when
    /// `reused`. Fails when the zone is too small or a reload changed the key.
    core::Status attach(core::ShmZone& shm, bool reused);

    /// Counts one more holder of `key` (1..kMaxKeyLength bytes) unless it holds `limit`
    /// already. kPassed sets `node`, to be given back to release(). Counts the outcome in the
    /// zone's statistics (a refusal as rejected_dry_run when `dry_run`).
    Outcome acquire(std::string_view key, uint32_t limit, bool dry_run, Node*& node);
    /// Gives back a hold from acquire(); the last holder frees the key's node.
    void release(Node* node);
    /// The holders of `key` now (tests, diagnostics).
    uint32_t holders(std::string_view key) const;

    ZoneStats stats() const {
        ZoneStats s;
        if (shared_ != nullptr) {
            s.passed = shared_->passed.load(std::memory_order_relaxed);
            s.rejected = shared_->rejected.load(std::memory_order_relaxed);
            s.rejected_dry_run = shared_->rejected_dry_run.load(std::memory_order_relaxed);
            s.keys = shared_->keys.load(std::memory_order_relaxed);
        }
        return s;
    }

  private:
    std::string_view kind_ = "http";
};

/// A count held by a request or session: released when destroyed.
class Hold {
  public:
    Hold(Zone& zone, Node* node) : zone_(&zone), node_(node) {}
    Hold(Hold&& o) noexcept : zone_(o.zone_), node_(o.node_) { o.node_ = nullptr; }
    Hold& operator=(Hold&& o) = delete;
    Hold(const Hold&) = delete;
    ~Hold() {
        if (node_ != nullptr) {
            zone_->release(node_);
        }
    }

  private:
    Zone* zone_;
    Node* node_;
};

/// One `limit_conn zone number` of a level (the zone is resolved after the whole config is
/// read: nginx lets `limit_conn` come before its `limit_conn_zone`).
struct Limit {
    std::string zone_name;
    uint32_t conn = 0;
    std::string where;
    Zone* zone = nullptr;
};
/// The limits of one level, shared with the levels that inherit them.
using LimitList = std::vector<Limit>;

/// The zones of a cycle, by protocol (`tag`: the declaring module's identity; http and stream
/// zones share nginx's one name space of shared memory zones). A cycle attachment.
class Registry {
  public:
    struct Entry {
        const void* tag;
        std::unique_ptr<Zone> zone;
    };
    const std::vector<Entry>& zones() const { return zones_; }
    Zone* find(const void* tag, std::string_view name) const;

    /// `limit_conn_zone`: registers `zone` (a Zone or a module's kind of it, with name, size and
    /// key set) and its shared memory. Errors as nginx's: the name taken by another zone.
    core::Status add_zone(core::ConfContext& cf, const void* tag, std::unique_ptr<Zone> zone);
    /// `limit_conn zone number`: appends to `list` (made when null), kept for resolve().
    core::Status add_limit(core::ConfContext& cf, const void* tag,
                           std::shared_ptr<LimitList>& list);
    /// From the module's postconfiguration: points every limit at its zone; a zone no
    /// `limit_conn_zone` declares fails with nginx's words and the directive's file:line.
    core::Status resolve(const void* tag);
    /// Whether any `limit_conn` of `tag` was given (a module registers its phase handler only
    /// then: a config without limits pays nothing per request).
    bool has_limits(const void* tag) const {
        for (const auto& l : lists_) {
            if (l.first == tag && !l.second->empty()) {
                return true;
            }
        }
        return false;
    }

  private:
    std::vector<Entry> zones_;
    std::vector<std::pair<const void*, std::shared_ptr<LimitList>>> lists_;
};

/// The `zone=name:size` argument of `limit_conn_zone` (nginx's checks and words). `arg` is the
/// whole argument ("invalid parameter" when it does not start with `zone=`).
core::Status parse_zone_arg(core::ConfContext& cf, std::string_view arg, std::string& name,
                            uint64_t& size);

}  // namespace limit_conn
