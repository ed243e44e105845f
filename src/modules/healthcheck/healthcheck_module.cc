// The http_healthcheck module: the `health_check` directive of upstream blocks, the
// healthcheck helper process that runs every check, and the publication of results into the
// groups' shared state (upstream::Group::set_health), where the workers' balancers read them.
#include <csignal>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/conf_context.h"
#include "core/cycle.h"
#include "core/log.h"
#include "core/module.h"
#include "core/process.h"
#include "event/runtime.h"
#include "modules/healthcheck/healthcheck.h"
#include "modules/healthcheck/healthcheck_module.h"
#include "modules/healthcheck/probe.h"
#include "upstream/upstream.h"

namespace mod::healthcheck {

extern const core::Module kModule;

namespace {

using core::ConfContext;
using core::Status;

constexpr Millis kMaxInterval{24 * 3600 * 1000};
constexpr Millis kDefaultMaxTimeout{5000};
constexpr int64_t kMaxCount = 1000;  // fall, rise

/// One group's check.
struct GroupCheck {
    upstream::Group* group = nullptr;
    CheckSpec spec;
    std::string where;
};

/// Main conf: every checked group. The specs stay at one address (Checkers refer to them).
struct HcMainConf : core::ConfBase {
    std::vector<std::unique_ptr<GroupCheck>> checks;
};

/// The module's conf in an upstream block: gives the directive its group.
struct HcUpstreamConf : upstream::UpstreamConf {};

HcMainConf* main_conf(core::Cycle& cycle) {
    int index = cycle.registry().index_of(kModule);
    if (index < 0 || cycle.main_confs()[static_cast<size_t>(index)] == nullptr) {
        return nullptr;
    }
    return &cycle.conf<HcMainConf>();
}

// ---- the directive ----

bool plain_text(std::string_view s) {
    for (char c : s) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
            return false;
        }
    }
    return !s.empty();
}

/// "200", "200-399", "200,204,300-399".
bool parse_expect(std::string_view text, std::vector<StatusRange>& out) {
    out.clear();
    while (!text.empty()) {
        size_t comma = text.find(',');
        std::string_view item = text.substr(0, comma);
        text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
        if (comma != std::string_view::npos && text.empty()) {
            return false;  // a trailing comma
        }
        size_t dash = item.find('-');
        auto lo = core::parse_int(item.substr(0, dash));
        auto hi = dash == std::string_view::npos ? lo : core::parse_int(item.substr(dash + 1));
        if (!lo || !hi || *lo < 100 || *hi > 599 || *lo > *hi) {
            return false;
        }
        out.push_back({static_cast<int>(*lo), static_cast<int>(*hi)});
    }
    return !out.empty();
}

// Each parser takes the value of one name=value parameter of health_check into the spec;
// false (with `why`) when the value is invalid.

bool param_type(std::string_view v, CheckSpec& s, std::string& why) {
    std::optional<CheckType> type = parse_check_type(v);
    if (!type) {
        why = "tcp, udp, http or https";
        return false;
    }
    s.type = *type;
    return true;
}

bool param_uri(std::string_view v, CheckSpec& s, std::string& why) {
    if (v.empty() || v[0] != '/' || !plain_text(v)) {
        why = "a path starting with \"/\", without spaces";
        return false;
    }
    s.uri = std::string(v);
    return true;
}

bool l4(const CheckSpec& s) {
    return s.type == CheckType::kTcp || s.type == CheckType::kUdp;
}

/// `~regex` / `~*regex` into `out`; false with `why` when it is not one or does not compile.
bool parse_regex_value(std::string_view v, std::shared_ptr<const http::Regex>& out,
                       std::string& why) {
    bool caseless = v.rfind("~*", 0) == 0;
    if (v.empty() || v[0] != '~' || v.size() == (caseless ? 2u : 1u)) {
        why = "a regular expression after ~ or ~*";
        return false;
    }
    auto re = std::make_shared<http::Regex>();
    Status rs = http::Regex::compile(v.substr(caseless ? 2 : 1), caseless, *re);
    if (!rs.is_ok()) {
        why = rs.message();
        return false;
    }
    out = std::move(re);
    return true;
}

