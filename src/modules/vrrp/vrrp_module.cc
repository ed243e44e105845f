// The vrrp module: the `vrrp { }` block, its `vrrp_script` and `vrrp_instance` blocks (see
// vrrp_conf.h for the grammar), the checks made once the block is read, and the helper
// process that runs the instances (vrrp_helper.cc).
#include <arpa/inet.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "core/conf_context.h"
#include "core/cycle.h"
#include "core/log.h"
#include "core/module.h"
#include "modules/vrrp/keepalived_import.h"
#include "modules/vrrp/vrrp_conf.h"
#include "modules/vrrp/vrrp_helper.h"
#include "modules/vrrp/vrrp_status.h"
#include "modules/vrrp/vrrp_sync.h"

namespace vrrp {

extern const core::Module kModule;

namespace {

using core::ConfContext;
using core::ConfNode;
using core::Status;

Status at(const std::string& where, const std::string& what) {
    return Status::error(what + " in " + where);
}

/// A signed integer within [min, max] (keepalived's weights are signed).
std::optional<int> parse_signed(std::string_view s, int min, int max) {
    bool neg = false;
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        s.remove_prefix(1);
    }
    auto v = core::parse_int(s);
    if (!v) {
        return std::nullopt;
    }
    int64_t r = neg ? -*v : *v;
    if (r < min || r > max) {
        return std::nullopt;
    }
    return static_cast<int>(r);
}

constexpr int kMaxWeight = 253;

InstanceDraft& draft(VrrpConf& conf) {
    return *conf.current;
}

// ---- vrrp { } ----

Status set_vrrp(ConfContext& cf, VrrpConf& conf);

Status set_version(ConfContext& cf, VrrpConf& conf) {
    std::optional<int>& slot = conf.current != nullptr ? conf.current->version : conf.version;
    if (slot) {
        return cf.duplicate();
    }
    if (cf.arg(0) != "2" && cf.arg(0) != "3") {
        return cf.invalid_value(cf.arg(0), "it must be 2 or 3");
    }
    slot = cf.arg(0) == "2" ? 2 : 3;
    if (conf.current != nullptr) {
        conf.current->version_where = cf.node().where();
    }
    return Status::ok();
}

Status set_script_user(ConfContext& cf, VrrpConf& conf) {
    std::optional<std::string>& slot =
        conf.current_script != nullptr ? conf.current_script->user : conf.script_user;
    if (slot) {
        return cf.duplicate();
    }
    if (getpwnam(cf.arg(0).c_str()) == nullptr) {
        return cf.error("unknown user \"" + cf.arg(0) + "\" in \"" + std::string(cf.name()) +
                        "\" directive");
    }
    slot = cf.arg(0);
    return Status::ok();
}

/// `vrrp_no_swap;` (keepalived's name): the helper locks its memory.
Status set_no_swap(ConfContext& cf, VrrpConf& conf) {
    return cf.mark_given(conf.no_swap);
}

Status set_vrrp_script(ConfContext& cf, VrrpConf& conf) {
    HALO_TRY(add_named_block(cf, "vrrp_script", conf.scripts, conf.current_script,
                             core::kCtxVrrpScript));
    ScriptConf& s = conf.scripts.back();
    if (s.script.empty()) {
        return cf.error("no \"script\" in vrrp_script \"" + s.name + "\"");
    }
    if (s.timeout.count() == 0) {
        s.timeout = s.interval;
    }
    return Status::ok();
}

Status set_vrrp_instance(ConfContext& cf, VrrpConf& conf) {
    const std::string& name = cf.arg(0);
    for (const auto& d : conf.drafts) {
        if (d->conf.name == name) {
            return cf.error("duplicate vrrp_instance \"" + name + "\", first defined in " +
                            d->conf.where);
        }
    }
    conf.drafts.push_back(std::make_unique<InstanceDraft>());
    InstanceDraft& d = *conf.drafts.back();
    d.conf.name = name;
    d.conf.where = cf.node().where();
    conf.current = &d;
    Status st = cf.apply_block(cf.node().children, core::kCtxVrrpInstance, {});
    conf.current = nullptr;
    return st;
}

// ---- vrrp_script { } ----

Status set_script_cmd(ConfContext& cf, VrrpConf& conf) {
    ScriptConf& s = *conf.current_script;
    if (!s.script.empty()) {
        return cf.duplicate();
    }
    if (cf.arg(0).empty()) {
        return cf.invalid_value(cf.arg(0), "the script is empty");
    }
    s.script = cf.arg(0);
    for (size_t i = 1; i < cf.args().size(); i++) {
        s.script += " " + cf.arg(i);  // keepalived-style: `script /path arg;` unquoted
    }
    return Status::ok();
}

Status duration_arg(ConfContext& cf, Millis min, Millis& out) {
    auto v = core::parse_duration(cf.arg(0));
    if (!v || *v < min) {
        return cf.invalid_value(cf.arg(0), "expected a time such as 500ms, 2s (at least " +
                                               std::to_string(min.count()) + "ms)");
    }
    out = *v;
    return Status::ok();
}

Status set_script_interval(ConfContext& cf, VrrpConf& conf) {
    return duration_arg(cf, Millis(10), conf.current_script->interval);
}

Status set_script_timeout(ConfContext& cf, VrrpConf& conf) {
    return duration_arg(cf, Millis(10), conf.current_script->timeout);
}

Status set_script_weight(ConfContext& cf, VrrpConf& conf) {
    auto v = parse_signed(cf.arg(0), -kMaxWeight, kMaxWeight);
    if (!v) {
        return cf.invalid_value(cf.arg(0), "it must be -253..253");
    }
    conf.current_script->weight = *v;
    return Status::ok();
}

Status set_script_count(ConfContext& cf, VrrpConf& conf) {
    int64_t v = 0;
    HALO_TRY(core::detail::set_int(cf, 1, 1000, v, false));
    (cf.name() == "fall" ? conf.current_script->fall : conf.current_script->rise) =
        static_cast<int>(v);
    return Status::ok();
}

// ---- vrrp_instance { } ----

Status set_state(ConfContext& cf, VrrpConf& conf) {
    InstanceDraft& d = draft(conf);
    if (d.has_state) {
        return cf.duplicate();
    }
    if (cf.arg(0) == "MASTER") {
        d.conf.state = StartState::kMaster;
    } else if (cf.arg(0) == "BACKUP") {
        d.conf.state = StartState::kBackup;
    } else {
        return cf.invalid_value(cf.arg(0), "it must be MASTER or BACKUP");
    }
    d.has_state = true;
    return Status::ok();
}

Status set_interface(ConfContext& cf, VrrpConf& conf) {
    InstanceDraft& d = draft(conf);
    if (d.has_interface) {
        return cf.duplicate();
    }
    const std::string& n = cf.arg(0);
    if (n.empty() || n.size() >= 16 || n.find('/') != std::string::npos) {
        return cf.invalid_value(n, "not an interface name");
    }
    d.conf.interface = n;
    d.has_interface = true;
    return Status::ok();
}

Status set_vrid(ConfContext& cf, VrrpConf& conf) {
    InstanceDraft& d = draft(conf);
    // RFC 5798 §5.2.3 / RFC 3768 §5.3.3: VRID 1..255.
    int64_t v = 0;
    HALO_TRY(core::detail::set_int(cf, 1, 255, v, d.has_vrid));
    d.conf.vrid = static_cast<int>(v);
    d.has_vrid = true;
    return Status::ok();
}

Status set_priority(ConfContext& cf, VrrpConf& conf) {
    InstanceDraft& d = draft(conf);
    // RFC 5798 §5.2.4: 255 = the address owner, 1..254 backups, 0 = the master stops.
    int64_t v = 0;
    HALO_TRY(core::detail::set_int(cf, 1, 255, v, d.priority.has_value()));
    d.priority = static_cast<int>(v);
    return Status::ok();
}

Status set_advert_int(ConfContext& cf, VrrpConf& conf) {
    InstanceDraft& d = draft(conf);
    HALO_TRY(
        core::detail::set_positive_duration(cf, d.advert_int, "expected a time such as 1s, 100ms"));
    d.advert_where = cf.node().where();
    return Status::ok();
}

Status set_authentication(ConfContext& cf, VrrpConf& conf) {
    InstanceDraft& d = draft(conf);
    HALO_TRY(cf.mark_given(d.has_auth));
    d.auth_where = cf.node().where();
    bool type_seen = false;
    for (const ConfNode& n : cf.node().children) {
        if (n.block || n.args.size() != 2) {
            return at(n.where(), "invalid parameter \"" + std::string(n.name()) +
                                     "\" in \"authentication\", expected "
                                     "\"auth_type PASS;\" and \"auth_pass secret;\"");
        }
        if (n.args[0] == "auth_type") {
            // RFC 3768 §5.3.6: 1 = Simple Text Password. (AH, type 2, is obsolete: not
            // supported, as in keepalived's RFC mode.)
            if (n.args[1] != "PASS") {
                return at(n.where(), "invalid value \"" + n.args[1] +
                                         "\" in \"auth_type\", only PASS is supported");
            }
            type_seen = true;
        } else if (n.args[0] == "auth_pass") {
            if (n.args[1].empty() || n.args[1].size() > 8) {
                // RFC 3768 §5.3.10: up to 8 octets.
                return at(n.where(),
                          "invalid value \"" + n.args[1] + "\" in \"auth_pass\", 1..8 characters");
            }
            d.conf.auth_pass = n.args[1];
        } else {
            return at(n.where(), "unknown parameter \"" + n.args[0] + "\" in \"authentication\"");
        }
    }
    if (!type_seen || !d.conf.auth_pass) {
        return cf.error("\"authentication\" needs both \"auth_type PASS\" and \"auth_pass\"");
    }
    return Status::ok();
}

/// One line of `virtual_ipaddress` / `virtual_ipaddress_excluded`:
/// `ADDRESS[/PREFIX] [dev NAME] [-nodad]` (IPv4 /32 and IPv6 /128 by default).
Status parse_vip(const ConfNode& n, const std::string& block, VirtualIp& vip) {
    if (n.block) {
        return at(n.where(), "unexpected \"{\" in \"" + block + "\"");
    }
    std::string_view a = n.args[0];
    size_t slash = a.find('/');
    auto ip = IpAddr::parse(a.substr(0, slash));
    int max = ip && ip->is_v6() ? 128 : 32;
    std::optional<int64_t> prefix = max;
    if (slash != std::string_view::npos) {
        prefix = core::parse_int(a.substr(slash + 1));
    }
    if (!ip || !prefix || *prefix < 1 || *prefix > max) {
        return at(n.where(), "invalid virtual address \"" + n.args[0] + "\"");
    }
    vip.addr = *ip;
    vip.prefix = static_cast<uint8_t>(*prefix);
    size_t i = 1;
    while (i < n.args.size()) {
        if (n.args[i] == "dev" && i + 1 < n.args.size()) {
            vip.dev = n.args[i + 1];
            i += 2;
        } else if (n.args[i] == "-nodad" && ip->is_v6()) {
            vip.dad = true;
            i++;
        } else {
            return at(n.where(), "invalid parameter \"" + n.args[i] + "\" of virtual address " +
                                     n.args[0] + " (expected \"dev NAME\"" +
                                     (ip->is_v6() ? " or \"-nodad\")" : ")"));
        }
    }
    return Status::ok();
}

/// `virtual_ipaddress { }` (advertised: one family, RFC 5798 §5.2.5) and
/// `virtual_ipaddress_excluded { }` (not advertised: either family).
Status set_virtual_ipaddress(ConfContext& cf, VrrpConf& conf) {
    InstanceDraft& d = draft(conf);
    bool excluded = cf.node().name() == "virtual_ipaddress_excluded";
    HALO_TRY(cf.mark_given(excluded ? d.has_excluded : d.has_vips));
    std::string block(cf.node().name());
    for (const ConfNode& n : cf.node().children) {
        VirtualIp vip;
        HALO_TRY(parse_vip(n, block, vip));
        vip.excluded = excluded;
        for (const VirtualIp& other : d.conf.vips) {
            if (other.addr == vip.addr) {
                return at(n.where(), "duplicate virtual address \"" + n.args[0] + "\"");
            }
            if (!excluded && !other.excluded && other.addr.family != vip.addr.family) {
                // keepalived ignores such a line with "address family must match VRRP
                // instance"; an advert carries addresses of one family only.
                return at(n.where(),
                          "virtual address \"" + n.args[0] + "\" is " +
                              (vip.addr.is_v6() ? "IPv6" : "IPv4") + " but \"" + other.text() +
                              "\" before it is not: the addresses of \"virtual_ipaddress\" are "
                              "advertised together and must be of one family; list the other "
                              "family in \"virtual_ipaddress_excluded\"");
            }
        }
        d.conf.vips.push_back(vip);
    }
    size_t advertised = 0;
    for (const VirtualIp& v : d.conf.vips) {
        advertised += v.excluded ? 0 : 1;
    }
    if (advertised > 255) {
        return cf.error("too many virtual addresses (at most 255)");
    }
    return Status::ok();
}

Status set_nopreempt(ConfContext& cf, VrrpConf& conf) {
    InstanceDraft& d = draft(conf);
    HALO_TRY(cf.mark_given(d.has_nopreempt));
    d.conf.preempt = false;
    return Status::ok();
}

Status set_preempt_delay(ConfContext& cf, VrrpConf& conf) {
    InstanceDraft& d = draft(conf);
    if (!d.preempt_delay_where.empty()) {
        return cf.duplicate();
    }
    auto v = core::parse_duration(cf.arg(0));
    if (!v || *v > Millis(3600 * 1000)) {
        return cf.invalid_value(cf.arg(0), "expected a time up to 1h such as 5s");
    }
    d.conf.preempt_delay = *v;
    d.preempt_delay_where = cf.node().where();
    return Status::ok();
}

Status set_unicast_src_ip(ConfContext& cf, VrrpConf& conf) {
    InstanceDraft& d = draft(conf);
    if (d.has_src) {
        return cf.duplicate();
    }
    auto ip = IpAddr::parse(cf.arg(0));
    if (!ip) {
        return cf.invalid_value(cf.arg(0), "expected an IPv4 or IPv6 address");
    }
    d.conf.unicast_src = *ip;
    d.has_src = true;
    return Status::ok();
}

Status set_unicast_peer(ConfContext& cf, VrrpConf& conf) {
    InstanceDraft& d = draft(conf);
    HALO_TRY(cf.mark_given(d.has_peers));
    for (const ConfNode& n : cf.node().children) {
        auto ip = n.block || n.args.size() != 1 ? std::nullopt : IpAddr::parse(n.args[0]);
        if (!ip) {
            return at(n.where(), "invalid unicast peer \"" + n.args[0] + "\"");
        }
        if (std::find(d.conf.unicast_peers.begin(), d.conf.unicast_peers.end(), *ip) !=
            d.conf.unicast_peers.end()) {
            return at(n.where(), "duplicate unicast peer \"" + n.args[0] + "\"");
        }
        d.conf.unicast_peers.push_back(*ip);
    }
    if (d.conf.unicast_peers.empty()) {
        return cf.error("\"unicast_peer\" block is empty");
    }
    return Status::ok();
}

/// `weight=-N` or `fault` after a tracked name (`allow_fault` for the built-in trackers).
/// With `timeout` (track_workers), `timeout=T` too.
Status track_action(ConfContext& cf, size_t from, bool allow_fault, TrackAction& out,
                    std::optional<int>* weight_only, Millis* timeout = nullptr) {
    for (size_t i = from; i < cf.args().size(); i++) {
        const std::string& a = cf.arg(i);
        if (timeout != nullptr && a.rfind("timeout=", 0) == 0) {
            auto v = core::parse_duration(std::string_view(a).substr(8));
            if (!v || *v < kMinWorkersTimeout || *v > Millis(60000)) {
                return cf.invalid_value(a, "the timeout must be " +
                                               std::to_string(kMinWorkersTimeout.count()) +
                                               "ms..60s");
            }
            *timeout = *v;
        } else if (a.rfind("weight=", 0) == 0) {
            auto v = parse_signed(std::string_view(a).substr(7), -kMaxWeight, kMaxWeight);
            if (!v) {
                return cf.invalid_value(a, "the weight must be -253..253");
            }
            out.weight = *v;
            if (weight_only != nullptr) {
                *weight_only = *v;
            }
        } else if (a == "fault" && allow_fault) {
            out.fault = true;
        } else {
            return cf.invalid_value(a, timeout != nullptr ? "expected weight=N, fault or timeout=T"
                                       : allow_fault      ? "expected weight=N or fault"
                                                          : "expected weight=N");
        }
    }
    if (out.fault && out.weight != 0) {
        return cf.error("\"" + std::string(cf.name()) +
                        "\" takes either weight=N or fault, not both");
    }
    return Status::ok();
}

/// Adds `t` to `list` (an instance's or a sync group's); a name tracked twice is an error,
/// `what` says what the name is ("vrrp_script ", or "" for an interface or upstream).
template <class Tracked>
Status add_tracked(ConfContext& cf, std::vector<Tracked>& list, Tracked t, std::string_view what) {
    for (const auto& o : list) {
        if (o.name == t.name) {
            return cf.error(std::string(what) + "\"" + t.name + "\" is tracked twice");
        }
    }
    list.push_back(std::move(t));
    return Status::ok();
}

Status set_track_script(ConfContext& cf, VrrpConf& conf) {
    TrackedScript t;
    t.name = cf.arg(0);
    t.where = cf.node().where();
    TrackAction unused;
    HALO_TRY(track_action(cf, 1, false, unused, &t.weight));
    auto& list = conf.current_group != nullptr ? conf.current_group->track_scripts
                                               : draft(conf).conf.track_scripts;
    return add_tracked(cf, list, std::move(t), "vrrp_script ");
}

Status set_track_named(ConfContext& cf, VrrpConf& conf) {
    bool iface = cf.name() == "track_interface";
    TrackedName t;
    t.name = cf.arg(0);
    t.where = cf.node().where();
    HALO_TRY(track_action(cf, 1, !iface, t.action, nullptr));
    // Without a weight, a tracked interface (as in keepalived) or upstream means Fault.
    if (t.action.weight == 0) {
        t.action.fault = true;
    }
    auto lists = [iface](auto& c) -> std::vector<TrackedName>& {
        return iface ? c.track_interfaces : c.track_upstreams;
    };
    auto& list =
        conf.current_group != nullptr ? lists(*conf.current_group) : lists(draft(conf).conf);
    return add_tracked(cf, list, std::move(t), "");
}

Status set_track_workers(ConfContext& cf, VrrpConf& conf) {
    InstanceDraft& d = draft(conf);
    if (d.conf.track_workers) {
        return cf.duplicate();
    }
    TrackAction a;
    HALO_TRY(track_action(cf, 0, true, a, nullptr, &d.conf.track_workers_timeout));
    if (a.weight == 0) {
        a.fault = true;
    }
    d.conf.track_workers = a;
    return Status::ok();
}

/// `notify_master|notify_backup|notify_fault|notify CMD;` in an instance or a sync group.
Status set_notify(ConfContext& cf, VrrpConf& conf) {
    auto pick = [&cf](auto& c) -> std::string& {
        std::string_view n = cf.name();
        return n == "notify_master"   ? c.notify_master
               : n == "notify_backup" ? c.notify_backup
               : n == "notify_fault"  ? c.notify_fault
                                      : c.notify;
    };
    std::string& slot =
        conf.current_group != nullptr ? pick(*conf.current_group) : pick(draft(conf).conf);
    if (!slot.empty()) {
        return cf.duplicate();
    }
    if (cf.arg(0).empty()) {
        return cf.invalid_value(cf.arg(0), "the script is empty");
    }
    slot = cf.arg(0);
    return Status::ok();
}

Status set_garp(ConfContext& cf, VrrpConf& conf) {
    InstanceDraft& d = draft(conf);
    std::string_view n = cf.name();
    bool& seen = n == "garp_master_delay"    ? d.has_garp_delay
                 : n == "garp_master_repeat" ? d.has_garp_repeat
                                             : d.has_garp_refresh;
    HALO_TRY(cf.mark_given(seen));
    if (n == "garp_master_repeat") {
        int64_t v = 0;
        HALO_TRY(core::detail::set_int(cf, 1, 255, v, false));
        d.conf.garp_master_repeat = static_cast<int>(v);
        return Status::ok();
    }
    auto v = core::parse_duration(cf.arg(0));
    if (!v || *v > Millis(24 * 3600 * 1000)) {
        return cf.invalid_value(cf.arg(0), "expected a time such as 5s (0 = off)");
    }
    (n == "garp_master_delay" ? d.conf.garp_master_delay : d.conf.garp_master_refresh) = *v;
    return Status::ok();
}

/// The instance's family (its first advertised address's; IPv4 without one, as keepalived):
/// IPv6 needs VRRPv3 and unicast addresses of the same family.
Status resolve_family(const InstanceDraft& d, InstanceConf& c) {
    // virtual_ipaddress first, whichever block came first (adverts, status page).
    std::stable_partition(c.vips.begin(), c.vips.end(),
                          [](const VirtualIp& v) { return !v.excluded; });
    for (const VirtualIp& v : c.vips) {
        if (!v.excluded) {
            c.ipv6 = v.addr.is_v6();
            break;
        }
    }
    const char* fam = c.ipv6 ? "IPv6" : "IPv4";
    if (c.ipv6 && c.version == 2) {
        // RFC 3768 is IPv4 only; keepalived sends IPv6 "v2" adverts only outside vrrp_strict.
        return at(d.version_where.empty() ? c.where : d.version_where,
                  "vrrp_instance \"" + c.name +
                      "\" has IPv6 virtual addresses: VRRP version 2 is IPv4 only, IPv6 needs "
                      "version 3 (RFC 5798)");
    }
    if (c.unicast_src && c.unicast_src->is_v6() != c.ipv6) {
        return at(c.where, "\"unicast_src_ip\" " + c.unicast_src->text() + " is not " + fam +
                               " as the virtual addresses of vrrp_instance \"" + c.name + "\"");
    }
    for (const IpAddr& p : c.unicast_peers) {
        if (p.is_v6() != c.ipv6) {
            return at(c.where, "\"unicast_peer\" " + p.text() + " is not " + fam +
                                   " as the virtual addresses of vrrp_instance \"" + c.name + "\"");
        }
    }
    return Status::ok();
}

/// Once the vrrp block is read: versions, intervals, authentication, VRIDs, script names.
Status resolve(VrrpConf& conf) {
    for (auto& dp : conf.drafts) {
        InstanceDraft& d = *dp;
        InstanceConf& c = d.conf;
        if (!d.has_interface) {
            return at(c.where, "no \"interface\" in vrrp_instance \"" + c.name + "\"");
        }
        if (!d.has_vrid) {
            return at(c.where, "no \"virtual_router_id\" in vrrp_instance \"" + c.name + "\"");
        }
        c.version = d.version ? *d.version : conf.version ? *conf.version : 3;
        c.priority = d.priority ? *d.priority : 100;
        c.advert_int = d.advert_int ? *d.advert_int : Millis(1000);
        std::string aw = d.advert_where.empty() ? c.where : d.advert_where;
        if (c.version == 2) {
            // RFC 3768 §5.3.7: Adver Int, 8 bits, in seconds.
            if (c.advert_int.count() % 1000 != 0 || c.advert_int > Millis(255000)) {
                return at(aw, "invalid value \"" + std::to_string(c.advert_int.count()) +
                                  "ms\" in \"advert_int\" directive, VRRP version 2 needs whole "
                                  "seconds (1s..255s)");
            }
        } else {
            // RFC 5798 §5.2.7: Max Adver Int, 12 bits, in centiseconds.
            if (c.advert_int.count() % 10 != 0 || c.advert_int > Millis(40950)) {
                return at(aw, "invalid value \"" + std::to_string(c.advert_int.count()) +
                                  "ms\" in \"advert_int\" directive, VRRP version 3 needs steps "
                                  "of 10ms up to 40950ms");
            }
            if (c.auth_pass) {
                // RFC 5798 §9: VRRPv3 has no authentication.
                return at(d.auth_where,
                          "\"authentication\" is only allowed with VRRP version 2 (vrrp_instance "
                          "\"" +
                              c.name + "\" uses version 3)");
            }
        }
        HALO_TRY(resolve_family(d, c));
        if (c.unicast_src && c.unicast_peers.empty()) {
            return at(c.where, "\"unicast_src_ip\" without \"unicast_peer\" in vrrp_instance \"" +
                                   c.name + "\"");
        }
        for (const TrackedScript& t : c.track_scripts) {
            if (conf.find_script(t.name) == nullptr) {
                return at(t.where, "unknown vrrp_script \"" + t.name + "\"");
            }
        }
        for (const InstanceConf& o : conf.instances) {
            // RFC 5798 §5.2.3: IPv4 and IPv6 virtual routers have VRIDs of their own.
            if (o.vrid == c.vrid && o.interface == c.interface && o.version == c.version &&
                o.ipv6 == c.ipv6) {
                return at(c.where, "virtual_router_id " + std::to_string(c.vrid) + " on \"" +
                                       c.interface + "\" is already used by vrrp_instance \"" +
                                       o.name + "\"");
            }
        }
        conf.instances.push_back(c);
    }
    conf.drafts.clear();
    HALO_TRY(resolve_sync_groups(conf));
    if (!conf.script_user) {
        conf.script_user = "nobody";
    }
    return Status::ok();
}

Status set_vrrp(ConfContext& cf, VrrpConf& conf) {
    HALO_TRY(cf.mark_given(conf.seen));
    HALO_TRY(cf.apply_block(cf.node().children, core::kCtxVrrp, {}));
    Status s = resolve(conf);
    if (s.is_ok() && conf.instances.empty()) {
        HALO_LOG(kWarn, "no vrrp_instance in the vrrp block in %s", cf.node().where().c_str());
    }
    return s;
}

constexpr uint32_t kVrrp = core::kCtxVrrp;
constexpr uint32_t kInst = core::kCtxVrrpInstance;
constexpr uint32_t kScript = core::kCtxVrrpScript;
constexpr uint32_t kSync = core::kCtxVrrpSyncGroup;
constexpr core::Args kArgs0To2{0, 2, false};
constexpr core::Args kArgs1To2{1, 2, false};

constexpr core::Directive kDirectives[] = {
    {"vrrp", core::kCtxMain, core::kArgsBlock, core::setter<&set_vrrp>()},
    {"version", kVrrp | kInst, core::kArgs1, core::setter<&set_version>()},
    {"script_user", kVrrp, core::kArgs1, core::setter<&set_script_user>()},
    {"vrrp_rt_priority", kVrrp, core::kArgs1, core::slot<&VrrpConf::rt_priority, 1, 99>()},
    {"vrrp_no_swap", kVrrp, core::kArgs0, core::setter<&set_no_swap>()},
    {"vrrp_script", kVrrp, core::kArgsBlock1, core::setter<&set_vrrp_script>()},
    {"vrrp_instance", kVrrp, core::kArgsBlock1, core::setter<&set_vrrp_instance>()},
    {"vrrp_sync_group", kVrrp, core::kArgsBlock1, core::setter<&set_vrrp_sync_group>()},
    {"group", kSync, core::kArgsBlock, core::setter<&set_sync_group_members>()},
    {"sync_group_tracking_weight", kSync, core::kArgs0,
     core::setter<&set_sync_group_tracking_weight>()},

    {"script", kScript, core::kArgs1ToN, core::setter<&set_script_cmd>()},
    {"interval", kScript, core::kArgs1, core::setter<&set_script_interval>()},
    {"timeout", kScript, core::kArgs1, core::setter<&set_script_timeout>()},
    {"weight", kScript, core::kArgs1, core::setter<&set_script_weight>()},
    {"fall", kScript, core::kArgs1, core::setter<&set_script_count>()},
    {"rise", kScript, core::kArgs1, core::setter<&set_script_count>()},
    {"user", kScript, core::kArgs1, core::setter<&set_script_user>()},

    {"state", kInst, core::kArgs1, core::setter<&set_state>()},
    {"interface", kInst, core::kArgs1, core::setter<&set_interface>()},
    {"virtual_router_id", kInst, core::kArgs1, core::setter<&set_vrid>()},
    {"priority", kInst, core::kArgs1, core::setter<&set_priority>()},
    {"advert_int", kInst, core::kArgs1, core::setter<&set_advert_int>()},
    {"authentication", kInst, core::kArgsBlock, core::setter<&set_authentication>()},
    {"virtual_ipaddress", kInst, core::kArgsBlock, core::setter<&set_virtual_ipaddress>()},
    {"virtual_ipaddress_excluded", kInst, core::kArgsBlock, core::setter<&set_virtual_ipaddress>()},
    {"nopreempt", kInst, core::kArgs0, core::setter<&set_nopreempt>()},
    {"preempt_delay", kInst, core::kArgs1, core::setter<&set_preempt_delay>()},
    {"unicast_src_ip", kInst, core::kArgs1, core::setter<&set_unicast_src_ip>()},
    {"unicast_peer", kInst, core::kArgsBlock, core::setter<&set_unicast_peer>()},
    {"track_script", kInst | kSync, kArgs1To2, core::setter<&set_track_script>()},
    {"track_interface", kInst | kSync, kArgs1To2, core::setter<&set_track_named>()},
    {"track_upstream", kInst | kSync, kArgs1To2, core::setter<&set_track_named>()},
    {"track_workers", kInst, kArgs0To2, core::setter<&set_track_workers>()},
    {"notify_master", kInst | kSync, core::kArgs1, core::setter<&set_notify>()},
    {"notify_backup", kInst | kSync, core::kArgs1, core::setter<&set_notify>()},
    {"notify_fault", kInst | kSync, core::kArgs1, core::setter<&set_notify>()},
    {"notify", kInst | kSync, core::kArgs1, core::setter<&set_notify>()},
    {"garp_master_delay", kInst, core::kArgs1, core::setter<&set_garp>()},
    {"garp_master_repeat", kInst, core::kArgs1, core::setter<&set_garp>()},
    {"garp_master_refresh", kInst, core::kArgs1, core::setter<&set_garp>()},
};

constexpr core::ConfHooks kConfs[] = {core::conf_hooks<VrrpConf>(core::ConfLevel::kMain)};

Status postconfiguration(core::Cycle& cycle) {
    cycle.attachment<StatusReader>().read = &instance_status;
    VrrpConf& conf = cycle.conf<VrrpConf>();
    if (conf.instances.empty()) {
        return Status::ok();
    }
    return setup_helper(cycle, conf);
}

}  // namespace

