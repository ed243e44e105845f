// The static module: its helpers (make_etag, etag_matches, extension_of), its
// directives (root, alias, index, try_files, types, sendfile, etag: accepts, rejects with the
// message, inheritance) and its responses, served in this process over a socketpair from files
// in a temporary prefix (200, index, 301/403/404/405, 304, 206/416, HEAD, try_files, types).
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <map>
#include <string>

#include "core/cycle.h"
#include "http/http.h"
#include "http/modules/static/static.h"
#include "support/test_modules.h"

namespace mod::http_static {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// ---- make_etag / etag_matches ----

TEST(StaticEtagTest, MtimeAndSizeInHex) {
    EXPECT_EQ(make_etag(1700000000, 5), "\"6553f100-5\"");
    EXPECT_EQ(make_etag(0, 0), "\"0-0\"");
    EXPECT_EQ(make_etag(255, 4096), "\"ff-1000\"");
    EXPECT_EQ(make_etag(1700000000, 5ull * 1024 * 1024 * 1024), "\"6553f100-140000000\"");
}

TEST(StaticEtagTest, Matches) {
    const std::string tag = "\"6553f100-5\"";
    EXPECT_TRUE(etag_matches("\"6553f100-5\"", tag));
    EXPECT_TRUE(etag_matches("  \"6553f100-5\"  ", tag));
    EXPECT_TRUE(etag_matches("W/\"6553f100-5\"", tag));  // weak comparison (RFC 9110 §8.8.3.2)
    EXPECT_TRUE(etag_matches("\"a\", \"6553f100-5\"", tag));
    EXPECT_TRUE(etag_matches("\"a\",W/\"6553f100-5\",\"b\"", tag));
    EXPECT_TRUE(etag_matches("*", tag));
    EXPECT_TRUE(etag_matches(" * ", tag));
}

TEST(StaticEtagTest, DoesNotMatch) {
    const std::string tag = "\"6553f100-5\"";
    EXPECT_FALSE(etag_matches("\"6553f100-6\"", tag));
    EXPECT_FALSE(etag_matches("6553f100-5", tag));      // unquoted
    EXPECT_FALSE(etag_matches("\"6553F100-5\"", tag));  // case-sensitive opaque tag
    EXPECT_FALSE(etag_matches("\"a\", \"b\"", tag));
    EXPECT_FALSE(etag_matches("", tag));
    EXPECT_FALSE(etag_matches(",", tag));
    EXPECT_FALSE(etag_matches("w/\"6553f100-5\"", tag));  // "W/" is case-sensitive
}

// ---- extension_of ----

TEST(StaticExtensionTest, LastSegmentLowercased) {
    EXPECT_EQ(extension_of("/a/b.html"), "html");
    EXPECT_EQ(extension_of("/a/b.HTML"), "html");
    EXPECT_EQ(extension_of("/a/b.tar.gz"), "gz");
    EXPECT_EQ(extension_of("b.Css"), "css");
    EXPECT_EQ(extension_of("/a.d/b"), "");  // a dot in a folder name is no extension
    EXPECT_EQ(extension_of("/a/b"), "");
    EXPECT_EQ(extension_of("/a/b."), "");
    EXPECT_EQ(extension_of("/"), "");
    EXPECT_EQ(extension_of(""), "");
}

// ---- config and responses ----

constexpr time_t kMtime = 1700000000;  // Tue, 14 Nov 2023 22:13:20 GMT
constexpr std::string_view kMtimeText = "Tue, 14 Nov 2023 22:13:20 GMT";

/// One parsed response of a raw exchange.
struct Response {
    int status = 0;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
    std::string raw;

    bool has(const std::string& name) const { return headers.count(name) > 0; }
    std::string header(const std::string& name) const {
        auto it = headers.find(name);
        return it == headers.end() ? std::string() : it->second;
    }
};

Response parse_response(const std::string& raw) {
    Response r;
    r.raw = raw;
    size_t end = raw.find("\r\n\r\n");
    if (raw.rfind("HTTP/1.1 ", 0) != 0 || end == std::string::npos) {
        return r;
    }
    r.status = std::stoi(raw.substr(9, 3));
    size_t pos = raw.find("\r\n") + 2;
    while (pos < end) {
        size_t eol = raw.find("\r\n", pos);
        std::string line = raw.substr(pos, eol - pos);
        size_t colon = line.find(':');
        std::string name = line.substr(0, colon);
        for (char& c : name) {
            c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
        }
        size_t v = colon + 1;
        while (v < line.size() && line[v] == ' ') {
            v++;
        }
        r.headers[name] = line.substr(v);
        pos = eol + 2;
    }
    r.body = raw.substr(end + 4);
    return r;
}

std::string pattern_bytes(size_t n) {
    std::string s(n, '\0');
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245 + 12345;
        s[i] = static_cast<char>(x >> 16);
    }
    return s;
}

class HttpStaticTest : public ::testing::Test {
  protected:
    HttpStaticTest() : registry_(core::compiled_modules()) {}

