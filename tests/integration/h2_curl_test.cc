// HTTP/2 through the real binary with curl (libnghttp2 on the client side too): h2c with
// prior knowledge on a `listen ... http2` port and on a server with `http2 on`, h2 chosen by
// ALPN on a TLS port, HTTP/1.1 beside it on the same ports; the variables ($server_protocol,
// $http2, $request); a static file larger than the initial flow-control window, byte for
// byte; a proxied GET and a proxied POST whose body the backend echoes; the access log line.
#include <sys/stat.h>

#include <string>

#include "support/backend.h"
#include "support/harness.h"
#include "support/test_cert.h"

namespace halo_test {
namespace {

constexpr std::string_view kConf = R"(
daemon off;
worker_processes 1;
error_log logs/error.log info;

events {
    worker_connections 128;
}

http {
    log_format h2 '$request $status $server_protocol http2=$http2 $body_bytes_sent';
    access_log logs/access.log h2;

    upstream app {
        server 127.0.0.1:%%BACKEND%%;
        keepalive 8;
    }

    server {
        listen 127.0.0.1:%%PORT_0%% http2;
        location /v {
            return 200 "proto=$server_protocol http2=$http2 request=$request host=$host\n";
        }
        location /files/ {
            alias %%PREFIX%%/data/;
        }
        location /app/ {
            proxy_pass http://app;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_1%%;
        http2 on;
        location / {
            return 200 "on proto=$server_protocol\n";
        }
    }

    server {
        listen 127.0.0.1:%%PORT_2%%;
        location / {
            return 200 "plain proto=$server_protocol\n";
        }
    }

    server {
        listen 127.0.0.1:%%PORT_3%% ssl http2;
        ssl_certificate %%PREFIX%%/a.crt;
        ssl_certificate_key %%PREFIX%%/a.key;
        location / {
            return 200 "tls proto=$server_protocol http2=$http2 alpn=$ssl_alpn_protocol\n";
        }
        location /files/ {
            alias %%PREFIX%%/data/;
        }
        location /app/ {
            proxy_pass http://app;
        }
    }
}
)";

class H2CurlTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_v2") || !halo_has_module("http_ssl") ||
            !halo_has_module("http_proxy") || !halo_has_module("http_rewrite")) {
            GTEST_SKIP() << "the http_v2, http_ssl, http_proxy or http_rewrite module is missing";
        }
        backend_ = std::make_unique<Backend>("app", [](BackendConn& c, const BackendRequest& r) {
            std::string body =
                r.method + " " + r.target + " len=" + std::to_string(r.body.size()) + " " + r.body;
            c.send("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                   "\r\n\r\n" + body);
        });
        std::string conf(kConf);
        conf.replace(conf.find("%%BACKEND%%"), 11, std::to_string(backend_->port()));
        halo_.write_conf(conf);
        ASSERT_TRUE(
            make_certificate("a.test", halo_.prefix() + "/a.crt", halo_.prefix() + "/a.key"));
        mkdir((halo_.prefix() + "/data").c_str(), 0755);
        big_ = pattern_bytes(1024 * 1024 + 17);
        ASSERT_TRUE(write_file(halo_.prefix() + "/data/big.bin", big_));
        ASSERT_TRUE(halo_.start()) << halo_.error_log();
    }

    /// curl with `args` then the URL; stdout is the body, then "\n<version> <status>".
    RunResult curl(std::vector<std::string> args, const std::string& url) {
        std::vector<std::string> argv = {"curl", "-sS", "-k", "-w",
                                         "\n%{http_version} %{http_code}"};
        argv.insert(argv.end(), args.begin(), args.end());
        argv.push_back(url);
        return run_command(argv, 20s);
    }
    std::string url(int port, std::string_view path, bool tls = false) {
        return std::string(tls ? "https" : "http") +
               "://127.0.0.1:" + std::to_string(halo_.port(port)) + std::string(path);
    }

    std::unique_ptr<Backend> backend_;
    Halo halo_;
    std::string big_;
};

