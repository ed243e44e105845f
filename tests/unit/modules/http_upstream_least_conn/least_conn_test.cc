// least_conn: the fewest requests in flight per unit of weight, ties by smooth weighted round
// robin; the directive in upstream blocks.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/cycle.h"
#include "modules/upstream_least_conn/least_conn.h"
#include "support/test_modules.h"
#include "upstream/upstream.h"

namespace mod::upstream_least_conn {
namespace {

using namespace std::chrono_literals;
using upstream::Group;
using upstream::Outcome;
using upstream::Peer;
using upstream::PickContext;
using upstream::Server;

constexpr int64_t kNow = 1'000'000;

Server server(char letter, int weight = 1) {
    Server s;
    s.name = std::string(1, letter);
    s.addr = *core::SockAddr::from_ip("10.0.0." + std::to_string(letter - 'a' + 1), 80);
    s.weight = weight;
    return s;
}

std::unique_ptr<Group> group(std::vector<Server> servers) {
    std::string error;
    auto g = Group::make("lc", std::move(servers), &least_conn_balancer(), nullptr, std::nullopt,
                         &error);
    EXPECT_NE(g, nullptr) << error;
    return g;
}

Peer acquire(const Group& g) {
    PickContext ctx;
    ctx.now_ms = kNow;
    return g.acquire(ctx);
}

char name(const Peer& p) {
    return p.index < 0 ? '-' : p.server->name[0];
}

TEST(LeastConnTest, IdlePeersTieAndRotate) {
    auto g = group({server('a'), server('b'), server('c')});
    std::string s;
    for (int i = 0; i < 6; i++) {
        Peer p = acquire(*g);
        s += name(p);
        g->release(p, Outcome::kOk, 1ms, kNow);
    }
    EXPECT_EQ(s, "abcabc");
}

TEST(LeastConnTest, FewestInFlightWins) {
    auto g = group({server('a'), server('b'), server('c')});
    Peer a = acquire(*g);
    Peer b = acquire(*g);
    Peer c = acquire(*g);
    EXPECT_EQ(std::string() + name(a) + name(b) + name(c), "abc");
    g->release(b, Outcome::kOk, 1ms, kNow);
    Peer next = acquire(*g);
    EXPECT_EQ(name(next), 'b');  // the only one with nothing in flight
    g->release(a, Outcome::kOk, 1ms, kNow);
    g->release(c, Outcome::kOk, 1ms, kNow);
    Peer again = acquire(*g);
    EXPECT_NE(name(again), 'b');  // b still has one
    EXPECT_EQ(g->peers()[1].conns, 1u);
}

TEST(LeastConnTest, WeightedLeastConnections) {
    auto g = group({server('a', 3), server('b', 1)});
    std::vector<Peer> held;
    for (int i = 0; i < 40; i++) {
        held.push_back(acquire(*g));
    }
    EXPECT_EQ(g->peers()[0].conns, 30u);  // in-flight counts follow the weights 3:1
    EXPECT_EQ(g->peers()[1].conns, 10u);
    // Completing b's requests sends the next ones to b until the ratio is even again.
    for (const Peer& p : held) {
        if (p.index == 1) {
            g->release(p, Outcome::kOk, 1ms, kNow);
        }
    }
    std::string s;
    for (int i = 0; i < 10; i++) {
        s += name(acquire(*g));
    }
    EXPECT_EQ(s, "bbbbbbbbbb");
}

TEST(LeastConnTest, TiesFollowSmoothWeightedRoundRobin) {
    auto g = group({server('a', 5), server('b'), server('c')});
    std::string s;
    for (int i = 0; i < 14; i++) {
        Peer p = acquire(*g);
        s += name(p);
        g->release(p, Outcome::kOk, 1ms, kNow);
    }
    EXPECT_EQ(s, "aabacaaaabacaa");  // nothing in flight: everyone ties
}

TEST(LeastConnTest, UnusablePeersAreSkipped) {
    Server b = server('b');
    b.down = true;
    Server c = server('c');
    c.max_conns = 1;
    auto g = group({server('a'), b, c});
    Peer p1 = acquire(*g);
    Peer p2 = acquire(*g);
    Peer p3 = acquire(*g);
    EXPECT_EQ(std::string() + name(p1) + name(p2) + name(p3), "aca");
}

TEST(LeastConnTest, Directive) {
    support::TempDir dir;
    core::ModuleRegistry registry(core::compiled_modules());
    if (registry.find("http_upstream") == nullptr) {
        GTEST_SKIP() << "upstream blocks need the http_upstream module";
    }
    std::unique_ptr<core::Cycle> cycle;
    core::Status s =
        support::load_cycle(registry, dir,
                            "http {\n upstream app {\n  least_conn;\n  server 127.0.0.1:1;\n"
                            "  server 127.0.0.1:2 backup;\n }\n}\n",
                            cycle, nullptr, {}, true);
    ASSERT_TRUE(s.is_ok()) << s.message();
    EXPECT_EQ(upstream::find_group(*cycle, "app")->balancer().name, "least_conn");
    s = support::load_cycle(registry, dir,
                            "http {\n upstream app {\n  least_conn;\n  server 127.0.0.1:1;\n"
                            "  least_conn;\n }\n}\n",
                            cycle, nullptr, {}, true);
    EXPECT_EQ(s.message(), "load balancing method redefined in " + dir.file("halo.conf") + ":5");
    s = support::load_cycle(registry, dir,
                            "http {\n upstream app {\n  least_conn x;\n  server 127.0.0.1:1;\n"
                            " }\n}\n",
                            cycle, nullptr, {}, true);
    EXPECT_EQ(s.message(), "invalid number of arguments in \"least_conn\" directive in " +
                               dir.file("halo.conf") + ":3");
    s = support::load_cycle(registry, dir, "http {\n least_conn;\n}\n", cycle, nullptr, {}, true);
    EXPECT_EQ(s.message(),
              "\"least_conn\" directive is not allowed here in " + dir.file("halo.conf") + ":2");
}

}  // namespace
}  // namespace mod::upstream_least_conn
