#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace core {
class Cycle;
class ConfContext;
}  // namespace core

namespace http {

struct Request;
struct HttpMainConf;

/// Writes a variable's value for a request into `out`; false when it has none (logs print "-").
/// `arg` is the part after the prefix for prefix variables ($http_user_agent -> "user_agent").
using VariableGetter = bool (*)(const Request& r, std::string_view arg, std::string& out);

/// Changes a variable's value for a request (`set $args ...`).
using VariableSetter = void (*)(Request& r, std::string_view value);

struct VariableDef {
    std::string_view name;  // "remote_addr", or a prefix such as "http_"
    VariableGetter get;
    bool prefix = false;
    VariableSetter set = nullptr;  // nullptr: `set` cannot change it (nginx's non-changeable)
};

struct ConfVariable;

/// Computes the value of a variable the configuration defines (map's `$dst`), when the
/// request holds none for it. Owned by the module that defined the variable (its conf).
class VariableSource {
  public:
    virtual ~VariableSource() = default;
    /// Writes the value of `var` for `r`; false when it has none.
    virtual bool get(const Request& r, const ConfVariable& var, std::string& out) const = 0;
};

/// A variable the configuration defines (`set $x ...;`, `map $a $x { }`): nginx's indexed
/// variables. Its value for a request lives in Request::variables[index]: `set` stores it
/// there; otherwise `source` computes it on first read (cached there unless `cacheable` is
/// false), else `fallback` answers (the rewrite module's "uninitialized" warning), else it is
/// empty. Declared while the config is read; owned by the http main conf.
struct ConfVariable {
    std::string name;
    size_t index = 0;
    const VariableSource* source = nullptr;
    const VariableSource* fallback = nullptr;
    bool cacheable = true;
    std::string where;                     // file:line of the definition (map) or first `set`
    const VariableDef* builtin = nullptr;  // a built-in `set` writes instead ($args), at bind
};

/// Declares the variable `name` of the configuration (or returns the one declared before
/// under that name). From directive setters; nullptr when there is no http block. `where` is
/// remembered by the first declaration.
ConfVariable* declare_variable(core::Cycle& cycle, std::string_view name, const std::string& where);

/// The value of `var` for `r` (see ConfVariable); false when it has none.
bool get_variable(const Request& r, const ConfVariable& var, std::string& out);
/// Stores `value` as the value of `var` for `r` (the `set` directive).
void set_variable(Request& r, const ConfVariable& var, std::string value);

/// Registers a module's variable (from its postconfiguration hook). A name ending in '_' with
/// `prefix` set matches every variable that starts with it.
void add_variable(core::Cycle& cycle, VariableDef def);

/// Appends `d` as seconds with milliseconds ("12.345"), the form of $request_time, $msec and
/// $connection_time.
void append_seconds_ms(std::string& out, std::chrono::milliseconds d);

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
    /// As eval(), with the values of the regex captures ($0..$9) only passed through `escape`
    /// (the rewrite module escapes them in arguments and redirects, as nginx).
    void eval_captures_escaped(const Request& r, std::string& out,
                               std::string (*escape)(std::string_view)) const;
    bool is_literal() const {
        return parts_.size() <= 1 && (parts_.empty() || parts_[0].name.empty());
    }
    const std::string& text() const { return text_; }
    /// Once bound: whether a part reads the built-in variable (or prefix) named `name`.
    bool uses(std::string_view name) const {
        for (const Part& p : parts_) {
            if (p.var != nullptr && p.var->name == name) {
                return true;
            }
        }
        return false;
    }

    /// Binds every variable name: a built-in by its exact name, then a variable of the
    /// configuration, then the longest built-in prefix. Called by the http core for all values
    /// of a cycle.
    core::Status bind(const HttpMainConf& main);

  private:
    struct Part {
        std::string literal;
        std::string name;  // variable name when this part is a variable
        const VariableDef* var = nullptr;
        const ConfVariable* conf = nullptr;
        std::string arg;
        bool is_capture() const { return name.size() == 1 && name[0] >= '0' && name[0] <= '9'; }
        bool get(const Request& r, std::string& out) const;
    };
    std::vector<Part> parts_;
    std::string text_;
    std::string where_;
};

/// Keeps `cv` for binding at the end of the http block (call from a directive setter).
void register_complex_value(core::Cycle& cycle, ComplexValue* cv);

/// A size that may be given with variables (nginx's complex value of a size, 1.17.0:
/// limit_rate, limit_rate_after, proxy_limit_rate): a literal is parsed when the directive is
/// read, a value with variables for each request. Copies share the value (bound once).
struct SizeValue {
    uint64_t literal = 0;
    std::shared_ptr<ComplexValue> value;  // nullptr: the literal

    /// The directive's argument `text`: "invalid value" when a literal is not a size.
    static core::Status parse(core::ConfContext& cf, std::string_view text, SizeValue& out);
    /// The size for `r`: a value that is not a size is logged ("invalid size") and counts as
    /// 0, an empty one is 0, as nginx.
    uint64_t eval(const Request& r) const;
    /// A literal 0 (the directive's default: nothing to do for any request).
    bool zero() const { return value == nullptr && literal == 0; }
};

/// The variables every http cycle has: $remote_addr, $request, $status, $http_*, ...
std::vector<VariableDef> builtin_variables();
/// The rest of nginx's core variables, from core_variables.cc: $request_id, $cookie_*,
/// $sent_http_*, $binary_remote_addr, $tcpinfo_*, $pipe, $connection_time...
std::span<const VariableDef> more_core_variables();

}  // namespace http
