// The status page in Prometheus text (exposition format 0.0.4): render_prometheus().
#include <string>
#include <vector>

#include "modules/status/status.h"
#include "modules/status/status_render_util.h"

namespace mod::status {

namespace {

using namespace render;

// ---- Prometheus ----

/// Writes metric families: `# HELP`, `# TYPE`, then the samples given.
class Prom {
  public:
    explicit Prom(std::string& out) : out_(out) {}
    void family(std::string_view name, std::string_view type, std::string_view help) {
        name_ = name;
        out_ += "# HELP ";
        out_ += name;
        out_ += ' ';
        out_ += help;
        out_ += "\n# TYPE ";
        out_ += name;
        out_ += ' ';
        out_ += type;
        out_ += '\n';
    }
    /// A sample of the current family; `labels` are name/value pairs.
    void sample(std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
                std::string_view value) {
        out_ += name_;
        if (labels.size() > 0) {
            out_ += '{';
            bool first = true;
            for (const auto& [k, v] : labels) {
                out_ += first ? "" : ",";
                first = false;
                out_ += k;
                out_ += '=';
                append_label_value(out_, v);
            }
            out_ += '}';
        }
        out_ += ' ';
        out_ += value;
        out_ += '\n';
    }

  private:
    std::string& out_;
    std::string name_;
};

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); i++) {
        s += i > 0 ? "," : "";
        s += v[i];
    }
    return s;
}

void processes_prom(Prom& p, const Snapshot& s) {
    std::vector<const ProcessView*> all;
    if (s.have_processes) {
        all.push_back(&s.self);
    }
    for (const auto& w : s.workers) {
        all.push_back(&w);
    }
    for (const auto& h : s.helpers) {
        all.push_back(&h);
    }
    p.family("halo_process_start_time_seconds", "gauge",
             "Start time of the process since the Unix epoch in seconds.");
    for (const ProcessView* v : all) {
        std::string pid = num(v->pid);
        std::string index = v->index >= 0 ? num(v->index) : "";
        p.sample({{"type", v->type}, {"pid", pid}, {"index", index}, {"name", v->name}},
                 seconds(v->started_ms));
    }
    p.family("halo_process_respawns_total", "counter",
             "Times the master started this process again after an abnormal exit.");
    for (const ProcessView* v : all) {
        if (v->type == "worker" || v->type == "helper") {
            std::string pid = num(v->pid);
            std::string index = v->index >= 0 ? num(v->index) : "";
            p.sample({{"type", v->type}, {"pid", pid}, {"index", index}, {"name", v->name}},
                     num(v->respawns));
        }
    }
    p.family("halo_worker_http_requests_total", "counter",
             "Client requests received by each live worker process.");
    for (const auto& w : s.workers) {
        if (w.counted) {
            std::string pid = num(w.pid);
            std::string index = num(w.index);
            p.sample({{"pid", pid}, {"index", index}}, num(w.requests));
        }
    }
    p.family("halo_worker_connections_active", "gauge",
             "Open client connections of each live worker process.");
    for (const auto& w : s.workers) {
        if (w.counted) {
            std::string pid = num(w.pid);
            std::string index = num(w.index);
            p.sample({{"pid", pid}, {"index", index}}, num(w.active));
        }
    }
}

