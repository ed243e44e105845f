// gzip_static through the real binary, side by side with Debian's nginx: "file.gz" for "file"
// with `on` (Accept-Encoding, gzip_http_version, gzip_proxied, gzip_disable decide; gzip_vary
// adds Vary once) and `always`; ranges, 304 and HEAD on the .gz; no .gz: the file itself (and
// the gzip filter, when on, compresses it with a single Vary).
#include <utime.h>

#include <string>
#include <vector>

#include "support/harness.h"
#include "support/nginx.h"

namespace halo_test {
namespace {

constexpr std::string_view kHttp = R"(
http {
    access_log off;
    types { text/plain txt; text/css css; }
    server {
        listen 127.0.0.1:%%PORT%%;
        root %%ROOT%%;
        location /on/ { alias %%ROOT%%/; gzip_static on; }
        location /vary/ { alias %%ROOT%%/; gzip_static on; gzip_vary on; }
        location /always/ { alias %%ROOT%%/; gzip_static always; }
        location /http11/ { alias %%ROOT%%/; gzip_static on; gzip_http_version 1.1; }
        location /proxied/ { alias %%ROOT%%/; gzip_static on; gzip_proxied any; }
        location /disable/ { alias %%ROOT%%/; gzip_static on; gzip_disable "curl"; }
        location /both/ {
            alias %%ROOT%%/;
            gzip on;
            gzip_types text/css;
            gzip_min_length 1;
            gzip_static on;
            gzip_vary on;
        }
    }
}
)";

class GzipStaticTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_static") || !halo_has_module("http_gzip")) {
            GTEST_SKIP() << "http_static or http_gzip is not compiled in";
        }
        if (!nginx_installed()) {
            GTEST_SKIP() << "Debian's nginx (/usr/sbin/nginx) is not installed";
        }
        std::string root = halo_.path("www");
        halo_.write("www/a.txt", "plain text of a\n");
        halo_.write("www/a.txt.gz", "pretend-gzip-bytes-of-a");
        halo_.write("www/b.css", "p { color: red; } p { color: red; } p { color: red; }\n");
        for (const char* f : {"a.txt", "a.txt.gz", "b.css"}) {
            struct utimbuf u = {1700000000, 1700000000};
            utime((root + "/" + f).c_str(), &u);
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

    RawResponse expect_same(const std::string& request) {
        SCOPED_TRACE(request);
        RawResponse h = fetch_raw(halo_port_, request);
        RawResponse n = fetch_raw(nginx_port_, request);
        EXPECT_NE(n.status, 0);
        EXPECT_EQ(h.status, n.status);
        static const std::vector<std::string_view> kNames = {
            "Content-Type", "Content-Length", "Content-Encoding", "Vary",
            "ETag",         "Last-Modified",  "Content-Range"};
        EXPECT_EQ(h.lines(kNames), n.lines(kNames)) << "halo:\n" << h.raw << "nginx:\n" << n.raw;
        if (n.header("Content-Encoding") != "gzip" || n.header("Transfer-Encoding").empty()) {
            EXPECT_EQ(h.wire_body, n.wire_body);
        }
        return h;
    }

    Halo halo_;
    Nginx nginx_;
    uint16_t halo_port_ = 0;
    uint16_t nginx_port_ = 0;
};

constexpr std::string_view kGzip = "Accept-Encoding: gzip, deflate\r\n";

TEST_F(GzipStaticTest, OnServesTheGzFileToGzipClients) {
    RawResponse r = expect_same(request_text("/on/a.txt", kGzip));
    EXPECT_EQ(r.header("Content-Encoding"), "gzip");
    EXPECT_EQ(r.wire_body, "pretend-gzip-bytes-of-a");
    r = expect_same(request_text("/on/a.txt"));
    EXPECT_EQ(r.wire_body, "plain text of a\n");
    expect_same(request_text("/on/a.txt", "Accept-Encoding: gzip;q=0\r\n"));
    expect_same(request_text("/on/b.css", kGzip));  // no .gz
    expect_same(request_text("/on/a.txt", kGzip, "HEAD"));
}

TEST_F(GzipStaticTest, VaryAlwaysAndClientRules) {
    expect_same(request_text("/vary/a.txt", kGzip));
    expect_same(request_text("/vary/a.txt"));  // Vary too: the .gz exists
    expect_same(request_text("/vary/b.css", kGzip));
    RawResponse r = expect_same(request_text("/always/a.txt"));
    EXPECT_EQ(r.header("Content-Encoding"), "gzip");
    expect_same("GET /http11/a.txt HTTP/1.0\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n");
    expect_same("GET /on/a.txt HTTP/1.0\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n");
    expect_same(request_text("/on/a.txt", "Accept-Encoding: gzip\r\nVia: 1.1 proxy\r\n"));
    expect_same(request_text("/proxied/a.txt", "Accept-Encoding: gzip\r\nVia: 1.1 proxy\r\n"));
    expect_same(request_text("/disable/a.txt", "Accept-Encoding: gzip\r\nUser-Agent: curl/8\r\n"));
    expect_same(request_text("/disable/a.txt", "Accept-Encoding: gzip\r\nUser-Agent: other\r\n"));
}

TEST_F(GzipStaticTest, RangesAndConditionalOnTheGzFile) {
    RawResponse r =
        expect_same(request_text("/on/a.txt", "Accept-Encoding: gzip\r\nRange: bytes=0-6\r\n"));
    EXPECT_EQ(r.status, 200);  // nginx 1.22 sends the whole .gz (no ranges on it)
    EXPECT_EQ(r.wire_body, "pretend-gzip-bytes-of-a");
    std::string etag = r.header("ETag");
    r = expect_same(
        request_text("/on/a.txt", "Accept-Encoding: gzip\r\nIf-None-Match: " + etag + "\r\n"));
    EXPECT_EQ(r.status, 304);
}

TEST_F(GzipStaticTest, WithTheGzipFilterVaryIsSentOnce) {
    expect_same(request_text("/both/a.txt", kGzip));
    RawResponse r = fetch_raw(halo_port_, request_text("/both/b.css", kGzip));
    EXPECT_EQ(r.header("Content-Encoding"), "gzip");  // compressed on the fly
    EXPECT_EQ(r.lines({"Vary"}).size(), 1u);
    RawResponse n = fetch_raw(nginx_port_, request_text("/both/b.css", kGzip));
    EXPECT_EQ(r.lines({"Vary", "Content-Encoding", "Content-Type"}),
              n.lines({"Vary", "Content-Encoding", "Content-Type"}));
}

}  // namespace
}  // namespace halo_test
