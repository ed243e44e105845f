// The gzip filter: which responses are compressed (client, status, type, length, proxying),
// the headers it changes, and round trips through zlib of memory bodies and of files large
// enough that the client's pace holds the compressor back. Served in this process over a
// socketpair.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <random>
#include <string>

#include "core/cycle.h"
#include "http/http.h"
#include "support/test_modules.h"

namespace mod::http_gzip {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Response {
    std::string head;
    std::string body;  // de-chunked
    bool ok = false;
};

Response split(const std::string& raw) {
    Response r;
    size_t end = raw.find("\r\n\r\n");
    if (end == std::string::npos) {
        return r;
    }
    r.head = raw.substr(0, end + 2);
    std::string rest = raw.substr(end + 4);
    if (r.head.find("Transfer-Encoding: chunked\r\n") == std::string::npos) {
        r.body = rest;
        r.ok = true;
        return r;
    }
    size_t pos = 0;
    for (;;) {
        size_t eol = rest.find("\r\n", pos);
        if (eol == std::string::npos) {
            return r;
        }
        size_t n = std::stoul(rest.substr(pos, eol - pos), nullptr, 16);
        if (n == 0) {
            r.ok = rest.substr(eol) == "\r\n\r\n";
            return r;
        }
        if (rest.size() < eol + 2 + n + 2 || rest.substr(eol + 2 + n, 2) != "\r\n") {
            return r;
        }
        r.body += rest.substr(eol + 2, n);
        pos = eol + 2 + n + 2;
    }
}

/// Inflates a gzip stream; "<bad gzip>" when it is not one whole, valid stream.
std::string gunzip(const std::string& in) {
    z_stream zs{};
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        return "<inflateInit2>";
    }
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    std::string out;
    int rc;
    do {
        char buf[65536];
        zs.next_out = reinterpret_cast<Bytef*>(buf);
        zs.avail_out = sizeof(buf);
        rc = inflate(&zs, Z_NO_FLUSH);
        out.append(buf, sizeof(buf) - zs.avail_out);
    } while (rc == Z_OK);
    bool whole = rc == Z_STREAM_END && zs.avail_in == 0;
    inflateEnd(&zs);
    return whole ? out : "<bad gzip>";
}

std::string text(size_t n) {
    std::string s;
    while (s.size() < n) {
        s += "the quick brown fox jumps over the lazy dog " + std::to_string(s.size()) + "\n";
    }
    s.resize(n);
    return s;
}

class GzipTest : public ::testing::Test {
  protected:
    GzipTest() : registry_(core::compiled_modules()) {}

    core::Status load(std::string_view conf) {
        cycle_.reset();
        return support::load_cycle(registry_, dir_, conf, cycle_, nullptr, {}, true);
    }
    /// `directives` at server level, with `location /` returning `body` as text/plain
    /// and `location /files/` serving dir/files.
    void serve(std::string_view directives, std::string_view location = "return 200 $arg_t;") {
        std::string conf =
            "http {\n server {\n  listen 127.0.0.1:8080;\n  " + std::string(directives) +
            "\n  location / {\n   default_type text/plain;\n   " + std::string(location) +
            "\n  }\n  location /files/ {\n   root " + dir_.path() + ";\n  }\n }\n}\n";
        core::Status st = load(conf);
        ASSERT_TRUE(st.is_ok()) << st.message();
    }
    Response get(std::string_view target, std::string_view headers = "Accept-Encoding: gzip\r\n",
                 std::string_view method = "GET", std::string_view version = "HTTP/1.1") {
        return split(support::http_exchange(
            *cycle_, std::string(method) + " " + std::string(target) + " " + std::string(version) +
                         "\r\nHost: a\r\n" + std::string(headers) + "Connection: close\r\n\r\n"));
    }
    std::string error(std::string_view directives) {
        core::Status s = load("http {\n server {\n  listen 127.0.0.1:8080;\n  " +
                              std::string(directives) + "\n }\n}\n");
        EXPECT_FALSE(s.is_ok()) << "loaded: " << directives;
        return s.message();
    }

    support::TempDir dir_;
    core::ModuleRegistry registry_;
    std::unique_ptr<core::Cycle> cycle_;
};

TEST_F(GzipTest, CompressesAnEligibleResponseAndRoundTrips) {
    serve("gzip on; gzip_types text/plain;");
    std::string body = text(5000);
    dir_.write("files/a.txt", body);
    Response r = get("/files/a.txt");
    ASSERT_TRUE(r.ok) << r.head;
    EXPECT_THAT(r.head, HasSubstr("\r\nContent-Encoding: gzip\r\n"));
    EXPECT_THAT(r.head, HasSubstr("\r\nTransfer-Encoding: chunked\r\n"));
    EXPECT_THAT(r.head, Not(HasSubstr("Content-Length")));
    EXPECT_THAT(r.head, Not(HasSubstr("Accept-Ranges")));
    EXPECT_THAT(r.head, HasSubstr("\r\nETag: W/\""));
    EXPECT_LT(r.body.size(), body.size() / 4);
    EXPECT_EQ(gunzip(r.body), body);
}

