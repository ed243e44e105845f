#pragma once

// The proxy module's configuration and the per-request upstream exchange, shared by
// proxy_module.cc (directives, handler, variables) and proxy_request.cc (the exchange).

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/conf_context.h"
#include "http/http.h"
#include "http/regex.h"
#include "http/response_parse.h"
#include "modules/cache/cache_conf.h"
#include "modules/proxy/proxy_codec.h"
#include "tls/client_conf.h"
#include "tls/client_context.h"
#include "upstream/upstream.h"

namespace mod::proxy {

// TLS to upstreams: the tls layer's, shared with the stream proxy.
using tls::ClientContext;
using tls::make_client_context;
using tls::Placed;
using tls::ssl_name_without_port;
using tls::SslClientSettings;
using tls::start_tls;
using tls::tls_check_peer;
using tls::tls_handshake_error;
using tls::tls_pool_tag;

using Millis = std::chrono::milliseconds;

/// `proxy_pass http://name[:port][/uri]` (or https://).
struct ProxyPass {
    std::string url;        // as written
    bool https = false;     // https://: TLS to the upstream (proxy_ssl_*)
    std::string host;       // "backend", "127.0.0.1:8080": $proxy_host, the default Host
    std::string port;       // "8080" ("80", or "443" for https, when absent): $proxy_port
    std::string authority;  // host:port for the implicit group, or the upstream name
    bool explicit_port = false;
    bool unix_socket = false;        // http://unix:/path.sock:/uri (authority "unix:/path.sock")
    std::optional<std::string> uri;  // the URI part, when given ("/", "/app/")
    const upstream::Group* group = nullptr;
    std::string where;
    // With variables (`proxy_pass http://$backend`): the URL, evaluated per request into a
    // ProxyPass of its own; a URI part then replaces the whole request URI (nginx).
    std::shared_ptr<http::ComplexValue> value;
    bool dynamic = false;  // this one was made from `value` for a request
    const core::Cycle* cycle = nullptr;
    // From the enclosing location (postconfiguration): what the URI part replaces.
    std::string location_prefix;
};

/// A request's own ProxyPass, evaluated from a proxy_pass with variables, and the group of
/// the addresses its host resolved to (when it names no upstream group).
struct RequestPass : http::RequestCtx {
    ProxyPass pass;
    std::unique_ptr<upstream::Group> group;
};

/// proxy_next_upstream conditions (nginx's names).
enum NextUpstream : uint32_t {
    kNextError = 1u << 0,
    kNextTimeout = 1u << 1,
    kNextInvalidHeader = 1u << 2,
    kNextHttp500 = 1u << 3,
    kNextHttp502 = 1u << 4,
    kNextHttp503 = 1u << 5,
    kNextHttp504 = 1u << 6,
    kNextHttp403 = 1u << 7,
    kNextHttp404 = 1u << 8,
    kNextHttp429 = 1u << 9,
    kNextNonIdempotent = 1u << 10,
    kNextOff = 1u << 11,
};

/// `proxy_set_header name value;`
struct SetHeader {
    std::string name;
    http::ComplexValue value;
};

/// `proxy_redirect default | off | redirect replacement;`
struct Redirect {
    std::string from;  // empty with `is_default`: computed from proxy_pass and the location
    std::string to;
    bool is_default = false;
    std::string where;  // of the directive (empty for the implicit default)
    // `~regex` / `~*regex` (matched against the whole value), or text with variables; the
    // replacement with variables (and the regex's captures). Shared: registered by address.
    std::shared_ptr<http::Regex> regex;
    std::shared_ptr<http::ComplexValue> from_value;
    std::shared_ptr<http::ComplexValue> to_value;
};

/// proxy_ignore_headers: the upstream fields whose special meaning is ignored.
enum IgnoreHeader : uint32_t {
    kIgnoreXAccelRedirect = 1u << 0,
    kIgnoreXAccelExpires = 1u << 1,
    kIgnoreXAccelLimitRate = 1u << 2,
    kIgnoreXAccelBuffering = 1u << 3,
    kIgnoreXAccelCharset = 1u << 4,
    kIgnoreExpires = 1u << 5,
    kIgnoreCacheControl = 1u << 6,
    kIgnoreSetCookie = 1u << 7,
    kIgnoreVary = 1u << 8,
};

/// One `proxy_cookie_domain` / `proxy_cookie_path` rule: a text (with variables) or a regex
/// (`~`, `~*`), and the replacement.
struct CookieRewrite {
    std::shared_ptr<http::Regex> regex;  // nullptr: `pattern` is text
    http::ComplexValue pattern;
    http::ComplexValue replacement;
};

/// One `proxy_cookie_flags cookie flag...;` rule.
struct CookieFlags {
    std::shared_ptr<http::Regex> regex;  // `~name`: cookies whose name matches
    http::ComplexValue name;
    int secure = 0;  // 1 add, -1 remove, 0 leave
    int httponly = 0;
    int samesite = 0;            // 1 set to samesite_value, -1 remove
    std::string samesite_value;  // "Strict", "Lax", "None"
};

/// `proxy_bind address | off`.
struct ProxyBind {
    bool off = false;
    std::optional<core::SockAddr> addr;         // a literal address
    std::shared_ptr<http::ComplexValue> value;  // one with variables
};

/// The proxy_ssl_* fields (tls::ClientConf, shared with the stream proxy) and the rest.
struct ProxyLocConf : tls::ClientConf {
    std::shared_ptr<ProxyPass> pass;  // not inherited: a location proxies only if it says so
    std::optional<int> http_minor;    // proxy_http_version 1.0
    std::shared_ptr<std::vector<std::unique_ptr<SetHeader>>> set_headers;
    std::shared_ptr<std::vector<std::string>> hide_headers;  // lower case
    std::shared_ptr<std::vector<std::string>> pass_headers;  // lower case
    std::optional<Millis> connect_timeout;                   // 60s
    std::optional<Millis> send_timeout;                      // 60s
    std::optional<Millis> read_timeout;                      // 60s
    std::optional<bool> buffering;                           // on
    std::optional<bool> request_buffering;                   // on
    std::optional<bool> intercept_errors;                    // off
    std::optional<bool> pass_request_headers;                // on
    std::optional<bool> pass_request_body;                   // on
    std::optional<core::Size> buffer_size;                   // 4k: the response head limit
    std::optional<core::Size> buffers_total;                 // proxy_buffers 8 4k
    std::optional<core::Size> max_temp_file_size;            // 1024m
    std::optional<http::SizeValue> limit_rate;               // proxy_limit_rate 0: none
    std::optional<std::string> temp_path;                    // proxy_temp
    std::optional<uint32_t> next_upstream;                   // error timeout
    std::optional<int> next_upstream_tries;                  // 0: no limit
    std::optional<Millis> next_upstream_timeout;             // 0: no limit
    std::shared_ptr<std::vector<Redirect>> redirects;        // default
    bool redirect_off = false;
    // https upstreams: proxy_ssl_name ($proxy_host when not set); the other proxy_ssl_* are
    // tls::ClientConf's, the context (ssl) built in postconfiguration for locations that
    // proxy_pass https://.
    std::shared_ptr<http::ComplexValue> ssl_name;
    std::shared_ptr<http::ComplexValue> method;    // proxy_method (nullptr: the client's)
    std::shared_ptr<http::ComplexValue> set_body;  // proxy_set_body
    std::optional<bool> socket_keepalive;          // off
    std::shared_ptr<ProxyBind> bind;               // proxy_bind (nullptr: not set)
    std::optional<bool> ignore_client_abort;       // off
    std::optional<bool> pass_trailers;             // off
    std::optional<uint32_t> ignore_headers;        // none
    // proxy_cookie_domain / _path / _flags: nullptr when not set here; empty when `off`. A
    // deque: the values are registered by address.
    std::shared_ptr<std::deque<CookieRewrite>> cookie_domains;
    std::shared_ptr<std::deque<CookieRewrite>> cookie_paths;
    std::shared_ptr<std::deque<CookieFlags>> cookie_flags;
    // proxy_cache, proxy_cache_key, proxy_cache_valid, ... (the cache layer's settings).
    cache::CacheLocConf cache;

