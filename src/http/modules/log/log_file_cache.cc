// open_log_file_cache: see log_file_cache.h.
#include "http/modules/log/log_file_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace mod::http_log {

int open_log_file(const std::string& path) {
    return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

LogFileCache::LogFileCache(size_t max, std::chrono::milliseconds inactive, int min_uses,
                           std::chrono::milliseconds valid)
    : max_(max), inactive_(inactive), min_uses_(min_uses), valid_(valid) {}

LogFileCache::~LogFileCache() {
    clear();
}

void LogFileCache::clear() {
    for (Entry& e : lru_) {
        if (e.fd >= 0) {
            ::close(e.fd);
        }
    }
    lru_.clear();
    index_.clear();
}

size_t LogFileCache::open_descriptors() const {
    size_t n = 0;
    for (const Entry& e : lru_) {
        n += e.fd >= 0 ? 1 : 0;
    }
    return n;
}

bool LogFileCache::holds(const std::string& path) const {
    auto it = index_.find(path);
    return it != index_.end() && it->second->fd >= 0;
}

void LogFileCache::drop(Iter it) {
    if (it->fd >= 0) {
        ::close(it->fd);
    }
    index_.erase(it->path);
    lru_.erase(it);
}

/// nginx's rule: with `force` the least recently used file goes whatever its age; then up to
/// two files unused for longer than `inactive`.
void LogFileCache::expire(Clock::time_point now, bool force) {
    if (force && !lru_.empty()) {
        drop(std::prev(lru_.end()));
    }
    for (int i = 0; i < 2 && !lru_.empty(); i++) {
        auto last = std::prev(lru_.end());
        if (now - last->accessed <= inactive_) {
            return;
        }
        drop(last);
    }
}

LogFileCache::Open LogFileCache::keep_or_hand_over(Entry& e, int fd, Clock::time_point now) {
    if (e.uses < min_uses_) {
        return {fd, false};  // not used often enough yet: the caller closes it
    }
    struct stat st {};
    if (fstat(fd, &st) == 0) {
        e.dev = st.st_dev;
        e.ino = st.st_ino;
    }
    e.fd = fd;
    e.created = now;
    return {fd, true};
}

LogFileCache::Open LogFileCache::open(const std::string& path, Clock::time_point now) {
    expire(now, false);
    auto found = index_.find(path);
    if (found == index_.end()) {
        int fd = open_log_file(path);
        if (fd < 0) {
            return {};  // errors are not cached, as nginx's log files
        }
        if (lru_.size() >= max_) {
            expire(now, true);
        }
        lru_.push_front(Entry{.path = path, .uses = 1, .created = now, .accessed = now});
        index_[path] = lru_.begin();
        return keep_or_hand_over(lru_.front(), fd, now);
    }
    Iter it = found->second;
    lru_.splice(lru_.begin(), lru_, it);
    Entry& e = *it;
    e.uses++;
    e.accessed = now;
    if (e.fd >= 0) {
        if (now - e.created < valid_) {
            return {e.fd, true};
        }
        // valid= elapsed: the same file still under this name keeps its descriptor.
        struct stat st {};
        if (stat(path.c_str(), &st) == 0 && st.st_dev == e.dev && st.st_ino == e.ino) {
            e.created = now;
            return {e.fd, true};
        }
        ::close(e.fd);
        e.fd = -1;
    }
    int fd = open_log_file(path);
    if (fd < 0) {
        int err = errno;
        drop(it);
        errno = err;
        return {};
    }
    return keep_or_hand_over(e, fd, now);
}

}  // namespace mod::http_log
