// The http_upstream module: `upstream name { server ...; }` blocks, the implicit groups of
// proxy_pass addresses, and the shared zones that hold every group's state.
#include <netdb.h>
#include <strings.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/conf_context.h"
#include "core/cycle.h"
#include "core/log.h"
#include "core/module.h"
#include "core/process.h"
#include "core/shm.h"
#include "event/runtime.h"
#include "http/http.h"
#include "http/modules/resolver/resolver_conf.h"
#include "modules/upstream/upstream_resolve.h"
#include "upstream/upstream.h"

namespace upstream {

extern const core::Module kModule;

namespace {

using core::ConfContext;
using core::Status;

constexpr int kMaxWeight = 65535;
constexpr size_t kMinZoneSize = 32 * 1024;
constexpr size_t kZoneGranule = 64 * 1024;
constexpr size_t kImplicitGenerations = 4;  // blocks alive at once in an implicit zone
constexpr size_t kNamedGenerations = 2;     // what a named zone must hold at least
constexpr int kAdaptiveMax = 1024;          // `keepalive N adaptive`: idle connections kept at most
const char kZoneTag = 0;

/// Where a group comes from and the zone it uses (module bookkeeping around a Group).
struct GroupEntry {
    std::unique_ptr<Group> group;
    std::string where;           // the upstream block, or the first directive naming the address
    bool block = false;          // declared by an upstream block
    std::string host;            // implicit groups: the host part
    uint16_t port = 0;           // implicit groups: the port given (0: none)
    uint16_t default_port = 80;  // implicit groups without a port: 80, 443 for https
    std::string other_default_where;  // also named without a port with another default
    std::string zone;                 // `zone` name ("" = an implicit zone of its own)
    size_t zone_size = 0;             // `zone` size (0: declared elsewhere)
    std::string zone_where;
    std::shared_ptr<const ev::ResolverSpec> resolver;  // for `server ... resolve`
    bool stream = false;  // a group of the stream block (its own name space, as in nginx)
};

/// One shared zone and the groups whose state it holds.
struct ZoneUse {
    std::string name;
    size_t size = 0;
    std::string where;
    bool implicit = false;  // the zone of one group without `zone`, sized here
    std::vector<Group*> groups;
};

/// Main conf: every group of the cycle, in declaration order.
struct UpstreamMainConf : core::ConfBase {
    std::vector<std::unique_ptr<GroupEntry>> groups;
    std::vector<std::unique_ptr<ZoneUse>> zones;
    std::vector<std::unique_ptr<ResolveWatch>> watches;  // in a worker: `resolve` servers

    GroupEntry* find(std::string_view name, bool stream) {
        for (auto& e : groups) {
            if (e->stream == stream && e->group->name().size() == name.size() &&
                strncasecmp(e->group->name().data(), name.data(), name.size()) == 0) {
                return e.get();
            }
        }
        return nullptr;
    }
};

/// The conf of the block being applied (the module's own UpstreamConf).
struct BlockConf : UpstreamConf {
    GroupEntry* entry = nullptr;
    std::optional<int> keepalive;
    int keepalive_max = 0;  // `adaptive[=M]`: the adaptive pool's cap; 0 = nginx's fixed pool
    std::optional<std::chrono::milliseconds> keepalive_timeout;
    std::optional<int> keepalive_requests;
    std::optional<std::chrono::milliseconds> persistence_timeout;
};

uint64_t g_generation = 0;  // cycles loaded by this process (orders the blocks of a zone)

UpstreamMainConf* main_conf(core::Cycle& cycle) {
    int index = cycle.registry().index_of(kModule);
    if (index < 0 || cycle.main_confs()[static_cast<size_t>(index)] == nullptr) {
        return nullptr;
    }
    return &cycle.conf<UpstreamMainConf>();
}

bool iequal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// ---- addresses ----

/// `host[:port]` or `[v6][:port]` split; `error` is nginx's reason when it is malformed.
struct HostPort {
    std::string host;
    uint16_t port = 0;  // 0: none given
};

/// nginx's `unix:PATH` (the prefix in any case).
bool is_unix(std::string_view text) {
    return text.size() >= 5 && strncasecmp(text.data(), "unix:", 5) == 0;
}

/// The address of `unix:PATH`; `error` is nginx's reason when the path is empty or too long.
std::optional<core::SockAddr> unix_address(std::string_view text, std::string& error) {
    std::string_view path = text.substr(5);
    if (path.empty()) {
        error = "no path in the unix domain socket";
        return std::nullopt;
    }
    auto a = core::SockAddr::from_unix_path(path);
    if (!a) {
        error = "too long path in the unix domain socket";
    }
    return a;
}

std::optional<HostPort> split_host_port(std::string_view text, std::string& error) {
    HostPort hp;
    std::string_view port_text;
    bool has_port = false;
    if (is_unix(text)) {
        if (!unix_address(text, error)) {
            return std::nullopt;
        }
        hp.host = std::string(text);  // the whole "unix:PATH" names the group
        return hp;
    }
    if (!text.empty() && text[0] == '[') {
        size_t close = text.find(']');
        if (close == std::string_view::npos) {
            error = "invalid IPv6 address";
            return std::nullopt;
        }
        hp.host = std::string(text.substr(1, close - 1));
        std::string_view rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest[0] != ':') {
                error = "invalid host";
                return std::nullopt;
            }
            has_port = true;
            port_text = rest.substr(1);
        }
    } else {
        size_t colon = text.find(':');
        if (colon != std::string_view::npos &&
            text.find(':', colon + 1) == std::string_view::npos) {
            hp.host = std::string(text.substr(0, colon));
            has_port = true;
            port_text = text.substr(colon + 1);
        } else {
            hp.host = std::string(text);  // a name, or a bare IPv6 address
        }
    }
    if (hp.host.empty()) {
        error = "no host";
        return std::nullopt;
    }
    if (has_port) {
        auto p = core::parse_int(port_text);
        if (!p || *p < 1 || *p > 65535) {
            error = "invalid port";
            return std::nullopt;
        }
        hp.port = static_cast<uint16_t>(*p);
    }
    return hp;
}