    // proxy_headers_hash_max_size / _bucket_size: nginx's sizing hints, checked, no effect.
    std::optional<uint64_t> headers_hash_max_size;
    std::optional<uint64_t> headers_hash_bucket_size;
};

core::Status merge(const ProxyLocConf& parent, ProxyLocConf& child);

/// The request head for the upstream: method, URI (nginx's replacement rules), the
/// proxy_set_header fields, the client's fields but the hop-by-hop ones, Content-Length of
/// a buffered body; of a `streamed` one (proxy_request_buffering off) the client's
/// Content-Length, or "Transfer-Encoding: chunked" for a chunked one.
std::string request_head(const http::Request& r, const ProxyLocConf& c, const ProxyPass& pass,
                         bool streamed, const std::string* set_body = nullptr);
/// A Set-Cookie value rewritten by proxy_cookie_domain, proxy_cookie_path and
/// proxy_cookie_flags (proxy_cookie.cc).
std::string rewrite_set_cookie(const http::Request& r, const ProxyLocConf& c,
                               std::string_view value);
/// Adds the upstream's fields to the response (hop-by-hop, framing and hidden ones dropped,
/// Location and Refresh rewritten by proxy_redirect); returns its Content-Type.
std::string_view pass_response_headers(http::Request& r, const ProxyLocConf& c,
                                       const ProxyPass& pass, const http::ParsedResponse& head);
/// A `proxy_bind` address: an IP, with a port or not ("10.0.0.1", "[::1]:4000").
std::optional<core::SockAddr> parse_bind_address(std::string_view text);
/// Setters of proxy_cookie.cc.
core::Status set_cookie_domain(core::ConfContext& cf, ProxyLocConf& conf);
core::Status set_cookie_path(core::ConfContext& cf, ProxyLocConf& conf);
core::Status set_cookie_flags(core::ConfContext& cf, ProxyLocConf& conf);
/// Splits `url` ("http://host[:port][/uri]", or https) into `p` (url, https, host, port,
/// authority, explicit_port, uri); false with nginx's reason in `error` when it is not one.
bool parse_pass_url(std::string_view url, ProxyPass& p, std::string& error);
/// Whether the proxy drops a response field (hop-by-hop, framing, nginx's hidden ones,
/// proxy_hide_header) unless proxy_pass_header lets it through.
bool skip_response_header(std::string_view name, const ProxyLocConf& c);

/// The proxy_* setters that the other upstream protocols' modules reuse for their own
/// directives (fastcgi_buffers, scgi_hide_header, ...): their confs are ProxyLocConfs.
namespace shared {
core::Status hide_header(core::ConfContext& cf, ProxyLocConf& c);
core::Status pass_header(core::ConfContext& cf, ProxyLocConf& c);
core::Status buffers(core::ConfContext& cf, ProxyLocConf& c);
core::Status limit_rate(core::ConfContext& cf, ProxyLocConf& c);
core::Status ignore_headers(core::ConfContext& cf, ProxyLocConf& c);
core::Status bind(core::ConfContext& cf, ProxyLocConf& c);
core::Status next_upstream(core::ConfContext& cf, ProxyLocConf& c);
/// *_busy_buffers_size: accepted for nginx configs, halo sizes these itself.
core::Status ignored(core::ConfContext& cf);
}  // namespace shared

/// The content handler of a location with proxy_pass (or fastcgi_pass, ...: `codec` speaks
/// that protocol): starts the exchange.
http::Flow start(http::Request& r, const ProxyLocConf& conf,
                 std::unique_ptr<Codec> codec = nullptr);

}  // namespace mod::proxy
