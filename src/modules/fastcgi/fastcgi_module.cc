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

/// The proxy's setters and slots on this module's conf (a ProxyLocConf): the same function,
/// the tag of FastcgiLocConf, so that the framework hands it ours.
constexpr core::Setter ours(core::Setter s) {
    s.tag = &core::ConfSlot<FastcgiLocConf>::tag;
    return s;
}

Status set_pass(ConfContext& cf, FastcgiLocConf& conf) {
    if (conf.pass) {
        return cf.duplicate();
    }
    const std::string& arg = cf.arg(0);
    auto p = std::make_shared<proxy::ProxyPass>();
    p->url = arg;
    p->where = cf.node().where();
    p->cycle = &cf.cycle();
    p->location_prefix = "/";
    if (arg.find('$') != std::string::npos) {
        // Evaluated per request as the proxy evaluates its URL: an address with a port,
        // unix:/path, or an upstream name.
        p->value = std::make_shared<http::ComplexValue>();
        HALO_TRY(http::ComplexValue::parse("http://" + arg, p->where, *p->value));
        http::register_complex_value(cf.cycle(), p->value.get());
        conf.pass = std::move(p);
        return Status::ok();
    }
    if (arg.find("://") != std::string::npos) {
        return cf.invalid_value(arg, "an address, unix:/path or an upstream name, no URL");
    }
    p->authority = arg;
    p->host = arg;
    p->unix_socket = arg.size() > 5 && arg.compare(0, 5, "unix:") == 0;
    // An upstream block of that name, else the address (a port is needed: default 0).
    HALO_TRY(upstream::implicit_group(cf, p->authority, p->group, 0));
    conf.pass = std::move(p);
    return Status::ok();
}

