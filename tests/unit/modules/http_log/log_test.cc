// The log module: log_format and access_log (accepts, rejects with the message), the default
// access log, inheritance http -> server -> location, several logs at one level, escaping
// (default, json, none) and missing values. Requests are served in this process over a
// socketpair and the lines read back from the files of a temporary prefix.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "core/cycle.h"
#include "http/http.h"
#include "support/test_modules.h"

namespace mod::http_log {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        out.push_back(line);
    }
    return out;
}

class HttpLogTest : public ::testing::Test {
  protected:
    HttpLogTest() : registry_(core::compiled_modules()) {}

    core::Status load(std::string_view conf) {
        cycle_.reset();
        return support::load_cycle(registry_, dir_, conf, cycle_, nullptr, {}, true);
    }
    /// `http_directives` at http level, then one server with `server_directives`.
    core::Status load_http(std::string_view http_directives,
                           std::string_view server_directives = {}) {
        return load("http {\n " + std::string(http_directives) +
                    "\n server {\n  listen 127.0.0.1:8080;\n  " + std::string(server_directives) +
                    "\n }\n}\n");
    }
    void serve(std::string_view http_directives, std::string_view server_directives = {}) {
        core::Status s = load_http(http_directives, server_directives);
        ASSERT_TRUE(s.is_ok()) << s.message();
    }
    std::string error(std::string_view conf) {
        core::Status s = load(conf);
        EXPECT_FALSE(s.is_ok()) << "loaded: " << conf;
        return s.message();
    }
    std::string http_error(std::string_view http_directives) {
        core::Status s = load_http(http_directives);
        EXPECT_FALSE(s.is_ok()) << "loaded: " << http_directives;
        return s.message();
    }
    std::string at(int line) const {
        return " in " + dir_.file("halo.conf") + ":" + std::to_string(line);
    }
    std::string exchange(std::string_view request) {
        return cycle_ ? support::http_exchange(*cycle_, request) : "<no cycle>";
    }
    std::string get(std::string_view target, std::string_view headers = {}) {
        return exchange("GET " + std::string(target) + " HTTP/1.1\r\nHost: a\r\n" +
                        std::string(headers) + "Connection: close\r\n\r\n");
    }
    std::vector<std::string> log(std::string_view name) { return lines_of(dir_.read(name)); }

    support::TempDir dir_;
    core::ModuleRegistry registry_;
    std::unique_ptr<core::Cycle> cycle_;
};

// ---- config: accepted forms ----

TEST_F(HttpLogTest, AcceptsEveryForm) {
    core::Status s = load(
        "http {\n"
        " log_format plain '$remote_addr $status';\n"
        " log_format j escape=json '{\"s\":\"$status\"}';\n"
        " log_format n escape=none $uri;\n"
        " log_format d escape=default $uri \" \" $args;\n"
        " access_log logs/a.log;\n"
        " access_log logs/b.log plain;\n"
        " access_log logs/c.log j buffer=32k;\n"
        " access_log logs/d.log n buffer=1m flush=5s;\n"
        " server { listen 127.0.0.1:8080; access_log off;\n"
        "  location / { access_log logs/e.log combined; } }\n"
        "}\n");
    EXPECT_TRUE(s.is_ok()) << s.message();
}

// ---- config: rejections ----

TEST_F(HttpLogTest, RejectsUnknownFormat) {
    EXPECT_EQ(http_error("access_log logs/a.log nosuch;"), "unknown log format \"nosuch\"" + at(2));
}

TEST_F(HttpLogTest, RejectsFormatDefinedAfterItsUse) {
    EXPECT_EQ(error("http {\n access_log logs/a.log late;\n log_format late $uri; }"),
              "unknown log format \"late\"" + at(2));
}

TEST_F(HttpLogTest, RejectsDuplicateFormat) {
    EXPECT_EQ(error("http {\n log_format a $uri;\n log_format a $args; }"),
              "duplicate \"log_format\" name \"a\"" + at(3));
}

