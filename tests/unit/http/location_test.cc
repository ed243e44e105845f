// Locations and servers: the location directive (accepted forms and every rejection with its
// message and file:line), nginx's location matching order and the server_name order (exact,
// longest leading wildcard, longest trailing wildcard, first regex, default server), served in
// this process over a socketpair with `return 200 "<name>"` in each block.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "core/cycle.h"
#include "http/http.h"
#include "support/test_modules.h"

namespace http {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class LocationMatchTest : public ::testing::Test {
  protected:
    LocationMatchTest() : registry_(core::compiled_modules()) {}

    core::Status load(std::string_view conf) {
        cycle_.reset();
        return support::load_cycle(registry_, dir_, conf, cycle_, nullptr, {}, true);
    }
    /// `directives` inside `http { server { listen ...; ... } }` (they start on line 3).
    core::Status load_server(std::string_view directives) {
        return load("http {\n server { listen 127.0.0.1:8080;\n" + std::string(directives) +
                    "\n }\n}\n");
    }
    void serve(std::string_view directives) {
        core::Status s = load_server(directives);
        ASSERT_TRUE(s.is_ok()) << s.message();
    }
    std::string server_error(std::string_view directives) {
        core::Status s = load_server(directives);
        EXPECT_FALSE(s.is_ok()) << "loaded: " << directives;
        return s.message();
    }
    std::string error(std::string_view conf) {
        core::Status s = load(conf);
        EXPECT_FALSE(s.is_ok()) << "loaded: " << conf;
        return s.message();
    }
    std::string at(int line) const {
        return " in " + dir_.file("halo.conf") + ":" + std::to_string(line);
    }
    /// The body answered for `target` (the status when it is not 200).
    std::string which(std::string_view target, std::string_view host = "localhost") {
        if (!cycle_) {
            return "<no cycle>";
        }
        std::string out = support::http_exchange(
            *cycle_, "GET " + std::string(target) + " HTTP/1.1\r\nHost: " + std::string(host) +
                         "\r\nConnection: close\r\n\r\n");
        if (out.rfind("HTTP/1.1 200 ", 0) != 0) {
            return out.substr(0, 12);
        }
        size_t end = out.find("\r\n\r\n");
        return end == std::string::npos ? out : out.substr(end + 4);
    }

