// The ssl_* directives beyond certificates and protocols, through the real binary with
// openssl s_client and certificates made at test time: ssl_dhparam, ssl_ecdh_curve,
// ssl_session_ticket_key (resumption across a restart, rotation), ssl_stapling_file (an OCSP
// response made by `openssl ocsp`), ssl_stapling without a file (warnings), ssl_reject_handshake,
// ssl_password_file, ssl_conf_command, ssl_buffer_size (record sizes), ssl_early_data
// ($ssl_early_data), RSA and ECDSA certificates in one server, and the refusals (`ssl on`,
// certificates named by variables).
#include <algorithm>
#include <string>

#include "support/harness.h"

namespace halo_test {
namespace {

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
        s.replace(at, from.size(), to);
    }
    return s;
}

/// Made once in the suite's folder: ca; srv (RSA, a.test, by ca, naming an OCSP responder)
/// and its OCSP response resp.der; self (EC, self-signed); enc.key (srv.key under
/// "secret"); ticket keys k48a, k48b (48 bytes) and k80 (80); dh.pem (ffdhe2048).
constexpr std::string_view kMakeFiles = R"(set -e
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=Test-CA 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=a.test 2>/dev/null
printf 'authorityInfoAccess=OCSP;URI:http://127.0.0.1:9/\n' > srv.ext
openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -set_serial 100 -days 2 -extfile srv.ext -out srv.crt 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout self.key -out self.crt -days 2 -subj /CN=self.test 2>/dev/null
openssl pkey -in srv.key -aes256 -passout pass:secret -out enc.key
openssl ocsp -issuer ca.crt -cert srv.crt -reqout req.der -no_nonce >/dev/null 2>&1
printf 'V\t301231000000Z\t\t64\tunknown\t/CN=a.test\n' > index.txt
openssl ocsp -index index.txt -rsigner ca.crt -rkey ca.key -CA ca.crt -reqin req.der -respout resp.der -ndays 1 >/dev/null 2>&1
head -c 48 /dev/urandom > k48a
head -c 48 /dev/urandom > k48b
head -c 80 /dev/urandom > k80
head -c 50 /dev/urandom > k50
openssl genpkey -genparam -algorithm DH -pkeyopt dh_param:ffdhe2048 -out dh.pem 2>/dev/null
printf 'GET / HTTP/1.0\r\nHost: a.test\r\n\r\n' > get.txt
printf 'GET /big HTTP/1.0\r\nHost: a.test\r\n\r\n' > big.txt
)";

/// {{FILES}} is the suite's folder; {{HTTP}} directives at http level, {{SRV}} in the server.
constexpr std::string_view kConf = R"(
daemon off;
worker_processes 1;
error_log logs/error.log info;

events {
    worker_connections 64;
}

http {
    access_log off;
    {{HTTP}}

    server {
        listen 127.0.0.1:%%PORT_0%% ssl;
        server_name a.test;
        {{SRV}}
        location / {
            return 200 "early=$ssl_early_data reused=$ssl_session_reused curve=$ssl_curve cipher=$ssl_cipher proto=$ssl_protocol\n";
        }
        location /big {
            return 200 "{{BIG}}";
        }
    }
}
)";

constexpr std::string_view kSrvCert =
    "ssl_certificate {{FILES}}/srv.crt; ssl_certificate_key {{FILES}}/srv.key;";

class TlsDirectivesTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        if (!halo_has_module("http_ssl") || !halo_has_module("http_rewrite")) {
            return;
        }
        files_ = new TempDir("halo-tls-files");
        RunResult r = run_command({"sh", "-c", std::string(kMakeFiles)}, 60s, files_->path());
        if (r.status != 0) {
            setup_error_ = "making the files failed: " + ::testing::PrintToString(r);
        }
    }
    static void TearDownTestSuite() {
        delete files_;
        files_ = nullptr;
    }
    void SetUp() override {
        if (!halo_has_module("http_ssl") || !halo_has_module("http_rewrite")) {
            GTEST_SKIP() << "the http_ssl or http_rewrite module is not compiled in";
        }
        ASSERT_EQ(setup_error_, "");
    }

    static std::string files() { return files_->path(); }

    static std::string conf(std::string_view http, std::string_view srv) {
        std::string c = replace_all(std::string(kConf), "{{HTTP}}", http);
        c = replace_all(c, "{{SRV}}", srv);
        c = replace_all(c, "{{BIG}}", std::string(6000, 'x'));
        return replace_all(c, "{{FILES}}", files());
    }

    ::testing::AssertionResult start(Halo& h, std::string_view http,
                                     std::string_view srv = kSrvCert) {
        h.write_conf(conf(http, srv));
        return h.start();
    }
    ::testing::AssertionResult start(std::string_view http, std::string_view srv = kSrvCert) {
        return start(halo_, http, srv);
    }

    /// `halo -t` on the config; the result.
    RunResult check(std::string_view http, std::string_view srv = kSrvCert) {
        halo_.write_conf(conf(http, srv));
        return halo_.run({"-t"});
    }

    /// openssl s_client to `h` with `args`, sending `request` (a file of the folder).
    static RunResult s_client(Halo& h, const std::string& args,
                              const std::string& request = "get.txt") {
        std::string cmd = "exec openssl s_client -connect 127.0.0.1:" + std::to_string(h.port(0)) +
                          " " + args + " -ign_eof < '" + files() + "/" + request + "'";
        return run_command({"sh", "-c", cmd}, 20s);
    }
    RunResult s_client(const std::string& args, const std::string& request = "get.txt") {
        return s_client(halo_, args, request);
    }

    Halo halo_;
    static inline TempDir* files_ = nullptr;
    static inline std::string setup_error_;
};

