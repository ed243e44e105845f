// limit_req through the real binary with two workers: 10r/s burst=5 admits what the leaky
// bucket admits over a few seconds of overload from many connections (both workers serving,
// one shared zone: each worker with a bucket of its own would admit about twice as many), the
// default delay, nodelay and delay= told apart by counts, $limit_req_status and the order of
// the answers (the rejected ones before the last delayed one), dry run, several limits on one
// location, a custom status, a client closing while delayed (499), a reload keeping the
// buckets (another zone size starts afresh, another key is refused), the status page and
// Prometheus counters, config errors with file:line, and the same answers as Debian's nginx.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/h2_client.h"
#include "support/harness.h"
#include "support/json.h"
#include "support/nginx.h"

namespace halo_test {
namespace {

constexpr std::string_view kConf = R"(
daemon off;
worker_processes 2;
error_log logs/error.log info;

events {
    worker_connections 512;
}

http {
    log_format lr '$pid $status $limit_req_status $uri $http_x_key';
    access_log logs/access.log lr;
    root html;

    limit_req_zone $binary_remote_addr zone=rate:1m rate=10r/s;
    limit_req_zone $http_x_key zone=slow:1m rate=5r/s;
    limit_req_zone $http_x_key zone=minute:1m rate=1r/m;
    limit_req_zone $http_x_key zone=loose:1m rate=1r/m;
    limit_req_zone $http_x_key zone=strict:1m rate=1r/m;

    server {
        listen 127.0.0.1:%%PORT_0%% reuseport;

        location /rate/ {
            limit_req zone=rate burst=5 nodelay;
        }
        location /nodelay/ {
            limit_req zone=slow burst=3 nodelay;
        }
        location /delay/ {
            limit_req zone=slow burst=3;
        }
        location /delay2/ {
            limit_req zone=slow burst=4 delay=2;
        }
        location /dry/ {
            limit_req zone=minute burst=1;
            limit_req_dry_run on;
        }
        location /two/ {
            limit_req zone=loose burst=10 nodelay;
            limit_req zone=strict burst=2 nodelay;
        }
        location /five/ {
            limit_req zone=loose burst=9 nodelay;
            limit_req zone=rate burst=9 nodelay;
            limit_req zone=slow burst=9 nodelay;
            limit_req zone=minute burst=9 nodelay;
            limit_req zone=strict burst=1 nodelay;
        }
        location /page/ {
            limit_req zone=minute;
            error_page 503 /busy.html;
        }
        location = /busy.html {
            limit_req zone=minute;
        }
        location /429/ {
            limit_req zone=minute burst=1 nodelay;
            limit_req_status 429;
        }
        location /hold/ {
            limit_req zone=minute burst=5;
        }
    }
    server {
        listen 127.0.0.1:%%PORT_2%% http2;
        location /hold/ {
            limit_req zone=minute burst=5;
        }
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        location = /status {
            status format=json;
        }
        location = /metrics {
            status format=prometheus;
        }
    }
}
)";

constexpr const char* kDirs[] = {"rate", "nodelay", "delay", "delay2", "dry",
                                 "two",  "five",    "page",  "429",    "hold"};

/// GET `path` with `X-Key: key` (none when empty).
std::string request_for(const std::string& path, const std::string& key) {
    std::string req = get_request(path, "lr");
    if (!key.empty()) {
        req.insert(req.size() - 2, "X-Key: " + key + "\r\n");
    }
    return req;
}

class LimitReqTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_limit_req") || !halo_has_module("http_static")) {
            GTEST_SKIP() << "http_limit_req or http_static is not compiled in";
        }
        for (const char* d : kDirs) {
            halo_.write(std::string("html/") + d + "/x", "ok\n");
        }
        halo_.write("html/busy.html", "busy, try later\n");
        halo_.write_conf(kConf);
        ASSERT_TRUE(halo_.start()) << halo_.error_log();
        workers_ = halo_.wait_workers(2);
        ASSERT_EQ(workers_.size(), 2u) << halo_.error_log();
    }

    int status_of(const std::string& path, const std::string& key = {}) {
        HttpConnection c;
        if (!c.connect(halo_.port(0)) || !c.send(request_for(path, key))) {
            return 0;
        }
        auto r = c.read_response(10s);
        return r ? r->status : 0;
    }
    /// `n` requests sent at once (the connections opened first, then each request written),
    /// their statuses in the order the answers came.
    std::vector<int> at_once(const std::string& path, int n, const std::string& key) {
        std::vector<std::unique_ptr<HttpConnection>> conns;
        for (int i = 0; i < n; i++) {
            conns.push_back(std::make_unique<HttpConnection>());
            EXPECT_TRUE(conns.back()->connect(halo_.port(0)));
        }
        std::string req = request_for(path, key);
        for (auto& c : conns) {
            c->send(req);
        }
        std::mutex mu;
        std::vector<int> order;
        std::vector<std::thread> readers;
        for (auto& c : conns) {
            readers.emplace_back([&, conn = c.get()] {
                auto r = conn->read_response(20s);
                std::lock_guard<std::mutex> lock(mu);
                order.push_back(r ? r->status : 0);
            });
        }
        for (auto& t : readers) {
            t.join();
        }
        return order;
    }
    /// Whether the error log has a line matching `re` (an excess is written with the drain
    /// of the milliseconds between requests: "0.985", so tests match its form).
    bool error_log_has(const std::string& re) {
        return std::regex_search(halo_.error_log(), std::regex(re));
    }
    std::string access_log() { return read_file(halo_.path("logs/access.log")).value_or(""); }
    /// Waits until the access log has `n` lines matching `re`.
    bool wait_lines(const std::string& re, size_t n) {
        std::regex pattern(re);
        return wait_until([&] { return count_lines(re) >= n; }) && count_lines(re) == n;
    }
    size_t count_lines(const std::string& re) {
        std::regex pattern(re);
        std::string log = access_log();
        auto begin = std::sregex_iterator(log.begin(), log.end(), pattern);
        return static_cast<size_t>(std::distance(begin, std::sregex_iterator()));
    }
    /// The counters of limit_req zone `name` on the status page (null Json when absent).
    Json zone(std::string_view name) {
        auto j = Json::parse(get_body(halo_.port(1), "/status"));
        if (j) {
            const Json& zones = (*j)["limit_reqs"];
            for (size_t i = 0; i < zones.size(); i++) {
                if (zones[i]["zone"].str() == name) {
                    return zones[i];
                }
            }
        }
        return Json();
    }

    Halo halo_;
    std::vector<pid_t> workers_;
};

