// The ClientHello parser of ssl_preread (src/stream/modules/ssl_preread/client_hello.h):
// hellos written by real OpenSSL clients into a memory BIO (TLS 1.3, TLS 1.2 only, TLS 1.0,
// with and without SNI and ALPN, fragmented over several records), each cut at every byte
// offset; hand-built hellos for exact version, SNI and ALPN rules; malformed lengths, plain
// HTTP, the SSL 2.0-compatible hello and the size limit.
#include "stream/modules/ssl_preread/client_hello.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "auto_config.h"

#if HALO_HAVE_OPENSSL
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#endif

namespace mod::ssl_preread {

void PrintTo(HelloStatus s, std::ostream* os) {
    *os << to_string(s);
}

namespace {

// ---- building hellos by hand ----

std::string u8(uint32_t v) {
    return std::string(1, static_cast<char>(v & 0xff));
}
std::string u16(uint32_t v) {
    return u8(v >> 8) + u8(v);
}
std::string u24(uint32_t v) {
    return u8(v >> 16) + u16(v);
}

std::string extension(uint16_t type, const std::string& data) {
    return u16(type) + u16(static_cast<uint32_t>(data.size())) + data;
}

/// server_name (RFC 6066 §3) with host_name entries.
std::string sni(const std::vector<std::string>& names) {
    std::string list;
    for (const auto& n : names) {
        list += u8(0) + u16(static_cast<uint32_t>(n.size())) + n;
    }
    return extension(0, u16(static_cast<uint32_t>(list.size())) + list);
}

/// application_layer_protocol_negotiation (RFC 7301 §3.1).
std::string alpn(const std::vector<std::string>& names) {
    std::string list;
    for (const auto& n : names) {
        list += u8(static_cast<uint32_t>(n.size())) + n;
    }
    return extension(16, u16(static_cast<uint32_t>(list.size())) + list);
}

/// supported_versions (RFC 8446 §4.2.1), ClientHello form.
std::string versions(const std::vector<uint16_t>& vs) {
    std::string list;
    for (uint16_t v : vs) {
        list += u16(v);
    }
    return extension(43, u8(static_cast<uint32_t>(list.size())) + list);
}

/// A ClientHello body (RFC 8446 §4.1.2): one cipher suite, null compression, and an extension
/// block when `extensions` is set.
std::string hello_body(uint16_t legacy_version, std::optional<std::string> extensions,
                       std::string session_id = "") {
    std::string b = u16(legacy_version) + std::string(32, 'R');
    b += u8(static_cast<uint32_t>(session_id.size())) + session_id;
    b += u16(2) + u16(0x1301);
    b += u8(1) + u8(0);
    if (extensions) {
        b += u16(static_cast<uint32_t>(extensions->size())) + *extensions;
    }
    return b;
}

std::string handshake(const std::string& body, uint8_t type = 1) {
    return u8(type) + u24(static_cast<uint32_t>(body.size())) + body;
}

/// `payload` framed as handshake records of at most `fragment` bytes each.
std::string records(std::string_view payload, size_t fragment = 16384, uint8_t type = 22) {
    std::string out;
    for (size_t pos = 0; pos < payload.size(); pos += fragment) {
        std::string_view part = payload.substr(pos, fragment);
        out += u8(type) + u16(0x0301) + u16(static_cast<uint32_t>(part.size()));
        out.append(part);
    }
    return out;
}

std::string tls_hello(uint16_t legacy_version, std::optional<std::string> extensions) {
    return records(handshake(hello_body(legacy_version, std::move(extensions))));
}

/// The handshake bytes of a byte stream of records (the record headers taken away).
std::string payload_of(std::string_view bytes) {
    std::string out;
    size_t pos = 0;
    while (pos + 5 <= bytes.size()) {
        size_t len =
            (static_cast<uint8_t>(bytes[pos + 3]) << 8) | static_cast<uint8_t>(bytes[pos + 4]);
        out.append(bytes.substr(pos + 5, len));
        pos += 5 + len;
    }
    return out;
}

size_t count_records(std::string_view bytes) {
    size_t n = 0;
    size_t pos = 0;
    while (pos + 5 <= bytes.size()) {
        pos += 5 +
               ((static_cast<uint8_t>(bytes[pos + 3]) << 8) | static_cast<uint8_t>(bytes[pos + 4]));
        n++;
    }
    return n;
}

struct Parsed {
    HelloStatus status;
    ClientHello hello;
};

Parsed parse(std::string_view data, size_t limit = kDefaultLimit) {
    Parsed p;
    p.hello.server_name = "stale";  // the parser must clear what it does not set
    p.hello.alpn_protocols = "stale";
    p.hello.protocol = "stale";
    p.status = parse_client_hello(data, p.hello, limit);
    return p;
}

HelloStatus status(std::string_view data, size_t limit = kDefaultLimit) {
    return parse(data, limit).status;
}

/// Expects kDone with these values.
void expect_hello(std::string_view data, std::string_view server_name, std::string_view alpn,
                  std::string_view protocol) {
    Parsed p = parse(data);
    ASSERT_EQ(p.status, HelloStatus::kDone);
    EXPECT_EQ(p.hello.server_name, server_name);
    EXPECT_EQ(p.hello.alpn_protocols, alpn);
    EXPECT_EQ(p.hello.protocol, protocol);
}

/// Expects `status` with every variable empty.
void expect_empty(std::string_view data, HelloStatus want, size_t limit = kDefaultLimit) {
    Parsed p = parse(data, limit);
    EXPECT_EQ(p.status, want);
    EXPECT_EQ(p.hello.server_name, "");
    EXPECT_EQ(p.hello.alpn_protocols, "");
    EXPECT_EQ(p.hello.protocol, "");
}

/// Every proper prefix of a whole hello needs more (and leaves the variables empty); the
/// whole gives what the whole gives, and so does the whole followed by other bytes.
void expect_every_prefix_needs_more(const std::string& hello) {
    Parsed whole = parse(hello);
    ASSERT_EQ(whole.status, HelloStatus::kDone);
    for (size_t n = 0; n < hello.size(); n++) {
        Parsed p = parse(std::string_view(hello).substr(0, n));
        ASSERT_EQ(p.status, HelloStatus::kNeedMore) << "prefix of " << n << " bytes";
        ASSERT_EQ(p.hello.server_name, "") << n;
        ASSERT_EQ(p.hello.protocol, "") << n;
    }
    // what follows the hello (a TLS 1.3 client's ChangeCipherSpec, early data) is not read
    Parsed more = parse(hello + records("\x01", 1, 20) + "\x17\x03\x03\xff\xff junk");
    ASSERT_EQ(more.status, HelloStatus::kDone);
    EXPECT_EQ(more.hello.server_name, whole.hello.server_name);
    EXPECT_EQ(more.hello.alpn_protocols, whole.hello.alpn_protocols);
    EXPECT_EQ(more.hello.protocol, whole.hello.protocol);
}

// ---- hellos written by OpenSSL ----

#if HALO_HAVE_OPENSSL

struct ClientOptions {
    std::string server_name;        // SNI, none when empty
    std::vector<std::string> alpn;  // ALPN protocols, none when empty
    int min_version = 0;            // 0: OpenSSL's default
    int max_version = 0;
    int security_level = -1;         // -1: OpenSSL's default
    unsigned max_send_fragment = 0;  // 0: 16384; the least is 512
};

/// The bytes an OpenSSL client writes first (its ClientHello records), captured from a memory
/// BIO: no network.
std::string openssl_client_hello(const ClientOptions& o) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    EXPECT_NE(ctx, nullptr);
    if (ctx == nullptr) {
        return "";
    }
    if (o.security_level >= 0) {
        SSL_CTX_set_security_level(ctx, o.security_level);
    }
    if (o.min_version != 0) {
        EXPECT_EQ(SSL_CTX_set_min_proto_version(ctx, o.min_version), 1);
    }
    if (o.max_version != 0) {
        EXPECT_EQ(SSL_CTX_set_max_proto_version(ctx, o.max_version), 1);
    }
    SSL* ssl = SSL_new(ctx);
    BIO* rbio = BIO_new(BIO_s_mem());
    BIO* wbio = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl, rbio, wbio);  // the SSL owns both BIOs now
    SSL_set_connect_state(ssl);
    if (!o.server_name.empty()) {
        EXPECT_EQ(SSL_set_tlsext_host_name(ssl, o.server_name.c_str()), 1);
    }
    if (!o.alpn.empty()) {
        std::string wire;
        for (const auto& p : o.alpn) {
            wire += u8(static_cast<uint32_t>(p.size())) + p;
        }
        EXPECT_EQ(SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(wire.data()),
                                      static_cast<unsigned>(wire.size())),
                  0);  // 0 is success here
    }
    if (o.max_send_fragment != 0) {
        EXPECT_EQ(SSL_set_max_send_fragment(ssl, o.max_send_fragment), 1);
    }
    int rc = SSL_do_handshake(ssl);
    EXPECT_EQ(rc, -1);
    EXPECT_EQ(SSL_get_error(ssl, rc), SSL_ERROR_WANT_READ);  // the hello went out
    char* data = nullptr;
    long n = BIO_get_mem_data(wbio, &data);
    std::string out(data, n > 0 ? static_cast<size_t>(n) : 0);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return out;
}

