// Anycast through FRR (issue 22), in the namespace lab of ha_lab.h with a router: three halo
// nodes announce 10.77.0.200/32 over eBGP (zebra + bgpd in every node namespace and in the
// router's, each with its own config, pid file and sockets in a temporary folder), the router
// spreads a client's connections over them by ECMP; a crash, a failing upstream group and a
// hung worker withdraw a node, a graceful stop loses no request, a node coming back rejoins.
// The gaps are measured and printed, never asserted (the machine is shared): the assertions
// count routes, nodes served and failed requests.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "ha_lab.h"

namespace halo_test {
namespace {

constexpr const char* kAnycast = "10.77.0.200";
constexpr const char* kZebra = "/usr/lib/frr/zebra";
constexpr const char* kBgpd = "/usr/lib/frr/bgpd";

int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

/// A client behind the router: a thread in the client namespace (setns) sending `GET /` to
/// the anycast address, each on a new connection (a new source port: a new ECMP hash), until
/// stopped. Counts the answers by node and the failures.
class Client {
  public:
    /// `pause`: between a request's end and the next one's start.
    explicit Client(const std::string& ns, Millis pause = Millis(2)) : pause_(pause) {
        thread_ = std::thread([this, ns] { run(ns); });
    }
    ~Client() { stop(); }
    void stop() {
        stop_ = true;
        if (thread_.joinable()) {
            thread_.join();
        }
    }
    bool entered() const { return entered_; }
    /// The thread tried to enter the namespace (entered() says whether it could).
    bool tried() const { return tried_; }
    size_t total() const { return total_; }
    size_t failed() const { return failed_; }
    std::string first_failures() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return failures_;
    }
    /// Answers by node ("node1\n" -> 1).
    std::map<int, size_t> by_node() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return by_node_;
    }

  private:
    void run(const std::string& ns) {
        int fd = ::open(("/var/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
            tried_ = true;
            return;
        }
        ::close(fd);
        entered_ = true;
        tried_ = true;
        while (!stop_) {
            std::string why;
            int node = one(why);
            {
                std::lock_guard<std::mutex> lock(mutex_);
                if (node > 0) {
                    by_node_[node]++;
                } else {
                    failed_++;
                    if (failed_ <= 5) {
                        failures_ += std::to_string(now_ms() % 100000) + "ms " + why + "\n";
                    }
                }
            }
            total_++;
            std::this_thread::sleep_for(pause_);
        }
    }
    static int one(std::string& why) {
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        timeval tv{2, 0};
        setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(80);
        inet_pton(AF_INET, kAnycast, &a.sin_addr);
        std::string got;
        int node = 0;
        if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
            why = std::string("connect: ") + strerror(errno);
        } else {
            std::string req = "GET / HTTP/1.1\r\nHost: any\r\nConnection: close\r\n\r\n";
            if (send(s, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
                why = std::string("send: ") + strerror(errno);
            } else {
                char buf[4096];
                ssize_t n;
                while ((n = recv(s, buf, sizeof(buf), 0)) > 0) {
                    got.append(buf, static_cast<size_t>(n));
                }
                size_t body = got.find("\r\n\r\nnode");
                if (got.rfind("HTTP/1.1 200", 0) == 0 && body != std::string::npos) {
                    node = atoi(got.c_str() + body + 8);
                } else {
                    why = n < 0 ? std::string("recv: ") + strerror(errno)
                                : "bad response: " + got.substr(0, 40);
                }
            }
        }
        ::close(s);
        return node;
    }

    Millis pause_;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<bool> entered_{false};
    std::atomic<bool> tried_{false};
    std::atomic<size_t> total_{0};
    std::atomic<size_t> failed_{0};
    mutable std::mutex mutex_;
    std::map<int, size_t> by_node_;
    std::string failures_;
};

/// zebra + bgpd in one namespace, their files in a temporary folder; killed by process group.
class Frr {
  public:
    Frr(Lab& lab, const std::string& ns, const std::string& bgpd_conf) : dir_("halo-frr") {
        chmod(dir_.path().c_str(), 0777);  // the daemons run as frr
        write_file(dir_ / "zebra.conf", "hostname " + ns + "\n");
        write_file(dir_ / "bgpd.conf", bgpd_conf);
        for (const char* d : {"zebra", "bgpd"}) {
            std::string name = d;
            std::vector<std::string> argv = {std::string(name == "zebra" ? kZebra : kBgpd),
                                             "-f",
                                             dir_ / (name + ".conf"),
                                             "-i",
                                             dir_ / (name + ".pid"),
                                             "-z",
                                             dir_ / "zserv.api",
                                             "--vty_socket",
                                             dir_.path(),
                                             "-A",
                                             "127.0.0.1",
                                             "-P",
                                             "0",
                                             "--log",
                                             "file:" + (dir_ / (name + ".log"))};
            lab.nodes_.push_back(std::make_unique<NsProcess>(ns, argv, dir_ / (name + ".out")));
            if (name == "zebra") {
                wait_until([&] { return access((dir_ / "zserv.api").c_str(), F_OK) == 0; }, 10s);
            }
        }
    }
    std::string logs() const {
        return read_file(dir_ / "bgpd.log").value_or("") +
               read_file(dir_ / "bgpd.out").value_or("");
    }

