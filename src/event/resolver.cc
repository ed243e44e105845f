#include "event/resolver.h"

#include <arpa/inet.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ev {

namespace {

constexpr Duration kResend{5000};       // nginx's resend_timeout
constexpr Duration kErrorValid{10000};  // a failure is remembered this long without valid=
constexpr size_t kMaxEntries = 4096;    // names cached per resolver
constexpr size_t kMaxMessage = 4096;    // what one UDP read takes
constexpr uint16_t kDnsPort = 53;       // RFC 1035 §4.2.1

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    if (!out.empty() && out.back() == '.') {
        out.pop_back();
    }
    return out;
}

uint16_t random_id() {
    uint16_t id = 0;
    if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != sizeof(id)) {
        static uint16_t counter = static_cast<uint16_t>(getpid());
        id = ++counter;
    }
    return id;
}

std::vector<std::unique_ptr<Resolver>>& all_resolvers() {
    static std::vector<std::unique_ptr<Resolver>> list;
    return list;
}

}  // namespace

// ---- messages ----

namespace dns {

namespace {

void put16(std::string& out, uint16_t v) {
    out += static_cast<char>(v >> 8);
    out += static_cast<char>(v & 0xff);
}

uint16_t get16(std::string_view m, size_t at) {
    return static_cast<uint16_t>((static_cast<uint8_t>(m[at]) << 8) |
                                 static_cast<uint8_t>(m[at + 1]));
}

uint32_t get32(std::string_view m, size_t at) {
    return (static_cast<uint32_t>(get16(m, at)) << 16) | get16(m, at + 2);
}

/// Reads a (possibly compressed, RFC 1035 §4.1.4) name at `at` into `name` (when not null),
/// lower case and dot-separated; `at` moves past it. False when malformed.
bool read_name(std::string_view m, size_t& at, std::string* name) {
    size_t pos = at;
    bool jumped = false;
    int hops = 0;
    while (true) {
        if (pos >= m.size()) {
            return false;
        }
        uint8_t len = static_cast<uint8_t>(m[pos]);
        if ((len & 0xc0) == 0xc0) {
            if (pos + 1 >= m.size() || ++hops > 32) {
                return false;
            }
            if (!jumped) {
                at = pos + 2;
            }
            jumped = true;
            pos = static_cast<size_t>(((len & 0x3f) << 8) | static_cast<uint8_t>(m[pos + 1]));
            continue;
        }
        if ((len & 0xc0) != 0) {
            return false;
        }
        if (len == 0) {
            if (!jumped) {
                at = pos + 1;
            }
            return true;
        }
        if (pos + 1 + len > m.size()) {
            return false;
        }
        if (name != nullptr) {
            if (!name->empty()) {
                *name += '.';
            }
            *name += lower(m.substr(pos + 1, len));
        }
        pos += 1 + len;
    }
}

}  // namespace

bool make_query(std::string_view name, uint16_t qtype, uint16_t id, std::string& out) {
    if (!name.empty() && name.back() == '.') {
        name.remove_suffix(1);
    }
    if (name.empty() || name.size() > 253) {
        return false;
    }
    out.clear();
    put16(out, id);
    put16(out, 0x0100);  // RFC 1035 §4.1.1: a standard query, recursion desired
    put16(out, 1);       // one question
    put16(out, 0);
    put16(out, 0);
    put16(out, 0);
    size_t start = 0;
    while (start <= name.size()) {
        size_t dot = name.find('.', start);
        if (dot == std::string_view::npos) {
            dot = name.size();
        }
        size_t len = dot - start;
        if (len == 0 || len > 63) {
            return false;
        }
        out += static_cast<char>(len);
        out.append(name.substr(start, len));
        start = dot + 1;
    }
    out += '\0';
    put16(out, qtype);
    put16(out, kClassIn);
    return true;
}

bool parse_response(std::string_view m, Answer& out) {
    if (m.size() < 12) {
        return false;
    }
    out = Answer{};
    out.id = get16(m, 0);
    uint16_t flags = get16(m, 2);
    if ((flags & 0x8000) == 0 || get16(m, 4) != 1) {
        return false;  // not a response, or not to one question
    }
    out.rcode = flags & 0x0f;
    uint16_t answers = get16(m, 6);
    size_t at = 12;
    if (!read_name(m, at, &out.name) || at + 4 > m.size()) {
        return false;
    }
    out.qtype = get16(m, at);
    at += 4;
    for (uint16_t i = 0; i < answers; i++) {
        if (!read_name(m, at, nullptr) || at + 10 > m.size()) {
            return false;
        }
        uint16_t type = get16(m, at);
        uint16_t cls = get16(m, at + 2);
        uint32_t ttl = get32(m, at + 4) & 0x7fffffff;  // RFC 2181 §8
        uint16_t len = get16(m, at + 8);
        at += 10;
        if (at + len > m.size()) {
            return false;
        }
        core::SockAddr a;
        bool got = false;
        if (cls == kClassIn && type == kTypeA && len == 4) {
            a.storage.in4.sin_family = AF_INET;
            memcpy(&a.storage.in4.sin_addr, m.data() + at, 4);
            a.len = sizeof(sockaddr_in);
            got = true;
        } else if (cls == kClassIn && type == kTypeAaaa && len == 16) {
            a.storage.in6.sin6_family = AF_INET6;
            memcpy(&a.storage.in6.sin6_addr, m.data() + at, 16);
            a.len = sizeof(sockaddr_in6);
            got = true;
        }
        if (got && type == out.qtype) {
            if (std::find(out.addrs.begin(), out.addrs.end(), a) == out.addrs.end()) {
                out.addrs.push_back(a);
            }
            out.ttl = out.ttl ? std::min(*out.ttl, ttl) : ttl;
        }
        at += len;
    }
    return true;
}

}  // namespace dns

