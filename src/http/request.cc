// Request: response writing, error pages, bodies and helpers shared by handlers.
#include <fcntl.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cstdio>

#include <algorithm>
#include <cctype>
#include <ctime>

#include "auto_config.h"
#include "core/log.h"
#include "http/core_request.h"
#include "http/error_log.h"
#include "http/http.h"
#include "http/pacer.h"
#include "http/session.h"

namespace http {

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

namespace {

/// RFC 9112 §7.1.2: the last chunk, with the trailer fields of the response.
std::string last_chunk(const Request& r) {
    std::string out = "0\r\n";
    for (const auto& [name, value] : r.out_trailers) {
        out += name;
        out += ": ";
        out += value;
        out += "\r\n";
    }
    out += "\r\n";
    return out;
}

/// RFC 9112 §7.1: each piece as "size CRLF data CRLF", then the last chunk.
void chunked_body_filter(Request& r, const BodyChunk& c, size_t next) {
    uint64_t n = c.size();
    if (n > 0) {
        char line[24];
        int len = snprintf(line, sizeof(line), "%llx\r\n", static_cast<unsigned long long>(n));
        BodyChunk piece;
        std::string framed;
        if (c.is_file()) {
            piece.data = std::string_view(line, static_cast<size_t>(len));
            r.next_body(next, piece);
            BodyChunk file = c;
            file.last = false;
            r.next_body(next, file);
            framed = "\r\n";
        } else {
            framed.reserve(static_cast<size_t>(len) + c.data.size() + 7);
            framed.append(line, static_cast<size_t>(len));
            framed += c.data;
            framed += "\r\n";
        }
        if (c.last) {
            framed += last_chunk(r);
        }
        piece.data = framed;
        piece.last = c.last;
        r.next_body(next, piece);
        return;
    }
    BodyChunk end;
    std::string tail = c.last ? last_chunk(r) : std::string();
    end.data = tail;
    end.last = c.last;
    if (c.is_file()) {
        ::close(c.fd);
    }
    if (c.last) {
        r.next_body(next, end);
    }
}

void rebase_view(std::string_view& v, std::string_view old, const char* to) {
    if (!v.empty() && v.data() >= old.data() && v.data() < old.data() + old.size()) {
        v = std::string_view(to + (v.data() - old.data()), v.size());
    }
}

/// nginx's page for an error or redirect status (empty for 204 and 304).
std::string default_page(const Request& r, int code, std::string_view detail) {
    if (code == 204 || code == 304) {
        return {};
    }
    // nginx's pages name 302 "Found" (its status line says "Moved Temporarily") and 401
    // "Authorization Required" (its status line says "Unauthorized").
    std::string_view reason = code == 302   ? std::string_view("Found")
                              : code == 401 ? std::string_view("Authorization Required")
                                            : status_text(code);
    std::string title = std::to_string(code) + (reason.empty() ? "" : " ") + std::string(reason);
    std::string head_title =
        detail.empty() ? title : std::to_string(code) + " " + std::string(detail);
    std::string body =
        "<html>\r\n<head><title>" + head_title + "</title></head>\r\n<body>\r\n<center><h1>" +
        title + "</h1></center>\r\n" +
        (detail.empty() ? std::string() : "<center>" + std::string(detail) + "</center>\r\n") +
        "<hr><center>" +
        (*r.loc_conf<HttpLocConf>().server_tokens ? "halo/" HALO_VERSION : "halo") +
        "</center>\r\n</body>\r\n</html>\r\n";
    if (wants_error_padding(r, code)) {
        body += error_padding();
    }
    return body;
}

}  // namespace

std::string format_http_date(time_t t) {
    // The last time formatted, per thread: a file served again and again has one mtime, and
    // strftime() was a few percent of a small static response.
    thread_local time_t last = -1;
    thread_local char buf[40];
    thread_local size_t len = 0;
    if (t != last || len == 0) {
        struct tm tm;
        gmtime_r(&t, &tm);
        len = strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        last = t;
    }
    return std::string(buf, len);
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

int open_temp_file(const std::string& dir) {
    int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR)) {
        return fd;
    }
    std::string tmpl = dir + "/halo-body-XXXXXX";
    fd = mkostemp(tmpl.data(), O_CLOEXEC);
    if (fd >= 0) {
        unlink(tmpl.c_str());
    }
    return fd;
}

