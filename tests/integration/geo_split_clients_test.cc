// geo and split_clients in http through the real binary (two workers): geo by the client
// address (clients bound to 127.0.0.1, 127.0.0.2, ...; ::1), after realip, `proxy` with
// X-Forwarded-For (and proxy_recursive), ranges from an included file, the address from a
// variable; split_clients over 10,000 keys (counts per bucket); config errors and warnings
// with file:line; a reload rebuilding the tables. Against nginx: geo_nginx_diff_test.cc.
#include <algorithm>
#include <csignal>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "geo_clients.h"
#include "support/harness.h"
#include "support/nginx.h"
#include "support/stream_backend.h"

namespace halo_test {
namespace {

TEST_F(GeoSplitClientsTest, GeoByTheClientAddress) {
    start(R"(http {
    geo $g {
        default other;
        127.0.0.1 one;
        127.0.0.2/32 two;
        127.0.0.0/24 net;
        127.0.0.128/25 high;
        delete 127.0.0.128/25;
        127.0.5.0/24 five;
        ::1 six;
        ::/8 six-net;
        192.0.2.0/24 doc;
    }
    server {
        listen 127.0.0.1:%%PORT_0%%;
        listen [::1]:%%PORT_0%%;
        location / { return 200 "$g"; }
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        set_real_ip_from 127.0.0.2;
        real_ip_header X-Real-IP;
        location / { return 200 "$g"; }
    }
})");
    uint16_t p = halo_.port(0);
    EXPECT_EQ(body_from("127.0.0.1", p, "/"), "one");
    EXPECT_EQ(body_from("127.0.0.2", p, "/"), "two");
    EXPECT_EQ(body_from("127.0.0.3", p, "/"), "net");
    EXPECT_EQ(body_from("127.0.0.200", p, "/"), "net");  // its /25 was deleted
    EXPECT_EQ(body_from("127.0.5.9", p, "/"), "five");
    EXPECT_EQ(body_from("127.1.2.3", p, "/"), "other");
    int fd6 = connect6(p);
    if (fd6 >= 0) {
        ::close(fd6);
        EXPECT_EQ(body_from("::1", p, "/"), "six");  // an IPv6 client: the IPv6 table
    }
    // After realip, geo sees the address realip chose (for the trusted client only).
    EXPECT_EQ(body_from("127.0.0.2", halo_.port(1), "/", "X-Real-IP: 192.0.2.9\r\n"), "doc");
    EXPECT_EQ(body_from("127.0.0.3", halo_.port(1), "/", "X-Real-IP: 192.0.2.9\r\n"), "net");
    // Many clients over both workers: each one its own value.
    for (int i = 1; i < 60; i++) {
        std::string src = "127.0.5." + std::to_string(i);
        ASSERT_EQ(body_from(src, p, "/"), "five") << src;
    }
}

TEST_F(GeoSplitClientsTest, ProxyTakesXForwardedForFromTrustedClients) {
    start(R"(http {
    geo $g {
        default none;
        proxy 127.0.0.1;
        proxy 127.0.0.5;
        192.0.2.0/24 doc;
        198.51.100.0/24 net2;
        127.0.0.0/8 lo;
    }
    geo $r {
        default none;
        proxy 127.0.0.1;
        proxy 127.0.0.5;
        proxy_recursive;
        192.0.2.0/24 doc;
        127.0.0.0/8 lo;
    }
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { return 200 "$g $r"; }
    }
})");
    uint16_t p = halo_.port(0);
    std::string xff = "X-Forwarded-For: 192.0.2.9, 127.0.0.5\r\n";
    EXPECT_EQ(body_from("127.0.0.1", p, "/", xff), "lo doc");
    EXPECT_EQ(body_from("127.0.0.1", p, "/", "X-Forwarded-For: 198.51.100.7\r\n"), "net2 none");
    EXPECT_EQ(body_from("127.0.0.2", p, "/", xff), "lo lo");  // not a trusted client
    EXPECT_EQ(body_from("127.0.0.1", p, "/"), "lo lo");       // no header
    EXPECT_EQ(body_from("127.0.0.1", p, "/", "X-Forwarded-For: junk\r\n"), "lo lo");
    EXPECT_EQ(body_from("127.0.0.1", p, "/",
                        "X-Forwarded-For: 192.0.2.9\r\nX-Forwarded-For: 127.0.0.5\r\n"),
              "lo doc");
}

TEST_F(GeoSplitClientsTest, RangesFromAnIncludedFileAndTheAddressFromAVariable) {
    halo_.write("geo/ranges.conf",
                "10.0.0.0-10.0.0.255 ten;\n10.0.0.100-10.0.0.199 ten-mid;\n"
                "127.0.0.1-127.0.0.9 lo-low;\n");
    halo_.write("geo/cidr.conf", "10.0.0.0/8 ten;\n2001:db8::/32 six;\n");
    start(R"(http {
    geo $ranged {
        ranges;
        default out;
        include geo/ranges.conf;
    }
    geo $arg_ip $by_arg {
        default none;
        include geo/cidr.conf;
    }
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { return 200 "$ranged $by_arg"; }
    }
})");
    uint16_t p = halo_.port(0);
    EXPECT_EQ(body_from("127.0.0.3", p, "/?ip=2001:db8::1"), "lo-low six");
    EXPECT_EQ(body_from("127.0.0.10", p, "/?ip=10.9.9.9"), "out ten");
    EXPECT_EQ(body_from("127.0.0.1", p, "/?ip=bogus"), "lo-low none");
}

