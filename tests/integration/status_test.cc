// The status page through the real binary, with two workers (reuseport: the kernel spreads
// the connections over both) and two test backends behind a health-checked upstream:
// the JSON and the Prometheus text are parsed and every number checked against the traffic
// the test sent (totals add up across the workers, per server block by status class, per
// upstream peer against what each backend saw), stub_status's numbers for connections held
// in each state, a stopped backend shown down by the health check, and the process list
// (master, workers, the healthcheck helper) against the processes that really run.
//
// Counters are updated by the workers as requests end, a moment after the client has its
// response: every check polls (wait_until) until the page shows the traffic, then asserts on
// that one snapshot. Status requests are counted too (they are requests): the test counts
// them to know the exact totals. Halo::start() itself connects once to each of the two ports
// to see it accept (kHarnessProbes): start() waits until the workers accepted those too.
#include <signal.h>

#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "support/backend.h"
#include "support/harness.h"
#include "support/json.h"
#include "support/prometheus.h"

namespace halo_test {
namespace {

constexpr std::string_view kConf = R"(
daemon off;
worker_processes 2;
error_log logs/error.log info;

events {
    worker_connections 256;
}

http {
    upstream app {
        server %%B0%% max_fails=0;
        server %%B1%% max_fails=0;
        health_check type=http uri=/health interval=100ms timeout=1s fall=2 rise=1;
    }

    server {
        listen 127.0.0.1:%%PORT_0%% reuseport;
        server_name traffic;
        location / { return 200 "ok\n"; }
        location /missing/ { return 404; }
        location /app/ { proxy_pass http://app; }
    }

    server {
        listen 127.0.0.1:%%PORT_1%% reuseport;
        server_name status;
        location = /status { status; }
        location = /metrics { status format=prometheus; }
        location = /basic_status { stub_status; }
    }
}
)";

std::string replace_all(std::string text, const std::string& key, const std::string& value) {
    for (size_t at = 0; (at = text.find(key, at)) != std::string::npos; at += value.size()) {
        text.replace(at, key.size(), value);
    }
    return text;
}

/// Requests a backend answered that were not health checks.
int client_requests(const Backend& b) {
    int n = 0;
    for (const auto& r : b.seen()) {
        n += r.target != "/health" ? 1 : 0;
    }
    return n;
}

const Json* find_named(const Json& list, const std::string& key, const std::string& value) {
    for (const Json& item : list.items()) {
        if (item[key].str() == value) {
            return &item;
        }
    }
    return nullptr;
}

class StatusTest : public ::testing::Test {
  protected:
    void SetUp() override {
        for (const char* m :
             {"http_status", "http_healthcheck", "http_proxy", "http_upstream", "http_rewrite"}) {
            if (!halo_has_module(m)) {
                GTEST_SKIP() << "the " << m << " module is not compiled in";
            }
        }
    }

    /// Starts halo and waits until the harness's probe connections are accepted (and
    /// closed): from there on, every connection accepted is one of the test's.
    void start() {
        std::string conf(kConf);
        conf = replace_all(conf, "%%B0%%", b0_.address());
        conf = replace_all(conf, "%%B1%%", b1_.address());
        halo_.write_conf(conf);
        ASSERT_TRUE(halo_.start());
        ASSERT_EQ(halo_.wait_workers(3).size(), 3u) << halo_.error_log();
        std::optional<Json> j;
        ASSERT_TRUE(wait_until([&] {
            j = json();
            return j &&
                   (*j)["connections"]["accepted"].integer() == kHarnessProbes + status_requests_ &&
                   (*j)["connections"]["active"].integer() == 1;
        })) << (j ? (*j)["connections"]["accepted"].integer() : -1);
        EXPECT_EQ((*j)["requests"]["total"].integer(), status_requests_);  // probes send nothing
    }
    static constexpr int64_t kHarnessProbes = 2;

