// proxy_cache through the real binary (2 workers, the cache loader and manager helpers) against
// a backend that counts requests: MISS then HIT, Cache-Control / Expires / X-Accel-Expires /
// Set-Cookie / Vary rules, stale answers with the backend stopped, one backend request for 100
// concurrent clients with proxy_cache_lock, revalidation with 304, max_size eviction by the
// manager (files on disk), the cache kept across a restart (loader) and a reload, purge.
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "support/backend.h"
#include "support/harness.h"

namespace halo_test {
namespace {

constexpr std::string_view kConf = R"(
daemon off;
worker_processes 2;
error_log logs/error.log notice;

events {
    worker_connections 512;
}

http {
    access_log off;
    proxy_cache_path %%PREFIX%%/cache levels=1:2 keys_zone=main:1m inactive=10m;
    proxy_cache_path %%PREFIX%%/small levels=1 keys_zone=small:256k max_size=64k;
    proxy_cache_path %%PREFIX%%/brief keys_zone=brief:256k inactive=1s;

    server {
        listen 127.0.0.1:%%PORT_0%% reuseport;
        proxy_cache_key $uri$is_args$args;
        add_header X-Cache $upstream_cache_status always;

        location / {
            proxy_pass http://%%B%%;
            proxy_cache main;
            proxy_cache_valid 200 1m;
        }
        location /hdr/ {
            proxy_pass http://%%B%%;
            proxy_cache main;
        }
        location /short/ {
            proxy_pass http://%%B%%;
            proxy_cache main;
            proxy_cache_valid 200 1s;
            proxy_cache_use_stale error timeout http_500 updating;
            proxy_cache_revalidate on;
            proxy_connect_timeout 1s;
        }
        location /bg/ {
            proxy_pass http://%%B%%;
            proxy_cache main;
            proxy_cache_valid 200 1s;
            proxy_cache_use_stale updating;
            proxy_cache_background_update on;
        }
        location /lock/ {
            proxy_pass http://%%B%%;
            proxy_cache main;
            proxy_cache_valid 200 1m;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 20s;
            proxy_cache_lock_age 20s;
        }
        location /cond/ {
            proxy_pass http://%%B%%;
            proxy_cache main;
            proxy_cache_valid 200 1m;
            proxy_cache_bypass $arg_fresh;
            proxy_no_cache $arg_nostore;
            proxy_cache_min_uses 2;
        }
        location /brief/ {
            proxy_pass http://%%B%%;
            proxy_cache brief;
            proxy_cache_valid 200 1h;
        }
        location /byvar/ {
            proxy_pass http://%%B%%;
            proxy_cache $arg_zone;
            proxy_cache_valid 200 1h;
        }
        location /small/ {
            proxy_pass http://%%B%%;
            proxy_cache small;
            proxy_cache_valid 200 1m;
        }
        location /purge {
            allow 127.0.0.1;
            deny all;
            proxy_cache_purge main $arg_key;
        }
        location /st {
            status format=prometheus;
        }
        location /purge-denied {
            deny all;
            proxy_cache_purge main $arg_key;
        }
    }
}
)";

std::atomic<bool> g_fail500{false};  // /short/err answers 500 while set
std::atomic<bool> g_hold_bg{false};  // /bg/ answers wait while set
std::atomic<int> g_bg_answered{0};   // /bg/ answers sent

/// The backend's answer for a target: a counter in the body, headers by path.
void answer(BackendConn& c, const BackendRequest& req, std::atomic<int>& n) {
    int k = ++n;
    if (req.target.find("/short/err") != std::string::npos && g_fail500) {
        c.send("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nbad\n");
        return;
    }
    std::string t = req.target;
    std::string extra;
    std::string body = t + " #" + std::to_string(k) + "\n";
    auto has = [&](std::string_view s) { return t.find(s) != std::string::npos; };
    if (has("/hdr/nocache")) {
        extra = "Cache-Control: no-cache\r\n";
    } else if (has("/hdr/private")) {
        extra = "Cache-Control: private, max-age=60\r\n";
    } else if (has("/hdr/nostore")) {
        extra = "Cache-Control: no-store\r\n";
    } else if (has("/hdr/maxage0")) {
        extra = "Cache-Control: max-age=0\r\n";
    } else if (has("/hdr/maxage")) {
        extra = "Cache-Control: public, max-age=60\r\n";
    } else if (has("/hdr/smaxage")) {
        extra = "Cache-Control: max-age=0, s-maxage=60\r\n";
    } else if (has("/hdr/expires-past")) {
        extra = "Expires: Thu, 01 Jan 1970 00:00:01 GMT\r\n";
    } else if (has("/hdr/expires-future")) {
        extra = "Expires: Fri, 01 Jan 2100 00:00:00 GMT\r\n";
    } else if (has("/hdr/xae0")) {
        extra = "X-Accel-Expires: 0\r\nCache-Control: max-age=60\r\n";
    } else if (has("/hdr/xae60")) {
        extra = "X-Accel-Expires: 60\r\nCache-Control: no-cache\r\n";
    } else if (has("/hdr/cookie")) {
        extra = "Set-Cookie: a=b\r\nCache-Control: max-age=60\r\n";
    } else if (has("/hdr/varystar")) {
        extra = "Vary: *\r\nCache-Control: max-age=60\r\n";
    } else if (has("/vary")) {
        auto it = req.headers.find("accept-encoding");
        body = "enc=" + (it == req.headers.end() ? std::string("none") : it->second) + " #" +
               std::to_string(k) + "\n";
        extra = "Vary: Accept-Encoding\r\n";
    } else if (has("/reval")) {
        auto it = req.headers.find("if-none-match");
        if (it != req.headers.end() && it->second == "\"v1\"") {
            c.send("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 0\r\n\r\n");
            return;
        }
        extra = "ETag: \"v1\"\r\n";
    } else if (has("/lock/") || has("/slow")) {
        std::this_thread::sleep_for(600ms);
    } else if (has("/small/")) {
        body = std::string(8000, 'x');
    } else if (has("/bg/")) {
        while (g_hold_bg) {
            std::this_thread::sleep_for(10ms);
        }
        c.send(Backend::ok_response(body, false, extra));
        ++g_bg_answered;
        return;
    } else if (has("/big")) {
        body = pattern_bytes(1 << 20);
    } else if (has("/chunked")) {
        c.send(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
            "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
        return;
    } else if (has("/etagged")) {
        extra = "ETag: \"e1\"\r\nLast-Modified: Sat, 01 Jan 2022 00:00:00 GMT\r\n";
    }
    c.send(Backend::ok_response(body, false, extra));
}

/// Bytes the files under `dir` take on disk.
uint64_t disk_usage(const std::string& dir, int* files) {
    uint64_t n = 0;
    *files = 0;
    std::error_code ec;
    for (auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
        struct stat st;
        if (e.is_regular_file() && stat(e.path().c_str(), &st) == 0) {
            n += static_cast<uint64_t>(st.st_blocks) * 512;
            ++*files;
        }
    }
    return n;
}

class ProxyCacheTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_proxy")) {
            GTEST_SKIP() << "the proxy module is not compiled in";
        }
        backend_ = std::make_unique<Backend>(
            "b", [this](BackendConn& c, const BackendRequest& r) { answer(c, r, count_); });
        std::string conf(kConf);
        for (size_t at; (at = conf.find("%%B%%")) != std::string::npos;) {
            conf.replace(at, 5, backend_->address());
        }
        halo_.write_conf(conf);
        ASSERT_TRUE(halo_.start()) << halo_.error_log();
    }

    HttpResponse get(std::string_view path, std::string_view extra = {},
                     std::string_view method = "GET") {
        HttpConnection c;
        if (!c.connect(halo_.port(0))) {
            return {};
        }
        c.send(std::string(method) + " " + std::string(path) +
               " HTTP/1.1\r\nHost: w\r\nConnection: close\r\n" + std::string(extra) + "\r\n");
        auto r = c.read_response(30s, method == "HEAD");
        return r ? *r : HttpResponse{};
    }

    /// Requests the backend saw for `target`.
    int seen(std::string_view target) {
        int n = 0;
        for (const BackendRequest& r : backend_->seen()) {
            n += r.target == target;
        }
        return n;
    }

    std::string status_of(std::string_view path, std::string_view extra = {}) {
        return get(path, extra).header("X-Cache");
    }

    std::atomic<int> count_{0};
    std::unique_ptr<Backend> backend_;
    Halo halo_;
};

