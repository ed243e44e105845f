// proxy_cache next to Debian's nginx: the same cache configuration and the same request
// sequence against a backend of each's own give the same $upstream_cache_status sequence
// (MISS HIT EXPIRED STALE UPDATING REVALIDATED BYPASS, and a background update's STALE then
// HIT) and the same number of backend requests.
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

}  // namespace
}  // namespace halo_test
