// The rewrite module at run time, served in this process over a socketpair: rewrite flags
// (none, last, break, redirect, permanent), arguments, captures, the 10-cycle limit, if
// conditions and if locations, set, and the server script before the location search.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "support/http_unit.h"

namespace mod::http_rewrite {
namespace {

using ::testing::HasSubstr;

class RewriteTest : public support::HttpUnitTest {};

// ---- rewrite flags ----

TEST_F(RewriteTest, WithoutFlagTheScriptGoesOn) {
    serve("location / { rewrite ^/a$ /b; rewrite ^/b$ /c; return 200 \"$uri\"; }");
    EXPECT_EQ(body("/a"), "/c");
    EXPECT_EQ(body("/b"), "/c");
    EXPECT_EQ(body("/x"), "/x");
}

TEST_F(RewriteTest, WithoutFlagTheLocationIsSearchedAtTheEnd) {
    serve(
        "location /a { rewrite ^ /b; set $x after; }\n"
        "location /b { return 200 \"b $x\"; }");
    EXPECT_EQ(body("/a"), "b after");
}

TEST_F(RewriteTest, LastStopsAndSearchesTheLocationAgain) {
    serve(
        "location /a { rewrite ^/a(.*)$ /b$1 last; return 200 not-reached; }\n"
        "location /b { return 200 \"b:$uri\"; }");
    EXPECT_EQ(body("/a/x"), "b:/b/x");
}

TEST_F(RewriteTest, BreakFlagEndsTheScriptAndStaysInTheLocation) {
    dir_.write("ra/b", "file b of /a\n");
    serve("location /a { root " + dir_.file("ra") +
          "; rewrite ^ /b break; return 200 not-reached; }\n"
          "location /b { return 200 location-b; }");
    support::Response r = get("/a");
    EXPECT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.body, "file b of /a\n");  // the static handler of /a serves the new URI
}

TEST_F(RewriteTest, BreakDirectiveKeepsTheRewrittenUriInThisLocation) {
    std::filesystem::create_directories(dir_.file("html"));
    dir_.write("html/b", "file b\n");
    serve(
        "location /a { rewrite ^ /b; break; return 200 not-reached; }\n"
        "location /b { return 200 location-b; }");
    support::Response r = get("/a");
    EXPECT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.body, "file b\n");  // the static handler of /a serves /b
}

TEST_F(RewriteTest, RedirectAndPermanent) {
    serve(
        "location /old/ { rewrite ^/old/(.*)$ /new/$1 redirect; }\n"
        "location /perm/ { rewrite ^/perm/(.*)$ /new/$1 permanent; }");
    support::Response r = get("/old/x");
    EXPECT_EQ(r.status, 302);
    EXPECT_EQ(r.header("location"), "http://a:8080/new/x");      // absolute, as nginx
    EXPECT_THAT(r.body, HasSubstr("<title>302 Found</title>"));  // nginx's page
    support::Response p = get("/perm/y");
    EXPECT_EQ(p.status, 301);
    EXPECT_EQ(p.header("location"), "http://a:8080/new/y");
}

TEST_F(RewriteTest, UrlReplacementIsARedirect) {
    serve(
        "location /h { rewrite ^ http://b/x; return 200 not-reached; }\n"
        "location /s { rewrite ^ https://b/y; }\n"
        "location /v { rewrite ^ $scheme://b/z; }\n"
        "location /p { rewrite ^ http://b/p permanent; }");
    EXPECT_EQ(get("/h").status, 302);
    EXPECT_EQ(get("/h").header("location"), "http://b/x");
    EXPECT_EQ(get("/s").header("location"), "https://b/y");
    EXPECT_EQ(get("/v").header("location"), "http://b/z");
    EXPECT_EQ(get("/p").status, 301);
}

