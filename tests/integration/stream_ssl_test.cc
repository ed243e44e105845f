// TLS in the stream module through the real binary: termination (`listen ... ssl`) in front of
// a plain TCP echo backend (the client sees halo's certificate, the backend plaintext), an
// ECDSA and an RSA certificate side by side, a bad certificate path failing `-t` with
// file:line, the handshake timeout, session resumption through the shared cache on another
// worker, $ssl_* in a stream access_log, client certificates; TLS to upstreams (proxy_ssl)
// with verification (a trusted CA passes, a wrong name goes to the next upstream), session
// reuse, and both at once.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>

#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"
#include "support/stream_backend.h"
#include "support/test_cert.h"

namespace halo_test {
namespace {

/// What one TLS client connection saw.
struct TlsTalk {
    bool handshake = false;
    std::string data;          // everything read
    std::string protocol;      // "TLSv1.3"
    int key_type = NID_undef;  // of the server's certificate: EVP_PKEY_EC, EVP_PKEY_RSA
    std::string subject_cn;
    bool reused = false;
    std::string alpn;                // the protocol the server chose
    SSL_SESSION* session = nullptr;  // the session at the end (owned by the caller)
};

struct TlsOptions {
    int max_version = 0;            // TLS1_2_VERSION: no TLS 1.3
    std::string sigalgs;            // "ECDSA+SHA256": what the client accepts
    SSL_SESSION* resume = nullptr;  // to resume
    std::string send;               // sent after the handshake
    std::string until;              // read until the data ends with it
    std::string cert, key;          // a client certificate
    bool close_first = false;       // hang up right after the handshake
    std::string before;             // plain bytes before the handshake (a PROXY header)
    std::vector<std::string> alpn;  // ALPN protocols offered
};

int connect_to(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
        ::close(fd);
        return -1;
    }
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

TlsTalk tls_talk(uint16_t port, const TlsOptions& o = {}) {
    TlsTalk t;
    int fd = connect_to(port);
    if (fd < 0) {
        return t;
    }
    if (!o.before.empty() &&
        ::send(fd, o.before.data(), o.before.size(), 0) != static_cast<ssize_t>(o.before.size())) {
        ::close(fd);
        return t;
    }
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    // No client cache: SSL_CTX_free() would flush it and mark its sessions not resumable.
    if (o.max_version != 0) {
        SSL_CTX_set_max_proto_version(ctx, o.max_version);
    }
    if (!o.sigalgs.empty()) {
        SSL_CTX_set1_sigalgs_list(ctx, o.sigalgs.c_str());
    }
    if (!o.cert.empty()) {
        SSL_CTX_use_certificate_file(ctx, o.cert.c_str(), SSL_FILETYPE_PEM);
        SSL_CTX_use_PrivateKey_file(ctx, o.key.c_str(), SSL_FILETYPE_PEM);
    }
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "stream.test");
    if (o.resume != nullptr) {
        SSL_set_session(ssl, o.resume);
    }
    std::string wire;  // RFC 7301 §3.1: each name with a one-byte length
    for (const std::string& p : o.alpn) {
        wire += static_cast<char>(p.size());
        wire += p;
    }
    if (!wire.empty()) {
        SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned int>(wire.size()));
    }
    if (SSL_connect(ssl) == 1) {
        t.handshake = true;
        t.protocol = SSL_get_version(ssl);
        t.reused = SSL_session_reused(ssl) == 1;
        const unsigned char* chosen = nullptr;
        unsigned int chosen_len = 0;
        SSL_get0_alpn_selected(ssl, &chosen, &chosen_len);
        t.alpn.assign(reinterpret_cast<const char*>(chosen), chosen_len);
        if (X509* peer = SSL_get0_peer_certificate(ssl)) {
            t.key_type = EVP_PKEY_get_base_id(X509_get0_pubkey(peer));
            char cn[256] = "";
            X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof(cn));
            t.subject_cn = cn;
        }
        if (!o.close_first) {
            if (!o.send.empty()) {
                SSL_write(ssl, o.send.data(), static_cast<int>(o.send.size()));
            }
            char buf[16384];
            while (o.until.empty() || t.data.size() < o.until.size() ||
                   t.data.compare(t.data.size() - o.until.size(), o.until.size(), o.until) != 0) {
                int n = SSL_read(ssl, buf, sizeof(buf));
                if (n <= 0) {
                    break;
                }
                t.data.append(buf, static_cast<size_t>(n));
                if (o.until.empty()) {
                    break;
                }
            }
        }
        t.session = SSL_get1_session(ssl);  // TLS 1.3: the ticket came with the data
        SSL_shutdown(ssl);
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    ERR_clear_error();
    ::close(fd);
    return t;
}

