#include "core/log.h"
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
        }
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
