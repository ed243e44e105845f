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

/// proxy_redirect on a Location value, or on the URL of a Refresh value ("5; url=..."): the
/// first rule whose text is a prefix of it (or whose regex matches it) replaces that part.
std::string rewrite_redirect(const http::Request& r, const std::string& value,
                             const ProxyLocConf& c, const ProxyPass& pass, bool refresh) {
    if (c.redirect_off || !c.redirects) {
        return value;
    }
    size_t prefix = 0;
    if (refresh) {
        for (prefix = 0; prefix + 4 <= value.size(); prefix++) {
            if (http::iequals(std::string_view(value).substr(prefix, 4), "url=")) {
                break;
            }
        }
        if (prefix + 4 > value.size()) {
            return value;
        }
        prefix += 4;
    }
    std::string_view v = std::string_view(value).substr(prefix);
    for (const Redirect& rd : *c.redirects) {
        if (rd.is_default && pass.dynamic) {
            continue;  // no default with variables in proxy_pass (nginx)
        }
        std::string from;
        std::string to;
        if (rd.is_default) {
            // nginx: the proxy_pass URL -> the location; without a URI part, "URL/" -> "/".
            from = pass.uri ? pass.url : pass.url + "/";
            to = pass.uri ? pass.location_prefix : "/";
        } else if (rd.regex) {
            std::vector<std::string_view> caps;
            if (!rd.regex->match(v, &caps)) {
                continue;
            }
            r.captures.assign(caps.begin(), caps.end());
            return value.substr(0, prefix) + rd.to_value->eval(r);
        } else {
            from = rd.from_value->eval(r);
            to = rd.to_value->eval(r);
        }
        if (!from.empty() && v.substr(0, from.size()) == from) {
            return value.substr(0, prefix) + to + std::string(v.substr(from.size()));
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

std::string request_head(const http::Request& r, const ProxyLocConf& c, const ProxyPass& pass,
                         bool streamed, const std::string* set_body) {
    std::string h;
    h.reserve(512);
    if (c.method) {
        h += c.method->eval(r);  // proxy_method
    } else {
        h.append(r.method);
    }
    h += ' ';
    bool args = !r.args.empty();
    if (pass.dynamic && pass.uri) {
        // With variables, the URI part is the whole URI, arguments included (nginx).
        if (pass.uri->front() == '?') {
            h += '/';
        }
        h += *pass.uri;
        args = false;
    } else if (pass.uri && !pass.dynamic) {
        // The part of the URI that matched the location is replaced by the URI part.
        h += *pass.uri;
        h += http::escape_uri(
            std::string_view(r.uri).substr(std::min(pass.location_prefix.size(), r.uri.size())));
    } else if (!r.uri_changed) {
        h.append(r.path);  // as the client sent it (the target of an absolute-form request)
    } else {
        h += http::escape_uri(r.uri);
    }
    if (args) {
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
    if (set_body != nullptr) {
        h += "Content-Length: ";  // proxy_set_body replaces the client's body
        h += std::to_string(set_body->size());
        h += "\r\n";
    } else if (streamed && r.chunked) {
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
                                       const ProxyPass& pass, const http::ParsedResponse& head) {
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
            value = rewrite_redirect(r, value, c, pass, http::iequals(h.name, "Refresh"));
        } else if ((c.cookie_domains || c.cookie_paths || c.cookie_flags) &&
                   http::iequals(h.name, "Set-Cookie")) {
            value = rewrite_set_cookie(r, c, value);
        }
        r.out_headers.emplace_back(std::string(h.name), std::move(value));
    }
    return type;
}

}  // namespace mod::proxy
