// The parameters of `listen` through the real binary: the socket options the kernel has on
// the listening socket and on accepted connections (read from the worker with pidfd_getfd, and
// the backlog from `ss`), IPv6 and ipv6only, an address beside a wildcard on the same port
// (nginx shares the wildcard's socket unless `bind`), unix sockets, and the config errors,
// worded as nginx words them.
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <csignal>
#include <cstring>
#include <sstream>
#include <string>

#include "integration/sockopt_probe.h"
#include "support/harness.h"

namespace halo_test {
namespace {

/// The backlog `ss` reports for the listener on 127.0.0.1:port (Send-Q of a LISTEN socket).
std::optional<int> ss_backlog(uint16_t port) {
    RunResult r = run_command({"ss", "-ltnH", "sport = :" + std::to_string(port)});
    if (r.status != 0) {
        return std::nullopt;
    }
    // "LISTEN 0 77 127.0.0.1:port 0.0.0.0:*"
    std::istringstream in(r.out);
    std::string state;
    int recvq = 0;
    int sendq = 0;
    if (!(in >> state >> recvq >> sendq)) {
        return std::nullopt;
    }
    return sendq;
}

/// One GET on a new connection to `ip`:`port` (any loopback address); the body or "<error>".
std::string get_from(const std::string& ip, uint16_t port, std::string_view host = "x") {
    int fd = ::socket(ip.find(':') != std::string::npos ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (ip.find(':') != std::string::npos) {
        auto& a = reinterpret_cast<sockaddr_in6&>(ss);
        a.sin6_family = AF_INET6;
        a.sin6_port = htons(port);
        inet_pton(AF_INET6, ip.c_str(), &a.sin6_addr);
        len = sizeof(a);
    } else {
        auto& a = reinterpret_cast<sockaddr_in&>(ss);
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
        len = sizeof(a);
    }
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        ::close(fd);
        return "<connect error>";
    }
    std::string req = "GET / HTTP/1.0\r\nHost: " + std::string(host) + "\r\n\r\n";
    (void)!::write(fd, req.data(), req.size());
    std::string resp;
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof(buf))) > 0;) {
        resp.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    size_t body = resp.find("\r\n\r\n");
    return body == std::string::npos ? "<no response>" : resp.substr(body + 4);
}

bool has_ipv6_loopback() {
    int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    bool ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    if (fd >= 0) {
        ::close(fd);
    }
    return ok;
}

class ListenParamsTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_rewrite")) {
            GTEST_SKIP() << "the http_rewrite module is not compiled in";
        }
    }
    /// Starts halo with `servers` inside http { } and waits for its worker.
    void start(const std::string& servers) {
        halo_.write_conf(
            "daemon off;\nworker_processes 1;\nerror_log logs/error.log info;\n"
            "events { worker_connections 64; }\nhttp {\n    access_log off;\n" +
            servers + "}\n");
        ASSERT_TRUE(halo_.start()) << halo_.error_log();
        auto w = halo_.wait_workers(1);
        ASSERT_EQ(w.size(), 1u);
        worker_ = w[0];
    }
    /// `halo -t` on `servers` inside http { }: its stderr, and whether it passed.
    RunResult check(const std::string& servers) {
        halo_.write_conf("events {}\nhttp {\n" + servers + "}\n");
        return halo_.run({"-t"});
    }

    Halo halo_;
    pid_t worker_ = -1;
};

TEST_F(ListenParamsTest, SocketOptionsReachTheListeningSocketAndItsConnections) {
    if (!can_probe_sockets()) {
        GTEST_SKIP() << "reading a worker's sockets needs root (pidfd_getfd)";
    }
    start(
        "    server {\n"
        "        listen 127.0.0.1:%%PORT_0%% backlog=77 rcvbuf=96k sndbuf=160k deferred "
        "fastopen=7 so_keepalive=120:15:4;\n"
        "        client_header_timeout 20s;\n"
        "        return 200 \"opts\\n\";\n"
        "    }\n"
        "    server {\n"
        "        listen 127.0.0.1:%%PORT_1%%;\n"
        "        return 200 \"plain\\n\";\n"
        "    }\n");
    const uint16_t p0 = halo_.port(0);
    const uint16_t p1 = halo_.port(1);
    EXPECT_EQ(ss_backlog(p0), 77);
    EXPECT_EQ(ss_backlog(p1), 511);  // nginx's default

    int l0 = dup_listener_of(worker_, p0);
    int l1 = dup_listener_of(worker_, p1);
    ASSERT_GE(l0, 0);
    ASSERT_GE(l1, 0);
    // Linux reports twice the buffer size set (its bookkeeping overhead).
    EXPECT_EQ(int_option(l0, SOL_SOCKET, SO_RCVBUF), 2 * 96 * 1024);
    EXPECT_EQ(int_option(l0, SOL_SOCKET, SO_SNDBUF), 2 * 160 * 1024);
    EXPECT_EQ(int_option(l0, IPPROTO_TCP, TCP_FASTOPEN), 7);
    // TCP_DEFER_ACCEPT: client_header_timeout, which the kernel rounds to its retransmits.
    EXPECT_GE(int_option(l0, IPPROTO_TCP, TCP_DEFER_ACCEPT).value_or(0), 20);
    EXPECT_EQ(int_option(l1, IPPROTO_TCP, TCP_DEFER_ACCEPT), 0);
    EXPECT_EQ(int_option(l1, IPPROTO_TCP, TCP_FASTOPEN), 0);
    ::close(l0);
    ::close(l1);

    // so_keepalive reaches the accepted connections.
    for (uint16_t port : {p0, p1}) {
        HttpConnection c;
        ASSERT_TRUE(c.connect(port));
        ASSERT_TRUE(c.send(get_request("/", "x", true)));
        auto r = c.read_response();
        ASSERT_TRUE(r.has_value()) << c.error();
        int s = dup_connection_of(worker_, local_port(c.fd()));
        ASSERT_GE(s, 0);
        if (port == p0) {
            EXPECT_EQ(r->body, "opts\n");
            EXPECT_EQ(int_option(s, SOL_SOCKET, SO_KEEPALIVE), 1);
            EXPECT_EQ(int_option(s, IPPROTO_TCP, TCP_KEEPIDLE), 120);
            EXPECT_EQ(int_option(s, IPPROTO_TCP, TCP_KEEPINTVL), 15);
            EXPECT_EQ(int_option(s, IPPROTO_TCP, TCP_KEEPCNT), 4);
        } else {
            EXPECT_EQ(r->body, "plain\n");
            EXPECT_EQ(int_option(s, SOL_SOCKET, SO_KEEPALIVE), 0);
        }
        ::close(s);
    }
}

