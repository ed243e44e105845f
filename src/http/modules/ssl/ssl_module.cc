// TLS for the HTTP server, as nginx's ngx_http_ssl_module: `listen ... ssl` (parsed by the
// http core) and the ssl_* directives of http and server blocks (this file); the SSL_CTX of
// each server (ssl_context.cc, ssl_options.cc); the $ssl_* variables and the client
// certificate check of each request (ssl_variables.cc). SNI picks the server block's
// certificate. The handshake is bounded by client_header_timeout.
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
#include "http/modules/ssl/session_cache.h"
#include "http/modules/ssl/ssl_conf.h"
#include "http/modules/ssl/ssl_context.h"
#include "http/session.h"
#include "tls/ssl_transport.h"

namespace mod::http_ssl {

core::Status merge(const SslSrvConf& parent, SslSrvConf& child) {
    if (child.certificates.empty() && child.certificate_keys.empty()) {
        child.certificates = parent.certificates;
        child.certificate_keys = parent.certificate_keys;
        child.where = parent.where;
    }
    core::inherit(child.protocols, parent.protocols, tls::kTlsDefaultProtocols);
    core::inherit(child.ciphers, parent.ciphers, "HIGH:!aNULL:!MD5");
    core::inherit(child.prefer_server_ciphers, parent.prefer_server_ciphers, false);
    core::inherit(child.session_cache, parent.session_cache, SessionCacheConf{});
    core::inherit(child.session_timeout, parent.session_timeout, std::chrono::minutes(5));
    core::inherit(child.session_tickets, parent.session_tickets, true);
    core::inherit(child.ticket_keys, parent.ticket_keys, std::vector<std::string>{});
    core::inherit(child.passwords, parent.passwords, std::vector<std::string>{});
    core::inherit(child.dhparam, parent.dhparam, "");
    core::inherit(child.ecdh_curve, parent.ecdh_curve, "auto");
    core::inherit(child.buffer_size, parent.buffer_size, core::Size{16384});
    core::inherit(child.early_data, parent.early_data, false);
    core::inherit(child.reject_handshake, parent.reject_handshake, false);
    core::inherit(child.conf_commands, parent.conf_commands,
                  std::vector<std::pair<std::string, std::string>>{});
    core::inherit(child.verify_client, parent.verify_client, VerifyClient::kOff);
    core::inherit(child.verify_depth, parent.verify_depth, 1);
    core::inherit(child.client_certificate, parent.client_certificate, "");
    core::inherit(child.trusted_certificate, parent.trusted_certificate, "");
    core::inherit(child.crl, parent.crl, "");
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

/// Relative certificate paths are relative to the config folder, as nginx.
std::string conf_path(ConfContext& cf, const std::string& path) {
    return !path.empty() && path[0] == '/' ? path : cf.cycle().conf_dir() + "/" + path;
}

Status set_certificate(ConfContext& cf, SslSrvConf& conf) {
    if (cf.arg(0).find('$') != std::string::npos) {
        return cf.error(
            "\"ssl_certificate\" with variables is not supported by halo: name "
            "each certificate in its server block (SNI picks it)");
    }
    if (conf.certificates.empty()) {
        conf.where = cf.node().where();
    }
    conf.certificates.push_back(conf_path(cf, cf.arg(0)));
    return Status::ok();
}

Status set_certificate_key(ConfContext& cf, SslSrvConf& conf) {
    if (cf.arg(0).find('$') != std::string::npos) {
        return cf.error(
            "\"ssl_certificate_key\" with variables is not supported by halo: "
            "name each key in its server block (SNI picks it)");
    }
    conf.certificate_keys.push_back(conf_path(cf, cf.arg(0)));
    if (conf.where.empty()) {
        conf.where = cf.node().where();
    }
    return Status::ok();
}

/// A file directive: the path, relative to the config folder as in nginx.
template <std::optional<std::string> SslSrvConf::*Member>
Status set_path(ConfContext& cf, SslSrvConf& conf) {
    if (conf.*Member) {
        return cf.duplicate();
    }
    conf.*Member = conf_path(cf, cf.arg(0));
    return Status::ok();
}

Status set_ticket_key(ConfContext& cf, SslSrvConf& conf) {
    if (!conf.ticket_keys) {
        conf.ticket_keys.emplace();
    }
    conf.ticket_keys->push_back(conf_path(cf, cf.arg(0)));
    return Status::ok();
}

Status set_conf_command(ConfContext& cf, SslSrvConf& conf) {
    if (!conf.conf_commands) {
        conf.conf_commands.emplace();
    }
    conf.conf_commands->emplace_back(cf.arg(0), cf.arg(1));
    return Status::ok();
}

/// ssl_password_file: read at once (as nginx); one passphrase a line, trailing blanks dropped.
Status set_password_file(ConfContext& cf, SslSrvConf& conf) {
    if (conf.passwords) {
        return cf.duplicate();
    }
    std::string path = conf_path(cf, cf.arg(0));
    FILE* f = fopen(path.c_str(), "r");
    if (f == nullptr) {
        return cf.error("open() \"" + path + "\" failed (" + std::to_string(errno) + ": " +
                        strerror(errno) + ")");
    }
    std::vector<std::string> lines;
    char buf[4096];
    while (fgets(buf, sizeof(buf), f) != nullptr) {
        std::string line(buf);
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r' || line.back() == ' ' ||
                                 line.back() == '\t')) {
            line.pop_back();
        }
        if (!line.empty()) {
            lines.push_back(std::move(line));
        }
    }
    fclose(f);
    if (lines.empty()) {
        return cf.error("no passphrases in \"" + path + "\"");
    }
    conf.passwords = std::move(lines);
    return Status::ok();
}

