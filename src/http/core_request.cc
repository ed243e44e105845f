// Request-level directives of the http core (see core_request.h) and the per-worker cache of
// open files behind open_file_cache.
#include "http/core_request.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <list>
#include <string>
#include <unordered_map>

#include "http/session.h"

namespace http {

using core::ConfContext;
using core::Status;

Status set_internal(ConfContext& cf, HttpLocConf& conf) {
    conf.internal = true;
    return Status::ok();
}

Status set_max_ranges(ConfContext& cf, HttpLocConf& conf) {
    if (conf.max_ranges) {
        return cf.duplicate();
    }
    auto v = core::parse_int(cf.arg(0));
    if (!v || *v > INT32_MAX) {
        return cf.invalid_value(cf.arg(0));
    }
    conf.max_ranges = static_cast<int>(*v);
    return Status::ok();
}

Status set_open_file_cache(ConfContext& cf, HttpLocConf& conf) {
    if (conf.open_file_cache || conf.open_file_cache_off) {
        return cf.duplicate();
    }
    if (cf.arg(0) == "off") {
        if (cf.args().size() != 1) {
            return cf.error("invalid parameter \"" + cf.arg(1) + "\"");
        }
        conf.open_file_cache_off = true;
        return Status::ok();
    }
    auto cache = std::make_shared<OpenFileCache>();
    bool have_max = false;
    for (const std::string& a : cf.args()) {
        std::string_view v(a);
        if (v.rfind("max=", 0) == 0) {
            auto n = core::parse_int(v.substr(4));
            if (!n || *n == 0 || *n > INT32_MAX) {
                return cf.error("invalid \"open_file_cache\" parameter \"" + a + "\"");
            }
            cache->max = static_cast<size_t>(*n);
            have_max = true;
        } else if (v.rfind("inactive=", 0) == 0) {
            auto t = core::parse_duration(v.substr(9));
            if (!t) {
                return cf.error("invalid \"open_file_cache\" parameter \"" + a + "\"");
            }
            cache->inactive = *t;
        } else {
            return cf.error("invalid \"open_file_cache\" parameter \"" + a + "\"");
        }
    }
    if (!have_max) {
        return cf.error("\"open_file_cache\" must have the \"max\" parameter");
    }
    conf.open_file_cache = std::move(cache);
    return Status::ok();
}

namespace {

/// The name of a directive halo takes only in its disabled form, and that form.
struct OffForm {
    std::string_view directive;
    std::string_view off;  // the value that disables it
    std::string_view why;  // why any other value is refused
};

constexpr OffForm kOffForms[] = {
    {"aio", "off",
     "halo reads files with sendfile() or pread() in the worker: it has no thread pool for "
     "\"aio threads\", and Linux native \"aio on\" needs directio (Debian's nginx refuses "
     "it too)"},
    {"aio_write", "off", "halo writes temporary files in the worker"},
    {"directio", "off",
     "halo reads files through the page cache with sendfile(); O_DIRECT reads without aio "
     "would block the worker"},
    {"postpone_output", "0",
     "halo writes a response head with the first body bytes and then as data comes, as "
     "\"postpone_output 0\" does; remove the line"},
};

}  // namespace

Status set_off_only(ConfContext& cf, HttpLocConf& conf) {
    for (const OffForm& f : kOffForms) {
        if (f.directive != cf.name()) {
            continue;
        }
        if (cf.arg(0) == f.off) {
            return Status::ok();
        }
        return cf.error("\"" + std::string(f.directive) + " " + cf.arg(0) +
                        "\" is not supported by halo: " + std::string(f.why) + " (only \"" +
                        std::string(f.directive) + " " + std::string(f.off) + "\" is accepted)");
    }
    return cf.error("\"" + std::string(cf.name()) + "\" is not supported by halo");
}

Status set_limit_rate(ConfContext& cf, HttpLocConf& conf) {
    std::optional<SizeValue>& slot =
        cf.name() == "limit_rate" ? conf.limit_rate : conf.limit_rate_after;
    if (slot) {
        return cf.duplicate();
    }
    SizeValue v;
    HALO_TRY(SizeValue::parse(cf, cf.arg(0), v));
    slot = std::move(v);
    return Status::ok();
}

Status set_output_buffers(ConfContext& cf, HttpLocConf& conf) {
    return cf.error(
        "\"output_buffers\" is not supported by halo: without sendfile halo reads a file into "
        "its connection buffer as the client takes it");
}

Status merge_request(const HttpLocConf& parent, HttpLocConf& child) {
    using namespace std::chrono_literals;
    child.internal = child.internal || parent.internal;  // nested locations too (nginx)
    core::inherit(child.server_tokens, parent.server_tokens, kServerTokensOn);
    core::inherit(child.log_not_found, parent.log_not_found, true);
    core::inherit(child.log_subrequest, parent.log_subrequest, false);
    core::inherit(child.recursive_error_pages, parent.recursive_error_pages, false);
    core::inherit(child.max_ranges, parent.max_ranges, INT32_MAX);
    core::inherit(child.if_modified_since, parent.if_modified_since, kImsExact);
    core::inherit(child.chunked_transfer_encoding, parent.chunked_transfer_encoding, true);
    core::inherit(child.msie_padding, parent.msie_padding, true);
    core::inherit(child.msie_refresh, parent.msie_refresh, false);
    if (!child.open_file_cache && !child.open_file_cache_off) {
        child.open_file_cache = parent.open_file_cache;
    }
    core::inherit(child.open_file_cache_valid, parent.open_file_cache_valid, 60s);
    core::inherit(child.open_file_cache_min_uses, parent.open_file_cache_min_uses, 1);
    core::inherit(child.open_file_cache_errors, parent.open_file_cache_errors, false);
    core::inherit(child.client_body_in_single_buffer, parent.client_body_in_single_buffer, false);
    core::inherit(child.directio_alignment, parent.directio_alignment, core::Size{512});
    core::inherit(child.limit_rate, parent.limit_rate, SizeValue{});
    core::inherit(child.limit_rate_after, parent.limit_rate_after, SizeValue{});
    return Status::ok();
}

Status merge_request(const HttpSrvConf& parent, HttpSrvConf& child) {
    core::inherit(child.merge_slashes, parent.merge_slashes, true);
    core::inherit(child.underscores_in_headers, parent.underscores_in_headers, false);
    core::inherit(child.ignore_invalid_headers, parent.ignore_invalid_headers, true);
    return Status::ok();
}

// ---- open_file_cache ----

struct OpenFileCache::Entry {
    std::string path;
    int fd = -1;  // kept open once used min_uses times
    int err = 0;  // the cached error (open_file_cache_errors on)
    struct stat st {};
    int uses = 0;
    std::chrono::steady_clock::time_point created;   // validated at
    std::chrono::steady_clock::time_point accessed;  // last use (inactive)
};

OpenFileCache::~OpenFileCache() {
    for (Entry& e : lru_) {
        if (e.fd >= 0) {
            ::close(e.fd);
        }
    }
}

void OpenFileCache::drop(std::list<Entry>::iterator it) {
    if (it->fd >= 0) {
        ::close(it->fd);
    }
    index_.erase(it->path);
    lru_.erase(it);
}

namespace {

OpenFileResult open_plain(const std::string& path) {
    OpenFileResult out;
    int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        out.err = errno;
        return out;
    }
    if (fstat(fd, &out.st) != 0) {
        out.err = errno;
        ::close(fd);
        return out;
    }
    out.fd = fd;
    return out;
}

bool same_file(const struct stat& a, const struct stat& b) {
    return a.st_ino == b.st_ino && a.st_dev == b.st_dev && a.st_mtime == b.st_mtime &&
           a.st_size == b.st_size;
}

}  // namespace

