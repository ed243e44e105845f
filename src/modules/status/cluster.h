#pragma once

// The cluster view of the status page (docs/status.md, "Cluster view"): each node's status
// page can show its peers' VRRP instances and upstream servers beside its own, fetched by
// the node from the peers' status URLs (`status_peers`), so that a split-brain (two masters
// of one virtual router) or a node that sees an upstream server otherwise stands out.
//
// This file holds the parts without I/O: the peer URL, a small JSON reader for the peers'
// pages, a node's view taken from a page (or from this node's own Snapshot), the analysis
// and its JSON. cluster_fetch.h fetches the pages.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/net.h"
#include "modules/status/status.h"

namespace mod::status {

/// One `status_peers` URL: http://host[:port][/path], the host an IP address or a name
/// resolved when the configuration is read.
struct PeerUrl {
    std::string text;  // as written
    std::string host;  // the Host field sent
    std::string path;  // "/status" ("/" when none), query kept
    core::SockAddr addr;
};

/// Parses `text`; nullopt with `err` set ("invalid URL prefix", "no host", ...).
std::optional<PeerUrl> parse_peer_url(std::string_view text, std::string& err);

/// The request a node sends for a peer's page: its JSON, without that peer's own peers.
std::string peer_request(const PeerUrl& url);

/// A parsed JSON value (RFC 8259), enough to read a status page.
struct JsonValue {
    enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
    Type type = Type::kNull;
    bool boolean = false;
    double number = 0;
    std::string string;
    std::vector<JsonValue> items;                            // array
    std::vector<std::pair<std::string, JsonValue>> members;  // object, in order

    /// The member `key` of an object, or a null value.
    const JsonValue& operator[](std::string_view key) const;
    const std::string& str() const { return string; }
    int64_t integer() const { return static_cast<int64_t>(number); }
};

/// Parses a whole document; nullopt when it is not valid JSON (or nests deeper than 64).
std::optional<JsonValue> parse_json(std::string_view text);
/// Writes `v` back as compact JSON (numbers as %.17g, integers without a fraction).
void write_json(std::string& out, const JsonValue& v);

/// One upstream server as a node sees it.
struct ClusterPeerState {
    std::string upstream;
    std::string block;  // "http" or "stream"
    std::string server;
    std::string state;        // up, down, backup, draining
    std::string down_reason;  // config, health_check, failures; "" when not down
};

/// One node of the cluster: this one (from its Snapshot) or a peer (from its page).
struct NodeView {
    std::string node;  // its node_name ("" when unknown: a peer that could not be read)
    std::string url;   // "" for this node
    bool self = false;
    bool reachable = false;
    std::string error;       // why a peer could not be read
    int64_t fetched_ms = 0;  // Unix ms of the page
    std::vector<VrrpView> vrrp;
    std::vector<ClusterPeerState> upstreams;
    /// The page's `anycast` member as it came (the anycast module's state), compact JSON;
    /// "" when the page has none.
    std::string anycast;
};

/// Fills `out` from a peer's JSON page; false (with `out.error`) when it is not one.
bool node_from_page(const JsonValue& page, NodeView& out);
/// This node's view, from its own Snapshot (its JSON read back: what a peer would see).
NodeView node_from_snapshot(const Snapshot& s, const std::string& node);

/// A virtual router (VRID) that more than one reachable node calls MASTER.
struct SplitBrain {
    int vrid = 0;
    std::vector<std::string> masters;  // nodes
};

/// An upstream server that the reachable nodes see in different states.
struct Disagreement {
    std::string upstream;
    std::string block;
    std::string server;
    std::vector<std::pair<std::string, std::string>> states;  // node, state
};

struct ClusterView {
    std::vector<NodeView> nodes;  // this node first, then the peers in config order
    std::vector<SplitBrain> split_brain;
    std::vector<int> no_master;  // VRIDs no reachable node is MASTER of
    std::vector<Disagreement> disagreements;
    std::vector<std::pair<std::string, std::string>> faults;  // node, instance in FAULT
};

/// Compares the nodes' views. A reachable node whose name is in the view already is left out
/// (made unreachable, with the reason in its `error`).
void analyse(ClusterView& view);

/// The "cluster" member of the JSON page.
void cluster_json(std::string& out, const ClusterView& view);

/// This machine's host name (node_name's default).
std::string default_node_name();

}  // namespace mod::status
