// The anycast helper process: setup from the module's postconfiguration (shared zone, helper
// spec), the helper's loop (trackers polled every kTrackerPoll, addresses put on or taken off
// the announcing interface), the graceful stop (withdraw, drain, stop) and the reload
// handover (the next helper joins the same TUN device before this one leaves).
#include "modules/anycast/anycast_helper.h"

#include <net/if.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <memory>

#include "core/clock.h"
#include "core/log.h"
#include "core/shm.h"
#include "core/sys.h"
#include "event/loop.h"
#include "event/runtime.h"
#include "modules/anycast/anycast_net.h"
#include "modules/vrrp/vrrp_io.h"
#include "modules/vrrp/vrrp_privs.h"
#include "upstream/upstream.h"

namespace anycast {

namespace {

constexpr size_t kZoneSize = 64 * 1024;
const char kZoneTag = 0;
/// How long a helper replaced by a reload waits for the next one to join the device.
constexpr Millis kHandoverWait{3000};

SharedState* g_shared = nullptr;  // set in the master by the zone's init; inherited by fork

int64_t unix_ms() {
    return std::chrono::duration_cast<Millis>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string ip_text(uint32_t addr) {
    return vrrp::IpAddr::from_v4(addr).text();
}

class Helper {
  public:
    Helper(core::Cycle& cycle, const AnycastConf& conf, SharedState* shared, TunDevice& tun)
        : cycle_(cycle), conf_(conf), shared_(*shared), tun_(tun) {}

    int run() {
        signals_.push_back(loop_.make_signal(SIGTERM, [this] { stop(Millis(0)); }));
        signals_.push_back(loop_.make_signal(SIGINT, [this] { stop(Millis(0)); }));
        signals_.push_back(loop_.make_signal(SIGQUIT, [this] {
            // A reload replaced us when the generation moved on; else this is `-s quit`.
            if (shared_.generation != generation_) {
                hand_over();
            } else {
                stop(conf_.drain_timeout);
            }
        }));
        signals_.push_back(loop_.make_signal(SIGHUP, [] {}));
        signals_.push_back(
            loop_.make_signal(SIGUSR1, [this] { cycle_.reopen_files(static_cast<uid_t>(-1)); }));
        signal(SIGPIPE, SIG_IGN);
        core::unblock_signals();

        std::string err;
        if (!netlink_.open(err) || !tun_.set_up(err)) {
            HALO_LOG(kEmerg, "anycast: %s", err.c_str());
            return core::kFatalChildExit;
        }
        ifindex_ = if_nametoindex(conf_.interface.c_str());
        if (ifindex_ == 0) {
            HALO_LOG(kEmerg, "anycast: interface \"%s\" is gone", conf_.interface.c_str());
            return core::kFatalChildExit;
        }
        generation_ = shared_.generation;
        // The service addresses are the node's own whether announced or not (local routes,
        // not seen by the routing daemon): a connection that arrives while the route is
        // being withdrawn is still accepted.
        for (uint32_t a : conf_.addresses) {
            if (!set_local_route(true, a, err)) {
                HALO_LOG(kEmerg, "anycast: %s: %s", ip_text(a).c_str(), err.c_str());
                return core::kFatalChildExit;
            }
        }
        drop_stale();
        shared_.owner = getpid();
        started_ms_ = core::steady_ms();
        for (const TrackedUpstream& t : conf_.track_upstreams) {
            upstream_ok_.emplace_back(t.name, true);
        }
        poll_timer_ = loop_.make_timer([this] { poll(); });
        poll();
        loop_.run();
        return 0;
    }

  private:
    /// Addresses a previous helper held that this config no longer has.
    void drop_stale() {
        std::string err;
        for (uint32_t i = 0; i < shared_.held_count && i < kMaxAddresses; i++) {
            uint32_t a = shared_.held[i];
            if (std::find(conf_.addresses.begin(), conf_.addresses.end(), a) !=
                conf_.addresses.end()) {
                continue;
            }
            if (!netlink_.del_address(ifindex_, vrrp::IpAddr::from_v4(a), 32, err) ||
                !set_local_route(false, a, err)) {
                HALO_LOG(kError, "anycast: removing %s: %s", ip_text(a).c_str(), err.c_str());
            }
            HALO_LOG(kNotice, "anycast: %s removed from the configuration", ip_text(a).c_str());
        }
        shared_.held_count = static_cast<uint32_t>(conf_.addresses.size());
        std::copy(conf_.addresses.begin(), conf_.addresses.end(), shared_.held);
    }

    void poll() {
        poll_timer_->arm(kTrackerPoll);
        int64_t now = core::steady_ms();
        std::vector<std::string> failed;
        for (auto& [name, was] : upstream_ok_) {
            const upstream::Group* g = upstream::find_group(cycle_, name);
            bool ok = g != nullptr && g->any_healthy(now);
            if (ok != was) {
                HALO_LOG(kNotice, "anycast: track_upstream %s: %s", name.c_str(),
                         ok ? "a server is usable again" : "no usable server");
                was = ok;
            }
            if (!ok) {
                failed.push_back(name);
            }
        }
        std::optional<Millis> oldest;
        if (conf_.track_workers) {
            // A worker that has not beaten since this helper started is still coming up:
            // judged only after kWorkerStartGrace (as the vrrp helper does).
            bool starting = now - started_ms_ <= kWorkerStartGrace.count();
            int64_t age = 0;
            for (int w = 0; w < cycle_.worker_count() && static_cast<size_t>(w) < kMaxWorkers;
                 w++) {
                int64_t beat = shared_.workers[w].beat_ms;
                if (starting && beat < started_ms_) {
                    continue;
                }
                age = std::max(age, now - beat);
            }
            oldest = Millis(age);
        }
        set_state(verdict(conf_, failed, oldest));
    }

    /// Announces (`reason` empty) or withdraws the addresses.
    void set_state(const std::string& reason) {
        auto want = reason.empty() ? ServiceState::kAnnounced : ServiceState::kWithdrawn;
        if (want == state_ && reason == reason_) {
            return;
        }
        std::string err;
        bool ok = true;
        for (uint32_t a : conf_.addresses) {
            bool done = want == ServiceState::kAnnounced
                            ? netlink_.add_address(ifindex_, vrrp::IpAddr::from_v4(a), 32, err)
                            : netlink_.del_address(ifindex_, vrrp::IpAddr::from_v4(a), 32, err);
            if (!done) {
                HALO_LOG(kError, "anycast: %s on \"%s\": %s", ip_text(a).c_str(),
                         conf_.interface.c_str(), err.c_str());
                ok = false;
            }
        }
        if (!ok && want == ServiceState::kAnnounced) {
            return;  // tried again at the next poll
        }
        if (want != state_) {
            HALO_LOG(kNotice, "anycast: %s %s%s%s", conf_.address_text[0].c_str(),
                     want == ServiceState::kAnnounced ? "announced on " : "withdrawn from ",
                     conf_.interface.c_str(), reason.empty() ? "" : (" (" + reason + ")").c_str());
            shared_.transitions++;
            shared_.last_change_ms = unix_ms();
        }
        state_ = want;
        reason_ = reason;
        shared_.state = static_cast<uint8_t>(want);
        snprintf(shared_.reason, sizeof(shared_.reason), "%s", reason.c_str());
    }

    /// `-s quit` (drain = drain_timeout) or `-s stop` (0): withdraw at once, keep the
    /// addresses local while the routers forget the route and the requests on their way
    /// finish, then remove them and exit (the master then stops the workers).
    void stop(Millis drain) {
        if (stopping_) {
            if (drain.count() == 0 && drain_timer_) {
                finish();  // SIGTERM after SIGQUIT: no more waiting
            }
            return;
        }
        stopping_ = true;
        poll_timer_.reset();
        set_state("stopping");
        tun_.close();  // the device goes away once no helper holds it
        HALO_LOG(kNotice, "anycast: draining for %lldms", static_cast<long long>(drain.count()));
        drain_timer_ = loop_.make_timer([this] { finish(); });
        drain_timer_->arm(drain);
    }

    void finish() {
        std::string err;
        for (uint32_t a : conf_.addresses) {
            if (!set_local_route(false, a, err)) {
                HALO_LOG(kError, "anycast: %s: %s", ip_text(a).c_str(), err.c_str());
            }
        }
        shared_.held_count = 0;
        if (shared_.owner == getpid()) {
            shared_.owner = 0;
        }
        HALO_LOG(kNotice, "anycast helper exits");
        loop_.exit();
    }

    /// Reload: the next helper runs the block; this one leaves the device and the addresses
    /// as they are once the next one has joined the device (or after kHandoverWait).
    void hand_over() {
        if (stopping_) {
            return;
        }
        stopping_ = true;
        poll_timer_.reset();
        auto deadline = core::steady_ms() + kHandoverWait.count();
        drain_timer_ = loop_.make_timer([this, deadline] {
            if (shared_.owner != getpid() || core::steady_ms() > deadline) {
                HALO_LOG(kNotice, "anycast helper exits: the new configuration runs the block");
                loop_.exit();
                return;
            }
            drain_timer_->arm(Millis(2));
        });
        drain_timer_->arm(Millis(0));
    }

    core::Cycle& cycle_;
    const AnycastConf& conf_;
    SharedState& shared_;
    TunDevice& tun_;
    ev::Loop loop_;
    vrrp::Netlink netlink_;
    unsigned ifindex_ = 0;
    uint64_t generation_ = 0;
    int64_t started_ms_ = 0;
    ServiceState state_ = ServiceState::kInit;
    std::string reason_ = "starting";
    bool stopping_ = false;
    std::vector<std::pair<std::string, bool>> upstream_ok_;
    std::vector<std::unique_ptr<ev::SignalWatcher>> signals_;
    std::unique_ptr<ev::Timer> poll_timer_;
    std::unique_ptr<ev::Timer> drain_timer_;
};

int run_helper(core::Cycle& cycle, const core::ProcessInfo&) {
    const AnycastConf* conf = anycast_conf(cycle);
    if (conf == nullptr || g_shared == nullptr) {
        return core::kFatalChildExit;
    }
    // /dev/net/tun is root's: opened before the switch to the workers' user, which keeps
    // CAP_NET_ADMIN (addresses, routes) as the vrrp helper does.
    TunDevice tun;
    std::string err;
    if (!tun.open(conf->interface, err)) {
        HALO_LOG(kEmerg, "anycast: %s", err.c_str());
        return core::kFatalChildExit;
    }
    vrrp::VrrpConf no_scripts;
    if (!vrrp::drop_privileges(cycle, no_scripts, getppid())) {
        return core::kFatalChildExit;
    }
    Helper helper(cycle, *conf, g_shared, tun);
    return helper.run();
}

std::unique_ptr<ev::Timer> g_beat;

void beat(SharedState* shared, int index) {
    shared->workers[index].beat_ms = core::steady_ms();
    shared->workers[index].pid = getpid();
    g_beat->arm(kWorkerBeat);
}

}  // namespace

std::string verdict(const AnycastConf& conf, const std::vector<std::string>& failed_upstreams,
                    std::optional<Millis> oldest_beat_age) {
    if (conf.track_workers && oldest_beat_age && *oldest_beat_age > *conf.track_workers) {
        return "workers";
    }
    for (const TrackedUpstream& t : conf.track_upstreams) {
        if (std::find(failed_upstreams.begin(), failed_upstreams.end(), t.name) !=
            failed_upstreams.end()) {
            return "upstream " + t.name;
        }
    }
    return {};
}

core::Status init_worker(core::Cycle& cycle, const core::ProcessInfo& info) {
    const AnycastConf* conf = anycast_conf(cycle);
    if (conf == nullptr || !conf->active()) {
        return core::Status::ok();
    }
    if (info.role == core::ProcessRole::kSingle) {
        // The helper is a child of the master: a debugging run without one announces nothing.
        HALO_LOG(kWarn, "the anycast block does not run with \"master_process off\"");
    }
    if (!conf->track_workers) {
        return core::Status::ok();
    }
    if (info.role != core::ProcessRole::kWorker || g_shared == nullptr || info.worker_index < 0 ||
        static_cast<size_t>(info.worker_index) >= kMaxWorkers) {
        return core::Status::ok();
    }
    SharedState* shared = g_shared;
    int index = info.worker_index;
    g_beat = ev::Runtime::current().loop().make_timer([shared, index] { beat(shared, index); });
    beat(shared, index);
    return core::Status::ok();
}

void exit_worker(core::Cycle&) {
    g_beat.reset();
}

core::Status setup_helper(core::Cycle& cycle, const AnycastConf& conf) {
    if (conf.track_workers && cycle.worker_count() > static_cast<int>(kMaxWorkers)) {
        return core::Status::error("track_workers supports " + std::to_string(kMaxWorkers) +
                                   " workers at most in " + conf.where);
    }
    for (const TrackedUpstream& t : conf.track_upstreams) {
        if (upstream::find_group(cycle, t.name) == nullptr) {
            return core::Status::error("unknown upstream \"" + t.name +
                                       "\" in \"track_upstream\" in " + t.where);
        }
    }
    if (cycle.options().test_only) {
        return core::Status::ok();
    }
    core::Status err = core::Status::ok();
    core::ShmZone* zone = cycle.add_shm_zone("halo_anycast", kZoneSize, &kZoneTag, conf.where, err);
    if (zone == nullptr) {
        return err;
    }
    zone->init = [](core::ShmZone& z, bool reused) -> core::Status {
        g_shared = z.pool().root_object<SharedState>(reused);
        if (g_shared == nullptr) {
            return core::Status::error("cannot allocate the anycast state");
        }
        core::ShmLockGuard lock(z.pool().mutex());
        g_shared->generation++;
        return core::Status::ok();
    };
    core::HelperSpec spec{"anycast", &run_helper};
    // Stopped before the workers: it withdraws the route and waits drain_timeout while they
    // still serve.
    spec.stop_first = true;
    spec.stop_first_wait = conf.drain_timeout + Millis(1000);
    cycle.add_helper(std::move(spec));
    return core::Status::ok();
}

std::vector<ServiceStatus> service_status(const core::Cycle& cycle) {
    std::vector<ServiceStatus> out;
    const AnycastConf* conf = anycast_conf(cycle);
    if (conf == nullptr || !conf->active() || g_shared == nullptr) {
        return out;
    }
    ServiceStatus st;
    st.interface = conf->interface;
    st.addresses = conf->address_text;
    // Written by the helper without a lock: each field is stored whole.
    // A helper that died (SIGKILL) took its TUN device, so its route, with it: not announced.
    pid_t owner = g_shared->owner;
    bool running = owner != 0 && core::process_alive(owner);
    auto state = static_cast<ServiceState>(g_shared->state);
    st.state = !running || state == ServiceState::kInit ? "INIT"
               : state == ServiceState::kAnnounced      ? "ANNOUNCED"
                                                        : "WITHDRAWN";
    st.reason = running ? std::string(g_shared->reason) : "";
    st.transitions = g_shared->transitions;
    st.last_change_ms = g_shared->last_change_ms;
    out.push_back(std::move(st));
    return out;
}

}  // namespace anycast
