// The SSL_CTX of a server block: certificates (several: RSA and ECDSA side by side), protocols,
// ciphers, and the session cache (OpenSSL's own, or one in a shared zone so that a client
// resumes on any worker). The rest of the settings: server_options.cc.
#include "tls/server_context.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <algorithm>
#include <ctime>
#include <span>

#include "core/log.h"
#include "tls/session_cache.h"
#include "tls/ssl_transport.h"

namespace tls {
namespace {

using core::Status;

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

// ---- settings ----

void set_session_cache(SSL_CTX* ctx, const ServerSettings& s) {
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
void set_session_id_context(SSL_CTX* ctx, const ServerSettings& s) {
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

Status ServerContext::build(const ServerSettings& s,
                            const std::function<Status(ServerContext&)>& extend) {
    ERR_clear_error();
    ctx_ = SSL_CTX_new(TLS_server_method());
    if (ctx_ == nullptr) {
        return Status::error("SSL_CTX_new() failed (" + ssl_error_text() + ")");
    }
    SSL_CTX* ctx = ctx_;
    SSL_CTX_set_ex_data(ctx, context_index(), this);
    SSL_CTX_set_options(
        ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    set_tls_protocols(ctx, s.protocols);
    // Never a passphrase prompt on the terminal: ssl_password_file or nothing.
    SSL_CTX_set_default_passwd_cb(ctx, [](char*, int, int, void*) { return 0; });
    for (const auto& [cert, key] : s.certificates) {
        if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) {
            return Status::error("cannot load certificate \"" + cert +
                                 "\": SSL_CTX_use_certificate_chain_file() failed (" +
                                 ssl_error_text() + ")");
        }
        certificate_files.emplace_back(SSL_CTX_get0_certificate(ctx), cert);
        HALO_TRY(load_key(ctx, key, s));
        if (SSL_CTX_check_private_key(ctx) != 1) {
            return Status::error("certificate \"" + cert + "\" and key \"" + key +
                                 "\" do not match (" + ssl_error_text() + ")");
        }
    }
    HALO_TRY(set_tls_ciphers(ctx, s.ciphers));
    if (s.prefer_server_ciphers) {
        SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    }
    if (!s.session_tickets) {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    }
    set_session_id_context(ctx, s);
    set_session_cache(ctx, s);
    HALO_TRY(apply_options(*this, s));
    if (extend) {
        HALO_TRY(extend(*this));
    }
    return apply_conf_commands(ctx, s);
}

ServerContext* ServerContext::of(const SSL_CTX* ctx) {
    return static_cast<ServerContext*>(SSL_CTX_get_ex_data(ctx, context_index()));
}

ServerContext::~ServerContext() {
    if (ctx_ != nullptr) {
        SSL_CTX_free(ctx_);
    }
}

}  // namespace tls