TEST_F(RewriteTest, HostAndPortOfTheRedirect) {
    serve("location / { rewrite ^ /to redirect; }");
    // The port is the listen socket's (127.0.0.1:8080 in the harness config), never Host's.
    EXPECT_EQ(get("/", {}, "Example.COM:8080").header("location"), "http://example.com:8080/to");
    EXPECT_EQ(get("/", {}, "[::1]:81").header("location"), "http://[::1]:8080/to");
}

// ---- arguments ----

TEST_F(RewriteTest, OriginalArgumentsAreKept) {
    serve("location / { rewrite ^ /b; return 200 \"$uri?$args\"; }");
    EXPECT_EQ(body("/a?q=1"), "/b?q=1");
    EXPECT_EQ(body("/a"), "/b?");
}

TEST_F(RewriteTest, ReplacementArgumentsComeFirst) {
    serve("location / { rewrite ^ /b?x=1; return 200 \"$uri?$args $arg_x $arg_q\"; }");
    EXPECT_EQ(body("/a?q=2"), "/b?x=1&q=2 1 2");
    EXPECT_EQ(body("/a"), "/b?x=1 1 ");
}

TEST_F(RewriteTest, TrailingQuestionMarkDropsTheArguments) {
    serve(
        "location /d { rewrite ^ /b?; return 200 \"[$args]\"; }\n"
        "location /n { rewrite ^ /b?x=1?; return 200 \"[$args]\"; }");
    EXPECT_EQ(body("/d?q=1"), "[]");
    EXPECT_EQ(body("/n?q=1"), "[x=1]");
}

TEST_F(RewriteTest, RedirectArguments) {
    serve(
        "location /a { rewrite ^ /r redirect; }\n"
        "location /b { rewrite ^ /r?x=1 redirect; }\n"
        "location /c { rewrite ^ /r? redirect; }\n"
        "location /d { rewrite ^ /r?x=1? redirect; }");
    EXPECT_EQ(get("/a?q=1").header("location"), "http://a:8080/r?q=1");
    EXPECT_EQ(get("/a").header("location"), "http://a:8080/r");
    EXPECT_EQ(get("/b?q=1").header("location"), "http://a:8080/r?x=1&q=1");
    EXPECT_EQ(get("/c?q=1").header("location"), "http://a:8080/r");
    EXPECT_EQ(get("/d?q=1").header("location"), "http://a:8080/r?x=1");
}

// ---- captures ----

TEST_F(RewriteTest, CapturesInTheReplacementAndAfterwards) {
    serve("location / { rewrite ^/c/(\\w+)/(\\w+)$ /d/$2/$1; return 200 \"$uri $1 $2\"; }");
    EXPECT_EQ(body("/c/x/y"), "/d/y/x x y");
}

TEST_F(RewriteTest, ARegexThatDoesNotMatchClearsTheCaptures) {
    serve("location ~ ^/e/(.*)$ { rewrite ^/nomatch(.*) /x; return 200 \"[$1]\"; }");
    EXPECT_EQ(body("/e/abc"), "[]");
}

TEST_F(RewriteTest, CapturesStayAfterLastUnlessARegexLocationMatches) {
    serve(
        "location /c1/ { rewrite ^/c1/(.*)$ /c2 last; }\n"
        "location /c2 { return 200 \"[$1]\"; }\n"
        "location /r1/ { rewrite ^/r1/(.*)$ /r2/z last; }\n"
        "location ~ ^/r2/(.*)$ { return 200 \"[$1]\"; }");
    EXPECT_EQ(body("/c1/kept"), "[kept]");
    EXPECT_EQ(body("/r1/gone"), "[z]");
}

TEST_F(RewriteTest, CapturesEscapedInArgumentsWhenTheUriWasEscaped) {
    // nginx escapes captures copied into arguments only when the request URI had %XX or '+'.
    serve("location /s/ { rewrite ^/s/(.*)$ /t?q=$1; return 200 \"$uri $args\"; }");
    EXPECT_EQ(body("/s/a%20b%26c"), "/t q=a%20b%26c");
    EXPECT_EQ(body("/s/ab"), "/t q=ab");
}

