// The stream modules around the proxy, through the real binary: allow/deny (stream_access) in
// order with the first match deciding, inherited from the stream block, on TCP and unix
// sockets; access_log lines (stream_log) with the session variables, escaping and if=; map
// variables (stream_map) seen in log lines; config errors with file:line.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <string>

#include "support/harness.h"
#include "support/stream_backend.h"

namespace halo_test {
namespace {

/// Connects to the unix socket `path`, sends `data` and reads until the peer closes or 2 s
/// passed ("connect failed" when it could not connect).
std::string unix_exchange(const std::string& path, std::string_view data, size_t want) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path.c_str());
    timeval tv{2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
        ::close(fd);
        return "connect failed";
    }
    ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    std::string out;
    char buf[4096];
    while (out.size() < want) {
        ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) {
            break;
        }
        out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
}

class StreamModulesTest : public ::testing::Test {
  protected:
    void SetUp() override {
        for (const char* m : {"stream_proxy", "stream_access", "stream_log", "stream_map"}) {
            if (!halo_has_module(m)) {
                GTEST_SKIP() << "the " << m << " module is not compiled in";
            }
        }
    }
    std::string conf(std::string_view stream_block) {
        return "daemon off;\nworker_processes 1;\nerror_log logs/error.log info;\n"
               "events { worker_connections 256; }\n" +
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
    std::string log(std::string_view rel) { return read_file(halo_.path(rel)).value_or(""); }
    /// Waits until logs/<rel> has a line matching `pattern` (a whole line).
    bool wait_log_line(std::string_view rel, const std::string& pattern) {
        std::regex re(pattern);
        return wait_until([&] {
            std::string text = log(rel);
            size_t start = 0;
            while (start < text.size()) {
                size_t nl = text.find('\n', start);
                if (nl == std::string::npos) {
                    return false;  // a line is whole once its newline is there
                }
                if (std::regex_match(text.substr(start, nl - start), re)) {
                    return true;
                }
                start = nl + 1;
            }
            return false;
        });
    }
    std::string forbidden(int port_index) {
        return "access forbidden by rule while initializing session, client: 127.0.0.1, "
               "server: 127.0.0.1:" +
               std::to_string(halo_.port(port_index));
    }
    Halo halo_;
};

TEST_F(StreamModulesTest, AllowAndDenyTheFirstMatchingRuleDecides) {
    TcpEchoBackend a("a");
    std::string pass = "proxy_pass " + a.address() + ";";
    halo_.write_conf(
        conf("stream {\n"
             "    deny all;\n"  // inherited by a server without rules of its own
             "    server { listen 127.0.0.1:%%PORT_0%%; deny 127.0.0.1; allow all; " +
             pass +
             " }\n"
             "    server { listen 127.0.0.1:%%PORT_1%%; allow 127.0.0.0/8; deny all; " +
             pass +
             " }\n"
             "    server { listen 127.0.0.1:%%PORT_2%%; " +
             pass +
             " }\n"
             "    server { listen 127.0.0.1:%%PORT_3%%; allow ::1; allow unix:; "
             "deny 127.0.0.2; allow 127.0.0.1/32; deny all; " +
             pass +
             " }\n"
             "    server { listen unix:%%PREFIX%%/allowed.sock; allow unix:; deny all; " +
             pass +
             " }\n"
             "    server { listen unix:%%PREFIX%%/denied.sock; allow 127.0.0.1; deny unix:; " +
             pass +
             " }\n"
             "}\n"));
    ASSERT_TRUE(halo_.start());
    std::string echo = a.greeting() + "ping\n";
    EXPECT_EQ(tcp_roundtrip(halo_.port(0), "ping\n"), "");
    EXPECT_EQ(tcp_roundtrip(halo_.port(1), "ping\n", echo), echo);
    EXPECT_EQ(tcp_roundtrip(halo_.port(2), "ping\n"), "");
    EXPECT_EQ(tcp_roundtrip(halo_.port(3), "ping\n", echo), echo);
    EXPECT_EQ(unix_exchange(halo_.path("allowed.sock"), "ping\n", echo.size()), echo);
    EXPECT_EQ(unix_exchange(halo_.path("denied.sock"), "ping\n", echo.size()), "");
    ASSERT_TRUE(wait_until([&] {
        return halo_.error_log().find(forbidden(2)) != std::string::npos;
    })) << halo_.error_log();
    std::string errors = halo_.error_log();
    EXPECT_NE(errors.find(forbidden(0)), std::string::npos) << errors;
    EXPECT_EQ(errors.find(forbidden(1)), std::string::npos) << errors;
    EXPECT_EQ(errors.find(forbidden(3)), std::string::npos) << errors;
    EXPECT_NE(errors.find("access forbidden by rule while initializing session, client: unix:"),
              std::string::npos)
        << errors;
}

TEST_F(StreamModulesTest, AccessLogLinesCarryTheSessionVariables) {
    TcpEchoBackend a("a");
    halo_.write_conf(
        conf("stream {\n"
             "    log_format basic '$remote_addr $protocol $status $bytes_sent "
             "$bytes_received $upstream_addr $session_time \"$quoted\" $server_port';\n"
             "    log_format js escape=json '{\"addr\":\"$remote_addr\",\"up\":"
             "\"$upstream_addr\",\"st\":$status,\"q\":\"$quoted\"}';\n"
             "    map $remote_addr $quoted { default 'say \"hi\"'; }\n"
             "    access_log logs/stream.log basic;\n"  // inherited by server 0
             "    server {\n"
             "        listen 127.0.0.1:%%PORT_0%%;\n"
             "        proxy_pass " +
             a.address() +
             ";\n"
             "    }\n"
             "    server {\n"
             "        listen 127.0.0.1:%%PORT_1%%;\n"
             "        deny all;\n"
             "        proxy_pass " +
             a.address() +
             ";\n"
             "        access_log logs/if.log basic if=$upstream_addr;\n"
             "        access_log logs/json.log js;\n"
             "        access_log logs/stream.log basic;\n"
             "    }\n"
             "    server {\n"
             "        listen 127.0.0.1:%%PORT_2%%;\n"
             "        proxy_pass " +
             a.address() +
             ";\n"
             "        access_log off;\n"
             "    }\n"
             "}\n"));
    ASSERT_TRUE(halo_.start());
    std::string echo = a.greeting() + "ping\n";
    ASSERT_EQ(tcp_roundtrip(halo_.port(0), "ping\n", echo), echo);
    // "hello from a\n" and the echo went out (18 bytes), "ping\n" came in (5).
    std::string up = "127\\.0\\.0\\.1:" + std::to_string(a.port());
    EXPECT_TRUE(
        wait_log_line("logs/stream.log", "127\\.0\\.0\\.1 TCP 200 18 5 " + up +
                                             " [0-9]+\\.[0-9]{3} \"say \\\\x22hi\\\\x22\" " +
                                             std::to_string(halo_.port(0))))
        << log("logs/stream.log");
    EXPECT_EQ(tcp_roundtrip(halo_.port(1), "ping\n"), "");
    EXPECT_TRUE(wait_log_line(
        "logs/stream.log",
        "127\\.0\\.0\\.1 TCP 403 0 0 - [0-9]+\\.[0-9]{3} \".*\" " + std::to_string(halo_.port(1))))
        << log("logs/stream.log");
    EXPECT_TRUE(wait_log_line("logs/json.log",
                              "\\{\"addr\":\"127\\.0\\.0\\.1\",\"up\":\"\",\"st\":403,"
                              "\"q\":\"say \\\\\"hi\\\\\"\"\\}"))
        << log("logs/json.log");
    // if=: a denied session has no $upstream_addr, so it has no line there.
    EXPECT_EQ(log("logs/if.log"), "");
    // access_log off: sessions of server 2 (the harness's probe at the start, and this one)
    // add nothing; the session of server 0 after it is logged.
    ASSERT_EQ(tcp_roundtrip(halo_.port(2), "ping\n", echo), echo);
    ASSERT_EQ(tcp_roundtrip(halo_.port(0), "pong\n", a.greeting() + "pong\n"),
              a.greeting() + "pong\n");
    ASSERT_TRUE(wait_until([&] {
        return log_lines_with(log("logs/stream.log"), " 200 18 5 ").size() >= 2;
    })) << log("logs/stream.log");
    EXPECT_TRUE(log_lines_with(log("logs/stream.log"), " " + std::to_string(halo_.port(2))).empty())
        << log("logs/stream.log");
}

TEST_F(StreamModulesTest, UdpSessionsAreFilteredAndLoggedToAFileNamedByVariables) {
    UdpEchoBackend u("u");
    uint16_t allowed = free_port(), denied = free_port();
    halo_.write_conf(
        conf("stream {\n"
             "    log_format udp '$protocol $status $bytes_received $bytes_sent';\n"
             "    access_log logs/udp/$server_port.log udp;\n"
             "    server {\n"
             "        listen 127.0.0.1:" +
             std::to_string(allowed) +
             " udp;\n"
             "        allow 127.0.0.1;\n"
             "        deny all;\n"
             "        proxy_pass " +
             u.address() +
             ";\n"
             "        proxy_responses 1;\n"
             "    }\n"
             "    server {\n"
             "        listen 127.0.0.1:" +
             std::to_string(denied) +
             " udp;\n"
             "        deny 127.0.0.0/8;\n"
             "        proxy_pass " +
             u.address() +
             ";\n"
             "    }\n"
             "}\n"));
    // A folder the workers (nobody when the tests run as root) may create files in, as nginx
    // asks of a log path with variables.
    std::filesystem::create_directories(halo_.path("logs/udp"));
    ::chmod(halo_.path("logs/udp").c_str(), 0777);
    ASSERT_TRUE(halo_.start());
    std::string out;
    ASSERT_TRUE(wait_until([&] { return !(out = udp_roundtrip(allowed, "query")).empty(); }));
    EXPECT_EQ(out, "u:query");
    EXPECT_EQ(udp_roundtrip(denied, "query", StreamMillis(500)), "");
    // One datagram each way: 5 bytes in, "u:query" (7 bytes) out; the denied one: 403.
    EXPECT_TRUE(wait_log_line("logs/udp/" + std::to_string(allowed) + ".log", "UDP 200 5 7"))
        << log("logs/udp/" + std::to_string(allowed) + ".log");
    EXPECT_TRUE(wait_log_line("logs/udp/" + std::to_string(denied) + ".log", "UDP 403 5 0"))
        << log("logs/udp/" + std::to_string(denied) + ".log");
    int before = u.datagrams();
    EXPECT_EQ(udp_roundtrip(denied, "again", StreamMillis(300)), "");
    EXPECT_EQ(u.datagrams(), before);
}

TEST_F(StreamModulesTest, MapValuesFollowTheirSource) {
    TcpEchoBackend a("a");
    std::string pass = "proxy_pass " + a.address() + ";";
    halo_.write("ports.map", "%%PORT_1%% second;\n");
    halo_.write_conf(
        conf("stream {\n"
             "    map $server_port $port_name {\n"
             "        %%PORT_0%% first;\n"
             "        include ports.map;\n"
             "        default none;\n"
             "    }\n"
             "    map $remote_addr $net { ~^10\\. ten; ~*^127\\. loopback; default other; }\n"
             "    map $protocol/$port_name $combo { TCP/first tcp-first; default x-$port_name; }\n"
             "    map $server_port $unmapped { 1 one; }\n"
             "    log_format m '$server_port $port_name $net $combo [$unmapped]';\n"
             "    access_log logs/map.log m;\n"
             "    server { listen 127.0.0.1:%%PORT_0%%; " +
             pass +
             " }\n"
             "    server { listen 127.0.0.1:%%PORT_1%%; " +
             pass +
             " }\n"
             "    server { listen 127.0.0.1:%%PORT_2%%; " +
             pass +
             " }\n"
             "}\n"));
    ASSERT_TRUE(halo_.start());
    std::string echo = a.greeting() + "x\n";
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(tcp_roundtrip(halo_.port(i), "x\n", echo), echo);
    }
    std::string p0 = std::to_string(halo_.port(0)), p1 = std::to_string(halo_.port(1)),
                p2 = std::to_string(halo_.port(2));
    EXPECT_TRUE(wait_log_line("logs/map.log", p0 + " first loopback tcp-first \\[\\]"))
        << log("logs/map.log");
    EXPECT_TRUE(wait_log_line("logs/map.log", p1 + " second loopback x-second \\[\\]"))
        << log("logs/map.log");
    EXPECT_TRUE(wait_log_line("logs/map.log", p2 + " none loopback x-none \\[\\]"))
        << log("logs/map.log");
}

