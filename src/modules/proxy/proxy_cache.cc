// proxy_cache: the lookup before a proxied request (HIT served from the file, a lock wait,
// EXPIRED/MISS on to the upstream), the storing of the upstream's answer (temp file, then
// renamed into place), revalidation, stale answers, and the purge handler.

#include "modules/proxy/proxy_cache.h"

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

using cache::CachePath;
using cache::Md5;

class CacheState : public http::RequestCtx {
  public:
    ~CacheState() override {
        if (old_fd >= 0) {
            ::close(old_fd);
        }
        if (tmp_fd >= 0) {
            ::close(tmp_fd);
            ::unlink(tmp_path.c_str());
        }
        if (claimed && path != nullptr) {
            path->zone.release(claim_md5);
        }
    }

    CachePath* path = nullptr;
    std::string key;
    Md5 primary{};
    Md5 md5{};  // the variant's (the primary's without Vary)
    bool claimed = false;
    Md5 claim_md5{};
    bool store = false;
    bool converted_head = false;
    bool revalidate = false;
    bool background = false;       // proxy_cache_background_update: the client has the stale one
    std::unique_ptr<Codec> codec;  // kept while proxy_cache_lock waits (FastCGI, SCGI, uwsgi)
    // The expired entry (revalidation, stale answers).
    int old_fd = -1;
    cache::Entry old;
    Md5 old_md5{};
    // Storing.
    int tmp_fd = -1;
    std::string tmp_path;
    cache::Entry out;
    Md5 out_md5{};
    std::string vary_names;  // of the response: a vary index goes to the primary key
    bool write_failed = false;
    // proxy_cache_lock.
    std::unique_ptr<ev::Timer> wait;
    int64_t wait_deadline = 0;
};

