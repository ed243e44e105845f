// ev::Connection through a Transport (a fake that XORs every byte, with scripted handshake
// and write results): the handshake runs inside read(), output waits for it, a plain client
// drops the transport, a blocked write is retried with the same bytes, files go through the
// transport (never sendfile) with the head in the same write, close_notify on a clean close.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <string>
#include <vector>

#include "event/connection.h"

namespace ev {
namespace {

constexpr char kKey = 0x5a;

std::string xored(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        c ^= kKey;
    }
    return out;
}

/// Scripted results first, then real I/O on the socket with every byte XORed.
struct FakeTransport : Transport {
    explicit FakeTransport(int fd) : fd(fd) {}

    TransportStatus handshake() override {
        handshakes++;
        if (handshake_script.empty()) {
            return TransportStatus::kOk;
        }
        TransportStatus s = handshake_script.front();
        handshake_script.pop_front();
        return s;
    }
    TransportStatus read(std::span<char> buf, size_t& n) override {
        ssize_t got = ::recv(fd, buf.data(), buf.size(), 0);
        if (got == 0) {
            return TransportStatus::kEof;
        }
        if (got < 0) {
            return errno == EAGAIN ? TransportStatus::kWantRead : TransportStatus::kError;
        }
        for (ssize_t i = 0; i < got; i++) {
            buf[static_cast<size_t>(i)] ^= kKey;
        }
        n = static_cast<size_t>(got);
        return TransportStatus::kOk;
    }
    TransportStatus write(std::string_view data, size_t& n) override {
        writes.emplace_back(data);
        if (!write_script.empty()) {
            TransportStatus s = write_script.front();
            write_script.pop_front();
            if (s != TransportStatus::kOk) {
                return s;
            }
        }
        std::string wire = xored(data);
        ssize_t put = ::send(fd, wire.data(), wire.size(), MSG_NOSIGNAL);
        if (put < 0) {
            return errno == EAGAIN ? TransportStatus::kWantWrite : TransportStatus::kError;
        }
        n = static_cast<size_t>(put);
        return TransportStatus::kOk;
    }
    void shutdown() override { (*shutdowns)++; }

    int fd;
    int handshakes = 0;
    std::deque<TransportStatus> handshake_script;
    std::deque<TransportStatus> write_script;
    std::vector<std::string> writes;
    int* shutdowns = nullptr;
};

class Handler : public ConnectionHandler {
  public:
    void on_readable() override { readable++; }
    void on_drained() override { drained++; }
    void on_timeout() override {}
    void on_error() override { errors++; }
    int readable = 0;
    int drained = 0;
    int errors = 0;
};

class TransportTest : public ::testing::Test {
  protected:
    TransportTest() {
        int sv[2];
        EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
        conn_ = std::make_unique<Connection>(loop_, sv[0], core::SockAddr(), 9);
        peer_ = sv[1];
        auto t = std::make_unique<FakeTransport>(sv[0]);
        t->shutdowns = &shutdowns_;
        fake_ = t.get();
        conn_->set_handler(&handler_);
        conn_->set_transport(std::move(t));
        conn_->start();
    }
    ~TransportTest() override {
        conn_.reset();
        close(peer_);
    }
    std::string peer_read() {
        std::string out;
        char buf[65536];
        ssize_t n;
        while ((n = ::read(peer_, buf, sizeof(buf))) > 0) {
            out.append(buf, static_cast<size_t>(n));
        }
        return out;
    }
    void peer_write(std::string_view s) {
        ASSERT_EQ(::write(peer_, s.data(), s.size()), static_cast<ssize_t>(s.size()));
    }
    void spin() {
        for (int i = 0; i < 5; i++) {
            loop_.run_once(Duration(5));
        }
    }