    /// GET on the status server (counted in `status_requests_` when it got an answer).
    std::optional<HttpResponse> status_get(const std::string& path) {
        auto r = http_get(halo_.port(1), path);
        if (r) {
            status_requests_++;
        }
        return r;
    }
    std::optional<Json> json() {
        auto r = status_get("/status");
        if (!r || r->status != 200) {
            return std::nullopt;
        }
        std::string err;
        auto j = Json::parse(r->body, &err);
        EXPECT_TRUE(j) << err << "\n" << r->body;
        return j;
    }
    std::optional<PromText> metrics() {
        auto r = status_get("/metrics");
        if (!r || r->status != 200) {
            return std::nullopt;
        }
        std::string err;
        auto p = PromText::parse(r->body, &err);
        EXPECT_TRUE(p) << err << "\n" << r->body;
        return p;
    }

    /// 20 answered 200 by the server, 7 answered 404, 10 proxied to the backends: 37 requests
    /// on as many connections, 30 of them 2xx.
    void send_traffic() {
        for (int i = 0; i < 20; i++) {
            ASSERT_EQ(get_body(halo_.port(0), "/ok/" + std::to_string(i)), "ok\n");
        }
        for (int i = 0; i < 7; i++) {
            auto r = http_get(halo_.port(0), "/missing/" + std::to_string(i));
            ASSERT_TRUE(r);
            ASSERT_EQ(r->status, 404);
        }
        for (int i = 0; i < 10; i++) {
            auto r = http_get(halo_.port(0), "/app/" + std::to_string(i));
            ASSERT_TRUE(r);
            ASSERT_EQ(r->status, 200);
        }
    }
    static constexpr int kTraffic = 37;

    /// Polls the JSON until the traffic is all counted and only the status request itself is
    /// open; that snapshot.
    std::optional<Json> settled_json() {
        std::optional<Json> last;
        wait_until([&] {
            last = json();
            if (!last) {
                return false;
            }
            const Json* t = find_named((*last)["servers"], "name", "traffic");
            const Json& c = (*last)["connections"];
            int64_t answered = 0;
            for (const Json& p : (*last)["upstreams"][0]["peers"].items()) {
                answered += p["responses"].integer() + p["failures"].integer();
            }
            return t != nullptr && (*t)["requests"].integer() == kTraffic && answered == 10 &&
                   c["active"].integer() == 1 && c["writing"].integer() == 1;
        });
        return last;
    }

    /// The pid of the healthcheck helper: the child of the master that is not a worker.
    std::set<pid_t> children() {
        auto v = halo_.workers();
        return {v.begin(), v.end()};
    }

