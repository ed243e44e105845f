// The stream test backends' own checks (tests/support/stream_backend.h), before any stream test
// relies on them: each backend talked to directly (no proxy), then all four behind Debian's
// nginx stream module (libnginx-mod-stream; skipped when it is not installed), the reference
// L4 proxy, so that the backends are known to work through a real proxy too.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "support/harness.h"
#include "support/nginx.h"
#include "support/stream_backend.h"

namespace halo_test {
namespace {

/// A TCP connection held open by the test (closed by the destructor).
struct Held {
    int fd = -1;
    explicit Held(uint16_t port) {
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(port);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
            ::close(fd);
            fd = -1;
        }
    }
    ~Held() {
        if (fd >= 0) {
            ::close(fd);
        }
    }
    /// Everything until EOF (or 5 s of silence).
    std::string read_to_eof() const {
        std::string out;
        char buf[4096];
        for (;;) {
            struct pollfd p = {fd, POLLIN, 0};
            if (::poll(&p, 1, 5000) != 1) {
                return out + "<timeout>";
            }
            ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
            if (n <= 0) {
                return out;
            }
            out.append(buf, static_cast<size_t>(n));
        }
    }
};

// ---- TCP echo ---------------------------------------------------------------------------------

TEST(StreamBackendTest, TcpEchoGreetsThenEchoes) {
    TcpEchoBackend a("a");
    ASSERT_NE(a.port(), 0);
    EXPECT_EQ(tcp_roundtrip(a.port(), "ping\n"), "hello from a\nping\n");
    EXPECT_EQ(tcp_roundtrip(a.port(), ""), "hello from a\n");
    EXPECT_EQ(a.connections(), 2);
    EXPECT_EQ(a.bytes(), 5u);
    EXPECT_TRUE(wait_until([&] { return a.open_connections() == 0; }));

    TcpEchoBackend quiet("q", false);
    EXPECT_EQ(tcp_roundtrip(quiet.port(), "x"), "x");
}

TEST(StreamBackendTest, TcpEchoMovesAMegabyteBothWays) {
    TcpEchoBackend a("a", false);
    std::string big(1 << 20, '\0');
    for (size_t i = 0; i < big.size(); i++) {
        big[i] = static_cast<char>('a' + i % 23);
    }
    std::string got = tcp_roundtrip(a.port(), big);
    EXPECT_EQ(got.size(), big.size());
    EXPECT_TRUE(got == big);
    EXPECT_EQ(a.bytes(), big.size());
}

TEST(StreamBackendTest, TcpEchoStopClosesConnectionsAndRestartReusesThePort) {
    TcpEchoBackend a("a");
    uint16_t port = a.port();
    Held held(port);
    ASSERT_GE(held.fd, 0);
    ASSERT_TRUE(wait_until([&] { return a.open_connections() == 1; }));
    // Counted open at accept, greeted by its thread a moment later: stop() only after that.
    ASSERT_TRUE(wait_until([&] { return a.greeted() == 1; }));
    a.stop();
    EXPECT_EQ(held.read_to_eof(), "hello from a\n");  // then EOF, not a timeout
    EXPECT_FALSE(port_accepts(port));
    EXPECT_EQ(tcp_roundtrip(port, "x"), "");
    ASSERT_TRUE(a.restart());
    EXPECT_EQ(a.port(), port);
    EXPECT_EQ(tcp_roundtrip(port, "again"), "hello from a\nagain");
    EXPECT_EQ(a.connections(), 2);
}

// ---- UDP --------------------------------------------------------------------------------------

TEST(StreamBackendTest, UdpAnswersEachDatagramWithItsName) {
    UdpEchoBackend dns("dns1");
    ASSERT_NE(dns.port(), 0);
    EXPECT_EQ(udp_roundtrip(dns.port(), "query-1"), "dns1:query-1");
    EXPECT_EQ(udp_roundtrip(dns.port(), "query-2"), "dns1:query-2");
    EXPECT_EQ(dns.datagrams(), 2);
    EXPECT_EQ(dns.sources().size(), 2u);  // a fresh client socket each time

    dns.set_replies(3);
    EXPECT_EQ(udp_roundtrip_all(dns.port(), "q", 5, std::chrono::milliseconds(300)),
              std::vector<std::string>(3, "dns1:q"));
    dns.set_replies(0);
    EXPECT_EQ(udp_roundtrip(dns.port(), "q", std::chrono::milliseconds(300)), "");
    EXPECT_EQ(dns.datagrams(), 4);
}

TEST(StreamBackendTest, UdpClientKeepsItsSourcePort) {
    UdpEchoBackend dns("d", 2);
    UdpClient client(dns.port());
    ASSERT_NE(client.local_port(), 0);
    for (std::string q : {"a", "b"}) {
        ASSERT_TRUE(client.send(q));
        EXPECT_EQ(client.receive(), "d:" + q);
        EXPECT_EQ(client.receive(), "d:" + q);
    }
    EXPECT_EQ(client.receive(std::chrono::milliseconds(200)), "");
    EXPECT_EQ(dns.sources(), std::vector<uint16_t>{client.local_port()});
}

TEST(StreamBackendTest, UdpStopAndRestart) {
    UdpEchoBackend dns("d");
    uint16_t port = dns.port();
    dns.stop();
    EXPECT_EQ(udp_roundtrip(port, "q", std::chrono::milliseconds(300)), "");
    ASSERT_TRUE(dns.restart());
    EXPECT_EQ(dns.port(), port);
    EXPECT_EQ(udp_roundtrip(port, "q"), "d:q");
}

// ---- TLS --------------------------------------------------------------------------------------

TEST(StreamBackendTest, TlsBackendShowsItsCertificateAndRecordsTheSni) {
    TlsPassthroughBackend a("a");
    TlsPassthroughBackend b("b");
    if (a.port() == 0) {
        GTEST_SKIP() << "built without OpenSSL";
    }
    ASSERT_EQ(a.fingerprint().size(), 64u);
    EXPECT_NE(a.fingerprint(), b.fingerprint());  // a certificate of its own each

    std::string fp;
    EXPECT_EQ(tls_roundtrip(a.port(), "a.example", &fp), "tls a\n");
    EXPECT_EQ(fp, a.fingerprint());
    EXPECT_EQ(a.last_server_name(), "a.example");
    EXPECT_EQ(tls_roundtrip(b.port(), "", &fp, "echo me\n"), "tls b\necho me\n");
    EXPECT_EQ(fp, b.fingerprint());
    EXPECT_EQ(b.server_names(), std::vector<std::string>{""});
    EXPECT_EQ(tls_roundtrip(b.port(), "b.example", &fp, {}, {"h2", "http/1.1"}), "tls b\n");
    EXPECT_EQ(b.alpn_offers(), std::vector<std::string>({"", "h2,http/1.1"}));

    // A connection that never speaks TLS is a connection, not a handshake.
    EXPECT_EQ(tcp_roundtrip(a.port(), "not tls\r\n\r\n", std::string("never")), "");
    EXPECT_EQ(a.connections(), 2);
    EXPECT_EQ(a.handshakes(), 1);
}

TEST(StreamBackendTest, TlsBackendStopAndRestart) {
    TlsPassthroughBackend a("a");
    if (a.port() == 0) {
        GTEST_SKIP() << "built without OpenSSL";
    }
    uint16_t port = a.port();
    a.stop();
    EXPECT_EQ(tls_roundtrip(port, "x", nullptr), "");
    ASSERT_TRUE(a.restart());
    std::string fp;
    EXPECT_EQ(tls_roundtrip(port, "x", &fp), "tls a\n");
    EXPECT_EQ(fp, a.fingerprint());  // the same certificate after a restart
}

// ---- PROXY protocol ---------------------------------------------------------------------------

std::string v2(uint8_t ver_cmd, uint8_t fam, const std::string& body) {
    std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
    h += static_cast<char>(ver_cmd);
    h += static_cast<char>(fam);
    h += static_cast<char>(body.size() >> 8);
    h += static_cast<char>(body.size() & 0xff);
    return h + body;
}

TEST(StreamBackendTest, ParsesProxyProtocolV1) {
    ProxyParse p = parse_proxy_header("PROXY TCP4 192.0.2.7 198.51.100.9 40000 443\r\nrest");
    EXPECT_EQ(p.header.error, "");
    EXPECT_EQ(p.length, 45u);
    EXPECT_EQ(p.header.version, 1);
    EXPECT_EQ(p.header.family, "TCP4");
    EXPECT_EQ(p.header.src_addr, "192.0.2.7");
    EXPECT_EQ(p.header.src_port, 40000);
    EXPECT_EQ(p.header.dst_addr, "198.51.100.9");
    EXPECT_EQ(p.header.dst_port, 443);

    p = parse_proxy_header("PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n");
    EXPECT_EQ(p.header.src_addr, "2001:db8::1");
    EXPECT_EQ(p.header.dst_port, 65535);
    p = parse_proxy_header("PROXY UNKNOWN whatever\r\n");
    EXPECT_EQ(p.header.family, "UNKNOWN");
    EXPECT_EQ(p.length, 24u);

    EXPECT_TRUE(parse_proxy_header("PRO").need_more);
    EXPECT_TRUE(parse_proxy_header("PROXY TCP4 1.2.3.4").need_more);
    EXPECT_NE(parse_proxy_header("PROXY TCP4 1.2.3.400 1.2.3.4 1 2\r\n").header.error, "");
    EXPECT_NE(parse_proxy_header("PROXY TCP4 1.2.3.4 1.2.3.4 1 65536\r\n").header.error, "");
    EXPECT_NE(parse_proxy_header("PROXY TCP6 1.2.3.4 1.2.3.4 1 2\r\n").header.error, "");
    EXPECT_NE(parse_proxy_header("PROXY " + std::string(120, 'x')).header.error, "");
    EXPECT_NE(parse_proxy_header("GET / HTTP/1.1\r\n").header.error, "");
}

TEST(StreamBackendTest, ParsesProxyProtocolV2) {
    // src 192.0.2.7:40000, dst 198.51.100.9:443, then a TLV (ignored)
    std::string v4 = std::string("\xc0\x00\x02\x07\xc6\x33\x64\x09\x9c\x40\x01\xbb", 12) +
                     std::string("\x04\x00\x01x", 4);
    ProxyParse p = parse_proxy_header(v2(0x21, 0x11, v4) + "rest");
    EXPECT_EQ(p.header.error, "");
    EXPECT_EQ(p.length, 16u + 16u);
    EXPECT_EQ(p.header.version, 2);
    EXPECT_EQ(p.header.command, "PROXY");
    EXPECT_EQ(p.header.family, "TCP4");
    EXPECT_EQ(p.header.src_addr, "192.0.2.7");
    EXPECT_EQ(p.header.src_port, 40000);
    EXPECT_EQ(p.header.dst_addr, "198.51.100.9");
    EXPECT_EQ(p.header.dst_port, 443);

    std::string v6(36, '\0');
    v6[0] = 0x20, v6[1] = 0x01, v6[2] = 0x0d, v6[3] = static_cast<char>(0xb8), v6[15] = 1;
    v6[16] = 0x20, v6[17] = 0x01, v6[18] = 0x0d, v6[19] = static_cast<char>(0xb8), v6[31] = 2;
    v6[33] = 53, v6[35] = 53;
    p = parse_proxy_header(v2(0x21, 0x22, v6));
    EXPECT_EQ(p.header.family, "UDP6");
    EXPECT_EQ(p.header.src_addr, "2001:db8::1");
    EXPECT_EQ(p.header.dst_addr, "2001:db8::2");
    EXPECT_EQ(p.header.src_port, 53);

    p = parse_proxy_header(v2(0x20, 0x00, ""));
    EXPECT_EQ(p.header.command, "LOCAL");
    EXPECT_EQ(p.length, 16u);
    EXPECT_TRUE(parse_proxy_header(v2(0x21, 0x11, v4).substr(0, 20)).need_more);
    EXPECT_NE(parse_proxy_header(v2(0x31, 0x11, v4)).header.error, "");
    EXPECT_NE(parse_proxy_header(v2(0x21, 0x11, "short")).header.error, "");
}

TEST(StreamBackendTest, ProxyProtocolBackendRecordsTheHeaderAndEchoesTheRest) {
    ProxyProtocolBackend pp("pp");
    ASSERT_NE(pp.port(), 0);
    EXPECT_EQ(tcp_roundtrip(pp.port(), "PROXY TCP4 192.0.2.7 127.0.0.1 40000 443\r\nhello",
                            std::string("hello")),
              "hello");
    std::string v4("\x0a\x00\x00\x01\x7f\x00\x00\x01\x13\x88\x00\x50", 12);
    EXPECT_EQ(tcp_roundtrip(pp.port(), v2(0x21, 0x11, v4) + "x", std::string("x")), "x");
    // no header: closed at once, nothing echoed
    EXPECT_EQ(tcp_roundtrip(pp.port(), "hello\r\n"), "");

    std::vector<ProxyHeader> h = pp.headers();
    ASSERT_EQ(h.size(), 3u);
    EXPECT_EQ(h[0].version, 1);
    EXPECT_EQ(h[0].src_addr, "192.0.2.7");
    EXPECT_EQ(h[0].src_port, 40000);
    EXPECT_EQ(h[1].version, 2);
    EXPECT_EQ(h[1].src_addr, "10.0.0.1");
    EXPECT_EQ(h[1].src_port, 5000);
    EXPECT_EQ(h[1].dst_port, 80);
    EXPECT_EQ(h[2].version, 0);
    EXPECT_EQ(h[2].error, "no PROXY protocol header");
}

// ---- behind a real L4 proxy: Debian's nginx stream module -------------------------------------

constexpr char kNginxStream[] = "/usr/lib/nginx/modules/ngx_stream_module.so";

TEST(StreamBackendTest, AllFourBehindNginxStream) {
    if (!nginx_installed() || ::access(kNginxStream, R_OK) != 0) {
        GTEST_SKIP() << "nginx or its stream module (libnginx-mod-stream) is not installed";
    }
    TcpEchoBackend e1("e1"), e2("e2");
    UdpEchoBackend dns("dns");
    TlsPassthroughBackend tls("t1");
    ProxyProtocolBackend pp("pp");
    Nginx nginx;
    uint16_t tcp = nginx.port(), udp = free_port(), tlsp = free_port(), ppp = free_port();
    std::string conf = std::string("load_module ") + kNginxStream + ";\n" +
                       "worker_processes 1;\nevents { worker_connections 64; }\nstream {\n"
                       "  upstream echo { server " +
                       e1.address() + "; server " + e2.address() +
                       "; }\n"
                       "  server { listen 127.0.0.1:%%PORT_0%%; proxy_pass echo; }\n"
                       "  server { listen 127.0.0.1:" +
                       std::to_string(udp) + " udp; proxy_pass " + dns.address() +
                       "; proxy_responses 1; }\n"
                       "  server { listen 127.0.0.1:" +
                       std::to_string(tlsp) + "; proxy_pass " + tls.address() +
                       "; }\n"
                       "  server { listen 127.0.0.1:" +
                       std::to_string(ppp) + "; proxy_pass " + pp.address() +
                       "; proxy_protocol on; }\n}\n";
    // (nginx opens every listening socket before it starts: the wait's connection to the
    // first port goes to an echo backend, and is the only one made before ours)
    ASSERT_TRUE(nginx.start(conf, tcp));
    ASSERT_TRUE(wait_until([&] { return e1.connections() + e2.connections() == 1; }));

    // round robin: the next two connections go to both echo backends, one each
    std::vector<std::string> got = {tcp_roundtrip(tcp, "one"), tcp_roundtrip(tcp, "two")};
    std::sort(got.begin(), got.end());
    std::vector<std::string> want = {e1.greeting() + "one", e2.greeting() + "two"};
    if (e1.connections() == 2) {  // e1 took the wait's connection, then "two"
        want = {e1.greeting() + "two", e2.greeting() + "one"};
    }
    std::sort(want.begin(), want.end());
    EXPECT_EQ(got, want) << nginx.error_log();
    EXPECT_EQ(e1.connections() + e2.connections(), 3);

    EXPECT_EQ(udp_roundtrip(udp, "q"), "dns:q") << nginx.error_log();
    EXPECT_EQ(dns.datagrams(), 1);

    if (tls.port() != 0) {
        std::string fp;
        EXPECT_EQ(tls_roundtrip(tlsp, "svc.example", &fp, {}, {"imap"}), "tls t1\n")
            << nginx.error_log();
        EXPECT_EQ(fp, tls.fingerprint());
        EXPECT_EQ(tls.last_server_name(), "svc.example");
        EXPECT_EQ(tls.alpn_offers(), std::vector<std::string>{"imap"});
    }

    EXPECT_EQ(tcp_roundtrip(ppp, "hi", std::string("hi")), "hi") << nginx.error_log();
    std::vector<ProxyHeader> h = pp.headers();
    ASSERT_EQ(h.size(), 1u);
    EXPECT_EQ(h[0].version, 1);
    EXPECT_EQ(h[0].family, "TCP4");
    EXPECT_EQ(h[0].src_addr, "127.0.0.1");
    EXPECT_NE(h[0].src_port, 0);
    EXPECT_EQ(h[0].dst_addr, "127.0.0.1");
    EXPECT_EQ(h[0].dst_port, ppp);
}

}  // namespace
}  // namespace halo_test
