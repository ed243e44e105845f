#include "http/modules/ssl/ssl_context.h"

#include <openssl/err.h>

#include "core/log.h"
#include "http/modules/ssl/ocsp.h"
#include "tls/ssl_transport.h"

namespace mod::http_ssl {
namespace {

using core::Status;
using tls::SslTransport;

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

}  // namespace

Status ServerContext::create(const ContextSettings& s, std::shared_ptr<ServerContext>& out) {
    std::shared_ptr<ServerContext> sc(new ServerContext(s));
    HALO_TRY(sc->build(s, [&s](tls::ServerContext& base) -> Status {
        auto& self = static_cast<ServerContext&>(base);
        SSL_CTX_set_tlsext_servername_callback(self.ctx(), &on_servername);
        SSL_CTX_set_alpn_select_cb(self.ctx(), &on_alpn, nullptr);
        HALO_TRY(set_stapling(self, s));
        HALO_TRY(set_client_ocsp(self, s));
        if (s.early_data) {
            SSL_CTX_set_max_early_data(self.ctx(), 16384);  // nginx's NGX_SSL_BUFSIZE
        }
        return Status::ok();
    }));
    out = std::move(sc);
    return Status::ok();
}

ServerContext::~ServerContext() {
    staples.clear();  // before the SSL_CTX goes
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
