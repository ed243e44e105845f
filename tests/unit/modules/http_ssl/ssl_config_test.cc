// The ssl module's directives: accepted forms, every rejection with its message and file:line,
// inheritance from the http level, `listen ... ssl` checks; and the transport over a
// socketpair (handshake, data both ways, a plain client, a client gone mid-handshake).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <csignal>
#include <cstdio>
#include <string>

#include "core/cycle.h"
#include "support/test_cert.h"
#include "support/test_modules.h"
#include "tls/ssl_transport.h"

namespace mod::http_ssl {
namespace {

using ::testing::HasSubstr;
using tls::SslTransport;

using halo_test::make_certificate;

class SslConfigTest : public ::testing::Test {
  protected:
    SslConfigTest() : registry_(core::compiled_modules()) {}

    void SetUp() override {
        ASSERT_TRUE(make_certificate("a.test", dir_.file("a.crt"), dir_.file("a.key")));
        ASSERT_TRUE(make_certificate("b.test", dir_.file("b.crt"), dir_.file("b.key")));
    }

    core::Status load(std::string_view conf) {
        cycle_.reset();
        return support::load_cycle(registry_, dir_, conf, cycle_, nullptr, {}, true);
    }
    /// `directives` inside `http { server { listen ... ssl; ... } }` (line 3 on).
    core::Status load_server(std::string_view directives) {
        return load("http {\n server {\n  listen 127.0.0.1:8443 ssl;\n  " +
                    std::string(directives) + "\n }\n}\n");
    }
    std::string error(std::string_view conf) {
        core::Status s = load(conf);
        EXPECT_FALSE(s.is_ok()) << "loaded: " << conf;
        return s.message();
    }
    std::string server_error(std::string_view directives) {
        core::Status s = load_server(directives);
        EXPECT_FALSE(s.is_ok()) << "loaded: " << directives;
        return s.message();
    }
    std::string at(int line) const {
        return " in " + dir_.file("halo.conf") + ":" + std::to_string(line);
    }

    static constexpr std::string_view kCert = "ssl_certificate a.crt; ssl_certificate_key a.key;";

