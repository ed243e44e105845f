// The core variables of nginx's ngx_http_variables.c that variables.cc does not define:
// $request_id, $cookie_*, $sent_http_*, $sent_trailer_*, $binary_remote_addr, $tcpinfo_*,
// $pipe, $connection_time, $request_completion, $request_body, $request_body_file,
// $limit_rate, $nginx_version.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <iterator>

#include "auto_config.h"
#include "http/error_log.h"
#include "http/http.h"
#include "http/session.h"
#include "http/variables.h"

namespace http {
namespace {

/// 16 random bytes as 32 hex digits, made once per request (nginx's $request_id).
bool get_request_id(const Request& r, std::string_view, std::string& out) {
    if (r.request_id.empty()) {
        unsigned char bytes[16];
        size_t got = 0;
        while (got < sizeof(bytes)) {
            ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
            if (n <= 0) {
                return false;
            }
            got += static_cast<size_t>(n);
        }
        static constexpr char kHex[] = "0123456789abcdef";
        for (unsigned char b : bytes) {
            r.request_id += kHex[b >> 4];
            r.request_id += kHex[b & 15];
        }
    }
    out += r.request_id;
    return true;
}

/// $cookie_name: the value of `name` in the Cookie header(s) (name compared in any case).
bool get_cookie(const Request& r, std::string_view name, std::string& out) {
    for (const Header& h : r.headers) {
        if (h.name.size() != 6 || strncasecmp(h.name.data(), "Cookie", 6) != 0) {
            continue;
        }
        std::string_view v = h.value;
        while (!v.empty()) {
            size_t end = v.find(';');
            std::string_view pair = v.substr(0, end);
            while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t')) {
                pair.remove_prefix(1);
            }
            size_t eq = pair.find('=');
            if (eq == name.size() && strncasecmp(pair.data(), name.data(), name.size()) == 0) {
                std::string_view value = pair.substr(eq + 1);
                while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
                    value.remove_suffix(1);
                }
                out.append(value);
                return true;
            }
            v = end == std::string_view::npos ? std::string_view() : v.substr(end + 1);
        }
    }
    return false;
}

/// Whether the header `name` is what $..._<arg> names: any case, '-' read as '_'.
bool names_header(std::string_view name, std::string_view arg) {
    if (name.size() != arg.size()) {
        return false;
    }
    for (size_t i = 0; i < arg.size(); i++) {
        char a =
            name[i] == '-' ? '_' : static_cast<char>(tolower(static_cast<unsigned char>(name[i])));
        if (a != tolower(static_cast<unsigned char>(arg[i]))) {
            return false;
        }
    }
    return true;
}

/// $upstream_http_name: a header field of the last upstream response (the proxy keeps them
/// when the configuration reads such a variable); several of one name are joined with ", "
/// ("; " for Set-Cookie's neighbour Cookie), as nginx 1.23+.
bool get_upstream_http(const Request& r, std::string_view arg, std::string& out) {
    const UpstreamLog* u = r.ctx<UpstreamLog>();
    if (u == nullptr) {
        return false;
    }
    bool found = false;
    for (const auto& [name, value] : u->headers) {
        if (names_header(name, arg)) {
            if (found) {
                out += names_header("cookie", arg) ? "; " : ", ";
            }
            out += value;
            found = true;
        }
    }
    return found;
}

/// $sent_http_name: a header of the response (the ones halo writes itself included).
bool get_sent_http(const Request& r, std::string_view arg, std::string& out) {
    if (names_header("content-type", arg)) {
        out += r.out.content_type;
        return !r.out.content_type.empty();
    }
    if (names_header("content-length", arg)) {
        if (!r.out.content_length || r.out.header_only) {
            return false;
        }
        out += std::to_string(*r.out.content_length);
        return true;
    }
    if (names_header("connection", arg)) {
        if (!r.head_sent) {
            return false;
        }
        out += r.out.upgrade ? "upgrade" : r.keepalive ? "keep-alive" : "close";
        return true;
    }
    bool found = false;
    for (const auto& [name, value] : r.out_headers) {
        if (names_header(name, arg)) {
            if (found) {
                out += names_header("cache-control", arg) ? ", " : "; ";  // nginx joins these
            }
            out += value;
            found = true;
            if (!names_header("cache-control", arg) && !names_header("link", arg)) {
                break;
            }
        }
    }
    return found;
}

