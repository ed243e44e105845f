// A stream session: the client's TCP connection (or UDP address), the phase engine that runs
// the modules' handlers over it, the preread of client bytes, and its end (log phase).
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/clock.h"
#include "core/log.h"
#include "event/event_module.h"
#include "event/proxy_protocol.h"
#include "event/runtime.h"
#include "stream/stream.h"

namespace stream {
namespace {

size_t g_sessions = 0;

/// The start of what a client sent, for a log line: printable ASCII kept, the rest as \xHH.
std::string printable_prefix(std::string_view in) {
    std::string out;
    for (unsigned char c : in.substr(0, 107)) {
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out += static_cast<char>(c);
        } else {
            char hex[5];
            snprintf(hex, sizeof(hex), "\\x%02X", c);
            out += hex;
        }
    }
    return out;
}

int64_t wall_ms() {
    return std::chrono::duration_cast<Millis>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

size_t active_sessions() {
    return g_sessions;
}

// ---- Port ----

Port::Port(const ServerBlock& server, const Listen& listen, core::Listening* listening)
    : server_(server), listen_(listen), listening_(listening) {}

bool Port::wants_nodelay() const {
    return !udp() && server_.conf<StreamSrvConf>().tcp_nodelay.value_or(true);
}

void Port::on_accept(int fd, const core::SockAddr& peer) {
    auto* s = new Session(*this, peer, fd);  // owns itself; freed after finalize()
    s->begin();
}

void Port::forget(const Session& s) {
    auto it =
        udp_sessions_.find(std::string(reinterpret_cast<const char*>(&s.peer.storage), s.peer.len));
    if (it != udp_sessions_.end() && it->second == &s) {
        udp_sessions_.erase(it);
    }
}

void Port::on_datagrams(int fd) {
    // At most a few datagrams per wake-up, so that one busy socket does not starve the
    // others (level-triggered: the loop comes back for the rest).
    static char buf[65536];
    ev::Runtime& rt = ev::Runtime::current();
    auto max_sessions = static_cast<size_t>(*rt.cycle().conf<ev::EventConf>().worker_connections);
    for (int i = 0; i < 32; i++) {
        core::SockAddr peer;
        peer.len = sizeof(peer.storage);
        ssize_t n = ::recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, peer.get(), &peer.len);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                HALO_LOG(kError, "recvfrom() on %s failed (%d: %s)", listen_.addr.text().c_str(),
                         errno, strerror(errno));
            }
            return;
        }
        std::string key(reinterpret_cast<const char*>(&peer.storage), peer.len);
        std::string_view data(buf, static_cast<size_t>(n));
        auto it = udp_sessions_.find(key);
        if (it != udp_sessions_.end() && !it->second->finalized()) {
            Session& s = *it->second;
            s.bytes_received += data.size();
            if (s.content) {
                s.content->on_client_datagram(data);
            } else {
                s.preread.append(data);  // still in its phases (access...)
            }
            continue;
        }
        if (rt.shutting_down()) {
            continue;  // a quitting worker takes no new session
        }
        if (rt.active_connections() >= max_sessions) {
            // Every session holds a socket to its peer: past worker_connections a flood of
            // client addresses would take every descriptor. Dropped, as nginx drops them.
            int64_t now_s = core::steady_ms() / 1000;
            if (now_s != full_logged_s_) {
                full_logged_s_ = now_s;
                HALO_LOG(kAlert,
                         "%zu worker_connections are not enough, datagrams from new clients of "
                         "%s dropped",
                         max_sessions, listen_.addr.text().c_str());
            }
            continue;
        }
        auto* s = new Session(*this, peer, -1);
        s->udp_fd = fd;
        s->preread.assign(data);
        s->bytes_received = data.size();
        udp_sessions_[key] = s;
        s->begin();
    }
}

// ---- Session ----

Session::Session(Port& p, const core::SockAddr& client_addr, int fd)
    : port(p),
      server(p.server()),
      id(ev::Runtime::current().next_connection_id()),
      peer(client_addr),
      udp(fd < 0),
      start(core::steady_now()),
      start_wall_ms(wall_ms()) {
    g_sessions++;
    ev::Runtime::current().connection_opened();
    if (fd >= 0) {
        client = std::make_unique<ev::Connection>(ev::Runtime::current().loop(), fd, peer, id);
        client->set_handler(this);
    }
}

Session::~Session() {
    g_sessions--;
}

const core::SockAddr& Session::local() {
    if (!have_local_) {
        have_local_ = true;
        if (port.listen().unix_path.empty() && !udp && client) {
            local_.len = sizeof(local_.storage);
            if (getsockname(client->fd(), local_.get(), &local_.len) != 0) {
                local_ = port.listen().addr;
            }
        } else {
            local_ = port.listen().addr;
        }
    }
    return local_;
}

void Session::begin() {
    if (client) {
        client->start(false);
        if (port.listen().proxy_protocol) {
            reading_proxy_header_ = true;
            client->set_timeout(*srv_conf<StreamSrvConf>().proxy_protocol_timeout);
            on_readable();
            return;
        }
    }
    run_phases();
}

void Session::resume() {
    if (!finalized_) {
        run_phases();
    }
}

