// auth_basic, satisfy and limit_except through the real binary with two workers: each htpasswd
// hash kind lets its password in and refuses a wrong one, a user not in the file and a wrong
// password get 401 with the challenge and nginx's error log lines, a missing file 403 and an
// unreadable one 500 (as nginx), a file changed on disk takes effect without a reload, the
// realm and the file name with variables, `auth_basic off` below, satisfy any/all with
// allow/deny, `limit_except GET { deny all; }` (and a proxied location's other methods),
// $remote_user, the failures on the status page, config errors with file:line; and the same
// requests to Debian's nginx on the same config, statuses and challenges compared.
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "support/backend.h"
#include "support/h2_client.h"
#include "support/harness.h"
#include "support/nginx.h"

namespace halo_test {
namespace {

// Each made by another tool (openssl passwd, htpasswd, Python's hashlib, libxcrypt), never by
// halo: user, password, line.
struct Account {
    const char* user;
    const char* password;
    const char* hash;
};
constexpr Account kAccounts[] = {
    {"md5", "secret1", "$1$abcdefgh$ywpTNDTYPzAT3Ohgseebp/"},
    {"sha256", "secret5", "$5$abcdefgh$AVKsPBNtNFkXXKvvkrPMobKUZbm0i7P2XfVbwGW9BS/"},
    {"sha512", "secret6",
     "$6$abcdefgh$xCmU6eXePqd8uT3.jYlk3Fgv/roflqiCi/twHrvHhPTT4qT0rTqu/3ZTFEf6uqFcl7eKyk81ngZEadU/"
     "ehEy51"},
    {"apr1", "secretapr", "$apr1$Yw2rA38b$AtZ2OkFvmOcJXtjmRuLPl/"},
    {"des", "secretde", "UrvSx6uJqs48A"},
    {"sha", "secretsha", "{SHA}31mHvV5u5LyRnBlFzjgog1WyY9k="},
    {"ssha", "secretssha", "{SSHA}9sJ6SGMfQ6/yO1dBMSYP9MZVL1hzYWx0MTIzNA=="},
    {"plain", "secretplain", "{PLAIN}secretplain"},
    {"bcrypt", "secretbc", "$2y$05$U/f6yefQT6M6SOCi8HXtp.jf7aEQOam/t3gu0XN8OkQcUyZxSDeEy"},
    {"yescrypt", "secrety",
     "$y$j9T$iJFHizZ5X8AVJYnm/K/3L1$wKF.rB1ofB2horQ019wG2UjOyl.SFd5HPmXjFRPTmb3"},
};

std::string htpasswd_text() {
    std::string text = "# users of the tests\n\n";
    for (const Account& a : kAccounts) {
        text += std::string(a.user) + ":" + a.hash + "\n";
    }
    return text;
}

std::string base64(std::string_view in) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        unsigned v = static_cast<unsigned char>(in[i]) << 16 |
                     static_cast<unsigned char>(in[i + 1]) << 8 |
                     static_cast<unsigned char>(in[i + 2]);
        out += {kAlphabet[v >> 18 & 63], kAlphabet[v >> 12 & 63], kAlphabet[v >> 6 & 63],
                kAlphabet[v & 63]};
    }
    if (i < in.size()) {
        unsigned v = static_cast<unsigned char>(in[i]) << 16 |
                     (i + 1 < in.size() ? static_cast<unsigned char>(in[i + 1]) << 8 : 0);
        out += {kAlphabet[v >> 18 & 63], kAlphabet[v >> 12 & 63],
                i + 1 < in.size() ? kAlphabet[v >> 6 & 63] : '=', '='};
    }
    return out;
}

std::string auth(std::string_view user, std::string_view password) {
    return "Authorization: Basic " + base64(std::string(user) + ":" + std::string(password)) +
           "\r\n";
}

