// TLS to the upstream in stream (nginx's proxy_ssl and proxy_ssl_* of the stream proxy): the
// directives stream has alone (proxy_ssl, proxy_ssl_name with stream variables), and the
// client contexts, made by the tls layer (shared with http's proxy). The handshake itself runs
// in tcp_proxy.cc, once the upstream's TCP connection is up.
#include "core/cycle.h"
#include "stream/modules/proxy/stream_proxy.h"

namespace mod::stream_proxy {
namespace {

using core::ConfContext;
using core::Status;

Status set_ssl_name(ConfContext& cf, ProxyConf& conf) {
    if (conf.ssl_name) {
        return cf.duplicate();
    }
    conf.ssl_name = std::make_shared<stream::ComplexValue>();
    HALO_TRY(stream::ComplexValue::parse(cf.arg(0), cf.node().where(), *conf.ssl_name));
    stream::register_complex_value(cf.cycle(), conf.ssl_name.get());
    return Status::ok();
}

}  // namespace

const std::array<core::Directive, 2> kSslDirectives = {{
    {"proxy_ssl", core::kCtxStreamAll, core::kArgs1, core::slot<&ProxyConf::ssl_enable>()},
    {"proxy_ssl_name", core::kCtxStreamAll, core::kArgs1, core::setter<&set_ssl_name>()},
}};

void merge_ssl(const ProxyConf& parent, ProxyConf& child) {
    tls::merge_client_conf(parent, child);
    core::inherit(child.ssl_enable, parent.ssl_enable, false);
    if (!child.ssl_name) {
        child.ssl_name = parent.ssl_name;  // the stream level's value, bound once
    }
}

Status make_ssl_contexts(core::Cycle& cycle) {
    stream::StreamMainConf* main = stream::stream_main(cycle);
    if (main == nullptr) {
        return Status::ok();
    }
    std::vector<std::pair<tls::SslClientSettings, std::shared_ptr<tls::ClientContext>>> made;
    for (auto& srv : main->servers) {
        auto& c = core::conf_of<ProxyConf>(srv->srv_confs);
        if (*c.ssl_enable) {
            HALO_TRY(tls::client_context_for(c, made));
        }
    }
    return Status::ok();
}

std::string upstream_ssl_name(stream::Session& s, const ProxyConf& conf,
                              const upstream::Group& group) {
    if (conf.ssl_name) {
        return conf.ssl_name->eval(s);
    }
    return tls::ssl_name_without_port(group.name());
}

}  // namespace mod::stream_proxy
