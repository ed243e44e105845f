#pragma once

// ev::Transport over OpenSSL. Depends on the event layer and OpenSSL only (no http), so that
// the proxy module can use it for https upstreams (client side: SslTransport::connect).

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "event/transport.h"

namespace tls {

/// The OpenSSL error queue as nginx prints it: "SSL: error:0A00010B:SSL routines::wrong
/// version number"; empty when the queue is empty. Clears the queue.
std::string ssl_error_text();

/// Limits `ctx` to the TLS versions of `protocols` (TlsProtocol bits, see tls_protocols.h):
/// from the lowest to the highest set, a version left out between them switched off. Both
/// ends use it (server blocks and https upstreams).
void set_tls_protocols(SSL_CTX* ctx, uint32_t protocols);

/// SSL_CTX_set_cipher_list(); the error carries OpenSSL's reason (the caller adds where the
/// list was configured).
core::Status set_tls_ciphers(SSL_CTX* ctx, const std::string& ciphers);

/// One TLS connection over a non-blocking socket it does not own. Handshake failures, and
/// read/write errors, are logged at info level with the connection id (a client's doing); on
/// the client side a failed handshake is kept for the owner to report (handshake_error()).
class SslTransport final : public ev::Transport {
  public:
    /// Server side of an accepted socket. The first handshake() peeks at the first byte: a
    /// client that is not speaking TLS gets kPlaintext. `owner` is kept for callbacks (SNI).
    static std::unique_ptr<SslTransport> accept(SSL_CTX* ctx, int fd, uint64_t connection_id,
                                                const void* owner);
    /// Client side of a connected socket (https upstreams); `server_name` goes in SNI when
    /// not empty.
    static std::unique_ptr<SslTransport> connect(SSL_CTX* ctx, int fd, uint64_t connection_id,
                                                 const std::string& server_name);
    ~SslTransport() override;
    SslTransport(const SslTransport&) = delete;
    SslTransport& operator=(const SslTransport&) = delete;

    ev::TransportStatus handshake() override;
    ev::TransportStatus read(std::span<char> buf, size_t& n) override;
    ev::TransportStatus write(std::string_view data, size_t& n) override;
    void shutdown() override;
    std::string_view server_name() const override;
    std::string_view alpn() const override;
    /// The last read() from the socket returned less than OpenSSL asked for (read-ahead asks
    /// for a whole buffer), and neither OpenSSL nor the early data kept for read() holds a
    /// byte back. false when it cannot tell (the rest of a record that came in pieces is
    /// asked for exactly).
    bool drained() const override;
    /// Called by the socket BIO's callback after each read(): `short_read` when it returned
    /// fewer bytes than asked.
    void note_socket_read(bool short_read) { short_read_ = short_read; }

    SSL* ssl() const { return ssl_; }
    uint64_t connection_id() const { return connection_id_; }
    /// The context the connection started with (SNI may switch SSL_get_SSL_CTX to another):
    /// OpenSSL consults its session cache.
    SSL_CTX* initial_ctx() const { return initial_ctx_; }
    const void* owner() const { return owner_; }
    /// Client side: why the handshake failed ("SSL_do_handshake() failed (SSL: ...)"), empty
    /// when it did not (or the peer just closed).
    const std::string& handshake_error() const { return handshake_error_; }
    /// Server side: no look at the first byte (no kPlaintext): a client that does not speak
    /// TLS fails the handshake, logged with OpenSSL's reason, as nginx's stream does. Call
    /// before the first handshake().
    void expect_tls() { detected_ = true; }
    /// Server side: the most bytes one SSL_write() takes, so the most a TLS record carries
    /// (ssl_buffer_size); 0 = no limit (OpenSSL's 16k records).
    void set_write_limit(size_t limit) { write_limit_ = limit; }
    /// Server side: the client's first bytes came as TLS 1.3 early data (0-RTT), accepted.
    bool early_data_received() const { return early_received_; }
    /// The transport of an SSL object made by accept()/connect() (for OpenSSL callbacks).
    static SslTransport* of(const SSL* ssl);

  private:
    SslTransport(SSL* ssl, SSL_CTX* ctx, int fd, uint64_t id, const void* owner, bool server);
    /// accept() and connect(): a new SSL on `fd` (SNI `server_name` when not empty), in the
    /// server or the client state; nullptr, logged, when OpenSSL fails.
    static std::unique_ptr<SslTransport> create(SSL_CTX* ctx, int fd, uint64_t connection_id,
                                                const void* owner, bool server,
                                                const std::string& server_name);
    ev::TransportStatus failed(int rc, const char* call);

    SSL* ssl_;
    SSL_CTX* initial_ctx_;
    int fd_;
    uint64_t connection_id_;
    const void* owner_;
    bool server_;
    bool detected_ = false;  // the first byte was seen to be TLS
    bool handshaking_ = true;
    bool fatal_ = false;  // no close_notify after a fatal error (RFC 8446 §6.2)
    bool shut_ = false;
    bool short_read_ = false;  // the last socket read() returned less than asked
    size_t write_limit_ = 0;
    bool early_done_ = false;      // early data read (or none to read)
    bool early_received_ = false;  // some bytes came as early data
    std::string early_;            // early data not read by the owner yet
    std::string handshake_error_;
};

}  // namespace tls
