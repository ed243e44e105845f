// geo and split_clients through the real binary (two workers), http and stream: geo by the
// client address (clients bound to 127.0.0.1, 127.0.0.2, ... which are all local on Linux),
// `proxy` with X-Forwarded-For (and proxy_recursive), ranges from an included file, the
// address from a variable; split_clients over thousands of keys (counts per bucket); the same
// values as Debian's nginx for the same config (a differential over thousands of keys and
// addresses); the stream geo choosing the upstream by client address, the stream
// split_clients bucket of a client; config errors and warnings with file:line.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "support/harness.h"
#include "support/nginx.h"
#include "support/stream_backend.h"

namespace halo_test {
namespace {

/// A TCP connection to 127.0.0.1:port from `source` (any 127.x address, port chosen by the
/// kernel); -1 on failure.
int connect_from(const std::string& source, uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    inet_pton(AF_INET, source.c_str(), &a.sin_addr);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
        ::close(fd);
        return -1;
    }
    a.sin_port = htons(port);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

/// A TCP connection to [::1]:port (from ::1); -1 on failure (no IPv6 loopback).
int connect6(uint16_t port) {
    int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    a.sin6_port = htons(port);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

/// Sends `data` from `source` and reads until the server closes (or `want` bytes came).
std::string exchange_from(const std::string& source, uint16_t port, std::string_view data,
                          size_t want = SIZE_MAX) {
    int fd = source == "::1" ? connect6(port) : connect_from(source, port);
    if (fd < 0) {
        return "<connect failed>";
    }
    send_all(fd, data);
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

/// The body of GET `path` from `source` (with `headers` lines, each ending in CRLF).
std::string body_from(const std::string& source, uint16_t port, std::string_view path,
                      std::string_view headers = {}) {
    std::string req = "GET " + std::string(path) + " HTTP/1.1\r\nHost: t\r\n" +
                      std::string(headers) + "Connection: close\r\n\r\n";
    std::string raw = exchange_from(source, port, req);
    size_t end = raw.find("\r\n\r\n");
    return end == std::string::npos ? "<no response: " + raw + ">" : raw.substr(end + 4);
}

/// Bodies of GET `paths` over keepalive connections to 127.0.0.1:port (a new one every 200
/// requests: nginx closes after keepalive_requests).
std::vector<std::string> bodies(uint16_t port, const std::vector<std::string>& paths) {
    std::vector<std::string> out;
    HttpConnection c;
    for (size_t i = 0; i < paths.size(); i++) {
        if (i % 200 == 0) {
            c.close();
            if (!c.connect(port)) {
                out.push_back("<connect: " + c.error() + ">");
                continue;
            }
        }
        c.send(get_request(paths[i], "t", true));
        auto r = c.read_response();
        out.push_back(r ? r->body : "<error: " + c.error() + ">");
    }
    return out;
}

constexpr std::string_view kMain =
    "daemon off;\nworker_processes 2;\nerror_log logs/error.log info;\n"
    "events { worker_connections 256; }\n";

class GeoSplitClientsTest : public ::testing::Test {
  protected:
    void SetUp() override {
        for (const char* m : {"http_geo", "http_split_clients", "http_rewrite", "http_realip"}) {
            if (!halo_has_module(m)) {
                GTEST_SKIP() << "the " << m << " module is not compiled in";
            }
        }
    }
    void start(std::string_view http_block) {
        halo_.write_conf(std::string(kMain) + std::string(http_block));
        ASSERT_TRUE(halo_.start());
    }
    RunResult check(std::string_view rest) {
        halo_.write_conf(std::string(kMain) + std::string(rest));
        return halo_.run({"-t"});
    }
    void expect_emerg(std::string_view rest, const std::string& message, int line) {
        RunResult r = check(rest);
        EXPECT_EQ(r.status, 1) << r;
        std::string want = "halo: [emerg] " + message + " in " + halo_.conf_path() + ":" +
                           std::to_string(line) + "\n";
        EXPECT_NE(r.err.find(want), std::string::npos) << "expected: " << want << r;
    }
    Halo halo_;
};

TEST_F(GeoSplitClientsTest, GeoByTheClientAddress) {
    start(R"(http {
    geo $g {
        default other;
        127.0.0.1 one;
        127.0.0.2/32 two;
        127.0.0.0/24 net;
        127.0.0.128/25 high;
        delete 127.0.0.128/25;
        127.0.5.0/24 five;
        ::1 six;
        ::/8 six-net;
        192.0.2.0/24 doc;
    }
    server {
        listen 127.0.0.1:%%PORT_0%%;
        listen [::1]:%%PORT_0%%;
        location / { return 200 "$g"; }
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        set_real_ip_from 127.0.0.2;
        real_ip_header X-Real-IP;
        location / { return 200 "$g"; }
    }
})");
    uint16_t p = halo_.port(0);
    EXPECT_EQ(body_from("127.0.0.1", p, "/"), "one");
    EXPECT_EQ(body_from("127.0.0.2", p, "/"), "two");
    EXPECT_EQ(body_from("127.0.0.3", p, "/"), "net");
    EXPECT_EQ(body_from("127.0.0.200", p, "/"), "net");  // its /25 was deleted
    EXPECT_EQ(body_from("127.0.5.9", p, "/"), "five");
    EXPECT_EQ(body_from("127.1.2.3", p, "/"), "other");
    int fd6 = connect6(p);
    if (fd6 >= 0) {
        ::close(fd6);
        EXPECT_EQ(body_from("::1", p, "/"), "six");  // an IPv6 client: the IPv6 table
    }
    // After realip, geo sees the address realip chose (for the trusted client only).
    EXPECT_EQ(body_from("127.0.0.2", halo_.port(1), "/", "X-Real-IP: 192.0.2.9\r\n"), "doc");
    EXPECT_EQ(body_from("127.0.0.3", halo_.port(1), "/", "X-Real-IP: 192.0.2.9\r\n"), "net");
    // Many clients over both workers: each one its own value.
    for (int i = 1; i < 60; i++) {
        std::string src = "127.0.5." + std::to_string(i);
        ASSERT_EQ(body_from(src, p, "/"), "five") << src;
    }
}

TEST_F(GeoSplitClientsTest, ProxyTakesXForwardedForFromTrustedClients) {
    start(R"(http {
    geo $g {
        default none;
        proxy 127.0.0.1;
        proxy 127.0.0.5;
        192.0.2.0/24 doc;
        198.51.100.0/24 net2;
        127.0.0.0/8 lo;
    }
    geo $r {
        default none;
        proxy 127.0.0.1;
        proxy 127.0.0.5;
        proxy_recursive;
        192.0.2.0/24 doc;
        127.0.0.0/8 lo;
    }
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { return 200 "$g $r"; }
    }
})");
    uint16_t p = halo_.port(0);
    std::string xff = "X-Forwarded-For: 192.0.2.9, 127.0.0.5\r\n";
    EXPECT_EQ(body_from("127.0.0.1", p, "/", xff), "lo doc");
    EXPECT_EQ(body_from("127.0.0.1", p, "/", "X-Forwarded-For: 198.51.100.7\r\n"), "net2 none");
    EXPECT_EQ(body_from("127.0.0.2", p, "/", xff), "lo lo");  // not a trusted client
    EXPECT_EQ(body_from("127.0.0.1", p, "/"), "lo lo");       // no header
    EXPECT_EQ(body_from("127.0.0.1", p, "/", "X-Forwarded-For: junk\r\n"), "lo lo");
    EXPECT_EQ(body_from("127.0.0.1", p, "/",
                        "X-Forwarded-For: 192.0.2.9\r\nX-Forwarded-For: 127.0.0.5\r\n"),
              "lo doc");
}

TEST_F(GeoSplitClientsTest, RangesFromAnIncludedFileAndTheAddressFromAVariable) {
    halo_.write("geo/ranges.conf",
                "10.0.0.0-10.0.0.255 ten;\n10.0.0.100-10.0.0.199 ten-mid;\n"
                "127.0.0.1-127.0.0.9 lo-low;\n");
    halo_.write("geo/cidr.conf", "10.0.0.0/8 ten;\n2001:db8::/32 six;\n");
    start(R"(http {
    geo $ranged {
        ranges;
        default out;
        include geo/ranges.conf;
    }
    geo $arg_ip $by_arg {
        default none;
        include geo/cidr.conf;
    }
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { return 200 "$ranged $by_arg"; }
    }
})");
    uint16_t p = halo_.port(0);
    EXPECT_EQ(body_from("127.0.0.3", p, "/?ip=2001:db8::1"), "lo-low six");
    EXPECT_EQ(body_from("127.0.0.10", p, "/?ip=10.9.9.9"), "out ten");
    EXPECT_EQ(body_from("127.0.0.1", p, "/?ip=bogus"), "lo-low none");
}

