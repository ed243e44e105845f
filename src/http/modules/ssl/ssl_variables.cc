// The request side of the ssl module: the client certificate check nginx makes before any
// phase (ssl_verify_client: 400 "No required SSL certificate was sent" / "The SSL
// certificate error", error_page 496 / 495), and the $ssl_* variables, valued as nginx
// values them with OpenSSL 3.
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <string>
#include <string_view>

#include "core/log.h"
#include "http/http.h"
#include "http/modules/ssl/ocsp_client.h"
#include "http/modules/ssl/ssl_conf.h"
#include "http/session.h"
#include "tls/ssl_transport.h"

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

/// What `write` printed into a memory BIO.
template <class F>
std::string bio_text(F&& write) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (bio == nullptr) {
        return "";
    }
    std::string out;
    if (write(bio)) {
        char* data = nullptr;
        long n = BIO_get_mem_data(bio, &data);
        out.assign(data, static_cast<size_t>(n));
    }
    BIO_free(bio);
    ERR_clear_error();
    return out;
}

void append_hex(std::string& out, const unsigned char* p, size_t n, bool upper) {
    const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out += digits[p[i] >> 4];
        out += digits[p[i] & 15];
    }
}

/// The name of a TLS group as nginx prints it: OpenSSL's short name, "0x001d" for a code
/// OpenSSL does not know.
std::string group_name(int nid) {
    if (nid & TLSEXT_nid_unknown) {
        char buf[8];
        snprintf(buf, sizeof(buf), "0x%04x", nid & 0xffff);
        return buf;
    }
    const char* sn = OBJ_nid2sn(nid);
    return sn != nullptr ? sn : "";
}

// ---- the client certificate check ----

