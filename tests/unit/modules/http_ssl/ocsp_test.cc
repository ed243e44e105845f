// OCSP pieces without I/O (src/http/modules/ssl/ocsp.h): the responder URL as nginx parses it,
// the responder's HTTP answer, the GET request; and the ssl_ocsp* directives' refusals.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/pem.h>

#include <string>

#include "core/cycle.h"
#include "http/modules/ssl/ocsp.h"
#include "support/test_cert.h"
#include "support/test_modules.h"

namespace mod::http_ssl {
namespace {

using ::testing::HasSubstr;

TEST(OcspResponderTest, ParsesNginxForms) {
    OcspResponder r;
    EXPECT_EQ(parse_responder("http://127.0.0.1:8080/ocsp/", false, r), "");
    EXPECT_EQ(r.host, "127.0.0.1");
    EXPECT_EQ(r.port, 8080);
    EXPECT_EQ(r.uri, "/ocsp/");
    ASSERT_EQ(r.addrs.size(), 1u);
    EXPECT_EQ(r.addrs[0].text(), "127.0.0.1:8080");

    EXPECT_EQ(parse_responder("HTTP://[::1]", false, r), "");
    EXPECT_EQ(r.host, "[::1]");
    EXPECT_EQ(r.port, 80);
    EXPECT_EQ(r.uri, "/");
    ASSERT_EQ(r.addrs.size(), 1u);
    EXPECT_EQ(r.addrs[0].text(), "[::1]:80");

    // A name is left to the resolver unless looked up now.
    EXPECT_EQ(parse_responder("http://ocsp.example.org", false, r), "");
    EXPECT_EQ(r.host, "ocsp.example.org");
    EXPECT_TRUE(r.addrs.empty());
    EXPECT_EQ(parse_responder("http://localhost:2560/x", true, r), "");
    EXPECT_FALSE(r.addrs.empty());
    EXPECT_EQ(r.uri, "/x");
}

TEST(OcspResponderTest, Refusals) {
    OcspResponder r;
    EXPECT_EQ(parse_responder("https://ocsp.example.org/", false, r), "invalid URL prefix");
    EXPECT_EQ(parse_responder("http://", false, r), "invalid URL prefix");
    EXPECT_EQ(parse_responder("ocsp.example.org", false, r), "invalid URL prefix");
    EXPECT_EQ(parse_responder("http://a:0/", false, r), "invalid port");
    EXPECT_EQ(parse_responder("http://a:70000/", false, r), "invalid port");
    EXPECT_EQ(parse_responder("http://a:/", false, r), "invalid port");
    EXPECT_EQ(parse_responder("http://:80/", false, r), "no host");
    EXPECT_EQ(parse_responder("http://[::1/", false, r), "invalid host");
    EXPECT_EQ(parse_responder("http://no-such-host.invalid/", true, r), "host not found");
}

TEST(OcspAnswerTest, Parses) {
    using Outcome = OcspHttpAnswer::Outcome;
    OcspHttpAnswer a = parse_ocsp_answer(
        "HTTP/1.0 200 OK\r\nContent-Type: application/ocsp-response\r\n"
        "Content-Length: 3\r\n\r\nabc");
    EXPECT_EQ(a.outcome, Outcome::kOk);
    EXPECT_EQ(a.code, 200);
    EXPECT_EQ(a.body, "abc");

    a = parse_ocsp_answer("HTTP/1.1 404\nServer: x\n\n");  // bare LF, no reason, no type
    EXPECT_EQ(a.outcome, Outcome::kOk);
    EXPECT_EQ(a.code, 404);
    EXPECT_EQ(a.body, "");
    EXPECT_EQ(parse_ocsp_answer("HTTP/1.1 403.1 Forbidden\r\n\r\n").code, 403);

    EXPECT_EQ(parse_ocsp_answer("").outcome, Outcome::kPremature);
    EXPECT_EQ(parse_ocsp_answer("HTTP/1.0 200 OK").outcome, Outcome::kPremature);
    EXPECT_EQ(parse_ocsp_answer("HTTP/1.0 200 OK\r\nServer: x\r\n").outcome, Outcome::kPremature);
    EXPECT_EQ(parse_ocsp_answer("SSH-2.0-OpenSSH\r\n").outcome, Outcome::kInvalid);
    EXPECT_EQ(parse_ocsp_answer("HTTP/0.9 200 OK\r\n\r\n").outcome, Outcome::kInvalid);
    EXPECT_EQ(parse_ocsp_answer("HTTP/1.0 2x0 OK\r\n\r\n").outcome, Outcome::kInvalid);
    EXPECT_EQ(parse_ocsp_answer("HTTP/1.0 200 OK\r\nbroken\r\n\r\n").outcome, Outcome::kInvalid);
    a = parse_ocsp_answer("HTTP/1.0 200 OK\r\nContent-Type: text/html \r\n\r\n<html>");
    EXPECT_EQ(a.outcome, Outcome::kBadType);
    EXPECT_EQ(a.content_type, "text/html");
}

TEST(OcspStapleTest, RefreshedBeforeExpiryWithinFiveMinutesToAnHour) {
    const int64_t now = 1'000'000;
    EXPECT_EQ(staple_refresh(now + 7 * 86400, now), now + 3600);        // a week: hourly
    EXPECT_EQ(staple_refresh(now + 1800, now), now + 1500);             // 5 min before
    EXPECT_EQ(staple_refresh(now + 400, now), now + 300);               // not sooner than 5
    EXPECT_EQ(staple_refresh(OcspVerdict::kForever, now), now + 3600);  // no nextUpdate
}

X509* read_cert(const std::string& path) {
    FILE* f = fopen(path.c_str(), "r");
    if (f == nullptr) {
        return nullptr;
    }
    X509* x = PEM_read_X509(f, nullptr, nullptr, nullptr);
    fclose(f);
    return x;
}

TEST(OcspRequestTest, GetWithTheEscapedDerRequest) {
    support::TempDir dir;
    ASSERT_TRUE(halo_test::make_certificate("a.test", dir.file("a.crt"), dir.file("a.key")));
    X509* cert = read_cert(dir.file("a.crt"));
    ASSERT_NE(cert, nullptr);
    OcspResponder r;
    ASSERT_EQ(parse_responder("http://127.0.0.1:81/ocsp", false, r), "");
    std::string req = ocsp_http_request(r, cert, cert);  // self-issued
    X509_free(cert);
    EXPECT_EQ(req.rfind("GET /ocsp/", 0), 0u) << req;
    EXPECT_THAT(req, HasSubstr(" HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"));
    std::string path = req.substr(10, req.find(' ', 4) - 10);
    EXPECT_EQ(path.find_first_of("+/="), std::string::npos) << path;  // escaped
    EXPECT_GT(path.size(), 40u);
}

class OcspConfigTest : public ::testing::Test {
  protected:
    OcspConfigTest() : registry_(core::compiled_modules()) {}
    void SetUp() override { ASSERT_TRUE(make_certificate_files()); }
    bool make_certificate_files() {
        return halo_test::make_certificate("a.test", dir_.file("a.crt"), dir_.file("a.key"));
    }
    std::string error(std::string_view srv) {
        cycle_.reset();
        std::string conf =
            "http {\n server {\n  listen 127.0.0.1:8443 ssl;\n  "
            "ssl_certificate a.crt; ssl_certificate_key a.key;\n  " +
            std::string(srv) + "\n }\n}\n";
        core::Status s = support::load_cycle(registry_, dir_, conf, cycle_, nullptr, {}, true);
        return s.is_ok() ? "" : s.message();
    }

