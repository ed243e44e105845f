// The `health_check` directive: the accepted forms and their values, defaults, every error
// with its file:line, the healthcheck helper registered only when checks exist, and the
// carry-over of up/down state across a reload (matched by group and address; new servers
// start up; a group that loses its health_check loses the state).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/cycle.h"
#include "modules/healthcheck/healthcheck_module.h"
#include "modules/healthcheck/probe.h"
#include "support/test_modules.h"
#include "upstream/upstream.h"

namespace mod::healthcheck {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

class HealthCheckConfigTest : public ::testing::Test {
  protected:
    HealthCheckConfigTest() : registry_(core::compiled_modules()) {}

    /// `body` inside `http { }`; `test_only`: no shared memory (halo -t).
    core::Status load(std::string_view body, bool test_only = true) {
        cycle_.reset();
        return support::load_cycle(registry_, dir_, "http {\n" + std::string(body) + "}\n", cycle_,
                                   nullptr, {}, test_only);
    }
    /// One upstream block with `directive` on line 4 of the file (http is line 1).
    std::string error(std::string_view directive) {
        core::Status s =
            load("upstream app {\n  server 127.0.0.1:1;\n  " + std::string(directive) + "\n}\n");
        EXPECT_FALSE(s.is_ok()) << "loaded: " << directive;
        return s.message();
    }
    std::string at(int line) const {
        return " in " + dir_.file("halo.conf") + ":" + std::to_string(line);
    }
    const CheckSpec* spec(std::string_view group) { return find_check(*cycle_, group); }

    support::TempDir dir_;
    core::ModuleRegistry registry_;
    std::unique_ptr<core::Cycle> cycle_;
};

TEST_F(HealthCheckConfigTest, TheDocumentedForm) {
    core::Status s = load(
        "upstream app {\n  server 127.0.0.1:8081;\n"
        "  health_check type=http uri=/health expect=200-399 interval=2s timeout=1s fall=3 "
        "rise=2;\n}\n");
    ASSERT_TRUE(s.is_ok()) << s.message();
    const CheckSpec* c = spec("app");
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->type, CheckType::kHttp);
    EXPECT_EQ(c->uri, "/health");
    ASSERT_EQ(c->expect.size(), 1u);
    EXPECT_EQ(c->expect[0].lo, 200);
    EXPECT_EQ(c->expect[0].hi, 399);
    EXPECT_EQ(c->interval, 2s);
    EXPECT_EQ(c->timeout, 1s);
    EXPECT_EQ(c->fall, 3);
    EXPECT_EQ(c->rise, 2);
    EXPECT_EQ(c->body, nullptr);
    EXPECT_EQ(c->port, 0);
    EXPECT_EQ(c->jitter, 0ms);
    EXPECT_TRUE(upstream::find_group(*cycle_, "app")->health_checked());
    // The helper runs the checks.
    ASSERT_EQ(cycle_->helpers().size(), 1u);
    EXPECT_EQ(cycle_->helpers()[0].name, "healthcheck");
    EXPECT_TRUE(cycle_->helpers()[0].drop_privileges);
}

TEST_F(HealthCheckConfigTest, EveryParameter) {
    core::Status s = load(
        "upstream a {\n  server 127.0.0.1:8081;\n"
        "  health_check type=https uri=/ready?full=1 expect=200,204,300-302 body=~*\"up\"\n"
        "               host=app.example port=8443 interval=100ms timeout=50ms jitter=20ms\n"
        "               fall=1000 rise=1;\n}\n"
        "upstream b {\n  server 127.0.0.1:8082;\n  health_check type=tcp interval=1m;\n}\n"
        "upstream c {\n  server 127.0.0.1:8083;\n}\n");
    ASSERT_TRUE(s.is_ok()) << s.message();
    const CheckSpec* a = spec("a");
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->type, CheckType::kHttps);
    EXPECT_EQ(a->uri, "/ready?full=1");
    ASSERT_EQ(a->expect.size(), 3u);
    EXPECT_TRUE(a->accepts(204));
    EXPECT_TRUE(a->accepts(301));
    EXPECT_FALSE(a->accepts(203));
    EXPECT_FALSE(a->accepts(303));
    ASSERT_NE(a->body, nullptr);
    EXPECT_TRUE(a->body->match("{\"status\":\"UP\"}"));  // ~* is caseless
    EXPECT_EQ(a->host, "app.example");
    EXPECT_EQ(a->port, 8443);
    EXPECT_EQ(a->interval, 100ms);
    EXPECT_EQ(a->timeout, 50ms);
    EXPECT_EQ(a->jitter, 20ms);
    EXPECT_EQ(a->fall, 1000);
    EXPECT_EQ(a->rise, 1);
    const CheckSpec* b = spec("b");
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b->type, CheckType::kTcp);
    EXPECT_EQ(b->interval, 60s);
    EXPECT_EQ(b->timeout, 5s);  // the interval, at most 5s
    EXPECT_EQ(spec("c"), nullptr);
    EXPECT_FALSE(upstream::find_group(*cycle_, "c")->health_checked());
    EXPECT_EQ(cycle_->helpers().size(), 1u);  // one helper for every group
}