OpenFileResult OpenFileCache::open(const std::string& path, const HttpLocConf& lc) {
    auto now = std::chrono::steady_clock::now();
    // nginx expires a few inactive entries on each use.
    for (int i = 0; i < 2 && !lru_.empty() && now - lru_.back().accessed >= inactive; i++) {
        drop(std::prev(lru_.end()));
    }
    auto found = index_.find(path);
    if (found != index_.end()) {
        auto it = found->second;
        Entry& e = *it;
        if (now - e.created < *lc.open_file_cache_valid) {
            lru_.splice(lru_.begin(), lru_, it);
            e.accessed = now;
            e.uses++;
            OpenFileResult out;
            out.st = e.st;
            if (e.err != 0) {
                out.err = e.err;
                return out;
            }
            if (e.fd >= 0) {
                out.fd = fcntl(e.fd, F_DUPFD_CLOEXEC, 0);
                if (out.fd < 0) {
                    out.err = errno;
                }
                return out;
            }
            // Known but not kept open yet (fewer uses than min_uses): open it again.
        } else {
            // Revalidate: the same file (inode, mtime, size) keeps its descriptor.
            struct stat st;
            if (e.fd >= 0 && stat(path.c_str(), &st) == 0 && same_file(st, e.st)) {
                e.created = now;
                e.accessed = now;
                e.uses++;
                lru_.splice(lru_.begin(), lru_, it);
                OpenFileResult out;
                out.st = e.st;
                out.fd = fcntl(e.fd, F_DUPFD_CLOEXEC, 0);
                if (out.fd < 0) {
                    out.err = errno;
                }
                return out;
            }
            int uses = e.uses;
            drop(it);
            return insert(path, lc, now, uses);
        }
    }
    return insert(path, lc, now, found != index_.end() ? found->second->uses : 0);
}

