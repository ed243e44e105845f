// ssl_stapling, as nginx: each certificate of a server staples the response of
// ssl_stapling_file, or one fetched from its OCSP responder (the certificate's AIA, or
// ssl_stapling_responder). A worker asks the responder when a client first asks for the status
// (that client gets no staple yet), then staples the response while it is valid and asks again
// in the background before it expires: at most an hour after, never sooner than 5 minutes
// after, and 5 minutes after a failure (the last good response is stapled until its
// nextUpdate). A response is checked as nginx checks it (ocsp_verify); with
// ssl_stapling_verify its signer must chain to the trusted certificates. Nothing here blocks
// a worker, and a handshake never waits for a responder.
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>

#include "event/runtime.h"
#include "http/modules/ssl/ocsp.h"
#include "http/modules/ssl/ssl_context.h"
#include "tls/ssl_transport.h"

namespace mod::http_ssl {

Staple::~Staple() {
    fetch.reset();
    X509_free(issuer);
}

namespace {

using core::Status;

void done(Staple& staple, OcspFetch& fetch, bool ok) {
    int64_t now = time(nullptr);
    OcspVerdict v;
    std::string error;
    const OcspHttpAnswer& a = fetch.answer();
    bool good = false;
    if (ok && ocsp_verify(a.code, a.body, staple.ctx, staple.chain,
                          staple.verify ? OCSP_TRUSTOTHER : OCSP_NOVERIFY, staple.cert,
                          staple.issuer, v, error)) {
        if (v.status != V_OCSP_CERTSTATUS_GOOD) {
            fetch.log(core::LogLevel::kError, std::string("certificate status \"") +
                                                  OCSP_cert_status_str(v.status) +
                                                  "\" in the OCSP response");
        } else {
            good = true;
        }
    } else if (!error.empty()) {
        fetch.log(core::LogLevel::kError, error);
    }
    if (good) {
        staple.der = std::string(a.body);
        staple.valid = v.valid;
        staple.refresh = staple_refresh(v.valid, now);
    } else {
        staple.refresh = now + 300;
    }
    staple.loading = false;
    std::unique_ptr<OcspFetch> gone = std::move(staple.fetch);  // we are inside it: last
}

/// Starts asking the responder when it is time (nginx's ngx_ssl_stapling_update).
void update(Staple& staple) {
    int64_t now = time(nullptr);
    if (!staple.responder || staple.loading || staple.refresh >= now) {
        return;
    }
    staple.loading = true;
    OcspFetch::Params p;
    p.responder = *staple.responder;
    p.request = ocsp_http_request(p.responder, staple.cert, staple.issuer);
    if (p.request.empty()) {
        staple.loading = false;
        staple.refresh = now + 300;
        return;
    }
    p.resolver = staple.resolver;
    p.certificate = staple.name;
    Staple* s = &staple;
    staple.fetch = OcspFetch::start(ev::Runtime::current().loop(), std::move(p),
                                    [s](OcspFetch& f, bool ok) { done(*s, f, ok); });
}

/// RFC 6066 §8: a client that asks for the certificate status gets the staple of the
/// certificate chosen for it, while it is valid.
int on_status(SSL* ssl, void*) {
    const ServerContext* sc = ServerContext::of(SSL_get_SSL_CTX(ssl));
    X509* cert = SSL_get_certificate(ssl);
    if (sc == nullptr || cert == nullptr) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    for (const auto& staple : sc->staples) {
        if (staple->cert != cert) {
            continue;
        }
        int rc = SSL_TLSEXT_ERR_NOACK;
        if (!staple->der.empty() && staple->valid >= time(nullptr)) {
            // OpenSSL frees what it is given.
            auto* copy = static_cast<unsigned char*>(OPENSSL_malloc(staple->der.size()));
            if (copy != nullptr) {
                memcpy(copy, staple->der.data(), staple->der.size());
                SSL_set_tlsext_status_ocsp_resp(ssl, copy, static_cast<long>(staple->der.size()));
                rc = SSL_TLSEXT_ERR_OK;
            }
        }
        update(*staple);
        return rc;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

Status load_file(Staple& staple, const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return Status::error("BIO_new_file(\"" + path + "\") failed (" + strerror(errno) + ")");
    }
    std::string der(std::istreambuf_iterator<char>(in), {});
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    OCSP_RESPONSE* resp = d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size()));
    if (resp == nullptr) {
        return Status::error("d2i_OCSP_RESPONSE(\"" + path + "\") failed (" +
                             tls::ssl_error_text() + ")");
    }
    OCSP_RESPONSE_free(resp);
    staple.der = std::move(der);
    staple.valid = OcspVerdict::kForever;
    return Status::ok();
}

/// The issuer of the certificate: in its chain, else among the trusted certificates.
X509* find_issuer(const Staple& staple) {
    for (int i = 0; i < sk_X509_num(staple.chain); i++) {
        X509* x = sk_X509_value(staple.chain, i);
        if (X509_check_issued(x, staple.cert) == X509_V_OK) {
            X509_up_ref(x);
            return x;
        }
    }
    X509* found = nullptr;
    X509_STORE_CTX* sctx = X509_STORE_CTX_new();
    if (sctx != nullptr &&
        X509_STORE_CTX_init(sctx, SSL_CTX_get_cert_store(staple.ctx), nullptr, nullptr) == 1 &&
        X509_STORE_CTX_get1_issuer(&found, sctx, staple.cert) != 1) {
        found = nullptr;
    }
    X509_STORE_CTX_free(sctx);
    ERR_clear_error();
    return found;
}

/// The responder to ask: ssl_stapling_responder, else the certificate's first OCSP URL. As
/// nginx, a certificate without one, or with one halo cannot use, staples nothing (warned).
std::optional<OcspResponder> find_responder(const Staple& staple, const ContextSettings& s) {
    std::string url = s.stapling_responder;
    if (url.empty()) {
        STACK_OF(OPENSSL_STRING)* aia = X509_get1_ocsp(staple.cert);
        if (aia != nullptr && sk_OPENSSL_STRING_num(aia) > 0) {
            url = sk_OPENSSL_STRING_value(aia, 0);
        }
        X509_email_free(aia);
        if (url.empty()) {
            core::log_msg(core::LogLevel::kWarn,
                          "\"ssl_stapling\" ignored, no OCSP responder URL in the certificate "
                          "\"%s\"",
                          staple.name.c_str());
            return std::nullopt;
        }
    }
    OcspResponder r;
    std::string why = parse_responder(url, true, r);
    if (why.empty()) {
        return r;
    }
    std::string shown = why == "invalid URL prefix" ? url : url.substr(7);
    core::log_msg(core::LogLevel::kWarn,
                  "\"ssl_stapling\" ignored, %s in OCSP responder \"%s\" in the certificate "
                  "\"%s\"",
                  why.c_str(), shown.c_str(), staple.name.c_str());
    return std::nullopt;
}

}  // namespace