TEST_F(HttpLogTest, RejectsRedefiningCombined) {
    // nginx predefines "combined": a log_format with that name is a duplicate, whether or not
    // an access_log used it before.
    EXPECT_EQ(error("http {\n log_format combined $uri; }"),
              "duplicate \"log_format\" name \"combined\"" + at(2));
    EXPECT_EQ(error("http {\n access_log logs/a.log;\n log_format combined $uri; }"),
              "duplicate \"log_format\" name \"combined\"" + at(3));
}

TEST_F(HttpLogTest, RejectsBadEscape) {
    EXPECT_EQ(http_error("log_format a escape=html $uri;"),
              "invalid value \"escape=html\" in \"log_format\" directive, it must be "
              "escape=default, json or none" +
                  at(2));
}

TEST_F(HttpLogTest, RejectsFormatWithoutStrings) {
    EXPECT_EQ(http_error("log_format a;"),
              "invalid number of arguments in \"log_format\" directive" + at(2));
    EXPECT_EQ(http_error("log_format a escape=json;"),
              "invalid number of arguments in \"log_format\" directive" + at(2));
}

TEST_F(HttpLogTest, AcceptsIfAndSyslog) {
    core::Status s = load(
        "http {\n"
        " access_log logs/a.log combined if=$arg_log;\n"
        " access_log logs/z.log.gz combined gzip;\n"
        " access_log logs/y.log.gz combined gzip=9 flush=2s;\n"
        " access_log logs/b.log combined buffer=4k flush=1s if=x$arg_a;\n"
        " access_log syslog:server=127.0.0.1:5140,facility=local6,severity=notice,tag=web;\n"
        " access_log syslog:server=unix:/dev/log,nohostname combined if=$arg_log;\n"
        "}\n");
    EXPECT_TRUE(s.is_ok()) << s.message();
}

TEST_F(HttpLogTest, RejectsWhatHaloCannotDoAndNginxsErrors) {
    EXPECT_EQ(http_error("access_log logs/$host.log combined buffer=4k;"),
              "buffered logs cannot have variables in name" + at(2));
    EXPECT_EQ(http_error("access_log logs/$host.log combined gzip;"),
              "buffered logs cannot have variables in name" + at(2));
    EXPECT_EQ(http_error("access_log logs/$nosuch.log;"), "unknown \"nosuch\" variable" + at(2));
    EXPECT_EQ(http_error("access_log logs/a.log combined gzip=10;"),
              "invalid compression level \"10\"" + at(2));
    EXPECT_TRUE(load("http {\n open_log_file_cache off;\n}\n").is_ok());
    EXPECT_EQ(http_error("access_log logs/a.log combined flush=5s;"),
              "no buffer is defined for access_log \"logs/a.log\"" + at(2));
    EXPECT_EQ(http_error("access_log syslog:server=127.0.0.1 combined buffer=4k;"),
              "logs to syslog cannot be buffered" + at(2));
    EXPECT_EQ(http_error("access_log syslog:server=127.0.0.1,facility=nope;"),
              "unknown syslog facility \"nope\"" + at(2));
    EXPECT_EQ(http_error("access_log syslog:tag=x;"), "no syslog server specified" + at(2));
    EXPECT_EQ(http_error("access_log logs/a.log combined if=$nosuchvar;"),
              "unknown \"nosuchvar\" variable" + at(2));
}

