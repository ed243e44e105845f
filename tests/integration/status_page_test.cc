// The status page over the life of the processes, through the real binary: a reload keeps
// every counter and lists the new workers; a worker killed with SIGKILL is respawned (counted
// in its respawns), what it counted stays in the totals and the connections it held leave
// the gauges; `master_process off` reports the one process; and the HTML view loaded in a
// real headless browser (Debian's chromium), its tables drawn from the JSON with colours for
// up and down, a screenshot saved under the test's output folder (skipped when chromium is
// not installed); and the same page loaded over HTTPS with HTTP/2 (ALPN h2) from a
// `listen ... ssl http2` server, its requests shown as HTTP/2 in the access log and in the
// page's own HTTP/2 counters.
#include <signal.h>
#include <unistd.h>

#include <functional>
#include <iostream>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "support/backend.h"
#include "support/harness.h"
#include "support/json.h"
#include "support/test_cert.h"

namespace halo_test {
namespace {

constexpr std::string_view kConf = R"(
daemon off;
%%MASTER%%
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
        location /app/ { proxy_pass http://app; }
    }

    server {
        listen 127.0.0.1:%%PORT_1%% reuseport;
        server_name status;
        location = /status { status; }
        location = /dashboard { status format=html; }
    }
%%EXTRA%%
}
)";

/// The status page again on a TLS port that speaks HTTP/2 (h2 by ALPN), with an access log
/// that says which protocol each request came on.
constexpr std::string_view kTlsH2Server = R"(
    log_format proto '$request $status $server_protocol http2=$http2';
    server {
        listen 127.0.0.1:%%PORT_2%% ssl http2 reuseport;
        server_name status-tls;
        ssl_certificate %%PREFIX%%/a.crt;
        ssl_certificate_key %%PREFIX%%/a.key;
        access_log logs/h2.log proto;
        location = /dashboard { status format=html; }
    }
)";

std::string replace_all(std::string text, const std::string& key, const std::string& value) {
    for (size_t at = 0; (at = text.find(key, at)) != std::string::npos; at += value.size()) {
        text.replace(at, key.size(), value);
    }
    return text;
}

const Json* find_named(const Json& list, const std::string& key, const std::string& value) {
    for (const Json& item : list.items()) {
        if (item[key].str() == value) {
            return &item;
        }
    }
    return nullptr;
}

class StatusPageTest : public ::testing::Test {
  protected:
    void SetUp() override {
        for (const char* m :
             {"http_status", "http_healthcheck", "http_proxy", "http_upstream", "http_rewrite"}) {
            if (!halo_has_module(m)) {
                GTEST_SKIP() << "the " << m << " module is not compiled in";
            }
        }
    }

    /// `extra`: more of the http block (kTlsH2Server: a third port, probed by start() too).
    void start(bool master = true, std::string_view extra = "", int64_t probes = 2) {
        std::string conf(kConf);
        conf = replace_all(conf, "%%MASTER%%", master ? "" : "master_process off;");
        conf = replace_all(conf, "%%EXTRA%%", std::string(extra));
        conf = replace_all(conf, "%%B0%%", b0_.address());
        conf = replace_all(conf, "%%B1%%", b1_.address());
        halo_.write_conf(conf);
        ASSERT_TRUE(halo_.start());
        if (master) {
            ASSERT_EQ(halo_.wait_workers(3).size(), 3u) << halo_.error_log();
        }
        // Halo::start() connected once to each port: wait until the workers accepted those
        // too, so that every connection accepted from here is the test's.
        std::optional<Json> j;
        ASSERT_TRUE(wait_until([&] {
            j = json();
            return j && (*j)["connections"]["accepted"].integer() == probes + status_requests_;
        })) << (j ? (*j)["connections"]["accepted"].integer() : -1);
    }

    std::optional<Json> json() {
        auto r = http_get(halo_.port(1), "/status");
        if (!r || r->status != 200) {
            return std::nullopt;
        }
        status_requests_++;
        return Json::parse(r->body);
    }
    /// Polls until `pred` holds for the JSON; that JSON (or the last one seen).
    std::optional<Json> json_when(const std::function<bool(const Json&)>& pred) {
        std::optional<Json> last;
        wait_until([&] {
            last = json();
            return last && pred(*last);
        });
        return last;
    }
    static int64_t traffic_requests(const Json& d) {
        const Json* t = find_named(d["servers"], "name", "traffic");
        return t != nullptr ? (*t)["requests"].integer() : -1;
    }
    void send(int n) {
        for (int i = 0; i < n; i++) {
            ASSERT_EQ(get_body(halo_.port(0), "/ok/" + std::to_string(i)), "ok\n");
        }
    }

