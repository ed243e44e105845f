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

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/conf_context.h"
#include "core/cycle.h"
#include "core/net.h"
#include "core/shm.h"

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
    /// `server name resolve`: this entry is one of the slots the name's addresses fill while
    /// running (Group::update_resolved); its current address is in the group's shared state
    /// (Group::peer_address), `addr` only the one found at load. Empty for other servers.
    std::string resolve_host;
    uint16_t resolve_port = 0;
};

/// What the active health checker (the healthcheck helper, src/modules/healthcheck) last found
/// for a peer. Written only by the checker, under the group's lock (Group::set_health); read
/// with Group::health() (the status page). All zero when the group has no `health_check`.
struct HealthInfo {
    uint8_t checked = 0;         // an active check watches this peer
    uint8_t last_ok = 0;         // the last check passed
    uint16_t last_status = 0;    // HTTP status of the last check (0: tcp, or no response)
    uint32_t streak = 0;         // checks in a row with the last check's result
    int64_t last_check_ms = 0;   // wall clock (Unix ms) when the last check ended; 0: none yet
    int64_t last_change_ms = 0;  // wall clock of the last up/down change; 0: none yet
    uint64_t checks = 0;         // checks run
    uint64_t check_failures = 0;
    char reason[56] = {};  // the last failed check's reason ("status 503"), NUL-terminated
};

/// What an active health check of a group does, as the status page shows it.
struct CheckSummary {
    std::string type;  // "tcp", "http", "https"
    std::string uri;   // empty for tcp
    Millis interval{0};
    Millis timeout{0};
    int fall = 0;
    int rise = 0;
};

/// A peer's state in shared memory, updated by every worker under the group's lock.
struct PeerState {
    // Smooth weighted round robin (nginx): effective weight and running current weight.
    int64_t current_weight = 0;
    int64_t effective_weight = 0;
    uint32_t conns = 0;        // requests in flight to it, all workers together
    uint32_t fails = 0;        // failures within the current fail_timeout window
    int64_t accessed_ms = 0;   // last failure (steady clock ms)
    int64_t checked_ms = 0;    // last pick that opened a fail_timeout window (nginx's checked)
    uint8_t health_down = 0;   // set by the active health checker (the healthcheck helper)
    uint8_t unresolved = 0;    // a `resolve` slot without an address now: not a peer
    uint32_t resolve_key = 0;  // a `resolve` slot: a hash of its name and port (reloads)
    int64_t resolved_ms = 0;   // a `resolve` slot: when the answer it holds arrived
    HealthInfo health;         // the checker's last results (for the status page)
    // Counters for the status page.
    uint64_t requests = 0;
    uint64_t failures = 0;
    uint64_t responses = 0;          // attempts that ended kOk
    uint64_t response_ms_total = 0;  // sum of their response times (ms), for the average
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
///
/// One PickContext serves every attempt of one request: acquire() marks the chosen peer in
/// `tried` (so a retry goes elsewhere), calls the balancer's `prepare` once (`prepared`), and
/// balancers keep their per-request state across attempts in `balancer_state`.
struct PickContext {
    /// The request being balanced, as the protocol module that asks knows it (http::Request
    /// for the HTTP proxy): read only by a balancer whose directive that protocol compiled
    /// (`hash $key`, evaluated with its variables). nullptr in unit tests.
    const void* request = nullptr;
    core::SockAddr client;
    std::string key;          // the evaluated `hash` key (set by the core for hash)
    std::vector<bool> tried;  // by peer index
    int64_t now_ms = 0;       // the steady clock's ms; 0: acquire() reads the clock
    bool prepared = false;    // Balancer::prepare ran for this request
    std::array<uint64_t, 3> balancer_state{};  // the balancer's own, zero for a new request
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
    /// Whether `backup` servers make sense with this method (not with hash and ip_hash).
    bool allows_backup = true;
};

/// One step of nginx's smooth weighted round robin among the peers of `candidates` that
/// `accept(index)` takes: each adds its effective weight to its current weight (the effective
/// weight, lowered by failures, climbs back by one towards the configured weight), the
/// highest current weight wins and gives back the total. Returns the winner or -1. Every
/// balancer that spreads by weight uses this step (round robin; hash among one server's
/// addresses; least_conn among ties). The group's lock is held.
template <class Accept>
int smooth_wrr(const Group& group, PeerState* peers, const std::vector<int>& candidates,
               Accept accept);

/// nginx's smooth weighted round robin over `candidates` (the http_upstream module's default
/// method; other balancers fall back to it). Equal weights give plain round robin.
int pick_round_robin(const Group& group, PeerState* peers, const std::vector<int>& candidates,
                     PickContext& ctx);
/// The default balancer: smooth weighted round robin.
extern const Balancer kRoundRobin;

/// Whether a peer may be picked now, and if not, why: the one rule that selection, the status
/// page and the vrrp tracker (track_upstream) share.
enum class Availability : uint8_t {
    kUsable,
    kDown,        // `down` in the config
    kHealthDown,  // the active health check found it down
    kFailed,      // max_fails failures within fail_timeout (passive health)
    kAtMaxConns,  // healthy, but max_conns requests are in flight
};

/// The chosen peer for one attempt; released exactly once.
struct Peer {
    int index = -1;
    const Server* server = nullptr;
};

/// An `upstream` block (or the implicit group of `proxy_pass http://host:port`), immutable
/// after the configuration is loaded; the mutable state is in the shared zone.
///
/// Built at config time by the upstream module (or by make() in tests), then finalize()d:
/// servers sorted primaries first, the balancer's init run, state in process memory. The
/// module then moves the state into the group's shared zone (attach()), when the cycle has
/// zones (not with -t). acquire() and release() may be called by any process of the cycle.
class Group {
  public:
    const std::string& name() const;
    const std::vector<Server>& servers() const;  // primaries first, then backups
    size_t primary_count() const;
    const Balancer& balancer() const;
    /// Upstream keepalive pool (per worker): 0 = no pool. nginx's `keepalive N`: at most N
    /// idle connections per worker (the floor of an adaptive pool).
    int keepalive() const;
    Millis keepalive_timeout() const;
    int keepalive_requests() const;
    /// `keepalive N adaptive[=M]` (a halo extension): the most idle connections an adaptive
    /// pool keeps per worker; 0 when the pool is nginx's fixed `keepalive N`.
    int keepalive_max() const { return keepalive_max_; }
    /// How many idle connections this worker keeps for the group at `now_ms` (steady clock):
    /// keepalive(), or for an adaptive pool the recent peak of connections busy at once less
    /// those busy now (so that busy + idle stay within the peak), between keepalive() and
    /// keepalive_max().
    size_t idle_cap(int64_t now_ms) const;
    /// This process's attempts in flight to the group (acquired, not yet released): a worker's
    /// busy upstream connections. Per process, not in the shared zone.
    int local_busy() const { return load_.busy; }
    /// The most attempts this process had in flight at once over the last one to two
    /// keepalive_timeout windows (at least a second each) before `now_ms`.
    int local_peak(int64_t now_ms) const;

