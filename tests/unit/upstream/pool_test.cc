// The keepalive pool of upstream connections, on a worker's real event loop with socketpairs
// standing in for upstream servers: reuse by group + address + tag, most recently used first,
// the `keepalive N` cap and the adaptive pool (`keepalive N adaptive=M`), keepalive_requests, a
// server closing or talking out of turn, the idle timeout (a short real one: connection timeouts
// run on the loop's clock), shutdown, clear.
#include "upstream/pool.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/process.h"
#include "event/runtime.h"
#include "support/event_wait.h"
#include "support/test_modules.h"
#include "upstream/upstream.h"

namespace upstream {
namespace {

using namespace std::chrono_literals;

using halo_test::run_until;

/// Counts the events of a connection back from the pool.
class Recorder : public ev::ConnectionHandler {
  public:
    void on_readable() override { events++; }
    void on_drained() override {}
    void on_timeout() override { timeouts++; }
    void on_error() override { events++; }

    int events = 0;
    int timeouts = 0;
};

/// A connection as the proxy holds it after a response, and the server's end of it.
struct Upstream {
    std::unique_ptr<ev::Connection> conn;
    int server = -1;
};

class PoolTest : public ::testing::Test {
  protected:
    PoolTest() : registry_(core::compiled_modules()) {
        core::Status s =
            support::load_cycle(registry_, dir_, "events {}\n", cycle_, nullptr, {}, true);
        EXPECT_TRUE(s.is_ok()) << s.message();
        runtime_ = std::make_unique<ev::Runtime>(*cycle_, info_);
        group_ = make_group("g");
        other_ = make_group("other");
        a_ = *core::SockAddr::from_ip("127.0.0.1", 8081);
        b_ = *core::SockAddr::from_ip("127.0.0.2", 8081);
    }
    ~PoolTest() override {
        pool_clear();
        for (int i = 0; i < 3; i++) {
            loop().run_once(ev::Duration(0));  // the posted deletions
        }
        for (int fd : servers_) {
            ::close(fd);
        }
        runtime_.reset();
    }

    static std::unique_ptr<Group> make_group(const std::string& name) {
        Server s;
        s.name = "127.0.0.1:8081";
        s.addr = *core::SockAddr::from_ip("127.0.0.1", 8081);
        std::string error;
        auto g = Group::make(name, {s}, nullptr, nullptr, std::nullopt, &error);
        EXPECT_NE(g, nullptr) << error;
        g->set_keepalive(8);
        return g;
    }

    ev::Loop& loop() { return runtime_->loop(); }