    support::TempDir dir_;
    core::ModuleRegistry registry_;
    std::unique_ptr<core::Cycle> cycle_;
};

TEST_F(SslConfigTest, AcceptsEveryDirective) {
    core::Status s = load_server(std::string(kCert) +
                                 " ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;"
                                 " ssl_ciphers HIGH:!aNULL;"
                                 " ssl_prefer_server_ciphers on;"
                                 " ssl_session_cache builtin:1000 shared:SSL:1m;"
                                 " ssl_session_timeout 10m;"
                                 " ssl_session_tickets off;");
    EXPECT_TRUE(s.is_ok()) << s.message();
}

TEST_F(SslConfigTest, AcceptsTheOtherDirectives) {
    dir_.write("ticket.key", std::string(48, 'k'));
    dir_.write("pass", "secret\n");
    core::Status s = load_server(std::string(kCert) +
                                 " ssl_session_ticket_key ticket.key;"
                                 " ssl_password_file pass;"
                                 " ssl_ecdh_curve X25519:prime256v1;"
                                 " ssl_buffer_size 4k;"
                                 " ssl_early_data on;"
                                 " ssl_conf_command Options -SessionTicket;"
                                 " ssl_client_certificate a.crt;"
                                 " ssl_verify_client optional_no_ca;"
                                 " ssl_verify_depth 2;"
                                 " ssl_trusted_certificate b.crt;");
    EXPECT_TRUE(s.is_ok()) << s.message();
}

TEST_F(SslConfigTest, RejectHandshakeServerNeedsNoCertificate) {
    core::Status s = load_server("ssl_reject_handshake on;");
    EXPECT_TRUE(s.is_ok()) << s.message();
}

TEST_F(SslConfigTest, OtherDirectivesRefusals) {
    EXPECT_EQ(server_error(std::string(kCert) + " ssl_verify_client on;"),
              "no ssl_client_certificate or ssl_trusted_certificate for ssl_verify_client" + at(4));
    EXPECT_THAT(server_error(std::string(kCert) + " ssl_verify_client maybe;"),
                HasSubstr("invalid value \"maybe\" in \"ssl_verify_client\""));
    EXPECT_THAT(server_error(std::string(kCert) + " ssl_session_ticket_key a.crt;"),
                HasSubstr("a.crt\" must be 48 or 80 bytes"));
    EXPECT_THAT(server_error(std::string(kCert) + " ssl_password_file missing;"),
                HasSubstr("open() \"" + dir_.file("missing") + "\" failed"));
    EXPECT_THAT(server_error(std::string(kCert) + " ssl on;"),
                HasSubstr("\"ssl\" is not supported by halo"));
}

TEST_F(SslConfigTest, AcceptsEverySessionCacheForm) {
    for (const char* form :
         {"off", "none", "builtin", "builtin:20", "shared:X:64k", "builtin shared:Y:1m"}) {
        core::Status s = load_server(std::string(kCert) + " ssl_session_cache " + form + ";");
        EXPECT_TRUE(s.is_ok()) << form << ": " << s.message();
    }
}

TEST_F(SslConfigTest, CertificateInheritedFromHttpLevel) {
    core::Status s = load(
        "http {\n ssl_certificate a.crt;\n ssl_certificate_key a.key;\n"
        " server {\n  listen 127.0.0.1:8443 ssl;\n }\n"
        " server {\n  listen 127.0.0.1:8444 ssl;\n  ssl_certificate b.crt;\n"
        "  ssl_certificate_key b.key;\n }\n}\n");
    EXPECT_TRUE(s.is_ok()) << s.message();
}

TEST_F(SslConfigTest, SslListenNeedsCertificate) {
    EXPECT_EQ(server_error(""),
              "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive" + at(3));
}

TEST_F(SslConfigTest, OnlyTheDefaultServerNeedsCertificate) {
    // A server without one keeps the default server's certificate (SNI finds no other).
    core::Status s = load(
        "http {\n server {\n  listen 127.0.0.1:8443 ssl;\n  ssl_certificate a.crt;\n"
        "  ssl_certificate_key a.key;\n }\n"
        " server {\n  listen 127.0.0.1:8443 ssl;\n  server_name b;\n }\n}\n");
    EXPECT_TRUE(s.is_ok()) << s.message();
    std::string e = error(
        "http {\n server {\n  listen 127.0.0.1:8443 ssl;\n }\n"
        " server {\n  listen 127.0.0.1:8443 ssl;\n  server_name b;\n  ssl_certificate a.crt;\n"
        "  ssl_certificate_key a.key;\n }\n}\n");
    EXPECT_EQ(e, "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive" + at(3));
}

TEST_F(SslConfigTest, CertificateNeedsKey) {
    EXPECT_EQ(server_error("ssl_certificate a.crt;"),
              "no \"ssl_certificate_key\" is defined for certificate \"" + dir_.file("a.crt") +
                  "\"" + at(4));
}

TEST_F(SslConfigTest, MissingCertificateFileNamed) {
    std::string e = server_error("ssl_certificate nope.crt; ssl_certificate_key a.key;");
    EXPECT_THAT(e, HasSubstr("cannot load certificate \"" + dir_.file("nope.crt") + "\""));
    EXPECT_THAT(e, HasSubstr("No such file or directory"));
    EXPECT_THAT(e, HasSubstr(at(4)));
}

TEST_F(SslConfigTest, MissingKeyFileNamed) {
    std::string e = server_error("ssl_certificate a.crt; ssl_certificate_key nope.key;");
    EXPECT_THAT(e, HasSubstr("cannot load certificate key \"" + dir_.file("nope.key") + "\""));
    EXPECT_THAT(e, HasSubstr(at(4)));
}

TEST_F(SslConfigTest, KeyOfAnotherCertificateRefused) {
    std::string e = server_error("ssl_certificate a.crt; ssl_certificate_key b.key;");
    EXPECT_THAT(e, HasSubstr("cannot load certificate key \"" + dir_.file("b.key") + "\""));
    EXPECT_THAT(e, HasSubstr("mismatch"));
}

TEST_F(SslConfigTest, NotACertificateRefused) {
    dir_.write("junk.crt", "not a certificate\n");
    std::string e = server_error("ssl_certificate junk.crt; ssl_certificate_key a.key;");
    EXPECT_THAT(e, HasSubstr("cannot load certificate \"" + dir_.file("junk.crt") + "\""));
    EXPECT_THAT(e, HasSubstr("(SSL: error:"));
}

TEST_F(SslConfigTest, BadCertificateFailsEvenWithoutSslListen) {
    std::string e = error(
        "http {\n server {\n  listen 127.0.0.1:8080;\n  ssl_certificate nope.crt;\n"
        "  ssl_certificate_key a.key;\n }\n}\n");
    EXPECT_THAT(e, HasSubstr("cannot load certificate"));
}

TEST_F(SslConfigTest, RejectsBadProtocols) {
    EXPECT_THAT(server_error(std::string(kCert) + " ssl_protocols TLSv1.2 SSLv3;"),
                HasSubstr("invalid value \"SSLv3\" in \"ssl_protocols\" directive"));
    EXPECT_THAT(server_error(std::string(kCert) + " ssl_protocols TLSv1.2; ssl_protocols TLSv1.3;"),
                HasSubstr("\"ssl_protocols\" directive is duplicate" + at(4)));
}

TEST_F(SslConfigTest, RejectsBadCiphers) {
    EXPECT_THAT(server_error(std::string(kCert) + " ssl_ciphers NOSUCHCIPHER;"),
                HasSubstr("SSL_CTX_set_cipher_list(\"NOSUCHCIPHER\") failed"));
}

TEST_F(SslConfigTest, RejectsBadSessionCaches) {
    auto cache_error = [&](const std::string& args) {
        return server_error(std::string(kCert) + " ssl_session_cache " + args + ";");
    };
    EXPECT_EQ(cache_error("sometimes"), "invalid session cache \"sometimes\"" + at(4));
    EXPECT_EQ(cache_error("shared:SSL"), "invalid session cache \"shared:SSL\"" + at(4));
    EXPECT_EQ(cache_error("shared:SSL:lots"), "invalid zone size \"lots\"" + at(4));
    EXPECT_EQ(cache_error("shared:SSL:16k"), "zone \"SSL\" is too small (32k at least)" + at(4));
    EXPECT_EQ(cache_error("builtin:x"), "invalid session cache size \"x\"" + at(4));
    EXPECT_EQ(cache_error("off builtin"),
              "\"off\" cannot be combined with another session cache" + at(4));
    EXPECT_THAT(cache_error("shared:A:1m shared:B:1m"), HasSubstr("one shared cache at most"));
}

TEST_F(SslConfigTest, SharedZoneSizeMustAgree) {
    std::string e = error(
        "http {\n server {\n  listen 127.0.0.1:8443;\n  ssl_session_cache shared:S:1m;\n }\n"
        " server {\n  listen 127.0.0.1:8444;\n  ssl_session_cache shared:S:2m;\n }\n}\n");
    EXPECT_EQ(e,
              "the size 2097152 of shared memory zone \"S\" conflicts with already declared size "
              "1048576" +
                  at(8));
    core::Status s = load(
        "http {\n ssl_session_cache shared:S:1m;\n server {\n  listen 127.0.0.1:8443;\n }\n"
        " server {\n  listen 127.0.0.1:8444;\n  ssl_session_cache shared:S:1m;\n }\n}\n");
    EXPECT_TRUE(s.is_ok()) << s.message();
}

TEST_F(SslConfigTest, DirectivesOnlyAtHttpAndServerLevel) {
    EXPECT_THAT(error("http {\n server {\n  location / {\n   ssl_protocols TLSv1.2;\n  }\n }\n}\n"),
                HasSubstr("\"ssl_protocols\" directive is not allowed here"));
}

// ---- the transport over a socketpair ----

class SslTransportTest : public SslConfigTest {
  protected:
    void SetUp() override {
        SslConfigTest::SetUp();
        signal(SIGPIPE, SIG_IGN);  // as in every halo process: writes to a gone peer fail
        server_ctx_ = SSL_CTX_new(TLS_server_method());
        client_ctx_ = SSL_CTX_new(TLS_client_method());
        ASSERT_EQ(
            SSL_CTX_use_certificate_file(server_ctx_, dir_.file("a.crt").c_str(), SSL_FILETYPE_PEM),
            1);
        ASSERT_EQ(
            SSL_CTX_use_PrivateKey_file(server_ctx_, dir_.file("a.key").c_str(), SSL_FILETYPE_PEM),
            1);
        ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds_), 0);
    }
    void TearDown() override {
        server_.reset();
        client_.reset();
        SSL_CTX_free(server_ctx_);
        SSL_CTX_free(client_ctx_);
        for (int fd : fds_) {
            if (fd >= 0) {
                close(fd);
            }
        }
    }
    /// Runs both handshakes until both are done (or one fails).
    bool handshake() {
        server_ = SslTransport::accept(server_ctx_, fds_[0], 1, nullptr);
        client_ = SslTransport::connect(client_ctx_, fds_[1], 2, "a.test");
        ev::TransportStatus s = ev::TransportStatus::kWantRead;
        ev::TransportStatus c = ev::TransportStatus::kWantRead;
        for (int i = 0; i < 100 && (s != ev::TransportStatus::kOk || c != ev::TransportStatus::kOk);
             i++) {
            if (c != ev::TransportStatus::kOk) {
                c = client_->handshake();
            }
            if (s != ev::TransportStatus::kOk) {
                s = server_->handshake();
            }
        }
        return s == ev::TransportStatus::kOk && c == ev::TransportStatus::kOk;
    }

