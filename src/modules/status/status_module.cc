// The http_status module: `status [format=json|prometheus|html];` and `stub_status;` make a
// location the status page. Counting needs a shared zone ("status", see status_zone.h), made
// when the configuration has such a location: the master publishes its process table there,
// every serving process counts its connections and requests in its own slot (the HTTP core's
// hooks, http/stats.h), a log-phase handler counts each server block's requests and
// response classes, and stream phase handlers count the stream servers' sessions
// (status_stream.h). A status request adds all of it up, with the upstream groups' shared peer
// state, into a Snapshot (status.h) and renders it.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "auto_config.h"
#include "core/clock.h"
#include "core/conf_context.h"
#include "core/cycle.h"
#include "core/log.h"
#include "core/module.h"
#include "core/process.h"
#include "core/sys.h"
#include "event/runtime.h"
#include "http/http.h"
#include "modules/anycast/anycast_status.h"
#include "modules/cache/cache_path.h"
#include "modules/limit_conn/limit_conn_zone.h"
#include "modules/limit_req/limit_req_zone.h"
#include "modules/status/status.h"
#include "modules/status/status_cluster.h"
#include "modules/status/status_stream.h"
#include "modules/status/status_zone.h"
#include "modules/vrrp/vrrp_status.h"
#include "upstream/upstream.h"

