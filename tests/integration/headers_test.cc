// The headers module through the real binary, side by side with Debian's nginx on the same
// config: `expires` in every form (also from a variable and from h5bp's
// `map $sent_http_content_type $expires`), `add_header` with nginx's status rule, `always`,
// empty values, ETag/Last-Modified/Cache-Control handling and inheritance, and `add_trailer`.
// Each answer of halo is compared with nginx's: status, the headers these directives set (in
// wire order) and the body of successful responses.
#include <sys/time.h>
#include <utime.h>

#include <string>
#include <vector>

#include "support/harness.h"
#include "support/nginx.h"

namespace halo_test {
namespace {

// The http block both servers run; %%PORT%% and %%ROOT%% are filled in for each.
constexpr std::string_view kHttp = R"(
http {
    access_log off;
    server_tokens off;
    default_type application/octet-stream;
    types {
        text/html html;
        text/plain txt;
        text/css css;
        application/json json;
        image/x-icon ico;
    }
    map $sent_http_content_type $expires {
        default 1y;
        "" off;
        ~*image/x-icon 1w;
        ~*text/html epoch;
        ~*json epoch;
    }
    server {
        listen 127.0.0.1:%%PORT%%;
        root %%ROOT%%;
        add_header X-Server srv;

        location /h5bp/ { alias %%ROOT%%/; expires $expires; }
        location /access/ { alias %%ROOT%%/; expires 1h; }
        location /units/ { alias %%ROOT%%/; expires 1y2M3w4d5h6m7s; }
        location /spaced/ { alias %%ROOT%%/; expires "1d 2h 30"; }
        location /plus/ { alias %%ROOT%%/; expires +90; }
        location /modified/ { alias %%ROOT%%/; expires modified +1d; }
        location /modified-past/ { alias %%ROOT%%/; expires modified 1h; }
        location /modified-neg/ { alias %%ROOT%%/; expires modified -1h; }
        location /neg/ { alias %%ROOT%%/; expires -1; }
        location /zero/ { alias %%ROOT%%/; expires 0; }
        location /epoch/ { alias %%ROOT%%/; expires epoch; }
        location /max/ { alias %%ROOT%%/; expires max; }
        location /daily/ { alias %%ROOT%%/; expires @15h30m; }
        location /off/ { alias %%ROOT%%/; expires off; }
        location /var/ { alias %%ROOT%%/; expires $arg_e; }
        location /modvar/ { alias %%ROOT%%/; expires modified $arg_e; }
        location /return/ { expires 1h; return 200 "body\n"; }
        location /upstream-cc/ {
            expires 1h;
            add_header Cache-Control public;
            add_header Link "</a.css>; rel=preload";
            add_header Link "</b.css>; rel=preload";
            return 200 "cc\n";
        }

%%STATUS_LOCATIONS%%
        location /empty/ {
            alias %%ROOT%%/;
            add_header X-Empty "";
            add_header X-Arg $arg_v;
            add_header ETag "";
            add_header Last-Modified "";
        }
        location /replace/ {
            alias %%ROOT%%/;
            add_header ETag "\"mine\"";
            add_header Last-Modified "Mon, 01 Jan 2024 00:00:00 GMT";
        }
        location /inherit/ { alias %%ROOT%%/; }
        location /own/ {
            alias %%ROOT%%/;
            add_header X-Own own;
            location /own/nested/ { alias %%ROOT%%/; }
        }
        location /if/ {
            alias %%ROOT%%/;
            add_header X-Outer outer;
            if ($arg_x) { add_header X-If $arg_x; expires 2h; }
        }
        location /trailer/ {
            alias %%ROOT%%/;
            add_trailer X-Trailer "t-$status";
            add_trailer X-Always a always;
        }
        location /trailer-error/ {
            add_trailer X-Trailer t;
            add_trailer X-Always a always;
            return 403;
        }
    }
}
)";

constexpr time_t kOldMtime = 1700000000;
constexpr int kCodes[] = {200, 201, 204, 206, 301, 302, 303, 304,
                          307, 308, 400, 403, 404, 410, 500, 503};

/// Both servers on the same config and the same files.
class HeadersTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_headers") || !halo_has_module("http_map") ||
            !halo_has_module("http_rewrite")) {
            GTEST_SKIP() << "http_headers, http_map or http_rewrite is not compiled in";
        }
        if (!nginx_installed()) {
            GTEST_SKIP() << "Debian's nginx (/usr/sbin/nginx) is not installed";
        }
        root_ = halo_.path("www");
        halo_.write("www/index.html", "<p>home</p>\n");
        halo_.write("www/a.txt", "text\n");
        halo_.write("www/data.json", "{}\n");
        halo_.write("www/favicon.ico", "ico");
        halo_.write("www/style.css", "p {}\n");
        for (const char* f : {"index.html", "a.txt", "data.json", "favicon.ico", "style.css"}) {
            struct utimbuf t = {kOldMtime, kOldMtime};
            utime((root_ + "/" + f).c_str(), &t);
        }
        halo_port_ = halo_.port(0);
        nginx_port_ = free_port();
        std::string statuses;
        for (int code : kCodes) {
            std::string c = std::to_string(code);
            statuses += "        location = /status/" + c +
                        " {\n            expires 1h;\n            add_header X-Plain plain;\n"
                        "            add_header X-Always always always;\n            return " +
                        c + (code >= 300 && code < 400 && code != 304 ? " /elsewhere" : " status") +
                        ";\n        }\n";
        }
        std::string http = replace_all(std::string(kHttp), "%%ROOT%%", root_);
        http = replace_all(http, "%%STATUS_LOCATIONS%%", statuses);
        halo_.write_conf("daemon off;\nerror_log logs/error.log;\nevents {}\n" +
                         replace_all(http, "%%PORT%%", std::to_string(halo_port_)));
        ASSERT_TRUE(halo_.start());
        ASSERT_TRUE(nginx_.start("error_log logs/error.log;\nevents {}\n" +
                                     replace_all(http, "%%PORT%%", std::to_string(nginx_port_)),
                                 nginx_port_));
    }

    /// The same request to both, until both answered within the same second (Date equal):
    /// then times computed from "now" must be equal too.
    std::pair<RawResponse, RawResponse> both(const std::string& request) {
        std::pair<RawResponse, RawResponse> r;
        for (int i = 0; i < 5; i++) {
            r.first = fetch_raw(halo_port_, request);
            r.second = fetch_raw(nginx_port_, request);
            if (r.first.header("Date") == r.second.header("Date")) {
                break;
            }
        }
        return r;
    }

    /// Compares what the headers module sets (and the body of a 2xx) for one request.
    void expect_same(const std::string& path, std::string_view extra = {}) {
        SCOPED_TRACE(path);
        auto [h, n] = both(request_text(path, extra));
        ASSERT_NE(n.status, 0) << "nginx did not answer " << path;
        EXPECT_EQ(h.status, n.status);
        static const std::vector<std::string_view> kNames = {
            "Expires",  "Cache-Control", "ETag",     "Last-Modified", "Link",
            "X-Server", "X-Plain",       "X-Always", "X-Empty",       "X-Arg",
            "X-Own",    "X-Outer",       "X-If",     "Content-Type",  "Content-Length"};
        // The error pages differ by name ("halo"/"nginx": their length), and `return 204`
        // carries a Content-Type in halo: neither is this module's, so those are left out.
        std::vector<std::string_view> names = kNames;
        if (n.status >= 300 || n.status == 204) {
            std::erase_if(names, [](std::string_view x) {
                return x == "Content-Length" || x == "Content-Type";
            });
        }
        EXPECT_EQ(h.lines(names), n.lines(names)) << "halo:\n" << h.raw << "nginx:\n" << n.raw;
        if (n.status >= 200 && n.status < 300) {
            EXPECT_EQ(h.wire_body, n.wire_body);
        }
    }

    Halo halo_;
    Nginx nginx_;
    std::string root_;
    uint16_t halo_port_ = 0;
    uint16_t nginx_port_ = 0;
};