    /// Picks a peer for an attempt: primaries first, backups when no primary is usable, the
    /// balancer choosing; counts it in flight. `peer.index < 0` when none is usable: as nginx,
    /// the failure counts of the group are then reset ("no live upstreams") and the proxy
    /// answers 502.
    Peer acquire(PickContext& ctx) const;
    /// Ends an attempt: in-flight count, passive health (fails within fail_timeout make it
    /// unusable for fail_timeout), counters, response time.
    void release(const Peer& peer, Outcome outcome, Millis response_time, int64_t now_ms) const;

    /// Whether peer `index`, whose state is `state` (read under the group's lock, or a copy
    /// taken under it by peer_state()), may be picked at `now_ms`.
    Availability availability(size_t index, const PeerState& state, int64_t now_ms) const;
    /// Whether any peer is healthy at `now_ms` (usable, or only at max_conns), under the
    /// group's lock: vrrp's track_upstream.
    bool any_healthy(int64_t now_ms) const;

    /// The shared state (for the status page and the health checker).
    PeerState* peers() const;
    /// Peer `index`'s address now: a `resolve` slot's from the shared state (false when it has
    /// none), any other server's configured one.
    bool peer_address(size_t index, core::SockAddr& out) const;

    /// `server name resolve`: how many slots (peers) one such server gets, the most addresses
    /// of the name that are used at once.
    static constexpr size_t kResolveSlots = 16;
    /// Whether some server of the group is re-resolved while running.
    bool has_resolve() const;
    /// The names re-resolved while running (distinct), with their port.
    std::vector<std::pair<std::string, uint16_t>> resolve_names() const;
    /// Publishes `addrs` (port 0) as the addresses of `host`:`port`'s slots, under the group's
    /// lock: a slot whose address stays keeps its state, one whose address went becomes
    /// unresolved, a new address takes a free slot with a fresh state (nginx's re-resolution
    /// of `server ... resolve`). Any worker may call it with what its resolver found; the
    /// same answer twice changes nothing, and an answer older than the one the slots hold
    /// (`answered_ms`, steady clock: another worker's cache still valid) is ignored, so the
    /// workers never take turns between an old and a new answer. Returns whether the set of
    /// addresses changed.
    bool update_resolved(const std::string& host, uint16_t port, std::vector<core::SockAddr> addrs,
                         int64_t answered_ms = 0) const;
    /// A consistent copy of peer `index`'s state, taken under the group's lock (the status
    /// page); false when there is no such peer.
    bool peer_state(size_t index, PeerState& out) const;

