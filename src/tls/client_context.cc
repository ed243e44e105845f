// TLS to upstreams: the client side of TLS for the http and stream proxies, over the OpenSSL
// transport (ssl_transport.cc, which the health checks and the ssl modules use too).
#include "tls/client_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>

#include "core/log.h"
#include "core/net.h"
#include "tls/ssl_transport.h"

namespace tls {

std::string ssl_name_without_port(std::string_view name) {
    if (!name.empty() && name[0] == '[') {
        size_t close = name.find(']');
        return std::string(close == std::string_view::npos ? name : name.substr(0, close + 1));
    }
    size_t colon = name.find(':');
    if (colon != std::string_view::npos && name.find(':', colon + 1) == std::string_view::npos) {
        name = name.substr(0, colon);  // one colon: host:port (more: a bare IPv6 address)
    }
    return std::string(name);
}

using core::Status;

class ClientContext {
  public:
    explicit ClientContext(SSL_CTX* ctx) : ctx_(ctx) {}
    ~ClientContext() {
        for (auto& [key, sess] : sessions_) {
            SSL_SESSION_free(sess);
        }
        SSL_CTX_free(ctx_);
    }
    ClientContext(const ClientContext&) = delete;
    ClientContext& operator=(const ClientContext&) = delete;

    SSL_CTX* ctx() const { return ctx_; }
    bool reuse = true;

    /// The session saved for `key`, or nullptr.
    SSL_SESSION* session(const std::string& key) const {
        auto it = sessions_.find(key);
        return it != sessions_.end() ? it->second : nullptr;
    }
    /// Keeps `sess` (its reference is taken) as the one to resume for `key`.
    void save(const std::string& key, SSL_SESSION* sess) {
        auto it = sessions_.find(key);
        if (it != sessions_.end()) {
            SSL_SESSION_free(it->second);
            it->second = sess;
            return;
        }
        if (sessions_.size() >= kMaxSessions) {
            // Names from variables could grow the table without end: forget one.
            SSL_SESSION_free(sessions_.begin()->second);
            sessions_.erase(sessions_.begin());
        }
        sessions_.emplace(key, sess);
    }

  private:
    static constexpr size_t kMaxSessions = 1024;
    SSL_CTX* ctx_;
    std::map<std::string, SSL_SESSION*> sessions_;  // this worker's (peer, name) -> session
};

namespace {

/// SSL_CTX slot: its ClientContext.
int context_index() {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

void free_key(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
    delete static_cast<std::string*>(ptr);
}

/// SSL slot: the session key of the connection (a heap string freed with the SSL).
int key_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, &free_key);
    return index;
}

/// New sessions arrive with the handshake (TLS 1.2) or after it (TLS 1.3 tickets, read with
/// the response): the latest one of a peer is resumed by its next connection.
int on_new_session(SSL* ssl, SSL_SESSION* sess) {
    auto* cc =
        static_cast<ClientContext*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), context_index()));
    auto* key = static_cast<std::string*>(SSL_get_ex_data(ssl, key_index()));
    if (cc == nullptr || key == nullptr || !cc->reuse || !SSL_SESSION_is_resumable(sess)) {
        return 0;
    }
    cc->save(*key, sess);
    return 1;  // the reference is ours
}

/// The chain is checked after the handshake (tls_check_peer), where the failure can be
/// reported with the upstream and the next one tried, as nginx does.
int on_verify(int, X509_STORE_CTX*) {
    return 1;
}

Status failed_in(const std::string& what, const std::string& where) {
    return Status::error(what + " in " + where);
}

/// The address inside `name` when it is an IP literal ("10.0.0.1", "[::1]", "::1").
std::optional<std::string> ip_literal(std::string_view name) {
    if (name.size() > 2 && name.front() == '[' && name.back() == ']') {
        name = name.substr(1, name.size() - 2);
    }
    if (core::SockAddr::from_ip(name, 0)) {
        return std::string(name);
    }
    return std::nullopt;
}

const SslTransport* transport_of(const ev::Connection& conn) {
    return dynamic_cast<const SslTransport*>(conn.transport());
}