/// Resolves `text` (`default_port` when it has none) into `out`; the error is worded as
/// nginx's.
Status resolve_text(std::string_view text, std::vector<core::SockAddr>& out,
                    uint16_t default_port = 80) {
    std::string why;
    auto hp = split_host_port(text, why);
    if (hp && is_unix(text)) {
        out.push_back(*unix_address(text, why));
    } else if (hp && !core::resolve_host(hp->host, hp->port != 0 ? hp->port : default_port, out)) {
        why = "host not found";
    }
    if (!why.empty()) {
        return Status::error(why + " in upstream \"" + std::string(text) + "\"");
    }
    return Status::ok();
}

Status with_where(const Status& s, const std::string& where) {
    return Status::error(s.message() + " in " + where);
}

// ---- directives ----

Status set_upstream(ConfContext& cf, UpstreamMainConf& mc) {
    const std::string& name = cf.arg(0);
    bool stream = cf.context() == core::kCtxStream;
    GroupEntry* entry = mc.find(name, stream);
    if (entry != nullptr && entry->block) {
        return cf.error("duplicate upstream \"" + name + "\"");
    }
    for (const auto& e : mc.groups) {
        if (e->stream == stream && !e->block && e->port != 0 && iequal(e->host, name)) {
            return Status::error("upstream \"" + name + "\" may not have port " +
                                 std::to_string(e->port) + " in " + e->where);
        }
    }
    if (entry == nullptr) {
        mc.groups.push_back(std::make_unique<GroupEntry>());
        entry = mc.groups.back().get();
        entry->group = std::make_unique<Group>(name);
        entry->stream = stream;
        entry->group->set_stream(stream);
    }
    entry->block = true;  // an implicit `proxy_pass http://name` declared first is this group
    entry->where = cf.node().where();

    core::ConfVector confs = cf.create_confs(core::ConfLevel::kUpstream);
    for (auto& c : confs) {
        if (auto* uc = dynamic_cast<UpstreamConf*>(c.get())) {
            uc->group = entry->group.get();
        }
    }
    BlockConf& bc = core::conf_of<BlockConf>(confs);
    bc.entry = entry;
    ConfContext::Frame frame{core::ConfLevel::kUpstream, &confs};
    HALO_TRY(cf.apply_block(cf.node().children, core::kCtxUpstream, std::span(&frame, 1)));
    Group& g = *entry->group;
    if (g.servers().empty()) {
        return cf.error("no servers are inside upstream");
    }
    if (g.has_resolve() && entry->zone.empty()) {
        return cf.error("resolving names at run time requires upstream \"" + name +
                        "\" to be in shared memory");
    }
    g.set_keepalive(bc.keepalive.value_or(0));
    g.set_keepalive_max(bc.keepalive_max);
    g.set_keepalive_timeout(bc.keepalive_timeout.value_or(Millis(60000)));
    g.set_keepalive_requests(bc.keepalive_requests.value_or(1000));
    g.set_persistence_timeout(bc.persistence_timeout);
    return Status::ok();
}