int count(const std::vector<int>& v, int status) {
    return static_cast<int>(std::count(v.begin(), v.end(), status));
}

TEST_F(LimitReqTest, RateAndBurstAdmitWhatTheLeakyBucketAdmits) {
    // Four clients, each a new connection per request (spread over both workers by
    // reuseport), about 60 r/s in all for 3 s against 10r/s burst=5.
    std::atomic<int> ok{0};
    std::atomic<int> refused{0};
    std::atomic<int> other{0};
    auto start = std::chrono::steady_clock::now();
    auto end = start + 3s;
    std::vector<std::thread> clients;
    for (int i = 0; i < 4; i++) {
        clients.emplace_back([&] {
            while (std::chrono::steady_clock::now() < end) {
                int s = status_of("/rate/x");
                (s == 200 ? ok : s == 503 ? refused : other)++;
                std::this_thread::sleep_for(50ms);
            }
        });
    }
    for (auto& t : clients) {
        t.join();
    }
    double span = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // The bucket admits 1 + burst at first, then 10 a second: about 6 + 10 * span. A generous
    // band for a loaded machine (the span measured by the client is a little longer than the
    // server's), far from what two separate buckets would admit (about twice as many).
    EXPECT_EQ(other.load(), 0);
    EXPECT_GT(refused.load(), 0);
    EXPECT_GE(ok.load(), static_cast<int>(10 * span * 0.8)) << "span " << span;
    EXPECT_LE(ok.load(), static_cast<int>(6 + 10 * span * 1.1) + 2) << "span " << span;
    // Both workers served (each line has the worker's pid) and limited.
    int total = ok + refused;
    ASSERT_TRUE(wait_lines(" /rate/x", total)) << access_log();
    std::set<std::string> pids;
    std::regex line("(\\d+) (200 PASSED|503 REJECTED) /rate/x");
    std::string log = access_log();
    for (auto it = std::sregex_iterator(log.begin(), log.end(), line); it != std::sregex_iterator();
         ++it) {
        pids.insert((*it)[1]);
    }
    EXPECT_EQ(pids.size(), 2u) << "the kernel gave every connection to one worker";
    EXPECT_EQ(count_lines("200 PASSED /rate/x"), static_cast<size_t>(ok.load()));
    // The status page counts both workers' requests in the one zone.
    Json z = zone("rate");
    EXPECT_EQ(z["passed"].integer(), ok.load());
    EXPECT_EQ(z["rejected"].integer(), refused.load());
    EXPECT_EQ(z["delayed"].integer(), 0);
    EXPECT_EQ(z["keys"].integer(), 1);
    auto metrics = get_body(halo_.port(1), "/metrics");
    EXPECT_NE(metrics.find("halo_limit_req_rejected_total{zone=\"rate\"} " +
                           std::to_string(refused.load()) + "\n"),
              std::string::npos)
        << metrics;
    EXPECT_TRUE(
        error_log_has("\\[error\\].* limiting requests, excess: [5-6]\\.\\d{3} by zone "
                      "\"rate\", client: 127\\.0\\.0\\.1"))
        << halo_.error_log();
}