// The part both servers run; %%DIR%% is the folder of the files, %%BACKEND%% a proxied one.
constexpr std::string_view kLocations = R"(
        root %%DIR%%/www;
        location / {
            auth_basic "Restricted $host";
            auth_basic_user_file %%DIR%%/htpasswd;
        }
        location /missing/ {
            auth_basic x;
            auth_basic_user_file %%DIR%%/nofile;
        }
        location /folder/ {
            auth_basic x;
            auth_basic_user_file %%DIR%%/www;
        }
        location /team/ {
            auth_basic "team $arg_team";
            auth_basic_user_file %%DIR%%/teams/$arg_team;
        }
        location /open/ {
            auth_basic x;
            auth_basic_user_file %%DIR%%/htpasswd;
            location /open/nested/ {
                auth_basic off;
            }
        }
        location /any/ {
            satisfy any;
            deny all;
            auth_basic any;
            auth_basic_user_file %%DIR%%/htpasswd;
        }
        location /any-allow/ {
            satisfy any;
            allow 127.0.0.1;
            deny all;
            auth_basic any;
            auth_basic_user_file %%DIR%%/htpasswd;
        }
        location /any-try/ {
            satisfy any;
            allow 127.0.0.1;
            deny all;
            auth_basic any;
            auth_basic_user_file %%DIR%%/htpasswd;
            try_files $uri /any-try/index.html;
        }
        location /any-try-auth/ {
            satisfy any;
            deny all;
            auth_basic any;
            auth_basic_user_file %%DIR%%/htpasswd;
            try_files $uri /open/nested/index.html;
        }
        location /all/ {
            allow 127.0.0.1;
            deny all;
            auth_basic all;
            auth_basic_user_file %%DIR%%/htpasswd;
        }
        location /all-deny/ {
            deny all;
            auth_basic all;
            auth_basic_user_file %%DIR%%/htpasswd;
        }
        location /le/ {
            limit_except GET {
                deny all;
            }
        }
        location /ep/ {
            error_page 401 /401.html;
            auth_basic ep;
            auth_basic_user_file %%DIR%%/htpasswd;
        }
        location = /401.html {
        }
        location /le-auth/ {
            limit_except GET HEAD {
                auth_basic writers;
                auth_basic_user_file %%DIR%%/htpasswd;
            }
        }
)";

constexpr std::string_view kHaloOnly = R"(
        location /proxied/ {
            proxy_pass http://%%BACKEND%%;
            limit_except GET {
                allow 127.0.0.1;
                deny all;
            }
        }
        location /proxied-deny/ {
            proxy_pass http://%%BACKEND%%;
            limit_except GET {
                deny all;
            }
        }
        location = /metrics {
            status format=prometheus;
        }
)";

class AuthBasicTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_auth_basic") || !halo_has_module("http_access") ||
            !halo_has_module("http_proxy") || !halo_has_module("http_status")) {
            GTEST_SKIP() << "http_auth_basic, http_access, http_proxy or http_status is not "
                            "compiled in";
        }
        backend_ = std::make_unique<Backend>("b", [](BackendConn& c, const BackendRequest& r) {
            c.send(Backend::ok_response("backend " + r.method + " " + r.target + "\n"));
        });
        dir_ = halo_.prefix();
        halo_.write("htpasswd", htpasswd_text());
        halo_.write("teams/blue", "md5:$1$abcdefgh$ywpTNDTYPzAT3Ohgseebp/\n");
        for (const char* d :
             {"", "missing/", "folder/", "team/", "open/", "open/nested/", "any/", "any-allow/",
              "all/", "all-deny/", "le/", "le-auth/", "ep/", "any-try/"}) {
            halo_.write(std::string("www/") + d + "index.html", std::string("page ") + d + "\n");
        }
        halo_.write("www/401.html", "please log in\n");
        std::string conf =
            "daemon off;\nworker_processes 2;\nerror_log logs/error.log info;\nevents {}\n"
            "http {\n    log_format u '$remote_user|$status|$uri';\n"
            "    access_log logs/access.log u;\n    server {\n"
            "        listen 127.0.0.1:%%PORT_0%%;\n        listen 127.0.0.1:%%PORT_1%% http2;\n" +
            std::string(kLocations) + std::string(kHaloOnly) + "    }\n}\n";
        conf = replace_all(conf, "%%DIR%%", dir_);
        conf = replace_all(conf, "%%BACKEND%%", backend_->address());
        halo_.write_conf(conf);
        ASSERT_TRUE(halo_.start());
        ASSERT_EQ(halo_.wait_workers(2).size(), 2u);
    }

    RawResponse get(std::string_view path, std::string_view extra = {},
                    std::string_view method = "GET") {
        return fetch_raw(halo_.port(0), request_text(path, extra, method));
    }
    int status(std::string_view path, std::string_view extra = {},
               std::string_view method = "GET") {
        return get(path, extra, method).status;
    }

    Halo halo_;
    std::unique_ptr<Backend> backend_;
    std::string dir_;
};

