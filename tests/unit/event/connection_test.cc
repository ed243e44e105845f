// ev::Connection over a socketpair: reads, queued writes, drain, timeout and write errors.
#include "event/connection.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "support/event_wait.h"

namespace ev {
namespace {

using namespace std::chrono_literals;

using halo_test::run_until;

class RecordingHandler : public ConnectionHandler {
  public:
    void on_readable() override { readable++; }
    void on_drained() override { drained++; }
    void on_timeout() override { timeouts++; }
    void on_error() override { errors++; }

    int readable = 0;
    int drained = 0;
    int timeouts = 0;
    int errors = 0;
};

class ConnectionTest : public ::testing::Test {
  protected:
    ConnectionTest() {
        int sv[2];
        EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
        conn_ = std::make_unique<Connection>(loop_, sv[0], core::SockAddr(), 7);
        peer_ = sv[1];
        conn_->set_handler(&handler_);
        conn_->start();
    }
    ~ConnectionTest() override {
        conn_.reset();
        if (peer_ >= 0) {
            close(peer_);
        }
    }
    /// Reads what the peer has (non-blocking).
    std::string peer_read() {
        std::string out;
        char buf[65536];
        ssize_t n;
        while ((n = read(peer_, buf, sizeof(buf))) > 0) {
            out.append(buf, static_cast<size_t>(n));
        }
        return out;
    }