TEST_F(TlsDirectivesTest, DhparamEnablesDheCiphers) {
    const std::string dhe = "-tls1_2 -cipher DHE-RSA-AES128-GCM-SHA256";
    ASSERT_TRUE(start(""));
    RunResult without = s_client(dhe);
    EXPECT_EQ(without.out.find("cipher=DHE-RSA-AES128-GCM-SHA256"), std::string::npos) << without;
    Halo with;
    ASSERT_TRUE(start(with, "ssl_dhparam {{FILES}}/dh.pem;"));
    RunResult r = s_client(with, dhe);
    EXPECT_NE(r.out.find("Server Temp Key: DH, 2048 bits"), std::string::npos) << r;
    EXPECT_NE(r.out.find("cipher=DHE-RSA-AES128-GCM-SHA256"), std::string::npos) << r;
    RunResult bad = check("ssl_dhparam {{FILES}}/get.txt;");
    EXPECT_NE(bad.err.find("PEM_read_bio_DHparams(\"" + files() + "/get.txt\") failed"),
              std::string::npos)
        << bad;
}

TEST_F(TlsDirectivesTest, EcdhCurveLimitsTheGroups) {
    ASSERT_TRUE(start("ssl_ecdh_curve secp384r1:prime256v1;"));
    RunResult r = s_client("");
    EXPECT_NE(r.out.find("curve=secp384r1 "), std::string::npos) << r;
    RunResult p256 = s_client("-groups prime256v1");
    EXPECT_NE(p256.out.find("curve=prime256v1 "), std::string::npos) << p256;
    RunResult x25519 = s_client("-groups X25519");
    EXPECT_EQ(x25519.out.find("curve="), std::string::npos) << x25519;  // no common group
    RunResult bad = check("ssl_ecdh_curve nope;");
    EXPECT_NE(bad.err.find("SSL_CTX_set1_curves_list(\"nope\") failed"), std::string::npos) << bad;
}

TEST_F(TlsDirectivesTest, TicketKeysResumeAcrossRestartAndRotate) {
    std::string session = halo_.path("session.pem");
    {
        Halo first;
        ASSERT_TRUE(start(first, "ssl_session_ticket_key {{FILES}}/k48a;"));
        RunResult r = s_client(first, "-tls1_2 -sess_out " + session);
        ASSERT_NE(r.out.find("reused=."), std::string::npos) << r;
    }
    {
        // A new key first, the old one still decrypts: resumed (and a new ticket issued).
        Halo second;
        ASSERT_TRUE(start(second,
                          "ssl_session_ticket_key {{FILES}}/k80; "
                          "ssl_session_ticket_key {{FILES}}/k48a;"));
        RunResult r = s_client(second, "-tls1_2 -sess_in " + session);
        EXPECT_NE(r.out.find("reused=r"), std::string::npos) << r;
    }
    {
        // The old key dropped: a full handshake.
        Halo third;
        ASSERT_TRUE(start(third, "ssl_session_ticket_key {{FILES}}/k48b;"));
        RunResult r = s_client(third, "-tls1_2 -sess_in " + session);
        EXPECT_NE(r.out.find("reused=."), std::string::npos) << r;
    }
    RunResult bad = check("ssl_session_ticket_key {{FILES}}/k50;");
    EXPECT_NE(bad.err.find("\"" + files() + "/k50\" must be 48 or 80 bytes"), std::string::npos)
        << bad;
}

