#pragma once

// Inside the vrrp helper process: the instances (state machine + sockets + virtual IPs +
// notify scripts), the vrrp_script trackers, child processes, and the shared slots that carry
// each instance's state to the next helper across a reload and to the status page.
// Single-threaded, one event loop; nothing here runs in the master or the workers.

#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/cycle.h"
#include "event/loop.h"
#include "modules/vrrp/vrrp_conf.h"
#include "modules/vrrp/vrrp_fsm.h"
#include "modules/vrrp/vrrp_io.h"

namespace vrrp {

inline constexpr size_t kMaxWorkers = 256;
/// How often the helper looks at the built-in trackers (workers, upstream groups). The
/// workers' beat is kWorkerBeat (vrrp_conf.h); a worker whose stamp is older than the
/// instance's track_workers timeout is not serving (hung, stopped, dead).
inline constexpr Millis kTrackerPoll{25};
/// track_workers: how long a worker that has not beaten yet may take to come up.
inline constexpr Millis kWorkerStartGrace{2000};

/// Graceful stop of a master: how long it waits to hear the new master after sending
/// priority 0 (the best backup takes over after its Skew_Time, under one advert_int; three
/// advert_ints cover a lost advert), capped so that a v2 instance with a long interval does
/// not hold a stop for minutes.
inline Millis leave_wait(const InstanceConf& c) {
    return std::min(3 * c.advert_int + Millis(250), Millis(10000));
}
/// ...and how long it keeps its VIPs once it heard the new master: the clients' ARP caches
/// follow the new master's gratuitous ARP, sent right after that advert, and the requests
/// already on their way here finish.
inline Millis leave_linger(const InstanceConf& c) {
    return std::clamp(c.advert_int, Millis(100), Millis(1000));
}

/// A virtual IP a helper put on a link (in its slot, for the next helper or a cleanup).
struct SlotVip {
    IpAddr addr;
    uint32_t ifindex;
    uint8_t prefix;
};

/// One instance's state in the shared zone (plain data, no pointers).
struct Slot {
    char name[kMaxInstanceName + 1];
    uint64_t fingerprint;  // the whole instance config: unchanged across a reload?
    uint64_t identity;     // interface, VRID, version: still the same virtual router?
    int32_t owner;         // pid of the helper running it, 0 once released
    uint8_t used;
    uint8_t state;  // State
    uint8_t priority;
    uint8_t base_priority;
    IpAddr master;  // empty = unknown
    uint64_t transitions;
    int64_t last_change_ms;  // Unix ms of the last state change (status page)
    uint32_t vip_count;      // the virtual IPs on the links now (while Master)
    SlotVip vips[kMaxSlotVips];
    /// The tracker that last changed the instance's priority or fault ("track_upstream app
    /// failed", "interface eth0 recovered"), and those failing now (comma-separated), for the
    /// status page; cut to fit, always NUL-terminated.
    char tracker[80];
    char failing[160];
};

/// The root of the "vrrp" shared zone. `generation` grows with every cycle (the master's
/// zone init): a helper told to quit sees a newer generation when a reload replaced it.
struct SharedState {
    uint64_t generation;
    Slot slots[kMaxInstances];
    /// track_workers: steady-clock ms of each worker's last beat (by worker index), its pid.
    struct {
        int64_t beat_ms;
        int32_t pid;
    } workers[kMaxWorkers];
};

class Helper;
class SyncGroup;

/// Runs the helper's scripts (notify scripts, vrrp_script checks): the Helper itself forks
/// /bin/sh; the unit tests record the calls and finish them when they choose.
class Launcher {
  public:
    virtual ~Launcher() = default;
    /// Runs `/bin/sh -c cmd` (with `args` as $1...) as `user`; `done(status)` on exit, with a
    /// wait() status. -1: could not start (logged), `done` is never called.
    virtual pid_t spawn(const std::string& cmd, const std::vector<std::string>& args,
                        const std::string& user, std::function<void(int)> done) = 0;
};

/// What a Helper works with. Each one left null is the real one; the unit tests pass fakes
/// (no sockets, no root, no children, time that moves when told).
struct HelperSeams {
    SystemIo* io = nullptr;          // else the kernel (KernelIo over the helper's netlink)
    ev::TimeSource* time = nullptr;  // else the helper's loop
    Launcher* launcher = nullptr;    // else the helper forks (Helper::spawn)
};

/// What an instance's trackers say: Fault, and the sum of the weights that apply.
struct Tracking {
    bool fault = false;
    int weight = 0;
    /// The trackers that fail now and count ("track_script chk", "interface eth0"...).
    std::vector<std::string> failing;
};

/// The notify scripts of one instance or sync group: run one at a time, in transition order
/// (a script never overtakes another), as the script user.
class NotifyQueue {
  public:
    explicit NotifyQueue(Helper& helper) : helper_(helper) {}
    /// Queues `specific` (notify_master, ...) then `generic` (notify), those not empty, each
    /// with `args` as $1...
    void push(const std::string& specific, const std::string& generic,
              const std::vector<std::string>& args);

