// The limit_req zone: a chained hash table of leaky buckets in shared memory with an LRU list
// for expiry, under the zone pool's mutex; nginx's decision over a request's limits; the
// directives' shared parsing; the per-cycle registry.
#include "modules/limit_req/limit_req_zone.h"

#include <cstring>

#include "core/cycle.h"
#include "core/log.h"

namespace limit_req {

/// A key's bucket, in the zone (nginx's ngx_http_limit_req_node_t). The key's bytes follow:
/// 48 bytes with them, so that a node of an address key (up to 16 bytes) takes a 64-byte block.
struct Node {
    Node* next;      // hash chain
    Node* lru_prev;  // towards the most recently used
    Node* lru_next;  // towards the least recently used
    int64_t excess;  // thousandths of a request
    int64_t last;    // steady ms of the last update; 0: made by a request not accounted yet
    uint32_t hash;
    // Requests between lookup() and account()/unhold(): at most one per process (a request's
    // limits are checked at once), so 16 bits are plenty.
    uint16_t count;
    uint16_t len;

    char* data() { return reinterpret_cast<char*>(this + 1); }
    const char* data() const { return reinterpret_cast<const char*>(this + 1); }
    std::string_view key() const { return {data(), len}; }
};

static_assert(sizeof(Node) == 48, "a node of a 16-byte key fits a 64-byte block");

namespace {

constexpr uint64_t kMagic = 0x6c696d6974726571ull;  // "limitreq"

}  // namespace

std::string_view status_name(LimitStatus s) {
    switch (s) {
        case LimitStatus::kPassed:
            return "PASSED";
        case LimitStatus::kDelayed:
            return "DELAYED";
        case LimitStatus::kRejected:
            return "REJECTED";
        case LimitStatus::kDelayedDryRun:
            return "DELAYED_DRY_RUN";
        case LimitStatus::kRejectedDryRun:
            return "REJECTED_DRY_RUN";
        case LimitStatus::kNone:
            break;
    }
    return {};
}

core::LogLevel delay_log_level(core::LogLevel limit_level) {
    if (limit_level == core::LogLevel::kInfo) {
        return core::LogLevel::kInfo;
    }
    return static_cast<core::LogLevel>(static_cast<int>(limit_level) + 1);
}

Zone::Zone(std::string name, uint64_t size, std::string key_text, uint64_t rate, std::string where)
    : ShmTable(std::move(name), size, std::move(key_text), std::move(where)), rate_(rate) {}

Zone::~Zone() = default;

core::Status Zone::attach(core::ShmZone& shm, bool reused) {
    return attach_table(shm, reused, kMagic, "limit_req");
}

// ---- the buckets (the caller holds the zone's lock in the *_locked and LRU helpers) ----

void Zone::lru_unlink(Node* n) {
    (n->lru_prev != nullptr ? n->lru_prev->lru_next : shared_->lru_head) = n->lru_next;
    (n->lru_next != nullptr ? n->lru_next->lru_prev : shared_->lru_tail) = n->lru_prev;
    n->lru_prev = n->lru_next = nullptr;
}

void Zone::lru_push_front(Node* n) {
    n->lru_prev = nullptr;
    n->lru_next = shared_->lru_head;
    if (shared_->lru_head != nullptr) {
        shared_->lru_head->lru_prev = n;
    } else {
        shared_->lru_tail = n;
    }
    shared_->lru_head = n;
}

void Zone::remove_locked(Node* n) {
    unlink_locked(n);
    lru_unlink(n);
    pool_->free_locked(n);
}

int64_t Zone::drained(int64_t ms) const {
    // rate * ms / 1000 without overflow (a key idle for weeks at a high rate).
    __int128 d = static_cast<__int128>(rate_) * ms / 1000;
    return d > INT64_MAX / 4 ? INT64_MAX / 4 : static_cast<int64_t>(d);
}

namespace {

/// nginx's elapsed time of a bucket: a clock that went back less than a minute counts 0 ms,
/// more than that 1 ms. A node never accounted counts as long drained (nginx measures from 0).
int64_t elapsed(const Node* n, int64_t now) {
    if (n->last == 0) {
        return -1;
    }
    int64_t ms = now - n->last;
    if (ms < -kIdleExpireMs) {
        return 1;
    }
    return ms < 0 ? 0 : ms;
}

}  // namespace

void Zone::expire_locked(int n, int64_t now) {
    // n == 1: up to two keys idle a minute with their excess drained; n == 0: the oldest key
    // by force first. The tail held by a request in progress stops it (nginx: no sense looking
    // further, lookups move keys to the head).
    while (n < 3) {
        Node* tail = shared_->lru_tail;
        if (tail == nullptr || tail->count != 0) {
            return;
        }
        if (n++ != 0) {
            int64_t ms = now - tail->last;
            ms = ms < 0 ? -ms : ms;
            if (ms < kIdleExpireMs || tail->excess - drained(ms) > 0) {
                return;
            }
        }
        remove_locked(tail);
    }
}

Zone::Lookup Zone::lookup(std::string_view key, uint64_t burst, bool account, int64_t now,
                          uint64_t& excess, Node*& held) {
    held = nullptr;
    uint32_t hash = core::shm_key_hash(key);
    core::ShmLockGuard guard(pool_->mutex());
    if (Node* n = find_locked(key, hash); n != nullptr) {
        lru_unlink(n);
        lru_push_front(n);
        int64_t ms = elapsed(n, now);
        int64_t e = ms < 0 ? 0 : n->excess - drained(ms) + 1000;
        if (e < 0) {
            e = 0;
        }
        excess = static_cast<uint64_t>(e);
        if (excess > burst) {
            return Lookup::kBusy;
        }
        if (account) {
            n->excess = e;
            if (ms != 0) {
                n->last = now;
            }
            return Lookup::kOk;
        }
        n->count++;
        held = n;
        return Lookup::kAgain;
    }
    excess = 0;
    expire_locked(1, now);
    Node* n = alloc_locked(key);
    if (n == nullptr) {
        expire_locked(0, now);
        n = alloc_locked(key);
        if (n == nullptr) {
            HALO_LOG(kAlert, "could not allocate node in limit_req zone \"%s\"", name_.c_str());
            return Lookup::kNoMemory;
        }
    }
    n->excess = 0;
    link_locked(n, key, hash);
    lru_push_front(n);
    if (account) {
        n->last = now;
        n->count = 0;
        return Lookup::kOk;
    }
    n->last = 0;
    n->count = 1;
    held = n;
    return Lookup::kAgain;
}

uint64_t Zone::account(Node* held, int64_t now) {
    core::ShmLockGuard guard(pool_->mutex());
    int64_t ms = elapsed(held, now);
    int64_t e = ms < 0 ? 0 : held->excess - drained(ms) + 1000;
    if (e < 0) {
        e = 0;
    }
    if (ms != 0) {
        held->last = now;
    }
    held->excess = e;
    held->count--;
    return static_cast<uint64_t>(e);
}

void Zone::unhold(Node* held) {
    core::ShmLockGuard guard(pool_->mutex());
    held->count--;
}

void Zone::count(LimitStatus s) {
    std::atomic<uint64_t>* c = nullptr;
    switch (s) {
        case LimitStatus::kPassed:
            c = &shared_->passed;
            break;
        case LimitStatus::kDelayed:
            c = &shared_->delayed;
            break;
        case LimitStatus::kRejected:
            c = &shared_->rejected;
            break;
        case LimitStatus::kDelayedDryRun:
            c = &shared_->delayed_dry_run;
            break;
        case LimitStatus::kRejectedDryRun:
            c = &shared_->rejected_dry_run;
            break;
        case LimitStatus::kNone:
            return;
    }
    c->fetch_add(1, std::memory_order_relaxed);
}

std::optional<BucketView> Zone::bucket(std::string_view key) const {
    if (shared_ == nullptr) {
        return std::nullopt;
    }
    core::ShmLockGuard guard(pool_->mutex());
    const Node* n = find_locked(key, core::shm_key_hash(key));
    if (n == nullptr) {
        return std::nullopt;
    }
    return BucketView{n->excess, n->last, n->count};
}

// ---- a request's limits ----

Decision check(const LimitList& limits, std::span<const std::string_view> keys, int64_t now,
               bool dry_run) {
    Decision d;
    size_t count = limits.size();
    Node* on_stack[8] = {};
    std::vector<Node*> on_heap;
    Node** held = on_stack;
    if (count > std::size(on_stack)) {
        on_heap.assign(count, nullptr);
        held = on_heap.data();
    }
    Zone::Lookup rc = Zone::Lookup::kAgain;
    bool any = false;
    uint64_t excess = 0;
    const Limit* limit = nullptr;
    size_t n = 0;
    for (; n < count; n++) {
        limit = &limits[n];
        if (keys[n].empty() || limit->zone == nullptr || !limit->zone->attached()) {
            continue;
        }
        any = true;
        rc = limit->zone->lookup(keys[n], limit->burst, n == count - 1, now, excess, held[n]);
        if (rc != Zone::Lookup::kAgain) {
            break;
        }
    }
    if (!any) {
        return d;
    }
    if (rc == Zone::Lookup::kBusy || rc == Zone::Lookup::kNoMemory) {
        for (size_t i = 0; i < n; i++) {
            if (held[i] != nullptr) {
                limits[i].zone->unhold(held[i]);
            }
        }
        d.status = dry_run ? LimitStatus::kRejectedDryRun : LimitStatus::kRejected;
        d.excess = excess;
        d.by = limit;
        d.no_memory = rc == Zone::Lookup::kNoMemory;
        limit->zone->count(d.status);
        return d;
    }
    if (rc == Zone::Lookup::kAgain) {
        excess = 0;  // the last limit had no key: nothing accounted yet
    }
    uint64_t max_delay = 0;
    if (excess > limit->delay) {
        max_delay = (excess - limit->delay) * 1000 / limit->zone->rate();
    }
    const Limit* by = limit;
    for (size_t i = n; i-- > 0;) {
        if (held[i] == nullptr) {
            continue;
        }
        uint64_t e = limits[i].zone->account(held[i], now);
        if (e <= limits[i].delay) {
            continue;
        }
        uint64_t delay = (e - limits[i].delay) * 1000 / limits[i].zone->rate();
        if (delay > max_delay) {
            max_delay = delay;
            excess = e;
            by = &limits[i];
        }
    }
    d.excess = excess;
    d.by = by;
    d.delay_ms = max_delay;
    LimitStatus passed = LimitStatus::kPassed;
    if (max_delay == 0) {
        d.status = LimitStatus::kPassed;
    } else {
        d.status = dry_run ? LimitStatus::kDelayedDryRun : LimitStatus::kDelayed;
    }
    for (size_t i = 0; i < count; i++) {
        const Limit& l = limits[i];
        if (!keys[i].empty() && l.zone != nullptr && l.zone->attached()) {
            l.zone->count(&l == by ? d.status : passed);
        }
    }
    return d;
}

// ---- configuration ----

core::Status parse_zone_args(core::ConfContext& cf, std::span<const std::string> args,
                             std::string& name, uint64_t& size, uint64_t& rate) {
    int64_t number = 1;
    int64_t scale = 1;
    bool sync = false;
    for (const std::string& a : args) {
        sync = sync || a == "sync";
    }
    if (args.size() > 2 && !sync) {
        return cf.error("invalid number of arguments in \"" + std::string(cf.name()) +
                        "\" directive");
    }
    for (const std::string& arg : args) {
        std::string_view a(arg);
        if (a.starts_with("zone=")) {
            HALO_TRY(core::parse_zone_spec(cf, a, name, size));
            continue;
        }
        if (a.starts_with("rate=")) {
            std::string_view v = a.substr(5);
            if (v.ends_with("r/s")) {
                v.remove_suffix(3);
                scale = 1;
            } else if (v.ends_with("r/m")) {
                v.remove_suffix(3);
                scale = 60;
            }
            auto r = core::parse_int(v);
            if (!r || *r <= 0 || *r > kMaxRate) {
                return cf.error("invalid rate \"" + arg + "\"");
            }
            number = *r;
            continue;
        }
        if (a == "sync") {
            return cf.error("the \"sync\" parameter of \"" + std::string(cf.name()) +
                            "\" is not supported (nginx Plus's zone synchronization)");
        }
        return cf.error("invalid parameter \"" + arg + "\"");
    }
    if (name.empty()) {
        return cf.error("\"" + std::string(cf.name()) + "\" must have \"zone\" parameter");
    }
    rate = static_cast<uint64_t>(number * 1000 / scale);
    return core::Status::ok();
}

Zone* Registry::find(std::string_view name) const {
    for (const auto& z : zones_) {
        if (z->name() == name) {
            return z.get();
        }
    }
    return nullptr;
}

core::Status Registry::add_zone(core::ConfContext& cf, const void* tag,
                                std::unique_ptr<Zone> zone) {
    if (Zone* z = find(zone->name()); z != nullptr) {
        return cf.error(std::string(cf.name()) + " \"" + z->name() +
                        "\" is already bound to key \"" + z->key_text() + "\"");
    }
    core::Status err = core::Status::ok();
    core::ShmZone* shm = core::add_table_zone(cf, zone->name(), zone->size(), tag, err);
    if (shm == nullptr) {
        return err;
    }
    Zone* z = zone.get();
    shm->init = [z](core::ShmZone& s, bool reused) { return z->attach(s, reused); };
    zones_.push_back(std::move(zone));
    return core::Status::ok();
}

namespace {

/// `burst=N`, `delay=N`: a positive number of requests, in thousandths.
bool parse_requests(std::string_view v, uint64_t& out) {
    auto n = core::parse_int(v);
    if (!n || *n <= 0 || *n > kMaxBurst) {
        return false;
    }
    out = static_cast<uint64_t>(*n) * 1000;
    return true;
}

}  // namespace

core::Status Registry::add_limit(core::ConfContext& cf, std::shared_ptr<LimitList>& list) {
    Limit limit;
    bool zone = false;
    for (const std::string& arg : cf.args()) {
        std::string_view a(arg);
        if (a.starts_with("zone=")) {
            limit.zone_name = std::string(a.substr(5));
            zone = true;
        } else if (a.starts_with("burst=")) {
            if (!parse_requests(a.substr(6), limit.burst)) {
                return cf.error("invalid burst value \"" + arg + "\"");
            }
        } else if (a.starts_with("delay=")) {
            if (!parse_requests(a.substr(6), limit.delay)) {
                return cf.error("invalid delay value \"" + arg + "\"");
            }
        } else if (a == "nodelay") {
            limit.delay = kNoDelay;
        } else {
            return cf.error("invalid parameter \"" + arg + "\"");
        }
    }
    if (!zone) {
        return cf.error("\"" + std::string(cf.name()) + "\" must have \"zone\" parameter");
    }
    if (!list) {
        list = std::make_shared<LimitList>();
        lists_.push_back(list);
    }
    for (const Limit& l : *list) {
        if (l.zone_name == limit.zone_name) {
            return cf.duplicate();
        }
    }
    limit.where = cf.node().where();
    list->push_back(std::move(limit));
    return core::Status::ok();
}

core::Status Registry::resolve(core::Cycle& cycle) {
    for (auto& list : lists_) {
        for (Limit& l : *list) {
            l.zone = find(l.zone_name);
            if (l.zone != nullptr) {
                continue;
            }
            if (cycle.find_shm_zone(l.zone_name) != nullptr) {
                return core::Status::error("the shared memory zone \"" + l.zone_name +
                                           "\" is already declared for a different use in " +
                                           l.where);
            }
            return core::Status::error("zero size shared memory zone \"" + l.zone_name + "\" in " +
                                       l.where);
        }
    }
    return core::Status::ok();
}

}  // namespace limit_req
