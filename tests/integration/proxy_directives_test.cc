// The proxy directives of nginx that shape the exchange, through the real binary with test
// backends on loopback: proxy_method, proxy_set_body, proxy_bind, proxy_cookie_domain /
// _path / _flags, X-Accel-Redirect and X-Accel-Buffering (and proxy_ignore_headers), and what
// halo refuses (proxy_bind transparent).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <string>

#include "support/backend.h"
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

        location /method/ {
            proxy_method PUT;
            proxy_pass http://%%B0%%;
        }
        location /body/ {
            proxy_set_body "user=$arg_u";
            proxy_pass http://%%B0%%;
        }
        location /bind/ {
            proxy_bind 127.0.0.2;
            proxy_pass http://%%B1%%;
        }
        location /bindvar/ {
            proxy_bind $arg_a;
            proxy_pass http://%%B1%%;
        }
        location /cookie/ {
            proxy_cookie_domain backend.internal example.org;
            proxy_cookie_domain ~^(.+)\.old$ $1.new;
            proxy_cookie_path /app/ /;
            proxy_cookie_flags sid secure httponly samesite=lax;
            proxy_cookie_flags ~^tmp nosecure;
            proxy_pass http://%%B2%%;
        }
        location /accel/ {
            proxy_pass http://%%B3%%;
        }
        location /noaccel/ {
            proxy_ignore_headers X-Accel-Redirect;
            proxy_pass http://%%B3%%;
        }
        location /r1/ {
            proxy_pass http://%%B4%%/base/;
        }
        location /r2/ {
            proxy_pass http://%%B4%%;
        }
        location /r3/ {
            proxy_pass http://%%B4%%;
            proxy_redirect ~^http://[^/]+/app/(.*)$ http://$host/new/$1;
            proxy_redirect http://$arg_h/ /v/;
        }
        location /r4/ {
            proxy_pass http://%%B4%%;
            proxy_redirect off;
        }
        location /protected/ {
            return 200 "internal $uri $args $request_method\n";
        }
        location @named {
            return 200 "named $uri\n";
        }
    }
}
)";

/// Answers with the address the connection came from.
void peer_handler(BackendConn& c, const BackendRequest&) {
    sockaddr_in a{};
    socklen_t len = sizeof(a);
    getpeername(c.fd(), reinterpret_cast<sockaddr*>(&a), &len);
    char ip[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &a.sin_addr, ip, sizeof(ip));
    c.send(Backend::ok_response(std::string(ip), true));
}

void cookie_handler(BackendConn& c, const BackendRequest&) {
    c.send(Backend::ok_response("c", true,
                                "Set-Cookie: a=1; Domain=.backend.internal; Path=/app/x\r\n"
                                "Set-Cookie: b=2; domain=shop.old; path=/other\r\n"
                                "Set-Cookie: sid=3; Path=/app/; SameSite=Strict\r\n"
                                "Set-Cookie: tmp1=4; Secure; HttpOnly\r\n"
                                "Set-Cookie: c=5;Path=/app/;domain=BACKEND.internal\r\n"));
}

void accel_handler(BackendConn& c, const BackendRequest& r) {
    std::string target =
        r.target.find("named") != std::string::npos ? "@named" : "/protected/f?x=1";
    c.send(Backend::ok_response("from backend", true, "X-Accel-Redirect: " + target + "\r\n"));
}