    Backend b0_{"b0"};
    Backend b1_{"b1"};
    Halo halo_;
    int status_requests_ = 0;
    const int64_t accepted0_ = 2;
};

TEST_F(StatusPageTest, ReloadKeepsTheCountersAndListsTheNewWorkers) {
    start();
    send(5);
    auto j = json_when([](const Json& d) { return traffic_requests(d) == 5; });
    ASSERT_TRUE(j);
    std::vector<pid_t> old = halo_.workers();

    ASSERT_TRUE(halo_.signal(SIGHUP));
    std::vector<pid_t> fresh = halo_.wait_new_workers(3, old);
    ASSERT_EQ(fresh.size(), 3u) << halo_.error_log();
    std::set<int64_t> fresh_set(fresh.begin(), fresh.end());
    // Once the old generation is gone: two workers, both new, none retiring.
    j = json_when([&](const Json& d) {
        const Json& w = d["processes"]["workers"];
        return d["processes"]["master"]["reloads"].integer() == 1 && w.size() == 2 &&
               fresh_set.count(w[0]["pid"].integer()) && fresh_set.count(w[1]["pid"].integer()) &&
               d["processes"]["helpers"].size() == 1;
    });
    ASSERT_TRUE(j) << halo_.error_log();
    for (const Json& w : (*j)["processes"]["workers"].items()) {
        EXPECT_FALSE(w["retiring"].boolean());
        EXPECT_EQ(w["respawns"].integer(), 0);
    }
    ASSERT_EQ((*j)["processes"]["helpers"].size(), 1u);
    EXPECT_TRUE(fresh_set.count((*j)["processes"]["helpers"][0]["pid"].integer()));
    EXPECT_EQ(traffic_requests(*j), 5);  // the server block's counters went on

    send(3);
    j = json_when([](const Json& d) { return traffic_requests(d) == 8; });
    ASSERT_TRUE(j);
    // The old workers' requests stay in the total.
    EXPECT_EQ((*j)["requests"]["total"].integer(), 8 + status_requests_);
}

TEST_F(StatusPageTest, KilledWorkerRespawnedItsCountsKeptItsConnectionsGone) {
    start();
    // An idle keepalive connection, held by one of the workers.
    HttpConnection idle;
    ASSERT_TRUE(idle.connect(halo_.port(0)));
    ASSERT_TRUE(idle.send(get_request("/", "localhost", true)));
    ASSERT_TRUE(idle.read_response());
    pid_t holder = -1;
    ASSERT_TRUE(wait_until([&] {
        for (pid_t p : halo_.workers()) {
            if (established_connections(p, halo_.port(0)) == 1) {
                holder = p;
            }
        }
        return holder > 0;
    }));
    auto j = json_when([](const Json& d) { return d["connections"]["waiting"].integer() == 1; });
    ASSERT_TRUE(j);
    int64_t index = -1;
    for (const Json& w : (*j)["processes"]["workers"].items()) {
        index = w["pid"].integer() == holder ? w["index"].integer() : index;
    }
    ASSERT_GE(index, 0);

    std::vector<pid_t> before = halo_.workers();
    ASSERT_EQ(kill(holder, SIGKILL), 0);
    ASSERT_EQ(halo_.wait_new_workers(1, before).size(), 1u) << halo_.error_log();
    j = json_when([&](const Json& d) {
        const Json* w = nullptr;
        for (const Json& item : d["processes"]["workers"].items()) {
            w = item["index"].integer() == index ? &item : w;
        }
        return d["processes"]["workers"].size() == 2 && w != nullptr &&
               (*w)["respawns"].integer() == 1 && (*w)["pid"].integer() != holder &&
               d["connections"]["active"].integer() == 1;  // (a status connection may linger)
    });
    ASSERT_TRUE(j) << halo_.error_log();
    // The dead worker's connection is not counted as open any more; its request still is.
    EXPECT_EQ((*j)["connections"]["active"].integer(), 1);
    EXPECT_EQ((*j)["connections"]["waiting"].integer(), 0);
    EXPECT_EQ((*j)["requests"]["total"].integer(), 1 + status_requests_);
    EXPECT_EQ((*j)["connections"]["accepted"].integer(), accepted0_ + 1 + status_requests_);
}

