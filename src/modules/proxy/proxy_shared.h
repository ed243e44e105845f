#pragma once

// What the upstream protocol modules (fastcgi, scgi, uwsgi) share with the proxy: the
// upstream-generic directives under their own prefix, set on the ProxyLocConf part of their
// conf by the proxy's own setters; and the CGI parameters (`*_param NAME value
// [if_not_empty]`, then the client's fields as HTTP_*) the three send.

#include <algorithm>
#include <array>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include "core/module.h"
#include "http/variables.h"
#include "modules/cache/cache_conf.h"
#include "modules/cache/cache_path.h"
#include "modules/proxy/proxy.h"
#include "tls/directive_rows.h"

namespace mod::proxy {

/// `fastcgi_param NAME value [if_not_empty];` (scgi_param, uwsgi_param).
struct CgiParam {
    std::string name;
    http::ComplexValue value;
    bool if_not_empty = false;
};
/// A deque: the values are registered by address.
using CgiParams = std::shared_ptr<std::deque<CgiParam>>;

/// The `*_param` setter's work: one more parameter in `params`.
core::Status add_cgi_param(core::ConfContext& cf, CgiParams& params);

/// The parameters of `r`: each of `params` evaluated (an `if_not_empty` one left out when
/// empty), then, with `pass_headers`, each client field as HTTP_NAME but those a parameter
/// sets, repeated ones joined (", ", "; " for Cookie) as nginx 1.23 does. `add` gets each.
template <class Add>
void cgi_params(const http::Request& r, const CgiParams& params, bool pass_headers, Add&& add);

/// "X-Forwarded-For" -> "HTTP_X_FORWARDED_FOR".
std::string cgi_header_name(std::string_view name);
/// The client's fields as (HTTP_NAME, value), joined, without those in `skip`.
std::vector<std::pair<std::string, std::string>> cgi_header_params(
    const http::Request& r, const std::vector<std::string>& skip);

/// A request that goes upstream for the cache (proxy_cache.cc): true, with the validators of
/// the expired entry when it is revalidated (else empty). Its client's conditional and range
/// fields are not passed (nginx's cache headers).
bool cache_upstream_fields(const http::Request& r, std::string& if_modified_since,
                           std::string& if_none_match);

template <class Add>
void cgi_params(const http::Request& r, const CgiParams& params, bool pass_headers, Add&& add) {
    std::vector<std::string> set_names;
    if (params) {
        std::string value;
        for (const CgiParam& p : *params) {
            value.clear();
            p.value.eval(r, value);
            if (p.if_not_empty && value.empty()) {
                continue;
            }
            add(std::string_view(p.name), std::string_view(value));
            if (p.name.size() > 5 && p.name.compare(0, 5, "HTTP_") == 0) {
                set_names.push_back(p.name);
            }
        }
    }
    std::string ims;
    std::string inm;
    if (cache_upstream_fields(r, ims, inm)) {
        for (std::string_view n :
             {"HTTP_IF_MODIFIED_SINCE", "HTTP_IF_UNMODIFIED_SINCE", "HTTP_IF_NONE_MATCH",
              "HTTP_IF_MATCH", "HTTP_RANGE", "HTTP_IF_RANGE"}) {
            if (std::find(set_names.begin(), set_names.end(), n) != set_names.end()) {
                continue;  // a *_param of the config sets it
            }
            if (n == "HTTP_IF_MODIFIED_SINCE" && !ims.empty()) {
                add(n, std::string_view(ims));
            } else if (n == "HTTP_IF_NONE_MATCH" && !inm.empty()) {
                add(n, std::string_view(inm));
            }
            set_names.emplace_back(n);
        }
    }
    if (pass_headers) {
        for (const auto& [name, value] : cgi_header_params(r, set_names)) {
            add(std::string_view(name), std::string_view(value));
        }
    }
}

/// The upstream-generic directives, in this order, under each module's names.
inline constexpr size_t kSharedDirectives = 23;
using SharedNames = std::array<std::string_view, kSharedDirectives>;

/// The directive rows for `names` (hide_header, pass_header, ignore_headers, connect_timeout,
/// send_timeout, read_timeout, buffering, request_buffering, intercept_errors,
/// pass_request_headers, pass_request_body, ignore_client_abort, socket_keepalive,
/// buffer_size, buffers, busy_buffers_size, max_temp_file_size, temp_path, limit_rate, bind,
/// next_upstream, next_upstream_tries, next_upstream_timeout), setting Conf (a ProxyLocConf).
template <class Conf>
constexpr std::array<core::Directive, kSharedDirectives> shared_directives(const SharedNames& n) {
    static_assert(std::is_base_of_v<ProxyLocConf, Conf>);
    // The proxy's setter, with Conf's tag: the framework hands it Conf's object.
    constexpr auto ours = [](core::Setter s) {
        s.tag = &core::ConfSlot<Conf>::tag;
        return s;
    };
    constexpr uint32_t kAll = core::kCtxHttpAll;
    using P = ProxyLocConf;
    return {{
        {n[0], kAll, core::kArgs1, ours(core::setter<&shared::hide_header>())},
        {n[1], kAll, core::kArgs1, ours(core::setter<&shared::pass_header>())},
        {n[2], kAll, core::kArgs1ToN, ours(core::setter<&shared::ignore_headers>())},
        {n[3], kAll, core::kArgs1, ours(core::slot<&P::connect_timeout>())},
        {n[4], kAll, core::kArgs1, ours(core::slot<&P::send_timeout>())},
        {n[5], kAll, core::kArgs1, ours(core::slot<&P::read_timeout>())},
        {n[6], kAll, core::kArgs1, ours(core::slot<&P::buffering>())},
        {n[7], kAll, core::kArgs1, ours(core::slot<&P::request_buffering>())},
        {n[8], kAll, core::kArgs1, ours(core::slot<&P::intercept_errors>())},
        {n[9], kAll, core::kArgs1, ours(core::slot<&P::pass_request_headers>())},
        {n[10], kAll, core::kArgs1, ours(core::slot<&P::pass_request_body>())},
        {n[11], kAll, core::kArgs1, ours(core::slot<&P::ignore_client_abort>())},
        {n[12], kAll, core::kArgs1, ours(core::slot<&P::socket_keepalive>())},
        {n[13], kAll, core::kArgs1, ours(core::slot<&P::buffer_size>())},
        {n[14], kAll, core::kArgs2, ours(core::setter<&shared::buffers>())},
        {n[15], kAll, core::kArgs1, core::setter_noconf<&shared::ignored>()},
        {n[16], kAll, core::kArgs1, ours(core::length_slot<&P::max_temp_file_size>())},
        {n[17], kAll, core::kArgs1, ours(core::slot<&P::temp_path>())},
        {n[18], kAll, core::kArgs1, ours(core::setter<&shared::limit_rate>())},
        {n[19], kAll, core::kArgs1To2, ours(core::setter<&shared::bind>())},
        {n[20], kAll, core::kArgs1ToN, ours(core::setter<&shared::next_upstream>())},
        {n[21], kAll, core::kArgs1, ours(core::slot<&P::next_upstream_tries, 0, 1000>())},
        {n[22], kAll, core::kArgs1, ours(core::slot<&P::next_upstream_timeout>())},
    }};
}

/// The names of the upstream-generic family for `p` ("fastcgi"), in shared_directives' order.
#define HALO_SHARED_NAMES(p)                                                                    \
    {                                                                                           \
        p "_hide_header", p "_pass_header", p "_ignore_headers", p "_connect_timeout",          \
            p "_send_timeout", p "_read_timeout", p "_buffering", p "_request_buffering",       \
            p "_intercept_errors", p "_pass_request_headers", p "_pass_request_body",           \
            p "_ignore_client_abort", p "_socket_keepalive", p "_buffer_size", p "_buffers",    \
            p "_busy_buffers_size", p "_max_temp_file_size", p "_temp_path", p "_limit_rate",   \
            p "_bind", p "_next_upstream", p "_next_upstream_tries", p "_next_upstream_timeout" \
    }

/// The cache family (nginx's <p>_cache_path, <p>_cache ... <p>_no_cache), in this order, under
/// each module's names: the cache layer's setters on Conf's `cache` (a ProxyLocConf's).
inline constexpr size_t kCacheDirectives = 17;
using CacheNames = std::array<std::string_view, kCacheDirectives>;

/// The names of the cache family for `p` ("fastcgi"): written out, the table is constexpr.
#define HALO_CACHE_NAMES(p)                                                                \
    {                                                                                      \
        p "_cache_path", p "_cache", p "_cache_key", p "_cache_valid", p "_cache_methods", \
            p "_cache_min_uses", p "_cache_bypass", p "_no_cache", p "_cache_use_stale",   \
            p "_cache_background_update", p "_cache_lock", p "_cache_lock_timeout",        \
            p "_cache_lock_age", p "_cache_revalidate", p "_cache_convert_head",           \
            p "_cache_max_range_offset", p "_cache_purge"                                  \
    }

template <class Conf>
constexpr std::array<core::Directive, kCacheDirectives> cache_directives(const CacheNames& n) {
    static_assert(std::is_base_of_v<ProxyLocConf, Conf>);
    constexpr uint32_t kAll = core::kCtxHttpAll;
    using namespace cache;
    return {{
        {n[0], core::kCtxHttp, core::kArgs2ToN, core::setter_noconf<&add_cache_path>()},
        {n[1], kAll, core::kArgs1, core::setter<&on<Conf, &set_cache>>()},
        {n[2], kAll, core::kArgs1, core::setter<&on<Conf, &set_key>>()},
        {n[3], kAll, core::kArgs1ToN, core::setter<&on<Conf, &set_valid>>()},
        {n[4], kAll, core::kArgs1ToN, core::setter<&on<Conf, &set_methods>>()},
        {n[5], kAll, core::kArgs1, core::setter<&on<Conf, &set_min_uses>>()},
        {n[6], kAll, core::kArgs1ToN, core::setter<&on<Conf, &set_conditions>>()},
        {n[7], kAll, core::kArgs1ToN, core::setter<&on<Conf, &set_conditions>>()},
        {n[8], kAll, core::kArgs1ToN, core::setter<&on<Conf, &set_use_stale>>()},
        {n[9], kAll, core::kArgs1, core::setter<&on<Conf, &set_flag>>()},
        {n[10], kAll, core::kArgs1, core::setter<&on<Conf, &set_flag>>()},
        {n[11], kAll, core::kArgs1, core::setter<&on<Conf, &set_time>>()},
        {n[12], kAll, core::kArgs1, core::setter<&on<Conf, &set_time>>()},
        {n[13], kAll, core::kArgs1, core::setter<&on<Conf, &set_flag>>()},
        {n[14], kAll, core::kArgs1, core::setter<&on<Conf, &set_flag>>()},
        {n[15], kAll, core::kArgs1, core::setter<&on<Conf, &set_max_range_offset>>()},
        {n[16], core::kCtxLocation, core::kArgs2, core::setter<&on<Conf, &set_purge>>()},
    }};
}

/// `fastcgi_pass` and the like: an address with a port, unix:/path, an upstream name, or a
/// value with variables (evaluated per request as the proxy evaluates its URL). `name`: the
/// directive, for messages.
core::Status set_protocol_pass(core::ConfContext& cf, ProxyLocConf& conf);

/// Sets each location whose conf (found by `conf_of`) has a pass to `handler`, as the proxy
/// does (an `if` or `limit_except` block passes as its location), and makes the temp paths
/// absolute and present.
/// `prefix` ("fastcgi"): the cache family's, whose key has no default (nginx); `purge`: the
/// content handler of its <prefix>_cache_purge locations (purge_handler<Conf>).
core::Status install_protocol(core::Cycle& cycle, ProxyLocConf& (*conf_of)(core::ConfVector&),
                              http::PhaseHandler handler, std::string_view prefix,
                              http::PhaseHandler purge);

/// The content handler of a protocol module: a location with a pass runs the proxy's
/// exchange with a new `CodecT` (the module's protocol).
template <class Conf, class CodecT>
http::Flow protocol_handler(http::Request& r) {
    const auto& c = r.loc_conf<Conf>();
    if (!c.pass) {
        return http::Flow::kDeclined;
    }
    return start(r, c, std::make_unique<CodecT>(c));
}

/// install_protocol() for the module whose loc conf is `Conf` and protocol `CodecT`.
template <class Conf, class CodecT>
core::Status install_protocol(core::Cycle& cycle, std::string_view prefix);

/// Removes the entry of the purge key of `c` (proxy_cache.cc): halo's <p>_cache_purge.
http::Flow cache_purge(http::Request& r, const cache::CacheLocConf& c);
template <class Conf>
http::Flow purge_handler(http::Request& r) {
    return cache_purge(r, r.loc_conf<Conf>().cache);
}

template <class Conf, class CodecT>
core::Status install_protocol(core::Cycle& cycle, std::string_view prefix) {
    return install_protocol(
        cycle, [](core::ConfVector& v) -> ProxyLocConf& { return core::conf_of<Conf>(v); },
        &protocol_handler<Conf, CodecT>, prefix, &purge_handler<Conf>);
}

}  // namespace mod::proxy
