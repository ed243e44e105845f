// `halo --import-keepalived`, the LVS half: each `virtual_server IP PORT` becomes an upstream
// group (its real_servers, lb_algo, persistence_timeout, sorry_server) with one health_check
// (TCP_CHECK / HTTP_GET / SSL_GET) and a server { } that listens on IP:PORT and proxies to it.
// docs/upstreams.md and docs/healthcheck.md describe the mapping this follows.
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

/// Applies the keywords that keepalived allows at the virtual_server, real_server and checker
/// levels alike (an inner level overrides an outer one). True when `n` was one of them.
bool apply_common(const KaNode& n, Check& c, Report& report) {
    std::string_view kw = n.keyword();
    bool one = n.words.size() == 2 && !n.block;
    if (kw == "delay_loop" && one && parse_seconds(n.words[1])) {
        Millis t = *parse_seconds(n.words[1]);
        c.interval = std::clamp(t, Millis(100), Millis(86400000));
        if (*c.interval != t) {
            report.note(n, "keepalived delay_loop " + n.words[1] + " written as interval=" +
                               duration_text(*c.interval) + " (halo: 100ms..24h)");
        }
    } else if (kw == "connect_timeout" && one && parse_seconds(n.words[1]) &&
               parse_seconds(n.words[1])->count() > 0) {
        c.timeout = std::min(*parse_seconds(n.words[1]), Millis(86400000));
    } else if ((kw == "retry" || kw == "nb_get_retry") && one && parse_count(n.words[1])) {
        c.fall = std::min(*parse_count(n.words[1]) + 1, 1000L);  // first failure + N retries
    } else if (kw == "warmup" && one && parse_seconds(n.words[1])) {
        c.jitter = parse_seconds(n.words[1]);
    } else if (kw == "virtualhost" && one) {
        c.host = n.words[1];
    } else {
        return false;
    }
    return true;
}

/// "200" or "200-299", within 100..599.
bool status_range(std::string_view s) {
    size_t dash = s.find('-');
    auto lo = parse_count(s.substr(0, dash));
    auto hi = dash == std::string_view::npos ? lo : parse_count(s.substr(dash + 1));
    return lo && hi && *lo >= 100 && *hi <= 599 && *lo <= *hi;
}

/// `url { path /p; status_code 200-299 503; digest ...; regex ... }`.
void map_url(const KaNode& url, Check& c, Report& report) {
    for (const KaNode& n : url.children) {
        std::string_view kw = n.keyword();
        if (kw == "path" && n.words.size() == 2 && !n.words[1].empty() && n.words[1][0] == '/') {
            c.uri.clear();
            for (char ch : n.words[1]) {
                c.uri += ch == ' ' ? std::string("%20") : std::string(1, ch);  // halo: no spaces
            }
        } else if (kw == "status_code" && n.words.size() >= 2) {
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
        } else if (kw == "regex" && n.words.size() == 2) {
            c.body = n.words[1];
        } else if (kw == "virtualhost" && n.words.size() == 2) {
            c.host = n.words[1];
        } else if (kw == "digest") {
            report.skip(n, kw, "halo has no body digest, use body=~regex");
        } else {
            report.unmapped(n, {"path", "status_code", "regex", "virtualhost"});
        }
    }
}

