#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/http.h"
#include "http/parse.h"

namespace http {

/// How the body of a response is delimited (RFC 9112 §6.3).
enum class BodyFraming {
    kNone,        // 1xx, 204, 304, or a response to HEAD
    kLength,      // Content-Length
    kChunked,     // Transfer-Encoding ending in chunked
    kUntilClose,  // neither: the end of the connection ends it
};

/// A response head from an upstream server (or a health check target). Views point into the
/// parsed input.
struct ParsedResponse {
    int minor = 1;  // HTTP/1.<minor>
    int status = 0;
    std::string_view reason;
    std::vector<Header> headers;
    std::optional<uint64_t> content_length;
    bool chunked = false;
    bool close = false;    // "Connection: close", or HTTP/1.0 without keep-alive
    bool upgrade = false;  // "Connection: upgrade"
    size_t head_len = 0;   // bytes of the head, CRLFCRLF included

    const Header* find(std::string_view name) const;
    /// The framing of the body, given the request method.
    BodyFraming framing(bool head_request) const;
};

/// Parses a response head from the start of `in`. kIncomplete until the blank line has
/// arrived (`scan` keeps where to look next, start it at 0); kError for a malformed status
/// line or header field, a head longer than `max_head`, an invalid or conflicting
/// Content-Length, or an HTTP version other than 1.x.
/// Lenient where nginx is: LF without CR ends lines, the reason phrase may be absent.
/// Content-Length with Transfer-Encoding is an error, as in nginx (RFC 9112 §6.3 allows it);
/// a transfer coding that does not end in chunked is read until the close.
ParseResult parse_response_head(std::string_view in, size_t max_head, size_t& scan,
                                ParsedResponse& out, std::string* error = nullptr);

}  // namespace http
