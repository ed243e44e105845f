#pragma once

#include <sys/socket.h>

#include <string>
#include <string_view>

namespace core {

/// A syslog destination, as nginx's `syslog:server=...[,facility=][,severity=][,tag=]
/// [,nohostname]`: RFC 3164 messages over UDP (host[:port], port 514 by default) or a unix
/// datagram socket (`unix:/dev/log`). Shared by every process of a cycle; each process opens
/// its own socket on first use and opens it again after a failed send, as nginx does.
struct SyslogPeer {
    sockaddr_storage addr{};
    socklen_t addr_len = 0;
    std::string server;  // as written after "server=" (for messages)
    int facility = 23;   // local7
    int severity = 6;    // info: used by access logs; an error log sends the line's level
    std::string tag = "halo";
    bool nohostname = false;
    std::string hostname;  // this machine's name, lowercase (gethostname)

    SyslogPeer() = default;
    SyslogPeer(const SyslogPeer&) = delete;
    SyslogPeer& operator=(const SyslogPeer&) = delete;
    ~SyslogPeer();

    /// `<PRI>Mmm dd hh:mm:ss hostname tag: ` for a message of `severity` (0 emerg .. 7 debug).
    std::string header(int severity) const;
    /// Sends header(severity) + `message` (no trailing newline) as one datagram. Returns false
    /// (and closes the socket, to be opened again next time) when it could not be sent;
    /// `error` then says why, in nginx's words.
    bool send(int severity, std::string_view message, std::string* error = nullptr) const;

  private:
    mutable int fd_ = -1;
    mutable int owner_pid_ = 0;  // the process that opened fd_ (a forked child opens its own)
};

/// Parses `spec`, the text after "syslog:" (`server=127.0.0.1:514,facility=local6,tag=app`),
/// into `peer`, resolving a host name; false with nginx's message in `error` (`unknown syslog
/// facility "x"`, `no syslog server specified`...).
bool parse_syslog(std::string_view spec, SyslogPeer& peer, std::string& error);

}  // namespace core
