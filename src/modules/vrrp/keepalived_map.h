#pragma once

// Shared by the importer's two halves (keepalived_import.cc: global_defs and VRRP;
// keepalived_lvs.cc: virtual_server): the report of skipped keywords, value conversions, and
// the writer of the output text.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "modules/vrrp/keepalived_parse.h"

namespace vrrp::keepalived {

/// Collects the "file:line: keepalived keyword ..." lines.
class Report {
  public:
    explicit Report(std::vector<std::string>& lines) : lines_(lines) {}
    /// Appends the lines collected, in the order of the files (as first read) and lines.
    void finish(const std::vector<std::string>& file_order);

    /// `keepalived keyword "KW" is not supported (skipped)`, or with `: why` before the
    /// parenthesis when there is a reason worth telling.
    void skip(const KaNode& n, std::string_view kw, std::string_view why = "");
    /// The node's own keyword (with its condition, e.g. "@high", when it has one).
    void skip(const KaNode& n) { skip(n, n.condition.empty() ? n.keyword() : n.condition); }
    /// `n` could not be mapped: a `known` keyword has a value halo cannot take (reported with
    /// its words), any other keyword is not supported.
    void unmapped(const KaNode& n, bool known);
    /// A free-form line about `n` (a value that had to change, a block left out).
    void note(const KaNode& n, std::string_view what);

  private:
    struct Entry {
        std::string file;
        int line;
        std::string text;
    };
    std::vector<std::string>& lines_;
    std::vector<Entry> entries_;
};

/// What a keyword handler did with its line.
enum class Mapped {
    kMapped,       // written, or reported by the handler; the keyword counts as given
    kReported,     // left out and reported by the handler; the keyword may come again
    kInvalid,      // a value or block halo cannot take: reported with its words
    kUnsupported,  // reported as a keyword halo does not support
    kRefused,      // the whole block is left out (reported by the handler): stop reading it
};

/// A keyword of a keepalived block and its handler, as core::Directive is for halo's own
/// directives. `Ctx` holds what the block being mapped has said so far. An entry with an
/// empty name takes every keyword the other entries of its table do not name.
template <class Ctx>
struct Keyword {
    std::string_view name;
    Mapped (*map)(const KaNode& n, Ctx& ctx, Report& report);
};

/// The handler of a keyword whose value halo has no counterpart for: reported, with the
/// reason `Why` (a `constexpr char[]` with static storage).
template <class Ctx, const char* Why>
Mapped skip_keyword(const KaNode& n, Ctx&, Report& report) {
    report.skip(n, n.keyword(), Why);
    return Mapped::kReported;
}

/// The entry of `table` for `kw`, else its entry for any other keyword; nullptr when it has
/// neither.
template <class Ctx, size_t N>
const Keyword<Ctx>* find_keyword(const Keyword<Ctx> (&table)[N], std::string_view kw) {
    const Keyword<Ctx>* other = nullptr;
    for (const Keyword<Ctx>& k : table) {
        if (k.name == kw) {
            return &k;
        }
        if (k.name.empty()) {
            other = &k;
        }
    }
    return other;
}

/// Maps `n` by its keyword's entry in `table`, then reports what the handler did not: an
/// invalid value with its words, an unsupported keyword (one the table lacks too).
template <class Ctx, size_t N>
Mapped map_keyword(const KaNode& n, const Keyword<Ctx> (&table)[N], Ctx& ctx, Report& report) {
    const Keyword<Ctx>* k = find_keyword(table, n.keyword());
    Mapped m = k != nullptr ? k->map(n, ctx, report) : Mapped::kUnsupported;
    if (m == Mapped::kInvalid || m == Mapped::kUnsupported) {
        report.unmapped(n, m == Mapped::kInvalid);
    }
    return m;
}

/// map_keyword for each of `nodes`; a conditional line (`@name`) is reported and left out.
/// False when a handler refused the whole block (its later lines are not read).
template <class Ctx, size_t N>
bool map_nodes(const std::vector<KaNode>& nodes, const Keyword<Ctx> (&table)[N], Ctx& ctx,
               Report& report) {
    for (const KaNode& n : nodes) {
        if (!n.condition.empty()) {
            report.skip(n, n.condition, "conditional configuration");
        } else if (map_keyword(n, table, ctx, report) == Mapped::kRefused) {
            return false;
        }
    }
    return true;
}

/// keepalived's times are seconds, with decimals allowed ("1", "0.5"): milliseconds.
std::optional<std::chrono::milliseconds> parse_seconds(std::string_view s);
/// "2s" or "250ms".
std::string duration_text(std::chrono::milliseconds ms);
/// A non-negative integer of at most 9 digits.
std::optional<long> parse_count(std::string_view s);
/// The largest count parse_count reads.
inline constexpr long kMaxCount = 999'999'999;
/// A signed weight within halo's (and keepalived's) -253..253.
std::optional<int> parse_weight(std::string_view s);
/// The number of words after the keyword.
inline size_t arg_count(const KaNode& n) {
    return n.words.size() - 1;
}
/// The node's only argument as a count within lo..hi.
std::optional<long> count_arg(const KaNode& n, long lo, long hi);
/// A keyword handler's end: sets `to` from the node's only argument, a count within lo..hi.
Mapped set_count(const KaNode& n, std::optional<long>& to, long lo, long hi);
/// A notify line's command: its words after the keyword, joined by spaces (keepalived takes
/// `notify_master /bin/x arg` unquoted as well as quoted).
std::string command_words(const KaNode& n);
/// notify_master, notify_backup, notify_fault or notify.
inline bool is_notify(std::string_view kw) {
    return kw == "notify_master" || kw == "notify_backup" || kw == "notify_fault" || kw == "notify";
}
/// `s` as one halo config word: as is when safe, else double-quoted with escapes.
std::string word(std::string_view s);
/// An IPv4 address; an IPv6 one (any ':'); neither.
enum class AddrKind { kV4, kV6, kBad };
AddrKind addr_kind(std::string_view s);

/// Indented lines of the output.
class Writer {
  public:
    void line(std::string_view text);
    void open(std::string_view head) {
        line(std::string(head) + " {");
        depth_++;
    }
    void close() {
        depth_--;
        line("}");
    }
    void blank() { text_ += "\n"; }
    const std::string& text() const { return text_; }

