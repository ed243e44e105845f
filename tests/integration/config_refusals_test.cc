// `halo -t` refuses what nginx refuses: an empty listen address, a shared zone larger than
// the machine can map, absurd buffer sizes and counts, a lone `$`, and a main config without
// an `events` section (an empty file). Each error names the directive's file:line as nginx
// does; nginx's own words are quoted beside each case.
#include "support/harness.h"
#include "support/sanitizer.h"

namespace halo_test {
namespace {

/// A config with `http_body` inside `http { }`, the line of its first line being 6.
std::string conf(std::string_view http_body) {
    std::string c = "daemon off;\nerror_log logs/error.log;\nevents {\n}\nhttp {\n";
    c += http_body;
    c += "\n}\n";
    return c;
}

class ConfigRefusalsTest : public ::testing::Test {
  protected:
    /// `halo -t` fails with exactly "halo: [emerg] <message>[ in halo.conf:<line>]".
    void expect_refused(std::string_view text, const std::string& message, int line) {
        halo_.write_conf(text);
        RunResult r = halo_.run({"-t"});
        EXPECT_EQ(r.status, 1) << r;
        std::string where = line > 0 ? " in " + halo_.conf_path() + ":" + std::to_string(line) : "";
        EXPECT_NE(r.err.find("halo: [emerg] " + message + where + "\n"), std::string::npos)
            << "expected: halo: [emerg] " << message << where << "\n"
            << r;
        EXPECT_NE(r.err.find("halo: configuration file " + halo_.conf_path() + " test failed\n"),
                  std::string::npos)
            << r;
    }

    Halo halo_;
};

// nginx: no host in "" of the "listen" directive in t.conf:1 (halo bound 0.0.0.0:80)
TEST_F(ConfigRefusalsTest, EmptyListenAddress) {
    expect_refused(conf("server {\n    listen \"\";\n}"),
                   "no host in \"\" of the \"listen\" directive", 7);
}

// nginx -t maps the zone and fails: mmap(MAP_ANON|MAP_SHARED, ...) failed (12: Cannot
// allocate memory). halo passed -t and failed at start.
TEST_F(ConfigRefusalsTest, ZoneLargerThanTheMachine) {
    if (!halo_has_module("http_upstream")) {
        GTEST_SKIP() << "the http_upstream module is not compiled in";
    }
    halo_.write_conf(conf("upstream u {\n    zone u 1000000g;\n    server 127.0.0.1:1;\n}"));
    RunResult r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("halo: [emerg] zone \"u\" of 1000000g is larger than the memory of this "
                         "machine ("),
              std::string::npos)
        << r;
    EXPECT_NE(r.err.find(" in " + halo_.conf_path() + ":7\n"), std::string::npos) << r;
}

// -t maps the shared zones as a start would: a zone the system refuses fails the test
// (here under a 600 MB address-space limit, the zone fitting the machine).
TEST_F(ConfigRefusalsTest, TestMapsTheZonesAsAStartWould) {
    if (!halo_has_module("http_upstream")) {
        GTEST_SKIP() << "the http_upstream module is not compiled in";
    }
    if (sanitized_run()) {
        GTEST_SKIP() << "AddressSanitizer cannot start under ulimit -v";
    }
    halo_.write_conf(conf("upstream u {\n    zone u 1g;\n    server 127.0.0.1:1;\n}"));
    const std::string cmd = "ulimit -v 600000 && exec " + halo_.bin() + " -t -p " + halo_.prefix() +
                            "/ -c " + halo_.conf_path();
    RunResult r = run_command({"sh", "-c", cmd});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("halo: [emerg] mmap(MAP_ANON|MAP_SHARED, 1073741824) failed (12: "
                         "Cannot allocate memory) for zone \"u\" in " +
                         halo_.conf_path() + ":7\n"),
              std::string::npos)
        << r;
    // Without the limit the same config passes.
    EXPECT_EQ(halo_.run({"-t", "-q"}).status, 0);
}

// nginx: "client_body_buffer_size" directive invalid value in t.conf:1
TEST_F(ConfigRefusalsTest, HugeBufferSizes) {
    expect_refused(conf("client_body_buffer_size 100g;"),
                   "invalid value \"100g\" in \"client_body_buffer_size\" directive, it must not "
                   "be more than 1g",
                   6);
    expect_refused(conf("server {\n    client_header_buffer_size 2g;\n}"),
                   "invalid value \"2g\" in \"client_header_buffer_size\" directive, it must not "
                   "be more than 1g",
                   7);
}

// Lengths are not memory: a large body limit stays valid (nginx: an offset, `g` allowed).
TEST_F(ConfigRefusalsTest, LargeLengthsStayValid) {
    halo_.write_conf(conf("client_max_body_size 100g;"));
    RunResult r = halo_.run({"-t", "-q"});
    EXPECT_EQ(r.status, 0) << r;
}

TEST_F(ConfigRefusalsTest, HugeProxyBuffers) {
    if (!halo_has_module("http_proxy")) {
        GTEST_SKIP() << "the http_proxy module is not compiled in";
    }
    // nginx: "proxy_buffer_size" directive invalid value in t.conf:1
    expect_refused(conf("proxy_buffer_size 100g;"),
                   "invalid value \"100g\" in \"proxy_buffer_size\" directive, it must not be "
                   "more than 1g",
                   6);
    // nginx: "proxy_buffers" directive invalid value in t.conf:1
    expect_refused(conf("proxy_buffers 100000000 1g;"),
                   "invalid value \"100000000\" in \"proxy_buffers\" directive, the number must "
                   "be 1..65536",
                   6);
    expect_refused(conf("proxy_buffers 2048 1m;"),
                   "2048 buffers of 1m are more than 1g in \"proxy_buffers\" directive", 6);
}

// nginx: invalid variable name in t.conf:1
TEST_F(ConfigRefusalsTest, LoneDollar) {
    if (!halo_has_module("http_rewrite")) {
        GTEST_SKIP() << "the http_rewrite module is not compiled in";
    }
    expect_refused(conf("server {\n    set $foo \"$\";\n}"), "invalid variable name in \"$\"", 7);
    expect_refused(conf("server {\n    return 200 \"a$\";\n}"), "invalid variable name in \"a$\"",
                   7);
}

// nginx: no "events" section in configuration
TEST_F(ConfigRefusalsTest, EmptyMainConfig) {
    expect_refused("", "no \"events\" section in configuration", 0);
    expect_refused("# nothing but a comment\n", "no \"events\" section in configuration", 0);
}

}  // namespace
}  // namespace halo_test
