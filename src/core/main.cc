// halo: command line, as nginx has it.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "auto_config.h"
#include "core/conf_check.h"
#include "core/conf_file.h"
#include "core/core_module.h"
#include "core/cycle.h"
#include "core/log.h"
#include "core/process.h"
#include "core/proctitle.h"
#include "core/reload_result.h"
#include "core/sys.h"

namespace {

struct CommandLine {
    bool help = false;
    bool version = false;
    bool version_full = false;
    bool test = false;
    bool dump = false;
    bool quiet = false;
    std::string signal;
    std::string prefix;
    std::string conf;
    std::string error_log;
    std::string params;
    const core::Command* command = nullptr;  // a module's verb (--import-keepalived FILE)
    std::string command_arg;
};

constexpr const char* kUsage =
    "Usage: halo [-?hvVtTq] [-s signal] [-p prefix]\n"
    "            [-e filename] [-c filename] [-g directives]\n"
    "\n"
    "Options:\n"
    "  -?,-h         : this help\n"
    "  -v            : show version and exit\n"
    "  -V            : show version, configure options and modules, then exit\n"
    "  -t            : test configuration and exit\n"
    "  -T            : test configuration, dump it and exit\n"
    "  -q            : suppress non-error messages during configuration testing\n"
    "  -s signal     : send signal to a master process: stop, quit, reopen, reload\n"
    "  -p prefix     : set prefix path (default: " HALO_PREFIX
    ")\n"
    "  -e filename   : set error log file (default: " HALO_ERROR_LOG_PATH
    ")\n"
    "  -c filename   : set configuration file (default: " HALO_CONF_PATH
    ")\n"
    "  -g directives : set global directives out of configuration file\n";

/// The usage text: the options above, then the verbs of the compiled-in modules.
std::string usage(const core::ModuleRegistry& registry) {
    std::string text = kUsage;
    for (const core::Module* m : registry.modules()) {
        for (const core::Command& c : m->commands) {
            text += "  " + std::string(c.option) + " " + std::string(c.argument) + " : " +
                    std::string(c.help) + "\n";
        }
    }
    return text;
}

/// The module verb that `arg` names ("--verb" or "--verb=value"), or nullptr.
const core::Command* find_command(const core::ModuleRegistry& registry, std::string_view arg) {
    for (const core::Module* m : registry.modules()) {
        for (const core::Command& c : m->commands) {
            if (arg.substr(0, arg.find('=')) == c.option) {
                return &c;
            }
        }
    }
    return nullptr;
}

void fail(const std::string& msg) {
    fprintf(stderr, "halo: %s\n", msg.c_str());
}

/// One `[emerg]` line per line of the error (a config may name several unknown directives).
void fail_emerg(const std::string& msg) {
    size_t start = 0;
    for (;;) {
        size_t nl = msg.find('\n', start);
        fail("[emerg] " + msg.substr(start, nl == std::string::npos ? nl : nl - start));
        if (nl == std::string::npos) {
            return;
        }
        start = nl + 1;
    }
}

/// Parses argv as nginx does: flags may be grouped (-tq), values attached (-cfile) or not.
bool parse_args(int argc, char** argv, const core::ModuleRegistry& registry, CommandLine& cl) {
    for (int i = 1; i < argc; i++) {
        const char* p = argv[i];
        if (const core::Command* c =
                strncmp(p, "--", 2) == 0 ? find_command(registry, p) : nullptr) {
            std::string_view arg = p;
            if (arg.size() > c->option.size()) {
                cl.command_arg = std::string(arg.substr(c->option.size() + 1));
            } else if (i + 1 < argc) {
                cl.command_arg = argv[++i];
            }
            if (cl.command_arg.empty()) {
                fail("option \"" + std::string(c->option) + "\" requires " +
                     std::string(c->argument) + " name");
                return false;
            }
            cl.command = c;
            continue;
        }
        if (*p++ != '-') {
            fail(std::string("invalid option: \"") + argv[i] + "\"");
            return false;
        }
        while (*p) {
            char opt = *p++;
            std::string* target = nullptr;
            switch (opt) {
                case '?':
                case 'h':
                    cl.help = true;
                    continue;
                case 'v':
                    cl.version = true;
                    continue;
                case 'V':
                    cl.version = cl.version_full = true;
                    continue;
                case 't':
                    cl.test = true;
                    continue;
                case 'T':
                    cl.test = cl.dump = true;
                    continue;
                case 'q':
                    cl.quiet = true;
                    continue;
                case 's':
                    target = &cl.signal;
                    break;
                case 'p':
                    target = &cl.prefix;
                    break;
                case 'c':
                    target = &cl.conf;
                    break;
                case 'e':
                    target = &cl.error_log;
                    break;
                case 'g':
                    target = &cl.params;
                    break;
                default:
                    fail(std::string("invalid option: \"") + opt + "\"");
                    return false;
            }
            if (*p) {
                *target = p;
            } else if (i + 1 < argc) {
                *target = argv[++i];
            } else {
                fail(std::string("option \"-") + opt + "\" requires " +
                     (opt == 's'   ? "signal name"
                      : opt == 'p' ? "directory name"
                      : opt == 'g' ? "parameter"
                                   : "file name"));
                return false;
            }
            break;
        }
    }
    if (!cl.signal.empty() && cl.signal != "stop" && cl.signal != "quit" && cl.signal != "reopen" &&
        cl.signal != "reload") {
        fail("invalid option: \"-s " + cl.signal + "\"");
        return false;
    }
    return true;
}

std::string absolute(const std::string& path) {
    if (!path.empty() && path[0] == '/') {
        return path;
    }
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof(cwd)) == nullptr) {
        return path;
    }
    return std::string(cwd) + "/" + path;
}

