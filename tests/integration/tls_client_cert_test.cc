// Client certificates through the real binary, with curl --cert and certificates made at test
// time by openssl (a CA, a client it signed, a client of another CA, a revoked client and its
// CRL): ssl_verify_client on|optional|optional_no_ca, the 400 pages nginx sends for a missing
// or a bad certificate, error_page 495/496, ssl_crl, ssl_verify_depth, ssl_trusted_certificate, the
// $ssl_client_* variables (and the connection's $ssl_* variables) compared with Debian's nginx on
// the same config, and the config errors.
#include <unistd.h>

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

/// Made once per suite in {{CERTS}}: ca (Test-CA), srv (a.test, by ca), client (by ca),
/// rogue (by Other-CA), revoked (by ca, in crl.pem), leaf (by inter, by ca; leaf.crt carries
/// the intermediate).
constexpr std::string_view kMakeCerts = R"(set -e
key() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $1.key -out $1.csr -subj "$2" 2>/dev/null; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=Test-CA 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key -out other.crt -days 2 -subj /CN=Other-CA 2>/dev/null
key srv /CN=a.test
openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -set_serial 100 -days 2 -out srv.crt 2>/dev/null
key client "/C=FR/O=Halo, Inc./CN=client one"
openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -set_serial 0x1A2B -days 2 -out client.crt 2>/dev/null
key rogue /CN=rogue
openssl x509 -req -in rogue.csr -CA other.crt -CAkey other.key -set_serial 7 -days 2 -out rogue.crt 2>/dev/null
key revoked /CN=revoked
openssl x509 -req -in revoked.csr -CA ca.crt -CAkey ca.key -set_serial 99 -days 2 -out revoked.crt 2>/dev/null
printf '[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\ncrlnumber=crlnumber\ndefault_md=sha256\ndefault_crl_days=1\n' > ca.cnf
: > index.txt
echo 01 > crlnumber
openssl ca -config ca.cnf -keyfile ca.key -cert ca.crt -revoke revoked.crt 2>/dev/null
openssl ca -config ca.cnf -keyfile ca.key -cert ca.crt -gencrl -out crl.pem 2>/dev/null
key inter /CN=Inter-CA
printf 'basicConstraints=critical,CA:true\n' > ca.ext
openssl x509 -req -in inter.csr -CA ca.crt -CAkey ca.key -set_serial 5 -days 2 -extfile ca.ext -out inter.crt 2>/dev/null
key leaf /CN=leaf
openssl x509 -req -in leaf.csr -CA inter.crt -CAkey inter.key -set_serial 6 -days 2 -out leaf1.crt 2>/dev/null
cat leaf1.crt inter.crt > leaf.crt
)";

/// {{CERTS}}, {{VERIFY}} (directives of the server) are filled per test. Shared with nginx
/// for the differential test (no halo-only directive).
constexpr std::string_view kConf = R"(
daemon off;
{{PID}}
worker_processes 1;
error_log logs/error.log info;

events {
    worker_connections 64;
}

http {
    access_log off;
    ssl_protocols TLSv1.2 TLSv1.3;

    server {
        listen 127.0.0.1:%%PORT_0%% ssl;
        server_name a.test;
        ssl_certificate {{CERTS}}/srv.crt;
        ssl_certificate_key {{CERTS}}/srv.key;
        {{VERIFY}}
        location / {
            return 200 "verify=$ssl_client_verify|s_dn=$ssl_client_s_dn|i_dn=$ssl_client_i_dn|s_legacy=$ssl_client_s_dn_legacy|i_legacy=$ssl_client_i_dn_legacy|serial=$ssl_client_serial|fp=$ssl_client_fingerprint|start=$ssl_client_v_start|end=$ssl_client_v_end|remain=$ssl_client_v_remain|proto=$ssl_protocol|cipher=$ssl_cipher|https=$https|curve=$ssl_curve|curves=$ssl_curves|alpn=$ssl_alpn_protocol|ciphers=$ssl_ciphers|sni=$ssl_server_name|reused=$ssl_session_reused|early=$ssl_early_data\n";
        }
        location /raw {
            return 200 "$ssl_client_raw_cert";
        }
        location /tabbed {
            return 200 "$ssl_client_cert";
        }
        location /escaped {
            return 200 "$ssl_client_escaped_cert";
        }
        location /code {
            return 200 "error page\n";
        }
    }
}
)";

class TlsClientCertTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        if (!halo_has_module("http_ssl") || !halo_has_module("http_rewrite")) {
            return;
        }
        certs_ = new TempDir("halo-client-certs");
        RunResult r = run_command({"sh", "-c", std::string(kMakeCerts)}, 60s, certs_->path());
        if (r.status != 0) {
            setup_error_ = "making the certificates failed: " + ::testing::PrintToString(r);
        }
    }
    static void TearDownTestSuite() {
        delete certs_;
        certs_ = nullptr;
    }
    void SetUp() override {
        if (!halo_has_module("http_ssl") || !halo_has_module("http_rewrite")) {
            GTEST_SKIP() << "the http_ssl or http_rewrite module is not compiled in";
        }
        ASSERT_EQ(setup_error_, "");
    }

    static std::string certs() { return certs_->path(); }

    static std::string conf(std::string_view verify, std::string_view pid = "") {
        std::string c = replace_all(std::string(kConf), "{{VERIFY}}", verify);
        c = replace_all(c, "{{PID}}", pid);
        return replace_all(c, "{{CERTS}}", certs());
    }

    ::testing::AssertionResult start(std::string_view verify) {
        halo_.write_conf(conf(verify));
        return halo_.start();
    }

    /// curl -k to `port` with the client certificate `name` ("" none); -i: head and body.
    static RunResult curl(uint16_t port, const std::string& name, const std::string& path = "/") {
        std::vector<std::string> args = {"curl", "-sS", "-k", "-i", "--max-time", "20"};
        if (!name.empty()) {
            args.insert(args.end(), {"--cert", certs() + "/" + name + ".crt", "--key",
                                     certs() + "/" + name + ".key"});
        }
        args.push_back("https://127.0.0.1:" + std::to_string(port) + path);
        return run_command(args, 30s);
    }
    RunResult get(const std::string& name, const std::string& path = "/") {
        return curl(halo_.port(0), name, path);
    }

    static std::string body(const RunResult& r) {
        size_t at = r.out.find("\r\n\r\n");
        return at == std::string::npos ? "" : r.out.substr(at + 4);
    }
    static int status(const RunResult& r) {
        return r.out.size() > 12 ? std::atoi(r.out.substr(9, 3).c_str()) : 0;
    }

    Halo halo_;
    static inline TempDir* certs_ = nullptr;
    static inline std::string setup_error_;
};

constexpr std::string_view kVerifyOn =
    "ssl_client_certificate {{CERTS}}/ca.crt; ssl_verify_client on;";

TEST_F(TlsClientCertTest, VerifyOnAcceptsTheCaClientOnly) {
    ASSERT_TRUE(start(kVerifyOn));
    RunResult ok = get("client");
    ASSERT_EQ(ok.status, 0) << ok;
    EXPECT_EQ(status(ok), 200) << ok.out;
    EXPECT_NE(body(ok).find("verify=SUCCESS|s_dn=CN=client one,O=Halo\\, Inc.,C=FR|"
                            "i_dn=CN=Test-CA|s_legacy=/C=FR/O=Halo, Inc./CN=client one|"
                            "i_legacy=/CN=Test-CA|serial=1A2B|"),
              std::string::npos)
        << ok.out;

    // No certificate: nginx's 400 page, and the connection closes.
    RunResult none = get("");
    EXPECT_EQ(status(none), 400) << none.out;
    EXPECT_NE(body(none).find("<title>400 No required SSL certificate was sent</title>"),
              std::string::npos)
        << none.out;
    EXPECT_NE(body(none).find("<center>No required SSL certificate was sent</center>"),
              std::string::npos);
    EXPECT_NE(none.out.find("Connection: close"), std::string::npos) << none.out;

    // Another CA's client: the certificate error page.
    RunResult rogue = get("rogue");
    EXPECT_EQ(status(rogue), 400) << rogue.out;
    EXPECT_NE(body(rogue).find("<title>400 The SSL certificate error</title>"), std::string::npos)
        << rogue.out;
    EXPECT_TRUE(wait_until([&] {
        return !log_lines_with(halo_.error_log(), "client sent no required SSL certificate")
                    .empty() &&
               !log_lines_with(halo_.error_log(), "client SSL certificate verify error: (21:")
                    .empty();
    })) << halo_.error_log();
}

