// auth_basic, auth_basic_user_file, satisfy and limit_except through the config system and
// requests served in this process: accepted forms, every refusal with nginx's words and the
// directive's file:line, inheritance (`auth_basic off` below), the satisfy rules with
// allow/deny, and limit_except's methods.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "http/basic_auth.h"
#include "support/http_unit.h"

namespace {

using ::testing::HasSubstr;

std::string auth(std::string_view user_password) {
    return "Authorization: Basic " + http::encode_base64(user_password) + "\r\n";
}

class AuthBasicConfigTest : public support::HttpUnitTest {
  protected:
    void SetUp() override {
        if (registry_.find("http_auth_basic") == nullptr ||
            registry_.find("http_access") == nullptr) {
            GTEST_SKIP() << "http_auth_basic or http_access is not compiled in";
        }
        dir_.write("htpasswd", "alice:{PLAIN}open\nbob:{SHA}31mHvV5u5LyRnBlFzjgog1WyY9k=\n");
        dir_.write("html/index.html", "home\n");
        dir_.write("html/a/index.html", "a\n");
        dir_.write("html/a/b/index.html", "b\n");
    }
    std::string root() const { return "  root " + dir_.file("html") + ";\n"; }
};

TEST_F(AuthBasicConfigTest, AcceptedForms) {
    core::Status s = load(
        "http {\n"
        " auth_basic \"realm of $host\";\n"
        " auth_basic_user_file htpasswd;\n"
        " satisfy any;\n"
        " server {\n"
        "  listen 127.0.0.1:8080;\n"
        "  auth_basic off;\n"
        "  satisfy all;\n"
        "  location / {\n"
        "   auth_basic_user_file /etc/$host.htpasswd;\n"
        "   limit_except GET post PATCH {\n"
        "    allow 127.0.0.1; deny all;\n"
        "    auth_basic x; auth_basic_user_file htpasswd;\n"
        "    access_log off;\n"
        "   }\n"
        "  }\n"
        "  location /p { proxy_pass http://127.0.0.1:1; limit_except GET { deny all; } }\n"
        "  location /q/ { limit_except GET { proxy_pass http://127.0.0.1:1; } }\n"
        " }\n"
        "}\n");
    EXPECT_TRUE(s.is_ok()) << s.message();
}

TEST_F(AuthBasicConfigTest, Refusals) {
    EXPECT_EQ(server_error("  auth_basic a;\n  auth_basic b;"),
              "\"auth_basic\" directive is duplicate" + at(5));
    EXPECT_EQ(server_error("  auth_basic_user_file a;\n  auth_basic_user_file b;"),
              "\"auth_basic_user_file\" directive is duplicate" + at(5));
    EXPECT_EQ(server_error("  auth_basic a b;"),
              "invalid number of arguments in \"auth_basic\" directive" + at(4));
    EXPECT_EQ(server_error("  auth_basic $no_such_var;"),
              "unknown \"no_such_var\" variable" + at(4));
    EXPECT_EQ(
        server_error("  satisfy some;"),
        "invalid value \"some\" in \"satisfy\" directive, it must be \"all\" or \"any\"" + at(4));
    EXPECT_EQ(server_error("  satisfy any;\n  satisfy all;"),
              "\"satisfy\" directive is duplicate" + at(5));
    // limit_except: only in a location, known methods, once, nginx's directives inside.
    EXPECT_EQ(server_error("  limit_except GET { deny all; }"),
              "\"limit_except\" directive is not allowed here" + at(4));
    EXPECT_EQ(server_error("  location / { limit_except GET FETCH { deny all; } }"),
              "invalid method \"FETCH\"" + at(4));
    EXPECT_EQ(server_error("  location / {\n   limit_except GET { }\n   limit_except POST { }\n"
                           "  }"),
              "\"limit_except\" directive is duplicate" + at(6));
    EXPECT_EQ(server_error("  location / { limit_except { } }"),
              "invalid number of arguments in \"limit_except\" directive" + at(4));
    EXPECT_EQ(server_error("  location / { limit_except GET; }"),
              "directive \"limit_except\" has no opening \"{\"" + at(4));
    EXPECT_EQ(server_error("  location / {\n   limit_except GET {\n    root /tmp;\n   }\n  }"),
              "\"root\" directive is not allowed here" + at(6));
    EXPECT_EQ(server_error("  location / { limit_except GET { satisfy any; } }"),
              "\"satisfy\" directive is not allowed here" + at(4));
    EXPECT_EQ(server_error("  location / { limit_except GET { location /x { } } }"),
              "\"location\" directive is not allowed here" + at(4));
    EXPECT_EQ(server_error("  location / { if ($args) { limit_except GET { } } }"),
              "\"limit_except\" directive is not allowed here" + at(4));
    EXPECT_EQ(
        server_error("  location / { limit_except GET { proxy_pass http://127.0.0.1:1/x; } }"),
        "\"proxy_pass\" cannot have URI part in location given by regular expression, or "
        "inside named location, or inside \"if\" statement, or inside \"limit_except\" "
        "block" +
            at(4));
}

TEST_F(AuthBasicConfigTest, ChecksCredentialsAndInherits) {
    serve(root() +
          "  auth_basic \"Team $host\";\n"
          "  auth_basic_user_file htpasswd;\n"
          "  location /a/ { location /a/b/ { auth_basic off; } }\n");
    support::Response r = get("/");
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.header("www-authenticate"), "Basic realm=\"Team a\"");
    EXPECT_THAT(r.body, HasSubstr("<title>401 Authorization Required</title>"));
    EXPECT_EQ(get("/", auth("alice:open")).status, 200);
    EXPECT_EQ(get("/", auth("bob:secretsha")).status, 200);
    EXPECT_EQ(get("/", auth("alice:wrong")).status, 401);
    EXPECT_EQ(get("/", auth("nobody:open")).status, 401);
    EXPECT_EQ(get("/", "Authorization: Basic !!!!\r\n").status, 401);
    EXPECT_EQ(get("/a/", auth("alice:open")).body, "a\n");
    EXPECT_EQ(get("/a/").status, 401);
    // auth_basic off in the nested location.
    EXPECT_EQ(get("/a/b/").status, 200);
    EXPECT_EQ(get("/a/b/").body, "b\n");
}

