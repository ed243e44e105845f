#pragma once

#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace mod::http_static {

/// The strong validator nginx sends: "<mtime hex>-<size hex>".
std::string make_etag(time_t mtime, uint64_t size);

/// If-None-Match (RFC 9110 §13.1.2, weak comparison): true when `etag` matches the list.
bool etag_matches(std::string_view if_none_match, std::string_view etag);

/// Extension of the last path segment, lowercased ("" when none).
std::string extension_of(std::string_view path);

}  // namespace mod::http_static
