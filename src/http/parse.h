#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "http/http.h"

namespace http {

/// Outcome of parsing a request head.
enum class ParseResult { kComplete, kIncomplete, kError };

/// Parses a complete request head (request line and headers) from the start of `in`.
/// Views in `r` point into `in`. On kComplete `consumed` is the head's length; on kError
/// `status` is the response to send (400, 414, 431, 501, 505...).
/// This is the foundation's parser; the HTTP core issue replaces it with the incremental one.
ParseResult parse_request_head(std::string_view in, size_t max_line, size_t max_head, Request& r,
                               size_t& consumed, int& status);

}  // namespace http
