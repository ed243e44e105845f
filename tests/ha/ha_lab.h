#pragma once

// The network-namespace lab of the HA tests (tests/ha): a bridge, N halo nodes
// (10.77.0.1..N and fd77::1..N on eth0, with their link-local addresses) sharing the VIP
// 10.77.0.100 (IPv6: fd77::100), a client namespace (10.77.0.50, fd77::50), the processes run
// in them, and the HaTest fixture that starts the three-node cluster.
// Needs root and `ip netns`; every namespace is deleted and every process killed (by process
// group, never by name) when a test ends.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "support/harness.h"

namespace halo_test {

inline const char* const kVip = "10.77.0.100";
inline const char* const kVip6 = "fd77::100";

inline RunResult ip(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"ip"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, 10s);
}

/// One program run inside a namespace in its own process group (`ip netns exec` execs it in
/// place, so the pid is the program's).
class NsProcess {
  public:
    NsProcess(const std::string& ns, const std::vector<std::string>& argv,
              const std::string& out_path) {
        pid_ = fork();
        if (pid_ == 0) {
            setpgid(0, 0);
            int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) {
                dup2(fd, STDOUT_FILENO);
                dup2(fd, STDERR_FILENO);
            }
            std::vector<std::string> full = {"ip", "netns", "exec", ns};
            full.insert(full.end(), argv.begin(), argv.end());
            std::vector<char*> c;
            for (auto& a : full) {
                c.push_back(a.data());
            }
            c.push_back(nullptr);
            execvp("ip", c.data());
            _exit(127);
        }
        setpgid(pid_, pid_);
    }
    ~NsProcess() { kill_all(SIGKILL); }
    NsProcess(const NsProcess&) = delete;
    NsProcess& operator=(const NsProcess&) = delete;

    pid_t pid() const { return pid_; }
    /// Sends `signo` to the program alone.
    void signal(int signo) const {
        if (pid_ > 0) {
            ::kill(pid_, signo);
        }
    }
    /// Waits for the program to exit; false on timeout.
    bool wait_exit(Millis timeout = 10s) {
        if (pid_ <= 0) {
            return true;
        }
        bool done = wait_until([&] { return waitpid(pid_, nullptr, WNOHANG) == pid_; }, timeout);
        if (done) {
            pid_ = -1;
        }
        return done;
    }
    /// Sends `signo` to the whole process group (the program and everything it forked that
    /// stayed in its group), then reaps the program.
    void kill_all(int signo) {
        if (pid_ > 0) {
            ::kill(-pid_, signo);
            wait_exit(5s);
            ::kill(-pid_, SIGKILL);
            if (pid_ > 0) {
                waitpid(pid_, nullptr, 0);
            }
            pid_ = -1;
        }
    }

  private:
    pid_t pid_ = -1;
};

/// The namespaces: a bridge, N nodes (10.77.0.1..N on eth0) and a client (10.77.0.50).
class Lab {
  public:
    Lab() : tag_("h" + std::to_string(getpid() % 100000)) {}
    ~Lab() {
        nodes_.clear();  // processes first
        for (const std::string& ns : namespaces_) {
            ip({"netns", "del", ns});
        }
    }

    /// Empty on success, else why the lab cannot be built (the test skips).
    std::string build(int nodes) {
        if (geteuid() != 0) {
            return "not root";
        }
        if (RunResult r = ip({"netns", "add", ns("br")}); r.status != 0) {
            return "`ip netns add` failed: " + r.err;
        }
        namespaces_.push_back(ns("br"));
        if (!run_all({{"-n", ns("br"), "link", "add", "br0", "type", "bridge"},
                      {"-n", ns("br"), "link", "set", "br0", "up"}})) {
            return error_;
        }
        for (int i = 1; i <= nodes; i++) {
            if (!add_host("n" + std::to_string(i), "10.77.0." + std::to_string(i),
                          "fd77::" + std::to_string(i))) {
                return error_;
            }
        }
        if (!add_host("cl", "10.77.0.50", "fd77::50")) {
            return error_;
        }
        return {};
    }

