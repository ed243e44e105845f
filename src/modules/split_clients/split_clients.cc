// The split_clients layer (see split_clients.h).
#include "modules/split_clients/split_clients.h"

namespace split_clients {

uint32_t murmur_hash2(std::string_view data) {
    constexpr uint32_t kM = 0x5bd1e995;
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    size_t len = data.size();
    uint32_t h = static_cast<uint32_t>(len);  // the seed is 0
    while (len >= 4) {
        uint32_t k = uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) |
                     (uint32_t{p[3]} << 24);
        k *= kM;
        k ^= k >> 24;
        k *= kM;
        h *= kM;
        h ^= k;
        p += 4;
        len -= 4;
    }
    switch (len) {
        case 3:
            h ^= uint32_t{p[2]} << 16;
            [[fallthrough]];
        case 2:
            h ^= uint32_t{p[1]} << 8;
            [[fallthrough]];
        case 1:
            h ^= p[0];
            h *= kM;
            break;
        default:
            break;
    }
    h ^= h >> 13;
    h *= kM;
    h ^= h >> 15;
    return h;
}

std::optional<uint64_t> parse_percent(std::string_view text) {
    if (text.empty()) {
        return std::nullopt;
    }
    uint64_t value = 0;
    int decimals = -1;  // -1: no dot yet
    for (char c : text) {
        if (decimals == 2) {
            return std::nullopt;  // a third decimal
        }
        if (c == '.') {
            if (decimals >= 0) {
                return std::nullopt;
            }
            decimals = 0;
            continue;
        }
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        if (value > (UINT64_MAX - 9) / 100) {
            return std::nullopt;
        }
        value = value * 10 + static_cast<uint64_t>(c - '0');
        if (decimals >= 0) {
            decimals++;
        }
    }
    for (int i = decimals < 0 ? 0 : decimals; i < 2; i++) {
        value *= 10;
    }
    return value;
}

const std::string* Table::pick(uint32_t hash) const {
    for (const Part& p : parts_) {
        if (p.rest || hash < p.bound) {
            return &p.value;
        }
    }
    return nullptr;
}

core::Status build(std::span<const core::ConfNode> lines, Table& out) {
    constexpr uint64_t kWhole = 10000;  // 100.00%
    uint64_t sum = 0;
    uint64_t last = 0;
    for (const core::ConfNode& n : lines) {
        if (n.block) {
            return core::Status::error("unexpected \"{\" in " + n.where());
        }
        if (n.args.size() != 2) {
            return core::Status::error("invalid number of the split_clients parameters in " +
                                       n.where());
        }
        const std::string& pct = n.args[0];
        Table::Part part;
        part.value = n.args[1];
        uint64_t percent = 0;
        if (pct != "*") {
            std::optional<uint64_t> v;
            if (!pct.empty() && pct.back() == '%') {
                v = parse_percent(std::string_view(pct).substr(0, pct.size() - 1));
            }
            if (!v || *v == 0) {
                return core::Status::error("invalid percent value \"" + pct + "\" in " + n.where());
            }
            percent = *v;
        }
        // As nginx: `*` fills up to 100%; so does a slice that completes it exactly.
        sum = percent != 0 ? sum + percent : kWhole;
        if (sum > kWhole) {
            return core::Status::error("percent total is greater than 100% in " + n.where());
        }
        if (sum == kWhole) {
            part.rest = true;
        } else {
            last += percent * uint64_t{0xffffffff} / kWhole;
            part.bound = static_cast<uint32_t>(last);
        }
        out.parts_.push_back(std::move(part));
    }
    return core::Status::ok();
}

}  // namespace split_clients
