// The stream_proxy module's directives: proxy_pass and its timeouts, retries, PROXY protocol,
// buffer, UDP limits, bind; proxy_ssl_* (stream_proxy_ssl.cc and the tls layer).
#include <unordered_map>

#include "core/clock.h"
#include "core/log.h"
#include "core/module.h"
#include "event/runtime.h"
#include "stream/modules/proxy/stream_proxy.h"

namespace mod::stream_proxy {
namespace {

using core::ConfContext;
using core::Status;
using namespace std::chrono_literals;

/// `proxy_pass $var`: the group named by the value (an upstream block of the stream block),
/// else the address it gives ("10.0.0.1:443"), a group of its own made on first use in this
/// process (as nginx makes a round-robin peer of an address; names are not resolved).
const upstream::Group* group_for(stream::Session& s, const ProxyConf& conf) {
    std::string name = conf.pass_value->eval(s);
    core::Cycle& cycle = ev::Runtime::current().cycle();
    if (const upstream::Group* g = upstream::find_group(cycle, name, true)) {
        return g;
    }
    static std::unordered_map<std::string, std::unique_ptr<upstream::Group>> by_address;
    auto it = by_address.find(name);
    if (it != by_address.end()) {
        return it->second.get();
    }
    auto addr = core::SockAddr::parse(name, 0);
    if (name.empty() || !addr || addr->port() == 0 || by_address.size() >= 1024) {
        core::log_conn(core::LogLevel::kError, s.id,
                       "no upstream \"%s\" (proxy_pass %s): neither an upstream of the stream "
                       "block nor an address:port, client: %s",
                       name.c_str(), conf.pass_value->text().c_str(), s.peer.host_text().c_str());
        return nullptr;
    }
    upstream::Server srv;
    srv.name = name;
    srv.addr = *addr;
    auto g = upstream::Group::make(name, {srv});
    if (!g) {
        return nullptr;
    }
    g->set_stream(true);
    return (by_address[name] = std::move(g)).get();
}

void content(stream::Session& s) {
    const auto& conf = s.srv_conf<ProxyConf>();
    const upstream::Group* group = conf.group;
    if (conf.pass_value) {
        group = group_for(s, conf);
        if (group == nullptr) {
            s.finalize(502);
            return;
        }
    }
    if (s.udp) {
        start_udp(s, conf, *group);
    } else {
        start_tcp(s, conf, *group);
    }
}

Status set_proxy_pass(ConfContext& cf, ProxyConf& conf) {
    if (conf.group != nullptr || conf.pass_value) {
        return cf.duplicate();
    }
    const std::string& target = cf.arg(0);
    auto& sc = core::conf_of<stream::StreamSrvConf>(*cf.confs(core::ConfLevel::kStreamSrv));
    if (sc.content != nullptr) {
        return cf.error("\"proxy_pass\" conflicts with \"" + sc.content_name + "\" in " +
                        sc.content_where);
    }
    if (target.find('$') != std::string::npos) {
        conf.pass_value = std::make_unique<stream::ComplexValue>();
        HALO_TRY(stream::ComplexValue::parse(target, cf.node().where(), *conf.pass_value));
        stream::register_complex_value(cf.cycle(), conf.pass_value.get());
    } else {
        // `name` (an upstream block), `host:port` or `unix:/path` (an implicit group).
        HALO_TRY(upstream::implicit_group(cf, target, conf.group, 0, true));
    }
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

/// `proxy_download_rate` / `proxy_upload_rate size`: bytes per second read from that side of
/// a TCP session (nginx's per-connection limit; 0: none).
Status set_rate(ConfContext& cf, ProxyConf& conf) {
    std::optional<core::Size>& slot =
        cf.name() == "proxy_download_rate" ? conf.download_rate : conf.upload_rate;
    if (slot) {
        return cf.duplicate();
    }
    if (cf.arg(0).find('$') != std::string::npos) {
        return cf.error("\"" + std::string(cf.name()) +
                        "\" with variables is not supported by halo yet");
    }
    auto s = core::parse_size(cf.arg(0));
    if (!s) {
        return cf.invalid_value(cf.arg(0));
    }
    slot = *s;
    if (s->bytes != 0 && conf.rate_where.empty()) {
        conf.rate_where = cf.node().where();
    }
    return Status::ok();
}

/// The `hash` keys of the stream groups, compiled with the stream variables (one per group).
struct HashKeys {
    std::unordered_map<const upstream::Group*, std::unique_ptr<stream::ComplexValue>> keys;
};

Status postconfiguration(core::Cycle& cycle) {
    stream::StreamMainConf* main = stream::stream_main(cycle);
    if (main == nullptr) {
        return Status::ok();
    }
    for (const auto& server : main->servers) {
        const auto& pc = server->conf<ProxyConf>();
        for (const stream::Listen& l : server->conf<stream::StreamSrvConf>().listens) {
            if (l.options.udp && pc.ssl_enable.value_or(false)) {
                // nginx proxies a UDP session in plain text under `proxy_ssl on` (it has no
                // DTLS), without a word; halo does the same and says so.
                HALO_LOG(kWarn,
                         "\"proxy_ssl on\" has no effect on the udp sessions of the server in "
                         "%s (\"listen ... udp\" in %s): datagrams go to the upstream in plain "
                         "text, as nginx sends them (there is no DTLS)",
                         server->where.c_str(), l.where.c_str());
            }
            if (l.options.udp && (pc.download_rate->bytes != 0 || pc.upload_rate->bytes != 0)) {
                return Status::error(
                    "\"proxy_download_rate\" and \"proxy_upload_rate\" are not supported by halo "
                    "for udp (\"listen ... udp\" in " +
                    l.where + "; only TCP sessions are limited) in " +
                    (pc.rate_where.empty() ? server->where : pc.rate_where));
            }
        }
    }
    HALO_TRY(make_ssl_contexts(cycle));
    for (const upstream::Group* g : upstream::all_groups(cycle)) {
        if (!g->stream() || g->stream_hash_key().empty()) {
            continue;
        }
        auto cv = std::make_unique<stream::ComplexValue>();
        HALO_TRY(stream::ComplexValue::parse(g->stream_hash_key(), "upstream \"" + g->name() + "\"",
                                             *cv));
        stream::register_complex_value(cycle, cv.get());
        cycle.attachment<HashKeys>().keys[g] = std::move(cv);
    }
    return Status::ok();
}

constexpr uint32_t kAll = core::kCtxStreamAll;

constexpr core::Directive kOwnDirectives[] = {
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

const auto kDirectives = tls::concat(tls::concat(std::to_array(kOwnDirectives), kSslDirectives),
                                     tls::client_directives<ProxyConf>(kAll));

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
    core::inherit(child.download_rate, parent.download_rate, core::Size{0});
    core::inherit(child.upload_rate, parent.upload_rate, core::Size{0});
    if (child.rate_where.empty()) {
        child.rate_where = parent.rate_where;
    }
    if (!child.bind_set) {
        child.bind = parent.bind;
        child.bind_set = parent.bind_set;
    }
    merge_ssl(parent, child);
    return Status::ok();
}

void hash_key(stream::Session& s, const upstream::Group& group, std::string& out) {
    if (group.stream_hash_key().empty()) {
        return;
    }
    if (const HashKeys* h = ev::Runtime::current().cycle().find_attachment<HashKeys>()) {
        auto it = h->keys.find(&group);
        if (it != h->keys.end()) {
            out.clear();
            it->second->eval(s, out);
        }
    }
}

std::string log_context(stream::Session& s, const upstream::Peer* peer) {
    std::string out = ", client: " + s.peer.host_text() + ", server: " + s.local().text();
    if (peer != nullptr && peer->server != nullptr) {
        out += ", upstream: \"" + peer->server->addr.text() + "\"";
    }
    return out;
}

PeerAttempts::PeerAttempts(stream::Session& s, const ProxyConf& conf, const upstream::Group& group)
    : s_(s), c_(conf), group_(group), first_ms_(core::steady_ms()) {
    pick_.client = s.peer;
    pick_.tried.assign(group.servers().size(), false);
    hash_key(s, group, pick_.key);
}

bool PeerAttempts::acquire_peer() {
    peer_ = group_.acquire(pick_);
    if (peer_.index < 0) {
        log(core::LogLevel::kError, "no live upstreams while connecting to upstream");
        return false;
    }
    released_ = false;
    pick_.tried[static_cast<size_t>(peer_.index)] = true;
    tries_++;
    attempt_ms_ = core::steady_ms();
    return true;
}

void PeerAttempts::release(upstream::Outcome outcome) {
    if (released_) {
        return;
    }
    released_ = true;
    int64_t now = core::steady_ms();
    group_.release(peer_, outcome, upstream::Millis(now - attempt_ms_), now);
}

bool PeerAttempts::may_try_next() const {
    int64_t elapsed = core::steady_ms() - first_ms_;
    return *c_.next_upstream && static_cast<size_t>(tries_) < group_.servers().size() &&
           (*c_.next_upstream_tries == 0 || tries_ < *c_.next_upstream_tries) &&
           (c_.next_upstream_timeout->count() == 0 || elapsed < c_.next_upstream_timeout->count());
}

void PeerAttempts::log(core::LogLevel level, const std::string& what) {
    std::string line = what + log_context(s_, peer_.index >= 0 ? &peer_ : nullptr);
    core::log_conn(level, s_.id, "%s", line.c_str());
}

extern const core::Module kModule{
    .name = "stream_proxy",
    .type = core::ModuleType::kStream,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &postconfiguration,
};

}  // namespace mod::stream_proxy
