// `listen ... proxy_protocol` through the real binary: PROXY protocol v1 and v2 headers give
// $proxy_protocol_addr/_port/_server_addr/_server_port, `real_ip_header proxy_protocol` makes
// the client address $remote_addr for a trusted balancer, a connection without a valid header
// is closed (nginx: the header is required), keep-alive requests after the header work, and on
// an `ssl` port the header comes before the TLS handshake.
// Compared with Debian's nginx on the same requests when it is installed.
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include <string>
#include <vector>

#include "support/harness.h"
#include "support/test_cert.h"

namespace halo_test {
namespace {

constexpr std::string_view kServers = R"(
    server {
        listen 127.0.0.1:%%PORT%% proxy_protocol;
        set_real_ip_from 127.0.0.1;
        real_ip_header proxy_protocol;
        location / {
            return 200 "$proxy_protocol_addr $proxy_protocol_port $proxy_protocol_server_addr $proxy_protocol_server_port $remote_addr\n";
        }
        location /untrusted {
            set_real_ip_from 10.0.0.0/8;  # realip ran at post_read with the server's
            return 200 "$remote_addr\n";
        }
    }
)";

std::string v2_header(bool ipv6, bool local = false) {
    std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
    h += static_cast<char>(local ? 0x20 : 0x21);
    if (local) {
        h += '\0';
        h += std::string("\0\0", 2);
        return h;
    }
    h += static_cast<char>(ipv6 ? 0x21 : 0x11);
    std::string body;
    if (ipv6) {
        // src 2001:db8::1, dst 2001:db8::2, ports 40000, 443
        std::string a(16, '\0');
        a[0] = 0x20;
        a[1] = 0x01;
        a[2] = 0x0d;
        a[3] = static_cast<char>(0xb8);
        std::string src = a;
        src[15] = 1;
        std::string dst = a;
        dst[15] = 2;
        body = src + dst;
    } else {
        body = std::string("\xc0\x00\x02\x07", 4) + std::string("\xc6\x33\x64\x09", 4);
    }
    body += std::string("\x9c\x40", 2);          // 40000
    body += std::string("\x01\xbb", 2);          // 443
    body += std::string("\x03\x00\x04zzzz", 7);  // a TLV (PP2_TYPE_CRC32C shape), skipped
    h += static_cast<char>(body.size() >> 8);
    h += static_cast<char>(body.size() & 0xff);
    return h + body;
}

/// Sends `prefix` then `requests` GETs (keep-alive, the last closing) on one connection;
/// the bodies in order, or what went wrong.
std::vector<std::string> exchange(uint16_t port, const std::string& prefix,
                                  const std::string& path = "/", int requests = 1) {
    std::vector<std::string> out;
    HttpConnection c;
    if (!c.connect(port) || !c.send(prefix)) {
        return {"<connect>"};
    }
    for (int i = 0; i < requests; i++) {
        if (!c.send(get_request(path, "x", i + 1 < requests))) {
            out.push_back("<send>");
            break;
        }
        auto r = c.read_response();
        if (!r) {
            out.push_back(c.eof_before_response() ? "<closed>" : "<error>");
            break;
        }
        out.push_back(std::to_string(r->status) + " " + r->body);
    }
    return out;
}

struct Case {
    std::string prefix;
    std::string path;
    int requests;
};

std::vector<Case> cases() {
    return {
        {"PROXY TCP4 192.0.2.7 198.51.100.9 40000 443\r\n", "/", 2},
        {"PROXY TCP6 2001:db8::1 2001:db8::2 40000 443\r\n", "/", 1},
        {"PROXY UNKNOWN\r\n", "/", 1},
        {v2_header(false), "/", 2},
        {v2_header(true), "/", 1},
        {v2_header(false, true), "/", 1},
        {"PROXY TCP4 192.0.2.7 198.51.100.9 40000 443\r\n", "/untrusted", 1},
        {"", "/", 1},                                       // no header: closed
        {"PROXY TCP4 192.0.2.7 nonsense 1 2\r\n", "/", 1},  // broken: closed
    };
}

std::string fill_port(std::string_view text, uint16_t port) {
    std::string out(text);
    for (size_t at; (at = out.find("%%PORT%%")) != std::string::npos;) {
        out.replace(at, 8, std::to_string(port));
    }
    return out;
}

TEST(ProxyProtocolTest, HeadersGiveTheAddressesAsNginx) {
    if (!halo_has_module("http_rewrite") || !halo_has_module("http_realip")) {
        GTEST_SKIP() << "the http_rewrite or http_realip module is not compiled in";
    }
    Halo halo;
    halo.write_conf(
        "daemon off;\nworker_processes 1;\nerror_log logs/error.log info;\nevents {}\n"
        "http {\naccess_log off;\n" +
        fill_port(kServers, halo.port(0)) + "}\n");
    // The harness's readiness probe connects without a header: that connection is dropped.
    ASSERT_TRUE(halo.start()) << halo.error_log();
    std::vector<std::vector<std::string>> got;
    for (const Case& c : cases()) {
        got.push_back(exchange(halo.port(0), c.prefix, c.path, c.requests));
    }
    const std::string v4 = "200 192.0.2.7 40000 198.51.100.9 443 192.0.2.7\n";
    const std::string v6 = "200 2001:db8::1 40000 2001:db8::2 443 2001:db8::1\n";
    const std::vector<std::vector<std::string>> expected = {
        {v4, v4},
        {v6},
        {"200     127.0.0.1\n"},
        {v4, v4},
        {v6},
        {"200     127.0.0.1\n"},
        {"200 192.0.2.7\n"},
        {"<closed>"},
        {"<closed>"},
    };
    EXPECT_EQ(got, expected);
    EXPECT_FALSE(log_lines_with(halo.error_log(), "broken header").empty()) << halo.error_log();

    if (run_command({"nginx", "-v"}).status != 0) {
        return;
    }
    TempDir dir("nginx-pp");
    uint16_t port = free_port();
    std::string conf = "pid " + dir.path() + "/nginx.pid;\nerror_log " + dir.path() +
                       "/logs/error.log;\ndaemon off;\nmaster_process off;\nevents {}\nhttp {\n"
                       "access_log off;\nclient_body_temp_path " +
                       dir.path() + "/tmp;\n" + fill_port(kServers, port) + "}\n";
    ASSERT_TRUE(write_file(dir / "nginx.conf", conf));
    pid_t pid = fork();
    if (pid == 0) {
        execlp("nginx", "nginx", "-p", (dir.path() + "/").c_str(), "-c",
               (dir / "nginx.conf").c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    ASSERT_GT(pid, 0);
    bool up = wait_for_port(port);
    std::vector<std::vector<std::string>> nginx;
    for (const Case& c : cases()) {
        nginx.push_back(exchange(port, c.prefix, c.path, c.requests));
    }
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
    ASSERT_TRUE(up);
    EXPECT_EQ(got, nginx);
}

// A TLS site behind an L4 balancer that sends the PROXY header (`listen ... ssl
// proxy_protocol`): the header is read in clear, then the handshake. curl sends a v1 header with
// its own addresses; a TLS client without a header is closed with nginx's "broken header" line;
// a header followed by plain HTTP gets nginx's 400 for plain HTTP on an https port, logged with
// the header's address ($remote_addr stays the balancer's: as in nginx that 400 comes before
// the post-read phase where realip runs).
TEST(ProxyProtocolTest, SslPortReadsTheHeaderThenTheHandshake) {
    Halo halo;
    ASSERT_TRUE(make_certificate("a.test", halo.path("a.crt"), halo.path("a.key")));
    halo.write_conf(R"(
daemon off;
error_log logs/error.log info;
events {}
http {
    log_format pp "$proxy_protocol_addr $remote_addr $status";
    access_log logs/access.log pp;
    server {
        listen 127.0.0.1:%%PORT_0%% ssl proxy_protocol;
        ssl_certificate %%PREFIX%%/a.crt;
        ssl_certificate_key %%PREFIX%%/a.key;
        set_real_ip_from 127.0.0.1;
        real_ip_header proxy_protocol;
        location / {
            return 200 "pp=$proxy_protocol_addr remote=$remote_addr https=$https\n";
        }
    }
}
)");
    ASSERT_TRUE(halo.start());
    std::string url = "https://127.0.0.1:" + std::to_string(halo.port(0)) + "/";
    RunResult r =
        run_command({"curl", "-sS", "-k", "--max-time", "20", "--haproxy-protocol", url, url}, 25s);
    EXPECT_EQ(r.status, 0) << r;
    // Two requests on one connection: one header, one handshake.
    EXPECT_EQ(r.out,
              "pp=127.0.0.1 remote=127.0.0.1 https=on\n"
              "pp=127.0.0.1 remote=127.0.0.1 https=on\n");

    RunResult no_header = run_command({"curl", "-sS", "-k", "--max-time", "20", url}, 25s);
    EXPECT_NE(no_header.status, 0) << no_header;
    EXPECT_TRUE(wait_until([&] {
        return halo.error_log().find("while reading PROXY protocol, client: 127.0.0.1") !=
               std::string::npos;
    })) << halo.error_log();
    EXPECT_NE(halo.error_log().find("broken header: \""), std::string::npos);

    HttpConnection c;
    ASSERT_TRUE(c.connect(halo.port(0)));
    ASSERT_TRUE(
        c.send("PROXY TCP4 192.0.2.7 198.51.100.9 40000 443\r\n" + get_request("/", "x", false)));
    auto plain = c.read_response();
    ASSERT_TRUE(plain);
    EXPECT_EQ(plain->status, 400);
    EXPECT_NE(plain->body.find("The plain HTTP request was sent to HTTPS port"), std::string::npos)
        << plain->body;
    EXPECT_TRUE(wait_until([&] {
        return read_file(halo.path("logs/access.log"))
                   .value_or("")
                   .find("192.0.2.7 127.0.0.1 400") != std::string::npos;
    })) << read_file(halo.path("logs/access.log")).value_or("");
}

}  // namespace
}  // namespace halo_test
