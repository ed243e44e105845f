// libFuzzer target: the request-head parser must never crash or read out of bounds, and every
// view it returns must lie inside the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/parse.h"

namespace {
void check_inside(std::string_view in, std::string_view v) {
    if (!v.empty() && (v.data() < in.data() || v.data() + v.size() > in.data() + in.size())) {
        abort();
    }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string copy(reinterpret_cast<const char*>(data), size);  // exact-size heap block
    std::string_view in(copy);
    http::Request r;
    size_t consumed = 0;
    int status = 0;
    auto res = http::parse_request_head(in, 256, 1024, r, consumed, status);
    if (res == http::ParseResult::kComplete) {
        if (consumed > in.size()) {
            abort();
        }
        check_inside(in, r.method);
        if (r.path != "/") {  // absolute-form without a path yields a static "/"
            check_inside(in, r.path);
        }
        check_inside(in, r.args);
        for (const auto& h : r.headers) {
            check_inside(in, h.name);
            check_inside(in, h.value);
        }
    } else if (res == http::ParseResult::kError && (status < 400 || status > 599)) {
        abort();
    }
    return 0;
}
