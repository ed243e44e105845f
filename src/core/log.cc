#include "core/log.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "core/sys.h"
#include "core/syslog.h"

namespace core {
namespace {

constexpr std::string_view kLevelNames[] = {"emerg", "alert",  "crit", "error",
                                            "warn",  "notice", "info", "debug"};

const Log kStderrLog;
const Log* g_current = &kStderrLog;
bool g_in_syslog_error = false;  // reporting a failed syslog send: no syslog sends meanwhile

}  // namespace

bool parse_log_level(std::string_view word, LogLevel& out) {
    for (size_t i = 0; i < std::size(kLevelNames); i++) {
        if (kLevelNames[i] == word) {
            out = static_cast<LogLevel>(i);
            return true;
        }
    }
    return false;
}

std::string_view log_level_name(LogLevel level) {
    return kLevelNames[static_cast<int>(level)];
}

OpenFile::~OpenFile() {
    if (fd >= 0) {
        ::close(fd);
    }
}

bool OpenFile::reopen(std::string* error) {
    int nfd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (nfd < 0) {
        if (error) {
            *error = format("open() \"%s\" failed (%d: %s)", path.c_str(), errno, strerror(errno));
        }
        return false;
    }
    if (fd >= 0) {
        ::close(fd);
    }
    fd = nfd;
    return true;
}

bool Log::enabled(LogLevel level) const {
    if (muted_) {
        return false;
    }
    if (targets_.empty()) {
        return level <= LogLevel::kNotice;
    }
    for (const auto& t : targets_) {
        if (level <= t.level) {
            return true;
        }
    }
    return false;
}

void Log::write(LogLevel level, uint64_t conn, std::string_view message) const {
    if (muted_) {
        return;
    }
    if (targets_.empty()) {
        std::string line = "halo: [";
        line += log_level_name(level);
        line += "] ";
        line += message;
        line += '\n';
        write_all(STDERR_FILENO, line);
        return;
    }
    time_t now = time(nullptr);
    struct tm tm;
    localtime_r(&now, &tm);
    char head[96];
    int n =
        snprintf(head, sizeof(head), "%04d/%02d/%02d %02d:%02d:%02d [%s] %d#0: ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 log_level_name(level).data(), static_cast<int>(getpid()));
    std::string line(head, static_cast<size_t>(n));
    if (conn > 0) {
        line += format("*%llu ", static_cast<unsigned long long>(conn));
    }
    line += message;
    line += '\n';
    for (const auto& t : targets_) {
        if (level > t.level) {
            continue;
        }
        if (!t.syslog) {
            write_all(t.file ? t.file->fd : STDERR_FILENO, line);
            continue;
        }
        if (g_in_syslog_error) {
            continue;
        }
        // As nginx: the whole line (its own time included) after the syslog header, without
        // the newline; the syslog severity is the line's level.
        std::string err;
        if (!t.syslog->send(static_cast<int>(level),
                            std::string_view(line).substr(0, line.size() - 1), &err)) {
            g_in_syslog_error = true;
            current_log().write(
                LogLevel::kAlert, 0,
                err + " while logging to syslog, server: \"" + t.syslog->server + "\"");
            g_in_syslog_error = false;
        }
    }
}

void Log::writef(LogLevel level, uint64_t conn, const char* fmt, ...) const {
    if (!enabled(level)) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    std::string s = vformat(fmt, ap);
    va_end(ap);
    write(level, conn, s);
}

const Log& current_log() {
    return *g_current;
}
void set_current_log(const Log* log) {
    g_current = log ? log : &kStderrLog;
}

std::string vformat(const char* fmt, va_list ap) {
    va_list copy;
    va_copy(copy, ap);
    char small[256];
    int n = vsnprintf(small, sizeof(small), fmt, copy);
    va_end(copy);
    if (n < 0) {
        return {};
    }
    if (static_cast<size_t>(n) < sizeof(small)) {
        return std::string(small, static_cast<size_t>(n));
    }
    std::string out(static_cast<size_t>(n) + 1, '\0');
    vsnprintf(out.data(), out.size(), fmt, ap);
    out.resize(static_cast<size_t>(n));
    return out;
}

std::string format(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::string s = vformat(fmt, ap);
    va_end(ap);
    return s;
}

void log_msg(LogLevel level, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::string s = vformat(fmt, ap);
    va_end(ap);
    current_log().write(level, 0, s);
}

void log_conn(LogLevel level, uint64_t conn, const char* fmt, ...) {
    if (!current_log().enabled(level)) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    std::string s = vformat(fmt, ap);
    va_end(ap);
    current_log().write(level, conn, s);
}

}  // namespace core
