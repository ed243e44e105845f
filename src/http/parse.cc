#include "http/parse.h"

#include <strings.h>

#include <optional>

#include "core/conf_context.h"

namespace http {
bool is_tchar(unsigned char c) {
    static constexpr std::string_view kExtra = "!#$%&'*+-.^_`|~";
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           kExtra.find(static_cast<char>(c)) != std::string_view::npos;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view trim_ows(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
        v.remove_prefix(1);
    }
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
        v.remove_suffix(1);
    }
    return v;
}

bool list_has_token(std::string_view v, std::string_view token) {
    while (!v.empty()) {
        size_t comma = v.find(',');
        if (iequals(trim_ows(v.substr(0, comma)), token)) {
            return true;
        }
        if (comma == std::string_view::npos) {
            break;
        }
        v.remove_prefix(comma + 1);
    }
    return false;
}

namespace {

/// nginx's method characters: upper-case letters, "_" and "-" (a token in RFC 9110, but
/// nginx refuses the rest, so a lower-case "get" is never forwarded).
bool is_method_char(char c) {
    return (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
}

bool is_method(std::string_view s) {
    if (s.empty()) {
        return false;
    }
    for (char c : s) {
        if (!is_method_char(c)) {
            return false;
        }
    }
    return true;
}

/// nginx's words for a refused header line: the line, escaped and cut.
std::string bad_header(std::string_view what, std::string_view line) {
    constexpr size_t kShown = 256;
    std::string out = "client sent " + std::string(what) + " header line: \"";
    out += escape_log(line.substr(0, kShown));
    out += line.size() > kShown ? "...\"" : "\"";
    return out;
}

/// field-value characters (RFC 9110 §5.5): VCHAR, obs-text, SP, HTAB.
bool is_field_char(unsigned char c) {
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/// RFC 3986 §5.2.4 on a decoded path, merging slashes as nginx does. False when it escapes
/// the root ("/../x").
bool normalize_path(std::string_view raw, std::string& out, bool merge_slashes) {
    out.clear();
    out.reserve(raw.size());
    for (size_t i = 0; i < raw.size(); i++) {
        char c = raw[i];
        if (c == '%') {
            int hi = i + 2 < raw.size() ? hex_value(raw[i + 1]) : -1;
            int lo = hi >= 0 ? hex_value(raw[i + 2]) : -1;
            if (lo < 0) {
                return false;
            }
            c = static_cast<char>(hi * 16 + lo);
            if (c == '\0') {
                return false;
            }
            i += 2;
        }
        out += c;
    }
    // Now resolve "//", "/./" and "/../" segment by segment.
    std::string path;
    path.reserve(out.size());
    size_t i = 0;
    while (i < out.size()) {
        size_t slash = out.find('/', i + 1);
        std::string_view seg(out.data() + i, (slash == std::string::npos ? out.size() : slash) - i);
        if (seg == "/" && slash != std::string::npos && merge_slashes) {
            // empty segment: merged (merge_slashes on)
        } else if (seg == "/.") {
            if (slash == std::string::npos) {
                path += '/';
            }
        } else if (seg == "/..") {
            size_t last = path.rfind('/');
            if (last == std::string::npos) {
                return false;
            }
            path.erase(last);
            if (slash == std::string::npos) {
                path += '/';
            }
        } else {
            path.append(seg);
        }
        if (slash == std::string::npos) {
            break;
        }
        i = slash;
    }
    if (path.empty()) {
        path = "/";
    }
    out.swap(path);
    return true;
}

bool valid_host(std::string_view h) {
    if (h.empty() || h[0] == '.') {
        return false;
    }
    for (size_t i = 0; i < h.size(); i++) {
        unsigned char c = static_cast<unsigned char>(h[i]);
        if (c == '/' || c == '\\' || c <= 0x20 || c == 0x7f ||
            (c == '.' && i + 1 < h.size() && h[i + 1] == '.')) {
            return false;
        }
    }
    return true;
}

}  // namespace

void HeadParser::reset() {
    pos_ = scan_ = 0;
    have_request_line_ = line_refused_ = method_read_ = line_read_ = false;
    status_ = 0;
    reason_.clear();
    line_ = method_ = target_ = {};
    minor_ = 1;
    fields_.clear();
    ignored_.clear();
}

ParseResult HeadParser::parse(std::string_view in, Request& r) {
    if (in.size() > UINT32_MAX) {
        return fail(431, "client sent too large request");
    }
    for (;;) {
        size_t lf = in.find('\n', scan_);
        if (lf == std::string_view::npos) {
            size_t from = scan_;
            // A CR at the end may be that of a CRLF: looked at again with the next bytes.
            scan_ = !in.empty() && in.back() == '\r' ? in.size() - 1 : in.size();
            if (check_partial(in, from) == ParseResult::kError) {
                return ParseResult::kError;
            }
            size_t partial = in.size() - pos_;
            if (partial > 0 && in.back() == '\r') {
                partial--;  // judged as a complete line would be
            }
            if (partial > max_line_ || in.size() > max_head_) {
                return too_long(in, partial);
            }
            return ParseResult::kIncomplete;
        }
        size_t end = lf > pos_ && in[lf - 1] == '\r' ? lf - 1 : lf;
        std::string_view line = in.substr(pos_, end - pos_);
        size_t next = lf + 1;
        if (line.size() > max_line_ || next > max_head_) {
            return too_long(in, line.size());
        }
        size_t off = pos_;
        pos_ = scan_ = next;
        if (!have_request_line_) {
            if (line.empty()) {
                continue;  // RFC 9112 §2.2: empty lines before the request line are ignored
            }
            line_ = {static_cast<uint32_t>(off),
                     static_cast<uint32_t>(std::min(line.find('\r'), line.size()))};
            line_read_ = true;
            if (request_line(line, off, r) != ParseResult::kIncomplete) {
                return ParseResult::kError;
            }
            have_request_line_ = true;
        } else if (line.empty()) {
            return finish(in, r);
        } else if (header_line(line, off) != ParseResult::kIncomplete) {
            return ParseResult::kError;
        }
    }
}

ParseResult HeadParser::check_partial(std::string_view in, size_t from) {
    // No LF from `from` on: a CR there with a byte after it is bare (RFC 9112 §2.2).
    size_t cr = in.find('\r', from);
    if (cr != std::string_view::npos && cr + 1 < in.size()) {
        if (!have_request_line_) {
            return fail(400, "client sent invalid request");
        }
        return fail(400, bad_header("invalid", in.substr(pos_, cr + 1 - pos_)));
    }
    if (have_request_line_ || method_read_) {
        return ParseResult::kIncomplete;
    }
    for (size_t i = from; i < in.size(); i++) {
        if (in[i] == ' ') {
            method_read_ = true;
            break;
        }
        if (!is_method_char(in[i]) && in[i] != '\r') {  // the CR is the last byte
            return fail(400, "client sent invalid method");
        }
    }
    return ParseResult::kIncomplete;
}

ParseResult HeadParser::too_long(std::string_view in, size_t line_len) {
    if (line_len <= max_line_) {
        return fail(431, "client sent too large request");  // the head as a whole
    }
    if (!have_request_line_) {
        return fail(414, "client sent too long URI");
    }
    return fail(431, bad_header("too long", in.substr(pos_, line_len)));
}

std::string_view HeadParser::request_line(std::string_view in) const {
    if (line_read_) {
        return in.substr(line_.off, line_.len);
    }
    std::string_view rest = pos_ < in.size() ? in.substr(pos_) : std::string_view();
    return rest.substr(0, rest.find_first_of("\r\n"));
}

ParseResult HeadParser::request_line(std::string_view line, size_t off, Request& r) {
    if (line.find('\r') != std::string_view::npos) {
        return fail(400, "client sent invalid request");  // bare CR (RFC 9112 §2.2)
    }
    size_t sp1 = line.find(' ');
    size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp1 != std::string_view::npos && !is_method(line.substr(0, sp1))) {
        return fail(400, "client sent invalid method");
    }
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
        return fail(400, "client sent invalid request");
    }
    std::string_view method = line.substr(0, sp1);
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string_view version = line.substr(sp2 + 1);
    if (!is_method(method) || target.empty()) {
        return fail(400, "client sent invalid request");
    }
    for (char c : target) {
        auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f) {
            return fail(400, "client sent invalid request");
        }
    }
    if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
        version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
        return fail(400, "client sent invalid request");
    }
    if (version[5] != '1') {
        return fail(505, "client sent invalid version");
    }
    minor_ = version[7] - '0';
    method_ = {static_cast<uint32_t>(off), static_cast<uint32_t>(method.size())};
    target_ = {static_cast<uint32_t>(off + sp1 + 1), static_cast<uint32_t>(target.size())};
    (void)r;
    return ParseResult::kIncomplete;
}