// ---- results ----

std::string ResolveResult::error() const {
    const char* text = "Unknown error";
    switch (code) {
        case kResolveOk:
            text = "OK";
            break;
        case kResolveFormErr:
            text = "Format error";
            break;
        case kResolveServFail:
            text = "Server failure";
            break;
        case kResolveNxDomain:
            text = "Host not found";
            break;
        case kResolveNotImp:
            text = "Unimplemented";
            break;
        case kResolveRefused:
            text = "Operation refused";
            break;
        case kResolveTimedOut:
            text = "Operation timed out";
            break;
    }
    return std::to_string(code) + ": " + text;
}

// ---- the resolver ----

struct Resolver::Server {
    core::SockAddr addr;
    int fd = -1;
    std::unique_ptr<IoWatcher> io;
    ~Server() {
        io.reset();
        if (fd >= 0) {
            ::close(fd);
        }
    }
};

struct Resolver::Entry {
    std::string name;
    bool pending = false;
    TimePoint expires{};
    TimePoint deadline{};
    ResolveResult result;
    // This round of questions: one per family asked.
    bool want_a = false;
    bool want_aaaa = false;
    uint16_t id_a = 0;
    uint16_t id_aaaa = 0;
    std::vector<core::SockAddr> a, aaaa;
    int code_a = -1, code_aaaa = -1;
    std::optional<uint32_t> ttl;
    std::unique_ptr<Timer> timer;
    std::vector<ResolveQuery*> waiters;
    bool dispatching = false;  // finish() is calling the waiters: not purged meanwhile
};

ResolveQuery::~ResolveQuery() {
    if (resolver_ != nullptr) {
        resolver_->forget(this);
    }
}

Resolver::Resolver(Loop& loop, std::shared_ptr<const ResolverSpec> spec)
    : loop_(loop), spec_(std::move(spec)) {
    for (const core::SockAddr& a : spec_->servers) {
        auto s = std::make_unique<Server>();
        s->addr = a;
        if (s->addr.port() == 0) {
            if (a.family() == AF_INET) {
                s->addr.storage.in4.sin_port = htons(kDnsPort);
            } else {
                s->addr.storage.in6.sin6_port = htons(kDnsPort);
            }
        }
        servers_.push_back(std::move(s));
    }
}

Resolver::~Resolver() {
    for (auto& [name, e] : entries_) {
        for (ResolveQuery* q : e->waiters) {
            q->resolver_ = nullptr;
        }
    }
}