TEST_F(GeoSplitClientsTest, SplitClientsCountsPerBucket) {
    start(R"(http {
    split_clients "${arg_k}-salt" $bucket {
        10%   a;
        25%   b;
        0.5%  c;
        *     d;
    }
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { return 200 "$bucket"; }
    }
})");
    std::vector<std::string> paths;
    for (int i = 0; i < 10000; i++) {
        paths.push_back("/?k=user" + std::to_string(i));
    }
    std::map<std::string, int> n;
    for (const std::string& b : bodies(halo_.port(0), paths)) {
        n[b]++;
    }
    // 10000 fixed keys: the counts are what the hash gives them; the bands (about 4 standard
    // deviations) say the slices have the sizes asked for.
    EXPECT_NEAR(n["a"], 1000, 120) << n["a"];
    EXPECT_NEAR(n["b"], 2500, 180) << n["b"];
    EXPECT_NEAR(n["c"], 50, 30) << n["c"];
    EXPECT_NEAR(n["d"], 6450, 200) << n["d"];
    EXPECT_EQ(n["a"] + n["b"] + n["c"] + n["d"], 10000);
}

TEST_F(GeoSplitClientsTest, ConfigErrorsWithFileAndLine) {
    expect_emerg("http {\n geo $g {\n  10.0.0.0/33 a;\n }\n}\n", "invalid network \"10.0.0.0/33\"",
                 7);
    expect_emerg(
        "http {\n geo $g {\n  ranges;\n  10.0.0.1-10.0.0.5 a;\n  10.0.0.3-10.0.0.9 b;\n"
        " }\n}\n",
        "range \"10.0.0.3-10.0.0.9\" overlaps \"10.0.0.1-10.0.0.5\"", 9);
    expect_emerg("http {\n split_clients $uri $s {\n  60% a;\n  50% b;\n }\n}\n",
                 "percent total is greater than 100%", 8);
    expect_emerg("http {\n split_clients $uri $s {\n  1.005% a;\n }\n}\n",
                 "invalid percent value \"1.005%\"", 7);
    expect_emerg("http {\n server {\n  geo $g { }\n }\n}\n",
                 "\"geo\" directive is not allowed here", 7);
    // Warnings, as nginx's: the config still loads.
    RunResult r =
        check("http {\n geo $g {\n  10.0.0.1/8 a;\n  10.0.0.0/8 b;\n  delete 11.0.0.0/8;\n }\n}\n");
    EXPECT_EQ(r.status, 0) << r;
    std::string at = " in " + halo_.conf_path() + ":";
    EXPECT_NE(r.err.find("[warn] low address bits of 10.0.0.1/8 are meaningless" + at + "7"),
              std::string::npos)
        << r;
    EXPECT_NE(r.err.find("[warn] duplicate network \"10.0.0.0/8\", value: \"b\", old value: "
                         "\"a\"" +
                         at + "8"),
              std::string::npos)
        << r;
    EXPECT_NE(r.err.find("[warn] no network \"11.0.0.0/8\" to delete" + at + "9"),
              std::string::npos)
        << r;
}