TEST_F(HealthCheckConfigTest, Defaults) {
    ASSERT_TRUE(load("upstream app {\n  server 127.0.0.1:8081;\n  health_check;\n}\n").is_ok());
    const CheckSpec* c = spec("app");
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->type, CheckType::kHttp);
    EXPECT_EQ(c->uri, "/");
    EXPECT_TRUE(c->accepts(200));
    EXPECT_TRUE(c->accepts(399));
    EXPECT_FALSE(c->accepts(400));
    EXPECT_EQ(c->interval, 5s);
    EXPECT_EQ(c->timeout, 5s);
    EXPECT_EQ(c->fall, 1);
    EXPECT_EQ(c->rise, 1);
    ASSERT_TRUE(
        load("upstream app {\n  server 127.0.0.1:8081;\n  health_check interval=300ms;\n}\n")
            .is_ok());
    EXPECT_EQ(spec("app")->timeout, 300ms);  // never longer than the interval by default
}

TEST_F(HealthCheckConfigTest, NoHelperWithoutChecks) {
    ASSERT_TRUE(load("upstream app {\n  server 127.0.0.1:8081;\n}\n").is_ok());
    EXPECT_TRUE(cycle_->helpers().empty());
    EXPECT_EQ(spec("app"), nullptr);
}

TEST_F(HealthCheckConfigTest, Errors) {
    auto param = [&](std::string_view p, std::string_view why) {
        return "invalid parameter \"" + std::string(p) + "\" of \"health_check\" (" +
               std::string(why) + ")" + at(4);
    };
    EXPECT_EQ(error("health_check type=sctp;"), param("type=sctp", "tcp, udp, http or https"));
    EXPECT_EQ(error("health_check http;"), param("http", "expected name=value"));
    EXPECT_EQ(error("health_check interval=50ms;"), param("interval=50ms", "100ms..24h"));
    EXPECT_EQ(error("health_check interval=2d;"), param("interval=2d", "100ms..24h"));
    EXPECT_EQ(error("health_check interval=often;"), param("interval=often", "100ms..24h"));
    EXPECT_EQ(error("health_check timeout=0;"), param("timeout=0", "1ms..24h"));
    EXPECT_EQ(error("health_check fall=0;"), param("fall=0", "1..1000"));
    EXPECT_EQ(error("health_check rise=1001;"), param("rise=1001", "1..1000"));
    EXPECT_EQ(error("health_check rise=-1;"), param("rise=-1", "1..1000"));
    EXPECT_EQ(error("health_check port=0;"), param("port=0", "1..65535"));
    EXPECT_EQ(error("health_check port=65536;"), param("port=65536", "1..65535"));
    EXPECT_EQ(error("health_check uri=health;"),
              param("uri=health", "a path starting with \"/\", without spaces"));
    EXPECT_EQ(error("health_check \"uri=/a b\";"),
              param("uri=/a b", "a path starting with \"/\", without spaces"));
    std::string codes = "status codes or ranges of 100..599, such as 200-399 or 200,302";
    for (std::string_view e : {"expect=", "expect=2xx", "expect=99", "expect=600", "expect=399-200",
                               "expect=200,", "expect=200-", "expect=,200"}) {
        EXPECT_EQ(error("health_check " + std::string(e) + ";"), param(e, codes));
    }
    EXPECT_EQ(error("health_check body=up;"),
              param("body=up", "a regular expression after ~ or ~*"));
    EXPECT_EQ(error("health_check body=~;"), param("body=~", "a regular expression after ~ or ~*"));
    EXPECT_EQ(error("health_check body=~*;"),
              param("body=~*", "a regular expression after ~ or ~*"));
    EXPECT_THAT(error("health_check body=~(up;"), HasSubstr("invalid parameter \"body=~(up\""));
    EXPECT_THAT(error("health_check body=~(up;"), HasSubstr(at(4)));
    EXPECT_EQ(error("health_check \"host=a b\";"), param("host=a b", "a host name without spaces"));
    EXPECT_EQ(error("health_check colour=blue;"),
              "invalid parameter \"colour=blue\" of \"health_check\"" + at(4));
    EXPECT_EQ(error("health_check fall=2 fall=3;"),
              "duplicate parameter \"fall\" of \"health_check\"" + at(4));
    EXPECT_EQ(error("health_check type=tcp uri=/x;"),
              "parameter \"uri\" of \"health_check\" needs type=http or type=https" + at(4));
    EXPECT_EQ(error("health_check type=tcp body=~up;"),
              "parameter \"body\" of \"health_check\" needs type=http or type=https" + at(4));
    EXPECT_EQ(error("health_check interval=1s jitter=2s;"),
              "\"jitter\" of \"health_check\" may not exceed its \"interval\" (1s)" + at(4));
    EXPECT_EQ(error("health_check;\n  health_check;"),
              "\"health_check\" directive is duplicate" + at(5));
    // Only in upstream blocks.
    core::Status s = load("health_check;\n");
    ASSERT_FALSE(s.is_ok());
    EXPECT_THAT(s.message(), HasSubstr("\"health_check\" directive is not allowed here"));
    EXPECT_THAT(s.message(), HasSubstr(at(2)));
}

