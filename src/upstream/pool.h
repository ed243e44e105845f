#pragma once

// Per-worker pools of idle keepalive connections to upstream servers (`keepalive N;` in an
// upstream block): at most N idle connections per group and worker (with `adaptive`, as many
// as were recently busy at once, see Group::idle_cap), each closed when the server closes it,
// sends anything unasked, or stays idle keepalive_timeout. A pooled connection stays
// registered with the event loop: taking and putting back cost no system call.

#include <memory>
#include <string_view>

#include "core/net.h"
#include "event/connection.h"
#include "upstream/upstream.h"

namespace upstream {

/// An idle connection to `addr` of `group` made with `tag` ("" for plain TCP, tls_pool_tag()
/// for TLS: a TLS connection keeps its session and is reused only with the same settings),
/// or nullptr. `requests` gets how many requests it has carried.
std::unique_ptr<ev::Connection> pool_take(const upstream::Group& group, const core::SockAddr& addr,
                                          std::string_view tag, int& requests);
/// Keeps `conn` (which has carried `requests` requests) for reuse, or closes it when it has
/// served keepalive_requests. When the group's pool is full (Group::idle_cap), the oldest idle
/// connections are closed to make room. The connection's buffers are freed while it waits.
void pool_put(const upstream::Group& group, const core::SockAddr& addr, std::string_view tag,
              std::unique_ptr<ev::Connection> conn, int requests);
/// Closes `conn` from the event loop (never inside its own callback); events until then are
/// ignored.
void drop_connection(std::unique_ptr<ev::Connection> conn);
/// Closes every idle connection (the worker is leaving).
void pool_clear();
/// Idle connections of this worker (for tests and the status page).
size_t pool_size();
/// Idle connections of this worker to `group`.
size_t pool_size(const upstream::Group& group);

}  // namespace upstream
