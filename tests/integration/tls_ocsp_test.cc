// OCSP through the real binary, against a real OCSP responder on loopback (`openssl ocsp
// -index ... -port N`, started by the test and stopped by pid) and certificates made at test
// time by openssl: ssl_stapling fetching from the certificate's responder (and from
// ssl_stapling_responder), a revoked certificate not stapled, a responder that is down (no
// staple, the handshake still works, nginx's error line), ssl_stapling_verify; client
// certificates with ssl_ocsp (good, revoked: 400 and $ssl_client_verify; `leaf`; a responder
// named by host, looked up with `resolver`), ssl_ocsp_cache keeping the verdicts when the
// responder goes away, and the configuration errors.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "support/dns_server.h"
#include "support/harness.h"

namespace halo_test {
namespace {

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
        s.replace(at, from.size(), to);
    }
    return s;
}

/// Made once in the suite's folder ({{OCSP}}: the responder's port): ca; other (another CA);
/// srv (a.test, serial 100, good), revoked (a.test, 101, revoked), noaia (a.test, 102, good,
/// no responder URL); clients good (0x10), bad (0x11, revoked) and named (0x12, good, its
/// responder named ocsp.test); leaf (6, by inter: Inter-CA, by ca, with no responder URL).
/// index.txt is the responder's database; inter-index.txt that of Inter-CA's responder.
constexpr std::string_view kMakeFiles = R"(set -e
key() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $1.key -out $1.csr -subj "$2" 2>/dev/null; }
sign() { openssl x509 -req -in $1.csr -CA ca.crt -CAkey ca.key -set_serial $2 -days 2 $3 -out $1.crt 2>/dev/null; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=Test-CA 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key -out other.crt -days 2 -subj /CN=Other-CA 2>/dev/null
printf 'authorityInfoAccess=OCSP;URI:http://127.0.0.1:{{OCSP}}/\n' > aia.ext
key srv /CN=a.test; sign srv 100 "-extfile aia.ext"
key revoked /CN=a.test; sign revoked 101 "-extfile aia.ext"
key noaia /CN=a.test; sign noaia 102
key good /CN=good; sign good 0x10 "-extfile aia.ext"
key bad /CN=bad; sign bad 0x11 "-extfile aia.ext"
printf 'authorityInfoAccess=OCSP;URI:http://ocsp.test:{{OCSP}}/\n' > named.ext
key named /CN=named; sign named 0x12 "-extfile named.ext"
printf 'V\t301231000000Z\t\t64\tunknown\t/CN=a.test\n' > index.txt
printf 'R\t301231000000Z\t261201000000Z\t65\tunknown\t/CN=a.test\n' >> index.txt
printf 'V\t301231000000Z\t\t66\tunknown\t/CN=a.test\n' >> index.txt
printf 'V\t301231000000Z\t\t10\tunknown\t/CN=good\n' >> index.txt
printf 'R\t301231000000Z\t261201000000Z\t11\tunknown\t/CN=bad\n' >> index.txt
printf 'V\t301231000000Z\t\t12\tunknown\t/CN=named\n' >> index.txt
printf 'unique_subject = no\n' > index.txt.attr
printf 'basicConstraints=critical,CA:true\n' > ca.ext
key inter /CN=Inter-CA; sign inter 5 "-extfile ca.ext"
key leaf /CN=leaf
openssl x509 -req -in leaf.csr -CA inter.crt -CAkey inter.key -set_serial 6 -days 2 -extfile aia.ext -out leaf1.crt 2>/dev/null
cat leaf1.crt inter.crt > leafchain.crt
printf 'V\t301231000000Z\t\t06\tunknown\t/CN=leaf\n' > inter-index.txt
printf 'GET / HTTP/1.0\r\nHost: a.test\r\n\r\n' > get.txt
)";

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
        error_page 495 /bad;
        location / {
            return 200 "verify=$ssl_client_verify\n";
        }
        location /bad {
            return 403 "refused: $ssl_client_verify\n";
        }
    }
}
)";

