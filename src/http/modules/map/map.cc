#include "http/modules/map/map.h"

namespace mod::http_map {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

const MapTable::Key* MapTable::find_in(const std::vector<Key>& keys, std::string_view name) {
    for (const Key& k : keys) {
        if (k.name == name) {
            return &k;
        }
    }
    return nullptr;
}

MapTable::AddResult MapTable::add(std::string_view key, size_t value) {
    std::string name = lower(key);
    if (hostnames_) {
        // nginx's ngx_hash_add_key with NGX_HASH_WILDCARD_KEY: "*.x", ".x" and "x.*" only.
        size_t stars = 0;
        for (size_t i = 0; i < name.size(); i++) {
            if (name[i] == '*') {
                stars++;
            }
            if ((name[i] == '.' && i + 1 < name.size() && name[i + 1] == '.') || name[i] == '\0') {
                return AddResult::kInvalid;
            }
        }
        if (stars > 1) {
            return AddResult::kInvalid;
        }
        std::string mask;
        bool head = false;
        if (name.size() > 1 && name[0] == '.') {
            mask = name;
            head = true;
        } else if (name.size() > 2 && name[0] == '*' && name[1] == '.') {
            mask = name.substr(1);
            head = true;
        } else if (name.size() > 2 && ends_with(name, ".*")) {
            mask = name.substr(0, name.size() - 1);
        } else if (stars > 0) {
            return AddResult::kInvalid;
        }
        if (!mask.empty()) {
            if (mask.find('*') != std::string::npos) {
                return AddResult::kInvalid;
            }
            if (name[0] == '.') {
                // ".x.com" is also the exact "x.com"
                std::string bare = name.substr(1);
                if (find_in(exact_, bare) != nullptr) {
                    return AddResult::kConflict;
                }
                exact_.push_back({std::move(bare), value});
            }
            std::vector<Key>& masks = head ? head_ : tail_;
            if (find_in(masks, mask) != nullptr) {
                return AddResult::kConflict;
            }
            masks.push_back({std::move(mask), value});
            return AddResult::kOk;
        }
    }
    if (find_in(exact_, name) != nullptr) {
        return AddResult::kConflict;
    }
    exact_.push_back({std::move(name), value});
    return AddResult::kOk;
}

void MapTable::add_regex(http::Regex regex, size_t value) {
    regexes_.push_back({std::move(regex), value});
}

std::optional<size_t> MapTable::find(std::string_view subject,
                                     std::vector<std::string_view>* captures) const {
    if (hostnames_ && !subject.empty() && subject.back() == '.') {
        subject.remove_suffix(1);
    }
    std::string name = lower(subject);
    if (const Key* k = find_in(exact_, name)) {
        return k->value;
    }
    const Key* best = nullptr;
    for (const Key& k : head_) {
        if (name.size() > k.name.size() && ends_with(name, k.name) &&
            (best == nullptr || k.name.size() > best->name.size())) {
            best = &k;
        }
    }
    if (best == nullptr) {
        for (const Key& k : tail_) {
            if (name.size() > k.name.size() && name.compare(0, k.name.size(), k.name) == 0 &&
                (best == nullptr || k.name.size() > best->name.size())) {
                best = &k;
            }
        }
    }
    if (best != nullptr) {
        return best->value;
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

}  // namespace mod::http_map
