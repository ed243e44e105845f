#pragma once

#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace mod::http_static {

/// A byte range of a file, resolved against its size.
struct ByteRange {
    uint64_t first = 0;
    uint64_t last = 0;  // inclusive
};

enum class RangeResult { kNone, kRange, kUnsatisfiable };

/// Parses a Range header value (RFC 9110 §14.1.2) for a file of `size` bytes. Only one range
/// is served; a list of several is treated as no Range (the whole file, 200), as nginx may.
RangeResult parse_range(std::string_view value, uint64_t size, ByteRange& out);

/// The strong validator nginx sends: "<mtime hex>-<size hex>".
std::string make_etag(time_t mtime, uint64_t size);

/// If-None-Match (RFC 9110 §13.1.2, weak comparison): true when `etag` matches the list.
bool etag_matches(std::string_view if_none_match, std::string_view etag);

/// Extension of the last path segment, lowercased ("" when none).
std::string extension_of(std::string_view path);

}  // namespace mod::http_static