ParseResult HeadParser::header_line(std::string_view line, size_t off) {
    if (line[0] == ' ' || line[0] == '\t') {
        return fail(400, bad_header("invalid", line));  // obs-fold (RFC 9112 §5.2)
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
        return fail(400, bad_header("invalid", line));
    }
    // nginx's header names: letters, digits, '-' and, with underscores_in_headers, '_'. Other
    // characters make the line invalid: ignored (ignore_invalid_headers) or taken as it is.
    // Whitespace or a control character in the name is refused (RFC 9112 §5.1).
    bool valid = true;
    for (char ch : line.substr(0, colon)) {
        auto c = static_cast<unsigned char>(ch);
        if (c <= 0x20 || c == 0x7f) {
            return fail(400, bad_header("invalid", line));
        }
        if (!isalnum(c) && c != '-' && (c != '_' || !rules_.underscores)) {
            valid = false;
        }
    }
    std::string_view raw = line.substr(colon + 1);
    for (char c : raw) {
        if (!is_field_char(static_cast<unsigned char>(c))) {
            return fail(400, bad_header("invalid", line));  // CTLs, NUL and bare CR
        }
    }
    if (!valid && rules_.ignore_invalid) {
        ignored_.push_back({static_cast<uint32_t>(off), static_cast<uint32_t>(line.size())});
        return ParseResult::kIncomplete;
    }
    std::string_view value = trim_ows(raw);
    size_t value_off = off + colon + 1 + static_cast<size_t>(value.data() - raw.data());
    fields_.push_back({{static_cast<uint32_t>(off), static_cast<uint32_t>(colon)},
                       {static_cast<uint32_t>(value_off), static_cast<uint32_t>(value.size())}});
    return ParseResult::kIncomplete;
}

