#pragma once
// The files of access_log paths with variables (nginx's open_log_file_cache): without a cache
// each line opens its file, writes and closes it; with one, a worker keeps the descriptors of
// the files it used recently. Runtime only, testable without the config system.
#include <sys/types.h>

#include <chrono>
#include <list>
#include <string>
#include <unordered_map>

namespace mod::http_log {

/// Opens `path` for appending, creating it (0644) when missing, as nginx opens a log file;
/// -1 with errno set on error.
int open_log_file(const std::string& path);

/// Descriptors of log files kept open between writes in one worker, with nginx's rules: at
/// most `max` files (the least recently used is closed first); a file not used for
/// `inactive` is closed, at the latest when one of the next lookups passes it (two per
/// lookup, as nginx); a descriptor is kept only once its file was used `min_uses` times while
/// in the cache; after `valid` the name is checked again (stat()): a file that was moved or
/// removed (log rotation) is reopened by name. Made with the configuration (master), used in
/// each worker after the fork; clear() on `-s reopen`. Not thread-safe (one event loop).
class LogFileCache {
  public:
    using Clock = std::chrono::steady_clock;

    LogFileCache(size_t max, std::chrono::milliseconds inactive, int min_uses,
                 std::chrono::milliseconds valid);
    LogFileCache(const LogFileCache&) = delete;
    LogFileCache& operator=(const LogFileCache&) = delete;
    ~LogFileCache();

    /// A descriptor for appending to `path` at time `now`; `fd` -1 (errno set) when it cannot
    /// be opened. With `kept` the cache owns it (do not close); otherwise the caller closes
    /// it after the write.
    struct Open {
        int fd = -1;
        bool kept = false;
    };
    Open open(const std::string& path, Clock::time_point now);

    /// Closes every descriptor and forgets every file (`-s reopen`).
    void clear();
    /// How many descriptors the cache holds open (for tests).
    size_t open_descriptors() const;
    /// Whether the cache holds a descriptor for `path` (for tests).
    bool holds(const std::string& path) const;

    size_t max() const { return max_; }
    std::chrono::milliseconds inactive() const { return inactive_; }
    int min_uses() const { return min_uses_; }
    std::chrono::milliseconds valid() const { return valid_; }

  private:
    struct Entry {
        std::string path;
        int fd = -1;  // -1 until the file was used min_uses times
        dev_t dev = 0;
        ino_t ino = 0;
        int uses = 0;
        Clock::time_point created;   // opened or checked by name at
        Clock::time_point accessed;  // last use
    };
    using Iter = std::list<Entry>::iterator;
    void expire(Clock::time_point now, bool force);
    void drop(Iter it);
    Open keep_or_hand_over(Entry& e, int fd, Clock::time_point now);

    size_t max_;
    std::chrono::milliseconds inactive_;
    int min_uses_;
    std::chrono::milliseconds valid_;
    std::list<Entry> lru_;  // most recently used first
    std::unordered_map<std::string, Iter> index_;
};

}  // namespace mod::http_log
