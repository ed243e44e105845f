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

// FNV-1a: the same value in every process (and every build), unlike std::hash.
uint32_t hash_of(std::string_view key) {
    uint32_t h = 2166136261u;
    for (unsigned char c : key) {
        h ^= c;
        h *= 16777619u;
    }
    return h;
}

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

uint32_t bucket_count(uint64_t size) {
    // About one bucket per 128 bytes of zone (a node of a short key takes a 64-byte block), the
    // table in one block of the pool without the block's power-of-two rounding wasting it.
    uint64_t bytes = 512;
    while (bytes * 2 <= size / 16 && bytes < (uint64_t{1} << 24)) {
        bytes *= 2;
    }
    return static_cast<uint32_t>((bytes - 16) / sizeof(Node*));
}

Zone::Zone(std::string name, uint64_t size, std::string key_text, std::string where)
    : name_(std::move(name)),
      size_(size),
      key_text_(std::move(key_text)),
      where_(std::move(where)) {}

Zone::~Zone() = default;

core::Status Zone::attach(core::ShmZone& shm, bool reused) {
    core::ShmPool& pool = shm.pool();
    pool_ = &pool;
    if (reused && pool.root != nullptr) {
        auto* sh = static_cast<Shared*>(pool.root);
        if (sh->magic != kMagic) {
            return core::Status::error("zone \"" + name_ + "\" holds other data in " + where_);
        }
        std::string_view before(sh->key_text, sh->key_len);
        if (before != key_text_) {
            return core::Status::error("limit_conn_zone \"" + name_ + "\" uses the \"" + key_text_ +
                                       "\" key while previously it used the \"" +
                                       std::string(before) + "\" key in " + where_);
        }
        shared_ = sh;
        return core::Status::ok();
    }
    std::string too_small = "zone \"" + name_ + "\" is too small in " + where_;
    auto* sh = pool.root_object<Shared>(false);
    if (sh == nullptr) {
        return core::Status::error(too_small);
    }
    uint32_t buckets = bucket_count(size_);
    sh->table = static_cast<Node**>(pool.alloc(buckets * sizeof(Node*)));
    sh->key_text = static_cast<char*>(pool.alloc(key_text_.size() + 1));
    if (sh->table == nullptr || sh->key_text == nullptr) {
        return core::Status::error(too_small);
    }
    memcpy(sh->key_text, key_text_.data(), key_text_.size());
    sh->key_len = static_cast<uint32_t>(key_text_.size());
    sh->buckets = buckets;
    sh->magic = kMagic;
    shared_ = sh;
    return core::Status::ok();
}

Node* Zone::find_locked(std::string_view key, uint32_t hash) const {
    for (Node* n = shared_->table[hash % shared_->buckets]; n != nullptr; n = n->next) {
        if (n->hash == hash && n->key() == key) {
            return n;
        }
    }
    return nullptr;
}

Outcome Zone::acquire(std::string_view key, uint32_t limit, bool dry_run, Node*& node) {
    node = nullptr;
    uint32_t hash = hash_of(key);
    Outcome out = Outcome::kPassed;
    {
        core::ShmLockGuard guard(pool_->mutex());
        Node* n = find_locked(key, hash);
        if (n == nullptr) {
            n = static_cast<Node*>(pool_->alloc_locked(sizeof(Node) + key.size()));
            if (n == nullptr) {
                out = Outcome::kNoMemory;
            } else {
                n->hash = hash;
                n->len = static_cast<uint8_t>(key.size());
                n->count = 1;
                memcpy(n->data(), key.data(), key.size());
                Node*& head = shared_->table[hash % shared_->buckets];
                n->next = head;
                head = n;
                shared_->keys.fetch_add(1, std::memory_order_relaxed);
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
    Node** p = &shared_->table[node->hash % shared_->buckets];
    while (*p != nullptr && *p != node) {
        p = &(*p)->next;
    }
    if (*p == nullptr) {
        HALO_LOG(kAlert, "limit_conn zone \"%s\": released a key it does not hold", name_.c_str());
        return;
    }
    *p = node->next;
    shared_->keys.fetch_sub(1, std::memory_order_relaxed);
    pool_->free_locked(node);
}

uint32_t Zone::holders(std::string_view key) const {
    if (shared_ == nullptr) {
        return 0;
    }
    core::ShmLockGuard guard(pool_->mutex());
    Node* n = find_locked(key, hash_of(key));
    return n != nullptr ? n->count : 0;
}

// ---- configuration ----

core::Status parse_zone_arg(core::ConfContext& cf, std::string_view arg, std::string& name,
                            uint64_t& size) {
    if (arg.rfind("zone=", 0) != 0) {
        return cf.error("invalid parameter \"" + std::string(arg) + "\"");
    }
    std::string_view spec = arg.substr(5);  // after "zone="
    size_t colon = spec.find(':');
    if (colon == std::string_view::npos) {
        return cf.error("invalid zone size \"" + std::string(arg) + "\"");
    }
    name = std::string(spec.substr(0, colon));
    if (name.empty()) {
        return cf.error("\"" + std::string(cf.name()) + "\" must have \"zone\" parameter");
    }
    auto sz = core::parse_size(spec.substr(colon + 1));
    if (!sz) {
        return cf.error("invalid zone size \"" + std::string(arg) + "\"");
    }
    if (sz->bytes < kMinZoneSize) {
        return cf.error("zone \"" + std::string(arg) + "\" is too small");
    }
    size = sz->bytes;
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
    if (cf.cycle().find_shm_zone(zone->name()) != nullptr) {
        return cf.error("the shared memory zone \"" + zone->name() +
                        "\" is already declared for a different use");
    }
    core::Status err = core::Status::ok();
    core::ShmZone* shm =
        cf.cycle().add_shm_zone(zone->name(), zone->size(), tag, cf.node().where(), err);
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
