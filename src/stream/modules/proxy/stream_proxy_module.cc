// The stream_proxy module's directives: proxy_pass and its timeouts, retries, PROXY protocol,
// buffer, UDP limits, bind.
#include "core/log.h"
#include "core/module.h"
#include "stream/modules/proxy/stream_proxy.h"

namespace mod::stream_proxy {
namespace {

using core::ConfContext;
using core::Status;
using namespace std::chrono_literals;

void content(stream::Session& s) {
    const auto& conf = s.srv_conf<ProxyConf>();
    if (s.udp) {
        start_udp(s, conf);
    } else {
        start_tcp(s, conf);
    }
}

Status set_proxy_pass(ConfContext& cf, ProxyConf& conf) {
    if (conf.group != nullptr) {
        return cf.duplicate();
    }
    const std::string& target = cf.arg(0);
    if (target.find('$') != std::string::npos) {
        return cf.error(
            "\"proxy_pass\" with variables is not supported by halo in stream yet: name an "
            "upstream group or an address");
    }
    auto& sc = core::conf_of<stream::StreamSrvConf>(*cf.confs(core::ConfLevel::kStreamSrv));
    if (sc.content != nullptr) {
        return cf.error("\"proxy_pass\" conflicts with \"" + sc.content_name + "\" in " +
                        sc.content_where);
    }
    // `name` (an upstream block), `host:port` or `unix:/path` (an implicit group).
    HALO_TRY(upstream::implicit_group(cf, target, conf.group, 0, true));
    conf.pass_where = cf.node().where();
    sc.content = &content;
    sc.content_where = conf.pass_where;
    sc.content_name = "proxy_pass";
    return Status::ok();
}

Status set_bind(ConfContext& cf, ProxyConf& conf) {
    if (conf.bind_set) {
        return cf.duplicate();
    }
    conf.bind_set = true;
    if (cf.args().size() > 1) {
        return cf.error(
            "the \"transparent\" parameter of \"proxy_bind\" is not supported by "
            "halo (it needs IP_TRANSPARENT and policy routing)");
    }
    if (cf.arg(0) == "off") {
        return Status::ok();
    }
    if (cf.arg(0).find('$') != std::string::npos) {
        return cf.error("\"proxy_bind\" with variables is not supported by halo in stream yet");
    }
    auto a = core::SockAddr::from_ip(cf.arg(0), 0);
    if (!a) {
        return cf.error("invalid address \"" + cf.arg(0) + "\"");
    }
    conf.bind = *a;
    return Status::ok();
}

Status set_rate(ConfContext& cf, ProxyConf&) {
    auto s = core::parse_size(cf.arg(0));
    if (!s) {
        return cf.invalid_value(cf.arg(0));
    }
    if (s->bytes != 0) {
        return cf.error("\"" + std::string(cf.name()) +
                        "\" is not supported by halo yet: the stream proxy does not limit "
                        "its rate (0, the default, is accepted)");
    }
    return Status::ok();
}

constexpr uint32_t kAll = core::kCtxStreamAll;

constexpr core::Directive kDirectives[] = {
    {"proxy_pass", core::kCtxStreamServer, core::kArgs1, core::setter<&set_proxy_pass>()},
    {"proxy_connect_timeout", kAll, core::kArgs1, core::slot<&ProxyConf::connect_timeout>()},
    {"proxy_timeout", kAll, core::kArgs1, core::slot<&ProxyConf::timeout>()},
    {"proxy_next_upstream", kAll, core::kArgs1, core::slot<&ProxyConf::next_upstream>()},
    {"proxy_next_upstream_tries", kAll, core::kArgs1,
     core::slot<&ProxyConf::next_upstream_tries, 0, INT32_MAX>()},
    {"proxy_next_upstream_timeout", kAll, core::kArgs1,
     core::slot<&ProxyConf::next_upstream_timeout>()},
    {"proxy_protocol", kAll, core::kArgs1, core::slot<&ProxyConf::proxy_protocol>()},
    {"proxy_buffer_size", kAll, core::kArgs1, core::slot<&ProxyConf::buffer_size>()},
    {"proxy_responses", kAll, core::kArgs1, core::slot<&ProxyConf::responses, 0, INT32_MAX>()},
    {"proxy_requests", kAll, core::kArgs1, core::slot<&ProxyConf::requests, 0, INT32_MAX>()},
    {"proxy_half_close", kAll, core::kArgs1, core::slot<&ProxyConf::half_close>()},
    {"proxy_socket_keepalive", kAll, core::kArgs1, core::slot<&ProxyConf::socket_keepalive>()},
    {"proxy_bind", kAll, core::kArgs1To2, core::setter<&set_bind>()},
    {"proxy_download_rate", kAll, core::kArgs1, core::setter<&set_rate>()},
    {"proxy_upload_rate", kAll, core::kArgs1, core::setter<&set_rate>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<ProxyConf>(core::ConfLevel::kStreamSrv),
};

}  // namespace

Status merge(const ProxyConf& parent, ProxyConf& child) {
    core::inherit(child.connect_timeout, parent.connect_timeout, Millis(60s));
    core::inherit(child.timeout, parent.timeout, Millis(10min));
    core::inherit(child.next_upstream, parent.next_upstream, true);
    core::inherit(child.next_upstream_tries, parent.next_upstream_tries, int64_t{0});
    core::inherit(child.next_upstream_timeout, parent.next_upstream_timeout, Millis(0));
    core::inherit(child.proxy_protocol, parent.proxy_protocol, false);
    core::inherit(child.buffer_size, parent.buffer_size, core::Size{16384});
    if (!child.responses) {
        child.responses = parent.responses;
    }
    core::inherit(child.requests, parent.requests, int64_t{0});
    core::inherit(child.half_close, parent.half_close, false);
    core::inherit(child.socket_keepalive, parent.socket_keepalive, false);
    if (!child.bind_set) {
        child.bind = parent.bind;
        child.bind_set = parent.bind_set;
    }
    return Status::ok();
}

std::string log_context(stream::Session& s, const upstream::Peer* peer) {
    std::string out = ", client: " + s.peer.host_text() + ", server: " + s.local().text();
    if (peer != nullptr && peer->server != nullptr) {
        out += ", upstream: \"" + peer->server->addr.text() + "\"";
    }
    return out;
}

extern const core::Module kModule{
    .name = "stream_proxy",
    .type = core::ModuleType::kStream,
    .directives = kDirectives,
    .confs = kConfs,
};

}  // namespace mod::stream_proxy
