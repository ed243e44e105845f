#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace ev {

/// What one transport call achieved.
enum class TransportStatus {
    kOk,         // done (read/write: `n` bytes moved)
    kWantRead,   // blocked until the socket is readable
    kWantWrite,  // blocked until the socket is writable
    kEof,        // the peer closed (cleanly or not)
    kError,      // a protocol or socket error (the transport logged it)
    kPlaintext,  // handshake(): the peer does not speak this protocol (plain HTTP on a TLS
                 // port); the connection goes on without the transport
};

/// A security layer (TLS) between a Connection and its socket. Once set on a Connection,
/// every byte goes through it instead of recv/send, and sendfile is not used. It does not
/// own the socket and never calls back: the Connection drives it from its readiness events.
/// A plain Connection has none and pays one null-pointer test per call.
class Transport {
  public:
    virtual ~Transport() = default;
    /// Advances the handshake; kOk once it is complete (call again until then).
    virtual TransportStatus handshake() = 0;
    /// Reads at most buf.size() bytes into `buf`; `n` is set on kOk (never 0).
    virtual TransportStatus read(std::span<char> buf, size_t& n) = 0;
    /// Writes a prefix of `data`; `n` is set on kOk. After kWantRead/kWantWrite the next call
    /// must pass the same bytes again (they may have moved, and more may follow them).
    virtual TransportStatus write(std::string_view data, size_t& n) = 0;
    /// Sends the closing alert once, without waiting for the peer's (best effort).
    virtual void shutdown() = 0;
    /// After a read() that returned kOk: the socket was read empty (its last recv() returned
    /// less than asked) and the transport holds no byte back, so another read() before the
    /// next readiness edge would only be told to wait. false when unknown.
    virtual bool drained() const { return false; }
    /// The host name the client asked for in the handshake (TLS SNI), empty when none.
    virtual std::string_view server_name() const { return {}; }
    /// The application protocol the handshake agreed on (ALPN: "h2", "http/1.1"), empty when
    /// none.
    virtual std::string_view alpn() const { return {}; }
};

}  // namespace ev
