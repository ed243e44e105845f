#pragma once

// The conf of the http_resolver module (`resolver`, `resolver_timeout` at the http, server and
// location levels), read by the modules that resolve names at run time (the proxy's
// `proxy_pass` with variables) through r.loc_conf<ResolverLocConf>(). Header only: a module
// that reads it requires http_resolver in its config fragment.

#include <memory>
#include <optional>

#include "core/conf_context.h"
#include "event/resolver.h"

namespace mod::resolver {

struct ResolverLocConf : core::ConfBase {
    /// The settings (resolver_timeout included), nullptr when no `resolver` applies here.
    std::shared_ptr<const ev::ResolverSpec> spec;
    // As written, until merge builds `spec`.
    std::shared_ptr<ev::ResolverSpec> written;
    std::optional<ev::Duration> timeout;  // resolver_timeout, 30s
};

/// Inherits `resolver` and `resolver_timeout` (30s) and builds `spec`.
core::Status merge(const ResolverLocConf& parent, ResolverLocConf& child);

}  // namespace mod::resolver