  private:
    TempDir dir_;
};

std::string router_bgpd() {
    // Dynamic neighbours from the nodes' subnet, 1s keepalives / 3s hold, ECMP over up to 16
    // paths. The nodes share one AS: their paths are equal.
    return "frr defaults datacenter\nhostname rt\nrouter bgp 65000\n"
           " bgp router-id 10.77.0.254\n no bgp ebgp-requires-policy\n"
           " neighbor NODES peer-group\n neighbor NODES remote-as external\n"
           " neighbor NODES timers 1 3\n bgp listen range 10.77.0.0/24 peer-group NODES\n"
           " address-family ipv4 unicast\n  maximum-paths 16\n exit-address-family\n";
}

std::string node_bgpd(int i) {
    // docs/anycast.md's recipe: the connected routes of the anycast prefix only.
    return "frr defaults datacenter\nhostname n" + std::to_string(i) +
           "\nip prefix-list ANYCAST seq 10 permit 10.77.0.200/32\n"
           "route-map ANYCAST permit 10\n match ip address prefix-list ANYCAST\n"
           "router bgp 65100\n bgp router-id 10.77.0." +
           std::to_string(i) +
           "\n no bgp ebgp-requires-policy\n neighbor 10.77.0.254 remote-as 65000\n"
           " neighbor 10.77.0.254 timers 1 3\n neighbor 10.77.0.254 timers connect 1\n"
           " address-family ipv4 unicast\n  redistribute connected route-map ANYCAST\n"
           " exit-address-family\n";
}

class AnycastTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("anycast")) {
            GTEST_SKIP() << "halo is built without the anycast module";
        }
        if (access(kZebra, X_OK) != 0 || access(kBgpd, X_OK) != 0) {
            GTEST_SKIP() << "FRR is not installed (Debian package frr: auto/deps --test)";
        }
        if (access("/dev/net/tun", R_OK | W_OK) != 0) {
            GTEST_SKIP() << "no /dev/net/tun";
        }
        std::string why = lab_.build(3);
        if (why.empty()) {
            why = lab_.add_router(3);
        }
        if (!why.empty()) {
            GTEST_SKIP() << "the anycast tests need root and network namespaces: " << why;
        }
        frr_.push_back(std::make_unique<Frr>(lab_, lab_.ns("rt"), router_bgpd()));
        for (int i = 1; i <= 3; i++) {
            frr_.push_back(std::make_unique<Frr>(lab_, lab_.node(i), node_bgpd(i)));
            backend_.push_back(std::make_unique<TempDir>("halo-app"));
            write_file(*backend_.back() / "ok", "ok\n");
            nodes_.push_back(std::make_unique<HaloNode>(
                lab_, i, "",
                "  upstream app {\n    server 127.0.0.1:8081;\n"
                "    health_check uri=/ok interval=100ms timeout=1s fall=1 rise=1;\n  }\n"
                "  server {\n    listen 127.0.0.1:8081;\n    root " +
                    backend_.back()->path() + ";\n  }\n",
                "    location = /status { status; }\n"));
            node(i).set_main(
                "anycast {\n  address 10.77.0.200/32;\n  track_upstream app;\n"
                "  track_workers;\n  drain_timeout 1s;\n}\n");
            node(i).write_conf();
        }
    }
    void TearDown() override {
        if (HasFailure()) {
            for (auto& f : frr_) {
                std::cerr << "---- bgpd ----\n" << f->logs();
            }
            std::cerr << "---- router ----\n" << route_text();
        }
    }
    HaloNode& node(int i) { return *nodes_[static_cast<size_t>(i - 1)]; }

    std::string route_text() const {
        return ip({"-n", lab_.ns("rt"), "route", "show", kAnycast}).out;
    }
    /// The nodes the router sends the anycast address to (its ECMP next hops).
    std::vector<int> paths() const {
        std::vector<int> out;
        std::string t = route_text();
        for (size_t p = t.find("via 10.77.0."); p != std::string::npos;
             p = t.find("via 10.77.0.", p + 1)) {
            out.push_back(atoi(t.c_str() + p + 12));
        }
        std::sort(out.begin(), out.end());
        return out;
    }
    bool paths_are(const std::vector<int>& want, Millis timeout = 20s) const {
        return wait_until([&] { return paths() == want; }, timeout, 5ms);
    }
    /// Starts the three nodes and waits for the router to have a path to each.
    void start_all() {
        for (int i = 1; i <= 3; i++) {
            node(i).start();
        }
        ASSERT_TRUE(paths_are({1, 2, 3}, 30s)) << route_text() << node(1).error_log();
    }
    /// `n` requests from the client behind the router (no pause but the client's own).
    std::map<int, size_t> spread(size_t n, size_t* failed = nullptr) {
        Client c(lab_.ns("rc"));
        wait_until([&] { return c.total() >= n || (c.tried() && !c.entered()); }, 30s, 5ms);
        c.stop();
        EXPECT_TRUE(c.entered());
        if (failed != nullptr) {
            *failed = c.failed();
        }
        return c.by_node();
    }

    Lab lab_;
    std::vector<std::unique_ptr<Frr>> frr_;
    std::vector<std::unique_ptr<TempDir>> backend_;
    std::vector<std::unique_ptr<HaloNode>> nodes_;
};

