// A proxied UDP session: the client's datagrams go to one peer on a connected UDP socket, the
// peer's replies go back to the client from the listening socket. The session ends after
// proxy_responses replies (when set), or proxy_timeout without traffic; after
// proxy_requests datagrams a client's next datagram starts a new session (nginx). An ICMP
// "port unreachable" before any reply fails the peer and the datagrams go to the next one.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/clock.h"
#include "core/log.h"
#include "event/runtime.h"
#include "stream/modules/proxy/stream_proxy.h"

namespace mod::stream_proxy {
namespace {

class UdpProxy final : public stream::Content, PeerAttempts {
  public:
    UdpProxy(stream::Session& s, const ProxyConf& conf, const upstream::Group& group)
        : PeerAttempts(s, conf, group) {}
    ~UdpProxy() override {
        release(upstream::Outcome::kOk);
        close_socket();
    }

    void attempt();
    void on_client_datagram(std::string_view data) override;

  private:
    void on_readable();
    void on_timeout();
    bool send_upstream(std::string_view data);
    void failed(const std::string& what, int err);
    void close_socket();
    void end(int status);
    /// nginx's test for the end of a UDP session: with proxy_requests, not before that many
    /// datagrams came; then once each had its proxy_responses replies (never when unset; at
    /// once with proxy_responses 0).
    bool satisfied() const {
        int64_t requests = requests_ + 1;  // the first datagram counts
        if (*c_.requests > 0 && requests < *c_.requests) {
            return false;
        }
        return c_.responses && responses_ >= *c_.responses * requests;
    }
    int fd_ = -1;
    std::unique_ptr<ev::IoWatcher> io_;
    static void timed_out(void* self) { static_cast<UdpProxy*>(self)->on_timeout(); }
    void arm() { timer_.arm(ev::Runtime::current().loop(), *c_.timeout); }
    ev::Deadline timer_{&UdpProxy::timed_out, this};
    std::vector<std::string> sent_;  // datagrams sent before the first reply (for a retry)
    int64_t requests_ = 0;
    int64_t responses_ = 0;
    bool done_ = false;
};

void UdpProxy::close_socket() {
    io_.reset();
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
}

void UdpProxy::end(int status) {
    if (done_) {
        return;
    }
    done_ = true;
    timer_.cancel();
    release(responses_ > 0 || status == 200 ? upstream::Outcome::kOk : upstream::Outcome::kFailed);
    s_.finalize(status);
}

void UdpProxy::attempt() {
    if (!acquire_peer()) {
        end(502);
        return;
    }
    s_.add_upstream_attempt(peer_.server->addr.text());
    const core::SockAddr& to = peer_.server->addr;
    fd_ = ::socket(to.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
        log(core::LogLevel::kAlert, std::string("socket() failed (") + std::to_string(errno) +
                                        ": " + strerror(errno) + ")");
        end(500);
        return;
    }
    if (c_.bind && ::bind(fd_, c_.bind->get(), c_.bind->len) != 0) {
        log(core::LogLevel::kCrit, "bind(" + c_.bind->text() + ") failed (" +
                                       std::to_string(errno) + ": " + strerror(errno) + ")");
        end(500);
        return;
    }
    if (::connect(fd_, to.get(), to.len) != 0) {
        failed("connect() failed", errno);
        return;
    }
    s_.upstream_connect_time = "0.000";
    io_ = ev::Runtime::current().loop().make_io(fd_, ev::kRead, false,
                                                [this](uint32_t) { on_readable(); });
    io_->enable();
    arm();
    // The first datagram, and any that came while the session ran its phases (or, on a retry,
    // every datagram the failed peer was sent).
    std::vector<std::string> pending;
    if (sent_.empty()) {
        if (!s_.preread.empty()) {
            pending.push_back(std::move(s_.preread));
            s_.preread.clear();
        }
    } else {
        pending.swap(sent_);
    }
    for (const std::string& d : pending) {
        if (!send_upstream(d)) {
            return;
        }
    }
    if (satisfied()) {
        end(200);  // proxy_responses 0: no reply is expected
    }
}

bool UdpProxy::send_upstream(std::string_view data) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_DONTWAIT);
    if (n < 0) {
        if (errno == ECONNREFUSED) {
            failed("send() failed", errno);
            return false;
        }
        log(core::LogLevel::kError, std::string("send() failed (") + std::to_string(errno) + ": " +
                                        strerror(errno) + ") while proxying");
        return true;  // a datagram lost, as the network may lose one
    }
    s_.upstream_bytes_sent += static_cast<uint64_t>(n);
    if (responses_ == 0) {
        sent_.emplace_back(data);
    }
    return true;
}

void UdpProxy::on_client_datagram(std::string_view data) {
    if (done_) {
        return;
    }
    requests_++;
    if (fd_ >= 0) {
        send_upstream(data);
    } else {
        s_.preread.append(data);
    }
    if (*c_.requests > 0 && requests_ + 1 >= *c_.requests) {
        s_.port.forget(s_);  // the client's next datagram starts a new session
    }
    if (done_) {
        return;
    }
    if (fd_ >= 0 && satisfied()) {
        end(200);
        return;
    }
    arm();
}

void UdpProxy::failed(const std::string& what, int err) {
    log(core::LogLevel::kError,
        what + " (" + std::to_string(err) + ": " + strerror(err) + ") while proxying connection");
    release(upstream::Outcome::kFailed);
    close_socket();
    if (responses_ != 0 || !may_try_next()) {
        end(502);
        return;
    }
    attempt();
}

void UdpProxy::on_readable() {
    static char buf[65536];
    for (int i = 0; i < 64 && !done_ && fd_ >= 0; i++) {
        ssize_t n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                return;
            }
            failed("recv() failed", errno);  // ECONNREFUSED: ICMP port unreachable
            return;
        }
        if (responses_ == 0) {
            sent_.clear();
        }
        responses_++;
        s_.upstream_bytes_received += static_cast<uint64_t>(n);
        s_.send_datagram(std::string_view(buf, static_cast<size_t>(n)));
        arm();
        if (satisfied()) {
            end(200);
            return;
        }
    }
}

void UdpProxy::on_timeout() {
    if (done_) {
        return;
    }
    if (c_.responses && responses_ < *c_.responses * (requests_ + 1)) {
        // fewer replies than expected (nginx: 502; without proxy_responses, or with every
        // reply in, a timed out session ends well)
        log(core::LogLevel::kError,
            "upstream timed out (110: Connection timed out) while "
            "proxying connection");
        end(502);
        return;
    }
    end(200);
}

}  // namespace

void start_udp(stream::Session& s, const ProxyConf& conf, const upstream::Group& group) {
    auto p = std::make_unique<UdpProxy>(s, conf, group);
    UdpProxy* proxy = p.get();
    if (*conf.requests == 1) {
        s.port.forget(s);  // proxy_requests 1: every datagram is a session of its own
    }
    s.content = std::move(p);
    proxy->attempt();
}

}  // namespace mod::stream_proxy
