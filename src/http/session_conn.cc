// What the location's connection directives do to a client connection: tcp_nopush (TCP_CORK
// around a head and its file), tcp_nodelay, sendfile_max_chunk, keepalive_time,
// keepalive_disable (msie6, safari) and reset_timedout_connection (SO_LINGER 0); and the PROXY
// protocol header that comes first on a `listen ... proxy_protocol` port, plain or TLS.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "core/log.h"
#include "http/session.h"

namespace http {
namespace {

bool contains(std::string_view s, std::string_view what) {
    return s.find(what) != std::string_view::npos;
}

/// nginx's reading of a User-Agent: MSIE 4 to 6 (6 without "SV1") is "msie6", unless it is
/// Opera; Safari on Mac OS X, unless it is Gecko or Chrome.
void classify_agent(std::string_view ua, bool& msie6, bool& safari) {
    msie6 = false;
    safari = false;
    size_t at = ua.find("MSIE ");
    bool msie = false;
    if (at != std::string_view::npos && at + 7 < ua.size()) {
        msie = true;
        std::string_view v = ua.substr(at + 5);  // "6.0; ..."
        if (v[1] == '.') {
            if (v[0] == '4' || v[0] == '5') {
                msie6 = true;
            } else if (v[0] == '6' && !contains(ua.substr(at + 8), "SV1")) {
                msie6 = true;
            }
        }
    }
    bool opera = contains(ua, "Opera");
    if (opera) {
        msie = false;
        msie6 = false;
    }
    if (!msie && !opera && !contains(ua, "Gecko/") && !contains(ua, "Chrome/")) {
        safari = contains(ua, "Safari/") && contains(ua, "Mac OS X");
    }
}

}  // namespace

void Http1Session::connection_rules(Request& r, const HttpLocConf& lc) {
    const ConnLocConf& c = lc.conn;
    if (r.keepalive) {
        if (ev::Clock::now() - started_ > *c.keepalive_time) {
            r.keepalive = false;  // nginx: the connection has served long enough
        } else if (*c.keepalive_disable != 0) {
            if (const Header* ua = r.find_header("User-Agent")) {
                bool msie6 = false;
                bool safari = false;
                classify_agent(ua->value, msie6, safari);
                // MSIE may wait after a POST answered on a keep-alive connection; Safari may
                // send a POST on a keep-alive connection the server has just closed.
                if ((msie6 && r.method == "POST" &&
                     (*c.keepalive_disable & kKeepaliveDisableMsie6)) ||
                    (safari && (*c.keepalive_disable & kKeepaliveDisableSafari))) {
                    r.keepalive = false;
                }
            }
        }
    }
    if (*c.tcp_nodelay) {
        if (!nodelay_) {
            nodelay_ = conn_.set_tcp_option(TCP_NODELAY, true);
        }
        nodelay_asked_ = nodelay_;
    } else if (nodelay_ && !nodelay_asked_) {
        // Set on the listening socket, so that most connections need no setsockopt of their
        // own; this location wants Nagle's algorithm (once on for a location, it stays on).
        conn_.set_tcp_option(TCP_NODELAY, false);
        nodelay_ = false;
    }
}

void Http1Session::write_file(int fd, uint64_t offset, uint64_t len, bool use_sendfile) {
    const ConnLocConf& c = loc().conn;
    if (use_sendfile && !secure()) {
        if (*c.tcp_nopush && !corked_) {
            // The head (written just before, with MSG_MORE) and the file leave in full
            // segments; uncork() pushes the last one out once the response is done.
            corked_ = conn_.set_tcp_option(TCP_CORK, true);
        }
        conn_.set_sendfile_max_chunk(c.sendfile_max_chunk->bytes);
    }
    conn_.send_file(fd, offset, len, use_sendfile);
}

void Http1Session::uncork() {
    if (corked_) {
        conn_.set_tcp_option(TCP_CORK, false);
        corked_ = false;
    }
}

bool Http1Session::start_tls() {
    std::unique_ptr<ev::Transport> t = port_.tls()->accept(conn_.fd(), conn_.id());
    if (t == nullptr) {
        close();
        return false;
    }
    conn_.set_transport(std::move(t));
    return true;
}

void Http1Session::broken_proxy_header(std::string_view seen) {
    // nginx's message; the bytes are shown as far as they are text.
    std::string shown(seen.substr(0, std::min<size_t>(seen.size(), 107)));
    core::log_conn(core::LogLevel::kError, conn_.id(),
                   "broken header: \"%s\" while reading PROXY protocol, client: %s",
                   escape_log(shown).c_str(), conn_.peer().host_text().c_str());
    close();
}

bool Http1Session::step_proxy_header() {
    if (port_.tls() != nullptr) {
        return step_proxy_header_tls();
    }
    if (!in_.empty()) {
        ProxyHeader h;
        size_t used = 0;
        switch (parse_proxy_header(in_.view(), h, used)) {
            case ProxyParse::kDone:
                proxy_ = std::make_unique<ProxyHeader>(h);
                proxy_wanted_ = false;
                in_.consume(used);
                return true;
            case ProxyParse::kBad:
                broken_proxy_header(in_.view());
                return false;
            case ProxyParse::kIncomplete:
                break;
        }
    }
    // v2 may carry TLVs after the addresses: up to 64k in all (a 16-bit length).
    if (!read_more(16 + 65535)) {
        return false;
    }
    ev::Runtime::current().clear_idle(this);
    return true;
}

// `listen ... ssl proxy_protocol`: the header comes in clear before the TLS handshake. As
// nginx does, it is peeked and parsed from what arrived with it (up to 4k), then read exactly,
// so that the handshake's bytes stay in the socket for the TLS layer; a header that did not
// arrive whole with the connection's first bytes is a broken one.
bool Http1Session::step_proxy_header_tls() {
    std::array<char, 4096> seen;
    size_t n = 0;
    switch (conn_.peek(seen, n)) {
        case ev::IoStatus::kOk:
            break;
        case ev::IoStatus::kAgain:
            return false;
        case ev::IoStatus::kEof:
        case ev::IoStatus::kError:
            close();
            return false;
    }
    ev::Runtime::current().clear_idle(this);
    ProxyHeader h;
    size_t used = 0;
    std::string_view view(seen.data(), n);
    if (parse_proxy_header(view, h, used) != ProxyParse::kDone) {
        broken_proxy_header(view);
        return false;
    }
    if (conn_.read(in_, used) != ev::IoStatus::kOk || in_.size() != used) {
        close();
        return false;
    }
    in_.consume(used);
    proxy_ = std::make_unique<ProxyHeader>(h);
    proxy_wanted_ = false;
    return start_tls();
}

void Http1Session::reset_on_close(const HttpLocConf& lc) {
    if (!*lc.conn.reset_timedout_connection) {
        return;
    }
    // close() then sends a reset and drops what is unsent: no FIN_WAIT for a dead client.
    linger l{1, 0};
    setsockopt(conn_.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

}  // namespace http
