#include "core/core_module.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include "core/cycle.h"
#include "core/module.h"

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

}  // namespace

/// `error_log file|stderr [level]`: may be given several times; every target gets the lines
/// at its level or more severe.
Status set_error_log(ConfContext& cf, CoreConf& conf) {
    LogLevel level = LogLevel::kError;
    if (cf.args().size() > 1 && !parse_log_level(cf.arg(1), level)) {
        return cf.invalid_value(cf.arg(1),
                                "it must be one of debug, info, notice, warn, error, crit, "
                                "alert, emerg");
    }
    LogTarget t;
    t.level = level;
    if (cf.arg(0) != "stderr") {
        t.file = cf.cycle().open_file(cf.full_path(cf.arg(0)));
    }
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
    {"error_log", kCtxMain, kArgs1To2, setter<&set_error_log>()},
};

constexpr ConfHooks kConfs[] = {conf_hooks<CoreConf>(ConfLevel::kMain)};

}  // namespace

Status merge(const CoreConf& parent, CoreConf& child) {
    inherit(child.daemon, parent.daemon, true);
    inherit(child.master_process, parent.master_process, true);
    inherit(child.worker_processes, parent.worker_processes, 1);
    inherit(child.user, parent.user, "nobody");
    return Status::ok();
}

extern const Module kCoreModule{
    .name = "core",
    .type = ModuleType::kCore,
    .directives = kDirectives,
    .confs = kConfs,
};

}  // namespace core