/// An RSA certificate (test_cert.h makes EC ones) by the openssl command.
bool make_rsa_certificate(const std::string& cn, const std::string& crt, const std::string& key) {
    RunResult r = run_command({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                               "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=" + cn},
                              std::chrono::seconds(60));
    return r.status == 0;
}

class StreamSslTest : public ::testing::Test {
  protected:
    void SetUp() override {
        signal(SIGPIPE, SIG_IGN);  // a client writing to a session halo ended
        if (!halo_has_module("stream_ssl") || !halo_has_module("stream_proxy")) {
            GTEST_SKIP() << "the stream_ssl or stream_proxy module is not compiled in";
        }
        ASSERT_TRUE(make_certificate("ec.stream.test", halo_.path("ec.crt"), halo_.path("ec.key")));
    }
    std::string conf(std::string_view stream_block, int workers = 1) {
        return "daemon off;\nworker_processes " + std::to_string(workers) +
               ";\nerror_log logs/error.log info;\nevents { worker_connections 256; }\n" +
               std::string(stream_block);
    }
    std::string log(std::string_view rel) { return read_file(halo_.path(rel)).value_or(""); }
    /// Waits until logs/<rel> holds `needle`.
    bool wait_contains(std::string_view rel, std::string_view needle) {
        return wait_until([&] { return log(rel).find(needle) != std::string::npos; });
    }
    bool wait_error(std::string_view needle) { return wait_contains("logs/error.log", needle); }
    Halo halo_;
};

TEST_F(StreamSslTest, TerminatesTlsAndProxiesPlaintext) {
    TcpEchoBackend a("a");
    halo_.write_conf(
        conf("stream {\n"
             "    server {\n"
             "        listen 127.0.0.1:%%PORT_0%% ssl;\n"
             "        ssl_certificate ec.crt;\n"
             "        ssl_certificate_key ec.key;\n"
             "        proxy_pass " +
             a.address() +
             ";\n"
             "    }\n"
             "}\n"));
    ASSERT_TRUE(halo_.start());
    TlsTalk t = tls_talk(halo_.port(0), {.send = "ping over tls\n", .until = "ping over tls\n"});
    ASSERT_TRUE(t.handshake) << halo_.error_log();
    EXPECT_EQ(t.subject_cn, "ec.stream.test");  // halo's certificate
    // The backend spoke plaintext: its greeting and the echo came back through TLS.
    EXPECT_EQ(t.data, "hello from a\nping over tls\n");
    EXPECT_EQ(a.bytes(), std::string("ping over tls\n").size());
    // A plain client on the ssl port gets nothing from the backend.
    int before = a.connections();
    EXPECT_EQ(tcp_roundtrip(halo_.port(0), "plain\n"), "");
    EXPECT_EQ(a.connections(), before);
    EXPECT_TRUE(wait_error("wrong version number) while SSL handshaking")) << halo_.error_log();
}

