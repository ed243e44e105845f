// `halo --import-keepalived`, the LVS half: each `virtual_server IP PORT` becomes what it is, a
// layer-4 service in the `stream { }` block: an upstream group (its real_servers, lb_algo,
// persistence_timeout, sorry_server) with one health_check (TCP_CHECK / HTTP_GET / SSL_GET) and
// a stream server that listens on IP:PORT (TCP, or UDP) and proxies the bytes to it, TLS
// included. docs/stream.md, docs/upstreams.md and docs/healthcheck.md describe what this
// writes; docs/migrating-keepalived.md the mapping.
#include <algorithm>
#include <set>

#include "modules/vrrp/keepalived_map.h"

namespace vrrp::keepalived {

using Millis = std::chrono::milliseconds;

namespace {

/// One health_check line, as built from a real_server's checker and the defaults around it.
struct Check {
    std::string type;  // tcp | http | https
    std::string uri, expect, host, body;
    std::optional<long> port, fall;
    std::optional<Millis> interval, timeout, jitter;
    std::string where;  // the checker block, for messages

    bool same(const Check& o) const {
        return type == o.type && uri == o.uri && expect == o.expect && host == o.host &&
               body == o.body && port == o.port && fall == o.fall && interval == o.interval &&
               timeout == o.timeout && jitter == o.jitter;
    }
    std::string text() const {
        std::string s = "health_check type=" + type;
        if (type != "tcp") {
            s += " " + word("uri=" + (uri.empty() ? std::string("/") : uri));
            s += " expect=" + (expect.empty() ? std::string("200-299") : expect);
            if (!host.empty()) {
                s += " " + word("host=" + host);
            }
            if (!body.empty()) {
                s += " " + word("body=~" + body);
            }
        }
        if (port) {
            s += " port=" + std::to_string(*port);
        }
        s += " interval=" + duration_text(interval.value_or(Millis(60000)));
        if (timeout) {
            s += " timeout=" + duration_text(*timeout);
        }
        if (fall) {
            s += " fall=" + std::to_string(*fall);
        }
        if (jitter) {
            s += " jitter=" + duration_text(*jitter);
        }
        return s + ";";
    }
};

struct Server {
    std::string addr;  // "10.0.0.1:80" or "[ae00::1]:80"
    std::string params;
    std::optional<Check> check;
    const KaNode* node = nullptr;
};

std::string host_port(const std::string& ip, long port) {
    return (addr_kind(ip) == AddrKind::kV6 ? "[" + ip + "]" : ip) + ":" + std::to_string(port);
}

std::optional<long> port_of(std::string_view s) {
    auto p = parse_count(s);
    if (!p || *p < 1 || *p > 65535) {
        return std::nullopt;
    }
    return p;
}

/// One word after the keyword, no block.
bool one_arg(const KaNode& n) {
    return n.words.size() == 2 && !n.block;
}

// ---- the keywords that keepalived allows at the virtual_server, real_server and checker
// levels alike (an inner level overrides an outer one) ----

Mapped common_delay_loop(const KaNode& n, Check& c, Report& report) {
    auto t = one_arg(n) ? parse_seconds(n.words[1]) : std::nullopt;
    if (!t) {
        return Mapped::kInvalid;
    }
    c.interval = std::clamp(*t, Millis(100), Millis(86400000));
    if (*c.interval != *t) {
        report.note(n, "keepalived delay_loop " + n.words[1] + " written as interval=" +
                           duration_text(*c.interval) + " (halo: 100ms..24h)");
    }
    return Mapped::kMapped;
}

Mapped common_connect_timeout(const KaNode& n, Check& c, Report&) {
    auto t = one_arg(n) ? parse_seconds(n.words[1]) : std::nullopt;
    if (!t || t->count() <= 0) {
        return Mapped::kInvalid;
    }
    c.timeout = std::min(*t, Millis(86400000));
    return Mapped::kMapped;
}

/// retry, nb_get_retry.
Mapped common_retry(const KaNode& n, Check& c, Report&) {
    auto v = one_arg(n) ? parse_count(n.words[1]) : std::nullopt;
    if (!v) {
        return Mapped::kInvalid;
    }
    c.fall = std::min(*v + 1, 1000L);  // first failure + N retries
    return Mapped::kMapped;
}

Mapped common_warmup(const KaNode& n, Check& c, Report&) {
    auto t = one_arg(n) ? parse_seconds(n.words[1]) : std::nullopt;
    if (!t) {
        return Mapped::kInvalid;
    }
    c.jitter = t;
    return Mapped::kMapped;
}

Mapped common_virtualhost(const KaNode& n, Check& c, Report&) {
    if (!one_arg(n)) {
        return Mapped::kInvalid;
    }
    c.host = n.words[1];
    return Mapped::kMapped;
}

constexpr Keyword<Check> kCommonKeywords[] = {
    {"delay_loop", &common_delay_loop}, {"connect_timeout", &common_connect_timeout},
    {"retry", &common_retry},           {"nb_get_retry", &common_retry},
    {"warmup", &common_warmup},         {"virtualhost", &common_virtualhost},
};

/// The keywords a block shares with the others (the entry for any other keyword of its
/// table): one of kCommonKeywords, on the Check that `ctx.common()` names at this level
/// (none: the keyword no longer applies there, an invalid value); else unsupported.
template <class Ctx>
Mapped map_common(const KaNode& n, Ctx& ctx, Report& report) {
    const Keyword<Check>* k = find_keyword(kCommonKeywords, n.keyword());
    if (k == nullptr) {
        return Mapped::kUnsupported;
    }
    Check* c = ctx.common();
    return c != nullptr ? k->map(n, *c, report) : Mapped::kInvalid;
}

/// "200" or "200-299", within 100..599.
bool status_range(std::string_view s) {
    size_t dash = s.find('-');
    auto lo = parse_count(s.substr(0, dash));
    auto hi = dash == std::string_view::npos ? lo : parse_count(s.substr(dash + 1));
    return lo && hi && *lo >= 100 && *hi <= 599 && *lo <= *hi;
}

// ---- url { path /p; status_code 200-299 503; digest ...; regex ... } ----

Mapped url_path(const KaNode& n, Check& c, Report&) {
    if (n.words.size() != 2 || n.words[1].empty() || n.words[1][0] != '/') {
        return Mapped::kInvalid;
    }
    c.uri.clear();
    for (char ch : n.words[1]) {
        c.uri += ch == ' ' ? std::string("%20") : std::string(1, ch);  // halo: no spaces
    }
    return Mapped::kMapped;
}

Mapped url_status_code(const KaNode& n, Check& c, Report& report) {
    if (n.words.size() < 2) {
        return Mapped::kInvalid;
    }
    std::string list;
    for (size_t i = 1; i < n.words.size(); i++) {
        if (!status_range(n.words[i])) {
            report.skip(n, "status_code " + n.words[i], "not a status or a range");
            continue;
        }
        list += (list.empty() ? "" : ",") + n.words[i];
    }
    if (!list.empty()) {
        c.expect = list;
    }
    return Mapped::kMapped;
}

Mapped url_regex(const KaNode& n, Check& c, Report&) {
    if (n.words.size() != 2) {
        return Mapped::kInvalid;
    }
    c.body = n.words[1];
    return Mapped::kMapped;
}

Mapped url_virtualhost(const KaNode& n, Check& c, Report&) {
    if (n.words.size() != 2) {
        return Mapped::kInvalid;
    }
    c.host = n.words[1];
    return Mapped::kMapped;
}

constexpr char kNoDigest[] = "halo has no body digest, use body=~regex";

constexpr Keyword<Check> kUrlKeywords[] = {
    {"path", &url_path},
    {"status_code", &url_status_code},
    {"regex", &url_regex},
    {"virtualhost", &url_virtualhost},
    {"digest", &skip_keyword<Check, kNoDigest>},
};

// ---- TCP_CHECK / HTTP_GET / SSL_GET ----

/// One checker block being mapped.
struct Checker {
    Check c;
    bool url_seen = false;
    Check* common() { return &c; }
};

Mapped checker_connect_port(const KaNode& n, Checker& k, Report&) {
    auto p = n.words.size() == 2 ? port_of(n.words[1]) : std::nullopt;
    if (!p) {
        return Mapped::kInvalid;
    }
    k.c.port = p;
    return Mapped::kMapped;
}

Mapped checker_url(const KaNode& n, Checker& k, Report& report) {
    if (!n.block || k.c.type == "tcp") {
        return Mapped::kUnsupported;
    }
    if (k.url_seen) {
        report.skip(n, n.keyword(), "halo checks one url per server, the first one is kept");
        return Mapped::kReported;
    }
    k.url_seen = true;
    for (const KaNode& u : n.children) {  // conditional lines are read as any other here
        map_keyword(u, kUrlKeywords, k.c, report);
    }
    return Mapped::kMapped;
}

constexpr char kOnePace[] = "halo checks at one pace, set by interval";

constexpr Keyword<Checker> kCheckerKeywords[] = {
    {"connect_port", &checker_connect_port},
    {"url", &checker_url},
    {"delay_before_retry", &skip_keyword<Checker, kOnePace>},
    {"", &map_common<Checker>},  // kCommonKeywords
};

/// A TCP_CHECK / HTTP_GET / SSL_GET block, on top of the defaults `base`.
Check map_checker(const KaNode& blk, const Check& base, Report& report) {
    Checker k{.c = base};
    Check& c = k.c;
    c.where = blk.where();
    c.type = blk.keyword() == "TCP_CHECK" ? "tcp" : blk.keyword() == "HTTP_GET" ? "http" : "https";
    map_nodes(blk.children, kCheckerKeywords, k, report);
    if (c.jitter && c.jitter > c.interval.value_or(Millis(60000))) {
        report.note(blk, "keepalived warmup longer than the check interval: jitter=" +
                             duration_text(c.interval.value_or(Millis(60000))));
        c.jitter = c.interval.value_or(Millis(60000));
    }
    if (c.type == "tcp") {
        c.host.clear();
    }
    return c;
}

// ---- real_server IP [PORT] { weight N; uthreshold N; TCP_CHECK { } ... } ----

/// One real_server being mapped.
struct RealServer {
    Server s{};
    Check defaults{};  // the common keywords up to its checker
    std::optional<long> weight{}, max_conns{};
    Check* common() { return s.check ? nullptr : &defaults; }
};

Mapped real_weight(const KaNode& n, RealServer& rs, Report&) {
    return set_count(n, rs.weight, 0, kMaxCount);
}

Mapped real_uthreshold(const KaNode& n, RealServer& rs, Report&) {
    return set_count(n, rs.max_conns, 0, kMaxCount);
}

/// TCP_CHECK, HTTP_GET, SSL_GET.
Mapped real_checker(const KaNode& n, RealServer& rs, Report& report) {
    if (!n.block) {
        return Mapped::kUnsupported;
    }
    if (rs.s.check) {
        report.skip(n, n.keyword(), "halo runs one check per server, the first one is kept");
        return Mapped::kReported;
    }
    rs.s.check = map_checker(n, rs.defaults, report);
    return Mapped::kMapped;
}

constexpr char kTakenOut[] = "a failed server is taken out, not set to weight 0";

constexpr Keyword<RealServer> kRealServerKeywords[] = {
    {"weight", &real_weight},      {"uthreshold", &real_uthreshold},
    {"TCP_CHECK", &real_checker},  {"HTTP_GET", &real_checker},
    {"SSL_GET", &real_checker},    {"inhibit_on_failure", &skip_keyword<RealServer, kTakenOut>},
    {"", &map_common<RealServer>},  // kCommonKeywords
};

std::optional<Server> map_real_server(const KaNode& rs, long vs_port, const Check& base,
                                      Report& report) {
    size_t argc = rs.words.size() - 1;
    if (argc < 1 || argc > 2 || addr_kind(rs.words[1]) == AddrKind::kBad ||
        (argc == 2 && !port_of(rs.words[2]))) {
        report.skip(rs, "real_server", "expected \"real_server IP [PORT] { ... }\"");
        return std::nullopt;
    }
    long port = argc == 2 ? *port_of(rs.words[2]) : vs_port;
    RealServer r{.defaults = base};
    Server& s = r.s;
    s.node = &rs;
    s.addr = host_port(rs.words[1], port);
    map_nodes(rs.children, kRealServerKeywords, r, report);
    if (r.weight && *r.weight == 0) {
        s.params += " down";  // keepalived: weight 0 takes no new connections
    } else if (r.weight && *r.weight > 1) {
        s.params += " weight=" + std::to_string(std::min(*r.weight, 65535L));
        if (*r.weight > 65535) {
            report.note(
                rs, "real_server weight " + std::to_string(*r.weight) + " written as weight=65535");
        }
    }
    if (r.max_conns && *r.max_conns > 0) {
        s.params += " max_conns=" + std::to_string(*r.max_conns);
    }
    return s;
}

std::string group_name(const std::string& ip, long port) {
    std::string n = "vs_";
    for (char c : ip) {
        n += (c == '.' || c == ':') ? '_' : c;
    }
    return n + "_" + std::to_string(port);
}

// ---- virtual_server IP PORT { } ----

/// One virtual_server being mapped: what its keywords said, then its upstream's servers.
struct VirtualServer {
    const KaNode& node;
    long port;
    Check base{};  // the common keywords at this level
    std::vector<std::string> head{}, tail{}, notes{};
    std::vector<Server> sorry{};
    std::vector<const KaNode*> real{};
    std::vector<Server> primary{};  // the servers of the upstream
    std::optional<Check> check{};
    std::set<std::string> addrs{};  // of the real servers taken
    bool udp = false;               // protocol UDP
    Check* common() { return &base; }
};

Mapped vs_real_server(const KaNode& n, VirtualServer& vs, Report&) {
    if (!n.block) {
        return Mapped::kUnsupported;
    }
    vs.real.push_back(&n);
    return Mapped::kMapped;
}

/// An lb_algo of IPVS and what halo balances with instead; `note` when the two differ.
struct Algo {
    std::string_view ipvs, halo, note;
};

constexpr Algo kAlgos[] = {
    {"rr", "", ""},
    {"wrr", "", ""},  // halo's round robin is weighted (smooth)
    {"lc", "least_conn;", ""},
    {"wlc", "least_conn;", ""},
    {"sed", "least_conn;", "halo's least_conn weighs the active connections by weight"},
    {"nq", "least_conn;", "halo's least_conn weighs the active connections by weight"},
    {"lblc", "least_conn;", "locality by destination address: halo has one per listen"},
    {"lblcr", "least_conn;", "locality by destination address: halo has one per listen"},
    {"sh", "hash $remote_addr;", ""},
    {"mh", "hash $remote_addr consistent;",
     "ketama's consistent hash of the client address, not maglev's: the servers picked differ"},
};

Mapped vs_lb_algo(const KaNode& n, VirtualServer& vs, Report& report) {
    if (arg_count(n) != 1) {
        return Mapped::kInvalid;
    }
    const std::string& a = n.words[1];
    const Algo* algo = nullptr;
    for (const Algo& x : kAlgos) {
        if (x.ipvs == a) {
            algo = &x;
        }
    }
    if (algo == nullptr) {
        report.skip(n, "lb_algo " + a, "halo balances this group by weighted round robin");
        return Mapped::kMapped;
    }
    if (!algo->halo.empty()) {
        vs.head.emplace_back(algo->halo);
    }
    if (!algo->note.empty()) {
        std::string_view halo = algo->halo.substr(0, algo->halo.size() - 1);  // no ';'
        report.note(n, "keepalived lb_algo " + a + " written as " + std::string(halo) + " (" +
                           std::string(algo->note) + ")");
    }
    return Mapped::kMapped;
}

Mapped vs_lb_kind(const KaNode& n, VirtualServer& vs, Report& report) {
    if (arg_count(n) != 1 || (n.words[1] != "NAT" && n.words[1] != "DR" && n.words[1] != "TUN")) {
        return Mapped::kInvalid;
    }
    const std::string& kind = n.words[1];
    vs.notes.push_back("lb_kind " + kind +
                       ": halo is a full proxy, the real servers see this node's address");
    vs.notes.push_back("(not the client's: `proxy_protocol on;` in the server can carry it)");
    if (kind != "NAT") {
        report.note(n, "keepalived lb_kind " + kind +
                           ": halo is a full proxy (as NAT), replies pass through this node and "
                           "the real servers see its address (docs/migrating-keepalived.md)");
    }
    return Mapped::kMapped;
}

Mapped vs_persistence_timeout(const KaNode& n, VirtualServer& vs, Report&) {
    auto t = arg_count(n) == 1 ? parse_seconds(n.words[1]) : std::nullopt;
    if (!t || t->count() <= 0) {
        return Mapped::kInvalid;
    }
    vs.tail.push_back("persistence_timeout " + duration_text(*t) + ";");
    return Mapped::kMapped;
}

Mapped vs_protocol(const KaNode& n, VirtualServer& vs, Report& report) {
    if (arg_count(n) != 1) {
        return Mapped::kUnsupported;
    }
    if (n.words[1] == "TCP" || n.words[1] == "UDP") {
        vs.udp = n.words[1] == "UDP";
        return Mapped::kMapped;
    }
    const std::vector<std::string>& w = vs.node.words;
    report.skip(n, "protocol " + n.words[1],
                "halo proxies TCP and UDP: virtual_server " + w[1] + " " + w[2] + " not imported");
    return Mapped::kRefused;
}

Mapped vs_sorry_server(const KaNode& n, VirtualServer& vs, Report&) {
    size_t argc = arg_count(n);
    if ((argc != 1 && argc != 2) || addr_kind(n.words[1]) == AddrKind::kBad ||
        (argc == 2 && !port_of(n.words[2]))) {
        return Mapped::kInvalid;
    }
    Server s;
    s.node = &n;
    s.addr = host_port(n.words[1], argc == 2 ? *port_of(n.words[2]) : vs.port);
    s.params = " backup";
    vs.sorry.push_back(s);
    return Mapped::kMapped;
}

constexpr Keyword<VirtualServer> kVirtualServerKeywords[] = {
    {"real_server", &vs_real_server}, {"lb_algo", &vs_lb_algo},
    {"lb_kind", &vs_lb_kind},         {"persistence_timeout", &vs_persistence_timeout},
    {"protocol", &vs_protocol},       {"sorry_server", &vs_sorry_server},
    {"", &map_common<VirtualServer>},  // kCommonKeywords
};

/// `virtual_server IP PORT`; else reported.
bool valid_virtual_server(const KaNode& vs, Report& report) {
    const std::vector<std::string>& w = vs.words;
    if (w.size() == 3 && (w[1] == "fwmark" || w[1] == "group")) {
        report.skip(vs, "virtual_server " + w[1],
                    "halo listens on an address and a port (not imported)");
        return false;
    }
    if (w.size() != 3 || addr_kind(w[1]) == AddrKind::kBad || !port_of(w[2])) {
        report.skip(vs, "virtual_server", "expected \"virtual_server IP PORT { ... }\"");
        return false;
    }
    return true;
}

/// The real servers into vs.primary, each address once; the upstream's health check is the
/// first real server's (another one is reported).
void take_real_servers(VirtualServer& vs, Report& report) {
    for (const KaNode* rs : vs.real) {
        auto s = map_real_server(*rs, vs.port, vs.base, report);
        if (!s) {
            continue;
        }
        if (!vs.addrs.insert(s->addr).second) {
            report.skip(*rs, "real_server " + s->addr, "listed twice");
            continue;
        }
        if (s->check && !vs.check) {
            vs.check = s->check;
        } else if (s->check && !s->check->same(*vs.check)) {
            report.skip(*rs, "real_server " + s->addr + " check",
                        "halo has one health_check per upstream, the one of " + vs.check->where +
                            " is used");
        }
        vs.primary.push_back(*s);
    }
}

/// The sorry_servers as backup servers, where the balancer takes them.
void take_sorry_servers(VirtualServer& vs, Report& report) {
    bool hashed = !vs.head.empty() && vs.head[0].rfind("hash ", 0) == 0;
    for (const Server& s : vs.sorry) {
        if (hashed) {
            report.skip(*s.node, "sorry_server", "halo's hash balancer has no backup servers");
            continue;
        }
        if (vs.addrs.count(s.addr) != 0) {
            report.skip(*s.node, "sorry_server " + s.addr, "it is also a real_server");
            continue;
        }
        vs.primary.push_back(s);
    }
}

void write_upstream(const VirtualServer& vs, const std::string& name, Writer& out) {
    out.open("upstream " + name);
    for (const std::string& h : vs.head) {
        out.line(h);
    }
    for (const Server& s : vs.primary) {
        out.line("server " + s.addr + s.params + ";" +
                 (s.params == " backup" ? "  # sorry_server" : ""));
    }
    for (const std::string& t : vs.tail) {
        out.line(t);
    }
    if (vs.check) {
        out.line(vs.check->text());
    }
    out.close();
}

void write_server(const VirtualServer& vs, const std::string& listen, const std::string& name,
                  Writer& out) {
    out.open("server");
    out.line("# halo binds " + vs.node.words[1] +
             " itself: where that address is absent (a VRRP backup),");
    out.line(
        "# the bind fails unless the sysctl net.ipv4.ip_nonlocal_bind=1 (ipv6: ip_nonlocal_bind");
    out.line("# of net.ipv6) is set, which lets every node start.");
    out.line("listen " + listen + (vs.udp ? " udp;" : ";"));
    if (vs.check && vs.check->type == "https" && !vs.udp) {
        out.line("# TLS passes through to the real servers, as with LVS (SSL_GET: the check");
        out.line("# speaks TLS to them).");
    }
    out.line("proxy_pass " + name + ";");
    out.close();
}

/// One `virtual_server IP PORT { }`; false (reported) when it cannot be mapped.
bool map_one(const KaNode& node, std::set<std::string>& listens, Report& report, Writer& out) {
    if (!valid_virtual_server(node, report)) {
        return false;
    }
    const std::vector<std::string>& w = node.words;
    VirtualServer vs{.node = node, .port = *port_of(w[2])};
    std::string listen = host_port(w[1], vs.port);
    if (!map_nodes(node.children, kVirtualServerKeywords, vs, report)) {
        return false;
    }
    // A TCP and a UDP virtual_server may share an address and port (DNS): names apart.
    std::string name = group_name(w[1], vs.port) + (vs.udp ? "_udp" : "");
    take_real_servers(vs, report);
    if (vs.primary.empty()) {
        report.skip(node, "virtual_server " + w[1] + " " + w[2],
                    "no real_server could be imported");
        return false;
    }
    if (!listens.insert(listen + (vs.udp ? " udp" : "")).second) {
        report.skip(node, "virtual_server " + w[1] + " " + w[2], "defined twice");
        return false;
    }
    take_sorry_servers(vs, report);
    out.line("# keepalived virtual_server " + w[1] + " " + w[2] + " (" + node.where() + ")");
    for (const std::string& n : vs.notes) {
        out.line("# " + n);
    }
    write_upstream(vs, name, out);
    write_server(vs, listen, name, out);
    return true;
}

}  // namespace

void map_virtual_servers(const std::vector<const KaNode*>& servers, Report& report, Writer& out) {
    Writer body;
    std::set<std::string> listens;
    bool any = false;
    for (const KaNode* vs : servers) {
        Writer one;
        if (map_one(*vs, listens, report, one)) {
            if (any) {
                body.blank();
            }
            body.line(one.text().substr(0, one.text().size() - 1));
            any = true;
        }
    }
    if (!any) {
        return;
    }
    out.open("stream");
    const std::string& t = body.text();
    size_t pos = 0;
    while (pos < t.size()) {
        size_t nl = t.find('\n', pos);
        if (nl == pos) {
            out.blank();
        } else {
            out.line(t.substr(pos, nl - pos));
        }
        pos = nl + 1;
    }
    out.close();
}

}  // namespace vrrp::keepalived