    core::Status load(std::string_view conf) {
        cycle_.reset();
        return support::load_cycle(registry_, dir_, conf, cycle_, nullptr, {}, true);
    }
    /// `directives` at server level of `http { server { ... } }`.
    core::Status load_server(std::string_view directives) {
        return load("http {\n server {\n  listen 127.0.0.1:8080;\n  " + std::string(directives) +
                    "\n }\n}\n");
    }
    void serve(std::string_view directives) {
        core::Status s = load_server(directives);
        ASSERT_TRUE(s.is_ok()) << s.message();
    }
    std::string error(std::string_view conf) {
        core::Status s = load(conf);
        EXPECT_FALSE(s.is_ok()) << "loaded: " << conf;
        return s.message();
    }
    std::string server_error(std::string_view directives) {
        core::Status s = load_server(directives);
        EXPECT_FALSE(s.is_ok()) << "loaded: " << directives;
        return s.message();
    }
    std::string at(int line) const {
        return " in " + dir_.file("halo.conf") + ":" + std::to_string(line);
    }

    /// Writes html/<name> with a fixed mtime; returns its path.
    std::string file(std::string_view name, std::string_view text, time_t mtime = kMtime) {
        std::string p = dir_.write("html/" + std::string(name), text);
        struct timespec ts[2] = {{mtime, 0}, {mtime, 0}};
        utimensat(AT_FDCWD, p.c_str(), ts, 0);
        return p;
    }
    void mkdir_html(std::string_view name) {
        std::filesystem::create_directories(dir_.file("html/" + std::string(name)));
    }

    Response request(std::string_view method, std::string_view target,
                     std::string_view headers = {}) {
        std::string req = std::string(method) + " " + std::string(target) +
                          " HTTP/1.1\r\nHost: a\r\nConnection: close\r\n" + std::string(headers) +
                          "\r\n";
        return parse_response(cycle_ ? support::http_exchange(*cycle_, req) : "<no cycle>");
    }
    Response get(std::string_view target, std::string_view headers = {}) {
        return request("GET", target, headers);
    }

    support::TempDir dir_;
    core::ModuleRegistry registry_;
    std::unique_ptr<core::Cycle> cycle_;
};

// ---- config: accepted forms ----

TEST_F(HttpStaticTest, AcceptsEveryDirective) {
    core::Status s = load(
        "http {\n"
        " root html; index index.html index.htm; sendfile on; etag off;\n"
        " types { text/html html; image/png png PNG; }\n"
        " server { listen 127.0.0.1:8080; root /srv; try_files $uri $uri/ =404;\n"
        "  location /a/ { alias /srv/a/; index a.html; try_files $uri @fallback; }\n"
        "  location @fallback { root /other; }\n"
        " }\n"
        "}\n");
    EXPECT_TRUE(s.is_ok()) << s.message();
}

// ---- config: rejections ----

TEST_F(HttpStaticTest, RejectsDuplicateRoot) {
    EXPECT_EQ(server_error("root /a;\n root /b;"), "\"root\" directive is duplicate" + at(5));
}

TEST_F(HttpStaticTest, RejectsRootAndAliasTogether) {
    EXPECT_EQ(server_error("location /x/ { alias /a/;\n root /b; }"),
              "\"root\" directive is duplicate, \"alias\" directive was specified earlier" + at(5));
    EXPECT_EQ(server_error("location /x/ { root /b;\n alias /a/; }"),
              "\"alias\" directive is duplicate, \"root\" directive was specified earlier" + at(5));
    EXPECT_EQ(server_error("location /x/ { alias /b/;\n alias /a/; }"),
              "\"alias\" directive is duplicate" + at(5));
}

TEST_F(HttpStaticTest, RejectsAliasOutsideLocations) {
    EXPECT_EQ(server_error("alias /a/;"), "\"alias\" directive is not allowed here" + at(4));
    EXPECT_EQ(error("http {\n alias /a/; }"), "\"alias\" directive is not allowed here" + at(2));
}

TEST_F(HttpStaticTest, RootWithVariablesIsEvaluatedPerRequest) {
    dir_.write("vhosts/a/x.txt", "site a");
    dir_.write("vhosts/b/x.txt", "site b");
    serve("root " + dir_.file("vhosts") + "/$arg_site;");
    EXPECT_EQ(get("/x.txt?site=a").body, "site a");
    EXPECT_EQ(get("/x.txt?site=b").body, "site b");
    EXPECT_EQ(get("/x.txt?site=c").status, 404);
    // A relative result is taken from the prefix, as a literal root is.
    dir_.write("rel/x.txt", "relative");
    serve("root $arg_d;");
    EXPECT_EQ(get("/x.txt?d=rel").body, "relative");
    EXPECT_THAT(server_error("root /srv/$nosuchvar;"), HasSubstr("nosuchvar"));
}

TEST_F(HttpStaticTest, RejectsBadIndex) {
    // nginx's messages (an absolute name is accepted: a redirect without a test).
    EXPECT_EQ(server_error("index \"\";"), "index \"\" in \"index\" directive is invalid" + at(4));
    EXPECT_EQ(server_error("index a.$nosuch;"), "unknown \"nosuch\" variable" + at(4));
    EXPECT_EQ(server_error("index a.html;\n index b.html;"),
              "\"index\" directive is duplicate" + at(5));
    EXPECT_EQ(server_error("index;"), "invalid number of arguments in \"index\" directive" + at(4));
}