/// `openssl ocsp` answering on the suite's port until stopped (by its pid).
class Responder {
  public:
    /// `signer`: the certificate (and key) that signs the responses.
    Responder(const std::string& dir, uint16_t port, const std::string& signer = "ca",
              const std::string& ca = "ca") {
        // A log of its own: the previous responder's (same port) says it was waiting too, and
        // would pass for this one's before it listens.
        static int started = 0;
        log_ = dir + "/responder-" + std::to_string(getpid()) + "-" + std::to_string(++started) +
               ".log";
        pid_ = fork();
        if (pid_ == 0) {
            setpgid(0, 0);
            int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            dup2(fd, 1);
            dup2(fd, 2);
            if (chdir(dir.c_str()) != 0) {
                _exit(127);
            }
            std::string p = std::to_string(port);
            std::string crt = signer + ".crt";
            std::string key = signer + ".key";
            std::string index = ca == "ca" ? "index.txt" : ca + "-index.txt";
            std::string ca_crt = ca + ".crt";
            execlp("openssl", "openssl", "ocsp", "-index", index.c_str(), "-port", p.c_str(),
                   "-rsigner", crt.c_str(), "-rkey", key.c_str(), "-CA", ca_crt.c_str(), "-nmin",
                   "10", static_cast<char*>(nullptr));
            _exit(127);
        }
        // Not probed by connecting: an empty connection stalls OpenSSL 3.0's responder.
        ready_ =
            pid_ > 0 && wait_until([&] {
                return output().find("waiting for OCSP client connections") != std::string::npos;
            });
    }
    ~Responder() { stop(); }
    bool ready() const { return ready_; }
    void stop() {
        if (pid_ > 0) {
            kill(pid_, SIGTERM);
            waitpid(pid_, nullptr, 0);
            pid_ = -1;
        }
    }
    /// What it printed.
    std::string output() const { return read_file(log_).value_or(""); }
    /// Requests it received.
    size_t requests() const {
        return log_lines_with(read_file(log_).value_or(""), "Received request").size();
    }

  private:
    pid_t pid_ = -1;
    bool ready_ = false;
    std::string log_;
};

class TlsOcspTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        if (!halo_has_module("http_ssl") || !halo_has_module("http_rewrite")) {
            return;
        }
        files_ = new TempDir("halo-ocsp-files");
        port_ = free_port();
        std::string make = replace_all(std::string(kMakeFiles), "{{OCSP}}", std::to_string(port_));
        RunResult r = run_command({"sh", "-c", make}, 60s, files_->path());
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
    static std::string responder_url() { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }

    static std::string conf(std::string_view http, std::string_view srv) {
        std::string c = replace_all(std::string(kConf), "{{HTTP}}", http);
        c = replace_all(c, "{{SRV}}", srv);
        c = replace_all(c, "{{URL}}", responder_url());
        return replace_all(c, "{{FILES}}", files());
    }
    ::testing::AssertionResult start(Halo& h, std::string_view srv, std::string_view http = "") {
        h.write_conf(conf(http, srv));
        return h.start();
    }
    RunResult check(std::string_view srv, std::string_view http = "") {
        halo_.write_conf(conf(http, srv));
        return halo_.run({"-t"});
    }

    /// A handshake asking for the certificate status (s_client -status), with a request.
    static RunResult status(Halo& h) {
        std::string cmd = "exec openssl s_client -connect 127.0.0.1:" + std::to_string(h.port(0)) +
                          " -servername a.test -status -ign_eof < '" + files() + "/get.txt'";
        return run_command({"sh", "-c", cmd}, 20s);
    }
    static bool stapled(const RunResult& r) {
        return r.out.find("OCSP Response Status: successful") != std::string::npos;
    }

    /// curl with the client certificate `name` (and the key `key`, default the same name):
    /// status line and body.
    static RunResult curl(Halo& h, const std::string& name, std::string key = "") {
        key = key.empty() ? name : key;
        return run_command({"curl", "-sS", "-k", "-i", "--max-time", "20", "--cert",
                            files() + "/" + name + ".crt", "--key", files() + "/" + key + ".key",
                            "https://127.0.0.1:" + std::to_string(h.port(0)) + "/"},
                           30s);
    }

    Halo halo_;
    static inline TempDir* files_ = nullptr;
    static inline uint16_t port_ = 0;
    static inline std::string setup_error_;
};

constexpr std::string_view kStapling =
    "ssl_certificate {{FILES}}/srv.crt; ssl_certificate_key {{FILES}}/srv.key; "
    "ssl_trusted_certificate {{FILES}}/ca.crt; ssl_stapling on;";

