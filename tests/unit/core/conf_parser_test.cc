// The config grammar: words, blocks, quotes and escapes, comments, includes, and the nginx
// wording of every syntax error with its file:line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/conf_file.h"
#include "support/test_modules.h"

namespace core {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

/// Parses `text` named "t.conf" (includes relative to `dir`).
Status parse(std::string_view text, ConfDocument& doc, const std::string& dir = "/nonexistent") {
    return ConfParser(dir).parse_text(text, "t.conf", doc);
}

std::string parse_error(std::string_view text) {
    ConfDocument doc;
    Status s = parse(text, doc);
    EXPECT_FALSE(s.is_ok()) << "parsed: " << text;
    return s.message();
}

TEST(ConfParserTest, DirectivesWithArgsAndLines) {
    ConfDocument doc;
    ASSERT_TRUE(parse("daemon off;\n\nworker_processes   4 ;\nuser a\tb;", doc).is_ok());
    ASSERT_EQ(doc.directives.size(), 3u);
    EXPECT_THAT(doc.directives[0].args, ElementsAre("daemon", "off"));
    EXPECT_EQ(doc.directives[0].line, 1);
    EXPECT_FALSE(doc.directives[0].block);
    EXPECT_THAT(doc.directives[1].args, ElementsAre("worker_processes", "4"));
    EXPECT_EQ(doc.directives[1].line, 3);
    EXPECT_THAT(doc.directives[2].args, ElementsAre("user", "a", "b"));
    EXPECT_EQ(doc.directives[2].line, 4);
    EXPECT_EQ(doc.directives[2].name(), "user");
    EXPECT_EQ(doc.directives[2].where(), "t.conf:4");
}

TEST(ConfParserTest, EmptyTextHasNoDirectives) {
    ConfDocument doc;
    ASSERT_TRUE(parse("", doc).is_ok());
    ASSERT_TRUE(parse("  \n\t# only a comment\n\n", doc).is_ok());
    EXPECT_TRUE(doc.directives.empty());
}

TEST(ConfParserTest, NestedBlocks) {
    ConfDocument doc;
    ASSERT_TRUE(parse("http {\n"
                      "  server {\n"
                      "    listen 80;\n"
                      "    location / { return 200; }\n"
                      "  }\n"
                      "}\n"
                      "events{}",
                      doc)
                    .is_ok());
    ASSERT_EQ(doc.directives.size(), 2u);
    const ConfNode& http = doc.directives[0];
    EXPECT_TRUE(http.block);
    EXPECT_THAT(http.args, ElementsAre("http"));
    ASSERT_EQ(http.children.size(), 1u);
    const ConfNode& server = http.children[0];
    EXPECT_EQ(server.line, 2);
    ASSERT_EQ(server.children.size(), 2u);
    EXPECT_THAT(server.children[0].args, ElementsAre("listen", "80"));
    EXPECT_EQ(server.children[0].line, 3);
    const ConfNode& loc = server.children[1];
    EXPECT_TRUE(loc.block);
    EXPECT_THAT(loc.args, ElementsAre("location", "/"));
    ASSERT_EQ(loc.children.size(), 1u);
    EXPECT_THAT(loc.children[0].args, ElementsAre("return", "200"));
    EXPECT_EQ(loc.children[0].line, 4);
    EXPECT_TRUE(doc.directives[1].block);
    EXPECT_TRUE(doc.directives[1].children.empty());
    EXPECT_EQ(doc.directives[1].line, 7);
}

TEST(ConfParserTest, DirectiveWordsMaySpanLines) {
    ConfDocument doc;
    ASSERT_TRUE(parse("\nlisten\n  127.0.0.1:80\n  default_server;", doc).is_ok());
    ASSERT_EQ(doc.directives.size(), 1u);
    EXPECT_EQ(doc.directives[0].line, 2);  // the line of the first word
    EXPECT_THAT(doc.directives[0].args, ElementsAre("listen", "127.0.0.1:80", "default_server"));
}

TEST(ConfParserTest, CrlfLineEndings) {
    ConfDocument doc;
    ASSERT_TRUE(parse("a 1;\r\nb 2;\r\n", doc).is_ok());
    ASSERT_EQ(doc.directives.size(), 2u);
    EXPECT_THAT(doc.directives[1].args, ElementsAre("b", "2"));
    EXPECT_EQ(doc.directives[1].line, 2);
}

TEST(ConfParserTest, Comments) {
    ConfDocument doc;
    ASSERT_TRUE(parse("# head\n"
                      "a 1; # trailing ; { } \"\n"
                      "  # indented\n"
                      "b {  # after brace\n"
                      "  c; }\n"
                      "d a#b;\n",
                      doc)
                    .is_ok());
    ASSERT_EQ(doc.directives.size(), 3u);
    EXPECT_THAT(doc.directives[0].args, ElementsAre("a", "1"));
    EXPECT_EQ(doc.directives[1].line, 4);
    ASSERT_EQ(doc.directives[1].children.size(), 1u);
    EXPECT_EQ(doc.directives[1].children[0].line, 5);
    // '#' inside a word is part of the word.
    EXPECT_THAT(doc.directives[2].args, ElementsAre("d", "a#b"));
}

TEST(ConfParserTest, QuotedWords) {
    ConfDocument doc;
    ASSERT_TRUE(parse("a \"two words\" 'single { ; }' \"\" '';", doc).is_ok());
    ASSERT_EQ(doc.directives.size(), 1u);
    EXPECT_THAT(doc.directives[0].args, ElementsAre("a", "two words", "single { ; }", "", ""));
}

TEST(ConfParserTest, QuotedWordMayBeFollowedBySeparators) {
    ConfDocument doc;
    ASSERT_TRUE(parse("a \"x\";b 'y'{c \"z\"\n;}d \"w\"\t;", doc).is_ok());
    ASSERT_EQ(doc.directives.size(), 3u);
    EXPECT_THAT(doc.directives[0].args, ElementsAre("a", "x"));
    EXPECT_THAT(doc.directives[1].args, ElementsAre("b", "y"));
    EXPECT_TRUE(doc.directives[1].block);
    EXPECT_THAT(doc.directives[1].children[0].args, ElementsAre("c", "z"));
    EXPECT_THAT(doc.directives[2].args, ElementsAre("d", "w"));
}

TEST(ConfParserTest, QuotedNewlinesCountLines) {
    ConfDocument doc;
    ASSERT_TRUE(parse("a \"line1\nline2\";\nb;", doc).is_ok());
    ASSERT_EQ(doc.directives.size(), 2u);
    EXPECT_EQ(doc.directives[0].args[1], "line1\nline2");
    EXPECT_EQ(doc.directives[1].line, 3);
}

TEST(ConfParserTest, EscapesInQuotes) {
    ConfDocument doc;
    ASSERT_TRUE(parse(R"(a "q\"q" 'q\'q' "b\\s" "t\tr\rn\n" "re\.x\d" '\"';)", doc).is_ok());
    ASSERT_EQ(doc.directives.size(), 1u);
    EXPECT_THAT(doc.directives[0].args,
                ElementsAre("a", "q\"q", "q'q", "b\\s", "t\tr\rn\n", "re\\.x\\d", "\""));
}

TEST(ConfParserTest, EscapesInUnquotedWords) {
    ConfDocument doc;
    ASSERT_TRUE(parse(R"(a x\"y x\;y \.php$ x\ty x\\y;)", doc).is_ok());
    ASSERT_EQ(doc.directives.size(), 1u);
    EXPECT_THAT(doc.directives[0].args,
                ElementsAre("a", "x\"y", "x\\;y", "\\.php$", "x\ty", "x\\y"));
}

TEST(ConfParserTest, VariablesInBracesKeptWhole) {
    ConfDocument doc;
    ASSERT_TRUE(parse("set $a ${b}c ${with space;}d $x{y;}", doc).is_ok());
    ASSERT_EQ(doc.directives.size(), 1u);
    EXPECT_THAT(doc.directives[0].args, ElementsAre("set", "$a", "${b}c", "${with space;}d", "$x"));
    EXPECT_TRUE(doc.directives[0].block);  // `$x{` opens a block: only `${` is a variable
    EXPECT_THAT(doc.directives[0].children[0].args, ElementsAre("y"));
}

TEST(ConfParserTest, VariableWithoutClosingBracket) {
    EXPECT_EQ(parse_error("set $a ${b;\n"),
              "the closing bracket in variable is missing in t.conf:1");
}

// ---- syntax errors, worded as nginx's ----

TEST(ConfParserTest, UnexpectedClosingBraceAtTopLevel) {
    EXPECT_EQ(parse_error("a;\n}\n"), "unexpected \"}\" in t.conf:2");
    EXPECT_EQ(parse_error("events { }\n}"), "unexpected \"}\" in t.conf:2");
}

TEST(ConfParserTest, UnexpectedClosingBraceAfterWords) {
    EXPECT_EQ(parse_error("events {\n  worker_connections 10 }\n"), "unexpected \"}\" in t.conf:2");
}

TEST(ConfParserTest, UnexpectedSemicolon) {
    EXPECT_EQ(parse_error("a;\n;"), "unexpected \";\" in t.conf:2");
    EXPECT_EQ(parse_error("a;;"), "unexpected \";\" in t.conf:1");
}

TEST(ConfParserTest, UnexpectedOpeningBrace) {
    EXPECT_EQ(parse_error("\n\n{ a; }"), "unexpected \"{\" in t.conf:3");
    EXPECT_EQ(parse_error("http { { } }"), "unexpected \"{\" in t.conf:1");
}

TEST(ConfParserTest, EndOfFileInsideDirective) {
    EXPECT_EQ(parse_error("daemon off"),
              "unexpected end of file, expecting \";\" or \"}\" in t.conf:1");
    EXPECT_EQ(parse_error("a;\ndaemon\noff\n"),
              "unexpected end of file, expecting \";\" or \"}\" in t.conf:4");
}

TEST(ConfParserTest, EndOfFileInsideBlock) {
    // nginx's message (the line is the end of the file), then the block left open.
    EXPECT_EQ(parse_error("events {"),
              "unexpected end of file, expecting \"}\" in t.conf:1 (the \"events\" block "
              "opened in t.conf:1 is not closed)");
    EXPECT_EQ(parse_error("http {\n  server {\n  }\n"),
              "unexpected end of file, expecting \"}\" in t.conf:4 (the \"http\" block opened "
              "in t.conf:1 is not closed)");
    EXPECT_EQ(parse_error("http {\n  server {\n    location / {\n  }\n\n"),
              "unexpected end of file, expecting \"}\" in t.conf:6 (the \"server\" block "
              "opened in t.conf:2 is not closed)");
}

TEST(ConfParserTest, EndOfFileInsideQuotes) {
    EXPECT_EQ(parse_error("a \"open;\n"),
              "unexpected end of file, expecting terminating quote in t.conf:2");
    EXPECT_EQ(parse_error("a 'open;"),
              "unexpected end of file, expecting terminating quote in t.conf:1");
}

TEST(ConfParserTest, JunkAfterClosingQuote) {
    EXPECT_EQ(parse_error("a \"x\"y;"), "unexpected \"y\" in t.conf:1");
    EXPECT_EQ(parse_error("a\n'x'\"y\";"), "unexpected \"\"\" in t.conf:2");
}

TEST(ConfParserTest, ParenthesisAfterClosingQuoteIsAWord) {
    // `if ($a = "b c")`: nginx lets ')' follow a quoted word and reads it as a word of its own.
    ConfDocument doc;
    ASSERT_TRUE(parse("if ($a = \"b c\") { }", doc).is_ok());
    ASSERT_EQ(doc.directives.size(), 1u);
    EXPECT_THAT(doc.directives[0].args, ElementsAre("if", "($a", "=", "b c", ")"));
    EXPECT_TRUE(doc.directives[0].block);
    EXPECT_EQ(parse_error("a \"x\"(;"), "unexpected \"(\" in t.conf:1");
}

// ---- files and includes ----

TEST(ConfParserTest, ParseFileKeepsItsText) {
    support::TempDir dir;
    std::string path = dir.write("halo.conf", "a 1;\n");
    ConfDocument doc;
    ASSERT_TRUE(ConfParser(dir.path()).parse_file(path, doc).is_ok());
    ASSERT_EQ(doc.directives.size(), 1u);
    EXPECT_EQ(*doc.directives[0].file, path);
    EXPECT_EQ(doc.directives[0].where(), path + ":1");
    ASSERT_EQ(doc.files.size(), 1u);
    EXPECT_EQ(doc.files[0].path, path);
    EXPECT_EQ(doc.files[0].text, "a 1;\n");
}

TEST(ConfParserTest, MissingMainFile) {
    support::TempDir dir;
    ConfDocument doc;
    Status s = ConfParser(dir.path()).parse_file(dir.file("none.conf"), doc);
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.message(),
              "open() \"" + dir.file("none.conf") + "\" failed (2: No such file or directory)");
}

TEST(ConfParserTest, ErrorsNameTheFile) {
    support::TempDir dir;
    std::string path = dir.write("halo.conf", "a;\n\n}\n");
    ConfDocument doc;
    Status s = ConfParser(dir.path()).parse_file(path, doc);
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.message(), "unexpected \"}\" in " + path + ":3");
}