TEST_F(HttpStaticTest, RejectsBadTryFiles) {
    EXPECT_EQ(server_error("try_files $uri;"),
              "invalid number of arguments in \"try_files\" directive" + at(4));
    EXPECT_EQ(server_error("try_files $uri =abc;"), "invalid code \"=abc\"" + at(4));
    EXPECT_EQ(server_error("try_files $uri =99;"), "invalid code \"=99\"" + at(4));
    EXPECT_EQ(server_error("try_files $uri =1000;"), "invalid code \"=1000\"" + at(4));
    EXPECT_EQ(server_error("try_files $uri =404;\n try_files $uri =403;"),
              "\"try_files\" directive is duplicate" + at(5));
    EXPECT_EQ(error("http {\n try_files $uri =404; }"),
              "\"try_files\" directive is not allowed here" + at(2));
    EXPECT_EQ(server_error("try_files $nosuch =404;"), "unknown \"nosuch\" variable" + at(4));
}

TEST_F(HttpStaticTest, AcceptsIndexFormsAsNginx) {
    EXPECT_TRUE(load_server("index /abs.html;").is_ok());
    EXPECT_TRUE(load_server("index /abs.html a.html;").is_ok());  // nginx 1.22 takes it too
    EXPECT_TRUE(load_server("set $l en; index index.$l.html;").is_ok());
}

TEST_F(HttpStaticTest, RejectsBadDisableSymlinksAsNginx) {
    // The messages of nginx 1.22 (nginx -t) for the same lines.
    EXPECT_EQ(server_error("disable_symlinks off from=$document_root;"),
              "\"from=\" cannot be used with \"off\" parameter" + at(4));
    EXPECT_EQ(server_error("disable_symlinks foo;"), "invalid parameter \"foo\"" + at(4));
    EXPECT_EQ(server_error("disable_symlinks on on;"), "duplicate parameters \"on on\"" + at(4));
    EXPECT_EQ(
        server_error("disable_symlinks from=/x;"),
        "\"disable_symlinks\" must have \"off\", \"on\" or \"if_not_owner\" parameter" + at(4));
    EXPECT_EQ(server_error("disable_symlinks on from=/x from=/y;"),
              "invalid number of arguments in \"disable_symlinks\" directive" + at(4));
    EXPECT_EQ(server_error("disable_symlinks on;\n disable_symlinks off;"),
              "\"disable_symlinks\" directive is duplicate" + at(5));
    EXPECT_TRUE(load_server("disable_symlinks if_not_owner from=$document_root;").is_ok());
    EXPECT_TRUE(load_server("disable_symlinks on from=;").is_ok());
}

TEST_F(HttpStaticTest, RejectsBadTypes) {
    EXPECT_EQ(server_error("types {\n text/html; }"), "invalid types line \"text/html\"" + at(5));
    EXPECT_EQ(server_error("types {\n text/html { } }"),
              "invalid types line \"text/html\"" + at(5));
    EXPECT_EQ(server_error("types { }\n types { }"), "\"types\" directive is duplicate" + at(5));
    EXPECT_EQ(server_error("types text/html html;"),
              "directive \"types\" has no opening \"{\"" + at(4));
}

TEST_F(HttpStaticTest, RejectsBadFlags) {
    EXPECT_EQ(
        server_error("sendfile maybe;"),
        "invalid value \"maybe\" in \"sendfile\" directive, it must be \"on\" or \"off\"" + at(4));
    EXPECT_EQ(server_error("etag 1;"),
              "invalid value \"1\" in \"etag\" directive, it must be \"on\" or \"off\"" + at(4));
}

// ---- responses ----

TEST_F(HttpStaticTest, ServesAFileWithItsValidators) {
    file("hello.html", "hello");
    serve("");
    Response r = get("/hello.html");
    EXPECT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.body, "hello");
    EXPECT_EQ(r.header("content-type"), "text/html");
    EXPECT_EQ(r.header("content-length"), "5");
    EXPECT_EQ(r.header("last-modified"), kMtimeText);
    EXPECT_EQ(r.header("etag"), "\"6553f100-5\"");
    EXPECT_EQ(r.header("accept-ranges"), "bytes");
}

TEST_F(HttpStaticTest, DefaultRootIsPrefixHtml) {
    file("x.txt", "from the prefix");
    serve("location / { }");
    EXPECT_EQ(get("/x.txt").body, "from the prefix");
}

TEST_F(HttpStaticTest, RootRelativeToThePrefix) {
    dir_.write("other/x.txt", "other");
    serve("root other/;");
    EXPECT_EQ(get("/x.txt").body, "other");
}

TEST_F(HttpStaticTest, RootInALocationKeepsTheWholeUri) {
    dir_.write("srv/img/a.png", "png");
    serve("location /img/ { root " + dir_.file("srv") + "; }");
    Response r = get("/img/a.png");
    EXPECT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.body, "png");
    EXPECT_EQ(r.header("content-type"), "image/png");
}

TEST_F(HttpStaticTest, AliasReplacesTheLocationPrefix) {
    dir_.write("files/a.txt", "aliased");
    serve("location /static/ { alias " + dir_.file("files") + "/; }");
    Response r = get("/static/a.txt");
    EXPECT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.body, "aliased");
    EXPECT_EQ(get("/static/missing.txt").status, 404);
}

TEST_F(HttpStaticTest, NestedLocationInheritsTheAliasOfItsParent) {
    // nginx keeps the length of the location that declared the alias (clcf->alias): a nested
    // location maps /static/img/a.png to <alias>img/a.png.
    dir_.write("s/img/a.png", "nested png");
    serve("location /static/ { alias " + dir_.file("s") + "/;\n  location /static/img/ { } }");
    Response r = get("/static/img/a.png");
    EXPECT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.body, "nested png");
}