TEST_F(LimitReqTest, NodelayAnswersAtOnce) {
    // 5r/s burst=3 nodelay, six at once: 1 + 3 pass without waiting, 2 refused.
    std::vector<int> got = at_once("/nodelay/x", 6, "n1");
    EXPECT_EQ(count(got, 200), 4);
    EXPECT_EQ(count(got, 503), 2);
    EXPECT_TRUE(wait_lines("200 PASSED /nodelay/x n1", 4)) << access_log();
    EXPECT_TRUE(wait_lines("503 REJECTED /nodelay/x n1", 2)) << access_log();
}

TEST_F(LimitReqTest, DefaultDelaysTheExcessUntilItDrains) {
    // 5r/s burst=3, six at once: one passes, three wait (200, 400 and 600 ms), two are refused
    // at once: the last answer is a delayed one.
    std::vector<int> got = at_once("/delay/x", 6, "d1");
    EXPECT_EQ(count(got, 200), 4);
    EXPECT_EQ(count(got, 503), 2);
    ASSERT_EQ(got.size(), 6u);
    EXPECT_EQ(got.back(), 200);
    EXPECT_TRUE(wait_lines("200 PASSED /delay/x d1", 1)) << access_log();
    EXPECT_TRUE(wait_lines("200 DELAYED /delay/x d1", 3)) << access_log();
    EXPECT_TRUE(wait_lines("503 REJECTED /delay/x d1", 2)) << access_log();
    // The two refusals were answered before the delayed requests.
    EXPECT_EQ(std::vector<int>(got.end() - 3, got.end()), (std::vector<int>{200, 200, 200}));
    // A delayed request's line is logged one level below limit_req_log_level (error: warn).
    std::vector<std::string> delayed = log_lines_with(halo_.error_log(), "delaying request");
    ASSERT_EQ(delayed.size(), 3u) << halo_.error_log();
    std::regex line("\\[warn\\].* delaying request, excess: [0-3]\\.\\d{3}, by zone \"slow\"");
    for (const std::string& l : delayed) {
        EXPECT_TRUE(std::regex_search(l, line)) << l;
    }
    Json z = zone("slow");
    EXPECT_EQ(z["passed"].integer(), 1);
    EXPECT_EQ(z["delayed"].integer(), 3);
    EXPECT_EQ(z["rejected"].integer(), 2);
}

TEST_F(LimitReqTest, DelayParameterLetsTheFirstExcessThrough) {
    // 5r/s burst=4 delay=2, six at once: 1 + 2 pass at once, 2 wait, 1 refused.
    std::vector<int> got = at_once("/delay2/x", 6, "d2");
    EXPECT_EQ(count(got, 200), 5);
    EXPECT_EQ(count(got, 503), 1);
    EXPECT_EQ(got.back(), 200);
    EXPECT_TRUE(wait_lines("200 PASSED /delay2/x d2", 3)) << access_log();
    EXPECT_TRUE(wait_lines("200 DELAYED /delay2/x d2", 2)) << access_log();
    EXPECT_TRUE(wait_lines("503 REJECTED /delay2/x d2", 1)) << access_log();
}

