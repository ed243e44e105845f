// Cache file names and the file header (cache_file.h).

#include "modules/cache/cache_file.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mod::cache {

Md5 md5_of(std::string_view key) {
    Md5 out{};
    unsigned int n = 0;
    EVP_Digest(key.data(), key.size(), out.data(), &n, EVP_md5(), nullptr);
    return out;
}

std::string md5_hex(const Md5& md5) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string s(32, '0');
    for (size_t i = 0; i < md5.size(); i++) {
        s[2 * i] = kHex[md5[i] >> 4];
        s[2 * i + 1] = kHex[md5[i] & 15];
    }
    return s;
}

std::optional<Md5> md5_from_hex(std::string_view name) {
    if (name.size() != 32) {
        return std::nullopt;
    }
    auto digit = [](char c) -> int {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        if (c >= 'a' && c <= 'f') {
            return c - 'a' + 10;
        }
        return -1;
    };
    Md5 out{};
    for (size_t i = 0; i < 16; i++) {
        int hi = digit(name[2 * i]);
        int lo = digit(name[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return std::nullopt;
        }
        out[i] = static_cast<uint8_t>(hi << 4 | lo);
    }
    return out;
}

std::optional<Levels> parse_levels(std::string_view text) {
    Levels out;
    while (!text.empty()) {
        size_t colon = text.find(':');
        std::string_view part = text.substr(0, colon);
        if (part != "1" && part != "2") {
            return std::nullopt;
        }
        out.push_back(part[0] - '0');
        if (colon == std::string_view::npos) {
            break;
        }
        text.remove_prefix(colon + 1);
        if (text.empty()) {
            return std::nullopt;
        }
    }
    if (out.empty() || out.size() > 3) {
        return std::nullopt;
    }
    return out;
}

std::string relative_path(const Md5& md5, const Levels& levels) {
    std::string hex = md5_hex(md5);
    std::string path;
    size_t end = hex.size();
    for (int width : levels) {
        end -= static_cast<size_t>(width);
        path.append(hex, end, static_cast<size_t>(width));
        path += '/';
    }
    path += hex;
    return path;
}

std::string encode_header(Entry& e) {
    FileHeader& h = e.h;
    memcpy(h.magic, FileHeader::kMagic, sizeof h.magic);
    h.key_len = static_cast<uint32_t>(e.key.size());
    h.etag_len = static_cast<uint32_t>(e.etag.size());
    h.vary_len = static_cast<uint32_t>(e.vary.size());
    h.head_len = static_cast<uint32_t>(e.head.size());
    h.header_size = static_cast<uint32_t>(sizeof(FileHeader) + e.key.size() + e.etag.size() +
                                          e.vary.size() + e.head.size());
    std::string out(reinterpret_cast<const char*>(&h), sizeof h);
    out += e.key;
    out += e.etag;
    out += e.vary;
    out += e.head;
    return out;
}

std::optional<Entry> decode_header(std::string_view bytes, std::string* why) {
    auto fail = [why](const char* reason) -> std::optional<Entry> {
        if (why != nullptr) {
            *why = reason;
        }
        return std::nullopt;
    };
    Entry e;
    if (bytes.size() < sizeof(FileHeader)) {
        return fail("too short");
    }
    memcpy(&e.h, bytes.data(), sizeof e.h);
    if (memcmp(e.h.magic, FileHeader::kMagic, sizeof e.h.magic) != 0) {
        return fail("not a cache file of this version");
    }
    uint64_t texts = uint64_t{e.h.key_len} + e.h.etag_len + e.h.vary_len + e.h.head_len;
    if (sizeof(FileHeader) + texts != e.h.header_size) {
        return fail("inconsistent header");
    }
    if (bytes.size() < e.h.header_size) {
        return fail("too short");
    }
    size_t at = sizeof(FileHeader);
    auto take = [&](uint32_t n) {
        std::string s(bytes.substr(at, n));
        at += n;
        return s;
    };
    e.key = take(e.h.key_len);
    e.etag = take(e.h.etag_len);
    e.vary = take(e.h.vary_len);
    e.head = take(e.h.head_len);
    return e;
}

std::optional<Entry> read_header(int fd, std::string* why) {
    std::string buf(4096, '\0');
    ssize_t n;
    do {
        n = ::pread(fd, buf.data(), buf.size(), 0);
    } while (n < 0 && errno == EINTR);
    if (n < static_cast<ssize_t>(sizeof(FileHeader))) {
        if (why != nullptr) {
            *why = "too short";
        }
        return std::nullopt;
    }
    FileHeader h;
    memcpy(&h, buf.data(), sizeof h);
    if (memcmp(h.magic, FileHeader::kMagic, sizeof h.magic) == 0 && h.header_size > buf.size() &&
        h.header_size < (64u << 20)) {
        buf.resize(h.header_size);
        do {
            n = ::pread(fd, buf.data(), buf.size(), 0);
        } while (n < 0 && errno == EINTR);
        if (n < 0) {
            n = 0;
        }
    }
    return decode_header(std::string_view(buf.data(), static_cast<size_t>(n)), why);
}

}  // namespace mod::cache
