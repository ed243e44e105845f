// The stream_ssl_preread module (nginx's ngx_stream_ssl_preread_module): in the preread phase
// it reads the client's TLS ClientHello without terminating TLS and offers the server name,
// the ALPN protocols and the version as variables, so that `map` and `proxy_pass` can route
// on them. The bytes read go to the upstream first (the content module sends
// Session::preread).
#include "core/log.h"
#include "core/module.h"
#include "stream/modules/ssl_preread/client_hello.h"
#include "stream/stream.h"

namespace mod::ssl_preread {

extern const core::Module kModule;

namespace {

using core::Status;

struct PrereadConf : core::ConfBase {
    std::optional<bool> enabled;  // ssl_preread on|off
};

Status merge(const PrereadConf& parent, PrereadConf& child) {
    core::inherit(child.enabled, parent.enabled, false);
    return Status::ok();
}

/// What the ClientHello said, kept on the session.
struct HelloCtx : stream::SessionCtx {
    ClientHello hello;
    bool done = false;
    /// Bytes came that may start a ClientHello (nginx keeps its context then): the variables
    /// are found, empty until the ClientHello is whole. Before any byte, or when the bytes
    /// are no TLS handshake, they are not found ("-" in a log line), as nginx's.
    bool seen = false;
};

int module_index() {
    return core::ConfSlot<PrereadConf>::index;
}

const HelloCtx* hello_of(const stream::Session& s) {
    auto i = static_cast<size_t>(module_index());
    if (i >= s.ctx.size() || !s.ctx[i]) {
        return nullptr;
    }
    const auto* h = static_cast<const HelloCtx*>(s.ctx[i].get());
    return h->seen ? h : nullptr;
}

stream::Flow preread(stream::Session& s) {
    if (s.udp || !*s.srv_conf<PrereadConf>().enabled) {
        return stream::Flow::kDeclined;
    }
    auto& ctx = s.ctx_of<HelloCtx>(module_index());
    size_t limit = s.srv_conf<stream::StreamSrvConf>().preread_buffer_size->bytes;
    ClientHello hello;
    switch (parse_client_hello(s.preread, hello, limit)) {
        case HelloStatus::kNeedMore:
            ctx.seen = !s.preread.empty();
            return stream::Flow::kAgain;
        case HelloStatus::kDone:
            ctx.hello = std::move(hello);
            ctx.done = true;
            ctx.seen = true;
            return stream::Flow::kNext;
        case HelloStatus::kTooLarge:
            ctx.seen = true;
            core::log_conn(core::LogLevel::kError, s.id, "preread buffer full, client: %s",
                           s.peer.host_text().c_str());
            s.status = 400;
            return stream::Flow::kDone;
        case HelloStatus::kNotTls:
        case HelloStatus::kInvalid:
            break;
    }
    ctx.seen = false;
    return stream::Flow::kDeclined;  // not TLS: the variables are not found
}

template <std::string ClientHello::*Field>
bool get_field(const stream::Session& s, std::string_view, std::string& out) {
    const HelloCtx* h = hello_of(s);
    if (h == nullptr) {
        return false;  // ssl_preread off, no byte came, or no TLS handshake (nginx)
    }
    if (h->done) {
        out += h->hello.*Field;
    }
    return true;
}

Status postconfiguration(core::Cycle& cycle) {
    stream::add_phase_handler(cycle, stream::Phase::kPreread, &preread);
    stream::add_variable(cycle, {"ssl_preread_server_name", &get_field<&ClientHello::server_name>});
    stream::add_variable(cycle,
                         {"ssl_preread_alpn_protocols", &get_field<&ClientHello::alpn_protocols>});
    stream::add_variable(cycle, {"ssl_preread_protocol", &get_field<&ClientHello::protocol>});
    return Status::ok();
}

constexpr core::Directive kDirectives[] = {
    {"ssl_preread", core::kCtxStreamAll, core::kArgs1, core::slot<&PrereadConf::enabled>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<PrereadConf>(core::ConfLevel::kStreamSrv),
};

}  // namespace

extern const core::Module kModule{
    .name = "stream_ssl_preread",
    .type = core::ModuleType::kStream,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &postconfiguration,
};

}  // namespace mod::ssl_preread
