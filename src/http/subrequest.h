#pragma once

// A subrequest (nginx's ngx_http_subrequest, reduced to what auth_request needs): an internal
// GET for a URI of the parent's server, run through the phase engine from server_rewrite on
// (location matching, `internal` locations allowed, the access phase skipped as nginx skips it
// for subrequests), whose response head is kept for the parent and whose body is discarded.
//
// What it supports: one subrequest at a time per parent, the parent's request line ($request,
// $request_uri), headers and client address; no request body (Content-Length 0: the proxy
// sends none); a copy of the parent's variables. What it does not: output to the client
// (nginx's SSI/addition subrequests), a body in memory, background subrequests, nesting (a
// subrequest runs no access phase, so no auth_request of its own).
//
// Lifetime: the module that starts it owns it (a unique_ptr in its request ctx), so the
// parent going away (client closed, stream reset) destroys it and everything it holds (its
// upstream connection). Completion is reported from the event loop, never from inside the
// subrequest's own callbacks: `done` runs, then the parent's phases resume.

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/session.h"

namespace http {

class Subrequest;

/// Called once when the subrequest's response head is known (or it ended without one), from
/// the event loop, before the parent resumes. It may read the subrequest (status, headers,
/// variables in its context) and must neither resume the parent nor destroy the subrequest.
using SubrequestDone = void (*)(Request& parent, Subrequest& sr);

/// One subrequest of a parent request. Runs on the parent's connection but writes nothing to it.
class Subrequest final : public Session {
  public:
    /// Starts a subrequest for `uri` (decoded, as $uri) and `args` on behalf of `parent`; its
    /// phases run at once. `done` is called later from the event loop, then parent.resume().
    /// The caller keeps the result alive until then (destroying it cancels everything).
    static std::unique_ptr<Subrequest> start(Request& parent, std::string_view uri,
                                             std::string_view args, SubrequestDone done);
    ~Subrequest() override;

    /// The subrequest itself: its status, out_headers, variables ($upstream_*...).
    Request& request() { return *req_; }
    const Request& request() const { return *req_; }
    /// The status of its response (nginx's sr->headers_out.status): 0 when it ended without a
    /// response head.
    int status() const { return status_; }
    /// Whether it has completed (done was called or is about to be).
    bool finished() const { return finished_; }
    /// The parent's client went away (its on_client_closed): the subrequest's handler hears it
    /// as its own client's close (the proxy logs nginx's line and ends its upstream exchange).
    /// The caller then ends the parent, which destroys the subrequest.
    void parent_client_closed();

    // Session: output is discarded, the connection's facts are the parent's.
    void write(std::string_view, bool = false) override {}
    void write(std::string_view, std::string_view) override {}
    void write_file(int fd, uint64_t, uint64_t, bool) override;
    void start_tunnel(void (*)(Request&, std::string_view)) override { end(); }
    void body_written() override {}
    bool output_pending() const override { return false; }
    size_t output_buffered() const override { return 0; }
    bool prepare_splice() override { return false; }
    ev::IoStatus splice_from(ev::Connection&, size_t, size_t& n) override;
    bool output_blocked() const override { return false; }
    void response_done() override { end(); }
    void abort() override { end(); }
    void client_gone() override { end(); }
    void before_head(Request&) override {}
    void make_head(Request& r, bool no_body, std::string& head) override;
    Flow read_body(BodyHandler done) override;
    void stream_body(BodyDataHandler on_data) override;
    void pause_input() override {}
    void resume_input() override {}
    const ProxyHeader* proxy_header() const override { return parent_session_.proxy_header(); }
    const ev::Transport* transport() const override { return parent_session_.transport(); }
    const core::SockAddr& local_addr() override { return parent_session_.local_addr(); }
    int requests() const override { return parent_session_.requests(); }
    std::chrono::steady_clock::time_point accepted() const override {
        return parent_session_.accepted();
    }
    int fd() const override { return parent_session_.fd(); }

  protected:
    void fail_request(int status) override;

  private:
    Subrequest(Request& parent, SubrequestDone done);
    /// Copies what the subrequest shares with its parent into storage of its own.
    void init(std::string_view uri, std::string_view args);
    std::string_view keep(std::string_view s);
    /// The subrequest is over (head made, or ended without one): reports it, once, from the
    /// event loop.
    void end();
    static void report(const std::weak_ptr<Subrequest*>& alive);

    Request& parent_;
    Session& parent_session_;
    SubrequestDone done_;
    std::string store_;  // the parent's request line, target and headers, copied
    int status_ = 0;
    bool ended_ = false;
    bool finished_ = false;
    /// Posted tasks hold a weak_ptr to it: a destroyed subrequest reports nothing.
    std::shared_ptr<Subrequest*> alive_;
};

}  // namespace http
