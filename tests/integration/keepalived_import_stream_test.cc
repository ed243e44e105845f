// `halo --import-keepalived` for virtual_servers, through the real binary: the output's
// `stream { }` services carrying real traffic. The seed's virtual_server on 443 (in
// tests/data/keepalived/classic-cluster.conf; its real_server, which has no address there, is
// given loopback backends) passes `halo -t` and passes TLS through: the client's handshake
// (its SNI) reaches a real server, whose certificate the client sees; the seed's
// persistence_timeout keeps a client on one server, and without it the weights share the
// connections. A UDP virtual_server answers DNS questions from its real servers, next to a
// TCP one on the same address and port.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "support/backend.h"
#include "support/dns_server.h"
#include "support/harness.h"

namespace halo_test {
namespace {

/// Three TLS servers (a halo), each with its own self-signed certificate for rsN.test and
/// answering "rsN sni=<the SNI it received>".
constexpr std::string_view kRealServersConf = R"(
daemon off;
worker_processes 1;
error_log logs/error.log info;

events {
    worker_connections 256;
}

http {
    access_log off;
    server {
        listen 127.0.0.1:%%PORT_0%% ssl;
        ssl_certificate %%PREFIX%%/rs1.crt;
        ssl_certificate_key %%PREFIX%%/rs1.key;
        location / {
            return 200 "rs1 sni=$ssl_server_name\n";
        }
    }
    server {
        listen 127.0.0.1:%%PORT_1%% ssl;
        ssl_certificate %%PREFIX%%/rs2.crt;
        ssl_certificate_key %%PREFIX%%/rs2.key;
        location / {
            return 200 "rs2 sni=$ssl_server_name\n";
        }
    }
    server {
        listen 127.0.0.1:%%PORT_2%% ssl;
        ssl_certificate %%PREFIX%%/rs3.crt;
        ssl_certificate_key %%PREFIX%%/rs3.key;
        location / {
            return 200 "rs3 sni=$ssl_server_name\n";
        }
    }
}
)";

class KeepalivedImportStreamTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("vrrp") || !halo_has_module("stream")) {
            GTEST_SKIP() << "halo is built without the vrrp or the stream module";
        }
    }

    /// Imports prefix/keepalived.conf, requires success and one stderr line ending with each of
    /// `report` (nothing else), runs `halo -t` on the output as it is, then starts the front
    /// halo with it.
    void import_and_start(std::vector<std::string> report = {}) {
        RunResult r = front_.run_raw({"--import-keepalived", front_.path("keepalived.conf")});
        ASSERT_EQ(r.status, 0) << r;
        size_t pos = 0;
        while (pos < r.err.size()) {
            size_t nl = r.err.find('\n', pos);
            std::string line = r.err.substr(pos, nl - pos);
            pos = nl == std::string::npos ? r.err.size() : nl + 1;
            auto it = std::find_if(report.begin(), report.end(), [&](const std::string& e) {
                return line.size() >= e.size() &&
                       line.compare(line.size() - e.size(), e.size(), e) == 0;
            });
            EXPECT_NE(it, report.end()) << "unexpected stderr line: " << line;
            if (it != report.end()) {
                report.erase(it);
            }
        }
        EXPECT_TRUE(report.empty())
            << "missing on stderr: " << ::testing::PrintToString(report) << "\n"
            << r.err;
        conf_ = r.out;
        front_.write_conf(r.out);
        RunResult t = front_.run({"-t"});
        ASSERT_EQ(t.status, 0) << t << "\n--- imported:\n" << r.out;
        ASSERT_TRUE(
            front_.start({"-g", "daemon off; worker_processes 1; error_log logs/error.log info;"}))
            << r.out << "\n"
            << front_.error_log();
    }

    Halo front_;
    std::string conf_;
};

