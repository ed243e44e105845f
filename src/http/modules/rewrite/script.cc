#include "http/modules/rewrite/script.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "http/error_log.h"

namespace mod::http_rewrite {
namespace {

bool is_redirect(int code) {
    return code == 301 || code == 302 || code == 303 || code == 307 || code == 308;
}

/// nginx escapes the captures it copies into arguments and redirects only when the request's
/// URI was escaped itself (it had a '%' or a '+').
bool uri_was_escaped(const http::Request& r) {
    return r.path.find_first_of("%+") != std::string_view::npos;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = static_cast<char>(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

void notice(const http::Request& r, const std::string& line) {
    http::log_error(r, core::LogLevel::kNotice, "%s", line.c_str());
}

void log_match(const http::Request& r, const http::Regex& re, std::string_view subject,
               bool matched) {
    notice(r, "\"" + re.pattern() + (matched ? "\" matches \"" : "\" does not match \"") +
                  std::string(subject) + "\"");
}

bool test_file(const http::Request& r, Condition::FileTest test, const std::string& path) {
    struct stat st;
    if (stat(path.c_str(), &st) != 0) {
        int e = errno;
        if (e != ENOENT && e != ENOTDIR && e != ENAMETOOLONG) {
            http::log_error(r, core::LogLevel::kCrit, "stat() \"%s\" failed (%d: %s)", path.c_str(),
                            e, strerror(e));
        }
        return false;
    }
    switch (test) {
        case Condition::FileTest::kFile:
            return S_ISREG(st.st_mode);
        case Condition::FileTest::kDir:
            return S_ISDIR(st.st_mode);
        case Condition::FileTest::kExists:
            return S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode);
        case Condition::FileTest::kExec:
            return (st.st_mode & S_IXUSR) != 0;
    }
    return false;
}

}  // namespace

std::string escape_args(std::string_view s) {
    return http::escape_bytes(s, "%", [](unsigned char c) {
        return c <= 0x20 || c >= 0x7f || c == '#' || c == '%' || c == '&' || c == '+' || c == ';' ||
               c == '?';
    });
}

std::string unescape_redirect(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size() && s[i] != '?') {
        if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
            hex_value(s[i + 2]) >= 0) {
            int c = hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]);
            if (c > '%' && c < 0x7f) {
                out += static_cast<char>(c);
            } else {
                out.append(s.substr(i, 3));
            }
            i += 3;
            continue;
        }
        out += s[i++];
    }
    out.append(s.substr(i));
    return out;
}

bool is_true(std::string_view v) {
    return !v.empty() && v != "0";
}

Outcome Script::run(http::Request& r, RunState& state) const {
    for (const auto& step : steps_) {
        Outcome o = step->run(r, state);
        if (o != Outcome::kContinue) {
            return o;
        }
    }
    return Outcome::kContinue;
}

Outcome RewriteStep::run(http::Request& r, RunState& state) const {
    std::vector<std::string_view> groups;
    bool matched = regex.match(r.uri, &groups);
    if (state.log) {
        log_match(r, regex, r.uri, matched);
    }
    if (!matched) {
        r.captures.clear();
        return Outcome::kContinue;
    }
    r.captures.assign(groups.begin(), groups.end());  // copies: r.uri changes below
    auto escape = uri_was_escaped(r) ? &escape_args : nullptr;

    if (status != 0) {
        std::string target;
        uri.eval_captures_escaped(r, target, escape);
        target = unescape_redirect(target);
        if (add_args && !r.args.empty()) {
            target += has_args ? '&' : '?';
            target.append(r.args);
        }
        if (state.log) {
            notice(r, "rewritten redirect: \"" + target + "\"");
        }
        r.send_error(status, target);
        return Outcome::kDone;
    }

    std::string new_uri;
    uri.eval(r, new_uri);
    if (has_args) {
        std::string new_args;
        args.eval_captures_escaped(r, new_args, escape);
        if (add_args && !r.args.empty()) {
            new_args += '&';
            new_args.append(r.args);
        }
        r.args_storage = std::move(new_args);
        r.args = r.args_storage;
    } else if (!add_args) {
        r.args_storage.clear();
        r.args = r.args_storage;
    }
    if (state.log) {
        notice(r, "rewritten data: \"" + new_uri + "\", args: \"" + std::string(r.args) + "\"");
    }
    if (new_uri.empty()) {
        http::log_error(r, core::LogLevel::kError, "the rewritten URI has a zero length");
        r.send_error(500);
        return Outcome::kDone;
    }
    r.uri = std::move(new_uri);
    r.uri_changed = true;
    switch (flag) {
        case Flag::kBreak:
            state.uri_changed = false;  // stays in this location
            return Outcome::kStop;
        case Flag::kLast:
            state.uri_changed = true;
            return Outcome::kStop;
        default:
            state.uri_changed = true;
            return Outcome::kContinue;
    }
}

Outcome ReturnStep::run(http::Request& r, RunState&) const {
    if (code == 444) {
        r.abort();  // nginx: close the connection without a response
        return Outcome::kDone;
    }
    r.status = code;  // $status in the text, as nginx sets it first
    if (is_redirect(code)) {
        r.send_error(code, text.eval(r));
    } else if (has_text || code < 400) {
        // nginx: the default type and the text (empty without one); a 204 loses both.
        r.send(code, http::content_type_of(r), has_text ? text.eval(r) : std::string());
    } else {
        r.send_error(code);  // error_page applies
    }
    return Outcome::kDone;
}

Outcome BreakStep::run(http::Request&, RunState& state) const {
    state.uri_changed = false;  // a rewritten URI is served by this location
    return Outcome::kStop;
}

Outcome SetStep::run(http::Request& r, RunState&) const {
    std::string v;
    value.eval(r, v);
    http::set_variable(r, *var, std::move(v));
    return Outcome::kContinue;
}

bool Condition::eval(http::Request& r, const RunState& state) const {
    std::string value;
    subject.eval(r, value);
    switch (kind) {
        case Kind::kValue:
            return is_true(value);
        case Kind::kEqual:
            return value == operand.eval(r);
        case Kind::kNotEqual:
            return value != operand.eval(r);
        case Kind::kRegex: {
            std::vector<std::string_view> groups;
            bool matched = regex.match(value, &groups);
            if (state.log) {
                log_match(r, regex, value, matched);
            }
            if (matched) {
                r.captures.assign(groups.begin(), groups.end());
            } else {
                r.captures.clear();
            }
            return matched != negate;
        }
        case Kind::kFile:
            return test_file(r, file_test, value) != negate;
    }
    return false;
}

Outcome IfStep::run(http::Request& r, RunState& state) const {
    if (!condition.eval(r, state)) {
        return Outcome::kContinue;
    }
    if (confs != nullptr) {
        r.loc_confs = confs;  // nginx: the `if` location's confs from here on
    }
    return body.run(r, state);
}

}  // namespace mod::http_rewrite