void connections_prom(Prom& p, const Connections& c) {
    p.family("halo_connections_accepted_total", "counter", "Accepted client connections.");
    p.sample({}, num(c.accepted));
    p.family("halo_connections_handled_total", "counter", "Handled client connections.");
    p.sample({}, num(c.handled));
    p.family("halo_http_requests_total", "counter",
             "Client requests, all worker processes together.");
    p.sample({}, num(c.requests));
    p.family("halo_connections_active", "gauge", "Open client connections.");
    p.sample({}, num(c.active));
    p.family("halo_connections_reading", "gauge",
             "Connections where halo is reading the request head.");
    p.sample({}, num(c.reading));
    p.family("halo_connections_writing", "gauge",
             "Connections with a request in progress (body, processing, response).");
    p.sample({}, num(c.writing));
    p.family("halo_connections_waiting", "gauge", "Idle client connections (keepalive).");
    p.sample({}, num(c.waiting));
    p.family("halo_connections_reclaimed_total", "counter",
             "Idle client connections closed to make room when worker_connections ran out.");
    p.sample({}, num(c.reclaimed));
    p.family("halo_h2_connections_total", "counter",
             "Client connections that went on in HTTP/2 (h2 by ALPN, or h2c).");
    p.sample({}, num(c.h2_connections));
    p.family("halo_h2_connections_active", "gauge",
             "Open HTTP/2 client connections (part of halo_connections_active).");
    p.sample({}, num(c.h2_active));
    p.family("halo_h2_streams_total", "counter", "Streams HTTP/2 clients opened.");
    p.sample({}, num(c.h2_streams));
    p.family("halo_auth_basic_failures_total", "counter",
             "Requests auth_basic refused with 401, by reason.");
    p.sample({{"reason", "no_credentials"}}, num(c.auth_basic_no_credentials));
    p.sample({{"reason", "user_not_found"}}, num(c.auth_basic_user_not_found));
    p.sample({{"reason", "password_mismatch"}}, num(c.auth_basic_password_mismatch));
    p.family("halo_auth_request_total", "counter",
             "auth_request decisions: allowed (2xx), denied (401, 403), failed (other: 500).");
    p.sample({{"result", "allowed"}}, num(c.auth_request_allowed));
    p.sample({{"result", "denied"}}, num(c.auth_request_denied));
    p.sample({{"result", "failed"}}, num(c.auth_request_failed));
}

void servers_prom(Prom& p, const std::vector<ServerView>& servers) {
    p.family("halo_server_requests_total", "counter", "Requests served by each server block.");
    for (const auto& s : servers) {
        p.sample({{"server", s.name}, {"listen", join(s.listen)}}, num(s.requests));
    }
    p.family("halo_server_h2_requests_total", "counter",
             "Requests served by each server block that came on HTTP/2 streams.");
    for (const auto& s : servers) {
        p.sample({{"server", s.name}, {"listen", join(s.listen)}}, num(s.h2_requests));
    }
    p.family("halo_server_responses_total", "counter",
             "Responses of each server block by status class.");
    for (const auto& s : servers) {
        std::string listen = join(s.listen);
        for (int c = 0; c < 5; c++) {
            p.sample({{"server", s.name}, {"listen", listen}, {"code", kClasses[c]}},
                     num(s.responses[c]));
        }
    }
    p.family("halo_server_received_bytes_total", "counter",
             "Request bytes (heads and bodies) received by each server block.");
    for (const auto& s : servers) {
        p.sample({{"server", s.name}, {"listen", join(s.listen)}}, num(s.received));
    }
    p.family("halo_server_sent_bytes_total", "counter",
             "Response bytes (heads and bodies) sent by each server block.");
    for (const auto& s : servers) {
        p.sample({{"server", s.name}, {"listen", join(s.listen)}}, num(s.sent));
    }
}

void stream_servers_prom(Prom& p, const std::vector<StreamServerView>& servers) {
    // One sample per listen address, labelled with its server (all its listen addresses),
    // the address and the protocol.
    auto each = [&](std::string_view name, std::string_view type, std::string_view help,
                    auto value) {
        p.family(name, type, help);
        for (const auto& s : servers) {
            std::string server = s.listen_text();
            for (const auto& l : s.listens) {
                p.sample({{"server", server}, {"listen", l.address}, {"protocol", l.protocol}},
                         value(l.counts));
            }
        }
    };
    each("halo_stream_server_connections_total", "counter",
         "Sessions a stream server's listen address started (TCP connections accepted, UDP "
         "clients' first datagrams).",
         [](const StreamCountsView& c) { return num(c.connections); });
    each("halo_stream_server_connections_active", "gauge", "Open sessions of a listen address.",
         [](const StreamCountsView& c) { return num(c.active); });
    p.family("halo_stream_server_sessions_total", "counter",
             "Ended sessions of a stream server's listen address by status class.");
    for (const auto& s : servers) {
        std::string server = s.listen_text();
        for (const auto& l : s.listens) {
            for (int i = 0; i < 3; i++) {
                p.sample({{"server", server},
                          {"listen", l.address},
                          {"protocol", l.protocol},
                          {"code", kStreamClasses[i]}},
                         num(l.counts.statuses[i]));
            }
        }
    }
    each("halo_stream_server_received_bytes_total", "counter",
         "Bytes a stream server's listen address received from its clients.",
         [](const StreamCountsView& c) { return num(c.received); });
    each("halo_stream_server_sent_bytes_total", "counter",
         "Bytes a stream server's listen address sent to its clients.",
         [](const StreamCountsView& c) { return num(c.sent); });
}

