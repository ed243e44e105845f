// Configs in the shapes real nginx configs take (written for these tests, in the style of the
// public ones: see tests/tools/conf_survey.sh), each run by Debian's nginx and by halo on the
// same text, each server in a private network + mount namespace, the same requests to both:
//   - StaticSite: an h5bp-style static site (map $sent_http_content_type for expires and the
//     security headers, charset and charset_types, gzip with gzip_types/gzip_vary, dot-files
//     denied, a www redirect, a catch-all server answering 444, error_page 404),
//   - StaticSiteByLocation: the older location-based form (expires and add_header by file
//     extension, autoindex, error_page to a file, extension-less URLs, rewrite ... permanent),
//   - Spa: a single-page app (try_files $uri $uri/ /index.html, asset caching, an API proxied),
//   - TlsProxy: a TLS reverse proxy (certificate made at run time, HSTS, proxy_set_header
//     X-Forwarded-*, keepalive upstream, http -> https redirect),
//   - LoadBalancedApi: an upstream of several backends (round robin, proxy_next_upstream on a
//     dead server and on 503, keepalive, a URI-replacing proxy_pass).
// The backends are one more nginx in each namespace (the same for both sides), answering with
// a JSON echo of what it received, so only the server under test differs.
//
// Lines halo refuses today are removed from halo's copy only (Shape::halo_strip, each with its
// reason), and answers that differ today are listed (Shape::known): both lists shrink as halo
// catches up.
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <string>
#include <vector>

#include "diff_site.h"
#include "support/differential.h"
#include "support/harness.h"

namespace halo_test {
namespace {

struct Strip {
    std::string_view directive;
    std::string_view reason;
};

struct Shape {
    std::string_view conf;  // %%TMP%% = the test's directory
    std::vector<Strip> halo_strip;
    std::vector<KnownDifference> known;
    std::vector<uint16_t> ports = {80};
    /// halo -t refuses the config even without halo_strip, with this message (a gap that
    /// stripping lines cannot hide): the comparison is skipped until halo -t accepts it.
    std::string_view halo_refuses = {};
    std::string_view refuses_reason = {};
};

/// The backends: three nginx servers echoing the request as JSON, and one that answers 503.
constexpr std::string_view kBackendConf = R"(
daemon off;
worker_processes 1;
pid %%TMP%%/run/backend.pid;
error_log %%TMP%%/logs/backend-error.log;
events { worker_connections 128; }
http {
    access_log off;
    default_type application/json;
    server {
        listen 127.0.0.1:8081;
        listen 127.0.0.1:8082;
        listen 127.0.0.1:8083;
        location / {
            return 200 '{"backend":"$server_port","method":"$request_method","uri":"$request_uri","host":"$http_host","x_real_ip":"$http_x_real_ip","xff":"$http_x_forwarded_for","proto":"$http_x_forwarded_proto","connection":"$http_connection","upgrade":"$http_upgrade","ua":"$http_user_agent"}\n';
        }
        location /files/ {
            alias %%TMP%%/www/;
        }
        location /redirect {
            return 302 /elsewhere;
        }
        location /cookie {
            add_header Set-Cookie "session=abc; Path=/; HttpOnly";
            return 200 "cookie\n";
        }
    }
    server {
        listen 127.0.0.1:8085;
        return 503;
    }
}
)";

constexpr std::string_view kStaticSite = R"(
worker_processes 1;
pid %%TMP%%/run/server.pid;
error_log %%TMP%%/logs/error.log warn;
events { worker_connections 256; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    charset utf-8;
    charset_types text/css text/plain text/javascript application/javascript application/json
                  application/manifest+json image/svg+xml text/xml;
    server_tokens off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 20s;
    access_log %%TMP%%/logs/access.log;

    gzip on;
    gzip_comp_level 5;
    gzip_min_length 256;
    gzip_proxied any;
    gzip_vary on;
    gzip_types application/javascript application/json image/svg+xml text/css text/plain;

    map $sent_http_content_type $site_expires {
        default                 1M;
        ""                      off;
        ~*text/html             epoch;
        ~*application/json      -1;
        ~*text/css              1y;
        ~*javascript            1y;
        ~*image/                1M;
        ~*font/                 1M;
    }
    map $sent_http_content_type $frame_options {
        ~*text/html DENY;
    }
    map $sent_http_content_type $csp {
        ~*text/html "default-src 'self'; frame-ancestors 'none'; base-uri 'self'";
    }
    map $sent_http_content_type $referrer {
        ~*text/(css|html|javascript)|application/pdf|xml "strict-origin-when-cross-origin";
    }

    server {
        listen 80 default_server;
        return 444;
    }
    server {
        listen 80;
        server_name www.example.com;
        return 301 $scheme://example.com$request_uri;
    }
    server {
        listen 80;
        server_name example.com;
        root %%TMP%%/www;
        index index.html;
        expires $site_expires;
        error_page 404 /404.html;

        add_header X-Frame-Options $frame_options always;
        add_header Content-Security-Policy $csp always;
        add_header Referrer-Policy $referrer always;
        add_header X-Content-Type-Options nosniff always;

        location = /404.html {
            internal;
            return 404 "not here\n";
        }
        location ~* /\.(?!well-known/) {
            deny all;
        }
        location ~* (?:#.*#|\.(?:bak|conf|dist|in[ci]|log|orig|sh|sql|sw[op])|~)$ {
            deny all;
        }
        location ~* \.(?:woff2?|ttf|otf)$ {
            add_header Access-Control-Allow-Origin "*";
            access_log off;
        }
        location / {
            try_files $uri $uri/ =404;
        }
    }
}
)";

