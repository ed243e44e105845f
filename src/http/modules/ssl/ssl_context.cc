#include "http/modules/ssl/ssl_context.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <ctime>
#include <span>

#include "core/log.h"
#include "http/modules/ssl/ocsp.h"
#include "http/modules/ssl/session_cache.h"
#include "tls/ssl_transport.h"

namespace mod::http_ssl {
namespace {

using core::Status;
using tls::ssl_error_text;
using tls::SslTransport;

int context_index() {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

int zone_index() {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

core::ShmZone* zone_of(SSL_CTX* ctx) {
    auto* zone = static_cast<core::ShmZone*>(SSL_CTX_get_ex_data(ctx, zone_index()));
    return zone != nullptr && zone->segment ? zone : nullptr;
}

/// OpenSSL asks the cache of the context the connection started with, not the one SNI chose.
SSL_CTX* session_ctx(SSL* ssl) {
    SslTransport* t = SslTransport::of(ssl);
    return t != nullptr ? t->initial_ctx() : SSL_get_SSL_CTX(ssl);
}

uint64_t connection_of(SSL* ssl) {
    SslTransport* t = SslTransport::of(ssl);
    return t != nullptr ? t->connection_id() : 0;
}

// ---- shared session cache callbacks ----

int on_new_session(SSL* ssl, SSL_SESSION* sess) {
    core::ShmZone* zone = zone_of(session_ctx(ssl));
    if (zone == nullptr) {
        return 0;
    }
    int len = i2d_SSL_SESSION(sess, nullptr);
    if (len <= 0) {
        return 0;
    }
    std::string der(static_cast<size_t>(len), '\0');
    auto* p = reinterpret_cast<unsigned char*>(der.data());
    i2d_SSL_SESSION(sess, &p);
    unsigned int id_len = 0;
    const unsigned char* id = SSL_SESSION_get_id(sess, &id_len);
    int64_t expire = static_cast<int64_t>(SSL_SESSION_get_time(sess)) +
                     static_cast<int64_t>(SSL_SESSION_get_timeout(sess));
    SessionCache cache(zone->pool());
    if (!cache.store(std::span(id, id_len),
                     std::span(reinterpret_cast<const uint8_t*>(der.data()), der.size()), expire,
                     time(nullptr))) {
        core::log_conn(core::LogLevel::kAlert, connection_of(ssl),
                       "could not allocate new session in SSL session shared cache \"%s\"",
                       zone->name.c_str());
    }
    return 0;  // no reference kept: OpenSSL frees the session as usual
}

SSL_SESSION* on_get_session(SSL* ssl, const unsigned char* id, int len, int* copy) {
    *copy = 0;
    core::ShmZone* zone = zone_of(session_ctx(ssl));
    if (zone == nullptr || len <= 0) {
        return nullptr;
    }
    SessionCache cache(zone->pool());
    std::optional<std::string> der =
        cache.lookup(std::span(id, static_cast<size_t>(len)), time(nullptr));
    if (!der) {
        return nullptr;
    }
    const auto* p = reinterpret_cast<const unsigned char*>(der->data());
    return d2i_SSL_SESSION(nullptr, &p, static_cast<long>(der->size()));
}

void on_remove_session(SSL_CTX* ctx, SSL_SESSION* sess) {
    core::ShmZone* zone = zone_of(ctx);
    if (zone == nullptr) {
        return;
    }
    unsigned int id_len = 0;
    const unsigned char* id = SSL_SESSION_get_id(sess, &id_len);
    SessionCache(zone->pool()).remove(std::span(id, id_len));
}

// ---- handshake callbacks ----

/// ssl_buffer_size: records of at most that size; 16k and more are OpenSSL's own records.
size_t write_limit(const ContextSettings& s) {
    return s.buffer_size >= 16384 ? 0 : s.buffer_size;
}

/// RFC 6066 §3: the client names the server; the port's server of that name lends its
/// certificate, options and client verification to the connection. A server with
/// `ssl_reject_handshake on` (the one named, else the default) ends the handshake with an
/// unrecognized_name alert. OpenSSL calls this with or without the extension.
int on_servername(SSL* ssl, int* alert, void* arg) {
    SslTransport* t = SslTransport::of(ssl);
    if (t == nullptr || t->owner() == nullptr) {
        return SSL_TLSEXT_ERR_OK;
    }
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    SSL_CTX* ctx =
        name != nullptr ? static_cast<const SslPort*>(t->owner())->context_for(name) : nullptr;
    if (ctx != nullptr && ctx != SSL_get_SSL_CTX(ssl)) {
        SSL_set_SSL_CTX(ssl, ctx);
        SSL_clear_options(ssl, SSL_get_options(ssl) & ~SSL_CTX_get_options(ctx));
        SSL_set_options(ssl, SSL_CTX_get_options(ctx));
        SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), SSL_CTX_get_verify_callback(ctx));
        SSL_set_verify_depth(ssl, SSL_CTX_get_verify_depth(ctx));
    }
    const ServerContext* sc = ServerContext::of(SSL_get_SSL_CTX(ssl));
    if (sc != nullptr) {
        t->set_write_limit(write_limit(sc->settings()));
    }
    if (sc != nullptr && sc->settings().reject_handshake) {
        *alert = SSL_AD_UNRECOGNIZED_NAME;  // RFC 6066 §3
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
}

/// RFC 7301: "h2" when the client offers it and the server (the one SNI named, else the
/// default) speaks HTTP/2 (RFC 9113 §3.2), else "http/1.1" when offered; no ALPN otherwise.
int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
            unsigned int inlen, void* arg) {
    static const unsigned char kH2[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    const unsigned char* ours = kH2 + 3;  // http/1.1 only
    unsigned int ours_len = sizeof(kH2) - 3;
    SslTransport* t = SslTransport::of(ssl);
    if (t != nullptr && t->owner() != nullptr) {
        const http::Port& port = static_cast<const SslPort*>(t->owner())->port();
        const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
        if (port.http2_for(*port.find_server(name != nullptr ? name : ""))) {
            ours = kH2;
            ours_len = sizeof(kH2);
        }
    }
    unsigned char* selected = nullptr;
    unsigned char selected_len = 0;
    if (SSL_select_next_proto(&selected, &selected_len, ours, ours_len, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    *out = selected;
    *outlen = selected_len;
    return SSL_TLSEXT_ERR_OK;
}

// ---- settings ----

void set_session_cache(SSL_CTX* ctx, const ContextSettings& s) {
    SSL_CTX_set_timeout(ctx, static_cast<long>(s.session_timeout.count()));
    const SessionCacheConf& c = s.session_cache;
    switch (c.mode) {
        case SessionCacheConf::Mode::kOff:
            SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
            return;
        case SessionCacheConf::Mode::kNone:
            // Session ids are offered but nothing is kept (nginx's "none"): some clients
            // misbehave when a server says it never resumes.
            SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER |
                                                    SSL_SESS_CACHE_NO_AUTO_CLEAR |
                                                    SSL_SESS_CACHE_NO_INTERNAL_STORE);
            SSL_CTX_sess_set_cache_size(ctx, 1);
            return;
        case SessionCacheConf::Mode::kOn:
            break;
    }
    long mode = SSL_SESS_CACHE_SERVER;
    if (c.shared != nullptr && !c.builtin) {
        mode |= SSL_SESS_CACHE_NO_INTERNAL;
    }
    SSL_CTX_set_session_cache_mode(ctx, mode);
    if (c.builtin && *c.builtin > 0) {
        SSL_CTX_sess_set_cache_size(ctx, *c.builtin);
    }
    if (c.shared != nullptr) {
        SSL_CTX_set_ex_data(ctx, zone_index(), c.shared);
        SSL_CTX_sess_set_new_cb(ctx, &on_new_session);
        SSL_CTX_sess_set_get_cb(ctx, &on_get_session);
        SSL_CTX_sess_set_remove_cb(ctx, &on_remove_session);
    }
}

/// Sessions resume only in a context with the same certificates (another server's sessions
/// in a shared cache do not apply): the id context is a digest of the certificate paths.
void set_session_id_context(SSL_CTX* ctx, const ContextSettings& s) {
    std::string all;
    for (const auto& [cert, key] : s.certificates) {
        all += cert;
        all += '\n';
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(all.data(), all.size(), digest, &len, EVP_sha256(), nullptr);
    SSL_CTX_set_session_id_context(ctx, digest,
                                   std::min<unsigned int>(len, SSL_MAX_SID_CTX_LENGTH));
}

}  // namespace

Status ServerContext::create(const ContextSettings& s, std::shared_ptr<ServerContext>& out) {
    ERR_clear_error();
    SSL_CTX* raw = SSL_CTX_new(TLS_server_method());
    if (raw == nullptr) {
        return Status::error("SSL_CTX_new() failed (" + ssl_error_text() + ")");
    }
    std::shared_ptr<ServerContext> sc(new ServerContext(raw, s));
    SSL_CTX* ctx = sc->ctx();
    SSL_CTX_set_ex_data(ctx, context_index(), sc.get());
    SSL_CTX_set_options(
        ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    tls::set_tls_protocols(ctx, s.protocols);
    // Never a passphrase prompt on the terminal: ssl_password_file or nothing.
    SSL_CTX_set_default_passwd_cb(ctx, [](char*, int, int, void*) { return 0; });
    for (const auto& [cert, key] : s.certificates) {
        if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) {
            return Status::error("cannot load certificate \"" + cert +
                                 "\": SSL_CTX_use_certificate_chain_file() failed (" +
                                 ssl_error_text() + ")");
        }
        sc->certificate_files.emplace_back(SSL_CTX_get0_certificate(ctx), cert);
        HALO_TRY(load_key(ctx, key, s));
        if (SSL_CTX_check_private_key(ctx) != 1) {
            return Status::error("certificate \"" + cert + "\" and key \"" + key +
                                 "\" do not match (" + ssl_error_text() + ")");
        }
    }
    HALO_TRY(tls::set_tls_ciphers(ctx, s.ciphers));
    if (s.prefer_server_ciphers) {
        SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    }
    if (!s.session_tickets) {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    }
    set_session_id_context(ctx, s);
    set_session_cache(ctx, s);
    SSL_CTX_set_tlsext_servername_callback(ctx, &on_servername);
    SSL_CTX_set_alpn_select_cb(ctx, &on_alpn, nullptr);
    HALO_TRY(apply_options(*sc, s));
    out = std::move(sc);
    return Status::ok();
}

const ServerContext* ServerContext::of(const SSL_CTX* ctx) {
    return static_cast<const ServerContext*>(SSL_CTX_get_ex_data(ctx, context_index()));
}

ServerContext::~ServerContext() {
    staples.clear();
    SSL_CTX_free(ctx_);
}

std::unique_ptr<ev::Transport> SslPort::accept(int fd, uint64_t connection_id) const {
    std::unique_ptr<SslTransport> t = SslTransport::accept(default_ctx_, fd, connection_id, this);
    const ServerContext* sc = ServerContext::of(default_ctx_);
    if (t != nullptr && sc != nullptr) {
        t->set_write_limit(write_limit(sc->settings()));
    }
    return t;
}

SSL_CTX* SslPort::context_for(std::string_view name) const {
    const http::ServerBlock* srv = port_.find_server(name);
    for (const auto& [s, ctx] : contexts_) {
        if (s == srv) {
            return ctx;
        }
    }
    return nullptr;
}

}  // namespace mod::http_ssl
