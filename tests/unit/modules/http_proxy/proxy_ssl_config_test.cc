// The proxy module's https side at config time: proxy_pass https:// (port 443 by default, also
// for the implicit group), the proxy_ssl_* directives accepted, inherited and shared (one
// context for equal settings), and every rejection with its message and file:line. Without
// the http_ssl module, https:// is refused.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "core/cycle.h"
#include "http/http.h"
#include "modules/proxy/proxy.h"
#include "support/test_cert.h"
#include "support/test_modules.h"
#include "tls/client_context.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>

namespace mod::proxy {
namespace {

using ::testing::HasSubstr;

TEST(ProxySslNameTest, PortIsStripped) {
    EXPECT_EQ(ssl_name_without_port("backend"), "backend");
    EXPECT_EQ(ssl_name_without_port("backend:8443"), "backend");
    EXPECT_EQ(ssl_name_without_port("127.0.0.1:443"), "127.0.0.1");
    EXPECT_EQ(ssl_name_without_port("[::1]:8443"), "[::1]");
    EXPECT_EQ(ssl_name_without_port("[::1]"), "[::1]");
    EXPECT_EQ(ssl_name_without_port("::1"), "::1");
}

class ProxySslConfigTest : public ::testing::Test {
  protected:
    ProxySslConfigTest() : registry_(core::compiled_modules()) {}

    /// `body` inside `http { }`, as `halo -t` reads it.
    core::Status load(std::string_view body) {
        cycle_.reset();
        return support::load_cycle(registry_, dir_, "http {\n" + std::string(body) + "}\n", cycle_,
                                   nullptr, {}, true);
    }
    std::string error(std::string_view body) {
        core::Status s = load(body);
        EXPECT_FALSE(s.is_ok()) << "loaded: " << body;
        return s.message();
    }
    std::string at(int line) const {
        return " in " + dir_.file("halo.conf") + ":" + std::to_string(line);
    }
    /// The merged proxy conf of location `i` of the first server.
    const ProxyLocConf& loc(size_t i) {
        http::HttpMainConf* main = http::http_main(*cycle_);
        return core::conf_of<ProxyLocConf>(main->servers.at(0)->locations.at(i)->loc_confs);
    }

