#pragma once

// HTTP/2 on the wire, for tests: the constants of RFC 9113 (frame types, flags, error codes,
// settings) and RFC 7541, and the bytes of frames and of raw HPACK representations, built by
// hand so that a test can send what no conforming encoder would. The client that uses them:
// support/h2_client.h.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace halo_test::h2 {

using Millis = std::chrono::milliseconds;
using namespace std::chrono_literals;

// RFC 9113 §6: frame types.
enum FrameType : uint8_t {
    kData = 0x0,
    kHeaders = 0x1,
    kPriority = 0x2,
    kRstStream = 0x3,
    kSettings = 0x4,
    kPushPromise = 0x5,
    kPing = 0x6,
    kGoaway = 0x7,
    kWindowUpdate = 0x8,
    kContinuation = 0x9,
};

// RFC 9113 §6: frame flags.
constexpr uint8_t kFlagEndStream = 0x1;
constexpr uint8_t kFlagAck = 0x1;
constexpr uint8_t kFlagEndHeaders = 0x4;
constexpr uint8_t kFlagPadded = 0x8;
constexpr uint8_t kFlagPriority = 0x20;

// RFC 9113 §7: error codes.
enum ErrorCode : uint32_t {
    kNoError = 0x0,
    kProtocolError = 0x1,
    kInternalError = 0x2,
    kFlowControlError = 0x3,
    kSettingsTimeout = 0x4,
    kStreamClosed = 0x5,
    kFrameSizeError = 0x6,
    kRefusedStream = 0x7,
    kCancel = 0x8,
    kCompressionError = 0x9,
    kConnectError = 0xa,
    kEnhanceYourCalm = 0xb,
    kInadequateSecurity = 0xc,
    kHttp11Required = 0xd,
};
/// "PROTOCOL_ERROR", ... (or the number) for test messages.
std::string error_name(uint32_t code);

// RFC 9113 §6.5.2: setting identifiers.
enum SettingId : uint16_t {
    kHeaderTableSize = 0x1,
    kEnablePush = 0x2,
    kMaxConcurrentStreams = 0x3,
    kInitialWindowSize = 0x4,
    kMaxFrameSize = 0x5,
    kMaxHeaderListSize = 0x6,
};

// RFC 9113 §3.4: the client connection preface.
constexpr std::string_view kClientMagic = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
// RFC 9113 §6.9.2: the initial flow-control window.
constexpr uint32_t kInitialWindow = 65535;
// RFC 9113 §4.2: the smallest (and initial) SETTINGS_MAX_FRAME_SIZE.
constexpr uint32_t kDefaultMaxFrame = 16384;

using HeaderList = std::vector<std::pair<std::string, std::string>>;
using Settings = std::vector<std::pair<uint16_t, uint32_t>>;

struct Frame {
    uint8_t type = 0;
    uint8_t flags = 0;
    uint32_t stream = 0;
    std::string payload;
};

/// The 9-byte header and the payload of one frame (length taken from payload.size(); the
/// reserved bit of the stream id is sent as given, so tests can set it).
std::string encode_frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload);
/// A frame header that announces `length` bytes without the payload (for wrong sizes).
std::string frame_header(uint32_t length, uint8_t type, uint8_t flags, uint32_t stream);
/// The payload of a SETTINGS frame.
std::string settings_payload(const Settings& settings);
/// Big-endian 32-bit integer.
std::string be32(uint32_t v);

// RFC 7541 §5.1 and §6: raw HPACK pieces, for blocks the deflater would never produce.
/// An integer with an N-bit prefix; `first` holds the representation's high bits.
std::string hpack_int(uint32_t value, int prefix_bits, uint8_t first);
/// A literal header field without indexing, new name (§6.2.2), no Huffman coding: adds
/// nothing to the dynamic table, so it keeps the connection's deflater in step.
std::string hpack_literal(std::string_view name, std::string_view value);
/// An indexed header field (§6.1).
std::string hpack_indexed(uint32_t index);
/// A dynamic table size update (§6.3).
std::string hpack_table_size_update(uint32_t size);

}  // namespace halo_test::h2
