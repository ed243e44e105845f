#pragma once

// The lookup of a `map` block, as nginx's, for http and stream: exact keys
// (case-insensitive), with `hostnames` also "*.example.com", ".example.com" and
// "www.example.*" masks, then regexes in the order given. Needs no config system: the
// http_map and stream_map modules build one per block. A layer (namespace `map`).

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

#include "core/host_keys.h"
#include "core/status.h"
#include "regex/regex.h"

namespace map {

/// The keys of one map block and the index of the value each one maps to (the values stay
/// with the caller). Immutable once built; shared by every request or session.
class MapTable {
  public:
    using AddResult = core::HostKeys::AddResult;

    /// From now on, keys may be hostname masks and a subject's trailing dot is ignored.
    void set_hostnames() { keys_.set_hostnames(); }
    bool hostnames() const { return keys_.hostnames(); }

    /// Adds a string key for the value with index `value`.
    AddResult add(std::string_view key, size_t value) { return keys_.add(key, value); }
    /// Adds a regex key (tried in the order added, after the string keys).
    void add_regex(regex::Regex regex, size_t value);
    /// Adds the key of a block line (`key value;`, not `default`) for the value with index
    /// `value`, as nginx reads it: `~re` and `~*re` a regex (caseless), `\x` the literal key x
    /// (`\default`, `\~x`), else a string key (with hostnames, maybe a mask). Errors in
    /// nginx's words, without the line's place: the regex's, "invalid hostname or wildcard",
    /// "conflicting parameter" (naming the key lowered, as nginx compares it).
    core::Status add_key(std::string_view key, size_t value);

    /// The value index for `subject`: an exact key, else the most specific leading mask, else
    /// the most specific trailing mask, else the first regex that matches a non-empty subject
    /// (its groups then go to `captures`, as views into `subject`).
    std::optional<size_t> find(std::string_view subject,
                               std::vector<std::string_view>* captures = nullptr) const;

  private:
    struct RegexKey {
        regex::Regex regex;
        size_t value;
    };
    core::HostKeys keys_;
    std::vector<RegexKey> regexes_;
};

}  // namespace map
