#pragma once

// The site the differential tests serve (files of several types, a directory with an index,
// one without, dot-files) and the static requests sent to nginx and halo alike. Shared by
// diff_debian_test.cc and diff_shapes_test.cc.
#include <sys/stat.h>
#include <utime.h>

#include <cstdio>
#include <string>
#include <vector>

#include "support/differential.h"

namespace halo_test {

/// A fixed mtime (2024-01-02 03:04:05 UTC) for every file, so Last-Modified and ETag are
/// the same whatever the day.
inline constexpr time_t kSiteMtime = 1704164645;
inline constexpr std::string_view kSiteLastModified = "Tue, 02 Jan 2024 03:04:05 GMT";

inline std::string site_html(std::string_view title) {
    std::string s = "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>" +
                    std::string(title) + "</title></head>\n<body>\n";
    for (int i = 0; i < 40; i++) {
        s += "<p>Paragraph " + std::to_string(i) + " of " + std::string(title) +
             ": the quick brown fox jumps over the lazy dog.</p>\n";
    }
    return s + "</body>\n</html>\n";
}

/// A tiny valid PNG (1x1, transparent).
inline std::string site_png() {
    static const unsigned char kPng[] = {
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48,
        0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00,
        0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78,
        0x9c, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00,
        0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};
    return std::string(reinterpret_cast<const char*>(kPng), sizeof(kPng));
}

/// Writes the site under `root` (made world-readable: the workers run as www-data/nobody).
/// `index_name` is the directory index file at the top ("index.html" by default).
inline bool write_site(const std::string& root, const std::string& index_name = "index.html") {
    std::string css;
    for (int i = 0; i < 30; i++) {
        css += ".c" + std::to_string(i) + " { color: #" + std::to_string(100000 + i) +
               "; margin: 0 auto; }\n";
    }
    std::string js;
    for (int i = 0; i < 30; i++) {
        js += "function f" + std::to_string(i) + "(x) { return x * " + std::to_string(i) + "; }\n";
    }
    const std::vector<std::pair<std::string, std::string>> files = {
        {index_name, site_html("home")},
        {"about.html", site_html("about")},
        {"css/style.css", css},
        {"js/app.js", js},
        {"img/logo.svg",
         "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\">"
         "<rect width=\"10\" height=\"10\" fill=\"#c00\"/></svg>\n"},
        {"img/pixel.png", site_png()},
        {"api/data.json", "{\"name\": \"halo\", \"list\": [1, 2, 3], \"text\": \"caf\xc3\xa9\"}\n"},
        {"notes.txt", "plain text, UTF-8: caf\xc3\xa9 na\xc3\xafve\n"},
        {"robots.txt", "User-agent: *\nDisallow:\n"},
        {"fonts/font.woff2", std::string(200, 'w')},
        {"docs/index.html", site_html("docs")},
        {"docs/page.html", site_html("docs page")},
        {"empty/.keep", ""},
        {".hidden", "a dot-file\n"},
        {".git/config", "[core]\n\tbare = false\n"},
        {".well-known/security.txt", "Contact: mailto:security@example.com\n"},
        {"app/index.html", site_html("spa")},
        {"with space.txt", "a name with a space\n"},
        {"caf\xc3\xa9.txt", "a UTF-8 name\n"},
    };
    for (const char* dir : {"", "/css", "/js", "/img", "/api", "/fonts", "/docs", "/empty", "/.git",
                            "/.well-known", "/app"}) {
        mkdir((root + dir).c_str(), 0755);
        chmod((root + dir).c_str(), 0755);  // whatever the umask
    }
    for (const auto& [rel, text] : files) {
        std::string path = root + "/" + rel;
        if (!write_file(path, text)) {
            return false;
        }
        chmod(path.c_str(), 0644);
        struct utimbuf t {
            kSiteMtime, kSiteMtime
        };
        utime(path.c_str(), &t);
    }
    return true;
}

/// nginx's ETag for a site file of `size` bytes: "<mtime hex>-<size hex>".
inline std::string site_etag(size_t size) {
    char buf[64];
    snprintf(buf, sizeof(buf), "\"%llx-%zx\"", static_cast<unsigned long long>(kSiteMtime), size);
    return buf;
}

inline std::string upper(std::string s) {
    for (char& c : s) {
        c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
    }
    return s;
}

/// The requests every static shape gets: files of each type, HEAD, directories with and
/// without index, the slash redirect, 404, dot-files, gzip, 304 (both validators), ranges,
/// an unknown Host and bad requests. `host` is the server name to address.
inline std::vector<DiffRequest> static_requests(const std::string& host, uint16_t port,
                                                const std::string& index_body) {
    std::string ims = "If-Modified-Since: " + std::string(kSiteLastModified) + "\r\n";
    std::string inm = "If-None-Match: " + site_etag(index_body.size()) + "\r\n";
    const std::string gz = "Accept-Encoding: gzip, deflate\r\n";
    auto get = [&](std::string target, std::string extra = {}, std::string label = {}) {
        return make_request("GET " + target + (label.empty() ? "" : " " + label), "GET", target,
                            host, extra, port);
    };
    std::vector<DiffRequest> r = {
        get("/"),
        get("/index.html"),
        get("/about.html"),
        make_request("HEAD /index.html", "HEAD", "/index.html", host, {}, port),
        make_request("HEAD /css/style.css", "HEAD", "/css/style.css", host, {}, port),
        get("/css/style.css"),
        get("/js/app.js"),
        get("/img/logo.svg"),
        get("/img/pixel.png"),
        get("/api/data.json"),
        get("/notes.txt"),
        get("/robots.txt"),
        get("/fonts/font.woff2"),
        get("/docs/"),
        get("/docs"),
        get("/docs/page.html"),
        get("/empty/"),
        get("/missing.html"),
        get("/missing/dir/"),
        get("/.hidden"),
        get("/.git/config"),
        get("/.well-known/security.txt"),
        get("/", gz, "gzip"),
        get("/about.html", gz, "gzip"),
        get("/css/style.css", gz, "gzip"),
        get("/js/app.js", gz, "gzip"),
        get("/api/data.json", gz, "gzip"),
        get("/img/logo.svg", gz, "gzip"),
        get("/index.html", ims, "If-Modified-Since"),
        get("/index.html", "If-Modified-Since: Mon, 01 Jan 2001 00:00:00 GMT\r\n",
            "If-Modified-Since old"),
        get("/index.html", inm, "If-None-Match"),
        get("/index.html", "If-None-Match: \"nope\"\r\n", "If-None-Match other"),
        get("/index.html", "Range: bytes=0-9\r\n", "Range single"),
        get("/index.html", "Range: bytes=-20\r\n", "Range suffix"),
        get("/index.html", "Range: bytes=0-4,10-14\r\n", "Range multiple"),
        get("/index.html", "Range: bytes=900000-\r\n", "Range unsatisfiable"),
        get("/index.html", "Range: bytes=0-9\r\nIf-Range: \"other\"\r\n", "If-Range stale"),
        make_request("GET / unknown Host", "GET", "/", "unknown.example", {}, port),
        make_request("GET /index.html?query=1", "GET", "/index.html?query=1", host, {}, port),
        make_request("GET /%69ndex.html", "GET", "/%69ndex.html", host, {}, port),
        make_request("GET /../etc/passwd", "GET", "/../etc/passwd", host, {}, port),
    };
    auto raw = [&](std::string name, std::string text) {
        DiffRequest d;
        d.name = std::move(name);
        d.raw = std::move(text);
        d.port = port;
        return d;
    };
    r.push_back(
        raw("POST /index.html", "POST /index.html HTTP/1.1\r\nHost: " + host +
                                    "\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"));
    r.push_back(raw("bad request: HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n"));
    r.push_back(raw("bad request: garbage", "HELLO\r\n\r\n"));
    r.push_back(raw("GET / HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n"));
    r.push_back(raw("GET /about.html HTTP/1.0 gzip",
                    "GET /about.html HTTP/1.0\r\nHost: " + host + "\r\n" + gz + "\r\n"));
    r.push_back(raw("GET absolute-URI", "GET http://" + host + "/notes.txt HTTP/1.1\r\nHost: " +
                                            host + "\r\nConnection: close\r\n\r\n"));
    r.push_back(raw("GET /%zz (bad escape)",
                    "GET /%zz HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n"));
    r.push_back(make_request("OPTIONS /index.html", "OPTIONS", "/index.html", host, {}, port));
    r.push_back(make_request("DELETE /index.html", "DELETE", "/index.html", host, {}, port));
    r.push_back(make_request("GET /with%20space.txt", "GET", "/with%20space.txt", host, {}, port));
    r.push_back(make_request("GET /caf%C3%A9.txt", "GET", "/caf%C3%A9.txt", host, {}, port));
    r.push_back(make_request("GET /index.html Host uppercase with port", "GET", "/index.html",
                             upper(host) + ":" + std::to_string(port), {}, port));
    r.push_back(make_request("HEAD /about.html gzip", "HEAD", "/about.html", host, gz, port));
    r.push_back(make_request("GET /index.html IMS + INM other", "GET", "/index.html", host,
                             ims + "If-None-Match: \"other\"\r\n", port));
    r.push_back(make_request("GET /docs/page.html/ (file with slash)", "GET", "/docs/page.html/",
                             host, {}, port));
    r.push_back(make_request("GET //docs///page.html (slashes)", "GET", "//docs///page.html", host,
                             {}, port));
    return r;
}

}  // namespace halo_test
