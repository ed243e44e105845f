// The charset module through the real binary, side by side with Debian's nginx on the same
// config: `charset` (also from a variable), `charset_types` (defaults, h5bp's list, `*`),
// `source_charset`, `override_charset` on a proxied response that names a charset, 301/302,
// error pages; Debian's koi-utf, koi-win and win-utf maps load. Recoding itself:
// charset_recode_test.cc.
#include <string>
#include <vector>

#include "support/harness.h"
#include "support/nginx.h"

namespace halo_test {
namespace {

constexpr std::string_view kHttp = R"(
http {
    access_log off;
    server_tokens off;
    include /etc/nginx/koi-utf;
    include /etc/nginx/koi-win;
    include /etc/nginx/win-utf;
    default_type application/octet-stream;
    types {
        text/html html;
        text/plain txt;
        text/css css;
        application/json json;
        application/javascript js;
        image/png png;
    }
    server {
        listen 127.0.0.1:%%PORT%%;
        root %%ROOT%%;
        charset utf-8;

        location /h5bp/ {
            alias %%ROOT%%/;
            charset_types text/css text/plain text/vnd.wap.wml text/javascript text/markdown
                          application/json application/manifest+json;
        }
        location /defaults/ { alias %%ROOT%%/; }
        location /any/ { alias %%ROOT%%/; charset windows-1251; charset_types *; }
        location /off/ { alias %%ROOT%%/; charset off; }
        location /var/ { alias %%ROOT%%/; charset $arg_cs; }
        location /same-source/ { alias %%ROOT%%/; source_charset UTF-8; }
        location /r301 { return 301 /x; }
        location /r302 { return 302 /x; }
        location /r303 { return 303 /x; }
        location /r307 { return 307 /x; }
        location /missing/ { return 404; }
        location /text { return 200 "text\n"; }
        location /if/ { alias %%ROOT%%/; if ($arg_k) { charset koi8-r; } }
        location /up-keep/ { proxy_pass http://127.0.0.1:%%BACKEND%%/; }
        location /up-override/ { override_charset on; proxy_pass http://127.0.0.1:%%BACKEND%%/; }
        location /up-same/ {
            charset koi8-r;
            override_charset on;
            proxy_pass http://127.0.0.1:%%BACKEND%%/;
        }
        location /up-unknown/ {
            charset utf-8;
            override_charset on;
            proxy_pass http://127.0.0.1:%%BACKEND%%/unknown;
        }
    }
    server {
        listen 127.0.0.1:%%BACKEND%%;
        location / { default_type "text/plain; charset=koi8-r"; return 200 "backend\n"; }
        location /unknown { default_type "text/plain; charset=x-mine"; return 200 "mine\n"; }
    }
}
)";

class CharsetTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_charset") || !halo_has_module("http_proxy") ||
            !halo_has_module("http_rewrite")) {
            GTEST_SKIP() << "http_charset, http_proxy or http_rewrite is not compiled in";
        }
        if (!nginx_installed() || !file_exists("/etc/nginx/koi-utf")) {
            GTEST_SKIP() << "Debian's nginx (with /etc/nginx/koi-utf) is not installed";
        }
        std::string root = halo_.path("www");
        halo_.write("www/index.html", "<p>home</p>\n");
        halo_.write("www/a.txt", "text\n");
        halo_.write("www/data.json", "{}\n");
        halo_.write("www/app.js", "x;\n");
        halo_.write("www/style.css", "p {}\n");
        halo_.write("www/pic.png", "png");
        halo_.write("www/blob.bin", "bin");
        halo_port_ = halo_.port(0);
        uint16_t halo_backend = halo_.port(1);
        nginx_port_ = free_port();
        uint16_t nginx_backend = free_port();
        std::string http = replace_all(std::string(kHttp), "%%ROOT%%", root);
        std::string h = replace_all(http, "%%PORT%%", std::to_string(halo_port_));
        halo_.write_conf("daemon off;\nerror_log logs/error.log;\nevents {}\n" +
                         replace_all(h, "%%BACKEND%%", std::to_string(halo_backend)));
        ASSERT_TRUE(halo_.start());
        std::string n = replace_all(http, "%%PORT%%", std::to_string(nginx_port_));
        ASSERT_TRUE(nginx_.start("error_log logs/error.log;\nevents {}\n" +
                                     replace_all(n, "%%BACKEND%%", std::to_string(nginx_backend)),
                                 nginx_port_));
    }

    std::string halo_type(const std::string& path) {
        return fetch_raw(halo_port_, request_text(path)).header("Content-Type");
    }

