#pragma once

// Upstream groups: `upstream name { server ...; }` blocks, the peers' state shared by every
// worker (shared memory), passive health (max_fails / fail_timeout), backup servers, and the
// balancer interface that rr / smooth wrr, least_conn, hash, ip_hash and persistence
// implement. The proxy module asks a group for a peer and reports the outcome; it never
// looks inside.
//
//   upstream app {
//       zone app 64k;                  # optional: named zone (else an implicit one)
//       least_conn;                    # or hash $key [consistent]; ip_hash; (default rr)
//       persistence_timeout 50s;       # LVS-style: a client keeps its server while active
//       server 127.0.0.1:8081 weight=5 max_fails=3 fail_timeout=10s max_conns=100;
//       server 127.0.0.1:8082 backup;
//       server 127.0.0.1:8083 down;
//       keepalive 32;  keepalive_timeout 60s;  keepalive_requests 1000;
//   }

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/conf_context.h"
#include "core/cycle.h"
#include "core/net.h"
#include "core/shm.h"

namespace http {
struct Request;
}

namespace upstream {

using Millis = std::chrono::milliseconds;

/// One `server` line (a host name resolving to several addresses gives one Server each).
struct Server {
    std::string name;  // "127.0.0.1:8081" as written (host:port)
    core::SockAddr addr;
    int weight = 1;
    int max_fails = 1;  // 0: failures are not counted
    Millis fail_timeout{10000};
    int max_conns = 0;  // 0: no limit
    bool backup = false;
    bool down = false;
};

/// A peer's state in shared memory, updated by every worker under the group's lock.
struct PeerState {
    // Smooth weighted round robin (nginx): effective weight and running current weight.
    int64_t current_weight = 0;
    int64_t effective_weight = 0;
    uint32_t conns = 0;       // requests in flight to it, all workers together
    uint32_t fails = 0;       // failures within the current fail_timeout window
    int64_t accessed_ms = 0;  // last failure (steady clock ms)
    int64_t checked_ms = 0;   // last time it was tried while failed
    uint8_t health_down = 0;  // set by the active health checker (the healthcheck helper)
    // Counters for the status page.
    uint64_t requests = 0;
    uint64_t failures = 0;
    uint64_t response_ms_total = 0;  // sum of response times (ms), for the average
};

/// What happened to a request sent to a peer.
enum class Outcome {
    kOk,       // a response came (any status the proxy does not treat as failure)
    kFailed,   // connect/send/read error, timeout, invalid response, or a next_upstream status
    kAborted,  // the client went away: neither success nor the peer's fault
};

class Group;

/// What a balancer sees when it picks: the request (hash keys), the client address
/// (ip_hash, persistence), the peers tried already and the time.
struct PickContext {
    const http::Request* request = nullptr;  // may be nullptr in unit tests
    core::SockAddr client;
    std::string key;          // the evaluated `hash` key (set by the core for hash)
    std::vector<bool> tried;  // by peer index
    int64_t now_ms = 0;
};

/// A balancer's own data for one group (the hash key, the consistent-hash ring...).
struct BalancerData {
    virtual ~BalancerData() = default;
};

/// A balancing method, one per module. `pick` chooses among the peers of `candidates`
/// (indexes into group.servers() usable right now: not down, not failed, under max_conns, not
/// tried). The group's lock is held. Returns an index from `candidates` or -1.
struct Balancer {
    std::string_view name;
    int (*pick)(const Group& group, PeerState* peers, const std::vector<int>& candidates,
                PickContext& ctx) = nullptr;
    /// Optional, before the lock is taken: per-request work (evaluating the hash key).
    void (*prepare)(const Group& group, PickContext& ctx) = nullptr;
    /// Optional, once the group's servers are all known: builds tables (a hash ring).
    core::Status (*init)(Group& group) = nullptr;
};

/// The chosen peer for one attempt; released exactly once.
struct Peer {
    int index = -1;
    const Server* server = nullptr;
};

/// An `upstream` block (or the implicit group of `proxy_pass http://host:port`), immutable
/// after the configuration is loaded; the mutable state is in the shared zone.
class Group {
  public:
    const std::string& name() const;
    const std::vector<Server>& servers() const;  // primaries first, then backups
    size_t primary_count() const;
    const Balancer& balancer() const;
    /// Upstream keepalive pool (per worker): 0 = no pool.
    int keepalive() const;
    Millis keepalive_timeout() const;
    int keepalive_requests() const;

    /// Picks a peer for an attempt: primaries first, backups when no primary is usable, the
    /// balancer choosing; counts it in flight. `peer.index < 0` when none is usable: as nginx,
    /// the failure counts of the group are then reset ("no live upstreams") and the proxy
    /// answers 502.
    Peer acquire(PickContext& ctx) const;
    /// Ends an attempt: in-flight count, passive health (fails within fail_timeout make it
    /// unusable for fail_timeout), counters, response time.
    void release(const Peer& peer, Outcome outcome, Millis response_time, int64_t now_ms) const;

    /// The shared state (for the status page and the health checker).
    PeerState* peers() const;

    /// For balancer directives (`least_conn;`, `hash $key;`...): sets the group's method; a
    /// second one is an error, as in nginx ("load balancing method redefined").
    core::Status set_balancer(const Balancer* b, std::unique_ptr<BalancerData> data);
    BalancerData* balancer_data() const;

    // Data members, constructors and test factories: the upstream module's choice.
};

/// The conf of an `upstream { }` block (ConfLevel::kUpstream): balancer modules' directive
/// setters take it to reach the group being built.
struct UpstreamConf : core::ConfBase {
    Group* group = nullptr;
};

/// The group named `name` in the http block of `cycle`, or nullptr.
const Group* find_group(core::Cycle& cycle, std::string_view name);
/// For the proxy module's `proxy_pass http://host:port` without an upstream block: the
/// implicit group of that address (created at config time, shared by identical addresses).
core::Status implicit_group(core::ConfContext& cf, std::string_view host_port, const Group*& out);

/// Steady clock in milliseconds (what now_ms means everywhere above).
int64_t now_ms();

}  // namespace upstream
