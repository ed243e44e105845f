// The status zone in real shared memory: server counters matched by key across
// configurations (kept, new, recycled only when full and old), the process table, and the
// per-process slots (claimed, reclaimed from a dead process with its gauges cleared and its
// counters kept, released), including counts made by a forked child seen by the parent, and
// what an HTTP/2 connection counts there.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/shm.h"
#include "http/stats.h"
#include "modules/status/status_zone.h"

namespace mod::status {
namespace {

class StatusZoneTest : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string err;
        seg_ = core::ShmSegment::create(StatusZone::zone_size(), &err);
        ASSERT_NE(seg_, nullptr) << err;
        pool_ = core::ShmPool::format(*seg_);
        zone_ = StatusZone::open(*pool_, false);
        ASSERT_NE(zone_, nullptr);
    }

    std::unique_ptr<core::ShmSegment> seg_;
    core::ShmPool* pool_ = nullptr;
    StatusZone* zone_ = nullptr;
};

bool never_alive(pid_t) {
    return false;
}
bool always_alive(pid_t) {
    return true;
}

TEST_F(StatusZoneTest, AReusedZoneIsTheSameObject) {
    EXPECT_EQ(StatusZone::open(*pool_, true), zone_);
    EXPECT_GT(zone_->server_capacity(), 500u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(zone_) % alignof(StatusZone), 0u);
}

TEST_F(StatusZoneTest, AZoneHoldingSomethingElseIsRefused) {
    pool_->root = pool_->alloc(64);  // another module's object
    EXPECT_EQ(StatusZone::open(*pool_, true), nullptr);
}

TEST_F(StatusZoneTest, ServerCountersAreKeptByKeyAcrossConfigurations) {
    uint64_t g1 = zone_->begin_generation();
    ServerCounters* a = zone_->server("a 127.0.0.1:80", g1);
    ServerCounters* b = zone_->server("b 127.0.0.1:80", g1);
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    EXPECT_NE(a, b);
    a->count(200, 100, 1000);
    a->count(404, 10, 20);
    a->count(0, 5, 0);          // no response: a request, no class
    a->count(200, 0, 0, true);  // on an HTTP/2 stream: a request, an HTTP/2 one
    uint64_t g2 = zone_->begin_generation();
    EXPECT_GT(g2, g1);
    EXPECT_EQ(zone_->server("a 127.0.0.1:80", g2), a);
    EXPECT_EQ(a->requests.load(), 4u);
    EXPECT_EQ(a->h2_requests.load(), 1u);
    EXPECT_EQ(a->responses[1].load(), 2u);
    EXPECT_EQ(a->responses[3].load(), 1u);
    EXPECT_EQ(a->received.load(), 115u);
    EXPECT_EQ(a->sent.load(), 1020u);
    ServerCounters* c = zone_->server("c 127.0.0.1:80", g2);
    EXPECT_NE(c, a);
    EXPECT_NE(c, b);  // b is unused by g2 but there is room: never recycled while there is
    EXPECT_EQ(zone_->servers_used(), 3u);
}

TEST_F(StatusZoneTest, StreamListenCountersAreKeptByKeyApartFromServers) {
    uint64_t g1 = zone_->begin_generation();
    StreamCounters* t = zone_->stream_listen("tcp 127.0.0.1:5000", g1);
    StreamCounters* u = zone_->stream_listen("udp 127.0.0.1:5000", g1);
    ServerCounters* h = zone_->server("tcp 127.0.0.1:5000", g1);  // an http key of that text
    ASSERT_NE(t, nullptr);
    ASSERT_NE(u, nullptr);
    ASSERT_NE(h, nullptr);
    EXPECT_NE(static_cast<void*>(t), static_cast<void*>(u));
    EXPECT_NE(static_cast<void*>(t), static_cast<void*>(h));
    EXPECT_EQ(zone_->servers_used(), 3u);
    t->open();
    t->open();
    t->open();
    EXPECT_EQ(t->active.load(), 3);
    t->close(200, 10, 20, true);
    t->close(502, 5, 0, true);
    t->close(400, 3, 0, false);  // ended before its phases ran: started and ended at once
    t->close(403, 0, 0, true);
    EXPECT_EQ(t->connections.load(), 4u);
    EXPECT_EQ(t->active.load(), 0);
    EXPECT_EQ(t->sessions.load(), 4u);
    EXPECT_EQ(t->statuses[0].load(), 1u);
    EXPECT_EQ(t->statuses[1].load(), 2u);
    EXPECT_EQ(t->statuses[2].load(), 1u);
    EXPECT_EQ(t->received.load(), 18u);
    EXPECT_EQ(t->sent.load(), 20u);
    EXPECT_EQ(u->connections.load(), 0u);
    EXPECT_EQ(h->requests.load(), 0u);
    uint64_t g2 = zone_->begin_generation();
    EXPECT_EQ(zone_->stream_listen("tcp 127.0.0.1:5000", g2), t);  // a reload keeps them
    EXPECT_EQ(t->sessions.load(), 4u);
}

