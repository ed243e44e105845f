// ./configure module selection, each build in a copy of the source tree (configure rewrites the
// top-level Makefile, so never in place):
// - --without-http_rewrite_module --without-http_ssl_module: the modules are really left out of
//   the binary (their directives are unknown, `listen ... ssl` is refused);
// - --without-http_module --without-stream_module: a VRRP-only binary (a keepalived replacement)
// with no HTTP code in
//   it, which runs a vrrp config in a network namespace (root);
// - --without-http_upstream_module: the proxy, the balancers and the health checks are left out
//   with it (they require it), the status page stays.
// When $HALO_BUILDDIR names the build of these sources (make build-test sets it) and the copy's
// compiler flags are the same, the copy is seeded with that build's objects: make then compiles
// only what the selection changes (the module table, and those of the few files that include
// auto_config.h whose preprocessed source differs: main.cc), instead of the whole tree.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <sstream>
#include <thread>

#include "support/harness.h"

namespace halo_test {
namespace {

/// One configured and built copy of the tree.
struct Build {
    std::unique_ptr<TempDir> dir;
    RunResult configure;
    RunResult make;
    bool seeded = false;

    std::string bin() const { return dir->path() + "/objs/halo"; }
    bool ok() const { return configure.status == 0 && make.status == 0 && file_exists(bin()); }
};

std::ostream& operator<<(std::ostream& os, const Build& b) {
    std::string out = b.make.out;
    if (out.size() > 4000) {
        out = "..." + out.substr(out.size() - 4000);
    }
    return os << "configure: " << b.configure << "\nmake (seeded: " << b.seeded << "): exit "
              << b.make.status << (b.make.timed_out ? " (timed out)" : "") << "\n"
              << out << "\n"
              << b.make.err;
}

/// The compiler and its flags in a generated Makefile (the CXX and CXXFLAGS lines), "" when
/// there are none: objects are reused only between builds where both are the same.
std::string cxxflags_of(const std::string& makefile) {
    std::optional<std::string> text = read_file(makefile);
    if (!text) {
        return "";
    }
    std::string out;
    for (const char* key : {"\nCXX = ", "\nCXXFLAGS = "}) {
        size_t at = text->find(key);
        if (at == std::string::npos) {
            return "";
        }
        out += text->substr(at, text->find('\n', at + 1) - at);
    }
    return out;
}

/// The value of `key` ("CXX", "CXXFLAGS") in a generated Makefile, make's escapes undone.
std::string makefile_value(const std::string& makefile, const std::string& key) {
    std::string text = read_file(makefile).value_or("");
    std::string at_key = "\n" + key + " = ";
    size_t at = text.find(at_key);
    if (at == std::string::npos) {
        return "";
    }
    at += at_key.size();
    std::string value = text.substr(at, text.find('\n', at) - at), out;
    for (size_t i = 0; i < value.size(); i++) {
        if ((value[i] == '$' || value[i] == '\\') && i + 1 < value.size() &&
            (value[i + 1] == '$' || value[i + 1] == '#')) {
            i++;
        }
        out += value[i];
    }
    return out;
}

/// Copies the objects of the build at `from` (of the sources at `from_top`) into the configured
/// copy `top` (same sources, same flags), made newer than the copy's Makefile. Those that include
/// auto_config.h, which holds what configure changed, are kept only when their preprocessed
/// source is the same in both trees (as ccache does: the same compiler, flags and preprocessed
/// input make the same object), the others removed, to be compiled again: most of them only
/// read macros that do not change with the selection; main.cc prints the configure arguments.
/// `reused` counts the objects kept of those that include auto_config.h.
bool seed_objects(const std::string& from, const std::string& from_top, const std::string& top,
                  int* reused) {
    if (from.empty() || !file_exists(from + "/Makefile") ||
        cxxflags_of(from + "/Makefile") != cxxflags_of(top + "/objs/Makefile") ||
        cxxflags_of(from + "/Makefile").empty()) {
        return false;
    }
    RunResult cp = run_command({"cp", "-R", from + "/src", top + "/objs/"}, 60s);
    if (cp.status != 0) {
        return false;
    }
    // $1: the compiler, $2: its flags (split into words), $3: the top of the sources of `from`.
    RunResult fix = run_command({"sh", "-c",
                                 "reused=0; for d in $(find objs/src -name '*.d'); do "
                                 "  grep -q auto_config.h \"$d\" || continue; "
                                 "  o=${d%.d}.o; src=${o#objs/}; src=${src%.o}.cc; "
                                 "  if [ -f \"$o\" ] && (cd \"$3\" && $1 $2 -fno-working-directory "
                                 "-E \"$src\") > pp.from 2>/dev/null && "
                                 "     $1 $2 -fno-working-directory -E \"$src\" > pp.copy "
                                 "2>/dev/null && cmp -s pp.from pp.copy; then "
                                 "    reused=$((reused + 1)); "
                                 "  else rm -f \"$o\" \"$d\"; fi; "
                                 "done; rm -f pp.from pp.copy; echo $reused; "
                                 "find objs/src -name '*.o' -exec touch {} +",
                                 "sh", makefile_value(top + "/objs/Makefile", "CXX"),
                                 makefile_value(top + "/objs/Makefile", "CXXFLAGS"), from_top},
                                120s, top);
    *reused = atoi(fix.out.c_str());
    return fix.status == 0;
}

/// The build for `args`, made once per test program.
const Build& build(const std::vector<std::string>& args) {
    static std::map<std::vector<std::string>, Build> builds;
    auto it = builds.find(args);
    if (it != builds.end()) {
        return it->second;
    }
    Build& b = builds[args];
    b.dir = std::make_unique<TempDir>("halo-build");
    const std::string top = halo_top();
    std::vector<std::string> cp = {"cp", "-Rp"};
    for (const char* part : {"configure", "auto", "src", "conf", "tests"}) {
        cp.push_back(top + "/" + part);
    }
    cp.push_back(b.dir->path());
    b.configure = run_command(cp, 60s);
    if (b.configure.status != 0) {
        return b;
    }
    std::string line = "./configure";
    for (const std::string& a : args) {
        line += " " + a;
    }
    b.configure = run_command({"sh", "-c", line}, 120s, b.dir->path());
    if (b.configure.status != 0) {
        return b;
    }
    const char* from = getenv("HALO_BUILDDIR");
    int reused = 0;
    b.seeded = seed_objects(from != nullptr ? from : "", top, b.dir->path(), &reused);
    ::testing::Test::RecordProperty("seeded", b.seeded ? "yes" : "no");
    ::testing::Test::RecordProperty("reused_auto_config_objects", reused);
    // Not the jobserver of an outer `make test`.
    b.make =
        run_command({"env", "-u", "MAKEFLAGS", "-u", "MFLAGS", "-u", "MAKELEVEL", "make", "-j2"},
                    900s, b.dir->path());
    return b;
}

class BuildTest : public ::testing::Test {
  protected:
    static const Build& rewrite_ssl() {
        return build({"--without-http_rewrite_module", "--without-http_ssl_module"});
    }
    static std::string bin() { return rewrite_ssl().bin(); }