    Loop loop_;
    Handler handler_;
    std::unique_ptr<Connection> conn_;
    FakeTransport* fake_ = nullptr;
    int peer_ = -1;
    int shutdowns_ = 0;
};

TEST_F(TransportTest, HandshakeRunsInsideRead) {
    fake_->handshake_script = {TransportStatus::kWantRead, TransportStatus::kWantWrite};
    Buffer in;
    EXPECT_EQ(conn_->read(in, 100), IoStatus::kAgain);  // wants read: waits for the edge
    EXPECT_EQ(conn_->read(in, 100), IoStatus::kAgain);  // not readable yet: no new attempt
    EXPECT_EQ(fake_->handshakes, 1);
    peer_write(xored("GET /"));
    spin();                                             // the read edge
    EXPECT_EQ(conn_->read(in, 100), IoStatus::kAgain);  // wants write now
    EXPECT_EQ(conn_->read(in, 100), IoStatus::kOk);     // done, then the data
    EXPECT_EQ(in.view(), "GET /");
    EXPECT_EQ(fake_->handshakes, 3);
    EXPECT_NE(conn_->transport(), nullptr);
}

TEST_F(TransportTest, OutputWaitsForTheHandshake) {
    fake_->handshake_script = {TransportStatus::kWantRead};
    Buffer in;
    EXPECT_EQ(conn_->read(in, 100), IoStatus::kAgain);
    conn_->send("early");
    EXPECT_TRUE(conn_->output_pending());
    EXPECT_TRUE(fake_->writes.empty());
    peer_write(xored("x"));
    spin();
    EXPECT_EQ(conn_->read(in, 100), IoStatus::kOk);  // handshake done: the output goes first
    EXPECT_FALSE(conn_->output_pending());
    EXPECT_EQ(peer_read(), xored("early"));
}

TEST_F(TransportTest, PlainClientDropsTheTransport) {
    fake_->handshake_script = {TransportStatus::kPlaintext};
    peer_write("GET / HTTP/1.1\r\n");
    Buffer in;
    EXPECT_EQ(conn_->read(in, 100), IoStatus::kOk);
    EXPECT_EQ(in.view(), "GET / HTTP/1.1\r\n");  // not XORed: read as plain bytes
    EXPECT_EQ(conn_->transport(), nullptr);
    conn_->send("HTTP/1.1 400 Bad Request\r\n");
    EXPECT_EQ(peer_read(), "HTTP/1.1 400 Bad Request\r\n");
}

TEST_F(TransportTest, FailedHandshakeIsAnErrorOrEof) {
    fake_->handshake_script = {TransportStatus::kError};
    Buffer in;
    EXPECT_EQ(conn_->read(in, 100), IoStatus::kError);
    fake_->handshake_script = {TransportStatus::kEof};
    EXPECT_EQ(conn_->read(in, 100), IoStatus::kEof);
}

TEST_F(TransportTest, BlockedWriteIsRetriedWithTheSameBytes) {
    Buffer in;
    peer_write(xored("x"));
    ASSERT_EQ(conn_->read(in, 100), IoStatus::kOk);
    fake_->write_script = {TransportStatus::kWantWrite};
    conn_->send("response one");
    EXPECT_TRUE(conn_->output_pending());
    ASSERT_EQ(fake_->writes.size(), 1u);
    loop_.run_once(Duration(5));  // the write edge retries
    ASSERT_EQ(fake_->writes.size(), 2u);
    EXPECT_EQ(fake_->writes[1], "response one");
    EXPECT_FALSE(conn_->output_pending());
    EXPECT_EQ(handler_.drained, 1);
    conn_->send(" and two");
    EXPECT_EQ(peer_read(), xored("response one and two"));
}

TEST_F(TransportTest, FileGoesThroughTheTransportWithTheHead) {
    Buffer in;
    peer_write(xored("x"));
    ASSERT_EQ(conn_->read(in, 100), IoStatus::kOk);
    char path[] = "/tmp/halo-transport-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    unlink(path);
    std::string body(40000, 'b');
    ASSERT_EQ(::write(fd, body.data(), body.size()), static_cast<ssize_t>(body.size()));
    conn_->send("HEAD\r\n", true);  // more follows: held back
    EXPECT_TRUE(fake_->writes.empty());
    conn_->send_file(fd, 0, body.size(), true);  // sendfile asked for, not possible here
    std::string got;
    for (int i = 0; i < 50 && got.size() < 6 + body.size(); i++) {
        spin();
        got += peer_read();
    }
    EXPECT_EQ(got, xored("HEAD\r\n" + body));
    ASSERT_FALSE(fake_->writes.empty());
    EXPECT_EQ(fake_->writes[0].substr(0, 7), "HEAD\r\nb");  // one write: head and body start
    // The whole file (a piece of 64 KiB at most) behind the head: the transport cuts records.
    EXPECT_EQ(fake_->writes[0].size(), 6 + body.size());
}

TEST_F(TransportTest, CloseNotifyOnlyAfterACleanExchange) {
    Buffer in;
    peer_write(xored("x"));
    ASSERT_EQ(conn_->read(in, 100), IoStatus::kOk);
    conn_->send("bye");
    conn_.reset();
    EXPECT_EQ(shutdowns_, 1);
}

TEST_F(TransportTest, NoCloseNotifyBeforeTheHandshake) {
    conn_.reset();
    EXPECT_EQ(shutdowns_, 0);
}

TEST_F(TransportTest, NoCloseNotifyAfterAFailedWrite) {
    Buffer in;
    peer_write(xored("x"));
    ASSERT_EQ(conn_->read(in, 100), IoStatus::kOk);
    fake_->write_script = {TransportStatus::kError};
    conn_->send("lost");
    EXPECT_TRUE(conn_->failed());
    conn_.reset();
    EXPECT_EQ(shutdowns_, 0);
}

}  // namespace
}  // namespace ev