TEST_F(HttpLogTest, OpenLogFileCacheAsNginxParsesIt) {
    for (const char* ok : {"open_log_file_cache max=10;", "open_log_file_cache off;",
                           "open_log_file_cache max=1 inactive=1h valid=1d min_uses=3;",
                           "open_log_file_cache max=1 min_uses=0 valid=0 inactive=0;",
                           "open_log_file_cache max=3 off;", "open_log_file_cache off inactive=3s;",
                           "open_log_file_cache max=1 inactive=1m30s;"}) {
        core::Status s = load_http(ok);
        EXPECT_TRUE(s.is_ok()) << ok << ": " << s.message();
    }
    EXPECT_EQ(http_error("open_log_file_cache max=0;"),
              "\"open_log_file_cache\" must have \"max\" parameter" + at(2));
    EXPECT_EQ(http_error("open_log_file_cache inactive=20s;"),
              "\"open_log_file_cache\" must have \"max\" parameter" + at(2));
    for (const char* bad : {"max=x", "max=-1", "inactive=500ms", "foo", "valid=1q"}) {
        EXPECT_EQ(http_error("open_log_file_cache max=1 " + std::string(bad) + ";"),
                  "invalid \"open_log_file_cache\" parameter \"" + std::string(bad) + "\"" + at(2));
    }
    EXPECT_EQ(http_error("open_log_file_cache max=1;\n open_log_file_cache max=2;"),
              "\"open_log_file_cache\" directive is duplicate" + at(3));
}

TEST_F(HttpLogTest, VariablesInThePathOneFileEach) {
    std::filesystem::create_directories(dir_.file("html"));  // nginx tests the root exists
    serve("log_format u '$uri';",
          "access_log logs/$host-$arg_n.log u;\n location / { return 204; }");
    EXPECT_THAT(get("/one?n=1"), StartsWith("HTTP/1.1 204"));
    EXPECT_THAT(get("/two?n=2"), StartsWith("HTTP/1.1 204"));
    EXPECT_THAT(get("/three?n=1"), StartsWith("HTTP/1.1 204"));
    EXPECT_THAT(log("logs/a-1.log"), ElementsAre("/one", "/three"));
    EXPECT_THAT(log("logs/a-2.log"), ElementsAre("/two"));
}

TEST_F(HttpLogTest, VariablePathIsNotOpenedByTheConfiguration) {
    serve("", "access_log logs/$host.log;");
    EXPECT_FALSE(std::filesystem::exists(dir_.file("logs/$host.log")));
    EXPECT_FALSE(std::filesystem::exists(dir_.file("logs/.log")));
}

TEST_F(HttpLogTest, VariablePathAfterThePrefixEvenWhenItStartsWithAVariable) {
    // As nginx: the prefix goes before the unevaluated path, so "$x" is under the prefix.
    std::filesystem::create_directories(dir_.file("html"));
    serve("log_format u '$uri';",
          "set $x logs/x.log;\n access_log $x u;\n location / { return 204; }");
    EXPECT_THAT(get("/p"), StartsWith("HTTP/1.1 204"));
    EXPECT_THAT(log("logs/x.log"), ElementsAre("/p"));
}

TEST_F(HttpLogTest, RejectsUnknownVariableInFormat) {
    EXPECT_EQ(http_error("log_format a '$uri $nosuch';"), "unknown \"nosuch\" variable" + at(2));
}

TEST_F(HttpLogTest, RejectsLogFormatOutsideHttp) {
    EXPECT_EQ(error("http { server { listen 127.0.0.1:8080;\n log_format a $uri; } }"),
              "\"log_format\" directive is not allowed here" + at(2));
    EXPECT_EQ(error("log_format a $uri;"), "\"log_format\" directive is not allowed here" + at(1));
}

TEST_F(HttpLogTest, RejectsBadBufferAndFlush) {
    EXPECT_EQ(http_error("access_log logs/a.log combined buffer=0;"),
              "invalid value \"buffer=0\" in \"access_log\" directive, the buffer must be 1..64m" +
                  at(2));
    EXPECT_EQ(http_error("access_log logs/a.log combined buffer=x;"),
              "invalid value \"buffer=x\" in \"access_log\" directive, the buffer must be 1..64m" +
                  at(2));
    EXPECT_EQ(http_error("access_log logs/a.log combined buffer=65m;"),
              "invalid value \"buffer=65m\" in \"access_log\" directive, the buffer must be "
              "1..64m" +
                  at(2));
    EXPECT_EQ(http_error("access_log logs/a.log combined flush=0;"),
              "invalid value \"flush=0\" in \"access_log\" directive" + at(2));
    EXPECT_EQ(http_error("access_log logs/a.log combined flush=soon;"),
              "invalid value \"flush=soon\" in \"access_log\" directive" + at(2));
    EXPECT_EQ(http_error("access_log logs/a.log combined buffer=1k flush=1s nosuch=1;"),
              "invalid parameter \"nosuch=1\"" + at(2));
}