    /// The active check that watches this group's servers (set at config time by the module
    /// that runs it), or nullptr. Without one, a reload clears the active-check state of the
    /// servers it carries over, so that no server stays down with nobody checking it.
    const CheckSummary* health_check() const { return check_ ? &*check_ : nullptr; }
    bool health_checked() const { return check_.has_value(); }
    void set_health_check(CheckSummary check) { check_ = std::move(check); }
    /// Publishes the active checker's verdict on peer `index` (the healthcheck helper), under
    /// the group's lock: `down` takes it out of (or back into) every worker's selection.
    void set_health(size_t index, bool down, const HealthInfo& info) const;
    /// The checker's state of peer `index` as last published; returns whether it is down.
    bool health(size_t index, HealthInfo& out) const;

    /// For balancer directives (`least_conn;`, `hash $key;`...): sets the group's method; a
    /// second one is an error, as in nginx ("load balancing method redefined").
    core::Status set_balancer(const Balancer* b, std::unique_ptr<BalancerData> data);
    BalancerData* balancer_data() const;

    // ---- building (config time, in the master or a test) ----

    explicit Group(std::string name);
    ~Group();
    Group(const Group&) = delete;
    Group& operator=(const Group&) = delete;

    /// A finalized group for unit tests: `servers` in any order (backups are moved after the
    /// primaries, keeping their order), `balancer` nullptr for round robin; state in process
    /// memory. Returns nullptr when finalize() fails (the message in `error` if given).
    static std::unique_ptr<Group> make(std::string name, std::vector<Server> servers,
                                       const Balancer* balancer = nullptr,
                                       std::unique_ptr<BalancerData> data = nullptr,
                                       std::optional<Millis> persistence = std::nullopt,
                                       std::string* error = nullptr);

    void add_server(Server server);
    void set_keepalive(int connections) { keepalive_ = connections; }
    void set_keepalive_timeout(Millis t) { keepalive_timeout_ = t; }
    void set_keepalive_requests(int n) { keepalive_requests_ = n; }
    /// Makes the pool adaptive, keeping at most `max` (>= keepalive()) idle connections.
    void set_keepalive_max(int max) { keepalive_max_ = max; }
    /// `persistence_timeout`: a client address keeps its server while it comes back within
    /// `t` (LVS persistence); nullopt = off.
    void set_persistence_timeout(std::optional<Millis> t) { persistence_ = t; }
    std::optional<Millis> persistence_timeout() const { return persistence_; }
    /// Clients the persistence table holds (kPersistEntries unless a named zone's size
    /// decides); the least recently seen of a few probed slots gives way when it is full.
    void set_persistence_capacity(uint32_t entries) { persist_cap_ = entries; }
    uint32_t persistence_capacity() const { return persist_cap_; }
    static constexpr uint32_t kPersistEntries = 8000;  // about 250 KiB
    static constexpr size_t kPersistEntryBytes = 32;
    /// A group of the `stream { }` block (L4): its own name space, as in nginx.
    void set_stream(bool on) { stream_ = on; }
    bool stream() const { return stream_; }
    /// The text of a `hash` key in a stream group ("$remote_addr"): the stream proxy evaluates
    /// it with the stream variables and passes it in PickContext::key (http groups evaluate
    /// theirs in the balancer's prepare).
    void set_stream_hash_key(std::string text) { stream_hash_key_ = std::move(text); }
    const std::string& stream_hash_key() const { return stream_hash_key_; }
    /// Whether the balancer was chosen by a directive (not the default round robin).
    bool balancer_set() const { return balancer_set_; }
    bool has_backup() const;

    /// Sorts the servers (primaries first), runs the balancer's init and gives the group its
    /// state in process memory. Once, after the last server was added.
    core::Status finalize();

    /// Bytes this group needs in a shared zone (its block, before the pool's rounding).
    size_t shared_size() const;
    /// Moves the state into `zone` (in the master, from the zone's init): a block allocated
    /// from the zone's pool, linked in the zone's list. When the zone was reused by a reload,
    /// the state of the servers this group still has (matched by address) is carried over from
    /// the newest block of the same group name. `generation` identifies this cycle's blocks.
    core::Status attach(core::ShmZone& zone, uint64_t generation);

