// The stream module through the real binary: TCP sessions spread over weighted backends, a
// UDP request/response service, a backend killed mid-test (passive failures and an active
// health check take it out), the PROXY protocol to a backend and from a client, config errors
// with file:line, and the http and stream name spaces of upstream blocks.
#include <chrono>
#include <map>

#include "support/harness.h"
#include "support/stream_backend.h"

namespace halo_test {
namespace {

/// The backend's name from its greeting ("hello from a\n...": "a").
std::string who(const std::string& out) {
    std::string line = out.substr(0, out.find('\n'));
    return line.rfind("hello from ", 0) == 0 ? line.substr(11) : line;
}

class StreamTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("stream_proxy")) {
            GTEST_SKIP() << "the stream_proxy module is not compiled in";
        }
    }
    std::string conf(std::string_view stream_block, int workers = 1) {
        return "daemon off;\nworker_processes " + std::to_string(workers) +
               ";\nerror_log logs/error.log info;\nevents { worker_connections 256; }\n" +
               std::string(stream_block);
    }
    void expect_emerg(std::string_view stream_block, const std::string& message, int line) {
        halo_.write_conf(conf(stream_block));
        RunResult r = halo_.run({"-t"});
        EXPECT_EQ(r.status, 1) << r;
        std::string want = "halo: [emerg] " + message + " in " + halo_.conf_path() + ":" +
                           std::to_string(line) + "\n";
        EXPECT_NE(r.err.find(want), std::string::npos) << "expected: " << want << r;
    }
    Halo halo_;
};

TEST_F(StreamTest, TcpSessionsFollowTheWeightsOfThreeBackends) {
    TcpEchoBackend a("a"), b("b"), c("c");
    halo_.write_conf(
        conf("stream {\n"
             "    upstream be {\n"
             "        server 127.0.0.1:" +
             std::to_string(a.port()) +
             " weight=5;\n"
             "        server 127.0.0.1:" +
             std::to_string(b.port()) +
             ";\n"
             "        server 127.0.0.1:" +
             std::to_string(c.port()) +
             ";\n"
             "    }\n"
             "    server { listen 127.0.0.1:%%PORT_0%%; proxy_pass be; }\n"
             "}\n"));
    ASSERT_TRUE(halo_.start());
    std::string seq;
    for (int i = 0; i < 14; i++) {
        std::string out = tcp_roundtrip(halo_.port(0), "ping\n");
        ASSERT_EQ(out.substr(out.find('\n') + 1), "ping\n") << out;
        seq += who(out);
    }
    // nginx's smooth weighted round robin, 5:1:1: "aabacaa" over and over (the harness's
    // probe of the port took the first pick, so the run starts somewhere in the cycle).
    std::string cycle = "aabacaa";
    EXPECT_NE((cycle + cycle + cycle + cycle).find(seq), std::string::npos) << seq;
}

TEST_F(StreamTest, LargeTransferIsRelayedByteForByte) {
    TcpEchoBackend a("a");
    halo_.write_conf(
        conf("stream {\n    server { listen 127.0.0.1:%%PORT_0%%; proxy_pass "
             "127.0.0.1:" +
             std::to_string(a.port()) + "; }\n}\n"));
    ASSERT_TRUE(halo_.start());
    std::string big = pattern_bytes(3 * 1024 * 1024 + 17);  // past the splice threshold
    std::string out = tcp_roundtrip(halo_.port(0), big);
    ASSERT_EQ(out.size(), a.greeting().size() + big.size());
    EXPECT_TRUE(out.substr(a.greeting().size()) == big);
}

