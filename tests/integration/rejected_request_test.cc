// Requests refused while their head is read, through the real binary: each gets its answer
// (at once, also when no line end ever comes: a bare CR, a TLS ClientHello on a plain port),
// the connection is closed, nothing reaches an upstream, and both logs trace it as nginx does:
// the access log with the client address and the request line as far as it was read (escaped),
// the error log (info, nginx's level) with the reason, `client:`, `server:` and `request:`.
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/backend.h"
#include "support/harness.h"

namespace halo_test {
namespace {

// client_header_timeout is an hour: an answer that comes at all did not wait for it (a head
// that times out is dropped without one).
constexpr std::string_view kConf = R"(
daemon off;
worker_processes 1;
error_log logs/error.log info;
events { worker_connections 64; }
http {
    large_client_header_buffers 4 1k;
    client_header_timeout 1h;
    upstream backend { server %%BACKEND%%; }
    server {
        listen 127.0.0.1:%%PORT_0%%;
        server_name localhost;
        location / { return 200 "ok\n"; }
        location /p { proxy_pass http://backend; }
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        server_name slow.example;
        client_header_timeout 1s;
        location / { return 200 "ok\n"; }
    }
}
)";

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        out.push_back(line);
    }
    return out;
}

class RejectedRequestTest : public ::testing::Test {
  protected:
    void SetUp() override {
        for (const char* m : {"http_log", "http_rewrite", "http_proxy", "http_upstream"}) {
            if (!halo_has_module(m)) {
                GTEST_SKIP() << "the " << m << " module is not compiled in";
            }
        }
        std::string conf(kConf);
        conf.replace(conf.find("%%BACKEND%%"), 11, backend_.address());
        halo_.write_conf(conf);
        ASSERT_TRUE(halo_.start());
        ASSERT_EQ(halo_.wait_workers(1).size(), 1u);
    }

    /// Sends `raw` on a new connection to PORT_<port>: the status of the answer (0: none), and
    /// whether the connection was closed after it.
    int refused(std::string_view raw, int port = 0, bool* closed = nullptr) {
        HttpConnection c;
        EXPECT_TRUE(c.connect(halo_.port(port))) << c.error();
        EXPECT_TRUE(c.send(raw)) << c.error();
        auto r = c.read_response();
        if (!r) {
            ADD_FAILURE() << "no answer to " << ::testing::PrintToString(std::string(raw)) << ": "
                          << c.error();
            return 0;
        }
        EXPECT_EQ(r->header("connection"), "close");
        bool gone = c.wait_closed();
        EXPECT_TRUE(gone) << "the connection stays open after " << r->status;
        if (closed != nullptr) {
            *closed = gone;
        }
        return r->status;
    }

    /// The access log line for request number `n` (1-based), once it is there.
    std::string access_line(size_t n) {
        wait_until([&] { return lines_of(access_log()).size() >= n; });
        auto lines = lines_of(access_log());
        return lines.size() >= n ? lines[n - 1] : "<no line " + std::to_string(n) + ">";
    }
    std::string access_log() { return read_file(halo_.path("logs/access.log")).value_or(""); }
    /// The error log line holding `needle`, once it is there ("" when it never comes).
    std::string error_line(std::string_view needle) {
        wait_until([&] { return !log_lines_with(halo_.error_log(), needle).empty(); });
        auto lines = log_lines_with(halo_.error_log(), needle);
        return lines.empty() ? "" : lines.front();
    }

    /// Asserts the access log line: client address, the request line as logged, the status.
    static void expect_access(const std::string& line, const std::string& request, int status) {
        std::string want = "\"" + request + "\" " + std::to_string(status) + " ";
        EXPECT_EQ(line.rfind("127.0.0.1 - - [", 0), 0u) << line;
        EXPECT_NE(line.find(want), std::string::npos) << "want " << want << " in\n" << line;
    }

    Backend backend_{"b"};
    Halo halo_;
};

TEST_F(RejectedRequestTest, BadPercentEscapeIsLoggedWithClientAndRequestLine) {
    EXPECT_EQ(refused("GET /%zz HTTP/1.1\r\nHost: localhost\r\n\r\n"), 400);
    expect_access(access_line(1), "GET /%zz HTTP/1.1", 400);
    std::string e = error_line("GET /%zz");
    EXPECT_NE(e.find("[info]"), std::string::npos) << e;
    EXPECT_NE(e.find("client sent invalid request while reading client request line, "
                     "client: 127.0.0.1, server: localhost, request: \"GET /%zz HTTP/1.1\""),
              std::string::npos)
        << halo_.error_log();
}

TEST_F(RejectedRequestTest, TooLongUriIs414AndLoggedWithClientAndRequestLine) {
    std::string uri = "/" + std::string(1500, 'u');
    EXPECT_EQ(refused("GET " + uri + " HTTP/1.1\r\nHost: localhost\r\n\r\n"), 414);
    std::string line = access_line(1);
    EXPECT_EQ(line.rfind("127.0.0.1 - - [", 0), 0u) << line;
    EXPECT_TRUE(std::regex_search(line, std::regex("\"GET /u{1000,}( HTTP/1\\.1)?\" 414 ")))
        << line;
    std::string e = error_line("too long URI");
    EXPECT_NE(e.find("client sent too long URI while reading client request line, client: "
                     "127.0.0.1, server: localhost, request: \"GET /uuuuuuuu"),
              std::string::npos)
        << halo_.error_log();
}

