#include "support/differential.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <set>
#include <thread>

namespace halo_test {
namespace {

using SteadyClock = std::chrono::steady_clock;

/// Headers that must differ between two servers, or that only frame the bytes (Content-Length
/// is compared as the length of the normalized body when it is the body's length: built-in
/// error pages carry the server's name and version):
///   server             the product name
///   date               the clock
///   keep-alive         timeout hints (both requests say Connection: close anyway)
///   transfer-encoding  framing only: the body is compared after de-chunking (whether a
///                      length is known still shows in Content-Length, which is compared)
const std::set<std::string, std::less<>> kIgnoredHeaders = {"server", "date", "keep-alive",
                                                            "transfer-encoding"};

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

std::string trim(std::string_view s) {
    size_t b = 0;
    size_t e = s.size();
    while (b < e && (s[b] == ' ' || s[b] == '\t')) {
        b++;
    }
    while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r')) {
        e--;
    }
    return std::string(s.substr(b, e - b));
}

/// An HTTP date as seconds since the epoch, or -1.
long long parse_http_date(const std::string& v) {
    struct tm tm {};
    const char* end = strptime(v.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == nullptr || *end != '\0') {
        return -1;
    }
    return static_cast<long long>(timegm(&tm));
}

/// `gzip -dc` of `data`, or "<gzip error: ...>".
std::string gunzip(const std::string& data) {
    TempDir tmp("halo-diff-gz");
    std::string path = tmp / "body.gz";
    write_file(path, data);
    RunResult r = run_command({"gzip", "-dc", path}, 10s);
    if (r.status != 0) {
        return "<gzip error: " + r.err + ">";
    }
    return r.out;
}

/// The multipart boundary of a Content-Type, or "".
std::string boundary_of(const std::string& content_type) {
    size_t at = content_type.find("boundary=");
    if (at == std::string::npos) {
        return {};
    }
    std::string b = content_type.substr(at + 9);
    size_t end = b.find(';');
    return trim(b.substr(0, end));
}

/// The normalized body: gzip decoded, the multipart boundary replaced by "BOUNDARY", and the
/// server signature of built-in error pages ("<hr><center>nginx/1.22.1</center>") replaced.
std::string normalized_body(const RawResponse& r) {
    std::string body = r.body;
    if (lower(r.header("content-encoding")) == "gzip" && !body.empty()) {
        body = gunzip(body);
    }
    body = replace_all(std::move(body), boundary_of(r.header("content-type")), "BOUNDARY");
    // "<hr><center>[^<]*</center>" -> "<hr><center>SERVER</center>"
    static constexpr std::string_view kOpen = "<hr><center>";
    static constexpr std::string_view kSignature = "<hr><center>SERVER</center>";
    for (size_t at = body.find(kOpen); at != std::string::npos; at = body.find(kOpen, at)) {
        size_t text = at + kOpen.size();
        size_t end = body.find('<', text);
        if (end != std::string::npos && body.compare(end, 9, "</center>") == 0) {
            body.replace(at, end + 9 - at, kSignature);
            at += kSignature.size();
        } else {
            at = text;
        }
    }
    return body;
}

std::string normalized_header(const RawResponse& r, const std::string& name, bool* present) {
    std::string v = r.header(name, present);
    if (name == "content-type") {
        std::string boundary = boundary_of(v);
        v = replace_all(std::move(v), boundary, "BOUNDARY");
    }
    return v;
}

/// Reads everything until the peer closes (or the deadline).
std::string read_all(int fd, Millis timeout) {
    std::string out;
    auto deadline = SteadyClock::now() + timeout;
    for (;;) {
        auto left = std::chrono::duration_cast<Millis>(deadline - SteadyClock::now()).count();
        if (left <= 0) {
            break;
        }
        pollfd p{fd, POLLIN, 0};
        int n = poll(&p, 1, static_cast<int>(left));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        char buf[16384];
        ssize_t r = recv(fd, buf, sizeof(buf), 0);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        out.append(buf, static_cast<size_t>(r));
    }
    return out;
}

bool matches(const KnownDifference& k, const Difference& d) {
    return (k.request == "*" || k.request == d.request) && (k.field == "*" || k.field == d.field);
}

}  // namespace

std::string differential_skip_reason() {
    if (geteuid() != 0) {
        return "needs root: each server runs in a private network and mount namespace";
    }
    if (access(nginx_bin().c_str(), X_OK) != 0) {
        return nginx_bin() + " not found: the differential tests compare halo with Debian's " +
               "nginx (auto/deps --test installs it)";
    }
    if (access("/proc/self/ns/net", R_OK) != 0) {
        return "no /proc/self/ns/net: network namespaces are not available";
    }
    return {};
}

