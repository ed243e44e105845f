// Integration-test harness: runs the real halo binary in a temporary prefix and talks to it
// over loopback, nginx-tests style (inline config, harness-allocated ports, self-skip on
// missing modules, assertions on behavior).
//
// Plain POSIX + GoogleTest: this file is also linked into the unit-test binary, so it must
// not depend on any halo object.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace halo_test {

using Millis = std::chrono::milliseconds;
using namespace std::chrono_literals;

// ---- environment ----

/// The halo binary under test: $HALO_BIN, else "objs/halo" (relative to the cwd).
std::string halo_bin();
/// The top of the source tree: $HALO_TOP, else the cwd.
std::string halo_top();
/// True when `halo -V` lists `name` among its modules (cached per binary). For self-skips:
///   if (!halo_has_module("http_rewrite")) GTEST_SKIP() << "...";
bool halo_has_module(std::string_view name, const std::string& bin = halo_bin());

/// A folder for what a test leaves behind to be looked at (screenshots, pages):
/// $HALO_TEST_OUTPUT, else <halo_top()>/objs/test-output, then "<Suite>.<Test>"; made empty
/// when first asked for in a test. Kept after the test, whatever its result.
std::string test_output_dir();

// ---- files ----

/// Writes `text` to `path` (truncating); false on error.
bool write_file(const std::string& path, std::string_view text);
/// The whole file, or std::nullopt when it cannot be read.
std::optional<std::string> read_file(const std::string& path);
bool file_exists(const std::string& path);
/// `n` deterministic bytes that do not repeat in short periods (every value 0..255 occurs):
/// bodies to compare byte for byte after they went through halo.
std::string pattern_bytes(size_t n);
/// Removes a directory tree (no symlinks followed). Best effort.
void remove_tree(const std::string& path);

/// A fresh directory under $TMPDIR (or /tmp), mode 0755 so that workers running as `nobody`
/// can read it, with an empty logs/ subdirectory. Removed by the destructor unless keep().
class TempDir {
  public:
    explicit TempDir(std::string_view tag = "halo-test");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    /// Absolute path, without a trailing slash.
    const std::string& path() const { return path_; }
    /// path() + "/" + rel.
    std::string operator/(std::string_view rel) const;
    /// Leaves the directory in place (for post-mortem of a failed test).
    void keep() { keep_ = true; }

  private:
    std::string path_;
    bool keep_ = false;
};

// ---- ports and waiting ----

/// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close; or the
/// next free one, TCP and UDP, of the range HALO_TEST_PORTS=LO-HI names). Never returns the same
/// port twice in one test process.
uint16_t free_port();

/// Polls `pred` every `interval` until it returns true or `timeout` expires; returns the last
/// result. For waiting on asynchronous effects, never for asserting on timing.
bool wait_until(const std::function<bool()>& pred, Millis timeout = 10s, Millis interval = 20ms);

/// True once a TCP connection to 127.0.0.1:port is accepted by the kernel.
bool port_accepts(uint16_t port);
bool wait_for_port(uint16_t port, Millis timeout = 10s);
/// True once connecting to 127.0.0.1:port is refused.
bool wait_port_closed(uint16_t port, Millis timeout = 10s);

// ---- running commands ----

struct RunResult {
    int status = -1;         // exit code; 128 + signal when killed by a signal
    bool timed_out = false;  // killed by the harness after the timeout
    std::string out;         // stdout
    std::string err;         // stderr
};
/// For gtest messages: status, stdout and stderr.
std::ostream& operator<<(std::ostream& os, const RunResult& r);

/// Runs argv[0] (PATH lookup) with `args`, stdin from /dev/null, capturing stdout and stderr.
/// The command runs in its own process group; on timeout the whole group is killed.
RunResult run_command(const std::vector<std::string>& argv, Millis timeout = 10s,
                      const std::string& cwd = {});

// ---- processes ----

