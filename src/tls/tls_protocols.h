#pragma once

// The TLS protocol versions both ends of halo name in their config (ssl_protocols on the
// server side, proxy_ssl_protocols towards https upstreams): their bits and nginx's names.
// Names no OpenSSL type, so that the proxy's config builds without OpenSSL.

#include <cstdint>

#include "core/conf_context.h"

namespace tls {

/// ssl_protocols and proxy_ssl_protocols bits.
enum TlsProtocol : uint32_t {
    kTlsV1 = 1u << 0,
    kTlsV1_1 = 1u << 1,
    kTlsV1_2 = 1u << 2,
    kTlsV1_3 = 1u << 3,
};

/// What both ends use when the config does not say.
inline constexpr uint32_t kTlsDefaultProtocols = kTlsV1_2 | kTlsV1_3;

/// nginx's names (case-sensitive), for core::bitmask_slot.
inline constexpr core::Named<uint32_t> kTlsProtocolNames[] = {
    {"TLSv1", kTlsV1},
    {"TLSv1.1", kTlsV1_1},
    {"TLSv1.2", kTlsV1_2},
    {"TLSv1.3", kTlsV1_3},
};

/// The detail of the error on an unknown name.
inline constexpr char kTlsProtocolsExpected[] = "one of TLSv1 TLSv1.1 TLSv1.2 TLSv1.3 expected";

}  // namespace tls
