#pragma once
// The string keys of a `map` block (http and stream), as nginx's ngx_hash_combined_t: exact
// keys, compared case-insensitively, and with `hostnames` also the masks "*.example.com" /
// ".example.com" (leading) and "www.example.*" (trailing). Every lookup is a few hash
// probes: the exact key, then one probe per dot of the subject for each kind of mask, so a
// map of a million keys costs what a map of ten does. Immutable once built.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace core {

class HostKeys {
  public:
    enum class AddResult {
        kOk,
        kConflict,  // the key (or what its mask covers) is there already
        kInvalid,   // not a hostname mask nginx accepts
    };

    /// From now on, keys may be hostname masks and a subject's trailing dot is ignored.
    void set_hostnames() { hostnames_ = true; }
    bool hostnames() const { return hostnames_; }

    /// Adds a string key for the value with index `value`.
    AddResult add(std::string_view key, size_t value);

    /// The value index for `subject`: the exact key, else the longest leading mask, else the
    /// longest trailing mask.
    std::optional<size_t> find(std::string_view subject) const;

  private:
    bool hostnames_ = false;
    std::unordered_map<std::string, size_t> exact_;
    std::unordered_map<std::string, size_t> head_;  // "*.x.com" and ".x.com" as ".x.com"
    std::unordered_map<std::string, size_t> tail_;  // "www.x.*" as "www.x."
};

}  // namespace core