    SSL_CTX* server_ctx_ = nullptr;
    SSL_CTX* client_ctx_ = nullptr;
    int fds_[2] = {-1, -1};
    std::unique_ptr<SslTransport> server_;
    std::unique_ptr<SslTransport> client_;
};

TEST_F(SslTransportTest, HandshakeAndDataBothWays) {
    ASSERT_TRUE(handshake());
    size_t n = 0;
    ASSERT_EQ(client_->write("GET / HTTP/1.1\r\n\r\n", n), ev::TransportStatus::kOk);
    EXPECT_EQ(n, 18u);
    char buf[64];
    ASSERT_EQ(server_->read(buf, n), ev::TransportStatus::kOk);
    EXPECT_EQ(std::string(buf, n), "GET / HTTP/1.1\r\n\r\n");
    EXPECT_EQ(server_->read(buf, n), ev::TransportStatus::kWantRead);  // drained
    ASSERT_EQ(server_->write("HTTP/1.1 200 OK\r\n", n), ev::TransportStatus::kOk);
    ASSERT_EQ(client_->read(buf, n), ev::TransportStatus::kOk);
    EXPECT_EQ(std::string(buf, n), "HTTP/1.1 200 OK\r\n");
    server_->shutdown();  // close_notify: the client sees a clean end
    EXPECT_EQ(client_->read(buf, n), ev::TransportStatus::kEof);
}