TEST_F(StreamModulesTest, AMapOnTheServerNameChoosesTheUpstream) {
    if (!halo_has_module("stream_ssl_preread")) {
        GTEST_SKIP() << "no stream_ssl_preread module";
    }
    TlsPassthroughBackend a("a"), org("org");
    TcpEchoBackend plain("plain");
    if (a.port() == 0) {
        GTEST_SKIP() << "no OpenSSL in the tests";
    }
    halo_.write_conf(
        conf("stream {\n"
             "    upstream be_a { server " +
             a.address() +
             "; }\n"
             "    upstream be_org { server " +
             org.address() +
             "; }\n"
             "    map $ssl_preread_server_name $backend {\n"
             "        hostnames;\n"
             "        a.example.com  be_a;\n"
             "        *.example.org  be_org;\n"
             "        default        " +
             plain.address() +
             ";\n"
             "    }\n"
             "    log_format sni '$ssl_preread_server_name $backend $upstream_addr';\n"
             "    server {\n"
             "        listen 127.0.0.1:%%PORT_0%%;\n"
             "        ssl_preread on;\n"
             "        preread_timeout 2s;\n"
             "        proxy_pass $backend;\n"
             "        access_log logs/sni.log sni;\n"
             "    }\n"
             "}\n"));
    ASSERT_TRUE(halo_.start());
    std::string fp;
    EXPECT_EQ(tls_roundtrip(halo_.port(0), "a.example.com", &fp, "x\n"), "tls a\nx\n");
    EXPECT_EQ(fp, a.fingerprint());
    EXPECT_EQ(tls_roundtrip(halo_.port(0), "A.Example.COM", &fp, "x\n"), "tls a\nx\n");
    EXPECT_EQ(tls_roundtrip(halo_.port(0), "www.example.org", &fp, "x\n"), "tls org\nx\n");
    EXPECT_EQ(fp, org.fingerprint());
    EXPECT_EQ(tls_roundtrip(halo_.port(0), "deep.sub.example.org", &fp, "x\n"), "tls org\nx\n");
    EXPECT_EQ(org.last_server_name(), "deep.sub.example.org");
    // Any other name: the default, an address (a plain server: no TLS handshake there).
    int before = plain.connections();
    EXPECT_EQ(tls_roundtrip(halo_.port(0), "other.net", nullptr, "x\n", {}, StreamMillis(1000)),
              "");
    EXPECT_TRUE(wait_until([&] { return plain.connections() > before; }));
    std::string up_a = "127\\.0\\.0\\.1:" + std::to_string(a.port());
    std::string up_org = "127\\.0\\.0\\.1:" + std::to_string(org.port());
    std::string up_plain = "127\\.0\\.0\\.1:" + std::to_string(plain.port());
    EXPECT_TRUE(wait_log_line("logs/sni.log", "a\\.example\\.com be_a " + up_a));
    EXPECT_TRUE(wait_log_line("logs/sni.log", "www\\.example\\.org be_org " + up_org));
    EXPECT_TRUE(wait_log_line("logs/sni.log", "other\\.net " + up_plain + " " + up_plain))
        << log("logs/sni.log");
}

