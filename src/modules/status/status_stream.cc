// The stream block on the status page: a post_accept handler counts each session as it starts,
// a log handler as it ends (status class, bytes), per listen address, in the status zone.
#include "modules/status/status_stream.h"

#include <algorithm>
#include <atomic>

#include "core/log.h"
#include "stream/stream.h"

namespace mod::status {

namespace {

/// Marks a session counted as started (its post_accept handler ran).
struct Opened : stream::SessionCtx {};

/// The stream block of `cycle`, found by its conf type: nullptr when the module table has no
/// stream module (or a test table put another module where the type's index points) or when
/// the config has no stream block.
stream::StreamMainConf* stream_block(core::Cycle& cycle) {
    int index = core::ConfSlot<stream::StreamMainConf>::index;
    if (index < 0 || static_cast<size_t>(index) >= cycle.main_confs().size() ||
        cycle.main_confs()[static_cast<size_t>(index)] == nullptr) {
        return nullptr;
    }
    const core::ConfHooks* h = cycle.registry().hooks(index, core::ConfLevel::kMain);
    if (h == nullptr || h->index != &core::ConfSlot<stream::StreamMainConf>::index) {
        return nullptr;
    }
    auto& main = cycle.conf<stream::StreamMainConf>();
    return main.seen ? &main : nullptr;
}

size_t ctx_index() {
    return static_cast<size_t>(core::ConfSlot<StatusStreamSrvConf>::index);
}

/// The counters of the listen address `s` came to (nullptr: none, as with -t).
StreamCounters* counters_of(const stream::Session& s) {
    const void* listen = &s.port.listen();
    for (const StreamListenCounters& l : s.srv_conf<StatusStreamSrvConf>().listens) {
        if (l.listen == listen) {
            return l.counters;
        }
    }
    return nullptr;
}

stream::Flow count_open(stream::Session& s) {
    if (StreamCounters* c = counters_of(s)) {
        c->open();
        s.ctx_of<Opened>(static_cast<int>(ctx_index()));
    }
    return stream::Flow::kDeclined;
}

stream::Flow count_close(stream::Session& s) {
    if (StreamCounters* c = counters_of(s)) {
        size_t i = ctx_index();
        bool opened = s.ctx.size() > i && s.ctx[i] != nullptr;
        c->close(s.status, s.bytes_received, s.bytes_sent, opened);
    }
    return stream::Flow::kDeclined;
}

std::string address_text(const stream::Listen& l) {
    return l.unix_path.empty() ? l.addr.text() : "unix:" + l.unix_path;
}

StreamCountsView read(const StreamCounters& c) {
    StreamCountsView v;
    v.connections = c.connections.load(std::memory_order_relaxed);
    // A session ends in the process that started it: the gauge never goes below zero there,
    // but reads are not one snapshot.
    v.active = std::max<int64_t>(0, c.active.load(std::memory_order_relaxed));
    v.sessions = c.sessions.load(std::memory_order_relaxed);
    for (int i = 0; i < 3; i++) {
        v.statuses[i] = c.statuses[i].load(std::memory_order_relaxed);
    }
    v.received = c.received.load(std::memory_order_relaxed);
    v.sent = c.sent.load(std::memory_order_relaxed);
    return v;
}

}  // namespace

void install_stream_counting(core::Cycle& cycle) {
    stream::StreamMainConf* main = stream_block(cycle);
    if (main == nullptr) {
        return;
    }
    // stream::add_phase_handler() does the same; it is the stream core's code, which this
    // module may not link.
    main->registered[static_cast<size_t>(stream::Phase::kPostAccept)].push_back(&count_open);
    main->registered[static_cast<size_t>(stream::Phase::kLog)].push_back(&count_close);
}

void init_stream_counters(core::Cycle& cycle, StatusZone& zone, uint64_t generation) {
    stream::StreamMainConf* main = stream_block(cycle);
    if (main == nullptr) {
        return;
    }
    for (const auto& srv : main->servers) {
        auto& sc = core::conf_of<StatusStreamSrvConf>(srv->srv_confs);
        sc.listens.clear();
        for (const auto& port : main->ports) {
            if (&port->server() != srv.get()) {
                continue;
            }
            const stream::Listen& l = port->listen();
            // One listen address belongs to one stream server: protocol and address name it.
            std::string key = (l.options.udp ? "udp " : "tcp ") + address_text(l);
            StreamCounters* c = zone.stream_listen(key, generation);
            if (c == nullptr) {
                HALO_LOG(kWarn, "the status zone is full: no counters for \"listen %s\" in %s",
                         address_text(l).c_str(), l.where.c_str());
            }
            sc.listens.push_back({&l, c});
        }
    }
}

std::vector<StreamServerView> stream_servers(core::Cycle& cycle) {
    std::vector<StreamServerView> out;
    stream::StreamMainConf* main = stream_block(cycle);
    if (main == nullptr) {
        return out;
    }
    for (const auto& srv : main->servers) {
        const auto& sc = srv->conf<StatusStreamSrvConf>();
        StreamServerView v;
        // The server's ports, one per listen address, in the order of its listen lines.
        for (const auto& port : main->ports) {
            if (&port->server() != srv.get()) {
                continue;
            }
            StreamListenView lv;
            lv.address = address_text(port->listen());
            lv.protocol = port->udp() ? "udp" : "tcp";
            for (const StreamListenCounters& k : sc.listens) {
                if (k.listen == &port->listen() && k.counters != nullptr) {
                    v.counted = true;
                    lv.counts = read(*k.counters);
                }
            }
            v.counts.add(lv.counts);
            v.listens.push_back(std::move(lv));
        }
        out.push_back(std::move(v));
    }
    return out;
}

}  // namespace mod::status
