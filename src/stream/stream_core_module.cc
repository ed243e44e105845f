// The stream core module: stream { server { listen ...; } }, preread and PROXY protocol
// limits; builds the phase engine and the listening sockets of a cycle.
#include <sys/un.h>

#include "core/log.h"
#include "core/module.h"
#include "stream/stream.h"

namespace stream {

extern const core::Module kStreamModule;

namespace {

using core::ConfContext;
using core::ConfLevel;
using core::ConfVector;
using core::Status;
using namespace std::chrono_literals;

Status set_stream(ConfContext& cf, StreamMainConf& main) {
    HALO_TRY(cf.mark_given(main.seen));
    main.main_confs = cf.create_confs(ConfLevel::kStreamMain);
    main.srv_defaults = cf.create_confs(ConfLevel::kStreamSrv);
    ConfContext::Frame frames[] = {{ConfLevel::kStreamMain, &main.main_confs},
                                   {ConfLevel::kStreamSrv, &main.srv_defaults}};
    HALO_TRY(cf.apply_block(cf.node().children, core::kCtxStream, frames));
    HALO_TRY(cf.finalize_confs(ConfLevel::kStreamMain, main.main_confs));
    ConfVector fresh = cf.create_confs(ConfLevel::kStreamSrv);
    HALO_TRY(cf.merge_confs(ConfLevel::kStreamSrv, fresh, main.srv_defaults));
    for (auto& srv : main.servers) {
        HALO_TRY(cf.merge_confs(ConfLevel::kStreamSrv, main.srv_defaults, srv->srv_confs));
    }
    return Status::ok();
}

Status set_server(ConfContext& cf) {
    StreamMainConf& main = cf.cycle().conf<StreamMainConf>();
    auto srv = std::make_unique<ServerBlock>();
    srv->where = cf.node().where();
    srv->srv_confs = cf.create_confs(ConfLevel::kStreamSrv);
    ConfContext::Frame frame{ConfLevel::kStreamSrv, &srv->srv_confs};
    HALO_TRY(cf.apply_block(cf.node().children, core::kCtxStreamServer, std::span(&frame, 1)));
    if (core::conf_of<StreamSrvConf>(srv->srv_confs).listens.empty()) {
        return cf.error("no \"listen\" is defined for server");
    }
    main.servers.push_back(std::move(srv));
    return Status::ok();
}

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

Status set_listen(ConfContext& cf, StreamSrvConf& conf) {
    Listen l;
    const std::string& text = cf.arg(0);
    if (starts_with(text, "unix:")) {
        auto a = core::SockAddr::from_unix_path(std::string_view(text).substr(5));
        if (!a) {
            return cf.error("invalid unix domain socket \"" + text + "\" in \"listen\"");
        }
        l.addr.storage.ss_family = AF_UNIX;
        l.addr.len = sizeof(sa_family_t);
        l.unix_path = text.substr(5);
    } else {
        // nginx's stream listen needs a port: "listen 12345", "listen 127.0.0.1:12345".
        auto addr = core::SockAddr::parse(text, 0);
        if (!addr || addr->port() == 0) {
            return cf.error((addr ? "no port in \"" : "invalid address \"") + text +
                            "\" of the \"listen\" directive");
        }
        l.addr = *addr;
    }
    l.where = cf.node().where();
    core::ListenOptions& o = l.options;
    std::string why;
    std::string_view tcp_only;  // a parameter that means nothing for UDP
    for (size_t i = 1; i < cf.args().size(); i++) {
        const std::string& a = cf.arg(i);
        if (a == "udp") {
            o.udp = true;
        } else if (a == "ssl") {
            l.ssl = true;
        } else if (a == "proxy_protocol") {
            l.proxy_protocol = true;
        } else if (int r = core::parse_listen_socket_param(a, o, why); r != 0) {
            if (r < 0) {
                return cf.error(why);
            }
            if (starts_with(a, "backlog=") || starts_with(a, "so_keepalive=") || a == "deferred" ||
                starts_with(a, "fastopen=")) {
                tcp_only = cf.arg(i);
            }
        } else {
            return cf.error("invalid parameter \"" + a + "\"");
        }
    }
    if (o.udp) {
        if (l.ssl) {
            return cf.error("\"ssl\" parameter is incompatible with \"udp\"");
        }
        if (l.proxy_protocol) {
            return cf.error("\"proxy_protocol\" parameter is incompatible with \"udp\"");
        }
        if (!tcp_only.empty()) {
            std::string name(tcp_only.substr(0, tcp_only.find('=')));
            return cf.error("\"" + name + "\" parameter is incompatible with \"udp\"");
        }
        if (l.addr.family() == AF_UNIX) {
            return cf.error("\"udp\" is not supported by halo on a unix socket");
        }
    }
    StreamMainConf& main = cf.cycle().conf<StreamMainConf>();
    auto same = [&](const Listen& other) {
        return other.addr == l.addr && other.unix_path == l.unix_path &&
               other.options.udp == l.options.udp;
    };
    auto duplicate = [&] {
        return cf.error("duplicate \"" + (l.unix_path.empty() ? l.addr.text() : text) + "\"" +
                        (o.udp ? " udp" : "") + " address and port pair");
    };
    for (const auto& other : conf.listens) {
        if (same(other)) {
            return duplicate();
        }
    }
    for (const auto& srv : main.servers) {
        for (const auto& other : srv->conf<StreamSrvConf>().listens) {
            if (same(other)) {
                return duplicate();
            }
        }
    }
    conf.listens.push_back(std::move(l));
    return Status::ok();
}

constexpr uint32_t kAll = core::kCtxStreamAll;

constexpr core::Directive kDirectives[] = {
    {"stream", core::kCtxMain, core::kArgsBlock, core::setter<&set_stream>()},
    {"server", core::kCtxStream, core::kArgsBlock, core::setter_noconf<&set_server>()},
    {"listen", core::kCtxStreamServer, core::kArgs1ToN, core::setter<&set_listen>()},
    {"preread_buffer_size", kAll, core::kArgs1, core::slot<&StreamSrvConf::preread_buffer_size>()},
    {"preread_timeout", kAll, core::kArgs1, core::slot<&StreamSrvConf::preread_timeout>()},
    {"proxy_protocol_timeout", kAll, core::kArgs1,
     core::slot<&StreamSrvConf::proxy_protocol_timeout>()},
    {"tcp_nodelay", kAll, core::kArgs1, core::slot<&StreamSrvConf::tcp_nodelay>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<StreamMainConf>(ConfLevel::kMain),
    core::conf_hooks<StreamSrvConf>(ConfLevel::kStreamSrv),
};

/// nginx's engine: every phase's handlers in order, each entry knowing the first of the next
/// phase (content and log are not in it).
void build_engine(StreamMainConf& main) {
    main.engine.clear();
    for (size_t p = 0; p < static_cast<size_t>(Phase::kContent); p++) {
        size_t first_of_next = main.engine.size() + main.registered[p].size();
        for (PhaseHandler h : main.registered[p]) {
            main.engine.push_back({h, static_cast<Phase>(p), first_of_next});
        }
    }
    main.log_handlers = main.registered[static_cast<size_t>(Phase::kLog)];
}

Status init_cycle(core::Cycle& cycle) {
    StreamMainConf* main = stream_main(cycle);
    if (main == nullptr) {
        return Status::ok();
    }
    build_engine(*main);
    for (ComplexValue* cv : main->values) {
        HALO_TRY(cv->bind(*main));
    }
    for (auto& srv : main->servers) {
        for (const Listen& l : srv->conf<StreamSrvConf>().listens) {
            if (l.ssl && main->registered[static_cast<size_t>(Phase::kSsl)].empty()) {
                return Status::error(
                    "the \"ssl\" parameter of \"listen\" requires the stream_ssl module "
                    "(halo was built without it) in " +
                    l.where);
            }
            Status err = Status::ok();
            core::Listening* ls = cycle.add_listening(l.addr, l.options, l.where, err, l.unix_path);
            if (ls == nullptr) {
                return err;
            }
            if (ls->handler != nullptr) {
                return Status::error("duplicate \"" + l.addr.text() +
                                     "\" address and port pair: the http block listens on it "
                                     "too, in " +
                                     l.where);
            }
            main->ports.push_back(std::make_unique<Port>(*srv, l, ls));
            ls->handler = main->ports.back().get();
        }
    }
    return Status::ok();
}

Status postconfiguration(core::Cycle& cycle) {
    if (StreamMainConf* main = stream_main(cycle)) {
        for (const VariableDef& d : core_variables()) {
            main->variables.push_back(d);
        }
    }
    return Status::ok();
}

}  // namespace

Status merge(const StreamSrvConf& parent, StreamSrvConf& child) {
    core::inherit(child.preread_buffer_size, parent.preread_buffer_size, core::Size{16384});
    core::inherit(child.preread_timeout, parent.preread_timeout, Millis(30s));
    core::inherit(child.proxy_protocol_timeout, parent.proxy_protocol_timeout, Millis(30s));
    core::inherit(child.tcp_nodelay, parent.tcp_nodelay, true);
    if (child.content == nullptr) {
        child.content = parent.content;
        child.content_where = parent.content_where;
        child.content_name = parent.content_name;
    }
    return Status::ok();
}

StreamMainConf::StreamMainConf() = default;
StreamMainConf::~StreamMainConf() = default;

StreamMainConf* stream_main(core::Cycle& cycle) {
    int index = cycle.registry().index_of(kStreamModule);
    if (index < 0) {
        return nullptr;
    }
    auto& main = cycle.conf<StreamMainConf>();
    return main.seen ? &main : nullptr;
}

void add_phase_handler(core::Cycle& cycle, Phase phase, PhaseHandler h) {
    if (StreamMainConf* main = stream_main(cycle)) {
        main->registered[static_cast<size_t>(phase)].push_back(h);
    }
}

extern const core::Module kStreamModule{
    .name = "stream",
    .type = core::ModuleType::kStream,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &postconfiguration,
    .init_cycle = &init_cycle,
};

}  // namespace stream