TEST_F(TlsDirectivesTest, StaplingFileIsStapled) {
    ASSERT_TRUE(start(
        "", std::string(kSrvCert) + " ssl_stapling on; ssl_stapling_file {{FILES}}/resp.der;"));
    RunResult r = s_client("-status");
    EXPECT_NE(r.out.find("OCSP Response Status: successful"), std::string::npos) << r;
    EXPECT_NE(r.out.find("Cert Status: good"), std::string::npos) << r;
    RunResult none = s_client("");  // not asked for: not sent
    EXPECT_EQ(none.out.find("OCSP Response Status"), std::string::npos) << none;

    RunResult bad =
        check("", std::string(kSrvCert) + " ssl_stapling on; ssl_stapling_file {{FILES}}/get.txt;");
    EXPECT_NE(bad.err.find("d2i_OCSP_RESPONSE(\"" + files() + "/get.txt\") failed"),
              std::string::npos)
        << bad;
}

TEST_F(TlsDirectivesTest, StaplingWithoutFile) {
    // As nginx: ignored with a warning for a certificate whose issuer is not known...
    RunResult self = check("",
                           "ssl_certificate {{FILES}}/self.crt; "
                           "ssl_certificate_key {{FILES}}/self.key; ssl_stapling on;");
    EXPECT_EQ(self.status, 0) << self;
    EXPECT_NE(self.err.find("\"ssl_stapling\" ignored, issuer certificate not found for "
                            "certificate \"" +
                            files() + "/self.crt\""),
              std::string::npos)
        << self;
    // ...and accepted when a responder is to be asked (tls_ocsp_test.cc asks one).
    RunResult responder = check("", std::string(kSrvCert) +
                                        " ssl_stapling on; ssl_stapling_verify on;"
                                        " ssl_trusted_certificate {{FILES}}/ca.crt;");
    EXPECT_EQ(responder.status, 0) << responder;
    EXPECT_EQ(responder.err.find("ssl_stapling"), std::string::npos) << responder;
}

TEST_F(TlsDirectivesTest, RejectHandshakeOfTheDefaultServer) {
    halo_.write_conf(replace_all(
        conf("", kSrvCert),
        "    server {\n        listen 127.0.0.1:%%PORT_0%% ssl;\n        server_name a.test;",
        "    server {\n        listen 127.0.0.1:%%PORT_0%% ssl default_server;\n"
        "        ssl_reject_handshake on;\n    }\n"
        "    server {\n        listen 127.0.0.1:%%PORT_0%% ssl;\n        server_name a.test;"));
    ASSERT_TRUE(halo_.start());
    RunResult named = s_client("-servername a.test");
    EXPECT_NE(named.out.find("proto=TLSv1.3"), std::string::npos) << named;
    for (const char* args : {"-noservername", "-servername other.test"}) {
        RunResult r = s_client(args);
        EXPECT_NE(r.status, 0) << r;
        EXPECT_NE(r.err.find("unrecognized name"), std::string::npos) << r;
        EXPECT_EQ(r.out.find("proto="), std::string::npos) << r;
    }
}

TEST_F(TlsDirectivesTest, PasswordFile) {
    ASSERT_TRUE(write_file(halo_.path("pass"), "wrong\nsecret\n"));
    ASSERT_TRUE(write_file(halo_.path("wrong"), "wrong\n"));
    const std::string enc =
        "ssl_certificate {{FILES}}/srv.crt; ssl_certificate_key {{FILES}}/enc.key;";
    RunResult ok = check("ssl_password_file " + halo_.path("pass") + ";", enc);
    EXPECT_EQ(ok.status, 0) << ok;
    RunResult wrong = check("ssl_password_file " + halo_.path("wrong") + ";", enc);
    EXPECT_EQ(wrong.status, 1) << wrong;
    EXPECT_NE(wrong.err.find("cannot load certificate key \"" + files() + "/enc.key\""),
              std::string::npos)
        << wrong;
    RunResult none = check("", enc);  // no prompt on a terminal: an error
    EXPECT_FALSE(none.timed_out);
    EXPECT_EQ(none.status, 1) << none;
    ASSERT_TRUE(start("ssl_password_file " + halo_.path("pass") + ";", enc));
    EXPECT_NE(s_client("").out.find("proto=TLSv1.3"), std::string::npos);
}

TEST_F(TlsDirectivesTest, ConfCommand) {
    ASSERT_TRUE(start("ssl_conf_command Ciphersuites TLS_CHACHA20_POLY1305_SHA256;"));
    RunResult r = s_client("");
    EXPECT_NE(r.out.find("cipher=TLS_CHACHA20_POLY1305_SHA256 "), std::string::npos) << r;
    RunResult bad = check("ssl_conf_command Nope x;");
    EXPECT_NE(bad.err.find("SSL_CONF_cmd(\"Nope\", \"x\") failed"), std::string::npos) << bad;
}