TEST_F(HttpStaticTest, AliasInARegexLocationWithoutCapturesIsRefused) {
    // The location name is a regex, not a prefix of the URI: without captures the alias could
    // only fall back to "" + URI (any file of the file system), so the config is refused.
    EXPECT_EQ(
        server_error("location ~ \\.secret$ {\n alias /data/; }"),
        "the \"alias\" directive in a regex location must refer to its captures ($1...)" + at(5));
}

TEST_F(HttpStaticTest, AliasInARegexLocationNamesTheFileWithCaptures) {
    dir_.write("pics/cat.png", "a cat");
    serve("location ~ ^/u/([a-z]+)/img/(.+\\.png)$ {\n alias " + dir_.file("pics") + "/$2; }");
    Response r = get("/u/bob/img/cat.png");
    EXPECT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.body, "a cat");
    EXPECT_THAT(r.raw, HasSubstr("Content-Type: image/png"));
    EXPECT_EQ(get("/u/bob/img/dog.png").status, 404);
    // Dot segments are resolved before matching: a capture never climbs out.
    EXPECT_EQ(get("/u/bob/img/../../../etc/passwd.png").status, 404);
}

TEST_F(HttpStaticTest, AliasWithVariablesInAPrefixLocationKeepsTheUriTail) {
    dir_.write("v1/doc/a.txt", "version 1");
    serve("location /docs/ { alias " + dir_.file("") + "$arg_v/doc/; }");
    EXPECT_EQ(get("/docs/a.txt?v=v1").body, "version 1");
    EXPECT_EQ(get("/docs/a.txt?v=v2").status, 404);
}

TEST_F(HttpStaticTest, RejectsAliasInANamedLocation) {
    // nginx: "the "alias" directive cannot be used inside the named location".
    EXPECT_EQ(server_error("location @n {\n alias /a/; }"),
              "the \"alias\" directive cannot be used inside the named location" + at(5));
}

TEST_F(HttpStaticTest, RootIsInheritedByLocations) {
    dir_.write("srv/a/b.txt", "inherited");
    serve("root " + dir_.file("srv") + ";\n location /a/ { }");
    EXPECT_EQ(get("/a/b.txt").body, "inherited");
}

TEST_F(HttpStaticTest, IndexByInternalRedirect) {
    file("index.html", "the index");
    file("sub/index.html", "sub index");
    serve("location / { }");
    Response r = get("/");
    EXPECT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.body, "the index");
    EXPECT_EQ(r.header("content-type"), "text/html");
    EXPECT_EQ(get("/sub/").body, "sub index");
}

TEST_F(HttpStaticTest, IndexRedirectRunsLocationMatchingAgain) {
    file("index.html", "the index");
    serve("location = / { }\n location = /index.html { return 200 \"matched again\"; }");
    EXPECT_EQ(get("/").body, "matched again");
}

TEST_F(HttpStaticTest, IndexFilesAreTriedInOrder) {
    file("second.htm", "second");
    file("third.html", "third");
    serve("index first.html second.htm third.html;");
    EXPECT_EQ(get("/").body, "second");
}

TEST_F(HttpStaticTest, DirectoryWithoutSlashRedirects) {
    mkdir_html("dir");
    serve("");
    Response r = get("/dir");
    EXPECT_EQ(r.status, 301) << r.raw;
    // Absolute, as nginx's absolute_redirect: scheme and Host in front.
    EXPECT_EQ(r.header("location"), "http://a:8080/dir/");
    Response q = get("/dir?a=1&b=2");
    EXPECT_EQ(q.status, 301);
    EXPECT_EQ(q.header("location"), "http://a:8080/dir/?a=1&b=2");
}

TEST_F(HttpStaticTest, RedirectLocationIsEscaped) {
    // The URI is decoded ("/my%20dir" is "/my dir"); a Location header must be a URI again.
    mkdir_html("my dir");
    serve("");
    Response r = get("/my%20dir");
    EXPECT_EQ(r.status, 301) << r.raw;
    EXPECT_EQ(r.header("location"), "http://a:8080/my%20dir/");
}

TEST_F(HttpStaticTest, DirectoryWithoutIndexIsForbidden) {
    mkdir_html("empty");
    serve("");
    Response r = get("/empty/");
    EXPECT_EQ(r.status, 403) << r.raw;
    EXPECT_THAT(r.body, HasSubstr("<title>403 Forbidden</title>"));
}

TEST_F(HttpStaticTest, MissingIs404) {
    mkdir_html("");
    serve("");
    EXPECT_EQ(get("/nothing.html").status, 404);
    EXPECT_EQ(get("/nothing/").status, 404);
    EXPECT_EQ(get("/nothing/deeper.txt").status, 404);
}

TEST_F(HttpStaticTest, FileAsAFolderIs404) {
    file("plain.txt", "x");
    serve("");
    EXPECT_EQ(get("/plain.txt/more").status, 404);  // ENOTDIR
}

TEST_F(HttpStaticTest, OtherMethodsAre405) {
    file("a.txt", "x");
    serve("");
    for (const char* m : {"POST", "PUT", "DELETE", "OPTIONS", "PATCH"}) {
        Response r = request(m, "/a.txt", "Content-Length: 0\r\n");
        EXPECT_EQ(r.status, 405) << m << "\n" << r.raw;
        EXPECT_THAT(r.body, HasSubstr("<title>405 Not Allowed</title>")) << m;
    }
}

