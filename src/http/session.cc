#include "http/session.h"

#include <strings.h>

#include <cstring>
#include <ctime>

#include "auto_config.h"
#include "core/log.h"
#include "http/parse.h"

namespace http {
namespace {

/// RFC 9110 §5.6.7 IMF-fixdate, refreshed once a second.
std::string_view http_date() {
    static time_t cached = 0;
    static char buf[40];
    time_t now = time(nullptr);
    if (now != cached) {
        cached = now;
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    }
    return buf;
}

const HttpSrvConf& srv_conf(const ServerBlock& s) {
    return core::conf_of<HttpSrvConf>(s.srv_confs);
}

const LocationBlock* match_location(const std::vector<std::unique_ptr<LocationBlock>>& locs,
                                    std::string_view path) {
    const LocationBlock* best = nullptr;
    for (const auto& loc : locs) {
        if (loc->match == LocationMatch::kExact) {
            if (path == loc->name) {
                return loc.get();
            }
            continue;
        }
        if (path.substr(0, loc->name.size()) == loc->name &&
            (best == nullptr || loc->name.size() > best->name.size())) {
            best = loc.get();
        }
    }
    if (best != nullptr && !best->children.empty()) {
        if (const LocationBlock* nested = match_location(best->children, path)) {
            return nested;
        }
    }
    return best;
}

}  // namespace

std::string_view status_text(int status) {
    switch (status) {
        case 200:
            return "OK";
        case 201:
            return "Created";
        case 204:
            return "No Content";
        case 301:
            return "Moved Permanently";
        case 302:
            return "Moved Temporarily";
        case 303:
            return "See Other";
        case 304:
            return "Not Modified";
        case 307:
            return "Temporary Redirect";
        case 308:
            return "Permanent Redirect";
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Not Allowed";
        case 408:
            return "Request Time-out";
        case 411:
            return "Length Required";
        case 413:
            return "Request Entity Too Large";
        case 414:
            return "Request-URI Too Large";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 501:
            return "Not Implemented";
        case 502:
            return "Bad Gateway";
        case 503:
            return "Service Temporarily Unavailable";
        case 504:
            return "Gateway Time-out";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return {};
    }
}

// ---- Request ----

const Header* Request::find_header(std::string_view name) const {
    for (const Header& h : headers) {
        if (h.name.size() == name.size() &&
            strncasecmp(h.name.data(), name.data(), name.size()) == 0) {
            return &h;
        }
    }
    return nullptr;
}

void Request::send(int code, std::string_view content_type, std::string_view body,
                   std::string_view location) {
    status = code;
    const auto& lc = loc_conf<HttpLocConf>();
    std::string head;
    head.reserve(256 + body.size());
    head += "HTTP/1.1 ";
    head += std::to_string(code);
    head += ' ';
    std::string_view reason = status_text(code);
    head += reason.empty() ? std::string_view("Unknown") : reason;
    head += *lc.server_tokens ? "\r\nServer: halo/" HALO_VERSION "\r\nDate: "
                              : "\r\nServer: halo\r\nDate: ";
    head += http_date();
    if (!content_type.empty()) {
        head += "\r\nContent-Type: ";
        head += content_type;
    }
    bool no_body = code < 200 || code == 204 || code == 304;
    if (!no_body || code == 304) {
        // RFC 9110 §8.6: never with 1xx and 204 (a 304 may say what a 200 would).
        head += "\r\nContent-Length: ";
        head += std::to_string(body.size());
    }
    if (!location.empty()) {
        head += "\r\nLocation: ";
        head += location;
    }
    head += keepalive ? "\r\nConnection: keep-alive\r\n\r\n" : "\r\nConnection: close\r\n\r\n";
    if (method != "HEAD" && !no_body) {
        head += body;
    }
    bytes_sent = head.size();
    session->write(head);
    session->response_done();
}

void Request::send_error(int code, std::string_view location) {
    std::string_view reason = status_text(code);
    std::string title = std::to_string(code) + (reason.empty() ? "" : " ") + std::string(reason);
    std::string body = "<html>\r\n<head><title>" + title +
                       "</title></head>\r\n<body>\r\n<center><h1>" + title +
                       "</h1></center>\r\n<hr><center>" +
                       (*loc_conf<HttpLocConf>().server_tokens ? "halo/" HALO_VERSION : "halo") +
                       "</center>\r\n</body>\r\n</html>\r\n";
    if (code == 204 || code == 304) {
        body.clear();
    }
    send(code, body.empty() ? "" : "text/html", body, location);
}

void Request::resume() {
    session->run_phases();
}

void Request::abort() {
    session->abort();
}

// ---- Port ----

core::Status Port::add_server(const ServerBlock* srv, bool is_default, const std::string& where) {
    if (is_default) {
        if (explicit_default_) {
            return core::Status::error("a duplicate default server for " + listening_->addr.text() +
                                       " in " + where);
        }
        explicit_default_ = true;
        default_ = srv;
    } else if (default_ == nullptr) {
        default_ = srv;
    }
    servers_.push_back(srv);
    return core::Status::ok();
}

const ServerBlock* Port::find_server(std::string_view host) const {
    if (!host.empty() && host[0] == '[') {
        host = host.substr(0, host.find(']') + 1);  // "[::1]:80" -> "[::1]"
    } else if (size_t colon = host.rfind(':'); colon != std::string_view::npos) {
        host = host.substr(0, colon);
    }
    while (!host.empty() && host.back() == '.') {
        host.remove_suffix(1);
    }
    if (!host.empty()) {
        for (const ServerBlock* s : servers_) {
            for (const auto& name : s->names) {
                if (name.size() == host.size() &&
                    strncasecmp(name.data(), host.data(), host.size()) == 0) {
                    return s;
                }
            }
        }
    }
    return default_;
}

void Port::on_accept(int fd, const core::SockAddr& peer) {
    new Session(*this, fd, peer);  // owns itself; freed by close()
}

// ---- Session ----

Session::Session(const Port& port, int fd, const core::SockAddr& peer)
    : port_(port),
      conn_(ev::Runtime::current().loop(), fd, peer, ev::Runtime::current().next_connection_id()) {
    ev::Runtime::current().connection_opened();
    conn_.set_handler(this);
    conn_.start();
    conn_.set_timeout(*srv_conf(*port_.find_server({})).client_header_timeout);
}

Session::~Session() = default;

void Session::write(std::string_view data) {
    conn_.send(data);
}

void Session::on_readable() {
    process_input();
}

void Session::on_drained() {
    if (state_ == State::kWriting) {
        finish_request();
    }
}

void Session::on_timeout() {
    if (state_ == State::kReadingHead && !in_.empty()) {
        core::log_conn(core::LogLevel::kInfo, conn_.id(), "client timed out");
    }
    close();
}

void Session::on_error() {
    close();
}

bool Session::read_more(size_t max_total) {
    size_t room = max_total > in_.size() ? max_total - in_.size() : 0;
    if (room == 0) {
        return false;
    }
    switch (conn_.read(in_, room)) {
        case ev::IoStatus::kOk:
            return true;
        case ev::IoStatus::kAgain:
            return false;
        case ev::IoStatus::kEof:
            if (!in_.empty() && state_ == State::kReadingHead) {
                core::log_conn(core::LogLevel::kInfo, conn_.id(),
                               "client prematurely closed connection");
            }
            close();
            return false;
        case ev::IoStatus::kError:
            close();
            return false;
    }
    return false;
}

void Session::process_input() {
    if (in_process_) {
        return;
    }
    in_process_ = true;
    const ServerBlock* def = port_.find_server({});
    const auto& sc = srv_conf(*def);
    size_t max_line = sc.large_header_buffer_size->bytes;
    size_t max_head = max_line * static_cast<size_t>(*sc.large_header_buffers);
    for (;;) {
        if (state_ == State::kDiscardingBody) {
            size_t take = static_cast<size_t>(std::min<uint64_t>(body_left_, in_.size()));
            in_.consume(take);
            body_left_ -= take;
            if (body_left_ == 0) {
                state_ = State::kReadingHead;
            } else if (!read_more(65536)) {
                break;
            }
            continue;
        }
        if (state_ == State::kKeepalive) {
            if (!read_more(max_head + 1)) {
                break;
            }
            ev::Runtime::current().clear_idle(this);
            state_ = State::kReadingHead;
            conn_.set_timeout(*sc.client_header_timeout);
        }
        if (state_ != State::kReadingHead) {
            break;  // running, writing or closed
        }
        if (worth_parsing(max_line, max_head)) {
            req_ = std::make_unique<Request>();
            size_t consumed = 0;
            int status = 0;
            ParseResult pr =
                parse_request_head(in_.view(), max_line, max_head, *req_, consumed, status);
            if (pr == ParseResult::kComplete) {
                head_len_ = consumed;
                start_request();
                continue;  // finish_request() may already have made us ready for the next one
            }
            if (pr == ParseResult::kError) {
                req_ = std::make_unique<Request>();
                req_->session = this;
                req_->connection_id = conn_.id();
                req_->server = def;
                req_->loc_confs = &def->loc_confs;
                req_->method = "GET";
                req_->keepalive = false;
                close_after_ = true;
                state_ = State::kRunning;
                core::log_conn(core::LogLevel::kInfo, conn_.id(),
                               "client sent invalid request, responding %d", status);
                req_->send_error(status);
                continue;
            }
        }
        if (!read_more(max_head + 1)) {
            break;
        }
    }
    in_process_ = false;
}

bool Session::worth_parsing(size_t max_line, size_t max_head) {
    // The head parser starts over on every call: call it only when a line may have been
    // completed, or a limit crossed, so that a client sending a byte at a time costs O(n).
    std::string_view v = in_.view();
    bool fresh_lf = v.find('\n', scanned_) != std::string_view::npos;
    scanned_ = v.size();
    return fresh_lf || v.size() > max_head || (v.size() > max_line && v.find('\n') == v.npos);
}

void Session::start_request() {
    Request& r = *req_;
    r.session = this;
    r.connection_id = conn_.id();
    r.peer = conn_.peer();
    r.start = std::chrono::steady_clock::now();
    r.server = port_.find_server(r.host);
    r.loc_confs = &r.server->loc_confs;
    requests_++;
    state_ = State::kRunning;
    conn_.clear_timeout();
    run_phases();
}

void Session::find_config() {
    Request& r = *req_;
    if (const LocationBlock* loc = match_location(r.server->locations, r.path)) {
        r.loc_confs = &loc->loc_confs;
    }
    const auto& lc = r.loc_conf<HttpLocConf>();
    if (requests_ >= *lc.keepalive_requests || lc.keepalive_timeout->count() == 0 ||
        ev::Runtime::current().shutting_down()) {
        r.keepalive = false;
    }
}

void Session::run_phases() {
    const auto& engine = port_.main().engine;
    Request& r = *req_;
    while (r.phase < engine.size()) {
        const HttpMainConf::Entry& e = engine[r.phase];
        if (e.handler == nullptr) {
            find_config();
            r.phase++;
            continue;
        }
        switch (e.handler(r)) {
            case Flow::kDeclined:
                r.phase++;
                break;
            case Flow::kNext:
                r.phase = e.next;
                break;
            case Flow::kDone:
            case Flow::kSuspend:
                return;
        }
    }
    // No content handler answered.
    r.send_error(404);
}

void Session::response_done() {
    state_ = State::kWriting;
    if (conn_.failed()) {
        close();
        return;
    }
    if (!conn_.output_pending()) {
        finish_request();
        return;
    }
    conn_.set_timeout(*req_->loc_conf<HttpLocConf>().send_timeout);
}

void Session::finish_request() {
    Request& r = *req_;
    const HttpMainConf& main = port_.main();
    for (PhaseHandler h : main.registered[static_cast<int>(Phase::kLog)]) {
        h(r);
    }
    bool keep = r.keepalive && !close_after_ && !ev::Runtime::current().shutting_down();
    auto keepalive_timeout = *r.loc_conf<HttpLocConf>().keepalive_timeout;
    body_left_ = r.content_length;
    req_.reset();
    if (!keep) {
        close();
        return;
    }
    in_.consume(head_len_);
    head_len_ = 0;
    scanned_ = 0;
    state_ = body_left_ > 0 ? State::kDiscardingBody : State::kReadingHead;
    if (in_.empty() && body_left_ == 0) {
        state_ = State::kKeepalive;
        in_.release_if_empty();
        conn_.release_buffers();
        ev::Runtime::current().set_idle(this);
        conn_.set_timeout(keepalive_timeout);
    } else {
        conn_.set_timeout(*srv_conf(*port_.find_server({})).client_header_timeout);
    }
    // Input may have arrived while we were writing (edge-triggered: no new event comes).
    process_input();
}

void Session::close() {
    if (state_ == State::kClosed) {
        return;
    }
    state_ = State::kClosed;
    auto& rt = ev::Runtime::current();
    rt.clear_idle(this);
    conn_.clear_timeout();
    rt.connection_closed();
    rt.loop().post([this] { delete this; });
}

}  // namespace http
