// auth_request / auth_request_set, as nginx's auth_request module: in the access phase a
// subrequest (http/subrequest.h) to the configured URI decides: a 2xx response lets the request
// go on, 401 answers 401 with the subrequest's WWW-Authenticate fields, 403 answers 403, any
// other status (a failed or timed out upstream's 502/504...) answers 500 and logs "auth request
// unexpected status". auth_request_set evaluates its values in the subrequest's context once
// it is done ($upstream_http_*, $upstream_status) and sets the variables on the request.
#include <strings.h>

#include <memory>
#include <string>
#include <vector>

#include "core/log.h"
#include "core/module.h"
#include "http/error_log.h"
#include "http/http.h"
#include "http/stats.h"
#include "http/subrequest.h"

namespace mod::http_auth_request {
namespace {

using core::ConfContext;
using core::Status;

/// `auth_request_set $variable value`.
struct SetVar {
    http::ConfVariable* var = nullptr;
    http::ComplexValue value;  // registered for binding by address: never moved
};
using SetVars = std::vector<std::unique_ptr<SetVar>>;

struct AuthRequestLocConf : core::ConfBase {
    std::optional<std::string> uri;  // "": off
    /// A level's list replaces the inherited one, as nginx's.
    std::shared_ptr<SetVars> vars;
};

Status merge(const AuthRequestLocConf& parent, AuthRequestLocConf& child) {
    core::inherit(child.uri, parent.uri, std::string());
    if (!child.vars) {
        child.vars = parent.vars;
    }
    return Status::ok();
}

Status set_auth_request(ConfContext& cf, AuthRequestLocConf& conf) {
    if (conf.uri) {
        return cf.duplicate();
    }
    conf.uri = cf.arg(0) == "off" ? std::string() : cf.arg(0);
    return Status::ok();
}

Status set_auth_request_set(ConfContext& cf, AuthRequestLocConf& conf) {
    const std::string& name = cf.arg(0);
    if (name.size() < 2 || name[0] != '$') {
        return cf.error("invalid variable name \"" + name + "\"");
    }
    auto sv = std::make_unique<SetVar>();
    sv->var =
        http::declare_variable(cf.cycle(), std::string_view(name).substr(1), cf.node().where());
    if (sv->var == nullptr) {
        return cf.error("\"auth_request_set\" directive is not allowed here");
    }
    HALO_TRY(http::ComplexValue::parse(cf.arg(1), cf.node().where(), sv->value));
    http::register_complex_value(cf.cycle(), &sv->value);
    if (!conf.vars) {
        conf.vars = std::make_shared<SetVars>();
    }
    conf.vars->push_back(std::move(sv));
    return Status::ok();
}

constexpr core::Directive kDirectives[] = {
    {"auth_request", core::kCtxHttpAll, core::kArgs1, core::setter<&set_auth_request>()},
    {"auth_request_set", core::kCtxHttpAll, core::kArgs2, core::setter<&set_auth_request_set>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<AuthRequestLocConf>(core::ConfLevel::kHttpLoc),
};

/// The request's auth state: the subrequest while it runs, then what it answered.
struct AuthCtx : http::RequestCtx {
    std::unique_ptr<http::Subrequest> sr;
    bool done = false;
    bool counted = false;  // the decision went into the status counters
    int status = 0;
    std::vector<std::string> www_authenticate;
};

bool is_www_authenticate(std::string_view name) {
    return strcasecmp(std::string(name).c_str(), "WWW-Authenticate") == 0;
}

/// The subrequest is done (from the event loop): its status and WWW-Authenticate fields are
/// kept, auth_request_set evaluated in its context, before the parent's access phase resumes.
void subrequest_done(http::Request& r, http::Subrequest& sr) {
    auto* ctx = r.ctx<AuthCtx>();
    ctx->done = true;
    ctx->status = sr.status();
    for (const auto& [name, value] : sr.request().out_headers) {
        if (is_www_authenticate(name)) {
            ctx->www_authenticate.push_back(value);
        }
    }
    const auto& conf = r.loc_conf<AuthRequestLocConf>();
    if (conf.vars) {
        for (const auto& sv : *conf.vars) {
            http::set_variable(r, *sv->var, sv->value.eval(sr.request()));
        }
    }
    r.on_client_closed = nullptr;
}

/// The client went away while the subrequest ran: the request ends (499), the subrequest and
/// its upstream connection with it.
void client_closed(http::Request& r) {
    if (auto* ctx = r.ctx<AuthCtx>(); ctx != nullptr && ctx->sr) {
        ctx->sr->parent_client_closed();  // the proxy's "client prematurely closed" line
    }
    r.client_gone();
}

void count(AuthCtx& ctx, http::AuthOutcome outcome) {
    if (!ctx.counted) {
        ctx.counted = true;
        http::count_auth_request(outcome);
    }
}

/// nginx's decision on the subrequest's status (the handler again, once it is done), as an
/// access verdict that `satisfy` combines (phases.cc).
http::Flow decide(http::Request& r, AuthCtx& ctx) {
    int status = ctx.status;
    ctx.sr.reset();  // its upstream connection is done with
    if (status >= 200 && status < 300) {
        count(ctx, http::AuthOutcome::kAllowed);
        return http::Flow::kAllow;
    }
    if (status == 401 || status == 403) {
        count(ctx, http::AuthOutcome::kDenied);
        if (status == 401) {
            for (std::string& v : ctx.www_authenticate) {
                r.out_headers.emplace_back("WWW-Authenticate", std::move(v));
            }
            ctx.www_authenticate.clear();
        }
        return http::deny_access(r, status);
    }
    count(ctx, http::AuthOutcome::kFailed);
    http::log_error(r, core::LogLevel::kError,
                    "auth request unexpected status: %d while sending to client", status);
    r.keepalive = false;               // nginx closes the connection after a 500 error page
    return http::deny_access(r, 500);  // answered whatever `satisfy` says
}

http::Flow auth_request_handler(http::Request& r) {
    const auto& conf = r.loc_conf<AuthRequestLocConf>();
    if (conf.uri->empty()) {
        return http::Flow::kDeclined;
    }
    if (auto* ctx = r.ctx<AuthCtx>()) {
        if (!ctx->done) {
            return http::Flow::kSuspend;  // not resumed before it is done
        }
        return decide(r, *ctx);
    }
    auto& ctx = r.make_ctx<AuthCtx>();
    r.on_client_closed = &client_closed;
    ctx.sr = http::Subrequest::start(r, *conf.uri, {}, &subrequest_done);
    return http::Flow::kSuspend;
}

/// The handler is registered only when some level says `auth_request uri` (requests elsewhere
/// pay nothing).
Status install(core::Cycle& cycle) {
    http::HttpMainConf* main = http::http_main(cycle);
    if (main == nullptr) {
        return Status::ok();
    }
    bool used = false;
    http::for_each_location_confs(*main, [&used](core::ConfVector& confs) {
        used = used || !core::conf_of<AuthRequestLocConf>(confs).uri.value_or("").empty();
    });
    if (used) {
        http::add_phase_handler(cycle, http::Phase::kAccess, &auth_request_handler);
    }
    return Status::ok();
}

}  // namespace

extern const core::Module kModule{
    .name = "http_auth_request",
    .type = core::ModuleType::kHttp,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &install,
};

}  // namespace mod::http_auth_request