/// Reaps `pid` if it is our child and has exited (never blocks).
void reap(pid_t pid);
/// True while `pid` exists and is not a zombie (reaps our own exited children first).
bool process_alive(pid_t pid);
/// The parent pid from /proc/<pid>/stat, or -1.
pid_t parent_of(pid_t pid);
/// Live (non-zombie) processes whose parent is `pid`, sorted (scans /proc/*/stat).
/// A halo master's configuration check (a child named "halo: check" that lives for the parse
/// of a new configuration) is left out: it is neither a worker nor a helper.
std::vector<pid_t> children_of(pid_t pid);
/// The pid written in a pid file, or std::nullopt.
std::optional<pid_t> read_pid_file(const std::string& path);
/// True when `pid` has a handler installed for `signo` (SigCgt in /proc/<pid>/status): a
/// worker is ready for control signals once it catches them.
bool catches_signal(pid_t pid, int signo);
/// A kB field of /proc/<pid>/status ("VmHWM", "VmRSS"), or -1.
long status_kb(pid_t pid, const std::string& field);
/// The effective uid of a process (from /proc/<pid>/status), or -1.
long process_euid(pid_t pid);
/// ESTABLISHED TCP sockets held by `pid` whose local port is `port` (IPv4 loopback tests):
/// the client connections a worker serves.
int established_connections(pid_t pid, uint16_t port);
/// TCP sockets held by `pid` whose peer port is `port`, in any state (loopback tests): e.g.
/// a worker's connections to a backend, until it closes them.
int connections_to(pid_t pid, uint16_t port);

// ---- HTTP client ----

struct HttpResponse {
    std::string version;                         // "HTTP/1.1"
    int status = 0;                              // 200
    std::string reason;                          // "OK"
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;

    bool has_header(std::string_view name) const;
    /// The value of a header (name case-insensitive), empty when absent.
    std::string header(std::string_view name) const;
};

/// A tiny blocking HTTP/1.1 client over one loopback TCP connection. Sends raw request text,
/// reads responses framed by Content-Length (or by the connection close), keeps any extra bytes
/// for the next response (pipelining). Every call has a deadline.
class HttpConnection {
  public:
    HttpConnection() = default;
    ~HttpConnection();
    HttpConnection(const HttpConnection&) = delete;
    HttpConnection& operator=(const HttpConnection&) = delete;

    /// Connects to 127.0.0.1:port; false (see error()) when refused or timed out.
    bool connect(uint16_t port, Millis timeout = 5s);
    bool connected() const { return fd_ >= 0; }
    /// Writes all of `data`; false on error (the peer reset the connection).
    bool send(std::string_view data);
    /// Reads one response. `head_request` = a response to HEAD (no body). std::nullopt on
    /// error, timeout or early close (see error(), eof_before_response()).
    std::optional<HttpResponse> read_response(Millis timeout = 5s, bool head_request = false);
    /// Waits until the peer closes the connection (EOF or reset); bytes that arrive meanwhile
    /// are kept in unread(). False on timeout.
    bool wait_closed(Millis timeout = 5s);
    /// True when the last read_response() saw the connection closed before any byte of a
    /// response: a keepalive connection the server closed as idle.
    bool eof_before_response() const { return eof_before_response_; }
    const std::string& unread() const { return buf_; }
    const std::string& error() const { return error_; }
    void close();
    int fd() const { return fd_; }

  private:
    /// Reads more bytes into buf_ before `deadline`: 1 = got data, 0 = EOF, -1 = error/timeout.
    int fill(std::chrono::steady_clock::time_point deadline);

    int fd_ = -1;
    std::string buf_;
    std::string error_;
    bool eof_before_response_ = false;
};

/// "GET <path> HTTP/1.1" with Host and `Connection: close` (or keep-alive).
std::string get_request(std::string_view path, std::string_view host = "localhost",
                        bool keepalive = false);
/// One request on a new connection; std::nullopt on any failure (`error` tells why).
std::optional<HttpResponse> http_get(uint16_t port, std::string_view path,
                                     std::string_view host = "localhost",
                                     std::string* error = nullptr);
/// The body of GET <path>, or "<error: ...>" when the request failed.
std::string get_body(uint16_t port, std::string_view path = "/");

// ---- a halo instance ----

/// One halo under test, in its own TempDir prefix. Configs are written inline with
/// placeholders the harness fills in: %%PORT_0%%, %%PORT_1%%, ... (free ports, allocated on
/// first use) and %%PREFIX%%. The destructor stops every process it started: SIGTERM to the
/// master, then SIGKILL to whatever is left, by pid (never by name), even when the test failed;
/// on failure it prints the error log (and keeps the prefix when HALO_TEST_KEEP=1).
class Halo {
  public:
    explicit Halo(std::string bin = halo_bin());
    ~Halo();
    Halo(const Halo&) = delete;
    Halo& operator=(const Halo&) = delete;

