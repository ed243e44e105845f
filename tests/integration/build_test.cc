// ./configure module selection: --without-http_rewrite_module --without-http_ssl_module really
// leave the modules out of the binary (and OpenSSL with them: `listen ... ssl` and https://
// upstreams are refused). Builds a copy of the source tree (configure rewrites the top-level
// Makefile, so never in place); takes about a minute.
#include "support/harness.h"

namespace halo_test {
namespace {

class BuildTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        src_ = new TempDir("halo-build");
        const std::string top = halo_top();
        std::vector<std::string> cp = {"cp", "-r"};
        for (const char* part : {"configure", "auto", "src", "conf", "tests"}) {
            cp.push_back(top + "/" + part);
        }
        cp.push_back(src_->path());
        RunResult copied = run_command(cp, 60s);
        if (copied.status != 0) {
            setup_error_ = "copying the sources failed: " + ::testing::PrintToString(copied);
            return;
        }
        // Not the jobserver of an outer `make test`.
        build_ = new RunResult(run_command(
            {"env", "-u", "MAKEFLAGS", "-u", "MFLAGS", "-u", "MAKELEVEL", "sh", "-c",
             "./configure --without-http_rewrite_module --without-http_ssl_module && make -j2"},
            600s, src_->path()));
    }

    static void TearDownTestSuite() {
        delete build_;
        build_ = nullptr;
        delete src_;
        src_ = nullptr;
    }

    void SetUp() override { ASSERT_EQ(setup_error_, ""); }

    static std::string bin() { return src_->path() + "/objs/halo"; }

    /// Asserts the build succeeded.
    static ::testing::AssertionResult built() {
        if (build_ == nullptr) {
            return ::testing::AssertionFailure() << "no build";
        }
        if (build_->status != 0 || !file_exists(bin())) {
            std::string out = build_->out;
            if (out.size() > 4000) {
                out = "..." + out.substr(out.size() - 4000);
            }
            return ::testing::AssertionFailure()
                   << "./configure --without-http_rewrite_module --without-http_ssl_module && make "
                      "failed: exit "
                   << build_->status << (build_->timed_out ? " (timed out)" : "") << "\n"
                   << out << "\n"
                   << build_->err;
        }
        return ::testing::AssertionSuccess();
    }

    static RunResult configure(const std::vector<std::string>& args) {
        std::vector<std::string> argv = {"./configure"};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_command(argv, 60s, src_->path());
    }

    static inline TempDir* src_ = nullptr;
    static inline RunResult* build_ = nullptr;
    static inline std::string setup_error_;
};

TEST_F(BuildTest, WithoutRewriteModuleBuilds) {
    ASSERT_TRUE(built());
}

TEST_F(BuildTest, VersionOmitsTheModule) {
    ASSERT_TRUE(built());
    RunResult r = run_command({bin(), "-V"});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_NE(r.err.find("configure arguments: --without-http_rewrite_module"), std::string::npos)
        << r;
    EXPECT_NE(r.err.find("modules: core events http"), std::string::npos) << r;
    EXPECT_FALSE(halo_has_module("http_rewrite", bin()));
    EXPECT_FALSE(halo_has_module("http_ssl", bin()));
    EXPECT_TRUE(halo_has_module("http", bin()));
    EXPECT_TRUE(halo_has_module("events", bin()));
}

TEST_F(BuildTest, RewriteModuleDirectivesAreUnknown) {
    // return, rewrite, if, set and break all belong to the rewrite module.
    ASSERT_TRUE(built());
    for (const char* directive :
         {"return 200 \"no\\n\";", "rewrite ^ /x;", "set $a 1;", "break;", "if ($uri) { }"}) {
        Halo halo(bin());
        halo.write_conf(std::string(R"(daemon off;
events { }
http {
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / {
            )") + directive +
                        R"(
        }
    }
}
)");
        std::string name(directive, std::string_view(directive).find_first_of(" ;"));
        RunResult r = halo.run({"-t"});
        EXPECT_EQ(r.status, 1) << r;
        EXPECT_NE(r.err.find("halo: [emerg] unknown directive \"" + name + "\" in " +
                             halo.conf_path() + ":7\n"),
                  std::string::npos)
            << r;
    }
}

