// `return code [text|URL]; return URL;` — answer at once, in server_rewrite (server level) or
// rewrite (location level), as nginx's rewrite module does.
#include <optional>
#include <string>

#include "core/module.h"
#include "http/http.h"

namespace mod::http_return {
namespace {

using core::ConfContext;
using core::Status;

struct Action {
    int code = 0;
    http::ComplexValue text;  // body, or the Location for redirects; may hold $variables
    bool has_text = false;
};

struct ReturnSrvConf : core::ConfBase {
    std::optional<Action> action;
};
struct ReturnLocConf : core::ConfBase {
    std::optional<Action> action;
};

bool is_redirect(int code) {
    return code == 301 || code == 302 || code == 303 || code == 307 || code == 308;
}

Status parse_action(ConfContext& cf, std::optional<Action>& out) {
    if (out) {
        return cf.duplicate();
    }
    Action a;
    const std::string& first = cf.arg(0);
    auto code = core::parse_int(first);
    if (!code) {
        if (cf.args().size() != 1 ||
            (first.rfind("http://", 0) != 0 && first.rfind("https://", 0) != 0 &&
             first.rfind("$scheme", 0) != 0)) {
            return cf.error("invalid return code \"" + first + "\"");
        }
        a.code = 302;
        HALO_TRY(http::ComplexValue::parse(first, cf.node().where(), a.text));
        a.has_text = true;
    } else {
        if (*code > 999) {
            return cf.error("invalid return code \"" + first + "\"");
        }
        a.code = static_cast<int>(*code);
        if (cf.args().size() == 2) {
            HALO_TRY(http::ComplexValue::parse(cf.arg(1), cf.node().where(), a.text));
            a.has_text = true;
        }
    }
    out = std::move(a);
    http::register_complex_value(cf.cycle(), &out->text);
    return Status::ok();
}

Status set_srv_return(ConfContext& cf, ReturnSrvConf& conf) {
    return parse_action(cf, conf.action);
}
Status set_loc_return(ConfContext& cf, ReturnLocConf& conf) {
    return parse_action(cf, conf.action);
}

constexpr core::Directive kDirectives[] = {
    {"return", core::kCtxServer, core::kArgs1To2, core::setter<&set_srv_return>()},
    {"return", core::kCtxLocation, core::kArgs1To2, core::setter<&set_loc_return>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<ReturnSrvConf>(core::ConfLevel::kHttpSrv),
    core::conf_hooks<ReturnLocConf>(core::ConfLevel::kHttpLoc),
};

http::Flow respond(http::Request& r, const Action& a) {
    if (a.code == 444) {
        r.abort();  // nginx: close the connection without a response
        return http::Flow::kDone;
    }
    if (is_redirect(a.code)) {
        r.send_error(a.code, a.text.eval(r));
    } else if (a.has_text) {
        r.send(a.code, *r.loc_conf<http::HttpLocConf>().default_type, a.text.eval(r));
    } else if (a.code >= 300) {
        r.send_error(a.code);
    } else {
        r.send(a.code, {}, {});
    }
    return http::Flow::kDone;
}

http::Flow server_rewrite(http::Request& r) {
    const auto& conf = core::conf_of<ReturnSrvConf>(r.server->srv_confs);
    return conf.action ? respond(r, *conf.action) : http::Flow::kDeclined;
}

http::Flow rewrite(http::Request& r) {
    const auto& conf = r.loc_conf<ReturnLocConf>();
    return conf.action ? respond(r, *conf.action) : http::Flow::kDeclined;
}

Status postconfiguration(core::Cycle& cycle) {
    http::add_phase_handler(cycle, http::Phase::kServerRewrite, &server_rewrite);
    http::add_phase_handler(cycle, http::Phase::kRewrite, &rewrite);
    return Status::ok();
}

}  // namespace

extern const core::Module kModule{
    .name = "http_return",
    .type = core::ModuleType::kHttp,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &postconfiguration,
};

}  // namespace mod::http_return
