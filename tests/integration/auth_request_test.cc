// auth_request and auth_request_set through the real binary, with a test auth service (a
// loopback backend) behind the usual nginx recipe (`location = /auth { internal; proxy_pass
// ...; proxy_pass_request_body off; proxy_set_header Content-Length ""; proxy_set_header
// X-Original-URI $request_uri; }`). The service answers by the original URI: 200 with X-User
// (allowed), 401 with WWW-Authenticate, 403, 500, 404, or never (proxy_read_timeout: 504 in the
// subrequest, 500 to the client). Shown: the decision of each (nginx's 2xx/401/403/else-500),
// what the auth service receives (a GET of /auth with the client's headers, no body), the
// variables auth_request_set takes from the subrequest seen by the app (proxy_set_header) and
// in the access log, `auth_request off` in a nested location, a location without proxy
// answering the subrequest, `internal`, a client that leaves while the subrequest is pending
// (HTTP/1 and HTTP/2: the auth connection is closed, 499 logged, nothing left open in the
// worker), HTTP/2 clients, and the status page's counters.
#include <dirent.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>

#include "support/backend.h"
#include "support/h2_client.h"
#include "support/harness.h"

namespace halo_test {
namespace {

constexpr std::string_view kConf = R"(
daemon off;
worker_processes 1;
error_log logs/error.log info;

events {
    worker_connections 256;
}

http {
    log_format au '$request_method $uri $status user=$auth_user as=$auth_status';
    access_log logs/access.log au;

    server {
        listen 127.0.0.1:%%PORT_0%%;
        http2 on;

        location / {
            auth_request /auth;
            auth_request_set $auth_user $upstream_http_x_user;
            auth_request_set $auth_status $upstream_status;
            proxy_pass http://%%APP%%;
            proxy_set_header X-User $auth_user;
            proxy_set_header X-Auth-Status $auth_status;
            add_header X-App-Length $upstream_http_content_length;

            location /public/ {
                auth_request off;
                proxy_pass http://%%APP%%;
            }
        }
        location = /auth {
            internal;
            proxy_pass http://%%AUTH%%;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_read_timeout 1s;
        }
        location /logged/ {
            auth_request /auth-logged;
            proxy_pass http://%%APP%%;
        }
        location = /auth-logged {
            internal;
            log_subrequest on;
            proxy_pass http://%%AUTH%%;
            proxy_set_header X-Original-URI $request_uri;
        }
        location /any-allow/ {
            satisfy any;
            allow 127.0.0.1;
            deny all;
            auth_request /auth;
            proxy_pass http://%%APP%%;
        }
        location /any-deny/ {
            satisfy any;
            deny all;
            auth_request /auth;
            proxy_pass http://%%APP%%;
        }
        location /local/ {
            auth_request /auth-local;
            proxy_pass http://%%APP%%;
        }
        location = /auth-local {
            internal;
            return 204;
        }
        location /local-deny/ {
            auth_request /auth-local-deny;
            proxy_pass http://%%APP%%;
        }
        location /returns/ {
            auth_request /auth-local-deny;  # `return` answers in the rewrite phase, before
            return 200 "returned\n";        # the access phase (as in nginx)
        }
        location = /auth-local-deny {
            internal;
            return 403;
        }
        location /e401/ {
            auth_request /auth;
            error_page 401 = /login;
            proxy_pass http://%%APP%%;
        }
        location = /login {
            auth_request off;
            return 200 "login page\n";
        }
        location = /status {
            auth_request off;
            status;
        }
    }
}
)";

/// Whether `fd` saw its peer close within `ms` (readable with nothing to read).
bool peer_closes(int fd, int ms) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, ms) != 1) {
        return false;
    }
    char c;
    return ::recv(fd, &c, 1, MSG_PEEK) == 0;
}

/// Open file descriptors of a process.
int open_fds(pid_t pid) {
    int n = 0;
    DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
    if (d == nullptr) {
        return -1;
    }
    while (readdir(d) != nullptr) {
        n++;
    }
    closedir(d);
    return n - 2;
}

std::string response(int status, std::string_view reason, std::string_view headers) {
    return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
           "\r\nContent-Length: 5\r\n" + std::string(headers) + "\r\nauth\n";
}

class AuthRequestTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_auth_request") || !halo_has_module("http_proxy") ||
            !halo_has_module("http_rewrite") || !halo_has_module("http_status")) {
            GTEST_SKIP() << "auth_request, proxy, rewrite or status is not compiled in";
        }
        std::string conf(kConf);
        for (auto [key, b] : {std::pair{"%%APP%%", &app_}, std::pair{"%%AUTH%%", &auth_}}) {
            for (size_t at; (at = conf.find(key)) != std::string::npos;) {
                conf.replace(at, std::string_view(key).size(), b->address());
            }
        }
        halo_.write_conf(conf);
        ASSERT_TRUE(halo_.start()) << halo_.error_log();
        ASSERT_EQ(halo_.wait_workers(1).size(), 1u);
    }
    std::string access_log() const { return read_file(halo_.path("logs/access.log")).value_or(""); }
    /// Waits for the access log line of `needle` and returns the log.
    std::string log_with(std::string_view needle) {
        wait_until([&] { return access_log().find(needle) != std::string::npos; });
        return access_log();
    }
    RunResult curl(std::vector<std::string> args, std::string_view path) {
        std::vector<std::string> argv = {"curl", "-sS", "-w", "\n%{http_version} %{http_code}"};
        argv.insert(argv.end(), args.begin(), args.end());
        argv.push_back("http://127.0.0.1:" + std::to_string(halo_.port(0)) + std::string(path));
        return run_command(argv, 20s);
    }

    std::atomic<int> waiting_{0};   // auth requests held open ("/hold")
    std::atomic<int> released_{0};  // of those, the ones halo closed
    Backend app_{"app"};
    Backend auth_{"auth", [this](BackendConn& c, const BackendRequest& req) {
                      std::string uri = req.headers.count("x-original-uri") != 0
                                            ? req.headers.at("x-original-uri")
                                            : "";
                      if (uri.find("allow") != std::string::npos) {
                          c.send(response(200, "OK", "X-User: alice\r\n"));
                      } else if (uri.find("deny401") != std::string::npos) {
                          c.send(response(401, "Unauthorized",
                                          "WWW-Authenticate: Basic realm=\"halo\"\r\n"
                                          "WWW-Authenticate: Bearer\r\n"));
                      } else if (uri.find("deny403") != std::string::npos) {
                          c.send(response(403, "Forbidden", ""));
                      } else if (uri.find("fail") != std::string::npos) {
                          c.send(response(500, "Internal Server Error", ""));
                      } else if (uri.find("hang") != std::string::npos ||
                                 uri.find("hold") != std::string::npos) {
                          waiting_++;
                          while (!peer_closes(c.fd(), 50)) {
                          }
                          released_++;
                          c.close_after();
                      } else {
                          c.send(response(404, "Not Found", ""));
                      }
                  }};
    Halo halo_;
};

TEST_F(AuthRequestTest, AllowedRequestsReachTheAppWithTheVariables) {
    auto r = http_get(halo_.port(0), "/allow/x?q=1");
    ASSERT_TRUE(r) << halo_.error_log();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "app\n");
    // $upstream_http_*: here the app's response field (the subrequest's stays its own).
    EXPECT_EQ(r->header("X-App-Length"), "4");
    ASSERT_EQ(app_.seen().size(), 1u);
    const BackendRequest to_app = app_.seen()[0];
    EXPECT_EQ(to_app.target, "/allow/x?q=1");
    EXPECT_EQ(to_app.headers.at("x-user"), "alice");
    EXPECT_EQ(to_app.headers.at("x-auth-status"), "200");
    // The auth service: a GET of the auth location's URI with the client's headers.
    ASSERT_EQ(auth_.seen().size(), 1u);
    const BackendRequest to_auth = auth_.seen()[0];
    EXPECT_EQ(to_auth.method, "GET");
    EXPECT_EQ(to_auth.target, "/auth");
    EXPECT_EQ(to_auth.headers.at("x-original-uri"), "/allow/x?q=1");
    EXPECT_EQ(to_auth.headers.at("host"), auth_.address());  // proxy_pass's $proxy_host
    EXPECT_NE(log_with("/allow/x 200").find("GET /allow/x 200 user=alice as=200\n"),
              std::string::npos)
        << access_log();
}