TEST_F(TlsOcspTest, StaplesTheResponseOfTheCertificatesResponder) {
    Responder responder(files(), port_);
    ASSERT_TRUE(responder.ready()) << responder.output();
    ASSERT_TRUE(start(halo_, kStapling));
    // As nginx: the first client that asks starts the request and gets no staple yet.
    RunResult first = status(halo_);
    EXPECT_NE(first.out.find("OCSP response: no response sent"), std::string::npos) << first;
    EXPECT_NE(first.out.find("verify=NONE"), std::string::npos) << first;
    RunResult r;
    EXPECT_TRUE(wait_until([&] { return stapled(r = status(halo_)); }, 20s, 100ms))
        << r << halo_.error_log();
    EXPECT_NE(r.out.find("Cert Status: good"), std::string::npos) << r;
    EXPECT_NE(r.out.find("Next Update:"), std::string::npos) << r;
    // Stapled from the worker's copy until it is due: the responder was asked once.
    EXPECT_TRUE(stapled(status(halo_)));
    EXPECT_EQ(responder.requests(), 1u);
    // Not asked for: not sent.
    std::string cmd = "exec openssl s_client -connect 127.0.0.1:" + std::to_string(halo_.port(0)) +
                      " -ign_eof < '" + files() + "/get.txt'";
    RunResult plain = run_command({"sh", "-c", cmd}, 20s);
    EXPECT_EQ(plain.out.find("OCSP Response Status"), std::string::npos) << plain;
    EXPECT_TRUE(log_lines_with(halo_.error_log(), "[error]").empty()) << halo_.error_log();
}

TEST_F(TlsOcspTest, StaplingResponderDirective) {
    Responder responder(files(), port_);
    ASSERT_TRUE(responder.ready()) << responder.output();
    const std::string noaia =
        "ssl_certificate {{FILES}}/noaia.crt; ssl_certificate_key {{FILES}}/noaia.key; "
        "ssl_trusted_certificate {{FILES}}/ca.crt; ssl_stapling on;";
    RunResult without = check(noaia);
    EXPECT_EQ(without.status, 0) << without;
    EXPECT_NE(without.err.find("\"ssl_stapling\" ignored, no OCSP responder URL in the "
                               "certificate \"" +
                               files() + "/noaia.crt\""),
              std::string::npos)
        << without;
    ASSERT_TRUE(start(halo_, noaia + " ssl_stapling_responder {{URL}};"));
    RunResult r;
    EXPECT_TRUE(wait_until([&] { return stapled(r = status(halo_)); }, 20s, 100ms))
        << r << halo_.error_log();
    EXPECT_NE(r.out.find("Cert Status: good"), std::string::npos) << r;
}

TEST_F(TlsOcspTest, RevokedCertificateIsNotStapled) {
    Responder responder(files(), port_);
    ASSERT_TRUE(responder.ready()) << responder.output();
    ASSERT_TRUE(start(halo_,
                      "ssl_certificate {{FILES}}/revoked.crt; "
                      "ssl_certificate_key {{FILES}}/revoked.key; "
                      "ssl_trusted_certificate {{FILES}}/ca.crt; ssl_stapling on;"));
    EXPECT_FALSE(stapled(status(halo_)));
    EXPECT_TRUE(wait_until([&] {
        return !log_lines_with(halo_.error_log(),
                               "certificate status \"revoked\" in the OCSP "
                               "response while requesting certificate status, "
                               "responder: 127.0.0.1, peer: 127.0.0.1:" +
                                   std::to_string(port_) + ", certificate: \"" + files() +
                                   "/revoked.crt\"")
                    .empty();
    })) << halo_.error_log();
    RunResult after = status(halo_);
    EXPECT_FALSE(stapled(after)) << after;
    EXPECT_NE(after.out.find("verify=NONE"), std::string::npos) << after;
}

TEST_F(TlsOcspTest, ResponderDownNoStapleAndTheHandshakeWorks) {
    ASSERT_TRUE(start(halo_, kStapling));  // no responder on the port
    RunResult first = status(halo_);
    EXPECT_FALSE(stapled(first)) << first;
    EXPECT_NE(first.out.find("verify=NONE"), std::string::npos) << first;
    // nginx's lines for a refused connection (no "*N": the worker's own request).
    const std::string context =
        " while requesting certificate status, responder: 127.0.0.1, "
        "peer: 127.0.0.1:" +
        std::to_string(port_) + ", certificate: \"" + files() + "/srv.crt\"";
    EXPECT_TRUE(wait_until([&] {
        return !log_lines_with(halo_.error_log(),
                               "OCSP responder prematurely closed connection" + context)
                    .empty();
    })) << halo_.error_log();
    EXPECT_EQ(log_lines_with(halo_.error_log(), "[error] " + std::to_string(halo_.workers().at(0)) +
                                                    "#0: recv() failed (111: Connection refused)" +
                                                    context)
                  .size(),
              1u)
        << halo_.error_log();
    // Asked again only 5 minutes later: meanwhile handshakes go on without a staple.
    RunResult again = status(halo_);
    EXPECT_FALSE(stapled(again)) << again;
    EXPECT_NE(again.out.find("verify=NONE"), std::string::npos) << again;
    EXPECT_EQ(log_lines_with(halo_.error_log(), "recv() failed").size(), 1u) << halo_.error_log();
}

