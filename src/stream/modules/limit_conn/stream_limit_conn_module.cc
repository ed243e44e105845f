// nginx's ngx_stream_limit_conn_module: `limit_conn_zone key zone=name:size` (stream) and
// `limit_conn zone number` (stream, server; several per level; a server without any inherits
// the stream block's). In the preaccess phase a session holds one count of its key in each
// zone until it ends; a key holding `number` already ends the new session at once with status
// 503 (nothing reaches the upstream), or, with limit_conn_dry_run, only logs it.
// $limit_conn_status: PASSED, REJECTED or REJECTED_DRY_RUN. The zones are the limit_conn
// layer's (src/modules/limit_conn); their names share one space with http's, as in nginx.
#include <memory>
#include <string>
#include <vector>

#include "core/limit_conf.h"
#include "core/log.h"
#include "core/module.h"
#include "core/named.h"
#include "modules/limit_conn/limit_conn_zone.h"
#include "stream/stream.h"

namespace mod::stream_limit_conn {
namespace {

using core::ConfContext;
using core::Status;
using limit_conn::LimitStatus;

const char kZoneTag = 0;  // stream's limit_conn zones

/// A zone with its key compiled as stream's complex value.
struct StreamZone : limit_conn::Zone {
    using Zone::Zone;
    stream::ComplexValue key;
};

struct StreamLimitConn;
/// (`status` unused: nginx's stream limit_conn has no limit_conn_status, a session ends 503.)
using LimitConnSrvConf = core::LimitConf<limit_conn::LimitList, StreamLimitConn>;

Status set_zone(ConfContext& cf) {
    const std::string& key = cf.arg(0);
    const std::string& arg = cf.arg(1);
    std::string name;
    uint64_t size = 0;
    HALO_TRY(limit_conn::parse_zone_arg(cf, arg, name, size));
    auto zone = std::make_unique<StreamZone>(name, size, key, cf.node().where());
    HALO_TRY(stream::ComplexValue::parse(key, cf.node().where(), zone->key));
    stream::register_complex_value(cf.cycle(), &zone->key);
    zone->set_kind("stream");
    return cf.cycle().attachment<limit_conn::Registry>().add_zone(cf, &kZoneTag, std::move(zone));
}

Status set_limit(ConfContext& cf, LimitConnSrvConf& conf) {
    return cf.cycle().attachment<limit_conn::Registry>().add_limit(cf, &kZoneTag, conf.limits);
}

constexpr core::Directive kDirectives[] = {
    {"limit_conn_zone", core::kCtxStream, core::kArgs2, core::setter_noconf<&set_zone>()},
    {"limit_conn", core::kCtxStreamAll, core::kArgs2, core::setter<&set_limit>()},
    {"limit_conn_log_level", core::kCtxStreamAll, core::kArgs1,
     core::enum_slot<&LimitConnSrvConf::log_level, core::kLimitLogLevels>()},
    {"limit_conn_dry_run", core::kCtxStreamAll, core::kArgs1,
     core::slot<&LimitConnSrvConf::dry_run>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<LimitConnSrvConf>(core::ConfLevel::kStreamSrv),
};

/// The session's holds, released when it ends.
struct LimitCtx : stream::SessionCtx {
    LimitStatus status = LimitStatus::kNone;
    std::vector<limit_conn::Hold> holds;
};

int module_index() {
    return core::ConfSlot<LimitConnSrvConf>::index;
}

void log_at(core::LogLevel level, stream::Session& s, const char* what, const std::string& zone) {
    if (core::current_log().enabled(level)) {
        core::log_msg(level, "%s by zone \"%s\" while initializing session, client: %s, server: %s",
                      what, zone.c_str(), s.peer.host_text().c_str(), s.local().text().c_str());
    }
}

stream::Flow limit_handler(stream::Session& s) {
    const auto& conf = s.srv_conf<LimitConnSrvConf>();
    if (!conf.limits) {
        return stream::Flow::kDeclined;
    }
    LimitCtx* ctx = nullptr;
    std::string key;
    for (const limit_conn::Limit& limit : *conf.limits) {
        auto& zone = static_cast<StreamZone&>(*limit.zone);
        if (!zone.attached()) {
            continue;  // a config test's cycle: no shared memory
        }
        key.clear();
        zone.key.eval(s, key);
        if (key.empty()) {
            continue;
        }
        if (key.size() > limit_conn::kMaxKeyLength) {
            HALO_LOG(kError,
                     "the value of the \"%s\" key is more than 255 bytes: \"%s\" while "
                     "initializing session, client: %s, server: %s",
                     zone.key_text().c_str(), key.c_str(), s.peer.host_text().c_str(),
                     s.local().text().c_str());
            continue;
        }
        if (ctx == nullptr) {
            ctx = &s.ctx_of<LimitCtx>(module_index());
        }
        ctx->status = LimitStatus::kPassed;
        limit_conn::Node* node = nullptr;
        limit_conn::Outcome out = zone.acquire(key, limit.conn, *conf.dry_run, node);
        if (out == limit_conn::Outcome::kPassed) {
            ctx->holds.emplace_back(zone, node);
            continue;
        }
        if (out == limit_conn::Outcome::kLimited) {
            log_at(*conf.log_level, s,
                   *conf.dry_run ? "limiting connections, dry run," : "limiting connections",
                   zone.name());
        } else {
            log_at(core::LogLevel::kCrit, s, "could not allocate node in limit_conn_zone",
                   zone.name());
        }
        ctx->holds.clear();  // the zones counted before give theirs back (nginx)
        if (*conf.dry_run) {
            ctx->status = LimitStatus::kRejectedDryRun;
            return stream::Flow::kDeclined;
        }
        ctx->status = LimitStatus::kRejected;
        s.status = 503;
        return stream::Flow::kDone;
    }
    return stream::Flow::kDeclined;
}

bool status_variable(const stream::Session& s, std::string_view, std::string& out) {
    auto i = static_cast<size_t>(module_index());
    if (i >= s.ctx.size() || !s.ctx[i]) {
        return false;
    }
    const auto& ctx = static_cast<const LimitCtx&>(*s.ctx[i]);
    if (ctx.status == LimitStatus::kNone) {
        return false;
    }
    out.append(limit_conn::status_name(ctx.status));
    return true;
}

Status postconfiguration(core::Cycle& cycle) {
    if (stream::stream_main(cycle) == nullptr) {
        return Status::ok();
    }
    auto& registry = cycle.attachment<limit_conn::Registry>();
    HALO_TRY(registry.resolve(&kZoneTag));
    if (registry.has_limits(&kZoneTag)) {
        stream::add_phase_handler(cycle, stream::Phase::kPreAccess, &limit_handler);
    }
    stream::add_variable(cycle, stream::VariableDef{"limit_conn_status", &status_variable});
    return Status::ok();
}

}  // namespace

extern const core::Module kModule{
    .name = "stream_limit_conn",
    .type = core::ModuleType::kStream,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &postconfiguration,
};

}  // namespace mod::stream_limit_conn
