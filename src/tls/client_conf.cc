// The proxy_ssl_* directives http and stream share: setters, merge, settings.
#include "tls/client_conf.h"

#include "core/cycle.h"

namespace tls {
namespace {

using core::ConfContext;
using core::Status;

/// Relative file names are relative to the config folder, as nginx.
Status set_placed(ConfContext& cf, std::optional<Placed>& out, bool file) {
    if (out) {
        return cf.duplicate();
    }
    std::string value = cf.arg(0);
    if (file && !value.empty() && value[0] != '/') {
        value = cf.cycle().conf_dir() + "/" + value;
    }
    out = Placed{std::move(value), cf.node().where()};
    return Status::ok();
}

}  // namespace

void merge_client_conf(const ClientConf& parent, ClientConf& child) {
    if (!child.ssl_verify) {
        child.ssl_verify_where = parent.ssl_verify_where;
    }
    core::inherit(child.ssl_verify, parent.ssl_verify, false);
    core::inherit(child.ssl_verify_depth, parent.ssl_verify_depth, 1);
    core::inherit(child.ssl_trusted_certificate, parent.ssl_trusted_certificate, Placed{});
    if (!child.ssl_certificate && !child.ssl_certificate_key) {
        child.ssl_certificate = parent.ssl_certificate;  // a pair: both from the same level
        child.ssl_certificate_key = parent.ssl_certificate_key;
    }
    core::inherit(child.ssl_certificate, parent.ssl_certificate, Placed{});
    core::inherit(child.ssl_certificate_key, parent.ssl_certificate_key, Placed{});
    core::inherit(child.ssl_protocols, parent.ssl_protocols, kTlsDefaultProtocols);
    core::inherit(child.ssl_ciphers, parent.ssl_ciphers, Placed{"DEFAULT", {}});
    core::inherit(child.ssl_server_name, parent.ssl_server_name, false);
    core::inherit(child.ssl_session_reuse, parent.ssl_session_reuse, true);
    core::inherit(child.ssl_crl, parent.ssl_crl, Placed{});
    core::inherit(child.ssl_password_file, parent.ssl_password_file, Placed{});
    if (!child.ssl_conf_commands) {
        child.ssl_conf_commands = parent.ssl_conf_commands;
        child.ssl_conf_commands_where = parent.ssl_conf_commands_where;
    }
}

SslClientSettings client_settings(const ClientConf& c) {
    SslClientSettings s;
    s.protocols = *c.ssl_protocols;
    s.ciphers = *c.ssl_ciphers;
    s.trusted_certificate = *c.ssl_trusted_certificate;
    s.certificate = *c.ssl_certificate;
    s.certificate_key = *c.ssl_certificate_key;
    s.verify = *c.ssl_verify;
    s.verify_where = c.ssl_verify_where;
    s.verify_depth = *c.ssl_verify_depth;
    s.session_reuse = *c.ssl_session_reuse;
    s.crl = *c.ssl_crl;
    s.password_file = *c.ssl_password_file;
    if (c.ssl_conf_commands) {
        s.conf_commands = *c.ssl_conf_commands;
        s.conf_commands_where = c.ssl_conf_commands_where;
    }
    return s;
}

Status client_context_for(
    ClientConf& c,
    std::vector<std::pair<SslClientSettings, std::shared_ptr<ClientContext>>>& made) {
    SslClientSettings s = client_settings(c);
    for (const auto& [settings, ctx] : made) {
        if (settings == s) {
            c.ssl = ctx;
            return Status::ok();
        }
    }
    HALO_TRY(make_client_context(s, c.ssl));
    made.emplace_back(std::move(s), c.ssl);
    return Status::ok();
}

Status set_ssl_trusted_certificate(ConfContext& cf, ClientConf& conf) {
    return set_placed(cf, conf.ssl_trusted_certificate, true);
}
Status set_ssl_certificate(ConfContext& cf, ClientConf& conf) {
    return set_placed(cf, conf.ssl_certificate, true);
}
Status set_ssl_certificate_key(ConfContext& cf, ClientConf& conf) {
    return set_placed(cf, conf.ssl_certificate_key, true);
}
Status set_ssl_ciphers(ConfContext& cf, ClientConf& conf) {
    return set_placed(cf, conf.ssl_ciphers, false);
}
Status set_ssl_crl(ConfContext& cf, ClientConf& conf) {
    return set_placed(cf, conf.ssl_crl, true);
}
Status set_ssl_password_file(ConfContext& cf, ClientConf& conf) {
    return set_placed(cf, conf.ssl_password_file, true);
}

Status set_ssl_conf_command(ConfContext& cf, ClientConf& conf) {
    if (!conf.ssl_conf_commands) {
        conf.ssl_conf_commands =
            std::make_shared<std::vector<std::pair<std::string, std::string>>>();
        conf.ssl_conf_commands_where = cf.node().where();
    }
    conf.ssl_conf_commands->emplace_back(cf.arg(0), cf.arg(1));
    return Status::ok();
}

Status set_ssl_verify(ConfContext& cf, ClientConf& conf) {
    HALO_TRY(core::detail::set_flag(cf, conf.ssl_verify));
    conf.ssl_verify_where = cf.node().where();
    return Status::ok();
}

}  // namespace tls
