#pragma once

// nginx's pacing rule, shared by what paces a byte stream: the http core's limit_rate (the
// response to a client), the proxy's proxy_limit_rate (reading an upstream's response). Plain
// arithmetic over a millisecond clock the caller reads, so it is tested without a loop.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>

namespace ev {

/// One paced transfer. nginx's rule (ngx_http_write_filter, ngx_event_pipe_read_upstream): by
/// second t of the transfer, counting the second it began in as the first, at most rate × t
/// bytes past the first `after` may have moved; and a pass that moved n bytes past `after` is
/// followed by a pause of n / rate, so that the bytes come evenly rather than a second's worth
/// at a time. The pauses follow a schedule (the time the bytes moved so far are due at the
/// rate) rather than adding up: a timer that fires late is made up for by a shorter next
/// pause, so the pace is the rate and not a little under it, and the schedule is allowed to
/// fall behind by at most `slack` (a client that stalled gets no burst to catch up).
struct RateLimit {
    uint64_t rate = 0;    // bytes per second; 0: not paced
    uint64_t after = 0;   // the first bytes move unpaced (limit_rate_after)
    int64_t start_s = 0;  // the second the transfer began in (of the clock the caller reads)
    uint64_t moved = 0;   // bytes moved so far, the unpaced ones included
    std::optional<int64_t> due_us;  // when the paced bytes so far are due (none moved yet)

    /// How many bytes may move at `now_ms`; 0 when none may: then `wait` says how long until
    /// some may (nginx: the overdraft at the rate, plus one millisecond).
    uint64_t allowance(int64_t now_ms, std::chrono::milliseconds& wait) const {
        int64_t seconds = now_ms / 1000 - start_s + 1;
        int64_t paced = static_cast<int64_t>(moved) - static_cast<int64_t>(after);
        int64_t limit = static_cast<int64_t>(rate) * std::max<int64_t>(seconds, 1) - paced;
        if (limit > 0) {
            return static_cast<uint64_t>(limit);
        }
        wait = std::chrono::milliseconds(-limit * 1000 / static_cast<int64_t>(rate) + 1);
        return 0;
    }

    /// Counts `n` bytes that moved at `now_ms`; returns the pause before the next pass (zero
    /// for bytes within `after`, or when the schedule is behind).
    std::chrono::milliseconds account(uint64_t n, int64_t now_ms,
                                      std::chrono::milliseconds slack = {}) {
        uint64_t before = std::max(moved, after);
        moved += n;
        uint64_t paced = std::max(moved, after) - before;
        if (paced == 0) {
            return {};
        }
        int64_t now_us = now_ms * 1000;
        int64_t due = due_us.value_or(now_us);  // the first paced bytes: the schedule starts
        due = std::max(due, now_us - static_cast<int64_t>(slack.count()) * 1000);
        due += static_cast<int64_t>(paced * 1000000 / rate);
        due_us = due;
        return std::chrono::milliseconds(due > now_us ? (due - now_us + 999) / 1000 : 0);
    }
};

}  // namespace ev