// The client's connections spread over the three nodes; a node killed with SIGKILL (master,
// helper and worker: its TUN device goes with the helper) leaves the router's paths; started
// again, it rejoins.
TEST_F(AnycastTest, SpreadCrashRejoin) {
    ASSERT_NO_FATAL_FAILURE(start_all());
    size_t failed = 0;
    std::map<int, size_t> seen = spread(300, &failed);
    EXPECT_EQ(failed, 0u);
    EXPECT_EQ(seen.size(), 3u) << "node1 " << seen[1] << " node2 " << seen[2] << " node3 "
                               << seen[3];
    std::printf("anycast spread over 300 connections: node1 %zu, node2 %zu, node3 %zu\n", seen[1],
                seen[2], seen[3]);

    int64_t t0 = now_ms();
    node(2).proc().kill_all(SIGKILL);
    ASSERT_TRUE(paths_are({1, 3})) << route_text();
    std::printf("anycast crash (kill -9): route withdrawn at the router after %lldms\n",
                static_cast<long long>(now_ms() - t0));
    seen = spread(100, &failed);
    EXPECT_EQ(failed, 0u);
    EXPECT_EQ(seen.count(2), 0u);

    t0 = now_ms();
    node(2).start();
    ASSERT_TRUE(paths_are({1, 2, 3})) << route_text() << node(2).error_log();
    std::printf("anycast rejoin: route back at the router %lldms after the start\n",
                static_cast<long long>(now_ms() - t0));
    EXPECT_TRUE(wait_until([&] { return spread(30).count(2) == 1; }, 20s));

    // The anycast helper alone killed: its device goes, the route with it; the master starts
    // a new helper at once, which announces again (so fast that the node's bgpd may never
    // send the withdrawal: printed, not asserted).
    pid_t helper = -1;
    for (const std::string& line : log_lines_with(node(1).error_log(), "start anycast helper")) {
        helper = static_cast<pid_t>(std::stol(line.substr(line.rfind(' ') + 1)));
    }
    ASSERT_GT(helper, 0) << node(1).error_log();
    ASSERT_EQ(::kill(helper, SIGKILL), 0);
    size_t without_node1 = 0;
    ASSERT_TRUE(wait_until(
        [&] {
            std::vector<int> p = paths();
            without_node1 += std::find(p.begin(), p.end(), 1) == p.end() ? 1 : 0;
            return node(1).count("start anycast helper process") == 2 &&
                   node(1).count("announced on anycast0") == 2;
        },
        20s, 5ms))
        << node(1).error_log();
    ASSERT_TRUE(paths_are({1, 2, 3})) << route_text() << node(1).error_log();
    std::string addrs = ip({"-n", lab_.node(1), "-4", "-o", "addr", "show", "dev", "anycast0"}).out;
    EXPECT_NE(addrs.find("10.77.0.200/32"), std::string::npos) << addrs;
    std::printf(
        "anycast helper killed and respawned: the router was seen without node 1 in %zu "
        "looks\n",
        without_node1);

    // The master alone killed: its children get SIGTERM (parent-death signal), the helper
    // withdraws on its way out.
    t0 = now_ms();
    node(3).proc().signal(SIGKILL);
    ASSERT_TRUE(paths_are({1, 2})) << route_text() << node(3).error_log();
    std::printf("anycast master killed alone: route withdrawn at the router after %lldms\n",
                static_cast<long long>(now_ms() - t0));
    ASSERT_TRUE(node(3).proc().wait_exit());
    node(3).start();
    ASSERT_TRUE(paths_are({1, 2, 3})) << route_text() << node(3).error_log();
}