  private:
    void run_next();

    Helper& helper_;
    std::deque<std::vector<std::string>> queue_;  // command, then its arguments
    pid_t pid_ = 0;
};

/// A running vrrp_script: runs the script every interval (killed after timeout), counts
/// fall/rise, tells the helper when its verdict changes.
class ScriptTracker {
  public:
    ScriptTracker(Helper& helper, const ScriptConf& conf, std::string user);
    void start();
    bool ok() const { return ok_; }
    const ScriptConf& conf() const { return conf_; }

  private:
    void run();
    void done(int status);

    Helper& helper_;
    const ScriptConf& conf_;
    std::string user_;
    bool ok_ = true;  // as keepalived: good until proven otherwise
    int fails_ = 0, passes_ = 0;
    pid_t pid_ = 0;
    std::unique_ptr<ev::Timer> interval_timer_;
    std::unique_ptr<ev::Timer> timeout_timer_;
};

class Instance : public FsmListener {
  public:
    Instance(Helper& helper, const InstanceConf& conf, Slot& slot);
    ~Instance() override;

    const InstanceConf& conf() const { return conf_; }
    Slot& slot() { return slot_; }
    /// Resolves the interface and addresses, opens the sockets. False: logged, the instance
    /// does not run until a link change lets it (Helper::retry_setup); a sync group with it
    /// stays in Fault meanwhile.
    bool setup();
    /// Starts the state machine: `resume` the state a previous helper handed over (kMaster
    /// or kBackup with its VIPs in `old_vips`), or a fresh start (stale VIPs removed first).
    void start(std::optional<State> resume, std::optional<IpAddr> master);
    /// Trackers changed: recompute the effective priority and the fault state.
    void update();
    /// SIGTERM/-s quit: priority 0 if Master, VIPs removed, slot released in Initialize.
    void shutdown();
    /// Graceful stop: a master sends priority 0 but keeps its VIPs (the workers go on
    /// serving them) until it hears the new master's advert, then lingers leave_linger(),
    /// or until leave_wait() passes; then shutdown() and `done`. Anything else: shutdown()
    /// and `done` at once.
    void leave(std::function<void()> done);
    /// Reload: the slot keeps the state and the VIPs stay on the links for the next helper;
    /// from now on received adverts are ignored (no more transitions) but a master keeps
    /// advertising until the helper exits.
    void hand_over();
    /// The handover found no taker: the instance is ours again (then shutdown()).
    void take_back() {
        handed_over_ = false;
        slot_.owner = getpid();
    }
    State state() const { return fsm_ ? fsm_->state() : State::kInit; }
    /// Set up and started (an instance whose interface is missing is not).
    bool running() const { return fsm_ != nullptr; }
    bool wants_master() const { return fsm_ && fsm_->wants_master(); }
    /// vrrp_sync_group: joins `group` (before start()).
    void set_group(SyncGroup* group) { group_ = group; }
    /// vrrp_sync_group: another instance of the group became Master / left it for Backup.
    void follow_master();
    void follow_backup();

