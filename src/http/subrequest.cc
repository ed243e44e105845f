// Subrequests: see subrequest.h.
#include "http/subrequest.h"

#include <unistd.h>

#include "event/runtime.h"

namespace http {

Subrequest::Subrequest(Request& parent, SubrequestDone done)
    : Session(parent.session->port()),
      parent_(parent),
      parent_session_(*parent.session),
      done_(done),
      alive_(std::make_shared<Subrequest*>(this)) {}

Subrequest::~Subrequest() {
    req_.reset();  // its modules' state may still call the session while it goes
}

std::unique_ptr<Subrequest> Subrequest::start(Request& parent, std::string_view uri,
                                              std::string_view args, SubrequestDone done) {
    std::unique_ptr<Subrequest> sr(new Subrequest(parent, done));
    sr->init(uri, args);
    sr->run_from(Phase::kServerRewrite);  // as nginx: a subrequest starts at server_rewrite
    return sr;
}

std::string_view Subrequest::keep(std::string_view s) {
    if (s.empty()) {
        return {};
    }
    size_t at = store_.size();
    store_.append(s);  // reserved in init(): views into store_ stay valid
    return std::string_view(store_).substr(at, s.size());
}

void Subrequest::init(std::string_view uri, std::string_view args) {
    const Request& p = parent_;
    size_t need = p.request_line.size() + p.target.size() + p.host.size() + args.size();
    for (const Header& h : p.headers) {
        need += h.name.size() + h.value.size();
    }
    store_.reserve(need);

    req_ = std::make_unique<Request>();
    Request& r = *req_;
    r.session = this;
    r.parent = &parent_;
    r.connection_id = p.connection_id;
    r.peer = p.peer;
    r.method = "GET";  // nginx's subrequests are GETs (no body), whatever the parent's method
    r.request_line = keep(p.request_line);  // $request and $request_uri stay the parent's
    r.target = keep(p.target);
    r.http_minor = p.http_minor;
    r.http2 = p.http2;
    r.headers.reserve(p.headers.size());
    for (const Header& h : p.headers) {
        r.headers.push_back(Header{keep(h.name), keep(h.value)});
    }
    r.host = keep(p.host);
    r.args_storage.assign(args);
    r.args = r.args_storage;
    r.uri.assign(uri);
    r.path = r.uri;
    r.uri_changed = true;  // the proxy sends the URI, not the client's target
    r.internal = true;     // `internal` locations answer subrequests
    r.server = p.server;
    r.loc_confs = &r.server->loc_confs;
    r.start = std::chrono::steady_clock::now();
    r.variables = p.variables;  // nginx shares them; a copy here (auth_request_set writes back)
    r.body = std::make_unique<RequestBody>();  // an empty body: nothing to read or send
}

void Subrequest::write_file(int fd, uint64_t, uint64_t, bool) {
    ::close(fd);
}

ev::IoStatus Subrequest::splice_from(ev::Connection&, size_t, size_t& n) {
    n = 0;
    return ev::IoStatus::kError;  // never asked: prepare_splice() says no
}

void Subrequest::make_head(Request& r, bool, std::string&) {
    status_ = r.status;  // after the header filters, as nginx's headers_out.status
    end();               // the parent needs the head only (nginx's sr->header_only)
}

Flow Subrequest::read_body(BodyHandler done) {
    done(*req_);  // the body is the empty one init() gave it
    return Flow::kSuspend;
}

void Subrequest::stream_body(BodyDataHandler on_data) {
    on_data(*req_, {}, true);
}

void Subrequest::fail_request(int status) {
    req_->send_error(status);
}

void Subrequest::parent_client_closed() {
    if (req_ && req_->on_client_closed != nullptr) {
        auto closed = std::exchange(req_->on_client_closed, nullptr);
        closed(*req_);
    }
}

void Subrequest::end() {
    if (ended_) {
        return;
    }
    ended_ = true;
    std::weak_ptr<Subrequest*> alive = alive_;
    ev::Runtime::current().loop().post([alive] { report(alive); });
}

void Subrequest::report(const std::weak_ptr<Subrequest*>& alive) {
    std::shared_ptr<Subrequest*> self = alive.lock();
    if (!self) {
        return;  // destroyed with its parent meanwhile
    }
    Subrequest& sr = **self;
    Request& parent = sr.parent_;
    if (sr.finished_ || parent.logged) {
        return;  // the parent ended (an HTTP/2 stream reset) and waits to be freed
    }
    sr.finished_ = true;
    if (*sr.loc().log_subrequest) {
        sr.log_request();
    }
    sr.done_(parent, sr);
    parent.resume();  // `sr` and `parent` may be gone after this
}

}  // namespace http