void upstreams_prom(Prom& p, const std::vector<UpstreamView>& ups) {
    // The block the group is in: the http and stream blocks may each have an upstream of a name.
    auto block = [](const UpstreamView& u) -> std::string_view {
        return u.stream ? "stream" : "http";
    };
    auto each = [&](auto fn) {
        for (const auto& u : ups) {
            for (const auto& peer : u.peers) {
                fn(u, peer);
            }
        }
    };
    p.family("halo_upstream_peer_state", "gauge",
             "1 for the state an upstream server is in (up, down, backup, draining).");
    each([&](const UpstreamView& u, const PeerView& s) {
        for (const char* st : kPeerStates) {
            p.sample({{"upstream", u.name}, {"block", block(u)}, {"peer", s.server}, {"state", st}},
                     s.state == st ? "1" : "0");
        }
    });
    p.family("halo_upstream_peer_up", "gauge",
             "1 when an upstream server may take requests (up, or a backup that is up).");
    each([&](const UpstreamView& u, const PeerView& s) {
        p.sample({{"upstream", u.name}, {"block", block(u)}, {"peer", s.server}},
                 s.state == "up" || s.state == "backup" ? "1" : "0");
    });
    // One sample per upstream server, labelled upstream/peer; no value: no sample.
    auto peer_family = [&](std::string_view name, std::string_view type, std::string_view help,
                           auto value) {
        p.family(name, type, help);
        each([&](const UpstreamView& u, const PeerView& s) {
            if (std::optional<std::string> v = value(s)) {
                p.sample({{"upstream", u.name}, {"block", block(u)}, {"peer", s.server}}, *v);
            }
        });
    };
    using Value = std::optional<std::string>;
    peer_family("halo_upstream_peer_active_connections", "gauge",
                "Requests in flight to an upstream server, all workers together.",
                [](const PeerView& s) -> Value { return num(s.active); });
    peer_family("halo_upstream_peer_requests_total", "counter",
                "Attempts sent to an upstream server.",
                [](const PeerView& s) -> Value { return num(s.requests); });
    peer_family("halo_upstream_peer_failures_total", "counter",
                "Attempts to an upstream server that failed.",
                [](const PeerView& s) -> Value { return num(s.failures); });
    peer_family("halo_upstream_peer_responses_total", "counter",
                "Responses received from an upstream server.",
                [](const PeerView& s) -> Value { return num(s.responses); });
    peer_family("halo_upstream_peer_response_seconds_total", "counter",
                "Sum of the response times of an upstream server's responses.",
                [](const PeerView& s) -> Value {
                    return seconds(static_cast<int64_t>(s.response_ms_total));
                });
    // Health-check families: only the servers a health check watches.
    peer_family("halo_upstream_peer_health_checks_total", "counter",
                "Active health checks run against an upstream server.",
                [](const PeerView& s) -> Value {
                    return s.health.checked ? Value(num(s.health.checks)) : std::nullopt;
                });
    peer_family("halo_upstream_peer_health_check_failures_total", "counter",
                "Active health checks of an upstream server that failed.",
                [](const PeerView& s) -> Value {
                    return s.health.checked ? Value(num(s.health.failures)) : std::nullopt;
                });
    peer_family("halo_upstream_peer_health_last_change_timestamp_seconds", "gauge",
                "When the health check last took an upstream server out or put it back (0: never).",
                [](const PeerView& s) -> Value {
                    return s.health.checked ? Value(seconds(s.health.last_change_ms))
                                            : std::nullopt;
                });
}

