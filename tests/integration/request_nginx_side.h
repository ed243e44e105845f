#pragma once
// Debian's nginx beside halo in the request tests (request_directives_test.cc,
// core_variables_test.cc, access_log_params_test.cc): same configuration, its own prefix.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "support/harness.h"

namespace halo_test {

/// Debian's nginx on the same configuration, when it is installed: its own prefix, a free
/// port for %%PORT_0%%, stopped by pid.
class Nginx {
  public:
    static bool installed() { return access("/usr/sbin/nginx", X_OK) == 0; }

    /// Starts nginx with `conf` (placeholders %%PORT_0%% and %%PREFIX%% filled in).
    bool start(std::string conf) {
        port_ = free_port();
        replace(conf, "%%PORT_0%%", std::to_string(port_));
        replace(conf, "%%PREFIX%%", dir_.path());
        mkdir((dir_ / "logs").c_str(), 0755);
        if (!write_file(dir_ / "nginx.conf", conf)) {
            return false;
        }
        pid_ = fork();
        if (pid_ == 0) {
            std::string g = "daemon off; pid " + (dir_ / "nginx.pid") + ";";
            std::string c = dir_ / "nginx.conf";
            std::string p = dir_.path() + "/";
            int devnull = open("/dev/null", O_WRONLY);
            dup2(devnull, 2);
            execl("/usr/sbin/nginx", "nginx", "-c", c.c_str(), "-p", p.c_str(), "-g", g.c_str(),
                  static_cast<char*>(nullptr));
            _exit(127);
        }
        return pid_ > 0 && wait_for_port(port_);
    }
    ~Nginx() {
        if (pid_ > 0) {
            kill(pid_, SIGTERM);
            if (!wait_until([&] { return waitpid(pid_, nullptr, WNOHANG) == pid_; }, 10s)) {
                kill(pid_, SIGKILL);
                waitpid(pid_, nullptr, 0);
            }
        }
    }
    uint16_t port() const { return port_; }
    std::string path(std::string_view rel) const { return dir_ / rel; }

  private:
    static void replace(std::string& s, std::string_view from, const std::string& to) {
        for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at)) {
            s.replace(at, from.size(), to);
            at += to.size();
        }
    }
    TempDir dir_{"nginx-diff"};
    pid_t pid_ = -1;
    uint16_t port_ = 0;
};

}  // namespace halo_test
