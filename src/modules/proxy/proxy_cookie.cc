// proxy_cookie_domain, proxy_cookie_path and proxy_cookie_flags: the Set-Cookie fields of an
// upstream response rewritten as nginx does. A domain rule matches the whole domain attribute
// (case-insensitively, a leading dot aside), a path rule a prefix of the path attribute; a
// regex (`~`, `~*`; always caseless for domains) matches the whole value and its captures go
// into the replacement. The first rule that matches applies. Flag rules add or remove the
// Secure, HttpOnly and SameSite attributes of the cookies they name.

#include <strings.h>

#include <deque>
#include <string>

#include "core/module.h"
#include "http/parse.h"
#include "modules/proxy/proxy.h"

namespace mod::proxy {

using core::ConfContext;
using core::Status;

namespace {

/// Shared by the domain and path setters. `domain`: regexes are caseless, a leading dot of a
/// text pattern is dropped.
Status set_cookie_rewrite(ConfContext& cf, std::shared_ptr<std::deque<CookieRewrite>>& rules,
                          bool domain) {
    if (cf.args().size() == 1) {
        if (cf.arg(0) != "off") {
            return cf.invalid_value(cf.arg(0));
        }
        if (rules) {
            return cf.duplicate();
        }
        rules = std::make_shared<std::deque<CookieRewrite>>();  // empty: off
        return Status::ok();
    }
    if (rules && rules->empty()) {
        return cf.duplicate();  // after `off`
    }
    if (!rules) {
        rules = std::make_shared<std::deque<CookieRewrite>>();
    }
    CookieRewrite rw;
    std::string pattern = cf.arg(0);
    if (!pattern.empty() && pattern[0] == '~') {
        bool caseless = domain;
        pattern.erase(0, 1);
        if (!pattern.empty() && pattern[0] == '*') {
            caseless = true;
            pattern.erase(0, 1);
        }
        rw.regex = std::make_shared<http::Regex>();
        Status s = http::Regex::compile(pattern, caseless, *rw.regex);
        if (!s.is_ok()) {
            return cf.error(s.message());
        }
    } else {
        if (domain && !pattern.empty() && pattern[0] == '.') {
            pattern.erase(0, 1);
        }
        HALO_TRY(http::ComplexValue::parse(pattern, cf.node().where(), rw.pattern));
    }
    HALO_TRY(http::ComplexValue::parse(cf.arg(1), cf.node().where(), rw.replacement));
    rules->push_back(std::move(rw));
    http::register_complex_value(cf.cycle(), &rules->back().pattern);
    http::register_complex_value(cf.cycle(), &rules->back().replacement);
    return Status::ok();
}

/// Applies the first matching rule to the attribute value `v`; true when one matched.
bool rewrite_value(const http::Request& r, const std::deque<CookieRewrite>& rules, bool domain,
                   std::string& v) {
    for (const CookieRewrite& rw : rules) {
        if (rw.regex) {
            std::vector<std::string_view> caps;
            if (!rw.regex->match(v, &caps)) {
                continue;
            }
            r.captures.assign(caps.begin(), caps.end());
            v = rw.replacement.eval(r);
            return true;
        }
        std::string pattern = rw.pattern.eval(r);
        size_t skip = domain && !v.empty() && v[0] == '.' ? 1 : 0;
        std::string_view rest = std::string_view(v).substr(skip);
        bool match =
            domain ? http::iequals(rest, pattern) : rest.substr(0, pattern.size()) == pattern;
        if (!match) {
            continue;
        }
        v = v.substr(0, skip) + rw.replacement.eval(r) + std::string(rest.substr(pattern.size()));
        return true;
    }
    return false;
}

/// The attribute `attrs[i]` is `name=...`: its value rewritten by `rules`.
void rewrite_attribute(const http::Request& r, const std::deque<CookieRewrite>& rules,
                       std::string_view name, bool domain, std::vector<std::string>& attrs) {
    for (size_t i = 1; i < attrs.size(); i++) {
        std::string& a = attrs[i];
        if (a.size() > name.size() && a[name.size()] == '=' &&
            strncasecmp(a.data(), name.data(), name.size()) == 0) {
            std::string v = a.substr(name.size() + 1);
            if (rewrite_value(r, rules, domain, v)) {
                a.replace(name.size() + 1, std::string::npos, v);
            }
            return;
        }
    }
}

std::string_view key_of(std::string_view attr) {
    return http::trim_ows(attr.substr(0, attr.find('=')));
}

void apply_flags(const http::Request& r, const std::deque<CookieFlags>& rules,
                 std::vector<std::string>& attrs) {
    std::string name(key_of(attrs[0]));
    const CookieFlags* rule = nullptr;
    for (const CookieFlags& f : rules) {
        if (f.regex ? f.regex->match(name) : f.name.eval(r) == name) {
            rule = &f;
            break;
        }
    }
    if (rule == nullptr) {
        return;
    }
    bool has_secure = false;
    bool has_httponly = false;
    bool has_samesite = false;
    std::vector<std::string> out{attrs[0]};
    for (size_t i = 1; i < attrs.size(); i++) {
        std::string_view key = key_of(attrs[i]);
        if (http::iequals(key, "secure")) {
            has_secure = true;
            if (rule->secure < 0) {
                continue;
            }
        } else if (http::iequals(key, "httponly")) {
            has_httponly = true;
            if (rule->httponly < 0) {
                continue;
            }
        } else if (http::iequals(key, "samesite")) {
            has_samesite = true;
            if (rule->samesite < 0) {
                continue;
            }
            if (rule->samesite > 0) {
                out.push_back("SameSite=" + rule->samesite_value);
                continue;
            }
        }
        out.push_back(attrs[i]);
    }
    if (rule->secure > 0 && !has_secure) {
        out.push_back("Secure");
    }
    if (rule->httponly > 0 && !has_httponly) {
        out.push_back("HttpOnly");
    }
    if (rule->samesite > 0 && !has_samesite) {
        out.push_back("SameSite=" + rule->samesite_value);
    }
    attrs = std::move(out);
}

}  // namespace

Status set_cookie_domain(ConfContext& cf, ProxyLocConf& conf) {
    return set_cookie_rewrite(cf, conf.cookie_domains, true);
}

Status set_cookie_path(ConfContext& cf, ProxyLocConf& conf) {
    return set_cookie_rewrite(cf, conf.cookie_paths, false);
}

Status set_cookie_flags(ConfContext& cf, ProxyLocConf& conf) {
    if (cf.args().size() == 1 && cf.arg(0) == "off") {
        if (conf.cookie_flags) {
            return cf.duplicate();
        }
        conf.cookie_flags = std::make_shared<std::deque<CookieFlags>>();
        return Status::ok();
    }
    if (conf.cookie_flags && conf.cookie_flags->empty()) {
        return cf.duplicate();
    }
    if (cf.args().size() == 1) {
        return cf.error("invalid number of arguments in \"proxy_cookie_flags\" directive");
    }
    if (!conf.cookie_flags) {
        conf.cookie_flags = std::make_shared<std::deque<CookieFlags>>();
    }
    CookieFlags f;
    std::string name = cf.arg(0);
    if (!name.empty() && name[0] == '~') {
        f.regex = std::make_shared<http::Regex>();
        Status s = http::Regex::compile(std::string_view(name).substr(1), false, *f.regex);
        if (!s.is_ok()) {
            return cf.error(s.message());
        }
    } else {
        HALO_TRY(http::ComplexValue::parse(name, cf.node().where(), f.name));
    }
    for (size_t i = 1; i < cf.args().size(); i++) {
        std::string a = cf.arg(i);
        for (char& ch : a) {
            ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
        }
        if (a == "secure" || a == "nosecure") {
            f.secure = a == "secure" ? 1 : -1;
        } else if (a == "httponly" || a == "nohttponly") {
            f.httponly = a == "httponly" ? 1 : -1;
        } else if (a == "nosamesite") {
            f.samesite = -1;
        } else if (a == "samesite=strict" || a == "samesite=lax" || a == "samesite=none") {
            f.samesite = 1;
            f.samesite_value = a == "samesite=strict" ? "Strict"
                               : a == "samesite=lax"  ? "Lax"
                                                      : "None";
        } else {
            return cf.error("invalid parameter \"" + cf.arg(i) + "\"");
        }
    }
    conf.cookie_flags->push_back(std::move(f));
    http::register_complex_value(cf.cycle(), &conf.cookie_flags->back().name);
    return Status::ok();
}

std::string rewrite_set_cookie(const http::Request& r, const ProxyLocConf& c,
                               std::string_view value) {
    // As nginx: the cookie is taken apart at the semicolons and put together again with "; ".
    std::vector<std::string> attrs;
    while (true) {
        size_t semi = value.find(';');
        std::string_view a = http::trim_ows(value.substr(0, semi));
        if (!a.empty() || attrs.empty()) {
            attrs.emplace_back(a);
        }
        if (semi == std::string_view::npos) {
            break;
        }
        value.remove_prefix(semi + 1);
    }
    if (c.cookie_domains) {
        rewrite_attribute(r, *c.cookie_domains, "domain", true, attrs);
    }
    if (c.cookie_paths) {
        rewrite_attribute(r, *c.cookie_paths, "path", false, attrs);
    }
    if (c.cookie_flags && !c.cookie_flags->empty()) {
        apply_flags(r, *c.cookie_flags, attrs);
    }
    std::string out;
    for (const std::string& a : attrs) {
        if (!out.empty()) {
            out += "; ";
        }
        out += a;
    }
    return out;
}

}  // namespace mod::proxy
