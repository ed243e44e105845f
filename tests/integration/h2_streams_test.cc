// HTTP/2 through the real binary, what streams carry: responses from `return`, static files
// and the proxy (a request body to a backend), flow control in both directions (RFC 9113
// §6.9), GOAWAY from the client, RST_STREAM on a stream in flight, DATA on a half-closed
// stream; HTTP/1.1 on the same port and `http2 on` (halo only: nginx 1.22 has neither).
// Each test also runs against Debian's nginx (h2_target.h).
#include <string>

#include "integration/h2_target.h"
#include "support/test_cert.h"

namespace halo_test::h2 {
namespace {

class H2Streams : public H2Test {};

TEST_P(H2Streams, ReturnStaticFileAndProxy) {
    start();
    auto c = connect();
    Response r = c->request(Client::request_headers("/hello"));
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.body, "hello\n");
    r = c->request(Client::request_headers("/a.txt"));
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.body, "static file\n");
    EXPECT_EQ(r.header("content-length"), "12");
    EXPECT_FALSE(r.has("connection"));  // RFC 9113 §8.2.2: never in a response either
    EXPECT_FALSE(r.has("transfer-encoding"));
    r = c->request(Client::request_headers("/missing"));
    EXPECT_EQ(r.status, 404) << r.error;
    // The variables of an h2c request (nginx: $http2 is "h2c" in clear text).
    r = c->request(Client::request_headers("/vars"));
    EXPECT_EQ(r.body, "HTTP/2.0 h2c http\n");
    // More than the initial windows: the client gives the windows back as DATA arrives.
    r = c->request(Client::request_headers("/big.txt"), {}, 10s);
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.body.size(), target_.big().size());
    EXPECT_TRUE(r.body == target_.big());
    // §4.2: no frame above our SETTINGS_MAX_FRAME_SIZE (16384 by default).
    EXPECT_LE(c->stream(r.stream).max_data_frame, kDefaultMaxFrame);
    // A HEAD: headers only, END_STREAM on HEADERS.
    r = c->request(Client::request_headers("/a.txt", "HEAD"));
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.body, "");
    // Proxied, with and without a request body (the backend echoes it).
    r = c->request(Client::request_headers("/proxy/x?y=1"));
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.body, "GET /x?y=1 ");
    std::string body(150000, 'b');  // above the server's initial window: flow control both ways
    r = c->request(Client::request_headers("/proxy/echo", "POST"), body, 10s);
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_TRUE(r.body == "POST /echo " + body) << r.body.size();
    std::vector<BackendRequest> seen = target_.backend().seen();
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.back().headers["host"], "127.0.0.1:" + std::to_string(target_.backend().port()));
}

TEST_P(H2Streams, ManyStreamsOnOneConnection) {
    start();
    auto c = connect();
    std::vector<uint32_t> ids;
    for (int i = 0; i < 20; i++) {
        uint32_t id = c->next_stream();
        ASSERT_TRUE(c->send_headers(
            id, Client::request_headers(i % 2 ? "/a.txt" : "/proxy/s" + std::to_string(i)), true));
        ids.push_back(id);
    }
    for (size_t i = 0; i < ids.size(); i++) {
        Response r = c->read_response(ids[i]);
        EXPECT_EQ(r.status, 200) << r.error;
        EXPECT_EQ(r.body, i % 2 ? "static file\n" : "GET /s" + std::to_string(i) + " ");
    }
}

TEST_P(H2Streams, ResponseWaitsForTheWindow) {
    start();
    auto c = connect();
    c->set_auto_window(false);
    uint32_t id = c->next_stream();
    ASSERT_TRUE(c->send_headers(id, Client::request_headers("/big.txt"), true));
    // RFC 9113 §6.9.1: the server sends no more than the window (65535) allows.
    EXPECT_TRUE(wait_until([&] {
        c->read_frame(100ms);
        return c->stream(id).body.size() >= kInitialWindow;
    }));
    while (c->read_frame(300ms)) {
    }
    EXPECT_EQ(c->stream(id).body.size(), kInitialWindow);
    EXPECT_FALSE(c->stream(id).ended);
    // Opening both windows lets the rest through.
    ASSERT_TRUE(c->send_window_update(0, 1u << 20));
    ASSERT_TRUE(c->send_window_update(id, 1u << 20));
    Response r = c->read_response(id, 10s);
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_TRUE(r.body == target_.big()) << r.body.size();
}

