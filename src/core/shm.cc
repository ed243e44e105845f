#include "core/shm.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <new>

#include "core/log.h"

namespace core {

void ShmMutex::init() {
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&mutex_, &attr);
    pthread_mutexattr_destroy(&attr);
}

bool ShmMutex::lock() {
    int rc = pthread_mutex_lock(&mutex_);
    if (rc == EOWNERDEAD) {
        pthread_mutex_consistent(&mutex_);
        return false;
    }
    return true;
}

bool ShmMutex::try_lock() {
    int rc = pthread_mutex_trylock(&mutex_);
    if (rc == EOWNERDEAD) {
        pthread_mutex_consistent(&mutex_);
        return true;
    }
    return rc == 0;
}

void ShmMutex::unlock() {
    pthread_mutex_unlock(&mutex_);
}

std::unique_ptr<ShmSegment> ShmSegment::create(size_t size, std::string* error) {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        if (error) {
            *error = format("mmap(MAP_ANON|MAP_SHARED, %zu) failed (%d: %s)", size, errno,
                            strerror(errno));
        }
        return nullptr;
    }
    return std::unique_ptr<ShmSegment>(new ShmSegment(p, size));
}

ShmSegment::~ShmSegment() {
    munmap(base_, size_);
}

namespace {
struct BlockHeader {
    uint32_t size_class;
    uint32_t magic;
    uint64_t pad;  // keeps payloads 16-byte aligned
};
constexpr uint32_t kMagic = 0x68616c6f;  // "halo"

size_t pool_header_size() {
    return (sizeof(ShmPool) + 15) & ~size_t{15};
}
}  // namespace

ShmPool* ShmPool::format(ShmSegment& seg) {
    auto* pool = new (seg.base()) ShmPool();
    pool->mutex_.init();
    pool->size_ = seg.size();
    pool->next_ = pool_header_size();
    return pool;
}

ShmPool* ShmPool::of(ShmSegment& seg) {
    return static_cast<ShmPool*>(seg.base());
}

void* ShmPool::alloc(size_t n) {
    ShmLockGuard guard(mutex_);
    return alloc_locked(n);
}

void ShmPool::free(void* p) {
    ShmLockGuard guard(mutex_);
    free_locked(p);
}

void* ShmPool::alloc_locked(size_t n) {
    if (n > size_) {
        return nullptr;  // also keeps n + header from wrapping around
    }
    size_t need = n + sizeof(BlockHeader);
    // 32 bytes at least: a free block keeps its free-list link in the payload.
    uint32_t cls = 5;
    while (cls < kClasses && (size_t{1} << cls) < need) {
        cls++;
    }
    if (cls >= kClasses) {
        return nullptr;
    }
    size_t block = size_t{1} << cls;
    BlockHeader* h;
    if (free_[cls] != nullptr) {
        h = static_cast<BlockHeader*>(free_[cls]);
        free_[cls] = *reinterpret_cast<void**>(h + 1);
    } else {
        if (next_ + block > size_) {
            return nullptr;
        }
        h = reinterpret_cast<BlockHeader*>(reinterpret_cast<char*>(this) + next_);
        next_ += block;
    }
    h->size_class = cls;
    h->magic = kMagic;
    void* payload = h + 1;
    memset(payload, 0, block - sizeof(BlockHeader));
    return payload;
}

void ShmPool::free_locked(void* p) {
    if (p == nullptr) {
        return;
    }
    auto* h = static_cast<BlockHeader*>(p) - 1;
    if (h->magic != kMagic || h->size_class >= kClasses) {
        HALO_LOG(kAlert, "shm pool: free of an invalid block %p", p);
        return;
    }
    h->magic = 0;
    *reinterpret_cast<void**>(p) = free_[h->size_class];
    free_[h->size_class] = h;
}

}  // namespace core
