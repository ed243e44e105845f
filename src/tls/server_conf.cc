// The ssl_* directives http and stream share: setters, merge, and the settings they make.
#include "tls/server_conf.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/cycle.h"
#include "tls/session_cache.h"

namespace tls {
namespace {

using core::ConfContext;
using core::Status;

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

/// A file directive: the path, relative to the config folder as in nginx.
Status set_path(ConfContext& cf, std::optional<std::string>& field) {
    if (field) {
        return cf.duplicate();
    }
    field = conf_path(cf, cf.arg(0));
    return Status::ok();
}

}  // namespace

std::string conf_path(ConfContext& cf, const std::string& path) {
    return !path.empty() && path[0] == '/' ? path : cf.cycle().conf_dir() + "/" + path;
}

void merge_server_conf(const ServerConf& parent, ServerConf& child) {
    if (child.certificates.empty() && child.certificate_keys.empty()) {
        child.certificates = parent.certificates;
        child.certificate_keys = parent.certificate_keys;
        child.where = parent.where;
    }
    core::inherit(child.protocols, parent.protocols, kTlsDefaultProtocols);
    core::inherit(child.ciphers, parent.ciphers, "HIGH:!aNULL:!MD5");
    core::inherit(child.prefer_server_ciphers, parent.prefer_server_ciphers, false);
    core::inherit(child.session_cache, parent.session_cache, SessionCacheConf{});
    core::inherit(child.session_timeout, parent.session_timeout, std::chrono::minutes(5));
    core::inherit(child.session_tickets, parent.session_tickets, true);
    core::inherit(child.ticket_keys, parent.ticket_keys, std::vector<std::string>{});
    core::inherit(child.passwords, parent.passwords, std::vector<std::string>{});
    core::inherit(child.dhparam, parent.dhparam, "");
    core::inherit(child.ecdh_curve, parent.ecdh_curve, "auto");
    core::inherit(child.conf_commands, parent.conf_commands,
                  std::vector<std::pair<std::string, std::string>>{});
    core::inherit(child.verify_client, parent.verify_client, VerifyClient::kOff);
    core::inherit(child.verify_depth, parent.verify_depth, 1);
    core::inherit(child.client_certificate, parent.client_certificate, "");
    core::inherit(child.trusted_certificate, parent.trusted_certificate, "");
    core::inherit(child.crl, parent.crl, "");
}

Status server_settings(const ServerConf& c, ServerSettings& s) {
    if (c.certificate_keys.size() < c.certificates.size()) {
        return Status::error("no \"ssl_certificate_key\" is defined for certificate \"" +
                             c.certificates[c.certificate_keys.size()] + "\" in " + c.where);
    }
    s.certificates.clear();
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
    s.conf_commands = *c.conf_commands;
    s.verify = *c.verify_client;
    s.verify_depth = static_cast<int>(*c.verify_depth);
    s.client_certificate = *c.client_certificate;
    s.trusted_certificate = *c.trusted_certificate;
    s.crl = *c.crl;
    return Status::ok();
}

Status set_certificate(ConfContext& cf, ServerConf& conf) {
    if (cf.arg(0).find('$') != std::string::npos) {
        return cf.error(
            "\"ssl_certificate\" with variables is not supported by halo: name "
            "each certificate in its server block");
    }
    if (conf.certificates.empty()) {
        conf.where = cf.node().where();
    }
    conf.certificates.push_back(conf_path(cf, cf.arg(0)));
    return Status::ok();
}

Status set_certificate_key(ConfContext& cf, ServerConf& conf) {
    if (cf.arg(0).find('$') != std::string::npos) {
        return cf.error(
            "\"ssl_certificate_key\" with variables is not supported by halo: "
            "name each key in its server block");
    }
    conf.certificate_keys.push_back(conf_path(cf, cf.arg(0)));
    if (conf.where.empty()) {
        conf.where = cf.node().where();
    }
    return Status::ok();
}

Status set_dhparam(ConfContext& cf, ServerConf& conf) {
    return set_path(cf, conf.dhparam);
}

Status set_client_certificate(ConfContext& cf, ServerConf& conf) {
    return set_path(cf, conf.client_certificate);
}

Status set_trusted_certificate(ConfContext& cf, ServerConf& conf) {
    return set_path(cf, conf.trusted_certificate);
}

Status set_crl(ConfContext& cf, ServerConf& conf) {
    return set_path(cf, conf.crl);
}

Status set_ticket_key(ConfContext& cf, ServerConf& conf) {
    if (!conf.ticket_keys) {
        conf.ticket_keys.emplace();
    }
    conf.ticket_keys->push_back(conf_path(cf, cf.arg(0)));
    return Status::ok();
}

Status set_conf_command(ConfContext& cf, ServerConf& conf) {
    if (!conf.conf_commands) {
        conf.conf_commands.emplace();
    }
    conf.conf_commands->emplace_back(cf.arg(0), cf.arg(1));
    return Status::ok();
}

/// ssl_password_file: read at once (as nginx); one passphrase a line, trailing blanks dropped.
Status set_password_file(ConfContext& cf, ServerConf& conf) {
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

Status set_session_cache(ConfContext& cf, ServerConf& conf) {
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

}  // namespace tls
