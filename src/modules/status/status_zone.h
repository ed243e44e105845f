#pragma once

// The status module's shared memory zone ("status"): what no single process knows but the
// status page shows.
//
//   - the process table, written by the master (core::ProcessTable, through the cycle's
//     process observer): pids, roles, start times, respawns;
//   - one slot per serving process (worker, or the single process) holding its connection
//     and request counters (http::ConnCounters), written only by that process with relaxed
//     atomic adds; totals are the sums over the slots;
//   - one counter set per server block (requests, responses by status class, bytes), added to
//     by every worker (relaxed atomic adds), matched by a key across reloads;
//   - one counter set per listen address of the stream block (sessions, by status class,
//     bytes), in the same table under keys of their own kind.
//
// The zone keeps its name, size and owner across reloads, so a reload keeps every counter.
// Nothing here takes a lock on the request path; the process table is copied under the
// zone's mutex (by the master when it changes, by a status request when it reads it).

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/process.h"
#include "core/shm.h"
#include "http/stats.h"

namespace mod::status {

inline constexpr size_t kMaxProcesses = 128;  // children listed (more are counted as dropped)
inline constexpr size_t kMaxSlots = 256;      // serving processes alive at once, all cycles
inline constexpr size_t kServerKeyMax = 192;  // bytes of a server key, NUL included

/// One process of the table (a plain copy of core::ProcessRecord).
struct ProcessEntry {
    int32_t pid = 0;
    uint8_t role = 0;  // core::ProcessRole
    uint8_t retiring = 0;
    uint16_t worker_index = 0;
    uint32_t respawns = 0;
    uint32_t pad = 0;
    int64_t started_ms = 0;
    int64_t started_steady_ms = 0;
    char name[32] = {};  // helper name, NUL-terminated
};

/// The master's process table as last published.
struct ProcessBlock {
    uint32_t published = 0;  // 0 until the master (or the single process) published once
    uint32_t reloads = 0;
    uint32_t count = 0;    // entries used in children
    uint32_t dropped = 0;  // children that did not fit
    ProcessEntry self;
    ProcessEntry children[kMaxProcesses];

    /// Whether `pid` is the master or one of its children.
    bool has(pid_t pid) const;
};

/// A serving process's counters. `pid` 0: free.
struct alignas(64) WorkerSlot {
    std::atomic<int32_t> pid{0};
    http::ConnCounters counters;
};

/// Counters of one server block, shared by every worker.
struct ServerCounters {
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> h2_requests{0};     // those that came on HTTP/2 streams
    std::atomic<uint64_t> responses[5] = {};  // 1xx .. 5xx
    std::atomic<uint64_t> received{0};        // request bytes (head and body)
    std::atomic<uint64_t> sent{0};            // response bytes (head and body)

    /// Counts one finished request (from the log phase); `h2`: it came on an HTTP/2 stream.
    /// `status` outside 100..599 (a request that got no response) counts in requests only.
    void count(int status, uint64_t in, uint64_t out, bool h2 = false);
    void clear();
};

/// Counters of one listen address of a stream server, shared by every worker. A session is
/// counted in `connections` and `active` when it starts (post_accept phase), and in `sessions`
/// by its $status class when it ends (log phase).
struct StreamCounters {
    std::atomic<uint64_t> connections{0};    // sessions started (TCP accepted, UDP first datagram)
    std::atomic<int64_t> active{0};          // sessions open now
    std::atomic<uint64_t> sessions{0};       // sessions ended
    std::atomic<uint64_t> statuses[3] = {};  // ended with 2xx, 4xx, 5xx
    std::atomic<uint64_t> received{0};       // bytes from the clients
    std::atomic<uint64_t> sent{0};           // bytes to the clients

    /// A session starts.
    void open();
    /// A session ends with `status` (200, 400, 403, 500, 502, 503); `opened`: open() counted
    /// it (a session that ended before its phases ran, e.g. on a bad PROXY header, was not).
    void close(int status, uint64_t in, uint64_t out, bool opened);
    void clear();
};

/// The key that identifies a server block across reloads: its first name and its listen
/// addresses ("example.com 127.0.0.1:80,[::1]:80"); long keys are shortened with a hash.
std::string server_key(std::string_view name, std::span<const std::string> listens);

/// The root object of the zone (ShmPool::root). Fixed size; the server entries follow it.
class StatusZone {
  public:
    /// The zone's object: made in a fresh zone, found in a reused one (nullptr when the pool
    /// is too small or holds something else). In the master.
    static StatusZone* open(core::ShmPool& pool, bool reused);
    /// Bytes the zone needs (its size for Cycle::add_shm_zone).
    static size_t zone_size();

    // ---- the master ----

    /// Starts a new configuration: returns its generation (server entries carry the last one
    /// that used them).
    uint64_t begin_generation();
    /// The counters of the server with `key` for configuration `generation`: the entry of the
    /// same key (kept from an earlier configuration), else a new one, else (the zone is full)
    /// one that no configuration of the last eight used, cleared; nullptr when there is none.
    ServerCounters* server(std::string_view key, uint64_t generation);
    /// The same for a listen address of the stream block (keys are apart from the server
    /// blocks': the same text names two entries).
    StreamCounters* stream_listen(std::string_view key, uint64_t generation);
    /// Replaces the process table.
    void publish(const core::ProcessTable& table);

    // ---- serving processes ----

    /// A slot for process `pid`: a free one, else one whose process is gone (`alive` says no;
    /// its gauges are cleared, its counters go on). nullptr when every slot is taken.
    WorkerSlot* claim_slot(pid_t pid, bool (*alive)(pid_t));
    /// Gives the slot back when the process stops: its gauges go to zero, its counters stay in
    /// the totals.
    static void release_slot(WorkerSlot& slot);

    // ---- readers (any process) ----

    /// A copy of the process table.
    void read_processes(ProcessBlock& out);
    std::span<WorkerSlot> slots() { return {slots_, kMaxSlots}; }
    size_t server_capacity() const { return server_cap_; }
    size_t servers_used() const { return server_count_; }

  private:
    enum class Kind : uint32_t { kServer, kStreamListen };
    struct ServerEntry {
        char key[kServerKeyMax];
        uint64_t generation = 0;
        Kind kind = Kind::kServer;
        union Counters {
            Counters() : server() {}
            ServerCounters server;
            StreamCounters stream;
        } counters;
    };
    ServerEntry* entry(Kind kind, std::string_view key, uint64_t generation);
    ServerEntry* entries() { return reinterpret_cast<ServerEntry*>(this + 1); }
    static constexpr uint32_t kMagic = 0x73746174;  // "stat"

    uint32_t magic_ = 0;
    uint32_t server_cap_ = 0;
    uint32_t server_count_ = 0;  // entries ever used (they are recycled, never removed)
    uint32_t pad_ = 0;
    uint64_t generation_ = 0;
    core::ShmMutex mutex_;  // the process table
    ProcessBlock procs_;
    WorkerSlot slots_[kMaxSlots];
};

}  // namespace mod::status