TEST_F(HttpStaticTest, HeadHasTheHeadersWithoutTheBody) {
    file("a.txt", "0123456789");
    serve("");
    Response r = request("HEAD", "/a.txt");
    EXPECT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.header("content-length"), "10");
    EXPECT_EQ(r.header("content-type"), "text/plain");
    EXPECT_EQ(r.header("etag"), "\"6553f100-a\"");
    EXPECT_EQ(r.header("last-modified"), kMtimeText);
    EXPECT_EQ(r.body, "");
}

TEST_F(HttpStaticTest, EmptyFile) {
    file("empty.txt", "");
    serve("");
    Response r = get("/empty.txt");
    EXPECT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.header("content-length"), "0");
    EXPECT_EQ(r.body, "");
}

TEST_F(HttpStaticTest, PercentEncodedNames) {
    file("sp ace.txt", "spaced");
    serve("");
    EXPECT_EQ(get("/sp%20ace.txt").body, "spaced");
}

TEST_F(HttpStaticTest, DotSegmentsAreResolvedInsideTheRoot) {
    file("index.html", "the index");
    file("a/b.txt", "b");
    serve("");
    EXPECT_EQ(get("/a/../index.html").body, "the index");
    EXPECT_EQ(get("/a/./b.txt").body, "b");
    EXPECT_EQ(get("//a//b.txt").body, "b");
}

TEST_F(HttpStaticTest, CannotEscapeTheRoot) {
    dir_.write("secret.txt", "secret");
    file("a/b.txt", "b");
    serve("");
    for (const char* t : {"/../secret.txt", "/a/../../secret.txt", "/%2e%2e/secret.txt",
                          "/a/%2E%2E/%2e%2e/secret.txt", "/a/..%2f..%2fsecret.txt"}) {
        Response r = get(t);
        EXPECT_EQ(r.status, 400) << t << "\n" << r.raw;
        EXPECT_THAT(r.body, Not(HasSubstr("secret"))) << t;
    }
}

// ---- conditional requests ----

TEST_F(HttpStaticTest, IfNoneMatchGives304) {
    file("a.txt", "hello");
    serve("");
    for (const char* inm : {"\"6553f100-5\"", "W/\"6553f100-5\"", "\"x\", \"6553f100-5\"", "*"}) {
        Response r = get("/a.txt", "If-None-Match: " + std::string(inm) + "\r\n");
        EXPECT_EQ(r.status, 304) << inm << "\n" << r.raw;
        EXPECT_EQ(r.body, "") << inm;
        EXPECT_EQ(r.header("etag"), "\"6553f100-5\"") << inm;
        EXPECT_EQ(r.header("last-modified"), kMtimeText) << inm;
    }
}

TEST_F(HttpStaticTest, IfNoneMatchMismatchGives200) {
    file("a.txt", "hello");
    serve("");
    Response r = get("/a.txt", "If-None-Match: \"6553f100-6\"\r\n");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "hello");
}

TEST_F(HttpStaticTest, IfNoneMatchWinsOverIfModifiedSince) {
    file("a.txt", "hello");
    serve("");
    Response r =
        get("/a.txt",
            "If-None-Match: \"nope\"\r\nIf-Modified-Since: " + std::string(kMtimeText) + "\r\n");
    EXPECT_EQ(r.status, 200) << r.raw;
}

TEST_F(HttpStaticTest, NotModifiedDoesNotClaimAnEmptyBody) {
    // RFC 9110 §8.6: a 304 may carry Content-Length only with the length a 200 would have.
    file("a.txt", "hello");
    serve("");
    Response r = get("/a.txt", "If-None-Match: \"6553f100-5\"\r\n");
    ASSERT_EQ(r.status, 304) << r.raw;
    if (r.has("content-length")) {
        EXPECT_EQ(r.header("content-length"), "5") << r.raw;
    }
}

TEST_F(HttpStaticTest, IfModifiedSinceExactGives304) {
    file("a.txt", "hello");
    serve("");
    Response r = get("/a.txt", "If-Modified-Since: " + std::string(kMtimeText) + "\r\n");
    EXPECT_EQ(r.status, 304) << r.raw;
    EXPECT_EQ(r.body, "");
    // Only the exact date counts (nginx's default "if_modified_since exact").
    EXPECT_EQ(get("/a.txt", "If-Modified-Since: Tue, 14 Nov 2023 22:13:21 GMT\r\n").status, 200);
    EXPECT_EQ(get("/a.txt", "If-Modified-Since: Tue, 14 Nov 2023 22:13:19 GMT\r\n").status, 200);
    EXPECT_EQ(get("/a.txt", "If-Modified-Since: yesterday\r\n").status, 200);
}

TEST_F(HttpStaticTest, IfModifiedSinceObsoleteDateForms) {
    file("a.txt", "hello");
    serve("");
    // RFC 9110 §5.6.7: recipients accept the RFC 850 and asctime forms too.
    EXPECT_EQ(get("/a.txt", "If-Modified-Since: Tuesday, 14-Nov-23 22:13:20 GMT\r\n").status, 304);
    EXPECT_EQ(get("/a.txt", "If-Modified-Since: Tue Nov 14 22:13:20 2023\r\n").status, 304);
}

TEST_F(HttpStaticTest, EtagOffSendsNoEtag) {
    file("a.txt", "hello");
    serve("etag off;");
    Response r = get("/a.txt");
    EXPECT_EQ(r.status, 200);
    EXPECT_FALSE(r.has("etag")) << r.raw;
    EXPECT_EQ(r.header("last-modified"), kMtimeText);
    EXPECT_EQ(get("/a.txt", "If-None-Match: \"6553f100-5\"\r\n").status, 200);
    EXPECT_EQ(get("/a.txt", "If-Modified-Since: " + std::string(kMtimeText) + "\r\n").status, 304);
}