TEST_F(ListenParamsTest, NewOptionsApplyToTheSocketKeptAcrossAReload) {
    if (!can_probe_sockets()) {
        GTEST_SKIP() << "reading a worker's sockets needs root (pidfd_getfd)";
    }
    start("    server { listen 127.0.0.1:%%PORT_0%% rcvbuf=64k; return 200 \"a\\n\"; }\n");
    int before = dup_listener_of(worker_, halo_.port(0));
    ASSERT_GE(before, 0);
    EXPECT_EQ(int_option(before, SOL_SOCKET, SO_RCVBUF), 2 * 64 * 1024);
    halo_.write_conf(
        "daemon off;\nworker_processes 1;\nerror_log logs/error.log info;\n"
        "events { worker_connections 64; }\nhttp {\n    access_log off;\n"
        "    server { listen 127.0.0.1:%%PORT_0%% rcvbuf=32k; return 200 \"b\\n\"; }\n}\n");
    ASSERT_TRUE(halo_.signal(SIGHUP));
    auto fresh = halo_.wait_new_workers(1, {worker_});
    ASSERT_EQ(fresh.size(), 1u) << halo_.error_log();
    ASSERT_TRUE(wait_until([&] { return halo_.get_body() == "b\n"; }));
    // The same socket (its queue was never closed), with the new buffer size.
    EXPECT_EQ(int_option(before, SOL_SOCKET, SO_RCVBUF), 2 * 32 * 1024);
    ::close(before);
}

TEST_F(ListenParamsTest, AnAddressBesideAWildcardSharesItsSocket) {
    // nginx: `listen P` and `listen 127.0.0.1:P` are one socket on *:P; the connection's
    // local address picks the servers. (With `bind` the address would get its own socket,
    // which Linux refuses beside a listening wildcard, for nginx as for halo.)
    start(
        "    server {\n"
        "        listen %%PORT_0%% default_server;\n"
        "        return 200 \"wildcard\\n\";\n"
        "    }\n"
        "    server {\n"
        "        listen 127.0.0.1:%%PORT_0%%;\n"
        "        return 200 \"loopback\\n\";\n"
        "    }\n");
    EXPECT_EQ(get_from("127.0.0.1", halo_.port(0)), "loopback\n");
    EXPECT_EQ(get_from("127.0.0.2", halo_.port(0)), "wildcard\n");
    RunResult ss0 = run_command({"ss", "-ltnH", "sport = :" + std::to_string(halo_.port(0))});
    EXPECT_EQ(log_lines_with(ss0.out, "LISTEN").size(), 1u) << ss0.out;
}

TEST_F(ListenParamsTest, Ipv4AndIpv6ListensAsDebiansDefaultSite) {
    if (!has_ipv6_loopback()) {
        GTEST_SKIP() << "no IPv6 loopback here";
    }
    // Debian's default site: `listen 80 default_server; listen [::]:80 default_server;`.
    start(
        "    server {\n"
        "        listen %%PORT_0%% default_server;\n"
        "        listen [::]:%%PORT_0%% default_server;\n"
        "        return 200 \"$server_addr\\n\";\n"
        "    }\n"
        "    server {\n"
        "        listen [::]:%%PORT_1%% ipv6only=off;\n"
        "        return 200 \"dual $server_addr\\n\";\n"
        "    }\n");
    EXPECT_EQ(get_from("127.0.0.1", halo_.port(0)), "127.0.0.1\n");
    EXPECT_EQ(get_from("::1", halo_.port(0)), "::1\n");
    EXPECT_EQ(get_from("::1", halo_.port(1)), "dual ::1\n");
    EXPECT_EQ(get_from("127.0.0.1", halo_.port(1)), "dual ::ffff:127.0.0.1\n");
    if (can_probe_sockets()) {
        int v6 = dup_listener_of(worker_, halo_.port(0), AF_INET6);
        int dual = dup_listener_of(worker_, halo_.port(1), AF_INET6);
        EXPECT_EQ(int_option(v6, IPPROTO_IPV6, IPV6_V6ONLY), 1);
        EXPECT_EQ(int_option(dual, IPPROTO_IPV6, IPV6_V6ONLY), 0);
        ::close(v6);
        ::close(dual);
    }
}

