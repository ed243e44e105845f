// The proxy module (nginx's ngx_http_proxy_module): `proxy_pass` makes a location's content
// come from an upstream group; the proxy_* directives shape the request and the response, and
// the proxy_ssl_* ones the TLS of https upstreams.
#include <strings.h>

#include <algorithm>
#include <string>

#include "core/module.h"
#include "http/http.h"
#include "http/listen_conf.h"
#include "modules/proxy/proxy.h"
#include "modules/proxy/proxy_cache.h"
#include "upstream/pool.h"

namespace mod::proxy {

using core::ConfContext;
using core::Status;

Status merge(const ProxyLocConf& parent, ProxyLocConf& child) {
    using namespace std::chrono_literals;
    core::inherit(child.http_minor, parent.http_minor, 0);
    if (!child.set_headers) {
        child.set_headers = parent.set_headers;
    }
    if (!child.hide_headers) {
        child.hide_headers = parent.hide_headers;
    }
    if (!child.pass_headers) {
        child.pass_headers = parent.pass_headers;
    }
    core::inherit(child.connect_timeout, parent.connect_timeout, 60s);
    core::inherit(child.send_timeout, parent.send_timeout, 60s);
    core::inherit(child.read_timeout, parent.read_timeout, 60s);
    core::inherit(child.buffering, parent.buffering, true);
    core::inherit(child.request_buffering, parent.request_buffering, true);
    core::inherit(child.intercept_errors, parent.intercept_errors, false);
    core::inherit(child.pass_request_headers, parent.pass_request_headers, true);
    core::inherit(child.pass_request_body, parent.pass_request_body, true);
    core::inherit(child.buffer_size, parent.buffer_size, core::Size{4096});
    core::inherit(child.buffers_total, parent.buffers_total, core::Size{8 * 4096});
    core::inherit(child.max_temp_file_size, parent.max_temp_file_size,
                  core::Size{1024ull * 1024 * 1024});
    core::inherit(child.temp_path, parent.temp_path, "proxy_temp");
    core::inherit(child.limit_rate, parent.limit_rate, http::SizeValue{});
    core::inherit(child.next_upstream, parent.next_upstream, uint32_t{kNextError | kNextTimeout});
    core::inherit(child.next_upstream_tries, parent.next_upstream_tries, 0);
    core::inherit(child.next_upstream_timeout, parent.next_upstream_timeout, 0ms);
    if (!child.redirects && !child.redirect_off) {
        child.redirects = parent.redirects;
        child.redirect_off = parent.redirect_off;
        if (!child.redirects && !child.redirect_off) {
            child.redirects = std::make_shared<std::vector<Redirect>>();
            child.redirects->push_back(Redirect{{}, {}, true});
        }
    }
    tls::merge_client_conf(parent, child);
    if (!child.ssl_name) {
        child.ssl_name = parent.ssl_name;
    }
    if (!child.method) {
        child.method = parent.method;
    }
    if (!child.set_body) {
        child.set_body = parent.set_body;
    }
    core::inherit(child.socket_keepalive, parent.socket_keepalive, false);
    if (!child.bind) {
        child.bind = parent.bind;
    }
    core::inherit(child.ignore_client_abort, parent.ignore_client_abort, false);
    core::inherit(child.pass_trailers, parent.pass_trailers, false);
    core::inherit(child.ignore_headers, parent.ignore_headers, 0u);
    if (!child.cookie_domains) {
        child.cookie_domains = parent.cookie_domains;
    }
    if (!child.cookie_paths) {
        child.cookie_paths = parent.cookie_paths;
    }
    if (!child.cookie_flags) {
        child.cookie_flags = parent.cookie_flags;
    }
    cache::merge(parent.cache, child.cache);
    return Status::ok();
}

std::optional<core::SockAddr> parse_bind_address(std::string_view text) {
    if (auto ip = core::SockAddr::from_ip(text, 0)) {
        return ip;
    }
    if (text.empty() || text[0] == '*' ||
        text.find_first_not_of("0123456789") == std::string::npos) {
        return std::nullopt;
    }
    return core::SockAddr::parse(text, 0);
}

bool parse_pass_url(std::string_view url, ProxyPass& p, std::string& error) {
    std::string_view rest;
    error.clear();
    p.url = std::string(url);
    if (url.size() >= 7 && strncasecmp(url.data(), "http://", 7) == 0) {
        rest = url.substr(7);
    } else if (url.size() >= 8 && strncasecmp(url.data(), "https://", 8) == 0) {
        rest = url.substr(8);
        p.https = true;
    } else {
        return false;  // error empty: not an http(s) URL
    }
    if (rest.size() >= 5 && strncasecmp(rest.data(), "unix:", 5) == 0) {
        // nginx: http://unix:/path/to.sock[:/uri]; the Host sent is "localhost", no port.
        size_t colon = rest.find(':', 5);
        std::string_view path = rest.substr(5, colon == std::string_view::npos ? colon : colon - 5);
        if (path.empty()) {
            error = "no path in the unix domain socket";
            return false;
        }
        if (!core::SockAddr::from_unix_path(path)) {
            error = "too long path in the unix domain socket";
            return false;
        }
        if (colon != std::string_view::npos) {
            p.uri = std::string(rest.substr(colon + 1));
        }
        p.unix_socket = true;
        p.host = "localhost";
        p.port.clear();
        p.authority = "unix:" + std::string(path);
        return true;
    }
    const std::string default_port = p.https ? "443" : "80";
    size_t end = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, end);
    if (end != std::string_view::npos) {
        p.uri = std::string(rest.substr(end));
    }
    if (authority.empty()) {
        error = "no host";
        return false;
    }
    size_t colon = authority.rfind(':');
    bool bracketed = authority[0] == '[';
    if (colon != std::string_view::npos && (!bracketed || authority.find(']') < colon)) {
        p.explicit_port = true;
        p.port = std::string(authority.substr(colon + 1));
        auto n = core::parse_int(p.port);
        if (!n || *n < 1 || *n > 65535) {
            error = "invalid port";
            return false;
        }
        p.host = std::string(authority);
        p.authority = std::string(authority);
        if (p.port == default_port) {
            p.host = std::string(authority.substr(0, colon));
        }
    } else {
        p.port = default_port;
        p.host = std::string(authority);
        p.authority = std::string(authority);
    }
    return true;
}

