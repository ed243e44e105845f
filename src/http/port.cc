// A listening address and port of the http block (Port): its server blocks, the server a
// Host names (nginx's order: exact name, leading wildcard, trailing wildcard, regex, default),
// and the accepted connections it hands to a Session.
#include <strings.h>
#include <sys/socket.h>

#include "core/log.h"
#include "http/session.h"

namespace http {
namespace {

bool wildcard_match(std::string_view pattern, std::string_view host, size_t& weight) {
    if (pattern.empty()) {
        return false;
    }
    if (pattern.substr(0, 2) == "*." || pattern[0] == '.') {
        std::string_view suffix = pattern[0] == '*' ? pattern.substr(1) : pattern;  // ".x.com"
        bool bare = pattern[0] == '.' && host == suffix.substr(1);
        if (bare ||
            (host.size() > suffix.size() && strncasecmp(host.data() + host.size() - suffix.size(),
                                                        suffix.data(), suffix.size()) == 0)) {
            weight = suffix.size();
            return true;
        }
    }
    return false;
}

bool trailing_wildcard_match(std::string_view pattern, std::string_view host, size_t& weight) {
    if (pattern.size() > 2 && pattern.substr(pattern.size() - 2) == ".*") {
        std::string_view prefix = pattern.substr(0, pattern.size() - 1);  // "www."
        if (host.size() > prefix.size() &&
            strncasecmp(host.data(), prefix.data(), prefix.size()) == 0) {
            weight = prefix.size();
            return true;
        }
    }
    return false;
}

}  // namespace

core::Status Port::add_server(const ServerBlock* srv, bool is_default, bool ssl,
                              const std::string& where) {
    if (is_default) {
        if (explicit_default_) {
            return core::Status::error("a duplicate default server for " + listening_->addr.text() +
                                       " in " + where);
        }
        explicit_default_ = true;
        default_ = srv;
        default_where_ = where;
    } else if (default_ == nullptr) {
        default_ = srv;
        default_where_ = where;
    }
    if (ssl && ssl_where_.empty()) {
        ssl_where_ = where;
    }
    servers_.push_back(srv);
    return core::Status::ok();
}

const ServerBlock* Port::find_server(std::string_view host, Request* r) const {
    if (!host.empty() && host[0] == '[') {
        host = host.substr(0, host.find(']') + 1);  // "[::1]:80" -> "[::1]"
    } else if (size_t colon = host.rfind(':'); colon != std::string_view::npos) {
        host = host.substr(0, colon);
    }
    while (!host.empty() && host.back() == '.') {
        host.remove_suffix(1);
    }
    // nginx's order (an empty name: `server_name ""`, a request without a Host): exact name,
    // longest "*.x" / ".x", longest "x.*", first regex.
    const ServerBlock* lead = nullptr;
    const ServerBlock* trail = nullptr;
    size_t lead_w = 0;
    size_t trail_w = 0;
    for (const ServerBlock* s : servers_) {
        for (const auto& name : s->names) {
            size_t w = 0;
            if (name.size() == host.size() &&
                strncasecmp(name.data(), host.data(), host.size()) == 0) {
                return s;
            }
            if (wildcard_match(name, host, w) && w > lead_w) {
                lead = s;
                lead_w = w;
            } else if (trailing_wildcard_match(name, host, w) && w > trail_w) {
                trail = s;
                trail_w = w;
            }
        }
    }
    if (lead != nullptr) {
        return lead;
    }
    if (trail != nullptr) {
        return trail;
    }
    if (host.empty()) {
        return default_;
    }
    std::vector<std::string_view> groups;
    for (const ServerBlock* s : servers_) {
        for (size_t i = 0; i < s->name_regexes.size(); i++) {
            if (s->name_regexes[i]->match(host, r != nullptr ? &groups : nullptr)) {
                if (r != nullptr) {
                    r->captures.assign(groups.begin(), groups.end());
                    for (const auto& [var, group] : s->name_captures[i]) {
                        set_variable(*r, *var, std::string(groups[static_cast<size_t>(group)]));
                    }
                }
                return s;
            }
        }
    }
    return default_;
}

void Port::on_accept(int fd, const core::SockAddr& peer) {
    const Port* port = this;
    if (!hosted_.empty()) {
        core::SockAddr local;
        local.len = sizeof(local.storage);
        if (getsockname(fd, local.get(), &local.len) == 0) {
            for (const Port* p : hosted_) {
                if (*p->hosted_addr() == local) {
                    port = p;
                }
            }
        }
    }
    // A read right at accept saves the connection's epoll_ctl ADD and DEL when the request
    // is there, and costs one recv() (EAGAIN) when it is not: worth it while more than a
    // third of them find it. A client slower than the worker sends only after the accept;
    // then the reads stop, but one connection in 8 still tries, to see when that changes.
    constexpr int kWorthIt = 256 / 3;
    bool read_now = first_read_hits_ > kWorthIt || (++accepts_ & 7) == 0;
    // Owns itself; freed by close().
    auto* s = new Http1Session(*port, fd, peer, accepted_nodelay());
    bool found = s->begin(read_now);
    if (read_now) {
        first_read_hits_ += ((found ? 256 : 0) - first_read_hits_) / 8;
    }
}

}  // namespace http
