// The cluster view through the real binary on loopback (docs/status.md, "Cluster view"): node
// "a" lists node "b" (another halo) and a peer that accepts connections and never answers. Its
// page shows both (b read, the other "timed out"); views that come while a round of fetches
// runs share it (one request to b for ten concurrent views); results are reused while
// `status_peers_valid` lasts; a client that leaves while its view waits is let go and the
// worker goes on. Counts, never times: the silent peer holds each round for its
// status_peers_timeout (3s), a generous window for ten local requests to arrive in.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"
#include "support/json.h"

namespace halo_test {
namespace {

/// A socket that listens on a free loopback port and never accepts: connections complete
/// (the backlog) and get no answer.
class SilentPeer {
  public:
    SilentPeer() {
        fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
        socklen_t len = sizeof(a);
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        listen(fd_, 64);
    }
    ~SilentPeer() { close(fd_); }
    uint16_t port() const { return port_; }

  private:
    int fd_ = -1;
    uint16_t port_ = 0;
};

class StatusPeersTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_status")) {
            GTEST_SKIP() << "halo is built without the http_status module";
        }
        b_.write_conf(
            "daemon off;\nworker_processes 1;\nerror_log logs/error.log info;\nevents {}\n"
            "http {\n  node_name b;\n  server {\n    listen 127.0.0.1:%%PORT_0%%;\n"
            "    location = /status { status; }\n  }\n}\n");
        ASSERT_TRUE(b_.start());
        std::string peer_b = "http://127.0.0.1:" + std::to_string(b_.port(0)) + "/status";
        std::string silent = "http://127.0.0.1:" + std::to_string(silent_.port()) + "/status";
        a_.write_conf(
            "daemon off;\nworker_processes 1;\nerror_log logs/error.log info;\nevents {}\n"
            "http {\n  node_name a;\n  server {\n    listen 127.0.0.1:%%PORT_0%%;\n"
            "    location = /status { status; status_peers " +
            peer_b + " " + silent +
            "; status_peers_timeout 3s; status_peers_valid 0; }\n"
            "    location = /cached { status; status_peers " +
            peer_b +
            "; status_peers_valid 1h; }\n"
            "  }\n}\n");
        ASSERT_TRUE(a_.start());
    }
    /// Requests b's access log shows from a (its peer fetches).
    size_t fetched_from_b() const {
        std::string log = read_file(b_.path("logs/access.log")).value_or("");
        return log_lines_with(log, "GET /status?format=json&peers=off HTTP/1.0").size();
    }

    SilentPeer silent_;
    Halo b_;
    Halo a_;
};

TEST_F(StatusPeersTest, ConcurrentViewsShareOneRoundOfFetches) {
    constexpr int kViews = 10;
    std::vector<std::string> bodies(kViews);
    std::vector<std::thread> threads;
    for (int i = 0; i < kViews; i++) {
        threads.emplace_back([&, i] { bodies[i] = get_body(a_.port(0), "/status"); });
    }
    for (auto& t : threads) {
        t.join();
    }
    for (int i = 0; i < kViews; i++) {
        auto j = Json::parse(bodies[i]);
        ASSERT_TRUE(j) << bodies[i];
        EXPECT_EQ((*j)["node"].str(), "a");
        const Json& nodes = (*j)["cluster"]["nodes"];
        ASSERT_EQ(nodes.size(), 3u) << bodies[i];
        EXPECT_TRUE(nodes[0]["self"].boolean());
        EXPECT_EQ(nodes[1]["node"].str(), "b");
        EXPECT_TRUE(nodes[1]["reachable"].boolean());
        EXPECT_FALSE(nodes[2]["reachable"].boolean());
        EXPECT_EQ(nodes[2]["error"].str(), "timed out");
    }
    ASSERT_TRUE(wait_until([&] { return fetched_from_b() >= 1; }));
    EXPECT_EQ(fetched_from_b(), 1u) << "ten views, one round";
    std::string log = read_file(b_.path("logs/access.log")).value_or("");
    EXPECT_EQ(log_lines_with(log, "\"halo-status-peers\"").size(), 1u) << log;
}

TEST_F(StatusPeersTest, ResultsAreReusedWhileValid) {
    for (int i = 0; i < 5; i++) {
        auto j = Json::parse(get_body(a_.port(0), "/cached"));
        ASSERT_TRUE(j);
        EXPECT_TRUE((*j)["cluster"]["nodes"][1]["reachable"].boolean());
    }
    ASSERT_TRUE(wait_until([&] { return fetched_from_b() >= 1; }));
    EXPECT_EQ(fetched_from_b(), 1u);
    // ?peers=off: this node alone, nothing fetched.
    auto j = Json::parse(get_body(a_.port(0), "/cached?peers=off"));
    ASSERT_TRUE(j);
    EXPECT_FALSE(j->has("cluster"));
    EXPECT_EQ(fetched_from_b(), 1u);
}

TEST_F(StatusPeersTest, AClientThatLeavesWhileItsViewWaitsIsLetGo) {
    HttpConnection c;
    ASSERT_TRUE(c.connect(a_.port(0)));
    ASSERT_TRUE(c.send(get_request("/status")));
    // The view waits for the silent peer; the client goes away.
    ASSERT_TRUE(wait_until([&] { return fetched_from_b() >= 1; }));
    c.close();
    ASSERT_TRUE(wait_until([&] {
        return !log_lines_with(a_.error_log(), "client prematurely closed").empty();
    })) << a_.error_log();
    // The worker goes on serving, the next view gets its answer.
    auto j = Json::parse(get_body(a_.port(0), "/status"));
    ASSERT_TRUE(j);
    EXPECT_EQ((*j)["cluster"]["nodes"].size(), 3u);
    EXPECT_TRUE(log_lines_with(a_.error_log(), "exited on signal").empty()) << a_.error_log();
}

}  // namespace
}  // namespace halo_test
