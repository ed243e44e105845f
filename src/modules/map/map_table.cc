// The map lookup: string keys and masks (core::HostKeys), then the regexes in order.
#include "modules/map/map_table.h"

#include <cctype>
#include <string>

namespace map {

void MapTable::add_regex(regex::Regex regex, size_t value) {
    regexes_.push_back({std::move(regex), value});
}

core::Status MapTable::add_key(std::string_view key, size_t value) {
    if (!key.empty() && key[0] == '~') {
        key.remove_prefix(1);
        bool caseless = !key.empty() && key[0] == '*';
        if (caseless) {
            key.remove_prefix(1);
        }
        regex::Regex re;
        HALO_TRY(regex::Regex::compile(key, caseless, re));
        add_regex(std::move(re), value);
        return core::Status::ok();
    }
    if (!key.empty() && key[0] == '\\') {
        key.remove_prefix(1);
    }
    switch (add(key, value)) {
        case AddResult::kOk:
            return core::Status::ok();
        case AddResult::kInvalid:
            return core::Status::error("invalid hostname or wildcard \"" + std::string(key) + "\"");
        case AddResult::kConflict:
            break;
    }
    std::string lowered(key);
    for (char& c : lowered) {
        c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    }
    return core::Status::error("conflicting parameter \"" + lowered + "\"");
}

std::optional<size_t> MapTable::find(std::string_view subject,
                                     std::vector<std::string_view>* captures) const {
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
        if (r.regex.match(subject, captures)) {
            return r.value;
        }
    }
    return std::nullopt;
}

}  // namespace map
