// The rewrite and map modules through the real binary: rewrite last/break/redirect/permanent,
// the rewrite cycle limit, server rewrites before the location search, if with file tests and
// regexes, if locations, set in a response body and in the access log, map in a body and in
// add_header, rewrite_log lines, and bad configs failing `halo -t` with their file:line.
#include <sstream>
#include <string>
#include <vector>

#include "support/harness.h"

namespace halo_test {
namespace {

class RewriteTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_rewrite") || !halo_has_module("http_map") ||
            !halo_has_module("http_static") || !halo_has_module("http_log")) {
            GTEST_SKIP() << "the http_rewrite, http_map, http_static or http_log module is not "
                            "compiled in";
        }
    }

    /// Starts halo with `http_body` inside http { } (one worker, notice-level error log).
    void start(std::string_view http_body) {
        halo_.write_conf(
            "daemon off;\nworker_processes 1;\nerror_log logs/error.log notice;\n"
            "events { worker_connections 64; }\n"
            "http {\n access_log logs/access.log;\n" +
            std::string(http_body) + "\n}\n");
        ASSERT_TRUE(halo_.start());
        ASSERT_EQ(halo_.wait_workers(1).size(), 1u);
    }
    HttpResponse get(std::string_view path, std::string_view extra_headers = {}) {
        HttpConnection c;
        EXPECT_TRUE(c.connect(halo_.port(0))) << c.error();
        EXPECT_TRUE(c.send("GET " + std::string(path) +
                           " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" +
                           std::string(extra_headers) + "\r\n"))
            << c.error();
        auto r = c.read_response();
        EXPECT_TRUE(r) << path << ": " << c.error();
        return r.value_or(HttpResponse{});
    }
    std::string base() { return "http://localhost:" + std::to_string(halo_.port(0)); }
    std::string log_text(std::string_view rel) { return read_file(halo_.path(rel)).value_or(""); }
    /// Waits until `rel` holds `needle`; returns whether it did.
    bool wait_log(std::string_view rel, std::string_view needle) {
        return wait_until([&] { return log_text(rel).find(needle) != std::string::npos; }, 10s);
    }
    /// `halo -t` on `conf`: fails with "[emerg] <message> in <conf>:<line>".
    void expect_emerg(std::string_view conf, const std::string& message, int line) {
        halo_.write_conf(conf);
        RunResult r = halo_.run({"-t"});
        EXPECT_EQ(r.status, 1) << r;
        std::string want = "halo: [emerg] " + message + " in " + halo_.conf_path() + ":" +
                           std::to_string(line) + "\n";
        EXPECT_NE(r.err.find(want), std::string::npos) << "expected: " << want << r;
    }

    Halo halo_;
};

TEST_F(RewriteTest, Flags) {
    halo_.write("html/f.txt", "the file\n");
    start(R"(
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location /old/ { rewrite ^/old/(.*)$ /new/$1 last; return 200 not-reached; }
        location /new/ { return 200 "new:$uri:$args"; }
        location /brk/ { root %%PREFIX%%/html; rewrite ^/brk/(.*)$ /$1 break; }
        location = /f.txt { return 200 "wrong location"; }
        location /red { rewrite ^/red(.*)$ /dest$1 redirect; }
        location /perm { rewrite ^ http://other.example/p?a=1 permanent; }
    }
)");
    EXPECT_EQ(get("/old/x?q=1").body, "new:/new/x:q=1");
    HttpResponse brk = get("/brk/f.txt");
    EXPECT_EQ(brk.status, 200);
    EXPECT_EQ(brk.body, "the file\n");
    HttpResponse red = get("/red/y?k=v");
    EXPECT_EQ(red.status, 302);
    EXPECT_EQ(red.header("location"), base() + "/dest/y?k=v");
    HttpResponse perm = get("/perm?b=2");
    EXPECT_EQ(perm.status, 301);
    EXPECT_EQ(perm.header("location"), "http://other.example/p?a=1&b=2");
}

TEST_F(RewriteTest, RewriteLoopIs500) {
    start(R"(
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location /loop { rewrite ^ /loop last; }
        location /ok { return 200 ok; }
    }
)");
    EXPECT_EQ(get("/loop").status, 500);
    EXPECT_EQ(get("/ok").body, "ok");  // the worker is fine
    EXPECT_TRUE(wait_log("logs/error.log",
                         "rewrite or internal redirection cycle while processing \"/loop\""))
        << log_text("logs/error.log");
}

TEST_F(RewriteTest, ServerRewriteBeforeLocationSelection) {
    start(R"(
    server {
        listen 127.0.0.1:%%PORT_0%%;
        rewrite ^/legacy/(.*)$ /current/$1;
        location /legacy/ { return 200 "legacy location"; }
        location /current/ { return 200 "current $uri $1"; }
    }
)");
    EXPECT_EQ(get("/legacy/page").body, "current /current/page page");
}

TEST_F(RewriteTest, IfWithFileTestAndRegex) {
    halo_.write("html/exists.txt", "x");
    start(R"(
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / {
            if (-f %%PREFIX%%/html$uri) { return 200 "file $uri"; }
            if ($uri ~* ^/item/(\d+)$) { return 200 "item $1"; }
            if (!-e %%PREFIX%%/html$uri) { return 404 "none\n"; }
            return 200 other;
        }
    }
)");
    EXPECT_EQ(get("/exists.txt").body, "file /exists.txt");
    EXPECT_EQ(get("/ITEM/42").body, "item 42");
    HttpResponse none = get("/missing");
    EXPECT_EQ(none.status, 404);
    EXPECT_EQ(none.body, "none\n");
}