TEST(ConfParserTest, ParseTextAppendsAfterEarlierDirectives) {
    support::TempDir dir;
    std::string path = dir.write("halo.conf", "b 2;\n");
    ConfDocument doc;
    ConfParser parser(dir.path());
    ASSERT_TRUE(parser.parse_text("a 1;", "command line", doc).is_ok());
    ASSERT_TRUE(parser.parse_file(path, doc).is_ok());
    ASSERT_EQ(doc.directives.size(), 2u);
    EXPECT_EQ(doc.directives[0].where(), "command line:1");
    EXPECT_EQ(doc.directives[1].where(), path + ":1");
    // Only files are kept for -T.
    ASSERT_EQ(doc.files.size(), 1u);
    EXPECT_EQ(doc.files[0].path, path);
}

TEST(ConfParserTest, CommandLineErrorsNameTheCommandLine) {
    ConfDocument doc;
    Status s = ConfParser("/").parse_text("daemon off", "command line", doc);
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.message(), "unexpected end of file, expecting \";\" or \"}\" in command line:1");
}

TEST(ConfParserTest, IncludeRelativeToConfDir) {
    support::TempDir dir;
    dir.write("sub/part.conf", "b 2;\nc 3;\n");
    std::string path = dir.write("halo.conf", "a 1;\ninclude sub/part.conf;\nd 4;\n");
    ConfDocument doc;
    ASSERT_TRUE(ConfParser(dir.path()).parse_file(path, doc).is_ok());
    ASSERT_EQ(doc.directives.size(), 4u);
    EXPECT_EQ(doc.directives[0].name(), "a");
    EXPECT_EQ(doc.directives[1].name(), "b");
    EXPECT_EQ(doc.directives[1].where(), dir.file("sub/part.conf") + ":1");
    EXPECT_EQ(doc.directives[2].where(), dir.file("sub/part.conf") + ":2");
    EXPECT_EQ(doc.directives[3].name(), "d");
    EXPECT_EQ(doc.directives[3].where(), path + ":3");
    ASSERT_EQ(doc.files.size(), 2u);
    EXPECT_EQ(doc.files[0].path, path);
    EXPECT_EQ(doc.files[1].path, dir.file("sub/part.conf"));
    EXPECT_EQ(doc.files[1].text, "b 2;\nc 3;\n");
}

