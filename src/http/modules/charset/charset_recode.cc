#include "http/modules/charset/charset_recode.h"

#include <algorithm>
#include <cstring>

namespace mod::http_charset {

uint32_t decode_utf8(const uint8_t*& p, size_t n) {
    uint32_t u = *p;
    size_t more;
    uint32_t above;  // the value must exceed this (shorter forms are overlong)
    if (u >= 0xf0) {
        u &= 0x07;
        more = 3;
        above = 0xffff;
    } else if (u >= 0xe0) {
        u &= 0x0f;
        more = 2;
        above = 0x7ff;
    } else if (u >= 0xc2) {
        u &= 0x1f;
        more = 1;
        above = 0x7f;
    } else {
        p++;
        return kUtf8Error;
    }
    if (n - 1 < more) {
        return kUtf8Incomplete;
    }
    p++;
    for (; more > 0; more--) {
        uint32_t b = *p++;
        if (b < 0x80) {
            return kUtf8Error;
        }
        u = (u << 6) | (b & 0x3f);
    }
    return u > above ? u : kUtf8Error;
}

CharsetMap::CharsetMap(bool to_utf8) : to_utf8_(to_utf8) {
    for (unsigned i = 0; i < 256; i++) {
        uint8_t same = i < 0x80 ? static_cast<uint8_t>(i) : '?';
        forward_[i] = same;
        backward_[i] = same;
        utf8_[i] = {1, same, 0, 0};
    }
    if (to_utf8_) {
        from_utf8_.assign(0x10000, 0);
        for (unsigned i = 0; i < 0x80; i++) {
            from_utf8_[i] = static_cast<uint8_t>(i);
        }
    }
}

void CharsetMap::set_byte(uint8_t from, uint8_t to) {
    forward_[from] = to;
    backward_[to] = from;
}

bool CharsetMap::set_utf8(uint8_t from, std::span<const uint8_t> seq) {
    if (seq.empty() || seq.size() > 3) {
        return false;
    }
    const uint8_t* p = seq.data();
    uint32_t n = decode_utf8(p, seq.size());
    if (n > 0xffff) {
        return false;
    }
    utf8_[from] = {static_cast<uint8_t>(seq.size()), 0, 0, 0};
    std::copy(seq.begin(), seq.end(), utf8_[from].begin() + 1);
    from_utf8_[n] = from;
    return true;
}

Recoder::Recoder(const CharsetMap& map, bool forward) : map_(map) {
    if (!map.to_utf8_) {
        mode_ = Mode::kBytes;
        bytes_ = forward ? &map.forward_ : &map.backward_;
    } else {
        mode_ = forward ? Mode::kToUtf8 : Mode::kFromUtf8;
    }
}

void Recoder::recode(std::string_view in, bool last, std::string& out) {
    switch (mode_) {
        case Mode::kBytes:
            out.reserve(out.size() + in.size());
            for (char ch : in) {
                out.push_back(static_cast<char>((*bytes_)[static_cast<uint8_t>(ch)]));
            }
            break;
        case Mode::kToUtf8:
            out.reserve(out.size() + in.size() + in.size() / 2);
            for (char ch : in) {
                const auto& seq = map_.utf8_[static_cast<uint8_t>(ch)];
                out.append(reinterpret_cast<const char*>(seq.data() + 1), seq[0]);
            }
            break;
        case Mode::kFromUtf8:
            from_utf8(in, out);
            if (last) {
                carry_len_ = 0;  // an unfinished sequence at the end: dropped (nginx)
            }
            break;
    }
}

/// nginx: a mapped character as its byte, one the table lacks as "&#NNNN;" (decimal), a
/// malformed sequence as "?".
void Recoder::put_char(uint32_t n, std::string& out) const {
    if (n < 0x10000 && map_.from_utf8_[n] != 0) {
        out.push_back(static_cast<char>(map_.from_utf8_[n]));
    } else if (n > 0x10ffff) {
        out.push_back('?');
    } else {
        out += "&#";
        out += std::to_string(n);
        out += ';';
    }
}

void Recoder::from_utf8(std::string_view in, std::string& out) {
    const auto* p = reinterpret_cast<const uint8_t*>(in.data());
    const uint8_t* end = p + in.size();
    out.reserve(out.size() + in.size());
    if (carry_len_ > 0) {
        // The sequence the previous piece ended in, completed with up to 4 bytes in all.
        std::array<uint8_t, 4> seq = carry_;
        size_t take = std::min<size_t>(4 - carry_len_, static_cast<size_t>(end - p));
        std::memcpy(seq.data() + carry_len_, p, take);
        size_t len = carry_len_ + take;
        const uint8_t* q = seq.data();
        uint32_t n = decode_utf8(q, len);
        if (n == kUtf8Incomplete) {
            carry_ = seq;
            carry_len_ = len;
            return;
        }
        put_char(n, out);
        // As nginx, the saved bytes are consumed even when the sequence ended in them.
        size_t used = std::max(static_cast<size_t>(q - seq.data()), carry_len_);
        p += used - carry_len_;
        carry_len_ = 0;
    }
    while (p < end) {
        if (*p < 0x80) {
            out.push_back(static_cast<char>(*p++));
            continue;
        }
        size_t left = static_cast<size_t>(end - p);
        uint32_t n = decode_utf8(p, left);
        if (n == kUtf8Incomplete) {
            std::memcpy(carry_.data(), p, left);
            carry_len_ = left;
            return;
        }
        put_char(n, out);
    }
}

}  // namespace mod::http_charset
