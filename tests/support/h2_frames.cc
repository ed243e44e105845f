#include "support/h2_frames.h"

namespace halo_test::h2 {

std::string error_name(uint32_t code) {
    static const char* kNames[] = {"NO_ERROR",
                                   "PROTOCOL_ERROR",
                                   "INTERNAL_ERROR",
                                   "FLOW_CONTROL_ERROR",
                                   "SETTINGS_TIMEOUT",
                                   "STREAM_CLOSED",
                                   "FRAME_SIZE_ERROR",
                                   "REFUSED_STREAM",
                                   "CANCEL",
                                   "COMPRESSION_ERROR",
                                   "CONNECT_ERROR",
                                   "ENHANCE_YOUR_CALM",
                                   "INADEQUATE_SECURITY",
                                   "HTTP_1_1_REQUIRED"};
    return code < 14 ? kNames[code] : "error " + std::to_string(code);
}

std::string be32(uint32_t v) {
    std::string s(4, '\0');
    s[0] = static_cast<char>(v >> 24);
    s[1] = static_cast<char>(v >> 16);
    s[2] = static_cast<char>(v >> 8);
    s[3] = static_cast<char>(v);
    return s;
}

std::string frame_header(uint32_t length, uint8_t type, uint8_t flags, uint32_t stream) {
    std::string h(3, '\0');
    h[0] = static_cast<char>(length >> 16);
    h[1] = static_cast<char>(length >> 8);
    h[2] = static_cast<char>(length);
    h += static_cast<char>(type);
    h += static_cast<char>(flags);
    h += be32(stream);
    return h;
}

std::string encode_frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload) {
    return frame_header(static_cast<uint32_t>(payload.size()), type, flags, stream) +
           std::string(payload);
}

std::string settings_payload(const Settings& settings) {
    std::string p;
    for (const auto& [id, value] : settings) {
        p += static_cast<char>(id >> 8);
        p += static_cast<char>(id);
        p += be32(value);
    }
    return p;
}

std::string hpack_int(uint32_t value, int prefix_bits, uint8_t first) {
    std::string out;
    uint32_t max = (1u << prefix_bits) - 1;
    if (value < max) {
        out += static_cast<char>(first | value);
        return out;
    }
    out += static_cast<char>(first | max);
    value -= max;
    while (value >= 128) {
        out += static_cast<char>((value % 128) + 128);
        value /= 128;
    }
    out += static_cast<char>(value);
    return out;
}

std::string hpack_literal(std::string_view name, std::string_view value) {
    std::string out(1, '\0');
    out += hpack_int(static_cast<uint32_t>(name.size()), 7, 0);
    out += name;
    out += hpack_int(static_cast<uint32_t>(value.size()), 7, 0);
    out += value;
    return out;
}

std::string hpack_indexed(uint32_t index) {
    return hpack_int(index, 7, 0x80);
}

std::string hpack_table_size_update(uint32_t size) {
    return hpack_int(size, 5, 0x20);
}

}  // namespace halo_test::h2
