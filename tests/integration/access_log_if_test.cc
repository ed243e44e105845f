// access_log through the real binary: `if=` (no line when the condition is "" or "0", as
// nginx) with a map on $status, and `syslog:` (one RFC 3164 datagram per line, as nginx sends
// them) to a UDP socket and a unix datagram socket this test opens, and gzip= (one gzip member
// per buffer flush, as nginx).
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <zlib.h>

#include <cctype>
#include <cstring>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/harness.h"

namespace halo_test {
namespace {

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        out.push_back(line);
    }
    return out;
}

/// Every gzip member of `data` inflated and concatenated; nothing when `data` is not gzip.
std::optional<std::string> gunzip_members(const std::string& data, int* members) {
    std::string out;
    *members = 0;
    size_t pos = 0;
    while (pos < data.size()) {
        z_stream zs{};
        if (inflateInit2(&zs, 15 + 16) != Z_OK) {
            return std::nullopt;
        }
        zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + pos));
        zs.avail_in = static_cast<uInt>(data.size() - pos);
        int rc = Z_OK;
        char buf[4096];
        while (rc == Z_OK) {
            zs.next_out = reinterpret_cast<Bytef*>(buf);
            zs.avail_out = sizeof(buf);
            rc = inflate(&zs, Z_NO_FLUSH);
            out.append(buf, sizeof(buf) - zs.avail_out);
        }
        pos = data.size() - zs.avail_in;
        inflateEnd(&zs);
        if (rc != Z_STREAM_END) {
            return std::nullopt;
        }
        ++*members;
    }
    return out;
}

std::string hostname() {
    char name[256] = {};
    gethostname(name, sizeof(name) - 1);
    std::string h = name;
    for (char& c : h) {
        c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    }
    return h;
}

/// A datagram socket the test reads syslog messages from (UDP on loopback or unix).
class Datagrams {
  public:
    ~Datagrams() {
        if (fd_ >= 0) {
            close(fd_);
        }
        if (!unix_path_.empty()) {
            unlink(unix_path_.c_str());
        }
    }
    /// Binds 127.0.0.1:0; returns the port (0 on failure).
    uint16_t bind_udp() {
        fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(a);
        if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
            getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
            return 0;
        }
        return ntohs(a.sin_port);
    }
    /// A unix datagram socket at `path`, writable by the worker user.
    bool bind_unix(const std::string& path) {
        fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        if (fd_ < 0 || path.size() >= sizeof(a.sun_path)) {
            return false;
        }
        memcpy(a.sun_path, path.data(), path.size());
        unlink(path.c_str());
        if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
            return false;
        }
        unix_path_ = path;
        return ::chmod(path.c_str(), 0666) == 0;  // the workers' user sends to it
    }
    /// The next datagram, or nothing within `timeout_ms`.
    std::optional<std::string> next(int timeout_ms = 10000) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, timeout_ms) != 1) {
            return std::nullopt;
        }
        char buf[8192];
        ssize_t n = recv(fd_, buf, sizeof(buf), 0);
        if (n < 0) {
            return std::nullopt;
        }
        return std::string(buf, static_cast<size_t>(n));
    }

  private:
    int fd_ = -1;
    std::string unix_path_;
};

class AccessLogIfTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_log") || !halo_has_module("http_rewrite") ||
            !halo_has_module("http_map")) {
            GTEST_SKIP() << "the http_log, http_rewrite or http_map module is not compiled in";
        }
    }
    void start(std::string_view http_body) {
        halo_.write_conf(
            "daemon off;\nworker_processes 1;\nerror_log logs/error.log info;\n"
            "events { worker_connections 64; }\n"
            "http {\n" +
            std::string(http_body) + "\n}\n");
        ASSERT_TRUE(halo_.start());
        ASSERT_EQ(halo_.wait_workers(1).size(), 1u);
    }
    std::vector<std::string> lines(std::string_view rel) {
        return lines_of(read_file(halo_.path(rel)).value_or(""));
    }
    int status_of(std::string_view target) {
        auto r = http_get(halo_.port(0), target);
        EXPECT_TRUE(r) << target;
        return r ? r->status : 0;
    }

    Halo halo_;
};