TEST_F(HeadersTest, ExpiresFormsMatchNginx) {
    for (const char* loc : {"access", "units", "spaced", "plus", "modified", "modified-past",
                            "modified-neg", "neg", "zero", "epoch", "max", "daily", "off"}) {
        expect_same("/" + std::string(loc) + "/a.txt");
    }
    expect_same("/return/");
    // Not for a 404 (the status rule applies to expires too).
    expect_same("/access/missing.txt");
    // A 304 gets them; a HEAD too.
    expect_same("/access/a.txt", "If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT\r\n");
}

TEST_F(HeadersTest, ExpiresValuesFromVariables) {
    for (const char* e :
         {"epoch", "max", "off", "1h", "-5m", "@10h", "@25h", "bogus", "", "modified", "+1d"}) {
        expect_same(std::string("/var/a.txt?e=") + e);
        expect_same(std::string("/modvar/a.txt?e=") + e);  // epoch, max, off, @: not after it
    }
}

TEST_F(HeadersTest, H5bpMapOnSentContentType) {
    auto [h, n] = both(request_text("/h5bp/index.html"));
    EXPECT_EQ(h.header("Cache-Control"), "no-cache");
    EXPECT_EQ(h.header("Expires"), "Thu, 01 Jan 1970 00:00:01 GMT");
    for (const char* f : {"index.html", "a.txt", "data.json", "favicon.ico", "style.css"}) {
        expect_same(std::string("/h5bp/") + f);
    }
    expect_same("/h5bp/missing");  // 404: no Expires (and the map's "" is not reached)
}

