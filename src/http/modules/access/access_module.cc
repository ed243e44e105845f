// allow / deny, as nginx's access module: rules in order, the first that matches the client
// address decides: an allow lets the request in, a deny refuses it with 403 (both through the
// access phase's satisfy contract, phases.cc). Rules of a level replace the inherited ones.
#include <memory>
#include <vector>

#include "core/log.h"
#include "core/module.h"
#include "core/net.h"
#include "http/error_log.h"
#include "http/http.h"

namespace mod::http_access {
namespace {

using core::ConfContext;
using core::Status;

struct Rule {
    core::Cidr cidr;
    bool allow = false;
};

struct AccessLocConf : core::ConfBase {
    std::shared_ptr<std::vector<Rule>> rules;
};

Status merge(const AccessLocConf& parent, AccessLocConf& child) {
    if (!child.rules) {
        child.rules = parent.rules;
    }
    return Status::ok();
}

Status set_rule(ConfContext& cf, AccessLocConf& conf) {
    auto cidr = core::Cidr::parse(cf.arg(0));
    if (!cidr) {
        return cf.invalid_value(cf.arg(0), "expected an address, a CIDR block or \"all\"");
    }
    if (!conf.rules) {
        conf.rules = std::make_shared<std::vector<Rule>>();
    }
    conf.rules->push_back(Rule{*cidr, cf.name() == "allow"});
    return Status::ok();
}

constexpr core::Directive kDirectives[] = {
    {"allow", core::kCtxHttpAll | core::kCtxLimitExcept, core::kArgs1, core::setter<&set_rule>()},
    {"deny", core::kCtxHttpAll | core::kCtxLimitExcept, core::kArgs1, core::setter<&set_rule>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<AccessLocConf>(core::ConfLevel::kHttpLoc),
};

http::Flow access_handler(http::Request& r) {
    const auto& c = r.loc_conf<AccessLocConf>();
    if (!c.rules) {
        return http::Flow::kDeclined;
    }
    for (const Rule& rule : *c.rules) {
        if (rule.cidr.contains(r.peer)) {
            if (rule.allow) {
                return http::Flow::kAllow;
            }
            // Under `satisfy any` the engine logs it, if no other check lets the request in.
            if (!r.loc_conf<http::HttpLocConf>().satisfy_any.value_or(false)) {
                http::log_error(r, core::LogLevel::kError, "access forbidden by rule");
            }
            return http::deny_access(r, 403);
        }
    }
    return http::Flow::kDeclined;
}

constexpr http::PhaseHandlerEntry kPhaseHandlers[] = {
    {http::Phase::kAccess, &access_handler},
};

}  // namespace

extern const core::Module kModule{
    .name = "http_access",
    .type = core::ModuleType::kHttp,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &http::register_phase_handlers<kPhaseHandlers>,
};

}  // namespace mod::http_access
