#pragma once

#include <pthread.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/status.h"

namespace core {

/// A mutex in shared memory, usable from every process of halo. Robust: when a holder dies,
/// the next locker takes it over (the protected data may need repair; see lock()).
class ShmMutex {
  public:
    /// Initializes in place; call once, in the master, before any process uses it.
    void init();
    /// Returns false when the previous owner died holding it (the lock is held now anyway).
    bool lock();
    bool try_lock();
    void unlock();

  private:
    pthread_mutex_t mutex_;
};

/// RAII holder for ShmMutex.
class ShmLockGuard {
  public:
    explicit ShmLockGuard(ShmMutex& m) : m_(m) { m_.lock(); }
    ~ShmLockGuard() { m_.unlock(); }
    ShmLockGuard(const ShmLockGuard&) = delete;
    ShmLockGuard& operator=(const ShmLockGuard&) = delete;

  private:
    ShmMutex& m_;
};

/// A mapping shared by the master and every child forked after it was made. Mapped at the
/// same address in all of them, so plain pointers into it are valid everywhere.
class ShmSegment {
  public:
    static std::unique_ptr<ShmSegment> create(size_t size, std::string* error);
    ~ShmSegment();
    void* base() const { return base_; }
    size_t size() const { return size_; }

  private:
    ShmSegment(void* base, size_t size) : base_(base), size_(size) {}
    void* base_;
    size_t size_;
};

/// Allocator living at the start of a segment: power-of-two size classes with free lists,
/// all under one ShmMutex. Blocks are never returned to the system.
class ShmPool {
  public:
    /// Formats a fresh segment.
    static ShmPool* format(ShmSegment& seg);
    /// The pool of an already formatted segment.
    static ShmPool* of(ShmSegment& seg);

    /// nullptr when the zone is full. Memory is zeroed.
    void* alloc(size_t n);
    void free(void* p);
    template <class T>
    T* alloc_object() {
        void* p = alloc(sizeof(T));
        return p ? new (p) T() : nullptr;
    }

    ShmMutex& mutex() { return mutex_; }
    /// A module's root object in this zone, kept across reloads.
    void* root = nullptr;
    /// The root as a T, for a zone's init hook: the one a previous cycle left when the zone is
    /// `reused` and has one, else a new zeroed T made the root (`*made` set then). nullptr when
    /// the zone is full.
    template <class T>
    T* root_object(bool reused, bool* made = nullptr) {
        if (!reused || root == nullptr) {
            root = alloc_object<T>();
            if (made != nullptr) {
                *made = root != nullptr;
            }
        }
        return static_cast<T*>(root);
    }
    size_t used() const { return next_; }
    size_t capacity() const { return size_; }

    /// Same as alloc/free but the caller already holds mutex().
    void* alloc_locked(size_t n);
    void free_locked(void* p);

  private:
    static constexpr int kClasses = 48;
    ShmMutex mutex_;
    size_t size_ = 0;
    size_t next_ = 0;  // bump offset from the segment base
    void* free_[kClasses] = {};
};

/// A named shared memory zone of a cycle (`zone name size;` and module zones). Created by the
/// master before workers are forked; reused by a reload when name, size and owner tag match.
struct ShmZone {
    std::string name;
    size_t size = 0;
    const void* tag = nullptr;  // the owning module's identity
    std::string where;          // file:line that declared it, for errors
    /// Runs in the master once the segment exists; `reused` tells whether it carries the
    /// previous cycle's data (pool().root is then what the module left there).
    std::function<Status(ShmZone&, bool reused)> init;

    std::shared_ptr<ShmSegment> segment;
    bool reused = false;
    ShmPool& pool() const { return *ShmPool::of(*segment); }
};

}  // namespace core