/// The older, location-based form of the same site (no $sent_http_* maps): caching by file
/// extension, add_header at server level and replaced in a location, autoindex, error_page to
/// a real file, extension-less URLs, a rewrite, open_file_cache and log_not_found.
constexpr std::string_view kStaticSiteByLocation = R"(
worker_processes 1;
pid %%TMP%%/run/server.pid;
error_log %%TMP%%/logs/error.log warn;
events { worker_connections 256; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    charset utf-8;
    server_tokens off;
    sendfile on;
    tcp_nopush on;
    open_file_cache max=100 inactive=20s;
    access_log off;
    gzip on;
    gzip_vary on;
    gzip_min_length 256;
    gzip_types text/css application/javascript application/json image/svg+xml text/plain;

    server {
        listen 80;
        server_name static.example.com;
        root %%TMP%%/www;
        index index.html;
        error_page 404 /about.html;

        add_header X-Frame-Options SAMEORIGIN;
        add_header X-Content-Type-Options nosniff;
        add_header Referrer-Policy "strict-origin-when-cross-origin" always;

        rewrite ^/old/(.*)$ /docs/$1 permanent;

        location / {
            try_files $uri $uri.html $uri/ =404;
        }
        location = /robots.txt {
            log_not_found off;
            access_log off;
        }
        location ~* \.(?:css|js)$ {
            expires 1y;
            add_header Cache-Control "public, immutable";
        }
        location ~* \.(?:png|svg|woff2)$ {
            expires 30d;
        }
        location ~* \.json$ {
            expires -1;
        }
        location /empty/ {
            autoindex on;
        }
        location = /ping.json {
            return 200 '{"ok":true}';
        }
        location = /gone {
            return 410;
        }
        location ^~ /fonts/ {
            add_header Access-Control-Allow-Origin "*";
            add_header Content-Disposition attachment;
        }
        location ~ /\. {
            deny all;
        }
    }
}
)";

constexpr std::string_view kSpa = R"(
worker_processes 1;
pid %%TMP%%/run/server.pid;
error_log %%TMP%%/logs/error.log;
events { worker_connections 256; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    gzip on;
    gzip_types text/css application/javascript application/json image/svg+xml;
    server {
        listen 80;
        server_name app.example.com;
        root %%TMP%%/www;
        index index.html;

        location / {
            try_files $uri $uri/ /index.html;
            add_header Cache-Control "no-cache";
        }
        location ~* \.(?:css|js|png|svg|woff2)$ {
            try_files $uri =404;
            expires 1y;
            add_header Cache-Control "public";
            access_log off;
        }
        location /api/ {
            proxy_pass http://127.0.0.1:8081;
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
        }
        location = /healthz {
            default_type text/plain;
            return 200 "ok\n";
        }
    }
}
)";

constexpr std::string_view kTlsProxy = R"(
worker_processes 1;
pid %%TMP%%/run/server.pid;
error_log %%TMP%%/logs/error.log;
events { worker_connections 256; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    upstream app {
        server 127.0.0.1:8081;
        keepalive 8;
    }
    server {
        listen 80;
        server_name secure.example.com;
        return 301 https://$host$request_uri;
    }
    server {
        listen 443 ssl;
        server_name secure.example.com;
        ssl_certificate %%TMP%%/tls/cert.pem;
        ssl_certificate_key %%TMP%%/tls/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:SSL:1m;
        ssl_session_timeout 1d;
        ssl_prefer_server_ciphers off;
        add_header Strict-Transport-Security "max-age=63072000" always;

        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 30s;
        }
        location /static/ {
            alias %%TMP%%/www/;
            expires 7d;
        }
    }
}
)";