TEST_F(StreamSslTest, LargeTransferThroughTlsIsByteForByte) {
    TcpEchoBackend a("a", false);
    halo_.write_conf(
        conf("stream {\n    server {\n"
             "        listen 127.0.0.1:%%PORT_0%% ssl;\n"
             "        ssl_certificate ec.crt; ssl_certificate_key ec.key;\n"
             "        proxy_pass " +
             a.address() + ";\n    }\n}\n"));
    ASSERT_TRUE(halo_.start());
    // Past the 64 KiB after which a plain relay splices: with a TLS side it must copy.
    std::string big = pattern_bytes(2 * 1024 * 1024 + 7);
    int fd = connect_to(halo_.port(0));
    ASSERT_GE(fd, 0);
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    ASSERT_EQ(SSL_connect(ssl), 1);
    std::string got;
    constexpr size_t kPiece = 32 * 1024;  // echoed back before the next: no deadlock
    for (size_t off = 0; off < big.size(); off += kPiece) {
        std::string_view piece = std::string_view(big).substr(off, kPiece);
        ASSERT_GT(SSL_write(ssl, piece.data(), static_cast<int>(piece.size())), 0);
        size_t want = off + piece.size();
        char buf[16384];
        while (got.size() < want) {
            int n = SSL_read(ssl, buf, sizeof(buf));
            if (n <= 0) {
                break;
            }
            got.append(buf, static_cast<size_t>(n));
        }
        ASSERT_EQ(got.size(), want) << halo_.error_log();
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    ::close(fd);
    EXPECT_TRUE(got == big);
    EXPECT_EQ(a.bytes(), big.size());
}

TEST_F(StreamSslTest, EcdsaAndRsaCertificatesSideBySide) {
    ASSERT_TRUE(
        make_rsa_certificate("rsa.stream.test", halo_.path("rsa.crt"), halo_.path("rsa.key")));
    TcpEchoBackend a("a");
    halo_.write_conf(
        conf("stream {\n    server {\n"
             "        listen 127.0.0.1:%%PORT_0%% ssl;\n"
             "        ssl_certificate rsa.crt; ssl_certificate_key rsa.key;\n"
             "        ssl_certificate ec.crt; ssl_certificate_key ec.key;\n"
             "        proxy_pass " +
             a.address() + ";\n    }\n}\n"));
    ASSERT_TRUE(halo_.start());
    TlsTalk ec = tls_talk(halo_.port(0), {.sigalgs = "ECDSA+SHA256", .until = "\n"});
    ASSERT_TRUE(ec.handshake) << halo_.error_log();
    EXPECT_EQ(ec.key_type, EVP_PKEY_EC);
    EXPECT_EQ(ec.subject_cn, "ec.stream.test");
    TlsTalk rsa = tls_talk(halo_.port(0), {.sigalgs = "RSA-PSS+SHA256:RSA+SHA256", .until = "\n"});
    ASSERT_TRUE(rsa.handshake) << halo_.error_log();
    EXPECT_EQ(rsa.key_type, EVP_PKEY_RSA);
    EXPECT_EQ(rsa.subject_cn, "rsa.stream.test");
    EXPECT_EQ(rsa.data, "hello from a\n");
}

TEST_F(StreamSslTest, ProxyProtocolHeaderBeforeTheHandshake) {
    TcpEchoBackend a("a");
    halo_.write_conf(
        conf("stream {\n"
             "    log_format pp \"$proxy_protocol_addr $ssl_protocol\";\n"
             "    server {\n"
             "        listen 127.0.0.1:%%PORT_0%% ssl proxy_protocol;\n"
             "        ssl_certificate ec.crt; ssl_certificate_key ec.key;\n"
             "        access_log logs/pp.log pp;\n"
             "        proxy_pass " +
             a.address() + ";\n    }\n}\n"));
    ASSERT_TRUE(halo_.start());
    // Header and ClientHello may arrive in one segment: the TLS layer must get every byte
    // after the header.
    TlsTalk t = tls_talk(
        halo_.port(0),
        {.send = "pp\n", .until = "pp\n", .before = "PROXY TCP4 192.0.2.7 127.0.0.1 5555 443\r\n"});
    ASSERT_TRUE(t.handshake) << halo_.error_log();
    EXPECT_EQ(t.data, "hello from a\npp\n");
    SSL_SESSION_free(t.session);
    EXPECT_TRUE(wait_contains("logs/pp.log", "192.0.2.7 TLSv1.3\n")) << log("logs/pp.log");
}

TEST_F(StreamSslTest, StreamLevelSettingsAreInheritedAndAlpnSelects) {
    TcpEchoBackend a("a");
    halo_.write_conf(
        conf("stream {\n"
             "    ssl_certificate ec.crt; ssl_certificate_key ec.key;\n"
             "    ssl_protocols TLSv1.2;\n"
             "    ssl_alpn imap smtp;\n"
             "    log_format al \"$ssl_protocol $ssl_alpn_protocol\";\n"
             "    server {\n"
             "        listen 127.0.0.1:%%PORT_0%% ssl;\n"
             "        access_log logs/al.log al;\n"
             "        proxy_pass " +
             a.address() + ";\n    }\n}\n"));
    ASSERT_TRUE(halo_.start());
    TlsTalk t = tls_talk(halo_.port(0), {.until = "\n", .alpn = {"pop3", "smtp"}});
    ASSERT_TRUE(t.handshake) << halo_.error_log();
    EXPECT_EQ(t.protocol, "TLSv1.2");  // the stream level's ssl_protocols
    EXPECT_EQ(t.alpn, "smtp");
    EXPECT_EQ(t.data, "hello from a\n");
    SSL_SESSION_free(t.session);
    // ALPN offered with no protocol in common: no_application_protocol, as nginx.
    TlsTalk none = tls_talk(halo_.port(0), {.until = "\n", .alpn = {"h2"}});
    EXPECT_FALSE(none.handshake);
    // Without ALPN the handshake goes on.
    TlsTalk plain = tls_talk(halo_.port(0), {.until = "\n"});
    EXPECT_TRUE(plain.handshake);
    EXPECT_EQ(plain.alpn, "");
    SSL_SESSION_free(plain.session);
    EXPECT_TRUE(wait_contains("logs/al.log", "TLSv1.2 smtp\n")) << log("logs/al.log");
}

TEST_F(StreamSslTest, ConfigErrorsNameFileAndLine) {
    halo_.write_conf(
        conf("stream {\n"                                  // 5
             "    server {\n"                              // 6
             "        listen 127.0.0.1:%%PORT_0%% ssl;\n"  // 7
             "        ssl_certificate missing.crt;\n"      // 8
             "        ssl_certificate_key ec.key;\n"       // 9
             "        proxy_pass 127.0.0.1:1;\n    }\n}\n"));
    RunResult r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("cannot load certificate \"" + halo_.path("missing.crt") + "\""),
              std::string::npos)
        << r;
    EXPECT_NE(r.err.find(" in " + halo_.conf_path() + ":8\n"), std::string::npos) << r;

    halo_.write_conf(
        conf("stream {\n"                                  // 5
             "    server {\n"                              // 6
             "        listen 127.0.0.1:%%PORT_0%% ssl;\n"  // 7
             "        proxy_pass 127.0.0.1:1;\n    }\n}\n"));
    r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive "
                         "in " +
                         halo_.conf_path() + ":7"),
              std::string::npos)
        << r;

    halo_.write_conf(
        conf("stream {\n"                                  // 5
             "    server {\n"                              // 6
             "        listen 127.0.0.1:%%PORT_0%% ssl;\n"  // 7
             "        ssl_certificate ec.crt;\n"           // 8
             "        ssl_certificate_key ec.key;\n"       // 9
             "        ssl_protocols TLSv1.2 SSLv3;\n"      // 10
             "        proxy_pass 127.0.0.1:1;\n    }\n}\n"));
    r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("invalid value \"SSLv3\" in \"ssl_protocols\" directive"),
              std::string::npos)
        << r;
    EXPECT_NE(r.err.find(halo_.conf_path() + ":10"), std::string::npos) << r;
}

