// HTTP/2 for clients (nginx's ngx_http_v2_module): `listen ... http2` (the whole port) and
// `http2 on` (a server, nginx 1.25.1), h2 by ALPN on TLS ports and h2c with prior knowledge
// in clear, both beside HTTP/1.1 on the same port. An HTTP/1 session that reads the client's
// connection preface hands its socket over (HttpMainConf::start_http2); the streams run
// through the same phase engine (h2_connection.cc, h2_stream.cc).
#include <nghttp2/nghttp2.h>

#include <string>

#include "core/log.h"
#include "core/module.h"
#include "http/http.h"
#include "http/modules/http2/h2_conf.h"
#include "http/modules/http2/h2_connection.h"
#include "http/session.h"
#include "http/variables.h"

namespace mod::http_v2 {

using core::ConfContext;
using core::Status;

// Found by argument-dependent lookup (conf_hooks): in the confs' namespace.
Status merge(const Http2MainConf& parent, Http2MainConf& child) {
    core::inherit(child.recv_buffer_size, parent.recv_buffer_size, core::Size{256 * 1024});
    return Status::ok();
}

Status merge(const Http2SrvConf& parent, Http2SrvConf& child) {
    core::inherit(child.enable, parent.enable, false);
    core::inherit(child.max_concurrent_streams, parent.max_concurrent_streams, uint64_t{128});
    core::inherit(child.body_preread_size, parent.body_preread_size, core::Size{64 * 1024});
    return Status::ok();
}

Status merge(const Http2LocConf& parent, Http2LocConf& child) {
    core::inherit(child.chunk_size, parent.chunk_size, core::Size{8 * 1024});
    return Status::ok();
}

namespace {

constexpr uint32_t kHttpAll = core::kCtxHttpAll;
constexpr uint32_t kHttpSrv = core::kCtxHttpSrv;

Status set_recv_buffer_size(ConfContext& cf, Http2MainConf& conf) {
    HALO_TRY(core::slot<&Http2MainConf::recv_buffer_size>().fn(cf, conf));
    if (conf.recv_buffer_size->bytes <= 2 * 16384) {
        return cf.error(
            "the \"http2_recv_buffer_size\" value is too small, it must be more "
            "than 32k");  // nginx: 2 * NGX_HTTP_V2_STATE_BUFFER_SIZE
    }
    return Status::ok();
}

Status set_chunk_size(ConfContext& cf, Http2LocConf& conf) {
    HALO_TRY(core::slot<&Http2LocConf::chunk_size>().fn(cf, conf));
    if (conf.chunk_size->bytes == 0) {
        return cf.error("the http2 chunk size cannot be zero");
    }
    if (conf.chunk_size->bytes > 16384) {
        conf.chunk_size = core::Size{16384};  // nginx: NGX_HTTP_V2_MAX_FRAME_SIZE
    }
    return Status::ok();
}

Status set_body_preread_size(ConfContext& cf, Http2SrvConf& conf) {
    HALO_TRY(core::slot<&Http2SrvConf::body_preread_size>().fn(cf, conf));
    if (conf.body_preread_size->bytes > 0x7fffffff) {
        return cf.error("the http2 body preread buffer size is too large");
    }
    return Status::ok();
}

/// nginx 1.19.7 made these obsolete: accepted with its warning, the named directive rules.
Status obsolete(ConfContext& cf, Http2SrvConf&) {
    std::string_view name = cf.name();
    std::string_view instead = name == "http2_idle_timeout"   ? "keepalive_timeout"
                               : name == "http2_max_requests" ? "keepalive_requests"
                               : name == "http2_recv_timeout" ? "client_header_timeout"
                                                              : "large_client_header_buffers";
    HALO_LOG(kWarn, "the \"%.*s\" directive is obsolete, use the \"%.*s\" directive instead in %s",
             static_cast<int>(name.size()), name.data(), static_cast<int>(instead.size()),
             instead.data(), cf.node().where().c_str());
    return Status::ok();
}

/// Server push (removed from nginx in 1.25.1, from browsers before): `off` is what halo does;
/// anything that would push is refused.
Status set_push(ConfContext& cf, Http2LocConf&) {
    std::string_view name = cf.name();
    if (cf.arg(0) == "off") {
        return Status::ok();
    }
    if (name == "http2_max_pushes") {
        HALO_LOG(kWarn, "the \"http2_max_pushes\" directive is obsolete, ignored in %s",
                 cf.node().where().c_str());
        return Status::ok();
    }
    return cf.error("\"" + std::string(name) +
                    "\" is not supported by halo: it does not do HTTP/2 server push (nginx "
                    "1.25.1 removed it too; use `Link: <...>; rel=preload` or 103 hints)");
}

constexpr core::Directive kDirectives[] = {
    {"http2", kHttpSrv, core::kArgs1, core::slot<&Http2SrvConf::enable>()},
    {"http2_max_concurrent_streams", kHttpSrv, core::kArgs1,
     core::slot<&Http2SrvConf::max_concurrent_streams, 1, INT32_MAX>()},
    {"http2_body_preread_size", kHttpSrv, core::kArgs1, core::setter<&set_body_preread_size>()},
    {"http2_recv_buffer_size", core::kCtxHttp, core::kArgs1, core::setter<&set_recv_buffer_size>()},
    {"http2_chunk_size", kHttpAll, core::kArgs1, core::setter<&set_chunk_size>()},
    {"http2_idle_timeout", kHttpSrv, core::kArgs1, core::setter<&obsolete>()},
    {"http2_max_requests", kHttpSrv, core::kArgs1, core::setter<&obsolete>()},
    {"http2_recv_timeout", kHttpSrv, core::kArgs1, core::setter<&obsolete>()},
    {"http2_max_field_size", kHttpSrv, core::kArgs1, core::setter<&obsolete>()},
    {"http2_max_header_size", kHttpSrv, core::kArgs1, core::setter<&obsolete>()},
    {"http2_push", kHttpAll, core::kArgs1, core::setter<&set_push>()},
    {"http2_push_preload", kHttpAll, core::kArgs1, core::setter<&set_push>()},
    {"http2_max_pushes", kHttpSrv, core::kArgs1, core::setter<&set_push>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<Http2MainConf>(core::ConfLevel::kHttpMain),
    core::conf_hooks<Http2SrvConf>(core::ConfLevel::kHttpSrv),
    core::conf_hooks<Http2LocConf>(core::ConfLevel::kHttpLoc),
};

bool enabled(const http::ServerBlock& srv) {
    return *core::conf_of<Http2SrvConf>(srv.srv_confs).enable;
}

/// $http2: "h2" over TLS, "h2c" in clear, empty for HTTP/1 (nginx).
bool get_http2(const http::Request& r, std::string_view, std::string& out) {
    if (r.http2) {
        out += r.session != nullptr && r.session->secure() ? "h2" : "h2c";
    }
    return true;
}

constexpr http::VariableDef kVariables[] = {
    {"http2", &get_http2},
};

Status postconfiguration(core::Cycle& cycle) {
    http::HttpMainConf* main = http::http_main(cycle);
    if (main == nullptr) {
        return Status::ok();
    }
    main->http2_enabled = &enabled;
    main->start_http2 = &H2Connection::start;
    for (const http::VariableDef& v : kVariables) {
        http::add_variable(cycle, v);
    }
    return Status::ok();
}

}  // namespace

extern const core::Module kModule{
    .name = "http_v2",
    .type = core::ModuleType::kHttp,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &postconfiguration,
};

}  // namespace mod::http_v2
