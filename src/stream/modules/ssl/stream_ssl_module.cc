// TLS termination in stream, as nginx's ngx_stream_ssl_module: `listen ... ssl` and the
// ssl_* directives of the stream and server blocks. Each server with a certificate gets an
// SSL_CTX from the tls layer (shared with http's ssl module: certificates, protocols, ciphers,
// the session cache in a shared zone, tickets, client certificates); in the ssl phase the
// client's handshake runs (bounded by ssl_handshake_timeout), then the session goes on over
// TLS and the content module (proxy_pass) sees the plaintext. As nginx 1.22 there is one
// server per port: SNI only sets $ssl_server_name. $ssl_* variables as http's.
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <array>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/log.h"
#include "core/module.h"
#include "event/runtime.h"
#include "stream/stream.h"
#include "tls/server_conf.h"
#include "tls/server_context.h"
#include "tls/ssl_transport.h"
#include "tls/ssl_variables.h"

namespace mod::stream_ssl {

extern const core::Module kModule;

namespace {

using core::ConfContext;
using core::Status;
using namespace std::chrono_literals;

/// A server's TLS context and its ALPN protocols (wire form: length-prefixed names).
class Context final : public tls::ServerContext {
  public:
    std::string alpn;
};

struct SslConf : tls::ServerConf {
    std::optional<std::chrono::milliseconds> handshake_timeout;  // 60s
    std::optional<std::vector<std::string>> alpn;                // ssl_alpn
    std::string alpn_where;
    // Built in postconfiguration (nullptr: no certificate).
    std::shared_ptr<Context> context;
};

Status merge(const SslConf& parent, SslConf& child) {
    tls::merge_server_conf(parent, child);
    core::inherit(child.handshake_timeout, parent.handshake_timeout,
                  std::chrono::milliseconds(60s));
    if (!child.alpn) {
        child.alpn = parent.alpn ? *parent.alpn : std::vector<std::string>{};
        child.alpn_where = parent.alpn_where;
    }
    return Status::ok();
}

int module_index() {
    return core::ConfSlot<SslConf>::index;
}

/// `ssl_alpn protocol ...`: RFC 7301 §3.1: each name is 1 to 255 bytes.
Status set_alpn(ConfContext& cf, SslConf& conf) {
    if (conf.alpn) {
        return cf.duplicate();
    }
    conf.alpn.emplace();
    for (const std::string& a : cf.args()) {
        if (a.empty() || a.size() > 255) {
            return cf.error("invalid value \"" + a + "\" in \"ssl_alpn\" directive");
        }
        conf.alpn->push_back(a);
    }
    conf.alpn_where = cf.node().where();
    return Status::ok();
}

constexpr uint32_t kAll = core::kCtxStreamAll;

constexpr std::array<core::Directive, 2> kOwnDirectives = {{
    {"ssl_handshake_timeout", kAll, core::kArgs1, core::slot<&SslConf::handshake_timeout>()},
    {"ssl_alpn", kAll, core::kArgs1ToN, core::setter<&set_alpn>()},
}};

constexpr auto kDirectives = tls::concat(tls::server_directives<SslConf>(kAll), kOwnDirectives);

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<SslConf>(core::ConfLevel::kStreamSrv),
};

// ---- the handshake (ssl phase) ----

/// RFC 7301 §3.2: the first of the server's protocols the client offers; none in common ends
/// the handshake with no_application_protocol, as nginx.
int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
            unsigned int inlen, void*) {
    const auto* c = dynamic_cast<const Context*>(tls::ServerContext::of(SSL_get_SSL_CTX(ssl)));
    if (c == nullptr || c->alpn.empty()) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    unsigned char* selected = nullptr;
    unsigned char selected_len = 0;
    if (SSL_select_next_proto(
            &selected, &selected_len, reinterpret_cast<const unsigned char*>(c->alpn.data()),
            static_cast<unsigned int>(c->alpn.size()), in, inlen) != OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    *out = selected;
    *outlen = selected_len;
    return SSL_TLSEXT_ERR_OK;
}

/// RFC 6066 §3: the name is accepted (one server per port: it selects nothing), so that
/// OpenSSL keeps it with the session and $ssl_server_name has it on a resumed TLS 1.2 session.
int on_servername(SSL*, int*, void*) {
    return SSL_TLSEXT_ERR_OK;
}

/// The client's connection while its handshake runs: its events come here, then go back to
/// the session.
struct Handshake final : stream::SessionCtx, ev::ConnectionHandler {
    stream::Session* s = nullptr;
    bool started = false;
    bool done = false;
    bool in_phase = false;  // called from ssl_phase(): the engine goes on by itself

    void on_readable() override;
    void on_drained() override {}
    void on_timeout() override;
    void on_error() override { fail(nullptr); }
    /// Ends the session (nginx: 500 for a failed handshake).
    void fail(const char* why);
    /// The client certificate check of ssl_verify_client; false: the session ended.
    bool verified();
};

void Handshake::fail(const char* why) {
    if (why != nullptr) {
        core::log_conn(core::LogLevel::kInfo, s->id, "%s, client: %s", why,
                       s->peer.host_text().c_str());
    }
    s->finalize(500);
}

void Handshake::on_timeout() {
    if (!done && !s->finalized()) {
        fail("client timed out (110: Connection timed out) while SSL handshaking");
    }
}

void Handshake::on_readable() {
    if (done || s->finalized()) {
        return;
    }
    ev::Connection& c = *s->client;
    size_t limit = s->srv_conf<stream::StreamSrvConf>().preread_buffer_size->bytes;
    ev::Buffer buf;
    ev::IoStatus st = c.read(buf, limit);
    if (st == ev::IoStatus::kEof || st == ev::IoStatus::kError) {
        fail(nullptr);  // the transport logged why (info)
        return;
    }
    if (!c.handshake_done()) {
        return;  // the next event goes on
    }
    if (st == ev::IoStatus::kOk) {
        // Application bytes that came with the end of the handshake: the content module
        // sends them first.
        s->preread.append(buf.view());
        s->bytes_received += buf.view().size();
    }
    done = true;
    c.clear_timeout();
    c.set_handler(s);
    if (!verified() || in_phase) {
        return;
    }
    s->resume();
}

bool Handshake::verified() {
    const auto& conf = s->srv_conf<SslConf>();
    tls::VerifyClient mode = *conf.verify_client;
    if (mode == tls::VerifyClient::kOff) {
        return true;
    }
    const auto* t = dynamic_cast<const tls::SslTransport*>(s->client->transport());
    SSL* ssl = t->ssl();
    long rc = SSL_get_verify_result(ssl);
    std::string why;
    if (rc != X509_V_OK && (mode != tls::VerifyClient::kOptionalNoCa || !tls::no_ca_error(rc))) {
        why = "client SSL certificate verify error: (" + std::to_string(rc) + ":" +
              X509_verify_cert_error_string(rc) + ")";
    } else if (mode == tls::VerifyClient::kOn && SSL_get0_peer_certificate(ssl) == nullptr) {
        why = "client sent no required SSL certificate";
    } else {
        return true;
    }
    if (SSL_SESSION* sess = SSL_get_session(ssl)) {
        SSL_CTX_remove_session(t->initial_ctx(), sess);  // it cannot be resumed
    }
    fail(why.c_str());
    return false;
}

/// The ssl phase: a session of an `ssl` port does its handshake, then goes on.
stream::Flow ssl_phase(stream::Session& s) {
    if (s.udp || !s.port.listen().ssl || s.client == nullptr) {
        return stream::Flow::kDeclined;
    }
    auto& h = s.ctx_of<Handshake>(module_index());
    if (h.done) {
        return stream::Flow::kDeclined;
    }
    if (h.started) {
        return stream::Flow::kSuspend;
    }
    const auto& conf = s.srv_conf<SslConf>();
    if (!s.preread.empty()) {
        // The handshake's bytes must reach the TLS layer (a PROXY protocol header is read
        // exactly for an ssl port): a guard.
        core::log_conn(core::LogLevel::kError, s.id, "bytes before the SSL handshake, client: %s",
                       s.peer.host_text().c_str());
        s.status = 500;
        return stream::Flow::kDone;
    }
    std::unique_ptr<tls::SslTransport> t =
        tls::SslTransport::accept(conf.context->ctx(), s.client->fd(), s.id, nullptr);
    if (t == nullptr) {
        s.status = 500;  // logged
        return stream::Flow::kDone;
    }
    t->expect_tls();  // a plain client fails the handshake (nginx: "wrong version number")
    h.s = &s;
    h.started = true;
    s.client->set_transport(std::move(t));
    s.client->set_handler(&h);
    s.client->set_timeout(*conf.handshake_timeout);
    h.in_phase = true;
    h.on_readable();
    h.in_phase = false;
    if (s.finalized()) {
        return stream::Flow::kSuspend;  // finalize() has run: the engine stops
    }
    return h.done ? stream::Flow::kDeclined : stream::Flow::kSuspend;
}

// ---- variables ----

SSL* ssl_of(const stream::Session& s) {
    if (s.client == nullptr) {
        return nullptr;
    }
    const auto* t = dynamic_cast<const tls::SslTransport*>(s.client->transport());
    return t != nullptr ? t->ssl() : nullptr;
}

/// A variable the tls layer values from the session's SSL object (not found on a plain
/// session).
template <bool (*Get)(SSL*, std::string&)>
bool get_ssl(const stream::Session& s, std::string_view, std::string& out) {
    SSL* ssl = ssl_of(s);
    return ssl != nullptr && Get(ssl, out);
}

bool get_verify(const stream::Session& s, std::string_view, std::string& out) {
    SSL* ssl = ssl_of(s);
    return ssl != nullptr && tls::ssl_client_verify(ssl, out);
}

/// The rows of tls::kSslValues, each with its getter.
template <size_t... I>
constexpr std::array<stream::VariableDef, sizeof...(I)> common_rows(std::index_sequence<I...>) {
    return {stream::VariableDef{tls::kSslValues[I].name, &get_ssl<tls::kSslValues[I].get>}...};
}
constexpr auto kCommonVariables =
    common_rows(std::make_index_sequence<std::size(tls::kSslValues)>());

/// stream's own.
constexpr stream::VariableDef kVariables[] = {
    {"ssl_client_verify", &get_verify},
};

// ---- hooks ----

/// A context for every server with a certificate (as nginx, even when no ssl port uses it,
/// so that a bad certificate fails the configuration); an `ssl` port without one is an error.
Status postconfiguration(core::Cycle& cycle) {
    stream::StreamMainConf* main = stream::stream_main(cycle);
    if (main == nullptr) {
        return Status::ok();
    }
    for (auto& srv : main->servers) {
        auto& c = core::conf_of<SslConf>(srv->srv_confs);
        const auto& core_conf = srv->conf<stream::StreamSrvConf>();
        const stream::Listen* ssl_listen = nullptr;
        for (const stream::Listen& l : core_conf.listens) {
            if (l.ssl) {
                ssl_listen = &l;
                break;
            }
        }
        if (c.certificates.empty()) {
            if (ssl_listen != nullptr) {
                return Status::error(
                    "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive in " +
                    ssl_listen->where);
            }
            continue;
        }
        if (c.where.empty()) {
            c.where = srv->where;
        }
        tls::ServerSettings s;
        HALO_TRY(tls::server_settings(c, s));
        auto ctx = std::make_shared<Context>();
        for (const std::string& p : *c.alpn) {
            ctx->alpn += static_cast<char>(p.size());
            ctx->alpn += p;
        }
        Status st = ctx->build(s, [](tls::ServerContext& sc) -> Status {
            SSL_CTX_set_alpn_select_cb(sc.ctx(), &on_alpn, nullptr);
            SSL_CTX_set_tlsext_servername_callback(sc.ctx(), &on_servername);
            return Status::ok();
        });
        if (!st.is_ok()) {
            return Status::error(st.message() + " in " + c.where);
        }
        c.context = std::move(ctx);
    }
    stream::add_phase_handler(cycle, stream::Phase::kSsl, &ssl_phase);
    for (const stream::VariableDef& v : kCommonVariables) {
        stream::add_variable(cycle, v);
    }
    for (const stream::VariableDef& v : kVariables) {
        stream::add_variable(cycle, v);
    }
    return Status::ok();
}

}  // namespace

extern const core::Module kModule{
    .name = "stream_ssl",
    .type = core::ModuleType::kStream,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &postconfiguration,
};

}  // namespace mod::stream_ssl
