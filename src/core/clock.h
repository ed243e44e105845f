#pragma once

// The two millisecond clocks of halo, one definition each: the steady clock for intervals and
// deadlines (the same clock in every process of a machine, so one process can read another's
// stamps in shared memory), the wall clock for what is shown or logged.

#include <chrono>
#include <cstdint>

namespace core {

/// The steady clock as read once per event-loop turn (nginx's cached time): while a loop
/// turn runs (ev::Loop::run_once), the first read after the wait reads the clock and the
/// others in that turn get the same value, so a request that arms several timeouts and
/// stamps several times reads the clock about once per wakeup. Outside a turn every read
/// is fresh.
struct TurnTime {
    bool on = false;     // a loop turn is running on this thread
    bool fresh = false;  // `at` was read during this turn
    std::chrono::steady_clock::time_point at{};
};
extern constinit thread_local TurnTime turn_time;

/// The steady clock, cached per loop turn (see TurnTime). Any process, any thread.
inline std::chrono::steady_clock::time_point steady_now() {
    TurnTime& t = turn_time;
    if (!t.on) {
        return std::chrono::steady_clock::now();
    }
    if (!t.fresh) {
        t.at = std::chrono::steady_clock::now();
        t.fresh = true;
    }
    return t.at;
}

/// Milliseconds of the steady (monotonic) clock, cached per loop turn. Any process, any thread.
inline int64_t steady_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_now().time_since_epoch()).count();
}

/// Milliseconds since the Unix epoch (wall clock; may jump). Any process, any thread.
inline int64_t unix_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace core
