#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http/http.h"

namespace http {

/// RFC 9110 §5.6.2 token character.
bool is_tchar(unsigned char c);
/// ASCII case-insensitive equality (field names, tokens).
bool iequals(std::string_view a, std::string_view b);
/// Without the optional whitespace (SP, HTAB) around a field value or list item.
std::string_view trim_ows(std::string_view v);
/// Whether the comma-separated list `v` holds `token` (case-insensitive): "Connection".
bool list_has_token(std::string_view v, std::string_view token);

/// Outcome of feeding a parser.
enum class ParseResult { kComplete, kIncomplete, kError };

/// Incremental, zero-copy parser of a request head (RFC 9112 §2-§7, strict): call parse()
/// with the input from the first byte of the request each time more has arrived. Work done
/// is kept between calls (lines already checked are not scanned again), so a client sending
/// a byte at a time costs O(n). Positions are kept as offsets, so the caller's buffer may move
/// between calls. On kComplete the views in the Request point into the last `in`.
///
/// Rejected, with the status nginx uses: malformed request line or header, a method with other
/// characters than A-Z, "_" and "-" (nginx's rule), bare CR, obs-fold, whitespace before the colon,
/// control characters, missing or duplicate Host, invalid or duplicate Content-Length, duplicate
/// Authorization, Content-Length together with Transfer-Encoding, Transfer-Encoding in HTTP/1.0
/// (400); a transfer coding other than chunked (501); request line longer than `max_line` (414);
/// a header line longer than `max_line` or a head longer than `max_head` (431); HTTP versions
/// other than 1.x (505). A bad method character (a TLS ClientHello) or a bare CR is refused as
/// soon as it arrives, without waiting for the end of its line.
class HeadParser {
  public:
    HeadParser(size_t max_line, size_t max_head) : max_line_(max_line), max_head_(max_head) {
        fields_.reserve(16);  // one allocation for a typical head, not four
    }

    ParseResult parse(std::string_view in, Request& r);
    /// Status to answer with after kError.
    int status() const { return status_; }
    /// Why the head was refused, after kError, in nginx's words ("client sent invalid method").
    const std::string& reason() const { return reason_; }
    /// After kError: whether the request line was refused (else a header or the head as a whole).
    bool line_refused() const { return !have_request_line_ || line_refused_; }
    /// The request line as far as it was read (up to its CR or LF), a view into `in` (the
    /// input given to the last parse()): what the logs show for a refused request.
    std::string_view request_line(std::string_view in) const;
    /// Length of the head (the body, or the next request, starts there) after kComplete.
    size_t consumed() const { return pos_; }
    /// Forgets everything; ready for the next request.
    void reset();

    /// The server's rules for the head (nginx's merge_slashes, underscores_in_headers,
    /// ignore_invalid_headers); kept across reset().
    struct Rules {
        bool merge_slashes = true;
        bool underscores = false;
        bool ignore_invalid = true;
    };
    void set_rules(const Rules& rules) { rules_ = rules; }
    /// Header lines skipped as invalid (ignore_invalid_headers), as views into `in`.
    std::vector<std::string_view> ignored_lines(std::string_view in) const {
        std::vector<std::string_view> out;
        for (const Span& s : ignored_) {
            out.push_back(in.substr(s.off, s.len));
        }
        return out;
    }

  private:
    struct Span {
        uint32_t off;
        uint32_t len;
    };
    struct Field {
        Span name;
        Span value;
    };
    ParseResult fail(int status, std::string reason) {
        status_ = status;
        reason_ = std::move(reason);
        return ParseResult::kError;
    }
    /// A bad method character or a bare CR in the unfinished line from `from` on.
    ParseResult check_partial(std::string_view in, size_t from);
    /// 414 or 431 for a line or head over the limits (`line_len`: the line at pos_).
    ParseResult too_long(std::string_view in, size_t line_len);
    ParseResult request_line(std::string_view line, size_t off, Request& r);
    ParseResult header_line(std::string_view line, size_t off);
    ParseResult finish(std::string_view in, Request& r);

    size_t max_line_;
    size_t max_head_;
    size_t pos_ = 0;   // start of the next line to parse
    size_t scan_ = 0;  // where to continue looking for its end
    bool have_request_line_ = false;
    bool line_refused_ = false;  // the request line was complete but failed a later check
    bool method_read_ = false;   // the unfinished request line is past its method
    bool line_read_ = false;     // line_ holds the request line (up to a CR)
    int status_ = 0;
    std::string reason_;
    Span line_{}, method_{}, target_{};
    int minor_ = 1;
    std::vector<Field> fields_;
    std::vector<Span> ignored_;
    Rules rules_;
};

/// One-shot form of HeadParser (the whole head is in `in`).
ParseResult parse_request_head(std::string_view in, size_t max_line, size_t max_head, Request& r,
                               size_t& consumed, int& status);

/// Incremental decoder of a chunked body (RFC 9112 §7.1): chunk sizes, extensions (ignored),
/// data, the last chunk and trailer fields (checked, then dropped).
class ChunkedDecoder {
  public:
    enum class Result { kNeedMore, kDone, kError };

    /// Decodes from `in`: sets `consumed` (bytes of `in` used) and `data` (body bytes found, a
    /// view into `in`). Stops after one data span so that the caller can take it; call again
    /// with the rest. kDone once the last chunk and its trailers are in.
    Result decode(std::string_view in, size_t& consumed, std::string_view& data);
    bool done() const { return state_ == State::kDone; }
    void reset() { *this = ChunkedDecoder(); }
    /// Keeps the trailer section's lines ("Name: value\r\n" each, checked as above) in `out`
    /// instead of dropping them (proxy_pass_trailers); nullptr: dropped. reset() forgets it.
    void keep_trailers(std::string* out) { trailers_ = out; }

  private:
    enum class State {
        kSize,
        kSizeBws,
        kExtension,
        kSizeLf,
        kData,
        kDataCr,
        kDataLf,
        kTrailerStart,
        kTrailer,
        kTrailerLf,
        kFinalLf,
        kDone,
    };
    static constexpr size_t kMaxExtension = 4096;
    static constexpr size_t kMaxTrailers = 8192;

    // Each takes the next byte of a size line, a data CRLF or the trailer section in its
    // state; false when it breaks the framing.
    bool size_char(char c);
    bool size_bws_char(char c);
    bool extension_char(char c);
    bool size_line_end(char c);
    bool trailer_start_char(char c);
    bool trailer_char(char c);
    bool expect(char c, char want, State next);
    /// The part of the current chunk's data that `in` holds from `i` on; advances `i`.
    std::string_view take_data(std::string_view in, size_t& i);

    State state_ = State::kSize;
    uint64_t size_ = 0;
    int digits_ = 0;
    size_t ext_len_ = 0;
    size_t trailer_len_ = 0;
    bool trailer_colon_ = false;
    std::string* trailers_ = nullptr;
};

}  // namespace http
