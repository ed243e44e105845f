// vrrp_sync_group: its block in the config, and in the helper the group of instances that
// change state together (keepalived's vrrp_sync.c semantics, see SyncGroup in vrrp_runtime.h).
#include "modules/vrrp/vrrp_sync.h"

#include <algorithm>
#include <set>

#include "core/log.h"
#include "modules/vrrp/vrrp_runtime.h"

namespace vrrp {

using core::ConfContext;
using core::ConfNode;
using core::Status;

// ---- Config ----

Status set_vrrp_sync_group(ConfContext& cf, VrrpConf& conf) {
    HALO_TRY(add_named_block(cf, "vrrp_sync_group", conf.sync_groups, conf.current_group,
                             core::kCtxVrrpSyncGroup));
    const SyncGroupConf& g = conf.sync_groups.back();
    if (g.members.empty()) {
        return cf.error("no \"group\" in vrrp_sync_group \"" + g.name + "\"");
    }
    return Status::ok();
}

Status set_sync_group_members(ConfContext& cf, VrrpConf& conf) {
    SyncGroupConf& g = *conf.current_group;
    if (!g.members.empty()) {
        return cf.duplicate();
    }
    // keepalived writes one name per line; `group { VI_1 VI_2; }` is read as well.
    for (const ConfNode& n : cf.node().children) {
        if (n.block) {
            return Status::error("unexpected block \"" + std::string(n.name()) +
                                 "\" in \"group\" in " + n.where());
        }
        for (const std::string& name : n.args) {
            if (std::find(g.members.begin(), g.members.end(), name) != g.members.end()) {
                return Status::error("duplicate vrrp_instance \"" + name + "\" in \"group\" in " +
                                     n.where());
            }
            g.members.push_back(name);
            g.member_wheres.push_back(n.where());
        }
    }
    if (g.members.empty()) {
        return cf.error("\"group\" block is empty");
    }
    return Status::ok();
}

Status set_sync_group_tracking_weight(ConfContext& cf, VrrpConf& conf) {
    return cf.mark_given(conf.current_group->tracking_weight);
}

namespace {

/// keepalived's rule for the members of a sync group without sync_group_tracking_weight: a
/// weight cannot move the group (a member that is outbid cannot become Master alone, and the
/// others do not want to), so a failing weighted tracker puts the member, and the group, in
/// Fault instead. Said once per tracker.
void weights_to_fault(InstanceConf& c, const SyncGroupConf& g, const VrrpConf& conf,
                      std::set<std::string>& warned) {
    auto warn = [&](const std::string& what, const std::string& where) {
        if (!warned.insert(what + "|" + where).second) {
            return;  // a group's tracker, already said for another member
        }
        HALO_LOG(kWarn,
                 "the weight of %s in vrrp_instance \"%s\" is ignored: vrrp_sync_group \"%s\" "
                 "goes to FAULT when it fails (add \"sync_group_tracking_weight\" to the group "
                 "to keep weights) in %s",
                 what.c_str(), c.name.c_str(), g.name.c_str(), where.c_str());
    };
    auto fault = [&](TrackAction& a, const std::string& what, const std::string& where) {
        if (a.weight != 0) {
            warn(what, where);
            a = TrackAction{0, true};
        }
    };
    for (TrackedScript& t : c.track_scripts) {
        // weight 0 overrides the script's own weight: a failing script means Fault.
        const ScriptConf* s = conf.find_script(t.name);
        if ((t.weight ? *t.weight : s != nullptr ? s->weight : 0) != 0) {
            warn("track_script \"" + t.name + "\"", t.where);
            t.weight = 0;
        }
    }
    for (TrackedName& t : c.track_interfaces) {
        fault(t.action, "track_interface \"" + t.name + "\"", t.where);
    }
    for (TrackedName& t : c.track_upstreams) {
        fault(t.action, "track_upstream \"" + t.name + "\"", t.where);
    }
    if (c.track_workers) {
        fault(*c.track_workers, "track_workers", c.where);
    }
}

}  // namespace

Status resolve_sync_groups(VrrpConf& conf) {
    std::set<std::string> warned;
    for (const SyncGroupConf& g : conf.sync_groups) {
        for (const TrackedScript& t : g.track_scripts) {
            if (conf.find_script(t.name) == nullptr) {
                return Status::error("unknown vrrp_script \"" + t.name + "\" in " + t.where);
            }
        }
        for (size_t m = 0; m < g.members.size(); m++) {
            auto it = std::find_if(conf.instances.begin(), conf.instances.end(),
                                   [&](const InstanceConf& c) { return c.name == g.members[m]; });
            if (it == conf.instances.end()) {
                return Status::error("unknown vrrp_instance \"" + g.members[m] +
                                     "\" in vrrp_sync_group \"" + g.name + "\" in " +
                                     g.member_wheres[m]);
            }
            if (!it->sync_group.empty()) {
                return Status::error("vrrp_instance \"" + g.members[m] +
                                     "\" is already in vrrp_sync_group \"" + it->sync_group +
                                     "\" in " + g.member_wheres[m]);
            }
            it->sync_group = g.name;
            // The group's trackers are each member's; one the member tracks itself too is
            // the group's (as keepalived, which warns as well).
            auto add = [&](auto& to, const auto& from, const char* what) {
                for (const auto& t : from) {
                    auto same = std::find_if(to.begin(), to.end(),
                                             [&](const auto& o) { return o.name == t.name; });
                    if (same == to.end()) {
                        to.push_back(t);
                        continue;
                    }
                    HALO_LOG(kWarn,
                             "%s \"%s\" of vrrp_instance \"%s\" in %s is also vrrp_sync_group "
                             "\"%s\"'s, the group's is used in %s",
                             what, t.name.c_str(), it->name.c_str(), same->where.c_str(),
                             g.name.c_str(), t.where.c_str());
                    *same = t;
                }
            };
            add(it->track_scripts, g.track_scripts, "track_script");
            add(it->track_interfaces, g.track_interfaces, "track_interface");
            add(it->track_upstreams, g.track_upstreams, "track_upstream");
            if (!g.tracking_weight) {
                weights_to_fault(*it, g, conf, warned);
            }
        }
        if (g.members.size() == 1) {
            HALO_LOG(kWarn,
                     "vrrp_sync_group \"%s\" has one instance only, it behaves as that instance "
                     "alone in %s",
                     g.name.c_str(), g.where.c_str());
        }
    }
    return Status::ok();
}

// ---- SyncGroup (in the helper) ----

bool SyncGroup::other_in_fault(const Instance& self) const {
    for (const Instance* m : members_) {
        if (m != &self && (!m->running() || helper_.track(m->conf()).fault)) {
            return true;
        }
    }
    return false;
}

bool SyncGroup::others_want_master(const Instance& self) const {
    for (const Instance* m : members_) {
        if (m != &self && m->state() != State::kMaster && !m->wants_master()) {
            return false;
        }
    }
    return true;
}

void SyncGroup::settle() {
    auto master = std::find_if(members_.begin(), members_.end(),
                               [](const Instance* m) { return m->state() == State::kMaster; });
    if (master == members_.end()) {
        return;
    }
    for (Instance* m : members_) {
        m->follow_master();
    }
}

State SyncGroup::derived() const {
    if (members_.size() < conf_.members.size()) {
        return State::kInit;  // the helper is still creating the group's instances
    }
    bool all_master = true;
    bool any_init = false;
    for (const Instance* m : members_) {
        State s = m->state();
        if (s == State::kFault || !m->running()) {
            return State::kFault;
        }
        any_init = any_init || s == State::kInit;
        all_master = all_master && s == State::kMaster;
    }
    if (any_init) {
        return State::kInit;  // starting or stopping: no group state to report
    }
    return all_master ? State::kMaster : State::kBackup;
}

void SyncGroup::member_changed(const Instance& who, State from, State to, Cause cause) {
    if (cause != Cause::kResumed && cause != Cause::kSyncGroup) {
        // The member that moved takes the others along (each of those comes back here with
        // kSyncGroup, and does not take anyone along).
        for (Instance* m : members_) {
            if (m == &who) {
                continue;
            }
            if (to == State::kMaster) {
                m->follow_master();
            } else if (from == State::kMaster && to == State::kBackup) {
                m->follow_backup();
            }
        }
    }
    State s = derived();
    if (s == State::kInit || s == state_) {
        return;
    }
    State old = state_;
    state_ = s;
    if (cause == Cause::kResumed) {
        return;  // a reload: the group did not change
    }
    HALO_LOG(kNotice, "vrrp_sync_group \"%s\" %s -> %s (vrrp_instance \"%s\" %s)",
             conf_.name.c_str(), std::string(state_name(old)).c_str(),
             std::string(state_name(s)).c_str(), who.conf().name.c_str(),
             std::string(state_name(to)).c_str());
    const std::string& specific = s == State::kMaster   ? conf_.notify_master
                                  : s == State::kBackup ? conf_.notify_backup
                                                        : conf_.notify_fault;
    notify_.push(specific, conf_.notify, {"GROUP", conf_.name, std::string(state_name(s))});
}

}  // namespace vrrp
