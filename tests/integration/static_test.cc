// Static files through the real binary: files of the temporary prefix served with sendfile on
// and off (a 5 MiB file compared byte for byte), conditional requests (304), ranges (206/416),
// HEAD, 301/403/404/405, a file the worker user cannot read (403), "../" and the shipped
// conf/halo.conf with the shipped html/ (welcome page, conf/mime.types).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "support/harness.h"

namespace halo_test {
namespace {

constexpr std::string_view kConf = R"(
daemon off;
worker_processes 1;
error_log logs/error.log info;

events {
    worker_connections 128;
}

http {
    access_log off;

    server {
        listen 127.0.0.1:%%PORT_0%%;
        sendfile on;
        location /files/ {
            alias %%PREFIX%%/data/;
        }
        location /fallback/ {
            try_files $uri /html-index.txt;
        }
        location /named/ {
            try_files $uri $uri/ @missing;
        }
        location @missing {
            return 200 "named fallback\n";
        }
    }

    server {
        listen 127.0.0.1:%%PORT_1%%;
        sendfile off;
        etag off;
    }
}
)";

std::string http_date(time_t t) {
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[64];
    strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return buf;
}

constexpr time_t kMtime = 1700000000;  // "6553f100" in the ETag

class StaticTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        if (!halo_has_module("http_static") || !halo_has_module("http_rewrite")) {
            return;
        }
        halo_ = new Halo();
        big_ = new std::string(pattern_bytes(5 * 1024 * 1024 + 4321));
        put("html/index.html", "<h1>index</h1>\n");
        put("html/hello.txt", "hello, world\n");
        put("html/digits.txt", "0123456789");
        put("html/page.css", "body{}");
        put("html/big.bin", *big_);
        put("html/dir/index.html", "dir index\n");
        put("html/noindex/file.txt", "x");
        put("html/secret.txt", "secret\n");
        put("html/html-index.txt", "fallback file\n");
        put("html/named/real.txt", "real\n");
        put("data/aliased.txt", "from data\n");
        put("outside.txt", "outside the root\n");
        put("elsewhere/leak.private", "leaked\n");
        ::chmod(halo_->path("html/secret.txt").c_str(), 0);
        halo_->write_conf(kConf);
        start_ok_ = halo_->start();
        if (start_ok_) {
            auto w = halo_->wait_workers(1);
            worker_ = w.empty() ? -1 : w[0];
        }
    }

    static void TearDownTestSuite() {
        delete halo_;
        halo_ = nullptr;
        delete big_;
        big_ = nullptr;
    }

    /// Writes a file of the prefix, readable by everyone (workers run as nobody), with a fixed
    /// mtime; creates the folders (0755).
    static void put(const std::string& rel, const std::string& data) {
        std::string p = halo_->path(rel);
        for (size_t slash = p.find('/', halo_->prefix().size() + 1); slash != std::string::npos;
             slash = p.find('/', slash + 1)) {
            ::mkdir(p.substr(0, slash).c_str(), 0755);
        }
        ASSERT_TRUE(write_file(p, data)) << p;
        ::chmod(p.c_str(), 0644);
        struct timespec ts[2] = {{kMtime, 0}, {kMtime, 0}};
        utimensat(AT_FDCWD, p.c_str(), ts, 0);
    }

    void SetUp() override {
        if (!halo_has_module("http_static") || !halo_has_module("http_rewrite")) {
            GTEST_SKIP() << "the http_static or http_rewrite module is not compiled in";
        }
        ASSERT_TRUE(start_ok_) << "halo did not start";
        ASSERT_GT(worker_, 0);
    }

    void TearDown() override {
        if (halo_ != nullptr && worker_ > 0 && !IsSkipped()) {
            EXPECT_EQ(halo_->workers(), std::vector<pid_t>{worker_}) << halo_->error_log();
        }
    }

    /// One request on a new connection; `head` for a HEAD request.
    static HttpResponse request(std::string_view method, std::string_view target,
                                std::string_view headers = {}, int port_index = 0) {
        HttpConnection c;
        if (!c.connect(halo_->port(port_index))) {
            ADD_FAILURE() << c.error();
            return {};
        }
        std::string req = std::string(method) + " " + std::string(target) +
                          " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" +
                          std::string(headers) + "\r\n";
        if (!c.send(req)) {
            ADD_FAILURE() << c.error();
            return {};
        }
        auto r = c.read_response(10s, method == "HEAD");
        if (!r) {
            ADD_FAILURE() << method << " " << target << ": " << c.error();
            return {};
        }
        return *r;
    }
    static HttpResponse get(std::string_view target, std::string_view headers = {},
                            int port_index = 0) {
        return request("GET", target, headers, port_index);
    }

    static inline Halo* halo_ = nullptr;
    static inline std::string* big_ = nullptr;
    static inline bool start_ok_ = false;
    static inline pid_t worker_ = -1;
};

