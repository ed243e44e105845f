// autoindex through the real binary, side by side with Debian's nginx on the same folder:
// the html listing (exact and human sizes, local time, names to escape, long and UTF-8
// names, folders first, dot-files hidden), xml, json and jsonp, compared byte for byte.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utime.h>

#include <string>

#include "support/harness.h"
#include "support/nginx.h"

namespace halo_test {
namespace {

constexpr std::string_view kHttp = R"(
http {
    access_log off;
    server {
        listen 127.0.0.1:%%PORT%%;
        root %%ROOT%%;
        location /html/ { alias %%ROOT%%/list/; autoindex on; }
        location /human/ { alias %%ROOT%%/list/; autoindex on; autoindex_exact_size off; }
        location /local/ { alias %%ROOT%%/list/; autoindex on; autoindex_localtime on; }
        location /utf/ { alias %%ROOT%%/list/; autoindex on; charset utf-8; }
        location /xml/ { alias %%ROOT%%/list/; autoindex on; autoindex_format xml; }
        location /json/ { alias %%ROOT%%/list/; autoindex on; autoindex_format json; }
        location /jsonp/ { alias %%ROOT%%/list/; autoindex on; autoindex_format jsonp; }
        location /indexed/ { alias %%ROOT%%/indexed/; autoindex on; }
        location /off/ { alias %%ROOT%%/list/; }
    }
}
)";

class AutoindexTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_static")) {
            GTEST_SKIP() << "http_static is not compiled in";
        }
        if (!nginx_installed()) {
            GTEST_SKIP() << "Debian's nginx (/usr/sbin/nginx) is not installed";
        }
        std::string root = halo_.path("www");
        const char* files[] = {
            "list/a.txt",
            "list/B.txt",
            "list/empty",
            "list/with space & <amp>.html",
            "list/q?#%;+,=@[x].txt",
            "list/\u00fcn\u00efc\u00f8d\u00e9.txt",
            "list/a-very-long-file-name-that-goes-past-the-fifty-columns.txt",
            "list/\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9-long-utf8-name-past-"
            "the-fifty-columns-too.txt",
            "list/.hidden",
            "list/sub/inner.txt",
            "list/z-dir-second/x",
            "list/exactly-fifty-characters-long-name-of-a-file.txt",
            "indexed/index.html",
        };
        for (const char* f : files) {
            halo_.write(std::string("www/") + f, std::string(f).find("empty") != std::string::npos
                                                     ? ""
                                                     : std::string(f) + "\n");
        }
        halo_.write("www/list/big.bin", "");
        ASSERT_EQ(truncate((root + "/list/big.bin").c_str(), 3 * 1024 * 1024 + 700 * 1024), 0);
        halo_.write("www/list/mid.bin", std::string(12345, 'm'));
        ASSERT_EQ(symlink("/nonexistent/target", (root + "/list/dangling").c_str()), 0);
        time_t t = 1700000000;
        for (const char* f : {"list/a.txt", "list/B.txt", "list/empty", "list/big.bin",
                              "list/mid.bin", "list/sub", "list/z-dir-second"}) {
            struct utimbuf u = {t, t};
            utime((root + "/" + f).c_str(), &u);
            t += 86400 * 40 + 3600 * 5 + 61;
        }
        halo_port_ = halo_.port(0);
        nginx_port_ = free_port();
        std::string http = replace_all(std::string(kHttp), "%%ROOT%%", root);
        halo_.write_conf("daemon off;\nerror_log logs/error.log;\nevents {}\n" +
                         replace_all(http, "%%PORT%%", std::to_string(halo_port_)));
        ASSERT_TRUE(halo_.start());
        ASSERT_TRUE(nginx_.start("error_log logs/error.log;\nevents {}\n" +
                                     replace_all(http, "%%PORT%%", std::to_string(nginx_port_)),
                                 nginx_port_));
    }

    void expect_same(const std::string& path, std::string_view method = "GET") {
        SCOPED_TRACE(path);
        RawResponse h = fetch_raw(halo_port_, request_text(path, {}, method));
        RawResponse n = fetch_raw(nginx_port_, request_text(path, {}, method));
        ASSERT_NE(n.status, 0);
        EXPECT_EQ(h.status, n.status);
        EXPECT_EQ(h.header("Content-Type"), n.header("Content-Type"));
        EXPECT_EQ(h.header("Transfer-Encoding"), n.header("Transfer-Encoding"));
        if (n.status == 200) {
            EXPECT_EQ(h.body, n.body) << "halo:\n" << h.raw << "\nnginx:\n" << n.raw;
        }
        EXPECT_EQ(h.error, n.error);  // e.g. bytes after the head of an answer to HEAD
    }

    Halo halo_;
    Nginx nginx_;
    uint16_t halo_port_ = 0;
    uint16_t nginx_port_ = 0;
};

TEST_F(AutoindexTest, HtmlListingsMatchNginx) {
    expect_same("/html/");
    expect_same("/human/");
    expect_same("/local/");
    expect_same("/utf/");
    expect_same("/html/sub/");
    expect_same("/html/", "HEAD");
    RawResponse r = fetch_raw(halo_port_, request_text("/html/"));
    const std::string& body = r.body;
    EXPECT_EQ(body.find(".hidden"), std::string::npos);
    EXPECT_LT(body.find("sub/"), body.find("a.txt"));  // folders first
}

TEST_F(AutoindexTest, XmlJsonAndJsonpMatchNginx) {
    expect_same("/xml/");
    expect_same("/json/");
    expect_same("/jsonp/");  // no callback: json
    expect_same("/jsonp/?callback=cb.f_1");
    expect_same("/jsonp/?callback=bad(name)");  // 400
}

TEST_F(AutoindexTest, IndexFileWinsAndOffIsForbidden) {
    expect_same("/indexed/");
    expect_same("/off/");  // 403
    expect_same("/html/missing/");
}

}  // namespace
}  // namespace halo_test
