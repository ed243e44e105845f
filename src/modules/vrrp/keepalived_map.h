#pragma once

// Shared by the importer's two halves (keepalived_import.cc: global_defs and VRRP;
// keepalived_lvs.cc: virtual_server): the report of skipped keywords, value conversions, and
// the writer of the output text.

#include <algorithm>
#include <chrono>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
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
    /// `n` could not be mapped: a keyword of `known` has a value halo cannot take (reported
    /// with its words), any other keyword is not supported.
    void unmapped(const KaNode& n, std::initializer_list<std::string_view> known);
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

/// keepalived's times are seconds, with decimals allowed ("1", "0.5"): milliseconds.
std::optional<std::chrono::milliseconds> parse_seconds(std::string_view s);
/// "2s" or "250ms".
std::string duration_text(std::chrono::milliseconds ms);
/// A non-negative integer.
std::optional<long> parse_count(std::string_view s);
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

/// Writes the `http { }` block for the `virtual_server` nodes (nothing when none maps);
/// every keyword it cannot map goes to `report`.
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