    Backend b0_{"b0"};
    Backend b1_{"b1"};
    Halo halo_;
    int status_requests_ = 0;
    const int64_t accepted0_ = kHarnessProbes;
};

TEST_F(StatusTest, JsonAddsUpAcrossTwoWorkers) {
    start();
    send_traffic();
    auto j = settled_json();
    ASSERT_TRUE(j) << halo_.error_log();
    const Json& d = *j;
    EXPECT_TRUE(d["counting"].boolean());
    EXPECT_EQ(d["version"].str().rfind("halo/", 0), 0u);

    // Connections and requests: the traffic's and the status requests', one per connection.
    const Json& c = d["connections"];
    int64_t total = kTraffic + status_requests_;
    EXPECT_EQ(d["requests"]["total"].integer(), total);
    EXPECT_EQ(c["accepted"].integer(), accepted0_ + total);
    EXPECT_EQ(c["handled"].integer(), accepted0_ + total);
    EXPECT_EQ(c["active"].integer(), 1);  // this status request
    EXPECT_EQ(c["reading"].integer(), 0);
    EXPECT_EQ(c["writing"].integer(), 1);
    EXPECT_EQ(c["waiting"].integer(), 0);

    // Processes: the master, two workers and the helper, as they run.
    const Json& p = d["processes"];
    EXPECT_EQ(p["master"]["pid"].integer(), halo_.master_pid());
    EXPECT_EQ(p["master"]["type"].str(), "master");
    EXPECT_EQ(p["master"]["reloads"].integer(), 0);
    std::set<pid_t> listed;
    ASSERT_EQ(p["workers"].size(), 2u);
    int64_t worker_sum = 0;
    std::set<int64_t> indexes;
    for (const Json& w : p["workers"].items()) {
        listed.insert(static_cast<pid_t>(w["pid"].integer()));
        indexes.insert(w["index"].integer());
        EXPECT_EQ(w["respawns"].integer(), 0);
        EXPECT_FALSE(w["retiring"].boolean());
        EXPECT_GE(w["uptime"].number(), 0);
        EXPECT_LE(w["started"].integer(), d["time"].integer());
        // Both workers served: the kernel spread 40-odd connections over their sockets.
        EXPECT_GT(w["requests"].integer(), 0) << "worker " << w["pid"].integer();
        worker_sum += w["requests"].integer();
    }
    EXPECT_EQ(worker_sum, total);  // the workers' own counts add up to the total
    EXPECT_EQ(indexes, (std::set<int64_t>{0, 1}));
    ASSERT_EQ(p["helpers"].size(), 1u);
    EXPECT_EQ(p["helpers"][0]["name"].str(), "healthcheck");
    listed.insert(static_cast<pid_t>(p["helpers"][0]["pid"].integer()));
    EXPECT_EQ(listed, children());

    // Server blocks: the traffic by status class; the status server's own requests.
    const Json* t = find_named(d["servers"], "name", "traffic");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ((*t)["listen"][0].str(), "127.0.0.1:" + std::to_string(halo_.port(0)));
    EXPECT_EQ((*t)["requests"].integer(), kTraffic);
    EXPECT_EQ((*t)["responses"]["2xx"].integer(), 30);
    EXPECT_EQ((*t)["responses"]["4xx"].integer(), 7);
    EXPECT_EQ((*t)["responses"]["1xx"].integer() + (*t)["responses"]["3xx"].integer() +
                  (*t)["responses"]["5xx"].integer(),
              0);
    EXPECT_GT((*t)["received"].integer(), kTraffic * 30);  // heads of about 50 bytes
    EXPECT_GT((*t)["sent"].integer(), kTraffic * 100);
    ASSERT_NE(find_named(d["servers"], "name", "status"), nullptr);

    // The upstream peers, against what each backend saw.
    const Json& u = d["upstreams"][0];
    EXPECT_EQ(u["name"].str(), "app");
    EXPECT_EQ(u["health_check"]["uri"].str(), "/health");
    EXPECT_EQ(u["health_check"]["interval_ms"].integer(), 100);
    int64_t peer_sum = 0;
    for (Backend* b : {&b0_, &b1_}) {
        const Json* peer = find_named(u["peers"], "server", b->address());
        ASSERT_NE(peer, nullptr) << b->address();
        EXPECT_EQ((*peer)["state"].str(), "up");
        EXPECT_TRUE((*peer)["down_reason"].is_null());
        EXPECT_EQ((*peer)["requests"].integer(), client_requests(*b)) << b->address();
        EXPECT_EQ((*peer)["responses"].integer(), (*peer)["requests"].integer());
        EXPECT_EQ((*peer)["failures"].integer(), 0);
        EXPECT_EQ((*peer)["active"].integer(), 0);
        EXPECT_FALSE((*peer)["response_time_ms"].is_null());
        const Json& hc = (*peer)["health_check"];
        EXPECT_TRUE(hc["last_ok"].boolean());
        EXPECT_EQ(hc["last_status"].integer(), 200);
        EXPECT_GT(hc["checks"].integer(), 0);
        EXPECT_EQ(hc["failures"].integer(), 0);
        peer_sum += (*peer)["requests"].integer();
    }
    EXPECT_EQ(peer_sum, 10);
    // The place for VRRP instances, empty until that module reports them.
    EXPECT_TRUE(d["vrrp"].is_array());
    EXPECT_EQ(d["vrrp"].size(), 0u);
}

TEST_F(StatusTest, PrometheusAddsUpAcrossTwoWorkers) {
    start();
    send_traffic();
    ASSERT_TRUE(settled_json()) << halo_.error_log();
    // (the previous status connection may not be closed yet in its worker: poll)
    std::optional<PromText> m;
    ASSERT_TRUE(wait_until([&] {
        m = metrics();
        return m && m->value("halo_connections_active") == 1.0 &&
               m->value("halo_connections_writing") == 1.0;
    }));
    double total = kTraffic + status_requests_;
    EXPECT_EQ(m->type("halo_http_requests_total"), "counter");
    EXPECT_EQ(m->value("halo_http_requests_total"), total);
    auto per_worker = m->find("halo_worker_http_requests_total");
    ASSERT_EQ(per_worker.size(), 2u);
    EXPECT_EQ(m->sum("halo_worker_http_requests_total"), total);
    for (const PromSample* s : per_worker) {
        EXPECT_GT(s->value, 0) << "worker " << s->labels.at("pid");
    }
    EXPECT_EQ(m->value("halo_connections_accepted_total"), accepted0_ + total);
    EXPECT_EQ(m->value("halo_connections_handled_total"), accepted0_ + total);
    EXPECT_EQ(m->value("halo_connections_active"), 1.0);
    EXPECT_EQ(m->value("halo_connections_writing"), 1.0);
    EXPECT_EQ(m->value("halo_connections_waiting"), 0.0);
    EXPECT_EQ(m->type("halo_connections_active"), "gauge");
    std::map<std::string, std::string> traffic = {{"server", "traffic"}};
    EXPECT_EQ(m->value("halo_server_requests_total", traffic), kTraffic);
    traffic["code"] = "2xx";
    EXPECT_EQ(m->value("halo_server_responses_total", traffic), 30.0);
    traffic["code"] = "4xx";
    EXPECT_EQ(m->value("halo_server_responses_total", traffic), 7.0);
    EXPECT_EQ(m->sum("halo_server_responses_total", {{"server", "traffic"}}), kTraffic);
    for (Backend* b : {&b0_, &b1_}) {
        std::map<std::string, std::string> peer = {{"upstream", "app"}, {"peer", b->address()}};
        EXPECT_EQ(m->value("halo_upstream_peer_requests_total", peer), client_requests(*b));
        EXPECT_EQ(m->value("halo_upstream_peer_up", peer), 1.0);
        EXPECT_GT(*m->value("halo_upstream_peer_health_checks_total", peer), 0);
    }
    EXPECT_EQ(m->sum("halo_upstream_peer_requests_total"), 10.0);
    EXPECT_EQ(m->value("halo_process_start_time_seconds", {{"type", "master"}}).has_value(), true);
    EXPECT_EQ(m->find("halo_process_respawns_total", {{"type", "helper"}}).size(), 1u);
    for (const PromSample& s : m->samples()) {
        EXPECT_EQ(s.name.rfind("halo_", 0), 0u) << s.name;
    }
}

/// nginx's stub_status text, with connections held open in each state.
TEST_F(StatusTest, StubStatusCountsConnectionsByState) {
    start();
    struct Stub {
        int64_t active, accepts, handled, requests, reading, writing, waiting;
    };
    auto stub = [&]() -> std::optional<Stub> {
        auto r = status_get("/basic_status");
        if (!r) {
            return std::nullopt;
        }
        static const std::regex re(
            "Active connections: (\\d+) \nserver accepts handled requests\n (\\d+) (\\d+) "
            "(\\d+) \nReading: (\\d+) Writing: (\\d+) Waiting: (\\d+) \n");
        std::smatch m;
        EXPECT_TRUE(std::regex_match(r->body, m, re)) << r->body;
        EXPECT_EQ(r->header("content-type"), "text/plain");
        if (m.size() != 8) {
            return std::nullopt;
        }
        return Stub{std::stoll(m[1]), std::stoll(m[2]), std::stoll(m[3]), std::stoll(m[4]),
                    std::stoll(m[5]), std::stoll(m[6]), std::stoll(m[7])};
    };
    // One idle keepalive connection after a request, one in the middle of a request head,
    // one that sent nothing yet.
    HttpConnection idle;
    ASSERT_TRUE(idle.connect(halo_.port(0)));
    ASSERT_TRUE(idle.send(get_request("/", "localhost", true)));
    ASSERT_TRUE(idle.read_response());
    HttpConnection partial;
    ASSERT_TRUE(partial.connect(halo_.port(0)));
    ASSERT_TRUE(partial.send("GET / HTTP/1.1\r\nHo"));
    HttpConnection silent;
    ASSERT_TRUE(silent.connect(halo_.port(0)));
    std::optional<Stub> s;
    ASSERT_TRUE(wait_until([&] {
        s = stub();
        return s && s->active == 4 && s->reading == 1 && s->writing == 1 && s->waiting == 2;
    })) << (s ? "active " + std::to_string(s->active) + " reading " + std::to_string(s->reading) +
                    " writing " + std::to_string(s->writing) + " waiting " +
                    std::to_string(s->waiting)
              : "no answer");
    // Accepted: the three and every status connection; requests: the idle one's, the partial
    // head (counted from its first byte, as nginx), every status request.
    EXPECT_EQ(s->accepts, accepted0_ + 3 + status_requests_);
    EXPECT_EQ(s->handled, s->accepts);
    EXPECT_EQ(s->requests, 2 + status_requests_);

    idle.close();
    partial.close();
    silent.close();
    ASSERT_TRUE(wait_until([&] {
        s = stub();
        return s && s->active == 1 && s->reading == 0 && s->writing == 1 && s->waiting == 0;
    }));
    EXPECT_EQ(s->accepts, accepted0_ + 3 + status_requests_);
    EXPECT_EQ(s->requests, 2 + status_requests_);
}

TEST_F(StatusTest, StoppedBackendShownDownByTheHealthCheck) {
    start();
    std::string addr = b1_.address();
    auto peer_of = [&](const Json& d) {
        return find_named(d["upstreams"][0]["peers"], "server", addr);
    };
    std::optional<Json> j;
    ASSERT_TRUE(wait_until([&] {
        j = json();
        return j && peer_of(*j) && (*peer_of(*j))["health_check"]["checks"].integer() > 0;
    }));
    EXPECT_EQ((*peer_of(*j))["state"].str(), "up");

    b1_.stop();
    ASSERT_TRUE(wait_until([&] {
        j = json();
        return j && peer_of(*j) && (*peer_of(*j))["state"].str() == "down";
    })) << halo_.error_log();
    const Json& p = *peer_of(*j);
    EXPECT_EQ(p["down_reason"].str(), "health_check");
    EXPECT_FALSE(p["health_check"]["last_ok"].boolean());
    EXPECT_EQ(p["health_check"]["reason"].str(), "connect() refused");
    EXPECT_GE(p["health_check"]["streak"].integer(), 2);  // fall=2
    EXPECT_GT(p["health_check"]["failures"].integer(), 0);
    EXPECT_GT(p["health_check"]["last_change"].integer(), 0);
    EXPECT_LE(p["health_check"]["last_change"].integer(), (*j)["time"].integer());
    const Json* other = find_named((*j)["upstreams"][0]["peers"], "server", b0_.address());
    ASSERT_NE(other, nullptr);
    EXPECT_EQ((*other)["state"].str(), "up");

    auto m = metrics();
    ASSERT_TRUE(m);
    std::map<std::string, std::string> peer = {{"upstream", "app"}, {"peer", addr}};
    EXPECT_EQ(m->value("halo_upstream_peer_up", peer), 0.0);
    peer["state"] = "down";
    EXPECT_EQ(m->value("halo_upstream_peer_state", peer), 1.0);

    ASSERT_TRUE(b1_.restart());
    EXPECT_TRUE(wait_until([&] {
        j = json();
        return j && peer_of(*j) && (*peer_of(*j))["state"].str() == "up";
    })) << halo_.error_log();
}

}  // namespace
}  // namespace halo_test
