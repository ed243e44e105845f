// The `status` and `stub_status` directives: accepted forms, every rejection with its
// file:line, the zone made only when a status location exists (and never with -t), and the
// handlers served in this process: formats, ?format=, methods, stub_status text; with the
// zone and a slot (as a worker has), the counts of the requests served.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "core/process.h"
#include "modules/status/status.h"
#include "support/http_unit.h"
#include "support/json.h"
#include "support/prometheus.h"

namespace mod::status {
namespace {

using halo_test::Json;
using halo_test::PromText;
using ::testing::HasSubstr;

class StatusConfigTest : public support::HttpUnitTest {};

TEST_F(StatusConfigTest, AcceptedForms) {
    serve(
        "  location = /s { status; }\n"
        "  location = /j { status format=json; }\n"
        "  location = /p { status format=prometheus; }\n"
        "  location = /h { status format=html; }\n"
        "  location = /b { stub_status; }\n"
        "  location = /o { stub_status on; }\n"
        "  location /nested { location /nested/s { status; } }\n");
    EXPECT_EQ(get("/s").header("content-type"), "application/json");
    EXPECT_EQ(get("/j").header("content-type"), "application/json");
    EXPECT_EQ(get("/p").header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_EQ(get("/h").header("content-type"), "text/html; charset=utf-8");
    EXPECT_EQ(get("/b").header("content-type"), "text/plain");
    EXPECT_EQ(get("/o").status, 200);
    EXPECT_EQ(get("/nested/s").header("content-type"), "application/json");
    EXPECT_EQ(get("/s").header("cache-control"), "no-store");
    EXPECT_EQ(get("/nested/x").status, 404);  // not inherited by the enclosing location
}

TEST_F(StatusConfigTest, Rejections) {
    EXPECT_EQ(server_error("  location / { status format=xml; }"),
              "invalid value \"format=xml\" in \"status\" directive, it must be format=json, "
              "format=prometheus or format=html" +
                  at(4));
    EXPECT_EQ(server_error("  location / { status json; }"),
              "invalid parameter \"json\" in \"status\" directive" + at(4));
    EXPECT_EQ(server_error("  location / { status; status; }"),
              "\"status\" directive is duplicate" + at(4));
    EXPECT_EQ(server_error("  location / { status; stub_status; }"),
              "\"status\" and \"stub_status\" in one location" + at(4));
    EXPECT_EQ(server_error("  location / { stub_status off; }"),
              "invalid value \"off\" in \"stub_status\" directive, it takes no parameter" + at(4));
    EXPECT_THAT(server_error("  location / { status format=json format=html; }"),
                HasSubstr("invalid number of arguments in \"status\" directive"));
    EXPECT_THAT(server_error("  status;"),
                HasSubstr("\"status\" directive is not allowed here" + at(4)));
    EXPECT_THAT(error("status;\n"), HasSubstr("\"status\" directive is not allowed here"));
}

TEST_F(StatusConfigTest, AnotherContentHandlerInTheSameLocation) {
    if (registry_.find("http_proxy") == nullptr) {
        GTEST_SKIP() << "the http_proxy module is not compiled in";
    }
    EXPECT_EQ(server_error("  location / {\n  proxy_pass http://127.0.0.1:1;\n  status;\n }"),
              "\"status\" and another content handler (proxy_pass...) in one location" + at(6));
}

TEST_F(StatusConfigTest, TheZoneOnlyWithAStatusLocation) {
    uint16_t port = support::free_port();
    std::string listen = "  listen 127.0.0.1:" + std::to_string(port) + ";\n";
    core::Status s = support::load_cycle(
        registry_, dir_, "http {\n server {\n" + listen + "  location / { }\n }\n}\n", cycle_);
    ASSERT_TRUE(s.is_ok()) << s.message();
    EXPECT_EQ(cycle_->find_shm_zone("status"), nullptr);
    EXPECT_TRUE(cycle_->process_observers().empty());
    cycle_.reset();
    s = support::load_cycle(
        registry_, dir_,
        "http {\n server {\n" + listen + "  location = /s { stub_status; }\n }\n}\n", cycle_);
    ASSERT_TRUE(s.is_ok()) << s.message();
    ASSERT_NE(cycle_->find_shm_zone("status"), nullptr);
    EXPECT_EQ(cycle_->process_observers().size(), 1u);
    EXPECT_NE(cycle_->find_shm_zone("status")->segment, nullptr);
    // -t: declared, never made.
    serve("  location = /s { status; }");
    ASSERT_NE(cycle_->find_shm_zone("status"), nullptr);
    EXPECT_EQ(cycle_->find_shm_zone("status")->segment, nullptr);
}

TEST_F(StatusConfigTest, FormatFromTheQuery) {
    serve("  location = /s { status; }");
    auto j = Json::parse(get("/s").body);
    ASSERT_TRUE(j);
    EXPECT_FALSE((*j)["counting"].boolean());  // -t: no counters
    EXPECT_EQ((*j)["servers"].size(), 1u);
    EXPECT_EQ((*j)["servers"][0]["listen"][0].str(), "127.0.0.1:8080");
    support::Response p = get("/s?x=1&format=prometheus");
    EXPECT_EQ(p.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    std::string err;
    EXPECT_TRUE(PromText::parse(p.body, &err)) << err;
    EXPECT_THAT(get("/s?format=html").body, HasSubstr("<!DOCTYPE html>"));
    support::Response bad = get("/s?format=yaml");
    EXPECT_EQ(bad.status, 400);
    EXPECT_THAT(bad.body, HasSubstr("unknown format"));
}

TEST_F(StatusConfigTest, MethodsOtherThanGetAndHead) {
    serve("  location = /s { status; }\n  location = /b { stub_status; }");
    support::Response post = get("/s", "Content-Length: 0\r\n", "a", "POST");
    EXPECT_EQ(post.status, 405);
    EXPECT_EQ(post.header("allow"), "GET, HEAD");
    EXPECT_EQ(get("/b", "", "a", "DELETE").status, 405);
    support::Response head = get("/s", "", "a", "HEAD");
    EXPECT_EQ(head.status, 200);
    EXPECT_TRUE(head.body.empty());
    EXPECT_NE(head.header("content-length"), "0");
}

TEST_F(StatusConfigTest, StubStatusWithoutCounters) {
    serve("  location = /b { stub_status; }");
    EXPECT_EQ(get("/b").body,
              "Active connections: 0 \nserver accepts handled requests\n 0 0 0 \n"
              "Reading: 0 Writing: 0 Waiting: 0 \n");
}

TEST_F(StatusConfigTest, UpstreamsAndTheirChecks) {
    if (registry_.find("http_upstream") == nullptr ||
        registry_.find("http_healthcheck") == nullptr) {
        GTEST_SKIP() << "the upstream modules are not compiled in";
    }
    ASSERT_TRUE(load("http {\n upstream app {\n  server 127.0.0.1:1 weight=3;\n"
                     "  server 127.0.0.1:2 backup;\n  server 127.0.0.1:3 down;\n"
                     "  health_check type=tcp interval=1s fall=2 rise=3;\n }\n"
                     " server {\n  listen 127.0.0.1:8080;\n  location = /s { status; }\n }\n}\n")
                    .is_ok());
    auto j = Json::parse(get("/s").body);
    ASSERT_TRUE(j);
    const Json& u = (*j)["upstreams"][0];
    EXPECT_EQ(u["name"].str(), "app");
    EXPECT_EQ(u["balancer"].str(), "round_robin");
    EXPECT_EQ(u["health_check"]["type"].str(), "tcp");
    EXPECT_FALSE(u["health_check"].has("uri"));
    EXPECT_EQ(u["health_check"]["interval_ms"].integer(), 1000);
    EXPECT_EQ(u["health_check"]["rise"].integer(), 3);
    ASSERT_EQ(u["peers"].size(), 3u);
    EXPECT_EQ(u["peers"][0]["state"].str(), "up");
    EXPECT_EQ(u["peers"][0]["weight"].integer(), 3);
    EXPECT_EQ(u["peers"][1]["server"].str(), "127.0.0.1:3");  // primaries first
    EXPECT_EQ(u["peers"][1]["state"].str(), "down");
    EXPECT_EQ(u["peers"][1]["down_reason"].str(), "config");
    EXPECT_EQ(u["peers"][2]["state"].str(), "backup");
    EXPECT_TRUE(u["peers"][2]["backup"].boolean());
}

/// With the zone (a cycle as the master makes it) and a slot (init_process, as a worker does):
/// the requests served here are counted, per server block too.
TEST_F(StatusConfigTest, CountsWithTheZone) {
    uint16_t port = support::free_port();
    core::Status s =
        support::load_cycle(registry_, dir_,
                            "http {\n server {\n  listen 127.0.0.1:" + std::to_string(port) +
                                ";\n  server_name counted;\n  location = /s { status; }\n"
                                "  location = /b { stub_status; }\n"
                                "  location = /v { return 200 \"$connections_active "
                                "$connections_reading $connections_writing "
                                "$connections_waiting\"; }\n }\n}\n",
                            cycle_);
    ASSERT_TRUE(s.is_ok()) << s.message();
    core::ProcessTable table;
    table.self.pid = getpid();
    table.self.role = core::ProcessRole::kSingle;
    for (const auto& observer : cycle_->process_observers()) {
        observer(table);
    }
    const core::Module* m = registry_.find("http_status");
    ASSERT_NE(m, nullptr);
    core::ProcessInfo info;
    info.role = core::ProcessRole::kSingle;
    ASSERT_TRUE(m->init_process(*cycle_, info).is_ok());
    EXPECT_NE(http::conn_counters(), nullptr);

    get("/nothing");  // 404
    get("/s");
    auto j = Json::parse(get("/s").body);
    ASSERT_TRUE(j);
    EXPECT_TRUE((*j)["counting"].boolean());
    EXPECT_EQ((*j)["processes"]["master"]["type"].str(), "single");
    EXPECT_EQ((*j)["processes"]["master"]["pid"].integer(), getpid());
    EXPECT_EQ((*j)["processes"]["master"]["requests"].integer(), 3);
    EXPECT_EQ((*j)["connections"]["accepted"].integer(), 3);
    EXPECT_EQ((*j)["connections"]["active"].integer(), 1);
    EXPECT_EQ((*j)["connections"]["writing"].integer(), 1);  // this request
    EXPECT_EQ((*j)["connections"]["reading"].integer(), 0);
    EXPECT_EQ((*j)["requests"]["total"].integer(), 3);
    const Json& srv = (*j)["servers"][0];
    EXPECT_EQ(srv["name"].str(), "counted");
    EXPECT_EQ(srv["requests"].integer(), 2);  // counted once logged: not this one yet
    EXPECT_EQ(srv["responses"]["2xx"].integer(), 1);
    EXPECT_EQ(srv["responses"]["4xx"].integer(), 1);
    EXPECT_GT(srv["sent"].integer(), 0);
    EXPECT_EQ(get("/b").body,
              "Active connections: 1 \nserver accepts handled requests\n 4 4 4 \n"
              "Reading: 0 Writing: 1 Waiting: 0 \n");

    if (registry_.find("http_rewrite") != nullptr) {
        EXPECT_EQ(get("/v").body, "1 0 1 0");  // nginx's stub_status variables
    }

    m->exit_process(*cycle_);
    EXPECT_EQ(http::conn_counters(), nullptr);
}

}  // namespace
}  // namespace mod::status