TEST_F(HttpLogTest, RejectsOffWithParameters) {
    EXPECT_EQ(http_error("access_log off combined;"),
              "invalid parameters in \"access_log off\"" + at(2));
    EXPECT_EQ(error("http {\n access_log logs/a.log;\n access_log off; }"),
              "invalid parameters in \"access_log off\"" + at(3));
    EXPECT_EQ(error("http {\n access_log off;\n access_log logs/a.log; }"),
              "\"access_log\" is already off at this level" + at(3));
}

TEST_F(HttpLogTest, RejectsAFileThatCannotBeOpened) {
    EXPECT_EQ(http_error("access_log nodir/a.log;"),
              "open() \"" + dir_.file("nodir/a.log") + "\" failed (2: No such file or directory)");
}

// ---- lines ----

constexpr std::string_view kCombinedRe =
    R"(^- - - \[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}\] )";

TEST_F(HttpLogTest, DefaultIsLogsAccessLogInTheCombinedFormat) {
    serve("", "return 200 \"hello\";");
    get("/path?q=1", "Referer: http://r/\r\nUser-Agent: ua/1.0\r\n");
    auto lines = log("logs/access.log");
    ASSERT_EQ(lines.size(), 1u) << dir_.read("logs/access.log");
    // The unit exchange runs over a socketpair: no client address ("-").
    EXPECT_TRUE(std::regex_search(lines[0], std::regex(std::string(kCombinedRe)))) << lines[0];
    EXPECT_THAT(lines[0], testing::EndsWith("] \"GET /path?q=1 HTTP/1.1\" 200 5 \"http://r/\" "
                                            "\"ua/1.0\""));
}

TEST_F(HttpLogTest, CombinedWithMissingHeaders) {
    serve("access_log logs/a.log combined;", "return 204;");
    get("/");
    auto lines = log("logs/a.log");
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_THAT(lines[0], testing::EndsWith("] \"GET / HTTP/1.1\" 204 0 \"-\" \"-\""));
}

TEST_F(HttpLogTest, OneLinePerRequestOnAKeepaliveConnection) {
    serve("log_format n '$uri $status';\n access_log logs/a.log n;",
          "location / { return 200 ok; }\n location /missing { return 404; }");
    exchange(
        "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
        "GET /missing HTTP/1.1\r\nHost: a\r\n\r\n"
        "GET /three HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    EXPECT_THAT(log("logs/a.log"), ElementsAre("/one 200", "/missing 404", "/three 200"));
}

TEST_F(HttpLogTest, FormatConcatenatesItsStrings) {
    serve("log_format f '$request_method ' $uri ' [' $status ']';\n access_log logs/a.log f;",
          "return 200 x;");
    get("/p");
    EXPECT_THAT(log("logs/a.log"), ElementsAre("GET /p [200]"));
}

TEST_F(HttpLogTest, StaticFilesAndErrorsAreLogged) {
    dir_.write("html/a.txt", "12345");
    serve("log_format f '$uri $status $body_bytes_sent';\n access_log logs/a.log f;");
    get("/a.txt");
    get("/missing.txt");
    auto lines = log("logs/a.log");
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0], "/a.txt 200 5");
    EXPECT_THAT(lines[1], StartsWith("/missing.txt 404 "));
}

