#pragma once

// The ssl module's server-level conf (http and server blocks), shared by the directives
// (ssl_module.cc) and the request side (ssl_variables.cc).

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/conf_context.h"
#include "http/http.h"
#include "http/modules/ssl/ssl_context.h"

namespace mod::http_ssl {

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
    std::optional<std::vector<std::string>> ticket_keys;       // ssl_session_ticket_key
    std::optional<std::vector<std::string>> passwords;         // ssl_password_file lines
    std::optional<std::string> dhparam;                        // ssl_dhparam
    std::optional<std::string> ecdh_curve;                     // auto
    std::optional<core::Size> buffer_size;                     // 16k
    std::optional<bool> early_data;                            // off
    std::optional<bool> reject_handshake;                      // off
    std::optional<std::vector<std::pair<std::string, std::string>>> conf_commands;
    std::optional<VerifyClient> verify_client;       // off
    std::optional<int64_t> verify_depth;             // 1
    std::optional<std::string> client_certificate;   // ssl_client_certificate
    std::optional<std::string> trusted_certificate;  // ssl_trusted_certificate
    std::optional<std::string> crl;                  // ssl_crl
    std::optional<bool> stapling;                    // off
    std::optional<std::string> stapling_file;        // ssl_stapling_file
    std::optional<std::string> stapling_responder;   // ssl_stapling_responder
    std::optional<bool> stapling_verify;             // off
    std::optional<OcspMode> ocsp;                    // off
    std::optional<std::string> ocsp_responder;       // ssl_ocsp_responder
    std::optional<core::ShmZone*> ocsp_cache;        // off (nullptr)
    // Built in postconfiguration (nullptr: no certificate and no ssl_reject_handshake).
    std::shared_ptr<ServerContext> context;
};

/// Defaults and inheritance from the http level (found by the conf hooks through ADL).
core::Status merge(const SslSrvConf& parent, SslSrvConf& child);

/// The ssl conf of the server a request went to.
inline const SslSrvConf& ssl_srv_conf(const http::Request& r) {
    return core::conf_of<SslSrvConf>(r.server->srv_confs);
}

/// Registers the $ssl_* variables, and the client certificate check when a server verifies
/// clients (ssl_variables.cc).
core::Status register_request_side(core::Cycle& cycle, bool verify_client);

}  // namespace mod::http_ssl