TEST_F(AuthBasicTest, EachHashKindAcceptsItsPasswordAndRefusesAWrongOne) {
    for (const Account& a : kAccounts) {
        SCOPED_TRACE(a.user);
        // Twice each: the two workers may both answer.
        for (int i = 0; i < 2; i++) {
            RawResponse r = get("/", auth(a.user, a.password));
            EXPECT_EQ(r.status, 200) << r.raw;
            EXPECT_EQ(r.body, "page \n");
        }
        RawResponse bad = get("/", auth(a.user, std::string("x") + a.password));
        EXPECT_EQ(bad.status, 401);
        EXPECT_EQ(bad.header("WWW-Authenticate"), "Basic realm=\"Restricted localhost\"");
    }
}

TEST_F(AuthBasicTest, Http2StreamsAreCheckedTheSame) {
    h2::Client c;
    ASSERT_TRUE(c.connect(halo_.port(1)));
    ASSERT_TRUE(c.handshake()) << c.error();
    h2::Response none = c.request(h2::Client::request_headers("/"));
    EXPECT_EQ(none.status, 401) << none.error;
    EXPECT_EQ(none.header("www-authenticate"), "Basic realm=\"Restricted localhost\"");
    std::string good = "Basic " + base64("sha512:secret6");
    h2::Response ok = c.request(h2::Client::request_headers("/", "GET", {{"authorization", good}}));
    EXPECT_EQ(ok.status, 200) << ok.error;
    EXPECT_EQ(ok.body, "page \n");
    h2::Response any = c.request(h2::Client::request_headers("/any/"));
    EXPECT_EQ(any.status, 401);
    h2::Response le = c.request(h2::Client::request_headers("/le/", "DELETE"));
    EXPECT_EQ(le.status, 403);
}

TEST_F(AuthBasicTest, RefusalsGetTheChallengeAndNginxsLogLines) {
    RawResponse none = get("/");
    EXPECT_EQ(none.status, 401);
    EXPECT_EQ(none.header("WWW-Authenticate"), "Basic realm=\"Restricted localhost\"");
    EXPECT_NE(none.body.find("<title>401 Authorization Required</title>"), std::string::npos);
    EXPECT_EQ(status("/", auth("nobody", "x")), 401);
    EXPECT_EQ(status("/", auth("md5", "wrong")), 401);
    // Malformed credentials are no credentials.
    for (const char* h :
         {"Authorization: Basic\r\n", "Authorization: Basic !!!!\r\n",
          "Authorization: Bearer abc\r\n", "Authorization: Basic bm9jb2xvbg==\r\n"}) {
        RawResponse r = get("/", h);
        EXPECT_EQ(r.status, 401) << h;
        EXPECT_TRUE(r.has("WWW-Authenticate")) << h;
    }
    std::string file = dir_ + "/htpasswd";
    EXPECT_TRUE(wait_until([&] {
        std::string log = halo_.error_log();
        return log.find("user \"nobody\" was not found in \"" + file + "\"") != std::string::npos &&
               log.find("user \"md5\": password mismatch") != std::string::npos &&
               log.find("[info]") != std::string::npos &&
               log.find("no user/password was provided for basic authentication") !=
                   std::string::npos;
    })) << halo_.error_log();
    std::vector<std::string> lines = log_lines_with(halo_.error_log(), "password mismatch");
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_NE(lines[0].find("[error]"), std::string::npos) << lines[0];
    EXPECT_NE(lines[0].find("request: \"GET / HTTP/1.1\""), std::string::npos) << lines[0];
}

