// The http_upstream module's directives: upstream blocks, server parameters and their errors
// (file:line), implicit groups of proxy_pass-like directives, shared zones, the carry-over of
// peer state across a reload, and state shared between processes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "core/clock.h"
#include "core/cycle.h"
#include "support/test_modules.h"
#include "upstream/upstream.h"

namespace upstream {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

// A stand-in for the proxy module: `test_pass host[:port];` in a location asks for the
// implicit group of the address, as proxy_pass will.
std::vector<const Group*> g_passed;

core::Status set_test_pass(core::ConfContext& cf) {
    const Group* g = nullptr;
    HALO_TRY(implicit_group(cf, cf.arg(0), g));
    g_passed.push_back(g);
    return core::Status::ok();
}

constexpr core::Directive kTestDirectives[] = {
    {"test_pass", core::kCtxLocation, core::kArgs1, core::setter_noconf<&set_test_pass>()},
};

const core::Module kTestPassModule{
    .name = "test_pass",
    .type = core::ModuleType::kHttp,
    .directives = kTestDirectives,
    .confs = {},
};

std::vector<const core::Module*> modules_with_test_pass() {
    std::vector<const core::Module*> v(core::compiled_modules().begin(),
                                       core::compiled_modules().end());
    v.push_back(&kTestPassModule);
    return v;
}

class UpstreamConfigTest : public ::testing::Test {
  protected:
    UpstreamConfigTest() : modules_(modules_with_test_pass()), registry_(modules_) {
        g_passed.clear();
    }

    /// `body` inside `http { }`; `test_only`: no shared memory (halo -t).
    core::Status load(std::string_view body, bool test_only = true) {
        cycle_.reset();
        return support::load_cycle(registry_, dir_, "http {\n" + std::string(body) + "}\n", cycle_,
                                   nullptr, {}, test_only);
    }
    std::string error(std::string_view body) {
        core::Status s = load(body);
        EXPECT_FALSE(s.is_ok()) << "loaded: " << body;
        return s.message();
    }
    std::string at(int line) const {
        return " in " + dir_.file("halo.conf") + ":" + std::to_string(line);
    }
    const Group* group(std::string_view name) { return find_group(*cycle_, name); }

