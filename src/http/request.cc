// Request: response writing, error pages, bodies and helpers shared by handlers.
#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>

#include "auto_config.h"
#include "core/log.h"
#include "http/http.h"
#include "http/session.h"

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

/// nginx's absolute_redirect (on by default): a Location starting with '/' gets the scheme,
/// the request's host (its Host header, else the local address) and the port unless it is 80.
std::string absolute_location(Request& r, std::string_view location) {
    if (location.empty() || location[0] != '/') {
        return std::string(location);
    }
    std::string_view host = r.host;
    if (!host.empty() && host[0] == '[') {
        host = host.substr(0, host.find(']') + 1);
    } else {
        host = host.substr(0, host.rfind(':'));
    }
    while (!host.empty() && host.back() == '.') {
        host.remove_suffix(1);
    }
    const core::SockAddr& local = r.session->local_addr();
    bool inet = local.family() == AF_INET || local.family() == AF_INET6;
    std::string out = "http://";
    if (!host.empty()) {
        for (char c : host) {
            out += static_cast<char>(tolower(static_cast<unsigned char>(c)));
        }
    } else if (inet) {
        out += local.family() == AF_INET6 ? "[" + local.host_text() + "]" : local.host_text();
    }
    if (inet && local.port() != 80) {
        out += ':';
        out += std::to_string(local.port());
    }
    out += location;
    return out;
}

void rebase_view(std::string_view& v, std::string_view old, const char* to) {
    if (!v.empty() && v.data() >= old.data() && v.data() < old.data() + old.size()) {
        v = std::string_view(to + (v.data() - old.data()), v.size());
    }
}

}  // namespace

std::string format_http_date(time_t t) {
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[40];
    size_t n = strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return std::string(buf, n);
}

std::optional<time_t> parse_http_date(std::string_view s) {
    std::string text(s);
    static constexpr const char* kForms[] = {"%a, %d %b %Y %H:%M:%S GMT",
                                             "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"};
    for (const char* form : kForms) {
        struct tm tm = {};
        const char* end = strptime(text.c_str(), form, &tm);
        if (end != nullptr && *end == '\0') {
            return timegm(&tm);
        }
    }
    return std::nullopt;
}

RequestBody::~RequestBody() {
    if (fd >= 0) {
        ::close(fd);
    }
}

void Request::rebase(std::string_view old) {
    head_copy.assign(old);
    const char* to = head_copy.data();
    for (std::string_view* v : {&method, &target, &path, &args, &host}) {
        rebase_view(*v, old, to);
    }
    for (Header& h : headers) {
        rebase_view(h.name, old, to);
        rebase_view(h.value, old, to);
    }
}

Flow Request::read_body(BodyHandler done) {
    return session->read_body(done);
}

