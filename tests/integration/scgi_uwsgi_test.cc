// SCGI (scgi_pass) and uwsgi (uwsgi_pass) through the real binary, each against a small
// backend written here in Python (standard library only), started and killed by pid: Debian's
// scgi_params / uwsgi_params as shipped, the netstring with CONTENT_LENGTH first, the uwsgi
// packet with uwsgi_modifier1/2, request bodies (1 MB from a file, chunked), the client's
// fields as HTTP_*, answers with a Status: field (hidden, as nginx) or a status line.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "support/harness.h"

namespace halo_test {
namespace {

constexpr std::string_view kBackendPy = R"PY(
import hashlib, socket, sys
mode, port = sys.argv[1], int(sys.argv[2])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(64)

def more(c, buf):
    d = c.recv(65536)
    if not d:
        raise EOFError()
    return buf + d

while True:
    c, _ = s.accept()
    try:
        buf = b""
        if mode == "scgi":
            while b":" not in buf:
                buf = more(c, buf)
            n, rest = buf.split(b":", 1)
            n = int(n)
            while len(rest) < n + 1:
                rest = more(c, rest)
            assert rest[n:n + 1] == b","
            items = rest[:n].split(b"\0")[:-1]
            body = rest[n + 1:]
            m1 = m2 = -1
        else:
            while len(buf) < 4:
                buf = more(c, buf)
            m1, size, m2 = buf[0], buf[1] | (buf[2] << 8), buf[3]
            while len(buf) < 4 + size:
                buf = more(c, buf)
            v, i, items = buf[4:4 + size], 0, []
            while i < len(v):
                k = v[i] | (v[i + 1] << 8); items.append(v[i + 2:i + 2 + k]); i += 2 + k
            body = buf[4 + size:]
        env = dict(zip(items[::2], items[1::2]))
        cl = int(env.get(b"CONTENT_LENGTH", b"0") or b"0")
        while len(body) < cl:
            body = more(c, body)
        out = ("first=%s\nmethod=%s\nuri=%s\ncl=%d\nbody_len=%d md5=%s\nx_test=%s\nmods=%d,%d\n" % (
            items[0].decode(), env[b"REQUEST_METHOD"].decode(), env[b"REQUEST_URI"].decode(), cl,
            len(body), hashlib.md5(body).hexdigest(), env.get(b"HTTP_X_TEST", b"").decode(),
            m1, m2)).encode()
        q = env.get(b"QUERY_STRING", b"")
        if b"statusline" in q:
            head = b"HTTP/1.1 202 Accepted\r\nContent-Type: text/plain\r\n\r\n"
        elif b"missing" in q:
            head = b"Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\n"
        else:
            head = b"Content-Type: text/plain\r\nX-Backend: " + mode.encode() + b"\r\n\r\n"
        c.sendall(head + out)
    except EOFError:
        pass
    c.close()
)PY";

/// The Python backend in `mode` ("scgi" or "uwsgi") on a free loopback port, ours.
class PyBackend {
  public:
    PyBackend(const std::string& dir, std::string mode) : mode_(std::move(mode)) {
        port_ = free_port();
        script_ = dir + "/backend.py";
        FILE* f = fopen(script_.c_str(), "w");
        if (f != nullptr) {
            fwrite(kBackendPy.data(), 1, kBackendPy.size(), f);
            fclose(f);
        }
    }
    ~PyBackend() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            int st = 0;
            waitpid(pid_, &st, 0);
        }
    }
    bool start() {
        pid_ = fork();
        if (pid_ == 0) {
            execlp("python3", "python3", script_.c_str(), mode_.c_str(),
                   std::to_string(port_).c_str(), nullptr);
            _exit(127);
        }
        return pid_ > 0 && wait_for_port(port_, 10s);
    }
    uint16_t port() const { return port_; }

  private:
    std::string mode_;
    std::string script_;
    uint16_t port_ = 0;
    pid_t pid_ = -1;
};

class ScgiUwsgiTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_scgi") || !halo_has_module("http_uwsgi") ||
            !halo_has_module("http_fastcgi")) {
            GTEST_SKIP() << "the scgi, uwsgi or fastcgi module is not compiled in";
        }
        if (access("/etc/nginx/scgi_params", R_OK) != 0 ||
            access("/etc/nginx/uwsgi_params", R_OK) != 0) {
            GTEST_SKIP() << "Debian's scgi_params / uwsgi_params are missing";
        }
    }

    bool start_halo(uint16_t scgi_port, uint16_t uwsgi_port) {
        halo_.write_conf(R"(
daemon off;
worker_processes 1;
error_log logs/error.log info;
events { worker_connections 64; }
http {
    access_log off;
    client_max_body_size 8m;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location /s/ {
            include /etc/nginx/scgi_params;
            scgi_pass 127.0.0.1:)" +
                         std::to_string(scgi_port) +
                         R"(;
        }
        location /u/ {
            include /etc/nginx/uwsgi_params;
            uwsgi_modifier1 5;
            uwsgi_modifier2 3;
            uwsgi_pass uwsgi://127.0.0.1:)" +
                         std::to_string(uwsgi_port) +
                         R"(;
        }
    }
}
)");
        return halo_.start();
    }

    RunResult curl(const std::vector<std::string>& extra, const std::string& path) {
        std::vector<std::string> argv = {"curl", "-sS", "--max-time", "20", "-i"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        argv.push_back("http://127.0.0.1:" + std::to_string(halo_.port(0)) + path);
        return run_command(argv, 25s);
    }

    Halo halo_;
    TempDir dir_{"halo-py"};
};

