#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>

namespace ev {

/// Storage blocks of buffers, kept per thread for reuse: a keepalive connection releases its
/// buffers between requests and takes them again for the next one, and malloc()/free() of
/// 1-64 KiB blocks (with glibc's consolidation of its fast bins, triggered by any request
/// of 1 KiB or more) cost a few percent of a small proxied request. Sizes are powers of two
/// from 1 KiB (every Buffer capacity is one); each size keeps at most 256 KiB of free blocks
/// (so a worker holds at most 1.75 MiB in total); other sizes go to the heap.
namespace blocks {
char* take(size_t size);
void give(char* block, size_t size);
}  // namespace blocks

/// A contiguous byte buffer with a read cursor: data in [begin, end), free space after end.
/// Storage is allocated lazily and can be released while a connection is idle.
class Buffer {
  public:
    Buffer() = default;
    explicit Buffer(size_t capacity) { reserve(capacity); }
    ~Buffer() { free_storage(); }
    Buffer(Buffer&& o) noexcept : data_(o.data_), cap_(o.cap_), begin_(o.begin_), end_(o.end_) {
        o.data_ = nullptr;
        o.cap_ = o.begin_ = o.end_ = 0;
    }
    Buffer& operator=(Buffer&& o) noexcept {
        if (this != &o) {
            free_storage();
            data_ = o.data_;
            cap_ = o.cap_;
            begin_ = o.begin_;
            end_ = o.end_;
            o.data_ = nullptr;
            o.cap_ = o.begin_ = o.end_ = 0;
        }
        return *this;
    }

    std::string_view view() const { return std::string_view(data_ + begin_, end_ - begin_); }
    const char* data() const { return data_ + begin_; }
    size_t size() const { return end_ - begin_; }
    bool empty() const { return begin_ == end_; }
    size_t capacity() const { return cap_; }

    /// Space to write into, at least `min` bytes (compacting or growing as needed).
    std::span<char> writable(size_t min) {
        if (cap_ - end_ < min) {
            make_room(min);
        }
        return std::span<char>(data_ + end_, cap_ - end_);
    }
    void commit(size_t n) { end_ += static_cast<uint32_t>(n); }
    void consume(size_t n) {
        begin_ += static_cast<uint32_t>(n);
        if (begin_ == end_) {
            begin_ = end_ = 0;
        }
    }
    void append(std::string_view s) {
        auto w = writable(s.size());
        memcpy(w.data(), s.data(), s.size());
        commit(s.size());
    }
    void clear() { begin_ = end_ = 0; }
    /// Frees the storage when empty (idle keepalive connections hold no buffers).
    void release_if_empty() {
        if (empty()) {
            free_storage();
            begin_ = end_ = 0;
        }
    }
    void reserve(size_t n) {
        if (cap_ < n) {
            make_room(n - size());
        }
    }

  private:
    void make_room(size_t min) {
        size_t live = size();
        if (data_ != nullptr && begin_ > 0 && cap_ - live >= min) {
            memmove(data_, data_ + begin_, live);
        } else {
            size_t ncap = cap_ ? cap_ : 1024;
            while (ncap - live < min) {
                ncap *= 2;
            }
            char* n = blocks::take(ncap);
            if (live > 0) {
                memcpy(n, data_ + begin_, live);
            }
            free_storage();
            data_ = n;
            cap_ = static_cast<uint32_t>(ncap);
        }
        begin_ = 0;
        end_ = static_cast<uint32_t>(live);
    }

    void free_storage() {
        if (data_ != nullptr) {
            blocks::give(data_, cap_);
            data_ = nullptr;
            cap_ = 0;
        }
    }

    // 32-bit offsets: a buffer never holds gigabytes, and every connection has two of these.
    char* data_ = nullptr;
    uint32_t cap_ = 0;
    uint32_t begin_ = 0;
    uint32_t end_ = 0;
};

}  // namespace ev