TEST_F(RewriteTest, CapturesInARedirect) {
    serve("location /s/ { rewrite ^/s/(.*)$ http://x/$1 redirect; }");
    EXPECT_EQ(get("/s/a%20b").header("location"), "http://x/a%20b");
    EXPECT_EQ(get("/s/a%41b").header("location"), "http://x/aAb");
    EXPECT_EQ(get("/s/plain").header("location"), "http://x/plain");
}

// ---- errors ----

TEST_F(RewriteTest, EndlessRewriteIs500) {
    serve("location /l { rewrite ^ /l last; }");
    EXPECT_EQ(get("/l").status, 500);
    serve("location /l { rewrite ^ /l; }");  // without a flag too
    EXPECT_EQ(get("/l").status, 500);
}

TEST_F(RewriteTest, TenChangesAreAllowed) {
    std::string locs;
    for (int i = 0; i < 10; i++) {
        locs += "location = /" + std::to_string(i) + " { rewrite ^ /" + std::to_string(i + 1) +
                " last; }\n";
    }
    serve(locs + "location = /10 { return 200 ten; }\nlocation = /11 { return 200 eleven; }");
    EXPECT_EQ(body("/0"), "ten");
    serve(locs + "location = /10 { rewrite ^ /11 last; }\nlocation = /11 { return 200 x; }");
    EXPECT_EQ(get("/0").status, 500);
}

TEST_F(RewriteTest, EmptyRewrittenUriIs500) {
    serve("location / { rewrite ^ ?; }");
    EXPECT_EQ(get("/a").status, 500);
}

// ---- the server script ----

TEST_F(RewriteTest, ServerRewriteRunsBeforeTheLocationSearch) {
    serve(
        "rewrite ^/old/(.*)$ /new/$1;\n"
        "location /new/ { return 200 \"new $uri\"; }\n"
        "location /old/ { return 200 old; }");
    EXPECT_EQ(body("/old/x"), "new /new/x");
}

TEST_F(RewriteTest, ServerLastStopsTheServerScript) {
    serve(
        "rewrite ^/a$ /b last;\n rewrite ^/b$ /c;\n"
        "location / { return 200 $uri; }");
    EXPECT_EQ(body("/a"), "/b");
    EXPECT_EQ(body("/b"), "/c");
}

TEST_F(RewriteTest, ServerScriptRunsOnceWhenNoLocationMatches) {
    serve("set $n \"${n}x\";\n add_header X-N $n always;\n location /only { }");
    support::Response r = get("/elsewhere");
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(r.header("x-n"), "x");
}

TEST_F(RewriteTest, ServerIf) {
    serve("if ($arg_s) { return 200 server-if; }\n location / { return 200 location; }");
    EXPECT_EQ(body("/?s=1"), "server-if");
    EXPECT_EQ(body("/"), "location");
}

TEST_F(RewriteTest, RewriteScriptIsNotInherited) {
    serve("location /a { rewrite ^ /x redirect; location /a/b { return 200 inner; } }");
    EXPECT_EQ(get("/a").status, 302);
    EXPECT_EQ(body("/a/b"), "inner");
}

// ---- if ----

TEST_F(RewriteTest, IfVariableIsFalseWhenEmptyOrZero) {
    serve("location / { if ($arg_a) { return 200 yes; } return 200 no; }");
    EXPECT_EQ(body("/?a=1"), "yes");
    EXPECT_EQ(body("/?a=00"), "yes");
    EXPECT_EQ(body("/?a=0"), "no");
    EXPECT_EQ(body("/?a="), "no");
    EXPECT_EQ(body("/"), "no");
}

