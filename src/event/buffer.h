#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>

namespace ev {

/// A contiguous byte buffer with a read cursor: data in [begin, end), free space after end.
/// Storage is allocated lazily and can be released while a connection is idle.
class Buffer {
  public:
    Buffer() = default;
    explicit Buffer(size_t capacity) { reserve(capacity); }

    std::string_view view() const { return std::string_view(data_.get() + begin_, end_ - begin_); }
    const char* data() const { return data_.get() + begin_; }
    size_t size() const { return end_ - begin_; }
    bool empty() const { return begin_ == end_; }
    size_t capacity() const { return cap_; }

    /// Space to write into, at least `min` bytes (compacting or growing as needed).
    std::span<char> writable(size_t min) {
        if (cap_ - end_ < min) {
            make_room(min);
        }
        return std::span<char>(data_.get() + end_, cap_ - end_);
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
            data_.reset();
            cap_ = 0;
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
        if (data_ && begin_ > 0 && cap_ - live >= min) {
            memmove(data_.get(), data_.get() + begin_, live);
        } else {
            size_t ncap = cap_ ? cap_ : 1024;
            while (ncap - live < min) {
                ncap *= 2;
            }
            std::unique_ptr<char[]> n(new char[ncap]);
            if (live > 0) {
                memcpy(n.get(), data_.get() + begin_, live);
            }
            data_ = std::move(n);
            cap_ = static_cast<uint32_t>(ncap);
        }
        begin_ = 0;
        end_ = static_cast<uint32_t>(live);
    }

    // 32-bit offsets: a buffer never holds gigabytes, and every connection has two of these.
    std::unique_ptr<char[]> data_;
    uint32_t cap_ = 0;
    uint32_t begin_ = 0;
    uint32_t end_ = 0;
};

}  // namespace ev