TEST_F(HealthCheckConfigTest, TcpSendAndExpect) {
    // The configuration decodes \r \n \t \\ and \" (as nginx); send= and expect= decode \xHH.
    core::Status s = load(
        "upstream redis {\n  server 127.0.0.1:6379;\n"
        "  health_check type=tcp send=PING\\r\\n expect=+PONG interval=1s;\n}\n"
        "upstream smtp {\n  server 127.0.0.1:25;\n"
        "  health_check expect=~^220[\\x20-] type=tcp port=2525;\n}\n"
        "upstream bin {\n  server 127.0.0.1:9000;\n"
        "  health_check type=tcp \"send=\\x00\\x01 hello\\x7e\\\\\\\\x41\" 'expect=~*^ok\\r$';\n}\n"
        "upstream plain {\n  server 127.0.0.1:9001;\n  health_check type=tcp;\n}\n");
    ASSERT_TRUE(s.is_ok()) << s.message();
    const CheckSpec* r = spec("redis");
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->type, CheckType::kTcp);
    EXPECT_EQ(r->send, "PING\r\n");
    ASSERT_TRUE(r->reply.has_value());
    EXPECT_EQ(r->reply->prefix, "+PONG");
    EXPECT_EQ(r->reply->regex, nullptr);
    // `expect` before `type`: still a reply, not HTTP statuses.
    const CheckSpec* m = spec("smtp");
    ASSERT_NE(m, nullptr);
    EXPECT_TRUE(m->send.empty());  // a banner: nothing is sent
    ASSERT_TRUE(m->reply.has_value());
    ASSERT_NE(m->reply->regex, nullptr);
    EXPECT_TRUE(m->reply->regex->match("220 mail.example ESMTP\r\n"));
    EXPECT_TRUE(m->reply->regex->match("220-mail.example\r\n"));
    EXPECT_FALSE(m->reply->regex->match("554 go away\r\n"));
    EXPECT_EQ(m->port, 2525);
    const CheckSpec* b = spec("bin");
    ASSERT_NE(b, nullptr);
    // \\\\x41 in the configuration: \\x41 after its unescaping, then a backslash and "x41".
    EXPECT_EQ(b->send, std::string("\x00\x01 hello~\\x41", 13));
    ASSERT_NE(b->reply->regex, nullptr);
    EXPECT_TRUE(b->reply->regex->match("OK\r"));  // ~*: caseless
    const CheckSpec* p = spec("plain");
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(p->send.empty());
    EXPECT_FALSE(p->reply.has_value());
    // The status page's summary: the type, no uri.
    const upstream::CheckSummary* sum = upstream::find_group(*cycle_, "redis")->health_check();
    ASSERT_NE(sum, nullptr);
    EXPECT_EQ(sum->type, "tcp");
    EXPECT_EQ(sum->uri, "");
}

