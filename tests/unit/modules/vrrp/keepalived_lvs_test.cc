// `halo --import-keepalived`, the virtual_server half: each virtual_server becomes a layer-4
// service of the `stream { }` block (an upstream with its health_check, a stream server that
// listens TCP or UDP and proxies to it). The text is checked exactly; then the output is
// loaded by halo's own config code, as `halo -t` does (that needs the stream core).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "auto_config.h"
#include "core/cycle.h"
#include "modules/vrrp/keepalived_import.h"
#include "support/test_modules.h"

namespace vrrp::keepalived {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class KeepalivedLvsTest : public ::testing::Test {
  protected:
    KeepalivedLvsTest() : registry_(core::compiled_modules()) {}

    void import(std::string_view text) {
        result_ = ImportResult();
        core::Status s = import_text(text, "k.conf", result_);
        ASSERT_TRUE(s.is_ok()) << s.message();
    }
    /// The output's `stream { ... }` block, up to its closing brace (empty when it has none).
    std::string stream() const {
        const std::string& c = result_.conf;
        size_t at = c.find("\nstream {\n");
        size_t end = at == std::string::npos ? at : c.find("\n}\n", at);
        return end == std::string::npos ? "" : c.substr(at + 1, end + 2 - at);
    }
    /// Loads the output with halo's config code (as `halo -t` does).
    void expect_loads() {
        std::unique_ptr<core::Cycle> cycle;
        core::Status l =
            support::load_cycle(registry_, dir_, result_.conf, cycle, nullptr, {}, true);
        EXPECT_TRUE(l.is_ok()) << l.message() << "\n" << result_.conf;
    }

    support::TempDir dir_;
    core::ModuleRegistry registry_;
    ImportResult result_;
};

/// The comment above each listen.
std::string bind_comment(const std::string& ip) {
    return "        # halo binds " + ip +
           " itself: where that address is absent (a VRRP backup),\n"
           "        # the bind fails unless the sysctl net.ipv4.ip_nonlocal_bind=1 (ipv6: "
           "ip_nonlocal_bind\n"
           "        # of net.ipv6) is set, which lets every node start.\n";
}

/// The comment under the virtual_server's, for its lb_kind.
std::string kind_comment(const std::string& kind) {
    return "    # lb_kind " + kind +
           ": halo is a full proxy, the real servers see this node's address\n"
           "    # (not the client's: `proxy_protocol on;` in the server can carry it)\n";
}

// The seed's virtual_server (tests/data/keepalived/classic-cluster.conf, from the seed's
// keepalived.conf): its real_server there has no address (reported, see
// keepalived_import_test in tests/integration), here it has one. TLS on 443 passes through.
TEST_F(KeepalivedLvsTest, SeedVirtualServerBecomesTlsPassThrough) {
    import(R"(virtual_server 192.168.200.100 443 {
delay_loop 6
lb_algo rr
lb_kind NAT
persistence_timeout 50
protocol TCP
real_server 192.168.200.2 443 {
weight 1
connect_timeout 3
nb_get_retry 3
delay_before_retry
}
}
)");
    EXPECT_EQ(stream(),
              "stream {\n"
              "    # keepalived virtual_server 192.168.200.100 443 (k.conf:1)\n" +
                  kind_comment("NAT") +
                  "    upstream vs_192_168_200_100_443 {\n"
                  "        server 192.168.200.2:443;\n"
                  "        persistence_timeout 50s;\n"
                  "    }\n"
                  "    server {\n" +
                  bind_comment("192.168.200.100") +
                  "        listen 192.168.200.100:443;\n"
                  "        proxy_pass vs_192_168_200_100_443;\n"
                  "    }\n"
                  "}\n");
    EXPECT_THAT(result_.skipped,
                ElementsAre("k.conf:11: keepalived keyword \"delay_before_retry\" is not "
                            "supported (skipped)"));
    // No http block: the user's goes next to the stream block, as the comment says.
    EXPECT_EQ(result_.conf.find("\nhttp {"), std::string::npos);
    EXPECT_THAT(result_.conf, HasSubstr("# The virtual_servers, as layer-4 services. The http { "
                                        "} block of your\n# nginx.conf goes next to this "
                                        "stream { } block"));
    expect_loads();
}