  private:
    struct Shared;
    Shared* make_block(void* mem) const;
    void carry_over(Shared& old);
    void detach();

    std::string name_;
    std::vector<Server> servers_;
    size_t primary_count_ = 0;
    const Balancer* balancer_ = nullptr;
    std::unique_ptr<BalancerData> balancer_data_;
    bool balancer_set_ = false;
    bool single_ = false;  // one server: never marked failed (nginx)
    bool stream_ = false;
    std::string stream_hash_key_;
    std::optional<CheckSummary> check_;
    int keepalive_ = 0;
    Millis keepalive_timeout_{60000};
    int keepalive_requests_ = 1000;
    int keepalive_max_ = 0;

    /// This process's load on the group, for the adaptive pool: busy now, and the peak of the
    /// current window and of the one before.
    struct LocalLoad {
        int busy = 0;
        int peak = 0;
        int prev_peak = 0;
        int64_t window_start = 0;
    };
    void roll_load(int64_t now_ms) const;
    mutable LocalLoad load_;
    std::optional<Millis> persistence_;
    uint32_t persist_cap_ = kPersistEntries;

    /// Per process: the Server a `resolve` slot is picked as (its current address), by peer
    /// index; replaced ones are kept (requests in flight point to them).
    const Server& resolved_view(size_t index, const core::SockAddr& addr) const;
    mutable std::vector<std::unique_ptr<Server>> views_;
    mutable std::vector<std::unique_ptr<Server>> retired_views_;

    Shared* shared_ = nullptr;  // the state: local_ or a block of the zone
    std::unique_ptr<std::byte[]> local_;
    std::shared_ptr<core::ShmSegment> segment_;  // keeps the zone mapped until detach()
};

/// The conf of an `upstream { }` block (ConfLevel::kUpstream): balancer modules' directive
/// setters take it to reach the group being built. The framework finds a directive's conf by
/// its module, so each balancer module declares its own type derived from it
/// (`struct LeastConnConf : upstream::UpstreamConf {};` with conf_hooks at kUpstream); the
/// upstream block sets `group` in every conf of that level derived from UpstreamConf.
struct UpstreamConf : core::ConfBase {
    Group* group = nullptr;
};

/// Makes `group` (owned by the module that built it, alive as long as `cycle`) known to every
/// module of the cycle by its name: the http_upstream module registers its upstream blocks and
/// implicit groups, in declaration order.
void register_group(core::Cycle& cycle, const Group& group);
/// The group named `name` (case-insensitive) in `cycle`, or nullptr: an http group, else a
/// stream group of that name (the two blocks have their own name spaces).
const Group* find_group(const core::Cycle& cycle, std::string_view name);
/// The group named `name` of the stream block (`stream`) or of the http block.
const Group* find_group(const core::Cycle& cycle, std::string_view name, bool stream);
/// Every group of `cycle`, in declaration order; empty when no module registered any.
std::vector<const Group*> all_groups(const core::Cycle& cycle);
/// For the proxy module's `proxy_pass http://host:port` without an upstream block: the
/// implicit group of that address (created at config time, shared by identical addresses).
/// Call it from the directive's setter. Without a port ("backend") the name is first an
/// upstream block's, declared before or after; with one, a block of that name is an error
/// ("upstream "backend" may not have port 8080", as nginx says). Other names are resolved
/// once the http block is read (port `default_port` when none: 80, 443 for https) and errors
/// name this directive's file:line; the group's servers are known once the http_upstream
/// module's postconfiguration ran (the proxy module is ordered after it).
/// `stream`: a group of the stream block (`proxy_pass host:port` there), in its own name space.
core::Status implicit_group(core::ConfContext& cf, std::string_view host_port, const Group*& out,
                            uint16_t default_port = 80, bool stream = false);

template <class Accept>
int smooth_wrr(const Group& group, PeerState* peers, const std::vector<int>& candidates,
               Accept accept) {
    int best = -1;
    int64_t total = 0;
    for (int i : candidates) {
        if (!accept(i)) {
            continue;
        }
        PeerState& p = peers[i];
        p.current_weight += p.effective_weight;
        total += p.effective_weight;
        if (p.effective_weight < group.servers()[static_cast<size_t>(i)].weight) {
            p.effective_weight++;
        }
        if (best < 0 || p.current_weight > peers[best].current_weight) {
            best = i;
        }
    }
    if (best >= 0) {
        peers[best].current_weight -= total;
    }
    return best;
}

}  // namespace upstream