TEST_F(HealthCheckConfigTest, UdpSendAndExpect) {
    core::Status s = load(
        "upstream dns {\n  server 127.0.0.1:53;\n"
        "  health_check type=udp send=\\x12\\x34\\x01\\x00 expect=~^\\x12\\x34[\\x80-\\xff] "
        "interval=2s;\n}\n"
        "upstream syslog {\n  server 127.0.0.1:514;\n"
        "  health_check type=udp \"send=<14>halo health check\";\n}\n");
    ASSERT_TRUE(s.is_ok()) << s.message();
    const CheckSpec* d = spec("dns");
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->type, CheckType::kUdp);
    EXPECT_EQ(d->send, std::string("\x12\x34\x01\x00", 4));
    ASSERT_TRUE(d->reply.has_value());
    ASSERT_NE(d->reply->regex, nullptr);
    EXPECT_TRUE(d->reply->regex->match(std::string("\x12\x34\x81\x80", 4)));
    EXPECT_FALSE(d->reply->regex->match(std::string("\x12\x35\x81\x80", 4)));
    EXPECT_FALSE(d->reply->regex->match(std::string("\x12\x34\x01\x00", 4)));  // a query
    EXPECT_EQ(d->timeout, 2s);
    const CheckSpec* l = spec("syslog");
    ASSERT_NE(l, nullptr);
    EXPECT_EQ(l->send, "<14>halo health check");
    EXPECT_FALSE(l->reply.has_value());
    const upstream::CheckSummary* sum = upstream::find_group(*cycle_, "dns")->health_check();
    ASSERT_NE(sum, nullptr);
    EXPECT_EQ(sum->type, "udp");
    EXPECT_EQ(sum->uri, "");
}

TEST_F(HealthCheckConfigTest, TcpAndUdpErrors) {
    auto param = [&](std::string_view p, std::string_view why) {
        return "invalid parameter \"" + std::string(p) + "\" of \"health_check\" (" +
               std::string(why) + ")" + at(4);
    };
    EXPECT_EQ(
        error("health_check type=udp;"),
        "\"health_check\" type=udp needs a \"send\" parameter (the datagram to send)" + at(4));
    EXPECT_EQ(
        error("health_check type=udp expect=ok;"),
        "\"health_check\" type=udp needs a \"send\" parameter (the datagram to send)" + at(4));
    EXPECT_EQ(error("health_check send=PING;"),
              "parameter \"send\" of \"health_check\" needs type=tcp or type=udp" + at(4));
    EXPECT_EQ(error("health_check type=https send=PING;"),
              "parameter \"send\" of \"health_check\" needs type=tcp or type=udp" + at(4));
    for (std::string_view p : {"uri=/x", "body=~up", "host=a.example"}) {
        std::string name(p.substr(0, p.find('=')));
        EXPECT_EQ(
            error("health_check type=udp send=x " + std::string(p) + ";"),
            "parameter \"" + name + "\" of \"health_check\" needs type=http or type=https" + at(4));
    }
    std::string escapes = "unknown escape \"\\q\": use \\r \\n \\t \\\\ or \\xHH";
    EXPECT_EQ(error("health_check type=tcp send=a\\qb;"), param("send=a\\qb", escapes));
    EXPECT_EQ(error("health_check type=tcp expect=a\\qb;"), param("expect=a\\qb", escapes));
    EXPECT_EQ(error("health_check type=tcp send=\\x4;"),
              param("send=\\x4", "\\x needs two hex digits"));
    EXPECT_EQ(error("health_check type=tcp send=\\xZZ;"),
              param("send=\\xZZ", "\\x needs two hex digits"));
    EXPECT_EQ(error("health_check type=tcp 'send=ab\\\\';"),
              param("send=ab\\", "a lone \\ at the end"));
    EXPECT_EQ(error("health_check type=tcp send=;"), param("send=", "1 to 16384 bytes"));
    EXPECT_EQ(error("health_check type=udp send=x expect=;"), param("expect=", "1 to 16384 bytes"));
    EXPECT_EQ(error("health_check type=tcp send=" + std::string(16385, 'a') + ";"),
              param("send=" + std::string(16385, 'a'), "1 to 16384 bytes"));
    EXPECT_EQ(error("health_check type=tcp expect=~;"),
              param("expect=~", "a regular expression after ~ or ~*"));
    EXPECT_EQ(error("health_check type=tcp expect=~*;"),
              param("expect=~*", "a regular expression after ~ or ~*"));
    EXPECT_THAT(error("health_check type=tcp expect=~(up;"),
                HasSubstr("invalid parameter \"expect=~(up\" of \"health_check\""));
    EXPECT_EQ(error("health_check type=tcp send=a send=b;"),
              "duplicate parameter \"send\" of \"health_check\"" + at(4));
    // For http, expect= stays a list of statuses.
    EXPECT_EQ(
        error("health_check expect=+OK;"),
        param("expect=+OK", "status codes or ranges of 100..599, such as 200-399 or 200,302"));
}

