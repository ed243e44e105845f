// The headers filter (nginx's ngx_http_headers_filter_module): `expires`, `add_header` and
// `add_trailer`. It runs before the charset and gzip filters, as in nginx, so that
// `gzip_proxied expired` sees the Expires it sets.
//
//   expires 1h;  expires modified +24h;  expires @15h30m;  expires epoch;  expires $expires;
//   add_header X-Frame-Options SAMEORIGIN always;  add_trailer X-Time $request_time;
#include <strings.h>

#include <algorithm>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/module.h"
#include "http/http.h"
#include "http/modules/headers/expires.h"

namespace mod::http_headers {
namespace {

using core::ConfContext;
using core::Status;

/// How `add_header` treats a name (nginx's ngx_http_set_headers table).
enum class HeaderKind {
    kPlain,         // added when the value is not empty
    kMulti,         // Cache-Control, Link: added next to those already there
    kReplace,       // ETag: replaces the one there; an empty value removes it
    kLastModified,  // as kReplace
};

struct HeaderValue {
    std::string name;
    http::ComplexValue value;
    bool always = false;
    HeaderKind kind = HeaderKind::kPlain;
};
using HeaderList = std::vector<std::unique_ptr<HeaderValue>>;

struct HeadersLocConf : core::ConfBase {
    std::optional<Expires> expires;  // off
    bool expires_negative = false;   // the configured time was negative
    // `expires $var`: the value is parsed per request (kind: kAccess or kModified).
    std::shared_ptr<http::ComplexValue> expires_value;
    // Shared with the levels that inherit them: the values are bound once, by address.
    std::shared_ptr<HeaderList> headers;
    std::shared_ptr<HeaderList> trailers;
};

Status merge(const HeadersLocConf& parent, HeadersLocConf& child) {
    if (!child.expires) {
        child.expires = parent.expires.value_or(Expires{});
        child.expires_negative = parent.expires_negative;
        child.expires_value = parent.expires_value;
    }
    if (!child.headers) {
        child.headers = parent.headers;  // only when this level has none of its own
    }
    if (!child.trailers) {
        child.trailers = parent.trailers;
    }
    return Status::ok();
}

Status set_expires(ConfContext& cf, HeadersLocConf& conf) {
    if (conf.expires) {
        return cf.duplicate();
    }
    Expires e;
    e.kind = ExpiresKind::kAccess;
    size_t n = 0;
    if (cf.args().size() == 2) {
        if (cf.arg(0) != "modified") {
            return cf.error("\"expires\" directive invalid value");
        }
        e.kind = ExpiresKind::kModified;
        n = 1;
    }
    auto cv = std::make_shared<http::ComplexValue>();
    HALO_TRY(http::ComplexValue::parse(cf.arg(n), cf.node().where(), *cv));
    if (!cv->is_literal()) {
        http::register_complex_value(cf.cycle(), cv.get());
        conf.expires_value = std::move(cv);
        conf.expires = e;
        return Status::ok();
    }
    if (const char* err = parse_expires(cf.arg(n), e)) {
        return cf.error(std::string("\"expires\" directive ") + err);
    }
    conf.expires_negative = e.seconds < 0;
    conf.expires = e;
    return Status::ok();
}

Status add_to(ConfContext& cf, std::shared_ptr<HeaderList>& list, bool header) {
    auto h = std::make_unique<HeaderValue>();
    h->name = cf.arg(0);
    for (char c : h->name) {
        if (c <= 0x20 || c == ':' || c == 0x7f) {
            return cf.invalid_value(h->name, "not a header name");
        }
    }
    if (cf.args().size() == 3) {
        if (cf.arg(2) != "always") {
            return cf.error("invalid parameter \"" + cf.arg(2) + "\"");
        }
        h->always = true;
    }
    for (char c : cf.arg(1)) {
        if (c == '\r' || c == '\n') {
            return cf.invalid_value(cf.arg(1), "a header value cannot hold CR or LF");
        }
    }
    if (header) {
        if (strcasecmp(h->name.c_str(), "Cache-Control") == 0 ||
            strcasecmp(h->name.c_str(), "Link") == 0) {
            h->kind = HeaderKind::kMulti;
        } else if (strcasecmp(h->name.c_str(), "ETag") == 0) {
            h->kind = HeaderKind::kReplace;
        } else if (strcasecmp(h->name.c_str(), "Last-Modified") == 0) {
            h->kind = HeaderKind::kLastModified;
        }
    }
    HALO_TRY(http::ComplexValue::parse(cf.arg(1), cf.node().where(), h->value));
    if (!list) {
        list = std::make_shared<HeaderList>();
    }
    http::register_complex_value(cf.cycle(), &h->value);
    list->push_back(std::move(h));
    return Status::ok();
}

Status set_add_header(ConfContext& cf, HeadersLocConf& conf) {
    return add_to(cf, conf.headers, true);
}

Status set_add_trailer(ConfContext& cf, HeadersLocConf& conf) {
    return add_to(cf, conf.trailers, false);
}

constexpr uint32_t kHttpAllIf = core::kCtxHttpAll | core::kCtxLocationIf;

constexpr core::Directive kDirectives[] = {
    {"expires", kHttpAllIf, core::kArgs1To2, core::setter<&set_expires>()},
    {"add_header", kHttpAllIf, core::Args{2, 3, false}, core::setter<&set_add_header>()},
    {"add_trailer", kHttpAllIf, core::Args{2, 3, false}, core::setter<&set_add_trailer>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<HeadersLocConf>(core::ConfLevel::kHttpLoc),
};

// ---- runtime ----

/// nginx adds its headers only to these statuses, unless `always`.
bool safe_status(int status) {
    switch (status) {
        case 200:
        case 201:
        case 204:
        case 206:
        case 301:
        case 302:
        case 303:
        case 304:
        case 307:
        case 308:
            return true;
        default:
            return false;
    }
}

bool same_name(std::string_view a, std::string_view b) {
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

/// Where this filter's headers go: before the Accept-Ranges the static handler added, which
/// nginx's range filter adds after the headers filter ran.
size_t insert_at(const http::Request& r) {
    for (size_t i = 0; i < r.out_headers.size(); i++) {
        if (same_name(r.out_headers[i].first, "Accept-Ranges")) {
            return i;
        }
    }
    return r.out_headers.size();
}

/// Sets header `name` to `value`: the first one there takes it and any other is removed, else
/// it is added at `at` (moved on past it).
void set_single(http::Request& r, std::string_view name, std::string value, size_t& at) {
    auto& hs = r.out_headers;
    bool done = false;
    for (size_t i = 0; i < hs.size();) {
        if (!same_name(hs[i].first, name)) {
            i++;
        } else if (!done) {
            hs[i].second = std::move(value);
            done = true;
            i++;
        } else {
            hs.erase(hs.begin() + static_cast<ptrdiff_t>(i));
            at -= i < at ? 1 : 0;
        }
    }
    if (!done) {
        hs.emplace(hs.begin() + static_cast<ptrdiff_t>(at), std::string(name), std::move(value));
        at++;
    }
}

void set_expires_headers(http::Request& r, const HeadersLocConf& c, size_t& at) {
    Expires e = *c.expires;
    if (c.expires_value) {
        std::string v = c.expires_value->eval(r);
        if (parse_expires(v, e) != nullptr || e.kind == ExpiresKind::kOff) {
            return;  // a value that is not a time sets nothing (nginx)
        }
    }
    std::optional<time_t> last_modified;
    if (const std::string* lm = r.find_out_header("Last-Modified")) {
        last_modified = http::parse_http_date(*lm);
    }
    ExpiresHeaders h = expires_headers(e, c.expires_negative, time(nullptr), last_modified);
    set_single(r, "Expires", std::move(h.expires), at);
    set_single(r, "Cache-Control", std::move(h.cache_control), at);
}

struct TrailersCtx : http::RequestCtx {};

void trailers_body_filter(http::Request& r, const http::BodyChunk& c, size_t next) {
    if (c.last) {
        const auto& conf = r.loc_conf<HeadersLocConf>();
        bool safe = safe_status(r.status);
        for (const auto& h : *conf.trailers) {
            if (!safe && !h->always) {
                continue;
            }
            std::string v = h->value.eval(r);
            if (!v.empty()) {
                r.out_trailers.emplace_back(h->name, std::move(v));
            }
        }
    }
    r.next_body(next, c);
}

void header_filter(http::Request& r) {
    const auto& c = r.loc_conf<HeadersLocConf>();
    if (c.expires->kind == ExpiresKind::kOff && !c.headers && !c.trailers) {
        return;
    }
    bool safe = safe_status(r.status);
    size_t at = insert_at(r);
    if (c.expires->kind != ExpiresKind::kOff && safe) {
        set_expires_headers(r, c, at);
    }
    if (c.headers) {
        for (const auto& h : *c.headers) {
            if (!safe && !h->always) {
                continue;
            }
            std::string v = h->value.eval(r);
            if (h->kind == HeaderKind::kLastModified) {
                // nginx keeps the file's date apart: a new one goes with the added headers.
                r.remove_out_header(h->name);
                at = insert_at(r);
                if (!v.empty()) {
                    r.out_headers.emplace(r.out_headers.begin() + static_cast<ptrdiff_t>(at),
                                          h->name, std::move(v));
                    at++;
                }
                continue;
            }
            if (h->kind == HeaderKind::kReplace) {
                if (v.empty()) {
                    r.remove_out_header(h->name);
                    at = insert_at(r);
                } else {
                    set_single(r, h->name, std::move(v), at);
                }
                continue;
            }
            if (!v.empty()) {
                r.out_headers.emplace(r.out_headers.begin() + static_cast<ptrdiff_t>(at), h->name,
                                      std::move(v));
                at++;
            }
        }
    }
    if (c.trailers && !r.out.header_only && r.http_minor >= 1) {
        bool any = std::any_of(c.trailers->begin(), c.trailers->end(),
                               [safe](const auto& h) { return safe || h->always; });
        if (any) {
            // Trailers need chunked framing: the length goes, as in nginx.
            r.out.content_length.reset();
            r.add_body_filter(&trailers_body_filter);
        }
    }
}

}  // namespace

extern const core::Module kModule{
    .name = "http_headers",
    .type = core::ModuleType::kHttpFilter,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &http::register_header_filter<&header_filter>,
};

}  // namespace mod::http_headers