    support::TempDir dir_;
    core::ModuleRegistry registry_;
    std::unique_ptr<core::Cycle> cycle_;
};

// ---- config ----

TEST_F(LocationMatchTest, AcceptsEveryForm) {
    core::Status s = load_server(
        "location / { }\n"
        "location = /exact { }\n"
        "location =/exact2 { }\n"
        "location ^~ /noregex/ { }\n"
        "location ~ \\.php$ { }\n"
        "location ~* \\.(gif|jpg)$ { }\n"
        "location @named { }\n"
        "location /outer/ { location /outer/inner/ { } location ~ x$ { } }\n"
        "location ~ ^/re/ { location /re/in { } }\n"
        "location = /exact3 { }\n"
        "location /exact3 { }\n");
    EXPECT_TRUE(s.is_ok()) << s.message();
}

TEST_F(LocationMatchTest, RejectsABadRegex) {
    std::string e = server_error("location ~ ^/(open$ { }");
    EXPECT_THAT(e, StartsWith("pcre2_compile() failed: missing closing parenthesis"));
    EXPECT_THAT(e, HasSubstr("\"^/(open$\""));
    EXPECT_THAT(e, EndsWith(at(3)));
    e = server_error("location /\n{ }\nlocation ~* [z-a] { }");
    EXPECT_THAT(e, StartsWith("pcre2_compile() failed: "));
    EXPECT_THAT(e, EndsWith(at(5)));
}

TEST_F(LocationMatchTest, RejectsARegexWithoutSpace) {
    EXPECT_EQ(server_error("location ~\\.php$ { }"),
              "a regex location needs a space after \"~\": \"location ~ regex\"" + at(3));
    EXPECT_EQ(server_error("location ~*\\.php$ { }"),
              "a regex location needs a space after \"~\": \"location ~ regex\"" + at(3));
}

TEST_F(LocationMatchTest, RejectsAnUnknownModifier) {
    EXPECT_EQ(server_error("location != /a { }"), "invalid location modifier \"!=\"" + at(3));
    EXPECT_EQ(server_error("location ~~ /a { }"), "invalid location modifier \"~~\"" + at(3));
}

TEST_F(LocationMatchTest, RejectsDuplicates) {
    EXPECT_EQ(server_error("location /a { }\nlocation /a { }"),
              "duplicate location \"/a\"" + at(4));
    EXPECT_EQ(server_error("location = /a { }\nlocation =/a { }"),
              "duplicate location \"/a\"" + at(4));
    EXPECT_EQ(server_error("location /a { }\nlocation ^~ /a { }"),
              "duplicate location \"/a\"" + at(4));
    EXPECT_EQ(server_error("location @n { }\nlocation @n { }"),
              "duplicate location \"@n\"" + at(4));
    EXPECT_EQ(server_error("location /o/ {\n location /o/a { }\n location /o/a { } }"),
              "duplicate location \"/o/a\"" + at(5));
}

TEST_F(LocationMatchTest, SameNameInDifferentKindsIsNoDuplicate) {
    EXPECT_TRUE(load_server("location /a { }\nlocation = /a { }\nlocation ~ /a { }").is_ok());
}

TEST_F(LocationMatchTest, RejectsLocationsInsideExactOrNamed) {
    EXPECT_EQ(server_error("location = /a {\n location /a/b { } }"),
              "location \"/a/b\" cannot be inside the exact location" + at(4));
    EXPECT_EQ(server_error("location @n {\n location /b { } }"),
              "location \"/b\" cannot be inside the named location" + at(4));
}

TEST_F(LocationMatchTest, RejectsNestedNamedLocations) {
    EXPECT_EQ(server_error("location /a {\n location @n { } }"),
              "named location \"@n\" can be on the server level only" + at(4));
    EXPECT_EQ(server_error("location ~ a {\n location @n { } }"),
              "named location \"@n\" can be on the server level only" + at(4));
}

TEST_F(LocationMatchTest, RejectsLocationOutsideServers) {
    EXPECT_EQ(error("http {\n location / { } }"),
              "\"location\" directive is not allowed here" + at(2));
    EXPECT_EQ(error("location / { }"), "\"location\" directive is not allowed here" + at(1));
}

TEST_F(LocationMatchTest, RejectsBadShapes) {
    EXPECT_EQ(server_error("location / ;"), "directive \"location\" has no opening \"{\"" + at(3));
    EXPECT_EQ(server_error("location = /a b { }"),
              "invalid number of arguments in \"location\" directive" + at(3));
    EXPECT_EQ(server_error("location { }"),
              "invalid number of arguments in \"location\" directive" + at(3));
}

TEST_F(LocationMatchTest, RejectsABadServerNameRegex) {
    std::string e = error("http {\n server { listen 127.0.0.1:8080;\n server_name ~^(a; } }");
    EXPECT_THAT(e, StartsWith("pcre2_compile() failed: missing closing parenthesis"));
    EXPECT_THAT(e, EndsWith(at(2)));
}

// ---- matching ----

// The example of nginx's documentation for `location`.
constexpr std::string_view kDocExample =
    "location = / { return 200 A; }\n"
    "location / { return 200 B; }\n"
    "location /documents/ { return 200 C; }\n"
    "location ^~ /images/ { return 200 D; }\n"
    "location ~* \\.(gif|jpg|jpeg)$ { return 200 E; }\n";

TEST_F(LocationMatchTest, DocumentationExample) {
    serve(kDocExample);
    EXPECT_EQ(which("/"), "A");
    EXPECT_EQ(which("/index.html"), "B");
    EXPECT_EQ(which("/documents/document.html"), "C");
    EXPECT_EQ(which("/images/1.gif"), "D");
    EXPECT_EQ(which("/documents/1.jpg"), "E");
    EXPECT_EQ(which("/documents/1.JPG"), "E");  // ~* is caseless
}

TEST_F(LocationMatchTest, MatchesTheNormalizedUri) {
    serve(kDocExample);
    EXPECT_EQ(which("/x/../documents/a"), "C");
    EXPECT_EQ(which("/docu%6Dents/a"), "C");
    EXPECT_EQ(which("//documents//a"), "C");
    EXPECT_EQ(which("/documents/a.jpg?x=/b"), "E");  // the query is not matched
}

TEST_F(LocationMatchTest, LongestPrefixWhateverTheOrder) {
    serve(
        "location /a/b/c/ { return 200 abc; }\n"
        "location /a/ { return 200 a; }\n"
        "location /a/b/ { return 200 ab; }\n");
    EXPECT_EQ(which("/a/b/c/d"), "abc");
    EXPECT_EQ(which("/a/b/x"), "ab");
    EXPECT_EQ(which("/a/x"), "a");
    EXPECT_EQ(which("/b"), "HTTP/1.1 404");
}

TEST_F(LocationMatchTest, PrefixIsNotASegmentMatch) {
    serve("location /ab { return 200 ab; }\n");
    EXPECT_EQ(which("/abc"), "ab");
    EXPECT_EQ(which("/ab/c"), "ab");
    EXPECT_EQ(which("/a"), "HTTP/1.1 404");
}

TEST_F(LocationMatchTest, ExactBeatsEverything) {
    serve(
        "location ~ ^/e { return 200 regex; }\n"
        "location ^~ /e { return 200 noregex; }\n"
        "location = /e { return 200 exact; }\n");
    EXPECT_EQ(which("/e"), "exact");
    EXPECT_EQ(which("/e/"), "noregex");
}

TEST_F(LocationMatchTest, ExactMatchesOnlyTheWholeUri) {
    serve("location = /e { return 200 exact; }\n");
    EXPECT_EQ(which("/e"), "exact");
    EXPECT_EQ(which("/e?x=1"), "exact");
    EXPECT_EQ(which("/e/"), "HTTP/1.1 404");
    EXPECT_EQ(which("/ex"), "HTTP/1.1 404");
}

TEST_F(LocationMatchTest, RegexBeatsAPlainPrefix) {
    serve(
        "location /p/ { return 200 prefix; }\n"
        "location ~ \\.x$ { return 200 regex; }\n");
    EXPECT_EQ(which("/p/a.x"), "regex");
    EXPECT_EQ(which("/p/a.y"), "prefix");
}

TEST_F(LocationMatchTest, NoRegexPrefixStopsTheRegexSearch) {
    serve(
        "location ^~ /p/ { return 200 noregex; }\n"
        "location ~ \\.x$ { return 200 regex; }\n"
        "location /p/longer/ { return 200 longer; }\n");
    EXPECT_EQ(which("/p/a.x"), "noregex");
    // Only when it is the longest prefix.
    EXPECT_EQ(which("/p/longer/a.x"), "regex");
}

TEST_F(LocationMatchTest, FirstMatchingRegexInConfigOrder) {
    serve(
        "location ~ ^/r/a { return 200 first; }\n"
        "location ~ ^/r/ab { return 200 second; }\n"
        "location ~ ^/r/ { return 200 third; }\n");
    EXPECT_EQ(which("/r/abc"), "first");
    EXPECT_EQ(which("/r/x"), "third");
}

TEST_F(LocationMatchTest, RegexCaseSensitivity) {
    serve(
        "location ~ \\.PNG$ { return 200 sensitive; }\n"
        "location ~* \\.gif$ { return 200 caseless; }\n");
    EXPECT_EQ(which("/a.PNG"), "sensitive");
    EXPECT_EQ(which("/a.png"), "HTTP/1.1 404");
    EXPECT_EQ(which("/a.GiF"), "caseless");
}

TEST_F(LocationMatchTest, NestedLocationsBeforeOuterRegexes) {
    serve(
        "location /n/ { return 200 outer-prefix;\n"
        "  location /n/deep/ { return 200 nested-prefix; }\n"
        "  location ~ \\.x$ { return 200 nested-regex; } }\n"
        "location ~ \\.x$ { return 200 outer-regex; }\n"
        "location ~ \\.y$ { return 200 outer-regex-y; }\n");
    EXPECT_EQ(which("/n/a"), "outer-prefix");
    EXPECT_EQ(which("/n/deep/a"), "nested-prefix");
    EXPECT_EQ(which("/n/a.x"), "nested-regex");
    EXPECT_EQ(which("/n/deep/a.x"), "nested-regex");
    // A nested prefix does not stop the outer regexes.
    EXPECT_EQ(which("/n/deep/a.y"), "outer-regex-y");
    EXPECT_EQ(which("/other.x"), "outer-regex");
}

TEST_F(LocationMatchTest, NestedUnderANoRegexPrefix) {
    serve(
        "location ^~ /s/ { return 200 noregex;\n"
        "  location /s/t/ { return 200 nested; }\n"
        "  location ~ \\.x$ { return 200 nested-regex; } }\n"
        "location ~ \\.x$ { return 200 outer-regex; }\n"
        "location ~ \\.y$ { return 200 outer-regex-y; }\n");
    EXPECT_EQ(which("/s/t/a.y"), "nested");
    EXPECT_EQ(which("/s/a.x"), "nested-regex");  // the nested level's regexes still count
    EXPECT_EQ(which("/s/a.y"), "noregex");
}

TEST_F(LocationMatchTest, NestedNoRegexPrefixStopsOnlyItsOwnLevel) {
    // nginx (ngx_http_core_find_location): `noregex` of the nested ^~ skips the nested level's
    // regexes; the outer level's regexes are still tried, as its own prefix is no ^~.
    serve(
        "location /n/ { return 200 outer;\n"
        "  location ^~ /n/m/ { return 200 nested-noregex; }\n"
        "  location ~ \\.z$ { return 200 nested-regex; } }\n"
        "location ~ \\.z$ { return 200 outer-regex; }\n");
    EXPECT_EQ(which("/n/m/a"), "nested-noregex");
    EXPECT_EQ(which("/n/m/a.z"), "outer-regex");
}

TEST_F(LocationMatchTest, PrefixEqualToTheUriSkipsRegexes) {
    // nginx (ngx_http_core_find_static_location): a prefix location whose name is the whole URI
    // is an exact match, so the regexes are not tried.
    serve(
        "location /q { return 200 prefix; }\n"
        "location ~ ^/q { return 200 regex; }\n");
    EXPECT_EQ(which("/q"), "prefix");
    EXPECT_EQ(which("/qq"), "regex");
}

TEST_F(LocationMatchTest, LocationsNestedInARegex) {
    serve(
        "location ~ ^/re/ { return 200 regex;\n"
        "  location /re/in/ { return 200 nested-prefix; }\n"
        "  location ~ \\.x$ { return 200 nested-regex; } }\n");
    EXPECT_EQ(which("/re/a"), "regex");
    EXPECT_EQ(which("/re/in/a"), "nested-prefix");
    EXPECT_EQ(which("/re/a.x"), "nested-regex");
}

TEST_F(LocationMatchTest, ExactNestedInAPrefix) {
    serve(
        "location /p/ { return 200 prefix;\n"
        "  location = /p/e { return 200 nested-exact; } }\n"
        "location ~ ^/p/e { return 200 regex; }\n");
    EXPECT_EQ(which("/p/e"), "nested-exact");
    EXPECT_EQ(which("/p/ee"), "regex");
}

TEST_F(LocationMatchTest, NamedLocationsAreNotMatchedByUri) {
    serve("location @n { return 200 named; }\n");
    EXPECT_EQ(which("/@n"), "HTTP/1.1 404");
    EXPECT_EQ(which("/"), "HTTP/1.1 404");
}

TEST_F(LocationMatchTest, NoLocationUsesTheServerLevel) {
    serve("location /a { return 200 a; }\n");
    EXPECT_EQ(which("/b"), "HTTP/1.1 404");
}

// ---- server names ----

constexpr std::string_view kServers = R"(http {
 server { listen 127.0.0.1:8080; server_name first.example; return 200 first; }
 server { listen 127.0.0.1:8080; server_name exact.example Second.Name; return 200 exact; }
 server { listen 127.0.0.1:8080; server_name *.wild.example; return 200 star; }
 server { listen 127.0.0.1:8080; server_name *.deep.wild.example; return 200 star-deep; }
 server { listen 127.0.0.1:8080; server_name .dot.example; return 200 dot; }
 server { listen 127.0.0.1:8080; server_name www.trail.*; return 200 trail; }
 server { listen 127.0.0.1:8080; server_name www.*; return 200 trail-short; }
 server { listen 127.0.0.1:8080; server_name ~^re[0-9]+\.example$; return 200 regex1; }
 server { listen 127.0.0.1:8080; server_name ~^re1; return 200 regex2; }
 server { listen 127.0.0.1:8080; server_name www.exact.wild.example; return 200 exact2; }
 server { listen 127.0.0.1:8080 default_server; server_name dflt.example; return 200 default; }
}
)";

