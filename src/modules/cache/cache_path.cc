// `*_cache_path` parsing, the registry of a cycle's caches, the cache loader and manager
// helper processes, and $upstream_cache_status (cache_path.h).

#include "modules/cache/cache_path.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/clock.h"
#include "core/cycle.h"
#include "core/log.h"
#include "core/process.h"
#include "event/loop.h"
#include "event/runtime.h"

namespace mod::cache {

std::string CachePath::file_path(const Md5& md5) const {
    return path + "/" + relative_path(md5, levels);
}

bool CachePath::unlink_file(const Md5& md5) const {
    std::string f = file_path(md5);
    if (::unlink(f.c_str()) == 0) {
        return true;
    }
    if (errno != ENOENT) {
        HALO_LOG(kCrit, "unlink() \"%s\" failed (%d: %s)", f.c_str(), errno, strerror(errno));
    }
    return false;
}

bool CachePath::short_of_space() const {
    if (min_free == 0) {
        return false;
    }
    struct statvfs fs;
    if (statvfs(path.c_str(), &fs) != 0) {
        return false;
    }
    return static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize < min_free;
}

namespace {

char g_tag;  // the shm zones' owner tag: every *_cache_path zone

Registry& registry(core::Cycle& cycle) {
    return cycle.attachment<Registry>();
}

/// "10m" as seconds.
bool parse_seconds(std::string_view v, int64_t& out) {
    auto d = core::parse_duration(v);
    if (!d || d->count() < 0) {
        return false;
    }
    out = std::chrono::duration_cast<std::chrono::seconds>(*d).count();
    return true;
}

}  // namespace

core::Status add_cache_path(core::ConfContext& cf) {
    auto p = std::make_unique<CachePath>();
    p->directive = std::string(cf.name());
    p->where = cf.node().where();
    p->path = cf.cycle().full_path(cf.arg(0));
    while (p->path.size() > 1 && p->path.back() == '/') {
        p->path.pop_back();
    }
    bool zone = false;
    for (size_t i = 1; i < cf.args().size(); i++) {
        std::string_view a(cf.arg(i));
        size_t eq = a.find('=');
        std::string_view name = a.substr(0, eq);
        std::string_view v = eq == std::string_view::npos ? std::string_view() : a.substr(eq + 1);
        if (name == "levels") {
            auto l = parse_levels(v);
            if (!l) {
                return cf.error("invalid \"levels\" \"" + std::string(v) + "\"");
            }
            p->levels = *l;
        } else if (name == "keys_zone") {
            size_t colon = v.find(':');
            auto size = colon == std::string_view::npos ? std::nullopt
                                                        : core::parse_size(v.substr(colon + 1));
            if (colon == 0 || colon == std::string_view::npos) {
                return cf.error("invalid keys zone size \"" + std::string(a) + "\"");
            }
            if (!size || size->bytes < 8192) {
                return cf.error("invalid keys zone size \"" + std::string(a) + "\"");
            }
            p->name = std::string(v.substr(0, colon));
            p->zone_size = size->bytes;
            zone = true;
        } else if (name == "inactive") {
            if (!parse_seconds(v, p->inactive_s)) {
                return cf.error("invalid inactive value \"" + std::string(a) + "\"");
            }
        } else if (name == "max_size" || name == "min_free") {
            auto s = core::parse_size(v);
            if (!s) {
                return cf.error("invalid " + std::string(name) + " value \"" + std::string(a) +
                                "\"");
            }
            (name == "max_size" ? p->max_size : p->min_free) = s->bytes;
        } else if (name == "use_temp_path") {
            if (v != "on" && v != "off") {
                return cf.error("invalid use_temp_path value \"" + std::string(v) +
                                "\", it must be \"on\" or \"off\"");
            }
            p->use_temp_path = v == "on";
        } else if (name == "manager_files" || name == "manager_sleep" ||
                   name == "manager_threshold" || name == "loader_files" ||
                   name == "loader_sleep" || name == "loader_threshold" || name == "purger" ||
                   name == "purger_files" || name == "purger_sleep" || name == "purger_threshold") {
            return cf.error("\"" + std::string(name) + "\" is not supported by halo in \"" +
                            p->directive + "\": its cache loader and manager pace themselves");
        } else {
            return cf.error("invalid parameter \"" + std::string(a) + "\"");
        }
    }
    if (!zone) {
        return cf.error("\"" + p->directive + "\" must have \"keys_zone\" parameter");
    }
    Registry& reg = registry(cf.cycle());
    for (const auto& q : reg.paths) {
        if (q->path == p->path) {
            return cf.error("duplicate cache path \"" + p->path + "\", previous one in " +
                            q->where);
        }
        if (q->name == p->name) {
            return cf.error("duplicate zone \"" + p->name + "\"");
        }
    }
    if (cf.cycle().find_shm_zone(p->name) != nullptr) {
        return cf.error("the shared memory zone \"" + p->name +
                        "\" is already declared for a different use");
    }
    core::Status err = core::Status::ok();
    core::ShmZone* shm = cf.cycle().add_shm_zone(p->name, p->zone_size, &g_tag, p->where, err);
    if (shm == nullptr) {
        return err;
    }
    CachePath* raw = p.get();
    shm->init = [raw](core::ShmZone& s, bool reused) { return raw->zone.attach(s, reused); };
    raw->zone.set_unlink([raw](const Md5& m) { raw->unlink_file(m); });
    reg.paths.push_back(std::move(p));
    return core::Status::ok();
}

CachePath* find_path(core::Cycle& cycle, std::string_view name) {
    for (const auto& p : registry(cycle).paths) {
        if (p->name == name) {
            return p.get();
        }
    }
    return nullptr;
}

void set_status(http::Request& r, std::string_view status) {
    StatusCtx* c = r.ctx<StatusCtx>();
    if (c == nullptr) {
        c = &r.make_ctx<StatusCtx>();
    }
    c->status = std::string(status);
}

// ---- the loader ----

namespace {

struct Walker {
    CachePath& p;
    size_t loaded = 0;
    int64_t now = core::unix_ms() / 1000;