/// A `send=` value or a plain `expect=` of a tcp/udp check: escapes decoded, 1..kMaxReply bytes.
bool parse_l4_string(std::string_view v, std::string& out, std::string& why) {
    if (!decode_escapes(v, out, why)) {
        return false;
    }
    if (out.empty() || out.size() > CheckSpec::kMaxReply) {
        why = "1 to " + std::to_string(CheckSpec::kMaxReply) + " bytes";
        return false;
    }
    return true;
}

bool param_expect(std::string_view v, CheckSpec& s, std::string& why) {
    if (l4(s)) {
        ReplyExpect e;
        bool ok = !v.empty() && v[0] == '~' ? parse_regex_value(v, e.regex, why)
                                            : parse_l4_string(v, e.prefix, why);
        if (ok) {
            s.reply = std::move(e);
        }
        return ok;
    }
    if (!parse_expect(v, s.expect)) {
        why = "status codes or ranges of 100..599, such as 200-399 or 200,302";
        return false;
    }
    return true;
}

bool param_send(std::string_view v, CheckSpec& s, std::string& why) {
    return parse_l4_string(v, s.send, why);
}

bool param_body(std::string_view v, CheckSpec& s, std::string& why) {
    return parse_regex_value(v, s.body, why);
}

bool param_host(std::string_view v, CheckSpec& s, std::string& why) {
    if (!plain_text(v)) {
        why = "a host name without spaces";
        return false;
    }
    s.host = std::string(v);
    return true;
}

bool param_port(std::string_view v, CheckSpec& s, std::string& why) {
    auto n = core::parse_int(v);
    if (!n || *n < 1 || *n > 65535) {
        why = "1..65535";
        return false;
    }
    s.port = static_cast<uint16_t>(*n);
    return true;
}

/// interval, timeout, jitter: a time from `min` to 24h; `range` tells what is accepted.
bool parse_check_time(std::string_view v, Millis min, std::string_view range, Millis& out,
                      std::string& why) {
    auto d = core::parse_duration(v);
    if (!d || *d < min || *d > kMaxInterval) {
        why = range;
        return false;
    }
    out = *d;
    return true;
}

bool param_interval(std::string_view v, CheckSpec& s, std::string& why) {
    return parse_check_time(v, CheckSpec::kMinInterval, "100ms..24h", s.interval, why);
}

bool param_timeout(std::string_view v, CheckSpec& s, std::string& why) {
    return parse_check_time(v, Millis(1), "1ms..24h", s.timeout, why);
}

bool param_jitter(std::string_view v, CheckSpec& s, std::string& why) {
    return parse_check_time(v, Millis(0), "a time such as 500ms", s.jitter, why);
}

/// fall, rise.
bool parse_check_count(std::string_view v, int& out, std::string& why) {
    auto n = core::parse_int(v);
    if (!n || *n < 1 || *n > kMaxCount) {
        why = "1..1000";
        return false;
    }
    out = static_cast<int>(*n);
    return true;
}

bool param_fall(std::string_view v, CheckSpec& s, std::string& why) {
    return parse_check_count(v, s.fall, why);
}

bool param_rise(std::string_view v, CheckSpec& s, std::string& why) {
    return parse_check_count(v, s.rise, why);
}

struct CheckParam {
    std::string_view name;
    bool (*parse)(std::string_view v, CheckSpec& s, std::string& why);
};

constexpr CheckParam kCheckParams[] = {
    {"type", &param_type},     {"uri", &param_uri},           {"expect", &param_expect},
    {"body", &param_body},     {"host", &param_host},         {"port", &param_port},
    {"send", &param_send},     {"interval", &param_interval}, {"timeout", &param_timeout},
    {"jitter", &param_jitter}, {"fall", &param_fall},         {"rise", &param_rise},
};

using ParamNames = std::set<std::string, std::less<>>;

