#include "core/cycle.h"

#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/un.h>
#include <unistd.h>

#include <climits>
#include <cstddef>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "auto_config.h"
#include "core/core_module.h"

namespace core {
namespace {

/// RAM and swap of this machine in bytes (0 when unknown): no mapping can be larger.
uint64_t machine_memory() {
    struct sysinfo si {};
    if (sysinfo(&si) != 0) {
        return 0;
    }
    return (static_cast<uint64_t>(si.totalram) + si.totalswap) * si.mem_unit;
}

}  // namespace

Listening::~Listening() {
    for (int fd : fds) {
        if (fd >= 0) {
            ::close(fd);
        }
    }
}

Cycle::Cycle(const CycleOptions& options, const ModuleRegistry& registry)
    : options_(options), registry_(registry) {
    size_t slash = options_.conf_file.rfind('/');
    conf_dir_ = slash == std::string::npos ? "." : options_.conf_file.substr(0, slash);
}

Cycle::~Cycle() = default;

Status Cycle::create(const CycleOptions& options, const ModuleRegistry& registry, Cycle* old,
                     std::unique_ptr<Cycle>& out) {
    std::unique_ptr<Cycle> cycle(new Cycle(options, registry));
    HALO_TRY(cycle->load());
    HALO_TRY(cycle->open_files());
    if (!options.test_only) {
        HALO_TRY(cycle->init_shm(old));
        HALO_TRY(cycle->open_listening(old));
    }
    out = std::move(cycle);
    return Status::ok();
}

std::string Cycle::full_path(std::string_view path) const {
    if (!path.empty() && path[0] == '/') {
        return std::string(path);
    }
    return options_.prefix + std::string(path);
}

Status Cycle::load() {
    ConfParser parser(conf_dir_);
    if (!options_.conf_params.empty()) {
        HALO_TRY(parser.parse_text(options_.conf_params, "command line", doc_));
    }
    HALO_TRY(parser.parse_file(options_.conf_file, doc_));

    ConfContext cf(*this, registry_);
    main_confs_ = cf.create_confs(ConfLevel::kMain);
    ConfContext::Frame frame{ConfLevel::kMain, &main_confs_};
    // Every unknown directive is reported, in file order, before anything else fails.
    HALO_TRY(cf.with_unknown_directives(
        cf.apply_block(doc_.directives, kCtxMain, std::span(&frame, 1))));
    HALO_TRY(cf.finalize_confs(ConfLevel::kMain, main_confs_));

    auto& core = conf<CoreConf>();
    if (!core.pid) {
        core.pid = full_path(HALO_PID_PATH);
    }
    if (core.error_logs.empty()) {
        LogTarget t;
        if (options_.error_log != "stderr") {
            t.file = open_file(options_.error_log.empty() ? full_path(HALO_ERROR_LOG_PATH)
                                                          : full_path(options_.error_log));
        }
        core.error_logs.push_back(t);
    }
    for (const auto& t : core.error_logs) {
        log_.add_target(t);
    }
    if (geteuid() == 0) {
        errno = 0;
        struct passwd* pw = getpwnam(core.user->c_str());
        if (pw == nullptr) {
            return Status::error(
                format("getpwnam(\"%s\") failed: no such user", core.user->c_str()));
        }
        core.uid = pw->pw_uid;
        core.gid = pw->pw_gid;
        if (core.group) {
            struct group* gr = getgrnam(core.group->c_str());
            if (gr == nullptr) {
                return Status::error(
                    format("getgrnam(\"%s\") failed: no such group", core.group->c_str()));
            }
            core.gid = gr->gr_gid;
        }
    }

    for (const Module* m : registry_.modules()) {
        if (m->postconfiguration != nullptr) {
            HALO_TRY(m->postconfiguration(*this));
        }
    }
    for (const Module* m : registry_.modules()) {
        if (m->init_cycle != nullptr) {
            HALO_TRY(m->init_cycle(*this));
        }
    }
    return Status::ok();
}

std::shared_ptr<OpenFile> Cycle::open_file(const std::string& path) {
    for (const auto& f : files_) {
        if (f->path == path) {
            return f;
        }
    }
    auto f = std::make_shared<OpenFile>();
    f->path = path;
    files_.push_back(f);
    return f;
}

Status Cycle::open_files() {
    for (const auto& f : files_) {
        std::string err;
        if (!f->reopen(&err)) {
            return Status::error(err);
        }
    }
    return Status::ok();
}

void Cycle::reopen_files(uid_t owner) {
    for (const auto& hook : before_reopen) {
        hook();
    }
    for (const auto& f : files_) {
        std::string err;
        if (!f->reopen(&err)) {
            HALO_LOG(kAlert, "%s", err.c_str());
            continue;
        }
        if (owner != static_cast<uid_t>(-1) && geteuid() == 0) {
            struct stat st;
            if (fstat(f->fd, &st) == 0 && st.st_uid != owner) {
                if (fchown(f->fd, owner, static_cast<gid_t>(-1)) != 0) {
                    HALO_LOG(kAlert, "chown(\"%s\", %d) failed (%d: %s)", f->path.c_str(),
                             static_cast<int>(owner), errno, strerror(errno));
                }
            }
        }
    }
}

Listening* Cycle::add_listening(const SockAddr& addr, const ListenOptions& options,
                                const std::string& where, Status& err,
                                const std::string& unix_path) {
    for (auto& l : listening_) {
        if (l->addr == addr && l->unix_path == unix_path && l->options.udp == options.udp) {
            // nginx: one listen directive per address may set the socket's options.
            if (options.set) {
                if (l->options.set) {
                    std::string name = unix_path.empty() ? addr.text() : "unix:" + unix_path;
                    err = Status::error("duplicate listen options for " + name + " in " + where);
                    return nullptr;
                }
                l->options = options;
            }
            return l.get();
        }
    }
    auto l = std::make_unique<Listening>();
    l->addr = addr;
    l->unix_path = unix_path;
    l->options = options;
    l->where = where;
    listening_.push_back(std::move(l));
    return listening_.back().get();
}

ShmZone* Cycle::find_shm_zone(const std::string& name) {
    for (auto& z : shm_zones_) {
        if (z->name == name) {
            return z.get();
        }
    }
    return nullptr;
}

ShmZone* Cycle::add_shm_zone(const std::string& name, size_t size, const void* tag,
                             const std::string& where, Status& err) {
    if (find_shm_zone(name) != nullptr) {
        err = Status::error("duplicate zone \"" + name + "\" in " + where);
        return nullptr;
    }
    if (uint64_t memory = machine_memory(); memory != 0 && size > memory) {
        err = Status::error(
            format("zone \"%s\" of %s is larger than the memory of this machine "
                   "(%.1fg of RAM and swap) in %s",
                   name.c_str(), size_text(size).c_str(),
                   static_cast<double>(memory) / (1024.0 * 1024 * 1024), where.c_str()));
        return nullptr;
    }
    auto z = std::make_unique<ShmZone>();
    z->name = name;
    z->size = size;
    z->tag = tag;
    z->where = where;
    shm_zones_.push_back(std::move(z));
    return shm_zones_.back().get();
}

Status Cycle::try_shm() const {
    for (const auto& z : shm_zones_) {
        std::string err;
        if (!ShmSegment::create(z->size, &err)) {
            return Status::error(err + " for zone \"" + z->name + "\" in " + z->where);
        }
    }
    return Status::ok();
}

Status Cycle::init_shm(Cycle* old) {
    for (auto& z : shm_zones_) {
        ShmZone* prev = old ? old->find_shm_zone(z->name) : nullptr;
        if (prev != nullptr && prev->segment && prev->size == z->size && prev->tag == z->tag) {
            z->segment = prev->segment;
            z->reused = true;
        } else {
            std::string err;
            std::shared_ptr<ShmSegment> seg = ShmSegment::create(z->size, &err);
            if (!seg) {
                return Status::error(err + " for zone \"" + z->name + "\" in " + z->where);
            }
            ShmPool::format(*seg);
            z->segment = std::move(seg);
        }
        if (z->init) {
            HALO_TRY(z->init(*z, z->reused));
        }
    }
    return Status::ok();
}

int Cycle::worker_count() const {
    const auto& core = conf<CoreConf>();
    return *core.master_process ? *core.worker_processes : 1;
}

namespace {

std::string listening_name(const Listening& l) {
    return l.unix_path.empty() ? l.addr.text() : "unix:" + l.unix_path;
}

Status open_socket(const Listening& l, int& out) {
    int type = l.options.udp ? SOCK_DGRAM : SOCK_STREAM;
    int fd = ::socket(l.addr.family(), type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    std::string name = listening_name(l);
    if (fd < 0) {
        return Status::error(
            format("socket() for %s failed (%d: %s)", name.c_str(), errno, strerror(errno)));
    }
    int one = 1;
    sockaddr_un un{};
    const sockaddr* sa = l.addr.get();
    socklen_t len = l.addr.len;
    if (l.addr.family() == AF_UNIX) {
        un.sun_family = AF_UNIX;
        memcpy(un.sun_path, l.unix_path.data(), l.unix_path.size());
        sa = reinterpret_cast<const sockaddr*>(&un);
        len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + l.unix_path.size() + 1);
    } else {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    }
    if (l.options.reuseport) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    }
    if (l.addr.family() == AF_INET6) {
        int v6only = l.options.ipv6only.value_or(true) ? 1 : 0;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
    }
    configure_listen_socket(fd, l.addr, l.options);
    if (::bind(fd, sa, len) != 0) {
        int e = errno;
        ::close(fd);
        return Status::error(format("bind() to %s failed (%d: %s)", name.c_str(), e, strerror(e)));
    }
    if (l.addr.family() == AF_UNIX) {
        // nginx: a unix socket anyone may connect to (its folder decides who can reach it).
        chmod(l.unix_path.c_str(), 0666);
    }
    if (!l.options.udp && ::listen(fd, l.options.backlog) != 0) {
        int e = errno;
        ::close(fd);
        return Status::error(
            format("listen() to %s failed (%d: %s)", name.c_str(), e, strerror(e)));
    }
    out = fd;
    return Status::ok();
}

}  // namespace

