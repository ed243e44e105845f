// Request bodies, served in this process over a socketpair: a test module whose content handler
// reads the body (Request::read_body) and answers with what it got, or ignores it (the session
// discards it). Content-Length and chunked bodies, in memory and in a temporary file, slow
// clients, Expect: 100-continue, client_max_body_size, malformed chunked bodies, timeouts,
// pipelining after a body, lingering close.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "core/cycle.h"
#include "core/module.h"
#include "event/runtime.h"
#include "http/http.h"
#include "http/session.h"
#include "support/test_modules.h"

namespace core {
extern const Module kCoreModule;
}
namespace ev {
extern const core::Module kEventModule;
}
namespace http {
extern const core::Module kHttpModule;
}

namespace http {
namespace {

using namespace std::chrono_literals;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// ---- the test module ----

/// FNV-1a, 64 bits, as 16 hex digits: compares bodies without printing them.
std::string hash_of(std::string_view s) {
    uint64_t h = 14695981039346656037ull;
    for (char c : s) {
        h ^= static_cast<unsigned char>(c);
        h *= 1099511628211ull;
    }
    char buf[17];
    snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
    return buf;
}

/// Files in a folder (-1 when it cannot be read).
int entries_in(const std::string& dir) {
    std::error_code ec;
    int n = 0;
    for (auto it = std::filesystem::directory_iterator(dir, ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        n++;
    }
    return ec ? -1 : n;
}

/// read_body() is done: answers "size=<n> file=<0|1> len=<bytes read back> hash=<fnv> ..." with
/// head fields read after the body (they must have survived the buffer being reused).
void body_done(Request& r) {
    std::string content;
    uint64_t size = 0;
    bool in_file = false;
    if (r.body) {
        size = r.body->size;
        in_file = r.body->in_file();
        if (in_file) {
            content.resize(static_cast<size_t>(size) + 1);  // one more: nothing past the end
            size_t got = 0;
            for (;;) {
                ssize_t n = pread(r.body->fd, content.data() + got, content.size() - got,
                                  static_cast<off_t>(got));
                if (n <= 0) {
                    break;
                }
                got += static_cast<size_t>(n);
            }
            content.resize(got);
            if (!r.body->memory.empty()) {
                content += "<memory too>";
            }
        } else {
            content = r.body->memory;
        }
    }
    const Header* tag = r.find_header("X-Tag");
    std::string text =
        "size=" + std::to_string(size) + " file=" + (in_file ? "1" : "0") +
        " len=" + std::to_string(content.size()) + " hash=" + hash_of(content) +
        " tmp=" + std::to_string(entries_in(*r.loc_conf<HttpLocConf>().client_body_temp_path)) +
        " method=" + std::string(r.method) + " uri=" + r.uri +
        " tag=" + (tag != nullptr ? std::string(tag->value) : "-");
    r.send(200, "text/plain", text);
}

Flow content(Request& r) {
    if (r.uri.rfind("/read", 0) == 0) {
        return r.read_body(&body_done);
    }
    if (r.uri.rfind("/ignore", 0) == 0) {
        r.send(200, "text/plain", "ignored");
        return Flow::kDone;
    }
    return Flow::kDeclined;
}

core::Status postconfiguration(core::Cycle& cycle) {
    add_phase_handler(cycle, Phase::kContent, &content);
    return core::Status::ok();
}

const core::Module kBodyTestModule{
    .name = "body_test",
    .type = core::ModuleType::kHttp,
    .directives = {},
    .confs = {},
    .postconfiguration = &postconfiguration,
};

const core::Module* const kModules[] = {&core::kCoreModule, &ev::kEventModule, &kHttpModule,
                                        &kBodyTestModule};

// ---- a scripted client over a socketpair ----

/// One connection to the first port of a cycle, served by an ev::Runtime in this process. The
/// test sends, runs the loop and looks at what came back, step by step.
class Client {
  public:
    explicit Client(core::Cycle& cycle) : runtime_(cycle, info_) {
        HttpMainConf* main = http_main(cycle);
        if (main == nullptr || main->ports.empty()) {
            ADD_FAILURE() << "no http port";
            return;
        }
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
            ADD_FAILURE() << "socketpair failed";
            return;
        }
        core::SockAddr peer;
        main->ports[0]->on_accept(sv[0], peer);  // the session owns sv[0]
        fd_ = sv[1];
    }
    ~Client() {
        close();
        for (int i = 0; i < 50 && runtime_.active_connections() > 0; i++) {
            runtime_.loop().run_once(ev::Duration(10));
        }
        runtime_.loop().run_once(ev::Duration(0));
    }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    /// Sends `data`, `chunk` bytes per loop turn (0: as much as the socket takes). False when
    /// the server closed the connection (EPIPE, ECONNRESET) before all of it was sent.
    bool send(std::string_view data, size_t chunk = 0) {
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!data.empty() && std::chrono::steady_clock::now() < deadline) {
            size_t want = chunk > 0 && data.size() > chunk ? chunk : data.size();
            ssize_t n = ::send(fd_, data.data(), want, MSG_NOSIGNAL);
            if (n > 0) {
                data.remove_prefix(static_cast<size_t>(n));
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                send_error_ = errno;
                return false;
            }
            turn(chunk > 0 ? 1ms : 2ms);
        }
        return data.empty();
    }
    /// Runs the loop for about `d`, collecting output.
    void run(std::chrono::milliseconds d) {
        auto until = std::chrono::steady_clock::now() + d;
        while (std::chrono::steady_clock::now() < until) {
            turn(5ms);
        }
    }
    /// Runs the loop until the server's side is closed for sending (EOF) or `limit` passes.
    bool wait_eof(std::chrono::milliseconds limit = 5s) {
        auto until = std::chrono::steady_clock::now() + limit;
        while (!eof_ && std::chrono::steady_clock::now() < until) {
            turn(5ms);
        }
        return eof_;
    }
    /// Runs the loop until `out` contains `what` or `limit` passes.
    bool wait_for(std::string_view what, std::chrono::milliseconds limit = 5s) {
        auto until = std::chrono::steady_clock::now() + limit;
        while (out_.find(what) == std::string::npos && !eof_ &&
               std::chrono::steady_clock::now() < until) {
            turn(5ms);
        }
        return out_.find(what) != std::string::npos;
    }
    /// The session is gone (the server closed the socket entirely, not just half).
    bool server_gone() const { return runtime_.active_connections() == 0; }
    void close() {
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }
    const std::string& out() const { return out_; }
    int send_error() const { return send_error_; }
    ev::Runtime& runtime() { return runtime_; }

