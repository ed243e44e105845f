#include "core/core_module.h"

#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <unistd.h>

#include "core/cycle.h"
#include "core/module.h"
#include "core/syslog.h"

namespace core {
namespace {

Status set_worker_processes(ConfContext& cf, CoreConf& conf) {
    if (conf.worker_processes) {
        return cf.duplicate();
    }
    if (cf.arg(0) == "auto") {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        conf.worker_processes = n > 0 ? static_cast<int>(n) : 1;
        return Status::ok();
    }
    auto v = parse_int(cf.arg(0));
    if (!v || *v < 1 || *v > 1024) {
        return cf.invalid_value(cf.arg(0), "it must be \"auto\" or 1..1024");
    }
    conf.worker_processes = static_cast<int>(*v);
    return Status::ok();
}

Status set_user(ConfContext& cf, CoreConf& conf) {
    if (conf.user) {
        return cf.duplicate();
    }
    conf.user = cf.arg(0);
    if (cf.args().size() > 1) {
        conf.group = cf.arg(1);
    }
    return Status::ok();
}

/// `env VAR[=VALUE]` (nginx's ngx_set_env): kept in order, applied in each worker.
Status set_env(ConfContext& cf, CoreConf& conf) {
    const std::string& v = cf.arg(0);
    if (v.empty() || v[0] == '=') {
        return cf.invalid_value(v, "it must be a variable name, optionally with \"=value\"");
    }
    conf.env.push_back(v);
    return Status::ok();
}

/// `worker_priority [-+]N` (nginx: any number; the kernel clamps it to -20..19).
Status set_priority(ConfContext& cf, CoreConf& conf) {
    if (conf.priority) {
        return cf.duplicate();
    }
    std::string_view v = cf.arg(0);
    bool minus = !v.empty() && v[0] == '-';
    if (!v.empty() && (v[0] == '-' || v[0] == '+')) {
        v.remove_prefix(1);
    }
    auto n = parse_int(v);
    if (!n || *n > 1000) {
        return cf.error("\"worker_priority\" directive invalid number");
    }
    conf.priority = static_cast<int>(minus ? -*n : *n);
    return Status::ok();
}

/// `worker_cpu_affinity auto [mask]` or `mask...`: masks of '0'/'1', the rightmost is CPU 0
/// (spaces are skipped, as nginx does).
Status set_cpu_affinity(ConfContext& cf, CoreConf& conf) {
    if (!conf.cpu_affinity.empty()) {
        return cf.duplicate();
    }
    size_t first = 0;
    if (cf.arg(0) == "auto") {
        if (cf.args().size() > 2) {
            return cf.error("invalid number of arguments in \"worker_cpu_affinity\" directive");
        }
        conf.cpu_affinity_auto = true;
        first = 1;
        if (cf.args().size() == 1) {
            long n = sysconf(_SC_NPROCESSORS_ONLN);
            conf.cpu_affinity.emplace_back(static_cast<size_t>(n > 0 ? n : 1), true);
            return Status::ok();
        }
    }
    for (size_t i = first; i < cf.args().size(); i++) {
        const std::string& mask = cf.arg(i);
        if (mask.size() > CPU_SETSIZE) {
            return cf.error(format("\"worker_cpu_affinity\" supports up to %d CPUs only",
                                   static_cast<int>(CPU_SETSIZE)));
        }
        std::vector<bool> cpus;
        for (auto c = mask.rbegin(); c != mask.rend(); ++c) {
            if (*c == ' ') {
                continue;
            }
            if (*c != '0' && *c != '1') {
                return cf.error(format("invalid character \"%c\" in \"worker_cpu_affinity\"", *c));
            }
            cpus.push_back(*c == '1');
        }
        conf.cpu_affinity.push_back(std::move(cpus));
    }
    return Status::ok();
}

/// `worker_rlimit_core size` (nginx's off_t slot and its wording).
Status set_rlimit_core(ConfContext& cf, CoreConf& conf) {
    if (conf.rlimit_core) {
        return cf.duplicate();
    }
    auto size = parse_size(cf.arg(0));
    if (!size) {
        return cf.error("\"worker_rlimit_core\" directive invalid value");
    }
    conf.rlimit_core = *size;
    return Status::ok();
}

/// `load_module file`: halo has no dynamic modules; a module it has compiled in is accepted.
Status refuse_load_module(ConfContext& cf) {
    std::string name = cf.arg(0);
    if (size_t slash = name.rfind('/'); slash != std::string::npos) {
        name.erase(0, slash + 1);
    }
    if (name.size() > 3 && name.ends_with(".so")) {
        name.resize(name.size() - 3);
    }
    std::string halo_name = name;
    if (halo_name.starts_with("ngx_")) {
        halo_name.erase(0, 4);
    }
    if (halo_name.ends_with("_module")) {
        halo_name.resize(halo_name.size() - 7);
    }
    if (cf.registry().find(halo_name) != nullptr) {
        // The module is in the binary already: what nginx's line loads is there (Debian's
        // modules-enabled/ files, such as 50-mod-stream.conf, work as they are).
        return Status::ok();
    }
    return cf.error(
        "\"load_module\" is not supported by halo: halo compiles its modules in with "
        "./configure; module \"" +
        name + "\" cannot be loaded (halo -V lists the modules compiled in)");
}

Status refuse_thread_pool(ConfContext& cf) {
    return cf.error(
        "\"thread_pool\" is not supported by halo: halo reads no files in threads (nginx's "
        "\"aio threads\"), remove the directive");
}

Status refuse_timer_resolution(ConfContext& cf) {
    return cf.error(
        "\"timer_resolution\" is not supported by halo: its event loop reads the clock once "
        "per iteration through the vDSO (no system call), which is what timer_resolution "
        "saves in nginx; remove the directive");
}

}  // namespace

Status parse_error_log(ConfContext& cf, LogTarget& out) {
    std::optional<LogLevel> level;
    for (size_t i = 1; i < cf.args().size(); i++) {
        const std::string& word = cf.arg(i);
        LogLevel l = LogLevel::kError;
        if (parse_log_level(word, l)) {
            if (level) {
                return cf.error("duplicate log level \"" + word + "\"");
            }
            level = l;
        } else if (word.starts_with("debug_")) {
            return cf.error("\"" + word +
                            "\" log level is not supported by halo: it has no debug log per "
                            "subsystem, use \"debug\"");
        } else {
            return cf.error("invalid log level \"" + word + "\"");
        }
    }
    out.level = level.value_or(LogLevel::kError);
    const std::string& where = cf.arg(0);
    if (where == "stderr") {
        return Status::ok();
    }
    if (where.starts_with("memory:")) {
        return cf.error(
            "\"memory:\" error log is not supported by halo: it is nginx's in-memory debug "
            "buffer for core dumps, use a file, \"stderr\" or \"syslog:\"");
    }
    if (where.starts_with("syslog:")) {
        auto peer = std::make_shared<SyslogPeer>();
        std::string err;
        if (!parse_syslog(std::string_view(where).substr(7), *peer, err)) {
            return cf.error(err);
        }
        out.syslog = std::move(peer);
        return Status::ok();
    }
    out.file = cf.cycle().open_file(cf.full_path(where));
    return Status::ok();
}

/// `error_log file|stderr|syslog:... [level]`: may be given several times; every target gets
/// the lines at its level or more severe.
Status set_error_log(ConfContext& cf, CoreConf& conf) {
    LogTarget t;
    HALO_TRY(parse_error_log(cf, t));
    if (conf.error_logs.empty()) {
        conf.first_error_log_where = cf.node().where();
    }
    conf.error_logs.push_back(std::move(t));
    return Status::ok();
}

namespace {

constexpr Directive kDirectives[] = {
    {"daemon", kCtxMain, kArgs1, slot<&CoreConf::daemon>()},
    {"master_process", kCtxMain, kArgs1, slot<&CoreConf::master_process>()},
    {"worker_processes", kCtxMain, kArgs1, setter<&set_worker_processes>()},
    {"pid", kCtxMain, kArgs1, path_slot<&CoreConf::pid>()},
    {"user", kCtxMain, kArgs1To2, setter<&set_user>()},
    {"worker_rlimit_nofile", kCtxMain, kArgs1, slot<&CoreConf::rlimit_nofile, 1, 1048576>()},
    {"worker_shutdown_timeout", kCtxMain, kArgs1, slot<&CoreConf::shutdown_timeout>()},
    {"error_log", kCtxMain, kArgs1ToN, setter<&set_error_log>()},
    {"env", kCtxMain, kArgs1, setter<&set_env>()},
    {"worker_priority", kCtxMain, kArgs1, setter<&set_priority>()},
    {"worker_cpu_affinity", kCtxMain, kArgs1ToN, setter<&set_cpu_affinity>()},
    {"worker_rlimit_core", kCtxMain, kArgs1, setter<&set_rlimit_core>()},
    {"working_directory", kCtxMain, kArgs1, slot<&CoreConf::working_directory>()},
    {"pcre_jit", kCtxMain, kArgs1, slot<&CoreConf::pcre_jit>()},
    {"load_module", kCtxMain, kArgs1, setter_noconf<&refuse_load_module>()},
    {"thread_pool", kCtxMain, kArgs1ToN, setter_noconf<&refuse_thread_pool>()},
    {"timer_resolution", kCtxMain, kArgs1, setter_noconf<&refuse_timer_resolution>()},
};

constexpr ConfHooks kConfs[] = {conf_hooks<CoreConf>(ConfLevel::kMain)};

}  // namespace

Status merge(const CoreConf& parent, CoreConf& child) {
    inherit(child.daemon, parent.daemon, true);
    inherit(child.master_process, parent.master_process, true);
    inherit(child.worker_processes, parent.worker_processes, 1);
    inherit(child.user, parent.user, "nobody");
    inherit(child.pcre_jit, parent.pcre_jit, true);
    return Status::ok();
}

extern const Module kCoreModule{
    .name = "core",
    .type = ModuleType::kCore,
    .directives = kDirectives,
    .confs = kConfs,
};

}  // namespace core