RequestBody::~RequestBody() {
    if (fd >= 0) {
        ::close(fd);
    }
    if (remove) {
        unlink(path.c_str());
    }
}

void Request::rebase(std::string_view old) {
    head_copy.assign(old);
    const char* to = head_copy.data();
    for (std::string_view* v : {&method, &target, &request_line, &path, &args, &host}) {
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

void Request::stream_body(BodyDataHandler on_data) {
    session->stream_body(on_data);
}

void Request::pause_input() {
    session->pause_input();
}

void Request::resume_input() {
    session->resume_input();
}

std::string_view status_text(int status) {
    switch (status) {
        case 200:
            return "OK";
        case 201:
            return "Created";
        case 202:
            return "Accepted";  // nginx's table has it
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

void format_http1_head(Request& r, bool no_body, std::string& head) {
    const auto& lc = r.loc_conf<HttpLocConf>();
    if (!r.out.header_only && !r.out.content_length) {
        // The length is unknown: chunked for HTTP/1.1, else the end of the connection ends the
        // body (RFC 9112 §6.3).
        if (r.http_minor >= 1 && *lc.chunked_transfer_encoding) {
            r.out_headers.emplace_back("Transfer-Encoding", "chunked");
            r.add_body_filter(&chunked_body_filter);
        } else {
            r.keepalive = false;
        }
    }

    head.reserve(256);
    head += "HTTP/1.1 ";
    head += std::to_string(r.status);
    head += ' ';
    std::string_view reason = status_text(r.status);
    head += reason.empty() ? std::string_view("Unknown") : reason;
    head += *lc.server_tokens ? "\r\nServer: halo/" HALO_VERSION "\r\nDate: "
                              : "\r\nServer: halo\r\nDate: ";
    head += http_date();
    if (!r.out.content_type.empty()) {
        head += "\r\nContent-Type: ";
        head += r.out.content_type;
    }
    if (r.out.content_length && !no_body) {
        // RFC 9110 §8.6: never with 1xx, 204 and 304.
        head += "\r\nContent-Length: ";
        head += std::to_string(*r.out.content_length);
    }
    for (const auto& [name, value] : r.out_headers) {
        head += "\r\n";
        head += name;
        head += ": ";
        head += value;
    }
    head += r.out.upgrade ? "\r\nConnection: upgrade\r\n\r\n"
            : r.keepalive ? "\r\nConnection: keep-alive\r\n\r\n"
                          : "\r\nConnection: close\r\n\r\n";
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

void Request::send_head(int code, std::string_view content_type,
                        std::optional<uint64_t> content_length) {
    status = code;
    const auto& lc = loc_conf<HttpLocConf>();
    session->before_head(*this);
    if (error_status > 0 && code >= 200 && code < 300) {
        code = error_status;  // the error document answers with the error's status
        status = code;
    }
    absolute_location(lc);
    out.content_type.assign(content_type);
    out.content_length = content_length;
    out.header_only = !sends_body(code);
    for (HeaderFilter f : session->port().main().header_filters) {
        f(*this);
        if (filter_finalize_ != 0) {
            break;
        }
    }
    if (filter_finalize_ != 0) {
        // As nginx's filter_finalize: the error page of the new status, through the filters
        // again with what the first pass added (add_header ... always comes twice, as there).
        status = filter_finalize_;
        filter_finalize_ = 0;
        remove_out_header("Last-Modified");
        remove_out_header("ETag");
        remove_out_header("Accept-Ranges");
        body_filters.clear();
        clear_ctx();
        replacement_body_ = default_page(*this, status, {});
        replacing_body_ = true;
        out.content_type = "text/html";
        out.content_length = replacement_body_.size();
        out.header_only = !sends_body(status);
        for (HeaderFilter f : session->port().main().header_filters) {
            f(*this);
        }
    }
    code = status;  // a filter may have changed it
    if (code == 204) {
        out.content_type.clear();  // nginx's header filter: no Content-Type with a 204
    }
    bool no_body = code < 200 || code == 204 || code == 304;
    session->make_head(*this, no_body, pending_head_);
    if (!pending_head_.empty()) {
        bytes_sent = pending_head_.size();
    }
    head_sent = true;
    if (limit_rate || (lc.limit_rate && !lc.limit_rate->zero())) {
        start_pacing(lc);
    }
}

void Request::next_body(size_t next, const BodyChunk& chunk) {
    if (replacing_body_) {
        // After filter_finalize(): the handler's body gives way to the error page.
        if (chunk.is_file()) {
            ::close(chunk.fd);
        }
        if (chunk.last) {
            replacing_body_ = false;
            BodyChunk page;
            page.data = replacement_body_;
            page.last = true;
            next_body(0, page);
        }
        return;
    }
    if (next < body_filters.size() && !out.header_only) {
        body_filters[next](*this, chunk, next + 1);
        return;
    }
    if (pacer_ != nullptr) {
        pacer_->take(chunk);  // limit_rate: the pacer calls write_out() as the rate allows
        return;
    }
    write_out(chunk);
}

void Request::write_out(const BodyChunk& chunk) {
    // The writer: the head goes out with the first bytes of the body.
    if (out.header_only) {
        if (chunk.is_file()) {
            ::close(chunk.fd);
        }
        if (!pending_head_.empty()) {
            session->write(pending_head_);
            pending_head_.clear();
        }
    } else {
        body_bytes_sent += chunk.size();
        bytes_sent += chunk.size();
        if (chunk.is_file()) {
            if (!pending_head_.empty()) {
                session->write(pending_head_, chunk.length > 0);
                pending_head_.clear();
            }
            if (chunk.length > 0) {
                session->write_file(chunk.fd, chunk.offset, chunk.length, use_sendfile);
            } else {
                ::close(chunk.fd);
            }
        } else if (!pending_head_.empty()) {
            if (chunk.data.size() <= 2048) {
                pending_head_ += chunk.data;  // one write for a small response
                session->write(pending_head_);
            } else {
                session->write(pending_head_, chunk.data);  // one writev, no copy
            }
            pending_head_.clear();
        } else if (!chunk.data.empty()) {
            session->write(chunk.data);
        }
    }
    if (chunk.last) {
        session->response_done();  // `this` may be gone
    } else {
        session->body_written();
    }
}

bool Request::output_pending() const {
    return session->output_pending() || (pacer_ != nullptr && pacer_->holding());
}

bool Request::output_blocked() const {
    return filter_on_drained != nullptr || session->output_blocked() ||
           (pacer_ != nullptr && pacer_->blocked());
}

size_t Request::output_buffered() const {
    return session->output_buffered();
}

bool Request::can_splice_body() {
    return head_sent && body_filters.empty() && !out.header_only && !replacing_body_ &&
           pacer_ == nullptr && session->prepare_splice();
}

ev::IoStatus Request::splice_body(ev::Connection& from, size_t max, size_t& n) {
    if (!pending_head_.empty()) {
        session->write(pending_head_, true);
        pending_head_.clear();
    }
    ev::IoStatus st = session->splice_from(from, max, n);
    if (n > 0) {
        body_bytes_sent += n;
        bytes_sent += n;
        session->body_written();
    }
    return st;
}

std::string* Request::find_out_header(std::string_view name) {
    for (auto& [n, v] : out_headers) {
        if (n.size() == name.size() && strncasecmp(n.data(), name.data(), name.size()) == 0) {
            return &v;
        }
    }
    return nullptr;
}

void Request::remove_out_header(std::string_view name) {
    std::erase_if(out_headers, [name](const auto& h) {
        return h.first.size() == name.size() &&
               strncasecmp(h.first.data(), name.data(), name.size()) == 0;
    });
}

std::string escape_log(std::string_view v) {
    return escape_bytes(
        v, "\\x", [](unsigned char c) { return c == '"' || c == '\\' || c < 0x20 || c >= 0x7f; });
}

std::string escape_uri(std::string_view uri) {
    return escape_bytes(uri, "%", [](unsigned char c) {
        static constexpr std::string_view kSafe = "-._~!$&'()*+,;=:@/";
        return !isalnum(c) && kSafe.find(static_cast<char>(c)) == std::string_view::npos;
    });
}

std::string escape_bytes(std::string_view s, std::string_view prefix,
                         bool (*escape)(unsigned char c)) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        if (escape(c)) {
            out += prefix;
            out += kHex[c >> 4];
            out += kHex[c & 15];
        } else {
            out += ch;
        }
    }
    return out;
}

std::string_view Request::scheme() const {
    return session->scheme();
}

std::string_view Request::host_name() const {
    std::string_view h = host;
    if (!h.empty() && h[0] != '[') {
        h = h.substr(0, h.rfind(':'));
    } else if (!h.empty()) {
        h = h.substr(0, h.find(']') + 1);
    }
    while (!h.empty() && h.back() == '.') {
        h.remove_suffix(1);
    }
    if (h.empty() && server != nullptr && !server->names.empty()) {
        return server->names[0];
    }
    return h;
}

std::string Request::log_context() const {
    std::string out = ", client: " + peer.host_text() + ", server: ";
    if (server != nullptr && !server->names.empty()) {
        out += server->names[0];
    }
    if (!request_line.empty()) {
        out.append(", request: \"").append(escape_log(request_line)).append("\"");
    }
    if (parent != nullptr) {
        out.append(", subrequest: \"").append(escape_log(uri)).append("\"");
    }
    if (const UpstreamLog* u = ctx<UpstreamLog>(); u != nullptr && !u->current.empty()) {
        out.append(", upstream: \"").append(escape_log(u->current)).append("\"");
    }
    if (!host.empty()) {
        out.append(", host: \"").append(escape_log(host)).append("\"");
    }
    if (const Header* referer = find_header("Referer"); referer != nullptr) {
        out.append(", referrer: \"").append(escape_log(referer->value)).append("\"");
    }
    return out;
}

/// nginx's absolute_redirect: "/path" in Location becomes "scheme://host[:port]/path".
void Request::absolute_location(const HttpLocConf& lc) {
    std::string* loc = find_out_header("Location");
    if (loc == nullptr || loc->empty() || (*loc)[0] != '/' || !*lc.absolute_redirect ||
        out.location_as_is) {
        return;
    }
    std::string base(scheme());
    base += "://";
    if (*lc.server_name_in_redirect && server != nullptr && !server->names.empty() &&
        server->names[0][0] != '~' && server->names[0][0] != '*' && server->names[0][0] != '.') {
        base += server->names[0];
    } else if (std::string_view h = host_name(); !h.empty()) {
        for (char c : h) {
            base += static_cast<char>(tolower(static_cast<unsigned char>(c)));  // as $host
        }
    } else {
        const core::SockAddr& local = session->local_addr();
        base += local.family() == AF_INET6 ? "[" + local.host_text() + "]" : local.host_text();
    }
    uint16_t port = session->local_addr().port();
    if (*lc.port_in_redirect && port != 0 && port != (scheme() == "https" ? 443 : 80)) {
        base += ':';
        base += std::to_string(port);
    }
    loc->insert(0, base);
}

bool Request::sends_body(int code) const {
    return method != "HEAD" && code >= 200 && code != 204 && code != 304;
}

void Request::send(int code, std::string_view content_type, std::string_view body,
                   std::string_view location) {
    if (!location.empty()) {
        out_headers.emplace_back("Location", std::string(location));
    }
    send_head(code, content_type, body.size());
    BodyChunk c;
    c.data = body;
    c.last = true;
    send_body(c);
}

void Request::send_file(int code, std::string_view content_type, int fd, uint64_t offset,
                        uint64_t length, bool sendfile) {
    use_sendfile = sendfile;
    send_head(code, content_type, length);
    BodyChunk c;
    c.fd = fd;
    c.offset = offset;
    c.length = length;
    c.last = true;
    send_body(c);
}

void Request::send_error(int code, std::string_view location) {
    if (head_sent) {
        // Too late for an error response: the client sees the connection end early.
        log_error(*this, core::LogLevel::kInfo,
                  "response cut short (status %d after the head was sent)", code);
        abort();
        return;
    }
    // nginx closes the connection after these, error_page or not (special response handler).
    switch (code) {
        case 400:
        case 413:
        case 414:
        case 500:
        case 501:
        case kStatusPlainHttpToHttps:
        case kStatusSslCertError:
        case kStatusSslNoCert:
            keepalive = false;
            break;
        default:
            break;
    }
    // error_page: once per request, for statuses it lists (nginx does not recurse either).
    const auto& pages = loc_conf<HttpLocConf>().error_pages;
    bool again = in_error_page && *loc_conf<HttpLocConf>().recursive_error_pages;
    if (pages && (!in_error_page || again) && location.empty()) {
        for (const auto& page : *pages) {
            if (std::find(page->codes.begin(), page->codes.end(), code) == page->codes.end()) {
                continue;
            }
            std::string target = page->uri.eval(*this);
            in_error_page = true;
            error_status = page->override_status == -1 ? code : page->override_status;
            if (target.rfind("http://", 0) == 0 || target.rfind("https://", 0) == 0) {
                int redirect = page->override_status > 0 ? page->override_status : 302;
                error_status = redirect;  // $status, as nginx's err_status
                send_error(redirect, target);
                return;
            }
            // GET (or HEAD) for the error document, whatever the request was (nginx); a
            // named location gets the request as it is.
            if (method != "HEAD" && target[0] != '@') {
                method = "GET";
            }
            size_t q = target.find('?');
            std::string args_part = q == std::string::npos ? std::string() : target.substr(q + 1);
            internal_redirect(target.substr(0, q), args_part);
            return;
        }
    }

    std::string_view detail;
    if (code == kStatusPlainHttpToHttps) {
        code = 400;
        detail = "The plain HTTP request was sent to HTTPS port";
    } else if (code == kStatusSslCertError) {
        code = 400;
        detail = "The SSL certificate error";
    } else if (code == kStatusSslNoCert) {
        code = 400;
        detail = "No required SSL certificate was sent";
    }
    std::string body = default_page(*this, code, detail);
    if (auto refresh = msie_refresh_body(*this, code, location)) {
        error_status = 0;  // nginx answers the refresh page with 200, whatever led to it
        send(200, "text/html", *refresh);
        return;
    }
    send(code, body.empty() ? "" : "text/html", body, location);
}

void Request::start_tunnel(void (*on_data)(Request&, std::string_view)) {
    if (!pending_head_.empty()) {
        session->write(pending_head_);
        pending_head_.clear();
    }
    session->start_tunnel(on_data);
}

void Request::write_raw(std::string_view data) {
    session->write(data);
    bytes_sent += data.size();
    body_bytes_sent += data.size();
    session->body_written();  // send_timeout while the client is behind
}

void Request::resume() {
    session->run_phases();
}

void Request::abort() {
    session->abort();
}

void Request::client_gone() {
    if (!head_sent) {
        status = 499;
    }
    session->client_gone();
}

}  // namespace http

namespace http {

void Request::clear_out_headers_for_redirect() {
    if (!in_error_page) {
        out_headers.clear();
        return;
    }
    // nginx: the challenge of a 401 stays with the error page that replaces it.
    std::erase_if(out_headers, [](const auto& h) {
        return strcasecmp(h.first.c_str(), "WWW-Authenticate") != 0;
    });
}

Flow Request::internal_redirect(std::string new_uri, std::string_view new_args) {
    if (++redirects > 10) {
        log_error(*this, core::LogLevel::kError,
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
            log_error(*this, core::LogLevel::kError, "named location \"%s\" not found",
                      new_uri.c_str());
            send_error(500);
            return Flow::kDone;
        }
        clear_out_headers_for_redirect();
        body_filters.clear();
        clear_ctx();
        session->restart_at_find_config();
        return Flow::kDone;
    }
    uri = std::move(new_uri);
    uri_changed = true;
    args_storage.assign(new_args);
    args = args_storage;
    clear_out_headers_for_redirect();
    body_filters.clear();
    clear_ctx();
    session->restart_at_find_config();
    return Flow::kDone;
}

Flow Request::restart_location_search() {
    if (++redirects > 10) {
        log_error(*this, core::LogLevel::kError,
                  "rewrite or internal redirection cycle while processing \"%s\"", uri.c_str());
        send_error(500);
        return Flow::kDone;
    }
    session->run_from(Phase::kFindConfig);
    return Flow::kDone;
}

}  // namespace http