TEST_F(StaticTest, ServesAFile) {
    HttpResponse r = get("/hello.txt");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "hello, world\n");
    EXPECT_EQ(r.header("content-type"), "text/plain");
    EXPECT_EQ(r.header("content-length"), "13");
    EXPECT_EQ(r.header("etag"), "\"6553f100-d\"");
    EXPECT_EQ(r.header("last-modified"), http_date(kMtime));
    EXPECT_EQ(r.header("accept-ranges"), "bytes");
    EXPECT_EQ(get("/page.css").header("content-type"), "text/css");
}

TEST_F(StaticTest, IndexFile) {
    HttpResponse r = get("/");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "<h1>index</h1>\n");
    EXPECT_EQ(r.header("content-type"), "text/html");
    EXPECT_EQ(get("/dir/").body, "dir index\n");
}

TEST_F(StaticTest, LargeFileWithSendfileOnAndOff) {
    for (int port : {0, 1}) {
        HttpResponse r = get("/big.bin", {}, port);
        EXPECT_EQ(r.status, 200) << "port " << port;
        EXPECT_EQ(r.header("content-length"), std::to_string(big_->size()));
        EXPECT_EQ(r.body.size(), big_->size()) << "port " << port;
        EXPECT_TRUE(r.body == *big_) << "port " << port << ": the bytes differ";
    }
}

TEST_F(StaticTest, LargeFileRangesWithSendfileOnAndOff) {
    const uint64_t first = 3 * 1024 * 1024 + 17;
    const uint64_t last = first + 1024 * 1024 + 99;
    for (int port : {0, 1}) {
        HttpResponse r = get(
            "/big.bin",
            "Range: bytes=" + std::to_string(first) + "-" + std::to_string(last) + "\r\n", port);
        EXPECT_EQ(r.status, 206) << "port " << port;
        EXPECT_EQ(r.header("content-range"), "bytes " + std::to_string(first) + "-" +
                                                 std::to_string(last) + "/" +
                                                 std::to_string(big_->size()));
        EXPECT_TRUE(r.body == big_->substr(first, last - first + 1)) << "port " << port;
        HttpResponse tail = get("/big.bin", "Range: bytes=-100\r\n", port);
        EXPECT_EQ(tail.status, 206);
        EXPECT_TRUE(tail.body == big_->substr(big_->size() - 100)) << "port " << port;
    }
}

TEST_F(StaticTest, LargeFilesOnOneKeepaliveConnection) {
    for (int port : {0, 1}) {
        HttpConnection c;
        ASSERT_TRUE(c.connect(halo_->port(port)));
        for (int i = 0; i < 3; i++) {
            ASSERT_TRUE(c.send(get_request("/big.bin", "localhost", true)));
            auto r = c.read_response(20s);
            ASSERT_TRUE(r) << c.error();
            EXPECT_EQ(r->status, 200);
            EXPECT_TRUE(r->body == *big_) << "port " << port << " request " << i;
        }
    }
}