TEST_F(StreamSslTest, HandshakeTimeoutClosesTheConnection) {
    TcpEchoBackend a("a");
    halo_.write_conf(
        conf("stream {\n    server {\n"
             "        listen 127.0.0.1:%%PORT_0%% ssl;\n"
             "        ssl_certificate ec.crt; ssl_certificate_key ec.key;\n"
             "        ssl_handshake_timeout 300ms;\n"
             "        proxy_pass " +
             a.address() + ";\n    }\n}\n"));
    ASSERT_TRUE(halo_.start());
    int fd = connect_to(halo_.port(0));
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::send(fd, "\x16\x03\x01", 3, 0), 3);  // the start of a record, never finished
    char buf[256];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) {  // an alert may come first
    }
    EXPECT_EQ(n, 0) << "halo did not close the connection";  // SO_RCVTIMEO 5s: the net
    ::close(fd);
    EXPECT_TRUE(
        wait_error("client timed out (110: Connection timed out) while SSL "
                   "handshaking"))
        << halo_.error_log();
    EXPECT_EQ(a.connections(), 0);
}

TEST_F(StreamSslTest, SharedSessionCacheResumesOnAnotherWorker) {
    TcpEchoBackend a("a");
    halo_.write_conf(
        conf("stream {\n"
             "    log_format s \"$ssl_protocol $ssl_session_reused $ssl_server_name "
             "$ssl_cipher\";\n"
             "    server {\n"
             "        listen 127.0.0.1:%%PORT_0%% ssl;\n"
             "        ssl_certificate ec.crt; ssl_certificate_key ec.key;\n"
             "        ssl_session_cache shared:STREAM:1m;\n"
             "        ssl_session_tickets off;\n"
             "        access_log logs/stream.log s;\n"
             "        proxy_pass " +
                 a.address() + ";\n    }\n}\n",
             2));
    ASSERT_TRUE(halo_.start());
    ASSERT_EQ(halo_.wait_workers(2).size(), 2u);
    // TLS 1.2 without tickets: only the server's cache, found by session id, can resume.
    TlsTalk first = tls_talk(halo_.port(0), {.max_version = TLS1_2_VERSION, .until = "\n"});
    ASSERT_TRUE(first.handshake) << halo_.error_log();
    EXPECT_FALSE(first.reused);
    ASSERT_NE(first.session, nullptr);
    int resumed = 0;
    for (int i = 0; i < 10; i++) {
        TlsTalk again = tls_talk(
            halo_.port(0), {.max_version = TLS1_2_VERSION, .resume = first.session, .until = "\n"});
        EXPECT_TRUE(again.handshake);
        resumed += again.reused ? 1 : 0;
        SSL_SESSION_free(again.session);
    }
    SSL_SESSION_free(first.session);
    EXPECT_EQ(resumed, 10);  // whichever worker took the connection
    ASSERT_TRUE(wait_contains("logs/stream.log", "TLSv1.2 r stream.test"))
        << log("logs/stream.log");
    // The first handshake was a full one (the harness's probe before it logged "- - - -").
    EXPECT_NE(log("logs/stream.log").find("TLSv1.2 . stream.test "), std::string::npos)
        << log("logs/stream.log");
}