    support::TempDir dir_;
    std::vector<const core::Module*> modules_;
    core::ModuleRegistry registry_;
    std::unique_ptr<core::Cycle> cycle_;
};

// ---- accepted forms ----

TEST_F(UpstreamConfigTest, FullBlock) {
    core::Status s = load(
        "upstream app {\n"
        "  server 127.0.0.1:8081 weight=5 max_fails=3 fail_timeout=30s max_conns=100;\n"
        "  server 127.0.0.1:8082 backup;\n"
        "  server 127.0.0.1 down;\n"
        "  server [::1]:8084;\n"
        "  keepalive 32;\n"
        "  keepalive_timeout 5s;\n"
        "  keepalive_requests 50;\n"
        "  persistence_timeout 50s;\n"
        "}\n");
    ASSERT_TRUE(s.is_ok()) << s.message();
    const Group* g = group("app");
    ASSERT_NE(g, nullptr);
    EXPECT_EQ(g, group("APP"));  // names are case-insensitive, as nginx's
    EXPECT_EQ(group("other"), nullptr);
    ASSERT_EQ(g->servers().size(), 4u);
    ASSERT_EQ(g->primary_count(), 3u);
    const Server& a = g->servers()[0];
    EXPECT_EQ(a.name, "127.0.0.1:8081");
    EXPECT_EQ(a.addr.text(), "127.0.0.1:8081");
    EXPECT_EQ(a.weight, 5);
    EXPECT_EQ(a.max_fails, 3);
    EXPECT_EQ(a.fail_timeout, 30s);
    EXPECT_EQ(a.max_conns, 100);
    EXPECT_FALSE(a.backup);
    EXPECT_EQ(g->servers()[1].addr.text(), "127.0.0.1:80");  // port 80 by default
    EXPECT_TRUE(g->servers()[1].down);
    EXPECT_EQ(g->servers()[1].weight, 1);
    EXPECT_EQ(g->servers()[1].max_fails, 1);
    EXPECT_EQ(g->servers()[1].fail_timeout, 10s);
    EXPECT_EQ(g->servers()[2].addr.text(), "[::1]:8084");
    EXPECT_TRUE(g->servers()[3].backup);  // backups after the primaries
    EXPECT_EQ(g->keepalive(), 32);
    EXPECT_EQ(g->keepalive_timeout(), 5s);
    EXPECT_EQ(g->keepalive_requests(), 50);
    EXPECT_EQ(g->persistence_timeout(), std::optional<Millis>(50s));
    EXPECT_EQ(g->balancer().name, "round_robin");
    EXPECT_NE(g->peers(), nullptr);  // -t: the state is in process memory
}

TEST_F(UpstreamConfigTest, Defaults) {
    ASSERT_TRUE(load("upstream app { server 127.0.0.1:1; }\n").is_ok());
    const Group* g = group("app");
    EXPECT_EQ(g->keepalive(), 0);
    EXPECT_EQ(g->keepalive_timeout(), 60s);
    EXPECT_EQ(g->keepalive_requests(), 1000);
    EXPECT_EQ(g->persistence_timeout(), std::nullopt);
}

TEST_F(UpstreamConfigTest, KeepaliveAdaptive) {
    // nginx's form: a fixed cap, no adaptive pool.
    ASSERT_TRUE(load("upstream app { server 127.0.0.1:1; keepalive 16; }\n").is_ok());
    EXPECT_EQ(group("app")->keepalive(), 16);
    EXPECT_EQ(group("app")->keepalive_max(), 0);
    EXPECT_EQ(group("app")->idle_cap(1000000), 16u);
    // halo's: the floor, and the cap (1024 by default, never below the floor).
    ASSERT_TRUE(load("upstream app { server 127.0.0.1:1; keepalive 16 adaptive; }\n").is_ok());
    EXPECT_EQ(group("app")->keepalive(), 16);
    EXPECT_EQ(group("app")->keepalive_max(), 1024);
    ASSERT_TRUE(load("upstream app { server 127.0.0.1:1; keepalive 16 adaptive=4096; }\n").is_ok());
    EXPECT_EQ(group("app")->keepalive_max(), 4096);
    ASSERT_TRUE(load("upstream app { server 127.0.0.1:1; keepalive 2000 adaptive; }\n").is_ok());
    EXPECT_EQ(group("app")->keepalive_max(), 2000);
    ASSERT_TRUE(load("upstream app { server 127.0.0.1:1; keepalive 8 adaptive=8; }\n").is_ok());
    EXPECT_EQ(group("app")->keepalive_max(), 8);
}

TEST_F(UpstreamConfigTest, KeepaliveAdaptiveErrors) {
    EXPECT_EQ(error("upstream app {\n  server 127.0.0.1:1;\n  keepalive 16 adaptive=8;\n}\n"),
              "invalid parameter \"adaptive=8\": the adaptive pool's cap must be a number of "
              "connections not below 16" +
                  at(4));
    EXPECT_EQ(error("upstream app {\n  server 127.0.0.1:1;\n  keepalive 16 adaptive=x;\n}\n"),
              "invalid parameter \"adaptive=x\": the adaptive pool's cap must be a number of "
              "connections not below 16" +
                  at(4));
    EXPECT_EQ(error("upstream app {\n  server 127.0.0.1:1;\n  keepalive 16 max=8;\n}\n"),
              "invalid parameter \"max=8\"" + at(4));
    EXPECT_EQ(error("upstream app {\n  server 127.0.0.1:1;\n  keepalive 0 adaptive;\n}\n"),
              "invalid value \"0\" in \"keepalive\" directive, it must be 1..2147483647" + at(4));
    EXPECT_EQ(error("upstream app {\n  server 127.0.0.1:1;\n  keepalive 1 adaptive 2;\n}\n"),
              "invalid number of arguments in \"keepalive\" directive" + at(4));
}

TEST_F(UpstreamConfigTest, HostNamesGiveOneServerPerAddress) {
    ASSERT_TRUE(load("upstream app { server localhost:8080 weight=2; }\n").is_ok());
    const Group* g = group("app");
    ASSERT_GE(g->servers().size(), 1u);
    for (const Server& s : g->servers()) {
        EXPECT_EQ(s.name, "localhost:8080");
        EXPECT_EQ(s.addr.port(), 8080);
        EXPECT_EQ(s.weight, 2);
    }
}

TEST_F(UpstreamConfigTest, ImplicitGroups) {
    core::Status s = load(
        "upstream app { server 127.0.0.1:1; }\n"
        "server {\n"
        "  location /a { test_pass 127.0.0.1:8080; }\n"
        "  location /b { test_pass 127.0.0.1:8080; }\n"
        "  location /c { test_pass app; }\n"
        "  location /d { test_pass later; }\n"
        "  location /e { test_pass localhost; }\n"
        "}\n"
        "upstream later { server 127.0.0.1:2; server 127.0.0.1:3; }\n");
    ASSERT_TRUE(s.is_ok()) << s.message();
    ASSERT_EQ(g_passed.size(), 5u);
    EXPECT_EQ(g_passed[0], g_passed[1]);  // one group per address
    EXPECT_EQ(g_passed[0], group("127.0.0.1:8080"));
    ASSERT_EQ(g_passed[0]->servers().size(), 1u);
    EXPECT_EQ(g_passed[0]->servers()[0].addr.text(), "127.0.0.1:8080");
    EXPECT_EQ(g_passed[0]->servers()[0].max_fails, 1);
    EXPECT_EQ(g_passed[2], group("app"));    // an upstream block declared before
    EXPECT_EQ(g_passed[3], group("later"));  // and one declared after
    EXPECT_EQ(g_passed[3]->servers().size(), 2u);
    ASSERT_GE(g_passed[4]->servers().size(), 1u);  // resolved at the end, port 80
    EXPECT_EQ(g_passed[4]->servers()[0].addr.port(), 80);
}

TEST_F(UpstreamConfigTest, ImplicitGroupErrors) {
    EXPECT_EQ(error("server {\n location / {\n  test_pass no-such-host.invalid:80;\n }\n}\n"),
              "host not found in upstream \"no-such-host.invalid:80\"" + at(4));
    EXPECT_EQ(error("server {\n location / {\n  test_pass no-such-host.invalid;\n }\n}\n"),
              "host not found in upstream \"no-such-host.invalid\"" + at(4));
    EXPECT_EQ(error("server {\n location / {\n  test_pass 127.0.0.1:0;\n }\n}\n"),
              "invalid port in upstream \"127.0.0.1:0\"" + at(4));
    EXPECT_EQ(error("upstream app { server 127.0.0.1:1; }\n"
                    "server {\n location / {\n  test_pass app:8080;\n }\n}\n"),
              "upstream \"app\" may not have port 8080" + at(5));
    EXPECT_EQ(error("server {\n location / {\n  test_pass app:8080;\n }\n}\n"
                    "upstream app { server 127.0.0.1:1; }\n"),
              "upstream \"app\" may not have port 8080" + at(4));
}

// ---- rejected forms ----

TEST_F(UpstreamConfigTest, ServerParameterErrors) {
    EXPECT_EQ(error("upstream app {\n  server 127.0.0.1:1 wieght=5;\n}\n"),
              "invalid parameter \"wieght=5\"" + at(3));
    for (const char* p : {"weight=0", "weight=x", "weight=", "weight=65536", "max_fails=-1",
                          "fail_timeout=1x", "max_conns=a", "backup=1"}) {
        EXPECT_EQ(error(std::string("upstream app {\n  server 127.0.0.1:1 ") + p + ";\n}\n"),
                  std::string("invalid parameter \"") + p + "\"" + at(3));
    }
    // SRV records (nginx 1.27.3's service=): refused, saying what to use instead.
    EXPECT_EQ(
        error("upstream app {\n  zone app 64k;\n  server app.test service=http resolve;\n}\n"),
        "\"service\" parameter of \"server\" is not supported by halo: SRV records are "
        "not looked up; name the host and port with \"resolve\"" +
            at(4));
    EXPECT_EQ(error("upstream app {\n  server;\n}\n"),
              "invalid number of arguments in \"server\" directive" + at(3));
}

TEST_F(UpstreamConfigTest, AddressErrors) {
    EXPECT_EQ(error("upstream app {\n\n  server no-such-host.invalid:80;\n}\n"),
              "host not found in upstream \"no-such-host.invalid:80\"" + at(4));
    EXPECT_EQ(error("upstream app {\n  server 127.0.0.1:99999;\n}\n"),
              "invalid port in upstream \"127.0.0.1:99999\"" + at(3));
    EXPECT_EQ(error("upstream app {\n  server :80;\n}\n"), "no host in upstream \":80\"" + at(3));
    EXPECT_EQ(error("upstream app {\n  server [::1;\n}\n"),
              "invalid IPv6 address in upstream \"[::1\"" + at(3));
    EXPECT_EQ(error("upstream app {\n  server [::1]80;\n}\n"),
              "invalid host in upstream \"[::1]80\"" + at(3));
    // nginx's words for a unix socket's path.
    EXPECT_EQ(error("upstream app {\n  server unix:;\n}\n"),
              "no path in the unix domain socket in upstream \"unix:\"" + at(3));
    std::string too_long = "unix:/" + std::string(120, 'x');
    EXPECT_EQ(error("upstream app {\n  server " + too_long + ";\n}\n"),
              "too long path in the unix domain socket in upstream \"" + too_long + "\"" + at(3));
}

TEST_F(UpstreamConfigTest, UnixSocketServers) {
    ASSERT_TRUE(load("upstream app {\n  server unix:/run/a.sock weight=2 max_fails=3;\n"
                     "  server UNIX:/run/b.sock backup;\n}\n"
                     "server { location / { test_pass unix:/run/c.sock; } }\n")
                    .is_ok());
    const Group* g = group("app");
    ASSERT_NE(g, nullptr);
    ASSERT_EQ(g->servers().size(), 2u);
    EXPECT_EQ(g->servers()[0].addr.family(), AF_UNIX);
    EXPECT_EQ(g->servers()[0].addr.text(), "unix:/run/a.sock");  // nginx's $upstream_addr
    EXPECT_EQ(g->servers()[0].weight, 2);
    EXPECT_EQ(g->servers()[1].addr.unix_path(), "/run/b.sock");
    EXPECT_TRUE(g->servers()[1].backup);
    ASSERT_EQ(g_passed.size(), 1u);
    EXPECT_EQ(g_passed[0]->name(), "unix:/run/c.sock");
    ASSERT_EQ(g_passed[0]->servers().size(), 1u);
    EXPECT_EQ(g_passed[0]->servers()[0].addr.text(), "unix:/run/c.sock");
}

TEST_F(UpstreamConfigTest, ResolveServers) {
    // Not looked up at load: slots the workers fill (none usable yet).
    ASSERT_TRUE(load("resolver 127.0.0.1:1;\nupstream app {\n  zone app 64k;\n"
                     "  server app.invalid:8080 resolve weight=3;\n"
                     "  server 127.0.0.1:1 resolve;\n}\n")
                    .is_ok());
    const Group* g = group("app");
    ASSERT_NE(g, nullptr);
    ASSERT_EQ(g->servers().size(), Group::kResolveSlots + 1);  // an address stays one server
    EXPECT_TRUE(g->has_resolve());
    auto names = g->resolve_names();
    ASSERT_EQ(names.size(), 1u);
    EXPECT_EQ(names[0].first, "app.invalid");
    EXPECT_EQ(names[0].second, 8080);
    core::SockAddr a;
    size_t usable = 0;
    for (size_t i = 0; i < g->servers().size(); i++) {
        usable += g->peer_address(i, a) ? 1 : 0;
    }
    EXPECT_EQ(usable, 1u);
    // What a worker's resolver found goes into the shared state; the same answer changes
    // nothing; a new one replaces what went.
    auto ip = [](const char* s) { return *core::SockAddr::from_ip(s, 0); };
    EXPECT_TRUE(g->update_resolved("app.invalid", 8080, {ip("10.0.0.1"), ip("10.0.0.2")}));
    EXPECT_FALSE(g->update_resolved("app.invalid", 8080, {ip("10.0.0.2"), ip("10.0.0.1")}));
    std::vector<std::string> seen;
    for (size_t i = 0; i < g->servers().size(); i++) {
        if (g->peer_address(i, a)) {
            seen.push_back(a.text());
        }
    }
    EXPECT_EQ(seen, (std::vector<std::string>{"10.0.0.1:8080", "10.0.0.2:8080", "127.0.0.1:1"}));
    EXPECT_TRUE(g->update_resolved("app.invalid", 8080, {ip("10.0.0.3")}));
    seen.clear();
    for (size_t i = 0; i < g->servers().size(); i++) {
        if (g->peer_address(i, a)) {
            seen.push_back(a.text());
        }
    }
    EXPECT_EQ(seen, (std::vector<std::string>{"10.0.0.3:8080", "127.0.0.1:1"}));
    // Workers share the slots: an answer older than the one in place (another worker's cache
    // still valid) changes nothing, so the workers never take turns between two answers.
    EXPECT_TRUE(g->update_resolved("app.invalid", 8080, {ip("10.0.0.4")}, 2000));
    EXPECT_FALSE(g->update_resolved("app.invalid", 8080, {ip("10.0.0.3")}, 1000));
    EXPECT_TRUE(g->peer_address(0, a));
    EXPECT_EQ(a.text(), "10.0.0.4:8080");
    EXPECT_TRUE(g->update_resolved("app.invalid", 8080, {ip("10.0.0.3")}, 3000));
    PickContext ctx;
    Peer p1 = g->acquire(ctx);
    Peer p2 = g->acquire(ctx);
    ASSERT_GE(p1.index, 0);
    ASSERT_GE(p2.index, 0);
    EXPECT_EQ(p1.server->addr.text() + " " + p2.server->addr.text(), "10.0.0.3:8080 127.0.0.1:1");
    EXPECT_EQ(p1.server->weight, 3);
    g->release(p1, Outcome::kOk, 0ms, 0);
    g->release(p2, Outcome::kOk, 0ms, 0);
}

TEST_F(UpstreamConfigTest, ResolveErrors) {
    EXPECT_EQ(
        error("resolver 127.0.0.1:1;\nupstream app {\n  server app.invalid resolve;\n}\n"),
        "resolving names at run time requires upstream \"app\" to be in shared memory" + at(3));
    EXPECT_EQ(error("upstream app {\n  zone app 64k;\n  server app.invalid resolve;\n}\n"),
              "no resolver defined to resolve names at run time in upstream \"app\"" + at(2));
}

TEST_F(UpstreamConfigTest, BlockErrors) {
    EXPECT_EQ(error("upstream app {\n}\n"), "no servers are inside upstream" + at(2));
    EXPECT_EQ(error("upstream app {\n  keepalive 2;\n}\n"),
              "no servers are inside upstream" + at(2));
    EXPECT_EQ(error("upstream app { server 127.0.0.1:1; }\nupstream app {\n server 127.0.0.1:2; "
                    "}\n"),
              "duplicate upstream \"app\"" + at(3));
    EXPECT_EQ(error("upstream app {\n  server 127.0.0.1:1 backup;\n}\n"),
              "no servers in upstream \"app\"" + at(2));
    EXPECT_EQ(error("server {\n  upstream app { server 127.0.0.1:1; }\n}\n"),
              "\"upstream\" directive is not allowed here" + at(3));
    EXPECT_EQ(error("upstream app;\n"), "directive \"upstream\" has no opening \"{\"" + at(2));
    EXPECT_EQ(error("keepalive 2;\n"), "\"keepalive\" directive is not allowed here" + at(2));
    EXPECT_EQ(error("upstream app {\n  server 127.0.0.1:1;\n  listen 80;\n}\n"),
              "\"listen\" directive is not allowed here" + at(4));
}

TEST_F(UpstreamConfigTest, ValueErrors) {
    EXPECT_EQ(error("upstream app {\n  server 127.0.0.1:1;\n  keepalive 0;\n}\n"),
              "invalid value \"0\" in \"keepalive\" directive, it must be 1..2147483647" + at(4));
    EXPECT_EQ(error("upstream app {\n  server 127.0.0.1:1;\n  keepalive 1;\n  keepalive 2;\n}\n"),
              "\"keepalive\" directive is duplicate" + at(5));
    EXPECT_EQ(error("upstream app {\n  server 127.0.0.1:1;\n  keepalive_timeout x;\n}\n"),
              "invalid value \"x\" in \"keepalive_timeout\" directive, expected a time such as "
              "500ms, 10s, 1m" +
                  at(4));
    EXPECT_EQ(error("upstream app {\n  server 127.0.0.1:1;\n  keepalive_requests 0;\n}\n"),
              "invalid value \"0\" in \"keepalive_requests\" directive, it must be 1..2147483647" +
                  at(4));
    EXPECT_EQ(error("upstream app {\n  server 127.0.0.1:1;\n  persistence_timeout 0;\n}\n"),
              "invalid value \"0\" in \"persistence_timeout\" directive, expected a time such as "
              "50s, 5m" +
                  at(4));
    EXPECT_EQ(error("upstream app {\n  server 127.0.0.1:1;\n  persistence_timeout 5s;\n"
                    "  persistence_timeout 5s;\n}\n"),
              "\"persistence_timeout\" directive is duplicate" + at(5));
}

TEST_F(UpstreamConfigTest, ZoneErrors) {
    EXPECT_EQ(error("upstream app {\n  server 127.0.0.1:1;\n  zone z 1x;\n}\n"),
              "invalid zone size \"1x\"" + at(4));
    EXPECT_EQ(error("upstream app {\n  server 127.0.0.1:1;\n  zone z 8k;\n}\n"),
              "zone \"z\" is too small" + at(4));
    EXPECT_EQ(error("upstream app {\n  server 127.0.0.1:1;\n  zone z 64k;\n  zone y 64k;\n}\n"),
              "\"zone\" directive is duplicate" + at(5));
    EXPECT_EQ(error("upstream app {\n  server 127.0.0.1:1;\n  zone z;\n}\n"),
              "zero size shared memory zone \"z\"" + at(4));
    EXPECT_EQ(error("upstream a {\n  server 127.0.0.1:1;\n  zone z 64k;\n}\n"
                    "upstream b {\n  server 127.0.0.1:1;\n  zone z 128k;\n}\n"),
              "the size 131072 of shared memory zone \"z\" conflicts with already declared size "
              "65536" +
                  at(8));
    EXPECT_EQ(error("upstream app {\n  server 127.0.0.1:1;\n  zone \"\" 64k;\n}\n"),
              "invalid zone name \"\"" + at(4));
    EXPECT_EQ(
        error("upstream a {\n  server 127.0.0.1:1;\n}\n"
              "upstream b {\n  server 127.0.0.1:1;\n  zone upstream:a 64k;\n}\n"),
        "the shared memory zone \"upstream:a\" is already declared for a different use" + at(7));
    std::string servers;
    for (int i = 1; i <= 200; i++) {
        servers += "  server 127.0." + std::to_string(i / 100) + "." + std::to_string(i % 100 + 1) +
                   ":1;\n";
    }
    EXPECT_EQ(
        error("upstream app {\n  zone z 32k;\n  persistence_timeout 1m;\n" + servers + "}\n"),
        "upstream zone \"z\" is too small for the persistence table of upstream \"app\"" + at(3));
    std::string many;
    for (int i = 1; i <= 200; i++) {
        many += "  server 127.0.0." + std::to_string(i) + ":1;\n";
    }
    EXPECT_THAT(error("upstream app {\n  zone z 32k;\n" + many + "}\n"),
                HasSubstr("upstream zone \"z\" is too small for its groups, it needs at least"));
}

TEST_F(UpstreamConfigTest, ZoneSharedByGroups) {
    ASSERT_TRUE(load("upstream a {\n  zone z 64k;\n  server 127.0.0.1:1;\n}\n"
                     "upstream b {\n  zone z;\n  server 127.0.0.1:2;\n}\n",
                     false)
                    .is_ok());
    const core::ShmZone* z = cycle_->find_shm_zone("z");
    ASSERT_NE(z, nullptr);
    EXPECT_EQ(z->size, 65536u);
    auto inside = [&](const Group* g) {
        auto* p = reinterpret_cast<const char*>(g->peers());
        auto* base = static_cast<const char*>(z->segment->base());
        return p >= base && p < base + z->size;
    };
    EXPECT_TRUE(inside(group("a")));
    EXPECT_TRUE(inside(group("b")));
}

TEST_F(UpstreamConfigTest, PersistenceTableFitsANamedZone) {
    ASSERT_TRUE(load("upstream a {\n  zone z 64k;\n  persistence_timeout 5m;\n"
                     "  server 127.0.0.1:1;\n}\n",
                     false)
                    .is_ok());
    const Group* g = group("a");
    EXPECT_GT(g->persistence_capacity(), 100u);
    EXPECT_LT(g->persistence_capacity(), 1000u);
    ASSERT_TRUE(
        load("upstream a {\n  persistence_timeout 5m;\n  server 127.0.0.1:1;\n}\n", false).is_ok());
    EXPECT_EQ(group("a")->persistence_capacity(), Group::kPersistEntries);
}

// ---- shared state across processes and reloads ----

TEST_F(UpstreamConfigTest, WorkersShareTheSequence) {
    ASSERT_TRUE(load("upstream app {\n  server 127.0.0.1:1 weight=5;\n  server 127.0.0.2:1;\n"
                     "  server 127.0.0.3:1;\n}\n",
                     false)
                    .is_ok());
    const Group* g = group("app");
    auto pick_one = [&] {
        PickContext ctx;
        ctx.now_ms = core::steady_ms();
        Peer p = g->acquire(ctx);
        g->release(p, Outcome::kOk, 1ms, ctx.now_ms);
        return static_cast<char>('a' + p.index);
    };
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        std::string s;
        for (int i = 0; i < 3; i++) {
            s += pick_one();
        }
        ssize_t n = write(fds[1], s.data(), s.size());
        _exit(n == 3 ? 0 : 1);
    }
    char buf[3];
    ASSERT_EQ(read(fds[0], buf, 3), 3);
    int status = 0;
    waitpid(pid, &status, 0);
    close(fds[0]);
    close(fds[1]);
    std::string s(buf, 3);
    for (int i = 0; i < 4; i++) {
        s += pick_one();
    }
    EXPECT_EQ(s, "aabacaa");  // the child's three picks, then this process's four
}

