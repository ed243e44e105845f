#include "event/buffer.h"

#include <bit>
#include <vector>

namespace ev::blocks {

namespace {

constexpr size_t kMinShift = 10;  // 1 KiB
constexpr size_t kClasses = 7;    // 1 KiB .. 64 KiB
constexpr size_t kBudget = 256 * 1024;

// Set once the thread's cache is destroyed: a buffer freed later (by an object destroyed
// after it at exit) goes straight to the heap.
thread_local bool cache_gone = false;

/// Free blocks of one thread, one stack per size; freed with the thread.
struct Cache {
    std::vector<char*> free[kClasses];
    ~Cache() {
        for (auto& v : free) {
            for (char* b : v) {
                delete[] b;
            }
            v.clear();
        }
        cache_gone = true;
    }
};

thread_local Cache cache;

/// The size class of `size`, or kClasses when it has none.
size_t class_of(size_t size) {
    if (!std::has_single_bit(size) || size < (size_t{1} << kMinShift)) {
        return kClasses;
    }
    size_t c = static_cast<size_t>(std::countr_zero(size)) - kMinShift;
    return c < kClasses ? c : kClasses;
}

}  // namespace

char* take(size_t size) {
    size_t c = class_of(size);
    if (c < kClasses && !cache_gone && !cache.free[c].empty()) {
        char* b = cache.free[c].back();
        cache.free[c].pop_back();
        return b;
    }
    return new char[size];
}

void give(char* block, size_t size) {
    size_t c = class_of(size);
    if (c < kClasses && !cache_gone && cache.free[c].size() < kBudget / size) {
        cache.free[c].push_back(block);
        return;
    }
    delete[] block;
}

}  // namespace ev::blocks
