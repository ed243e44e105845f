// proxy_cache next to Debian's nginx: the same cache configuration and the same request
// sequence against a backend of each's own give the same $upstream_cache_status sequence
// (MISS HIT EXPIRED STALE UPDATING REVALIDATED BYPASS, and a background update's STALE then
// HIT) and the same number of backend requests.
#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "support/backend.h"
#include "support/harness.h"
#include "support/nginx.h"

namespace halo_test {
namespace {

constexpr std::string_view kHttp = R"(
    proxy_cache_path %%PREFIX%%/cache levels=1:2 keys_zone=cmp:1m;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        proxy_cache_key $uri$is_args$args;
        add_header X-Cache $upstream_cache_status always;
        location / {
            proxy_pass http://%%B%%;
            proxy_cache cmp;
            proxy_cache_valid 200 1s;
            proxy_cache_use_stale error timeout updating;
            proxy_cache_revalidate on;
            proxy_cache_bypass $arg_fresh;
            proxy_connect_timeout 1s;
        }
        location /bgu {
            proxy_pass http://%%B%%;
            proxy_cache cmp;
            proxy_cache_valid 200 1s;
            proxy_cache_use_stale updating;
            proxy_cache_background_update on;
        }
    }
)";

void answer(BackendConn& c, const BackendRequest& req, std::atomic<int>& n) {
    int k = ++n;
    std::string extra;
    if (req.target.find("reval") != std::string::npos) {
        auto it = req.headers.find("if-none-match");
        if (it != req.headers.end() && it->second == "\"v1\"") {
            c.send("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 0\r\n\r\n");
            return;
        }
        extra = "ETag: \"v1\"\r\n";
    }
    if (req.target.find("slow") != std::string::npos) {
        std::this_thread::sleep_for(600ms);
    }
    c.send(Backend::ok_response(req.target + " #" + std::to_string(k) + "\n", false, extra));
}

struct Server {
    std::atomic<int> count{0};
    std::unique_ptr<Backend> backend;
    uint16_t port = 0;

    std::string status(std::string_view path, std::string* body = nullptr) {
        RawResponse r = fetch_raw(port, request_text(path));
        if (body != nullptr) {
            *body = r.body;
        }
        return r.header("X-Cache");
    }

    /// The sequence every server goes through; returns the statuses, in order.
    std::vector<std::string> run() {
        std::vector<std::string> seq;
        seq.push_back(status("/a"));          // MISS
        seq.push_back(status("/a"));          // HIT
        seq.push_back(status("/a?fresh=1"));  // BYPASS
        seq.push_back(status("/reval"));      // MISS
        seq.push_back(status("/slow"));       // MISS
        seq.push_back(status("/bgu"));        // MISS
        std::this_thread::sleep_for(2100ms);  // everything expired
        seq.push_back(status("/a"));          // EXPIRED
        seq.push_back(status("/reval"));      // REVALIDATED
        seq.push_back(status("/bgu"));        // STALE, refreshed in the background
        wait_until([&] { return count.load() == 8; });
        seq.push_back(wait_until([&] { return status("/bgu") == "HIT"; }) ? "then HIT" : "no HIT");
        std::string first;
        std::thread t([&] { first = status("/slow"); });  // EXPIRED, refreshing for 600 ms
        wait_until([&] { return count.load() == 9; });
        seq.push_back(status("/slow"));  // UPDATING
        t.join();
        seq.push_back(first);
        std::this_thread::sleep_for(2100ms);
        backend->stop();
        seq.push_back(status("/a"));  // STALE
        backend->restart();
        seq.push_back(std::to_string(count.load()));
        return seq;
    }
};

TEST(ProxyCacheNginxTest, SameStatusSequenceAsNginx) {
    if (!nginx_installed() || !halo_has_module("http_proxy")) {
        GTEST_SKIP() << "Debian's nginx or the proxy module is missing";
    }
    auto make = [](Server& s) {
        s.backend = std::make_unique<Backend>(
            "b", [&s](BackendConn& c, const BackendRequest& r) { answer(c, r, s.count); });
        return replace_all(std::string(kHttp), "%%B%%", s.backend->address());
    };
    Server ng;
    Nginx nginx;
    ASSERT_TRUE(nginx.start("events {}\nhttp {\naccess_log off;\n" + make(ng) + "}\n"));
    ng.port = nginx.port();
    Server ha;
    Halo halo;
    halo.write_conf(
        "daemon off;\nerror_log logs/error.log notice;\nevents {}\nhttp {\n"
        "access_log off;\n" +
        make(ha) + "}\n");
    ASSERT_TRUE(halo.start()) << halo.error_log();
    ha.port = halo.port(0);

    std::vector<std::string> want = ng.run();
    std::vector<std::string> got = ha.run();
    std::vector<std::string> expected = {"MISS",     "HIT",     "BYPASS",      "MISS",  "MISS",
                                         "MISS",     "EXPIRED", "REVALIDATED", "STALE", "then HIT",
                                         "UPDATING", "EXPIRED", "STALE",       "9"};
    EXPECT_EQ(want, expected) << "nginx did not do what this test expects of it:\n"
                              << nginx.error_log();
    EXPECT_EQ(got, want) << halo.error_log();
}