TEST_F(LimitReqTest, DryRunOnlyLogsAndCounts) {
    for (int i = 0; i < 4; i++) {
        EXPECT_EQ(status_of("/dry/x", "k"), 200) << i;
    }
    ASSERT_TRUE(wait_lines(" /dry/x k", 4)) << access_log();
    EXPECT_EQ(count_lines("200 PASSED /dry/x"), 1u);
    EXPECT_EQ(count_lines("200 DELAYED_DRY_RUN /dry/x"), 1u);
    EXPECT_EQ(count_lines("200 REJECTED_DRY_RUN /dry/x"), 2u);
    EXPECT_TRUE(
        error_log_has("\\[warn\\].* delaying request, dry run, excess: (1\\.000|0\\.9\\d\\d), by "
                      "zone \"minute\""))
        << halo_.error_log();
    EXPECT_TRUE(
        error_log_has("\\[error\\].* limiting requests, dry run, excess: (2\\.000|1\\.9\\d\\d) by "
                      "zone \"minute\""))
        << halo_.error_log();
    Json z = zone("minute");
    EXPECT_EQ(z["passed"].integer(), 1);
    EXPECT_EQ(z["delayed_dry_run"].integer(), 1);
    EXPECT_EQ(z["rejected_dry_run"].integer(), 2);
    EXPECT_EQ(z["rejected"].integer(), 0);
}

TEST_F(LimitReqTest, SeveralLimitsTheStrictestDecides) {
    std::vector<int> got;
    for (int i = 0; i < 5; i++) {
        got.push_back(status_of("/two/x", "k"));
    }
    EXPECT_EQ(got, (std::vector<int>{200, 200, 200, 503, 503}));
    EXPECT_TRUE(
        error_log_has("limiting requests, excess: (3\\.000|2\\.9\\d\\d) by zone \"strict\""))
        << halo_.error_log();
    EXPECT_FALSE(error_log_has("by zone \"loose\""));
    Json loose = zone("loose");
    Json strict = zone("strict");
    EXPECT_EQ(loose["passed"].integer(), 3);  // the refused ones are not counted in it
    EXPECT_EQ(loose["rejected"].integer(), 0);
    EXPECT_EQ(strict["passed"].integer(), 3);
    EXPECT_EQ(strict["rejected"].integer(), 2);
    // Another key has buckets of its own.
    EXPECT_EQ(status_of("/two/x", "other"), 200);
    // A request without the key is not limited.
    for (int i = 0; i < 5; i++) {
        EXPECT_EQ(status_of("/two/x"), 200);
    }
    EXPECT_TRUE(wait_lines("200 - /two/x", 5)) << access_log();
}

TEST_F(LimitReqTest, FiveLimitsOnOneLocation) {
    std::vector<int> got;
    for (int i = 0; i < 4; i++) {
        got.push_back(status_of("/five/x", "f"));
    }
    EXPECT_EQ(got, (std::vector<int>{200, 200, 503, 503}));
    EXPECT_TRUE(
        error_log_has("limiting requests, excess: (2\\.000|1\\.9\\d\\d) by zone \"strict\""))
        << halo_.error_log();
    for (const char* z : {"loose", "slow", "minute", "strict"}) {
        EXPECT_EQ(zone(z)["passed"].integer(), 2) << z;
    }
    EXPECT_EQ(zone("strict")["rejected"].integer(), 2);
}

TEST_F(LimitReqTest, AnErrorPageIsNotLimitedAgain) {
    // The refused request goes to its error_page in a location limited by the same zone and
    // key: as nginx, a request is limited once, so the page is served (with the 503).
    EXPECT_EQ(status_of("/page/x", "e"), 200);
    HttpConnection c;
    ASSERT_TRUE(c.connect(halo_.port(0)));
    ASSERT_TRUE(c.send(request_for("/page/x", "e")));
    auto r = c.read_response(10s);
    ASSERT_TRUE(r) << c.error();
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(r->body, "busy, try later\n");
    EXPECT_TRUE(wait_lines("503 REJECTED /busy.html e", 1)) << access_log();
    EXPECT_EQ(zone("minute")["rejected"].integer(), 1);
}

