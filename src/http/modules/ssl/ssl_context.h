#pragma once

// The OpenSSL side of the ssl module: one SSL_CTX per server block (the tls layer builds the
// part stream shares: certificates, protocols, ciphers, session cache and tickets; http adds
// OCSP, ALPN and SNI), and the TLS side of an `ssl` port (SNI picks the server's context).
// Built in the master at config time; used read-only by the workers.

#include <openssl/ssl.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/shm.h"
#include "core/status.h"
#include "event/resolver.h"
#include "http/modules/ssl/ocsp.h"
#include "http/session.h"
#include "tls/server_context.h"
#include "tls/tls_protocols.h"

namespace mod::http_ssl {

using tls::SessionCacheConf;
using tls::VerifyClient;

/// `ssl_ocsp`.
enum class OcspMode { kOff, kOn, kLeaf };

/// The merged settings of one server block: the shared ones and http's own (paths absolute).
struct ContextSettings : tls::ServerSettings {
    size_t buffer_size = 16384;           // ssl_buffer_size
    bool early_data = false;              // ssl_early_data
    bool reject_handshake = false;        // ssl_reject_handshake
    bool stapling = false;                // ssl_stapling
    std::string stapling_file;            // ssl_stapling_file ("" none)
    std::string stapling_responder;       // ssl_stapling_responder ("" none)
    bool stapling_verify = false;         // ssl_stapling_verify
    OcspMode ocsp = OcspMode::kOff;       // ssl_ocsp
    std::string ocsp_responder;           // ssl_ocsp_responder ("" each certificate's)
    core::ShmZone* ocsp_cache = nullptr;  // ssl_ocsp_cache (nullptr off)
    /// The server's `resolver` (nullptr none) for OCSP responders named by host name, and
    /// how long a client waits for its certificate's status (client_header_timeout).
    std::shared_ptr<const ev::ResolverSpec> resolver;
    std::chrono::milliseconds ocsp_timeout{60000};
    bool operator==(const ContextSettings&) const = default;
};

/// One server block's SSL_CTX (the tls layer's) and what http keeps with it: OCSP.
class ServerContext final : public tls::ServerContext {
  public:
    /// Makes the context: the shared settings, then SNI, ALPN, stapling, client OCSP and
    /// early data. The error names the file and carries OpenSSL's reason.
    static core::Status create(const ContextSettings& settings,
                               std::shared_ptr<ServerContext>& out);
    ~ServerContext() override;
    /// The settings it was made from.
    const ContextSettings& settings() const { return settings_; }
    /// The context of a connection's SSL object (the one SNI chose), nullptr when halo's http
    /// did not make it.
    static const ServerContext* of(const SSL_CTX* ctx) {
        return dynamic_cast<const ServerContext*>(tls::ServerContext::of(ctx));
    }

    /// ssl_stapling: one per certificate that staples (ocsp_staple.cc). Changed by each worker
    /// in its own copy (the response it fetched).
    std::vector<std::unique_ptr<Staple>> staples;
    /// ssl_ocsp (nullptr: off).
    std::unique_ptr<OcspClientConf> ocsp;

  private:
    explicit ServerContext(const ContextSettings& s) : settings_(s) {}
    ContextSettings settings_;
};

/// ssl_stapling (ocsp_staple.cc): the staples of each certificate and the status callback.
core::Status set_stapling(ServerContext& sc, const ContextSettings& s);
/// Cancels this process's responder requests of a context (worker exit).
void stop_stapling(const ServerContext& sc);
/// ssl_ocsp (ocsp_client.cc): checks the settings and keeps them in sc.ocsp.
core::Status set_client_ocsp(ServerContext& sc, const ContextSettings& s);

/// The TLS side of one `ssl` port: the default server's context, switched by SNI to the
/// context of the server named (Port::find_server), as nginx does.
class SslPort final : public http::PortTls {
  public:
    SslPort(const http::Port& port, SSL_CTX* default_ctx,
            std::vector<std::pair<const http::ServerBlock*, SSL_CTX*>> contexts)
        : port_(port), default_ctx_(default_ctx), contexts_(std::move(contexts)) {}
    std::unique_ptr<ev::Transport> accept(int fd, uint64_t connection_id) const override;
    /// The context of the server that `name` selects (nullptr: the server has none).
    SSL_CTX* context_for(std::string_view name) const;
    const http::Port& port() const { return port_; }

  private:
    const http::Port& port_;
    SSL_CTX* default_ctx_;
    std::vector<std::pair<const http::ServerBlock*, SSL_CTX*>> contexts_;
};

}  // namespace mod::http_ssl
