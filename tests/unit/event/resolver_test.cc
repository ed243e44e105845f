// ev::Resolver against the test DNS server (tests/support/dns_server.h) on a loopback UDP
// port: answers, the cache (TTL, valid=), ipv6=off, failures and resolver_timeout. And the
// message codec on its own.
#include "event/resolver.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "support/dns_server.h"
#include "support/event_wait.h"

namespace ev {
namespace {

using namespace std::chrono_literals;
using halo_test::DnsServer;
using halo_test::run_until;

std::shared_ptr<ResolverSpec> spec_for(const DnsServer& dns) {
    auto s = std::make_shared<ResolverSpec>();
    s->servers.push_back(*core::SockAddr::parse(dns.address(), 53));
    return s;
}

/// Resolves `name` on `r`, running `loop` until the answer (or the cache) gives it.
ResolveResult lookup(Loop& loop, Resolver& r, const std::string& name) {
    ResolveResult out;
    if (r.cached(name, out)) {
        return out;
    }
    std::optional<ResolveResult> got;
    auto q = r.resolve(name, [&](const ResolveResult& res) { got = res; });
    EXPECT_TRUE(run_until(loop, [&] { return got.has_value(); }));
    return got.value_or(ResolveResult{-1, {}});
}

std::vector<std::string> texts(const ResolveResult& r) {
    std::vector<std::string> out;
    for (const auto& a : r.addrs) {
        out.push_back(a.host_text());
    }
    return out;
}

TEST(DnsMessageTest, QueryCarriesTheNameAndType) {
    std::string q;
    ASSERT_TRUE(dns::make_query("App.Example.", dns::kTypeAaaa, 0x1234, q));
    EXPECT_EQ(q.substr(0, 2), std::string("\x12\x34", 2));
    EXPECT_NE(q.find(std::string("\x03"
                                 "App\x07"
                                 "Example\x00",
                                 13)),
              std::string::npos);
    EXPECT_EQ(static_cast<uint8_t>(q[q.size() - 3]), dns::kTypeAaaa);
    EXPECT_FALSE(dns::make_query("a..b", dns::kTypeA, 1, q));
    EXPECT_FALSE(dns::make_query(std::string(64, 'x') + ".test", dns::kTypeA, 1, q));
}

TEST(DnsMessageTest, RejectsTruncatedResponses) {
    std::string q;
    ASSERT_TRUE(dns::make_query("a.test", dns::kTypeA, 7, q));
    dns::Answer a;
    EXPECT_FALSE(dns::parse_response(q, a));  // a query, not a response
    EXPECT_FALSE(dns::parse_response(q.substr(0, 11), a));
}

TEST(ResolverTest, AnswersBothFamiliesInOrder) {
    DnsServer dns;
    dns.set("app.test", {"127.0.0.2", "127.0.0.3"}, {"::1"});
    Loop loop;
    Resolver r(loop, spec_for(dns));
    ResolveResult res = lookup(loop, r, "APP.test");
    EXPECT_EQ(res.code, kResolveOk);
    EXPECT_EQ(texts(res), (std::vector<std::string>{"127.0.0.2", "127.0.0.3", "::1"}));
}

TEST(ResolverTest, CachesForTheTtl) {
    DnsServer dns;
    dns.set("app.test", {"127.0.0.2"}, {}, 300);
    Loop loop;
    Resolver r(loop, spec_for(dns));
    lookup(loop, r, "app.test");
    ResolveResult again;
    EXPECT_TRUE(r.cached("app.test", again));
    EXPECT_EQ(texts(again), std::vector<std::string>{"127.0.0.2"});
    EXPECT_EQ(dns.queries("app.test", dns::kTypeA), 1);
}

TEST(ResolverTest, ZeroTtlIsNotCached) {
    DnsServer dns;
    dns.set("app.test", {"127.0.0.2"}, {}, 0);
    Loop loop;
    Resolver r(loop, spec_for(dns));
    lookup(loop, r, "app.test");
    ResolveResult again;
    EXPECT_FALSE(r.cached("app.test", again));
    dns.set("app.test", {"127.0.0.4"}, {}, 0);
    EXPECT_EQ(texts(lookup(loop, r, "app.test")), std::vector<std::string>{"127.0.0.4"});
    EXPECT_EQ(dns.queries("app.test", dns::kTypeA), 2);
}

TEST(ResolverTest, ValidOverridesTheTtl) {
    DnsServer dns;
    dns.set("app.test", {"127.0.0.2"}, {}, 0);
    auto spec = spec_for(dns);
    spec->valid = Duration(300000);
    Loop loop;
    Resolver r(loop, spec);
    lookup(loop, r, "app.test");
    ResolveResult again;
    EXPECT_TRUE(r.cached("app.test", again));
}

TEST(ResolverTest, Ipv6OffAsksOnlyForA) {
    DnsServer dns;
    dns.set("app.test", {"127.0.0.2"}, {"::1"});
    auto spec = spec_for(dns);
    spec->ipv6 = false;
    Loop loop;
    Resolver r(loop, spec);
    EXPECT_EQ(texts(lookup(loop, r, "app.test")), std::vector<std::string>{"127.0.0.2"});
    EXPECT_EQ(dns.queries("app.test", dns::kTypeAaaa), 0);
}

TEST(ResolverTest, UnknownNameIsHostNotFound) {
    DnsServer dns;
    Loop loop;
    Resolver r(loop, spec_for(dns));
    ResolveResult res = lookup(loop, r, "nowhere.test");
    EXPECT_EQ(res.code, kResolveNxDomain);
    EXPECT_EQ(res.error(), "3: Host not found");
}

TEST(ResolverTest, ServerFailureIsReported) {
    DnsServer dns;
    dns.set_rcode("bad.test", 2);
    Loop loop;
    Resolver r(loop, spec_for(dns));
    EXPECT_EQ(lookup(loop, r, "bad.test").error(), "2: Server failure");
}

TEST(ResolverTest, NoAnswerTimesOut) {
    DnsServer dns;
    dns.set_silent("slow.test");
    auto spec = spec_for(dns);
    spec->timeout = Duration(200);
    Loop loop;
    Resolver r(loop, spec);
    ResolveResult res = lookup(loop, r, "slow.test");
    EXPECT_EQ(res.error(), "110: Operation timed out");
    ResolveResult again;
    EXPECT_FALSE(r.cached("slow.test", again));  // a timeout is not remembered
}

TEST(ResolverTest, LookupsOfOneNameShareAQuestion) {
    DnsServer dns;
    dns.set("app.test", {"127.0.0.2"});
    Loop loop;
    Resolver r(loop, spec_for(dns));
    int answers = 0;
    auto a = r.resolve("app.test", [&](const ResolveResult&) { answers++; });
    auto b = r.resolve("app.test", [&](const ResolveResult&) { answers++; });
    auto c = r.resolve("app.test", [&](const ResolveResult&) { answers += 100; });
    c.reset();  // cancelled: its callback never runs
    ASSERT_TRUE(run_until(loop, [&] { return answers >= 2; }));
    loop.run_once(Duration(20));
    EXPECT_EQ(answers, 2);
    EXPECT_EQ(dns.queries("app.test", dns::kTypeA), 1);
}

TEST(ResolverTest, IpLiteralNeedsNoQuestion) {
    DnsServer dns;
    Loop loop;
    Resolver r(loop, spec_for(dns));
    ResolveResult res;
    ASSERT_TRUE(r.cached("127.0.0.9", res));
    EXPECT_EQ(texts(res), std::vector<std::string>{"127.0.0.9"});
}

}  // namespace
}  // namespace ev
