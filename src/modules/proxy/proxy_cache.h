#pragma once

// The proxy's use of the cache layer (proxy_cache.cc): the lookup before the exchange, the
// hooks the exchange calls (request head, response head, body bytes, errors), and the purge
// handler. Internal to the proxy module.

#include <memory>
#include <optional>
#include <string>

#include "http/http.h"
#include "http/response_parse.h"
#include "modules/cache/cache_path.h"
#include "modules/proxy/proxy.h"

namespace mod::proxy::detail {

class CacheState;

/// The exchange with the upstream (proxy_request.cc): after the cache lookup, or once a
/// proxy_cache_lock wait is over.
/// `codec`: another protocol than HTTP (nullptr for HTTP).
http::Flow start_exchange(http::Request& r, const ProxyLocConf& c, const ProxyPass& pass,
                          std::unique_ptr<Codec> codec);

/// Before the exchange, for a location with proxy_cache: the answer from the cache (kDone), a
/// wait for another request filling the entry (kSuspend: the request goes on by itself), or
/// nullopt: on to the upstream (the request's CacheState says what to do with the answer).
/// A wait keeps `codec` (taken from the caller) for the exchange that follows it.
std::optional<http::Flow> cache_lookup(http::Request& r, const ProxyLocConf& c,
                                       const ProxyPass& pass, std::unique_ptr<Codec>& codec);

/// The request head for the upstream of a cached request: the client's conditional and
/// range fields dropped (nginx's cache headers), the validators of an expired entry added
/// (proxy_cache_revalidate), HEAD sent as GET (proxy_cache_convert_head).
void cache_request_head(http::Request& r, std::string& head);
/// Whether HEAD went upstream as GET (the response then has a body to read).
bool cache_converted_head(const http::Request& r);

/// The upstream's final head: true when the cache answers instead (a 304 that revalidated the
/// entry, or a stale entry for an error status in proxy_cache_use_stale); the caller drops the
/// upstream and is done.
/// With `act` false, only whether it would.
bool cache_answers(http::Request& r, const ProxyLocConf& c, const ProxyPass& pass,
                   const http::ParsedResponse& head, bool act);

/// The response may be stored: its writer, else nullptr.
CacheState* cache_store_begin(http::Request& r, const ProxyLocConf& c,
                              const http::ParsedResponse& head);
/// Body bytes of a response being stored.
void cache_write(CacheState& s, std::string_view data);
/// The whole body is in: the file goes into place.
void cache_store_end(CacheState& s);

/// proxy_cache_background_update: whether this request's exchange only refreshes the cache
/// (its client got the stale entry, the end of the response held back).
bool cache_background(const http::Request& r);
/// Ends a background update's request: the end of the stale answer goes out.
void cache_background_end(http::Request& r);

/// The exchange failed with `status` (502, 504): true when a stale entry answers instead
/// (proxy_cache_use_stale error, timeout, invalid_header).
bool cache_on_error(http::Request& r, const ProxyLocConf& c, const ProxyPass& pass, int status);

/// The content handler of a location with proxy_cache_purge.
http::Flow purge_handler(http::Request& r);

}  // namespace mod::proxy::detail