constexpr std::string_view kLoadBalancedApi = R"(
worker_processes 1;
pid %%TMP%%/run/server.pid;
error_log %%TMP%%/logs/error.log;
events { worker_connections 256; }
http {
    default_type application/octet-stream;
    access_log off;
    upstream api {
        server 127.0.0.1:8081;
        server 127.0.0.1:8082;
        server 127.0.0.1:8083;
        keepalive 16;
    }
    upstream flaky {
        server 127.0.0.1:8089 max_fails=1 fail_timeout=30s;
        server 127.0.0.1:8082;
    }
    upstream unavailable {
        server 127.0.0.1:8085;
        server 127.0.0.1:8083;
    }
    server {
        listen 80;
        server_name api.example.com;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_connect_timeout 2s;

        location / {
            proxy_pass http://api;
            proxy_next_upstream error timeout http_503;
            proxy_next_upstream_tries 2;
        }
        location /v1/ {
            proxy_pass http://api/;
        }
        location /flaky/ {
            proxy_pass http://flaky;
            proxy_next_upstream error timeout;
        }
        location /unavailable/ {
            proxy_pass http://unavailable;
            proxy_next_upstream error timeout http_503;
        }
        location /ws/ {
            proxy_pass http://api;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_read_timeout 86400;
        }
        location /closed/ {
            proxy_pass http://127.0.0.1:8089;
        }
        location = /status {
            default_type text/plain;
            return 200 "up\n";
        }
    }
}
)";

std::string absolute(const std::string& path) {
    char buf[PATH_MAX];
    return realpath(path.c_str(), buf) != nullptr ? std::string(buf) : path;
}

std::string replace_tmp(std::string_view text, const std::string& tmp) {
    std::string s(text);
    for (size_t at = s.find("%%TMP%%"); at != std::string::npos; at = s.find("%%TMP%%", at)) {
        s.replace(at, 7, tmp);
    }
    return s;
}

/// `text` without the directives of `strip` (commented out).
std::string stripped(const std::string& text, const std::vector<Strip>& strip) {
    std::vector<std::string_view> names;
    for (const Strip& st : strip) {
        names.push_back(st.directive);
    }
    return strip_directives(text, names);
}

class ShapeDiffTest : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string why = differential_skip_reason();
        if (!why.empty()) {
            GTEST_SKIP() << why;
        }
        if (!file_exists("/etc/nginx/mime.types")) {
            GTEST_SKIP() << "/etc/nginx/mime.types (package nginx-common) is missing";
        }
        for (const char* d : {"www", "run", "logs", "conf", "tls", "halo", "halo/logs"}) {
            mkdir((tmp_ / d).c_str(), 0755);
        }
        ASSERT_TRUE(write_site(tmp_ / "www"));
        write_file(tmp_ / "conf/backend.conf", replace_tmp(kBackendConf, tmp_.path()));
    }

    /// Runs `shape` under nginx and halo and compares the answers to `requests`.
    void run(const Shape& shape, const std::vector<DiffRequest>& requests) {
        std::string conf = replace_tmp(shape.conf, tmp_.path());
        write_file(tmp_ / "conf/nginx.conf", conf);
        write_file(tmp_ / "conf/halo.conf", stripped(conf, shape.halo_strip));
        RunResult t =
            run_command({nginx_bin(), "-t", "-p", tmp_ / "", "-c", tmp_ / "conf/nginx.conf"});
        ASSERT_EQ(t.status, 0) << "nginx refuses the shape's config: " << t;
        RunResult ht = run_command(
            {absolute(halo_bin()), "-t", "-p", tmp_ / "halo/", "-c", tmp_ / "conf/halo.conf"});
        if (!shape.halo_refuses.empty()) {
            if (ht.status != 0) {
                EXPECT_NE(ht.err.find(shape.halo_refuses), std::string::npos)
                    << "halo -t refuses the config for another reason than the known one ("
                    << shape.halo_refuses << "): " << ht;
                std::cout << "[ differential ] known: halo cannot run this config yet: "
                          << shape.refuses_reason << "\n"
                          << ht.err;
                return;
            }
            std::cout << "[ differential ] halo -t accepts the config now: empty halo_refuses\n";
        }
        EXPECT_EQ(ht.status, 0) << "halo -t refuses the config (with halo_strip removed): " << ht;
        if (!shape.halo_strip.empty()) {
            RunResult full = run_command(
                {absolute(halo_bin()), "-t", "-p", tmp_ / "halo/", "-c", tmp_ / "conf/nginx.conf"});
            std::cout << "[ differential ] halo -t on the unchanged config: "
                      << (full.status == 0 ? "accepted: empty the halo_strip list\n" : full.err);
        }
        std::vector<uint16_t> ports = {8081, 8082, 8083, 8085};
        ports.insert(ports.end(), shape.ports.begin(), shape.ports.end());
        // /run-like and log directories private to each side
        std::vector<Sandbox::Mount> mounts = {{tmp_ / "run", ""}, {tmp_ / "logs", ""}};
        std::string backend =
            nginx_bin() + " -p " + tmp_ / "" + " -c " + tmp_ / "conf/backend.conf &\n";
        Sandbox nginx;
        ASSERT_TRUE(nginx.start(mounts,
                                backend + "exec " + nginx_bin() + " -p " + tmp_ / "" + " -c " +
                                    tmp_ / "conf/nginx.conf -g 'daemon off;'",
                                tmp_ / "nginx.out", ports))
            << nginx.error();
        Sandbox halo;
        ASSERT_TRUE(halo.start(mounts,
                               backend + "exec " + absolute(halo_bin()) + " -p " + tmp_ / "halo/" +
                                   " -c " + tmp_ / "conf/halo.conf -g 'daemon off;'",
                               tmp_ / "halo.out", ports))
            << halo.error();
        run_differential(nginx, halo, requests, shape.known);
    }

    TempDir tmp_{"halo-diff-shape"};
};

