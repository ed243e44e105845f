// hash, consistent hash and ip_hash picks (see hash.h).
#include "modules/upstream_hash/hash.h"

#include <strings.h>
#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include "http/http.h"

namespace mod::upstream_hash {

using upstream::Group;
using upstream::PeerState;
using upstream::PickContext;

namespace {

constexpr int kMaxTries = 20;          // unusable picks before round robin (nginx)
constexpr int kPointsPerWeight = 160;  // ketama

constexpr std::array<uint32_t, 256> make_crc_table() {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) {
            c = (c & 1) != 0 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        }
        t[i] = c;
    }
    return t;
}
constexpr std::array<uint32_t, 256> kCrcTable = make_crc_table();

// Per-request state in PickContext::balancer_state.
enum Slot { kHash = 0, kRehash = 1, kTries = 2 };

HashData& data_of(const Group& group) {
    return static_cast<HashData&>(*group.balancer_data());
}

bool usable(const std::vector<int>& candidates, int i) {
    return std::binary_search(candidates.begin(), candidates.end(), i);
}

/// The primary peer a weighted position falls on (down peers keep their share, as nginx).
int peer_at(const Group& group, uint64_t w) {
    const auto& servers = group.servers();
    size_t i = 0;
    while (i + 1 < group.primary_count() && w >= static_cast<uint64_t>(servers[i].weight)) {
        w -= static_cast<uint64_t>(servers[i].weight);
        i++;
    }
    return static_cast<int>(i);
}

int fallback(const Group& group, PeerState* peers, const std::vector<int>& candidates,
             PickContext& ctx) {
    return upstream::pick_round_robin(group, peers, candidates, ctx);
}

int pick_plain(const Group& group, PeerState* peers, const std::vector<int>& candidates,
               PickContext& ctx) {
    const HashData& d = data_of(group);
    auto& st = ctx.balancer_state;
    if (st[kTries] > kMaxTries || group.servers().size() == 1 || ctx.key.empty() ||
        d.total_weight <= 0) {
        return fallback(group, peers, candidates, ctx);
    }
    for (;;) {
        // As Cache::Memcached: ((crc32([REHASH] KEY) >> 16) & 0x7fff) + PREV_HASH, the attempt
        // number left out the first time.
        uint32_t crc = 0xffffffffu;
        if (st[kRehash] > 0) {
            crc = crc32_update(crc, std::to_string(st[kRehash]));
        }
        crc = crc32_update(crc, ctx.key) ^ 0xffffffffu;
        st[kHash] += (crc >> 16) & 0x7fff;
        st[kRehash]++;
        int i = peer_at(group, st[kHash] % static_cast<uint64_t>(d.total_weight));
        if (usable(candidates, i)) {
            return i;
        }
        if (++st[kTries] > kMaxTries) {
            return fallback(group, peers, candidates, ctx);
        }
    }
}

int pick_consistent(const Group& group, PeerState* peers, const std::vector<int>& candidates,
                    PickContext& ctx) {
    const HashData& d = data_of(group);
    auto& st = ctx.balancer_state;
    if (st[kTries] > kMaxTries || group.servers().size() < 2 || ctx.key.empty() || d.ring.empty()) {
        return fallback(group, peers, candidates, ctx);
    }
    if (st[kRehash] == 0) {  // first attempt: the first point at or after the key's hash
        uint32_t h = crc32(ctx.key);
        auto it = std::lower_bound(d.ring.begin(), d.ring.end(), h,
                                   [](const RingPoint& p, uint32_t v) { return p.hash < v; });
        st[kHash] = static_cast<uint64_t>(it - d.ring.begin());
        st[kRehash] = 1;
    }
    const auto& servers = group.servers();
    for (;;) {
        const std::string& name = servers[d.ring[st[kHash] % d.ring.size()].peer].name;
        // The peers of that server (a name may resolve to several addresses): smooth
        // weighted round robin among the usable ones.
        int best = upstream::smooth_wrr(group, peers, candidates, [&](int i) {
            return servers[static_cast<size_t>(i)].name == name;
        });
        if (best >= 0) {
            return best;
        }
        st[kHash]++;
        if (++st[kTries] > kMaxTries) {
            return fallback(group, peers, candidates, ctx);
        }
    }
}

int pick_hash(const Group& group, PeerState* peers, const std::vector<int>& candidates,
              PickContext& ctx) {
    return data_of(group).consistent ? pick_consistent(group, peers, candidates, ctx)
                                     : pick_plain(group, peers, candidates, ctx);
}

void prepare_hash(const Group& group, PickContext& ctx) {
    if (ctx.request != nullptr) {
        ctx.key.clear();
        data_of(group).key.eval(*static_cast<const http::Request*>(ctx.request), ctx.key);
    }
}

