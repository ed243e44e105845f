// nginx's ngx_http_limit_req_module: `limit_req_zone key zone=name:size rate=Nr/s|Nr/m`
// (http) and `limit_req zone=name [burst=N] [nodelay | delay=N]` (http, server, location;
// several per level; a level without any inherits the enclosing level's). In the preaccess
// phase, before limit_conn as in nginx, a request with a key adds to its key's leaky bucket in
// each zone: over `burst` it is refused with limit_req_status (503), over `delay` it waits on a
// timer until its excess has drained (the worker goes on with others; a client that closes
// meanwhile ends it, 499), then the phases go on. limit_req_dry_run only logs and counts.
// $limit_req_status: PASSED, DELAYED, REJECTED, DELAYED_DRY_RUN or REJECTED_DRY_RUN. The
// zones are the limit_req layer's (src/modules/limit_req).
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/limit_conf.h"
#include "core/log.h"
#include "core/module.h"
#include "core/named.h"
#include "event/loop.h"
#include "event/runtime.h"
#include "http/error_log.h"
#include "http/http.h"
#include "http/variables.h"
#include "modules/limit_req/limit_req_zone.h"

namespace mod::http_limit_req {
namespace {

using core::ConfContext;
using core::Status;
using limit_req::LimitStatus;

const char kZoneTag = 0;  // the owner of http's limit_req shared memory zones

/// A zone with its key compiled as http's complex value.
struct HttpZone : limit_req::Zone {
    using Zone::Zone;
    http::ComplexValue key;
};

struct HttpLimitReq;
using LimitReqLocConf = core::LimitConf<limit_req::LimitList, HttpLimitReq>;

Status set_zone(ConfContext& cf) {
    const std::string& key = cf.arg(0);
    std::string name;
    uint64_t size = 0;
    uint64_t rate = 0;
    HALO_TRY(limit_req::parse_zone_args(cf, cf.args().subspan(1), name, size, rate));
    auto zone = std::make_unique<HttpZone>(name, size, key, rate, cf.node().where());
    HALO_TRY(http::ComplexValue::parse(key, cf.node().where(), zone->key));
    http::register_complex_value(cf.cycle(), &zone->key);
    return cf.cycle().attachment<limit_req::Registry>().add_zone(cf, &kZoneTag, std::move(zone));
}

Status set_limit(ConfContext& cf, LimitReqLocConf& conf) {
    return cf.cycle().attachment<limit_req::Registry>().add_limit(cf, conf.limits);
}

// nginx's TAKE3; a fourth argument is let through only to refuse `sync` by name.
constexpr core::Args kArgs3To4{3, 4, false};

constexpr core::Directive kDirectives[] = {
    {"limit_req_zone", core::kCtxHttp, kArgs3To4, core::setter_noconf<&set_zone>()},
    {"limit_req", core::kCtxHttpAll, core::kArgs1To3, core::setter<&set_limit>()},
    {"limit_req_log_level", core::kCtxHttpAll, core::kArgs1,
     core::enum_slot<&LimitReqLocConf::log_level, core::kLimitLogLevels>()},
    {"limit_req_status", core::kCtxHttpAll, core::kArgs1,
     core::slot<&LimitReqLocConf::status, 400, 599, core::kLimitStatusRange>()},
    {"limit_req_dry_run", core::kCtxHttpAll, core::kArgs1, core::slot<&LimitReqLocConf::dry_run>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<LimitReqLocConf>(core::ConfLevel::kHttpLoc),
};

/// The request's outcome (kept across internal redirects: a request is limited once, as
/// nginx's r->main->limit_req_status) and the timer of its delay.
struct LimitCtx : http::RequestCtx {
    LimitStatus status = LimitStatus::kNone;
    std::unique_ptr<ev::Timer> timer;
    bool survives_redirect() const override { return true; }
};

/// A delayed request whose client went away (nginx's ngx_http_test_reading): ended, 499.
void client_closed(http::Request& r) {
    if (LimitCtx* ctx = r.ctx<LimitCtx>()) {
        ctx->timer.reset();
    }
    http::log_error(r, core::LogLevel::kInfo, "client prematurely closed connection");
    r.client_gone();
}

http::Flow delay(http::Request& r, LimitCtx& ctx, uint64_t ms) {
    http::Request* req = &r;
    ctx.timer = ev::Runtime::current().loop().make_timer([req] {
        // The request may end in resume() (and free this timer): nothing after it.
        req->on_client_closed = nullptr;
        req->resume();
    });
    ctx.timer->arm(std::chrono::milliseconds(ms));
    r.on_client_closed = &client_closed;
    return http::Flow::kSuspend;
}

http::Flow limit_handler(http::Request& r) {
    LimitCtx* ctx = r.ctx<LimitCtx>();
    if (ctx != nullptr && ctx->status != LimitStatus::kNone) {
        return http::Flow::kDeclined;  // limited before a redirect, or back from its delay
    }
    if (const LimitCtx* main = r.parent != nullptr ? r.parent->ctx<LimitCtx>() : nullptr;
        main != nullptr && main->status != LimitStatus::kNone) {
        // A subrequest (auth_request) of a request the limits already counted: nginx looks at
        // r->main and does not count it again.
        return http::Flow::kDeclined;
    }
    const auto& conf = r.loc_conf<LimitReqLocConf>();
    if (!conf.limits || conf.limits->empty()) {
        return http::Flow::kDeclined;
    }
    const limit_req::LimitList& limits = *conf.limits;
    std::array<std::string, 4> key_store;
    std::array<std::string_view, 4> key_views;
    std::vector<std::string> more_keys;
    std::vector<std::string_view> more_views;
    std::string* keys = key_store.data();
    std::string_view* views = key_views.data();
    if (limits.size() > key_store.size()) {
        more_keys.resize(limits.size());
        more_views.resize(limits.size());
        keys = more_keys.data();
        views = more_views.data();
    }
    for (size_t i = 0; i < limits.size(); i++) {
        auto& zone = static_cast<HttpZone&>(*limits[i].zone);
        zone.key.eval(r, keys[i]);
        if (keys[i].size() > limit_req::kMaxKeyLength) {
            http::log_error(r, core::LogLevel::kError,
                            "the value of the \"%s\" key is more than 65535 bytes: \"%s\"",
                            zone.key_text().c_str(), http::escape_log(keys[i]).c_str());
            keys[i].clear();
        }
        views[i] = keys[i];
    }
    bool dry_run = *conf.dry_run;
    limit_req::Decision d =
        limit_req::check(limits, std::span(views, limits.size()), core::steady_ms(), dry_run);
    if (d.status == LimitStatus::kNone) {
        return http::Flow::kDeclined;
    }
    if (ctx == nullptr) {
        ctx = &r.make_ctx<LimitCtx>();
    }
    ctx->status = d.status;
    const char* dry = dry_run ? ", dry run" : "";
    auto whole = static_cast<unsigned long long>(d.excess / 1000);
    auto frac = static_cast<unsigned>(d.excess % 1000);
    switch (d.status) {
        case LimitStatus::kPassed:
        case LimitStatus::kNone:
            return http::Flow::kDeclined;
        case LimitStatus::kRejected:
        case LimitStatus::kRejectedDryRun:
            if (!d.no_memory) {
                http::log_error(r, *conf.log_level,
                                "limiting requests%s, excess: %llu.%03u by zone \"%s\"", dry, whole,
                                frac, d.by->zone->name().c_str());
            }
            if (dry_run) {
                return http::Flow::kDeclined;
            }
            r.send_error(*conf.status);
            return http::Flow::kDone;
        case LimitStatus::kDelayed:
        case LimitStatus::kDelayedDryRun:
            http::log_error(r, limit_req::delay_log_level(*conf.log_level),
                            "delaying request%s, excess: %llu.%03u, by zone \"%s\"", dry, whole,
                            frac, d.by->zone->name().c_str());
            if (dry_run) {
                return http::Flow::kDeclined;
            }
            return delay(r, *ctx, d.delay_ms);
    }
    return http::Flow::kDeclined;
}

bool status_variable(const http::Request& r, std::string_view, std::string& out) {
    const LimitCtx* ctx = r.ctx<LimitCtx>();
    if (ctx == nullptr || ctx->status == LimitStatus::kNone) {
        return false;
    }
    out.append(limit_req::status_name(ctx->status));
    return true;
}

Status postconfiguration(core::Cycle& cycle) {
    if (http::http_main(cycle) == nullptr) {
        return Status::ok();
    }
    auto& registry = cycle.attachment<limit_req::Registry>();
    HALO_TRY(registry.resolve(cycle));
    if (registry.has_limits()) {
        http::add_phase_handler(cycle, http::Phase::kPreAccess, &limit_handler);
    }
    http::add_variable(cycle, http::VariableDef{"limit_req_status", &status_variable});
    return Status::ok();
}

}  // namespace

extern const core::Module kModule{
    .name = "http_limit_req",
    .type = core::ModuleType::kHttp,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &postconfiguration,
};

}  // namespace mod::http_limit_req
