// access_log and log_format in stream, as nginx's ngx_stream_log_module: when a session ends
// (the log phase) a line built from the stream variables is appended to a file (one write per
// line, reopened with `-s reopen`) or sent to syslog; `if=` skips the line when its value is
// "" or "0". Unlike http there is no predefined "combined" format: an access_log names its
// format, and without one the stream block logs nothing.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/cycle.h"
#include "core/json.h"
#include "core/log.h"
#include "core/module.h"
#include "core/sys.h"
#include "core/syslog.h"
#include "stream/stream.h"

namespace mod::stream_log {
namespace {

using core::ConfContext;
using core::Status;

enum class Escape { kDefault, kJson, kNone };

struct LogFormat {
    std::string name;
    stream::ComplexValue value;
    Escape escape = Escape::kDefault;
};

struct AccessLog {
    std::shared_ptr<core::OpenFile> file;          // null for syslog and a path with variables
    std::shared_ptr<stream::ComplexValue> path;    // a path with variables (made absolute)
    std::shared_ptr<core::SyslogPeer> syslog;      // access_log syslog:...
    std::shared_ptr<stream::ComplexValue> filter;  // if=: no line when it is "" or "0"
    const LogFormat* format = nullptr;
};

struct LogMainConf : core::ConfBase {
    std::list<LogFormat> formats;  // std::list: values are bound by address later
};

struct LogSrvConf : core::ConfBase {
    std::optional<std::vector<AccessLog>> logs;  // set at this level
    bool off = false;                            // `access_log off` at this level
};

Status merge(const LogSrvConf& parent, LogSrvConf& child) {
    if (!child.logs && !child.off) {
        child.logs = parent.logs;
        child.off = parent.off;
    }
    return Status::ok();
}

Status set_log_format(ConfContext& cf, LogMainConf& main) {
    const std::string& name = cf.arg(0);
    for (const LogFormat& f : main.formats) {
        if (f.name == name) {
            return cf.error("duplicate \"log_format\" name \"" + name + "\"");
        }
    }
    LogFormat f;
    f.name = name;
    size_t first = 1;
    if (cf.args().size() > 1 && cf.arg(1).starts_with("escape=")) {
        std::string_view e = std::string_view(cf.arg(1)).substr(7);
        if (e == "default") {
            f.escape = Escape::kDefault;
        } else if (e == "json") {
            f.escape = Escape::kJson;
        } else if (e == "none") {
            f.escape = Escape::kNone;
        } else {
            return cf.error("unknown log format escaping \"" + std::string(e) + "\"");
        }
        first = 2;
    }
    std::string text;
    for (size_t i = first; i < cf.args().size(); i++) {
        text += cf.arg(i);
    }
    LogFormat& stored = main.formats.emplace_back(std::move(f));
    HALO_TRY(stream::ComplexValue::parse(text, cf.node().where(), stored.value));
    stream::register_complex_value(cf.cycle(), &stored.value);
    return Status::ok();
}

Status parse_log_parameter(ConfContext& cf, std::string_view a, AccessLog& log) {
    if (a.starts_with("if=")) {
        log.filter = std::make_shared<stream::ComplexValue>();
        HALO_TRY(stream::ComplexValue::parse(a.substr(3), cf.node().where(), *log.filter));
        stream::register_complex_value(cf.cycle(), log.filter.get());
        return Status::ok();
    }
    if (a.starts_with("buffer=") || a.starts_with("flush=") || a == "gzip" ||
        a.starts_with("gzip=")) {
        std::string name(a.substr(0, a.find('=')));
        return cf.error("the \"" + name +
                        "\" parameter of a stream \"access_log\" is not supported by halo "
                        "yet: each session's line is written when the session ends");
    }
    return cf.error("invalid parameter \"" + std::string(a) + "\"");
}

Status set_access_log(ConfContext& cf, LogSrvConf& conf) {
    if (cf.arg(0) == "off") {
        if (cf.args().size() > 1) {
            return cf.error("invalid parameter \"" + cf.arg(1) + "\"");
        }
        conf.off = true;
        return Status::ok();
    }
    if (cf.args().size() < 2) {
        return cf.error("log format is not specified");
    }
    auto* smain = stream::stream_main(cf.cycle());
    auto& main = core::conf_of<LogMainConf>(smain->main_confs);
    AccessLog log;
    const std::string& path = cf.arg(0);
    if (path.starts_with("syslog:")) {
        log.syslog = std::make_shared<core::SyslogPeer>();
        std::string err;
        if (!core::parse_syslog(std::string_view(path).substr(7), *log.syslog, err)) {
            return cf.error(err);
        }
    } else if (path.find('$') != std::string::npos) {
        log.path = std::make_shared<stream::ComplexValue>();
        HALO_TRY(stream::ComplexValue::parse(cf.full_path(path), cf.node().where(), *log.path));
        stream::register_complex_value(cf.cycle(), log.path.get());
    } else {
        log.file = cf.cycle().open_file(cf.full_path(path));
    }
    for (const LogFormat& f : main.formats) {
        if (f.name == cf.arg(1)) {
            log.format = &f;
        }
    }
    if (log.format == nullptr) {
        return cf.error("unknown log format \"" + cf.arg(1) + "\"");
    }
    for (size_t i = 2; i < cf.args().size(); i++) {
        HALO_TRY(parse_log_parameter(cf, cf.arg(i), log));
    }
    if (!conf.logs) {
        conf.logs = std::vector<AccessLog>();
    }
    conf.logs->push_back(std::move(log));
    return Status::ok();
}

Status refuse_cache(ConfContext& cf) {
    return cf.error(
        "\"open_log_file_cache\" is not supported by halo in stream yet: a stream access_log "
        "with variables in its path opens its file for each line");
}

constexpr core::Directive kDirectives[] = {
    {"log_format", core::kCtxStream, core::kArgs2ToN, core::setter<&set_log_format>()},
    {"access_log", core::kCtxStreamAll, core::kArgs1ToN, core::setter<&set_access_log>()},
    {"open_log_file_cache", core::kCtxStreamAll, core::Args{1, 4, false},
     core::setter_noconf<&refuse_cache>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<LogMainConf>(core::ConfLevel::kStreamMain),
    core::conf_hooks<LogSrvConf>(core::ConfLevel::kStreamSrv),
};

// ---- runtime ----

/// nginx's default escaping of a variable's value: '"', '\' and bytes outside 0x20..0x7e
/// become \xHH.
void escape_default(std::string_view in, std::string& out) {
    for (unsigned char c : in) {
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            char hex[5];
            snprintf(hex, sizeof(hex), "\\x%02X", c);
            out += hex;
        } else {
            out += static_cast<char>(c);
        }
    }
}

void escape_json(std::string_view in, std::string& out) {
    core::append_json_escaped(out, in);
}

std::string format_line(const stream::Session& s, const LogFormat& f) {
    std::string out;
    switch (f.escape) {
        case Escape::kDefault:
            f.value.eval(s, out, "-", &escape_default);
            break;
        case Escape::kJson:
            f.value.eval(s, out, "", &escape_json);
            break;
        case Escape::kNone:
            f.value.eval(s, out, "-");
            break;
    }
    return out;
}

void write_to_path(const stream::Session& s, const AccessLog& log, std::string_view line) {
    std::string path = log.path->eval(s);
    if (path.find('\0') != std::string::npos) {
        return;
    }
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        int err = errno;
        HALO_LOG(kCrit, "open() \"%s\" failed (%d: %s) while logging session, client: %s",
                 path.c_str(), err, strerror(err), s.peer.host_text().c_str());
        return;
    }
    if (!core::write_all(fd, line)) {
        int err = errno;
        HALO_LOG(kAlert, "write() to \"%s\" failed (%d: %s) while logging session", path.c_str(),
                 err, strerror(err));
    }
    ::close(fd);
}

stream::Flow log_handler(stream::Session& s) {
    const auto& c = s.srv_conf<LogSrvConf>();
    if (c.off || !c.logs) {
        return stream::Flow::kDeclined;
    }
    for (const AccessLog& log : *c.logs) {
        if (log.filter) {
            std::string v = log.filter->eval(s);
            if (v.empty() || v == "0") {
                continue;
            }
        }
        std::string line = format_line(s, *log.format);
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
            write_to_path(s, log, line);
        } else if (!core::write_all(log.file->fd, line)) {
            HALO_LOG(kAlert, "write() to \"%s\" failed (%d: %s)", log.file->path.c_str(), errno,
                     strerror(errno));
        }
    }
    return stream::Flow::kDeclined;
}

Status postconfiguration(core::Cycle& cycle) {
    stream::add_phase_handler(cycle, stream::Phase::kLog, &log_handler);
    return Status::ok();
}

}  // namespace

extern const core::Module kModule{
    .name = "stream_log",
    .type = core::ModuleType::kStream,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &postconfiguration,
};

}  // namespace mod::stream_log