TEST_F(StreamTest, UdpRequestsAreAnsweredAndSpreadOverBackends) {
    UdpEchoBackend u1("u1"), u2("u2");
    uint16_t port = free_port();
    halo_.write_conf(
        conf("stream {\n"
             "    upstream dns {\n"
             "        server 127.0.0.1:" +
             std::to_string(u1.port()) +
             ";\n"
             "        server 127.0.0.1:" +
             std::to_string(u2.port()) +
             ";\n"
             "    }\n"
             "    server {\n"
             "        listen 127.0.0.1:" +
             std::to_string(port) +
             " udp;\n"
             "        proxy_pass dns;\n"
             "        proxy_responses 1;\n"
             "        proxy_timeout 2s;\n"
             "    }\n"
             "}\n"));
    ASSERT_TRUE(halo_.start());
    std::map<std::string, int> seen;
    for (int i = 0; i < 6; i++) {
        std::string q = "query" + std::to_string(i);
        std::string out;
        ASSERT_TRUE(wait_until([&] { return !(out = udp_roundtrip(port, q)).empty(); }));
        ASSERT_EQ(out.substr(out.find(':') + 1), q);
        seen[out.substr(0, out.find(':'))]++;
    }
    EXPECT_EQ(seen["u1"], 3);
    EXPECT_EQ(seen["u2"], 3);
}

TEST_F(StreamTest, AKilledBackendIsTakenOutAndTheActiveCheckMarksItDown) {
    if (!halo_has_module("http_healthcheck")) {
        GTEST_SKIP() << "no healthcheck module";
    }
    TcpEchoBackend a("a"), b("b");
    auto dead = std::make_unique<TcpEchoBackend>("dead");
    uint16_t dead_port = dead->port();
    halo_.write_conf(
        conf("stream {\n"
             "    upstream be {\n"
             "        server 127.0.0.1:" +
                 std::to_string(a.port()) +
                 ";\n"
                 "        server 127.0.0.1:" +
                 std::to_string(dead_port) +
                 ";\n"
                 "        server 127.0.0.1:" +
                 std::to_string(b.port()) +
                 ";\n"
                 "        health_check type=tcp interval=200ms fall=1 rise=1;\n"
                 "    }\n"
                 "    server { listen 127.0.0.1:%%PORT_0%%; proxy_pass be; }\n"
                 "}\n",
             2));
    ASSERT_TRUE(halo_.start());
    dead->stop();  // killed mid-test: its port refuses
    // The health check notices it, and every new session goes to the two others.
    ASSERT_TRUE(wait_until([&] {
        return halo_.error_log().find("127.0.0.1:" + std::to_string(dead_port) +
                                      "\" in upstream \"be\" is down") != std::string::npos ||
               halo_.error_log().find("127.0.0.1:" + std::to_string(dead_port) +
                                      " in upstream \"be\" is down") != std::string::npos;
    })) << halo_.error_log();
    for (int i = 0; i < 10; i++) {
        std::string name = who(tcp_roundtrip(halo_.port(0), "x"));
        EXPECT_TRUE(name == "a" || name == "b") << name;
    }
}

TEST_F(StreamTest, ARefusingBackendIsSkippedForTheNextOne) {
    TcpEchoBackend a("a");
    uint16_t closed = free_port();
    halo_.write_conf(
        conf("stream {\n"
             "    upstream be {\n"
             "        server 127.0.0.1:" +
             std::to_string(closed) +
             ";\n"
             "        server 127.0.0.1:" +
             std::to_string(a.port()) +
             ";\n"
             "    }\n"
             "    server { listen 127.0.0.1:%%PORT_0%%; proxy_pass be; }\n"
             "}\n"));
    ASSERT_TRUE(halo_.start());
    for (int i = 0; i < 4; i++) {
        EXPECT_EQ(who(tcp_roundtrip(halo_.port(0), "x")), "a");
    }
    EXPECT_NE(halo_.error_log().find("connect() failed (111: Connection refused) while "
                                     "connecting to upstream"),
              std::string::npos)
        << halo_.error_log();
}