namespace {

/// What the head's fields said so far (HeadParser::finish).
struct FieldsSeen {
    bool absolute_form = false;  // the host came from the target
    bool have_host = false;
    const Header* host_header = nullptr;
    const Header* cl = nullptr;
    const Header* te = nullptr;
    const Header* authorization = nullptr;
    bool conn_close = false;
    bool conn_keepalive = false;
};

/// absolute-form: the authority is the host (RFC 9112 §3.2.2). Sets r.host, then `path` and
/// r.args; false when the host is not valid.
bool split_absolute_form(Request& r, std::string_view& path) {
    size_t start = r.target.find("://") + 3;
    size_t slash = r.target.find('/', start);
    size_t q = r.target.find('?', start);
    size_t auth_end = std::min(slash, q);
    r.host = r.target.substr(
        start, auth_end == std::string_view::npos ? std::string_view::npos : auth_end - start);
    if (!valid_host(r.host)) {
        return false;
    }
    path = slash == std::string_view::npos || slash > q ? std::string_view("/")
                                                        : r.target.substr(slash, q - slash);
    r.args = q == std::string_view::npos ? std::string_view() : r.target.substr(q + 1);
    return true;
}

/// Why a head is refused: the status and nginx's words.
struct Refusal {
    int status;
    std::string reason;
};

std::string duplicate(std::string_view what, const Header& h, const Header& previous) {
    return "client sent duplicate " + std::string(what) + ": \"" + escape_log(h.name) + ": " +
           escape_log(h.value) + "\", previous value: \"" + escape_log(previous.name) + ": " +
           escape_log(previous.value) + "\"";
}

/// Splits r.target into path (normalized into r.uri), args and, for absolute-form, host;
/// why the request is refused when it cannot.
std::optional<Refusal> split_target(Request& r, bool merge_slashes) {
    std::string_view path;
    if (r.target[0] == '/') {
        size_t q = r.target.find('?');
        path = r.target.substr(0, q);
        r.args = q == std::string_view::npos ? std::string_view() : r.target.substr(q + 1);
    } else if (iequals(r.target.substr(0, 7), "http://") ||
               iequals(r.target.substr(0, 8), "https://")) {
        if (!split_absolute_form(r, path)) {
            return Refusal{400, "client sent invalid host in request line"};
        }
    } else if (r.method == "OPTIONS" && r.target == "*") {
        path = "*";
    } else {
        return Refusal{400, "client sent invalid request"};
    }
    r.path = path;
    if (path != "*" && !normalize_path(path, r.uri, merge_slashes)) {
        return Refusal{400, "client sent invalid request"};
    }
    if (path == "*") {
        r.uri = "*";
    }
    return std::nullopt;
}

/// The tokens of a Connection field.
void connection_tokens(std::string_view v, FieldsSeen& seen, Request& r) {
    while (!v.empty()) {
        size_t comma = v.find(',');
        std::string_view tok = trim_ows(v.substr(0, comma));
        if (iequals(tok, "close")) {
            seen.conn_close = true;
        } else if (iequals(tok, "keep-alive")) {
            seen.conn_keepalive = true;
        } else if (iequals(tok, "upgrade")) {
            r.upgrade = true;
        }
        v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
    }
}

/// Applies one header field that frames the request or steers the connection (`minor`:
/// HTTP/1.<minor>); why the request is refused when it cannot. `h` stays valid for the head.
std::optional<Refusal> header_field(const Header& h, int minor, FieldsSeen& seen, Request& r) {
    if (iequals(h.name, "Host")) {
        if (seen.host_header != nullptr) {  // RFC 9112 §3.2
            return Refusal{400, duplicate("host header", h, *seen.host_header)};
        }
        seen.host_header = &h;
        if (!seen.absolute_form) {
            if (!valid_host(h.value)) {
                r.host = h.value;  // for the log only: the request is refused
                return Refusal{400, "client sent invalid host header"};
            }
            r.host = h.value;
            seen.have_host = true;
        }
    } else if (iequals(h.name, "Content-Length")) {
        if (seen.cl != nullptr) {  // RFC 9112 §6.3
            return Refusal{400, duplicate("header line", h, *seen.cl)};
        }
        auto v = h.value.size() <= 18 ? core::parse_int(h.value) : std::nullopt;
        if (!v) {
            return Refusal{400, "client sent invalid \"Content-Length\" header"};
        }
        seen.cl = &h;
        r.content_length = static_cast<uint64_t>(*v);
    } else if (iequals(h.name, "Transfer-Encoding")) {
        if (seen.te != nullptr) {
            return Refusal{400, duplicate("header line", h, *seen.te)};
        }
        if (minor == 0) {
            return Refusal{400, "client sent HTTP/1.0 request with \"Transfer-Encoding\" header"};
        }
        seen.te = &h;
        if (!iequals(h.value, "chunked")) {  // only chunked is implemented, as in nginx
            return Refusal{
                501, "client sent unknown \"Transfer-Encoding\": \"" + escape_log(h.value) + "\""};
        }
        r.chunked = true;
    } else if (iequals(h.name, "Authorization")) {
        // nginx: one set of credentials ($remote_user, auth_basic), never a choice of two.
        if (seen.authorization != nullptr) {
            return Refusal{400, duplicate("header line", h, *seen.authorization)};
        }
        seen.authorization = &h;
    } else if (iequals(h.name, "Connection")) {
        connection_tokens(h.value, seen, r);
    } else if (iequals(h.name, "Expect")) {
        r.expect_continue = iequals(h.value, "100-continue");
    }
    return std::nullopt;
}

}  // namespace

