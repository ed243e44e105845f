// TLS for the HTTP server, as nginx's ngx_http_ssl_module: `listen ... ssl` (parsed by the
// http core), ssl_certificate, ssl_certificate_key, ssl_protocols, ssl_ciphers,
// ssl_prefer_server_ciphers, ssl_session_cache, ssl_session_timeout, ssl_session_tickets;
// SNI picks the server block's certificate; $ssl_protocol, $ssl_cipher, $ssl_server_name,
// $ssl_session_id, $ssl_session_reused ($https and $scheme are the core's). The handshake is
// bounded by client_header_timeout.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/cycle.h"
#include "core/module.h"
#include "http/http.h"
#include "http/modules/ssl/session_cache.h"
#include "http/modules/ssl/ssl_context.h"
#include "http/session.h"
#include "tls/ssl_transport.h"

namespace mod::http_ssl {
namespace {

using core::ConfContext;
using core::Status;
using tls::ssl_error_text;
using tls::SslTransport;
using namespace std::chrono_literals;

struct SslSrvConf : core::ConfBase {
    std::vector<std::string> certificates;          // ssl_certificate (absolute paths), in order
    std::vector<std::string> certificate_keys;      // ssl_certificate_key, paired by order
    std::string where;                              // file:line of the first ssl_certificate
    std::optional<uint32_t> protocols;              // TLSv1.2 TLSv1.3
    std::optional<std::string> ciphers;             // HIGH:!aNULL:!MD5
    std::optional<bool> prefer_server_ciphers;      // off
    std::optional<SessionCacheConf> session_cache;  // none
    std::optional<std::chrono::milliseconds> session_timeout;  // 5m
    std::optional<bool> session_tickets;                       // on
    // Built in postconfiguration (nullptr: no certificate).
    std::shared_ptr<ServerContext> context;
};

Status merge(const SslSrvConf& parent, SslSrvConf& child) {
    if (child.certificates.empty() && child.certificate_keys.empty()) {
        child.certificates = parent.certificates;
        child.certificate_keys = parent.certificate_keys;
        child.where = parent.where;
    }
    core::inherit(child.protocols, parent.protocols, tls::kTlsDefaultProtocols);
    core::inherit(child.ciphers, parent.ciphers, "HIGH:!aNULL:!MD5");
    core::inherit(child.prefer_server_ciphers, parent.prefer_server_ciphers, false);
    core::inherit(child.session_cache, parent.session_cache, SessionCacheConf{});
    core::inherit(child.session_timeout, parent.session_timeout, 5min);
    core::inherit(child.session_tickets, parent.session_tickets, true);
    return Status::ok();
}

/// Relative certificate paths are relative to the config folder, as nginx.
std::string conf_path(ConfContext& cf, const std::string& path) {
    return !path.empty() && path[0] == '/' ? path : cf.cycle().conf_dir() + "/" + path;
}

Status set_certificate(ConfContext& cf, SslSrvConf& conf) {
    if (conf.certificates.empty()) {
        conf.where = cf.node().where();
    }
    conf.certificates.push_back(conf_path(cf, cf.arg(0)));
    return Status::ok();
}

Status set_certificate_key(ConfContext& cf, SslSrvConf& conf) {
    conf.certificate_keys.push_back(conf_path(cf, cf.arg(0)));
    if (conf.where.empty()) {
        conf.where = cf.node().where();
    }
    return Status::ok();
}

const char kZoneTag = 0;                  // owner of the shared session cache zones
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
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<SslSrvConf>(core::ConfLevel::kHttpSrv),
};

// ---- variables ----

const SslTransport* tls_of(const http::Request& r) {
    return r.session != nullptr ? dynamic_cast<const SslTransport*>(r.session->transport())
                                : nullptr;
}

/// A variable that `Text` reads from the connection's SSL object; not found on a plain
/// connection, or when `Text` gives nullptr.
template <const char* (*Text)(const SSL*)>
bool get_ssl_text(const http::Request& r, std::string_view, std::string& out) {
    const SslTransport* t = tls_of(r);
    const char* text = t != nullptr ? Text(t->ssl()) : nullptr;
    if (text == nullptr) {
        return false;
    }
    out += text;
    return true;
}

bool get_session_id(const http::Request& r, std::string_view, std::string& out) {
    const SslTransport* t = tls_of(r);
    SSL_SESSION* sess = t != nullptr ? SSL_get_session(t->ssl()) : nullptr;
    if (sess == nullptr) {
        return false;
    }
    unsigned int len = 0;
    const unsigned char* id = SSL_SESSION_get_id(sess, &len);
    static const char kHex[] = "0123456789abcdef";
    for (unsigned int i = 0; i < len; i++) {
        out += kHex[id[i] >> 4];
        out += kHex[id[i] & 15];
    }
    return true;
}

constexpr http::VariableDef kVariables[] = {
    {"ssl_protocol", &get_ssl_text<[](const SSL* ssl) { return SSL_get_version(ssl); }>},
    {"ssl_cipher", &get_ssl_text<[](const SSL* ssl) { return SSL_get_cipher_name(ssl); }>},
    {"ssl_server_name", &get_ssl_text<[](const SSL* ssl) {
         return SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
     }>},
    {"ssl_session_id", &get_session_id},
    {"ssl_session_reused",
     &get_ssl_text<[](const SSL* ssl) { return SSL_session_reused(ssl) ? "r" : "."; }>},
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
        if (c.certificates.empty()) {
            continue;
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
    for (const http::VariableDef& v : kVariables) {
        http::add_variable(cycle, v);
    }
    return Status::ok();
}

}  // namespace

extern const core::Module kModule{
    .name = "http_ssl",
    .type = core::ModuleType::kHttp,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &postconfiguration,
};

}  // namespace mod::http_ssl
