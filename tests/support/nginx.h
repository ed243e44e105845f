#pragma once

// Debian's nginx, the reference halo is compared with: the one helper of every test that runs
// it. Two ways to run it:
//   - Nginx (here): on loopback with a prefix of its own, next to a halo of the same test (the
//     module tests: headers, charset, autoindex, gzip_static, request directives, variables);
//   - Sandbox (support/differential.h): in a private network and mount namespace, on the very
//     paths and ports of a stock config (the differential tests).
// Both read answers as RawResponse (parse_response), whose fields serve both kinds of
// comparison: the de-chunked body, and the bytes as sent.
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "support/harness.h"

namespace halo_test {

/// Debian's nginx: $HALO_NGINX_BIN, else /usr/sbin/nginx.
std::string nginx_bin();
/// True when nginx_bin() is an executable (auto/deps --test installs Debian's nginx).
bool nginx_installed();

/// One parsed response (from raw bytes read until the server closed the connection).
struct RawResponse {
    std::string error;  // non-empty when the exchange failed
    int status = 0;
    /// names as sent, in order; "(interim)" lists the 1xx answers before this one ("100")
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;       // de-chunked (trailers dropped)
    std::string wire_body;  // the bytes after the head, as sent (chunk framing and trailers kept)
    std::string raw_head;   // the head of the final answer, without the blank line
    std::string raw;        // every byte received

    /// All values of `name` (case-insensitive) joined with ", " (empty when absent);
    /// `present` tells an empty value from an absent header.
    std::string header(std::string_view name, bool* present = nullptr) const;
    /// Whether a header `name` (case-insensitive) was sent.
    bool has(std::string_view name) const;
    /// The header lines whose names are among `names` (case-insensitive), "Name: value" as
    /// sent, in wire order: for comparing two answers header by header, name case included.
    std::vector<std::string> lines(const std::vector<std::string_view>& names) const;
};

/// Parses `raw` as one HTTP/1.x response; `head` = answer to HEAD (no body).
RawResponse parse_response(const std::string& raw, bool head);

/// `<method> <path> HTTP/1.1` with Host: localhost, `extra` header lines ("Name: v\r\n") and
/// Connection: close.
std::string request_text(std::string_view path, std::string_view extra = {},
                         std::string_view method = "GET");

/// Sends `request` unchanged to 127.0.0.1:port and reads until the server closes (so the
/// request should say `Connection: close`, or be HTTP/1.0). An answer to a request whose
/// method is HEAD is parsed as one.
RawResponse fetch_raw(uint16_t port, std::string_view request);

/// Printable form of bytes (control and non-ASCII bytes escaped), cut after `max` bytes.
std::string printable(std::string_view s, size_t max = 300);

/// `text` with every `from` replaced by `to`.
std::string replace_all(std::string text, std::string_view from, std::string_view to);

/// Debian's nginx on loopback, in a prefix of its own (a TempDir with logs/), in the
/// foreground (`-g "daemon off; pid <prefix>/nginx.pid;"`, so the config has no `daemon` or
/// `pid` line) as our child in its own process group; error log <prefix>/logs/error.log (-e),
/// stdout and stderr in <prefix>/nginx.stderr. Stopped by the destructor: SIGTERM to the
/// master, then SIGKILL to its group, by pid.
class Nginx {
  public:
    Nginx();
    ~Nginx();
    Nginx(const Nginx&) = delete;
    Nginx& operator=(const Nginx&) = delete;

    /// Absolute, without a trailing slash.
    const std::string& prefix() const { return dir_.path(); }
    std::string path(std::string_view rel) const { return dir_ / rel; }

    /// Writes `conf` to <prefix>/nginx.conf, with %%PREFIX%% replaced by the prefix and
    /// %%PORT_0%% by port() (a free port, taken when first asked for), and starts nginx. Waits
    /// until `port` (when 0: port()) accepts connections; fails, with the logs, when nginx
    /// exits first or that takes over 10 s.
    ::testing::AssertionResult start(std::string conf, uint16_t port = 0);
    /// The port %%PORT_0%% stands for.
    uint16_t port();
    void stop();
    bool running() const { return pid_ > 0; }
    /// <prefix>/logs/error.log (empty when missing).
    std::string error_log() const;

  private:
    TempDir dir_;
    pid_t pid_ = -1;
    uint16_t port_ = 0;
};

}  // namespace halo_test
