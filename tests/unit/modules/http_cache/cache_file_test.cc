// Cache file names (nginx's: the hex MD5 of the key under levels made of its last digits) and
// the file header: encode/decode round trip, a foreign or truncated file refused.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <cstring>

#include <string>

#include "modules/cache/cache_file.h"

namespace mod::cache {
namespace {

TEST(CacheFileTest, NamesAsNginx) {
    // nginx's documented example: levels=1:2 puts b7f54b2df7773722d382f4809d65029c under c/29.
    auto md5 = md5_from_hex("b7f54b2df7773722d382f4809d65029c");
    ASSERT_TRUE(md5);
    EXPECT_EQ(relative_path(*md5, {1, 2}), "c/29/b7f54b2df7773722d382f4809d65029c");
    EXPECT_EQ(relative_path(*md5, {2}), "9c/b7f54b2df7773722d382f4809d65029c");
    EXPECT_EQ(relative_path(*md5, {}), "b7f54b2df7773722d382f4809d65029c");
    EXPECT_EQ(md5_hex(md5_of("")), "d41d8cd98f00b204e9800998ecf8427e");
    EXPECT_EQ(md5_hex(md5_of("httplocalhost/a")), "1ec27fa9e5e42601ce6739ab6f80bda6");
}

TEST(CacheFileTest, LevelsParse) {
    EXPECT_EQ(parse_levels("1:2"), (Levels{1, 2}));
    EXPECT_EQ(parse_levels("2"), (Levels{2}));
    EXPECT_EQ(parse_levels("1:2:2"), (Levels{1, 2, 2}));
    EXPECT_FALSE(parse_levels("3"));
    EXPECT_FALSE(parse_levels("1:2:2:1"));
    EXPECT_FALSE(parse_levels("1:"));
    EXPECT_FALSE(parse_levels(""));
    EXPECT_FALSE(md5_from_hex("b7f54b2df7773722d382f4809d65029"));
    EXPECT_FALSE(md5_from_hex("b7f54b2df7773722d382f4809d65029C"));
}

TEST(CacheFileTest, HeaderRoundTrip) {
    Entry e;
    e.key = "httpbackend/page";
    e.etag = "\"abc\"";
    e.vary = "accept-encoding";
    e.head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n";
    e.h.status = 200;
    e.h.valid_until = 1234567890;
    e.h.stored_at = 1234567000;
    e.h.last_modified = 1234000000;
    e.h.body_len = 5;
    std::string bytes = encode_header(e) + "hello";
    EXPECT_EQ(e.h.header_size, bytes.size() - 5);
    std::string why;
    auto d = decode_header(bytes, &why);
    ASSERT_TRUE(d) << why;
    EXPECT_EQ(d->key, e.key);
    EXPECT_EQ(d->etag, e.etag);
    EXPECT_EQ(d->vary, e.vary);
    EXPECT_EQ(d->head, e.head);
    EXPECT_EQ(d->h.status, 200);
    EXPECT_EQ(d->h.valid_until, 1234567890);
    EXPECT_EQ(d->h.last_modified, 1234000000);
    EXPECT_EQ(d->h.body_len, 5u);
    EXPECT_EQ(bytes.substr(d->h.header_size), "hello");
    // valid_until lies where a 304 rewrites it.
    int64_t at;
    memcpy(&at, bytes.data() + kValidUntilOffset, sizeof at);
    EXPECT_EQ(at, 1234567890);
}

TEST(CacheFileTest, ForeignOrTruncatedRefused) {
    Entry e;
    e.key = "k";
    e.head = "HTTP/1.1 200 OK\r\n\r\n";
    std::string bytes = encode_header(e);
    std::string why;
    EXPECT_FALSE(decode_header(bytes.substr(0, bytes.size() - 1), &why));
    EXPECT_EQ(why, "too short");
    std::string other = bytes;
    other[7] = '2';
    EXPECT_FALSE(decode_header(other, &why));
    EXPECT_EQ(why, "not a cache file of this version");
    std::string bad = bytes;
    bad[8] ^= 1;  // header_size no longer adds up
    EXPECT_FALSE(decode_header(bad, &why));
    EXPECT_FALSE(decode_header("GET / HTTP/1.1\r\n", &why));
}

TEST(CacheFileTest, ReadsLargeHeaderFromFile) {
    Entry e;
    e.key = std::string(10000, 'k');  // beyond the first 4 KiB read
    e.head = "HTTP/1.1 200 OK\r\n\r\n";
    std::string bytes = encode_header(e);
    char name[] = "/tmp/halo-cache-file-XXXXXX";
    int fd = mkstemp(name);
    ASSERT_GE(fd, 0);
    unlink(name);
    ASSERT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    auto d = read_header(fd);
    close(fd);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->key, e.key);
}

}  // namespace
}  // namespace mod::cache