/// The largest TLS record the server sent (from s_client -msg's record headers).
size_t largest_record(const std::string& msg) {
    size_t largest = 0;
    for (size_t at = msg.find("<<< TLS 1.2, RecordHeader"); at != std::string::npos;
         at = msg.find("<<< TLS 1.2, RecordHeader", at + 1)) {
        size_t line = msg.find('\n', at);
        if (line == std::string::npos) {
            break;
        }
        // "<<< TLS 1.2, RecordHeader [length 0005]" then "    17 03 03 04 11"
        std::string bytes = msg.substr(line + 1, msg.find('\n', line + 1) - line - 1);
        unsigned a = 0, b = 0, c = 0, hi = 0, lo = 0;
        if (sscanf(bytes.c_str(), " %x %x %x %x %x", &a, &b, &c, &hi, &lo) == 5 && a == 0x17) {
            largest = std::max<size_t>(largest, hi * 256 + lo);
        }
    }
    return largest;
}

TEST_F(TlsDirectivesTest, BufferSizeLimitsRecords) {
    ASSERT_TRUE(start("ssl_buffer_size 1k;"));
    RunResult small = s_client("-tls1_3 -msg", "big.txt");
    ASSERT_NE(small.out.find(std::string(100, 'x')), std::string::npos) << small;
    size_t limited = largest_record(small.out);
    EXPECT_GT(limited, 1000u) << small.out;
    EXPECT_LE(limited, 1024u + 17u) << small.out;  // + content type and AEAD tag
    Halo dflt;
    ASSERT_TRUE(start(dflt, ""));
    RunResult big = s_client(dflt, "-tls1_3 -msg", "big.txt");
    EXPECT_GT(largest_record(big.out), 6000u) << big.out;
}

TEST_F(TlsDirectivesTest, EarlyData) {
    ASSERT_TRUE(start("ssl_early_data on; ssl_session_cache builtin;"));
    std::string session = halo_.path("session.pem");
    RunResult first = s_client("-sess_out " + session);
    EXPECT_NE(first.out.find("early= "), std::string::npos) << first;
    std::string cmd = "exec openssl s_client -connect 127.0.0.1:" + std::to_string(halo_.port(0)) +
                      " -sess_in " + session + " -early_data " + files() +
                      "/get.txt -ign_eof < /dev/null";
    RunResult early = run_command({"sh", "-c", cmd}, 20s);
    EXPECT_NE(early.out.find("Early data was accepted"), std::string::npos) << early;
    EXPECT_NE(early.out.find("early=1 reused=r"), std::string::npos) << early;
    RunResult v12 = s_client("-tls1_2");  // no early data in TLS 1.2: a normal handshake
    EXPECT_NE(v12.out.find("early= reused=. curve=X25519 cipher=ECDHE-"), std::string::npos) << v12;

    Halo off;  // ssl_early_data off: refused, as the client learns from the ticket
    ASSERT_TRUE(start(off, "ssl_session_cache builtin;"));
    RunResult t = s_client(off, "-sess_out " + session);
    EXPECT_EQ(t.out.find("Max Early Data: 16384"), std::string::npos) << t;
}

TEST_F(TlsDirectivesTest, RsaAndEcdsaCertificates) {
    // Two certificates in one server: the client's signature algorithms pick one.
    ASSERT_TRUE(start("", std::string(kSrvCert) + " ssl_certificate {{FILES}}/self.crt;"
                                                  " ssl_certificate_key {{FILES}}/self.key;"));
    RunResult ec = s_client("-sigalgs ecdsa_secp256r1_sha256");
    EXPECT_NE(ec.out.find("subject=CN = self.test"), std::string::npos) << ec;
    RunResult rsa = s_client("-sigalgs rsa_pss_rsae_sha256");
    EXPECT_NE(rsa.out.find("subject=CN = a.test"), std::string::npos) << rsa;
}

TEST_F(TlsDirectivesTest, Refusals) {
    RunResult ssl_on = check("", std::string(kSrvCert) + " ssl on;");
    EXPECT_EQ(ssl_on.status, 1) << ssl_on;
    EXPECT_NE(ssl_on.err.find("\"ssl\" is not supported by halo: use the \"ssl\" parameter of "
                              "the \"listen\" directive"),
              std::string::npos)
        << ssl_on;
    RunResult vars = check("",
                           "ssl_certificate {{FILES}}/$ssl_server_name.crt; "
                           "ssl_certificate_key {{FILES}}/srv.key;");
    EXPECT_NE(vars.err.find("\"ssl_certificate\" with variables is not supported by halo"),
              std::string::npos)
        << vars;
}

}  // namespace
}  // namespace halo_test