    void dir(const std::string& d, size_t depth) {
        DIR* dp = opendir(d.c_str());
        if (dp == nullptr) {
            return;
        }
        std::vector<std::string> names;
        while (dirent* de = readdir(dp)) {
            if (de->d_name[0] != '.') {
                names.emplace_back(de->d_name);
            }
        }
        closedir(dp);
        for (const std::string& n : names) {
            std::string full = d + "/" + n;
            if (depth < p.levels.size()) {
                if (n.size() == static_cast<size_t>(p.levels[depth])) {
                    dir(full, depth + 1);
                }
                continue;
            }
            file(full, n);
        }
    }

    void file(const std::string& full, const std::string& name) {
        struct stat st;
        if (lstat(full.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
            return;
        }
        auto md5 = md5_from_hex(name);
        if (!md5) {
            // A temp file a stopped worker left (nginx's loader removes them too); one being
            // written now is younger than this.
            if (name.ends_with(".tmp") && st.st_mtime + 600 < now) {
                ::unlink(full.c_str());
            }
            return;
        }
        if (full != p.file_path(*md5)) {
            return;  // not where the levels put it
        }
        int fd = ::open(full.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            return;
        }
        std::string why;
        auto e = read_header(fd, &why);
        ::close(fd);
        if (!e || st.st_size < static_cast<off_t>(e->h.header_size + e->h.body_len)) {
            HALO_LOG(kWarn, "cache file \"%s\" is invalid (%s), removed", full.c_str(),
                     e ? "truncated" : why.c_str());
            ::unlink(full.c_str());
            return;
        }
        if (p.zone.add_loaded(*md5, e->h.valid_until, static_cast<uint64_t>(st.st_blocks) * 512,
                              st.st_mtime)) {
            loaded++;
        }
    }
};

}  // namespace

size_t load_path(CachePath& p) {
    Walker w{p};
    w.dir(p.path, 0);
    p.zone.set_loaded();
    return w.loaded;
}

void manage_path(CachePath& p, int64_t now) {
    auto unlink = [&p](const Md5& m) { p.unlink_file(m); };
    p.zone.expire_inactive(now, p.inactive_s, unlink);
    p.zone.shrink(
        p.max_size, [&p] { return p.short_of_space(); }, unlink);
}

namespace {

/// Runs `loop` until SIGTERM/SIGINT/SIGQUIT, reopening logs on SIGUSR1.
void run_helper_loop(ev::Loop& loop, core::Cycle& cycle) {
    std::vector<std::unique_ptr<ev::SignalWatcher>> signals;
    for (int signo : {SIGTERM, SIGINT, SIGQUIT}) {
        signals.push_back(loop.make_signal(signo, [&loop] { loop.exit(); }));
    }
    signals.push_back(loop.make_signal(SIGUSR1, [&cycle] {
        HALO_LOG(kNotice, "reopening logs");
        cycle.reopen_files(static_cast<uid_t>(-1));
    }));
    signals.push_back(loop.make_signal(SIGHUP, [] {}));
    core::unblock_signals();
    loop.run();
}

int run_loader(core::Cycle& cycle, const core::ProcessInfo&) {
    ev::Loop loop;
    // nginx starts its loader a minute after the workers; halo loads at once (a restart's
    // entries are HITs from the first request the loader got to).
    auto timer = loop.make_timer([&] {
        for (const auto& p : registry(cycle).paths) {
            if (p->zone.loaded()) {
                continue;  // a reload that kept the zone: already known
            }
            int64_t t0 = core::unix_ms();
            size_t n = load_path(*p);
            HALO_LOG(kNotice, "http file cache: %s %.3fM, bsize: 4096, %zu files loaded in %lldms",
                     p->path.c_str(), static_cast<double>(p->zone.size()) / 1048576.0, n,
                     static_cast<long long>(core::unix_ms() - t0));
        }
        loop.exit();
    });
    timer->arm(std::chrono::milliseconds(0));
    run_helper_loop(loop, cycle);
    return 0;
}

constexpr std::chrono::milliseconds kManagerInterval{1000};

int run_manager(core::Cycle& cycle, const core::ProcessInfo&) {
    ev::Loop loop;
    std::unique_ptr<ev::Timer> timer;
    timer = loop.make_timer([&] {
        int64_t now = core::unix_ms() / 1000;
        for (const auto& p : registry(cycle).paths) {
            manage_path(*p, now);
        }
        timer->arm(kManagerInterval);
    });
    timer->arm(kManagerInterval);
    run_helper_loop(loop, cycle);
    return 0;
}

bool var_cache_status(const http::Request& r, std::string_view, std::string& out) {
    const StatusCtx* c = r.ctx<StatusCtx>();
    if (c == nullptr || c->status.empty()) {
        return false;
    }
    out += c->status;
    return true;
}

}  // namespace

namespace {
std::unique_ptr<ev::Timer> g_single_manager;  // master_process off: the manager's pass
}  // namespace

core::Status init_process(core::Cycle& cycle, const core::ProcessInfo& info) {
    Registry& reg = registry(cycle);
    if (info.role != core::ProcessRole::kSingle || reg.paths.empty() || g_single_manager) {
        return core::Status::ok();
    }
    for (const auto& p : reg.paths) {
        if (!p->zone.loaded()) {
            size_t n = load_path(*p);
            HALO_LOG(kNotice, "http file cache: %s %.3fM, %zu files loaded", p->path.c_str(),
                     static_cast<double>(p->zone.size()) / 1048576.0, n);
        }
    }
    core::Cycle* cy = &cycle;
    g_single_manager = ev::Runtime::current().loop().make_timer([cy] {
        int64_t now = core::unix_ms() / 1000;
        for (const auto& p : registry(*cy).paths) {
            manage_path(*p, now);
        }
        g_single_manager->arm(kManagerInterval);
    });
    g_single_manager->arm(kManagerInterval);
    return core::Status::ok();
}

void exit_process(core::Cycle&) {
    g_single_manager.reset();
}

core::Status install(core::Cycle& cycle) {
    Registry& reg = registry(cycle);
    if (reg.installed) {
        return core::Status::ok();
    }
    reg.installed = true;
    http::add_variable(cycle, {"upstream_cache_status", &var_cache_status});
    if (reg.paths.empty()) {
        return core::Status::ok();
    }
    for (const auto& p : reg.paths) {
        HALO_TRY(http::make_temp_dir(cycle, p->path));
    }
    cycle.add_helper(core::HelperSpec{"cache loader", &run_loader, /*drop_privileges=*/true});
    cycle.add_helper(core::HelperSpec{"cache manager", &run_manager, /*drop_privileges=*/true});
    return core::Status::ok();
}

}  // namespace mod::cache