TEST_F(AccessLogIfTest, MapOnStatusLogsOnlyErrors) {
    start(
        "map $status $loggable { ~^[23] 0; default 1; }\n"
        "log_format short '$request_uri $status';\n"
        "server { listen 127.0.0.1:%%PORT_0%%;\n"
        " access_log logs/errors.log short if=$loggable;\n"
        " access_log logs/all.log short;\n"
        " location / { return 200 \"ok\"; }\n"
        " location /moved { return 302 /; }\n"
        " location /gone { return 404; }\n"
        " location /bad { return 500; } }");
    EXPECT_EQ(status_of("/ok"), 200);
    EXPECT_EQ(status_of("/moved"), 302);
    EXPECT_EQ(status_of("/gone"), 404);
    EXPECT_EQ(status_of("/bad"), 500);
    // all.log comes after errors.log in the same log phase: once it has the 4 lines, errors.log
    // has all it will get.
    ASSERT_TRUE(wait_until([&] { return lines("logs/all.log").size() >= 4; }));
    EXPECT_EQ(lines("logs/errors.log"), (std::vector<std::string>{"/gone 404", "/bad 500"}));
}

TEST_F(AccessLogIfTest, EmptyAndZeroSkipTheLine) {
    start(
        "log_format short '$request_uri';\n"
        "server { listen 127.0.0.1:%%PORT_0%%;\n"
        " access_log logs/if.log short if=$arg_log;\n"
        " access_log logs/all.log short;\n"
        " location / { return 200 \"ok\"; } }");
    for (const char* t : {"/a", "/b?log=", "/c?log=0", "/d?log=1", "/e?log=00", "/f?log=no"}) {
        EXPECT_EQ(status_of(t), 200) << t;
    }
    ASSERT_TRUE(wait_until([&] { return lines("logs/all.log").size() >= 6; }));
    // Only "" and "0" mean no: "00" and "no" log, as in nginx.
    EXPECT_EQ(lines("logs/if.log"),
              (std::vector<std::string>{"/d?log=1", "/e?log=00", "/f?log=no"}));
}

TEST_F(AccessLogIfTest, SyslogUdpDefaultsAsNginx) {
    Datagrams d;
    uint16_t port = d.bind_udp();
    ASSERT_NE(port, 0);
    start(
        "log_format short '$request_uri $status';\n"
        "server { listen 127.0.0.1:%%PORT_0%%;\n"
        " access_log syslog:server=127.0.0.1:" +
        std::to_string(port) +
        " short;\n"
        " location / { return 200 \"ok\"; } }");
    EXPECT_EQ(status_of("/first?x=1"), 200);
    auto got = d.next();
    ASSERT_TRUE(got) << "no datagram";
    // facility local7 (23), severity info (6): PRI 190; the tag "halo"; no newline.
    std::regex line("<190>[A-Z][a-z]{2} [ 123][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} " + hostname() +
                    " halo: /first\\?x=1 200");
    EXPECT_TRUE(std::regex_match(*got, line)) << *got;
}

TEST_F(AccessLogIfTest, SyslogParametersAndIf) {
    Datagrams d;
    uint16_t port = d.bind_udp();
    ASSERT_NE(port, 0);
    start(
        "log_format short '$request_uri $status';\n"
        "map $status $loggable { ~^[23] 0; default 1; }\n"
        "server { listen 127.0.0.1:%%PORT_0%%;\n"
        " access_log syslog:server=127.0.0.1:" +
        std::to_string(port) +
        ",facility=local6,severity=notice,tag=web_1,nohostname short if=$loggable;\n"
        " location / { return 200 \"ok\"; }\n"
        " location /gone { return 404; } }");
    EXPECT_EQ(status_of("/ok"), 200);
    EXPECT_EQ(status_of("/gone"), 404);
    auto got = d.next();
    ASSERT_TRUE(got) << "no datagram";
    // local6 (22) * 8 + notice (5) = 181; no host name; the 200 was not sent.
    std::regex line("<181>[A-Z][a-z]{2} [ 123][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} web_1: /gone 404");
    EXPECT_TRUE(std::regex_match(*got, line)) << *got;
}

