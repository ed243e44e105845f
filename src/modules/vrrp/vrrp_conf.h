#pragma once

// The vrrp module's configuration: a top-level `vrrp { }` block (beside `http { }`) with
// keepalived's directive names in nginx syntax.
//
//   vrrp {
//       version 3;                          # 2 or 3 (default 3), per instance too
//       script_user nobody;                 # who runs track and notify scripts
//       vrrp_rt_priority 50;                # SCHED_RR for the helper (default: off)
//       vrrp_no_swap;                       # lock the helper's memory (default: off)
//       vrrp_script chk { script "/bin/true"; interval 2s; timeout 1s; weight -20;
//                         fall 3; rise 2; user nobody; }
//       vrrp_instance VI_1 {
//           state BACKUP;  interface eth0;  virtual_router_id 51;  priority 100;
//           advert_int 1s;                  # v2: whole seconds; v3: 10ms steps
//           authentication { auth_type PASS; auth_pass 1111; }   # v2 only
//           virtual_ipaddress { 10.77.0.100/24; 10.77.0.101/24 dev eth1; }  # or IPv6 (one
//                                           # family; fd77::100/64 [-nodad]), VRRPv3 only
//           virtual_ipaddress_excluded { fd77::100/64; }   # not advertised, either family
//           nopreempt;  preempt_delay 5s;
//           unicast_src_ip 10.77.0.1;  unicast_peer { 10.77.0.2; 10.77.0.3; }
//           track_script chk [weight=-30];  track_interface eth1 [weight=-10];
//           track_workers [weight=-N | fault] [timeout=200ms];  track_upstream NAME [weight=-N |
//           fault]; notify_master "/path/x";  notify_backup ...;  notify_fault ...;  notify ...;
//           garp_master_delay 5s;  garp_master_repeat 5;  garp_master_refresh 0;
//       }
//       vrrp_sync_group VG_1 {              # instances that fail over together
//           group { VI_1; VI_2; }
//           notify_master "/path/x";  notify_backup ...;  notify_fault ...;  notify ...;
//           sync_group_tracking_weight;     # keep the members' tracker weights (else Fault)
//           track_script chk;  track_interface eth1;  track_upstream NAME;   # every member's
//       }
//   }

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/conf_context.h"
#include "core/module.h"

namespace core {
class Cycle;
}

namespace vrrp {

using Millis = std::chrono::milliseconds;

/// track_workers: each worker stamps its slot every kWorkerBeat; `timeout=` (default 200ms)
/// must leave room for a few beats.
/// Limits of the helper's shared slots, checked at config time (and by the importer).
inline constexpr size_t kMaxInstances = 64;
inline constexpr size_t kMaxSlotVips = 32;
inline constexpr size_t kMaxInstanceName = 63;  // bytes

inline constexpr Millis kWorkerBeat{50};
inline constexpr Millis kMinWorkersTimeout{100};

/// An IPv4 or IPv6 address, its octets in network order (so that `<` is the RFC's "greater
/// address": RFC 5798 §6.4.3 compares primary addresses as unsigned integers). Plain data, so
/// that the helper's shared slots can hold it. Default: no address (family 0).
struct IpAddr {
    uint8_t family = 0;               // 4, 6, or 0 = none
    std::array<uint8_t, 16> bytes{};  // IPv4: the first 4
    friend bool operator==(const IpAddr&, const IpAddr&) = default;
    friend auto operator<=>(const IpAddr&, const IpAddr&) = default;