void Session::run_phases() {
    StreamMainConf& main = ev::Runtime::current().cycle().conf<StreamMainConf>();
    while (engine_index_ < main.engine.size()) {
        const auto& e = main.engine[engine_index_];
        Flow f = e.handler(*this);
        if (finalized_) {
            return;
        }
        switch (f) {
            case Flow::kDeclined:
                engine_index_++;
                break;
            case Flow::kNext:
                engine_index_ = e.next;
                break;
            case Flow::kDone:
                finalize(status);
                return;
            case Flow::kAgain:
                if (udp || !client) {
                    engine_index_++;  // a datagram is all there is
                    break;
                }
                read_preread();
                return;
            case Flow::kSuspend:
                return;
        }
    }
    const auto& conf = srv_conf<StreamSrvConf>();
    if (conf.content == nullptr) {
        HALO_LOG(kError, "no handler for server in stream server %s", server.where.c_str());
        finalize(500);
        return;
    }
    if (client) {
        client->clear_timeout();
    }
    conf.content(*this);
}

void Session::read_preread() {
    const auto& conf = srv_conf<StreamSrvConf>();
    if (!reading_preread_) {
        reading_preread_ = true;
        client->set_timeout(*conf.preread_timeout);
    }
    on_readable();
}

void Session::on_readable() {
    if (finalized_ || (!reading_preread_ && !reading_proxy_header_)) {
        return;
    }
    if (reading_proxy_header_ && port.listen().ssl) {
        // The TLS layer must get every byte after the header: peek at it, then read it exactly.
        char head[ev::kMaxProxyHeader];
        size_t n = 0;
        ev::IoStatus st = client->peek(std::span<char>(head, sizeof(head)), n);
        if (st == ev::IoStatus::kAgain) {
            return;
        }
        if (st != ev::IoStatus::kOk) {
            finalize(400);
            return;
        }
        preread.assign(head, n);
        bytes_received += n;
        size_t before = preread.size();
        if (!read_proxy_header()) {
            preread.clear();
            bytes_received -= n;
            return;
        }
        size_t length = before - preread.size();
        preread.clear();
        bytes_received -= n - length;
        ev::Buffer taken;
        if (client->read(taken, length) != ev::IoStatus::kOk || taken.view().size() != length) {
            finalize(400);
            return;
        }
        reading_proxy_header_ = false;
        client->clear_timeout();
        run_phases();
        return;
    }
    const auto& conf = srv_conf<StreamSrvConf>();
    size_t limit = reading_proxy_header_ ? ev::kMaxProxyHeader : conf.preread_buffer_size->bytes;
    if (preread.size() >= limit) {
        HALO_LOG(kError, "preread buffer full while reading from client %s", peer.text().c_str());
        finalize(400);
        return;
    }
    ev::Buffer buf;
    ev::IoStatus st = client->read(buf, limit - preread.size());
    if (st == ev::IoStatus::kAgain) {
        return;
    }
    if (st != ev::IoStatus::kOk) {
        // The client left before the content phase.
        finalize(reading_proxy_header_ ? 400 : 200);
        return;
    }
    std::string_view got = buf.view();
    // not yet $bytes_received: these count once the content module passes them on (nginx
    // peeks at them; bytes of a refused PROXY header or of a full buffer never count)
    preread.append(got);
    if (reading_proxy_header_) {
        if (!read_proxy_header()) {
            return;
        }
        reading_proxy_header_ = false;
        client->clear_timeout();
        run_phases();
        return;
    }
    run_phases();  // the preread handler looks again
}

bool Session::read_proxy_header() {
    ev::ProxyHeader h;
    size_t length = 0;
    ev::ProxyParse r = ev::parse_proxy_header(preread, h, length);
    if (r == ev::ProxyParse::kIncomplete) {
        return false;
    }
    if (r == ev::ProxyParse::kBad) {
        HALO_LOG(kError, "broken header: \"%s\" while reading PROXY protocol from client %s",
                 printable_prefix(preread).c_str(), peer.text().c_str());
        finalize(400);
        return false;
    }
    if (h.has_addrs) {
        proxy_protocol_addr = h.src.host_text();
        proxy_protocol_port = std::to_string(h.src.port());
    }
    preread.erase(0, length);
    return true;
}

void Session::on_timeout() {
    if (finalized_) {
        return;
    }
    if (reading_proxy_header_) {
        HALO_LOG(kError, "client timed out while reading PROXY protocol header from %s",
                 peer.text().c_str());
        finalize(400);
        return;
    }
    if (reading_preread_) {
        // nginx: the session ends (status 200) when the client said too little in time.
        core::log_conn(core::LogLevel::kInfo, id,
                       "client timed out in the preread phase, "
                       "client: %s",
                       peer.host_text().c_str());
        finalize(200);
    }
}

void Session::on_error() {
    finalize(200);
}

bool Session::send_datagram(std::string_view data) {
    ssize_t n = ::sendto(udp_fd, data.data(), data.size(), MSG_DONTWAIT, peer.get(), peer.len);
    if (n < 0) {
        HALO_LOG(kError, "sendto() to client %s failed (%d: %s)", peer.text().c_str(), errno,
                 strerror(errno));
        return false;
    }
    bytes_sent += static_cast<uint64_t>(n);
    return true;
}

void Session::finalize(int final_status) {
    if (finalized_) {
        return;
    }
    finalized_ = true;
    status = final_status;
    ev::Runtime& rt = ev::Runtime::current();
    StreamMainConf& main = rt.cycle().conf<StreamMainConf>();
    for (PhaseHandler h : main.log_handlers) {
        h(*this);
    }
    if (udp) {
        port.forget(*this);
    }
    if (client) {
        client->clear_timeout();
    }
    rt.connection_closed();
    // The content module's connections may be in a callback now: free everything later.
    rt.loop().post([this] {
        content.reset();
        client.reset();
        delete this;
    });
}

}  // namespace stream