TEST_F(H2CurlTest, PriorKnowledgeOnAnHttp2Port) {
    RunResult r = curl({"--http2-prior-knowledge"}, url(0, "/v?a=1"));
    ASSERT_EQ(r.status, 0) << r << halo_.error_log();
    EXPECT_EQ(r.out, "proto=HTTP/2.0 http2=h2c request=GET /v?a=1 HTTP/2.0 host=127.0.0.1\n\n2 200")
        << halo_.error_log();
    // HTTP/1.1 on the same port.
    r = curl({"--http1.1"}, url(0, "/v"));
    ASSERT_EQ(r.status, 0) << r;
    EXPECT_EQ(r.out, "proto=HTTP/1.1 http2= request=GET /v HTTP/1.1 host=127.0.0.1\n\n1.1 200");
    std::string log = *read_file(halo_.prefix() + "/logs/access.log");
    EXPECT_NE(log.find("GET /v?a=1 HTTP/2.0 200 HTTP/2.0 http2=h2c"), std::string::npos) << log;
}

TEST_F(H2CurlTest, Http2OnInTheServerAndOffElsewhere) {
    RunResult r = curl({"--http2-prior-knowledge"}, url(1, "/"));
    ASSERT_EQ(r.status, 0) << r << halo_.error_log();
    EXPECT_EQ(r.out, "on proto=HTTP/2.0\n\n2 200");
    // A port without it: the preface is no request (nginx answers 400 too).
    r = curl({"--http2-prior-knowledge"}, url(2, "/"));
    EXPECT_NE(r.status, 0) << r;
    r = curl({"--http1.1"}, url(2, "/"));
    EXPECT_EQ(r.out, "plain proto=HTTP/1.1\n\n1.1 200");
}

TEST_F(H2CurlTest, AlpnOnATlsPort) {
    RunResult r = curl({"--http2"}, url(3, "/", true));
    ASSERT_EQ(r.status, 0) << r << halo_.error_log();
    EXPECT_EQ(r.out, "tls proto=HTTP/2.0 http2=h2 alpn=h2\n\n2 200");
    r = curl({"--http1.1"}, url(3, "/", true));
    ASSERT_EQ(r.status, 0) << r;
    EXPECT_EQ(r.out, "tls proto=HTTP/1.1 http2= alpn=http/1.1\n\n1.1 200");
    // Through the proxy, a body each way.
    r = curl({"--http2", "--data-binary", "ping"}, url(3, "/app/tls", true));
    ASSERT_EQ(r.status, 0) << r << halo_.error_log();
    EXPECT_EQ(r.out, "POST /app/tls len=4 ping\n2 200");
}

TEST_F(H2CurlTest, AFileLargerThanTheWindowArrivesWhole) {
    std::string out = halo_.prefix() + "/got.bin";
    for (bool tls : {false, true}) {
        RunResult r = curl({tls ? "--http2" : "--http2-prior-knowledge", "-o", out},
                           url(tls ? 3 : 0, "/files/big.bin", tls));
        ASSERT_EQ(r.status, 0) << r << halo_.error_log();
        EXPECT_EQ(r.out, "\n2 200");
        auto got = read_file(out);
        ASSERT_TRUE(got);
        EXPECT_EQ(got->size(), big_.size());
        EXPECT_TRUE(*got == big_) << "tls=" << tls;
    }
}

TEST_F(H2CurlTest, ProxiedGetAndPost) {
    RunResult r = curl({"--http2-prior-knowledge"}, url(0, "/app/x?y=1"));
    ASSERT_EQ(r.status, 0) << r << halo_.error_log();
    EXPECT_EQ(r.out, "GET /app/x?y=1 len=0 \n2 200") << halo_.error_log();
    std::string body = pattern_bytes(300000);
    for (char& c : body) {
        c = static_cast<char>('a' + (static_cast<unsigned char>(c) % 26));
    }
    ASSERT_TRUE(write_file(halo_.prefix() + "/post.txt", body));
    std::string out = halo_.prefix() + "/echo.txt";  // (a pipe would fill: curl writes a file)
    r = curl(
        {"--http2-prior-knowledge", "--data-binary", "@" + halo_.prefix() + "/post.txt", "-o", out},
        url(0, "/app/post"));
    ASSERT_EQ(r.status, 0) << r << halo_.error_log();
    EXPECT_EQ(r.out, "\n2 200") << halo_.error_log();
    EXPECT_TRUE(read_file(out) == "POST /app/post len=300000 " + body);
    // Without a length (curl sends chunked on HTTP/1.1; on h2 the body just ends).
    r = curl(
        {"--http2-prior-knowledge", "-H", "Transfer-Encoding: chunked", "--data-binary", "hello"},
        url(0, "/app/chunked"));
    ASSERT_EQ(r.status, 0) << r << halo_.error_log();
    EXPECT_EQ(r.out, "POST /app/chunked len=5 hello\n2 200") << halo_.error_log();
}

}  // namespace
}  // namespace halo_test