TEST_F(HealthCheckConfigTest, InAStreamUpstreamTheDefaultTypeIsTcp) {
    cycle_.reset();
    core::Status s = support::load_cycle(
        registry_, dir_,
        "stream {\n  upstream db {\n    server 127.0.0.1:5432;\n    health_check;\n  }\n"
        "  upstream web {\n    server 127.0.0.1:8080;\n"
        "    health_check type=http uri=/health;\n  }\n"
        "  upstream dns {\n    server 127.0.0.1:53;\n"
        "    health_check type=udp send=\\x00 expect=~.;\n  }\n}\n"
        "http {\n  upstream app {\n    server 127.0.0.1:8081;\n    health_check;\n  }\n}\n",
        cycle_, nullptr, {}, true);
    ASSERT_TRUE(s.is_ok()) << s.message();
    // Each block's groups are their own name space.
    const CheckSpec* sdb = find_check(*cycle_, "db", /*stream=*/true);
    const CheckSpec* app = find_check(*cycle_, "app");
    ASSERT_NE(sdb, nullptr);
    ASSERT_NE(app, nullptr);
    EXPECT_EQ(find_check(*cycle_, "db"), nullptr);
    EXPECT_EQ(find_check(*cycle_, "app", true), nullptr);
    EXPECT_EQ(sdb->type, CheckType::kTcp);  // nginx plus's stream health_check: a connect
    EXPECT_EQ(app->type, CheckType::kHttp);
    const CheckSpec* web = find_check(*cycle_, "web", true);
    ASSERT_NE(web, nullptr);
    EXPECT_EQ(web->type, CheckType::kHttp);  // an HTTP service behind an L4 proxy
    EXPECT_EQ(web->uri, "/health");
    const CheckSpec* dns = find_check(*cycle_, "dns", true);
    ASSERT_NE(dns, nullptr);
    EXPECT_EQ(dns->type, CheckType::kUdp);
    EXPECT_EQ(dns->send, std::string(1, '\0'));
    EXPECT_EQ(find_check(*cycle_, "dns"), nullptr);  // not an http group
    EXPECT_EQ(upstream::find_group(*cycle_, "db", true)->health_check()->type, "tcp");
    // A stream upstream's defaults refuse what only HTTP has.
    cycle_.reset();
    s = support::load_cycle(registry_, dir_,
                            "stream {\n  upstream db {\n    server 127.0.0.1:5432;\n"
                            "    health_check uri=/x;\n  }\n}\n",
                            cycle_, nullptr, {}, true);
    EXPECT_EQ(s.message(),
              "parameter \"uri\" of \"health_check\" needs type=http or type=https" + at(4));
}

TEST_F(HealthCheckConfigTest, RequestSentByAnHttpCheck) {
    CheckSpec spec;
    spec.uri = "/health?deep=1";
    Target t;
    t.host = "app.example:8080";
    EXPECT_EQ(NetProber::request(spec, t),
              "GET /health?deep=1 HTTP/1.1\r\nHost: app.example:8080\r\n"
              "User-Agent: halo-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n");
}

// ---- reload ----

upstream::HealthInfo info_with(const char* reason, uint32_t streak) {
    upstream::HealthInfo i;
    i.checked = 1;
    i.streak = streak;
    i.checks = 10;
    i.check_failures = streak;
    i.last_change_ms = 1234;
    snprintf(i.reason, sizeof(i.reason), "%s", reason);
    return i;
}