TEST_F(HttpStaticTest, EtagOffStillIgnoresIfModifiedSinceWithIfNoneMatch) {
    // RFC 9110 §13.1.3: If-Modified-Since is ignored when If-None-Match is present; without an
    // ETag no tag can match (nginx answers 200 too).
    file("a.txt", "hello");
    serve("etag off;");
    Response r = get("/a.txt", "If-None-Match: \"6553f100-5\"\r\nIf-Modified-Since: " +
                                   std::string(kMtimeText) + "\r\n");
    EXPECT_EQ(r.status, 200) << r.raw;
}

TEST_F(HttpStaticTest, EtagOffIsInherited) {
    file("a/b.txt", "hello");
    ASSERT_TRUE(
        load("http { etag off; server { listen 127.0.0.1:8080; location /a/ { } } }").is_ok());
    EXPECT_FALSE(get("/a/b.txt").has("etag"));
}

TEST_F(HttpStaticTest, EtagChangesWithTheFile) {
    file("a.txt", "hello");
    serve("");
    std::string first = get("/a.txt").header("etag");
    file("a.txt", "hello world", kMtime + 16);
    std::string second = get("/a.txt").header("etag");
    EXPECT_EQ(first, "\"6553f100-5\"");
    EXPECT_EQ(second, "\"6553f110-b\"");
}

// ---- ranges ----

TEST_F(HttpStaticTest, SingleRangeGives206) {
    file("d.txt", "0123456789");
    serve("");
    Response r = get("/d.txt", "Range: bytes=2-5\r\n");
    EXPECT_EQ(r.status, 206) << r.raw;
    EXPECT_EQ(r.body, "2345");
    EXPECT_EQ(r.header("content-length"), "4");
    EXPECT_EQ(r.header("content-range"), "bytes 2-5/10");
    EXPECT_EQ(r.header("content-type"), "text/plain");
    EXPECT_EQ(r.header("etag"), "\"6553f100-a\"");
}

TEST_F(HttpStaticTest, OpenAndSuffixRanges) {
    file("d.txt", "0123456789");
    serve("");
    Response open = get("/d.txt", "Range: bytes=7-\r\n");
    EXPECT_EQ(open.status, 206);
    EXPECT_EQ(open.body, "789");
    EXPECT_EQ(open.header("content-range"), "bytes 7-9/10");
    Response suffix = get("/d.txt", "Range: bytes=-4\r\n");
    EXPECT_EQ(suffix.status, 206);
    EXPECT_EQ(suffix.body, "6789");
    EXPECT_EQ(suffix.header("content-range"), "bytes 6-9/10");
    Response clamped = get("/d.txt", "Range: bytes=8-100\r\n");
    EXPECT_EQ(clamped.status, 206);
    EXPECT_EQ(clamped.body, "89");
    EXPECT_EQ(clamped.header("content-range"), "bytes 8-9/10");
}

TEST_F(HttpStaticTest, UnsatisfiableRangeGives416) {
    file("d.txt", "0123456789");
    serve("");
    for (const char* range : {"bytes=10-", "bytes=100-200", "bytes=-0"}) {
        Response r = get("/d.txt", "Range: " + std::string(range) + "\r\n");
        EXPECT_EQ(r.status, 416) << range << "\n" << r.raw;
        EXPECT_EQ(r.header("content-range"), "bytes */10") << range;
        EXPECT_THAT(r.body, Not(HasSubstr("0123456789"))) << range;
    }
}

TEST_F(HttpStaticTest, MultipleRangesGiveMultipart) {
    // nginx: 206 multipart/byteranges, each part with its Content-Type and Content-Range.
    file("d.txt", "0123456789");
    serve("");
    Response r = get("/d.txt", "Range: bytes=0-1,4-5\r\n");
    EXPECT_EQ(r.status, 206) << r.raw;
    std::string type = r.header("content-type");
    ASSERT_THAT(type, StartsWith("multipart/byteranges; boundary=")) << r.raw;
    std::string boundary = type.substr(type.find('=') + 1);
    EXPECT_EQ(boundary.size(), 20u) << boundary;
    EXPECT_EQ(r.body, "\r\n--" + boundary +
                          "\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/10\r\n\r\n01"
                          "\r\n--" +
                          boundary +
                          "\r\nContent-Type: text/plain\r\nContent-Range: bytes 4-5/10\r\n\r\n45"
                          "\r\n--" +
                          boundary + "--\r\n");
    EXPECT_EQ(r.header("content-length"), std::to_string(r.body.size()));
    EXPECT_FALSE(r.has("accept-ranges"));
    // More ranges than max_ranges: the whole file, as nginx.
    serve("max_ranges 1;");
    Response whole = get("/d.txt", "Range: bytes=0-1,4-5\r\n");
    EXPECT_EQ(whole.status, 200);
    EXPECT_EQ(whole.body, "0123456789");
    EXPECT_EQ(whole.header("accept-ranges"), "bytes");
}

