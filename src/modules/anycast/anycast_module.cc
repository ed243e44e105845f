// The anycast module: the `anycast { }` block (see anycast_conf.h for the grammar), its checks,
// the status reader, and the helper process that announces the service addresses
// (anycast_helper.cc).
#include <arpa/inet.h>
#include <net/if.h>

#include <algorithm>
#include <string>

#include "core/conf_context.h"
#include "core/cycle.h"
#include "core/module.h"
#include "modules/anycast/anycast_conf.h"
#include "modules/anycast/anycast_helper.h"
#include "modules/anycast/anycast_status.h"

namespace anycast {

extern const core::Module kModule;

namespace {

using core::ConfContext;
using core::ConfNode;
using core::Status;

Status at(const ConfNode& n, const std::string& what) {
    return Status::error(what + " in " + n.where());
}

Status invalid(const ConfNode& n, const std::string& value, const std::string& detail) {
    return at(n, "invalid value \"" + value + "\" in \"" + std::string(n.name()) +
                     "\" directive, " + detail);
}

Status wrong_args(const ConfNode& n) {
    return at(n, "invalid number of arguments in \"" + std::string(n.name()) + "\" directive");
}

Status set_address(const ConfNode& n, AnycastConf& conf) {
    if (n.args.size() != 2) {
        return wrong_args(n);
    }
    const std::string& a = n.args[1];
    size_t slash = a.find('/');
    std::string host = a.substr(0, slash);
    if (host.find(':') != std::string::npos) {
        return at(n, "IPv6 anycast address \"" + a + "\" is not supported yet");
    }
    in_addr ip{};
    if (inet_pton(AF_INET, host.c_str(), &ip) != 1) {
        return invalid(n, a, "expected an IPv4 address such as 10.77.0.200/32");
    }
    if (slash != std::string::npos && a.substr(slash + 1) != "32") {
        return invalid(n, a, "an anycast address is a host route: /32");
    }
    uint32_t v = ntohl(ip.s_addr);
    if (v == 0 || (v >> 24) == 127 || (v >> 28) >= 14) {
        return invalid(n, a, "not a unicast address");
    }
    if (std::find(conf.addresses.begin(), conf.addresses.end(), v) != conf.addresses.end()) {
        return at(n, "duplicate anycast address \"" + a + "\"");
    }
    if (conf.addresses.size() >= kMaxAddresses) {
        return at(n, "too many anycast addresses (at most " + std::to_string(kMaxAddresses) + ")");
    }
    conf.addresses.push_back(v);
    conf.address_text.push_back(host + "/32");
    return Status::ok();
}

Status set_interface(const ConfNode& n, AnycastConf& conf, bool& seen) {
    if (seen) {
        return at(n, "\"interface\" directive is duplicate");
    }
    if (n.args.size() != 2) {
        return wrong_args(n);
    }
    const std::string& name = n.args[1];
    if (name.empty() || name.size() >= IFNAMSIZ || name.find('/') != std::string::npos ||
        name.find(' ') != std::string::npos) {
        return invalid(n, name, "not an interface name");
    }
    if (name == "lo") {
        // The helper makes its own device so that a crash takes the route down with it; the
        // addresses are local through routes anyway (docs/anycast.md).
        return invalid(n, name,
                       "the announcing interface is a device the anycast helper creates "
                       "(a TUN interface), not an existing one");
    }
    conf.interface = name;
    seen = true;
    return Status::ok();
}

Status set_track_upstream(const ConfNode& n, AnycastConf& conf) {
    if (n.args.size() != 2) {
        return wrong_args(n);
    }
    for (const TrackedUpstream& t : conf.track_upstreams) {
        if (t.name == n.args[1]) {
            return at(n, "\"" + n.args[1] + "\" is tracked twice");
        }
    }
    conf.track_upstreams.push_back(TrackedUpstream{n.args[1], n.where()});
    return Status::ok();
}

Status set_track_workers(const ConfNode& n, AnycastConf& conf) {
    if (conf.track_workers) {
        return at(n, "\"track_workers\" directive is duplicate");
    }
    if (n.args.size() > 2) {
        return wrong_args(n);
    }
    Millis timeout = kDefaultWorkersTimeout;
    if (n.args.size() == 2) {
        const std::string& a = n.args[1];
        auto v = a.rfind("timeout=", 0) == 0 ? core::parse_duration(std::string_view(a).substr(8))
                                             : std::nullopt;
        if (!v || *v < kMinWorkersTimeout || *v > Millis(60000)) {
            return invalid(n, a,
                           "expected timeout=T with T " +
                               std::to_string(kMinWorkersTimeout.count()) + "ms..60s");
        }
        timeout = *v;
    }
    conf.track_workers = timeout;
    return Status::ok();
}

Status set_drain_timeout(const ConfNode& n, AnycastConf& conf, bool& seen) {
    if (seen) {
        return at(n, "\"drain_timeout\" directive is duplicate");
    }
    if (n.args.size() != 2) {
        return wrong_args(n);
    }
    auto v = core::parse_duration(n.args[1]);
    if (!v || *v > Millis(3600 * 1000)) {
        return invalid(n, n.args[1], "expected a time up to 1h such as 5s");
    }
    conf.drain_timeout = *v;
    seen = true;
    return Status::ok();
}

/// `anycast { ... }`: its directives are read here (they exist nowhere else).
Status set_anycast(ConfContext& cf, AnycastConf& conf) {
    HALO_TRY(cf.mark_given(conf.seen));
    conf.where = cf.node().where();
    bool has_interface = false;
    bool has_drain = false;
    for (const ConfNode& n : cf.node().children) {
        std::string_view name = n.name();
        if (n.block) {
            return at(n, "unexpected \"{\"");
        }
        Status st = Status::ok();
        if (name == "address") {
            st = set_address(n, conf);
        } else if (name == "interface") {
            st = set_interface(n, conf, has_interface);
        } else if (name == "track_upstream") {
            st = set_track_upstream(n, conf);
        } else if (name == "track_workers") {
            st = set_track_workers(n, conf);
        } else if (name == "drain_timeout") {
            st = set_drain_timeout(n, conf, has_drain);
        } else {
            st = at(n, "unknown directive \"" + std::string(name) + "\"");
        }
        HALO_TRY(st);
    }
    if (conf.addresses.empty()) {
        return cf.error("no \"address\" in the anycast block");
    }
    return Status::ok();
}

constexpr core::Directive kDirectives[] = {
    {"anycast", core::kCtxMain, core::kArgsBlock, core::setter<&set_anycast>()},
};

constexpr core::ConfHooks kConfs[] = {core::conf_hooks<AnycastConf>(core::ConfLevel::kMain)};

Status postconfiguration(core::Cycle& cycle) {
    cycle.attachment<StatusReader>().read = &service_status;
    const AnycastConf& conf = cycle.conf<AnycastConf>();
    if (!conf.active()) {
        return Status::ok();
    }
    return setup_helper(cycle, conf);
}

}  // namespace

const AnycastConf* anycast_conf(const core::Cycle& cycle) {
    if (cycle.registry().index_of(kModule) < 0) {
        return nullptr;
    }
    return &cycle.conf<AnycastConf>();
}

extern const core::Module kModule{
    .name = "anycast",
    .type = core::ModuleType::kCore,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &postconfiguration,
    .init_process = &init_worker,
    .exit_process = &exit_worker,
};

}  // namespace anycast
