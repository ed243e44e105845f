#pragma once

// The status page's data and its renderings, without the config system or shared memory:
// a Snapshot (what one status request saw: processes, connections, server blocks, stream
// servers, upstream peers, VRRP instances) written as JSON, as Prometheus text, or as nginx's
// stub_status text; and the HTML page that shows the JSON to people.
//
//   location = /status { status; }                     # JSON (the default)
//   location = /metrics { status format=prometheus; }
//   location = /dashboard { status format=html; }      # fetches ?format=json itself
//   location = /basic_status { stub_status; }          # nginx's stub_status text
//
// Any status location answers ?format=json|prometheus|html with that format.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"

namespace mod::status {

enum class Format { kJson, kPrometheus, kHtml };

/// "json", "prometheus", "html"; nullopt for anything else.
std::optional<Format> parse_format(std::string_view s);
std::string_view content_type(Format f);

/// One process: the master (or the single process), a worker or a helper.
struct ProcessView {
    std::string type;  // "master", "single", "worker", "helper"
    int64_t pid = 0;
    int index = -1;          // workers: 0..N-1
    std::string name;        // helpers: "healthcheck", ...
    int64_t started_ms = 0;  // Unix ms
    int64_t uptime_ms = 0;
    uint32_t respawns = 0;
    bool retiring = false;  // finishing its work after a reload (or stopping)
    // Serving processes: their own counters (when they have a slot).
    bool counted = false;
    uint64_t accepted = 0;
    uint64_t requests = 0;
    int64_t active = 0;
};

/// nginx's stub_status numbers, all serving processes together. `waiting` is what is neither
/// reading nor writing (idle keepalive connections, new connections before their first byte).
struct Connections {
    uint64_t accepted = 0;
    uint64_t handled = 0;
    uint64_t requests = 0;
    int64_t active = 0;
    int64_t reading = 0;
    int64_t writing = 0;
    int64_t waiting = 0;
    uint64_t reclaimed = 0;       // idle connections closed because worker_connections ran out
    uint64_t h2_connections = 0;  // connections that went on in HTTP/2
    int64_t h2_active = 0;        // open HTTP/2 connections (part of `active`)
    uint64_t h2_streams = 0;      // streams HTTP/2 clients opened
    /// auth_basic's 401s: no (or malformed) credentials, a user not in the file, a wrong
    /// password.
    uint64_t auth_basic_no_credentials = 0;
    uint64_t auth_basic_user_not_found = 0;
    uint64_t auth_basic_password_mismatch = 0;
    // auth_request decisions: 2xx (allowed), 401/403 (denied), anything else (failed: 500).
    uint64_t auth_request_allowed = 0;
    uint64_t auth_request_denied = 0;
    uint64_t auth_request_failed = 0;
};

struct ServerView {
    std::string name;  // the first server_name ("_" when none)
    std::vector<std::string> listen;
    bool counted = false;  // false: no counters (the zone is full, or -t)
    uint64_t requests = 0;
    uint64_t h2_requests = 0;    // requests that came on HTTP/2 streams (part of `requests`)
    uint64_t responses[5] = {};  // 1xx .. 5xx
    uint64_t received = 0;
    uint64_t sent = 0;
};

/// Sessions of a stream server (or of one of its listen addresses).
struct StreamCountsView {
    uint64_t connections = 0;   // sessions started
    int64_t active = 0;         // open now
    uint64_t sessions = 0;      // ended
    uint64_t statuses[3] = {};  // ended with 2xx, 4xx, 5xx
    uint64_t received = 0;      // bytes from the clients
    uint64_t sent = 0;          // bytes to the clients

    void add(const StreamCountsView& o);
};

/// One listen address of a stream server.
struct StreamListenView {
    std::string address;   // "127.0.0.1:5353", "[::1]:80", "unix:/run/x.sock"
    std::string protocol;  // "tcp" or "udp"
    StreamCountsView counts;
};

/// A `server { }` of the stream block: its listen addresses' counts and their sums.
struct StreamServerView {
    std::vector<StreamListenView> listens;
    bool counted = false;  // false: no counters (-t, or the zone is full)
    StreamCountsView counts;

