// The rewrite module's directives: rewrite, break, if, set, rewrite_log and
// uninitialized_variable_warn in every context they are allowed in, and every rejection with
// nginx's wording and the file:line (return has its own file).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "support/http_unit.h"

namespace mod::http_rewrite {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class RewriteConfigTest : public support::HttpUnitTest {
  protected:
    void accepts(std::string_view directives) {
        core::Status s = load_server(directives);
        EXPECT_TRUE(s.is_ok()) << directives << ": " << s.message();
    }
};

// ---- accepted ----

TEST_F(RewriteConfigTest, AcceptsEveryDirectiveAtEveryLevel) {
    core::Status s = load(
        "http {\n"
        " rewrite_log on; uninitialized_variable_warn off;\n"
        " server { listen 127.0.0.1:8080;\n"
        "  rewrite ^/a$ /b; rewrite ^/c /d last; rewrite ^/e /f break;\n"
        "  rewrite ^/g http://x/ redirect; rewrite ^/h /i permanent; rewrite ^/j /k?;\n"
        "  set $s server; break; rewrite_log off;\n"
        "  if ($uri = /x) { rewrite ^ /y; return 404; set $t 1; break; rewrite_log on; }\n"
        "  location / {\n"
        "   rewrite ^ /z; set $u \"$s-$t\"; return 200 $u; break;\n"
        "   uninitialized_variable_warn on;\n"
        "   if ($arg_a ~* ^x(\\d)$) { add_header X-A $1; root /tmp; error_page 404 /e;\n"
        "     access_log off; sendfile on; return 200; rewrite ^ /q; set $v 1; break; }\n"
        "  }\n"
        " }\n"
        "}\n");
    EXPECT_TRUE(s.is_ok()) << s.message();
}

TEST_F(RewriteConfigTest, AcceptsEveryConditionForm) {
    for (const char* cond :
         {"($a)", "( $a )", "($a = b)", "($a != b)", "($a = \"b c\")", "($a ~ ^x)", "($a ~* ^x)",
          "($a !~ ^x)", "($a !~* ^x)", "($a = \"\")", "(-f /x)", "(!-f /x)", "(-d $uri)",
          "(!-d /x)", "(-e /x)", "(!-e /x)", "(-x /x)", "(!-x /x)", "($a ~ \"^a{2}$\")"}) {
        accepts("set $a 1;\n if " + std::string(cond) + " { return 200; }");
    }
}

TEST_F(RewriteConfigTest, AcceptsSetOfArgsAndOfAPrefixVariable) {
    // $args is changeable in nginx; $arg_x / $http_x names are free to define.
    accepts("set $args a=1;\n set $arg_x 2;\n set $http_y 3;");
}

TEST_F(RewriteConfigTest, AcceptsTheSameVariableSetTwice) {
    accepts("set $a 1;\n location / { set $a 2; }");
}

TEST_F(RewriteConfigTest, RewriteLogInherited) {
    accepts("rewrite_log on;\n location / { }\n location /b { rewrite_log off; }");
}

// ---- rewrite ----

TEST_F(RewriteConfigTest, RewriteRejections) {
    EXPECT_EQ(server_error("rewrite ^ \"\";"), "empty replacement" + at(4));
    EXPECT_EQ(server_error("rewrite ^ /x bogus;"), "invalid parameter \"bogus\"" + at(4));
    EXPECT_EQ(server_error("rewrite ^;"),
              "invalid number of arguments in \"rewrite\" directive" + at(4));
    EXPECT_EQ(server_error("rewrite ^ /x last break;"),
              "invalid number of arguments in \"rewrite\" directive" + at(4));
    std::string bad = server_error("location / {\n rewrite ( /x; }");
    EXPECT_THAT(bad, StartsWith("pcre2_compile() failed: "));
    EXPECT_THAT(bad, HasSubstr(" in \"(\" at \"\"" + at(5)));
    EXPECT_EQ(error("http {\n rewrite ^ /x; }"),
              "\"rewrite\" directive is not allowed here" + at(2));
    EXPECT_EQ(server_error("rewrite ^ /x { }"),
              "directive \"rewrite\" is not terminated by \";\"" + at(4));
}

TEST_F(RewriteConfigTest, UnknownVariableInReplacement) {
    EXPECT_EQ(server_error("location / {\n rewrite ^ /$nosuch; }"),
              "unknown \"nosuch\" variable" + at(5));
}

// ---- break, set ----

TEST_F(RewriteConfigTest, BreakTakesNoArguments) {
    EXPECT_EQ(server_error("break now;"),
              "invalid number of arguments in \"break\" directive" + at(4));
    EXPECT_EQ(error("http {\n break; }"), "\"break\" directive is not allowed here" + at(2));
}

TEST_F(RewriteConfigTest, SetRejections) {
    EXPECT_EQ(server_error("set a 1;"), "invalid variable name \"a\"" + at(4));
    EXPECT_EQ(server_error("set $ 1;"), "invalid variable name \"$\"" + at(4));
    EXPECT_EQ(server_error("set $a;"), "invalid number of arguments in \"set\" directive" + at(4));
    EXPECT_EQ(server_error("set $a $nosuch;"), "unknown \"nosuch\" variable" + at(4));
    EXPECT_EQ(error("http {\n set $a 1; }"), "\"set\" directive is not allowed here" + at(2));
}

TEST_F(RewriteConfigTest, SetOfABuiltinVariableIsADuplicate) {
    // nginx: only changeable variables ($args) can be set.
    EXPECT_EQ(server_error("\n set $host x;"), "the duplicate \"host\" variable" + at(5));
    EXPECT_EQ(server_error("set $uri x;"), "the duplicate \"uri\" variable" + at(4));
    EXPECT_EQ(server_error("set $remote_addr x;"),
              "the duplicate \"remote_addr\" variable" + at(4));
}

TEST_F(RewriteConfigTest, ReadingAVariableNobodySetsFails) {
    // A variable `set` anywhere is known everywhere; one never set is unknown.
    EXPECT_TRUE(load_server("location /a { set $x 1; }\n location /b { return 200 $x; }").is_ok());
    EXPECT_EQ(server_error("location /b {\n return 200 $y; }"), "unknown \"y\" variable" + at(5));
}

// ---- flags ----

TEST_F(RewriteConfigTest, FlagDirectives) {
    EXPECT_EQ(server_error("rewrite_log maybe;"),
              "invalid value \"maybe\" in \"rewrite_log\" directive, it must be \"on\" or \"off\"" +
                  at(4));
    EXPECT_EQ(server_error("rewrite_log on;\n rewrite_log off;"),
              "\"rewrite_log\" directive is duplicate" + at(5));
    EXPECT_EQ(server_error("uninitialized_variable_warn 1;"),
              "invalid value \"1\" in \"uninitialized_variable_warn\" directive, it must be "
              "\"on\" or \"off\"" +
                  at(4));
}

// ---- if ----

TEST_F(RewriteConfigTest, ConditionRejections) {
    struct Case {
        const char* cond;
        const char* message;
    };
    const Case kCases[] = {
        {"$a", "invalid condition \"$a\""},
        {"($a", "invalid condition \"$a\""},
        {"$a)", "invalid condition \"$a)\""},
        {"()", "invalid condition \")\""},
        {"( )", "invalid condition \")\""},
        {"(foo)", "invalid condition \"foo\""},
        {"($a == b)", "unexpected \"==\" in condition"},
        {"($a = b c)", "invalid condition \"$a\""},
        {"($a =)", "invalid condition \"$a\""},
        {"(-q /x)", "invalid condition \"-q\""},
        {"(!-q /x)", "invalid condition \"!-q\""},
        {"(-f)", "invalid condition \"-f\""},
        {"(-f /a /b)", "invalid condition \"-f\""},
        {"($a-b)", "unknown \"a-b\" variable"},
        {"($nosuch)", "unknown \"nosuch\" variable"},
        {"($a = $nosuch)", "unknown \"nosuch\" variable"},
    };
    for (const Case& c : kCases) {
        EXPECT_EQ(server_error("set $a 1;\n if " + std::string(c.cond) + " { }"), c.message + at(5))
            << c.cond;
    }
    std::string bad = server_error("set $a 1;\n if ($a ~ \"(\") { }");
    EXPECT_THAT(bad, StartsWith("pcre2_compile() failed: "));
    EXPECT_THAT(bad, HasSubstr(at(5)));
}

TEST_F(RewriteConfigTest, IfNeedsABlockInServerOrLocation) {
    EXPECT_EQ(server_error("if ($uri);"), "directive \"if\" has no opening \"{\"" + at(4));
    EXPECT_EQ(error("http {\n if ($uri) { } }"), "\"if\" directive is not allowed here" + at(2));
    EXPECT_EQ(server_error("location / {\n if ($uri) {\n  if ($uri) { } } }"),
              "\"if\" directive is not allowed here" + at(6));  // no nested if, as nginx
    EXPECT_EQ(server_error("if ($uri) {\n if ($uri) { } }"),
              "\"if\" directive is not allowed here" + at(5));
}

TEST_F(RewriteConfigTest, ServerIfAllowsOnlyRewriteDirectives) {
    for (const char* d : {"add_header X y;", "root /x;", "access_log off;", "error_page 404 /e;",
                          "location / { }", "listen 8081;"}) {
        std::string name(d, std::string_view(d).find(' '));
        EXPECT_EQ(server_error("if ($uri) {\n " + std::string(d) + " }"),
                  "\"" + name + "\" directive is not allowed here" + at(5))
            << d;
    }
}

TEST_F(RewriteConfigTest, LocationIfRefusesWhatNginxRefuses) {
    for (const char* d :
         {"try_files $uri =404;", "index a.html;", "alias /x/;", "location /y { }", "allow all;",
          "keepalive_timeout 5s;", "types { }", "default_type a/b;"}) {
        std::string name(d, std::string_view(d).find(' '));
        EXPECT_EQ(server_error("location / {\n if ($uri) {\n " + std::string(d) + " } }"),
                  "\"" + name + "\" directive is not allowed here" + at(6))
            << d;
    }
}

TEST_F(RewriteConfigTest, LocationIfErrorsNameTheirLine) {
    EXPECT_EQ(server_error("location / {\n if ($uri) {\n add_header \"X Y\" z; } }"),
              "invalid value \"X Y\" in \"add_header\" directive, not a header name" + at(6));
    EXPECT_EQ(server_error("location / {\n if ($uri) {\n root /a;\n root /b; } }"),
              "\"root\" directive is duplicate" + at(7));
}

TEST_F(RewriteConfigTest, IfLocationDoesNotClashWithNestedLocations) {
    // The nameless `if` location is no duplicate of a nested location of the same prefix.
    accepts("location /a {\n if ($uri) { }\n location /a { }\n if ($args) { } }");
}

}  // namespace
}  // namespace mod::http_rewrite