TEST_F(AuthRequestTest, ARequestBodyGoesToTheAppNotToTheAuthService) {
    HttpConnection c;
    ASSERT_TRUE(c.connect(halo_.port(0)));
    ASSERT_TRUE(
        c.send("POST /allow/post HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n"
               "Content-Type: text/plain\r\nCookie: s=1\r\n\r\npost body"));
    auto r = c.read_response();
    ASSERT_TRUE(r) << c.error() << halo_.error_log();
    EXPECT_EQ(r->status, 200);
    ASSERT_EQ(auth_.seen().size(), 1u);
    EXPECT_EQ(auth_.seen()[0].method, "GET");  // nginx's subrequests are GETs
    EXPECT_EQ(auth_.seen()[0].body, "");
    EXPECT_EQ(auth_.seen()[0].headers.count("content-length"), 0u);
    EXPECT_EQ(auth_.seen()[0].headers.at("content-type"), "text/plain");
    EXPECT_EQ(auth_.seen()[0].headers.at("cookie"), "s=1");
    ASSERT_EQ(app_.seen().size(), 1u);
    EXPECT_EQ(app_.seen()[0].method, "POST");
    EXPECT_EQ(app_.seen()[0].body, "post body");
    // The connection stays usable.
    ASSERT_TRUE(c.send("GET /allow/again HTTP/1.1\r\nHost: x\r\n\r\n"));
    r = c.read_response();
    ASSERT_TRUE(r) << c.error();
    EXPECT_EQ(r->status, 200);
}

TEST_F(AuthRequestTest, Unauthorized401CarriesTheServicesChallenges) {
    RunResult res = curl({"-i"}, "/deny401/x");
    ASSERT_EQ(res.status, 0) << res;
    EXPECT_NE(res.out.find("HTTP/1.1 401 Unauthorized\r\n"), std::string::npos) << res.out;
    EXPECT_NE(res.out.find("WWW-Authenticate: Basic realm=\"halo\"\r\n"), std::string::npos)
        << res.out;
    EXPECT_NE(res.out.find("WWW-Authenticate: Bearer\r\n"), std::string::npos) << res.out;
    EXPECT_NE(res.out.find("<title>401 Authorization Required</title>"), std::string::npos)
        << res.out;
    EXPECT_EQ(app_.requests(), 0);
    EXPECT_NE(log_with("/deny401/x").find("GET /deny401/x 401 user=- as=401\n"), std::string::npos)
        << access_log();
}

TEST_F(AuthRequestTest, TheChallengeStaysThroughAnErrorPage) {
    auto r = http_get(halo_.port(0), "/e401/deny401");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "login page\n");
    EXPECT_EQ(r->header("WWW-Authenticate"), "Basic realm=\"halo\", Bearer");  // both, joined
    EXPECT_EQ(app_.requests(), 0);
}

TEST_F(AuthRequestTest, LogSubrequestLogsTheSubrequestFirst) {
    EXPECT_EQ(http_get(halo_.port(0), "/logged/allow")->status, 200);
    EXPECT_EQ(http_get(halo_.port(0), "/logged/deny403")->status, 403);
    EXPECT_EQ(http_get(halo_.port(0), "/allow/not-logged")->status, 200);
    EXPECT_EQ(log_with("/allow/not-logged"),
              "GET /auth-logged 200 user=- as=-\n"
              "GET /logged/allow 200 user=- as=-\n"
              "GET /auth-logged 403 user=- as=-\n"
              "GET /logged/deny403 403 user=- as=-\n"
              "GET /allow/not-logged 200 user=alice as=200\n");
}

TEST_F(AuthRequestTest, SatisfyAnyCombinesItWithAllowAndDeny) {
    // An address allowed: the request goes in without asking the service.
    auto r = http_get(halo_.port(0), "/any-allow/deny403");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(auth_.requests(), 0);
    // An address denied: the service decides.
    r = http_get(halo_.port(0), "/any-deny/allow");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    r = http_get(halo_.port(0), "/any-deny/deny401");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);  // the 401 wins over the 403 kept (nginx)
    EXPECT_EQ(r->header("WWW-Authenticate"), "Basic realm=\"halo\", Bearer");
    r = http_get(halo_.port(0), "/any-deny/deny403");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403);
    r = http_get(halo_.port(0), "/any-deny/fail");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500);
    EXPECT_EQ(auth_.requests(), 4);
    EXPECT_EQ(app_.requests(), 2);
}

TEST_F(AuthRequestTest, Forbidden403) {
    auto r = http_get(halo_.port(0), "/deny403/x");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403);
    EXPECT_FALSE(r->has_header("WWW-Authenticate"));
    EXPECT_EQ(app_.requests(), 0);
}

