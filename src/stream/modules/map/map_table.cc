#define PCRE2_CODE_UNIT_WIDTH 8
#include "stream/modules/map/map_table.h"

#include <pcre2.h>

#include <algorithm>

namespace mod::stream_map {
namespace {

pcre2_code* code_of(void* p) {
    return static_cast<pcre2_code*>(p);
}

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

const MapTable::Mask* MapTable::find_mask(const std::vector<Mask>& masks, std::string_view name) {
    for (const Mask& m : masks) {
        if (m.name == name) {
            return &m;
        }
    }
    return nullptr;
}

MapTable::AddResult MapTable::add(std::string_view key, size_t value) {
    std::string name = lower(key);
    if (hostnames_) {
        // nginx's wildcard keys: "*.x", ".x" and "x.*" only, one '*', no empty label.
        size_t stars = static_cast<size_t>(std::count(name.begin(), name.end(), '*'));
        if (stars > 1 || name.find("..") != std::string::npos) {
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
            std::vector<Mask>& masks = head ? head_ : tail_;
            if (find_mask(masks, mask) != nullptr) {
                return AddResult::kConflict;
            }
            if (name[0] == '.') {
                // ".x.com" is also the exact "x.com"
                if (!exact_.emplace(name.substr(1), value).second) {
                    return AddResult::kConflict;
                }
            }
            masks.push_back({std::move(mask), value});
            return AddResult::kOk;
        }
    }
    if (!exact_.emplace(std::move(name), value).second) {
        return AddResult::kConflict;
    }
    return AddResult::kOk;
}

void MapTable::add_regex(MapRegex regex, size_t value) {
    regexes_.push_back({std::move(regex), value});
}

std::optional<size_t> MapTable::find(std::string_view subject) const {
    if (hostnames_ && !subject.empty() && subject.back() == '.') {
        subject.remove_suffix(1);
    }
    std::string name = lower(subject);
    if (auto it = exact_.find(name); it != exact_.end()) {
        return it->second;
    }
    const Mask* best = nullptr;
    for (const Mask& m : head_) {
        if (name.size() > m.name.size() && ends_with(name, m.name) &&
            (best == nullptr || m.name.size() > best->name.size())) {
            best = &m;
        }
    }
    if (best == nullptr) {
        for (const Mask& m : tail_) {
            if (name.size() > m.name.size() && name.compare(0, m.name.size(), m.name) == 0 &&
                (best == nullptr || m.name.size() > best->name.size())) {
                best = &m;
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
        if (r.regex.match(subject)) {
            return r.value;
        }
    }
    return std::nullopt;
}

}  // namespace mod::stream_map