namespace {

Status set_pass(ConfContext& cf, ProxyLocConf& conf) {
    if (conf.pass) {
        return cf.duplicate();
    }
    const std::string& url = cf.arg(0);
    auto p = std::make_shared<ProxyPass>();
    p->url = url;
    p->where = cf.node().where();
    p->cycle = &cf.cycle();
    if (url.find('$') != std::string::npos) {
        // Evaluated per request (nginx checks nothing more here either).
        p->value = std::make_shared<http::ComplexValue>();
        HALO_TRY(http::ComplexValue::parse(url, p->where, *p->value));
        http::register_complex_value(cf.cycle(), p->value.get());
        conf.pass = std::move(p);
        return Status::ok();
    }
    std::string why;
    if (!parse_pass_url(url, *p, why)) {
        if (why.empty()) {
            return cf.invalid_value(url, "the URL must start with \"http://\" or \"https://\"");
        }
        return cf.error(why + " in \"" + url + "\" of the \"proxy_pass\" directive");
    }
    // An upstream block of that name (declared before or after), else the address itself.
    HALO_TRY(upstream::implicit_group(cf, p->authority, p->group, p->https ? 443 : 80));
    conf.pass = std::move(p);
    return Status::ok();
}

Status set_set_header(ConfContext& cf, ProxyLocConf& conf) {
    if (!conf.set_headers) {
        conf.set_headers = std::make_shared<std::vector<std::unique_ptr<SetHeader>>>();
    }
    auto h = std::make_unique<SetHeader>();
    h->name = cf.arg(0);
    HALO_TRY(http::ComplexValue::parse(cf.arg(1), cf.node().where(), h->value));
    http::register_complex_value(cf.cycle(), &h->value);
    conf.set_headers->push_back(std::move(h));
    return Status::ok();
}

Status add_name(std::shared_ptr<std::vector<std::string>>& list, const std::string& name) {
    if (!list) {
        list = std::make_shared<std::vector<std::string>>();
    }
    list->push_back(name);
    return Status::ok();
}

Status set_hide_header(ConfContext& cf, ProxyLocConf& conf) {
    return add_name(conf.hide_headers, cf.arg(0));
}
Status set_pass_header(ConfContext& cf, ProxyLocConf& conf) {
    return add_name(conf.pass_headers, cf.arg(0));
}

Status set_buffers(ConfContext& cf, ProxyLocConf& conf) {
    int64_t n = 0;
    core::Size size;
    HALO_TRY(core::parse_buffers(cf, 1, n, size, conf.buffers_total.has_value()));
    conf.buffers_total = core::Size{static_cast<uint64_t>(n) * size.bytes};
    return Status::ok();
}

constexpr core::Named<uint32_t> kNextUpstreamNames[] = {
    {"error", kNextError},
    {"timeout", kNextTimeout},
    {"invalid_header", kNextInvalidHeader},
    {"http_500", kNextHttp500},
    {"http_502", kNextHttp502},
    {"http_503", kNextHttp503},
    {"http_504", kNextHttp504},
    {"http_403", kNextHttp403},
    {"http_404", kNextHttp404},
    {"http_429", kNextHttp429},
    {"non_idempotent", kNextNonIdempotent},
    {"off", kNextOff},
};
constexpr core::Named<int> kHttpVersions[] = {{"1.0", 0}, {"1.1", 1}};

Status set_redirect(ConfContext& cf, ProxyLocConf& conf) {
    if (cf.args().size() == 1) {
        if (cf.arg(0) == "off") {
            conf.redirect_off = true;
            conf.redirects.reset();
            return Status::ok();
        }
        if (cf.arg(0) != "default") {
            return cf.invalid_value(cf.arg(0));
        }
        if (!conf.redirects) {
            conf.redirects = std::make_shared<std::vector<Redirect>>();
        }
        conf.redirects->push_back(Redirect{{}, {}, true, cf.node().where()});
        return Status::ok();
    }
    if (conf.redirect_off) {
        return cf.error("\"proxy_redirect off\" cannot be combined with other redirects");
    }
    if (!conf.redirects) {
        conf.redirects = std::make_shared<std::vector<Redirect>>();
    }
    Redirect rd{cf.arg(0), cf.arg(1), false, cf.node().where()};
    std::string from = cf.arg(0);
    if (!from.empty() && from[0] == '~') {
        bool caseless = from.size() > 1 && from[1] == '*';
        rd.regex = std::make_shared<http::Regex>();
        Status s = http::Regex::compile(std::string_view(from).substr(caseless ? 2 : 1), caseless,
                                        *rd.regex);
        if (!s.is_ok()) {
            return cf.error(s.message());
        }
    } else {
        rd.from_value = std::make_shared<http::ComplexValue>();
        HALO_TRY(http::ComplexValue::parse(from, cf.node().where(), *rd.from_value));
        http::register_complex_value(cf.cycle(), rd.from_value.get());
    }
    rd.to_value = std::make_shared<http::ComplexValue>();
    HALO_TRY(http::ComplexValue::parse(cf.arg(1), cf.node().where(), *rd.to_value));
    http::register_complex_value(cf.cycle(), rd.to_value.get());
    conf.redirects->push_back(std::move(rd));
    return Status::ok();
}

Status set_ssl_name(ConfContext& cf, ProxyLocConf& conf) {
    if (conf.ssl_name) {
        return cf.duplicate();
    }
    auto v = std::make_shared<http::ComplexValue>();
    HALO_TRY(http::ComplexValue::parse(cf.arg(0), cf.node().where(), *v));
    http::register_complex_value(cf.cycle(), v.get());
    conf.ssl_name = std::move(v);
    return Status::ok();
}

/// A value with variables, once per level.
Status set_value(ConfContext& cf, std::shared_ptr<http::ComplexValue>& out) {
    if (out) {
        return cf.duplicate();
    }
    auto v = std::make_shared<http::ComplexValue>();
    HALO_TRY(http::ComplexValue::parse(cf.arg(0), cf.node().where(), *v));
    http::register_complex_value(cf.cycle(), v.get());
    out = std::move(v);
    return Status::ok();
}

Status set_method(ConfContext& cf, ProxyLocConf& conf) {
    return set_value(cf, conf.method);
}
Status set_set_body(ConfContext& cf, ProxyLocConf& conf) {
    return set_value(cf, conf.set_body);
}

Status set_bind(ConfContext& cf, ProxyLocConf& conf) {
    if (conf.bind) {
        return cf.duplicate();
    }
    auto b = std::make_shared<ProxyBind>();
    if (cf.args().size() == 2) {
        if (cf.arg(1) != "transparent") {
            return cf.invalid_value(cf.arg(1));
        }
        return cf.error(
            "\"" + std::string(cf.name()) +
            " ... transparent\" is not supported by halo: binding to a non-local address needs "
            "IP_TRANSPARENT and routing halo does not set up; bind a local address");
    }
    const std::string& a = cf.arg(0);
    if (a == "off") {
        b->off = true;
    } else if (a.find('$') != std::string::npos) {
        b->value = std::make_shared<http::ComplexValue>();
        HALO_TRY(http::ComplexValue::parse(a, cf.node().where(), *b->value));
        http::register_complex_value(cf.cycle(), b->value.get());
    } else {
        b->addr = parse_bind_address(a);
        if (!b->addr) {
            return cf.error("invalid address \"" + a + "\"");
        }
    }
    conf.bind = std::move(b);
    return Status::ok();
}

constexpr core::Named<uint32_t> kIgnoreHeaderNames[] = {
    {"X-Accel-Redirect", kIgnoreXAccelRedirect},
    {"X-Accel-Expires", kIgnoreXAccelExpires},
    {"X-Accel-Limit-Rate", kIgnoreXAccelLimitRate},
    {"X-Accel-Buffering", kIgnoreXAccelBuffering},
    {"X-Accel-Charset", kIgnoreXAccelCharset},
    {"Expires", kIgnoreExpires},
    {"Cache-Control", kIgnoreCacheControl},
    {"Set-Cookie", kIgnoreSetCookie},
    {"Vary", kIgnoreVary},
};

/// proxy_limit_rate: a size, or a value with variables (nginx 1.27.0).
Status set_limit_rate(ConfContext& cf, ProxyLocConf& conf) {
    if (conf.limit_rate) {
        return cf.duplicate();
    }
    http::SizeValue v;
    HALO_TRY(http::SizeValue::parse(cf, cf.arg(0), v));
    conf.limit_rate = std::move(v);
    return Status::ok();
}

Status set_ignore_headers(ConfContext& cf, ProxyLocConf& conf) {
    if (conf.ignore_headers) {
        return cf.duplicate();
    }
    uint32_t bits = 0;
    for (const std::string& a : cf.args()) {
        bool found = false;
        for (const auto& n : kIgnoreHeaderNames) {
            if (http::iequals(n.name, a)) {
                bits |= n.value;
                found = true;
            }
        }
        if (!found) {
            return cf.error("invalid value \"" + a + "\"");
        }
    }
    conf.ignore_headers = bits;
    return Status::ok();
}

Status set_ignored(ConfContext& cf) {
    return Status::ok();  // accepted for nginx configs; halo sizes these itself
}

constexpr uint32_t kAll = core::kCtxHttpAll;

/// A row of the proxy_cache* family: the cache layer's setter on ProxyLocConf::cache.
template <core::Status (*F)(ConfContext&, cache::CacheLocConf&)>
constexpr core::Setter kCache = core::setter<&cache::on<ProxyLocConf, F>>();

/// proxy_headers_hash_max_size and _bucket_size size nginx's hash of proxied header names;
/// halo has none: checked as nginx checks them, no effect.
Status set_headers_hash(ConfContext& cf, ProxyLocConf& conf) {
    return http::check_hash_hint(cf, cf.name() == "proxy_headers_hash_max_size"
                                         ? conf.headers_hash_max_size
                                         : conf.headers_hash_bucket_size);
}

constexpr core::Directive kOwnDirectives[] = {
    {"proxy_pass", core::kCtxLocation | core::kCtxLimitExcept, core::kArgs1,
     core::setter<&set_pass>()},
    {"proxy_set_header", kAll, core::kArgs2, core::setter<&set_set_header>()},
    {"proxy_hide_header", kAll, core::kArgs1, core::setter<&set_hide_header>()},
    {"proxy_pass_header", kAll, core::kArgs1, core::setter<&set_pass_header>()},
    {"proxy_headers_hash_max_size", kAll, core::kArgs1, core::setter<&set_headers_hash>()},
    {"proxy_headers_hash_bucket_size", kAll, core::kArgs1, core::setter<&set_headers_hash>()},
    {"proxy_http_version", kAll, core::kArgs1,
     core::enum_slot<&ProxyLocConf::http_minor, kHttpVersions>()},
    {"proxy_connect_timeout", kAll, core::kArgs1, core::slot<&ProxyLocConf::connect_timeout>()},
    {"proxy_send_timeout", kAll, core::kArgs1, core::slot<&ProxyLocConf::send_timeout>()},
    {"proxy_read_timeout", kAll, core::kArgs1, core::slot<&ProxyLocConf::read_timeout>()},
    {"proxy_buffering", kAll, core::kArgs1, core::slot<&ProxyLocConf::buffering>()},
    {"proxy_request_buffering", kAll, core::kArgs1, core::slot<&ProxyLocConf::request_buffering>()},
    {"proxy_intercept_errors", kAll, core::kArgs1, core::slot<&ProxyLocConf::intercept_errors>()},
    {"proxy_pass_request_headers", kAll, core::kArgs1,
     core::slot<&ProxyLocConf::pass_request_headers>()},
    {"proxy_pass_request_body", kAll, core::kArgs1, core::slot<&ProxyLocConf::pass_request_body>()},
    {"proxy_buffer_size", kAll, core::kArgs1, core::slot<&ProxyLocConf::buffer_size>()},
    {"proxy_buffers", kAll, core::kArgs2, core::setter<&set_buffers>()},
    {"proxy_busy_buffers_size", kAll, core::kArgs1, core::setter_noconf<&set_ignored>()},
    {"proxy_max_temp_file_size", kAll, core::kArgs1,
     core::length_slot<&ProxyLocConf::max_temp_file_size>()},
    {"proxy_temp_path", kAll, core::kArgs1, core::slot<&ProxyLocConf::temp_path>()},
    {"proxy_limit_rate", kAll, core::kArgs1, core::setter<&set_limit_rate>()},
    {"proxy_next_upstream", kAll, core::kArgs1ToN,
     core::bitmask_slot<&ProxyLocConf::next_upstream, kNextUpstreamNames>()},
    {"proxy_next_upstream_tries", kAll, core::kArgs1,
     core::slot<&ProxyLocConf::next_upstream_tries, 0, 1000>()},
    {"proxy_next_upstream_timeout", kAll, core::kArgs1,
     core::slot<&ProxyLocConf::next_upstream_timeout>()},
    {"proxy_redirect", kAll, core::kArgs1To2, core::setter<&set_redirect>()},
    {"proxy_ssl_name", kAll, core::kArgs1, core::setter<&set_ssl_name>()},
    {"proxy_method", kAll, core::kArgs1, core::setter<&set_method>()},
    {"proxy_set_body", kAll, core::kArgs1, core::setter<&set_set_body>()},
    {"proxy_socket_keepalive", kAll, core::kArgs1, core::slot<&ProxyLocConf::socket_keepalive>()},
    {"proxy_bind", kAll, core::kArgs1To2, core::setter<&set_bind>()},
    {"proxy_ignore_client_abort", kAll, core::kArgs1,
     core::slot<&ProxyLocConf::ignore_client_abort>()},
    {"proxy_pass_trailers", kAll, core::kArgs1, core::slot<&ProxyLocConf::pass_trailers>()},
    {"proxy_cache_path", core::kCtxHttp, core::kArgs2ToN,
     core::setter_noconf<&cache::add_cache_path>()},
    {"proxy_cache", kAll, core::kArgs1, kCache<&cache::set_cache>},
    {"proxy_cache_key", kAll, core::kArgs1, kCache<&cache::set_key>},
    {"proxy_cache_valid", kAll, core::kArgs1ToN, kCache<&cache::set_valid>},
    {"proxy_cache_methods", kAll, core::kArgs1ToN, kCache<&cache::set_methods>},
    {"proxy_cache_min_uses", kAll, core::kArgs1, kCache<&cache::set_min_uses>},
    {"proxy_cache_bypass", kAll, core::kArgs1ToN, kCache<&cache::set_conditions>},
    {"proxy_no_cache", kAll, core::kArgs1ToN, kCache<&cache::set_conditions>},
    {"proxy_cache_use_stale", kAll, core::kArgs1ToN, kCache<&cache::set_use_stale>},
    {"proxy_cache_background_update", kAll, core::kArgs1, kCache<&cache::set_flag>},
    {"proxy_cache_lock", kAll, core::kArgs1, kCache<&cache::set_flag>},
    {"proxy_cache_lock_timeout", kAll, core::kArgs1, kCache<&cache::set_time>},
    {"proxy_cache_lock_age", kAll, core::kArgs1, kCache<&cache::set_time>},
    {"proxy_cache_revalidate", kAll, core::kArgs1, kCache<&cache::set_flag>},
    {"proxy_cache_convert_head", kAll, core::kArgs1, kCache<&cache::set_flag>},
    {"proxy_cache_max_range_offset", kAll, core::kArgs1, kCache<&cache::set_max_range_offset>},
    {"proxy_cache_purge", core::kCtxLocation, core::kArgs2, kCache<&cache::set_purge>},
    {"proxy_ignore_headers", kAll, core::kArgs1ToN, core::setter<&set_ignore_headers>()},
    {"proxy_cookie_domain", kAll, core::kArgs1To2, core::setter<&set_cookie_domain>()},
    {"proxy_cookie_path", kAll, core::kArgs1To2, core::setter<&set_cookie_path>()},
    {"proxy_cookie_flags", kAll, core::kArgs1ToN, core::setter<&set_cookie_flags>()},
};

constexpr auto kDirectives =
    tls::concat(std::to_array(kOwnDirectives), tls::client_directives<ProxyLocConf>(kAll));

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<ProxyLocConf>(core::ConfLevel::kHttpLoc),
};