TEST_F(UpstreamConfigTest, ReloadCarriesStateOfServersStillConfigured) {
    for (bool named : {true, false}) {
        SCOPED_TRACE(named ? "named zone" : "implicit zone");
        std::string zone = named ? "  zone shared 128k;\n" : "";
        std::unique_ptr<core::Cycle> first;
        ASSERT_TRUE(support::load_cycle(registry_, dir_,
                                        "http {\n upstream app {\n" + zone +
                                            "  server 127.0.0.1:1;\n  server 127.0.0.2:1;\n"
                                            "  server 127.0.0.3:1 max_fails=3;\n }\n}\n",
                                        first, nullptr, {}, false)
                        .is_ok());
        const Group* g1 = find_group(*first, "app");
        int64_t now = core::steady_ms();
        PickContext ctx;
        ctx.now_ms = now;
        std::vector<Peer> peers;
        for (int i = 0; i < 3; i++) {
            peers.push_back(g1->acquire(ctx));
        }
        g1->release(peers[0], Outcome::kOk, 10ms, now);
        g1->release(peers[1], Outcome::kFailed, 10ms, now);  // 127.0.0.2 failed
        g1->release(peers[2], Outcome::kFailed, 10ms, now);  // 127.0.0.3: 1 of 3 fails

        std::unique_ptr<core::Cycle> second;
        ASSERT_TRUE(support::load_cycle(registry_, dir_,
                                        "http {\n upstream app {\n" + zone +
                                            "  server 127.0.0.3:1 max_fails=3;\n"
                                            "  server 127.0.0.2:1;\n  server 127.0.0.4:1;\n }\n}\n",
                                        second, first.get(), {}, false)
                        .is_ok());
        std::string zone_name = named ? "shared" : "upstream:app";
        ASSERT_TRUE(second->find_shm_zone(zone_name)->reused);
        const Group* g2 = find_group(*second, "app");
        ASSERT_NE(g1->peers(), g2->peers());  // each cycle has its own block
        PeerState* p = g2->peers();
        EXPECT_EQ(p[0].fails, 1u);  // 127.0.0.3
        EXPECT_EQ(p[0].failures, 1u);
        EXPECT_EQ(p[1].fails, 1u);  // 127.0.0.2
        EXPECT_EQ(p[1].accessed_ms, now);
        EXPECT_EQ(p[1].requests, 1u);
        EXPECT_EQ(p[2].fails, 0u);  // 127.0.0.4: new
        EXPECT_EQ(p[2].requests, 0u);
        EXPECT_EQ(p[0].conns, 0u);  // in-flight requests belong to the old cycle
        // The carried failure keeps 127.0.0.2 out; the others take the requests.
        PickContext c2;
        c2.now_ms = now + 1;
        std::string s;
        for (int i = 0; i < 4; i++) {
            Peer x = g2->acquire(c2);
            s += x.server->addr.host_text().back();
            g2->release(x, Outcome::kOk, 1ms, now + 1);
            c2.tried.clear();
        }
        EXPECT_EQ(s, "3434");
        first.reset();  // the old cycle's block goes back to the zone
    }
}

