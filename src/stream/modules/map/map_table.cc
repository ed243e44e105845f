#define PCRE2_CODE_UNIT_WIDTH 8
#include "stream/modules/map/map_table.h"

#include <pcre2.h>

#include <algorithm>

namespace mod::stream_map {
namespace {

pcre2_code* code_of(void* p) {
    return static_cast<pcre2_code*>(p);
}

}  // namespace

// ---- MapRegex ----

core::Status MapRegex::compile(std::string_view pattern, bool caseless, MapRegex& out) {
    int err = 0;
    PCRE2_SIZE offset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     caseless ? PCRE2_CASELESS : 0, &err, &offset, nullptr);
    if (code == nullptr) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof(msg));
        return core::Status::error(
            "pcre2_compile() failed: " + std::string(reinterpret_cast<char*>(msg)) + " in \"" +
            std::string(pattern) + "\" at \"" +
            std::string(pattern.substr(std::min(offset, pattern.size()))) + "\"");
    }
    out = MapRegex();
    out.code_ = code;
    return core::Status::ok();
}

MapRegex::MapRegex(MapRegex&& o) noexcept : code_(o.code_) {
    o.code_ = nullptr;
}

MapRegex& MapRegex::operator=(MapRegex&& o) noexcept {
    if (this != &o) {
        pcre2_code_free(code_of(code_));
        code_ = o.code_;
        o.code_ = nullptr;
    }
    return *this;
}

MapRegex::~MapRegex() {
    pcre2_code_free(code_of(code_));
}

bool MapRegex::match(std::string_view subject) const {
    if (code_ == nullptr) {
        return false;
    }
    pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
    int rc = pcre2_match(code_of(code_), reinterpret_cast<PCRE2_SPTR>(subject.data()),
                         subject.size(), 0, 0, md, nullptr);
    pcre2_match_data_free(md);
    return rc >= 0 || rc == PCRE2_ERROR_NOMEMORY;  // NOMEMORY: matched, ovector too small
}

// ---- MapTable ----

void MapTable::add_regex(MapRegex regex, size_t value) {
    regexes_.push_back({std::move(regex), value});
}

std::optional<size_t> MapTable::find(std::string_view subject) const {
    if (std::optional<size_t> v = keys_.find(subject)) {
        return v;
    }
    if (keys_.hostnames() && !subject.empty() && subject.back() == '.') {
        subject.remove_suffix(1);
    }
    if (subject.empty()) {
        return std::nullopt;  // nginx tries no regex on an empty value
    }
    for (const RegexKey& r : regexes_) {
        if (r.regex.match(subject)) {
            return r.value;
        }
    }
    return std::nullopt;
}

}  // namespace mod::stream_map