    support::TempDir dir_;
    core::ModuleRegistry registry_;
    std::unique_ptr<core::Cycle> cycle_;
};

using halo_test::make_certificate;

class ProxySslConfigCertTest : public ProxySslConfigTest {
  protected:
    void SetUp() override {
        ASSERT_TRUE(make_certificate("ca.test", dir_.file("ca.crt"), dir_.file("ca.key")));
        ASSERT_TRUE(make_certificate("client", dir_.file("client.crt"), dir_.file("client.key")));
        ASSERT_TRUE(make_certificate("other", dir_.file("other.crt"), dir_.file("other.key")));
    }
};

TEST_F(ProxySslConfigCertTest, HttpsPassDefaultsTo443) {
    ASSERT_TRUE(load("server {\n"
                     " location /a/ { proxy_pass https://127.0.0.1; }\n"
                     " location /b/ { proxy_pass https://127.0.0.1:443/x/; }\n"
                     " location /c/ { proxy_pass https://127.0.0.1:8443; }\n"
                     " location /d/ { proxy_pass http://127.0.0.2; }\n"
                     "}\n")
                    .is_ok());
    const ProxyPass& a = *loc(0).pass;
    EXPECT_TRUE(a.https);
    EXPECT_EQ(a.port, "443");
    EXPECT_EQ(a.host, "127.0.0.1");
    ASSERT_EQ(a.group->servers().size(), 1u);
    EXPECT_EQ(a.group->servers()[0].addr.text(), "127.0.0.1:443");
    EXPECT_EQ(loc(1).pass->host, "127.0.0.1");  // the default port is not part of $proxy_host
    EXPECT_EQ(loc(1).pass->uri, "/x/");
    EXPECT_EQ(loc(2).pass->host, "127.0.0.1:8443");
    EXPECT_FALSE(loc(3).pass->https);
    EXPECT_EQ(loc(3).pass->group->servers()[0].addr.text(), "127.0.0.2:80");
    // https locations get a context, plain ones none.
    EXPECT_NE(loc(0).ssl, nullptr);
    EXPECT_EQ(loc(3).ssl, nullptr);
}

TEST_F(ProxySslConfigCertTest, DefaultsAndInheritance) {
    ASSERT_TRUE(load("proxy_ssl_verify on;\n"
                     "proxy_ssl_trusted_certificate ca.crt;\n"
                     "proxy_ssl_protocols TLSv1.3;\n"
                     "server {\n"
                     " proxy_ssl_server_name on;\n"
                     " location /a/ { proxy_pass https://127.0.0.1:1; }\n"
                     " location /b/ { proxy_pass https://127.0.0.1:2; proxy_ssl_name x.test; }\n"
                     " location /c/ {\n"
                     "  proxy_pass https://127.0.0.1:3;\n"
                     "  proxy_ssl_verify off;\n"
                     "  proxy_ssl_session_reuse off;\n"
                     "  proxy_ssl_certificate client.crt;\n"
                     "  proxy_ssl_certificate_key client.key;\n"
                     "  proxy_ssl_ciphers HIGH;\n"
                     "  proxy_ssl_verify_depth 3;\n"
                     " }\n"
                     " location /d/ { proxy_pass http://127.0.0.1:4; }\n"
                     "}\n")
                    .is_ok());
    const ProxyLocConf& a = loc(0);
    EXPECT_TRUE(*a.ssl_verify);
    EXPECT_EQ(a.ssl_trusted_certificate->value, dir_.file("ca.crt"));  // the config folder's
    EXPECT_EQ(*a.ssl_protocols, tls::kTlsV1_3);
    EXPECT_TRUE(*a.ssl_server_name);
    EXPECT_TRUE(*a.ssl_session_reuse);
    EXPECT_EQ(a.ssl_ciphers->value, "DEFAULT");
    EXPECT_EQ(*a.ssl_verify_depth, 1);
    EXPECT_EQ(a.ssl_name, nullptr);  // $proxy_host
    ASSERT_NE(loc(1).ssl_name, nullptr);
    EXPECT_EQ(loc(1).ssl_name->text(), "x.test");
    // Same settings (the name is not one of them): one context.
    EXPECT_EQ(loc(0).ssl, loc(1).ssl);
    const ProxyLocConf& c = loc(2);
    EXPECT_FALSE(*c.ssl_verify);
    EXPECT_FALSE(*c.ssl_session_reuse);
    EXPECT_EQ(c.ssl_certificate->value, dir_.file("client.crt"));
    EXPECT_EQ(*c.ssl_verify_depth, 3);
    EXPECT_NE(c.ssl, nullptr);
    EXPECT_NE(c.ssl, loc(0).ssl);
    EXPECT_TRUE(*loc(3).ssl_server_name);  // inherited, unused without https
    EXPECT_EQ(loc(3).ssl, nullptr);
}

TEST_F(ProxySslConfigCertTest, UpstreamBlockWithHttps) {
    ASSERT_TRUE(load("upstream app { server 127.0.0.1:8443; server 127.0.0.1:9443; }\n"
                     "server {\n"
                     " location / { proxy_pass https://app; }\n"
                     " location /plain/ { proxy_pass http://app; }\n"
                     "}\n")
                    .is_ok());
    EXPECT_EQ(loc(0).pass->group, loc(1).pass->group);
    EXPECT_EQ(loc(0).pass->group->servers().size(), 2u);
    EXPECT_EQ(loc(0).pass->host, "app");
}

TEST_F(ProxySslConfigCertTest, FilesAreCheckedWithTheirDirective) {
    std::string missing = error(
        "proxy_ssl_certificate missing.crt;\n"
        "proxy_ssl_certificate_key client.key;\n"
        "server { location / { proxy_pass https://127.0.0.1:1; } }\n");
    EXPECT_THAT(missing, HasSubstr("cannot load certificate \"" + dir_.file("missing.crt") +
                                   "\": SSL_CTX_use_certificate_chain_file() failed ("));
    EXPECT_THAT(missing, HasSubstr("No such file or directory"));
    EXPECT_THAT(missing, HasSubstr(at(2)));
    EXPECT_THAT(error("proxy_ssl_certificate client.crt;\n"
                      "proxy_ssl_certificate_key other.key;\n"
                      "server { location / { proxy_pass https://127.0.0.1:1; } }\n"),
                HasSubstr("cannot load certificate key \"" + dir_.file("other.key") +
                          "\": SSL_CTX_use_PrivateKey_file() failed (SSL: error:"));
    // A location without https:// does not use them: nothing is loaded, nothing fails.
    EXPECT_TRUE(load("proxy_ssl_trusted_certificate missing.crt;\n"
                     "server { location / { proxy_pass http://127.0.0.1:1; } }\n")
                    .is_ok());
}

TEST_F(ProxySslConfigCertTest, MissingTrustedCertificateNamesTheLine) {
    std::string e = error(
        "server {\n"
        " location / {\n"
        "  proxy_pass https://127.0.0.1:1;\n"
        "  proxy_ssl_trusted_certificate missing.crt;\n"
        " }\n"
        "}\n");
    EXPECT_THAT(e, HasSubstr("cannot load trusted certificate \"" + dir_.file("missing.crt") +
                             "\": SSL_CTX_load_verify_locations() failed ("));
    EXPECT_THAT(e, HasSubstr(at(5)));
}

TEST_F(ProxySslConfigCertTest, Rejections) {
    EXPECT_EQ(error("proxy_ssl_protocols TLSv1.2 TLSv9;\n"),
              "invalid value \"TLSv9\" in \"proxy_ssl_protocols\" directive, one of TLSv1 TLSv1.1 "
              "TLSv1.2 TLSv1.3 expected" +
                  at(2));
    EXPECT_EQ(error("server {\n"
                    " proxy_ssl_verify on;\n"
                    " location / { proxy_pass https://127.0.0.1:1; }\n"
                    "}\n"),
              "no \"proxy_ssl_trusted_certificate\" for \"proxy_ssl_verify\"" + at(3));
    EXPECT_EQ(error("proxy_ssl_certificate client.crt;\n"
                    "server { location / { proxy_pass https://127.0.0.1:1; } }\n"),
              "no \"proxy_ssl_certificate_key\" is defined for certificate \"" +
                  dir_.file("client.crt") + "\"" + at(2));
    EXPECT_THAT(error("server { location / {\n"
                      " proxy_pass https://127.0.0.1:1;\n"
                      " proxy_ssl_ciphers NO-SUCH-CIPHER;\n"
                      "} }\n"),
                HasSubstr("SSL_CTX_set_cipher_list(\"NO-SUCH-CIPHER\") failed (SSL: error:"));
    EXPECT_EQ(error("proxy_ssl_verify maybe;\n"),
              "invalid value \"maybe\" in \"proxy_ssl_verify\" directive, it must be \"on\" or "
              "\"off\"" +
                  at(2));
    EXPECT_EQ(error("proxy_ssl_name a;\nproxy_ssl_name b;\n"),
              "\"proxy_ssl_name\" directive is duplicate" + at(3));
    EXPECT_THAT(error("proxy_ssl_verify_depth 101;\n"),
                HasSubstr("invalid value \"101\" in \"proxy_ssl_verify_depth\" directive"));
    EXPECT_THAT(error("server { location / { proxy_pass ftp://127.0.0.1; } }\n"),
                HasSubstr("the URL must start with \"http://\" or \"https://\""));
    EXPECT_THAT(error("server { location / { proxy_pass https://; } }\n"),
                HasSubstr("no host in \"https://\""));
}

TEST_F(ProxySslConfigCertTest, SameHostWithoutPortOverHttpAndHttps) {
    // No upstream block: which port would "app" be? nginx makes two groups; halo asks.
    EXPECT_THAT(
        error("server {\n"
              " location /a/ { proxy_pass http://localhost; }\n"
              " location /b/ { proxy_pass https://localhost; }\n"
              "}\n"),
        HasSubstr("\"localhost\" is used without a port by both http:// and https://" + at(4)));
    // With a block of that name (declared after), both mean the block.
    EXPECT_TRUE(load("server {\n"
                     " location /a/ { proxy_pass http://app; }\n"
                     " location /b/ { proxy_pass https://app; }\n"
                     "}\n"
                     "upstream app { server 127.0.0.1:1; }\n")
                    .is_ok());
}

}  // namespace
}  // namespace mod::proxy
