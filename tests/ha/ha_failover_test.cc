// Failover quality through the real binary, in the namespace lab of ha_lab.h: a planned
// handover (SIGTERM, `-s stop`, `-s quit`) without a single failed client request; a dead
// proxy (every worker stopped) moving the VIP through track_workers; the helper running as
// `user` with only CAP_NET_RAW and CAP_NET_ADMIN; advert_int 20ms with real-time scheduling:
// no transition in steady state, a crash taken over. The times are measured and printed, never
// asserted (the machine is shared).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sched.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "ha_lab.h"

namespace halo_test {
namespace {

int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

/// A client in the client namespace: a thread that enters it (setns) and sends `GET /` to the
/// VIP every 10ms, each on a new connection, until stopped; every result is kept.
class RequestLoop {
  public:
    struct Result {
        int64_t start_ms = 0;
        int64_t end_ms = 0;
        bool ok = false;
        std::string body;  // "node1\n"... when ok, else what failed
    };

    explicit RequestLoop(const std::string& ns) {
        thread_ = std::thread([this, ns] { run(ns); });
    }
    ~RequestLoop() { stop(); }
    void stop() {
        stop_ = true;
        if (thread_.joinable()) {
            thread_.join();
        }
    }
    size_t count() const { return done_; }
    std::vector<Result> results() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return results_;
    }
    bool entered() const { return entered_; }

