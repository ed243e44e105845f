// One vrrp_instance inside the helper: its sockets, state machine, virtual IPs, gratuitous
// ARP, notify scripts; and the vrrp_script trackers.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "core/clock.h"
#include "core/log.h"
#include "core/process.h"
#include "modules/vrrp/vrrp_packet.h"
#include "modules/vrrp/vrrp_runtime.h"

namespace vrrp {

namespace {
constexpr uint64_t kDropLogLimit = 20;  // per instance: a misconfigured peer must not flood
}

// ---- ScriptTracker ----

ScriptTracker::ScriptTracker(Helper& helper, const ScriptConf& conf, std::string user)
    : helper_(helper), conf_(conf), user_(std::move(user)) {
    interval_timer_ = helper_.time().make_timer([this] { run(); });
    timeout_timer_ = helper_.time().make_timer([this] {
        if (pid_ > 0) {
            HALO_LOG(kWarn, "vrrp_script \"%s\" timed out after %lldms, killing it",
                     conf_.name.c_str(), static_cast<long long>(conf_.timeout.count()));
            kill(-pid_, SIGKILL);
        }
    });
}

void ScriptTracker::start() {
    run();
}

void ScriptTracker::run() {
    interval_timer_->arm(conf_.interval);
    if (pid_ > 0) {
        return;  // still running: its timeout kills it
    }
    pid_ = helper_.launcher().spawn(conf_.script, {}, user_, [this](int status) { done(status); });
    if (pid_ > 0) {
        timeout_timer_->arm(conf_.timeout);
    } else {
        done(-1);
    }
}

void ScriptTracker::done(int status) {
    pid_ = 0;
    timeout_timer_->cancel();
    bool pass = status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (pass) {
        passes_++;
        fails_ = 0;
    } else {
        fails_++;
        passes_ = 0;
    }
    bool was = ok_;
    if (ok_ && fails_ >= conf_.fall) {
        ok_ = false;
    } else if (!ok_ && passes_ >= conf_.rise) {
        ok_ = true;
    }
    if (was != ok_) {
        HALO_LOG(kNotice, "vrrp_script \"%s\" is now %s", conf_.name.c_str(),
                 ok_ ? "OK" : "failing");
        helper_.trackers_changed();
    }
}

// ---- NotifyQueue ----

void NotifyQueue::push(const std::string& specific, const std::string& generic,
                       const std::vector<std::string>& args) {
    for (const std::string* s : {&specific, &generic}) {
        if (!s->empty()) {
            std::vector<std::string> item = {*s};
            item.insert(item.end(), args.begin(), args.end());
            queue_.push_back(std::move(item));
        }
    }
    run_next();
}

void NotifyQueue::run_next() {
    while (pid_ == 0 && !queue_.empty()) {
        std::vector<std::string> item = std::move(queue_.front());
        queue_.pop_front();
        std::string cmd = item[0];
        item.erase(item.begin());
        pid_ = helper_.launcher().spawn(cmd, item, helper_.script_user(), [this](int) {
            pid_ = 0;
            run_next();
        });
        if (pid_ < 0) {
            pid_ = 0;
        }
    }
}

// ---- Instance ----

Instance::Instance(Helper& helper, const InstanceConf& conf, Slot& slot)
    : helper_(helper),
      conf_(conf),
      slot_(slot),
      notify_(helper),
      inherited_transitions_(slot.transitions) {
    garp_timer_ = helper_.time().make_timer([this] { send_garps(); });
    garp_refresh_ = helper_.time().make_timer([this] {
        if (state() == State::kMaster) {
            garp_rounds_ = 1;
            send_garps();
            garp_refresh_->arm(conf_.garp_master_refresh);
        }
    });
}

Instance::~Instance() = default;

bool Instance::setup() {
    ifindex_ = helper_.io().if_index(conf_.interface);
    if (ifindex_ == 0) {
        HALO_LOG(kError, "vrrp_instance \"%s\": no interface \"%s\"", conf_.name.c_str(),
                 conf_.interface.c_str());
        return false;
    }
    std::vector<IpAddr> vips;
    std::vector<IpAddr> advertised;
    vip_ifindex_.clear();
    for (const VirtualIp& v : conf_.vips) {
        vips.push_back(v.addr);
        if (!v.excluded) {
            advertised.push_back(v.addr);
        }
        unsigned idx = v.dev.empty() ? ifindex_ : helper_.io().if_index(v.dev);
        if (idx == 0) {
            HALO_LOG(kError, "vrrp_instance \"%s\": no interface \"%s\" for %s", conf_.name.c_str(),
                     v.dev.c_str(), v.text().c_str());
        }
        vip_ifindex_.push_back(idx);
    }
    auto primary = helper_.io().primary_address(conf_.interface, conf_.ipv6 ? 6 : 4, vips);
    if (!primary) {
        HALO_LOG(
            kError, "vrrp_instance \"%s\": interface \"%s\" has no %s address%s",
            conf_.name.c_str(), conf_.interface.c_str(), conf_.ipv6 ? "IPv6 link-local" : "IPv4",
            conf_.ipv6 ? " (or it is tentative: duplicate address detection is not done)" : "");
        return false;
    }
    primary_ = *primary;
    src_ = conf_.unicast_src ? *conf_.unicast_src : primary_;
    std::string err;
    socket_ =
        helper_.io().open_socket(conf_.interface, ifindex_, src_, conf_.unicast_peers.empty(), err);
    if (!socket_) {
        HALO_LOG(kError, "vrrp_instance \"%s\": %s", conf_.name.c_str(), err.c_str());
        return false;
    }
    watch_ = helper_.loop().make_io(socket_->recv_fd(), ev::kRead, false,
                                    [this](uint32_t) { on_readable(); });
    watch_->enable();
    expect_.version = conf_.version;
    expect_.vrid = static_cast<uint8_t>(conf_.vrid);
    expect_.priority = static_cast<uint8_t>(conf_.priority);
    expect_.interval = conf_.advert_int;
    expect_.auth_pass = conf_.auth_pass;
    expect_.addrs = advertised;

    FsmConfig fc;
    fc.version = conf_.version;
    fc.priority = static_cast<uint8_t>(conf_.priority);
    fc.advert_int = conf_.advert_int;
    fc.preempt = conf_.preempt;
    fc.preempt_delay = conf_.preempt_delay;
    fc.primary = src_;
    fsm_ = std::make_unique<Fsm>(helper_.time(), fc, *this);
    return true;
}

void Instance::start(std::optional<State> resume, std::optional<IpAddr> master) {
    if (!fsm_) {
        return;
    }
    // What the previous helper had up, read before anything stores this instance's state.
    std::vector<SlotVip> present(slot_.vips,
                                 slot_.vips + std::min<size_t>(slot_.vip_count, kMaxSlotVips));
    update();  // trackers first: a failing tracker starts the instance in Fault
    if (resume && *resume == State::kFault) {
        vips_on_ = false;  // a helper in Fault had none up
        fsm_->resume(*resume, std::nullopt);
        return;
    }
    if (resume && (*resume == State::kMaster || *resume == State::kBackup)) {
        vips_on_ = *resume == State::kMaster;
        if (vips_on_) {
            add_vips(true, present);  // only what this config added gets gratuitous ARP
        }
        fsm_->resume(*resume, master);
        return;
    }
    // A fresh start: remove what a crashed predecessor may have left (DESIGN pitfalls: two
    // hosts would answer for the VIP).
    vips_on_ = true;
    remove_vips();
    fsm_->start();
}

void Instance::update() {
    if (!fsm_ || handed_over_ || leaving_) {
        return;
    }
    Tracking t = helper_.track(conf_);
    note_trackers(t.failing);
    int prio = conf_.priority;
    if (prio != kPriorityOwner) {
        prio = std::clamp(prio + t.weight, 1, 254);
    }
    fsm_->set_priority(static_cast<uint8_t>(prio));
    fsm_->set_fault(t.fault || (group_ != nullptr && group_->other_in_fault(*this)));
    store();
}

namespace {
/// Copies `s` into `out` (NUL-terminated), cut to fit.
template <size_t N>
void copy_cut(char (&out)[N], std::string_view s) {
    size_t n = std::min(s.size(), N - 1);
    memcpy(out, s.data(), n);
    out[n] = '\0';
}
}  // namespace

void Instance::note_trackers(const std::vector<std::string>& now) {
    if (now == failing_) {
        return;
    }
    // The last tracker that changed: one that failed since the last look, else one that
    // recovered (several at once: the first in config order).
    std::string what;
    for (const std::string& n : now) {
        if (what.empty() && std::find(failing_.begin(), failing_.end(), n) == failing_.end()) {
            what = n + " failed";
        }
    }
    for (const std::string& n : failing_) {
        if (what.empty() && std::find(now.begin(), now.end(), n) == now.end()) {
            what = n + " recovered";
        }
    }
    failing_ = now;
    if (handed_over_) {
        return;
    }
    copy_cut(slot_.tracker, what);
    std::string list;
    for (const std::string& n : now) {
        list += list.empty() ? "" : ",";
        list += n;
    }
    copy_cut(slot_.failing, list);
}

bool Instance::may_become_master() {
    if (group_ == nullptr || group_->others_want_master(*this)) {
        return true;
    }
    if (!fsm_->wants_master()) {
        HALO_LOG(kNotice,
                 "vrrp_instance \"%s\" would become MASTER, waits for the other instances of "
                 "vrrp_sync_group \"%s\"",
                 conf_.name.c_str(), group_->conf().name.c_str());
    }
    return false;
}

void Instance::follow_master() {
    if (fsm_ && !handed_over_ && !leaving_) {
        fsm_->force_master();
    }
}

void Instance::follow_backup() {
    if (fsm_ && !handed_over_ && !leaving_) {
        fsm_->force_backup();
    }
}

void Instance::send_advert(uint8_t priority) {
    Advert a;
    a.version = conf_.version;
    a.vrid = static_cast<uint8_t>(conf_.vrid);
    a.priority = priority;
    a.interval = conf_.advert_int;
    if (conf_.auth_pass) {
        a.auth_type = kAuthPass;
        a.auth_data = pass_data(*conf_.auth_pass);
    }
    for (const VirtualIp& v : conf_.vips) {
        if (!v.excluded) {
            a.addrs.push_back(v.addr);
        }
    }
    std::string err;
    if (conf_.unicast_peers.empty()) {
        const IpAddr& group = conf_.ipv6 ? kMulticastGroup6 : kMulticastGroup;
        if (!socket_->send(encode(a, src_, group), group, err)) {
            HALO_LOG(kError, "vrrp_instance \"%s\": %s", conf_.name.c_str(), err.c_str());
        }
        return;
    }
    for (IpAddr peer : conf_.unicast_peers) {
        if (!socket_->send(encode(a, src_, peer), peer, err)) {
            HALO_LOG(kError, "vrrp_instance \"%s\": %s", conf_.name.c_str(), err.c_str());
        }
    }
}

void Instance::state_changed(State from, State to, Cause cause) {
    HALO_LOG(kNotice, "vrrp_instance \"%s\" %s -> %s (%s), priority %d", conf_.name.c_str(),
             std::string(state_name(from)).c_str(), std::string(state_name(to)).c_str(),
             std::string(cause_text(cause)).c_str(), static_cast<int>(fsm_->priority()));
    if (to == State::kMaster) {
        if (cause != Cause::kResumed) {
            add_vips(false, {});
        }
        garp_rounds_ = conf_.garp_master_delay.count() > 0 ? 2 : 1;
        if (cause != Cause::kResumed) {
            send_garps();  // RFC 5798 §6.4.2: at once; again after garp_master_delay
        }
        if (conf_.garp_master_refresh.count() > 0) {
            garp_refresh_->arm(conf_.garp_master_refresh);
        }
    } else if (from == State::kMaster || vips_on_) {
        // Leaving Master, or resumed with the VIPs up straight into Fault.
        garp_timer_->cancel();
        garp_refresh_->cancel();
        remove_vips();
    }
    if (cause != Cause::kResumed && to != State::kInit) {
        const std::string& specific = to == State::kMaster   ? conf_.notify_master
                                      : to == State::kBackup ? conf_.notify_backup
                                                             : conf_.notify_fault;
        notify_.push(specific, conf_.notify,
                     {"INSTANCE", conf_.name, std::string(state_name(to)),
                      std::to_string(fsm_->priority())});
    }
    if (cause != Cause::kResumed && !handed_over_) {
        slot_.last_change_ms = core::unix_ms();
    }
    store();
    if (group_ != nullptr) {
        group_->member_changed(*this, from, to, cause);
    }
}

void Instance::on_readable() {
    uint8_t buf[2048];
    for (;;) {
        ssize_t n = socket_->receive(buf);
        if (n <= 0) {
            return;
        }
        Received r;
        DecodeError e =
            decode(std::span<const uint8_t>(buf, static_cast<size_t>(n)), conf_.version, r);
        if (e != DecodeError::kOk) {
            if (e != DecodeError::kBadVersion && dropped_logged_++ < kDropLogLimit) {
                HALO_LOG(kInfo, "vrrp_instance \"%s\": dropped a packet from %s: %s",
                         conf_.name.c_str(), r.src.text().c_str(),
                         std::string(decode_error_text(e)).c_str());
            }
            continue;
        }
        if (r.src == src_ || r.src == primary_) {
            continue;  // our own (unicast to ourselves, or a looped copy)
        }
        if (!conf_.unicast_peers.empty() &&
            std::find(conf_.unicast_peers.begin(), conf_.unicast_peers.end(), r.src) ==
                conf_.unicast_peers.end()) {
            continue;
        }
        Verdict v = check(r.advert, expect_);
        if (v == Verdict::kOtherRouter) {
            continue;
        }
        if (v != Verdict::kAccept && dropped_logged_++ < kDropLogLimit) {
            HALO_LOG(kWarn, "vrrp_instance \"%s\": advertisement from %s (priority %d): %s",
                     conf_.name.c_str(), r.src.text().c_str(), static_cast<int>(r.advert.priority),
                     std::string(verdict_text(v)).c_str());
        }
        if (leaving_ && !new_master_heard_ &&
            (v == Verdict::kAccept || v == Verdict::kAcceptMismatch) &&
            r.advert.priority != kPriorityStop) {
            new_master_heard_ = true;
            HALO_LOG(kNotice,
                     "vrrp_instance \"%s\": new master %s heard %lldms after priority 0, "
                     "removing the addresses in %lldms",
                     conf_.name.c_str(), r.src.text().c_str(),
                     static_cast<long long>(core::steady_ms() - leave_started_ms_),
                     static_cast<long long>(leave_linger(conf_).count()));
            leave_resend_->cancel();
            leave_deadline_->arm(leave_linger(conf_));  // re-armed: the linger
            continue;
        }
        if ((v == Verdict::kAccept || v == Verdict::kAcceptMismatch) && !handed_over_ &&
            !leaving_) {
            fsm_->on_advert(r.advert, r.src);
            store();
        }
    }
}

void Instance::add_vips(bool garp_new_only, const std::vector<SlotVip>& present) {
    std::string err;
    auto mac = helper_.io().hw_address(conf_.interface);
    for (size_t i = 0; i < conf_.vips.size(); i++) {
        const VirtualIp& v = conf_.vips[i];
        if (vip_ifindex_[i] == 0) {
            continue;
        }
        if (!helper_.io().add_address(vip_ifindex_[i], v.addr, v.prefix, v.dad, err)) {
            HALO_LOG(kError, "vrrp_instance \"%s\": cannot add %s: %s", conf_.name.c_str(),
                     v.text().c_str(), err.c_str());
            continue;
        }
        bool was = std::any_of(present.begin(), present.end(), [&](const SlotVip& p) {
            return p.addr == v.addr && p.ifindex == vip_ifindex_[i];
        });
        if (garp_new_only && !was && mac) {
            announce(vip_ifindex_[i], *mac, v.addr, err);
        }
    }
    // A reload that dropped addresses (or moved them to another device): remove those the
    // previous config had up.
    for (const SlotVip& old : present) {
        bool kept = false;
        for (size_t i = 0; i < conf_.vips.size(); i++) {
            kept = kept || (conf_.vips[i].addr == old.addr && vip_ifindex_[i] == old.ifindex);
        }
        if (!kept && !helper_.io().del_address(old.ifindex, old.addr, old.prefix, err)) {
            HALO_LOG(kError, "vrrp_instance \"%s\": cannot remove %s: %s", conf_.name.c_str(),
                     old.addr.text().c_str(), err.c_str());
        }
    }
    vips_on_ = true;
    store();
}

void Instance::remove_vips() {
    if (!vips_on_) {
        return;
    }
    std::string err;
    for (size_t i = 0; i < conf_.vips.size(); i++) {
        if (vip_ifindex_[i] != 0 && !helper_.io().del_address(vip_ifindex_[i], conf_.vips[i].addr,
                                                              conf_.vips[i].prefix, err)) {
            HALO_LOG(kError, "vrrp_instance \"%s\": cannot remove %s: %s", conf_.name.c_str(),
                     conf_.vips[i].text().c_str(), err.c_str());
        }
    }
    vips_on_ = false;
    store();
}

bool Instance::announce(unsigned ifindex, const std::array<uint8_t, 6>& mac, const IpAddr& addr,
                        std::string& err) {
    // RFC 5798 §6.4.2: gratuitous ARP for each IPv4 address, an unsolicited neighbour
    // advertisement for each IPv6 one (excluded addresses too: they move with the instance).
    return addr.is_v6() ? helper_.io().send_unsolicited_na(ifindex, mac, addr, err)
                        : helper_.io().send_gratuitous_arp(ifindex, mac, addr, err);
}

void Instance::send_garps() {
    if (state() != State::kMaster) {
        return;
    }
    auto mac = helper_.io().hw_address(conf_.interface);
    if (!mac) {
        return;
    }
    std::string err;
    for (int r = 0; r < conf_.garp_master_repeat; r++) {
        for (size_t i = 0; i < conf_.vips.size(); i++) {
            if (vip_ifindex_[i] != 0 && !announce(vip_ifindex_[i], *mac, conf_.vips[i].addr, err) &&
                r == 0) {
                HALO_LOG(kError, "vrrp_instance \"%s\": %s", conf_.name.c_str(), err.c_str());
            }
        }
    }
    if (--garp_rounds_ > 0) {
        garp_timer_->arm(conf_.garp_master_delay);
    }
}

void Instance::shutdown() {
    if (fsm_) {
        fsm_->shutdown();  // priority 0 when Master; state_changed removes the VIPs
    }
    remove_vips();
    slot_.owner = 0;
    slot_.state = static_cast<uint8_t>(State::kInit);
    slot_.vip_count = 0;
}

void Instance::leave(std::function<void()> done) {
    if (!fsm_ || handed_over_ || !fsm_->resign()) {
        shutdown();
        done();
        return;
    }
    leaving_ = true;
    new_master_heard_ = false;
    left_ = std::move(done);
    leave_started_ms_ = core::steady_ms();
    garp_timer_->cancel();
    garp_refresh_->cancel();
    HALO_LOG(kNotice,
             "vrrp_instance \"%s\" sent priority 0, keeps its addresses until a new master is "
             "heard (at most %lldms)",
             conf_.name.c_str(), static_cast<long long>(leave_wait(conf_).count()));
    // Priority 0 again every advert_int: a backup that lost the first one still takes over
    // after its Skew_Time, and a backup that already did answers at once (RFC 5798 §6.4.3).
    leave_resend_ = helper_.time().make_timer([this] {
        send_advert(kPriorityStop);
        leave_resend_->arm(conf_.advert_int);
    });
    leave_resend_->arm(conf_.advert_int);
    leave_deadline_ = helper_.time().make_timer([this] {
        if (new_master_heard_) {
            finish_leaving();
            return;
        }
        HALO_LOG(kWarn, "vrrp_instance \"%s\": no new master heard within %lldms",
                 conf_.name.c_str(), static_cast<long long>(leave_wait(conf_).count()));
        finish_leaving();
    });
    leave_deadline_->arm(leave_wait(conf_));
}

void Instance::finish_leaving() {
    leaving_ = false;
    leave_resend_->cancel();
    leave_deadline_->cancel();
    shutdown();
    auto done = std::move(left_);
    if (done) {
        done();
    }
}

void Instance::hand_over() {
    garp_timer_->cancel();
    garp_refresh_->cancel();
    if (fsm_ && fsm_->state() != State::kMaster) {
        fsm_->stop_down_timer();  // a backup must not take over while the next helper starts
    }
    store();
    handed_over_ = true;
    slot_.owner = 0;
}

void Instance::store() {
    if (handed_over_) {
        return;  // the slot belongs to the next helper now
    }
    slot_.state = static_cast<uint8_t>(state());
    slot_.priority = fsm_ ? fsm_->priority() : 0;
    slot_.base_priority = static_cast<uint8_t>(conf_.priority);
    auto m = fsm_ ? fsm_->master() : std::nullopt;
    slot_.master = m ? *m : IpAddr{};
    slot_.transitions = inherited_transitions_ + (fsm_ ? fsm_->transitions() : 0);
    slot_.vip_count = 0;
    if (vips_on_) {
        for (size_t i = 0; i < conf_.vips.size() && i < kMaxSlotVips; i++) {
            slot_.vips[i].addr = conf_.vips[i].addr;
            slot_.vips[i].ifindex = vip_ifindex_.size() > i ? vip_ifindex_[i] : 0;
            slot_.vips[i].prefix = conf_.vips[i].prefix;
            slot_.vip_count++;
        }
    }
}

}  // namespace vrrp
