#include "modules/upstream/upstream_resolve.h"

#include "core/log.h"

namespace upstream {

namespace {
// How often a worker looks at its names: a cached answer costs nothing, an expired one is
// asked again (so addresses follow the TTL within this much).
constexpr ev::Duration kPoll{1000};
}  // namespace

ResolveWatch::ResolveWatch(ev::Loop& loop, const Group& group,
                           std::shared_ptr<const ev::ResolverSpec> spec)
    : loop_(loop), group_(group), spec_(std::move(spec)) {
    for (auto& [host, port] : group.resolve_names()) {
        auto n = std::make_unique<Name>();
        n->host = host;
        n->port = port;
        names_.push_back(std::move(n));
    }
    timer_ = loop_.make_timer([this] { tick(); });
    timer_->arm(ev::Duration(0));
}

ResolveWatch::~ResolveWatch() = default;

void ResolveWatch::tick() {
    ev::Resolver& resolver = ev::Resolver::of(loop_, spec_);
    for (auto& n : names_) {
        if (n->query) {
            continue;  // still asking
        }
        ev::ResolveResult res;
        if (resolver.cached(n->host, res)) {
            apply(*n, res);
            continue;
        }
        Name* name = n.get();
        n->query = resolver.resolve(n->host, [this, name](const ev::ResolveResult& r) {
            name->query.reset();
            apply(*name, r);
        });
    }
    timer_->arm(kPoll);
}

void ResolveWatch::apply(Name& n, const ev::ResolveResult& res) {
    if (res.code == ev::kResolveOk) {
        group_.update_resolved(n.host, n.port, res.addrs, res.answered_ms);
    } else {
        if (res.code != n.last_code) {
            HALO_LOG(kError, "%s could not be resolved (%s) in upstream \"%s\"", n.host.c_str(),
                     res.error().c_str(), group_.name().c_str());
        }
        if (res.code == ev::kResolveNxDomain) {
            group_.update_resolved(n.host, n.port, {}, res.answered_ms);  // nginx: no address now
        }
    }
    n.last_code = res.code;
}

}  // namespace upstream
