#include "support/harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include "support/sanitizer.h"

namespace halo_test {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::string errno_text(const char* what) {
    return std::string(what) + " failed (" + std::to_string(errno) + ": " + strerror(errno) + ")";
}

std::string cwd() {
    char buf[PATH_MAX];
    return getcwd(buf, sizeof(buf)) != nullptr ? std::string(buf) : std::string(".");
}

std::string absolute(const std::string& p) {
    if (!p.empty() && p[0] == '/') {
        return p;
    }
    return cwd() + "/" + p;
}

int remaining_ms(SteadyClock::time_point deadline) {
    auto left = std::chrono::duration_cast<Millis>(deadline - SteadyClock::now()).count();
    return left < 0 ? 0 : static_cast<int>(std::min<long long>(left, INT_MAX));
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

std::string_view trim(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
        v.remove_prefix(1);
    }
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r')) {
        v.remove_suffix(1);
    }
    return v;
}

/// Connects a new non-blocking-then-blocking socket to 127.0.0.1:port within `timeout`.
/// Returns the fd, or -1 with `error` set.
int connect_loopback(uint16_t port, Millis timeout, std::string* error) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        if (error) {
            *error = errno_text("socket()");
        }
        return -1;
    }
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
    if (rc != 0 && errno != EINPROGRESS) {
        if (error) {
            *error = errno_text("connect()");
        }
        ::close(fd);
        return -1;
    }
    if (rc != 0) {
        pollfd p{fd, POLLOUT, 0};
        int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
        if (n <= 0) {
            if (error) {
                *error = n == 0 ? "connect() timed out" : errno_text("poll()");
            }
            ::close(fd);
            return -1;
        }
        int so_error = 0;
        socklen_t len = sizeof(so_error);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
        if (so_error != 0) {
            if (error) {
                *error = "connect() failed (" + std::to_string(so_error) + ": " +
                         strerror(so_error) + ")";
            }
            ::close(fd);
            return -1;
        }
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/// Process state letter from /proc/<pid>/stat ('R', 'S', 'Z', ...) and the parent pid.
bool read_stat(pid_t pid, char& state, pid_t& ppid) {
    auto text = read_file("/proc/" + std::to_string(pid) + "/stat");
    if (!text) {
        return false;
    }
    size_t close = text->rfind(')');
    if (close == std::string::npos || close + 4 > text->size()) {
        return false;
    }
    std::istringstream in(text->substr(close + 2));
    long parent = -1;
    in >> state >> parent;
    if (!in) {
        return false;
    }
    ppid = static_cast<pid_t>(parent);
    return true;
}

}  // namespace

// ---- environment ----

std::string halo_bin() {
    const char* env = getenv("HALO_BIN");
    return absolute(env != nullptr && *env != '\0' ? env : "objs/halo");
}

std::string halo_top() {
    const char* env = getenv("HALO_TOP");
    return absolute(env != nullptr && *env != '\0' ? env : ".");
}

std::string test_output_dir() {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = info != nullptr ? std::string(info->test_suite_name()) + "." + info->name()
                                       : std::string("no-test");
    for (char& c : name) {
        c = c == '/' ? '_' : c;  // parameterized tests
    }
    const char* env = getenv("HALO_TEST_OUTPUT");
    std::string base =
        env != nullptr && *env != '\0' ? absolute(env) : halo_top() + "/objs/test-output";
    std::string dir = base + "/" + name;
    static std::mutex mu;
    static std::set<std::string> made;
    std::lock_guard<std::mutex> lock(mu);
    if (made.insert(dir).second) {
        remove_tree(dir);
        std::string path;
        for (size_t at = 1; at != std::string::npos;) {
            at = dir.find('/', at + 1);
            path = dir.substr(0, at);
            mkdir(path.c_str(), 0755);
        }
    }
    return dir;
}

