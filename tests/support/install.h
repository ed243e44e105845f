// `make install DESTDIR=<tmp>` of the source tree under test, and halo started from the
// installed prefix as an operator (or systemd) starts it: for the install, service and
// logrotate tests.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "support/harness.h"

namespace halo_test {

/// Why the tree under test cannot be installed here ("" when it can): the build directory is
/// taken from halo_bin() (its folder must hold the Makefile ./configure wrote) and make must
/// exist.
std::string install_unavailable();

/// One installation in a fresh DESTDIR. The destructor stops every process started from it
/// (by the pid in its pid file and their children: TERM, then KILL), whatever the test did.
class Installation {
  public:
    /// The prefix the tests install with (PREFIX=..., what the unit and the man page name).
    static constexpr std::string_view kPrefix = "/usr/local/halo";

    Installation();
    ~Installation();
    Installation(const Installation&) = delete;
    Installation& operator=(const Installation&) = delete;

    /// Runs `make -f <builddir>/Makefile install DESTDIR=<dest> PREFIX=/usr/local/halo` in
    /// halo_top(), without the make variables of a surrounding make.
    RunResult install() const;

    /// DESTDIR, and the installed prefix in it (no trailing slash).
    const std::string& destdir() const { return dest_.path(); }
    std::string prefix() const { return dest_.path() + std::string(kPrefix); }
    /// prefix() + "/" + rel.
    std::string path(std::string_view rel) const { return prefix() + "/" + std::string(rel); }
    /// The text of an installed file with kPrefix replaced by prefix(): what it says once
    /// installed without DESTDIR.
    std::string relocated(std::string_view rel) const;

    /// Replaces every `from` with `to` in the installed file `rel`; false when absent.
    bool edit(std::string_view rel, std::string_view from, std::string_view to) const;

    /// Runs `sbin/halo -p <prefix>/ args...`.
    RunResult run(const std::vector<std::string>& args, Millis timeout = 15s) const;
    /// Remembers the master named by logs/halo.pid (and its children) for the cleanup;
    /// returns it (-1 when there is none).
    pid_t track();
    /// Stops what track() found and anything the pid file names now.
    void stop_all();

  private:
    TempDir dest_;
    std::vector<pid_t> tracked_;
};

}  // namespace halo_test
