#pragma once

// The server side of TLS that http's ssl module and the stream ssl module share: one SSL_CTX
// made from the merged ssl_* settings of a server block (certificates, protocols, ciphers,
// the session cache, in a shared zone or not, session tickets and their keys, client
// certificate verification, ssl_conf_command). Built in the master at config time; used
// read-only by the workers. A module adds what only it has (OCSP stapling, ALPN, SNI) through
// the hook of ServerContext::build() and its own OpenSSL callbacks.

#include <openssl/ssl.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/shm.h"
#include "core/status.h"
#include "tls/tls_protocols.h"

namespace tls {

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

/// The merged settings of one server block that both modules have (paths absolute).
struct ServerSettings {
    std::vector<std::pair<std::string, std::string>> certificates;  // (certificate, key) paths
    std::vector<std::string> passwords;                             // ssl_password_file lines
    uint32_t protocols = kTlsDefaultProtocols;
    std::string ciphers = "HIGH:!aNULL:!MD5";
    bool prefer_server_ciphers = false;
    SessionCacheConf session_cache;
    std::chrono::seconds session_timeout{300};
    bool session_tickets = true;
    std::vector<std::string> ticket_key_files;  // ssl_session_ticket_key, first encrypts
    std::string dhparam;                        // ssl_dhparam ("" none)
    std::string ecdh_curve = "auto";            // ssl_ecdh_curve
    std::vector<std::pair<std::string, std::string>> conf_commands;  // ssl_conf_command
    VerifyClient verify = VerifyClient::kOff;                        // ssl_verify_client
    int verify_depth = 1;                                            // ssl_verify_depth
    std::string client_certificate;   // ssl_client_certificate ("" none)
    std::string trusted_certificate;  // ssl_trusted_certificate ("" none)
    std::string crl;                  // ssl_crl ("" none)
    bool operator==(const ServerSettings&) const = default;
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

/// One server block's SSL_CTX. A module may derive from it to keep its own state with the
/// context (http: OCSP staples).
class ServerContext {
  public:
    ServerContext() = default;
    virtual ~ServerContext();
    ServerContext(const ServerContext&) = delete;
    ServerContext& operator=(const ServerContext&) = delete;

    /// Makes the SSL_CTX: loads the certificates and applies the settings; `extend` (when
    /// set) runs after them and before ssl_conf_command, which comes last as in nginx. The
    /// error names the file and carries OpenSSL's reason. Call once.
    core::Status build(const ServerSettings& s,
                       const std::function<core::Status(ServerContext&)>& extend = {});
    SSL_CTX* ctx() const { return ctx_; }
    /// The context of an SSL_CTX made by build() (the one SNI chose for a connection),
    /// nullptr for another.
    static ServerContext* of(const SSL_CTX* ctx);

    // Made by build(), read by the OpenSSL callbacks.
    std::vector<TicketKey> ticket_keys;  // first: encrypts new tickets
    /// Each certificate loaded and its file, in the order of ssl_certificate.
    std::vector<std::pair<X509*, std::string>> certificate_files;

  private:
    SSL_CTX* ctx_ = nullptr;
};

/// The key of `ctx`'s last certificate from `key`, trying each ssl_password_file line in turn
/// (server_options.cc).
core::Status load_key(SSL_CTX* ctx, const std::string& key, const ServerSettings& s);
/// What build() leaves to server_options.cc: ssl_dhparam, ssl_ecdh_curve, ticket keys,
/// client verification.
core::Status apply_options(ServerContext& sc, const ServerSettings& s);
/// ssl_conf_command, applied last.
core::Status apply_conf_commands(SSL_CTX* ctx, const ServerSettings& s);

}  // namespace tls
