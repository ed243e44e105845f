#pragma once
// The lookup of a stream `map` block, as nginx's: string keys (case-insensitive), with
// `hostnames` also "*.example.com", ".example.com" and "www.example.*" masks, then regexes
// (PCRE2) in the order given. Needs no config system: stream_map_module.cc builds one per
// block; immutable once built and shared by every session.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/host_keys.h"
#include "core/status.h"

namespace mod::stream_map {

/// A compiled PCRE2 pattern (interpreted; no JIT).
class MapRegex {
  public:
    /// `caseless` for `~*`. Errors name the pattern and where it failed, as nginx's.
    static core::Status compile(std::string_view pattern, bool caseless, MapRegex& out);
    MapRegex() = default;
    MapRegex(MapRegex&&) noexcept;
    MapRegex& operator=(MapRegex&&) noexcept;
    ~MapRegex();
    bool match(std::string_view subject) const;

  private:
    void* code_ = nullptr;  // pcre2_code_8
};

class MapTable {
  public:
    using AddResult = core::HostKeys::AddResult;

    /// From now on, keys may be hostname masks and a subject's trailing dot is ignored.
    void set_hostnames() { keys_.set_hostnames(); }
    bool hostnames() const { return keys_.hostnames(); }

    /// Adds a string key for the value with index `value`.
    AddResult add(std::string_view key, size_t value) { return keys_.add(key, value); }
    /// Adds a regex key (tried in the order added, after the string keys).
    void add_regex(MapRegex regex, size_t value);

    /// The value index for `subject`: an exact key, else the longest leading mask
    /// ("*.example.com"), else the longest trailing mask ("www.example.*"), else the first
    /// regex that matches a non-empty subject.
    std::optional<size_t> find(std::string_view subject) const;

  private:
    struct RegexKey {
        MapRegex regex;
        size_t value;
    };
    core::HostKeys keys_;
    std::vector<RegexKey> regexes_;
};

}  // namespace mod::stream_map