    static ::testing::AssertionResult built() {
        const Build& b = rewrite_ssl();
        if (!b.ok()) {
            return ::testing::AssertionFailure() << b;
        }
        return ::testing::AssertionSuccess();
    }

    static RunResult configure(const std::vector<std::string>& args) {
        static TempDir* dir = nullptr;
        if (dir == nullptr) {
            dir = new TempDir("halo-configure");
            std::vector<std::string> cp = {"cp", "-R"};
            for (const char* part : {"configure", "auto", "src"}) {
                cp.push_back(halo_top() + "/" + part);
            }
            cp.push_back(dir->path());
            run_command(cp, 60s);
        }
        std::vector<std::string> argv = {"./configure"};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_command(argv, 60s, dir->path());
    }
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
    // The ssl_* directives are refused first (stream_ssl, compiled in, has them for the stream
    // block only: nginx's "not allowed here" then); without them, the listen parameter is.
    EXPECT_NE(r.err.find("\"ssl_certificate\" directive is not allowed here in " +
                         halo.conf_path() + ":7"),
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

TEST_F(BuildTest, HttpsUpstreamsWorkWithoutTheSslModule) {
    // TLS to upstreams is the proxy's own, over the tls layer: http_ssl is the server side.
    ASSERT_TRUE(built());
    ASSERT_TRUE(halo_has_module("http_proxy", bin()));
    Halo halo(bin());
    halo.write_conf(R"(daemon off;
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
)");
    RunResult r = halo.run({"-t"});
    EXPECT_EQ(r.status, 0) << r;
}

TEST_F(BuildTest, ConfigureHelpListsModuleSwitches) {
    RunResult r = configure({"--help"});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_NE(r.out.find("--without-http_rewrite_module"), std::string::npos) << r;
    EXPECT_NE(r.out.find("--with-http_rewrite_module"), std::string::npos) << r;
    EXPECT_NE(r.out.find("--prefix=PATH"), std::string::npos) << r;
    // What a module requires is listed with it; a layer has no switch.
    EXPECT_NE(r.out.find("[requires http http_upstream tls]"), std::string::npos) << r;
    EXPECT_EQ(r.out.find("--with-tls_module"), std::string::npos) << r;
    EXPECT_EQ(r.out.find("--without-upstream_module"), std::string::npos) << r;
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

// ---- dependencies between modules ----

TEST_F(BuildTest, WithoutHttpLeavesOutEveryHttpModule) {
    RunResult r = configure({"--without-http_module", "--without-stream_module"});
    ASSERT_EQ(r.status, 0) << r;
    EXPECT_NE(r.out.find("modules built (4): core events vrrp anycast\n"), std::string::npos) << r;
    for (const char* m : {"http_ssl", "http_rewrite", "http_upstream", "http_proxy",
                          "http_healthcheck", "http_status", "http_upstream_hash"}) {
        EXPECT_NE(r.out.find(std::string(m) + " (requires http)"), std::string::npos) << m << r;
    }
    EXPECT_NE(r.out.find("shared layers built: upstream\n"), std::string::npos) << r;
}

TEST_F(BuildTest, WithoutUpstreamLeavesOutTheModulesThatNeedIt) {
    RunResult r = configure({"--without-http_upstream_module"});
    ASSERT_EQ(r.status, 0) << r;
    for (const char* m :
         {"http_proxy", "http_healthcheck", "http_upstream_hash", "http_upstream_least_conn"}) {
        EXPECT_NE(r.out.find(std::string(m) + " (requires http_upstream)"), std::string::npos)
            << m << r;
    }
    // The status page stays: it is on the "modules built" line, not the "left out" one.
    size_t built = r.out.find("modules built");
    ASSERT_NE(built, std::string::npos) << r;
    std::string built_line = r.out.substr(built, r.out.find('\n', built) - built);
    EXPECT_NE((built_line + " ").find(" http_status "), std::string::npos) << built_line;
    EXPECT_EQ(built_line.find(" http_proxy"), std::string::npos) << built_line;
}

TEST_F(BuildTest, AModuleAskedForWithoutWhatItRequiresIsRefused) {
    RunResult r = configure({"--without-http_upstream_module", "--with-http_proxy_module"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("--with-http_proxy_module: the http_proxy module requires the "
                         "http_upstream module, which is not built "
                         "(--without-http_upstream_module)"),
              std::string::npos)
        << r;
    // Left out with its own requirement: the message says why.
    r = configure({"--without-http_module", "--with-http_upstream_hash_module"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("the http_upstream_hash module requires the http module"),
              std::string::npos)
        << r;
}

TEST_F(BuildTest, ALayerHasNoSwitch) {
    RunResult r = configure({"--without-upstream_module"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("upstream is a layer that modules share"), std::string::npos) << r;
}

// ---- --without-http_module --without-stream_module: VRRP only ----

class VrrpOnlyBuildTest : public BuildTest {
  protected:
    static const Build& vrrp_only() {
        return build({"--without-http_module", "--without-stream_module"});
    }
    void SetUp() override { ASSERT_TRUE(vrrp_only().ok()) << vrrp_only(); }
};

TEST_F(VrrpOnlyBuildTest, HasNoHttpCode) {
    RunResult v = run_command({vrrp_only().bin(), "-V"});
    EXPECT_NE(v.err.find("modules: core events vrrp anycast\n"), std::string::npos) << v;
    RunResult nm = run_command({"nm", "-C", "--defined-only", vrrp_only().bin()}, 60s);
    ASSERT_EQ(nm.status, 0) << nm.err;
    ASSERT_NE(nm.out.find("vrrp::"), std::string::npos) << "nm shows no symbols?";
    std::istringstream lines(nm.out);
    std::string line;
    int http = 0;
    std::string first;
    while (std::getline(lines, line)) {
        for (const char* ns : {" http::", " mod::", " tls::", "(http::", "<http::"}) {
            if (line.find(ns) != std::string::npos) {
                http++;
                first = first.empty() ? line : first;
            }
        }
    }
    EXPECT_EQ(http, 0) << "first: " << first;
    // Nor the libraries only HTTP needs.
    RunResult ldd = run_command({"ldd", vrrp_only().bin()});
    EXPECT_EQ(ldd.out.find("libssl"), std::string::npos) << ldd.out;
    EXPECT_EQ(ldd.out.find("libpcre2"), std::string::npos) << ldd.out;
    EXPECT_EQ(ldd.out.find("libz."), std::string::npos) << ldd.out;
}

TEST_F(VrrpOnlyBuildTest, HttpIsAnUnknownDirective) {
    Halo halo(vrrp_only().bin());
    halo.write_conf("events { }\nhttp {\n}\n");
    RunResult r = halo.run({"-t"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("unknown directive \"http\" in " + halo.conf_path() + ":2"),
              std::string::npos)
        << r;
}

TEST_F(VrrpOnlyBuildTest, ImportsKeepalivedConfigs) {
    TempDir dir("halo-kimport");
    ASSERT_TRUE(write_file(dir.path() + "/keepalived.conf", R"(vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    virtual_ipaddress {
        10.77.0.100/24
    }
}
virtual_server 10.77.0.100 443 {
    protocol TCP
    real_server 10.77.0.11 443 {
    }
}
)"));
    RunResult r =
        run_command({vrrp_only().bin(), "--import-keepalived", dir.path() + "/keepalived.conf"});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_NE(r.out.find("vrrp_instance VI_1 {"), std::string::npos) << r;
    // No stream module in this build: the virtual_server is reported, the output still loads.
    EXPECT_EQ(r.out.find("stream {"), std::string::npos) << r;
    EXPECT_NE(r.err.find("keepalived.conf:11: keepalived keyword \"virtual_server\" is not "
                         "supported: halo is built without the stream module (not "
                         "imported) (skipped)"),
              std::string::npos)
        << r;
    ASSERT_TRUE(write_file(dir.path() + "/halo.conf", r.out));
    mkdir((dir.path() + "/logs").c_str(), 0755);  // for -t's error log (may exist)
    RunResult t = run_command(
        {vrrp_only().bin(), "-t", "-p", dir.path() + "/", "-c", dir.path() + "/halo.conf"});
    EXPECT_EQ(t.status, 0) << t << r.out;
}

/// Runs `argv` in network namespace `ns`.
RunResult in_ns(const std::string& ns, std::vector<std::string> argv, Millis timeout = 10s) {
    argv.insert(argv.begin(), {"ip", "netns", "exec", ns});
    return run_command(argv, timeout);
}

TEST_F(VrrpOnlyBuildTest, RunsAVrrpConfigInANetworkNamespace) {
    if (geteuid() != 0 || run_command({"ip", "netns", "list"}).status != 0) {
        GTEST_SKIP() << "needs root and ip netns";
    }
    // Two namespaces joined by a veth pair: halo in "a" holds the VIP, "b" reaches it.
    const std::string a = "halob" + std::to_string(getpid()) + "a";
    const std::string b = "halob" + std::to_string(getpid()) + "b";
    struct Cleanup {
        std::vector<std::string> ns;
        pid_t master = -1;
        ~Cleanup() {
            if (master > 0) {
                for (pid_t child : children_of(master)) {
                    kill(child, SIGKILL);
                }
                kill(master, SIGKILL);
            }
            for (const std::string& n : ns) {
                run_command({"ip", "netns", "del", n});
            }
        }
    } cleanup;
    for (const std::string& n : {a, b}) {
        ASSERT_EQ(run_command({"ip", "netns", "add", n}).status, 0);
        cleanup.ns.push_back(n);
        ASSERT_EQ(in_ns(n, {"ip", "link", "set", "lo", "up"}).status, 0);
    }
    ASSERT_EQ(run_command({"ip", "-n", a, "link", "add", "eth0", "type", "veth", "peer", "name",
                           "eth0", "netns", b})
                  .status,
              0);
    ASSERT_EQ(in_ns(a, {"ip", "addr", "add", "10.77.0.1/24", "dev", "eth0"}).status, 0);
    ASSERT_EQ(in_ns(b, {"ip", "addr", "add", "10.77.0.2/24", "dev", "eth0"}).status, 0);
    ASSERT_EQ(in_ns(a, {"ip", "link", "set", "eth0", "up"}).status, 0);
    ASSERT_EQ(in_ns(b, {"ip", "link", "set", "eth0", "up"}).status, 0);

    TempDir prefix("halo-vrrp-only");  // with logs/
    ASSERT_TRUE(write_file(prefix.path() + "/halo.conf", R"(error_log logs/error.log info;
pid logs/halo.pid;
events { }
vrrp {
    vrrp_instance VI_1 {
        state BACKUP;
        interface eth0;
        virtual_router_id 77;
        priority 100;
        advert_int 100ms;
        virtual_ipaddress {
            10.77.0.100/24;
        }
    }
}
)"));
    RunResult start = in_ns(
        a, {vrrp_only().bin(), "-p", prefix.path() + "/", "-c", prefix.path() + "/halo.conf"});
    ASSERT_EQ(start.status, 0) << start;
    std::optional<pid_t> master = read_pid_file(prefix.path() + "/logs/halo.pid");
    ASSERT_TRUE(master);
    cleanup.master = *master;

    // Alone on the link, the backup becomes master after Master_Down_Interval (~0.4 s).
    auto vip_on = [&] {
        return in_ns(a, {"ip", "-4", "addr", "show", "dev", "eth0"}).out.find("10.77.0.100/24") !=
               std::string::npos;
    };
    bool up = false;
    for (int i = 0; i < 100 && !up; i++) {
        up = vip_on();
        if (!up) {
            std::this_thread::sleep_for(100ms);
        }
    }
    ASSERT_TRUE(up) << read_file(prefix.path() + "/logs/error.log").value_or("");
    // The other node reaches the VIP: a TCP connection to a closed port is refused at once
    // (curl exit 7; 28 would be a timeout), and the address it resolved is the master's link.
    RunResult reach = in_ns(b, {"curl", "-s", "-S", "-m", "3", "http://10.77.0.100:9/"});
    EXPECT_EQ(reach.status, 7) << reach;
    std::string mac = in_ns(a, {"cat", "/sys/class/net/eth0/address"}).out;
    mac = mac.substr(0, mac.find('\n'));
    RunResult neigh = in_ns(b, {"ip", "neigh", "show", "10.77.0.100"});
    EXPECT_FALSE(mac.empty());
    EXPECT_NE(neigh.out.find("lladdr " + mac), std::string::npos) << neigh << "mac " << mac;

    // A stop hands the VIP back: the address leaves the link.
    ASSERT_EQ(kill(*master, SIGTERM), 0);
    bool gone = false;
    for (int i = 0; i < 100 && !gone; i++) {
        gone = !process_alive(*master) && !vip_on();
        if (!gone) {
            std::this_thread::sleep_for(100ms);
        }
    }
    EXPECT_TRUE(gone) << read_file(prefix.path() + "/logs/error.log").value_or("");
    std::string log = read_file(prefix.path() + "/logs/error.log").value_or("");
    EXPECT_NE(log.find("MASTER"), std::string::npos) << log;
}

// ---- --without-http_upstream_module ----

class NoUpstreamBuildTest : public BuildTest {
  protected:
    static const Build& no_upstream() { return build({"--without-http_upstream_module"}); }
    void SetUp() override { ASSERT_TRUE(no_upstream().ok()) << no_upstream(); }
};

TEST_F(NoUpstreamBuildTest, TheProxyIsLeftOutAndTheStatusPageServes) {
    const std::string bin = no_upstream().bin();
    EXPECT_FALSE(halo_has_module("http_proxy", bin));
    EXPECT_FALSE(halo_has_module("http_healthcheck", bin));
    EXPECT_TRUE(halo_has_module("http_status", bin));
    Halo halo(bin);
    halo.write_conf(R"(daemon off;
error_log logs/error.log notice;
events { }
http {
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location /status { status format=json; }
        location /app/ { proxy_pass http://127.0.0.1:1; }
    }
}
)");
    RunResult r = halo.run({"-t"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("unknown directive \"proxy_pass\" in " + halo.conf_path() + ":8"),
              std::string::npos)
        << r;
    halo.write_conf(R"(daemon off;
error_log logs/error.log notice;
events { }
http {
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location /status { status format=json; }
    }
}
)");
    ASSERT_TRUE(halo.start());
    auto page = http_get(halo.port(0), "/status");
    ASSERT_TRUE(page);
    EXPECT_EQ(page->status, 200);
    EXPECT_NE(page->body.find("\"upstreams\""), std::string::npos) << page->body;
}

}  // namespace
}  // namespace halo_test