TEST(ClientHelloOpenSslTest, Tls13ClientWithSniAndAlpn) {
    std::string hello =
        openssl_client_hello({.server_name = "www.example.com", .alpn = {"h2", "http/1.1"}});
    ASSERT_GT(hello.size(), 200u);
    EXPECT_EQ(count_records(hello), 1u);
    expect_hello(hello, "www.example.com", "h2,http/1.1", "TLSv1.3");
    expect_every_prefix_needs_more(hello);
}

TEST(ClientHelloOpenSslTest, Tls12OnlyClient) {
    std::string hello = openssl_client_hello(
        {.server_name = "api.example.org", .alpn = {"http/1.1"}, .max_version = TLS1_2_VERSION});
    // no supported_versions extension: the legacy_version says TLS 1.2
    expect_hello(hello, "api.example.org", "http/1.1", "TLSv1.2");
    expect_every_prefix_needs_more(hello);
}

TEST(ClientHelloOpenSslTest, Tls10Client) {
    ClientOptions o;
    o.server_name = "old.example";
    o.min_version = TLS1_VERSION;
    o.max_version = TLS1_VERSION;
    o.security_level = 0;  // OpenSSL 3 refuses TLS 1.0 at the default level
    std::string hello = openssl_client_hello(o);
    expect_hello(hello, "old.example", "", "TLSv1");
    expect_every_prefix_needs_more(hello);
}