ParseResult HeadParser::finish(std::string_view in, Request& r) {
    auto view = [&](Span s) { return in.substr(s.off, s.len); };
    r.method = view(method_);
    r.target = view(target_);
    r.request_line = view(line_);
    r.http_minor = minor_;
    r.keepalive = minor_ >= 1;
    r.headers.clear();
    r.headers.reserve(fields_.size());
    if (auto refuse = split_target(r, rules_.merge_slashes)) {
        line_refused_ = true;
        return fail(refuse->status, std::move(refuse->reason));
    }
    FieldsSeen seen;
    seen.absolute_form = !r.host.empty();
    seen.have_host = seen.absolute_form;
    for (const Field& f : fields_) {
        r.headers.push_back({view(f.name), view(f.value)});
        if (auto refuse = header_field(r.headers.back(), minor_, seen, r)) {
            return fail(refuse->status, std::move(refuse->reason));
        }
    }
    // "close" wins wherever it appears; HTTP/1.0 keeps the connection only when asked.
    r.keepalive = !seen.conn_close && (minor_ >= 1 || seen.conn_keepalive);
    if (seen.cl != nullptr && seen.te != nullptr) {
        // RFC 9112 §6.1: a smuggling attempt; never guess
        return fail(400,
                    "client sent \"Content-Length\" and \"Transfer-Encoding\" headers at the "
                    "same time");
    }
    if (minor_ >= 1 && !seen.have_host) {  // RFC 9112 §3.2
        return fail(400, "client sent HTTP/1.1 request without \"Host\" header");
    }
    return ParseResult::kComplete;
}

ParseResult parse_request_head(std::string_view in, size_t max_line, size_t max_head, Request& r,
                               size_t& consumed, int& status) {
    HeadParser p(max_line, max_head);
    ParseResult res = p.parse(in, r);
    consumed = p.consumed();
    status = p.status();
    return res;
}

