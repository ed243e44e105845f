#pragma once

// The VRRP state machine of one virtual router (RFC 5798 §6.4, RFC 3768 §6.4) plus
// keepalived's Fault state, as a pure component: its inputs are validated adverts, its two
// timers (from an injected ev::TimeSource), priority changes and fault changes; its outputs
// go to a listener (send an advert, the state changed). No sockets, no addresses on links:
// the helper does those in the listener. Unit-tested with a fake clock.

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "event/loop.h"
#include "modules/vrrp/vrrp_conf.h"
#include "modules/vrrp/vrrp_packet.h"

namespace vrrp {

enum class State : uint8_t { kInit, kBackup, kMaster, kFault };
std::string_view state_name(State s);  // "INIT", "BACKUP", "MASTER", "FAULT"

/// Why a transition happened (logged with it).
enum class Cause : uint8_t {
    kStartup,         // Initialize -> Backup
    kOwner,           // Initialize -> Master: priority 255 (RFC 5798 §6.4.1)
    kMasterDown,      // Master_Down_Timer fired: no (better) master heard
    kPriorityZero,    // the master sent priority 0: took over after Skew_Time
    kHigherPriority,  // Master -> Backup: an advert with a higher priority
    kHigherAddress,   // Master -> Backup: equal priority, higher primary address
    kFault,           // a tracker failed (interface down, track ... fault)
    kFaultCleared,    // Fault -> Backup
    kShutdown,        // -> Initialize (priority 0 sent when Master)
    kResumed,         // state taken over from the previous helper (reload)
    kSyncGroup,       // another instance of its vrrp_sync_group changed state
};
std::string_view cause_text(Cause c);

/// Where the state machine's actions go.
class FsmListener {
  public:
    virtual ~FsmListener() = default;
    /// Send one advertisement with `priority` (the effective one, or 0 on shutdown).
    virtual void send_advert(uint8_t priority) = 0;
    /// Called after every transition, the state machine already in `to`.
    virtual void state_changed(State from, State to, Cause cause) = 0;
    /// Master_Down_Timer fired: may this backup become Master now? A vrrp_sync_group says
    /// no until every other instance of the group wants Master too (keepalived: prefer
    /// Backup over thrashing); the timer is then re-armed and wants_master() is true.
    virtual bool may_become_master() { return true; }
};

struct FsmConfig {
    int version = 3;
    uint8_t priority = kPriorityDefault;  // the effective priority at start
    Millis advert_int{1000};              // Advertisement_Interval
    bool preempt = true;                  // Preempt_Mode
    Millis preempt_delay{0};              // keepalived: wait this long before preempting
    IpAddr primary;                       // our primary address (for equal priorities)
};

class Fsm {
  public:
    Fsm(ev::TimeSource& time, const FsmConfig& config, FsmListener& out);
    ~Fsm();
    Fsm(const Fsm&) = delete;
    Fsm& operator=(const Fsm&) = delete;

    /// RFC 5798 §6.4.1 Startup: Master at once when the priority is 255, else Backup with
    /// Master_Down_Timer armed. Fault instead when a fault is pending.
    void start();
    /// Takes over the state a previous helper left (reload): Master goes on advertising
    /// (one advert at once), Backup arms Master_Down_Timer, Fault stays while a fault is
    /// pending (else Backup, cause kFaultCleared). Cause kResumed.
    void resume(State state, std::optional<IpAddr> master);
    /// An advertisement for this virtual router that passed decode() and check().
    void on_advert(const Advert& advert, IpAddr src);
    /// The effective priority changed (tracking weights). A master advertises it at once.
    void set_priority(uint8_t priority);
    /// Enter (true) or leave (false) Fault. A master entering Fault sends priority 0.
    void set_fault(bool fault);
    /// RFC 5798 §6.4.2-3 Shutdown: a master sends priority 0; every state goes to Initialize.
    void shutdown();
    /// A graceful stop of a master: sends priority 0 (the best backup takes over after its
    /// Skew_Time) and stops advertising and reacting to adverts, but stays Master so that the
    /// caller keeps its VIPs until it hears the new master; shutdown() then sends no second
    /// priority 0. Returns false (nothing done) when not Master.
    bool resign();
    bool resigned() const { return resigned_; }
    /// Cancels Master_Down_Timer: a backup handed over to the next helper stays a backup.
    void stop_down_timer();
    /// vrrp_sync_group: another instance of the group became Master (a Backup follows it,
    /// cause kSyncGroup), or left Master for Backup (a Master follows it). Else nothing.
    void force_master();
    void force_backup();
    /// A backup whose Master_Down_Timer fired while may_become_master() said no, and that
    /// has not heard a master since.
    bool wants_master() const { return wants_master_; }

    State state() const { return state_; }
    uint8_t priority() const { return priority_; }
    /// The current master's address (ours when Master; unknown before any advert).
    std::optional<IpAddr> master() const { return master_; }
    uint64_t transitions() const { return transitions_; }
    Millis master_adver_interval() const { return master_adver_int_; }
    /// RFC 5798 §6.1: Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256 (v3);
    /// RFC 3768 §6.1: Skew_Time = (256 - Priority) / 256 seconds (v2).
    Millis skew_time() const;
    /// Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time.
    Millis master_down_interval() const;
    bool down_timer_armed() const;
    bool adver_timer_armed() const;

  private:
    void enter(State to, Cause cause);
    void become_master(Cause cause);
    void become_backup(Cause cause, Millis down_after);
    void on_down_timer();
    void on_adver_timer();

    ev::TimeSource& time_;
    FsmConfig config_;
    FsmListener& out_;
    State state_ = State::kInit;
    uint8_t priority_;
    bool fault_ = false;
    Millis master_adver_int_;
    std::optional<IpAddr> master_;
    std::optional<ev::TimePoint> lower_since_;  // preempt_delay: first lower-priority advert
    bool master_down_from_zero_ = false;        // Master_Down_Timer armed with Skew_Time (prio 0)
    bool resigned_ = false;                     // resign(): priority 0 sent, still Master
    bool wants_master_ = false;
    uint64_t transitions_ = 0;
    std::unique_ptr<ev::Timer> down_timer_;   // Master_Down_Timer
    std::unique_ptr<ev::Timer> adver_timer_;  // Adver_Timer
};

}  // namespace vrrp