std::string_view status_text(int status) {
    switch (status) {
        case 200:
            return "OK";
        case 201:
            return "Created";
        case 204:
            return "No Content";
        case 206:
            return "Partial Content";
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
        case 409:
            return "Conflict";
        case 410:
            return "Gone";
        case 411:
            return "Length Required";
        case 412:
            return "Precondition Failed";
        case 413:
            return "Request Entity Too Large";
        case 414:
            return "Request-URI Too Large";
        case 415:
            return "Unsupported Media Type";
        case 416:
            return "Requested Range Not Satisfiable";
        case 417:
            return "Expectation Failed";
        case 418:
            return "I'm a teapot";
        case 421:
            return "Misdirected Request";
        case 429:
            return "Too Many Requests";
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

std::string Request::build_head(int code, std::string_view content_type,
                                std::optional<uint64_t> content_length) {
    status = code;
    const auto& lc = loc_conf<HttpLocConf>();
    session->before_head(*this);
    if (error_status > 0 && code >= 200 && code < 300) {
        code = error_status;  // the error document answers with the error's status
        status = code;
    }
    if (const auto& extra = lc.add_headers) {
        static constexpr int kAddHeaderCodes[] = {200, 201, 204, 206, 301, 302, 303, 304, 307, 308};
        bool listed = std::find(std::begin(kAddHeaderCodes), std::end(kAddHeaderCodes), code) !=
                      std::end(kAddHeaderCodes);
        for (const auto& h : *extra) {
            if (listed || h->always) {
                std::string v = h->value.eval(*this);
                if (!v.empty()) {
                    out_headers.emplace_back(h->name, std::move(v));
                }
            }
        }
    }
    std::string head;
    head.reserve(256);
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
    if (content_length && !no_body) {
        // RFC 9110 §8.6: never with 1xx, 204 and 304.
        head += "\r\nContent-Length: ";
        head += std::to_string(*content_length);
    }
    for (const auto& [name, value] : out_headers) {
        head += "\r\n";
        head += name;
        head += ": ";
        head += value;
    }
    head += keepalive ? "\r\nConnection: keep-alive\r\n\r\n" : "\r\nConnection: close\r\n\r\n";
    return head;
}

bool Request::sends_body(int code) const {
    return method != "HEAD" && code >= 200 && code != 204 && code != 304;
}

void Request::send(int code, std::string_view content_type, std::string_view body,
                   std::string_view location) {
    if (!location.empty()) {
        out_headers.emplace_back("Location", absolute_location(*this, location));
    }
    std::string head = build_head(code, content_type, body.size());
    bool with_body = sends_body(code);
    body_bytes_sent = with_body ? body.size() : 0;
    if (with_body) {
        head += body;
    }
    bytes_sent = head.size();
    session->write(head);
    session->response_done();
}

void Request::send_file(int code, std::string_view content_type, int fd, uint64_t offset,
                        uint64_t length, bool use_sendfile) {
    std::string head = build_head(code, content_type, length);
    bytes_sent = head.size();
    bool body_follows = sends_body(code) && length > 0;
    session->write(head, body_follows);
    if (body_follows) {
        body_bytes_sent = length;
        bytes_sent += length;
        session->write_file(fd, offset, length, use_sendfile);
    } else {
        ::close(fd);
    }
    session->response_done();
}

void Request::send_error(int code, std::string_view location) {
    // error_page: once per request, for statuses it lists (nginx does not recurse either).
    const auto& pages = loc_conf<HttpLocConf>().error_pages;
    if (pages && !in_error_page && location.empty()) {
        for (const auto& page : *pages) {
            if (std::find(page->codes.begin(), page->codes.end(), code) == page->codes.end()) {
                continue;
            }
            std::string target = page->uri.eval(*this);
            in_error_page = true;
            error_status = page->override_status == -1 ? code : page->override_status;
            if (target.rfind("http://", 0) == 0 || target.rfind("https://", 0) == 0) {
                send_error(page->override_status > 0 ? page->override_status : 302, target);
                return;
            }
            // GET (or HEAD) for the error document, whatever the request was (nginx).
            if (method != "HEAD") {
                method = "GET";
            }
            size_t q = target.find('?');
            std::string args_part = q == std::string::npos ? std::string() : target.substr(q + 1);
            internal_redirect(target.substr(0, q), args_part);
            return;
        }
    }

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

}  // namespace http

namespace http {

Flow Request::internal_redirect(std::string new_uri, std::string_view new_args) {
    if (++redirects > 10) {
        core::log_conn(core::LogLevel::kError, connection_id,
                       "rewrite or internal redirection cycle while internally redirecting to "
                       "\"%s\"",
                       new_uri.c_str());
        send_error(500);
        return Flow::kDone;
    }
    if (!new_uri.empty() && new_uri[0] == '@') {
        for (const LocationBlock* loc : server->named) {
            if (loc->name == new_uri) {
                named_target = loc;
            }
        }
        if (named_target == nullptr) {
            core::log_conn(core::LogLevel::kError, connection_id, "named location \"%s\" not found",
                           new_uri.c_str());
            send_error(500);
            return Flow::kDone;
        }
        out_headers.clear();
        session->restart_at_find_config();
        return Flow::kDone;
    }
    uri = std::move(new_uri);
    args_storage.assign(new_args);
    args = args_storage;
    out_headers.clear();
    session->restart_at_find_config();
    return Flow::kDone;
}

Flow Request::restart_location_search() {
    if (++redirects > 10) {
        core::log_conn(core::LogLevel::kError, connection_id,
                       "rewrite or internal redirection cycle while processing \"%s\"",
                       uri.c_str());
        send_error(500);
        return Flow::kDone;
    }
    session->run_from(Phase::kFindConfig);
    return Flow::kDone;
}

}  // namespace http