    support::TempDir dir_;
    core::ModuleRegistry registry_;
    std::unique_ptr<core::Cycle> cycle_;
};

TEST_F(OcspConfigTest, AcceptsEveryForm) {
    EXPECT_EQ(error("ssl_client_certificate a.crt; ssl_verify_client on; ssl_ocsp on; "
                    "ssl_ocsp_responder http://127.0.0.1:2560/; ssl_ocsp_cache shared:O:64k;"),
              "");
    EXPECT_EQ(error("ssl_client_certificate a.crt; ssl_verify_client optional; ssl_ocsp leaf; "
                    "ssl_ocsp_cache off;"),
              "");
    EXPECT_EQ(error("ssl_stapling on; ssl_stapling_responder http://127.0.0.1:2560/; "
                    "ssl_stapling_verify on;"),
              "");
}

TEST_F(OcspConfigTest, Refusals) {
    EXPECT_THAT(error("ssl_ocsp maybe;"), HasSubstr("invalid value \"maybe\" in \"ssl_ocsp\""));
    EXPECT_THAT(error("ssl_ocsp_cache shared:O;"), HasSubstr("invalid OCSP cache \"shared:O\""));
    EXPECT_THAT(error("ssl_ocsp_cache shared::1m;"),
                HasSubstr("invalid OCSP cache \"shared::1m\""));
    EXPECT_THAT(error("ssl_ocsp_cache builtin;"), HasSubstr("invalid OCSP cache \"builtin\""));
    EXPECT_THAT(error("ssl_ocsp_cache shared:O:16k;"),
                HasSubstr("OCSP cache \"shared:O:16k\" is too small"));
    EXPECT_THAT(error("ssl_ocsp_cache off; ssl_ocsp_cache off;"),
                HasSubstr("\"ssl_ocsp_cache\" directive is duplicate"));
    EXPECT_THAT(error("ssl_session_cache shared:Z:1m; ssl_ocsp_cache shared:Z:1m;"),
                HasSubstr("the shared memory zone \"Z\" is already declared for a different use"));
    EXPECT_THAT(error("ssl_client_certificate a.crt; ssl_verify_client optional_no_ca; "
                      "ssl_ocsp on;"),
                HasSubstr("\"ssl_ocsp\" is incompatible with \"ssl_verify_client "
                          "optional_no_ca\""));
    EXPECT_THAT(error("ssl_client_certificate a.crt; ssl_verify_client on; ssl_ocsp on; "
                      "ssl_ocsp_responder ftp://x/;"),
                HasSubstr("invalid URL prefix in OCSP responder \"ftp://x/\" in "
                          "\"ssl_ocsp_responder\""));
    EXPECT_THAT(error("ssl_client_certificate a.crt; ssl_verify_client on; ssl_ocsp on; "
                      "ssl_ocsp_responder http://a:99999/;"),
                HasSubstr("invalid port in OCSP responder \"a:99999/\" in "
                          "\"ssl_ocsp_responder\""));
}

}  // namespace
}  // namespace mod::http_ssl
