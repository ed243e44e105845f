#include "support/json.h"

#include <cmath>
#include <cstdlib>

namespace halo_test {

class JsonParser {
  public:
    explicit JsonParser(std::string_view text) : s_(text) {}

    bool document(Json& out) {
        skip_ws();
        if (!value(out, 0)) {
            return false;
        }
        skip_ws();
        return pos_ == s_.size() || fail("trailing bytes after the value");
    }
    const std::string& error() const { return error_; }

  private:
    bool fail(const std::string& what) {
        if (error_.empty()) {
            error_ = what + " at byte " + std::to_string(pos_);
        }
        return false;
    }
    void skip_ws() {
        while (pos_ < s_.size() &&
               (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
            pos_++;
        }
    }
    bool literal(std::string_view word) {
        if (s_.substr(pos_, word.size()) != word) {
            return fail("invalid literal");
        }
        pos_ += word.size();
        return true;
    }
    bool value(Json& out, int depth) {
        if (depth > 64) {
            return fail("nested too deep");
        }
        if (pos_ >= s_.size()) {
            return fail("unexpected end");
        }
        char c = s_[pos_];
        switch (c) {
            case '{':
                return object(out, depth);
            case '[':
                return array(out, depth);
            case '"':
                out.type_ = Json::Type::kString;
                return string(out.string_);
            case 't':
                out.type_ = Json::Type::kBool;
                out.bool_ = true;
                return literal("true");
            case 'f':
                out.type_ = Json::Type::kBool;
                return literal("false");
            case 'n':
                out.type_ = Json::Type::kNull;
                return literal("null");
            default:
                return number(out);
        }
    }
    bool object(Json& out, int depth) {
        out.type_ = Json::Type::kObject;
        pos_++;
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == '}') {
            pos_++;
            return true;
        }
        for (;;) {
            skip_ws();
            std::string key;
            if (pos_ >= s_.size() || s_[pos_] != '"') {
                return fail("expected a member name");
            }
            if (!string(key)) {
                return false;
            }
            skip_ws();
            if (pos_ >= s_.size() || s_[pos_] != ':') {
                return fail("expected ':'");
            }
            pos_++;
            skip_ws();
            Json v;
            if (!value(v, depth + 1)) {
                return false;
            }
            for (const auto& m : out.members_) {
                if (m.first == key) {
                    return fail("duplicate member \"" + key + "\"");
                }
            }
            out.members_.emplace_back(std::move(key), std::move(v));
            skip_ws();
            if (pos_ < s_.size() && s_[pos_] == ',') {
                pos_++;
                continue;
            }
            if (pos_ < s_.size() && s_[pos_] == '}') {
                pos_++;
                return true;
            }
            return fail("expected ',' or '}'");
        }
    }
    bool array(Json& out, int depth) {
        out.type_ = Json::Type::kArray;
        pos_++;
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == ']') {
            pos_++;
            return true;
        }
        for (;;) {
            skip_ws();
            Json v;
            if (!value(v, depth + 1)) {
                return false;
            }
            out.items_.push_back(std::move(v));
            skip_ws();
            if (pos_ < s_.size() && s_[pos_] == ',') {
                pos_++;
                continue;
            }
            if (pos_ < s_.size() && s_[pos_] == ']') {
                pos_++;
                return true;
            }
            return fail("expected ',' or ']'");
        }
    }
    static int hex(char c) {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        if (c >= 'a' && c <= 'f') {
            return c - 'a' + 10;
        }
        if (c >= 'A' && c <= 'F') {
            return c - 'A' + 10;
        }
        return -1;
    }
    void utf8(uint32_t cp, std::string& out) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xc0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xe0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        } else {
            out += static_cast<char>(0xf0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        }
    }
    bool string(std::string& out) {
        pos_++;  // the opening quote
        while (pos_ < s_.size()) {
            auto c = static_cast<unsigned char>(s_[pos_]);
            if (c == '"') {
                pos_++;
                return true;
            }
            if (c < 0x20) {
                return fail("control character in a string");
            }
            if (c != '\\') {
                out += static_cast<char>(c);
                pos_++;
                continue;
            }
            if (++pos_ >= s_.size()) {
                break;
            }
            char e = s_[pos_++];
            switch (e) {
                case '"':
                case '\\':
                case '/':
                    out += e;
                    break;
                case 'b':
                    out += '\b';
                    break;
                case 'f':
                    out += '\f';
                    break;
                case 'n':
                    out += '\n';
                    break;
                case 'r':
                    out += '\r';
                    break;
                case 't':
                    out += '\t';
                    break;
                case 'u': {
                    if (pos_ + 4 > s_.size()) {
                        return fail("short \\u escape");
                    }
                    uint32_t cp = 0;
                    for (int i = 0; i < 4; i++) {
                        int h = hex(s_[pos_++]);
                        if (h < 0) {
                            return fail("bad \\u escape");
                        }
                        cp = cp * 16 + static_cast<uint32_t>(h);
                    }
                    utf8(cp, out);
                    break;
                }
                default:
                    return fail("bad escape");
            }
        }
        return fail("unterminated string");
    }
    bool number(Json& out) {
        size_t start = pos_;
        bool integral = true;
        if (s_[pos_] == '-') {
            pos_++;
        }
        auto digits = [&] {
            size_t d = pos_;
            while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
                pos_++;
            }
            return pos_ - d;
        };
        size_t first = pos_;
        size_t n = digits();
        if (n == 0 || (n > 1 && s_[first] == '0')) {
            return fail("invalid number");
        }
        if (pos_ < s_.size() && s_[pos_] == '.') {
            integral = false;
            pos_++;
            if (digits() == 0) {
                return fail("invalid number");
            }
        }
        if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
            integral = false;
            pos_++;
            if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) {
                pos_++;
            }
            if (digits() == 0) {
                return fail("invalid number");
            }
        }
        std::string text(s_.substr(start, pos_ - start));
        out.type_ = Json::Type::kNumber;
        out.number_ = strtod(text.c_str(), nullptr);
        out.integer_ = integral ? strtoll(text.c_str(), nullptr, 10)
                                : static_cast<int64_t>(std::llround(out.number_));
        return true;
    }

    std::string_view s_;
    size_t pos_ = 0;
    std::string error_;
};

std::optional<Json> Json::parse(std::string_view text, std::string* error) {
    Json out;
    JsonParser p(text);
    if (!p.document(out)) {
        if (error != nullptr) {
            *error = p.error();
        }
        return std::nullopt;
    }
    return out;
}

namespace {
const Json& null_json() {
    static const Json kNull;
    return kNull;
}
}  // namespace

const Json& Json::operator[](std::string_view key) const {
    for (const auto& m : members_) {
        if (m.first == key) {
            return m.second;
        }
    }
    return null_json();
}

const Json& Json::operator[](size_t i) const {
    return i < items_.size() ? items_[i] : null_json();
}

bool Json::has(std::string_view key) const {
    for (const auto& m : members_) {
        if (m.first == key) {
            return true;
        }
    }
    return false;
}

}  // namespace halo_test
