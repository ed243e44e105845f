// TLS through the real binary, with curl and openssl s_client on loopback and certificates
// made at test time (a.test and b.test): https answers, SNI picks the server block and its
// certificate, keep-alive, a large static file (no sendfile through TLS) byte for byte,
// ssl_protocols TLSv1.3 refusing a TLSv1.2 client, session reuse across two workers through
// the shared cache (and not through a per-worker one), plain HTTP to the TLS port (400), a bad
// certificate path failing `halo -t`, broken handshakes, graceful QUIT with an idle TLS
// connection.
#include <sys/stat.h>

#include <algorithm>
#include <string>
#include <thread>

#include "support/harness.h"

namespace halo_test {
namespace {

/// {{CERTS}} is the certificate folder, {{WORKERS}} and {{HTTP}} are filled per test.
constexpr std::string_view kConf = R"(
daemon off;
worker_processes {{WORKERS}};
error_log logs/error.log info;

events {
    worker_connections 128;
}

http {
    access_log off;
    {{HTTP}}

    server {
        listen 127.0.0.1:%%PORT_0%% ssl;
        server_name a.test;
        ssl_certificate {{CERTS}}/a.crt;
        ssl_certificate_key {{CERTS}}/a.key;
        sendfile on;
        location / {
            return 200 "A https=$https scheme=$scheme $ssl_protocol sni=$ssl_server_name reused=$ssl_session_reused pid=$pid conn=$connection req=$connection_requests\n";
        }
        location /files/ {
            alias %%PREFIX%%/data/;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_0%% ssl;
        server_name b.test;
        ssl_certificate {{CERTS}}/b.crt;
        ssl_certificate_key {{CERTS}}/b.key;
        location / {
            return 200 "B sni=$ssl_server_name\n";
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

/// The value after "key=" in a response line ("pid=123 ..." -> "123").
std::string field(const std::string& text, const std::string& key) {
    size_t at = text.find(key + "=");
    if (at == std::string::npos) {
        return "";
    }
    at += key.size() + 1;
    return text.substr(at, text.find_first_of(" \r\n", at) - at);
}

class TlsTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        if (!halo_has_module("http_ssl") || !halo_has_module("http_rewrite")) {
            return;
        }
        certs_ = new TempDir("halo-certs");
        for (const char* name : {"a", "b"}) {
            std::string base = *certs_ / name;
            RunResult r = run_command({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                                       "-keyout", base + ".key", "-out", base + ".crt", "-days",
                                       "2", "-subj", std::string("/CN=") + name + ".test"},
                                      60s);
            if (r.status != 0) {
                setup_error_ = "openssl req failed: " + ::testing::PrintToString(r);
                return;
            }
        }
        write_file(*certs_ / "get10.txt", "GET / HTTP/1.0\r\nHost: a.test\r\n\r\n");
        write_file(*certs_ / "get11.txt", "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
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

    /// kConf with `workers` and `http` (directives at http level) filled in.
    static std::string conf(int workers = 1, std::string_view http = "") {
        std::string c = replace_all(std::string(kConf), "{{WORKERS}}", std::to_string(workers));
        c = replace_all(c, "{{HTTP}}", http);
        return replace_all(c, "{{CERTS}}", certs());
    }

    ::testing::AssertionResult start(int workers = 1, std::string_view http = "") {
        halo_.write_conf(conf(workers, http));
        return halo_.start();
    }

    std::string url(std::string_view path = "/") {
        return "https://127.0.0.1:" + std::to_string(halo_.port(0)) + std::string(path);
    }

    /// curl -k with `args` (silent, errors shown).
    static RunResult curl(std::vector<std::string> args) {
        args.insert(args.begin(), {"curl", "-sS", "-k", "--max-time", "20"});
        return run_command(args, 30s);
    }

    /// openssl s_client to the port with `args`, sending the request file `request` (get10.txt:
    /// HTTP/1.0, the server closes after the response), waiting for the server to close.
    RunResult s_client(const std::string& args, const std::string& request = "get10.txt") {
        std::string cmd =
            "exec openssl s_client -connect 127.0.0.1:" + std::to_string(halo_.port(0)) + " " +
            args + " -ign_eof < '" + (*certs_ / request) + "'";
        return run_command({"sh", "-c", cmd}, 20s);
    }

    Halo halo_;
    static inline TempDir* certs_ = nullptr;
    static inline std::string setup_error_;
};

TEST_F(TlsTest, ServesHttps) {
    ASSERT_TRUE(start());
    RunResult r = curl({url()});
    ASSERT_EQ(r.status, 0) << r;
    EXPECT_EQ(r.out.substr(0, 2), "A ") << r.out;
    EXPECT_EQ(field(r.out, "https"), "on") << r.out;
    EXPECT_EQ(field(r.out, "scheme"), "https") << r.out;
    EXPECT_NE(r.out.find(" TLSv1.3 "), std::string::npos) << r.out;  // the default protocols
    EXPECT_EQ(field(r.out, "sni"), "") << r.out;                     // an address: no SNI
    EXPECT_EQ(field(r.out, "reused"), ".") << r.out;
}

TEST_F(TlsTest, SniSelectsServerBlockAndCertificate) {
    ASSERT_TRUE(start());
    const std::string resolve_a = "a.test:" + std::to_string(halo_.port(0)) + ":127.0.0.1";
    const std::string resolve_b = "b.test:" + std::to_string(halo_.port(0)) + ":127.0.0.1";
    const std::string port = std::to_string(halo_.port(0));

    RunResult b = curl({"--resolve", resolve_b, "https://b.test:" + port + "/"});
    ASSERT_EQ(b.status, 0) << b;
    EXPECT_EQ(b.out, "B sni=b.test\n");
    RunResult a = curl({"--resolve", resolve_a, "https://a.test:" + port + "/"});
    ASSERT_EQ(a.status, 0) << a;
    EXPECT_EQ(field(a.out, "sni"), "a.test") << a.out;

    // The certificate served is the named server's; without SNI the default server's.
    RunResult sb = s_client("-servername b.test");
    EXPECT_NE(sb.out.find("subject=CN = b.test"), std::string::npos) << sb;
    EXPECT_NE(sb.out.find("A https=on"), std::string::npos) << sb;  // Host: a.test picks A
    RunResult sa = s_client("-servername a.test");
    EXPECT_NE(sa.out.find("subject=CN = a.test"), std::string::npos) << sa;
    RunResult none = s_client("-noservername");
    EXPECT_NE(none.out.find("subject=CN = a.test"), std::string::npos) << none;

    // Then Host picks the server, as in nginx (SNI a.test, Host b.test: server B).
    RunResult host = curl({"--resolve", resolve_a, "-H", "Host: b.test", "https://a.test:" + port});
    ASSERT_EQ(host.status, 0) << host;
    EXPECT_EQ(host.out, "B sni=a.test\n");
}

TEST_F(TlsTest, KeepAliveOverTls) {
    ASSERT_TRUE(start());
    RunResult r = curl({url("/1"), url("/2"), url("/3")});
    ASSERT_EQ(r.status, 0) << r;
    std::string conn = field(r.out, "conn");
    EXPECT_FALSE(conn.empty()) << r.out;
    // Three requests, one connection: $connection stays, $connection_requests counts.
    EXPECT_NE(r.out.find("conn=" + conn + " req=1\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("conn=" + conn + " req=2\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("conn=" + conn + " req=3\n"), std::string::npos) << r.out;
}

TEST_F(TlsTest, LargeStaticFileOverTls) {
    std::string big = pattern_bytes(5 * 1024 * 1024 + 12345);
    ::mkdir(halo_.path("data").c_str(), 0755);
    ASSERT_TRUE(write_file(halo_.path("data/big.bin"), big));
    ::chmod(halo_.path("data/big.bin").c_str(), 0644);
    ASSERT_TRUE(start());
    std::string out = halo_.path("got.bin");
    RunResult r = curl({"-o", out, "-w", "%{http_code} %{size_download}", url("/files/big.bin")});
    ASSERT_EQ(r.status, 0) << r;
    EXPECT_EQ(r.out, "200 " + std::to_string(big.size()));
    auto got = read_file(out);
    ASSERT_TRUE(got.has_value());
    EXPECT_TRUE(*got == big) << "the file differs (" << got->size() << " bytes received)";

    // A range through the same path.
    RunResult range = curl({"-r", "1000000-1000099", url("/files/big.bin")});
    ASSERT_EQ(range.status, 0) << range;
    EXPECT_TRUE(range.out == big.substr(1000000, 100));
}

TEST_F(TlsTest, Tls13OnlyRefusesTls12Client) {
    ASSERT_TRUE(start(1, "ssl_protocols TLSv1.3;"));
    RunResult v12 = s_client("-tls1_2");
    EXPECT_NE(v12.status, 0) << v12;
    EXPECT_EQ(v12.out.find("A https=on"), std::string::npos) << v12;
    RunResult v13 = s_client("-tls1_3");
    EXPECT_EQ(v13.status, 0) << v13;
    EXPECT_NE(v13.out.find("A https=on scheme=https TLSv1.3"), std::string::npos) << v13;
    RunResult curl12 = curl({"--tls-max", "1.2", url()});
    EXPECT_NE(curl12.status, 0) << curl12;
}

TEST_F(TlsTest, Tls12OnlyRefusesTls13Client) {
    ASSERT_TRUE(start(1, "ssl_protocols TLSv1.2;"));
    EXPECT_NE(s_client("-tls1_3").status, 0);
    RunResult v12 = s_client("-tls1_2");
    EXPECT_NE(v12.out.find("A https=on scheme=https TLSv1.2"), std::string::npos) << v12;
}

class TlsSessionTest : public TlsTest {
  protected:
    /// A first full handshake saving the session, then resumptions until another worker
    /// answers. Returns that connection's output ("" when every answer came from one worker).
    std::string resume_elsewhere(const std::string& proto, std::string* first_out) {
        std::string session = halo_.path("session.pem");
        RunResult first = s_client(proto + " -sess_out " + session);
        *first_out = first.out;
        std::string first_pid = field(first.out, "pid");
        if (first.status != 0 || first_pid.empty()) {
            ADD_FAILURE() << "first connection failed: " << first;
            return "";
        }
        for (int i = 0; i < 40; i++) {
            RunResult again = s_client(proto + " -sess_in " + session);
            std::string pid = field(again.out, "pid");
            if (!pid.empty() && pid != first_pid) {
                return again.out;
            }
        }
        return "";
    }
};

TEST_F(TlsSessionTest, SharedCacheResumesOnAnotherWorker) {
    // Tickets off: resumption needs the server to find the session by id.
    ASSERT_TRUE(start(2, "ssl_session_cache shared:SSL:1m; ssl_session_tickets off;"));
    ASSERT_EQ(halo_.wait_workers(2).size(), 2u);
    for (const char* proto : {"-tls1_2", "-tls1_3"}) {
        std::string first;
        std::string other = resume_elsewhere(proto, &first);
        EXPECT_NE(first.find("\nNew, TLSv1."), std::string::npos) << first;
        ASSERT_FALSE(other.empty()) << "no connection reached the second worker";
        EXPECT_NE(other.find("\nReused, TLSv1."), std::string::npos) << proto << "\n" << other;
        EXPECT_EQ(field(other, "reused"), "r") << other;
    }
}

TEST_F(TlsSessionTest, BuiltinCacheIsPerWorker) {
    // The control for the test above: a per-worker cache cannot resume on the other worker.
    ASSERT_TRUE(start(2, "ssl_session_cache builtin:1000; ssl_session_tickets off;"));
    ASSERT_EQ(halo_.wait_workers(2).size(), 2u);
    std::string first;
    std::string other = resume_elsewhere("-tls1_2", &first);
    ASSERT_FALSE(other.empty()) << "no connection reached the second worker";
    EXPECT_NE(other.find("\nNew, TLSv1.2"), std::string::npos) << other;
}

TEST_F(TlsSessionTest, TicketsResumeOnAnotherWorker) {
    ASSERT_TRUE(start(2));  // session cache "none", tickets on: keys shared by the workers
    ASSERT_EQ(halo_.wait_workers(2).size(), 2u);
    std::string first;
    std::string other = resume_elsewhere("-tls1_3", &first);
    ASSERT_FALSE(other.empty()) << "no connection reached the second worker";
    EXPECT_NE(other.find("\nReused, TLSv1.3"), std::string::npos) << other;
}

TEST_F(TlsTest, PlainHttpToTlsPortGets400) {
    ASSERT_TRUE(start());
    HttpConnection c;
    ASSERT_TRUE(c.connect(halo_.port(0))) << c.error();
    ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"));
    auto r = c.read_response();
    ASSERT_TRUE(r.has_value()) << c.error();
    EXPECT_EQ(r->status, 400);
    EXPECT_NE(r->body.find("<title>400 The plain HTTP request was sent to HTTPS port</title>"),
              std::string::npos)
        << r->body;
    EXPECT_EQ(r->header("Connection"), "close");
    EXPECT_TRUE(c.wait_closed());
    EXPECT_TRUE(wait_until([&] {
        return !log_lines_with(halo_.error_log(), "client sent plain HTTP request to HTTPS port")
                    .empty();
    }));
}

TEST_F(TlsTest, BadCertificatePathFailsConfigTest) {
    std::string c = replace_all(conf(), certs() + "/b.crt", certs() + "/missing.crt");
    halo_.write_conf(c);
    RunResult r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("cannot load certificate \"" + certs() + "/missing.crt\""),
              std::string::npos)
        << r;
    EXPECT_NE(r.err.find("No such file or directory"), std::string::npos) << r;
    EXPECT_NE(r.err.find(" in " + halo_.conf_path() + ":"), std::string::npos) << r;
}

TEST_F(TlsTest, SslListenWithoutCertificateFailsConfigTest) {
    std::string c = replace_all(conf(), "ssl_certificate " + certs() + "/a.crt;", "");
    c = replace_all(c, "ssl_certificate_key " + certs() + "/a.key;", "");
    halo_.write_conf(c);
    // The first server's listen line.
    size_t listen = c.find("listen 127.0.0.1");
    int line = 1 + static_cast<int>(std::count(c.begin(), c.begin() + listen, '\n'));
    RunResult r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive "
                         "in " +
                         halo_.conf_path() + ":" + std::to_string(line)),
              std::string::npos)
        << r;
}

TEST_F(TlsTest, FailedReloadKeepsServing) {
    ASSERT_TRUE(start());
    auto workers = halo_.wait_workers(1);
    ASSERT_EQ(workers.size(), 1u);
    halo_.write_conf(replace_all(conf(), certs() + "/a.key", certs() + "/b.key"));  // mismatch
    ASSERT_TRUE(halo_.signal(SIGHUP));
    EXPECT_TRUE(wait_until([&] {
        return !log_lines_with(halo_.error_log(), "cannot load certificate key").empty();
    })) << halo_.error_log();
    EXPECT_EQ(halo_.workers(), workers);
    RunResult r = curl({url()});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_EQ(r.out.substr(0, 2), "A ");
}

TEST_F(TlsTest, BrokenHandshakesCloseAndWorkerSurvives) {
    ASSERT_TRUE(start());
    auto workers = halo_.wait_workers(1);
    ASSERT_EQ(workers.size(), 1u);
    {
        // A TLS record header followed by garbage: the handshake fails, the connection closes.
        HttpConnection c;
        ASSERT_TRUE(c.connect(halo_.port(0)));
        ASSERT_TRUE(c.send(std::string("\x16\x03\x01\x00\x20", 5) + std::string(32, 'x')));
        EXPECT_TRUE(c.wait_closed());
    }
    {
        // A client that goes away in the middle of its hello.
        HttpConnection c;
        ASSERT_TRUE(c.connect(halo_.port(0)));
        ASSERT_TRUE(c.send(std::string("\x16\x03\x01\x02\x00\x01\x00\x01", 8)));
        c.close();
    }
    {
        // Connects and closes without a byte.
        HttpConnection c;
        ASSERT_TRUE(c.connect(halo_.port(0)));
        c.close();
    }
    EXPECT_TRUE(wait_until([&] {
        return !log_lines_with(halo_.error_log(), "SSL_do_handshake() failed").empty();
    })) << halo_.error_log();
    for (const std::string& line : log_lines_with(halo_.error_log(), "SSL_do_handshake()")) {
        EXPECT_NE(line.find("[info]"), std::string::npos) << line;
    }
    EXPECT_TRUE(wait_until([&] {
        return !log_lines_with(halo_.error_log(), "peer closed connection in SSL handshake")
                    .empty();
    })) << halo_.error_log();
    RunResult r = curl({url()});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_EQ(halo_.workers(), workers);  // no crash
}

TEST_F(TlsTest, HandshakeBoundedByClientHeaderTimeout) {
    ASSERT_TRUE(start(1, "client_header_timeout 1s;"));
    HttpConnection stalled;
    ASSERT_TRUE(stalled.connect(halo_.port(0)));
    ASSERT_TRUE(stalled.send(std::string("\x16\x03\x01\x02\x00\x01\x00\x01", 8)));  // half a hello
    auto started = std::chrono::steady_clock::now();
    EXPECT_TRUE(stalled.wait_closed(8s));
    EXPECT_GE(std::chrono::steady_clock::now() - started, 500ms);
    HttpConnection silent;  // not a byte
    ASSERT_TRUE(silent.connect(halo_.port(0)));
    EXPECT_TRUE(silent.wait_closed(8s));
}

TEST_F(TlsTest, GracefulQuitClosesIdleTlsConnection) {
    ASSERT_TRUE(start());
    auto workers = halo_.wait_workers(1);
    ASSERT_EQ(workers.size(), 1u);
    // An HTTP/1.1 request leaves the connection open (keep-alive) until the server closes it.
    RunResult idle;
    std::thread client([&] { idle = s_client("", "get11.txt"); });
    bool connected =
        wait_until([&] { return established_connections(workers[0], halo_.port(0)) == 1; });
    std::this_thread::sleep_for(300ms);  // the response is written, the connection idle
    EXPECT_TRUE(connected);
    EXPECT_TRUE(halo_.signal(SIGQUIT));
    client.join();
    EXPECT_FALSE(idle.timed_out) << idle;
    EXPECT_NE(idle.out.find("A https=on"), std::string::npos) << idle;
    EXPECT_TRUE(halo_.wait_exit().has_value());
}

}  // namespace
}  // namespace halo_test
