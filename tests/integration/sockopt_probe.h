// Reads the options of a socket that a halo process holds (a worker's client connection or
// listening socket) by duplicating it with pidfd_getfd(2): what the kernel has, not what the
// config says. Needs ptrace rights over the process (root); tests skip without them.
#pragma once

#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <functional>
#include <optional>
#include <string>

namespace halo_test {

/// True when this process may duplicate descriptors of the halo processes it starts.
inline bool can_probe_sockets() {
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_getfd)
    if (geteuid() != 0) {
        return false;
    }
    int pfd = static_cast<int>(syscall(SYS_pidfd_open, getpid(), 0));
    if (pfd < 0) {
        return false;
    }
    int dup = static_cast<int>(syscall(SYS_pidfd_getfd, pfd, 0, 0));
    close(pfd);
    if (dup < 0) {
        return false;
    }
    close(dup);
    return true;
#else
    return false;
#endif
}

/// A duplicate (ours to close) of the first socket of `pid` for which `match` is true; -1 when
/// there is none.
inline int dup_socket_of(pid_t pid, const std::function<bool(int fd)>& match) {
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_getfd)
    int pfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    if (pfd < 0) {
        return -1;
    }
    std::string dir = "/proc/" + std::to_string(pid) + "/fd";
    DIR* d = opendir(dir.c_str());
    int found = -1;
    while (d != nullptr && found < 0) {
        dirent* e = readdir(d);
        if (e == nullptr) {
            break;
        }
        char target[64] = {};
        std::string link = dir + "/" + e->d_name;
        if (readlink(link.c_str(), target, sizeof(target) - 1) <= 0 ||
            std::string(target).rfind("socket:", 0) != 0) {
            continue;
        }
        int fd = static_cast<int>(syscall(SYS_pidfd_getfd, pfd, atoi(e->d_name), 0));
        if (fd < 0) {
            continue;
        }
        if (match(fd)) {
            found = fd;
        } else {
            close(fd);
        }
    }
    if (d != nullptr) {
        closedir(d);
    }
    close(pfd);
    return found;
#else
    return -1;
#endif
}

inline uint16_t port_of(const sockaddr_storage& ss) {
    if (ss.ss_family == AF_INET) {
        return ntohs(reinterpret_cast<const sockaddr_in&>(ss).sin_port);
    }
    if (ss.ss_family == AF_INET6) {
        return ntohs(reinterpret_cast<const sockaddr_in6&>(ss).sin6_port);
    }
    return 0;
}

/// The server side of our client connection whose local port is `client_port`.
inline int dup_connection_of(pid_t pid, uint16_t client_port) {
    return dup_socket_of(pid, [&](int fd) {
        sockaddr_storage ss{};
        socklen_t len = sizeof(ss);
        return getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0 &&
               port_of(ss) == client_port;
    });
}

/// A listening socket of `pid` on `port` of `family` (AF_INET, AF_INET6).
inline int dup_listener_of(pid_t pid, uint16_t port, int family = AF_INET) {
    return dup_socket_of(pid, [&](int fd) {
        sockaddr_storage ss{};
        socklen_t len = sizeof(ss);
        int listening = 0;
        socklen_t l2 = sizeof(listening);
        return getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0 &&
               ss.ss_family == family && port_of(ss) == port &&
               getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &l2) == 0 && listening;
    });
}

/// The local port of a connected socket of ours.
inline uint16_t local_port(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
        return 0;
    }
    return port_of(ss);
}

/// An int socket option, or nullopt when getsockopt fails.
inline std::optional<int> int_option(int fd, int level, int name) {
    int v = 0;
    socklen_t len = sizeof(v);
    if (fd < 0 || getsockopt(fd, level, name, &v, &len) != 0) {
        return std::nullopt;
    }
    return v;
}

}  // namespace halo_test