OpenFileResult OpenFileCache::insert(const std::string& path, const HttpLocConf& lc,
                                     std::chrono::steady_clock::time_point now, int uses) {
    OpenFileResult out = open_plain(path);
    if (out.fd < 0 && !*lc.open_file_cache_errors) {
        auto known = index_.find(path);
        if (known != index_.end()) {
            drop(known->second);
        }
        return out;
    }
    auto known = index_.find(path);
    if (known == index_.end()) {
        while (lru_.size() >= max) {
            drop(std::prev(lru_.end()));  // the least recently used
        }
        lru_.emplace_front();
        lru_.front().path = path;
        index_[path] = lru_.begin();
    } else {
        lru_.splice(lru_.begin(), lru_, known->second);
    }
    Entry& e = lru_.front();
    e.uses = uses + 1;
    e.created = now;
    e.accessed = now;
    e.err = out.err;
    e.st = out.st;
    if (out.fd >= 0 && e.fd < 0 && e.uses >= *lc.open_file_cache_min_uses) {
        e.fd = fcntl(out.fd, F_DUPFD_CLOEXEC, 0);
    }
    return out;
}

OpenFileResult open_static_file(const Request& r, const std::string& path) {
    const auto& lc = r.loc_conf<HttpLocConf>();
    if (!lc.open_file_cache) {
        return open_plain(path);
    }
    return lc.open_file_cache->open(path, lc);
}

}  // namespace http

namespace http {

namespace {

struct Agent {
    bool msie = false;
    bool chrome = false;  // what nginx calls chrome: "Chrome/" in an agent that is not Gecko
};

/// nginx's reading of User-Agent (ngx_http_process_user_agent), for msie_padding and
/// msie_refresh.
Agent agent_of(const Request& r) {
    Agent a;
    const Header* h = r.find_header("User-Agent");
    if (h == nullptr) {
        return a;
    }
    std::string_view ua = h->value;
    size_t msie = ua.find("MSIE ");
    a.msie = msie != std::string_view::npos && msie + 7 < ua.size();
    bool opera = ua.find("Opera") != std::string_view::npos;
    if (opera) {
        a.msie = false;
    }
    if (!a.msie && !opera && ua.find("Gecko/") == std::string_view::npos) {
        a.chrome = ua.find("Chrome/") != std::string_view::npos;
    }
    return a;
}

}  // namespace

std::string_view content_type_of(const Request& r) {
    const HttpMainConf& main = r.session->port().main();
    if (main.type_of != nullptr) {
        std::string_view type = main.type_of(r, r.uri);
        if (!type.empty()) {
            return type;
        }
    }
    return *r.loc_conf<HttpLocConf>().default_type;
}

bool wants_error_padding(const Request& r, int status) {
    if (status < 400 || !*r.loc_conf<HttpLocConf>().msie_padding) {
        return false;
    }
    Agent a = agent_of(r);
    return a.msie || a.chrome;
}

std::string_view error_padding() {
    static const std::string kPadding = [] {
        std::string s;
        for (int i = 0; i < 6; i++) {
            s += "<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n";
        }
        return s;
    }();
    return kPadding;
}

std::optional<std::string> msie_refresh_body(const Request& r, int status,
                                             std::string_view location) {
    if ((status != 301 && status != 302) || location.empty() ||
        !*r.loc_conf<HttpLocConf>().msie_refresh || !agent_of(r).msie) {
        return std::nullopt;
    }
    std::string url = escape_bytes(location, "%", [](unsigned char c) {
        static constexpr std::string_view kEscaped = "\"'<>\\^`{|";
        return c <= 0x20 || c >= 0x7f || kEscaped.find(static_cast<char>(c)) != kEscaped.npos;
    });
    return "<html><head><meta http-equiv=\"Refresh\" content=\"0; URL=" + url +
           "\"></head><body></body></html>\r\n";
}

}  // namespace http