DiffRequest req(std::string name, std::string_view method, std::string_view target,
                std::string_view host, std::string_view extra = {}, uint16_t port = 80) {
    return make_request(std::move(name), method, target, host, extra, port);
}

TEST_F(ShapeDiffTest, StaticSite) {
    Shape shape{kStaticSite, {}, {}};
    std::string index = read_file(tmp_ / "www/index.html").value_or("");
    std::vector<DiffRequest> r = static_requests("example.com", 80, index);
    r.push_back(req("GET / www redirect", "GET", "/docs/?a=1", "www.example.com"));
    r.push_back(req("GET /css/style.css~ backup", "GET", "/css/style.css~", "example.com"));
    r.push_back(req("GET /conf.bak", "GET", "/site.conf", "example.com"));
    run(shape, r);
}

TEST_F(ShapeDiffTest, StaticSiteByLocation) {
    Shape shape{kStaticSiteByLocation, {}, {}};
    std::string index = read_file(tmp_ / "www/index.html").value_or("");
    std::vector<DiffRequest> r = static_requests("static.example.com", 80, index);
    const std::string h = "static.example.com";
    r.push_back(req("GET /about (extension-less)", "GET", "/about", h));
    r.push_back(req("GET /old/page.html (rewrite)", "GET", "/old/page.html?x=1", h));
    r.push_back(req("GET /nothing (error_page 404)", "GET", "/nothing", h));
    r.push_back(req("GET /ping.json (return 200 text)", "GET", "/ping.json", h));
    r.push_back(req("GET /gone (return 410)", "GET", "/gone", h));
    run(shape, r);
}

TEST_F(ShapeDiffTest, Spa) {
    Shape shape{kSpa, {}, {}};
    const std::string h = "app.example.com";
    std::vector<DiffRequest> r = {
        req("GET /", "GET", "/", h),
        req("GET /index.html", "GET", "/index.html", h),
        req("GET /route/deep/link", "GET", "/route/deep/link", h),
        req("GET /route?x=1", "GET", "/route?x=1", h),
        req("GET /docs (dir, no slash)", "GET", "/docs", h),
        req("GET /docs/", "GET", "/docs/", h),
        req("GET /empty/ (dir without index)", "GET", "/empty/", h),
        req("GET /css/style.css", "GET", "/css/style.css", h),
        req("GET /css/style.css gzip", "GET", "/css/style.css", h, "Accept-Encoding: gzip\r\n"),
        req("GET /js/missing.js", "GET", "/js/missing.js", h),
        req("GET /img/pixel.png", "GET", "/img/pixel.png", h),
        req("GET /api/data.json (file under /api/)", "GET", "/api/data.json", h),
        req("GET /api/users?id=7", "GET", "/api/users?id=7", h),
        req("GET /healthz", "GET", "/healthz", h),
        req("HEAD /route", "HEAD", "/route", h),
        req("GET /index.html 304", "GET", "/index.html", h,
            "If-Modified-Since: " + std::string(kSiteLastModified) + "\r\n"),
    };
    run(shape, r);
}

