#pragma once

// The OpenSSL side of the ssl module: one SSL_CTX per server block (certificates, protocols,
// ciphers, session cache and tickets), and the TLS side of an `ssl` port (SNI picks the
// server's context). Built in the master at config time; used read-only by the workers.

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
#include "http/session.h"
#include "tls/tls_protocols.h"

namespace mod::http_ssl {

/// `ssl_session_cache off | none | [builtin[:size]] [shared:name:size]`.
struct SessionCacheConf {
    enum class Mode { kOff, kNone, kOn };
    Mode mode = Mode::kNone;
    std::optional<long> builtin;      // builtin[:size]: size in sessions (0: OpenSSL's default)
    core::ShmZone* shared = nullptr;  // shared:name:size
    bool operator==(const SessionCacheConf&) const = default;
};

/// The merged settings of one server block.
struct ContextSettings {
    std::vector<std::pair<std::string, std::string>> certificates;  // (certificate, key) paths
    uint32_t protocols = tls::kTlsDefaultProtocols;
    std::string ciphers = "HIGH:!aNULL:!MD5";
    bool prefer_server_ciphers = false;
    SessionCacheConf session_cache;
    std::chrono::seconds session_timeout{300};
    bool session_tickets = true;
    bool operator==(const ContextSettings&) const = default;
};

/// One server block's SSL_CTX.
class ServerContext {
  public:
    /// Loads the certificates and applies the settings; the error names the file and carries
    /// OpenSSL's reason.
    static core::Status create(const ContextSettings& settings,
                               std::shared_ptr<ServerContext>& out);
    ~ServerContext();
    ServerContext(const ServerContext&) = delete;
    ServerContext& operator=(const ServerContext&) = delete;
    SSL_CTX* ctx() const { return ctx_; }

  private:
    explicit ServerContext(SSL_CTX* ctx) : ctx_(ctx) {}
    SSL_CTX* ctx_;
};

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

  private:
    const http::Port& port_;
    SSL_CTX* default_ctx_;
    std::vector<std::pair<const http::ServerBlock*, SSL_CTX*>> contexts_;
};

}  // namespace mod::http_ssl
