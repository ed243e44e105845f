// ssl_ocsp, as nginx: once a client certificate verified, the status of each certificate of
// its chain (the leaf only with `ssl_ocsp leaf`) is asked from its OCSP responder (the
// certificate's AIA, or ssl_ocsp_responder) before the connection's first request is
// processed; a revoked or unknown certificate, or a failed request, answers 400 "The SSL
// certificate error" and $ssl_client_verify says why ("FAILED:certificate revoked"). With
// ssl_ocsp_cache the verdicts are kept in a shared zone until the response's nextUpdate (an
// hour without one), so that every worker uses them. nginx starts the check when the
// handshake ends and reads no request until it is done; halo starts it when the first request
// head is read and holds that request (its post-read phase) until the verdict.
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include <ctime>

#include "event/runtime.h"
#include "http/error_log.h"
#include "http/modules/ssl/ocsp.h"
#include "http/modules/ssl/ocsp_client.h"
#include "http/modules/ssl/ssl_context.h"
#include "tls/session_cache.h"

namespace mod::http_ssl {
namespace {

using core::Status;

/// The check of one connection, kept with its SSL object (nginx's ngx_ssl_ocsp_t).
struct ConnOcsp {
    enum class State { kRunning, kDone, kError };
    ~ConnOcsp() { sk_X509_pop_free(certs, X509_free); }

    const OcspClientConf* conf = nullptr;
    SSL_CTX* ctx = nullptr;
    STACK_OF(X509) * certs = nullptr;  // the verified chain, leaf first
    int next = 0;                      // the certificate to check next
    State state = State::kRunning;
    int cert_status = V_OCSP_CERTSTATUS_GOOD;
    std::unique_ptr<OcspFetch> fetch;
    X509* cert = nullptr;  // the one asked about
    X509* issuer = nullptr;
    std::string key;  // its cache key
    const core::Log* log = nullptr;
    uint64_t connection = 0;
    http::Request* waiter = nullptr;  // the request held until the verdict
};

void free_conn(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
    delete static_cast<ConnOcsp*>(ptr);
}

int conn_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, &free_conn);
    return index;
}

ConnOcsp* conn_of(SSL* ssl) {
    return static_cast<ConnOcsp*>(SSL_get_ex_data(ssl, conn_index()));
}

/// Unhooks the held request if it goes first (the connection closed meanwhile).
struct OcspWait : http::RequestCtx {
    ConnOcsp* conn = nullptr;
    ~OcspWait() override {
        if (conn != nullptr) {
            conn->waiter = nullptr;
        }
    }
};

void log_conn(const ConnOcsp& c, core::LogLevel level, const std::string& msg) {
    const core::Log& log = c.log != nullptr ? *c.log : core::current_log();
    log.write(level, c.connection, msg);
}

// ---- the cache: SessionCache's table, keyed by a digest of nginx's key ----

/// nginx's key: SHA-1 of the issuer's name and key, and the serial (RFC 6960 §4.1.1's
/// CertID), digested to the cache's 32-byte ids.
std::string cache_key(X509* cert, X509* issuer) {
    unsigned char key[60] = {};
    unsigned int n = 0;
    const ASN1_INTEGER* serial = X509_get0_serialNumber(cert);
    int len = ASN1_STRING_length(serial);
    if (X509_NAME_digest(X509_get_subject_name(issuer), EVP_sha1(), key, &n) != 1 ||
        X509_pubkey_digest(issuer, EVP_sha1(), key + 20, &n) != 1 || len > 20) {
        ERR_clear_error();
        return "";
    }
    memcpy(key + 40, ASN1_STRING_get0_data(serial), static_cast<size_t>(len));
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    EVP_Digest(key, sizeof(key), digest, &dlen, EVP_sha256(), nullptr);
    return std::string(reinterpret_cast<char*>(digest), dlen);
}