TEST_F(StreamSslTest, BuiltinCacheOffDoesNotResume) {
    // The control for the test above: no cache and no tickets, no resumption.
    TcpEchoBackend a("a");
    halo_.write_conf(
        conf("stream {\n    server {\n"
             "        listen 127.0.0.1:%%PORT_0%% ssl;\n"
             "        ssl_certificate ec.crt; ssl_certificate_key ec.key;\n"
             "        ssl_session_cache off; ssl_session_tickets off;\n"
             "        proxy_pass " +
             a.address() + ";\n    }\n}\n"));
    ASSERT_TRUE(halo_.start());
    TlsTalk first = tls_talk(halo_.port(0), {.max_version = TLS1_2_VERSION, .until = "\n"});
    ASSERT_TRUE(first.handshake);
    TlsTalk again = tls_talk(
        halo_.port(0), {.max_version = TLS1_2_VERSION, .resume = first.session, .until = "\n"});
    EXPECT_TRUE(again.handshake);
    EXPECT_FALSE(again.reused);
    SSL_SESSION_free(first.session);
    SSL_SESSION_free(again.session);
}

TEST_F(StreamSslTest, ClientCertificateIsVerified) {
    ASSERT_TRUE(
        make_certificate("client.test", halo_.path("client.crt"), halo_.path("client.key")));
    ASSERT_TRUE(make_certificate("other.test", halo_.path("other.crt"), halo_.path("other.key")));
    TcpEchoBackend a("a");
    halo_.write_conf(
        conf("stream {\n"
             "    log_format v \"$ssl_client_verify $ssl_client_s_dn\";\n"
             "    server {\n"
             "        listen 127.0.0.1:%%PORT_0%% ssl;\n"
             "        ssl_certificate ec.crt; ssl_certificate_key ec.key;\n"
             "        ssl_verify_client on;\n"
             "        ssl_client_certificate client.crt;\n"
             "        access_log logs/v.log v;\n"
             "        proxy_pass " +
             a.address() + ";\n    }\n}\n"));
    ASSERT_TRUE(halo_.start());
    TlsTalk ok = tls_talk(halo_.port(0), {.send = "x\n",
                                          .until = "x\n",
                                          .cert = halo_.path("client.crt"),
                                          .key = halo_.path("client.key")});
    EXPECT_EQ(ok.data, "hello from a\nx\n") << halo_.error_log();
    SSL_SESSION_free(ok.session);
    int before = a.connections();
    TlsTalk none = tls_talk(halo_.port(0), {.send = "x\n", .until = "x\n"});
    EXPECT_EQ(none.data, "");
    SSL_SESSION_free(none.session);
    TlsTalk wrong = tls_talk(halo_.port(0), {.send = "x\n",
                                             .until = "x\n",
                                             .cert = halo_.path("other.crt"),
                                             .key = halo_.path("other.key")});
    EXPECT_EQ(wrong.data, "");
    SSL_SESSION_free(wrong.session);
    EXPECT_EQ(a.connections(), before);  // neither reached the backend
    EXPECT_TRUE(wait_error("client sent no required SSL certificate")) << halo_.error_log();
    EXPECT_TRUE(wait_error("client SSL certificate verify error")) << halo_.error_log();
    ASSERT_TRUE(wait_contains("logs/v.log", "SUCCESS CN=client.test")) << log("logs/v.log");
}

