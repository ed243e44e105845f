// What nginx's ngx_worker_process_init does to a new worker besides dropping privileges: the
// environment of `env`, worker_rlimit_core, worker_priority, worker_cpu_affinity and
// working_directory.
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "core/core_module.h"
#include "core/log.h"

extern char** environ;

namespace core {
namespace {

/// The name part of an `env` entry ("TZ" of "TZ=UTC").
std::string_view env_name(std::string_view entry) {
    return entry.substr(0, entry.find('='));
}

/// Replaces the environment with the variables `env` names (their values from the current
/// environment) or sets, plus TZ unless named, as nginx's ngx_set_environment.
void set_environment(const std::vector<std::string>& env) {
    std::vector<std::string> entries = env;
    bool tz = false;
    for (const auto& e : entries) {
        tz = tz || env_name(e) == "TZ";
    }
    if (!tz) {
        entries.push_back("TZ");
    }
    // The strings live for the process: environ points into them.
    static std::vector<std::string> storage;
    std::vector<std::string> kept;
    for (const auto& e : entries) {
        if (e.find('=') != std::string::npos) {
            kept.push_back(e);
            continue;
        }
        for (char** p = environ; p != nullptr && *p != nullptr; p++) {
            std::string_view have(*p);
            if (have.size() > e.size() && have.substr(0, e.size()) == e && have[e.size()] == '=') {
                kept.emplace_back(have);
                break;
            }
        }
    }
    storage = std::move(kept);
    static std::vector<char*> pointers;
    pointers.clear();
    for (auto& s : storage) {
        pointers.push_back(s.data());
    }
    pointers.push_back(nullptr);
    environ = pointers.data();
    tzset();  // the C library read TZ in the master: read it again
}

}  // namespace

std::vector<int> worker_cpus(const CoreConf& conf, int worker) {
    std::vector<int> out;
    if (conf.cpu_affinity.empty() || worker < 0) {
        return out;
    }
    if (conf.cpu_affinity_auto) {
        // The worker-th CPU of the set, in turn (nginx's ngx_get_cpu_affinity).
        const std::vector<bool>& set = conf.cpu_affinity.back();
        std::vector<int> cpus;
        for (size_t i = 0; i < set.size(); i++) {
            if (set[i]) {
                cpus.push_back(static_cast<int>(i));
            }
        }
        if (!cpus.empty()) {
            out.push_back(cpus[static_cast<size_t>(worker) % cpus.size()]);
        }
        return out;
    }
    const std::vector<bool>& set =
        conf.cpu_affinity[std::min(static_cast<size_t>(worker), conf.cpu_affinity.size() - 1)];
    for (size_t i = 0; i < set.size(); i++) {
        if (set[i]) {
            out.push_back(static_cast<int>(i));
        }
    }
    return out;
}

void apply_environment(const CoreConf& conf) {
    set_environment(conf.env);
}

bool apply_worker_settings(const CoreConf& conf, int worker) {
    set_environment(conf.env);
    if (worker >= 0 && conf.priority && *conf.priority != 0) {
        if (setpriority(PRIO_PROCESS, 0, *conf.priority) != 0) {
            HALO_LOG(kAlert, "setpriority(%d) failed (%d: %s)", *conf.priority, errno,
                     strerror(errno));
        }
    }
    if (conf.rlimit_core) {
        rlimit rl{static_cast<rlim_t>(conf.rlimit_core->bytes),
                  static_cast<rlim_t>(conf.rlimit_core->bytes)};
        if (setrlimit(RLIMIT_CORE, &rl) != 0) {
            HALO_LOG(kAlert, "setrlimit(RLIMIT_CORE, %llu) failed (%d: %s)",
                     static_cast<unsigned long long>(conf.rlimit_core->bytes), errno,
                     strerror(errno));
        }
    }
    if (std::vector<int> cpus = worker_cpus(conf, worker); !cpus.empty()) {
        cpu_set_t set;
        CPU_ZERO(&set);
        std::string list;
        for (int c : cpus) {
            CPU_SET(c, &set);
            list += (list.empty() ? "" : " ") + std::to_string(c);
        }
        HALO_LOG(kNotice, "sched_setaffinity(): using cpu #%s", list.c_str());
        if (sched_setaffinity(0, sizeof(set), &set) != 0) {
            HALO_LOG(kAlert, "sched_setaffinity() failed (%d: %s)", errno, strerror(errno));
        }
    }
    return true;
}

/// After setuid (nginx changes directory last): false is fatal.
bool enter_working_directory(const CoreConf& conf) {
    if (conf.working_directory && chdir(conf.working_directory->c_str()) != 0) {
        HALO_LOG(kAlert, "chdir(\"%s\") failed (%d: %s)", conf.working_directory->c_str(), errno,
                 strerror(errno));
        return false;
    }
    return true;
}

}  // namespace core
