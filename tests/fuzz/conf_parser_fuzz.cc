// libFuzzer target: the config tokenizer/parser must never crash, hang or leak on any text.
// Seeds: tests/fuzz/corpus/conf_parser_fuzz and, built at run time by tests/fuzz/seeds.sh,
// real configurations (Debian's /etc/nginx, halo's conf/).
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/conf_file.h"

namespace {

/// Walks the tree as the configuration code does (names, arguments, file:line of each node).
size_t walk(const std::vector<core::ConfNode>& nodes) {
    size_t n = 0;
    for (const core::ConfNode& node : nodes) {
        n += node.args.size() + node.where().size();
        n += walk(node.children);
    }
    return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    core::ConfParser parser("/nonexistent-halo-fuzz");
    core::ConfDocument doc;
    std::string_view text(reinterpret_cast<const char*>(data), size);
    if (parser.parse_text(text, "fuzz", doc).is_ok()) {
        volatile size_t n = walk(doc.directives);
        (void)n;
    }
    return 0;
}
