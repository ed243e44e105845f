// Request: response writing, error pages, bodies and helpers shared by handlers.
#include <strings.h>
#include <unistd.h>

#include <ctime>

#include "auto_config.h"
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

void rebase_view(std::string_view& v, std::string_view old, const char* to) {
    if (!v.empty() && v.data() >= old.data() && v.data() < old.data() + old.size()) {
        v = std::string_view(to + (v.data() - old.data()), v.size());
    }
}

}  // namespace

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
    body_bytes_sent = method != "HEAD" && !no_body ? body.size() : 0;
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

}  // namespace http