TEST_F(HttpStaticTest, MalformedRangeGives416AndUnknownUnitIsIgnored) {
    file("d.txt", "0123456789");
    serve("");
    for (const char* range : {"bytes=5-3", "bytes=x-y"}) {
        Response r = get("/d.txt", "Range: " + std::string(range) + "\r\n");
        EXPECT_EQ(r.status, 416) << range;
        EXPECT_FALSE(r.has("etag")) << range;
        EXPECT_FALSE(r.has("last-modified")) << range;
    }
    Response r = get("/d.txt", "Range: lines=1-2\r\n");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "0123456789");
}

TEST_F(HttpStaticTest, IfRange) {
    file("d.txt", "0123456789");
    serve("");
    EXPECT_EQ(get("/d.txt", "Range: bytes=0-1\r\nIf-Range: \"6553f100-a\"\r\n").status, 206);
    EXPECT_EQ(
        get("/d.txt", "Range: bytes=0-1\r\nIf-Range: " + std::string(kMtimeText) + "\r\n").status,
        206);
    // If-Range compares strongly (RFC 9110 §13.1.5): a weak tag never matches.
    EXPECT_EQ(get("/d.txt", "Range: bytes=0-1\r\nIf-Range: W/\"6553f100-a\"\r\n").status, 200);
    Response stale = get("/d.txt", "Range: bytes=0-1\r\nIf-Range: \"old\"\r\n");
    EXPECT_EQ(stale.status, 200);
    EXPECT_EQ(stale.body, "0123456789");
    EXPECT_EQ(
        get("/d.txt", "Range: bytes=0-1\r\nIf-Range: Mon, 13 Nov 2023 00:00:00 GMT\r\n").status,
        200);
}

TEST_F(HttpStaticTest, RangeWithSendfileOff) {
    file("d.txt", "0123456789");
    serve("sendfile off;");
    Response r = get("/d.txt", "Range: bytes=3-4\r\n");
    EXPECT_EQ(r.status, 206);
    EXPECT_EQ(r.body, "34");
}

// ---- sendfile ----

TEST_F(HttpStaticTest, LargeFileIdenticalWithSendfileOnAndOff) {
    const std::string data = pattern_bytes(2 * 1024 * 1024 + 12345);
    file("big.bin", data);
    for (const char* mode : {"on", "off"}) {
        serve("sendfile " + std::string(mode) + ";");
        Response r = get("/big.bin");
        EXPECT_EQ(r.status, 200) << mode;
        EXPECT_EQ(r.header("content-length"), std::to_string(data.size())) << mode;
        EXPECT_EQ(r.body.size(), data.size()) << mode;
        EXPECT_TRUE(r.body == data) << "sendfile " << mode << ": the bytes differ";
        Response part = get("/big.bin", "Range: bytes=1048576-1114111\r\n");
        EXPECT_EQ(part.status, 206) << mode;
        EXPECT_TRUE(part.body == data.substr(1048576, 65536)) << "sendfile " << mode;
    }
}

TEST_F(HttpStaticTest, KeepaliveAfterAFile) {
    file("a.txt", "first");
    file("b.txt", "second");
    serve("");
    ASSERT_TRUE(cycle_);
    std::string out = support::http_exchange(
        *cycle_,
        "GET /a.txt HTTP/1.1\r\nHost: a\r\n\r\nGET /b.txt HTTP/1.1\r\nHost: a\r\n"
        "Connection: close\r\n\r\n");
    size_t second = out.find("HTTP/1.1 200", 1);
    ASSERT_NE(second, std::string::npos) << out;
    EXPECT_THAT(out.substr(0, second), EndsWith("\r\n\r\nfirst"));
    EXPECT_THAT(out, EndsWith("\r\n\r\nsecond"));
}

// ---- try_files ----

TEST_F(HttpStaticTest, TryFilesFirstExistingFile) {
    file("b.txt", "b");
    serve("try_files /a.txt /b.txt =404;");
    Response r = get("/whatever");
    EXPECT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.body, "b");
    EXPECT_EQ(r.header("content-type"), "text/plain");
}

TEST_F(HttpStaticTest, TryFilesWithVariables) {
    file("page.html", "page");
    serve("try_files $uri $uri.html =404;");
    EXPECT_EQ(get("/page").body, "page");
    EXPECT_EQ(get("/page.html").body, "page");
    EXPECT_EQ(get("/none").status, 404);
}

TEST_F(HttpStaticTest, TryFilesCode) {
    serve("try_files $uri =418;");
    mkdir_html("");
    EXPECT_EQ(get("/none").status, 418);
}

TEST_F(HttpStaticTest, TryFilesDirectoryNeedsTheSlash) {
    file("dir/index.html", "dir index");
    // As nginx: "$uri/" finds the folder under the name without its slash, which the static
    // answer redirects (301) to the slash; with it, the index.
    serve("try_files $uri $uri/ =404;");
    Response r = get("/dir");
    EXPECT_EQ(r.status, 301) << r.raw;
    EXPECT_THAT(r.header("location"), EndsWith("/dir/"));
    EXPECT_EQ(get("/dir/").body, "dir index");
    // Without the trailing slash, a directory does not count as a file.
    serve("try_files $uri =404;");
    EXPECT_EQ(get("/dir").status, 404);
}

TEST_F(HttpStaticTest, TryFilesFallbackUri) {
    file("fallback.html", "fallback");
    serve("location / { try_files $uri /fallback.html; }");
    Response r = get("/missing?x=1");
    EXPECT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.body, "fallback");
}

TEST_F(HttpStaticTest, TryFilesFallbackUriGoesThroughLocations) {
    serve(
        "location / { try_files $uri /app?from=$uri; }\n"
        " location /app { return 200 \"app $args\"; }");
    mkdir_html("");
    EXPECT_EQ(get("/missing").body, "app from=/missing");
}

