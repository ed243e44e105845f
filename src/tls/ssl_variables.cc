// The $ssl_* variables http and stream share.
#include "tls/ssl_variables.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cctype>
#include <cstdio>
#include <string>
#include <vector>

namespace tls {
namespace {

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

/// Appends what `Get` makes of the client certificate; "" without one.
template <void (*Get)(SSL*, X509*, std::string&)>
bool cert_value(SSL* ssl, std::string& out) {
    if (X509* cert = SSL_get0_peer_certificate(ssl)) {
        Get(ssl, cert, out);
    }
    return true;
}

bool text(const char* value, std::string& out) {
    if (value == nullptr) {
        return false;
    }
    out += value;
    return true;
}

}  // namespace

bool ssl_protocol(SSL* ssl, std::string& out) {
    return text(SSL_get_version(ssl), out);
}

bool ssl_cipher(SSL* ssl, std::string& out) {
    return text(SSL_get_cipher_name(ssl), out);
}

bool ssl_ciphers(SSL* ssl, std::string& out) {
    ciphers(ssl, out);
    return true;
}

bool ssl_curve(SSL* ssl, std::string& out) {
    curve(ssl, out);
    return true;
}

bool ssl_curves(SSL* ssl, std::string& out) {
    curves(ssl, out);
    return true;
}

bool ssl_server_name(SSL* ssl, std::string& out) {
    return text(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name), out);
}

bool ssl_session_id(SSL* ssl, std::string& out) {
    session_id(ssl, out);
    return true;
}

bool ssl_session_reused(SSL* ssl, std::string& out) {
    out += SSL_session_reused(ssl) ? "r" : ".";
    return true;
}

bool ssl_alpn_protocol(SSL* ssl, std::string& out) {
    alpn(ssl, out);
    return true;
}

bool ssl_client_cert(SSL* ssl, std::string& out) {
    return cert_value<&tabbed_cert>(ssl, out);
}

bool ssl_client_raw_cert(SSL* ssl, std::string& out) {
    return cert_value<&raw_cert>(ssl, out);
}

bool ssl_client_escaped_cert(SSL* ssl, std::string& out) {
    return cert_value<&escaped_cert>(ssl, out);
}

bool ssl_client_s_dn(SSL* ssl, std::string& out) {
    return cert_value<&dn<&subject_of>>(ssl, out);
}

bool ssl_client_i_dn(SSL* ssl, std::string& out) {
    return cert_value<&dn<&issuer_of>>(ssl, out);
}

bool ssl_client_s_dn_legacy(SSL* ssl, std::string& out) {
    return cert_value<&dn_legacy<&subject_of>>(ssl, out);
}

bool ssl_client_i_dn_legacy(SSL* ssl, std::string& out) {
    return cert_value<&dn_legacy<&issuer_of>>(ssl, out);
}

bool ssl_client_serial(SSL* ssl, std::string& out) {
    return cert_value<&serial>(ssl, out);
}

bool ssl_client_fingerprint(SSL* ssl, std::string& out) {
    return cert_value<&fingerprint>(ssl, out);
}

bool ssl_client_v_start(SSL* ssl, std::string& out) {
    return cert_value<&cert_time<&not_before>>(ssl, out);
}

bool ssl_client_v_end(SSL* ssl, std::string& out) {
    return cert_value<&cert_time<&not_after>>(ssl, out);
}

bool ssl_client_v_remain(SSL* ssl, std::string& out) {
    return cert_value<&remain>(ssl, out);
}

bool ssl_client_verify(SSL* ssl, std::string& out, const char* extra_failure) {
    if (SSL_get0_peer_certificate(ssl) == nullptr) {
        out += "NONE";
        return true;
    }
    long rc = SSL_get_verify_result(ssl);
    const char* why = rc == X509_V_OK ? extra_failure : X509_verify_cert_error_string(rc);
    out += why == nullptr ? "SUCCESS" : "FAILED:" + std::string(why);
    return true;
}

bool no_ca_error(long rc) {
    return rc == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
           rc == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
           rc == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
           rc == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
           rc == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE;
}

}  // namespace tls