/// Splits a server name as written into host and port the way ketama does ("h:80" -> "h",
/// "80"; no port when the name does not end in ":digits"; "unix:/p.sock" -> "/p.sock", none).
void split_name(std::string_view name, std::string_view& host, std::string_view& port) {
    host = name;
    port = {};
    if (name.size() >= 5 && strncasecmp(name.data(), "unix:", 5) == 0) {
        host = name.substr(5);  // nginx: a unix socket's path, no port
        return;
    }
    for (size_t j = 0; j < name.size(); j++) {
        char c = name[name.size() - j - 1];
        if (c == ':') {
            host = name.substr(0, name.size() - j - 1);
            port = name.substr(name.size() - j);
            return;
        }
        if (c < '0' || c > '9') {
            return;
        }
    }
}

core::Status init_hash(Group& group) {
    HashData& d = data_of(group);
    const auto& servers = group.servers();
    d.total_weight = 0;
    for (size_t i = 0; i < group.primary_count(); i++) {
        d.total_weight += servers[i].weight;
    }
    d.ring.clear();
    if (!d.consistent) {
        return core::Status::ok();
    }
    for (size_t i = 0; i < group.primary_count(); i++) {
        bool seen = false;
        for (size_t k = 0; k < i; k++) {
            seen = seen || servers[k].name == servers[i].name;
        }
        if (seen) {
            continue;  // the points of a name are made once (its addresses share them)
        }
        std::string_view host;
        std::string_view port;
        split_name(servers[i].name, host, port);
        // crc32(HOST \0 PORT PREV_HASH), PREV_HASH as 4 little-endian bytes.
        uint32_t base = crc32_update(0xffffffffu, host);
        base = crc32_update(base, std::string_view("\0", 1));
        base = crc32_update(base, port);
        uint32_t prev = 0;
        for (int j = 0; j < servers[i].weight * kPointsPerWeight; j++) {
            char bytes[4] = {static_cast<char>(prev & 0xff), static_cast<char>((prev >> 8) & 0xff),
                             static_cast<char>((prev >> 16) & 0xff),
                             static_cast<char>((prev >> 24) & 0xff)};
            uint32_t h = crc32_update(base, std::string_view(bytes, 4)) ^ 0xffffffffu;
            d.ring.push_back(RingPoint{h, static_cast<uint32_t>(i)});
            prev = h;
        }
    }
    std::stable_sort(d.ring.begin(), d.ring.end(),
                     [](const RingPoint& a, const RingPoint& b) { return a.hash < b.hash; });
    d.ring.erase(
        std::unique(d.ring.begin(), d.ring.end(),
                    [](const RingPoint& a, const RingPoint& b) { return a.hash == b.hash; }),
        d.ring.end());
    return core::Status::ok();
}

/// The bytes of the client address ip_hash uses: IPv4's first three octets, IPv6's sixteen,
/// three zero bytes for anything else (nginx's pseudo address).
std::string_view ip_hash_bytes(const core::SockAddr& client, uint8_t (&buf)[16]) {
    memset(buf, 0, sizeof(buf));
    if (client.family() == AF_INET) {
        memcpy(buf, &reinterpret_cast<const sockaddr_in*>(&client.storage)->sin_addr, 3);
        return {reinterpret_cast<const char*>(buf), 3};
    }
    if (client.family() == AF_INET6) {
        memcpy(buf, &reinterpret_cast<const sockaddr_in6*>(&client.storage)->sin6_addr, 16);
        return {reinterpret_cast<const char*>(buf), 16};
    }
    return {reinterpret_cast<const char*>(buf), 3};
}

int pick_ip_hash(const Group& group, PeerState* peers, const std::vector<int>& candidates,
                 PickContext& ctx) {
    const HashData& d = data_of(group);
    auto& st = ctx.balancer_state;
    if (st[kTries] > kMaxTries || group.servers().size() == 1 || d.total_weight <= 0) {
        return fallback(group, peers, candidates, ctx);
    }
    if (st[kRehash] == 0) {
        st[kHash] = 89;
        st[kRehash] = 1;
    }
    uint8_t buf[16];
    std::string_view addr = ip_hash_bytes(ctx.client, buf);
    uint64_t hash = st[kHash];
    for (;;) {
        for (char c : addr) {
            hash = (hash * 113 + static_cast<uint8_t>(c)) % 6271;
        }
        int i = peer_at(group, hash % static_cast<uint64_t>(d.total_weight));
        if (usable(candidates, i)) {
            st[kHash] = hash;
            return i;
        }
        if (++st[kTries] > kMaxTries) {
            return fallback(group, peers, candidates, ctx);
        }
    }
}

const upstream::Balancer kHashBalancer{
    .name = "hash",
    .pick = &pick_hash,
    .prepare = &prepare_hash,
    .init = &init_hash,
    .allows_backup = false,
};

const upstream::Balancer kIpHashBalancer{
    .name = "ip_hash",
    .pick = &pick_ip_hash,
    .init = &init_hash,
    .allows_backup = false,
};

}  // namespace

uint32_t crc32_update(uint32_t crc, std::string_view data) {
    for (char c : data) {
        crc = kCrcTable[(crc ^ static_cast<uint8_t>(c)) & 0xff] ^ (crc >> 8);
    }
    return crc;
}

const upstream::Balancer& hash_balancer() {
    return kHashBalancer;
}

const upstream::Balancer& ip_hash_balancer() {
    return kIpHashBalancer;
}

}  // namespace mod::upstream_hash