TEST_F(AuthBasicTest, ErrorPageKeepsTheChallenge) {
    RawResponse r = get("/ep/");
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.body, "please log in\n");
    EXPECT_EQ(r.header("WWW-Authenticate"), "Basic realm=\"ep\"");
    EXPECT_EQ(get("/ep/", auth("md5", "secret1")).body, "page ep/\n");
}

TEST_F(AuthBasicTest, MissingFileIs403AndAnUnreadableOne500AsNginx) {
    RawResponse missing = get("/missing/", auth("md5", "secret1"));
    EXPECT_EQ(missing.status, 403);
    EXPECT_FALSE(missing.has("WWW-Authenticate"));
    EXPECT_EQ(status("/folder/", auth("md5", "secret1")), 500);
    EXPECT_TRUE(wait_until([&] {
        std::string log = halo_.error_log();
        return log.find("[error]") != std::string::npos &&
               log.find("open() \"" + dir_ + "/nofile\" failed (2: No such file or directory)") !=
                   std::string::npos &&
               log.find("[crit]") != std::string::npos &&
               log.find("pread() \"" + dir_ + "/www\" failed (21: Is a directory)") !=
                   std::string::npos;
    })) << halo_.error_log();
}

TEST_F(AuthBasicTest, AChangedFileTakesEffectWithoutReload) {
    EXPECT_EQ(status("/", auth("plain", "secretplain")), 200);
    EXPECT_EQ(status("/", auth("newcomer", "n")), 401);
    // Rewritten in place (same size for plain's line: only the content differs).
    std::string text = replace_all(htpasswd_text(), "{PLAIN}secretplain", "{PLAIN}secretPLAIN");
    halo_.write("htpasswd", text + "newcomer:{PLAIN}n\n");
    for (int i = 0; i < 4; i++) {  // both workers
        EXPECT_EQ(status("/", auth("plain", "secretplain")), 401);
        EXPECT_EQ(status("/", auth("plain", "secretPLAIN")), 200);
        EXPECT_EQ(status("/", auth("newcomer", "n")), 200);
    }
    // Replaced by rename (as editors and `htpasswd` do), then removed.
    halo_.write("htpasswd.new", "plain:{PLAIN}third\n");
    ASSERT_EQ(rename((dir_ + "/htpasswd.new").c_str(), (dir_ + "/htpasswd").c_str()), 0);
    for (int i = 0; i < 4; i++) {
        EXPECT_EQ(status("/", auth("plain", "third")), 200);
        EXPECT_EQ(status("/", auth("newcomer", "n")), 401);
    }
    ASSERT_EQ(unlink((dir_ + "/htpasswd").c_str()), 0);
    EXPECT_EQ(status("/", auth("plain", "third")), 403);
}

TEST_F(AuthBasicTest, RealmAndFileNameWithVariables) {
    RawResponse r = fetch_raw(halo_.port(0),
                              "GET / HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.header("WWW-Authenticate"), "Basic realm=\"Restricted shop.example\"");
    EXPECT_EQ(get("/team/?team=blue").header("WWW-Authenticate"), "Basic realm=\"team blue\"");
    EXPECT_EQ(status("/team/?team=blue", auth("md5", "secret1")), 200);
    EXPECT_EQ(status("/team/?team=blue", auth("sha", "secretsha")), 401);  // not in blue's file
    EXPECT_EQ(status("/team/?team=red", auth("md5", "secret1")), 403);     // no such file
}