TEST_F(KeepalivedLvsTest, OutputWithOnlyAStreamBlock) {
    import("virtual_server 10.0.0.1 25 {\n  real_server 10.0.0.2 25 {\n  }\n}\n");
    EXPECT_EQ(result_.conf,
              "# halo.conf imported from the keepalived configuration k.conf\n"
              "# by `halo --import-keepalived` (halo " HALO_VERSION
              "). The keepalived keywords it could\n"
              "# not map were listed on stderr with their lines; see "
              "docs/migrating-keepalived.md.\n"
              "\n"
              "events {\n"
              "    worker_connections 1024;\n"
              "}\n"
              "\n"
              "# The virtual_servers, as layer-4 services. The http { } block of your\n"
              "# nginx.conf goes next to this stream { } block: halo reads nginx's directives\n"
              "# unchanged.\n"
              "stream {\n"
              "    # keepalived virtual_server 10.0.0.1 25 (k.conf:1)\n"
              "    upstream vs_10_0_0_1_25 {\n"
              "        server 10.0.0.2:25;\n"
              "    }\n"
              "    server {\n" +
                  bind_comment("10.0.0.1") +
                  "        listen 10.0.0.1:25;\n"
                  "        proxy_pass vs_10_0_0_1_25;\n"
                  "    }\n"
                  "}\n");
    EXPECT_THAT(result_.skipped, IsEmpty());
    expect_loads();
}

TEST_F(KeepalivedLvsTest, VirtualServerBecomesUpstreamCheckAndStreamServer) {
    import(R"(virtual_server 127.0.0.1 1358 {
    delay_loop 6
    lb_algo wlc
    lb_kind DR
    persistence_timeout 50
    protocol TCP
    sorry_server 127.0.0.9 1358
    real_server 127.0.0.2 1358 {
        weight 3
        HTTP_GET {
            url {
              path /health
              status_code 200-299 503
              digest 640205b7b0fc66c1ea91c463fac6334d
            }
            connect_port 8081
            connect_timeout 3
            retry 3
            delay_before_retry 3
        }
    }
    real_server 127.0.0.3 1358 {
        weight 0
        uthreshold 100
    }
}
virtual_server fwmark 1 {
    real_server 127.0.0.4 80 {
    }
}
)");
    EXPECT_EQ(stream(),
              "stream {\n"
              "    # keepalived virtual_server 127.0.0.1 1358 (k.conf:1)\n" +
                  kind_comment("DR") +
                  "    upstream vs_127_0_0_1_1358 {\n"
                  "        least_conn;\n"
                  "        server 127.0.0.2:1358 weight=3;\n"
                  "        server 127.0.0.3:1358 down max_conns=100;\n"
                  "        server 127.0.0.9:1358 backup;  # sorry_server\n"
                  "        persistence_timeout 50s;\n"
                  "        health_check type=http uri=/health expect=200-299,503 "
                  "port=8081 interval=6s timeout=3s fall=4;\n"
                  "    }\n"
                  "    server {\n" +
                  bind_comment("127.0.0.1") +
                  "        listen 127.0.0.1:1358;\n"
                  "        proxy_pass vs_127_0_0_1_1358;\n"
                  "    }\n"
                  "}\n");
    EXPECT_THAT(result_.skipped,
                ElementsAre("k.conf:4: keepalived lb_kind DR: halo is a full proxy (as NAT), "
                            "replies pass through this node and the real servers see its "
                            "address (docs/migrating-keepalived.md)",
                            "k.conf:14: keepalived keyword \"digest\" is not supported: halo has "
                            "no body digest, use body=~regex (skipped)",
                            "k.conf:19: keepalived keyword \"delay_before_retry\" is not "
                            "supported: halo checks at one pace, set by interval (skipped)",
                            "k.conf:27: keepalived keyword \"virtual_server fwmark\" is not "
                            "supported: halo listens on an address and a port (not imported) "
                            "(skipped)"));
    expect_loads();
}