TEST_F(RewriteTest, IfEqualAndNotEqual) {
    serve(
        "location /e { if ($http_x_a = \"x y\") { return 200 eq; } return 200 ne; }\n"
        "location /n { if ($arg_a != $arg_b) { return 200 differ; } return 200 same; }\n"
        "location /z { if ($arg_a = \"\") { return 200 empty; } return 200 set; }");
    EXPECT_EQ(body("/e", "X-A: x y\r\n"), "eq");
    EXPECT_EQ(body("/e", "X-A: x\r\n"), "ne");
    EXPECT_EQ(body("/n?a=1&b=2"), "differ");
    EXPECT_EQ(body("/n?a=1&b=1"), "same");
    EXPECT_EQ(body("/z"), "empty");
    EXPECT_EQ(body("/z?a=1"), "set");
}

TEST_F(RewriteTest, IfRegexWithCaptures) {
    serve(
        "location / {\n"
        " if ($uri ~ ^/n/(\\d+)$) { return 200 \"num $1\"; }\n"
        " if ($http_x_h ~* ^abc$) { return 200 caseless; }\n"
        " if ($uri !~ ^/z) { return 200 \"not z [$1]\"; }\n"
        " if ($uri !~* ^/ZZ) { return 200 \"not zz\"; }\n"
        " return 200 other; }");
    EXPECT_EQ(body("/n/42"), "num 42");
    EXPECT_EQ(body("/zq", "X-H: AbC\r\n"), "caseless");
    EXPECT_EQ(body("/q"), "not z []");  // a test that fails to match clears the captures
    EXPECT_EQ(body("/zq"), "not zz");
    EXPECT_EQ(body("/zz"), "other");
}

TEST_F(RewriteTest, IfFileTests) {
    std::string d = dir_.path();
    dir_.write("t/file", "x");
    dir_.write("t/exec", "#!/bin/sh\n");
    chmod(dir_.file("t/exec").c_str(), 0755);
    std::filesystem::create_directories(dir_.file("t/dir"));
    serve("location /f { if (-f " + d + "/t$arg_p) { return 200 yes; } return 200 no; }\n" +
          "location /nf { if (!-f " + d + "/t$arg_p) { return 200 yes; } return 200 no; }\n" +
          "location /d { if (-d " + d + "/t$arg_p) { return 200 yes; } return 200 no; }\n" +
          "location /nd { if (!-d " + d + "/t$arg_p) { return 200 yes; } return 200 no; }\n" +
          "location /e { if (-e " + d + "/t$arg_p) { return 200 yes; } return 200 no; }\n" +
          "location /ne { if (!-e " + d + "/t$arg_p) { return 200 yes; } return 200 no; }\n" +
          "location /x { if (-x " + d + "/t$arg_p) { return 200 yes; } return 200 no; }\n" +
          "location /nx { if (!-x " + d + "/t$arg_p) { return 200 yes; } return 200 no; }");
    struct Case {
        const char* test;
        const char* path;
        const char* want;
    };
    const Case kCases[] = {
        {"f", "/file", "yes"},  {"f", "/dir", "no"},    {"f", "/none", "no"},
        {"nf", "/file", "no"},  {"nf", "/dir", "yes"},  {"nf", "/none", "yes"},
        {"d", "/dir", "yes"},   {"d", "/file", "no"},   {"d", "/none", "no"},
        {"nd", "/dir", "no"},   {"nd", "/none", "yes"}, {"e", "/file", "yes"},
        {"e", "/dir", "yes"},   {"e", "/none", "no"},   {"ne", "/none", "yes"},
        {"ne", "/file", "no"},  {"x", "/exec", "yes"},  {"x", "/file", "no"},
        {"x", "/none", "no"},   {"nx", "/file", "yes"}, {"nx", "/exec", "no"},
        {"f", "/file/x", "no"},  // ENOTDIR
    };
    for (const Case& c : kCases) {
        EXPECT_EQ(body("/" + std::string(c.test) + "?p=" + c.path), c.want)
            << "-" << c.test << " " << c.path;
    }
}

