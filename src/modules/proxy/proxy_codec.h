#pragma once

// The upstream protocols other than HTTP/1 (FastCGI, SCGI, uwsgi) on the proxy's exchange:
// nginx's one upstream engine with per-protocol callbacks (create_request, process_header,
// input_filter). The Exchange (proxy_exchange.h) holds a Codec for such a protocol and calls
// it where HTTP has its own code; for HTTP it holds none (its path has no call through here).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "event/buffer.h"
#include "http/http.h"
#include "http/parse.h"
#include "http/response_parse.h"

namespace mod::proxy {

/// One request's protocol state: made by the module's content handler, owned by the Exchange.
/// Called on the worker's thread only.
class Codec {
  public:
    enum class Decoded { kMore, kEnd, kError };

    virtual ~Codec() = default;

    /// "fastcgi://": the upstream in log lines ("upstream: \"fastcgi://127.0.0.1:9000\"").
    virtual std::string_view scheme() const = 0;
    /// Which pooled connections fit (never the HTTP ones of the same peer).
    virtual std::string_view pool_tag() const = 0;
    /// The request up to its body (FastCGI: BEGIN_REQUEST and PARAMS); `streamed`: the body
    /// follows as the client sends it, its length unknown when it came chunked.
    virtual std::string request_head(const http::Request& r, bool streamed) = 0;
    /// Why request_head() gave nothing (the request cannot be sent: 500).
    virtual std::string_view request_error() const { return {}; }
    /// The body is sent in pieces of at most this many bytes, each after body_prefix().
    virtual size_t max_piece() const = 0;
    /// Appends what goes before a body piece of `len` bytes (FastCGI: a STDIN record head).
    virtual void body_prefix(size_t len, std::string& out) const = 0;
    /// Appends what ends the body (FastCGI: the empty STDIN record).
    virtual void body_end(std::string& out) const = 0;
    /// Whether a chunked body can go out as it comes (SCGI and uwsgi need its length first).
    virtual bool streams_unknown_length() const = 0;

    /// Whether the response comes in records decode() takes apart; false: it is the byte
    /// stream itself, ending with the connection.
    virtual bool framed() const = 0;
    /// A new attempt: the decoder starts over.
    virtual void reset() {}
    /// Takes what it can from `raw` (consumed), appends the response stream to `out`, and its
    /// diagnostics to `messages` (each logged at error level). kEnd: the response is complete;
    /// kError: `why` says what the upstream sent wrong.
    virtual Decoded decode(ev::Buffer& raw, ev::Buffer& out, std::vector<std::string>& messages,
                           std::string& why) {
        (void)raw, (void)out, (void)messages, (void)why;
        return Decoded::kMore;
    }
    /// Parses the response head at the start of `in` (CGI fields with "Status:", or a status
    /// line), as http::parse_response_head.
    virtual http::ParseResult parse_head(std::string_view in, size_t max_head, size_t& scan,
                                         http::ParsedResponse& out, std::string* why) = 0;
    /// After kEnd: whether the connection may carry another request (fastcgi_keep_conn).
    virtual bool reusable() const { return false; }
    /// A stderr message that ends the attempt (fastcgi_catch_stderr).
    virtual bool fatal_message(std::string_view msg) const {
        (void)msg;
        return false;
    }
};

/// Parses a CGI response head (RFC 3875 §6.2): fields up to an empty line; "Status: 404 Not
/// Found" gives the status, else a Location gives 302 and nothing 200 (nginx's rules).
http::ParseResult parse_cgi_head(std::string_view in, size_t max_head, size_t& scan,
                                 http::ParsedResponse& out, std::string* why);

}  // namespace mod::proxy
