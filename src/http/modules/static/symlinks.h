#pragma once

// disable_symlinks: opening a file so that symbolic links on its path are refused, as nginx
// does with openat(2) and O_NOFOLLOW, one path component at a time.
#include <sys/stat.h>

#include <cstddef>
#include <string>

namespace mod::http_static {

enum class Symlinks {
    kOff,         // follow every link
    kOn,          // no component may be a symbolic link
    kIfNotOwner,  // a link is followed only when it and its target have the same owner
};

struct OpenedFile {
    int fd = -1;         // the caller's own descriptor (read-only), -1 on error
    int err = 0;         // errno of the call that failed
    const char* failed;  // that call as nginx names it in the log: "open()" or "openat()"
    struct stat st {};
};

/// Opens `path` (absolute) read-only and fstat()s it. With kOn or kIfNotOwner every
/// component after the first `from` bytes (0: from "/") is opened with openat() relative to
/// the one before; a symbolic link that is not allowed fails with ELOOP, as in nginx.
OpenedFile open_no_symlinks(const std::string& path, Symlinks mode, size_t from);

/// nginx's disable_symlinks from=: sets `skip` to how many leading bytes of `path` are not
/// checked for `from` (the evaluated parameter; 0 when `path` is not under it). False when
/// `path` is `from` itself, which turns the check off.
bool symlinks_from(const std::string& path, const std::string& from, size_t& skip);

}  // namespace mod::http_static