TEST_F(AuthRequestTest, OtherStatusesAre500) {
    auto r = http_get(halo_.port(0), "/fail/x");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500);
    // As nginx, the connection is not kept after the 500.
    HttpConnection c;
    ASSERT_TRUE(c.connect(halo_.port(0)));
    ASSERT_TRUE(c.send("GET /fail/keep HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto kept = c.read_response();
    ASSERT_TRUE(kept) << c.error();
    EXPECT_EQ(kept->status, 500);
    EXPECT_EQ(kept->header("Connection"), "close");
    EXPECT_TRUE(c.wait_closed());
    r = http_get(halo_.port(0), "/unknown/x");  // the service answers 404
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500);
    EXPECT_EQ(app_.requests(), 0);
    std::string log = halo_.error_log();
    EXPECT_NE(log.find("auth request unexpected status: 500 while sending to client, client: "
                       "127.0.0.1, server: , request: \"GET /fail/x HTTP/1.1\""),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("auth request unexpected status: 404"), std::string::npos) << log;
}

TEST_F(AuthRequestTest, AHangingServiceTimesOutInto500) {
    auto r = http_get(halo_.port(0), "/hang/x");
    ASSERT_TRUE(r) << halo_.error_log();
    EXPECT_EQ(r->status, 500);
    EXPECT_EQ(app_.requests(), 0);
    std::string log = halo_.error_log();
    EXPECT_NE(log.find("upstream timed out (110: Connection timed out) while reading response "
                       "header from upstream, client: 127.0.0.1, server: , request: \"GET "
                       "/hang/x HTTP/1.1\", subrequest: \"/auth\", upstream: \"http://" +
                       auth_.address() + "/auth\""),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("auth request unexpected status: 504"), std::string::npos) << log;
    EXPECT_NE(log_with("/hang/x").find("GET /hang/x 500 user=- as=504\n"), std::string::npos)
        << access_log();
    EXPECT_TRUE(wait_until([&] { return released_ == 1; }));
}

TEST_F(AuthRequestTest, OffInANestedLocationAndSubrequestsToLocalLocations) {
    auto r = http_get(halo_.port(0), "/public/x");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "app\n");
    EXPECT_EQ(auth_.requests(), 0);
    r = http_get(halo_.port(0), "/local/x");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "app\n");
    r = http_get(halo_.port(0), "/local-deny/x");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403);
    EXPECT_EQ(app_.requests(), 2);
    r = http_get(halo_.port(0), "/returns/x");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "returned\n");
    // The auth location is internal: a client asking for it gets 404.
    r = http_get(halo_.port(0), "/auth");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    EXPECT_EQ(auth_.requests(), 0);
}