TEST_F(LocationMatchTest, ServerNameExact) {
    ASSERT_TRUE(load(kServers).is_ok());
    EXPECT_EQ(which("/", "exact.example"), "exact");
    EXPECT_EQ(which("/", "EXACT.Example"), "exact");
    EXPECT_EQ(which("/", "exact.example:8080"), "exact");
    EXPECT_EQ(which("/", "exact.example."), "exact");
    EXPECT_EQ(which("/", "second.name"), "exact");  // names are caseless
    EXPECT_EQ(which("/", "first.example"), "first");
}

TEST_F(LocationMatchTest, ServerNameLeadingWildcards) {
    ASSERT_TRUE(load(kServers).is_ok());
    EXPECT_EQ(which("/", "a.wild.example"), "star");
    EXPECT_EQ(which("/", "a.b.wild.example"), "star");
    EXPECT_EQ(which("/", "a.deep.wild.example"), "star-deep");  // the longest wins
    EXPECT_EQ(which("/", "wild.example"), "default");           // "*.x" needs a label before
    EXPECT_EQ(which("/", "dot.example"), "dot");                // ".x" is "x" and "*.x"
    EXPECT_EQ(which("/", "a.dot.example"), "dot");
    EXPECT_EQ(which("/", "xdot.example"), "default");
}

