#pragma once

// OCSP (RFC 6960) for the ssl module, as nginx does it: stapling responses fetched from the
// certificate's responder (ssl_stapling, ssl_stapling_responder, ssl_stapling_verify), and
// the status of client certificates (ssl_ocsp, ssl_ocsp_responder, ssl_ocsp_cache).
//
// Where it runs: in each worker, on its event loop, never blocking, as nginx. A responder is
// asked over HTTP/1.0 (GET with the base64 request in the path); its name is looked up with
// the server's `resolver` when one is configured, else the addresses found at configuration
// time are used. The stapled response is cached per worker until its nextUpdate and refreshed
// in the background (ocsp_staple.cc); client certificate verdicts are cached in a shared zone
// when ssl_ocsp_cache names one (ocsp_client.cc).

#include <openssl/ocsp.h>
#include <openssl/ssl.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/log.h"
#include "core/net.h"
#include "core/shm.h"
#include "event/connection.h"
#include "event/resolver.h"

namespace mod::http_ssl {

/// An OCSP responder URL as nginx takes it: "http://host[:port][/uri]".
struct OcspResponder {
    std::string host;  // as written (Host header, logs, the resolver)
    uint16_t port = 80;
    std::string uri = "/";
    std::vector<core::SockAddr> addrs;  // known now (an address, or looked up at config time)
    bool operator==(const OcspResponder&) const = default;
};

/// Parses `url`; "" when it is good, else nginx's reason: "invalid URL prefix", "invalid
/// host", "invalid port", or with `resolve` (a blocking lookup: configuration time only)
/// "host not found". Without `resolve` only an address literal fills `addrs`.
std::string parse_responder(std::string_view url, bool resolve, OcspResponder& out);

/// The HTTP request asking `responder` for the status of `cert` (issued by `issuer`): GET
/// with the DER request in base64, URL-escaped (RFC 6960 appendix A.1), over HTTP/1.0.
/// Empty when OpenSSL fails.
std::string ocsp_http_request(const OcspResponder& responder, X509* cert, X509* issuer);

/// What a responder's HTTP answer holds, once it closed the connection.
struct OcspHttpAnswer {
    enum class Outcome { kOk, kInvalid, kPremature, kBadType };
    Outcome outcome = Outcome::kOk;
    int code = 0;
    std::string content_type;  // kBadType: the value sent
    std::string_view body;     // into the parsed bytes
};
/// Parses a whole answer (status line, headers, body to the end).
OcspHttpAnswer parse_ocsp_answer(std::string_view bytes);

/// What a verified response says about one certificate.
struct OcspVerdict {
    int status = V_OCSP_CERTSTATUS_UNKNOWN;  // V_OCSP_CERTSTATUS_*
    int64_t valid = 0;                       // nextUpdate (unix time), kForever without one
    static constexpr int64_t kForever = INT64_MAX;
};

/// nginx's checks of a response (code 200, successful, signature by `flags` against the
/// store of `ctx` with `chain`, the certificate's status found, thisUpdate/nextUpdate valid
/// with 5 minutes of leeway). False with `error` (nginx's words, OpenSSL's reason included)
/// when it fails; an empty `error` for a code other than 200 (nginx logs nothing then).
bool ocsp_verify(int code, std::string_view der, SSL_CTX* ctx, STACK_OF(X509) * chain,
                 unsigned long flags, X509* cert, X509* issuer, OcspVerdict& out,
                 std::string& error);

/// One request to a responder, on the worker's event loop: looks the name up (the resolver
/// when one is configured), connects to each address in turn until one answers, sends the
/// request and reads the answer until the responder closes. Errors are logged as nginx logs
/// them ("OCSP responder timed out ... while requesting certificate status, responder: h,
/// peer: a, certificate: \"c\""). `done` runs from the loop, never from start(), at most
/// once; destroying the fetch cancels it.
class OcspFetch final : public ev::ConnectionHandler {
  public:
    struct Params {
        OcspResponder responder;
        std::string request;  // from ocsp_http_request()
        ev::Duration timeout{60000};
        std::shared_ptr<const ev::ResolverSpec> resolver;  // nullptr: none configured
        const core::Log* log = nullptr;                    // nullptr: the main error log
        uint64_t connection = 0;                           // "*N" of the lines (0: none)
        std::string certificate;                           // named in the lines ("": none)
    };
    /// `ok`: an answer came (answer() has it); false: every address failed (logged).
    using Done = std::function<void(OcspFetch& fetch, bool ok)>;