  private:
    void run(const std::string& ns) {
        int fd = ::open(("/var/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
            return;  // entered_ stays false: the test fails on it
        }
        ::close(fd);
        entered_ = true;
        while (!stop_) {
            Result r = one();
            {
                std::lock_guard<std::mutex> lock(mutex_);
                results_.push_back(r);
            }
            done_++;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    static Result one() {
        Result r;
        r.start_ms = now_ms();
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        timeval tv{2, 0};  // connect, send and receive each give up after 2s
        setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(80);
        inet_pton(AF_INET, kVip, &a.sin_addr);
        std::string got;
        if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
            r.body = std::string("connect: ") + strerror(errno);
        } else {
            std::string req = "GET / HTTP/1.1\r\nHost: vip\r\nConnection: close\r\n\r\n";
            if (send(s, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
                r.body = std::string("send: ") + strerror(errno);
            } else {
                char buf[4096];
                for (;;) {
                    ssize_t n = recv(s, buf, sizeof(buf), 0);
                    if (n <= 0) {
                        if (n < 0) {
                            r.body = std::string("recv: ") + strerror(errno);
                        }
                        break;
                    }
                    got.append(buf, static_cast<size_t>(n));
                }
                size_t head = got.find("\r\n\r\n");
                if (r.body.empty() && got.rfind("HTTP/1.1 200", 0) == 0 &&
                    head != std::string::npos) {
                    r.ok = true;
                    r.body = got.substr(head + 4);
                } else if (r.body.empty()) {
                    r.body = "bad response: " + got.substr(0, 40);
                }
            }
        }
        ::close(s);
        r.end_ms = now_ms();
        return r;
    }

    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<bool> entered_{false};
    std::atomic<size_t> done_{0};
    mutable std::mutex mutex_;
    std::vector<Result> results_;
};

/// What a request loop saw, for the assertions and the log.
struct LoopSummary {
    size_t total = 0;
    size_t failed = 0;
    size_t resets = 0;          // failures that are a connection reset by the new master
    std::string failures;       // the first few, with their times
    int64_t last_from_1 = -1;   // end of the last response served by node 1
    int64_t first_from_2 = -1;  // end of the first response served by node 2
    int64_t max_latency_ms = 0;
    std::string last_body;
};

LoopSummary summarize(const std::vector<RequestLoop::Result>& results) {
    LoopSummary s;
    for (const auto& r : results) {
        s.total++;
        s.max_latency_ms = std::max(s.max_latency_ms, r.end_ms - r.start_ms);
        if (!r.ok) {
            s.resets += r.body.find("Connection reset") != std::string::npos ? 1 : 0;
            if (s.failed++ < 5) {
                s.failures += "  at " + std::to_string(r.start_ms) + ": " + r.body + "\n";
            }
            continue;
        }
        if (r.body == "node1\n") {
            s.last_from_1 = r.end_ms;
        } else if (r.body == "node2\n" && s.first_from_2 < 0) {
            s.first_from_2 = r.end_ms;
        }
        s.last_body = r.body;
    }
    return s;
}

// ---- planned handover ----

enum class StopHow { kSigterm, kStop, kQuit };

class GracefulStopTest : public HaTest, public ::testing::WithParamInterface<StopHow> {};

TEST_P(GracefulStopTest, EveryRequestIsServedAndTheVipEndsOnNode2) {
    start_cluster();
    RequestLoop loop(lab_.ns("cl"));
    ASSERT_TRUE(wait_until([&] { return loop.count() >= 30; }, 10s));
    ASSERT_TRUE(loop.entered());
    int64_t t0 = now_ms();
    switch (GetParam()) {
        case StopHow::kSigterm:
            node(1).proc().signal(SIGTERM);
            break;
        case StopHow::kStop:
        case StopHow::kQuit: {
            RunResult r = run_command(
                {halo_bin(), "-p", node(1).dir().path() + "/", "-c", node(1).dir() / "halo.conf",
                 "-s", GetParam() == StopHow::kStop ? "stop" : "quit"},
                10s);
            ASSERT_EQ(r.status, 0) << r.err;
            break;
        }
    }
    ASSERT_TRUE(node(1).proc().wait_exit(20s));
    int64_t stopped = now_ms() - t0;
    size_t at_exit = loop.count();
    ASSERT_TRUE(wait_until([&] { return loop.count() >= at_exit + 30; }, 10s));
    loop.stop();

    LoopSummary s = summarize(loop.results());
    // No request fails because node 1 stopped: its workers serve the VIP until the new master
    // has it. What remains is the client's ARP switch (the new master's gratuitous ARP): a
    // connection open with node 1 at that instant sends its next packet to node 2, which
    // resets it. With a request every ~11ms lasting ~1ms, about one run in ten sees one.
    EXPECT_LE(s.failed, 1u) << s.failures;
    EXPECT_EQ(s.failed, s.resets) << s.failures;
    EXPECT_EQ(s.last_body, "node2\n");
    EXPECT_EQ(lab_.vip_holders(3), std::vector<int>{2});
    // The new master is node 2 (90), or for a moment node 3 (80) on a loaded machine: their
    // Skew_Times differ by 4ms at 100ms; node 2 preempts it then.
    EXPECT_EQ(node(1).count("new master 10.77.0."), 1u) << node(1).error_log();
    EXPECT_EQ(node(1).count("no new master heard"), 0u);
    EXPECT_EQ(node(2).count("(the master sent priority 0)"), 1u) << node(2).error_log();
    // The workers were stopped after the helper handed the VIP over.
    std::string log = node(1).error_log();
    size_t heard = log.find("new master 10.77.0.");
    size_t helper_exit = log.find("vrrp helper exits");
    ASSERT_NE(heard, std::string::npos) << log;
    ASSERT_NE(helper_exit, std::string::npos) << log;
    EXPECT_LT(heard, helper_exit);
    std::cout << "[ measured ] graceful stop: " << s.total << " requests, " << s.failed
              << " failed, node 1 exited after " << stopped << "ms, last response from node 1 "
              << (s.last_from_1 - t0) << "ms and first from node 2 " << (s.first_from_2 - t0)
              << "ms after the stop, slowest request " << s.max_latency_ms << "ms\n"
              << "             " << log.substr(heard, log.find('\n', heard) - heard) << "\n";
}

INSTANTIATE_TEST_SUITE_P(Ways, GracefulStopTest,
                         ::testing::Values(StopHow::kSigterm, StopHow::kStop, StopHow::kQuit),
                         [](const auto& info) {
                             return info.param == StopHow::kSigterm ? std::string("Sigterm")
                                    : info.param == StopHow::kStop  ? std::string("SStop")
                                                                    : std::string("SQuit");
                         });

// ---- a dead proxy ----

TEST_F(HaTest, StoppedWorkersMoveTheVipThroughTrackWorkers) {
    // "Dead proxy": no worker of the node runs its event loop (SIGSTOP: alive but serving
    // nothing). A killed worker is respawned by the master at once and is not one.
    start_cluster("advert_int 100ms;\n    track_workers;\n");
    std::vector<pid_t> workers = node(1).workers();
    ASSERT_EQ(workers.size(), 1u) << node(1).error_log();
    int64_t t0 = now_ms();
    for (pid_t w : workers) {
        ASSERT_EQ(::kill(w, SIGSTOP), 0);
    }
    bool moved = wait_until([&] { return lab_.has_vip(2); }, 10s, 2ms);
    int64_t took = now_ms() - t0;
    for (pid_t w : workers) {
        ::kill(w, SIGCONT);
    }
    ASSERT_TRUE(moved) << node(1).error_log();
    std::vector<std::string> lines = log_lines_with(node(1).error_log(), "track_workers: worker");
    ASSERT_EQ(lines.size(), 1u) << node(1).error_log();
    EXPECT_EQ(node(1).count("-> FAULT (fault)"), 1u);
    std::cout << "[ measured ] dead proxy: node 2 holds the VIP " << took
              << "ms after SIGSTOP of the workers\n             " << lines[0] << "\n";
    // The workers run again: node 1 leaves Fault and preempts.
    ASSERT_TRUE(wait_until([&] { return lab_.vip_holders(3) == std::vector<int>{1}; }, 20s))
        << node(1).error_log();
    EXPECT_EQ(node(1).count("track_workers: every worker serves again"), 1u);
    EXPECT_TRUE(wait_until([&] { return lab_.curl_vip() == "node1\n"; }, 10s));
}

// ---- privileges ----

/// A field ("Uid:", "CapEff:"...) of /proc/PID/status, tabs and all.
std::string proc_status(pid_t pid, const std::string& field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(field, 0) == 0) {
            std::string v = line.substr(field.size());
            v.erase(0, v.find_first_not_of(" \t"));
            return v;
        }
    }
    return "";
}

TEST_F(HaTest, HelperRunsAsUserWithOnlyTheNetworkCapabilities) {
    passwd* nobody = getpwnam("nobody");
    ASSERT_NE(nobody, nullptr);
    std::string uid = std::to_string(nobody->pw_uid);
    int prio[] = {100, 90, 80};
    for (int i = 1; i <= 3; i++) {
        // Node 2 starts a notify script as root: it keeps CAP_SETUID and CAP_SETGID for it.
        std::string globals = i == 2 ? "  script_user root;\n" : "";
        std::string extra =
            i == 2 ? "advert_int 100ms;\n    notify /bin/true;\n" : "advert_int 100ms;\n";
        nodes_.push_back(
            std::make_unique<HaloNode>(lab_, i, globals + instance(prio[i - 1], extra)));
        node(i).set_main("user nobody;\n");
        node(i).write_conf();
    }
    start_nodes();
    // Adverts flow (no backup takes over for 1s, ten Master_Down_Intervals) and the VIP was
    // added by the unprivileged helper.
    ASSERT_FALSE(wait_until([&] { return lab_.vip_holders(3) != std::vector<int>{1}; }, 1s));
    ASSERT_TRUE(wait_until([&] { return lab_.curl_vip() == "node1\n"; }, 10s));

    pid_t h1 = node(1).helper_pid();
    pid_t h2 = node(2).helper_pid();
    ASSERT_GT(h1, 0);
    ASSERT_GT(h2, 0);
    EXPECT_EQ(proc_status(h1, "Uid:"), uid + "\t" + uid + "\t" + uid + "\t" + uid);
    EXPECT_EQ(proc_status(h1, "Gid:").substr(0, std::to_string(nobody->pw_gid).size()),
              std::to_string(nobody->pw_gid));
    // CAP_NET_ADMIN (12) and CAP_NET_RAW (13), nothing else, not even in the bounding set.
    EXPECT_EQ(proc_status(h1, "CapEff:"), "0000000000003000");
    EXPECT_EQ(proc_status(h1, "CapPrm:"), "0000000000003000");
    EXPECT_EQ(proc_status(h1, "CapInh:"), "0000000000000000");
    EXPECT_EQ(proc_status(h1, "CapBnd:"), "0000000000003000");
    // + CAP_SETGID (6) and CAP_SETUID (7) on node 2.
    EXPECT_EQ(proc_status(h2, "Uid:"), uid + "\t" + uid + "\t" + uid + "\t" + uid);
    EXPECT_EQ(proc_status(h2, "CapEff:"), "00000000000030c0");
    EXPECT_EQ(node(1).count("vrrp: helper runs as \"nobody\" with CAP_NET_RAW, CAP_NET_ADMIN"), 1u);

    // A graceful stop: priority 0 sent, VIP removed by the unprivileged helper, node 2 serves.
    node(1).proc().signal(SIGTERM);
    ASSERT_TRUE(node(1).proc().wait_exit(20s));
    ASSERT_TRUE(wait_until([&] { return lab_.vip_holders(3) == std::vector<int>{2}; }, 10s));
    EXPECT_EQ(node(1).count("cannot remove"), 0u) << node(1).error_log();
    EXPECT_TRUE(wait_until([&] { return lab_.curl_vip() == "node2\n"; }, 10s));
    // Node 2 (now master, root notify script run through its CAP_SETUID) crashes: node 3.
    ASSERT_TRUE(wait_until([&] { return node(2).count("BACKUP -> MASTER") == 1; }));
    node(2).proc().kill_all(SIGKILL);
    ASSERT_TRUE(lab_.set_link(2, false));
    ASSERT_TRUE(wait_until([&] { return lab_.vip_holders(3) == std::vector<int>{2, 3}; }, 10s));
    EXPECT_TRUE(wait_until([&] { return lab_.curl_vip() == "node3\n"; }, 10s));
}

// ---- advert_int 20ms ----

/// The scheduling policy and real-time priority of `pid` (fields 41 and 40 of
/// /proc/PID/stat).
std::pair<int, int> sched_of(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t close = all.rfind(')');
    if (close == std::string::npos) {
        return {-1, -1};
    }
    std::istringstream rest(all.substr(close + 2));
    std::vector<std::string> f;
    std::string x;
    while (rest >> x) {
        f.push_back(x);
    }
    // rest starts at field 3 (state): field N is f[N - 3].
    if (f.size() < 39) {
        return {-1, -1};
    }
    return {std::stoi(f[41 - 3]), std::stoi(f[40 - 3])};
}

TEST_F(HaTest, TwentyMillisecondAdvertsStaySteadyAndTakeOverACrash) {
    start_cluster("advert_int 20ms;\n", {}, "  vrrp_rt_priority 50;\n");
    for (int i = 1; i <= 3; i++) {
        EXPECT_EQ(sched_of(node(i).helper_pid()), std::make_pair(SCHED_RR, 50)) << i;
    }
    // Steady state: 3s = 150 adverts, Master_Down_Interval 72ms on node 2: not one transition.
    size_t before[] = {node(1).count(" -> "), node(2).count(" -> "), node(3).count(" -> ")};
    std::this_thread::sleep_for(3s);
    EXPECT_EQ(node(1).count(" -> "), before[0]) << node(1).error_log();
    EXPECT_EQ(node(2).count(" -> "), before[1]) << node(2).error_log();
    EXPECT_EQ(node(3).count(" -> "), before[2]) << node(3).error_log();
    EXPECT_EQ(lab_.vip_holders(3), std::vector<int>{1});

    // A crash of the whole node 1: node 2 takes over after Master_Down_Interval.
    int64_t t0 = now_ms();
    node(1).proc().kill_all(SIGKILL);
    ASSERT_TRUE(wait_until([&] { return lab_.has_vip(2); }, 10s, 2ms));
    int64_t took = now_ms() - t0;
    ASSERT_TRUE(lab_.set_link(1, false));  // the dead node's stale VIP stops answering ARP
    EXPECT_TRUE(wait_until([&] { return lab_.curl_vip() == "node2\n"; }, 10s));
    // Node 3's Master_Down_Interval is 73 ms against node 2's 72 (Skew_Time 13 against 12 ms
    // at priorities 80 and 90): within that millisecond node 3 may take over as well, and it
    // gives way at node 2's next advertisement (RFC 5798 §6.4.3). On some machines it does
    // every time; what must hold is that it gives way at once and only once.
    std::this_thread::sleep_for(300ms);
    EXPECT_LE(node(3).count("-> MASTER"), 1u) << node(3).error_log();
    EXPECT_EQ(node(3).count("-> MASTER"),
              node(3).count("MASTER -> BACKUP (advertisement with a higher priority)"))
        << node(3).error_log();
    // Steady again: node 2 stays master, node 3 backup, for 3s.
    size_t after[] = {node(2).count(" -> "), node(3).count(" -> ")};
    std::this_thread::sleep_for(3s);
    EXPECT_EQ(node(2).count(" -> "), after[0]) << node(2).error_log();
    EXPECT_EQ(node(3).count(" -> "), after[1]) << node(3).error_log();
    EXPECT_EQ(node(2).count("BACKUP -> MASTER"), 1u);
    EXPECT_FALSE(lab_.has_vip(3));
    std::cout << "[ measured ] advert_int 20ms: node 2 holds the VIP " << took
              << "ms after SIGKILL of node 1 (Master_Down_Interval 72ms)\n";
}

}  // namespace
}  // namespace halo_test
