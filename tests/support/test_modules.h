#pragma once

// Header-only helpers for the unit tests that link halo's objects: temporary prefixes,
// config files, cycles built from inline config text, free ports, and an in-process HTTP
// exchange. Only unit tests include this file (the integration binary links no halo objects).

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "core/conf_context.h"
#include "core/cycle.h"
#include "core/process.h"
#include "core/status.h"
#include "event/runtime.h"
#include "http/http.h"
#include "http/session.h"

namespace support {

/// A fresh directory (with a `logs/` folder, as a halo prefix needs) removed with its contents
/// when the object goes away.
class TempDir {
  public:
    TempDir() {
        const char* base = getenv("TMPDIR");
        std::string tmpl =
            std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/halo-unit-XXXXXX";
        if (mkdtemp(tmpl.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        path_ = tmpl;
        std::filesystem::create_directories(path_ + "/logs");
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    /// The directory, without a trailing slash.
    const std::string& path() const { return path_; }
    /// The directory as a halo prefix (with the trailing slash).
    std::string prefix() const { return path_ + "/"; }
    /// Absolute path of `name` inside the directory.
    std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

    /// Writes `text` to `name` (creating folders); returns the absolute path.
    std::string write(std::string_view name, std::string_view text) const {
        std::string p = file(name);
        std::filesystem::create_directories(std::filesystem::path(p).parent_path());
        std::ofstream out(p, std::ios::binary | std::ios::trunc);
        out << text;
        return p;
    }
    /// The text of `name` ("" when it cannot be read).
    std::string read(std::string_view name) const {
        std::ifstream in(file(name), std::ios::binary);
        std::ostringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }

  private:
    std::string path_;
};

/// Options of a cycle built from `dir` with the main config file `halo.conf`.
inline core::CycleOptions cycle_options(const TempDir& dir, std::string params = {},
                                        bool test_only = false) {
    core::CycleOptions o;
    o.prefix = dir.prefix();
    o.conf_file = dir.file("halo.conf");
    o.conf_params = std::move(params);
    o.test_only = test_only;
    return o;
}

/// Writes `conf` as dir/halo.conf and builds a cycle from it.
inline core::Status load_cycle(const core::ModuleRegistry& registry, const TempDir& dir,
                               std::string_view conf, std::unique_ptr<core::Cycle>& out,
                               core::Cycle* old = nullptr, std::string params = {},
                               bool test_only = false) {
    dir.write("halo.conf", conf);
    return core::Cycle::create(cycle_options(dir, std::move(params), test_only), registry, old,
                               out);
}

/// A TCP port of 127.0.0.1 that was free a moment ago (bound to port 0, then closed).
inline uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof(a);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        if (fd >= 0) {
            ::close(fd);
        }
        return 0;
    }
    ::close(fd);
    return ntohs(a.sin_port);
}

/// Connects to 127.0.0.1:`port`; true when a listener accepted the handshake.
inline bool can_connect(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    ::close(fd);
    return ok;
}

/// Sends `request` to the first HTTP port of `cycle` over a socketpair, served in this
/// process by an ev::Runtime, and returns every byte the server wrote until it closed the
/// connection (or `limit` passed). `chunk` > 0 sends the request that many bytes per loop
/// turn (a slow client). The cycle may be a test_only one (no sockets needed).
inline std::string http_exchange(core::Cycle& cycle, std::string_view request, size_t chunk = 0,
                                 std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    http::HttpMainConf* main = http::http_main(cycle);
    if (main == nullptr || main->ports.empty()) {
        return "<no http port>";
    }
    core::ProcessInfo info;
    ev::Runtime runtime(cycle, info);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
        return "<socketpair failed>";
    }
    core::SockAddr peer;
    main->ports[0]->on_accept(sv[0], peer);  // the session owns sv[0] from here
    size_t off = 0;
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + limit;
    bool eof = false;
    while (!eof && std::chrono::steady_clock::now() < deadline) {
        if (off < request.size()) {
            size_t want = request.size() - off;
            if (chunk > 0 && want > chunk) {
                want = chunk;
            }
            ssize_t n = ::send(sv[1], request.data() + off, want, MSG_NOSIGNAL);
            if (n > 0) {
                off += static_cast<size_t>(n);
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                off = request.size();  // the server closed: stop sending
            }
        }
        runtime.loop().run_once(ev::Duration(chunk > 0 && off < request.size() ? 1 : 10));
        char buf[4096];
        for (;;) {
            ssize_t n = ::read(sv[1], buf, sizeof(buf));
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
    ::close(sv[1]);
    // Let the session see the close and free itself before the runtime goes away.
    for (int i = 0; i < 10 && runtime.active_connections() > 0; i++) {
        runtime.loop().run_once(ev::Duration(10));
    }
    runtime.loop().run_once(ev::Duration(0));
    return out;
}

}  // namespace support