// ---- proxy_ssl ----

class StreamProxySslTest : public StreamSslTest {};

TEST_F(StreamProxySslTest, VerifiedUpstreamAndWrongNameGoesToTheNext) {
    TlsPassthroughBackend good("good"), bad("bad");
    ASSERT_NE(good.port(), 0);
    // Both trusted; only `good` carries the name the proxy expects.
    std::string ca = halo_.path("ca.pem");
    halo_.write("ca.pem",
                read_file(good.cert_file()).value_or("") + read_file(bad.cert_file()).value_or(""));
    halo_.write_conf(
        conf("stream {\n"
             "    upstream be {\n"
             "        server " +
             bad.address() +
             ";\n"
             "        server " +
             good.address() +
             ";\n"
             "    }\n"
             "    server {\n"
             "        listen 127.0.0.1:%%PORT_0%%;\n"
             "        proxy_ssl on;\n"
             "        proxy_ssl_verify on;\n"
             "        proxy_ssl_trusted_certificate " +
             ca +
             ";\n"
             "        proxy_ssl_name good;\n"
             "        proxy_ssl_server_name on;\n"
             "        proxy_pass be;\n"
             "    }\n"
             "}\n"));
    ASSERT_TRUE(halo_.start());
    for (int i = 0; i < 4; i++) {
        std::string out = tcp_roundtrip(halo_.port(0), "hi\n");
        EXPECT_EQ(out, "tls good\nhi\n") << halo_.error_log();
    }
    EXPECT_EQ(good.last_server_name(), "good");  // SNI sent
    EXPECT_TRUE(
        wait_error("upstream SSL certificate does not match \"good\" while SSL "
                   "handshaking to upstream"))
        << halo_.error_log();
}