  private:
    void turn(std::chrono::milliseconds d) {
        runtime_.loop().run_once(ev::Duration(d.count()));
        char buf[65536];
        for (;;) {
            ssize_t n = ::read(fd_, buf, sizeof(buf));
            if (n > 0) {
                out_.append(buf, static_cast<size_t>(n));
                continue;
            }
            if (n == 0) {
                eof_ = true;
            }
            break;
        }
    }

    core::ProcessInfo info_;
    ev::Runtime runtime_;
    int fd_ = -1;
    std::string out_;
    bool eof_ = false;
    int send_error_ = 0;
};

// ---- fixture ----

class RequestBodyTest : public ::testing::Test {
  protected:
    RequestBodyTest() : registry_(kModules) { std::filesystem::create_directories(temp_path()); }

    std::string temp_path() const { return dir_.file("body_temp"); }

    /// `http { client_body_temp_path ...; <http_directives> server { listen ...; <server> } }`.
    void load(std::string_view http_directives = {}, std::string_view server = {}) {
        cycle_.reset();
        std::string conf = "http {\n client_body_temp_path " + temp_path() + ";\n " +
                           std::string(http_directives) +
                           "\n server {\n  listen 127.0.0.1:8080;\n  " + std::string(server) +
                           "\n }\n}\n";
        core::Status s = support::load_cycle(registry_, dir_, conf, cycle_, nullptr, {}, true);
        ASSERT_TRUE(s.is_ok()) << s.message();
    }
    /// The whole request at once (chunk 0) or `chunk` bytes per loop turn; everything the
    /// server sent until it closed.
    std::string exchange(std::string_view request, size_t chunk = 0) {
        return support::http_exchange(*cycle_, request, chunk);
    }

