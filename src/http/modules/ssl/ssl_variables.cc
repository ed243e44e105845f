// The request side of the ssl module: the client certificate check nginx makes before any
// phase (ssl_verify_client: 400 "No required SSL certificate was sent" / "The SSL
// certificate error", error_page 496 / 495), and the $ssl_* variables (valued by the tls
// layer, which the stream ssl module shares).
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <array>
#include <string>
#include <string_view>
#include <utility>

#include "core/log.h"
#include "http/http.h"
#include "http/modules/ssl/ocsp_client.h"
#include "http/modules/ssl/ssl_conf.h"
#include "http/session.h"
#include "tls/ssl_transport.h"
#include "tls/ssl_variables.h"

namespace mod::http_ssl {
namespace {

using core::Status;
using tls::SslTransport;

const SslTransport* tls_of(const http::Request& r) {
    return r.session != nullptr ? dynamic_cast<const SslTransport*>(r.session->transport())
                                : nullptr;
}

SSL* ssl_of(const http::Request& r) {
    const SslTransport* t = tls_of(r);
    return t != nullptr ? t->ssl() : nullptr;
}

// ---- the client certificate check ----

/// As nginx does once the request head is read: the request's server decides, before any
/// phase; a failed session is removed from the cache so that it cannot be resumed.
http::Flow check_client_certificate(http::Request& r) {
    SSL* ssl = ssl_of(r);
    if (ssl == nullptr) {
        return http::Flow::kDeclined;
    }
    VerifyClient mode = *ssl_srv_conf(r).verify_client;
    if (mode == VerifyClient::kOff) {
        return http::Flow::kDeclined;
    }
    long rc = SSL_get_verify_result(ssl);
    int status = 0;
    if (rc != X509_V_OK && (mode != VerifyClient::kOptionalNoCa || !tls::no_ca_error(rc))) {
        core::log_conn(
            core::LogLevel::kInfo, r.connection_id,
            "client SSL certificate verify error: (%ld:%s) while reading client request headers%s",
            rc, X509_verify_cert_error_string(rc), r.log_context().c_str());
        status = http::kStatusSslCertError;
    } else if (mode == VerifyClient::kOn && SSL_get0_peer_certificate(ssl) == nullptr) {
        core::log_conn(
            core::LogLevel::kInfo, r.connection_id,
            "client sent no required SSL certificate while reading client request headers%s",
            r.log_context().c_str());
        status = http::kStatusSslNoCert;
    } else if (ocsp_check(r, ssl) == http::Flow::kSuspend) {
        return http::Flow::kSuspend;  // back here with the responder's verdict
    } else if (const char* why = ocsp_failure(ssl)) {
        core::log_conn(
            core::LogLevel::kInfo, r.connection_id,
            "client SSL certificate verify error: %s while reading client request headers%s", why,
            r.log_context().c_str());
        status = http::kStatusSslCertError;
    }
    if (status == 0) {
        return http::Flow::kDeclined;
    }
    if (SSL_SESSION* sess = SSL_get_session(ssl)) {
        const SslTransport* t = tls_of(r);
        SSL_CTX_remove_session(t->initial_ctx(), sess);
    }
    r.keepalive = false;
    r.send_error(status);
    return http::Flow::kDone;
}

// ---- variables ----

/// A variable the tls layer values from the connection's SSL object (not found on a plain
/// connection).
template <bool (*Get)(SSL*, std::string&)>
bool get_ssl(const http::Request& r, std::string_view, std::string& out) {
    SSL* ssl = ssl_of(r);
    return ssl != nullptr && Get(ssl, out);
}

/// RFC 8470 §5.1: "1" for a request that came as TLS 1.3 early data (halo reads the early
/// data and finishes the handshake before it answers: the first request of a connection
/// whose first bytes were early data), else "".
bool get_early_data(const http::Request& r, std::string_view, std::string& out) {
    const SslTransport* t = tls_of(r);
    if (t == nullptr) {
        return false;
    }
    if (t->early_data_received() && r.session->requests() == 1) {
        out += "1";
    }
    return true;
}

/// $ssl_client_verify, with the OCSP verdict (ssl_ocsp).
bool get_verify(const http::Request& r, std::string_view, std::string& out) {
    SSL* ssl = ssl_of(r);
    return ssl != nullptr && tls::ssl_client_verify(ssl, out, ocsp_failure(ssl));
}

/// The rows of tls::kSslValues, each with its getter.
template <size_t... I>
constexpr std::array<http::VariableDef, sizeof...(I)> common_rows(std::index_sequence<I...>) {
    return {http::VariableDef{tls::kSslValues[I].name, &get_ssl<tls::kSslValues[I].get>}...};
}
constexpr auto kCommonVariables =
    common_rows(std::make_index_sequence<std::size(tls::kSslValues)>());

/// http's own.
constexpr http::VariableDef kVariables[] = {
    {"ssl_early_data", &get_early_data},
    {"ssl_client_escaped_cert", &get_ssl<&tls::ssl_client_escaped_cert>},
    {"ssl_client_verify", &get_verify},
};

}  // namespace

Status register_request_side(core::Cycle& cycle, bool verify_client) {
    for (const http::VariableDef& v : kCommonVariables) {
        http::add_variable(cycle, v);
    }
    for (const http::VariableDef& v : kVariables) {
        http::add_variable(cycle, v);
    }
    if (verify_client) {
        http::add_phase_handler(cycle, http::Phase::kPostRead, &check_client_certificate);
    }
    return Status::ok();
}

}  // namespace mod::http_ssl
