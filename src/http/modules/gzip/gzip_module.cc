// The gzip filter (nginx's ngx_http_gzip_filter_module): compresses a response with zlib when
// the client accepts gzip and the response is eligible (status, type, length, proxying).
//
//   gzip on;  gzip_types text/css application/json;  gzip_min_length 1000;
//   gzip_comp_level 5;  gzip_vary on;  gzip_proxied any;  gzip_http_version 1.0;
//   gzip_disable "msie6";  gzip_buffers 16 8k;
#include <strings.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/log.h"
#include "core/module.h"
#include "http/error_log.h"
#include "http/http.h"
#include "http/parse.h"

namespace mod::http_gzip {
namespace {

using core::ConfContext;
using core::Status;

// gzip_proxied flags (nginx's names).
enum Proxied : uint32_t {
    kProxiedOff = 1u << 0,
    kProxiedExpired = 1u << 1,
    kProxiedNoCache = 1u << 2,
    kProxiedNoStore = 1u << 3,
    kProxiedPrivate = 1u << 4,
    kProxiedNoLastModified = 1u << 5,
    kProxiedNoEtag = 1u << 6,
    kProxiedAuth = 1u << 7,
    kProxiedAny = 1u << 8,
};

struct GzipLocConf : core::ConfBase {
    std::optional<bool> enable;                       // off
    std::shared_ptr<std::vector<std::string>> types;  // text/html (always); "*": any
    std::optional<core::Size> min_length;             // 20
    std::optional<int> comp_level;                    // 1
    std::optional<bool> vary;                         // off
    std::optional<uint32_t> proxied;                  // off
    std::optional<int> http_minor;                    // gzip_http_version 1.1
    std::shared_ptr<std::vector<std::unique_ptr<http::Regex>>> disable;
    bool disable_msie6 = false;
    std::optional<core::Size> buffer_size;  // gzip_buffers: the output piece size (8k)
};

Status merge(const GzipLocConf& parent, GzipLocConf& child) {
    core::inherit(child.enable, parent.enable, false);
    if (!child.types) {
        child.types = parent.types ? parent.types : std::make_shared<std::vector<std::string>>();
    }
    core::inherit(child.min_length, parent.min_length, core::Size{20});
    core::inherit(child.comp_level, parent.comp_level, 1);
    core::inherit(child.vary, parent.vary, false);
    core::inherit(child.proxied, parent.proxied, uint32_t{kProxiedOff});
    core::inherit(child.http_minor, parent.http_minor, 1);
    if (!child.disable) {
        child.disable = parent.disable;
        child.disable_msie6 = parent.disable_msie6;
    }
    core::inherit(child.buffer_size, parent.buffer_size, core::Size{8192});
    return Status::ok();
}

Status set_types(ConfContext& cf, GzipLocConf& conf) {
    if (conf.types) {
        return cf.duplicate();
    }
    conf.types = std::make_shared<std::vector<std::string>>();
    for (std::string t : cf.args()) {
        std::transform(t.begin(), t.end(), t.begin(),
                       [](unsigned char c) { return static_cast<char>(tolower(c)); });
        conf.types->push_back(std::move(t));
    }
    return Status::ok();
}

constexpr core::Named<uint32_t> kProxiedNames[] = {
    {"off", kProxiedOff},          {"expired", kProxiedExpired},
    {"no-cache", kProxiedNoCache}, {"no-store", kProxiedNoStore},
    {"private", kProxiedPrivate},  {"no_last_modified", kProxiedNoLastModified},
    {"no_etag", kProxiedNoEtag},   {"auth", kProxiedAuth},
    {"any", kProxiedAny},
};
constexpr core::Named<int> kHttpVersions[] = {{"1.0", 0}, {"1.1", 1}};
constexpr char kNoDetail[] = "";
constexpr char kCompLevelDetail[] = "it must be between 1 and 9";

Status set_disable(ConfContext& cf, GzipLocConf& conf) {
    if (conf.disable) {
        return cf.duplicate();
    }
    conf.disable = std::make_shared<std::vector<std::unique_ptr<http::Regex>>>();
    for (const std::string& a : cf.args()) {
        if (a == "msie6") {
            conf.disable_msie6 = true;
            continue;
        }
        auto re = std::make_unique<http::Regex>();
        if (Status st = http::Regex::compile(a, true, *re); !st.is_ok()) {
            return cf.error(st.message());
        }
        conf.disable->push_back(std::move(re));
    }
    return Status::ok();
}

Status set_buffers(ConfContext& cf, GzipLocConf& conf) {
    int64_t n = 0;
    core::Size size;
    HALO_TRY(core::parse_buffers(cf, 512, n, size, conf.buffer_size.has_value()));
    conf.buffer_size = size;  // the number of buffers is not needed: output streams on
    return Status::ok();
}

constexpr uint32_t kHttpAll = core::kCtxHttpAll;

constexpr core::Directive kDirectives[] = {
    {"gzip", kHttpAll, core::kArgs1, core::slot<&GzipLocConf::enable>()},
    {"gzip_types", kHttpAll, core::kArgs1ToN, core::setter<&set_types>()},
    {"gzip_min_length", kHttpAll, core::kArgs1,
     core::length_slot<&GzipLocConf::min_length, kNoDetail>()},
    {"gzip_comp_level", kHttpAll, core::kArgs1,
     core::slot<&GzipLocConf::comp_level, 1, 9, kCompLevelDetail>()},
    {"gzip_vary", kHttpAll, core::kArgs1, core::slot<&GzipLocConf::vary>()},
    {"gzip_proxied", kHttpAll, core::kArgs1ToN,
     core::bitmask_slot<&GzipLocConf::proxied, kProxiedNames>()},
    {"gzip_http_version", kHttpAll, core::kArgs1,
     core::enum_slot<&GzipLocConf::http_minor, kHttpVersions>()},
    {"gzip_disable", kHttpAll, core::kArgs1ToN, core::setter<&set_disable>()},
    {"gzip_buffers", kHttpAll, core::kArgs2, core::setter<&set_buffers>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<GzipLocConf>(core::ConfLevel::kHttpLoc),
};

// ---- eligibility ----

bool type_listed(const GzipLocConf& c, std::string_view type) {
    type = type.substr(0, type.find(';'));
    while (!type.empty() && type.back() == ' ') {
        type.remove_suffix(1);
    }
    if (type.empty()) {
        return false;
    }
    if (http::iequals(type, "text/html")) {
        return true;  // always, as nginx
    }
    for (const std::string& t : *c.types) {
        if (t == "*" || http::iequals(t, type)) {
            return true;
        }
    }
    return false;
}

/// Whether Accept-Encoding allows gzip: a "gzip" (or "x-gzip") coding whose q is not 0.
bool accepts_gzip(std::string_view ae) {
    size_t pos = 0;
    while (pos < ae.size()) {
        size_t end = ae.find(',', pos);
        std::string_view item = ae.substr(pos, end == std::string_view::npos ? ae.npos : end - pos);
        pos = end == std::string_view::npos ? ae.size() : end + 1;
        size_t semi = item.find(';');
        std::string_view coding = item.substr(0, semi);
        while (!coding.empty() && (coding.front() == ' ' || coding.front() == '\t')) {
            coding.remove_prefix(1);
        }
        while (!coding.empty() && (coding.back() == ' ' || coding.back() == '\t')) {
            coding.remove_suffix(1);
        }
        if (!http::iequals(coding, "gzip") && !http::iequals(coding, "x-gzip")) {
            continue;
        }
        if (semi == std::string_view::npos) {
            return true;
        }
        std::string_view params = item.substr(semi + 1);
        size_t q = params.find_first_of("qQ");
        if (q == std::string_view::npos) {
            return true;
        }
        std::string_view v = params.substr(q + 1);
        while (!v.empty() && (v.front() == ' ' || v.front() == '=')) {
            v.remove_prefix(1);
        }
        // q=0, q=0.0, q=0.00...: refused; anything else accepted.
        bool zero = !v.empty() && v.front() == '0';
        for (size_t i = 1; zero && i < v.size() && v[i] != ' ' && v[i] != ';'; i++) {
            zero = v[i] == '.' || v[i] == '0';
        }
        if (!zero) {
            return true;
        }
    }
    return false;
}

bool header_has(http::Request& r, std::string_view name, std::string_view token) {
    const std::string* v = r.find_out_header(name);
    if (v == nullptr) {
        return false;
    }
    std::string lower(*v);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(tolower(c)); });
    return lower.find(token) != std::string::npos;
}

/// nginx's ngx_http_gzip_ok(): whether this client and this proxying allow compression.
bool gzip_ok(http::Request& r, const GzipLocConf& c) {
    const http::Header* ae = r.find_header("Accept-Encoding");
    if (ae == nullptr || !accepts_gzip(ae->value)) {
        return false;
    }
    if (r.http_minor < *c.http_minor) {
        return false;
    }
    if (c.disable) {
        const http::Header* ua = r.find_header("User-Agent");
        std::string_view agent = ua != nullptr ? ua->value : std::string_view();
        if (c.disable_msie6 && agent.find("MSIE ") != std::string_view::npos &&
            agent.find("MSIE 6.") != std::string_view::npos &&
            agent.find("SV1") == std::string_view::npos) {
            return false;
        }
        for (const auto& re : *c.disable) {
            if (re->match(agent)) {
                return false;
            }
        }
    }
    if (r.find_header("Via") == nullptr) {
        return true;
    }
    uint32_t p = *c.proxied;
    if (p & kProxiedOff) {
        return false;
    }
    if (p & kProxiedAny) {
        return true;
    }
    if ((p & kProxiedAuth) && r.find_header("Authorization") != nullptr) {
        return true;
    }
    if ((p & kProxiedExpired) && r.find_out_header("Expires") != nullptr) {
        return true;
    }
    if ((p & kProxiedNoCache) && header_has(r, "Cache-Control", "no-cache")) {
        return true;
    }
    if ((p & kProxiedNoStore) && header_has(r, "Cache-Control", "no-store")) {
        return true;
    }
    if ((p & kProxiedPrivate) && header_has(r, "Cache-Control", "private")) {
        return true;
    }
    if ((p & kProxiedNoLastModified) && r.find_out_header("Last-Modified") == nullptr) {
        return true;
    }
    if ((p & kProxiedNoEtag) && r.find_out_header("ETag") == nullptr) {
        return true;
    }
    return false;
}

// ---- the filter ----

struct GzipCtx : http::RequestCtx {
    z_stream zs{};
    bool started = false;
    std::string out;  // compressed bytes not yet passed on
    size_t piece = 8192;
    size_t next = 0;  // our successor in the body filter chain
    // A file chunk being read and compressed while the client keeps up.
    int fd = -1;
    uint64_t offset = 0;
    uint64_t left = 0;
    bool file_last = false;