// ---- against nginx ----

constexpr std::string_view kDiffHttp = R"(http {
    access_log off;
    split_clients "${arg_k}AAA" $bucket {
        0.5%  .one;
        2.0%  .two;
        10%   three;
        33.33% four;
        *     "";
    }
    split_clients "$arg_k" $half {
        50% x;
    }
    geo $arg_ip $cidr {
        default zz;
        10.0.0.0/8 ten;
        10.128.0.0/9 ten-hi;
        10.200.0.0/16 ten-200;
        10.200.7.0/24 ten-200-7;
        10.200.7.77 host;
        172.16.0.0/12 private;
        192.168.0.0/16 home;
        delete 192.168.0.0/16;
        2001:db8::/32 doc6;
        2001:db8:ff00::/40 doc6-ff;
        ::ffff:0:0/96 mapped;
    }
    geo $arg_ip $ranged {
        ranges;
        default none;
        10.0.0.0-10.255.255.255 ten;
        10.1.0.0-10.1.255.255 ten-one;
        10.1.2.0-10.1.2.255 ten-one-two;
        10.1.2.3-10.1.2.3 host;
        10.3.0.0-10.9.255.255 ten-3-9;
        delete 10.3.0.0-10.9.255.255;
        172.16.0.0-172.31.255.255 private;
        10.0.255.250-10.1.0.5 span;
        10.0.255.252-10.0.255.253 in-span;
    }
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { return 200 "$bucket|$half|$cidr|$ranged"; }
    }
}
)";

TEST_F(GeoSplitClientsTest, SameValuesAsNginx) {
    if (!nginx_installed()) {
        GTEST_SKIP() << "no nginx to compare with";
    }
    Nginx nginx;
    ASSERT_TRUE(nginx.start(
        "events { worker_connections 256; }\n" +
        replace_all(std::string(kDiffHttp), "%%PORT_0%%", std::to_string(nginx.port()))));
    start(kDiffHttp);

    std::mt19937 rng(20);
    std::vector<std::string> paths;
    auto ip4 = [&](uint32_t a) {
        return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." +
               std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255);
    };
    const uint32_t bases[] = {0x0a000000, 0x0a800000, 0x0ac80700, 0x0ac8074d,
                              0x0a010203, 0x0a010200, 0xac100000, 0xc0a80000,
                              0x0a030000, 0x7f000001, 0x0a00fffa, 0x0a010005};
    for (int i = 0; i < 4000; i++) {
        std::string key;
        int len = static_cast<int>(rng() % 24);
        for (int j = 0; j < len; j++) {
            key += "abcdefghijklmnopqrstuvwxyz0123456789-_"[rng() % 38];
        }
        std::string ip;
        switch (i % 5) {
            case 0:
                ip = ip4(static_cast<uint32_t>(rng()));
                break;
            case 1:
            case 2:
                ip = ip4(bases[rng() % std::size(bases)] + (rng() % 512) - 256);
                break;
            case 3:
                ip = "2001:db8:" + std::to_string(rng() % 0x10000) +
                     "::" + std::to_string(rng() % 100);
                break;
            default:
                ip = "::ffff:" + ip4(bases[rng() % std::size(bases)] + rng() % 300);
                break;
        }
        paths.push_back("/?k=" + key + "&ip=" + ip);
    }
    std::vector<std::string> want = bodies(nginx.port(), paths);
    std::vector<std::string> got = bodies(halo_.port(0), paths);
    ASSERT_EQ(got.size(), want.size());
    int differ = 0;
    std::map<std::string, int> buckets;
    for (size_t i = 0; i < got.size(); i++) {
        if (got[i] != want[i] && ++differ <= 10) {
            ADD_FAILURE() << paths[i] << ": halo \"" << got[i] << "\", nginx \"" << want[i] << "\"";
        }
        buckets[want[i].substr(0, want[i].find('|'))]++;
    }
    EXPECT_EQ(differ, 0);
    // The comparison covered every bucket.
    for (const char* b : {".one", ".two", "three", "four", ""}) {
        EXPECT_GT(buckets[b], 0) << b;
    }
}