    static std::string body_of(const std::string& response) {
        size_t p = response.find("\r\n\r\n");
        return p == std::string::npos ? "<no head end>" : response.substr(p + 4);
    }
    static int responses(const std::string& out) {
        int n = 0;
        for (size_t p = out.find("HTTP/1.1 "); p != std::string::npos;
             p = out.find("HTTP/1.1 ", p + 1)) {
            n++;
        }
        return n;
    }
    /// What the test module answers for a body read in memory / in a file.
    static std::string expected(std::string_view body, bool in_file, std::string_view tail) {
        return "size=" + std::to_string(body.size()) + " file=" + (in_file ? "1" : "0") +
               " len=" + std::to_string(body.size()) + " hash=" + hash_of(body) + " tmp=0 " +
               std::string(tail);
    }
    static std::string pattern(size_t n) {
        std::string s(n, '\0');
        for (size_t i = 0; i < n; i++) {
            s[i] = static_cast<char>('a' + (i * 7 + i / 26) % 26);
        }
        return s;
    }
    static std::string chunked(std::string_view body, size_t piece) {
        std::string out;
        char size[32];
        while (!body.empty()) {
            size_t n = std::min(piece, body.size());
            snprintf(size, sizeof(size), "%zx\r\n", n);
            out += size;
            out.append(body.substr(0, n));
            out += "\r\n";
            body.remove_prefix(n);
        }
        return out + "0\r\n\r\n";
    }

