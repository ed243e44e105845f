#pragma once

// A table keyed by a string in a shared memory zone: what nginx's limit_conn and limit_req zones
// (and their rbtrees) have in common. The zone's root object (a `Head`, derived from
// ShmTableHead) holds a chained hash table of the module's nodes and the text of the zone's key
// directive; `ShmTable` is a zone's process-local handle: its name, size, key and the
// directive's place, the init hook (format or take over on reload, refusing a reload that
// changes the key) and the locked operations on the chains. The nodes are the module's own; a
// node type has `Node* next`, `uint32_t hash`, an unsigned `len` and `data()` (the key's bytes
// right after the node). Everything here is inline or a template: no virtual call, no extra
// allocation on the request path. Also the shared parsing of `zone=name:size` and the
// registration of such a zone's shared memory.

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/conf_context.h"
#include "core/shm.h"
#include "core/status.h"

namespace core {

/// nginx: a zone of less than 8 pages is refused ("is too small").
inline constexpr uint64_t kMinTableZoneSize = 8 * 4096;

/// FNV-1a: the same value in every process (and every build), unlike std::hash.
inline uint32_t shm_key_hash(std::string_view key) {
    uint32_t h = 2166136261u;
    for (unsigned char c : key) {
        h ^= c;
        h *= 16777619u;
    }
    return h;
}

/// The number of hash buckets of a zone of `size` bytes (the rest holds the nodes): about one
/// bucket per 128 bytes of zone (a node of a short key takes a 64- or 128-byte block), the
/// table in one block of the pool without its power-of-two rounding wasting it.
uint32_t shm_table_buckets(uint64_t size);

/// `zone=name:size` (the part after `zone=`, `arg` the whole argument for the messages):
/// nginx's checks and words ("invalid zone size", "is too small"). `name` may come back empty:
/// the caller says the directive "must have \"zone\" parameter", as nginx, after its other
/// arguments.
Status parse_zone_spec(ConfContext& cf, std::string_view arg, std::string& name, uint64_t& size);

/// Registers the shared memory of a keyed table zone under `tag` (nginx's words when another
/// kind of zone has the name); nullptr with `err` set on failure.
ShmZone* add_table_zone(ConfContext& cf, const std::string& name, uint64_t size, const void* tag,
                        Status& err);

/// The start of a table zone's root object.
template <class Node>
struct ShmTableHead {
    uint64_t magic = 0;
    uint32_t buckets = 0;
    Node** table = nullptr;
    char* key_text = nullptr;  // the zone's key, to refuse a reload that changes it
    uint32_t key_len = 0;
    std::atomic<uint64_t> keys{0};  // nodes in the table now
};

/// A table zone's handle in a process. `Head` derives from ShmTableHead<Node>.
template <class Node, class Head>
class ShmTable {
  public:
    ShmTable(std::string name, uint64_t size, std::string key_text, std::string where)
        : name_(std::move(name)),
          size_(size),
          key_text_(std::move(key_text)),
          where_(std::move(where)) {}
    ShmTable(const ShmTable&) = delete;
    ShmTable& operator=(const ShmTable&) = delete;

    const std::string& name() const { return name_; }
    uint64_t size() const { return size_; }
    const std::string& key_text() const { return key_text_; }
    const std::string& where() const { return where_; }
    bool attached() const { return shared_ != nullptr; }

  protected:
    ~ShmTable() = default;

    /// The init hook's work: formats the table (a `magic` root), or takes the previous cycle's
    /// when `reused`. Fails when the zone is too small, holds something else, or a reload
    /// changed the key (`directive` names the zone's directive in that message).
    Status attach_table(ShmZone& shm, bool reused, uint64_t magic, std::string_view directive) {
        ShmPool& pool = shm.pool();
        pool_ = &pool;
        if (reused && pool.root != nullptr) {
            auto* sh = static_cast<Head*>(pool.root);
            if (sh->magic != magic) {
                return Status::error("zone \"" + name_ + "\" holds other data in " + where_);
            }
            std::string_view before(sh->key_text, sh->key_len);
            if (before != key_text_) {
                return Status::error(std::string(directive) + " \"" + name_ + "\" uses the \"" +
                                     key_text_ + "\" key while previously it used the \"" +
                                     std::string(before) + "\" key in " + where_);
            }
            shared_ = sh;
            return Status::ok();
        }
        std::string too_small = "zone \"" + name_ + "\" is too small in " + where_;
        auto* sh = pool.root_object<Head>(false);
        if (sh == nullptr) {
            return Status::error(too_small);
        }
        uint32_t buckets = shm_table_buckets(size_);
        sh->table = static_cast<Node**>(pool.alloc(buckets * sizeof(Node*)));
        sh->key_text = static_cast<char*>(pool.alloc(key_text_.size() + 1));
        if (sh->table == nullptr || sh->key_text == nullptr) {
            return Status::error(too_small);
        }
        memcpy(sh->key_text, key_text_.data(), key_text_.size());
        sh->key_len = static_cast<uint32_t>(key_text_.size());
        sh->buckets = buckets;
        sh->magic = magic;
        shared_ = sh;
        return Status::ok();
    }

    // The caller holds pool_->mutex() in the *_locked ones.

    Node* find_locked(std::string_view key, uint32_t hash) const {
        for (Node* n = shared_->table[hash % shared_->buckets]; n != nullptr; n = n->next) {
            if (n->hash == hash && std::string_view(n->data(), n->len) == key) {
                return n;
            }
        }
        return nullptr;
    }
    /// A node for `key` (its bytes after the node), not linked yet; nullptr when the zone is
    /// full.
    Node* alloc_locked(std::string_view key) {
        return static_cast<Node*>(pool_->alloc_locked(sizeof(Node) + key.size()));
    }
    /// Puts a node from alloc_locked() at the head of its chain with `key` and `hash`.
    void link_locked(Node* n, std::string_view key, uint32_t hash) {
        n->hash = hash;
        n->len = static_cast<decltype(n->len)>(key.size());
        memcpy(n->data(), key.data(), key.size());
        Node*& head = shared_->table[hash % shared_->buckets];
        n->next = head;
        head = n;
        shared_->keys.fetch_add(1, std::memory_order_relaxed);
    }
    /// Takes `n` out of its chain; false when the table does not hold it.
    bool unlink_locked(Node* n) {
        Node** p = &shared_->table[n->hash % shared_->buckets];
        while (*p != nullptr && *p != n) {
            p = &(*p)->next;
        }
        if (*p == nullptr) {
            return false;
        }
        *p = n->next;
        shared_->keys.fetch_sub(1, std::memory_order_relaxed);
        return true;
    }

    std::string name_;
    uint64_t size_;
    std::string key_text_;
    std::string where_;
    ShmPool* pool_ = nullptr;
    Head* shared_ = nullptr;
};

}  // namespace core