TEST_F(AuthBasicTest, AuthBasicOffInANestedLocation) {
    EXPECT_EQ(status("/open/"), 401);
    RawResponse nested = get("/open/nested/");
    EXPECT_EQ(nested.status, 200);
    EXPECT_EQ(nested.body, "page open/nested/\n");
    EXPECT_FALSE(nested.has("WWW-Authenticate"));
}

TEST_F(AuthBasicTest, SatisfyAnyAndAllWithAllowAndDeny) {
    // any + deny all: the password alone lets the request in; without it the 401 stays.
    EXPECT_EQ(status("/any/", auth("md5", "secret1")), 200);
    RawResponse r = get("/any/");
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.header("WWW-Authenticate"), "Basic realm=\"any\"");
    EXPECT_EQ(status("/any/", auth("md5", "bad")), 401);
    // any + allow 127.0.0.1: the address alone lets it in, with no challenge.
    r = get("/any-allow/");
    EXPECT_EQ(r.status, 200);
    EXPECT_FALSE(r.has("WWW-Authenticate"));
    // try_files runs once the checks let the request in, not before (nginx's phases): an
    // allow under `satisfy any` does not skip it, and a kept 401 answers before it.
    EXPECT_EQ(get("/any-try/missing").body, "page any-try/\n");
    EXPECT_EQ(status("/any-try-auth/missing"), 401);
    EXPECT_EQ(get("/any-try-auth/missing", auth("md5", "secret1")).body, "page open/nested/\n");
    // all: the address and the password.
    EXPECT_EQ(status("/all/"), 401);
    EXPECT_EQ(status("/all/", auth("md5", "secret1")), 200);
    EXPECT_EQ(status("/all-deny/", auth("md5", "secret1")), 403);
    EXPECT_TRUE(wait_until([&] {
        return !log_lines_with(halo_.error_log(), "access forbidden by rule").empty();
    })) << halo_.error_log();
}

TEST_F(AuthBasicTest, LimitExceptGetDenyAll) {
    EXPECT_EQ(status("/le/"), 200);
    EXPECT_EQ(status("/le/", {}, "HEAD"), 200);  // GET implies HEAD
    for (const char* m : {"POST", "PUT", "DELETE", "OPTIONS", "PATCH", "BREW"}) {
        EXPECT_EQ(status("/le/", {}, m), 403) << m;
    }
    // Auth for the methods not listed only.
    EXPECT_EQ(status("/le-auth/"), 200);
    EXPECT_EQ(status("/le-auth/", {}, "DELETE"), 401);
    EXPECT_EQ(status("/le-auth/", auth("md5", "secret1"), "DELETE"), 405);  // then static's 405
    // A proxied location: the block's confs proxy too.
    RawResponse post = get("/proxied/a", "Content-Length: 0\r\n", "POST");
    EXPECT_EQ(post.status, 200) << post.raw;
    EXPECT_EQ(post.body, "backend POST /proxied/a\n");
    EXPECT_EQ(get("/proxied/a").body, "backend GET /proxied/a\n");
    EXPECT_EQ(status("/proxied-deny/a", "Content-Length: 0\r\n", "POST"), 403);
    EXPECT_EQ(get("/proxied-deny/a").body, "backend GET /proxied-deny/a\n");
}