    ~GzipCtx() override {
        if (started) {
            deflateEnd(&zs);
        }
        if (fd >= 0) {
            ::close(fd);
        }
    }
};

/// Compresses `in` (`finish`: and ends the stream), passing output on in pieces. False when
/// zlib failed (the response is cut short).
bool deflate_into(http::Request& r, GzipCtx& g, std::string_view in, bool finish) {
    g.zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    g.zs.avail_in = static_cast<uInt>(in.size());
    for (;;) {
        size_t have = g.out.size();
        g.out.resize(have + g.piece);
        g.zs.next_out = reinterpret_cast<Bytef*>(g.out.data() + have);
        g.zs.avail_out = static_cast<uInt>(g.piece);
        int rc = deflate(&g.zs, finish ? Z_FINISH : Z_NO_FLUSH);
        g.out.resize(have + g.piece - g.zs.avail_out);
        if (rc == Z_STREAM_ERROR) {
            http::log_error(r, core::LogLevel::kAlert, "deflate() failed: %d", rc);
            return false;
        }
        if (finish && rc == Z_STREAM_END) {
            return true;
        }
        if (!finish && g.zs.avail_in == 0 && g.zs.avail_out > 0) {
            break;
        }
        if (g.out.size() >= g.piece) {
            http::BodyChunk c;
            c.data = g.out;
            r.next_body(g.next, c);
            g.out.clear();
        }
    }
    if (g.out.size() >= g.piece) {
        http::BodyChunk c;
        c.data = g.out;
        r.next_body(g.next, c);
        g.out.clear();
    }
    return true;
}

/// Ends the compressed stream: the rest of the output with `last`. `r` may be gone after.
void finish(http::Request& r, GzipCtx& g) {
    if (!deflate_into(r, g, {}, true)) {
        r.abort();
        return;
    }
    std::string rest = std::move(g.out);
    http::BodyChunk c;
    c.data = rest;
    c.last = true;
    r.next_body(g.next, c);
}

void continue_file(http::Request& r);

/// Reads and compresses the held file while the client keeps up; pauses when it does not.
void pump_file(http::Request& r, GzipCtx& g) {
    char buf[32768];
    while (g.left > 0) {
        if (r.output_blocked()) {
            r.filter_on_drained = &continue_file;
            return;
        }
        size_t want = static_cast<size_t>(std::min<uint64_t>(g.left, sizeof(buf)));
        ssize_t n = ::pread(g.fd, buf, want, static_cast<off_t>(g.offset));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            http::log_error(r, core::LogLevel::kCrit, "reading a file to compress failed (%d: %s)",
                            n < 0 ? errno : 0, n < 0 ? strerror(errno) : "file truncated");
            r.abort();
            return;
        }
        g.offset += static_cast<uint64_t>(n);
        g.left -= static_cast<uint64_t>(n);
        if (!deflate_into(r, g, std::string_view(buf, static_cast<size_t>(n)), false)) {
            r.abort();
            return;
        }
    }
    ::close(g.fd);
    g.fd = -1;
    if (g.file_last) {
        finish(r, g);
    }
}

