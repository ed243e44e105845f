#pragma once

#include "upstream/upstream.h"

namespace mod::upstream_least_conn {

/// The balancer `least_conn;` sets (for tests that build groups without a config).
const upstream::Balancer& least_conn_balancer();

}  // namespace mod::upstream_least_conn