TEST_F(HeadersTest, AddHeaderStatusRuleAndAlways) {
    for (int code :
         {200, 201, 204, 206, 301, 302, 303, 304, 307, 308, 400, 403, 404, 410, 500, 503}) {
        expect_same("/status/" + std::to_string(code));
    }
    auto r = fetch_raw(halo_port_, request_text("/status/404"));
    EXPECT_EQ(r.header("X-Always"), "always");
    EXPECT_FALSE(r.has("X-Plain"));
    EXPECT_FALSE(r.has("Expires"));
}

TEST_F(HeadersTest, EmptyValuesReplacementsAndMultiHeaders) {
    expect_same("/empty/a.txt");
    expect_same("/empty/a.txt?v=given");
    auto r = fetch_raw(halo_port_, request_text("/empty/a.txt"));
    EXPECT_FALSE(r.has("ETag"));
    EXPECT_FALSE(r.has("Last-Modified"));
    EXPECT_FALSE(r.has("X-Empty"));
    expect_same("/replace/a.txt");
    expect_same("/upstream-cc/");
}

TEST_F(HeadersTest, InheritanceAndIf) {
    expect_same("/inherit/a.txt");  // the server's X-Server
    expect_same("/own/a.txt");      // its own only
    expect_same("/own/nested/a.txt");
    expect_same("/if/a.txt");
    expect_same("/if/a.txt?x=1");
}

TEST_F(HeadersTest, TrailersMatchNginx) {
    expect_same("/trailer/a.txt");
    auto r = fetch_raw(halo_port_, request_text("/trailer/a.txt"));
    EXPECT_EQ(r.header("Transfer-Encoding"), "chunked");
    EXPECT_FALSE(r.has("Content-Length"));
    EXPECT_EQ(r.wire_body, "5\r\ntext\n\r\n0\r\nX-Trailer: t-200\r\nX-Always: a\r\n\r\n");
    // Only `always` on an error; the last chunk carries it (the error page differs by name).
    auto [h, n] = both(request_text("/trailer-error/"));
    EXPECT_EQ(h.header("Transfer-Encoding"), n.header("Transfer-Encoding"));
    auto tail = [](const std::string& b) { return b.substr(b.rfind("0\r\n")); };
    EXPECT_EQ(tail(h.wire_body), tail(n.wire_body));
    EXPECT_EQ(tail(h.wire_body), "0\r\nX-Always: a\r\n\r\n");
    // HTTP/1.0: no chunks, no trailers, the length stays.
    auto old = fetch_raw(halo_port_, "GET /trailer/a.txt HTTP/1.0\r\nHost: x\r\n\r\n");
    EXPECT_EQ(old.wire_body, "text\n");
    EXPECT_EQ(old.header("Content-Length"), "5");
}

TEST(HeadersConfigTest, RefusalsAsNginx) {
    if (!halo_has_module("http_headers")) {
        GTEST_SKIP() << "http_headers is not compiled in";
    }
    struct Case {
        std::string_view line;
        std::string_view error;
    } cases[] = {
        {"expires foo;", "\"expires\" directive invalid value in "},
        {"expires 1h 2h;", "\"expires\" directive invalid value in "},
        {"expires modified epoch;", "\"expires\" directive invalid value in "},
        {"expires modified @1h;",
         "\"expires\" directive daily time cannot be used with \"modified\" parameter in "},
        {"expires @25h;", "\"expires\" directive daily time value must be less than 24 hours in "},
        {"expires 1ms;", "\"expires\" directive invalid value in "},
        {"expires 1h1y;", "\"expires\" directive invalid value in "},
        {"expires 1h; expires 2h;", "\"expires\" directive is duplicate in "},
        {"add_header X 1 sometimes;", "invalid parameter \"sometimes\" in "},
        {"add_trailer X 1 sometimes;", "invalid parameter \"sometimes\" in "},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.line);
        Halo halo;
        halo.write_conf("events {}\nhttp {\nserver {\nlisten 127.0.0.1:%%PORT_0%%;\n" +
                        std::string(c.line) + "\n}\n}\n");
        RunResult r = halo.run({"-t"});
        EXPECT_NE(r.status, 0);
        EXPECT_NE(r.err.find(std::string(c.error) + halo.conf_path() + ":5"), std::string::npos)
            << r;
    }
}

}  // namespace
}  // namespace halo_test