    /// A router (10.77.0.254 on the bridge, 10.77.1.1 on eth1) with a client behind it
    /// ("rc", 10.77.1.2): the anycast tests' topology. Nodes 1..`nodes` route 10.77.1.0/24
    /// through it; it forwards and hashes flows over equal-cost paths by their ports
    /// (fib_multipath_hash_policy=1: the connections of one client spread). Empty on success.
    std::string add_router(int nodes) {
        if (!add_host("rt", "10.77.0.254")) {
            return error_;
        }
        if (ip({"netns", "add", ns("rc")}).status != 0) {
            return "ip netns add " + ns("rc") + " failed";
        }
        namespaces_.push_back(ns("rc"));
        if (!run_all({{"-n", ns("rt"), "link", "add", "eth1", "type", "veth", "peer", "name",
                       "eth0", "netns", ns("rc")},
                      {"-n", ns("rt"), "addr", "add", "10.77.1.1/24", "dev", "eth1"},
                      {"-n", ns("rt"), "link", "set", "eth1", "up"},
                      {"-n", ns("rc"), "addr", "add", "10.77.1.2/24", "dev", "eth0"},
                      {"-n", ns("rc"), "link", "set", "eth0", "up"},
                      {"-n", ns("rc"), "link", "set", "lo", "up"},
                      {"-n", ns("rc"), "route", "add", "default", "via", "10.77.1.1"}})) {
            return error_;
        }
        for (int i = 1; i <= nodes; i++) {
            if (!run_all({{"-n", node(i), "route", "add", "10.77.1.0/24", "via", "10.77.0.254"}})) {
                return error_;
            }
        }
        RunResult r = run_command({"ip", "netns", "exec", ns("rt"), "sysctl", "-qw",
                                   "net.ipv4.ip_forward=1", "net.ipv4.fib_multipath_hash_policy=1"},
                                  10s);
        return r.status == 0 ? std::string() : "sysctl in " + ns("rt") + ": " + r.err;
    }

    std::string ns(const std::string& name) const { return "halo-" + tag_ + "-" + name; }
    std::string node(int i) const { return ns("n" + std::to_string(i)); }

    /// Whether node i has `addr` (the VIP by default) on eth0.
    bool has_vip(int i, const std::string& addr = kVip) const {
        RunResult r = ip({"-n", node(i), "-4", "-o", "addr", "show", "dev", "eth0"});
        return r.out.find(" " + addr + "/") != std::string::npos;
    }
    /// Whether node i has the IPv6 `addr` on eth0.
    bool has_vip6(int i, const std::string& addr = kVip6) const {
        RunResult r = ip({"-n", node(i), "-6", "-o", "addr", "show", "dev", "eth0"});
        return r.out.find(" " + addr + "/") != std::string::npos;
    }
    /// Nodes (1-based) that hold the VIP (`v6`: the IPv6 one) now.
    std::vector<int> vip_holders(int nodes, bool v6 = false) const {
        std::vector<int> out;
        for (int i = 1; i <= nodes; i++) {
            if (v6 ? has_vip6(i) : has_vip(i)) {
                out.push_back(i);
            }
        }
        return out;
    }
    /// The link-layer address of eth0 in namespace `name` (node(i), ns("cl")).
    std::string mac(const std::string& name) const {
        RunResult r = ip({"-n", name, "-o", "link", "show", "dev", "eth0"});
        size_t at = r.out.find("link/ether ");
        return at == std::string::npos ? "" : r.out.substr(at + 11, 17);
    }
    /// The link-local address of eth0 in namespace `name`, "" if none.
    std::string link_local(const std::string& name) const {
        RunResult r = ip({"-n", name, "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link"});
        size_t at = r.out.find("inet6 ");
        if (at == std::string::npos) {
            return "";
        }
        size_t end = r.out.find('/', at);
        return r.out.substr(at + 6, end - at - 6);
    }
    /// The link-layer address the client's neighbour cache holds for `addr`, "" if none.
    std::string client_neighbour(const std::string& addr) const {
        RunResult r = ip({"-n", ns("cl"), "-6", "neigh", "show", addr, "dev", "eth0"});
        size_t at = r.out.find("lladdr ");
        return at == std::string::npos ? "" : r.out.substr(at + 7, 17);
    }
    /// GET http://VIP/ from the client namespace: the body, or "" on failure.
    std::string curl_vip() const { return curl(std::string("http://") + kVip + "/"); }
    /// GET `url` from the client namespace: the body, or "" on failure.
    std::string curl(const std::string& url) const {
        RunResult r =
            run_command({"ip", "netns", "exec", ns("cl"), "curl", "-s", "-f", "-m", "2", url}, 5s);
        return r.status == 0 ? r.out : "";
    }
    /// GET http://[VIP6]/ over IPv6 from the client namespace: the body, or "" on failure.
    std::string curl_vip6() const {
        RunResult r = run_command({"ip", "netns", "exec", ns("cl"), "curl", "-6", "-g", "-s", "-f",
                                   "-m", "2", std::string("http://[") + kVip6 + "]/"},
                                  5s);
        return r.status == 0 ? r.out : "";
    }
    /// A veth pair `a`/`b` in node i, both up: a link a test can take down (the dummy
    /// driver is not always there).
    bool add_veth(int i, const std::string& a, const std::string& b) const {
        return ip({"-n", node(i), "link", "add", a, "type", "veth", "peer", "name", b}).status ==
                   0 &&
               ip({"-n", node(i), "link", "set", b, "up"}).status == 0 &&
               ip({"-n", node(i), "link", "set", a, "up"}).status == 0;
    }
    bool set_link(int i, bool up) const {
        return ip({"-n", node(i), "link", "set", "eth0", up ? "up" : "down"}).status == 0;
    }

