#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace core {
class Cycle;
}

namespace http {

struct Request;
struct HttpMainConf;

/// Writes a variable's value for a request into `out`; false when it has none (logs print "-").
/// `arg` is the part after the prefix for prefix variables ($http_user_agent -> "user_agent").
using VariableGetter = bool (*)(const Request& r, std::string_view arg, std::string& out);

struct VariableDef {
    std::string_view name;  // "remote_addr", or a prefix such as "http_"
    VariableGetter get;
    bool prefix = false;
};

/// Registers a module's variable (from its postconfiguration hook). A name ending in '_' with
/// `prefix` set matches every variable that starts with it.
void add_variable(core::Cycle& cycle, VariableDef def);

/// A config string with $variables ("$remote_addr - ${host}x"), parsed when the directive is
/// read and bound to the variable definitions once every module registered its own (the
/// http block's init), so an unknown name fails the load with the directive's file:line.
class ComplexValue {
  public:
    /// Parses `text`; `where` is "file:line" for the error of an unknown variable.
    static core::Status parse(std::string_view text, const std::string& where, ComplexValue& out);

    /// Appends the value for `r`; a variable without a value appends `missing`.
    void eval(const Request& r, std::string& out, std::string_view missing = {},
              std::string (*escape)(std::string_view) = nullptr) const;
    std::string eval(const Request& r) const {
        std::string s;
        eval(r, s);
        return s;
    }
    bool is_literal() const {
        return parts_.size() <= 1 && (parts_.empty() || parts_[0].name.empty());
    }
    const std::string& text() const { return text_; }

    /// Binds every variable name; called by the http core for all values of a cycle.
    core::Status bind(const HttpMainConf& main);

  private:
    struct Part {
        std::string literal;
        std::string name;  // variable name when this part is a variable
        const VariableDef* var = nullptr;
        std::string arg;
    };
    std::vector<Part> parts_;
    std::string text_;
    std::string where_;
};

/// Keeps `cv` for binding at the end of the http block (call from a directive setter).
void register_complex_value(core::Cycle& cycle, ComplexValue* cv);

/// The variables every http cycle has: $remote_addr, $request, $status, $http_*, ...
std::vector<VariableDef> builtin_variables();

}  // namespace http