TEST(ClientHelloOpenSslTest, ClientWithoutSniOrAlpn) {
    std::string hello = openssl_client_hello({});
    expect_hello(hello, "", "", "TLSv1.3");
    expect_every_prefix_needs_more(hello);
}

TEST(ClientHelloOpenSslTest, TlsClientWithoutSniButAlpn) {
    ClientOptions o;
    o.alpn = {"imap"};
    o.max_version = TLS1_2_VERSION;
    std::string hello = openssl_client_hello(o);
    expect_hello(hello, "", "imap", "TLSv1.2");
}

// A hello too big for one 512-byte record: OpenSSL fragments it, as a client with many ALPN
// protocols, a post-quantum key share or a long ticket does.
TEST(ClientHelloOpenSslTest, HelloOverSeveralRecords) {
    std::vector<std::string> protos;
    std::string joined;
    for (int i = 0; i < 60; i++) {
        protos.push_back("proto-number-" + std::to_string(i));
        joined += (i ? "," : "") + protos.back();
    }
    std::string hello = openssl_client_hello(
        {.server_name = "fragmented.example", .alpn = protos, .max_send_fragment = 512});
    ASSERT_GE(count_records(hello), 3u);
    expect_hello(hello, "fragmented.example", joined, "TLSv1.3");
    expect_every_prefix_needs_more(hello);
}