TEST_F(LocationMatchTest, ServerNameTrailingWildcards) {
    ASSERT_TRUE(load(kServers).is_ok());
    EXPECT_EQ(which("/", "www.trail.com"), "trail");  // the longest wins
    EXPECT_EQ(which("/", "www.other.org"), "trail-short");
    EXPECT_EQ(which("/", "WWW.Trail.net"), "trail");
}

TEST_F(LocationMatchTest, ServerNameOrderOfKinds) {
    ASSERT_TRUE(load(kServers).is_ok());
    EXPECT_EQ(which("/", "www.exact.wild.example"), "exact2");  // exact before wildcards
    EXPECT_EQ(which("/", "www.wild.example"), "star");          // leading before trailing
    EXPECT_EQ(which("/", "re12.example"), "regex1");            // regexes last, in order
    EXPECT_EQ(which("/", "re1.other"), "regex2");
    EXPECT_EQ(which("/", "RE7.EXAMPLE"), "regex1");
}

TEST_F(LocationMatchTest, ServerNameDefault) {
    ASSERT_TRUE(load(kServers).is_ok());
    EXPECT_EQ(which("/", "unknown.example"), "default");
    std::string out = support::http_exchange(*cycle_, "GET / HTTP/1.0\r\n\r\n");
    EXPECT_THAT(out, EndsWith("\r\n\r\ndefault"));
}

