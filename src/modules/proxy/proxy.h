#pragma once

// The proxy module's configuration and the per-request upstream exchange, shared by
// proxy_module.cc (directives, handler, variables) and proxy_request.cc (the exchange).

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/conf_context.h"
#include "http/http.h"
#include "http/response_parse.h"
#include "modules/proxy/proxy_ssl.h"
#include "upstream/upstream.h"

namespace mod::proxy {

using Millis = std::chrono::milliseconds;

/// `proxy_pass http://name[:port][/uri]` (or https://).
struct ProxyPass {
    std::string url;        // as written
    bool https = false;     // https://: TLS to the upstream (proxy_ssl_*)
    std::string host;       // "backend", "127.0.0.1:8080": $proxy_host, the default Host
    std::string port;       // "8080" ("80", or "443" for https, when absent): $proxy_port
    std::string authority;  // host:port for the implicit group, or the upstream name
    bool explicit_port = false;
    std::optional<std::string> uri;  // the URI part, when given ("/", "/app/")
    const upstream::Group* group = nullptr;
    std::string where;
    // From the enclosing location (postconfiguration): what the URI part replaces.
    std::string location_prefix;
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
};

struct ProxyLocConf : core::ConfBase {
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
    std::optional<std::string> temp_path;                    // proxy_temp
    std::optional<uint32_t> next_upstream;                   // error timeout
    std::optional<int> next_upstream_tries;                  // 0: no limit
    std::optional<Millis> next_upstream_timeout;             // 0: no limit
    std::shared_ptr<std::vector<Redirect>> redirects;        // default
    bool redirect_off = false;
    // https upstreams (proxy_ssl_*); the context is built in postconfiguration for locations
    // that proxy_pass https://, and shared by those with the same settings.
    std::optional<bool> ssl_verify;                 // off
    std::string ssl_verify_where;                   // of proxy_ssl_verify
    std::optional<int> ssl_verify_depth;            // 1
    std::optional<Placed> ssl_trusted_certificate;  // none
    std::optional<Placed> ssl_certificate;          // none
    std::optional<Placed> ssl_certificate_key;      // none
    std::optional<uint32_t> ssl_protocols;          // TLSv1.2 TLSv1.3
    std::optional<Placed> ssl_ciphers;              // DEFAULT
    std::optional<bool> ssl_server_name;            // off
    std::optional<bool> ssl_session_reuse;          // on
    std::shared_ptr<http::ComplexValue> ssl_name;   // $proxy_host when not set
    std::shared_ptr<ClientContext> ssl;

    // proxy_headers_hash_max_size / _bucket_size: nginx's sizing hints, checked, no effect.
    std::optional<uint64_t> headers_hash_max_size;
    std::optional<uint64_t> headers_hash_bucket_size;
};

core::Status merge(const ProxyLocConf& parent, ProxyLocConf& child);

/// The request head for the upstream: method, URI (nginx's replacement rules), the
/// proxy_set_header fields, the client's fields but the hop-by-hop ones, Content-Length of
/// a buffered body; of a `streamed` one (proxy_request_buffering off) the client's
/// Content-Length, or "Transfer-Encoding: chunked" for a chunked one.
std::string request_head(const http::Request& r, const ProxyLocConf& c, bool streamed);
/// Adds the upstream's fields to the response (hop-by-hop, framing and hidden ones dropped,
/// Location and Refresh rewritten by proxy_redirect); returns its Content-Type.
std::string_view pass_response_headers(http::Request& r, const ProxyLocConf& c,
                                       const http::ParsedResponse& head);
/// Whether the proxy drops a response field (hop-by-hop, framing, nginx's hidden ones,
/// proxy_hide_header) unless proxy_pass_header lets it through.
bool skip_response_header(std::string_view name, const ProxyLocConf& c);

/// The content handler of a location with proxy_pass: starts the exchange.
http::Flow start(http::Request& r, const ProxyLocConf& conf);

}  // namespace mod::proxy