// The upstream group a node tracks loses its only server (health check): the node withdraws,
// the status page says why; the server back, the node rejoins. A hung worker (SIGSTOP) does
// the same through track_workers.
TEST_F(AnycastTest, TrackersWithdraw) {
    ASSERT_NO_FATAL_FAILURE(start_all());
    int64_t t0 = now_ms();
    ASSERT_EQ(unlink((*backend_[0] / "ok").c_str()), 0);
    ASSERT_TRUE(paths_are({2, 3})) << route_text() << node(1).error_log();
    std::printf(
        "anycast upstream down: route withdrawn at the router %lldms after the check "
        "file went away (health_check interval 100ms)\n",
        static_cast<long long>(now_ms() - t0));
    EXPECT_EQ(node(1).count("anycast: 10.77.0.200/32 withdrawn from anycast0 (upstream app)"), 1u)
        << node(1).error_log();
    std::string status = lab_.curl("http://10.77.0.1/status");
    EXPECT_NE(status.find("\"anycast\":[{\"state\":\"WITHDRAWN\",\"reason\":\"upstream app\""),
              std::string::npos)
        << status;
    size_t failed = 0;
    std::map<int, size_t> seen = spread(60, &failed);
    EXPECT_EQ(failed, 0u);
    EXPECT_EQ(seen.count(1), 0u);

    write_file(*backend_[0] / "ok", "ok\n");
    ASSERT_TRUE(paths_are({1, 2, 3})) << route_text() << node(1).error_log();
    status = lab_.curl("http://10.77.0.1/status");
    EXPECT_NE(status.find("\"anycast\":[{\"state\":\"ANNOUNCED\""), std::string::npos) << status;
    std::string prom = lab_.curl("http://10.77.0.1/status?format=prometheus");
    EXPECT_NE(prom.find("halo_anycast_announced{interface=\"anycast0\"} 1\n"), std::string::npos)
        << prom;
    EXPECT_NE(prom.find("halo_anycast_transitions_total{interface=\"anycast0\"} 3\n"),
              std::string::npos)
        << prom;

    std::vector<pid_t> workers = node(3).workers();
    ASSERT_EQ(workers.size(), 1u);
    t0 = now_ms();
    ASSERT_EQ(::kill(workers[0], SIGSTOP), 0);
    bool withdrawn = paths_are({1, 2});
    int64_t gap = now_ms() - t0;
    ::kill(workers[0], SIGCONT);
    ASSERT_TRUE(withdrawn) << route_text() << node(3).error_log();
    std::printf(
        "anycast hung worker: route withdrawn at the router %lldms after SIGSTOP "
        "(track_workers timeout 200ms)\n",
        static_cast<long long>(gap));
    EXPECT_EQ(node(3).count("withdrawn from anycast0 (workers)"), 1u) << node(3).error_log();
    ASSERT_TRUE(paths_are({1, 2, 3})) << route_text() << node(3).error_log();
}

