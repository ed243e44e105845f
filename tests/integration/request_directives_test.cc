// The request-level http core directives through the real binary (src/http/core_request.cc):
// log_not_found, internal, error_page forms and recursive_error_pages, server_tokens,
// merge_slashes, the header parsing flags, max_ranges, if_modified_since,
// chunked_transfer_encoding, msie_padding/msie_refresh, open_file_cache and the directives halo
// takes only in their disabled form. Where the answer does not hold halo's name, Debian's nginx
// runs the same configuration and the two answers are compared.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "support/harness.h"
#include "support/nginx.h"

namespace halo_test {
namespace {

HttpResponse ask(uint16_t port, std::string_view raw, bool head = false) {
    HttpConnection c;
    EXPECT_TRUE(c.connect(port)) << c.error();
    EXPECT_TRUE(c.send(raw)) << c.error();
    auto r = c.read_response(5s, head);
    EXPECT_TRUE(r) << c.error();
    return r.value_or(HttpResponse{});
}

std::string req(std::string_view path, std::string_view extra = {}) {
    return "GET " + std::string(path) + " HTTP/1.1\r\nHost: localhost\r\n" + std::string(extra) +
           "Connection: close\r\n\r\n";
}

/// The body with the server's name in an error page footer made neutral.
std::string neutral(std::string body) {
    for (std::string_view name : {"nginx/1.22.1", "nginx"}) {
        size_t at = body.find("<hr><center>" + std::string(name) + "</center>");
        if (at != std::string::npos) {
            body.replace(at + 12, name.size(), "SERVER");
            break;
        }
    }
    size_t at = body.find("<hr><center>halo");
    if (at != std::string::npos) {
        size_t end = body.find("</center>", at + 12);
        body.replace(at + 12, end - at - 12, "SERVER");
    }
    return body;
}

class RequestDirectivesTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_static") || !halo_has_module("http_rewrite")) {
            GTEST_SKIP() << "the http_static or http_rewrite module is not compiled in";
        }
    }
    /// Starts halo with `http_body` inside http { } (one worker, info error log).
    void start(std::string_view http_body) {
        halo_.write_conf(conf(http_body));
        ASSERT_TRUE(halo_.start({"-g", "daemon off;"}));
        ASSERT_EQ(halo_.wait_workers(1).size(), 1u);
    }
    static std::string conf(std::string_view http_body) {
        return "worker_processes 1;\nerror_log logs/error.log info;\n"
               "events { worker_connections 64; }\nhttp {\naccess_log off;\n" +
               std::string(http_body) + "\n}\n";
    }
    /// `halo -t` on a config with `http_body`.
    RunResult check(std::string_view http_body) {
        halo_.write_conf(conf(http_body), "check.conf");
        return halo_.run_raw({"-t", "-p", halo_.prefix() + "/", "-c", halo_.path("check.conf")});
    }
    HttpResponse get(std::string_view path, std::string_view extra = {}) {
        return ask(halo_.port(0), req(path, extra));
    }

    Halo halo_;
};

TEST_F(RequestDirectivesTest, LogNotFoundOffKeepsMissingFilesOutOfTheErrorLog) {
    halo_.write("html/here.txt", "here\n");
    start(R"(server {
        listen 127.0.0.1:%%PORT_0%%;
        root %%PREFIX%%/html;
        location /quiet/ { log_not_found off; }
    })");
    EXPECT_EQ(get("/loud-missing.txt").status, 404);
    EXPECT_EQ(get("/quiet/quiet-missing.txt").status, 404);
    EXPECT_EQ(get("/loud-dir/").status, 404);
    EXPECT_EQ(get("/quiet/dir/").status, 404);
    EXPECT_EQ(get("/here.txt").body, "here\n");
    ASSERT_TRUE(
        wait_until([&] { return halo_.error_log().find("loud-dir") != std::string::npos; }));
    std::string log = halo_.error_log();
    EXPECT_NE(log.find("[error]"), std::string::npos) << log;
    EXPECT_NE(log.find("open() \"" + halo_.path("html/loud-missing.txt") + "\" failed (2: "),
              std::string::npos)
        << log;
    EXPECT_EQ(log.find("quiet-missing"), std::string::npos) << log;
    EXPECT_EQ(log.find("quiet/dir"), std::string::npos) << log;
}

