// A small strict JSON reader (RFC 8259) for tests that check what halo answers: parse, then
// walk the values. Errors name the byte offset. Plain C++ (linked into both test binaries).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace halo_test {

class Json {
  public:
    enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

    /// The document `text` (one value, whitespace around it allowed); std::nullopt with the
    /// reason in `error` when it is not valid JSON.
    static std::optional<Json> parse(std::string_view text, std::string* error = nullptr);

    Type type() const { return type_; }
    bool is_null() const { return type_ == Type::kNull; }
    bool is_number() const { return type_ == Type::kNumber; }
    bool is_string() const { return type_ == Type::kString; }
    bool is_array() const { return type_ == Type::kArray; }
    bool is_object() const { return type_ == Type::kObject; }
    bool is_bool() const { return type_ == Type::kBool; }

    bool boolean() const { return bool_; }
    double number() const { return number_; }
    /// The number as an integer (exact for integers written without fraction or exponent).
    int64_t integer() const { return integer_; }
    const std::string& str() const { return string_; }
    const std::vector<Json>& items() const { return items_; }
    const std::vector<std::pair<std::string, Json>>& members() const { return members_; }

    /// Member `key` of an object; a null value when absent (or not an object).
    const Json& operator[](std::string_view key) const;
    /// Item `i` of an array; a null value when out of range.
    const Json& operator[](size_t i) const;
    bool has(std::string_view key) const;
    size_t size() const { return type_ == Type::kArray ? items_.size() : members_.size(); }

  private:
    friend class JsonParser;
    Type type_ = Type::kNull;
    bool bool_ = false;
    double number_ = 0;
    int64_t integer_ = 0;
    std::string string_;
    std::vector<Json> items_;
    std::vector<std::pair<std::string, Json>> members_;
};

}  // namespace halo_test
