#pragma once

// Error logs of http, server and location levels (nginx's error_log in ngx_http_core_module)
// and the lines about a request, written with nginx's context.

#include "core/conf_context.h"
#include "core/log.h"

namespace http {

struct Request;
struct HttpLocConf;
struct ServerBlock;

/// `error_log file|stderr|syslog:... [level]` at http, server or location level: several
/// lines of one level add up; a level without any uses the enclosing level's (the main
/// error log at the top).
core::Status set_error_log(core::ConfContext& cf, HttpLocConf& conf);

/// The error log for messages about `r`: the innermost level's (the matched location's, else
/// its server's), else the main error log.
const core::Log& request_log(const Request& r);
/// The error log of a server's level (for a connection whose request is not known yet).
const core::Log& server_log(const ServerBlock* server);

/// Logs `fmt` about `r` to request_log(r), with nginx's "*N " connection number and context
/// (`, client: ..., server: ..., request: "...", upstream: "...", host: "..."`).
void log_error(const Request& r, core::LogLevel level, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));

}  // namespace http