// The limit is preread_buffer_size: a hello of exactly that size is read, one byte more is
// refused as soon as its record header says so.
TEST(ClientHelloOpenSslTest, LimitIsTheWholeHello) {
    ClientOptions o;
    o.server_name = "a.example";
    std::string one = openssl_client_hello(o);
    EXPECT_EQ(status(one, one.size()), HelloStatus::kDone);
    expect_empty(one.substr(0, 5), HelloStatus::kTooLarge, one.size() - 1);
    expect_empty(one, HelloStatus::kTooLarge, one.size() - 1);

    std::string many =
        openssl_client_hello({.server_name = "a.example",
                              .alpn = std::vector<std::string>(40, "a-long-protocol-name"),
                              .max_send_fragment = 512});
    ASSERT_GE(count_records(many), 2u);
    EXPECT_EQ(status(many, many.size()), HelloStatus::kDone);
    EXPECT_EQ(status(many, many.size() - 1), HelloStatus::kTooLarge);
    // once the first record has arrived, the handshake length tells whether the rest can fit:
    // it needs at least one more record header and the message's missing bytes
    std::string first = many.substr(0, 5 + 512);
    size_t fits = first.size() + 5 + (payload_of(many).size() - 512);
    EXPECT_EQ(status(first, fits - 1), HelloStatus::kTooLarge);
    EXPECT_EQ(status(first, fits), HelloStatus::kNeedMore);
}

#endif  // HALO_HAVE_OPENSSL

// ---- records ----

TEST(ClientHelloTest, SmallRecordsOfEverySize) {
    std::string hs = handshake(hello_body(
        0x0303, sni({"tiny.example"}) + alpn({"h2", "http/1.1"}) + versions({0x0304, 0x0303})));
    for (size_t fragment : {1u, 2u, 3u, 4u, 5u, 7u, 38u, 100u}) {
        std::string hello = records(hs, fragment);
        SCOPED_TRACE("records of " + std::to_string(fragment) + " bytes");
        ASSERT_EQ(count_records(hello), (hs.size() + fragment - 1) / fragment);
        ASSERT_EQ(payload_of(hello), hs);
        expect_hello(hello, "tiny.example", "h2,http/1.1", "TLSv1.3");
        if (fragment == 1 || fragment == 7) {
            expect_every_prefix_needs_more(hello);
        }
    }
}

TEST(ClientHelloTest, ZeroLengthRecordsAreSkipped) {
    std::string hs = handshake(hello_body(0x0303, sni({"z.example"})));
    std::string empty = u8(22) + u16(0x0301) + u16(0);
    std::string hello = empty + records(hs.substr(0, 10)) + empty + empty + records(hs.substr(10));
    expect_hello(hello, "z.example", "", "TLSv1.2");
}

TEST(ClientHelloTest, OtherRecordBeforeTheHelloEndsIsInvalid) {
    std::string hs = handshake(hello_body(0x0303, sni({"x.example"})));
    std::string first = records(hs.substr(0, 20));
    EXPECT_EQ(status(first), HelloStatus::kNeedMore);
    expect_empty(first + records(hs.substr(20), 16384, 23), HelloStatus::kInvalid);  // app data
    expect_empty(first + records("\x01", 1, 20), HelloStatus::kInvalid);  // change_cipher_spec
    std::string v2 = records(hs.substr(20));
    v2[1] = 2;  // record version 2.x
    expect_empty(first + v2, HelloStatus::kInvalid);
}

// ---- not TLS ----

