// `halo --import-keepalived`: vrrp_instance blocks into halo's `vrrp_instance { }` (called
// from keepalived_import.cc, after the vrrp_scripts). What halo's vrrp block accepts is in
// vrrp_module.cc; whatever would fail there is reported here and left out instead.
#include <algorithm>
#include <set>
#include <tuple>

#include "modules/vrrp/keepalived_map.h"
#include "modules/vrrp/vrrp_conf.h"

namespace vrrp::keepalived {

using Millis = std::chrono::milliseconds;

namespace {

/// `track_script { a; b weight -20 }` or `track_interface { eth1 weight 10 }`.
/// keepalived adds a positive track_interface weight while the interface is up, halo adds a
/// weight while it is down: `bonus` gets those weights, for the caller to add to the priority,
/// and the line says weight=-N (the same effective priority in both states). Without
/// `weights` (a sync group member) every tracker is written as a FAULT tracker.
/// `seen`: what the instance tracks already (its own blocks, then its sync group's).
void map_tracks(const KaNode& n, bool scripts, bool weights, const VrrpState& st,
                std::set<std::string>& seen, std::vector<std::string>& out, int& bonus,
                Report& report) {
    std::vector<KaNode> items = n.children;
    if (!n.block && n.words.size() >= 2) {  // keepalived 1.x also took `track_script name`
        KaNode one = n;
        one.words.erase(one.words.begin());
        items.push_back(one);
    }
    if (items.empty()) {
        report.skip(n, n.keyword(), "nothing to track");
    }
    for (const KaNode& t : items) {
        const std::string& name = t.words[0];
        if (!t.condition.empty() || t.block) {
            report.skip(t, t.condition.empty() ? name : t.condition);
            continue;
        }
        if (scripts && st.scripts.count(name) == 0) {
            report.skip(t, n.keyword(), "vrrp_script \"" + name + "\" was not imported");
            continue;
        }
        if (!scripts &&
            (name.empty() || name.size() >= 16 || name.find('/') != std::string::npos)) {
            report.skip(t, n.keyword(), "\"" + name + "\" is not an interface name");
            continue;
        }
        if (!seen.insert(std::string(n.keyword()) + " " + name).second) {
            report.skip(t, n.keyword(), "\"" + name + "\" is tracked twice");
            continue;
        }
        std::string line = std::string(n.keyword()) + " " + word(name);
        size_t i = 1;
        if (!weights) {
            // weight=0 overrides the script's own weight: failing means FAULT.
            line += scripts ? " weight=0" : "";
            if (i + 1 < t.words.size() && t.words[i] == "weight") {
                report.note(t, std::string(n.keyword()) + " " + name +
                                   ": its weight is ignored, as keepalived does in a "
                                   "vrrp_sync_group without sync_group_tracking_weight "
                                   "(failing is a FAULT)");
                i += 2;
            }
        } else if (i + 1 < t.words.size() && t.words[i] == "weight" &&
                   parse_weight(t.words[i + 1])) {
            int w = *parse_weight(t.words[i + 1]);
            if (!scripts && w > 0) {
                bonus += w;
                w = -w;
            }
            line += " weight=" + std::to_string(w);
            i += 2;
        }
        if (i + 1 < t.words.size() && t.words[i] == "weight") {
            report.skip(t, "weight " + t.words[i + 1], "the weight must be -253..253");
            i += 2;
        }
        for (; i < t.words.size(); i++) {
            report.skip(t, t.words[i]);
        }
        out.push_back(line + ";");
    }
}

/// One vrrp_instance being mapped: its lines and what its keywords said.
struct InstanceMapping {
    const std::string& name;
    int version;
    const VrrpState& st;
    std::vector<std::string> lines{};
    std::set<std::string> once{};  // single-valued keywords already written
    std::string iface{};
    int vrid = 0;
    int priority = 100;               // keepalived's default too
    int bonus = 0;                    // positive track_interface weights
    std::set<std::string> tracked{};  // "track_script chk", ... (map_tracks)
    bool seen_garp_delay = false, seen_garp_repeat = false, seen_garp_refresh = false;
    std::optional<std::string> src{};  // unicast_src_ip
    const KaNode* src_node = nullptr;
    bool has_peers = false;
    bool v6 = false;                    // the family of the first virtual_ipaddress
    std::set<std::string> vips_seen{};  // both address lists
    size_t vip_count = 0;
};

/// `virtual_ipaddress { 10.0.0.1/24 dev eth1 label eth1:1 }` (`excluded`:
/// virtual_ipaddress_excluded): the address, its `dev` and IPv6 `-nodad`. The advertised ones
/// are of the instance's family (keepalived ignores the others: "address family must match
/// VRRP instance"); the excluded ones of either.
void map_vips(const KaNode& n, bool excluded, InstanceMapping& in, std::vector<std::string>& out,
              Report& report) {
    for (const KaNode& v : n.children) {
        if (!v.condition.empty() || v.block) {
            report.skip(v);
            continue;
        }
        std::string addr = v.words[0];
        size_t slash = addr.find('/');
        std::string host = addr.substr(0, slash);
        AddrKind kind = addr_kind(host);
        long max = kind == AddrKind::kV6 ? 128 : 32;
        std::optional<long> prefix = max;
        if (slash != std::string::npos) {
            prefix = parse_count(std::string_view(addr).substr(slash + 1));
        }
        std::string what = std::string(n.keyword()) + " " + addr;
        if (kind == AddrKind::kBad || !prefix || *prefix < 1 || *prefix > max) {
            report.skip(v, what, "not an IPv4 or IPv6 address[/prefix]");
            continue;
        }
        if (!excluded && kind != (in.v6 ? AddrKind::kV6 : AddrKind::kV4)) {
            report.skip(v, what,
                        "keepalived ignores it too: its family is not the one of the instance's "
                        "first address (list it in virtual_ipaddress_excluded)");
            continue;
        }
        if (!in.vips_seen.insert(host).second) {
            report.skip(v, what, "the address is listed twice");
            continue;
        }
        if (in.vip_count == kMaxSlotVips) {
            report.skip(v, what,
                        "halo takes " + std::to_string(kMaxSlotVips) + " per instance at most");
            continue;
        }
        in.vip_count++;
        std::string line = addr;
        for (size_t i = 1; i < v.words.size(); i++) {
            if (v.words[i] == "dev" && i + 1 < v.words.size()) {
                line += " dev " + word(v.words[i + 1]);
                i++;
                continue;
            }
            if (v.words[i] == "-nodad" && kind == AddrKind::kV6) {
                line += " -nodad";
                continue;
            }
            // label, scope, brd, broadcast, no_track, preferred_lft, ...: report the option
            // and its value (the next word when it is not itself a known option).
            report.skip(v, v.words[i]);
            if (v.words[i] != "no_track" && v.words[i] != "home" && v.words[i] != "-nodad" &&
                v.words[i] != "noprefixroute" && v.words[i] != "autojoin" &&
                v.words[i] != "broadcast") {
                i++;
            }
        }
        out.push_back(line + ";");
    }
}

Mapped instance_state(const KaNode& n, InstanceMapping& in, Report&) {
    if (arg_count(n) != 1 || (n.words[1] != "MASTER" && n.words[1] != "BACKUP")) {
        return Mapped::kInvalid;
    }
    in.lines.push_back("state " + n.words[1] + ";");
    return Mapped::kMapped;
}

Mapped instance_interface(const KaNode& n, InstanceMapping& in, Report&) {
    if (arg_count(n) != 1 || n.words[1].empty() || n.words[1].size() >= 16 ||
        n.words[1].find('/') != std::string::npos) {
        return Mapped::kInvalid;
    }
    in.iface = n.words[1];
    in.lines.push_back("interface " + word(in.iface) + ";");
    return Mapped::kMapped;
}

/// virtual_router_id, priority: 1..255, kept in `Field` (later checks read it) and written
/// under the same name.
template <int InstanceMapping::*Field>
Mapped instance_count(const KaNode& n, InstanceMapping& in, Report&) {
    auto v = count_arg(n, 1, 255);
    if (!v) {
        return Mapped::kInvalid;
    }
    in.*Field = static_cast<int>(*v);
    in.lines.push_back(std::string(n.keyword()) + " " + n.words[1] + ";");
    return Mapped::kMapped;
}

/// The advertisement interval `t` as the VRRP version can carry it.
Millis advert_interval(Millis t, int version) {
    if (version == 2) {  // RFC 3768 §5.3.7: whole seconds, 1..255
        return Millis(std::clamp<long>((t.count() + 999) / 1000, 1, 255) * 1000);
    }
    // RFC 5798 §5.2.7: centiseconds, up to 40.95s
    return Millis(std::clamp<long>((t.count() + 9) / 10, 1, 4095) * 10);
}

Mapped instance_advert_int(const KaNode& n, InstanceMapping& in, Report& report) {
    auto t = arg_count(n) == 1 ? parse_seconds(n.words[1]) : std::nullopt;
    if (!t || t->count() <= 0) {
        return Mapped::kInvalid;
    }
    Millis fixed = advert_interval(*t, in.version);
    if (fixed != *t) {
        report.note(n, "keepalived advert_int " + n.words[1] + " written as " +
                           duration_text(fixed) + " (VRRP version " + std::to_string(in.version) +
                           ")");
    }
    in.lines.push_back("advert_int " + duration_text(fixed) + ";");
    return Mapped::kMapped;
}

Mapped instance_authentication(const KaNode& n, InstanceMapping& in, Report& report) {
    if (!n.block) {
        return Mapped::kInvalid;
    }
    std::string type, pass;
    for (const KaNode& a : n.children) {
        if (a.keyword() == "auth_type" && a.words.size() == 2) {
            type = a.words[1];
        } else if (a.keyword() == "auth_pass" && a.words.size() == 2) {
            pass = a.words[1];
        } else {
            report.skip(a);
        }
    }
    if (in.version == 3) {
        report.skip(n, n.keyword(), "VRRP version 3 has no authentication (RFC 5798)");
    } else if (type != "PASS") {
        report.skip(n, "auth_type " + type, "halo supports auth_type PASS only");
    } else if (pass.empty()) {
        report.skip(n, n.keyword(), "no auth_pass");
    } else {
        if (pass.size() > 8) {  // RFC 3768 §5.3.10; keepalived truncates it too
            report.note(n, "keepalived auth_pass truncated to its first 8 characters");
            pass.resize(8);
        }
        in.lines.push_back("authentication { auth_type PASS; auth_pass " + word(pass) + "; }");
    }
    return Mapped::kMapped;
}

Mapped instance_vips(const KaNode& n, InstanceMapping& in, Report& report) {
    if (!n.block || arg_count(n) != 0) {
        return Mapped::kInvalid;
    }
    std::vector<std::string> vips;
    map_vips(n, n.keyword() == "virtual_ipaddress_excluded", in, vips, report);
    if (!vips.empty()) {
        in.lines.push_back(std::string(n.keyword()) + " {");
        for (const std::string& v : vips) {
            in.lines.push_back("    " + v);
        }
        in.lines.push_back("}");
    }
    return Mapped::kMapped;
}

Mapped instance_nopreempt(const KaNode& n, InstanceMapping& in, Report&) {
    if (arg_count(n) != 0) {
        return Mapped::kInvalid;
    }
    in.lines.push_back("nopreempt;");
    return Mapped::kMapped;
}

Mapped instance_preempt_delay(const KaNode& n, InstanceMapping& in, Report&) {
    auto t = arg_count(n) == 1 ? parse_seconds(n.words[1]) : std::nullopt;
    if (!t || *t > Millis(3600 * 1000)) {
        return Mapped::kInvalid;
    }
    in.lines.push_back("preempt_delay " + duration_text(*t) + ";");
    return Mapped::kMapped;
}

Mapped instance_src_ip(const KaNode& n, InstanceMapping& in, Report&) {
    if (arg_count(n) != 1 || addr_kind(n.words[1]) != (in.v6 ? AddrKind::kV6 : AddrKind::kV4)) {
        return Mapped::kInvalid;
    }
    in.lines.push_back("unicast_src_ip " + n.words[1] + ";");
    in.src = n.words[1];
    in.src_node = &n;
    return Mapped::kMapped;
}

Mapped instance_peers(const KaNode& n, InstanceMapping& in, Report& report) {
    if (!n.block || arg_count(n) != 0) {
        return Mapped::kInvalid;
    }
    std::set<std::string> peers;
    std::string list;
    for (const KaNode& p : n.children) {
        // keepalived skips a peer of another family than the instance's ("MUST be of the
        // same family").
        if (p.words.empty() || addr_kind(p.words[0]) != (in.v6 ? AddrKind::kV6 : AddrKind::kV4) ||
            p.block || !p.condition.empty()) {
            report.skip(p, p.words.empty() ? "" : p.words[0],
                        in.v6 ? "not an IPv6 peer" : "not an IPv4 peer");
            continue;
        }
        for (size_t i = 1; i < p.words.size(); i++) {
            report.skip(p, p.words[i]);
        }
        if (peers.insert(p.words[0]).second) {
            list += " " + p.words[0] + ";";
        }
    }
    if (!list.empty()) {
        in.has_peers = true;
        in.lines.push_back("unicast_peer {" + list + " }");
    }
    return Mapped::kMapped;
}

/// track_script, track_interface.
Mapped instance_track(const KaNode& n, InstanceMapping& in, Report& report) {
    map_tracks(n, n.keyword() == "track_script", in.st.unweighted.count(in.name) == 0, in.st,
               in.tracked, in.lines, in.bonus, report);
    return Mapped::kMapped;
}

/// notify_master, notify_backup, notify_fault, notify.
Mapped instance_notify(const KaNode& n, InstanceMapping& in, Report& report) {
    if (arg_count(n) < 1 || n.block) {
        return Mapped::kInvalid;
    }
    std::string cmd = command_words(n);
    if (cmd.empty()) {
        report.skip(n, n.keyword(), "the script is empty");
        return Mapped::kReported;
    }
    in.lines.push_back(std::string(n.keyword()) + " " + word(cmd) + ";");
    return Mapped::kMapped;
}

/// garp_master_delay, garp_master_refresh.
Mapped instance_garp_time(const KaNode& n, InstanceMapping& in, Report&) {
    auto t = arg_count(n) == 1 ? parse_seconds(n.words[1]) : std::nullopt;
    if (!t || *t > Millis(86400000)) {
        return Mapped::kInvalid;
    }
    (n.keyword() == "garp_master_delay" ? in.seen_garp_delay : in.seen_garp_refresh) = true;
    in.lines.push_back(std::string(n.keyword()) + " " + duration_text(*t) + ";");
    return Mapped::kMapped;
}

Mapped instance_garp_repeat(const KaNode& n, InstanceMapping& in, Report&) {
    if (!count_arg(n, 1, 255)) {
        return Mapped::kInvalid;
    }
    in.seen_garp_repeat = true;
    in.lines.push_back("garp_master_repeat " + n.words[1] + ";");
    return Mapped::kMapped;
}

Mapped instance_version(const KaNode& n, InstanceMapping& in, Report&) {
    if (arg_count(n) != 1 || (n.words[1] != "2" && n.words[1] != "3")) {
        return Mapped::kInvalid;
    }
    in.lines.push_back("version " + n.words[1] + ";");
    return Mapped::kMapped;
}

constexpr Keyword<InstanceMapping> kInstanceKeywords[] = {
    {"state", &instance_state},
    {"interface", &instance_interface},
    {"virtual_router_id", &instance_count<&InstanceMapping::vrid>},
    {"priority", &instance_count<&InstanceMapping::priority>},
    {"advert_int", &instance_advert_int},
    {"authentication", &instance_authentication},
    {"virtual_ipaddress", &instance_vips},
    {"virtual_ipaddress_excluded", &instance_vips},
    {"nopreempt", &instance_nopreempt},
    {"preempt_delay", &instance_preempt_delay},
    {"unicast_src_ip", &instance_src_ip},
    {"unicast_peer", &instance_peers},
    {"track_script", &instance_track},
    {"track_interface", &instance_track},
    {"notify_master", &instance_notify},
    {"notify_backup", &instance_notify},
    {"notify_fault", &instance_notify},
    {"notify", &instance_notify},
    {"garp_master_delay", &instance_garp_time},
    {"garp_master_refresh", &instance_garp_time},
    {"garp_master_repeat", &instance_garp_repeat},
    {"version", &instance_version},
};

/// The instance's name when halo can take it and no instance had it before; else reported.
bool admit_name(const KaNode& block, VrrpState& st, Report& report) {
    if (block.words.size() != 2 || !block.block) {
        report.skip(block, "vrrp_instance", "expected \"vrrp_instance NAME { ... }\"");
        return false;
    }
    const std::string& name = block.words[1];
    if (name.size() > kMaxInstanceName) {
        report.skip(
            block, "vrrp_instance " + name,
            "halo's instance names have " + std::to_string(kMaxInstanceName) + " bytes at most");
        return false;
    }
    if (!st.instances.insert(name).second) {
        report.skip(block, "vrrp_instance " + name, "an instance of that name is defined before");
        return false;
    }
    return true;
}

/// The instance's own `version` (2 or 3), 0 without one.
int own_version(const KaNode& block) {
    int version = 0;
    for (const KaNode& n : block.children) {
        if (n.keyword() == "version" && n.words.size() == 2 && n.condition.empty() &&
            (n.words[1] == "2" || n.words[1] == "3")) {
            version = n.words[1] == "2" ? 2 : 3;
        }
    }
    return version;
}

/// The VRRP version of the instance: its own `version`, else 3 for IPv6 (keepalived's
/// vrrp_complete_instance), else global_defs', else 2.
int instance_vrrp_version(const KaNode& block, const Globals& g, bool v6) {
    int own = own_version(block);
    if (own != 0) {
        return own;
    }
    return v6 ? 3 : g.version.value_or(2);  // keepalived's default is VRRPv2
}

/// Whether the first address of the first virtual_ipaddress block is IPv6: keepalived's
/// instance family (IPv4 without one).
bool first_vip_is_v6(const KaNode& block) {
    for (const KaNode& n : block.children) {
        if (n.keyword() != "virtual_ipaddress" || !n.block || !n.condition.empty()) {
            continue;
        }
        for (const KaNode& v : n.children) {
            std::string host = v.words.empty() ? "" : v.words[0].substr(0, v.words[0].find('/'));
            AddrKind kind = addr_kind(host);
            if (v.condition.empty() && !v.block && kind != AddrKind::kBad) {
                return kind == AddrKind::kV6;
            }
        }
    }
    return false;
}

/// Maps the instance's keywords; a single-valued one given twice is reported.
void read_instance(const KaNode& block, InstanceMapping& in, Report& report) {
    for (const KaNode& n : block.children) {
        std::string kw(n.keyword());
        if (!n.condition.empty()) {
            report.skip(n, n.condition, "conditional configuration");
            continue;
        }
        bool single = kw != "track_script" && kw != "track_interface";
        if (single && in.once.count(kw) != 0) {
            report.skip(n, kw, "given twice");
            continue;
        }
        if (map_keyword(n, kInstanceKeywords, in, report) == Mapped::kMapped && single) {
            in.once.insert(kw);
        }
    }
}

/// An instance halo can run has an interface and a virtual_router_id, unique per version;
/// else reported. unicast_src_ip without unicast_peer is dropped (reported) first.
bool admit_instance(const KaNode& block, InstanceMapping& in, VrrpState& st, Report& report) {
    if (in.src && !in.has_peers) {
        in.lines.erase(
            std::find(in.lines.begin(), in.lines.end(), "unicast_src_ip " + *in.src + ";"));
        report.skip(*in.src_node, "unicast_src_ip", "halo uses it for unicast_peer only");
    }
    if (in.iface.empty() || in.vrid == 0) {
        report.skip(block, "vrrp_instance " + in.name,
                    in.iface.empty() ? "it has no usable \"interface\""
                                     : "it has no usable \"virtual_router_id\"");
        return false;
    }
    if (in.v6 && in.version == 2) {
        // keepalived sends these outside vrrp_strict only (and turns them into v3 in it).
        report.skip(block, "vrrp_instance " + in.name,
                    "IPv6 with VRRP version 2 is keepalived's own (RFC 3768 is IPv4 only); "
                    "halo runs IPv6 instances with version 3 (RFC 5798)");
        return false;
    }
    // IPv4 and IPv6 virtual routers have VRIDs of their own (RFC 5798 §5.2.3).
    if (!st.vrids.insert({in.iface, in.vrid, in.version * (in.v6 ? -1 : 1)}).second) {
        report.skip(block, "vrrp_instance " + in.name,
                    "virtual_router_id " + std::to_string(in.vrid) + " on " + in.iface +
                        " is used by an instance before");
        return false;
    }
    return true;
}

/// keepalived's positive track_interface weights (added while up) as halo's negative ones
/// (added while down): the priority is raised by their sum.
void raise_priority(const KaNode& block, InstanceMapping& in, Report& report) {
    int raised = std::min(in.priority + in.bonus, 254);
    if (in.priority == 255) {
        raised = 255;  // the owner's priority never changes, in keepalived as in halo
    }
    std::string line = "priority " + std::to_string(raised) + ";";
    // Found by its text: lines may have been removed since it was written.
    auto it = std::find_if(in.lines.begin(), in.lines.end(),
                           [](const std::string& l) { return l.rfind("priority ", 0) == 0; });
    if (it != in.lines.end()) {
        *it = line;
    } else {
        in.lines.push_back(line);
    }
    report.note(block, "vrrp_instance " + in.name + ": the positive track_interface weights (" +
                           std::to_string(in.bonus) + ", added while up) are written as " +
                           "negative ones (added while down) with priority " +
                           std::to_string(in.priority) + " + " + std::to_string(in.bonus) + " = " +
                           std::to_string(raised));
}

/// global_defs' vrrp_garp_master_* for what the instance does not set itself.
void add_global_garp(const Globals& g, InstanceMapping& in) {
    if (g.garp_delay && !in.seen_garp_delay) {
        in.lines.push_back("garp_master_delay " + duration_text(*g.garp_delay) + ";");
    }
    if (g.garp_repeat && !in.seen_garp_repeat) {
        in.lines.push_back("garp_master_repeat " + std::to_string(*g.garp_repeat) + ";");
    }
    if (g.garp_refresh && !in.seen_garp_refresh) {
        in.lines.push_back("garp_master_refresh " + duration_text(*g.garp_refresh) + ";");
    }
}

void write_instance(const KaNode& block, const InstanceMapping& in, Writer& out) {
    out.open("vrrp_instance " + word(in.name));
    out.line("# keepalived " + block.where());
    for (const std::string& l : in.lines) {
        if (l == "}") {
            out.close();
        } else if (l.back() == '{') {
            out.open(l.substr(0, l.size() - 2));
        } else {
            out.line(l.rfind("    ", 0) == 0 ? l.substr(4) : l);
        }
    }
    out.close();
}

}  // namespace

/// Writes one vrrp_instance; reports and leaves out what halo's vrrp block would refuse.
void map_instance(const KaNode& block, const Globals& g, VrrpState& st, Writer& out,
                  Report& report) {
    if (!admit_name(block, st, report)) {
        return;
    }
    bool v6 = first_vip_is_v6(block);
    InstanceMapping in{
        .name = block.words[1], .version = instance_vrrp_version(block, g, v6), .st = st};
    in.v6 = v6;
    if (v6 && own_version(block) == 0 && g.version.value_or(2) != 3) {
        // The vrrp block's version is global_defs' (2 by default): IPv6 is v3 in keepalived.
        in.lines.push_back("version 3;");
    }
    read_instance(block, in, report);
    if (!admit_instance(block, in, st, report)) {
        return;
    }
    if (in.bonus > 0) {
        raise_priority(block, in, report);
    }
    add_global_garp(g, in);
    st.written.insert(in.name);
    write_instance(block, in, out);
}

}  // namespace vrrp::keepalived
