#pragma once

// Active health checks (keepalived's real_server checks, nginx plus's health_check), the parts
// that need no config system and no socket: the check parameters, the result of one check and
// its reason text, the fall/rise state machine, the classification of an HTTP check's
// response and of a tcp/udp check's reply (ReplyCheck), and the Checker that runs one
// server's checks on a timer (interval, timeout, jitter) through a Prober. The network probes
// are in probe.h, the directive and the healthcheck helper process in healthcheck_module.cc.
//
//   upstream app {
//       server 127.0.0.1:8081;
//       health_check type=http uri=/health expect=200-399 interval=2s timeout=1s
//                    fall=3 rise=2;
//   }
//   upstream redis {
//       server 127.0.0.1:6379;
//       health_check type=tcp send=PING\r\n expect=+PONG interval=1s;
//   }

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/net.h"
#include "event/loop.h"
#include "http/regex.h"

namespace mod::healthcheck {

using Millis = std::chrono::milliseconds;

enum class CheckType {
    kTcp,    // the connection is accepted (keepalived TCP_CHECK); with send/expect, a dialogue
    kUdp,    // a datagram is sent; a reply (or, without expect, no ICMP error) in time passes
    kHttp,   // GET uri, status in `expect`, optional body match (keepalived HTTP_GET)
    kHttps,  // the same over TLS (keepalived SSL_GET; the certificate is not verified)
};

/// An inclusive range of HTTP status codes (`expect=200-399`; `expect=204` is 204-204).
struct StatusRange {
    int lo = 0;
    int hi = 0;
};

/// "tcp", "udp", "http" or "https".
std::string_view check_type_name(CheckType type);
/// The CheckType named "tcp", "udp", "http" or "https"; nullopt for any other word.
std::optional<CheckType> parse_check_type(std::string_view name);

/// What the reply of a tcp or udp check must be (`expect=` of those types): it starts with
/// `prefix` (`expect=+OK`), or `regex` matches it somewhere (`expect=~regex`, `~*regex`).
struct ReplyExpect {
    std::string prefix;
    std::shared_ptr<const http::Regex> regex;
};

/// Decodes the escapes of a `send=` or plain `expect=` value, after the configuration's own
/// (which has already turned \r \n \t \\ \" into bytes): \xHH (two hex digits, any byte),
/// and \r \n \t \\ again. False with `why` on any other backslash sequence.
bool decode_escapes(std::string_view in, std::string& out, std::string& why);

/// One `health_check` directive, parsed. Immutable once the configuration is loaded.
struct CheckSpec {
    CheckType type = CheckType::kHttp;
    std::string uri = "/";
    std::vector<StatusRange> expect{{200, 399}};
    std::shared_ptr<const http::Regex> body;  // body=~regex: must match the response body
    std::string host;                         // Host header (and SNI); empty: from the server
    uint16_t port = 0;                        // 0: the server's own port
    std::string send;                         // tcp, udp: sent first (udp: the datagram)
    std::optional<ReplyExpect> reply;         // tcp, udp: what the reply must be
    Millis interval{5000};
    Millis timeout{5000};
    Millis jitter{0};  // each wait is lengthened by a random 0..jitter
    int fall = 1;      // failed checks in a row that take a server out
    int rise = 1;      // passed checks in a row that bring it back

    /// Smallest interval accepted (checks of 100ms work).
    static constexpr Millis kMinInterval{100};
    /// Bytes of a response body looked at by `body=~` (the rest is not read).
    static constexpr size_t kMaxBody = 64 * 1024;
    /// Longest response head accepted.
    static constexpr size_t kMaxHead = 16 * 1024;
    /// Bytes of a tcp/udp reply looked at by `expect=` (nginx's proxy_buffer_size default);
    /// also the longest `send=` and plain `expect=`.
    static constexpr size_t kMaxReply = 16 * 1024;

    bool accepts(int status) const;
};

/// Why a check failed; kNone = it passed.
enum class Failure {
    kNone,
    kConnectRefused,   // "connect() refused"
    kConnectFailed,    // "connect() failed (113: No route to host)"
    kTimeout,          // "timeout after 1s"
    kReset,            // "connection reset"
    kIoError,          // "recv() failed (...)" / "send() failed (...)"
    kClosed,           // "connection closed prematurely"
    kInvalidResponse,  // "invalid response"
    kStatus,           // "status 503"
    kBodyMismatch,     // "body mismatch"
    kTls,              // "SSL handshake failed"
    kReplyMismatch,    // "reply mismatch" (tcp/udp expect=)
    kRefused,          // "connection refused": a udp check's ICMP port unreachable
};

/// The outcome of one check.
struct CheckResult {
    Failure failure = Failure::kNone;
    int status = 0;  // the HTTP status when one was received
    int err = 0;     // errno for kConnectFailed / kIoError
    Millis timeout{0};

    bool ok() const { return failure == Failure::kNone; }
    /// The reason, as logged and published: "status 503", "timeout after 1s"...
    std::string reason() const;

    static CheckResult pass(int status = 0) { return CheckResult{Failure::kNone, status}; }
    static CheckResult fail(Failure f, int err = 0) { return CheckResult{f, 0, err}; }
};

/// "1s", "1500ms", "2m": a duration as the configuration writes it.
std::string format_duration(Millis d);

/// Up/down by consecutive results (keepalived's retry, nginx plus's fails/passes): `fall`
/// failures in a row take an up server down, `rise` passes in a row bring a down one up.
class HealthMachine {
  public:
    enum class Change { kNone, kDown, kUp };