TEST_F(TlsClientCertTest, OptionalLetsNoCertificateThrough) {
    ASSERT_TRUE(start("ssl_client_certificate {{CERTS}}/ca.crt; ssl_verify_client optional;"));
    RunResult none = get("");
    EXPECT_EQ(status(none), 200) << none.out;
    EXPECT_NE(body(none).find("verify=NONE|s_dn=|"), std::string::npos) << none.out;
    RunResult rogue = get("rogue");
    EXPECT_EQ(status(rogue), 400) << rogue.out;
    RunResult ok = get("client");
    EXPECT_NE(body(ok).find("verify=SUCCESS|"), std::string::npos) << ok.out;
}

TEST_F(TlsClientCertTest, OptionalNoCaLetsAnUnknownCaThrough) {
    ASSERT_TRUE(
        start("ssl_client_certificate {{CERTS}}/ca.crt; ssl_verify_client optional_no_ca;"));
    RunResult rogue = get("rogue");
    EXPECT_EQ(status(rogue), 200) << rogue.out;
    EXPECT_NE(body(rogue).find("verify=FAILED:unable to verify the first certificate|"
                               "s_dn=CN=rogue|i_dn=CN=Other-CA|"),
              std::string::npos)
        << rogue.out;
}

TEST_F(TlsClientCertTest, ErrorPages495And496) {
    ASSERT_TRUE(start(std::string(kVerifyOn) + " error_page 495 496 =403 /code;"));
    RunResult none = get("");
    EXPECT_EQ(status(none), 403) << none.out;
    EXPECT_EQ(body(none), "error page\n");
    RunResult rogue = get("rogue");
    EXPECT_EQ(status(rogue), 403) << rogue.out;
}

TEST_F(TlsClientCertTest, CrlRevokesAClient) {
    ASSERT_TRUE(start(std::string(kVerifyOn) + " ssl_crl {{CERTS}}/crl.pem;"));
    RunResult revoked = get("revoked");
    EXPECT_EQ(status(revoked), 400) << revoked.out;
    EXPECT_NE(body(revoked).find("The SSL certificate error"), std::string::npos);
    RunResult ok = get("client");
    EXPECT_EQ(status(ok), 200) << ok.out;
    EXPECT_TRUE(wait_until([&] {
        return !log_lines_with(halo_.error_log(), "(23:certificate revoked)").empty();
    })) << halo_.error_log();
}

TEST_F(TlsClientCertTest, VerifyDepthCountsIntermediates) {
    ASSERT_TRUE(start(kVerifyOn));  // ssl_verify_depth 1: one intermediate
    RunResult leaf = get("leaf");
    EXPECT_EQ(status(leaf), 200) << leaf.out;
    EXPECT_NE(body(leaf).find("verify=SUCCESS|s_dn=CN=leaf|i_dn=CN=Inter-CA|"), std::string::npos)
        << leaf.out;
    Halo strict;
    strict.write_conf(conf(std::string(kVerifyOn) + " ssl_verify_depth 0;"));
    ASSERT_TRUE(strict.start());
    EXPECT_EQ(status(curl(strict.port(0), "leaf")), 400);
    EXPECT_EQ(status(curl(strict.port(0), "client")), 200);  // no intermediate
}

TEST_F(TlsClientCertTest, TrustedCertificateVerifiesWithoutNamingTheCa) {
    ASSERT_TRUE(start("ssl_trusted_certificate {{CERTS}}/ca.crt; ssl_verify_client optional;"));
    RunResult ok = get("client");
    EXPECT_NE(body(ok).find("verify=SUCCESS|"), std::string::npos) << ok.out;
}

