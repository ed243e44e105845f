// The stream servers on the status page through the real binary (two workers counting into the
// one shared zone): TCP sessions through a stream proxy to an echo backend, UDP sessions to a
// UDP echo, sessions to a closed port (502), a session held open (active), each counted on its
// listen address with its bytes and status class, in the JSON and in Prometheus, beside the
// stream upstream groups (block "stream"); the counts survive a reload.
//
// The harness's start() connects once to every TCP port it allocated (its probes): those are
// sessions too. The test waits until the page is settled after the start and counts from
// there (deltas), so the numbers checked are exactly the test's traffic.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "support/harness.h"
#include "support/json.h"
#include "support/prometheus.h"
#include "support/stream_backend.h"

namespace halo_test {
namespace {

std::string replace_all(std::string text, const std::string& key, const std::string& value) {
    for (size_t at = 0; (at = text.find(key, at)) != std::string::npos; at += value.size()) {
        text.replace(at, key.size(), value);
    }
    return text;
}

/// One listen address's numbers from the JSON.
struct Counts {
    int64_t connections = 0;
    int64_t active = 0;
    int64_t total = 0;
    int64_t s2xx = 0;
    int64_t s4xx = 0;
    int64_t s5xx = 0;
    int64_t received = 0;
    int64_t sent = 0;
};

Counts counts_of(const Json& l) {
    return Counts{l["connections"].integer(),       l["active"].integer(),
                  l["sessions"]["total"].integer(), l["sessions"]["2xx"].integer(),
                  l["sessions"]["4xx"].integer(),   l["sessions"]["5xx"].integer(),
                  l["received"].integer(),          l["sent"].integer()};
}

/// The listen entry for `address` (and `protocol`) among the stream servers, or nullptr.
const Json* find_listen(const Json& page, const std::string& address, const std::string& protocol) {
    for (const Json& srv : page["stream_servers"].items()) {
        for (const Json& l : srv["listens"].items()) {
            if (l["address"].str() == address && l["protocol"].str() == protocol) {
                return &l;
            }
        }
    }
    return nullptr;
}

/// A TCP connection to 127.0.0.1:port that stays open until destroyed.
class HeldConnection {
  public:
    explicit HeldConnection(uint16_t port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(port);
        timeval tv{5, 0};
        setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    }
    ~HeldConnection() { close(); }
    /// Sends `data` and reads its echo back.
    bool echo(const std::string& data) {
        if (!ok_ || !send_all(fd_, data)) {
            return false;
        }
        std::string got;
        char buf[256];
        while (got.size() < data.size()) {
            ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
            if (n <= 0) {
                return false;
            }
            got.append(buf, static_cast<size_t>(n));
        }
        return got == data;
    }
    void close() {
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }

  private:
    int fd_ = -1;
    bool ok_ = false;
};

constexpr std::string_view kConf = R"(
daemon off;
worker_processes 2;
error_log logs/error.log info;

events {
    worker_connections 256;
}

http {
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location = /status { status; }
        location = /metrics { status format=prometheus; }
        location = /dashboard { status format=html; }
    }
}

stream {
    upstream echo { server %%ECHO%%; }
    upstream dns { server %%UDP_ECHO%%; }
    upstream closed { server 127.0.0.1:%%CLOSED%% max_fails=0; }

    server {
        listen 127.0.0.1:%%PORT_1%%;
        listen 127.0.0.1:%%UDP%% udp;
        proxy_pass echo;
    }
    server {
        listen 127.0.0.1:%%UDP2%% udp;
        proxy_pass dns;
        proxy_responses 1;
        proxy_timeout 5s;
    }
    server {
        listen 127.0.0.1:%%PORT_2%%;
        proxy_pass closed;
    }
}
)";

class StatusStreamTest : public ::testing::Test {
  protected:
    void SetUp() override {
        for (const char* m : {"http_status", "stream", "stream_proxy"}) {
            if (!halo_has_module(m)) {
                GTEST_SKIP() << "the " << m << " module is not compiled in";
            }
        }
    }