/// nginx 1.25 removed `ssl on` (1.15.0 deprecated it): `listen ... ssl` says it.
Status refuse_ssl(ConfContext& cf, SslSrvConf&) {
    return cf.error(
        "\"ssl\" is not supported by halo: use the \"ssl\" parameter of the "
        "\"listen\" directive (nginx deprecated \"ssl on\" in 1.15.0 and removed it "
        "in 1.25.1)");
}

constexpr core::Named<VerifyClient> kVerifyNames[] = {
    {"off", VerifyClient::kOff},
    {"on", VerifyClient::kOn},
    {"optional", VerifyClient::kOptional},
    {"optional_no_ca", VerifyClient::kOptionalNoCa},
};

constexpr core::Named<OcspMode> kOcspNames[] = {
    {"off", OcspMode::kOff},
    {"on", OcspMode::kOn},
    {"leaf", OcspMode::kLeaf},
};

const char kZoneTag = 0;                  // owner of the shared session cache zones
const char kOcspZoneTag = 0;              // owner of the OCSP cache zones
constexpr uint64_t kMinZoneSize = 32768;  // the cache's table and a few sessions

Status add_shared_zone(ConfContext& cf, std::string_view spec, SessionCacheConf& out) {
    // shared:name:size
    std::string_view rest = spec.substr(7);
    size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
        return cf.error("invalid session cache \"" + std::string(spec) + "\"");
    }
    std::string name(rest.substr(0, colon));
    auto size = core::parse_size(rest.substr(colon + 1));
    if (!size || size->bytes == 0) {
        return cf.error("invalid zone size \"" + std::string(rest.substr(colon + 1)) + "\"");
    }
    if (size->bytes < kMinZoneSize) {
        return cf.error("zone \"" + name + "\" is too small (32k at least)");
    }
    core::ShmZone* zone = cf.cycle().find_shm_zone(name);
    if (zone != nullptr) {
        if (zone->tag != &kZoneTag) {
            return cf.error("the shared memory zone \"" + name +
                            "\" is already declared for a different use");
        }
        if (zone->size != size->bytes) {
            return cf.error(
                "the size " + std::to_string(size->bytes) + " of shared memory zone \"" + name +
                "\" conflicts with already declared size " + std::to_string(zone->size));
        }
    } else {
        Status err = Status::ok();
        zone = cf.cycle().add_shm_zone(name, size->bytes, &kZoneTag, cf.node().where(), err);
        if (zone == nullptr) {
            return err;
        }
        zone->init = [](core::ShmZone& z, bool reused) -> Status {
            if (reused && z.pool().root != nullptr) {
                return Status::ok();  // sessions survive a reload
            }
            if (!SessionCache::format(z.pool())) {
                return Status::error("zone \"" + z.name + "\" is too small in " + z.where);
            }
            return Status::ok();
        };
    }
    out.shared = zone;
    return Status::ok();
}

Status set_session_cache(ConfContext& cf, SslSrvConf& conf) {
    if (conf.session_cache) {
        return cf.duplicate();
    }
    SessionCacheConf c;
    c.mode = SessionCacheConf::Mode::kOn;
    for (const std::string& a : cf.args()) {
        std::string_view v = a;
        if (v == "off" || v == "none") {
            if (cf.args().size() != 1) {
                return cf.error("\"" + a + "\" cannot be combined with another session cache");
            }
            c.mode = v == "off" ? SessionCacheConf::Mode::kOff : SessionCacheConf::Mode::kNone;
        } else if (v == "builtin") {
            c.builtin = 0;
        } else if (v.substr(0, 8) == "builtin:") {
            auto n = core::parse_int(v.substr(8));
            if (!n || *n < 1 || *n > INT32_MAX) {
                return cf.error("invalid session cache size \"" + std::string(v.substr(8)) + "\"");
            }
            c.builtin = static_cast<long>(*n);
        } else if (v.substr(0, 7) == "shared:") {
            if (c.shared != nullptr) {
                return cf.error("invalid session cache \"" + a + "\": one shared cache at most");
            }
            HALO_TRY(add_shared_zone(cf, v, c));
        } else {
            return cf.error("invalid session cache \"" + a + "\"");
        }
    }
    conf.session_cache = c;
    return Status::ok();
}

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
            if (!SessionCache::format(z.pool())) {
                return Status::error("OCSP cache \"" + z.name + "\" is too small in " + z.where);
            }
            return Status::ok();
        };
    }
    conf.ocsp_cache = zone;
    return Status::ok();
}

