// The cluster view without the config system: peer URLs and the request sent for them, the
// JSON reader (a rendered page read back, escapes, malformed documents), the comparison of the
// nodes (split-brain, no master, faults, upstream servers seen differently; unreachable nodes
// left out) and its JSON; and PeerSet on a real loop against local sockets: a page read, a
// refused connection, a peer that never answers (the timeout), a round shared by the views
// that wait during it, the results reused while valid.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "modules/status/cluster.h"
#include "modules/status/cluster_fetch.h"
#include "support/event_wait.h"
#include "support/json.h"

namespace mod::status {
namespace {

using halo_test::Json;
using namespace std::chrono_literals;

TEST(ClusterTest, PeerUrls) {
    std::string err;
    auto u = parse_peer_url("http://10.0.0.2:8080/status", err);
    ASSERT_TRUE(u) << err;
    EXPECT_EQ(u->host, "10.0.0.2:8080");
    EXPECT_EQ(u->path, "/status");
    EXPECT_EQ(u->addr.text(), "10.0.0.2:8080");
    EXPECT_EQ(peer_request(*u),
              "GET /status?format=json&peers=off HTTP/1.0\r\nHost: 10.0.0.2:8080\r\n"
              "User-Agent: halo-status-peers\r\nAccept: application/json\r\n\r\n");

    u = parse_peer_url("http://[::1]/s?x=1", err);
    ASSERT_TRUE(u) << err;
    EXPECT_EQ(u->addr.text(), "[::1]:80");
    EXPECT_EQ(u->path, "/s?x=1");
    EXPECT_NE(peer_request(*u).find("GET /s?x=1&format=json&peers=off HTTP/1.0\r\n"),
              std::string::npos);

    u = parse_peer_url("http://127.0.0.1", err);
    ASSERT_TRUE(u) << err;
    EXPECT_EQ(u->path, "/");
    u = parse_peer_url("http://127.0.0.1?a=b", err);
    ASSERT_TRUE(u) << err;
    EXPECT_EQ(u->path, "/?a=b");

    struct Bad {
        const char* url;
        const char* err;
    };
    for (const Bad& b :
         {Bad{"https://10.0.0.1/status", "invalid URL prefix"},
          Bad{"10.0.0.1/status", "invalid URL prefix"}, Bad{"http:///status", "no host"},
          Bad{"http://10.0.0.1:0/", "invalid port"}, Bad{"http://10.0.0.1:70000/", "invalid port"},
          Bad{"http://10.0.0.1:x/", "invalid port"},
          Bad{"http://no-such-host.invalid/", "host not found"}}) {
        err.clear();
        EXPECT_FALSE(parse_peer_url(b.url, err)) << b.url;
        EXPECT_EQ(err, b.err) << b.url;
    }
}

TEST(ClusterTest, JsonReader) {
    auto v =
        parse_json(R"( {"a": [1, -2.5e1, true, false, null], "s": "x\"\\\/\n\u00e9\ud83d\ude00",
                             "o": {}} )");
    ASSERT_TRUE(v);
    EXPECT_EQ((*v)["a"].items.size(), 5u);
    EXPECT_EQ((*v)["a"].items[1].number, -25);
    EXPECT_TRUE((*v)["a"].items[2].boolean);
    EXPECT_FALSE((*v)["a"].items[3].boolean);
    EXPECT_EQ((*v)["a"].items[4].type, JsonValue::Type::kNull);
    EXPECT_EQ((*v)["s"].str(), "x\"\\/\n\xc3\xa9\xf0\x9f\x98\x80");
    EXPECT_EQ((*v)["o"].type, JsonValue::Type::kObject);
    EXPECT_EQ((*v)["missing"].type, JsonValue::Type::kNull);
    for (const char* bad : {"", "{", "[1,]", "{\"a\" 1}", "tru", "\"a", "{\"a\":1} x", "[1 2]",
                            "\"\x01\"", "\"\\q\"", "01x", "nan"}) {
        EXPECT_FALSE(parse_json(bad)) << bad;
    }
    std::string back;
    write_json(back, *v);
    EXPECT_EQ(back,
              "{\"a\":[1,-25,true,false,null],\"s\":\"x\\\"\\\\/\\n\xc3\xa9\xf0\x9f\x98\x80\","
              "\"o\":{}}");
    back.clear();
    write_json(back, *parse_json("[0.5, 1e300, -3]"));
    EXPECT_EQ(back, "[0.5,1.0000000000000001e+300,-3]");
    EXPECT_FALSE(parse_json(std::string(100, '[') + std::string(100, ']')));
    EXPECT_TRUE(parse_json(std::string(60, '[') + std::string(60, ']')));
}

Snapshot node_snapshot(const std::string& name, const std::string& state, int vrid,
                       const std::string& peer_state) {
    Snapshot s;
    s.version = "halo/1.0";
    s.node = name;
    s.now_ms = 1700000000000;
    VrrpView v;
    v.name = "VI_1";
    v.state = state;
    v.interface = "eth0";
    v.vrid = vrid;
    v.priority = 90;
    v.base_priority = 100;
    v.master = "10.0.0.1";
    v.addresses = {"10.0.0.100/24"};
    v.tracker = "track_script chk failed";
    v.failing = {"track_script chk"};
    s.vrrp.push_back(v);
    UpstreamView u;
    u.name = "app";
    PeerView p;
    p.server = "10.0.0.9:80";
    p.state = peer_state;
    p.down_reason = peer_state == "down" ? "health_check" : "";
    u.peers.push_back(p);
    s.upstreams.push_back(u);
    return s;
}

TEST(ClusterTest, APeersPageReadBack) {
    Snapshot s = node_snapshot("lb2", "BACKUP", 51, "down");
    auto page = parse_json(render_json(s));
    ASSERT_TRUE(page);
    NodeView n;
    ASSERT_TRUE(node_from_page(*page, n)) << n.error;
    EXPECT_TRUE(n.reachable);
    EXPECT_EQ(n.node, "lb2");
    EXPECT_EQ(n.fetched_ms, 1700000000000);
    ASSERT_EQ(n.vrrp.size(), 1u);
    EXPECT_EQ(n.vrrp[0].state, "BACKUP");
    EXPECT_EQ(n.vrrp[0].vrid, 51);
    EXPECT_EQ(n.vrrp[0].priority, 90);
    EXPECT_EQ(n.vrrp[0].base_priority, 100);
    EXPECT_EQ(n.vrrp[0].tracker, "track_script chk failed");
    EXPECT_EQ(n.vrrp[0].failing, std::vector<std::string>{"track_script chk"});
    ASSERT_EQ(n.upstreams.size(), 1u);
    EXPECT_EQ(n.upstreams[0].upstream, "app");
    EXPECT_EQ(n.upstreams[0].block, "http");
    EXPECT_EQ(n.upstreams[0].server, "10.0.0.9:80");
    EXPECT_EQ(n.upstreams[0].state, "down");
    EXPECT_EQ(n.upstreams[0].down_reason, "health_check");

    // Another module's state on the page (the anycast module's `anycast`) is carried as is.
    auto with_anycast = parse_json(
        "{\"node\":\"x\",\"vrrp\":[],\"upstreams\":[],"
        "\"anycast\":{\"address\":\"10.77.0.200/32\",\"announced\":true}}");
    ASSERT_TRUE(with_anycast);
    NodeView any;
    ASSERT_TRUE(node_from_page(*with_anycast, any));
    EXPECT_EQ(any.anycast, "{\"address\":\"10.77.0.200/32\",\"announced\":true}");
    EXPECT_EQ(n.anycast, "");

    NodeView other;
    EXPECT_FALSE(node_from_page(*parse_json("{\"a\": 1}"), other));
    EXPECT_EQ(other.error, "not a halo status page");
    EXPECT_FALSE(other.reachable);
}

TEST(ClusterTest, ComparesTheNodes) {
    ClusterView view;
    view.nodes.push_back(node_from_snapshot(node_snapshot("a", "MASTER", 51, "up"), "a"));
    NodeView b;
    ASSERT_TRUE(
        node_from_page(*parse_json(render_json(node_snapshot("b", "MASTER", 51, "down"))), b));
    b.url = "http://b/status";
    view.nodes.push_back(b);
    NodeView c;
    ASSERT_TRUE(node_from_page(*parse_json(render_json(node_snapshot("c", "FAULT", 52, "up"))), c));
    view.nodes.push_back(c);
    NodeView gone;  // unreachable: left out of every comparison
    gone.url = "http://d/status";
    gone.error = "timed out";
    gone.vrrp = node_snapshot("d", "MASTER", 51, "draining").vrrp;
    view.nodes.push_back(gone);
    analyse(view);

    ASSERT_EQ(view.split_brain.size(), 1u);
    EXPECT_EQ(view.split_brain[0].vrid, 51);
    EXPECT_EQ(view.split_brain[0].masters, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(view.no_master, std::vector<int>{52});
    ASSERT_EQ(view.faults.size(), 1u);
    EXPECT_EQ(view.faults[0], (std::pair<std::string, std::string>{"c", "VI_1"}));
    ASSERT_EQ(view.disagreements.size(), 1u);
    const Disagreement& d = view.disagreements[0];
    EXPECT_EQ(d.upstream, "app");
    EXPECT_EQ(d.server, "10.0.0.9:80");
    EXPECT_EQ(d.states.size(), 3u);

    std::string out;
    cluster_json(out, view);
    auto j = Json::parse(out);
    ASSERT_TRUE(j) << out;
    EXPECT_EQ((*j)["nodes"].size(), 4u);
    EXPECT_TRUE((*j)["nodes"][0]["self"].boolean());
    EXPECT_TRUE((*j)["nodes"][0]["url"].is_null());
    EXPECT_EQ((*j)["nodes"][1]["url"].str(), "http://b/status");
    EXPECT_FALSE((*j)["nodes"][3]["reachable"].boolean());
    EXPECT_EQ((*j)["nodes"][3]["error"].str(), "timed out");
    EXPECT_TRUE((*j)["nodes"][0]["anycast"].is_null());
    EXPECT_EQ((*j)["nodes"][2]["vrrp"][0]["tracker"].str(), "track_script chk failed");
    EXPECT_EQ((*j)["split_brain"][0]["masters"][1].str(), "b");
    EXPECT_EQ((*j)["no_master"][0].integer(), 52);
    EXPECT_EQ((*j)["faults"][0]["node"].str(), "c");
    EXPECT_EQ((*j)["disagreements"][0]["states"]["b"].str(), "down");
    EXPECT_EQ((*j)["disagreements"][0]["states"]["a"].str(), "up");
    EXPECT_EQ((*j)["nodes"][1]["upstreams"][0]["down_reason"].str(), "health_check");
    EXPECT_TRUE((*j)["nodes"][0]["upstreams"][0]["down_reason"].is_null());

    // A node listed twice (or two nodes of one name) is compared once.
    ClusterView twice;
    twice.nodes.push_back(node_from_snapshot(node_snapshot("a", "MASTER", 51, "up"), "a"));
    twice.nodes.push_back(view.nodes[0]);
    twice.nodes.back().self = false;
    analyse(twice);
    EXPECT_TRUE(twice.split_brain.empty());
    EXPECT_FALSE(twice.nodes[1].reachable);
    EXPECT_EQ(twice.nodes[1].error,
              "node_name \"a\" is in the view already (this node itself, or give each node its "
              "own node_name)");

    // The page carries it whole.
    Snapshot s = node_snapshot("a", "MASTER", 51, "up");
    s.cluster_json = out;
    auto page = Json::parse(render_json(s));
    ASSERT_TRUE(page);
    EXPECT_EQ((*page)["node"].str(), "a");
    EXPECT_EQ((*page)["cluster"]["split_brain"][0]["vrid"].integer(), 51);
    EXPECT_EQ((*page)["vrrp"][0]["failing"][0].str(), "track_script chk");
}

/// A listening socket on 127.0.0.1 (port chosen by the kernel); a thread answers each
/// connection with `reply` (when not empty) after reading the request head, counting them.
class PagePeer {
  public:
    explicit PagePeer(std::string reply, bool answer = true) : reply_(std::move(reply)) {
        fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
        socklen_t len = sizeof(a);
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        listen(fd_, 16);
        if (answer) {
            thread_ = std::thread([this] { serve(); });
        }
    }
    ~PagePeer() {
        stop_ = true;
        shutdown(fd_, SHUT_RDWR);
        if (thread_.joinable()) {
            thread_.join();
        }
        close(fd_);
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/status"; }
    int served() const { return served_; }
    std::string last_request() const { return last_; }

  private:
    void serve() {
        while (!stop_) {
            int c = accept(fd_, nullptr, nullptr);
            if (c < 0) {
                return;
            }
            std::string in;
            char buf[4096];
            while (in.find("\r\n\r\n") == std::string::npos) {
                ssize_t n = recv(c, buf, sizeof(buf), 0);
                if (n <= 0) {
                    break;
                }
                in.append(buf, static_cast<size_t>(n));
            }
            last_ = in;
            send(c, reply_.data(), reply_.size(), MSG_NOSIGNAL);
            close(c);
            served_++;
        }
    }
    std::string reply_;
    int fd_ = -1;
    uint16_t port_ = 0;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<int> served_{0};
    std::string last_;
};

std::string ok_page(const std::string& node) {
    std::string body = render_json(node_snapshot(node, "BACKUP", 51, "up"));
    return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

std::vector<PeerUrl> urls(std::initializer_list<std::string> list) {
    std::vector<PeerUrl> out;
    for (const std::string& u : list) {
        std::string err;
        out.push_back(*parse_peer_url(u, err));
    }
    return out;
}

TEST(PeerSetTest, ReadsPagesReportsFailuresAndSharesARound) {
    PagePeer good(ok_page("lb2"));
    PagePeer silent("", false);  // accepts (the backlog) and never answers
    PagePeer error("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    PagePeer junk("HTTP/1.1 200 OK\r\n\r\nnot json");
    // A port nobody listens on: made and closed.
    std::string refused;
    {
        PagePeer gone("", false);
        refused = gone.url();
    }
    ev::Loop loop;
    PeerSet set(urls({good.url(), silent.url(), error.url(), junk.url(), refused}), 300ms, 1h);
    EXPECT_FALSE(set.fresh());
    int ready = 0;
    set.wait(loop, [&] { ready++; });
    set.wait(loop, [&] { ready++; });  // the same round
    uint64_t cancelled = set.wait(loop, [&] { ready += 100; });
    set.cancel(cancelled);
    EXPECT_EQ(ready, 0);  // never from inside wait()
    EXPECT_EQ(set.rounds(), 1u);
    ASSERT_TRUE(halo_test::run_until(loop, [&] { return ready == 2; }));
    ASSERT_EQ(set.results().size(), 5u);
    const auto& r = set.results();
    EXPECT_TRUE(r[0].reachable) << r[0].error;
    EXPECT_EQ(r[0].node, "lb2");
    EXPECT_EQ(r[0].url, good.url());
    EXPECT_EQ(r[1].error, "timed out");
    EXPECT_EQ(r[2].error, "answered \"403 Forbidden\"");
    EXPECT_EQ(r[3].error, "the page is not JSON");
    EXPECT_EQ(r[4].error, "connect() failed (111: Connection refused)");
    for (size_t i = 1; i < 5; i++) {
        EXPECT_FALSE(r[i].reachable) << i;
    }
    EXPECT_NE(good.last_request().find("GET /status?format=json&peers=off HTTP/1.0\r\n"),
              std::string::npos)
        << good.last_request();
    // Valid for an hour: no new round.
    EXPECT_TRUE(set.fresh());
    EXPECT_EQ(good.served(), 1);
}

TEST(PeerSetTest, ANewRoundOnceTheResultsAreOld) {
    PagePeer good(ok_page("lb3"));
    ev::Loop loop;
    PeerSet set(urls({good.url()}), 2s, 0ms);  // valid 0: every view after a round fetches
    int ready = 0;
    set.wait(loop, [&] { ready++; });
    ASSERT_TRUE(halo_test::run_until(loop, [&] { return ready == 1; }));
    EXPECT_FALSE(set.fresh());
    set.wait(loop, [&] { ready++; });
    ASSERT_TRUE(halo_test::run_until(loop, [&] { return ready == 2; }));
    EXPECT_EQ(set.rounds(), 2u);
    EXPECT_EQ(good.served(), 2);
    EXPECT_EQ(set.results()[0].node, "lb3");
}

}  // namespace
}  // namespace mod::status