void vrrp_prom(Prom& p, const std::vector<VrrpView>& instances) {
    const char* const states[] = {"INIT", "BACKUP", "MASTER", "FAULT"};
    p.family("halo_vrrp_instance_state", "gauge", "1 for the state a VRRP instance is in.");
    for (const auto& v : instances) {
        std::string vrid = num(v.vrid);
        for (const char* st : states) {
            p.sample(
                {{"instance", v.name}, {"interface", v.interface}, {"vrid", vrid}, {"state", st}},
                v.state == st ? "1" : "0");
        }
    }
    // One sample per instance, labelled instance/interface/vrid.
    auto each = [&](std::string_view name, std::string_view type, std::string_view help,
                    auto value) {
        p.family(name, type, help);
        for (const auto& v : instances) {
            p.sample({{"instance", v.name}, {"interface", v.interface}, {"vrid", num(v.vrid)}},
                     value(v));
        }
    };
    each("halo_vrrp_instance_priority", "gauge",
         "Effective priority of a VRRP instance (after tracking).",
         [](const VrrpView& v) { return num(v.priority); });
    each("halo_vrrp_instance_base_priority", "gauge", "Configured priority of a VRRP instance.",
         [](const VrrpView& v) { return num(v.base_priority); });
    each("halo_vrrp_instance_transitions_total", "counter",
         "State changes of a VRRP instance (a reload keeps the count).",
         [](const VrrpView& v) { return num(v.transitions); });
    each("halo_vrrp_instance_addresses_up", "gauge",
         "1 while the instance's virtual addresses are on this node's links.",
         [](const VrrpView& v) { return std::string(v.addresses_up ? "1" : "0"); });
}

void anycast_prom(Prom& p, const std::vector<AnycastView>& services) {
    if (services.empty()) {
        return;  // no anycast block: no families (the vrrp ones predate this rule)
    }
    p.family("halo_anycast_announced", "gauge",
             "1 while this node announces its anycast addresses (anycast block).");
    for (const auto& v : services) {
        p.sample({{"interface", v.interface}}, v.state == "ANNOUNCED" ? "1" : "0");
    }
    p.family("halo_anycast_transitions_total", "counter",
             "Announcements and withdrawals of the anycast addresses.");
    for (const auto& v : services) {
        p.sample({{"interface", v.interface}}, num(v.transitions));
    }
}

void limit_conns_prom(Prom& p, const std::vector<LimitConnView>& zones) {
    auto each = [&](std::string_view name, std::string_view type, std::string_view help,
                    auto value) {
        p.family(name, type, help);
        for (const auto& v : zones) {
            p.sample({{"zone", v.zone}, {"kind", v.kind}}, num(value(v)));
        }
    };
    each("halo_limit_conn_passed_total", "counter",
         "Requests (http) or sessions (stream) a limit_conn zone counted and let through.",
         [](const LimitConnView& v) { return v.passed; });
    each("halo_limit_conn_rejected_total", "counter",
         "Requests or sessions refused by a limit_conn zone (limit reached or zone full).",
         [](const LimitConnView& v) { return v.rejected; });
    each("halo_limit_conn_rejected_dry_run_total", "counter",
         "Requests or sessions a limit_conn zone would have refused (limit_conn_dry_run).",
         [](const LimitConnView& v) { return v.rejected_dry_run; });
    each("halo_limit_conn_keys", "gauge", "Keys a limit_conn zone counts now.",
         [](const LimitConnView& v) { return v.keys; });
}

