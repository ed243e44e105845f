#pragma once

// The proxy_ssl_* directives that http's proxy and the stream proxy share, as nginx has them
// in both: their conf fields (a proxy's conf derives from ClientConf), setters, directive rows,
// merge rule, and the SslClientSettings they make. proxy_ssl_name (a value with each side's
// variables) and stream's `proxy_ssl on` stay with their modules.

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/conf_context.h"
#include "core/module.h"
#include "tls/client_context.h"
#include "tls/directive_rows.h"
#include "tls/tls_protocols.h"

namespace tls {

struct ClientConf : core::ConfBase {
    std::optional<bool> ssl_verify;                 // off
    std::string ssl_verify_where;                   // of proxy_ssl_verify
    std::optional<int> ssl_verify_depth;            // 1
    std::optional<Placed> ssl_trusted_certificate;  // none
    std::optional<Placed> ssl_certificate;          // none
    std::optional<Placed> ssl_certificate_key;      // none
    std::optional<uint32_t> ssl_protocols;          // TLSv1.2 TLSv1.3
    std::optional<Placed> ssl_ciphers;              // DEFAULT
    std::optional<bool> ssl_server_name;            // off
    std::optional<bool> ssl_session_reuse;          // on
    std::optional<Placed> ssl_crl;                  // none
    std::optional<Placed> ssl_password_file;        // none
    // proxy_ssl_conf_command name value (several; inherited when the level has none)
    std::shared_ptr<std::vector<std::pair<std::string, std::string>>> ssl_conf_commands;
    std::string ssl_conf_commands_where;
    /// Built in postconfiguration where TLS to the upstream is on; shared by the confs whose
    /// settings are the same.
    std::shared_ptr<ClientContext> ssl;
};

/// The shared part of a proxy's merge: defaults and inheritance from the outer level.
void merge_client_conf(const ClientConf& parent, ClientConf& child);

/// The merged conf as the settings of a client context.
SslClientSettings client_settings(const ClientConf& c);

/// Gives `c.ssl` a context: one of `made` with the same settings, else a new one (kept in
/// `made`). The error names the directive's file:line.
core::Status client_context_for(
    ClientConf& c, std::vector<std::pair<SslClientSettings, std::shared_ptr<ClientContext>>>& made);

// ---- directive setters ----

core::Status set_ssl_verify(core::ConfContext& cf, ClientConf& conf);
core::Status set_ssl_trusted_certificate(core::ConfContext& cf, ClientConf& conf);
core::Status set_ssl_certificate(core::ConfContext& cf, ClientConf& conf);
core::Status set_ssl_certificate_key(core::ConfContext& cf, ClientConf& conf);
core::Status set_ssl_ciphers(core::ConfContext& cf, ClientConf& conf);
core::Status set_ssl_crl(core::ConfContext& cf, ClientConf& conf);
core::Status set_ssl_password_file(core::ConfContext& cf, ClientConf& conf);
core::Status set_ssl_conf_command(core::ConfContext& cf, ClientConf& conf);

namespace detail {
template <class Conf, core::Status (*Fn)(core::ConfContext&, ClientConf&)>
constexpr core::Setter client_setter() {
    return core::Setter{&core::detail::thunk<Fn>, &core::ConfSlot<Conf>::tag};
}
template <class Conf, auto Member, int64_t Min = 0, int64_t Max = INT32_MAX>
constexpr core::Setter client_slot() {
    return core::Setter{&core::detail::slot_thunk<Member, Min, Max, nullptr>,
                        &core::ConfSlot<Conf>::tag};
}
}  // namespace detail

inline constexpr size_t kClientDirectiveCount = 12;

/// The shared proxy_ssl_* rows for a proxy whose conf is `Conf` (derived from ClientConf),
/// allowed in `contexts`.
template <class Conf>
constexpr std::array<core::Directive, kClientDirectiveCount> client_directives(uint32_t contexts) {
    using detail::client_setter;
    using detail::client_slot;
    return {{
        {"proxy_ssl_verify", contexts, core::kArgs1, client_setter<Conf, &set_ssl_verify>()},
        {"proxy_ssl_verify_depth", contexts, core::kArgs1,
         client_slot<Conf, &ClientConf::ssl_verify_depth, 0, 100>()},
        {"proxy_ssl_trusted_certificate", contexts, core::kArgs1,
         client_setter<Conf, &set_ssl_trusted_certificate>()},
        {"proxy_ssl_certificate", contexts, core::kArgs1,
         client_setter<Conf, &set_ssl_certificate>()},
        {"proxy_ssl_certificate_key", contexts, core::kArgs1,
         client_setter<Conf, &set_ssl_certificate_key>()},
        {"proxy_ssl_protocols",
         contexts,
         core::kArgs1ToN,
         {&core::detail::named_thunk<&ClientConf::ssl_protocols, kTlsProtocolNames,
                                     kTlsProtocolsExpected, true>,
          &core::ConfSlot<Conf>::tag}},
        {"proxy_ssl_ciphers", contexts, core::kArgs1, client_setter<Conf, &set_ssl_ciphers>()},
        {"proxy_ssl_server_name", contexts, core::kArgs1,
         client_slot<Conf, &ClientConf::ssl_server_name>()},
        {"proxy_ssl_session_reuse", contexts, core::kArgs1,
         client_slot<Conf, &ClientConf::ssl_session_reuse>()},
        {"proxy_ssl_crl", contexts, core::kArgs1, client_setter<Conf, &set_ssl_crl>()},
        {"proxy_ssl_password_file", contexts, core::kArgs1,
         client_setter<Conf, &set_ssl_password_file>()},
        {"proxy_ssl_conf_command", contexts, core::kArgs2,
         client_setter<Conf, &set_ssl_conf_command>()},
    }};
}

}  // namespace tls
