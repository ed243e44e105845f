// The map lookup: string keys and masks (core::HostKeys), then the regexes in order.
#include "modules/map/map_table.h"

namespace map {

void MapTable::add_regex(regex::Regex regex, size_t value) {
    regexes_.push_back({std::move(regex), value});
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
