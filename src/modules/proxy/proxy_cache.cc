// proxy_cache: the lookup before a proxied request (HIT served from the file, a lock wait,
// EXPIRED/MISS on to the upstream), the storing of the upstream's answer (temp file, then
// renamed into place), revalidation, stale answers, and the purge handler.

#include "modules/proxy/proxy_cache.h"
#include "modules/proxy/proxy_cache_state.h"
#include "modules/proxy/proxy_shared.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "event/loop.h"
#include "event/runtime.h"
#include "http/error_log.h"
#include "modules/cache/cache_conf.h"

namespace mod::proxy::detail {

int64_t now_s() {
    return core::unix_ms() / 1000;
}

void mark(http::Request& r, CachePath& p, std::string_view status) {
    cache::set_status(r, status);
    cache::ZoneCounters& k = p.zone.counters();
    std::atomic<uint64_t>* c = status == "HIT"           ? &k.hits
                               : status == "MISS"        ? &k.misses
                               : status == "EXPIRED"     ? &k.expired
                               : status == "STALE"       ? &k.stale
                               : status == "UPDATING"    ? &k.updating
                               : status == "REVALIDATED" ? &k.revalidated
                                                         : &k.bypass;
    c->fetch_add(1, std::memory_order_relaxed);
}

std::string vary_suffix(const http::Request& r, std::string_view names) {
    std::string s = "\nvary:";
    while (!names.empty()) {
        size_t comma = names.find(',');
        std::string_view n = names.substr(0, comma);
        s.append(n);
        s += '=';
        if (const http::Header* h = r.find_header(n)) {
            s.append(h->value);
        }
        s += '\n';
        names = comma == std::string_view::npos ? std::string_view() : names.substr(comma + 1);
    }
    return s;
}

std::string vary_names_of(std::string_view v) {
    std::string out;
    while (!v.empty()) {
        size_t comma = v.find(',');
        std::string_view n = v.substr(0, comma);
        while (!n.empty() && (n.front() == ' ' || n.front() == '\t')) {
            n.remove_prefix(1);
        }
        while (!n.empty() && (n.back() == ' ' || n.back() == '\t')) {
            n.remove_suffix(1);
        }
        if (!n.empty()) {
            if (!out.empty()) {
                out += ',';
            }
            for (char ch : n) {
                out += static_cast<char>(tolower(static_cast<unsigned char>(ch)));
            }
        }
        v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
    }
    return out;
}

namespace {

/// Opens and checks the file of `md5`; -1 (the entry dropped) when it is missing or bad.
int open_entry(CachePath& p, const Md5& md5, cache::Entry& e) {
    std::string f = p.file_path(md5);
    int fd = ::open(f.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        p.zone.remove(md5);
        return -1;
    }
    auto h = cache::read_header(fd);
    struct stat st;
    if (!h || fstat(fd, &st) != 0 ||
        st.st_size < static_cast<off_t>(h->h.header_size + h->h.body_len)) {
        ::close(fd);
        p.zone.remove(md5);
        return -1;
    }
    e = std::move(*h);
    return fd;
}

/// Whether `list` (If-None-Match) names `etag` (weak comparison, RFC 9110 §13.1.2).
bool etag_listed(std::string_view list, std::string_view etag) {
    auto strong = [](std::string_view t) { return t.starts_with("W/") ? t.substr(2) : t; };
    etag = strong(etag);
    while (!list.empty()) {
        size_t comma = list.find(',');
        std::string_view t = list.substr(0, comma);
        while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) {
            t.remove_prefix(1);
        }
        while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) {
            t.remove_suffix(1);
        }
        if (t == "*" || (!etag.empty() && strong(t) == etag)) {
            return true;
        }
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    }
    return false;
}