/// A TCP_CHECK / HTTP_GET / SSL_GET block, on top of the defaults `base`.
Check map_checker(const KaNode& blk, const Check& base, Report& report) {
    Check c = base;
    c.where = blk.where();
    c.type = blk.keyword() == "TCP_CHECK" ? "tcp" : blk.keyword() == "HTTP_GET" ? "http" : "https";
    bool url_seen = false;
    for (const KaNode& n : blk.children) {
        std::string_view kw = n.keyword();
        if (!n.condition.empty()) {
            report.skip(n, n.condition, "conditional configuration");
        } else if (apply_common(n, c, report)) {
        } else if (kw == "connect_port" && n.words.size() == 2 && port_of(n.words[1])) {
            c.port = port_of(n.words[1]);
        } else if (kw == "url" && n.block && c.type != "tcp") {
            if (url_seen) {
                report.skip(n, kw, "halo checks one url per server, the first one is kept");
                continue;
            }
            url_seen = true;
            map_url(n, c, report);
        } else if (kw == "delay_before_retry") {
            report.skip(n, kw, "halo checks at one pace, set by interval");
        } else {
            report.unmapped(n, {"connect_port", "delay_loop", "connect_timeout", "retry",
                                "nb_get_retry", "warmup", "virtualhost"});
        }
    }
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

bool is_checker(std::string_view kw) {
    return kw == "TCP_CHECK" || kw == "HTTP_GET" || kw == "SSL_GET";
}

/// `real_server IP [PORT] { weight N; uthreshold N; TCP_CHECK { } ... }`.
std::optional<Server> map_real_server(const KaNode& rs, long vs_port, const Check& base,
                                      Report& report) {
    size_t argc = rs.words.size() - 1;
    if (argc < 1 || argc > 2 || addr_kind(rs.words[1]) == AddrKind::kBad ||
        (argc == 2 && !port_of(rs.words[2]))) {
        report.skip(rs, "real_server", "expected \"real_server IP [PORT] { ... }\"");
        return std::nullopt;
    }
    long port = argc == 2 ? *port_of(rs.words[2]) : vs_port;
    Server s;
    s.node = &rs;
    s.addr = host_port(rs.words[1], port);
    Check defaults = base;
    std::optional<long> weight, max_conns;
    for (const KaNode& n : rs.children) {
        std::string_view kw = n.keyword();
        if (!n.condition.empty()) {
            report.skip(n, n.condition, "conditional configuration");
        } else if (kw == "weight" && n.words.size() == 2 && parse_count(n.words[1])) {
            weight = parse_count(n.words[1]);
        } else if (kw == "uthreshold" && n.words.size() == 2 && parse_count(n.words[1])) {
            max_conns = parse_count(n.words[1]);
        } else if (is_checker(kw) && n.block) {
            if (s.check) {
                report.skip(n, kw, "halo runs one check per server, the first one is kept");
                continue;
            }
            s.check = map_checker(n, defaults, report);
        } else if (!s.check && apply_common(n, defaults, report)) {
        } else if (kw == "inhibit_on_failure") {
            report.skip(n, kw, "a failed server is taken out, not set to weight 0");
        } else {
            report.unmapped(n, {"weight", "uthreshold", "delay_loop", "connect_timeout", "retry",
                                "nb_get_retry", "warmup", "virtualhost"});
        }
    }
    if (weight && *weight == 0) {
        s.params += " down";  // keepalived: weight 0 takes no new connections
    } else if (weight && *weight > 1) {
        s.params += " weight=" + std::to_string(std::min(*weight, 65535L));
        if (*weight > 65535) {
            report.note(
                rs, "real_server weight " + std::to_string(*weight) + " written as weight=65535");
        }
    }
    if (max_conns && *max_conns > 0) {
        s.params += " max_conns=" + std::to_string(*max_conns);
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

/// One `virtual_server IP PORT { }`; false (reported) when it cannot be mapped.
bool map_one(const KaNode& vs, std::set<std::string>& listens, Report& report, Writer& out) {
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
    long port = *port_of(w[2]);
    std::string listen = host_port(w[1], port);
    std::string name = group_name(w[1], port);
    Check base;
    std::vector<std::string> head, tail, notes;
    std::vector<Server> servers;
    std::vector<const KaNode*> real;
    for (const KaNode& n : vs.children) {
        std::string_view kw = n.keyword();
        size_t argc = n.words.size() - 1;
        if (!n.condition.empty()) {
            report.skip(n, n.condition, "conditional configuration");
        } else if (kw == "real_server" && n.block) {
            real.push_back(&n);
        } else if (apply_common(n, base, report)) {
        } else if (kw == "lb_algo" && argc == 1) {
            const std::string& a = n.words[1];
            if (a == "wlc" || a == "lc") {
                head.push_back("least_conn;");
            } else if (a == "sh") {
                head.push_back("hash $remote_addr;");
            } else if (a == "mh") {
                head.push_back("hash $remote_addr consistent;");
            } else if (a != "rr" && a != "wrr") {
                report.skip(n, "lb_algo " + a, "halo balances this group by weighted round robin");
            }
        } else if (kw == "lb_kind" && argc == 1) {
            notes.push_back("lb_kind " + n.words[1] +
                            ": halo is a full proxy (connections end on this node, as NAT)");
        } else if (kw == "persistence_timeout" && argc == 1 && parse_seconds(n.words[1]) &&
                   parse_seconds(n.words[1])->count() > 0) {
            tail.push_back("persistence_timeout " + duration_text(*parse_seconds(n.words[1])) +
                           ";");
        } else if (kw == "protocol" && argc == 1 && n.words[1] == "TCP") {
        } else if (kw == "protocol" && argc == 1) {
            report.skip(n, "protocol " + n.words[1],
                        "halo proxies HTTP over TCP: virtual_server " + w[1] + " " + w[2] +
                            " not imported");
            return false;
        } else if (kw == "sorry_server" && (argc == 1 || argc == 2) &&
                   addr_kind(n.words[1]) != AddrKind::kBad && (argc == 1 || port_of(n.words[2]))) {
            Server s;
            s.node = &n;
            s.addr = host_port(n.words[1], argc == 2 ? *port_of(n.words[2]) : port);
            s.params = " backup";
            servers.push_back(s);
        } else {
            report.unmapped(
                n, {"lb_algo", "lb_kind", "persistence_timeout", "sorry_server", "delay_loop",
                    "connect_timeout", "retry", "nb_get_retry", "warmup", "virtualhost"});
        }
    }
    std::vector<Server> primary;
    std::optional<Check> check;
    std::set<std::string> addrs;
    for (const KaNode* rs : real) {
        auto s = map_real_server(*rs, port, base, report);
        if (!s) {
            continue;
        }
        if (!addrs.insert(s->addr).second) {
            report.skip(*rs, "real_server " + s->addr, "listed twice");
            continue;
        }
        if (s->check && !check) {
            check = s->check;
        } else if (s->check && !s->check->same(*check)) {
            report.skip(
                *rs, "real_server " + s->addr + " check",
                "halo has one health_check per upstream, the one of " + check->where + " is used");
        }
        primary.push_back(*s);
    }
    if (primary.empty()) {
        report.skip(vs, "virtual_server " + w[1] + " " + w[2], "no real_server could be imported");
        return false;
    }
    if (!listens.insert(listen).second) {
        report.skip(vs, "virtual_server " + w[1] + " " + w[2], "defined twice");
        return false;
    }
    bool hashed = !head.empty() && head[0].rfind("hash ", 0) == 0;
    for (const Server& s : servers) {
        if (hashed) {
            report.skip(*s.node, "sorry_server", "halo's hash balancer has no backup servers");
            continue;
        }
        if (addrs.count(s.addr) != 0) {
            report.skip(*s.node, "sorry_server " + s.addr, "it is also a real_server");
            continue;
        }
        primary.push_back(s);
    }
    out.line("# keepalived virtual_server " + w[1] + " " + w[2] + " (" + vs.where() + ")");
    for (const std::string& n : notes) {
        out.line("# " + n);
    }
    out.open("upstream " + name);
    for (const std::string& h : head) {
        out.line(h);
    }
    for (const Server& s : primary) {
        out.line("server " + s.addr + s.params + ";" +
                 (s.params == " backup" ? "  # sorry_server" : ""));
    }
    for (const std::string& t : tail) {
        out.line(t);
    }
    if (check) {
        out.line(check->text());
    }
    out.close();
    out.open("server");
    out.line("# halo binds " + w[1] + " itself: where that address is absent (a VRRP backup),");
    out.line(
        "# the bind fails unless the sysctl net.ipv4.ip_nonlocal_bind=1 (ipv6: ip_nonlocal_bind");
    out.line("# of net.ipv6) is set, which lets every node start.");
    out.line("listen " + listen + ";");
    bool tls = check && check->type == "https";
    if (tls) {
        out.line("# The real servers speak TLS (SSL_GET): LVS passed it through, halo proxies");
        out.line("# HTTP; add `ssl` and a certificate to this listen to terminate TLS here.");
    }
    out.open("location /");
    out.line(std::string("proxy_pass ") + (tls ? "https://" : "http://") + name + ";");
    out.close();
    out.close();
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
    out.open("http");
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
