// `least_conn;`: weighted least connections (LVS's wlc, nginx's least_conn). The peer with
// the fewest requests in flight per unit of weight, all workers counted (the counts are in the
// group's shared zone); peers tied on that ratio are chosen among by smooth weighted round
// robin, as nginx does.
#include <cstdint>
#include <vector>

#include "core/conf_context.h"
#include "core/module.h"
#include "modules/upstream_least_conn/least_conn.h"
#include "upstream/upstream.h"

namespace mod::upstream_least_conn {
namespace {

using core::ConfContext;
using core::Status;
using upstream::Group;
using upstream::PeerState;
using upstream::PickContext;

struct LeastConnConf : upstream::UpstreamConf {};

int pick_least_conn(const Group& group, PeerState* peers, const std::vector<int>& candidates,
                    PickContext&) {
    const auto& servers = group.servers();
    auto weight = [&](int i) {
        return static_cast<int64_t>(servers[static_cast<size_t>(i)].weight);
    };
    auto conns = [&](int i) { return static_cast<int64_t>(peers[i].conns); };
    // conns(a) / weight(a) compared with conns(b) / weight(b), without division.
    auto compare = [&](int a, int b) { return conns(a) * weight(b) - conns(b) * weight(a); };

    int best = -1;
    bool many = false;
    for (int i : candidates) {
        if (best < 0 || compare(i, best) < 0) {
            best = i;
            many = false;
        } else if (compare(i, best) == 0) {
            many = true;
        }
    }
    if (best < 0 || !many) {
        return best;
    }
    // Ties: smooth weighted round robin among the peers with the lowest ratio.
    int lowest = best;
    return upstream::smooth_wrr(group, peers, candidates,
                                [&](int i) { return compare(i, lowest) == 0; });
}

const upstream::Balancer kLeastConn{
    .name = "least_conn",
    .pick = &pick_least_conn,
};

Status set_least_conn(ConfContext& cf, LeastConnConf& conf) {
    Status s = conf.group->set_balancer(&kLeastConn, nullptr);
    return s.is_ok() ? s : cf.error(s.message());
}

constexpr core::Directive kDirectives[] = {
    {"least_conn", core::kCtxUpstream, core::kArgs0, core::setter<&set_least_conn>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<LeastConnConf>(core::ConfLevel::kUpstream),
};

}  // namespace

/// For unit tests: the balancer `least_conn;` sets.
const upstream::Balancer& least_conn_balancer() {
    return kLeastConn;
}

extern const core::Module kModule{
    .name = "http_upstream_least_conn",
    .type = core::ModuleType::kHttpUpstream,
    .directives = kDirectives,
    .confs = kConfs,
};

}  // namespace mod::upstream_least_conn