    /// The listen addresses as the config writes them ("127.0.0.1:53 udp"), comma-separated.
    std::string listen_text() const;
};

/// An active health check's last results for one peer (upstream::HealthInfo).
struct HealthView {
    bool checked = false;
    bool last_ok = false;
    int last_status = 0;
    uint32_t streak = 0;
    int64_t last_check_ms = 0;   // Unix ms; 0: none yet
    int64_t last_change_ms = 0;  // Unix ms; 0: none yet
    uint64_t checks = 0;
    uint64_t failures = 0;
    std::string reason;  // the last failure's
};

struct PeerView {
    std::string server;  // "127.0.0.1:8081"
    std::string name;    // as written in the `server` line
    bool backup = false;
    int weight = 1;
    /// "up", "down" (not used: `down`, the health check, or max_fails), "backup" (a backup
    /// server able to take requests) or "draining" (down, but requests are still in flight).
    std::string state;
    std::string down_reason;  // "config", "health_check", "failures"; empty when not down
    uint32_t active = 0;      // requests in flight, all workers
    uint64_t requests = 0;
    uint64_t failures = 0;
    uint64_t responses = 0;
    uint64_t response_ms_total = 0;
    HealthView health;
};

/// The group's `health_check` settings, when it has one.
struct CheckView {
    std::string type;  // "tcp", "http", "https"
    std::string uri;
    int64_t interval_ms = 0;
    int64_t timeout_ms = 0;
    int fall = 0;
    int rise = 0;
};

struct UpstreamView {
    std::string name;
    bool stream = false;   // an upstream of the stream block (else of the http block)
    std::string balancer;  // "round_robin", "least_conn", "hash", ...
    std::optional<CheckView> check;
    std::vector<PeerView> peers;
};

/// A VRRP instance, as the vrrp helper last published it.
struct VrrpView {
    std::string name;
    std::string state;  // "INIT", "BACKUP", "MASTER", "FAULT"
    std::string interface;
    std::string sync_group;  // "" = not in a vrrp_sync_group
    int vrid = 0;
    int version = 3;
    int priority = 0;       // effective (after tracking)
    int base_priority = 0;  // configured
    std::string master;     // address of the master last heard (this node when MASTER)
    uint64_t transitions = 0;
    std::vector<std::string> addresses;  // configured virtual addresses
    bool addresses_up = false;           // on this node's links now
    int64_t last_change_ms = 0;          // Unix ms, 0 = no change yet
    std::string tracker;                 // the tracker that last changed it, "" = none
    std::vector<std::string> failing;    // the trackers failing now
};

/// The anycast block (modules/anycast): whether this node announces its service addresses.
struct AnycastView {
    std::string state;   // "ANNOUNCED", "WITHDRAWN", "INIT"
    std::string reason;  // why withdrawn ("upstream app", "workers", "stopping"), else ""
    std::string interface;
    std::vector<std::string> addresses;
    uint64_t transitions = 0;
    int64_t last_change_ms = 0;  // Unix ms, 0 = no change yet
};

/// A `limit_conn_zone` (http or stream) and its counters, all workers together.
struct LimitConnView {
    std::string zone;
    std::string kind;  // "http" or "stream"
    uint64_t passed = 0;
    uint64_t rejected = 0;
    uint64_t rejected_dry_run = 0;
    uint64_t keys = 0;  // keys counted now
};

/// A `limit_req_zone` and its counters, all workers together: each request counted once per
/// zone that saw its key (rejected or delayed in the zone that decided it, passed in others).
struct LimitReqView {
    std::string zone;
    uint64_t passed = 0;
    uint64_t delayed = 0;
    uint64_t rejected = 0;
    uint64_t delayed_dry_run = 0;
    uint64_t rejected_dry_run = 0;
    uint64_t keys = 0;  // keys (buckets) held now
};

/// A cache's keys zone (`proxy_cache_path`) and its counters, all workers together.
struct CacheView {
    std::string zone;
    std::string path;
    uint64_t hits = 0;
    uint64_t misses = 0;
    uint64_t expired = 0;
    uint64_t stale = 0;
    uint64_t updating = 0;
    uint64_t revalidated = 0;
    uint64_t bypass = 0;
    uint64_t size = 0;      // bytes the cached files take on disk
    uint64_t max_size = 0;  // 0: no bound
    uint64_t entries = 0;   // keys in the zone
};

/// Everything one status request reports.
struct Snapshot {
    std::string version;    // "halo/x.y.z"
    int64_t now_ms = 0;     // Unix ms
    bool counting = false;  // the shared counters exist (false with -t, or in unit tests)
    bool have_processes = false;
    ProcessView self;  // the master or the single process
    uint32_t reloads = 0;
    std::vector<ProcessView> workers;
    std::vector<ProcessView> helpers;
    uint32_t processes_dropped = 0;  // children beyond the table's size
    Connections connections;
    std::vector<ServerView> servers;
    std::vector<StreamServerView> stream_servers;
    std::vector<UpstreamView> upstreams;
    std::vector<VrrpView> vrrp;
    std::vector<AnycastView> anycast;
    std::vector<LimitConnView> limit_conns;
    std::vector<LimitReqView> limit_reqs;
    std::string node;  // node_name (the host name by default)
    /// The cluster view (cluster.h) as JSON, when the location has status_peers; "" = none.
    std::string cluster_json;
    std::vector<CacheView> caches;
};

std::string render_json(const Snapshot& s);
std::string render_prometheus(const Snapshot& s);
/// nginx's stub_status text, byte for byte.
std::string render_stub_status(const Connections& c);
/// The HTML page (self-contained: style and script inline, no outside resource).
std::string_view html_page();

/// Quoted JSON string (RFC 8259 escapes): the core's one rule.
using core::append_json_string;
/// A Prometheus label value, escaped (backslash, quote, newline).
void append_label_value(std::string& out, std::string_view s);

}  // namespace mod::status
