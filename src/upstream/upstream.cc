// Upstream groups at run time: the shared state block (peer states, persistence table) in
// process memory or in the group's shared zone, the selection core (usable peers, primaries
// before backups, passive health as nginx's max_fails / fail_timeout), smooth weighted round
// robin, LVS-style persistence, and the carry-over of state across a reload.
#include "upstream/upstream.h"

#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <new>

#include "core/clock.h"
#include "core/log.h"

namespace upstream {

namespace {

constexpr uint32_t kBlockMagic = 0x75707374;  // "upst"
constexpr uint32_t kRootMagic = 0x7570726f;   // "upro"
constexpr uint32_t kPersistProbes = 8;        // slots looked at for one client

/// One remembered client of `persistence_timeout`: its address (no port) and its server.
struct PersistEntry {
    uint8_t addr[16];
    uint8_t family;  // 0: a free slot
    uint8_t pad[3];
    int32_t peer;
    int64_t last_ms;  // the last request that used the entry
};
static_assert(sizeof(PersistEntry) == Group::kPersistEntryBytes);

constexpr size_t align16(size_t n) {
    return (n + 15) & ~size_t{15};
}

/// The address of a client as a persistence key; false for other families (no persistence).
bool client_key(const core::SockAddr& a, uint8_t (&out)[16], uint8_t& family) {
    memset(out, 0, sizeof(out));
    if (a.family() == AF_INET) {
        memcpy(out, &reinterpret_cast<const sockaddr_in*>(&a.storage)->sin_addr, 4);
    } else if (a.family() == AF_INET6) {
        memcpy(out, &reinterpret_cast<const sockaddr_in6*>(&a.storage)->sin6_addr, 16);
    } else {
        return false;
    }
    family = static_cast<uint8_t>(a.family());
    return true;
}

uint64_t key_hash(const uint8_t (&addr)[16], uint8_t family) {
    uint64_t h = 1469598103934665603ull ^ family;  // FNV-1a
    for (uint8_t b : addr) {
        h = (h ^ b) * 1099511628211ull;
    }
    return h;
}

/// The zone's root object (ShmPool::root): the list of every group block in the zone, of every
/// cycle still alive. Changed under the pool's mutex.
struct ZoneRoot {
    uint32_t magic;
    void* head;  // Group::Shared*
};

}  // namespace

/// A group's state block, in process memory or in the zone. Followed in memory by
/// PeerState[peer_count], core::SockAddr[peer_count] (to match servers on a reload),
/// PersistEntry[persist_cap] and the group's name.
struct Group::Shared {
    core::ShmMutex mutex;
    uint32_t magic;
    uint32_t peer_count;
    uint32_t persist_cap;
    uint32_t name_len;
    uint64_t generation;
    Shared* next;

    static size_t peers_offset() { return align16(sizeof(Shared)); }
    static size_t addrs_offset(size_t n) { return peers_offset() + align16(n * sizeof(PeerState)); }
    static size_t persist_offset(size_t n) {
        return addrs_offset(n) + align16(n * sizeof(core::SockAddr));
    }
    static size_t name_offset(size_t n, size_t cap) {
        return persist_offset(n) + cap * sizeof(PersistEntry);
    }
    static size_t size(size_t n, size_t cap, size_t name_len) {
        return align16(name_offset(n, cap) + name_len);
    }

    char* base() { return reinterpret_cast<char*>(this); }
    PeerState* peers() { return reinterpret_cast<PeerState*>(base() + peers_offset()); }
    core::SockAddr* addrs() {
        return reinterpret_cast<core::SockAddr*>(base() + addrs_offset(peer_count));
    }
    PersistEntry* persist() {
        return reinterpret_cast<PersistEntry*>(base() + persist_offset(peer_count));
    }
    std::string_view name() { return {base() + name_offset(peer_count, persist_cap), name_len}; }

