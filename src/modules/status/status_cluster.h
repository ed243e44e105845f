#pragma once

// The cluster view's part of the http_status module: the directives `node_name` (http) and
// `status_peers`, `status_peers_timeout`, `status_peers_valid` (a status location), their
// confs, and what the status handler calls: wait for the peers' pages, then the view's JSON.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/conf_context.h"
#include "core/cycle.h"
#include "http/http.h"
#include "modules/status/cluster.h"
#include "modules/status/cluster_fetch.h"

namespace mod::status {

/// A status location's peers (a member of the location's status conf: not inherited, as
/// `status` itself is not).
struct ClusterLocConf {
    std::vector<PeerUrl> urls;
    std::string where;                                 // of status_peers
    std::optional<std::chrono::milliseconds> timeout;  // status_peers_timeout, 1s
    std::optional<std::chrono::milliseconds> valid;    // status_peers_valid, 1s
    /// Made in each process at its first use (a worker's own requests and results).
    mutable std::unique_ptr<PeerSet> peers;
};

/// `node_name NAME;` into `out`.
core::Status set_node_name(core::ConfContext& cf, std::optional<std::string>& out);
core::Status set_status_peers(core::ConfContext& cf, ClusterLocConf& lc);

/// The node's name: `configured` (node_name), else the host name.
std::string node_name(const std::optional<std::string>& configured);

/// postconfiguration: a status_peers location that is no status page is an error.
core::Status check_peers(const ClusterLocConf& lc, bool status_page);

/// For the status handler of a JSON page: kSuspend while the peers' pages are being fetched
/// (the handler runs again when they are in), else nullopt (go on: fresh results, no peers, or
/// `?peers=off`, which a node asks its peers with).
std::optional<http::Flow> wait_for_peers(http::Request& r, const ClusterLocConf& lc);

/// The "cluster" member for the page (this node and its peers compared); "" without peers.
std::string cluster_view_json(const http::Request& r, const ClusterLocConf& lc,
                              const Snapshot& self);

}  // namespace mod::status
