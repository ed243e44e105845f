#include "support/install.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>

namespace halo_test {
namespace {

std::string build_dir() {
    std::string bin = halo_bin();
    size_t slash = bin.rfind('/');
    return slash == std::string::npos ? "." : bin.substr(0, slash);
}

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
    if (from.empty()) {
        return text;
    }
    for (size_t at = text.find(from); at != std::string::npos;
         at = text.find(from, at + to.size())) {
        text.replace(at, from.size(), to);
    }
    return text;
}

/// True when `pid` runs the installed binary (not a process that reused a pid since).
bool runs(pid_t pid, const std::string& exe) {
    char buf[4096];
    std::string link = "/proc/" + std::to_string(pid) + "/exe";
    ssize_t n = ::readlink(link.c_str(), buf, sizeof(buf) - 1);
    return n > 0 && std::string(buf, static_cast<size_t>(n)) == exe;
}

}  // namespace

std::string install_unavailable() {
    std::string makefile = build_dir() + "/Makefile";
    auto text = read_file(makefile);
    if (!text || text->find("\ninstall:") == std::string::npos) {
        return "no Makefile with an install target next to " + halo_bin() +
               " (run ./configure in " + halo_top() + ")";
    }
    RunResult r = run_command({"make", "--version"});
    if (r.status != 0) {
        return "make is not installed";
    }
    return "";
}

Installation::Installation() : dest_("halo-install") {}

Installation::~Installation() {
    stop_all();
}

RunResult Installation::install() const {
    // A make started by `make test` passes its job server in MAKEFLAGS; this make is not one
    // of its jobs.
    return run_command({"env", "-u", "MAKEFLAGS", "-u", "MFLAGS", "-u", "MAKELEVEL", "make", "-f",
                        build_dir() + "/Makefile", "install", "DESTDIR=" + destdir(),
                        "PREFIX=" + std::string(kPrefix)},
                       120s, halo_top());
}

std::string Installation::relocated(std::string_view rel) const {
    return replace_all(read_file(path(rel)).value_or(""), kPrefix, prefix());
}

bool Installation::edit(std::string_view rel, std::string_view from, std::string_view to) const {
    auto text = read_file(path(rel));
    return text && write_file(path(rel), replace_all(*text, from, to));
}

RunResult Installation::run(const std::vector<std::string>& args, Millis timeout) const {
    std::vector<std::string> argv = {path("sbin/halo"), "-p", prefix() + "/"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, timeout);
}

pid_t Installation::track() {
    auto pid = read_pid_file(path("logs/halo.pid"));
    if (!pid) {
        return -1;
    }
    for (pid_t p : children_of(*pid)) {
        tracked_.push_back(p);
    }
    tracked_.push_back(*pid);
    return *pid;
}

void Installation::stop_all() {
    pid_t master = track();
    if (master > 0 && process_alive(master) && runs(master, path("sbin/halo"))) {
        ::kill(master, SIGTERM);
        wait_until([&] { return !process_alive(master); }, 5s, 10ms);
    }
    std::sort(tracked_.begin(), tracked_.end());
    tracked_.erase(std::unique(tracked_.begin(), tracked_.end()), tracked_.end());
    for (pid_t p : tracked_) {
        if (process_alive(p) && runs(p, path("sbin/halo"))) {
            ::kill(p, SIGKILL);
        }
    }
    wait_until(
        [&] {
            return std::none_of(tracked_.begin(), tracked_.end(),
                                [](pid_t p) { return process_alive(p); });
        },
        5s, 10ms);
    tracked_.clear();
}

}  // namespace halo_test