/// `name=value` parameters of `server`: the value, or nullopt when `arg` is another one.
std::optional<std::string_view> param(std::string_view arg, std::string_view name) {
    if (arg.size() > name.size() && arg.substr(0, name.size()) == name && arg[name.size()] == '=') {
        return arg.substr(name.size() + 1);
    }
    return std::nullopt;
}

Status set_server(ConfContext& cf, BlockConf& bc) {
    Group& g = *bc.group;
    Server proto;
    proto.name = cf.arg(0);
    bool resolve = false;
    for (size_t i = 1; i < cf.args().size(); i++) {
        const std::string& a = cf.arg(i);
        auto invalid = [&] { return cf.error("invalid parameter \"" + a + "\""); };
        if (auto v = param(a, "weight")) {
            auto n = core::parse_int(*v);
            if (!n || *n < 1 || *n > kMaxWeight) {
                return invalid();
            }
            proto.weight = static_cast<int>(*n);
        } else if (auto v = param(a, "max_fails")) {
            auto n = core::parse_int(*v);
            if (!n || *n > INT32_MAX) {
                return invalid();
            }
            proto.max_fails = static_cast<int>(*n);
        } else if (auto v = param(a, "fail_timeout")) {
            auto t = core::parse_duration(*v);
            if (!t) {
                return invalid();
            }
            proto.fail_timeout = *t;
        } else if (auto v = param(a, "max_conns")) {
            auto n = core::parse_int(*v);
            if (!n || *n > INT32_MAX) {
                return invalid();
            }
            proto.max_conns = static_cast<int>(*n);
        } else if (a == "backup") {
            if (!g.balancer().allows_backup) {
                return cf.error("balancing method does not support parameter \"backup\"");
            }
            proto.backup = true;
        } else if (a == "down") {
            proto.down = true;
        } else if (a == "resolve") {
            resolve = true;
        } else if (param(a, "service")) {
            return cf.error(
                "\"service\" parameter of \"server\" is not supported by halo: SRV records "
                "are not looked up; name the host and port with \"resolve\"");
        } else {
            return invalid();
        }
    }
    std::string why;
    auto hp = split_host_port(proto.name, why);
    if (bc.entry->stream && hp && hp->port == 0 && !is_unix(proto.name)) {
        return cf.error("no port in upstream \"" + proto.name + "\"");  // nginx's stream
    }
    if (resolve && hp && !is_unix(proto.name) && !core::SockAddr::from_ip(hp->host, 0)) {
        // Looked up at run time by the workers (upstream_resolve.h): slots, empty for now.
        proto.resolve_host = hp->host;
        proto.resolve_port = hp->port != 0 ? hp->port : 80;
        for (size_t i = 0; i < Group::kResolveSlots; i++) {
            g.add_server(proto);
        }
        return Status::ok();
    }
    std::vector<core::SockAddr> addrs;
    Status s = resolve_text(proto.name, addrs);
    if (!s.is_ok()) {
        return cf.error(s.message());
    }
    for (const core::SockAddr& a : addrs) {
        Server srv = proto;
        srv.addr = a;
        g.add_server(std::move(srv));
    }
    return Status::ok();
}

Status set_zone(ConfContext& cf, BlockConf& bc) {
    GroupEntry& e = *bc.entry;
    if (!e.zone.empty()) {
        return cf.duplicate();
    }
    if (cf.arg(0).empty()) {
        return cf.error("invalid zone name \"\"");
    }
    if (cf.args().size() == 2) {
        auto size = core::parse_size(cf.arg(1));
        if (!size || size->bytes == 0) {
            return cf.error("invalid zone size \"" + cf.arg(1) + "\"");
        }
        if (size->bytes < kMinZoneSize) {
            return cf.error("zone \"" + cf.arg(0) + "\" is too small");
        }
        e.zone_size = size->bytes;
    }
    e.zone = cf.arg(0);
    e.zone_where = cf.node().where();
    return Status::ok();
}

/// `keepalive connections [adaptive[=max]];`: nginx's cap of idle connections per worker, and
/// halo's adaptive pool that keeps as many as were recently busy at once, up to `max`.
/// The keepalive family pools connections between requests: a stream session has none.
Status refuse_in_stream(ConfContext& cf, const BlockConf& bc) {
    if (bc.entry != nullptr && bc.entry->stream) {
        return cf.error("\"" + std::string(cf.name()) +
                        "\" directive is not allowed in a stream upstream (an L4 session is "
                        "one connection, never reused)");
    }
    return Status::ok();
}

