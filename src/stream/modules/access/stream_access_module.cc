// allow / deny in stream, as nginx's ngx_stream_access_module: the rules of a server (or, when
// it has none, of the stream block) are tried in order in the access phase; the first that
// matches the client decides, and a deny ends the session with 403. `unix:` matches clients
// of a unix socket, `all` every client.
#include <sys/socket.h>

#include <memory>
#include <vector>

#include "core/log.h"
#include "core/module.h"
#include "core/net.h"
#include "stream/stream.h"

namespace mod::stream_access {
namespace {

using core::ConfContext;
using core::Status;

struct Rule {
    core::Cidr cidr;  // family 0: `all`
    bool unix_socket = false;
    bool allow = false;

    bool matches(const core::SockAddr& peer) const {
        if (unix_socket) {
            return peer.family() == AF_UNIX;
        }
        return cidr.contains(peer);
    }
};

struct AccessSrvConf : core::ConfBase {
    std::shared_ptr<std::vector<Rule>> rules;  // set at this level; shared with servers
};

Status merge(const AccessSrvConf& parent, AccessSrvConf& child) {
    if (!child.rules) {
        child.rules = parent.rules;
    }
    return Status::ok();
}

Status set_rule(ConfContext& cf, AccessSrvConf& conf) {
    Rule rule;
    rule.allow = cf.name() == "allow";
    if (cf.arg(0) == "unix:") {
        rule.unix_socket = true;
    } else {
        auto cidr = core::Cidr::parse(cf.arg(0));
        if (!cidr) {
            return cf.error("invalid parameter \"" + cf.arg(0) + "\"");
        }
        rule.cidr = *cidr;
    }
    if (!conf.rules) {
        conf.rules = std::make_shared<std::vector<Rule>>();
    }
    conf.rules->push_back(rule);
    return Status::ok();
}

constexpr core::Directive kDirectives[] = {
    {"allow", core::kCtxStreamAll, core::kArgs1, core::setter<&set_rule>()},
    {"deny", core::kCtxStreamAll, core::kArgs1, core::setter<&set_rule>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<AccessSrvConf>(core::ConfLevel::kStreamSrv),
};

stream::Flow access_handler(stream::Session& s) {
    const auto& c = s.srv_conf<AccessSrvConf>();
    if (!c.rules) {
        return stream::Flow::kDeclined;
    }
    for (const Rule& rule : *c.rules) {
        if (!rule.matches(s.peer)) {
            continue;
        }
        if (rule.allow) {
            return stream::Flow::kDeclined;
        }
        HALO_LOG(kError,
                 "access forbidden by rule while initializing session, client: %s, server: %s",
                 s.peer.host_text().c_str(), s.local().text().c_str());
        s.status = 403;
        return stream::Flow::kDone;
    }
    return stream::Flow::kDeclined;
}

Status postconfiguration(core::Cycle& cycle) {
    stream::add_phase_handler(cycle, stream::Phase::kAccess, &access_handler);
    return Status::ok();
}

}  // namespace

extern const core::Module kModule{
    .name = "stream_access",
    .type = core::ModuleType::kStream,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &postconfiguration,
};

}  // namespace mod::stream_access