// protocol UDP: a UDP listen (keepalived's TCP_CHECK still connects over TCP, as halo's
// type=tcp check does), its upstream named apart from a TCP one on the same address and port;
// SCTP: left out.
TEST_F(KeepalivedLvsTest, UdpVirtualServerListensUdpAndSctpIsLeftOut) {
    import(R"(virtual_server 127.0.0.1 53 {
    protocol UDP
    lb_algo sh
    real_server 127.0.0.2 53 {
        weight 2
        TCP_CHECK {
            connect_timeout 2
        }
    }
    real_server 127.0.0.3 5353 {
        TCP_CHECK {
            connect_timeout 2
        }
    }
}
virtual_server ::1 53 {
    protocol UDP
    real_server ::2 53 {
    }
}
virtual_server 127.0.0.1 53 {
    protocol TCP
    real_server 127.0.0.2 53 {
    }
}
virtual_server 127.0.0.1 53 {
    protocol UDP
    real_server 127.0.0.4 53 {
    }
}
virtual_server 127.0.0.1 3868 {
    protocol SCTP
    real_server 127.0.0.2 3868 {
    }
}
)");
    EXPECT_EQ(stream(),
              "stream {\n"
              "    # keepalived virtual_server 127.0.0.1 53 (k.conf:1)\n"
              "    upstream vs_127_0_0_1_53_udp {\n"
              "        hash $remote_addr;\n"
              "        server 127.0.0.2:53 weight=2;\n"
              "        server 127.0.0.3:5353;\n"
              "        health_check type=tcp interval=60s timeout=2s;\n"
              "    }\n"
              "    server {\n" +
                  bind_comment("127.0.0.1") +
                  "        listen 127.0.0.1:53 udp;\n"
                  "        proxy_pass vs_127_0_0_1_53_udp;\n"
                  "    }\n"
                  "\n"
                  "    # keepalived virtual_server ::1 53 (k.conf:16)\n"
                  "    upstream vs___1_53_udp {\n"
                  "        server [::2]:53;\n"
                  "    }\n"
                  "    server {\n" +
                  bind_comment("::1") +
                  "        listen [::1]:53 udp;\n"
                  "        proxy_pass vs___1_53_udp;\n"
                  "    }\n"
                  "\n"
                  "    # keepalived virtual_server 127.0.0.1 53 (k.conf:21)\n"
                  "    upstream vs_127_0_0_1_53 {\n"
                  "        server 127.0.0.2:53;\n"
                  "    }\n"
                  "    server {\n" +
                  bind_comment("127.0.0.1") +
                  "        listen 127.0.0.1:53;\n"
                  "        proxy_pass vs_127_0_0_1_53;\n"
                  "    }\n"
                  "}\n");
    EXPECT_THAT(result_.skipped,
                ElementsAre("k.conf:26: keepalived keyword \"virtual_server 127.0.0.1 53\" is "
                            "not supported: defined twice (skipped)",
                            "k.conf:32: keepalived keyword \"protocol SCTP\" is not supported: "
                            "halo proxies TCP and UDP: virtual_server 127.0.0.1 3868 not "
                            "imported (skipped)"));
    expect_loads();
}