TEST_F(AuthRequestTest, AClientLeavingWhileThePendingSubrequestRunsCleansUp) {
    pid_t worker = halo_.workers().at(0);
    ASSERT_EQ(http_get(halo_.port(0), "/allow/warm")->status, 200);  // the worker's fds settle
    int fds_before = open_fds(worker);
    constexpr int kClients = 10;
    for (int i = 1; i <= kClients; i++) {
        HttpConnection c;
        ASSERT_TRUE(c.connect(halo_.port(0)));
        ASSERT_TRUE(c.send("GET /hold/" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n"));
        ASSERT_TRUE(wait_until([&] { return waiting_ == i; })) << halo_.error_log();
        c.close();
        // halo closes the auth service's connection in turn.
        ASSERT_TRUE(wait_until([&] { return released_ == i; })) << halo_.error_log();
    }
    EXPECT_NE(log_with("/hold/10 499").find("GET /hold/1 499 user=- as=-\n"), std::string::npos)
        << access_log();
    // nginx's line, from the subrequest's proxy.
    EXPECT_NE(halo_.error_log().find(
                  "[info] " + std::to_string(worker) +
                  "#0: *3 epoll_wait() reported that client prematurely closed connection, so "
                  "upstream connection is closed too while reading response header from "
                  "upstream, client: 127.0.0.1, server: , request: \"GET /hold/1 HTTP/1.1\", "
                  "subrequest: \"/auth\", upstream: \"http://" +
                  auth_.address() + "/auth\", host: \"x\""),
              std::string::npos)
        << halo_.error_log();
    // The same worker goes on serving, with no descriptor left behind.
    EXPECT_EQ(http_get(halo_.port(0), "/allow/after")->status, 200);
    EXPECT_EQ(halo_.workers(), std::vector<pid_t>{worker});
    // (At most as many: the warm-up's own sockets may have been closing when counted.)
    EXPECT_TRUE(wait_until([&] { return open_fds(worker) <= fds_before; }))
        << open_fds(worker) << " descriptors open, " << fds_before << " before";
    EXPECT_EQ(app_.requests(), 1 + 1);
}

TEST_F(AuthRequestTest, Http2ClientsPassThroughAuth) {
    RunResult res = curl({"--http2-prior-knowledge"}, "/allow/h2");
    ASSERT_EQ(res.status, 0) << res;
    EXPECT_EQ(res.out, "app\n\n2 200");
    ASSERT_EQ(app_.seen().size(), 1u);
    EXPECT_EQ(app_.seen()[0].headers.at("x-user"), "alice");
    res = curl({"--http2-prior-knowledge", "-i"}, "/deny401/h2");
    ASSERT_EQ(res.status, 0) << res;
    EXPECT_NE(res.out.find("HTTP/2 401"), std::string::npos) << res.out;
    EXPECT_NE(res.out.find("www-authenticate: Basic realm=\"halo\""), std::string::npos) << res.out;
    res = curl({"--http2-prior-knowledge"}, "/hang/h2");
    ASSERT_EQ(res.status, 0) << res;
    EXPECT_NE(res.out.find("\n2 500"), std::string::npos) << res.out;
    // Several streams of one connection at once, each with its own subrequest.
    res = curl({"--http2-prior-knowledge", "--parallel", "--parallel-immediate", "-o", "/dev/null",
                "-o", "/dev/null", "-o", "/dev/null",
                "http://127.0.0.1:" + std::to_string(halo_.port(0)) + "/allow/p1",
                "http://127.0.0.1:" + std::to_string(halo_.port(0)) + "/deny403/p2"},
               "/allow/p3");
    ASSERT_EQ(res.status, 0) << res;
    EXPECT_NE(log_with("/allow/p3 200").find("GET /deny403/p2 403"), std::string::npos)
        << access_log();
    EXPECT_NE(access_log().find("GET /allow/p1 200 user=alice"), std::string::npos);
}

TEST_F(AuthRequestTest, AnHttp2StreamResetWhileThePendingSubrequestRuns) {
    pid_t worker = halo_.workers().at(0);
    auto c = std::make_unique<h2::Client>();
    ASSERT_TRUE(c->connect(halo_.port(0)));
    ASSERT_TRUE(c->handshake());
    uint32_t id = c->next_stream();
    ASSERT_TRUE(c->send_headers(id, h2::Client::request_headers("/hold/h2"), true));
    ASSERT_TRUE(wait_until([&] { return waiting_ == 1; })) << halo_.error_log();
    ASSERT_TRUE(c->send_rst(id, 8));  // CANCEL
    ASSERT_TRUE(wait_until([&] { return released_ == 1; })) << halo_.error_log();
    EXPECT_NE(log_with("/hold/h2").find("GET /hold/h2 499 user=- as=-\n"), std::string::npos)
        << access_log();
    // The connection goes on with another stream.
    h2::Response resp = c->request(h2::Client::request_headers("/allow/h2"));
    ASSERT_TRUE(resp.error.empty()) << resp.error;
    EXPECT_EQ(resp.status, 200);
    EXPECT_EQ(resp.body, "app\n");
    // The whole connection going away with a pending subrequest.
    ASSERT_TRUE(
        c->send_headers(c->next_stream(), h2::Client::request_headers("/hold/h2-close"), true));
    ASSERT_TRUE(wait_until([&] { return waiting_ == 2; })) << halo_.error_log();
    c.reset();
    ASSERT_TRUE(wait_until([&] { return released_ == 2; })) << halo_.error_log();
    EXPECT_EQ(http_get(halo_.port(0), "/allow/after")->status, 200);
    EXPECT_EQ(halo_.workers(), std::vector<pid_t>{worker});
}

TEST_F(AuthRequestTest, TheStatusPageCountsDecisions) {
    EXPECT_EQ(http_get(halo_.port(0), "/allow/1")->status, 200);
    EXPECT_EQ(http_get(halo_.port(0), "/allow/2")->status, 200);
    EXPECT_EQ(http_get(halo_.port(0), "/deny401/1")->status, 401);
    EXPECT_EQ(http_get(halo_.port(0), "/deny403/1")->status, 403);
    EXPECT_EQ(http_get(halo_.port(0), "/fail/1")->status, 500);
    auto r = http_get(halo_.port(0), "/status?format=prometheus");
    ASSERT_TRUE(r);
    EXPECT_NE(r->body.find("halo_auth_request_total{result=\"allowed\"} 2\n"), std::string::npos)
        << r->body;
    EXPECT_NE(r->body.find("halo_auth_request_total{result=\"denied\"} 2\n"), std::string::npos);
    EXPECT_NE(r->body.find("halo_auth_request_total{result=\"failed\"} 1\n"), std::string::npos);
}

}  // namespace
}  // namespace halo_test

