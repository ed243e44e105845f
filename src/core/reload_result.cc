#include "core/reload_result.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "core/conf_context.h"
#include "core/conf_file.h"
#include "core/log.h"
#include "core/sys.h"

namespace core {
namespace {

constexpr std::string_view kMagic = "halo-reload-result 1";

/// Splits "key value" off the front of `text` (one line); false at the end or on a bad line.
bool next_field(std::string_view& text, std::string_view& key, std::string_view& value) {
    size_t eol = text.find('\n');
    if (eol == std::string_view::npos) {
        return false;
    }
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol + 1);
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos) {
        return false;
    }
    key = line.substr(0, sp);
    value = line.substr(sp + 1);
    return true;
}

}  // namespace

std::string reload_result_path(const std::string& pid_path) {
    return pid_path + ".reload";
}

std::string encode_reload_result(const ReloadResult& r) {
    std::string out(kMagic);
    out += '\n';
    out += format("pid %lld\n", static_cast<long long>(r.pid));
    out += r.single ? "mode single\n" : "mode master\n";
    out += format("generation %llu\n", static_cast<unsigned long long>(r.generation));
    out += format("started %lld\n", static_cast<long long>(r.started_ns));
    out += r.ok ? "result ok\n" : "result failed\n";
    out += "message ";
    out += r.message;
    return out;
}

std::optional<ReloadResult> decode_reload_result(std::string_view text) {
    if (text.substr(0, kMagic.size()) != kMagic || text.size() == kMagic.size() ||
        text[kMagic.size()] != '\n') {
        return std::nullopt;
    }
    text.remove_prefix(kMagic.size() + 1);
    ReloadResult r;
    std::string_view key;
    std::string_view value;
    constexpr std::string_view kOrder[] = {"pid", "mode", "generation", "started", "result"};
    for (std::string_view want : kOrder) {
        if (!next_field(text, key, value) || key != want) {
            return std::nullopt;
        }
        if (key == "mode") {
            if (value != "single" && value != "master") {
                return std::nullopt;
            }
            r.single = value == "single";
        } else if (key == "result") {
            if (value != "ok" && value != "failed") {
                return std::nullopt;
            }
            r.ok = value == "ok";
        } else {
            auto n = parse_int(value);
            if (!n || *n < 0) {
                return std::nullopt;
            }
            if (key == "pid") {
                r.pid = *n;
            } else if (key == "generation") {
                r.generation = static_cast<uint64_t>(*n);
            } else {
                r.started_ns = *n;
            }
        }
    }
    if (text.substr(0, 8) != "message ") {
        return std::nullopt;
    }
    r.message = std::string(text.substr(8));
    if (r.pid <= 0) {
        return std::nullopt;
    }
    return r;
}

bool write_reload_result(const std::string& path, const ReloadResult& r, std::string* error) {
    std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        *error = format("open() \"%s\" failed (%d: %s)", tmp.c_str(), errno, strerror(errno));
        return false;
    }
    std::string text = encode_reload_result(r);
    if (!write_all(fd, text)) {
        *error = format("write() to \"%s\" failed (%d: %s)", tmp.c_str(), errno, strerror(errno));
        ::close(fd);
        ::unlink(tmp.c_str());
        return false;
    }
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        *error = format("rename() \"%s\" to \"%s\" failed (%d: %s)", tmp.c_str(), path.c_str(),
                        errno, strerror(errno));
        ::unlink(tmp.c_str());
        return false;
    }
    return true;
}

std::optional<ReloadResult> read_reload_result(const std::string& path) {
    std::string text;
    if (!read_file(path, text, nullptr)) {
        return std::nullopt;
    }
    return decode_reload_result(text);
}

int64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace core