TEST_F(KeepalivedLvsTest, LbAlgoBecomesABalancer) {
    struct Case {
        std::string algo;
        std::string line;  // the balancer line of the upstream ("" for round robin)
        std::string said;  // on stderr ("" for nothing)
    };
    const Case cases[] = {
        {"rr", "", ""},
        {"wrr", "", ""},
        {"lc", "least_conn;", ""},
        {"wlc", "least_conn;", ""},
        {"sh", "hash $remote_addr;", ""},
        {"sed", "least_conn;",
         "k.conf:2: keepalived lb_algo sed written as least_conn (halo's least_conn weighs the "
         "active connections by weight)"},
        {"nq", "least_conn;",
         "k.conf:2: keepalived lb_algo nq written as least_conn (halo's least_conn weighs the "
         "active connections by weight)"},
        {"lblc", "least_conn;",
         "k.conf:2: keepalived lb_algo lblc written as least_conn (locality by destination "
         "address: halo has one per listen)"},
        {"lblcr", "least_conn;",
         "k.conf:2: keepalived lb_algo lblcr written as least_conn (locality by destination "
         "address: halo has one per listen)"},
        {"mh", "hash $remote_addr consistent;",
         "k.conf:2: keepalived lb_algo mh written as hash $remote_addr consistent (ketama's "
         "consistent hash of the client address, not maglev's: the servers picked differ)"},
        {"dh", "",
         "k.conf:2: keepalived keyword \"lb_algo dh\" is not supported: halo balances this "
         "group by weighted round robin (skipped)"},
        {"fo", "",
         "k.conf:2: keepalived keyword \"lb_algo fo\" is not supported: halo balances this "
         "group by weighted round robin (skipped)"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.algo);
        import("virtual_server 10.0.0.1 80 {\n  lb_algo " + c.algo +
               "\n  real_server 10.0.0.2 80 {\n    weight 2\n  }\n}\n");
        std::string head = "    upstream vs_10_0_0_1_80 {\n";
        std::string server = "        server 10.0.0.2:80 weight=2;\n";
        std::string want = head + (c.line.empty() ? "" : "        " + c.line + "\n") + server;
        EXPECT_THAT(stream(), HasSubstr(want));
        if (c.said.empty()) {
            EXPECT_THAT(result_.skipped, IsEmpty());
        } else {
            EXPECT_THAT(result_.skipped, ElementsAre(c.said));
        }
        expect_loads();
    }
}

// One stderr note per DR or TUN virtual_server, none for NAT; every kind gets the comment.
TEST_F(KeepalivedLvsTest, DrAndTunAreNotedOnStderr) {
    import(R"(virtual_server 10.0.0.1 80 {
  lb_kind NAT
  real_server 10.0.0.2 80 {
  }
}
virtual_server 10.0.0.1 81 {
  lb_kind DR
  real_server 10.0.0.2 81 {
  }
}
virtual_server 10.0.0.1 82 {
  lb_kind TUN
  real_server 10.0.0.2 82 {
  }
}
virtual_server 10.0.0.1 83 {
  lb_kind FNAT
  real_server 10.0.0.2 83 {
  }
}
)");
    std::string s = stream();
    EXPECT_THAT(s, HasSubstr("(k.conf:1)\n" + kind_comment("NAT")));
    EXPECT_THAT(s, HasSubstr("(k.conf:6)\n" + kind_comment("DR")));
    EXPECT_THAT(s, HasSubstr("(k.conf:11)\n" + kind_comment("TUN")));
    EXPECT_THAT(s, HasSubstr("# keepalived virtual_server 10.0.0.1 83 (k.conf:16)\n"
                             "    upstream vs_10_0_0_1_83 {\n"));
    EXPECT_THAT(
        result_.skipped,
        ElementsAre("k.conf:7: keepalived lb_kind DR: halo is a full proxy (as NAT), replies "
                    "pass through this node and the real servers see its address "
                    "(docs/migrating-keepalived.md)",
                    "k.conf:12: keepalived lb_kind TUN: halo is a full proxy (as NAT), replies "
                    "pass through this node and the real servers see its address "
                    "(docs/migrating-keepalived.md)",
                    "k.conf:17: keepalived keyword \"lb_kind FNAT\" is not supported: invalid "
                    "value (skipped)"));
    expect_loads();
}