std::span<const uint8_t> bytes(const std::string& s) {
    return std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

bool cache_lookup(ConnOcsp& c, int& status) {
    if (c.conf->cache == nullptr || c.key.empty()) {
        return false;
    }
    tls::SessionCache cache(c.conf->cache->pool());
    std::optional<std::string> v = cache.lookup(bytes(c.key), time(nullptr));
    if (!v || v->size() != 1) {
        return false;
    }
    status = static_cast<unsigned char>((*v)[0]);
    return true;
}

void cache_store(ConnOcsp& c, int status, int64_t valid) {
    if (c.conf->cache == nullptr || c.key.empty()) {
        return;
    }
    int64_t now = time(nullptr);
    if (valid < now) {
        return;
    }
    if (valid == OcspVerdict::kForever) {
        valid = now + 3600;
    }
    std::string value(1, static_cast<char>(status));
    if (!tls::SessionCache(c.conf->cache->pool()).store(bytes(c.key), bytes(value), valid, now)) {
        log_conn(c, core::LogLevel::kAlert,
                 "could not allocate new entry in OCSP cache \"" + c.conf->cache->name + "\"");
    }
}

// ---- the check ----

void next_certificate(ConnOcsp& c);

void fetched(ConnOcsp& c, OcspFetch& fetch, bool ok) {
    OcspVerdict v;
    std::string error;
    const OcspHttpAnswer& a = fetch.answer();
    if (!ok || !ocsp_verify(a.code, a.body, c.ctx, c.certs, 0, c.cert, c.issuer, v, error)) {
        if (!error.empty()) {
            fetch.log(core::LogLevel::kError, error);
        }
        c.state = ConnOcsp::State::kError;
    } else {
        cache_store(c, v.status, v.valid);
        if (v.status != V_OCSP_CERTSTATUS_GOOD) {
            c.cert_status = v.status;
            c.state = ConnOcsp::State::kDone;
        }
    }
    std::unique_ptr<OcspFetch> gone = std::move(c.fetch);  // we are inside it
    if (c.state == ConnOcsp::State::kRunning) {
        next_certificate(c);
    }
    if (c.state != ConnOcsp::State::kRunning && c.waiter != nullptr) {
        http::Request* r = c.waiter;
        c.waiter = nullptr;
        if (auto* w = r->ctx<OcspWait>()) {
            w->conn = nullptr;
        }
        r->resume();
    }
}

/// The responder for `c.cert`: ssl_ocsp_responder, else the certificate's (not looked up
/// now: by the resolver, when asked).
bool responder_of(ConnOcsp& c, OcspResponder& out) {
    if (c.conf->responder) {
        out = *c.conf->responder;
        return true;
    }
    std::string url;
    STACK_OF(OPENSSL_STRING)* aia = X509_get1_ocsp(c.cert);
    if (aia != nullptr && sk_OPENSSL_STRING_num(aia) > 0) {
        url = sk_OPENSSL_STRING_value(aia, 0);
    }
    X509_email_free(aia);
    if (url.empty()) {
        log_conn(c, core::LogLevel::kError, "no OCSP responder URL in certificate");
        return false;
    }
    std::string why = parse_responder(url, false, out);
    if (why == "invalid URL prefix") {
        log_conn(c, core::LogLevel::kError,
                 "invalid URL prefix in OCSP responder \"" + url + "\" in certificate");
        return false;
    }
    if (!why.empty()) {
        log_conn(c, core::LogLevel::kError,
                 why + " in OCSP responder \"" + url.substr(7) + "\" in certificate");
        return false;
    }
    return true;
}

/// Checks the certificates left in turn: from the cache, or by asking (then fetched() goes
/// on). nginx's ngx_ssl_ocsp_validate_next.
void next_certificate(ConnOcsp& c) {
    int n = sk_X509_num(c.certs);
    OcspResponder responder;
    for (;;) {
        if (c.next >= n - 1 || (c.conf->leaf_only && c.next == 1)) {
            c.state = ConnOcsp::State::kDone;
            return;
        }
        c.cert = sk_X509_value(c.certs, c.next);
        c.issuer = sk_X509_value(c.certs, c.next + 1);
        if (!responder_of(c, responder)) {
            c.state = ConnOcsp::State::kError;
            return;
        }
        c.next++;
        c.key = cache_key(c.cert, c.issuer);
        int status = 0;
        if (!cache_lookup(c, status)) {
            break;
        }
        if (status != V_OCSP_CERTSTATUS_GOOD) {
            c.cert_status = status;
            c.state = ConnOcsp::State::kDone;
            return;
        }
    }
    OcspFetch::Params p;
    p.responder = std::move(responder);
    p.request = ocsp_http_request(p.responder, c.cert, c.issuer);
    if (p.request.empty()) {
        c.state = ConnOcsp::State::kError;
        return;
    }
    p.resolver = c.conf->resolver;
    p.timeout = c.conf->timeout;
    p.log = c.log;
    p.connection = c.connection;
    ConnOcsp* self = &c;
    c.fetch = OcspFetch::start(ev::Runtime::current().loop(), std::move(p),
                               [self](OcspFetch& f, bool ok) { fetched(*self, f, ok); });
}

/// The chain OpenSSL verified (built again for a resumed session, which does not keep it).
STACK_OF(X509) * verified_chain(SSL* ssl, X509* peer) {
    if (STACK_OF(X509)* chain = SSL_get0_verified_chain(ssl)) {
        return X509_chain_up_ref(chain);
    }
    STACK_OF(X509)* out = nullptr;
    X509_STORE_CTX* sctx = X509_STORE_CTX_new();
    if (sctx != nullptr &&
        X509_STORE_CTX_init(sctx, SSL_CTX_get_cert_store(SSL_get_SSL_CTX(ssl)), peer,
                            SSL_get_peer_cert_chain(ssl)) == 1 &&
        X509_verify_cert(sctx) == 1) {
        out = X509_STORE_CTX_get1_chain(sctx);
    }
    X509_STORE_CTX_free(sctx);
    ERR_clear_error();
    return out;
}

}  // namespace

