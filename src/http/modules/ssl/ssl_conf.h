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
#include "tls/server_conf.h"

namespace mod::http_ssl {

/// The shared ssl_* fields (tls::ServerConf) and http's own.
struct SslSrvConf : tls::ServerConf {
    std::optional<core::Size> buffer_size;          // 16k
    std::optional<bool> early_data;                 // off
    std::optional<bool> reject_handshake;           // off
    std::optional<bool> stapling;                   // off
    std::optional<std::string> stapling_file;       // ssl_stapling_file
    std::optional<std::string> stapling_responder;  // ssl_stapling_responder
    std::optional<bool> stapling_verify;            // off
    std::optional<OcspMode> ocsp;                   // off
    std::optional<std::string> ocsp_responder;      // ssl_ocsp_responder
    std::optional<core::ShmZone*> ocsp_cache;       // off (nullptr)
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
