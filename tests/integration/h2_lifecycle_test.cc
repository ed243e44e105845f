// HTTP/2 connections over their life, through the real binary: keepalive_requests and
// keepalive_timeout applied to h2 connections (GOAWAY NO_ERROR, as nginx), the last stream id
// a GOAWAY names, and the graceful GOAWAY of a reload and of a graceful stop (the streams in
// flight finish in full). Each test also runs against Debian's nginx (h2_target.h).
#include <signal.h>

#include <string>

#include "integration/h2_target.h"

namespace halo_test::h2 {
namespace {

class H2Lifecycle : public H2Test {};

TEST_P(H2Lifecycle, KeepaliveRequestsEndsTheConnectionGracefully) {
    start({}, "        keepalive_requests 5;\n");
    auto c = connect();
    for (int i = 0; i < 5; i++) {
        Response r = c->request(Client::request_headers("/hello"));
        EXPECT_EQ(r.status, 200) << i << ": " << r.error;
    }
    // After the 5th stream: GOAWAY NO_ERROR naming it (stream 9), then the close.
    std::optional<GoawayInfo> g = c->wait_goaway();
    ASSERT_TRUE(g.has_value()) << c->trace();
    EXPECT_EQ(error_name(g->error), error_name(kNoError));
    EXPECT_EQ(g->last_stream, 9u);
    EXPECT_TRUE(c->connection_closed(10s));
}

TEST_P(H2Lifecycle, KeepaliveTimeoutClosesAnIdleConnection) {
    start({}, "        keepalive_timeout 1s;\n");
    auto c = connect();
    Response r = c->request(Client::request_headers("/hello"));
    EXPECT_EQ(r.status, 200) << r.error;
    // Idle for keepalive_timeout: GOAWAY NO_ERROR, then the close (nginx).
    EXPECT_TRUE(c->connection_closed(10s)) << c->trace();
    ASSERT_TRUE(c->goaway().has_value()) << c->trace();
    EXPECT_EQ(error_name(c->goaway()->error), error_name(kNoError));
    EXPECT_EQ(c->goaway()->last_stream, 1u);
}

TEST_P(H2Lifecycle, GoawayNamesTheLastStreamProcessed) {
    start();
    auto c = connect();
    EXPECT_EQ(c->request(Client::request_headers("/hello")).status, 200);
    EXPECT_EQ(c->request(Client::request_headers("/hello")).status, 200);
    // A connection error after streams 1 and 3 (RFC 9113 §6.8: the last stream id is the
    // highest the server may have acted on).
    ASSERT_TRUE(c->send_frame(kPing, 0, 3, "12345678"));
    std::optional<GoawayInfo> g = c->wait_goaway();
    ASSERT_TRUE(g.has_value()) << c->trace();
    EXPECT_EQ(error_name(g->error), error_name(kProtocolError));
    EXPECT_EQ(g->last_stream, 3u);
}

/// A response held by flow control (INITIAL_WINDOW_SIZE 0) while the master gets `signo`:
/// the connection gets a GOAWAY NO_ERROR that keeps the stream, and the response, let
/// through afterwards, arrives in full.
void graceful(H2Target& t, int signo) {
    Client c;
    ASSERT_TRUE(c.connect(t.port()));
    ASSERT_TRUE(c.handshake({{kInitialWindowSize, 0}})) << c.error();
    c.set_auto_window(false);
    uint32_t id = c.next_stream();
    ASSERT_TRUE(c.send_headers(id, Client::request_headers("/big.txt"), true));
    ASSERT_TRUE(c.wait_frame(kHeaders, 5s, id).has_value()) << c.trace();
    ASSERT_TRUE(t.signal_master(signo));
    std::optional<GoawayInfo> g = c.wait_goaway(10s);
    ASSERT_TRUE(g.has_value()) << c.trace();
    EXPECT_EQ(error_name(g->error), error_name(kNoError));
    EXPECT_GE(g->last_stream, id);
    ASSERT_TRUE(c.send_window_update(0, 1u << 30));
    ASSERT_TRUE(c.send_window_update(id, 1u << 30));
    Response r = c.read_response(id, 10s);
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_TRUE(r.body == t.big()) << r.body.size() << " " << r.error;
    EXPECT_TRUE(c.connection_closed(10s)) << c.trace();
}

TEST_P(H2Lifecycle, ReloadSendsGracefulGoaway) {
    start();
    graceful(target_, SIGHUP);
    // The new workers answer.
    auto c = connect();
    EXPECT_EQ(c->request(Client::request_headers("/hello")).status, 200);
}

TEST_P(H2Lifecycle, GracefulStopLetsStreamsFinish) {
    start();
    graceful(target_, SIGQUIT);
}

INSTANTIATE_TEST_SUITE_P(Servers, H2Lifecycle, ::testing::Values(Server::kHalo, Server::kNginx),
                         server_name);

}  // namespace
}  // namespace halo_test::h2
