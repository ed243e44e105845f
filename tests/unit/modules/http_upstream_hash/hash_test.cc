// hash, consistent hash and ip_hash: stability of keys, what moves when servers come and go,
// rehashing past unusable peers, /24 stickiness, the key evaluated per request, directives.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "core/cycle.h"
#include "http/http.h"
#include "modules/upstream_hash/hash.h"
#include "support/test_modules.h"
#include "upstream/upstream.h"

namespace mod::upstream_hash {
namespace {

using namespace std::chrono_literals;
using upstream::Group;
using upstream::Outcome;
using upstream::Peer;
using upstream::PickContext;
using upstream::Server;

constexpr int64_t kNow = 1'000'000;
constexpr int kKeys = 10000;

/// 10.0.0.<n>:80 named as written.
Server server(int n, int weight = 1) {
    Server s;
    s.name = "10.0.0." + std::to_string(n) + ":80";
    s.addr = *core::SockAddr::from_ip("10.0.0." + std::to_string(n), 80);
    s.weight = weight;
    return s;
}

std::unique_ptr<Group> hash_group(std::vector<Server> servers, bool consistent) {
    auto data = std::make_unique<HashData>();
    data->consistent = consistent;
    std::string error;
    auto g = Group::make("h", std::move(servers), &hash_balancer(), std::move(data), std::nullopt,
                         &error);
    EXPECT_NE(g, nullptr) << error;
    return g;
}

std::unique_ptr<Group> ip_hash_group(std::vector<Server> servers) {
    std::string error;
    auto g = Group::make("ip", std::move(servers), &ip_hash_balancer(),
                         std::make_unique<HashData>(), std::nullopt, &error);
    EXPECT_NE(g, nullptr) << error;
    return g;
}

/// The server name a request with `key` goes to ("-" when none).
std::string pick_key(const Group& g, const std::string& key, Outcome outcome = Outcome::kOk) {
    PickContext ctx;
    ctx.now_ms = kNow;
    ctx.key = key;
    Peer p = g.acquire(ctx);
    if (p.index < 0) {
        return "-";
    }
    g.release(p, outcome, 1ms, kNow);
    return p.server->name;
}

std::string pick_client(const Group& g, const std::string& ip) {
    PickContext ctx;
    ctx.now_ms = kNow;
    ctx.client = *core::SockAddr::from_ip(ip, 5555);
    Peer p = g.acquire(ctx);
    if (p.index < 0) {
        return "-";
    }
    g.release(p, Outcome::kOk, 1ms, kNow);
    return p.server->name;
}

std::vector<std::string> map_keys(const Group& g) {
    std::vector<std::string> out;
    for (int i = 0; i < kKeys; i++) {
        out.push_back(pick_key(g, "/item/" + std::to_string(i)));
    }
    return out;
}

std::map<std::string, int> counts(const std::vector<std::string>& v) {
    std::map<std::string, int> m;
    for (const auto& s : v) {
        m[s]++;
    }
    return m;
}

TEST(HashTest, Crc32) {
    EXPECT_EQ(crc32("123456789"), 0xcbf43926u);  // the CRC-32 check value
    EXPECT_EQ(crc32(""), 0u);
    EXPECT_EQ(crc32_update(crc32_update(0xffffffffu, "1234"), "56789") ^ 0xffffffffu, 0xcbf43926u);
}

// ---- hash $key ----

TEST(HashTest, SameKeySameServer) {
    auto g = hash_group({server(1), server(2), server(3)}, false);
    auto first = map_keys(*g);
    EXPECT_EQ(map_keys(*g), first);
    auto c = counts(first);
    ASSERT_EQ(c.size(), 3u);
    for (const auto& [name, n] : c) {
        EXPECT_GT(n, kKeys / 3 - 600) << name;
        EXPECT_LT(n, kKeys / 3 + 600) << name;
    }
}

TEST(HashTest, WeightsShareTheKeys) {
    auto g = hash_group({server(1, 3), server(2, 1)}, false);
    auto c = counts(map_keys(*g));
    EXPECT_GT(c["10.0.0.1:80"], 7000);
    EXPECT_LT(c["10.0.0.1:80"], 8000);
}

TEST(HashTest, UnusablePeerRehashesItsKeysOnly) {
    Server down = server(2);
    down.down = true;
    auto all = hash_group({server(1), server(2), server(3)}, false);
    auto some = hash_group({server(1), down, server(3)}, false);
    auto before = map_keys(*all);
    auto after = map_keys(*some);
    for (int i = 0; i < kKeys; i++) {
        if (before[static_cast<size_t>(i)] != "10.0.0.2:80") {
            EXPECT_EQ(after[static_cast<size_t>(i)], before[static_cast<size_t>(i)]) << i;
        } else {
            EXPECT_NE(after[static_cast<size_t>(i)], "10.0.0.2:80") << i;
        }
    }
    EXPECT_EQ(map_keys(*some), after);  // the rehash is stable too
}

TEST(HashTest, RetryGoesElsewhere) {
    auto g = hash_group({server(1), server(2), server(3)}, false);
    PickContext ctx;
    ctx.now_ms = kNow;
    ctx.key = "/x";
    std::vector<int> seen;
    for (;;) {
        Peer p = g->acquire(ctx);
        if (p.index < 0) {
            break;
        }
        seen.push_back(p.index);
        g->release(p, Outcome::kFailed, 1ms, kNow);
    }
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(seen, std::vector<int>({0, 1, 2}));
}

TEST(HashTest, EmptyKeyIsRoundRobin) {
    auto g = hash_group({server(1), server(2)}, false);
    EXPECT_EQ(pick_key(*g, ""), "10.0.0.1:80");
    EXPECT_EQ(pick_key(*g, ""), "10.0.0.2:80");
    EXPECT_EQ(pick_key(*g, ""), "10.0.0.1:80");
}

// ---- hash $key consistent ----

TEST(ConsistentHashTest, RingHas160PointsPerWeight) {
    auto g = hash_group({server(1), server(2, 2)}, true);
    const auto& d = static_cast<const HashData&>(*g->balancer_data());
    EXPECT_GE(d.ring.size(), 475u);  // 480 less the rare repeated hashes
    EXPECT_LE(d.ring.size(), 480u);
    EXPECT_TRUE(
        std::is_sorted(d.ring.begin(), d.ring.end(),
                       [](const RingPoint& a, const RingPoint& b) { return a.hash < b.hash; }));
}

TEST(ConsistentHashTest, AddingAFourthServerMovesAQuarter) {
    auto three = hash_group({server(1), server(2), server(3)}, true);
    auto four = hash_group({server(1), server(2), server(3), server(4)}, true);
    auto before = map_keys(*three);
    auto after = map_keys(*four);
    int moved = 0;
    for (int i = 0; i < kKeys; i++) {
        if (before[static_cast<size_t>(i)] != after[static_cast<size_t>(i)]) {
            moved++;
            EXPECT_EQ(after[static_cast<size_t>(i)], "10.0.0.4:80") << i;  // only to the new one
        }
    }
    EXPECT_GT(moved, kKeys * 18 / 100);
    EXPECT_LT(moved, kKeys * 32 / 100);
    auto c = counts(after);
    for (const auto& [name, n] : c) {
        EXPECT_GT(n, kKeys / 4 - 800) << name;
        EXPECT_LT(n, kKeys / 4 + 800) << name;
    }
}

TEST(ConsistentHashTest, RemovingAServerMovesOnlyItsKeys) {
    auto three = hash_group({server(1), server(2), server(3)}, true);
    auto two = hash_group({server(1), server(3)}, true);
    auto before = map_keys(*three);
    auto after = map_keys(*two);
    int moved = 0;
    for (int i = 0; i < kKeys; i++) {
        if (before[static_cast<size_t>(i)] != "10.0.0.2:80") {
            EXPECT_EQ(after[static_cast<size_t>(i)], before[static_cast<size_t>(i)]) << i;
        } else {
            moved++;
        }
    }
    EXPECT_GT(moved, kKeys / 5);
}

TEST(ConsistentHashTest, DownServerMovesOnlyItsKeys) {
    Server down = server(2);
    down.down = true;
    auto all = hash_group({server(1), server(2), server(3)}, true);
    auto some = hash_group({server(1), down, server(3)}, true);
    auto before = map_keys(*all);
    auto after = map_keys(*some);
    for (int i = 0; i < kKeys; i++) {
        if (before[static_cast<size_t>(i)] != "10.0.0.2:80") {
            EXPECT_EQ(after[static_cast<size_t>(i)], before[static_cast<size_t>(i)]) << i;
        }
    }
}

TEST(ConsistentHashTest, SameNamesSameRing) {
    // The ring depends on the names as written, not on the order of the servers.
    auto a = hash_group({server(1), server(2), server(3)}, true);
    auto b = hash_group({server(3), server(1), server(2)}, true);
    EXPECT_EQ(map_keys(*a), map_keys(*b));
}

// ---- ip_hash ----

TEST(IpHashTest, SameSlash24SameServer) {
    auto g = ip_hash_group({server(1), server(2), server(3)});
    for (int net = 0; net < 50; net++) {
        std::string prefix = "198.51." + std::to_string(net) + ".";
        std::string first = pick_client(*g, prefix + "1");
        for (int host : {2, 77, 254}) {
            EXPECT_EQ(pick_client(*g, prefix + std::to_string(host)), first) << prefix << host;
        }
    }
}

TEST(IpHashTest, NetworksSpreadOverServers) {
    auto g = ip_hash_group({server(1), server(2), server(3)});
    std::map<std::string, int> c;
    for (int net = 0; net < 3000; net++) {
        c[pick_client(
            *g, "10." + std::to_string(net / 256) + "." + std::to_string(net % 256) + ".9")]++;
    }
    ASSERT_EQ(c.size(), 3u);
    for (const auto& [name, n] : c) {
        EXPECT_GT(n, 700) << name;
    }
}

TEST(IpHashTest, Ipv6UsesTheWholeAddress) {
    auto g = ip_hash_group({server(1), server(2), server(3)});
    std::map<std::string, int> c;
    for (int i = 0; i < 300; i++) {
        std::string ip = "2001:db8::" + std::to_string(i);
        std::string s = pick_client(*g, ip);
        EXPECT_EQ(pick_client(*g, ip), s);
        c[s]++;
    }
    EXPECT_EQ(c.size(), 3u);  // the last bits matter
}

TEST(IpHashTest, DownServerKeepsTheOthersInPlace) {
    Server down = server(2);
    down.down = true;
    auto all = ip_hash_group({server(1), server(2), server(3)});
    auto some = ip_hash_group({server(1), down, server(3)});
    for (int net = 0; net < 300; net++) {
        std::string ip = "172.16." + std::to_string(net) + ".1";
        std::string before = pick_client(*all, ip);
        std::string after = pick_client(*some, ip);
        if (before != "10.0.0.2:80") {
            EXPECT_EQ(after, before) << ip;
        } else {
            EXPECT_NE(after, "10.0.0.2:80") << ip;
            EXPECT_EQ(pick_client(*some, ip), after) << ip;
        }
    }
}

// ---- directives ----

class HashConfigTest : public ::testing::Test {
  protected:
    HashConfigTest() : registry_(core::compiled_modules()) {}
    void SetUp() override {
        if (registry_.find("http_upstream") == nullptr) {
            GTEST_SKIP() << "upstream blocks need the http_upstream module";
        }
    }
    core::Status load(std::string_view upstream_body) {
        cycle_.reset();
        return support::load_cycle(
            registry_, dir_, "http {\n upstream app {\n" + std::string(upstream_body) + " }\n}\n",
            cycle_, nullptr, {}, true);
    }
    std::string at(int line) const {
        return " in " + dir_.file("halo.conf") + ":" + std::to_string(line);
    }
    support::TempDir dir_;
    core::ModuleRegistry registry_;
    std::unique_ptr<core::Cycle> cycle_;
};

TEST_F(HashConfigTest, KeyIsEvaluatedPerRequest) {
    ASSERT_TRUE(load("  hash $remote_addr$uri consistent;\n  server 127.0.0.1:1;\n"
                     "  server 127.0.0.1:2;\n")
                    .is_ok());
    const Group* g = upstream::find_group(*cycle_, "app");
    ASSERT_EQ(g->balancer().name, "hash");
    EXPECT_TRUE(static_cast<const HashData&>(*g->balancer_data()).consistent);
    http::Request r;
    r.peer = *core::SockAddr::from_ip("192.0.2.4", 1234);
    r.uri = "/a";
    PickContext ctx;
    ctx.request = &r;
    ctx.now_ms = kNow;
    Peer p = g->acquire(ctx);
    EXPECT_EQ(ctx.key, "192.0.2.4/a");
    g->release(p, Outcome::kOk, 1ms, kNow);
    PickContext again;
    again.key = "192.0.2.4/a";
    again.now_ms = kNow;
    Peer q = g->acquire(again);
    EXPECT_EQ(q.index, p.index);
    g->release(q, Outcome::kOk, 1ms, kNow);
}

TEST_F(HashConfigTest, Accepted) {
    ASSERT_TRUE(load("  hash $request_uri;\n  server 127.0.0.1:1 weight=2 max_fails=2;\n"
                     "  server 127.0.0.1:2 down;\n")
                    .is_ok());
    EXPECT_FALSE(
        static_cast<const HashData&>(*upstream::find_group(*cycle_, "app")->balancer_data())
            .consistent);
    ASSERT_TRUE(
        load("  ip_hash;\n  server 127.0.0.1:1;\n  server 127.0.0.1:2 weight=3;\n").is_ok());
    EXPECT_EQ(upstream::find_group(*cycle_, "app")->balancer().name, "ip_hash");
}

TEST_F(HashConfigTest, Errors) {
    EXPECT_EQ(load("  hash $uri bogus;\n  server 127.0.0.1:1;\n").message(),
              "invalid parameter \"bogus\"" + at(3));
    EXPECT_EQ(load("  hash $uri;\n  server 127.0.0.1:1 backup;\n").message(),
              "balancing method does not support parameter \"backup\"" + at(4));
    EXPECT_EQ(load("  server 127.0.0.1:1;\n  server 127.0.0.1:2 backup;\n  ip_hash;\n").message(),
              "load balancing method \"ip_hash\" does not support backup servers" + at(5));
    EXPECT_EQ(load("  ip_hash;\n  hash $uri;\n  server 127.0.0.1:1;\n").message(),
              "load balancing method redefined" + at(4));
    EXPECT_EQ(load("  least_conn;\n  ip_hash;\n  server 127.0.0.1:1;\n").message(),
              "load balancing method redefined" + at(4));
    EXPECT_EQ(load("  ip_hash x;\n  server 127.0.0.1:1;\n").message(),
              "invalid number of arguments in \"ip_hash\" directive" + at(3));
    EXPECT_THAT(load("  hash $no_such_variable;\n  server 127.0.0.1:1;\n").message(),
                ::testing::HasSubstr("no_such_variable"));
}

}  // namespace
}  // namespace mod::upstream_hash
