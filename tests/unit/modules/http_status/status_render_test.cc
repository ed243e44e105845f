// The renderings of a Snapshot: JSON that parses and carries every number where the
// documentation says (escapes included), Prometheus text that a strict reader accepts (every
// family typed, samples together, labels escaped), nginx's stub_status text byte for byte,
// VRRP instances once reported, and the HTML page's self-containment.
#include <gtest/gtest.h>

#include <string>

#include "modules/status/status.h"
#include "support/json.h"
#include "support/prometheus.h"

namespace mod::status {
namespace {

using halo_test::Json;
using halo_test::PromText;

Snapshot sample() {
    Snapshot s;
    s.version = "halo/1.2.3";
    s.now_ms = 1700000000123;
    s.counting = true;
    s.have_processes = true;
    s.self.type = "master";
    s.self.pid = 100;
    s.self.started_ms = 1700000000000;
    s.self.uptime_ms = 123;
    s.reloads = 1;
    for (int i = 0; i < 2; i++) {
        ProcessView w;
        w.type = "worker";
        w.pid = 200 + i;
        w.index = i;
        w.uptime_ms = 61500;
        w.respawns = static_cast<uint32_t>(i);
        w.counted = true;
        w.accepted = 10 + i;
        w.requests = 20 + i;
        w.active = 1;
        s.workers.push_back(w);
    }
    ProcessView h;
    h.type = "helper";
    h.pid = 300;
    h.name = "healthcheck";
    s.helpers.push_back(h);
    s.connections = {21, 21, 41, 3, 1, 1, 1};
    s.connections.h2_connections = 6;
    s.connections.h2_active = 2;
    s.connections.h2_streams = 17;
    s.connections.auth_basic_no_credentials = 7;
    s.connections.auth_basic_user_not_found = 2;
    s.connections.auth_basic_password_mismatch = 3;
    ServerView v;
    v.name = "quote\"d\tname";
    v.listen = {"127.0.0.1:8080", "[::1]:8080"};
    v.counted = true;
    v.requests = 41;
    v.h2_requests = 15;
    v.responses[1] = 30;
    v.responses[3] = 10;
    v.responses[4] = 1;
    v.received = 4000;
    v.sent = 90000;
    s.servers.push_back(v);
    UpstreamView u;
    u.name = "app";
    u.balancer = "round_robin";
    u.check = CheckView{"http", "/health", 2000, 1000, 3, 2};
    PeerView up;
    up.server = "127.0.0.1:8081";
    up.name = "127.0.0.1:8081";
    up.state = "up";
    up.requests = 5;
    up.responses = 5;
    up.response_ms_total = 50;
    up.health.checked = true;
    up.health.last_ok = true;
    up.health.last_status = 200;
    up.health.checks = 9;
    PeerView down = up;
    down.server = "127.0.0.1:8082";
    down.name = "127.0.0.1:8082";
    down.state = "down";
    down.down_reason = "health_check";
    down.responses = 0;
    down.response_ms_total = 0;
    down.failures = 2;
    down.health.last_ok = false;
    down.health.last_status = 0;
    down.health.failures = 4;
    down.health.reason = "connect() refused";
    down.health.last_change_ms = 1700000000050;
    u.peers = {up, down};
    s.upstreams.push_back(u);
    return s;
}

TEST(StatusJsonTest, ParsesAndCarriesEveryNumber) {
    std::string text = render_json(sample());
    std::string err;
    auto j = Json::parse(text, &err);
    ASSERT_TRUE(j) << err << "\n" << text;
    const Json& d = *j;
    EXPECT_EQ(d["version"].str(), "halo/1.2.3");
    EXPECT_EQ(d["time"].integer(), 1700000000123);
    EXPECT_TRUE(d["counting"].boolean());
    const Json& p = d["processes"];
    EXPECT_EQ(p["master"]["pid"].integer(), 100);
    EXPECT_EQ(p["master"]["reloads"].integer(), 1);
    EXPECT_DOUBLE_EQ(p["master"]["uptime"].number(), 0.123);
    ASSERT_EQ(p["workers"].size(), 2u);
    EXPECT_EQ(p["workers"][1]["index"].integer(), 1);
    EXPECT_EQ(p["workers"][1]["respawns"].integer(), 1);
    EXPECT_EQ(p["workers"][1]["requests"].integer(), 21);
    EXPECT_DOUBLE_EQ(p["workers"][0]["uptime"].number(), 61.5);
    ASSERT_EQ(p["helpers"].size(), 1u);
    EXPECT_EQ(p["helpers"][0]["name"].str(), "healthcheck");
    EXPECT_FALSE(p["helpers"][0].has("requests"));  // helpers do not serve
    const Json& c = d["connections"];
    EXPECT_EQ(c["accepted"].integer(), 21);
    EXPECT_EQ(c["handled"].integer(), 21);
    EXPECT_EQ(c["active"].integer(), 3);
    EXPECT_EQ(c["reading"].integer(), 1);
    EXPECT_EQ(c["writing"].integer(), 1);
    EXPECT_EQ(c["waiting"].integer(), 1);
    EXPECT_EQ(c["h2_connections"].integer(), 6);
    EXPECT_EQ(c["h2_active"].integer(), 2);
    EXPECT_EQ(c["h2_streams"].integer(), 17);
    EXPECT_EQ(d["requests"]["total"].integer(), 41);
    EXPECT_EQ(d["requests"]["current"].integer(), 2);
    EXPECT_EQ(d["auth_basic"]["failures"].integer(), 12);
    EXPECT_EQ(d["auth_basic"]["no_credentials"].integer(), 7);
    EXPECT_EQ(d["auth_basic"]["user_not_found"].integer(), 2);
    EXPECT_EQ(d["auth_basic"]["password_mismatch"].integer(), 3);
    ASSERT_EQ(d["servers"].size(), 1u);
    const Json& srv = d["servers"][0];
    EXPECT_EQ(srv["name"].str(), "quote\"d\tname");
    EXPECT_EQ(srv["listen"][1].str(), "[::1]:8080");
    EXPECT_EQ(srv["requests"].integer(), 41);
    EXPECT_EQ(srv["h2_requests"].integer(), 15);
    EXPECT_EQ(srv["responses"]["2xx"].integer(), 30);
    EXPECT_EQ(srv["responses"]["4xx"].integer(), 10);
    EXPECT_EQ(srv["responses"]["5xx"].integer(), 1);
    EXPECT_EQ(srv["responses"]["1xx"].integer(), 0);
    EXPECT_EQ(srv["sent"].integer(), 90000);
    const Json& u = d["upstreams"][0];
    EXPECT_EQ(u["balancer"].str(), "round_robin");
    EXPECT_EQ(u["health_check"]["uri"].str(), "/health");
    EXPECT_EQ(u["health_check"]["fall"].integer(), 3);
    const Json& up = u["peers"][0];
    EXPECT_EQ(up["state"].str(), "up");
    EXPECT_TRUE(up["down_reason"].is_null());
    EXPECT_EQ(up["response_time_ms"].integer(), 10);
    EXPECT_TRUE(up["health_check"]["last_ok"].boolean());
    EXPECT_TRUE(up["health_check"]["reason"].is_null());
    const Json& down = u["peers"][1];
    EXPECT_EQ(down["state"].str(), "down");
    EXPECT_EQ(down["down_reason"].str(), "health_check");
    EXPECT_TRUE(down["response_time_ms"].is_null());
    EXPECT_EQ(down["health_check"]["reason"].str(), "connect() refused");
    EXPECT_EQ(down["health_check"]["last_change"].integer(), 1700000000050);
    EXPECT_EQ(down["health_check"]["failures"].integer(), 4);
    EXPECT_TRUE(d["vrrp"].is_array());
    EXPECT_EQ(d["vrrp"].size(), 0u);
}

TEST(StatusJsonTest, NoProcessTableNoCounters) {
    Snapshot s;
    s.version = "halo/1";
    auto j = Json::parse(render_json(s));
    ASSERT_TRUE(j);
    EXPECT_TRUE((*j)["processes"]["master"].is_null());
    EXPECT_EQ((*j)["processes"]["workers"].size(), 0u);
    EXPECT_FALSE((*j)["counting"].boolean());
    EXPECT_EQ((*j)["servers"].size(), 0u);
    EXPECT_EQ((*j)["upstreams"].size(), 0u);
}

TEST(StatusJsonTest, ControlCharactersAreEscaped) {
    std::string out;
    append_json_string(out, std::string("a\x01\x7f\\b\n", 6));
    EXPECT_EQ(out, "\"a\\u0001\x7f\\\\b\\n\"");
    auto j = Json::parse(out);
    ASSERT_TRUE(j);
    EXPECT_EQ(j->str(), std::string("a\x01\x7f\\b\n", 6));
}

TEST(StatusJsonTest, VrrpInstancesOnceReported) {
    Snapshot s = sample();
    VrrpView v;
    v.name = "VI_1";
    v.state = "MASTER";
    v.interface = "eth0";
    v.sync_group = "VG_1";
    v.vrid = 51;
    v.priority = 100;
    v.base_priority = 110;
    v.master = "172.17.0.2";
    v.transitions = 3;
    v.addresses_up = true;
    v.addresses = {"172.17.0.100/24"};
    s.vrrp.push_back(v);
    auto j = Json::parse(render_json(s));
    ASSERT_TRUE(j);
    EXPECT_EQ((*j)["vrrp"][0]["state"].str(), "MASTER");
    EXPECT_EQ((*j)["vrrp"][0]["vrid"].integer(), 51);
    EXPECT_EQ((*j)["vrrp"][0]["sync_group"].str(), "VG_1");
    EXPECT_EQ((*j)["vrrp"][0]["addresses"][0].str(), "172.17.0.100/24");
    EXPECT_EQ((*j)["vrrp"][0]["base_priority"].integer(), 110);
    EXPECT_EQ((*j)["vrrp"][0]["master"].str(), "172.17.0.2");
    EXPECT_EQ((*j)["vrrp"][0]["transitions"].integer(), 3);
    EXPECT_TRUE((*j)["vrrp"][0]["addresses_up"].boolean());
    auto prom = PromText::parse(render_prometheus(s));
    ASSERT_TRUE(prom);
    EXPECT_EQ(prom->value("halo_vrrp_instance_state", {{"instance", "VI_1"}, {"state", "MASTER"}}),
              1.0);
    EXPECT_EQ(prom->value("halo_vrrp_instance_state", {{"instance", "VI_1"}, {"state", "BACKUP"}}),
              0.0);
    EXPECT_EQ(prom->value("halo_vrrp_instance_priority", {{"instance", "VI_1"}}), 100.0);
    EXPECT_EQ(prom->value("halo_vrrp_instance_base_priority", {{"instance", "VI_1"}}), 110.0);
    EXPECT_EQ(prom->value("halo_vrrp_instance_transitions_total", {{"instance", "VI_1"}}), 3.0);
    EXPECT_EQ(prom->value("halo_vrrp_instance_addresses_up", {{"instance", "VI_1"}}), 1.0);
}

TEST(StatusJsonTest, Anycast) {
    Snapshot s = sample();
    auto j = Json::parse(render_json(s));
    ASSERT_TRUE(j);
    EXPECT_EQ((*j)["anycast"].size(), 0u);
    EXPECT_EQ(render_prometheus(s).find("halo_anycast"), std::string::npos);
    s.anycast.push_back(
        AnycastView{"WITHDRAWN", "upstream app", "anycast0", {"10.77.0.200/32"}, 4, 1700000000000});
    j = Json::parse(render_json(s));
    ASSERT_TRUE(j);
    const Json& a = (*j)["anycast"][0];
    EXPECT_EQ(a["state"].str(), "WITHDRAWN");
    EXPECT_EQ(a["reason"].str(), "upstream app");
    EXPECT_EQ(a["interface"].str(), "anycast0");
    EXPECT_EQ(a["addresses"][0].str(), "10.77.0.200/32");
    EXPECT_EQ(a["transitions"].integer(), 4);
    EXPECT_EQ(a["last_change"].integer(), 1700000000000);
    auto prom = PromText::parse(render_prometheus(s));
    ASSERT_TRUE(prom);
    EXPECT_EQ(prom->value("halo_anycast_announced", {{"interface", "anycast0"}}), 0.0);
    EXPECT_EQ(prom->value("halo_anycast_transitions_total", {{"interface", "anycast0"}}), 4.0);
}

TEST(StatusJsonTest, LimitConnZones) {
    Snapshot s = sample();
    s.limit_conns.push_back(LimitConnView{"perip", "http", 120, 7, 0, 3});
    s.limit_conns.push_back(LimitConnView{"addr", "stream", 5, 0, 2, 1});
    auto j = Json::parse(render_json(s));
    ASSERT_TRUE(j);
    const Json& z = (*j)["limit_conns"];
    ASSERT_EQ(z.size(), 2u);
    EXPECT_EQ(z[0]["zone"].str(), "perip");
    EXPECT_EQ(z[0]["kind"].str(), "http");
    EXPECT_EQ(z[0]["passed"].integer(), 120);
    EXPECT_EQ(z[0]["rejected"].integer(), 7);
    EXPECT_EQ(z[1]["rejected_dry_run"].integer(), 2);
    EXPECT_EQ(z[1]["keys"].integer(), 1);
    std::string err;
    auto prom = PromText::parse(render_prometheus(s), &err);
    ASSERT_TRUE(prom) << err;
    EXPECT_EQ(prom->type("halo_limit_conn_rejected_total"), "counter");
    EXPECT_EQ(prom->type("halo_limit_conn_keys"), "gauge");
    EXPECT_EQ(prom->value("halo_limit_conn_passed_total", {{"zone", "perip"}, {"kind", "http"}}),
              120.0);
    EXPECT_EQ(prom->value("halo_limit_conn_rejected_total", {{"zone", "perip"}}), 7.0);
    EXPECT_EQ(prom->value("halo_limit_conn_rejected_dry_run_total",
                          {{"zone", "addr"}, {"kind", "stream"}}),
              2.0);
    EXPECT_EQ(prom->value("halo_limit_conn_keys", {{"zone", "addr"}}), 1.0);
}

TEST(StatusJsonTest, LimitReqZones) {
    Snapshot s = sample();
    s.limit_reqs.push_back(LimitReqView{"perip", 120, 9, 7, 0, 0, 3});
    s.limit_reqs.push_back(LimitReqView{"dry", 5, 0, 0, 4, 2, 1});
    auto j = Json::parse(render_json(s));
    ASSERT_TRUE(j);
    const Json& z = (*j)["limit_reqs"];
    ASSERT_EQ(z.size(), 2u);
    EXPECT_EQ(z[0]["zone"].str(), "perip");
    EXPECT_EQ(z[0]["passed"].integer(), 120);
    EXPECT_EQ(z[0]["delayed"].integer(), 9);
    EXPECT_EQ(z[0]["rejected"].integer(), 7);
    EXPECT_EQ(z[1]["delayed_dry_run"].integer(), 4);
    EXPECT_EQ(z[1]["rejected_dry_run"].integer(), 2);
    EXPECT_EQ(z[1]["keys"].integer(), 1);
    std::string err;
    auto prom = PromText::parse(render_prometheus(s), &err);
    ASSERT_TRUE(prom) << err;
    EXPECT_EQ(prom->type("halo_limit_req_rejected_total"), "counter");
    EXPECT_EQ(prom->type("halo_limit_req_keys"), "gauge");
    EXPECT_EQ(prom->value("halo_limit_req_passed_total", {{"zone", "perip"}}), 120.0);
    EXPECT_EQ(prom->value("halo_limit_req_delayed_total", {{"zone", "perip"}}), 9.0);
    EXPECT_EQ(prom->value("halo_limit_req_rejected_total", {{"zone", "perip"}}), 7.0);
    EXPECT_EQ(prom->value("halo_limit_req_delayed_dry_run_total", {{"zone", "dry"}}), 4.0);
    EXPECT_EQ(prom->value("halo_limit_req_rejected_dry_run_total", {{"zone", "dry"}}), 2.0);
    EXPECT_EQ(prom->value("halo_limit_req_keys", {{"zone", "dry"}}), 1.0);
}

TEST(StatusPrometheusTest, StrictTextWithEveryNumber) {
    std::string text = render_prometheus(sample());
    std::string err;
    auto p = PromText::parse(text, &err);
    ASSERT_TRUE(p) << err << "\n" << text;
    EXPECT_EQ(p->value("halo_info", {{"version", "halo/1.2.3"}}), 1.0);
    EXPECT_EQ(p->type("halo_http_requests_total"), "counter");
    EXPECT_EQ(p->value("halo_http_requests_total"), 41.0);
    EXPECT_EQ(p->sum("halo_worker_http_requests_total"), 41.0);
    EXPECT_EQ(p->value("halo_worker_http_requests_total", {{"pid", "201"}, {"index", "1"}}), 21.0);
    EXPECT_EQ(p->type("halo_connections_active"), "gauge");
    EXPECT_EQ(p->value("halo_connections_accepted_total"), 21.0);
    EXPECT_EQ(p->value("halo_connections_waiting"), 1.0);
    EXPECT_EQ(p->value("halo_reloads_total"), 1.0);
    EXPECT_EQ(p->value("halo_process_start_time_seconds", {{"type", "master"}}), 1700000000.0);
    EXPECT_EQ(p->value("halo_process_respawns_total", {{"type", "worker"}, {"index", "1"}}), 1.0);
    // The escaped server name comes back as it was.
    EXPECT_EQ(p->value("halo_server_requests_total", {{"server", "quote\"d\tname"}}), 41.0);
    EXPECT_EQ(p->value("halo_server_responses_total",
                       {{"listen", "127.0.0.1:8080,[::1]:8080"}, {"code", "4xx"}}),
              10.0);
    EXPECT_EQ(p->value("halo_server_sent_bytes_total"), 90000.0);
    // HTTP/2: the connections and streams of all workers, the requests of each server block.
    EXPECT_EQ(p->type("halo_h2_connections_total"), "counter");
    EXPECT_EQ(p->value("halo_h2_connections_total"), 6.0);
    EXPECT_EQ(p->type("halo_h2_connections_active"), "gauge");
    EXPECT_EQ(p->value("halo_h2_connections_active"), 2.0);
    EXPECT_EQ(p->type("halo_h2_streams_total"), "counter");
    EXPECT_EQ(p->value("halo_h2_streams_total"), 17.0);
    EXPECT_EQ(p->type("halo_auth_basic_failures_total"), "counter");
    EXPECT_EQ(p->value("halo_auth_basic_failures_total", {{"reason", "no_credentials"}}), 7.0);
    EXPECT_EQ(p->value("halo_auth_basic_failures_total", {{"reason", "user_not_found"}}), 2.0);
    EXPECT_EQ(p->value("halo_auth_basic_failures_total", {{"reason", "password_mismatch"}}), 3.0);
    EXPECT_EQ(p->type("halo_server_h2_requests_total"), "counter");
    EXPECT_EQ(p->value("halo_server_h2_requests_total",
                       {{"server", "quote\"d\tname"}, {"listen", "127.0.0.1:8080,[::1]:8080"}}),
              15.0);
    std::map<std::string, std::string> down = {{"upstream", "app"}, {"peer", "127.0.0.1:8082"}};
    EXPECT_EQ(p->value("halo_upstream_peer_up", down), 0.0);
    EXPECT_EQ(p->value("halo_upstream_peer_up", {{"peer", "127.0.0.1:8081"}}), 1.0);
    auto state = down;
    state["state"] = "down";
    EXPECT_EQ(p->value("halo_upstream_peer_state", state), 1.0);
    EXPECT_EQ(p->sum("halo_upstream_peer_state", down), 1.0);  // one state at a time
    EXPECT_EQ(p->value("halo_upstream_peer_failures_total", down), 2.0);
    EXPECT_EQ(p->value("halo_upstream_peer_health_check_failures_total", down), 4.0);
    EXPECT_DOUBLE_EQ(*p->value("halo_upstream_peer_health_last_change_timestamp_seconds", down),
                     1700000000.05);
    EXPECT_DOUBLE_EQ(
        *p->value("halo_upstream_peer_response_seconds_total", {{"peer", "127.0.0.1:8081"}}), 0.05);
    EXPECT_TRUE(p->find("halo_vrrp_instance_state").empty());
    // Every name has the prefix.
    for (const auto& s : p->samples()) {
        EXPECT_EQ(s.name.rfind("halo_", 0), 0u) << s.name;
    }
}

/// A stream server on a TCP and a UDP address, and an upstream of the stream block named as the
/// http one (the two blocks have their own name spaces).
Snapshot stream_sample() {
    Snapshot s = sample();
    StreamServerView v;
    v.counted = true;
    StreamListenView tcp;
    tcp.address = "127.0.0.1:5000";
    tcp.protocol = "tcp";
    tcp.counts.connections = 7;
    tcp.counts.active = 1;
    tcp.counts.sessions = 6;
    tcp.counts.statuses[0] = 4;
    tcp.counts.statuses[1] = 1;
    tcp.counts.statuses[2] = 1;
    tcp.counts.received = 100;
    tcp.counts.sent = 300;
    StreamListenView udp;
    udp.address = "127.0.0.1:5353";
    udp.protocol = "udp";
    udp.counts.connections = 2;
    udp.counts.sessions = 2;
    udp.counts.statuses[0] = 2;
    udp.counts.received = 20;
    udp.counts.sent = 40;
    v.listens = {tcp, udp};
    v.counts.add(tcp.counts);
    v.counts.add(udp.counts);
    s.stream_servers.push_back(v);
    UpstreamView u = s.upstreams[0];
    u.stream = true;
    u.check = CheckView{"tcp", "", 1000, 1000, 1, 1};
    u.peers.resize(1);
    u.peers[0].requests = 9;
    s.upstreams.push_back(u);
    return s;
}

TEST(StatusJsonTest, StreamServersAndStreamUpstreams) {
    std::string text = render_json(stream_sample());
    std::string err;
    auto j = Json::parse(text, &err);
    ASSERT_TRUE(j) << err << "\n" << text;
    const Json& servers = (*j)["stream_servers"];
    ASSERT_EQ(servers.size(), 1u) << text;
    const Json& srv = servers[0];
    ASSERT_EQ(srv["listen"].size(), 2u);
    EXPECT_EQ(srv["listen"][0].str(), "127.0.0.1:5000");
    EXPECT_EQ(srv["listen"][1].str(), "127.0.0.1:5353 udp");
    EXPECT_EQ(srv["connections"].integer(), 9);
    EXPECT_EQ(srv["active"].integer(), 1);
    EXPECT_EQ(srv["sessions"]["total"].integer(), 8);
    EXPECT_EQ(srv["sessions"]["2xx"].integer(), 6);
    EXPECT_EQ(srv["sessions"]["4xx"].integer(), 1);
    EXPECT_EQ(srv["sessions"]["5xx"].integer(), 1);
    EXPECT_EQ(srv["received"].integer(), 120);
    EXPECT_EQ(srv["sent"].integer(), 340);
    const Json& udp = srv["listens"][1];
    EXPECT_EQ(udp["address"].str(), "127.0.0.1:5353");
    EXPECT_EQ(udp["protocol"].str(), "udp");
    EXPECT_EQ(udp["connections"].integer(), 2);
    EXPECT_EQ(udp["sessions"]["2xx"].integer(), 2);
    EXPECT_EQ(udp["sent"].integer(), 40);
    EXPECT_EQ(srv["listens"][0]["protocol"].str(), "tcp");
    // Both groups named "app", told apart by their block; a tcp check has no uri.
    const Json& ups = (*j)["upstreams"];
    ASSERT_EQ(ups.size(), 2u);
    EXPECT_EQ(ups[0]["block"].str(), "http");
    EXPECT_EQ(ups[1]["block"].str(), "stream");
    EXPECT_EQ(ups[1]["name"].str(), "app");
    EXPECT_FALSE(ups[1]["health_check"].has("uri"));
    EXPECT_EQ(ups[1]["peers"][0]["requests"].integer(), 9);
    // Without a stream block: an empty list.
    auto plain = Json::parse(render_json(sample()));
    ASSERT_TRUE(plain);
    EXPECT_TRUE((*plain)["stream_servers"].is_array());
    EXPECT_EQ((*plain)["stream_servers"].size(), 0u);
}

TEST(StatusPrometheusTest, StreamServerFamiliesAndTheBlockLabel) {
    std::string text = render_prometheus(stream_sample());
    std::string err;
    auto p = PromText::parse(text, &err);
    ASSERT_TRUE(p) << err << "\n" << text;
    std::map<std::string, std::string> tcp = {{"server", "127.0.0.1:5000,127.0.0.1:5353 udp"},
                                              {"listen", "127.0.0.1:5000"},
                                              {"protocol", "tcp"}};
    std::map<std::string, std::string> udp = {{"listen", "127.0.0.1:5353"}, {"protocol", "udp"}};
    EXPECT_EQ(p->type("halo_stream_server_connections_total"), "counter");
    EXPECT_EQ(p->value("halo_stream_server_connections_total", tcp), 7.0);
    EXPECT_EQ(p->value("halo_stream_server_connections_total", udp), 2.0);
    EXPECT_EQ(p->type("halo_stream_server_connections_active"), "gauge");
    EXPECT_EQ(p->value("halo_stream_server_connections_active", tcp), 1.0);
    EXPECT_EQ(p->type("halo_stream_server_sessions_total"), "counter");
    auto code = [](std::map<std::string, std::string> l, const char* c) {
        l["code"] = c;
        return l;
    };
    EXPECT_EQ(p->value("halo_stream_server_sessions_total", code(tcp, "2xx")), 4.0);
    EXPECT_EQ(p->value("halo_stream_server_sessions_total", code(tcp, "4xx")), 1.0);
    EXPECT_EQ(p->value("halo_stream_server_sessions_total", code(tcp, "5xx")), 1.0);
    EXPECT_EQ(p->sum("halo_stream_server_sessions_total", udp), 2.0);
    EXPECT_EQ(p->value("halo_stream_server_received_bytes_total", udp), 20.0);
    EXPECT_EQ(p->value("halo_stream_server_sent_bytes_total", tcp), 300.0);
    // The same upstream and peer in both blocks: two series, apart by `block`.
    std::map<std::string, std::string> peer = {{"upstream", "app"}, {"peer", "127.0.0.1:8081"}};
    EXPECT_EQ(p->find("halo_upstream_peer_requests_total", peer).size(), 2u);
    peer["block"] = "stream";
    EXPECT_EQ(p->value("halo_upstream_peer_requests_total", peer), 9.0);
    peer["block"] = "http";
    EXPECT_EQ(p->value("halo_upstream_peer_requests_total", peer), 5.0);
}

TEST(StatusPrometheusTest, LabelValuesAreEscaped) {
    std::string out;
    append_label_value(out, "a\\b\"c\nd");
    EXPECT_EQ(out, "\"a\\\\b\\\"c\\nd\"");
}

TEST(StatusStubTest, NginxTextByteForByte) {
    Connections c{12, 12, 34, 3, 1, 1, 1};
    EXPECT_EQ(render_stub_status(c),
              "Active connections: 3 \nserver accepts handled requests\n 12 12 34 \n"
              "Reading: 1 Writing: 1 Waiting: 1 \n");
}

TEST(StatusFormatTest, Names) {
    EXPECT_EQ(parse_format("json"), Format::kJson);
    EXPECT_EQ(parse_format("prometheus"), Format::kPrometheus);
    EXPECT_EQ(parse_format("html"), Format::kHtml);
    EXPECT_FALSE(parse_format("JSON"));
    EXPECT_FALSE(parse_format(""));
    EXPECT_EQ(content_type(Format::kPrometheus), "text/plain; version=0.0.4; charset=utf-8");
}

TEST(StatusHtmlTest, SelfContainedAndFetchesTheJson) {
    std::string_view page = html_page();
    EXPECT_EQ(page.rfind("<!DOCTYPE html>", 0), 0u);
    EXPECT_NE(page.find("?format=json"), std::string_view::npos);
    EXPECT_NE(page.find("setTimeout(refresh"), std::string_view::npos);
    // Nothing from elsewhere: no external script, style, font or image.
    EXPECT_EQ(page.find("src="), std::string_view::npos);
    EXPECT_EQ(page.find("href="), std::string_view::npos);
    EXPECT_EQ(page.find("http://"), std::string_view::npos);
    EXPECT_EQ(page.find("https://"), std::string_view::npos);
    EXPECT_EQ(page.find("innerHTML"), std::string_view::npos);  // data goes in as text only
    // The HTTP/2 numbers have their cells, filled from the JSON's names.
    for (std::string_view k : {"h2_active", "h2_connections", "h2_streams"}) {
        EXPECT_NE(page.find("id=\"conn-" + std::string(k) + "\""), std::string_view::npos) << k;
        EXPECT_NE(page.find("\"" + std::string(k) + "\""), std::string_view::npos) << k;
    }
    EXPECT_NE(page.find("b.h2_requests"), std::string_view::npos);
    // auth_basic's refusals, from the JSON's "auth_basic" object.
    for (std::string_view k :
         {"failures", "no_credentials", "user_not_found", "password_mismatch"}) {
        EXPECT_NE(page.find("id=\"auth-" + std::string(k) + "\""), std::string_view::npos) << k;
        EXPECT_NE(page.find("\"" + std::string(k) + "\""), std::string_view::npos) << k;
    }
    EXPECT_NE(page.find("s.auth_basic[k]"), std::string_view::npos);
}

}  // namespace
}  // namespace mod::status