TEST_F(LimitReqTest, CustomStatus) {
    EXPECT_EQ(status_of("/429/x", "c"), 200);
    EXPECT_EQ(status_of("/429/x", "c"), 200);
    EXPECT_EQ(status_of("/429/x", "c"), 429);
    EXPECT_TRUE(wait_lines("429 REJECTED /429/x c", 1)) << access_log();
}

TEST_F(LimitReqTest, AClientClosingWhileDelayedEndsTheRequest) {
    EXPECT_EQ(status_of("/hold/x", "h"), 200);
    // The next one waits a minute (1r/m): its client goes away meanwhile.
    {
        HttpConnection c;
        ASSERT_TRUE(c.connect(halo_.port(0)));
        ASSERT_TRUE(c.send(request_for("/hold/x", "h")));
        ASSERT_TRUE(wait_until([&] {
            return error_log_has("delaying request, excess: \\d\\.\\d{3}, by zone \"minute\"");
        })) << halo_.error_log();
    }
    EXPECT_TRUE(wait_lines("499 DELAYED /hold/x h", 1)) << access_log();
    EXPECT_NE(halo_.error_log().find("client prematurely closed connection"), std::string::npos);
    // The workers go on serving.
    EXPECT_EQ(status_of("/hold/x", "other"), 200);
}

TEST_F(LimitReqTest, AKeepaliveConnectionGoesOnAfterADelay) {
    // 5r/s burst=3: on one connection, each request after the first waits its turn (about
    // 200 ms), then the next is read and served.
    HttpConnection c;
    ASSERT_TRUE(c.connect(halo_.port(0)));
    for (int i = 0; i < 3; i++) {
        std::string req = get_request("/delay/x", "lr", true);
        req.insert(req.size() - 2, "X-Key: ka\r\n");
        ASSERT_TRUE(c.send(req));
        auto r = c.read_response(10s);
        ASSERT_TRUE(r) << c.error();
        EXPECT_EQ(r->status, 200);
    }
    EXPECT_TRUE(wait_lines(" /delay/x ka", 3)) << access_log();
    EXPECT_EQ(count_lines("200 PASSED /delay/x ka"), 1u);
    EXPECT_GE(count_lines("200 DELAYED /delay/x ka"), 1u);
}

TEST_F(LimitReqTest, Http2StreamsAreDelayedAlone) {
    if (!halo_has_module("http_v2")) {
        GTEST_SKIP() << "http_v2 is not compiled in";
    }
    h2::Client c;
    ASSERT_TRUE(c.connect(halo_.port(2)));
    ASSERT_TRUE(c.handshake()) << c.error();
    h2::HeaderList key{{"x-key", "h2"}};
    EXPECT_EQ(c.request(h2::Client::request_headers("/hold/x", "GET", key)).status, 200);
    // The next stream of the key waits a minute (1r/m); the connection serves others meanwhile.
    uint32_t held = c.next_stream();
    ASSERT_TRUE(c.send_headers(held, h2::Client::request_headers("/hold/x", "GET", key), true));
    ASSERT_TRUE(wait_until([&] {
        return error_log_has("delaying request, excess: \\d\\.\\d{3}, by zone \"minute\"");
    })) << halo_.error_log();
    h2::HeaderList other{{"x-key", "other"}};
    EXPECT_EQ(c.request(h2::Client::request_headers("/hold/x", "GET", other)).status, 200);
    EXPECT_TRUE(c.stream(held).header_blocks.empty());  // still waiting
    // The client gives up on it: the stream's request ends, the connection goes on.
    ASSERT_TRUE(c.send_rst(held, 8));  // CANCEL
    EXPECT_TRUE(wait_lines("499 DELAYED /hold/x h2", 1)) << access_log();
    h2::HeaderList third{{"x-key", "third"}};
    EXPECT_EQ(c.request(h2::Client::request_headers("/hold/x", "GET", third)).status, 200);
    EXPECT_TRUE(wait_lines("200 PASSED /hold/x third", 1)) << access_log();
    EXPECT_TRUE(c.stream(held).header_blocks.empty());
}

