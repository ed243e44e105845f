#pragma once
// The http_v2 module's configuration (nginx's ngx_http_v2_module directives).
#include <cstdint>
#include <optional>

#include "core/conf_context.h"
#include "core/module.h"

namespace mod::http_v2 {

struct Http2MainConf : core::ConfBase {
    std::optional<core::Size> recv_buffer_size;  // http2_recv_buffer_size 256k: one read
};

struct Http2SrvConf : core::ConfBase {
    std::optional<bool> enable;                      // http2 off
    std::optional<uint64_t> max_concurrent_streams;  // http2_max_concurrent_streams 128
    std::optional<core::Size> body_preread_size;     // http2_body_preread_size 64k
};

struct Http2LocConf : core::ConfBase {
    std::optional<core::Size> chunk_size;  // http2_chunk_size 8k: the most one DATA frame takes
};

}  // namespace mod::http_v2
