// Debian's nginx started by a test, on loopback with its own prefix, to compare halo's answers
// with the reference's (differential tests of the headers, charset, autoindex and static
// modules). Header-only: used by a few integration test files.
#pragma once

#include <signal.h>
#include <strings.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "support/harness.h"

namespace halo_test {

/// A response read whole (the request asks for `Connection: close`), headers in wire order.
struct RawResponse {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;  // as sent (chunked framing kept)
    std::string raw;

    /// The first value of `name` (case-insensitive), "" when absent.
    std::string header(std::string_view name) const {
        for (const auto& [n, v] : headers) {
            if (n.size() == name.size() && strncasecmp(n.data(), name.data(), n.size()) == 0) {
                return v;
            }
        }
        return {};
    }
    bool has(std::string_view name) const {
        for (const auto& [n, v] : headers) {
            if (n.size() == name.size() && strncasecmp(n.data(), name.data(), n.size()) == 0) {
                return true;
            }
        }
        return false;
    }
    /// The values of `names` that are present, "Name: value" in wire order.
    std::vector<std::string> lines(const std::vector<std::string_view>& names) const {
        std::vector<std::string> out;
        for (const auto& [n, v] : headers) {
            for (std::string_view want : names) {
                if (n.size() == want.size() && strncasecmp(n.data(), want.data(), n.size()) == 0) {
                    out.push_back(n + ": " + v);
                }
            }
        }
        return out;
    }
};

/// Sends `request` as is and reads until the server closes.
inline RawResponse fetch_raw(uint16_t port, std::string_view request) {
    RawResponse r;
    HttpConnection c;
    if (!c.connect(port) || !c.send(request) || !c.wait_closed()) {
        return r;
    }
    r.raw = c.unread();
    size_t end = r.raw.find("\r\n\r\n");
    if (end == std::string::npos) {
        return r;
    }
    r.body = r.raw.substr(end + 4);
    std::string_view head(r.raw.data(), end);
    size_t eol = head.find("\r\n");
    std::string_view status_line = head.substr(0, eol);
    if (status_line.size() >= 12) {
        r.status = std::stoi(std::string(status_line.substr(9, 3)));
    }
    while (eol != std::string_view::npos) {
        head.remove_prefix(eol + 2);
        eol = head.find("\r\n");
        std::string_view line = head.substr(0, eol);
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) {
            continue;
        }
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') {
            value.remove_prefix(1);
        }
        r.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
    }
    return r;
}

/// `GET path` (or another method) with Connection: close and `extra` header lines.
inline std::string request_text(std::string_view path, std::string_view extra = {},
                                std::string_view method = "GET") {
    std::string s(method);
    s += " ";
    s += path;
    s += " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
    s += extra;
    s += "\r\n";
    return s;
}

/// Whether Debian's nginx is there to compare with.
inline bool nginx_available() {
    return file_exists("/usr/sbin/nginx");
}

/// One nginx under test: its own prefix, pid file and error log; stopped (TERM, then KILL,
/// by pid) by the destructor.
class Nginx {
  public:
    Nginx() : dir_("halo-nginx-ref") {}
    ~Nginx() { stop(); }
    Nginx(const Nginx&) = delete;
    Nginx& operator=(const Nginx&) = delete;

    const std::string& prefix() const { return dir_.path(); }
    std::string path(std::string_view rel) const { return dir_ / rel; }

    /// Writes `conf` (no `pid` line: the pid file is given on the command line) and starts
    /// nginx; waits for `port` to accept connections.
    ::testing::AssertionResult start(std::string_view conf, uint16_t port) {
        write_file(path("nginx.conf"), conf);
        RunResult rr =
            run_command({"/usr/sbin/nginx", "-p", prefix() + "/", "-c", path("nginx.conf"), "-e",
                         path("logs/error.log"), "-g", "pid " + path("nginx.pid") + ";"});
        if (rr.status != 0) {
            return ::testing::AssertionFailure() << "nginx did not start: " << rr;
        }
        auto pid = read_pid_file(path("nginx.pid"));
        if (!pid) {
            return ::testing::AssertionFailure() << "no nginx pid file";
        }
        pid_ = *pid;
        if (!wait_for_port(port)) {
            return ::testing::AssertionFailure() << "nginx does not listen on " << port;
        }
        return ::testing::AssertionSuccess();
    }

    void stop() {
        if (pid_ <= 0) {
            return;
        }
        ::kill(pid_, SIGTERM);
        if (!wait_until([&] { return !process_alive(pid_); }, 5s)) {
            for (pid_t w : children_of(pid_)) {
                ::kill(w, SIGKILL);
            }
            ::kill(pid_, SIGKILL);
            wait_until([&] { return !process_alive(pid_); }, 5s);
        }
        pid_ = -1;
    }

    std::string error_log() const { return read_file(path("logs/error.log")).value_or(""); }

  private:
    TempDir dir_;
    pid_t pid_ = -1;
};

/// Replaces every `from` in `text` with `to`.
inline std::string replace_all(std::string text, std::string_view from, std::string_view to) {
    for (size_t at = text.find(from); at != std::string::npos;
         at = text.find(from, at + to.size())) {
        text.replace(at, from.size(), to);
    }
    return text;
}

}  // namespace halo_test
