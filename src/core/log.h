#pragma once

#include <cstdarg>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace core {

/// Severity levels, in nginx's order (debug is the most verbose).
enum class LogLevel { kEmerg = 0, kAlert, kCrit, kError, kWarn, kNotice, kInfo, kDebug };

/// Parses "debug".."emerg"; false when the word is not a level.
bool parse_log_level(std::string_view word, LogLevel& out);
std::string_view log_level_name(LogLevel level);

/// A file opened by the cycle (error and access logs). Shared by path so that one reopen
/// (logrotate, `-s reopen`) serves every user of the file.
struct OpenFile {
    std::string path;
    int fd = -1;

    ~OpenFile();
    /// Reopens `path` in append mode; on failure keeps the old descriptor and returns false.
    bool reopen(std::string* error);
};

struct SyslogPeer;

/// One `error_log` destination: a file, stderr or a syslog server, and the most verbose level
/// it records.
struct LogTarget {
    std::shared_ptr<OpenFile> file;  // nullptr (and no syslog) = stderr
    LogLevel level = LogLevel::kError;
    std::shared_ptr<const SyslogPeer> syslog;  // `syslog:server=...`: sent there instead
};

/// The error log of a cycle. Lines follow nginx's format so that existing tools keep working:
/// `2026/11/25 17:00:00 [error] 1234#0: *5 message`.
/// Process-local; every process writes with O_APPEND, one write(2) per line.
class Log {
  public:
    void add_target(LogTarget target) { targets_.push_back(std::move(target)); }
    bool empty() const { return targets_.empty(); }
    const std::vector<LogTarget>& targets() const { return targets_; }
    /// A muted log records nothing (not even on stderr, where an empty one writes).
    void mute() { muted_ = true; }
    bool enabled(LogLevel level) const;

    /// Writes one line; `conn` > 0 adds nginx's "*N " connection prefix.
    void write(LogLevel level, uint64_t conn, std::string_view message) const;
    /// printf-style write() (the message of a request error, for instance).
    void writef(LogLevel level, uint64_t conn, const char* fmt, ...) const
        __attribute__((format(printf, 4, 5)));

  private:
    std::vector<LogTarget> targets_;
    bool muted_ = false;
};

/// The log every component writes to: the running cycle's error log, or stderr before one
/// exists. Switched by the runtime when a cycle takes over.
const Log& current_log();
void set_current_log(const Log* log);

/// printf-style formatting into std::string.
std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string vformat(const char* fmt, va_list ap);

void log_msg(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void log_conn(LogLevel level, uint64_t conn, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));

}  // namespace core

#define HALO_LOG(level, ...)                                        \
    do {                                                            \
        if (::core::current_log().enabled(::core::LogLevel::level)) \
            ::core::log_msg(::core::LogLevel::level, __VA_ARGS__);  \
    } while (0)
