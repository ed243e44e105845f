// proxy_ssl_password_file, proxy_ssl_conf_command and proxy_ssl_crl as `halo -t` loads them
// (the client context of an https upstream is built at load, as nginx does): an encrypted
// client key opened by the right line of the password file, and nginx's errors otherwise.
#include <string>

#include "support/harness.h"

namespace halo_test {
namespace {

class ProxySslMoreTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_proxy")) {
            GTEST_SKIP() << "the proxy module is not compiled in";
        }
        RunResult r = run_command({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                   "ec_paramgen_curve:P-256", "-keyout", halo_.path("enc.key"),
                                   "-out", halo_.path("client.crt"), "-days", "1", "-subj",
                                   "/CN=client", "-passout", "pass:s3cret"});
        ASSERT_EQ(r.status, 0) << r;
    }
    RunResult check(std::string_view location_body) {
        halo_.write_conf("events {}\nhttp { server { location / {\n" + std::string(location_body) +
                         "\nproxy_pass https://127.0.0.1:1; } } }\n");
        return halo_.run({"-t"});
    }
    Halo halo_;
};

constexpr std::string_view kCert =
    "proxy_ssl_certificate client.crt; proxy_ssl_certificate_key enc.key;\n";

TEST_F(ProxySslMoreTest, APasswordFileOpensAnEncryptedKey) {
    halo_.write("pass", "wrong\ns3cret\n");
    RunResult r = check(std::string(kCert) + "proxy_ssl_password_file pass;");
    EXPECT_EQ(r.status, 0) << r;
}

TEST_F(ProxySslMoreTest, AnEncryptedKeyWithoutItsPasswordIsAnError) {
    RunResult r = check(kCert);
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("cannot load certificate key"), std::string::npos) << r;
    halo_.write("pass", "wrong\n");
    r = check(std::string(kCert) + "proxy_ssl_password_file pass;");
    EXPECT_NE(r.err.find("cannot load certificate key"), std::string::npos) << r;
    r = check(std::string(kCert) + "proxy_ssl_password_file missing;");
    EXPECT_NE(r.err.find("missing\" failed"), std::string::npos) << r;
}

TEST_F(ProxySslMoreTest, ConfCommandsGoToOpenSsl) {
    RunResult r = check("proxy_ssl_conf_command Options -SessionTicket;");
    EXPECT_EQ(r.status, 0) << r;
    r = check("proxy_ssl_conf_command NoSuchCommand on;");
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("SSL_CONF_cmd(\"NoSuchCommand\", \"on\") failed"), std::string::npos) << r;
}

TEST_F(ProxySslMoreTest, ACrlThatCannotBeReadIsAnError) {
    RunResult r = check("proxy_ssl_crl missing.crl;");
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("cannot load CRL"), std::string::npos) << r;
}

}  // namespace
}  // namespace halo_test