TEST_F(RewriteTest, DirectivesAfterTheIfStillRun) {
    serve("location / { if ($arg_a) { set $x 1; } return 200 \"x=$x\"; }");
    EXPECT_EQ(body("/?a=1"), "x=1");
    EXPECT_EQ(body("/"), "x=");
}

TEST_F(RewriteTest, BreakInsideIfEndsTheWholeScript) {
    serve("location / { if ($arg_a) { break; } return 200 after; }");
    EXPECT_EQ(get("/?a=1").status, 404);  // the static handler: no such file
    EXPECT_EQ(body("/"), "after");
}

TEST_F(RewriteTest, IfLocationConfsApplyWhenTheConditionHolds) {
    serve(
        "location / {\n"
        " add_header X-Outer outer;\n"
        " if ($arg_h) { add_header X-If $arg_h; }\n"
        " return 200 ok; }");
    support::Response yes = get("/?h=v");
    EXPECT_EQ(yes.header("x-if"), "v");
    EXPECT_FALSE(yes.has_header("x-outer"));  // add_header levels replace, as nginx
    support::Response no = get("/");
    EXPECT_FALSE(no.has_header("x-if"));
    EXPECT_EQ(no.header("x-outer"), "outer");
}

TEST_F(RewriteTest, IfLocationInheritsFromItsLocation) {
    dir_.write("a/f", "from a\n");
    dir_.write("b/f", "from b\n");
    serve("location / {\n root " + dir_.file("a") + ";\n add_header X-Loc loc;\n" +
          " if ($arg_b) { root " + dir_.file("b") + "; }\n if ($arg_c) { } }");
    EXPECT_EQ(body("/f"), "from a\n");
    EXPECT_EQ(body("/f?b=1"), "from b\n");
    support::Response c = get("/f?c=1");
    EXPECT_EQ(c.body, "from a\n");
    EXPECT_EQ(c.header("x-loc"), "loc");  // merged from the enclosing location
}

TEST_F(RewriteTest, TheLastTrueIfWins) {
    serve(
        "location / {\n"
        " if ($arg_a) { add_header X-Which a; }\n"
        " if ($arg_b) { add_header X-Which b; }\n"
        " return 200 ok; }");
    EXPECT_EQ(get("/?a=1&b=1").header("x-which"), "b");
    EXPECT_EQ(get("/?a=1").header("x-which"), "a");
}

// ---- set ----

TEST_F(RewriteTest, SetAndReadBack) {
    serve("location / { set $a v; set $b \"$a-$arg_q\"; return 200 $b; }");
    EXPECT_EQ(body("/?q=1"), "v-1");
}

TEST_F(RewriteTest, AVariableSetElsewhereIsEmpty) {
    serve(
        "location /x { set $only here; return 200 \"[$only]\"; }\n"
        "location /y { return 200 \"[$only]\"; }");
    EXPECT_EQ(body("/x"), "[here]");
    EXPECT_EQ(body("/y"), "[]");
}

TEST_F(RewriteTest, SetArgs) {
    serve("location / { set $args z=9; return 200 \"$args $arg_z $is_args\"; }");
    EXPECT_EQ(body("/?q=1"), "z=9 9 ?");
}

TEST_F(RewriteTest, SetPrefixNamedVariableShadowsThePrefix) {
    serve("location / { set $arg_q mine; return 200 \"$arg_q $arg_r\"; }");
    EXPECT_EQ(body("/?q=1&r=2"), "mine 2");
}

TEST_F(RewriteTest, ValuesSurviveALocationChange) {
    serve(
        "location /s1 { set $v 1; rewrite ^ /s2 last; }\n"
        "location /s2 { return 200 \"v=$v\"; }");
    EXPECT_EQ(body("/s1"), "v=1");
    EXPECT_EQ(body("/s2"), "v=");
}

TEST_F(RewriteTest, SetInTheServerScript) {
    serve("set $who server;\n location / { return 200 $who; }");
    EXPECT_EQ(body("/"), "server");
}

}  // namespace
}  // namespace mod::http_rewrite
