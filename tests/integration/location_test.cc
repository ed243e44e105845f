// Location and server selection through the real binary: nginx's location order (exact,
// longest prefix, ^~, nested before outer regexes, regexes in order, ~* caseless, captures),
// named locations reached by try_files, server_name kinds by Host, and the `-t` errors of the
// location directive with file:line.
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
        server_name localhost;

        location = / { return 200 "A\n"; }
        location / { return 200 "B\n"; }
        location /documents/ { return 200 "C\n"; }
        location ^~ /images/ { return 200 "D\n"; }
        location ~* \.(gif|jpg|jpeg)$ { return 200 "E\n"; }

        location /n/ {
            return 200 "outer prefix\n";
            location /n/deep/ { return 200 "nested prefix\n"; }
            location ~ \.x$ { return 200 "nested regex\n"; }
        }
        location ~ \.x$ { return 200 "outer regex x\n"; }
        location ~ \.y$ { return 200 "outer regex y\n"; }

        location ~ ^/cap/([a-z]+)/([0-9]+)$ { return 200 "$1:$2\n"; }
        location ~ ^/first { return 200 "first regex\n"; }
        location ~ ^/first-longer { return 200 "second regex\n"; }
        location ~ \.PNG$ { return 200 "case sensitive\n"; }

        location /try/ { try_files $uri @named; }
        location @named { return 200 "named $uri\n"; }
    }

    server {
        listen 127.0.0.1:%%PORT_1%%;
        server_name exact.example;
        return 200 "exact\n";
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        server_name *.wild.example;
        return 200 "leading\n";
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        server_name www.trail.*;
        return 200 "trailing\n";
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        server_name ~^re[0-9]+\.example$;
        return 200 "regex\n";
    }
    server {
        listen 127.0.0.1:%%PORT_1%% default_server;
        server_name default.example;
        return 200 "default\n";
    }
}
)";

class LocationTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        if (!halo_has_module("http_rewrite") || !halo_has_module("http_static")) {
            return;
        }
        halo_ = new Halo();
        halo_->write_conf(kConf);
        start_ok_ = halo_->start();
        if (start_ok_) {
            start_ok_ = halo_->wait_workers(1).size() == 1;
        }
    }
    static void TearDownTestSuite() {
        delete halo_;
        halo_ = nullptr;
    }
    void SetUp() override {
        if (!halo_has_module("http_rewrite") || !halo_has_module("http_static")) {
            GTEST_SKIP() << "the http_rewrite or http_static module is not compiled in";
        }
        ASSERT_TRUE(start_ok_) << "halo did not start";
    }

    static std::string body(std::string_view path, std::string_view host = "localhost",
                            int port = 0) {
        std::string error;
        auto r = http_get(halo_->port(port), path, host, &error);
        if (!r) {
            return "<error: " + error + ">";
        }
        return r->status == 200 ? r->body : std::to_string(r->status);
    }

    static inline Halo* halo_ = nullptr;
    static inline bool start_ok_ = false;
};

TEST_F(LocationTest, DocumentationExample) {
    EXPECT_EQ(body("/"), "A\n");
    EXPECT_EQ(body("/index.html"), "B\n");
    EXPECT_EQ(body("/documents/document.html"), "C\n");
    EXPECT_EQ(body("/images/1.gif"), "D\n");
    EXPECT_EQ(body("/documents/1.jpg"), "E\n");
    EXPECT_EQ(body("/documents/1.JPEG"), "E\n");
}

TEST_F(LocationTest, NormalizedUriIsMatched) {
    EXPECT_EQ(body("/x/../documents/a"), "C\n");
    EXPECT_EQ(body("/%64ocuments/a"), "C\n");
    EXPECT_EQ(body("/images/../documents/1.gif"), "E\n");
}

TEST_F(LocationTest, NestedLocations) {
    EXPECT_EQ(body("/n/a"), "outer prefix\n");
    EXPECT_EQ(body("/n/deep/a"), "nested prefix\n");
    EXPECT_EQ(body("/n/a.x"), "nested regex\n");
    EXPECT_EQ(body("/n/deep/a.x"), "nested regex\n");
    EXPECT_EQ(body("/n/deep/a.y"), "outer regex y\n");
    EXPECT_EQ(body("/elsewhere.x"), "outer regex x\n");
}