bool halo_has_module(std::string_view name, const std::string& bin) {
    static std::mutex mu;
    static std::map<std::string, std::vector<std::string>> cache;
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(bin);
    if (it == cache.end()) {
        std::vector<std::string> modules;
        RunResult r = run_command({bin, "-V"});
        std::istringstream lines(r.err + "\n" + r.out);
        std::string line;
        while (std::getline(lines, line)) {
            if (line.rfind("modules:", 0) == 0) {
                std::istringstream words(line.substr(8));
                std::string w;
                while (words >> w) {
                    modules.push_back(w);
                }
            }
        }
        it = cache.emplace(bin, std::move(modules)).first;
    }
    bool has = std::find(it->second.begin(), it->second.end(), name) != it->second.end();
    if (!has) {
        // A test that skips for a module no configure knows (a renamed one) would never run
        // again without anyone noticing: that is a failure, not a skip.
        RunResult known =
            run_command({"grep", "-rqx", "--include=config",
                         "halo_module_name=" + std::string(name), halo_top() + "/src"});
        EXPECT_EQ(known.status, 0) << "halo_has_module: no module is named \"" << name << "\"";
    }
    return has;
}

// ---- files ----

bool write_file(const std::string& path, std::string_view text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    return static_cast<bool>(out);
}

std::optional<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return std::nullopt;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string pattern_bytes(size_t n) {
    std::string s(n, '\0');
    uint32_t x = 2463534242u;  // xorshift32
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        s[i] = static_cast<char>(x);
    }
    return s;
}

bool file_exists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

void remove_tree(const std::string& path) {
    nftw(
        path.c_str(),
        [](const char* p, const struct stat*, int type, FTW*) -> int {
            if (type == FTW_DP) {
                ::rmdir(p);
            } else {
                ::unlink(p);
            }
            return 0;
        },
        32, FTW_DEPTH | FTW_PHYS);
}

TempDir::TempDir(std::string_view tag) {
    const char* tmp = getenv("TMPDIR");
    std::string base = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
    std::string templ = base + "/" + std::string(tag) + ".XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) == nullptr) {
        ADD_FAILURE() << errno_text("mkdtemp()") << " for " << templ;
        return;
    }
    path_ = buf.data();
    // Workers run as `nobody` when the tests run as root: the prefix must be readable.
    chmod(path_.c_str(), 0755);
    std::string logs = path_ + "/logs";
    mkdir(logs.c_str(), 0755);
    chmod(logs.c_str(), 0755);
}

TempDir::~TempDir() {
    if (!keep_ && !path_.empty()) {
        remove_tree(path_);
    }
}

std::string TempDir::operator/(std::string_view rel) const {
    return path_ + "/" + std::string(rel);
}

// ---- ports and waiting ----

namespace {

/// True when nothing holds `port` on 127.0.0.1 for sockets of `type` (no SO_REUSEADDR: a port
/// with a connection in TIME_WAIT counts as taken too).
bool port_is_free(uint16_t port, int type) {
    int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(port);
    bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
    ::close(fd);
    return ok;
}

}  // namespace

uint16_t free_port() {
    static std::mutex mu;
    static std::set<uint16_t> handed_out;
    std::lock_guard<std::mutex> lock(mu);
    // HALO_TEST_PORTS=LO-HI: this process's own ports. tests/tools/gtest_parallel.sh gives each
    // of the test processes running at the same time its own range, below the kernel's
    // ephemeral ports: two processes asking the kernel for a free port could both be given
    // the one that the first has not bound yet, and an outgoing connection can take one too.
    // The search starts at a place of its own in each process (the processes that share a range
    // run one after the other), and falls back to the kernel's choice when the range is used up.
    static unsigned lo = 0, hi = 0, next = 0;
    static bool parsed = false;
    if (!parsed) {
        parsed = true;
        const char* env = getenv("HALO_TEST_PORTS");
        if (env != nullptr && sscanf(env, "%u-%u", &lo, &hi) == 2 && lo > 0 && lo <= hi &&
            hi <= 65535) {
            next = lo + static_cast<unsigned>(getpid()) % (hi - lo + 1);
        } else {
            lo = hi = 0;
        }
    }
    for (unsigned tries = lo == 0 ? 0 : hi - lo + 1; tries > 0; tries--) {
        auto port = static_cast<uint16_t>(next);
        next = next == hi ? lo : next + 1;
        if (handed_out.count(port) == 0 && port_is_free(port, SOCK_STREAM) &&
            port_is_free(port, SOCK_DGRAM)) {
            handed_out.insert(port);
            return port;
        }
    }
    for (int attempt = 0; attempt < 100; attempt++) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            continue;
        }
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(sa);
        uint16_t port = 0;
        if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0 &&
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
            port = ntohs(sa.sin_port);
        }
        ::close(fd);
        if (port != 0 && handed_out.insert(port).second) {
            return port;
        }
    }
    ADD_FAILURE() << "no free port found";
    return 0;
}

