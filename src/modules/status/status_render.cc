// The status page's renderings of a Snapshot: JSON and nginx's stub_status text (the
// Prometheus text is status_prom.cc's).
#include <cinttypes>
#include <cstdio>
#include <optional>
#include <string>

#include "modules/status/status.h"
#include "modules/status/status_render_util.h"

namespace mod::status {

namespace {

using namespace render;

// ---- JSON ----

/// Writes `{"k": v, ...}` members one at a time, commas in between.
class Obj {
  public:
    explicit Obj(std::string& out) : out_(out) { out_ += '{'; }
    void key(std::string_view k) {
        out_ += first_ ? "" : ",";
        first_ = false;
        append_json_string(out_, k);
        out_ += ':';
    }
    void raw(std::string_view k, std::string_view v) {
        key(k);
        out_ += v;
    }
    void str(std::string_view k, std::string_view v) {
        key(k);
        append_json_string(out_, v);
    }
    /// A string, or null when it is empty.
    void str_or_null(std::string_view k, std::string_view v) {
        if (v.empty()) {
            raw(k, "null");
        } else {
            str(k, v);
        }
    }
    void boolean(std::string_view k, bool v) { raw(k, v ? "true" : "false"); }
    void end() { out_ += '}'; }

  private:
    std::string& out_;
    bool first_ = true;
};

template <class T, class F>
void array_json(std::string& out, const std::vector<T>& items, F each) {
    out += '[';
    for (size_t i = 0; i < items.size(); i++) {
        out += i > 0 ? "," : "";
        each(out, items[i]);
    }
    out += ']';
}

void process_json(std::string& out, const ProcessView& p, bool worker) {
    Obj o(out);
    o.raw("pid", num(p.pid));
    o.str("type", p.type);
    if (worker) {
        o.raw("index", num(p.index));
    }
    if (!p.name.empty()) {
        o.str("name", p.name);
    }
    o.raw("started", num(p.started_ms));
    o.raw("uptime", seconds(p.uptime_ms));
    o.raw("respawns", num(p.respawns));
    o.boolean("retiring", p.retiring);
    if (p.counted) {
        o.raw("accepted", num(p.accepted));
        o.raw("requests", num(p.requests));
        o.raw("active", num(p.active));
    }
    o.end();
}

void health_json(std::string& out, const HealthView& h) {
    Obj o(out);
    o.boolean("last_ok", h.last_ok);
    o.raw("last_status", num(h.last_status));
    o.raw("streak", num(h.streak));
    o.raw("last_check", num(h.last_check_ms));
    o.raw("last_change", num(h.last_change_ms));
    o.raw("checks", num(h.checks));
    o.raw("failures", num(h.failures));
    o.str_or_null("reason", h.reason);
    o.end();
}

void peer_json(std::string& out, const PeerView& p) {
    Obj o(out);
    o.str("server", p.server);
    o.str("name", p.name);
    o.boolean("backup", p.backup);
    o.raw("weight", num(p.weight));
    o.str("state", p.state);
    o.str_or_null("down_reason", p.down_reason);
    o.raw("active", num(p.active));
    o.raw("requests", num(p.requests));
    o.raw("failures", num(p.failures));
    o.raw("responses", num(p.responses));
    if (p.responses > 0) {
        o.raw("response_time_ms", num(p.response_ms_total / p.responses));
    } else {
        o.raw("response_time_ms", "null");
    }
    o.key("health_check");
    if (p.health.checked) {
        health_json(out, p.health);
    } else {
        out += "null";
    }
    o.end();
}

void upstream_json(std::string& out, const UpstreamView& u) {
    Obj o(out);
    o.str("name", u.name);
    o.str("block", u.stream ? "stream" : "http");
    o.str("balancer", u.balancer);
    o.key("health_check");
    if (u.check) {
        Obj c(out);
        c.str("type", u.check->type);
        if (!u.check->uri.empty()) {  // (tcp, udp: none)
            c.str("uri", u.check->uri);
        }
        c.raw("interval_ms", num(u.check->interval_ms));
        c.raw("timeout_ms", num(u.check->timeout_ms));
        c.raw("fall", num(u.check->fall));
        c.raw("rise", num(u.check->rise));
        c.end();
    } else {
        out += "null";
    }
    o.key("peers");
    array_json(out, u.peers, peer_json);
    o.end();
}

void server_json(std::string& out, const ServerView& s) {
    Obj o(out);
    o.str("name", s.name);
    o.key("listen");
    array_json(out, s.listen, append_json_string);
    o.raw("requests", num(s.requests));
    o.raw("h2_requests", num(s.h2_requests));
    o.key("responses");
    Obj r(out);
    for (int c = 0; c < 5; c++) {
        r.raw(kClasses[c], num(s.responses[c]));
    }
    r.end();
    o.raw("received", num(s.received));
    o.raw("sent", num(s.sent));
    o.end();
}

/// connections, active, sessions {total, 2xx, 4xx, 5xx}, received, sent (into an open object).
void stream_counts_json(std::string& out, Obj& o, const StreamCountsView& c) {
    o.raw("connections", num(c.connections));
    o.raw("active", num(c.active));
    o.key("sessions");
    Obj r(out);
    r.raw("total", num(c.sessions));
    for (int i = 0; i < 3; i++) {
        r.raw(kStreamClasses[i], num(c.statuses[i]));
    }
    r.end();
    o.raw("received", num(c.received));
    o.raw("sent", num(c.sent));
}

void stream_server_json(std::string& out, const StreamServerView& s) {
    Obj o(out);
    o.key("listen");
    out += '[';
    for (size_t i = 0; i < s.listens.size(); i++) {
        out += i > 0 ? "," : "";
        const StreamListenView& l = s.listens[i];
        append_json_string(out, l.protocol == "udp" ? l.address + " udp" : l.address);
    }
    out += ']';
    stream_counts_json(out, o, s.counts);
    o.key("listens");
    array_json(out, s.listens, [](std::string& o2, const StreamListenView& l) {
        Obj lo(o2);
        lo.str("address", l.address);
        lo.str("protocol", l.protocol);
        stream_counts_json(o2, lo, l.counts);
        lo.end();
    });
    o.end();
}

void vrrp_json(std::string& out, const VrrpView& v) {
    Obj o(out);
    o.str("name", v.name);
    o.str("state", v.state);
    o.str("interface", v.interface);
    o.str("sync_group", v.sync_group);
    o.raw("vrid", num(v.vrid));
    o.raw("version", num(v.version));
    o.raw("priority", num(v.priority));
    o.raw("base_priority", num(v.base_priority));
    o.str("master", v.master);
    o.raw("transitions", num(v.transitions));
    o.boolean("addresses_up", v.addresses_up);
    o.key("addresses");
    array_json(out, v.addresses, append_json_string);
    o.raw("last_change", num(v.last_change_ms));
    o.str_or_null("tracker", v.tracker);
    o.key("failing");
    array_json(out, v.failing, append_json_string);
    o.end();
}

void anycast_json(std::string& out, const AnycastView& v) {
    Obj o(out);
    o.str("state", v.state);
    o.str("reason", v.reason);
    o.str("interface", v.interface);
    o.key("addresses");
    array_json(out, v.addresses, append_json_string);
    o.raw("transitions", num(v.transitions));
    o.raw("last_change", num(v.last_change_ms));
    o.end();
}

void limit_conn_json(std::string& out, const LimitConnView& v) {
    Obj o(out);
    o.str("zone", v.zone);
    o.str("kind", v.kind);
    o.raw("passed", num(v.passed));
    o.raw("rejected", num(v.rejected));
    o.raw("rejected_dry_run", num(v.rejected_dry_run));
    o.raw("keys", num(v.keys));
    o.end();
}

void limit_req_json(std::string& out, const LimitReqView& v) {
    Obj o(out);
    o.str("zone", v.zone);
    o.raw("passed", num(v.passed));
    o.raw("delayed", num(v.delayed));
    o.raw("rejected", num(v.rejected));
    o.raw("delayed_dry_run", num(v.delayed_dry_run));
    o.raw("rejected_dry_run", num(v.rejected_dry_run));
    o.raw("keys", num(v.keys));
    o.end();
}

void cache_json(std::string& out, const CacheView& v) {
    Obj o(out);
    o.str("zone", v.zone);
    o.str("path", v.path);
    o.raw("hits", num(v.hits));
    o.raw("misses", num(v.misses));
    o.raw("expired", num(v.expired));
    o.raw("stale", num(v.stale));
    o.raw("updating", num(v.updating));
    o.raw("revalidated", num(v.revalidated));
    o.raw("bypass", num(v.bypass));
    o.raw("size", num(v.size));
    o.raw("max_size", num(v.max_size));
    o.raw("entries", num(v.entries));
    o.end();
}

}  // namespace

/// The page formats: the word that asks for one (`format=` in the directive and the query)
/// and the Content-Type it is served with.
struct FormatInfo {
    Format format;
    std::string_view name;
    std::string_view content_type;
};
constexpr FormatInfo kFormats[] = {
    {Format::kJson, "json", "application/json"},
    {Format::kPrometheus, "prometheus", "text/plain; version=0.0.4; charset=utf-8"},
    {Format::kHtml, "html", "text/html; charset=utf-8"},
};

std::optional<Format> parse_format(std::string_view s) {
    for (const FormatInfo& f : kFormats) {
        if (f.name == s) {
            return f.format;
        }
    }
    return std::nullopt;
}

std::string_view content_type(Format format) {
    for (const FormatInfo& f : kFormats) {
        if (f.format == format) {
            return f.content_type;
        }
    }
    return "application/octet-stream";
}

void append_label_value(std::string& out, std::string_view s) {
    out += '"';
    for (char c : s) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    out += '"';
}

void StreamCountsView::add(const StreamCountsView& o) {
    connections += o.connections;
    active += o.active;
    sessions += o.sessions;
    for (int i = 0; i < 3; i++) {
        statuses[i] += o.statuses[i];
    }
    received += o.received;
    sent += o.sent;
}

std::string StreamServerView::listen_text() const {
    std::string out;
    for (size_t i = 0; i < listens.size(); i++) {
        out += i > 0 ? "," : "";
        out += listens[i].address;
        out += listens[i].protocol == "udp" ? " udp" : "";
    }
    return out;
}

std::string render_json(const Snapshot& s) {
    std::string out;
    out.reserve(4096);
    Obj o(out);
    o.str("version", s.version);
    o.str("node", s.node);
    o.raw("time", num(s.now_ms));
    o.boolean("counting", s.counting);

    o.key("processes");
    {
        Obj p(out);
        p.key("master");
        if (s.have_processes) {
            Obj m(out);
            m.raw("pid", num(s.self.pid));
            m.str("type", s.self.type);
            m.raw("started", num(s.self.started_ms));
            m.raw("uptime", seconds(s.self.uptime_ms));
            m.raw("reloads", num(s.reloads));
            m.boolean("retiring", s.self.retiring);
            if (s.self.counted) {  // a single process serves too
                m.raw("accepted", num(s.self.accepted));
                m.raw("requests", num(s.self.requests));
                m.raw("active", num(s.self.active));
            }
            m.end();
        } else {
            out += "null";
        }
        p.key("workers");
        array_json(out, s.workers,
                   [](std::string& o2, const ProcessView& v) { process_json(o2, v, true); });
        p.key("helpers");
        array_json(out, s.helpers,
                   [](std::string& o2, const ProcessView& v) { process_json(o2, v, false); });
        p.raw("dropped", num(s.processes_dropped));
        p.end();
    }

    o.key("connections");
    {
        Obj c(out);
        c.raw("accepted", num(s.connections.accepted));
        c.raw("handled", num(s.connections.handled));
        c.raw("active", num(s.connections.active));
        c.raw("reading", num(s.connections.reading));
        c.raw("writing", num(s.connections.writing));
        c.raw("waiting", num(s.connections.waiting));
        c.raw("reclaimed", num(s.connections.reclaimed));
        c.raw("h2_connections", num(s.connections.h2_connections));
        c.raw("h2_active", num(s.connections.h2_active));
        c.raw("h2_streams", num(s.connections.h2_streams));
        c.end();
    }
    o.key("auth_request");
    {
        Obj a(out);
        a.raw("allowed", num(s.connections.auth_request_allowed));
        a.raw("denied", num(s.connections.auth_request_denied));
        a.raw("failed", num(s.connections.auth_request_failed));
        a.end();
    }
    o.key("requests");
    {
        Obj r(out);
        r.raw("total", num(s.connections.requests));
        r.raw("current", num(s.connections.reading + s.connections.writing));
        r.end();
    }
    o.key("auth_basic");
    {
        Obj a(out);
        const Connections& c = s.connections;
        a.raw("failures", num(c.auth_basic_no_credentials + c.auth_basic_user_not_found +
                              c.auth_basic_password_mismatch));
        a.raw("no_credentials", num(c.auth_basic_no_credentials));
        a.raw("user_not_found", num(c.auth_basic_user_not_found));
        a.raw("password_mismatch", num(c.auth_basic_password_mismatch));
        a.end();
    }
    o.key("servers");
    array_json(out, s.servers, server_json);
    o.key("stream_servers");
    array_json(out, s.stream_servers, stream_server_json);
    o.key("upstreams");
    array_json(out, s.upstreams, upstream_json);
    o.key("vrrp");
    array_json(out, s.vrrp, vrrp_json);
    o.key("anycast");
    array_json(out, s.anycast, anycast_json);
    o.key("limit_conns");
    array_json(out, s.limit_conns, limit_conn_json);
    o.key("limit_reqs");
    array_json(out, s.limit_reqs, limit_req_json);
    o.key("caches");
    array_json(out, s.caches, cache_json);
    if (!s.cluster_json.empty()) {
        o.raw("cluster", s.cluster_json);
    }
    o.end();
    out += '\n';
    return out;
}

std::string render_stub_status(const Connections& c) {
    char buf[256];
    snprintf(buf, sizeof(buf),
             "Active connections: %" PRId64 " \nserver accepts handled requests\n %" PRIu64
             " %" PRIu64 " %" PRIu64 " \nReading: %" PRId64 " Writing: %" PRId64
             " Waiting: %" PRId64 " \n",
             c.active, c.accepted, c.handled, c.requests, c.reading, c.writing, c.waiting);
    return buf;
}

}  // namespace mod::status