http::Flow content_handler(http::Request& r) {
    const auto& c = r.loc_conf<ProxyLocConf>();
    if (!c.pass) {
        return http::Flow::kDeclined;
    }
    return start(r, c);
}

// ---- variables ----

const ProxyPass* pass_of(const http::Request& r) {
    if (const RequestPass* rp = r.ctx<RequestPass>()) {
        return &rp->pass;  // proxy_pass with variables: this request's
    }
    return r.loc_confs != nullptr ? r.loc_conf<ProxyLocConf>().pass.get() : nullptr;
}

/// $proxy_host, $proxy_port: that part of the location's proxy_pass (not found without one).
template <std::string ProxyPass::*Part>
bool var_proxy_pass(const http::Request& r, std::string_view, std::string& out) {
    const ProxyPass* p = pass_of(r);
    if (p == nullptr) {
        return false;
    }
    out += p->*Part;
    return true;
}

bool var_add_x_forwarded_for(const http::Request& r, std::string_view, std::string& out) {
    if (const http::Header* h = r.find_header("X-Forwarded-For")) {
        out.append(h->value);
        out += ", ";
    }
    out += r.peer.host_text();
    return true;
}

/// One client context per location that proxies to https://, shared by the locations whose
/// settings are the same (typically all of them, inheriting from the http level).
Status make_ssl_contexts(http::HttpMainConf& main) {
    std::vector<std::pair<SslClientSettings, std::shared_ptr<ClientContext>>> made;
    Status st = Status::ok();
    http::for_each_location_confs(main, [&](core::ConfVector& confs) {
        auto& c = core::conf_of<ProxyLocConf>(confs);
        if (!st.is_ok() || !c.pass || (!c.pass->https && !c.pass->value)) {
            return;
        }
        st = tls::client_context_for(c, made);
    });
    return st;
}

