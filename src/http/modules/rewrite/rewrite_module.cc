// The rewrite module: rewrite, return, break, if, set, rewrite_log and
// uninitialized_variable_warn, as nginx's. The directives of a server or a location form one
// script (script.h), run in order: the server's in the server_rewrite phase, the location's in
// the rewrite phase. A location `if` gets a nameless location whose confs the request uses
// when the condition holds.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/log.h"
#include "core/module.h"
#include "core/named.h"
#include "http/error_log.h"
#include "http/http.h"
#include "http/modules/rewrite/script.h"

namespace mod::http_rewrite {
namespace {

using core::ConfContext;
using core::Status;

struct RewriteLocConf : core::ConfBase {
    Script script;                                    // not inherited (nginx)
    std::optional<bool> log;                          // rewrite_log (off)
    std::optional<bool> uninitialized_variable_warn;  // (on)
};

Status merge(const RewriteLocConf& parent, RewriteLocConf& child) {
    core::inherit(child.log, parent.log, false);
    core::inherit(child.uninitialized_variable_warn, parent.uninitialized_variable_warn, true);
    return Status::ok();
}

/// What a variable that is only `set` somewhere reads as before it is set in this request:
/// empty, with nginx's warning unless uninitialized_variable_warn is off.
class Uninitialized : public http::VariableSource {
  public:
    bool get(const http::Request& r, const http::ConfVariable& var, std::string&) const override {
        if (r.loc_confs != nullptr && *r.loc_conf<RewriteLocConf>().uninitialized_variable_warn) {
            http::log_error(r, core::LogLevel::kWarn, "using uninitialized \"%s\" variable",
                            var.name.c_str());
        }
        return true;
    }
};
const Uninitialized kUninitialized;

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

bool is_url(std::string_view s) {
    return starts_with(s, "http://") || starts_with(s, "https://") || starts_with(s, "$scheme");
}

Status parse_value(ConfContext& cf, std::string_view text, http::ComplexValue& out) {
    HALO_TRY(http::ComplexValue::parse(text, cf.node().where(), out));
    http::register_complex_value(cf.cycle(), &out);
    return Status::ok();
}

Status compile(ConfContext& cf, std::string_view pattern, bool caseless, http::Regex& out) {
    Status s = http::Regex::compile(pattern, caseless, out);
    return s.is_ok() ? s : cf.error(s.message());
}

// ---- directives ----

Status set_rewrite(ConfContext& cf, RewriteLocConf& conf) {
    auto step = std::make_unique<RewriteStep>();
    std::string replacement = cf.arg(1);
    if (replacement.empty()) {
        return cf.error("empty replacement");
    }
    HALO_TRY(compile(cf, cf.arg(0), false, step->regex));
    if (replacement.back() == '?') {
        replacement.pop_back();  // the last '?' drops the original arguments
        step->add_args = false;
    }
    if (is_url(replacement)) {
        step->status = 302;
    }
    if (cf.args().size() == 3) {
        const std::string& flag = cf.arg(2);
        if (flag == "last") {
            step->flag = RewriteStep::Flag::kLast;
        } else if (flag == "break") {
            step->flag = RewriteStep::Flag::kBreak;
        } else if (flag == "redirect") {
            step->flag = RewriteStep::Flag::kRedirect;
            step->status = 302;
        } else if (flag == "permanent") {
            step->flag = RewriteStep::Flag::kPermanent;
            step->status = 301;
        } else {
            return cf.error("invalid parameter \"" + flag + "\"");
        }
    }
    size_t q = replacement.find('?');
    step->has_args = q != std::string::npos;
    if (step->status != 0 || !step->has_args) {
        HALO_TRY(parse_value(cf, replacement, step->uri));
    } else {
        HALO_TRY(parse_value(cf, std::string_view(replacement).substr(0, q), step->uri));
        HALO_TRY(parse_value(cf, std::string_view(replacement).substr(q + 1), step->args));
    }
    conf.script.add(std::move(step));
    return Status::ok();
}

Status set_return(ConfContext& cf, RewriteLocConf& conf) {
    auto step = std::make_unique<ReturnStep>();
    const std::string& first = cf.arg(0);
    auto code = core::parse_int(first);
    if (!code) {
        if (cf.args().size() != 1 || !is_url(first)) {
            return cf.error("invalid return code \"" + first + "\"");
        }
        step->code = 302;
        step->has_text = true;
        HALO_TRY(parse_value(cf, first, step->text));
    } else {
        if (*code > 999) {
            return cf.error("invalid return code \"" + first + "\"");
        }
        step->code = static_cast<int>(*code);
        if (cf.args().size() == 2) {
            step->has_text = true;
            HALO_TRY(parse_value(cf, cf.arg(1), step->text));
        }
    }
    conf.script.add(std::move(step));
    return Status::ok();
}

Status set_break(ConfContext&, RewriteLocConf& conf) {
    conf.script.add(std::make_unique<BreakStep>());
    return Status::ok();
}

Status set_set(ConfContext& cf, RewriteLocConf& conf) {
    const std::string& name = cf.arg(0);
    if (name.size() < 2 || name[0] != '$') {
        return cf.error("invalid variable name \"" + name + "\"");
    }
    auto step = std::make_unique<SetStep>();
    http::ConfVariable* var =
        http::declare_variable(cf.cycle(), std::string_view(name).substr(1), cf.node().where());
    if (var == nullptr) {
        return cf.error("\"set\" directive is not allowed here");
    }
    if (var->fallback == nullptr) {
        var->fallback = &kUninitialized;
    }
    step->var = var;
    HALO_TRY(parse_value(cf, cf.arg(1), step->value));
    conf.script.add(std::move(step));
    return Status::ok();
}

bool is_variable_name(std::string_view s) {
    if (s.empty()) {
        return false;
    }
    for (char c : s) {
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_')) {
            return false;
        }
    }
    return true;
}

constexpr core::Named<Condition::FileTest> kFileTests[] = {{"-f", Condition::FileTest::kFile},
                                                           {"-d", Condition::FileTest::kDir},
                                                           {"-e", Condition::FileTest::kExists},
                                                           {"-x", Condition::FileTest::kExec}};

/// nginx's condition grammar: `($var)`, `($var = v)`, `($var != v)`, `($var ~ re)` (~* !~
/// !~*), `(-f path)` (-d -e -x, and negated !-f ...); the parentheses may stand apart.
Status parse_condition(ConfContext& cf, Condition& c) {
    std::vector<std::string> v(cf.args().begin(), cf.args().end());
    size_t cur = 0;
    size_t last = v.size() - 1;
    if (v[0].empty() || v[0][0] != '(') {
        return cf.error("invalid condition \"" + v[0] + "\"");
    }
    if (v[0].size() == 1) {
        cur = 1;
    } else {
        v[0].erase(0, 1);
    }
    if (v[last].empty() || v[last].back() != ')') {
        return cf.error("invalid condition \"" + v[last] + "\"");
    }
    if (v[last].size() == 1) {
        if (last == 0) {
            return cf.error("invalid condition \"" + v[0] + "\"");
        }
        last--;
    } else {
        v[last].pop_back();
    }
    if (cur > last || cur >= v.size()) {
        return cf.error("invalid condition \"" + v.back() + "\"");
    }
    const std::string& tok = v[cur];
    if (tok.size() > 1 && tok[0] == '$') {
        if (cur != last && cur + 2 != last) {
            return cf.error("invalid condition \"" + tok + "\"");
        }
        if (!is_variable_name(std::string_view(tok).substr(1))) {
            return cf.error("unknown \"" + tok.substr(1) + "\" variable");
        }
        HALO_TRY(parse_value(cf, tok, c.subject));
        if (cur == last) {
            c.kind = Condition::Kind::kValue;
            return Status::ok();
        }
        const std::string& op = v[cur + 1];
        if (op == "=" || op == "!=") {
            c.kind = op == "=" ? Condition::Kind::kEqual : Condition::Kind::kNotEqual;
            return parse_value(cf, v[last], c.operand);
        }
        if (op == "~" || op == "~*" || op == "!~" || op == "!~*") {
            c.kind = Condition::Kind::kRegex;
            c.negate = op[0] == '!';
            return compile(cf, v[last], op.back() == '*', c.regex);
        }
        return cf.error("unexpected \"" + op + "\" in condition");
    }
    if ((tok.size() == 2 && tok[0] == '-') || (tok.size() == 3 && tok[0] == '!' && tok[1] == '-')) {
        c.negate = tok[0] == '!';
        auto test = core::value_of<Condition::FileTest>(kFileTests, tok.substr(c.negate ? 1 : 0));
        if (cur + 1 != last || !test) {
            return cf.error("invalid condition \"" + tok + "\"");
        }
        c.kind = Condition::Kind::kFile;
        c.file_test = *test;
        return parse_value(cf, v[last], c.subject);
    }
    return cf.error("invalid condition \"" + tok + "\"");
}

Status set_if(ConfContext& cf, RewriteLocConf& conf) {
    auto step = std::make_unique<IfStep>();
    HALO_TRY(parse_condition(cf, step->condition));
    bool in_location = (cf.context() & core::kCtxLocation) != 0;
    // In a server, the block only holds rewrite directives: their confs are thrown away once
    // the steps are taken (nginx gives that block confs no request uses either).
    core::ConfVector server_if_confs;
    core::ConfVector* confs = nullptr;
    if (in_location) {
        http::LocationBlock* loc = http::add_if_location(cf);
        if (loc == nullptr) {
            return cf.error("\"if\" directive is not allowed here");
        }
        confs = &loc->loc_confs;
        step->confs = confs;
    } else {
        server_if_confs = cf.create_confs(core::ConfLevel::kHttpLoc);
        confs = &server_if_confs;
    }
    ConfContext::Frame frame{core::ConfLevel::kHttpLoc, confs};
    HALO_TRY(cf.apply_block(cf.node().children,
                            in_location ? core::kCtxLocationIf : core::kCtxServerIf,
                            std::span(&frame, 1)));
    // The block's directives belong to the enclosing script (nginx compiles them inline).
    step->body = std::exchange(core::conf_of<RewriteLocConf>(*confs).script, Script());
    conf.script.add(std::move(step));
    return Status::ok();
}

constexpr uint32_t kScript =
    core::kCtxServer | core::kCtxServerIf | core::kCtxLocation | core::kCtxLocationIf;

constexpr core::Directive kDirectives[] = {
    {"rewrite", kScript, core::Args{2, 3, false}, core::setter<&set_rewrite>()},
    {"return", kScript, core::kArgs1To2, core::setter<&set_return>()},
    {"break", kScript, core::kArgs0, core::setter<&set_break>()},
    {"if", core::kCtxServer | core::kCtxLocation, core::Args{1, 255, true},
     core::setter<&set_if>()},
    {"set", kScript, core::kArgs2, core::setter<&set_set>()},
    {"rewrite_log", core::kCtxHttp | kScript, core::kArgs1, core::slot<&RewriteLocConf::log>()},
    {"uninitialized_variable_warn", core::kCtxHttp | kScript, core::kArgs1,
     core::slot<&RewriteLocConf::uninitialized_variable_warn>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<RewriteLocConf>(core::ConfLevel::kHttpLoc),
};

// ---- phase handlers ----

http::Flow run(http::Request& r, const RewriteLocConf& conf, bool location) {
    RunState state;
    state.log = *conf.log;
    if (conf.script.run(r, state) == Outcome::kDone) {
        return http::Flow::kDone;
    }
    // nginx's post_rewrite: a URI changed in a location is matched again (the server level
    // needs nothing: find_config comes next).
    if (location && state.uri_changed) {
        return r.restart_location_search();
    }
    return http::Flow::kDeclined;
}

http::Flow server_rewrite(http::Request& r) {
    const auto& conf = core::conf_of<RewriteLocConf>(r.server->loc_confs);
    return conf.script.empty() ? http::Flow::kDeclined : run(r, conf, false);
}

http::Flow rewrite(http::Request& r) {
    if (r.loc_confs == &r.server->loc_confs) {
        return http::Flow::kDeclined;  // no location matched: the server's script ran already
    }
    const auto& conf = r.loc_conf<RewriteLocConf>();
    return conf.script.empty() ? http::Flow::kDeclined : run(r, conf, true);
}

constexpr http::PhaseHandlerEntry kPhaseHandlers[] = {
    {http::Phase::kServerRewrite, &server_rewrite},
    {http::Phase::kRewrite, &rewrite},
};

}  // namespace

extern const core::Module kModule{
    .name = "http_rewrite",
    .type = core::ModuleType::kHttp,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &http::register_phase_handlers<kPhaseHandlers>,
};

}  // namespace mod::http_rewrite