/// $sent_trailer_name: halo sends no trailers, so there is never a value.
bool get_sent_trailer(const Request&, std::string_view, std::string&) {
    return false;
}

bool get_binary_remote_addr(const Request& r, std::string_view, std::string& out) {
    const sockaddr* sa = r.peer.get();
    if (sa->sa_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
        out.append(reinterpret_cast<const char*>(&in->sin_addr), 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
        out.append(reinterpret_cast<const char*>(&in6->sin6_addr), 16);
        return true;
    }
    return false;
}

/// $tcpinfo_rtt, _rttvar (microseconds), _snd_cwnd, _rcv_space, from TCP_INFO.
template <uint32_t tcp_info::*Field>
bool get_tcpinfo(const Request& r, std::string_view, std::string& out) {
    struct tcp_info ti {};
    socklen_t len = sizeof(ti);
    if (r.session == nullptr ||
        getsockopt(r.session->fd(), IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) {
        return false;
    }
    out += std::to_string(ti.*Field);
    return true;
}

bool get_pipe(const Request& r, std::string_view, std::string& out) {
    out += r.pipelined ? "p" : ".";
    return true;
}

bool get_connection_time(const Request& r, std::string_view, std::string& out) {
    if (r.session == nullptr) {
        return false;
    }
    append_seconds_ms(out, std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::steady_clock::now() - r.session->accepted()));
    return true;
}

bool get_request_completion(const Request& r, std::string_view, std::string& out) {
    if (r.completed) {
        out += "OK";
    }
    return true;
}

/// $request_body: the body read into memory (not one in a temporary file), as nginx.
bool get_request_body(const Request& r, std::string_view, std::string& out) {
    if (!r.body || r.body->in_file()) {
        return false;
    }
    out += r.body->memory;
    return true;
}

/// $request_body_file: the name of the body's temporary file (client_body_in_file_only, or
/// a body larger than client_body_buffer_size: then already unlinked, as in nginx); none for
/// a body in memory.
bool get_request_body_file(const Request& r, std::string_view, std::string& out) {
    if (!r.body || !r.body->in_file()) {
        return false;
    }
    out += r.body->path;
    return true;
}

/// $limit_rate: the response's rate (0 until it is decided: set, or the head sent).
bool get_limit_rate(const Request& r, std::string_view, std::string& out) {
    out += std::to_string(r.limit_rate.value_or(0));
    return true;
}

/// `set $limit_rate 100k;`: the rate of this request's response (nginx's message when the
/// value is not a size, which is then ignored).
void set_limit_rate(Request& r, std::string_view value) {
    auto size = core::parse_size(value);
    if (!size) {
        log_error(r, core::LogLevel::kError, "invalid $limit_rate \"%s\"",
                  escape_log(value).c_str());
        return;
    }
    r.limit_rate = size->bytes;
}

/// $nginx_version: halo's own version (it is not nginx; a config that prints it shows halo's).
bool get_nginx_version(const Request&, std::string_view, std::string& out) {
    out += HALO_VERSION;
    return true;
}

constexpr VariableDef kMore[] = {
    {"request_id", &get_request_id},
    {"binary_remote_addr", &get_binary_remote_addr},
    {"tcpinfo_rtt", &get_tcpinfo<&tcp_info::tcpi_rtt>},
    {"tcpinfo_rttvar", &get_tcpinfo<&tcp_info::tcpi_rttvar>},
    {"tcpinfo_snd_cwnd", &get_tcpinfo<&tcp_info::tcpi_snd_cwnd>},
    {"tcpinfo_rcv_space", &get_tcpinfo<&tcp_info::tcpi_rcv_space>},
    {"pipe", &get_pipe},
    {"connection_time", &get_connection_time},
    {"request_completion", &get_request_completion},
    {"request_body", &get_request_body},
    {"request_body_file", &get_request_body_file},
    {"limit_rate", &get_limit_rate, false, &set_limit_rate},
    {"nginx_version", &get_nginx_version},
    {"cookie_", &get_cookie, true},
    {"sent_http_", &get_sent_http, true},
    {"upstream_http_", &get_upstream_http, true},
    {"sent_trailer_", &get_sent_trailer, true},
};

}  // namespace

std::span<const VariableDef> more_core_variables() {
    return kMore;
}

}  // namespace http