TEST_F(ScgiUwsgiTest, ScgiNetstringAndAnswers) {
    PyBackend scgi(dir_.path(), "scgi");
    ASSERT_TRUE(scgi.start());
    ASSERT_TRUE(start_halo(scgi.port(), 1)) << halo_.error_log();
    RunResult r = curl({"-H", "X-Test: one"}, "/s/page?a=1");
    EXPECT_NE(r.out.find("HTTP/1.1 200 OK\r\n"), std::string::npos) << r;
    EXPECT_NE(r.out.find("X-Backend: scgi\r\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("first=CONTENT_LENGTH\nmethod=GET\nuri=/s/page?a=1\ncl=0\n"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("x_test=one\n"), std::string::npos) << r.out;
    // A Status: field gives the status and is not passed on; a status line works too.
    r = curl({}, "/s/x?missing");
    EXPECT_NE(r.out.find("HTTP/1.1 404 Not Found\r\n"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("Status:"), std::string::npos) << r.out;
    r = curl({}, "/s/x?statusline");
    EXPECT_NE(r.out.find("HTTP/1.1 202 Accepted\r\n"), std::string::npos) << r.out;
    // Bodies: 1 MB (from the body's temporary file) and chunked (its length once read).
    std::string big = dir_ / "big";
    ASSERT_EQ(
        run_command({"dd", "if=/dev/urandom", "of=" + big, "bs=1024", "count=1024", "status=none"})
            .status,
        0);
    std::string md5 = run_command({"md5sum", big}).out.substr(0, 32);
    r = curl({"--data-binary", "@" + big}, "/s/post");
    EXPECT_NE(r.out.find("cl=1048576\nbody_len=1048576 md5=" + md5), std::string::npos)
        << r.out.substr(0, 300);
    r = curl({"-H", "Transfer-Encoding: chunked", "--data-binary", "@" + big}, "/s/post");
    EXPECT_NE(r.out.find("cl=1048576\nbody_len=1048576 md5=" + md5), std::string::npos)
        << r.out.substr(0, 300);
}

TEST_F(ScgiUwsgiTest, UwsgiPacketModifiersAndBodies) {
    PyBackend uwsgi(dir_.path(), "uwsgi");
    ASSERT_TRUE(uwsgi.start());
    ASSERT_TRUE(start_halo(1, uwsgi.port())) << halo_.error_log();
    RunResult r = curl({"-H", "X-Test: two"}, "/u/app?b=2");
    EXPECT_NE(r.out.find("HTTP/1.1 200 OK\r\n"), std::string::npos) << r;
    EXPECT_NE(r.out.find("first=QUERY_STRING\nmethod=GET\nuri=/u/app?b=2\n"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("x_test=two\nmods=5,3\n"), std::string::npos) << r.out;
    r = curl({}, "/u/x?statusline");
    EXPECT_NE(r.out.find("HTTP/1.1 202 Accepted\r\n"), std::string::npos) << r.out;
    r = curl({"--data-binary", "hello"}, "/u/post");
    EXPECT_NE(r.out.find("cl=5\nbody_len=5 md5=5d41402abc4b2a76b9719d911017c592\n"),
              std::string::npos)
        << r.out;
    r = curl({"-H", "Transfer-Encoding: chunked", "--data-binary", "hello"}, "/u/post");
    EXPECT_NE(r.out.find("cl=5\nbody_len=5 md5=5d41402abc4b2a76b9719d911017c592\n"),
              std::string::npos)
        << r.out;
}

TEST_F(ScgiUwsgiTest, RefusedParametersNameTheDirective) {
    halo_.write_conf(R"(
events {}
http {
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / {
            uwsgi_modifier1 256;
            uwsgi_pass 127.0.0.1:9;
        }
    }
}
)");
    RunResult t = halo_.run({"-t"});
    EXPECT_NE(t.status, 0) << t;
    EXPECT_NE(t.err.find("\"uwsgi_modifier1\""), std::string::npos) << t;
    halo_.write_conf(R"(
events {}
http {
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / {
            scgi_param X $uri maybe;
            scgi_pass 127.0.0.1:9;
        }
    }
}
)");
    t = halo_.run({"-t"});
    EXPECT_NE(t.status, 0) << t;
    EXPECT_NE(t.err.find("invalid value \"maybe\""), std::string::npos) << t;
    // nginx's words for the FastCGI ones (the same as nginx -t prints, checked by hand).
    const std::pair<std::string, std::string> kRefused[] = {
        {"fastcgi_pass 127.0.0.1;", "no port in upstream \"127.0.0.1\""},
        {"fastcgi_split_path_info ^(.+)$; fastcgi_pass 127.0.0.1:9;",
         "pattern \"^(.+)$\" must have 2 captures"},
        {"fastcgi_keep_conn maybe; fastcgi_pass 127.0.0.1:9;",
         "invalid value \"maybe\" in \"fastcgi_keep_conn\" directive, it must be \"on\" or "
         "\"off\""},
        {"fastcgi_pass 127.0.0.1:9; fastcgi_pass 127.0.0.1:9;",
         "\"fastcgi_pass\" directive is duplicate"},
        {"fastcgi_store on; fastcgi_pass 127.0.0.1:9;",
         "\"fastcgi_store\" is not supported by halo: it keeps no copies of upstream responses "
         "as files; serve them from the FastCGI server"},
        {"uwsgi_pass http://127.0.0.1:9;",
         "invalid value \"http://127.0.0.1:9\" in \"uwsgi_pass\" directive, an address, "
         "unix:/path or an upstream name, no URL"},
        {"uwsgi_pass suwsgi://127.0.0.1:9;",
         "\"suwsgi://\" (uwsgi over TLS) is not supported by halo"},
    };
    for (const auto& [directives, message] : kRefused) {
        halo_.write_conf("events {}\nhttp { server { listen 127.0.0.1:%%PORT_0%%; location / { " +
                         directives + " } } }\n");
        t = halo_.run({"-t"});
        EXPECT_NE(t.status, 0) << directives << "\n" << t;
        EXPECT_NE(t.err.find(message + " in " + halo_.conf_path() + ":2"), std::string::npos)
            << directives << "\n"
            << t;
    }
}

}  // namespace
}  // namespace halo_test
