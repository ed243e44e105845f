// nginx's ngx_http_limit_conn_module: `limit_conn_zone key zone=name:size` (http) and
// `limit_conn zone number` (http, server, location; several per level; a level without any
// inherits the enclosing level's). In the preaccess phase a request holds one count of its
// key in each zone until it ends (an HTTP/2 stream is a request of its own); a key holding
// `number` already refuses it with limit_conn_status (503), or, with limit_conn_dry_run,
// only logs it. $limit_conn_status: PASSED, REJECTED or REJECTED_DRY_RUN. The zones are the
// limit_conn layer's (src/modules/limit_conn).
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/limit_conf.h"
#include "core/log.h"
#include "core/module.h"
#include "core/named.h"
#include "http/error_log.h"
#include "http/http.h"
#include "http/variables.h"
#include "modules/limit_conn/limit_conn_zone.h"

namespace mod::http_limit_conn {
namespace {

using core::ConfContext;
using core::Status;
using limit_conn::LimitStatus;

const char kZoneTag = 0;  // http's limit_conn zones (stream has its own name space)

/// A zone with its key compiled as http's complex value.
struct HttpZone : limit_conn::Zone {
    using Zone::Zone;
    http::ComplexValue key;
};

struct HttpLimitConn;
using LimitConnLocConf = core::LimitConf<limit_conn::LimitList, HttpLimitConn>;

Status set_zone(ConfContext& cf) {
    const std::string& key = cf.arg(0);
    const std::string& arg = cf.arg(1);
    std::string name;
    uint64_t size = 0;
    HALO_TRY(limit_conn::parse_zone_arg(cf, arg, name, size));
    auto zone = std::make_unique<HttpZone>(name, size, key, cf.node().where());
    HALO_TRY(http::ComplexValue::parse(key, cf.node().where(), zone->key));
    http::register_complex_value(cf.cycle(), &zone->key);
    zone->set_kind("http");
    return cf.cycle().attachment<limit_conn::Registry>().add_zone(cf, &kZoneTag, std::move(zone));
}

Status set_limit(ConfContext& cf, LimitConnLocConf& conf) {
    return cf.cycle().attachment<limit_conn::Registry>().add_limit(cf, &kZoneTag, conf.limits);
}

constexpr core::Directive kDirectives[] = {
    {"limit_conn_zone", core::kCtxHttp, core::kArgs2, core::setter_noconf<&set_zone>()},
    {"limit_conn", core::kCtxHttpAll, core::kArgs2, core::setter<&set_limit>()},
    {"limit_conn_log_level", core::kCtxHttpAll, core::kArgs1,
     core::enum_slot<&LimitConnLocConf::log_level, core::kLimitLogLevels>()},
    {"limit_conn_status", core::kCtxHttpAll, core::kArgs1,
     core::slot<&LimitConnLocConf::status, 400, 599, core::kLimitStatusRange>()},
    {"limit_conn_dry_run", core::kCtxHttpAll, core::kArgs1,
     core::slot<&LimitConnLocConf::dry_run>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<LimitConnLocConf>(core::ConfLevel::kHttpLoc),
};

/// The request's holds, released when it ends; kept across internal redirects so that the
/// preaccess phase of the new location does not count it again (nginx's r->main).
struct LimitCtx : http::RequestCtx {
    LimitStatus status = LimitStatus::kNone;
    // The first hold in place (a location has one limit_conn as a rule: no allocation), the
    // others after it.
    std::optional<limit_conn::Hold> first;
    std::vector<limit_conn::Hold> more;
    void hold(limit_conn::Zone& zone, limit_conn::Node* node) {
        if (!first) {
            first.emplace(zone, node);
        } else {
            more.emplace_back(zone, node);
        }
    }
    void release_all() {
        more.clear();
        first.reset();
    }
    bool survives_redirect() const override { return true; }
};

http::Flow limit_handler(http::Request& r) {
    LimitCtx* ctx = r.ctx<LimitCtx>();
    if (ctx != nullptr && ctx->status != LimitStatus::kNone) {
        return http::Flow::kDeclined;
    }
    if (const LimitCtx* main = r.parent != nullptr ? r.parent->ctx<LimitCtx>() : nullptr;
        main != nullptr && main->status != LimitStatus::kNone) {
        // A subrequest (auth_request) of a request the limits already counted: nginx looks at
        // r->main and does not count it again.
        return http::Flow::kDeclined;
    }
    const auto& conf = r.loc_conf<LimitConnLocConf>();
    if (!conf.limits) {
        return http::Flow::kDeclined;
    }
    std::string key;
    for (const limit_conn::Limit& limit : *conf.limits) {
        auto& zone = static_cast<HttpZone&>(*limit.zone);
        if (!zone.attached()) {
            continue;  // a config test's cycle: no shared memory
        }
        key.clear();
        zone.key.eval(r, key);
        if (key.empty()) {
            continue;
        }
        if (key.size() > limit_conn::kMaxKeyLength) {
            http::log_error(r, core::LogLevel::kError,
                            "the value of the \"%s\" key is more than 255 bytes: \"%s\"",
                            zone.key_text().c_str(), http::escape_log(key).c_str());
            continue;
        }
        if (ctx == nullptr) {
            ctx = &r.make_ctx<LimitCtx>();
        }
        ctx->status = LimitStatus::kPassed;
        limit_conn::Node* node = nullptr;
        limit_conn::Outcome out = zone.acquire(key, limit.conn, *conf.dry_run, node);
        if (out == limit_conn::Outcome::kPassed) {
            ctx->hold(zone, node);
            continue;
        }
        if (out == limit_conn::Outcome::kLimited) {
            http::log_error(r, *conf.log_level, "limiting connections%s by zone \"%s\"",
                            *conf.dry_run ? ", dry run," : "", zone.name().c_str());
        } else {
            http::log_error(r, core::LogLevel::kCrit,
                            "could not allocate node in limit_conn_zone \"%s\"",
                            zone.name().c_str());
        }
        ctx->release_all();  // nginx's cleanup_all: the zones counted before give theirs back
        if (*conf.dry_run) {
            ctx->status = LimitStatus::kRejectedDryRun;
            return http::Flow::kDeclined;
        }
        ctx->status = LimitStatus::kRejected;
        r.send_error(*conf.status);
        return http::Flow::kDone;
    }
    return http::Flow::kDeclined;
}

bool status_variable(const http::Request& r, std::string_view, std::string& out) {
    const LimitCtx* ctx = r.ctx<LimitCtx>();
    if (ctx == nullptr || ctx->status == LimitStatus::kNone) {
        return false;
    }
    out.append(limit_conn::status_name(ctx->status));
    return true;
}

Status postconfiguration(core::Cycle& cycle) {
    if (http::http_main(cycle) == nullptr) {
        return Status::ok();
    }
    auto& registry = cycle.attachment<limit_conn::Registry>();
    HALO_TRY(registry.resolve(&kZoneTag));
    if (registry.has_limits(&kZoneTag)) {
        http::add_phase_handler(cycle, http::Phase::kPreAccess, &limit_handler);
    }
    http::add_variable(cycle, http::VariableDef{"limit_conn_status", &status_variable});
    return Status::ok();
}

}  // namespace

extern const core::Module kModule{
    .name = "http_limit_conn",
    .type = core::ModuleType::kHttp,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &postconfiguration,
};

}  // namespace mod::http_limit_conn