TEST_F(BuildTest, ServesWithoutTheModule) {
    ASSERT_TRUE(built());
    Halo halo(bin());
    halo.write_conf(R"(daemon off;
error_log logs/error.log notice;
events { }
http {
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { }
    }
}
)");
    ASSERT_TRUE(halo.start());
    // No content handler at all: every request is a 404.
    auto r = http_get(halo.port(0), "/");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
}

TEST_F(BuildTest, SslListenNeedsTheSslModule) {
    ASSERT_TRUE(built());
    Halo halo(bin());
    halo.write_conf(R"(daemon off;
events { }
http {
    server {
        listen 127.0.0.1:%%PORT_0%%;
        listen 127.0.0.1:%%PORT_1%% ssl;
        ssl_certificate a.crt;
    }
}
)");
    RunResult r = halo.run({"-t"});
    EXPECT_EQ(r.status, 1) << r;
    // The ssl_* directives are unknown first; without them, the listen parameter is refused.
    EXPECT_NE(r.err.find("unknown directive \"ssl_certificate\" in " + halo.conf_path() + ":7"),
              std::string::npos)
        << r;
    halo.write_conf(R"(daemon off;
events { }
http {
    server {
        listen 127.0.0.1:%%PORT_0%%;
        listen 127.0.0.1:%%PORT_1%% ssl;
    }
}
)");
    r = halo.run({"-t"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("halo: [emerg] the \"ssl\" parameter requires the http_ssl module, "
                         "which is not compiled in (see halo -V) in " +
                         halo.conf_path() + ":6\n"),
              std::string::npos)
        << r;
}

TEST_F(BuildTest, HttpsUpstreamsNeedTheSslModule) {
    // The proxy module is built without OpenSSL: http:// upstreams work, https:// is refused.
    ASSERT_TRUE(built());
    ASSERT_TRUE(halo_has_module("http_proxy", bin()));
    Halo halo(bin());
    const std::string conf = R"(daemon off;
events { }
http {
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location /a/ {
            proxy_pass http://127.0.0.1:1;
        }
        location /b/ {
            proxy_pass https://127.0.0.1:1;
        }
    }
}
)";
    halo.write_conf(conf);
    RunResult r = halo.run({"-t"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("halo: [emerg] https upstreams need the http_ssl module, which is not "
                         "compiled in (see halo -V) in " +
                         halo.conf_path() + ":10\n"),
              std::string::npos)
        << r;
    std::string plain = conf;
    plain.replace(plain.find("https://"), 8, "http://");
    halo.write_conf(plain);
    r = halo.run({"-t"});
    EXPECT_EQ(r.status, 0) << r;
}

TEST_F(BuildTest, ConfigureHelpListsModuleSwitches) {
    RunResult r = configure({"--help"});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_NE(r.out.find("--without-http_rewrite_module"), std::string::npos) << r;
    EXPECT_NE(r.out.find("--with-http_rewrite_module"), std::string::npos) << r;
    EXPECT_NE(r.out.find("--prefix=PATH"), std::string::npos) << r;
}

TEST_F(BuildTest, ConfigureRejectsInvalidOptions) {
    RunResult bogus = configure({"--bogus"});
    EXPECT_EQ(bogus.status, 1) << bogus;
    EXPECT_NE(bogus.err.find("invalid option \"--bogus\""), std::string::npos) << bogus;

    RunResult unknown = configure({"--without-no_such_thing_module"});
    EXPECT_EQ(unknown.status, 1) << unknown;
    EXPECT_NE(unknown.err.find("there is no module \"no_such_thing\""), std::string::npos)
        << unknown;

    RunResult required = configure({"--without-core_module"});
    EXPECT_EQ(required.status, 1) << required;
    EXPECT_NE(required.err.find("the core module is required"), std::string::npos) << required;
}

}  // namespace
}  // namespace halo_test
