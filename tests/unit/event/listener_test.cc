// ev::Listener: accepts on a listening socket and hands sockets to the protocol; the gate
// pauses it.
#include "event/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <vector>

#include "support/event_wait.h"

namespace ev {
namespace {

using halo_test::run_until;

class CollectingHandler : public ListenHandler {
  public:
    ~CollectingHandler() override {
        for (int fd : fds) {
            close(fd);
        }
    }
    void on_accept(int fd, const core::SockAddr& peer) override {
        fds.push_back(fd);
        peers.push_back(peer);
    }
    std::vector<int> fds;
    std::vector<core::SockAddr> peers;
};

class ListenerTest : public ::testing::Test {
  protected:
    ListenerTest() {
        lfd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(a);
        EXPECT_EQ(bind(lfd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
        EXPECT_EQ(listen(lfd_, 64), 0);
        EXPECT_EQ(getsockname(lfd_, reinterpret_cast<sockaddr*>(&a), &len), 0);
        port_ = ntohs(a.sin_port);
    }
    ~ListenerTest() override {
        for (int fd : clients_) {
            close(fd);
        }
        close(lfd_);
    }
    void connect_client() {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(port_);
        EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
        clients_.push_back(fd);
    }

    Loop loop_;
    int lfd_ = -1;
    uint16_t port_ = 0;
    std::vector<int> clients_;
};

TEST_F(ListenerTest, AcceptsAndPassesTheSocketOn) {
    CollectingHandler h;
    Listener l(loop_, lfd_, h);
    EXPECT_EQ(l.fd(), lfd_);
    EXPECT_FALSE(l.enabled());
    l.enable();
    EXPECT_TRUE(l.enabled());
    connect_client();
    connect_client();
    ASSERT_TRUE(run_until(loop_, [&] { return h.fds.size() == 2; }));
    EXPECT_EQ(h.peers[0].family(), AF_INET);
    EXPECT_EQ(h.peers[0].host_text(), "127.0.0.1");
    // Accepted sockets are non-blocking.
    EXPECT_TRUE(fcntl(h.fds[0], F_GETFL) & O_NONBLOCK);
}

TEST_F(ListenerTest, DisabledListenerDoesNotAccept) {
    CollectingHandler h;
    Listener l(loop_, lfd_, h);
    l.enable();
    l.disable();
    EXPECT_FALSE(l.enabled());
    connect_client();
    bool marker = false;
    auto t = loop_.make_timer([&] { marker = true; });
    t->arm(Duration(20));
    ASSERT_TRUE(run_until(loop_, [&] { return marker; }));
    EXPECT_TRUE(h.fds.empty());
    l.enable();  // the pending connection is taken now
    ASSERT_TRUE(run_until(loop_, [&] { return h.fds.size() == 1; }));
}

TEST_F(ListenerTest, GateStopsAccepting) {
    CollectingHandler h;
    Listener l(loop_, lfd_, h);
    struct Budget : AcceptGate {
        size_t left = 1;
        bool may_accept() override {
            if (left == 0) {
                return false;
            }
            left--;
            return true;
        }
    } budget;
    l.set_gate(&budget);
    l.enable();
    connect_client();
    connect_client();
    connect_client();
    bool marker = false;
    auto t = loop_.make_timer([&] { marker = true; });
    t->arm(Duration(50));
    ASSERT_TRUE(run_until(loop_, [&] { return marker; }));
    EXPECT_EQ(h.fds.size(), 1u);
    budget.left = 10;
    l.disable();
    l.enable();
    ASSERT_TRUE(run_until(loop_, [&] { return h.fds.size() == 3; }));
}

}  // namespace
}  // namespace ev