TEST(ConfParserTest, IncludeIsRelativeToConfDirNotToTheIncludingFile) {
    support::TempDir dir;
    dir.write("sub/inner.conf", "include sub/leaf.conf;\n");
    dir.write("sub/leaf.conf", "leaf;\n");
    std::string path = dir.write("halo.conf", "include sub/inner.conf;\n");
    ConfDocument doc;
    ASSERT_TRUE(ConfParser(dir.path()).parse_file(path, doc).is_ok());
    ASSERT_EQ(doc.directives.size(), 1u);
    EXPECT_EQ(doc.directives[0].name(), "leaf");
}

TEST(ConfParserTest, IncludeAbsolutePath) {
    support::TempDir dir;
    support::TempDir other;
    std::string part = other.write("x.conf", "x;\n");
    std::string path = dir.write("halo.conf", "include " + part + ";\n");
    ConfDocument doc;
    ASSERT_TRUE(ConfParser(dir.path()).parse_file(path, doc).is_ok());
    ASSERT_EQ(doc.directives.size(), 1u);
    EXPECT_EQ(doc.directives[0].where(), part + ":1");
}

TEST(ConfParserTest, IncludeGlobInSortedOrder) {
    support::TempDir dir;
    dir.write("conf.d/20-b.conf", "b;\n");
    dir.write("conf.d/10-a.conf", "a;\n");
    dir.write("conf.d/30-c.conf", "c;\n");
    dir.write("conf.d/ignored.txt", "junk junk\n");
    std::string path = dir.write("halo.conf", "include conf.d/*.conf;\n");
    ConfDocument doc;
    ASSERT_TRUE(ConfParser(dir.path()).parse_file(path, doc).is_ok());
    ASSERT_EQ(doc.directives.size(), 3u);
    EXPECT_EQ(doc.directives[0].name(), "a");
    EXPECT_EQ(doc.directives[1].name(), "b");
    EXPECT_EQ(doc.directives[2].name(), "c");
    ASSERT_EQ(doc.files.size(), 4u);
    EXPECT_EQ(doc.files[1].path, dir.file("conf.d/10-a.conf"));
    EXPECT_EQ(doc.files[3].path, dir.file("conf.d/30-c.conf"));
}

