// `halo --import-keepalived`: global_defs, vrrp_script and vrrp_instance into halo's `vrrp { }`
// block (the instances are keepalived_instance.cc, the virtual_server half keepalived_lvs.cc).
// What halo's vrrp block accepts is in vrrp_module.cc; whatever would fail there is reported
// here and left out instead.
#include "modules/vrrp/keepalived_import.h"

#include <arpa/inet.h>
#include <pwd.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include "auto_config.h"
#include "core/module.h"
#include "modules/vrrp/keepalived_map.h"

namespace vrrp::keepalived {

using core::Status;
using Millis = std::chrono::milliseconds;

namespace {

bool user_exists(const std::string& name) {
    return getpwnam(name.c_str()) != nullptr;
}

/// `script_user NAME [GROUP]` or `user NAME [GROUP]`: false (reported) when the user does
/// not exist; a group is reported, halo takes the user's own.
bool script_user_words(const KaNode& n, Report& report) {
    if (!user_exists(n.words[1])) {
        report.skip(n, n.keyword(), "user \"" + n.words[1] + "\" does not exist on this host");
        return false;
    }
    if (arg_count(n) == 2) {
        report.skip(n, std::string(n.keyword()) + " ... " + n.words[2],
                    "halo runs scripts with the user's own group");
    }
    return true;
}

// ---- global_defs ----

Mapped global_router_id(const KaNode& n, Globals& g, Report&) {
    if (arg_count(n) != 1 || n.block) {
        return Mapped::kInvalid;
    }
    g.comments.push_back("keepalived router_id " + n.words[1] + " (" + n.where() +
                         "): halo has no router id");
    return Mapped::kMapped;
}

Mapped global_script_user(const KaNode& n, Globals& g, Report& report) {
    if ((arg_count(n) != 1 && arg_count(n) != 2) || n.block) {
        return Mapped::kInvalid;
    }
    if (!script_user_words(n, report)) {
        return Mapped::kReported;
    }
    g.script_user = n.words[1];
    return Mapped::kMapped;
}

Mapped global_script_security(const KaNode& n, Globals& g, Report&) {
    if (arg_count(n) != 0) {
        return Mapped::kUnsupported;
    }
    g.vrrp_comments.push_back("enable_script_security (" + n.where() +
                              "): halo always runs scripts as script_user, never as root");
    return Mapped::kMapped;
}

Mapped global_vrrp_version(const KaNode& n, Globals& g, Report&) {
    if (arg_count(n) != 1 || (n.words[1] != "2" && n.words[1] != "3")) {
        return Mapped::kInvalid;
    }
    g.version = n.words[1] == "2" ? 2 : 3;
    return Mapped::kMapped;
}

/// Sets `to` from the node's only argument, in seconds.
Mapped set_seconds(const KaNode& n, std::optional<Millis>& to) {
    auto t = arg_count(n) == 1 ? parse_seconds(n.words[1]) : std::nullopt;
    if (!t) {
        return Mapped::kInvalid;
    }
    to = t;
    return Mapped::kMapped;
}

Mapped global_garp_delay(const KaNode& n, Globals& g, Report&) {
    return set_seconds(n, g.garp_delay);
}

Mapped global_garp_refresh(const KaNode& n, Globals& g, Report&) {
    return set_seconds(n, g.garp_refresh);
}

Mapped global_garp_repeat(const KaNode& n, Globals& g, Report&) {
    return set_count(n, g.garp_repeat, 1, 255);
}

Mapped global_rt_priority(const KaNode& n, Globals& g, Report&) {
    return set_count(n, g.rt_priority, 1, 99);
}

Mapped global_no_swap(const KaNode& n, Globals& g, Report&) {
    if (arg_count(n) != 0) {
        return Mapped::kInvalid;
    }
    g.no_swap = true;
    return Mapped::kMapped;
}

constexpr Keyword<Globals> kGlobalKeywords[] = {
    {"router_id", &global_router_id},
    {"script_user", &global_script_user},
    {"enable_script_security", &global_script_security},
    {"vrrp_version", &global_vrrp_version},
    {"vrrp_garp_master_delay", &global_garp_delay},
    {"vrrp_garp_master_refresh", &global_garp_refresh},
    {"vrrp_garp_master_repeat", &global_garp_repeat},
    {"vrrp_rt_priority", &global_rt_priority},
    {"vrrp_no_swap", &global_no_swap},
};

// ---- vrrp_script ----

/// The lines of one vrrp_script, as its keywords are read.
struct Script {
    std::vector<std::string> lines;
    bool has_script = false;
};

Mapped script_command(const KaNode& n, Script& s, Report&) {
    if (arg_count(n) < 1 || n.block) {
        return Mapped::kInvalid;
    }
    std::string cmd = command_words(n);
    if (s.has_script || cmd.empty()) {
        return Mapped::kInvalid;
    }
    s.lines.push_back("script " + word(cmd) + ";");
    s.has_script = true;
    return Mapped::kMapped;
}

/// interval, timeout.
Mapped script_time(const KaNode& n, Script& s, Report&) {
    auto t = arg_count(n) == 1 ? parse_seconds(n.words[1]) : std::nullopt;
    if (!t || *t < Millis(10)) {
        return Mapped::kInvalid;
    }
    s.lines.push_back(std::string(n.keyword()) + " " + duration_text(*t) + ";");
    return Mapped::kMapped;
}

Mapped script_weight(const KaNode& n, Script& s, Report& report) {
    size_t argc = arg_count(n);
    auto w = argc == 1 || argc == 2 ? parse_weight(n.words[1]) : std::nullopt;
    if (!w) {
        return Mapped::kInvalid;
    }
    s.lines.push_back("weight " + std::to_string(*w) + ";");
    if (argc == 2) {
        report.skip(n, "weight ... " + n.words[2]);
    }
    return Mapped::kMapped;
}

/// fall, rise.
Mapped script_threshold(const KaNode& n, Script& s, Report&) {
    if (!count_arg(n, 1, 1000)) {
        return Mapped::kInvalid;
    }
    s.lines.push_back(std::string(n.keyword()) + " " + n.words[1] + ";");
    return Mapped::kMapped;
}

Mapped script_user(const KaNode& n, Script& s, Report& report) {
    if (arg_count(n) != 1 && arg_count(n) != 2) {
        return Mapped::kInvalid;
    }
    if (!script_user_words(n, report)) {
        return Mapped::kReported;
    }
    s.lines.push_back("user " + word(n.words[1]) + ";");
    return Mapped::kMapped;
}

constexpr Keyword<Script> kScriptKeywords[] = {
    {"script", &script_command}, {"interval", &script_time},  {"timeout", &script_time},
    {"weight", &script_weight},  {"fall", &script_threshold}, {"rise", &script_threshold},
    {"user", &script_user},
};

/// Writes one vrrp_script; false (reported) when halo could not load it.
bool map_script(const KaNode& block, Writer& out, Report& report) {
    if (block.words.size() != 2 || !block.block) {
        report.skip(block, "vrrp_script", "expected \"vrrp_script NAME { ... }\"");
        return false;
    }
    Script s;
    map_nodes(block.children, kScriptKeywords, s, report);
    if (!s.has_script) {
        report.skip(block, "vrrp_script " + block.words[1], "it has no \"script\"");
        return false;
    }
    out.open("vrrp_script " + word(block.words[1]));
    for (const std::string& l : s.lines) {
        out.line(l);
    }
    out.close();
    return true;
}

/// The module of the virtual_servers' `stream { }` block (and its proxy_pass) this halo was
/// built without (a VRRP-only build: --without-http_module leaves stream_proxy out), if any.
std::optional<std::string_view> missing_stream_module() {
    for (std::string_view name : {"stream", "stream_proxy"}) {
        auto mods = core::compiled_modules();
        if (std::none_of(mods.begin(), mods.end(),
                         [&](const core::Module* m) { return m->name == name; })) {
            return name;
        }
    }
    return std::nullopt;
}

void file_order(const std::vector<KaNode>& nodes, std::vector<std::string>& order) {
    for (const KaNode& n : nodes) {
        if (n.file && std::find(order.begin(), order.end(), *n.file) == order.end()) {
            order.push_back(*n.file);
        }
        file_order(n.children, order);
    }
}

// ---- the document ----

/// The top-level blocks, by kind: global_defs is mapped as it is read, the rest after.
struct Sections {
    Globals g;
    std::vector<const KaNode*> scripts, instances, servers, groups;
};

Mapped section_global_defs(const KaNode& n, Sections& s, Report& report) {
    if (!n.block) {
        return Mapped::kUnsupported;
    }
    map_nodes(n.children, kGlobalKeywords, s.g, report);
    return Mapped::kMapped;
}

/// Keeps a block of the kind `list` holds for later.
template <std::vector<const KaNode*> Sections::*list>
Mapped section_later(const KaNode& n, Sections& s, Report&) {
    if (!n.block) {
        return Mapped::kUnsupported;
    }
    (s.*list).push_back(&n);
    return Mapped::kMapped;
}

// A block left out is reported once, with its line: its contents are not listed.
constexpr Keyword<Sections> kSectionKeywords[] = {
    {"global_defs", &section_global_defs},
    {"vrrp_script", &section_later<&Sections::scripts>},
    {"vrrp_instance", &section_later<&Sections::instances>},
    {"virtual_server", &section_later<&Sections::servers>},
    {"vrrp_sync_group", &section_later<&Sections::groups>},
};

/// The vrrp_scripts, the first of each name.
void map_scripts(const std::vector<const KaNode*>& scripts, VrrpState& st, Writer& out,
                 Report& report) {
    for (const KaNode* s : scripts) {
        if (s->words.size() == 2 && st.scripts.count(s->words[1]) != 0) {
            report.skip(*s, "vrrp_script " + s->words[1],
                        "a script of that name is defined before");
            continue;
        }
        if (map_script(*s, out, report)) {
            st.scripts.insert(s->words[1]);
        }
    }
}

/// The vrrp_instances, each with its sync group's trackers.
void map_instances(const Sections& s, VrrpState& st, Writer& out, Report& report) {
    auto group_tracks = group_trackers(s.groups);
    for (const KaNode* i : s.instances) {
        auto extra = i->words.size() == 2 ? group_tracks.find(i->words[1]) : group_tracks.end();
        if (extra == group_tracks.end()) {
            map_instance(*i, s.g, st, out, report);
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
        map_instance(with, s.g, st, out, report);
    }
}

/// The output's head: where it came from, global_defs' comments, the events block.
void write_preamble(const std::string& name, const Globals& g, Writer& out) {
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
}

/// The `vrrp { }` block: global_defs' settings, then the scripts and instances (`body`).
void write_vrrp_block(const Globals& g, const std::string& body, Writer& out) {
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
    size_t pos = 0;
    while (pos < body.size()) {
        size_t nl = body.find('\n', pos);
        out.line(body.substr(pos, nl - pos));
        pos = nl + 1;
    }
    out.close();
}

void import_document(const std::string& name, const KaDocument& doc, ImportResult& res) {
    Report report(res.skipped);
    for (const std::string& n : doc.notes) {
        res.skipped.push_back(n);
    }
    Sections s;
    map_nodes(doc.nodes, kSectionKeywords, s, report);

    Writer vrrp;
    VrrpState st;
    st.unweighted = unweighted_members(s.groups);
    map_scripts(s.scripts, st, vrrp, report);
    Writer inst;
    map_instances(s, st, inst, report);
    map_sync_groups(s.groups, st.written, report, inst);
    Writer stream;
    if (auto missing = missing_stream_module()) {
        for (const KaNode* v : s.servers) {
            report.skip(
                *v, "virtual_server",
                "halo is built without the " + std::string(*missing) + " module (not imported)");
        }
    } else {
        map_virtual_servers(s.servers, report, stream);
    }
    std::vector<std::string> order;
    file_order(doc.nodes, order);
    report.finish(order);

    Writer out;
    write_preamble(name, s.g, out);
    if (stream.text().empty()) {
        out.line("# No virtual_server was imported: put the http { } block of your nginx.conf");
        out.line("# here, halo reads nginx's directives unchanged.");
    } else {
        out.line("# The virtual_servers, as layer-4 services. The http { } block of your");
        out.line("# nginx.conf goes next to this stream { } block: halo reads nginx's directives");
        out.line("# unchanged.");
        res.conf = out.text() + stream.text();
        out = Writer();
    }
    if (!inst.text().empty() || !vrrp.text().empty()) {
        write_vrrp_block(s.g, vrrp.text() + inst.text(), out);
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