TEST_F(StatusPageTest, SingleProcess) {
    start(false);
    send(3);
    auto j = json_when([](const Json& d) { return traffic_requests(d) == 3; });
    ASSERT_TRUE(j) << halo_.error_log();
    const Json& m = (*j)["processes"]["master"];
    EXPECT_EQ(m["type"].str(), "single");
    EXPECT_EQ(m["pid"].integer(), halo_.master_pid());
    EXPECT_EQ(m["requests"].integer(), 3 + status_requests_);
    EXPECT_EQ((*j)["processes"]["workers"].size(), 0u);
    EXPECT_EQ((*j)["processes"]["helpers"].size(), 0u);  // the checks run in this process
    EXPECT_EQ((*j)["requests"]["total"].integer(), 3 + status_requests_);
}

/// The first of the usual names of Chromium found in PATH, or "".
std::string find_chromium() {
    const char* path = getenv("PATH");
    std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
    for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
        size_t start = 0;
        while (start <= dirs.size()) {
            size_t colon = dirs.find(':', start);
            std::string dir = dirs.substr(start, colon - start);
            std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
            if (access(candidate.c_str(), X_OK) == 0) {
                return candidate;
            }
            if (colon == std::string::npos) {
                break;
            }
            start = colon + 1;
        }
    }
    return "";
}