/// The verify errors `optional_no_ca` lets through: the chain does not reach a known CA.
bool no_ca_error(long rc) {
    return rc == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
           rc == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
           rc == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
           rc == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
           rc == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE;
}

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
    if (rc != X509_V_OK && (mode != VerifyClient::kOptionalNoCa || !no_ca_error(rc))) {
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

/// A variable that `Text` reads from the connection's SSL object; not found on a plain
/// connection, or when `Text` gives nullptr.
template <const char* (*Text)(const SSL*)>
bool get_ssl_text(const http::Request& r, std::string_view, std::string& out) {
    SSL* ssl = ssl_of(r);
    const char* text = ssl != nullptr ? Text(ssl) : nullptr;
    if (text == nullptr) {
        return false;
    }
    out += text;
    return true;
}

/// A variable computed by `Get` from the SSL object (not found on a plain connection).
template <void (*Get)(SSL*, std::string&)>
bool get_ssl(const http::Request& r, std::string_view, std::string& out) {
    SSL* ssl = ssl_of(r);
    if (ssl == nullptr) {
        return false;
    }
    Get(ssl, out);
    return true;
}

void session_id(SSL* ssl, std::string& out) {
    SSL_SESSION* sess = SSL_get_session(ssl);
    if (sess == nullptr) {
        return;
    }
    unsigned int len = 0;
    const unsigned char* id = SSL_SESSION_get_id(sess, &len);
    append_hex(out, id, len, false);
}

/// The client's cipher list in its order: names, or "0x…" for suites OpenSSL does not know.
void ciphers(SSL* ssl, std::string& out) {
    const unsigned char* raw = nullptr;
    size_t n = SSL_get0_raw_cipherlist(ssl, &raw);
    if (n == 0 || raw == nullptr) {
        if (STACK_OF(SSL_CIPHER)* list = SSL_get_ciphers(ssl)) {  // no raw list kept
            for (int i = 0; i < sk_SSL_CIPHER_num(list); i++) {
                out += i > 0 ? ":" : "";
                out += SSL_CIPHER_get_name(sk_SSL_CIPHER_value(list, i));
            }
        }
        return;
    }
    size_t total = n;  // bytes
    for (size_t i = 0; i + 1 < total; i += 2) {
        out += i > 0 ? ":" : "";
        const SSL_CIPHER* c = SSL_CIPHER_find(ssl, raw + i);
        if (c != nullptr) {
            out += SSL_CIPHER_get_name(c);
        } else {
            out += "0x";
            append_hex(out, raw + i, 2, false);
        }
    }
}

void curve(SSL* ssl, std::string& out) {
    int nid = SSL_get_negotiated_group(ssl);
    if (nid != NID_undef) {
        out += group_name(nid);
    }
}

void curves(SSL* ssl, std::string& out) {
    int n = SSL_get1_curves(ssl, nullptr);
    if (n <= 0) {
        return;
    }
    std::vector<int> nids(static_cast<size_t>(n));
    SSL_get1_curves(ssl, nids.data());
    for (int i = 0; i < n; i++) {
        out += i > 0 ? ":" : "";
        out += group_name(nids[static_cast<size_t>(i)]);
    }
}

void alpn(SSL* ssl, std::string& out) {
    const unsigned char* p = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(ssl, &p, &len);
    out.append(reinterpret_cast<const char*>(p), len);
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

// ---- client certificate variables: "" when the client sent none ----

template <void (*Get)(SSL*, X509*, std::string&)>
bool get_cert(const http::Request& r, std::string_view, std::string& out) {
    SSL* ssl = ssl_of(r);
    if (ssl == nullptr) {
        return false;
    }
    if (X509* cert = SSL_get0_peer_certificate(ssl)) {
        Get(ssl, cert, out);
    }
    return true;
}

std::string pem_of(X509* cert) {
    return bio_text([&](BIO* b) { return PEM_write_bio_X509(b, cert) == 1; });
}

void raw_cert(SSL*, X509* cert, std::string& out) {
    out += pem_of(cert);
}

/// nginx's deprecated $ssl_client_cert: the PEM with a tab after every inner line break,
/// for a header value.
void tabbed_cert(SSL*, X509* cert, std::string& out) {
    std::string pem = pem_of(cert);
    if (!pem.empty() && pem.back() == '\n') {
        pem.pop_back();
    }
    for (char c : pem) {
        out += c;
        if (c == '\n') {
            out += '\t';
        }
    }
}

/// The PEM escaped as a URI component (nginx's NGX_ESCAPE_URI_COMPONENT).
void escaped_cert(SSL*, X509* cert, std::string& out) {
    static const char kHex[] = "0123456789ABCDEF";
    for (unsigned char c : pem_of(cert)) {
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
}

template <X509_NAME* (*Name)(const X509*)>
void dn(SSL*, X509* cert, std::string& out) {
    out += bio_text(
        [&](BIO* b) { return X509_NAME_print_ex(b, Name(cert), 0, XN_FLAG_RFC2253) >= 0; });
}

template <X509_NAME* (*Name)(const X509*)>
void dn_legacy(SSL*, X509* cert, std::string& out) {
    char* text = X509_NAME_oneline(Name(cert), nullptr, 0);
    if (text != nullptr) {
        out += text;
        OPENSSL_free(text);
    }
}

void serial(SSL*, X509* cert, std::string& out) {
    out += bio_text([&](BIO* b) { return i2a_ASN1_INTEGER(b, X509_get0_serialNumber(cert)) >= 0; });
}

void fingerprint(SSL*, X509* cert, std::string& out) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (X509_digest(cert, EVP_sha1(), md, &len) == 1) {
        append_hex(out, md, len, false);
    }
}

void verify(SSL* ssl, X509*, std::string& out) {
    long rc = SSL_get_verify_result(ssl);
    const char* why = rc == X509_V_OK ? ocsp_failure(ssl) : X509_verify_cert_error_string(rc);
    out += why == nullptr ? "SUCCESS" : "FAILED:" + std::string(why);
}

/// $ssl_client_verify is "NONE" without a certificate.
bool get_verify(const http::Request& r, std::string_view name, std::string& out) {
    SSL* ssl = ssl_of(r);
    if (ssl != nullptr && SSL_get0_peer_certificate(ssl) == nullptr) {
        out += "NONE";
        return true;
    }
    return get_cert<&verify>(r, name, out);
}

template <const ASN1_TIME* (*Time)(const X509*)>
void cert_time(SSL*, X509* cert, std::string& out) {
    out += bio_text([&](BIO* b) { return ASN1_TIME_print(b, Time(cert)) == 1; });
}

/// Whole days until the certificate expires, 0 once less than a day is left.
void remain(SSL*, X509* cert, std::string& out) {
    int days = 0;
    int secs = 0;
    if (ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(cert)) != 1) {
        return;
    }
    out += std::to_string(days > 0 ? days : 0);
}

X509_NAME* subject_of(const X509* x) {
    return X509_get_subject_name(x);
}
X509_NAME* issuer_of(const X509* x) {
    return X509_get_issuer_name(x);
}
const ASN1_TIME* not_before(const X509* x) {
    return X509_get0_notBefore(x);
}
const ASN1_TIME* not_after(const X509* x) {
    return X509_get0_notAfter(x);
}

constexpr http::VariableDef kVariables[] = {
    {"ssl_protocol", &get_ssl_text<[](const SSL* ssl) { return SSL_get_version(ssl); }>},
    {"ssl_cipher", &get_ssl_text<[](const SSL* ssl) { return SSL_get_cipher_name(ssl); }>},
    {"ssl_ciphers", &get_ssl<&ciphers>},
    {"ssl_curve", &get_ssl<&curve>},
    {"ssl_curves", &get_ssl<&curves>},
    {"ssl_server_name", &get_ssl_text<[](const SSL* ssl) {
         return SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
     }>},
    {"ssl_session_id", &get_ssl<&session_id>},
    {"ssl_session_reused",
     &get_ssl_text<[](const SSL* ssl) { return SSL_session_reused(ssl) ? "r" : "."; }>},
    {"ssl_alpn_protocol", &get_ssl<&alpn>},
    {"ssl_early_data", &get_early_data},
    {"ssl_client_cert", &get_cert<&tabbed_cert>},
    {"ssl_client_raw_cert", &get_cert<&raw_cert>},
    {"ssl_client_escaped_cert", &get_cert<&escaped_cert>},
    {"ssl_client_s_dn", &get_cert<&dn<&subject_of>>},
    {"ssl_client_i_dn", &get_cert<&dn<&issuer_of>>},
    {"ssl_client_s_dn_legacy", &get_cert<&dn_legacy<&subject_of>>},
    {"ssl_client_i_dn_legacy", &get_cert<&dn_legacy<&issuer_of>>},
    {"ssl_client_serial", &get_cert<&serial>},
    {"ssl_client_fingerprint", &get_cert<&fingerprint>},
    {"ssl_client_verify", &get_verify},
    {"ssl_client_v_start", &get_cert<&cert_time<&not_before>>},
    {"ssl_client_v_end", &get_cert<&cert_time<&not_after>>},
    {"ssl_client_v_remain", &get_cert<&remain>},
};

}  // namespace

Status register_request_side(core::Cycle& cycle, bool verify_client) {
    for (const http::VariableDef& v : kVariables) {
        http::add_variable(cycle, v);
    }
    if (verify_client) {
        http::add_phase_handler(cycle, http::Phase::kPostRead, &check_client_certificate);
    }
    return Status::ok();
}

}  // namespace mod::http_ssl