TEST_F(HttpLogTest, BadRequestIsLogged) {
    serve("log_format f 'status=$status';\n access_log logs/a.log f;");
    exchange("GET /../x HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_THAT(log("logs/a.log"), ElementsAre("status=400"));
}

TEST_F(HttpLogTest, ClosedWithoutResponseIsLogged) {
    // nginx logs `return 444` (the connection closed without a response) with status 444.
    serve("log_format f '$uri $status';\n access_log logs/a.log f;",
          "location /drop { return 444; }");
    EXPECT_EQ(get("/drop"), "");
    EXPECT_THAT(log("logs/a.log"), ElementsAre("/drop 444"));
}

TEST_F(HttpLogTest, SeveralLogsAtOneLevel) {
    serve(
        "log_format u $uri;\n log_format s $status;\n"
        " access_log logs/u.log u;\n access_log logs/s.log s;",
        "return 200 x;");
    get("/x");
    EXPECT_THAT(log("logs/u.log"), ElementsAre("/x"));
    EXPECT_THAT(log("logs/s.log"), ElementsAre("200"));
    EXPECT_FALSE(std::filesystem::exists(dir_.file("logs/access.log")));
}

TEST_F(HttpLogTest, SameFileTwice) {
    serve(
        "log_format u 'u $uri';\n log_format s 's $status';\n"
        " access_log logs/a.log u;\n access_log logs/a.log s;",
        "return 200 x;");
    get("/x");
    EXPECT_THAT(log("logs/a.log"), ElementsAre("u /x", "s 200"));
}

TEST_F(HttpLogTest, InheritanceHttpServerLocation) {
    ASSERT_TRUE(load("http {\n"
                     " log_format u $uri;\n"
                     " access_log logs/http.log u;\n"
                     " server { listen 127.0.0.1:8080;\n"
                     "  location /h { return 200 x; }\n"
                     "  location /l { access_log logs/loc.log u; return 200 x;\n"
                     "   location /l/nested { return 200 x; } }\n"
                     "  location /off { access_log off; return 200 x; }\n"
                     " }\n"
                     "}\n")
                    .is_ok());
    get("/h");
    get("/l");
    get("/l/nested");
    get("/off");
    EXPECT_THAT(log("logs/http.log"), ElementsAre("/h"));
    EXPECT_THAT(log("logs/loc.log"), ElementsAre("/l", "/l/nested"));
    EXPECT_FALSE(std::filesystem::exists(dir_.file("logs/access.log")));
}

TEST_F(HttpLogTest, ServerLevelLogForItsLocations) {
    ASSERT_TRUE(load("http {\n"
                     " log_format u $uri;\n"
                     " access_log logs/http.log u;\n"
                     " server { listen 127.0.0.1:8080; access_log logs/srv.log u;\n"
                     "  location /s { return 200 x; } }\n"
                     "}\n")
                    .is_ok());
    get("/s");
    get("/none");
    EXPECT_THAT(log("logs/srv.log"), ElementsAre("/s", "/none"));
    EXPECT_THAT(log("logs/http.log"), IsEmpty());
}

TEST_F(HttpLogTest, OffAtHttpLevelIsInherited) {
    serve("access_log off;", "location / { return 200 x; }");
    get("/");
    EXPECT_FALSE(std::filesystem::exists(dir_.file("logs/access.log")));
}

TEST_F(HttpLogTest, LocationLogReplacesTheInheritedOnes) {
    serve("log_format u $uri;\n access_log logs/http.log u;",
          "location / { access_log logs/loc.log u; return 200 x; }");
    get("/");
    EXPECT_THAT(log("logs/loc.log"), ElementsAre("/"));
    EXPECT_THAT(log("logs/http.log"), IsEmpty());
}

TEST_F(HttpLogTest, RelativePathsAreUnderThePrefix) {
    std::filesystem::create_directories(dir_.file("other"));
    serve("log_format u $uri;\n access_log other/u.log u;", "return 200 x;");
    get("/rel");
    EXPECT_THAT(log("other/u.log"), ElementsAre("/rel"));
}

TEST_F(HttpLogTest, LinesAreAppended) {
    dir_.write("logs/a.log", "old line\n");
    serve("log_format u $uri;\n access_log logs/a.log u;", "return 200 x;");
    get("/new");
    EXPECT_THAT(log("logs/a.log"), ElementsAre("old line", "/new"));
}

// ---- escaping ----

TEST_F(HttpLogTest, DefaultEscaping) {
    serve("log_format f '[$uri] [$http_x_v]';\n access_log logs/a.log f;", "return 200 x;");
    // The URI is decoded: %22 is '"', %5C is '\', %01 a control byte, %C3%A9 is "é".
    get("/a%22b%5Cc%01d%7Fe%C3%A9", "X-V: tab\there\r\n");
    EXPECT_THAT(log("logs/a.log"),
                ElementsAre(R"([/a\x22b\x5Cc\x01d\x7Fe\xC3\xA9] [tab\x09here])"));
}

TEST_F(HttpLogTest, JsonEscaping) {
    serve(
        "log_format f escape=json '{\"uri\":\"$uri\",\"v\":\"$http_x_v\"}';\n"
        " access_log logs/a.log f;",
        "return 200 x;");
    get("/a%22b%5Cc%01d%C3%A9", "X-V: tab\there\r\n");
    EXPECT_THAT(log("logs/a.log"),
                ElementsAre("{\"uri\":\"/a\\\"b\\\\c\\u0001d\xC3\xA9\",\"v\":\"tab\\there\"}"));
}

TEST_F(HttpLogTest, NoEscaping) {
    serve("log_format f escape=none '[$uri]';\n access_log logs/a.log f;", "return 200 x;");
    get("/a%22b%5Cc");
    EXPECT_THAT(log("logs/a.log"), ElementsAre("[/a\"b\\c]"));
}

TEST_F(HttpLogTest, MissingValues) {
    serve(
        "log_format d '[$http_x_none] [$arg_none] [$http_referer]';\n"
        " log_format j escape=json '[$http_x_none] [$arg_none]';\n"
        " log_format n escape=none '[$http_x_none] [$arg_none]';\n"
        " access_log logs/d.log d;\n access_log logs/j.log j;\n access_log logs/n.log n;",
        "return 200 x;");
    get("/");
    EXPECT_THAT(log("logs/d.log"), ElementsAre("[-] [-] [-]"));
    EXPECT_THAT(log("logs/j.log"), ElementsAre("[] []"));
    EXPECT_THAT(log("logs/n.log"), ElementsAre("[-] [-]"));
}

TEST_F(HttpLogTest, ResponseVariables) {
    serve(
        "log_format f '$status $body_bytes_sent $bytes_sent $request_length';\n"
        " access_log logs/a.log f;",
        "return 200 \"12345678\";");
    std::string req = "GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    std::string out = exchange(req);
    auto lines = log("logs/a.log");
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0], "200 8 " + std::to_string(out.size()) + " " + std::to_string(req.size()));
}