/// The client's conditional fields against a cached 200 (If-None-Match wins, RFC 9110
/// §13.2.2; If-Modified-Since as `if_modified_since` says).
bool not_modified(const http::Request& r, const cache::Entry& e) {
    if (const http::Header* inm = r.find_header("If-None-Match")) {
        return !e.etag.empty() && etag_listed(inm->value, e.etag);
    }
    const http::Header* ims = r.find_header("If-Modified-Since");
    if (ims == nullptr || e.h.last_modified < 0) {
        return false;
    }
    auto t = http::parse_http_date(ims->value);
    if (!t) {
        return false;
    }
    auto mode = *r.loc_conf<http::HttpLocConf>().if_modified_since;
    return mode == http::kImsExact    ? static_cast<int64_t>(*t) == e.h.last_modified
           : mode == http::kImsBefore ? e.h.last_modified <= static_cast<int64_t>(*t)
                                      : false;
}

/// Answers `r` from an entry's file (the fd is the request's then). With `hold_end`, the body
/// goes out without its end (proxy_cache_background_update ends the request later).
bool serve(http::Request& r, const ProxyLocConf& c, const ProxyPass& pass, int fd,
           const cache::Entry& e, bool hold_end = false) {
    http::ParsedResponse head;
    size_t scan = 0;
    if (http::parse_response_head(e.head, e.head.size() + 1, scan, head) !=
        http::ParseResult::kComplete) {
        ::close(fd);
        return false;
    }
    std::string_view type = pass_response_headers(r, c, pass, head);
    if (head.status == 200 && not_modified(r, e)) {
        ::close(fd);
        r.send(304, {}, {});  // nginx's not-modified filter on a cached answer
        return true;
    }
    r.allow_ranges = head.status == 200;
    if (hold_end) {
        r.send_head(head.status, type, e.h.body_len);
        http::BodyChunk b;
        b.fd = fd;
        b.offset = e.h.header_size;
        b.length = e.h.body_len;
        r.send_body(b);
        return true;
    }
    r.send_file(head.status, type, fd, e.h.header_size, e.h.body_len, r.use_sendfile);
    return true;
}

/// Start of a `Range: bytes=N-...` request (0 when none).
uint64_t range_start(const http::Request& r) {
    const http::Header* h = r.find_header("Range");
    if (h == nullptr || !h->value.starts_with("bytes=")) {
        return 0;
    }
    std::string_view v = h->value.substr(6);
    size_t dash = v.find('-');
    auto n = core::parse_int(v.substr(0, dash));
    return n ? static_cast<uint64_t>(*n) : 0;
}

void wait_done(http::Request& r, const ProxyLocConf& c, const ProxyPass& pass);

}  // namespace

bool serve_old(http::Request& r, const ProxyLocConf& c, const ProxyPass& pass, CacheState& s) {
    if (s.claimed) {
        s.path->zone.release(s.claim_md5);  // the next request may refresh it
        s.claimed = false;
    }
    int fd = ::dup(s.old_fd);
    return fd >= 0 && serve(r, c, pass, fd, s.old);
}