TEST_F(LimitReqTest, AReloadKeepsTheBuckets) {
    EXPECT_EQ(status_of("/429/x", "r"), 200);
    EXPECT_EQ(status_of("/429/x", "r"), 200);
    EXPECT_EQ(status_of("/429/x", "r"), 429);
    // The same zones: the new workers find the bucket full.
    ASSERT_TRUE(halo_.signal(SIGHUP));
    std::vector<pid_t> fresh = halo_.wait_new_workers(2, workers_);
    ASSERT_EQ(fresh.size(), 2u) << halo_.error_log();
    EXPECT_EQ(status_of("/429/x", "r"), 429);
    std::string pids = "(" + std::to_string(fresh[0]) + "|" + std::to_string(fresh[1]) + ")";
    EXPECT_TRUE(wait_lines(pids + " 429 REJECTED /429/x r", 1)) << access_log();
    EXPECT_EQ(zone("minute")["passed"].integer(), 2);  // the counters go on

    // A zone whose key changes is refused; the running configuration stays.
    std::string conf(kConf);
    std::string from = "limit_req_zone $http_x_key zone=minute:1m rate=1r/m;";
    std::string changed = conf;
    changed.replace(changed.find(from), from.size(),
                    "limit_req_zone $http_x_other zone=minute:1m rate=1r/m;");
    halo_.write_conf(changed);
    ASSERT_TRUE(halo_.signal(SIGHUP));
    EXPECT_TRUE(wait_until([&] {
        return halo_.error_log().find(
                   "limit_req \"minute\" uses the \"$http_x_other\" key while "
                   "previously it used the \"$http_x_key\" key") != std::string::npos;
    })) << halo_.error_log();
    EXPECT_EQ(status_of("/429/x", "r"), 429);

    // Another size: a zone of its own, empty.
    std::string resized = conf;
    resized.replace(resized.find(from), from.size(),
                    "limit_req_zone $http_x_key zone=minute:2m rate=1r/m;");
    halo_.write_conf(resized);
    ASSERT_TRUE(halo_.signal(SIGHUP));
    std::vector<pid_t> third = halo_.wait_new_workers(2, fresh);
    ASSERT_EQ(third.size(), 2u) << halo_.error_log();
    EXPECT_EQ(status_of("/429/x", "r"), 200);
}

TEST_F(LimitReqTest, ConfigErrorsNameFileAndLine) {
    struct Case {
        std::string_view line;
        std::string message;
    };
    const Case cases[] = {
        {"limit_req zone=nozone;", "zero size shared memory zone \"nozone\""},
        {"limit_req burst=5;", "\"limit_req\" must have \"zone\" parameter"},
        {"limit_req_zone $uri zone=bad:1m rate=fast;", "invalid rate \"rate=fast\""},
        {"limit_req_zone $uri zone=small:16k rate=1r/s;", "zone \"zone=small:16k\" is too small"},
        {"limit_req_zone $uri zone=s:1m rate=1r/s sync;", "\"sync\" parameter"},
    };
    for (const Case& c : cases) {
        halo_.write("bad.conf", "events {}\nhttp {\n    server {\n        listen 127.0.0.1:" +
                                    std::to_string(halo_.port(3)) + ";\n    }\n" +
                                    std::string(c.line) + "\n}\n");
        RunResult r =
            halo_.run_raw({"-t", "-p", halo_.prefix() + "/", "-c", halo_.path("bad.conf")});
        EXPECT_NE(r.status, 0) << c.line;
        EXPECT_NE(r.err.find(c.message), std::string::npos) << c.line << "\n" << r;
        EXPECT_NE(r.err.find("bad.conf:6"), std::string::npos) << c.line << "\n" << r;
    }
}