TEST_F(TlsOcspTest, StaplingVerify) {
    // Responses signed by a CA the server does not trust.
    Responder responder(files(), port_, "other");
    ASSERT_TRUE(responder.ready()) << responder.output();
    {
        Halo off;
        ASSERT_TRUE(start(off, kStapling));
        RunResult r;
        EXPECT_TRUE(wait_until([&] { return stapled(r = status(off)); }, 20s, 100ms))
            << r << off.error_log();
    }
    ASSERT_TRUE(start(halo_, std::string(kStapling) + " ssl_stapling_verify on;"));
    EXPECT_FALSE(stapled(status(halo_)));
    EXPECT_TRUE(wait_until([&] {
        return !log_lines_with(halo_.error_log(), "OCSP_basic_verify() failed").empty();
    })) << halo_.error_log();
    EXPECT_FALSE(stapled(status(halo_)));
}

constexpr std::string_view kClientOcsp =
    "ssl_certificate {{FILES}}/srv.crt; ssl_certificate_key {{FILES}}/srv.key; "
    "ssl_client_certificate {{FILES}}/ca.crt; ssl_verify_client on; ssl_ocsp on;";

TEST_F(TlsOcspTest, ClientCertificateStatus) {
    auto responder = std::make_unique<Responder>(files(), port_);
    ASSERT_TRUE(responder->ready()) << responder->output();
    ASSERT_TRUE(start(halo_, std::string(kClientOcsp) + " ssl_ocsp_cache shared:ocsp:1m;"));
    RunResult good = curl(halo_, "good");
    EXPECT_NE(good.out.find("HTTP/1.1 200 OK"), std::string::npos) << good;
    EXPECT_NE(good.out.find("verify=SUCCESS"), std::string::npos) << good;
    RunResult bad = curl(halo_, "bad");
    EXPECT_NE(bad.out.find("HTTP/1.1 403"), std::string::npos) << bad;
    EXPECT_NE(bad.out.find("refused: FAILED:certificate revoked"), std::string::npos) << bad;
    EXPECT_EQ(responder->requests(), 2u);
    EXPECT_EQ(log_lines_with(halo_.error_log(),
                             "client SSL certificate verify error: certificate revoked while "
                             "reading client request headers, client: 127.0.0.1")
                  .size(),
              1u)
        << halo_.error_log();

    // The shared cache keeps both verdicts once the responder is gone.
    responder.reset();
    EXPECT_NE(curl(halo_, "good").out.find("verify=SUCCESS"), std::string::npos);
    EXPECT_NE(curl(halo_, "bad").out.find("refused: FAILED:certificate revoked"),
              std::string::npos);

    // Without a cache, nothing to go by: the request fails as nginx's does.
    Halo nocache;
    ASSERT_TRUE(start(nocache, kClientOcsp));
    RunResult failed = curl(nocache, "good");
    EXPECT_NE(failed.out.find("refused: FAILED:certificate status request failed"),
              std::string::npos)
        << failed;
    EXPECT_FALSE(log_lines_with(nocache.error_log(),
                                "OCSP responder prematurely closed connection while requesting "
                                "certificate status, responder: 127.0.0.1, peer: 127.0.0.1:" +
                                    std::to_string(port_))
                     .empty())
        << nocache.error_log();
}

TEST_F(TlsOcspTest, ResponderNamedByHostUsesTheResolver) {
    if (!halo_has_module("http_resolver")) {
        GTEST_SKIP() << "the http_resolver module is not compiled in";
    }
    Responder responder(files(), port_);
    ASSERT_TRUE(responder.ready()) << responder.output();
    DnsServer dns;
    dns.set("ocsp.test", {"127.0.0.1"});
    ASSERT_TRUE(
        start(halo_, std::string(kClientOcsp) + " resolver " + dns.address() + " ipv6=off;"));
    RunResult named = curl(halo_, "named");
    EXPECT_NE(named.out.find("verify=SUCCESS"), std::string::npos) << named << halo_.error_log();
    EXPECT_GE(dns.queries("ocsp.test"), 1);

    // No resolver: nginx's error, and the certificate is refused.
    Halo without;
    ASSERT_TRUE(start(without, kClientOcsp));
    RunResult failed = curl(without, "named");
    EXPECT_NE(failed.out.find("refused: FAILED:certificate status request failed"),
              std::string::npos)
        << failed;
    EXPECT_FALSE(log_lines_with(without.error_log(),
                                "no resolver defined to resolve ocsp.test while requesting "
                                "certificate status, responder: ocsp.test")
                     .empty())
        << without.error_log();
}

