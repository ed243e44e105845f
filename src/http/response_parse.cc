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
    size_t end = std::string_view::npos;
    size_t body = 0;
    for (size_t i = scan; i < in.size(); i++) {
        if (in[i] != '\n') {
            continue;
        }
        if (i + 1 < in.size() && in[i + 1] == '\n') {
            end = i + 1;
            body = i + 2;
            break;
        }
        if (i + 2 < in.size() && in[i + 1] == '\r' && in[i + 2] == '\n') {
            end = i + 1;
            body = i + 3;
            break;
        }
    }
    if (end == std::string_view::npos) {
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
    bool first = true;
    bool te = false;
    bool keepalive_token = false;
    while (!head.empty()) {
        size_t nl = head.find('\n');
        std::string_view line = head.substr(0, nl);
        head.remove_prefix(nl == std::string_view::npos ? head.size() : nl + 1);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (first) {
            first = false;
            // HTTP/1.x SP 3DIGIT [SP reason]
            if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[7] < '0' ||
                line[7] > '9' || line[8] != ' ') {
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
            continue;
        }
        if (line.empty()) {
            continue;
        }
        if (line[0] == ' ' || line[0] == '\t') {
            return fail(error, "upstream sent invalid header");  // obs-fold
        }
        size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) {
            return fail(error, "upstream sent invalid header");
        }
        std::string_view name = line.substr(0, colon);
        for (char c : name) {
            if (!is_tchar(static_cast<unsigned char>(c))) {
                return fail(error, "upstream sent invalid header");
            }
        }
        std::string_view value = trim_ows(line.substr(colon + 1));
        for (char c : value) {
            auto u = static_cast<unsigned char>(c);
            if (u < 0x20 && u != '\t') {
                return fail(error, "upstream sent invalid header");
            }
        }
        out.headers.push_back({name, value});
        if (iequals(name, "Content-Length")) {
            auto n = core::parse_int(value);
            if (!n || (out.content_length && *out.content_length != static_cast<uint64_t>(*n))) {
                return fail(error, "upstream sent invalid \"Content-Length\" header");
            }
            out.content_length = static_cast<uint64_t>(*n);
        } else if (iequals(name, "Transfer-Encoding")) {
            te = true;
            // Chunked must be the final coding; anything else is read until the close.
            std::string_view v = value;
            size_t comma = v.rfind(',');
            out.chunked = iequals(
                trim_ows(comma == std::string_view::npos ? v : v.substr(comma + 1)), "chunked");
        } else if (iequals(name, "Connection")) {
            out.close = out.close || list_has_token(value, "close");
            out.upgrade = out.upgrade || list_has_token(value, "upgrade");
            keepalive_token = keepalive_token || list_has_token(value, "keep-alive");
        }
    }
    if (te) {
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
    if (out.minor == 0 && !keepalive_token) {
        out.close = true;
    }
    return ParseResult::kComplete;
}

}  // namespace http