constexpr uint32_t kHttpSrv = core::kCtxHttpSrv;

constexpr core::Directive kDirectives[] = {
    {"ssl_certificate", kHttpSrv, core::kArgs1, core::setter<&set_certificate>()},
    {"ssl_certificate_key", kHttpSrv, core::kArgs1, core::setter<&set_certificate_key>()},
    {"ssl_protocols", kHttpSrv, core::kArgs1ToN,
     core::bitmask_slot<&SslSrvConf::protocols, tls::kTlsProtocolNames,
                        tls::kTlsProtocolsExpected>()},
    {"ssl_ciphers", kHttpSrv, core::kArgs1, core::slot<&SslSrvConf::ciphers>()},
    {"ssl_prefer_server_ciphers", kHttpSrv, core::kArgs1,
     core::slot<&SslSrvConf::prefer_server_ciphers>()},
    {"ssl_session_cache", kHttpSrv, core::kArgs1To2, core::setter<&set_session_cache>()},
    {"ssl_session_timeout", kHttpSrv, core::kArgs1, core::slot<&SslSrvConf::session_timeout>()},
    {"ssl_session_tickets", kHttpSrv, core::kArgs1, core::slot<&SslSrvConf::session_tickets>()},
    {"ssl_session_ticket_key", kHttpSrv, core::kArgs1, core::setter<&set_ticket_key>()},
    {"ssl_password_file", kHttpSrv, core::kArgs1, core::setter<&set_password_file>()},
    {"ssl_dhparam", kHttpSrv, core::kArgs1, core::setter<&set_path<&SslSrvConf::dhparam>>()},
    {"ssl_ecdh_curve", kHttpSrv, core::kArgs1, core::slot<&SslSrvConf::ecdh_curve>()},
    {"ssl_buffer_size", kHttpSrv, core::kArgs1, core::slot<&SslSrvConf::buffer_size>()},
    {"ssl_early_data", kHttpSrv, core::kArgs1, core::slot<&SslSrvConf::early_data>()},
    {"ssl_reject_handshake", kHttpSrv, core::kArgs1, core::slot<&SslSrvConf::reject_handshake>()},
    {"ssl_conf_command", kHttpSrv, core::kArgs2, core::setter<&set_conf_command>()},
    {"ssl_verify_client", kHttpSrv, core::kArgs1,
     core::enum_slot<&SslSrvConf::verify_client, kVerifyNames>()},
    {"ssl_verify_depth", kHttpSrv, core::kArgs1, core::slot<&SslSrvConf::verify_depth>()},
    {"ssl_client_certificate", kHttpSrv, core::kArgs1,
     core::setter<&set_path<&SslSrvConf::client_certificate>>()},
    {"ssl_trusted_certificate", kHttpSrv, core::kArgs1,
     core::setter<&set_path<&SslSrvConf::trusted_certificate>>()},
    {"ssl_crl", kHttpSrv, core::kArgs1, core::setter<&set_path<&SslSrvConf::crl>>()},
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
};

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
        if (c.certificate_keys.size() < c.certificates.size()) {
            return Status::error("no \"ssl_certificate_key\" is defined for certificate \"" +
                                 c.certificates[c.certificate_keys.size()] + "\" in " + c.where);
        }
        ContextSettings s;
        for (size_t i = 0; i < c.certificates.size(); i++) {
            s.certificates.emplace_back(c.certificates[i], c.certificate_keys[i]);
        }
        s.protocols = *c.protocols;
        s.ciphers = *c.ciphers;
        s.prefer_server_ciphers = *c.prefer_server_ciphers;
        s.session_cache = *c.session_cache;
        s.session_timeout =
            std::max(std::chrono::seconds(1),
                     std::chrono::duration_cast<std::chrono::seconds>(*c.session_timeout));
        s.session_tickets = *c.session_tickets;
        s.passwords = *c.passwords;
        s.ticket_key_files = *c.ticket_keys;
        s.dhparam = *c.dhparam;
        s.ecdh_curve = *c.ecdh_curve;
        s.buffer_size = c.buffer_size->bytes;
        s.early_data = *c.early_data;
        s.reject_handshake = *c.reject_handshake;
        s.conf_commands = *c.conf_commands;
        s.verify = *c.verify_client;
        s.verify_depth = static_cast<int>(*c.verify_depth);
        s.client_certificate = *c.client_certificate;
        s.trusted_certificate = *c.trusted_certificate;
        s.crl = *c.crl;
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
