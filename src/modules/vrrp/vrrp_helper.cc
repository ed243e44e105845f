// The vrrp helper process: setup from the module's postconfiguration (helper spec and shared
// zone), the process's run function, signals, child processes, and the reload handover:
// a new helper takes over the state the old one leaves in the shared slots, so that a reload
// which does not change an instance neither changes its state nor moves its VIPs.
#include "modules/vrrp/vrrp_helper.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <functional>
#include <thread>

#include "auto_config.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/process.h"
#include "core/shm.h"
#include "core/sys.h"
#include "event/runtime.h"
#include "modules/vrrp/vrrp_privs.h"
#include "modules/vrrp/vrrp_runtime.h"
#include "modules/vrrp/vrrp_status.h"
#include "upstream/upstream.h"

namespace vrrp {
namespace {

constexpr size_t kZoneSize = 256 * 1024;  // SharedState (~70 KiB) rounds up to 128 KiB
const char kZoneTag = 0;
/// How long a new helper waits for its predecessor to hand its instances over.
constexpr auto kHandoverWait = std::chrono::seconds(3);

SharedState* g_shared = nullptr;  // set in the master by the zone's init; inherited by fork

int run_helper(core::Cycle& cycle, const core::ProcessInfo&) {
    const VrrpConf* conf = vrrp_conf(cycle);
    if (conf == nullptr) {
        return core::kFatalChildExit;
    }
    // The master's signals stay blocked (core) until Helper::run watches them.
    apply_scheduling(*conf);  // as root: RLIMIT_RTTIME, SCHED_RR, mlockall
    if (!drop_privileges(cycle, *conf, getppid())) {
        return core::kFatalChildExit;
    }
    Helper helper(cycle, *conf, g_shared);
    return helper.run();
}

/// In a worker: the track_workers beat (its loop runs, so it is not hung).
std::unique_ptr<ev::Timer> g_beat;

void beat(SharedState* shared, int index) {
    shared->workers[index].beat_ms = core::steady_ms();
    shared->workers[index].pid = getpid();
    g_beat->arm(kWorkerBeat);
}

}  // namespace

core::Status init_worker(core::Cycle& cycle, const core::ProcessInfo& info) {
    const VrrpConf* conf = vrrp_conf(cycle);
    if (info.role == core::ProcessRole::kSingle && conf != nullptr && !conf->instances.empty()) {
        // The helper is a child of the master: a debugging run without one has no VRRP.
        HALO_LOG(kWarn, "the vrrp instances do not run with \"master_process off\"");
    }
    if (info.role != core::ProcessRole::kWorker || g_shared == nullptr || conf == nullptr ||
        info.worker_index < 0 || static_cast<size_t>(info.worker_index) >= kMaxWorkers) {
        return core::Status::ok();
    }
    bool wanted = false;
    for (const InstanceConf& i : conf->instances) {
        wanted = wanted || i.track_workers.has_value();
    }
    if (wanted) {
        SharedState* shared = g_shared;
        int index = info.worker_index;
        g_beat = ev::Runtime::current().loop().make_timer([shared, index] { beat(shared, index); });
        beat(shared, index);
    }
    return core::Status::ok();
}

void exit_worker(core::Cycle&) {
    g_beat.reset();
}

core::Status check_trackers(core::Cycle& cycle, const VrrpConf& conf) {
    for (const InstanceConf& i : conf.instances) {
        if (i.track_workers && cycle.worker_count() > static_cast<int>(kMaxWorkers)) {
            return core::Status::error("track_workers supports " + std::to_string(kMaxWorkers) +
                                       " workers at most in " + i.where);
        }
        for (const TrackedName& t : i.track_upstreams) {
            if (upstream::find_group(cycle, t.name) == nullptr) {
                return core::Status::error("unknown upstream \"" + t.name +
                                           "\" in \"track_upstream\" in " + t.where);
            }
        }
    }
    return core::Status::ok();
}

uint64_t fingerprint(const InstanceConf& c) {
    std::string s = c.name;
    s += "|" + std::to_string(c.priority) + "|" + std::to_string(c.advert_int.count()) + "|" +
         (c.auth_pass ? *c.auth_pass : "-") + "|" + (c.preempt ? "p" : "n") +
         std::to_string(c.preempt_delay.count()) + "|";
    for (const VirtualIp& v : c.vips) {
        s += v.text() + (v.excluded ? " excluded" : "") + (v.dad ? " -nodad" : "") + ",";
    }
    s += "|" + (c.unicast_src ? c.unicast_src->text() : "-") + "|";
    for (IpAddr p : c.unicast_peers) {
        s += p.text() + ",";
    }
    return std::hash<std::string>()(s) ^ identity(c);
}

uint64_t identity(const InstanceConf& c) {
    return std::hash<std::string>()(c.interface + "|" + std::to_string(c.vrid) + "|" +
                                    std::to_string(c.version) + (c.ipv6 ? "|6" : "")) |
           1;  // never 0
}

core::Status setup_helper(core::Cycle& cycle, VrrpConf& conf) {
    if (conf.instances.size() > kMaxInstances) {
        return core::Status::error("too many vrrp_instance blocks (at most " +
                                   std::to_string(kMaxInstances) + ") in " +
                                   conf.instances[kMaxInstances].where);
    }
    for (const InstanceConf& i : conf.instances) {
        if (i.name.size() > kMaxInstanceName) {
            return core::Status::error("vrrp_instance name \"" + i.name + "\" is longer than " +
                                       std::to_string(kMaxInstanceName) + " bytes in " + i.where);
        }
        if (i.vips.size() > kMaxSlotVips) {
            return core::Status::error("too many virtual addresses in vrrp_instance \"" + i.name +
                                       "\" (at most " + std::to_string(kMaxSlotVips) + ") in " +
                                       i.where);
        }
    }
    HALO_TRY(check_trackers(cycle, conf));
    if (cycle.options().test_only) {
        return core::Status::ok();
    }
    core::Status err = core::Status::ok();
    core::ShmZone* zone =
        cycle.add_shm_zone("halo_vrrp", kZoneSize, &kZoneTag, conf.instances[0].where, err);
    if (zone == nullptr) {
        return err;
    }
    zone->init = [](core::ShmZone& z, bool reused) -> core::Status {
        g_shared = z.pool().root_object<SharedState>(reused);
        if (g_shared == nullptr) {
            return core::Status::error("cannot allocate the vrrp state");
        }
        core::ShmLockGuard lock(z.pool().mutex());
        g_shared->generation++;  // a helper told to quit now knows it was replaced
        return core::Status::ok();
    };
    core::HelperSpec spec{"vrrp", &run_helper};
    // Stopped before the workers, which keep serving the VIPs while it hands them over.
    spec.stop_first = true;
    for (const InstanceConf& i : conf.instances) {
        spec.stop_first_wait =
            std::max(spec.stop_first_wait, leave_wait(i) + leave_linger(i) + Millis(1000));
    }
    cycle.add_helper(std::move(spec));
    return core::Status::ok();
}

std::vector<InstanceStatus> instance_status(const core::Cycle& cycle) {
    std::vector<InstanceStatus> out;
    const VrrpConf* conf = vrrp_conf(cycle);
    if (conf == nullptr || g_shared == nullptr) {
        return out;
    }
    for (const InstanceConf& c : conf->instances) {
        InstanceStatus st;
        st.name = c.name;
        st.interface = c.interface;
        st.sync_group = c.sync_group;
        st.vrid = c.vrid;
        st.version = c.version;
        st.base_priority = c.priority;
        st.state = std::string(state_name(State::kInit));
        for (const VirtualIp& v : c.vips) {
            st.addresses.push_back(v.text());
        }
        // The helper writes its slots without a lock: each field read here is one the helper
        // stores whole, and a page that is one transition late is right a moment later.
        for (const Slot& s : g_shared->slots) {
            if (!s.used || s.owner == 0 || strncmp(s.name, c.name.c_str(), sizeof(s.name)) != 0 ||
                s.identity != identity(c)) {
                continue;
            }
            st.state = std::string(state_name(static_cast<State>(s.state)));
            st.priority = s.priority;
            st.master = s.master.text();
            st.transitions = s.transitions;
            st.last_change_ms = s.last_change_ms;
            st.addresses_up = s.vip_count > 0;
            st.tracker = std::string(s.tracker, strnlen(s.tracker, sizeof(s.tracker)));
            std::string_view failing(s.failing, strnlen(s.failing, sizeof(s.failing)));
            while (!failing.empty()) {
                size_t comma = failing.find(',');
                st.failing.emplace_back(failing.substr(0, comma));
                failing = comma == std::string_view::npos ? std::string_view()
                                                          : failing.substr(comma + 1);
            }
        }
        out.push_back(std::move(st));
    }
    return out;
}

// ---- Helper ----

Helper::Helper(core::Cycle& cycle, const VrrpConf& conf, SharedState* shared, HelperSeams seams)
    : cycle_(cycle),
      conf_(conf),
      shared_(shared != nullptr ? shared : &local_),
      io_(seams.io != nullptr ? *seams.io : kernel_io_),
      time_(seams.time != nullptr ? *seams.time : loop_),
      launcher_(seams.launcher != nullptr ? *seams.launcher : *this) {}

Helper::~Helper() {
    instances_.clear();
    scripts_.clear();
}

bool Helper::link_up(const std::string& name) {
    auto it = link_state_.find(name);
    if (it == link_state_.end()) {
        it = link_state_.emplace(name, io_.link_is_up(name)).first;
    }
    return it->second;
}

const ScriptTracker* Helper::script(const std::string& name) const {
    for (const auto& s : scripts_) {
        if (s->conf().name == name) {
            return s.get();
        }
    }
    return nullptr;
}

bool Helper::upstream_ok(const std::string& name) const {
    auto it = upstream_ok_.find(name);
    return it == upstream_ok_.end() || it->second;
}

void Helper::poll_trackers() {
    poll_timer_->arm(kTrackerPoll);
    int64_t now = core::steady_ms();
    bool changed = false;
    // The oldest beat: one hung worker is enough (its share of the connections fails). A
    // worker that has not beaten since this helper started is still coming up (the workers
    // start with the helper): judged only after kWorkerStartGrace.
    bool starting = now - started_ms_ <= kWorkerStartGrace.count();
    int64_t oldest = now;
    int stale_worker = -1;
    for (int w = 0; w < cycle_.worker_count() && static_cast<size_t>(w) < kMaxWorkers; w++) {
        int64_t beat = shared_->workers[w].beat_ms;
        if (beat < oldest && !(starting && beat < started_ms_)) {
            oldest = beat;
            stale_worker = w;
        }
    }
    for (auto& [timeout, was] : workers_ok_) {
        bool ok = now - oldest <= timeout;
        if (ok != was) {
            if (ok) {
                HALO_LOG(kNotice, "vrrp: track_workers: every worker serves again");
            } else {
                HALO_LOG(kNotice,
                         "vrrp: track_workers: worker %d (pid %d) has not run its event loop for "
                         "%lldms (timeout %lldms)",
                         stale_worker, static_cast<int>(shared_->workers[stale_worker].pid),
                         static_cast<long long>(now - oldest), static_cast<long long>(timeout));
            }
            was = ok;
            changed = true;
        }
    }
    for (auto& [name, was] : upstream_ok_) {
        const upstream::Group* g = upstream::find_group(cycle_, name);
        bool ok = g != nullptr && g->any_healthy(now);
        if (ok != was) {
            HALO_LOG(kNotice, "vrrp: track_upstream %s: %s", name.c_str(),
                     ok ? "a server is usable again" : "no usable server");
            was = ok;
            changed = true;
        }
    }
    if (changed) {
        trackers_changed();
    }
}

void Helper::trackers_changed() {
    for (auto& i : instances_) {
        i->update();
    }
}

Tracking Helper::track(const InstanceConf& c) {
    Tracking t;
    if (!link_up(c.interface)) {
        t.fault = true;
        t.failing.push_back("interface " + c.interface);
    }
    auto failing = [&t](const TrackAction& a, std::string what) {
        t.fault = t.fault || a.fault;
        t.weight += a.weight;
        t.failing.push_back(std::move(what));
    };
    for (const TrackedName& n : c.track_interfaces) {
        if (!link_up(n.name)) {
            failing(n.action, "track_interface " + n.name);
        }
    }
    for (const TrackedScript& n : c.track_scripts) {
        const ScriptTracker* s = script(n.name);
        if (s == nullptr) {
            continue;
        }
        int w = n.weight ? *n.weight : s->conf().weight;
        if (w == 0 && !s->ok()) {
            t.fault = true;
        } else if ((w < 0 && !s->ok()) || (w > 0 && s->ok())) {
            t.weight += w;  // keepalived: a positive weight is added while the script passes
        }
        if (!s->ok()) {
            t.failing.push_back("track_script " + n.name);
        }
    }
    if (c.track_workers && !workers_ok(c.track_workers_timeout)) {
        failing(*c.track_workers, "track_workers");
    }
    for (const TrackedName& n : c.track_upstreams) {
        if (!upstream_ok(n.name)) {
            failing(n.action, "track_upstream " + n.name);
        }
    }
    return t;
}

pid_t Helper::spawn(const std::string& cmd, const std::vector<std::string>& args,
                    const std::string& user, std::function<void(int)> done) {
    // The helper runs as root or as `user` (vrrp_privs.cc, then with CAP_SETUID/CAP_SETGID
    // when a script runs as someone else): a script of another user is switched to it.
    passwd* pw = getpwnam(user.c_str());
    if (pw == nullptr) {
        HALO_LOG(kError, "vrrp: no user \"%s\" to run \"%s\"", user.c_str(), cmd.c_str());
        return -1;
    }
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    // A helper that cannot switch (not root, no CAP_SETUID) runs scripts as itself, as
    // before it had the choice.
    bool drop = uid != geteuid() && can_switch_user();
    pid_t pid = fork();
    if (pid < 0) {
        HALO_LOG(kAlert, "fork() failed (%d: %s)", errno, strerror(errno));
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);  // its own group: a timeout kills the script and what it started
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        for (int s : {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGCHLD, SIGPIPE}) {
            signal(s, SIG_DFL);
        }
        if (drop && (setgid(gid) != 0 || initgroups(user.c_str(), gid) != 0 || setuid(uid) != 0)) {
            _exit(127);
        }
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, STDIN_FILENO);
            dup2(null, STDOUT_FILENO);
            close(null);
        }
        (void)!chdir("/");
        std::string line = cmd + (args.empty() ? "" : " \"$@\"");
        std::vector<char*> argv = {const_cast<char*>("/bin/sh"), const_cast<char*>("-c"),
                                   line.data(), const_cast<char*>("sh")};
        std::vector<std::string> copy = args;
        for (std::string& a : copy) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        execv("/bin/sh", argv.data());
        _exit(127);
    }
    setpgid(pid, pid);
    children_[pid] = std::move(done);
    return pid;
}