TEST_F(LocationTest, RegexesInConfigOrder) {
    EXPECT_EQ(body("/first-longer"), "first regex\n");
    EXPECT_EQ(body("/a.PNG"), "case sensitive\n");
    EXPECT_EQ(body("/a.png"), "B\n");
}

TEST_F(LocationTest, Captures) {
    EXPECT_EQ(body("/cap/abc/123"), "abc:123\n");
    EXPECT_EQ(body("/cap/abc/x"), "B\n");
}

TEST_F(LocationTest, NamedLocationByTryFiles) {
    EXPECT_EQ(body("/try/nothing"), "named /try/nothing\n");
    EXPECT_EQ(body("/@named"), "B\n");  // not reachable by a URI
}

TEST_F(LocationTest, ServerNames) {
    EXPECT_EQ(body("/", "exact.example", 1), "exact\n");
    EXPECT_EQ(body("/", "Exact.Example:80", 1), "exact\n");
    EXPECT_EQ(body("/", "a.wild.example", 1), "leading\n");
    EXPECT_EQ(body("/", "wild.example", 1), "default\n");
    EXPECT_EQ(body("/", "www.trail.org", 1), "trailing\n");
    EXPECT_EQ(body("/", "re42.example", 1), "regex\n");
    EXPECT_EQ(body("/", "other.example", 1), "default\n");
    HttpConnection c;
    ASSERT_TRUE(c.connect(halo_->port(1)));
    ASSERT_TRUE(c.send("GET / HTTP/1.0\r\n\r\n"));
    auto r = c.read_response();
    ASSERT_TRUE(r) << c.error();
    EXPECT_EQ(r->body, "default\n");
}

// ---- -t errors ----

class LocationConfigTest : public ::testing::Test {
  protected:
    /// `halo -t` with `server_body` in a server block (it starts on line 4); the [emerg] line.
    std::string emerg(std::string_view server_body) {
        halo_.write_conf("events { }\nhttp {\n server { listen 127.0.0.1:%%PORT_0%%;\n" +
                         std::string(server_body) + "\n }\n}\n");
        RunResult r = halo_.run({"-t"});
        EXPECT_EQ(r.status, 1) << r;
        size_t at = r.err.find("halo: [emerg] ");
        if (at == std::string::npos) {
            return "<no emerg: " + r.err + ">";
        }
        return r.err.substr(at + 14, r.err.find('\n', at) - at - 14);
    }
    std::string in(int line) const {
        return " in " + halo_.conf_path() + ":" + std::to_string(line);
    }

    Halo halo_;
};

TEST_F(LocationConfigTest, BadRegex) {
    std::string e = emerg("location ~ ^/(a { }");
    EXPECT_EQ(e.rfind("pcre2_compile() failed: missing closing parenthesis", 0), 0u) << e;
    EXPECT_NE(e.find(in(4)), std::string::npos) << e;
}

TEST_F(LocationConfigTest, RegexWithoutSpace) {
    EXPECT_EQ(emerg("location ~\\.php$ { }"),
              "a regex location needs a space after \"~\": \"location ~ regex\"" + in(4));
}

TEST_F(LocationConfigTest, Duplicate) {
    EXPECT_EQ(emerg("location /a { }\nlocation /a { }"), "duplicate location \"/a\"" + in(5));
}

TEST_F(LocationConfigTest, NamedOnlyAtServerLevel) {
    EXPECT_EQ(emerg("location /a {\n location @x { } }"),
              "named location \"@x\" can be on the server level only" + in(5));
}

TEST_F(LocationConfigTest, InsideExactOrNamed) {
    EXPECT_EQ(emerg("location = /a {\n location /a/b { } }"),
              "location \"/a/b\" cannot be inside the exact location" + in(5));
    EXPECT_EQ(emerg("location @n {\n location /b { } }"),
              "location \"/b\" cannot be inside the named location" + in(5));
}

TEST_F(LocationConfigTest, UnknownVariable) {
    EXPECT_EQ(emerg("location / {\n return 200 \"$foo\"; }"), "unknown \"foo\" variable" + in(5));
}

}  // namespace
}  // namespace halo_test
