// The htpasswd runtime of auth_basic without the config system: each hash kind against vectors
// made by other tools (openssl passwd -1/-5/-6/-apr1, htpasswd -d/-s/-B/-m, Python's hashlib
// for {SSHA}, libxcrypt's crypt_gensalt for yescrypt), the file's line rules as nginx reads
// them, the per-process file cache (a rewritten file is read again), and the Basic
// credentials of the http core ($remote_user) with nginx's base64 rules.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "http/basic_auth.h"
#include "http/modules/auth_basic/htpasswd.h"
#include "support/test_modules.h"

namespace {

using mod::auth_basic::apr1_hash;
using mod::auth_basic::Check;
using mod::auth_basic::check_password;
using mod::auth_basic::FileCache;
using mod::auth_basic::Lookup;
using mod::auth_basic::parse_users;
using mod::auth_basic::sha_hash;
using mod::auth_basic::ssha_hash;

struct Vector {
    const char* kind;
    const char* password;
    const char* hash;
};

// Each made by the tool named, never by halo.
constexpr Vector kVectors[] = {
    {"openssl passwd -1", "secret1", "$1$abcdefgh$ywpTNDTYPzAT3Ohgseebp/"},
    {"openssl passwd -5", "secret5", "$5$abcdefgh$AVKsPBNtNFkXXKvvkrPMobKUZbm0i7P2XfVbwGW9BS/"},
    {"openssl passwd -6", "secret6",
     "$6$abcdefgh$xCmU6eXePqd8uT3.jYlk3Fgv/roflqiCi/twHrvHhPTT4qT0rTqu/3ZTFEf6uqFcl7eKyk81ngZEadU/"
     "ehEy51"},
    {"openssl passwd -apr1", "secretapr", "$apr1$abcdefgh$GRZSrEk38tvESsZqL.BKj."},
    {"htpasswd -m", "secretapr", "$apr1$Yw2rA38b$AtZ2OkFvmOcJXtjmRuLPl/"},
    {"htpasswd -d (DES)", "secretde", "UrvSx6uJqs48A"},
    {"crypt(3) DES", "secretde", "abo7/tSU9W0e."},
    {"htpasswd -s", "secretsha", "{SHA}31mHvV5u5LyRnBlFzjgog1WyY9k="},
    {"hashlib {SSHA}", "secretssha", "{SSHA}9sJ6SGMfQ6/yO1dBMSYP9MZVL1hzYWx0MTIzNA=="},
    {"{PLAIN}", "secretplain", "{PLAIN}secretplain"},
    {"htpasswd -B", "secretbc", "$2y$05$U/f6yefQT6M6SOCi8HXtp.jf7aEQOam/t3gu0XN8OkQcUyZxSDeEy"},
    {"crypt(3) bcrypt", "secretbc", "$2b$05$abcdefghijklmnopqrstuuigsc/cHQGqbZ4WaVbckuCsXvg7fpbWe"},
    {"crypt(3) yescrypt", "secrety",
     "$y$j9T$iJFHizZ5X8AVJYnm/K/3L1$wKF.rB1ofB2horQ019wG2UjOyl.SFd5HPmXjFRPTmb3"},
};

TEST(AuthBasicHashTest, EachKindAcceptsItsPasswordAndRefusesOthers) {
    for (const Vector& v : kVectors) {
        EXPECT_EQ(check_password(v.password, v.hash), Check::kMatch) << v.kind;
        EXPECT_EQ(check_password("x" + std::string(v.password), v.hash), Check::kMismatch)
            << v.kind;
        EXPECT_EQ(check_password("", v.hash), Check::kMismatch) << v.kind;
        EXPECT_EQ(check_password("wrong", v.hash), Check::kMismatch) << v.kind;
    }
}

TEST(AuthBasicHashTest, DesReadsEightCharactersOnly) {
    // crypt(3)'s DES (and so nginx and Apache): what follows the 8th character is not checked.
    EXPECT_EQ(check_password("secretdeANYTHING", "UrvSx6uJqs48A"), Check::kMatch);
    EXPECT_EQ(check_password("secretdf", "UrvSx6uJqs48A"), Check::kMismatch);
    // The other kinds read the whole password.
    EXPECT_EQ(check_password("secret1x", "$1$abcdefgh$ywpTNDTYPzAT3Ohgseebp/"), Check::kMismatch);
    EXPECT_EQ(check_password("secretaprx", "$apr1$abcdefgh$GRZSrEk38tvESsZqL.BKj."),
              Check::kMismatch);
}

TEST(AuthBasicHashTest, Apr1MatchesApachesOutput) {
    EXPECT_EQ(apr1_hash("secretapr", "$apr1$abcdefgh$"), "$apr1$abcdefgh$GRZSrEk38tvESsZqL.BKj.");
    // The salt stops at 8 characters and at '$'.
    EXPECT_EQ(apr1_hash("secretapr", "$apr1$abcdefghijk$zzz"),
              "$apr1$abcdefgh$GRZSrEk38tvESsZqL.BKj.");
    EXPECT_EQ(apr1_hash("secretapr", "$apr1$Yw2rA38b$AtZ2OkFvmOcJXtjmRuLPl/"),
              "$apr1$Yw2rA38b$AtZ2OkFvmOcJXtjmRuLPl/");
    // A password longer than 16 bytes, and an empty one (openssl passwd -apr1 -salt xyz).
    EXPECT_EQ(apr1_hash("a password longer than sixteen bytes", "$apr1$xyz$"),
              "$apr1$xyz$wfDixng6wruoZ1.Bp0FXa0");
    EXPECT_EQ(apr1_hash("", "$apr1$xyz$"), "$apr1$xyz$Pix4eE3fQHxJjb6LqtyMK1");
}

TEST(AuthBasicHashTest, ShaAndSshaForms) {
    EXPECT_EQ(sha_hash("secretsha"), "{SHA}31mHvV5u5LyRnBlFzjgog1WyY9k=");
    EXPECT_EQ(ssha_hash("secretssha", "salt1234"),
              "{SSHA}9sJ6SGMfQ6/yO1dBMSYP9MZVL1hzYWx0MTIzNA==");
    // A {SSHA} value too short to hold a digest never matches (nginx: no salt then).
    EXPECT_EQ(check_password("x", "{SSHA}abc"), Check::kMismatch);
    EXPECT_EQ(check_password("x", "{SSHA}!!!"), Check::kMismatch);
}

TEST(AuthBasicHashTest, BrokenCryptSettingsNeverMatch) {
    // libxcrypt answers a failure token ("*0"), which matches no stored hash.
    EXPECT_EQ(check_password("x", ""), Check::kMismatch);
    EXPECT_EQ(check_password("x", "$6$"), Check::kMismatch);
    EXPECT_EQ(check_password("x", "*0"), Check::kMismatch);
    EXPECT_EQ(check_password("x", "$9$nosuchmethod"), Check::kMismatch);
}

TEST(AuthBasicHashTest, PasswordEndsAtNulAsNginxReadsIt) {
    EXPECT_EQ(check_password(std::string("secretplain\0tail", 16), "{PLAIN}secretplain"),
              Check::kMatch);
}

TEST(AuthBasicFileTest, LinesAsNginxReadsThem) {
    mod::auth_basic::Users u = parse_users(
        "# a comment\n"
        "\n"
        "alice:{PLAIN}one\n"
        "alice:{PLAIN}two\n"           // the first line of a user counts
        "bob:{PLAIN}b:extra:fields\n"  // the hash ends at ':'
        "carol:{PLAIN}c\r\n"           // and at CR
        "#dave:{PLAIN}d\n"
        "\r\n"
        "nocolon\n"
        ":{PLAIN}noname\n"
        "eve:\n"
        "last:{PLAIN}end");  // no newline at the end
    EXPECT_EQ(u.at("alice"), "{PLAIN}one");
    EXPECT_EQ(u.at("bob"), "{PLAIN}b");
    EXPECT_EQ(u.at("carol"), "{PLAIN}c");
    EXPECT_EQ(u.count("#dave"), 0u);
    EXPECT_EQ(u.count("nocolon"), 0u);
    EXPECT_EQ(u.count(""), 0u);
    EXPECT_EQ(u.at("eve"), "");
    EXPECT_EQ(u.at("last"), "{PLAIN}end");
    EXPECT_EQ(u.size(), 5u);
}

TEST(AuthBasicFileTest, CacheReadsARecentlyChangedFileEveryTime) {
    support::TempDir dir;
    std::string path = dir.write("htpasswd", "alice:{PLAIN}one\n");
    FileCache cache;  // files changed in the last two seconds are not reused
    Lookup l = cache.find(path, "alice");
    ASSERT_EQ(l.result, Lookup::Result::kFound);
    EXPECT_EQ(l.hash, "{PLAIN}one");
    EXPECT_EQ(cache.find(path, "bob").result, Lookup::Result::kNotFound);
    // Rewritten at once with the same size (the same timestamps on a coarse clock): read again.
    dir.write("htpasswd", "alice:{PLAIN}two\n");
    EXPECT_EQ(cache.find(path, "alice").hash, "{PLAIN}two");
    EXPECT_EQ(cache.reads(), 3u);
}

TEST(AuthBasicFileTest, CacheReusesAnUnchangedFileAndSeesEachChange) {
    support::TempDir dir;
    std::string path = dir.write("htpasswd", "alice:{PLAIN}one\n");
    FileCache cache(std::chrono::nanoseconds(0));  // trusted at once
    EXPECT_EQ(cache.find(path, "alice").hash, "{PLAIN}one");
    EXPECT_EQ(cache.find(path, "alice").hash, "{PLAIN}one");
    EXPECT_EQ(cache.find(path, "bob").result, Lookup::Result::kNotFound);
    EXPECT_EQ(cache.reads(), 1u);
    // Another size.
    dir.write("htpasswd", "alice:{PLAIN}three\n");
    EXPECT_EQ(cache.find(path, "alice").hash, "{PLAIN}three");
    EXPECT_EQ(cache.reads(), 2u);
    // Another modification time, same size.
    dir.write("htpasswd", "alice:{PLAIN}four_\n");
    struct timespec times[2];
    clock_gettime(CLOCK_REALTIME, &times[0]);
    times[0].tv_sec -= 120;
    times[1] = times[0];
    ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
    EXPECT_EQ(cache.find(path, "alice").hash, "{PLAIN}four_");
    // Replaced by another file (a new inode, as `htpasswd` writes it).
    std::string other = dir.write("htpasswd.new", "bob:{PLAIN}b\n");
    ASSERT_EQ(rename(other.c_str(), path.c_str()), 0);
    EXPECT_EQ(cache.find(path, "alice").result, Lookup::Result::kNotFound);
    EXPECT_EQ(cache.find(path, "bob").hash, "{PLAIN}b");
    // Gone: the open fails (nothing is served from the cache without the file).
    ASSERT_EQ(unlink(path.c_str()), 0);
    EXPECT_EQ(cache.find(path, "bob").result, Lookup::Result::kOpenFailed);
}

TEST(AuthBasicFileTest, OpenFailuresCarryErrno) {
    support::TempDir dir;
    FileCache cache;
    Lookup l = cache.find(dir.file("missing"), "alice");
    EXPECT_EQ(l.result, Lookup::Result::kOpenFailed);
    EXPECT_EQ(l.error, ENOENT);
    // A folder opens but cannot be read.
    l = cache.find(dir.path(), "alice");
    EXPECT_EQ(l.result, Lookup::Result::kReadFailed);
    EXPECT_EQ(l.error, EISDIR);
}

TEST(BasicCredentialsTest, ParsedAsNginxParsesThem) {
    auto c = http::parse_basic_authorization("Basic YWxpY2U6b3Blbg==");  // alice:open
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->user, "alice");
    EXPECT_EQ(c->password, "open");
    // The scheme in any case, spaces before the base64, padding optional.
    c = http::parse_basic_authorization("bASIC    YWxpY2U6b3Blbg");
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->user, "alice");
    // The password may hold ':' and may be empty.
    c = http::parse_basic_authorization("Basic " + http::encode_base64("u:p:q"));
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->password, "p:q");
    c = http::parse_basic_authorization("Basic " + http::encode_base64("u:"));
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->password, "");
    // Refused: another scheme, nothing, bad base64, no ':' or an empty user.
    for (std::string bad :
         std::vector<std::string>{"Bearer abc", "Basic", "Basic ", "Basic    ", "Basic !!!!",
                                  "Basic YWxpY2U", "Basic Og==", "BasicYWxpY2U6b3Blbg=="}) {
        EXPECT_FALSE(http::parse_basic_authorization(bad).has_value()) << bad;
    }
}

TEST(BasicCredentialsTest, Base64AsNginx) {
    EXPECT_EQ(http::decode_base64("aGFsbw=="), "halo");
    EXPECT_EQ(http::decode_base64("aGFsbw"), "halo");
    EXPECT_EQ(http::decode_base64("aGFsbw=garbage after the pad"), "halo");
    EXPECT_EQ(http::decode_base64(""), "");
    EXPECT_FALSE(http::decode_base64("aGFsb").has_value());    // 4n+1 characters
    EXPECT_FALSE(http::decode_base64("a").has_value());        // 4n+1 characters
    EXPECT_FALSE(http::decode_base64("aGF sbw").has_value());  // a space
    EXPECT_FALSE(http::decode_base64("aGF-bw").has_value());   // not the URL alphabet
    for (const std::string& s :
         std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
        EXPECT_EQ(http::decode_base64(http::encode_base64(s)), s);
    }
}

}  // namespace