void Helper::reap() {
    core::reap_exited_children([this](pid_t pid, int status) {
        auto it = children_.find(pid);
        if (it == children_.end()) {
            return;
        }
        auto done = std::move(it->second);
        children_.erase(it);
        done(status);
    });
}

namespace {

/// Waits until no other live helper owns a slot (each handed over or died), or
/// kHandoverWait has passed.
void wait_for_owners(const SharedState& shared) {
    pid_t self = getpid();
    auto deadline = std::chrono::steady_clock::now() + kHandoverWait;
    for (;;) {
        bool busy = false;
        for (const Slot& s : shared.slots) {
            busy =
                busy || (s.used && s.owner != 0 && s.owner != self && core::process_alive(s.owner));
        }
        if (!busy || std::chrono::steady_clock::now() > deadline) {
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

/// Empties the slots no instance of this config continues (same name and identity): their
/// VIPs go away.
void drop_removed_slots(Helper& helper, SharedState& shared) {
    for (Slot& s : shared.slots) {
        if (!s.used) {
            continue;
        }
        bool kept = false;
        for (const InstanceConf& c : helper.conf().instances) {
            kept = kept || (c.name == s.name && identity(c) == s.identity);
        }
        if (!kept) {
            helper.drop_slot_vips(s);
            HALO_LOG(kNotice, "vrrp_instance \"%s\" removed", s.name);
            s = Slot{};
        }
    }
}

/// How an instance starts: in the state a previous helper handed over, or afresh.
struct Start {
    std::optional<State> resume;
    std::optional<IpAddr> master;
};

/// The slot of instance `c`: the one a previous helper left (a handed over state resumes,
/// a crashed helper's VIPs go away), else a free one; nullptr when none is free.
Slot* slot_for(Helper& helper, SharedState& shared, const InstanceConf& c, Start& start) {
    Slot* slot = nullptr;
    for (Slot& s : shared.slots) {
        if (s.used && c.name == s.name) {
            slot = &s;
        }
    }
    if (slot != nullptr) {
        bool handed_over = slot->owner == 0;
        auto st = static_cast<State>(slot->state);
        if (handed_over && (st == State::kMaster || st == State::kBackup || st == State::kFault)) {
            start.resume = st;
            if (!slot->master.empty()) {
                start.master = slot->master;
            }
        } else {
            // Its helper died (crash): remove what it left, start over in Backup.
            helper.drop_slot_vips(*slot);
        }
        return slot;
    }
    for (Slot& s : shared.slots) {
        if (!s.used) {
            s = Slot{};
            snprintf(s.name, sizeof(s.name), "%s", c.name.c_str());
            s.used = 1;
            return &s;
        }
    }
    return nullptr;
}

}  // namespace

std::unique_ptr<Instance> Helper::make_instance(const InstanceConf& c, Slot& slot,
                                                std::optional<State>& resume) {
    auto inst = std::make_unique<Instance>(*this, c, slot);
    for (auto& g : groups_) {
        if (g->conf().name == c.sync_group) {
            inst->set_group(g.get());
            g->add(*inst);
        }
    }
    if (!inst->setup()) {
        // It cannot run (no interface, no socket): what it had up must not stay there,
        // unadvertised, while another router takes the VIPs, nor its old state on the
        // status page. Its interface is watched (retry_setup).
        resume.reset();
        drop_slot_vips(slot);
        slot.state = static_cast<uint8_t>(State::kInit);
        slot.priority = 0;
        slot.master = IpAddr{};
        link_up(c.interface);
    }
    return inst;
}

/// Waits until every slot's owner is gone (handed over or dead), then claims a slot for each
/// instance, cleans up after instances a previous helper ran and this config dropped.
void Helper::claim_slots() {
    pid_t self = getpid();
    wait_for_owners(*shared_);
    generation_ = shared_->generation;
    drop_removed_slots(*this, *shared_);
    for (const SyncGroupConf& g : conf_.sync_groups) {
        groups_.push_back(std::make_unique<SyncGroup>(*this, g));
    }
    // Every instance is made, set up and in its group before any starts: a group member's
    // first state depends on the others' trackers.
    std::vector<Start> starts;
    for (const InstanceConf& c : conf_.instances) {
        Start start;
        Slot* slot = slot_for(*this, *shared_, c, start);
        if (slot == nullptr) {
            continue;  // cannot happen: setup_helper allows kMaxInstances at most
        }
        slot->owner = self;
        slot->identity = identity(c);
        bool same = start.resume && slot->fingerprint == fingerprint(c);
        slot->fingerprint = fingerprint(c);
        instances_.push_back(make_instance(c, *slot, start.resume));
        if (start.resume) {
            HALO_LOG(kNotice, "vrrp_instance \"%s\" continues in %s%s", c.name.c_str(),
                     std::string(state_name(*start.resume)).c_str(),
                     same ? "" : " with its new configuration");
        }
        starts.push_back(start);
    }
    for (size_t i = 0; i < instances_.size(); i++) {
        instances_[i]->start(starts[i].resume, starts[i].master);
    }
    for (auto& g : groups_) {
        g->settle();
    }
}

void Helper::retry_setup() {
    for (auto& i : instances_) {
        if (!i->running() && i->setup()) {
            HALO_LOG(kNotice, "vrrp_instance \"%s\" can run now", i->conf().name.c_str());
            i->start(std::nullopt, std::nullopt);
        }
    }
    for (auto& g : groups_) {
        g->settle();
    }
}

void Helper::drop_slot_vips(Slot& slot) {
    std::string err;
    for (uint32_t i = 0; i < slot.vip_count && i < kMaxSlotVips; i++) {
        IpAddr addr = slot.vips[i].addr;
        if (!io_.del_address(slot.vips[i].ifindex, addr, slot.vips[i].prefix, err)) {
            HALO_LOG(kError, "vrrp_instance \"%s\": cannot remove %s: %s", slot.name,
                     addr.text().c_str(), err.c_str());
        }
    }
    slot.vip_count = 0;
}

void Helper::stop(bool hand_over) {
    if (stopping_) {
        return;
    }
    stopping_ = true;
    if (!hand_over) {
        // A stop: each master hands its VIPs over (Instance::leave); the master process
        // stops the workers once this helper has exited (HelperSpec::stop_first).
        leaving_ = instances_.size() + 1;
        auto one_left = [this] {
            if (--leaving_ == 0) {
                HALO_LOG(kNotice, "vrrp helper exits");
                loop_.exit();
            }
        };
        for (auto& i : instances_) {
            i->leave(one_left);
        }
        one_left();
        return;
    }
    // Reload: release the slots, but a master goes on advertising until the new helper has
    // claimed its slot, so that the backups never miss an advert (no VIP move).
    for (auto& i : instances_) {
        i->hand_over();
    }
    auto deadline = std::chrono::steady_clock::now() + kHandoverWait;
    handover_timer_ = loop_.make_timer([this, deadline] {
        bool claimed = true;
        for (auto& i : instances_) {
            claimed = claimed && i->slot().owner != 0;
        }
        if (!claimed && std::chrono::steady_clock::now() > deadline) {
            // No new helper came: this was `-s quit` after a reload that failed once the
            // zone was made (the generation moved on without a new helper). Stop as on -s
            // quit, handing each master's VIPs over, rather than leave them to no one.
            HALO_LOG(kWarn, "vrrp: no new helper took the instances over, stopping them");
            for (auto& i : instances_) {
                i->take_back();
            }
            stopping_ = false;
            stop(false);
            return;
        }
        if (claimed) {
            HALO_LOG(kNotice,
                     "vrrp helper exits: instances handed over to the new "
                     "configuration");
            loop_.exit();
            return;
        }
        handover_timer_->arm(ev::Duration(2));
    });
    handover_timer_->arm(ev::Duration(0));
}

int Helper::run() {
    signals_.push_back(loop_.make_signal(SIGTERM, [this] { stop(false); }));
    signals_.push_back(loop_.make_signal(SIGINT, [this] { stop(false); }));
    signals_.push_back(loop_.make_signal(SIGQUIT, [this] {
        // A reload replaced us when the generation moved on; else this is `-s quit`.
        bool replaced = shared_->generation != generation_;
        stop(replaced);
    }));
    signals_.push_back(loop_.make_signal(SIGHUP, [] {}));
    signals_.push_back(
        loop_.make_signal(SIGUSR1, [this] { cycle_.reopen_files(static_cast<uid_t>(-1)); }));
    signals_.push_back(loop_.make_signal(SIGCHLD, [this] { reap(); }));
    signal(SIGPIPE, SIG_IGN);
    core::unblock_signals();  // held since the fork (core::HelperSpec::run)

    std::string err;
    if (!netlink_.open(err)) {
        HALO_LOG(kEmerg, "vrrp: %s", err.c_str());
        return core::kFatalChildExit;
    }
    if (links_.open(err)) {
        links_watch_ = loop_.make_io(links_.fd(), ev::kRead, false, [this](uint32_t) {
            bool changed = false;
            bool addresses = false;
            links_.read(
                [&](const std::string& name, bool up) {
                    auto it = link_state_.find(name);
                    if (it != link_state_.end() && it->second != up) {
                        HALO_LOG(kNotice, "vrrp: link %s is %s", name.c_str(), up ? "up" : "down");
                        it->second = up;
                        changed = true;
                    }
                },
                [&] { addresses = true; });
            if (changed) {
                retry_setup();
                trackers_changed();
            } else if (addresses && std::any_of(instances_.begin(), instances_.end(),
                                                [](const auto& i) { return !i->running(); })) {
                // An IPv6 instance waits for its link-local address to leave the tentative
                // state (duplicate address detection, a second after the link comes up).
                retry_setup();
            }
        });
        links_watch_->enable();
    } else {
        HALO_LOG(kError, "vrrp: %s: link changes are not tracked", err.c_str());
    }
    for (const ScriptConf& s : conf_.scripts) {
        scripts_.push_back(
            std::make_unique<ScriptTracker>(*this, s, s.user ? *s.user : script_user()));
    }
    started_ms_ = core::steady_ms();
    for (const InstanceConf& i : conf_.instances) {
        for (const TrackedName& t : i.track_upstreams) {
            upstream_ok_.emplace(t.name, true);
        }
        if (i.track_workers) {
            workers_ok_.emplace(i.track_workers_timeout.count(), true);
        }
    }
    if (!workers_ok_.empty() || !upstream_ok_.empty()) {
        // Only the built-in trackers are polled: without them the helper sleeps between
        // adverts.
        poll_timer_ = loop_.make_timer([this] { poll_trackers(); });
        poll_trackers();
    }
    claim_slots();
    for (auto& s : scripts_) {
        s->start();
    }
    loop_.run();
    return 0;
}

}  // namespace vrrp
