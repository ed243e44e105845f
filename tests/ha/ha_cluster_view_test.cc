// One view of the cluster (docs/status.md, "Cluster view") through the real binary, in the
// namespace lab: three halo nodes (node_name n1..n3), each listing the two others in
// `status_peers`. All three proxy /app to one backend at 10.77.0.60:80 and 10.77.0.61:80
// (addresses of node 2, served by its halo); node 3 has lost its routes to them (`prohibit`
// routes), so its group goes down and its VI_1 (track_upstream app fault) enters FAULT. Every
// node's page shows it: the JSON (node 3 in FAULT with the tracker that put it there, the upstream
// server seen down by node 3 only, no split-brain) and the HTML page rendered in headless Chromium
// from the client namespace (the FAULT row, the alert, the odd cell). A second test makes a
// split-brain (node 3 advertises to an address nobody has and hears nobody): both masters are
// flagged, in the JSON and in red on the page in Chromium.
#include <regex>
#include <string>
#include <vector>

#include "ha_lab.h"
#include "support/json.h"

namespace halo_test {
namespace {

constexpr const char* kBackend = "10.77.0.60";
constexpr const char* kBackend2 = "10.77.0.61";

/// The http-block lines and the server-block lines of node i.
std::string http_top(int i) {
    return "  node_name n" + std::to_string(i) + ";\n  upstream app {\n    server " + kBackend +
           ":80 max_fails=1 fail_timeout=1h;\n    server " + kBackend2 +
           ":80 max_fails=1 fail_timeout=1h;\n  }\n";
}
std::string server_extra(int i) {
    std::string peers;
    for (int p = 1; p <= 3; p++) {
        if (p != i) {
            peers += " http://10.77.0." + std::to_string(p) + "/status";
        }
    }
    return "    location = /status { status; status_peers" + peers +
           "; status_peers_timeout 2s; }\n"
           "    location = /dashboard { status format=html; status_peers" +
           peers +
           "; status_peers_timeout 2s; }\n"
           "    location /app { proxy_pass http://app/; }\n";
}

/// The first of the usual names of Chromium in /usr/bin, or "".
std::string find_chromium() {
    for (const char* path : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
        if (access(path, X_OK) == 0) {
            return path;
        }
    }
    return "";
}

class ClusterViewTest : public HaTest {
  protected:
    /// Nodes 1..3 with priorities 100/90/80; `extra` is added to node 3's instance.
    void start(const std::string& node3_extra) {
        int prio[] = {100, 90, 80};
        for (int i = 1; i <= 3; i++) {
            std::string extra = "advert_int 100ms;\n    track_upstream app fault;\n";
            if (i == 3) {
                extra += node3_extra;
            }
            nodes_.push_back(std::make_unique<HaloNode>(lab_, i, instance(prio[i - 1], extra),
                                                        http_top(i), server_extra(i)));
        }
        node(1).start();
        ASSERT_TRUE(wait_until([&] { return lab_.has_vip(1); }, 20s)) << node(1).error_log();
        node(2).start();
        node(3).start();
    }
    /// Node i's page as JSON (null when it cannot be read).
    Json page(int i, const std::string& query = "") {
        last_ = lab_.curl("http://10.77.0." + std::to_string(i) + "/status" + query);
        auto j = Json::parse(last_);
        return j ? *j : Json();
    }
    std::string last_;  // the last page read

