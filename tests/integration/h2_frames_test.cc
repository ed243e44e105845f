// HTTP/2 frame details a server must handle, through the real binary: padding on HEADERS and
// DATA (RFC 9113 §6.1, §6.2), the PRIORITY flag and PRIORITY frames (§5.3, §6.3), frame types
// and flags it does not know (§4.1, §5.5), and cookie crumbs joined again for HTTP/1.1
// (§8.2.3). Each test also runs against Debian's nginx (h2_target.h).
#include <string>

#include "integration/h2_target.h"

namespace halo_test::h2 {
namespace {

class H2Frames : public H2Test {};

/// `payload` with a pad length byte in front and `pad` zero bytes behind (§6.1).
std::string padded(std::string_view payload, uint8_t pad) {
    return std::string(1, static_cast<char>(pad)) + std::string(payload) + std::string(pad, '\0');
}

TEST_P(H2Frames, PaddingIsStripped) {
    start();
    auto c = connect();
    uint32_t id = c->next_stream();
    std::string block = c->encode(Client::request_headers("/proxy/pad", "POST"));
    ASSERT_TRUE(c->send_frame(kHeaders, kFlagEndHeaders | kFlagPadded, id, padded(block, 17)));
    ASSERT_TRUE(c->send_frame(kData, kFlagPadded, id, padded("first,", 40)));
    ASSERT_TRUE(c->send_frame(kData, kFlagPadded | kFlagEndStream, id, padded("second", 0)));
    Response r = c->read_response(id);
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.body, "POST /pad first,second");
}

TEST_P(H2Frames, PaddingLongerThanThePayloadIsAProtocolError) {
    start();
    {
        // §6.2: padding that reaches past the frame.
        auto c = connect();
        std::string block = c->encode(Client::request_headers("/hello"));
        std::string bad = std::string(1, static_cast<char>(block.size() + 5)) + block;
        ASSERT_TRUE(
            c->send_frame(kHeaders, kFlagEndHeaders | kFlagEndStream | kFlagPadded, 1, bad));
        std::optional<GoawayInfo> g = c->wait_goaway();
        ASSERT_TRUE(g.has_value()) << c->trace();
        EXPECT_EQ(error_name(g->error), error_name(kProtocolError));
    }
    {
        // §6.1: the same on DATA.
        auto c = connect();
        uint32_t id = c->next_stream();
        ASSERT_TRUE(c->send_headers(id, Client::request_headers("/proxy/x", "POST"), false));
        ASSERT_TRUE(
            c->send_frame(kData, kFlagPadded | kFlagEndStream, id, std::string(1, '\x09') + "abc"));
        std::optional<GoawayInfo> g = c->wait_goaway();
        ASSERT_TRUE(g.has_value()) << c->trace();
        EXPECT_EQ(error_name(g->error), error_name(kProtocolError));
    }
}

TEST_P(H2Frames, PriorityFlagAndPriorityFrames) {
    start();
    auto c = connect();
    // HEADERS with the PRIORITY flag: 5 bytes of dependency and weight before the block.
    uint32_t id = c->next_stream();
    std::string block = c->encode(Client::request_headers("/hello"));
    ASSERT_TRUE(c->send_frame(kHeaders, kFlagEndHeaders | kFlagEndStream | kFlagPriority, id,
                              be32(0) + "\x20" + block));
    Response r = c->read_response(id);
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.body, "hello\n");
    // PRIORITY on idle and closed streams is allowed (§5.1, §6.3).
    ASSERT_TRUE(c->send_priority(101, 0, 16));
    ASSERT_TRUE(c->send_priority(id, 0, 16));
    r = c->request(Client::request_headers("/hello"));
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_FALSE(c->goaway().has_value()) << c->trace();
    // §6.3: a PRIORITY frame other than 5 bytes is a stream error FRAME_SIZE_ERROR.
    ASSERT_TRUE(c->send_frame(kPriority, 0, 201, "\x00\x00\x00"));
    std::optional<uint32_t> rst = c->wait_rst(201);
    if (rst) {
        EXPECT_EQ(error_name(*rst), error_name(kFrameSizeError));
    } else {
        ASSERT_TRUE(c->goaway().has_value()) << c->trace();
        EXPECT_EQ(error_name(c->goaway()->error), error_name(kFrameSizeError));
    }
}

TEST_P(H2Frames, StreamDependingOnItselfIsAStreamError) {
    start();
    auto c = connect();
    // §5.3.1: a stream cannot depend on itself (stream error PROTOCOL_ERROR).
    uint32_t id = c->next_stream();
    std::string block = c->encode(Client::request_headers("/hello"));
    ASSERT_TRUE(c->send_frame(kHeaders, kFlagEndHeaders | kFlagEndStream | kFlagPriority, id,
                              be32(id) + "\x20" + block));
    std::optional<uint32_t> rst = c->wait_rst(id);
    if (rst) {
        EXPECT_EQ(error_name(*rst), error_name(kProtocolError));
    } else {
        ASSERT_TRUE(c->goaway().has_value()) << c->trace();
        EXPECT_EQ(error_name(c->goaway()->error), error_name(kProtocolError));
    }
}

TEST_P(H2Frames, UnknownFrameTypesAndFlagsAreIgnored) {
    start();
    auto c = connect();
    // §4.1 and §5.5: unknown types are discarded, unknown flags ignored.
    ASSERT_TRUE(c->send_frame(0xfa, 0xff, 0, "whatever"));
    ASSERT_TRUE(c->send_frame(0xfb, 0, 1, "on an idle stream"));
    ASSERT_TRUE(c->send_frame(kPing, 0xfe, 0, "flagsflg"));  // 0xfe: ACK bit clear
    std::optional<Frame> pong = c->wait_frame(kPing);
    ASSERT_TRUE(pong.has_value()) << c->trace();
    EXPECT_EQ(pong->payload, "flagsflg");
    uint32_t id = c->next_stream();
    ASSERT_TRUE(c->send_header_block(id, c->encode(Client::request_headers("/hello")), true));
    Response r = c->read_response(id);
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_FALSE(c->goaway().has_value()) << c->trace();
}

TEST_P(H2Frames, CookieCrumbsAreJoinedForHttp11) {
    start();
    auto c = connect();
    // §8.2.3: several cookie fields become one "; "-separated header on HTTP/1.1.
    Response r = c->request(Client::request_headers(
        "/proxy/cookies", "GET", {{"cookie", "a=1"}, {"x-other", "o"}, {"cookie", "b=2"}}));
    EXPECT_EQ(r.status, 200) << r.error;
    std::vector<BackendRequest> seen = target_.backend().seen();
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.back().headers["cookie"], "a=1; b=2");
    EXPECT_EQ(seen.back().headers["x-other"], "o");
}

INSTANTIATE_TEST_SUITE_P(Servers, H2Frames, ::testing::Values(Server::kHalo, Server::kNginx),
                         server_name);

}  // namespace
}  // namespace halo_test::h2