TEST_F(LocationMatchTest, ServerNameRegexKeepsItsCase) {
    // Names are lowercased for caseless comparison, but a regex must stay as written: "\\D"
    // (not a digit) is not "\\d" (a digit).
    ASSERT_TRUE(load("http {\n"
                     " server { listen 127.0.0.1:8080; return 200 default; }\n"
                     " server { listen 127.0.0.1:8080; server_name ~^\\D+\\.example$;\n"
                     "  return 200 non-digits; }\n"
                     "}\n")
                    .is_ok());
    EXPECT_EQ(which("/", "abc.example"), "non-digits");
    EXPECT_EQ(which("/", "123.example"), "default");
}

TEST_F(LocationMatchTest, FirstServerIsTheDefaultWithoutDefaultServer) {
    ASSERT_TRUE(load("http {\n"
                     " server { listen 127.0.0.1:8080; server_name a.example; return 200 a; }\n"
                     " server { listen 127.0.0.1:8080; server_name b.example; return 200 b; }\n"
                     "}\n")
                    .is_ok());
    EXPECT_EQ(which("/", "none.example"), "a");
    EXPECT_EQ(which("/", "b.example"), "b");
}

TEST_F(LocationMatchTest, RejectsTwoDefaultServers) {
    std::string e = error(
        "http {\n"
        " server { listen 127.0.0.1:8080 default_server; }\n"
        " server { listen 127.0.0.1:8080 default_server; }\n"
        "}\n");
    EXPECT_EQ(e, "a duplicate default server for 127.0.0.1:8080" + at(3));
}

}  // namespace
}  // namespace http
