// The http core module's directives: http/server/location blocks, listen, server_name,
// header buffers, keepalive; inheritance http -> server -> location -> nested location;
// every rejection with its message; the ports and phase engine built from the config.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "core/cycle.h"
#include "http/http.h"
#include "http/session.h"
#include "support/test_modules.h"

namespace http {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;

class HttpConfigTest : public ::testing::Test {
  protected:
    HttpConfigTest() : registry_(core::compiled_modules()) {}

    /// Loads `conf` without opening sockets (-t).
    core::Status load(std::string_view conf) {
        cycle_.reset();
        return support::load_cycle(registry_, dir_, conf, cycle_, nullptr, {}, true);
    }
    std::string error(std::string_view conf) {
        core::Status s = load(conf);
        EXPECT_FALSE(s.is_ok()) << "loaded: " << conf;
        return s.message();
    }
    std::string at(int line) const {
        return " in " + dir_.file("halo.conf") + ":" + std::to_string(line);
    }
    HttpMainConf& main() { return cycle_->conf<HttpMainConf>(); }
    ServerBlock& server(size_t i) { return *main().servers.at(i); }
    static const HttpLocConf& loc(const core::ConfVector& v) {
        return core::conf_of<HttpLocConf>(v);
    }
    static const HttpSrvConf& srv(const ServerBlock& s) {
        return core::conf_of<HttpSrvConf>(s.srv_confs);
    }