TEST_F(GeoSplitClientsTest, ALargeNestedTableGivesNginxsValues) {
    if (!nginx_installed()) {
        GTEST_SKIP() << "no nginx to compare with";
    }
    // 20,000 IPv4 and 3,000 IPv6 networks nested in a few hundred roots, some given twice,
    // some deleted; then addresses inside random networks of the table, and anywhere.
    std::mt19937 rng(2026);
    struct Net4 {
        uint32_t addr;
        int bits;
    };
    std::vector<Net4> nets;
    std::string table;
    auto text4 = [](uint32_t a) {
        return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." +
               std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255);
    };
    auto mask4 = [](int bits) { return bits == 0 ? 0u : ~0u << (32 - bits); };
    for (int i = 0; i < 20000; i++) {
        Net4 n;
        if (i < 300 || nets.empty()) {
            n.bits = 8 + static_cast<int>(rng() % 9);
            n.addr = static_cast<uint32_t>(rng()) & mask4(n.bits);
        } else {
            const Net4& parent = nets[rng() % nets.size()];
            n.bits = std::min(32, parent.bits + 1 + static_cast<int>(rng() % 8));
            n.addr = (parent.addr | (static_cast<uint32_t>(rng()) & ~mask4(parent.bits))) &
                     mask4(n.bits);
        }
        nets.push_back(n);
        std::string net = text4(n.addr) + "/" + std::to_string(n.bits);
        table += net + " v" + std::to_string(i % 97) + ";\n";
        if (rng() % 50 == 0) {
            table += net + " again" + std::to_string(i % 7) + ";\n";
        }
        if (rng() % 40 == 0) {
            table += "delete " + net + ";\n";
        }
    }
    std::vector<std::string> nets6;
    for (int i = 0; i < 3000; i++) {
        int bits = 32 + static_cast<int>(rng() % 97);
        char buf[64];
        snprintf(buf, sizeof(buf), "2001:db8:%x:%x:%x::", static_cast<unsigned>(rng() % 16),
                 static_cast<unsigned>(rng() % 65536), static_cast<unsigned>(rng() % 65536));
        // Clear the bits past the prefix: nginx warns for them, the test wants no noise.
        in6_addr a;
        inet_pton(AF_INET6, buf, &a);
        for (int b = bits; b < 128; b++) {
            a.s6_addr[b / 8] &= static_cast<uint8_t>(~(0x80 >> (b % 8)));
        }
        char out[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &a, out, sizeof(out));
        nets6.push_back(out);
        table +=
            std::string(out) + "/" + std::to_string(bits) + " six" + std::to_string(i % 13) + ";\n";
    }
    TempDir shared("geo-table");
    ASSERT_TRUE(write_file(shared / "big.geo", table));
    std::string http =
        "http {\n    access_log off;\n"
        "    geo $arg_ip $big {\n        default none;\n        include " +
        (shared / "big.geo") +
        ";\n    }\n"
        "    server {\n        listen 127.0.0.1:%%PORT_0%%;\n"
        "        location / { return 200 $big; }\n    }\n}\n";
    Nginx nginx;
    ASSERT_TRUE(nginx.start("events { worker_connections 256; }\n" +
                            replace_all(http, "%%PORT_0%%", std::to_string(nginx.port()))));
    start(http);

    std::vector<std::string> paths;
    for (int i = 0; i < 4000; i++) {
        uint32_t a;
        if (i % 4 == 3) {
            a = static_cast<uint32_t>(rng());
        } else {
            const Net4& n = nets[rng() % nets.size()];
            a = n.addr | (static_cast<uint32_t>(rng()) & ~mask4(n.bits));
        }
        paths.push_back("/?ip=" + text4(a));
        if (i % 4 == 0) {
            std::string six = nets6[rng() % nets6.size()];
            paths.push_back("/?ip=" + six + std::to_string(rng() % 0x10000));
        }
    }
    std::vector<std::string> want = bodies(nginx.port(), paths);
    std::vector<std::string> got = bodies(halo_.port(0), paths);
    ASSERT_EQ(got.size(), want.size());
    int differ = 0;
    std::map<std::string, int> kinds;
    for (size_t i = 0; i < got.size(); i++) {
        if (got[i] != want[i] && ++differ <= 10) {
            ADD_FAILURE() << paths[i] << ": halo \"" << got[i] << "\", nginx \"" << want[i] << "\"";
        }
        kinds[want[i].substr(0, 3)]++;
    }
    EXPECT_EQ(differ, 0);
    EXPECT_GT(kinds["non"], 0);  // none (the default)
    EXPECT_GT(kinds["six"], 0);
    EXPECT_GT(kinds["aga"], 0);  // a duplicate's value
    EXPECT_GT(kinds.size(), 3u);
}

