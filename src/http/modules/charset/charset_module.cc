// The charset filter (nginx's ngx_http_charset_filter_module): adds `; charset=name` to the
// Content-Type of responses whose type is in charset_types, as nginx decides it (an existing
// charset kept unless override_charset, source_charset, unknown names, 301/302 without it),
// and recodes the body through a `charset_map` table when the source charset differs: single
// byte to single byte in place (the length kept), to or from utf-8 streaming (the
// Content-Length removed). The tables and the recoder are in charset_recode.h.
//
//   charset utf-8;  charset_types text/css application/json;  source_charset koi8-r;
//   include /etc/nginx/koi-utf;   # charset_map koi8-r utf-8 { C0 D18E; ... }
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/log.h"
#include "core/module.h"
#include "http/error_log.h"
#include "http/http.h"
#include "http/modules/charset/charset_recode.h"

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
        std::shared_ptr<const CharsetMap> table;
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

/// nginx's ngx_hextoi: one or more hex digits; nullopt for anything else or above 0xffff.
std::optional<unsigned> hex_value(std::string_view s) {
    if (s.empty()) {
        return std::nullopt;
    }
    unsigned v = 0;
    for (char ch : s) {
        int d = isdigit(static_cast<unsigned char>(ch)) ? ch - '0'
                : (ch >= 'a' && ch <= 'f')              ? ch - 'a' + 10
                : (ch >= 'A' && ch <= 'F')              ? ch - 'A' + 10
                                                        : -1;
        if (d < 0 || v > 0xfff) {
            return std::nullopt;
        }
        v = v * 16 + static_cast<unsigned>(d);
    }
    return v;
}

/// One line of a `charset_map` block into `table` (nginx's rules: a byte is 1 hex number up
/// to FF; to utf-8, the UTF-8 bytes of one BMP character as 2, 4 or 6 hex digits).
Status map_line(const core::ConfNode& n, CharsetMap& table) {
    if (n.block || n.args.size() != 2) {
        return Status::error("invalid parameters number in " + n.where());
    }
    std::optional<unsigned> from = hex_value(n.args[0]);
    if (!from || *from > 0xff) {
        return Status::error("invalid value \"" + n.args[0] + "\" in " + n.where());
    }
    const std::string& v = n.args[1];
    if (!table.to_utf8()) {
        std::optional<unsigned> to = hex_value(v);
        if (!to || *to > 0xff) {
            return Status::error("invalid value \"" + v + "\" in " + n.where());
        }
        table.set_byte(static_cast<uint8_t>(*from), static_cast<uint8_t>(*to));
        return Status::ok();
    }
    std::vector<uint8_t> seq;
    bool ok = v.size() % 2 == 0 && v.size() / 2 <= 3;
    for (size_t i = 0; ok && i < v.size(); i += 2) {
        std::optional<unsigned> b = hex_value(std::string_view(v).substr(i, 2));
        ok = b.has_value();
        seq.push_back(static_cast<uint8_t>(b.value_or(0)));
    }
    if (!ok || !table.set_utf8(static_cast<uint8_t>(*from), seq)) {
        return Status::error("invalid value \"" + v + "\" in " + n.where());
    }
    return Status::ok();
}

bool is_utf8(std::string_view name) {
    return name.size() == 5 && strncasecmp(name.data(), "utf-8", 5) == 0;
}