TEST_F(UpstreamConfigTest, ReloadCarriesPersistence) {
    std::string conf =
        "http {\n upstream app {\n  persistence_timeout 1h;\n"
        "  server 127.0.0.1:1;\n  server 127.0.0.2:1;\n }\n}\n";
    std::unique_ptr<core::Cycle> first;
    ASSERT_TRUE(support::load_cycle(registry_, dir_, conf, first, nullptr, {}, false).is_ok());
    core::SockAddr x = *core::SockAddr::from_ip("192.0.2.9", 1);
    auto pick_for = [&](core::Cycle& cycle, const core::SockAddr& from) {
        PickContext ctx;
        ctx.now_ms = core::steady_ms();
        ctx.client = from;
        const Group* g = find_group(cycle, "app");
        Peer p = g->acquire(ctx);
        g->release(p, Outcome::kOk, 1ms, ctx.now_ms);
        return p.server->addr.host_text();
    };
    pick_for(*first, *core::SockAddr::from_ip("192.0.2.1", 1));  // x gets the second server
    EXPECT_EQ(pick_for(*first, x), "127.0.0.2");
    std::unique_ptr<core::Cycle> second;
    ASSERT_TRUE(support::load_cycle(registry_, dir_, conf, second, first.get(), {}, false).is_ok());
    for (int i = 0; i < 3; i++) {
        EXPECT_EQ(pick_for(*second, x), "127.0.0.2");
    }
}

