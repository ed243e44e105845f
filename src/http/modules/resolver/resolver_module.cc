// The http_resolver module: nginx's `resolver address ... [valid=time] [ipv4=on|off]
// [ipv6=on|off]` and `resolver_timeout time` (http, server, location). The lookups themselves
// are ev::Resolver's (src/event/resolver.h), in each worker, never blocking.
#include <netdb.h>

#include <cstring>
#include <string>

#include "core/module.h"
#include "http/modules/resolver/resolver_conf.h"

namespace mod::resolver {

using core::ConfContext;
using core::Status;

Status merge(const ResolverLocConf& parent, ResolverLocConf& child) {
    if (!child.written && !child.timeout) {
        child.written = parent.written;
        child.timeout = parent.timeout;
        child.spec = parent.spec;  // shared: one resolver (and cache) per worker
        if (child.spec || !child.written) {
            return Status::ok();
        }
    }
    if (!child.written) {
        child.written = parent.written;
    }
    core::inherit(child.timeout, parent.timeout, ev::Duration(30000));
    if (child.written) {
        auto spec = std::make_shared<ev::ResolverSpec>(*child.written);
        spec->timeout = *child.timeout;
        child.spec = std::move(spec);
    }
    return Status::ok();
}

namespace {

/// Every address of `host` with `port`, for a name server given by name (nginx resolves it
/// at configuration time, as here: in the master, before any worker runs).
bool add_addresses(const std::string& host, uint16_t port, std::vector<core::SockAddr>& out) {
    if (auto ip = core::SockAddr::from_ip(host, port)) {
        out.push_back(*ip);
        return true;
    }
    return core::resolve_host(host, port, out);
}

/// One address argument: "127.0.0.1", "127.0.0.1:5353", "[::1]:53", "::1", "ns.example".
Status add_server(ConfContext& cf, const std::string& text, ev::ResolverSpec& spec) {
    std::string host = text;
    uint16_t port = 53;
    std::string port_text;
    if (!text.empty() && text[0] == '[') {
        size_t close = text.find(']');
        if (close == std::string::npos || (close + 1 < text.size() && text[close + 1] != ':')) {
            return cf.error("invalid IPv6 address in resolver \"" + text + "\"");
        }
        host = text.substr(1, close - 1);
        if (close + 1 < text.size()) {
            port_text = text.substr(close + 2);
        }
    } else if (size_t colon = text.find(':');
               colon != std::string::npos && text.find(':', colon + 1) == std::string::npos) {
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
    }
    if (!port_text.empty() || (text.size() > 0 && text.back() == ':')) {
        auto p = core::parse_int(port_text);
        if (!p || *p < 1 || *p > 65535) {
            return cf.error("invalid port in resolver \"" + text + "\"");
        }
        port = static_cast<uint16_t>(*p);
    }
    if (host.empty() || !add_addresses(host, port, spec.servers)) {
        return cf.error("host not found in resolver \"" + text + "\"");
    }
    return Status::ok();
}

Status set_resolver(ConfContext& cf, ResolverLocConf& conf) {
    if (conf.written) {
        return cf.duplicate();
    }
    auto spec = std::make_shared<ev::ResolverSpec>();
    spec->where = cf.node().where();
    for (const std::string& a : cf.args()) {
        auto on_off = [&](std::string_view prefix, bool& out) -> std::optional<Status> {
            if (a.compare(0, prefix.size(), prefix) != 0) {
                return std::nullopt;
            }
            std::string_view v = std::string_view(a).substr(prefix.size());
            if (v != "on" && v != "off") {
                return cf.error("invalid parameter: " + a);
            }
            out = v == "on";
            return Status::ok();
        };
        if (a.compare(0, 6, "valid=") == 0) {
            auto t = core::parse_duration(std::string_view(a).substr(6));
            if (!t) {
                return cf.error("invalid parameter: " + a);
            }
            if (t->count() > 0) {
                spec->valid = *t;  // valid=0: the answers' TTL, as without it
            }
        } else if (auto s = on_off("ipv4=", spec->ipv4)) {
            HALO_TRY(*s);
        } else if (auto s = on_off("ipv6=", spec->ipv6)) {
            HALO_TRY(*s);
        } else if (a.compare(0, 12, "status_zone=") == 0) {
            return cf.error(
                "\"status_zone\" of \"resolver\" is not supported by halo: its statistics are "
                "an nginx Plus feature; remove the parameter");
        } else {
            HALO_TRY(add_server(cf, a, *spec));
        }
    }
    if (!spec->ipv4 && !spec->ipv6) {
        return cf.error("\"ipv4\" and \"ipv6\" cannot both be \"off\"");
    }
    if (spec->servers.empty()) {
        return cf.error("no name servers defined");
    }
    conf.written = std::move(spec);
    return Status::ok();
}

Status set_timeout(ConfContext& cf, ResolverLocConf& conf) {
    std::optional<std::chrono::milliseconds> t = conf.timeout;
    HALO_TRY(core::detail::set_positive_duration(cf, t));
    conf.timeout = *t;
    return Status::ok();
}

constexpr uint32_t kAll = core::kCtxHttpAll;

constexpr core::Directive kDirectives[] = {
    {"resolver", kAll, core::kArgs1ToN, core::setter<&set_resolver>()},
    {"resolver_timeout", kAll, core::kArgs1, core::setter<&set_timeout>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<ResolverLocConf>(core::ConfLevel::kHttpLoc),
};

void exit_process(core::Cycle&) {
    ev::Resolver::clear_all();
}

}  // namespace

extern const core::Module kModule{
    .name = "http_resolver",
    .type = core::ModuleType::kHttp,
    .directives = kDirectives,
    .confs = kConfs,
    .exit_process = &exit_process,
};

}  // namespace mod::resolver