/// `charset_map src dst { XX YY; ... }`: byte codes in hex; to utf-8, YY is the UTF-8 bytes.
Status set_charset_map(ConfContext& cf, CharsetMainConf& main) {
    const std::string& src_name = cf.arg(0);
    const std::string& dst_name = cf.arg(1);
    std::string where = cf.node().where();
    size_t src = add_name(main, src_name);
    size_t dst = add_name(main, dst_name);
    if (src == dst) {
        return Status::error("\"charset_map\" between the same charsets \"" + src_name +
                             "\" and \"" + dst_name + "\" in " + where);
    }
    for (const CharsetMainConf::Map& m : main.maps) {
        if ((m.src == src && m.dst == dst) || (m.src == dst && m.dst == src)) {
            return Status::error("duplicate \"charset_map\" between \"" + src_name + "\" and \"" +
                                 dst_name + "\" in " + where);
        }
    }
    if (is_utf8(src_name)) {
        // nginx reads the lines as single bytes and then uses the table as one from utf-8.
        return Status::error(
            "\"charset_map " + src_name + " " + dst_name +
            "\" is not supported by halo: write it as \"charset_map " + dst_name + " " + src_name +
            "\" with the UTF-8 bytes second (one map recodes both ways) in " + where);
    }
    auto table = std::make_shared<CharsetMap>(is_utf8(dst_name));
    for (const core::ConfNode& n : cf.node().children) {
        HALO_TRY(map_line(n, *table));
    }
    main.maps.push_back({src, dst, std::move(table)});
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

/// The charset a directive names: a variable's value, or the name as the charset table spells
/// it (nginx: as first written in the configuration, "utf-8" from a map before "UTF-8").
std::string value_of(const http::Request& r, const CharsetMainConf& m, const CharsetValue& v) {
    if (v.var) {
        return v.var->eval(r);
    }
    int i = index_of(m, v.name);
    return i < 0 ? v.name : m.names[static_cast<size_t>(i)];
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

void no_map(const http::Request& r, std::string_view src, std::string_view dst) {
    std::string s(src), d(dst);
    http::log_error(r, core::LogLevel::kError,
                    "no \"charset_map\" between the charsets \"%s\" and \"%s\"", s.c_str(),
                    d.c_str());
}

/// The table between charsets `src` and `dst` (indexes), and whether it is read forward.
const CharsetMainConf::Map* find_map(const CharsetMainConf& m, size_t src, size_t dst,
                                     bool& forward) {
    for (const CharsetMainConf::Map& mp : m.maps) {
        if (mp.src == src && mp.dst == dst) {
            forward = true;
            return &mp;
        }
        if (mp.src == dst && mp.dst == src) {
            forward = false;
            return &mp;
        }
    }
    return nullptr;
}

// ---- the body filter ----

/// A response being recoded. A file chunk (a static file) is read in pieces while the client
/// keeps up, as the gzip filter reads one.
struct RecodeCtx : http::RequestCtx {
    RecodeCtx(const CharsetMap& map, bool forward) : recoder(map, forward) {}
    ~RecodeCtx() override {
        if (fd >= 0) {
            ::close(fd);
        }
    }
    Recoder recoder;
    std::string out;
    size_t next = 0;  // our successor in the body filter chain
    int fd = -1;
    uint64_t offset = 0;
    uint64_t left = 0;
    bool file_last = false;
    bool whole_file = false;  // a range of a file asked for: nginx sends the whole file
};

/// Recodes `in` and passes it on. `r` may be gone after a `last` piece.
void pass(http::Request& r, RecodeCtx& rc, std::string_view in, bool last) {
    rc.out.clear();
    rc.recoder.recode(in, last, rc.out);
    if (rc.out.empty() && !last) {
        return;
    }
    http::BodyChunk c;
    c.data = rc.out;
    c.last = last;
    r.next_body(rc.next, c);
}

void continue_file(http::Request& r);

/// nginx reads a file for a filter in output_buffers pieces (32k).
constexpr size_t kFilePiece = 32768;

void pump_file(http::Request& r, RecodeCtx& rc) {
    char buf[kFilePiece];
    while (rc.left > 0) {
        if (r.output_blocked()) {
            r.filter_on_drained = &continue_file;
            return;
        }
        size_t want = static_cast<size_t>(std::min<uint64_t>(rc.left, sizeof(buf)));
        ssize_t n = ::pread(rc.fd, buf, want, static_cast<off_t>(rc.offset));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            http::log_error(r, core::LogLevel::kCrit, "reading a file to recode failed (%d: %s)",
                            n < 0 ? errno : 0, n < 0 ? strerror(errno) : "file truncated");
            r.abort();
            return;
        }
        rc.offset += static_cast<uint64_t>(n);
        rc.left -= static_cast<uint64_t>(n);
        bool last = rc.left == 0 && rc.file_last;
        if (last) {
            ::close(rc.fd);
            rc.fd = -1;
        }
        pass(r, rc, std::string_view(buf, static_cast<size_t>(n)), last);
        if (last) {
            return;
        }
    }
    ::close(rc.fd);
    rc.fd = -1;
    if (rc.file_last) {
        pass(r, rc, {}, true);  // an empty file
    }
}

void continue_file(http::Request& r) {
    if (RecodeCtx* rc = r.ctx<RecodeCtx>()) {
        pump_file(r, *rc);
    }
}

void body_filter(http::Request& r, const http::BodyChunk& c, size_t next) {
    RecodeCtx& rc = *r.ctx<RecodeCtx>();
    rc.next = next;
    if (c.is_file()) {
        rc.fd = c.fd;
        rc.offset = c.offset;
        rc.left = c.length;
        struct stat st;
        if (rc.whole_file && ::fstat(c.fd, &st) == 0) {
            rc.offset = 0;
            rc.left = static_cast<uint64_t>(st.st_size);
        }
        rc.file_last = c.last;
        pump_file(r, rc);
        return;
    }
    pass(r, rc, c.data, c.last);
}

// ---- the header filter ----

void header_filter(http::Request& r) {
    const auto& c = r.loc_conf<CharsetLocConf>();
    if (r.out.content_type.empty() || c.main == nullptr) {
        return;
    }
    const CharsetMainConf& m = *c.main;
    TypeParts parts = split_type(r.out.content_type);
    std::string dst;
    int dst_i;
    if (!r.out.override_charset.empty()) {
        // An upstream's X-Accel-Charset: nginx recodes to it whatever `charset` says.
        dst = r.out.override_charset;
        dst_i = index_of(m, dst);
        if (dst_i < 0) {
            http::log_error(r, core::LogLevel::kError, "unknown charset \"%s\" to override",
                            dst.c_str());
            return;
        }
    } else {
        if (c.charset->off ||
            (parts.has_charset ? !*c.override_charset : !type_listed(c, parts.type))) {
            return;
        }
        dst = value_of(r, m, *c.charset);
        dst_i = index_of(m, dst);
    }
    std::string src;
    int src_i;
    if (parts.has_charset) {
        src = std::string(parts.charset);
        src_i = index_of(m, src);
    } else if (c.source_charset->off) {
        apply(r, parts, dst, false);
        return;
    } else {
        src = value_of(r, m, *c.source_charset);
        src_i = index_of(m, src);
    }
    if (dst_i < 0 || src_i < 0) {
        if (src_i != dst_i || src.size() < dst.size() ||
            strncasecmp(dst.data(), src.data(), dst.size()) != 0) {
            no_map(r, src, dst);
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
        return;  // nginx recodes no compressed body (and leaves the type alone)
    }
    bool forward = true;
    const CharsetMainConf::Map* map =
        find_map(m, static_cast<size_t>(src_i), static_cast<size_t>(dst_i), forward);
    if (map == nullptr) {
        no_map(r, src, dst);
        return;
    }
    apply(r, parts, dst, true);
    RecodeCtx& rc = r.make_ctx<RecodeCtx>(*map->table, forward);
    if (rc.recoder.changes_length()) {
        // nginx clears the length: its range filter then serves no range and adds no
        // Accept-Ranges (the one halo's static handler added goes; an upstream's stays).
        r.out.content_length.reset();
        const auto* up = r.ctx<http::UpstreamLog>();
        if (up == nullptr || up->attempts.empty()) {
            r.remove_out_header("Accept-Ranges");
            if (r.status == 206) {
                // The static handler's range: nginx's range filter, seeing no length, leaves
                // the request whole (an upstream's 206 is recoded as it came).
                r.status = 200;
                r.remove_out_header("Content-Range");
                rc.whole_file = true;
            }
        }
    }
    r.add_body_filter(&body_filter);
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
        // nginx refuses at load a pair of named charsets it has no table for.
        if (!result.is_ok() || c.charset->off || c.charset->var || c.source_charset->off ||
            c.source_charset->var) {
            return;
        }
        int s = index_of(m, c.source_charset->name);
        int d = index_of(m, c.charset->name);
        bool forward = true;
        if (s == d || find_map(m, static_cast<size_t>(s), static_cast<size_t>(d), forward)) {
            return;
        }
        result =
            Status::error("no \"charset_map\" between the charsets \"" + c.source_charset->name +
                          "\" and \"" + c.charset->name + "\" in " + c.charset->where);
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