TEST_F(GzipTest, MemoryBodyRoundTrips) {
    serve("gzip on; gzip_types text/plain; gzip_min_length 1;");
    Response r = get("/?t=hello-hello-hello-hello");
    ASSERT_TRUE(r.ok) << r.head;
    EXPECT_THAT(r.head, HasSubstr("Content-Encoding: gzip"));
    EXPECT_EQ(gunzip(r.body), "hello-hello-hello-hello");
}

TEST_F(GzipTest, LargeIncompressibleFileIsPacedByTheClientAndComplete) {
    // Random bytes do not shrink: several MiB of output must wait for the reader.
    std::string body(3 << 20, '\0');
    std::mt19937 rng(7);
    for (char& c : body) {
        c = static_cast<char>(rng());
    }
    dir_.write("files/big.txt", body);
    serve("gzip on; gzip_types text/plain; gzip_comp_level 1;");
    Response r = get("/files/big.txt");
    ASSERT_TRUE(r.ok) << r.head;
    EXPECT_THAT(r.head, HasSubstr("Content-Encoding: gzip"));
    EXPECT_EQ(gunzip(r.body), body);
}

TEST_F(GzipTest, ClientsThatDoNotAcceptGzipGetTheBodyAsItIs) {
    dir_.write("files/a.txt", text(3000));
    serve("gzip on; gzip_types text/plain; gzip_vary on;");
    for (std::string_view h :
         {"", "Accept-Encoding: deflate, br\r\n", "Accept-Encoding: gzip;q=0\r\n",
          "Accept-Encoding: gzip; q=0.000\r\n", "Accept-Encoding: gzipx\r\n"}) {
        Response r = get("/files/a.txt", h);
        ASSERT_TRUE(r.ok);
        EXPECT_THAT(r.head, Not(HasSubstr("Content-Encoding"))) << h;
        EXPECT_THAT(r.head, HasSubstr("Content-Length: 3000")) << h;
        // Vary is sent for every compressible response, accepted or not (caches must know).
        EXPECT_THAT(r.head, HasSubstr("\r\nVary: Accept-Encoding\r\n")) << h;
    }
    for (std::string_view h :
         {"Accept-Encoding: gzip, deflate\r\n", "Accept-Encoding: br;q=1.0, gzip;q=0.5\r\n",
          "Accept-Encoding: x-gzip\r\n", "Accept-Encoding: GZIP\r\n"}) {
        Response r = get("/files/a.txt", h);
        EXPECT_THAT(r.head, HasSubstr("Content-Encoding: gzip")) << h;
        EXPECT_EQ(gunzip(r.body), text(3000)) << h;
    }
}

TEST_F(GzipTest, OnlyListedTypesLongEnoughResponsesAndSomeStatuses) {
    dir_.write("files/a.txt", text(3000));
    dir_.write("files/a.html", text(3000));
    dir_.write("files/small.html", "tiny");
    serve("gzip on;");
    EXPECT_THAT(get("/files/a.txt").head, Not(HasSubstr("Content-Encoding")));       // not listed
    EXPECT_THAT(get("/files/a.html").head, HasSubstr("Content-Encoding: gzip"));     // always
    EXPECT_THAT(get("/files/small.html").head, Not(HasSubstr("Content-Encoding")));  // < 20
    // 404 pages are compressed, 500 are not (nginx: 200, 403 and 404 only).
    serve("gzip on; gzip_types *; gzip_min_length 1;");
    EXPECT_THAT(get("/files/a.txt").head, HasSubstr("Content-Encoding: gzip"));
    EXPECT_THAT(get("/files/none.txt").head, HasSubstr("Content-Encoding: gzip"));
    serve("gzip on; gzip_types *; gzip_min_length 1;", "return 500 xxxxxxxxxxxxxxxxxx;");
    EXPECT_THAT(get("/").head, Not(HasSubstr("Content-Encoding")));
    serve("gzip on; gzip_types *; gzip_min_length 1;", "return 201 xxxxxxxxxxxxxxxxxx;");
    EXPECT_THAT(get("/").head, Not(HasSubstr("Content-Encoding")));
}

TEST_F(GzipTest, NeverCompressesTwiceHeadOrRanges) {
    dir_.write("files/a.txt", text(3000));
    serve("gzip on; gzip_types *; add_header Content-Encoding gzip;");
    Response r = get("/files/a.txt");
    EXPECT_THAT(r.head, HasSubstr("Content-Length: 3000"));
    EXPECT_EQ(r.body, text(3000));  // left alone: already encoded
    serve("gzip on; gzip_types *;");
    // As nginx: a HEAD gets the head of the compressed answer, and a Range request of a
    // client that takes gzip gets the whole compressed answer (gzip runs before ranges).
    r = get("/files/a.txt", "Accept-Encoding: gzip\r\n", "HEAD");
    EXPECT_THAT(r.head, HasSubstr("Content-Encoding: gzip"));
    EXPECT_THAT(r.head, Not(HasSubstr("Content-Length")));
    EXPECT_THAT(r.head, Not(HasSubstr("Transfer-Encoding")));
    r = get("/files/a.txt", "Accept-Encoding: gzip\r\nRange: bytes=0-9\r\n");
    EXPECT_THAT(r.head, HasSubstr("200 OK"));
    EXPECT_THAT(r.head, HasSubstr("Content-Encoding: gzip"));
    EXPECT_THAT(r.head, Not(HasSubstr("Accept-Ranges")));
    r = get("/files/a.txt", "Range: bytes=0-9\r\n");
    EXPECT_THAT(r.head, HasSubstr("206 Partial Content"));
    EXPECT_EQ(r.body, text(10));
}