TEST_F(GeoSplitClientsTest, ForwardedForAsNginx) {
    if (!nginx_installed()) {
        GTEST_SKIP() << "no nginx to compare with";
    }
    // Every address of the pool has a network of its own whose value names it, so the body
    // says which address each walk of X-Forwarded-For chose.
    const std::vector<std::string> pool = {"10.0.0.1",    "10.0.0.2",       "127.0.0.7",
                                           "192.0.2.1",   "192.0.2.2",      "198.51.100.9",
                                           "2001:db8::1", "::ffff:10.0.0.3"};
    const std::vector<std::string> entries = {"10.0.0.1",
                                              "10.0.0.2",
                                              "127.0.0.7",
                                              "192.0.2.1",
                                              "192.0.2.2",
                                              "198.51.100.9",
                                              "2001:db8::1",
                                              "[2001:db8::1]:8080",
                                              "192.0.2.1:443",
                                              "unknown",
                                              "",
                                              "::ffff:10.0.0.3",
                                              "10.0.0.2:1",
                                              "999.1.1.1"};
    std::string nets;
    for (const std::string& a : pool) {
        nets += "        " + a + " \"" + a + "\";\n";
    }
    std::string http =
        "http {\n    access_log off;\n"
        "    geo $arg_peer $plain {\n        default other;\n"
        "        proxy 10.0.0.0/8;\n        proxy 127.0.0.0/8;\n" +
        nets +
        "    }\n"
        "    geo $arg_peer $walk {\n        default other;\n"
        "        proxy 10.0.0.0/8;\n        proxy 127.0.0.0/8;\n"
        "        proxy_recursive;\n" +
        nets +
        "    }\n"
        "    server {\n        listen 127.0.0.1:%%PORT_0%%;\n"
        "        location / { return 200 \"$plain $walk\"; }\n    }\n}\n";
    Nginx nginx;
    ASSERT_TRUE(nginx.start("events { worker_connections 256; }\n" +
                            replace_all(http, "%%PORT_0%%", std::to_string(nginx.port()))));
    start(http);

    std::mt19937 rng(7);
    const char* seps[] = {", ", ",", " ", " , ", ",,"};
    struct Case {
        std::string peer;
        std::string headers;
    };
    std::vector<Case> cases;
    for (int i = 0; i < 600; i++) {
        Case c;
        c.peer = i % 5 == 4 ? "192.0.2.2" : (i % 2 ? "10.0.0.2" : "127.0.0.1");
        int nheaders = static_cast<int>(rng() % 3);
        for (int h = 0; h < nheaders; h++) {
            std::string list;
            int n = 1 + static_cast<int>(rng() % 4);
            for (int e = 0; e < n; e++) {
                list += (e ? seps[rng() % std::size(seps)] : "") + entries[rng() % entries.size()];
            }
            c.headers += "X-Forwarded-For: " + list + "\r\n";
        }
        cases.push_back(c);
    }
    auto run = [&](uint16_t port) {
        std::vector<std::string> out;
        HttpConnection conn;
        for (size_t i = 0; i < cases.size(); i++) {
            if (i % 100 == 0) {
                conn.close();
                conn.connect(port);
            }
            conn.send("GET /?peer=" + cases[i].peer + " HTTP/1.1\r\nHost: t\r\n" +
                      cases[i].headers + "\r\n");
            auto r = conn.read_response();
            out.push_back(r ? r->body : "<error: " + conn.error() + ">");
        }
        return out;
    };
    std::vector<std::string> want = run(nginx.port());
    std::vector<std::string> got = run(halo_.port(0));
    int differ = 0;
    std::set<std::string> seen;
    for (size_t i = 0; i < cases.size(); i++) {
        if (got[i] != want[i] && ++differ <= 10) {
            ADD_FAILURE() << "peer " << cases[i].peer << "\n"
                          << cases[i].headers << "halo \"" << got[i] << "\", nginx \"" << want[i]
                          << "\"";
        }
        seen.insert(want[i]);
    }
    EXPECT_EQ(differ, 0);
    EXPECT_GT(seen.size(), 20u);  // many different outcomes were compared
}