int64_t staple_refresh(int64_t valid, int64_t now) {
    int64_t before = valid == OcspVerdict::kForever ? valid : valid - 300;
    return std::max(std::min(before, now + 3600), now + 300);
}

Status set_stapling(ServerContext& sc, const ContextSettings& s) {
    if (!s.stapling) {
        return Status::ok();
    }
    SSL_CTX* ctx = sc.ctx();
    for (const auto& [cert, name] : sc.certificate_files) {
        auto staple = std::make_unique<Staple>();
        staple->ctx = ctx;
        staple->cert = cert;
        staple->name = name;
        staple->verify = s.stapling_verify;
        staple->resolver = s.resolver;
        SSL_CTX_select_current_cert(ctx, cert);
        SSL_CTX_get0_chain_certs(ctx, &staple->chain);
        if (!s.stapling_file.empty()) {
            HALO_TRY(load_file(*staple, s.stapling_file));
            sc.staples.push_back(std::move(staple));
            continue;
        }
        staple->issuer = find_issuer(*staple);
        if (staple->issuer == nullptr) {
            core::log_msg(core::LogLevel::kWarn,
                          "\"ssl_stapling\" ignored, issuer certificate not found for "
                          "certificate \"%s\"",
                          name.c_str());
            continue;
        }
        staple->responder = find_responder(*staple, s);
        if (staple->responder) {
            sc.staples.push_back(std::move(staple));
        }
    }
    ERR_clear_error();
    SSL_CTX_set_tlsext_status_cb(ctx, &on_status);
    return Status::ok();
}

void stop_stapling(const ServerContext& sc) {
    for (const auto& staple : sc.staples) {
        staple->fetch.reset();
        staple->loading = false;
    }
}

}  // namespace mod::http_ssl
