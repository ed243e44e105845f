// The lookup of a `map` block, as nginx's: exact keys (case-insensitive), with `hostnames`
// also "*.example.com", ".example.com" and "www.example.*" masks, then regexes in order.
// Needs no config system; map_module.cc builds one per block.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/host_keys.h"
#include "http/regex.h"

namespace mod::http_map {

/// The keys of one map block and the index of the value each one maps to (the values stay
/// with the caller). Immutable once built; shared by every request.
class MapTable {
  public:
    using AddResult = core::HostKeys::AddResult;

    /// From now on, keys may be hostname masks and a subject's trailing dot is ignored.
    void set_hostnames() { keys_.set_hostnames(); }
    bool hostnames() const { return keys_.hostnames(); }

    /// Adds a string key for the value with index `value`.
    AddResult add(std::string_view key, size_t value) { return keys_.add(key, value); }
    /// Adds a regex key (tried in the order added, after the string keys).
    void add_regex(http::Regex regex, size_t value);

    /// The value index for `subject`: an exact key, else the most specific leading mask, else
    /// the most specific trailing mask, else the first regex that matches a non-empty subject
    /// (its groups then go to `captures`, as views into `subject`).
    std::optional<size_t> find(std::string_view subject,
                               std::vector<std::string_view>* captures = nullptr) const;

  private:
    struct RegexKey {
        http::Regex regex;
        size_t value;
    };
    core::HostKeys keys_;
    std::vector<RegexKey> regexes_;
};

}  // namespace mod::http_map