/// Runs chromium headless on the dashboard at `url` (with `flags` added): the DOM it drew is
/// checked as the existing case does (both peers with their state, the counters filled, the
/// helper and the workers listed, the JSON fetched without error), and a screenshot saved as
/// `<name>.png` in the test's output folder. Returns the DOM.
std::string check_dashboard(const std::string& chromium, const std::string& url,
                            const std::vector<std::string>& flags, const std::string& name,
                            const Backend& b0, const Backend& b1) {
    std::string out = test_output_dir();
    TempDir profile("halo-chromium");
    std::vector<std::string> base = {chromium,
                                     "--headless",
                                     "--no-sandbox",
                                     "--disable-gpu",
                                     "--no-first-run",
                                     "--user-data-dir=" + profile.path(),
                                     "--virtual-time-budget=3000"};
    base.insert(base.end(), flags.begin(), flags.end());
    auto dom_args = base;
    dom_args.push_back("--dump-dom");
    dom_args.push_back(url);
    RunResult dom = run_command(dom_args, 90s);
    EXPECT_EQ(dom.status, 0) << dom;
    write_file(out + "/" + name + ".dom.html", dom.out);

    // The tables were drawn from the JSON: both peers with their state, the counters filled.
    auto has = [&](const std::string& re) { return std::regex_search(dom.out, std::regex(re)); };
    EXPECT_TRUE(has("data-peer=\"" + b0.address() + "\" data-state=\"up\"")) << dom.out;
    EXPECT_TRUE(has("data-peer=\"" + b1.address() + "\" data-state=\"down\"")) << dom.out;
    EXPECT_TRUE(has("class=\"state s-up\">up<"));
    EXPECT_TRUE(has("class=\"state s-down\">down<"));
    EXPECT_TRUE(has("id=\"conn-accepted\">[0-9]+<")) << dom.out;
    EXPECT_TRUE(has("connect\\(\\) refused"));
    EXPECT_TRUE(has("<td>worker 0</td>"));
    EXPECT_TRUE(has("<td>healthcheck helper</td>"));
    EXPECT_TRUE(has("no VRRP instances"));
    EXPECT_TRUE(has("no anycast block"));
    EXPECT_FALSE(has("id=\"updated\">never<")) << "the page never drew the JSON";
    EXPECT_FALSE(has("id=\"error\" style=\"display: block")) << dom.out;

    std::string png = out + "/" + name + ".png";
    auto shot_args = base;
    shot_args.push_back("--screenshot=" + png);
    shot_args.push_back("--window-size=1280,1100");
    shot_args.push_back(url);
    RunResult shot = run_command(shot_args, 90s);
    EXPECT_EQ(shot.status, 0) << shot;
    auto image = read_file(png);
    EXPECT_TRUE(image) << "no screenshot at " << png;
    if (image) {
        EXPECT_EQ(image->substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
        EXPECT_GT(image->size(), 10000u);
        std::cout << "[ saved    ] " << png << " (" << image->size() << " bytes)\n";
    }
    return dom.out;
}

TEST_F(StatusPageTest, HtmlViewInHeadlessChromium) {
    std::string chromium = find_chromium();
    if (chromium.empty()) {
        GTEST_SKIP() << "chromium is not installed (Debian: apt-get install -y chromium, or "
                        "auto/deps --test)";
    }
    start();
    ASSERT_EQ(get_body(halo_.port(0), "/app/1"), "b0\n");
    b1_.stop();
    ASSERT_TRUE(json_when([&](const Json& d) {
        const Json* p = find_named(d["upstreams"][0]["peers"], "server", b1_.address());
        return p != nullptr && (*p)["state"].str() == "down";
    })) << halo_.error_log();

    std::string url = "http://127.0.0.1:" + std::to_string(halo_.port(1)) + "/dashboard";
    check_dashboard(chromium, url, {}, "status", b0_, b1_);
}

TEST_F(StatusPageTest, HtmlViewOverHttp2InHeadlessChromium) {
    std::string chromium = find_chromium();
    if (chromium.empty()) {
        GTEST_SKIP() << "chromium is not installed (Debian: apt-get install -y chromium, or "
                        "auto/deps --test)";
    }
    if (!halo_has_module("http_v2") || !halo_has_module("http_ssl")) {
        GTEST_SKIP() << "the http_v2 or http_ssl module is not compiled in";
    }
    ASSERT_TRUE(
        make_certificate("status.test", halo_.prefix() + "/a.crt", halo_.prefix() + "/a.key"));
    start(true, kTlsH2Server, 3);
    ASSERT_EQ(get_body(halo_.port(0), "/app/1"), "b0\n");
    b1_.stop();
    ASSERT_TRUE(json_when([&](const Json& d) {
        const Json* p = find_named(d["upstreams"][0]["peers"], "server", b1_.address());
        return p != nullptr && (*p)["state"].str() == "down";
    })) << halo_.error_log();

    std::string url = "https://127.0.0.1:" + std::to_string(halo_.port(2)) + "/dashboard";
    std::string dom =
        check_dashboard(chromium, url, {"--ignore-certificate-errors"}, "status-h2", b0_, b1_);

    // The page and the JSON it fetched came over HTTP/2 (h2 by ALPN): the access log says so
    // for each, and no request on that server came any other way.
    std::string log = read_file(halo_.prefix() + "/logs/h2.log").value_or("");
    EXPECT_NE(log.find("GET /dashboard HTTP/2.0 200 HTTP/2.0 http2=h2\n"), std::string::npos)
        << log;
    EXPECT_NE(log.find("GET /dashboard?format=json HTTP/2.0 200 HTTP/2.0 http2=h2\n"),
              std::string::npos)
        << log;
    EXPECT_EQ(log.find("HTTP/1."), std::string::npos) << log;
    // The page drew its own HTTP/2 numbers: the page itself (logged before its JSON was
    // fetched) among its server's HTTP/2 requests, the browser's connection open while it
    // fetched.
    auto has = [&](const std::string& re) { return std::regex_search(dom, std::regex(re)); };
    EXPECT_TRUE(
        has("data-server=\"status-tls\" data-requests=\"[1-9][0-9]*\" "
            "data-h2-requests=\"[1-9][0-9]*\""))
        << dom;
    EXPECT_TRUE(
        has("data-server=\"traffic\" data-requests=\"[1-9][0-9]*\" "
            "data-h2-requests=\"0\""))
        << dom;
    EXPECT_TRUE(has("id=\"conn-h2_active\">[1-9][0-9]*<")) << dom;
    EXPECT_TRUE(has("id=\"conn-h2_streams\">[1-9][0-9]*<")) << dom;
    // And the status JSON, read over HTTP/1.1 afterwards, counts them the same way.
    auto j = json_when([](const Json& d) {
        const Json* t = find_named(d["servers"], "name", "status-tls");
        // Two loads of the page and its JSON at least, every request on that server by h2.
        return t != nullptr && (*t)["h2_requests"].integer() >= 4 &&
               (*t)["h2_requests"].integer() == (*t)["requests"].integer();
    });
    ASSERT_TRUE(j) << halo_.error_log();
    const Json* t = find_named((*j)["servers"], "name", "status-tls");
    EXPECT_EQ((*t)["h2_requests"].integer(), (*t)["requests"].integer());
    EXPECT_GE((*j)["connections"]["h2_connections"].integer(), 2);  // one per chromium run
}

}  // namespace
}  // namespace halo_test
