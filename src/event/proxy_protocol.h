// The PROXY protocol header a balancer in front sends first on each connection (HAProxy's
// spec, "The PROXY protocol", versions 1 and 2): the client's and the server's addresses as
// the balancer saw them. `listen ... proxy_protocol` (http and stream) requires it, as nginx
// does.
#pragma once

#include <cstddef>
#include <string_view>

#include "core/net.h"

namespace ev {

/// What a PROXY header said: the original client (`src`) and the address it connected to
/// (`dst`). `has_addrs` is false for "PROXY UNKNOWN" (v1) and LOCAL or unknown families (v2):
/// the connection's own addresses stand.
struct ProxyHeader {
    core::SockAddr src;
    core::SockAddr dst;
    bool has_addrs = false;
};

enum class ProxyParse { kIncomplete, kDone, kBad };

/// The longest PROXY header: v1 is at most 107 bytes, v2 16 + a 16-bit length.
inline constexpr size_t kMaxProxyHeader = 16 + 65535;

/// Parses a PROXY header at the start of `in`: kDone with its length in `consumed`,
/// kIncomplete when more bytes are needed, kBad when it is not one (nginx: "broken header").
ProxyParse parse_proxy_header(std::string_view in, ProxyHeader& out, size_t& consumed);

}  // namespace ev
