#include "upstream/pool.h"

#include <algorithm>
#include <string>
#include <vector>

#include "event/runtime.h"

namespace upstream {
namespace {

class Idle;

/// Ignores everything: the handler of a connection waiting for its posted deletion.
class Discard : public ev::ConnectionHandler {
  public:
    void on_readable() override {}
    void on_drained() override {}
    void on_timeout() override {}
    void on_error() override {}
};
Discard g_discard;

std::vector<std::unique_ptr<Idle>> g_idle;  // this worker's, oldest first

void discard(Idle* idle);

/// An idle connection waiting in the pool: any event but a timeout reset means it is done.
class Idle : public ev::ConnectionHandler {
  public:
    Idle(const upstream::Group& g, const core::SockAddr& a, std::string_view t,
         std::unique_ptr<ev::Connection> c, int n)
        : group(&g), addr(a), tag(t), conn(std::move(c)), requests(n) {
        conn->set_handler(this);
        conn->set_timeout(g.keepalive_timeout());
    }
    // The server closed it, or sent something nobody asked for: either way, unusable. A TLS
    // connection also wakes up for a late session ticket (read and kept by OpenSSL) and for
    // write readiness: nothing to read then, and it stays.
    void on_readable() override {
        if (conn->transport() != nullptr) {
            ev::Buffer probe;
            if (conn->read(probe, 1) == ev::IoStatus::kAgain) {
                return;
            }
        }
        discard(this);
    }
    void on_drained() override {}
    void on_timeout() override { discard(this); }
    void on_error() override { discard(this); }

    const upstream::Group* group;
    core::SockAddr addr;
    std::string tag;
    std::unique_ptr<ev::Connection> conn;
    int requests;
};

/// Removes `idle` from the pool; its connection is deleted from the loop, outside its own
/// callback.
void discard(Idle* idle) {
    auto it = std::find_if(g_idle.begin(), g_idle.end(),
                           [idle](const auto& p) { return p.get() == idle; });
    if (it == g_idle.end()) {
        return;
    }
    std::unique_ptr<ev::Connection> conn = std::move((*it)->conn);
    g_idle.erase(it);
    drop_connection(std::move(conn));
}

}  // namespace

void drop_connection(std::unique_ptr<ev::Connection> conn) {
    if (!conn) {
        return;
    }
    ev::Connection* raw = conn.release();
    raw->set_handler(&g_discard);
    raw->clear_timeout();
    ev::Runtime::current().loop().post([raw] { delete raw; });
}

void pool_clear() {
    while (!g_idle.empty()) {
        discard(g_idle.back().get());
    }
}

std::unique_ptr<ev::Connection> pool_take(const upstream::Group& group, const core::SockAddr& addr,
                                          std::string_view tag, int& requests) {
    requests = 0;
    // Most recently used first: the warmest connection.
    for (auto it = g_idle.rbegin(); it != g_idle.rend(); ++it) {
        Idle& idle = **it;
        if (idle.group == &group && idle.addr == addr && idle.tag == tag) {
            std::unique_ptr<ev::Connection> c = std::move(idle.conn);
            requests = idle.requests;
            c->clear_timeout();
            // The Idle object goes now; its connection has a new owner.
            g_idle.erase(std::next(it).base());
            return c;
        }
    }
    return nullptr;
}

void pool_put(const upstream::Group& group, const core::SockAddr& addr, std::string_view tag,
              std::unique_ptr<ev::Connection> conn, int requests) {
    if (requests >= group.keepalive_requests() || ev::Runtime::current().shutting_down()) {
        drop_connection(std::move(conn));
        return;
    }
    size_t mine = static_cast<size_t>(std::count_if(
        g_idle.begin(), g_idle.end(), [&](const auto& p) { return p->group == &group; }));
    if (mine >= static_cast<size_t>(group.keepalive())) {
        auto oldest = std::find_if(g_idle.begin(), g_idle.end(),
                                   [&](const auto& p) { return p->group == &group; });
        discard(oldest->get());
    }
    g_idle.push_back(std::make_unique<Idle>(group, addr, tag, std::move(conn), requests));
}

size_t pool_size() {
    return g_idle.size();
}

}  // namespace upstream