Resolver& Resolver::of(Loop& loop, const std::shared_ptr<const ResolverSpec>& spec) {
    for (const auto& r : all_resolvers()) {
        if (r->spec_ == spec && &r->loop_ == &loop) {
            return *r;
        }
    }
    all_resolvers().push_back(std::make_unique<Resolver>(loop, spec));
    return *all_resolvers().back();
}

void Resolver::clear_all() {
    all_resolvers().clear();
}

bool Resolver::cached(std::string_view name, ResolveResult& out) {
    if (auto ip = core::SockAddr::from_ip(name, 0)) {
        out = ResolveResult{};
        out.addrs.push_back(*ip);
        return true;
    }
    auto it = entries_.find(lower(name));
    if (it == entries_.end() || it->second->pending || loop_.now() >= it->second->expires) {
        return false;
    }
    out = it->second->result;
    return true;
}

std::unique_ptr<ResolveQuery> Resolver::resolve(std::string_view name,
                                                std::function<void(const ResolveResult&)> cb) {
    auto q = std::unique_ptr<ResolveQuery>(new ResolveQuery());
    q->resolver_ = this;
    q->name_ = lower(name);
    q->cb_ = std::move(cb);
    Entry& e = entry(q->name_);
    e.waiters.push_back(q.get());
    if (!e.pending) {
        e.pending = true;
        e.deadline = loop_.now() + spec_->timeout;
        e.a.clear();
        e.aaaa.clear();
        e.ttl.reset();
        e.want_a = spec_->ipv4;
        e.want_aaaa = spec_->ipv6;
        e.code_a = e.want_a ? -1 : kResolveNxDomain;
        e.code_aaaa = e.want_aaaa ? -1 : kResolveNxDomain;
        std::string probe;
        if (!dns::make_query(e.name, dns::kTypeA, 0, probe) || servers_.empty()) {
            e.code_a = e.code_aaaa = kResolveFormErr;  // not a host name: answered from the loop
            e.want_a = e.want_aaaa = false;
            e.timer->arm(Duration(0));
            return q;
        }
        send(e);
    }
    return q;
}

Resolver::Entry& Resolver::entry(const std::string& name) {
    auto it = entries_.find(name);
    if (it != entries_.end()) {
        return *it->second;
    }
    if (entries_.size() >= kMaxEntries) {
        purge();
    }
    auto e = std::make_unique<Entry>();
    e->name = name;
    e->timer = loop_.make_timer([this, name] { on_timer(name); });
    Entry& ref = *e;
    entries_.emplace(name, std::move(e));
    return ref;
}

void Resolver::purge() {
    TimePoint now = loop_.now();
    for (auto it = entries_.begin(); it != entries_.end();) {
        const Entry& e = *it->second;
        if (!e.pending && !e.dispatching && (now >= e.expires || entries_.size() >= kMaxEntries)) {
            it = entries_.erase(it);
        } else {
            ++it;
        }
    }
}

void Resolver::send(Entry& e) {
    Server& s = *servers_[next_server_++ % servers_.size()];
    if (s.fd < 0) {
        s.fd = ::socket(s.addr.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s.fd >= 0 && ::connect(s.fd, s.addr.get(), s.addr.len) != 0) {
            ::close(s.fd);
            s.fd = -1;
        }
        if (s.fd >= 0) {
            Server* sp = &s;
            s.io = loop_.make_io(s.fd, kRead, false, [this, sp](uint32_t) { on_readable(*sp); });
            s.io->enable();
        }
    }
    auto ask = [&](uint16_t qtype, uint16_t& id) {
        if (id != 0) {
            ids_.erase(id);
        }
        do {
            id = random_id();
        } while (id == 0 || ids_.count(id) != 0);
        ids_[id] = {e.name, qtype};
        std::string q;
        dns::make_query(e.name, qtype, id, q);
        if (s.fd >= 0) {
            (void)::send(s.fd, q.data(), q.size(), 0);  // a lost datagram is sent again later
        }
    };
    if (e.want_a && e.code_a < 0) {
        ask(dns::kTypeA, e.id_a);
    }
    if (e.want_aaaa && e.code_aaaa < 0) {
        ask(dns::kTypeAaaa, e.id_aaaa);
    }
    Duration left = std::chrono::duration_cast<Duration>(e.deadline - loop_.now());
    e.timer->arm(std::max(Duration(0), std::min(left, kResend)));
}

