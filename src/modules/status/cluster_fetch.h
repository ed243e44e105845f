#pragma once

// Fetching the peers' status pages for the cluster view (cluster.h), in a worker's event
// loop: every peer at once over plain HTTP/1.0, each with a timeout; the results kept for
// `valid` so that many page views make one round of requests per process, and requests
// that come while a round runs wait for it instead of starting another.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "event/loop.h"
#include "modules/status/cluster.h"

namespace mod::status {

class PeerFetch;

/// The peers of one status location (`status_peers`) and their last results, in one process.
/// Made at configuration time; the loop is given at first use (a worker's own).
class PeerSet {
  public:
    PeerSet(std::vector<PeerUrl> urls, std::chrono::milliseconds timeout,
            std::chrono::milliseconds valid);
    ~PeerSet();
    PeerSet(const PeerSet&) = delete;
    PeerSet& operator=(const PeerSet&) = delete;

    const std::vector<PeerUrl>& urls() const { return urls_; }
    std::chrono::milliseconds timeout() const { return timeout_; }
    std::chrono::milliseconds valid() const { return valid_; }

    /// The last round's results are younger than `valid` and no round runs.
    bool fresh() const;
    /// Starts a round on `loop` unless one runs, and calls `ready` from the loop once it has
    /// ended (never from inside this call). Returns a token for cancel().
    uint64_t wait(ev::Loop& loop, std::function<void()> ready);
    /// Forgets a waiter (its request went away).
    void cancel(uint64_t token) { waiters_.erase(token); }
    /// One view per peer, in config order (reachable or with the error), of the last round.
    const std::vector<NodeView>& results() const { return results_; }
    /// Rounds started since the process began (for tests through the page: "rounds").
    uint64_t rounds() const { return rounds_; }

  private:
    void start_round(ev::Loop& loop);
    void one_done(size_t index, std::string body, std::string error);

    std::vector<PeerUrl> urls_;
    std::chrono::milliseconds timeout_;
    std::chrono::milliseconds valid_;
    ev::Loop* loop_ = nullptr;
    std::vector<std::unique_ptr<PeerFetch>> fetches_;  // the running round's
    std::vector<NodeView> pending_;
    size_t outstanding_ = 0;
    std::vector<NodeView> results_;
    int64_t results_steady_ms_ = -1;  // when the last round ended; -1 = never
    std::map<uint64_t, std::function<void()>> waiters_;
    uint64_t next_token_ = 1;
    uint64_t rounds_ = 0;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mod::status
