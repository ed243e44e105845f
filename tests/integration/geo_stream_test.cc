// geo and split_clients in the stream block through the real binary: the client address
// choosing the upstream (CIDR and ranges), the bucket of a client address equal to the http
// bucket of the same key, a session keeping the value it read first, config errors with
// file:line. Against nginx: geo_nginx_diff_test.cc.
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
