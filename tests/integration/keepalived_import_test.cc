// `halo --import-keepalived` through the real binary: every keepalived.conf sample of Debian's
// keepalived package and the classic cluster's keepalived.conf imported, the output checked by
// `halo -t` as it is, skipped keywords named with their lines; an imported virtual_server
// (a stream service) serving through real sockets; unreadable and broken files refused with a
// clear message. keepalived_import_stream_test.cc has the seed's TLS pass-through and UDP.
#include <dirent.h>

#include <algorithm>
#include <regex>

#include "support/backend.h"
#include "support/harness.h"

namespace halo_test {
namespace {

constexpr const char* kSamples = "/usr/share/doc/keepalived/samples";

class KeepalivedImportTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("vrrp")) {
            GTEST_SKIP() << "halo is built without the vrrp module";
        }
    }

    RunResult import(const std::string& file) const {
        return halo_.run_raw({"--import-keepalived", file});
    }
    /// Imports `file`, requires success, and runs `halo -t` on the output as it is.
    RunResult import_and_test(const std::string& file, std::string* conf = nullptr) {
        RunResult r = import(file);
        EXPECT_EQ(r.status, 0) << file << "\n" << r;
        EXPECT_FALSE(r.out.empty()) << file;
        std::string out = halo_.path("imported.conf");
        EXPECT_TRUE(write_file(out, r.out));
        RunResult t = halo_.run_raw({"-t", "-p", halo_.prefix() + "/", "-c", out});
        EXPECT_EQ(t.status, 0) << file << "\n--- imported:\n" << r.out << "\n--- -t:\n" << t;
        if (conf != nullptr) {
            *conf = r.out;
        }
        return r;
    }
    static std::vector<std::string> lines(const std::string& text) {
        std::vector<std::string> v;
        size_t pos = 0;
        while (pos < text.size()) {
            size_t nl = text.find('\n', pos);
            v.push_back(text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
            pos = nl == std::string::npos ? text.size() : nl + 1;
        }
        return v;
    }
    /// The text of the first `name ... {` block of `conf` (up to its closing brace).
    static std::string block(const std::string& conf, const std::string& head) {
        size_t at = conf.find(head + " {");
        if (at == std::string::npos) {
            return "";
        }
        int depth = 0;
        for (size_t i = at; i < conf.size(); i++) {
            depth += conf[i] == '{' ? 1 : conf[i] == '}' ? -1 : 0;
            if (conf[i] == '}' && depth == 0) {
                return conf.substr(at, i + 1 - at);
            }
        }
        return "";
    }

    Halo halo_;
};

TEST_F(KeepalivedImportTest, EverySampleConfigPassesHaloT) {
    if (!halo_has_module("stream")) {
        GTEST_SKIP() << "halo is built without the stream module (the virtual_servers' block)";
    }
    DIR* d = opendir(kSamples);
    if (d == nullptr) {
        GTEST_SKIP() << kSamples << " is missing (install Debian's keepalived: auto/deps --test)";
    }
    std::vector<std::string> files;
    while (dirent* e = readdir(d)) {
        std::string n = e->d_name;
        if (n.rfind("keepalived.conf.", 0) == 0) {
            files.push_back(std::string(kSamples) + "/" + n);
        }
    }
    closedir(d);
    std::sort(files.begin(), files.end());
    ASSERT_FALSE(files.empty()) << "no keepalived.conf.* in " << kSamples;
    for (const std::string& f : files) {
        SCOPED_TRACE(f);
        RunResult r = import_and_test(f);
        // Every stderr line names the file (or an included one) and a line.
        std::regex line_re("^/[^:]+:[0-9]+: .+");
        for (const std::string& l : lines(r.err)) {
            EXPECT_TRUE(std::regex_match(l, line_re)) << "stderr line: " << l;
        }
    }
}