    // FsmListener
    void send_advert(uint8_t priority) override;
    void state_changed(State from, State to, Cause cause) override;
    bool may_become_master() override;

  private:
    void on_readable();
    void add_vips(bool garp_new_only, const std::vector<SlotVip>& present);
    void remove_vips();
    void send_garps();
    /// One gratuitous ARP (IPv4) or unsolicited neighbour advertisement (IPv6) for `addr`.
    bool announce(unsigned ifindex, const std::array<uint8_t, 6>& mac, const IpAddr& addr,
                  std::string& err);
    void store();
    /// Records in the slot which tracker changed (the status page's "tracker").
    void note_trackers(const std::vector<std::string>& now);

    Helper& helper_;
    const InstanceConf& conf_;
    Slot& slot_;
    unsigned ifindex_ = 0;
    IpAddr primary_;
    IpAddr src_;
    std::vector<unsigned> vip_ifindex_;  // per conf_.vips (0: device missing)
    std::unique_ptr<AdvertSocket> socket_;
    std::unique_ptr<ev::IoWatcher> watch_;
    std::unique_ptr<Fsm> fsm_;
    Expect expect_;
    bool vips_on_ = false;
    std::unique_ptr<ev::Timer> garp_timer_;
    std::unique_ptr<ev::Timer> garp_refresh_;
    int garp_rounds_ = 0;
    NotifyQueue notify_;
    SyncGroup* group_ = nullptr;
    uint64_t dropped_logged_ = 0;
    uint64_t inherited_transitions_;    // counted in this slot by the helpers before this one
    std::vector<std::string> failing_;  // the trackers failing at the last update()
    bool handed_over_ = false;
    // leave(): while waiting for the new master
    bool leaving_ = false;
    bool new_master_heard_ = false;
    int64_t leave_started_ms_ = 0;
    std::function<void()> left_;
    std::unique_ptr<ev::Timer> leave_resend_;    // priority 0 again every advert_int
    std::unique_ptr<ev::Timer> leave_deadline_;  // leave_wait(), then the linger
    void finish_leaving();
};

/// One vrrp_sync_group in the helper: its instances change state together (keepalived's
/// semantics). One in Fault puts all in Fault (Instance::update asks other_in_fault()); one
/// that leaves Master for Backup takes the others along; a backup becomes Master only when
/// every other instance is Master or wants to be, and then all become Master. The group's
/// own state (FAULT if one is, MASTER if all are, else BACKUP) runs its notify scripts
/// with "GROUP" NAME STATE.
class SyncGroup {
  public:
    SyncGroup(Helper& helper, const SyncGroupConf& conf)
        : helper_(helper), conf_(conf), notify_(helper) {}
    const SyncGroupConf& conf() const { return conf_; }
    void add(Instance& i) { members_.push_back(&i); }
    /// Another member cannot serve: its own trackers fail, or it could not be set up.
    bool other_in_fault(const Instance& self) const;
    /// Every other member is Master or wants to be.
    bool others_want_master(const Instance& self) const;
    /// A member changed state: the others follow it; the group's state and notify scripts.
    void member_changed(const Instance& who, State from, State to, Cause cause);
    /// Once its members have started (or one more could): when one is Master, the others
    /// follow (an owner that started as Master, an instance a reload added to a group).
    void settle();

  private:
    State derived() const;

    Helper& helper_;
    const SyncGroupConf& conf_;
    std::vector<Instance*> members_;
    State state_ = State::kInit;  // as last notified (kInit: not known yet)
    NotifyQueue notify_;
};

/// The helper process: owns the loop, the netlink sockets, the trackers and the instances.
class Helper : public Launcher {
  public:
    Helper(core::Cycle& cycle, const VrrpConf& conf, SharedState* shared, HelperSeams seams = {});
    ~Helper() override;
    int run();