    void start() {
        std::string conf(kConf);
        conf = replace_all(conf, "%%ECHO%%", echo_.address());
        conf = replace_all(conf, "%%UDP_ECHO%%", udp_echo_.address());
        conf = replace_all(conf, "%%CLOSED%%", std::to_string(closed_));
        conf = replace_all(conf, "%%UDP%%", std::to_string(udp_));
        conf = replace_all(conf, "%%UDP2%%", std::to_string(udp2_));
        halo_.write_conf(conf);
        ASSERT_TRUE(halo_.start());
        ASSERT_EQ(halo_.wait_workers(2).size(), 2u) << halo_.error_log();
        // The harness's probe sessions have ended (the one to the closed port with a 502).
        ASSERT_TRUE(wait_until([&] {
            auto j = json();
            if (!j) {
                return false;
            }
            const Json* tcp = find_listen(*j, addr(halo_.port(1)), "tcp");
            const Json* bad = find_listen(*j, addr(halo_.port(2)), "tcp");
            return tcp != nullptr && bad != nullptr && (*tcp)["active"].integer() == 0 &&
                   (*bad)["active"].integer() == 0 &&
                   (*tcp)["connections"].integer() == (*tcp)["sessions"]["total"].integer() &&
                   (*bad)["connections"].integer() == (*bad)["sessions"]["total"].integer();
        })) << (json() ? "" : "no status page");
        base_ = *json();
    }

