// The rewrite script's helpers, without a config: argument escaping, the redirect unescaping
// and the truth of an `if` value.
#include <gtest/gtest.h>

#include <string>

#include "http/modules/rewrite/script.h"

namespace mod::http_rewrite {
namespace {

TEST(RewriteScriptTest, EscapeArgs) {
    EXPECT_EQ(escape_args("abc-._~/=:@!$'()*,"), "abc-._~/=:@!$'()*,");
    EXPECT_EQ(escape_args("a b"), "a%20b");
    EXPECT_EQ(escape_args("#%&+;?"), "%23%25%26%2B%3B%3F");
    EXPECT_EQ(escape_args(std::string("\x01\x1f\x7f\xc3\xa9", 5)), "%01%1F%7F%C3%A9");
    EXPECT_EQ(escape_args(""), "");
}

TEST(RewriteScriptTest, UnescapeRedirect) {
    // Printable characters above '%' are decoded; '%', space, controls and bytes >= DEL stay.
    EXPECT_EQ(unescape_redirect("/a%41%2f%7e"), "/aA/~");
    EXPECT_EQ(unescape_redirect("/a%20b%25c%23d%00%7F%C3"), "/a%20b%25c%23d%00%7F%C3");
    EXPECT_EQ(unescape_redirect("/%26%2B%3F"), "/&+?");
    // nothing after the first '?' is touched
    EXPECT_EQ(unescape_redirect("/p%41?q=%41%20"), "/pA?q=%41%20");
    // an incomplete or invalid escape is kept as it is
    EXPECT_EQ(unescape_redirect("/a%4"), "/a%4");
    EXPECT_EQ(unescape_redirect("/a%zz"), "/a%zz");
    EXPECT_EQ(unescape_redirect(""), "");
}

TEST(RewriteScriptTest, IsTrue) {
    EXPECT_FALSE(is_true(""));
    EXPECT_FALSE(is_true("0"));
    EXPECT_TRUE(is_true("00"));
    EXPECT_TRUE(is_true("1"));
    EXPECT_TRUE(is_true(" "));
    EXPECT_TRUE(is_true("false"));
}

TEST(RewriteScriptTest, EmptyScriptContinues) {
    Script s;
    EXPECT_TRUE(s.empty());
    http::Request r;
    RunState state;
    EXPECT_EQ(s.run(r, state), Outcome::kContinue);
    EXPECT_FALSE(state.uri_changed);
}

TEST(RewriteScriptTest, BreakStopsAndForgetsAUriChange) {
    Script s;
    s.add(std::make_unique<BreakStep>());
    http::Request r;
    RunState state;
    state.uri_changed = true;
    EXPECT_EQ(s.run(r, state), Outcome::kStop);
    EXPECT_FALSE(state.uri_changed);
}

TEST(RewriteScriptTest, RewriteThatDoesNotMatchContinuesAndClearsCaptures) {
    auto step = std::make_unique<RewriteStep>();
    ASSERT_TRUE(http::Regex::compile("^/x", false, step->regex).is_ok());
    Script s;
    s.add(std::move(step));
    http::Request r;
    r.uri = "/y";
    r.captures = {"/old", "old"};
    RunState state;
    EXPECT_EQ(s.run(r, state), Outcome::kContinue);
    EXPECT_TRUE(r.captures.empty());
    EXPECT_EQ(r.uri, "/y");
}

TEST(RewriteScriptTest, InternalRewriteFlags) {
    struct Case {
        RewriteStep::Flag flag;
        Outcome outcome;
        bool changed;
    };
    const Case kCases[] = {
        {RewriteStep::Flag::kNone, Outcome::kContinue, true},
        {RewriteStep::Flag::kLast, Outcome::kStop, true},
        {RewriteStep::Flag::kBreak, Outcome::kStop, false},
    };
    for (const Case& c : kCases) {
        auto step = std::make_unique<RewriteStep>();
        ASSERT_TRUE(http::Regex::compile("^/a/(.*)$", false, step->regex).is_ok());
        ASSERT_TRUE(http::ComplexValue::parse("/b", "t:1", step->uri).is_ok());
        step->flag = c.flag;
        Script s;
        s.add(std::move(step));
        http::Request r;
        r.uri = "/a/z";
        RunState state;
        EXPECT_EQ(s.run(r, state), c.outcome) << static_cast<int>(c.flag);
        EXPECT_EQ(state.uri_changed, c.changed) << static_cast<int>(c.flag);
        EXPECT_EQ(r.uri, "/b");
        ASSERT_EQ(r.captures.size(), 2u);
        EXPECT_EQ(r.captures[1], "z");
    }
}

}  // namespace
}  // namespace mod::http_rewrite
