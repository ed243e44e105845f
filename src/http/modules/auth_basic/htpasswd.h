#pragma once

// htpasswd files and the password hashes in them, as nginx's auth_basic reads them
// (ngx_http_auth_basic_handler, ngx_crypt): no config system here, so tests call it directly.
//
// A line is `user:hash[:anything]`; a line that starts with '#' (or CR) is a comment; the
// first line of a user counts. A hash is checked by its kind:
//   - `$apr1$salt$...`   Apache's MD5 (Poul-Henning Kamp's MD5-crypt with the $apr1$ magic);
//   - `{SHA}base64`      SHA-1 of the password;
//   - `{SSHA}base64`     SHA-1 of the password and a salt, the salt after the 20 digest bytes;
//   - `{PLAIN}password`  the password itself;
//   - anything else      crypt(3) of libcrypt: DES, `$1$` MD5, `$5$` SHA-256, `$6$` SHA-512,
//                        `$2b$` bcrypt, `$y$` yescrypt... whatever the library knows.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mod::auth_basic {

enum class Check : uint8_t {
    kMatch,
    kMismatch,
    kError,  // crypt(3) failed (no failure token): nginx answers 500
};

/// Whether `password` gives `hash` (an htpasswd file's second field).
Check check_password(std::string_view password, const std::string& hash);

/// Apache's `$apr1$` hash of `password` with the salt of `setting` (`$apr1$salt[$...]`: at
/// most 8 salt characters, up to the first '$').
std::string apr1_hash(std::string_view password, std::string_view setting);
/// `{SHA}` + base64(SHA-1(password)).
std::string sha_hash(std::string_view password);
/// `{SSHA}` + base64(SHA-1(password + salt) + salt).
std::string ssha_hash(std::string_view password, std::string_view salt);

/// The users of an htpasswd file's text: the first hash of each user.
using Users = std::unordered_map<std::string, std::string>;
Users parse_users(std::string_view text);

/// What looking a user up in a file found.
struct Lookup {
    enum class Result : uint8_t { kFound, kNotFound, kOpenFailed, kReadFailed };
    Result result = Result::kNotFound;
    int error = 0;     // errno of kOpenFailed, kReadFailed
    std::string hash;  // kFound
};

/// The htpasswd files a process has read, keyed by path. A file is opened for every lookup
/// (nginx reads it for every request); its parsed users are reused while its device, inode,
/// size, modification and change times are those of the last read and that change is older
/// than two seconds (a file rewritten twice within one timestamp tick is read again).
/// One per process; not thread-safe.
class FileCache {
  public:
    /// `trust_after`: how old a file's last change must be for its users to be reused (tests
    /// give 0).
    explicit FileCache(std::chrono::nanoseconds trust_after = std::chrono::seconds(2))
        : trust_after_ns_(trust_after.count()) {}
    Lookup find(const std::string& path, std::string_view user);
    /// Files read (not served from the cache) since the process started: for tests.
    uint64_t reads() const { return reads_; }

  private:
    struct Entry {
        dev_t dev = 0;
        ino_t ino = 0;
        off_t size = 0;
        int64_t mtime_ns = 0;
        int64_t ctime_ns = 0;
        bool trusted = false;  // old enough to be reused
        Users users;
    };
    std::unordered_map<std::string, Entry> files_;
    int64_t trust_after_ns_;
    uint64_t reads_ = 0;
};

}  // namespace mod::auth_basic