Status postconfiguration(core::Cycle& cycle) {
    http::HttpMainConf* main = http::http_main(cycle);
    if (main == nullptr) {
        return Status::ok();
    }
    http::add_variable(cycle, {"proxy_host", &var_proxy_pass<&ProxyPass::host>});
    http::add_variable(cycle, {"proxy_port", &var_proxy_pass<&ProxyPass::port>});
    http::add_variable(cycle, {"proxy_add_x_forwarded_for", &var_add_x_forwarded_for});
    HALO_TRY(cache::install(cycle));

    // What the URI part of proxy_pass replaces, and where it may not stand (nginx's rule).
    struct Walk {
        core::Cycle& cycle;
        Status run(const std::vector<std::unique_ptr<http::LocationBlock>>& locs,
                   const http::LocationBlock* parent) {
            for (const auto& loc : locs) {
                auto& c = core::conf_of<ProxyLocConf>(loc->loc_confs);
                // nginx: an `if` or `limit_except` block without a proxy_pass of its own
                // proxies as its location does (the block's confs replace the location's).
                bool nameless = loc->match == http::LocationMatch::kLimitExcept ||
                                loc->match == http::LocationMatch::kIf;
                if (nameless && !c.pass && parent != nullptr) {
                    c.pass = core::conf_of<ProxyLocConf>(parent->loc_confs).pass;
                }
                if (c.pass && c.pass->location_prefix.empty()) {
                    HALO_TRY(
                        bind(*c.pass, nameless && parent != nullptr ? *parent : *loc, nameless));
                }
                if (c.pass) {
                    core::conf_of<http::HttpLocConf>(loc->loc_confs).content = &content_handler;
                }
                HALO_TRY(cache::resolve(cycle, c.cache, "proxy", "$scheme$proxy_host$request_uri"));
                if (c.cache.purge_key) {
                    core::conf_of<http::HttpLocConf>(loc->loc_confs).content =
                        &detail::purge_handler;
                }
                if (c.pass && c.pass->value && c.redirects) {
                    for (const Redirect& rd : *c.redirects) {
                        if (rd.is_default && !rd.where.empty()) {
                            return Status::error(
                                "\"proxy_redirect default\" cannot be used with \"proxy_pass\" "
                                "directive with variables in " +
                                rd.where);
                        }
                    }
                }
                HALO_TRY(run(loc->children, loc.get()));
            }
            return Status::ok();
        }
        Status bind(ProxyPass& p, const http::LocationBlock& loc, bool in_limit_except) {
            if (p.value) {
                p.location_prefix = "/";  // with variables, the URI part is the whole URI
                return Status::ok();
            }
            if (p.uri && (loc.match == http::LocationMatch::kRegex ||
                          loc.match == http::LocationMatch::kNamed || in_limit_except)) {
                return Status::error(
                    "\"proxy_pass\" cannot have URI part in location given by regular "
                    "expression, or inside named location, or inside \"if\" statement, or "
                    "inside \"limit_except\" block in " +
                    p.where);
            }
            p.location_prefix =
                loc.match == http::LocationMatch::kRegex || loc.match == http::LocationMatch::kNamed
                    ? std::string("/")
                    : loc.name;
            return Status::ok();
        }
    } walk{cycle};
    for (auto& srv : main->servers) {
        HALO_TRY(walk.run(srv->locations, nullptr));
    }
    // proxy_temp_path: absolute, created (for the worker user) once each.
    std::vector<std::string> made;
    Status st = Status::ok();
    http::for_each_location_confs(*main, [&](core::ConfVector& confs) {
        auto& c = core::conf_of<ProxyLocConf>(confs);
        c.temp_path = cycle.full_path(*c.temp_path);
        if (st.is_ok() && std::find(made.begin(), made.end(), *c.temp_path) == made.end()) {
            made.push_back(*c.temp_path);
            st = http::make_temp_dir(cycle, *c.temp_path);
        }
    });
    HALO_TRY(st);
    return make_ssl_contexts(*main);
}