    support::TempDir dir_;
    core::ModuleRegistry registry_;
    std::unique_ptr<core::Cycle> cycle_;
};

// ---- Content-Length bodies ----

TEST_F(RequestBodyTest, ContentLengthBodyInMemory) {
    load();
    std::string out = exchange(
        "POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nX-Tag: t1\r\n"
        "Connection: close\r\n\r\nhello world");
    EXPECT_THAT(out, StartsWith("HTTP/1.1 200 OK\r\n"));
    EXPECT_EQ(body_of(out), expected("hello world", false, "method=POST uri=/read tag=t1"));
}

TEST_F(RequestBodyTest, NoBodyIsAnEmptyBody) {
    load();
    std::string out = exchange("GET /read HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(body_of(out), expected("", false, "method=GET uri=/read tag=-"));
    out = exchange(
        "POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(body_of(out), expected("", false, "method=POST uri=/read tag=-"));
}

TEST_F(RequestBodyTest, ContentLengthBodyByteAtATime) {
    load();
    std::string body = pattern(300);
    std::string out = support::http_exchange(
        *cycle_,
        "PUT /read/x HTTP/1.1\r\nHost: a\r\nContent-Length: 300\r\nX-Tag: slow\r\n"
        "Connection: close\r\n\r\n" +
            body,
        1);
    EXPECT_EQ(body_of(out), expected(body, false, "method=PUT uri=/read/x tag=slow"));
}

TEST_F(RequestBodyTest, BodyUpToTheBufferSizeStaysInMemory) {
    load("client_body_buffer_size 1k;");
    std::string body = pattern(1024);
    std::string out = exchange(
        "POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n" +
        body);
    EXPECT_EQ(body_of(out), expected(body, false, "method=POST uri=/read tag=-"));
}

TEST_F(RequestBodyTest, BodyOverTheBufferSizeGoesToAnUnnamedTempFile) {
    load("client_body_buffer_size 1k;");
    std::string body = pattern(1025);
    std::string out = exchange(
        "POST /read HTTP/1.1\r\nHost: a\r\nX-Tag: big\r\nContent-Length: 1025\r\n"
        "Connection: close\r\n\r\n" +
        body);
    // tmp=0: the file has no name in client_body_temp_path.
    EXPECT_EQ(body_of(out), expected(body, true, "method=POST uri=/read tag=big"));
}

TEST_F(RequestBodyTest, LargeBodyWithTheDefaultBufferSize) {
    load();
    std::string body = pattern(200000);  // over 16k, in many reads; the head must survive
    std::string head = "POST /read/big HTTP/1.1\r\nHost: a\r\nX-Tag: " + std::string(500, 't') +
                       "\r\nContent-Length: 200000\r\nConnection: close\r\n\r\n";
    std::string out = exchange(head + body);
    EXPECT_EQ(body_of(out),
              expected(body, true, "method=POST uri=/read/big tag=" + std::string(500, 't')));
    // The same in small pieces.
    out = support::http_exchange(*cycle_, head + body, 777);
    EXPECT_EQ(body_of(out),
              expected(body, true, "method=POST uri=/read/big tag=" + std::string(500, 't')));
}

TEST_F(RequestBodyTest, Http10BodyIsRead) {
    load();
    std::string out = exchange("POST /read HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc");
    EXPECT_THAT(out, StartsWith("HTTP/1.1 200 OK\r\n"));
    EXPECT_EQ(body_of(out), expected("abc", false, "method=POST uri=/read tag=-"));
}

TEST_F(RequestBodyTest, MissingTempFolderIs500) {
    load("client_body_buffer_size 1k;",
         "location /read { client_body_temp_path " + dir_.file("no/such/folder") + "; }");
    std::string out =
        exchange("POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n" + pattern(2000));
    EXPECT_THAT(out, StartsWith("HTTP/1.1 500 Internal Server Error\r\n"));
    EXPECT_THAT(out, HasSubstr("\r\nConnection: close\r\n"));
}

// ---- chunked bodies ----

TEST_F(RequestBodyTest, ChunkedBody) {
    load();
    std::string out = exchange(
        "POST /read HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nX-Tag: c\r\n"
        "Connection: close\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n");
    EXPECT_THAT(out, StartsWith("HTTP/1.1 200 OK\r\n"));
    EXPECT_EQ(body_of(out), expected("hello world", false, "method=POST uri=/read tag=c"));
}

TEST_F(RequestBodyTest, ChunkedBodyByteAtATime) {
    load();
    std::string body = pattern(100);
    std::string out = support::http_exchange(
        *cycle_,
        "POST /read HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nX-Tag: bytes\r\n"
        "Connection: close\r\n\r\n" +
            chunked(body, 7),
        1);
    EXPECT_EQ(body_of(out), expected(body, false, "method=POST uri=/read tag=bytes"));
}

TEST_F(RequestBodyTest, ChunkedBodyInATempFile) {
    load("client_body_buffer_size 1k;");
    std::string body = pattern(5000);
    std::string req =
        "POST /read HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
        "Connection: close\r\n\r\n" +
        chunked(body, 333);
    EXPECT_EQ(body_of(exchange(req)), expected(body, true, "method=POST uri=/read tag=-"));
    EXPECT_EQ(body_of(support::http_exchange(*cycle_, req, 50)),
              expected(body, true, "method=POST uri=/read tag=-"));
}

TEST_F(RequestBodyTest, EmptyChunkedBody) {
    load();
    std::string out = exchange(
        "POST /read HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
        "\r\n0\r\n\r\n");
    EXPECT_EQ(body_of(out), expected("", false, "method=POST uri=/read tag=-"));
}

TEST_F(RequestBodyTest, MalformedChunkedBodyIs400) {
    load();
    for (const char* body : {"zz\r\n", "5\r\nhelloXX", "5\nhello\r\n0\r\n\r\n",
                             "1000000000000000\r\n", "0\r\n folded\r\n\r\n"}) {
        std::string out =
            exchange("POST /read HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
                     std::string(body));
        EXPECT_THAT(out, StartsWith("HTTP/1.1 400 Bad Request\r\n")) << body;
        EXPECT_THAT(out, HasSubstr("\r\nConnection: close\r\n")) << body;
        EXPECT_EQ(responses(out), 1) << body;
    }
}

// ---- Expect: 100-continue ----

TEST_F(RequestBodyTest, ExpectContinueGetsTheInterimResponseFirst) {
    load();
    Client c(*cycle_);
    ASSERT_TRUE(
        c.send("POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n"
               "Connection: close\r\n\r\n"));
    ASSERT_TRUE(c.wait_for("\r\n\r\n")) << c.out();
    EXPECT_EQ(c.out(), "HTTP/1.1 100 Continue\r\n\r\n");  // and nothing else yet
    ASSERT_TRUE(c.send("hello"));
    ASSERT_TRUE(c.wait_eof());
    EXPECT_THAT(c.out(), StartsWith("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"));
    EXPECT_EQ(body_of(c.out().substr(25)), expected("hello", false, "method=POST uri=/read tag=-"));
}

TEST_F(RequestBodyTest, ExpectContinueWithChunkedBody) {
    load();
    Client c(*cycle_);
    ASSERT_TRUE(
        c.send("POST /read HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
               "Expect: 100-continue\r\n\r\n"));
    ASSERT_TRUE(c.wait_for("\r\n\r\n"));
    EXPECT_EQ(c.out(), "HTTP/1.1 100 Continue\r\n\r\n");
    ASSERT_TRUE(
        c.send("3\r\nabc\r\n0\r\n\r\nGET /read HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
    ASSERT_TRUE(c.wait_eof());
    EXPECT_EQ(responses(c.out()), 3);  // 100, 200 for the body, 200 for the next request
    EXPECT_THAT(c.out(), HasSubstr(expected("abc", false, "method=POST uri=/read tag=-")));
    EXPECT_THAT(c.out(), EndsWith(expected("", false, "method=GET uri=/read tag=-")));
}

TEST_F(RequestBodyTest, NoInterimResponseWhenTheBodyIsAlreadyThere) {
    load();
    std::string out = exchange(
        "POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n"
        "Connection: close\r\n\r\nhello");
    EXPECT_THAT(out, StartsWith("HTTP/1.1 200 OK\r\n"));
    EXPECT_EQ(responses(out), 1);
}

TEST_F(RequestBodyTest, NoInterimResponseToHttp10) {
    load();
    Client c(*cycle_);
    ASSERT_TRUE(c.send("POST /read HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
    c.run(100ms);
    EXPECT_EQ(c.out(), "");
    ASSERT_TRUE(c.send("hello"));
    ASSERT_TRUE(c.wait_eof());
    EXPECT_THAT(c.out(), StartsWith("HTTP/1.1 200 OK\r\n"));
}

TEST_F(RequestBodyTest, NoInterimResponseWithoutABody) {
    load();
    std::string out = exchange(
        "POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nExpect: 100-continue\r\n"
        "Connection: close\r\n\r\n");
    EXPECT_THAT(out, StartsWith("HTTP/1.1 200 OK\r\n"));
}

TEST_F(RequestBodyTest, ExpectContinueNotReadGetsTheInterimResponseAndKeepsTheConnection) {
    // The handler answers without reading: as nginx does when it discards a body, the client
    // gets "100 Continue" first, sends the body, which is discarded, and the connection stays.
    load();
    Client c(*cycle_);
    ASSERT_TRUE(c.send(
        "POST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
    ASSERT_TRUE(c.send("hello"));
    ASSERT_TRUE(c.send("GET /ignore HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
    ASSERT_TRUE(c.wait_eof());
    EXPECT_THAT(c.out(), StartsWith("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"));
    EXPECT_THAT(c.out(), HasSubstr("\r\nConnection: keep-alive\r\n"));
    EXPECT_THAT(c.out(), EndsWith("ignored"));
}

TEST_F(RequestBodyTest, ExpectContinueOverTheLimitIs413WithoutInterimResponse) {
    load("client_max_body_size 10;");
    Client c(*cycle_);
    ASSERT_TRUE(c.send(
        "POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n"));
    ASSERT_TRUE(c.wait_eof());
    EXPECT_THAT(c.out(), StartsWith("HTTP/1.1 413 Request Entity Too Large\r\n"));
    EXPECT_THAT(c.out(), HasSubstr("\r\nConnection: close\r\n"));
}

// ---- client_max_body_size ----

TEST_F(RequestBodyTest, ContentLengthOverTheLimitIs413AtOnce) {
    load("client_max_body_size 10;");
    Client c(*cycle_);
    // Only the head: the answer does not wait for the body.
    ASSERT_TRUE(c.send("POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n"));
    ASSERT_TRUE(c.wait_eof());
    EXPECT_THAT(c.out(), StartsWith("HTTP/1.1 413 Request Entity Too Large\r\n"));
    EXPECT_THAT(c.out(), HasSubstr("\r\nConnection: close\r\n"));
    EXPECT_THAT(c.out(), HasSubstr("<title>413 Request Entity Too Large</title>"));
    // Lingering close: the body the client is still sending is read and dropped, not reset.
    EXPECT_TRUE(c.send("01234567890")) << strerror(c.send_error());
    c.run(50ms);
    EXPECT_TRUE(c.send("more")) << strerror(c.send_error());
}

TEST_F(RequestBodyTest, ContentLengthOverTheLimitEvenWhenNotRead) {
    load("client_max_body_size 10;");
    std::string out = exchange("POST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n");
    EXPECT_THAT(out, StartsWith("HTTP/1.1 413 "));
}

TEST_F(RequestBodyTest, ContentLengthAtTheLimitIsRead) {
    load("client_max_body_size 10;");
    std::string out = exchange(
        "POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nConnection: close\r\n\r\n"
        "0123456789");
    EXPECT_EQ(body_of(out), expected("0123456789", false, "method=POST uri=/read tag=-"));
}

TEST_F(RequestBodyTest, DefaultLimitIsOneMegabyte) {
    load();
    std::string out = exchange("POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n");
    EXPECT_THAT(out, StartsWith("HTTP/1.1 413 "));
    out = exchange(
        "POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 1048576\r\nConnection: close\r\n\r\n" +
        pattern(1048576));
    EXPECT_EQ(body_of(out), expected(pattern(1048576), true, "method=POST uri=/read tag=-"));
}

TEST_F(RequestBodyTest, ZeroLimitMeansNoLimit) {
    load("client_max_body_size 0;");
    std::string body = pattern(1500000);
    std::string out = exchange(
        "POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 1500000\r\nConnection: close\r\n\r\n" +
        body);
    EXPECT_EQ(body_of(out), expected(body, true, "method=POST uri=/read tag=-"));
}

TEST_F(RequestBodyTest, LimitOfTheLocation) {
    load({}, "location /read/small { client_max_body_size 3; }");
    EXPECT_THAT(exchange("POST /read/small HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nabcd"),
                StartsWith("HTTP/1.1 413 "));
    EXPECT_THAT(exchange("POST /read/other HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
                         "Connection: close\r\n\r\nabcd"),
                StartsWith("HTTP/1.1 200 "));
}

TEST_F(RequestBodyTest, ChunkedOverTheLimitIs413) {
    load("client_max_body_size 10;");
    std::string out =
        exchange("POST /read HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
                 chunked("0123456789a", 4));
    EXPECT_THAT(out, StartsWith("HTTP/1.1 413 Request Entity Too Large\r\n"));
    EXPECT_THAT(out, HasSubstr("\r\nConnection: close\r\n"));
    EXPECT_EQ(responses(out), 1);
    // Detected while reading: the rest of the body need not come.
    Client c(*cycle_);
    ASSERT_TRUE(c.send("POST /read HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
                       std::string("100\r\n") + pattern(20)));
    ASSERT_TRUE(c.wait_eof());
    EXPECT_THAT(c.out(), StartsWith("HTTP/1.1 413 "));
}

TEST_F(RequestBodyTest, ChunkedAtTheLimitIsRead) {
    load("client_max_body_size 10;");
    std::string out = exchange(
        "POST /read HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
        "\r\n" +
        chunked("0123456789", 3));
    EXPECT_EQ(body_of(out), expected("0123456789", false, "method=POST uri=/read tag=-"));
}

// ---- pipelining after bodies ----

TEST_F(RequestBodyTest, PipelinedRequestsAfterReadBodies) {
    load();
    std::string req =
        "POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nX-Tag: 1\r\n\r\nhello"
        "POST /read HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nX-Tag: 2\r\n\r\n" +
        chunked("chunky", 4) +
        "GET /read HTTP/1.1\r\nHost: a\r\nX-Tag: 3\r\nConnection: close\r\n\r\n";
    for (size_t chunk : {0, 1, 13}) {
        std::string out = support::http_exchange(*cycle_, req, chunk);
        EXPECT_EQ(responses(out), 3) << "chunk " << chunk << ": " << out;
        EXPECT_THAT(out, HasSubstr(expected("hello", false, "method=POST uri=/read tag=1")))
            << chunk;
        EXPECT_THAT(out, HasSubstr(expected("chunky", false, "method=POST uri=/read tag=2")))
            << chunk;
        EXPECT_THAT(out, EndsWith(expected("", false, "method=GET uri=/read tag=3"))) << chunk;
    }
}

TEST_F(RequestBodyTest, PipelinedRequestsAfterDiscardedBodies) {
    load();
    std::string req =
        "POST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
        "POST /ignore HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
        chunked(pattern(3000), 1000) +
        "POST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: 20000\r\n\r\n" + pattern(20000) +
        "GET /read HTTP/1.1\r\nHost: a\r\nX-Tag: last\r\nConnection: close\r\n\r\n";
    for (size_t chunk : {0, 1, 100}) {
        std::string out = support::http_exchange(*cycle_, req, chunk);
        EXPECT_EQ(responses(out), 4) << "chunk " << chunk;
        EXPECT_THAT(out, EndsWith(expected("", false, "method=GET uri=/read tag=last"))) << chunk;
    }
}

TEST_F(RequestBodyTest, DiscardedBodyThatLooksLikeARequestIsNotServed) {
    // Smuggling: the body of a discarded request is never parsed as a request.
    load();
    std::string inner = "GET /read HTTP/1.1\r\nHost: a\r\nX-Tag: smuggled\r\n\r\n";
    std::string out = exchange(
        "POST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::to_string(inner.size()) +
        "\r\n\r\n" + inner + "GET /read HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(responses(out), 2);
    EXPECT_THAT(out, Not(HasSubstr("smuggled")));
    std::string chunked_inner = chunked(inner, 10);
    out = exchange("POST /ignore HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
                   chunked_inner + "GET /read HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(responses(out), 2);
    EXPECT_THAT(out, Not(HasSubstr("smuggled")));
}

TEST_F(RequestBodyTest, MalformedDiscardedChunkedBodyClosesTheConnection) {
    load();
    std::string out = exchange(
        "POST /ignore HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
        "GET /read HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_EQ(responses(out), 1);  // the response was sent already; then the connection ends
    EXPECT_THAT(out, EndsWith("ignored"));
}

// ---- timeouts and clients going away ----

TEST_F(RequestBodyTest, BodyTimeoutIs408) {
    load("client_body_timeout 200ms;");
    Client c(*cycle_);
    auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(c.send("POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc"));
    ASSERT_TRUE(c.wait_eof(5s));
    EXPECT_THAT(c.out(), StartsWith("HTTP/1.1 408 Request Time-out\r\n"));
    EXPECT_THAT(c.out(), HasSubstr("\r\nConnection: close\r\n"));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);
}

TEST_F(RequestBodyTest, SlowButSteadyBodyIsNotTimedOut) {
    // client_body_timeout is between two reads, not for the whole body.
    load("client_body_timeout 300ms;");
    Client c(*cycle_);
    ASSERT_TRUE(c.send("POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n"));
    for (int i = 0; i < 10; i++) {
        c.run(100ms);
        ASSERT_TRUE(c.send(std::string(1, static_cast<char>('0' + i))));
    }
    ASSERT_TRUE(c.wait_for("\r\n\r\nsize="));
    EXPECT_THAT(c.out(), StartsWith("HTTP/1.1 200 OK\r\n"));
    EXPECT_THAT(c.out(), HasSubstr(expected("0123456789", false, "method=POST uri=/read tag=-")));
}

TEST_F(RequestBodyTest, SlowButSteadyDiscardedBodyIsNotTimedOut) {
    load("client_body_timeout 300ms;");
    Client c(*cycle_);
    ASSERT_TRUE(c.send("POST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n"));
    ASSERT_TRUE(c.wait_for("ignored"));
    for (int i = 0; i < 10; i++) {
        c.run(100ms);
        ASSERT_TRUE(c.send("x")) << "byte " << i << ": " << strerror(c.send_error());
    }
    ASSERT_TRUE(c.send("GET /read HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
    c.wait_eof();
    EXPECT_EQ(responses(c.out()), 2) << c.out();
}

TEST_F(RequestBodyTest, DiscardedBodyNeverCompletingIsClosed) {
    load("client_body_timeout 200ms;");
    Client c(*cycle_);
    ASSERT_TRUE(c.send("POST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc"));
    ASSERT_TRUE(c.wait_eof(5s));
    EXPECT_EQ(responses(c.out()), 1);
    EXPECT_THAT(c.out(), EndsWith("ignored"));
}

TEST_F(RequestBodyTest, ClientClosingMidBodyFreesTheSession) {
    load();
    for (const char* path : {"/read", "/ignore"}) {
        Client c(*cycle_);
        ASSERT_TRUE(c.send("POST " + std::string(path) +
                           " HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n" +
                           pattern(5000)));
        c.run(20ms);
        c.close();
        for (int i = 0; i < 100 && !c.server_gone(); i++) {
            c.run(10ms);
        }
        EXPECT_TRUE(c.server_gone()) << path;
    }
    // And the same with a chunked body cut in a chunk.
    Client c(*cycle_);
    ASSERT_TRUE(
        c.send("POST /read HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\nabc"));
    c.run(20ms);
    c.close();
    for (int i = 0; i < 100 && !c.server_gone(); i++) {
        c.run(10ms);
    }
    EXPECT_TRUE(c.server_gone());
}

// ---- lingering close ----

TEST_F(RequestBodyTest, LingeringCloseOffClosesAtOnce) {
    load("client_max_body_size 10; lingering_close off;");
    Client c(*cycle_);
    ASSERT_TRUE(c.send("POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n"));
    ASSERT_TRUE(c.wait_eof());
    EXPECT_THAT(c.out(), StartsWith("HTTP/1.1 413 "));
    c.run(20ms);
    EXPECT_TRUE(c.server_gone());
}

TEST_F(RequestBodyTest, LingeringEndsAfterLingeringTimeout) {
    load("client_max_body_size 10; lingering_timeout 200ms;");
    Client c(*cycle_);
    ASSERT_TRUE(c.send("POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n"));
    ASSERT_TRUE(c.wait_eof());
    c.run(20ms);
    EXPECT_FALSE(c.server_gone()) << "lingering";
    c.run(400ms);
    EXPECT_TRUE(c.server_gone()) << "idle for longer than lingering_timeout";
}

TEST_F(RequestBodyTest, LingeringTimeoutIsBetweenReads) {
    // nginx: lingering_timeout is the wait for more data; each read starts it again, for
    // lingering_time in total.
    load("client_max_body_size 10; lingering_timeout 300ms; lingering_time 10s;");
    Client c(*cycle_);
    ASSERT_TRUE(c.send("POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n"));
    ASSERT_TRUE(c.wait_eof());
    for (int i = 0; i < 10; i++) {
        c.run(100ms);
        ASSERT_TRUE(c.send("body"))
            << "after " << (i + 1) * 100 << " ms: " << strerror(c.send_error());
    }
    EXPECT_FALSE(c.server_gone());
}

TEST_F(RequestBodyTest, LingeringTimeBoundsTheWholeLinger) {
    load("client_max_body_size 10; lingering_timeout 300ms; lingering_time 500ms;");
    Client c(*cycle_);
    ASSERT_TRUE(c.send("POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n"));
    ASSERT_TRUE(c.wait_eof());
    auto start = std::chrono::steady_clock::now();
    while (!c.server_gone() && std::chrono::steady_clock::now() - start < 3s) {
        c.run(50ms);
        c.send("body");
    }
    EXPECT_TRUE(c.server_gone()) << "still lingering after lingering_time";
}

TEST_F(RequestBodyTest, LingeringCloseAlwaysLingersAfterAnyClose) {
    // nginx: "always" lingers unconditionally, even when the client is not expected to send.
    load("lingering_close always;");
    Client c(*cycle_);
    ASSERT_TRUE(c.send("GET /read HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
    ASSERT_TRUE(c.wait_eof());
    c.run(50ms);
    EXPECT_FALSE(c.server_gone()) << "closed without lingering";
}

TEST_F(RequestBodyTest, LingeringCloseOnDoesNotLingerWithoutReason) {
    load();
    Client c(*cycle_);
    ASSERT_TRUE(c.send("GET /read HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
    ASSERT_TRUE(c.wait_eof());
    c.run(50ms);
    EXPECT_TRUE(c.server_gone());
}

}  // namespace
}  // namespace http
