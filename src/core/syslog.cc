#include "core/syslog.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <span>
#include <vector>

#include "core/log.h"
#include "core/net.h"

namespace core {
namespace {

constexpr std::string_view kFacilities[] = {
    "kern",   "user",   "mail",     "daemon", "auth",   "intern", "lpr",    "news",
    "uucp",   "clock",  "authpriv", "ftp",    "ntp",    "audit",  "alert",  "cron",
    "local0", "local1", "local2",   "local3", "local4", "local5", "local6", "local7"};

/// RFC 3164 §4.1.2: the TAG is at most 32 alphanumeric characters (nginx adds '_').
constexpr size_t kMaxTag = 32;

constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

bool parse_server(std::string_view text, SyslogPeer& peer, std::string& error) {
    peer.server = std::string(text);
    if (text.substr(0, 5) == "unix:") {
        std::string_view path = text.substr(5);
        sockaddr_un un{};
        if (path.empty() || path.size() >= sizeof(un.sun_path)) {
            error = path.empty() ? "no path in the unix domain socket"
                                 : "too long path in the unix domain socket";
            error += " in syslog server \"" + std::string(text) + "\"";
            return false;
        }
        un.sun_family = AF_UNIX;
        memcpy(un.sun_path, path.data(), path.size());
        memcpy(&peer.addr, &un, sizeof(un));
        peer.addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
        return true;
    }
    if (auto a = SockAddr::parse(text, 514)) {
        memcpy(&peer.addr, a->get(), a->len);
        peer.addr_len = a->len;
        return true;
    }
    // A host name, resolved now (as nginx's ngx_parse_url does at configuration time).
    std::string host(text);
    std::string port = "514";
    if (size_t colon = host.rfind(':'); colon != std::string::npos && host[0] != '[') {
        port = host.substr(colon + 1);
        host.resize(colon);
        bool digits = !port.empty() && port.size() <= 5 &&
                      port.find_first_not_of("0123456789") == std::string::npos;
        if (!digits || atoi(port.c_str()) < 1 || atoi(port.c_str()) > 65535) {
            error = "invalid port in syslog server \"" + std::string(text) + "\"";
            return false;
        }
    }
    if (host.empty()) {
        error = "no host in syslog server \"" + std::string(text) + "\"";
        return false;
    }
    addrinfo hints{};
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* res = nullptr;
    if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) {
        error = "host not found in syslog server \"" + std::string(text) + "\"";
        return false;
    }
    memcpy(&peer.addr, res->ai_addr, res->ai_addrlen);
    peer.addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    return true;
}

bool find_word(std::span<const std::string_view> words, std::string_view w, int& out) {
    for (size_t i = 0; i < words.size(); i++) {
        if (words[i] == w) {
            out = static_cast<int>(i);
            return true;
        }
    }
    return false;
}

}  // namespace

SyslogPeer::~SyslogPeer() {
    if (fd_ >= 0 && owner_pid_ == getpid()) {
        ::close(fd_);
    }
}

bool parse_syslog(std::string_view spec, SyslogPeer& peer, std::string& error) {
    static constexpr std::string_view kSeverities[] = {"emerg", "alert",  "crit", "error",
                                                       "warn",  "notice", "info", "debug"};
    std::vector<std::string_view> given;  // the names of the name=value parameters so far
    for (;;) {
        size_t comma = spec.find(',');
        std::string_view p = spec.substr(0, comma);
        // A parameter is name=value, or the word nohostname.
        size_t eq = p.find('=');
        std::string_view name = eq == std::string_view::npos ? "" : p.substr(0, eq);
        std::string_view value = eq == std::string_view::npos ? "" : p.substr(eq + 1);
        if (!name.empty()) {
            if (std::find(given.begin(), given.end(), name) != given.end()) {
                error = "duplicate syslog \"" + std::string(name) + "\"";
                return false;
            }
            given.push_back(name);
        }
        if (p == "nohostname") {
            peer.nohostname = true;
        } else if (name == "server") {
            if (!parse_server(value, peer, error)) {
                return false;
            }
        } else if (name == "facility") {
            if (!find_word(kFacilities, value, peer.facility)) {
                error = "unknown syslog facility \"" + std::string(value) + "\"";
                return false;
            }
        } else if (name == "severity") {
            if (!find_word(kSeverities, value, peer.severity)) {
                error = "unknown syslog severity \"" + std::string(value) + "\"";
                return false;
            }
        } else if (name == "tag") {
            if (value.size() > kMaxTag) {
                error = "syslog tag length exceeds 32";
                return false;
            }
            for (char c : value) {
                if (!isalnum(static_cast<unsigned char>(c)) && c != '_') {
                    error = "syslog \"tag\" only allows alphanumeric characters and underscore";
                    return false;
                }
            }
            peer.tag = std::string(value);
        } else {
            error = "unknown syslog parameter \"" + std::string(p) + "\"";
            return false;
        }
        if (comma == std::string_view::npos) {
            break;
        }
        spec.remove_prefix(comma + 1);
    }
    if (std::find(given.begin(), given.end(), "server") == given.end()) {
        error = "no syslog server specified";
        return false;
    }
    char name[256] = {};
    if (gethostname(name, sizeof(name) - 1) == 0) {
        for (char* c = name; *c; c++) {
            *c = static_cast<char>(tolower(static_cast<unsigned char>(*c)));
        }
        peer.hostname = name;
    }
    return true;
}

std::string SyslogPeer::header(int sev) const {
    time_t now = time(nullptr);
    struct tm tm;
    localtime_r(&now, &tm);
    // RFC 3164 §4.1.2: "Mmm dd hh:mm:ss", the day padded with a space.
    std::string out = format("<%d>%s %2d %02d:%02d:%02d ", facility * 8 + sev, kMonths[tm.tm_mon],
                             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (!nohostname) {
        out += hostname;
        out += ' ';
    }
    out += tag;
    out += ": ";
    return out;
}

bool SyslogPeer::send(int sev, std::string_view message, std::string* error) const {
    if (fd_ >= 0 && owner_pid_ != getpid()) {
        ::close(fd_);  // our copy of the parent's socket: this process opens its own below
        fd_ = -1;
    }
    if (fd_ < 0) {
        int fd = ::socket(addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            if (error) {
                *error = format("socket() failed (%d: %s)", errno, strerror(errno));
            }
            return false;
        }
        if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), addr_len) != 0) {
            int e = errno;
            ::close(fd);
            if (error) {
                *error = format("connect() failed (%d: %s)", e, strerror(e));
            }
            return false;
        }
        fd_ = fd;
        owner_pid_ = getpid();
    }
    std::string msg = header(sev);
    msg.append(message);
    if (::send(fd_, msg.data(), msg.size(), MSG_NOSIGNAL) < 0) {
        int e = errno;
        ::close(fd_);
        fd_ = -1;
        if (error) {
            *error = format("send() failed (%d: %s)", e, strerror(e));
        }
        return false;
    }
    return true;
}

}  // namespace core