bool wait_until(const std::function<bool()>& pred, Millis timeout, Millis interval) {
    auto deadline = SteadyClock::now() + timeout;
    for (;;) {
        if (pred()) {
            return true;
        }
        if (SteadyClock::now() >= deadline) {
            return pred();
        }
        std::this_thread::sleep_for(interval);
    }
}

bool port_accepts(uint16_t port) {
    int fd = connect_loopback(port, 1s, nullptr);
    if (fd < 0) {
        return false;
    }
    ::close(fd);
    return true;
}

bool wait_for_port(uint16_t port, Millis timeout) {
    return wait_until([port] { return port_accepts(port); }, timeout);
}

bool wait_port_closed(uint16_t port, Millis timeout) {
    return wait_until([port] { return !port_accepts(port); }, timeout);
}

// ---- running commands ----

std::ostream& operator<<(std::ostream& os, const RunResult& r) {
    os << "exit status " << r.status << (r.timed_out ? " (timed out)" : "") << "\n--- stdout:\n"
       << r.out << "\n--- stderr:\n"
       << r.err << "\n---";
    return os;
}

RunResult run_command(const std::vector<std::string>& argv, Millis timeout,
                      const std::string& dir) {
    RunResult result;
    if (argv.empty()) {
        return result;
    }
    // Everything the child needs is prepared before fork(): the tests may run client threads.
    std::vector<char*> cargv;
    for (const auto& a : argv) {
        cargv.push_back(const_cast<char*>(a.c_str()));
    }
    cargv.push_back(nullptr);
    int out[2];
    int err[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
        result.err = errno_text("pipe2()");
        return result;
    }
    if (pipe2(err, O_CLOEXEC) != 0) {
        result.err = errno_text("pipe2()");
        ::close(out[0]);
        ::close(out[1]);
        return result;
    }
    int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    const char* cdir = dir.empty() ? nullptr : dir.c_str();
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        dup2(devnull, STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        dup2(err[1], STDERR_FILENO);
        if (cdir != nullptr && chdir(cdir) != 0) {
            _exit(126);
        }
        execvp(cargv[0], cargv.data());
        _exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    if (devnull >= 0) {
        ::close(devnull);
    }
    if (pid < 0) {
        result.err = errno_text("fork()");
        ::close(out[0]);
        ::close(err[0]);
        return result;
    }
    setpgid(pid, pid);  // also from here: no race with the kill below

    const auto deadline = SteadyClock::now() + timeout;
    // Once the command has exited, whatever still holds its output (a daemonized grandchild
    // before it closes its stdio) gets a short grace period.
    auto drain_deadline = deadline;
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    std::string* sinks[2] = {&result.out, &result.err};
    int open_fds = 2;
    bool exited = false;
    int status = 0;
    while (open_fds > 0 || !exited) {
        if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
            exited = true;
            drain_deadline = std::min(deadline, SteadyClock::now() + 2s);
        }
        auto now = SteadyClock::now();
        if (!exited && now >= deadline) {
            result.timed_out = true;
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            exited = true;
            drain_deadline = now + 1s;
        }
        if (exited && now >= drain_deadline) {
            break;
        }
        if (open_fds == 0) {
            std::this_thread::sleep_for(5ms);
            continue;
        }
        int n = ::poll(fds, 2, 50);
        if (n < 0 && errno != EINTR) {
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
                continue;
            }
            char buf[8192];
            ssize_t r = ::read(fds[i].fd, buf, sizeof(buf));
            if (r > 0) {
                sinks[i]->append(buf, static_cast<size_t>(r));
            } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            }
        }
    }
    for (auto& f : fds) {
        if (f.fd >= 0) {
            ::close(f.fd);
        }
    }
    if (WIFEXITED(status)) {
        result.status = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        result.status = 128 + WTERMSIG(status);
    }
    expect_no_sanitizer_reports(argv[0]);
    return result;
}

// ---- processes ----

void reap(pid_t pid) {
    if (pid > 0) {
        int status;
        waitpid(pid, &status, WNOHANG);
    }
}

bool process_alive(pid_t pid) {
    if (pid <= 0) {
        return false;
    }
    reap(pid);
    char state = 0;
    pid_t ppid = -1;
    if (!read_stat(pid, state, ppid)) {
        return false;
    }
    return state != 'Z' && state != 'X' && state != 'x';
}