    /// The entry of `client` (live or expired), or nullptr.
    PersistEntry* find(const core::SockAddr& client) {
        uint8_t key[16];
        uint8_t family = 0;
        if (persist_cap == 0 || !client_key(client, key, family)) {
            return nullptr;
        }
        uint64_t h = key_hash(key, family);
        for (uint32_t i = 0; i < kPersistProbes; i++) {
            PersistEntry& e = persist()[(h + i) % persist_cap];
            if (e.family == family && memcmp(e.addr, key, sizeof(key)) == 0) {
                return &e;
            }
        }
        return nullptr;
    }

    /// Remembers `client` on `peer`: its own slot, else a free or expired one, else the least
    /// recently used of the slots probed.
    void remember(const uint8_t (&key)[16], uint8_t family, int peer, int64_t now,
                  int64_t timeout) {
        uint64_t h = key_hash(key, family);
        auto reusable = [&](const PersistEntry& e) {
            return e.family == 0 || now - e.last_ms > timeout;
        };
        PersistEntry* victim = nullptr;
        for (uint32_t i = 0; i < kPersistProbes; i++) {
            PersistEntry& e = persist()[(h + i) % persist_cap];
            if (e.family == family && memcmp(e.addr, key, sizeof(key)) == 0) {
                victim = &e;
                break;
            }
            if (victim == nullptr) {
                victim = &e;
            } else if (reusable(e)) {
                if (!reusable(*victim)) {
                    victim = &e;
                }
            } else if (!reusable(*victim) && e.last_ms < victim->last_ms) {
                victim = &e;
            }
        }
        memcpy(victim->addr, key, sizeof(key));
        victim->family = family;
        victim->peer = peer;
        victim->last_ms = now;
    }

