// The rewrite module's runtime. A script is the rewrite, return, break, if and set directives
// of one server or location, run in order (nginx's rewrite script): the server's in the
// server_rewrite phase, the location's in the rewrite phase. rewrite_module.cc builds the
// steps from the directives; this part needs no config system.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/conf_context.h"
#include "http/http.h"

namespace mod::http_rewrite {

/// How a step (or a whole script) ends.
enum class Outcome {
    kContinue,  // go on with the next directive
    kStop,      // break, or rewrite ... last|break: the script ends, the request goes on
    kDone,      // the request got its response (return, redirect, an error)
};

/// The state of one run of a script.
struct RunState {
    bool log = false;          // rewrite_log: a notice line for each regex test and rewrite
    bool uri_changed = false;  // a rewrite changed the URI: the location is searched again
};

/// One directive of a script. Immutable once built; shared by every request.
class Step {
  public:
    virtual ~Step() = default;
    virtual Outcome run(http::Request& r, RunState& state) const = 0;
};

/// The directives of one block, in order.
class Script {
  public:
    void add(std::unique_ptr<Step> step) { steps_.push_back(std::move(step)); }
    bool empty() const { return steps_.empty(); }
    size_t size() const { return steps_.size(); }
    /// Runs the steps in order until one ends the script.
    Outcome run(http::Request& r, RunState& state) const;

  private:
    std::vector<std::unique_ptr<Step>> steps_;
};

/// `rewrite regex replacement [last|break|redirect|permanent];`
struct RewriteStep : Step {
    enum class Flag { kNone, kLast, kBreak, kRedirect, kPermanent };

    http::Regex regex;
    Flag flag = Flag::kNone;
    int status = 0;           // 301 or 302 for a redirect, 0 for an internal rewrite
    bool add_args = true;     // false when the replacement ended with '?'
    bool has_args = false;    // the replacement holds a literal '?'
    http::ComplexValue uri;   // the replacement (internal rewrites: up to its first '?')
    http::ComplexValue args;  // internal rewrites: the replacement after its first '?'

    Outcome run(http::Request& r, RunState& state) const override;
};

/// `return code [text]; return code URL; return URL;`
struct ReturnStep : Step {
    int code = 0;
    http::ComplexValue text;  // the body, or the Location of a redirect
    bool has_text = false;

    Outcome run(http::Request& r, RunState& state) const override;
};

/// `break;`
struct BreakStep : Step {
    Outcome run(http::Request& r, RunState& state) const override;
};

/// `set $name value;`
struct SetStep : Step {
    const http::ConfVariable* var = nullptr;
    http::ComplexValue value;

    Outcome run(http::Request& r, RunState& state) const override;
};

/// The condition of an `if`.
struct Condition {
    enum class Kind { kValue, kEqual, kNotEqual, kRegex, kFile };
    enum class FileTest { kFile, kDir, kExists, kExec };

    Kind kind = Kind::kValue;
    http::ComplexValue subject;  // the variable, or the path of a file test
    http::ComplexValue operand;  // the right side of = and !=
    http::Regex regex;           // ~ ~* !~ !~*
    FileTest file_test = FileTest::kFile;
    bool negate = false;  // !~ !~* !-f !-d !-e !-x

    /// True when the condition holds; a regex test sets the captures when it matches and
    /// clears them when it does not (nginx).
    bool eval(http::Request& r, const RunState& state) const;
};

/// `if (condition) { ... }`: in a location, `confs` are the `if` location's, which the
/// request uses from there on when the condition holds.
struct IfStep : Step {
    Condition condition;
    Script body;
    const core::ConfVector* confs = nullptr;

    Outcome run(http::Request& r, RunState& state) const override;
};

/// nginx's NGX_ESCAPE_ARGS: percent-escapes ' ', '#', '%', '&', '+', ';', '?', control
/// characters and bytes from 0x7f on.
std::string escape_args(std::string_view s);
/// nginx's NGX_UNESCAPE_REDIRECT: up to the first '?', decodes the %XX that stand for a
/// character between '%' and DEL (exclusive); the rest is kept as it is.
std::string unescape_redirect(std::string_view s);
/// The truth of a value in `if`: false when empty or "0".
bool is_true(std::string_view v);

}  // namespace mod::http_rewrite