TEST_F(AuthBasicTest, RemoteUserAndFailuresOnTheStatusPage) {
    EXPECT_EQ(status("/", auth("md5", "secret1")), 200);
    EXPECT_EQ(status("/open/nested/", auth("visitor", "whatever")), 200);  // not checked there
    EXPECT_EQ(status("/"), 401);
    EXPECT_EQ(status("/", auth("nobody", "x")), 401);
    EXPECT_EQ(status("/", auth("md5", "bad")), 401);
    EXPECT_EQ(status("/", auth("md5", "bad")), 401);
    EXPECT_TRUE(wait_until([&] {
        std::string log = read_file(halo_.path("logs/access.log")).value_or("");
        return log.find("md5|200|/index.html\n") != std::string::npos &&
               log.find("visitor|200|/open/nested/index.html\n") != std::string::npos &&
               log.find("-|401|/\n") != std::string::npos &&
               log.find("nobody|401|/\n") != std::string::npos;
    })) << read_file(halo_.path("logs/access.log")).value_or("");
    std::string metrics = get("/metrics").body;
    EXPECT_NE(metrics.find("halo_auth_basic_failures_total{reason=\"no_credentials\"} 1\n"),
              std::string::npos)
        << metrics;
    EXPECT_NE(metrics.find("halo_auth_basic_failures_total{reason=\"user_not_found\"} 1\n"),
              std::string::npos)
        << metrics;
    EXPECT_NE(metrics.find("halo_auth_basic_failures_total{reason=\"password_mismatch\"} 2\n"),
              std::string::npos)
        << metrics;
    std::string json = get("/metrics?format=json").body;
    EXPECT_NE(json.find("\"auth_basic\":{\"failures\":4,\"no_credentials\":1,\"user_not_found\":1,"
                        "\"password_mismatch\":2}"),
              std::string::npos)
        << json;
}

// ---- config errors ----

struct ConfCase {
    const char* inside;  // in `location / { }`, line 7
    const char* message;
};

TEST(AuthBasicConfigErrorsTest, ErrorsNameTheFileAndLine) {
    if (!halo_has_module("http_auth_basic")) {
        GTEST_SKIP() << "http_auth_basic is not compiled in";
    }
    const ConfCase cases[] = {
        {"limit_except GET FETCH { deny all; }", "invalid method \"FETCH\""},
        {"limit_except GET { root /tmp; }", "\"root\" directive is not allowed here"},
        {"limit_except GET { return 403; }", "\"return\" directive is not allowed here"},
        {"limit_except GET { } limit_except POST { }", "\"limit_except\" directive is duplicate"},
        {"auth_basic a; auth_basic b;", "\"auth_basic\" directive is duplicate"},
        {"auth_basic_user_file $nope;", "unknown \"nope\" variable"},
        {"satisfy maybe;",
         "invalid value \"maybe\" in \"satisfy\" directive, it must be \"all\" or \"any\""},
    };
    for (const ConfCase& c : cases) {
        Halo halo;
        halo.write_conf(std::string("daemon off;\nevents {}\nhttp {\n server {\n") +
                        "  listen 127.0.0.1:%%PORT_0%%;\n  location / {\n   " + c.inside +
                        "\n  }\n }\n}\n");
        RunResult r = halo.run({"-t"});
        EXPECT_EQ(r.status, 1) << r;
        EXPECT_NE(
            r.err.find(std::string("[emerg] ") + c.message + " in " + halo.conf_path() + ":7"),
            std::string::npos)
            << c.inside << "\n"
            << r;
    }
    Halo halo;
    halo.write_conf(
        "daemon off;\nevents {}\nhttp {\n server {\n  listen 127.0.0.1:%%PORT_0%%;\n"
        "  limit_except GET { deny all; }\n }\n}\n");
    RunResult r = halo.run({"-t"});
    EXPECT_NE(
        r.err.find("\"limit_except\" directive is not allowed here in " + halo.conf_path() + ":6"),
        std::string::npos)
        << r;
}

// ---- side by side with Debian's nginx ----

