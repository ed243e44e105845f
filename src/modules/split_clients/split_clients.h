#pragma once

// The shared core of nginx's split_clients for http and stream:
//
//   split_clients "${remote_addr}AAA" $variant { 0.5% .one; 2.0% .two; * ""; }
//
// The string is hashed with MurmurHash2 (nginx's ngx_murmur_hash2, bit for bit, so that a
// client lands in the same bucket as under nginx); the 32-bit hash space is cut in slices of
// the given percentages, in order, and `*` takes what is left. A layer: the http and stream
// modules evaluate the string and hand pick() its hash.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/conf_file.h"
#include "core/status.h"

namespace split_clients {

/// nginx's ngx_murmur_hash2 (MurmurHash2 by Austin Appleby, seed 0, little-endian blocks).
uint32_t murmur_hash2(std::string_view data);

/// nginx's ngx_atofp(text, 2): a percentage with at most two decimals in hundredths of a
/// percent ("0.5" → 50, "100" → 10000); nullopt when not a number.
std::optional<uint64_t> parse_percent(std::string_view text);

/// The slices of one split_clients block. Immutable once built.
class Table {
  public:
    /// The value of the slice `hash` falls in; nullptr when none (the percentages add up to
    /// less than 100% and there is no `*`): the variable is then "".
    const std::string* pick(uint32_t hash) const;

    struct Part {
        uint32_t bound = 0;  // hashes below it fall here (when not `rest`)
        bool rest = false;   // `*`, or the slice that completes 100%
        std::string value;
    };
    const std::vector<Part>& parts() const { return parts_; }

  private:
    friend core::Status build(std::span<const core::ConfNode> lines, Table& out);
    std::vector<Part> parts_;
};

/// Reads the lines of a split_clients block: `N% value;` or `* value;`. Errors as nginx's
/// (`invalid percent value "x"`, `percent total is greater than 100%`), with file:line.
core::Status build(std::span<const core::ConfNode> lines, Table& out);

}  // namespace split_clients
