// FastCGI on the wire (the FastCGI Specification 1.0): the request as BEGIN_REQUEST, PARAMS
// and STDIN records, the response's STDOUT records joined into the CGI answer, STDERR records
// logged as nginx logs them, END_REQUEST ending it.

#include <algorithm>
#include <cctype>

#include "modules/fastcgi/fastcgi.h"

namespace mod::fastcgi {

void record_head(uint8_t type, size_t len, std::string& out) {
    char h[8] = {static_cast<char>(kVersion1),
                 static_cast<char>(type),
                 static_cast<char>(kRequestId >> 8),
                 static_cast<char>(kRequestId & 0xff),
                 static_cast<char>((len >> 8) & 0xff),
                 static_cast<char>(len & 0xff),
                 0,
                 0};
    out.append(h, sizeof(h));
}

namespace {

void append_length(size_t n, std::string& out) {
    if (n < 128) {
        out += static_cast<char>(n);
        return;
    }
    // §3.4: four bytes, the high bit of the first set.
    out += static_cast<char>(((n >> 24) & 0x7f) | 0x80);
    out += static_cast<char>((n >> 16) & 0xff);
    out += static_cast<char>((n >> 8) & 0xff);
    out += static_cast<char>(n & 0xff);
}

}  // namespace

void name_value(std::string_view name, std::string_view value, std::string& out) {
    append_length(name.size(), out);
    append_length(value.size(), out);
    out.append(name);
    out.append(value);
}

std::string FastcgiCodec::request_head(const http::Request& r, bool) {
    // PARAMS records of whole pairs (PHP-FPM parses each record's content on its own, so a
    // pair may not run into the next record), each at most 65535 bytes of content.
    constexpr size_t kMaxContent = 65535;
    std::string params;  // the records
    std::string record;  // the pairs of the record being filled
    std::string pair;
    size_t too_big = 0;
    proxy::cgi_params(r, c_.params, *c_.pass_request_headers,
                      [&](std::string_view name, std::string_view value) {
                          pair.clear();
                          name_value(name, value, pair);
                          if (pair.size() > kMaxContent) {
                              too_big = std::max(too_big, pair.size());
                              return;
                          }
                          if (record.size() + pair.size() > kMaxContent) {
                              record_head(kParams, record.size(), params);
                              params += record;
                              record.clear();
                          }
                          record += pair;
                      });
    if (too_big > 0) {
        error_ = "fastcgi request record is too big: " + std::to_string(too_big);
        return {};
    }
    if (!record.empty()) {
        record_head(kParams, record.size(), params);
        params += record;
    }
    std::string out;
    out.reserve(32 + params.size());
    record_head(kBeginRequest, 8, out);
    char body[8] = {0,
                    static_cast<char>(kResponder),
                    static_cast<char>(*c_.keep_conn ? kKeepConn : 0),
                    0,
                    0,
                    0,
                    0,
                    0};
    out.append(body, sizeof(body));
    out += params;
    record_head(kParams, 0, out);
    return out;
}

void FastcgiCodec::reset() {
    in_record_ = false;
    type_ = 0;
    content_left_ = 0;
    padding_left_ = 0;
}

proxy::Codec::Decoded FastcgiCodec::decode(ev::Buffer& raw, ev::Buffer& out,
                                           std::vector<std::string>& messages, std::string& why) {
    for (;;) {
        if (!in_record_) {
            if (raw.size() < 8) {
                return Decoded::kMore;
            }
            auto h = reinterpret_cast<const unsigned char*>(raw.data());
            if (h[0] != kVersion1) {
                why = "upstream sent unsupported FastCGI protocol version: " + std::to_string(h[0]);
                return Decoded::kError;
            }
            if (((h[2] << 8) | h[3]) != kRequestId) {
                why = "upstream sent unexpected FastCGI request id " +
                      std::to_string((h[2] << 8) | h[3]);
                return Decoded::kError;
            }
            uint8_t type = h[1];
            size_t len = static_cast<size_t>((h[4] << 8) | h[5]);
            size_t pad = h[6];
            if (type == kStderr || type == kEndRequest) {
                // Taken whole: a message is logged at once, the end checked.
                if (raw.size() < 8 + len + pad) {
                    return Decoded::kMore;
                }
                std::string_view msg(raw.data() + 8, len);
                if (type == kEndRequest) {
                    raw.consume(8 + len + pad);
                    in_record_ = false;
                    return Decoded::kEnd;
                }
                // nginx trims the line ends, dots and spaces at the end.
                while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r' ||
                                        msg.back() == '.' || msg.back() == ' ')) {
                    msg.remove_suffix(1);
                }
                if (len > 0) {
                    messages.push_back("FastCGI sent in stderr: \"" + std::string(msg) + "\"");
                }
                raw.consume(8 + len + pad);
                continue;
            }
            if (type != kStdout) {
                why = "upstream sent unexpected FastCGI record: " + std::to_string(type);
                return Decoded::kError;
            }
            raw.consume(8);
            in_record_ = true;
            type_ = type;
            content_left_ = len;
            padding_left_ = pad;
        }
        if (content_left_ > 0) {
            size_t n = std::min(content_left_, raw.size());
            out.append(std::string_view(raw.data(), n));
            raw.consume(n);
            content_left_ -= n;
        }
        if (content_left_ == 0 && padding_left_ > 0) {
            size_t n = std::min(padding_left_, raw.size());
            raw.consume(n);
            padding_left_ -= n;
        }
        if (content_left_ > 0 || padding_left_ > 0) {
            return Decoded::kMore;
        }
        in_record_ = false;
    }
}

bool FastcgiCodec::fatal_message(std::string_view msg) const {
    if (!c_.catch_stderr) {
        return false;
    }
    // `msg` is the log line decode() made: the patterns look at the stderr text alone.
    constexpr std::string_view kPrefix = "FastCGI sent in stderr: \"";
    if (msg.starts_with(kPrefix) && msg.ends_with('"')) {
        msg = msg.substr(kPrefix.size(), msg.size() - kPrefix.size() - 1);
    }
    for (const std::string& s : *c_.catch_stderr) {
        if (msg.find(s) != std::string_view::npos) {
            return true;
        }
    }
    return false;
}

}  // namespace mod::fastcgi
