#pragma once

// A cache file: a fixed binary header, the key, the validators, the Vary field names and the
// stored response head, then the body (docs/cache.md, "The file format"). Files are named by
// the hex MD5 of the key under `levels` directories, as nginx names them.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "modules/cache/cache_zone.h"

namespace mod::cache {

/// The MD5 of `key`.
Md5 md5_of(std::string_view key);
/// 32 lower-case hex digits.
std::string md5_hex(const Md5& md5);
/// The MD5 of a file name of 32 hex digits; nullopt when it is not one.
std::optional<Md5> md5_from_hex(std::string_view name);

/// `levels=1:2`: the widths of the directory levels (1 or 2 each, at most 3 levels).
using Levels = std::vector<int>;
/// Parses "1:2"; nullopt when invalid.
std::optional<Levels> parse_levels(std::string_view text);
/// The relative path of a key's file: "c/29/b7f54b2df7773722d382f4809d65029c" (levels 1:2:
/// the last hex digit, then the two before it, as nginx).
std::string relative_path(const Md5& md5, const Levels& levels);

/// The fixed header at the start of every cache file (host byte order; the loader skips a
/// file with another magic or version).
struct FileHeader {
    static constexpr char kMagic[8] = {'H', 'A', 'L', 'O', 'C', 'F', '0', '1'};
    char magic[8] = {};
    uint32_t header_size = 0;  // bytes before the body (this struct and the texts)
    uint32_t key_len = 0;
    uint32_t etag_len = 0;
    uint32_t vary_len = 0;
    uint32_t head_len = 0;
    uint16_t status = 0;
    uint16_t flags = 0;       // kVaryIndex
    int64_t valid_until = 0;  // unix seconds
    int64_t stored_at = 0;    // unix seconds (Date of the entry)
    int64_t last_modified = -1;
    uint64_t body_len = 0;
};
constexpr uint16_t kVaryIndex = 1;  // no response: names the Vary fields of the key's variants

/// A cache file's header, decoded.
struct Entry {
    FileHeader h;
    std::string key;
    std::string etag;
    std::string vary;  // lower-case field names, comma-separated
    std::string head;  // "HTTP/1.1 200 OK\r\nName: value\r\n...\r\n"
};

/// The bytes of a file's header for `e` (h.header_size and the lengths filled in).
std::string encode_header(Entry& e);
/// Decodes the header at the start of `bytes` (at least header_size bytes); nullopt (with the
/// reason in `why`) when it is not a cache file of this version.
std::optional<Entry> decode_header(std::string_view bytes, std::string* why = nullptr);
/// Reads a file's header from `fd`; nullopt when it is not one.
std::optional<Entry> read_header(int fd, std::string* why = nullptr);
/// Where valid_until lies in the file (a 304 refreshes it in place).
constexpr off_t kValidUntilOffset = offsetof(FileHeader, valid_until);

}  // namespace mod::cache