/// The same config in halo and in Debian's nginx: the statuses and $limit_req_status of a
/// series of requests, a rate slow enough (1r/m) that no request drains between two.
TEST(LimitReqNginxTest, SameAnswersAsNginx) {
    if (!halo_has_module("http_limit_req") || !nginx_installed()) {
        GTEST_SKIP() << "http_limit_req or nginx is missing";
    }
    constexpr std::string_view kHttp = R"(
http {
    log_format lr '$status $limit_req_status $uri';
    access_log %%DIR%%/access.log lr;
    root %%DIR%%/html;
    limit_req_zone $http_x_key zone=m:1m rate=1r/m;
    limit_req_zone $http_x_key zone=n:1m rate=1r/m;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /nodelay/ { limit_req zone=m burst=3 nodelay; }
        location /dry/ { limit_req zone=n burst=2 delay=1; limit_req_dry_run on; }
        location /two/ { limit_req zone=m burst=8 nodelay; limit_req zone=n burst=1 nodelay;
                         limit_req_status 429; }
    }
}
)";
    Halo halo;
    Nginx nginx;
    uint16_t halo_port = halo.port(0);
    uint16_t nginx_port = nginx.port();
    for (const char* d : {"nodelay", "dry", "two"}) {
        halo.write(std::string("html/") + d + "/x", "ok\n");
    }
    for (const char* d : {"html", "html/nodelay", "html/dry", "html/two"}) {
        ::mkdir(nginx.path(d).c_str(), 0755);
    }
    for (const char* d : {"nodelay", "dry", "two"}) {
        ASSERT_TRUE(write_file(nginx.path(std::string("html/") + d + "/x"), "ok\n"));
    }
    std::string h = replace_all(std::string(kHttp), "%%DIR%%", halo.prefix());
    halo.write_conf("daemon off;\nerror_log logs/error.log info;\nevents {}\n" +
                    replace_all(h, "%%PORT%%", std::to_string(halo_port)));
    ASSERT_TRUE(halo.start()) << halo.error_log();
    std::string n = replace_all(std::string(kHttp), "%%DIR%%", nginx.prefix());
    ASSERT_TRUE(nginx.start("error_log logs/error.log info;\nevents {}\n" +
                                replace_all(n, "%%PORT%%", std::to_string(nginx_port)),
                            nginx_port));
    auto series = [](uint16_t port) {
        std::vector<int> out;
        for (const char* path : {"/nodelay/x", "/dry/x", "/two/x"}) {
            for (int i = 0; i < 6; i++) {
                std::string key = std::string("X-Key: ") + path + "\r\n";
                out.push_back(fetch_raw(port, request_text(path, key)).status);
            }
        }
        // Another key, then no key at all.
        out.push_back(fetch_raw(port, request_text("/two/x", "X-Key: b\r\n")).status);
        out.push_back(fetch_raw(port, request_text("/two/x")).status);
        return out;
    };
    std::vector<int> from_halo = series(halo_port);
    std::vector<int> from_nginx = series(nginx_port);
    EXPECT_EQ(from_halo, from_nginx);
    // What the buckets say (1r/m: nothing drains between two requests).
    EXPECT_EQ(from_halo, (std::vector<int>{200, 200, 200, 200, 503, 503,  // burst=3 nodelay
                                           200, 200, 200, 200, 200, 200,  // dry run
                                           200, 200, 429, 429, 429, 429,  // the stricter zone
                                           200, 200}));                   // key b, no key
    auto logged = [](const std::string& path) {
        std::string text;
        wait_until([&] {
            text = read_file(path).value_or("");
            return std::count(text.begin(), text.end(), '\n') >= 20;
        });
        return text;
    };
    std::string halo_log = logged(halo.prefix() + "/access.log");
    EXPECT_EQ(halo_log, logged(nginx.prefix() + "/access.log"));
    EXPECT_NE(halo_log.find("200 PASSED /dry/x\n200 PASSED /dry/x\n200 DELAYED_DRY_RUN /dry/x\n"
                            "200 REJECTED_DRY_RUN /dry/x\n"),
              std::string::npos)
        << halo_log;
    EXPECT_NE(halo_log.find("200 PASSED /two/x\n200 - /two/x\n"), std::string::npos) << halo_log;
}

