#pragma once

// TLS to upstreams (nginx's proxy_ssl_*, in http and in stream): the client SSL_CTX of a
// location or stream server, the TLS transport put on a new upstream connection, the checks
// after its handshake, and this worker's saved sessions. This header names no OpenSSL type,
// so that the proxies do not see OpenSSL.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "event/connection.h"
#include "tls/tls_protocols.h"

namespace tls {

/// A directive's value and the file:line it came from (checked once merged).
struct Placed {
    std::string value;
    std::string where;
    bool operator==(const Placed&) const = default;
};

/// What one client context is made of: the merged proxy_ssl_* settings of a location (or a
/// stream server). Those with equal settings share one context.
struct SslClientSettings {
    uint32_t protocols = kTlsDefaultProtocols;
    Placed ciphers{"DEFAULT", {}};
    Placed trusted_certificate;  // empty value: none
    Placed certificate;          // client certificate, empty: none
    Placed certificate_key;
    bool verify = false;
    std::string verify_where;  // of proxy_ssl_verify on
    int verify_depth = 1;
    bool session_reuse = true;
    Placed crl;            // proxy_ssl_crl, empty: none
    Placed password_file;  // proxy_ssl_password_file, empty: none
    std::vector<std::pair<std::string, std::string>> conf_commands;  // proxy_ssl_conf_command
    std::string conf_commands_where;
    bool operator==(const SslClientSettings&) const = default;
};

/// An SSL_CTX for upstream connections and this worker's saved sessions, keyed by peer and
/// server name (the workers inherit it empty from the master).
class ClientContext;

/// Builds a context; errors name the directive's file:line (a missing file, a bad cipher
/// list, proxy_ssl_verify without proxy_ssl_trusted_certificate...).
core::Status make_client_context(const SslClientSettings& s, std::shared_ptr<ClientContext>& out);

/// The name the upstream is verified against and sent in SNI: `name` without a port
/// ("backend:8443" -> "backend", "[::1]:443" -> "[::1]").
std::string ssl_name_without_port(std::string_view name);

/// Keys of upstream connections that may be shared: the pool keeps TLS connections apart from
/// plain ones and from those of another context or server name.
std::string tls_pool_tag(const ClientContext& ctx, const std::string& name, bool sni);

/// Puts a client TLS transport on `conn` (made from open_connecting(), not started): SNI with
/// `name` when `sni` (never for an IP address, RFC 6066 §3), and the session saved for (peer,
/// name) when the context reuses sessions. False when OpenSSL cannot make the connection (it
/// is logged).
bool start_tls(ClientContext& ctx, ev::Connection& conn, const std::string& name, bool sni);

/// Why the handshake of a connection from start_tls() failed, as OpenSSL says it
/// ("SSL_do_handshake() failed (SSL: error:...)"); empty when it did not say.
std::string tls_handshake_error(const ev::Connection& conn);

/// After the handshake, with proxy_ssl_verify on: "" when the certificate chain verified and
/// names `name`, else the reason as nginx words it ("upstream SSL certificate verify error:
/// (20:unable to get local issuer certificate)", "upstream SSL certificate does not match
/// \"x\"").
std::string tls_check_peer(const ev::Connection& conn, const std::string& name);

}  // namespace tls