TEST_F(RejectedRequestTest, DuplicateContentLengthIsLoggedWithClientRequestLineAndHost) {
    EXPECT_EQ(refused("POST /a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
                      "Content-Length: 5\r\n\r\nhello"),
              400);
    expect_access(access_line(1), "POST /a HTTP/1.1", 400);
    std::string e = error_line("duplicate header line");
    EXPECT_NE(e.find("client sent duplicate header line: \"Content-Length: 5\", previous value: "
                     "\"Content-Length: 5\" while reading client request headers, client: "
                     "127.0.0.1, server: localhost, request: \"POST /a HTTP/1.1\", "
                     "host: \"localhost\""),
              std::string::npos)
        << halo_.error_log();
}

TEST_F(RejectedRequestTest, BytesThatAreNotPrintableAreEscapedInBothLogs) {
    EXPECT_EQ(refused(std::string("GET /\x01\xff\" HTTP/1.1\r\nHost: localhost\r\n\r\n")), 400);
    expect_access(access_line(1), "GET /\\x01\\xFF\\x22 HTTP/1.1", 400);
    std::string e = error_line("GET /\\x01");
    EXPECT_NE(e.find("request: \"GET /\\x01\\xFF\\x22 HTTP/1.1\""), std::string::npos)
        << halo_.error_log();
}

TEST_F(RejectedRequestTest, TlsClientHelloOnAPlainPortGets400AtOnce) {
    // No line end ever comes: nginx refuses the first byte (0x16 is no method character).
    std::string hello("\x16\x03\x01\x00\x05hello", 10);
    EXPECT_EQ(refused(hello), 400);
    expect_access(access_line(1), "\\x16\\x03\\x01\\x00\\x05hello", 400);
    std::string e = error_line("client sent invalid method");
    EXPECT_NE(e.find("client: 127.0.0.1, server: localhost, request: "
                     "\"\\x16\\x03\\x01\\x00\\x05hello\""),
              std::string::npos)
        << halo_.error_log();
}

TEST_F(RejectedRequestTest, BareCrGets400AtOnce) {
    // Without the rest of the line: the byte after the CR is enough.
    EXPECT_EQ(refused("GET /a\rb"), 400);
    expect_access(access_line(1), "GET /a", 400);  // nginx's request line ends at the CR
    EXPECT_EQ(refused("GET / HTTP/1.1\r\nHost: localhost\rX"), 400);
    expect_access(access_line(2), "GET / HTTP/1.1", 400);
    std::string e = error_line("invalid header line");
    EXPECT_NE(e.find("client sent invalid header line: \"Host: localhost\\x0D\" while reading "
                     "client request headers, client: 127.0.0.1"),
              std::string::npos)
        << halo_.error_log();
}

TEST_F(RejectedRequestTest, LowerCaseMethodIsRefusedAndNotProxied) {
    EXPECT_EQ(refused("get /p HTTP/1.1\r\nHost: localhost\r\n\r\n"), 400);
    EXPECT_EQ(refused("Post /p HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n"), 400);
    expect_access(access_line(1), "get /p HTTP/1.1", 400);
    EXPECT_NE(error_line("request: \"get /p HTTP/1.1\"").find("client sent invalid method"),
              std::string::npos)
        << halo_.error_log();
    // The location does proxy (so the count below means something), also nginx's "_" and "-".
    for (const char* method : {"GET", "M-SEARCH", "MY_METHOD"}) {
        HttpConnection c;
        ASSERT_TRUE(c.connect(halo_.port(0)));
        ASSERT_TRUE(c.send(std::string(method) +
                           " /p HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"));
        auto r = c.read_response();
        ASSERT_TRUE(r) << method << ": " << c.error();
        EXPECT_EQ(r->status, 200) << method;
    }
    auto seen = backend_.seen();
    ASSERT_EQ(seen.size(), 3u);
    EXPECT_EQ(seen[0].method, "GET");
    EXPECT_EQ(seen[1].method, "M-SEARCH");
    EXPECT_EQ(seen[2].method, "MY_METHOD");
}

TEST_F(RejectedRequestTest, HeadCutShortOrTimedOutIsLoggedAsNginxDoes) {
    // nginx: 400 for a client that closes mid-head, 408 for one that times out; no answer.
    {
        HttpConnection c;
        ASSERT_TRUE(c.connect(halo_.port(0)));
        ASSERT_TRUE(c.send("GET /cut HTTP/1.1\r\nHo"));
    }  // closed here: halo reads the bytes, then the end of the stream
    expect_access(access_line(1), "GET /cut HTTP/1.1", 400);
    EXPECT_NE(error_line("client prematurely closed connection while reading client request "
                         "headers, client: 127.0.0.1, server: localhost, request: \"GET /cut "
                         "HTTP/1.1\""),
              "")
        << halo_.error_log();

    HttpConnection slow;
    ASSERT_TRUE(slow.connect(halo_.port(1)));
    ASSERT_TRUE(slow.send("GET /slow HT"));
    EXPECT_TRUE(slow.wait_closed(10s));
    EXPECT_TRUE(slow.unread().empty()) << slow.unread();
    expect_access(access_line(2), "GET /slow HT", 408);
    EXPECT_NE(error_line("client timed out while reading client request line, client: "
                         "127.0.0.1, server: slow.example, request: \"GET /slow HT\""),
              "")
        << halo_.error_log();
}

}  // namespace
}  // namespace halo_test
