// node_name and the status_peers directives: accepted forms, every rejection with its
// file:line, the name on the JSON and Prometheus pages, and `?peers=off` (what a node asks its
// peers) answered without any peer.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "modules/status/cluster.h"
#include "support/http_unit.h"
#include "support/json.h"
#include "support/prometheus.h"

namespace mod::status {
namespace {

using halo_test::Json;
using halo_test::PromText;
using ::testing::HasSubstr;

class ClusterConfigTest : public support::HttpUnitTest {};

TEST_F(ClusterConfigTest, NodeNameOnEveryPage) {
    ASSERT_TRUE(load("http {\n node_name lb7;\n server {\n  listen 127.0.0.1:8080;\n"
                     "  location = /s { status; }\n }\n}\n")
                    .is_ok());
    auto j = Json::parse(get("/s").body);
    ASSERT_TRUE(j);
    EXPECT_EQ((*j)["node"].str(), "lb7");
    EXPECT_FALSE((*j).has("cluster"));  // no status_peers
    auto p = PromText::parse(get("/s?format=prometheus").body);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->value("halo_info", {{"node", "lb7"}}), 1.0);
}

TEST_F(ClusterConfigTest, TheHostNameByDefault) {
    serve("  location = /s { status; }");
    auto j = Json::parse(get("/s").body);
    ASSERT_TRUE(j);
    EXPECT_EQ((*j)["node"].str(), default_node_name());
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    EXPECT_EQ(default_node_name(), host);
}

TEST_F(ClusterConfigTest, PeersOffAnswersAlone) {
    serve(
        "  location = /s { status; status_peers http://127.0.0.1:1/status "
        "http://[::1]:2/s; status_peers_timeout 200ms; status_peers_valid 0; }");
    auto j = Json::parse(get("/s?format=json&peers=off").body);
    ASSERT_TRUE(j);
    EXPECT_FALSE((*j).has("cluster"));
    EXPECT_TRUE((*j)["vrrp"].is_array());
}

TEST_F(ClusterConfigTest, Rejections) {
    EXPECT_EQ(server_error("  location / { status; status_peers https://10.0.0.2/status; }"),
              "invalid URL prefix in \"https://10.0.0.2/status\" of the \"status_peers\" "
              "directive" +
                  at(4));
    EXPECT_EQ(
        server_error("  location / { status; status_peers http://10.0.0.2:99999/; }"),
        "invalid port in \"http://10.0.0.2:99999/\" of the \"status_peers\" directive" + at(4));
    EXPECT_EQ(server_error("  location / { status; status_peers http://10.0.0.2/; "
                           "status_peers http://10.0.0.3/; }"),
              "\"status_peers\" directive is duplicate" + at(4));
    EXPECT_EQ(
        server_error("  location /x { status_peers http://10.0.0.2/; }"),
        "\"status_peers\" in a location without \"status\" in " + dir_.file("halo.conf") + ":4");
    EXPECT_THAT(server_error("  location / { status; status_peers; }"),
                HasSubstr("invalid number of arguments in \"status_peers\" directive"));
    EXPECT_THAT(server_error("  location / { status; status_peers_timeout 0; }"),
                HasSubstr("\"status_peers_timeout\""));
    EXPECT_THAT(server_error("  location / { status; status_peers_valid soon; }"),
                HasSubstr("invalid value \"soon\" in \"status_peers_valid\" directive"));
    EXPECT_THAT(server_error("  status_peers http://10.0.0.2/;"),
                HasSubstr("\"status_peers\" directive is not allowed here" + at(4)));
    EXPECT_THAT(server_error("  node_name a;"),
                HasSubstr("\"node_name\" directive is not allowed here" + at(4)));
    EXPECT_THAT(error("http {\n node_name a;\n node_name b;\n}\n"),
                HasSubstr("\"node_name\" directive is duplicate"));
    EXPECT_THAT(error("http {\n node_name \"\";\n}\n"),
                HasSubstr("invalid value \"\" in \"node_name\" directive, it must not be empty"));
}

}  // namespace
}  // namespace mod::status
