#include "event/event_module.h"

#include "core/cycle.h"
#include "core/module.h"
#include "core/shm.h"
#include "event/loop.h"

namespace ev {
namespace {

using core::ConfContext;
using core::Status;

/// `events { }`: its directives live at the kEvents level of every event module.
Status set_events(ConfContext& cf, EventConf& conf) {
    HALO_TRY(cf.mark_given(conf.seen));
    // The block's directives write into this same EventConf: the kEvents frame is the main
    // conf vector, where the kEvents hooks (same type) find it.
    ConfContext::Frame frame{core::ConfLevel::kEvents, &cf.cycle().main_confs()};
    return cf.apply_block(cf.node().children, core::kCtxEvents, std::span(&frame, 1));
}

/// `use method`: one of the event methods of this system, as libevent names them (nginx's
/// epoll, poll and select; kqueue, /dev/poll and eventport where the system has them).
Status set_use(ConfContext& cf, EventConf& conf) {
    if (conf.use) {
        return cf.duplicate();
    }
    if (!event_method_available(cf.arg(0))) {
        return cf.error("invalid event type \"" + cf.arg(0) + "\"");
    }
    conf.use = cf.arg(0);
    return Status::ok();
}

Status refuse_debug_connection(ConfContext& cf) {
    return cf.error(
        "\"debug_connection\" is not supported by halo: it has no debug log per client "
        "address; use \"error_log ... debug\"");
}

constexpr core::Directive kDirectives[] = {
    {"events", core::kCtxMain, core::kArgsBlock, core::setter<&set_events>()},
    {"worker_connections", core::kCtxEvents, core::kArgs1,
     core::slot<&EventConf::worker_connections, 1, 1048576>()},
    {"accept_mutex", core::kCtxEvents, core::kArgs1, core::slot<&EventConf::accept_mutex>()},
    {"accept_mutex_delay", core::kCtxEvents, core::kArgs1,
     core::slot<&EventConf::accept_mutex_delay>()},
    {"multi_accept", core::kCtxEvents, core::kArgs1, core::slot<&EventConf::multi_accept>()},
    {"use", core::kCtxEvents, core::kArgs1, core::setter<&set_use>()},
    {"debug_connection", core::kCtxEvents, core::kArgs1,
     core::setter_noconf<&refuse_debug_connection>()},
};

}  // namespace

Status merge(const EventConf& parent, EventConf& child) {
    core::inherit(child.worker_connections, parent.worker_connections, 512);
    core::inherit(child.accept_mutex, parent.accept_mutex, false);
    core::inherit(child.accept_mutex_delay, parent.accept_mutex_delay,
                  std::chrono::milliseconds(500));
    core::inherit(child.multi_accept, parent.multi_accept, false);
    return Status::ok();
}

namespace {

// Both the main-level hooks (for the `events` block directive) and the kEvents level point at
// the same type, so directives inside the block resolve to the same object.
constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<EventConf>(core::ConfLevel::kMain),
    core::conf_hooks<EventConf>(core::ConfLevel::kEvents),
};

const char kZoneTag = 0;

Status postconfiguration(core::Cycle& cycle) {
    auto& conf = cycle.conf<EventConf>();
    if (!conf.seen && cycle.document().directives.empty()) {
        // An empty configuration (a truncated deploy, a wrong -c) is refused in nginx's words;
        // unlike nginx, a configuration with other directives may leave `events` out.
        return Status::error("no \"events\" section in configuration");
    }
    if (!*conf.accept_mutex || cycle.worker_count() < 2 || cycle.options().test_only) {
        return Status::ok();
    }
    Status err = Status::ok();
    core::ShmZone* zone = cycle.add_shm_zone("halo_accept_mutex", 4096, &kZoneTag, "events", err);
    if (zone == nullptr) {
        return err;
    }
    zone->init = [&conf](core::ShmZone& z, bool reused) -> Status {
        bool made = false;
        conf.mutex = z.pool().root_object<core::ShmMutex>(reused, &made);
        if (conf.mutex == nullptr) {
            return Status::error("cannot allocate the accept mutex");
        }
        if (made) {
            conf.mutex->init();
        }
        return Status::ok();
    };
    return Status::ok();
}

}  // namespace

extern const core::Module kEventModule{
    .name = "events",
    .type = core::ModuleType::kEvent,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &postconfiguration,
};

}  // namespace ev
