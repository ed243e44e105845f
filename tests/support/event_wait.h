#pragma once

// For unit tests of src/event on a real loop: run it until a condition holds, with a
// generous limit, so that tests assert outcomes and never how long things took.

#include <chrono>

#include "event/loop.h"

namespace halo_test {

/// Runs `loop` in 10 ms slices until `done()`; false when `limit` passed first.
template <class F>
bool run_until(ev::Loop& loop, F done, std::chrono::seconds limit = std::chrono::seconds(10)) {
    auto deadline = ev::Clock::now() + limit;
    while (!done()) {
        if (ev::Clock::now() > deadline) {
            return false;
        }
        loop.run_once(ev::Duration(10));
    }
    return true;
}

}  // namespace halo_test
