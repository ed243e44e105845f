#include "http/modules/static/static.h"

#include <strings.h>

#include <cstdio>

#include "core/conf_context.h"
#include "http/parse.h"

namespace mod::http_static {
namespace {

std::optional<uint64_t> number(std::string_view s) {
    if (s.empty() || s.size() > 18) {
        return std::nullopt;
    }
    auto v = core::parse_int(s);
    return v ? std::optional<uint64_t>(static_cast<uint64_t>(*v)) : std::nullopt;
}

}  // namespace

RangeResult parse_range(std::string_view value, uint64_t size, ByteRange& out) {
    value = http::trim_ows(value);
    if (value.size() < 6 || strncasecmp(value.data(), "bytes=", 6) != 0) {
        return RangeResult::kNone;  // unknown unit: ignored (RFC 9110 §14.2)
    }
    std::string_view spec = http::trim_ows(value.substr(6));
    if (spec.find(',') != std::string_view::npos) {
        return RangeResult::kNone;
    }
    size_t dash = spec.find('-');
    if (dash == std::string_view::npos) {
        return RangeResult::kNone;
    }
    std::string_view a = http::trim_ows(spec.substr(0, dash));
    std::string_view b = http::trim_ows(spec.substr(dash + 1));
    if (a.empty()) {
        // suffix range: the last N bytes
        auto n = number(b);
        if (!n) {
            return RangeResult::kNone;
        }
        if (*n == 0 || size == 0) {
            return RangeResult::kUnsatisfiable;
        }
        out.first = *n >= size ? 0 : size - *n;
        out.last = size - 1;
        return RangeResult::kRange;
    }
    auto first = number(a);
    if (!first) {
        return RangeResult::kNone;
    }
    uint64_t last = size == 0 ? 0 : size - 1;
    if (!b.empty()) {
        auto l = number(b);
        if (!l || *l < *first) {
            return RangeResult::kNone;  // invalid: ignore the header
        }
        last = std::min(*l, last);
    }
    if (*first >= size) {
        return RangeResult::kUnsatisfiable;
    }
    out.first = *first;
    out.last = last;
    return RangeResult::kRange;
}

std::string make_etag(time_t mtime, uint64_t size) {
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "\"%llx-%llx\"", static_cast<unsigned long long>(mtime),
                     static_cast<unsigned long long>(size));
    return std::string(buf, static_cast<size_t>(n));
}

bool etag_matches(std::string_view list, std::string_view etag) {
    list = http::trim_ows(list);
    if (list == "*") {
        return true;
    }
    while (!list.empty()) {
        size_t comma = list.find(',');
        std::string_view tag = http::trim_ows(list.substr(0, comma));
        if (tag.substr(0, 2) == "W/") {
            tag.remove_prefix(2);
        }
        if (tag == etag) {
            return true;
        }
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    }
    return false;
}

std::string extension_of(std::string_view path) {
    size_t slash = path.rfind('/');
    size_t dot = path.rfind('.');
    if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash)) {
        return {};
    }
    std::string ext(path.substr(dot + 1));
    for (char& c : ext) {
        c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    }
    return ext;
}

}  // namespace mod::http_static
