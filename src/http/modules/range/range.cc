#include "http/modules/range/range.h"

#include <strings.h>

#include <limits>

namespace mod::http_range {
namespace {

constexpr uint64_t kMaxOffset = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

void skip_spaces(std::string_view s, size_t& i) {
    while (i < s.size() && s[i] == ' ') {
        i++;
    }
}

/// Reads decimal digits at `i` into `v`; false on overflow past the largest file offset.
bool read_number(std::string_view s, size_t& i, uint64_t& v) {
    v = 0;
    while (i < s.size() && is_digit(s[i])) {
        uint64_t d = static_cast<uint64_t>(s[i] - '0');
        if (v > (kMaxOffset - d) / 10) {
            return false;
        }
        v = v * 10 + d;
        i++;
    }
    return true;
}

}  // namespace

RangeResult parse_ranges(std::string_view value, uint64_t size, uint64_t max_ranges,
                         std::vector<ByteRange>& out) {
    out.clear();
    if (value.size() < 7 || strncasecmp(value.data(), "bytes=", 6) != 0) {
        return RangeResult::kNone;
    }
    std::string_view s = value.substr(6);
    size_t i = 0;
    uint64_t total = 0;
    for (;;) {
        uint64_t start = 0;
        uint64_t end = 0;  // exclusive once resolved
        skip_spaces(s, i);
        bool open_end = false;
        bool suffix = false;
        if (i < s.size() && s[i] == '-') {
            suffix = true;
            i++;
        } else {
            if (i >= s.size() || !is_digit(s[i]) || !read_number(s, i, start)) {
                return RangeResult::kUnsatisfiable;
            }
            skip_spaces(s, i);
            if (i >= s.size() || s[i] != '-') {
                return RangeResult::kUnsatisfiable;
            }
            i++;
            skip_spaces(s, i);
            open_end = i >= s.size() || s[i] == ',';
        }
        if (open_end) {
            end = size;
        } else {
            if (i >= s.size() || !is_digit(s[i]) || !read_number(s, i, end)) {
                return RangeResult::kUnsatisfiable;
            }
            skip_spaces(s, i);
            if (i < s.size() && s[i] != ',') {
                return RangeResult::kUnsatisfiable;
            }
            if (suffix) {
                start = end < size ? size - end : 0;
                end = size - 1;
            }
            end = end >= size ? size : end + 1;
        }
        if (start < end) {
            if (out.size() == max_ranges) {
                return RangeResult::kNone;  // more than max_ranges: the whole entity
            }
            out.push_back({start, end - 1});
            total += end - start;
        } else if (start == 0) {
            return RangeResult::kNone;  // "0-" of an empty entity
        }
        if (i >= s.size()) {
            break;
        }
        i++;  // the ','
    }
    if (out.empty()) {
        return RangeResult::kUnsatisfiable;
    }
    if (total > size) {
        return RangeResult::kNone;
    }
    return RangeResult::kRange;
}

}  // namespace mod::http_range