TEST_F(StatusZoneTest, AFullZoneRecyclesOnlyLongUnusedEntries) {
    uint64_t g = zone_->begin_generation();
    size_t cap = zone_->server_capacity();
    for (size_t i = 0; i < cap; i++) {
        ASSERT_NE(zone_->server("s" + std::to_string(i), g), nullptr) << i;
    }
    zone_->server("s0", g)->count(200, 1, 1, true);
    EXPECT_EQ(zone_->server("new", g), nullptr);  // every entry is used by this config
    uint64_t g2 = 0;
    for (int i = 0; i < 7; i++) {
        g2 = zone_->begin_generation();
    }
    for (size_t i = 1; i < cap; i++) {
        zone_->server("s" + std::to_string(i), g2);  // all but s0 still used
    }
    EXPECT_EQ(zone_->server("new", g2), nullptr);  // s0 unused for 7 configurations only
    uint64_t g3 = zone_->begin_generation();
    for (size_t i = 1; i < cap; i++) {
        zone_->server("s" + std::to_string(i), g3);
    }
    ServerCounters* fresh = zone_->server("new", g3);
    ASSERT_NE(fresh, nullptr);  // s0's entry, cleared
    EXPECT_EQ(fresh->requests.load(), 0u);
    EXPECT_EQ(fresh->h2_requests.load(), 0u);
}

TEST(StatusServerKeyTest, NameAndListensLongKeysHashed) {
    std::vector<std::string> listens = {"127.0.0.1:80", "[::1]:80"};
    EXPECT_EQ(server_key("example.com", listens), "example.com 127.0.0.1:80,[::1]:80");
    std::string long_a = server_key(std::string(300, 'a') + "1", listens);
    std::string long_b = server_key(std::string(300, 'a') + "2", listens);
    EXPECT_LT(long_a.size(), kServerKeyMax);
    EXPECT_LT(long_b.size(), kServerKeyMax);
    EXPECT_NE(long_a, long_b);
}

TEST_F(StatusZoneTest, ProcessTableRoundTrip) {
    core::ProcessTable t;
    t.self.pid = 100;
    t.self.role = core::ProcessRole::kMaster;
    t.self.started_ms = 1700000000000;
    t.reloads = 2;
    for (int i = 0; i < 3; i++) {
        core::ProcessRecord r;
        r.pid = 200 + i;
        r.role = i < 2 ? core::ProcessRole::kWorker : core::ProcessRole::kHelper;
        r.worker_index = i;
        r.helper_name = i < 2 ? "" : "healthcheck";
        r.respawns = static_cast<uint32_t>(i);
        r.retiring = i == 1;
        t.children.push_back(r);
    }
    ProcessBlock out;
    zone_->read_processes(out);
    EXPECT_EQ(out.published, 0u);
    zone_->publish(t);
    zone_->read_processes(out);
    EXPECT_EQ(out.published, 1u);
    EXPECT_EQ(out.self.pid, 100);
    EXPECT_EQ(out.self.started_ms, 1700000000000);
    EXPECT_EQ(out.reloads, 2u);
    ASSERT_EQ(out.count, 3u);
    EXPECT_EQ(out.children[1].retiring, 1);
    EXPECT_EQ(out.children[2].respawns, 2u);
    EXPECT_STREQ(out.children[2].name, "healthcheck");
    EXPECT_TRUE(out.has(100));
    EXPECT_TRUE(out.has(202));
    EXPECT_FALSE(out.has(203));
    // A smaller table replaces it whole.
    t.children.resize(1);
    zone_->publish(t);
    zone_->read_processes(out);
    EXPECT_EQ(out.count, 1u);
    EXPECT_FALSE(out.has(201));
}

TEST_F(StatusZoneTest, ChildrenBeyondTheTableAreCountedAsDropped) {
    core::ProcessTable t;
    t.self.pid = 1;
    t.children.resize(kMaxProcesses + 5);
    auto out = std::make_unique<ProcessBlock>();
    zone_->publish(t);
    zone_->read_processes(*out);
    EXPECT_EQ(out->count, kMaxProcesses);
    EXPECT_EQ(out->dropped, 5u);
}

