// Variables and complex values: each built-in variable through `return 200 "$var"`, served in
// this process over a real loopback TCP connection (so that the addresses and ports are real),
// the ${name} form, prefix variables ($http_*, $arg_*), regex captures, and the load errors
// (unknown variable, unclosed bracket, invalid name) with file:line.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "core/cycle.h"
#include "http/http.h"
#include "http/variables.h"
#include "support/test_modules.h"

namespace http {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

/// Like support::http_exchange, over a loopback TCP connection: the server side is accepted
/// from a listener on 127.0.0.1 and handed to the first port of `cycle`. `client_port` and
/// `server_port` get the two ends' ports.
std::string tcp_exchange(core::Cycle* cycle, std::string_view request,
                         uint16_t* client_port = nullptr, uint16_t* server_port = nullptr) {
    if (cycle == nullptr) {
        return "<no cycle>";
    }
    HttpMainConf* main = http_main(*cycle);
    if (main == nullptr || main->ports.empty()) {
        return "<no http port>";
    }
    int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof(a);
    if (lfd < 0 || ::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        ::listen(lfd, 4) != 0 || ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &alen) != 0) {
        return "<listen failed>";
    }
    int cfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (cfd < 0 || ::connect(cfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
        ::close(lfd);
        return "<connect failed>";
    }
    core::SockAddr peer;
    peer.len = sizeof(peer.storage);
    int sfd = ::accept4(lfd, peer.get(), &peer.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    ::close(lfd);
    if (sfd < 0) {
        ::close(cfd);
        return "<accept failed>";
    }
    sockaddr_in c{};
    socklen_t clen = sizeof(c);
    ::getsockname(cfd, reinterpret_cast<sockaddr*>(&c), &clen);
    if (client_port != nullptr) {
        *client_port = ntohs(c.sin_port);
    }
    if (server_port != nullptr) {
        *server_port = ntohs(a.sin_port);
    }
    fcntl(cfd, F_SETFL, fcntl(cfd, F_GETFL) | O_NONBLOCK);

    core::ProcessInfo info;
    ev::Runtime runtime(*cycle, info);
    main->ports[0]->on_accept(sfd, peer);
    size_t off = 0;
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    bool eof = false;
    while (!eof && std::chrono::steady_clock::now() < deadline) {
        if (off < request.size()) {
            ssize_t n = ::send(cfd, request.data() + off, request.size() - off, MSG_NOSIGNAL);
            if (n > 0) {
                off += static_cast<size_t>(n);
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                off = request.size();
            }
        }
        runtime.loop().run_once(ev::Duration(10));
        char buf[4096];
        for (;;) {
            ssize_t n = ::read(cfd, buf, sizeof(buf));
            if (n > 0) {
                out.append(buf, static_cast<size_t>(n));
                continue;
            }
            if (n == 0) {
                eof = true;
            }
            break;
        }
    }
    ::close(cfd);
    for (int i = 0; i < 10 && runtime.active_connections() > 0; i++) {
        runtime.loop().run_once(ev::Duration(10));
    }
    runtime.loop().run_once(ev::Duration(0));
    return out;
}

/// The body of a response (after the head).
std::string body_of(const std::string& out) {
    size_t end = out.find("\r\n\r\n");
    return end == std::string::npos ? "<no response: " + out + ">" : out.substr(end + 4);
}

class VariablesTest : public ::testing::Test {
  protected:
    VariablesTest() : registry_(core::compiled_modules()) {}

    core::Status load(std::string_view conf) {
        cycle_.reset();
        return support::load_cycle(registry_, dir_, conf, cycle_, nullptr, {}, true);
    }
    /// One server (`server_directives`) with `location / { return 200 "<text>"; }`.
    void serve_text(std::string_view text, std::string_view server_directives = {}) {
        core::Status s = load("http {\n server {\n  listen 127.0.0.1:8080;\n  " +
                              std::string(server_directives) + "\n  location / { return 200 \"" +
                              std::string(text) + "\"; }\n }\n}\n");
        ASSERT_TRUE(s.is_ok()) << s.message();
    }
    /// The return text for `target` with extra `headers`.
    std::string eval(std::string_view text, std::string_view target = "/",
                     std::string_view headers = "Host: localhost\r\n") {
        serve_text(text);
        return body_of(tcp_exchange(cycle_.get(), "GET " + std::string(target) + " HTTP/1.1\r\n" +
                                                      std::string(headers) +
                                                      "Connection: close\r\n\r\n"));
    }
    std::string error(std::string_view conf) {
        core::Status s = load(conf);
        EXPECT_FALSE(s.is_ok()) << "loaded: " << conf;
        return s.message();
    }
    std::string at(int line) const {
        return " in " + dir_.file("halo.conf") + ":" + std::to_string(line);
    }

    support::TempDir dir_;
    core::ModuleRegistry registry_;
    std::unique_ptr<core::Cycle> cycle_;
};

// ---- parsing and binding ----

TEST(ComplexValueTest, ParsesLiteralsAndVariables) {
    ComplexValue cv;
    ASSERT_TRUE(ComplexValue::parse("plain text", "f:1", cv).is_ok());
    EXPECT_TRUE(cv.is_literal());
    EXPECT_EQ(cv.text(), "plain text");
    ASSERT_TRUE(ComplexValue::parse("a $uri b", "f:1", cv).is_ok());
    EXPECT_FALSE(cv.is_literal());
    EXPECT_EQ(cv.text(), "a $uri b");
    ASSERT_TRUE(ComplexValue::parse("${uri}x", "f:1", cv).is_ok());
    EXPECT_FALSE(cv.is_literal());
    ASSERT_TRUE(ComplexValue::parse("", "f:1", cv).is_ok());
    EXPECT_TRUE(cv.is_literal());
}

TEST(ComplexValueTest, ParseErrors) {
    ComplexValue cv;
    EXPECT_EQ(ComplexValue::parse("a ${uri b", "f:3", cv).message(),
              "the closing bracket in \"a ${uri b\" variable is missing in f:3");
    EXPECT_EQ(ComplexValue::parse("a $ b", "f:4", cv).message(),
              "invalid variable name in \"a $ b\" in f:4");
    EXPECT_EQ(ComplexValue::parse("${}", "f:5", cv).message(),
              "invalid variable name in \"${}\" in f:5");
}

TEST_F(VariablesTest, UnknownVariableFailsTheLoad) {
    EXPECT_EQ(error("http { server { listen 127.0.0.1:8080;\n"
                    "  location / {\n return 200 \"$foo\"; } } }"),
              "unknown \"foo\" variable" + at(3));
    EXPECT_EQ(error("http { server { listen 127.0.0.1:8080;\n"
                    "  location / {\n return 200 \"${foo}bar\"; } } }"),
              "unknown \"foo\" variable" + at(3));
    // A bare prefix is no variable.
    EXPECT_EQ(error("http { server { listen 127.0.0.1:8080;\n return 200 $http_; } }"),
              "unknown \"http_\" variable" + at(2));
    EXPECT_EQ(error("http { server { listen 127.0.0.1:8080;\n return 200 $arg_; } }"),
              "unknown \"arg_\" variable" + at(2));
}

TEST_F(VariablesTest, UnclosedBracketFailsTheLoad) {
    EXPECT_EQ(error("http { server { listen 127.0.0.1:8080;\n return 200 \"${uri\"; } }"),
              "the closing bracket in \"${uri\" variable is missing" + at(2));
}

TEST_F(VariablesTest, VariableNamesAreCaseSensitive) {
    EXPECT_EQ(error("http { server { listen 127.0.0.1:8080;\n return 200 $URI; } }"),
              "unknown \"URI\" variable" + at(2));
}

// ---- evaluation ----

TEST_F(VariablesTest, BracesSeparateANameFromText) {
    EXPECT_EQ(eval("${uri}_x|$uri.x|${request_method}GET", "/p"), "/p_x|/p.x|GETGET");
}

// nginx: `invalid variable name` for a `$` that ends the value, as for one followed by a
// blank (a price needs no `$` at the end: write "5 USD", or use a variable holding "$").
TEST(ComplexValueTest, TrailingDollarIsAnInvalidVariableName) {
    ComplexValue cv;
    EXPECT_EQ(ComplexValue::parse("5$", "f:1", cv).message(),
              "invalid variable name in \"5$\" in f:1");
    EXPECT_EQ(ComplexValue::parse("$", "f:2", cv).message(),
              "invalid variable name in \"$\" in f:2");
}

TEST_F(VariablesTest, Addresses) {
    serve_text("$remote_addr|$remote_port|$server_addr|$server_port");
    uint16_t client = 0;
    uint16_t server = 0;
    std::string out = tcp_exchange(
        cycle_.get(), "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &client, &server);
    // The server side comes from the listen directive (127.0.0.1:8080) when it names an
    // address, without asking the socket (nginx's rule): this harness accepts on a socket of
    // its own, on another port, so the configured port shows that no getsockname() was made.
    (void)server;
    EXPECT_EQ(body_of(out), "127.0.0.1|" + std::to_string(client) + "|127.0.0.1|8080");
}

TEST_F(VariablesTest, Host) {
    EXPECT_EQ(eval("$host", "/", "Host: WWW.Example.COM:8080\r\n"), "www.example.com");
    EXPECT_EQ(eval("$host", "/", "Host: [::1]:8080\r\n"), "[::1]");
    EXPECT_EQ(eval("$host", "http://Abs.Example/x"), "abs.example");
}

TEST_F(VariablesTest, HostDropsATrailingDot) {
    // nginx validates the host and strips the trailing dot of a fully-qualified name.
    EXPECT_EQ(eval("$host", "/", "Host: example.com.\r\n"), "example.com");
}

TEST_F(VariablesTest, HostFallsBackToTheServerName) {
    serve_text("[$host] [$server_name]", "server_name main.example alias.example;");
    std::string out = tcp_exchange(cycle_.get(), "GET / HTTP/1.0\r\n\r\n");
    EXPECT_EQ(body_of(out), "[main.example] [main.example]");
    out = tcp_exchange(cycle_.get(), "GET / HTTP/1.0\r\nHost: other\r\n\r\n");
    EXPECT_EQ(body_of(out), "[other] [main.example]");
}

TEST_F(VariablesTest, ServerNameEmptyWithoutNames) {
    EXPECT_EQ(eval("[$server_name]"), "[]");
}

TEST_F(VariablesTest, RequestLine) {
    EXPECT_EQ(eval("$scheme|$request_method|$request|$server_protocol", "/a/b?c=d"),
              "http|GET|GET /a/b?c=d HTTP/1.1|HTTP/1.1");
    serve_text("$request|$server_protocol");
    EXPECT_EQ(body_of(tcp_exchange(cycle_.get(), "GET /x HTTP/1.0\r\n\r\n")),
              "GET /x HTTP/1.0|HTTP/1.0");
}

TEST_F(VariablesTest, RequestMethod) {
    serve_text("$request_method");
    EXPECT_EQ(body_of(tcp_exchange(cycle_.get(),
                                   "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n"
                                   "Connection: close\r\n\r\n")),
              "POST");
    EXPECT_EQ(body_of(tcp_exchange(cycle_.get(),
                                   "DELETE / HTTP/1.1\r\nHost: a\r\n"
                                   "Connection: close\r\n\r\n")),
              "DELETE");
}

TEST_F(VariablesTest, UriForms) {
    EXPECT_EQ(eval("$request_uri|$uri|$document_uri", "/a/../b%20c//d?x=%20"),
              "/a/../b%20c//d?x=%20|/b c/d|/b c/d");
}

TEST_F(VariablesTest, RequestUriOfAnAbsoluteFormTarget) {
    // nginx's $request_uri is the path and query of the target, also in absolute form.
    EXPECT_EQ(eval("$request_uri", "http://h.example/p?q=1"), "/p?q=1");
}

TEST_F(VariablesTest, Args) {
    EXPECT_EQ(eval("[$args] [$query_string] [$is_args]", "/p?a=1&b=2"), "[a=1&b=2] [a=1&b=2] [?]");
    EXPECT_EQ(eval("[$args] [$query_string] [$is_args]", "/p"), "[] [] []");
}

TEST_F(VariablesTest, ArgByName) {
    EXPECT_EQ(
        eval("[$arg_a] [$arg_b] [$arg_c] [$arg_flag] [$arg_none]", "/p?a=1&b=two%20words&flag&c="),
        "[1] [two%20words] [] [] []");
    EXPECT_EQ(eval("[$arg_key]", "/p?KEY=v"), "[v]");  // names compare caseless (nginx)
    EXPECT_EQ(eval("[$arg_a]", "/p?aa=1&a=2"), "[2]");
    EXPECT_EQ(eval("[$arg_a]", "/p?a=1&a=2"), "[1]");  // the first one
}

TEST_F(VariablesTest, HeaderByName) {
    EXPECT_EQ(eval("[$http_user_agent] [$http_x_custom_header] [$http_none]", "/",
                   "Host: a\r\nUser-Agent: test/1.0\r\nx-CUSTOM-header: v1\r\n"),
              "[test/1.0] [v1] []");
    EXPECT_EQ(eval("[$http_host]", "/", "Host: Mixed.Case\r\n"), "[Mixed.Case]");
}

TEST_F(VariablesTest, ContentLengthAndType) {
    serve_text("[$content_length] [$content_type]");
    std::string out = tcp_exchange(cycle_.get(),
                                   "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                                   "Content-Type: text/x-test\r\nConnection: close\r\n\r\nabc");
    EXPECT_EQ(body_of(out), "[3] [text/x-test]");
    EXPECT_EQ(eval("[$content_length] [$content_type]"), "[] []");
}

TEST_F(VariablesTest, RequestLength) {
    std::string req = "GET /len HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    serve_text("$request_length");
    EXPECT_EQ(body_of(tcp_exchange(cycle_.get(), req)), std::to_string(req.size()));
}

TEST_F(VariablesTest, ConnectionAndItsRequests) {
    serve_text("$connection:$connection_requests;");
    std::string out = tcp_exchange(cycle_.get(),
                                   "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
                                   "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
                                   "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    std::vector<std::string> bodies;
    for (size_t p = out.find("\r\n\r\n"); p != std::string::npos; p = out.find("\r\n\r\n", p + 4)) {
        size_t end = out.find(';', p);
        bodies.push_back(out.substr(p + 4, end - p - 4));
    }
    ASSERT_EQ(bodies.size(), 3u) << out;
    std::string id = bodies[0].substr(0, bodies[0].find(':'));
    EXPECT_FALSE(id.empty());
    EXPECT_EQ(bodies[0], id + ":1");
    EXPECT_EQ(bodies[1], id + ":2");
    EXPECT_EQ(bodies[2], id + ":3");
}

TEST_F(VariablesTest, ConnectionNumbersGrow) {
    serve_text("$connection");
    uint64_t first = std::stoull(body_of(tcp_exchange(cycle_.get(), "GET / HTTP/1.0\r\n\r\n")));
    EXPECT_GT(first, 0u);
}

TEST_F(VariablesTest, ProcessAndHost) {
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    EXPECT_EQ(eval("$pid|$hostname"), std::to_string(getpid()) + "|" + host);
}

TEST_F(VariablesTest, Times) {
    EXPECT_THAT(eval("$msec"), MatchesRegex("[0-9]{10}\\.[0-9]{3}"));
    EXPECT_THAT(eval("$time_local"),
                MatchesRegex("[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} "
                             "[+-][0-9]{4}"));
    EXPECT_THAT(eval("$time_iso8601"),
                MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{2}:"
                             "[0-9]{2}"));
    EXPECT_THAT(eval("$request_time"), MatchesRegex("[0-9]+\\.[0-9]{3}"));
}

TEST_F(VariablesTest, MsecIsNow) {
    std::string v = eval("$msec");
    double t = std::stod(v);
    double now = static_cast<double>(time(nullptr));
    EXPECT_NEAR(t, now, 5.0) << v;
}

TEST_F(VariablesTest, RegexCaptures) {
    ASSERT_TRUE(load("http { server { listen 127.0.0.1:8080;\n"
                     "  location ~ ^/cap/([a-z]+)/([0-9]+)$ { return 200 \"$0|$1|$2|[$3]\"; }\n"
                     "  location / { return 200 \"[$1]\"; } } }")
                    .is_ok());
    auto body = [&](std::string_view target) {
        return body_of(tcp_exchange(cycle_.get(), "GET " + std::string(target) +
                                                      " HTTP/1.1\r\nHost: a\r\n"
                                                      "Connection: close\r\n\r\n"));
    };
    EXPECT_EQ(body("/cap/abc/42"), "/cap/abc/42|abc|42|[]");
    EXPECT_EQ(body("/other"), "[]");  // no regex matched: no captures
}

TEST_F(VariablesTest, CaptureFollowedByNameCharacters) {
    // nginx reads one digit after '$': "$1_x" is the capture then "_x".
    ASSERT_TRUE(load("http { server { listen 127.0.0.1:8080;\n"
                     "  location ~ ^/(a+)$ { return 200 \"$1_x $1b\"; } } }")
                    .is_ok());
    EXPECT_EQ(body_of(tcp_exchange(cycle_.get(),
                                   "GET /aa HTTP/1.1\r\nHost: a\r\n"
                                   "Connection: close\r\n\r\n")),
              "aa_x aab");
}

TEST_F(VariablesTest, CapturesOfACaselessRegex) {
    ASSERT_TRUE(load("http { server { listen 127.0.0.1:8080;\n"
                     "  location ~* \\.(JPG|png)$ { return 200 \"$1\"; } } }")
                    .is_ok());
    EXPECT_EQ(body_of(tcp_exchange(cycle_.get(),
                                   "GET /x.jpg HTTP/1.1\r\nHost: a\r\n"
                                   "Connection: close\r\n\r\n")),
              "jpg");
}

TEST_F(VariablesTest, VariablesInARedirectLocation) {
    ASSERT_TRUE(load("http { server { listen 127.0.0.1:8080;\n"
                     "  location / { return 301 $scheme://$host$request_uri; } } }")
                    .is_ok());
    std::string out = tcp_exchange(cycle_.get(),
                                   "GET /p?q=1 HTTP/1.1\r\nHost: Site.Example:8080\r\n"
                                   "Connection: close\r\n\r\n");
    EXPECT_THAT(out, StartsWith("HTTP/1.1 301 "));
    EXPECT_THAT(out, HasSubstr("\r\nLocation: http://site.example/p?q=1\r\n"));
}

TEST(HttpDateTest, FormatsEachTimeAndRoundTrips) {
    EXPECT_EQ(format_http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");  // RFC 9110's
    EXPECT_EQ(format_http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");  // cached
    EXPECT_EQ(format_http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    EXPECT_EQ(format_http_date(784111778), "Sun, 06 Nov 1994 08:49:38 GMT");
    EXPECT_EQ(parse_http_date(format_http_date(1700000000)), 1700000000);
}

}  // namespace
}  // namespace http