pid_t parent_of(pid_t pid) {
    char state = 0;
    pid_t ppid = -1;
    return read_stat(pid, state, ppid) ? ppid : -1;
}

std::vector<pid_t> children_of(pid_t parent) {
    std::vector<pid_t> out;
    DIR* d = opendir("/proc");
    if (d == nullptr) {
        return out;
    }
    while (dirent* e = readdir(d)) {
        char* end = nullptr;
        long pid = strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end != '\0' || pid <= 0) {
            continue;
        }
        char state = 0;
        pid_t ppid = -1;
        if (!read_stat(static_cast<pid_t>(pid), state, ppid) || ppid != parent || state == 'Z' ||
            state == 'X' || state == 'x') {
            continue;
        }
        // Not the master's short-lived configuration check (core::run_isolated_check), which
        // is no worker or helper; nor a child gone since its stat was read (the check, reaped
        // at once: its name can no longer be read).
        auto comm = read_file("/proc/" + std::to_string(pid) + "/comm");
        if (comm && *comm != "halo: check\n") {
            out.push_back(static_cast<pid_t>(pid));
        }
    }
    closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

std::optional<pid_t> read_pid_file(const std::string& path) {
    auto text = read_file(path);
    if (!text) {
        return std::nullopt;
    }
    char* end = nullptr;
    long pid = strtol(text->c_str(), &end, 10);
    if (end == text->c_str() || pid <= 0 || (*end != '\n' && *end != '\0')) {
        return std::nullopt;
    }
    return static_cast<pid_t>(pid);
}

bool catches_signal(pid_t pid, int signo) {
    auto text = read_file("/proc/" + std::to_string(pid) + "/status");
    if (!text) {
        return false;
    }
    size_t at = text->find("\nSigCgt:");
    if (at == std::string::npos) {
        return false;
    }
    unsigned long long mask = strtoull(text->c_str() + at + 8, nullptr, 16);
    return (mask >> (signo - 1)) & 1ULL;
}

long status_kb(pid_t pid, const std::string& field) {
    auto text = read_file("/proc/" + std::to_string(pid) + "/status");
    if (!text) {
        return -1;
    }
    std::istringstream in(*text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(field + ":", 0) == 0) {
            return std::stol(line.substr(field.size() + 1));
        }
    }
    return -1;
}

long process_euid(pid_t pid) {
    auto text = read_file("/proc/" + std::to_string(pid) + "/status");
    if (!text) {
        return -1;
    }
    std::istringstream in(*text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("Uid:", 0) == 0) {
            std::istringstream words(line.substr(4));
            long real = -1;
            long effective = -1;
            words >> real >> effective;
            return effective;
        }
    }
    return -1;
}

namespace {

/// How many of `pid`'s descriptors are loopback TCP sockets (IPv4 or IPv6 tables) whose
/// /proc/net/tcp line passes `pick(local_port, remote_port, state)`; state as the kernel
/// writes it ("01" = ESTABLISHED).
int held_sockets(pid_t pid,
                 const std::function<bool(uint16_t, uint16_t, const std::string&)>& pick) {
    std::set<unsigned long> inodes;
    for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        auto text = read_file(table);
        if (!text) {
            continue;
        }
        std::istringstream in(*text);
        std::string line;
        std::getline(in, line);  // header
        while (std::getline(in, line)) {
            std::istringstream f(line);
            std::string slot, local, remote, state, queues, timer, retr, uid, timeout;
            unsigned long inode = 0;
            f >> slot >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >>
                inode;
            size_t lc = local.rfind(':');
            size_t rc = remote.rfind(':');
            if (!f || lc == std::string::npos || rc == std::string::npos) {
                continue;
            }
            auto lport = static_cast<uint16_t>(std::stoul(local.substr(lc + 1), nullptr, 16));
            auto rport = static_cast<uint16_t>(std::stoul(remote.substr(rc + 1), nullptr, 16));
            if (pick(lport, rport, state)) {
                inodes.insert(inode);
            }
        }
    }
    int count = 0;
    std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
    DIR* d = opendir(fd_dir.c_str());
    if (d == nullptr) {
        return 0;
    }
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') {
            continue;
        }
        char target[256];
        std::string link = fd_dir + "/" + e->d_name;
        ssize_t n = readlink(link.c_str(), target, sizeof(target) - 1);
        if (n <= 0) {
            continue;
        }
        target[n] = '\0';
        unsigned long inode = 0;
        if (sscanf(target, "socket:[%lu]", &inode) == 1 && inodes.count(inode) != 0) {
            count++;
        }
    }
    closedir(d);
    return count;
}

}  // namespace