void print_version(bool full, const core::ModuleRegistry& registry) {
    fprintf(stderr, "halo version: halo/%s\n", HALO_VERSION);
    if (!full) {
        return;
    }
    fprintf(stderr, "built by %s\n", __VERSION__);
    fprintf(stderr, "configure arguments:%s%s\n", HALO_CONFIGURE_ARGS[0] ? " " : "",
            HALO_CONFIGURE_ARGS);
    std::string mods;
    for (const core::Module* m : registry.modules()) {
        mods += mods.empty() ? "" : " ";
        mods += m->name;
    }
    fprintf(stderr, "modules: %s\n", mods.c_str());
}

/// How long `-s reload` waits for the master's verdict.
constexpr std::chrono::seconds kReloadWait{10};

std::string kill_error(pid_t pid, int signo) {
    return core::format("[error] kill(%lld, %d) failed (%d: %s)", static_cast<long long>(pid),
                        signo, errno, strerror(errno));
}

/// `-s reload`: sends SIGHUP, then waits for the master to say whether the new configuration
/// loaded (the ReloadResult it writes next to its pid file). Exit status 0 only when it did.
int request_reload(pid_t pid, const std::string& pid_path) {
    const std::string path = core::reload_result_path(pid_path);
    auto before = core::read_reload_result(path);
    if (before && before->pid == pid && before->single) {
        fail(
            core::format("[error] halo (pid %lld) runs with \"master_process off\" and cannot "
                         "reload its configuration: restart it",
                         static_cast<long long>(pid)));
        return 1;
    }
    const int64_t sent_ns = core::monotonic_ns();
    if (kill(pid, SIGHUP) != 0) {
        fail(kill_error(pid, SIGHUP));
        return 1;
    }
    if (!before || before->pid != pid) {
        // A master that does not write results (an older halo): all we know is that it got
        // the signal, as with nginx.
        fail(
            core::format("[warn] the master process %lld does not report the outcome of a "
                         "reload (no \"%s\"): see its error log",
                         static_cast<long long>(pid), path.c_str()));
        return 0;
    }
    const auto deadline = std::chrono::steady_clock::now() + kReloadWait;
    for (;;) {
        auto r = core::read_reload_result(path);
        if (r && r->pid == pid && r->started_ns >= sent_ns) {
            if (r->ok) {
                return 0;
            }
            fail_emerg(r->message);
            fail("reload failed, the previous configuration keeps serving");
            return 1;
        }
        if (!core::process_alive(pid)) {
            fail(core::format("[error] the master process %lld exited before answering the reload",
                              static_cast<long long>(pid)));
            return 1;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            fail(core::format(
                "[error] the master process %lld did not report the outcome of the "
                "reload within %lld s: see its error log",
                static_cast<long long>(pid), static_cast<long long>(kReloadWait.count())));
            return 1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

int send_signal(const core::Cycle& cycle, const std::string& name) {
    const std::string& pid_path = *cycle.conf<core::CoreConf>().pid;
    std::string text;
    std::string err;
    if (!core::read_file(pid_path, text, &err)) {
        fail("[error] " + err + " (is halo running?)");
        return 1;
    }
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
        text.pop_back();
    }
    auto pid = core::parse_int(text);
    if (!pid || *pid <= 0 || *pid > INT_MAX) {
        fail("[error] invalid PID number \"" + text + "\" in \"" + pid_path + "\"");
        return 1;
    }
    if (name == "reload") {
        return request_reload(static_cast<pid_t>(*pid), pid_path);
    }
    int signo = name == "stop" ? SIGTERM : name == "quit" ? SIGQUIT : SIGUSR1;
    if (kill(static_cast<pid_t>(*pid), signo) != 0) {
        fail(kill_error(static_cast<pid_t>(*pid), signo));
        return 1;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    core::init_process_title(argc, argv);
    core::ModuleRegistry registry(core::compiled_modules());
    core::ModuleRegistry::set_active(&registry);
    CommandLine cl;
    if (!parse_args(argc, argv, registry, cl)) {
        return 1;
    }
    if (cl.command != nullptr) {
        return cl.command->run(cl.command_arg);
    }
    if (cl.help) {
        fprintf(stderr, "halo version: halo/%s\n%s", HALO_VERSION, usage(registry).c_str());
        return 0;
    }
    if (cl.version) {
        print_version(cl.version_full, registry);
        if (!cl.test) {
            return 0;
        }
    }

    core::CycleOptions opts;
    opts.prefix = absolute(cl.prefix.empty() ? HALO_PREFIX : cl.prefix);
    if (opts.prefix.back() != '/') {
        opts.prefix += '/';
    }
    opts.conf_file = cl.conf.empty() ? opts.prefix + HALO_CONF_PATH
                                     : (cl.conf[0] == '/' ? cl.conf : opts.prefix + cl.conf);
    opts.conf_params = cl.params;
    opts.error_log = cl.error_log;
    opts.test_only = cl.test || !cl.signal.empty();

    // -t and -s read the configuration first in a bounded child (as the master does on a
    // reload): a configuration that crashes the parser or runs it out of memory is an error
    // message here, not a crash of the command.
    core::Status s = opts.test_only ? core::check_config_apart(opts, registry) : core::Status::ok();
    std::unique_ptr<core::Cycle> cycle;
    if (s.is_ok()) {
        s = core::Cycle::create(opts, registry, nullptr, cycle);
    }
    if (s.is_ok() && cl.test) {
        s = cycle->try_shm();
    }
    if (cl.test) {
        if (!s.is_ok()) {
            fail_emerg(s.message());
            fail("configuration file " + opts.conf_file + " test failed");
            return 1;
        }
        if (!cl.quiet) {
            fail("the configuration file " + opts.conf_file + " syntax is ok");
            fail("configuration file " + opts.conf_file + " test is successful");
        }
        if (cl.dump) {
            for (const auto& f : cycle->document().files) {
                printf("# configuration file %s:\n%s", f.path.c_str(), f.text.c_str());
                if (!f.text.empty() && f.text.back() != '\n') {
                    printf("\n");
                }
                printf("\n");
            }
        }
        return 0;
    }
    if (!s.is_ok()) {
        fail_emerg(s.message());
        return 1;
    }
    if (!cl.signal.empty()) {
        return send_signal(*cycle, cl.signal);
    }

    const auto& core_conf = cycle->conf<core::CoreConf>();
    if (*core_conf.daemon && !core::daemonize()) {
        return 1;
    }
    core::set_current_log(&cycle->log());
    // The result first: whoever finds the pid file can rely on the result being there too.
    if (!core::write_start_result(*core_conf.pid, !*core_conf.master_process) ||
        !core::write_pid_file(*core_conf.pid)) {
        return 1;
    }
    core::daemon_ready();
    if (!*core_conf.master_process) {
        return core::run_single(std::move(cycle));
    }
    return core::run_master(std::move(cycle), opts, registry);
}