TEST_F(StaticTest, HeadHasNoBody) {
    HttpConnection c;
    ASSERT_TRUE(c.connect(halo_->port(0)));
    ASSERT_TRUE(
        c.send("HEAD /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n"
               "GET /hello.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"));
    auto head = c.read_response(5s, true);
    ASSERT_TRUE(head) << c.error();
    EXPECT_EQ(head->status, 200);
    EXPECT_EQ(head->header("content-length"), std::to_string(big_->size()));
    char size_hex[32];
    snprintf(size_hex, sizeof(size_hex), "%zx", big_->size());
    EXPECT_EQ(head->header("etag"), "\"6553f100-" + std::string(size_hex) + "\"");
    // No body bytes came before the next response.
    auto next = c.read_response();
    ASSERT_TRUE(next) << c.error();
    EXPECT_EQ(next->status, 200);
    EXPECT_EQ(next->body, "hello, world\n");
}

TEST_F(StaticTest, ConditionalRequests) {
    HttpResponse inm = get("/hello.txt", "If-None-Match: \"6553f100-d\"\r\n");
    EXPECT_EQ(inm.status, 304);
    EXPECT_EQ(inm.body, "");
    EXPECT_EQ(get("/hello.txt", "If-None-Match: W/\"6553f100-d\"\r\n").status, 304);
    EXPECT_EQ(get("/hello.txt", "If-None-Match: \"x\", \"6553f100-d\"\r\n").status, 304);
    EXPECT_EQ(get("/hello.txt", "If-None-Match: *\r\n").status, 304);
    EXPECT_EQ(get("/hello.txt", "If-None-Match: \"other\"\r\n").status, 200);
    EXPECT_EQ(get("/hello.txt", "If-Modified-Since: " + http_date(kMtime) + "\r\n").status, 304);
    EXPECT_EQ(get("/hello.txt", "If-Modified-Since: " + http_date(kMtime + 1) + "\r\n").status,
              200);
}

TEST_F(StaticTest, NotModifiedKeepsTheConnectionUsable) {
    HttpConnection c;
    ASSERT_TRUE(c.connect(halo_->port(0)));
    ASSERT_TRUE(
        c.send("GET /hello.txt HTTP/1.1\r\nHost: localhost\r\n"
               "If-None-Match: \"6553f100-d\"\r\n\r\n"
               "GET /digits.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"));
    auto first = c.read_response();
    ASSERT_TRUE(first) << c.error();
    EXPECT_EQ(first->status, 304);
    auto second = c.read_response();
    ASSERT_TRUE(second) << c.error();
    EXPECT_EQ(second->status, 200);
    EXPECT_EQ(second->body, "0123456789");
}

TEST_F(StaticTest, EtagOff) {
    HttpResponse r = get("/hello.txt", {}, 1);
    EXPECT_EQ(r.status, 200);
    EXPECT_FALSE(r.has_header("etag"));
    EXPECT_EQ(r.header("last-modified"), http_date(kMtime));
    EXPECT_EQ(get("/hello.txt", "If-Modified-Since: " + http_date(kMtime) + "\r\n", 1).status, 304);
}

TEST_F(StaticTest, Ranges) {
    HttpResponse r = get("/digits.txt", "Range: bytes=1-3\r\n");
    EXPECT_EQ(r.status, 206);
    EXPECT_EQ(r.body, "123");
    EXPECT_EQ(r.header("content-range"), "bytes 1-3/10");
    EXPECT_EQ(r.header("content-length"), "3");
    EXPECT_EQ(get("/digits.txt", "Range: bytes=8-\r\n").body, "89");
    EXPECT_EQ(get("/digits.txt", "Range: bytes=-2\r\n").body, "89");
    // Several ranges: 206 multipart/byteranges, as nginx.
    HttpResponse multi = get("/digits.txt", "Range: bytes=0-1,5-6\r\n");
    EXPECT_EQ(multi.status, 206);
    std::string type = multi.header("content-type");
    ASSERT_EQ(type.rfind("multipart/byteranges; boundary=", 0), 0u) << type;
    std::string b = type.substr(type.find('=') + 1);
    EXPECT_EQ(multi.body, "\r\n--" + b +
                              "\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/10"
                              "\r\n\r\n01\r\n--" +
                              b +
                              "\r\nContent-Type: text/plain\r\nContent-Range: "
                              "bytes 5-6/10\r\n\r\n56\r\n--" +
                              b + "--\r\n");
    EXPECT_EQ(get("/digits.txt", "Range: bytes=0-1\r\nIf-Range: \"6553f100-a\"\r\n").status, 206);
    EXPECT_EQ(get("/digits.txt", "Range: bytes=0-1\r\nIf-Range: \"old\"\r\n").status, 200);
}