TEST(ClientHelloTest, PlainHttpIsNotTls) {
    std::string get = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
    for (size_t n = 1; n <= get.size(); n++) {
        expect_empty(get.substr(0, n), HelloStatus::kNotTls);
    }
    expect_empty("", HelloStatus::kNeedMore);
    expect_empty("SSH-2.0-OpenSSH_9.2\r\n", HelloStatus::kNotTls);
    expect_empty("\x16", HelloStatus::kNeedMore);
    expect_empty(std::string("\x16\x02\x00\x00\x10", 5), HelloStatus::kNotTls);  // not SSL 3+
    expect_empty(std::string("\x17\x03\x03\x00\x10", 5), HelloStatus::kNotTls);  // not handshake
    expect_empty("PROXY TCP4 127.0.0.1 127.0.0.1 1 2\r\n", HelloStatus::kNotTls);
}

// SSL 2.0-compatible CLIENT-HELLO: nginx reads the version from its first 5 bytes and
// nothing else.
TEST(ClientHelloTest, Ssl2CompatibleHelloGivesTheProtocolOnly) {
    std::string tls1 = std::string("\x80\x2e\x01\x03\x01\x00\x15\x00\x00\x00\x10", 11);
    expect_hello(tls1, "", "", "TLSv1");
    expect_hello(std::string("\x80\x2e\x01\x00\x02", 5), "", "", "SSLv2");
    expect_hello(std::string("\x80\x2e\x01\x03\x00", 5), "", "", "SSLv3");
    expect_hello(std::string("\x80\x2e\x01\x03\x03", 5), "", "", "TLSv1.2");
    expect_hello(std::string("\x80\x2e\x01\x03\x09", 5), "", "", "");
    for (size_t n = 1; n < 5; n++) {
        expect_empty(tls1.substr(0, n), HelloStatus::kNeedMore);
    }
    expect_empty(std::string("\x80\x2e\x04\x03\x01", 5), HelloStatus::kNotTls);  // not a hello
    expect_empty(std::string("\x80\x2e\x01\x02", 4), HelloStatus::kNotTls);      // version 2.x
    expect_empty(tls1.substr(0, 4), HelloStatus::kTooLarge, 4);
}

// ---- versions ----

TEST(ClientHelloTest, ProtocolFromLegacyVersion) {
    expect_hello(tls_hello(0x0300, std::nullopt), "", "", "SSLv3");
    expect_hello(tls_hello(0x0301, std::nullopt), "", "", "TLSv1");
    expect_hello(tls_hello(0x0302, std::nullopt), "", "", "TLSv1.1");
    expect_hello(tls_hello(0x0303, std::nullopt), "", "", "TLSv1.2");
    expect_hello(tls_hello(0x0303, ""), "", "", "TLSv1.2");  // an empty extension block
    expect_hello(tls_hello(0x0305, std::nullopt), "", "", "");
}

TEST(ClientHelloTest, ProtocolFromSupportedVersions) {
    // the highest known version, whatever the order; GREASE (RFC 8701) and drafts skipped
    expect_hello(tls_hello(0x0303, versions({0x0a0a, 0x0304, 0x0303})), "", "", "TLSv1.3");
    expect_hello(tls_hello(0x0303, versions({0x0302, 0x0304})), "", "", "TLSv1.3");
    expect_hello(tls_hello(0x0301, versions({0x3a3a, 0x0303, 0x0302})), "", "", "TLSv1.2");
    expect_hello(tls_hello(0x0303, versions({0x7f1c, 0xfafa})), "", "", "TLSv1.2");
    // only the first supported_versions extension counts
    expect_hello(tls_hello(0x0303, versions({0x0302}) + versions({0x0304})), "", "", "TLSv1.1");
}

// ---- server_name and ALPN ----

TEST(ClientHelloTest, FirstHostNameIsTheServerName) {
    expect_hello(tls_hello(0x0303, sni({"first.example", "second.example"})), "first.example", "",
                 "TLSv1.2");
    // a second server_name extension is not read
    expect_hello(tls_hello(0x0303, sni({"one.example"}) + sni({"two.example"})), "one.example", "",
                 "TLSv1.2");
    // sent as is: no case folding, no validation (nginx's variable is the raw name)
    expect_hello(tls_hello(0x0303, sni({"MiXeD.Example."})), "MiXeD.Example.", "", "TLSv1.2");
}

