// index, try_files, disable_symlinks, byte ranges, return and error_page as nginx has them:
// one config of our own run by Debian's nginx and by halo (each in a private network + mount
// namespace, as the other differential tests), the same requests to both, no known
// differences. What it covers that the shapes do not: index with variables, several names
// and an absolute last one; try_files with "$uri/", "=code", a named location, a fallback
// URI with arguments and one without (nginx drops the request's); disable_symlinks on, if_not_owner
// and from=$document_root; max_ranges; Range on HEAD and with gzip; 416 with add_header ... always;
// try_files beside proxy_pass; return 204 (no Content-Type) and `return 200;`; $status under
// error_page; a 400 for a malformed URI over TLS answered by the server SNI chose (its add_header
// ... always).
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

constexpr std::string_view kConf = R"(
worker_processes 1;
pid %%TMP%%/run/static.pid;
error_log %%TMP%%/logs/error.log;
events { worker_connections 128; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    gzip on;
    gzip_vary on;
    gzip_types text/css application/javascript;

    server {
        listen 80 default_server;
        server_name static.example.com;
        root %%TMP%%/www;
        add_header X-Always yes always;
        add_header X-Sometimes yes;
        try_files $uri $uri/ /about.html;

        location /docs/ { index nothere.html page.html; }
        location /lang/ { set $lang en; index index.$lang.html; }
        location /app/ { index missing.html /about.html; }
        location /spa/ { try_files $uri $uri/ /app/index.html?from=spa; }
        location /keep/ { try_files $uri /echo$uri; }
        location /echo/ { return 200 "uri=$uri args=$args\n"; }
        location /code/ { try_files $uri =410; }
        location /named/ { try_files $uri @fallback; }
        location @fallback { return 200 "named $uri $args $request_method\n"; }
        location /dironly/ { try_files $uri/ =404; }
        location /links/ { disable_symlinks on; }
        location /owner/ { disable_symlinks if_not_owner; }
        location /free/ { }
        location /idx/ { }
        location /proxied/ { try_files $uri @app; proxy_pass http://127.0.0.1:80/echo/; }
        location @app { return 200 "app $uri\n"; }
        location /viaroot/ { root %%TMP%%/wwwlink; disable_symlinks on from=$document_root; }
        location /viaroot-on/ { root %%TMP%%/wwwlink; disable_symlinks on; }
        location = /nocontent { return 204; }
        location = /nocontent-text { return 204 "ignored"; }
        location = /empty200 { return 200; }
        location /err/ { error_page 404 /status-page; }
        location /err-eq/ { error_page 404 = /status-page; }
        location /errfile/ { error_page 404 /about.html; }
        location = /status-page { return 200 "status $status\n"; }
        location /few/ { max_ranges 1; alias %%TMP%%/www/; }
        location /noranges/ { max_ranges 0; alias %%TMP%%/www/; }
    }
    server {
        listen 443 ssl default_server;
        server_name www.example.com;
        ssl_certificate %%TMP%%/tls/cert.pem;
        ssl_certificate_key %%TMP%%/tls/key.pem;
        return 301 https://example.com$request_uri;
    }
    server {
        listen 443 ssl;
        server_name example.com;
        ssl_certificate %%TMP%%/tls/cert.pem;
        ssl_certificate_key %%TMP%%/tls/key.pem;
        root %%TMP%%/www;
        add_header X-Frame-Options DENY always;
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

class StaticDiffTest : public ::testing::Test {
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
        std::string www = tmp_ / "www";
        for (const char* d :
             {"/lang", "/spa", "/spa/sub", "/keep", "/code", "/named", "/dironly", "/dironly/sub",
              "/links", "/owner", "/free", "/viaroot", "/viaroot-on", "/idx", "/proxied"}) {
            mkdir((www + d).c_str(), 0755);
            chmod((www + d).c_str(), 0755);
        }
        ASSERT_TRUE(write_file(www + "/lang/index.en.html", "english\n"));
        ASSERT_TRUE(write_file(www + "/spa/sub/index.html", "spa sub\n"));
        ASSERT_TRUE(write_file(www + "/spa/file.txt", "spa file\n"));
        ASSERT_TRUE(write_file(www + "/code/here.txt", "here\n"));
        ASSERT_TRUE(write_file(www + "/idx/file.txt", "idx\n"));
        ASSERT_TRUE(write_file(www + "/proxied/file.txt", "proxied\n"));
        ASSERT_TRUE(write_file(www + "/dironly/file.txt", "a file\n"));
        ASSERT_TRUE(write_file(www + "/dironly/sub/index.html", "sub index\n"));
        ASSERT_TRUE(write_file(www + "/viaroot/file.txt", "via root\n"));
        ASSERT_TRUE(write_file(www + "/viaroot-on/file.txt", "via root on\n"));
        for (const char* f :
             {"/lang/index.en.html", "/spa/sub/index.html", "/spa/file.txt", "/code/here.txt",
              "/idx/file.txt", "/proxied/file.txt", "/dironly/file.txt", "/dironly/sub/index.html",
              "/viaroot/file.txt", "/viaroot-on/file.txt"}) {
            chmod((www + f).c_str(), 0644);
        }
        // Links: to a file, to a folder, one owned by another user (if_not_owner refuses it).
        ASSERT_EQ(symlink("../notes.txt", (www + "/links/note.txt").c_str()), 0);
        ASSERT_EQ(symlink("../docs", (www + "/links/docs").c_str()), 0);
        ASSERT_EQ(symlink("../notes.txt", (www + "/owner/same.txt").c_str()), 0);
        ASSERT_EQ(symlink("../notes.txt", (www + "/owner/other.txt").c_str()), 0);
        ASSERT_EQ(lchown((www + "/owner/other.txt").c_str(), 65534, 65534), 0);
        ASSERT_EQ(symlink("../notes.txt", (www + "/free/note.txt").c_str()), 0);
        ASSERT_EQ(symlink("www", (tmp_ / "wwwlink").c_str()), 0);
        ASSERT_EQ(make_test_certificate("example.com", tmp_ / "tls/cert.pem", tmp_ / "tls/key.pem"),
                  "");
    }

    void run(const std::vector<DiffRequest>& requests) {
        std::string conf = replace_tmp(kConf, tmp_.path());
        write_file(tmp_ / "conf/server.conf", conf);
        RunResult t =
            run_command({nginx_bin(), "-t", "-p", tmp_ / "", "-c", tmp_ / "conf/server.conf"});
        ASSERT_EQ(t.status, 0) << "nginx refuses the config: " << t;
        RunResult ht = run_command(
            {absolute(halo_bin()), "-t", "-p", tmp_ / "halo/", "-c", tmp_ / "conf/server.conf"});
        ASSERT_EQ(ht.status, 0) << "halo -t refuses the config: " << ht;
        std::vector<Sandbox::Mount> mounts = {{tmp_ / "run", ""}, {tmp_ / "logs", ""}};
        Sandbox nginx;
        ASSERT_TRUE(nginx.start(mounts,
                                "exec " + nginx_bin() + " -p " + tmp_ / "" + " -c " +
                                    tmp_ / "conf/server.conf -g 'daemon off;'",
                                tmp_ / "nginx.out", {80, 443}))
            << nginx.error();
        Sandbox halo;
        ASSERT_TRUE(halo.start(mounts,
                               "exec " + absolute(halo_bin()) + " -p " + tmp_ / "halo/" + " -c " +
                                   tmp_ / "conf/server.conf -g 'daemon off;'",
                               tmp_ / "halo.out", {80, 443}))
            << halo.error();
        run_differential(nginx, halo, requests, {});
    }

    TempDir tmp_{"halo-diff-static"};
};

constexpr std::string_view kHost = "static.example.com";

DiffRequest get(std::string target, std::string extra = {}, std::string label = {}) {
    return make_request("GET " + target + (label.empty() ? "" : " " + label), "GET", target, kHost,
                        extra, 80);
}

DiffRequest raw(std::string name, std::string text, uint16_t port = 80) {
    DiffRequest d;
    d.name = std::move(name);
    d.raw = std::move(text);
    d.port = port;
    return d;
}

TEST_F(StaticDiffTest, IndexAndTryFiles) {
    run({
        get("/docs/", {}, "(second index name)"),
        get("/lang/", {}, "(index with a variable)"),
        get("/app/", {}, "(absolute last index)"),
        get("/app/?a=1", {}, "(absolute index keeps the arguments)"),
        get("/spa/file.txt"),
        get("/spa/sub", {}, "($uri/ without its slash: 301)"),
        get("/spa/sub?x=1", {}, "(301 keeps the arguments)"),
        get("/spa/sub/", {}, "($uri/ with its slash: the index)"),
        get("/spa/nothing?q=2", {}, "(fallback URI with its own arguments)"),
        get("/keep/nothing?q=3", {}, "(a fallback URI without ? drops the arguments)"),
        get("/code/here.txt"),
        get("/code/nothing", {}, "(=410)"),
        get("/named/nothing?n=1", {}, "(named location last)"),
        raw("POST /named/nothing (try_files before the method)",
            "POST /named/nothing HTTP/1.1\r\nHost: static.example.com\r\nContent-Length: "
            "0\r\nConnection: close\r\n\r\n"),
        raw("POST /index.html (405)",
            "POST /index.html HTTP/1.1\r\nHost: static.example.com\r\nContent-Length: "
            "0\r\nConnection: close\r\n\r\n"),
        raw("POST /missing.html (404 before 405)",
            "POST /missing.html HTTP/1.1\r\nHost: static.example.com\r\nContent-Length: "
            "0\r\nConnection: close\r\n\r\n"),
        get("/dironly/file.txt", {}, "(a file where $uri/ wants a folder)"),
        get("/dironly/sub", {}, "(a folder)"),
        get("/idx/missing/dir/", {}, "(index of a missing folder)"),
        get("/idx/file.txt/", {}, "(index under a file)"),
        get("/missing.txt", {}, "(the server's try_files)"),
        get("/free/missing.txt", {}, "(try_files is not inherited)"),
        get("/proxied/file.txt", {}, "(try_files, then proxy_pass)"),
        get("/proxied/missing.txt", {}, "(try_files before proxy_pass)"),
    });
}

TEST_F(StaticDiffTest, DisableSymlinks) {
    run({
        get("/links/note.txt", {}, "(link to a file: 403)"),
        get("/links/docs/page.html", {}, "(through a linked folder)"),
        get("/links/docs/", {}, "(index through a linked folder)"),
        get("/owner/same.txt", {}, "(link of the file's owner)"),
        get("/owner/other.txt", {}, "(link of another owner: 403)"),
        get("/free/note.txt", {}, "(links followed)"),
        get("/viaroot/file.txt", {}, "(the root is a link, exempt by from=)"),
        get("/viaroot-on/file.txt", {}, "(the root is a link, checked)"),
    });
}

TEST_F(StaticDiffTest, RangesReturnAndErrorPages) {
    const std::string gz = "Accept-Encoding: gzip\r\n";
    run({
        get("/notes.txt", "Range: bytes=0-4,6-9\r\n", "(two ranges)"),
        get("/notes.txt", "Range: bytes=0-4,6-9,12-\r\n", "(three ranges)"),
        get("/notes.txt", "Range: bytes=0-3,2-5\r\n", "(overlap past the size)"),
        get("/few/notes.txt", "Range: bytes=0-1,3-4\r\n", "(over max_ranges)"),
        get("/few/notes.txt", "Range: bytes=0-1\r\n", "(within max_ranges)"),
        get("/noranges/notes.txt", "Range: bytes=0-1\r\n", "(max_ranges 0)"),
        get("/notes.txt", "Range: bytes=5-3\r\n", "(malformed: 416)"),
        get("/notes.txt", "Range: bytes=900-\r\n", "(416 with add_header always)"),
        get("/css/style.css", "Range: bytes=0-9\r\n" + gz, "(range and gzip)"),
        get("/css/style.css", "Range: bytes=0-9\r\n", "(range of a gzip type)"),
        get("/notes.txt",
            "Range: bytes=0-1\r\nIf-Range: " + std::string(kSiteLastModified) + "\r\n",
            "(If-Range date)"),
        make_request("HEAD /notes.txt Range", "HEAD", "/notes.txt", kHost, "Range: bytes=0-4\r\n",
                     80),
        make_request("HEAD /css/style.css gzip", "HEAD", "/css/style.css", kHost, gz, 80),
        get("/nocontent"),
        get("/nocontent-text"),
        get("/empty200"),
        get("/err/missing", {}, "($status under error_page)"),
        get("/err-eq/missing", {}, "($status under error_page =)"),
        get("/errfile/missing", {}, "(error_page to a file)"),
    });
}

TEST_F(StaticDiffTest, BadRequestOverTlsGoesToTheSniServer) {
    auto tls = [](std::string name, std::string text) {
        DiffRequest d = raw(std::move(name), std::move(text), 443);
        d.tls = true;
        d.sni = "example.com";
        return d;
    };
    run({
        tls("GET /%zz over TLS",
            "GET /%zz HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"),
        tls("GET /../x over TLS",
            "GET /../x HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"),
        tls("HELLO over TLS", "HELLO\r\n\r\n"),
        tls("GET / HTTP/1.1 without Host over TLS (the default server)",
            "GET / HTTP/1.1\r\nConnection: close\r\n\r\n"),
        tls("GET /notes.txt over TLS",
            "GET /notes.txt HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"),
    });
}

}  // namespace
}  // namespace halo_test