TEST_F(StaticTest, UnsatisfiableRange) {
    HttpResponse r = get("/digits.txt", "Range: bytes=10-\r\n");
    EXPECT_EQ(r.status, 416);
    EXPECT_EQ(r.header("content-range"), "bytes */10");
    EXPECT_EQ(r.body.find("0123456789"), std::string::npos);
}

TEST_F(StaticTest, DirectoryRedirect) {
    // Absolute, as nginx's absolute_redirect: the Host and the listening port in front.
    std::string base = "http://localhost:" + std::to_string(halo_->port(0));
    HttpResponse r = get("/dir");
    EXPECT_EQ(r.status, 301);
    EXPECT_EQ(r.header("location"), base + "/dir/");
    HttpResponse q = get("/dir?x=1");
    EXPECT_EQ(q.status, 301);
    EXPECT_EQ(q.header("location"), base + "/dir/?x=1");
}

TEST_F(StaticTest, DirectoryWithoutIndexIsForbidden) {
    EXPECT_EQ(get("/noindex/").status, 403);
    EXPECT_EQ(get("/noindex/file.txt").status, 200);
}

TEST_F(StaticTest, Missing) {
    HttpResponse r = get("/missing.txt");
    EXPECT_EQ(r.status, 404);
    EXPECT_NE(r.body.find("<title>404 Not Found</title>"), std::string::npos);
    EXPECT_EQ(get("/missing/").status, 404);
}

TEST_F(StaticTest, UnreadableFileIsForbidden) {
    // As root, workers run as nobody; otherwise as the owner: neither may read a mode 000 file.
    HttpResponse r = get("/secret.txt");
    EXPECT_EQ(r.status, 403);
    EXPECT_EQ(r.body.find("secret"), std::string::npos);
    EXPECT_NE(halo_->error_log().find("secret.txt\" failed (13: Permission denied)"),
              std::string::npos)
        << halo_->error_log();
}

TEST_F(StaticTest, OnlyGetAndHead) {
    for (const char* m : {"POST", "PUT", "DELETE"}) {
        HttpResponse r = request(m, "/hello.txt", "Content-Length: 0\r\n");
        EXPECT_EQ(r.status, 405) << m;
    }
}

TEST_F(StaticTest, CannotLeaveTheRoot) {
    for (const char* t : {"/../outside.txt", "/dir/../../outside.txt", "/%2e%2e/outside.txt",
                          "/a/../../etc/passwd"}) {
        HttpResponse r = get(t);
        EXPECT_EQ(r.status, 400) << t;
        EXPECT_EQ(r.body.find("outside the root"), std::string::npos) << t;
    }
    EXPECT_EQ(get("/dir/../hello.txt").body, "hello, world\n");
}

TEST_F(StaticTest, Alias) {
    HttpResponse r = get("/files/aliased.txt");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "from data\n");
    EXPECT_EQ(get("/files/hello.txt").status, 404);
}

TEST_F(StaticTest, RegexAliasIsRefused) {
    // `location ~ \.private$ { alias ...; }` maps URIs that are not under a prefix: without
    // captures it could only serve "/" + URI from the file system root, so -t refuses it.
    halo_->write("regex_alias.conf",
                 "http { server { listen 127.0.0.1:1; location ~ \\.private$ { alias "
                 "%%PREFIX%%/data/; } } }\n");
    RunResult r =
        halo_->run_raw({"-t", "-p", halo_->path("") + "/", "-c", halo_->path("regex_alias.conf")});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("\"alias\" directive in a regex location"), std::string::npos) << r.err;
    HttpResponse leak = get(halo_->path("elsewhere/leak.private"));
    EXPECT_EQ(leak.body.find("leaked"), std::string::npos) << leak.status << " " << leak.body;
}