int established_connections(pid_t pid, uint16_t port) {
    return held_sockets(pid, [port](uint16_t local, uint16_t, const std::string& state) {
        return local == port && state == "01";
    });
}

int connections_to(pid_t pid, uint16_t port) {
    return held_sockets(
        pid, [port](uint16_t, uint16_t remote, const std::string&) { return remote == port; });
}

// ---- HTTP client ----

bool HttpResponse::has_header(std::string_view name) const {
    return headers.count(lower(name)) != 0;
}

std::string HttpResponse::header(std::string_view name) const {
    auto it = headers.find(lower(name));
    return it == headers.end() ? std::string() : it->second;
}

HttpConnection::~HttpConnection() {
    close();
}

void HttpConnection::close() {
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
}

bool HttpConnection::connect(uint16_t port, Millis timeout) {
    close();
    buf_.clear();
    error_.clear();
    fd_ = connect_loopback(port, timeout, &error_);
    return fd_ >= 0;
}

bool HttpConnection::send(std::string_view data) {
    if (fd_ < 0) {
        error_ = "not connected";
        return false;
    }
    auto deadline = SteadyClock::now() + 5s;
    while (!data.empty()) {
        ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
        if (n > 0) {
            data.remove_prefix(static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pollfd p{fd_, POLLOUT, 0};
            if (::poll(&p, 1, remaining_ms(deadline)) <= 0) {
                error_ = "send() timed out";
                return false;
            }
            continue;
        }
        error_ = errno_text("send()");
        return false;
    }
    return true;
}

int HttpConnection::fill(SteadyClock::time_point deadline) {
    for (;;) {
        pollfd p{fd_, POLLIN, 0};
        int n = ::poll(&p, 1, remaining_ms(deadline));
        if (n == 0) {
            error_ = "timed out waiting for the server";
            return -1;
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            error_ = errno_text("poll()");
            return -1;
        }
        char buf[16384];
        ssize_t r = ::recv(fd_, buf, sizeof(buf), 0);
        if (r > 0) {
            buf_.append(buf, static_cast<size_t>(r));
            return 1;
        }
        if (r == 0) {
            return 0;
        }
        if (errno == EINTR || errno == EAGAIN) {
            continue;
        }
        if (errno == ECONNRESET) {
            return 0;  // a reset ends the stream as a close does
        }
        error_ = errno_text("recv()");
        return -1;
    }
}

std::optional<HttpResponse> HttpConnection::read_response(Millis timeout, bool head_request) {
    eof_before_response_ = false;
    error_.clear();
    if (fd_ < 0) {
        error_ = "not connected";
        return std::nullopt;
    }
    auto deadline = SteadyClock::now() + timeout;
    size_t head_end;
    while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos) {
        int r = fill(deadline);
        if (r < 0) {
            return std::nullopt;
        }
        if (r == 0) {
            eof_before_response_ = buf_.empty();
            error_ = buf_.empty() ? "connection closed before any response"
                                  : "connection closed in the response head: " + buf_;
            return std::nullopt;
        }
    }
    HttpResponse resp;
    std::string head = buf_.substr(0, head_end);
    buf_.erase(0, head_end + 4);
    std::istringstream lines(head);
    std::string line;
    std::getline(lines, line);
    if (!line.empty() && line.back() == '\r') {
        line.pop_back();
    }
    size_t sp1 = line.find(' ');
    if (sp1 == std::string::npos || line.rfind("HTTP/", 0) != 0) {
        error_ = "malformed status line: " + line;
        return std::nullopt;
    }
    resp.version = line.substr(0, sp1);
    size_t sp2 = line.find(' ', sp1 + 1);
    resp.status = atoi(line.substr(sp1 + 1, sp2 - sp1 - 1).c_str());
    resp.reason = sp2 == std::string::npos ? "" : line.substr(sp2 + 1);
    while (std::getline(lines, line)) {
        size_t colon = line.find(':');
        if (colon == std::string::npos) {
            error_ = "malformed header line: " + line;
            return std::nullopt;
        }
        std::string name = lower(std::string_view(line).substr(0, colon));
        std::string value(trim(std::string_view(line).substr(colon + 1)));
        if (resp.headers.count(name) != 0) {
            resp.headers[name] += ", " + value;
        } else {
            resp.headers[name] = value;
        }
    }
    bool no_body = head_request || resp.status == 204 || resp.status == 304 ||
                   (resp.status >= 100 && resp.status < 200);
    if (no_body) {
        return resp;
    }
    if (resp.has_header("content-length")) {
        size_t len = std::stoul(resp.header("content-length"));
        while (buf_.size() < len) {
            int r = fill(deadline);
            if (r <= 0) {
                if (r == 0) {
                    error_ = "connection closed in the response body";
                }
                return std::nullopt;
            }
        }
        resp.body = buf_.substr(0, len);
        buf_.erase(0, len);
        return resp;
    }
    // No length: the body ends with the connection.
    for (;;) {
        int r = fill(deadline);
        if (r < 0) {
            return std::nullopt;
        }
        if (r == 0) {
            break;
        }
    }
    resp.body = std::move(buf_);
    buf_.clear();
    return resp;
}

