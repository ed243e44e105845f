// The syslog destination of error logs: parsing of nginx's `syslog:` parameters with its
// messages, the RFC 3164 header, sending to a unix datagram socket, and a Log target that
// sends its lines there.
#include "core/syslog.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <regex>
#include <string>

#include "core/log.h"
#include "support/test_modules.h"

namespace core {
namespace {

using ::testing::HasSubstr;

std::string parse_error(std::string_view spec) {
    SyslogPeer p;
    std::string err;
    EXPECT_FALSE(parse_syslog(spec, p, err)) << spec;
    return err;
}

TEST(SyslogTest, ParsesNginxParameters) {
    SyslogPeer p;
    std::string err;
    ASSERT_TRUE(
        parse_syslog("server=127.0.0.1:5140,facility=local6,severity=warn,tag=web_1,"
                     "nohostname",
                     p, err))
        << err;
    EXPECT_EQ(p.facility, 22);
    EXPECT_EQ(p.severity, 4);
    EXPECT_EQ(p.tag, "web_1");
    EXPECT_TRUE(p.nohostname);
    EXPECT_EQ(p.addr.ss_family, AF_INET);

    SyslogPeer d;
    ASSERT_TRUE(parse_syslog("server=unix:/dev/log", d, err)) << err;
    EXPECT_EQ(d.addr.ss_family, AF_UNIX);
    EXPECT_EQ(d.facility, 23);  // local7
    EXPECT_EQ(d.tag, "halo");
    EXPECT_FALSE(d.nohostname);

    SyslogPeer v6;
    ASSERT_TRUE(parse_syslog("server=[::1]", v6, err)) << err;
    EXPECT_EQ(v6.addr.ss_family, AF_INET6);
}

TEST(SyslogTest, RefusalsInNginxWords) {
    EXPECT_EQ(parse_error("facility=local1"), "no syslog server specified");
    EXPECT_EQ(parse_error("server=127.0.0.1,facility=nope"), "unknown syslog facility \"nope\"");
    EXPECT_EQ(parse_error("server=127.0.0.1,severity=loud"), "unknown syslog severity \"loud\"");
    EXPECT_EQ(parse_error("server=127.0.0.1,tag=a-b"),
              "syslog \"tag\" only allows alphanumeric characters and underscore");
    EXPECT_EQ(parse_error("server=127.0.0.1,tag=" + std::string(33, 'a')),
              "syslog tag length exceeds 32");
    EXPECT_EQ(parse_error("server=127.0.0.1,x=1"), "unknown syslog parameter \"x=1\"");
    EXPECT_EQ(parse_error("server=127.0.0.1,server=127.0.0.2"), "duplicate syslog \"server\"");
    EXPECT_EQ(parse_error("server=127.0.0.1,facility=user,facility=user"),
              "duplicate syslog \"facility\"");
    EXPECT_EQ(parse_error("server=127.0.0.1,severity=info,severity=info"),
              "duplicate syslog \"severity\"");
    EXPECT_EQ(parse_error("server=127.0.0.1,tag=a,tag=b"), "duplicate syslog \"tag\"");
    EXPECT_EQ(parse_error("server,server=127.0.0.1"), "unknown syslog parameter \"server\"");
    EXPECT_EQ(parse_error("server=127.0.0.1:99999"),
              "invalid port in syslog server \"127.0.0.1:99999\"");
    EXPECT_EQ(parse_error("server=unix:"),
              "no path in the unix domain socket in syslog server "
              "\"unix:\"");
}

TEST(SyslogTest, HeaderAsRfc3164) {
    SyslogPeer p;
    std::string err;
    ASSERT_TRUE(parse_syslog("server=127.0.0.1,tag=t", p, err));
    p.hostname = "node1";
    std::regex shape(R"(^<187>[A-Z][a-z]{2} [ 1-3]\d \d\d:\d\d:\d\d node1 t: $)");
    EXPECT_TRUE(std::regex_match(p.header(3), shape)) << p.header(3);
    p.nohostname = true;
    EXPECT_THAT(p.header(6), HasSubstr(" t: "));
    EXPECT_EQ(p.header(6).substr(0, 5), "<190>");
}

TEST(SyslogTest, LogLinesGoToAUnixSocket) {
    support::TempDir dir;
    std::string path = dir.file("log.sock");
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);

    auto peer = std::make_shared<SyslogPeer>();
    std::string err;
    ASSERT_TRUE(parse_syslog("server=unix:" + path + ",nohostname,tag=x", *peer, err)) << err;
    Log log;
    LogTarget t;
    t.level = LogLevel::kWarn;
    t.syslog = peer;
    log.add_target(t);
    log.write(LogLevel::kInfo, 0, "not sent");
    log.write(LogLevel::kCrit, 7, "sent");
    char buf[1024];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    ASSERT_GT(n, 0);
    std::string m(buf, static_cast<size_t>(n));
    // local7.crit = 23 * 8 + 2; the line without its newline.
    std::regex shape(R"(^<186>.{15} x: \d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[crit\] \d+#0: \*7 sent$)");
    EXPECT_TRUE(std::regex_match(m, shape)) << m;
    EXPECT_LT(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), 0);  // nothing else
    close(fd);
}

TEST(SyslogTest, AFailedSendIsReportedAndRetried) {
    support::TempDir dir;
    auto peer = std::make_shared<SyslogPeer>();
    std::string err;
    ASSERT_TRUE(parse_syslog("server=unix:" + dir.file("none.sock"), *peer, err)) << err;
    EXPECT_FALSE(peer->send(3, "x", &err));
    EXPECT_THAT(err, HasSubstr("connect() failed (2: No such file or directory)"));
    // Created afterwards: the next line reaches it.
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    strncpy(a.sun_path, dir.file("none.sock").c_str(), sizeof(a.sun_path) - 1);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_TRUE(peer->send(3, "y", &err)) << err;
    close(fd);
}

}  // namespace
}  // namespace core
