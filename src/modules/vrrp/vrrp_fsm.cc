#include "modules/vrrp/vrrp_fsm.h"

#include "core/named.h"

namespace vrrp {

namespace {
constexpr core::Named<State> kStateNames[] = {
    {"INIT", State::kInit},
    {"BACKUP", State::kBackup},
    {"MASTER", State::kMaster},
    {"FAULT", State::kFault},
};
}  // namespace

std::string_view state_name(State s) {
    return core::name_of<State>(kStateNames, s, "?");
}

std::string_view cause_text(Cause c) {
    switch (c) {
        case Cause::kStartup:
            return "startup";
        case Cause::kOwner:
            return "priority 255: address owner";
        case Cause::kMasterDown:
            return "no advertisement from a better master within Master_Down_Interval";
        case Cause::kPriorityZero:
            return "the master sent priority 0";
        case Cause::kHigherPriority:
            return "advertisement with a higher priority";
        case Cause::kHigherAddress:
            return "advertisement with an equal priority from a higher address";
        case Cause::kFault:
            return "fault";
        case Cause::kFaultCleared:
            return "fault cleared";
        case Cause::kShutdown:
            return "shutdown";
        case Cause::kResumed:
            return "state taken over from the previous vrrp process";
        case Cause::kSyncGroup:
            return "another instance of its vrrp_sync_group changed state";
    }
    return "?";
}

Fsm::Fsm(ev::TimeSource& time, const FsmConfig& config, FsmListener& out)
    : time_(time),
      config_(config),
      out_(out),
      priority_(config.priority),
      master_adver_int_(config.advert_int) {
    down_timer_ = time_.make_timer([this] { on_down_timer(); });
    adver_timer_ = time_.make_timer([this] { on_adver_timer(); });
}

Fsm::~Fsm() = default;

Millis Fsm::skew_time() const {
    if (config_.version == 2) {
        return Millis((256 - priority_) * 1000 / 256);
    }
    return Millis((256 - priority_) * master_adver_int_.count() / 256);
}

Millis Fsm::master_down_interval() const {
    return 3 * master_adver_int_ + skew_time();
}

bool Fsm::down_timer_armed() const {
    return down_timer_->armed();
}

void Fsm::stop_down_timer() {
    down_timer_->cancel();
}

bool Fsm::adver_timer_armed() const {
    return adver_timer_->armed();
}

void Fsm::enter(State to, Cause cause) {
    State from = state_;
    state_ = to;
    wants_master_ = false;
    if (cause != Cause::kResumed) {
        transitions_++;  // a helper taking an instance over after a reload changes nothing
    }
    out_.state_changed(from, to, cause);
}

void Fsm::become_master(Cause cause) {
    // RFC 5798 §6.4.1/§6.4.2: send an ADVERTISEMENT, broadcast gratuitous ARP (the listener
    // does, on the transition), arm Adver_Timer, enter Master.
    down_timer_->cancel();
    lower_since_.reset();
    master_ = config_.primary;
    out_.send_advert(priority_);
    adver_timer_->arm(config_.advert_int);
    enter(State::kMaster, cause);
}

void Fsm::become_backup(Cause cause, Millis down_after) {
    adver_timer_->cancel();
    down_timer_->arm(down_after);
    enter(State::kBackup, cause);
}

void Fsm::start() {
    if (state_ != State::kInit) {
        return;
    }
    master_adver_int_ = config_.advert_int;
    master_.reset();
    if (fault_) {
        enter(State::kFault, Cause::kFault);
    } else if (priority_ == kPriorityOwner) {
        become_master(Cause::kOwner);
    } else {
        become_backup(Cause::kStartup, master_down_interval());
    }
}

void Fsm::resume(State state, std::optional<IpAddr> master) {
    if (state_ != State::kInit) {
        return;
    }
    if (fault_) {
        enter(State::kFault, state == State::kFault ? Cause::kResumed : Cause::kFault);
    } else if (state == State::kMaster) {
        become_master(Cause::kResumed);
    } else if (state == State::kFault) {
        become_backup(Cause::kFaultCleared, master_down_interval());  // the new config cleared it
    } else {
        master_ = master;
        become_backup(Cause::kResumed, master_down_interval());
    }
}

void Fsm::on_down_timer() {
    if (state_ != State::kBackup) {
        return;
    }
    if (!out_.may_become_master()) {
        // A vrrp_sync_group holds us back: try again one Master_Down_Interval later, unless
        // the group's last instance to want Master pulls us along first (force_master()).
        wants_master_ = true;
        down_timer_->arm(master_down_interval());
        return;
    }
    // RFC 5798 §6.4.2: Master_Down_Timer fired -> Master. The cause is what armed it.
    become_master(master_down_from_zero_ ? Cause::kPriorityZero : Cause::kMasterDown);
}

void Fsm::force_master() {
    if (state_ == State::kBackup && !resigned_) {
        become_master(Cause::kSyncGroup);
    }
}

void Fsm::force_backup() {
    if (state_ == State::kMaster && !resigned_) {
        master_down_from_zero_ = false;
        master_.reset();  // not us any more, and the new master is not known yet
        become_backup(Cause::kSyncGroup, master_down_interval());
    }
}

void Fsm::on_adver_timer() {
    if (state_ == State::kMaster) {
        // RFC 5798 §6.4.3: send an ADVERTISEMENT, reset Adver_Timer.
        out_.send_advert(priority_);
        adver_timer_->arm(config_.advert_int);
    }
}

void Fsm::on_advert(const Advert& a, IpAddr src) {
    if (resigned_) {
        return;
    }
    if (state_ == State::kBackup) {
        if (a.priority == kPriorityStop) {
            // RFC 5798 §6.4.2: the master stops: Master_Down_Timer = Skew_Time.
            master_down_from_zero_ = true;
            down_timer_->arm(skew_time());
            return;
        }
        bool accept = !config_.preempt || a.priority >= priority_;
        if (!accept && config_.preempt_delay.count() > 0) {
            // keepalived's preempt_delay: a lower-priority master stays master until we have
            // seen it for preempt_delay.
            ev::TimePoint now = time_.now();
            if (!lower_since_) {
                lower_since_ = now;
            }
            accept = now - *lower_since_ < config_.preempt_delay;
        } else if (accept) {
            lower_since_.reset();
        }
        if (accept) {
            // RFC 5798 §6.4.2: (v3) Master_Adver_Interval = the advert's Max Adver Int;
            // Master_Down_Timer = Master_Down_Interval.
            if (config_.version == 3 && a.interval.count() > 0) {
                master_adver_int_ = a.interval;
            }
            master_ = src;
            master_down_from_zero_ = false;
            wants_master_ = false;
            down_timer_->arm(master_down_interval());
        }
        // Else: preempt, discard; Master_Down_Timer fires and we take over.
        return;
    }
    if (state_ == State::kMaster) {
        if (a.priority == kPriorityStop) {
            // RFC 5798 §6.4.3: send an ADVERTISEMENT at once, reset Adver_Timer.
            out_.send_advert(priority_);
            adver_timer_->arm(config_.advert_int);
            return;
        }
        bool higher = a.priority > priority_;
        bool equal_higher_addr = a.priority == priority_ && config_.primary < src;
        if (higher || equal_higher_addr) {
            // RFC 5798 §6.4.3: cancel Adver_Timer, learn the interval, arm
            // Master_Down_Timer, enter Backup.
            if (config_.version == 3 && a.interval.count() > 0) {
                master_adver_int_ = a.interval;
            }
            master_ = src;
            master_down_from_zero_ = false;
            become_backup(higher ? Cause::kHigherPriority : Cause::kHigherAddress,
                          master_down_interval());
        }
        // Else discard: our next advert makes the other router a backup.
    }
}

void Fsm::set_priority(uint8_t priority) {
    if (priority == priority_ || resigned_) {
        return;
    }
    priority_ = priority;
    if (state_ == State::kMaster) {
        out_.send_advert(priority_);
        adver_timer_->arm(config_.advert_int);
    }
}

void Fsm::set_fault(bool fault) {
    if (fault == fault_ || resigned_) {
        return;
    }
    fault_ = fault;
    if (fault) {
        if (state_ == State::kMaster) {
            out_.send_advert(kPriorityStop);  // as on shutdown: a backup takes over at once
        }
        if (state_ == State::kMaster || state_ == State::kBackup) {
            down_timer_->cancel();
            adver_timer_->cancel();
            master_.reset();
            enter(State::kFault, Cause::kFault);
        }
        return;
    }
    if (state_ == State::kFault) {
        master_adver_int_ = config_.advert_int;
        master_down_from_zero_ = false;
        become_backup(Cause::kFaultCleared, master_down_interval());
    }
}

void Fsm::shutdown() {
    down_timer_->cancel();
    adver_timer_->cancel();
    if (state_ == State::kInit) {
        return;
    }
    if (state_ == State::kMaster && !resigned_) {
        // RFC 5798 §6.4.3: send an ADVERTISEMENT with Priority = 0, then Initialize.
        out_.send_advert(kPriorityStop);
    }
    resigned_ = false;
    master_.reset();
    enter(State::kInit, Cause::kShutdown);
}

bool Fsm::resign() {
    if (state_ != State::kMaster || resigned_) {
        return false;
    }
    adver_timer_->cancel();
    out_.send_advert(kPriorityStop);
    resigned_ = true;
    return true;
}

}  // namespace vrrp
