// Upstream groups at run time, without a config: exact pick sequences of smooth weighted round
// robin, passive health (max_fails / fail_timeout, one trial after the timeout), backups,
// max_conns, tried peers, persistence with an injected clock, counters.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/clock.h"
#include "upstream/upstream.h"

namespace upstream {
namespace {

using namespace std::chrono_literals;

constexpr int64_t kStart = 1'000'000;  // a steady-clock time far from 0

/// Server `letter` at 10.0.0.<n>:80, named by its letter.
Server server(char letter, int weight = 1) {
    Server s;
    s.name = std::string(1, letter);
    s.addr = *core::SockAddr::from_ip("10.0.0." + std::to_string(letter - 'a' + 1), 80);
    s.weight = weight;
    return s;
}

Server backup(char letter) {
    Server s = server(letter);
    s.backup = true;
    return s;
}

std::unique_ptr<Group> group(std::vector<Server> servers,
                             std::optional<Millis> persistence = std::nullopt) {
    std::string error;
    auto g = Group::make("g", std::move(servers), nullptr, nullptr, persistence, &error);
    EXPECT_NE(g, nullptr) << error;
    return g;
}

core::SockAddr client(const std::string& ip) {
    return *core::SockAddr::from_ip(ip, 40000);
}

/// One request: a fresh context, the peer's letter ('-' when none).
char pick(const Group& g, int64_t now = kStart, Outcome outcome = Outcome::kOk,
          const core::SockAddr& from = client("192.0.2.1")) {
    PickContext ctx;
    ctx.now_ms = now;
    ctx.client = from;
    Peer p = g.acquire(ctx);
    if (p.index < 0) {
        return '-';
    }
    g.release(p, outcome, 5ms, now);
    return p.server->name[0];
}

/// `n` requests that succeed at once.
std::string picks(const Group& g, int n, int64_t now = kStart) {
    std::string out;
    for (int i = 0; i < n; i++) {
        out += pick(g, now);
    }
    return out;
}

int index_of(const Group& g, char letter) {
    for (size_t i = 0; i < g.servers().size(); i++) {
        if (g.servers()[i].name[0] == letter) {
            return static_cast<int>(i);
        }
    }
    return -1;
}

// ---- smooth weighted round robin ----

TEST(UpstreamRrTest, SmoothWeightedSequence) {
    auto g = group({server('a', 5), server('b'), server('c')});
    EXPECT_EQ(picks(*g, 7), "aabacaa");
    EXPECT_EQ(picks(*g, 14), "aabacaaaabacaa");
}

TEST(UpstreamRrTest, EqualWeightsArePlainRoundRobin) {
    auto g = group({server('a'), server('b'), server('c')});
    EXPECT_EQ(picks(*g, 9), "abcabcabc");
}

TEST(UpstreamRrTest, ThreeTwo) {
    auto g = group({server('a', 3), server('b', 2)});
    EXPECT_EQ(picks(*g, 10), "ababaababa");
}

TEST(UpstreamRrTest, WeightsSpreadProportionally) {
    auto g = group({server('a', 4), server('b', 3), server('c', 2), server('d', 1)});
    std::string s = picks(*g, 100);
    EXPECT_EQ(std::count(s.begin(), s.end(), 'a'), 40);
    EXPECT_EQ(std::count(s.begin(), s.end(), 'b'), 30);
    EXPECT_EQ(std::count(s.begin(), s.end(), 'c'), 20);
    EXPECT_EQ(std::count(s.begin(), s.end(), 'd'), 10);
    EXPECT_EQ(s.substr(0, 10), "abcabdacba");
}

TEST(UpstreamRrTest, InFlightRequestsDoNotChangeTheSequence) {
    auto g = group({server('a', 5), server('b'), server('c')});
    std::string s;
    std::vector<Peer> held;
    for (int i = 0; i < 7; i++) {
        PickContext ctx;
        ctx.now_ms = kStart;
        held.push_back(g->acquire(ctx));
        s += held.back().server->name[0];
    }
    EXPECT_EQ(s, "aabacaa");
    EXPECT_EQ(g->peers()[index_of(*g, 'a')].conns, 5u);
    for (const Peer& p : held) {
        g->release(p, Outcome::kOk, 1ms, kStart);
    }
    EXPECT_EQ(g->peers()[index_of(*g, 'a')].conns, 0u);
}

TEST(UpstreamRrTest, DownServersAreSkipped) {
    Server b = server('b');
    b.down = true;
    auto g = group({server('a'), b, server('c')});
    EXPECT_EQ(picks(*g, 6), "acacac");
}

TEST(UpstreamRrTest, HealthDownServersAreSkipped) {
    auto g = group({server('a'), server('b'), server('c')});
    g->peers()[index_of(*g, 'a')].health_down = 1;
    EXPECT_EQ(picks(*g, 4), "bcbc");
    g->peers()[index_of(*g, 'a')].health_down = 0;
    EXPECT_EQ(picks(*g, 3).find('a') != std::string::npos, true);
}

// ---- passive health ----

TEST(UpstreamHealthTest, MaxFailsWithinFailTimeoutDisables) {
    Server a = server('a');
    a.max_fails = 2;
    a.fail_timeout = 10s;
    auto g = group({a, server('b')});
    EXPECT_EQ(pick(*g, kStart, Outcome::kFailed), 'a');
    EXPECT_EQ(pick(*g, kStart), 'b');
    EXPECT_EQ(pick(*g, kStart + 1, Outcome::kFailed), 'a');  // the second failure
    EXPECT_EQ(g->peers()[0].fails, 2u);
    EXPECT_EQ(picks(*g, 6, kStart + 5000), "bbbbbb");
    EXPECT_EQ(picks(*g, 4, kStart + 10001), "bbbb");  // 10 s after the last failure
    // After fail_timeout one request tries it (when the rotation comes to it); the others keep
    // going elsewhere until it answers.
    EXPECT_EQ(pick(*g, kStart + 10002), 'b');
    PickContext trial;
    trial.now_ms = kStart + 10002;
    Peer t = g->acquire(trial);
    ASSERT_EQ(t.server->name, "a");
    EXPECT_EQ(picks(*g, 3, kStart + 10003), "bbb");
    g->release(t, Outcome::kOk, 1ms, kStart + 10004);
    EXPECT_EQ(g->peers()[0].fails, 0u);
    EXPECT_EQ(picks(*g, 4, kStart + 10005), "baba");
}

TEST(UpstreamHealthTest, FailedTrialWaitsAnotherTimeout) {
    Server a = server('a');
    a.fail_timeout = 10s;
    auto g = group({a, server('b')});
    EXPECT_EQ(pick(*g, kStart, Outcome::kFailed), 'a');
    // a's effective weight, cut to 0 by the failure, grows back one per round: b twice first.
    EXPECT_EQ(picks(*g, 2, kStart + 10001), "bb");
    EXPECT_EQ(pick(*g, kStart + 10001, Outcome::kFailed), 'a');  // the trial fails
    EXPECT_EQ(picks(*g, 3, kStart + 15000), "bbb");
    EXPECT_EQ(picks(*g, 3, kStart + 20002), "bba");  // the next trial, which answers
    EXPECT_EQ(g->peers()[0].fails, 0u);
}

TEST(UpstreamHealthTest, FailuresOutsideTheWindowDoNotAddUp) {
    Server a = server('a');
    a.max_fails = 2;
    a.fail_timeout = 10s;
    auto g = group({a, server('b')});
    EXPECT_EQ(pick(*g, kStart, Outcome::kFailed), 'a');
    // 20 s later a success starts a new window: the old failure is forgotten.
    EXPECT_EQ(picks(*g, 2, kStart + 20000), "ba");
    EXPECT_EQ(g->peers()[0].fails, 0u);
    EXPECT_EQ(pick(*g, kStart + 20001), 'b');
    EXPECT_EQ(pick(*g, kStart + 20002, Outcome::kFailed), 'a');
    EXPECT_EQ(picks(*g, 2, kStart + 20003), "ba");  // one failure of two: still usable
}

TEST(UpstreamHealthTest, ZeroMaxFailsNeverDisables) {
    Server a = server('a');
    a.max_fails = 0;
    auto g = group({a, server('b')});
    for (int i = 0; i < 5; i++) {
        EXPECT_EQ(pick(*g, kStart + i, Outcome::kFailed), 'a');
        EXPECT_EQ(pick(*g, kStart + i), 'b');
    }
    EXPECT_EQ(g->peers()[0].fails, 5u);
    EXPECT_EQ(g->peers()[0].effective_weight, 1);  // no penalty without max_fails
}

TEST(UpstreamHealthTest, FailureLowersEffectiveWeightThenItRecovers) {
    Server a = server('a', 5);
    a.max_fails = 5;
    auto g = group({a, server('b')});
    PeerState& pa = g->peers()[0];
    EXPECT_EQ(pick(*g, kStart, Outcome::kFailed), 'a');
    EXPECT_EQ(pa.effective_weight, 4);  // weight / max_fails taken off
    picks(*g, 1);
    EXPECT_EQ(pa.effective_weight, 5);  // +1 per selection round, up to the weight
    EXPECT_EQ(pick(*g, kStart + 1, Outcome::kFailed), 'a');
    EXPECT_EQ(pa.effective_weight, 4);
    picks(*g, 5);
    EXPECT_EQ(pa.effective_weight, 5);
    Server c = server('c', 2);  // max_fails 1: the whole weight at once, never below 0
    auto g2 = group({c, server('d')});
    EXPECT_EQ(pick(*g2, kStart, Outcome::kFailed), 'c');
    EXPECT_EQ(g2->peers()[0].effective_weight, 0);
}

TEST(UpstreamHealthTest, SingleServerIsNeverDisabled) {
    auto g = group({server('a')});
    for (int i = 0; i < 5; i++) {
        EXPECT_EQ(pick(*g, kStart, Outcome::kFailed), 'a');
    }
    EXPECT_EQ(g->peers()[0].fails, 0u);
    EXPECT_EQ(g->peers()[0].failures, 5u);
}

TEST(UpstreamHealthTest, AbortedIsNeitherSuccessNorFailure) {
    auto g = group({server('a'), server('b')});
    EXPECT_EQ(pick(*g, kStart, Outcome::kAborted), 'a');
    EXPECT_EQ(g->peers()[0].fails, 0u);
    EXPECT_EQ(g->peers()[0].failures, 0u);
    EXPECT_EQ(g->peers()[0].conns, 0u);
    EXPECT_EQ(g->peers()[0].response_ms_total, 0u);
}

// ---- backups ----

TEST(UpstreamBackupTest, BackupsOnlyWhenNoPrimaryIsUsable) {
    auto g = group({backup('c'), server('a'), server('b'), backup('d')});
    ASSERT_EQ(g->primary_count(), 2u);
    EXPECT_EQ(g->servers()[0].name, "a");
    EXPECT_EQ(g->servers()[2].name, "c");
    EXPECT_EQ(picks(*g, 4), "abab");
    EXPECT_EQ(pick(*g, kStart, Outcome::kFailed), 'a');
    EXPECT_EQ(pick(*g, kStart, Outcome::kFailed), 'b');
    EXPECT_EQ(picks(*g, 4, kStart + 1), "cdcd");
    // The primaries are tried again (b first: a's weight, cut by its failure, grows back).
    EXPECT_EQ(picks(*g, 4, kStart + 10001), "bbab");
}

TEST(UpstreamBackupTest, NothingUsableResetsFailures) {
    auto g = group({server('a'), server('b'), backup('c')});
    EXPECT_EQ(pick(*g, kStart, Outcome::kFailed), 'a');
    EXPECT_EQ(pick(*g, kStart, Outcome::kFailed), 'b');
    EXPECT_EQ(pick(*g, kStart, Outcome::kFailed), 'c');
    EXPECT_EQ(pick(*g, kStart + 1), '-');  // no live upstreams
    for (size_t i = 0; i < 3; i++) {
        EXPECT_EQ(g->peers()[i].fails, 0u) << i;  // marked live for a quick recovery
    }
    EXPECT_EQ(picks(*g, 5, kStart + 2), "bbaba");  // the weights cut by failures grow back
}

TEST(UpstreamBackupTest, AllDownGivesNone) {
    Server a = server('a');
    a.down = true;
    Server b = backup('b');
    b.down = true;
    auto g = group({a, b});
    EXPECT_EQ(pick(*g), '-');
}

TEST(UpstreamBackupTest, OnlyBackupsIsAnError) {
    std::string error;
    EXPECT_EQ(Group::make("x", {backup('a')}, nullptr, nullptr, std::nullopt, &error), nullptr);
    EXPECT_EQ(error, "no servers in upstream \"x\"");
}

// ---- max_conns and tried peers ----

TEST(UpstreamLimitsTest, MaxConns) {
    Server a = server('a');
    a.max_conns = 2;
    auto g = group({a, server('b')});
    std::vector<Peer> held;
    std::string s;
    for (int i = 0; i < 6; i++) {
        PickContext ctx;
        ctx.now_ms = kStart;
        held.push_back(g->acquire(ctx));
        s += held.back().server->name[0];
    }
    EXPECT_EQ(s, "ababbb");
    g->release(held[0], Outcome::kOk, 1ms, kStart);
    EXPECT_EQ(picks(*g, 2), "ba");  // a has room again
    Server c = server('c');
    c.max_conns = 1;
    auto one = group({c});
    PickContext ctx;
    ctx.now_ms = kStart;
    Peer p = one->acquire(ctx);
    EXPECT_EQ(pick(*one), '-');  // at its limit, even alone
    one->release(p, Outcome::kOk, 1ms, kStart);
    EXPECT_EQ(pick(*one), 'c');
}

TEST(UpstreamLimitsTest, RetriesGoToPeersNotTriedYet) {
    auto g = group({server('a'), server('b'), server('c')});
    PickContext ctx;
    ctx.now_ms = kStart;
    std::string s;
    for (;;) {
        Peer p = g->acquire(ctx);
        if (p.index < 0) {
            break;
        }
        s += p.server->name[0];
        g->release(p, Outcome::kFailed, 1ms, kStart);
    }
    EXPECT_EQ(s, "abc");
    EXPECT_EQ(ctx.tried, std::vector<bool>({true, true, true}));
}

TEST(UpstreamLimitsTest, Counters) {
    auto g = group({server('a'), server('b')});
    PickContext ctx;
    ctx.now_ms = kStart;
    Peer p = g->acquire(ctx);
    g->release(p, Outcome::kOk, 40ms, kStart);
    p = g->acquire(ctx);
    g->release(p, Outcome::kFailed, 7ms, kStart);
    EXPECT_EQ(g->peers()[0].requests, 1u);
    EXPECT_EQ(g->peers()[0].response_ms_total, 40u);
    EXPECT_EQ(g->peers()[1].requests, 1u);
    EXPECT_EQ(g->peers()[1].failures, 1u);
    EXPECT_EQ(g->peers()[1].response_ms_total, 0u);
}

// ---- persistence ----

TEST(UpstreamPersistenceTest, ClientKeepsItsServerWhileActive) {
    auto g = group({server('a'), server('b'), server('c')}, 50s);
    core::SockAddr x = client("192.0.2.7");
    core::SockAddr y = client("192.0.2.8");
    EXPECT_EQ(pick(*g, kStart, Outcome::kOk, x), 'a');
    EXPECT_EQ(pick(*g, kStart + 1, Outcome::kOk, y), 'b');
    for (int i = 0; i < 5; i++) {
        // Within 50 s of its last request: the same server, whatever the rotation says.
        EXPECT_EQ(pick(*g, kStart + 40000 * (i + 1), Outcome::kOk, x), 'a') << i;
    }
    // The port does not matter: the address is the client.
    EXPECT_EQ(pick(*g, kStart + 200001, Outcome::kOk, *core::SockAddr::from_ip("192.0.2.7", 1)),
              'a');
    // y was idle for more than 50 s: balanced again (the rotation goes on from where it was).
    EXPECT_EQ(pick(*g, kStart + 200002, Outcome::kOk, y), 'c');
}

TEST(UpstreamPersistenceTest, ExpiresAfterTheTimeout) {
    auto g = group({server('a'), server('b')}, 10s);
    core::SockAddr x = client("2001:db8::1");
    EXPECT_EQ(pick(*g, kStart, Outcome::kOk, x), 'a');
    EXPECT_EQ(pick(*g, kStart + 10000, Outcome::kOk, x), 'a');  // exactly the timeout: kept
    EXPECT_EQ(pick(*g, kStart + 20001, Outcome::kOk, x), 'b');  // idle longer: rebalanced
    EXPECT_EQ(pick(*g, kStart + 20002, Outcome::kOk, x), 'b');  // and kept there
}

TEST(UpstreamPersistenceTest, UnusableServerRebalancesTheClient) {
    auto g = group({server('a'), server('b')}, 50s);
    core::SockAddr x = client("192.0.2.7");
    EXPECT_EQ(pick(*g, kStart, Outcome::kOk, x), 'a');
    EXPECT_EQ(pick(*g, kStart + 1, Outcome::kFailed, x), 'a');  // now failed
    EXPECT_EQ(pick(*g, kStart + 2, Outcome::kOk, x), 'b');
    EXPECT_EQ(pick(*g, kStart + 20000, Outcome::kOk, x), 'b');  // a usable again: x stays on b
    // A retry after a failure goes to another server and the client moves with it.
    PickContext ctx;
    ctx.now_ms = kStart + 20001;
    ctx.client = x;
    Peer p = g->acquire(ctx);
    EXPECT_EQ(p.server->name, "b");
    g->release(p, Outcome::kFailed, 1ms, ctx.now_ms);
    p = g->acquire(ctx);
    EXPECT_EQ(p.server->name, "a");
    g->release(p, Outcome::kOk, 1ms, ctx.now_ms);
    EXPECT_EQ(pick(*g, kStart + 20002, Outcome::kOk, x), 'a');
}

TEST(UpstreamPersistenceTest, ManyClientsAreRemembered) {
    auto g = group({server('a'), server('b'), server('c')}, 60s);
    std::vector<char> first;
    for (int i = 0; i < 1000; i++) {
        core::SockAddr c =
            client("10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250));
        first.push_back(pick(*g, kStart + i, Outcome::kOk, c));
    }
    int kept = 0;
    for (int i = 0; i < 1000; i++) {
        core::SockAddr c =
            client("10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250));
        kept += pick(*g, kStart + 2000 + i, Outcome::kOk, c) == first[static_cast<size_t>(i)];
    }
    EXPECT_EQ(kept, 1000);
}

TEST(UpstreamPersistenceTest, BackupClientsReturnToPrimaries) {
    auto g = group({server('a'), backup('b')}, 50s);
    core::SockAddr x = client("192.0.2.7");
    EXPECT_EQ(pick(*g, kStart, Outcome::kFailed, x), 'a');
    EXPECT_EQ(pick(*g, kStart + 1, Outcome::kOk, x), 'b');
    EXPECT_EQ(pick(*g, kStart + 10001, Outcome::kOk, x), 'a');  // primaries first, always
}

// ---- this worker's load, for the adaptive keepalive pool ----

TEST(UpstreamLoadTest, PeakOfBusyAttemptsDecaysAfterTwoWindows) {
    auto g = group({server('a')});
    g->set_keepalive(4);
    g->set_keepalive_max(64);
    g->set_keepalive_timeout(10s);  // the window
    std::vector<Peer> held;
    for (int i = 0; i < 20; i++) {
        PickContext ctx;
        ctx.now_ms = kStart;
        held.push_back(g->acquire(ctx));
    }
    EXPECT_EQ(g->local_busy(), 20);
    EXPECT_EQ(g->local_peak(kStart), 20);
    EXPECT_EQ(g->idle_cap(kStart), 4u);  // all busy: the floor
    for (int i = 0; i < 15; i++) {
        g->release(held[static_cast<size_t>(i)], Outcome::kOk, 1ms, kStart + 1);
    }
    EXPECT_EQ(g->local_busy(), 5);
    EXPECT_EQ(g->idle_cap(kStart + 1), 15u);  // busy + idle within the peak
    for (size_t i = 15; i < held.size(); i++) {
        g->release(held[i], Outcome::kOk, 1ms, kStart + 1);
    }
    EXPECT_EQ(g->idle_cap(kStart + 2), 20u);
    // The next window still remembers the peak; the one after forgets it.
    EXPECT_EQ(g->local_peak(kStart + 10'000), 20);
    EXPECT_EQ(g->idle_cap(kStart + 19'999), 20u);
    EXPECT_EQ(g->local_peak(kStart + 20'000), 0);
    EXPECT_EQ(g->idle_cap(kStart + 20'000), 4u);
}

TEST(UpstreamLoadTest, FixedKeepaliveIgnoresTheLoad) {
    auto g = group({server('a')});
    g->set_keepalive(4);
    PickContext ctx;
    ctx.now_ms = kStart;
    Peer p = g->acquire(ctx);
    EXPECT_EQ(g->idle_cap(kStart), 4u);
    g->release(p, Outcome::kOk, 1ms, kStart);
    EXPECT_EQ(g->local_busy(), 0);
}

TEST(UpstreamLoadTest, ARequestWithoutATimeIsPickedAtTheSteadyClock) {
    // The proxy leaves now_ms 0: acquire() reads the clock, so that fail_timeout ends.
    Server a = server('a');
    a.max_fails = 1;
    a.fail_timeout = 1s;
    auto g = group({a, server('b')});
    int64_t now = core::steady_ms();
    PickContext first;
    Peer p = g->acquire(first);
    ASSERT_EQ(p.server->name, "a");
    g->release(p, Outcome::kFailed, 1ms, now - 5000);  // failed 5 s ago: usable again
    std::string seen;
    for (int i = 0; i < 6; i++) {
        PickContext c;
        Peer q = g->acquire(c);
        seen += q.server->name;
        g->release(q, Outcome::kOk, 1ms, core::steady_ms());
    }
    // Back in the rotation, its weight climbing again (with now_ms taken as 0, `a` stayed out
    // until every server had failed).
    EXPECT_NE(seen.find('a'), std::string::npos) << seen;
}

}  // namespace
}  // namespace upstream
