#pragma once

// The ssl_* directives that http's ssl module and the stream ssl module share, as nginx has
// them in both: their conf fields (a module's server conf derives from ServerConf), setters,
// directive rows, merge rule, and the ServerSettings they make.

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/conf_context.h"
#include "core/module.h"
#include "tls/directive_rows.h"
#include "tls/server_context.h"

namespace tls {

/// The shared fields of a server block's ssl conf (unset: inherited, then the default).
struct ServerConf : core::ConfBase {
    std::vector<std::string> certificates;          // ssl_certificate (absolute paths), in order
    std::vector<std::string> certificate_keys;      // ssl_certificate_key, paired by order
    std::string where;                              // file:line of the first ssl_certificate
    std::optional<uint32_t> protocols;              // TLSv1.2 TLSv1.3
    std::optional<std::string> ciphers;             // HIGH:!aNULL:!MD5
    std::optional<bool> prefer_server_ciphers;      // off
    std::optional<SessionCacheConf> session_cache;  // none
    std::optional<std::chrono::milliseconds> session_timeout;  // 5m
    std::optional<bool> session_tickets;                       // on
    std::optional<std::vector<std::string>> ticket_keys;       // ssl_session_ticket_key
    std::optional<std::vector<std::string>> passwords;         // ssl_password_file lines
    std::optional<std::string> dhparam;                        // ssl_dhparam
    std::optional<std::string> ecdh_curve;                     // auto
    std::optional<std::vector<std::pair<std::string, std::string>>> conf_commands;
    std::optional<VerifyClient> verify_client;       // off
    std::optional<int64_t> verify_depth;             // 1
    std::optional<std::string> client_certificate;   // ssl_client_certificate
    std::optional<std::string> trusted_certificate;  // ssl_trusted_certificate
    std::optional<std::string> crl;                  // ssl_crl
};

/// The shared part of a module's merge: defaults and inheritance from the outer level.
void merge_server_conf(const ServerConf& parent, ServerConf& child);

/// The merged conf as settings (certificates paired with their keys). The error (a
/// certificate without a key) names c.where.
core::Status server_settings(const ServerConf& c, ServerSettings& out);

// ---- directive setters (on the ServerConf part of a module's conf) ----

core::Status set_certificate(core::ConfContext& cf, ServerConf& conf);
core::Status set_certificate_key(core::ConfContext& cf, ServerConf& conf);
core::Status set_ticket_key(core::ConfContext& cf, ServerConf& conf);
core::Status set_conf_command(core::ConfContext& cf, ServerConf& conf);
core::Status set_password_file(core::ConfContext& cf, ServerConf& conf);
core::Status set_session_cache(core::ConfContext& cf, ServerConf& conf);
core::Status set_dhparam(core::ConfContext& cf, ServerConf& conf);
core::Status set_client_certificate(core::ConfContext& cf, ServerConf& conf);
core::Status set_trusted_certificate(core::ConfContext& cf, ServerConf& conf);
core::Status set_crl(core::ConfContext& cf, ServerConf& conf);

/// A path relative to the config folder made absolute, as nginx does.
std::string conf_path(core::ConfContext& cf, const std::string& path);

inline constexpr core::Named<VerifyClient> kVerifyNames[] = {
    {"off", VerifyClient::kOff},
    {"on", VerifyClient::kOn},
    {"optional", VerifyClient::kOptional},
    {"optional_no_ca", VerifyClient::kOptionalNoCa},
};

namespace detail {
/// A setter of the ServerConf part of `Conf` (found in the conf vector as `Conf`).
template <class Conf, core::Status (*Fn)(core::ConfContext&, ServerConf&)>
constexpr core::Setter on_conf() {
    return core::Setter{&core::detail::thunk<Fn>, &core::ConfSlot<Conf>::tag};
}
template <class Conf, auto Member>
constexpr core::Setter slot_of() {
    return core::Setter{&core::detail::slot_thunk<Member, 0, INT32_MAX, nullptr>,
                        &core::ConfSlot<Conf>::tag};
}
}  // namespace detail

/// The number of shared directives.
inline constexpr size_t kServerDirectiveCount = 18;

/// The shared directive rows for a module whose server conf is `Conf` (derived from
/// ServerConf), allowed in `contexts`.
template <class Conf>
constexpr std::array<core::Directive, kServerDirectiveCount> server_directives(uint32_t contexts) {
    using detail::on_conf;
    using detail::slot_of;
    return {{
        {"ssl_certificate", contexts, core::kArgs1, on_conf<Conf, &set_certificate>()},
        {"ssl_certificate_key", contexts, core::kArgs1, on_conf<Conf, &set_certificate_key>()},
        {"ssl_protocols",
         contexts,
         core::kArgs1ToN,
         {&core::detail::named_thunk<&ServerConf::protocols, kTlsProtocolNames,
                                     kTlsProtocolsExpected, true>,
          &core::ConfSlot<Conf>::tag}},
        {"ssl_ciphers", contexts, core::kArgs1, slot_of<Conf, &ServerConf::ciphers>()},
        {"ssl_prefer_server_ciphers", contexts, core::kArgs1,
         slot_of<Conf, &ServerConf::prefer_server_ciphers>()},
        {"ssl_session_cache", contexts, core::kArgs1To2, on_conf<Conf, &set_session_cache>()},
        {"ssl_session_timeout", contexts, core::kArgs1,
         slot_of<Conf, &ServerConf::session_timeout>()},
        {"ssl_session_tickets", contexts, core::kArgs1,
         slot_of<Conf, &ServerConf::session_tickets>()},
        {"ssl_session_ticket_key", contexts, core::kArgs1, on_conf<Conf, &set_ticket_key>()},
        {"ssl_password_file", contexts, core::kArgs1, on_conf<Conf, &set_password_file>()},
        {"ssl_dhparam", contexts, core::kArgs1, on_conf<Conf, &set_dhparam>()},
        {"ssl_ecdh_curve", contexts, core::kArgs1, slot_of<Conf, &ServerConf::ecdh_curve>()},
        {"ssl_conf_command", contexts, core::kArgs2, on_conf<Conf, &set_conf_command>()},
        {"ssl_verify_client",
         contexts,
         core::kArgs1,
         {&core::detail::named_thunk<&ServerConf::verify_client, kVerifyNames, nullptr, false>,
          &core::ConfSlot<Conf>::tag}},
        {"ssl_verify_depth", contexts, core::kArgs1, slot_of<Conf, &ServerConf::verify_depth>()},
        {"ssl_client_certificate", contexts, core::kArgs1,
         on_conf<Conf, &set_client_certificate>()},
        {"ssl_trusted_certificate", contexts, core::kArgs1,
         on_conf<Conf, &set_trusted_certificate>()},
        {"ssl_crl", contexts, core::kArgs1, on_conf<Conf, &set_crl>()},
    }};
}

}  // namespace tls
