#include "support/backend.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <utility>

namespace halo_test {
namespace {

std::string lower(std::string s) {
    for (char& c : s) {
        c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    }
    return s;
}

/// Reads one request from `fd` into `r` (its head only with `head_only`), keeping extra bytes
/// in `buf`. False on EOF/error.
bool read_request(int fd, std::string& buf, BackendRequest& r, bool head_only) {
    auto fill = [&]() {
        char tmp[65536];
        ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
        if (n <= 0) {
            return false;
        }
        buf.append(tmp, static_cast<size_t>(n));
        return true;
    };
    size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
        if (!fill()) {
            return false;
        }
    }
    std::string head = buf.substr(0, end);
    buf.erase(0, end + 4);
    size_t eol = head.find("\r\n");
    std::string line = head.substr(0, eol);
    size_t sp1 = line.find(' ');
    size_t sp2 = line.rfind(' ');
    r.method = line.substr(0, sp1);
    r.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    r.version = line.substr(sp2 + 1);
    size_t pos = eol == std::string::npos ? head.size() : eol + 2;
    while (pos < head.size()) {
        size_t next = head.find("\r\n", pos);
        std::string h =
            head.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
        size_t colon = h.find(':');
        if (colon != std::string::npos) {
            std::string v = h.substr(colon + 1);
            v.erase(0, v.find_first_not_of(' '));
            r.headers[lower(h.substr(0, colon))] = v;
        }
        pos = next == std::string::npos ? head.size() : next + 2;
    }
    if (head_only) {
        r.chunked = r.headers.count("transfer-encoding") > 0;
    } else if (r.headers.count("transfer-encoding")) {
        r.chunked = true;
        for (;;) {
            size_t le;
            while ((le = buf.find("\r\n")) == std::string::npos) {
                if (!fill()) {
                    return false;
                }
            }
            size_t n = std::stoul(buf.substr(0, le), nullptr, 16);
            buf.erase(0, le + 2);
            while (buf.size() < n + 2) {
                if (!fill()) {
                    return false;
                }
            }
            r.body += buf.substr(0, n);
            buf.erase(0, n + 2);
            if (n == 0) {
                break;  // (no trailers in the tests)
            }
        }
    } else if (r.headers.count("content-length")) {
        size_t n = std::stoul(r.headers["content-length"]);
        while (buf.size() < n) {
            if (!fill()) {
                return false;
            }
        }
        r.body = buf.substr(0, n);
        buf.erase(0, n);
    }
    return true;
}

}  // namespace

bool BackendConn::send(std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
}

std::string BackendConn::read_some(int ms) {
    if (!pending_.empty()) {
        return std::exchange(pending_, std::string());
    }
    struct pollfd p = {fd_, POLLIN, 0};
    if (::poll(&p, 1, ms) != 1) {
        return {};
    }
    char buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

std::string Backend::ok_response(const std::string& body, bool close,
                                 const std::string& extra_headers) {
    return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n" + extra_headers +
           (close ? "Connection: close\r\n" : "") + "\r\n" + body;
}

Backend::Backend(std::string name, Handler h) : name_(std::move(name)) {
    set_handler(std::move(h));
    listen_on(0);
}

Backend::Backend(std::string name, UnixSocket socket, Handler h)
    : name_(std::move(name)), unix_path_(std::move(socket.path)) {
    set_handler(std::move(h));
    listen_unix();
}

Backend::Backend(std::string name, std::string ip, uint16_t port, Handler h)
    : name_(std::move(name)), ip_(std::move(ip)) {
    set_handler(std::move(h));
    listen_on(port);
}

bool Backend::listen_unix() {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (fd < 0 || unix_path_.size() >= sizeof(a.sun_path)) {
        if (fd >= 0) {
            ::close(fd);
        }
        return false;
    }
    memcpy(a.sun_path, unix_path_.data(), unix_path_.size());
    ::unlink(unix_path_.c_str());
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(fd, 512) != 0 ||
        ::chmod(unix_path_.c_str(), 0666) != 0) {  // workers run as another user
        ::close(fd);
        return false;
    }
    listen_fd_ = fd;
    stopping_ = false;
    acceptor_ = std::thread([this] { accept_loop(); });
    return true;
}

void Backend::set_handler(Handler h) {
    std::lock_guard<std::mutex> lock(mu_);
    handler_ = std::move(h);
    if (!handler_) {
        std::string body = name_ + "\n";
        handler_ = [body](BackendConn& c, const BackendRequest& r) {
            bool close = r.version == "HTTP/1.0" || (r.headers.count("connection") &&
                                                     lower(r.headers.at("connection")) == "close");
            c.send(ok_response(body, close));
            if (close) {
                c.close_after();
            }
        };
    }
}

Backend::~Backend() {
    stop();
}

bool Backend::listen_on(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    if (inet_pton(AF_INET, ip_.c_str(), &a.sin_addr) != 1) {
        ::close(fd);
        return false;
    }
    a.sin_port = htons(port);
    socklen_t len = sizeof(a);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(fd, 512) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        ::close(fd);
        return false;
    }
    port_ = ntohs(a.sin_port);
    listen_fd_ = fd;
    stopping_ = false;
    acceptor_ = std::thread([this] { accept_loop(); });
    return true;
}

void Backend::accept_loop() {
    for (;;) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            return;  // the listening socket was shut down
        }
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_) {
            ::close(fd);
            return;
        }
        int index = connections_++;
        conn_fds_.push_back(fd);
        workers_.emplace_back([this, fd, index] { serve(fd, index); });
    }
}

void Backend::serve(int fd, int index) {
    BackendConn conn(fd);
    std::string buf;
    for (;;) {
        BackendRequest r;
        r.connection = index;
        bool head_only = head_only_;
        if (!read_request(fd, buf, r, head_only)) {
            break;
        }
        if (head_only) {
            conn.set_pending(std::exchange(buf, std::string()));
            conn.close_after();  // where the body ends is the handler's business
        }
        requests_++;
        Handler h;
        {
            std::lock_guard<std::mutex> lock(mu_);
            seen_.push_back(r);
            h = handler_;
        }
        h(conn, r);
        if (conn.closing()) {
            break;
        }
    }
    std::lock_guard<std::mutex> lock(mu_);
    auto it = std::find(conn_fds_.begin(), conn_fds_.end(), fd);
    if (it != conn_fds_.end()) {
        conn_fds_.erase(it);
        ::close(fd);
    }
}

std::vector<BackendRequest> Backend::seen() const {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
}

void Backend::stop() {
    std::vector<std::thread> workers;
    {
        std::lock_guard<std::mutex> lock(mu_);
        stopping_ = true;
        if (listen_fd_ >= 0) {
            ::shutdown(listen_fd_, SHUT_RDWR);
        }
        for (int fd : conn_fds_) {
            ::shutdown(fd, SHUT_RDWR);  // the serving threads see EOF and close
        }
    }
    if (acceptor_.joinable()) {
        acceptor_.join();
    }
    {
        std::lock_guard<std::mutex> lock(mu_);
        workers.swap(workers_);
    }
    for (auto& t : workers) {
        t.join();
    }
    if (listen_fd_ >= 0) {
        ::close(listen_fd_);
        listen_fd_ = -1;
        if (!unix_path_.empty()) {
            ::unlink(unix_path_.c_str());
        }
    }
}

bool Backend::restart() {
    stop();
    return unix_path_.empty() ? listen_on(port_) : listen_unix();
}

}  // namespace halo_test
