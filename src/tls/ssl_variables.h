#pragma once

// The values of the $ssl_* variables that http and stream share, read from a connection's SSL
// object as nginx values them with OpenSSL 3. Each appends to `out`; false: the variable has
// no value (not found).

#include <openssl/ssl.h>

#include <string>
#include <string_view>

namespace tls {

bool ssl_protocol(SSL* ssl, std::string& out);
bool ssl_cipher(SSL* ssl, std::string& out);
/// The client's cipher list in its order: names, or "0x…" for suites OpenSSL does not know.
bool ssl_ciphers(SSL* ssl, std::string& out);
bool ssl_curve(SSL* ssl, std::string& out);
bool ssl_curves(SSL* ssl, std::string& out);
/// The SNI name; not found without one.
bool ssl_server_name(SSL* ssl, std::string& out);
bool ssl_session_id(SSL* ssl, std::string& out);
/// "r" when the session was resumed, else ".".
bool ssl_session_reused(SSL* ssl, std::string& out);
bool ssl_alpn_protocol(SSL* ssl, std::string& out);

// The client certificate: "" without one.
/// nginx's deprecated $ssl_client_cert: the PEM with a tab after every inner line break.
bool ssl_client_cert(SSL* ssl, std::string& out);
bool ssl_client_raw_cert(SSL* ssl, std::string& out);
/// The PEM escaped as a URI component (nginx's NGX_ESCAPE_URI_COMPONENT).
bool ssl_client_escaped_cert(SSL* ssl, std::string& out);
bool ssl_client_s_dn(SSL* ssl, std::string& out);
bool ssl_client_i_dn(SSL* ssl, std::string& out);
bool ssl_client_s_dn_legacy(SSL* ssl, std::string& out);
bool ssl_client_i_dn_legacy(SSL* ssl, std::string& out);
bool ssl_client_serial(SSL* ssl, std::string& out);
bool ssl_client_fingerprint(SSL* ssl, std::string& out);
bool ssl_client_v_start(SSL* ssl, std::string& out);
bool ssl_client_v_end(SSL* ssl, std::string& out);
/// Whole days until the certificate expires, 0 once less than a day is left.
bool ssl_client_v_remain(SSL* ssl, std::string& out);
/// "NONE" without a certificate, "SUCCESS", or "FAILED:reason"; `extra_failure` (http's OCSP
/// verdict) fails a chain that verified.
bool ssl_client_verify(SSL* ssl, std::string& out, const char* extra_failure = nullptr);

/// A variable both protocols value the same way from the SSL object: its name (without '$')
/// and its value.
struct SslValue {
    std::string_view name;
    bool (*get)(SSL* ssl, std::string& out);
};
/// nginx's $ssl_* variables of http and stream alike (each protocol adds its own:
/// ssl_client_verify, and http's ssl_early_data and ssl_client_escaped_cert). A module makes
/// its variable rows from them at compile time (a getter per value: no lookup per request).
inline constexpr SslValue kSslValues[] = {
    {"ssl_protocol", &ssl_protocol},
    {"ssl_cipher", &ssl_cipher},
    {"ssl_ciphers", &ssl_ciphers},
    {"ssl_curve", &ssl_curve},
    {"ssl_curves", &ssl_curves},
    {"ssl_server_name", &ssl_server_name},
    {"ssl_session_id", &ssl_session_id},
    {"ssl_session_reused", &ssl_session_reused},
    {"ssl_alpn_protocol", &ssl_alpn_protocol},
    {"ssl_client_cert", &ssl_client_cert},
    {"ssl_client_raw_cert", &ssl_client_raw_cert},
    {"ssl_client_s_dn", &ssl_client_s_dn},
    {"ssl_client_i_dn", &ssl_client_i_dn},
    {"ssl_client_s_dn_legacy", &ssl_client_s_dn_legacy},
    {"ssl_client_i_dn_legacy", &ssl_client_i_dn_legacy},
    {"ssl_client_serial", &ssl_client_serial},
    {"ssl_client_fingerprint", &ssl_client_fingerprint},
    {"ssl_client_v_start", &ssl_client_v_start},
    {"ssl_client_v_end", &ssl_client_v_end},
    {"ssl_client_v_remain", &ssl_client_v_remain},
};

/// The verify errors `ssl_verify_client optional_no_ca` lets through: the chain does not
/// reach a known CA.
bool no_ca_error(long rc);

}  // namespace tls
