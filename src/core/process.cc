#include "core/process.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <vector>

#include "core/conf_check.h"
#include "core/core_module.h"
#include "core/log.h"
#include "core/proctitle.h"
#include "core/reload_result.h"
#include "core/sys.h"
#include "event/runtime.h"

namespace core {
namespace {

volatile sig_atomic_t g_reap = 0;
volatile sig_atomic_t g_terminate = 0;
volatile sig_atomic_t g_quit = 0;
volatile sig_atomic_t g_reload = 0;
volatile sig_atomic_t g_reopen = 0;
volatile sig_atomic_t g_alarm = 0;

void on_signal(int signo) {
    switch (signo) {
        case SIGCHLD:
            g_reap = 1;
            break;
        case SIGTERM:
        case SIGINT:
            g_terminate = 1;
            break;
        case SIGQUIT:
            g_quit = 1;
            break;
        case SIGHUP:
            g_reload = 1;
            break;
        case SIGUSR1:
            g_reopen = 1;
            break;
        case SIGALRM:
            g_alarm = 1;
            break;
        default:
            break;
    }
}

constexpr int kMasterSignals[] = {SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGALRM};

void install_master_signals(sigset_t& blocked) {
    sigemptyset(&blocked);
    for (int s : kMasterSignals) {
        sigaddset(&blocked, s);
        struct sigaction sa {};
        sa.sa_handler = &on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(s, &sa, nullptr);
    }
    // Only workers act on the retire signal; blocked here, so that a worker forked just before
    // a reload holds it until its loop watches it.
    sigaddset(&blocked, retire_signal());
    signal(retire_signal(), SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    sigprocmask(SIG_BLOCK, &blocked, nullptr);
}

/// In a new child: default dispositions, but the master's signals stay blocked until the
/// child's own loop watches them (unblock_signals()), so that a reload or reopen arriving
/// right after the fork cannot kill it.
void reset_child_signals() {
    for (int s : kMasterSignals) {
        signal(s, SIG_DFL);
    }
    signal(retire_signal(), SIG_DFL);
}

/// Ends with the master: the kernel sends SIGTERM when it dies. Set after setuid (which clears
/// it), then check that the master did not die before.
void follow_master(pid_t master) {
    prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
    if (getppid() != master) {
        _exit(0);
    }
}

bool switch_user(const CoreConf& core);

/// Applies the worker settings (env, worker_rlimit_*, worker_priority, worker_cpu_affinity
/// for worker `worker`, -1 for a helper), `user` (when started as root), then
/// working_directory. False is fatal.
bool drop_privileges(Cycle& cycle, int worker) {
    const auto& core = cycle.conf<CoreConf>();
    apply_worker_settings(core, worker);
    return switch_user(core) && enter_working_directory(core);
}

bool switch_user(const CoreConf& core) {
    if (core.rlimit_nofile) {
        rlimit rl{static_cast<rlim_t>(*core.rlimit_nofile),
                  static_cast<rlim_t>(*core.rlimit_nofile)};
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            HALO_LOG(kAlert, "setrlimit(RLIMIT_NOFILE, %lld) failed (%d: %s)",
                     static_cast<long long>(*core.rlimit_nofile), errno, strerror(errno));
        }
    }
    if (geteuid() != 0) {
        return true;
    }
    if (setgid(core.gid) != 0) {
        HALO_LOG(kEmerg, "setgid(%d) failed (%d: %s)", static_cast<int>(core.gid), errno,
                 strerror(errno));
        return false;
    }
    if (initgroups(core.user->c_str(), core.gid) != 0) {
        HALO_LOG(kEmerg, "initgroups(%s, %d) failed (%d: %s)", core.user->c_str(),
                 static_cast<int>(core.gid), errno, strerror(errno));
        return false;
    }
    if (setuid(core.uid) != 0) {
        HALO_LOG(kEmerg, "setuid(%d) failed (%d: %s)", static_cast<int>(core.uid), errno,
                 strerror(errno));
        return false;
    }
    // Allow core dumps of workers after setuid.
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    return true;
}

/// Runs modules' init_process, the event runtime, then exit_process. Returns the exit status.
int serve(Cycle& cycle, const ProcessInfo& info) {
    ev::Runtime runtime(cycle, info);
    unblock_signals();  // the runtime watches them now
    for (const Module* m : cycle.registry().modules()) {
        if (m->init_process != nullptr) {
            Status s = m->init_process(cycle, info);
            if (!s.is_ok()) {
                HALO_LOG(kEmerg, "%s", s.message().c_str());
                return kFatalChildExit;
            }
        }
    }
    runtime.run();
    for (const Module* m : cycle.registry().modules()) {
        if (m->exit_process != nullptr) {
            m->exit_process(cycle);
        }
    }
    return 0;
}

/// Closes a retired cycle's log files in the master (see Master::reload).
void close_files(Cycle& cycle) {
    for (const auto& f : cycle.files()) {
        if (f->fd >= 0) {
            ::close(f->fd);
            f->fd = -1;
        }
    }
}

struct Child {
    pid_t pid = -1;
    ProcessInfo info;
    Cycle* cycle = nullptr;  // generation: the cycle it was forked with
    size_t helper = 0;       // index in cycle->helpers() for helpers
    bool told_to_exit = false;
    uint32_t respawns = 0;
    int64_t started_ms = 0;
    int64_t started_steady_ms = 0;
};

ProcessRecord record_of(pid_t pid, const ProcessInfo& info) {
    ProcessRecord r;
    r.pid = pid;
    r.role = info.role;
    r.worker_index = info.worker_index;
    r.helper_name = info.helper_name;
    return r;
}

class Master {
  public:
    Master(std::unique_ptr<Cycle> cycle, const CycleOptions& options,
           const ModuleRegistry& registry)
        : cycle_(std::move(cycle)), options_(options), registry_(registry) {}

