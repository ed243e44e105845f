#include "upstream/pool.h"

#include <string>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "event/runtime.h"

namespace upstream {
namespace {

/// Ignores everything: the handler of a connection waiting for its posted deletion.
class Discard : public ev::ConnectionHandler {
  public:
    void on_readable() override {}
    void on_drained() override {}
    void on_timeout() override {}
    void on_error() override {}
};
Discard g_discard;

struct GroupPool;

/// An idle connection waiting in its group's pool: any event but a timeout reset means it is
/// done. The objects are recycled (no allocation per request once the pool has grown).
class Idle : public ev::ConnectionHandler {
  public:
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
        discard();
    }
    void on_drained() override {}
    void on_timeout() override { discard(); }
    void on_error() override { discard(); }
    /// Takes it out of its pool and closes the connection (from the loop).
    void discard();

    GroupPool* pool = nullptr;
    core::SockAddr addr;
    std::string tag;
    std::unique_ptr<ev::Connection> conn;
    int requests = 0;
    Idle* older = nullptr;
    Idle* newer = nullptr;  // also the free list's link
};

/// One group's idle connections in this worker, oldest first.
struct GroupPool {
    Idle* oldest = nullptr;
    Idle* newest = nullptr;
    size_t count = 0;

    void push(Idle* x) {
        x->older = newest;
        x->newer = nullptr;
        (newest != nullptr ? newest->newer : oldest) = x;
        newest = x;
        count++;
    }
    void unlink(Idle* x) {
        (x->older != nullptr ? x->older->newer : oldest) = x->newer;
        (x->newer != nullptr ? x->newer->older : newest) = x->older;
        x->older = x->newer = nullptr;
        count--;
    }
};

/// This worker's pools, by group (a worker's groups live as long as it does).
std::unordered_map<const Group*, GroupPool> g_pools;
size_t g_total = 0;
std::vector<std::unique_ptr<Idle>> g_made;  // every Idle ever made (the most idle at once)
Idle* g_free = nullptr;

Idle* make_idle() {
    if (g_free != nullptr) {
        Idle* x = g_free;
        g_free = x->newer;
        x->newer = nullptr;
        return x;
    }
    g_made.push_back(std::make_unique<Idle>());
    return g_made.back().get();
}

/// Takes `x` out of its pool and gives back its connection; `x` goes to the free list.
std::unique_ptr<ev::Connection> unpark(Idle* x) {
    x->pool->unlink(x);
    g_total--;
    x->pool = nullptr;
    std::unique_ptr<ev::Connection> c = std::move(x->conn);
    x->newer = g_free;
    g_free = x;
    return c;
}

void Idle::discard() {
    if (pool != nullptr) {
        drop_connection(unpark(this));
    }
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
    for (auto& [group, pool] : g_pools) {
        while (pool.newest != nullptr) {
            pool.newest->discard();
        }
    }
}

std::unique_ptr<ev::Connection> pool_take(const upstream::Group& group, const core::SockAddr& addr,
                                          std::string_view tag, int& requests) {
    requests = 0;
    auto it = g_pools.find(&group);
    if (it == g_pools.end()) {
        return nullptr;
    }
    // Most recently used first: the warmest connection (and the oldest ones, left alone,
    // time out when fewer are needed).
    for (Idle* x = it->second.newest; x != nullptr; x = x->older) {
        if (x->addr == addr && x->tag == tag) {
            requests = x->requests;
            std::unique_ptr<ev::Connection> c = unpark(x);
            c->clear_timeout();
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
    GroupPool& pool = g_pools[&group];
    size_t cap = group.idle_cap(core::steady_ms());
    while (pool.count >= cap && pool.oldest != nullptr) {
        pool.oldest->discard();
    }
    if (cap == 0) {
        drop_connection(std::move(conn));
        return;
    }
    Idle* x = make_idle();
    x->pool = &pool;
    x->addr = addr;
    x->tag.assign(tag);
    x->requests = requests;
    x->conn = std::move(conn);
    x->conn->release_buffers();
    x->conn->set_handler(x);
    x->conn->set_timeout(group.keepalive_timeout());
    pool.push(x);
    g_total++;
}

size_t pool_size() {
    return g_total;
}

size_t pool_size(const upstream::Group& group) {
    auto it = g_pools.find(&group);
    return it == g_pools.end() ? 0 : it->second.count;
}

}  // namespace upstream