    static std::string addr(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

    std::optional<Json> json() {
        auto r = http_get(halo_.port(0), "/status");
        if (!r || r->status != 200) {
            return std::nullopt;
        }
        std::string err;
        auto j = Json::parse(r->body, &err);
        EXPECT_TRUE(j) << err << "\n" << r->body;
        return j;
    }
    std::optional<PromText> metrics() {
        auto r = http_get(halo_.port(0), "/metrics");
        if (!r || r->status != 200) {
            return std::nullopt;
        }
        std::string err;
        auto p = PromText::parse(r->body, &err);
        EXPECT_TRUE(p) << err << "\n" << r->body;
        return p;
    }
    /// What `page` counted on a listen address since the start (after the probes).
    Counts delta(const Json& page, uint16_t port, const std::string& protocol) {
        const Json* now = find_listen(page, addr(port), protocol);
        const Json* then = find_listen(base_, addr(port), protocol);
        EXPECT_NE(now, nullptr) << addr(port) << " " << protocol;
        EXPECT_NE(then, nullptr) << addr(port) << " " << protocol;
        if (now == nullptr || then == nullptr) {
            return {};
        }
        Counts a = counts_of(*now), b = counts_of(*then);
        return Counts{a.connections - b.connections,
                      a.active,
                      a.total - b.total,
                      a.s2xx - b.s2xx,
                      a.s4xx - b.s4xx,
                      a.s5xx - b.s5xx,
                      a.received - b.received,
                      a.sent - b.sent};
    }

    /// 5 TCP sessions echoing 10 bytes each, 3 UDP clients of the DNS-shaped echo, 2 sessions
    /// to the closed port.
    void send_traffic() {
        for (int i = 0; i < 5; i++) {
            std::string data = "tcp-ping-" + std::to_string(i);
            ASSERT_EQ(tcp_roundtrip(halo_.port(1), data), data);
        }
        for (int i = 0; i < 3; i++) {
            std::string q = "query-" + std::to_string(i);
            ASSERT_EQ(udp_roundtrip(udp2_, q), "dns:" + q);
        }
        for (int i = 0; i < 2; i++) {
            // The proxy cannot reach its upstream: the session ends, the client sees it closed.
            EXPECT_EQ(tcp_roundtrip(halo_.port(2), "x"), "");
        }
    }
    static constexpr int64_t kTcpBytes = 5 * 10;
    static constexpr int64_t kUdpIn = 3 * 7;
    static constexpr int64_t kUdpOut = 3 * 11;

    /// Polls until the traffic is all counted; that snapshot.
    std::optional<Json> settled() {
        std::optional<Json> last;
        wait_until([&] {
            last = json();
            return last && delta(*last, halo_.port(1), "tcp").total == 5 &&
                   delta(*last, udp2_, "udp").total == 3 &&
                   delta(*last, halo_.port(2), "tcp").total == 2;
        });
        return last;
    }

    TcpEchoBackend echo_{"echo", false};
    UdpEchoBackend udp_echo_{"dns"};
    uint16_t closed_ = free_port();
    uint16_t udp_ = free_port();
    uint16_t udp2_ = free_port();
    Halo halo_;
    Json base_;
};

TEST_F(StatusStreamTest, SessionsBytesAndStatusesPerListenAddress) {
    start();
    send_traffic();
    std::optional<Json> j = settled();
    ASSERT_TRUE(j);
    Counts tcp = delta(*j, halo_.port(1), "tcp");
    EXPECT_EQ(tcp.connections, 5);
    EXPECT_EQ(tcp.active, 0);
    EXPECT_EQ(tcp.total, 5);
    EXPECT_EQ(tcp.s2xx, 5);
    EXPECT_EQ(tcp.s4xx + tcp.s5xx, 0);
    EXPECT_EQ(tcp.received, kTcpBytes);
    EXPECT_EQ(tcp.sent, kTcpBytes);
    Counts udp = delta(*j, udp2_, "udp");
    EXPECT_EQ(udp.connections, 3);
    EXPECT_EQ(udp.s2xx, 3);
    EXPECT_EQ(udp.received, kUdpIn);
    EXPECT_EQ(udp.sent, kUdpOut);
    Counts bad = delta(*j, halo_.port(2), "tcp");
    EXPECT_EQ(bad.connections, 2);
    EXPECT_EQ(bad.s5xx, 2);  // 502: no upstream reached
    EXPECT_EQ(bad.s2xx + bad.s4xx, 0);
    EXPECT_EQ(bad.sent, 0);
    // The UDP address of the first server saw nothing; the server lists both of its addresses.
    Counts idle = delta(*j, udp_, "udp");
    EXPECT_EQ(idle.connections, 0);
    const Json* first = nullptr;
    for (const Json& srv : (*j)["stream_servers"].items()) {
        first = srv["listens"][0]["address"].str() == addr(halo_.port(1)) ? &srv : first;
    }
    ASSERT_NE(first, nullptr);
    ASSERT_EQ((*first)["listen"].size(), 2u);
    EXPECT_EQ((*first)["listen"][1].str(), addr(udp_) + " udp");
    EXPECT_EQ((*first)["sessions"]["total"].integer(),
              (*first)["listens"][0]["sessions"]["total"].integer());

    // The stream upstreams, beside the http ones, say their block; each peer's attempts.
    std::map<std::string, const Json*> groups;
    for (const Json& g : (*j)["upstreams"].items()) {
        EXPECT_EQ(g["block"].str(), "stream") << g["name"].str();
        groups[g["name"].str()] = &g;
    }
    ASSERT_EQ(groups.size(), 3u);
    EXPECT_GE((*groups["echo"])["peers"][0]["requests"].integer(), 5);
    EXPECT_EQ((*groups["dns"])["peers"][0]["requests"].integer(), 3);
    EXPECT_GE((*groups["closed"])["peers"][0]["failures"].integer(), 2);

    // Prometheus says the same (the baseline from the JSON taken before the traffic).
    std::optional<PromText> p = metrics();
    ASSERT_TRUE(p);
    auto base = [&](uint16_t port, const std::string& protocol) {
        const Json* l = find_listen(base_, addr(port), protocol);
        return l != nullptr ? counts_of(*l) : Counts{};
    };
    std::map<std::string, std::string> tcp_l = {{"listen", addr(halo_.port(1))},
                                                {"protocol", "tcp"}};
    std::map<std::string, std::string> bad_l = {{"listen", addr(halo_.port(2))},
                                                {"protocol", "tcp"}};
    std::map<std::string, std::string> udp_l = {{"listen", addr(udp2_)}, {"protocol", "udp"}};
    EXPECT_EQ(p->value("halo_stream_server_connections_total", tcp_l),
              static_cast<double>(base(halo_.port(1), "tcp").connections + 5));
    EXPECT_EQ(p->value("halo_stream_server_connections_active", tcp_l), 0.0);
    auto code = [](std::map<std::string, std::string> l, const char* c) {
        l["code"] = c;
        return l;
    };
    EXPECT_EQ(p->value("halo_stream_server_sessions_total", code(bad_l, "5xx")),
              static_cast<double>(base(halo_.port(2), "tcp").s5xx + 2));
    EXPECT_EQ(p->value("halo_stream_server_sessions_total", code(udp_l, "2xx")), 3.0);
    EXPECT_EQ(p->value("halo_stream_server_received_bytes_total", udp_l),
              static_cast<double>(kUdpIn));
    EXPECT_EQ(p->value("halo_stream_server_sent_bytes_total", tcp_l),
              static_cast<double>(base(halo_.port(1), "tcp").sent + kTcpBytes));
    EXPECT_EQ(
        p->value("halo_upstream_peer_requests_total", {{"upstream", "dns"}, {"block", "stream"}}),
        3.0);
}

TEST_F(StatusStreamTest, AnOpenSessionIsActiveUntilItEnds) {
    start();
    auto held = std::make_unique<HeldConnection>(halo_.port(1));
    ASSERT_TRUE(held->echo("hold-on"));
    std::optional<Json> j;
    ASSERT_TRUE(wait_until([&] {
        j = json();
        return j && delta(*j, halo_.port(1), "tcp").active == 1;
    }));
    Counts open = delta(*j, halo_.port(1), "tcp");
    EXPECT_EQ(open.connections, 1);
    EXPECT_EQ(open.total, 0);  // not ended: not in sessions yet
    held->close();
    ASSERT_TRUE(wait_until([&] {
        j = json();
        return j && delta(*j, halo_.port(1), "tcp").total == 1;
    }));
    Counts closed = delta(*j, halo_.port(1), "tcp");
    EXPECT_EQ(closed.active, 0);
    EXPECT_EQ(closed.s2xx, 1);
    EXPECT_EQ(closed.received, 7);
    EXPECT_EQ(closed.sent, 7);
}

TEST_F(StatusStreamTest, AReloadKeepsTheCounts) {
    start();
    send_traffic();
    std::optional<Json> before = settled();
    ASSERT_TRUE(before);
    std::vector<pid_t> old = halo_.workers();
    ASSERT_TRUE(halo_.signal(SIGHUP));
    ASSERT_EQ(halo_.wait_new_workers(2, old).size(), 2u) << halo_.error_log();
    std::optional<Json> after = json();
    ASSERT_TRUE(after);
    Counts tcp = delta(*after, halo_.port(1), "tcp");
    EXPECT_EQ(tcp.total, 5);
    EXPECT_EQ(tcp.received, kTcpBytes);
    EXPECT_EQ(delta(*after, halo_.port(2), "tcp").s5xx, 2);
    EXPECT_EQ(delta(*after, udp2_, "udp").sent, kUdpOut);
}

/// chromium (or chrome) on PATH, "" when none.
std::string find_chromium() {
    const char* path = getenv("PATH");
    std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
    for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
        for (size_t start = 0; start <= dirs.size();) {
            size_t colon = dirs.find(':', start);
            std::string dir = dirs.substr(start, colon - start);
            std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
            if (access(candidate.c_str(), X_OK) == 0) {
                return candidate;
            }
            if (colon == std::string::npos) {
                break;
            }
            start = colon + 1;
        }
    }
    return "";
}

