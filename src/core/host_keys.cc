#include "core/host_keys.h"

#include <algorithm>

namespace core {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

}  // namespace

HostKeys::AddResult HostKeys::add(std::string_view key, size_t value) {
    std::string name = lower(key);
    if (hostnames_) {
        // nginx's ngx_hash_add_key with NGX_HASH_WILDCARD_KEY: "*.x", ".x" and "x.*" only,
        // one '*', no empty label.
        size_t stars = static_cast<size_t>(std::count(name.begin(), name.end(), '*'));
        if (stars > 1 || name.find("..") != std::string::npos ||
            name.find('\0') != std::string::npos) {
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
        } else if (name.size() > 2 && name.ends_with(".*")) {
            mask = name.substr(0, name.size() - 1);
        } else if (stars > 0) {
            return AddResult::kInvalid;
        }
        if (!mask.empty()) {
            if (mask.find('*') != std::string::npos) {
                return AddResult::kInvalid;
            }
            auto& masks = head ? head_ : tail_;
            if (masks.contains(mask)) {
                return AddResult::kConflict;
            }
            if (name[0] == '.') {
                // ".x.com" is also the exact "x.com"
                if (!exact_.emplace(name.substr(1), value).second) {
                    return AddResult::kConflict;
                }
            }
            masks.emplace(std::move(mask), value);
            return AddResult::kOk;
        }
    }
    if (!exact_.emplace(std::move(name), value).second) {
        return AddResult::kConflict;
    }
    return AddResult::kOk;
}

std::optional<size_t> HostKeys::find(std::string_view subject) const {
    if (hostnames_ && !subject.empty() && subject.back() == '.') {
        subject.remove_suffix(1);
    }
    std::string name = lower(subject);
    if (auto it = exact_.find(name); it != exact_.end()) {
        return it->second;
    }
    if (name.empty() || (head_.empty() && tail_.empty())) {
        return std::nullopt;
    }
    // A leading mask starts with a dot and is shorter than the subject: try the subject's
    // suffixes from each dot after its first character, longest first.
    std::string probe;
    for (size_t i = 1; i < name.size() && !head_.empty(); i++) {
        if (name[i] == '.') {
            probe.assign(name, i);
            if (auto it = head_.find(probe); it != head_.end()) {
                return it->second;
            }
        }
    }
    // A trailing mask ends with a dot and is shorter than the subject: its prefixes up to each
    // dot before the last character, longest first.
    for (size_t i = name.size() - 1; i-- > 0 && !tail_.empty();) {
        if (name[i] == '.') {
            probe.assign(name, 0, i + 1);
            if (auto it = tail_.find(probe); it != tail_.end()) {
                return it->second;
            }
        }
    }
    return std::nullopt;
}

}  // namespace core
