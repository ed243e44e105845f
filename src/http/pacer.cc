// limit_rate / limit_rate_after / $limit_rate: the Pacer (pacer.h) and where the request
// decides whether its response is paced.
#include "http/pacer.h"

#include <unistd.h>

#include <algorithm>
#include <utility>

#include "core/clock.h"
#include "event/runtime.h"
#include "http/session.h"

namespace http {

namespace {

// A pass hands over at most 1/16 of a second's worth: an even pace (a pause of ~62 ms
// between passes), and a download ends within 1/16 s of what the rate allows. Not less than
// a few segments, so that a low rate does not mean many tiny writes.
constexpr uint64_t kPassesPerSecond = 16;
constexpr uint64_t kMinPiece = 4096;
// How far the pace may fall behind its schedule and catch up (late timers, a client that
// was slow for a moment): a few passes.
constexpr std::chrono::milliseconds kSlack{250};
// While the session still holds what it was given, the pacer looks again this much later.
constexpr std::chrono::milliseconds kBusyRetry{20};

}  // namespace

void Request::PacerDeleter::operator()(Pacer* p) const {
    delete p;
}

void Request::start_pacing(const HttpLocConf& lc) {
    // nginx 1.17: the rate set for the request ($limit_rate, X-Accel-Limit-Rate), else
    // limit_rate evaluated once, when the response starts; limit_rate_after likewise.
    if (!limit_rate) {
        limit_rate = lc.limit_rate ? lc.limit_rate->eval(*this) : 0;
    }
    if (*limit_rate == 0 || out.header_only) {
        return;
    }
    uint64_t after = lc.limit_rate_after ? lc.limit_rate_after->eval(*this) : 0;
    pacer_.reset(new Pacer(*this, *limit_rate, after, lc.conn.sendfile_max_chunk->bytes));
}

Pacer::Pacer(Request& r, uint64_t rate, uint64_t after, uint64_t max_chunk)
    : r_(r), piece_(std::max(rate / kPassesPerSecond, kMinPiece)), max_chunk_(max_chunk) {
    using namespace std::chrono;
    limit_.rate = rate;
    limit_.after = after;
    limit_.start_s = duration_cast<seconds>(r.start.time_since_epoch()).count();
    // The head counts, as in nginx (c->sent); it leaves with the first body bytes.
    limit_.moved = r.bytes_sent;
}

Pacer::~Pacer() {
    for (Piece& p : queue_) {
        if (p.fd >= 0) {
            ::close(p.fd);
        }
    }
}

void Pacer::take(const BodyChunk& chunk) {
    if (chunk.is_file()) {
        if (chunk.length > 0) {
            Piece p;
            p.fd = chunk.fd;
            p.offset = chunk.offset;
            p.left = chunk.length;
            queue_.push_back(std::move(p));
        } else {
            ::close(chunk.fd);
        }
    } else if (!chunk.data.empty()) {
        if (!queue_.empty() && queue_.back().fd < 0) {
            queue_.back().data.append(chunk.data);
        } else {
            Piece p;
            p.data.assign(chunk.data);
            queue_.push_back(std::move(p));
        }
    }
    last_ = last_ || chunk.last;
    if (!pausing_) {
        pump();  // `this` may be gone after it
    }
}

bool Pacer::pump() {
    while (!queue_.empty() || last_) {
        if (!queue_.empty() && (r_.session->output_pending() || r_.session->output_blocked())) {
            // The client has not taken the last pass yet (or is gone: the session closes
            // and the request goes with it, this timer too).
            pause(kBusyRetry);
            return true;
        }
        std::chrono::milliseconds wait{0};
        uint64_t n = queue_.empty() ? 0 : limit_.allowance(core::steady_ms(), wait);
        if (!queue_.empty() && n == 0) {
            pause(wait);
            return true;
        }
        uint64_t cap = piece_ + (limit_.moved < limit_.after ? limit_.after - limit_.moved : 0);
        n = std::min(n, cap);
        if (max_chunk_ > 0) {
            n = std::min(n, max_chunk_);
        }
        BodyChunk c;
        bool whole = true;
        if (!queue_.empty()) {
            Piece& p = queue_.front();
            whole = n >= p.size();
            n = std::min<uint64_t>(n, p.size());
            if (p.fd >= 0) {
                c.fd = whole ? std::exchange(p.fd, -1) : ::dup(p.fd);
                if (c.fd < 0) {
                    r_.abort();  // no descriptor left: the response cannot go on
                    return false;
                }
                c.offset = p.offset;
                c.length = n;
                p.offset += n;
                p.left -= n;
            } else {
                c.data = std::string_view(p.data).substr(p.taken, static_cast<size_t>(n));
                p.taken += static_cast<size_t>(n);
            }
        }
        c.last = last_ && whole && queue_.size() <= 1;
        uint64_t before = r_.bytes_sent;
        if (c.last) {
            // The end of the response: the session may finish the request (and us) now.
            std::string keep;
            if (!c.data.empty()) {
                Piece& p = queue_.front();
                size_t at = static_cast<size_t>(c.data.data() - p.data.data());
                keep = std::move(p.data);
                c.data = std::string_view(keep).substr(at, c.data.size());
            }
            queue_.clear();
            r_.write_out(c);
            return false;
        }
        r_.write_out(c);
        if (whole) {
            queue_.pop_front();
        }
        std::chrono::milliseconds d =
            limit_.account(r_.bytes_sent - before, core::steady_ms(), kSlack);
        if (d.count() > 0) {
            pause(d);
            return true;
        }
    }
    return true;
}

void Pacer::pause(std::chrono::milliseconds d) {
    if (timer_ == nullptr) {
        timer_ = ev::Runtime::current().loop().make_timer([this] { on_timer(); });
    }
    pausing_ = true;
    timer_->arm(d);
}

void Pacer::on_timer() {
    pausing_ = false;
    if (!pump() || pausing_ || !queue_.empty()) {
        return;
    }
    wake();
}

void Pacer::wake() {
    // As a drained session: the body filter holding back part of the body first, then the
    // producer, each only while the response is not held up again (and still there).
    if (r_.session->output_pending()) {
        return;  // the session's own drain event calls them
    }
    std::weak_ptr<char> alive = alive_;
    Request& r = r_;
    if (auto resume = r.filter_on_drained) {
        r.filter_on_drained = nullptr;
        resume(r);
        if (alive.expired() || r.output_blocked()) {
            return;
        }
    }
    if (auto resume = r.on_drained) {
        r.on_drained = nullptr;
        resume(r);
    }
}

}  // namespace http