TEST_F(HttpStaticTest, TryFilesNamedLocation) {
    serve(
        "location / { try_files $uri @fallback; }\n"
        " location @fallback { return 200 \"named $uri\"; }");
    mkdir_html("");
    file("real.txt", "real");
    EXPECT_EQ(get("/real.txt").body, "real");
    EXPECT_EQ(get("/virtual").body, "named /virtual");
}

TEST_F(HttpStaticTest, TryFilesUnknownNamedLocationIs500) {
    serve("location / { try_files $uri @nowhere; }");
    mkdir_html("");
    EXPECT_EQ(get("/virtual").status, 500);
}

TEST_F(HttpStaticTest, TryFilesEndlessFallbackStops) {
    serve("location / { try_files $uri /loop; }");
    mkdir_html("");
    Response r = get("/x");
    EXPECT_TRUE(r.status == 500 || r.status == 404) << r.raw;
}

TEST_F(HttpStaticTest, TryFilesNotInheritedFromServer) {
    // nginx: a server's try_files applies where no location matched.
    file("b.txt", "b");
    serve("try_files /b.txt =404;\n location /l/ { }");
    EXPECT_EQ(get("/l/none").status, 404);
    EXPECT_EQ(get("/none").body, "b");
}

// ---- types ----

TEST_F(HttpStaticTest, BuiltinTypes) {
    for (const char* name : {"a.html", "a.htm", "a.css", "a.js", "a.txt", "a.png", "a.jpg",
                             "a.jpeg", "a.gif", "a.unknownext", "noext"}) {
        file(name, "x");
    }
    serve("");
    EXPECT_EQ(get("/a.html").header("content-type"), "text/html");
    EXPECT_EQ(get("/a.htm").header("content-type"), "text/html");
    EXPECT_EQ(get("/a.css").header("content-type"), "text/css");
    EXPECT_EQ(get("/a.js").header("content-type"), "application/javascript");
    EXPECT_EQ(get("/a.txt").header("content-type"), "text/plain");
    EXPECT_EQ(get("/a.png").header("content-type"), "image/png");
    EXPECT_EQ(get("/a.jpg").header("content-type"), "image/jpeg");
    EXPECT_EQ(get("/a.jpeg").header("content-type"), "image/jpeg");
    EXPECT_EQ(get("/a.gif").header("content-type"), "image/gif");
    // Unknown: default_type (text/plain when not set).
    EXPECT_EQ(get("/a.unknownext").header("content-type"), "text/plain");
    EXPECT_EQ(get("/noext").header("content-type"), "text/plain");
}

TEST_F(HttpStaticTest, ExtensionIsCaseInsensitive) {
    file("UP.HTML", "x");
    serve("");
    EXPECT_EQ(get("/UP.HTML").header("content-type"), "text/html");
}

TEST_F(HttpStaticTest, DefaultType) {
    file("a.weird", "x");
    serve("default_type application/octet-stream;");
    EXPECT_EQ(get("/a.weird").header("content-type"), "application/octet-stream");
}

TEST_F(HttpStaticTest, TypesBlockReplacesTheBuiltins) {
    file("a.foo", "x");
    file("a.html", "x");
    file("a.BAR", "x");
    serve("types { application/x-foo foo; text/x-bar BAR baz; }");
    EXPECT_EQ(get("/a.foo").header("content-type"), "application/x-foo");
    EXPECT_EQ(get("/a.BAR").header("content-type"), "text/x-bar");
    // As nginx: a types block replaces the whole table, html is unknown now.
    EXPECT_EQ(get("/a.html").header("content-type"), "text/plain");
}

TEST_F(HttpStaticTest, TypesAreInheritedAndOverridden) {
    file("a.foo", "x");
    file("in/a.foo", "x");
    ASSERT_TRUE(load("http { types { application/x-http foo; }\n"
                     " server { listen 127.0.0.1:8080;\n"
                     "  location /in/ { types { application/x-loc foo; } } } }")
                    .is_ok());
    EXPECT_EQ(get("/a.foo").header("content-type"), "application/x-http");
    EXPECT_EQ(get("/in/a.foo").header("content-type"), "application/x-loc");
}

TEST_F(HttpStaticTest, MimeTypesIncludedRelativeToTheConfigFolder) {
    // The config lives in <prefix>/conf/, as the shipped one: `include mime.types` is
    // conf/mime.types, not <prefix>/mime.types.
    dir_.write("conf/mime.types", "types {\n text/x-conf cnf;\n image/webp webp;\n}\n");
    dir_.write("mime.types", "types { text/x-wrong cnf; }\n");
    file("a.cnf", "x");
    file("a.webp", "x");
    std::string conf_path =
        dir_.write("conf/halo.conf",
                   "http { include mime.types; default_type application/octet-stream;\n"
                   " server { listen 127.0.0.1:8080; } }\n");
    core::CycleOptions o = support::cycle_options(dir_, {}, true);
    o.conf_file = conf_path;
    cycle_.reset();
    core::Status s = core::Cycle::create(o, registry_, nullptr, cycle_);
    ASSERT_TRUE(s.is_ok()) << s.message();
    EXPECT_EQ(get("/a.cnf").header("content-type"), "text/x-conf");
    EXPECT_EQ(get("/a.webp").header("content-type"), "image/webp");
}

}  // namespace
}  // namespace mod::http_static