TEST_F(GeoSplitClientsTest, SplitClientsCountsPerBucket) {
    start(R"(http {
    split_clients "${arg_k}-salt" $bucket {
        10%   a;
        25%   b;
        0.5%  c;
        *     d;
    }
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { return 200 "$bucket"; }
    }
})");
    std::vector<std::string> paths;
    for (int i = 0; i < 10000; i++) {
        paths.push_back("/?k=user" + std::to_string(i));
    }
    std::map<std::string, int> n;
    for (const std::string& b : bodies(halo_.port(0), paths)) {
        n[b]++;
    }
    // 10000 fixed keys: the counts are what the hash gives them; the bands (about 4 standard
    // deviations) say the slices have the sizes asked for.
    EXPECT_NEAR(n["a"], 1000, 120) << n["a"];
    EXPECT_NEAR(n["b"], 2500, 180) << n["b"];
    EXPECT_NEAR(n["c"], 50, 30) << n["c"];
    EXPECT_NEAR(n["d"], 6450, 200) << n["d"];
    EXPECT_EQ(n["a"] + n["b"] + n["c"] + n["d"], 10000);
}

TEST_F(GeoSplitClientsTest, ConfigErrorsWithFileAndLine) {
    expect_emerg("http {\n geo $g {\n  10.0.0.0/33 a;\n }\n}\n", "invalid network \"10.0.0.0/33\"",
                 7);
    expect_emerg(
        "http {\n geo $g {\n  ranges;\n  10.0.0.1-10.0.0.5 a;\n  10.0.0.3-10.0.0.9 b;\n"
        " }\n}\n",
        "range \"10.0.0.3-10.0.0.9\" overlaps \"10.0.0.1-10.0.0.5\"", 9);
    expect_emerg("http {\n split_clients $uri $s {\n  60% a;\n  50% b;\n }\n}\n",
                 "percent total is greater than 100%", 8);
    expect_emerg("http {\n split_clients $uri $s {\n  1.005% a;\n }\n}\n",
                 "invalid percent value \"1.005%\"", 7);
    expect_emerg("http {\n server {\n  geo $g { }\n }\n}\n",
                 "\"geo\" directive is not allowed here", 7);
    // Warnings, as nginx's: the config still loads.
    RunResult r =
        check("http {\n geo $g {\n  10.0.0.1/8 a;\n  10.0.0.0/8 b;\n  delete 11.0.0.0/8;\n }\n}\n");
    EXPECT_EQ(r.status, 0) << r;
    std::string at = " in " + halo_.conf_path() + ":";
    EXPECT_NE(r.err.find("[warn] low address bits of 10.0.0.1/8 are meaningless" + at + "7"),
              std::string::npos)
        << r;
    EXPECT_NE(r.err.find("[warn] duplicate network \"10.0.0.0/8\", value: \"b\", old value: "
                         "\"a\"" +
                         at + "8"),
              std::string::npos)
        << r;
    EXPECT_NE(r.err.find("[warn] no network \"11.0.0.0/8\" to delete" + at + "9"),
              std::string::npos)
        << r;
}

// ---- against nginx ----

TEST_F(GeoSplitClientsTest, AReloadRebuildsTheTables) {
    std::string conf = R"(http {
    geo $g { default old; 127.0.0.2 two-old; }
    split_clients "$arg_k" $s { 50% a; * b; }
    server { listen 127.0.0.1:%%PORT_0%%; location / { return 200 "$g $s"; } }
})";
    start(conf);
    uint16_t p = halo_.port(0);
    EXPECT_EQ(body_from("127.0.0.2", p, "/?k=x").substr(0, 8), "two-old ");
    std::string before = body_from("127.0.0.1", p, "/?k=x");
    EXPECT_EQ(before.substr(0, 4), "old ");
    conf = replace_all(replace_all(conf, "two-old", "two-new"), "default old", "default new");
    conf = replace_all(conf, "50% a; * b;", "100% c;");
    halo_.write_conf(std::string(kMain) + conf);
    ASSERT_TRUE(halo_.signal(SIGHUP));
    ASSERT_TRUE(wait_until([&] { return body_from("127.0.0.1", p, "/?k=x") == "new c"; }))
        << before << " -> " << body_from("127.0.0.1", p, "/?k=x");
    EXPECT_EQ(body_from("127.0.0.2", p, "/?k=y"), "two-new c");
    // A reload whose geo is wrong is refused: the old tables keep serving.
    halo_.write_conf(std::string(kMain) + replace_all(conf, "127.0.0.2 two-new", "127.0.0.2/40 x"));
    ASSERT_TRUE(halo_.signal(SIGHUP));
    EXPECT_TRUE(wait_until([&] {
        return halo_.error_log().find("invalid network \"127.0.0.2/40\"") != std::string::npos;
    })) << halo_.error_log();
    EXPECT_EQ(body_from("127.0.0.2", p, "/?k=y"), "two-new c");
}

}  // namespace
}  // namespace halo_test