bool ChunkedDecoder::size_char(char c) {
    int v = hex_value(c);
    if (v >= 0) {
        if (++digits_ > 15) {
            return false;  // no 2^60 byte chunks: keeps the sum from overflowing
        }
        size_ = size_ * 16 + static_cast<uint64_t>(v);
    } else if (digits_ == 0) {
        return false;
    } else if (c == ';') {
        state_ = State::kExtension;
    } else if (c == ' ' || c == '\t') {
        state_ = State::kSizeBws;  // BWS, then only ";" or the line end
    } else if (c == '\r') {
        state_ = State::kSizeLf;
    } else {
        return false;  // includes a bare LF: framing must be exact
    }
    return true;
}

bool ChunkedDecoder::size_bws_char(char c) {
    if (c == ';') {
        state_ = State::kExtension;
    } else if (c != ' ' && c != '\t') {
        return false;  // "5 5": never guess a size (a smuggling vector)
    }
    return true;
}

bool ChunkedDecoder::extension_char(char c) {
    if (c == '\r') {
        state_ = State::kSizeLf;
    } else if (!is_field_char(static_cast<unsigned char>(c)) || ++ext_len_ > kMaxExtension) {
        return false;
    }
    return true;
}

bool ChunkedDecoder::size_line_end(char c) {
    if (c != '\n') {
        return false;
    }
    digits_ = 0;
    ext_len_ = 0;
    state_ = size_ == 0 ? State::kTrailerStart : State::kData;
    return true;
}

bool ChunkedDecoder::trailer_start_char(char c) {
    if (c == '\r') {
        state_ = State::kFinalLf;
    } else if (c == ' ' || c == '\t' || c == ':' || !is_tchar(static_cast<unsigned char>(c))) {
        return false;
    } else {
        state_ = State::kTrailer;
        trailer_len_++;
        if (trailers_ != nullptr) {
            trailers_->push_back(c);
        }
    }
    return true;
}

bool ChunkedDecoder::trailer_char(char c) {
    if (!trailer_colon_ && c != ':' && !is_tchar(static_cast<unsigned char>(c))) {
        return false;  // the field name must be a token, as in the head
    }
    if (c == ':') {
        trailer_colon_ = true;
    }
    if (c == '\r') {
        if (!trailer_colon_) {
            return false;  // a trailer line must be a field (RFC 9112 §7.1.2)
        }
        trailer_colon_ = false;
        state_ = State::kTrailerLf;
    } else if (!is_field_char(static_cast<unsigned char>(c)) || ++trailer_len_ > kMaxTrailers) {
        return false;
    }
    if (trailers_ != nullptr) {
        trailers_->push_back(c == '\r' ? '\n' : c);  // one line per field
    }
    return true;
}

bool ChunkedDecoder::expect(char c, char want, State next) {
    if (c != want) {
        return false;
    }
    state_ = next;
    return true;
}

std::string_view ChunkedDecoder::take_data(std::string_view in, size_t& i) {
    size_t take = static_cast<size_t>(std::min<uint64_t>(size_, in.size() - i));
    std::string_view data = in.substr(i, take);
    i += take;
    size_ -= take;
    if (size_ == 0) {
        state_ = State::kDataCr;
    }
    return data;
}

ChunkedDecoder::Result ChunkedDecoder::decode(std::string_view in, size_t& consumed,
                                              std::string_view& data) {
    data = {};
    size_t i = 0;
    while (i < in.size()) {
        char c = in[i];
        bool ok = false;
        switch (state_) {
            case State::kSize:
                ok = size_char(c);
                break;
            case State::kSizeBws:
                ok = size_bws_char(c);
                break;
            case State::kExtension:
                ok = extension_char(c);
                break;
            case State::kSizeLf:
                ok = size_line_end(c);
                break;
            case State::kData:
                data = take_data(in, i);
                consumed = i;
                return Result::kNeedMore;
            case State::kDataCr:
                ok = expect(c, '\r', State::kDataLf);
                break;
            case State::kDataLf:
                ok = expect(c, '\n', State::kSize);
                break;
            case State::kTrailerStart:
                ok = trailer_start_char(c);
                break;
            case State::kTrailer:
                ok = trailer_char(c);
                break;
            case State::kTrailerLf:
                ok = expect(c, '\n', State::kTrailerStart);
                break;
            case State::kFinalLf:
                ok = expect(c, '\n', State::kDone);
                break;
            case State::kDone:
                consumed = i;
                return Result::kDone;
        }
        if (!ok) {
            consumed = i;
            return Result::kError;
        }
        i++;
    }
    consumed = i;
    return state_ == State::kDone ? Result::kDone : Result::kNeedMore;
}

}  // namespace http