Status set_keepalive(ConfContext& cf, BlockConf& bc) {
    HALO_TRY(refuse_in_stream(cf, bc));
    if (bc.keepalive) {
        return cf.duplicate();
    }
    auto n = core::parse_int(cf.arg(0));
    if (!n || *n < 1 || *n > INT32_MAX) {
        return cf.invalid_value(cf.arg(0), "it must be 1..2147483647");
    }
    bc.keepalive = static_cast<int>(*n);
    if (cf.args().size() == 1) {
        return Status::ok();
    }
    const std::string& a = cf.arg(1);
    if (a == "adaptive") {
        bc.keepalive_max = std::max(kAdaptiveMax, *bc.keepalive);
        return Status::ok();
    }
    if (auto v = param(a, "adaptive")) {
        auto m = core::parse_int(*v);
        if (!m || *m < *n || *m > INT32_MAX) {
            return cf.error("invalid parameter \"" + a +
                            "\": the adaptive pool's cap must be a number of connections not "
                            "below " +
                            cf.arg(0));
        }
        bc.keepalive_max = static_cast<int>(*m);
        return Status::ok();
    }
    return cf.error("invalid parameter \"" + a + "\"");
}

Status set_keepalive_timeout(ConfContext& cf, BlockConf& bc) {
    HALO_TRY(refuse_in_stream(cf, bc));
    return core::detail::set_duration(cf, bc.keepalive_timeout);
}

Status set_keepalive_requests(ConfContext& cf, BlockConf& bc) {
    HALO_TRY(refuse_in_stream(cf, bc));
    int64_t n = 0;
    HALO_TRY(core::detail::set_int(cf, 1, INT32_MAX, n, bc.keepalive_requests.has_value()));
    bc.keepalive_requests = static_cast<int>(n);
    return Status::ok();
}

Status set_persistence(ConfContext& cf, BlockConf& bc) {
    return core::detail::set_positive_duration(cf, bc.persistence_timeout,
                                               "expected a time such as 50s, 5m");
}

constexpr uint32_t kUps = core::kCtxUpstream;

