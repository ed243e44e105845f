// halo: command line, as nginx has it.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <string>

#include "auto_config.h"
#include "core/conf_file.h"
#include "core/core_module.h"
#include "core/cycle.h"
#include "core/log.h"
#include "core/process.h"

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
bool parse_args(int argc, char** argv, CommandLine& cl) {
    for (int i = 1; i < argc; i++) {
        const char* p = argv[i];
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
    if (!pid || *pid <= 0) {
        fail("[error] invalid PID number \"" + text + "\" in \"" + pid_path + "\"");
        return 1;
    }
    int signo = name == "stop"     ? SIGTERM
                : name == "quit"   ? SIGQUIT
                : name == "reopen" ? SIGUSR1
                                   : SIGHUP;
    if (kill(static_cast<pid_t>(*pid), signo) != 0) {
        fail(core::format("[error] kill(%lld, %d) failed (%d: %s)", static_cast<long long>(*pid),
                          signo, errno, strerror(errno)));
        return 1;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CommandLine cl;
    if (!parse_args(argc, argv, cl)) {
        return 1;
    }
    core::ModuleRegistry registry(core::compiled_modules());
    core::ModuleRegistry::set_active(&registry);
    if (cl.help) {
        fprintf(stderr, "halo version: halo/%s\n%s", HALO_VERSION, kUsage);
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

    std::unique_ptr<core::Cycle> cycle;
    core::Status s = core::Cycle::create(opts, registry, nullptr, cycle);
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
    if (!core::write_pid_file(*core_conf.pid)) {
        return 1;
    }
    if (!*core_conf.master_process) {
        return core::run_single(std::move(cycle));
    }
    return core::run_master(std::move(cycle), opts, registry);
}