TEST_F(TlsOcspTest, LeafChecksTheClientCertificateOnly) {
    // Inter-CA's responder: it knows the leaf, not Inter-CA itself (which names no responder).
    Responder responder(files(), port_, "inter", "inter");
    ASSERT_TRUE(responder.ready()) << responder.output();
    const std::string chain =
        "ssl_certificate {{FILES}}/srv.crt; ssl_certificate_key {{FILES}}/srv.key; "
        "ssl_client_certificate {{FILES}}/ca.crt; ssl_verify_client on; ssl_verify_depth 2; ";
    ASSERT_TRUE(start(halo_, chain + "ssl_ocsp leaf;"));
    RunResult leaf = curl(halo_, "leafchain", "leaf");
    EXPECT_NE(leaf.out.find("verify=SUCCESS"), std::string::npos) << leaf << halo_.error_log();
    EXPECT_EQ(responder.requests(), 1u);

    Halo all;
    ASSERT_TRUE(start(all, chain + "ssl_ocsp on;"));
    RunResult failed = curl(all, "leafchain", "leaf");
    EXPECT_NE(failed.out.find("refused: FAILED:certificate status request failed"),
              std::string::npos)
        << failed;
    EXPECT_EQ(log_lines_with(all.error_log(), "[error]").size(), 1u) << all.error_log();
    EXPECT_FALSE(log_lines_with(all.error_log(), "no OCSP responder URL in certificate").empty())
        << all.error_log();
}

TEST_F(TlsOcspTest, ClientCertificateWithoutErrorPage) {
    Responder responder(files(), port_);
    ASSERT_TRUE(responder.ready()) << responder.output();
    halo_.write_conf(replace_all(conf("", kClientOcsp), "error_page 495 /bad;", ""));
    ASSERT_TRUE(halo_.start());
    RunResult bad = curl(halo_, "bad");
    EXPECT_NE(bad.out.find("HTTP/1.1 400 Bad Request"), std::string::npos) << bad;
    EXPECT_NE(bad.out.find("<title>400 The SSL certificate error</title>"), std::string::npos)
        << bad;
}

TEST_F(TlsOcspTest, ConfigErrors) {
    const std::string srv =
        "ssl_certificate {{FILES}}/srv.crt; "
        "ssl_certificate_key {{FILES}}/srv.key; "
        "ssl_client_certificate {{FILES}}/ca.crt; ";
    RunResult no_ca = check(srv + "ssl_verify_client optional_no_ca; ssl_ocsp on;");
    EXPECT_EQ(no_ca.status, 1) << no_ca;
    EXPECT_NE(no_ca.err.find("\"ssl_ocsp\" is incompatible with \"ssl_verify_client "
                             "optional_no_ca\""),
              std::string::npos)
        << no_ca;
    RunResult prefix = check(srv +
                             "ssl_verify_client on; ssl_ocsp leaf; "
                             "ssl_ocsp_responder https://127.0.0.1/;");
    EXPECT_NE(prefix.err.find("invalid URL prefix in OCSP responder \"https://127.0.0.1/\" in "
                              "\"ssl_ocsp_responder\""),
              std::string::npos)
        << prefix;
    RunResult cache = check(srv + "ssl_ocsp_cache shared:x;");
    EXPECT_NE(cache.err.find("invalid OCSP cache \"shared:x\" in " + halo_.conf_path() + ":"),
              std::string::npos)
        << cache;
    RunResult small = check(srv + "ssl_ocsp_cache shared:x:8k;");
    EXPECT_NE(small.err.find("OCSP cache \"shared:x:8k\" is too small"), std::string::npos)
        << small;
    RunResult mode = check(srv + "ssl_ocsp sometimes;");
    EXPECT_NE(mode.err.find("invalid value \"sometimes\" in \"ssl_ocsp\" directive"),
              std::string::npos)
        << mode;
    RunResult ok = check(srv +
                         "ssl_verify_client on; ssl_ocsp leaf; ssl_ocsp_responder "
                         "{{URL}}; ssl_ocsp_cache off;");
    EXPECT_EQ(ok.status, 0) << ok;
}

}  // namespace
}  // namespace halo_test