constexpr core::Directive kDirectives[] = {
    {"upstream", core::kCtxHttp | core::kCtxStream, core::kArgsBlock1,
     core::setter<&set_upstream>()},
    {"server", kUps, core::kArgs1ToN, core::setter<&set_server>()},
    {"zone", kUps, core::kArgs1To2, core::setter<&set_zone>()},
    {"keepalive", kUps, core::kArgs1To2, core::setter<&set_keepalive>()},
    {"keepalive_timeout", kUps, core::kArgs1, core::setter<&set_keepalive_timeout>()},
    {"keepalive_requests", kUps, core::kArgs1, core::setter<&set_keepalive_requests>()},
    {"persistence_timeout", kUps, core::kArgs1, core::setter<&set_persistence>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<UpstreamMainConf>(core::ConfLevel::kMain),
    core::conf_hooks<BlockConf>(core::ConfLevel::kUpstream),
};

// ---- zones ----

/// An upper bound of what an allocation of `n` bytes takes from a zone's pool (its
/// power-of-two size class with the block header), for sizing zones.
size_t pool_footprint(size_t n) {
    size_t block = 64;
    while (block < n + 64) {
        block <<= 1;
    }
    return block;
}

constexpr size_t kPoolOverhead = 4096;  // the pool's own header, rounded up

size_t round_up(size_t n, size_t granule) {
    return (n + granule - 1) / granule * granule;
}

/// In a named zone, the persistence tables share what the other groups leave: each table as
/// large as its block still fits the zone twice (a reload overlaps two cycles).
Status size_persistence(ZoneUse& z, size_t fixed) {
    size_t others = 0;
    size_t tables = 0;
    for (const Group* g : z.groups) {
        if (g->persistence_timeout()) {
            tables++;
        } else {
            others += kNamedGenerations * pool_footprint(g->shared_size());
        }
    }
    if (tables == 0) {
        return Status::ok();
    }
    size_t share =
        z.size > fixed + others ? (z.size - fixed - others) / (kNamedGenerations * tables) : 0;
    size_t block = 64;
    while (block * 2 <= share) {
        block *= 2;
    }
    for (Group* g : z.groups) {
        if (!g->persistence_timeout()) {
            continue;
        }
        g->set_persistence_capacity(0);
        size_t base = g->shared_size() + 64;
        size_t entries = block > base ? (block - base) / Group::kPersistEntryBytes : 0;
        if (entries < 16) {
            return Status::error("upstream zone \"" + z.name +
                                 "\" is too small for the persistence table of upstream \"" +
                                 g->name() + "\" in " + z.where);
        }
        g->set_persistence_capacity(static_cast<uint32_t>(std::min<size_t>(entries, 1u << 20)));
    }
    return Status::ok();
}

/// The zone of every group: a named one (shared by the groups naming it), else one each.
Status plan_zones(UpstreamMainConf& mc) {
    for (auto& e : mc.groups) {
        std::string name = e->zone.empty()
                               ? (e->stream ? "stream_upstream:" : "upstream:") + e->group->name()
                               : e->zone;
        ZoneUse* use = nullptr;
        for (auto& z : mc.zones) {
            if (z->name == name) {
                use = z.get();
            }
        }
        if (use == nullptr) {
            mc.zones.push_back(std::make_unique<ZoneUse>());
            use = mc.zones.back().get();
            use->name = name;
            use->implicit = e->zone.empty();
            use->where = use->implicit ? e->where : e->zone_where;
        } else if (use->implicit || e->zone.empty()) {
            // A `zone` named like the implicit zone of another group.
            return Status::error("the shared memory zone \"" + name +
                                 "\" is already declared for a different use in " +
                                 (e->zone.empty() ? use->where : e->zone_where));
        }
        if (e->zone_size != 0) {
            if (use->size != 0 && use->size != e->zone_size) {
                return Status::error(core::format(
                    "the size %zu of shared memory zone \"%s\" conflicts with already declared "
                    "size %zu in %s",
                    e->zone_size, name.c_str(), use->size, e->zone_where.c_str()));
            }
            use->size = e->zone_size;
            use->where = e->zone_where;
        }
        use->groups.push_back(e->group.get());
    }
    for (auto& z : mc.zones) {
        size_t fixed = kPoolOverhead + pool_footprint(64);
        if (z->implicit) {
            z->size =
                round_up(fixed + kImplicitGenerations * pool_footprint(z->groups[0]->shared_size()),
                         kZoneGranule);
            continue;
        }
        if (z->size == 0) {
            return Status::error("zero size shared memory zone \"" + z->name + "\" in " + z->where);
        }
        HALO_TRY(size_persistence(*z, fixed));
        size_t need = fixed;
        for (const Group* g : z->groups) {
            need += kNamedGenerations * pool_footprint(g->shared_size());
        }
        if (z->size < need) {
            return Status::error(core::format(
                "upstream zone \"%s\" is too small for its groups, it needs at least %zuk in %s",
                z->name.c_str(), (need + 1023) / 1024, z->where.c_str()));
        }
    }
    return Status::ok();
}

/// The http block's `resolver` (nginx 1.27.3 also takes one inside `upstream`; halo does not).
std::shared_ptr<const ev::ResolverSpec> http_resolver(core::Cycle& cycle) {
    int index = core::ConfSlot<mod::resolver::ResolverLocConf>::index;
    const http::HttpMainConf* hm = http::http_main(cycle);
    if (index < 0 || hm == nullptr || hm->http_loc_confs.size() <= static_cast<size_t>(index) ||
        hm->http_loc_confs[static_cast<size_t>(index)] == nullptr) {
        return nullptr;
    }
    return core::conf_of<mod::resolver::ResolverLocConf>(hm->http_loc_confs).spec;
}

Status postconfiguration(core::Cycle& cycle) {
    UpstreamMainConf* mc = main_conf(cycle);
    if (mc == nullptr || mc->groups.empty()) {
        return Status::ok();
    }
    uint64_t generation = ++g_generation;
    for (auto& e : mc->groups) {
        Group& g = *e->group;
        if (!e->block && !e->other_default_where.empty()) {
            return Status::error("\"" + g.name() +
                                 "\" is used without a port by both http:// and https:// in " +
                                 e->other_default_where +
                                 " (give the port, or declare an upstream block of that name)");
        }
        // The stream proxy and fastcgi_pass (scgi, uwsgi) have no default port (default 0).
        if (!e->block && (e->stream || e->default_port == 0) && e->port == 0 &&
            !is_unix(g.name())) {
            return Status::error("no port in upstream \"" + g.name() + "\" in " + e->where);
        }
        if (!e->block && g.servers().empty()) {
            std::vector<core::SockAddr> addrs;
            Status s = resolve_text(g.name(), addrs, e->default_port);
            if (!s.is_ok()) {
                return with_where(s, e->where);
            }
            for (const core::SockAddr& a : addrs) {
                Server srv;
                srv.name = g.name();
                srv.addr = a;
                g.add_server(std::move(srv));
            }
        }
        Status s = g.finalize();
        if (!s.is_ok()) {
            return with_where(s, e->where);
        }
        if (g.has_resolve() && e->stream) {
            return Status::error(
                "resolving names at run time is not supported by halo in a "
                "stream upstream (\"" +
                g.name() + "\" in " + e->where +
                "): give addresses, or resolve at load time without "
                "\"resolve\"");
        }
        if (g.has_resolve()) {
            e->resolver = http_resolver(cycle);
            if (!e->resolver) {
                return Status::error(
                    "no resolver defined to resolve names at run time in "
                    "upstream \"" +
                    g.name() + "\" in " + e->where);
            }
        }
        register_group(cycle, g);
    }
    HALO_TRY(plan_zones(*mc));
    for (auto& use : mc->zones) {
        if (cycle.find_shm_zone(use->name) != nullptr) {
            return Status::error("the shared memory zone \"" + use->name +
                                 "\" is already declared for a different use in " + use->where);
        }
        Status err = Status::ok();
        core::ShmZone* zone = cycle.add_shm_zone(use->name, use->size, &kZoneTag, use->where, err);
        if (zone == nullptr) {
            return err;
        }
        ZoneUse* u = use.get();
        zone->init = [u, generation](core::ShmZone& z, bool) -> Status {
            for (Group* g : u->groups) {
                HALO_TRY(g->attach(z, generation));
            }
            return Status::ok();
        };
    }
    return Status::ok();
}

}  // namespace

