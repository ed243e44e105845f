// libFuzzer target: ssl_preread's ClientHello parser must never crash or read out of bounds,
// must leave the variables empty unless it is done, and a prefix of the input must never
// contradict the whole (the preread phase stops at the first answer that is not "need more").
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

// Until the stream_ssl_preread module is built (src/stream/modules/ssl_preread/config.pending),
// the parser is in no halo object that fuzz targets link with: compiled in here. Include the
// header instead once the module is wired.
#include "stream/modules/ssl_preread/client_hello.h"

namespace {

using mod::ssl_preread::ClientHello;
using mod::ssl_preread::HelloStatus;
using mod::ssl_preread::kDefaultLimit;
using mod::ssl_preread::parse_client_hello;

void check(bool ok) {
    if (!ok) {
        abort();
    }
}

bool same(const ClientHello& a, const ClientHello& b) {
    return a.server_name == b.server_name && a.alpn_protocols == b.alpn_protocols &&
           a.protocol == b.protocol;
}

bool empty(const ClientHello& h) {
    return h.server_name.empty() && h.alpn_protocols.empty() && h.protocol.empty();
}

bool known_protocol(std::string_view p) {
    return p.empty() || p == "SSLv2" || p == "SSLv3" || p == "TLSv1" || p == "TLSv1.1" ||
           p == "TLSv1.2" || p == "TLSv1.3";
}

/// What the whole may be, given what a prefix of it gave.
void check_prefix(HelloStatus prefix, const ClientHello& prefix_out, HelloStatus whole,
                  const ClientHello& whole_out) {
    switch (prefix) {
        case HelloStatus::kNeedMore:
            break;
        case HelloStatus::kDone:
            check(whole == HelloStatus::kDone && same(prefix_out, whole_out));
            break;
        case HelloStatus::kNotTls:
        case HelloStatus::kInvalid:
            check(whole == prefix);
            break;
        case HelloStatus::kTooLarge:
            // the rest cannot fit; more bytes may show an error before the limit is reached
            check(whole == HelloStatus::kTooLarge || whole == HelloStatus::kInvalid);
            break;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string copy(reinterpret_cast<const char*>(data), size);  // exact-size heap block
    std::string_view in(copy);

    ClientHello whole;
    HelloStatus s = parse_client_hello(in, whole);
    check(s == HelloStatus::kDone || empty(whole));
    check(known_protocol(whole.protocol));
    check(whole.server_name.size() <= size && whole.alpn_protocols.size() <= size);

    // a few prefixes: the halves, one byte short, and one picked by the input
    size_t cuts[] = {size / 2, size > 0 ? size - 1 : 0, size > 0 ? data[0] * 7 % size : 0};
    for (size_t n : cuts) {
        std::string part(in.substr(0, n));  // its own heap block, so ASan sees overreads
        ClientHello out;
        HelloStatus p = parse_client_hello(part, out);
        check(p == HelloStatus::kDone || empty(out));
        check_prefix(p, out, s, whole);
    }

    // a limit of exactly the input's size: the same answer, except that "need more" becomes
    // "too large" (all the bytes it may look at are here)
    if (size > 0 && size <= kDefaultLimit) {
        ClientHello out;
        HelloStatus l = parse_client_hello(in, out, size);
        check(l == (s == HelloStatus::kNeedMore ? HelloStatus::kTooLarge : s));
        check(same(out, whole));
    }
    return 0;
}
