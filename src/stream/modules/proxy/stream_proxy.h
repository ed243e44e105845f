#pragma once

// The stream proxy (nginx's ngx_stream_proxy_module): `proxy_pass` to an upstream group or an
// address; a TCP session is relayed both ways (splice(2) through a pipe when neither side is
// TLS), a UDP session's datagrams go out on a connected socket and the replies come back
// from the listening socket.

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "core/conf_context.h"
#include "core/log.h"
#include "core/net.h"
#include "stream/stream.h"
#include "tls/client_conf.h"
#include "upstream/upstream.h"

namespace mod::stream_proxy {

using Millis = std::chrono::milliseconds;

/// The proxy_ssl_* fields shared with http (tls::ClientConf) and the rest.
struct ProxyConf : tls::ClientConf {
    const upstream::Group* group = nullptr;            // proxy_pass name|address
    std::unique_ptr<stream::ComplexValue> pass_value;  // proxy_pass with variables
    std::string pass_where;
    std::optional<Millis> connect_timeout;        // 60s
    std::optional<Millis> timeout;                // 10m
    std::optional<bool> next_upstream;            // on
    std::optional<int64_t> next_upstream_tries;   // 0: no limit
    std::optional<Millis> next_upstream_timeout;  // 0: no limit
    std::optional<bool> proxy_protocol;           // off
    std::optional<core::Size> buffer_size;        // 16k
    std::optional<int64_t> responses;             // UDP: replies per datagram session (unset: any)
    std::optional<int64_t> requests;              // UDP: datagrams per session (0: any)
    std::optional<bool> half_close;               // off
    std::optional<bool> socket_keepalive;         // off
    std::optional<core::SockAddr> bind;           // proxy_bind (unset or off: none)
    bool bind_set = false;
    std::optional<core::Size> download_rate;         // bytes/s read from the upstream (0: no limit)
    std::optional<core::Size> upload_rate;           // bytes/s read from the client (0: no limit)
    std::string rate_where;                          // the first rate directive's file:line
    std::optional<bool> ssl_enable;                  // proxy_ssl: off
    std::shared_ptr<stream::ComplexValue> ssl_name;  // proxy_ssl_name: proxy_pass's host
};
core::Status merge(const ProxyConf& parent, ProxyConf& child);

/// Starts proxying a TCP session to `group` (the content handler's TCP half; tcp_proxy.cc).
void start_tcp(stream::Session& s, const ProxyConf& conf, const upstream::Group& group);
/// Starts proxying a UDP session (udp_proxy.cc).
void start_udp(stream::Session& s, const ProxyConf& conf, const upstream::Group& group);

// ---- TLS to the upstream (stream_proxy_ssl.cc) ----

/// The proxy_ssl and proxy_ssl_name directive rows (the rest: tls::client_directives).
extern const std::array<core::Directive, 2> kSslDirectives;
/// proxy_ssl's part of the merge.
void merge_ssl(const ProxyConf& parent, ProxyConf& child);
/// A client context for every server with `proxy_ssl on` (equal settings share one).
core::Status make_ssl_contexts(core::Cycle& cycle);
/// The name the upstream is verified against and sent in SNI: proxy_ssl_name, else the host
/// of proxy_pass (the group's name without a port).
std::string upstream_ssl_name(stream::Session& s, const ProxyConf& conf,
                              const upstream::Group& group);

/// The `hash` key of a stream group for session `s` (left as is when the group has none).
void hash_key(stream::Session& s, const upstream::Group& group, std::string& out);

/// "client: 1.2.3.4, server: 0.0.0.0:53, upstream: ..." for log lines, as nginx ends them.
std::string log_context(stream::Session& s, const upstream::Peer* peer);

/// What the TCP and UDP halves of a session share (their base): the session, its conf, the
/// group and the peers tried, nginx's proxy_next_upstream accounting and log lines.
class PeerAttempts {
  protected:
    PeerAttempts(stream::Session& s, const ProxyConf& conf, const upstream::Group& group);
    ~PeerAttempts() = default;

    /// Picks the next peer and counts the attempt; false when none is live (logged as nginx:
    /// "no live upstreams while connecting to upstream").
    bool acquire_peer();
    /// Gives the peer of this attempt back with `outcome` (once).
    void release(upstream::Outcome outcome);
    /// After a failed attempt: whether another peer may be tried (proxy_next_upstream, a peer
    /// not tried yet, proxy_next_upstream_tries, proxy_next_upstream_timeout).
    bool may_try_next() const;
    /// Logs `what` with the session's client, server and upstream.
    void log(core::LogLevel level, const std::string& what);

    stream::Session& s_;
    const ProxyConf& c_;
    const upstream::Group& group_;
    upstream::PickContext pick_;
    upstream::Peer peer_;
    bool released_ = true;
    int tries_ = 0;
    int64_t first_ms_ = 0;
    int64_t attempt_ms_ = 0;
};

}  // namespace mod::stream_proxy