bool HttpConnection::wait_closed(Millis timeout) {
    if (fd_ < 0) {
        return true;
    }
    auto deadline = SteadyClock::now() + timeout;
    for (;;) {
        int r = fill(deadline);
        if (r == 0) {
            return true;
        }
        if (r < 0) {
            return false;
        }
    }
}

std::string get_request(std::string_view path, std::string_view host, bool keepalive) {
    std::string req = "GET ";
    req += path;
    req += " HTTP/1.1\r\nHost: ";
    req += host;
    req += keepalive ? "\r\nConnection: keep-alive\r\n\r\n" : "\r\nConnection: close\r\n\r\n";
    return req;
}

std::optional<HttpResponse> http_get(uint16_t port, std::string_view path, std::string_view host,
                                     std::string* error) {
    HttpConnection c;
    if (!c.connect(port) || !c.send(get_request(path, host))) {
        if (error) {
            *error = c.error();
        }
        return std::nullopt;
    }
    auto r = c.read_response();
    if (!r && error) {
        *error = c.error();
    }
    return r;
}

std::string get_body(uint16_t port, std::string_view path) {
    std::string error;
    auto r = http_get(port, path, "localhost", &error);
    return r ? r->body : "<error: " + error + ">";
}

// ---- a halo instance ----

Halo::Halo(std::string bin) : bin_(std::move(bin)), dir_("halo-test") {
    // Orphans (a daemonized master, workers of a killed master) are re-parented to this
    // process, so that they are reaped here and never linger as zombies.
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    conf_path_ = path("halo.conf");
    pid_path_ = path("logs/halo.pid");
}

Halo::~Halo() {
    kill_all();
    expect_no_sanitizer_reports("halo " + prefix());
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    if (info != nullptr && info->result() != nullptr && info->result()->Failed()) {
        std::string log = error_log();
        if (log.size() > 6000) {
            log = "...\n" + log.substr(log.size() - 6000);
        }
        std::cerr << "--- " << path("logs/error.log") << " (test failed):\n"
                  << log << "--- end of error.log\n";
        const char* keep = getenv("HALO_TEST_KEEP");
        if (keep != nullptr && *keep != '\0' && *keep != '0') {
            dir_.keep();
            std::cerr << "keeping " << prefix() << " (HALO_TEST_KEEP)\n";
        }
    }
}

uint16_t Halo::port(int i) {
    while (static_cast<int>(ports_.size()) <= i) {
        ports_.push_back(free_port());
    }
    return ports_[static_cast<size_t>(i)];
}

std::string Halo::expand(std::string_view text) {
    std::string out;
    size_t pos = 0;
    for (;;) {
        size_t open = text.find("%%", pos);
        if (open == std::string_view::npos) {
            out.append(text.substr(pos));
            return out;
        }
        size_t close = text.find("%%", open + 2);
        if (close == std::string_view::npos) {
            out.append(text.substr(pos));
            return out;
        }
        std::string_view key = text.substr(open + 2, close - open - 2);
        out.append(text.substr(pos, open - pos));
        if (key.rfind("PORT_", 0) == 0) {
            out += std::to_string(port(atoi(std::string(key.substr(5)).c_str())));
        } else if (key == "PREFIX") {
            out += prefix();
        } else {
            out.append(text.substr(open, close + 2 - open));
        }
        pos = close + 2;
    }
}

