// The heads the proxy writes: the request to the upstream, and the upstream's response
// fields passed to the client.
#include <algorithm>
#include <string>

#include "http/parse.h"
#include "modules/proxy/proxy.h"

namespace mod::proxy {
namespace {

bool in_list(const std::shared_ptr<std::vector<std::string>>& list, std::string_view name) {
    if (!list) {
        return false;
    }
    for (const std::string& n : *list) {
        if (http::iequals(n, name)) {
            return true;
        }
    }
    return false;
}

/// Request headers never passed on (hop-by-hop, RFC 9110 §7.6.1, and what the proxy sets).
bool skip_request_header(std::string_view name) {
    static constexpr std::string_view kSkip[] = {
        "Host",    "Connection", "Keep-Alive",        "Proxy-Connection", "TE",
        "Trailer", "Upgrade",    "Transfer-Encoding", "Expect",           "Content-Length"};
    for (std::string_view s : kSkip) {
        if (http::iequals(s, name)) {
            return true;
        }
    }
    return false;
}

}  // namespace

bool skip_response_header(std::string_view name, const ProxyLocConf& c) {
    static constexpr std::string_view kHop[] = {
        "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade",
        "TE",         "Trailer",    "Content-Length",   "Content-Type"};
    for (std::string_view s : kHop) {
        if (http::iequals(s, name)) {
            return true;
        }
    }
    static constexpr std::string_view kHidden[] = {"Date", "Server", "X-Pad"};
    bool hidden = name.size() > 8 && http::iequals(name.substr(0, 8), "X-Accel-");
    for (std::string_view s : kHidden) {
        hidden = hidden || http::iequals(s, name);
    }
    if (hidden && !in_list(c.pass_headers, name)) {
        return true;
    }
    return in_list(c.hide_headers, name);
}

namespace {

std::string rewrite_redirect(const std::string& value, const ProxyLocConf& c) {
    if (c.redirect_off || !c.redirects) {
        return value;
    }
    const ProxyPass& pass = *c.pass;
    for (const Redirect& rd : *c.redirects) {
        std::string from = rd.from;
        std::string to = rd.to;
        if (rd.is_default) {
            // "http://host:port/uri" -> the location's prefix.
            from = "http://" + pass.host + pass.uri.value_or(pass.location_prefix);
            to = pass.location_prefix;
        }
        size_t at = value.find(from);
        if (!from.empty() && at != std::string::npos &&
            (at == 0 || http::iequals(value.substr(0, 4), "url="))) {
            return value.substr(0, at) + to + value.substr(at + from.size());
        }
    }
    return value;
}

bool set_by_conf(const ProxyLocConf& c, std::string_view name) {
    if (c.set_headers) {
        for (const auto& s : *c.set_headers) {
            if (http::iequals(s->name, name)) {
                return true;
            }
        }
    }
    return false;
}

}  // namespace

std::string request_head(const http::Request& r, const ProxyLocConf& c, bool streamed) {
    const ProxyPass& pass = *c.pass;
    std::string h;
    h.reserve(512);
    h.append(r.method);
    h += ' ';
    if (pass.uri) {
        // The part of the URI that matched the location is replaced by the URI part.
        h += *pass.uri;
        h += http::escape_uri(
            std::string_view(r.uri).substr(std::min(pass.location_prefix.size(), r.uri.size())));
    } else if (!r.uri_changed) {
        h.append(r.path);  // as the client sent it (the target of an absolute-form request)
    } else {
        h += http::escape_uri(r.uri);
    }
    if (!r.args.empty()) {
        h += '?';
        h.append(r.args);
    }
    h += *c.http_minor == 1 ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n";
    bool host_set = false;
    bool connection_set = false;
    if (c.set_headers) {
        for (const auto& s : *c.set_headers) {
            std::string v = s->value.eval(r);
            host_set = host_set || http::iequals(s->name, "Host");
            connection_set = connection_set || http::iequals(s->name, "Connection");
            if (v.empty()) {
                continue;  // an empty value removes the header (nginx)
            }
            h += s->name;
            h += ": ";
            h += v;
            h += "\r\n";
        }
    }
    if (!host_set) {
        h += "Host: ";
        h += pass.host;
        h += "\r\n";
    }
    if (!connection_set) {
        h += "Connection: close\r\n";
    }
    if (*c.pass_request_headers) {
        for (const http::Header& hd : r.headers) {
            if (skip_request_header(hd.name) || set_by_conf(c, hd.name)) {
                continue;
            }
            h.append(hd.name);
            h += ": ";
            h.append(hd.value);
            h += "\r\n";
        }
    }
    if (streamed && r.chunked) {
        h += "Transfer-Encoding: chunked\r\n";  // re-chunked as it comes
    } else if (streamed) {
        h += "Content-Length: ";
        h += std::to_string(r.content_length);
        h += "\r\n";
    } else if (*c.pass_request_body && r.body && r.body->size > 0) {
        h += "Content-Length: ";
        h += std::to_string(r.body->size);
        h += "\r\n";
    }
    h += "\r\n";
    return h;
}

std::string_view pass_response_headers(http::Request& r, const ProxyLocConf& c,
                                       const http::ParsedResponse& head) {
    std::string_view type;
    for (const http::Header& h : head.headers) {
        if (http::iequals(h.name, "Content-Type")) {
            type = h.value;
        }
        if (skip_response_header(h.name, c)) {
            continue;
        }
        std::string value(h.value);
        if (http::iequals(h.name, "Location") || http::iequals(h.name, "Refresh")) {
            value = rewrite_redirect(value, c);
        }
        r.out_headers.emplace_back(std::string(h.name), std::move(value));
    }
    return type;
}

}  // namespace mod::proxy
