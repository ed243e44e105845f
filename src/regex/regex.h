#pragma once

// The PCRE2 patterns of the configuration (locations, server names, map and rewrite, the
// proxy's rewrites, health checks, the stream map): compiled once, JIT-compiled after the
// configuration when pcre_jit is on, matched with one match-data block per thread. A layer
// (src/regex): http and stream both use it.

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace regex {

/// After a configuration is parsed: JIT-compiles the patterns compiled since the last call
/// when `on` (pcre_jit; where PCRE2 has no JIT they stay interpreted), else leaves them
/// interpreted. Process-local; in the master before workers fork, as nginx.
void apply_pcre_jit(bool on);

/// A compiled PCRE2 pattern (JIT-compiled with pcre_jit on). Immutable once the configuration
/// is loaded, shared by every worker.
class Regex {
  public:
    /// `caseless` for `~*` and `server_name ~*`. Errors name the pattern and the offset.
    static core::Status compile(std::string_view pattern, bool caseless, Regex& out);

    Regex() = default;
    Regex(Regex&&) noexcept;
    Regex& operator=(Regex&&) noexcept;
    ~Regex();

    /// Matches `subject`; on success fills `captures` with the groups ($0 .. $n) as views
    /// into `subject` (empty for a group that did not take part).
    bool match(std::string_view subject, std::vector<std::string_view>* captures = nullptr) const;
    /// Number of capture groups.
    int groups() const { return groups_; }
    /// The named groups, `(?<name>...)`: each name with its group number.
    std::vector<std::pair<std::string, int>> names() const;
    const std::string& pattern() const { return pattern_; }
    /// Whether the pattern runs JIT-compiled.
    bool jit() const;

  private:
    void* code_ = nullptr;  // pcre2_code_8
    int groups_ = 0;
    std::string pattern_;
};

}  // namespace regex