    /// An IPv4 address from its value in host order.
    static constexpr IpAddr from_v4(uint32_t host) {
        IpAddr a;
        a.family = 4;
        a.bytes[0] = static_cast<uint8_t>(host >> 24);
        a.bytes[1] = static_cast<uint8_t>(host >> 16);
        a.bytes[2] = static_cast<uint8_t>(host >> 8);
        a.bytes[3] = static_cast<uint8_t>(host);
        return a;
    }
    /// An IPv6 address from its 16 octets.
    static constexpr IpAddr from_v6(const std::array<uint8_t, 16>& octets) {
        IpAddr a;
        a.family = 6;
        a.bytes = octets;
        return a;
    }
    bool is_v6() const { return family == 6; }
    bool empty() const { return family == 0; }
    /// 4 or 16 octets (0 for none).
    size_t size() const { return family == 6 ? 16 : family == 4 ? 4 : 0; }
    /// The IPv4 value in host order (0 for IPv6 or none).
    uint32_t v4_value() const {
        return family != 4 ? 0
                           : (static_cast<uint32_t>(bytes[0]) << 24) |
                                 (static_cast<uint32_t>(bytes[1]) << 16) |
                                 (static_cast<uint32_t>(bytes[2]) << 8) | bytes[3];
    }
    /// RFC 4291 §2.5.6: fe80::/10.
    bool is_link_local() const {
        return family == 6 && bytes[0] == 0xFE && (bytes[1] & 0xC0) == 0x80;
    }
    /// Dotted quad or RFC 5952 text ("" for none).
    std::string text() const;
    /// Either family; nullopt when `text` is neither.
    static std::optional<IpAddr> parse(std::string_view text);
};

/// One `virtual_ipaddress` line: `10.77.0.100/24 [dev eth1]`.
struct VirtualIp {
    IpAddr addr;
    uint8_t prefix = 32;
    std::string dev;  // "" = the instance's interface
    /// `virtual_ipaddress_excluded`: up and down with the instance, never in its adverts (the
    /// place for addresses of the other family, as in keepalived).
    bool excluded = false;
    /// IPv6 `-nodad` (keepalived's word): let the kernel run duplicate address detection.
    /// Without it an IPv6 virtual address is added with IFA_F_NODAD, usable at once.
    bool dad = false;
    friend bool operator==(const VirtualIp&, const VirtualIp&) = default;
    /// "10.77.0.100/24" (with " dev X" when given).
    std::string text() const;
};

/// What a tracker does when it fails: add `weight` to the priority, or enter Fault.
struct TrackAction {
    int weight = 0;      // negative lowers the priority (keepalived's sign convention)
    bool fault = false;  // `fault`: the instance goes to Fault while this tracker fails
    friend bool operator==(const TrackAction&, const TrackAction&) = default;
};

/// `vrrp_script NAME { ... }`.
struct ScriptConf {
    std::string name;
    std::string where;
    std::string script;  // run with /bin/sh -c
    Millis interval{1000};
    Millis timeout{0};  // 0: the interval
    int weight = 0;     // applied while the script fails (weight < 0) or succeeds (weight > 0)
    int fall = 1;
    int rise = 1;
    std::optional<std::string> user;  // default: the vrrp block's script_user
    friend bool operator==(const ScriptConf&, const ScriptConf&) = default;
};

struct TrackedScript {
    std::string name;
    std::optional<int> weight;  // overrides the script's weight
    std::string where;
    friend bool operator==(const TrackedScript&, const TrackedScript&) = default;
};

struct TrackedName {
    std::string name;  // interface or upstream group
    TrackAction action;
    std::string where;
    friend bool operator==(const TrackedName&, const TrackedName&) = default;
};

enum class StartState : uint8_t { kBackup, kMaster };

/// `vrrp_instance NAME { ... }` once the vrrp block is read: every field resolved (version
/// and defaults applied, errors reported).
struct InstanceConf {
    std::string name;
    std::string where;
    int version = 3;
    StartState state = StartState::kBackup;
    std::string interface;
    int vrid = 0;
    int priority = 100;
    Millis advert_int{1000};
    std::optional<std::string> auth_pass;  // v2 `auth_type PASS`
    std::vector<VirtualIp> vips;           // virtual_ipaddress, then virtual_ipaddress_excluded
    /// The family of the advertised addresses (RFC 5798 §5.1.1 IPv4, §5.1.2 IPv6).
    bool ipv6 = false;
    bool preempt = true;
    Millis preempt_delay{0};
    std::optional<IpAddr> unicast_src;
    std::vector<IpAddr> unicast_peers;
    std::vector<TrackedScript> track_scripts;
    std::vector<TrackedName> track_interfaces;
    std::optional<TrackAction> track_workers;
    Millis track_workers_timeout{200};  // a worker that did not beat for this long is not serving
    std::vector<TrackedName> track_upstreams;
    std::string notify_master, notify_backup, notify_fault, notify;
    std::string sync_group;  // the vrrp_sync_group it belongs to ("" = none)
    Millis garp_master_delay{5000};
    int garp_master_repeat = 5;
    Millis garp_master_refresh{0};  // 0: off

