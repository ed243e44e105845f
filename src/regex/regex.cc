#define PCRE2_CODE_UNIT_WIDTH 8
#include "regex/regex.h"

#include <pcre2.h>

#include <vector>

namespace regex {
namespace {

pcre2_code* code_of(void* p) {
    return static_cast<pcre2_code*>(p);
}

/// One match-data block per process, large enough for every pattern (nginx keeps one too).
pcre2_match_data* match_data(int groups) {
    static thread_local pcre2_match_data* md = nullptr;
    static thread_local int capacity = 0;
    if (groups + 1 > capacity) {
        if (md != nullptr) {
            pcre2_match_data_free(md);
        }
        capacity = groups + 1 < 16 ? 16 : groups + 1;
        md = pcre2_match_data_create(static_cast<uint32_t>(capacity), nullptr);
    }
    return md;
}

/// Patterns compiled since the last apply_pcre_jit(): JIT-compiled (or not) once the
/// configuration's pcre_jit is known, as nginx does after parsing.
std::vector<pcre2_code*>& pending_jit() {
    static std::vector<pcre2_code*> pending;
    return pending;
}

void release(void* code) {
    if (code == nullptr) {
        return;
    }
    std::erase(pending_jit(), code_of(code));
    pcre2_code_free(code_of(code));
}

}  // namespace

void apply_pcre_jit(bool on) {
    if (on) {
        for (pcre2_code* code : pending_jit()) {
            pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // no JIT support: the interpreter
        }
    }
    pending_jit().clear();
}

bool Regex::jit() const {
    size_t size = 0;
    return code_ != nullptr && pcre2_pattern_info(code_of(code_), PCRE2_INFO_JITSIZE, &size) == 0 &&
           size > 0;
}

core::Status Regex::compile(std::string_view pattern, bool caseless, Regex& out) {
    int err = 0;
    PCRE2_SIZE offset = 0;
    uint32_t options = caseless ? PCRE2_CASELESS : 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     options, &err, &offset, nullptr);
    if (code == nullptr) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof(msg));
        return core::Status::error(
            "pcre2_compile() failed: " + std::string(reinterpret_cast<char*>(msg)) + " in \"" +
            std::string(pattern) + "\" at \"" +
            std::string(pattern.substr(std::min(offset, pattern.size()))) + "\"");
    }
    pending_jit().push_back(code);
    uint32_t groups = 0;
    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &groups);
    Regex r;
    r.code_ = code;
    r.groups_ = static_cast<int>(groups);
    r.pattern_ = std::string(pattern);
    out = std::move(r);
    return core::Status::ok();
}

Regex::Regex(Regex&& o) noexcept
    : code_(o.code_), groups_(o.groups_), pattern_(std::move(o.pattern_)) {
    o.code_ = nullptr;
}

Regex& Regex::operator=(Regex&& o) noexcept {
    if (this != &o) {
        release(code_);
        code_ = o.code_;
        groups_ = o.groups_;
        pattern_ = std::move(o.pattern_);
        o.code_ = nullptr;
    }
    return *this;
}

Regex::~Regex() {
    release(code_);
}

std::vector<std::pair<std::string, int>> Regex::names() const {
    std::vector<std::pair<std::string, int>> out;
    uint32_t count = 0;
    uint32_t entry = 0;
    PCRE2_SPTR table = nullptr;
    pcre2_pattern_info(code_of(code_), PCRE2_INFO_NAMECOUNT, &count);
    pcre2_pattern_info(code_of(code_), PCRE2_INFO_NAMEENTRYSIZE, &entry);
    pcre2_pattern_info(code_of(code_), PCRE2_INFO_NAMETABLE, &table);
    for (uint32_t i = 0; i < count && table != nullptr; i++) {
        const unsigned char* e = table + static_cast<size_t>(i) * entry;
        int group = (e[0] << 8) | e[1];  // two bytes of group number, then the name (NUL)
        out.emplace_back(reinterpret_cast<const char*>(e + 2), group);
    }
    return out;
}

bool Regex::match(std::string_view subject, std::vector<std::string_view>* captures) const {
    if (code_ == nullptr) {
        return false;
    }
    pcre2_match_data* md = match_data(groups_);
    int rc = pcre2_match(code_of(code_), reinterpret_cast<PCRE2_SPTR>(subject.data()),
                         subject.size(), 0, 0, md, nullptr);
    if (rc < 0) {
        return false;
    }
    if (captures != nullptr) {
        captures->clear();
        PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        for (int i = 0; i <= groups_; i++) {
            if (i < rc && ov[2 * i] != PCRE2_UNSET) {
                captures->push_back(subject.substr(ov[2 * i], ov[2 * i + 1] - ov[2 * i]));
            } else {
                captures->emplace_back();
            }
        }
    }
    return true;
}

}  // namespace regex
