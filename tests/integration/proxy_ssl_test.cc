// https upstreams through the real binary: a front halo proxies to a backend halo that listens
// with `ssl` (certificates made at test time: a test CA issuing backend.test, other.test and a
// client certificate, another CA, and a self-signed impostor). Shown: GETs, a large response
// and a large request body through TLS; SNI (proxy_ssl_server_name, proxy_ssl_name, the
// $proxy_host default) seen by the backend and choosing its certificate; proxy_ssl_verify
// passing with the right CA and failing (502, the nginx log line) with a wrong CA, a name
// mismatch or an impostor, and the next upstream tried after a verify failure; session reuse
// counted on the backend ($ssl_session_reused: one full handshake, then resumptions) and
// switched off; the keepalive pool carrying many requests over one TLS connection;
// proxy_ssl_protocols and proxy_ssl_ciphers reaching the backend; a plain HTTP port answering
// a TLS upstream (handshake error, 502); a client certificate (openssl s_server -Verify).
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/backend.h"
#include "support/harness.h"

namespace halo_test {
namespace {

/// The backend: {{CERTS}} is the certificate folder, {{ORIGIN}} a plain test Backend.
constexpr std::string_view kBackendConf = R"(
daemon off;
worker_processes 1;
error_log logs/error.log info;

events {
    worker_connections 256;
}

http {
    log_format tls 'uri=$request_uri sni=$ssl_server_name reused=$ssl_session_reused conn=$connection req=$connection_requests proto=$ssl_protocol cipher=$ssl_cipher';
    access_log logs/access.log tls;
    client_max_body_size 8m;

    server {
        listen 127.0.0.1:%%PORT_0%% ssl;
        server_name backend.test;
        ssl_certificate {{CERTS}}/backend.crt;
        ssl_certificate_key {{CERTS}}/backend.key;
        location / {
            return 200 "backend sni=$ssl_server_name uri=$request_uri\n";
        }
        location /files/ {
            alias %%PREFIX%%/data/;
        }
        location /echo/ {
            proxy_pass http://{{ORIGIN}};
        }
    }
    server {
        listen 127.0.0.1:%%PORT_0%% ssl;
        server_name other.test;
        ssl_certificate {{CERTS}}/other.crt;
        ssl_certificate_key {{CERTS}}/other.key;
        location / {
            return 200 "other sni=$ssl_server_name\n";
        }
    }
    server {
        listen 127.0.0.1:%%PORT_1%% ssl;
        ssl_certificate {{CERTS}}/impostor.crt;
        ssl_certificate_key {{CERTS}}/impostor.key;
        location / {
            return 200 "impostor\n";
        }
    }
    server {
        listen 127.0.0.1:%%PORT_2%%;
        location / {
            return 200 "plain\n";
        }
    }
}
)";

/// The front: {{BE}} the backend's TLS port, {{BAD}} its impostor port, {{PLAIN}} its plain
/// port, {{SSRV}} an openssl s_server port.
constexpr std::string_view kFrontConf = R"(
daemon off;
worker_processes 1;
error_log logs/error.log info;

events {
    worker_connections 256;
}

http {
    access_log off;
    client_max_body_size 8m;
    proxy_ssl_trusted_certificate {{CERTS}}/ca.crt;

    upstream backend.test {
        server 127.0.0.1:{{BE}};
    }
    upstream pooled {
        server 127.0.0.1:{{BE}};
        keepalive 4;
    }
    upstream mixed {
        server 127.0.0.1:{{BAD}};
        server 127.0.0.1:{{BE}};
    }

    server {
        listen 127.0.0.1:%%PORT_0%%;

        location /plain/ {
            proxy_pass https://127.0.0.1:{{BE}};
        }
        location /files/ {
            proxy_pass https://127.0.0.1:{{BE}};
        }
        location /echo/ {
            proxy_pass https://127.0.0.1:{{BE}};
        }
        location /named/ {
            proxy_pass https://backend.test;
            proxy_ssl_server_name on;
            proxy_ssl_verify on;
        }
        location /named-nosni/ {
            proxy_pass https://backend.test;
        }
        location /sni-other/ {
            proxy_pass https://127.0.0.1:{{BE}};
            proxy_ssl_server_name on;
            proxy_ssl_name other.test;
            proxy_ssl_verify on;
        }
        location /nosni-other/ {
            proxy_pass https://127.0.0.1:{{BE}};
            proxy_ssl_name other.test;
            proxy_ssl_verify on;
        }
        location /verify/ {
            proxy_pass https://127.0.0.1:{{BE}};
            proxy_ssl_name backend.test;
            proxy_ssl_verify on;
        }
        location /wrong-ca/ {
            proxy_pass https://127.0.0.1:{{BE}};
            proxy_ssl_name backend.test;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate {{CERTS}}/wrong-ca.crt;
        }
        location /mismatch/ {
            proxy_pass https://127.0.0.1:{{BE}};
            proxy_ssl_name nobody.test;
            proxy_ssl_verify on;
        }
        location /mixed/ {
            proxy_pass https://mixed;
            proxy_ssl_name backend.test;
            proxy_ssl_verify on;
        }
        location /impostor/ {
            proxy_pass https://127.0.0.1:{{BAD}};
            proxy_ssl_name backend.test;
            proxy_ssl_verify on;
        }
        location /reuse/ {
            proxy_pass https://127.0.0.1:{{BE}};
            proxy_ssl_name reuse.test;
        }
        location /noreuse/ {
            proxy_pass https://127.0.0.1:{{BE}};
            proxy_ssl_session_reuse off;
        }
        location /pooled/ {
            proxy_pass https://pooled;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location /tls12/ {
            proxy_pass https://127.0.0.1:{{BE}};
            proxy_ssl_protocols TLSv1.2;
            proxy_ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256;
        }
        location /plain-port/ {
            proxy_pass https://127.0.0.1:{{PLAIN}};
        }
        location /with-cert/ {
            proxy_pass https://127.0.0.1:{{SSRV}};
            proxy_ssl_certificate {{CERTS}}/client.crt;
            proxy_ssl_certificate_key {{CERTS}}/client.key;
        }
        location /without-cert/ {
            proxy_pass https://127.0.0.1:{{SSRV}};
        }
    }
}
)";

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
        s.replace(at, from.size(), to);
    }
    return s;
}

