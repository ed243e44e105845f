// `halo -t` on vrrp configurations through the real binary: issue 6's example as written, the
// three-node cluster of conf/examples, and errors naming file:line and the directive.
#include "support/harness.h"

namespace halo_test {
namespace {

class VrrpConfigTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("vrrp")) {
            GTEST_SKIP() << "halo is built without the vrrp module";
        }
    }
    Halo halo_;
};

TEST_F(VrrpConfigTest, IssueExamplePasses) {
    halo_.write_conf(R"(events {}
http {
    upstream tomcats { server 127.0.0.1:8080; }
}
vrrp {
    version 2;                      # 3 by default
    vrrp_instance VI_1 {
        state BACKUP;
        interface eth0;
        virtual_router_id 51;
        priority 100;
        advert_int 1000ms;          # 1s, 100ms, ...
        authentication { auth_type PASS; auth_pass 1111; }   # v2 only
        virtual_ipaddress { 10.77.0.100/24; }
        track_upstream tomcats weight=-50;
    }
}
)");
    RunResult r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_NE(r.err.find("test is successful"), std::string::npos) << r;
}

TEST_F(VrrpConfigTest, TrackUpstreamNamesAStreamOnlyUpstream) {
    if (!halo_has_module("stream_proxy")) {
        GTEST_SKIP() << "halo is built without the stream modules";
    }
    // `tls` exists only in the stream block; `app` in both (the http one is tracked).
    std::string conf = R"(events {}
http {
    upstream app { server 127.0.0.1:8080; }
}
stream {
    upstream tls { server 127.0.0.1:8443; server 127.0.0.1:8444; }
    upstream app { server 127.0.0.1:9000; }
    server { listen 127.0.0.1:%%PORT_0%%; proxy_pass tls; }
}
vrrp {
    vrrp_instance VI_1 {
        interface eth0;
        virtual_router_id 51;
        virtual_ipaddress { 10.77.0.100/24; }
        track_upstream app fault;
        track_upstream %%NAME%% weight=-50;
    }
}
)";
    auto with = [&](const std::string& name) {
        std::string c = conf;
        c.replace(c.find("%%NAME%%"), 8, name);
        return c;
    };
    halo_.write_conf(with("tls"));
    RunResult r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_NE(r.err.find("test is successful"), std::string::npos) << r;
    // A name in neither block is still an error naming the line.
    halo_.write_conf(with("nope"));
    r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("unknown upstream \"nope\" in \"track_upstream\" in " + halo_.conf_path() +
                         ":16"),
              std::string::npos)
        << r;
}

TEST_F(VrrpConfigTest, ClusterExamplesPass) {
    for (const char* name : {"ha-node", "active-active-node"}) {
        for (int n = 1; n <= 3; n++) {
            std::string conf = halo_top() + "/conf/examples/" + name + std::to_string(n) + ".conf";
            RunResult r = halo_.run_raw({"-t", "-p", halo_.prefix() + "/", "-c", conf});
            EXPECT_EQ(r.status, 0) << conf << "\n" << r;
        }
    }
}

TEST_F(VrrpConfigTest, SingleProcessSaysItRunsNoVrrpHelper) {
    halo_.write_conf(
        "daemon off;\nmaster_process off;\nerror_log logs/error.log notice;\nevents {}\n"
        "http {\n  server {\n    listen 127.0.0.1:%%PORT_0%%;\n"
        "    location / { return 200 \"single\\n\"; }\n  }\n}\n"
        "vrrp {\n  vrrp_instance VI_1 {\n    interface lo;\n    virtual_router_id 51;\n"
        "    virtual_ipaddress { 10.77.0.100/24; }\n  }\n}\n");
    ASSERT_TRUE(halo_.start());
    EXPECT_EQ(halo_.get_body(), "single\n");
    EXPECT_NE(
        halo_.error_log().find("[warn] " + std::to_string(halo_.master_pid()) +
                               "#0: the vrrp instances do not run with \"master_process off\""),
        std::string::npos)
        << halo_.error_log();
}

TEST_F(VrrpConfigTest, ErrorsNameFileLineAndDirective) {
    struct Case {
        std::string body;
        std::string message;
        int line;
    };
    const Case cases[] = {
        {"vrrp {\n  vrrp_instance A {\n    interface eth0;\n    virtual_router_id 51;\n"
         "    priority 300;\n  }\n}\n",
         "invalid value \"300\" in \"priority\" directive, it must be 1..255", 5},
        {"vrrp {\n  vrrp_instance A {\n    interface eth0;\n    virtual_router_id 0;\n  }\n}\n",
         "invalid value \"0\" in \"virtual_router_id\" directive, it must be 1..255", 4},
        {"vrrp {\n  version 2;\n  vrrp_instance A {\n    interface eth0;\n"
         "    virtual_router_id 1;\n    advert_int 100ms;\n  }\n}\n",
         "invalid value \"100ms\" in \"advert_int\" directive, VRRP version 2 needs whole "
         "seconds (1s..255s)",
         6},
        {"vrrp {\n  vrrp_instance A {\n    interface eth0;\n    virtual_router_id 1;\n"
         "    authentication { auth_type PASS; auth_pass x; }\n  }\n}\n",
         "\"authentication\" is only allowed with VRRP version 2 (vrrp_instance \"A\" uses "
         "version 3)",
         5},
    };
    for (const Case& c : cases) {
        halo_.write_conf("events {}\n" + c.body);
        RunResult r = halo_.run({"-t"});
        EXPECT_EQ(r.status, 1) << r;
        std::string want = "halo: [emerg] " + c.message + " in " + halo_.conf_path() + ":" +
                           std::to_string(c.line + 1) + "\n";
        EXPECT_NE(r.err.find(want), std::string::npos) << "expected: " << want << r;
    }
}

}  // namespace
}  // namespace halo_test