TEST(ConfParserTest, IncludeGlobMatchingNothingIsFine) {
    support::TempDir dir;
    dir.write("conf.d/readme.txt", "x");
    std::string path = dir.write("halo.conf", "include conf.d/*.conf;\na;\n");
    ConfDocument doc;
    Status s = ConfParser(dir.path()).parse_file(path, doc);
    ASSERT_TRUE(s.is_ok()) << s.message();
    ASSERT_EQ(doc.directives.size(), 1u);
    EXPECT_EQ(doc.directives[0].name(), "a");
}

// nginx accepts a glob whose folder does not exist (it matches nothing), e.g. Debian's
// `include /etc/nginx/modules-enabled/*.conf;` with the folder absent.
TEST(ConfParserTest, IncludeGlobInMissingFolderMatchesNothing) {
    support::TempDir dir;
    std::string path = dir.write("halo.conf", "include missing.d/*.conf;\na;\n");
    ConfDocument doc;
    Status s = ConfParser(dir.path()).parse_file(path, doc);
    ASSERT_TRUE(s.is_ok()) << s.message();
    ASSERT_EQ(doc.directives.size(), 1u);
}

TEST(ConfParserTest, IncludeMissingPlainFile) {
    support::TempDir dir;
    std::string path = dir.write("halo.conf", "a;\ninclude missing.conf;\n");
    ConfDocument doc;
    Status s = ConfParser(dir.path()).parse_file(path, doc);
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.message(), "open() \"" + dir.file("missing.conf") +
                               "\" failed (2: No such file or directory) in " + path + ":2");
}

