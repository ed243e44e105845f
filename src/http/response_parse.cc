// Response heads from upstream servers (RFC 9112 §4, §6): status line, fields, framing.
#include "http/response_parse.h"

#include <strings.h>

#include "core/conf_context.h"

namespace http {
namespace {

ParseResult fail(std::string* error, const char* what) {
    if (error != nullptr) {
        *error = what;
    }
    return ParseResult::kError;
}

/// Tokens of the head that decide framing only once it is whole.
struct FramingSeen {
    bool transfer_encoding = false;
    bool keepalive_token = false;
};

/// Finds the blank line that ends the head, looking from `scan`: `end` is where the head's
/// last line ends, `body` where the body starts. False when it has not arrived.
bool find_head_end(std::string_view in, size_t scan, size_t& end, size_t& body) {
    for (size_t i = scan; i < in.size(); i++) {
        if (in[i] != '\n') {
            continue;
        }
        if (i + 1 < in.size() && in[i + 1] == '\n') {
            end = i + 1;
            body = i + 2;
            return true;
        }
        if (i + 2 < in.size() && in[i + 1] == '\r' && in[i + 2] == '\n') {
            end = i + 1;
            body = i + 3;
            return true;
        }
    }
    return false;
}

/// HTTP/1.x SP 3DIGIT [SP reason]. kIncomplete: valid, go on.
ParseResult status_line(std::string_view line, ParsedResponse& out, std::string* error) {
    if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[7] < '0' || line[7] > '9' ||
        line[8] != ' ') {
        return fail(error, "upstream sent no valid HTTP/1.0 header");
    }
    out.minor = line[7] - '0';
    int code = 0;
    for (size_t i = 9; i < 12; i++) {
        if (line[i] < '0' || line[i] > '9') {
            return fail(error, "upstream sent invalid status");
        }
        code = code * 10 + (line[i] - '0');
    }
    if (code < 100 || (line.size() > 12 && line[12] != ' ')) {
        return fail(error, "upstream sent invalid status");
    }
    out.status = code;
    out.reason = line.size() > 13 ? line.substr(13) : std::string_view();
    return ParseResult::kIncomplete;
}

/// Splits a field line into a token name and a value without control characters (tabs
/// allowed); false when it is not one.
bool split_field(std::string_view line, std::string_view& name, std::string_view& value) {
    if (line[0] == ' ' || line[0] == '\t') {
        return false;  // obs-fold
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
        return false;
    }
    name = line.substr(0, colon);
    for (char c : name) {
        if (!is_tchar(static_cast<unsigned char>(c))) {
            return false;
        }
    }
    value = trim_ows(line.substr(colon + 1));
    for (char c : value) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 && u != '\t') {
            return false;
        }
    }
    return true;
}

/// Applies a field that frames the body or steers the connection. kIncomplete: go on.
ParseResult framing_field(std::string_view name, std::string_view value, ParsedResponse& out,
                          FramingSeen& seen, std::string* error) {
    if (iequals(name, "Content-Length")) {
        auto n = core::parse_int(value);
        if (!n || (out.content_length && *out.content_length != static_cast<uint64_t>(*n))) {
            return fail(error, "upstream sent invalid \"Content-Length\" header");
        }
        out.content_length = static_cast<uint64_t>(*n);
    } else if (iequals(name, "Transfer-Encoding")) {
        seen.transfer_encoding = true;
        // Chunked must be the final coding; anything else is read until the close.
        size_t comma = value.rfind(',');
        out.chunked = iequals(
            trim_ows(comma == std::string_view::npos ? value : value.substr(comma + 1)), "chunked");
    } else if (iequals(name, "Connection")) {
        out.close = out.close || list_has_token(value, "close");
        out.upgrade = out.upgrade || list_has_token(value, "upgrade");
        seen.keepalive_token = seen.keepalive_token || list_has_token(value, "keep-alive");
    }
    return ParseResult::kIncomplete;
}

/// The framing decisions that need the whole head. kComplete when it holds together.
ParseResult settle_framing(ParsedResponse& out, const FramingSeen& seen, std::string* error) {
    if (seen.transfer_encoding) {
        if (out.content_length) {
            // RFC 9112 §6.3 (3): a likely smuggling attempt, "ought to be handled as an
            // error" (nginx: 502; the request parser refuses it from clients too).
            return fail(error,
                        "upstream sent \"Content-Length\" and \"Transfer-Encoding\" headers at "
                        "the same time");
        }
        // Not chunked last: the body ends with the connection (§6.3 (4)); an HTTP/1.0 message
        // with a transfer coding has suspect framing: closed after, keep-alive or not (§6.1).
        if (!out.chunked || out.minor == 0) {
            out.close = true;
        }
    }
    if (out.minor == 0 && !seen.keepalive_token) {
        out.close = true;
    }
    return ParseResult::kComplete;
}

/// Takes the next line off `head`, without its CR LF.
std::string_view next_line(std::string_view& head) {
    size_t nl = head.find('\n');
    std::string_view line = head.substr(0, nl);
    head.remove_prefix(nl == std::string_view::npos ? head.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
    }
    return line;
}

}  // namespace

const Header* ParsedResponse::find(std::string_view name) const {
    for (const Header& h : headers) {
        if (iequals(h.name, name)) {
            return &h;
        }
    }
    return nullptr;
}

BodyFraming ParsedResponse::framing(bool head_request) const {
    if (head_request || status < 200 || status == 204 || status == 304) {
        return BodyFraming::kNone;
    }
    if (chunked) {
        return BodyFraming::kChunked;
    }
    if (content_length) {
        return BodyFraming::kLength;
    }
    return BodyFraming::kUntilClose;
}

ParseResult parse_response_head(std::string_view in, size_t max_head, size_t& scan,
                                ParsedResponse& out, std::string* error) {
    // Find the end of the head first; parse it once whole.
    size_t end = 0;
    size_t body = 0;
    if (!find_head_end(in, scan, end, body)) {
        if (in.size() > max_head) {
            return fail(error, "upstream sent too big header");
        }
        scan = in.size() >= 2 ? in.size() - 2 : 0;
        return ParseResult::kIncomplete;
    }
    if (body > max_head) {
        return fail(error, "upstream sent too big header");
    }
    out = ParsedResponse();
    out.headers.reserve(16);  // one allocation for a typical head
    out.head_len = body;
    std::string_view head = in.substr(0, end);
    if (status_line(next_line(head), out, error) != ParseResult::kIncomplete) {
        return ParseResult::kError;
    }
    FramingSeen seen;
    while (!head.empty()) {
        std::string_view line = next_line(head);
        if (line.empty()) {
            continue;
        }
        std::string_view name;
        std::string_view value;
        if (!split_field(line, name, value)) {
            return fail(error, "upstream sent invalid header");
        }
        out.headers.push_back({name, value});
        if (framing_field(name, value, out, seen, error) != ParseResult::kIncomplete) {
            return ParseResult::kError;
        }
    }
    return settle_framing(out, seen, error);
}

}  // namespace http
