// set_real_ip_from / real_ip_header / real_ip_recursive, as nginx's realip module: when the
// connection comes from a trusted address, the client address is taken from a header
// (X-Real-IP, X-Forwarded-For or any other), in the post_read phase, before everything else.
#include <strings.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/module.h"
#include "core/net.h"
#include "http/http.h"
#include "http/parse.h"
#include "http/session.h"

namespace mod::http_realip {
namespace {

using core::ConfContext;
using core::Status;

struct RealIpLocConf : core::ConfBase {
    std::shared_ptr<std::vector<core::Cidr>> from;
    std::optional<std::string> header;  // X-Real-IP
    std::optional<bool> recursive;      // off
};

Status merge(const RealIpLocConf& parent, RealIpLocConf& child) {
    if (!child.from) {
        child.from = parent.from;
    }
    core::inherit(child.header, parent.header, "X-Real-IP");
    core::inherit(child.recursive, parent.recursive, false);
    return Status::ok();
}

Status set_from(ConfContext& cf, RealIpLocConf& conf) {
    auto cidr = core::Cidr::parse(cf.arg(0));
    if (!cidr) {
        return cf.invalid_value(cf.arg(0), "expected an address, a CIDR block or \"all\"");
    }
    if (!conf.from) {
        conf.from = std::make_shared<std::vector<core::Cidr>>();
    }
    conf.from->push_back(*cidr);
    return Status::ok();
}

constexpr core::Directive kDirectives[] = {
    {"set_real_ip_from", core::kCtxHttpAll, core::kArgs1, core::setter<&set_from>()},
    {"real_ip_header", core::kCtxHttpAll, core::kArgs1, core::slot<&RealIpLocConf::header>()},
    {"real_ip_recursive", core::kCtxHttpAll, core::kArgs1, core::slot<&RealIpLocConf::recursive>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<RealIpLocConf>(core::ConfLevel::kHttpLoc),
};

bool trusted(const RealIpLocConf& c, const core::SockAddr& a) {
    for (const core::Cidr& cidr : *c.from) {
        if (cidr.contains(a)) {
            return true;
        }
    }
    return false;
}

http::Flow realip_handler(http::Request& r) {
    // post_read runs before location matching: the server level's settings apply.
    const auto& c = core::conf_of<RealIpLocConf>(r.server->loc_confs);
    if (!c.from || !trusted(c, r.peer)) {
        return http::Flow::kDeclined;
    }
    if (*c.header == "proxy_protocol") {
        // The client address the balancer put in the connection's PROXY header.
        const http::ProxyHeader* p = r.session->proxy_header();
        if (p != nullptr && p->has_addrs) {
            r.peer = p->src;
        }
        return http::Flow::kDeclined;
    }
    const http::Header* h = r.find_header(*c.header);
    if (h == nullptr) {
        return http::Flow::kDeclined;
    }
    // X-Forwarded-For lists proxies left to right: take the rightmost address that is not a
    // trusted one (recursive), or simply the rightmost.
    std::string_view list = h->value;
    std::optional<core::SockAddr> chosen;
    while (!list.empty()) {
        size_t comma = list.rfind(',');
        std::string_view item =
            http::trim_ows(comma == std::string_view::npos ? list : list.substr(comma + 1));
        list = comma == std::string_view::npos ? std::string_view() : list.substr(0, comma);
        auto addr = core::SockAddr::from_ip(item, r.peer.port());
        if (!addr) {
            break;
        }
        chosen = addr;
        if (!*c.recursive || !trusted(c, *addr)) {
            break;
        }
    }
    if (chosen) {
        r.peer = *chosen;
    }
    return http::Flow::kDeclined;
}

constexpr http::PhaseHandlerEntry kPhaseHandlers[] = {
    {http::Phase::kPostRead, &realip_handler},
};

}  // namespace

extern const core::Module kModule{
    .name = "http_realip",
    .type = core::ModuleType::kHttp,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &http::register_phase_handlers<kPhaseHandlers>,
};

}  // namespace mod::http_realip