Status set_client_ocsp(ServerContext& sc, const ContextSettings& s) {
    if (s.ocsp == OcspMode::kOff) {
        return Status::ok();
    }
    if (s.verify == VerifyClient::kOptionalNoCa) {
        return Status::error(
            "\"ssl_ocsp\" is incompatible with \"ssl_verify_client optional_no_ca\"");
    }
    auto conf = std::make_unique<OcspClientConf>();
    conf->leaf_only = s.ocsp == OcspMode::kLeaf;
    conf->cache = s.ocsp_cache;
    conf->resolver = s.resolver;
    conf->timeout = s.ocsp_timeout;
    if (!s.ocsp_responder.empty()) {
        OcspResponder r;
        std::string why = parse_responder(s.ocsp_responder, true, r);
        if (why == "invalid URL prefix") {
            return Status::error("invalid URL prefix in OCSP responder \"" + s.ocsp_responder +
                                 "\" in \"ssl_ocsp_responder\"");
        }
        if (!why.empty()) {
            return Status::error(why + " in OCSP responder \"" + s.ocsp_responder.substr(7) +
                                 "\" in \"ssl_ocsp_responder\"");
        }
        conf->responder = std::move(r);
    }
    sc.ocsp = std::move(conf);
    return Status::ok();
}

http::Flow ocsp_check(http::Request& r, SSL* ssl) {
    ConnOcsp* c = conn_of(ssl);
    if (c == nullptr) {
        const ServerContext* sc = ServerContext::of(SSL_get_SSL_CTX(ssl));
        X509* peer = SSL_get0_peer_certificate(ssl);
        if (sc == nullptr || !sc->ocsp || peer == nullptr ||
            SSL_get_verify_result(ssl) != X509_V_OK) {
            return http::Flow::kDeclined;
        }
        c = new ConnOcsp;
        SSL_set_ex_data(ssl, conn_index(), c);
        c->conf = sc->ocsp.get();
        c->ctx = SSL_get_SSL_CTX(ssl);
        c->log = &http::server_log(r.server);
        c->connection = r.connection_id;
        c->certs = verified_chain(ssl, peer);
        if (c->certs == nullptr) {
            c->state = ConnOcsp::State::kError;
        } else {
            next_certificate(*c);
        }
    }
    if (c->state != ConnOcsp::State::kRunning) {
        return http::Flow::kDeclined;
    }
    c->waiter = &r;
    OcspWait* w = r.ctx<OcspWait>();
    (w != nullptr ? *w : r.make_ctx<OcspWait>()).conn = c;
    return http::Flow::kSuspend;
}

const char* ocsp_failure(SSL* ssl) {
    const ConnOcsp* c = conn_of(ssl);
    if (c == nullptr) {
        return nullptr;
    }
    if (c->state == ConnOcsp::State::kError) {
        return "certificate status request failed";
    }
    switch (c->cert_status) {
        case V_OCSP_CERTSTATUS_GOOD:
            return nullptr;
        case V_OCSP_CERTSTATUS_REVOKED:
            return "certificate revoked";
        default:
            return "certificate status unknown";
    }
}

}  // namespace mod::http_ssl