    void expect_same(const std::string& path) {
        SCOPED_TRACE(path);
        RawResponse h = fetch_raw(halo_port_, request_text(path));
        RawResponse n = fetch_raw(nginx_port_, request_text(path));
        ASSERT_NE(n.status, 0);
        EXPECT_EQ(h.status, n.status);
        EXPECT_EQ(h.header("Content-Type"), n.header("Content-Type"));
        if (n.status == 200) {
            EXPECT_EQ(h.wire_body, n.wire_body);
        }
    }

    Halo halo_;
    Nginx nginx_;
    uint16_t halo_port_ = 0;
    uint16_t nginx_port_ = 0;
};

TEST_F(CharsetTest, TypesAsNginx) {
    for (const char* loc : {"h5bp", "defaults", "any", "off", "same-source"}) {
        for (const char* f :
             {"index.html", "a.txt", "data.json", "app.js", "style.css", "pic.png", "blob.bin"}) {
            expect_same("/" + std::string(loc) + "/" + f);
        }
    }
    EXPECT_EQ(halo_type("/h5bp/style.css"), "text/css; charset=utf-8");
    EXPECT_EQ(halo_type("/defaults/style.css"), "text/css");
    EXPECT_EQ(halo_type("/defaults/app.js"), "application/javascript; charset=utf-8");
    EXPECT_EQ(halo_type("/any/pic.png"), "image/png; charset=windows-1251");
    // A charset the response names, unknown and without a map: unchanged, and said (nginx).
    EXPECT_EQ(halo_type("/up-unknown/"), "text/plain; charset=x-mine");
    EXPECT_FALSE(log_lines_with(halo_.error_log(),
                                "no \"charset_map\" between the charsets \"x-mine\" and \"utf-8\"")
                     .empty());
}

TEST_F(CharsetTest, StatusesAndOtherResponses) {
    for (const char* p : {"/r301", "/r302", "/r303", "/r307", "/missing/", "/text"}) {
        expect_same(p);
    }
    EXPECT_EQ(halo_type("/missing/"), "text/html; charset=utf-8");
    EXPECT_EQ(halo_type("/r301"), "text/html");  // none on 301 and 302 (nginx)
    expect_same("/var/a.txt?cs=koi8-r");
    expect_same("/var/a.txt?cs=x-unknown");
    expect_same("/if/a.txt");
    expect_same("/if/a.txt?k=1");
}

TEST_F(CharsetTest, ProxiedCharsetKeptOrOverridden) {
    expect_same("/up-keep/");  // names koi8-r: kept
    expect_same("/up-same/");
    expect_same("/up-unknown/");
    EXPECT_EQ(halo_type("/up-keep/"), "text/plain; charset=koi8-r");
    EXPECT_EQ(halo_type("/up-same/"), "text/plain; charset=koi8-r");
    // Recoded through koi-utf, as nginx.
    expect_same("/up-override/");
    EXPECT_EQ(halo_type("/up-override/"), "text/plain; charset=utf-8");
}

TEST(CharsetConfigTest, MapsAreChecked) {
    if (!halo_has_module("http_charset")) {
        GTEST_SKIP() << "http_charset is not compiled in";
    }
    struct Case {
        std::string body;
        std::string error;  // "" : accepted
    } cases[] = {
        {"charset_map koi8-r utf-8 { C0 D18E; }\nserver { charset utf-8; }", ""},
        {"charset_map koi8-r utf-8 { C0 ZZ; }", "invalid value \"ZZ\" in %%CONF%%:3"},
        {"charset_map koi8-r windows-1251 { C0 D18E; }", "invalid value \"D18E\" in %%CONF%%:3"},
        {"charset_map koi8-r windows-1251 { C0; }", "invalid parameters number in %%CONF%%:3"},
        {"charset_map koi8-r utf-8 { C0 D18E; }\nserver {\nsource_charset koi8-r;\n"
         "charset utf-8;\n}",
         ""},
        {"server { charset utf-8; charset off; }",
         "\"charset\" directive is duplicate in %%CONF%%:3"},
        {"server {\nsource_charset iso-8859-2;\ncharset utf-8;\n}",
         "no \"charset_map\" between the charsets \"iso-8859-2\" and \"utf-8\" in "
         "%%CONF%%:5"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.body);
        Halo halo;
        halo.write_conf("events {}\nhttp {\n" + c.body + "\n}\n");
        RunResult r = halo.run({"-t"});
        if (c.error.empty()) {
            EXPECT_EQ(r.status, 0) << r;
        } else {
            EXPECT_NE(r.status, 0);
            EXPECT_NE(r.err.find(replace_all(c.error, "%%CONF%%", halo.conf_path())),
                      std::string::npos)
                << r;
        }
    }
}

}  // namespace
}  // namespace halo_test