TEST_F(StatusStreamTest, HtmlViewDrawsTheStreamServersInHeadlessChromium) {
    std::string chromium = find_chromium();
    if (chromium.empty()) {
        GTEST_SKIP() << "chromium is not installed (auto/deps --test installs it)";
    }
    start();
    send_traffic();
    std::optional<Json> j = settled();
    ASSERT_TRUE(j);
    const Json* bad = find_listen(*j, addr(halo_.port(2)), "tcp");
    ASSERT_NE(bad, nullptr);
    TempDir profile("halo-chromium");
    RunResult dom = run_command(
        {chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--user-data-dir=" + profile.path(), "--virtual-time-budget=3000", "--dump-dom",
         "http://127.0.0.1:" + std::to_string(halo_.port(0)) + "/dashboard"},
        90s);
    ASSERT_EQ(dom.status, 0) << dom;
    write_file(test_output_dir() + "/status-stream.dom.html", dom.out);
    auto has = [&](const std::string& re) { return std::regex_search(dom.out, std::regex(re)); };
    // One row per listen address, with the numbers of the JSON (nothing ran in between but
    // status requests, which are http).
    EXPECT_TRUE(has("class=\"stream-listen\" data-listen=\"" + addr(halo_.port(2)) +
                    "\" data-protocol=\"tcp\" data-connections=\"" +
                    std::to_string((*bad)["connections"].integer()) + "\" data-sessions=\"" +
                    std::to_string((*bad)["sessions"]["total"].integer()) + "\""))
        << dom.out;
    EXPECT_TRUE(has("data-listen=\"" + addr(udp2_) +
                    "\" data-protocol=\"udp\" "
                    "data-connections=\"3\" data-sessions=\"3\""))
        << dom.out;
    // The stream upstreams, marked as such.
    EXPECT_TRUE(has("<td>dns \\(stream\\)</td>")) << dom.out;
    EXPECT_TRUE(has("data-upstream=\"closed\" data-block=\"stream\"")) << dom.out;
    EXPECT_FALSE(has("id=\"updated\">never<")) << "the page never drew the JSON";
    EXPECT_FALSE(has("id=\"error\" style=\"display: block")) << dom.out;
}

}  // namespace
}  // namespace halo_test