namespace {

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

/// The request's values of the Vary fields `names` (comma-separated), as a key suffix.
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

/// The field names of a Vary value, lower case, trimmed, comma-separated.
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

bool serve_old(http::Request& r, const ProxyLocConf& c, const ProxyPass& pass, CacheState& s) {
    if (s.claimed) {
        s.path->zone.release(s.claim_md5);  // the next request may refresh it
        s.claimed = false;
    }
    int fd = ::dup(s.old_fd);
    return fd >= 0 && serve(r, c, pass, fd, s.old);
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

namespace {

/// Whether `v` (a Cache-Control value) names `directive`; its `=N` in `arg` when it has one.
bool cc_has(std::string_view v, std::string_view directive, std::optional<int64_t>* arg) {
    while (!v.empty()) {
        size_t comma = v.find(',');
        std::string_view d = v.substr(0, comma);
        while (!d.empty() && d.front() == ' ') {
            d.remove_prefix(1);
        }
        std::string_view name = d.substr(0, d.find('='));
        while (!name.empty() && name.back() == ' ') {
            name.remove_suffix(1);
        }
        if (name.size() == directive.size() &&
            strncasecmp(name.data(), directive.data(), name.size()) == 0) {
            if (arg != nullptr && d.find('=') != std::string_view::npos) {
                std::string_view n = d.substr(d.find('=') + 1);
                while (!n.empty() && (n.back() == ' ' || n.back() == '"')) {
                    n.remove_suffix(1);
                }
                while (!n.empty() && n.front() == '"') {
                    n.remove_prefix(1);
                }
                *arg = core::parse_int(n);
                if (!*arg) {
                    *arg = 0;  // nginx: an invalid value makes the response uncacheable
                }
            }
            return true;
        }
        v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
    }
    return false;
}

/// nginx's reading of the response's caching fields: the time it is valid until, 0 when it
/// may not be cached, nullopt when the fields say nothing (proxy_cache_valid decides).
std::optional<int64_t> header_validity(const http::ParsedResponse& head, uint32_t ignore,
                                       int64_t now) {
    if (!(ignore & kIgnoreXAccelExpires)) {
        if (const http::Header* h = head.find("X-Accel-Expires")) {
            std::string_view v = h->value;
            bool absolute = !v.empty() && v[0] == '@';
            auto n = core::parse_int(absolute ? v.substr(1) : v);
            if (n && *n == 0 && !absolute) {
                return 0;
            }
            if (n) {
                return absolute ? *n : now + *n;
            }
            // nginx: an invalid value is ignored; the other fields decide.
        }
    }
    if (!(ignore & kIgnoreCacheControl)) {
        std::optional<int64_t> smax;
        std::optional<int64_t> max;
        bool any = false;
        for (const http::Header& h : head.headers) {
            if (!http::iequals(h.name, "Cache-Control")) {
                continue;
            }
            if (cc_has(h.value, "no-cache", nullptr) || cc_has(h.value, "no-store", nullptr) ||
                cc_has(h.value, "private", nullptr)) {
                return 0;
            }
            any |= cc_has(h.value, "s-maxage", &smax) | cc_has(h.value, "max-age", &max);
        }
        if (any) {
            int64_t n = smax ? *smax : max ? *max : 0;
            return n <= 0 ? 0 : now + n;
        }
    }
    if (!(ignore & kIgnoreExpires)) {
        if (const http::Header* h = head.find("Expires")) {
            auto t = http::parse_http_date(h->value);
            if (!t || *t < now) {
                return 0;
            }
            return static_cast<int64_t>(*t);
        }
    }
    return std::nullopt;
}

/// The response head kept in the file: the status line and the fields but framing and
/// connection ones.
std::string stored_head(const http::ParsedResponse& head) {
    std::string out =
        "HTTP/1.1 " + std::to_string(head.status) + " " + std::string(head.reason) + "\r\n";
    for (const http::Header& h : head.headers) {
        if (http::iequals(h.name, "Transfer-Encoding") || http::iequals(h.name, "Connection") ||
            http::iequals(h.name, "Keep-Alive") || http::iequals(h.name, "Content-Length")) {
            continue;
        }
        out.append(h.name);
        out += ": ";
        out.append(h.value);
        out += "\r\n";
    }
    out += "\r\n";
    return out;
}

bool write_all(int fd, std::string_view data, off_t at) {
    while (!data.empty()) {
        ssize_t n = ::pwrite(fd, data.data(), data.size(), at);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        data.remove_prefix(static_cast<size_t>(n));
        at += n;
    }
    return true;
}

std::atomic<uint64_t> g_tmp_seq{0};

/// A new temp file for `target` (in the cache directory, or proxy_temp_path).
int open_tmp(const CachePath& p, const ProxyLocConf& c, std::string& name) {
    std::string dir = p.use_temp_path ? *c.temp_path : p.path;
    name = dir + "/" + std::to_string(getpid()) + "." + std::to_string(++g_tmp_seq) + ".tmp";
    return ::open(name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
}

/// Renames `tmp` to the file of `md5`, making the level directories when missing.
bool place(const CachePath& p, const std::string& tmp, const Md5& md5) {
    std::string target = p.file_path(md5);
    if (::rename(tmp.c_str(), target.c_str()) == 0) {
        return true;
    }
    if (errno == ENOENT) {
        for (size_t at = p.path.size() + 1; (at = target.find('/', at)) != std::string::npos;
             at++) {
            ::mkdir(target.substr(0, at).c_str(), 0700);
        }
        if (::rename(tmp.c_str(), target.c_str()) == 0) {
            return true;
        }
    }
    if (errno == EXDEV) {
        // proxy_temp_path on another file system: copied into the cache directory first.
        std::string near =
            p.path + "/" + std::to_string(getpid()) + "." + std::to_string(++g_tmp_seq) + ".tmp";
        int in = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
        int out = ::open(near.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
        bool ok = in >= 0 && out >= 0;
        while (ok) {
            ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, 1 << 20, 0);
            if (n == 0) {
                break;
            }
            ok = n > 0 || errno == EINTR;
        }
        if (in >= 0) {
            ::close(in);
        }
        if (out >= 0) {
            ::close(out);
        }
        ::unlink(tmp.c_str());
        if (ok && ::rename(near.c_str(), target.c_str()) == 0) {
            return true;
        }
        ::unlink(near.c_str());
    }
    HALO_LOG(kCrit, "rename() \"%s\" to \"%s\" failed (%d: %s)", tmp.c_str(), target.c_str(), errno,
             strerror(errno));
    return false;
}

uint64_t disk_size(int fd) {
    struct stat st;
    return fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_blocks) * 512 : 0;
}

}  // namespace

bool cache_answers(http::Request& r, const ProxyLocConf& c, const ProxyPass& pass,
                   const http::ParsedResponse& head, bool act) {
    CacheState* s = r.ctx<CacheState>();
    if (s == nullptr || s->path == nullptr || s->old_fd < 0) {
        return false;
    }
    if (head.status == 304 && s->revalidate) {
        if (!act) {
            return true;
        }
        int64_t now = now_s();
        auto v = header_validity(head, *c.ignore_headers, now);
        int64_t until = v ? *v : 0;
        if (!v) {
            int64_t secs = cache::valid_for(c.cache, s->old.h.status);
            until = secs > 0 ? now + secs : 0;
        }
        if (until != 0 && until >= now) {
            // In place: the file's valid_until, then the zone (the claim ends).
            std::string f = s->path->file_path(s->old_md5);
            int wfd = ::open(f.c_str(), O_WRONLY | O_CLOEXEC);
            if (wfd >= 0) {
                write_all(wfd,
                          std::string_view(reinterpret_cast<const char*>(&until), sizeof until),
                          cache::kValidUntilOffset);
                ::close(wfd);
            }
            s->old.h.valid_until = until;
            s->path->zone.refreshed(s->old_md5, until);
            s->claimed = false;
        }
        if (s->background) {
            cache_background_end(r);  // refreshed; the client had the stale answer
            return true;
        }
        mark(r, *s->path, "REVALIDATED");
        return serve_old(r, c, pass, *s);
    }
    static constexpr std::pair<int, uint32_t> kBits[] = {
        {500, cache::kStaleHttp500}, {502, cache::kStaleHttp502}, {503, cache::kStaleHttp503},
        {504, cache::kStaleHttp504}, {403, cache::kStaleHttp403}, {404, cache::kStaleHttp404},
        {429, cache::kStaleHttp429}};
    for (auto [code, bit] : kBits) {
        if (head.status == code && (*c.cache.use_stale & bit)) {
            if (!act) {
                return true;
            }
            if (s->background) {
                cache_background_end(r);  // the stale answer stays
                return true;
            }
            mark(r, *s->path, "STALE");
            return serve_old(r, c, pass, *s);
        }
    }
    return false;
}

bool cache_on_error(http::Request& r, const ProxyLocConf& c, const ProxyPass& pass, int status) {
    CacheState* s = r.ctx<CacheState>();
    if (s == nullptr || s->path == nullptr || s->old_fd < 0 || r.head_sent) {
        return false;
    }
    uint32_t bits = status == 504   ? cache::kStaleTimeout
                    : status == 502 ? cache::kStaleError | cache::kStaleInvalidHeader
                                    : 0;
    if (!(*c.cache.use_stale & bits)) {
        return false;
    }
    mark(r, *s->path, "STALE");
    return serve_old(r, c, pass, *s);
}

CacheState* cache_store_begin(http::Request& r, const ProxyLocConf& c,
                              const http::ParsedResponse& head) {
    CacheState* s = r.ctx<CacheState>();
    if (s == nullptr || !s->store || s->path == nullptr) {
        return nullptr;
    }
    s->store = false;
    static constexpr int kCacheable[] = {200, 203, 204, 300, 301, 302, 303,
                                         307, 308, 404, 405, 410, 414, 501};
    if (std::find(std::begin(kCacheable), std::end(kCacheable), head.status) ==
            std::end(kCacheable) ||
        cache::any_condition(r, c.cache.no_cache.get())) {
        return nullptr;
    }
    uint32_t ignore = *c.ignore_headers;
    if (!(ignore & kIgnoreSetCookie) && head.find("Set-Cookie") != nullptr) {
        return nullptr;
    }
    std::string vary;
    if (!(ignore & kIgnoreVary)) {
        for (const http::Header& h : head.headers) {
            if (http::iequals(h.name, "Vary")) {
                std::string n = vary_names_of(h.value);
                if (n == "*") {
                    return nullptr;  // nginx: never cached
                }
                if (!n.empty()) {
                    vary += vary.empty() ? n : "," + n;
                }
            }
        }
    }
    int64_t now = now_s();
    auto v = header_validity(head, ignore, now);
    int64_t until = 0;
    if (v) {
        until = *v;
    } else if (int64_t secs = cache::valid_for(c.cache, head.status); secs > 0) {
        until = now + secs;
    }
    if (until == 0 || until < now) {
        return nullptr;
    }
    s->tmp_fd = open_tmp(*s->path, c, s->tmp_path);
    if (s->tmp_fd < 0) {
        http::log_error(r, core::LogLevel::kCrit, "open() \"%s\" failed (%d: %s)",
                        s->tmp_path.c_str(), errno, strerror(errno));
        return nullptr;
    }
    s->vary_names = vary;
    s->out_md5 = vary.empty() ? s->primary : cache::md5_of(s->key + vary_suffix(r, vary));
    cache::Entry& e = s->out;
    e.key = vary.empty() ? s->key : s->key + vary_suffix(r, vary);
    e.h.status = static_cast<uint16_t>(head.status);
    e.h.valid_until = until;
    e.h.stored_at = now;
    if (const http::Header* h = head.find("ETag")) {
        e.etag = std::string(h->value);
    }
    if (const http::Header* h = head.find("Last-Modified")) {
        if (auto t = http::parse_http_date(h->value)) {
            e.h.last_modified = static_cast<int64_t>(*t);
        }
    }
    e.vary = vary;
    e.head = stored_head(head);
    if (!write_all(s->tmp_fd, cache::encode_header(e), 0)) {
        s->write_failed = true;
    }
    return s;
}

void cache_write(CacheState& s, std::string_view data) {
    if (s.write_failed || data.empty()) {
        return;
    }
    if (!write_all(s.tmp_fd, data, static_cast<off_t>(s.out.h.header_size + s.out.h.body_len))) {
        HALO_LOG(kCrit, "write() to \"%s\" failed (%d: %s)", s.tmp_path.c_str(), errno,
                 strerror(errno));
        s.write_failed = true;
        return;
    }
    s.out.h.body_len += data.size();
}

void cache_store_end(CacheState& s) {
    CachePath& p = *s.path;
    if (s.write_failed || !write_all(s.tmp_fd, cache::encode_header(s.out), 0)) {
        return;  // the destructor removes the temp file and ends the claim
    }
    uint64_t size = disk_size(s.tmp_fd);
    ::close(s.tmp_fd);
    s.tmp_fd = -1;
    if (!place(p, s.tmp_path, s.out_md5)) {
        ::unlink(s.tmp_path.c_str());
        return;
    }
    int64_t now = now_s();
    p.zone.stored(s.out_md5, s.out.h.valid_until, size, now);
    bool claim_ended = s.claim_md5 == s.out_md5;  // stored() ends the claim of its entry
    if (s.out_md5 != s.primary) {
        // The primary key names the Vary fields; the variants are found through it.
        cache::Entry idx;
        idx.key = s.key;
        idx.vary = s.vary_names;
        idx.h.flags = cache::kVaryIndex;
        idx.h.valid_until = s.out.h.valid_until;
        idx.h.stored_at = now;
        std::string name =
            p.path + "/" + std::to_string(getpid()) + "." + std::to_string(++g_tmp_seq) + ".tmp";
        int fd = ::open(name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
        if (fd >= 0) {
            bool ok = write_all(fd, cache::encode_header(idx), 0);
            uint64_t isize = disk_size(fd);
            ::close(fd);
            if (ok && place(p, name, s.primary)) {
                p.zone.stored(s.primary, idx.h.valid_until, isize, now);
                claim_ended |= s.claim_md5 == s.primary;
            } else {
                ::unlink(name.c_str());
            }
        }
    }
    if (s.claimed && !claim_ended) {
        p.zone.release(s.claim_md5);
    }
    s.claimed = false;
}

http::Flow purge_handler(http::Request& r) {
    const auto& c = r.loc_conf<ProxyLocConf>().cache;
    CachePath& p = *c.purge_path;
    std::string key = c.purge_key->eval(r);
    Md5 md5 = cache::md5_of(key);
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

}  // namespace mod::proxy::detail
