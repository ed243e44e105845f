// `halo --import-keepalived`: what its halves share (keepalived_map.h): the report of the
// keywords left out, keepalived's value forms, and the writer of the output.
#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include "core/conf_context.h"
#include "modules/vrrp/keepalived_map.h"

namespace vrrp::keepalived {

using Millis = std::chrono::milliseconds;

void Report::skip(const KaNode& n, std::string_view kw, std::string_view why) {
    std::string s = n.where() + ": keepalived keyword \"" + std::string(kw) + "\" is not supported";
    if (!why.empty()) {
        s += ": " + std::string(why);
    }
    entries_.push_back({n.file ? *n.file : "", n.line, s + " (skipped)"});
}

void Report::unmapped(const KaNode& n, bool known) {
    if (n.condition.empty() && known) {
        std::string all;
        for (const std::string& w : n.words) {
            all += (all.empty() ? "" : " ") + w;
        }
        skip(n, all, n.block ? "invalid block" : "invalid value");
        return;
    }
    skip(n);
}

void Report::note(const KaNode& n, std::string_view what) {
    entries_.push_back({n.file ? *n.file : "", n.line, n.where() + ": " + std::string(what)});
}

void Report::finish(const std::vector<std::string>& file_order) {
    auto rank = [&](const std::string& f) {
        return std::find(file_order.begin(), file_order.end(), f) - file_order.begin();
    };
    std::stable_sort(entries_.begin(), entries_.end(), [&](const Entry& a, const Entry& b) {
        auto ra = rank(a.file), rb = rank(b.file);
        return ra != rb ? ra < rb : a.line < b.line;
    });
    // A group's line mapped into each of its members is reported once.
    std::set<std::string> said;
    for (Entry& e : entries_) {
        if (said.insert(e.text).second) {
            lines_.push_back(std::move(e.text));
        }
    }
    entries_.clear();
}

std::optional<Millis> parse_seconds(std::string_view s) {
    if (s.empty() || s.size() > 12) {
        return std::nullopt;
    }
    long whole = 0;
    long frac_ms = 0;
    size_t i = 0;
    for (; i < s.size() && s[i] != '.'; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return std::nullopt;
        }
        whole = whole * 10 + (s[i] - '0');
    }
    if (i < s.size()) {
        if (i + 1 == s.size()) {
            return std::nullopt;
        }
        long scale = 100;
        for (i++; i < s.size(); i++) {
            if (s[i] < '0' || s[i] > '9') {
                return std::nullopt;
            }
            frac_ms += (s[i] - '0') * scale;  // digits past the millisecond are dropped
            scale /= 10;
        }
    }
    return Millis(whole * 1000 + frac_ms);
}

std::string duration_text(Millis ms) {
    if (ms.count() % 1000 == 0) {
        return std::to_string(ms.count() / 1000) + "s";
    }
    return std::to_string(ms.count()) + "ms";
}

std::string command_words(const KaNode& n) {
    std::string cmd;
    for (size_t i = 1; i < n.words.size(); i++) {
        cmd += (i > 1 ? " " : "") + n.words[i];
    }
    return cmd;
}

std::optional<long> parse_count(std::string_view s) {
    if (s.size() > 9) {
        return std::nullopt;
    }
    return core::parse_int(s);
}

std::optional<int> parse_weight(std::string_view s) {
    bool neg = !s.empty() && s[0] == '-';
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
        s.remove_prefix(1);
    }
    auto v = parse_count(s);
    if (!v || *v > 253) {
        return std::nullopt;
    }
    return static_cast<int>(neg ? -*v : *v);
}

std::optional<long> count_arg(const KaNode& n, long lo, long hi) {
    auto v = arg_count(n) == 1 ? parse_count(n.words[1]) : std::nullopt;
    if (!v || *v < lo || *v > hi) {
        return std::nullopt;
    }
    return v;
}

Mapped set_count(const KaNode& n, std::optional<long>& to, long lo, long hi) {
    auto v = count_arg(n, lo, hi);
    if (!v) {
        return Mapped::kInvalid;
    }
    to = v;
    return Mapped::kMapped;
}

std::string word(std::string_view s) {
    bool safe = !s.empty();
    for (char c : s) {
        if (c <= ' ' || c == ';' || c == '{' || c == '}' || c == '#' || c == '"' || c == '\'' ||
            c == '\\' || c == '$' || c == '<' || c == '>' || c == '|' || c == '&' || c == '`' ||
            c == '(' || c == ')' || c == '*' || c == '?' || c == '!') {
            safe = false;
        }
    }
    if (safe) {
        return std::string(s);
    }
    std::string q = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            q += '\\';
        }
        q += c;
    }
    return q + "\"";
}

AddrKind addr_kind(std::string_view s) {
    std::string str(s);
    unsigned char buf[16];
    if (inet_pton(AF_INET, str.c_str(), buf) == 1) {
        return AddrKind::kV4;
    }
    if (inet_pton(AF_INET6, str.c_str(), buf) == 1) {
        return AddrKind::kV6;
    }
    return AddrKind::kBad;
}

void Writer::line(std::string_view text) {
    text_.append(static_cast<size_t>(depth_) * 4, ' ');
    text_ += text;
    text_ += "\n";
}

}  // namespace vrrp::keepalived
