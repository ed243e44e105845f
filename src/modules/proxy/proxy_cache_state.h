#pragma once

// The state of a request that uses proxy_cache (a request ctx) and the helpers the lookup
// (proxy_cache.cc) and the storing (proxy_cache_store.cc) share. Internal to the proxy module.

#include <unistd.h>

#include <memory>
#include <string>
#include <string_view>

#include "event/loop.h"
#include "http/http.h"
#include "modules/cache/cache_path.h"
#include "modules/proxy/proxy.h"

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

/// Unix seconds.
int64_t now_s();
/// $upstream_cache_status and the zone's counter of `status`.
void mark(http::Request& r, cache::CachePath& p, std::string_view status);
/// The request's values of the Vary fields `names` (comma-separated), as a key suffix.
std::string vary_suffix(const http::Request& r, std::string_view names);
/// The field names of a Vary value, lower case, trimmed, comma-separated.
std::string vary_names_of(std::string_view v);
/// Answers `r` with the expired entry `s` holds (the claim to refresh it let go).
bool serve_old(http::Request& r, const ProxyLocConf& c, const ProxyPass& pass, CacheState& s);

}  // namespace mod::proxy::detail