    support::TempDir dir_;
    core::ModuleRegistry registry_;
    std::unique_ptr<core::Cycle> cycle_;
};

TEST_F(HttpConfigTest, NoHttpBlock) {
    ASSERT_TRUE(load("events {\n}\n").is_ok());
    EXPECT_EQ(http_main(*cycle_), nullptr);
    EXPECT_TRUE(cycle_->listening().empty());
}

TEST_F(HttpConfigTest, Defaults) {
    core::Status s = load("http { server { listen 127.0.0.1:8080; location / { } } }");
    ASSERT_TRUE(s.is_ok()) << s.message();
    ASSERT_NE(http_main(*cycle_), nullptr);
    ASSERT_EQ(main().servers.size(), 1u);
    for (const core::ConfVector* v :
         {&server(0).loc_confs, &server(0).locations.at(0)->loc_confs}) {
        EXPECT_EQ(loc(*v).keepalive_timeout, 75s);
        EXPECT_EQ(loc(*v).keepalive_requests, 1000);
        EXPECT_EQ(loc(*v).send_timeout, 60s);
        EXPECT_EQ(loc(*v).default_type, "text/plain");
        EXPECT_EQ(loc(*v).server_tokens, true);
    }
    EXPECT_EQ(srv(server(0)).client_header_timeout, 60s);
    EXPECT_EQ(srv(server(0)).client_header_buffer_size, core::Size{1024});
    EXPECT_EQ(srv(server(0)).large_header_buffers, 4);
    EXPECT_EQ(srv(server(0)).large_header_buffer_size, core::Size{8192});
}

TEST_F(HttpConfigTest, LocationConfsInheritAcrossLevels) {
    core::Status s = load(
        "http {\n"
        "  keepalive_timeout 5s;\n"
        "  server_tokens off;\n"
        "  server {\n"
        "    listen 127.0.0.1:8080;\n"
        "    send_timeout 7s;\n"
        "    location / { }\n"
        "    location /x { keepalive_timeout 1s; }\n"
        "    location /a {\n"
        "      default_type text/html;\n"
        "      location /a/b { keepalive_requests 3; }\n"
        "    }\n"
        "  }\n"
        "  server { listen 127.0.0.1:8081; keepalive_timeout 9s; }\n"
        "}\n");
    ASSERT_TRUE(s.is_ok()) << s.message();
    ASSERT_EQ(main().servers.size(), 2u);
    const ServerBlock& s0 = server(0);
    ASSERT_EQ(s0.locations.size(), 3u);
    // Server level: from http, plus its own.
    EXPECT_EQ(loc(s0.loc_confs).keepalive_timeout, 5s);
    EXPECT_EQ(loc(s0.loc_confs).send_timeout, 7s);
    EXPECT_EQ(loc(s0.loc_confs).server_tokens, false);
    // location /: everything inherited.
    const auto& root = loc(s0.locations[0]->loc_confs);
    EXPECT_EQ(root.keepalive_timeout, 5s);
    EXPECT_EQ(root.send_timeout, 7s);
    EXPECT_EQ(root.server_tokens, false);
    EXPECT_EQ(root.default_type, "text/plain");
    // location /x: its own value wins.
    EXPECT_EQ(loc(s0.locations[1]->loc_confs).keepalive_timeout, 1s);
    EXPECT_EQ(loc(s0.locations[1]->loc_confs).send_timeout, 7s);
    // Nested location: from its parent location.
    ASSERT_EQ(s0.locations[2]->children.size(), 1u);
    const auto& nested = loc(s0.locations[2]->children[0]->loc_confs);
    EXPECT_EQ(nested.default_type, "text/html");
    EXPECT_EQ(nested.keepalive_requests, 3);
    EXPECT_EQ(nested.keepalive_timeout, 5s);
    EXPECT_EQ(nested.send_timeout, 7s);
    EXPECT_EQ(loc(s0.locations[2]->loc_confs).keepalive_requests, 1000);
    // The second server sees http's values, not the first server's.
    EXPECT_EQ(loc(server(1).loc_confs).keepalive_timeout, 9s);
    EXPECT_EQ(loc(server(1).loc_confs).send_timeout, 60s);
    EXPECT_EQ(loc(server(1).loc_confs).server_tokens, false);
}

TEST_F(HttpConfigTest, ServerConfsInheritFromHttp) {
    core::Status s = load(
        "http {\n"
        "  client_header_timeout 10s;\n"
        "  large_client_header_buffers 2 1k;\n"
        "  server { listen 127.0.0.1:8080; client_header_buffer_size 2k; }\n"
        "  server { listen 127.0.0.1:8081; client_header_timeout 3s;\n"
        "           large_client_header_buffers 8 16k; }\n"
        "}\n");
    ASSERT_TRUE(s.is_ok()) << s.message();
    EXPECT_EQ(srv(server(0)).client_header_timeout, 10s);
    EXPECT_EQ(srv(server(0)).client_header_buffer_size, core::Size{2048});
    EXPECT_EQ(srv(server(0)).large_header_buffers, 2);
    EXPECT_EQ(srv(server(0)).large_header_buffer_size, core::Size{1024});
    EXPECT_EQ(srv(server(1)).client_header_timeout, 3s);
    EXPECT_EQ(srv(server(1)).client_header_buffer_size, core::Size{1024});
    EXPECT_EQ(srv(server(1)).large_header_buffers, 8);
    EXPECT_EQ(srv(server(1)).large_header_buffer_size, core::Size{16384});
}

TEST_F(HttpConfigTest, Listen) {
    core::Status s = load(
        "http { server {\n"
        "  listen 127.0.0.1:8080 default_server backlog=100;\n"
        "  listen 8081 reuseport;\n"
        "  listen [::1]:8082 default;\n"
        "  listen *:8083;\n"
        "  listen 127.0.0.2;\n"
        "} }");
    ASSERT_TRUE(s.is_ok()) << s.message();
    const auto& l = srv(server(0)).listens;
    ASSERT_EQ(l.size(), 5u);
    EXPECT_EQ(l[0].addr.text(), "127.0.0.1:8080");
    EXPECT_TRUE(l[0].default_server);
    EXPECT_EQ(l[0].options.backlog, 100);
    EXPECT_FALSE(l[0].options.reuseport);
    EXPECT_EQ(l[0].where, dir_.file("halo.conf") + ":2");
    EXPECT_EQ(l[1].addr.text(), "0.0.0.0:8081");
    EXPECT_TRUE(l[1].options.reuseport);
    EXPECT_FALSE(l[1].default_server);
    EXPECT_EQ(l[1].options.backlog, 511);
    EXPECT_EQ(l[2].addr.text(), "[::1]:8082");
    EXPECT_TRUE(l[2].default_server);
    EXPECT_EQ(l[3].addr.text(), "0.0.0.0:8083");
    EXPECT_EQ(l[4].addr.text(), "127.0.0.2:80");
    EXPECT_EQ(cycle_->listening().size(), 5u);
}

TEST_F(HttpConfigTest, DefaultListen) {
    ASSERT_TRUE(load("http {\n server { }\n}").is_ok());
    const auto& l = srv(server(0)).listens;
    ASSERT_EQ(l.size(), 1u);
    EXPECT_EQ(l[0].addr.text(), geteuid() == 0 ? "0.0.0.0:80" : "0.0.0.0:8000");
    EXPECT_EQ(l[0].where, dir_.file("halo.conf") + ":2");
}

TEST_F(HttpConfigTest, ListenErrors) {
    EXPECT_EQ(error("http { server {\n listen nohost:80; } }"),
              "invalid address \"nohost:80\" in \"listen\" directive" + at(2));
    EXPECT_EQ(error("http { server {\n listen 127.0.0.1:0; } }"),
              "invalid address \"127.0.0.1:0\" in \"listen\" directive" + at(2));
    EXPECT_EQ(error("http { server {\n listen 127.0.0.1:65536; } }"),
              "invalid address \"127.0.0.1:65536\" in \"listen\" directive" + at(2));
    EXPECT_EQ(error("http { server {\n listen 80 fast; } }"), "invalid parameter \"fast\"" + at(2));
    EXPECT_EQ(error("http { server {\n listen 80 backlog=0; } }"), "invalid backlog \"0\"" + at(2));
    EXPECT_EQ(error("http { server {\n listen 80 backlog=x; } }"), "invalid backlog \"x\"" + at(2));
    EXPECT_EQ(error("http { server {\n listen 80;\n listen *:80; } }"),
              "a duplicate listen 0.0.0.0:80" + at(3));
    EXPECT_EQ(error("http { server {\n listen; } }"),
              "invalid number of arguments in \"listen\" directive" + at(2));
    EXPECT_EQ(error("http {\n listen 80;\n}"), "\"listen\" directive is not allowed here" + at(2));
}

TEST_F(HttpConfigTest, ListenOptionConflictsBetweenServers) {
    // nginx: one listen per address may give the socket's options; the others share it.
    core::Status shared = load(
        "http {\n"
        "  server { listen 127.0.0.1:8080; }\n"
        "  server { listen 127.0.0.1:8080 backlog=10; }\n"
        "}");
    ASSERT_TRUE(shared.is_ok()) << shared.message();
    ASSERT_EQ(cycle_->listening().size(), 1u);
    EXPECT_EQ(cycle_->listening()[0]->options.backlog, 10);
    std::string msg = error(
        "http {\n"
        "  server { listen 127.0.0.1:8080 rcvbuf=8k; }\n"
        "  server { listen 127.0.0.1:8080 backlog=10; }\n"
        "}");
    EXPECT_EQ(msg, "duplicate listen options for 127.0.0.1:8080" + at(3));
    msg = error(
        "http {\n"
        "  server { listen 127.0.0.1:8080 default_server; }\n"
        "  server { listen 127.0.0.1:8080 default_server; }\n"
        "}");
    EXPECT_EQ(msg, "a duplicate default server for 127.0.0.1:8080" + at(3));
}

TEST_F(HttpConfigTest, ServerNames) {
    ASSERT_TRUE(load("http { server { listen 8080; server_name Example.COM www.example.com;\n"
                     "server_name more; } }")
                    .is_ok());
    EXPECT_THAT(server(0).names, ElementsAre("example.com", "www.example.com", "more"));
    ASSERT_TRUE(load("http { server { listen 8080; server_name \"\" _; } }").is_ok());
    EXPECT_THAT(server(0).names, ElementsAre("", "_"));
    EXPECT_EQ(error("http { server {\n server_name *example.com; } }"),
              "server name \"*example.com\" is invalid" + at(2));
    EXPECT_EQ(error("http {\n server_name a; }"),
              "\"server_name\" directive is not allowed here" + at(2));
}

TEST_F(HttpConfigTest, PortsGroupServersByAddress) {
    core::Status s = load(
        "http {\n"
        "  server { listen 127.0.0.1:8080; server_name a.test; }\n"
        "  server { listen 127.0.0.1:8080 default_server; server_name b.test; }\n"
        "  server { listen 127.0.0.1:8080; listen 127.0.0.1:8081;\n"
        "           server_name c.test; }\n"
        "}");
    ASSERT_TRUE(s.is_ok()) << s.message();
    ASSERT_EQ(main().ports.size(), 2u);
    ASSERT_EQ(cycle_->listening().size(), 2u);
    const Port& p = *main().ports[0];
    EXPECT_EQ(p.listening(), cycle_->listening()[0].get());
    EXPECT_EQ(cycle_->listening()[0]->handler, &p);
    EXPECT_EQ(p.find_server("a.test"), &server(0));
    EXPECT_EQ(p.find_server("A.Test"), &server(0));
    EXPECT_EQ(p.find_server("a.test:8080"), &server(0));
    EXPECT_EQ(p.find_server("a.test."), &server(0));
    EXPECT_EQ(p.find_server("c.test"), &server(2));
    EXPECT_EQ(p.find_server("unknown.test"), &server(1));  // the explicit default
    EXPECT_EQ(p.find_server(""), &server(1));
    const Port& q = *main().ports[1];
    EXPECT_EQ(q.find_server("a.test"), &server(2));  // not on that port: its default
    EXPECT_EQ(q.find_server(""), &server(2));
}

TEST_F(HttpConfigTest, FirstServerIsTheDefaultWithoutDefaultServer) {
    ASSERT_TRUE(load("http {\n"
                     "  server { listen 127.0.0.1:8080; server_name a.test; }\n"
                     "  server { listen 127.0.0.1:8080; server_name b.test; }\n"
                     "}")
                    .is_ok());
    EXPECT_EQ(main().ports[0]->find_server("x"), &server(0));
    EXPECT_EQ(main().ports[0]->find_server("b.test"), &server(1));
}

TEST_F(HttpConfigTest, Locations) {
    core::Status s = load(
        "http { server { listen 8080;\n"
        "  location / { }\n"
        "  location = /exact { }\n"
        "  location =/short { }\n"
        "  location ^~ /static/ { }\n"
        "  location /exact { }\n"
        "} }");
    ASSERT_TRUE(s.is_ok()) << s.message();
    const auto& locs = server(0).locations;
    ASSERT_EQ(locs.size(), 5u);
    EXPECT_EQ(locs[0]->name, "/");
    EXPECT_EQ(locs[0]->match, LocationMatch::kPrefix);
    EXPECT_EQ(locs[1]->name, "/exact");
    EXPECT_EQ(locs[1]->match, LocationMatch::kExact);
    EXPECT_EQ(locs[2]->name, "/short");
    EXPECT_EQ(locs[2]->match, LocationMatch::kExact);
    EXPECT_EQ(locs[3]->name, "/static/");
    EXPECT_EQ(locs[3]->match, LocationMatch::kPrefixNoRegex);
    EXPECT_EQ(locs[4]->match, LocationMatch::kPrefix);  // same name, another kind: allowed
    EXPECT_EQ(locs[1]->where, dir_.file("halo.conf") + ":3");
}

TEST_F(HttpConfigTest, LocationErrors) {
    EXPECT_EQ(error("http { server {\n location ~~ \\.php$ { } } }"),
              "invalid location modifier \"~~\"" + at(2));
    EXPECT_EQ(error("http { server {\n location /a { }\n location /a { } } }"),
              "duplicate location \"/a\"" + at(3));
    EXPECT_EQ(error("http { server {\n location = /a { }\n location =/a { } } }"),
              "duplicate location \"/a\"" + at(3));
    EXPECT_EQ(error("http { server {\n location = /a {\n location /a/b { } } } }"),
              "location \"/a/b\" cannot be inside the exact location" + at(3));
    EXPECT_EQ(error("http { server {\n location /a; } }"),
              "directive \"location\" has no opening \"{\"" + at(2));
    EXPECT_EQ(error("http { server {\n location { } } }"),
              "invalid number of arguments in \"location\" directive" + at(2));
    EXPECT_EQ(error("http { server {\n location = /a /b { } } }"),
              "invalid number of arguments in \"location\" directive" + at(2));
    EXPECT_EQ(error("http {\n location / { } }"),
              "\"location\" directive is not allowed here" + at(2));
}

TEST_F(HttpConfigTest, BlockErrors) {
    EXPECT_EQ(error("http { }\nhttp { }"), "\"http\" directive is duplicate" + at(2));
    EXPECT_EQ(error("server { }"), "\"server\" directive is not allowed here" + at(1));
    EXPECT_EQ(error("http { server {\n server { } } }"),
              "\"server\" directive is not allowed here" + at(2));
    EXPECT_EQ(error("http;"), "directive \"http\" has no opening \"{\"" + at(1));
    EXPECT_EQ(error("http { server; }"), "directive \"server\" has no opening \"{\"" + at(1));
    EXPECT_EQ(error("events {\n keepalive_timeout 1s; }"),
              "\"keepalive_timeout\" directive is not allowed here" + at(2));
    EXPECT_EQ(error("keepalive_timeout 1s;"),
              "\"keepalive_timeout\" directive is not allowed here" + at(1));
}

TEST_F(HttpConfigTest, SlotErrors) {
    EXPECT_EQ(error("http {\n keepalive_timeout 1s;\n keepalive_timeout 2s; }"),
              "\"keepalive_timeout\" directive is duplicate" + at(3));
    EXPECT_EQ(error("http { server { location / {\n send_timeout x; } } }"),
              "invalid value \"x\" in \"send_timeout\" directive, expected a time such as "
              "500ms, 10s, 1m" +
                  at(2));
    EXPECT_EQ(error("http {\n server_tokens maybe; }"),
              "invalid value \"maybe\" in \"server_tokens\" directive, it must be \"on\", "
              "\"off\" or \"build\"" +
                  at(2));
    EXPECT_EQ(error("http {\n keepalive_requests -1; }"),
              "invalid value \"-1\" in \"keepalive_requests\" directive, it must be "
              "0..2147483647" +
                  at(2));
    EXPECT_EQ(error("http { server { location / {\n client_header_timeout 1s; } } }"),
              "\"client_header_timeout\" directive is not allowed here" + at(2));
    EXPECT_EQ(error("http {\n client_header_buffer_size big; }"),
              "invalid value \"big\" in \"client_header_buffer_size\" directive, expected a size "
              "such as 512, 4k, 1m" +
                  at(2));
}

TEST_F(HttpConfigTest, LargeHeaderBufferErrors) {
    EXPECT_EQ(error("http {\n large_client_header_buffers 0 8k; }"),
              "invalid value \"0\" in \"large_client_header_buffers\" directive, the number must "
              "be 1..1024" +
                  at(2));
    EXPECT_EQ(error("http {\n large_client_header_buffers 4 32; }"),
              "invalid value \"32\" in \"large_client_header_buffers\" directive, the size must "
              "be 64..1m" +
                  at(2));
    EXPECT_EQ(error("http {\n large_client_header_buffers 4 2m; }"),
              "invalid value \"2m\" in \"large_client_header_buffers\" directive, the size must "
              "be 64..1m" +
                  at(2));
    EXPECT_EQ(error("http {\n large_client_header_buffers 4 8k;\n"
                    " large_client_header_buffers 4 8k; }"),
              "\"large_client_header_buffers\" directive is duplicate" + at(3));
    EXPECT_EQ(error("http {\n large_client_header_buffers 4; }"),
              "invalid number of arguments in \"large_client_header_buffers\" directive" + at(2));
}

TEST_F(HttpConfigTest, PhaseEngine) {
    ASSERT_TRUE(load("http { server { listen 8080; } }").is_ok());
    // http_realip registers a post_read handler, http_rewrite a server_rewrite and a rewrite
    // handler, http_access and http_auth_basic an access handler each, http_static its
    // try_files phase (after access) and a content handler (http_log's log handler runs
    // outside the engine); find_config is the core's own entry.
    const auto& e = main().engine;
    ASSERT_EQ(e.size(), 8u);
    const Phase want[] = {Phase::kPostRead, Phase::kServerRewrite, Phase::kFindConfig,
                          Phase::kRewrite,  Phase::kAccess,        Phase::kAccess,
                          Phase::kTryFiles, Phase::kContent};
    const size_t next[] = {1, 2, 3, 4, 6, 6, 7, 8};
    for (size_t i = 0; i < 8; i++) {
        EXPECT_EQ(e[i].phase, want[i]) << i;
        EXPECT_EQ(e[i].next, next[i]) << i;
        EXPECT_EQ(e[i].handler == nullptr, want[i] == Phase::kFindConfig) << i;
    }
    EXPECT_EQ(main().registered[static_cast<int>(Phase::kLog)].size(), 1u);
}

TEST_F(HttpConfigTest, AddPhaseHandlerWithoutHttpIsIgnored) {
    ASSERT_TRUE(load("events {\n}\n").is_ok());
    add_phase_handler(*cycle_, Phase::kContent, [](Request&) { return Flow::kDone; });
    EXPECT_TRUE(cycle_->conf<HttpMainConf>().registered[static_cast<int>(Phase::kContent)].empty());
}

}  // namespace
}  // namespace http