    const std::string& bin() const { return bin_; }
    /// The prefix (absolute, no trailing slash) and paths in it.
    const std::string& prefix() const { return dir_.path(); }
    std::string path(std::string_view rel) const { return dir_ / rel; }
    /// The harness port for %%PORT_<i>%%.
    uint16_t port(int i = 0);

    /// Fills the placeholders of `text`.
    std::string expand(std::string_view text);
    /// Writes the main config (prefix/halo.conf by default), placeholders filled in.
    void write_conf(std::string_view text, std::string_view rel = "halo.conf");
    /// Writes any other file in the prefix (includes), placeholders filled in.
    void write(std::string_view rel, std::string_view text);
    std::string conf_path() const { return conf_path_; }
    /// Where the pid file is expected (default prefix/logs/halo.pid).
    void set_pid_path(std::string_view rel) { pid_path_ = path(rel); }
    const std::string& pid_path() const { return pid_path_; }

    /// Runs `halo -p <prefix>/ -c <conf> args...` to completion.
    RunResult run(const std::vector<std::string>& args = {}, Millis timeout = 10s) const;
    /// Runs halo with exactly `args` (no -p/-c added).
    RunResult run_raw(const std::vector<std::string>& args, Millis timeout = 10s) const;

    /// Starts halo in the background: `halo -p <prefix>/ -c <conf> args...`. With `daemon =
    /// false` the config (or -g) must say `daemon off;` (the master is then our child,
    /// stdout/stderr in prefix/halo.stdout and prefix/halo.stderr); with `daemon = true` halo
    /// detaches and the master is found by its pid file. Waits for the pid file and for every
    /// allocated port to accept connections.
    ::testing::AssertionResult start(const std::vector<std::string>& args = {},
                                     bool daemon = false);
    pid_t master_pid() const { return master_; }
    /// The master's live children (workers and helpers), remembered for the cleanup.
    std::vector<pid_t> workers();
    /// Waits until the master has exactly `n` children; returns them (empty on timeout). With
    /// `ready`, also until each of them catches the control signals (QUIT, USR1, HUP, TERM):
    /// its event loop is set up and a signal sent now is handled, not fatal.
    std::vector<pid_t> wait_workers(size_t n, Millis timeout = 10s, bool ready = true);
    /// Waits until the master has exactly `n` children that are not in `old` (old ones may
    /// still be draining), ready as above; returns those new ones (empty on timeout).
    std::vector<pid_t> wait_new_workers(size_t n, const std::vector<pid_t>& old,
                                        Millis timeout = 10s, bool ready = true);
    /// Sends `signo` to the master.
    bool signal(int signo) const;
    bool master_alive() const { return master_ > 0 && process_alive(master_); }
    /// Waits until the master is gone; returns its exit status when it was our child (or 0),
    /// std::nullopt on timeout.
    std::optional<int> wait_exit(Millis timeout = 10s);
    /// Stops everything now (TERM, then KILL); also what the destructor does.
    void kill_all();

    /// prefix/logs/error.log (empty when missing).
    std::string error_log() const;
    /// Text of what the master printed (daemon off): stderr file.
    std::string master_stderr() const;

    /// Convenience: GET <path> on %%PORT_0%%.
    std::string get_body(std::string_view path = "/") { return halo_test::get_body(port(0), path); }

  private:
    bool is_halo(pid_t pid) const;
    void track(pid_t pid) { tracked_.insert(pid); }

    std::string bin_;
    TempDir dir_;
    std::string conf_path_;
    std::string pid_path_;
    std::vector<uint16_t> ports_;
    pid_t child_ = -1;   // our direct child (daemon off: the master)
    pid_t master_ = -1;  // the master pid
    std::optional<int> child_status_;
    std::set<pid_t> tracked_;
};

/// Lines of `log` that contain `needle`.
std::vector<std::string> log_lines_with(const std::string& log, std::string_view needle);

}  // namespace halo_test