TEST_F(StaticTest, TryFiles) {
    EXPECT_EQ(get("/fallback/none").body, "fallback file\n");
    EXPECT_EQ(get("/named/real.txt").body, "real\n");
    EXPECT_EQ(get("/named/virtual").body, "named fallback\n");
}

// ---- the shipped configuration ----

class ShippedConfTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_static") || !halo_has_module("http_log")) {
            GTEST_SKIP() << "the http_static or http_log module is not compiled in";
        }
    }

    /// Copies a file of the source tree into the prefix, readable by everyone.
    void copy(const std::string& from, const std::string& to) {
        auto text = read_file(halo_top() + "/" + from);
        ASSERT_TRUE(text) << "cannot read " << halo_top() << "/" << from;
        std::string p = halo_.path(to);
        ASSERT_TRUE(write_file(p, *text)) << p;
        ::chmod(p.c_str(), 0644);
    }

    Halo halo_;
};

TEST_F(ShippedConfTest, WelcomePageAndMimeTypes) {
    auto conf = read_file(halo_top() + "/conf/halo.conf");
    ASSERT_TRUE(conf) << "no conf/halo.conf under " << halo_top();
    size_t at = conf->find("127.0.0.1:8080");
    ASSERT_NE(at, std::string::npos) << *conf;
    conf->replace(at, 14, "127.0.0.1:%%PORT_0%%");
    ::mkdir(halo_.path("conf").c_str(), 0755);
    ::mkdir(halo_.path("html").c_str(), 0755);
    halo_.write_conf(*conf, "conf/halo.conf");
    copy("conf/mime.types", "conf/mime.types");
    copy("html/index.html", "html/index.html");
    copy("html/50x.html", "html/50x.html");
    for (const char* name : {"a.js", "a.json", "a.webp", "a.svg", "a.unknownext"}) {
        ASSERT_TRUE(write_file(halo_.path(std::string("html/") + name), "x"));
        ::chmod(halo_.path(std::string("html/") + name).c_str(), 0644);
    }

    RunResult t = halo_.run({"-t"});
    ASSERT_EQ(t.status, 0) << t;
    ASSERT_TRUE(halo_.start({"-g", "daemon off;"}));

    HttpResponse r = *http_get(halo_.port(0), "/");
    EXPECT_EQ(r.status, 200);
    EXPECT_NE(r.body.find("Welcome to halo!"), std::string::npos) << r.body;
    EXPECT_EQ(r.header("content-type"), "text/html");
    EXPECT_EQ(r.body, *read_file(halo_top() + "/html/index.html"));
    EXPECT_EQ(http_get(halo_.port(0), "/50x.html")->status, 200);

    // conf/mime.types, not the built-in table: "js" is text/javascript there.
    EXPECT_EQ(http_get(halo_.port(0), "/a.js")->header("content-type"), "text/javascript");
    EXPECT_EQ(http_get(halo_.port(0), "/a.json")->header("content-type"), "application/json");
    EXPECT_EQ(http_get(halo_.port(0), "/a.webp")->header("content-type"), "image/webp");
    EXPECT_EQ(http_get(halo_.port(0), "/a.svg")->header("content-type"), "image/svg+xml");
    EXPECT_EQ(http_get(halo_.port(0), "/a.unknownext")->header("content-type"),
              "application/octet-stream");
    EXPECT_EQ(http_get(halo_.port(0), "/nothing")->status, 404);

    // access_log logs/access.log main;
    EXPECT_TRUE(wait_until([&] {
        return log_lines_with(read_file(halo_.path("logs/access.log")).value_or(""),
                              "\"GET / HTTP/1.1\" 200 ")
                   .size() == 1;
    })) << read_file(halo_.path("logs/access.log")).value_or("<none>");
}

}  // namespace
}  // namespace halo_test