// ---- Sandbox ----

Sandbox::~Sandbox() {
    stop();
}

bool Sandbox::start(const std::vector<Mount>& mounts, const std::string& script,
                    const std::string& log_path, const std::vector<uint16_t>& wait_ports,
                    Millis timeout) {
    error_.clear();
    int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log < 0 || devnull < 0) {
        error_ = "cannot open " + log_path + ": " + strerror(errno);
        return false;
    }
    // Everything the child uses is prepared before fork(): the test may run threads.
    std::vector<std::string> messages;
    for (const Mount& m : mounts) {
        messages.push_back("sandbox: mount on " + m.target + " failed\n");
    }
    pid_ = fork();
    if (pid_ == 0) {
        setpgid(0, 0);
        dup2(devnull, STDIN_FILENO);
        dup2(log, STDOUT_FILENO);
        dup2(log, STDERR_FILENO);
        auto die = [](const char* msg) {
            ssize_t ignored = write(STDERR_FILENO, msg, strlen(msg));
            (void)ignored;
            _exit(121);
        };
        if (unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) {
            die("sandbox: unshare(CLONE_NEWNET | CLONE_NEWNS) failed\n");
        }
        if (mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
            die("sandbox: making / private failed\n");
        }
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        struct ifreq ifr {};
        strcpy(ifr.ifr_name, "lo");
        if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) != 0) {
            die("sandbox: SIOCGIFFLAGS on lo failed\n");
        }
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) {
            die("sandbox: bringing lo up failed\n");
        }
        ::close(s);
        for (size_t i = 0; i < mounts.size(); i++) {
            const Mount& m = mounts[i];
            if (m.make_dir) {
                mkdir(m.target.c_str(), 0755);
            }
            int rc = m.source.empty() ? mount("tmpfs", m.target.c_str(), "tmpfs", 0, "mode=0755")
                                      : mount(m.source.c_str(), m.target.c_str(), nullptr,
                                              MS_BIND | MS_REC, nullptr);
            if (rc != 0) {
                die(messages[i].c_str());
            }
        }
        execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
        die("sandbox: exec /bin/sh failed\n");
    }
    ::close(log);
    ::close(devnull);
    if (pid_ < 0) {
        error_ = std::string("fork(): ") + strerror(errno);
        return false;
    }
    setpgid(pid_, pid_);
    auto deadline = SteadyClock::now() + timeout;
    for (uint16_t port : wait_ports) {
        for (;;) {
            if (!alive()) {
                error_ = "the sandboxed program exited: " + read_file(log_path).value_or("");
                return false;
            }
            int fd = connect_tcp(port, 200ms);
            if (fd >= 0) {
                ::close(fd);
                break;
            }
            if (SteadyClock::now() > deadline) {
                error_ = "port " + std::to_string(port) +
                         " never accepted: " + read_file(log_path).value_or("");
                return false;
            }
            std::this_thread::sleep_for(50ms);
        }
    }
    return true;
}

bool Sandbox::alive() {
    if (pid_ <= 0) {
        return false;
    }
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
        // the script is gone; what it started may live on in its process group
        ::kill(-pid_, SIGKILL);
        pid_ = -pid_;
        return false;
    }
    return true;
}

void Sandbox::stop() {
    if (pid_ == 0 || pid_ == -1) {
        return;
    }
    pid_t group = pid_ > 0 ? pid_ : -pid_;
    ::kill(-group, SIGTERM);
    bool gone = wait_until(
        [&] {
            if (pid_ > 0) {
                waitpid(pid_, nullptr, WNOHANG);
            }
            return ::kill(-group, 0) != 0 && errno == ESRCH;
        },
        5s);
    if (!gone) {
        ::kill(-group, SIGKILL);
    }
    if (pid_ > 0) {
        waitpid(pid_, nullptr, 0);
    }
    wait_until([&] { return ::kill(-group, 0) != 0 && errno == ESRCH; }, 5s);
    pid_ = -1;
}