constexpr std::string_view kErrorPages = R"(server {
        listen 127.0.0.1:%%PORT_0%%;
        location = /page.html { internal; return 200 "the error page\n"; }
        location /gone { error_page 404 /page.html; return 404; }
        location /teapot { error_page 404 =418 /page.html; return 404; }
        location /named { error_page 404 = @fallback; return 404; }
        location @fallback { return 201 "fallback $request_method\n"; }
        location /away { error_page 404 http://example.com/away; return 404; }
        location /moved { error_page 404 =301 http://example.com/moved; return 404; }
        location /chain { error_page 404 /chain2; return 404; }
        location /chain2 { error_page 404 /page.html; return 404; }
        location /rchain { recursive_error_pages on; error_page 404 /rchain2; return 404; }
        location /rchain2 { recursive_error_pages on; error_page 404 /page.html; return 404; }
        location /rw { rewrite ^ /page.html last; }
        location /loop { recursive_error_pages on; error_page 404 /loop; return 404; }
    })";

TEST_F(RequestDirectivesTest, InternalLocationsAndErrorPagesAnswerAsNginx) {
    if (!nginx_installed()) {
        GTEST_SKIP() << "Debian's nginx is not installed";
    }
    start(kErrorPages);
    Nginx nginx;
    ASSERT_TRUE(nginx.start(conf(kErrorPages)));
    const std::vector<std::string> requests = {
        req("/page.html"),
        req("/gone"),
        req("/teapot"),
        req("/named"),
        "POST /named HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        req("/away"),
        req("/moved"),
        req("/chain"),
        req("/rchain"),
        req("/rw"),
        req("/loop"),
    };
    for (const std::string& r : requests) {
        HttpResponse want = ask(nginx.port(), r);
        HttpResponse got = ask(halo_.port(0), r);
        SCOPED_TRACE(r.substr(0, r.find('\r')));
        EXPECT_EQ(got.status, want.status);
        EXPECT_EQ(neutral(got.body), neutral(want.body));
        EXPECT_EQ(got.header("Location"), want.header("Location"));
        EXPECT_EQ(got.header("Content-Type"), want.header("Content-Type"));
    }
    // The checks that do not depend on nginx being right.
    EXPECT_EQ(get("/page.html").status, 404);
    EXPECT_EQ(get("/gone").body, "the error page\n");
    EXPECT_EQ(get("/teapot").status, 418);
    EXPECT_EQ(get("/named").status, 201);
    EXPECT_EQ(get("/away").header("Location"), "http://example.com/away");
    EXPECT_EQ(get("/away").status, 302);
    EXPECT_EQ(get("/moved").status, 301);
    EXPECT_EQ(get("/rchain").body, "the error page\n");
    EXPECT_EQ(get("/rw").body, "the error page\n");
}