TEST_P(H2Streams, InitialWindowSizeFromOurSettings) {
    start();
    auto c = connect({{kInitialWindowSize, 1000}});
    c->set_auto_window(false);
    uint32_t id = c->next_stream();
    ASSERT_TRUE(c->send_headers(id, Client::request_headers("/big.txt"), true));
    EXPECT_TRUE(wait_until([&] {
        c->read_frame(100ms);
        return c->stream(id).body.size() >= 1000;
    }));
    while (c->read_frame(300ms)) {
    }
    EXPECT_EQ(c->stream(id).body.size(), 1000u);
    // §6.9.2: a new SETTINGS_INITIAL_WINDOW_SIZE adjusts the open streams' windows by the
    // difference: 2000 more bytes may come.
    ASSERT_TRUE(c->send_settings({{kInitialWindowSize, 3000}}));
    EXPECT_TRUE(wait_until([&] {
        c->read_frame(100ms);
        return c->stream(id).body.size() >= 3000;
    }));
    while (c->read_frame(300ms)) {
    }
    EXPECT_EQ(c->stream(id).body.size(), 3000u);
    ASSERT_TRUE(c->send_window_update(0, 1u << 20));
    ASSERT_TRUE(c->send_window_update(id, 1u << 20));
    Response r = c->read_response(id, 10s);
    EXPECT_TRUE(r.body == target_.big()) << r.body.size() << " " << r.error;
}

TEST_P(H2Streams, ResetStreamInFlightLeavesTheConnectionUsable) {
    start();
    auto c = connect();
    c->set_auto_window(false);
    uint32_t id = c->next_stream();
    ASSERT_TRUE(c->send_headers(id, Client::request_headers("/big.txt"), true));
    ASSERT_TRUE(c->wait_frame(kData, 5s, id).has_value()) << c->trace();
    ASSERT_TRUE(c->send_rst(id, kCancel));
    // Frames already in flight may still come; the stream ends there (§6.4), and the
    // connection, its window given back, serves the next stream.
    ASSERT_TRUE(c->send_window_update(0, 1u << 20));
    c->set_auto_window(true);
    Response r = c->request(Client::request_headers("/hello"));
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.body, "hello\n");
    EXPECT_FALSE(c->stream(id).ended);
    EXPECT_LT(c->stream(id).body.size(), target_.big().size());
    EXPECT_FALSE(c->goaway().has_value()) << c->trace();
}

TEST_P(H2Streams, DataOnAHalfClosedStreamIsStreamClosed) {
    start();
    auto c = connect({{kInitialWindowSize, 0}});  // the response waits: the stream stays open
    uint32_t id = c->next_stream();
    ASSERT_TRUE(c->send_headers(id, Client::request_headers("/big.txt"), true));
    ASSERT_TRUE(c->wait_frame(kHeaders, 5s, id).has_value()) << c->trace();
    // RFC 9113 §5.1, half-closed (remote): DATA is a stream error STREAM_CLOSED (§5.4.1 lets
    // it be a connection error).
    ASSERT_TRUE(c->send_frame(kData, kFlagEndStream, id, "late"));
    std::optional<uint32_t> rst = c->wait_rst(id);
    if (rst) {
        EXPECT_EQ(error_name(*rst), error_name(kStreamClosed));
    } else {
        ASSERT_TRUE(c->goaway().has_value()) << c->trace();
        EXPECT_EQ(error_name(c->goaway()->error), error_name(kStreamClosed));
    }
}

TEST_P(H2Streams, GoawayFromTheClient) {
    start();
    auto c = connect();
    uint32_t id = c->next_stream();
    ASSERT_TRUE(c->send_headers(id, Client::request_headers("/big.txt"), true));
    // RFC 9113 §6.8: the client's GOAWAY is about streams the server would start (none):
    // the stream in flight completes.
    ASSERT_TRUE(c->send_goaway(0, kNoError));
    Response r = c->read_response(id, 10s);
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_TRUE(r.body == target_.big()) << r.body.size();
    if (c->goaway()) {
        EXPECT_EQ(error_name(c->goaway()->error), error_name(kNoError));
    }
}

