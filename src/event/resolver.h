#pragma once

// A small non-blocking DNS client (nginx's `resolver`): A and AAAA queries over UDP to the
// configured name servers, run by the process's event loop, never blocking (no getaddrinfo in
// a worker). Answers are cached for their TTL, or for `valid=` when the configuration says so;
// failures ("Host not found", "Server failure") for `valid=` or 10 s, as nginx does. A query is
// sent again to the next server every few seconds until resolver_timeout.
//
// One Resolver per settings per process (Resolver::of), made on first use in a worker.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/net.h"
#include "event/loop.h"

namespace ev {

/// The `resolver` directive's settings (and resolver_timeout), immutable once configured.
struct ResolverSpec {
    std::vector<core::SockAddr> servers;  // port 53 unless given
    std::optional<Duration> valid;        // `valid=`: overrides the TTL of answers
    bool ipv4 = true;                     // `ipv4=off`: no A queries
    bool ipv6 = true;                     // `ipv6=off`: no AAAA queries
    Duration timeout{30000};              // resolver_timeout
    std::string where;                    // file:line of the directive
};

/// nginx's codes of a failed resolution (ngx_resolver_strerror), 0 for success.
enum ResolveCode : int {
    kResolveOk = 0,
    kResolveFormErr = 1,
    kResolveServFail = 2,
    kResolveNxDomain = 3,  // also: no address of the asked families
    kResolveNotImp = 4,
    kResolveRefused = 5,
    kResolveTimedOut = 110,  // ETIMEDOUT
};

/// What a lookup found: addresses (port 0) or a code.
struct ResolveResult {
    int code = kResolveOk;
    std::vector<core::SockAddr> addrs;
    /// When the answer arrived (steady clock, ms; the same clock in every process): workers
    /// that share state keep the newest answer, not the one applied last.
    int64_t answered_ms = 0;
    /// "3: Host not found", as nginx's "could not be resolved (...)".
    std::string error() const;
};

class Resolver;

/// A lookup in flight; destroying it cancels its callback (the query goes on for the cache).
class ResolveQuery {
  public:
    ~ResolveQuery();
    ResolveQuery(const ResolveQuery&) = delete;
    ResolveQuery& operator=(const ResolveQuery&) = delete;

  private:
    friend class Resolver;
    ResolveQuery() = default;
    Resolver* resolver_ = nullptr;
    std::string name_;
    std::function<void(const ResolveResult&)> cb_;
};

class Resolver {
  public:
    Resolver(Loop& loop, std::shared_ptr<const ResolverSpec> spec);
    ~Resolver();
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    /// The process's resolver for `spec` on `loop` (made on first use, kept until clear_all).
    static Resolver& of(Loop& loop, const std::shared_ptr<const ResolverSpec>& spec);
    /// Destroys every resolver of the process (exit_process); pending callbacks never run.
    static void clear_all();

    /// A cached answer (or an IP literal) for `name`: true and `out` filled, without I/O.
    bool cached(std::string_view name, ResolveResult& out);
    /// Starts (or joins) a lookup of `name`; `cb` runs later from the loop, never from inside
    /// this call, unless the returned query was destroyed first.
    std::unique_ptr<ResolveQuery> resolve(std::string_view name,
                                          std::function<void(const ResolveResult&)> cb);

    const ResolverSpec& spec() const { return *spec_; }

  private:
    friend class ResolveQuery;
    struct Entry;
    struct Server;

    Entry& entry(const std::string& name);
    void send(Entry& e);
    void on_timer(const std::string& name);
    void on_readable(Server& s);
    void on_answer(std::string_view msg);
    void finish(Entry& e);
    void purge();
    void forget(ResolveQuery* q);

    Loop& loop_;
    std::shared_ptr<const ResolverSpec> spec_;
    std::vector<std::unique_ptr<Server>> servers_;
    std::map<std::string, std::unique_ptr<Entry>> entries_;
    std::map<uint16_t, std::pair<std::string, uint16_t>> ids_;  // id -> name, qtype
    size_t next_server_ = 0;
};

/// DNS messages (RFC 1035 §4), for the resolver and its tests.
namespace dns {
constexpr uint16_t kTypeA = 1;      // RFC 1035 §3.2.2
constexpr uint16_t kTypeCname = 5;  // RFC 1035 §3.2.2
constexpr uint16_t kTypeAaaa = 28;  // RFC 3596 §2.1
constexpr uint16_t kClassIn = 1;

/// A query for `name` (a host name; false when it is not one) of `qtype` with `id`, RD set.
bool make_query(std::string_view name, uint16_t qtype, uint16_t id, std::string& out);

/// What a response says about its question.
struct Answer {
    uint16_t id = 0;
    std::string name;  // of the question, lower case
    uint16_t qtype = 0;
    int rcode = 0;
    std::vector<core::SockAddr> addrs;  // A/AAAA records of the answer section
    std::optional<uint32_t> ttl;        // the lowest TTL among them
};
/// Parses a response; false when it is not a well-formed response to one question.
bool parse_response(std::string_view msg, Answer& out);
}  // namespace dns

}  // namespace ev