void Resolver::on_timer(const std::string& name) {
    auto it = entries_.find(name);
    if (it == entries_.end() || !it->second->pending) {
        return;
    }
    Entry& e = *it->second;
    bool asked = e.want_a || e.want_aaaa;
    if (asked && loop_.now() < e.deadline) {
        send(e);  // no answer yet: ask again, the next server
        return;
    }
    if (e.code_a < 0) {
        e.code_a = kResolveTimedOut;
    }
    if (e.code_aaaa < 0) {
        e.code_aaaa = kResolveTimedOut;
    }
    finish(e);
}

void Resolver::on_readable(Server& s) {
    char buf[kMaxMessage];
    for (int i = 0; i < 64; i++) {
        ssize_t n = ::recv(s.fd, buf, sizeof(buf), 0);
        if (n < 0) {
            return;  // EAGAIN, or an ICMP error: the resend timer tries the next server
        }
        on_answer(std::string_view(buf, static_cast<size_t>(n)));
    }
}

void Resolver::on_answer(std::string_view msg) {
    dns::Answer ans;
    if (!dns::parse_response(msg, ans)) {
        return;
    }
    auto id = ids_.find(ans.id);
    if (id == ids_.end() || id->second.first != ans.name || id->second.second != ans.qtype) {
        return;  // not ours (or late): ignored
    }
    ids_.erase(id);
    auto it = entries_.find(ans.name);
    if (it == entries_.end() || !it->second->pending) {
        return;
    }
    Entry& e = *it->second;
    int code = ans.rcode != 0 ? ans.rcode : ans.addrs.empty() ? kResolveNxDomain : kResolveOk;
    if (ans.qtype == dns::kTypeA && e.id_a == ans.id) {
        e.code_a = code;
        e.a = ans.addrs;
        e.id_a = 0;
    } else if (ans.qtype == dns::kTypeAaaa && e.id_aaaa == ans.id) {
        e.code_aaaa = code;
        e.aaaa = ans.addrs;
        e.id_aaaa = 0;
    } else {
        return;
    }
    if (ans.ttl) {
        e.ttl = e.ttl ? std::min(*e.ttl, *ans.ttl) : *ans.ttl;
    }
    if (e.code_a >= 0 && e.code_aaaa >= 0) {
        finish(e);
    }
}

void Resolver::finish(Entry& e) {
    e.pending = false;
    e.timer->cancel();
    for (uint16_t id : {e.id_a, e.id_aaaa}) {
        if (id != 0) {
            ids_.erase(id);
        }
    }
    e.id_a = e.id_aaaa = 0;
    ResolveResult r;
    r.addrs = e.a;
    r.addrs.insert(r.addrs.end(), e.aaaa.begin(), e.aaaa.end());
    if (r.addrs.empty()) {
        // The A answer's code first (nginx asks A first), unless it only lacked addresses.
        r.code = e.code_a > 0 && !(e.code_a == kResolveNxDomain && e.code_aaaa > 0 &&
                                   e.code_aaaa != kResolveNxDomain)
                     ? e.code_a
                 : e.code_aaaa > 0 ? e.code_aaaa
                                   : kResolveNxDomain;
    }
    TimePoint now = loop_.now();
    r.answered_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    if (r.code == kResolveTimedOut) {
        e.expires = now;  // not remembered
    } else if (spec_->valid) {
        e.expires = now + *spec_->valid;
    } else if (r.code != kResolveOk) {
        e.expires = now + kErrorValid;
    } else {
        e.expires = now + std::chrono::seconds(e.ttl.value_or(0));
    }
    e.result = r;
    // A callback may start other lookups, or destroy other queries: one waiter at a time.
    e.dispatching = true;
    while (!e.waiters.empty() && !e.pending) {
        ResolveQuery* q = e.waiters.front();
        e.waiters.erase(e.waiters.begin());
        q->resolver_ = nullptr;
        auto cb = std::move(q->cb_);
        cb(r);
    }
    e.dispatching = false;
}

void Resolver::forget(ResolveQuery* q) {
    auto it = entries_.find(q->name_);
    if (it != entries_.end()) {
        std::erase(it->second->waiters, q);
    }
}

}  // namespace ev