TEST_F(KeepalivedImportTest, SkippedKeywordsOfTheSamplesNameTheirLines) {
    if (!file_exists(std::string(kSamples) + "/keepalived.conf.vrrp")) {
        GTEST_SKIP() << kSamples << " is missing";
    }
    struct Case {
        std::string file;
        std::string line;
    };
    const Case cases[] = {
        {"keepalived.conf.vrrp", ":17: keepalived keyword \"smtp_alert\" is not supported"},
        {"keepalived.conf.vrrp",
         ":32: keepalived keyword \"virtual_ipaddress 192.168.200.18\" is not supported: the "
         "address is listed twice (skipped)"},
        {"keepalived.conf.vrrp", ":69: keepalived keyword \"smtp_alert\" is not supported"},
        {"keepalived.conf.inhibit",
         ":22: keepalived keyword \"inhibit_on_failure\" is not supported"},
        {"keepalived.conf.inhibit", ":26: keepalived keyword \"digest\" is not supported"},
        {"keepalived.conf.conditional_conf", ":23: keepalived keyword \"use_vmac\""},
        {"keepalived.conf.track_interface",
         ":28: keepalived keyword \"virtual_routes\" is not supported (skipped)"},
        // keepalived 1's form, members without "group { }", is not read by keepalived 2.
        {"keepalived.conf.vrrp.lvs_syncd",
         ":3: keepalived keyword \"vrrp_sync_group VG1\" is not supported: it has no \"group "
         "{ ... }\" (skipped)"},
        {"keepalived.conf.vrrp.lvs_syncd", ":4: keepalived keyword \"VI_2\" is not supported"},
    };
    for (const Case& c : cases) {
        std::string path = std::string(kSamples) + "/" + c.file;
        RunResult r = import(path);
        EXPECT_EQ(r.status, 0) << r;
        EXPECT_NE(r.err.find(path + c.line), std::string::npos)
            << "expected " << path << c.line << "\n"
            << r.err;
    }
    // A block is reported once, not each line inside it.
    RunResult r = import(std::string(kSamples) + "/keepalived.conf.track_interface");
    EXPECT_EQ(r.err.find(":29: "), std::string::npos) << r.err;
}

TEST_F(KeepalivedImportTest, SyncGroupsOfTheSampleAreImported) {
    if (access(kSamples, R_OK) != 0) {
        GTEST_SKIP() << kSamples << " is missing";
    }
    std::string conf;
    std::string file = std::string(kSamples) + "/keepalived.conf.vrrp.sync";
    RunResult r = import_and_test(file, &conf);
    EXPECT_EQ(r.err.find("vrrp_sync_group"), std::string::npos) << r.err;
    std::string g1 = block(conf, "vrrp_sync_group G1");
    for (const char* want : {"VI_1;", "VI_2;", "VI_5;", "VI_9;",
                             "notify_master \"/usr/local/bin/vrrp.mast arg1 arg2\";",
                             "notify_fault \"/usr/local/bin/vrrp.fault arg1 arg2\";"}) {
        EXPECT_NE(g1.find(want), std::string::npos) << want << "\n" << conf;
    }
    std::string g2 = block(conf, "vrrp_sync_group G2");
    EXPECT_NE(g2.find("VI_3;"), std::string::npos) << conf;
    EXPECT_NE(g2.find("VI_4;"), std::string::npos) << conf;
    EXPECT_EQ(g2.find("VI_1;"), std::string::npos) << conf;
}

