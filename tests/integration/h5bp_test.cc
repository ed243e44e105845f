// h5bp/server-configs-nginx (the best-known curated nginx config) with its example TLS site
// enabled, as its README says (conf.d/templates/example.com.conf copied to conf.d/), installed
// as /etc/nginx in a private mount namespace: `nginx -t` and `halo -t` on it, unchanged.
// The checkout is not part of the project (CI cannot reach GitHub): HALO_H5BP_DIR points to one,
// and the test skips, saying why, without it. The checkout is only read: the test copies it to
// a temporary directory and generates the certificate its TLS snippet names
// (/etc/nginx/certs/default.crt and .key) there.
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <string>
#include <vector>

#include "diff_site.h"
#include "support/differential.h"
#include "support/harness.h"

namespace halo_test {
namespace {

std::string absolute(const std::string& path) {
    char buf[PATH_MAX];
    return realpath(path.c_str(), buf) != nullptr ? std::string(buf) : path;
}

struct Refusal {
    std::string_view text;  // what halo's [emerg] line says
    std::string_view reason;
};

/// What halo -t refuses in h5bp's config today, each with the reason: every [emerg] line must
/// match one of them (an unlisted refusal fails the test), and an entry no longer seen is
/// reported so the list shrinks. Empty = h5bp runs unchanged.
const std::vector<Refusal> kH5bpKnownRefusals = {};

class H5bpTest : public ::testing::Test {
  protected:
    void SetUp() override {
        const char* dir = getenv("HALO_H5BP_DIR");
        if (dir == nullptr || *dir == '\0') {
            GTEST_SKIP() << "HALO_H5BP_DIR is not set: point it to a checkout of "
                            "https://github.com/h5bp/server-configs-nginx to run this test";
        }
        if (!file_exists(std::string(dir) + "/nginx.conf") ||
            !file_exists(std::string(dir) + "/conf.d/templates/example.com.conf")) {
            GTEST_SKIP() << "HALO_H5BP_DIR=" << dir
                         << " has no nginx.conf or conf.d/templates/example.com.conf";
        }
        if (geteuid() != 0) {
            GTEST_SKIP() << "needs root: the config is installed as /etc/nginx in a private "
                            "mount namespace (its paths are absolute)";
        }
        if (access(nginx_bin().c_str(), X_OK) != 0) {
            GTEST_SKIP() << nginx_bin() << " not found (auto/deps --test installs nginx)";
        }
        etc_ = tmp_ / "etc-nginx";
        RunResult cp = run_command({"cp", "-r", std::string(dir), etc_});
        ASSERT_EQ(cp.status, 0) << cp;
        RunResult tls =
            run_command({"cp", etc_ + "/conf.d/templates/example.com.conf", etc_ + "/conf.d/"});
        ASSERT_EQ(tls.status, 0) << tls;
        mkdir((etc_ + "/certs").c_str(), 0755);
        ASSERT_EQ(make_test_certificate("example.com", etc_ + "/certs/default.crt",
                                        etc_ + "/certs/default.key"),
                  "");
        mkdir((tmp_ / "halo").c_str(), 0755);
        mkdir((tmp_ / "halo/logs").c_str(), 0755);
    }

    /// `bin -t -c /etc/nginx/nginx.conf` with the copy mounted on /etc/nginx and /var/log/nginx,
    /// /run on a tmpfs, in a private mount namespace.
    RunResult check(const std::vector<std::string>& command) {
        std::string script =
            "mount --bind \"$1\" /etc/nginx && mount -t tmpfs tmpfs /run && "
            "mkdir -p /var/log/nginx && mount -t tmpfs tmpfs /var/log/nginx && shift && "
            "exec \"$@\"";
        std::vector<std::string> argv = {"unshare", "--mount", "sh", "-c", script, "sh", etc_};
        argv.insert(argv.end(), command.begin(), command.end());
        return run_command(argv, 30s);
    }