    static std::unique_ptr<OcspFetch> start(ev::Loop& loop, Params params, Done done);
    ~OcspFetch() override;
    OcspFetch(const OcspFetch&) = delete;
    OcspFetch& operator=(const OcspFetch&) = delete;

    const OcspHttpAnswer& answer() const { return answer_; }
    /// Logs `msg` with the fetch's context (for the verdict on the answer).
    void log(core::LogLevel level, const std::string& msg) const;

    void on_readable() override;
    void on_drained() override {}
    void on_timeout() override;
    void on_error() override;
    void on_connect(int err) override;

  private:
    OcspFetch(ev::Loop& loop, Params params, Done done);
    void begin();
    void resolved(const ev::ResolveResult& res);
    void connect();
    /// Gives up on the current address and tries the next one (or fails).
    void next();
    void finish(bool ok);
    void drop_connection();

    ev::Loop& loop_;
    Params params_;
    Done done_;
    std::unique_ptr<ev::Timer> kick_;
    std::unique_ptr<ev::ResolveQuery> query_;
    std::vector<core::SockAddr> addrs_;
    size_t naddr_ = 0;
    std::string peer_;  // the address being tried, for the log
    std::unique_ptr<ev::Connection> conn_;
    ev::Buffer in_;
    std::string bytes_;
    OcspHttpAnswer answer_;
};

/// When a worker asks again for a staple valid until `valid` (nginx's rule): before it
/// expires (5 minutes before), but not sooner than 5 minutes from `now`, and at least every
/// hour.
int64_t staple_refresh(int64_t valid, int64_t now);

/// The unix time of an ASN.1 time (nextUpdate); -1 when it cannot be read.
int64_t ocsp_time(const ASN1_GENERALIZEDTIME* t);

/// The stapling state of one certificate of a server context (ocsp_staple.cc): the response
/// to staple and, when a responder is known, when to ask it again. Made at configuration
/// time; each worker then keeps its own copy up to date (nginx's ngx_ssl_stapling_t).
struct Staple {
    Staple() = default;
    ~Staple();
    Staple(const Staple&) = delete;
    Staple& operator=(const Staple&) = delete;

    SSL_CTX* ctx = nullptr;
    X509* cert = nullptr;                    // the context's
    STACK_OF(X509) * chain = nullptr;        // the context's chain for `cert`
    X509* issuer = nullptr;                  // owned reference
    std::string name;                        // the certificate file, for the log
    std::optional<OcspResponder> responder;  // none: a file response, never refreshed
    std::shared_ptr<const ev::ResolverSpec> resolver;
    bool verify = false;  // ssl_stapling_verify
    std::string der;      // the response stapled ("" none yet)
    int64_t valid = 0;    // stapled until then (unix time)
    int64_t refresh = 0;  // asked again from then on
    bool loading = false;
    std::unique_ptr<OcspFetch> fetch;
};

/// The client certificate check of a server context (ssl_ocsp): made at configuration time.
struct OcspClientConf {
    bool leaf_only = false;                  // `ssl_ocsp leaf`
    std::optional<OcspResponder> responder;  // ssl_ocsp_responder, else each certificate's
    core::ShmZone* cache = nullptr;          // ssl_ocsp_cache shared:...
    std::shared_ptr<const ev::ResolverSpec> resolver;
    ev::Duration timeout{60000};
};

}  // namespace mod::http_ssl