namespace {

/// nginx's ngx_parse_time(..., is_sec=1): `30`, `30s`, `5m`, `1h`... in seconds.
std::optional<int> parse_seconds(std::string_view s) {
    auto d = parse_duration(s);
    if (!d || d->count() % 1000 != 0 || d->count() / 1000 > INT_MAX) {
        return std::nullopt;
    }
    return static_cast<int>(d->count() / 1000);
}

/// `so_keepalive=on|off|[keepidle]:[keepintvl]:[keepcnt]`.
bool parse_so_keepalive(std::string_view v, ListenOptions& o) {
    if (v == "on" || v == "off") {
        o.so_keepalive = v == "on";
        return true;
    }
    std::string_view parts[3];
    size_t n = 0;
    while (n < 3) {
        size_t colon = v.find(':');
        parts[n++] = v.substr(0, colon);
        if (colon == std::string_view::npos) {
            break;
        }
        v.remove_prefix(colon + 1);
        if (n == 3) {
            return false;  // a fourth field
        }
    }
    if (!parts[0].empty()) {
        auto s = parse_seconds(parts[0]);
        if (!s) {
            return false;
        }
        o.keepidle = *s;
    }
    if (!parts[1].empty()) {
        auto s = parse_seconds(parts[1]);
        if (!s) {
            return false;
        }
        o.keepintvl = *s;
    }
    if (!parts[2].empty()) {
        auto c = parse_int(parts[2]);
        if (!c || *c > INT_MAX) {
            return false;
        }
        o.keepcnt = static_cast<int>(*c);
    }
    if (o.keepidle.value_or(0) == 0 && o.keepintvl.value_or(0) == 0 && o.keepcnt.value_or(0) == 0) {
        return false;
    }
    o.so_keepalive = true;
    return true;
}

/// A size parameter (`rcvbuf=64k`) as nginx's ngx_parse_size reads it.
std::optional<int> parse_buffer(std::string_view v) {
    auto s = parse_size(v);
    if (!s || s->bytes > INT_MAX) {
        return std::nullopt;
    }
    return static_cast<int>(s->bytes);
}

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

int parse_listen_socket_param(std::string_view a, ListenOptions& o, std::string& error) {
    std::string_view v = a;
    auto fail = [&](std::string what) {
        error = std::move(what);
        return -1;
    };
    if (a == "bind") {
        o.bind = true;
    } else if (a == "reuseport") {
        o.reuseport = true;
    } else if (a == "deferred") {
        o.deferred = true;
    } else if (starts_with(v, "backlog=")) {
        auto n = parse_int(v.substr(8));
        if (!n || *n == 0 || *n > INT_MAX) {
            return fail("invalid backlog \"" + std::string(a.substr(8)) + "\"");
        }
        o.backlog = static_cast<int>(*n);
    } else if (starts_with(v, "rcvbuf=")) {
        o.rcvbuf = parse_buffer(v.substr(7));
        if (!o.rcvbuf) {
            return fail("invalid rcvbuf \"" + std::string(a.substr(7)) + "\"");
        }
    } else if (starts_with(v, "sndbuf=")) {
        o.sndbuf = parse_buffer(v.substr(7));
        if (!o.sndbuf) {
            return fail("invalid sndbuf \"" + std::string(a.substr(7)) + "\"");
        }
    } else if (starts_with(v, "fastopen=")) {
        auto n = parse_int(v.substr(9));
        if (!n || *n > INT_MAX) {
            return fail("invalid fastopen \"" + std::string(a.substr(9)) + "\"");
        }
        o.fastopen = static_cast<int>(*n);
    } else if (starts_with(v, "ipv6only=o")) {
        if (v.substr(10) == "n") {
            o.ipv6only = true;
        } else if (v.substr(10) == "ff") {
            o.ipv6only = false;
        } else {
            return fail("invalid ipv6only flags \"" + std::string(a.substr(9)) + "\"");
        }
    } else if (starts_with(v, "so_keepalive=")) {
        if (!parse_so_keepalive(v.substr(13), o)) {
            return fail("invalid so_keepalive value: \"" + std::string(a) + "\"");
        }
    } else {
        return 0;
    }
    o.set = true;
    return 1;
}

void configure_listen_socket(int fd, const SockAddr& addr, const ListenOptions& o) {
    auto set = [&](int level, int name, int value, const char* what) {
        if (setsockopt(fd, level, name, &value, sizeof(value)) != 0) {
            HALO_LOG(kAlert, "setsockopt(%s, %d) %s failed, ignored (%d: %s)", what, value,
                     addr.text().c_str(), errno, strerror(errno));
        }
    };
    if (o.rcvbuf) {
        set(SOL_SOCKET, SO_RCVBUF, *o.rcvbuf, "SO_RCVBUF");
    }
    if (o.sndbuf) {
        set(SOL_SOCKET, SO_SNDBUF, *o.sndbuf, "SO_SNDBUF");
    }
    if (addr.family() == AF_UNIX || o.udp) {
        return;
    }
    if (o.so_keepalive) {
        set(SOL_SOCKET, SO_KEEPALIVE, *o.so_keepalive ? 1 : 0, "SO_KEEPALIVE");
    }
    if (o.keepidle.value_or(0) > 0) {
        set(IPPROTO_TCP, TCP_KEEPIDLE, *o.keepidle, "TCP_KEEPIDLE");
    }
    if (o.keepintvl.value_or(0) > 0) {
        set(IPPROTO_TCP, TCP_KEEPINTVL, *o.keepintvl, "TCP_KEEPINTVL");
    }
    if (o.keepcnt.value_or(0) > 0) {
        set(IPPROTO_TCP, TCP_KEEPCNT, *o.keepcnt, "TCP_KEEPCNT");
    }
    if (o.fastopen) {
        set(IPPROTO_TCP, TCP_FASTOPEN, *o.fastopen, "TCP_FASTOPEN");
    }
    // nginx: the client has client_header_timeout to send its first bytes; 0 turns it off
    // again on a socket taken over from a configuration that had it.
    set(IPPROTO_TCP, TCP_DEFER_ACCEPT, o.deferred ? o.defer_seconds : 0, "TCP_DEFER_ACCEPT");
}

Status Cycle::open_listening(Cycle* old) {
    size_t reuseport_count = static_cast<size_t>(worker_count());
    auto wanted = [&](const Listening& l) { return l.options.reuseport ? reuseport_count : 1; };
    auto previous = [&](const Listening& l) -> Listening* {
        if (old == nullptr) {
            return nullptr;
        }
        for (auto& o : old->listening_) {
            if (o->addr == l.addr && o->unix_path == l.unix_path &&
                o->options.udp == l.options.udp) {
                return o.get();
            }
        }
        return nullptr;
    };
    // Pass 1: open the sockets the old cycle cannot lend; nothing of the old cycle is touched
    // until all of them succeeded, so a failed reload leaves it intact.
    for (auto& l : listening_) {
        Listening* prev = previous(*l);
        size_t lent = prev != nullptr ? std::min(prev->fds.size(), wanted(*l)) : 0;
        if (prev != nullptr && l->options.reuseport && !prev->options.reuseport) {
            // reuseport added: the lent socket joins the group the new sockets bind into
            // (harmless for the old cycle if this reload fails later).
            int one = 1;
            for (int fd : prev->fds) {
                setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
            }
        }
        while (l->fds.size() + lent < wanted(*l)) {
            int fd = -1;
            Status s = open_socket(*l, fd);
            if (!s.is_ok()) {
                for (auto& undo : listening_) {
                    for (int ufd : undo->fds) {
                        ::close(ufd);
                    }
                    undo->fds.clear();
                }
                return Status::error(s.message() + " in " + l->where);
            }
            l->fds.push_back(fd);
        }
    }
    // Pass 2: take the old sockets over; their kernel queues and ports stay open throughout.
    for (auto& l : listening_) {
        Listening* prev = previous(*l);
        if (prev == nullptr) {
            continue;
        }
        std::vector<int> own = std::move(l->fds);
        l->fds.clear();
        while (!prev->fds.empty() && l->fds.size() < wanted(*l)) {
            l->fds.push_back(prev->fds.front());
            prev->fds.erase(prev->fds.begin());
        }
        l->fds.insert(l->fds.end(), own.begin(), own.end());
        for (int fd : l->fds) {
            if (!l->options.udp && prev->options.backlog != l->options.backlog) {
                ::listen(fd, l->options.backlog);
            }
            configure_listen_socket(fd, l->addr, l->options);  // nginx applies them anew
        }
    }
    return Status::ok();
}

void Cycle::close_listening() {
    for (auto& l : listening_) {
        if (!l->unix_path.empty() && !l->fds.empty()) {
            unlink(l->unix_path.c_str());  // the master's socket file goes with its socket
        }
        for (int& fd : l->fds) {
            if (fd >= 0) {
                ::close(fd);
            }
            fd = -1;
        }
        l->fds.clear();
    }
}

}  // namespace core
