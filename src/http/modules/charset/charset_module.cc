// The charset filter (nginx's ngx_http_charset_filter_module): adds `; charset=name` to the
// Content-Type of responses whose type is in charset_types, as nginx decides it (an existing
// charset kept unless override_charset, source_charset, unknown names, 301/302 without it).
// halo does not recode bodies: `charset_map` blocks are read and checked as nginx checks them,
// a configuration that asks for recoding between two charsets with a map is refused, and a
// response that would need it at run time is sent unchanged with nginx's error line.
//
//   charset utf-8;  charset_types text/css application/json;  source_charset utf-8;
#include <strings.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/log.h"
#include "core/module.h"
#include "http/http.h"

namespace mod::http_charset {
namespace {

using core::ConfContext;
using core::Status;

/// The names every `charset`, `source_charset` and `charset_map` mentions (nginx's charset
/// table: a name outside it is "unknown"), and the maps between them.
struct CharsetMainConf : core::ConfBase {
    std::vector<std::string> names;
    struct Map {
        size_t src;
        size_t dst;
    };
    std::vector<Map> maps;
};

/// `charset name|off|$var` or `source_charset name|$var`.
struct CharsetValue {
    bool off = false;
    std::string name;
    std::shared_ptr<http::ComplexValue> var;
    std::string where;
};

struct CharsetLocConf : core::ConfBase {
    std::optional<CharsetValue> charset;              // off
    std::optional<CharsetValue> source_charset;       // off
    std::optional<bool> override_charset;             // off
    std::shared_ptr<std::vector<std::string>> types;  // text/html + the defaults; "*": any
    const CharsetMainConf* main = nullptr;            // set in postconfiguration
};

const std::vector<std::string>& default_types() {
    static const std::vector<std::string> kTypes = {"text/html",
                                                    "text/xml",
                                                    "text/plain",
                                                    "text/vnd.wap.wml",
                                                    "application/javascript",
                                                    "application/rss+xml"};
    return kTypes;
}

Status merge(const CharsetLocConf& parent, CharsetLocConf& child) {
    if (!child.charset) {
        child.charset = parent.charset.value_or(CharsetValue{.off = true});
    }
    if (!child.source_charset) {
        child.source_charset = parent.source_charset.value_or(CharsetValue{.off = true});
    }
    core::inherit(child.override_charset, parent.override_charset, false);
    if (!child.types) {
        child.types = parent.types ? parent.types
                                   : std::make_shared<std::vector<std::string>>(default_types());
    }
    return Status::ok();
}

size_t add_name(CharsetMainConf& main, std::string_view name) {
    for (size_t i = 0; i < main.names.size(); i++) {
        if (main.names[i].size() == name.size() &&
            strncasecmp(main.names[i].data(), name.data(), name.size()) == 0) {
            return i;
        }
    }
    main.names.emplace_back(name);
    return main.names.size() - 1;
}

CharsetMainConf* main_conf(ConfContext& cf) {
    core::ConfVector* v = cf.confs(core::ConfLevel::kHttpMain);
    return v == nullptr ? nullptr : &core::conf_of<CharsetMainConf>(*v);
}

Status set_value(ConfContext& cf, std::optional<CharsetValue>& out, bool may_be_off) {
    if (out) {
        return cf.duplicate();
    }
    CharsetValue v;
    v.where = cf.node().where();
    const std::string& a = cf.arg(0);
    if (may_be_off && a == "off") {
        v.off = true;
    } else if (!a.empty() && a[0] == '$') {
        v.var = std::make_shared<http::ComplexValue>();
        HALO_TRY(http::ComplexValue::parse(a, cf.node().where(), *v.var));
        http::register_complex_value(cf.cycle(), v.var.get());
    } else {
        v.name = a;
        if (CharsetMainConf* m = main_conf(cf)) {
            add_name(*m, a);
        }
    }
    out = std::move(v);
    return Status::ok();
}

Status set_charset(ConfContext& cf, CharsetLocConf& c) {
    return set_value(cf, c.charset, true);
}

Status set_source_charset(ConfContext& cf, CharsetLocConf& c) {
    return set_value(cf, c.source_charset, false);
}

Status set_types(ConfContext& cf, CharsetLocConf& c) {
    if (c.types && !c.types->empty() && c.types->front() == "*") {
        return Status::ok();  // nginx: once "*", later words change nothing
    }
    if (!c.types) {
        c.types = std::make_shared<std::vector<std::string>>(1, "text/html");
    }
    for (std::string t : cf.args()) {
        if (t == "*") {
            c.types = std::make_shared<std::vector<std::string>>(1, "*");
            return Status::ok();
        }
        std::transform(t.begin(), t.end(), t.begin(),
                       [](unsigned char ch) { return static_cast<char>(tolower(ch)); });
        if (std::find(c.types->begin(), c.types->end(), t) == c.types->end()) {
            c.types->push_back(std::move(t));
        }
    }
    return Status::ok();
}

std::optional<unsigned> hex_value(std::string_view s, size_t max_digits) {
    if (s.empty() || s.size() > max_digits || s.size() % 2 != 0 && s.size() != 1) {
        return std::nullopt;
    }
    unsigned v = 0;
    for (char ch : s) {
        int d = isdigit(static_cast<unsigned char>(ch)) ? ch - '0'
                : (ch >= 'a' && ch <= 'f')              ? ch - 'a' + 10
                : (ch >= 'A' && ch <= 'F')              ? ch - 'A' + 10
                                                        : -1;
        if (d < 0) {
            return std::nullopt;
        }
        v = v * 16 + static_cast<unsigned>(d);
    }
    return v;
}

/// `charset_map src dst { XX YY; ... }`: byte codes in hex; to utf-8, YY is the UTF-8 bytes.
Status set_charset_map(ConfContext& cf, CharsetMainConf& main) {
    bool to_utf8 = strcasecmp(cf.arg(1).c_str(), "utf-8") == 0;
    for (const core::ConfNode& n : cf.node().children) {
        if (n.block || n.args.size() != 2) {
            return Status::error("invalid parameters number in " + n.where());
        }
        if (!hex_value(n.args[0], 2)) {
            return Status::error("invalid value \"" + n.args[0] + "\" in " + n.where());
        }
        if (!hex_value(n.args[1], to_utf8 ? 6 : 2)) {
            return Status::error("invalid value \"" + n.args[1] + "\" in " + n.where());
        }
    }
    size_t src = add_name(main, cf.arg(0));
    size_t dst = add_name(main, cf.arg(1));
    main.maps.push_back({src, dst});
    return Status::ok();
}

constexpr uint32_t kHttpAllIf = core::kCtxHttpAll | core::kCtxLocationIf;

constexpr core::Directive kDirectives[] = {
    {"charset", kHttpAllIf, core::kArgs1, core::setter<&set_charset>()},
    {"source_charset", kHttpAllIf, core::kArgs1, core::setter<&set_source_charset>()},
    {"override_charset", kHttpAllIf, core::kArgs1, core::slot<&CharsetLocConf::override_charset>()},
    {"charset_types", core::kCtxHttpAll, core::kArgs1ToN, core::setter<&set_types>()},
    {"charset_map", core::kCtxHttp, core::Args{2, 2, true}, core::setter<&set_charset_map>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<CharsetMainConf>(core::ConfLevel::kHttpMain),
    core::conf_hooks<CharsetLocConf>(core::ConfLevel::kHttpLoc),
};

// ---- runtime ----

/// nginx's view of a Content-Type: the part its type tests see and the charset parameter.
struct TypeParts {
    std::string_view type;  // before "; charset=" (the whole value when there is none)
    std::string_view charset;
    bool has_charset = false;
};

TypeParts split_type(std::string_view ct) {
    TypeParts p;
    p.type = ct;
    for (size_t semi = ct.find(';'); semi != std::string_view::npos;
         semi = ct.find(';', semi + 1)) {
        size_t i = semi + 1;
        while (i < ct.size() && ct[i] == ' ') {
            i++;
        }
        if (ct.size() - i < 8 || strncasecmp(ct.data() + i, "charset=", 8) != 0) {
            continue;
        }
        std::string_view cs = ct.substr(i + 8);
        if (!cs.empty() && cs.front() == '"') {
            cs.remove_prefix(1);
        }
        if (!cs.empty() && cs.back() == '"') {
            cs.remove_suffix(1);
        }
        p.type = ct.substr(0, semi);
        p.charset = cs;
        p.has_charset = true;
        break;
    }
    return p;
}

bool type_listed(const CharsetLocConf& c, std::string_view type) {
    for (const std::string& t : *c.types) {
        if (t == "*" ||
            (t.size() == type.size() && strncasecmp(t.data(), type.data(), type.size()) == 0)) {
            return true;
        }
    }
    return false;
}

/// Index of `name` in the charset table, -1 when unknown (nginx's NGX_HTTP_NO_CHARSET).
int index_of(const CharsetMainConf& m, std::string_view name) {
    for (size_t i = 0; i < m.names.size(); i++) {
        if (m.names[i].size() == name.size() &&
            strncasecmp(m.names[i].data(), name.data(), name.size()) == 0) {
            return static_cast<int>(i);
        }
    }
    return -1;
}

std::string value_of(const http::Request& r, const CharsetValue& v) {
    return v.var ? v.var->eval(r) : v.name;
}

/// nginx's ngx_http_set_charset and what its header filter writes: "type; charset=dst", but
/// no charset on a 301 or 302.
void apply(http::Request& r, const TypeParts& parts, std::string_view dst, bool strip) {
    if (parts.has_charset && !strip) {
        return;  // the value stays as it came
    }
    std::string type(parts.type);
    if (r.status != 301 && r.status != 302) {
        type += "; charset=";
        type += dst;
    }
    r.out.content_type = std::move(type);
}

void no_map(const http::Request& r, std::string_view src, std::string_view dst, bool mapped) {
    std::string s(src), d(dst);
    if (mapped) {
        core::log_conn(core::LogLevel::kError, r.connection_id,
                       "recoding from \"%s\" to \"%s\" is not supported by halo: the response "
                       "is sent unchanged",
                       s.c_str(), d.c_str());
        return;
    }
    core::log_conn(core::LogLevel::kError, r.connection_id,
                   "no \"charset_map\" between the charsets \"%s\" and \"%s\"", s.c_str(),
                   d.c_str());
}

void header_filter(http::Request& r) {
    const auto& c = r.loc_conf<CharsetLocConf>();
    if (r.out.content_type.empty() || c.charset->off || c.main == nullptr) {
        return;
    }
    TypeParts parts = split_type(r.out.content_type);
    if (parts.has_charset ? !*c.override_charset : !type_listed(c, parts.type)) {
        return;
    }
    const CharsetMainConf& m = *c.main;
    std::string dst = value_of(r, *c.charset);
    int dst_i = index_of(m, dst);
    std::string src;
    int src_i;
    if (parts.has_charset) {
        src = std::string(parts.charset);
        src_i = index_of(m, src);
    } else if (c.source_charset->off) {
        apply(r, parts, dst, false);
        return;
    } else {
        src = value_of(r, *c.source_charset);
        src_i = index_of(m, src);
    }
    if (dst_i < 0 || src_i < 0) {
        if (src_i != dst_i || src.size() < dst.size() ||
            strncasecmp(dst.data(), src.data(), dst.size()) != 0) {
            no_map(r, src, dst, false);
            return;
        }
        apply(r, parts, dst, false);
        return;
    }
    if (src_i == dst_i) {
        apply(r, parts, dst, true);
        return;
    }
    if (r.find_out_header("Content-Encoding") != nullptr) {
        return;
    }
    bool mapped = std::any_of(m.maps.begin(), m.maps.end(), [&](const CharsetMainConf::Map& mp) {
        return (mp.src == static_cast<size_t>(src_i) && mp.dst == static_cast<size_t>(dst_i)) ||
               (mp.dst == static_cast<size_t>(src_i) && mp.src == static_cast<size_t>(dst_i));
    });
    no_map(r, src, dst, mapped);
}

Status postconfiguration(core::Cycle& cycle) {
    http::HttpMainConf* main = http::http_main(cycle);
    if (main == nullptr) {
        return Status::ok();
    }
    const auto& m = core::conf_of<CharsetMainConf>(main->main_confs);
    Status result = Status::ok();
    http::for_each_location_confs(*main, [&](core::ConfVector& confs) {
        auto& c = core::conf_of<CharsetLocConf>(confs);
        c.main = &m;
        // Recoding through a charset_map is what halo cannot do: refuse it here.
        if (!result.is_ok() || c.charset->off || c.charset->var || c.source_charset->off ||
            c.source_charset->var) {
            return;
        }
        int s = index_of(m, c.source_charset->name);
        int d = index_of(m, c.charset->name);
        if (s == d) {
            return;
        }
        bool mapped = false;
        for (const auto& mp : m.maps) {
            mapped = mapped ||
                     (mp.src == static_cast<size_t>(s) && mp.dst == static_cast<size_t>(d)) ||
                     (mp.dst == static_cast<size_t>(s) && mp.src == static_cast<size_t>(d));
        }
        if (mapped) {
            result = Status::error("recoding from \"" + c.source_charset->name + "\" to \"" +
                                   c.charset->name +
                                   "\" is not supported by halo: halo adds the charset to "
                                   "Content-Type but does not recode bodies; serve the files in "
                                   "\"" +
                                   c.charset->name + "\" in " + c.charset->where);
        } else {
            // nginx refuses a pair it has no table for, at load.
            result = Status::error("no \"charset_map\" between the charsets \"" +
                                   c.source_charset->name + "\" and \"" + c.charset->name +
                                   "\" in " + c.charset->where);
        }
    });
    HALO_TRY(result);
    http::add_header_filter(cycle, &header_filter);
    return Status::ok();
}

}  // namespace

extern const core::Module kModule{
    .name = "http_charset",
    .type = core::ModuleType::kHttpFilter,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &postconfiguration,
};

}  // namespace mod::http_charset