TEST_F(GzipTest, HttpVersionAndProxiedRequests) {
    dir_.write("files/a.txt", text(3000));
    serve("gzip on; gzip_types *;");
    Response r = get("/files/a.txt", "Accept-Encoding: gzip\r\n", "GET", "HTTP/1.0");
    EXPECT_THAT(r.head, Not(HasSubstr("Content-Encoding")));  // gzip_http_version 1.1
    serve("gzip on; gzip_types *; gzip_http_version 1.0;");
    r = get("/files/a.txt", "Accept-Encoding: gzip\r\n", "GET", "HTTP/1.0");
    // HTTP/1.0 has no chunked coding: the end of the connection ends the body.
    EXPECT_THAT(r.head, HasSubstr("Content-Encoding: gzip"));
    EXPECT_THAT(r.head, Not(HasSubstr("Transfer-Encoding")));
    EXPECT_THAT(r.head, HasSubstr("Connection: close"));
    EXPECT_EQ(gunzip(r.body), text(3000));

    std::string via = "Accept-Encoding: gzip\r\nVia: 1.1 lb\r\n";
    EXPECT_THAT(get("/files/a.txt", via).head, Not(HasSubstr("Content-Encoding")));
    serve("gzip on; gzip_types *; gzip_proxied any;");
    EXPECT_THAT(get("/files/a.txt", via).head, HasSubstr("Content-Encoding: gzip"));
    serve("gzip on; gzip_types *; gzip_proxied expired no_etag;");
    EXPECT_THAT(get("/files/a.txt", via).head, Not(HasSubstr("Content-Encoding")));
    serve("gzip on; gzip_types *; gzip_proxied expired; add_header Expires 0;");
    EXPECT_THAT(get("/files/a.txt", via).head, HasSubstr("Content-Encoding: gzip"));
    serve("gzip on; gzip_types *; gzip_proxied auth;");
    EXPECT_THAT(get("/files/a.txt", via + "Authorization: Basic eA==\r\n").head,
                HasSubstr("Content-Encoding: gzip"));
    serve("gzip on; gzip_types *; gzip_disable \"curl/\";");
    EXPECT_THAT(get("/files/a.txt", "Accept-Encoding: gzip\r\nUser-Agent: curl/8.0\r\n").head,
                Not(HasSubstr("Content-Encoding")));
    EXPECT_THAT(get("/files/a.txt", "Accept-Encoding: gzip\r\nUser-Agent: wget\r\n").head,
                HasSubstr("Content-Encoding: gzip"));
}

TEST_F(GzipTest, LocationsInheritAndOverride) {
    dir_.write("files/a.txt", text(3000));
    core::Status st = load(
        "http {\n gzip on; gzip_types text/plain;\n server {\n"
        "  listen 127.0.0.1:8080;\n  root " +
        dir_.path() +
        ";\n"
        "  location /files/ { }\n  location /off/ { gzip off; alias " +
        dir_.path() + "/files/; }\n }\n}\n");
    ASSERT_TRUE(st.is_ok()) << st.message();
    EXPECT_THAT(get("/files/a.txt").head, HasSubstr("Content-Encoding: gzip"));
    EXPECT_THAT(get("/off/a.txt").head, Not(HasSubstr("Content-Encoding")));
}

TEST_F(GzipTest, ConfigErrorsNameTheFileAndLine) {
    std::string where = dir_.file("halo.conf") + ":5";
    EXPECT_THAT(error("\n gzip_comp_level 10;"), HasSubstr("gzip_comp_level"));
    EXPECT_THAT(error("\n gzip_comp_level 10;"), HasSubstr(where));
    EXPECT_THAT(error("\n gzip_proxied off any;"), HasSubstr(where));
    EXPECT_THAT(error("\n gzip_proxied sometimes;"), HasSubstr("invalid value \"sometimes\""));
    EXPECT_THAT(error("\n gzip_http_version 2.0;"), HasSubstr(where));
    EXPECT_THAT(error("\n gzip maybe;"), HasSubstr(where));
    EXPECT_THAT(error("\n gzip_disable \"(\";"), HasSubstr(where));
    EXPECT_THAT(error("\n gzip_types a; gzip_types b;"), HasSubstr("is duplicate"));
}

}  // namespace
}  // namespace mod::http_gzip
