#pragma once

// A location's cache settings (`proxy_cache`, `proxy_cache_key`, ... and the same family of
// another module with its own prefix): the struct a module's loc conf embeds, its merge, and
// setters that look only at what follows the prefix of the directive's name, so that
// `fastcgi_cache_valid` is one more row calling the same setter.

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/conf_context.h"
#include "http/http.h"
#include "http/variables.h"
#include "modules/cache/cache_path.h"

namespace mod::cache {

/// proxy_cache_use_stale conditions (nginx's names; the same bits as proxy_next_upstream's
/// where both have them, plus updating).
enum UseStale : uint32_t {
    kStaleError = 1u << 0,
    kStaleTimeout = 1u << 1,
    kStaleInvalidHeader = 1u << 2,
    kStaleHttp500 = 1u << 3,
    kStaleHttp502 = 1u << 4,
    kStaleHttp503 = 1u << 5,
    kStaleHttp504 = 1u << 6,
    kStaleHttp403 = 1u << 7,
    kStaleHttp404 = 1u << 8,
    kStaleHttp429 = 1u << 9,
    kStaleUpdating = 1u << 10,
    kStaleOff = 1u << 11,
};

/// proxy_cache_methods bits.
enum CacheMethod : uint32_t { kMethodGet = 1, kMethodHead = 2, kMethodPost = 4 };

/// One `proxy_cache_valid [code ...] time;` rule (code 0: any).
struct ValidRule {
    int code = 0;
    int64_t seconds = 0;
};

/// A location's cache settings.
struct CacheLocConf {
    // proxy_cache: a zone name, off, or a value with variables.
    bool cache_set = false;
    bool off = false;
    std::string zone_name;
    std::shared_ptr<http::ComplexValue> zone_value;
    CachePath* path = nullptr;  // the named zone's (postconfiguration)
    std::string where;          // of proxy_cache

    std::shared_ptr<http::ComplexValue> key;  // proxy_cache_key
    std::shared_ptr<std::vector<ValidRule>> valid;
    std::optional<uint32_t> methods;  // GET HEAD
    std::optional<int64_t> min_uses;  // 1
    std::shared_ptr<std::deque<http::ComplexValue>> bypass;
    std::shared_ptr<std::deque<http::ComplexValue>> no_cache;
    std::optional<uint32_t> use_stale;  // off
    std::optional<bool> background_update;
    std::optional<bool> lock;
    std::optional<std::chrono::milliseconds> lock_timeout;  // 5s
    std::optional<std::chrono::milliseconds> lock_age;      // 5s
    std::optional<bool> revalidate;
    std::optional<bool> convert_head;  // on
    std::optional<uint64_t> max_range_offset;
    // proxy_cache_purge zone key: this location removes the key's entry.
    std::shared_ptr<http::ComplexValue> purge_key;
    std::string purge_zone;
    CachePath* purge_path = nullptr;

    /// Whether a cache (or a variable naming one) is on here.
    bool enabled() const { return !off && (!zone_name.empty() || zone_value != nullptr); }
};

void merge(const CacheLocConf& parent, CacheLocConf& child);

/// The setters: `cf.name()` is "<prefix>_cache", "<prefix>_cache_key", ...
core::Status set_cache(core::ConfContext& cf, CacheLocConf& c);
core::Status set_key(core::ConfContext& cf, CacheLocConf& c);
core::Status set_valid(core::ConfContext& cf, CacheLocConf& c);
core::Status set_methods(core::ConfContext& cf, CacheLocConf& c);
core::Status set_min_uses(core::ConfContext& cf, CacheLocConf& c);
core::Status set_conditions(core::ConfContext& cf, CacheLocConf& c);  // _bypass, no_cache
core::Status set_use_stale(core::ConfContext& cf, CacheLocConf& c);
core::Status set_flag(core::ConfContext& cf, CacheLocConf& c);  // on|off ones
core::Status set_time(core::ConfContext& cf, CacheLocConf& c);  // lock_timeout, lock_age
core::Status set_max_range_offset(core::ConfContext& cf, CacheLocConf& c);
core::Status set_purge(core::ConfContext& cf, CacheLocConf& c);

/// The setter of a directive row for a conf type `T` with a `CacheLocConf cache` member:
/// `core::setter<&cache::on<ProxyLocConf, &cache::set_key>>()`.
template <class T, core::Status (*F)(core::ConfContext&, CacheLocConf&)>
core::Status on(core::ConfContext& cf, T& conf) {
    return F(cf, conf.cache);
}

/// Postconfiguration for one location: resolves the zone names (an error names the directive
/// and its place), the default key `default_key` when none is set ("" : the key is required,
/// as for fastcgi_cache).
core::Status resolve(core::Cycle& cycle, CacheLocConf& c, std::string_view prefix,
                     std::string_view default_key);

/// The conditions of proxy_cache_bypass / proxy_no_cache: true when one is neither empty nor
/// "0".
bool any_condition(const http::Request& r, const std::deque<http::ComplexValue>* conds);

/// The validity of a response with `status` by proxy_cache_valid (0: not cached).
int64_t valid_for(const CacheLocConf& c, int status);

}  // namespace mod::cache