TEST_F(StatusZoneTest, SlotsAreClaimedReclaimedAndReleased) {
    WorkerSlot* a = zone_->claim_slot(10, &always_alive);
    WorkerSlot* b = zone_->claim_slot(11, &always_alive);
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    EXPECT_NE(a, b);
    EXPECT_EQ(a->pid.load(), 10);
    a->counters.requests += 7;
    a->counters.active += 3;
    a->counters.reading += 1;
    a->counters.writing += 2;
    a->counters.h2_active += 2;
    a->counters.h2_streams += 5;
    // Fill every other slot: none is free any more, and every owner lives.
    std::vector<WorkerSlot*> rest;
    for (size_t i = 2; i < kMaxSlots; i++) {
        rest.push_back(zone_->claim_slot(static_cast<pid_t>(100 + i), &always_alive));
        ASSERT_NE(rest.back(), nullptr);
    }
    EXPECT_EQ(zone_->claim_slot(999, &always_alive), nullptr);
    // With every owner gone, the first dead one is taken over: gauges cleared, counters kept.
    WorkerSlot* taken = zone_->claim_slot(999, &never_alive);
    EXPECT_EQ(taken, a);
    EXPECT_EQ(a->pid.load(), 999);
    EXPECT_EQ(a->counters.requests.load(), 7u);
    EXPECT_EQ(a->counters.active.load(), 0);
    EXPECT_EQ(a->counters.reading.load(), 0);
    EXPECT_EQ(a->counters.writing.load(), 0);
    EXPECT_EQ(a->counters.h2_active.load(), 0);
    EXPECT_EQ(a->counters.h2_streams.load(), 5u);
    // Released: free again, gauges zero, counters stay.
    b->counters.requests += 2;
    b->counters.active += 1;
    b->counters.h2_active += 1;
    b->counters.h2_connections += 1;
    StatusZone::release_slot(*b);
    EXPECT_EQ(b->pid.load(), 0);
    EXPECT_EQ(b->counters.active.load(), 0);
    EXPECT_EQ(b->counters.h2_active.load(), 0);
    EXPECT_EQ(b->counters.h2_connections.load(), 1u);
    EXPECT_EQ(b->counters.requests.load(), 2u);
    EXPECT_EQ(zone_->claim_slot(1234, &always_alive), b);
}

/// What the HTTP/2 connection counts (http/stats.h) in a process's slot: a connection accepted
/// once, its HTTP/1 side handing over to HTTP/2 (no second accept), its streams, then its close.
TEST_F(StatusZoneTest, AnHttp2ConnectionIsAcceptedOnceAndCountsItsStreams) {
    WorkerSlot* slot = zone_->claim_slot(getpid(), &always_alive);
    ASSERT_NE(slot, nullptr);
    const http::ConnCounters& k = slot->counters;
    http::count_h2_stream();  // not counting yet: nothing moves
    http::set_conn_counters(&slot->counters);
    http::count_connection(1);   // accepted, read as HTTP/1 until the preface
    http::count_connection(-1);  // the HTTP/1 session gives the socket away
    http::count_h2_connection(1);
    for (int i = 0; i < 3; i++) {
        http::count_h2_stream();
    }
    EXPECT_EQ(k.accepted.load(), 1u);
    EXPECT_EQ(k.active.load(), 1);
    EXPECT_EQ(k.h2_active.load(), 1);
    EXPECT_EQ(k.h2_connections.load(), 1u);
    EXPECT_EQ(k.h2_streams.load(), 3u);
    http::count_h2_connection(-1);
    EXPECT_EQ(k.active.load(), 0);
    EXPECT_EQ(k.h2_active.load(), 0);
    EXPECT_EQ(k.h2_connections.load(), 1u);
    EXPECT_EQ(k.h2_streams.load(), 3u);
    http::set_conn_counters(nullptr);
    http::count_h2_connection(1);
    EXPECT_EQ(k.h2_active.load(), 0);
    StatusZone::release_slot(*slot);
}

TEST_F(StatusZoneTest, AForkedProcessCountsWhereTheParentReads) {
    WorkerSlot* parent_slot = zone_->claim_slot(getpid(), &always_alive);
    ASSERT_NE(parent_slot, nullptr);
    ServerCounters* srv = zone_->server("shared", zone_->begin_generation());
    ASSERT_NE(srv, nullptr);
    constexpr int kEach = 10000;
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        WorkerSlot* mine = zone_->claim_slot(getpid(), &always_alive);
        if (mine == nullptr || mine == parent_slot) {
            _exit(1);
        }
        for (int i = 0; i < kEach; i++) {
            mine->counters.requests.fetch_add(1, std::memory_order_relaxed);
            srv->count(200, 1, 2);
        }
        _exit(0);
    }
    for (int i = 0; i < kEach; i++) {
        parent_slot->counters.requests.fetch_add(1, std::memory_order_relaxed);
        srv->count(503, 1, 2);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    uint64_t total = 0;
    for (WorkerSlot& s : zone_->slots()) {
        total += s.counters.requests.load();
    }
    EXPECT_EQ(total, 2u * kEach);
    EXPECT_EQ(srv->requests.load(), 2u * kEach);  // both processes added to one entry
    EXPECT_EQ(srv->responses[1].load(), static_cast<uint64_t>(kEach));
    EXPECT_EQ(srv->responses[4].load(), static_cast<uint64_t>(kEach));
    EXPECT_EQ(srv->sent.load(), 4u * kEach);
}

}  // namespace
}  // namespace mod::status
