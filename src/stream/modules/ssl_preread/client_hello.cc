// The ClientHello parser of ssl_preread (client_hello.h). Written from the RFCs; nginx's
// ngx_stream_ssl_preread_module.c was read for its behaviour (which records it accepts, what
// it does with a malformed hello), not copied.
//
// Two layers: the record layer (walk TLS records, gather the handshake bytes of the complete
// ones) and the ClientHello message, read through a Cursor that tells apart "the bytes have not
// arrived yet" (need more) from "a length overruns the structure that holds it" (invalid), so
// that the answer for a prefix never contradicts the answer for the whole.
#include "stream/modules/ssl_preread/client_hello.h"

#include <algorithm>
#include <cstdint>
#include <optional>

namespace mod::ssl_preread {
namespace {

// RFC 8446 §5.1: ContentType handshake(22); a record header is type, legacy_record_version
// (2 bytes, major 3 for SSL 3.0 and every TLS version) and a 2-byte length.
constexpr uint8_t kContentHandshake = 22;
constexpr uint8_t kRecordMajor = 3;
constexpr size_t kRecordHeader = 5;

// RFC 8446 §4: a handshake message is msg_type (1 byte) and a 3-byte length;
// client_hello(1).
constexpr uint8_t kClientHello = 1;
constexpr size_t kHandshakeHeader = 4;

// RFC 8446 §4.1.2: Random is 32 bytes, legacy_session_id<0..32>.
constexpr size_t kRandom = 32;
constexpr size_t kMaxSessionId = 32;

// Extension types: RFC 6066 §3 server_name(0), RFC 7301 §3.1
// application_layer_protocol_negotiation(16), RFC 8446 §4.2 supported_versions(43).
constexpr uint16_t kExtServerName = 0;
constexpr uint16_t kExtAlpn = 16;
constexpr uint16_t kExtSupportedVersions = 43;

// RFC 6066 §3: NameType host_name(0).
constexpr uint8_t kHostName = 0;

// SSL 2.0 CLIENT-HELLO (RFC 6101 appendix E.1): a 2-byte record header with the high bit
// set, then msg_type 1 and the 2-byte highest version the client supports.
constexpr uint8_t kSsl2LongHeader = 0x80;
constexpr uint8_t kSsl2ClientHello = 1;
constexpr size_t kSsl2Prefix = 5;

/// One step of reading: done, the bytes have not arrived yet, or the structure is malformed.
enum class Step { kOk, kShort, kBad };

/// A length-delimited structure `declared` bytes long of which `arrived` bytes are here so far.
/// Every read is checked first against the declared length (kBad: it can never fit) and then
/// against what arrived (kShort: more bytes may fix it).
class Cursor {
  public:
    Cursor() = default;
    Cursor(std::string_view arrived, size_t declared)
        : arrived_(arrived.substr(0, std::min(arrived.size(), declared))), declared_(declared) {}

    Step take(size_t n, std::string_view& v) {
        if (n > left()) {
            return Step::kBad;
        }
        if (pos_ > arrived_.size() || n > arrived_.size() - pos_) {
            return Step::kShort;
        }
        v = arrived_.substr(pos_, n);
        pos_ += n;
        return Step::kOk;
    }

    /// A big-endian unsigned integer of `n` (1 to 3) bytes.
    Step number(size_t n, uint32_t& v) {
        std::string_view bytes;
        Step s = take(n, bytes);
        if (s != Step::kOk) {
            return s;
        }
        v = 0;
        for (char c : bytes) {
            v = (v << 8) | static_cast<uint8_t>(c);
        }
        return Step::kOk;
    }

    /// Skips `n` bytes without needing them to have arrived.
    Step skip(size_t n) {
        if (n > left()) {
            return Step::kBad;
        }
        pos_ += n;
        return Step::kOk;
    }

