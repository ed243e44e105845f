#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace mod::http_range {

/// A byte range of an entity, resolved against its size.
struct ByteRange {
    uint64_t first = 0;
    uint64_t last = 0;  // inclusive
};

enum class RangeResult {
    kNone,           // no usable Range: the whole entity (200), as nginx declines
    kRange,          // `out` holds one range or more: 206
    kUnsatisfiable,  // 416
};

/// Parses a Range header value as nginx does (its range filter) for an entity of `size`
/// bytes, allowing at most `max_ranges` ranges (more: the whole entity). A header that does
/// not start with "bytes=" is ignored; one that does but is malformed answers 416, as nginx;
/// ranges adding up to more than the entity (overlaps) give the whole entity.
RangeResult parse_ranges(std::string_view value, uint64_t size, uint64_t max_ranges,
                         std::vector<ByteRange>& out);

}  // namespace mod::http_range