/// The value after "key=" in a log line ("conn=12 ..." -> "12").
std::string field(const std::string& line, const std::string& key) {
    size_t at = line.find(" " + key + "=");
    if (at == std::string::npos) {
        return "";
    }
    at += key.size() + 2;
    return line.substr(at, line.find_first_of(" \r\n", at) - at);
}

class ProxySslTest : public ::testing::Test {
  protected:
    static bool modules_present() {
        for (const char* m : {"http_proxy", "http_upstream", "http_ssl", "http_rewrite"}) {
            if (!halo_has_module(m)) {
                return false;
            }
        }
        return true;
    }

    /// openssl with `args`; false (and setup_error_) on failure.
    static bool openssl(std::vector<std::string> args) {
        args.insert(args.begin(), "openssl");
        RunResult r = run_command(args, 60s);
        if (r.status != 0) {
            setup_error_ = "openssl failed: " + ::testing::PrintToString(r);
            return false;
        }
        return true;
    }

    /// An EC key and a certificate for CN=`cn` (subjectAltName DNS:`cn` when `san`), signed
    /// by `ca` or self-signed when `ca` is empty.
    static bool make_cert(const std::string& name, const std::string& cn, const std::string& ca,
                          bool san) {
        const std::string base = *certs_ / name;
        const std::vector<std::string> key = {
            "-newkey", "ec",      "-pkeyopt",   "ec_paramgen_curve:P-256",
            "-nodes",  "-keyout", base + ".key"};
        if (ca.empty()) {
            std::vector<std::string> args = {"req",   "-x509",     "-days", "2",
                                             "-subj", "/CN=" + cn, "-out",  base + ".crt"};
            args.insert(args.end(), key.begin(), key.end());
            if (san) {
                args.insert(args.end(), {"-addext", "subjectAltName=DNS:" + cn});
            }
            return openssl(args);
        }
        std::vector<std::string> args = {"req",       "-new", "-subj",
                                         "/CN=" + cn, "-out", base + ".csr"};
        args.insert(args.end(), key.begin(), key.end());
        if (!openssl(args)) {
            return false;
        }
        write_file(base + ".ext", san ? "subjectAltName=DNS:" + cn + "\n" : "");
        const std::string cab = *certs_ / ca;
        return openssl({"x509", "-req", "-days", "2", "-in", base + ".csr", "-CA", cab + ".crt",
                        "-CAkey", cab + ".key", "-CAcreateserial", "-extfile", base + ".ext",
                        "-out", base + ".crt"});
    }

