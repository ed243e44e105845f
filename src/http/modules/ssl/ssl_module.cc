// TLS for the HTTP server, as nginx's ngx_http_ssl_module: `listen ... ssl` (parsed by the
// http core) and the ssl_* directives of http and server blocks (this file); the SSL_CTX of
// each server (ssl_context.cc, ssl_options.cc); the $ssl_* variables and the client
// certificate check of each request (ssl_variables.cc). SNI picks the server block's
// certificate. The handshake is bounded by client_header_timeout.
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/cycle.h"
#include "core/module.h"
#include "http/http.h"
#include "http/modules/resolver/resolver_conf.h"
#include "http/modules/ssl/ocsp.h"
#include "http/modules/ssl/ssl_conf.h"
#include "http/modules/ssl/ssl_context.h"
#include "http/session.h"
#include "tls/server_conf.h"
#include "tls/session_cache.h"
#include "tls/ssl_transport.h"

namespace mod::http_ssl {

core::Status merge(const SslSrvConf& parent, SslSrvConf& child) {
    tls::merge_server_conf(parent, child);
    core::inherit(child.buffer_size, parent.buffer_size, core::Size{16384});
    core::inherit(child.early_data, parent.early_data, false);
    core::inherit(child.reject_handshake, parent.reject_handshake, false);
    core::inherit(child.stapling, parent.stapling, false);
    core::inherit(child.stapling_file, parent.stapling_file, "");
    core::inherit(child.stapling_responder, parent.stapling_responder, "");
    core::inherit(child.stapling_verify, parent.stapling_verify, false);
    core::inherit(child.ocsp, parent.ocsp, OcspMode::kOff);
    core::inherit(child.ocsp_responder, parent.ocsp_responder, "");
    core::inherit(child.ocsp_cache, parent.ocsp_cache, nullptr);
    return core::Status::ok();
}

namespace {

using core::ConfContext;
using core::Status;
using namespace std::chrono_literals;

/// A file directive: the path, relative to the config folder as in nginx.
template <std::optional<std::string> SslSrvConf::*Member>
Status set_path(ConfContext& cf, SslSrvConf& conf) {
    if (conf.*Member) {
        return cf.duplicate();
    }
    conf.*Member = tls::conf_path(cf, cf.arg(0));
    return Status::ok();
}

/// nginx 1.25 removed `ssl on` (1.15.0 deprecated it): `listen ... ssl` says it.
Status refuse_ssl(ConfContext& cf, SslSrvConf&) {
    return cf.error(
        "\"ssl\" is not supported by halo: use the \"ssl\" parameter of the "
        "\"listen\" directive (nginx deprecated \"ssl on\" in 1.15.0 and removed it "
        "in 1.25.1)");
}

constexpr core::Named<OcspMode> kOcspNames[] = {
    {"off", OcspMode::kOff},
    {"on", OcspMode::kOn},
    {"leaf", OcspMode::kLeaf},
};

const char kOcspZoneTag = 0;              // owner of the OCSP cache zones
constexpr uint64_t kMinZoneSize = 32768;  // the cache's table and a few entries

/// `ssl_ocsp_cache off | shared:name:size`: the verdicts of every worker in one zone, laid out
/// as the session cache (keyed by a digest of the certificate's id).
Status set_ocsp_cache(ConfContext& cf, SslSrvConf& conf) {
    if (conf.ocsp_cache) {
        return cf.duplicate();
    }
    const std::string& v = cf.arg(0);
    if (v == "off") {
        conf.ocsp_cache = nullptr;
        return Status::ok();
    }
    size_t colon = v.rfind(':');
    if (v.size() <= 7 || v.compare(0, 7, "shared:") != 0 || colon < 8) {
        return cf.error("invalid OCSP cache \"" + v + "\"");
    }
    std::string name = v.substr(7, colon - 7);
    auto size = core::parse_size(std::string_view(v).substr(colon + 1));
    if (!size || name.find(':') != std::string::npos) {
        return cf.error("invalid OCSP cache \"" + v + "\"");
    }
    if (size->bytes < kMinZoneSize) {
        return cf.error("OCSP cache \"" + v + "\" is too small");
    }
    core::ShmZone* zone = cf.cycle().find_shm_zone(name);
    if (zone != nullptr && zone->tag != &kOcspZoneTag) {
        return cf.error("the shared memory zone \"" + name +
                        "\" is already declared for a different use");
    }
    if (zone != nullptr && zone->size != size->bytes) {
        return cf.error("the size " + std::to_string(size->bytes) + " of shared memory zone \"" +
                        name + "\" conflicts with already declared size " +
                        std::to_string(zone->size));
    }
    if (zone == nullptr) {
        Status err = Status::ok();
        zone = cf.cycle().add_shm_zone(name, size->bytes, &kOcspZoneTag, cf.node().where(), err);
        if (zone == nullptr) {
            return err;
        }
        zone->init = [](core::ShmZone& z, bool reused) -> Status {
            if (reused && z.pool().root != nullptr) {
                return Status::ok();  // verdicts survive a reload
            }
            if (!tls::SessionCache::format(z.pool())) {
                return Status::error("OCSP cache \"" + z.name + "\" is too small in " + z.where);
            }
            return Status::ok();
        };
    }
    conf.ocsp_cache = zone;
    return Status::ok();
}

constexpr uint32_t kHttpSrv = core::kCtxHttpSrv;

constexpr std::array<core::Directive, 11> kHttpDirectives = {{
    {"ssl_buffer_size", kHttpSrv, core::kArgs1, core::slot<&SslSrvConf::buffer_size>()},
    {"ssl_early_data", kHttpSrv, core::kArgs1, core::slot<&SslSrvConf::early_data>()},
    {"ssl_reject_handshake", kHttpSrv, core::kArgs1, core::slot<&SslSrvConf::reject_handshake>()},
    {"ssl_stapling", kHttpSrv, core::kArgs1, core::slot<&SslSrvConf::stapling>()},
    {"ssl_stapling_file", kHttpSrv, core::kArgs1,
     core::setter<&set_path<&SslSrvConf::stapling_file>>()},
    {"ssl_stapling_responder", kHttpSrv, core::kArgs1,
     core::slot<&SslSrvConf::stapling_responder>()},
    {"ssl_stapling_verify", kHttpSrv, core::kArgs1, core::slot<&SslSrvConf::stapling_verify>()},
    {"ssl_ocsp", kHttpSrv, core::kArgs1, core::enum_slot<&SslSrvConf::ocsp, kOcspNames>()},
    {"ssl_ocsp_responder", kHttpSrv, core::kArgs1, core::slot<&SslSrvConf::ocsp_responder>()},
    {"ssl_ocsp_cache", kHttpSrv, core::kArgs1, core::setter<&set_ocsp_cache>()},
    {"ssl", kHttpSrv, core::kArgs1, core::setter<&refuse_ssl>()},
}};

constexpr auto kDirectives =
    tls::concat(tls::server_directives<SslSrvConf>(kHttpSrv), kHttpDirectives);

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<SslSrvConf>(core::ConfLevel::kHttpSrv),
};

// ---- hooks ----

Status make_port_tls(core::Cycle& cycle, http::Port& port) {
    const auto& dflt = core::conf_of<SslSrvConf>(port.default_server().srv_confs);
    if (!dflt.context) {
        return Status::error(
            "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive in " +
            port.default_where());
    }
    std::vector<std::pair<const http::ServerBlock*, SSL_CTX*>> contexts;
    for (const http::ServerBlock* srv : port.servers()) {
        const auto& c = core::conf_of<SslSrvConf>(srv->srv_confs);
        if (c.context) {
            contexts.emplace_back(srv, c.context->ctx());
        }
    }
    port.set_tls(std::make_unique<SslPort>(port, dflt.context->ctx(), std::move(contexts)));
    return Status::ok();
}

/// A context for every server block with a certificate (as nginx, even when no ssl port
/// uses it, so that a bad certificate fails the configuration); servers that inherit the very
/// same settings share one.
Status postconfiguration(core::Cycle& cycle) {
    http::HttpMainConf* main = http::http_main(cycle);
    if (main == nullptr) {
        return Status::ok();
    }
    main->make_port_tls = &make_port_tls;
    std::vector<std::pair<ContextSettings, std::shared_ptr<ServerContext>>> made;
    for (auto& srv : main->servers) {
        auto& c = core::conf_of<SslSrvConf>(srv->srv_confs);
        if (c.certificates.empty() && !*c.reject_handshake) {
            continue;
        }
        if (c.where.empty()) {
            c.where = srv->where;
        }
        ContextSettings s;
        HALO_TRY(tls::server_settings(c, s));
        s.buffer_size = c.buffer_size->bytes;
        s.early_data = *c.early_data;
        s.reject_handshake = *c.reject_handshake;
        s.stapling = *c.stapling;
        s.stapling_file = *c.stapling_file;
        s.stapling_responder = *c.stapling_responder;
        s.stapling_verify = *c.stapling_verify;
        s.ocsp = *c.ocsp;
        s.ocsp_responder = *c.ocsp_responder;
        s.ocsp_cache = *c.ocsp_cache;
        if (s.stapling || s.ocsp != OcspMode::kOff) {
            // The server's resolver, when the resolver module is compiled in.
            if (core::ConfSlot<resolver::ResolverLocConf>::index >= 0) {
                s.resolver = core::conf_of<resolver::ResolverLocConf>(srv->loc_confs).spec;
            }
            s.ocsp_timeout =
                *core::conf_of<http::HttpSrvConf>(srv->srv_confs).client_header_timeout;
        }
        for (const auto& [settings, ctx] : made) {
            if (settings == s) {
                c.context = ctx;
            }
        }
        if (!c.context) {
            Status st = ServerContext::create(s, c.context);
            if (!st.is_ok()) {
                return Status::error(st.message() + " in " + c.where);
            }
            made.emplace_back(std::move(s), c.context);
        }
    }
    bool verify_client = false;
    for (const auto& srv : main->servers) {
        verify_client = verify_client || *core::conf_of<SslSrvConf>(srv->srv_confs).verify_client !=
                                             VerifyClient::kOff;
    }
    return register_request_side(cycle, verify_client);
}

/// A worker going away stops asking responders.
void exit_process(core::Cycle& cycle) {
    http::HttpMainConf* main = http::http_main(cycle);
    if (main == nullptr) {
        return;
    }
    for (const auto& srv : main->servers) {
        if (const auto& ctx = core::conf_of<SslSrvConf>(srv->srv_confs).context) {
            stop_stapling(*ctx);
        }
    }
}

}  // namespace

extern const core::Module kModule{
    .name = "http_ssl",
    .type = core::ModuleType::kHttp,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &postconfiguration,
    .exit_process = &exit_process,
};

}  // namespace mod::http_ssl