    /// A started connection over a socketpair; the test keeps the server's end.
    Upstream connect(const core::SockAddr& addr) {
        int sv[2];
        EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
        Upstream u;
        u.conn =
            std::make_unique<ev::Connection>(loop(), sv[0], addr, runtime_->next_connection_id());
        u.conn->set_handler(&owner_);
        u.conn->start();
        u.server = sv[1];
        servers_.push_back(sv[1]);
        return u;
    }
    /// Puts a new connection to `addr` of `g` in the pool; returns it (still owned by the pool)
    /// and the server's end.
    std::pair<ev::Connection*, int> put(const Group& g, const core::SockAddr& addr,
                                        std::string_view tag = "", int requests = 1) {
        Upstream u = connect(addr);
        ev::Connection* raw = u.conn.get();
        pool_put(g, addr, tag, std::move(u.conn), requests);
        return {raw, u.server};
    }
    /// Runs the loop until the server's end of a connection reads EOF (the pool closed it).
    bool closed_by_pool(int server) {
        return run_until(
            loop(),
            [&] {
                char c;
                ssize_t n = ::recv(server, &c, 1, MSG_DONTWAIT);
                return n == 0 || (n < 0 && errno == ECONNRESET);  // reset: unread bytes
            },
            2s);
    }
    /// The server's end is still open: nothing to read, no EOF, after a few loop turns.
    bool still_open(int server) {
        for (int i = 0; i < 3; i++) {
            loop().run_once(ev::Duration(0));
        }
        char c;
        return ::recv(server, &c, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN;
    }
    std::unique_ptr<ev::Connection> take(const Group& g, const core::SockAddr& addr,
                                         std::string_view tag = "") {
        int requests = -1;
        auto c = pool_take(g, addr, tag, requests);
        last_requests_ = requests;
        if (c) {
            c->set_handler(&owner_);  // as the proxy does at once
        }
        return c;
    }

    support::TempDir dir_;
    core::ModuleRegistry registry_;
    std::unique_ptr<core::Cycle> cycle_;
    core::ProcessInfo info_;
    std::unique_ptr<ev::Runtime> runtime_;
    std::unique_ptr<Group> group_;
    std::unique_ptr<Group> other_;
    core::SockAddr a_;
    core::SockAddr b_;
    Recorder owner_;
    std::vector<int> servers_;
    int last_requests_ = -1;
};

TEST_F(PoolTest, TakenBackOnlyForTheSameGroupAddressAndTag) {
    ASSERT_EQ(pool_size(), 0u);
    auto [conn, server] = put(*group_, a_, "", 3);
    EXPECT_EQ(pool_size(), 1u);
    EXPECT_EQ(take(*group_, b_), nullptr);
    EXPECT_EQ(take(*group_, a_, "tls:x"), nullptr);
    EXPECT_EQ(take(*other_, a_), nullptr);
    EXPECT_EQ(pool_size(), 1u);
    auto again = take(*group_, a_);
    ASSERT_NE(again, nullptr);
    EXPECT_EQ(again.get(), conn);
    EXPECT_EQ(last_requests_, 3);
    EXPECT_EQ(pool_size(), 0u);
    EXPECT_EQ(take(*group_, a_), nullptr);
    EXPECT_TRUE(still_open(server));
}

TEST_F(PoolTest, ATaggedConnectionIsTakenOnlyWithItsTag) {
    auto [conn, server] = put(*group_, a_, "tls:x");
    EXPECT_EQ(take(*group_, a_), nullptr);
    EXPECT_EQ(take(*group_, a_, "tls:y"), nullptr);
    auto again = take(*group_, a_, "tls:x");
    EXPECT_EQ(again.get(), conn);
}

TEST_F(PoolTest, MostRecentlyUsedFirst) {
    auto [first, s1] = put(*group_, a_);
    auto [second, s2] = put(*group_, a_);
    auto [third, s3] = put(*group_, b_);
    EXPECT_EQ(take(*group_, a_).get(), second);
    EXPECT_EQ(take(*group_, a_).get(), first);
    EXPECT_EQ(take(*group_, b_).get(), third);
}

TEST_F(PoolTest, KeepaliveCapsIdleConnectionsPerGroupClosingTheOldest) {
    group_->set_keepalive(2);
    auto [c1, s1] = put(*group_, a_);
    auto [o1, so] = put(*other_, a_);  // another group's: not counted against this one
    auto [c2, s2] = put(*group_, b_);
    EXPECT_EQ(pool_size(), 3u);
    auto [c3, s3] = put(*group_, a_);
    EXPECT_EQ(pool_size(), 3u);
    EXPECT_TRUE(closed_by_pool(s1));
    EXPECT_TRUE(still_open(s2));
    EXPECT_TRUE(still_open(s3));
    EXPECT_TRUE(still_open(so));
    EXPECT_EQ(take(*group_, a_).get(), c3);
    EXPECT_EQ(take(*group_, a_), nullptr);
    EXPECT_EQ(take(*other_, a_).get(), o1);
}

/// `n` attempts of `g` in flight at once (as `n` requests would hold them), released later.
std::vector<Peer> busy(const Group& g, int n) {
    std::vector<Peer> peers;
    for (int i = 0; i < n; i++) {
        PickContext ctx;
        peers.push_back(g.acquire(ctx));
        EXPECT_GE(peers.back().index, 0);
    }
    return peers;
}

void release_all(const Group& g, std::vector<Peer>& peers) {
    for (const Peer& p : peers) {
        g.release(p, Outcome::kOk, 1ms, core::steady_ms());
    }
    peers.clear();
}

TEST_F(PoolTest, FixedKeepaliveKeepsItsCapAfterABurst) {
    // nginx's `keepalive 2`: ten connections were busy, two are kept.
    group_->set_keepalive(2);
    auto peers = busy(*group_, 10);
    release_all(*group_, peers);
    std::vector<int> servers;
    for (int i = 0; i < 10; i++) {
        servers.push_back(put(*group_, a_).second);
    }
    EXPECT_EQ(pool_size(*group_), 2u);
    for (int i = 0; i < 8; i++) {
        EXPECT_TRUE(closed_by_pool(servers[static_cast<size_t>(i)])) << i;
    }
    EXPECT_TRUE(still_open(servers[9]));
}

TEST_F(PoolTest, AdaptiveKeepsWhatWasBusyAtOnce) {
    // `keepalive 2 adaptive=100`: ten were busy at once, ten come back and stay.
    group_->set_keepalive(2);
    group_->set_keepalive_max(100);
    auto peers = busy(*group_, 10);
    EXPECT_EQ(group_->local_busy(), 10);
    release_all(*group_, peers);
    EXPECT_EQ(group_->local_busy(), 0);
    std::vector<int> servers;
    for (int i = 0; i < 10; i++) {
        servers.push_back(put(*group_, a_).second);
    }
    EXPECT_EQ(pool_size(*group_), 10u);
    EXPECT_TRUE(still_open(servers[0]));
    // An eleventh is beyond the recent peak: the oldest idle one gives way.
    servers.push_back(put(*group_, a_).second);
    EXPECT_EQ(pool_size(*group_), 10u);
    EXPECT_TRUE(closed_by_pool(servers[0]));
    // Another group's connections count against their own group only.
    put(*other_, a_);
    EXPECT_EQ(pool_size(*group_), 10u);
    EXPECT_EQ(pool_size(*other_), 1u);
}

TEST_F(PoolTest, AdaptiveKeepsBusyAndIdleWithinThePeak) {
    group_->set_keepalive(1);
    group_->set_keepalive_max(100);
    auto peers = busy(*group_, 10);
    std::vector<Peer> still(peers.begin() + 6, peers.end());
    peers.resize(6);
    release_all(*group_, peers);  // 6 back, 4 still busy: 6 idle at most
    for (int i = 0; i < 8; i++) {
        put(*group_, a_);
    }
    EXPECT_EQ(pool_size(*group_), 6u);
    release_all(*group_, still);
    for (int i = 0; i < 8; i++) {
        put(*group_, a_);
    }
    EXPECT_EQ(pool_size(*group_), 10u);
}

TEST_F(PoolTest, AdaptiveIsBoundedByItsMax) {
    group_->set_keepalive(2);
    group_->set_keepalive_max(5);
    auto peers = busy(*group_, 10);
    release_all(*group_, peers);
    for (int i = 0; i < 10; i++) {
        put(*group_, a_);
    }
    EXPECT_EQ(pool_size(*group_), 5u);
}

TEST_F(PoolTest, AdaptiveKeepsItsFloorWhenNothingWasBusy) {
    group_->set_keepalive(3);
    group_->set_keepalive_max(100);
    for (int i = 0; i < 5; i++) {
        put(*group_, a_);
    }
    EXPECT_EQ(pool_size(*group_), 3u);
}

TEST_F(PoolTest, AReusedConnectionStaysRegisteredWithTheLoop) {
    // Taken back and put again, a pooled connection still hears its server: it never left the
    // loop (no re-registration per request).
    auto [c1, s1] = put(*group_, a_);
    auto c = take(*group_, a_);
    ASSERT_EQ(c.get(), c1);
    pool_put(*group_, a_, "", std::move(c), 2);
    ::shutdown(s1, SHUT_WR);
    ASSERT_TRUE(run_until(
        loop(), [] { return pool_size() == 0; }, 2s));
    EXPECT_TRUE(closed_by_pool(s1));
}

TEST_F(PoolTest, KeepaliveRequestsReachedClosesInsteadOfPooling) {
    group_->set_keepalive_requests(3);
    auto [c1, s1] = put(*group_, a_, "", 3);
    EXPECT_EQ(pool_size(), 0u);
    EXPECT_TRUE(closed_by_pool(s1));
    auto [c2, s2] = put(*group_, a_, "", 2);
    EXPECT_EQ(pool_size(), 1u);
    EXPECT_TRUE(still_open(s2));
}

TEST_F(PoolTest, ServerClosingAnIdleConnectionRemovesIt) {
    auto [c1, s1] = put(*group_, a_);
    auto [c2, s2] = put(*group_, a_);
    ::shutdown(s1, SHUT_WR);  // the server's FIN
    ASSERT_TRUE(run_until(
        loop(), [] { return pool_size() == 1; }, 2s));
    EXPECT_TRUE(closed_by_pool(s1));
    EXPECT_EQ(take(*group_, a_).get(), c2);
}

TEST_F(PoolTest, UnaskedBytesRemoveTheConnection) {
    auto [c1, s1] = put(*group_, a_);
    ASSERT_EQ(::send(s1, "HTTP/1.1 200 OK\r\n", 17, MSG_NOSIGNAL), 17);
    ASSERT_TRUE(run_until(
        loop(), [] { return pool_size() == 0; }, 2s));
    EXPECT_TRUE(closed_by_pool(s1));
    EXPECT_EQ(take(*group_, a_), nullptr);
}

TEST_F(PoolTest, IdleTimeoutRemovesTheConnection) {
    group_->set_keepalive_timeout(30ms);
    auto [c1, s1] = put(*group_, a_);
    loop().run_once(ev::Duration(0));
    EXPECT_EQ(pool_size(), 1u);
    ASSERT_TRUE(run_until(
        loop(), [] { return pool_size() == 0; }, 2s));
    EXPECT_TRUE(closed_by_pool(s1));
}

TEST_F(PoolTest, TakingCancelsTheIdleTimeout) {
    group_->set_keepalive_timeout(20ms);
    put(*group_, a_);
    auto c = take(*group_, a_);
    ASSERT_NE(c, nullptr);
    auto until = ev::Clock::now() + 80ms;
    while (ev::Clock::now() < until) {
        loop().run_once(ev::Duration(10));
    }
    EXPECT_EQ(owner_.timeouts, 0);
}

TEST_F(PoolTest, ShuttingDownClosesInsteadOfPooling) {
    runtime_->quit();
    ASSERT_TRUE(runtime_->shutting_down());
    auto [c1, s1] = put(*group_, a_);
    EXPECT_EQ(pool_size(), 0u);
    EXPECT_TRUE(closed_by_pool(s1));
}

TEST_F(PoolTest, ClearClosesEveryIdleConnection) {
    auto [c1, s1] = put(*group_, a_);
    auto [c2, s2] = put(*other_, b_);
    pool_clear();
    EXPECT_EQ(pool_size(), 0u);
    EXPECT_TRUE(closed_by_pool(s1));
    EXPECT_TRUE(closed_by_pool(s2));
}

TEST_F(PoolTest, DroppedConnectionClosesFromTheLoopAndIgnoresEvents) {
    Upstream u = connect(a_);
    ASSERT_EQ(::send(u.server, "x", 1, MSG_NOSIGNAL), 1);
    drop_connection(std::move(u.conn));
    char c;
    EXPECT_LT(::recv(u.server, &c, 1, MSG_DONTWAIT), 0);  // not at once: from the loop
    EXPECT_EQ(errno, EAGAIN);
    EXPECT_TRUE(closed_by_pool(u.server));
    EXPECT_EQ(owner_.events, 0);  // its owner heard nothing after letting go
}

}  // namespace
}  // namespace upstream
