// libFuzzer target: the config tokenizer/parser must never crash, hang or leak on any text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/conf_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    core::ConfParser parser("/nonexistent-halo-fuzz");
    core::ConfDocument doc;
    std::string_view text(reinterpret_cast<const char*>(data), size);
    (void)parser.parse_text(text, "fuzz", doc);
    return 0;
}