TEST_F(RequestDirectivesTest, MsiePaddingAndRefreshAsNginx) {
    if (!nginx_installed()) {
        GTEST_SKIP() << "Debian's nginx is not installed";
    }
    constexpr std::string_view kConf = R"(server {
        listen 127.0.0.1:%%PORT_0%%;
        location /missing { return 404; }
        location /quiet { msie_padding off; return 404; }
        location /go { return 302 /target; }
        location /refresh { msie_refresh on; return 302 "/t?a=1&b='<x y>'|{}"; }
    })";
    start(kConf);
    Nginx nginx;
    ASSERT_TRUE(nginx.start(conf(kConf)));
    const char* agents[] = {
        "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0",
        "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
        "Opera/9.80 (MSIE 6.0)",
        "MSIE 6.",
    };
    for (const char* agent : agents) {
        for (const char* path : {"/missing", "/quiet", "/go", "/refresh"}) {
            std::string r = req(path, std::string("User-Agent: ") + agent + "\r\n");
            SCOPED_TRACE(std::string(agent) + " " + path);
            HttpResponse want = ask(nginx.port(), r);
            HttpResponse got = ask(halo_.port(0), r);
            EXPECT_EQ(got.status, want.status);
            EXPECT_EQ(neutral(got.body), neutral(want.body));
            EXPECT_EQ(got.has_header("Location"), want.has_header("Location"));
        }
    }
    HttpResponse padded = get("/missing", "User-Agent: MSIE 6.0 (x)\r\n");
    EXPECT_NE(padded.body.find("<!-- a padding to disable MSIE and Chrome friendly error page -->"),
              std::string::npos);
    HttpResponse refresh = get("/refresh", "User-Agent: MSIE 6.0 (x)\r\n");
    EXPECT_EQ(refresh.status, 200);
    EXPECT_NE(refresh.body.find("URL=/t?a=1&b=%27%3Cx%20y%3E%27%7C%7B}"), std::string::npos)
        << refresh.body;
}

TEST_F(RequestDirectivesTest, ServerTokensOnOffBuild) {
    start(R"(server {
        listen 127.0.0.1:%%PORT_0%%;
        location /on { return 404; }
        location /off { server_tokens off; return 404; }
        location /build { server_tokens build; return 404; }
    })");
    HttpResponse on = get("/on");
    EXPECT_EQ(on.header("Server").rfind("halo/", 0), 0u) << on.header("Server");
    EXPECT_NE(on.body.find("<hr><center>halo/"), std::string::npos);
    HttpResponse off = get("/off");
    EXPECT_EQ(off.header("Server"), "halo");
    EXPECT_NE(off.body.find("<hr><center>halo</center>"), std::string::npos);
    HttpResponse build = get("/build");
    EXPECT_EQ(build.header("Server"), on.header("Server"));  // halo has no build name
    RunResult bad = check("server_tokens \"my server\";");
    EXPECT_NE(bad.status, 0);
    EXPECT_NE(bad.err.find("invalid value \"my server\" in \"server_tokens\" directive, it must be "
                           "\"on\", \"off\" or \"build\" in " +
                           halo_.path("check.conf") + ":6"),
              std::string::npos)
        << bad.err;
}

TEST_F(RequestDirectivesTest, InternalHoldsForNestedLocations) {
    start(R"(server {
        listen 127.0.0.1:%%PORT_0%%;
        location /in/ { internal; return 200 "outer\n"; location /in/nested { return 200 "nested\n"; } }
        location /go { rewrite ^ /in/x last; }
    })");
    EXPECT_EQ(get("/in/x").status, 404);
    EXPECT_EQ(get("/in/nested").status, 404);  // as nginx: the nested location is internal too
    EXPECT_EQ(get("/go").body, "outer\n");
}

TEST_F(RequestDirectivesTest, MergeSlashesOffKeepsEmptySegments) {
    start(R"(server {
        listen 127.0.0.1:%%PORT_0%%;
        location = /a/b { return 200 "merged $uri\n"; }
        location / { return 200 "other $uri\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        merge_slashes off;
        location = /a/b { return 200 "merged $uri\n"; }
        location / { return 200 "other $uri\n"; }
    })");
    EXPECT_EQ(get("/a//b").body, "merged /a/b\n");
    EXPECT_EQ(ask(halo_.port(1), req("/a//b")).body, "other /a//b\n");
    EXPECT_EQ(ask(halo_.port(1), req("/a/b")).body, "merged /a/b\n");
}