/// A 302 to the `loc` argument (and a Refresh to it).
void redirect_handler(BackendConn& c, const BackendRequest& r) {
    std::string loc = r.target.substr(r.target.find("loc=") + 4);
    c.send("HTTP/1.1 302 Found\r\nLocation: " + loc + "\r\nRefresh: 5; url=" + loc +
           "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

class ProxyDirectivesTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        if (!halo_has_module("http_proxy") || !halo_has_module("http_rewrite")) {
            return;
        }
        for (int i = 0; i < 5; i++) {
            backends_[i] = new Backend("b" + std::to_string(i));
        }
        backends_[1]->set_handler(&peer_handler);
        backends_[2]->set_handler(&cookie_handler);
        backends_[3]->set_handler(&accel_handler);
        backends_[4]->set_handler(&redirect_handler);
        halo_ = new Halo();
        std::string conf(kConf);
        for (int i = 0; i < 5; i++) {
            std::string key = "%%B" + std::to_string(i) + "%%";
            for (size_t at; (at = conf.find(key)) != std::string::npos;) {
                conf.replace(at, key.size(), backends_[i]->address());
            }
        }
        halo_->write_conf(conf);
        start_ok_ = halo_->start();
    }
    static void TearDownTestSuite() {
        delete halo_;
        halo_ = nullptr;
        for (auto*& b : backends_) {
            delete b;
            b = nullptr;
        }
    }
    void SetUp() override {
        if (!halo_has_module("http_proxy") || !halo_has_module("http_rewrite")) {
            GTEST_SKIP() << "the proxy or rewrite module is not compiled in";
        }
        ASSERT_TRUE(start_ok_) << "halo did not start";
    }
    static HttpResponse request(const std::string& text) {
        HttpConnection c;
        if (!c.connect(halo_->port(0))) {
            return {};
        }
        c.send(text);
        auto r = c.read_response(10s);
        return r ? *r : HttpResponse{};
    }
    static HttpResponse get(std::string_view path) {
        return request("GET " + std::string(path) +
                       " HTTP/1.1\r\nHost: front\r\nConnection: close\r\n\r\n");
    }
    /// Every Set-Cookie of a raw response.
    static std::vector<std::string> set_cookies(std::string_view path) {
        HttpConnection c;
        std::vector<std::string> out;
        if (!c.connect(halo_->port(0))) {
            return out;
        }
        c.send("GET " + std::string(path) +
               " HTTP/1.1\r\nHost: front\r\nConnection: close\r\n\r\n");
        c.wait_closed(10s);
        std::string raw = c.unread();
        for (size_t at = 0; (at = raw.find("Set-Cookie: ", at)) != std::string::npos;) {
            size_t end = raw.find("\r\n", at);
            out.push_back(raw.substr(at + 12, end - at - 12));
            at = end;
        }
        return out;
    }

    static Halo* halo_;
    static Backend* backends_[5];
    static bool start_ok_;
};

Halo* ProxyDirectivesTest::halo_ = nullptr;
Backend* ProxyDirectivesTest::backends_[5] = {};
bool ProxyDirectivesTest::start_ok_ = false;

TEST_F(ProxyDirectivesTest, ProxyMethodReplacesTheMethod) {
    ASSERT_EQ(get("/method/x").status, 200);
    EXPECT_EQ(backends_[0]->seen().back().method, "PUT");
}

TEST_F(ProxyDirectivesTest, ProxySetBodyReplacesTheBody) {
    HttpResponse r = request(
        "POST /body/x?u=ann HTTP/1.1\r\nHost: front\r\nContent-Length: 5\r\n"
        "Connection: close\r\n\r\nhello");
    ASSERT_EQ(r.status, 200);
    BackendRequest q = backends_[0]->seen().back();
    EXPECT_EQ(q.method, "POST");
    EXPECT_EQ(q.body, "user=ann");
    EXPECT_EQ(q.headers["content-length"], "8");
}

TEST_F(ProxyDirectivesTest, ProxyBindSetsTheSourceAddress) {
    EXPECT_EQ(get("/bind/").body, "127.0.0.2");
    EXPECT_EQ(get("/bindvar/?a=127.0.0.3").body, "127.0.0.3");
    EXPECT_EQ(get("/bindvar/?a=nonsense").status, 500);
    EXPECT_TRUE(wait_until([] {
        return halo_->error_log().find("invalid local address \"nonsense\"") != std::string::npos;
    })) << halo_->error_log();
}

TEST_F(ProxyDirectivesTest, CookiesAreRewrittenAsNginxDoes) {
    std::vector<std::string> c = set_cookies("/cookie/");
    // What Debian's nginx 1.22 sends for the same fields and rules (checked by hand).
    ASSERT_EQ(c.size(), 5u);
    EXPECT_EQ(c[0], "a=1; Domain=.example.org; Path=/x");
    EXPECT_EQ(c[1], "b=2; domain=shop.new; path=/other");
    EXPECT_EQ(c[2], "sid=3; Path=/; SameSite=Lax; Secure; HttpOnly");
    EXPECT_EQ(c[3], "tmp1=4; HttpOnly");
    EXPECT_EQ(c[4], "c=5; Path=/; domain=example.org");  // taken apart and joined again
}

TEST_F(ProxyDirectivesTest, XAccelRedirectIsAnInternalRedirect) {
    HttpResponse r = request(
        "POST /accel/x HTTP/1.1\r\nHost: front\r\nContent-Length: 2\r\nConnection: "
        "close\r\n\r\nab");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "internal /protected/f x=1 GET\n");
    EXPECT_FALSE(r.has_header("x-accel-redirect"));
    EXPECT_EQ(get("/accel/named").body, "named /accel/named\n");
}