    int run();

  private:
    void start_generation();
    bool spawn(Child child);
    void reap();
    void signal_child(Child& c, int signo);
    void signal_children(int signo, Cycle* only = nullptr);
    /// After a reload: the old generation's workers retire, its helpers quit.
    void retire(Cycle* old);
    void reload();
    /// Publishes the outcome of a SIGHUP for `halo -s reload` (see core::ReloadResult).
    void report(const std::string& pid_path, ReloadResult result);
    void reopen();
    bool any_children() const { return !children_.empty(); }
    /// A stop (SIGTERM or SIGQUIT): the stop_first helpers first, then everything else.
    void begin_stop(int signo);
    /// The stop_first helpers are gone (or their wait ran out): signal every child.
    void finish_stop();
    bool stop_first(const Child& c) const {
        return c.info.role == ProcessRole::kHelper && c.cycle == cycle_.get() &&
               c.helper < cycle_->helpers().size() && cycle_->helpers()[c.helper].stop_first;
    }
    /// Hands the process table to the current cycle's observers (the status page).
    void publish();

    std::unique_ptr<Cycle> cycle_;
    std::vector<std::unique_ptr<Cycle>> retired_;  // cycles whose children still run
    CycleOptions options_;
    const ModuleRegistry& registry_;
    std::vector<Child> children_;
    bool exiting_ = false;
    int stop_signal_ = 0;         // SIGTERM or SIGQUIT once stopping
    bool first_pending_ = false;  // waiting for the stop_first helpers
    uint32_t reloads_ = 0;
    uint64_t generation_ = 0;  // SIGHUPs handled (ReloadResult::generation)
    int64_t started_ms_ = unix_ms();
    int64_t started_steady_ms_ = steady_ms();
};

bool Master::spawn(Child child) {
    pid_t master = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        HALO_LOG(kAlert, "fork() failed (%d: %s)", errno, strerror(errno));
        return false;
    }
    if (pid == 0) {
        reset_child_signals();
        Cycle& cycle = *child.cycle;
        set_current_log(&cycle.log());
        int status = 0;
        if (child.info.role == ProcessRole::kHelper) {
            const HelperSpec& spec = cycle.helpers()[child.helper];
            set_process_title(spec.name + " process");  // "halo: vrrp process"
            if (spec.drop_privileges && !drop_privileges(cycle, -1)) {
                _exit(kFatalChildExit);
            }
            follow_master(master);
            status = spec.run(cycle, child.info);  // it unblocks the signals it watches
        } else {
            set_process_title("worker process");
            if (drop_privileges(cycle, child.info.worker_index)) {
                follow_master(master);
                status = serve(cycle, child.info);
            } else {
                status = kFatalChildExit;
            }
        }
        _exit(status);
    }
    child.pid = pid;
    child.started_ms = unix_ms();
    child.started_steady_ms = steady_ms();
    if (child.info.role == ProcessRole::kHelper) {
        HALO_LOG(kNotice, "start %s helper process %d", child.info.helper_name.c_str(), pid);
    } else {
        HALO_LOG(kNotice, "start worker process %d", pid);
    }
    children_.push_back(std::move(child));
    return true;
}

void Master::start_generation() {
    int n = cycle_->worker_count();
    for (int i = 0; i < n; i++) {
        Child c;
        c.info.role = ProcessRole::kWorker;
        c.info.worker_index = i;
        c.cycle = cycle_.get();
        spawn(std::move(c));
    }
    for (size_t i = 0; i < cycle_->helpers().size(); i++) {
        Child c;
        c.info.role = ProcessRole::kHelper;
        c.info.helper_name = cycle_->helpers()[i].name;
        c.cycle = cycle_.get();
        c.helper = i;
        spawn(std::move(c));
    }
}

void Master::reap() {
    core::reap_exited_children([this](pid_t pid, int status) {
        size_t i = 0;
        while (i < children_.size() && children_[i].pid != pid) {
            i++;
        }
        if (i == children_.size()) {
            return;
        }
        Child c = std::move(children_[i]);
        children_.erase(children_.begin() + static_cast<long>(i));
        const char* what = c.info.role == ProcessRole::kHelper ? "helper" : "worker";
        bool abnormal = false;
        if (WIFSIGNALED(status)) {
            abnormal = true;
            HALO_LOG(kAlert, "%s process %d exited on signal %d%s", what, pid, WTERMSIG(status),
                     WCOREDUMP(status) ? " (core dumped)" : "");
        } else if (WEXITSTATUS(status) != 0) {
            abnormal = true;
            HALO_LOG(kAlert, "%s process %d exited with code %d", what, pid, WEXITSTATUS(status));
        } else {
            HALO_LOG(kNotice, "%s process %d exited with code 0", what, pid);
        }
        bool fatal = WIFEXITED(status) && WEXITSTATUS(status) == kFatalChildExit;
        if (fatal) {
            HALO_LOG(kAlert, "%s process %d exited with fatal code %d and cannot be respawned",
                     what, pid, kFatalChildExit);
        }
        if (abnormal && !fatal && !exiting_ && !c.told_to_exit && c.cycle == cycle_.get()) {
            c.pid = -1;
            c.respawns++;
            spawn(std::move(c));
        }
    });
    if (first_pending_ && std::none_of(children_.begin(), children_.end(),
                                       [this](const Child& c) { return stop_first(c); })) {
        finish_stop();
    }
    // Free the cycles no child uses any more.
    std::erase_if(retired_, [this](const std::unique_ptr<Cycle>& cy) {
        for (const Child& c : children_) {
            if (c.cycle == cy.get()) {
                return false;
            }
        }
        return true;
    });
}

void Master::signal_child(Child& c, int signo) {
    if (signo == SIGQUIT || signo == SIGTERM || signo == retire_signal()) {
        c.told_to_exit = true;
    }
    if (kill(c.pid, signo) != 0 && errno != ESRCH) {
        HALO_LOG(kAlert, "kill(%d, %d) failed (%d: %s)", c.pid, signo, errno, strerror(errno));
    }
}

void Master::signal_children(int signo, Cycle* only) {
    for (Child& c : children_) {
        if (only == nullptr || c.cycle == only) {
            signal_child(c, signo);
        }
    }
}

void Master::retire(Cycle* old) {
    for (Child& c : children_) {
        if (c.cycle == old) {
            signal_child(c, c.info.role == ProcessRole::kWorker ? retire_signal() : SIGQUIT);
        }
    }
}

void Master::begin_stop(int signo) {
    bool first = !exiting_;
    exiting_ = true;
    if (!first && stop_signal_ == SIGTERM) {
        signal_children(SIGTERM);  // a repeated SIGTERM: as before, to everyone left
        return;
    }
    stop_signal_ = signo;
    if (!first && !first_pending_) {
        signal_children(signo);  // SIGTERM after SIGQUIT: everyone left, fast
        alarm(5);
        return;
    }
    std::chrono::milliseconds wait{0};
    for (Child& c : children_) {
        if (stop_first(c)) {
            wait = std::max(wait, cycle_->helpers()[c.helper].stop_first_wait);
            c.told_to_exit = true;
            kill(c.pid, signo);
        }
    }
    if (wait.count() == 0 || first_pending_) {
        if (!first_pending_) {
            finish_stop();
        }
        return;
    }
    first_pending_ = true;
    HALO_LOG(kInfo, "stopping the helpers that stop first (at most %lldms)",
             static_cast<long long>(wait.count()));
    itimerval t{};
    t.it_value.tv_sec = static_cast<time_t>(wait.count() / 1000);
    t.it_value.tv_usec = static_cast<suseconds_t>((wait.count() % 1000) * 1000);
    setitimer(ITIMER_REAL, &t, nullptr);
}

void Master::finish_stop() {
    if (first_pending_) {
        itimerval off{};
        setitimer(ITIMER_REAL, &off, nullptr);
        first_pending_ = false;
    }
    signal_children(stop_signal_);
    if (stop_signal_ == SIGTERM) {
        alarm(5);  // then SIGKILL whatever is left
    }
}

void Master::reload() {
    ReloadResult result;
    result.generation = ++generation_;
    result.started_ns = monotonic_ns();
    const std::string old_pid = *cycle_->conf<CoreConf>().pid;
    if (exiting_) {
        HALO_LOG(kNotice, "signal %d (SIGHUP) received while shutting down, ignored", SIGHUP);
        result.ok = false;
        result.message = "halo is shutting down: the reload is ignored";
        report(old_pid, std::move(result));
        return;
    }
    HALO_LOG(kNotice, "signal %d (SIGHUP) received, reconfiguring", SIGHUP);
    std::unique_ptr<Cycle> next;
    CycleOptions opts = options_;
    opts.test_only = false;
    // The new configuration is read first in a short-lived child: one that crashes the
    // parser or makes it run away in time or memory cannot take the master (and with it the
    // service) down. The master loads it itself only once the child found it good.
    Status s = check_config_apart(opts, registry_);
    if (s.is_ok()) {
        s = Cycle::create(opts, registry_, cycle_.get(), next);
    }
    if (!s.is_ok()) {
        // One log line per error line: a config may name several unknown directives.
        size_t start = 0;
        while (start <= s.message().size()) {
            size_t nl = std::min(s.message().find('\n', start), s.message().size());
            HALO_LOG(kEmerg, "%.*s", static_cast<int>(nl - start), s.message().c_str() + start);
            start = nl + 1;
        }
        HALO_LOG(kAlert, "reload failed, the previous configuration keeps serving");
        result.ok = false;
        result.message = s.message();
        report(old_pid, std::move(result));
        return;
    }
    std::unique_ptr<Cycle> old = std::move(cycle_);
    cycle_ = std::move(next);
    reloads_++;
    set_current_log(&cycle_->log());
    const std::string& new_pid = *cycle_->conf<CoreConf>().pid;
    if (new_pid != old_pid) {
        remove_pid_file(old_pid);  // as nginx: the pid file moves with the `pid` directive
    }
    write_pid_file(new_pid);
    // The sockets the new cycle did not take over, and the old log files, are closed before
    // forking, so that new workers do not keep a dropped port or a rotated log open (only
    // their own cycle's files are reopened on USR1); old workers still hold their own copies.
    old->close_listening();
    close_files(*old);
    start_generation();
    retire(old.get());
    retired_.push_back(std::move(old));
    report(new_pid, std::move(result));
}

void Master::report(const std::string& pid_path, ReloadResult result) {
    result.pid = getpid();
    std::string err;
    if (!write_reload_result(reload_result_path(pid_path), result, &err)) {
        HALO_LOG(kAlert, "%s: `halo -s reload` cannot learn the outcome", err.c_str());
    }
}

void Master::publish() {
    if (cycle_->process_observers().empty()) {
        return;
    }
    ProcessTable t;
    ProcessInfo self;
    self.role = ProcessRole::kMaster;
    t.self = record_of(getpid(), self);
    t.self.started_ms = started_ms_;
    t.self.started_steady_ms = started_steady_ms_;
    t.self.retiring = exiting_;
    t.reloads = reloads_;
    for (const Child& c : children_) {
        ProcessRecord r = record_of(c.pid, c.info);
        r.started_ms = c.started_ms;
        r.started_steady_ms = c.started_steady_ms;
        r.respawns = c.respawns;
        r.retiring = c.told_to_exit || c.cycle != cycle_.get();
        t.children.push_back(std::move(r));
    }
    for (const auto& observer : cycle_->process_observers()) {
        observer(t);
    }
}

void Master::reopen() {
    HALO_LOG(kNotice, "reopening logs");
    const auto& core = cycle_->conf<CoreConf>();
    cycle_->reopen_files(core.uid);
    signal_children(SIGUSR1);
}

int Master::run() {
    sigset_t blocked;
    install_master_signals(blocked);
    set_current_log(&cycle_->log());
    set_process_title("master process " + original_command_line());
    start_generation();
    publish();
    sigset_t none;
    sigemptyset(&none);
    for (;;) {
        if (!g_reap && !g_terminate && !g_quit && !g_reload && !g_reopen && !g_alarm) {
            sigsuspend(&none);
        }
        if (g_reap) {
            g_reap = 0;
            reap();
            if (exiting_ && !any_children()) {
                break;
            }
        }
        if (g_terminate) {
            g_terminate = 0;
            if (!exiting_) {
                HALO_LOG(kNotice, "exiting");
            }
            begin_stop(SIGTERM);
            if (!any_children()) {
                break;
            }
        }
        if (g_alarm) {
            g_alarm = 0;
            if (first_pending_) {
                HALO_LOG(kWarn, "helpers still stopping after their wait, stopping the rest");
                finish_stop();
            } else if (exiting_ && stop_signal_ == SIGTERM) {
                signal_children(SIGKILL);
            }
        }
        if (g_quit) {
            g_quit = 0;
            if (!exiting_) {
                HALO_LOG(kNotice, "gracefully shutting down");
                begin_stop(SIGQUIT);
            } else if (!first_pending_) {
                signal_children(stop_signal_);
            }
            if (!any_children()) {
                break;
            }
        }
        if (g_reload) {
            g_reload = 0;
            reload();  // while exiting, only tells `halo -s reload` that it is ignored
        }
        if (g_reopen) {
            g_reopen = 0;
            reopen();
        }
        publish();  // whatever happened above may have changed the children
    }
    HALO_LOG(kNotice, "exit");
    cycle_->close_listening();  // and removes the files of its unix sockets, as nginx
    remove_pid_file(*cycle_->conf<CoreConf>().pid);
    return 0;
}

}  // namespace