/// The seed's `virtual_server 192.168.200.100 443 { ... }` block, as classic-cluster.conf has it
/// (its comments too), listening on 127.0.0.1:`port`; its `real_server { ... }` (no address in
/// the seed) once per backend port, with `weight 1` changed to the backend's weight.
std::string seed_virtual_server(uint16_t port, const std::vector<std::pair<uint16_t, int>>& rs,
                                bool persistence) {
    auto file = read_file(halo_top() + "/tests/data/keepalived/classic-cluster.conf");
    EXPECT_TRUE(file.has_value());
    const std::string& f = file.value_or("");
    size_t vs = f.find("virtual_server 192.168.200.100 443 {");
    size_t rs_at = f.find("real_server {", vs);
    size_t rs_end = f.find("\n}\n", rs_at);
    if (vs == std::string::npos || rs_at == std::string::npos || rs_end == std::string::npos) {
        ADD_FAILURE() << "the seed's virtual_server is not in classic-cluster.conf";
        return "";
    }
    std::string head = f.substr(vs, rs_at - vs);
    head.replace(0, std::string("virtual_server 192.168.200.100 443").size(),
                 "virtual_server 127.0.0.1 " + std::to_string(port));
    size_t pt = head.find("persistence_timeout 50\n");
    EXPECT_NE(pt, std::string::npos) << head;
    if (!persistence && pt != std::string::npos) {
        head.erase(pt, std::string("persistence_timeout 50\n").size());
    }
    std::string body = f.substr(rs_at + std::string("real_server ").size(),
                                rs_end + 3 - rs_at - std::string("real_server ").size());
    std::string out = head;
    for (const auto& [p, w] : rs) {
        std::string b = body;
        size_t at = b.find("weight 1\n");
        EXPECT_NE(at, std::string::npos) << b;
        b.replace(at, std::string("weight 1").size(), "weight " + std::to_string(w));
        out += "real_server 127.0.0.1 " + std::to_string(p) + " " + b;
    }
    return out + "}\n";  // the virtual_server's
}

/// What curl saw over TLS to 127.0.0.1:`port` as https://vip.test/: the body and the subject
/// of the server's certificate ("" when the request failed).
struct TlsSeen {
    std::string body, subject;
};

TlsSeen tls_get(uint16_t port) {
    std::string p = std::to_string(port);
    RunResult r = run_command({"curl", "-sk", "-v", "--resolve", "vip.test:" + p + ":127.0.0.1",
                               "https://vip.test:" + p + "/"},
                              10s);
    TlsSeen seen;
    if (r.status != 0) {
        ADD_FAILURE() << r;
        return seen;
    }
    seen.body = r.out;
    size_t at = r.err.find("subject: ");
    if (at != std::string::npos) {
        size_t end = r.err.find('\n', at);
        seen.subject = r.err.substr(at + 9, end - at - 9);
    }
    return seen;
}

class SeedTlsPassThroughTest : public KeepalivedImportStreamTest {
  protected:
    void SetUp() override {
        KeepalivedImportStreamTest::SetUp();
        if (IsSkipped()) {
            return;
        }
        for (const char* n : {"rs1", "rs2", "rs3"}) {
            std::string base = real_.path(n);
            RunResult r = run_command(
                {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-days", "2", "-subj", std::string("/CN=") + n + ".test", "-keyout",
                 base + ".key", "-out", base + ".crt"},
                60s);
            ASSERT_EQ(r.status, 0) << r;
        }
        real_.write_conf(kRealServersConf);
        ASSERT_TRUE(real_.start()) << real_.error_log();
    }
    std::vector<std::pair<uint16_t, int>> real_servers(int w1, int w2, int w3) {
        return {{real_.port(0), w1}, {real_.port(1), w2}, {real_.port(2), w3}};
    }

    Halo real_;
};

/// What the importer says of the seed's three real_server blocks: `delay_before_retry` with no
/// value (and no checker).
const std::vector<std::string> kSeedReport(
    3, ": keepalived keyword \"delay_before_retry\" is not supported (skipped)");

TEST_F(SeedTlsPassThroughTest, SeedVirtualServerPassesTlsThrough) {
    front_.write("keepalived.conf",
                 seed_virtual_server(front_.port(0), real_servers(3, 1, 1), true));
    import_and_start(kSeedReport);
    EXPECT_NE(conf_.find("stream {"), std::string::npos) << conf_;
    EXPECT_NE(conf_.find("persistence_timeout 50s;"), std::string::npos) << conf_;
    // persistence_timeout 50: every connection of this client goes to one real server, which
    // terminates the TLS the client started (the SNI reached it, its certificate came back).
    std::map<std::string, int> by_server;
    for (int i = 0; i < 6; i++) {
        TlsSeen s = tls_get(front_.port(0));
        std::string rs = s.body.substr(0, 3);
        EXPECT_EQ(s.body, rs + " sni=vip.test\n");
        EXPECT_EQ(s.subject, "CN=" + rs + ".test") << s.body;
        by_server[rs]++;
    }
    EXPECT_EQ(by_server.size(), 1u) << ::testing::PrintToString(by_server);
}