TEST_F(ProxyDirectivesTest, IgnoredXAccelRedirectPassesTheResponse) {
    HttpResponse r = get("/noaccel/x");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "from backend");
    EXPECT_FALSE(r.has_header("x-accel-redirect"));  // hidden all the same
}

TEST_F(ProxyDirectivesTest, ProxyRedirectRewritesLocationAndRefresh) {
    // What Debian's nginx 1.22 sends for the same rules (checked by hand): a rewritten
    // Location that became relative is made absolute again (absolute_redirect), Refresh not.
    std::string b4 = "http://" + backends_[4]->address();
    std::string self = "http://front:" + std::to_string(halo_->port(0));
    HttpResponse r = get("/r1/x?loc=" + b4 + "/base/y");
    EXPECT_EQ(r.status, 302);
    EXPECT_EQ(r.header("location"), self + "/r1/y");  // default: the URL to the location
    EXPECT_EQ(r.header("refresh"), "5; url=/r1/y");
    EXPECT_EQ(get("/r2/x?loc=" + b4 + "/other").header("location"), self + "/other");
    EXPECT_EQ(get("/r3/x?loc=http://a.b/app/z").header("location"), "http://front/new/z");
    EXPECT_EQ(get("/r3/x?h=c.d&loc=http://c.d/w").header("location"), self + "/v/w");
    EXPECT_EQ(get("/r3/x?loc=" + b4 + "/q").header("location"), b4 + "/q");  // no default
    EXPECT_EQ(get("/r4/x?loc=" + b4 + "/q").header("location"), b4 + "/q");
}

// ---- configuration ----

class ProxyDirectivesConfTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_proxy")) {
            GTEST_SKIP() << "the proxy module is not compiled in";
        }
    }
    RunResult check(std::string_view location_body) {
        halo_.write_conf("events {}\nhttp { server { location / {\n" + std::string(location_body) +
                         "\nproxy_pass http://127.0.0.1:1; } } }\n");
        return halo_.run({"-t"});
    }
    Halo halo_;
};

TEST_F(ProxyDirectivesConfTest, RefusesWhatHaloCannotDo) {
    RunResult r = check("proxy_bind 127.0.0.1 transparent;");
    EXPECT_NE(r.err.find("\"proxy_bind ... transparent\" is not supported by halo"),
              std::string::npos)
        << r;
    r = check("proxy_ignore_client_abort maybe;");
    EXPECT_NE(r.err.find("invalid value \"maybe\""), std::string::npos) << r;
    r = check("proxy_pass_trailers yes;");
    EXPECT_NE(r.err.find("invalid value \"yes\""), std::string::npos) << r;
    r = check("proxy_ignore_headers X-Nothing;");
    EXPECT_NE(r.err.find("invalid value \"X-Nothing\""), std::string::npos) << r;
    r = check("proxy_cookie_flags sid bogus;");
    EXPECT_NE(r.err.find("invalid parameter \"bogus\""), std::string::npos) << r;
    r = check("proxy_cookie_path off; proxy_cookie_path /a /b;");
    EXPECT_NE(r.err.find("is duplicate"), std::string::npos) << r;
    r = check("proxy_bind nonsense;");
    EXPECT_NE(r.err.find("invalid address \"nonsense\""), std::string::npos) << r;
}

TEST_F(ProxyDirectivesConfTest, AcceptsNginxForms) {
    RunResult r = check(
        "proxy_ignore_headers x-accel-expires Expires Cache-Control Set-Cookie Vary "
        "X-Accel-Buffering X-Accel-Limit-Rate X-Accel-Charset;\n"
        "proxy_ignore_client_abort on; proxy_socket_keepalive on; proxy_bind off;\n"
        "proxy_cookie_domain off; proxy_cookie_path ~*^/app(.*)$ $1; proxy_cookie_flags off;\n"
        "proxy_method $request_method; proxy_set_body $arg_x; proxy_pass_trailers on;");
    EXPECT_EQ(r.status, 0) << r;
}

// Without proxy_cache these have no effect; their values are checked as nginx checks them.
TEST_F(ProxyDirectivesConfTest, CacheConditionsWithoutACacheAreChecked) {
    RunResult r = check(
        "proxy_cache_bypass $http_upgrade $arg_nocache;\n"
        "proxy_no_cache $http_pragma;");
    EXPECT_EQ(r.status, 0) << r;
    r = check("proxy_no_cache $no_such_variable;");
    EXPECT_NE(r.status, 0) << r;
    EXPECT_NE(r.err.find("unknown \"no_such_variable\" variable"), std::string::npos) << r;
}

}  // namespace
}  // namespace halo_test
