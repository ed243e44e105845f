#include "http/modules/static/static.h"

#include <strings.h>

#include <cstdio>

#include "core/conf_context.h"
#include "http/parse.h"

namespace mod::http_static {
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
