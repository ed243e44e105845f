#pragma once

// What the status page's renderings (status_render.cc: JSON; status_prom.cc: Prometheus)
// share. Internal to the status module.

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <string>

namespace mod::status::render {

inline const char* const kClasses[5] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
inline const char* const kPeerStates[4] = {"up", "down", "backup", "draining"};
inline const char* const kStreamClasses[3] = {"2xx", "4xx", "5xx"};

inline std::string num(uint64_t v) {
    return std::to_string(v);
}
inline std::string num(int64_t v) {
    return std::to_string(v);
}
inline std::string num(int v) {
    return std::to_string(v);
}
inline std::string num(uint32_t v) {
    return std::to_string(v);
}
/// Seconds from milliseconds, with three decimals.
inline std::string seconds(int64_t ms) {
    ms = ms < 0 ? 0 : ms;
    char buf[32];
    snprintf(buf, sizeof(buf), "%" PRId64 ".%03d", ms / 1000, static_cast<int>(ms % 1000));
    return buf;
}

}  // namespace mod::status::render