    TempDir tmp_{"halo-h5bp"};
    std::string etc_;
};

TEST_F(H5bpTest, NginxAcceptsTheTlsSite) {
    RunResult r = check({nginx_bin(), "-t", "-c", "/etc/nginx/nginx.conf"});
    EXPECT_EQ(r.status, 0) << r;
}

TEST_F(H5bpTest, HaloTestRefusesOnlyTheKnownGaps) {
    RunResult r =
        check({absolute(halo_bin()), "-p", tmp_ / "halo/", "-t", "-c", "/etc/nginx/nginx.conf"});
    std::vector<bool> seen(kH5bpKnownRefusals.size(), false);
    std::vector<std::string> unexplained;
    for (const std::string& line : log_lines_with(r.err, "[emerg]")) {
        bool listed = false;
        for (size_t i = 0; i < kH5bpKnownRefusals.size(); i++) {
            if (line.find(kH5bpKnownRefusals[i].text) != std::string::npos) {
                seen[i] = listed = true;
            }
        }
        if (!listed) {
            unexplained.push_back(line);
        }
    }
    EXPECT_TRUE(unexplained.empty()) << "halo -t refuses h5bp's config with the TLS site for a "
                                        "reason not in kH5bpKnownRefusals: "
                                     << r;
    if (r.status != 0) {
        EXPECT_FALSE(log_lines_with(r.err, "[emerg]").empty()) << r;
        std::cout << "[ differential ] halo -t on h5bp (known refusals):\n" << r.err;
    }
    for (size_t i = 0; i < seen.size(); i++) {
        if (!seen[i]) {
            std::cout << "[ differential ] not refused (any more, or not reached yet: halo stops "
                         "at some errors): "
                      << kH5bpKnownRefusals[i].text << "\n";
        }
    }
}

/// What h5bp's site answers differently under halo today (each with the reason).
const std::vector<KnownDifference> kH5bpKnownDifferences = {};

TEST_F(H5bpTest, SameAnswersAsNginx) {
    std::string why = differential_skip_reason();
    if (!why.empty()) {
        GTEST_SKIP() << why;
    }
    std::string site = tmp_ / "site";
    mkdir(site.c_str(), 0755);
    ASSERT_TRUE(write_site(site));
    write_file(site + "/404.html", "<!doctype html><title>404</title><p>Not found\n");
    chmod((site + "/404.html").c_str(), 0644);
    // halo runs h5bp's files unchanged (`listen ... http2`: HTTP/2 is offered by ALPN).
    std::string halo_etc = etc_;
    RunResult t =
        check({absolute(halo_bin()), "-p", tmp_ / "halo/", "-t", "-c", "/etc/nginx/nginx.conf"});
    std::vector<Sandbox::Mount> mounts = {{"/run", ""},
                                          {"/var/log/nginx", ""},
                                          {"/var/www", ""},
                                          {"/var/www/example.com", "", true},
                                          {"/var/www/example.com/public", site, true}};
    std::vector<Sandbox::Mount> nginx_mounts = mounts;
    nginx_mounts.insert(nginx_mounts.begin(), {"/etc/nginx", etc_});
    std::vector<Sandbox::Mount> halo_mounts = mounts;
    halo_mounts.insert(halo_mounts.begin(), {"/etc/nginx", halo_etc});
    RunResult ht = run_command({"unshare", "--mount", "sh", "-c",
                                "mount --bind \"$1\" /etc/nginx && shift && exec \"$@\"", "sh",
                                halo_etc, absolute(halo_bin()), "-p", tmp_ / "halo/", "-t", "-c",
                                "/etc/nginx/nginx.conf"});
    ASSERT_EQ(ht.status, 0) << "halo -t refuses h5bp's config: " << ht;
    Sandbox nginx;
    ASSERT_TRUE(nginx.start(nginx_mounts, "exec " + nginx_bin() + " -g 'daemon off;'",
                            tmp_ / "nginx.out", {80, 443}))
        << nginx.error();
    Sandbox halo;
    ASSERT_TRUE(halo.start(halo_mounts,
                           "exec " + absolute(halo_bin()) + " -p " + tmp_ / "halo/" +
                               " -c /etc/nginx/nginx.conf -g 'daemon off;'",
                           tmp_ / "halo.out", {80, 443}))
        << halo.error();
    std::string index = read_file(site + "/index.html").value_or("");
    std::vector<DiffRequest> requests = static_requests("example.com", 443, index);
    for (DiffRequest& r : requests) {
        r.tls = true;
        r.sni = "example.com";
    }
    DiffRequest www =
        make_request("GET / www.example.com", "GET", "/a?b=1", "www.example.com", {}, 443);
    www.tls = true;
    www.sni = "www.example.com";
    requests.push_back(www);
    requests.push_back(make_request("GET / port 80 (444)", "GET", "/", "example.com"));
    run_differential(nginx, halo, requests, kH5bpKnownDifferences);
}

}  // namespace
}  // namespace halo_test