TEST_F(KeepalivedImportTest, ClassicClusterRoundTrip) {
    std::string conf;
    std::string file = halo_top() + "/tests/data/keepalived/classic-cluster.conf";
    RunResult r = import_and_test(file, &conf);
    std::string inst = block(conf, "vrrp_instance VI_1");
    ASSERT_FALSE(inst.empty()) << conf;
    for (const char* want :
         {"state MASTER;", "interface ens33;", "virtual_router_id 51;", "priority 100;",
          "advert_int 2s;", "authentication { auth_type PASS; auth_pass 1111; }",
          "virtual_ipaddress {\n            192.168.1.108;\n        }"}) {
        EXPECT_NE(inst.find(want), std::string::npos) << want << "\n" << inst;
    }
    std::string script = block(conf, "vrrp_script chk_nginx");
    for (const char* want : {"script /etc/keepalived/check_nginx.sh;", "interval 2s;",
                             "weight -20;", "fall 3;", "rise 2;"}) {
        EXPECT_NE(script.find(want), std::string::npos) << want << "\n" << script;
    }
    EXPECT_NE(conf.find("version 2;"), std::string::npos) << conf;
    EXPECT_NE(conf.find("# keepalived router_id LVS_DEVEL"), std::string::npos) << conf;
    for (const char* want :
         {":4: keepalived keyword \"notification_email\" is not supported (skipped)",
          ":12: keepalived keyword \"smtp_connect_timeout\" is not supported (skipped)",
          ":15: keepalived keyword \"vrrp_skip_check_adv_addr\" is not supported (skipped)",
          ":16: keepalived keyword \"vrrp_strict\" is not supported (skipped)",
          ":69: keepalived keyword \"real_server\" is not supported: expected",
          ":57: keepalived keyword \"virtual_server 192.168.200.100 443\" is not supported"}) {
        EXPECT_NE(r.err.find(file + want), std::string::npos) << want << "\n" << r.err;
    }

    std::string node = halo_top() + "/tests/data/keepalived/classic-node.conf";
    import_and_test(node, &conf);
    inst = block(conf, "vrrp_instance VI_1");
    for (const char* want : {"interface eth0;", "virtual_router_id 51;", "priority 100;",
                             "advert_int 1s;", "auth_pass 1111;", "192.168.200.16;"}) {
        EXPECT_NE(inst.find(want), std::string::npos) << want << "\n" << inst;
    }
}

// The virtual_server becomes a stream service: HTTP passes through it as bytes.
TEST_F(KeepalivedImportTest, ImportedVirtualServerProxiesAndChecks) {
    if (!halo_has_module("stream")) {
        GTEST_SKIP() << "halo is built without the stream module";
    }
    Backend a("alpha");
    Backend b("beta");
    halo_.write("keepalived.conf", R"(virtual_server 127.0.0.1 %%PORT_0%% {
    delay_loop 0.2
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 127.0.0.1 )" + std::to_string(a.port()) +
                                       R"( {
        weight 1
        TCP_CHECK {
            connect_timeout 1
        }
    }
    real_server 127.0.0.1 )" + std::to_string(b.port()) +
                                       R"( {
        weight 1
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
)");
    RunResult r = import(halo_.path("keepalived.conf"));
    ASSERT_EQ(r.status, 0) << r;
    EXPECT_EQ(r.err, "");
    halo_.write_conf(r.out);
    ASSERT_TRUE(
        halo_.start({"-g", "daemon off; worker_processes 1; error_log logs/error.log info;"}))
        << r.out << "\n"
        << halo_.error_log();
    std::set<std::string> seen;
    for (int i = 0; i < 4; i++) {
        seen.insert(halo_.get_body("/"));
    }
    EXPECT_EQ(seen, (std::set<std::string>{"alpha\n", "beta\n"}));
    b.stop();
    // The TCP_CHECK, now a health_check, takes beta out.
    EXPECT_TRUE(wait_until([&] {
        return halo_.error_log().find(
                   "127.0.0.1:" + std::to_string(b.port()) + " in upstream \"vs_127_0_0_1_" +
                   std::to_string(halo_.port(0)) + "\" is down") != std::string::npos;
    })) << halo_.error_log();
    for (int i = 0; i < 4; i++) {
        EXPECT_EQ(halo_.get_body("/"), "alpha\n");
    }
}

TEST_F(KeepalivedImportTest, UnreadableOrBrokenFilesAreRefused) {
    RunResult r = import(halo_.path("missing.conf"));
    EXPECT_NE(r.status, 0);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("missing.conf"), std::string::npos) << r;
    EXPECT_NE(r.err.find("No such file or directory"), std::string::npos) << r;

    halo_.write("broken.conf", "vrrp_instance VI_1 {\n    interface eth0\n");
    r = import(halo_.path("broken.conf"));
    EXPECT_NE(r.status, 0);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find(halo_.path("broken.conf") +
                         ":3: unexpected end of file, the \"{\" of line 1 is not closed"),
              std::string::npos)
        << r;

    r = halo_.run_raw({"--import-keepalived"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("option \"--import-keepalived\" requires file name"), std::string::npos)
        << r;
    // An empty name (an unset shell variable) is refused too, not taken as "start the server".
    r = halo_.run_raw({"--import-keepalived", ""});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("option \"--import-keepalived\" requires file name"), std::string::npos)
        << r;
}

}  // namespace
}  // namespace halo_test