  private:
    bool run_all(const std::vector<std::vector<std::string>>& cmds) {
        for (const auto& c : cmds) {
            RunResult r = ip(c);
            if (r.status != 0) {
                error_ = "ip";
                for (const auto& a : c) {
                    error_ += " " + a;
                }
                error_ += ": " + r.err;
                return false;
            }
        }
        return true;
    }
    /// Namespace `name` on the bridge with `addr`/24 and, when given, `addr6`/64.
    bool add_host(const std::string& name, const std::string& addr, const std::string& addr6 = {}) {
        std::string n = ns(name);
        if (ip({"netns", "add", n}).status != 0) {
            error_ = "ip netns add " + n + " failed";
            return false;
        }
        namespaces_.push_back(n);
        // No duplicate address detection on the lab's links: the link-local address (the
        // VRRPv3 source) and fd77::N are usable as soon as the link is up, not a second later.
        run_command({"ip", "netns", "exec", n, "sysctl", "-qw",
                     "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0"},
                    10s);
        std::string port = "v" + tag_ + name;  // <= 15 characters
        std::vector<std::vector<std::string>> cmds = {
            {"-n", ns("br"), "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns",
             n},
            {"-n", ns("br"), "link", "set", port, "master", "br0", "up"},
            {"-n", n, "addr", "add", addr + "/24", "dev", "eth0"},
            {"-n", n, "link", "set", "eth0", "up"},
            {"-n", n, "link", "set", "lo", "up"}};
        if (!addr6.empty()) {
            cmds.insert(cmds.begin() + 3,
                        {"-n", n, "addr", "add", addr6 + "/64", "dev", "eth0", "nodad"});
        }
        return run_all(cmds);
    }

    std::string tag_;
    std::string error_;
    std::vector<std::string> namespaces_;

  public:
    std::vector<std::unique_ptr<NsProcess>> nodes_;  // whatever runs in the namespaces
};

/// One halo node: a prefix, a config, the process.
class HaloNode {
  public:
    HaloNode(Lab& lab, int index, std::string vrrp_body, std::string http_top = {},
             std::string server_extra = {})
        : lab_(lab),
          index_(index),
          vrrp_(std::move(vrrp_body)),
          http_top_(std::move(http_top)),
          server_extra_(std::move(server_extra)),
          dir_("halo-ha") {
        write_conf();
    }
    const TempDir& dir() const { return dir_; }
    ~HaloNode() {
        if (::testing::Test::HasFailure()) {
            std::cerr << "---- node " << index_ << " error.log ----\n"
                      << error_log() << read_file(dir_ / "halo.out").value_or("");
        }
    }