    static void SetUpTestSuite() {
        if (!modules_present()) {
            return;
        }
        certs_ = new TempDir("halo-proxy-certs");
        if (!make_cert("ca", "halo test CA", "", false) ||
            !make_cert("wrong-ca", "another CA", "", false) ||
            !make_cert("backend", "backend.test", "ca", true) ||
            !make_cert("other", "other.test", "ca", true) ||
            !make_cert("client", "halo client", "ca", false) ||
            !make_cert("impostor", "backend.test", "", true)) {
            return;
        }
        origin_ = new Backend("origin");
        backend_ = new Halo();
        std::string be = replace_all(std::string(kBackendConf), "{{CERTS}}", certs_->path());
        backend_->write_conf(replace_all(be, "{{ORIGIN}}", origin_->address()));
        ::mkdir(backend_->path("data").c_str(), 0755);
        big_ = pattern_bytes(3 * 1024 * 1024 + 4321);
        write_file(backend_->path("data/big.bin"), big_);
        if (!backend_->start()) {
            setup_error_ = "the backend halo did not start: " + backend_->error_log();
            return;
        }
        ssrv_port_ = free_port();
        front_ = new Halo();
        std::string fe = replace_all(std::string(kFrontConf), "{{CERTS}}", certs_->path());
        fe = replace_all(fe, "{{BE}}", std::to_string(backend_->port(0)));
        fe = replace_all(fe, "{{BAD}}", std::to_string(backend_->port(1)));
        fe = replace_all(fe, "{{PLAIN}}", std::to_string(backend_->port(2)));
        fe = replace_all(fe, "{{SSRV}}", std::to_string(ssrv_port_));
        front_->write_conf(fe);
        if (!front_->start()) {
            setup_error_ = "the front halo did not start: " + front_->error_log();
        }
    }

    static void TearDownTestSuite() {
        delete front_;
        front_ = nullptr;
        delete backend_;
        backend_ = nullptr;
        delete origin_;
        origin_ = nullptr;
        delete certs_;
        certs_ = nullptr;
    }

    void SetUp() override {
        if (!modules_present()) {
            GTEST_SKIP() << "the proxy, upstream, ssl or rewrite module is not compiled in";
        }
        ASSERT_EQ(setup_error_, "");
    }

    static HttpResponse get(std::string_view path) {
        auto r = http_get(front_->port(0), path);
        return r ? *r : HttpResponse{};
    }

    /// The backend's access log lines for URIs starting with `prefix`, once there are `n`.
    static std::vector<std::string> backend_lines(const std::string& prefix, size_t n) {
        std::vector<std::string> lines;
        wait_until([&] {
            lines.clear();
            std::istringstream in(read_file(backend_->path("logs/access.log")).value_or(""));
            std::string line;
            while (std::getline(in, line)) {
                if (line.rfind("uri=" + prefix, 0) == 0) {
                    lines.push_back(line);
                }
            }
            return lines.size() >= n;
        });
        return lines;
    }

    /// Front error log lines with `needle`, once there is one.
    static std::vector<std::string> front_log(std::string_view needle) {
        std::vector<std::string> lines;
        wait_until([&] {
            lines = log_lines_with(front_->error_log(), needle);
            return !lines.empty();
        });
        return lines;
    }

    static inline TempDir* certs_ = nullptr;
    static inline Backend* origin_ = nullptr;
    static inline Halo* backend_ = nullptr;
    static inline Halo* front_ = nullptr;
    static inline uint16_t ssrv_port_ = 0;
    static inline std::string big_;
    static inline std::string setup_error_;
};

TEST_F(ProxySslTest, GetThroughHttpsUpstream) {
    HttpResponse r = get("/plain/a?x=1");
    EXPECT_EQ(r.status, 200) << front_->error_log();
    EXPECT_EQ(r.body, "backend sni= uri=/plain/a?x=1\n");  // an address: no SNI
    auto lines = backend_lines("/plain/a", 1);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(field(lines[0], "proto"), "TLSv1.3") << lines[0];
}

TEST_F(ProxySslTest, LargeResponseThroughTls) {
    auto r = http_get(front_->port(0), "/files/big.bin");
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body.size(), big_.size());
    EXPECT_TRUE(r->body == big_) << "the body differs";
}