// `halo -s quit` on a node while a client sends requests without pause: the route is withdrawn
// first, the node serves on while the router forgets it (drain_timeout), then stops. Not one
// request fails.
TEST_F(AnycastTest, GracefulStopLosesNothing) {
    ASSERT_NO_FATAL_FAILURE(start_all());
    // A request every 10ms, as the VRRP failover tests: a connection whose handshake
    // straddles the router's switch is reset by the node its next packet reaches (stateless
    // ECMP, docs/anycast.md); the pause keeps that rare.
    Client c(lab_.ns("rc"), Millis(10));
    ASSERT_TRUE(wait_until([&] { return c.by_node()[3] >= 10; }, 20s));
    int64_t t0 = now_ms();
    node(3).proc().signal(SIGQUIT);
    ASSERT_TRUE(paths_are({1, 2})) << route_text();
    int64_t withdrawn = now_ms() - t0;
    ASSERT_TRUE(node(3).proc().wait_exit(15s)) << node(3).error_log();
    int64_t stopped = now_ms() - t0;
    size_t before = c.total();
    wait_until([&] { return c.total() >= before + 100; }, 20s);
    c.stop();
    std::printf(
        "anycast graceful stop: route withdrawn at the router after %lldms, node stopped "
        "after %lldms; %zu requests, %zu failed\n",
        static_cast<long long>(withdrawn), static_cast<long long>(stopped), c.total(), c.failed());
    EXPECT_EQ(c.failed(), 0u) << c.first_failures();
    EXPECT_EQ(node(3).count("anycast: draining for 1000ms"), 1u) << node(3).error_log();
    EXPECT_GT(c.by_node()[1] + c.by_node()[2], 0u);
}

// A reload (SIGHUP) while the client sends requests: the new helper joins the TUN device
// before the old one leaves, so the router never loses the node and no request fails; an
// address the new configuration adds is announced, one it drops is withdrawn. Then `-s stop`
// leaves nothing behind.
TEST_F(AnycastTest, ReloadKeepsTheRoute) {
    ASSERT_NO_FATAL_FAILURE(start_all());
    Client c(lab_.ns("rc"));
    ASSERT_TRUE(wait_until([&] { return c.total() >= 50; }, 20s));
    node(1).set_main(
        "anycast {\n  address 10.77.0.200/32;\n  address 10.77.0.201/32;\n"
        "  track_upstream app;\n  track_workers;\n  drain_timeout 1s;\n}\n");
    node(1).write_conf();
    node(1).proc().signal(SIGHUP);
    size_t samples = 0;
    size_t without_node1 = 0;
    bool handed_over = false;
    wait_until(
        [&] {
            samples++;
            std::vector<int> p = paths();
            if (std::find(p.begin(), p.end(), 1) == p.end()) {
                without_node1++;
            }
            handed_over = node(1).count("the new configuration runs the block") == 1;
            return handed_over;
        },
        20s, 5ms);
    ASSERT_TRUE(handed_over) << node(1).error_log();
    size_t before = c.total();
    wait_until([&] { return c.total() >= before + 50; }, 20s);
    c.stop();
    EXPECT_EQ(without_node1, 0u) << "of " << samples << " looks at the router's route";
    EXPECT_EQ(c.failed(), 0u) << c.first_failures();
    std::string addrs = ip({"-n", lab_.node(1), "-4", "-o", "addr", "show", "dev", "anycast0"}).out;
    EXPECT_NE(addrs.find("10.77.0.201/32"), std::string::npos) << addrs;

    // The second address goes away again with the next reload.
    node(1).set_main(
        "anycast {\n  address 10.77.0.200/32;\n  track_upstream app;\n  track_workers;\n"
        "  drain_timeout 1s;\n}\n");
    node(1).write_conf();
    node(1).proc().signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] {
        return node(1).count("anycast: 10.77.0.201 removed from the configuration") == 1;
    })) << node(1).error_log();
    addrs = ip({"-n", lab_.node(1), "-4", "-o", "addr", "show", "dev", "anycast0"}).out;
    EXPECT_EQ(addrs.find("10.77.0.201/32"), std::string::npos) << addrs;
    EXPECT_NE(addrs.find("10.77.0.200/32"), std::string::npos) << addrs;
    EXPECT_EQ(paths(), (std::vector<int>{1, 2, 3})) << route_text();

    // `halo -s stop` (SIGTERM): withdrawn, and nothing left behind on the node: no device,
    // no local route.
    node(1).proc().signal(SIGTERM);
    ASSERT_TRUE(node(1).proc().wait_exit()) << node(1).error_log();
    ASSERT_TRUE(paths_are({2, 3})) << route_text();
    EXPECT_NE(ip({"-n", lab_.node(1), "link", "show", "anycast0"}).status, 0);
    std::string local = ip({"-n", lab_.node(1), "route", "show", "table", "local"}).out;
    EXPECT_EQ(local.find("10.77.0.20"), std::string::npos) << local;
}

}  // namespace
}  // namespace halo_test