/// proxy_ssl_password_file: one password a line (nginx reads at most 100 of them).
Status read_passwords(const Placed& file, std::vector<std::string>& out) {
    FILE* f = fopen(file.value.c_str(), "r");
    if (f == nullptr) {
        return failed_in("open() \"" + file.value + "\" failed (" + std::to_string(errno) + ": " +
                             strerror(errno) + ")",
                         file.where);
    }
    char line[4096];
    while (fgets(line, sizeof(line), f) != nullptr && out.size() < 100) {
        std::string pw(line);
        while (!pw.empty() && (pw.back() == '\n' || pw.back() == '\r')) {
            pw.pop_back();
        }
        out.push_back(std::move(pw));
    }
    fclose(f);
    if (out.empty()) {
        return failed_in("empty file \"" + file.value + "\"", file.where);
    }
    return Status::ok();
}

int password_cb(char* buf, int size, int, void* userdata) {
    if (userdata == nullptr || size <= 0) {
        return 0;
    }
    const std::string& pw = *static_cast<const std::string*>(userdata);
    size_t n = std::min(pw.size(), static_cast<size_t>(size));
    memcpy(buf, pw.data(), n);
    return static_cast<int>(n);
}

}  // namespace

Status make_client_context(const SslClientSettings& s, std::shared_ptr<ClientContext>& out) {
    if (s.verify && s.trusted_certificate.value.empty()) {
        return failed_in("no \"proxy_ssl_trusted_certificate\" for \"proxy_ssl_verify\"",
                         s.verify_where);
    }
    if (!s.certificate.value.empty() && s.certificate_key.value.empty()) {
        return failed_in("no \"proxy_ssl_certificate_key\" is defined for certificate \"" +
                             s.certificate.value + "\"",
                         s.certificate.where);
    }
    ERR_clear_error();
    SSL_CTX* raw = SSL_CTX_new(TLS_client_method());
    if (raw == nullptr) {
        return Status::error("SSL_CTX_new() failed (" + ssl_error_text() + ")");
    }
    auto cc = std::make_shared<ClientContext>(raw);
    SSL_CTX* ctx = cc->ctx();
    SSL_CTX_set_ex_data(ctx, context_index(), cc.get());
    SSL_CTX_set_options(
        ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    set_tls_protocols(ctx, s.protocols);
    if (Status st = set_tls_ciphers(ctx, s.ciphers.value); !st.is_ok()) {
        return failed_in(st.message(), s.ciphers.where);
    }
    if (!s.certificate.value.empty()) {
        const std::string& cert = s.certificate.value;
        const std::string& key = s.certificate_key.value;
        if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) {
            return failed_in("cannot load certificate \"" + cert +
                                 "\": SSL_CTX_use_certificate_chain_file() failed (" +
                                 ssl_error_text() + ")",
                             s.certificate.where);
        }
        std::vector<std::string> passwords;
        if (!s.password_file.value.empty()) {
            HALO_TRY(read_passwords(s.password_file, passwords));
        }
        // nginx: each password of the file in turn, until one opens the key.
        bool loaded = false;
        for (size_t i = 0; i < std::max<size_t>(passwords.size(), 1) && !loaded; i++) {
            std::string pw = passwords.empty() ? std::string() : passwords[i];
            SSL_CTX_set_default_passwd_cb(ctx, &password_cb);
            SSL_CTX_set_default_passwd_cb_userdata(ctx, passwords.empty() ? nullptr : &pw);
            ERR_clear_error();
            loaded = SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) == 1;
            SSL_CTX_set_default_passwd_cb_userdata(ctx, nullptr);
        }
        if (!loaded) {
            return failed_in("cannot load certificate key \"" + key +
                                 "\": SSL_CTX_use_PrivateKey_file() failed (" + ssl_error_text() +
                                 ")",
                             s.certificate_key.where);
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            return failed_in("certificate \"" + cert + "\" and key \"" + key + "\" do not match (" +
                                 ssl_error_text() + ")",
                             s.certificate_key.where);
        }
    }
    if (!s.trusted_certificate.value.empty()) {
        const std::string& file = s.trusted_certificate.value;
        if (SSL_CTX_load_verify_locations(ctx, file.c_str(), nullptr) != 1) {
            return failed_in("cannot load trusted certificate \"" + file +
                                 "\": SSL_CTX_load_verify_locations() failed (" + ssl_error_text() +
                                 ")",
                             s.trusted_certificate.where);
        }
    }
    if (!s.crl.value.empty()) {
        X509_STORE* store = SSL_CTX_get_cert_store(ctx);
        X509_LOOKUP* lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());
        if (lookup == nullptr ||
            X509_load_crl_file(lookup, s.crl.value.c_str(), X509_FILETYPE_PEM) <= 0) {
            return failed_in("cannot load CRL \"" + s.crl.value +
                                 "\": X509_load_crl_file() failed (" + ssl_error_text() + ")",
                             s.crl.where);
        }
        X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    }
    if (!s.conf_commands.empty()) {
        SSL_CONF_CTX* cctx = SSL_CONF_CTX_new();
        SSL_CONF_CTX_set_flags(cctx, SSL_CONF_FLAG_FILE | SSL_CONF_FLAG_CERTIFICATE |
                                         SSL_CONF_FLAG_CLIENT | SSL_CONF_FLAG_SHOW_ERRORS);
        SSL_CONF_CTX_set_ssl_ctx(cctx, ctx);
        for (const auto& [name, value] : s.conf_commands) {
            if (SSL_CONF_cmd(cctx, name.c_str(), value.c_str()) <= 0) {
                SSL_CONF_CTX_free(cctx);
                return failed_in("SSL_CONF_cmd(\"" + name + "\", \"" + value + "\") failed (" +
                                     ssl_error_text() + ")",
                                 s.conf_commands_where);
            }
        }
        SSL_CONF_CTX_finish(cctx);
        SSL_CONF_CTX_free(cctx);
    }
    if (s.verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, &on_verify);
        SSL_CTX_set_verify_depth(ctx, s.verify_depth);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    }
    cc->reuse = s.session_reuse;
    if (s.session_reuse) {
        // Sessions are kept by us, per peer (OpenSSL's client cache is not keyed by peer).
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
        SSL_CTX_sess_set_new_cb(ctx, &on_new_session);
    } else {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    }
    out = std::move(cc);
    return Status::ok();
}