int run_master(std::unique_ptr<Cycle> cycle, const CycleOptions& options,
               const ModuleRegistry& registry) {
    Master master(std::move(cycle), options, registry);
    return master.run();
}

int run_single(std::unique_ptr<Cycle> cycle) {
    signal(SIGPIPE, SIG_IGN);
    apply_environment(cycle->conf<CoreConf>());
    set_current_log(&cycle->log());
    ProcessInfo info;
    info.role = ProcessRole::kSingle;
    if (!cycle->process_observers().empty()) {
        ProcessTable t;
        t.self = record_of(getpid(), info);
        t.self.started_ms = unix_ms();
        t.self.started_steady_ms = steady_ms();
        for (const auto& observer : cycle->process_observers()) {
            observer(t);
        }
    }
    int status = serve(*cycle, info);
    cycle->close_listening();
    remove_pid_file(*cycle->conf<CoreConf>().pid);
    return status;
}

int retire_signal() {
    return SIGRTMIN + 1;
}

void unblock_signals() {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
}

namespace {
int g_daemon_ready_fd = -1;  // the write end of the pipe the waiting parent reads
}  // namespace

bool daemonize() {
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) != 0) {
        HALO_LOG(kEmerg, "pipe2() failed (%d: %s)", errno, strerror(errno));
        return false;
    }
    pid_t pid = fork();
    if (pid < 0) {
        HALO_LOG(kEmerg, "fork() failed (%d: %s)", errno, strerror(errno));
        return false;
    }
    if (pid > 0) {
        // The parent stays until the daemon has written its pid file (systemd's Type=forking
        // reads it as soon as this process exits); EOF means the daemon died before.
        ::close(ready[1]);
        char byte = 0;
        ssize_t n;
        do {
            n = ::read(ready[0], &byte, 1);
        } while (n < 0 && errno == EINTR);
        if (n == 1) {
            _exit(0);
        }
        fprintf(stderr, "halo: [emerg] the daemon process %d failed to start (see the error log)\n",
                static_cast<int>(pid));
        _exit(1);
    }
    ::close(ready[0]);
    g_daemon_ready_fd = ready[1];
    if (setsid() < 0) {
        HALO_LOG(kEmerg, "setsid() failed (%d: %s)", errno, strerror(errno));
        return false;
    }
    umask(0022);
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        if (fd > STDERR_FILENO) {
            close(fd);
        }
    }
    return true;
}

void daemon_ready() {
    if (g_daemon_ready_fd < 0) {
        return;
    }
    write_all(g_daemon_ready_fd, "1");
    ::close(g_daemon_ready_fd);
    g_daemon_ready_fd = -1;
}

bool write_pid_file(const std::string& path) {
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        HALO_LOG(kEmerg, "open() \"%s\" failed (%d: %s)", path.c_str(), errno, strerror(errno));
        return false;
    }
    std::string text = std::to_string(getpid()) + "\n";
    bool ok = write_all(fd, text);
    close(fd);
    return ok;
}

void remove_pid_file(const std::string& path) {
    unlink(path.c_str());
    unlink(reload_result_path(path).c_str());
}

bool write_start_result(const std::string& pid_path, bool single) {
    ReloadResult r;
    r.pid = getpid();
    r.single = single;
    r.started_ns = monotonic_ns();
    std::string err;
    if (!write_reload_result(reload_result_path(pid_path), r, &err)) {
        HALO_LOG(kEmerg, "%s", err.c_str());
        return false;
    }
    return true;
}

}  // namespace core