    /// A server in state `down`, whose last `streak` checks all had result `last_ok` (what a
    /// respawned or reloaded checker finds in shared memory; a new server: up, no history).
    HealthMachine(int fall, int rise, bool down = false, uint32_t streak = 0, bool last_ok = true);

    /// Counts one check; returns the change it caused.
    Change record(bool ok);
    bool down() const { return down_; }
    uint32_t streak() const { return streak_; }
    bool last_ok() const { return last_ok_; }

  private:
    int fall_;
    int rise_;
    bool down_;
    uint32_t streak_;
    bool last_ok_;
};

/// Classifies an HTTP check's response as it arrives: the status line and head
/// (http::parse_response_head), the status against `expect`, then, when `body=~` is set, the
/// body (Content-Length, chunked or until close; at most kMaxBody bytes) against the regex.
class ResponseCheck {
  public:
    enum class Verdict { kNeedMore, kDone };

    explicit ResponseCheck(const CheckSpec& spec) : spec_(spec) {}
    /// `received`: every byte of the response so far; `eof`: the peer closed. kDone sets
    /// `out` (pass or fail); kNeedMore asks for more bytes (never returned with eof).
    Verdict feed(std::string_view received, bool eof, CheckResult& out);

  private:
    Verdict body_verdict(std::string_view body, int status, CheckResult& out) const;

    const CheckSpec& spec_;
    size_t scan_ = 0;
};

/// Judges the reply of a tcp check as it arrives (or a udp check's datagram, whole) against
/// `expect=`: a prefix is decided as soon as the bytes differ or are all in; a regex as soon as
/// it matches what arrived, else at the close (or at kMaxReply bytes).
class ReplyCheck {
  public:
    enum class Verdict { kNeedMore, kDone };

    /// `datagram`: each feed() is one whole reply (udp), never more to come.
    ReplyCheck(const ReplyExpect& expect, bool datagram) : expect_(expect), datagram_(datagram) {}
    /// `received`: every byte of the reply so far; `eof`: the peer closed.
    Verdict feed(std::string_view received, bool eof, CheckResult& out) const;
    /// The verdict when the check's time is up with `received` in: a regex that does not match
    /// what came is "reply mismatch"; nullopt (a timeout) otherwise.
    std::optional<CheckResult> at_timeout(std::string_view received) const;

  private:
    const ReplyExpect& expect_;
    bool datagram_;
};

/// One server to check: where to connect and what to call it.
struct Target {
    std::string group;    // the upstream's name (logs)
    std::string server;   // the server as configured, "127.0.0.1:8081" (logs)
    core::SockAddr addr;  // where the check connects (the server's address, port= applied)
    std::string host;     // Host header and SNI
};

/// A check in progress. Destroying it cancels it (closes its connection).
class Probe {
  public:
    virtual ~Probe() = default;
    /// Called when the check's timeout expires, just before the probe is destroyed: the
    /// check's result then, or nullopt for "timeout after ..." (a udp check without expect
    /// passes here: no ICMP error came in time).
    virtual std::optional<CheckResult> at_timeout() const { return std::nullopt; }
};

/// Starts checks. `done` is called once per started check unless the Probe is destroyed
/// first; it may be called before start() returns (an immediate connect failure). The
/// Probe must not be destroyed inside `done` (the Checker keeps it until its next timer).
class Prober {
  public:
    using Done = std::function<void(const CheckResult&)>;
    virtual ~Prober() = default;
    virtual std::unique_ptr<Probe> start(const CheckSpec& spec, const Target& target,
                                         Done done) = 0;
};

/// Runs the checks of one server: every `interval` (+ a random 0..jitter) from the start of
/// the previous check, at most `timeout` each (then the probe is cancelled and the check
/// fails with "timeout after ...", unless Probe::at_timeout() says otherwise); counts results in a
/// HealthMachine and reports each one. Time comes from a TimeSource (the loop, or support::FakeTime
/// in tests).
class Checker {
  public:
    /// After every check: the checker (state(), last()) and the change the result caused.
    using Report = std::function<void(const Checker&, HealthMachine::Change)>;

    Checker(ev::TimeSource& time, const CheckSpec& spec, Target target, Prober& prober,
            HealthMachine initial, Report report, uint64_t seed = 0);
    ~Checker();
    Checker(const Checker&) = delete;
    Checker& operator=(const Checker&) = delete;

    /// Schedules the first check after `delay` (plus jitter).
    void start(Millis delay = Millis(0));

    const HealthMachine& state() const { return state_; }
    const CheckResult& last() const { return last_; }
    const Target& target() const { return target_; }
    const CheckSpec& spec() const { return spec_; }
    bool checking() const { return probe_ != nullptr; }
    uint64_t checks() const { return checks_; }

  private:
    void run();
    void finish(const CheckResult& r);
    Millis jitter();

    ev::TimeSource& time_;
    const CheckSpec& spec_;
    Target target_;
    Prober& prober_;
    HealthMachine state_;
    Report report_;
    std::mt19937_64 rng_;
    std::unique_ptr<ev::Timer> tick_;
    std::unique_ptr<ev::Timer> deadline_;
    std::unique_ptr<Probe> probe_;
    std::unique_ptr<Probe> retired_;  // finished; destroyed at the next tick
    ev::TimePoint started_{};
    CheckResult last_;
    uint64_t checks_ = 0;
    bool in_flight_ = false;
    uint64_t generation_ = 0;  // of the check in progress
};

}  // namespace mod::healthcheck
