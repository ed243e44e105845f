// The fastcgi module's configuration: fastcgi_pass and fastcgi_param, the split of the URI
// into $fastcgi_script_name and $fastcgi_path_info, and the upstream settings it shares with
// the proxy (fastcgi_buffers, fastcgi_next_upstream, ...: the proxy's setters on the
// ProxyLocConf part of FastcgiLocConf). The exchange itself is the proxy's, with FastcgiCodec.

#include <algorithm>

#include "core/module.h"
#include "http/http.h"
#include "modules/fastcgi/fastcgi.h"

namespace mod::fastcgi {

using core::ConfContext;
using core::Status;
using proxy::ProxyLocConf;

Status merge(const FastcgiLocConf& parent, FastcgiLocConf& child) {
    // nginx's fastcgi has no redirect rewriting, its own temp directory, and hides Status.
    child.redirect_off = true;
    core::inherit(child.temp_path, parent.temp_path, "fastcgi_temp");
    core::inherit(child.http_minor, parent.http_minor, 1);
    HALO_TRY(proxy::merge(parent, child));
    child.redirects.reset();
    auto hidden = std::make_shared<std::vector<std::string>>();
    hidden->push_back("Status");
    if (child.hide_headers) {
        for (const std::string& h : *child.hide_headers) {
            if (!http::iequals(h, "Status")) {
                hidden->push_back(h);
            }
        }
    }
    child.hide_headers = std::move(hidden);
    if (!child.params) {
        child.params = parent.params;
    }
    core::inherit(child.index, parent.index, "");
    if (!child.split_set) {
        child.split = parent.split;
        child.split_set = parent.split_set;
    }
    core::inherit(child.keep_conn, parent.keep_conn, false);
    if (!child.catch_stderr) {
        child.catch_stderr = parent.catch_stderr;
    }
    return Status::ok();
}

void split_path(const http::Request& r, const FastcgiLocConf& c, std::string* script_name,
                std::string* path_info) {
    std::string_view script = r.uri;
    std::string_view info;
    std::vector<std::string_view> caps;
    if (c.split && c.split->match(r.uri, &caps) && caps.size() >= 3) {
        script = caps[1];
        info = caps[2];
    }
    if (script_name != nullptr) {
        script_name->append(script);
        if (!script.empty() && script.back() == '/' && c.index) {
            script_name->append(*c.index);
        }
    }
    if (path_info != nullptr) {
        path_info->append(info);
    }
}

namespace {

Status set_pass(ConfContext& cf, FastcgiLocConf& conf) {
    return proxy::set_protocol_pass(cf, conf);
}

Status set_param(ConfContext& cf, FastcgiLocConf& conf) {
    return proxy::add_cgi_param(cf, conf.params);
}

Status set_split(ConfContext& cf, FastcgiLocConf& conf) {
    if (conf.split_set) {
        return cf.duplicate();
    }
    auto re = std::make_shared<http::Regex>();
    Status s = http::Regex::compile(cf.arg(0), false, *re);
    if (!s.is_ok()) {
        return cf.error(s.message());
    }
    if (re->groups() != 2) {
        return cf.error("pattern \"" + cf.arg(0) + "\" must have 2 captures");
    }
    conf.split = std::move(re);
    conf.split_set = true;
    return Status::ok();
}

Status set_catch_stderr(ConfContext& cf, FastcgiLocConf& conf) {
    if (!conf.catch_stderr) {
        conf.catch_stderr = std::make_shared<std::vector<std::string>>();
    }
    conf.catch_stderr->push_back(cf.arg(0));
    return Status::ok();
}

Status refuse_store(ConfContext& cf) {
    return cf.error("\"" + std::string(cf.name()) +
                    "\" is not supported by halo: it keeps no copies of upstream responses "
                    "as files; serve them from the FastCGI server");
}

constexpr uint32_t kAll = core::kCtxHttpAll;

constexpr core::Directive kOwnDirectives[] = {
    {"fastcgi_pass", core::kCtxLocation | core::kCtxLimitExcept, core::kArgs1,
     core::setter<&set_pass>()},
    {"fastcgi_param", kAll, core::Args{2, 3, false}, core::setter<&set_param>()},
    {"fastcgi_index", kAll, core::kArgs1, core::slot<&FastcgiLocConf::index>()},
    {"fastcgi_split_path_info", kAll, core::kArgs1, core::setter<&set_split>()},
    {"fastcgi_keep_conn", kAll, core::kArgs1, core::slot<&FastcgiLocConf::keep_conn>()},
    {"fastcgi_catch_stderr", kAll, core::kArgs1, core::setter<&set_catch_stderr>()},
    {"fastcgi_store", kAll, core::kArgs1, core::setter_noconf<&refuse_store>()},
    {"fastcgi_store_access", kAll, core::kArgs1To3, core::setter_noconf<&refuse_store>()},
};

constexpr proxy::CacheNames kCacheNames = HALO_CACHE_NAMES("fastcgi");

constexpr proxy::SharedNames kSharedNames = HALO_SHARED_NAMES("fastcgi");

constexpr auto kDirectives =
    tls::concat(tls::concat(std::to_array(kOwnDirectives),
                            proxy::shared_directives<FastcgiLocConf>(kSharedNames)),
                proxy::cache_directives<FastcgiLocConf>(kCacheNames));

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<FastcgiLocConf>(core::ConfLevel::kHttpLoc),
};

bool var_script_name(const http::Request& r, std::string_view, std::string& out) {
    if (r.loc_confs == nullptr) {
        return false;
    }
    split_path(r, r.loc_conf<FastcgiLocConf>(), &out, nullptr);
    return true;
}

bool var_path_info(const http::Request& r, std::string_view, std::string& out) {
    if (r.loc_confs == nullptr) {
        return false;
    }
    split_path(r, r.loc_conf<FastcgiLocConf>(), nullptr, &out);
    return true;
}

Status postconfiguration(core::Cycle& cycle) {
    http::HttpMainConf* main = http::http_main(cycle);
    if (main == nullptr) {
        return Status::ok();
    }
    http::add_variable(cycle, {"fastcgi_script_name", &var_script_name});
    http::add_variable(cycle, {"fastcgi_path_info", &var_path_info});
    return proxy::install_protocol<FastcgiLocConf, FastcgiCodec>(cycle, "fastcgi");
}

}  // namespace

extern const core::Module kModule{
    .name = "http_fastcgi",
    .type = core::ModuleType::kHttp,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &postconfiguration,
    .init_cycle = nullptr,
    .init_process = nullptr,
    .exit_process = nullptr,
    .commands = {},
};

}  // namespace mod::fastcgi