TEST_F(StreamModulesTest, ConfigErrorsNameTheLine) {
    const std::string srv = "    server { listen 127.0.0.1:1; proxy_pass 127.0.0.1:2; }\n";
    expect_emerg("stream {\n    deny foo;\n" + srv + "}\n", "invalid parameter \"foo\"", 6);
    expect_emerg("stream {\n    allow 10.0.0.0/33;\n" + srv + "}\n",
                 "invalid parameter \"10.0.0.0/33\"", 6);
    expect_emerg("stream {\n    access_log logs/a.log;\n" + srv + "}\n",
                 "log format is not specified", 6);
    expect_emerg("stream {\n    access_log logs/a.log combined;\n" + srv + "}\n",
                 "unknown log format \"combined\"", 6);
    expect_emerg("stream {\n    log_format f escape=xml '$status';\n" + srv + "}\n",
                 "unknown log format escaping \"xml\"", 6);
    expect_emerg("stream {\n    log_format f '$status';\n    log_format f '$pid';\n" + srv + "}\n",
                 "duplicate \"log_format\" name \"f\"", 7);
    expect_emerg("stream {\n    log_format f '$status';\n    access_log off f;\n" + srv + "}\n",
                 "invalid parameter \"f\"", 7);
    expect_emerg(
        "stream {\n    log_format f '$status';\n    access_log logs/a.log f if;\n" + srv + "}\n",
        "invalid parameter \"if\"", 7);
    expect_emerg(
        "stream {\n    log_format f '$status';\n    access_log logs/a.log f buffer=32k;\n" + srv +
            "}\n",
        "the \"buffer\" parameter of a stream \"access_log\" is not supported by halo yet: "
        "each session's line is written when the session ends",
        7);
    expect_emerg("stream {\n    log_format f '$status $nosuch';\n" + srv + "}\n",
                 "unknown \"nosuch\" variable", 6);
    expect_emerg("stream {\n    map $remote_addr b { default a; }\n" + srv + "}\n",
                 "invalid variable name \"b\"", 6);
    expect_emerg(
        "stream {\n    map $remote_addr $b {\n        default a;\n        default b;\n"
        "    }\n" +
            srv + "}\n",
        "duplicate default map parameter", 8);
    expect_emerg("stream {\n    map $remote_addr $b {\n        a x y;\n    }\n" + srv + "}\n",
                 "invalid number of the map parameters", 7);
    expect_emerg("stream {\n    map $remote_addr $b {\n        ~(abc x;\n    }\n" + srv + "}\n",
                 "pcre2_compile() failed: missing closing parenthesis in \"(abc\" at \"\"", 7);
    expect_emerg(
        "stream {\n    map $remote_addr $b {\n        a x;\n        A y;\n    }\n" + srv + "}\n",
        "conflicting parameter \"a\"", 8);
    expect_emerg(
        "stream {\n    map $remote_addr $b {\n        hostnames;\n        *.*.x y;\n"
        "    }\n" +
            srv + "}\n",
        "invalid hostname or wildcard \"*.*.x\"", 8);
    expect_emerg(
        "stream {\n    map $remote_addr $b {\n        ~^(\\d+)\\. net-$1;\n    }\n" + srv + "}\n",
        "regex captures (\"$1\") in a stream \"map\" value are not supported by halo yet", 7);
    expect_emerg("stream {\n    map $server_port $remote_addr { default a; }\n" + srv + "}\n",
                 "the duplicate \"remote_addr\" variable", 6);
    expect_emerg(
        "stream {\n    map $server_port $b { default a; }\n"
        "    map $server_port $b { default c; }\n" +
            srv + "}\n",
        "the duplicate \"b\" variable", 7);
    expect_emerg("stream {\n    open_log_file_cache max=10;\n" + srv + "}\n",
                 "\"open_log_file_cache\" is not supported by halo in stream yet: a stream "
                 "access_log with variables in its path opens its file for each line",
                 6);
}

}  // namespace
}  // namespace halo_test