// ---- the interface for other modules ----

Status implicit_group(ConfContext& cf, std::string_view host_port, const Group*& out,
                      uint16_t default_port, bool stream) {
    UpstreamMainConf* mc = main_conf(cf.cycle());
    if (mc == nullptr) {
        return cf.error("upstream groups need the http_upstream module");
    }
    std::string why;
    auto hp = split_host_port(host_port, why);
    if (!hp) {
        return cf.error(why + " in upstream \"" + std::string(host_port) + "\"");
    }
    if (GroupEntry* e = mc->find(hp->port != 0 ? host_port : std::string_view(hp->host), stream)) {
        if (hp->port == 0 && !e->block && e->default_port != default_port &&
            e->other_default_where.empty() && !is_unix(host_port)) {
            e->other_default_where = cf.node().where();  // an error unless a block comes
        }
        out = e->group.get();
        return Status::ok();
    }
    if (hp->port != 0) {
        for (const auto& e : mc->groups) {
            if (e->stream == stream && e->block && iequal(e->group->name(), hp->host)) {
                return cf.error("upstream \"" + hp->host + "\" may not have port " +
                                std::to_string(hp->port));
            }
        }
    }
    auto entry = std::make_unique<GroupEntry>();
    entry->group = std::make_unique<Group>(std::string(host_port));
    entry->where = cf.node().where();
    entry->host = hp->host;
    entry->port = hp->port;
    entry->default_port = default_port;
    entry->stream = stream;
    entry->group->set_stream(stream);
    out = entry->group.get();
    mc->groups.push_back(std::move(entry));
    return Status::ok();
}

namespace {

Status init_process(core::Cycle& cycle, const core::ProcessInfo& info) {
    UpstreamMainConf* mc = main_conf(cycle);
    if (mc == nullptr ||
        (info.role != core::ProcessRole::kWorker && info.role != core::ProcessRole::kSingle)) {
        return Status::ok();
    }
    for (auto& e : mc->groups) {
        if (e->resolver) {
            mc->watches.push_back(std::make_unique<ResolveWatch>(ev::Runtime::current().loop(),
                                                                 *e->group, e->resolver));
        }
    }
    return Status::ok();
}

void exit_process(core::Cycle& cycle) {
    if (UpstreamMainConf* mc = main_conf(cycle)) {
        mc->watches.clear();
    }
}

}  // namespace

extern const core::Module kModule{
    .name = "http_upstream",
    .type = core::ModuleType::kHttp,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &postconfiguration,
    .init_process = &init_process,
    .exit_process = &exit_process,
};

}  // namespace upstream