TEST_F(ShapeDiffTest, TlsProxy) {
    std::string err =
        make_test_certificate("secure.example.com", tmp_ / "tls/cert.pem", tmp_ / "tls/key.pem");
    ASSERT_EQ(err, "");
    Shape shape{kTlsProxy, {}, {}, {80, 443}};
    const std::string h = "secure.example.com";
    auto tls = [&](std::string name, std::string_view method, std::string_view target,
                   std::string_view extra = {}) {
        DiffRequest d = req(std::move(name), method, target, h, extra, 443);
        d.tls = true;
        d.sni = h;
        return d;
    };
    std::vector<DiffRequest> r = {
        req("GET http:// redirect", "GET", "/path?q=1", h),
        tls("GET /", "GET", "/"),
        tls("GET /app/page?x=1", "GET", "/app/page?x=1"),
        tls("GET /app with XFF", "GET", "/app", "X-Forwarded-For: 203.0.113.9\r\n"),
        tls("GET /redirect (backend 302)", "GET", "/redirect"),
        tls("GET /cookie", "GET", "/cookie"),
        tls("GET /files/notes.txt (backend file)", "GET", "/files/notes.txt"),
        tls("GET /files/ range", "GET", "/files/index.html", "Range: bytes=5-15\r\n"),
        tls("GET /static/css/style.css", "GET", "/static/css/style.css"),
        tls("GET /static/missing", "GET", "/static/missing"),
        tls("HEAD /", "HEAD", "/"),
    };
    run(shape, r);
}

TEST_F(ShapeDiffTest, LoadBalancedApi) {
    Shape shape{kLoadBalancedApi,
                {},
                {{"POST /users Expect: 100-continue", "(interim)",
                  "nginx answers 100 Continue even when the body came with the head; halo "
                  "does not (RFC 9110 section 10.1.1 allows both)"}}};
    const std::string h = "api.example.com";
    std::vector<DiffRequest> r;
    for (int i = 0; i < 6; i++) {
        r.push_back(req("GET /users round robin #" + std::to_string(i), "GET", "/users", h));
    }
    r.push_back(req("GET /v1/items?page=2", "GET", "/v1/items?page=2", h));
    r.push_back(req("GET /v1/", "GET", "/v1/", h));
    for (int i = 0; i < 3; i++) {
        r.push_back(req("GET /flaky/ #" + std::to_string(i), "GET", "/flaky/x", h));
    }
    for (int i = 0; i < 2; i++) {
        r.push_back(req("GET /unavailable/ #" + std::to_string(i), "GET", "/unavailable/x", h));
    }
    r.push_back(req("GET /closed/ (no backend)", "GET", "/closed/x", h));
    r.push_back(req("GET /status", "GET", "/status", h));
    r.push_back(req("POST /users", "POST", "/users", h, "Content-Length: 0\r\n"));
    r.push_back(req("GET /users XFF", "GET", "/users", h, "X-Forwarded-For: 198.51.100.1\r\n"));
    r.push_back(req("GET /files/missing (backend 404)", "GET", "/files/missing", h));
    r.push_back(req("GET /files/about.html gzip (backend file)", "GET", "/files/about.html", h,
                    "Accept-Encoding: gzip\r\n"));
    r.push_back(req("GET /files/index.html range", "GET", "/files/index.html", h,
                    "Range: bytes=100-199\r\n"));
    r.push_back(req("GET /files/index.html 304", "GET", "/files/index.html", h,
                    "If-Modified-Since: " + std::string(kSiteLastModified) + "\r\n"));
    r.push_back(req("GET /redirect (backend 302)", "GET", "/redirect", h));
    r.push_back(req("GET /cookie", "GET", "/cookie", h));
    r.push_back(
        req("GET /ws/ (WebSocket headers, backend does not upgrade)", "GET", "/ws/chat", h,
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"));
    DiffRequest chunked = req("POST /users chunked body", "POST", "/users", h);
    chunked.raw = "POST /users HTTP/1.1\r\nHost: " + h +
                  "\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                  "5\r\nhello\r\n0\r\n\r\n";
    r.push_back(chunked);
    DiffRequest expect = req("POST /users Expect: 100-continue", "POST", "/users", h);
    expect.raw = "POST /users HTTP/1.1\r\nHost: " + h +
                 "\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n"
                 "\r\nhi";
    r.push_back(expect);
    run(shape, r);
}

}  // namespace
}  // namespace halo_test
