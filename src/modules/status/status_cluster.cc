// node_name, status_peers and the cluster view in the status handler (status_cluster.h).
#include "modules/status/status_cluster.h"

#include "core/log.h"
#include "event/runtime.h"
#include "http/error_log.h"

namespace mod::status {

using core::ConfContext;
using core::Status;

Status set_node_name(ConfContext& cf, std::optional<std::string>& out) {
    if (out) {
        return cf.duplicate();
    }
    const std::string& name = cf.arg(0);
    if (name.empty()) {
        return cf.invalid_value(name, "it must not be empty");
    }
    out = name;
    return Status::ok();
}

Status set_status_peers(ConfContext& cf, ClusterLocConf& lc) {
    if (!lc.urls.empty()) {
        return cf.duplicate();
    }
    for (const std::string& a : cf.args()) {
        std::string err;
        auto url = parse_peer_url(a, err);
        if (!url) {
            return cf.error(err + " in \"" + a + "\" of the \"status_peers\" directive");
        }
        lc.urls.push_back(std::move(*url));
    }
    lc.where = cf.node().where();
    return Status::ok();
}

std::string node_name(const std::optional<std::string>& configured) {
    if (configured) {
        return *configured;
    }
    static const std::string host = default_node_name();
    return host;
}

Status check_peers(const ClusterLocConf& lc, bool status_page) {
    if (!lc.urls.empty() && !status_page) {
        return Status::error("\"status_peers\" in a location without \"status\" in " + lc.where);
    }
    return Status::ok();
}

namespace {

bool peers_off(std::string_view args) {
    while (!args.empty()) {
        size_t amp = args.find('&');
        if (args.substr(0, amp) == "peers=off") {
            return true;
        }
        args = amp == std::string_view::npos ? std::string_view() : args.substr(amp + 1);
    }
    return false;
}

PeerSet& peer_set(const ClusterLocConf& lc) {
    if (lc.peers == nullptr) {
        lc.peers = std::make_unique<PeerSet>(lc.urls, lc.timeout.value_or(std::chrono::seconds(1)),
                                             lc.valid.value_or(std::chrono::seconds(1)));
    }
    return *lc.peers;
}

/// A request waiting for a round of fetches.
struct PeerWait : http::RequestCtx {
    PeerSet* set = nullptr;
    uint64_t token = 0;
    bool done = false;
    ~PeerWait() override {
        if (!done && set != nullptr) {
            set->cancel(token);
        }
    }
};

void client_closed(http::Request& r) {
    http::log_error(r, core::LogLevel::kInfo, "client prematurely closed connection");
    r.client_gone();
}

}  // namespace

std::optional<http::Flow> wait_for_peers(http::Request& r, const ClusterLocConf& lc) {
    if (lc.urls.empty() || peers_off(r.args)) {
        return std::nullopt;
    }
    PeerWait* w = r.ctx<PeerWait>();
    if (w != nullptr && w->done) {
        return std::nullopt;  // back from the wait: whatever came in is shown
    }
    PeerSet& set = peer_set(lc);
    if (set.fresh()) {
        return std::nullopt;
    }
    if (w == nullptr) {
        w = &r.make_ctx<PeerWait>();
    }
    w->set = &set;
    http::Request* req = &r;
    w->token = set.wait(ev::Runtime::current().loop(), [req] {
        if (PeerWait* pw = req->ctx<PeerWait>()) {
            pw->done = true;
        }
        req->on_client_closed = nullptr;
        req->resume();
    });
    r.on_client_closed = &client_closed;
    return http::Flow::kSuspend;
}

std::string cluster_view_json(const http::Request& r, const ClusterLocConf& lc,
                              const Snapshot& self) {
    if (lc.urls.empty() || peers_off(r.args)) {
        return {};
    }
    ClusterView view;
    view.nodes.push_back(node_from_snapshot(self, self.node));
    if (lc.peers != nullptr) {
        for (const NodeView& n : lc.peers->results()) {
            view.nodes.push_back(n);
        }
    }
    analyse(view);
    std::string out;
    cluster_json(out, view);
    return out;
}

}  // namespace mod::status