TEST_F(StreamProxySslTest, UntrustedUpstreamIsRefused) {
    TlsPassthroughBackend t("t"), other("other");
    ASSERT_NE(t.port(), 0);
    halo_.write_conf(
        conf("stream {\n    server {\n"
             "        listen 127.0.0.1:%%PORT_0%%;\n"
             "        proxy_ssl on; proxy_ssl_verify on;\n"
             "        proxy_ssl_trusted_certificate " +
             other.cert_file() +
             ";\n"
             "        proxy_ssl_name t;\n"
             "        proxy_pass " +
             t.address() + ";\n    }\n}\n"));
    ASSERT_TRUE(halo_.start());
    EXPECT_EQ(tcp_roundtrip(halo_.port(0), "hi\n"), "");
    EXPECT_TRUE(wait_error("upstream SSL certificate verify error: ")) << halo_.error_log();
}

TEST_F(StreamProxySslTest, SessionsAreReused) {
    TlsPassthroughBackend t("t");
    ASSERT_NE(t.port(), 0);
    halo_.write_conf(
        conf("stream {\n"
             "    log_format u \"$upstream_addr\";\n"
             "    server {\n"
             "        listen 127.0.0.1:%%PORT_0%%;\n"
             "        proxy_ssl on;\n"
             "        proxy_ssl_protocols TLSv1.2;\n"
             "        proxy_pass " +
             t.address() + ";\n    }\n}\n"));
    ASSERT_TRUE(halo_.start());
    for (int i = 0; i < 3; i++) {
        EXPECT_EQ(tcp_roundtrip(halo_.port(0), "hi\n"), "tls t\nhi\n") << halo_.error_log();
    }
    EXPECT_GE(t.handshakes(), 3);
    EXPECT_GE(t.resumed(), 1) << "no session was resumed";
}

TEST_F(StreamProxySslTest, TerminationAndProxySslTogether) {
    TlsPassthroughBackend t("t");
    ASSERT_NE(t.port(), 0);
    halo_.write_conf(
        conf("stream {\n"
             "    log_format both \"$ssl_protocol $ssl_server_name\";\n"
             "    server {\n"
             "        listen 127.0.0.1:%%PORT_0%% ssl;\n"
             "        ssl_certificate ec.crt; ssl_certificate_key ec.key;\n"
             "        access_log logs/both.log both;\n"
             "        proxy_ssl on;\n"
             "        proxy_ssl_verify on;\n"
             "        proxy_ssl_trusted_certificate " +
             t.cert_file() +
             ";\n"
             "        proxy_ssl_name t;\n"
             "        proxy_pass " +
             t.address() + ";\n    }\n}\n"));
    ASSERT_TRUE(halo_.start());
    TlsTalk c = tls_talk(halo_.port(0), {.send = "both ways\n", .until = "both ways\n"});
    ASSERT_TRUE(c.handshake) << halo_.error_log();
    EXPECT_EQ(c.subject_cn, "ec.stream.test");  // halo's certificate to the client
    EXPECT_EQ(c.data, "tls t\nboth ways\n") << halo_.error_log();
    SSL_SESSION_free(c.session);
    EXPECT_EQ(t.handshakes(), 1);  // halo's own handshake with the backend
    ASSERT_TRUE(wait_contains("logs/both.log", "TLSv1.3 stream.test")) << log("logs/both.log");
}

}  // namespace
}  // namespace halo_test