TEST_F(UpstreamConfigTest, ManyReloadsReuseTheZone) {
    std::string conf =
        "http {\n upstream app {\n  zone z 64k;\n  persistence_timeout 1m;\n"
        "  server 127.0.0.1:1;\n }\n}\n";
    std::unique_ptr<core::Cycle> current;
    ASSERT_TRUE(support::load_cycle(registry_, dir_, conf, current, nullptr, {}, false).is_ok());
    void* segment = current->find_shm_zone("z")->segment->base();
    for (int i = 0; i < 20; i++) {
        std::unique_ptr<core::Cycle> next;
        core::Status s = support::load_cycle(registry_, dir_, conf, next, current.get(), {}, false);
        ASSERT_TRUE(s.is_ok()) << i << ": " << s.message();
        EXPECT_EQ(next->find_shm_zone("z")->segment->base(), segment);
        current = std::move(next);  // the old cycle retires: its block is freed
    }
}

TEST_F(UpstreamConfigTest, ReloadFailsWhenTheZoneIsFull) {
    // A 64k zone holds the tables of three cycles; a fourth one alive at once does not fit.
    std::string conf =
        "http {\n upstream app {\n  zone z 64k;\n  persistence_timeout 1m;\n"
        "  server 127.0.0.1:1;\n }\n}\n";
    std::vector<std::unique_ptr<core::Cycle>> alive(1);
    ASSERT_TRUE(support::load_cycle(registry_, dir_, conf, alive[0], nullptr, {}, false).is_ok());
    core::Status s = core::Status::ok();
    while (s.is_ok() && alive.size() < 10) {
        std::unique_ptr<core::Cycle> next;
        s = support::load_cycle(registry_, dir_, conf, next, alive.back().get(), {}, false);
        if (s.is_ok()) {
            alive.push_back(std::move(next));
        }
    }
    EXPECT_EQ(alive.size(), 3u);
    EXPECT_EQ(s.message(), "could not allocate memory for upstream \"app\" in zone \"z\"" + at(3));
    alive.erase(alive.begin());  // the oldest cycle retires: room again
    std::unique_ptr<core::Cycle> next;
    EXPECT_TRUE(
        support::load_cycle(registry_, dir_, conf, next, alive.back().get(), {}, false).is_ok());
}

TEST_F(UpstreamConfigTest, ChangedZoneSizeStartsFresh) {
    std::unique_ptr<core::Cycle> first;
    ASSERT_TRUE(support::load_cycle(registry_, dir_,
                                    "http {\n upstream app {\n  zone z 64k;\n"
                                    "  server 127.0.0.1:1;\n  server 127.0.0.2:1;\n }\n}\n",
                                    first, nullptr, {}, false)
                    .is_ok());
    PickContext ctx;
    ctx.now_ms = core::steady_ms();
    const Group* g1 = find_group(*first, "app");
    g1->release(g1->acquire(ctx), Outcome::kFailed, 1ms, ctx.now_ms);
    std::unique_ptr<core::Cycle> second;
    ASSERT_TRUE(support::load_cycle(registry_, dir_,
                                    "http {\n upstream app {\n  zone z 128k;\n"
                                    "  server 127.0.0.1:1;\n  server 127.0.0.2:1;\n }\n}\n",
                                    second, first.get(), {}, false)
                    .is_ok());
    EXPECT_FALSE(second->find_shm_zone("z")->reused);
    EXPECT_EQ(find_group(*second, "app")->peers()[0].fails, 0u);
}

}  // namespace
}  // namespace upstream