/// Caching fields: what the upstream's Cache-Control / Expires / X-Accel-Expires / Set-Cookie /
/// Vary say, for a location without proxy_cache_valid (and one with it for X-Accel-Expires 0).
void header_answer(BackendConn& c, const BackendRequest& req, std::atomic<int>& n) {
    ++n;
    static const std::pair<const char*, const char*> kFields[] = {
        {"/nocache", "Cache-Control: no-cache\r\n"},
        {"/private", "Cache-Control: private, max-age=60\r\n"},
        {"/nostore", "Cache-Control: no-store\r\n"},
        {"/maxage0", "Cache-Control: max-age=0\r\n"},
        {"/maxage", "Cache-Control: public, max-age=60\r\n"},
        {"/smaxage", "Cache-Control: max-age=0, s-maxage=60\r\n"},
        {"/expires-past", "Expires: Thu, 01 Jan 1970 00:00:01 GMT\r\n"},
        {"/expires-future", "Expires: Fri, 01 Jan 2100 00:00:00 GMT\r\n"},
        {"/xae0", "X-Accel-Expires: 0\r\nCache-Control: max-age=60\r\n"},
        {"/xae60", "X-Accel-Expires: 60\r\nCache-Control: no-cache\r\n"},
        {"/xaebad", "X-Accel-Expires: soon\r\nCache-Control: max-age=60\r\n"},
        {"/cookie", "Set-Cookie: a=b\r\nCache-Control: max-age=60\r\n"},
        {"/varystar", "Vary: *\r\nCache-Control: max-age=60\r\n"},
        {"/vary", "Vary: Accept-Encoding\r\nCache-Control: max-age=60\r\n"},
        {"/none", ""},
    };
    std::string extra;
    for (auto [path, fields] : kFields) {
        if (req.target.rfind(std::string("/h") + path, 0) == 0 ||
            req.target.rfind(std::string("/v") + path, 0) == 0) {
            extra = fields;
            break;
        }
    }
    c.send(Backend::ok_response("x", false, extra));
}

TEST(ProxyCacheNginxTest, SameCachingDecisionsAsNginx) {
    if (!nginx_installed() || !halo_has_module("http_proxy")) {
        GTEST_SKIP() << "Debian's nginx or the proxy module is missing";
    }
    const std::string http = R"(
    proxy_cache_path %%PREFIX%%/cache levels=1:2 keys_zone=hdr:1m;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        add_header X-Cache $upstream_cache_status always;
        location /h/ {
            proxy_pass http://%%B%%;
            proxy_cache hdr;
        }
        location /v/ {
            proxy_pass http://%%B%%;
            proxy_cache hdr;
            proxy_cache_valid any 1m;
        }
    }
)";
    const char* paths[] = {"/nocache", "/private",      "/nostore",        "/maxage0", "/maxage",
                           "/smaxage", "/expires-past", "/expires-future", "/xae0",    "/xae60",
                           "/xaebad",  "/cookie",       "/varystar",       "/vary",    "/none"};
    struct Side {
        std::atomic<int> n{0};
        std::unique_ptr<Backend> backend;
    };
    auto run = [&](Side& side, uint16_t port) {
        std::vector<std::string> out;
        for (const char* loc : {"/h", "/v"}) {
            for (const char* p : paths) {
                std::string path = std::string(loc) + p;
                int before = side.n.load();
                fetch_raw(port, request_text(path));
                RawResponse again = fetch_raw(port, request_text(path));
                out.push_back(path + " " + again.header("X-Cache") + " " +
                              std::to_string(side.n.load() - before));
            }
        }
        return out;
    };
    Side ng;
    ng.backend = std::make_unique<Backend>(
        "b", [&ng](BackendConn& c, const BackendRequest& r) { header_answer(c, r, ng.n); });
    Nginx nginx;
    ASSERT_TRUE(nginx.start("events {}\nhttp {\naccess_log off;\n" +
                            replace_all(http, "%%B%%", ng.backend->address()) + "}\n"));
    Side ha;
    ha.backend = std::make_unique<Backend>(
        "b", [&ha](BackendConn& c, const BackendRequest& r) { header_answer(c, r, ha.n); });
    Halo halo;
    halo.write_conf(
        "daemon off;\nerror_log logs/error.log notice;\nevents {}\nhttp {\n"
        "access_log off;\n" +
        replace_all(http, "%%B%%", ha.backend->address()) + "}\n");
    ASSERT_TRUE(halo.start()) << halo.error_log();
    std::vector<std::string> want = run(ng, nginx.port());
    std::vector<std::string> got = run(ha, halo.port(0));
    EXPECT_EQ(got, want) << halo.error_log();
    // The test means something only if both kinds of answer are in it.
    EXPECT_NE(
        std::count_if(want.begin(), want.end(),
                      [](const std::string& l) { return l.find(" HIT ") != std::string::npos; }),
        0);
    EXPECT_NE(
        std::count_if(want.begin(), want.end(),
                      [](const std::string& l) { return l.find(" MISS ") != std::string::npos; }),
        0);
}

}  // namespace
}  // namespace halo_test
