// proxy_pass with variables (nginx's semantics): the URL is evaluated per request; a host that
// names an upstream group (an `upstream` block, or the group of another proxy_pass with the
// same host:port) uses it; an address is used as it is; any other name is looked up with the
// location's `resolver`, without blocking the worker, and its addresses are tried in turn as
// the peers of this request. No resolver: 502, "no resolver defined to resolve NAME".

#include "core/clock.h"
#include "http/modules/resolver/resolver_conf.h"
#include "modules/proxy/proxy_exchange.h"

namespace mod::proxy::detail {

namespace {

/// The host of an authority without its port and brackets: "a:80" -> "a", "[::1]:80" -> "::1".
std::string bare_host(const ProxyPass& p) {
    std::string h = p.authority;
    if (p.explicit_port) {
        h.resize(h.rfind(':'));
    }
    if (h.size() >= 2 && h.front() == '[' && h.back() == ']') {
        h = h.substr(1, h.size() - 2);
    }
    return h;
}

}  // namespace

const ProxyPass* eval_pass(http::Request& r, const ProxyPass& conf) {
    std::string url = conf.value->eval(r);
    RequestPass& rp =
        r.ctx<RequestPass>() != nullptr ? *r.ctx<RequestPass>() : r.make_ctx<RequestPass>();
    rp.pass = ProxyPass{};
    rp.group.reset();
    ProxyPass& p = rp.pass;
    std::string why;
    if (!parse_pass_url(url, p, why)) {
        std::string msg = why.empty() ? "invalid URL prefix in \"" + url + "\""
                                      : why + " in upstream \"" + url + "\"";
        core::log_conn(core::LogLevel::kError, r.connection_id, "%s%s", msg.c_str(),
                       r.log_context().c_str());
        return nullptr;
    }
    p.dynamic = true;
    p.where = conf.where;
    p.cycle = conf.cycle;
    p.location_prefix = conf.location_prefix;
    // A group of that name: an upstream block (no port given), or the implicit group of a
    // proxy_pass to the same host:port.
    p.group = upstream::find_group(*conf.cycle,
                                   p.explicit_port || p.unix_socket ? p.authority : p.host, false);
    return &p;
}

void Exchange::log_request(core::LogLevel level, const std::string& msg) {
    core::log_conn(level, r_.connection_id, "%s%s", msg.c_str(), r_.log_context().c_str());
}

void Exchange::find_peers() {
    std::string host = bare_host(pass_);
    uint16_t port = static_cast<uint16_t>(core::parse_int(pass_.port).value_or(80));
    ev::ResolveResult res;
    if (pass_.unix_socket) {
        res.addrs.push_back(*core::SockAddr::from_unix_path(host.substr(5)));  // checked
        on_resolved(host, 0, res);
        return;
    }
    if (auto ip = core::SockAddr::from_ip(host, 0)) {
        res.addrs.push_back(*ip);
        on_resolved(host, port, res);
        return;
    }
    const auto& rc = r_.loc_conf<resolver::ResolverLocConf>();
    if (!rc.spec) {
        log_request(core::LogLevel::kError, "no resolver defined to resolve " + host);
        finish_error(502);
        return;
    }
    ev::Resolver& resolver = ev::Resolver::of(ev::Runtime::current().loop(), rc.spec);
    if (resolver.cached(host, res)) {
        on_resolved(host, port, res);
        return;
    }
    query_ = resolver.resolve(host, [this, host, port](const ev::ResolveResult& r) {
        query_.reset();
        on_resolved(host, port, r);  // may end the request: the last thing done
    });
}

void Exchange::on_resolved(const std::string& host, uint16_t port, const ev::ResolveResult& res) {
    if (res.code != ev::kResolveOk || res.addrs.empty()) {
        log_request(core::LogLevel::kError, host + " could not be resolved (" + res.error() + ")");
        finish_error(502);
        return;
    }
    std::vector<upstream::Server> servers;
    for (core::SockAddr a : res.addrs) {
        if (a.family() == AF_INET) {
            a.storage.in4.sin_port = htons(port);
        } else if (a.family() == AF_INET6) {
            a.storage.in6.sin6_port = htons(port);
        }
        upstream::Server s;
        s.name = a.text();
        s.addr = a;
        servers.push_back(std::move(s));
    }
    RequestPass* rp = r_.ctx<RequestPass>();
    if (rp == nullptr) {
        finish_error(500);
        return;
    }
    rp->group = upstream::Group::make(pass_.authority, std::move(servers));
    if (!rp->group) {
        finish_error(500);
        return;
    }
    rp->pass.group = rp->group.get();
    begin_with_peers();
}

}  // namespace mod::proxy::detail
