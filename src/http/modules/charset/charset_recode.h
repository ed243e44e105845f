// The recoding tables of `charset_map` and the streaming recoder of the charset filter, as
// nginx recodes: single byte to single byte, single byte to UTF-8, and UTF-8 to single byte
// (a character the table lacks becomes "&#NNNN;", a malformed sequence "?"). Plain code: no
// config system, no request; unit-tested in tests/unit/modules/http_charset/.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mod::http_charset {

/// What decode_utf8() returns besides a code point.
inline constexpr uint32_t kUtf8Error = 0xffffffff;       // malformed
inline constexpr uint32_t kUtf8Incomplete = 0xfffffffe;  // more bytes are needed

/// Decodes the multi-byte UTF-8 sequence at `p` (`n` >= 1 bytes available, *p >= 0x80) with
/// nginx's rules: a lead byte below C2 is an error (one byte consumed); a sequence longer than
/// `n` is incomplete (nothing consumed); a continuation byte below 80 ends it as an error
/// (consumed with it); an overlong form is an error. A value above 10FFFF means malformed too.
/// Advances `p` over the bytes consumed.
uint32_t decode_utf8(const uint8_t*& p, size_t n);

/// The tables of one `charset_map src dst { ... }` block, both ways (nginx builds the reverse
/// table from the same lines). Bytes below 80 map to themselves unless a line says otherwise;
/// the others to "?" until a line maps them.
class CharsetMap {
  public:
    /// `to_utf8`: `dst` is utf-8, the lines give UTF-8 sequences.
    explicit CharsetMap(bool to_utf8);

    bool to_utf8() const { return to_utf8_; }
    /// A line of a single-byte map: `from` in src is `to` in dst.
    void set_byte(uint8_t from, uint8_t to);
    /// A line of a map to utf-8: `from` is the UTF-8 sequence `seq` (1 to 3 bytes). False, and
    /// nothing set, when `seq` does not start with a character of the Basic Multilingual Plane
    /// in two or three bytes (nginx refuses the line).
    bool set_utf8(uint8_t from, std::span<const uint8_t> seq);

  private:
    friend class Recoder;
    bool to_utf8_;
    std::array<uint8_t, 256> forward_{};   // single byte: src -> dst
    std::array<uint8_t, 256> backward_{};  // single byte: dst -> src
    // To utf-8: [0] the length (1 to 3), then the bytes.
    std::array<std::array<uint8_t, 4>, 256> utf8_{};
    // From utf-8: the src byte of each BMP code point, 0 when it has none.
    std::vector<uint8_t> from_utf8_;
};

/// Recodes one response body piece by piece (a UTF-8 sequence may be split between pieces).
class Recoder {
  public:
    /// Recodes with `map` from its src to its dst (`forward`), or back. `map` outlives this.
    Recoder(const CharsetMap& map, bool forward);

    /// Whether the output length may differ from the input's (to or from utf-8): the response
    /// loses its Content-Length (nginx).
    bool changes_length() const { return mode_ != Mode::kBytes; }
    /// Appends the recoding of the next piece of the body to `out`. After the `last` piece a
    /// UTF-8 sequence left unfinished is dropped, as nginx drops it.
    void recode(std::string_view in, bool last, std::string& out);

  private:
    enum class Mode { kBytes, kToUtf8, kFromUtf8 };
    void from_utf8(std::string_view in, std::string& out);
    void put_char(uint32_t n, std::string& out) const;

    const CharsetMap& map_;
    Mode mode_;
    const std::array<uint8_t, 256>* bytes_ = nullptr;
    std::array<uint8_t, 4> carry_{};  // the start of a sequence split by a piece's end
    size_t carry_len_ = 0;
};

}  // namespace mod::http_charset