std::optional<http::Flow> cache_lookup(http::Request& r, const ProxyLocConf& c,
                                       const ProxyPass& pass, std::unique_ptr<Codec>& codec) {
    const cache::CacheLocConf& cc = c.cache;
    CachePath* path = cc.path;
    if (cc.zone_value) {
        std::string name = cc.zone_value->eval(r);
        if (name.empty() || name == "off") {
            return std::nullopt;
        }
        path = cache::find_path(ev::Runtime::current().cycle(), name);
        if (path == nullptr) {
            http::log_error(r, core::LogLevel::kError, "cache \"%s\" not found", name.c_str());
            r.send_error(500);
            return http::Flow::kDone;
        }
    }
    uint32_t method = 0;
    if (r.method == "GET") {
        method = cache::kMethodGet;
    } else if (r.method == "HEAD") {
        method = cache::kMethodHead;
    } else if (r.method == "POST") {
        method = cache::kMethodPost;
    }
    if (path == nullptr || !(method & *cc.methods)) {
        return std::nullopt;
    }
    if (range_start(r) > *cc.max_range_offset) {
        return std::nullopt;  // nginx: passed on, not cached
    }
    CacheState* sp = r.ctx<CacheState>();
    CacheState& s = sp != nullptr ? *sp : r.make_ctx<CacheState>();
    s.path = path;
    s.converted_head = r.method == "HEAD" && *cc.convert_head;
    s.key = cc.key->eval(r);
    s.primary = cache::md5_of(s.key);
    s.md5 = s.primary;
    int64_t now = now_s();
    auto claim = [&](const Md5& m) {
        s.claimed = path->zone.try_claim(m, core::unix_ms(), cc.lock_age->count());
        s.claim_md5 = m;
        return s.claimed;
    };
    if (cache::any_condition(r, cc.bypass.get())) {
        mark(r, *path, "BYPASS");
        s.store = claim(s.primary);
        return std::nullopt;
    }
    cache::Found f;
    if (!path->zone.lookup(s.primary, now, f)) {
        return std::nullopt;  // no room in the zone: nginx passes the request on too
    }
    int fd = -1;
    cache::Entry e;
    if (f.exists) {
        fd = open_entry(*path, s.primary, e);
        if (fd >= 0 && (e.h.flags & cache::kVaryIndex)) {
            ::close(fd);
            fd = -1;
            s.md5 = cache::md5_of(s.key + vary_suffix(r, e.vary));
            if (!path->zone.lookup(s.md5, now, f)) {
                return std::nullopt;
            }
            if (f.exists) {
                fd = open_entry(*path, s.md5, e);
            }
        }
    }
    if (fd >= 0) {
        if (e.h.valid_until >= now) {  // nginx: fresh through the second it ends in
            mark(r, *path, "HIT");
            if (!serve(r, c, pass, fd, e)) {
                r.send_error(500);
            }
            return http::Flow::kDone;
        }
        // Expired.
        bool stale_updating = *cc.use_stale & cache::kStaleUpdating;
        if (f.updating && stale_updating) {
            mark(r, *path, "UPDATING");
            if (!serve(r, c, pass, fd, e)) {
                r.send_error(500);
            }
            return http::Flow::kDone;
        }
        if (s.old_fd >= 0) {
            ::close(s.old_fd);
        }
        s.old_fd = fd;
        s.old = std::move(e);
        s.old_md5 = s.md5;
        s.store = claim(s.md5);
        s.revalidate =
            s.store && *cc.revalidate && (!s.old.etag.empty() || s.old.h.last_modified >= 0);
        if (s.store && stale_updating && *cc.background_update && !r.has_body()) {
            // The stale answer now, its end held back; the exchange that follows refreshes
            // the entry and then ends the request (nginx's background subrequest).
            int sfd = ::dup(s.old_fd);
            if (sfd >= 0) {
                mark(r, *path, "STALE");
                if (serve(r, c, pass, sfd, s.old, /*hold_end=*/true)) {
                    s.background = true;
                    return std::nullopt;
                }
            }
        }
        mark(r, *path, "EXPIRED");
        return std::nullopt;
    }
    if (f.uses < static_cast<uint32_t>(*cc.min_uses)) {
        mark(r, *path, "MISS");
        return std::nullopt;
    }
    if (claim(s.md5)) {
        s.store = true;
        mark(r, *path, "MISS");
        return std::nullopt;
    }
    if (!*cc.lock) {
        mark(r, *path, "MISS");
        return std::nullopt;
    }
    // proxy_cache_lock: another request fills the entry; look again every 500 ms (nginx's
    // pace) until it is there or lock_timeout ran out.
    int64_t now_ms = core::steady_ms();
    if (s.wait_deadline == 0) {
        s.wait_deadline = now_ms + cc.lock_timeout->count();
    }
    if (now_ms >= s.wait_deadline) {
        mark(r, *path, "MISS");  // nginx: on to the upstream, the answer not cached
        return std::nullopt;
    }
    if (!s.wait) {
        http::Request* rp = &r;
        const ProxyLocConf* cp = &c;
        const ProxyPass* pp = &pass;
        s.wait =
            ev::Runtime::current().loop().make_timer([rp, cp, pp] { wait_done(*rp, *cp, *pp); });
    }
    if (codec) {
        s.codec = std::move(codec);
    }
    s.wait->arm(std::chrono::milliseconds(
        std::min<int64_t>(500, std::max<int64_t>(1, s.wait_deadline - now_ms))));
    return http::Flow::kSuspend;
}

