// The limit_conn zone: a chained hash table of {key, count} nodes in shared memory, under
// the zone pool's mutex; the directives' shared parsing; the per-cycle registry.
#include "modules/limit_conn/limit_conn_zone.h"

#include <cstring>

#include "core/cycle.h"
#include "core/log.h"

namespace limit_conn {

/// A counted key, in the zone (nginx's ngx_http_limit_conn_node_t). The key's bytes follow.
struct Node {
    Node* next;
    uint32_t hash;
    uint16_t count;
    uint8_t len;
    uint8_t pad;

    char* data() { return reinterpret_cast<char*>(this + 1); }
    const char* data() const { return reinterpret_cast<const char*>(this + 1); }
    std::string_view key() const { return {data(), len}; }
};

namespace {

constexpr uint64_t kMagic = 0x6c696d6974636f6eull;  // "limitcon"

}  // namespace

std::string_view status_name(LimitStatus s) {
    switch (s) {
        case LimitStatus::kPassed:
            return "PASSED";
        case LimitStatus::kRejected:
            return "REJECTED";
        case LimitStatus::kRejectedDryRun:
            return "REJECTED_DRY_RUN";
        case LimitStatus::kNone:
            break;
    }
    return {};
}

Zone::Zone(std::string name, uint64_t size, std::string key_text, std::string where)
    : ShmTable(std::move(name), size, std::move(key_text), std::move(where)) {}

Zone::~Zone() = default;

core::Status Zone::attach(core::ShmZone& shm, bool reused) {
    return attach_table(shm, reused, kMagic, "limit_conn_zone");
}

Outcome Zone::acquire(std::string_view key, uint32_t limit, bool dry_run, Node*& node) {
    node = nullptr;
    uint32_t hash = core::shm_key_hash(key);
    Outcome out = Outcome::kPassed;
    {
        core::ShmLockGuard guard(pool_->mutex());
        Node* n = find_locked(key, hash);
        if (n == nullptr) {
            n = alloc_locked(key);
            if (n == nullptr) {
                out = Outcome::kNoMemory;
            } else {
                n->count = 1;
                link_locked(n, key, hash);
                node = n;
            }
        } else if (n->count >= limit) {
            out = Outcome::kLimited;
        } else {
            n->count++;
            node = n;
        }
    }
    if (out == Outcome::kPassed) {
        shared_->passed.fetch_add(1, std::memory_order_relaxed);
    } else if (dry_run) {
        shared_->rejected_dry_run.fetch_add(1, std::memory_order_relaxed);
    } else {
        shared_->rejected.fetch_add(1, std::memory_order_relaxed);
    }
    return out;
}

void Zone::release(Node* node) {
    core::ShmLockGuard guard(pool_->mutex());
    if (node->count > 1) {
        node->count--;
        return;
    }
    if (!unlink_locked(node)) {
        HALO_LOG(kAlert, "limit_conn zone \"%s\": released a key it does not hold", name_.c_str());
        return;
    }
    pool_->free_locked(node);
}

uint32_t Zone::holders(std::string_view key) const {
    if (shared_ == nullptr) {
        return 0;
    }
    core::ShmLockGuard guard(pool_->mutex());
    Node* n = find_locked(key, core::shm_key_hash(key));
    return n != nullptr ? n->count : 0;
}

// ---- configuration ----

core::Status parse_zone_arg(core::ConfContext& cf, std::string_view arg, std::string& name,
                            uint64_t& size) {
    if (!arg.starts_with("zone=")) {
        return cf.error("invalid parameter \"" + std::string(arg) + "\"");
    }
    HALO_TRY(core::parse_zone_spec(cf, arg, name, size));
    if (name.empty()) {
        return cf.error("\"" + std::string(cf.name()) + "\" must have \"zone\" parameter");
    }
    return core::Status::ok();
}

Zone* Registry::find(const void* tag, std::string_view name) const {
    for (const Entry& e : zones_) {
        if (e.tag == tag && e.zone->name() == name) {
            return e.zone.get();
        }
    }
    return nullptr;
}

core::Status Registry::add_zone(core::ConfContext& cf, const void* tag,
                                std::unique_ptr<Zone> zone) {
    if (Zone* z = find(tag, zone->name()); z != nullptr) {
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
    zones_.push_back(Entry{tag, std::move(zone)});
    return core::Status::ok();
}

core::Status Registry::add_limit(core::ConfContext& cf, const void* tag,
                                 std::shared_ptr<LimitList>& list) {
    const std::string& zone = cf.arg(0);
    const std::string& number = cf.arg(1);
    if (!list) {
        list = std::make_shared<LimitList>();
        lists_.emplace_back(tag, list);
    }
    for (const Limit& l : *list) {
        if (l.zone_name == zone) {
            return cf.duplicate();
        }
    }
    auto n = core::parse_int(number);
    if (!n || *n <= 0) {
        return cf.error("invalid number of connections \"" + number + "\"");
    }
    if (*n > kMaxConn) {
        return cf.error("connection limit must be less 65536");
    }
    list->push_back(Limit{zone, static_cast<uint32_t>(*n), cf.node().where(), nullptr});
    return core::Status::ok();
}

core::Status Registry::resolve(const void* tag) {
    for (auto& [t, list] : lists_) {
        if (t != tag) {
            continue;
        }
        for (Limit& l : *list) {
            l.zone = find(tag, l.zone_name);
            if (l.zone == nullptr) {
                return core::Status::error("zero size shared memory zone \"" + l.zone_name +
                                           "\" in " + l.where);
            }
        }
    }
    return core::Status::ok();
}

}  // namespace limit_conn
