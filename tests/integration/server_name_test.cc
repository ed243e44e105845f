// server_name in all its forms through the real binary, and the choice of a server for a Host
// compared with Debian's nginx on the same configuration (when nginx is installed): exact
// names, "" (no Host), leading and trailing wildcards (the longest wins), `.example.com`,
// regexes in order with numbered and named captures, `_`, and the default server.
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include <string>
#include <vector>

#include "support/harness.h"

namespace halo_test {
namespace {

// The servers, as both nginx and halo read them (%%PORT%% filled in per run). Each answers
// with its own tag; the regex servers also with their captures.
constexpr std::string_view kServers = R"(
    server {
        listen 127.0.0.1:%%PORT%%;
        server_name _;
        return 200 "first\n";
    }
    server {
        listen 127.0.0.1:%%PORT%% default_server;
        server_name default.test;
        return 200 "default\n";
    }
    server {
        listen 127.0.0.1:%%PORT%%;
        server_name "";
        return 200 "empty\n";
    }
    server {
        listen 127.0.0.1:%%PORT%%;
        server_name www.example.com Mixed.Example.ORG;
        return 200 "exact\n";
    }
    server {
        listen 127.0.0.1:%%PORT%%;
        server_name *.example.com;
        return 200 "lead-short\n";
    }
    server {
        listen 127.0.0.1:%%PORT%%;
        server_name *.api.example.com;
        return 200 "lead-long\n";
    }
    server {
        listen 127.0.0.1:%%PORT%%;
        server_name .example.net;
        return 200 "dot\n";
    }
    server {
        listen 127.0.0.1:%%PORT%%;
        server_name www.example.*;
        return 200 "trail\n";
    }
    server {
        listen 127.0.0.1:%%PORT%%;
        server_name ~^(?<user>[a-z]+)\.users\.example\.org$;
        return 200 "named $user\n";
    }
    server {
        listen 127.0.0.1:%%PORT%%;
        server_name ~^shop(\d+)\.(.+)$;
        return 200 "numbered $1 $2\n";
    }
    server {
        listen 127.0.0.1:%%PORT%%;
        server_name ~^shop1\.;
        return 200 "second-regex\n";
    }
)";

// Host headers (nullopt: none, as HTTP/1.0 allows).
const std::vector<std::optional<std::string>> kHosts = {
    std::nullopt,
    "",
    "www.example.com",
    "WWW.Example.Com.",
    "www.example.com:8080",
    "mixed.example.org",
    "a.example.com",
    "x.api.example.com",
    "api.example.com",
    "example.com",
    "example.net",
    "deep.sub.example.net",
    "www.example.org",
    "www.example.co.uk",
    "alice.users.example.org",
    "shop1.example.de",
    "shop42.example.de",
    "_",
    "default.test",
    "unknown.test",
    "[::1]",
};

std::string ask(uint16_t port, const std::optional<std::string>& host) {
    HttpConnection c;
    if (!c.connect(port)) {
        return "<connect>";
    }
    std::string req = host ? "GET / HTTP/1.1\r\nHost: " + *host + "\r\nConnection: close\r\n\r\n"
                           : std::string("GET / HTTP/1.0\r\n\r\n");
    if (!c.send(req)) {
        return "<send>";
    }
    auto r = c.read_response();
    if (!r) {
        return "<no response>";
    }
    // An error page names the server software: the status is what is compared.
    return std::to_string(r->status) + " " + (r->status == 200 ? r->body : std::string());
}

std::string fill_port(std::string_view text, uint16_t port) {
    std::string out(text);
    for (size_t at; (at = out.find("%%PORT%%")) != std::string::npos;) {
        out.replace(at, 8, std::to_string(port));
    }
    return out;
}

TEST(ServerNameTest, SelectionIsNginxs) {
    if (!halo_has_module("http_rewrite")) {
        GTEST_SKIP() << "the http_rewrite module is not compiled in";
    }
    Halo halo;
    halo.write_conf(
        "daemon off;\nworker_processes 1;\nerror_log logs/error.log info;\nevents {}\n"
        "http {\naccess_log off;\n" +
        fill_port(kServers, halo.port(0)) + "}\n");
    ASSERT_TRUE(halo.start()) << halo.error_log();
    std::vector<std::string> got;
    for (const auto& h : kHosts) {
        got.push_back(ask(halo.port(0), h));
    }
    // What nginx's documentation says, written out.
    const std::vector<std::string> expected = {
        "200 empty\n",                   // no Host: the server named ""
        "400 ",                          // an empty Host is refused
        "200 exact\n",                   // exact
        "200 exact\n",                   // case and a trailing dot do not matter
        "200 exact\n",                   // nor the port
        "200 exact\n",                   // a name given in capitals is lower-cased
        "200 lead-short\n",              // *.example.com
        "200 lead-long\n",               // the longest leading wildcard wins
        "200 lead-short\n",              // *.example.com, not *.api.example.com
        "200 default\n",                 // *.example.com does not match example.com
        "200 dot\n",                     // .example.net matches example.net itself
        "200 dot\n",                     // and any name under it
        "200 trail\n",                   // www.example.*
        "200 trail\n",                   // www.example.* takes several labels
        "200 named alice\n",             // named capture as a variable
        "200 numbered 1 example.de\n",   // the first regex in order wins
        "200 numbered 42 example.de\n",  // numbered captures
        "200 first\n",                   // `_` is no catch-all, only a name (here one a server has)
        "200 default\n",
        "200 default\n",  // no match: the default server
        "200 default\n",  // an IP literal
    };
    EXPECT_EQ(got, expected);

    if (run_command({"nginx", "-v"}).status != 0) {
        return;
    }
    TempDir dir("nginx-sn");
    uint16_t port = free_port();
    std::string conf = "pid " + dir.path() + "/nginx.pid;\nerror_log " + dir.path() +
                       "/logs/error.log;\ndaemon off;\nmaster_process off;\nevents {}\nhttp {\n"
                       "access_log off;\nclient_body_temp_path " +
                       dir.path() + "/tmp;\n" + fill_port(kServers, port) + "}\n";
    ASSERT_TRUE(write_file(dir / "nginx.conf", conf));
    pid_t pid = fork();
    if (pid == 0) {
        execlp("nginx", "nginx", "-p", (dir.path() + "/").c_str(), "-c",
               (dir / "nginx.conf").c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    ASSERT_GT(pid, 0);
    bool up = wait_for_port(port);
    std::vector<std::string> nginx;
    for (const auto& h : kHosts) {
        nginx.push_back(ask(port, h));
    }
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
    ASSERT_TRUE(up);
    EXPECT_EQ(got, nginx);
}

TEST(ServerNameTest, InvalidNamesAreRefusedAsNginx) {
    Halo halo;
    struct Case {
        std::string name;
        std::string message;
    };
    const Case cases[] = {
        {"www.*.example.com", "invalid server name or wildcard \"www.*.example.com\""},
        {"*example.com", "server name \"*example.com\" is invalid"},
        {".", "server name \".\" is invalid"},
        {"www.example*", "invalid server name or wildcard \"www.example*\""},
        {"~", "empty regex in server name \"~\""},
    };
    for (const Case& c : cases) {
        halo.write_conf("events {}\nhttp {\nserver { server_name " + c.name + "; }\n}\n");
        RunResult r = halo.run({"-t"});
        EXPECT_EQ(r.status, 1) << c.name;
        EXPECT_NE(r.err.find(c.message + " in " + halo.conf_path() + ":3"), std::string::npos) << r;
    }
}

}  // namespace
}  // namespace halo_test
