#include "core/conf_check.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>

#include "core/conf_file.h"
#include "core/log.h"
#include "core/sys.h"

#if defined(__SANITIZE_ADDRESS__)
#define HALO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HALO_ASAN 1
#endif
#endif

namespace core {
namespace {

// The first byte of the child's report; an error's message follows kError.
constexpr char kOk = '0';
constexpr char kError = '1';
constexpr char kOutOfMemory = 'M';
constexpr char kException = 'X';

/// The child's process name (comm).
constexpr char kCheckName[] = "halo: check";

/// Cap on what the parent reads from the child (an error text of every unknown directive).
constexpr size_t kMaxReport = 1024 * 1024;

std::string duration_text(std::chrono::milliseconds d) {
    if (d.count() % 1000 == 0) {
        return std::to_string(d.count() / 1000) + "s";
    }
    return std::to_string(d.count()) + "ms";
}

/// The address space this process holds now (VmSize), 0 when unknown.
uint64_t address_space_now() {
    FILE* f = fopen("/proc/self/statm", "re");
    if (f == nullptr) {
        return 0;
    }
    unsigned long long pages = 0;
    int n = fscanf(f, "%llu", &pages);
    fclose(f);
    return n == 1 ? pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

/// In the child: bounds, the check, the report, and _exit (nothing inherited is destroyed).
[[noreturn]] void run_child(int out, const std::function<Status()>& check,
                            const CheckBounds& bounds) {
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);  // ends with its parent
    // Default actions, unblocked: the timer (SIGALRM) and a stop of the group end it; the
    // master's handlers and blocked mask were inherited.
    for (int s : {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGCHLD}) {
        signal(s, SIG_DFL);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    rlimit no_core{0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
#ifndef HALO_ASAN
    // Lowered only: a limit the caller already runs under stays (root could raise it).
    rlimit as{};
    if (uint64_t now = address_space_now(); now != 0 && getrlimit(RLIMIT_AS, &as) == 0) {
        rlim_t want = static_cast<rlim_t>(now + bounds.memory);
        if (as.rlim_cur == RLIM_INFINITY || as.rlim_cur > want) {
            as.rlim_cur = want;
            setrlimit(RLIMIT_AS, &as);
        }
    }
#endif
    itimerval t{};
    t.it_value.tv_sec = static_cast<time_t>(bounds.time.count() / 1000);
    t.it_value.tv_usec = static_cast<suseconds_t>((bounds.time.count() % 1000) * 1000);
    setitimer(ITIMER_REAL, &t, nullptr);

    static Log silent;  // the caller logs the verdict, once (and the warnings, loading again)
    silent.mute();
    set_current_log(&silent);
    std::string report;
    try {
        Status s = check();
        report = s.is_ok() ? std::string(1, kOk) : kError + s.message();
    } catch (const std::bad_alloc&) {
        report = std::string(1, kOutOfMemory);
    } catch (...) {
        report = std::string(1, kException);
    }
    _exit(write_all(out, report) ? 0 : 1);
}

/// Reads what the child writes until it closes the pipe or `deadline`; false on the deadline.
bool read_report(int fd, std::chrono::steady_clock::time_point deadline, std::string& out) {
    char buf[16384];
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            return false;
        }
        pollfd p{fd, POLLIN, 0};
        int rc = poll(&p, 1, static_cast<int>(left.count()));
        if (rc < 0 && errno == EINTR) {
            continue;
        }
        if (rc <= 0) {
            return rc < 0;  // a poll error: treat as the end (the exit status tells the rest)
        }
        ssize_t n = ::read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return true;
        }
        if (out.size() < kMaxReport) {
            out.append(buf, static_cast<size_t>(n));
        }
    }
}

}  // namespace

Status run_isolated_check(const std::function<Status()>& check, const CheckBounds& bounds) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        return Status::error(format("pipe2() failed (%d: %s)", errno, strerror(errno)));
    }
    // The child is named apart from the workers and helpers from its first instant (ps, and
    // tests that count a master's children): the name is given here, for the fork only.
    char name[16] = {};
    prctl(PR_GET_NAME, name, 0, 0, 0);
    prctl(PR_SET_NAME, kCheckName, 0, 0, 0);
    pid_t pid = fork();
    if (pid != 0) {
        prctl(PR_SET_NAME, name, 0, 0, 0);
    }
    if (pid < 0) {
        int e = errno;
        ::close(fds[0]);
        ::close(fds[1]);
        return Status::error(format("fork() failed (%d: %s)", e, strerror(e)));
    }
    if (pid == 0) {
        ::close(fds[0]);
        run_child(fds[1], check, bounds);
    }
    ::close(fds[1]);
    std::string report;
    // The child's own timer fires at bounds.time; one more second before SIGKILL covers a
    // child that blocked SIGALRM or hangs in the kernel.
    bool finished = read_report(
        fds[0], std::chrono::steady_clock::now() + bounds.time + std::chrono::seconds(1), report);
    ::close(fds[0]);
    if (!finished) {
        kill(pid, SIGKILL);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    const std::string what = "the configuration check";
    if (!finished || (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)) {
        return Status::error(what + " did not finish within " + duration_text(bounds.time));
    }
    if (WIFSIGNALED(status)) {
        return Status::error(format("%s crashed (signal %d: %s)", what.c_str(), WTERMSIG(status),
                                    strsignal(WTERMSIG(status))));
    }
    if (WEXITSTATUS(status) != 0 || report.empty()) {
        return Status::error(
            format("%s exited with code %d without a verdict", what.c_str(), WEXITSTATUS(status)));
    }
    switch (report[0]) {
        case kOk:
            return Status::ok();
        case kError:
            return Status::error(report.substr(1));
        case kOutOfMemory:
            return Status::error(what + " ran out of memory (more than " +
                                 size_text(bounds.memory) + " added)");
        default:
            return Status::error(what + " failed with an unexpected exception");
    }
}

Status check_config_apart(const CycleOptions& options, const ModuleRegistry& registry,
                          const CheckBounds& bounds) {
    CycleOptions opts = options;
    opts.test_only = true;
    return run_isolated_check(
        [&] {
            std::unique_ptr<Cycle> cycle;
            Status s = Cycle::create(opts, registry, nullptr, cycle);
            cycle.reset();  // destroyed here too: a tree that kills its destructor is caught
            return s;
        },
        bounds);
}

}  // namespace core