std::string IpAddr::text() const {
    if (empty()) {
        return "";
    }
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(is_v6() ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof(buf));
    return buf;
}

std::optional<IpAddr> IpAddr::parse(std::string_view text) {
    std::string s(text);
    IpAddr a;
    if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
        a.family = 4;
        return a;
    }
    if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
        a.family = 6;
        return a;
    }
    return std::nullopt;
}

std::string VirtualIp::text() const {
    std::string t = addr.text() + "/" + std::to_string(prefix);
    if (!dev.empty()) {
        t += " dev " + dev;
    }
    return t;
}

const ScriptConf* VrrpConf::find_script(std::string_view name) const {
    for (const ScriptConf& s : scripts) {
        if (s.name == name) {
            return &s;
        }
    }
    return nullptr;
}

const VrrpConf* vrrp_conf(const core::Cycle& cycle) {
    if (cycle.registry().index_of(kModule) < 0) {
        return nullptr;
    }
    return &cycle.conf<VrrpConf>();
}

namespace {
constexpr core::Command kCommands[] = {
    {"--import-keepalived", "file",
     "print a halo.conf made from a keepalived.conf (keywords\n"
     "                  it cannot map are listed on stderr with their lines), then exit",
     &keepalived::run_import},
};
}  // namespace

extern const core::Module kModule{
    .name = "vrrp",
    .type = core::ModuleType::kCore,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &postconfiguration,
    .init_process = &init_worker,
    .exit_process = &exit_worker,
    .commands = kCommands,
};

}  // namespace vrrp
