#include "support/nginx.h"

#include <fcntl.h>
#include <signal.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace halo_test {
namespace {

bool same_name(std::string_view a, std::string_view b) {
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

/// `s` without leading and trailing blanks (and a trailing CR).
std::string_view trimmed(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
        s.remove_suffix(1);
    }
    return s;
}

}  // namespace

std::string nginx_bin() {
    const char* env = getenv("HALO_NGINX_BIN");
    return env != nullptr && *env != '\0' ? env : "/usr/sbin/nginx";
}

bool nginx_installed() {
    return access(nginx_bin().c_str(), X_OK) == 0;
}

std::string printable(std::string_view s, size_t max) {
    std::string out;
    for (size_t i = 0; i < s.size() && i < max; i++) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c < 0x20 || c >= 0x7f) {
            char buf[8];
            snprintf(buf, sizeof(buf), "\\x%02x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    if (s.size() > max) {
        out += "... (" + std::to_string(s.size()) + " bytes)";
    }
    return out;
}

// ---- responses ----

std::string RawResponse::header(std::string_view name, bool* present) const {
    std::string out;
    bool found = false;
    for (const auto& [n, v] : headers) {
        if (same_name(n, name)) {
            out += found ? ", " + v : v;
            found = true;
        }
    }
    if (present != nullptr) {
        *present = found;
    }
    return out;
}

bool RawResponse::has(std::string_view name) const {
    bool present = false;
    header(name, &present);
    return present;
}

std::vector<std::string> RawResponse::lines(const std::vector<std::string_view>& names) const {
    std::vector<std::string> out;
    for (const auto& [n, v] : headers) {
        for (std::string_view want : names) {
            if (same_name(n, want)) {
                out.push_back(n + ": " + v);
            }
        }
    }
    return out;
}

RawResponse parse_response(const std::string& raw_in, bool head) {
    RawResponse r;
    r.raw = raw_in;
    std::string_view raw = raw_in;
    // interim answers (100 Continue) before the final one: kept as one pseudo-header
    std::string interim;
    while (raw.substr(0, 10) == "HTTP/1.1 1" && raw.find("\r\n\r\n") != std::string::npos) {
        interim += (interim.empty() ? "" : ", ") + std::string(raw.substr(9, 3));
        raw.remove_prefix(raw.find("\r\n\r\n") + 4);
    }
    if (!interim.empty()) {
        r.headers.emplace_back("(interim)", interim);
    }
    size_t end = raw.find("\r\n\r\n");
    if (raw.empty()) {
        r.error = "no response (connection closed)";
        return r;
    }
    if (end == std::string::npos) {
        r.error = "incomplete response head: " + printable(raw);
        return r;
    }
    r.raw_head = raw.substr(0, end);
    r.wire_body = raw.substr(end + 4);
    std::string_view lines = r.raw_head;
    size_t eol = lines.find('\n');
    std::string_view line = lines.substr(0, eol);
    if (line.substr(0, 7) != "HTTP/1." || line.size() < 12) {
        r.error = "malformed status line: " + printable(line);
        return r;
    }
    r.status = atoi(std::string(line.substr(9, 3)).c_str());
    while (eol != std::string_view::npos) {
        lines.remove_prefix(eol + 1);
        eol = lines.find('\n');
        line = lines.substr(0, eol);
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) {
            r.error = "malformed header line: " + printable(line);
            return r;
        }
        r.headers.emplace_back(std::string(line.substr(0, colon)),
                               std::string(trimmed(line.substr(colon + 1))));
    }
    const std::string& rest = r.wire_body;
    if (head || r.status == 204 || r.status == 304 || r.status < 200) {
        if (!rest.empty()) {
            r.error = "bytes after a body-less response: " + printable(rest);
        }
        return r;
    }
    std::string te = r.header("transfer-encoding");
    if (same_name(te, "chunked")) {
        size_t at = 0;
        for (;;) {
            size_t eol = rest.find("\r\n", at);
            if (eol == std::string::npos) {
                r.error = "truncated chunked body";
                return r;
            }
            size_t size = strtoul(rest.substr(at, eol - at).c_str(), nullptr, 16);
            at = eol + 2;
            if (size == 0) {
                break;
            }
            if (at + size + 2 > rest.size()) {
                r.error = "truncated chunk";
                return r;
            }
            r.body.append(rest, at, size);
            at += size + 2;
        }
        return r;
    }
    bool has_length = false;
    std::string length = r.header("content-length", &has_length);
    if (has_length) {
        size_t n = strtoul(length.c_str(), nullptr, 10);
        if (rest.size() < n) {
            r.error = "body shorter than Content-Length (" + std::to_string(rest.size()) + " < " +
                      length + ")";
        }
        r.body = rest.substr(0, n);
        return r;
    }
    r.body = rest;
    return r;
}

