// The PROXY protocol header a balancer in front sends first on each connection (HAProxy's
// spec, "The PROXY protocol", versions 1 and 2): the client's and the server's addresses as
// the balancer saw them. `listen ... proxy_protocol` requires it, as nginx does.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "core/net.h"
#include "event/proxy_protocol.h"
#include "http/variables.h"

namespace http {

using ev::parse_proxy_header;
using ev::ProxyHeader;
using ev::ProxyParse;

/// $proxy_protocol_addr, $proxy_protocol_port, $proxy_protocol_server_addr,
/// $proxy_protocol_server_port (empty without a header).
std::vector<VariableDef> proxy_protocol_variables();

}  // namespace http