namespace halo_test {
namespace {

// auth_request at the server level is inherited by the auth location too: subrequests run no
// access phase (nginx's rule), so the auth location does not ask itself again.
TEST(AuthRequestServerLevelTest, TheAuthLocationInheritsItWithoutRecursion) {
    if (!halo_has_module("http_auth_request") || !halo_has_module("http_proxy")) {
        GTEST_SKIP() << "auth_request or proxy is not compiled in";
    }
    Backend app("app");
    Backend auth("auth", [](BackendConn& c, const BackendRequest& req) {
        bool ok = req.headers.count("authorization") != 0;
        c.send(ok ? response(204, "No Content", "X-User: bob\r\n")
                  : response(401, "Unauthorized", "WWW-Authenticate: Basic realm=\"s\"\r\n"));
    });
    Halo halo;
    halo.write_conf(R"(
daemon off;
worker_processes 1;
error_log logs/error.log info;
events {
    worker_connections 64;
}
http {
    access_log off;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        auth_request /auth;
        auth_request_set $user $upstream_http_x_user;
        add_header X-User $user;
        location / {
            proxy_pass http://)" +
                    app.address() + R"(;
        }
        location = /auth {
            internal;
            proxy_pass http://)" +
                    auth.address() + R"(;
        }
    }
}
)");
    ASSERT_TRUE(halo.start()) << halo.error_log();
    auto r = http_get(halo.port(0), "/x");
    ASSERT_TRUE(r) << halo.error_log();
    EXPECT_EQ(r->status, 401);
    EXPECT_EQ(r->header("WWW-Authenticate"), "Basic realm=\"s\"");
    HttpConnection c;
    ASSERT_TRUE(c.connect(halo.port(0)));
    ASSERT_TRUE(c.send("GET /y HTTP/1.1\r\nHost: h\r\nAuthorization: Basic Ym9iOng=\r\n\r\n"));
    r = c.read_response();
    ASSERT_TRUE(r) << c.error();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "app\n");
    EXPECT_EQ(r->header("X-User"), "bob");
    EXPECT_EQ(auth.requests(), 2);  // one subrequest per client request, none of its own
    EXPECT_EQ(app.requests(), 1);
}

TEST(AuthRequestLimitsTest, TheSubrequestOfALimitedRequestIsNotCountedAgain) {
    // nginx's limit_req and limit_conn look at r->main: a request they counted is not counted
    // again by its auth subrequest, even where the auth location has the same limits.
    if (!halo_has_module("http_auth_request") || !halo_has_module("http_proxy") ||
        !halo_has_module("http_limit_req") || !halo_has_module("http_limit_conn")) {
        GTEST_SKIP() << "auth_request, proxy, limit_req or limit_conn is not compiled in";
    }
    Backend app("app");
    Backend auth("auth", [](BackendConn& c, const BackendRequest&) {
        c.send(response(204, "No Content", ""));
    });
    Halo halo;
    halo.write_conf(R"(
daemon off;
worker_processes 1;
error_log logs/error.log info;
events {
    worker_connections 64;
}
http {
    access_log off;
    limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;
    limit_conn_zone $binary_remote_addr zone=conn:1m;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / {
            limit_req zone=one;
            limit_conn conn 1;
            auth_request /auth;
            proxy_pass http://)" +
                    app.address() + R"(;
        }
        location = /auth {
            internal;
            limit_req zone=one;
            limit_conn conn 1;
            proxy_pass http://)" +
                    auth.address() + R"(;
        }
    }
}
)");
    ASSERT_TRUE(halo.start()) << halo.error_log();
    // One request a minute: the first passes, and so does its subrequest (counted, it would be
    // refused: the bucket is empty and the connection count is at its limit).
    auto r = http_get(halo.port(0), "/x");
    ASSERT_TRUE(r) << halo.error_log();
    EXPECT_EQ(r->status, 200) << halo.error_log();
    EXPECT_EQ(auth.requests(), 1);
    EXPECT_EQ(app.requests(), 1);
    // The second is refused before its subrequest is made.
    r = http_get(halo.port(0), "/x");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(auth.requests(), 1);
}

}  // namespace
}  // namespace halo_test