TEST(ClientHelloTest, ExtensionsInAnyOrderWithOthersBetween) {
    std::string exts = extension(10, u16(4) + u16(29) + u16(23)) + alpn({"spdy/3", "h2"}) +
                       extension(0xfafa, "") + versions({0x0304}) +
                       extension(13, u16(2) + u16(0x0403)) + sni({"order.example"});
    expect_hello(tls_hello(0x0303, exts), "order.example", "spdy/3,h2", "TLSv1.3");
}

TEST(ClientHelloTest, AlpnNamesAreJoinedAsSent) {
    expect_hello(tls_hello(0x0303, alpn({"h2"})), "", "h2", "TLSv1.2");
    expect_hello(tls_hello(0x0303, alpn({"a", "b", "c"})), "", "a,b,c", "TLSv1.2");
    expect_hello(tls_hello(0x0303, alpn({"x,y", "z"})), "", "x,y,z", "TLSv1.2");
    expect_hello(tls_hello(0x0303, alpn({"first"}) + alpn({"second"})), "", "first", "TLSv1.2");
}

TEST(ClientHelloTest, SessionIdOfEveryAllowedLength) {
    for (size_t n : {0u, 1u, 16u, 32u}) {
        std::string hello =
            records(handshake(hello_body(0x0303, sni({"s.example"}), std::string(n, 'S'))));
        expect_hello(hello, "s.example", "", "TLSv1.2");
    }
}

// ---- malformed ----

TEST(ClientHelloTest, InvalidLengthsAndFields) {
    const std::string good_exts = sni({"bad.example"});
    struct Case {
        const char* what;
        std::string bytes;
    };
    std::string body = hello_body(0x0303, good_exts);
    std::vector<Case> cases = {
        {"a ServerHello", records(handshake(body, 2))},
        {"session id of 33 bytes",
         records(handshake(hello_body(0x0303, good_exts, std::string(33, 'S'))))},
        {"odd cipher_suites length", records(handshake(u16(0x0303) + std::string(32, 'R') + u8(0) +
                                                       u16(3) + "abc" + u8(1) + u8(0)))},
        {"empty cipher_suites",
         records(handshake(u16(0x0303) + std::string(32, 'R') + u8(0) + u16(0) + u8(1) + u8(0)))},
        {"no compression method", records(handshake(u16(0x0303) + std::string(32, 'R') + u8(0) +
                                                    u16(2) + u16(0x1301) + u8(0)))},
        {"extensions longer than the message",
         records(handshake(body.substr(0, body.size() - good_exts.size() - 2) +
                           u16(static_cast<uint32_t>(good_exts.size() + 1)) + good_exts))},
        {"bytes after the extensions", records(handshake(body + "X"))},
        {"an extension longer than the block",
         tls_hello(0x0303, u16(0) + u16(100) + u16(5) + u8(0) + u16(2) + "ab")},
        {"half an extension header", tls_hello(0x0303, u16(16) + u8(0))},
        {"server_name list shorter than the extension",
         tls_hello(0x0303, extension(0, u16(5) + u8(0) + u16(2) + "ab" + "junk"))},
        {"server_name list longer than the extension",
         tls_hello(0x0303, extension(0, u16(9) + u8(0) + u16(2) + "ab"))},
        {"host name longer than the list",
         tls_hello(0x0303, extension(0, u16(5) + u8(0) + u16(3) + "ab"))},
        {"empty server_name list", tls_hello(0x0303, extension(0, u16(0)))},
        {"server_name not a host name",
         tls_hello(0x0303, extension(0, u16(5) + u8(1) + u16(2) + "ab"))},
        {"empty host name", tls_hello(0x0303, extension(0, u16(3) + u8(0) + u16(0)))},
        {"empty ALPN list", tls_hello(0x0303, extension(16, u16(0)))},
        {"empty ALPN protocol", tls_hello(0x0303, extension(16, u16(3) + u8(0) + u8(1) + "a"))},
        {"ALPN name longer than the list", tls_hello(0x0303, extension(16, u16(3) + u8(5) + "ab"))},
        {"odd supported_versions", tls_hello(0x0303, extension(43, u8(3) + "abc"))},
        {"empty supported_versions", tls_hello(0x0303, extension(43, u8(0)))},
        {"supported_versions shorter than the extension",
         tls_hello(0x0303, extension(43, u8(2) + u16(0x0304) + "xx"))},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        expect_empty(c.bytes, HelloStatus::kInvalid);
        // a prefix never contradicts the whole: it needs more or is already invalid
        for (size_t n = 0; n < c.bytes.size(); n++) {
            HelloStatus s = status(std::string_view(c.bytes).substr(0, n));
            ASSERT_TRUE(s == HelloStatus::kNeedMore || s == HelloStatus::kInvalid) << n;
        }
    }
}