TEST_F(HttpLogTest, HeadSendsNoBodyBytes) {
    serve("log_format f '$request_method $status $body_bytes_sent';\n access_log logs/a.log f;",
          "return 200 \"12345678\";");
    exchange("HEAD / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    EXPECT_THAT(log("logs/a.log"), ElementsAre("HEAD 200 0"));
}

TEST_F(HttpLogTest, UriAfterAnInternalRedirect) {
    dir_.write("html/index.html", "index");
    serve("log_format f '$uri $request_uri $status';\n access_log logs/a.log f;");
    get("/?x=1");
    EXPECT_THAT(log("logs/a.log"), ElementsAre("/index.html /?x=1 200"));
}

TEST_F(HttpLogTest, TimeVariables) {
    serve(
        "log_format f '$time_local|$time_iso8601|$msec|$request_time';\n"
        " access_log logs/a.log f;",
        "return 200 x;");
    get("/");
    auto lines = log("logs/a.log");
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_THAT(lines[0],
                MatchesRegex("[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} "
                             "[+-][0-9]{4}\\|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
                             "[+-][0-9]{2}:[0-9]{2}\\|[0-9]+\\.[0-9]{3}\\|[0-9]+\\.[0-9]{3}"));
}

}  // namespace
}  // namespace mod::http_log
