#include "http/modules/auth_basic/htpasswd.h"

#include <crypt.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <vector>

#include "http/basic_auth.h"

namespace mod::auth_basic {
namespace {

constexpr std::string_view kApr1 = "$apr1$";
constexpr std::string_view kSha = "{SHA}";
constexpr std::string_view kSsha = "{SSHA}";
constexpr std::string_view kPlain = "{PLAIN}";
constexpr size_t kMaxFiles = 64;  // files kept by one process (user_file with variables)

bool starts_with(std::string_view s, std::string_view p) {
    return s.substr(0, p.size()) == p;
}

std::string digest(const EVP_MD* md, std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), out, &len, md, nullptr) != 1) {
        return {};
    }
    return std::string(reinterpret_cast<char*>(out), len);
}

/// crypt(3)'s alphabet, least significant 6 bits first (the "to64" of MD5-crypt).
void to64(std::string& out, uint32_t v, int n) {
    static constexpr std::string_view kItoa64 =
        "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    while (n-- > 0) {
        out += kItoa64[v & 0x3f];
        v >>= 6;
    }
}

/// libcrypt's crypt_r(); nullopt when it returned NULL (no failure token).
std::optional<std::string> libc_crypt(const std::string& password, const std::string& setting) {
    static std::unique_ptr<crypt_data> data;
    if (!data) {
        data = std::make_unique<crypt_data>();
    }
    data->initialized = 0;
    const char* out = crypt_r(password.c_str(), setting.c_str(), data.get());
    if (out == nullptr) {
        return std::nullopt;
    }
    return std::string(out);
}

bool same(const std::string& a, const std::string& b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

int64_t ns(const timespec& t) {
    return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

}  // namespace

std::string apr1_hash(std::string_view password, std::string_view setting) {
    // The salt: after the magic, at most 8 characters, up to the first '$'.
    std::string_view salt = setting.substr(kApr1.size());
    salt = salt.substr(0, std::min<size_t>(8, salt.find('$')));
    std::string pw(password);
    std::string s(salt);

    std::string alt = digest(EVP_md5(), pw + s + pw);
    std::string first = pw + std::string(kApr1) + s;
    for (size_t left = pw.size(); left > 0; left -= std::min<size_t>(left, 16)) {
        first.append(alt, 0, std::min<size_t>(left, 16));
    }
    for (size_t i = pw.size(); i != 0; i >>= 1) {
        first += (i & 1) != 0 ? '\0' : pw[0];
    }
    std::string fin = digest(EVP_md5(), first);
    // 1000 rounds to slow a guesser down.
    std::string round;
    for (int i = 0; i < 1000; i++) {
        round.clear();
        round += (i & 1) != 0 ? pw : fin;
        if (i % 3 != 0) {
            round += s;
        }
        if (i % 7 != 0) {
            round += pw;
        }
        round += (i & 1) != 0 ? fin : pw;
        fin = digest(EVP_md5(), round);
    }
    if (fin.size() != 16) {
        return {};
    }
    auto b = [&](int i) { return static_cast<uint32_t>(static_cast<unsigned char>(fin[i])); };
    std::string out = std::string(kApr1) + s + "$";
    to64(out, b(0) << 16 | b(6) << 8 | b(12), 4);
    to64(out, b(1) << 16 | b(7) << 8 | b(13), 4);
    to64(out, b(2) << 16 | b(8) << 8 | b(14), 4);
    to64(out, b(3) << 16 | b(9) << 8 | b(15), 4);
    to64(out, b(4) << 16 | b(10) << 8 | b(5), 4);
    to64(out, b(11), 2);
    return out;
}

std::string sha_hash(std::string_view password) {
    return std::string(kSha) + http::encode_base64(digest(EVP_sha1(), password));
}

std::string ssha_hash(std::string_view password, std::string_view salt) {
    std::string data(password);
    data.append(salt);
    return std::string(kSsha) + http::encode_base64(digest(EVP_sha1(), data) + std::string(salt));
}

Check check_password(std::string_view password, const std::string& hash) {
    // nginx hands the password to its hashes as a C string: it ends at a NUL byte.
    password = password.substr(0, password.find('\0'));
    std::string computed;
    if (starts_with(hash, kApr1)) {
        computed = apr1_hash(password, hash);
    } else if (starts_with(hash, kPlain)) {
        computed = std::string(kPlain) + std::string(password);
    } else if (starts_with(hash, kSsha)) {
        std::optional<std::string> raw =
            http::decode_base64(std::string_view(hash).substr(kSsha.size()));
        std::string salt = raw && raw->size() >= 20 ? raw->substr(20) : std::string();
        computed = ssha_hash(password, salt);
    } else if (starts_with(hash, kSha)) {
        computed = sha_hash(password);
    } else {
        std::optional<std::string> out = libc_crypt(std::string(password), hash);
        if (!out) {
            return Check::kError;
        }
        computed = std::move(*out);
    }
    return same(computed, hash) ? Check::kMatch : Check::kMismatch;
}

Users parse_users(std::string_view text) {
    Users users;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        if (line.empty() || line[0] == '#' || line[0] == '\r') {
            continue;
        }
        size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) {
            continue;  // nginx never matches a line without ':' (nor an empty name)
        }
        std::string_view rest = line.substr(colon + 1);
        std::string_view hash = rest.substr(0, rest.find_first_of("\r:"));
        users.emplace(std::string(line.substr(0, colon)), std::string(hash));
    }
    return users;
}

Lookup FileCache::find(const std::string& path, std::string_view user) {
    Lookup out;
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        out.result = Lookup::Result::kOpenFailed;
        out.error = errno;
        return out;
    }
    struct stat st {};
    if (fstat(fd, &st) != 0) {
        out.result = Lookup::Result::kReadFailed;
        out.error = errno;
        close(fd);
        return out;
    }
    auto it = files_.find(path);
    bool fresh = it != files_.end() && it->second.trusted && it->second.dev == st.st_dev &&
                 it->second.ino == st.st_ino && it->second.size == st.st_size &&
                 it->second.mtime_ns == ns(st.st_mtim) && it->second.ctime_ns == ns(st.st_ctim);
    if (!fresh) {
        std::string text;
        std::vector<char> buf(8192);
        for (;;) {
            ssize_t n = read(fd, buf.data(), buf.size());
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0) {
                out.result = Lookup::Result::kReadFailed;
                out.error = errno;
                close(fd);
                return out;
            }
            if (n == 0) {
                break;
            }
            text.append(buf.data(), static_cast<size_t>(n));
        }
        if (files_.size() >= kMaxFiles && it == files_.end()) {
            files_.clear();
        }
        Entry& e = files_[path];
        e.dev = st.st_dev;
        e.ino = st.st_ino;
        e.size = st.st_size;
        e.mtime_ns = ns(st.st_mtim);
        e.ctime_ns = ns(st.st_ctim);
        // A change within the same timestamp tick as the last one would look the same: only a
        // file whose last change is two seconds old is trusted to be reused.
        timespec now{};
        clock_gettime(CLOCK_REALTIME, &now);
        e.trusted = ns(now) - std::max(e.mtime_ns, e.ctime_ns) >= trust_after_ns_;
        e.users = parse_users(text);
        OPENSSL_cleanse(text.data(), text.size());
        reads_++;
        it = files_.find(path);
    }
    close(fd);
    auto u = it->second.users.find(std::string(user));
    if (u == it->second.users.end()) {
        out.result = Lookup::Result::kNotFound;
        return out;
    }
    out.result = Lookup::Result::kFound;
    out.hash = u->second;
    return out;
}

}  // namespace mod::auth_basic