TEST_F(ProxySslTest, LargeRequestBodyThroughTls) {
    std::string body = pattern_bytes(2 * 1024 * 1024 + 17);
    HttpConnection c;
    ASSERT_TRUE(c.connect(front_->port(0)));
    ASSERT_TRUE(c.send("POST /echo/up HTTP/1.1\r\nHost: front\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body));
    auto r = c.read_response(20s);
    ASSERT_TRUE(r.has_value()) << c.error();
    EXPECT_EQ(r->status, 200) << front_->error_log();
    EXPECT_EQ(r->body, "origin\n");
    auto seen = origin_->seen();
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.back().target, "/echo/up");
    EXPECT_TRUE(seen.back().body == body) << "the origin got " << seen.back().body.size();
}

TEST_F(ProxySslTest, ServerNameSentWhenOn) {
    // proxy_pass https://backend.test: $proxy_host is the name sent and verified.
    HttpResponse named = get("/named/1");
    EXPECT_EQ(named.status, 200) << front_->error_log();
    EXPECT_EQ(named.body, "backend sni=backend.test uri=/named/1\n");
    HttpResponse off = get("/named-nosni/1");
    EXPECT_EQ(off.status, 200);
    EXPECT_EQ(off.body, "backend sni= uri=/named-nosni/1\n");

    // proxy_ssl_name other.test: the backend picks other.test's certificate by SNI, and the
    // verification against "other.test" passes only then.
    HttpResponse other = get("/sni-other/1");
    EXPECT_EQ(other.status, 200) << front_->error_log();
    EXPECT_EQ(other.body, "backend sni=other.test uri=/sni-other/1\n");
    HttpResponse nosni = get("/nosni-other/1");
    EXPECT_EQ(nosni.status, 502);
    EXPECT_FALSE(front_log("upstream SSL certificate does not match \"other.test\" while SSL "
                           "handshaking to upstream")
                     .empty())
        << front_->error_log();
}

TEST_F(ProxySslTest, VerifyWithTheRightCaPassesAndWithAWrongOneFails) {
    HttpResponse ok = get("/verify/1");
    EXPECT_EQ(ok.status, 200) << front_->error_log();
    EXPECT_EQ(ok.body, "backend sni= uri=/verify/1\n");

    HttpResponse wrong = get("/wrong-ca/1");
    EXPECT_EQ(wrong.status, 502);
    auto lines = front_log("upstream SSL certificate verify error: (");
    ASSERT_FALSE(lines.empty()) << front_->error_log();
    EXPECT_NE(lines[0].find("[error]"), std::string::npos) << lines[0];
    // nginx's context: the upstream as scheme, address and URI.
    EXPECT_NE(lines[0].find(" while SSL handshaking to upstream, client: 127.0.0.1, server: , "
                            "request: \"GET /wrong-ca/1 HTTP/1.1\", upstream: "
                            "\"https://127.0.0.1:" +
                            std::to_string(backend_->port(0)) + "/wrong-ca/1\""),
              std::string::npos)
        << lines[0];
    EXPECT_TRUE(backend_lines("/wrong-ca/", 0).empty());  // the request was never sent

    HttpResponse mismatch = get("/mismatch/1");
    EXPECT_EQ(mismatch.status, 502);
    EXPECT_FALSE(front_log("upstream SSL certificate does not match \"nobody.test\"").empty());
}

TEST_F(ProxySslTest, VerifyFailureMovesToTheNextUpstream) {
    // The impostor alone: its self-signed certificate is refused.
    EXPECT_EQ(get("/impostor/1").status, 502);
    const std::string impostor =
        "upstream: \"https://127.0.0.1:" + std::to_string(backend_->port(1)) + "/";
    auto lines = front_log(impostor);
    ASSERT_FALSE(lines.empty()) << front_->error_log();
    EXPECT_NE(lines[0].find("upstream SSL certificate verify error: ("), std::string::npos)
        << lines[0];
    // mixed = {impostor, backend}: the first request tries the impostor first (an "error"
    // for proxy_next_upstream, and a failure for max_fails), then the backend; every request
    // ends on the backend.
    for (int i = 0; i < 4; i++) {
        HttpResponse r = get("/mixed/" + std::to_string(i));
        EXPECT_EQ(r.status, 200) << front_->error_log();
        EXPECT_EQ(r.body, "backend sni= uri=/mixed/" + std::to_string(i) + "\n");
    }
    EXPECT_EQ(log_lines_with(front_->error_log(), impostor).size(), 2u) << front_->error_log();
}

TEST_F(ProxySslTest, SessionsAreResumed) {
    // proxy_http_version 1.0: a new connection per request; one full handshake, then every
    // connection resumes the session (TLS 1.3 tickets, kept per peer and name).
    constexpr int kRequests = 5;
    for (int i = 0; i < kRequests; i++) {
        EXPECT_EQ(get("/reuse/" + std::to_string(i)).status, 200) << front_->error_log();
    }
    auto lines = backend_lines("/reuse/", kRequests);
    ASSERT_EQ(lines.size(), static_cast<size_t>(kRequests));
    std::string reused;
    std::vector<std::string> conns;
    for (const std::string& l : lines) {
        reused += field(l, "reused");
        conns.push_back(field(l, "conn"));
    }
    EXPECT_EQ(reused, ".rrrr");
    std::sort(conns.begin(), conns.end());
    EXPECT_EQ(std::unique(conns.begin(), conns.end()), conns.end()) << "connections reused";

    // proxy_ssl_session_reuse off: a full handshake each time.
    for (int i = 0; i < 3; i++) {
        EXPECT_EQ(get("/noreuse/" + std::to_string(i)).status, 200);
    }
    reused.clear();
    for (const std::string& l : backend_lines("/noreuse/", 3)) {
        reused += field(l, "reused");
    }
    EXPECT_EQ(reused, "...");
}

TEST_F(ProxySslTest, KeepalivePoolReusesTheTlsConnection) {
    constexpr int kRequests = 6;
    for (int i = 0; i < kRequests; i++) {
        HttpResponse r = get("/pooled/" + std::to_string(i));
        EXPECT_EQ(r.status, 200) << front_->error_log();
        EXPECT_EQ(r.body, "backend sni= uri=/pooled/" + std::to_string(i) + "\n");
    }
    auto lines = backend_lines("/pooled/", kRequests);
    ASSERT_EQ(lines.size(), static_cast<size_t>(kRequests));
    // One connection, one handshake, N requests on it.
    for (size_t i = 0; i < lines.size(); i++) {
        EXPECT_EQ(field(lines[i], "conn"), field(lines[0], "conn")) << lines[i];
        EXPECT_EQ(field(lines[i], "req"), std::to_string(i + 1)) << lines[i];
        EXPECT_EQ(field(lines[i], "reused"), ".") << lines[i];
    }
}

TEST_F(ProxySslTest, ProtocolsAndCiphersReachTheBackend) {
    HttpResponse r = get("/tls12/1");
    EXPECT_EQ(r.status, 200) << front_->error_log();
    auto lines = backend_lines("/tls12/", 1);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(field(lines[0], "proto"), "TLSv1.2") << lines[0];
    EXPECT_EQ(field(lines[0], "cipher"), "ECDHE-ECDSA-AES128-GCM-SHA256") << lines[0];
}

TEST_F(ProxySslTest, PlainHttpPortFailsTheHandshake) {
    HttpResponse r = get("/plain-port/1");
    EXPECT_EQ(r.status, 502);
    auto lines = front_log("SSL_do_handshake() failed (SSL: error:");
    ASSERT_FALSE(lines.empty()) << front_->error_log();
    EXPECT_NE(lines[0].find("[error]"), std::string::npos) << lines[0];
    EXPECT_NE(lines[0].find("while SSL handshaking to upstream"), std::string::npos) << lines[0];
}

TEST_F(ProxySslTest, ClientCertificate) {
    // openssl s_server asking for a certificate from our CA (-Verify), answering with what it
    // saw (-www). Three connections: the harness's probe, then one request with a certificate
    // and one without.
    RunResult server;
    std::thread t([&] {
        server = run_command(
            {"openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(ssrv_port_), "-cert",
             *certs_ / "backend.crt", "-key", *certs_ / "backend.key", "-CAfile",
             *certs_ / "ca.crt", "-Verify", "1", "-www", "-naccept", "3"},
            30s);
    });
    ASSERT_TRUE(wait_for_port(ssrv_port_));
    HttpResponse with = get("/with-cert/");
    HttpResponse without = get("/without-cert/");
    t.join();
    EXPECT_EQ(with.status, 200) << front_->error_log() << server;
    EXPECT_NE(with.body.find("halo client"), std::string::npos) << with.body;
    EXPECT_EQ(without.status, 502) << without.body;
}

}  // namespace
}  // namespace halo_test