void Halo::write_conf(std::string_view text, std::string_view rel) {
    conf_path_ = path(rel);
    write(rel, text);
}

void Halo::write(std::string_view rel, std::string_view text) {
    std::string p = path(rel);
    // Create intermediate directories (e.g. "conf.d/x.conf").
    for (size_t slash = p.find('/', prefix().size() + 1); slash != std::string::npos;
         slash = p.find('/', slash + 1)) {
        mkdir(p.substr(0, slash).c_str(), 0755);
    }
    if (!write_file(p, expand(text))) {
        ADD_FAILURE() << "cannot write " << p;
    }
}

RunResult Halo::run(const std::vector<std::string>& args, Millis timeout) const {
    std::vector<std::string> all = {"-p", prefix() + "/", "-c", conf_path_};
    all.insert(all.end(), args.begin(), args.end());
    return run_raw(all, timeout);
}

RunResult Halo::run_raw(const std::vector<std::string>& args, Millis timeout) const {
    std::vector<std::string> argv = {bin_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, timeout);
}

::testing::AssertionResult Halo::start(const std::vector<std::string>& args, bool daemon) {
    if (master_ > 0 && process_alive(master_)) {
        return ::testing::AssertionFailure() << "halo is already running (pid " << master_ << ")";
    }
    master_ = -1;
    child_ = -1;
    child_status_.reset();
    ::unlink(pid_path_.c_str());
    std::vector<std::string> argv = {bin_, "-p", prefix() + "/", "-c", conf_path_};
    argv.insert(argv.end(), args.begin(), args.end());

    if (daemon) {
        RunResult r = run_command(argv, 10s);
        if (r.status != 0) {
            return ::testing::AssertionFailure() << "halo (daemon) failed to start: " << r;
        }
        if (!wait_until([this] { return read_pid_file(pid_path_).has_value(); }, 10s)) {
            return ::testing::AssertionFailure() << "no pid file " << pid_path_ << "\n"
                                                 << error_log();
        }
        master_ = *read_pid_file(pid_path_);
        track(master_);
    } else {
        std::vector<char*> cargv;
        for (const auto& a : argv) {
            cargv.push_back(const_cast<char*>(a.c_str()));
        }
        cargv.push_back(nullptr);
        std::string out_path = path("halo.stdout");
        std::string err_path = path("halo.stderr");
        int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        pid_t pid = fork();
        if (pid == 0) {
            // Own process group: the cleanup can reach every process of this halo at once.
            setpgid(0, 0);
            dup2(devnull, STDIN_FILENO);
            dup2(out, STDOUT_FILENO);
            dup2(err, STDERR_FILENO);
            execv(cargv[0], cargv.data());
            _exit(127);
        }
        ::close(out);
        ::close(err);
        ::close(devnull);
        if (pid < 0) {
            return ::testing::AssertionFailure() << errno_text("fork()");
        }
        setpgid(pid, pid);
        child_ = pid;
        master_ = pid;
        track(pid);
        bool ok = wait_until(
            [&] {
                auto p = read_pid_file(pid_path_);
                return (p && *p == pid) || !process_alive(pid);
            },
            10s);
        if (!ok || !process_alive(pid)) {
            auto status = wait_exit(2s);
            return ::testing::AssertionFailure()
                   << "halo did not start (exit status "
                   << (status ? std::to_string(*status) : std::string("?")) << ")\n--- stderr:\n"
                   << master_stderr() << "\n--- error.log:\n"
                   << error_log();
        }
    }
    for (uint16_t p : ports_) {
        if (!wait_for_port(p, 10s)) {
            return ::testing::AssertionFailure() << "port " << p << " does not accept connections"
                                                 << "\n--- stderr:\n"
                                                 << master_stderr() << "\n--- error.log:\n"
                                                 << error_log();
        }
    }
    workers();
    return ::testing::AssertionSuccess();
}

std::vector<pid_t> Halo::workers() {
    if (master_ <= 0) {
        return {};
    }
    std::vector<pid_t> kids = children_of(master_);
    for (pid_t k : kids) {
        track(k);
    }
    return kids;
}

