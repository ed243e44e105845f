#pragma once

// The HTTP core's connection and request counters: nginx's stub_status numbers (accepted,
// handled, requests; active, reading, writing), and HTTP/2's connections and streams. The
// session code (and the HTTP/2 connection) counts; the status module (src/modules/status)
// gives each serving process its own counters in shared memory and adds them up for the
// status page. Without it (or with -t) nothing is counted.

#include <atomic>
#include <cstdint>

namespace http {

/// One process's counters. Lives in shared memory; only the owning process writes it (relaxed
/// atomic adds), any process may read it.
struct ConnCounters {
    std::atomic<uint64_t> accepted{0};  // also nginx's "handled": halo drops none it accepts
    std::atomic<uint64_t> requests{0};
    std::atomic<int64_t> active{0};           // open client connections
    std::atomic<int64_t> reading{0};          // requests whose head is being read
    std::atomic<int64_t> writing{0};          // requests being processed (body, handler, response)
    std::atomic<uint64_t> reclaimed{0};       // idle connections closed to make room for new ones
    std::atomic<uint64_t> h2_connections{0};  // connections that went on in HTTP/2
    std::atomic<int64_t> h2_active{0};        // open HTTP/2 connections (also in `active`)
    std::atomic<uint64_t> h2_streams{0};      // streams HTTP/2 clients opened (HEADERS)
    std::atomic<uint64_t> auth_basic_failures[3] = {};  // 401s of auth_basic, by AuthBasicFailure
    // auth_request decisions (src/http/modules/auth_request): let through (2xx), refused
    // (401/403), failed (any other status of the subrequest: 500 to the client).
    std::atomic<uint64_t> auth_request_allowed{0};
    std::atomic<uint64_t> auth_request_denied{0};
    std::atomic<uint64_t> auth_request_failed{0};
};

/// Why auth_basic refused a request with 401 (an index of ConnCounters::auth_basic_failures).
enum class AuthBasicFailure : uint8_t { kNoCredentials, kUserNotFound, kPasswordMismatch };

namespace stats_detail {
inline ConnCounters* g_counters = nullptr;
inline void add(std::atomic<int64_t>& v, int64_t d) {
    v.fetch_add(d, std::memory_order_relaxed);
}
inline void add(std::atomic<uint64_t>& v, uint64_t d) {
    v.fetch_add(d, std::memory_order_relaxed);
}
}  // namespace stats_detail

/// Where this process counts: set by the status module before the process serves, cleared
/// (nullptr) when it stops. nullptr: nothing is counted.
inline void set_conn_counters(ConnCounters* c) {
    stats_detail::g_counters = c;
}
inline ConnCounters* conn_counters() {
    return stats_detail::g_counters;
}

/// A connection was accepted (+1) or closed (-1).
inline void count_connection(int delta) {
    if (ConnCounters* c = stats_detail::g_counters) {
        if (delta > 0) {
            stats_detail::add(c->accepted, 1u);
        }
        stats_detail::add(c->active, delta);
    }
}

/// A connection went on in HTTP/2 (+1: it was counted when it was accepted, and its HTTP/1
/// side gave its place back with count_connection(-1)) or an HTTP/2 connection closed (-1).
inline void count_h2_connection(int delta) {
    if (ConnCounters* c = stats_detail::g_counters) {
        if (delta > 0) {
            stats_detail::add(c->h2_connections, 1u);
        }
        stats_detail::add(c->active, delta);
        stats_detail::add(c->h2_active, delta);
    }
}

/// An HTTP/2 client opened a stream (a request's HEADERS), whether or not a request ran on it.
inline void count_h2_stream() {
    if (ConnCounters* c = stats_detail::g_counters) {
        stats_detail::add(c->h2_streams, 1u);
    }
}

/// auth_basic refused a request (401).
inline void count_auth_basic_failure(AuthBasicFailure why) {
    if (ConnCounters* c = stats_detail::g_counters) {
        stats_detail::add(c->auth_basic_failures[static_cast<size_t>(why)], 1u);
    }
}

/// An idle connection was closed because worker_connections ran out.
inline void count_reclaimed() {
    if (ConnCounters* c = stats_detail::g_counters) {
        stats_detail::add(c->reclaimed, 1u);
    }
}

/// What an auth_request subrequest decided.
enum class AuthOutcome { kAllowed, kDenied, kFailed };
inline void count_auth_request(AuthOutcome o) {
    if (ConnCounters* c = stats_detail::g_counters) {
        stats_detail::add(o == AuthOutcome::kAllowed  ? c->auth_request_allowed
                          : o == AuthOutcome::kDenied ? c->auth_request_denied
                                                      : c->auth_request_failed,
                          1u);
    }
}

/// What one request counts: `reading` from its first byte, `writing` once its head is in; the
/// gauge it holds is given back when the request goes away (whatever ended it).
class RequestStat {
  public:
    RequestStat() = default;
    /// A moved request carries its count along (the moved-from one counts nothing).
    RequestStat(RequestStat&& o) noexcept : phase_(o.phase_) { o.phase_ = kNone; }
    RequestStat& operator=(RequestStat&& o) noexcept {
        if (this != &o) {
            set(kNone);
            phase_ = o.phase_;
            o.phase_ = kNone;
        }
        return *this;
    }
    ~RequestStat() { set(kNone); }

    /// The first bytes of a request head arrived: one more request, reading.
    void start_reading() {
        if (ConnCounters* c = stats_detail::g_counters) {
            stats_detail::add(c->requests, 1u);
        }
        set(kReading);
    }
    /// The head is complete: the request is being processed.
    void start_writing() { set(kWriting); }

  private:
    static constexpr uint8_t kNone = 0;
    static constexpr uint8_t kReading = 1;
    static constexpr uint8_t kWriting = 2;
    void set(uint8_t next) {
        ConnCounters* c = stats_detail::g_counters;
        if (c != nullptr && next != phase_) {
            if (phase_ == kReading) {
                stats_detail::add(c->reading, -1);
            } else if (phase_ == kWriting) {
                stats_detail::add(c->writing, -1);
            }
            if (next == kReading) {
                stats_detail::add(c->reading, 1);
            } else if (next == kWriting) {
                stats_detail::add(c->writing, 1);
            }
        }
        phase_ = c != nullptr ? next : kNone;
    }
    uint8_t phase_ = kNone;
};

}  // namespace http