    /// Node i's /dashboard rendered by headless Chromium run in the client namespace: its DOM
    /// in `dom`, saved with a screenshot as `<name>.dom.html` and `<name>.png` in the test's
    /// output folder. False when chromium is not installed.
    bool dashboard(int i, const std::string& name, std::string& dom) {
        std::string chromium = find_chromium();
        if (chromium.empty()) {
            return false;
        }
        TempDir profile("halo-chromium");
        std::string out = test_output_dir();
        std::vector<std::string> base = {"ip",
                                         "netns",
                                         "exec",
                                         lab_.ns("cl"),
                                         chromium,
                                         "--headless",
                                         "--no-sandbox",
                                         "--disable-gpu",
                                         "--no-first-run",
                                         "--user-data-dir=" + profile.path(),
                                         "--virtual-time-budget=5000"};
        std::string url = "http://10.77.0." + std::to_string(i) + "/dashboard";
        auto dom_args = base;
        dom_args.push_back("--dump-dom");
        dom_args.push_back(url);
        RunResult r = run_command(dom_args, 90s);
        EXPECT_EQ(r.status, 0) << r;
        dom = r.out;
        write_file(out + "/" + name + ".dom.html", dom);
        std::string png = out + "/" + name + ".png";
        auto shot_args = base;
        shot_args.push_back("--screenshot=" + png);
        shot_args.push_back("--window-size=1280,1000");
        shot_args.push_back(url);
        RunResult shot = run_command(shot_args, 90s);
        EXPECT_EQ(shot.status, 0) << shot;
        EXPECT_TRUE(read_file(png).has_value()) << "no screenshot at " << png;
        return true;
    }
    /// The entry for node `name` in a page's cluster.nodes (null when absent).
    static Json node_entry(const Json& page, const std::string& name) {
        const Json& nodes = page["cluster"]["nodes"];
        for (size_t k = 0; k < nodes.size(); k++) {
            if (nodes[k]["node"].str() == name) {
                return nodes[k];
            }
        }
        return Json();
    }
    static std::string state_of(const Json& page, const std::string& name) {
        Json n = node_entry(page, name);
        return n["vrrp"].is_array() && n["vrrp"].size() == 1 ? n["vrrp"][0]["state"].str() : "";
    }
};

TEST_F(ClusterViewTest, ThreeNodesOneInFaultEveryNodeShowsIt) {
    // The backend's two addresses, on node 2 (its halo listens on port 80 of every address;
    // /app goes to its `location /`). Node 3 cannot reach them (prohibit routes).
    for (const char* a : {kBackend, kBackend2}) {
        ASSERT_EQ(
            ip({"-n", lab_.node(2), "addr", "add", std::string(a) + "/24", "dev", "eth0"}).status,
            0);
        ASSERT_EQ(
            ip({"-n", lab_.node(3), "route", "add", "prohibit", std::string(a) + "/32"}).status, 0);
    }
    start("");
    ASSERT_TRUE(wait_until(
        [&] {
            Json p = page(1);
            return state_of(p, "n1") == "MASTER" && state_of(p, "n2") == "BACKUP" &&
                   state_of(p, "n3") == "BACKUP";
        },
        20s))
        << last_;
    EXPECT_EQ(lab_.curl("http://10.77.0.1/app"), "node2\n");  // through the backend

    // A request through node 3 fails (its route is gone): the group is down there, VI_1
    // enters FAULT.
    lab_.curl("http://10.77.0.3/app");
    ASSERT_TRUE(wait_until([&] { return node(3).count("-> FAULT") == 1; }, 10s))
        << node(3).error_log();

    for (int viewer = 1; viewer <= 2; viewer++) {
        Json p;
        ASSERT_TRUE(wait_until(
            [&] {
                p = page(viewer);
                return state_of(p, "n3") == "FAULT";
            },
            10s))
            << last_;
        EXPECT_EQ(p["node"].str(), "n" + std::to_string(viewer));
        const Json& c = p["cluster"];
        ASSERT_EQ(c["nodes"].size(), 3u) << last_;
        EXPECT_EQ(c["nodes"][0]["node"].str(), p["node"].str());
        EXPECT_TRUE(c["nodes"][0]["self"].boolean());
        for (size_t k = 0; k < 3; k++) {
            EXPECT_TRUE(c["nodes"][k]["reachable"].boolean()) << last_;
        }
        EXPECT_EQ(state_of(p, "n1"), "MASTER");
        EXPECT_EQ(state_of(p, "n2"), "BACKUP");
        Json n3 = node_entry(p, "n3")["vrrp"][0];
        EXPECT_EQ(n3["tracker"].str(), "track_upstream app failed");
        ASSERT_EQ(n3["failing"].size(), 1u);
        EXPECT_EQ(n3["failing"][0].str(), "track_upstream app");
        EXPECT_EQ(node_entry(p, "n3")["url"].str(), "http://10.77.0.3/status");
        ASSERT_EQ(c["faults"].size(), 1u) << last_;
        EXPECT_EQ(c["faults"][0]["node"].str(), "n3");
        EXPECT_EQ(c["faults"][0]["instance"].str(), "VI_1");
        EXPECT_EQ(c["split_brain"].size(), 0u);
        // The backend as each node sees it: node 3 alone has its servers down.
        ASSERT_EQ(c["disagreements"].size(), 2u) << last_;
        for (size_t k = 0; k < 2; k++) {
            const Json& d = c["disagreements"][k];
            EXPECT_EQ(d["upstream"].str(), "app");
            EXPECT_EQ(d["server"].str(), std::string(k == 0 ? kBackend : kBackend2) + ":80");
            EXPECT_EQ(d["states"]["n1"].str(), "up");
            EXPECT_EQ(d["states"]["n2"].str(), "up");
            EXPECT_EQ(d["states"]["n3"].str(), "down");
        }
        // Why node 3 has them down: max_fails (the failed attempts), not a health check.
        EXPECT_EQ(node_entry(p, "n3")["upstreams"][0]["down_reason"].str(), "failures");
        EXPECT_TRUE(node_entry(p, "n1")["upstreams"][0]["down_reason"].is_null());
    }
    // Its own page says the same about itself (its vrrp entry, and no peers with peers=off).
    Json own = page(3, "?peers=off");
    EXPECT_FALSE(own["cluster"].is_object());
    EXPECT_EQ(own["vrrp"][0]["state"].str(), "FAULT");
    EXPECT_EQ(own["vrrp"][0]["tracker"].str(), "track_upstream app failed");

    // The HTML page in headless Chromium, from the client namespace, on node 1.
    std::string dom;
    if (!dashboard(1, "cluster", dom)) {
        GTEST_SKIP() << "chromium is not installed (auto/deps --test installs it)";
    }
    auto has = [&](const std::string& re) { return std::regex_search(dom, std::regex(re)); };
    EXPECT_TRUE(has("<span id=\"node\">n1</span>")) << dom;
    EXPECT_TRUE(
        has("class=\"cluster-vrrp fault\" data-node=\"n3\" data-instance=\"VI_1\" "
            "data-state=\"FAULT\""))
        << dom;
    EXPECT_TRUE(has("data-node=\"n1\" data-instance=\"VI_1\" data-state=\"MASTER\""));
    EXPECT_TRUE(has("data-node=\"n2\" data-instance=\"VI_1\" data-state=\"BACKUP\""));
    EXPECT_TRUE(has("<td>track_upstream app failed</td>"));
    EXPECT_TRUE(has("class=\"alert warn fault\">n3: VI_1 is in FAULT<"));
    EXPECT_TRUE(has("class=\"cluster-upstream disagree\" data-upstream=\"app\" data-server=\"" +
                    std::string(kBackend) + ":80\" data-disagree=\"true\""));
    EXPECT_TRUE(
        has("class=\"cluster-peer odd\" data-node=\"n3\" data-state=\"down\" "
            "title=\"down: failures\""))
        << dom;
    EXPECT_FALSE(has("class=\"alert split-brain\""));
    EXPECT_FALSE(has("id=\"error\" style=\"display: block")) << dom;
}

TEST_F(ClusterViewTest, SplitBrainIsFlagged) {
    // Node 3 advertises to an address nobody has and joins no group: it hears nobody, takes
    // the VIP as well, and nobody hears it.
    start("    unicast_src_ip 10.77.0.3;\n    unicast_peer { 10.77.0.99; }\n");
    Json p;
    ASSERT_TRUE(wait_until(
        [&] {
            p = page(2);
            return state_of(p, "n1") == "MASTER" && state_of(p, "n3") == "MASTER";
        },
        20s))
        << last_;
    const Json& c = p["cluster"];
    ASSERT_EQ(c["split_brain"].size(), 1u) << last_;
    EXPECT_EQ(c["split_brain"][0]["vrid"].integer(), 51);
    ASSERT_EQ(c["split_brain"][0]["masters"].size(), 2u);
    EXPECT_EQ(c["split_brain"][0]["masters"][0].str(), "n1");
    EXPECT_EQ(c["split_brain"][0]["masters"][1].str(), "n3");
    EXPECT_EQ(c["faults"].size(), 0u);
    EXPECT_EQ(c["disagreements"].size(), 0u);

    // Node 2's page in headless Chromium: the red alert and both masters' rows marked.
    std::string dom;
    if (!dashboard(2, "split-brain", dom)) {
        GTEST_SKIP() << "chromium is not installed (auto/deps --test installs it)";
    }
    auto has = [&](const std::string& re) { return std::regex_search(dom, std::regex(re)); };
    EXPECT_TRUE(has("class=\"alert split-brain\">Split brain: VRID 51 has 2 masters: n1, n3<"))
        << dom;
    EXPECT_TRUE(
        has("class=\"cluster-vrrp split\" data-node=\"n1\" data-instance=\"VI_1\" "
            "data-state=\"MASTER\""));
    EXPECT_TRUE(
        has("class=\"cluster-vrrp split\" data-node=\"n3\" data-instance=\"VI_1\" "
            "data-state=\"MASTER\""));
    EXPECT_TRUE(
        has("class=\"cluster-vrrp split\" data-node=\"n2\" data-instance=\"VI_1\" "
            "data-state=\"BACKUP\""));
}

}  // namespace
}  // namespace halo_test