    ev::Loop& loop() { return loop_; }
    /// The timers of the instances and trackers (the loop, or a fake clock in tests).
    ev::TimeSource& time() { return time_; }
    /// Interfaces, sockets, virtual IPs, gratuitous ARP.
    SystemIo& io() { return io_; }
    /// Runs the scripts (this helper, or a fake in tests).
    Launcher& launcher() { return launcher_; }
    const VrrpConf& conf() const { return conf_; }
    /// Whether interface `name` is up (as last seen).
    bool link_up(const std::string& name);
    const ScriptTracker* script(const std::string& name) const;
    /// A tracker changed: every instance recomputes.
    void trackers_changed();
    /// What the trackers of instance `c` say now (its own, not its sync group's).
    Tracking track(const InstanceConf& c);
    /// Removes the VIPs a slot records from their links (logging what cannot be removed) and
    /// empties its list: a crashed helper's leftovers, a removed or unstartable instance.
    void drop_slot_vips(Slot& slot);
    /// Runs `/bin/sh -c cmd` (with `args` as $1...) as `user`; `done(status)` on exit.
    pid_t spawn(const std::string& cmd, const std::vector<std::string>& args,
                const std::string& user, std::function<void(int)> done) override;
    const std::string& script_user() const { return *conf_.script_user; }
    /// track_workers: every worker of this cycle beat within `timeout`.
    bool workers_ok(Millis timeout) const {
        auto it = workers_ok_.find(timeout.count());
        return it == workers_ok_.end() || it->second;
    }
    /// track_upstream: some server of group `name` is usable (not down, not failed).
    bool upstream_ok(const std::string& name) const;

  private:
    friend class HelperTestPeer;  // tests/unit/modules/vrrp: trackers and slots without run()

    void reap();
    void stop(bool hand_over);
    void claim_slots();
    /// claim_slots' instance of `c` on `slot`, in its sync group, set up. One that cannot run
    /// drops `resume` and what the slot had up.
    std::unique_ptr<Instance> make_instance(const InstanceConf& c, Slot& slot,
                                            std::optional<State>& resume);
    /// A link changed: instances that could not be set up (their interface was missing)
    /// try again, and start when they can.
    void retry_setup();
    void poll_trackers();

    core::Cycle& cycle_;
    const VrrpConf& conf_;
    SharedState* shared_;
    SharedState local_{};  // when there is no zone (a Helper made without one, in tests)
    uint64_t generation_ = 0;
    ev::Loop loop_;
    Netlink netlink_;
    KernelIo kernel_io_{netlink_};
    SystemIo& io_;
    ev::TimeSource& time_;
    Launcher& launcher_;
    LinkMonitor links_;
    std::unique_ptr<ev::IoWatcher> links_watch_;
    std::map<std::string, bool> link_state_;
    std::vector<std::unique_ptr<ScriptTracker>> scripts_;
    std::vector<std::unique_ptr<SyncGroup>> groups_;  // before instances_: outlives them
    std::vector<std::unique_ptr<Instance>> instances_;
    std::vector<std::unique_ptr<ev::SignalWatcher>> signals_;
    std::map<pid_t, std::function<void(int)>> children_;
    bool stopping_ = false;
    size_t leaving_ = 0;                  // instances still handing their VIPs over on a stop
    std::map<int64_t, bool> workers_ok_;  // by track_workers timeout (ms)
    int64_t started_ms_ = 0;
    std::map<std::string, bool> upstream_ok_;
    std::unique_ptr<ev::Timer> poll_timer_;
    std::unique_ptr<ev::Timer> handover_timer_;
};

/// The config's fingerprints (stored in the slots).
uint64_t fingerprint(const InstanceConf& c);
uint64_t identity(const InstanceConf& c);

}  // namespace vrrp
