#include "support/prometheus.h"

#include <cstdlib>
#include <set>

namespace halo_test {

namespace {

bool name_char(char c, bool first) {
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    return alpha || (!first && c >= '0' && c <= '9');
}

bool read_name(std::string_view line, size_t& pos, std::string& out) {
    size_t start = pos;
    while (pos < line.size() && name_char(line[pos], pos == start)) {
        pos++;
    }
    out = std::string(line.substr(start, pos - start));
    return !out.empty();
}

bool parse_value(std::string_view text, double& out) {
    if (text == "+Inf" || text == "-Inf" || text == "NaN") {
        out = text == "NaN" ? 0 : (text[0] == '-' ? -1e308 : 1e308);
        return true;
    }
    std::string s(text);
    char* end = nullptr;
    out = strtod(s.c_str(), &end);
    return !s.empty() && end == s.c_str() + s.size();
}

}  // namespace

std::optional<PromText> PromText::parse(std::string_view text, std::string* error) {
    PromText out;
    std::set<std::string> finished;  // families whose samples are over
    std::string current;             // the family of the samples being read
    size_t line_no = 0;
    auto fail = [&](const std::string& why) -> std::optional<PromText> {
        if (error != nullptr) {
            *error = "line " + std::to_string(line_no) + ": " + why;
        }
        return std::nullopt;
    };
    if (!text.empty() && text.back() != '\n') {
        return fail("the text does not end with a newline");
    }
    while (!text.empty()) {
        size_t eol = text.find('\n');
        std::string_view line = text.substr(0, eol);
        text.remove_prefix(eol + 1);
        line_no++;
        if (line.empty()) {
            continue;
        }
        if (line[0] == '#') {
            bool help = line.rfind("# HELP ", 0) == 0;
            bool type = line.rfind("# TYPE ", 0) == 0;
            if (!help && !type) {
                continue;  // a comment
            }
            size_t pos = 7;
            std::string name;
            if (!read_name(line, pos, name) || pos >= line.size() || line[pos] != ' ') {
                return fail("bad metric name in a HELP or TYPE line");
            }
            if (type) {
                std::string t(line.substr(pos + 1));
                if (t != "counter" && t != "gauge" && t != "histogram" && t != "summary" &&
                    t != "untyped") {
                    return fail("unknown type \"" + t + "\"");
                }
                if (out.types_.count(name) != 0) {
                    return fail("a second TYPE for " + name);
                }
                out.types_[name] = t;
            }
            if (name != current) {
                if (!current.empty()) {
                    finished.insert(current);
                }
                current = name;
            }
            if (finished.count(name) != 0) {
                return fail("family " + name + " is not together");
            }
            continue;
        }
        PromSample s;
        size_t pos = 0;
        if (!read_name(line, pos, s.name)) {
            return fail("bad sample name");
        }
        if (pos < line.size() && line[pos] == '{') {
            pos++;
            while (pos < line.size() && line[pos] != '}') {
                std::string label;
                if (!read_name(line, pos, label) || pos + 1 >= line.size() || line[pos] != '=' ||
                    line[pos + 1] != '"') {
                    return fail("bad label");
                }
                pos += 2;
                std::string value;
                while (pos < line.size() && line[pos] != '"') {
                    if (line[pos] == '\\' && pos + 1 < line.size()) {
                        char e = line[pos + 1];
                        if (e != '\\' && e != '"' && e != 'n') {
                            return fail("bad escape in a label value");
                        }
                        value += e == 'n' ? '\n' : e;
                        pos += 2;
                    } else {
                        value += line[pos++];
                    }
                }
                if (pos >= line.size()) {
                    return fail("unterminated label value");
                }
                pos++;
                if (s.labels.count(label) != 0) {
                    return fail("label " + label + " twice");
                }
                s.labels[label] = value;
                if (pos < line.size() && line[pos] == ',') {
                    pos++;
                }
            }
            if (pos >= line.size()) {
                return fail("unterminated label set");
            }
            pos++;
        }
        if (pos >= line.size() || line[pos] != ' ') {
            return fail("no value");
        }
        std::string_view rest = line.substr(pos + 1);
        std::string_view value = rest.substr(0, rest.find(' '));  // a timestamp may follow
        if (!parse_value(value, s.value)) {
            return fail("bad value \"" + std::string(value) + "\"");
        }
        if (s.name != current) {
            return fail("sample " + s.name + " outside its family (no HELP/TYPE before it)");
        }
        if (out.types_.count(s.name) == 0) {
            return fail("sample " + s.name + " has no TYPE");
        }
        out.samples_.push_back(std::move(s));
    }
    return out;
}

std::string PromText::type(const std::string& name) const {
    auto it = types_.find(name);
    return it == types_.end() ? std::string() : it->second;
}

std::vector<const PromSample*> PromText::find(
    const std::string& name, const std::map<std::string, std::string>& labels) const {
    std::vector<const PromSample*> out;
    for (const auto& s : samples_) {
        if (s.name != name) {
            continue;
        }
        bool match = true;
        for (const auto& [k, v] : labels) {
            auto it = s.labels.find(k);
            match = match && it != s.labels.end() && it->second == v;
        }
        if (match) {
            out.push_back(&s);
        }
    }
    return out;
}

std::optional<double> PromText::value(const std::string& name,
                                      const std::map<std::string, std::string>& labels) const {
    auto found = find(name, labels);
    if (found.size() != 1) {
        return std::nullopt;
    }
    return found[0]->value;
}

double PromText::sum(const std::string& name,
                     const std::map<std::string, std::string>& labels) const {
    double total = 0;
    for (const PromSample* s : find(name, labels)) {
        total += s->value;
    }
    return total;
}

}  // namespace halo_test
