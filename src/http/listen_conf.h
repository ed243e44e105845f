// The http core directives of connections and listening sockets (listen_conf.cc): `listen`
// and its parameters, `server_name`, tcp_nopush / tcp_nodelay / sendfile_max_chunk,
// keepalive_time / keepalive_disable, reset_timedout_connection, and nginx's hash sizing
// hints. They belong to the http module: its directive table appends kListenDirectives.
#pragma once

#include "core/conf_context.h"
#include "http/http.h"

namespace http {

core::Status set_listen(core::ConfContext& cf, HttpSrvConf& conf);
core::Status set_server_name(core::ConfContext& cf, HttpSrvConf& conf);
core::Status set_tcp_nopush(core::ConfContext& cf, HttpLocConf& conf);
core::Status set_tcp_nodelay(core::ConfContext& cf, HttpLocConf& conf);
core::Status set_sendfile_max_chunk(core::ConfContext& cf, HttpLocConf& conf);
core::Status set_keepalive_time(core::ConfContext& cf, HttpLocConf& conf);
core::Status set_keepalive_disable(core::ConfContext& cf, HttpLocConf& conf);
core::Status set_reset_timedout(core::ConfContext& cf, HttpLocConf& conf);
core::Status set_types_hash(core::ConfContext& cf, HttpLocConf& conf);
core::Status set_main_hash(core::ConfContext& cf, HttpMainConf& conf);

/// Makes the listening sockets and their ports from the servers' `listen` directives, as
/// nginx does: an address with a wildcard on its port (`listen 80` and `listen 127.0.0.1:80`)
/// shares the wildcard's socket unless it says `bind` (or another socket parameter), and the
/// servers are then told apart by the connection's local address.
core::Status build_ports(core::Cycle& cycle, HttpMainConf& main);

/// A hash sizing hint of nginx (`*_hash_max_size`, `*_hash_bucket_size`): a number as nginx's
/// num slot reads it, given once per level; what nginx's hash builder refuses whatever the
/// contents (a max_size of 0, a bucket larger than 64k) is refused too. It has no effect.
core::Status check_hash_hint(core::ConfContext& cf, std::optional<uint64_t>& field);

inline constexpr core::Directive kListenDirectives[] = {
    {"listen", core::kCtxServer, core::kArgs1ToN, core::setter<&set_listen>()},
    {"server_name", core::kCtxServer, core::kArgs1ToN, core::setter<&set_server_name>()},
    {"tcp_nopush", core::kCtxHttpAll, core::kArgs1, core::setter<&set_tcp_nopush>()},
    {"tcp_nodelay", core::kCtxHttpAll, core::kArgs1, core::setter<&set_tcp_nodelay>()},
    {"sendfile_max_chunk", core::kCtxHttpAll, core::kArgs1,
     core::setter<&set_sendfile_max_chunk>()},
    {"keepalive_time", core::kCtxHttpAll, core::kArgs1, core::setter<&set_keepalive_time>()},
    {"keepalive_disable", core::kCtxHttpAll, core::kArgs1ToN,
     core::setter<&set_keepalive_disable>()},
    {"reset_timedout_connection", core::kCtxHttpAll, core::kArgs1,
     core::setter<&set_reset_timedout>()},
    {"types_hash_max_size", core::kCtxHttpAll, core::kArgs1, core::setter<&set_types_hash>()},
    {"types_hash_bucket_size", core::kCtxHttpAll, core::kArgs1, core::setter<&set_types_hash>()},
    {"server_names_hash_max_size", core::kCtxHttp, core::kArgs1, core::setter<&set_main_hash>()},
    {"server_names_hash_bucket_size", core::kCtxHttp, core::kArgs1, core::setter<&set_main_hash>()},
    {"variables_hash_max_size", core::kCtxHttp, core::kArgs1, core::setter<&set_main_hash>()},
    {"variables_hash_bucket_size", core::kCtxHttp, core::kArgs1, core::setter<&set_main_hash>()},
};

}  // namespace http
