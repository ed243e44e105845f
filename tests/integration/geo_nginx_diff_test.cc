// geo and split_clients against Debian's nginx, the same config in both: $bucket, CIDR and
// ranges values for 4,000 random keys and addresses, a large nested table (23,000 networks)
// for 5,000 addresses, 600 random X-Forwarded-For walks, the warnings of `-t`, and in the
// stream block geo, ranges and buckets for 150 client addresses.
#include <algorithm>
#include <csignal>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "geo_clients.h"
#include "support/harness.h"
#include "support/nginx.h"
#include "support/stream_backend.h"

namespace halo_test {
namespace {

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
}  // namespace
}  // namespace halo_test