TEST_F(GeoSplitClientsTest, WarningsAsNginx) {
    if (!nginx_installed()) {
        GTEST_SKIP() << "no nginx to compare with";
    }
    const std::string http = R"(http {
    geo $g {
        10.0.0.1/8 a;
        10.0.0.0/8 b;
        delete 11.0.0.0/8;
        default x;
        default y;
        2001:db8::1/32 six;
    }
    geo $r {
        ranges;
        default a;
        default b;
        10.0.0.1-10.0.0.9 a;
        10.0.0.1-10.0.0.9 b;
        10.0.0.3-10.0.0.4 c;
        delete 10.0.0.1-10.0.0.9;
        10.0.255.250-10.1.0.5 span;
        10.0.255.250-10.1.0.5 span2;
    }
    server { listen 127.0.0.1:%%PORT_0%%; location / { return 200 "$g $r"; } }
}
)";
    // The same text at the same lines: halo's file has its main lines first, nginx's too.
    TempDir dir("geo-nginx");
    std::string nginx_conf = std::string(kMain) + http;
    ASSERT_TRUE(write_file(dir / "nginx.conf", replace_all(nginx_conf, "%%PORT_0%%", "1")));
    RunResult n =
        run_command({nginx_bin(), "-t", "-p", dir.path() + "/", "-c", dir / "nginx.conf", "-e",
                     dir / "logs/error.log", "-g", "pid " + (dir / "nginx.pid") + ";"});
    ASSERT_EQ(n.status, 0) << n;
    RunResult h = check(http);
    ASSERT_EQ(h.status, 0) << h;
    auto warnings = [](const std::string& out, const std::string& prefix, const std::string& path) {
        std::vector<std::string> lines;
        size_t start = 0;
        for (size_t nl; (nl = out.find('\n', start)) != std::string::npos; start = nl + 1) {
            std::string line = out.substr(start, nl - start);
            if (line.find("[warn]") != std::string::npos &&
                line.find("worker_processes") == std::string::npos) {
                lines.push_back(replace_all(replace_all(line, prefix, ""), path, "CONF"));
            }
        }
        return lines;
    };
    std::vector<std::string> want = warnings(n.err, "nginx: ", dir / "nginx.conf");
    std::vector<std::string> got = warnings(h.err, "halo: ", halo_.conf_path());
    EXPECT_EQ(got, want) << "nginx:\n" << n.err << "halo:\n" << h.err;
    EXPECT_EQ(want.size(), 11u) << n.err;
}

TEST_F(GeoSplitClientsTest, AReloadRebuildsTheTables) {
    std::string conf = R"(http {
    geo $g { default old; 127.0.0.2 two-old; }
    split_clients "$arg_k" $s { 50% a; * b; }
    server { listen 127.0.0.1:%%PORT_0%%; location / { return 200 "$g $s"; } }
})";
    start(conf);
    uint16_t p = halo_.port(0);
    EXPECT_EQ(body_from("127.0.0.2", p, "/?k=x").substr(0, 8), "two-old ");
    std::string before = body_from("127.0.0.1", p, "/?k=x");
    EXPECT_EQ(before.substr(0, 4), "old ");
    conf = replace_all(replace_all(conf, "two-old", "two-new"), "default old", "default new");
    conf = replace_all(conf, "50% a; * b;", "100% c;");
    halo_.write_conf(std::string(kMain) + conf);
    ASSERT_TRUE(halo_.signal(SIGHUP));
    ASSERT_TRUE(wait_until([&] { return body_from("127.0.0.1", p, "/?k=x") == "new c"; }))
        << before << " -> " << body_from("127.0.0.1", p, "/?k=x");
    EXPECT_EQ(body_from("127.0.0.2", p, "/?k=y"), "two-new c");
    // A reload whose geo is wrong is refused: the old tables keep serving.
    halo_.write_conf(std::string(kMain) + replace_all(conf, "127.0.0.2 two-new", "127.0.0.2/40 x"));
    ASSERT_TRUE(halo_.signal(SIGHUP));
    EXPECT_TRUE(wait_until([&] {
        return halo_.error_log().find("invalid network \"127.0.0.2/40\"") != std::string::npos;
    })) << halo_.error_log();
    EXPECT_EQ(body_from("127.0.0.2", p, "/?k=y"), "two-new c");
}

// ---- stream ----

class StreamGeoTest : public GeoSplitClientsTest {
  protected:
    void SetUp() override {
        for (const char* m : {"stream_geo", "stream_split_clients", "stream_proxy", "stream_log",
                              "stream_map", "http_split_clients", "http_rewrite"}) {
            if (!halo_has_module(m)) {
                GTEST_SKIP() << "the " << m << " module is not compiled in";
            }
        }
    }
};

TEST_F(StreamGeoTest, TheClientAddressChoosesTheUpstream) {
    TcpEchoBackend a("a");
    TcpEchoBackend b("b");
    TcpEchoBackend c("c");
    halo_.write_conf(std::string(kMain) +
                     "stream {\n"
                     "    geo $backend {\n"
                     "        default " +
                     a.address() +
                     ";\n"
                     "        127.0.0.2 " +
                     b.address() +
                     ";\n"
                     "        127.0.3.0/24 " +
                     c.address() +
                     ";\n"
                     "    }\n"
                     "    geo $remote_addr $ranged {\n"
                     "        ranges;\n"
                     "        127.0.0.1-127.0.0.255 " +
                     b.address() +
                     ";\n"
                     "    }\n"
                     "    server {\n"
                     "        listen 127.0.0.1:%%PORT_0%%;\n"
                     "        proxy_pass $backend;\n"
                     "    }\n"
                     "    server {\n"
                     "        listen 127.0.0.1:%%PORT_1%%;\n"
                     "        proxy_pass $ranged;\n"
                     "    }\n"
                     "}\n");
    ASSERT_TRUE(halo_.start());
    uint16_t p = halo_.port(0);
    EXPECT_EQ(exchange_from("127.0.0.1", p, "", a.greeting().size()), a.greeting());
    EXPECT_EQ(exchange_from("127.0.0.2", p, "", b.greeting().size()), b.greeting());
    EXPECT_EQ(exchange_from("127.0.3.77", p, "", c.greeting().size()), c.greeting());
    EXPECT_EQ(exchange_from("127.0.4.1", p, "", a.greeting().size()), a.greeting());
    EXPECT_EQ(exchange_from("127.0.0.9", halo_.port(1), "", b.greeting().size()), b.greeting());
}

