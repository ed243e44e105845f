// The keys zone (cache_zone.h): a hash table of entries by MD5 and a least-recently-used list,
// all under the zone pool's mutex.

#include "modules/cache/cache_zone.h"

#include <cstring>

namespace mod::cache {

namespace {

uint32_t bucket_of(const Md5& md5, uint32_t buckets) {
    uint32_t h;
    memcpy(&h, md5.data(), sizeof h);
    return h % buckets;
}

}  // namespace

core::Status Zone::attach(core::ShmZone& shm, bool reused) {
    core::ShmPool& pool = shm.pool();
    if (reused && pool.root != nullptr) {
        auto* idx = static_cast<ShmIndex*>(pool.root);
        if (idx->magic != ShmIndex::kMagic) {
            return core::Status::error("zone \"" + shm.name + "\" holds other data in " +
                                       shm.where);
        }
        pool_ = &pool;
        index_ = idx;
        return core::Status::ok();
    }
    core::Status st = attach_pool(pool);
    if (!st.is_ok()) {
        return core::Status::error("zone \"" + shm.name + "\" is too small in " + shm.where);
    }
    return st;
}

core::Status Zone::attach_pool(core::ShmPool& pool) {
    pool_ = &pool;
    auto* idx = pool.alloc_object<ShmIndex>();
    if (idx == nullptr) {
        return core::Status::error("zone too small");
    }
    // One bucket per 2 KiB of zone (an entry takes about 128 bytes): short chains.
    size_t buckets = std::max<size_t>(64, pool.capacity() / 2048);
    idx->table = static_cast<ShmEntry**>(pool.alloc(buckets * sizeof(ShmEntry*)));
    if (idx->table == nullptr) {
        return core::Status::error("zone too small");
    }
    idx->buckets = static_cast<uint32_t>(buckets);
    idx->magic = ShmIndex::kMagic;
    pool.root = idx;
    index_ = idx;
    return core::Status::ok();
}

// ---- under the lock ----

ShmEntry* Zone::find_locked(const Md5& md5) const {
    for (ShmEntry* e = index_->table[bucket_of(md5, index_->buckets)]; e != nullptr;
         e = e->hash_next) {
        if (e->md5 == md5) {
            return e;
        }
    }
    return nullptr;
}

void Zone::unlink_lru(ShmEntry* e) {
    (e->lru_prev ? e->lru_prev->lru_next : index_->lru_head) = e->lru_next;
    (e->lru_next ? e->lru_next->lru_prev : index_->lru_tail) = e->lru_prev;
    e->lru_prev = e->lru_next = nullptr;
}

void Zone::push_front(ShmEntry* e) {
    e->lru_prev = nullptr;
    e->lru_next = index_->lru_head;
    if (index_->lru_head != nullptr) {
        index_->lru_head->lru_prev = e;
    }
    index_->lru_head = e;
    if (index_->lru_tail == nullptr) {
        index_->lru_tail = e;
    }
}

void Zone::erase_locked(ShmEntry* e) {
    ShmEntry** p = &index_->table[bucket_of(e->md5, index_->buckets)];
    while (*p != e) {
        p = &(*p)->hash_next;
    }
    *p = e->hash_next;
    unlink_lru(e);
    if (e->exists) {
        index_->size -= std::min(index_->size, e->disk_size);
    }
    index_->entries--;
    pool_->free_locked(e);
}

ShmEntry* Zone::make_locked(const Md5& md5) {
    void* mem = pool_->alloc_locked(sizeof(ShmEntry));
    if (mem == nullptr) {
        // Full: entries without a file, unused and unclaimed, make room (nginx's forced
        // expiry removes files too; the manager does that here).
        for (ShmEntry* e = index_->lru_tail; e != nullptr && mem == nullptr;) {
            ShmEntry* prev = e->lru_prev;
            if (!e->exists && !e->updating) {
                erase_locked(e);
                mem = pool_->alloc_locked(sizeof(ShmEntry));
            }
            e = prev;
        }
        // Still full: the least recently used entry with a file goes, file and all (nginx's
        // forced expiry), when its file can be removed.
        for (ShmEntry* e = index_->lru_tail; e != nullptr && mem == nullptr && unlink_;) {
            ShmEntry* prev = e->lru_prev;
            if (!e->updating) {
                if (e->exists) {
                    dropped_.push_back(e->md5);
                }
                erase_locked(e);
                mem = pool_->alloc_locked(sizeof(ShmEntry));
            }
            e = prev;
        }
        if (mem == nullptr) {
            return nullptr;
        }
    }
    auto* e = new (mem) ShmEntry();
    e->md5 = md5;
    ShmEntry*& head = index_->table[bucket_of(md5, index_->buckets)];
    e->hash_next = head;
    head = e;
    push_front(e);
    index_->entries++;
    return e;
}

// ---- operations ----

void Zone::flush_dropped() {
    std::vector<Md5> files;
    files.swap(dropped_);
    for (const Md5& m : files) {
        unlink_(m);
    }
}

bool Zone::lookup(const Md5& md5, int64_t now, Found& out) {
    bool found = false;
    {
        core::ShmLockGuard g(pool_->mutex());
        ShmEntry* e = find_locked(md5);
        if (e == nullptr) {
            e = make_locked(md5);
        } else {
            unlink_lru(e);
            push_front(e);
        }
        if (e != nullptr) {
            e->uses++;
            e->last_used = now;
            out.exists = e->exists;
            out.valid_until = e->valid_until;
            out.updating = e->updating && e->lock_until > now * 1000;
            out.uses = e->uses;
            found = true;
        }
    }
    flush_dropped();
    return found;
}

bool Zone::peek(const Md5& md5, Found& out) {
    core::ShmLockGuard g(pool_->mutex());
    ShmEntry* e = find_locked(md5);
    if (e == nullptr) {
        return false;
    }
    out.exists = e->exists;
    out.valid_until = e->valid_until;
    out.updating = e->updating;
    out.uses = e->uses;
    return true;
}

bool Zone::try_claim(const Md5& md5, int64_t now_ms, int64_t age_ms) {
    bool claimed = false;
    {
        core::ShmLockGuard g(pool_->mutex());
        ShmEntry* e = find_locked(md5);
        if (e == nullptr) {
            e = make_locked(md5);
        }
        if (e != nullptr && !(e->updating && e->lock_until > now_ms)) {
            e->updating = true;
            e->lock_until = now_ms + age_ms;
            claimed = true;
        }
    }
    flush_dropped();
    return claimed;
}

void Zone::release(const Md5& md5) {
    core::ShmLockGuard g(pool_->mutex());
    if (ShmEntry* e = find_locked(md5)) {
        e->updating = false;
    }
}

void Zone::stored(const Md5& md5, int64_t valid_until, uint64_t disk_size, int64_t now) {
    {
        core::ShmLockGuard g(pool_->mutex());
        ShmEntry* e = find_locked(md5);
        if (e == nullptr) {
            e = make_locked(md5);  // nullptr: the file stays unknown until the next loader
        }
        if (e != nullptr) {
            if (e->exists) {
                index_->size -= std::min(index_->size, e->disk_size);
            }
            e->exists = true;
            e->disk_size = disk_size;
            e->valid_until = valid_until;
            e->last_used = now;
            e->updating = false;
            index_->size += disk_size;
        }
    }
    flush_dropped();
}

void Zone::refreshed(const Md5& md5, int64_t valid_until) {
    core::ShmLockGuard g(pool_->mutex());
    if (ShmEntry* e = find_locked(md5)) {
        e->valid_until = valid_until;
        e->updating = false;
    }
}

bool Zone::remove(const Md5& md5) {
    core::ShmLockGuard g(pool_->mutex());
    ShmEntry* e = find_locked(md5);
    if (e == nullptr) {
        return false;
    }
    bool had = e->exists;
    erase_locked(e);
    return had;
}

bool Zone::add_loaded(const Md5& md5, int64_t valid_until, uint64_t disk_size, int64_t mtime) {
    core::ShmLockGuard g(pool_->mutex());
    ShmEntry* e = find_locked(md5);
    if (e != nullptr) {
        return true;  // a worker stored or looked it up meanwhile
    }
    // No forced expiry for the loader: a zone too small for the disk keeps what fits.
    std::function<void(const Md5&)> keep;
    keep.swap(unlink_);
    e = make_locked(md5);
    unlink_.swap(keep);
    if (e == nullptr) {
        return false;
    }
    // Loaded entries go to the old end: they were not used in this run yet.
    unlink_lru(e);
    e->lru_prev = index_->lru_tail;
    if (index_->lru_tail != nullptr) {
        index_->lru_tail->lru_next = e;
    }
    index_->lru_tail = e;
    if (index_->lru_head == nullptr) {
        index_->lru_head = e;
    }
    e->exists = true;
    e->valid_until = valid_until;
    e->disk_size = disk_size;
    e->last_used = mtime;
    index_->size += disk_size;
    return true;
}

size_t Zone::expire_inactive(int64_t now, int64_t inactive_s,
                             const std::function<void(const Md5&)>& unlink) {
    std::vector<Md5> gone;
    {
        core::ShmLockGuard g(pool_->mutex());
        for (ShmEntry* e = index_->lru_tail; e != nullptr;) {
            ShmEntry* prev = e->lru_prev;
            if (e->last_used + inactive_s > now) {
                break;  // the rest were used later
            }
            if (!e->updating) {
                if (e->exists) {
                    gone.push_back(e->md5);
                }
                erase_locked(e);
            }
            e = prev;
        }
    }
    for (const Md5& m : gone) {
        unlink(m);
    }
    return gone.size();
}

size_t Zone::shrink(uint64_t max_size, const std::function<bool()>& need_free,
                    const std::function<void(const Md5&)>& unlink) {
    size_t n = 0;
    for (;;) {
        Md5 victim;
        {
            core::ShmLockGuard g(pool_->mutex());
            bool over = max_size > 0 && index_->size > max_size;
            if (!over && !need_free()) {
                return n;
            }
            ShmEntry* e = index_->lru_tail;
            while (e != nullptr && (e->updating || !e->exists)) {
                e = e->lru_prev;
            }
            if (e == nullptr) {
                return n;
            }
            victim = e->md5;
            erase_locked(e);
        }
        unlink(victim);
        n++;
    }
}

uint64_t Zone::size() const {
    core::ShmLockGuard g(pool_->mutex());
    return index_->size;
}

uint64_t Zone::entries() const {
    core::ShmLockGuard g(pool_->mutex());
    return index_->entries;
}

bool Zone::loaded() const {
    core::ShmLockGuard g(pool_->mutex());
    return index_->loaded;
}

void Zone::set_loaded() {
    core::ShmLockGuard g(pool_->mutex());
    index_->loaded = true;
}

}  // namespace mod::cache