    void write_conf(const std::string& vrrp_override = {}) {
        std::string conf = "daemon off;\nworker_processes 1;\nerror_log logs/error.log info;\n" +
                           main_ +
                           "events {}\n"
                           "http {\n" +
                           http_top_ + "  server {\n    listen 80;\n" + server_extra_ +
                           "    location / { return 200 \"node" + std::to_string(index_) +
                           "\\n\"; }\n  }\n}\n"
                           "vrrp {\n" +
                           (vrrp_override.empty() ? vrrp_ : vrrp_override) + "}\n";
        write_file(dir_ / "halo.conf", conf);
    }
    /// Main-context directives (`user nobody;`...), written before the rest; call write_conf().
    void set_main(std::string main) { main_ = std::move(main); }
    void start() {
        proc_ = std::make_unique<NsProcess>(
            lab_.node(index_),
            std::vector<std::string>{halo_bin(), "-p", dir_.path() + "/", "-c", dir_ / "halo.conf"},
            dir_ / "halo.out");
    }
    NsProcess& proc() { return *proc_; }
    void reset() { proc_.reset(); }
    std::string error_log() const { return read_file(dir_ / "logs/error.log").value_or(""); }
    /// The pid of the last vrrp helper the master started (from its log), -1 if none.
    pid_t helper_pid() const {
        pid_t pid = -1;
        for (const std::string& line : log_lines_with(error_log(), "start vrrp helper process")) {
            pid = static_cast<pid_t>(std::stol(line.substr(line.rfind(' ') + 1)));
        }
        return pid;
    }
    /// The node's worker processes (children of the master the log calls workers).
    std::vector<pid_t> workers() const {
        std::vector<pid_t> out;
        for (pid_t p : children_of(proc_->pid())) {
            if (count("start worker process " + std::to_string(p)) == 1) {
                out.push_back(p);
            }
        }
        return out;
    }
    /// Lines of the error log with `needle`.
    size_t count(const std::string& needle) const {
        return log_lines_with(error_log(), needle).size();
    }

  private:
    Lab& lab_;
    int index_;
    std::string vrrp_;
    std::string http_top_;
    std::string server_extra_;
    std::string main_;
    TempDir dir_;
    std::unique_ptr<NsProcess> proc_;
};

inline std::string instance(int priority, const std::string& extra = "advert_int 100ms;\n") {
    return "  vrrp_instance VI_1 {\n    state BACKUP;\n    interface eth0;\n"
           "    virtual_router_id 51;\n    priority " +
           std::to_string(priority) + ";\n    " + extra +
           "    virtual_ipaddress { 10.77.0.100/24; }\n  }\n";
}

class HaTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("vrrp")) {
            GTEST_SKIP() << "halo is built without the vrrp module";
        }
        std::string why = lab_.build(3);
        if (!why.empty()) {
            GTEST_SKIP() << "HA tests need root and network namespaces: " << why;
        }
    }
    /// Starts halo on nodes 1..3 with priorities 100/90/80 and waits for node 1 to serve the
    /// VIP. Node 1 starts first (with nopreempt, whoever is master first stays master), the
    /// others once it holds the VIP: they come up as backups.
    /// `globals`: vrrp-block directives before the instance on every node.
    void start_cluster(const std::string& extra = "advert_int 100ms;\n",
                       const std::string& server_extra = {}, const std::string& globals = {}) {
        int prio[] = {100, 90, 80};
        for (int i = 1; i <= 3; i++) {
            nodes_.push_back(std::make_unique<HaloNode>(
                lab_, i, globals + instance(prio[i - 1], extra), std::string(), server_extra));
        }
        start_nodes();
    }
    /// Starts the three nodes already made, node 1 first, and waits for it to serve the VIP
    /// with the others as backups.
    void start_nodes() {
        node(1).start();
        ASSERT_TRUE(wait_until([&] { return lab_.has_vip(1); }, 20s)) << node(1).error_log();
        node(2).start();
        node(3).start();
        ASSERT_TRUE(wait_until([&] {
            return node(2).count("INIT -> BACKUP") == 1 && node(3).count("INIT -> BACKUP") == 1;
        }));
        ASSERT_TRUE(wait_until([&] { return lab_.vip_holders(3) == std::vector<int>{1}; }, 20s))
            << "holders: " << lab_.vip_holders(3).size();
        ASSERT_TRUE(wait_until([&] { return lab_.curl_vip() == "node1\n"; }, 10s));
    }
    HaloNode& node(int i) { return *nodes_[static_cast<size_t>(i - 1)]; }

    Lab lab_;
    std::vector<std::unique_ptr<HaloNode>> nodes_;
};

}  // namespace halo_test
