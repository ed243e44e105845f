// The non-template parts of a keyed table zone: its bucket count, `zone=name:size`, the
// registration of its shared memory.
#include "core/shm_table.h"

#include "core/cycle.h"

namespace core {

uint32_t shm_table_buckets(uint64_t size) {
    uint64_t bytes = 512;
    while (bytes * 2 <= size / 16 && bytes < (uint64_t{1} << 24)) {
        bytes *= 2;
    }
    return static_cast<uint32_t>((bytes - 16) / sizeof(void*));
}

Status parse_zone_spec(ConfContext& cf, std::string_view arg, std::string& name, uint64_t& size) {
    std::string_view spec = arg.substr(arg.find('=') + 1);  // after "zone="
    size_t colon = spec.find(':');
    if (colon == std::string_view::npos) {
        return cf.error("invalid zone size \"" + std::string(arg) + "\"");
    }
    auto sz = parse_size(spec.substr(colon + 1));
    if (!sz) {
        return cf.error("invalid zone size \"" + std::string(arg) + "\"");
    }
    if (sz->bytes < kMinTableZoneSize) {
        return cf.error("zone \"" + std::string(arg) + "\" is too small");
    }
    name = std::string(spec.substr(0, colon));
    size = sz->bytes;
    return Status::ok();
}

ShmZone* add_table_zone(ConfContext& cf, const std::string& name, uint64_t size, const void* tag,
                        Status& err) {
    if (cf.cycle().find_shm_zone(name) != nullptr) {
        err = cf.error("the shared memory zone \"" + name +
                       "\" is already declared for a different use");
        return nullptr;
    }
    return cf.cycle().add_shm_zone(name, size, tag, cf.node().where(), err);
}

}  // namespace core