namespace mod::status {

extern const core::Module kModule;

namespace {

using core::ConfContext;
using core::Status;

const char kZoneTag = 0;
constexpr std::string_view kZoneName = "status";

/// Module-wide state of a cycle: the zone, found in the master before forking.
struct StatusMainConf : core::ConfBase {
    std::string first_where;     // the first status / stub_status directive
    StatusZone* root = nullptr;  // nullptr: nothing is counted (-t, or no status location)
    std::optional<std::string> node_name;  // node_name (status_cluster.h)
    WorkerSlot* slot = nullptr;            // this process's slot (serving processes)
};

/// Per server block: its counters in the zone.
struct StatusSrvConf : core::ConfBase {
    ServerCounters* counters = nullptr;
};

enum class Page : uint8_t { kNone, kStatus, kStub };

/// Per location: whether it is a status page, and in which format. Not inherited.
struct StatusLocConf : core::ConfBase {
    Page page = Page::kNone;
    Format format = Format::kJson;
    std::string where;
    ClusterLocConf cluster;  // status_peers... (status_cluster.h)
};

StatusMainConf* main_conf(core::Cycle& cycle) {
    int index = cycle.registry().index_of(kModule);
    if (index < 0 || cycle.main_confs()[static_cast<size_t>(index)] == nullptr) {
        return nullptr;
    }
    return &cycle.conf<StatusMainConf>();
}

// ---- directives ----

Status mark_page(ConfContext& cf, StatusLocConf& lc, Page page) {
    if (lc.page != Page::kNone) {
        return lc.page == page ? cf.duplicate()
                               : cf.error("\"status\" and \"stub_status\" in one location");
    }
    lc.page = page;
    lc.where = cf.node().where();
    StatusMainConf& mc = cf.cycle().conf<StatusMainConf>();
    if (mc.first_where.empty()) {
        mc.first_where = lc.where;
    }
    return Status::ok();
}

Status set_status(ConfContext& cf, StatusLocConf& lc) {
    HALO_TRY(mark_page(cf, lc, Page::kStatus));
    for (const std::string& a : cf.args()) {
        if (a.rfind("format=", 0) != 0) {
            return cf.error("invalid parameter \"" + a + "\" in \"status\" directive");
        }
        auto f = parse_format(std::string_view(a).substr(7));
        if (!f) {
            return cf.invalid_value(a, "it must be format=json, format=prometheus or format=html");
        }
        lc.format = *f;
    }
    return Status::ok();
}

/// `stub_status;` (`stub_status on;` of nginx before 1.7.5 is accepted too).
Status set_stub_status(ConfContext& cf, StatusLocConf& lc) {
    if (!cf.args().empty() && cf.arg(0) != "on") {
        return cf.invalid_value(cf.arg(0), "it takes no parameter");
    }
    return mark_page(cf, lc, Page::kStub);
}

Status set_node(ConfContext& cf) {
    return set_node_name(cf, cf.cycle().conf<StatusMainConf>().node_name);
}
Status set_peers(ConfContext& cf, StatusLocConf& lc) {
    return set_status_peers(cf, lc.cluster);
}
Status set_peers_timeout(ConfContext& cf, StatusLocConf& lc) {
    return core::detail::set_positive_duration(cf, lc.cluster.timeout);
}
Status set_peers_valid(ConfContext& cf, StatusLocConf& lc) {
    return core::detail::set_duration(cf, lc.cluster.valid);
}

constexpr core::Directive kDirectives[] = {
    {"status", core::kCtxLocation, core::Args{0, 1, false}, core::setter<&set_status>()},
    {"stub_status", core::kCtxLocation, core::Args{0, 1, false}, core::setter<&set_stub_status>()},
    // The cluster view (status_cluster.h).
    {"node_name", core::kCtxHttp, core::kArgs1, core::setter_noconf<&set_node>()},
    {"status_peers", core::kCtxLocation, core::kArgs1ToN, core::setter<&set_peers>()},
    {"status_peers_timeout", core::kCtxLocation, core::kArgs1, core::setter<&set_peers_timeout>()},
    {"status_peers_valid", core::kCtxLocation, core::kArgs1, core::setter<&set_peers_valid>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<StatusMainConf>(core::ConfLevel::kMain),
    core::conf_hooks<StatusSrvConf>(core::ConfLevel::kHttpSrv),
    core::conf_hooks<StatusLocConf>(core::ConfLevel::kHttpLoc),
    core::conf_hooks<StatusStreamSrvConf>(core::ConfLevel::kStreamSrv),
};

// ---- the snapshot ----

std::string_view role_name(uint8_t role) {
    switch (static_cast<core::ProcessRole>(role)) {
        case core::ProcessRole::kMaster:
            return "master";
        case core::ProcessRole::kWorker:
            return "worker";
        case core::ProcessRole::kHelper:
            return "helper";
        case core::ProcessRole::kSingle:
            return "single";
    }
    return "process";
}

ProcessView process_view(const ProcessEntry& e, int64_t steady_now) {
    ProcessView v;
    v.type = role_name(e.role);
    v.pid = e.pid;
    v.index = v.type == "worker" ? e.worker_index : -1;
    v.name = e.name;
    v.started_ms = e.started_ms;
    v.uptime_ms = std::max<int64_t>(0, steady_now - e.started_steady_ms);
    v.respawns = e.respawns;
    v.retiring = e.retiring != 0;
    return v;
}

UpstreamView upstream_view(core::Cycle& cycle, const upstream::Group& g, int64_t now) {
    UpstreamView u;
    u.name = g.name();
    u.stream = g.stream();
    u.balancer = std::string(g.balancer().name);
    if (const upstream::CheckSummary* c = g.health_check()) {
        u.check =
            CheckView{c->type, c->uri, c->interval.count(), c->timeout.count(), c->fall, c->rise};
    }
    for (size_t i = 0; i < g.servers().size(); i++) {
        const upstream::Server& srv = g.servers()[i];
        upstream::PeerState ps;
        g.peer_state(i, ps);
        core::SockAddr addr;
        if (!g.peer_address(i, addr)) {
            continue;  // a `resolve` slot its name does not fill now
        }
        PeerView p;
        p.server = addr.text();
        p.name = srv.name;
        p.backup = srv.backup;
        p.weight = srv.weight;
        switch (g.availability(i, ps, now)) {
            case upstream::Availability::kDown:
                p.down_reason = "config";
                break;
            case upstream::Availability::kHealthDown:
                p.down_reason = "health_check";
                break;
            case upstream::Availability::kFailed:
                p.down_reason = "failures";
                break;
            case upstream::Availability::kUsable:
            case upstream::Availability::kAtMaxConns:
                break;
        }
        if (p.down_reason.empty()) {
            p.state = srv.backup ? "backup" : "up";
        } else {
            p.state = ps.conns > 0 ? "draining" : "down";
        }
        p.active = ps.conns;
        p.requests = ps.requests;
        p.failures = ps.failures;
        p.responses = ps.responses;
        p.response_ms_total = ps.response_ms_total;
        const upstream::HealthInfo& h = ps.health;
        p.health.checked = h.checked != 0;
        p.health.last_ok = h.last_ok != 0;
        p.health.last_status = h.last_status;
        p.health.streak = h.streak;
        p.health.last_check_ms = h.last_check_ms;
        p.health.last_change_ms = h.last_change_ms;
        p.health.checks = h.checks;
        p.health.failures = h.check_failures;
        p.health.reason.assign(h.reason, strnlen(h.reason, sizeof(h.reason)));
        u.peers.push_back(std::move(p));
    }
    return u;
}

/// The limit_conn zones of the cycle (none without the limit_conn modules): read through the
/// layer's registry, a cycle attachment, with the header's inline accessors only (nothing of
/// the layer is linked for it).
std::vector<LimitConnView> limit_conn_zones(core::Cycle& cycle) {
    std::vector<LimitConnView> out;
    const auto* reg = cycle.find_attachment<limit_conn::Registry>();
    if (reg == nullptr) {
        return out;
    }
    for (const limit_conn::Registry::Entry& e : reg->zones()) {
        limit_conn::ZoneStats st = e.zone->stats();
        out.push_back(LimitConnView{e.zone->name(), std::string(e.zone->kind()), st.passed,
                                    st.rejected, st.rejected_dry_run, st.keys});
    }
    return out;
}

/// The limit_req zones of the cycle (none without the limit_req module), read as the
/// limit_conn ones: through the layer's registry with the header's inline accessors only.
std::vector<LimitReqView> limit_req_zones(core::Cycle& cycle) {
    std::vector<LimitReqView> out;
    const auto* reg = cycle.find_attachment<limit_req::Registry>();
    if (reg == nullptr) {
        return out;
    }
    for (const auto& z : reg->zones()) {
        limit_req::ZoneStats st = z->stats();
        out.push_back(LimitReqView{z->name(), st.passed, st.delayed, st.rejected,
                                   st.delayed_dry_run, st.rejected_dry_run, st.keys});
    }
    return out;
}

/// The caches of the cycle (proxy_cache_path), through the cache layer's registry with the
/// header's inline accessors only.
std::vector<CacheView> cache_zones(core::Cycle& cycle) {
    std::vector<CacheView> out;
    const auto* reg = cycle.find_attachment<mod::cache::Registry>();
    if (reg == nullptr) {
        return out;
    }
    for (const auto& p : reg->paths) {
        mod::cache::ZoneStats st = p->zone.stats();
        out.push_back(CacheView{p->name, p->path, st.hits, st.misses, st.expired, st.stale,
                                st.updating, st.revalidated, st.bypass, st.size, p->max_size,
                                st.entries});
    }
    return out;
}

/// The vrrp helper's instances as it last wrote them to its shared slots (none without the
/// vrrp module or a vrrp block).
std::vector<VrrpView> vrrp_instances(core::Cycle& cycle) {
    std::vector<VrrpView> out;
    const vrrp::StatusReader* reader = cycle.find_attachment<vrrp::StatusReader>();
    if (reader == nullptr || reader->read == nullptr) {
        return out;  // no vrrp module compiled in
    }
    for (vrrp::InstanceStatus& i : reader->read(cycle)) {
        VrrpView v;
        v.name = std::move(i.name);
        v.state = std::move(i.state);
        v.interface = std::move(i.interface);
        v.sync_group = std::move(i.sync_group);
        v.vrid = i.vrid;
        v.version = i.version;
        v.priority = i.priority;
        v.base_priority = i.base_priority;
        v.master = std::move(i.master);
        v.transitions = i.transitions;
        v.addresses = std::move(i.addresses);
        v.addresses_up = i.addresses_up;
        v.last_change_ms = i.last_change_ms;
        v.tracker = std::move(i.tracker);
        v.failing = std::move(i.failing);
        out.push_back(std::move(v));
    }
    return out;
}

/// The anycast helper's state (none without the anycast module or an anycast block).
std::vector<AnycastView> anycast_services(core::Cycle& cycle) {
    std::vector<AnycastView> out;
    const anycast::StatusReader* reader = cycle.find_attachment<anycast::StatusReader>();
    if (reader == nullptr || reader->read == nullptr) {
        return out;
    }
    for (anycast::ServiceStatus& a : reader->read(cycle)) {
        out.push_back(AnycastView{std::move(a.state), std::move(a.reason), std::move(a.interface),
                                  std::move(a.addresses), a.transitions, a.last_change_ms});
    }
    return out;
}

/// The connection totals and each serving process's own counters. A slot counts in the
/// totals always (what an exited worker counted stays counted); its gauges only while its
/// process lives.
void add_counters(StatusZone& z, const ProcessBlock* procs, Snapshot& s) {
    Connections& c = s.connections;
    for (WorkerSlot& slot : z.slots()) {
        const http::ConnCounters& k = slot.counters;
        uint64_t accepted = k.accepted.load(std::memory_order_relaxed);
        uint64_t requests = k.requests.load(std::memory_order_relaxed);
        c.accepted += accepted;
        c.handled += accepted;  // halo never drops a connection it accepted
        c.requests += requests;
        c.reclaimed += k.reclaimed.load(std::memory_order_relaxed);
        c.h2_connections += k.h2_connections.load(std::memory_order_relaxed);
        c.h2_streams += k.h2_streams.load(std::memory_order_relaxed);
        c.auth_basic_no_credentials += k.auth_basic_failures[0].load(std::memory_order_relaxed);
        c.auth_basic_user_not_found += k.auth_basic_failures[1].load(std::memory_order_relaxed);
        c.auth_basic_password_mismatch += k.auth_basic_failures[2].load(std::memory_order_relaxed);
        c.auth_request_allowed += k.auth_request_allowed.load(std::memory_order_relaxed);
        c.auth_request_denied += k.auth_request_denied.load(std::memory_order_relaxed);
        c.auth_request_failed += k.auth_request_failed.load(std::memory_order_relaxed);
        pid_t pid = slot.pid.load(std::memory_order_acquire);
        if (pid == 0 || !(procs != nullptr ? procs->has(pid) : core::process_alive(pid))) {
            continue;
        }
        int64_t active = k.active.load(std::memory_order_relaxed);
        c.active += active;
        c.reading += k.reading.load(std::memory_order_relaxed);
        c.writing += k.writing.load(std::memory_order_relaxed);
        c.h2_active += k.h2_active.load(std::memory_order_relaxed);
        ProcessView* owner = nullptr;
        for (ProcessView& w : s.workers) {
            owner = w.pid == pid ? &w : owner;
        }
        if (owner == nullptr && s.self.pid == pid) {
            owner = &s.self;
        }
        if (owner != nullptr) {
            owner->counted = true;
            owner->accepted = accepted;
            owner->requests = requests;
            owner->active = active;
        }
    }
    c.waiting = std::max<int64_t>(0, c.active - c.reading - c.writing);
}

Snapshot take_snapshot(core::Cycle& cycle, const StatusMainConf& mc) {
    Snapshot s;
    s.version = "halo/" HALO_VERSION;
    s.now_ms = core::unix_ms();
    int64_t steady = core::steady_ms();
    if (mc.root != nullptr) {
        s.counting = true;
        auto procs = std::make_unique<ProcessBlock>();
        mc.root->read_processes(*procs);
        if (procs->published != 0) {
            s.have_processes = true;
            s.self = process_view(procs->self, steady);
            s.reloads = procs->reloads;
            s.processes_dropped = procs->dropped;
            for (uint32_t i = 0; i < procs->count; i++) {
                ProcessView v = process_view(procs->children[i], steady);
                (v.type == "worker" ? s.workers : s.helpers).push_back(std::move(v));
            }
        }
        add_counters(*mc.root, procs->published != 0 ? procs.get() : nullptr, s);
    }
    if (http::HttpMainConf* main = http::http_main(cycle)) {
        for (const auto& srv : main->servers) {
            const auto& hs = core::conf_of<http::HttpSrvConf>(srv->srv_confs);
            ServerView v;
            v.name = hs.names.empty() || hs.names[0].empty() ? "_" : hs.names[0];
            for (const auto& l : hs.listens) {
                v.listen.push_back(l.addr.text());
            }
            if (ServerCounters* k = core::conf_of<StatusSrvConf>(srv->srv_confs).counters) {
                v.counted = true;
                v.requests = k->requests.load(std::memory_order_relaxed);
                v.h2_requests = k->h2_requests.load(std::memory_order_relaxed);
                for (int i = 0; i < 5; i++) {
                    v.responses[i] = k->responses[i].load(std::memory_order_relaxed);
                }
                v.received = k->received.load(std::memory_order_relaxed);
                v.sent = k->sent.load(std::memory_order_relaxed);
            }
            s.servers.push_back(std::move(v));
        }
    }
    s.stream_servers = stream_servers(cycle);
    int64_t now = core::steady_ms();
    for (const upstream::Group* g : upstream::all_groups(cycle)) {
        s.upstreams.push_back(upstream_view(cycle, *g, now));
    }
    s.vrrp = vrrp_instances(cycle);
    s.anycast = anycast_services(cycle);
    s.limit_conns = limit_conn_zones(cycle);
    s.limit_reqs = limit_req_zones(cycle);
    s.caches = cache_zones(cycle);
    return s;
}

// ---- request handling ----

/// The value of `name` in a query string ("a=1&format=json"), or nullopt.
std::optional<std::string_view> query_arg(std::string_view args, std::string_view name) {
    while (!args.empty()) {
        size_t amp = args.find('&');
        std::string_view pair = args.substr(0, amp);
        args = amp == std::string_view::npos ? std::string_view() : args.substr(amp + 1);
        size_t eq = pair.find('=');
        if (pair.substr(0, eq) == name) {
            return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
        }
    }
    return std::nullopt;
}

/// GET and HEAD only; false when the request was answered (405).
bool method_allowed(http::Request& r) {
    if (r.method == "GET" || r.method == "HEAD") {
        return true;
    }
    r.out_headers.emplace_back("Allow", "GET, HEAD");
    r.send_error(405);
    return false;
}

http::Flow status_handler(http::Request& r) {
    if (!method_allowed(r)) {
        return http::Flow::kDone;
    }
    core::Cycle& cycle = ev::Runtime::current().cycle();
    const auto& lc = r.loc_conf<StatusLocConf>();
    Format format = lc.format;
    if (auto asked = query_arg(r.args, "format")) {
        auto f = parse_format(*asked);
        if (!f) {
            r.send(400, "text/plain",
                   "unknown format, use ?format=json, ?format=prometheus or ?format=html\n");
            return http::Flow::kDone;
        }
        format = *f;
    }
    const ClusterLocConf& cluster = lc.cluster;
    if (format == Format::kJson) {
        if (auto wait = wait_for_peers(r, cluster)) {
            return *wait;  // this handler runs again once the peers' pages are in
        }
    }
    r.out_headers.emplace_back("Cache-Control", "no-store");
    if (format == Format::kHtml) {
        r.send(200, content_type(format), html_page());
        return http::Flow::kDone;
    }
    Snapshot s = take_snapshot(cycle, cycle.conf<StatusMainConf>());
    s.node = node_name(cycle.conf<StatusMainConf>().node_name);
    if (format == Format::kJson) {
        s.cluster_json = cluster_view_json(r, cluster, s);
    }
    std::string body = format == Format::kJson ? render_json(s) : render_prometheus(s);
    r.send(200, content_type(format), body);
    return http::Flow::kDone;
}

Connections totals(core::Cycle& cycle) {
    Snapshot s;
    const StatusMainConf& mc = cycle.conf<StatusMainConf>();
    if (mc.root != nullptr) {
        auto procs = std::make_unique<ProcessBlock>();
        mc.root->read_processes(*procs);
        add_counters(*mc.root, procs->published != 0 ? procs.get() : nullptr, s);
    }
    return s.connections;
}

http::Flow stub_status_handler(http::Request& r) {
    if (!method_allowed(r)) {
        return http::Flow::kDone;
    }
    r.out_headers.emplace_back("Cache-Control", "no-store");
    r.send(200, "text/plain", render_stub_status(totals(ev::Runtime::current().cycle())));
    return http::Flow::kDone;
}

/// Log phase: one more request for the server block, by status class, with its bytes (and
/// one more HTTP/2 request when it came on a stream).
http::Flow count_request(http::Request& r) {
    if (r.server != nullptr) {
        if (ServerCounters* c = core::conf_of<StatusSrvConf>(r.server->srv_confs).counters) {
            c->count(r.status, r.request_length, r.bytes_sent, r.http2);
        }
    }
    return http::Flow::kDeclined;
}

/// $connections_active, _reading, _writing, _waiting (nginx's stub_status variables).
template <int64_t Connections::*Field>
bool var_connections(const http::Request&, std::string_view, std::string& out) {
    out += std::to_string(totals(ev::Runtime::current().cycle()).*Field);
    return true;
}

// ---- setup ----

/// Makes every status location's page its content handler; returns whether there is one.
Status install_pages(const std::vector<std::unique_ptr<http::LocationBlock>>& locs, bool& any) {
    for (const auto& loc : locs) {
        const auto& lc = core::conf_of<StatusLocConf>(loc->loc_confs);
        HALO_TRY(check_peers(lc.cluster, lc.page == Page::kStatus));
        if (lc.page != Page::kNone) {
            auto& hc = core::conf_of<http::HttpLocConf>(loc->loc_confs);
            if (hc.content != nullptr) {
                return Status::error(
                    std::string("\"") + (lc.page == Page::kStatus ? "status" : "stub_status") +
                    "\" and another content handler (proxy_pass...) in one location in " +
                    lc.where);
            }
            hc.content = lc.page == Page::kStatus ? &status_handler : &stub_status_handler;
            any = true;
        }
        HALO_TRY(install_pages(loc->children, any));
    }
    return Status::ok();
}

/// In the master, once the zone exists: its root, and a counter set for every server block.
Status init_zone(core::Cycle& cycle, StatusMainConf& mc, http::HttpMainConf& main,
                 core::ShmZone& zone, bool reused) {
    mc.root = StatusZone::open(zone.pool(), reused);
    if (mc.root == nullptr) {
        return Status::error("the status zone could not be set up in " + mc.first_where);
    }
    uint64_t generation = mc.root->begin_generation();
    std::vector<std::string> keys;
    for (const auto& srv : main.servers) {
        const auto& hs = core::conf_of<http::HttpSrvConf>(srv->srv_confs);
        std::vector<std::string> listens;
        for (const auto& l : hs.listens) {
            listens.push_back(l.addr.text());
        }
        std::string name = hs.names.empty() ? "_" : hs.names[0];
        // Two blocks alike (a name repeated on the same port) each get their own counters.
        std::string unique = server_key(name, listens);
        for (int n = 2; std::find(keys.begin(), keys.end(), unique) != keys.end(); n++) {
            unique = server_key(name + "#" + std::to_string(n), listens);
        }
        keys.push_back(unique);
        auto& sc = core::conf_of<StatusSrvConf>(srv->srv_confs);
        sc.counters = mc.root->server(unique, generation);
        if (sc.counters == nullptr) {
            HALO_LOG(kWarn, "the status zone is full: no counters for the server in %s",
                     srv->where.c_str());
        }
    }
    init_stream_counters(cycle, *mc.root, generation);
    return Status::ok();
}

Status postconfiguration(core::Cycle& cycle) {
    http::HttpMainConf* main = http::http_main(cycle);
    StatusMainConf* mc = main_conf(cycle);
    if (main == nullptr || mc == nullptr) {
        return Status::ok();
    }
    http::add_variable(cycle, {"connections_active", &var_connections<&Connections::active>});
    http::add_variable(cycle, {"connections_reading", &var_connections<&Connections::reading>});
    http::add_variable(cycle, {"connections_writing", &var_connections<&Connections::writing>});
    http::add_variable(cycle, {"connections_waiting", &var_connections<&Connections::waiting>});
    bool any = false;
    for (const auto& srv : main->servers) {
        HALO_TRY(install_pages(srv->locations, any));
    }
    if (!any) {
        return Status::ok();  // nothing shows the counters: none are kept
    }
    http::add_phase_handler(cycle, http::Phase::kLog, &count_request);
    install_stream_counting(cycle);
    Status err = Status::ok();
    core::ShmZone* zone = cycle.add_shm_zone(std::string(kZoneName), StatusZone::zone_size(),
                                             &kZoneTag, mc->first_where, err);
    if (zone == nullptr) {
        return err;
    }
    zone->init = [&cycle, mc, main](core::ShmZone& z, bool reused) {
        return init_zone(cycle, *mc, *main, z, reused);
    };
    cycle.add_process_observer([mc](const core::ProcessTable& table) {
        if (mc->root != nullptr) {
            mc->root->publish(table);
        }
    });
    return Status::ok();
}

Status init_process(core::Cycle& cycle, const core::ProcessInfo& info) {
    StatusMainConf* mc = main_conf(cycle);
    if (mc == nullptr || mc->root == nullptr ||
        (info.role != core::ProcessRole::kWorker && info.role != core::ProcessRole::kSingle)) {
        return Status::ok();
    }
    mc->slot = mc->root->claim_slot(getpid(), &core::process_alive);
    if (mc->slot == nullptr) {
        HALO_LOG(kWarn,
                 "the status zone has no free slot: this process's connections are "
                 "not counted");
        return Status::ok();
    }
    http::set_conn_counters(&mc->slot->counters);
    return Status::ok();
}

void exit_process(core::Cycle& cycle) {
    StatusMainConf* mc = main_conf(cycle);
    if (mc != nullptr && mc->slot != nullptr) {
        http::set_conn_counters(nullptr);
        StatusZone::release_slot(*mc->slot);
        mc->slot = nullptr;
    }
}

}  // namespace

extern const core::Module kModule{
    .name = "http_status",
    .type = core::ModuleType::kHttp,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &postconfiguration,
    .init_process = &init_process,
    .exit_process = &exit_process,
};

}  // namespace mod::status