// nginx: `include conf.d;` naming a folder fails (read() of a directory), rather than being
// read as an empty file and silently including nothing.
TEST(ConfParserTest, IncludeOfAFolderIsAnError) {
    support::TempDir dir;
    dir.write("conf.d/a.conf", "a;\n");
    std::string path = dir.write("halo.conf", "include conf.d;\n");
    ConfDocument doc;
    Status s = ConfParser(dir.path()).parse_file(path, doc);
    ASSERT_FALSE(s.is_ok());
    EXPECT_THAT(s.message(), HasSubstr(dir.file("conf.d")));
    EXPECT_THAT(s.message(), HasSubstr("Is a directory"));
}

TEST(ConfParserTest, IncludeInsideBlocks) {
    support::TempDir dir;
    dir.write("servers/one.conf", "server {\n  include loc.conf;\n}\n");
    dir.write("loc.conf", "location / { }\nlocation /x { }\n");
    std::string path = dir.write("halo.conf", "http {\n  include servers/*.conf;\n}\n");
    ConfDocument doc;
    ASSERT_TRUE(ConfParser(dir.path()).parse_file(path, doc).is_ok());
    ASSERT_EQ(doc.directives.size(), 1u);
    const ConfNode& http = doc.directives[0];
    ASSERT_EQ(http.children.size(), 1u);
    const ConfNode& server = http.children[0];
    EXPECT_EQ(server.where(), dir.file("servers/one.conf") + ":1");
    ASSERT_EQ(server.children.size(), 2u);
    EXPECT_THAT(server.children[1].args, ElementsAre("location", "/x"));
    EXPECT_EQ(server.children[1].where(), dir.file("loc.conf") + ":2");
}