TEST_F(HealthCheckConfigTest, ReloadKeepsStateByGroupAndAddress) {
    const std::string check = "  health_check interval=1s fall=2;\n";
    std::unique_ptr<core::Cycle> first;
    ASSERT_TRUE(support::load_cycle(registry_, dir_,
                                    "http {\n upstream app {\n" + check +
                                        "  server 127.0.0.1:1;\n  server 127.0.0.2:1;\n"
                                        "  server 127.0.0.3:1;\n  server 127.0.0.5:1 down;\n }\n"
                                        " upstream other {\n" +
                                        check + "  server 127.0.0.2:1;\n }\n}\n",
                                    first, nullptr, {}, false)
                    .is_ok());
    const upstream::Group* app1 = upstream::find_group(*first, "app");
    ASSERT_NE(upstream::find_group(*first, "other"), nullptr);
    upstream::HealthInfo i;
    EXPECT_FALSE(app1->health(0, i));
    EXPECT_EQ(i.checked, 1);  // checked from the start, up (keepalived's default)
    EXPECT_FALSE(app1->health(3, i));
    EXPECT_EQ(i.checked, 0);                                // `down` servers are not checked
    app1->set_health(1, true, info_with("status 503", 2));  // 127.0.0.2 in app: down
    app1->set_health(2, false, info_with("connect() refused", 1));  // 127.0.0.3: 1 of 2

    // 127.0.0.2 and .3 stay, .1 goes, .4 comes; the same address in `other` is its own.
    std::unique_ptr<core::Cycle> second;
    ASSERT_TRUE(support::load_cycle(registry_, dir_,
                                    "http {\n upstream app {\n" + check +
                                        "  server 127.0.0.3:1;\n  server 127.0.0.2:1;\n"
                                        "  server 127.0.0.4:1;\n }\n"
                                        " upstream other {\n" +
                                        check + "  server 127.0.0.2:1;\n }\n}\n",
                                    second, first.get(), {}, false)
                    .is_ok());
    const upstream::Group* app2 = upstream::find_group(*second, "app");
    ASSERT_NE(app1, app2);
    EXPECT_FALSE(app2->health(0, i));  // 127.0.0.3: up, its failure streak kept
    EXPECT_EQ(i.streak, 1u);
    EXPECT_STREQ(i.reason, "connect() refused");
    EXPECT_TRUE(app2->health(1, i));  // 127.0.0.2: still down
    EXPECT_STREQ(i.reason, "status 503");
    EXPECT_EQ(i.checks, 10u);
    EXPECT_EQ(i.last_change_ms, 1234);
    EXPECT_FALSE(app2->health(2, i));  // 127.0.0.4: new, up, checked, no history
    EXPECT_EQ(i.checked, 1);
    EXPECT_EQ(i.checks, 0u);
    EXPECT_FALSE(upstream::find_group(*second, "other")->health(0, i));
    EXPECT_EQ(i.checks, 0u);
    // The balancer of the new cycle keeps the down server out.
    upstream::PickContext ctx;
    ctx.now_ms = core::steady_ms();
    std::string picked;
    for (int k = 0; k < 4; k++) {
        upstream::Peer p = app2->acquire(ctx);
        picked += p.server->addr.host_text().back();
        app2->release(p, upstream::Outcome::kOk, 1ms, ctx.now_ms);
        ctx.tried.clear();
    }
    EXPECT_EQ(picked, "3434");

    // Without health_check, nobody would bring 127.0.0.2 back: its state is dropped.
    std::unique_ptr<core::Cycle> third;
    ASSERT_TRUE(support::load_cycle(registry_, dir_,
                                    "http {\n upstream app {\n  server 127.0.0.2:1;\n"
                                    "  server 127.0.0.3:1;\n }\n}\n",
                                    third, second.get(), {}, false)
                    .is_ok());
    const upstream::Group* app3 = upstream::find_group(*third, "app");
    EXPECT_FALSE(app3->health_checked());
    EXPECT_FALSE(app3->health(0, i));
    EXPECT_EQ(i.checked, 0);
    EXPECT_EQ(i.reason[0], '\0');
    EXPECT_TRUE(third->helpers().empty());
    // A server that becomes `down` in the config is no longer checked (the reload is from
    // the second configuration: the third one is dropped, as if it had failed).
    third.reset();
    std::unique_ptr<core::Cycle> fourth;
    ASSERT_TRUE(support::load_cycle(registry_, dir_,
                                    "http {\n upstream app {\n" + check +
                                        "  server 127.0.0.3:1;\n  server 127.0.0.2:1 down;\n"
                                        " }\n}\n",
                                    fourth, second.get(), {}, false)
                    .is_ok());
    const upstream::Group* app4 = upstream::find_group(*fourth, "app");
    EXPECT_FALSE(app4->health(1, i));
    EXPECT_EQ(i.checked, 0);
    EXPECT_FALSE(app4->health(0, i));
    EXPECT_STREQ(i.reason, "connect() refused");
}

}  // namespace
}  // namespace mod::healthcheck