    void remember(const core::SockAddr& client, int peer, int64_t now, int64_t timeout) {
        uint8_t key[16];
        uint8_t family = 0;
        if (persist_cap > 0 && client_key(client, key, family)) {
            remember(key, family, peer, now, timeout);
        }
    }
};

namespace {
/// A `resolve` slot's key: its name and port hashed (FNV-1a), never 0; 0 for other servers.
uint32_t resolve_key(const Server& s) {
    if (s.resolve_host.empty()) {
        return 0;
    }
    uint32_t h = 2166136261u;
    for (char c : s.resolve_host + ":" + std::to_string(s.resolve_port)) {
        h = (h ^ static_cast<uint8_t>(tolower(static_cast<unsigned char>(c)))) * 16777619u;
    }
    return h != 0 ? h : 1;
}
}  // namespace

// ---- the default balancer ----

int pick_round_robin(const Group& group, PeerState* peers, const std::vector<int>& candidates,
                     PickContext&) {
    return smooth_wrr(group, peers, candidates, [](int) { return true; });
}

extern const Balancer kRoundRobin{
    .name = "round_robin",
    .pick = &pick_round_robin,
};

namespace {
struct Registry {
    std::vector<const Group*> groups;
};
}  // namespace

void register_group(core::Cycle& cycle, const Group& group) {
    cycle.attachment<Registry>().groups.push_back(&group);
}

const Group* find_group(const core::Cycle& cycle, std::string_view name, bool stream) {
    if (const Registry* r = cycle.find_attachment<Registry>()) {
        for (const Group* g : r->groups) {
            if (g->stream() == stream && g->name().size() == name.size() &&
                strncasecmp(g->name().data(), name.data(), name.size()) == 0) {
                return g;
            }
        }
    }
    return nullptr;
}

const Group* find_group(const core::Cycle& cycle, std::string_view name) {
    const Group* g = find_group(cycle, name, false);
    return g != nullptr ? g : find_group(cycle, name, true);
}

std::vector<const Group*> all_groups(const core::Cycle& cycle) {
    const Registry* r = cycle.find_attachment<Registry>();
    return r != nullptr ? r->groups : std::vector<const Group*>{};
}

// ---- Group: accessors ----

Group::Group(std::string name) : name_(std::move(name)), balancer_(&kRoundRobin) {}

Group::~Group() {
    detach();
}

const std::string& Group::name() const {
    return name_;
}
const std::vector<Server>& Group::servers() const {
    return servers_;
}
size_t Group::primary_count() const {
    return primary_count_;
}
const Balancer& Group::balancer() const {
    return *balancer_;
}
int Group::keepalive() const {
    return keepalive_;
}
Millis Group::keepalive_timeout() const {
    return keepalive_timeout_;
}
int Group::keepalive_requests() const {
    return keepalive_requests_;
}

void Group::roll_load(int64_t now) const {
    int64_t window = std::max<int64_t>(keepalive_timeout_.count(), 1000);
    if (now - load_.window_start >= window) {
        load_.prev_peak = now - load_.window_start >= 2 * window ? 0 : load_.peak;
        load_.peak = load_.busy;
        load_.window_start = now;
    }
}

int Group::local_peak(int64_t now) const {
    roll_load(now);
    return std::max(load_.peak, load_.prev_peak);
}

size_t Group::idle_cap(int64_t now) const {
    if (keepalive_max_ == 0) {
        return static_cast<size_t>(keepalive_);
    }
    int want = std::min(local_peak(now) - load_.busy, keepalive_max_);
    return static_cast<size_t>(std::max(want, keepalive_));
}
PeerState* Group::peers() const {
    return shared_ != nullptr ? shared_->peers() : nullptr;
}
BalancerData* Group::balancer_data() const {
    return balancer_data_.get();
}

core::Status Group::set_balancer(const Balancer* b, std::unique_ptr<BalancerData> data) {
    if (balancer_set_) {
        return core::Status::error("load balancing method redefined");
    }
    if (!b->allows_backup && has_backup()) {
        return core::Status::error("load balancing method \"" + std::string(b->name) +
                                   "\" does not support backup servers");
    }
    balancer_ = b;
    balancer_data_ = std::move(data);
    balancer_set_ = true;
    return core::Status::ok();
}

bool Group::has_backup() const {
    return std::any_of(servers_.begin(), servers_.end(), [](const Server& s) { return s.backup; });
}

void Group::add_server(Server server) {
    servers_.push_back(std::move(server));
}

// ---- Group: building ----

std::unique_ptr<Group> Group::make(std::string name, std::vector<Server> servers,
                                   const Balancer* balancer, std::unique_ptr<BalancerData> data,
                                   std::optional<Millis> persistence, std::string* error) {
    auto g = std::make_unique<Group>(std::move(name));
    for (Server& s : servers) {
        g->add_server(std::move(s));
    }
    g->set_persistence_timeout(persistence);
    core::Status s = core::Status::ok();
    if (balancer != nullptr) {
        s = g->set_balancer(balancer, std::move(data));
    }
    if (s.is_ok()) {
        s = g->finalize();
    }
    if (!s.is_ok()) {
        if (error != nullptr) {
            *error = s.message();
        }
        return nullptr;
    }
    return g;
}

core::Status Group::finalize() {
    std::stable_partition(servers_.begin(), servers_.end(),
                          [](const Server& s) { return !s.backup; });
    primary_count_ = static_cast<size_t>(
        std::count_if(servers_.begin(), servers_.end(), [](const Server& s) { return !s.backup; }));
    if (primary_count_ == 0) {
        return core::Status::error("no servers in upstream \"" + name_ + "\"");
    }
    single_ = servers_.size() == 1;
    if (balancer_->init != nullptr) {
        HALO_TRY(balancer_->init(*this));
    }
    local_ = std::make_unique<std::byte[]>(shared_size());
    shared_ = make_block(local_.get());
    return core::Status::ok();
}

size_t Group::shared_size() const {
    return Shared::size(servers_.size(), persistence_ ? persist_cap_ : 0, name_.size());
}

Group::Shared* Group::make_block(void* mem) const {
    memset(mem, 0, shared_size());
    auto* s = new (mem) Shared();
    s->mutex.init();
    s->magic = kBlockMagic;
    s->peer_count = static_cast<uint32_t>(servers_.size());
    s->persist_cap = persistence_ ? persist_cap_ : 0;
    s->name_len = static_cast<uint32_t>(name_.size());
    for (size_t i = 0; i < servers_.size(); i++) {
        new (&s->peers()[i]) PeerState();
        s->peers()[i].effective_weight = servers_[i].weight;
        // Active checks start every server up (keepalived), `down` ones are not checked.
        s->peers()[i].health.checked = health_checked() && !servers_[i].down ? 1 : 0;
        s->peers()[i].unresolved = servers_[i].addr.family() == 0 ? 1 : 0;
        s->peers()[i].resolve_key = resolve_key(servers_[i]);
        new (&s->addrs()[i]) core::SockAddr(servers_[i].addr);
    }
    memcpy(s->base() + Shared::name_offset(s->peer_count, s->persist_cap), name_.data(),
           name_.size());
    return s;
}

core::Status Group::attach(core::ShmZone& zone, uint64_t generation) {
    core::ShmPool& pool = zone.pool();
    core::ShmLockGuard guard(pool.mutex());
    auto* root = static_cast<ZoneRoot*>(pool.root);
    if (root == nullptr || root->magic != kRootMagic) {
        root = static_cast<ZoneRoot*>(pool.alloc_locked(sizeof(ZoneRoot)));
        if (root == nullptr) {
            return core::Status::error("could not allocate memory in upstream zone \"" + zone.name +
                                       "\" in " + zone.where);
        }
        root->magic = kRootMagic;
        pool.root = root;
    }
    void* mem = pool.alloc_locked(shared_size());
    if (mem == nullptr) {
        return core::Status::error("could not allocate memory for upstream \"" + name_ +
                                   "\" in zone \"" + zone.name + "\" in " + zone.where);
    }
    Shared* fresh = make_block(mem);
    fresh->generation = generation;
    Shared* newest = nullptr;
    for (auto* b = static_cast<Shared*>(root->head); b != nullptr; b = b->next) {
        if (b->magic == kBlockMagic && b->generation < generation && b->name() == name_ &&
            (newest == nullptr || b->generation > newest->generation)) {
            newest = b;
        }
    }
    shared_ = fresh;
    if (newest != nullptr) {
        carry_over(*newest);
    }
    fresh->next = static_cast<Shared*>(root->head);
    root->head = fresh;
    local_.reset();
    segment_ = zone.segment;
    return core::Status::ok();
}

void Group::carry_over(Shared& old) {
    core::ShmLockGuard guard(old.mutex);  // old workers may still be updating it
    size_t n = servers_.size();
    std::vector<int> to_new(old.peer_count, -1);
    std::vector<bool> taken(n, false);
    PeerState* peers = shared_->peers();
    for (uint32_t j = 0; j < old.peer_count; j++) {
        const PeerState& o = old.peers()[j];
        if (o.unresolved != 0 || old.addrs()[j].family() == 0) {
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            if (taken[i]) {
                continue;
            }
            // A `resolve` slot takes an address its name had (it is re-resolved soon after).
            bool slot = o.resolve_key != 0 && peers[i].resolve_key == o.resolve_key;
            if (slot || (o.resolve_key == 0 && servers_[i].addr == old.addrs()[j])) {
                taken[i] = true;
                to_new[j] = static_cast<int>(i);
                if (slot) {
                    peers[i].unresolved = 0;
                    shared_->addrs()[i] = old.addrs()[j];
                }
                break;
            }
        }
    }
    for (uint32_t j = 0; j < old.peer_count; j++) {
        if (to_new[j] < 0) {
            continue;
        }
        const PeerState& o = old.peers()[j];
        PeerState& p = peers[to_new[j]];
        p.fails = o.fails;
        p.accessed_ms = o.accessed_ms;
        p.checked_ms = o.checked_ms;
        if (health_checked() && p.health.checked != 0) {
            // Still checked: its up/down state and last results go on (matched by address).
            p.health_down = o.health_down;
            p.health = o.health;
            p.health.checked = 1;
        }
        p.requests = o.requests;
        p.failures = o.failures;
        p.responses = o.responses;
        p.response_ms_total = o.response_ms_total;
        p.effective_weight = std::min<int64_t>(o.effective_weight, p.effective_weight);
    }
    if (shared_->persist_cap == 0 || old.persist_cap == 0) {
        return;
    }
    int64_t timeout = persistence_->count();
    int64_t now = core::steady_ms();
    for (uint32_t k = 0; k < old.persist_cap; k++) {
        const PersistEntry& e = old.persist()[k];
        if (e.family != 0 && e.peer >= 0 && static_cast<uint32_t>(e.peer) < old.peer_count &&
            to_new[static_cast<size_t>(e.peer)] >= 0) {
            if (now - e.last_ms <= timeout) {
                shared_->remember(e.addr, e.family, to_new[static_cast<size_t>(e.peer)], e.last_ms,
                                  timeout);
            }
        }
    }
}

void Group::detach() {
    if (!segment_ || shared_ == nullptr) {
        return;
    }
    core::ShmPool& pool = *core::ShmPool::of(*segment_);
    {
        core::ShmLockGuard guard(pool.mutex());
        auto* root = static_cast<ZoneRoot*>(pool.root);
        if (root != nullptr && root->magic == kRootMagic) {
            for (void** link = &root->head; *link != nullptr;
                 link = reinterpret_cast<void**>(&static_cast<Shared*>(*link)->next)) {
                if (*link == shared_) {
                    *link = shared_->next;
                    break;
                }
            }
        }
        shared_->magic = 0;
        pool.free_locked(shared_);
    }
    shared_ = nullptr;
    segment_.reset();
}

// ---- Group: active health ----

void Group::set_health(size_t index, bool down, const HealthInfo& info) const {
    if (shared_ == nullptr || index >= servers_.size()) {
        return;
    }
    core::ShmLockGuard guard(shared_->mutex);
    PeerState& p = shared_->peers()[index];
    p.health_down = down ? 1 : 0;
    p.health = info;
}

bool Group::health(size_t index, HealthInfo& out) const {
    if (shared_ == nullptr || index >= servers_.size()) {
        out = HealthInfo{};
        return false;
    }
    core::ShmLockGuard guard(shared_->mutex);
    const PeerState& p = shared_->peers()[index];
    out = p.health;
    return p.health_down != 0;
}

bool Group::peer_state(size_t index, PeerState& out) const {
    if (shared_ == nullptr || index >= servers_.size()) {
        return false;
    }
    core::ShmLockGuard guard(shared_->mutex);
    out = shared_->peers()[index];
    return true;
}

// ---- Group: selection ----

Availability Group::availability(size_t index, const PeerState& p, int64_t now) const {
    const Server& s = servers_[index];
    if (s.down || p.unresolved != 0) {
        return Availability::kDown;
    }
    if (p.health_down != 0) {
        return Availability::kHealthDown;
    }
    if (!single_ && s.max_fails > 0 && p.fails >= static_cast<uint32_t>(s.max_fails) &&
        now - p.checked_ms <= s.fail_timeout.count()) {
        return Availability::kFailed;
    }
    if (s.max_conns > 0 && p.conns >= static_cast<uint32_t>(s.max_conns)) {
        return Availability::kAtMaxConns;
    }
    return Availability::kUsable;
}

bool Group::any_healthy(int64_t now) const {
    if (shared_ == nullptr) {
        return false;
    }
    core::ShmLockGuard guard(shared_->mutex);
    PeerState* peers = shared_->peers();
    for (size_t i = 0; i < servers_.size(); i++) {
        Availability a = availability(i, peers[i], now);
        if (a == Availability::kUsable || a == Availability::kAtMaxConns) {
            return true;
        }
    }
    return false;
}

Peer Group::acquire(PickContext& ctx) const {
    if (!ctx.prepared) {
        ctx.prepared = true;
        if (balancer_->prepare != nullptr) {
            balancer_->prepare(*this, ctx);
        }
    }
    size_t n = servers_.size();
    if (ctx.tried.size() < n) {
        ctx.tried.resize(n, false);
    }
    thread_local std::vector<int> candidates;
    int64_t now = ctx.now_ms != 0 ? ctx.now_ms : core::steady_ms();
    PeerState* peers = shared_->peers();
    int chosen = -1;

    core::ShmLockGuard guard(shared_->mutex);
    auto usable = [&](size_t i) {
        return !ctx.tried[i] && availability(i, peers[i], now) == Availability::kUsable;
    };
    PersistEntry* remembered = nullptr;
    if (persistence_) {
        remembered = shared_->find(ctx.client);
        if (remembered != nullptr && now - remembered->last_ms > persistence_->count()) {
            remembered = nullptr;
        }
    }
    for (int tier = 0; tier < 2 && chosen < 0; tier++) {
        size_t first = tier == 0 ? 0 : primary_count_;
        size_t last = tier == 0 ? primary_count_ : n;
        candidates.clear();
        for (size_t i = first; i < last; i++) {
            if (usable(i)) {
                candidates.push_back(static_cast<int>(i));
            }
        }
        if (candidates.empty()) {
            continue;
        }
        if (remembered != nullptr && std::binary_search(candidates.begin(), candidates.end(),
                                                        static_cast<int>(remembered->peer))) {
            chosen = remembered->peer;
        } else {
            chosen = balancer_->pick(*this, peers, candidates, ctx);
        }
    }
    if (chosen < 0) {
        for (size_t i = 0; i < n; i++) {
            peers[i].fails = 0;  // nginx: all failed, mark them live for a quick recovery
        }
        return Peer{};
    }
    const Server& s = servers_[static_cast<size_t>(chosen)].resolve_host.empty()
                          ? servers_[static_cast<size_t>(chosen)]
                          : resolved_view(static_cast<size_t>(chosen), shared_->addrs()[chosen]);
    PeerState& p = peers[chosen];
    p.conns++;
    p.requests++;
    if (now - p.checked_ms > s.fail_timeout.count()) {
        p.checked_ms = now;
    }
    ctx.tried[static_cast<size_t>(chosen)] = true;
    if (persistence_) {
        shared_->remember(ctx.client, chosen, now, persistence_->count());
    }
    load_.busy++;
    roll_load(now);
    load_.peak = std::max(load_.peak, load_.busy);
    return Peer{chosen, &s};
}

void Group::release(const Peer& peer, Outcome outcome, Millis response_time, int64_t now) const {
    if (peer.index < 0 || static_cast<size_t>(peer.index) >= servers_.size()) {
        return;
    }
    const Server& s = servers_[static_cast<size_t>(peer.index)];
    if (load_.busy > 0) {
        load_.busy--;
    }
    bool disabled = false;
    {
        core::ShmLockGuard guard(shared_->mutex);
        PeerState& p = shared_->peers()[peer.index];
        if (p.conns > 0) {
            p.conns--;
        }
        if (outcome == Outcome::kFailed) {
            p.failures++;
            if (!single_) {
                p.fails++;
                p.accessed_ms = now;
                p.checked_ms = now;
                if (s.max_fails > 0) {
                    p.effective_weight -= s.weight / s.max_fails;
                    disabled = p.fails == static_cast<uint32_t>(s.max_fails);
                }
                if (p.effective_weight < 0) {
                    p.effective_weight = 0;
                }
            }
        } else if (outcome == Outcome::kOk) {
            if (p.accessed_ms < p.checked_ms) {
                p.fails = 0;  // it was tried after its last failure and answered
            }
            p.responses++;
            p.response_ms_total +=
                static_cast<uint64_t>(std::max<int64_t>(0, response_time.count()));
        }
    }
    if (disabled) {
        const core::SockAddr& addr = peer.server != nullptr ? peer.server->addr : s.addr;
        HALO_LOG(kWarn, "upstream server temporarily disabled: %s in upstream \"%s\"",
                 addr.text().c_str(), name_.c_str());
    }
}

// ---- Group: `server name resolve` ----

bool Group::peer_address(size_t index, core::SockAddr& out) const {
    if (index >= servers_.size()) {
        return false;
    }
    if (servers_[index].resolve_host.empty() || shared_ == nullptr) {
        out = servers_[index].addr;
        return servers_[index].addr.family() != 0;
    }
    core::ShmLockGuard guard(shared_->mutex);
    if (shared_->peers()[index].unresolved != 0) {
        return false;
    }
    out = shared_->addrs()[index];
    return true;
}

bool Group::has_resolve() const {
    return std::any_of(servers_.begin(), servers_.end(),
                       [](const Server& s) { return !s.resolve_host.empty(); });
}

std::vector<std::pair<std::string, uint16_t>> Group::resolve_names() const {
    std::vector<std::pair<std::string, uint16_t>> out;
    for (const Server& s : servers_) {
        std::pair<std::string, uint16_t> name{s.resolve_host, s.resolve_port};
        if (!s.resolve_host.empty() && std::find(out.begin(), out.end(), name) == out.end()) {
            out.push_back(std::move(name));
        }
    }
    return out;
}

const Server& Group::resolved_view(size_t index, const core::SockAddr& addr) const {
    if (views_.size() < servers_.size()) {
        views_.resize(servers_.size());
    }
    std::unique_ptr<Server>& v = views_[index];
    if (!v || !(v->addr == addr)) {
        if (v) {
            retired_views_.push_back(std::move(v));  // requests in flight may point to it
        }
        v = std::make_unique<Server>(servers_[index]);
        v->addr = addr;
        v->name = addr.text();  // $upstream_addr: the address the name gave, as nginx
    }
    return *v;
}

bool Group::update_resolved(const std::string& host, uint16_t port,
                            std::vector<core::SockAddr> addrs, int64_t answered_ms) const {
    if (shared_ == nullptr) {
        return false;
    }
    std::vector<core::SockAddr> found;
    for (core::SockAddr a : addrs) {
        if (a.family() == AF_INET) {
            a.storage.in4.sin_port = htons(port);
        } else if (a.family() == AF_INET6) {
            a.storage.in6.sin6_port = htons(port);
        } else {
            continue;
        }
        if (std::find(found.begin(), found.end(), a) == found.end()) {
            found.push_back(a);
        }
    }
    std::vector<size_t> slots;
    for (size_t i = 0; i < servers_.size(); i++) {
        if (servers_[i].resolve_host == host && servers_[i].resolve_port == port) {
            slots.push_back(i);
        }
    }
    bool changed = false;
    core::ShmLockGuard guard(shared_->mutex);
    PeerState* peers = shared_->peers();
    core::SockAddr* current = shared_->addrs();
    for (size_t i : slots) {
        if (peers[i].resolved_ms > answered_ms) {
            return false;  // a newer answer is in place already
        }
        peers[i].resolved_ms = answered_ms;
    }
    auto fresh = [&](size_t i, bool unresolved) {
        PeerState p;
        p.effective_weight = servers_[i].weight;
        p.conns = peers[i].conns;  // requests in flight still release it
        p.unresolved = unresolved ? 1 : 0;
        p.resolve_key = peers[i].resolve_key;  // a reload still finds the slot
        p.resolved_ms = answered_ms;
        peers[i] = p;
    };
    for (size_t i : slots) {
        if (peers[i].unresolved == 0 &&
            std::find(found.begin(), found.end(), current[i]) == found.end()) {
            fresh(i, true);  // the name no longer has this address
            current[i] = core::SockAddr{};
            changed = true;
        }
    }
    for (const core::SockAddr& a : found) {
        bool have = std::any_of(slots.begin(), slots.end(), [&](size_t i) {
            return peers[i].unresolved == 0 && current[i] == a;
        });
        if (have) {
            continue;
        }
        for (size_t i : slots) {
            if (peers[i].unresolved != 0) {
                fresh(i, false);
                current[i] = a;
                changed = true;
                break;
            }
        }
    }
    return changed;
}

}  // namespace upstream