    Loop loop_;
    RecordingHandler handler_;
    std::unique_ptr<Connection> conn_;
    int peer_ = -1;
};

TEST_F(ConnectionTest, Identity) {
    EXPECT_EQ(conn_->id(), 7u);
    EXPECT_GE(conn_->fd(), 0);
    EXPECT_EQ(&conn_->loop(), &loop_);
    EXPECT_FALSE(conn_->output_pending());
    EXPECT_FALSE(conn_->failed());
}

TEST_F(ConnectionTest, ReadStatuses) {
    Buffer buf;
    EXPECT_EQ(conn_->read(buf, 100), IoStatus::kAgain);
    ASSERT_EQ(write(peer_, "hello", 5), 5);
    ASSERT_TRUE(run_until(loop_, [&] { return handler_.readable > 0; }));
    EXPECT_EQ(conn_->read(buf, 100), IoStatus::kOk);
    EXPECT_EQ(buf.view(), "hello");
    EXPECT_EQ(conn_->read(buf, 100), IoStatus::kAgain);
    // Reads are gated by readiness (edge-triggered): the EOF is seen after the next event.
    int before = handler_.readable;
    close(peer_);
    peer_ = -1;
    ASSERT_TRUE(run_until(loop_, [&] { return handler_.readable > before; }));
    EXPECT_EQ(conn_->read(buf, 100), IoStatus::kEof);
}

TEST_F(ConnectionTest, ReadRespectsMax) {
    ASSERT_EQ(write(peer_, "abcdefgh", 8), 8);
    Buffer buf;
    EXPECT_EQ(conn_->read(buf, 3), IoStatus::kOk);
    EXPECT_EQ(buf.view(), "abc");
    EXPECT_EQ(conn_->read(buf, 100), IoStatus::kOk);
    EXPECT_EQ(buf.view(), "abcdefgh");
}

TEST_F(ConnectionTest, SendWritesAtOnceWhenTheSocketTakesIt) {
    conn_->send("response");
    EXPECT_FALSE(conn_->output_pending());
    EXPECT_EQ(peer_read(), "response");
}

TEST_F(ConnectionTest, SendQueuesTheRestAndDrainsWhenWritable) {
    std::string big(4 * 1024 * 1024, 'z');
    conn_->send(big);
    ASSERT_TRUE(conn_->output_pending());  // more than a socket buffer
    conn_->send("END");                    // queued behind, in order
    std::string got;
    ASSERT_TRUE(run_until(loop_, [&] {
        got += peer_read();
        return handler_.drained > 0 && got.size() == big.size() + 3;
    }));
    EXPECT_FALSE(conn_->output_pending());
    EXPECT_EQ(got.substr(got.size() - 3), "END");
    EXPECT_EQ(got.find_first_not_of('z'), big.size());
    EXPECT_FALSE(conn_->failed());
}

TEST_F(ConnectionTest, SendToAClosedPeerFails) {
    close(peer_);
    peer_ = -1;
    conn_->send("x");
    EXPECT_TRUE(conn_->failed());
    conn_->send("more");  // ignored once failed
    EXPECT_FALSE(conn_->output_pending());
}

TEST_F(ConnectionTest, QueuedOutputToAVanishedPeerReportsAnError) {
    std::string big(4 * 1024 * 1024, 'z');
    conn_->send(big);
    ASSERT_TRUE(conn_->output_pending());
    close(peer_);
    peer_ = -1;
    ASSERT_TRUE(run_until(loop_, [&] { return handler_.errors > 0; }));
    EXPECT_TRUE(conn_->failed());
    EXPECT_EQ(handler_.drained, 0);
}

TEST_F(ConnectionTest, TimeoutFires) {
    conn_->set_timeout(1ms);
    ASSERT_TRUE(run_until(loop_, [&] { return handler_.timeouts > 0; }));
    EXPECT_EQ(handler_.timeouts, 1);
}

TEST_F(ConnectionTest, ClearedTimeoutDoesNotFire) {
    conn_->set_timeout(1ms);
    conn_->clear_timeout();
    conn_->clear_timeout();
    auto marker_fired = false;
    auto marker = loop_.make_timer([&] { marker_fired = true; });
    marker->arm(20ms);
    ASSERT_TRUE(run_until(loop_, [&] { return marker_fired; }));
    EXPECT_EQ(handler_.timeouts, 0);
}

TEST_F(ConnectionTest, ResetTimeoutMovesTheDeadline) {
    conn_->set_timeout(1ms);
    conn_->set_timeout(60s);
    auto marker_fired = false;
    auto marker = loop_.make_timer([&] { marker_fired = true; });
    marker->arm(20ms);
    ASSERT_TRUE(run_until(loop_, [&] { return marker_fired; }));
    EXPECT_EQ(handler_.timeouts, 0);
}

TEST_F(ConnectionTest, ShutdownWriteGivesThePeerEof) {
    conn_->send("last");
    conn_->shutdown_write();
    char buf[16];
    ssize_t n = read(peer_, buf, sizeof(buf));
    ASSERT_EQ(n, 4);
    EXPECT_EQ(read(peer_, buf, sizeof(buf)), 0);
    // Reading still works.
    ASSERT_EQ(write(peer_, "in", 2), 2);
    Buffer b;
    ASSERT_TRUE(run_until(loop_, [&] { return conn_->read(b, 10) == IoStatus::kOk; }));
    EXPECT_EQ(b.view(), "in");
}

TEST_F(ConnectionTest, DestructionClosesTheSocket) {
    int fd = conn_->fd();
    conn_.reset();
    EXPECT_EQ(fcntl(fd, F_GETFD), -1);
    char c;
    EXPECT_EQ(read(peer_, &c, 1), 0);  // the peer sees EOF
}

TEST_F(ConnectionTest, ReleaseBuffersWhenIdle) {
    conn_->release_buffers();
    conn_->send("x");
    EXPECT_EQ(peer_read(), "x");
}

// ---- a peer that closes right after its last bytes ----

/// Reads all there is on each event, as the protocol sessions do: until kAgain or kEof.
class DrainingHandler : public RecordingHandler {
  public:
    void on_readable() override {
        RecordingHandler::on_readable();
        IoStatus s;
        while ((s = conn->read(got, 4096)) == IoStatus::kOk) {
        }
        eof = eof || s == IoStatus::kEof;
    }
    Connection* conn = nullptr;
    Buffer got;
    bool eof = false;
};

/// Both ends of a loopback TCP connection: {ours (non-blocking), the peer's}.
std::pair<int, int> tcp_pair() {
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    EXPECT_EQ(bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(listen(lfd, 1), 0);
    EXPECT_EQ(getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len), 0);
    int peer = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(connect(peer, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    int ours = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    close(lfd);
    return {ours, peer};
}

/// The peer's last bytes and its FIN arrive together, so the FIN brings no readiness edge of
/// its own: the owner still gets the bytes and then EOF, not a wait for some timeout.
void expect_bytes_then_eof(int ours, int peer) {
    Loop loop;
    DrainingHandler h;
    Connection conn(loop, ours, core::SockAddr(), 1);
    h.conn = &conn;
    conn.set_handler(&h);
    conn.start();
    ASSERT_EQ(write(peer, "last words", 10), 10);
    close(peer);
    ASSERT_TRUE(run_until(
        loop, [&] { return h.eof; }, 3s));
    EXPECT_EQ(h.got.view(), "last words");
}

TEST(ConnectionEofTest, TcpPeerClosingRightAfterItsLastBytes) {
    auto [ours, peer] = tcp_pair();
    ASSERT_GE(ours, 0);
    expect_bytes_then_eof(ours, peer);
}

TEST(ConnectionEofTest, UnixPeerClosingRightAfterItsLastBytes) {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    expect_bytes_then_eof(sv[0], sv[1]);
}

}  // namespace
}  // namespace ev