TEST_F(StreamTest, ProxyProtocolGoesToTheBackendAndComesFromTheClient) {
    ProxyProtocolBackend pp("pp");
    halo_.write_conf(
        conf("stream {\n"
             "    server {\n"
             "        listen 127.0.0.1:%%PORT_0%%;\n"
             "        proxy_pass " +
             pp.address() +
             ";\n"
             "        proxy_protocol on;\n"
             "    }\n"
             "    server {\n"
             "        listen 127.0.0.1:%%PORT_1%% proxy_protocol;\n"
             "        proxy_pass " +
             pp.address() +
             ";\n"
             "        proxy_protocol on;\n"
             "    }\n"
             "}\n"));
    ASSERT_TRUE(halo_.start());
    EXPECT_EQ(tcp_roundtrip(halo_.port(0), "data"), "data");
    ASSERT_TRUE(wait_until([&] {
        for (const ProxyHeader& h : pp.headers()) {
            if (h.version == 1 && h.family == "TCP4" && h.src_addr == "127.0.0.1" &&
                h.dst_port == halo_.port(0)) {
                return true;
            }
        }
        return false;
    }));
    // A client's own PROXY header is read and taken off the bytes (halo's header to the
    // backend names the connection's peer, as nginx's does without realip).
    EXPECT_EQ(tcp_roundtrip(halo_.port(1), "PROXY TCP4 192.0.2.7 127.0.0.1 4000 80\r\nmore",
                            std::string("more")),
              "more");
    // A broken one ends the session.
    EXPECT_EQ(tcp_roundtrip(halo_.port(1), "GET / HTTP/1.0\r\n\r\n"), "");
    EXPECT_NE(halo_.error_log().find("broken header"), std::string::npos) << halo_.error_log();
}

TEST_F(StreamTest, TlsPassesThroughToTheRealServers) {
    TlsPassthroughBackend t1("t1"), t2("t2"), t3("t3");
    if (t1.port() == 0) {
        GTEST_SKIP() << "no OpenSSL in the tests";
    }
    halo_.write_conf(
        conf("stream {\n"
             "    upstream tls {\n"
             "        server " +
             t1.address() + " weight=2;\n        server " + t2.address() + ";\n        server " +
             t3.address() +
             ";\n"
             "    }\n"
             "    server { listen 127.0.0.1:%%PORT_0%%; proxy_pass tls; }\n"
             "}\n"));
    ASSERT_TRUE(halo_.start());
    std::map<std::string, int> seen;
    for (int i = 0; i < 8; i++) {
        std::string fp;
        std::string out = tls_roundtrip(halo_.port(0), "app.example.com", &fp, "hi\n");
        ASSERT_EQ(out.substr(0, 4), "tls ") << out;
        std::string name = out.substr(4, out.find('\n') - 4);
        // The certificate the client saw is the real server's own: the handshake reached it.
        const TlsPassthroughBackend& b = name == "t1" ? t1 : name == "t2" ? t2 : t3;
        EXPECT_EQ(fp, b.fingerprint()) << name;
        seen[name]++;
    }
    EXPECT_EQ(seen["t1"] + seen["t2"] + seen["t3"], 8);
    EXPECT_GE(seen["t1"], 3);  // weight 2 of 4 (the harness's probe took one pick)
    EXPECT_GE(seen["t2"], 1);
    EXPECT_GE(seen["t3"], 1);
    EXPECT_EQ(t1.last_server_name(), "app.example.com");
}

TEST_F(StreamTest, DebianLoadModuleLineForStreamIsAccepted) {
    halo_.write_conf("load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n" +
                     conf("stream {\n    server { listen 127.0.0.1:%%PORT_0%%; proxy_pass "
                          "127.0.0.1:1; }\n}\n"));
    RunResult r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 0) << r;
}