/// One `name=value` argument `a` of health_check into `s`; `seen` holds the names before it.
Status apply_check_param(ConfContext& cf, const std::string& a, CheckSpec& s, ParamNames& seen) {
    size_t eq = a.find('=');
    auto bad = [&](std::string_view why) {
        return cf.error("invalid parameter \"" + a + "\" of \"health_check\" (" + std::string(why) +
                        ")");
    };
    if (eq == std::string::npos) {
        return bad("expected name=value");
    }
    std::string_view name = std::string_view(a).substr(0, eq);
    if (!seen.insert(std::string(name)).second) {
        return cf.error("duplicate parameter \"" + std::string(name) + "\" of \"health_check\"");
    }
    for (const CheckParam& p : kCheckParams) {
        if (p.name == name) {
            std::string why;
            return p.parse(std::string_view(a).substr(eq + 1), s, why) ? Status::ok() : bad(why);
        }
    }
    return cf.error("invalid parameter \"" + a + "\" of \"health_check\"");
}

/// The checks across parameters once all are read, and the default timeout.
Status settle_check(ConfContext& cf, CheckSpec& s, const ParamNames& seen) {
    for (const char* p : {"uri", "body", "host"}) {
        if (l4(s) && seen.count(p) != 0) {
            return cf.error(std::string("parameter \"") + p +
                            "\" of \"health_check\" needs type=http or type=https");
        }
    }
    if (!l4(s) && seen.count("send") != 0) {
        return cf.error("parameter \"send\" of \"health_check\" needs type=tcp or type=udp");
    }
    if (s.type == CheckType::kUdp && s.send.empty()) {
        return cf.error(
            "\"health_check\" type=udp needs a \"send\" parameter (the datagram to send)");
    }
    if (seen.count("timeout") == 0) {
        s.timeout = std::min(s.interval, kDefaultMaxTimeout);
    }
    if (s.jitter > s.interval) {
        return cf.error("\"jitter\" of \"health_check\" may not exceed its \"interval\" (" +
                        format_duration(s.interval) + ")");
    }
    return Status::ok();
}

Status set_health_check(ConfContext& cf, HcUpstreamConf& uc) {
    HcMainConf& mc = cf.cycle().conf<HcMainConf>();
    for (const auto& c : mc.checks) {
        if (c->group == uc.group) {
            return cf.duplicate();
        }
    }
    auto gc = std::make_unique<GroupCheck>();
    gc->group = uc.group;
    gc->where = cf.node().where();
    // A stream upstream holds TCP/UDP services: its default is a connect check (nginx plus's
    // stream health_check); an http upstream's is an HTTP GET.
    gc->spec.type = uc.group->stream() ? CheckType::kTcp : CheckType::kHttp;
    // The type first: it gives `expect` its meaning (statuses, or a tcp/udp reply).
    for (const std::string& a : cf.args()) {
        if (a.rfind("type=", 0) == 0) {
            std::string why;
            param_type(std::string_view(a).substr(5), gc->spec, why);  // errors: in the loop
        }
    }
    ParamNames seen;
    for (const std::string& a : cf.args()) {
        HALO_TRY(apply_check_param(cf, a, gc->spec, seen));
    }
    HALO_TRY(settle_check(cf, gc->spec, seen));
    const CheckSpec& s = gc->spec;
    uc.group->set_health_check(upstream::CheckSummary{std::string(check_type_name(s.type)),
                                                      l4(s) ? std::string() : s.uri, s.interval,
                                                      s.timeout, s.fall, s.rise});
    mc.checks.push_back(std::move(gc));
    return Status::ok();
}

constexpr core::Args kArgs0ToN{0, 255, false};