TEST_F(ListenParamsTest, UnixSocketServesAndIsRemovedOnStop) {
    const std::string sock = halo_.path("halo.sock");
    start(
        "    server { listen 127.0.0.1:%%PORT_0%%; return 200 \"tcp\\n\"; }\n"
        "    server { listen unix:" +
        sock + "; return 200 \"unix $remote_addr\\n\"; }\n");
    struct stat st {};
    ASSERT_EQ(::stat(sock.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0666u);  // as nginx: the folder decides who may connect

    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    memcpy(a.sun_path, sock.data(), sock.size());
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    std::string req = "GET / HTTP/1.0\r\nHost: x\r\n\r\n";
    ASSERT_EQ(::write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
    std::string resp;
    char buf[1024];
    for (ssize_t n; (n = ::read(fd, buf, sizeof(buf))) > 0;) {
        resp.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    EXPECT_NE(resp.find("\r\n\r\nunix unix:\n"), std::string::npos) << resp;

    halo_.signal(SIGQUIT);
    ASSERT_TRUE(halo_.wait_exit().has_value());
    EXPECT_FALSE(file_exists(sock)) << "the socket file outlived halo";
}

TEST_F(ListenParamsTest, ConfigErrorsAreNginxs) {
    struct Case {
        std::string listen;
        std::string message;
    };
    const Case cases[] = {
        {"listen 80 backlog=0;", "invalid backlog \"0\""},
        {"listen 80 rcvbuf=lots;", "invalid rcvbuf \"lots\""},
        {"listen 80 sndbuf=;", "invalid sndbuf \"\""},
        {"listen 80 fastopen=x;", "invalid fastopen \"x\""},
        {"listen 80 ipv6only=yes;", "invalid parameter \"ipv6only=yes\""},
        {"listen 80 ipv6only=oops;", "invalid ipv6only flags \"oops\""},
        {"listen 80 so_keepalive=maybe;", "invalid so_keepalive value: \"so_keepalive=maybe\""},
        {"listen 80 so_keepalive=::;", "invalid so_keepalive value: \"so_keepalive=::\""},
        {"listen 80 nonsense;", "invalid parameter \"nonsense\""},
        {"listen unix:;",
         "no path in the unix domain socket in \"unix:\" of the \"listen\" directive"},
        {"listen 80 quic;",
         "the \"quic\" parameter of \"listen\" is not supported by halo: it speaks HTTP/1.1 "
         "over TCP only (HTTP/3 is not implemented)"},
        {"listen 80 setfib=1;",
         "the \"setfib\" parameter of \"listen\" is not supported by halo: it is a FreeBSD "
         "socket option"},
    };
    for (const Case& c : cases) {
        RunResult r = check("    server { " + c.listen + " }\n");
        EXPECT_EQ(r.status, 1) << c.listen;
        EXPECT_NE(r.err.find(c.message + " in " + halo_.conf_path() + ":3"), std::string::npos)
            << c.listen << "\n"
            << r;
    }
    // One listen per address may set socket options (nginx's "duplicate listen options").
    RunResult dup = check(
        "    server { listen 127.0.0.1:8080 backlog=10; }\n"
        "    server { listen 127.0.0.1:8080 rcvbuf=8k; }\n");
    EXPECT_EQ(dup.status, 1);
    EXPECT_NE(dup.err.find("duplicate listen options for 127.0.0.1:8080"), std::string::npos)
        << dup;
    RunResult shared = check(
        "    server { listen 127.0.0.1:8080 backlog=10 default_server; }\n"
        "    server { listen 127.0.0.1:8080; listen [::]:8080 ipv6only=on; }\n");
    EXPECT_EQ(shared.status, 0) << shared;
    // h5bp's TLS site says `listen 443 ssl http2;`: HTTP/2 on the port (the http_v2 module),
    // without a word, as Debian's nginx 1.22.
    RunResult h2 = check("    server { listen 127.0.0.1:8080 http2; }\n");
    if (halo_has_module("http_v2")) {
        EXPECT_EQ(h2.status, 0) << h2;
        EXPECT_TRUE(log_lines_with(h2.err, "[warn]").empty()) << h2;
    } else {
        EXPECT_EQ(h2.status, 1) << h2;
        EXPECT_NE(h2.err.find("the \"http2\" parameter requires the http_v2 module"),
                  std::string::npos)
            << h2;
    }
}

}  // namespace
}  // namespace halo_test