    friend bool operator==(const InstanceConf&, const InstanceConf&) = default;
};

/// `vrrp_sync_group NAME { group { VI_1; VI_2; } notify_* ...; }`: instances that change
/// state together (keepalived's semantics: one goes to Fault, all do; one leaves Master, all
/// do; Master only when every instance of the group wants it, then all together).
struct SyncGroupConf {
    std::string name;
    std::string where;
    std::vector<std::string> members;  // vrrp_instance names, in the order written
    std::vector<std::string> member_wheres;
    std::string notify_master, notify_backup, notify_fault, notify;
    bool tracking_weight = false;  // sync_group_tracking_weight
    // keepalived's group-level trackers: every member tracks them too.
    std::vector<TrackedScript> track_scripts;
    std::vector<TrackedName> track_interfaces;
    std::vector<TrackedName> track_upstreams;
    friend bool operator==(const SyncGroupConf&, const SyncGroupConf&) = default;
};

/// While an instance block is read: what was written, with where, for the checks made once
/// the whole vrrp block is known (the version may come after the instance).
struct InstanceDraft {
    InstanceConf conf;
    std::optional<int> version;
    std::optional<int> priority;
    std::optional<Millis> advert_int;
    std::string advert_where, auth_where, state_where, preempt_delay_where, version_where;
    bool has_state = false, has_interface = false, has_vrid = false, has_auth = false;
    bool has_vips = false, has_excluded = false, has_nopreempt = false, has_src = false,
         has_peers = false;
    bool has_garp_delay = false, has_garp_repeat = false, has_garp_refresh = false;
};

/// The module's main conf: the `vrrp { }` block.
struct VrrpConf : core::ConfBase {
    bool seen = false;
    std::optional<int> version;  // the block's default
    std::optional<std::string> script_user;
    std::optional<int> rt_priority;  // vrrp_rt_priority: SCHED_RR at this priority (off)
    bool no_swap = false;            // vrrp_no_swap: mlockall in the helper
    std::vector<ScriptConf> scripts;
    std::vector<InstanceConf> instances;
    std::vector<SyncGroupConf> sync_groups;

    // Parsing state.
    std::vector<std::unique_ptr<InstanceDraft>> drafts;
    InstanceDraft* current = nullptr;
    ScriptConf* current_script = nullptr;
    SyncGroupConf* current_group = nullptr;
    std::vector<std::string> script_wheres;

    const ScriptConf* find_script(std::string_view name) const;
};

/// `vrrp_script NAME { }`, `vrrp_sync_group NAME { }`: adds an entry named by the directive's
/// argument to `list` (refused when `what` of that name is defined before) and reads the
/// block, in context `ctx`, with `current` pointing at the entry. The entry is list.back().
template <class Block>
core::Status add_named_block(core::ConfContext& cf, std::string_view what, std::vector<Block>& list,
                             Block*& current, uint32_t ctx) {
    const std::string& name = cf.arg(0);
    for (const Block& e : list) {
        if (e.name == name) {
            return cf.error("duplicate " + std::string(what) + " \"" + name +
                            "\", first defined in " + e.where);
        }
    }
    Block& e = list.emplace_back();
    e.name = name;
    e.where = cf.node().where();
    current = &e;
    core::Status st = cf.apply_block(cf.node().children, ctx, {});
    current = nullptr;
    return st;
}

/// The vrrp conf of a cycle (nullptr when the module is not compiled in).
const VrrpConf* vrrp_conf(const core::Cycle& cycle);

}  // namespace vrrp