TEST(ConfParserTest, IncludedFileMustCloseItsOwnBlocks) {
    support::TempDir dir;
    dir.write("open.conf", "server {\n");
    std::string path = dir.write("halo.conf", "http {\n  include open.conf;\n}\n");
    ConfDocument doc;
    Status s = ConfParser(dir.path()).parse_file(path, doc);
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.message(), "unexpected end of file, expecting \"}\" in " + dir.file("open.conf") +
                               ":2 (the \"server\" block opened in " + dir.file("open.conf") +
                               ":1 is not closed)");
}

TEST(ConfParserTest, IncludedFileCannotCloseTheIncludingBlock) {
    support::TempDir dir;
    dir.write("close.conf", "a;\n}\n");
    std::string path = dir.write("halo.conf", "http {\n  include close.conf;\n");
    ConfDocument doc;
    Status s = ConfParser(dir.path()).parse_file(path, doc);
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.message(), "unexpected \"}\" in " + dir.file("close.conf") + ":2");
}

TEST(ConfParserTest, ErrorInIncludedFileNamesThatFile) {
    support::TempDir dir;
    dir.write("bad.conf", "\n\na \"x\"y;\n");
    std::string path = dir.write("halo.conf", "include bad.conf;\n");
    ConfDocument doc;
    Status s = ConfParser(dir.path()).parse_file(path, doc);
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.message(), "unexpected \"y\" in " + dir.file("bad.conf") + ":3");
}

TEST(ConfParserTest, NestedIncludes) {
    support::TempDir dir;
    dir.write("a.conf", "a;\ninclude b.conf;\n");
    dir.write("b.conf", "b;\ninclude c.conf;\n");
    dir.write("c.conf", "c;\n");
    std::string path = dir.write("halo.conf", "include a.conf;\nz;\n");
    ConfDocument doc;
    ASSERT_TRUE(ConfParser(dir.path()).parse_file(path, doc).is_ok());
    std::vector<std::string> names;
    for (const auto& n : doc.directives) {
        names.emplace_back(n.name());
    }
    EXPECT_THAT(names, ElementsAre("a", "b", "c", "z"));
    ASSERT_EQ(doc.files.size(), 4u);
    EXPECT_EQ(doc.files[3].path, dir.file("c.conf"));
}

TEST(ConfParserTest, RecursiveIncludeIsRejected) {
    support::TempDir dir;
    dir.write("loop.conf", "include loop.conf;\n");
    std::string path = dir.write("halo.conf", "include loop.conf;\n");
    ConfDocument doc;
    Status s = ConfParser(dir.path()).parse_file(path, doc);
    ASSERT_FALSE(s.is_ok());
    EXPECT_THAT(s.message(), HasSubstr("too many nested includes"));
    EXPECT_THAT(s.message(), HasSubstr(" in " + dir.file("loop.conf") + ":1"));
}

TEST(ConfParserTest, IncludeArgumentErrors) {
    ConfDocument doc;
    Status s = parse("a;\ninclude a b;\n", doc);
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.message(), "invalid number of arguments in \"include\" directive in t.conf:2");
    ConfDocument doc2;
    s = parse("include;", doc2);
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.message(), "invalid number of arguments in \"include\" directive in t.conf:1");
    ConfDocument doc3;
    s = parse("include \"\";", doc3);
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.message(), "invalid value \"\" in \"include\" directive in t.conf:1");
}

TEST(ConfParserTest, IncludeWithQuotedGlob) {
    support::TempDir dir;
    dir.write("with space/x.conf", "x;\n");
    std::string path = dir.write("halo.conf", "include \"with space/*.conf\";\n");
    ConfDocument doc;
    ASSERT_TRUE(ConfParser(dir.path()).parse_file(path, doc).is_ok());
    ASSERT_EQ(doc.directives.size(), 1u);
    EXPECT_EQ(doc.directives[0].name(), "x");
}

}  // namespace
}  // namespace core