std::string request_text(std::string_view path, std::string_view extra, std::string_view method) {
    std::string s(method);
    s += " ";
    s += path;
    s += " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
    s += extra;
    s += "\r\n";
    return s;
}

RawResponse fetch_raw(uint16_t port, std::string_view request) {
    HttpConnection c;
    if (!c.connect(port) || !c.send(request) || !c.wait_closed()) {
        RawResponse r;
        r.error = "exchange with port " + std::to_string(port) + " failed: " + c.error();
        r.raw = c.unread();
        return r;
    }
    return parse_response(c.unread(), request.substr(0, 5) == "HEAD ");
}

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
    if (from.empty()) {
        return text;
    }
    for (size_t at = text.find(from); at != std::string::npos;
         at = text.find(from, at + to.size())) {
        text.replace(at, from.size(), to);
    }
    return text;
}

// ---- Nginx ----

Nginx::Nginx() : dir_("halo-nginx") {}

Nginx::~Nginx() {
    stop();
}

uint16_t Nginx::port() {
    if (port_ == 0) {
        port_ = free_port();
    }
    return port_;
}

std::string Nginx::error_log() const {
    return read_file(path("logs/error.log")).value_or("");
}

::testing::AssertionResult Nginx::start(std::string conf, uint16_t port) {
    if (pid_ > 0) {
        return ::testing::AssertionFailure() << "nginx is already running";
    }
    if (conf.find("%%PORT_0%%") != std::string::npos || port == 0) {
        conf = replace_all(std::move(conf), "%%PORT_0%%", std::to_string(this->port()));
    }
    conf = replace_all(std::move(conf), "%%PREFIX%%", prefix());
    if (port == 0) {
        port = port_;
    }
    if (!write_file(path("nginx.conf"), conf)) {
        return ::testing::AssertionFailure() << "cannot write " << path("nginx.conf");
    }
    // Everything the child uses is prepared before fork(): the test may run threads.
    std::string bin = nginx_bin();
    std::string conf_path = path("nginx.conf");
    std::string prefix_arg = prefix() + "/";
    std::string error_log_path = path("logs/error.log");
    std::string globals = "daemon off; pid " + path("nginx.pid") + ";";
    std::string out_path = path("nginx.stderr");
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out < 0 || devnull < 0) {
        std::string why = strerror(errno);
        if (out >= 0) {
            ::close(out);
        }
        if (devnull >= 0) {
            ::close(devnull);
        }
        return ::testing::AssertionFailure() << "cannot open " << out_path << ": " << why;
    }
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        dup2(devnull, STDIN_FILENO);
        dup2(out, STDOUT_FILENO);
        dup2(out, STDERR_FILENO);
        execl(bin.c_str(), "nginx", "-p", prefix_arg.c_str(), "-c", conf_path.c_str(), "-e",
              error_log_path.c_str(), "-g", globals.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    ::close(out);
    ::close(devnull);
    if (pid < 0) {
        return ::testing::AssertionFailure() << "fork(): " << strerror(errno);
    }
    setpgid(pid, pid);
    pid_ = pid;
    bool exited = false;
    bool up = wait_until(
        [&] {
            if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
                exited = true;
                return true;
            }
            return port_accepts(port);
        },
        10s);
    if (exited || !up) {
        if (exited) {
            ::kill(-pid_, SIGKILL);  // whatever it started
            pid_ = -1;
        } else {
            stop();
        }
        return ::testing::AssertionFailure()
               << "nginx " << (exited ? "exited" : "does not listen on " + std::to_string(port))
               << "\n--- nginx.conf:\n"
               << conf << "\n--- " << out_path << ":\n"
               << read_file(out_path).value_or("") << "\n--- error log:\n"
               << error_log();
    }
    return ::testing::AssertionSuccess();
}

void Nginx::stop() {
    if (pid_ <= 0) {
        return;
    }
    pid_t group = pid_;
    ::kill(pid_, SIGTERM);
    if (!wait_until([&] { return waitpid(pid_, nullptr, WNOHANG) == pid_; }, 10s)) {
        ::kill(-group, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
    // workers leave with the master; make sure none lingers in the group
    if (!wait_until([&] { return ::kill(-group, 0) != 0 && errno == ESRCH; }, 5s)) {
        ::kill(-group, SIGKILL);
    }
    pid_ = -1;
}

}  // namespace halo_test