TEST_F(StreamTest, SslPrereadRoutesOnTheServerName) {
    if (!halo_has_module("stream_ssl_preread")) {
        GTEST_SKIP() << "no stream_ssl_preread module";
    }
    TlsPassthroughBackend a("a"), b("b");
    TcpEchoBackend plain("plain");
    if (a.port() == 0) {
        GTEST_SKIP() << "no OpenSSL in the tests";
    }
    halo_.write_conf(
        conf("stream {\n"
             "    upstream a.example { server " +
             a.address() +
             "; }\n"
             "    upstream b.example { server " +
             b.address() +
             "; }\n"
             "    upstream other { server " +
             plain.address() +
             "; }\n"
             "    server {\n"
             "        listen 127.0.0.1:%%PORT_0%%;\n"
             "        ssl_preread on;\n"
             "        preread_timeout 2s;\n"
             "        proxy_pass $ssl_preread_server_name;\n"
             "    }\n"
             "    server {\n"
             "        listen 127.0.0.1:%%PORT_1%%;\n"
             "        ssl_preread on;\n"
             "        preread_buffer_size 64;\n"
             "        proxy_pass other;\n"
             "    }\n"
             "}\n"));
    ASSERT_TRUE(halo_.start());
    for (int i = 0; i < 3; i++) {
        std::string fp;
        EXPECT_EQ(tls_roundtrip(halo_.port(0), "b.example", &fp, "x\n"), "tls b\nx\n");
        EXPECT_EQ(fp, b.fingerprint());
        EXPECT_EQ(tls_roundtrip(halo_.port(0), "a.example", &fp, "x\n"), "tls a\nx\n");
        EXPECT_EQ(fp, a.fingerprint());
    }
    EXPECT_EQ(b.last_server_name(), "b.example");
    // A name no upstream has: 502, the session ends.
    EXPECT_EQ(tls_roundtrip(halo_.port(0), "nobody.example", nullptr, "x\n"), "");
    EXPECT_NE(halo_.error_log().find("no upstream \"nobody.example\""), std::string::npos)
        << halo_.error_log();
    // A ClientHello larger than preread_buffer_size: 400.
    EXPECT_EQ(tls_roundtrip(halo_.port(1), "a.example", nullptr, "x\n"), "");
    EXPECT_NE(halo_.error_log().find("preread buffer full"), std::string::npos)
        << halo_.error_log();
}

TEST_F(StreamTest, HashOnTheClientAddressKeepsAClientOnOneServer) {
    TcpEchoBackend a("a"), b("b"), c("c");
    halo_.write_conf(
        conf("stream {\n"
             "    upstream be {\n"
             "        hash $remote_addr consistent;\n"
             "        server " +
             a.address() + ";\n        server " + b.address() + ";\n        server " + c.address() +
             ";\n"
             "    }\n"
             "    server { listen 127.0.0.1:%%PORT_0%%; proxy_pass be; }\n"
             "}\n"));
    ASSERT_TRUE(halo_.start());
    std::string first = who(tcp_roundtrip(halo_.port(0), "x"));
    ASSERT_FALSE(first.empty());
    for (int i = 0; i < 6; i++) {
        EXPECT_EQ(who(tcp_roundtrip(halo_.port(0), "x")), first);
    }
    expect_emerg(
        "stream {\n    upstream u {\n        ip_hash;\n        server 127.0.0.1:1;\n"
        "    }\n}\n",
        "\"ip_hash\" directive is not allowed in a stream upstream (nginx's stream has "
        "none): use \"hash $remote_addr;\"",
        7);
}

TEST_F(StreamTest, UdpSessionsStopAtWorkerConnections) {
    // Each UDP session holds a socket to its peer: new client addresses past
    // worker_connections are dropped (with an alert), the sessions already there keep working.
    UdpEchoBackend u("u");
    uint16_t port = free_port();
    std::string c = conf(
        "stream {\n    server {\n        listen 127.0.0.1:" + std::to_string(port) +
        " udp;\n        proxy_pass " + u.address() + ";\n        proxy_timeout 30s;\n    }\n}\n");
    c.replace(c.find("worker_connections 256"), 22, "worker_connections 8");
    halo_.write_conf(c);
    ASSERT_TRUE(halo_.start());
    std::vector<std::unique_ptr<UdpClient>> clients;
    int answered = 0;
    for (int i = 0; i < 12; i++) {
        clients.push_back(std::make_unique<UdpClient>(port));
        clients.back()->send("q" + std::to_string(i));
        if (!clients.back()->receive(StreamMillis(i < 8 ? 2000 : 500)).empty()) {
            answered++;
        }
    }
    EXPECT_EQ(answered, 8);
    EXPECT_NE(halo_.error_log().find("8 worker_connections are not enough"), std::string::npos)
        << halo_.error_log();
    // The first client's session still answers.
    clients[0]->send("again");
    EXPECT_EQ(clients[0]->receive(), "u:again");
}