TEST_F(RewriteTest, IfLocationHeadersAndRoot) {
    halo_.write("a/f", "from a\n");
    halo_.write("b/f", "from b\n");
    start(R"(
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / {
            root %%PREFIX%%/a;
            if ($http_x_alt) { root %%PREFIX%%/b; add_header X-Alt $http_x_alt; }
        }
    }
)");
    HttpResponse a = get("/f");
    EXPECT_EQ(a.body, "from a\n");
    EXPECT_FALSE(a.has_header("x-alt"));
    HttpResponse b = get("/f", "X-Alt: yes\r\n");
    EXPECT_EQ(b.body, "from b\n");
    EXPECT_EQ(b.header("x-alt"), "yes");
}

TEST_F(RewriteTest, SetInBodyAndAccessLog) {
    start(R"(
    log_format withvar '$uri foo=$foo';
    server {
        listen 127.0.0.1:%%PORT_0%%;
        access_log logs/vars.log withvar;
        location /set { set $foo "v-$arg_x"; return 200 "foo=$foo"; }
        location /unset { return 200 "foo=[$foo]"; }
    }
)");
    EXPECT_EQ(get("/set?x=7").body, "foo=v-7");
    EXPECT_EQ(get("/unset").body, "foo=[]");
    EXPECT_TRUE(wait_log("logs/vars.log", "/set foo=v-7\n")) << log_text("logs/vars.log");
    EXPECT_TRUE(wait_log("logs/vars.log", "/unset foo=-\n")) << log_text("logs/vars.log");
    EXPECT_TRUE(wait_log("logs/error.log", "using uninitialized \"foo\" variable"))
        << log_text("logs/error.log");
}

TEST_F(RewriteTest, MapInBodyAndHeader) {
    start(R"(
    map $http_host $site {
        hostnames;
        default other;
        *.example.com example;
    }
    map $uri $section {
        ~^/docs/(?<topic>\w+) "docs:$1";
        /about about;
        default none;
    }
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { add_header X-Section $section; return 200 "$site $section"; }
    }
)");
    HttpResponse docs = get("/docs/intro");
    EXPECT_EQ(docs.body, "other docs:intro");
    EXPECT_EQ(docs.header("x-section"), "docs:intro");
    HttpConnection c;
    ASSERT_TRUE(c.connect(halo_.port(0)));
    ASSERT_TRUE(
        c.send("GET /about HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n"));
    auto r = c.read_response();
    ASSERT_TRUE(r) << c.error();
    EXPECT_EQ(r->body, "example about");
    EXPECT_EQ(r->header("x-section"), "about");
}

TEST_F(RewriteTest, RewriteLogNotices) {
    start(R"(
    server {
        listen 127.0.0.1:%%PORT_0%%;
        rewrite_log on;
        location / { rewrite ^/a(.*)$ /b$1; rewrite ^/zzz /never; return 200 $uri; }
    }
)");
    EXPECT_EQ(get("/a1?q=2").body, "/b1");
    EXPECT_TRUE(wait_log("logs/error.log", "[notice]")) << log_text("logs/error.log");
    std::string log = log_text("logs/error.log");
    EXPECT_NE(log.find("\"^/a(.*)$\" matches \"/a1\""), std::string::npos) << log;
    EXPECT_NE(log.find("rewritten data: \"/b1\", args: \"q=2\""), std::string::npos) << log;
    EXPECT_NE(log.find("\"^/zzz\" does not match \"/b1\""), std::string::npos) << log;
}

TEST_F(RewriteTest, BadConfigsFailTheTest) {
    const std::string head =
        "daemon off;\nevents { }\nhttp {\n    server {\n        listen 127.0.0.1:%%PORT_0%%;\n";
    // the directive under test is on line 6
    expect_emerg(head + "        rewrite ^ /x bogus;\n    }\n}\n", "invalid parameter \"bogus\"",
                 6);
    expect_emerg(head + "        if ($uri == /x) { }\n    }\n}\n", "unexpected \"==\" in condition",
                 6);
    expect_emerg(head + "        set $host x;\n    }\n}\n", "the duplicate \"host\" variable", 6);
    expect_emerg(head + "        return 200 $nosuch;\n    }\n}\n", "unknown \"nosuch\" variable",
                 6);
    expect_emerg(head + "        location / {\n if ($uri) {\n try_files $uri =404; } }\n    }\n}\n",
                 "\"try_files\" directive is not allowed here", 8);
    expect_emerg(
        "daemon off;\nevents { }\nhttp {\n    map $uri $m {\n        default a;\n"
        "        default b;\n    }\n}\n",
        "duplicate default map parameter", 6);
    expect_emerg(
        "daemon off;\nevents { }\nhttp {\n    map $uri $m {\n        /a 1;\n"
        "        /a 2;\n    }\n}\n",
        "conflicting parameter \"/a\"", 6);
    expect_emerg("daemon off;\nevents { }\nhttp {\n    map $uri $m { }\n    map $args $m { }\n}\n",
                 "the duplicate \"m\" variable", 5);
}

}  // namespace
}  // namespace halo_test
