// One round of peer page fetches: a non-blocking TCP connection per peer driven by the
// worker's loop, the request written when it connects, the response read to its end (HTTP/1.0:
// the peer closes), all bounded by one timeout per peer.
#include "modules/status/cluster_fetch.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/clock.h"
#include "event/connection.h"

namespace mod::status {

namespace {
constexpr size_t kMaxPage = 8u << 20;  // a peer's page larger than this is refused
}

/// One GET of a peer's page. `done` is called once, from the loop (never from the
/// constructor), with the body of a 200 response or with an error.
class PeerFetch {
  public:
    using Done = std::function<void(std::string body, std::string error)>;

    PeerFetch(ev::Loop& loop, const PeerUrl& url, std::chrono::milliseconds timeout, Done done)
        : loop_(loop), out_(peer_request(url)), done_(std::move(done)) {
        timer_ = loop_.make_timer([this] { fail("timed out"); });
        timer_->arm(timeout);
        int err = 0;
        fd_ = ev::Connection::open_connecting(url.addr, err);
        if (fd_ < 0) {
            std::string why = std::string("connect() failed (") + std::to_string(err) + ": " +
                              strerror(err) + ")";
            loop_.post([this, why, alive = alive_] {
                if (*alive) {
                    fail(why);
                }
            });
            return;
        }
        io_ = loop_.make_io(fd_, ev::kRead | ev::kWrite, true, [this](uint32_t) { on_io(); });
        io_->enable();
    }
    ~PeerFetch() {
        *alive_ = false;
        close_socket();
    }
    PeerFetch(const PeerFetch&) = delete;
    PeerFetch& operator=(const PeerFetch&) = delete;

  private:
    void close_socket() {
        io_.reset();
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }
    void finish(std::string body, std::string error) {
        if (finished_) {
            return;
        }
        finished_ = true;
        timer_->cancel();
        close_socket();
        done_(std::move(body), std::move(error));
    }
    void fail(const std::string& why) { finish({}, why); }
    static std::string sys_error(const char* call, int err) {
        return std::string(call) + " failed (" + std::to_string(err) + ": " + strerror(err) + ")";
    }
    void on_io() {
        if (finished_) {
            return;
        }
        if (!connected_) {
            int err = 0;
            socklen_t len = sizeof(err);
            if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
                err = errno;
            }
            if (err == EINPROGRESS || err == EALREADY) {
                return;
            }
            if (err != 0) {
                return fail(sys_error("connect()", err));
            }
            connected_ = true;
        }
        while (sent_ < out_.size()) {
            ssize_t n = ::send(fd_, out_.data() + sent_, out_.size() - sent_, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    return;
                }
                if (errno == ENOTCONN) {
                    return;  // not connected yet: wait for writability
                }
                return fail(sys_error("send()", errno));
            }
            sent_ += static_cast<size_t>(n);
        }
        char buf[16384];
        for (;;) {
            ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
            if (n > 0) {
                in_.append(buf, static_cast<size_t>(n));
                if (in_.size() > kMaxPage) {
                    return fail("the page is too large");
                }
                continue;
            }
            if (n == 0) {
                return complete();
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return;
            }
            if (errno == EINTR) {
                continue;
            }
            return fail(sys_error("recv()", errno));
        }
    }
    void complete() {
        size_t head = in_.find("\r\n\r\n");
        if (in_.rfind("HTTP/1.", 0) != 0 || head == std::string::npos || in_.size() < 12) {
            return fail("not an HTTP response");
        }
        std::string status = in_.substr(9, 3);
        if (status != "200") {
            size_t eol = in_.find("\r\n");
            return fail("answered \"" + in_.substr(9, eol - 9) + "\"");
        }
        finish(in_.substr(head + 4), {});
    }

    ev::Loop& loop_;
    std::string out_;
    Done done_;
    int fd_ = -1;
    std::unique_ptr<ev::IoWatcher> io_;
    std::unique_ptr<ev::Timer> timer_;
    size_t sent_ = 0;
    std::string in_;
    bool connected_ = false;
    bool finished_ = false;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

PeerSet::PeerSet(std::vector<PeerUrl> urls, std::chrono::milliseconds timeout,
                 std::chrono::milliseconds valid)
    : urls_(std::move(urls)), timeout_(timeout), valid_(valid) {}

PeerSet::~PeerSet() {
    *alive_ = false;
}

bool PeerSet::fresh() const {
    return outstanding_ == 0 && results_steady_ms_ >= 0 &&
           core::steady_ms() - results_steady_ms_ < valid_.count();
}

uint64_t PeerSet::wait(ev::Loop& loop, std::function<void()> ready) {
    uint64_t token = next_token_++;
    waiters_.emplace(token, std::move(ready));
    if (outstanding_ == 0) {
        start_round(loop);
    }
    return token;
}

void PeerSet::start_round(ev::Loop& loop) {
    loop_ = &loop;
    rounds_++;
    pending_.assign(urls_.size(), NodeView{});
    outstanding_ = urls_.size();
    fetches_.clear();
    for (size_t i = 0; i < urls_.size(); i++) {
        pending_[i].url = urls_[i].text;
        fetches_.push_back(std::make_unique<PeerFetch>(
            loop, urls_[i], timeout_, [this, i](std::string body, std::string error) {
                one_done(i, std::move(body), std::move(error));
            }));
    }
}

void PeerSet::one_done(size_t index, std::string body, std::string error) {
    NodeView& n = pending_[index];
    if (error.empty()) {
        if (auto page = parse_json(body)) {
            node_from_page(*page, n);
        } else {
            n.error = "the page is not JSON";
        }
    } else {
        n.error = std::move(error);
    }
    if (--outstanding_ > 0) {
        return;
    }
    results_ = std::move(pending_);
    pending_.clear();
    results_steady_ms_ = core::steady_ms();
    // The fetches are on the stack (this is one's callback): freed after it returns.
    auto done = std::make_shared<std::vector<std::unique_ptr<PeerFetch>>>(std::move(fetches_));
    fetches_.clear();
    // The waiters are told from the loop, one at a time: one may go away (cancel) while
    // another is told.
    loop_->post([this, done, alive = alive_] {
        done->clear();
        while (*alive && !waiters_.empty()) {
            auto it = waiters_.begin();
            std::function<void()> ready = std::move(it->second);
            waiters_.erase(it);
            ready();
        }
    });
}

}  // namespace mod::status