  private:
    std::string text_;
    int depth_ = 0;
};

/// What global_defs says (keepalived_import.cc), for the vrrp block and its instances.
struct Globals {
    std::optional<int> version;
    std::optional<std::string> script_user;
    std::optional<std::chrono::milliseconds> garp_delay, garp_refresh;
    std::optional<long> garp_repeat;
    std::optional<long> rt_priority;
    bool no_swap = false;
    std::vector<std::string> comments;  // for the top of the output
    std::vector<std::string> vrrp_comments;
};

/// What the VRRP half has taken and written so far.
struct VrrpState {
    std::set<std::string> scripts;  // the vrrp_scripts written
    std::set<std::string> instances;
    std::set<std::string> written;     // the instances in the output
    std::set<std::string> unweighted;  // in a sync group that ignores tracker weights
    std::set<std::tuple<std::string, int, int>> vrids;  // interface, vrid, version (IPv6: -)
};

/// Writes one vrrp_instance (keepalived_instance.cc); reports and leaves out what halo's vrrp
/// block would refuse.
void map_instance(const KaNode& block, const Globals& g, VrrpState& st, Writer& out,
                  Report& report);

/// Writes the `stream { }` block for the `virtual_server` nodes (nothing when none maps): an
/// upstream and a stream server each; every keyword it cannot map goes to `report`.
void map_virtual_servers(const std::vector<const KaNode*>& servers, Report& report, Writer& out);

/// Writes the `vrrp_sync_group` blocks (keepalived_sync.cc) with the members among `imported`
/// (the vrrp_instance names written); every member or keyword left out goes to `report`.
void map_sync_groups(const std::vector<const KaNode*>& groups,
                     const std::set<std::string>& imported, Report& report, Writer& out);
/// The instances that sync groups list without `sync_group_tracking_weight` (or
/// `global_tracking`): keepalived ignores their tracker weights (a failing tracker is a
/// FAULT), so the importer writes them without weights.
std::set<std::string> unweighted_members(const std::vector<const KaNode*>& groups);
/// The group-level `track_script` / `track_interface` nodes of the groups, by member (of the
/// first group that lists it): the importer writes them in each member.
std::map<std::string, std::vector<const KaNode*>> group_trackers(
    const std::vector<const KaNode*>& groups);

}  // namespace vrrp::keepalived