/// Both servers with two workers and 10r/s burst=5 on one location, loaded at once by the same
/// clients for 3 s: they admit as many requests (each about 6 + 10 a second; the band allows
/// for the two not seeing the load at quite the same moments).
TEST(LimitReqNginxTest, AdmitsAsManyAsNginxUnderTheSameLoad) {
    if (!halo_has_module("http_limit_req") || !nginx_installed()) {
        GTEST_SKIP() << "http_limit_req or nginx is missing";
    }
    constexpr std::string_view kHttp = R"(
worker_processes 2;
events {}
http {
    access_log off;
    root %%DIR%%/html;
    limit_req_zone $binary_remote_addr zone=rate:1m rate=10r/s;
    server {
        listen 127.0.0.1:%%PORT%% reuseport;
        location /rate/ { limit_req zone=rate burst=5 nodelay; }
    }
}
)";
    Halo halo;
    Nginx nginx;
    uint16_t halo_port = halo.port(0);
    uint16_t nginx_port = nginx.port();
    halo.write("html/rate/x", "ok\n");
    for (const char* d : {"html", "html/rate"}) {
        ::mkdir(nginx.path(d).c_str(), 0755);
    }
    ASSERT_TRUE(write_file(nginx.path("html/rate/x"), "ok\n"));
    std::string h = replace_all(std::string(kHttp), "%%DIR%%", halo.prefix());
    halo.write_conf("daemon off;\nerror_log logs/error.log;\n" +
                    replace_all(h, "%%PORT%%", std::to_string(halo_port)));
    ASSERT_TRUE(halo.start()) << halo.error_log();
    std::string n = replace_all(std::string(kHttp), "%%DIR%%", nginx.prefix());
    ASSERT_TRUE(nginx.start(
        "error_log logs/error.log;\n" + replace_all(n, "%%PORT%%", std::to_string(nginx_port)),
        nginx_port));
    std::atomic<int> ok_halo{0};
    std::atomic<int> ok_nginx{0};
    std::atomic<int> refused{0};
    auto end = std::chrono::steady_clock::now() + 3s;
    std::vector<std::thread> clients;
    for (int i = 0; i < 6; i++) {
        clients.emplace_back([&] {
            while (std::chrono::steady_clock::now() < end) {
                for (uint16_t port : {halo_port, nginx_port}) {
                    int s = fetch_raw(port, request_text("/rate/x")).status;
                    if (s == 200) {
                        (port == halo_port ? ok_halo : ok_nginx)++;
                    } else if (s == 503) {
                        refused++;
                    }
                }
                std::this_thread::sleep_for(40ms);
            }
        });
    }
    for (auto& t : clients) {
        t.join();
    }
    ::testing::Test::RecordProperty("admitted_by_halo", ok_halo.load());
    ::testing::Test::RecordProperty("admitted_by_nginx", ok_nginx.load());
    EXPECT_GT(refused.load(), 0);
    EXPECT_GE(ok_nginx.load(), 25);  // the load was heavy enough to be limited for a while
    EXPECT_LE(std::abs(ok_halo.load() - ok_nginx.load()), 5)
        << "halo " << ok_halo << ", nginx " << ok_nginx;
}

/// nginx's order in the preaccess phase: limit_req first, so a request it refuses is never
/// counted by limit_conn (whichever order the directives are written in).
TEST(LimitReqOrderTest, RunsBeforeLimitConn) {
    if (!halo_has_module("http_limit_req") || !halo_has_module("http_limit_conn") ||
        !halo_has_module("http_status")) {
        GTEST_SKIP() << "http_limit_req, http_limit_conn or http_status is not compiled in";
    }
    Halo halo;
    halo.write("html/both/x", "ok\n");
    halo.write_conf(R"(
daemon off;
error_log logs/error.log;
events {}
http {
    root html;
    limit_req_zone $binary_remote_addr zone=rq:1m rate=1r/m;
    limit_conn_zone $binary_remote_addr zone=cn:1m;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location /both/ {
            limit_conn cn 10;
            limit_req zone=rq burst=1 nodelay;
        }
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        location = /status { status format=json; }
    }
}
)");
    ASSERT_TRUE(halo.start()) << halo.error_log();
    std::vector<int> got;
    for (int i = 0; i < 4; i++) {
        auto r = http_get(halo.port(0), "/both/x");
        got.push_back(r ? r->status : 0);
    }
    EXPECT_EQ(got, (std::vector<int>{200, 200, 503, 503}));
    auto j = Json::parse(get_body(halo.port(1), "/status"));
    ASSERT_TRUE(j);
    EXPECT_EQ((*j)["limit_conns"][0]["passed"].integer(), 2);
    EXPECT_EQ((*j)["limit_reqs"][0]["passed"].integer(), 2);
    EXPECT_EQ((*j)["limit_reqs"][0]["rejected"].integer(), 2);
}

}  // namespace
}  // namespace halo_test
