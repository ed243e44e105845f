// `halo --import-keepalived`: global_defs, vrrp_script and vrrp_instance into halo's `vrrp { }`
// block (the virtual_server half is keepalived_lvs.cc). What halo's vrrp block accepts is in
// vrrp_module.cc; whatever would fail there is reported here and left out instead.
#include "modules/vrrp/keepalived_import.h"

#include <arpa/inet.h>
#include <pwd.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <tuple>

#include "auto_config.h"
#include "modules/vrrp/keepalived_map.h"
#include "modules/vrrp/vrrp_conf.h"

namespace vrrp::keepalived {

using core::Status;
using Millis = std::chrono::milliseconds;

namespace {

/// A signed weight within halo's (and keepalived's) -253..253.
std::optional<int> parse_weight(std::string_view s) {
    bool neg = !s.empty() && s[0] == '-';
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
        s.remove_prefix(1);
    }
    auto v = parse_count(s);
    if (!v || *v > 253) {
        return std::nullopt;
    }
    return static_cast<int>(neg ? -*v : *v);
}

bool user_exists(const std::string& name) {
    return getpwnam(name.c_str()) != nullptr;
}

// ---- global_defs ----

struct Globals {
    std::optional<int> version;
    std::optional<std::string> script_user;
    std::optional<Millis> garp_delay, garp_refresh;
    std::optional<long> garp_repeat;
    std::optional<long> rt_priority;
    bool no_swap = false;
    std::vector<std::string> comments;  // for the top of the output
    std::vector<std::string> vrrp_comments;
};

void map_global_defs(const KaNode& block, Globals& g, Report& report) {
    for (const KaNode& n : block.children) {
        std::string_view kw = n.keyword();
        size_t argc = n.words.size() - 1;
        if (!n.condition.empty()) {
            report.skip(n, n.condition, "conditional configuration");
        } else if (kw == "router_id" && argc == 1 && !n.block) {
            g.comments.push_back("keepalived router_id " + n.words[1] + " (" + n.where() +
                                 "): halo has no router id");
        } else if (kw == "script_user" && (argc == 1 || argc == 2) && !n.block) {
            if (!user_exists(n.words[1])) {
                report.skip(n, kw, "user \"" + n.words[1] + "\" does not exist on this host");
                continue;
            }
            g.script_user = n.words[1];
            if (argc == 2) {
                report.skip(n, "script_user ... " + n.words[2],
                            "halo runs scripts with the user's own group");
            }
        } else if (kw == "enable_script_security" && argc == 0) {
            g.vrrp_comments.push_back("enable_script_security (" + n.where() +
                                      "): halo always runs scripts as script_user, never as "
                                      "root");
        } else if (kw == "vrrp_version" && argc == 1 && (n.words[1] == "2" || n.words[1] == "3")) {
            g.version = n.words[1] == "2" ? 2 : 3;
        } else if ((kw == "vrrp_garp_master_delay" || kw == "vrrp_garp_master_refresh") &&
                   argc == 1 && parse_seconds(n.words[1])) {
            (kw == "vrrp_garp_master_delay" ? g.garp_delay : g.garp_refresh) =
                parse_seconds(n.words[1]);
        } else if (kw == "vrrp_garp_master_repeat" && argc == 1 && parse_count(n.words[1]) &&
                   *parse_count(n.words[1]) >= 1 && *parse_count(n.words[1]) <= 255) {
            g.garp_repeat = parse_count(n.words[1]);
        } else if (kw == "vrrp_rt_priority" && argc == 1 && parse_count(n.words[1]) &&
                   *parse_count(n.words[1]) >= 1 && *parse_count(n.words[1]) <= 99) {
            g.rt_priority = parse_count(n.words[1]);
        } else if (kw == "vrrp_no_swap" && argc == 0) {
            g.no_swap = true;
        } else {
            report.unmapped(n, {"router_id", "script_user", "vrrp_version",
                                "vrrp_garp_master_delay", "vrrp_garp_master_refresh",
                                "vrrp_garp_master_repeat", "vrrp_rt_priority", "vrrp_no_swap"});
        }
    }
}

// ---- vrrp_script ----

/// Writes one vrrp_script; false (reported) when halo could not load it.
bool map_script(const KaNode& block, Writer& out, Report& report) {
    if (block.words.size() != 2 || !block.block) {
        report.skip(block, "vrrp_script", "expected \"vrrp_script NAME { ... }\"");
        return false;
    }
    std::vector<std::string> lines;
    bool has_script = false;
    for (const KaNode& n : block.children) {
        std::string_view kw = n.keyword();
        size_t argc = n.words.size() - 1;
        if (!n.condition.empty()) {
            report.skip(n, n.condition, "conditional configuration");
            continue;
        }
        if (kw == "script" && argc >= 1 && !n.block) {
            std::string cmd = command_words(n);
            if (!has_script && !cmd.empty()) {
                lines.push_back("script " + word(cmd) + ";");
                has_script = true;
                continue;
            }
        } else if ((kw == "interval" || kw == "timeout") && argc == 1) {
            auto t = parse_seconds(n.words[1]);
            if (t && *t >= Millis(10)) {
                lines.push_back(std::string(kw) + " " + duration_text(*t) + ";");
                continue;
            }
        } else if (kw == "weight" && (argc == 1 || argc == 2) && parse_weight(n.words[1])) {
            lines.push_back("weight " + std::to_string(*parse_weight(n.words[1])) + ";");
            if (argc == 2) {
                report.skip(n, "weight ... " + n.words[2]);
            }
            continue;
        } else if ((kw == "fall" || kw == "rise") && argc == 1 && parse_count(n.words[1]) &&
                   *parse_count(n.words[1]) >= 1 && *parse_count(n.words[1]) <= 1000) {
            lines.push_back(std::string(kw) + " " + n.words[1] + ";");
            continue;
        } else if (kw == "user" && (argc == 1 || argc == 2)) {
            if (!user_exists(n.words[1])) {
                report.skip(n, kw, "user \"" + n.words[1] + "\" does not exist on this host");
                continue;
            }
            lines.push_back("user " + word(n.words[1]) + ";");
            if (argc == 2) {
                report.skip(n, "user ... " + n.words[2],
                            "halo runs scripts with the user's own group");
            }
            continue;
        }
        report.unmapped(n, {"script", "interval", "timeout", "weight", "fall", "rise", "user"});
    }
    if (!has_script) {
        report.skip(block, "vrrp_script " + block.words[1], "it has no \"script\"");
        return false;
    }
    out.open("vrrp_script " + word(block.words[1]));
    for (const std::string& l : lines) {
        out.line(l);
    }
    out.close();
    return true;
}

// ---- vrrp_instance ----

struct VrrpState {
    std::set<std::string> scripts;  // the vrrp_scripts written
    std::set<std::string> instances;
    std::set<std::string> written;     // the instances in the output
    std::set<std::string> unweighted;  // in a sync group that ignores tracker weights
    std::set<std::tuple<std::string, int, int>> vrids;  // interface, vrid, version
};

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

/// `virtual_ipaddress { 10.0.0.1/24 dev eth1 label eth1:1 }`: the address and its `dev`.
void map_vips(const KaNode& n, std::vector<std::string>& out, Report& report) {
    std::set<std::string> seen;
    for (const KaNode& v : n.children) {
        if (!v.condition.empty() || v.block) {
            report.skip(v);
            continue;
        }
        std::string addr = v.words[0];
        size_t slash = addr.find('/');
        std::string host = addr.substr(0, slash);
        AddrKind kind = addr_kind(host);
        std::optional<long> prefix = 32;
        if (slash != std::string::npos) {
            prefix = parse_count(std::string_view(addr).substr(slash + 1));
        }
        if (kind == AddrKind::kV6) {
            report.skip(v, "virtual_ipaddress " + addr, "halo has no IPv6 virtual addresses yet");
            continue;
        }
        if (kind != AddrKind::kV4 || !prefix || *prefix < 1 || *prefix > 32) {
            report.skip(v, "virtual_ipaddress " + addr, "not an IPv4 address[/prefix]");
            continue;
        }
        if (!seen.insert(host).second) {
            report.skip(v, "virtual_ipaddress " + addr, "the address is listed twice");
            continue;
        }
        if (out.size() == kMaxSlotVips) {
            report.skip(v, "virtual_ipaddress " + addr,
                        "halo takes " + std::to_string(kMaxSlotVips) + " per instance at most");
            continue;
        }
        std::string line = addr;
        for (size_t i = 1; i < v.words.size(); i++) {
            if (v.words[i] == "dev" && i + 1 < v.words.size()) {
                line += " dev " + word(v.words[i + 1]);
                i++;
                continue;
            }
            // label, scope, brd, broadcast, no_track, preferred_lft, ...: report the option
            // and its value (the next word when it is not itself a known option).
            report.skip(v, v.words[i]);
            if (v.words[i] != "no_track" && v.words[i] != "home" && v.words[i] != "nodad" &&
                v.words[i] != "noprefixroute" && v.words[i] != "autojoin" &&
                v.words[i] != "broadcast") {
                i++;
            }
        }
        out.push_back(line + ";");
    }
}

/// Writes one vrrp_instance; reports and leaves out what halo's vrrp block would refuse.
void map_instance(const KaNode& block, const Globals& g, VrrpState& st, Writer& out,
                  Report& report) {
    if (block.words.size() != 2 || !block.block) {
        report.skip(block, "vrrp_instance", "expected \"vrrp_instance NAME { ... }\"");
        return;
    }
    const std::string& name = block.words[1];
    if (name.size() > kMaxInstanceName) {
        report.skip(
            block, "vrrp_instance " + name,
            "halo's instance names have " + std::to_string(kMaxInstanceName) + " bytes at most");
        return;
    }
    if (!st.instances.insert(name).second) {
        report.skip(block, "vrrp_instance " + name, "an instance of that name is defined before");
        return;
    }
    int version = g.version.value_or(2);  // keepalived's default is VRRPv2
    for (const KaNode& n : block.children) {
        if (n.keyword() == "version" && n.words.size() == 2 && n.condition.empty() &&
            (n.words[1] == "2" || n.words[1] == "3")) {
            version = n.words[1] == "2" ? 2 : 3;
        }
    }
    std::vector<std::string> lines;
    std::string iface;
    int vrid = 0;
    bool seen_garp_delay = false, seen_garp_repeat = false, seen_garp_refresh = false;
    std::set<std::string> once;     // single-valued keywords already written
    int priority = 100;             // keepalived's default too
    int bonus = 0;                  // positive track_interface weights
    std::set<std::string> tracked;  // "track_script chk", ... (map_tracks)
    std::optional<std::string> has_src;
    const KaNode* src_node = nullptr;
    bool has_peers = false;
    for (const KaNode& n : block.children) {
        std::string_view kw = n.keyword();
        size_t argc = n.words.size() - 1;
        if (!n.condition.empty()) {
            report.skip(n, n.condition, "conditional configuration");
            continue;
        }
        bool single = kw != "track_script" && kw != "track_interface";
        if (single && once.count(std::string(kw)) != 0) {
            report.skip(n, kw, "given twice");
            continue;
        }
        if (kw == "state" && argc == 1 && (n.words[1] == "MASTER" || n.words[1] == "BACKUP")) {
            lines.push_back("state " + n.words[1] + ";");
        } else if (kw == "interface" && argc == 1 && !n.words[1].empty() &&
                   n.words[1].size() < 16 && n.words[1].find('/') == std::string::npos) {
            iface = n.words[1];
            lines.push_back("interface " + word(iface) + ";");
        } else if (kw == "virtual_router_id" && argc == 1 && parse_count(n.words[1]) &&
                   *parse_count(n.words[1]) >= 1 && *parse_count(n.words[1]) <= 255) {
            vrid = static_cast<int>(*parse_count(n.words[1]));
            lines.push_back("virtual_router_id " + n.words[1] + ";");
        } else if (kw == "priority" && argc == 1 && parse_count(n.words[1]) &&
                   *parse_count(n.words[1]) >= 1 && *parse_count(n.words[1]) <= 255) {
            priority = static_cast<int>(*parse_count(n.words[1]));
            lines.push_back("priority " + n.words[1] + ";");
        } else if (kw == "advert_int" && argc == 1 && parse_seconds(n.words[1]) &&
                   parse_seconds(n.words[1])->count() > 0) {
            Millis t = *parse_seconds(n.words[1]);
            Millis fixed = t;
            if (version == 2) {  // RFC 3768 §5.3.7: whole seconds, 1..255
                fixed = Millis(std::clamp<long>((t.count() + 999) / 1000, 1, 255) * 1000);
            } else {  // RFC 5798 §5.2.7: centiseconds, up to 40.95s
                fixed = Millis(std::clamp<long>((t.count() + 9) / 10, 1, 4095) * 10);
            }
            if (fixed != t) {
                report.note(n, "keepalived advert_int " + n.words[1] + " written as " +
                                   duration_text(fixed) + " (VRRP version " +
                                   std::to_string(version) + ")");
            }
            lines.push_back("advert_int " + duration_text(fixed) + ";");
        } else if (kw == "authentication" && n.block) {
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
            if (version == 3) {
                report.skip(n, kw, "VRRP version 3 has no authentication (RFC 5798)");
            } else if (type != "PASS") {
                report.skip(n, "auth_type " + type, "halo supports auth_type PASS only");
            } else if (pass.empty()) {
                report.skip(n, kw, "no auth_pass");
            } else {
                if (pass.size() > 8) {  // RFC 3768 §5.3.10; keepalived truncates it too
                    report.note(n, "keepalived auth_pass truncated to its first 8 characters");
                    pass.resize(8);
                }
                lines.push_back("authentication { auth_type PASS; auth_pass " + word(pass) + "; }");
            }
        } else if (kw == "virtual_ipaddress" && n.block && argc == 0) {
            std::vector<std::string> vips;
            map_vips(n, vips, report);
            if (!vips.empty()) {
                lines.push_back("virtual_ipaddress {");
                for (const std::string& v : vips) {
                    lines.push_back("    " + v);
                }
                lines.push_back("}");
            }
        } else if (kw == "nopreempt" && argc == 0) {
            lines.push_back("nopreempt;");
        } else if (kw == "preempt_delay" && argc == 1 && parse_seconds(n.words[1]) &&
                   *parse_seconds(n.words[1]) <= Millis(3600 * 1000)) {
            lines.push_back("preempt_delay " + duration_text(*parse_seconds(n.words[1])) + ";");
        } else if (kw == "unicast_src_ip" && argc == 1 && addr_kind(n.words[1]) == AddrKind::kV4) {
            lines.push_back("unicast_src_ip " + n.words[1] + ";");
            has_src = n.words[1];
            src_node = &n;
        } else if (kw == "unicast_peer" && n.block && argc == 0) {
            std::set<std::string> peers;
            std::string list;
            for (const KaNode& p : n.children) {
                if (p.words.empty() || addr_kind(p.words[0]) != AddrKind::kV4 || p.block ||
                    !p.condition.empty()) {
                    report.skip(p, p.words.empty() ? "" : p.words[0], "not an IPv4 peer");
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
                has_peers = true;
                lines.push_back("unicast_peer {" + list + " }");
            }
        } else if (kw == "track_script" || kw == "track_interface") {
            map_tracks(n, kw == "track_script", st.unweighted.count(name) == 0, st, tracked, lines,
                       bonus, report);
            continue;
        } else if (is_notify(kw) && argc >= 1 && !n.block) {
            std::string cmd = command_words(n);
            if (cmd.empty()) {
                report.skip(n, kw, "the script is empty");
                continue;
            }
            lines.push_back(std::string(kw) + " " + word(cmd) + ";");
        } else if ((kw == "garp_master_delay" || kw == "garp_master_refresh") && argc == 1 &&
                   parse_seconds(n.words[1]) && *parse_seconds(n.words[1]) <= Millis(86400000)) {
            (kw == "garp_master_delay" ? seen_garp_delay : seen_garp_refresh) = true;
            lines.push_back(std::string(kw) + " " + duration_text(*parse_seconds(n.words[1])) +
                            ";");
        } else if (kw == "garp_master_repeat" && argc == 1 && parse_count(n.words[1]) &&
                   *parse_count(n.words[1]) >= 1 && *parse_count(n.words[1]) <= 255) {
            seen_garp_repeat = true;
            lines.push_back("garp_master_repeat " + n.words[1] + ";");
        } else if (kw == "version" && argc == 1 && (n.words[1] == "2" || n.words[1] == "3")) {
            lines.push_back("version " + n.words[1] + ";");
        } else {
            report.unmapped(n, {"state", "interface", "virtual_router_id", "priority", "advert_int",
                                "authentication", "virtual_ipaddress", "nopreempt", "preempt_delay",
                                "unicast_src_ip", "unicast_peer", "notify_master", "notify_backup",
                                "notify_fault", "notify", "garp_master_delay",
                                "garp_master_refresh", "garp_master_repeat", "version"});
            continue;
        }
        if (single) {
            once.insert(std::string(kw));
        }
    }
    if (has_src && !has_peers) {
        lines.erase(std::find(lines.begin(), lines.end(), "unicast_src_ip " + *has_src + ";"));
        report.skip(*src_node, "unicast_src_ip", "halo uses it for unicast_peer only");
    }
    if (iface.empty() || vrid == 0) {
        report.skip(block, "vrrp_instance " + name,
                    iface.empty() ? "it has no usable \"interface\""
                                  : "it has no usable \"virtual_router_id\"");
        return;
    }
    if (!st.vrids.insert({iface, vrid, version}).second) {
        report.skip(block, "vrrp_instance " + name,
                    "virtual_router_id " + std::to_string(vrid) + " on " + iface +
                        " is used by an instance before");
        return;
    }
    if (bonus > 0) {
        int raised = std::min(priority + bonus, 254);
        if (priority == 255) {
            raised = 255;  // the owner's priority never changes, in keepalived as in halo
        }
        std::string line = "priority " + std::to_string(raised) + ";";
        // Found by its text: lines may have been removed since it was written.
        auto it = std::find_if(lines.begin(), lines.end(),
                               [](const std::string& l) { return l.rfind("priority ", 0) == 0; });
        if (it != lines.end()) {
            *it = line;
        } else {
            lines.push_back(line);
        }
        report.note(block, "vrrp_instance " + name + ": the positive track_interface weights (" +
                               std::to_string(bonus) + ", added while up) are written as " +
                               "negative ones (added while down) with priority " +
                               std::to_string(priority) + " + " + std::to_string(bonus) + " = " +
                               std::to_string(raised));
    }
    if (g.garp_delay && !seen_garp_delay) {
        lines.push_back("garp_master_delay " + duration_text(*g.garp_delay) + ";");
    }
    if (g.garp_repeat && !seen_garp_repeat) {
        lines.push_back("garp_master_repeat " + std::to_string(*g.garp_repeat) + ";");
    }
    if (g.garp_refresh && !seen_garp_refresh) {
        lines.push_back("garp_master_refresh " + duration_text(*g.garp_refresh) + ";");
    }
    st.written.insert(name);
    out.open("vrrp_instance " + word(name));
    out.line("# keepalived " + block.where());
    for (const std::string& l : lines) {
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

void file_order(const std::vector<KaNode>& nodes, std::vector<std::string>& order) {
    for (const KaNode& n : nodes) {
        if (n.file && std::find(order.begin(), order.end(), *n.file) == order.end()) {
            order.push_back(*n.file);
        }
        file_order(n.children, order);
    }
}

void import_document(const std::string& name, const KaDocument& doc, ImportResult& res) {
    Report report(res.skipped);
    for (const std::string& n : doc.notes) {
        res.skipped.push_back(n);
    }
    Globals g;
    std::vector<const KaNode*> scripts, instances, servers, groups;
    for (const KaNode& n : doc.nodes) {
        std::string_view kw = n.keyword();
        if (!n.condition.empty()) {
            report.skip(n, n.condition, "conditional configuration");
        } else if (kw == "global_defs" && n.block) {
            map_global_defs(n, g, report);
        } else if (kw == "vrrp_script" && n.block) {
            scripts.push_back(&n);
        } else if (kw == "vrrp_instance" && n.block) {
            instances.push_back(&n);
        } else if (kw == "virtual_server" && n.block) {
            servers.push_back(&n);
        } else if (kw == "vrrp_sync_group" && n.block) {
            groups.push_back(&n);
        } else {
            report.skip(n);  // a block once, with its line: its contents are not listed
        }
    }

    Writer vrrp;
    VrrpState st;
    st.unweighted = unweighted_members(groups);
    for (const KaNode* s : scripts) {
        if (s->words.size() == 2 && st.scripts.count(s->words[1]) != 0) {
            report.skip(*s, "vrrp_script " + s->words[1],
                        "a script of that name is defined before");
            continue;
        }
        if (map_script(*s, vrrp, report)) {
            st.scripts.insert(s->words[1]);
        }
    }
    Writer inst;
    auto group_tracks = group_trackers(groups);
    for (const KaNode* i : instances) {
        auto extra = i->words.size() == 2 ? group_tracks.find(i->words[1]) : group_tracks.end();
        if (extra == group_tracks.end()) {
            map_instance(*i, g, st, inst, report);
            continue;
        }
        // keepalived's group-level trackers, written in each member before its own: a name
        // both track is the group's (the member's is reported).
        KaNode with = *i;
        std::vector<KaNode> tracks;
        for (const KaNode* t : extra->second) {
            tracks.push_back(*t);
        }
        with.children.insert(with.children.begin(), tracks.begin(), tracks.end());
        map_instance(with, g, st, inst, report);
    }
    map_sync_groups(groups, st.written, report, inst);
    Writer http;
    map_virtual_servers(servers, report, http);
    std::vector<std::string> order;
    file_order(doc.nodes, order);
    report.finish(order);

    Writer out;
    out.line("# halo.conf imported from the keepalived configuration " + name);
    out.line("# by `halo --import-keepalived` (halo " HALO_VERSION
             "). The keepalived keywords it could");
    out.line("# not map were listed on stderr with their lines; see docs/migrating-keepalived.md.");
    for (const std::string& c : g.comments) {
        out.line("# " + c);
    }
    out.blank();
    out.open("events");
    out.line("worker_connections 1024;");
    out.close();
    out.blank();
    if (http.text().empty()) {
        out.line("# No virtual_server was imported: put the http { } block of your nginx.conf");
        out.line("# here, halo reads nginx's directives unchanged.");
    } else {
        res.conf = out.text() + http.text();
        out = Writer();
    }
    if (!inst.text().empty() || !vrrp.text().empty()) {
        out.blank();
        out.open("vrrp");
        for (const std::string& c : g.vrrp_comments) {
            out.line("# " + c);
        }
        out.line("version " + std::to_string(g.version.value_or(2)) +
                 ";  # keepalived's default is 2, halo's 3");
        if (g.script_user) {
            out.line("script_user " + word(*g.script_user) + ";");
        }
        if (g.rt_priority) {
            out.line("vrrp_rt_priority " + std::to_string(*g.rt_priority) + ";");
        }
        if (g.no_swap) {
            out.line("vrrp_no_swap;");
        }
        std::string body = vrrp.text() + inst.text();
        size_t pos = 0;
        while (pos < body.size()) {
            size_t nl = body.find('\n', pos);
            out.line(body.substr(pos, nl - pos));
            pos = nl + 1;
        }
        out.close();
    }
    res.conf += out.text();
}

}  // namespace

Status import_text(std::string_view text, const std::string& name, ImportResult& out) {
    KaDocument doc;
    HALO_TRY(parse_text(text, name, ".", doc));
    import_document(name, doc, out);
    return Status::ok();
}

Status import_file(const std::string& path, ImportResult& out) {
    KaDocument doc;
    HALO_TRY(parse_file(path, doc));
    import_document(path, doc, out);
    return Status::ok();
}

int run_import(const std::string& path) {
    ImportResult res;
    Status s = import_file(path, res);
    if (!s.is_ok()) {
        fprintf(stderr, "halo: [emerg] %s\n", s.message().c_str());
        fprintf(stderr, "halo: keepalived configuration %s was not imported\n", path.c_str());
        return 1;
    }
    fwrite(res.conf.data(), 1, res.conf.size(), stdout);
    for (const std::string& l : res.skipped) {
        fprintf(stderr, "%s\n", l.c_str());
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace vrrp::keepalived