TEST_F(KeepalivedLvsTest, OneCheckPerGroupAndUnmappableServers) {
    import(R"(virtual_server 127.0.0.1 443 {
    lb_algo sh
    protocol TCP
    real_server 127.0.0.2 443 {
        SSL_GET {
            url {
              path /a
            }
            url {
              path /b
            }
        }
    }
    real_server 127.0.0.3 443 {
        TCP_CHECK {
        }
    }
}
virtual_server 127.0.0.1 80 {
    real_server {
    }
}
)");
    EXPECT_EQ(stream(),
              "stream {\n"
              "    # keepalived virtual_server 127.0.0.1 443 (k.conf:1)\n"
              "    upstream vs_127_0_0_1_443 {\n"
              "        hash $remote_addr;\n"
              "        server 127.0.0.2:443;\n"
              "        server 127.0.0.3:443;\n"
              "        health_check type=https uri=/a expect=200-299 interval=60s;\n"
              "    }\n"
              "    server {\n" +
                  bind_comment("127.0.0.1") +
                  "        listen 127.0.0.1:443;\n"
                  "        # TLS passes through to the real servers, as with LVS "
                  "(SSL_GET: the check\n"
                  "        # speaks TLS to them).\n"
                  "        proxy_pass vs_127_0_0_1_443;\n"
                  "    }\n"
                  "}\n");
    EXPECT_THAT(
        result_.skipped,
        ElementsAre(HasSubstr("k.conf:9: keepalived keyword \"url\" is not supported: halo "
                              "checks one url"),
                    HasSubstr("k.conf:14: keepalived keyword \"real_server 127.0.0.3:443 check\""),
                    HasSubstr("k.conf:19: keepalived keyword \"virtual_server 127.0.0.1 80\" is "
                              "not supported: no real_server"),
                    HasSubstr("k.conf:20: keepalived keyword \"real_server\" is not supported: "
                              "expected")));
    expect_loads();
}

TEST_F(KeepalivedLvsTest, HashGroupsHaveNoSorryServer) {
    import(R"(virtual_server 127.0.0.1 8080 {
    lb_algo sh
    persistence_timeout 50
    sorry_server 127.0.0.9 80
    real_server 127.0.0.2 80 {
        weight 70000
    }
}
)");
    EXPECT_THAT(stream(), HasSubstr("hash $remote_addr;\n"
                                    "        server 127.0.0.2:80 weight=65535;\n"
                                    "        persistence_timeout 50s;\n"));
    EXPECT_THAT(result_.skipped,
                ElementsAre("k.conf:4: keepalived keyword \"sorry_server\" is not supported: "
                            "halo's hash balancer has no backup servers (skipped)",
                            "k.conf:5: real_server weight 70000 written as weight=65535"));
    expect_loads();
}

// A sorry_server without a port takes the virtual_server's; one that is also a real_server
// is reported.
TEST_F(KeepalivedLvsTest, SorryServerIsABackupServer) {
    import(R"(virtual_server 10.0.0.1 80 {
    sorry_server 10.0.0.9
    real_server 10.0.0.2 8080 {
    }
}
virtual_server 10.0.0.1 81 {
    sorry_server 10.0.0.2 81
    real_server 10.0.0.2 81 {
    }
}
)");
    EXPECT_THAT(stream(), HasSubstr("    upstream vs_10_0_0_1_80 {\n"
                                    "        server 10.0.0.2:8080;\n"
                                    "        server 10.0.0.9:80 backup;  # sorry_server\n"
                                    "    }\n"));
    EXPECT_THAT(stream(), HasSubstr("    upstream vs_10_0_0_1_81 {\n"
                                    "        server 10.0.0.2:81;\n"
                                    "    }\n"));
    EXPECT_THAT(result_.skipped,
                ElementsAre("k.conf:7: keepalived keyword \"sorry_server 10.0.0.2:81\" is not "
                            "supported: it is also a real_server (skipped)"));
    expect_loads();
}

TEST_F(KeepalivedLvsTest, CheckValuesHaloWouldRefuseAreLeftOut) {
    import(R"(virtual_server 127.0.0.1 80 {
  real_server 127.0.0.2 80 {
    HTTP_GET {
      url {
        path "/a b"
        status_code 200 abc
      }
    }
  }
}
)");
    EXPECT_THAT(stream(), HasSubstr("health_check type=http uri=/a%20b expect=200 interval=60s;"));
    EXPECT_THAT(result_.skipped, ElementsAre(HasSubstr("k.conf:6: keepalived keyword "
                                                       "\"status_code abc\"")));
    expect_loads();
}

}  // namespace
}  // namespace vrrp::keepalived