TEST(AuthBasicNginxTest, StatusesAndChallengesMatchNginx) {
    if (!halo_has_module("http_auth_basic") || !halo_has_module("http_access")) {
        GTEST_SKIP() << "http_auth_basic or http_access is not compiled in";
    }
    if (!nginx_installed()) {
        GTEST_SKIP() << "Debian's nginx (/usr/sbin/nginx) is not installed";
    }
    Halo halo;
    Nginx nginx;
    std::string dir = halo.prefix();
    halo.write("htpasswd", htpasswd_text());
    halo.write("teams/blue", "md5:$1$abcdefgh$ywpTNDTYPzAT3Ohgseebp/\n");
    for (const char* d : {"", "open/", "open/nested/", "any/", "any-allow/", "all/", "all-deny/",
                          "le/", "le-auth/", "team/", "ep/", "any-try/"}) {
        halo.write(std::string("www/") + d + "index.html", std::string("page ") + d + "\n");
    }
    halo.write("www/401.html", "please log in\n");
    std::string locations = replace_all(std::string(kLocations), "%%DIR%%", dir);
    halo.write_conf(
        "daemon off;\nerror_log logs/error.log info;\nevents {}\nhttp {\n"
        " access_log off;\n server {\n  listen 127.0.0.1:%%PORT_0%%;\n" +
        locations + " }\n}\n");
    ASSERT_TRUE(halo.start());
    ASSERT_TRUE(
        nginx.start("error_log logs/error.log info;\nevents {}\nhttp {\n access_log off;\n"
                    " server {\n  listen 127.0.0.1:%%PORT_0%%;\n" +
                    locations + " }\n}\n"));
    struct Req {
        const char* path;
        std::string extra;
        const char* method;
    };
    std::vector<Req> reqs = {
        {"/", "", "GET"},
        {"/", auth("nobody", "x"), "GET"},
        {"/", "Authorization: Basic !!!!\r\n", "GET"},
        {"/", "Authorization: basic   " + base64("md5:secret1") + "\r\n", "GET"},
        {"/", "Authorization: Basic " + base64("md5:secret1").substr(0, 20) + "\r\n", "GET"},
        {"/", auth("md5", "secret1") + auth("md5", "secret1"), "GET"},  // duplicate: 400
        {"/missing/", auth("md5", "secret1"), "GET"},
        {"/folder/", auth("md5", "secret1"), "GET"},
        {"/team/?team=blue", "", "GET"},
        {"/team/?team=blue", auth("md5", "secret1"), "GET"},
        {"/team/?team=red", auth("md5", "secret1"), "GET"},
        {"/open/nested/", "", "GET"},
        {"/any/", "", "GET"},
        {"/any/", auth("md5", "secret1"), "GET"},
        {"/any/", auth("md5", "bad"), "GET"},
        {"/any-allow/", "", "GET"},
        {"/all/", "", "GET"},
        {"/all/", auth("md5", "secret1"), "GET"},
        {"/all-deny/", auth("md5", "secret1"), "GET"},
        {"/le/", "", "GET"},
        {"/le/", "", "HEAD"},
        {"/le/", "Content-Length: 0\r\n", "POST"},
        {"/le/", "", "BREW"},
        {"/le-auth/", "", "DELETE"},
        {"/le-auth/", auth("md5", "secret1"), "DELETE"},
        {"/le-auth/", "Content-Length: 0\r\n", "POST"},
        {"/any-try/missing", "", "GET"},
        {"/any-try-auth/missing", "", "GET"},
        {"/any-try-auth/missing", auth("md5", "secret1"), "GET"},
        {"/ep/", "", "GET"},
        {"/ep/", auth("md5", "secret1"), "GET"},
    };
    for (const Account& a : kAccounts) {
        reqs.push_back({"/", auth(a.user, a.password), "GET"});
        reqs.push_back({"/", auth(a.user, std::string(a.password) + "!"), "GET"});
    }
    for (const Req& q : reqs) {
        std::string request = request_text(q.path, q.extra, q.method);
        RawResponse h = fetch_raw(halo.port(0), request);
        RawResponse n = fetch_raw(nginx.port(), request);
        ASSERT_NE(n.status, 0) << "nginx did not answer " << request;
        EXPECT_EQ(h.status, n.status) << request;
        EXPECT_EQ(h.lines({"WWW-Authenticate"}), n.lines({"WWW-Authenticate"})) << request;
        if (n.status == 200 || q.path == std::string("/ep/")) {
            EXPECT_EQ(h.body, n.body) << request;
        }
    }
}

}  // namespace
}  // namespace halo_test