TEST_F(AccessLogIfTest, SyslogUnixSocket) {
    Datagrams d;
    std::string path = halo_.path("log.sock");
    ASSERT_TRUE(d.bind_unix(path)) << path;
    start(
        "log_format short '$request_uri $status';\n"
        "server { listen 127.0.0.1:%%PORT_0%%;\n"
        " access_log syslog:server=unix:" +
        path +
        ",tag=app short;\n"
        " location / { return 200 \"ok\"; } }");
    EXPECT_EQ(status_of("/u"), 200);
    auto got = d.next();
    ASSERT_TRUE(got) << "no datagram";
    std::regex line("<190>[A-Z][a-z]{2} [ 123][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} " + hostname() +
                    " app: /u 200");
    EXPECT_TRUE(std::regex_match(*got, line)) << *got;
}

TEST_F(AccessLogIfTest, GzipWritesOneMemberPerFlush) {
    start(
        "log_format short '$request_uri $status';\n"
        "server { listen 127.0.0.1:%%PORT_0%%;\n"
        " access_log logs/a.log.gz short gzip=5 if=$arg_log;\n"
        " location / { return 200 \"ok\"; } }");
    EXPECT_EQ(status_of("/1?log=1"), 200);
    EXPECT_EQ(status_of("/2"), 200);
    EXPECT_EQ(status_of("/3?log=1"), 200);
    // A graceful stop flushes the 64k buffer (gzip without buffer=, as nginx) as one member.
    ASSERT_TRUE(halo_.signal(SIGQUIT));
    ASSERT_TRUE(halo_.wait_exit(10s).has_value());
    std::string raw = read_file(halo_.path("logs/a.log.gz")).value_or("");
    ASSERT_GE(raw.size(), 2u);
    EXPECT_EQ(raw.substr(0, 2), "\x1f\x8b");
    int members = 0;
    auto text = gunzip_members(raw, &members);
    ASSERT_TRUE(text) << "not gzip";
    EXPECT_EQ(members, 1);
    EXPECT_EQ(*text, "/1?log=1 200\n/3?log=1 200\n");
}

TEST_F(AccessLogIfTest, GzipSmallBufferWritesSeveralMembers) {
    // buffer=16: every line overflows the buffer, so each earlier line is its own member.
    start(
        "log_format short '$request_uri $status';\n"
        "server { listen 127.0.0.1:%%PORT_0%%;\n"
        " access_log logs/a.log.gz short buffer=16 gzip;\n"
        " location / { return 200 \"ok\"; } }");
    for (const char* t : {"/line-one", "/line-two", "/line-three"}) {
        EXPECT_EQ(status_of(t), 200) << t;
    }
    ASSERT_TRUE(halo_.signal(SIGQUIT));
    ASSERT_TRUE(halo_.wait_exit(10s).has_value());
    int members = 0;
    auto text = gunzip_members(read_file(halo_.path("logs/a.log.gz")).value_or(""), &members);
    ASSERT_TRUE(text) << "not gzip";
    EXPECT_EQ(members, 3);
    EXPECT_EQ(*text, "/line-one 200\n/line-two 200\n/line-three 200\n");
}

TEST_F(AccessLogIfTest, VariablesInPathWithBufferAreRefusedAsNginx) {
    // Paths with variables work (access_log_vars_test.cc); buffered ones are refused.
    halo_.write_conf(
        "events {}\nhttp {\nserver { listen 127.0.0.1:%%PORT_0%%;\n"
        " access_log logs/$host.log combined buffer=4k; } }\n");
    RunResult r = halo_.run({"-t"});
    EXPECT_NE(r.status, 0) << r;
    EXPECT_NE(
        r.err.find("buffered logs cannot have variables in name in " + halo_.conf_path() + ":4"),
        std::string::npos)
        << r;
}

}  // namespace
}  // namespace halo_test
