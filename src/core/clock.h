#pragma once

// The two millisecond clocks of halo, one definition each: the steady clock for intervals and
// deadlines (the same clock in every process of a machine, so one process can read another's
// stamps in shared memory), the wall clock for what is shown or logged.

#include <chrono>
#include <cstdint>

namespace core {

/// Milliseconds of the steady (monotonic) clock. Any process, any thread.
inline int64_t steady_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

/// Milliseconds since the Unix epoch (wall clock; may jump). Any process, any thread.
inline int64_t unix_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace core