TEST_F(StreamTest, DownloadAndUploadRatesLimitWhatASessionReads) {
    // nginx's rule: by second t of a session, rate * (t + 1) bytes may have been read from the
    // limited side. 250 KiB at 100 KiB/s needs t >= 2, so the echo cannot be complete in less
    // than a second (a bound the limit guarantees, not a speed measured).
    TcpEchoBackend a("a");
    std::string be = "127.0.0.1:" + std::to_string(a.port());
    halo_.write_conf(
        conf("stream {\n    proxy_upload_rate 0;\n"
             "    server { listen 127.0.0.1:%%PORT_0%%; proxy_pass " +
             be +
             "; proxy_download_rate 100k; }\n"
             "    server { listen 127.0.0.1:%%PORT_1%%; proxy_pass " +
             be +
             "; proxy_upload_rate 100k; }\n"
             "    server { listen 127.0.0.1:%%PORT_2%%; proxy_pass " +
             be + "; }\n}\n"));
    ASSERT_TRUE(halo_.start());
    std::string data = pattern_bytes(250 * 1024);
    for (int i = 0; i < 3; i++) {
        auto t0 = std::chrono::steady_clock::now();
        std::string out = tcp_roundtrip(halo_.port(i), data, std::nullopt, StreamMillis(15000));
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - t0)
                      .count();
        ASSERT_EQ(out.size(), a.greeting().size() + data.size()) << "server " << i;
        EXPECT_TRUE(out.substr(a.greeting().size()) == data) << "server " << i;
        if (i < 2) {
            EXPECT_GE(ms, 1000) << "server " << i << ": the rate did not hold the session back";
        }
    }
}

TEST_F(StreamTest, RatesAreRefusedForUdp) {
    expect_emerg(
        "stream {\n    proxy_download_rate 10k;\n    server {\n        listen 1234 udp;\n"
        "        proxy_pass 127.0.0.1:1;\n    }\n}\n",
        "\"proxy_download_rate\" and \"proxy_upload_rate\" are not supported by halo for udp "
        "(\"listen ... udp\" in " +
            halo_.conf_path() + ":8; only TCP sessions are limited)",
        6);
    expect_emerg("stream {\n    server { listen 1234; proxy_upload_rate $x; }\n}\n",
                 "\"proxy_upload_rate\" with variables is not supported by halo yet", 6);
}

TEST_F(StreamTest, ConfigErrorsNameTheLine) {
    expect_emerg("stream {\n    server { proxy_pass 127.0.0.1:1; }\n}\n",
                 "no \"listen\" is defined for server", 6);
    expect_emerg("stream {\n    server {\n        listen 127.0.0.1;\n    }\n}\n",
                 "no port in \"127.0.0.1\" of the \"listen\" directive", 7);
    expect_emerg(
        "stream {\n    upstream u {\n        server 127.0.0.1:1;\n        keepalive 4;\n"
        "    }\n}\n",
        "\"keepalive\" directive is not allowed in a stream upstream (an L4 session is "
        "one connection, never reused)",
        8);
    expect_emerg("stream {\n    upstream u {\n        server 127.0.0.1;\n    }\n}\n",
                 "no port in upstream \"127.0.0.1\"", 7);
    expect_emerg("stream {\n    server {\n        listen 1234 udp backlog=10;\n    }\n}\n",
                 "\"backlog\" parameter is incompatible with \"udp\"", 7);
    expect_emerg("stream {\n    server { listen 1234; }\n    server { listen 1234; }\n}\n",
                 "duplicate \"0.0.0.0:1234\" address and port pair", 7);
}

TEST_F(StreamTest, HttpAndStreamUpstreamsHaveTheirOwnNames) {
    TcpEchoBackend a("a");
    halo_.write_conf(
        conf("http {\n"
             "    upstream be { server 127.0.0.1:1; }\n"
             "    server { listen 127.0.0.1:%%PORT_1%%; location / { proxy_pass "
             "http://be; } }\n"
             "}\n"
             "stream {\n"
             "    upstream be { server 127.0.0.1:" +
             std::to_string(a.port()) +
             "; }\n"
             "    server { listen 127.0.0.1:%%PORT_0%%; proxy_pass be; }\n"
             "}\n"));
    ASSERT_TRUE(halo_.start());
    EXPECT_EQ(who(tcp_roundtrip(halo_.port(0), "x")), "a");
}

}  // namespace
}  // namespace halo_test