namespace {

bool ready_for_signals(pid_t pid) {
    for (int sig : {SIGQUIT, SIGUSR1, SIGHUP, SIGTERM}) {
        if (!catches_signal(pid, sig)) {
            return false;
        }
    }
    return true;
}

}  // namespace

std::vector<pid_t> Halo::wait_workers(size_t n, Millis timeout, bool ready) {
    std::vector<pid_t> kids;
    if (wait_until(
            [&] {
                kids = workers();
                return kids.size() == n &&
                       (!ready || std::all_of(kids.begin(), kids.end(), ready_for_signals));
            },
            timeout)) {
        return kids;
    }
    return {};
}

std::vector<pid_t> Halo::wait_new_workers(size_t n, const std::vector<pid_t>& old, Millis timeout,
                                          bool ready) {
    std::vector<pid_t> fresh;
    if (wait_until(
            [&] {
                fresh.clear();
                for (pid_t k : workers()) {
                    if (std::find(old.begin(), old.end(), k) == old.end()) {
                        fresh.push_back(k);
                    }
                }
                return fresh.size() == n &&
                       (!ready || std::all_of(fresh.begin(), fresh.end(), ready_for_signals));
            },
            timeout)) {
        return fresh;
    }
    return {};
}

bool Halo::signal(int signo) const {
    return master_ > 0 && ::kill(master_, signo) == 0;
}

std::optional<int> Halo::wait_exit(Millis timeout) {
    if (master_ <= 0) {
        return 0;
    }
    if (child_ > 0 && child_ == master_) {
        if (child_status_) {
            return child_status_;
        }
        auto deadline = SteadyClock::now() + timeout;
        for (;;) {
            int status = 0;
            pid_t w = waitpid(child_, &status, WNOHANG);
            if (w == child_ || (w < 0 && errno == ECHILD)) {
                if (w == child_) {
                    child_status_ = WIFEXITED(status)     ? WEXITSTATUS(status)
                                    : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                                          : -1;
                } else {
                    child_status_ = -1;
                }
                return child_status_;
            }
            if (SteadyClock::now() >= deadline) {
                return std::nullopt;
            }
            std::this_thread::sleep_for(10ms);
        }
    }
    if (wait_until([this] { return !process_alive(master_); }, timeout)) {
        return 0;
    }
    return std::nullopt;
}

bool Halo::is_halo(pid_t pid) const {
    char target[PATH_MAX];
    std::string link = "/proc/" + std::to_string(pid) + "/exe";
    ssize_t n = readlink(link.c_str(), target, sizeof(target) - 1);
    if (n <= 0) {
        return false;
    }
    target[n] = '\0';
    // A rebuilt binary shows as "<path> (deleted)".
    return std::string_view(target).substr(0, bin_.size()) == bin_;
}

void Halo::kill_all() {
    if (master_ > 0) {
        workers();  // remember the current children before they are signalled
        if (process_alive(master_)) {
            ::kill(master_, SIGTERM);
            wait_until([this] { return !process_alive(master_); }, 5s, 10ms);
        }
        if (process_alive(master_) && is_halo(master_)) {
            // Its process group (daemon off) or session group (daemon on) has its pid.
            ::kill(-master_, SIGKILL);
            ::kill(master_, SIGKILL);
        }
    }
    for (pid_t p : tracked_) {
        if (process_alive(p) && is_halo(p)) {
            ::kill(p, SIGKILL);
        }
    }
    wait_until(
        [this] {
            for (pid_t p : tracked_) {
                if (process_alive(p)) {
                    return false;
                }
            }
            return true;
        },
        5s, 10ms);
    if (child_ > 0 && !child_status_) {
        wait_exit(1s);
    }
    for (pid_t p : tracked_) {
        reap(p);
    }
}

std::string Halo::error_log() const {
    return read_file(path("logs/error.log")).value_or("");
}

std::string Halo::master_stderr() const {
    return read_file(path("halo.stderr")).value_or("");
}

std::vector<std::string> log_lines_with(const std::string& log, std::string_view needle) {
    std::vector<std::string> out;
    std::istringstream in(log);
    std::string line;
    while (std::getline(in, line)) {
        if (line.find(needle) != std::string::npos) {
            out.push_back(line);
        }
    }
    return out;
}

}  // namespace halo_test