Status init_process(core::Cycle& cycle, const core::ProcessInfo& info) {
    return cache::init_process(cycle, info);
}

void exit_process(core::Cycle& cycle) {
    cache::exit_process(cycle);
    upstream::pool_clear();
}

}  // namespace

namespace shared {
Status hide_header(ConfContext& cf, ProxyLocConf& c) {
    return set_hide_header(cf, c);
}
Status pass_header(ConfContext& cf, ProxyLocConf& c) {
    return set_pass_header(cf, c);
}
Status buffers(ConfContext& cf, ProxyLocConf& c) {
    return set_buffers(cf, c);
}
Status limit_rate(ConfContext& cf, ProxyLocConf& c) {
    return set_limit_rate(cf, c);
}
Status ignore_headers(ConfContext& cf, ProxyLocConf& c) {
    return set_ignore_headers(cf, c);
}
Status bind(ConfContext& cf, ProxyLocConf& c) {
    return set_bind(cf, c);
}
Status next_upstream(ConfContext& cf, ProxyLocConf& c) {
    return core::bitmask_slot<&ProxyLocConf::next_upstream, kNextUpstreamNames>().fn(cf, c);
}
Status ignored(ConfContext& cf) {
    return set_ignored(cf);
}
}  // namespace shared

extern const core::Module kModule{
    .name = "http_proxy",
    .type = core::ModuleType::kHttp,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &postconfiguration,
    .init_process = &init_process,
    .exit_process = &exit_process,
};

}  // namespace mod::proxy
