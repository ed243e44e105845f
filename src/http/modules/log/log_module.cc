// access_log and log_format, as nginx's ngx_http_log_module: lines built from $variables,
// written with O_APPEND (one write per line or per buffer), reopened with `-s reopen`, or sent
// to syslog (one datagram per line); `if=` skips the line when its value is "" or "0". A path
// with variables is evaluated per line and its file opened per write, or kept open by
// open_log_file_cache (log_file_cache.h).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "auto_config.h"
#include "core/cycle.h"
#include "core/json.h"
#include "core/log.h"
#include "core/module.h"
#include "core/sys.h"
#include "core/syslog.h"
#include "event/runtime.h"
#include "http/error_log.h"
#include "http/http.h"
#include "http/modules/log/log_file_cache.h"

#ifdef HALO_HAVE_ZLIB
#include <zlib.h>
#endif

namespace mod::http_log {
namespace {

using core::ConfContext;
using core::Status;

enum class Escape { kDefault, kJson, kNone };

struct LogFormat {
    std::string name;
    http::ComplexValue value;
    Escape escape = Escape::kDefault;
};

struct AccessLog {
    std::shared_ptr<core::OpenFile> file;      // null for syslog and a path with variables
    std::shared_ptr<http::ComplexValue> path;  // a path with variables (made absolute)
    /// With `path`: the request's document root ($document_root), whose existence is tested
    /// before each line as nginx does (nullptr without the static module). Set at init_cycle.
    std::shared_ptr<http::ComplexValue> root;
    std::shared_ptr<core::SyslogPeer> syslog;    // access_log syslog:...
    std::shared_ptr<http::ComplexValue> filter;  // if=: no line when it is "" or "0"
    const LogFormat* format = nullptr;
    size_t buffer = 0;                                         // 0: one write per line
    std::chrono::milliseconds flush{std::chrono::seconds(1)};  // with buffer=
    int gzip = 0;  // gzip=level: each buffer written as one gzip member (0: plain)
};

struct LogMainConf : core::ConfBase {
    std::list<LogFormat> formats;  // std::list: values are bound by address later
};

struct LogLocConf : core::ConfBase {
    std::optional<std::vector<AccessLog>> logs;  // set at this level (empty: access_log off)
    bool off = false;
    /// open_log_file_cache set at this level (nullptr: off, nginx's default).
    std::optional<std::shared_ptr<LogFileCache>> cache;
};

Status merge(const LogLocConf& parent, LogLocConf& child) {
    if (!child.logs && !child.off) {
        child.logs = parent.logs;
        child.off = parent.off;
    }
    if (!child.cache) {
        child.cache = parent.cache.value_or(nullptr);
    }
    return Status::ok();
}

constexpr std::string_view kCombined =
    "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent "
    "\"$http_referer\" \"$http_user_agent\"";

const LogFormat* find_format(core::Cycle& cycle, LogMainConf& main, std::string_view name) {
    for (const LogFormat& f : main.formats) {
        if (f.name == name) {
            return &f;
        }
    }
    if (name != "combined") {
        return nullptr;
    }
    LogFormat& f = main.formats.emplace_back();
    f.name = "combined";
    if (!http::ComplexValue::parse(kCombined, "combined", f.value).is_ok()) {
        return nullptr;
    }
    http::register_complex_value(cycle, &f.value);
    return &f;
}

Status set_log_format(ConfContext& cf, LogMainConf& main) {
    const std::string& name = cf.arg(0);
    if (name == "combined") {
        return cf.error("duplicate \"log_format\" name \"combined\"");
    }
    for (const LogFormat& f : main.formats) {
        if (f.name == name) {
            return cf.error("duplicate \"log_format\" name \"" + name + "\"");
        }
    }
    LogFormat f;
    f.name = name;
    size_t first = 1;
    if (cf.args().size() > 1 && cf.arg(1).rfind("escape=", 0) == 0) {
        std::string_view e = std::string_view(cf.arg(1)).substr(7);
        if (e == "default") {
            f.escape = Escape::kDefault;
        } else if (e == "json") {
            f.escape = Escape::kJson;
        } else if (e == "none") {
            f.escape = Escape::kNone;
        } else {
            return cf.invalid_value(cf.arg(1), "it must be escape=default, json or none");
        }
        first = 2;
    }
    if (first >= cf.args().size()) {
        return cf.error("invalid number of arguments in \"log_format\" directive");
    }
    std::string text;
    for (size_t i = first; i < cf.args().size(); i++) {
        text += cf.arg(i);
    }
    LogFormat& stored = main.formats.emplace_back(std::move(f));
    HALO_TRY(http::ComplexValue::parse(text, cf.node().where(), stored.value));
    http::register_complex_value(cf.cycle(), &stored.value);
    return Status::ok();
}

Status set_access_log(ConfContext& cf, LogLocConf& conf) {
    if (cf.arg(0) == "off") {
        if (cf.args().size() != 1 || conf.logs) {
            return cf.error("invalid parameters in \"access_log off\"");
        }
        conf.off = true;
        conf.logs = std::vector<AccessLog>();
        return Status::ok();
    }
    if (conf.off) {
        return cf.error("\"access_log\" is already off at this level");
    }
    auto& main = core::conf_of<LogMainConf>(http::http_main(cf.cycle())->main_confs);
    AccessLog log;
    const std::string& path = cf.arg(0);
    if (path.starts_with("syslog:")) {
        log.syslog = std::make_shared<core::SyslogPeer>();
        std::string err;
        if (!core::parse_syslog(std::string_view(path).substr(7), *log.syslog, err)) {
            return cf.error(err);
        }
    } else if (path.find('$') != std::string::npos) {
        // As nginx: the prefix is put before the unevaluated path ("$x" too).
        log.path = std::make_shared<http::ComplexValue>();
        HALO_TRY(http::ComplexValue::parse(cf.full_path(path), cf.node().where(), *log.path));
        http::register_complex_value(cf.cycle(), log.path.get());
    } else {
        log.file = cf.cycle().open_file(cf.full_path(path));
    }
    std::string_view format = cf.args().size() > 1 ? std::string_view(cf.arg(1)) : "combined";
    log.format = find_format(cf.cycle(), main, format);
    if (log.format == nullptr) {
        return cf.error("unknown log format \"" + std::string(format) + "\"");
    }
    bool flush_set = false;
    for (size_t i = 2; i < cf.args().size(); i++) {
        std::string_view a = cf.arg(i);
        if (a.rfind("buffer=", 0) == 0) {
            auto size = core::parse_size(a.substr(7));
            if (!size || size->bytes == 0 || size->bytes > 64 * 1024 * 1024) {
                return cf.invalid_value(a, "the buffer must be 1..64m");
            }
            log.buffer = static_cast<size_t>(size->bytes);
        } else if (a.rfind("flush=", 0) == 0) {
            auto t = core::parse_duration(a.substr(6));
            if (!t || t->count() == 0) {
                return cf.invalid_value(a);
            }
            log.flush = *t;
            flush_set = true;
        } else if (a.rfind("if=", 0) == 0) {
            log.filter = std::make_shared<http::ComplexValue>();
            HALO_TRY(http::ComplexValue::parse(a.substr(3), cf.node().where(), *log.filter));
            http::register_complex_value(cf.cycle(), log.filter.get());
        } else if (a == "gzip" || a.rfind("gzip=", 0) == 0) {
#ifdef HALO_HAVE_ZLIB
            log.gzip = 1;  // Z_BEST_SPEED, as nginx
            if (a.size() > 4) {
                std::string_view level = a.substr(5);
                if (level.size() != 1 || level[0] < '1' || level[0] > '9') {
                    return cf.error("invalid compression level \"" + std::string(level) + "\"");
                }
                log.gzip = level[0] - '0';
            }
#else
            return cf.error("halo was built without zlib support");
#endif
        } else {
            return cf.error("invalid parameter \"" + std::string(a) + "\"");
        }
    }
    if (log.gzip != 0 && log.buffer == 0) {
        log.buffer = 64 * 1024;  // gzip without buffer=: nginx's 64k
    }
    if (flush_set && log.buffer == 0) {
        return cf.error("no buffer is defined for access_log \"" + path + "\"");
    }
    if (log.syslog && log.buffer != 0) {
        return cf.error("logs to syslog cannot be buffered");
    }
    if (log.path && log.buffer != 0) {
        return cf.error("buffered logs cannot have variables in name");
    }
    if (!conf.logs) {
        conf.logs = std::vector<AccessLog>();
    }
    conf.logs->push_back(std::move(log));
    return Status::ok();
}

/// `open_log_file_cache max=N [inactive=time] [min_uses=N] [valid=time] | off`, as nginx
/// parses it (times in seconds by default; no milliseconds).
Status set_open_log_file_cache(ConfContext& cf, LogLocConf& conf) {
    if (conf.cache) {
        return cf.duplicate();
    }
    uint64_t max = 0;
    auto inactive = std::chrono::milliseconds(std::chrono::seconds(10));
    auto valid = std::chrono::milliseconds(std::chrono::seconds(60));
    int min_uses = 1;
    bool off = false;  // nginx: "off" anywhere turns the cache off, whatever else is given
    for (const std::string& a : cf.args()) {
        std::string_view v(a);
        bool ok = true;
        if (v.starts_with("max=")) {
            auto n = core::parse_int(v.substr(4));
            ok = n && *n <= INT32_MAX;
            max = n.value_or(0);
        } else if (v.starts_with("inactive=") || v.starts_with("valid=")) {
            std::string_view t = v.substr(v.find('=') + 1);
            auto d = core::parse_duration(t);
            ok = d && t.find("ms") == std::string_view::npos;
            (v[0] == 'i' ? inactive : valid) = d.value_or(inactive);
        } else if (v.starts_with("min_uses=")) {
            auto n = core::parse_int(v.substr(9));
            ok = n && *n <= INT32_MAX;
            min_uses = static_cast<int>(n.value_or(0));
        } else if (v == "off") {
            off = true;
        } else {
            ok = false;
        }
        if (!ok) {
            return cf.error("invalid \"open_log_file_cache\" parameter \"" + a + "\"");
        }
    }
    if (off) {
        conf.cache = nullptr;
        return Status::ok();
    }
    if (max == 0) {
        return cf.error("\"open_log_file_cache\" must have \"max\" parameter");
    }
    conf.cache = std::make_shared<LogFileCache>(max, inactive, min_uses, valid);
    return Status::ok();
}

constexpr core::Directive kDirectives[] = {
    {"log_format", core::kCtxHttp, core::kArgs1ToN, core::setter<&set_log_format>()},
    {"access_log", core::kCtxHttpAll | core::kCtxLocationIf | core::kCtxLimitExcept,
     core::kArgs1ToN, core::setter<&set_access_log>()},
    {"open_log_file_cache", core::kCtxHttpAll, core::Args{1, 4, false},
     core::setter<&set_open_log_file_cache>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<LogMainConf>(core::ConfLevel::kHttpMain),
    core::conf_hooks<LogLocConf>(core::ConfLevel::kHttpLoc),
};

// ---- runtime (per process) ----

std::string escape_json(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    core::append_json_escaped(out, v);
    return out;
}

void write_all(core::OpenFile& f, std::string_view data) {
    if (!core::write_all(f.fd, data)) {
        HALO_LOG(kAlert, "write() to \"%s\" failed (%d: %s)", f.path.c_str(), errno,
                 strerror(errno));
    }
}

/// Buffered lines of one file in this process (access_log ... buffer=).
struct Pending {
    std::string data;
    int gzip = 0;  // compression level of the file's access_log (0: plain)
    std::unique_ptr<ev::Timer> timer;
};
std::unordered_map<core::OpenFile*, Pending>* g_pending = nullptr;

#ifdef HALO_HAVE_ZLIB
/// `in` as one whole gzip member (RFC 1952), as nginx writes a buffer of a gzip access log.
bool gzip_member(std::string_view in, int level, std::string& out) {
    z_stream zs{};
    if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        return false;
    }
    out.resize(deflateBound(&zs, in.size()) + 64);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    int rc = deflate(&zs, Z_FINISH);
    out.resize(out.size() - zs.avail_out);
    deflateEnd(&zs);
    return rc == Z_STREAM_END;
}
#endif

void flush(core::OpenFile& f, Pending& p) {
    if (p.data.empty()) {
        return;
    }
#ifdef HALO_HAVE_ZLIB
    if (p.gzip != 0) {
        std::string member;
        if (gzip_member(p.data, p.gzip, member)) {
            write_all(f, member);
        } else {
            HALO_LOG(kAlert, "deflate() of \"%s\" failed", f.path.c_str());
        }
        p.data.clear();
        return;
    }
#endif
    write_all(f, p.data);
    p.data.clear();
}

void flush_all() {
    if (g_pending == nullptr) {
        return;
    }
    for (auto& [file, p] : *g_pending) {
        flush(*file, p);
    }
}

/// A line of an access_log whose path has variables, as nginx: no line when the request's
/// document root is missing (an error logged), the path evaluated, the file opened (or taken
/// from open_log_file_cache), written and closed. Failures are logged; the request is not
/// affected.
void write_to_path(const http::Request& r, const AccessLog& log, const LogLocConf& lc,
                   std::string_view line) {
    if (log.root) {
        std::string root = log.root->eval(r);
        struct stat st {};
        int err = 0;
        if (!root.empty() && stat(root.c_str(), &st) != 0) {
            err = errno;
        } else if (!root.empty() && !S_ISDIR(st.st_mode)) {
            err = ENOTDIR;
        }
        if (err != 0) {
            http::log_error(r, core::LogLevel::kError,
                            "testing \"%s\" existence failed (%d: %s) while logging request",
                            root.c_str(), err, strerror(err));
            return;
        }
    }
    std::string path = log.path->eval(r);
    if (path.find('\0') != std::string::npos) {
        return;
    }
    LogFileCache::Open f;
    if (*lc.cache) {
        f = (*lc.cache)->open(path, LogFileCache::Clock::now());
    } else {
        f.fd = open_log_file(path);
    }
    if (f.fd < 0) {
        int err = errno;
        http::log_error(r, core::LogLevel::kCrit,
                        "open() \"%s\" failed (%d: %s) while logging request",
                        http::escape_log(path).c_str(), err, strerror(err));
        return;
    }
    if (!core::write_all(f.fd, line)) {
        int err = errno;
        http::log_error(r, core::LogLevel::kAlert,
                        "write() to \"%s\" failed (%d: %s) while logging request",
                        http::escape_log(path).c_str(), err, strerror(err));
    }
    if (!f.kept) {
        ::close(f.fd);
    }
}

http::Flow log_handler(http::Request& r) {
    const auto& lc = r.loc_conf<LogLocConf>();
    if (lc.off || !lc.logs) {
        return http::Flow::kDeclined;
    }
    std::string line;
    for (const AccessLog& log : *lc.logs) {
        if (log.filter) {
            line.clear();
            log.filter->eval(r, line);
            if (line.empty() || line == "0") {
                continue;
            }
        }
        line.clear();
        switch (log.format->escape) {
            case Escape::kDefault:
                log.format->value.eval(r, line, "-", &http::escape_log);
                break;
            case Escape::kJson:
                log.format->value.eval(r, line, "", &escape_json);
                break;
            case Escape::kNone:
                log.format->value.eval(r, line, "-");
                break;
        }
        if (log.syslog) {
            std::string err;
            if (!log.syslog->send(log.syslog->severity, line, &err)) {
                HALO_LOG(kWarn, "send() to syslog failed (%s), server: \"%s\"", err.c_str(),
                         log.syslog->server.c_str());
            }
            continue;
        }
        line += '\n';
        if (log.path) {
            write_to_path(r, log, lc, line);
            continue;
        }
        if (log.buffer == 0 || g_pending == nullptr) {
            write_all(*log.file, line);
            continue;
        }
        Pending& p = (*g_pending)[log.file.get()];
        p.gzip = log.gzip;
        if (p.data.size() + line.size() > log.buffer) {
            flush(*log.file, p);
        }
        p.data += line;
        if (!p.timer) {
            core::OpenFile* file = log.file.get();
            p.timer = ev::Runtime::current().loop().make_timer([file] {
                auto it = g_pending->find(file);
                if (it != g_pending->end()) {
                    flush(*file, it->second);
                }
            });
        }
        if (!p.timer->armed()) {
            p.timer->arm(log.flush);
        }
    }
    return http::Flow::kDeclined;
}

Status postconfiguration(core::Cycle& cycle) {
    http::HttpMainConf* main = http::http_main(cycle);
    if (main == nullptr) {
        return Status::ok();
    }
    http::add_phase_handler(cycle, http::Phase::kLog, &log_handler);
    // No access_log anywhere at a level: logs/access.log in the combined format, as nginx.
    auto& lm = core::conf_of<LogMainConf>(main->main_confs);
    const LogFormat* combined = find_format(cycle, lm, "combined");
    std::shared_ptr<core::OpenFile> file;
    http::for_each_location_confs(*main, [&](core::ConfVector& confs) {
        auto& lc = core::conf_of<LogLocConf>(confs);
        if (!lc.logs && !lc.off) {
            if (!file) {
                file = cycle.open_file(cycle.full_path("logs/access.log"));
            }
            AccessLog log;
            log.file = file;
            log.format = combined;
            lc.logs = std::vector<AccessLog>{std::move(log)};
        }
    });
    return Status::ok();
}

/// Once every module registered its variables: the root test of the logs with variables
/// reads $document_root when the static module provides it.
Status init_cycle(core::Cycle& cycle) {
    http::HttpMainConf* main = http::http_main(cycle);
    if (main == nullptr) {
        return Status::ok();
    }
    bool have_root = false;
    for (const http::VariableDef& v : main->variables) {
        have_root = have_root || (v.name == "document_root" && !v.prefix);
    }
    if (!have_root) {
        return Status::ok();
    }
    auto root = std::make_shared<http::ComplexValue>();
    HALO_TRY(http::ComplexValue::parse("$document_root", "access_log", *root));
    HALO_TRY(root->bind(*main));
    http::for_each_location_confs(*main, [&](core::ConfVector& confs) {
        auto& lc = core::conf_of<LogLocConf>(confs);
        if (lc.logs) {
            for (AccessLog& log : *lc.logs) {
                if (log.path) {
                    log.root = root;
                }
            }
        }
    });
    return Status::ok();
}

Status init_process(core::Cycle& cycle, const core::ProcessInfo&) {
    static std::unordered_map<core::OpenFile*, Pending> pending;
    g_pending = &pending;
    cycle.before_reopen.push_back(&flush_all);  // buffered lines belong to the old file
    // `-s reopen` closes the kept files of paths with variables: the next line opens its file
    // by name (nginx keeps writing to a moved file until valid= elapses).
    std::vector<LogFileCache*> caches;
    if (http::HttpMainConf* main = http::http_main(cycle)) {
        http::for_each_location_confs(*main, [&](core::ConfVector& confs) {
            LogFileCache* c = core::conf_of<LogLocConf>(confs).cache.value_or(nullptr).get();
            if (c != nullptr && std::find(caches.begin(), caches.end(), c) == caches.end()) {
                caches.push_back(c);
            }
        });
    }
    if (!caches.empty()) {
        cycle.before_reopen.push_back([caches] {
            for (LogFileCache* c : caches) {
                c->clear();
            }
        });
    }
    return Status::ok();
}

void exit_process(core::Cycle&) {
    flush_all();
}

}  // namespace

extern const core::Module kModule{
    .name = "http_log",
    .type = core::ModuleType::kHttp,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &postconfiguration,
    .init_cycle = &init_cycle,
    .init_process = &init_process,
    .exit_process = &exit_process,
};

}  // namespace mod::http_log