Status set_param(ConfContext& cf, FastcgiLocConf& conf) {
    if (cf.args().size() == 3 && cf.arg(2) != "if_not_empty") {
        return cf.invalid_value(cf.arg(2));
    }
    if (!conf.params) {
        conf.params = std::make_shared<std::deque<Param>>();
    }
    Param& p = conf.params->emplace_back();
    p.name = cf.arg(0);
    p.if_not_empty = cf.args().size() == 3;
    HALO_TRY(http::ComplexValue::parse(cf.arg(1), cf.node().where(), p.value));
    http::register_complex_value(cf.cycle(), &p.value);
    return Status::ok();
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

Status set_ignored(ConfContext&) {
    return Status::ok();  // accepted for nginx configs; halo sizes these itself
}

constexpr uint32_t kAll = core::kCtxHttpAll;

constexpr core::Directive kDirectives[] = {
    {"fastcgi_pass", core::kCtxLocation | core::kCtxLimitExcept, core::kArgs1,
     core::setter<&set_pass>()},
    {"fastcgi_param", kAll, core::Args{2, 3, false}, core::setter<&set_param>()},
    {"fastcgi_index", kAll, core::kArgs1, core::slot<&FastcgiLocConf::index>()},
    {"fastcgi_split_path_info", kAll, core::kArgs1, core::setter<&set_split>()},
    {"fastcgi_keep_conn", kAll, core::kArgs1, core::slot<&FastcgiLocConf::keep_conn>()},
    {"fastcgi_catch_stderr", kAll, core::kArgs1, core::setter<&set_catch_stderr>()},
    {"fastcgi_store", kAll, core::kArgs1, core::setter_noconf<&refuse_store>()},
    {"fastcgi_store_access", kAll, core::kArgs1To3, core::setter_noconf<&refuse_store>()},
    {"fastcgi_hide_header", kAll, core::kArgs1, ours(core::setter<&proxy::shared::hide_header>())},
    {"fastcgi_pass_header", kAll, core::kArgs1, ours(core::setter<&proxy::shared::pass_header>())},
    {"fastcgi_ignore_headers", kAll, core::kArgs1ToN,
     ours(core::setter<&proxy::shared::ignore_headers>())},
    {"fastcgi_connect_timeout", kAll, core::kArgs1,
     ours(core::slot<&ProxyLocConf::connect_timeout>())},
    {"fastcgi_send_timeout", kAll, core::kArgs1, ours(core::slot<&ProxyLocConf::send_timeout>())},
    {"fastcgi_read_timeout", kAll, core::kArgs1, ours(core::slot<&ProxyLocConf::read_timeout>())},
    {"fastcgi_buffering", kAll, core::kArgs1, ours(core::slot<&ProxyLocConf::buffering>())},
    {"fastcgi_request_buffering", kAll, core::kArgs1,
     ours(core::slot<&ProxyLocConf::request_buffering>())},
    {"fastcgi_intercept_errors", kAll, core::kArgs1,
     ours(core::slot<&ProxyLocConf::intercept_errors>())},
    {"fastcgi_pass_request_headers", kAll, core::kArgs1,
     ours(core::slot<&ProxyLocConf::pass_request_headers>())},
    {"fastcgi_pass_request_body", kAll, core::kArgs1,
     ours(core::slot<&ProxyLocConf::pass_request_body>())},
    {"fastcgi_ignore_client_abort", kAll, core::kArgs1,
     ours(core::slot<&ProxyLocConf::ignore_client_abort>())},
    {"fastcgi_socket_keepalive", kAll, core::kArgs1,
     ours(core::slot<&ProxyLocConf::socket_keepalive>())},
    {"fastcgi_buffer_size", kAll, core::kArgs1, ours(core::slot<&ProxyLocConf::buffer_size>())},
    {"fastcgi_buffers", kAll, core::kArgs2, ours(core::setter<&proxy::shared::buffers>())},
    {"fastcgi_busy_buffers_size", kAll, core::kArgs1, core::setter_noconf<&set_ignored>()},
    {"fastcgi_max_temp_file_size", kAll, core::kArgs1,
     ours(core::length_slot<&ProxyLocConf::max_temp_file_size>())},
    {"fastcgi_temp_path", kAll, core::kArgs1, ours(core::slot<&ProxyLocConf::temp_path>())},
    {"fastcgi_limit_rate", kAll, core::kArgs1, ours(core::setter<&proxy::shared::limit_rate>())},
    {"fastcgi_bind", kAll, core::kArgs1To2, ours(core::setter<&proxy::shared::bind>())},
    {"fastcgi_next_upstream", kAll, core::kArgs1ToN,
     ours(core::setter<&proxy::shared::next_upstream>())},
    {"fastcgi_next_upstream_tries", kAll, core::kArgs1,
     ours(core::slot<&ProxyLocConf::next_upstream_tries, 0, 1000>())},
    {"fastcgi_next_upstream_timeout", kAll, core::kArgs1,
     ours(core::slot<&ProxyLocConf::next_upstream_timeout>())},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<FastcgiLocConf>(core::ConfLevel::kHttpLoc),
};

http::Flow content_handler(http::Request& r) {
    const auto& c = r.loc_conf<FastcgiLocConf>();
    if (!c.pass) {
        return http::Flow::kDeclined;
    }
    return proxy::start(r, c, std::make_unique<FastcgiCodec>(c));
}

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
    struct Walk {
        void run(const std::vector<std::unique_ptr<http::LocationBlock>>& locs,
                 const http::LocationBlock* parent) {
            for (const auto& loc : locs) {
                auto& c = core::conf_of<FastcgiLocConf>(loc->loc_confs);
                // As the proxy: an `if` or `limit_except` block passes as its location does.
                bool nameless = loc->match == http::LocationMatch::kLimitExcept ||
                                loc->match == http::LocationMatch::kIf;
                if (nameless && !c.pass && parent != nullptr) {
                    c.pass = core::conf_of<FastcgiLocConf>(parent->loc_confs).pass;
                }
                if (c.pass) {
                    core::conf_of<http::HttpLocConf>(loc->loc_confs).content = &content_handler;
                }
                run(loc->children, loc.get());
            }
        }
    } walk;
    for (auto& srv : main->servers) {
        walk.run(srv->locations, nullptr);
    }
    // fastcgi_temp_path: absolute, created (for the worker user) once each.
    std::vector<std::string> made;
    Status st = Status::ok();
    http::for_each_location_confs(*main, [&](core::ConfVector& confs) {
        auto& c = core::conf_of<FastcgiLocConf>(confs);
        c.temp_path = cycle.full_path(*c.temp_path);
        if (st.is_ok() && c.pass &&
            std::find(made.begin(), made.end(), *c.temp_path) == made.end()) {
            made.push_back(*c.temp_path);
            st = http::make_temp_dir(cycle, *c.temp_path);
        }
    });
    return st;
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
