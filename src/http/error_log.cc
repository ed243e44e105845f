#include "http/error_log.h"

#include <cstdarg>

#include "core/core_module.h"
#include "http/http.h"

namespace http {

core::Status set_error_log(core::ConfContext& cf, HttpLocConf& conf) {
    core::LogTarget t;
    HALO_TRY(core::parse_error_log(cf, t));
    if (!conf.error_log) {
        conf.error_log = std::make_shared<core::Log>();
    }
    conf.error_log->add_target(std::move(t));
    return core::Status::ok();
}

const core::Log& server_log(const ServerBlock* server) {
    if (server != nullptr && !server->loc_confs.empty()) {
        const auto& lc = core::conf_of<HttpLocConf>(server->loc_confs);
        if (lc.error_log) {
            return *lc.error_log;
        }
    }
    return core::current_log();
}

const core::Log& request_log(const Request& r) {
    if (r.loc_confs != nullptr) {
        const auto& lc = r.loc_conf<HttpLocConf>();
        if (lc.error_log) {
            return *lc.error_log;
        }
        return core::current_log();
    }
    return server_log(r.server);
}

void log_error(const Request& r, core::LogLevel level, const char* fmt, ...) {
    const core::Log& log = request_log(r);
    if (!log.enabled(level)) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    std::string msg = core::vformat(fmt, ap);
    va_end(ap);
    msg += r.log_context();
    log.write(level, r.connection_id, msg);
}

}  // namespace http
