#include "http/modules/static/symlinks.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace mod::http_static {
namespace {

constexpr int kSearch = O_PATH | O_CLOEXEC;  // a component to walk through, not to read

/// openat() of one component; with kIfNotOwner a link is followed and then the owner of
/// the link (fstatat without following) must be the owner of what was opened.
int open_component(int at, const char* name, int flags, Symlinks mode) {
    if (mode == Symlinks::kOn) {
        return ::openat(at, name, flags | O_NOFOLLOW);
    }
    int fd = ::openat(at, name, flags);
    if (fd < 0) {
        return -1;
    }
    struct stat link;
    struct stat target;
    if (::fstatat(at, name, &link, AT_SYMLINK_NOFOLLOW) != 0 || ::fstat(fd, &target) != 0) {
        int e = errno;
        ::close(fd);
        errno = e;
        return -1;
    }
    // Compared even when fstatat() sees no link: it may have been one when openat() ran.
    if (link.st_uid != target.st_uid) {
        ::close(fd);
        errno = ELOOP;
        return -1;
    }
    return fd;
}

}  // namespace

bool symlinks_from(const std::string& path, const std::string& from, size_t& skip) {
    skip = 0;
    if (from.empty() || from.size() > path.size() || path.compare(0, from.size(), from) != 0) {
        return true;  // not under `from`: every component is checked
    }
    if (from.size() == path.size()) {
        return false;  // the path is `from` itself: nothing to check
    }
    if (path[from.size()] == '/') {
        skip = from.size();
    } else if (path[from.size() - 1] == '/') {
        skip = from.size() - 1;
    }
    return true;
}

OpenedFile open_no_symlinks(const std::string& path, Symlinks mode, size_t from) {
    OpenedFile out;
    out.failed = "open()";
    if (mode == Symlinks::kOff) {
        out.fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    } else {
        // The first directory: the unchecked `from` part, or "/".
        std::string first = from > 0 ? path.substr(0, from) : std::string("/");
        size_t pos = from > 0 ? from + 1 : (path.empty() || path[0] != '/' ? 0 : 1);
        int at = ::open(first.c_str(), kSearch | O_DIRECTORY);
        if (at < 0) {
            out.err = errno;
            out.failed = from > 0 ? "open()" : "openat()";
            return out;
        }
        out.failed = "openat()";
        for (;;) {
            size_t slash = path.find('/', pos);
            if (slash == std::string::npos) {
                break;
            }
            if (slash == pos) {
                pos++;
                continue;
            }
            std::string name = path.substr(pos, slash - pos);
            int fd = open_component(at, name.c_str(), kSearch, mode);
            if (fd < 0) {
                out.err = errno;
                ::close(at);
                return out;
            }
            ::close(at);
            at = fd;
            pos = slash + 1;
        }
        // A trailing slash: the last component is the directory opened last.
        std::string name = pos >= path.size() ? std::string(".") : path.substr(pos);
        out.fd = open_component(at, name.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC, mode);
        int e = errno;
        ::close(at);
        errno = e;
    }
    if (out.fd < 0) {
        out.err = errno;
        return out;
    }
    if (::fstat(out.fd, &out.st) != 0) {
        out.err = errno;
        out.failed = "fstat()";
        ::close(out.fd);
        out.fd = -1;
    }
    return out;
}

}  // namespace mod::http_static
