#pragma once

// The differential harness: Debian's nginx and halo run on the same configuration, each in a
// private network and mount namespace of its own (so both can listen on the same ports, write
// /run/nginx.pid and /var/log/nginx, and read the same paths), the same raw requests go to
// both, and the answers are compared: status, every header except the few that must differ
// (Server, Date, ... see kIgnoredHeaders in differential.cc), and the body (gzip decoded, the
// multipart boundary and the error pages' server signature normalized).
//
// Differences a test expects today (halo not yet on par) are listed by the test as
// KnownDifference entries, each with its reason; any other difference fails the test, and a
// listed one that no longer occurs is reported so that the list shrinks.
//
// Needs root (namespaces, mounts) and /usr/sbin/nginx: skip_reason() says which is missing.
// nginx_bin(), RawResponse and parse_response() are support/nginx.h's (the shared helper of
// every test that runs Debian's nginx).
// Plain POSIX + GoogleTest (linked into every test binary): no halo object, no OpenSSL (TLS
// requests go through `openssl s_client` inside the namespace).
#include <sys/types.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "support/harness.h"
#include "support/nginx.h"

namespace halo_test {

/// Why the differential tests cannot run here ("" when they can): not root, no nginx, no
/// unshare support.
std::string differential_skip_reason();

/// A program run in a fresh network + mount namespace (mounts private, lo up), with tmpfs
/// and bind mounts set up first. The program is `/bin/sh -c script` (so a test can start a
/// backend with `&` before `exec`-ing the server under test), in its own process group; the
/// destructor sends SIGTERM then SIGKILL to that group (by pid). The namespaces go away with
/// their last process.
class Sandbox {
  public:
    struct Mount {
        std::string target;     // an existing directory (or file, for a bind of a file)
        std::string source;     // bind source; empty = a fresh tmpfs (mode 0755)
        bool make_dir = false;  // create the target first (under a tmpfs mounted before)
    };

    Sandbox() = default;
    ~Sandbox();
    Sandbox(const Sandbox&) = delete;
    Sandbox& operator=(const Sandbox&) = delete;

    /// Starts the script; stdout and stderr go to `log_path`. Returns once every port of
    /// `wait_ports` accepts connections inside the namespace (false, with error(), on timeout
    /// or when the program exits first).
    bool start(const std::vector<Mount>& mounts, const std::string& script,
               const std::string& log_path, const std::vector<uint16_t>& wait_ports,
               Millis timeout = 15s);
    void stop();
    pid_t pid() const { return pid_; }
    bool alive();
    const std::string& error() const { return error_; }
    /// A TCP socket connected to 127.0.0.1:port inside the namespace, or -1.
    int connect_tcp(uint16_t port, Millis timeout = 5s) const;
    /// `nsenter --net=<this namespace> --mount=<...>` + argv, for commands run in here.
    std::vector<std::string> nsenter(const std::vector<std::string>& argv) const;

  private:
    pid_t pid_ = -1;
    std::string error_;
};

/// A request sent unchanged to both servers (with `Connection: close`, so a response ends
/// with the connection).
struct DiffRequest {
    std::string name;  // what the report calls it: "GET /a.css gzip"
    std::string raw;   // the whole request text
    bool head = false;
    uint16_t port = 80;
    bool tls = false;  // sent with `openssl s_client` (SNI = sni)
    std::string sni;
};

/// GET/HEAD shorthand: `<method> <target> HTTP/1.1`, Host, extra header lines ("Name: v\r\n"),
/// Connection: close.
DiffRequest make_request(std::string name, std::string_view method, std::string_view target,
                         std::string_view host = "localhost", std::string_view extra = {},
                         uint16_t port = 80);

/// Sends `req` to the server of `box` and reads the whole answer.
RawResponse send_request(const Sandbox& box, const DiffRequest& req);

struct Difference {
    std::string request;  // DiffRequest::name
    std::string field;    // "status", "body", or a lower-case header name
    std::string nginx;
    std::string halo;
};

/// A difference the test expects today, with the reason; `request` or `field` "*" matches any.
/// The first entry that matches gives the reason: list specific entries before general ones.
struct KnownDifference {
    std::string_view request;
    std::string_view field;
    std::string_view reason;
};

/// The differences between two answers to `name` (nothing when equal after normalization).
std::vector<Difference> compare_responses(const std::string& name, const RawResponse& nginx,
                                          const RawResponse& halo);

/// The readable report of `diffs` (one block per difference, "nginx:" / "halo :" lines).
std::string format_differences(const std::vector<Difference>& diffs);

/// Sends every request to both servers and checks the differences against `known`: new ones
/// fail the test (ADD_FAILURE with the readable diff), known ones are printed with their
/// reason, known entries never seen are printed as stale (so the list shrinks as halo
/// catches up; with HALO_DIFF_STRICT=1 a stale entry fails too). HALO_DIFF_VERBOSE=1 prints
/// each request's status and body size on both sides. Returns every difference.
std::vector<Difference> run_differential(const Sandbox& nginx, const Sandbox& halo,
                                         const std::vector<DiffRequest>& requests,
                                         const std::vector<KnownDifference>& known);

/// `text` with the directives `names` commented out ("# stripped for halo: ..."), including
/// the continuation lines of a directive written over several lines (up to its `;`). For the
/// copy of a config that halo runs while it lacks them: each test lists them with the reason.
std::string strip_directives(const std::string& text, const std::vector<std::string_view>& names);

/// A self-signed certificate (openssl req) for `cn` written to crt/key; "" or why not.
std::string make_test_certificate(const std::string& cn, const std::string& crt,
                                  const std::string& key);

}  // namespace halo_test
