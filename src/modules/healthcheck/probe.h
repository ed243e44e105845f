#pragma once

// The network side of active health checks: TCP connect (with send/expect), HTTP GET and
// HTTPS GET over the event layer (ev::Connection; TLS through tls::SslTransport), and UDP
// datagrams on a connected socket watched by the loop. Used by the healthcheck helper process
// (and by a `master_process off` halo), never by workers.

#include <cstdint>
#include <memory>

#include "event/loop.h"
#include "modules/healthcheck/healthcheck.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace mod::healthcheck {

/// Starts real checks on `loop`. One per process; the TLS client context (no certificate
/// verification, as keepalived's SSL_GET) is made on the first https check.
class NetProber final : public Prober {
  public:
    explicit NetProber(ev::Loop& loop);
    ~NetProber() override;
    NetProber(const NetProber&) = delete;
    NetProber& operator=(const NetProber&) = delete;

    std::unique_ptr<Probe> start(const CheckSpec& spec, const Target& target, Done done) override;

    /// The GET request a check sends.
    static std::string request(const CheckSpec& spec, const Target& target);

  private:
    SSL_CTX* tls_context();

    ev::Loop& loop_;
    SSL_CTX* tls_ = nullptr;
    uint64_t next_id_ = 0;
};

}  // namespace mod::healthcheck
