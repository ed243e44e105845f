// Byte ranges, as nginx's range filter: a 200 answer that allows ranges (Request::allow_ranges,
// set by the static module) becomes 206 with one range or multipart/byteranges with several,
// 416 (with `Content-Range: bytes */size`) when none can be served; a whole answer says
// `Accept-Ranges: bytes`. It runs after the gzip filter, which turns ranges off, so that
// gzip_vary and add_header see the answer as a 200, as in nginx.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "core/module.h"
#include "http/http.h"
#include "http/modules/range/range.h"
#include "http/parse.h"

namespace mod::http_range {
namespace {

struct RangeCtx : http::RequestCtx {
    std::vector<ByteRange> ranges;
    uint64_t size = 0;
    std::vector<std::string> part_heads;  // multipart: the boundary lines before each range
    std::string tail;                     // multipart: the closing boundary
    uint64_t pos = 0;                     // offset in the entity of the next body byte
};

/// A boundary of 20 digits as nginx's (a per-process counter from a random start).
std::string next_boundary() {
    static std::atomic<uint64_t> counter{std::random_device{}() % 100000000};
    char buf[32];
    snprintf(buf, sizeof(buf), "%020llu", static_cast<unsigned long long>(++counter));
    return buf;
}

/// If-Range (RFC 9110 §13.1.5), as nginx compares it: an entity tag exactly, a date with the
/// Last-Modified time.
bool if_range_holds(http::Request& r) {
    const http::Header* ir = r.find_header("If-Range");
    if (ir == nullptr) {
        return true;
    }
    std::string_view v = ir->value;
    if (v.size() >= 2 && v.back() == '"') {
        const std::string* etag = r.find_out_header("ETag");
        return etag != nullptr && *etag == v;
    }
    const std::string* lm = r.find_out_header("Last-Modified");
    if (lm == nullptr) {
        return false;
    }
    auto want = http::parse_http_date(v);
    auto have = http::parse_http_date(*lm);
    return want && have && *want == *have;
}

void body_filter(http::Request& r, const http::BodyChunk& c, size_t next);

void header_filter(http::Request& r) {
    const auto& lc = r.loc_conf<http::HttpLocConf>();
    if (r.status != 200 || !r.allow_ranges || !r.out.content_length || *lc.max_ranges == 0) {
        return;
    }
    const http::Header* range = r.find_header("Range");
    std::vector<ByteRange> ranges;
    RangeResult result = RangeResult::kNone;
    if (range != nullptr && if_range_holds(r)) {
        result = parse_ranges(range->value, *r.out.content_length,
                              static_cast<uint64_t>(*lc.max_ranges), ranges);
    }
    uint64_t size = *r.out.content_length;
    if (result == RangeResult::kNone) {
        r.out_headers.emplace_back("Accept-Ranges", "bytes");
        return;
    }
    if (result == RangeResult::kUnsatisfiable) {
        r.out_headers.emplace_back("Content-Range", "bytes */" + std::to_string(size));
        r.filter_finalize(416);
        return;
    }
    RangeCtx& ctx = r.make_ctx<RangeCtx>();
    ctx.ranges = std::move(ranges);
    ctx.size = size;
    r.status = 206;
    if (ctx.ranges.size() == 1) {
        const ByteRange& b = ctx.ranges[0];
        r.out_headers.emplace_back("Content-Range", "bytes " + std::to_string(b.first) + "-" +
                                                        std::to_string(b.last) + "/" +
                                                        std::to_string(size));
        r.out.content_length = b.last - b.first + 1;
    } else {
        // RFC 9110 §14.6: each part with its Content-Type and Content-Range.
        std::string boundary = next_boundary();
        std::string part = "\r\n--" + boundary + "\r\n";
        if (!r.out.content_type.empty()) {
            part += "Content-Type: " + r.out.content_type + "\r\n";
        }
        part += "Content-Range: bytes ";
        uint64_t length = 0;
        for (const ByteRange& b : ctx.ranges) {
            ctx.part_heads.push_back(part + std::to_string(b.first) + "-" + std::to_string(b.last) +
                                     "/" + std::to_string(size) + "\r\n\r\n");
            length += ctx.part_heads.back().size() + (b.last - b.first + 1);
        }
        ctx.tail = "\r\n--" + boundary + "--\r\n";
        length += ctx.tail.size();
        r.out.content_type = "multipart/byteranges; boundary=" + boundary;
        r.out.content_length = length;
    }
    r.add_body_filter(&body_filter);
}

/// Passes on the parts of the ranges that fall in `c`, which holds the entity's bytes from
/// ctx.pos on (a file chunk is cut into file chunks of its own descriptor, duplicated).
void body_filter(http::Request& r, const http::BodyChunk& c, size_t next) {
    RangeCtx* ctx = r.ctx<RangeCtx>();
    uint64_t from = ctx->pos;
    uint64_t to = from + c.size();  // exclusive
    ctx->pos = to;
    bool multipart = ctx->ranges.size() > 1;
    for (size_t i = 0; i < ctx->ranges.size(); i++) {
        const ByteRange& b = ctx->ranges[i];
        uint64_t first = std::max(b.first, from);
        uint64_t end = std::min(b.last + 1, to);
        if (first >= end) {
            continue;
        }
        if (multipart && first == b.first) {
            http::BodyChunk head;
            head.data = ctx->part_heads[i];
            r.next_body(next, head);
        }
        http::BodyChunk piece;
        if (c.is_file()) {
            piece.fd = ::dup(c.fd);
            if (piece.fd < 0) {
                ::close(c.fd);
                r.abort();
                return;
            }
            piece.offset = c.offset + (first - from);
            piece.length = end - first;
        } else {
            piece.data = c.data.substr(first - from, end - first);
        }
        r.next_body(next, piece);
    }
    if (c.is_file()) {
        ::close(c.fd);
    }
    if (c.last) {
        http::BodyChunk last;
        if (multipart) {
            last.data = ctx->tail;
        }
        last.last = true;
        r.next_body(next, last);
    }
}

}  // namespace

extern const core::Module kModule{
    .name = "http_range",
    .type = core::ModuleType::kHttpFilter,
    .postconfiguration = &http::register_header_filter<&header_filter>,
};

}  // namespace mod::http_range