TEST_F(RequestDirectivesTest, HeaderNamesWithUnderscoresAndInvalidCharacters) {
    start(R"(server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { return 200 "[$http_x_a][$http_x_b]\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        underscores_in_headers on;
        location / { return 200 "[$http_x_a][$http_x_b]\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_2%%;
        ignore_invalid_headers off;
        location / { return 200 "[$http_x_a][$http_x_b]\n"; }
    })");
    std::string headers = "X_A: underscore\r\nX-B: dash\r\nX.C: dot\r\n";
    // Default: "X_A" and "X.C" are ignored (an info line each); "X-B" is $http_x_b.
    EXPECT_EQ(get("/", headers).body, "[][dash]\n");
    EXPECT_EQ(ask(halo_.port(1), req("/", headers)).body, "[underscore][dash]\n");
    // ignore_invalid_headers off: every name is kept; $http_x_a finds "X-A" or "X_A".
    EXPECT_EQ(ask(halo_.port(2), req("/", headers)).body, "[underscore][dash]\n");
    ASSERT_TRUE(wait_until([&] {
        return halo_.error_log().find("client sent invalid header line: \"X.C: dot\"") !=
               std::string::npos;
    }));
    EXPECT_NE(halo_.error_log().find("[info]"), std::string::npos);
    // Whitespace in a name is still refused.
    EXPECT_EQ(get("/", "X Y: 1\r\n").status, 400);
}

TEST_F(RequestDirectivesTest, MaxRangesZeroServesNoRanges) {
    halo_.write("html/f.txt", "0123456789");
    start(R"(server {
        listen 127.0.0.1:%%PORT_0%%;
        root %%PREFIX%%/html;
        location /none/ { alias %%PREFIX%%/html/; max_ranges 0; }
        location /one/ { alias %%PREFIX%%/html/; max_ranges 1; }
    })");
    HttpResponse ranged = get("/f.txt", "Range: bytes=2-4\r\n");
    EXPECT_EQ(ranged.status, 206);
    EXPECT_EQ(ranged.body, "234");
    HttpResponse none = get("/none/f.txt", "Range: bytes=2-4\r\n");
    EXPECT_EQ(none.status, 200);
    EXPECT_EQ(none.body, "0123456789");
    EXPECT_FALSE(none.has_header("Accept-Ranges"));
    EXPECT_EQ(get("/one/f.txt", "Range: bytes=2-4\r\n").status, 206);
    EXPECT_EQ(get("/one/f.txt", "Range: bytes=0-1,4-5\r\n").status, 200);
}

TEST_F(RequestDirectivesTest, IfModifiedSinceOffExactBefore) {
    halo_.write("html/f.txt", "file\n");
    struct timespec times[2] = {{1000000000, 0}, {1000000000, 0}};  // 2001-09-09T01:46:40Z
    ASSERT_EQ(utimensat(AT_FDCWD, halo_.path("html/f.txt").c_str(), times, 0), 0);
    start(R"(server {
        listen 127.0.0.1:%%PORT_0%%;
        root %%PREFIX%%/html;
        location /off/ { alias %%PREFIX%%/html/; if_modified_since off; }
        location /before/ { alias %%PREFIX%%/html/; if_modified_since before; }
    })");
    std::string same = "If-Modified-Since: Sun, 09 Sep 2001 01:46:40 GMT\r\n";
    std::string later = "If-Modified-Since: Mon, 10 Sep 2001 00:00:00 GMT\r\n";
    EXPECT_EQ(get("/f.txt", same).status, 304);
    EXPECT_EQ(get("/f.txt", later).status, 200);  // exact
    EXPECT_EQ(get("/off/f.txt", same).status, 200);
    EXPECT_EQ(get("/before/f.txt", same).status, 304);
    EXPECT_EQ(get("/before/f.txt", later).status, 304);
    EXPECT_EQ(get("/before/f.txt", "If-Modified-Since: Sat, 08 Sep 2001 00:00:00 GMT\r\n").status,
              200);
}