void limit_reqs_prom(Prom& p, const std::vector<LimitReqView>& zones) {
    auto each = [&](std::string_view name, std::string_view type, std::string_view help,
                    auto value) {
        p.family(name, type, help);
        for (const auto& v : zones) {
            p.sample({{"zone", v.zone}}, num(value(v)));
        }
    };
    each("halo_limit_req_passed_total", "counter", "Requests a limit_req zone let through at once.",
         [](const LimitReqView& v) { return v.passed; });
    each("halo_limit_req_delayed_total", "counter",
         "Requests a limit_req zone held until their excess drained.",
         [](const LimitReqView& v) { return v.delayed; });
    each("halo_limit_req_rejected_total", "counter",
         "Requests refused by a limit_req zone (over burst, or the zone full).",
         [](const LimitReqView& v) { return v.rejected; });
    each("halo_limit_req_delayed_dry_run_total", "counter",
         "Requests a limit_req zone would have delayed (limit_req_dry_run).",
         [](const LimitReqView& v) { return v.delayed_dry_run; });
    each("halo_limit_req_rejected_dry_run_total", "counter",
         "Requests a limit_req zone would have refused (limit_req_dry_run).",
         [](const LimitReqView& v) { return v.rejected_dry_run; });
    each("halo_limit_req_keys", "gauge", "Keys a limit_req zone holds a bucket for now.",
         [](const LimitReqView& v) { return v.keys; });
}

void caches_prom(Prom& p, const std::vector<CacheView>& zones) {
    auto each = [&](std::string_view name, std::string_view type, std::string_view help,
                    auto value) {
        p.family(name, type, help);
        for (const auto& v : zones) {
            p.sample({{"zone", v.zone}}, num(value(v)));
        }
    };
    each("halo_cache_hits_total", "counter", "Responses served from a cache (HIT).",
         [](const CacheView& v) { return v.hits; });
    each("halo_cache_misses_total", "counter", "Requests a cache had no entry for (MISS).",
         [](const CacheView& v) { return v.misses; });
    each("halo_cache_expired_total", "counter",
         "Requests whose cache entry had expired and went to the upstream (EXPIRED).",
         [](const CacheView& v) { return v.expired; });
    each("halo_cache_stale_total", "counter",
         "Expired entries served because the upstream failed (STALE).",
         [](const CacheView& v) { return v.stale; });
    each("halo_cache_updating_total", "counter",
         "Expired entries served while another request refreshed them (UPDATING).",
         [](const CacheView& v) { return v.updating; });
    each("halo_cache_revalidated_total", "counter",
         "Expired entries the upstream confirmed with 304 (REVALIDATED).",
         [](const CacheView& v) { return v.revalidated; });
    each("halo_cache_bypass_total", "counter",
         "Requests sent to the upstream by proxy_cache_bypass (BYPASS).",
         [](const CacheView& v) { return v.bypass; });
    each("halo_cache_size_bytes", "gauge", "Bytes the cached files take on disk.",
         [](const CacheView& v) { return v.size; });
    each("halo_cache_max_size_bytes", "gauge", "The cache's max_size (0: no bound).",
         [](const CacheView& v) { return v.max_size; });
    each("halo_cache_entries", "gauge", "Keys the cache's zone holds now.",
         [](const CacheView& v) { return v.entries; });
}

}  // namespace

std::string render_prometheus(const Snapshot& s) {
    std::string out;
    out.reserve(8192);
    Prom p(out);
    p.family("halo_info", "gauge", "Version of the halo binary and the node's name.");
    p.sample({{"version", s.version}, {"node", s.node}}, "1");
    p.family("halo_reloads_total", "counter", "Configuration reloads since the master started.");
    p.sample({}, num(s.reloads));
    processes_prom(p, s);
    connections_prom(p, s.connections);
    servers_prom(p, s.servers);
    stream_servers_prom(p, s.stream_servers);
    upstreams_prom(p, s.upstreams);
    vrrp_prom(p, s.vrrp);
    anycast_prom(p, s.anycast);
    limit_conns_prom(p, s.limit_conns);
    limit_reqs_prom(p, s.limit_reqs);
    caches_prom(p, s.caches);
    return out;
}

}  // namespace mod::status
