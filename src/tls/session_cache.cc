#include "tls/session_cache.h"

#include <cstring>

namespace tls {
namespace {

// Everything below lives in the shared zone, mapped at the same address in every process, so
// plain pointers are valid everywhere.
struct Entry {
    Entry* hash_next;
    Entry* older;  // insertion order: the oldest is evicted first
    Entry* newer;
    int64_t expire;
    uint32_t hash;
    uint32_t der_len;
    uint8_t id_len;
    uint8_t id[SessionCache::kMaxIdLength];
    // der_len bytes follow
    uint8_t* der() { return reinterpret_cast<uint8_t*>(this + 1); }
};

struct Root {
    static constexpr uint32_t kMagic = 0x73736c63;  // "sslc"
    uint32_t magic;
    uint32_t buckets;
    uint64_t count;
    Entry* oldest;
    Entry* newest;
    // `buckets` chain heads follow
    Entry** table() { return reinterpret_cast<Entry**>(this + 1); }
};

constexpr size_t kMinZone = 32 * 1024;
constexpr int kExpirePerStore = 2;  // expired entries dropped on each store (amortized)

uint32_t hash_id(std::span<const uint8_t> id) {
    uint32_t h = 2166136261u;  // FNV-1a
    for (uint8_t b : id) {
        h = (h ^ b) * 16777619u;
    }
    return h;
}

class Table {
  public:
    explicit Table(core::ShmPool& pool) : pool_(pool), root_(static_cast<Root*>(pool.root)) {}

    Entry** find(std::span<const uint8_t> id, uint32_t h) {
        Entry** link = &root_->table()[h % root_->buckets];
        for (; *link != nullptr; link = &(*link)->hash_next) {
            Entry* e = *link;
            if (e->hash == h && e->id_len == id.size() &&
                memcmp(e->id, id.data(), id.size()) == 0) {
                return link;
            }
        }
        return nullptr;
    }

    void unlink(Entry** link) {
        Entry* e = *link;
        *link = e->hash_next;
        (e->older != nullptr ? e->older->newer : root_->oldest) = e->newer;
        (e->newer != nullptr ? e->newer->older : root_->newest) = e->older;
        root_->count--;
        pool_.free_locked(e);
    }

    void drop(Entry* e) { unlink(find(std::span(e->id, e->id_len), e->hash)); }

    void append(Entry* e) {
        Entry*& head = root_->table()[e->hash % root_->buckets];
        e->hash_next = head;
        head = e;
        e->older = root_->newest;
        e->newer = nullptr;
        (root_->newest != nullptr ? root_->newest->newer : root_->oldest) = e;
        root_->newest = e;
        root_->count++;
    }

    /// A process died holding the lock: the links may be half-made. Forget every entry (their
    /// blocks stay allocated: a rare leak instead of a walk through broken links).
    void reset() {
        memset(root_->table(), 0, sizeof(Entry*) * root_->buckets);
        root_->oldest = root_->newest = nullptr;
        root_->count = 0;
    }

    Root* root() { return root_; }

  private:
    core::ShmPool& pool_;
    Root* root_;
};

/// Holds the pool's mutex; repairs the table when the previous holder died.
class Locked {
  public:
    explicit Locked(core::ShmPool& pool) : pool_(pool), table_(pool) {
        if (!pool_.mutex().lock()) {
            table_.reset();
        }
    }
    ~Locked() { pool_.mutex().unlock(); }
    Locked(const Locked&) = delete;
    Locked& operator=(const Locked&) = delete;
    Table& table() { return table_; }

  private:
    core::ShmPool& pool_;
    Table table_;
};

}  // namespace

bool SessionCache::format(core::ShmPool& pool) {
    if (pool.capacity() < kMinZone) {
        return false;
    }
    // About one bucket per 2 KiB of zone: a session takes 1-2 KiB.
    size_t buckets = pool.capacity() / 2048;
    auto* root = static_cast<Root*>(pool.alloc(sizeof(Root) + buckets * sizeof(Entry*)));
    if (root == nullptr) {
        return false;
    }
    root->magic = Root::kMagic;
    root->buckets = static_cast<uint32_t>(buckets);
    pool.root = root;
    return true;
}

bool SessionCache::store(std::span<const uint8_t> id, std::span<const uint8_t> der, int64_t expire,
                         int64_t now) {
    if (id.empty() || id.size() > kMaxIdLength || der.empty() || der.size() > UINT32_MAX) {
        return false;
    }
    Locked lock(pool_);
    Table& t = lock.table();
    for (int i = 0; i < kExpirePerStore && t.root()->oldest != nullptr; i++) {
        if (t.root()->oldest->expire > now) {
            break;
        }
        t.drop(t.root()->oldest);
    }
    uint32_t h = hash_id(id);
    if (Entry** old = t.find(id, h)) {
        t.unlink(old);
    }
    void* mem = pool_.alloc_locked(sizeof(Entry) + der.size());
    while (mem == nullptr && t.root()->oldest != nullptr) {
        t.drop(t.root()->oldest);  // full: the oldest sessions make room
        mem = pool_.alloc_locked(sizeof(Entry) + der.size());
    }
    if (mem == nullptr) {
        return false;
    }
    auto* e = static_cast<Entry*>(mem);
    e->expire = expire;
    e->hash = h;
    e->der_len = static_cast<uint32_t>(der.size());
    e->id_len = static_cast<uint8_t>(id.size());
    memcpy(e->id, id.data(), id.size());
    memcpy(e->der(), der.data(), der.size());
    t.append(e);
    return true;
}

std::optional<std::string> SessionCache::lookup(std::span<const uint8_t> id, int64_t now) {
    if (id.empty() || id.size() > kMaxIdLength) {
        return std::nullopt;
    }
    Locked lock(pool_);
    Table& t = lock.table();
    Entry** link = t.find(id, hash_id(id));
    if (link == nullptr) {
        return std::nullopt;
    }
    Entry* e = *link;
    if (e->expire <= now) {
        t.unlink(link);
        return std::nullopt;
    }
    return std::string(reinterpret_cast<const char*>(e->der()), e->der_len);
}

void SessionCache::remove(std::span<const uint8_t> id) {
    if (id.empty() || id.size() > kMaxIdLength) {
        return;
    }
    Locked lock(pool_);
    if (Entry** link = lock.table().find(id, hash_id(id))) {
        lock.table().unlink(link);
    }
}

size_t SessionCache::size() const {
    Locked lock(pool_);
    return static_cast<size_t>(lock.table().root()->count);
}

}  // namespace tls
