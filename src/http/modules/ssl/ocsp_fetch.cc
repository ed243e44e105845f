// OcspFetch: one HTTP exchange with an OCSP responder on the worker's event loop (ocsp.h).
// The steps and the error lines are nginx's (ngx_ssl_ocsp_request and what follows it).
#include <cerrno>
#include <cstring>

#include "event/runtime.h"
#include "http/modules/ssl/ocsp.h"

namespace mod::http_ssl {
namespace {

/// nginx's response buffer: an answer is read up to 16k.
constexpr size_t kMaxAnswer = 16384;

/// The owner of a connection being given up: it may still see an event before it is destroyed.
class Dropped final : public ev::ConnectionHandler {
  public:
    void on_readable() override {}
    void on_drained() override {}
    void on_timeout() override {}
    void on_error() override {}
};
Dropped dropped;

/// Destroys `conn` from the loop (we may be inside its own callback).
void discard(ev::Loop& loop, std::unique_ptr<ev::Connection> conn) {
    if (conn) {
        conn->set_handler(&dropped);
        conn->clear_timeout();
        std::shared_ptr<ev::Connection> c(std::move(conn));
        loop.post([c] {});
    }
}

std::string bare_host(const std::string& host) {
    return host.size() >= 2 && host.front() == '[' ? host.substr(1, host.size() - 2) : host;
}

}  // namespace

std::unique_ptr<OcspFetch> OcspFetch::start(ev::Loop& loop, Params params, Done done) {
    std::unique_ptr<OcspFetch> f(new OcspFetch(loop, std::move(params), std::move(done)));
    // Begins from the loop: `done` never runs inside the caller's frame.
    OcspFetch* self = f.get();
    f->kick_ = loop.make_timer([self] { self->begin(); });
    f->kick_->arm(ev::Duration(0));
    return f;
}

OcspFetch::OcspFetch(ev::Loop& loop, Params params, Done done)
    : loop_(loop), params_(std::move(params)), done_(std::move(done)) {}

OcspFetch::~OcspFetch() {
    drop_connection();
}

void OcspFetch::log(core::LogLevel level, const std::string& msg) const {
    const core::Log& log = params_.log != nullptr ? *params_.log : core::current_log();
    if (!log.enabled(level)) {
        return;
    }
    std::string line =
        msg + " while requesting certificate status, responder: " + params_.responder.host;
    if (!peer_.empty()) {
        line += ", peer: " + peer_;
    }
    if (!params_.certificate.empty()) {
        line += ", certificate: \"" + params_.certificate + "\"";
    }
    log.write(level, params_.connection, line);
}

void OcspFetch::begin() {
    const OcspResponder& rsp = params_.responder;
    std::string host = bare_host(rsp.host);
    bool literal = core::SockAddr::from_ip(host, 0).has_value();
    if (literal || !params_.resolver) {
        if (rsp.addrs.empty()) {
            log(core::LogLevel::kError, "no resolver defined to resolve " + rsp.host);
            finish(false);
            return;
        }
        if (!literal) {
            // The addresses found at configuration time, as nginx without a resolver.
            log(core::LogLevel::kWarn, "no resolver defined to resolve " + rsp.host);
        }
        addrs_ = rsp.addrs;
        connect();
        return;
    }
    ev::Resolver& resolver = ev::Resolver::of(loop_, params_.resolver);
    ev::ResolveResult res;
    if (resolver.cached(host, res)) {
        resolved(res);
        return;
    }
    query_ = resolver.resolve(host, [this](const ev::ResolveResult& r) {
        query_.reset();
        resolved(r);
    });
}

void OcspFetch::resolved(const ev::ResolveResult& res) {
    if (res.code != ev::kResolveOk || res.addrs.empty()) {
        log(core::LogLevel::kError,
            params_.responder.host + " could not be resolved (" + res.error() + ")");
        finish(false);
        return;
    }
    addrs_.clear();
    for (core::SockAddr a : res.addrs) {
        if (a.family() == AF_INET) {
            a.storage.in4.sin_port = htons(params_.responder.port);
        } else {
            a.storage.in6.sin6_port = htons(params_.responder.port);
        }
        addrs_.push_back(a);
    }
    connect();
}

void OcspFetch::connect() {
    const core::SockAddr& addr = addrs_[naddr_];
    peer_ = addr.text();
    bytes_.clear();
    int err = 0;
    int fd = ev::Connection::open_connecting(addr, err);
    if (fd < 0) {
        log(core::LogLevel::kError, core::format("connect() failed (%d: %s)", err, strerror(err)));
        next();
        return;
    }
    uint64_t id = ev::Runtime::current().next_connection_id();
    conn_ = std::make_unique<ev::Connection>(loop_, fd, addr, id);
    conn_->set_handler(this);
    conn_->start_connect();
    conn_->send(params_.request);  // queued until connected
    conn_->set_timeout(params_.timeout);
}

void OcspFetch::on_connect(int err) {
    if (err != 0) {
        // As nginx reports a refused connection: its read fails, then nothing was read.
        log(core::LogLevel::kError, core::format("recv() failed (%d: %s)", err, strerror(err)));
        log(core::LogLevel::kError, "OCSP responder prematurely closed connection");
        next();
    }
}

void OcspFetch::on_timeout() {
    log(core::LogLevel::kError,
        core::format("OCSP responder timed out (%d: %s)", ETIMEDOUT, strerror(ETIMEDOUT)));
    next();
}

void OcspFetch::on_error() {
    log(core::LogLevel::kError, "OCSP responder prematurely closed connection");
    next();
}

void OcspFetch::on_readable() {
    for (;;) {
        size_t room = kMaxAnswer - bytes_.size();
        ev::IoStatus st = room > 0 ? conn_->read(in_, room) : ev::IoStatus::kEof;
        if (st == ev::IoStatus::kOk) {
            bytes_.append(in_.view());
            in_.clear();
            continue;
        }
        if (st == ev::IoStatus::kAgain) {
            return;
        }
        break;  // the end of the answer (or an error: what came is all there is)
    }
    answer_ = parse_ocsp_answer(bytes_);
    switch (answer_.outcome) {
        case OcspHttpAnswer::Outcome::kOk:
            finish(true);
            return;
        case OcspHttpAnswer::Outcome::kInvalid:
            log(core::LogLevel::kError, "OCSP responder sent invalid response");
            break;
        case OcspHttpAnswer::Outcome::kBadType:
            log(core::LogLevel::kError, "OCSP responder sent invalid \"Content-Type\" header: \"" +
                                            answer_.content_type + "\"");
            break;
        case OcspHttpAnswer::Outcome::kPremature:
            log(core::LogLevel::kError, "OCSP responder prematurely closed connection");
            break;
    }
    next();
}

void OcspFetch::next() {
    drop_connection();
    if (++naddr_ >= addrs_.size()) {
        finish(false);
        return;
    }
    connect();
}

void OcspFetch::drop_connection() {
    discard(loop_, std::move(conn_));
    in_.clear();
}

void OcspFetch::finish(bool ok) {
    discard(loop_, std::move(conn_));
    Done done = std::move(done_);
    done_ = nullptr;
    if (done) {
        done(*this, ok);  // may destroy this fetch: nothing follows
    }
}

}  // namespace mod::http_ssl