TEST_F(AuthBasicConfigTest, ARealmThatEvaluatesToOffSwitchesTheCheckOff) {
    ASSERT_TRUE(load("http {\n"
                     " map $arg_open $realm { 1 off; default \"Closed\"; }\n"
                     " server {\n"
                     "  listen 127.0.0.1:8080;\n" +
                     root() +
                     "  auth_basic $realm;\n"
                     "  auth_basic_user_file htpasswd;\n"
                     " }\n"
                     "}\n")
                    .is_ok());
    EXPECT_EQ(get("/").header("www-authenticate"), "Basic realm=\"Closed\"");
    EXPECT_EQ(get("/?open=1").status, 200);
}

TEST_F(AuthBasicConfigTest, MissingFileRefusesWith403AsNginx) {
    serve(root() + "  auth_basic x;\n  auth_basic_user_file nofile;\n");
    support::Response r = get("/", auth("alice:open"));
    EXPECT_EQ(r.status, 403);
    EXPECT_FALSE(r.has_header("www-authenticate"));
    // Without credentials the file is not opened: the challenge comes first.
    EXPECT_EQ(get("/").status, 401);
}

TEST_F(AuthBasicConfigTest, SatisfyAllAndAny) {
    serve(root() +
          "  auth_basic x;\n  auth_basic_user_file htpasswd;\n"
          "  location = /all/ { deny all; }\n"
          "  location = /any-deny/ { satisfy any; deny all; }\n"
          "  location = /any-allow/ { satisfy any; allow all; }\n"
          "  location = /any-nofile/ { satisfy any; deny all; auth_basic_user_file nofile; }\n"
          "  location = /all-allow/ { allow all; }\n");
    // all: the deny answers first, whatever the credentials.
    EXPECT_EQ(get("/all/", auth("alice:open")).status, 403);
    EXPECT_EQ(get("/all-allow/").status, 401);
    EXPECT_EQ(get("/all-allow/", auth("alice:open")).status, 404);  // no index file: passed
    // any: the password lets the request in despite the deny; without it, the 401 stays
    // (a 401 outranks the deny's 403) with its challenge.
    EXPECT_EQ(get("/any-deny/", auth("alice:open")).status, 404);
    support::Response r = get("/any-deny/");
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.header("www-authenticate"), "Basic realm=\"x\"");
    EXPECT_EQ(get("/any-deny/", auth("alice:bad")).status, 401);
    // any: the allow lets it in without credentials (auth_basic is not asked).
    r = get("/any-allow/");
    EXPECT_EQ(r.status, 404);
    EXPECT_FALSE(r.has_header("www-authenticate"));
    // any: the missing file's 403 and the deny's 403.
    EXPECT_EQ(get("/any-nofile/", auth("alice:open")).status, 403);
}

TEST_F(AuthBasicConfigTest, LimitExceptAppliesToTheMethodsNotListed) {
    serve(root() +
          "  location / { limit_except GET { deny all; } }\n"
          "  location /a/ {\n"
          "   limit_except POST { auth_basic x; auth_basic_user_file htpasswd; }\n"
          "   location /a/b/ { }\n"
          "  }\n");
    EXPECT_EQ(get("/").status, 200);
    EXPECT_EQ(get("/", {}, "a", "HEAD").status, 200);  // GET implies HEAD
    for (const char* m : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND", "FOO"}) {
        EXPECT_EQ(get("/", {}, "a", m).status, 403) << m;
    }
    // POST is listed: it passes (and the static module refuses it with 405); GET is not.
    EXPECT_EQ(get("/a/", {}, "a", "POST").status, 405);
    EXPECT_EQ(get("/a/").status, 401);
    EXPECT_EQ(get("/a/", {}, "a", "HEAD").status, 401);
    EXPECT_EQ(get("/a/", auth("alice:open")).status, 200);
    // The nested location does not inherit the block (nginx).
    EXPECT_EQ(get("/a/b/").status, 200);
}

}  // namespace
