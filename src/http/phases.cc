#include <memory>
#include <utility>

#include "core/log.h"
#include "event/runtime.h"
#include "http/error_log.h"
#include "http/session.h"

// The phase engine of a request, whatever carries it (Session: HTTP/1 or an HTTP/2 stream).

namespace http {
namespace {

struct Match {
    const LocationBlock* loc = nullptr;
    bool final = false;    // exact or regex: no regex of an outer level may override it
    bool noregex = false;  // ^~: stops the regexes of its own level only
};

/// nginx's order: an exact match wins; else the longest prefix is remembered and its nested
/// locations searched; a ^~ prefix stops there; else the regexes of this level are tried in
/// order and the first match wins; else the longest prefix stands.
Match match_location(const std::vector<std::unique_ptr<LocationBlock>>& locs, std::string_view uri,
                     std::vector<std::string>& captures) {
    const LocationBlock* best = nullptr;
    for (const auto& loc : locs) {
        switch (loc->match) {
            case LocationMatch::kExact:
                if (uri == loc->name) {
                    return {loc.get(), true};
                }
                break;
            case LocationMatch::kPrefix:
            case LocationMatch::kPrefixNoRegex:
                if (uri.substr(0, loc->name.size()) == loc->name &&
                    (best == nullptr || loc->name.size() > best->name.size())) {
                    best = loc.get();
                }
                break;
            default:
                break;
        }
    }
    Match result{best, false, false};
    if (best != nullptr) {
        if (!best->children.empty()) {
            Match nested = match_location(best->children, uri, captures);
            if (nested.loc != nullptr) {
                result.loc = nested.loc;
                if (nested.final) {
                    return nested;
                }
            }
        }
        // ^~, or a prefix equal to the whole URI (nginx treats it as exact): no regexes here.
        if (best->match == LocationMatch::kPrefixNoRegex || best->name == uri) {
            return {result.loc, best->name == uri, true};
        }
    }
    std::vector<std::string_view> groups;
    for (const auto& loc : locs) {
        if (loc->match == LocationMatch::kRegex && loc->regex->match(uri, &groups)) {
            captures.assign(groups.begin(), groups.end());
            Match m{loc.get(), true};
            if (!loc->children.empty()) {
                Match nested = match_location(loc->children, uri, captures);
                if (nested.loc != nullptr) {
                    m.loc = nested.loc;
                }
            }
            return m;
        }
    }
    return result;
}

}  // namespace

Session::~Session() = default;

bool Session::find_config() {
    Request& r = *req_;
    r.access_code = 0;  // a new location's access checks start afresh
    if (r.named_target != nullptr || r.uri_changed) {
        r.internal = true;  // an internal redirect or a rewrite: `internal` locations match
    }
    if (r.named_target == nullptr) {
        // Captures of an earlier match (rewrite, if) stay unless a regex location matches.
        r.location = match_location(r.server->locations, r.uri, r.captures).loc;
    } else {
        r.location = r.named_target;  // internal redirect to a named location
        r.named_target = nullptr;
    }
    r.loc_confs = r.location != nullptr ? &r.location->loc_confs : &r.server->loc_confs;
    // limit_except: the methods the block does not list get its confs (nginx's
    // ngx_http_update_location_config).
    const auto& own = core::conf_of<HttpLocConf>(*r.loc_confs);
    if (own.limit_except_confs != nullptr && (own.limit_except & method_bit(r.method)) != 0) {
        r.loc_confs = own.limit_except_confs;
    }
    const auto& lc = loc();
    if (lc.internal && !r.internal) {
        r.send_error(404);  // an `internal` location is not for clients
        return false;
    }
    location_found(r, lc);
    uint64_t max = lc.client_max_body_size->bytes;
    if (max > 0 && !r.chunked && r.content_length > max) {
        log_error(r, core::LogLevel::kError, "client intended to send too large body: %llu bytes",
                  static_cast<unsigned long long>(r.content_length));
        fail_request(413);
        return false;
    }
    return true;
}

// The access phase and `satisfy` (nginx's ngx_http_core_access_phase and post_access phase).
//
// The contract for an access-phase handler (http_access, http_auth_basic, http_auth_request):
//   - kDeclined: it has nothing to say (not configured here): the next check runs;
//   - kAllow: it lets the request in. Under `satisfy all` the next check runs; under
//     `satisfy any` the phase ends there: a refusal kept from an earlier check is dropped,
//     with the WWW-Authenticate field it added;
//   - kDeny, through deny_access(r, status): it refuses the request. A 401 adds its
//     WWW-Authenticate field to r.out_headers first. Under `satisfy all` the engine answers
//     `status` at once. Under `satisfy any` a 403 or 401 is kept in r.access_code (a 401 stays
//     once kept; otherwise the later refusal replaces the earlier) and the next check runs;
//     when no check lets the request in, the kept refusal is answered as the phase ends
//     (a 403 then logs "access forbidden by rule", as nginx). Any other status (500 for a
//     broken check) is answered at once whatever `satisfy` says;
//   - kSuspend: it waits (a subrequest, a file); it calls r.resume() later and is then called
//     again, at the same place of the engine, and returns its verdict;
//   - kDone: it answered the request itself, whatever `satisfy` says (avoid it: the verdicts
//     above are what `satisfy` can combine).
// A handler logs its own reasons (auth_basic's "user ... was not found"); the access module
// logs "access forbidden by rule" itself under `satisfy all`, the engine under `satisfy any`.

namespace {

bool satisfy_any(const Request& r) {
    return r.loc_conf<HttpLocConf>().satisfy_any.value_or(false);
}

/// `auth_delay`: the timer of a 401 held back (nginx's ngx_http_core_auth_delay: every
/// unauthorized answer takes the same time, whatever check refused it).
struct AuthDelayCtx : RequestCtx {
    std::unique_ptr<ev::Timer> timer;
};

/// A client that went away while its 401 was held back: ended, 499 (ngx_http_test_reading).
void auth_delay_client_closed(Request& r) {
    if (AuthDelayCtx* ctx = r.ctx<AuthDelayCtx>()) {
        ctx->timer.reset();
    }
    log_error(r, core::LogLevel::kInfo, "client prematurely closed connection");
    r.client_gone();
}

/// Answers a refusal of the access phase: a 401 after `auth_delay` when it is set.
void answer_refusal(Request& r, int status) {
    auto delay = *r.loc_conf<HttpLocConf>().auth_delay;
    if (status != 401 || delay.count() == 0) {
        r.send_error(status);
        return;
    }
    log_error(r, core::LogLevel::kInfo, "delaying unauthorized request");
    AuthDelayCtx* ctx = r.ctx<AuthDelayCtx>();
    if (ctx == nullptr) {
        ctx = &r.make_ctx<AuthDelayCtx>();
    }
    Request* req = &r;
    ctx->timer = ev::Runtime::current().loop().make_timer([req] {
        req->on_client_closed = nullptr;
        req->send_error(401);  // may end the request (and free this timer): nothing after it
    });
    ctx->timer->arm(delay);
    r.on_client_closed = &auth_delay_client_closed;
}

/// The end of the access phase under `satisfy any` with a refusal kept and no check that let
/// the request in.
void answer_kept_refusal(Request& r) {
    int code = std::exchange(r.access_code, 0);
    if (code == 403) {
        log_error(r, core::LogLevel::kError, "access forbidden by rule");
    }
    answer_refusal(r, code);
}

}  // namespace

void Session::run_phases() {
    const auto& engine = port_.main().engine;
    Request& r = *req_;
    while (r.phase < engine.size()) {
        const HttpMainConf::Entry& e = engine[r.phase];
        if (e.handler == nullptr) {
            r.phase++;
            if (!find_config()) {
                return;
            }
            continue;
        }
        if (e.phase == Phase::kAccess && r.parent != nullptr) {
            r.phase = e.next;  // as nginx: a subrequest is not checked for access
            continue;
        }
        if (r.access_code != 0 && e.phase > Phase::kAccess) {
            answer_kept_refusal(r);
            return;
        }
        if (e.phase == Phase::kContent) {
            // A location's own content handler (proxy_pass...) replaces the phase, as nginx's
            // clcf->handler.
            if (PhaseHandler own = r.loc_conf<HttpLocConf>().content) {
                own(r);
                return;
            }
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
                return;  // `r` may be gone already
            case Flow::kAllow:
                if (e.phase == Phase::kAccess && satisfy_any(r)) {
                    r.access_code = 0;
                    r.remove_out_header("WWW-Authenticate");
                    r.phase = e.next;
                } else {
                    r.phase++;
                }
                break;
            case Flow::kDeny: {
                int status = std::exchange(r.access_denied, 0);
                status = status != 0 ? status : 403;
                if (e.phase == Phase::kAccess && (status == 403 || status == 401) &&
                    satisfy_any(r)) {
                    if (r.access_code != 401) {
                        r.access_code = status;
                    }
                    r.phase++;
                    break;
                }
                r.access_code = 0;
                answer_refusal(r, status);
                return;
            }
        }
    }
    if (r.access_code != 0) {
        answer_kept_refusal(r);
        return;
    }
    r.send_error(404);  // no content handler answered
}

void Session::run_from(Phase phase) {
    const auto& engine = port_.main().engine;
    Request& r = *req_;
    r.phase = engine.size();
    for (size_t i = 0; i < engine.size(); i++) {
        if (engine[i].phase >= phase) {
            r.phase = i;
            break;
        }
    }
    run_phases();
}

void Session::log_request() {
    if (req_ && !req_->logged && !req_->method.empty()) {
        req_->logged = true;
        for (PhaseHandler h : port_.main().registered[static_cast<int>(Phase::kLog)]) {
            h(*req_);
        }
    }
}

}  // namespace http
