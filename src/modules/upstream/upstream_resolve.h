#pragma once

// `server name resolve` at run time (nginx 1.27.3): in every worker, the names of a group's
// `resolve` servers are looked up through the http block's `resolver` (ev::Resolver: UDP over
// the worker's loop, never blocking, answers cached for their TTL or `valid=`) and what is
// found is published to the group's shared state (Group::update_resolved), so peers come and
// go without a reload. A lookup runs again once the cached answer has expired.

#include <memory>
#include <string>
#include <vector>

#include "event/loop.h"
#include "event/resolver.h"
#include "upstream/upstream.h"

namespace upstream {

/// Keeps the `resolve` servers of one group up to date, in one worker. Destroying it stops
/// the lookups (their callbacks never run).
class ResolveWatch {
  public:
    ResolveWatch(ev::Loop& loop, const Group& group, std::shared_ptr<const ev::ResolverSpec> spec);
    ~ResolveWatch();
    ResolveWatch(const ResolveWatch&) = delete;
    ResolveWatch& operator=(const ResolveWatch&) = delete;

  private:
    struct Name {
        std::string host;
        uint16_t port = 0;
        std::unique_ptr<ev::ResolveQuery> query;
        int last_code = -1;  // the last outcome (ev::ResolveCode), logged when it changes
    };

    void tick();
    void apply(Name& n, const ev::ResolveResult& res);

    ev::Loop& loop_;
    const Group& group_;
    std::shared_ptr<const ev::ResolverSpec> spec_;
    std::vector<std::unique_ptr<Name>> names_;
    std::unique_ptr<ev::Timer> timer_;
};

}  // namespace upstream