void continue_file(http::Request& r) {
    if (GzipCtx* g = r.ctx<GzipCtx>()) {
        pump_file(r, *g);
    }
}

void body_filter(http::Request& r, const http::BodyChunk& c, size_t next) {
    GzipCtx& g = *r.ctx<GzipCtx>();
    g.next = next;
    if (c.is_file()) {
        g.fd = c.fd;
        g.offset = c.offset;
        g.left = c.length;
        g.file_last = c.last;
        pump_file(r, g);
        return;
    }
    if (c.last) {
        if (!c.data.empty() && !deflate_into(r, g, c.data, false)) {
            r.abort();
            return;
        }
        finish(r, g);
        return;
    }
    if (!deflate_into(r, g, c.data, false)) {
        r.abort();
    }
}

void header_filter(http::Request& r) {
    const auto& c = r.loc_conf<GzipLocConf>();
    if (!*c.enable || (r.status != 200 && r.status != 403 && r.status != 404) ||
        r.find_out_header("Content-Encoding") != nullptr ||
        (r.out.header_only && r.method != "HEAD") ||  // nginx: a HEAD gets the gzip head
        (r.out.content_length &&
         static_cast<int64_t>(*r.out.content_length) < static_cast<int64_t>(c.min_length->bytes)) ||
        !type_listed(c, r.out.content_type)) {
        return;
    }
    if (*c.vary && !header_has(r, "Vary", "accept-encoding")) {
        // Once (gzip_static may have sent it), after Last-Modified as nginx writes it.
        size_t at = 0;
        for (size_t i = 0; i < r.out_headers.size(); i++) {
            if (http::iequals(r.out_headers[i].first, "Last-Modified")) {
                at = i + 1;
            }
        }
        r.out_headers.emplace(r.out_headers.begin() + static_cast<ptrdiff_t>(at), "Vary",
                              "Accept-Encoding");
    }
    if (!gzip_ok(r, c)) {
        return;
    }
    GzipCtx& g = r.make_ctx<GzipCtx>();
    // As nginx: a smaller window and hash for a short response of known length.
    int wbits = MAX_WBITS;
    int memlevel = MAX_MEM_LEVEL - 1;
    if (r.out.content_length) {
        while (*r.out.content_length < (uint64_t{1} << (wbits - 1)) && wbits > 9) {
            wbits--;
            if (memlevel > 1) {
                memlevel--;
            }
        }
    }
    if (deflateInit2(&g.zs, *c.comp_level, Z_DEFLATED, wbits + 16, memlevel, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
        http::log_error(r, core::LogLevel::kAlert, "deflateInit2() failed");
        return;  // sent uncompressed
    }
    g.started = true;
    g.piece = c.buffer_size->bytes;
    r.out_headers.emplace_back("Content-Encoding", "gzip");
    r.out.content_length.reset();
    r.remove_out_header("Accept-Ranges");
    r.allow_ranges = false;  // the compressed entity has no byte ranges
    // The compressed entity differs byte for byte: a strong validator becomes weak.
    if (std::string* etag = r.find_out_header("ETag");
        etag != nullptr && etag->rfind("W/", 0) != 0) {
        *etag = "W/" + *etag;
    }
    r.add_body_filter(&body_filter);
}

/// For gzip_static (the static module): the client-side half of the filter's decision.
bool client_accepts(http::Request& r, bool& vary) {
    const auto& c = r.loc_conf<GzipLocConf>();
    vary = *c.vary;
    return gzip_ok(r, c);
}

Status postconfiguration(core::Cycle& cycle) {
    if (http::HttpMainConf* main = http::http_main(cycle)) {
        main->gzip_ok = &client_accepts;
    }
    http::add_header_filter(cycle, &header_filter);
    return Status::ok();
}

}  // namespace

extern const core::Module kModule{
    .name = "http_gzip",
    .type = core::ModuleType::kHttpFilter,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &postconfiguration,
};

}  // namespace mod::http_gzip