std::string tls_pool_tag(const ClientContext& ctx, const std::string& name, bool sni) {
    char ptr[32];
    snprintf(ptr, sizeof(ptr), "%p", static_cast<const void*>(&ctx));
    return std::string(ptr) + (sni ? " sni " : " ") + name;
}

bool start_tls(ClientContext& ctx, ev::Connection& conn, const std::string& name, bool sni) {
    bool ip = ip_literal(name).has_value();
    std::unique_ptr<SslTransport> t =
        SslTransport::connect(ctx.ctx(), conn.fd(), conn.id(), sni && !ip ? name : std::string());
    if (t == nullptr) {
        return false;  // logged
    }
    if (ctx.reuse) {
        auto* key = new std::string(conn.peer().text() + (sni ? " sni " : " ") + name);
        SSL_set_ex_data(t->ssl(), key_index(), key);
        if (SSL_SESSION* sess = ctx.session(*key)) {
            SSL_set_session(t->ssl(), sess);  // a reference of its own: ours stays saved
        }
    }
    conn.set_transport(std::move(t));
    return true;
}

std::string tls_handshake_error(const ev::Connection& conn) {
    const SslTransport* t = transport_of(conn);
    return t != nullptr ? t->handshake_error() : std::string();
}

std::string tls_check_peer(const ev::Connection& conn, const std::string& name) {
    const SslTransport* t = transport_of(conn);
    if (t == nullptr) {
        return "no SSL connection to upstream";
    }
    long rc = SSL_get_verify_result(t->ssl());
    if (rc != X509_V_OK) {
        return "upstream SSL certificate verify error: (" + std::to_string(rc) + ":" +
               X509_verify_cert_error_string(rc) + ")";
    }
    X509* cert = SSL_get0_peer_certificate(t->ssl());
    if (cert == nullptr) {
        return "upstream sent no required SSL certificate";
    }
    // RFC 6125: the name in the certificate's subjectAltName (else its CN); an address in
    // its iPAddress entries.
    bool match;
    if (auto ip = ip_literal(name)) {
        match = X509_check_ip_asc(cert, ip->c_str(), 0) == 1;
    } else {
        match = X509_check_host(cert, name.data(), name.size(), 0, nullptr) == 1;
    }
    if (!match) {
        return "upstream SSL certificate does not match \"" + name + "\"";
    }
    return "";
}

}  // namespace tls