TEST_F(TlsClientCertTest, VerifyWithoutCaFailsConfigTest) {
    halo_.write_conf(conf("ssl_verify_client on;"));
    RunResult r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("no ssl_client_certificate or ssl_trusted_certificate for "
                         "ssl_verify_client in " +
                         halo_.conf_path() + ":"),
              std::string::npos)
        << r;
    halo_.write_conf(conf("ssl_verify_client sometimes;"));
    r = halo_.run({"-t"});
    EXPECT_NE(r.err.find("invalid value \"sometimes\" in \"ssl_verify_client\""), std::string::npos)
        << r;
}

TEST_F(TlsClientCertTest, CertificateVariables) {
    ASSERT_TRUE(start(kVerifyOn));
    RunResult raw = get("client", "/raw");
    auto pem = read_file(certs() + "/client.crt");
    ASSERT_TRUE(pem.has_value());
    EXPECT_EQ(body(raw), *pem);
    std::string tabbed = pem->substr(0, pem->size() - 1);
    tabbed = replace_all(tabbed, "\n", "\n\t");
    EXPECT_EQ(body(get("client", "/tabbed")), tabbed);
    std::string escaped = body(get("client", "/escaped"));
    EXPECT_EQ(escaped.rfind("-----BEGIN%20CERTIFICATE-----%0A", 0), 0u) << escaped;
    EXPECT_EQ(escaped.find_first_of(" \n+/="), std::string::npos) << escaped;
    RunResult fp = run_command(
        {"openssl", "x509", "-in", certs() + "/client.crt", "-noout", "-fingerprint", "-sha1"});
    std::string want = fp.out.substr(fp.out.find('=') + 1);
    want = replace_all(want, ":", "");
    want = replace_all(want, "\n", "");
    for (char& c : want) {
        c = static_cast<char>(tolower(c));
    }
    EXPECT_NE(body(get("client")).find("|fp=" + want + "|"), std::string::npos);
}

/// Debian's nginx on the same config gives the same status and body for each client.
TEST_F(TlsClientCertTest, SameAsNginx) {
    if (access("/usr/sbin/nginx", X_OK) != 0) {
        GTEST_SKIP() << "nginx is not installed";
    }
    for (std::string_view verify : {kVerifyOn, std::string_view("ssl_client_certificate "
                                                                "{{CERTS}}/ca.crt; "
                                                                "ssl_verify_client "
                                                                "optional_no_ca;")}) {
        Halo halo;
        halo.write_conf(conf(verify));
        ASSERT_TRUE(halo.start());
        TempDir nginx_dir("nginx-client-cert");
        uint16_t nginx_port = free_port();
        std::string nconf = conf(verify, "pid " + nginx_dir / "nginx.pid;");
        nconf = replace_all(nconf, "daemon off;", "");
        nconf = replace_all(nconf, "%%PORT_0%%", std::to_string(nginx_port));
        ASSERT_TRUE(write_file(nginx_dir / "nginx.conf", nconf));
        RunResult started = run_command(
            {"/usr/sbin/nginx", "-p", nginx_dir.path() + "/", "-c", nginx_dir / "nginx.conf"});
        ASSERT_EQ(started.status, 0) << started;
        ASSERT_TRUE(wait_for_port(nginx_port));
        for (const char* client : {"client", "", "rogue", "revoked", "leaf"}) {
            for (const char* path : {"/", "/raw", "/tabbed", "/escaped"}) {
                RunResult h = curl(halo.port(0), client, path);
                RunResult n = curl(nginx_port, client, path);
                EXPECT_EQ(status(h), status(n)) << client << " " << path << "\n" << h << n;
                if (status(h) == 200) {
                    EXPECT_EQ(body(h), body(n)) << client << " " << path;
                } else {
                    // The error pages differ only in the server's name.
                    size_t cut_h = body(h).find("<hr>");
                    size_t cut_n = body(n).find("<hr>");
                    EXPECT_EQ(body(h).substr(0, cut_h), body(n).substr(0, cut_n)) << client;
                }
            }
        }
        run_command({"/usr/sbin/nginx", "-p", nginx_dir.path() + "/", "-c",
                     nginx_dir / "nginx.conf", "-s", "stop"});
        wait_port_closed(nginx_port);
    }
}

}  // namespace
}  // namespace halo_test
