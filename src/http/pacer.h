#pragma once

// limit_rate: the pace of one response (nginx's write filter with r->limit_rate). A paced
// response's bytes pass through a Pacer between the body filters and the session; an unpaced
// one never meets it (Request::pacer_ stays null: one branch in the writer).

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "event/loop.h"
#include "event/rate_limit.h"
#include "http/http.h"

namespace http {

/// Holds the body of one response and hands it to the session as the rate allows: nginx's rule
/// (ev::RateLimit) counted over the head and the body, after limit_rate_after bytes; each pass
/// at most 1/16 of a second's worth (and sendfile_max_chunk), then a pause as long as those
/// bytes take at the rate, on a timer: the worker never blocks, and the client sees an even
/// pace rather than a second's worth at once. More is handed over only once the session has
/// sent what it had (a client slower than the rate is not buried in queued pieces).
///
/// While it holds bytes or pauses, Request::output_blocked() is true: producers wait for
/// on_drained, which the pacer calls once it is ready for more (as a drained session does).
/// Owned by the Request (one per paced response, made by Request::start_pacing()); its timer
/// dies with it, so a client that goes away mid-pause leaves nothing behind.
class Pacer {
  public:
    /// `rate` bytes per second (> 0), the first `after` bytes unpaced, each pass at most
    /// `max_chunk` (0: no bound but the rate's).
    Pacer(Request& r, uint64_t rate, uint64_t after, uint64_t max_chunk);
    ~Pacer();
    Pacer(const Pacer&) = delete;
    Pacer& operator=(const Pacer&) = delete;

    /// From the writer: queues `chunk` (memory is copied, a file range is taken with its fd),
    /// and sends what the rate allows now. With `last`, `r` may be gone when it returns.
    void take(const BodyChunk& chunk);
    /// Bytes are held or a pause runs: the producer waits.
    bool blocked() const { return !queue_.empty() || pausing_; }
    /// Bytes of the response are held here.
    bool holding() const { return !queue_.empty(); }

  private:
    struct Piece {
        std::string data;  // memory (when fd < 0)
        size_t taken = 0;
        int fd = -1;  // a file range: offset, left
        uint64_t offset = 0;
        uint64_t left = 0;
        uint64_t size() const { return fd >= 0 ? left : data.size() - taken; }
    };

    /// Hands over what the rate allows; returns false when the request may be gone (the last
    /// bytes went out).
    bool pump();
    /// The timer: the pause is over (or the session was still busy).
    void on_timer();
    void pause(std::chrono::milliseconds d);
    /// The queue is empty and the pause over: the producer (or the body filter holding back)
    /// hears that it may go on, as from a drained session.
    void wake();

    Request& r_;
    ev::RateLimit limit_;
    uint64_t piece_;      // the most one pass hands over past limit_rate_after
    uint64_t max_chunk_;  // sendfile_max_chunk (0: none)
    std::deque<Piece> queue_;
    bool last_ = false;     // the end of the body is queued
    bool pausing_ = false;  // the timer runs
    std::unique_ptr<ev::Timer> timer_;
    std::shared_ptr<char> alive_ = std::make_shared<char>();  // for wake()
};

}  // namespace http