TEST_F(StreamGeoTest, SplitClientsBucketsAsHttpGivesThem) {
    // The same split_clients in the stream block (by client address, logged per session) and
    // in http (by ?k=): each client address lands in the same bucket in both, and the http
    // buckets are nginx's (SameValuesAsNginx).
    TcpEchoBackend echo("e");
    halo_.write_conf(std::string(kMain) +
                     "stream {\n"
                     "    split_clients \"${remote_addr}AAA\" $bucket {\n"
                     "        20% a;\n        30% b;\n        * c;\n    }\n"
                     "    log_format s '$remote_addr $bucket';\n"
                     "    access_log logs/stream.log s;\n"
                     "    server {\n"
                     "        listen 127.0.0.1:%%PORT_0%%;\n"
                     "        proxy_pass " +
                     echo.address() +
                     ";\n"
                     "    }\n"
                     "}\n"
                     "http {\n"
                     "    access_log off;\n"
                     "    split_clients \"${arg_k}AAA\" $bucket {\n"
                     "        20% a;\n        30% b;\n        * c;\n    }\n"
                     "    server {\n"
                     "        listen 127.0.0.1:%%PORT_1%%;\n"
                     "        location / { return 200 $bucket; }\n"
                     "    }\n"
                     "}\n");
    ASSERT_TRUE(halo_.start());
    constexpr int kClients = 120;
    std::vector<std::string> paths;
    for (int i = 1; i <= kClients; i++) {
        std::string src = "127.0." + std::to_string(10 + i / 200) + "." + std::to_string(i % 200);
        ASSERT_EQ(exchange_from(src, halo_.port(0), "", echo.greeting().size()), echo.greeting())
            << src;
        paths.push_back("/?k=" + src);
    }
    std::map<std::string, std::string> logged;
    ASSERT_TRUE(wait_until([&] {
        logged.clear();
        std::string text = read_file(halo_.path("logs/stream.log")).value_or("");
        size_t start = 0;
        for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
            std::string line = text.substr(start, nl - start);
            size_t sp = line.find(' ');
            logged[line.substr(0, sp)] = sp == std::string::npos ? "" : line.substr(sp + 1);
        }
        // (The harness's own check that the port accepts is a session too.)
        for (const std::string& path : paths) {
            if (logged.count(path.substr(4)) == 0) {
                return false;
            }
        }
        return true;
    })) << logged.size();
    std::vector<std::string> http = bodies(halo_.port(1), paths);
    std::map<std::string, int> n;
    for (int i = 0; i < kClients; i++) {
        std::string src = paths[i].substr(4);
        EXPECT_EQ(logged[src], http[i]) << src;
        n[http[i]]++;
    }
    EXPECT_GT(n["a"], 0);
    EXPECT_GT(n["b"], 0);
    EXPECT_GT(n["c"], 0);
}