    /// The next `n` bytes as a structure of their own; skips them here.
    Step sub(size_t n, Cursor& inner) {
        if (n > left()) {
            return Step::kBad;
        }
        std::string_view rest = pos_ < arrived_.size() ? arrived_.substr(pos_) : std::string_view();
        inner = Cursor(rest, n);
        pos_ += n;
        return Step::kOk;
    }

    size_t left() const { return declared_ - pos_; }
    bool done() const { return pos_ == declared_; }
    /// Whether every declared byte has arrived.
    bool complete() const { return arrived_.size() == declared_; }

  private:
    std::string_view arrived_;
    size_t declared_ = 0;
    size_t pos_ = 0;
};

/// The state of one parse: the values found so far.
struct Found {
    uint32_t legacy_version = 0;
    std::optional<uint32_t> best_supported;  // highest known version in supported_versions
    bool have_sni = false;
    bool have_alpn = false;
    bool have_versions = false;
    ClientHello values;
};

// Chains steps: returns from the calling function unless the step is kOk.
#define HALO_STEP(expr)           \
    do {                          \
        Step step_ = (expr);      \
        if (step_ != Step::kOk) { \
            return step_;         \
        }                         \
    } while (0)

/// SSL_get_version()'s name of a protocol version, empty when it has none.
std::string_view version_name(uint32_t version) {
    switch (version) {
        case 0x0002:
            return "SSLv2";
        case 0x0300:
            return "SSLv3";
        case 0x0301:
            return "TLSv1";
        case 0x0302:
            return "TLSv1.1";
        case 0x0303:
            return "TLSv1.2";
        case 0x0304:
            return "TLSv1.3";
        default:
            return {};
    }
}

/// RFC 6066 §3: ServerNameList server_name_list<1..2^16-1>; each ServerName is a NameType and,
/// for host_name, HostName<1..2^16-1>. The first entry is used and must be a host name (what
/// nginx does; no other name type has ever been defined).
Step read_server_name(Cursor ext, Found& f) {
    uint32_t list_len = 0;
    Cursor list;
    HALO_STEP(ext.number(2, list_len));
    HALO_STEP(ext.sub(list_len, list));
    if (!ext.done() || list_len == 0) {
        return Step::kBad;
    }
    uint32_t name_type = 0;
    uint32_t host_len = 0;
    std::string_view host;
    HALO_STEP(list.number(1, name_type));
    if (name_type != kHostName) {
        return Step::kBad;
    }
    HALO_STEP(list.number(2, host_len));
    if (host_len == 0) {
        return Step::kBad;
    }
    HALO_STEP(list.take(host_len, host));
    f.values.server_name.assign(host);
    return Step::kOk;
}

/// RFC 7301 §3.1: ProtocolNameList protocol_name_list<2..2^16-1>, each ProtocolName
/// opaque<1..2^8-1>; joined with "," in the client's order.
Step read_alpn(Cursor ext, Found& f) {
    uint32_t list_len = 0;
    Cursor list;
    HALO_STEP(ext.number(2, list_len));
    HALO_STEP(ext.sub(list_len, list));
    if (!ext.done() || list_len < 2) {
        return Step::kBad;
    }
    std::string joined;
    while (!list.done()) {
        uint32_t n = 0;
        std::string_view name;
        HALO_STEP(list.number(1, n));
        if (n == 0) {
            return Step::kBad;
        }
        HALO_STEP(list.take(n, name));
        if (!joined.empty()) {
            joined += ',';
        }
        joined.append(name);
    }
    f.values.alpn_protocols = std::move(joined);
    return Step::kOk;
}

/// RFC 8446 §4.2.1: in a ClientHello, ProtocolVersion versions<2..254>. Unknown values (GREASE,
/// drafts) are skipped; the highest known one is kept.
Step read_supported_versions(Cursor ext, Found& f) {
    uint32_t len = 0;
    Cursor list;
    HALO_STEP(ext.number(1, len));
    HALO_STEP(ext.sub(len, list));
    if (!ext.done() || len < 2 || len % 2 != 0) {
        return Step::kBad;
    }
    while (!list.done()) {
        uint32_t v = 0;
        HALO_STEP(list.number(2, v));
        if (!version_name(v).empty() && v >= 0x0300 &&
            (!f.best_supported || v > *f.best_supported)) {
            f.best_supported = v;
        }
    }
    return Step::kOk;
}

/// One extension: the three the variables need are read (the first of each type, as nginx
/// does), the others skipped.
Step read_extension(Cursor& exts, Found& f) {
    uint32_t type = 0;
    uint32_t len = 0;
    Cursor ext;
    HALO_STEP(exts.number(2, type));
    HALO_STEP(exts.number(2, len));
    HALO_STEP(exts.sub(len, ext));
    if (type == kExtServerName && !f.have_sni) {
        f.have_sni = true;
        return read_server_name(ext, f);
    }
    if (type == kExtAlpn && !f.have_alpn) {
        f.have_alpn = true;
        return read_alpn(ext, f);
    }
    if (type == kExtSupportedVersions && !f.have_versions) {
        f.have_versions = true;
        return read_supported_versions(ext, f);
    }
    return Step::kOk;
}

/// The ClientHello message (RFC 8446 §4.1.2) from the handshake bytes gathered so far.
Step read_client_hello(std::string_view handshake, Found& f) {
    Cursor header(handshake, kHandshakeHeader);
    uint32_t msg_type = 0;
    uint32_t body_len = 0;
    HALO_STEP(header.number(1, msg_type));
    if (msg_type != kClientHello) {
        return Step::kBad;
    }
    HALO_STEP(header.number(3, body_len));

    Cursor body(handshake.substr(kHandshakeHeader), body_len);
    uint32_t n = 0;
    HALO_STEP(body.number(2, f.legacy_version));
    HALO_STEP(body.skip(kRandom));
    HALO_STEP(body.number(1, n));  // legacy_session_id<0..32>
    if (n > kMaxSessionId) {
        return Step::kBad;
    }
    HALO_STEP(body.skip(n));
    HALO_STEP(body.number(2, n));  // cipher_suites<2..2^16-2>, 2 bytes each
    if (n < 2 || n % 2 != 0) {
        return Step::kBad;
    }
    HALO_STEP(body.skip(n));
    HALO_STEP(body.number(1, n));  // legacy_compression_methods<1..2^8-1>
    if (n < 1) {
        return Step::kBad;
    }
    HALO_STEP(body.skip(n));
    if (!body.done()) {  // extensions: absent in some TLS 1.2 and earlier hellos
        Cursor exts;
        HALO_STEP(body.number(2, n));
        HALO_STEP(body.sub(n, exts));
        if (!body.done()) {
            return Step::kBad;
        }
        while (!exts.done()) {
            HALO_STEP(read_extension(exts, f));
        }
    }
    // skipped fields need not have arrived for the walk to end: the message must, whole
    return body.complete() ? Step::kOk : Step::kShort;
}

#undef HALO_STEP

/// The SSL 2.0-compatible CLIENT-HELLO: the protocol only, from its first 5 bytes (as nginx).
HelloStatus read_ssl2(std::string_view data, ClientHello& out) {
    auto byte = [&](size_t i) { return static_cast<uint8_t>(data[i]); };
    if (data.size() > 2 && byte(2) != kSsl2ClientHello) {
        return HelloStatus::kNotTls;
    }
    if (data.size() > 3 && byte(3) != 0 && byte(3) != kRecordMajor) {
        return HelloStatus::kNotTls;
    }
    if (data.size() < kSsl2Prefix) {
        return HelloStatus::kNeedMore;
    }
    out.protocol.assign(version_name((uint32_t{byte(3)} << 8) | byte(4)));
    return HelloStatus::kDone;
}

HelloStatus parse(std::string_view data, ClientHello& out, size_t limit) {
    if (data.empty()) {
        return HelloStatus::kNeedMore;
    }
    auto byte = [&](size_t i) { return static_cast<uint8_t>(data[i]); };
    if (byte(0) != kContentHandshake) {
        if ((byte(0) & kSsl2LongHeader) != 0) {
            return read_ssl2(data, out);
        }
        return HelloStatus::kNotTls;
    }
    if (data.size() > 1 && byte(1) != kRecordMajor) {
        return HelloStatus::kNotTls;
    }

    // The handshake bytes of the complete records so far: a view of the first record's
    // payload while there is one, joined into `joined` once a second one arrives. Records are
    // gathered until the ClientHello is whole (a client may send more records after it, e.g.
    // TLS 1.3 early data), then the message is read once.
    std::string_view handshake;
    std::string joined;
    size_t records = 0;
    size_t pos = 0;
    std::optional<size_t> message_len;
    // Why the walk stopped before the message was whole, other than "more bytes needed". The
    // message gathered so far is read first either way, so that an error in it is reported
    // the same whatever follows it.
    enum class Stop { kNone, kBadRecord, kTooLarge } stop = Stop::kNone;

    while (data.size() - pos >= kRecordHeader) {
        if (byte(pos) != kContentHandshake || byte(pos + 1) != kRecordMajor) {
            stop = Stop::kBadRecord;  // only the first record can say "not TLS"
            break;
        }
        size_t len = (size_t{byte(pos + 3)} << 8) | byte(pos + 4);
        size_t end = pos + kRecordHeader + len;
        if (end > limit) {
            stop = Stop::kTooLarge;
            break;
        }
        if (end > data.size()) {
            break;  // a record is used whole, once it has all arrived
        }
        std::string_view payload = data.substr(pos + kRecordHeader, len);
        pos = end;
        if (len == 0) {
            continue;
        }
        if (records++ == 0) {
            handshake = payload;
        } else {
            if (joined.empty()) {
                joined.assign(handshake);
            }
            joined.append(payload);
            handshake = joined;
        }
        if (handshake.size() >= kHandshakeHeader) {
            message_len = kHandshakeHeader + ((size_t{static_cast<uint8_t>(handshake[1])} << 16) |
                                              (size_t{static_cast<uint8_t>(handshake[2])} << 8) |
                                              static_cast<uint8_t>(handshake[3]));
            if (handshake.size() >= *message_len) {
                break;
            }
        }
    }

    Found f;
    switch (read_client_hello(handshake, f)) {
        case Step::kOk: {
            out = std::move(f.values);
            out.protocol.assign(version_name(f.best_supported.value_or(f.legacy_version)));
            return HelloStatus::kDone;
        }
        case Step::kBad:
            return HelloStatus::kInvalid;
        case Step::kShort:
            break;
    }
    if (stop == Stop::kBadRecord) {
        return HelloStatus::kInvalid;
    }
    if (stop == Stop::kTooLarge) {
        return HelloStatus::kTooLarge;
    }
    // what is missing needs at least one more record header, and the rest of the message
    size_t missing = message_len ? *message_len - handshake.size() : 0;
    if (pos + kRecordHeader + missing > limit) {
        return HelloStatus::kTooLarge;
    }
    return HelloStatus::kNeedMore;
}

}  // namespace

HelloStatus parse_client_hello(std::string_view data, ClientHello& out, size_t limit) {
    out = ClientHello{};
    data = data.substr(0, std::min(data.size(), limit));
    HelloStatus status = parse(data, out, limit);
    if (status == HelloStatus::kNeedMore && data.size() >= limit) {
        status = HelloStatus::kTooLarge;  // `limit` bytes arrived and the hello is not whole
    }
    if (status != HelloStatus::kDone) {
        out = ClientHello{};
    }
    return status;
}

std::string_view to_string(HelloStatus status) {
    switch (status) {
        case HelloStatus::kNeedMore:
            return "need more";
        case HelloStatus::kDone:
            return "done";
        case HelloStatus::kNotTls:
            return "not tls";
        case HelloStatus::kInvalid:
            return "invalid";
        case HelloStatus::kTooLarge:
            return "too large";
    }
    return "unknown";
}

}  // namespace mod::ssl_preread