namespace {

void wait_done(http::Request& r, const ProxyLocConf& c, const ProxyPass& pass) {
    std::unique_ptr<Codec> codec;
    if (CacheState* s = r.ctx<CacheState>()) {
        codec = std::move(s->codec);
    }
    if (auto f = cache_lookup(r, c, pass, codec)) {
        return;  // served, or waits on
    }
    start_exchange(r, c, pass, std::move(codec));
}

/// Removes the request fields nginx does not pass with a cached request (its cache headers).
void drop_field(std::string& head, std::string_view name) {
    size_t at = head.find("\r\n");
    while (at != std::string::npos && at + 2 < head.size()) {
        size_t line = at + 2;
        size_t end = head.find("\r\n", line);
        if (end == std::string::npos) {
            return;
        }
        std::string_view l(head.data() + line, end - line);
        if (l.size() > name.size() && l[name.size()] == ':' &&
            strncasecmp(l.data(), name.data(), name.size()) == 0) {
            head.erase(line, end + 2 - line);
            at = line - 2;
            continue;
        }
        at = end;
    }
}

}  // namespace

void cache_request_head(http::Request& r, std::string& head) {
    CacheState* s = r.ctx<CacheState>();
    if (s == nullptr || s->path == nullptr) {
        return;
    }
    for (std::string_view f : {"If-Modified-Since", "If-Unmodified-Since", "If-None-Match",
                               "If-Match", "Range", "If-Range"}) {
        drop_field(head, f);
    }
    if (s->converted_head && head.starts_with("HEAD ")) {
        head.replace(0, 4, "GET");
    }
    if (s->revalidate) {
        std::string add;
        if (s->old.h.last_modified >= 0) {
            add += "If-Modified-Since: " + http::format_http_date(s->old.h.last_modified) + "\r\n";
        }
        if (!s->old.etag.empty()) {
            add += "If-None-Match: " + s->old.etag + "\r\n";
        }
        head.insert(head.size() - 2, add);
    }
}

bool cache_background(const http::Request& r) {
    const CacheState* s = r.ctx<CacheState>();
    return s != nullptr && s->background;
}

void cache_background_end(http::Request& r) {
    http::BodyChunk last;
    last.last = true;
    r.send_body(last);
}

bool cache_converted_head(const http::Request& r) {
    const CacheState* s = r.ctx<CacheState>();
    return s != nullptr && s->converted_head && s->path != nullptr;
}

}  // namespace mod::proxy::detail

namespace mod::proxy {

bool cache_upstream_fields(const http::Request& r, std::string& if_modified_since,
                           std::string& if_none_match) {
    const detail::CacheState* s = r.ctx<detail::CacheState>();
    if (s == nullptr || s->path == nullptr) {
        return false;
    }
    if (s->revalidate) {
        if (s->old.h.last_modified >= 0) {
            if_modified_since = http::format_http_date(s->old.h.last_modified);
        }
        if_none_match = s->old.etag;
    }
    return true;
}

http::Flow cache_purge(http::Request& r, const cache::CacheLocConf& c) {
    cache::CachePath& p = *c.purge_path;
    std::string key = c.purge_key->eval(r);
    cache::Md5 md5 = cache::md5_of(key);
    bool found = false;
    // A vary index: its variants are unreachable once it is gone (the manager removes them
    // when they turn inactive).
    found |= p.zone.remove(md5);
    found |= p.unlink_file(md5);
    std::string body = "{\"key\":\"";
    core::append_json_escaped(body, key);
    body += std::string("\",\"purged\":") + (found ? "true" : "false") + "}\n";
    r.send(found ? 200 : 404, "application/json", body);
    return http::Flow::kDone;
}

}  // namespace mod::proxy