TEST_F(RequestDirectivesTest, ChunkedTransferEncodingOffEndsTheBodyWithTheConnection) {
    if (!halo_has_module("http_gzip")) {
        GTEST_SKIP() << "the http_gzip module is not compiled in";
    }
    halo_.write("html/f.txt", std::string(4000, 'a'));
    start(R"(server {
        listen 127.0.0.1:%%PORT_0%%;
        root %%PREFIX%%/html;
        gzip on;
        gzip_min_length 1;
        gzip_types text/plain;
        location /plain/ { alias %%PREFIX%%/html/; chunked_transfer_encoding off; }
    })");
    std::string gz = "Accept-Encoding: gzip\r\n";
    HttpResponse chunked = get("/f.txt", gz);
    EXPECT_EQ(chunked.header("Transfer-Encoding"), "chunked");
    HttpConnection c;
    ASSERT_TRUE(c.connect(halo_.port(0)));
    ASSERT_TRUE(c.send("GET /plain/f.txt HTTP/1.1\r\nHost: localhost\r\n" + gz + "\r\n"));
    auto plain = c.read_response();
    ASSERT_TRUE(plain) << c.error();
    EXPECT_EQ(plain->status, 200);
    EXPECT_FALSE(plain->has_header("Transfer-Encoding"));
    EXPECT_FALSE(plain->has_header("Content-Length"));
    EXPECT_EQ(plain->header("Connection"), "close");
    EXPECT_EQ(plain->header("Content-Encoding"), "gzip");
    EXPECT_GT(plain->body.size(), 10u);
    EXPECT_TRUE(c.wait_closed());
}

TEST_F(RequestDirectivesTest, DirectivesTakenOnlyInTheirDisabledForm) {
    RunResult ok = check(
        "aio off; aio_write off; directio off; directio_alignment 4k; postpone_output 0;\n"
        "limit_rate 100k; limit_rate_after 1m; client_body_in_file_only off;\n"
        "client_body_in_single_buffer on; log_subrequest on; open_file_cache off;");
    EXPECT_EQ(ok.status, 0) << ok;
    struct Refused {
        std::string line;
        std::string message;
    };
    const Refused refused[] = {
        {"aio threads;", "\"aio threads\" is not supported by halo: "},
        {"directio 4m;", "\"directio 4m\" is not supported by halo: "},
        {"limit_rate 10q;", "invalid value \"10q\" in \"limit_rate\" directive"},
        {"limit_rate_after 1x;", "invalid value \"1x\" in \"limit_rate_after\" directive"},
        {"limit_rate 1k; limit_rate 2k;", "\"limit_rate\" directive is duplicate"},
        {"limit_rate $nosuch;", "unknown \"nosuch\" variable"},
        {"postpone_output 1460;", "\"postpone_output 1460\" is not supported by halo: "},
        {"aio on;", "\"aio on\" is not supported by halo: "},
        {"client_body_in_file_only maybe;",
         "invalid value \"maybe\" in \"client_body_in_file_only\""},
        {"output_buffers 2 32k;", "\"output_buffers\" is not supported by halo: "},
        {"open_file_cache inactive=10s;", "\"open_file_cache\" must have the \"max\" parameter"},
        {"open_file_cache max=0;", "invalid \"open_file_cache\" parameter \"max=0\""},
        {"if_modified_since later;", "invalid value \"later\" in \"if_modified_since\""},
    };
    for (const Refused& r : refused) {
        RunResult res = check(r.line);
        EXPECT_NE(res.status, 0) << r.line;
        EXPECT_NE(res.err.find(r.message), std::string::npos) << r.line << "\n" << res.err;
        EXPECT_NE(res.err.find(halo_.path("check.conf") + ":6"), std::string::npos) << res.err;
    }
}

// ---- open_file_cache ----

class OpenFileCacheTest : public RequestDirectivesTest {
  protected:
    /// Replaces html/<name> by a new file (a new inode), as a deploy does.
    void replace(const std::string& name, const std::string& text) {
        ASSERT_TRUE(write_file(halo_.path("html/" + name + ".new"), text));
        ASSERT_EQ(
            rename(halo_.path("html/" + name + ".new").c_str(), halo_.path("html/" + name).c_str()),
            0);
    }
};