TEST_F(ProxyCacheTest, MissThenHit) {
    HttpResponse a = get("/page");
    ASSERT_EQ(a.status, 200) << halo_.error_log();
    EXPECT_EQ(a.header("X-Cache"), "MISS");
    HttpResponse b = get("/page");
    EXPECT_EQ(b.status, 200);
    EXPECT_EQ(b.header("X-Cache"), "HIT");
    EXPECT_EQ(b.body, a.body);
    EXPECT_EQ(b.header("Content-Type"), "text/plain");
    EXPECT_EQ(seen("/page"), 1);
    // The file is where nginx puts it: levels=1:2 from the MD5 of the key "/page".
    EXPECT_TRUE(file_exists(halo_.path("cache/c/2c/5686126ba845fe5d220d670589e332cc")));
    // A range of a cached response comes from the file too.
    HttpResponse r = get("/page", "Range: bytes=1-3\r\n");
    EXPECT_EQ(r.status, 206);
    EXPECT_EQ(r.body, a.body.substr(1, 3));
    EXPECT_EQ(r.header("X-Cache"), "HIT");
    EXPECT_EQ(seen("/page"), 1);
}

TEST_F(ProxyCacheTest, LargeAndChunkedBodiesStoredWhole) {
    HttpResponse a = get("/big");
    ASSERT_EQ(a.status, 200);
    ASSERT_EQ(a.body.size(), 1u << 20);
    HttpResponse b = get("/big");
    EXPECT_EQ(b.header("X-Cache"), "HIT");
    EXPECT_TRUE(b.body == a.body) << "the cached 1 MiB body differs";
    EXPECT_EQ(b.header("Content-Length"), std::to_string(1 << 20));
    // The MISS passes the chunks on (this client reads them raw); the HIT has a length.
    EXPECT_EQ(get("/chunked").body, "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    HttpResponse c = get("/chunked");
    EXPECT_EQ(c.header("X-Cache"), "HIT");
    EXPECT_EQ(c.body, "hello world");
    EXPECT_EQ(c.header("Content-Length"), "11");
    EXPECT_EQ(seen("/big") + seen("/chunked"), 2);
}

TEST_F(ProxyCacheTest, ConditionalRequestsOnAHit) {
    ASSERT_EQ(status_of("/etagged"), "MISS");
    HttpResponse a = get("/etagged", "If-None-Match: \"e1\"\r\n");
    EXPECT_EQ(a.status, 304);
    EXPECT_EQ(a.header("X-Cache"), "HIT");
    HttpResponse b = get("/etagged", "If-Modified-Since: Sat, 01 Jan 2022 00:00:00 GMT\r\n");
    EXPECT_EQ(b.status, 304);
    HttpResponse c = get("/etagged", "If-None-Match: \"other\"\r\n");
    EXPECT_EQ(c.status, 200);
    EXPECT_EQ(c.header("ETag"), "\"e1\"");
    // The client's conditional fields are not passed upstream with a cached request.
    auto reqs = backend_->seen();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_EQ(reqs[0].headers.count("if-none-match"), 0u);
}

TEST_F(ProxyCacheTest, RangeOnAMissIsCutFromTheWholeAnswer) {
    HttpResponse a = get("/ranged", "Range: bytes=0-3\r\n");
    EXPECT_EQ(a.status, 206);
    EXPECT_EQ(a.header("X-Cache"), "MISS");
    EXPECT_EQ(a.body, "/ran");
    auto reqs = backend_->seen();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_EQ(reqs[0].headers.count("range"), 0u);  // the whole answer was asked for
    HttpResponse b = get("/ranged");
    EXPECT_EQ(b.status, 200);
    EXPECT_EQ(b.header("X-Cache"), "HIT");
    EXPECT_EQ(b.body, "/ranged #1\n");
}

TEST_F(ProxyCacheTest, DamagedFileIsAMissNotACrash) {
    ASSERT_EQ(status_of("/damaged"), "MISS");
    // The only file in the cache, overwritten with garbage.
    std::string file;
    for (auto& e : std::filesystem::recursive_directory_iterator(halo_.path("cache"))) {
        if (e.is_regular_file()) {
            file = e.path();
        }
    }
    ASSERT_FALSE(file.empty());
    ASSERT_TRUE(write_file(file, "garbage"));
    HttpResponse b = get("/damaged");
    EXPECT_EQ(b.status, 200);
    EXPECT_EQ(b.header("X-Cache"), "MISS");
    EXPECT_EQ(b.body, "/damaged #2\n");
    EXPECT_EQ(status_of("/damaged"), "HIT");
    EXPECT_TRUE(halo_.master_alive());
}

TEST_F(ProxyCacheTest, HeaderRules) {
    struct Case {
        const char* path;
        bool cached;
    } cases[] = {
        {"/hdr/nocache", false},      {"/hdr/private", false},       {"/hdr/nostore", false},
        {"/hdr/maxage0", false},      {"/hdr/maxage", true},         {"/hdr/smaxage", true},
        {"/hdr/expires-past", false}, {"/hdr/expires-future", true}, {"/hdr/xae0", false},
        {"/hdr/xae60", true},         {"/hdr/cookie", false},        {"/hdr/varystar", false},
        {"/hdr/none", false},  // no proxy_cache_valid here, no header: not cached
    };
    for (const Case& c : cases) {
        ASSERT_EQ(get(c.path).status, 200) << c.path;
        HttpResponse again = get(c.path);
        EXPECT_EQ(seen(c.path), c.cached ? 1 : 2) << c.path;
        EXPECT_EQ(again.header("X-Cache"), c.cached ? "HIT" : "MISS") << c.path;
    }
}

TEST_F(ProxyCacheTest, VaryKeepsVariantsApart) {
    HttpResponse gz = get("/vary", "Accept-Encoding: gzip\r\n");
    HttpResponse plain = get("/vary");
    HttpResponse gz2 = get("/vary", "Accept-Encoding: gzip\r\n");
    HttpResponse plain2 = get("/vary");
    EXPECT_EQ(gz.body.substr(0, 8), "enc=gzip");
    EXPECT_EQ(plain.body.substr(0, 8), "enc=none");
    EXPECT_EQ(gz2.body, gz.body);
    EXPECT_EQ(plain2.body, plain.body);
    EXPECT_EQ(gz2.header("X-Cache"), "HIT");
    EXPECT_EQ(plain2.header("X-Cache"), "HIT");
    EXPECT_EQ(seen("/vary"), 2);
}

TEST_F(ProxyCacheTest, StaleServedWhenBackendStopped) {
    HttpResponse a = get("/short/s");
    ASSERT_EQ(a.header("X-Cache"), "MISS");
    std::this_thread::sleep_for(2100ms);  // proxy_cache_valid 1s: expired now
    backend_->stop();
    HttpResponse b = get("/short/s");
    EXPECT_EQ(b.status, 200) << halo_.error_log();
    EXPECT_EQ(b.header("X-Cache"), "STALE");
    EXPECT_EQ(b.body, a.body);
    ASSERT_TRUE(backend_->restart());
    HttpResponse c = get("/short/s");
    EXPECT_EQ(c.header("X-Cache"), "EXPIRED");
    EXPECT_NE(c.body, a.body);
}

TEST_F(ProxyCacheTest, StaleServedForA500) {
    g_fail500 = false;
    HttpResponse a = get("/short/err");
    ASSERT_EQ(a.header("X-Cache"), "MISS");
    std::this_thread::sleep_for(2100ms);
    g_fail500 = true;
    HttpResponse b = get("/short/err");
    g_fail500 = false;
    EXPECT_EQ(b.status, 200);
    EXPECT_EQ(b.header("X-Cache"), "STALE");
    EXPECT_EQ(b.body, a.body);
    EXPECT_EQ(seen("/short/err"), 2);
}

TEST_F(ProxyCacheTest, InactiveEntriesLeaveTheDisk) {
    ASSERT_EQ(status_of("/brief/x"), "MISS");
    ASSERT_EQ(status_of("/brief/x"), "HIT");
    int files = 0;
    disk_usage(halo_.path("brief"), &files);
    ASSERT_EQ(files, 1);
    // inactive=1s: the manager removes the entry and its file within a few of its passes.
    ASSERT_TRUE(wait_until(
        [&] {
            disk_usage(halo_.path("brief"), &files);
            return files == 0;
        },
        10s));
    EXPECT_EQ(status_of("/brief/x"), "MISS");
    EXPECT_EQ(seen("/brief/x"), 2);
}

TEST_F(ProxyCacheTest, ZoneNamedByAVariable) {
    EXPECT_EQ(status_of("/byvar/a?zone=main"), "MISS");
    EXPECT_EQ(status_of("/byvar/a?zone=main"), "HIT");
    EXPECT_EQ(status_of("/byvar/a?zone=brief"), "MISS");  // another cache, another entry
    HttpResponse off = get("/byvar/a?zone=off");
    EXPECT_EQ(off.status, 200);
    EXPECT_EQ(off.header("X-Cache"), "");
    EXPECT_EQ(get("/byvar/a?zone=nosuch").status, 500);
    EXPECT_EQ(seen("/byvar/a?zone=main") + seen("/byvar/a?zone=brief") + seen("/byvar/a?zone=off"),
              3);
}

TEST_F(ProxyCacheTest, BackgroundUpdateServesStaleAtOnce) {
    g_hold_bg = false;
    g_bg_answered = 0;
    HttpResponse a = get("/bg/x");
    ASSERT_EQ(a.header("X-Cache"), "MISS");
    std::this_thread::sleep_for(2100ms);  // expired
    g_hold_bg = true;                     // the backend holds the refresh until released
    HttpResponse b = get("/bg/x");
    // The stale answer came while the backend had not answered the refresh yet.
    EXPECT_EQ(b.status, 200);
    EXPECT_EQ(b.header("X-Cache"), "STALE");
    EXPECT_EQ(b.body, a.body);
    EXPECT_EQ(g_bg_answered.load(), 1);
    ASSERT_TRUE(wait_until([&] { return seen("/bg/x") == 2; }));
    EXPECT_EQ(status_of("/bg/x"), "UPDATING");  // another request meanwhile
    g_hold_bg = false;
    ASSERT_TRUE(wait_until([&] { return g_bg_answered.load() == 2; }));
    ASSERT_TRUE(wait_until([&] { return status_of("/bg/x") == "HIT"; }));
    HttpResponse c = get("/bg/x");
    EXPECT_EQ(c.body, "/bg/x #2\n");
    EXPECT_EQ(seen("/bg/x"), 2);
}

TEST_F(ProxyCacheTest, RevalidateWith304) {
    HttpResponse a = get("/short/reval");
    ASSERT_EQ(a.header("X-Cache"), "MISS");
    std::this_thread::sleep_for(2100ms);
    HttpResponse b = get("/short/reval");
    EXPECT_EQ(b.status, 200);
    EXPECT_EQ(b.header("X-Cache"), "REVALIDATED");
    EXPECT_EQ(b.body, a.body);
    auto reqs = backend_->seen();
    ASSERT_EQ(reqs.size(), 2u);
    EXPECT_EQ(reqs[1].headers["if-none-match"], "\"v1\"");
    // Refreshed: a HIT again, no third backend request.
    EXPECT_EQ(get("/short/reval").header("X-Cache"), "HIT");
    EXPECT_EQ(seen("/short/reval"), 2);
}

TEST_F(ProxyCacheTest, UpdatingServesStaleWhileOneRefreshes) {
    ASSERT_EQ(get("/short/slow").header("X-Cache"), "MISS");
    std::this_thread::sleep_for(2100ms);
    std::string first;
    std::thread t([&] { first = status_of("/short/slow"); });  // refreshes, 600 ms
    ASSERT_TRUE(wait_until([&] { return seen("/short/slow") == 2; }));
    EXPECT_EQ(status_of("/short/slow"), "UPDATING");
    t.join();
    EXPECT_EQ(first, "EXPIRED");
    EXPECT_EQ(status_of("/short/slow"), "HIT");
    EXPECT_EQ(seen("/short/slow"), 2);
}

TEST_F(ProxyCacheTest, LockHundredConcurrentOneBackendRequest) {
    std::vector<std::thread> ts;
    std::vector<HttpResponse> rs(100);
    for (int i = 0; i < 100; i++) {
        ts.emplace_back([&, i] { rs[i] = get("/lock/cold"); });
    }
    for (auto& t : ts) {
        t.join();
    }
    std::map<std::string, int> statuses;
    for (const HttpResponse& r : rs) {
        ASSERT_EQ(r.status, 200) << halo_.error_log();
        EXPECT_EQ(r.body, rs[0].body);
        statuses[r.header("X-Cache")]++;
    }
    EXPECT_EQ(seen("/lock/cold"), 1);
    EXPECT_EQ(statuses["MISS"], 1);
    EXPECT_EQ(statuses["HIT"], 99);
}

TEST_F(ProxyCacheTest, BypassNoCacheMinUses) {
    // min_uses 2: the first answer is not stored, the second is.
    EXPECT_EQ(status_of("/cond/a"), "MISS");
    EXPECT_EQ(status_of("/cond/a"), "MISS");
    EXPECT_EQ(status_of("/cond/a"), "HIT");
    EXPECT_EQ(seen("/cond/a"), 2);
    // proxy_cache_bypass: from the backend (and stored: the next HIT has the new body).
    HttpResponse b = get("/cond/a?fresh=1");
    EXPECT_EQ(b.header("X-Cache"), "BYPASS");
    EXPECT_EQ(seen("/cond/a?fresh=1"), 1);
    // proxy_no_cache: never stored.
    for (int i = 0; i < 3; i++) {
        get("/cond/n?nostore=1");
    }
    EXPECT_EQ(seen("/cond/n?nostore=1"), 3);
}

TEST_F(ProxyCacheTest, HeadIsFetchedAsGetAndFillsTheCache) {
    HttpResponse h = get("/headfill", {}, "HEAD");
    EXPECT_EQ(h.status, 200);
    EXPECT_EQ(h.header("X-Cache"), "MISS");
    auto reqs = backend_->seen();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_EQ(reqs[0].method, "GET");
    HttpResponse g = get("/headfill");
    EXPECT_EQ(g.header("X-Cache"), "HIT");
    EXPECT_EQ(g.body, "/headfill #1\n");
}

TEST_F(ProxyCacheTest, MaxSizeEvictsOnDisk) {
    for (int i = 0; i < 30; i++) {
        ASSERT_EQ(get("/small/" + std::to_string(i)).status, 200);
    }
    int files = 0;
    // The manager (once a second) brings the size under max_size=64k, oldest first.
    ASSERT_TRUE(
        wait_until([&] { return disk_usage(halo_.path("small"), &files) <= 64 * 1024; }, 10s))
        << files << " files, " << disk_usage(halo_.path("small"), &files) << " bytes";
    EXPECT_GT(files, 0);
    EXPECT_LT(files, 30);
    // The newest stayed, the oldest went.
    EXPECT_EQ(status_of("/small/29"), "HIT");
    EXPECT_EQ(status_of("/small/0"), "MISS");
}

TEST_F(ProxyCacheTest, RestartKeepsTheCache) {
    HttpResponse a = get("/keep");
    ASSERT_EQ(a.header("X-Cache"), "MISS");
    halo_.kill_all();
    ASSERT_TRUE(halo_.start()) << halo_.error_log();
    // The cache loader runs at start: once it logged, the entry is known again.
    ASSERT_TRUE(wait_until([&] {
        return log_lines_with(halo_.error_log(), "1 files loaded").size() >= 1;
    })) << halo_.error_log();
    HttpResponse b = get("/keep");
    EXPECT_EQ(b.header("X-Cache"), "HIT");
    EXPECT_EQ(b.body, a.body);
    EXPECT_EQ(seen("/keep"), 1);
}

TEST_F(ProxyCacheTest, ReloadKeepsTheCache) {
    HttpResponse a = get("/reload");
    ASSERT_EQ(a.header("X-Cache"), "MISS");
    auto old = halo_.workers();
    ASSERT_EQ(halo_.run({"-s", "reload"}).status, 0);
    ASSERT_TRUE(wait_until([&] {
        return log_lines_with(halo_.error_log(), "reconfiguring").size() >= 1 ||
               log_lines_with(halo_.error_log(), "reload").size() >= 1;
    }));
    for (int i = 0; i < 10; i++) {  // on both workers of the new generation
        HttpResponse b = get("/reload");
        EXPECT_EQ(b.header("X-Cache"), "HIT");
        EXPECT_EQ(b.body, a.body);
    }
    EXPECT_EQ(seen("/reload"), 1);
}

TEST_F(ProxyCacheTest, ReloadWithANewZoneSizeLoadsTheFilesAgain) {
    HttpResponse a = get("/resized");
    ASSERT_EQ(a.header("X-Cache"), "MISS");
    // keys_zone=main:1m becomes 2m: a new zone, which the new generation's loader fills.
    std::string conf = read_file(halo_.conf_path()).value_or("");
    size_t at = conf.find("keys_zone=main:1m");
    ASSERT_NE(at, std::string::npos);
    conf.replace(at, 17, "keys_zone=main:2m");
    ASSERT_TRUE(write_file(halo_.conf_path(), conf));
    ASSERT_EQ(halo_.run({"-s", "reload"}).status, 0);
    // The first loader found nothing; the new one finds the file stored before the reload.
    ASSERT_TRUE(wait_until([&] {
        return !log_lines_with(halo_.error_log(), "1 files loaded").empty();
    })) << halo_.error_log();
    HttpResponse b = get("/resized");
    EXPECT_EQ(b.header("X-Cache"), "HIT");
    EXPECT_EQ(b.body, a.body);
    EXPECT_EQ(seen("/resized"), 1);
}

TEST_F(ProxyCacheTest, PurgeByKey) {
    ASSERT_EQ(status_of("/gone"), "MISS");
    ASSERT_EQ(status_of("/gone"), "HIT");
    EXPECT_EQ(get("/purge-denied?key=/gone").status, 403);
    EXPECT_EQ(status_of("/gone"), "HIT");
    HttpResponse p = get("/purge?key=/gone");
    EXPECT_EQ(p.status, 200);
    EXPECT_EQ(p.body, "{\"key\":\"/gone\",\"purged\":true}\n");
    EXPECT_EQ(status_of("/gone"), "MISS");
    EXPECT_EQ(seen("/gone"), 2);
    EXPECT_EQ(get("/purge?key=/never").status, 404);
}

TEST_F(ProxyCacheTest, StatusPageCounts) {
    if (!halo_has_module("http_status")) {
        GTEST_SKIP() << "the status module is not compiled in";
    }
    get("/counted");         // MISS
    get("/counted");         // HIT
    get("/counted");         // HIT
    get("/cond/x?fresh=1");  // BYPASS
    std::string page = get("/st").body;
    EXPECT_NE(page.find("halo_cache_hits_total{zone=\"main\"} 2\n"), std::string::npos) << page;
    EXPECT_NE(page.find("halo_cache_misses_total{zone=\"main\"} 1\n"), std::string::npos);
    EXPECT_NE(page.find("halo_cache_bypass_total{zone=\"main\"} 1\n"), std::string::npos);
    EXPECT_NE(page.find("halo_cache_entries{zone=\"main\"} 2\n"), std::string::npos);
    EXPECT_NE(page.find("halo_cache_max_size_bytes{zone=\"small\"} 65536\n"), std::string::npos);
    EXPECT_EQ(page.find("halo_cache_size_bytes{zone=\"main\"} 0\n"), std::string::npos);
}

TEST(ProxyCacheSingleProcessTest, RestartKeepsTheCacheWithoutHelpers) {
    if (!halo_has_module("http_proxy")) {
        GTEST_SKIP();
    }
    std::atomic<int> n{0};
    Backend backend("b", [&](BackendConn& c, const BackendRequest& r) { answer(c, r, n); });
    Halo halo;
    halo.write_conf(
        "daemon off;\nmaster_process off;\nerror_log logs/error.log notice;\n"
        "events {}\nhttp {\naccess_log off;\n"
        "proxy_cache_path %%PREFIX%%/cache levels=1:2 keys_zone=one:1m;\n"
        "server { listen 127.0.0.1:%%PORT_0%%;\n"
        "add_header X-Cache $upstream_cache_status always;\n"
        "location / { proxy_pass http://" +
        backend.address() + "; proxy_cache one; proxy_cache_valid 200 1h; } }\n}\n");
    ASSERT_TRUE(halo.start()) << halo.error_log();
    auto get = [&] {
        auto r = http_get(halo.port(0), "/single");
        return r ? *r : HttpResponse{};
    };
    EXPECT_EQ(get().header("X-Cache"), "MISS");
    halo.kill_all();
    ASSERT_TRUE(halo.start()) << halo.error_log();
    // The single process loaded the files itself before serving.
    HttpResponse b = get();
    EXPECT_EQ(b.header("X-Cache"), "HIT") << halo.error_log();
    EXPECT_EQ(n.load(), 1);
    EXPECT_EQ(log_lines_with(halo.error_log(), "1 files loaded").size(), 1u) << halo.error_log();
}

TEST(ProxyCacheConfigTest, Refusals) {
    if (!halo_has_module("http_proxy")) {
        GTEST_SKIP();
    }
    struct Case {
        const char* conf;
        const char* message;
    } cases[] = {
        {"proxy_cache_path c keys_zone=z:1m manager_files=10;",
         "\"manager_files\" is not supported by halo in \"proxy_cache_path\""},
        {"proxy_cache_path c levels=3 keys_zone=z:1m;", "invalid \"levels\" \"3\""},
        {"proxy_cache_path c levels=1;", "\"proxy_cache_path\" must have \"keys_zone\" parameter"},
        {"proxy_cache_path c keys_zone=z:1m; proxy_cache_path d keys_zone=z:1m;",
         "duplicate zone \"z\""},
        {"proxy_cache nope;", "\"proxy_cache\" zone \"nope\" is unknown"},
        {"proxy_cache_use_stale error bogus;", "invalid value \"bogus\""},
        {"proxy_cache_valid 200 abc;", "invalid time value \"abc\""},
        {"proxy_cache_methods PUT;", "invalid value \"PUT\""},
    };
    for (const Case& c : cases) {
        Halo h;
        h.write_conf(std::string("events {}\nhttp {\n") + c.conf +
                     "\nserver { listen 127.0.0.1:%%PORT_0%%; location / { proxy_pass "
                     "http://127.0.0.1:1; } }\n}\n");
        RunResult r = h.run({"-t"});
        EXPECT_NE(r.status, 0) << c.conf;
        EXPECT_NE(r.err.find(c.message), std::string::npos) << c.conf << "\n" << r;
    }
}

}  // namespace
}  // namespace halo_test
