// The exchange's side of another upstream protocol (Exchange::codec_bytes, decode_records:
// the bytes read, taken apart by the codec, handed to the HTTP path), and the CGI response
// head (RFC 3875 §6) the FastCGI, SCGI and uwsgi codecs parse.

#include "modules/proxy/proxy_codec.h"

#include "core/conf_context.h"
#include "modules/proxy/proxy_exchange.h"

namespace mod::proxy {
namespace {

bool token_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string_view trim(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
        v.remove_prefix(1);
    }
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r')) {
        v.remove_suffix(1);
    }
    return v;
}

}  // namespace

http::ParseResult parse_cgi_head(std::string_view in, size_t max_head, size_t& scan,
                                 http::ParsedResponse& out, std::string* why) {
    if (in.size() >= 5 && in.substr(0, 5) == "HTTP/") {
        return http::parse_response_head(in, max_head, scan, out, why);  // an NPH-style answer
    }
    // The end of the head: an empty line (LF or CRLF).
    size_t end = std::string_view::npos;
    size_t from = scan > 0 ? scan - 1 : 0;
    for (size_t i = from; i < in.size(); i++) {
        if (in[i] != '\n') {
            continue;
        }
        if (i == 0 || in[i - 1] == '\n' || (in[i - 1] == '\r' && i >= 2 && in[i - 2] == '\n') ||
            (i == 1 && in[0] == '\r')) {
            end = i + 1;
            break;
        }
    }
    if (end == std::string_view::npos) {
        if (in.size() > max_head) {
            if (why != nullptr) {
                *why = "upstream sent too big header";
            }
            return http::ParseResult::kError;
        }
        scan = in.size();
        return http::ParseResult::kIncomplete;
    }
    out = http::ParsedResponse{};
    out.head_len = end;
    out.minor = 1;
    std::string_view rest = in.substr(0, end);
    const http::Header* status = nullptr;
    bool location = false;
    while (!rest.empty()) {
        size_t eol = rest.find('\n');
        std::string_view line = rest.substr(0, eol);
        rest.remove_prefix(eol + 1);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (line.empty()) {
            break;
        }
        size_t colon = line.find(':');
        std::string_view name = line.substr(0, colon);
        bool ok = colon != std::string_view::npos && colon > 0;
        for (char c : name) {
            ok = ok && token_char(c);
        }
        if (!ok) {
            if (why != nullptr) {
                *why = "upstream sent invalid header: \"" +
                       std::string(line.substr(0, std::min<size_t>(line.size(), 64))) + "\"";
            }
            return http::ParseResult::kError;
        }
        std::string_view value = trim(line.substr(colon + 1));
        out.headers.push_back({name, value});
        if (http::iequals(name, "Content-Length")) {
            auto n = core::parse_int(value);
            if (!n || *n < 0) {
                if (why != nullptr) {
                    *why = "upstream sent invalid \"Content-Length\" header: \"Content-Length: " +
                           std::string(value) + "\"";
                }
                return http::ParseResult::kError;
            }
            out.content_length = static_cast<uint64_t>(*n);
        } else if (http::iequals(name, "Location")) {
            location = true;
        }
    }
    for (const http::Header& h : out.headers) {
        if (http::iequals(h.name, "Status")) {
            status = &h;
        }
    }
    if (status != nullptr) {
        std::string_view v = status->value;
        auto n = v.size() >= 3 ? core::parse_int(v.substr(0, 3)) : std::nullopt;
        if (!n || *n < 100 || *n > 999) {
            if (why != nullptr) {
                *why = "upstream sent invalid status \"" + std::string(v) + "\"";
            }
            return http::ParseResult::kError;
        }
        out.status = static_cast<int>(*n);
        out.reason = trim(v.substr(3));
    } else if (location) {
        out.status = 302;
        out.reason = "Moved Temporarily";
    } else {
        out.status = 200;
        out.reason = "OK";
    }
    return http::ParseResult::kComplete;
}

}  // namespace mod::proxy

namespace mod::proxy::detail {

bool Exchange::codec_bytes(size_t budget) {
    size_t had = in_.size();
    switch (up_->read(raw_, std::min(kReadPiece, budget))) {
        case ev::IoStatus::kOk:
            break;
        case ev::IoStatus::kAgain:
            up_->set_timeout(*c_.read_timeout);
            return false;
        case ev::IoStatus::kEof:
        case ev::IoStatus::kError:
            on_upstream_closed();
            return false;
    }
    if (codec_->framed() && !decode_records()) {
        return false;
    }
    if (!codec_->framed()) {
        in_.append(raw_.view());
        raw_.clear();
    }
    if (budget != SIZE_MAX) {
        count_read(in_.size() - had);
    }
    if (!on_bytes()) {
        return false;
    }
    if (!codec_end_) {
        return true;
    }
    if (state_ == State::kReadingHead) {
        fail(kNextInvalidHeader, 502,
             "upstream prematurely closed FastCGI stdout while reading response header from "
             "upstream");
        return false;
    }
    if (state_ == State::kReadingBody) {
        if (codec_short()) {
            give_up();
        } else {
            finish_body();
        }
    }
    return false;
}

std::string_view Exchange::codec_due(std::string_view data) {
    if (!head_.content_length || background_) {
        return data;
    }
    if (data.size() > body_left_) {
        if (!length_warned_) {
            length_warned_ = true;
            log(core::LogLevel::kWarn,
                "upstream sent more data than specified in \"Content-Length\" header while "
                "reading upstream");
        }
        data = data.substr(0, body_left_);
    }
    body_left_ -= data.size();
    return data;
}

bool Exchange::codec_short() {
    if (!head_.content_length || body_left_ == 0 || background_) {
        return false;
    }
    log(core::LogLevel::kError, "upstream prematurely closed connection while reading upstream");
    return true;
}

bool Exchange::decode_records() {
    std::vector<std::string> messages;
    std::string why;
    Codec::Decoded d = codec_->decode(raw_, in_, messages, why);
    bool head = state_ != State::kReadingBody;
    const char* during =
        head ? " while reading response header from upstream" : " while reading upstream";
    for (const std::string& m : messages) {
        log_text(core::LogLevel::kError, m + during);
        if (head && codec_->fatal_message(m)) {
            fail_text(kNextInvalidHeader, 502,
                      std::string("upstream sent invalid header") + during);
            return false;
        }
    }
    if (d == Codec::Decoded::kError) {
        if (head) {
            fail_text(kNextInvalidHeader, 502, why + during);
        } else {
            log_text(core::LogLevel::kError, why + during);
            release(upstream::Outcome::kFailed);
            drop_upstream();
            r_.abort();
        }
        return false;
    }
    codec_end_ = d == Codec::Decoded::kEnd;
    return true;
}

}  // namespace mod::proxy::detail
