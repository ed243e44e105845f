// proxy_cache, storing: what may be stored and for how long (Cache-Control, Expires,
// X-Accel-Expires, Set-Cookie, Vary, proxy_cache_valid as nginx decides), the temp file and
// its rename into place, revalidation with a 304, stale answers for errors.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "http/error_log.h"
#include "modules/cache/cache_conf.h"
#include "modules/proxy/proxy_cache.h"
#include "modules/proxy/proxy_cache_state.h"

namespace mod::proxy::detail {

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

}  // namespace mod::proxy::detail