constexpr core::Directive kDirectives[] = {
    {"health_check", core::kCtxUpstream, kArgs0ToN, core::setter<&set_health_check>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<HcMainConf>(core::ConfLevel::kMain),
    core::conf_hooks<HcUpstreamConf>(core::ConfLevel::kUpstream),
};

// ---- running the checks ----

/// The Host header of a server's checks: `host=`, else the server's host as written, with
/// the port unless it is the scheme's default.
std::string default_host(const CheckSpec& spec, const upstream::Server& server, uint16_t port) {
    if (!spec.host.empty()) {
        return spec.host;
    }
    if (server.addr.family() == AF_UNIX) {
        return "localhost";  // as the proxy sends to a unix socket
    }
    std::string host = server.name;
    if (!host.empty() && host[0] == '[') {
        host = host.substr(0, host.find(']') + 1);
    } else if (size_t colon = host.find(':'); colon != std::string::npos) {
        if (host.find(':', colon + 1) == std::string::npos) {
            host.resize(colon);
        } else {
            host = "[" + host + "]";  // a bare IPv6 address
        }
    }
    uint16_t scheme_port = spec.type == CheckType::kHttps ? 443 : 80;
    return port == scheme_port ? host : host + ":" + std::to_string(port);
}

void set_port(core::SockAddr& a, uint16_t port) {
    if (a.family() == AF_INET) {
        reinterpret_cast<sockaddr_in*>(&a.storage)->sin_port = htons(port);
    } else if (a.family() == AF_INET6) {
        reinterpret_cast<sockaddr_in6*>(&a.storage)->sin6_port = htons(port);
    }
}

/// Every checker of a cycle, in one process: starts them from the state the shared zone holds
/// (a respawned helper or a reload goes on where the last one stopped), and publishes and
/// logs what they find.
class Monitor {
  public:
    Monitor(ev::Loop& loop, core::Cycle& cycle) : prober_(loop) {
        HcMainConf* mc = main_conf(cycle);
        if (mc == nullptr) {
            return;
        }
        std::random_device rd;
        for (const auto& gc : mc->checks) {
            const upstream::Group& g = *gc->group;
            for (size_t i = 0; i < g.servers().size(); i++) {
                const upstream::Server& srv = g.servers()[i];
                if (srv.down) {
                    continue;  // taken out by the configuration: nothing to check
                }
                auto e = std::make_unique<Entry>();
                e->group = &g;
                e->index = i;
                bool down = g.health(i, e->info);
                e->info.checked = 1;
                Target t;
                t.group = g.name();
                t.server = srv.name;
                t.addr = srv.addr;
                uint16_t port = gc->spec.port != 0 ? gc->spec.port : srv.addr.port();
                set_port(t.addr, port);
                t.host = default_host(gc->spec, srv, port);
                HealthMachine initial(gc->spec.fall, gc->spec.rise, down, e->info.streak,
                                      e->info.streak == 0 || e->info.last_ok != 0);
                Entry* raw = e.get();
                e->checker = std::make_unique<Checker>(
                    loop, gc->spec, std::move(t), prober_, initial,
                    [this, raw](const Checker& c, HealthMachine::Change ch) {
                        report(*raw, c, ch);
                    },
                    (static_cast<uint64_t>(rd()) << 32) ^ rd());
                entries_.push_back(std::move(e));
            }
        }
        for (auto& e : entries_) {
            e->checker->start();
        }
        HALO_LOG(kInfo, "health checks of %zu servers in %zu upstreams started", entries_.size(),
                 mc->checks.size());
    }

  private:
    struct Entry {
        const upstream::Group* group = nullptr;
        size_t index = 0;
        upstream::HealthInfo info;
        std::unique_ptr<Checker> checker;
    };

    static void report(Entry& e, const Checker& c, HealthMachine::Change change) {
        const CheckResult& r = c.last();
        upstream::HealthInfo& info = e.info;
        int64_t now = core::unix_ms();
        info.checks++;
        info.last_ok = r.ok() ? 1 : 0;
        info.last_status = static_cast<uint16_t>(r.status);
        info.streak = c.state().streak();
        info.last_check_ms = now;
        std::string reason = r.reason();
        if (!r.ok()) {
            info.check_failures++;
            snprintf(info.reason, sizeof(info.reason), "%s", reason.c_str());
        }
        if (change != HealthMachine::Change::kNone) {
            info.last_change_ms = now;
        }
        e.group->set_health(e.index, c.state().down(), info);

        const Target& t = c.target();
        std::string what = "upstream server " + t.server + " in upstream \"" + t.group + "\"";
        if (c.spec().port != 0) {
            what += " (checked on " + t.addr.text() + ")";
        }
        switch (change) {
            case HealthMachine::Change::kDown:
                HALO_LOG(kWarn, "%s is down: %s (%u failed checks)", what.c_str(), reason.c_str(),
                         c.state().streak());
                break;
            case HealthMachine::Change::kUp:
                HALO_LOG(kNotice, "%s is up: %s (%u passed checks)", what.c_str(), reason.c_str(),
                         c.state().streak());
                break;
            case HealthMachine::Change::kNone:
                if (!r.ok() && !c.state().down()) {
                    HALO_LOG(kInfo, "health check of %s failed: %s (%u of %d)", what.c_str(),
                             reason.c_str(), c.state().streak(), c.spec().fall);
                }
                break;
        }
    }

    NetProber prober_;
    std::vector<std::unique_ptr<Entry>> entries_;
};

/// The healthcheck helper process.
int run_helper(core::Cycle& cycle, const core::ProcessInfo&) {
    ev::Loop loop;
    std::vector<std::unique_ptr<ev::SignalWatcher>> signals;
    for (int signo : {SIGTERM, SIGINT, SIGQUIT}) {
        signals.push_back(loop.make_signal(signo, [&loop] { loop.exit(); }));
    }
    signals.push_back(loop.make_signal(SIGUSR1, [&cycle] {
        HALO_LOG(kNotice, "reopening logs");
        cycle.reopen_files(static_cast<uid_t>(-1));
    }));
    signals.push_back(loop.make_signal(SIGHUP, [] {}));
    core::unblock_signals();  // the master's signals were held until watched
    auto monitor = std::make_unique<Monitor>(loop, cycle);
    loop.run();
    monitor.reset();
    loop.run_once(ev::Duration(0));  // closes the connections of finished checks
    return 0;
}

std::unique_ptr<Monitor> g_single;  // `master_process off`: the checks run in that process

Status postconfiguration(core::Cycle& cycle) {
    HcMainConf* mc = main_conf(cycle);
    if (mc == nullptr || mc->checks.empty()) {
        return Status::ok();
    }
    for (const auto& c : mc->checks) {
        if (c->group->has_resolve()) {
            return Status::error(
                "\"health_check\" is not supported by halo in an upstream "
                "with \"server ... resolve\": its addresses change while "
                "running; rely on max_fails/fail_timeout there in " +
                c->where);
        }
    }
    cycle.add_helper(core::HelperSpec{"healthcheck", &run_helper, /*drop_privileges=*/true});
    return Status::ok();
}

Status init_process(core::Cycle& cycle, const core::ProcessInfo& info) {
    HcMainConf* mc = main_conf(cycle);
    if (info.role == core::ProcessRole::kSingle && mc != nullptr && !mc->checks.empty()) {
        g_single = std::make_unique<Monitor>(ev::Runtime::current().loop(), cycle);
    }
    return Status::ok();
}

void exit_process(core::Cycle&) {
    g_single.reset();
}

}  // namespace

const CheckSpec* find_check(core::Cycle& cycle, std::string_view name, bool stream) {
    HcMainConf* mc = main_conf(cycle);
    const upstream::Group* g = upstream::find_group(cycle, name, stream);
    if (mc == nullptr || g == nullptr) {
        return nullptr;
    }
    for (const auto& c : mc->checks) {
        if (c->group == g) {
            return &c->spec;
        }
    }
    return nullptr;
}

extern const core::Module kModule{
    .name = "http_healthcheck",
    .type = core::ModuleType::kHttp,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &postconfiguration,
    .init_process = &init_process,
    .exit_process = &exit_process,
};

}  // namespace mod::healthcheck