/// MurmurHash2 as nginx's ngx_murmur_hash2, written again for the test.
uint32_t murmur2(std::string_view d) {
    const uint32_t m = 0x5bd1e995;
    uint32_t h = static_cast<uint32_t>(d.size());
    size_t i = 0;
    for (; i + 4 <= d.size(); i += 4) {
        uint32_t k = 0;
        for (int j = 3; j >= 0; j--) {
            k = (k << 8) | static_cast<unsigned char>(d[i + j]);
        }
        k *= m;
        k ^= k >> 24;
        k *= m;
        h = (h * m) ^ k;
    }
    size_t rest = d.size() - i;
    if (rest > 0) {
        for (size_t j = rest; j-- > 0;) {
            h ^= static_cast<uint32_t>(static_cast<unsigned char>(d[i + j])) << (8 * j);
        }
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

TEST_F(StreamGeoTest, ASessionKeepsTheValueItReadFirst) {
    // $first is read when the session starts (through the map proxy_pass reads), when
    // $bytes_received is 0; the log line, written when the session ends, shows the value
    // kept for the session, as nginx keeps a split_clients variable. $later, the same table
    // read first at the end, hashes the final count. (nginx also keeps $bytes_received once
    // read, so its line would say "0 v9 v9": halo's stream core computes its own variables
    // on each read; this line is not compared with nginx's.)
    auto bucket = [](std::string_view key) {
        return "v" + std::to_string(static_cast<uint64_t>(murmur2(key)) * 10 / 0x100000000ULL);
    };
    std::string payload;
    for (int n = 1; n < 200 && payload.empty(); n++) {
        if (bucket("k0") != bucket("k" + std::to_string(n))) {
            payload.assign(static_cast<size_t>(n), 'x');
        }
    }
    ASSERT_FALSE(payload.empty());
    TcpEchoBackend echo("e", false);
    std::string slices;
    for (int i = 0; i < 9; i++) {
        slices += "        10% v" + std::to_string(i) + ";\n";
    }
    slices += "        * v9;\n";
    halo_.write_conf(std::string(kMain) + "stream {\n" +
                     "    split_clients \"k$bytes_received\" $first {\n" + slices + "    }\n" +
                     "    split_clients \"k$bytes_received\" $later {\n" + slices + "    }\n" +
                     "    map $first $target { default " + echo.address() +
                     "; }\n"
                     "    log_format s '$bytes_received $first $later';\n"
                     "    access_log logs/stream.log s;\n"
                     "    server {\n"
                     "        listen 127.0.0.1:%%PORT_0%%;\n"
                     "        proxy_pass $target;\n"
                     "    }\n"
                     "}\n");
    ASSERT_TRUE(halo_.start());
    ASSERT_EQ(exchange_from("127.0.0.9", halo_.port(0), payload, payload.size()), payload);
    std::string want = std::to_string(payload.size()) + " " + bucket("k0") + " " +
                       bucket("k" + std::to_string(payload.size())) + "\n";
    EXPECT_TRUE(wait_until([&] {
        return read_file(halo_.path("logs/stream.log")).value_or("").find(want) !=
               std::string::npos;
    })) << "want "
        << want << "log:\n"
        << read_file(halo_.path("logs/stream.log")).value_or("");
}

TEST_F(StreamGeoTest, SameValuesAsNginx) {
    const std::string module = "/usr/lib/nginx/modules/ngx_stream_module.so";
    if (!nginx_installed() || !file_exists(module)) {
        GTEST_SKIP() << "no nginx with the stream module to compare with";
    }
    // One stream config for both: geo (CIDR and ranges) and split_clients by the client
    // address, written to a log line per session; 150 clients from their own addresses.
    TcpEchoBackend echo("e", false);
    std::string stream =
        "stream {\n"
        "    geo $g {\n        default other;\n        127.0.0.0/24 low;\n"
        "        127.0.0.128/25 high;\n        127.0.1.0/24 one;\n"
        "        127.0.1.7 seven;\n        delete 127.0.0.128/25;\n    }\n"
        "    geo $remote_addr $r {\n        ranges;\n        default none;\n"
        "        127.0.0.0-127.0.0.99 r0;\n        127.0.0.50-127.0.0.60 r5;\n"
        "        127.0.1.10-127.0.2.20 r1;\n    }\n"
        "    split_clients \"${remote_addr}AAA\" $s {\n        12.5% a;\n"
        "        33% b;\n        0.75% c;\n        * d;\n    }\n"
        "    log_format s '$remote_addr $g $r $s';\n"
        "    access_log logs/stream.log s;\n"
        "    server {\n        listen 127.0.0.1:%%PORT_0%%;\n"
        "        proxy_pass " +
        echo.address() + ";\n    }\n}\n";
    Nginx nginx;
    ASSERT_TRUE(nginx.start("load_module " + module + ";\nevents { worker_connections 256; }\n" +
                            replace_all(stream, "%%PORT_0%%", std::to_string(nginx.port()))));
    halo_.write_conf(std::string(kMain) + stream);
    ASSERT_TRUE(halo_.start());

    std::vector<std::string> sources;
    for (int i = 0; i < 150; i++) {
        sources.push_back("127.0." + std::to_string(i / 100) + "." +
                          std::to_string(1 + i % 100 * 2));
    }
    for (const std::string& src : sources) {
        ASSERT_EQ(exchange_from(src, nginx.port(), "x", 1), "x") << src;
        ASSERT_EQ(exchange_from(src, halo_.port(0), "x", 1), "x") << src;
    }
    auto lines = [&](const std::string& path) {
        std::map<std::string, std::string> out;
        std::string text = read_file(path).value_or("");
        size_t start = 0;
        for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
            std::string line = text.substr(start, nl - start);
            out[line.substr(0, line.find(' '))] = line;
        }
        return out;
    };
    auto complete = [&](const std::string& path) {
        auto l = lines(path);
        for (const std::string& src : sources) {
            if (l.count(src) == 0) {
                return false;
            }
        }
        return true;
    };
    ASSERT_TRUE(wait_until([&] { return complete(nginx.path("logs/stream.log")); }));
    ASSERT_TRUE(wait_until([&] { return complete(halo_.path("logs/stream.log")); }));
    auto want = lines(nginx.path("logs/stream.log"));
    auto got = lines(halo_.path("logs/stream.log"));
    std::set<std::string> buckets;
    for (const std::string& src : sources) {
        EXPECT_EQ(got[src], want[src]);
        buckets.insert(want[src].substr(want[src].rfind(' ') + 1));
    }
    EXPECT_GE(buckets.size(), 3u);
}

TEST_F(StreamGeoTest, ConfigErrorsWithFileAndLine) {
    // The stream geo has no proxy, as nginx's: the line reads as a network.
    expect_emerg("stream {\n geo $g {\n  proxy 127.0.0.1;\n }\n}\n", "invalid network \"proxy\"",
                 7);
    expect_emerg("stream {\n split_clients $remote_addr $s {\n  101% a;\n }\n}\n",
                 "percent total is greater than 100%", 7);
    expect_emerg("stream {\n geo $g { }\n geo $g { }\n}\n", "the duplicate \"g\" variable", 7);
    expect_emerg("stream {\n geo $remote_addr { }\n}\n", "the duplicate \"remote_addr\" variable",
                 6);
}

}  // namespace
}  // namespace halo_test
