#pragma once

// The server an HTTP/2 test runs against: halo (skipped unless it has the http_v2 module) or
// Debian's nginx (skipped when not installed) on the same configuration, so that every
// conformance and attack test is first proven against nginx. Used by h2_conformance_test.cc
// and h2_attack_test.cc.
#include <signal.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "support/backend.h"
#include "support/h2_client.h"
#include "support/harness.h"
#include "support/nginx.h"

namespace halo_test::h2 {

enum class Server { kHalo, kNginx };

inline std::string server_name(const ::testing::TestParamInfo<Server>& info) {
    return info.param == Server::kHalo ? "halo" : "nginx";
}

/// The common site: %%PORT%% (`listen ... <listen_params>`: h2c by default), %%ROOT%%,
/// %%BACKEND%%; `server_extra` goes inside the server block, `http_extra` in http.
inline std::string h2_site(const std::string& http_extra = {}, const std::string& server_extra = {},
                           const std::string& listen_params = "http2") {
    return R"(
http {
    access_log off;
    server_tokens off;
    default_type text/plain;
)" + http_extra +
           R"(
    server {
        listen 127.0.0.1:%%PORT%% )" +
           listen_params + R"(;
        server_name localhost;
        root %%ROOT%%;
)" + server_extra +
           R"(
        location = /hello { return 200 "hello\n"; }
        location = /vars { return 200 "$server_protocol $http2 $scheme\n"; }
        location /proxy/ { proxy_pass http://127.0.0.1:%%BACKEND%%/; }
    }
%%SECOND%%}
)";
}

/// Runs halo or nginx with one worker, error log at info level (where nginx logs what a
/// client did wrong), files in www/ and one backend that echoes request bodies.
class H2Target {
  public:
    /// Skips (returns false with `why`) when the server cannot run here.
    static bool available(Server s, std::string* why) {
        if (s == Server::kHalo && !halo_has_module("http_v2")) {
            *why = "halo has no http_v2 module yet";
            return false;
        }
        if (s == Server::kNginx && !nginx_installed()) {
            *why = "Debian's nginx is not installed";
            return false;
        }
        return true;
    }

    /// Starts `s` with `site` (see h2_site). With `second_server` (halo only: nginx 1.22 has
    /// no `http2 on`), a second server at port2() says `listen ...; http2 on;`.
    ::testing::AssertionResult start(Server s, const std::string& site,
                                     bool second_server = false) {
        server_ = s;
        std::string root = s == Server::kHalo ? halo_.path("www") : nginx_.path("www");
        const std::string& prefix = s == Server::kHalo ? halo_.prefix() : nginx_.prefix();
        ::mkdir((prefix + "/www").c_str(), 0755);
        write_file(prefix + "/www/a.txt", "static file\n");
        big_.clear();
        for (int i = 0; big_.size() < 200000; i++) {
            big_ += "line " + std::to_string(i) + " of the big file\n";
        }
        write_file(prefix + "/www/big.txt", big_);
        port_ = s == Server::kHalo ? halo_.port(0) : nginx_.port();
        std::string conf = replace_all(site, "%%PORT%%", std::to_string(port_));
        std::string second;
        if (second_server && s == Server::kHalo) {
            port2_ = halo_.port(1);
            second = "    server {\n        listen 127.0.0.1:" + std::to_string(port2_) +
                     ";\n        http2 on;\n        location = /hello { return 200 "
                     "\"second\\n\"; }\n    }\n";
        }
        conf = replace_all(conf, "%%SECOND%%", second);
        conf = replace_all(conf, "%%ROOT%%", root);
        conf = replace_all(conf, "%%BACKEND%%", std::to_string(backend_.port()));
        std::string main = "worker_processes 1;\nerror_log logs/error.log info;\nevents {}\n";
        if (s == Server::kHalo) {
            halo_.write_conf("daemon off;\n" + main + conf);
            return halo_.start();
        }
        return nginx_.start(main + conf, port_);
    }

    Server server() const { return server_; }
    /// The prefix of the server under test (absolute).
    std::string prefix() const { return is_halo() ? halo_.prefix() : nginx_.prefix(); }
    bool is_halo() const { return server_ == Server::kHalo; }
    uint16_t port() const { return port_; }
    uint16_t port2() const { return port2_; }
    const std::string& big() const { return big_; }
    Backend& backend() { return backend_; }
    std::string error_log() { return is_halo() ? halo_.error_log() : nginx_.error_log(); }

    /// Sends `signo` to the master (SIGHUP: reload; SIGQUIT: graceful stop).
    bool signal_master(int signo) {
        if (is_halo()) {
            return halo_.signal(signo);
        }
        std::optional<pid_t> master = read_pid_file(nginx_.path("nginx.pid"));
        return master && ::kill(*master, signo) == 0;
    }

    /// The worker processes (one with worker_processes 1).
    std::vector<pid_t> workers() {
        if (is_halo()) {
            return halo_.workers();
        }
        std::optional<pid_t> master = read_pid_file(nginx_.path("nginx.pid"));
        return master ? children_of(*master) : std::vector<pid_t>{};
    }
    /// The sum of the workers' VmRSS, kB.
    long workers_rss_kb() {
        long sum = 0;
        for (pid_t p : workers()) {
            long kb = status_kb(p, "VmRSS");
            sum += kb > 0 ? kb : 0;
        }
        return sum;
    }

  private:
    static void echo(BackendConn& c, const BackendRequest& r) {
        // /large: 1 MiB (the zero-window stall); otherwise what came, echoed
        std::string body = r.target.rfind("/large", 0) == 0
                               ? std::string(1 << 20, 'L')
                               : r.method + " " + r.target + " " + r.body;
        bool close = r.headers.count("connection") && r.headers.at("connection") == "close";
        c.send(Backend::ok_response(body, close));
        if (close) {
            c.close_after();
        }
    }

    Server server_ = Server::kHalo;
    Backend backend_{"echo", &H2Target::echo};
    Halo halo_;
    Nginx nginx_;
    uint16_t port_ = 0;
    uint16_t port2_ = 0;
    std::string big_;
};

/// A fixture for tests run against both servers: TEST_P(Fixture, Name), instantiated with
/// ::testing::Values(Server::kHalo, Server::kNginx).
class H2Test : public ::testing::TestWithParam<Server> {
  protected:
    void SetUp() override {
        std::string why;
        if (!H2Target::available(GetParam(), &why)) {
            if (HasFailure()) {
                // halo_has_module() failed the test: no configure knows http_v2 yet (the
                // module has not landed); stop here rather than time out in the body.
                FAIL() << why;
            }
            GTEST_SKIP() << why;
        }
    }
    /// Starts the server with h2_site(http_extra, server_extra).
    void start(const std::string& http_extra = {}, const std::string& server_extra = {},
               bool second_server = false, const std::string& listen_params = "http2") {
        ASSERT_TRUE(target_.start(GetParam(), h2_site(http_extra, server_extra, listen_params),
                                  second_server));
    }
    /// A connected client that has done the handshake.
    std::unique_ptr<Client> connect(const Settings& settings = {}) {
        auto c = std::make_unique<Client>();
        EXPECT_TRUE(c->connect(target_.port())) << c->error();
        EXPECT_TRUE(c->handshake(settings)) << c->error();
        return c;
    }

    H2Target target_;
};

}  // namespace halo_test::h2
