// A new connection's first read: the request that is already in the socket when the worker
// accepts is read at once (the worker stopped while the client connects and sends makes sure
// of it), and a request that comes after the accept is waited for. Either way every request is
// answered as before: pipelined ones, a keep-alive connection's next request, a client that
// half-closes after its request, a silent client (client_header_timeout).
#include <sys/socket.h>

#include <csignal>

#include "support/harness.h"

namespace halo_test {
namespace {

class FirstReadTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_rewrite")) {
            GTEST_SKIP() << "the http_rewrite module is not compiled in";
        }
        halo_.write_conf(R"(daemon off;
worker_processes 1;
error_log logs/error.log info;
events { worker_connections 64; }
http {
    access_log off;
    client_header_timeout 1s;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { return 200 "uri $uri\n"; }
    }
}
)");
        ASSERT_TRUE(halo_.start());
        auto workers = halo_.wait_workers(1);
        ASSERT_EQ(workers.size(), 1u);
        worker_ = workers[0];
    }

    void TearDown() override {
        if (worker_ > 0) {
            kill(worker_, SIGCONT);
        }
    }

    /// Connects and sends `data` while the worker is stopped: the worker finds the request in
    /// the socket when it accepts the connection.
    void send_before_accept(HttpConnection& c, std::string_view data, bool half_close = false) {
        ASSERT_EQ(kill(worker_, SIGSTOP), 0);
        bool connected = c.connect(halo_.port(0));
        bool sent = connected && c.send(data);
        if (half_close && sent) {
            ::shutdown(c.fd(), SHUT_WR);
        }
        ASSERT_EQ(kill(worker_, SIGCONT), 0);
        ASSERT_TRUE(connected) << c.error();
        ASSERT_TRUE(sent) << c.error();
    }

    /// Connects and waits until the worker holds the connection (nothing sent yet).
    void connect_accepted(HttpConnection& c) {
        ASSERT_TRUE(c.connect(halo_.port(0))) << c.error();
        ASSERT_TRUE(wait_until([&] {
            return established_connections(worker_, halo_.port(0)) == 1;
        })) << "the worker did not accept the connection";
    }

    static void expect_answer(HttpConnection& c, std::string_view uri) {
        auto r = c.read_response(10s);
        ASSERT_TRUE(r.has_value()) << c.error();
        EXPECT_EQ(r->status, 200);
        EXPECT_EQ(r->body, "uri " + std::string(uri) + "\n");
    }

    Halo halo_;
    pid_t worker_ = -1;
};

TEST_F(FirstReadTest, RequestWaitingAtAcceptIsAnsweredAndTheConnectionClosed) {
    HttpConnection c;
    send_before_accept(c, get_request("/close"));
    expect_answer(c, "/close");
    EXPECT_TRUE(c.wait_closed(10s));
}

TEST_F(FirstReadTest, KeepaliveConnectionAnsweredAtAcceptServesItsNextRequest) {
    HttpConnection c;
    send_before_accept(c, get_request("/first", "localhost", true));
    expect_answer(c, "/first");
    // The connection was answered before it was registered with the event loop: the next
    // request comes through the loop.
    ASSERT_TRUE(c.send(get_request("/second", "localhost", true)));
    expect_answer(c, "/second");
    ASSERT_TRUE(c.send(get_request("/third")));
    expect_answer(c, "/third");
    EXPECT_TRUE(c.wait_closed(10s));
}

TEST_F(FirstReadTest, PipelinedRequestsWaitingAtAcceptAreAllAnswered) {
    HttpConnection c;
    send_before_accept(c, get_request("/a", "localhost", true) +
                              get_request("/b", "localhost", true) + get_request("/c"));
    expect_answer(c, "/a");
    expect_answer(c, "/b");
    expect_answer(c, "/c");
    EXPECT_TRUE(c.wait_closed(10s));
}

TEST_F(FirstReadTest, ClientThatHalfClosesAfterItsRequestGetsTheResponse) {
    HttpConnection c;
    send_before_accept(c, get_request("/half", "localhost", true), true);
    expect_answer(c, "/half");
    EXPECT_TRUE(c.wait_closed(10s));  // its EOF ends the keep-alive connection
}

TEST_F(FirstReadTest, HeadInTwoPiecesWaitingAtAcceptIsAnswered) {
    HttpConnection c;
    send_before_accept(c, "GET /split HTTP/1.1\r\nHost: local");
    ASSERT_TRUE(c.send("host\r\nConnection: close\r\n\r\n"));
    expect_answer(c, "/split");
}

TEST_F(FirstReadTest, RequestSentAfterTheAcceptIsAnswered) {
    HttpConnection c;
    connect_accepted(c);
    ASSERT_TRUE(c.send(get_request("/later", "localhost", true)));
    expect_answer(c, "/later");
    ASSERT_TRUE(c.send(get_request("/again")));
    expect_answer(c, "/again");
    EXPECT_TRUE(c.wait_closed(10s));
}

TEST_F(FirstReadTest, SilentClientIsClosedAfterClientHeaderTimeout) {
    HttpConnection c;
    connect_accepted(c);
    EXPECT_TRUE(c.wait_closed(10s));
    EXPECT_TRUE(c.unread().empty());  // closed without a response, as nginx
}

TEST_F(FirstReadTest, ClientGoneBeforeTheAcceptLeavesTheWorkerServing) {
    {
        HttpConnection c;
        send_before_accept(c, "", true);  // connects and half-closes, nothing sent
        EXPECT_TRUE(c.wait_closed(10s));
    }
    EXPECT_EQ(halo_.get_body("/next"), "uri /next\n");
    EXPECT_TRUE(wait_until([&] { return established_connections(worker_, halo_.port(0)) == 0; }));
}

}  // namespace
}  // namespace halo_test
