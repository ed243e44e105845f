// The TLS ClientHello parser of ssl_preread: what a client asks for (server name, ALPN
// protocols, highest protocol version) read from the first bytes it sends, without
// terminating TLS. Pure: no I/O; it allocates only the strings it fills and, for a hello over
// several records, one buffer joining their payloads; usable from any thread. The stream
// module (ssl_preread on) calls it in the preread phase each time more bytes have arrived and
// sets $ssl_preread_server_name, $ssl_preread_alpn_protocols and $ssl_preread_protocol from
// the result.
//
// References: RFC 8446 §5.1 (records), §4 (handshake header), §4.1.2 (ClientHello), §4.2.1
// (supported_versions); RFC 6066 §3 (server_name); RFC 7301 §3.1 (ALPN); the SSL 2.0
// CLIENT-HELLO form of the first message (RFC 6101 appendix E.1, RFC 5246 appendix E.2).
//
// On every hello a TLS client writes (OpenSSL's TLS 1.0 to 1.3, with and without SNI and
// ALPN, in one record or many) the values are nginx's, byte for byte. Where nginx differs, on
// inputs no client sends:
// - "not TLS" is decided from the first byte (the first two for 0x16); nginx waits for 5.
// - the RFCs' length rules that nginx does not check make the hello kInvalid: a session id
//   over 32 bytes, cipher_suites empty or odd, no compression method, an extension block,
//   server_name list, ALPN list or supported_versions list whose length disagrees with what
//   holds it, an empty host name or ALPN list; nginx reads on.
// - $ssl_preread_protocol is the highest version supported_versions lists, as nginx documents
//   the variable; nginx's code says "TLSv1.3" whenever the extension is there.
// - a second server_name or ALPN extension is not read (nginx 1.25.5 and later; 1.22 reads
//   the second server_name as a new one and declines).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mod::ssl_preread {

/// nginx's preread_buffer_size default: parse_client_hello() never looks past this many
/// bytes unless told otherwise.
inline constexpr size_t kDefaultLimit = 16 * 1024;

/// What parse_client_hello() made of the bytes so far. Each value has one meaning and tells
/// the caller (the preread phase) what to do next.
enum class HelloStatus {
    /// A TLS ClientHello has begun and is not complete yet, and it can still complete within
    /// `limit` bytes: read more and call again with all the bytes (preread_timeout bounds
    /// the wait; nginx ends the session when it expires).
    kNeedMore,
    /// A whole ClientHello was read (or an SSL 2.0-compatible CLIENT-HELLO, which gives the
    /// protocol only): `out` holds the values; bytes after it are not looked at. Stop reading.
    kDone,
    /// The bytes are not a TLS handshake (plain HTTP, SSH, ...): decided from the first bytes.
    /// Stop reading; the variables stay empty and the session goes on (nginx declines).
    kNotTls,
    /// A TLS handshake record that is malformed: a length that overruns the structure holding
    /// it, a field shorter than its RFC minimum, a message other than ClientHello, a record of
    /// another content type before the ClientHello ends, an SNI entry that is not a host name.
    /// Stop reading; the variables stay empty and the session goes on, as for kNotTls (nginx
    /// declines in both cases).
    kInvalid,
    /// The ClientHello cannot complete within `limit` bytes: its record or handshake lengths
    /// say it is longer, or `limit` bytes arrived and it is still incomplete. Stop reading;
    /// nginx ends the session with status 400 ("preread buffer full").
    kTooLarge,
};

/// The values of the ssl_preread variables. Written only when kDone is returned; cleared
/// (all empty) for every other status.
struct ClientHello {
    /// $ssl_preread_server_name: the first host_name of the server_name extension, as sent
    /// (not lower-cased or validated); empty without the extension.
    std::string server_name;
    /// $ssl_preread_alpn_protocols: the ALPN protocol names in the client's order, joined by
    /// ",", e.g. "h2,http/1.1"; empty without the extension.
    std::string alpn_protocols;
    /// $ssl_preread_protocol: the highest protocol version the client supports, spelled as
    /// SSL_get_version() does: "SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3". The
    /// highest known version in supported_versions when the client sends that extension (so
    /// "TLSv1.3" for TLS 1.3 clients), else the ClientHello's legacy_version; empty for a
    /// version that has no such name.
    std::string protocol;
};

/// Parses the start of what a client sent: `data` is every byte received so far (not just the
/// new ones), from the first. The result depends only on `data` and `limit`, so the caller
/// keeps no parser state: call again with the longer buffer after each read.
///
/// A ClientHello may span several TLS records (each handshake record is read whole before
/// its payload is used, as nginx does); zero-length handshake records are skipped. At most
/// `limit` bytes of `data` are looked at. Returns the status; fills `out` only on kDone.
HelloStatus parse_client_hello(std::string_view data, ClientHello& out,
                               size_t limit = kDefaultLimit);

/// The name of a status, for logs and test output ("need more", "done", "not tls",
/// "invalid", "too large").
std::string_view to_string(HelloStatus status);

}  // namespace mod::ssl_preread