// A length error is found as soon as the bytes that show it arrive, not when the message ends.
TEST(ClientHelloTest, InvalidIsFoundBeforeTheMessageEnds) {
    std::string exts = extension(0, u16(0)) + alpn(std::vector<std::string>(100, "padding-proto"));
    std::string hs = handshake(hello_body(0x0303, exts));
    std::string first = records(hs.substr(0, 100));
    EXPECT_EQ(status(first), HelloStatus::kInvalid);
}

// The message length must be what its fields add up to: one byte more is an error as soon as
// the extension block ends, without waiting for a byte that cannot belong to a ClientHello.
TEST(ClientHelloTest, MessageLengthMustMatchItsFields) {
    std::string body = hello_body(0x0303, sni({"m.example"}));
    EXPECT_EQ(status(records(handshake(body))), HelloStatus::kDone);
    std::string hs = u8(1) + u24(static_cast<uint32_t>(body.size() + 1)) + body;
    expect_empty(records(hs), HelloStatus::kInvalid);
    // the message's end in a later record: the first record alone needs more
    std::string cut = records(handshake(body).substr(0, 30));
    EXPECT_EQ(status(cut), HelloStatus::kNeedMore);
    EXPECT_EQ(status(cut + records(handshake(body).substr(30))), HelloStatus::kDone);
}

// ---- the size limit ----

TEST(ClientHelloTest, RecordOrMessageLargerThanTheLimit) {
    // a record header is enough: 5 + 16380 > 16384
    expect_empty(std::string("\x16\x03\x01\x3f\xfc", 5), HelloStatus::kTooLarge);
    EXPECT_EQ(status(std::string("\x16\x03\x01\x3f\xfb", 5)), HelloStatus::kNeedMore);
    // a small first record of a message that says it is 20000 bytes long
    std::string hs = u8(1) + u24(20000) + u16(0x0303) + std::string(32, 'R') + u8(0) + u16(2);
    expect_empty(records(hs), HelloStatus::kTooLarge);
    // the limit caps what is looked at: 4 bytes of a TLS record header are all there is
    EXPECT_EQ(status(std::string("\x16\x03\x01\x00\x10", 5), 4), HelloStatus::kTooLarge);
    // a decision made within the limit stands
    EXPECT_EQ(status("GET / HTTP/1.1\r\n", 3), HelloStatus::kNotTls);
    std::string small = tls_hello(0x0303, sni({"limit.example"}));
    EXPECT_EQ(status(small, small.size()), HelloStatus::kDone);
    EXPECT_EQ(status(small, small.size() - 1), HelloStatus::kTooLarge);
    EXPECT_EQ(status(small, 0), HelloStatus::kTooLarge);
}

TEST(ClientHelloTest, StatusNames) {
    EXPECT_EQ(to_string(HelloStatus::kNeedMore), "need more");
    EXPECT_EQ(to_string(HelloStatus::kDone), "done");
    EXPECT_EQ(to_string(HelloStatus::kNotTls), "not tls");
    EXPECT_EQ(to_string(HelloStatus::kInvalid), "invalid");
    EXPECT_EQ(to_string(HelloStatus::kTooLarge), "too large");
}

}  // namespace
}  // namespace mod::ssl_preread
