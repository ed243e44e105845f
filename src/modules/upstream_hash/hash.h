#pragma once

// Hash balancing, as nginx's upstream_hash and ip_hash modules:
//   hash $key;             crc32 of the key modulo the total weight, rehashed (crc32 of the
//                          attempt number and the key, added) while the peer is unusable;
//   hash $key consistent;  a ketama ring, 160 points per unit of weight, the same points as
//                          Cache::Memcached::Fast (and nginx) for the same server names;
//   ip_hash;               the first three octets of an IPv4 client (the whole IPv6 address).
// After 20 unusable picks a request falls back to round robin, as in nginx.

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "http/variables.h"
#include "upstream/upstream.h"

namespace mod::upstream_hash {

/// CRC-32 (IEEE 802.3, reflected), nginx's ngx_crc32: init, update, final.
uint32_t crc32_update(uint32_t crc, std::string_view data);
inline uint32_t crc32(std::string_view data) {
    return crc32_update(0xffffffffu, data) ^ 0xffffffffu;
}

/// One point of the consistent ring: a hash and the first peer of the server it stands for.
struct RingPoint {
    uint32_t hash;
    uint32_t peer;
};

/// The state of `hash` for one group (owned by the group).
struct HashData : upstream::BalancerData {
    http::ComplexValue key;
    bool consistent = false;
    int64_t total_weight = 0;     // of the primary servers, down ones included (nginx)
    std::vector<RingPoint> ring;  // consistent: sorted by hash, without repeated hashes
};

/// `hash`: HashData says whether it is consistent.
const upstream::Balancer& hash_balancer();
/// `ip_hash` (its data: HashData, only total_weight used).
const upstream::Balancer& ip_hash_balancer();

}  // namespace mod::upstream_hash
