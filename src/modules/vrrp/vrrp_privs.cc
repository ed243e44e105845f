// The vrrp helper's scheduling, memory locking and privileges (see vrrp_privs.h). The
// capabilities are set with the raw capset(2) system call (no libcap).
#include "modules/vrrp/vrrp_privs.h"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <set>
#include <string>

#include "core/core_module.h"
#include "core/log.h"

namespace vrrp {
namespace {

/// With real-time scheduling, the most CPU time the helper may use without blocking (as
/// keepalived's vrrp_rlimit_rttime; a helper spinning that long is broken: the kernel kills
/// it and the master respawns it).
constexpr rlim_t kRtTimeLimitUs = 200 * 1000;

uint64_t bit(int cap) {
    return uint64_t{1} << cap;
}

int last_cap() {
    std::ifstream in("/proc/sys/kernel/cap_last_cap");
    int v = CAP_LAST_CAP;
    in >> v;
    return v;
}

bool has_effective_cap(int cap) {
    __user_cap_header_struct header{};
    header.version = _LINUX_CAPABILITY_VERSION_3;
    header.pid = 0;
    __user_cap_data_struct data[2]{};
    if (syscall(SYS_capget, &header, data) != 0) {
        return false;
    }
    return (data[cap / 32].effective & (1u << (cap % 32))) != 0;
}

bool set_caps(uint64_t mask) {
    __user_cap_header_struct header{};
    header.version = _LINUX_CAPABILITY_VERSION_3;
    header.pid = 0;
    __user_cap_data_struct data[2]{};
    for (int i = 0; i < 2; i++) {
        auto half = static_cast<uint32_t>(mask >> (32 * i));
        data[i].effective = half;
        data[i].permitted = half;
        data[i].inheritable = 0;
    }
    return syscall(SYS_capset, &header, data) == 0;
}

/// Whether some script of the config runs as another user than `uid`.
bool scripts_need_other_user(const VrrpConf& conf, uid_t uid) {
    std::set<std::string> users;
    bool notify = false;
    for (const InstanceConf& i : conf.instances) {
        notify = notify || !i.notify.empty() || !i.notify_master.empty() ||
                 !i.notify_backup.empty() || !i.notify_fault.empty();
    }
    for (const SyncGroupConf& g : conf.sync_groups) {
        notify = notify || !g.notify.empty() || !g.notify_master.empty() ||
                 !g.notify_backup.empty() || !g.notify_fault.empty();
    }
    if (notify && conf.script_user) {
        users.insert(*conf.script_user);
    }
    for (const ScriptConf& s : conf.scripts) {
        users.insert(s.user ? *s.user : conf.script_user.value_or("nobody"));
    }
    for (const std::string& u : users) {
        passwd* pw = getpwnam(u.c_str());
        if (pw == nullptr || pw->pw_uid != uid) {
            return true;
        }
    }
    return false;
}

}  // namespace

uint64_t helper_capabilities(bool switch_users, bool lock_memory) {
    uint64_t m = bit(CAP_NET_RAW) | bit(CAP_NET_ADMIN);
    if (switch_users) {
        m |= bit(CAP_SETUID) | bit(CAP_SETGID);
    }
    if (lock_memory) {
        m |= bit(CAP_IPC_LOCK);
    }
    return m;
}

bool can_switch_user() {
    return has_effective_cap(CAP_SETUID);
}

void apply_scheduling(const VrrpConf& conf) {
    if (conf.no_swap && mlockall(MCL_CURRENT | MCL_FUTURE) != 0) {
        HALO_LOG(kError, "vrrp: vrrp_no_swap: mlockall() failed (%d: %s), memory not locked", errno,
                 strerror(errno));
    }
    if (!conf.rt_priority) {
        return;
    }
    rlimit rt{kRtTimeLimitUs, kRtTimeLimitUs};
    if (setrlimit(RLIMIT_RTTIME, &rt) != 0) {
        HALO_LOG(kError, "vrrp: setrlimit(RLIMIT_RTTIME) failed (%d: %s)", errno, strerror(errno));
    }
    sched_param p{};
    p.sched_priority = *conf.rt_priority;
    // SCHED_RESET_ON_FORK: the scripts the helper starts run with normal scheduling.
    if (sched_setscheduler(0, SCHED_RR | SCHED_RESET_ON_FORK, &p) != 0) {
        HALO_LOG(kError,
                 "vrrp: vrrp_rt_priority %d: sched_setscheduler(SCHED_RR) failed (%d: %s), the "
                 "helper keeps normal scheduling",
                 *conf.rt_priority, errno, strerror(errno));
        return;
    }
    HALO_LOG(kInfo, "vrrp: real-time scheduling SCHED_RR priority %d", *conf.rt_priority);
}

bool drop_privileges(const core::Cycle& cycle, const VrrpConf& conf, pid_t master) {
    const auto& core = cycle.conf<core::CoreConf>();
    if (geteuid() != 0 || !core.user || core.uid == 0 || core.uid == static_cast<uid_t>(-1)) {
        return true;
    }
    bool switch_users = scripts_need_other_user(conf, core.uid);
    uint64_t keep = helper_capabilities(switch_users, conf.no_swap);
    // The bounding set first (needs CAP_SETPCAP, which root has): nothing the helper or a
    // script it starts does can regain the rest.
    for (int cap = 0; cap <= last_cap(); cap++) {
        if ((keep & bit(cap)) == 0 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 &&
            errno != EINVAL) {
            HALO_LOG(kEmerg, "vrrp: prctl(PR_CAPBSET_DROP, %d) failed (%d: %s)", cap, errno,
                     strerror(errno));
            return false;
        }
    }
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) {
        HALO_LOG(kEmerg, "vrrp: prctl(PR_SET_KEEPCAPS) failed (%d: %s)", errno, strerror(errno));
        return false;
    }
    if (initgroups(core.user->c_str(), core.gid) != 0 ||
        setresgid(core.gid, core.gid, core.gid) != 0 ||
        setresuid(core.uid, core.uid, core.uid) != 0) {
        HALO_LOG(kEmerg, "vrrp: switching to user \"%s\" (uid %d, gid %d) failed (%d: %s)",
                 core.user->c_str(), static_cast<int>(core.uid), static_cast<int>(core.gid), errno,
                 strerror(errno));
        return false;
    }
    prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
    if (!set_caps(keep)) {
        HALO_LOG(kEmerg, "vrrp: capset() failed (%d: %s)", errno, strerror(errno));
        return false;
    }
    // setresuid cleared the parent-death signal: set it again, then check that the master
    // did not die in between.
    prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
    if (getppid() != master) {
        _exit(0);
    }
    HALO_LOG(kInfo, "vrrp: helper runs as \"%s\" with CAP_NET_RAW, CAP_NET_ADMIN%s%s",
             core.user->c_str(), switch_users ? ", CAP_SETUID, CAP_SETGID" : "",
             conf.no_swap ? ", CAP_IPC_LOCK" : "");
    return true;
}

}  // namespace vrrp
