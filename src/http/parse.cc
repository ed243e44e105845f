#include "http/parse.h"

#include <cstring>

#include "core/conf_context.h"

namespace http {
namespace {

bool is_tchar(unsigned char c) {
    static constexpr std::string_view kExtra = "!#$%&'*+-.^_`|~";
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           kExtra.find(static_cast<char>(c)) != std::string_view::npos;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view trim(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
        v.remove_prefix(1);
    }
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
        v.remove_suffix(1);
    }
    return v;
}

/// Finds the end of one line (LF, optionally preceded by CR). npos when not yet complete.
size_t line_end(std::string_view in, size_t from, size_t& next) {
    size_t lf = in.find('\n', from);
    if (lf == std::string_view::npos) {
        return lf;
    }
    next = lf + 1;
    return lf > from && in[lf - 1] == '\r' ? lf - 1 : lf;
}

}  // namespace

ParseResult parse_request_head(std::string_view in, size_t max_line, size_t max_head, Request& r,
                               size_t& consumed, int& status) {
    // Skip empty lines before the request line (RFC 9112 §2.2).
    size_t pos = 0;
    while (pos < in.size() && (in[pos] == '\r' || in[pos] == '\n')) {
        pos++;
    }
    size_t next = 0;
    size_t end = line_end(in, pos, next);
    if (end == std::string_view::npos) {
        if (in.size() - pos > max_line) {
            status = 414;
            return ParseResult::kError;
        }
        return ParseResult::kIncomplete;
    }
    if (end - pos > max_line) {
        status = 414;
        return ParseResult::kError;
    }
    std::string_view line = in.substr(pos, end - pos);
    status = 400;
    size_t sp1 = line.find(' ');
    size_t sp2 = line.rfind(' ');
    if (sp1 == std::string_view::npos || sp1 == 0 || sp2 == sp1) {
        return ParseResult::kError;
    }
    r.method = line.substr(0, sp1);
    for (char c : r.method) {
        if (!is_tchar(static_cast<unsigned char>(c))) {
            return ParseResult::kError;
        }
    }
    r.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string_view version = line.substr(sp2 + 1);
    if (r.target.empty() || r.target.find(' ') != std::string_view::npos) {
        return ParseResult::kError;
    }
    for (char c : r.target) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
            return ParseResult::kError;
        }
    }
    if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
        version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
        return ParseResult::kError;
    }
    if (version[5] != '1') {
        status = 505;
        return ParseResult::kError;
    }
    r.http_minor = version[7] - '0';
    r.keepalive = r.http_minor >= 1;
    if (r.target[0] == '/') {
        size_t q = r.target.find('?');
        r.path = r.target.substr(0, q);
        r.args = q == std::string_view::npos ? std::string_view() : r.target.substr(q + 1);
    } else if (r.target.substr(0, 7) == "http://" || r.target.substr(0, 8) == "https://") {
        // absolute-form: the authority becomes the host (RFC 9112 §3.2.2).
        size_t scheme_end = r.target.find("://") + 3;
        size_t slash = r.target.find('/', scheme_end);
        r.host =
            r.target.substr(scheme_end, slash == std::string_view::npos ? std::string_view::npos
                                                                        : slash - scheme_end);
        std::string_view rest = slash == std::string_view::npos ? "/" : r.target.substr(slash);
        size_t q = rest.find('?');
        r.path = rest.substr(0, q);
        r.args = q == std::string_view::npos ? std::string_view() : rest.substr(q + 1);
    } else if (r.method == "OPTIONS" && r.target == "*") {
        r.path = r.target;
    } else {
        return ParseResult::kError;
    }

    bool have_cl = false;
    bool absolute_form = !r.host.empty();  // RFC 9112 §3.2.2: then Host is ignored
    bool have_host = absolute_form;
    pos = next;
    for (;;) {
        if (pos > max_head) {
            status = 431;
            return ParseResult::kError;
        }
        end = line_end(in, pos, next);
        if (end == std::string_view::npos) {
            if (in.size() > max_head) {
                status = 431;
                return ParseResult::kError;
            }
            return ParseResult::kIncomplete;
        }
        if (end == pos) {
            break;  // empty line: end of the head
        }
        std::string_view h = in.substr(pos, end - pos);
        if (h.size() > max_line) {
            status = 431;
            return ParseResult::kError;
        }
        status = 400;
        if (h[0] == ' ' || h[0] == '\t') {
            return ParseResult::kError;  // obs-fold (RFC 9112 §5.2)
        }
        size_t colon = h.find(':');
        if (colon == std::string_view::npos || colon == 0) {
            return ParseResult::kError;
        }
        Header hd{h.substr(0, colon), trim(h.substr(colon + 1))};
        for (char c : hd.name) {
            if (!is_tchar(static_cast<unsigned char>(c))) {
                return ParseResult::kError;  // includes whitespace before ':' (§5.1)
            }
        }
        for (char c : hd.value) {
            auto u = static_cast<unsigned char>(c);
            if ((u < 0x20 && u != '\t') || u == 0x7f) {
                return ParseResult::kError;
            }
        }
        if (iequals(hd.name, "Host")) {
            if (!absolute_form) {
                if (have_host) {
                    return ParseResult::kError;  // any duplicate Host (RFC 9112 §3.2)
                }
                r.host = hd.value;
                have_host = true;
            }
        } else if (iequals(hd.name, "Content-Length")) {
            auto v = core::parse_int(hd.value);
            if (!v || (have_cl && static_cast<uint64_t>(*v) != r.content_length)) {
                return ParseResult::kError;
            }
            have_cl = true;
            r.content_length = static_cast<uint64_t>(*v);
        } else if (iequals(hd.name, "Transfer-Encoding")) {
            status = 501;  // chunked request bodies come with the HTTP core issue
            return ParseResult::kError;
        } else if (iequals(hd.name, "Connection")) {
            if (iequals(hd.value, "close")) {
                r.keepalive = false;
            } else if (iequals(hd.value, "keep-alive")) {
                r.keepalive = true;
            }
        }
        r.headers.push_back(hd);
        pos = next;
    }
    if (r.http_minor >= 1 && !have_host) {
        status = 400;  // RFC 9112 §3.2: Host is required in HTTP/1.1
        return ParseResult::kError;
    }
    consumed = next;
    return ParseResult::kComplete;
}

}  // namespace http