TEST_F(SeedTlsPassThroughTest, WithoutPersistenceTheWeightsShareTheConnections) {
    front_.write("keepalived.conf",
                 seed_virtual_server(front_.port(0), real_servers(3, 1, 1), false));
    import_and_start(kSeedReport);
    EXPECT_NE(conf_.find("weight=3;"), std::string::npos) << conf_;
    // Smooth weighted round robin: any 10 picks in a row of weights 3, 1, 1 are 6, 2, 2.
    std::map<std::string, int> by_server;
    for (int i = 0; i < 10; i++) {
        TlsSeen s = tls_get(front_.port(0));
        std::string rs = s.body.substr(0, 3);
        EXPECT_EQ(s.subject, "CN=" + rs + ".test") << s.body;
        by_server[rs]++;
    }
    EXPECT_EQ(by_server, (std::map<std::string, int>{{"rs1", 6}, {"rs2", 2}, {"rs3", 2}}));
}

/// One DNS question for `name` (type A) from a new UDP socket to 127.0.0.1:`port`; the
/// answer's address, "" when none came.
std::string ask_a(uint16_t port, const std::string& name, uint16_t id) {
    std::string q;
    q += static_cast<char>(id >> 8);
    q += static_cast<char>(id & 0xff);
    q += std::string("\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 10);  // RD, one question
    size_t from = 0;
    while (from <= name.size()) {
        size_t dot = std::min(name.find('.', from), name.size());
        q += static_cast<char>(dot - from);
        q += name.substr(from, dot - from);
        from = dot + 1;
    }
    q += std::string("\x00\x00\x01\x00\x01", 5);  // end of name, type A, class IN
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(port);
    ::sendto(fd, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to));
    char buf[512];
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    ::close(fd);
    if (n < static_cast<ssize_t>(q.size()) + 16 || buf[0] != q[0] || buf[1] != q[1]) {
        return "";
    }
    const auto* a = reinterpret_cast<const unsigned char*>(buf + n - 4);  // the one A record
    return std::to_string(a[0]) + "." + std::to_string(a[1]) + "." + std::to_string(a[2]) + "." +
           std::to_string(a[3]);
}

// DNS over UDP and TCP on one address and port, as keepalived users balance it: two
// virtual_servers; the UDP one's questions go round the real servers.
TEST_F(KeepalivedImportStreamTest, UdpVirtualServerAnswers) {
    DnsServer d1;
    DnsServer d2;
    d1.set("svc.test", {"10.0.0.1"});
    d2.set("svc.test", {"10.0.0.2"});
    Backend tcp("tcp");
    std::string p = "%%PORT_0%%";
    front_.write("keepalived.conf", "virtual_server 127.0.0.1 " + p +
                                        " {\n"
                                        "    protocol UDP\n"
                                        "    lb_algo rr\n"
                                        "    real_server 127.0.0.1 " +
                                        std::to_string(d1.port()) +
                                        " {\n    }\n"
                                        "    real_server 127.0.0.1 " +
                                        std::to_string(d2.port()) +
                                        " {\n    }\n"
                                        "}\n"
                                        "virtual_server 127.0.0.1 " +
                                        p +
                                        " {\n"
                                        "    protocol TCP\n"
                                        "    real_server 127.0.0.1 " +
                                        std::to_string(tcp.port()) + " {\n    }\n}\n");
    import_and_start();
    EXPECT_NE(conf_.find("listen 127.0.0.1:" + std::to_string(front_.port(0)) + " udp;"),
              std::string::npos)
        << conf_;
    std::map<std::string, int> answers;
    for (uint16_t id = 1; id <= 4; id++) {
        answers[ask_a(front_.port(0), "svc.test", id)]++;
    }
    EXPECT_EQ(answers, (std::map<std::string, int>{{"10.0.0.1", 2}, {"10.0.0.2", 2}}));
    EXPECT_EQ(d1.queries("svc.test"), 2);
    EXPECT_EQ(d2.queries("svc.test"), 2);
    // The TCP virtual_server on the same port.
    EXPECT_EQ(front_.get_body("/"), "tcp\n");
}

}  // namespace
}  // namespace halo_test