int Sandbox::connect_tcp(uint16_t port, Millis timeout) const {
    pid_t p = pid_ > 0 ? pid_ : -pid_;
    int self = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    int target = ::open(("/proc/" + std::to_string(p) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC);
    int fd = -1;
    if (self >= 0 && target >= 0 && setns(target, CLONE_NEWNET) == 0) {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);  // lives in the sandbox's netns
        setns(self, CLONE_NEWNET);
    }
    if (self >= 0) {
        ::close(self);
    }
    if (target >= 0) {
        ::close(target);
    }
    if (fd < 0) {
        return -1;
    }
    timeval tv{static_cast<time_t>(timeout.count() / 1000),
               static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

std::vector<std::string> Sandbox::nsenter(const std::vector<std::string>& argv) const {
    std::string p = std::to_string(pid_ > 0 ? pid_ : -pid_);
    std::vector<std::string> full = {"nsenter", "--net=/proc/" + p + "/ns/net",
                                     "--mount=/proc/" + p + "/ns/mnt", "--"};
    full.insert(full.end(), argv.begin(), argv.end());
    return full;
}

// ---- requests and responses ----

DiffRequest make_request(std::string name, std::string_view method, std::string_view target,
                         std::string_view host, std::string_view extra, uint16_t port) {
    DiffRequest req;
    req.name = std::move(name);
    req.raw = std::string(method) + " " + std::string(target) +
              " HTTP/1.1\r\nHost: " + std::string(host) + "\r\n" + std::string(extra) +
              "Connection: close\r\n\r\n";
    req.head = method == "HEAD";
    req.port = port;
    return req;
}

RawResponse send_request(const Sandbox& box, const DiffRequest& req) {
    if (req.tls) {
        TempDir tmp("halo-diff-tls");
        std::string path = tmp / "request";
        write_file(path, req.raw);
        std::string cmd =
            "exec openssl s_client -quiet -ign_eof -connect 127.0.0.1:" + std::to_string(req.port) +
            (req.sni.empty() ? std::string() : " -servername " + req.sni) + " 2>/dev/null < " +
            path;
        RunResult r = run_command(box.nsenter({"/bin/sh", "-c", cmd}), 20s);
        return parse_response(r.out, req.head);
    }
    int fd = box.connect_tcp(req.port);
    if (fd < 0) {
        RawResponse r;
        r.error = "cannot connect to port " + std::to_string(req.port);
        return r;
    }
    size_t sent = 0;
    while (sent < req.raw.size()) {
        ssize_t n = ::send(fd, req.raw.data() + sent, req.raw.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) {
            break;
        }
        sent += static_cast<size_t>(n);
    }
    std::string raw = read_all(fd, 10s);
    ::close(fd);
    return parse_response(raw, req.head);
}

std::vector<Difference> compare_responses(const std::string& name, const RawResponse& nginx,
                                          const RawResponse& halo) {
    std::vector<Difference> out;
    if (!nginx.error.empty() || !halo.error.empty()) {
        if (nginx.error != halo.error) {
            out.push_back({name, "exchange", nginx.error.empty() ? "ok" : nginx.error,
                           halo.error.empty() ? "ok" : halo.error});
        }
        if (nginx.status == 0 || halo.status == 0) {
            return out;
        }
    }
    if (nginx.status != halo.status) {
        out.push_back({name, "status", std::to_string(nginx.status), std::to_string(halo.status)});
    }
    std::set<std::string> names;
    for (const auto* r : {&nginx, &halo}) {
        for (const auto& h : r->headers) {
            std::string name = lower(h.first);  // halo and nginx may spell a name apart
            if (kIgnoredHeaders.count(name) == 0) {
                names.insert(name);
            }
        }
    }
    for (const std::string& h : names) {
        bool in_nginx = false;
        bool in_halo = false;
        std::string a = normalized_header(nginx, h, &in_nginx);
        std::string b = normalized_header(halo, h, &in_halo);
        if (h == "content-length" && in_nginx && in_halo &&
            a == std::to_string(nginx.body.size()) && b == std::to_string(halo.body.size())) {
            // the length of what is compared as the body (the error pages' signature differs)
            a = std::to_string(normalized_body(nginx).size());
            b = std::to_string(normalized_body(halo).size());
        }
        if (h == "expires" && in_nginx && in_halo) {
            long long ta = parse_http_date(a);
            long long tb = parse_http_date(b);
            if (ta >= 0 && tb >= 0 && std::llabs(ta - tb) <= 1) {
                continue;
            }
        }
        if (in_nginx != in_halo || a != b) {
            out.push_back({name, h, in_nginx ? a : "(absent)", in_halo ? b : "(absent)"});
        }
    }
    std::string body_a = normalized_body(nginx);
    std::string body_b = normalized_body(halo);
    if (body_a != body_b) {
        size_t at = 0;
        while (at < body_a.size() && at < body_b.size() && body_a[at] == body_b[at]) {
            at++;
        }
        size_t from = at > 40 ? at - 40 : 0;
        std::string where = "(" + std::to_string(body_a.size()) + " vs " +
                            std::to_string(body_b.size()) + " bytes, first difference at " +
                            std::to_string(at) + ") ";
        out.push_back({name, "body", where + printable(std::string_view(body_a).substr(from), 200),
                       where + printable(std::string_view(body_b).substr(from), 200)});
    }
    return out;
}

std::string format_differences(const std::vector<Difference>& diffs) {
    std::string out;
    for (const Difference& d : diffs) {
        out += "  " + d.request + "  [" + d.field + "]\n";
        out += "    nginx: " + d.nginx + "\n";
        out += "    halo : " + d.halo + "\n";
    }
    return out;
}

std::vector<Difference> run_differential(const Sandbox& nginx, const Sandbox& halo,
                                         const std::vector<DiffRequest>& requests,
                                         const std::vector<KnownDifference>& known) {
    std::vector<Difference> all;
    std::vector<Difference> unexpected;
    std::string expected_report;
    std::vector<bool> seen(known.size(), false);
    for (const DiffRequest& req : requests) {
        RawResponse a = send_request(nginx, req);
        RawResponse b = send_request(halo, req);
        if (getenv("HALO_DIFF_VERBOSE") != nullptr) {
            std::cout << "[ differential ] " << req.name << ": nginx " << a.status << " "
                      << a.body.size() << " bytes" << (a.error.empty() ? "" : " " + a.error)
                      << " / halo " << b.status << " " << b.body.size() << " bytes"
                      << (b.error.empty() ? "" : " " + b.error) << "\n";
        }
        for (Difference& d : compare_responses(req.name, a, b)) {
            bool listed = false;
            for (size_t i = 0; i < known.size(); i++) {
                if (matches(known[i], d)) {
                    seen[i] = true;
                    listed = true;
                    expected_report += format_differences({d});
                    expected_report += "    known: " + std::string(known[i].reason) + "\n";
                    break;
                }
            }
            if (!listed) {
                unexpected.push_back(d);
            }
            all.push_back(std::move(d));
        }
    }
    std::cout << "[ differential ] " << requests.size() << " requests, " << all.size()
              << " differences (" << unexpected.size() << " not in the known list)\n";
    if (!expected_report.empty()) {
        std::cout << "[ differential ] known differences:\n" << expected_report;
    }
    bool strict = getenv("HALO_DIFF_STRICT") != nullptr;
    for (size_t i = 0; i < known.size(); i++) {
        if (!seen[i]) {
            std::string msg = "known difference no longer seen, remove it from the list: " +
                              std::string(known[i].request) + " [" + std::string(known[i].field) +
                              "]";
            std::cout << "[ differential ] " << msg << "\n";
            if (strict) {
                ADD_FAILURE() << msg;
            }
        }
    }
    if (!unexpected.empty()) {
        ADD_FAILURE() << "nginx and halo answer differently:\n" << format_differences(unexpected);
    }
    return all;
}

std::string strip_directives(const std::string& text, const std::vector<std::string_view>& names) {
    std::string out;
    size_t at = 0;
    bool in_directive = false;  // a stripped directive continues on this line
    while (at < text.size()) {
        size_t eol = text.find('\n', at);
        std::string line = text.substr(at, eol == std::string::npos ? eol : eol - at + 1);
        at = eol == std::string::npos ? text.size() : eol + 1;
        size_t b = line.find_first_not_of(" \t");
        bool strip_line = in_directive;
        for (std::string_view name : names) {
            size_t end = b + name.size();
            if (b != std::string::npos && line.compare(b, name.size(), name) == 0 &&
                end < line.size() && strchr(" \t\r\n;", line[end]) != nullptr) {
                strip_line = true;
            }
        }
        if (strip_line) {
            in_directive = line.find(';') == std::string::npos;
            line = "# stripped for halo: " + line;
        }
        out += line;
    }
    return out;
}

std::string make_test_certificate(const std::string& cn, const std::string& crt,
                                  const std::string& key) {
    RunResult r = run_command(
        {"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
         "-days", "2", "-subj", "/CN=" + cn, "-addext", "subjectAltName=DNS:" + cn},
        30s);
    if (r.status != 0) {
        return "openssl req failed: " + r.err;
    }
    return {};
}

}  // namespace halo_test
