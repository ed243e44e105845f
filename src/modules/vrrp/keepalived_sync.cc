// `halo --import-keepalived`: vrrp_sync_group blocks, written after the instances they group
// (only the instances that were imported; the rest is reported).
#include <algorithm>
#include <set>

#include "modules/vrrp/keepalived_map.h"

namespace vrrp::keepalived {

namespace {

/// The member names of a `group { }` block.
std::vector<std::string> member_words(const KaNode& group) {
    std::vector<std::string> out;
    for (const KaNode& m : group.children) {
        if (m.condition.empty() && !m.block) {
            out.insert(out.end(), m.words.begin(), m.words.end());
        }
    }
    return out;
}

bool keeps_weights(const KaNode& g) {
    return std::any_of(g.children.begin(), g.children.end(), [](const KaNode& n) {
        return n.condition.empty() &&
               (n.keyword() == "sync_group_tracking_weight" || n.keyword() == "global_tracking");
    });
}

/// A group as map_sync_groups takes it (the first of a name, with two words): the members
/// of its first `group { }` block, each in the first group that lists it, its unconditional
/// track_script / track_interface nodes, and whether it keeps tracker weights.
struct GroupView {
    std::vector<std::string> members;
    std::vector<const KaNode*> tracks;
    bool weights = false;
};

std::vector<GroupView> view_groups(const std::vector<const KaNode*>& groups) {
    std::vector<GroupView> out;
    std::set<std::string> names;
    std::set<std::string> taken;
    for (const KaNode* g : groups) {
        if (g->words.size() != 2 || !names.insert(g->words[1]).second) {
            continue;
        }
        GroupView v;
        v.weights = keeps_weights(*g);
        bool listed = false;
        for (const KaNode& n : g->children) {
            if (!n.condition.empty()) {
                continue;
            }
            if (n.keyword() == "group" && n.block && n.words.size() == 1 && !listed) {
                listed = true;
                for (const std::string& m : member_words(n)) {
                    if (taken.insert(m).second) {
                        v.members.push_back(m);
                    }
                }
            } else if (n.keyword() == "track_script" || n.keyword() == "track_interface") {
                v.tracks.push_back(&n);
            }
        }
        out.push_back(std::move(v));
    }
    return out;
}

/// One group being read: its members and lines.
struct GroupRead {
    const std::set<std::string>& imported;
    std::set<std::string>& taken;
    std::vector<std::string>& members;
    std::vector<std::string>& lines;
    std::set<std::string> once{};  // single-valued keywords already read
};

/// The names of a `group { }` block that are imported instances in no group before.
Mapped group_members(const KaNode& n, GroupRead& r, Report& report) {
    if (!n.block || arg_count(n) != 0 || !r.once.insert("group").second) {
        return Mapped::kInvalid;
    }
    for (const KaNode& m : n.children) {
        if (!m.condition.empty() || m.block) {
            report.skip(m, m.condition.empty() ? m.keyword() : m.condition,
                        m.condition.empty() ? "" : "conditional configuration");
            continue;
        }
        for (const std::string& w : m.words) {
            if (r.imported.count(w) == 0) {
                report.skip(m, "group " + w, "no vrrp_instance " + w + " was imported");
            } else if (!r.taken.insert(w).second) {
                report.skip(m, "group " + w,
                            "the instance is in a vrrp_sync_group before (halo allows one)");
            } else {
                r.members.push_back(w);
            }
        }
    }
    return Mapped::kMapped;
}

/// notify_master, notify_backup, notify_fault, notify.
Mapped group_notify(const KaNode& n, GroupRead& r, Report& report) {
    if (arg_count(n) < 1 || n.block) {
        return Mapped::kInvalid;
    }
    std::string kw(n.keyword());
    std::string cmd = command_words(n);
    if (cmd.empty()) {
        report.skip(n, kw, "the script is empty");
    } else if (!r.once.insert(kw).second) {
        report.skip(n, kw, "it is given before");
    } else {
        r.lines.push_back(kw + " " + word(cmd) + ";");
    }
    return Mapped::kMapped;
}

/// track_script, track_interface: written in each member (group_trackers), where the
/// instance's rules apply.
Mapped group_track(const KaNode&, GroupRead&, Report&) {
    return Mapped::kMapped;
}

/// sync_group_tracking_weight, or global_tracking, keepalived's older name of it.
Mapped group_tracking_weight(const KaNode& n, GroupRead& r, Report&) {
    if (arg_count(n) != 0 || n.block) {
        return Mapped::kInvalid;
    }
    if (r.once.insert("sync_group_tracking_weight").second) {
        r.lines.push_back("sync_group_tracking_weight;");
    }
    return Mapped::kMapped;
}

constexpr Keyword<GroupRead> kGroupKeywords[] = {
    {"group", &group_members},
    {"notify_master", &group_notify},
    {"notify_backup", &group_notify},
    {"notify_fault", &group_notify},
    {"notify", &group_notify},
    {"track_script", &group_track},
    {"track_interface", &group_track},
    {"sync_group_tracking_weight", &group_tracking_weight},
    {"global_tracking", &group_tracking_weight},
};

/// One group's lines (notify scripts, tracking weight) and members; false when it is skipped.
bool read_group(const KaNode& g, const std::set<std::string>& imported,
                std::set<std::string>& taken, std::vector<std::string>& members,
                std::vector<std::string>& lines, Report& report) {
    GroupRead r{.imported = imported, .taken = taken, .members = members, .lines = lines};
    map_nodes(g.children, kGroupKeywords, r, report);
    if (members.empty()) {
        report.skip(g, "vrrp_sync_group " + g.words[1],
                    r.once.count("group") != 0 ? "none of its instances was imported"
                                               : "it has no \"group { ... }\"");
        return false;
    }
    return true;
}

}  // namespace

std::set<std::string> unweighted_members(const std::vector<const KaNode*>& groups) {
    std::set<std::string> out;
    for (const GroupView& v : view_groups(groups)) {
        if (!v.weights) {
            out.insert(v.members.begin(), v.members.end());
        }
    }
    return out;
}

std::map<std::string, std::vector<const KaNode*>> group_trackers(
    const std::vector<const KaNode*>& groups) {
    std::map<std::string, std::vector<const KaNode*>> out;
    for (const GroupView& v : view_groups(groups)) {
        for (const std::string& m : v.members) {
            if (!v.tracks.empty()) {
                out[m] = v.tracks;
            }
        }
    }
    return out;
}

void map_sync_groups(const std::vector<const KaNode*>& groups,
                     const std::set<std::string>& imported, Report& report, Writer& out) {
    std::set<std::string> names;
    std::set<std::string> taken;  // an instance joins the first group that lists it
    for (const KaNode* gp : groups) {
        const KaNode& g = *gp;
        if (g.words.size() != 2) {
            report.skip(g, "vrrp_sync_group", "expected \"vrrp_sync_group NAME { ... }\"");
            continue;
        }
        if (!names.insert(g.words[1]).second) {
            report.skip(g, "vrrp_sync_group " + g.words[1],
                        "a group of that name is defined before");
            continue;
        }
        std::vector<std::string> members;
        std::vector<std::string> lines;
        if (!read_group(g, imported, taken, members, lines, report)) {
            continue;
        }
        out.open("vrrp_sync_group " + word(g.words[1]));
        out.line("# keepalived " + g.where());
        out.open("group");
        for (const std::string& m : members) {
            out.line(word(m) + ";");
        }
        out.close();
        for (const std::string& l : lines) {
            out.line(l);
        }
        out.close();
    }
}

}  // namespace vrrp::keepalived
