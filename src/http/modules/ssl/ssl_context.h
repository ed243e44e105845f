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
#include "event/resolver.h"
#include "http/modules/ssl/ocsp.h"
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

/// `ssl_verify_client`.
enum class VerifyClient { kOff, kOn, kOptional, kOptionalNoCa };

/// `ssl_ocsp`.
enum class OcspMode { kOff, kOn, kLeaf };

/// The merged settings of one server block (paths absolute).
struct ContextSettings {
    std::vector<std::pair<std::string, std::string>> certificates;  // (certificate, key) paths
    std::vector<std::string> passwords;                             // ssl_password_file lines
    uint32_t protocols = tls::kTlsDefaultProtocols;
    std::string ciphers = "HIGH:!aNULL:!MD5";
    bool prefer_server_ciphers = false;
    SessionCacheConf session_cache;
    std::chrono::seconds session_timeout{300};
    bool session_tickets = true;
    std::vector<std::string> ticket_key_files;  // ssl_session_ticket_key, first encrypts
    std::string dhparam;                        // ssl_dhparam ("" none)
    std::string ecdh_curve = "auto";            // ssl_ecdh_curve
    size_t buffer_size = 16384;                 // ssl_buffer_size
    bool early_data = false;                    // ssl_early_data
    bool reject_handshake = false;              // ssl_reject_handshake
    std::vector<std::pair<std::string, std::string>> conf_commands;  // ssl_conf_command
    VerifyClient verify = VerifyClient::kOff;                        // ssl_verify_client
    int verify_depth = 1;                                            // ssl_verify_depth
    std::string client_certificate;       // ssl_client_certificate ("" none)
    std::string trusted_certificate;      // ssl_trusted_certificate ("" none)
    std::string crl;                      // ssl_crl ("" none)
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

/// `ssl_session_ticket_key`: a 48-byte file (AES-128-CBC, HMAC-SHA256 with a 16-byte key)
/// or an 80-byte one (AES-256-CBC, 32-byte HMAC key), laid out as nginx reads them: name,
/// HMAC key, AES key.
struct TicketKey {
    unsigned char name[16];
    unsigned char hmac_key[32];
    unsigned char aes_key[32];
    size_t size;  // 16 or 32: the length of each key
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
    /// The settings it was made from.
    const ContextSettings& settings() const { return settings_; }
    /// The context of a connection's SSL object (the one SNI chose), nullptr when halo did
    /// not make it.
    static const ServerContext* of(const SSL_CTX* ctx);

    // Made by create(), read by the OpenSSL callbacks.
    std::vector<TicketKey> ticket_keys;  // first: encrypts new tickets
    /// Each certificate loaded and its file, in the order of ssl_certificate.
    std::vector<std::pair<X509*, std::string>> certificate_files;
    /// ssl_stapling: one per certificate that staples (ocsp_staple.cc). Changed by each worker
    /// in its own copy (the response it fetched).
    std::vector<std::unique_ptr<Staple>> staples;
    /// ssl_ocsp (nullptr: off).
    std::unique_ptr<OcspClientConf> ocsp;

  private:
    ServerContext(SSL_CTX* ctx, const ContextSettings& s) : ctx_(ctx), settings_(s) {}
    SSL_CTX* ctx_;
    ContextSettings settings_;
};

/// Applies what create() leaves to the helpers of ssl_options.cc: encrypted keys
/// (ssl_password_file), ssl_dhparam, ssl_ecdh_curve, ticket keys, client verification,
/// stapling, ssl_early_data, ssl_conf_command. The error carries the file and OpenSSL's reason.
core::Status load_key(SSL_CTX* ctx, const std::string& key, const ContextSettings& s);
core::Status apply_options(ServerContext& sc, const ContextSettings& s);

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
