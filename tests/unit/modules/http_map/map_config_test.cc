// The map directive: accepted forms, every rejection with nginx's wording and its file:line,
// and $dst at run time (return bodies, add_header, regex captures, defaults, caching and
// `volatile`), served in this process over a socketpair.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "support/http_unit.h"

namespace mod::http_map {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class MapConfigTest : public support::HttpUnitTest {
  protected:
    /// `map_block` at http level (from line 2), then a server whose location / has `loc`.
    core::Status load_map(std::string_view map_block, std::string_view loc) {
        return load("http {\n" + std::string(map_block) +
                    "\n server { listen 127.0.0.1:8080;\n  location / { " + std::string(loc) +
                    " } }\n}\n");
    }
    void serve_map(std::string_view map_block, std::string_view loc) {
        core::Status s = load_map(map_block, loc);
        ASSERT_TRUE(s.is_ok()) << s.message();
    }
    std::string map_error(std::string_view map_block) {
        core::Status s = load_map(map_block, "return 200;");
        EXPECT_FALSE(s.is_ok()) << "loaded: " << map_block;
        return s.message();
    }
};

// ---- config ----

TEST_F(MapConfigTest, AcceptsEveryForm) {
    core::Status s = load_map(
        "map_hash_max_size 4096; map_hash_bucket_size 128;\n"
        "map $http_host$uri $m {\n"
        " hostnames;\n volatile;\n default \"d $uri\";\n"
        " example.com a;\n *.example.com b;\n .example.org c;\n www.example.* d;\n"
        " ~^/x(\\d+) \"x$1\";\n ~*^/Y y;\n \\default lit;\n \"\" empty;\n"
        "}",
        "return 200 $m;");
    EXPECT_TRUE(s.is_ok()) << s.message();
}

TEST_F(MapConfigTest, IncludeInsideTheBlock) {
    dir_.write("keys.map", "/a one;\n/b two;\n");
    serve_map("map $uri $m {\n include " + dir_.file("keys.map") + ";\n default none; }",
              "return 200 $m;");
    EXPECT_EQ(body("/a"), "one");
    EXPECT_EQ(body("/b"), "two");
    EXPECT_EQ(body("/c"), "none");
}

TEST_F(MapConfigTest, Rejections) {
    EXPECT_EQ(map_error("map $uri $m {\n default a;\n default b; }"),
              "duplicate default map parameter" + at(4));
    EXPECT_EQ(map_error("map $uri $m {\n /a x;\n /A y; }"), "conflicting parameter \"/a\"" + at(4));
    EXPECT_EQ(map_error("map $host $m {\n hostnames;\n .a.com x;\n *.a.com y; }"),
              "conflicting parameter \"*.a.com\"" + at(5));
    EXPECT_EQ(map_error("map $host $m {\n hostnames;\n a.*.com x; }"),
              "invalid hostname or wildcard \"a.*.com\"" + at(4));
    EXPECT_EQ(map_error("map $uri $m {\n /a x y; }"),
              "invalid number of the map parameters" + at(3));
    EXPECT_EQ(map_error("map $uri $m {\n /a; }"), "invalid number of the map parameters" + at(3));
    EXPECT_EQ(map_error("map $uri $m {\n /a { } }"), "unexpected \"{\"" + at(3));
    EXPECT_EQ(map_error("map $uri m { }"), "invalid variable name \"m\"" + at(2));
    EXPECT_EQ(map_error("map $uri $ { }"), "invalid variable name \"$\"" + at(2));
    EXPECT_EQ(map_error("map $nosuch $m { }"), "unknown \"nosuch\" variable" + at(2));
    EXPECT_EQ(map_error("map $uri $m {\n /a $nosuch; }"), "unknown \"nosuch\" variable" + at(3));
    std::string bad = map_error("map $uri $m {\n ~( x; }");
    EXPECT_THAT(bad, StartsWith("pcre2_compile() failed: "));
    EXPECT_THAT(bad, HasSubstr(at(3)));
    EXPECT_EQ(map_error("map $uri $m;"), "directive \"map\" has no opening \"{\"" + at(2));
    EXPECT_EQ(map_error("map $uri { }"),
              "invalid number of arguments in \"map\" directive" + at(2));
    EXPECT_EQ(map_error("map_hash_max_size 0;"),
              "invalid value \"0\" in \"map_hash_max_size\" directive" + at(2));
}

TEST_F(MapConfigTest, MapOnlyAtHttpLevel) {
    EXPECT_EQ(server_error("map $uri $m { }"), "\"map\" directive is not allowed here" + at(4));
    EXPECT_EQ(error("map $uri $m { }"), "\"map\" directive is not allowed here" + at(1));
}

TEST_F(MapConfigTest, DefiningAVariableTwiceFails) {
    EXPECT_EQ(map_error("map $uri $m { }\n map $args $m { }"),
              "the duplicate \"m\" variable" + at(3));
    EXPECT_EQ(map_error("map $uri $host { }"), "the duplicate \"host\" variable" + at(2));
    EXPECT_EQ(map_error("map $uri $args { }"), "the duplicate \"args\" variable" + at(2));
}

// ---- run time ----

TEST_F(MapConfigTest, ExactRegexAndDefault) {
    serve_map(
        "map $uri $m {\n"
        " default \"def-$uri\";\n"
        " /exact ex;\n"
        " ~^/u/(\\d+)/(\\w+)$ \"user-$1-$2\";\n"
        " ~*^/CASE case;\n"
        " ~^/exact never;\n"
        "}",
        "return 200 $m;");
    EXPECT_EQ(body("/exact"), "ex");
    EXPECT_EQ(body("/u/12/ab"), "user-12-ab");
    EXPECT_EQ(body("/case/x"), "case");
    EXPECT_EQ(body("/other"), "def-/other");
}

TEST_F(MapConfigTest, NoDefaultIsEmpty) {
    serve_map("map $uri $m { /a x; }", "return 200 \"[$m]\";");
    EXPECT_EQ(body("/b"), "[]");
}

TEST_F(MapConfigTest, HostnamesWithTheHostHeader) {
    serve_map(
        "map $http_host $h {\n hostnames;\n default d;\n a.example.com exact;\n"
        " *.example.com star;\n .example.org dot;\n www.example.* tail; }",
        "return 200 $h;");
    EXPECT_EQ(get("/", {}, "a.example.com").body, "exact");
    EXPECT_EQ(get("/", {}, "B.example.com").body, "star");
    EXPECT_EQ(get("/", {}, "example.org").body, "dot");
    EXPECT_EQ(get("/", {}, "www.example.net").body, "tail");
    EXPECT_EQ(get("/", {}, "a.example.com.").body, "exact");
    EXPECT_EQ(get("/", {}, "other").body, "d");
}

TEST_F(MapConfigTest, InAddHeaderAndLaterMaps) {
    serve_map(
        "map $arg_a $first { x one; default zero; }\n"
        "map $first $second { one uno; default nada; }",
        "add_header X-M \"$first/$second\"; return 200 ok;");
    EXPECT_EQ(get("/?a=x").header("x-m"), "one/uno");
    EXPECT_EQ(get("/").header("x-m"), "zero/nada");
}

TEST_F(MapConfigTest, RegexKeySetsTheCaptures) {
    // As nginx: a regex key that matches sets $1.. for what is evaluated after it.
    serve_map("map $uri $m { ~^/(\\w+)/ hit; }", "return 200 \"$m $1\";");
    EXPECT_EQ(body("/abc/def"), "hit abc");
}

TEST_F(MapConfigTest, ValueIsCachedForTheRequest) {
    serve_map("map $uri $m { default $uri; }",
              "set $before $m; rewrite ^ /changed; return 200 \"$before $m\";");
    EXPECT_EQ(body("/orig"), "/orig /orig");
}

TEST_F(MapConfigTest, VolatileIsComputedOnEachRead) {
    serve_map("map $uri $m { volatile; default $uri; }",
              "set $before $m; rewrite ^ /changed; return 200 \"$before $m\";");
    EXPECT_EQ(body("/orig"), "/orig /changed");
}

TEST_F(MapConfigTest, SetOverridesTheMappedValue) {
    serve_map("map $uri $m { default mapped; }", "set $m forced; return 200 $m;");
    EXPECT_EQ(body("/"), "forced");
}

TEST_F(MapConfigTest, MapVariableInLocationIf) {
    serve_map("map $arg_k $allowed { yes 1; default 0; }",
              "if ($allowed) { return 200 allowed; } return 403;");
    EXPECT_EQ(body("/?k=yes"), "allowed");
    EXPECT_EQ(get("/?k=no").status, 403);
}

}  // namespace
}  // namespace mod::http_map
