#include "http/basic_auth.h"

#include <array>
#include <cstdint>

#include "http/http.h"

namespace http {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<int8_t, 256> kDecode = [] {
    std::array<int8_t, 256> t{};
    for (auto& v : t) {
        v = -1;
    }
    for (size_t i = 0; i < kAlphabet.size(); i++) {
        t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
    }
    return t;
}();

bool iequal_prefix(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) {
        return false;
    }
    for (size_t i = 0; i < prefix.size(); i++) {
        char c = s[i];
        c = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
        if (c != prefix[i]) {
            return false;
        }
    }
    return true;
}

}  // namespace

std::optional<std::string> decode_base64(std::string_view in) {
    size_t len = 0;
    while (len < in.size() && in[len] != '=') {
        if (kDecode[static_cast<unsigned char>(in[len])] < 0) {
            return std::nullopt;
        }
        len++;
    }
    if (len % 4 == 1) {
        return std::nullopt;
    }
    std::string out;
    out.reserve(len / 4 * 3 + 2);
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 6) | static_cast<uint32_t>(kDecode[static_cast<unsigned char>(in[i])]);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xff));
        }
    }
    return out;
}

std::string encode_base64(std::string_view in) {
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        uint32_t v = static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << 16 |
                     static_cast<uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8 |
                     static_cast<unsigned char>(in[i + 2]);
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
        out += kAlphabet[v & 63];
    }
    if (i < in.size()) {
        uint32_t v = static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << 16;
        if (i + 1 < in.size()) {
            v |= static_cast<uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8;
        }
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

std::optional<BasicCredentials> parse_basic_authorization(std::string_view value) {
    constexpr std::string_view kScheme = "basic ";
    if (!iequal_prefix(value, kScheme)) {
        return std::nullopt;
    }
    value.remove_prefix(kScheme.size());
    while (!value.empty() && value.front() == ' ') {
        value.remove_prefix(1);
    }
    if (value.empty()) {
        return std::nullopt;
    }
    std::optional<std::string> decoded = decode_base64(value);
    if (!decoded) {
        return std::nullopt;
    }
    size_t colon = decoded->find(':');
    if (colon == 0 || colon == std::string::npos) {
        return std::nullopt;
    }
    return BasicCredentials{decoded->substr(0, colon), decoded->substr(colon + 1)};
}

std::optional<BasicCredentials> basic_credentials(const Request& r) {
    const Header* h = r.find_header("Authorization");
    if (h == nullptr) {
        return std::nullopt;
    }
    return parse_basic_authorization(h->value);
}

}  // namespace http