TEST_F(SslTransportTest, PlainClientIsDetected) {
    server_ = SslTransport::accept(server_ctx_, fds_[0], 1, nullptr);
    EXPECT_EQ(server_->handshake(), ev::TransportStatus::kWantRead);  // nothing sent yet
    ASSERT_EQ(write(fds_[1], "GET / HTTP/1.1\r\n", 16), 16);
    EXPECT_EQ(server_->handshake(), ev::TransportStatus::kPlaintext);
    char buf[16];
    EXPECT_EQ(read(fds_[0], buf, sizeof(buf)), 16);  // the byte was only peeked at
}

TEST_F(SslTransportTest, ClientGoneMidHandshake) {
    server_ = SslTransport::accept(server_ctx_, fds_[0], 1, nullptr);
    ASSERT_EQ(write(fds_[1], "\x16\x03\x01\x02\x00\x01", 6), 6);  // a cut ClientHello
    close(fds_[1]);
    fds_[1] = -1;
    ev::TransportStatus s = server_->handshake();
    EXPECT_TRUE(s == ev::TransportStatus::kEof || s == ev::TransportStatus::kError)
        << static_cast<int>(s);
}

TEST_F(SslTransportTest, GarbageAfterRecordHeaderFails) {
    server_ = SslTransport::accept(server_ctx_, fds_[0], 1, nullptr);
    std::string junk = std::string("\x16\x03\x01\x00\x10", 5) + std::string(16, 'x');
    ASSERT_EQ(write(fds_[1], junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
    EXPECT_EQ(server_->handshake(), ev::TransportStatus::kError);
}

}  // namespace
}  // namespace mod::http_ssl