TEST_F(OpenFileCacheTest, ServesTheCachedDescriptorWhileValid) {
    halo_.write("html/f.txt", "first\n");
    halo_.write("html/g.txt", "first\n");
    start(R"(server {
        listen 127.0.0.1:%%PORT_0%%;
        root %%PREFIX%%/html;
        location /cached/ {
            alias %%PREFIX%%/html/;
            open_file_cache max=10 inactive=1h;
            open_file_cache_valid 1h;
        }
    })");
    EXPECT_EQ(get("/cached/f.txt").body, "first\n");
    EXPECT_EQ(get("/g.txt").body, "first\n");
    replace("f.txt", "second\n");
    replace("g.txt", "second\n");
    // The cache keeps the descriptor of the file it opened; the uncached location opens anew.
    EXPECT_EQ(get("/cached/f.txt").body, "first\n");
    EXPECT_EQ(get("/g.txt").body, "second\n");
}

TEST_F(OpenFileCacheTest, RevalidatesAfterValid) {
    halo_.write("html/f.txt", "first\n");
    start(R"(server {
        listen 127.0.0.1:%%PORT_0%%;
        root %%PREFIX%%/html;
        open_file_cache max=10;
        open_file_cache_valid 1s;
    })");
    EXPECT_EQ(get("/f.txt").body, "first\n");
    replace("f.txt", "second\n");
    EXPECT_TRUE(wait_until([&] { return get("/f.txt").body == "second\n"; }, 10s, 200ms));
}

TEST_F(OpenFileCacheTest, ErrorsAreCachedOnlyWithOpenFileCacheErrors) {
    start(R"(server {
        listen 127.0.0.1:%%PORT_0%%;
        root %%PREFIX%%/html;
        open_file_cache max=10 inactive=1h;
        open_file_cache_valid 1h;
        location /errors/ { alias %%PREFIX%%/html/; open_file_cache_errors on; }
    })");
    EXPECT_EQ(get("/late.txt").status, 404);
    EXPECT_EQ(get("/errors/late2.txt").status, 404);
    halo_.write("html/late.txt", "now\n");
    halo_.write("html/late2.txt", "now\n");
    EXPECT_EQ(get("/late.txt").body, "now\n");
    EXPECT_EQ(get("/errors/late2.txt").status, 404);  // the cached ENOENT
}

TEST_F(OpenFileCacheTest, MinUsesKeepsADescriptorOnlyAfterThatManyUses) {
    halo_.write("html/f.txt", "first\n");
    start(R"(server {
        listen 127.0.0.1:%%PORT_0%%;
        root %%PREFIX%%/html;
        open_file_cache max=10 inactive=1h;
        open_file_cache_valid 1h;
        open_file_cache_min_uses 2;
    })");
    EXPECT_EQ(get("/f.txt").body, "first\n");  // one use: not kept open
    replace("f.txt", "second\n");
    EXPECT_EQ(get("/f.txt").body, "second\n");  // the second use keeps this one
    replace("f.txt", "third\n");
    EXPECT_EQ(get("/f.txt").body, "second\n");
}

TEST_F(OpenFileCacheTest, MaxEvictsTheLeastRecentlyUsed) {
    for (const char* n : {"a", "b", "c"}) {
        halo_.write(std::string("html/") + n + ".txt", "first\n");
    }
    start(R"(server {
        listen 127.0.0.1:%%PORT_0%%;
        root %%PREFIX%%/html;
        open_file_cache max=2 inactive=1h;
        open_file_cache_valid 1h;
    })");
    EXPECT_EQ(get("/a.txt").body, "first\n");
    EXPECT_EQ(get("/b.txt").body, "first\n");
    EXPECT_EQ(get("/a.txt").body, "first\n");  // b is now the least recently used
    EXPECT_EQ(get("/c.txt").body, "first\n");  // evicts b
    replace("a.txt", "second\n");
    replace("b.txt", "second\n");
    EXPECT_EQ(get("/a.txt").body, "first\n");   // still cached
    EXPECT_EQ(get("/b.txt").body, "second\n");  // evicted: opened anew
}

}  // namespace
}  // namespace halo_test