TEST_P(H2Streams, Http11AndHttp2OnOnePort) {
    if (GetParam() == Server::kNginx) {
        GTEST_SKIP() << "nginx 1.22's `listen ... http2` on a plain port speaks only h2c";
    }
    start({}, {}, true);
    auto c = connect();
    Response r = c->request(Client::request_headers("/hello"));
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(get_body(target_.port(), "/hello"), "hello\n");
    EXPECT_EQ(get_body(target_.port(), "/vars"), "HTTP/1.1  http\n");
    // `http2 on` (nginx >= 1.25.1): both on the second server's port too.
    EXPECT_EQ(get_body(target_.port2(), "/hello"), "second\n");
    Client c2;
    ASSERT_TRUE(c2.connect(target_.port2()));
    ASSERT_TRUE(c2.handshake()) << c2.error();
    r = c2.request(Client::request_headers("/hello"));
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.body, "second\n");
}

TEST_P(H2Streams, AccessLogLine) {
    start("    log_format h2 '$request $status $body_bytes_sent $http2';\n",
          "        access_log logs/h2.log h2;\n");
    auto c = connect();
    EXPECT_EQ(c->request(Client::request_headers("/hello?a=1")).status, 200);
    EXPECT_EQ(c->request(Client::request_headers("/proxy/p", "POST"), "body").status, 200);
    std::string log;
    EXPECT_TRUE(wait_until([&] {
        log = read_file(target_.prefix() + "/logs/h2.log").value_or("");
        return log.find("POST") != std::string::npos;
    }));
    EXPECT_EQ(log, "GET /hello?a=1 HTTP/2.0 200 6 h2c\nPOST /proxy/p HTTP/2.0 200 12 h2c\n");
}

TEST_P(H2Streams, ChunkSizeAndBodyPrereadSize) {
    start({}, "        http2_chunk_size 1k;\n        http2_body_preread_size 1k;\n");
    auto c = connect();
    // http2_body_preread_size: the stream window the server gives request bodies.
    EXPECT_EQ(c->server_setting(kInitialWindowSize), 1024u);
    // http2_chunk_size: the largest DATA frame of a response.
    Response r = c->request(Client::request_headers("/big.txt"), {}, 10s);
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_TRUE(r.body == target_.big()) << r.body.size();
    EXPECT_LE(c->stream(r.stream).max_data_frame, 1024u);
    EXPECT_GE(c->stream(r.stream).data_frames, target_.big().size() / 1024);
    // A body above the preread size goes through as the server opens the window.
    std::string body(100000, 'p');
    r = c->request(Client::request_headers("/proxy/preread", "POST"), body, 10s);
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_TRUE(r.body == "POST /preread " + body) << r.body.size();
}

TEST_P(H2Streams, TlsWithAlpn) {
    // `listen ... ssl http2`: h2 when ALPN offers it, HTTP/1.1 otherwise.
    TempDir certs;
    ASSERT_TRUE(make_certificate("localhost", certs / "c.crt", certs / "c.key"));
    start({},
          "        ssl_certificate " + (certs / "c.crt") + ";\n        ssl_certificate_key " +
              (certs / "c.key") + ";\n",
          false, "ssl http2");
    Client c;
    ASSERT_TRUE(c.connect_tls(target_.port(), {"h2", "http/1.1"})) << c.error();
    EXPECT_EQ(c.alpn(), "h2");
    ASSERT_TRUE(c.handshake()) << c.error();
    Response r = c.request(Client::request_headers("/hello"));
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.body, "hello\n");
    r = c.request(Client::request_headers("/big.txt"), {}, 10s);
    EXPECT_TRUE(r.body == target_.big()) << r.body.size() << " " << r.error;
    HeaderList https = Client::request_headers("/vars");
    https[1].second = "https";
    r = c.request(https);
    EXPECT_EQ(r.body, "HTTP/2.0 h2 https\n");
    Client h1;
    EXPECT_FALSE(h1.connect_tls(target_.port(), {"http/1.1"}));
    EXPECT_EQ(h1.alpn(), "http/1.1");
}

INSTANTIATE_TEST_SUITE_P(Servers, H2Streams, ::testing::Values(Server::kHalo, Server::kNginx),
                         server_name);

}  // namespace
}  // namespace halo_test::h2
