#include "modules/status/status_zone.h"

#include <cstdio>
#include <cstring>
#include <new>

namespace mod::status {

namespace {

/// The block the root lives in: the largest size class of the pool that fits the zone.
constexpr size_t kRootBlock = 256 * 1024;
constexpr size_t kBlockHeader = 16;  // ShmPool's header before a payload
constexpr size_t kRootAlign = alignof(StatusZone);
constexpr uint64_t kKeepGenerations = 8;  // a server entry unused this long may be recycled

void copy_record(const core::ProcessRecord& r, ProcessEntry& e) {
    e = ProcessEntry{};
    e.pid = static_cast<int32_t>(r.pid);
    e.role = static_cast<uint8_t>(r.role);
    e.retiring = r.retiring ? 1 : 0;
    e.worker_index = static_cast<uint16_t>(r.worker_index);
    e.respawns = r.respawns;
    e.started_ms = r.started_ms;
    e.started_steady_ms = r.started_steady_ms;
    snprintf(e.name, sizeof(e.name), "%s", r.helper_name.c_str());
}

}  // namespace

bool ProcessBlock::has(pid_t pid) const {
    if (self.pid == pid) {
        return true;
    }
    for (uint32_t i = 0; i < count; i++) {
        if (children[i].pid == pid) {
            return true;
        }
    }
    return false;
}

void ServerCounters::count(int status, uint64_t in, uint64_t out, bool h2) {
    requests.fetch_add(1, std::memory_order_relaxed);
    if (h2) {
        h2_requests.fetch_add(1, std::memory_order_relaxed);
    }
    if (status >= 100 && status <= 599) {
        responses[status / 100 - 1].fetch_add(1, std::memory_order_relaxed);
    }
    received.fetch_add(in, std::memory_order_relaxed);
    sent.fetch_add(out, std::memory_order_relaxed);
}

void ServerCounters::clear() {
    requests.store(0, std::memory_order_relaxed);
    h2_requests.store(0, std::memory_order_relaxed);
    for (auto& r : responses) {
        r.store(0, std::memory_order_relaxed);
    }
    received.store(0, std::memory_order_relaxed);
    sent.store(0, std::memory_order_relaxed);
}

void StreamCounters::open() {
    connections.fetch_add(1, std::memory_order_relaxed);
    active.fetch_add(1, std::memory_order_relaxed);
}

void StreamCounters::close(int status, uint64_t in, uint64_t out, bool opened) {
    if (opened) {
        active.fetch_sub(1, std::memory_order_relaxed);
    } else {
        connections.fetch_add(1, std::memory_order_relaxed);
    }
    sessions.fetch_add(1, std::memory_order_relaxed);
    int cls = status / 100;
    if (cls == 2 || cls == 4 || cls == 5) {
        statuses[cls == 2 ? 0 : cls - 3].fetch_add(1, std::memory_order_relaxed);
    }
    received.fetch_add(in, std::memory_order_relaxed);
    sent.fetch_add(out, std::memory_order_relaxed);
}

void StreamCounters::clear() {
    connections.store(0, std::memory_order_relaxed);
    active.store(0, std::memory_order_relaxed);
    sessions.store(0, std::memory_order_relaxed);
    for (auto& c : statuses) {
        c.store(0, std::memory_order_relaxed);
    }
    received.store(0, std::memory_order_relaxed);
    sent.store(0, std::memory_order_relaxed);
}

std::string server_key(std::string_view name, std::span<const std::string> listens) {
    std::string key(name);
    key += ' ';
    for (size_t i = 0; i < listens.size(); i++) {
        key += i > 0 ? "," : "";
        key += listens[i];
    }
    if (key.size() < kServerKeyMax) {
        return key;
    }
    uint64_t h = 1469598103934665603ull;  // FNV-1a of the whole key
    for (char c : key) {
        h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
    }
    char tail[24];
    snprintf(tail, sizeof(tail), "#%016llx", static_cast<unsigned long long>(h));
    key.resize(kServerKeyMax - 1 - strlen(tail));
    return key + tail;
}

size_t StatusZone::zone_size() {
    return kRootBlock + 8 * 1024;  // the block and the pool's own header
}

StatusZone* StatusZone::open(core::ShmPool& pool, bool reused) {
    if (reused && pool.root != nullptr) {
        // The root may hold another module's object: a zone is always aligned (see below), so
        // anything else is refused before it is read as one.
        if (reinterpret_cast<uintptr_t>(pool.root) % kRootAlign != 0) {
            return nullptr;
        }
        auto* z = static_cast<StatusZone*>(pool.root);
        return z->magic_ == kMagic ? z : nullptr;
    }
    void* mem = pool.alloc(kRootBlock - kBlockHeader);
    if (mem == nullptr) {
        return nullptr;
    }
    auto addr = reinterpret_cast<uintptr_t>(mem);
    uintptr_t aligned = (addr + kRootAlign - 1) & ~(uintptr_t{kRootAlign} - 1);
    size_t room = kRootBlock - kBlockHeader - (aligned - addr);
    if (room < sizeof(StatusZone) + sizeof(ServerEntry)) {
        return nullptr;
    }
    auto* z = new (reinterpret_cast<void*>(aligned)) StatusZone();
    z->mutex_.init();
    z->server_cap_ = static_cast<uint32_t>((room - sizeof(StatusZone)) / sizeof(ServerEntry));
    for (uint32_t i = 0; i < z->server_cap_; i++) {
        new (&z->entries()[i]) ServerEntry();
    }
    z->magic_ = kMagic;
    pool.root = z;
    return z;
}

uint64_t StatusZone::begin_generation() {
    return ++generation_;
}

ServerCounters* StatusZone::server(std::string_view key, uint64_t generation) {
    ServerEntry* e = entry(Kind::kServer, key, generation);
    return e != nullptr ? &e->counters.server : nullptr;
}

StreamCounters* StatusZone::stream_listen(std::string_view key, uint64_t generation) {
    ServerEntry* e = entry(Kind::kStreamListen, key, generation);
    return e != nullptr ? &e->counters.stream : nullptr;
}

StatusZone::ServerEntry* StatusZone::entry(Kind kind, std::string_view key, uint64_t generation) {
    if (key.size() >= kServerKeyMax) {
        return nullptr;  // server_key() never makes one
    }
    ServerEntry* recycle = nullptr;
    for (uint32_t i = 0; i < server_count_; i++) {
        ServerEntry& e = entries()[i];
        if (e.kind == kind && key == e.key) {
            e.generation = generation;
            return &e;
        }
        if (recycle == nullptr && e.generation + kKeepGenerations <= generation) {
            recycle = &e;
        }
    }
    // A fresh entry while there are any; an old one only when the zone is full.
    ServerEntry* e = server_count_ < server_cap_ ? &entries()[server_count_++] : recycle;
    if (e == nullptr) {
        return nullptr;
    }
    memset(e->key, 0, sizeof(e->key));
    memcpy(e->key, key.data(), key.size());
    e->generation = generation;
    e->kind = kind;
    if (kind == Kind::kServer) {
        new (&e->counters.server) ServerCounters();
    } else {
        new (&e->counters.stream) StreamCounters();
    }
    return e;
}

void StatusZone::publish(const core::ProcessTable& table) {
    core::ShmLockGuard guard(mutex_);
    copy_record(table.self, procs_.self);
    procs_.reloads = table.reloads;
    procs_.count = 0;
    procs_.dropped = 0;
    for (const core::ProcessRecord& r : table.children) {
        if (procs_.count == kMaxProcesses) {
            procs_.dropped++;
            continue;
        }
        copy_record(r, procs_.children[procs_.count++]);
    }
    procs_.published = 1;
}

void StatusZone::read_processes(ProcessBlock& out) {
    core::ShmLockGuard guard(mutex_);
    out = procs_;
}

WorkerSlot* StatusZone::claim_slot(pid_t pid, bool (*alive)(pid_t)) {
    for (WorkerSlot& s : slots_) {
        int32_t expected = 0;
        if (s.pid.load(std::memory_order_relaxed) == 0 &&
            s.pid.compare_exchange_strong(expected, static_cast<int32_t>(pid))) {
            return &s;
        }
    }
    for (WorkerSlot& s : slots_) {
        int32_t owner = s.pid.load(std::memory_order_relaxed);
        if (owner != 0 && !alive(owner) &&
            s.pid.compare_exchange_strong(owner, static_cast<int32_t>(pid))) {
            // Its process died without giving it back: what it held open is gone with it.
            s.counters.active.store(0, std::memory_order_relaxed);
            s.counters.reading.store(0, std::memory_order_relaxed);
            s.counters.writing.store(0, std::memory_order_relaxed);
            s.counters.h2_active.store(0, std::memory_order_relaxed);
            return &s;
        }
    }
    return nullptr;
}

void StatusZone::release_slot(WorkerSlot& slot) {
    slot.counters.active.store(0, std::memory_order_relaxed);
    slot.counters.reading.store(0, std::memory_order_relaxed);
    slot.counters.writing.store(0, std::memory_order_relaxed);
    slot.counters.h2_active.store(0, std::memory_order_relaxed);
    slot.pid.store(0, std::memory_order_release);
}

}  // namespace mod::status
