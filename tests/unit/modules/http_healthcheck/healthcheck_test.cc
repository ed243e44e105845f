// Active health checks without sockets: the fall/rise machine, the Checker's timing (interval,
// timeout, jitter) on a fake clock with a scripted prober, the classification of HTTP check
// responses, the reasons as logged, and what the balancer does with a published verdict.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "modules/healthcheck/healthcheck.h"
#include "support/fake_time.h"
#include "upstream/upstream.h"

namespace mod::healthcheck {
namespace {

using namespace std::chrono_literals;
using Change = HealthMachine::Change;
using ::testing::ElementsAre;

// ---- HealthMachine ----

std::string run(HealthMachine& m, std::string_view results) {
    std::string changes;
    for (char c : results) {
        switch (m.record(c == '+')) {
            case Change::kDown:
                changes += 'D';
                break;
            case Change::kUp:
                changes += 'U';
                break;
            case Change::kNone:
                changes += '.';
                break;
        }
    }
    return changes;
}

TEST(HealthMachineTest, FallAndRiseCountResultsInARow) {
    HealthMachine m(3, 2);
    EXPECT_FALSE(m.down());
    // Two failures, a pass resets the count; three in a row take it down.
    EXPECT_EQ(run(m, "--+---"), ".....D");
    EXPECT_TRUE(m.down());
    EXPECT_EQ(m.streak(), 3u);
    EXPECT_FALSE(m.last_ok());
    // More failures change nothing; one pass is not enough, two are.
    EXPECT_EQ(run(m, "--+-++"), ".....U");
    EXPECT_FALSE(m.down());
    EXPECT_EQ(m.streak(), 2u);
    EXPECT_EQ(run(m, "+++"), "...");
}

TEST(HealthMachineTest, OneAndOneFlipsOnEveryChange) {
    HealthMachine m(1, 1);
    EXPECT_EQ(run(m, "-+-++--+"), "DUDU.D.U");
}

TEST(HealthMachineTest, StartsFromPublishedState) {
    // A respawned checker: down after 3 failures, one pass since (rise 2).
    HealthMachine m(3, 2, /*down=*/true, /*streak=*/1, /*last_ok=*/true);
    EXPECT_TRUE(m.down());
    EXPECT_EQ(run(m, "+"), "U");
    // Up with 2 failures in a row already seen (fall 3): the next one takes it down.
    HealthMachine n(3, 2, false, 2, false);
    EXPECT_EQ(run(n, "-"), "D");
}

TEST(HealthMachineTest, ThresholdsBelowOneCountAsOne) {
    HealthMachine m(0, -4);
    EXPECT_EQ(run(m, "-+"), "DU");
}

// ---- Checker on a fake clock ----

/// A prober whose checks end when the test says (or at once, with `immediate`).
class FakeProber : public Prober {
  public:
    class FakeProbe : public Probe {
      public:
        FakeProbe(bool* cancelled, std::optional<CheckResult> at_timeout)
            : cancelled_(cancelled), at_timeout_(at_timeout) {}
        ~FakeProbe() override { *cancelled_ = true; }
        std::optional<CheckResult> at_timeout() const override { return at_timeout_; }

      private:
        bool* cancelled_;
        std::optional<CheckResult> at_timeout_;
    };

    std::unique_ptr<Probe> start(const CheckSpec&, const Target& t, Done done) override {
        starts.push_back(time->now());
        targets.push_back(t.addr.text());
        cancelled.push_back(std::make_unique<bool>(false));
        bool* c = cancelled.back().get();
        auto probe = std::make_unique<FakeProbe>(c, at_timeout);
        dones.push_back(done);
        if (immediate) {
            done(*immediate);  // before start() returns, as a refused connect does
        }
        return probe;
    }
    /// Ends the last check started.
    void complete(const CheckResult& r) {
        ASSERT_FALSE(dones.empty()) << "no check started";
        dones.back()(r);
    }
    /// Offsets of the check starts from `t0`, in ms.
    std::vector<int64_t> start_offsets(ev::TimePoint t0) const {
        std::vector<int64_t> v;
        for (auto t : starts) {
            v.push_back(std::chrono::duration_cast<Millis>(t - t0).count());
        }
        return v;
    }

    ev::TimeSource* time = nullptr;
    std::optional<CheckResult> immediate;
    std::optional<CheckResult> at_timeout;  // what the probes say when their time is up
    std::vector<Done> dones;                // every check's, in order
    std::vector<ev::TimePoint> starts;
    std::vector<std::string> targets;
    std::vector<std::unique_ptr<bool>> cancelled;
};

class CheckerTest : public ::testing::Test {
  protected:
    CheckerTest() {
        prober_.time = &time_;
        t0_ = time_.now();
        spec_.interval = 2s;
        spec_.timeout = 1s;
        spec_.fall = 3;
        spec_.rise = 2;
        target_.group = "app";
        target_.server = "127.0.0.1:8081";
        target_.addr = *core::SockAddr::from_ip("127.0.0.1", 8081);
    }

    std::unique_ptr<Checker> make(HealthMachine initial = HealthMachine(3, 2)) {
        initial = HealthMachine(spec_.fall, spec_.rise, initial.down(), initial.streak(),
                                initial.last_ok());
        return std::make_unique<Checker>(
            time_, spec_, target_, prober_, initial, [this](const Checker& c, Change ch) {
                reports_.push_back({now_ms(), c.last().reason(), ch, c.state().down()});
            });
    }
    int64_t now_ms() const { return std::chrono::duration_cast<Millis>(time_.now() - t0_).count(); }

    struct Report {
        int64_t at;
        std::string reason;
        Change change;
        bool down;
    };

    support::FakeTime time_;
    ev::TimePoint t0_;
    CheckSpec spec_;
    Target target_;
    FakeProber prober_;
    std::vector<Report> reports_;
};

TEST_F(CheckerTest, StoppedServerGoesDownAfterFallChecksOneIntervalApart) {
    prober_.immediate = CheckResult::fail(Failure::kConnectRefused);
    auto c = make();
    c->start();
    time_.advance(10s);
    // Checks at 0, 2s, 4s... The third failure, at 2 x interval, takes it down.
    EXPECT_THAT(prober_.start_offsets(t0_), ElementsAre(0, 2000, 4000, 6000, 8000, 10000));
    ASSERT_GE(reports_.size(), 3u);
    EXPECT_EQ(reports_[0].change, Change::kNone);
    EXPECT_EQ(reports_[1].change, Change::kNone);
    EXPECT_EQ(reports_[2].change, Change::kDown);
    EXPECT_EQ(reports_[2].at, 4000);
    EXPECT_EQ(reports_[2].reason, "connect() refused");
    EXPECT_TRUE(c->state().down());
    EXPECT_EQ(c->checks(), 6u);
    EXPECT_EQ(prober_.targets[0], "127.0.0.1:8081");
}

TEST_F(CheckerTest, BackAfterRiseChecks) {
    prober_.immediate = CheckResult::pass(200);
    auto c = make(HealthMachine(3, 2, /*down=*/true));
    c->start();
    time_.advance(1999ms);
    ASSERT_EQ(reports_.size(), 1u);
    EXPECT_TRUE(reports_[0].down);  // one pass of two
    time_.advance(1ms);
    ASSERT_EQ(reports_.size(), 2u);
    EXPECT_EQ(reports_[1].change, Change::kUp);
    EXPECT_EQ(reports_[1].at, 2000);
    EXPECT_EQ(reports_[1].reason, "status 200");
    EXPECT_FALSE(c->state().down());
}

TEST_F(CheckerTest, AHangingServerTimesOutAndTheProbeIsCancelled) {
    auto c = make();
    c->start();
    time_.run_due();
    ASSERT_EQ(prober_.starts.size(), 1u);
    EXPECT_TRUE(c->checking());
    time_.advance(999ms);
    EXPECT_TRUE(reports_.empty());
    EXPECT_FALSE(*prober_.cancelled[0]);
    time_.advance(1ms);
    ASSERT_EQ(reports_.size(), 1u);
    EXPECT_EQ(reports_[0].reason, "timeout after 1s");
    EXPECT_EQ(reports_[0].at, 1000);
    EXPECT_TRUE(*prober_.cancelled[0]);  // its connection is closed
    EXPECT_FALSE(c->checking());
    // The next check starts one interval after the previous one started.
    time_.advance(999ms);
    EXPECT_EQ(prober_.starts.size(), 1u);
    time_.advance(1ms);
    EXPECT_EQ(prober_.starts.size(), 2u);
    // A late word from the cancelled check does not end the one in progress.
    prober_.dones[0](CheckResult::pass(200));
    EXPECT_EQ(reports_.size(), 1u);
    EXPECT_TRUE(c->checking());
    time_.advance(4500ms);  // two more timeouts: down at the third
    ASSERT_EQ(reports_.size(), 3u);
    EXPECT_EQ(reports_[2].change, Change::kDown);
    EXPECT_EQ(reports_[2].at, 5000);
    EXPECT_EQ(reports_[2].reason, "timeout after 1s");
}

TEST_F(CheckerTest, AProbeMayJudgeItsOwnTimeout) {
    // A udp check without expect= passes when no ICMP error came in time; a tcp check whose
    // reply did not match its regex is a mismatch rather than a timeout.
    prober_.at_timeout = CheckResult::pass();
    spec_.rise = 1;
    auto c = make(HealthMachine(3, 1, /*down=*/true));
    c->start();
    time_.advance(999ms);
    EXPECT_TRUE(reports_.empty());
    time_.advance(1ms);
    ASSERT_EQ(reports_.size(), 1u);
    EXPECT_EQ(reports_[0].reason, "ok");
    EXPECT_EQ(reports_[0].change, Change::kUp);
    EXPECT_TRUE(*prober_.cancelled[0]);
    prober_.at_timeout = CheckResult::fail(Failure::kReplyMismatch);
    time_.advance(1s);  // the next check starts at 2s, times out at 3s
    ASSERT_EQ(reports_.size(), 1u);
    time_.advance(1s);
    ASSERT_EQ(reports_.size(), 2u);
    EXPECT_EQ(reports_[1].reason, "reply mismatch");
    EXPECT_EQ(reports_[1].at, 3000);
}

TEST_F(CheckerTest, TimeoutLongerThanIntervalRunsChecksBackToBack) {
    spec_.interval = 500ms;
    spec_.timeout = 2s;
    auto c = make();
    c->start();
    time_.advance(2s);
    ASSERT_EQ(reports_.size(), 1u);
    time_.run_due();  // the next one is already due
    EXPECT_THAT(prober_.start_offsets(t0_), ElementsAre(0, 2000));
}

TEST_F(CheckerTest, ResultsArriveWhenTheProbeSaysSo) {
    auto c = make();
    c->start();
    time_.advance(300ms);
    prober_.complete(CheckResult{Failure::kStatus, 503});
    ASSERT_EQ(reports_.size(), 1u);
    EXPECT_EQ(reports_[0].reason, "status 503");
    EXPECT_EQ(reports_[0].at, 300);
    EXPECT_FALSE(*prober_.cancelled[0]);  // kept until the next tick, then destroyed
    time_.advance(1700ms);
    EXPECT_TRUE(*prober_.cancelled[0]);
    EXPECT_EQ(prober_.starts.size(), 2u);
    prober_.complete(CheckResult::pass(200));
    EXPECT_EQ(c->state().streak(), 1u);
    EXPECT_TRUE(c->state().last_ok());
}

TEST_F(CheckerTest, JitterSpreadsChecksWithinTheConfiguredWindow) {
    spec_.interval = 1s;
    spec_.jitter = 500ms;
    prober_.immediate = CheckResult::pass();
    std::vector<std::unique_ptr<Checker>> checkers;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        checkers.push_back(std::make_unique<Checker>(time_, spec_, target_, prober_,
                                                     HealthMachine(1, 1), nullptr, seed));
        checkers.back()->start();
    }
    time_.advance(20s);
    std::vector<int64_t> at = prober_.start_offsets(t0_);
    std::map<int64_t, int> distinct;
    for (int64_t t : at) {
        distinct[t]++;
    }
    EXPECT_GT(distinct.size(), at.size() / 2) << "checks of four servers fire together";
    for (auto& c : checkers) {
        // 20s at 1s..1.5s apart (the first within 0..0.5s): 14 to 21 checks each.
        EXPECT_GE(c->checks(), 14u);
        EXPECT_LE(c->checks(), 21u);
    }
}

TEST_F(CheckerTest, DestroyingTheCheckerCancelsTheCheckInProgress) {
    auto c = make();
    c->start();
    time_.run_due();
    ASSERT_EQ(prober_.cancelled.size(), 1u);
    c.reset();
    EXPECT_TRUE(*prober_.cancelled[0]);
    time_.advance(10s);
    EXPECT_EQ(prober_.starts.size(), 1u);
    EXPECT_EQ(time_.armed_count(), 0u);
}

// ---- HTTP responses ----

CheckResult classify(const CheckSpec& spec, std::string_view in, bool eof = true,
                     bool* need_more = nullptr) {
    ResponseCheck check(spec);
    CheckResult r;
    auto v = check.feed(in, eof, r);
    if (need_more != nullptr) {
        *need_more = v == ResponseCheck::Verdict::kNeedMore;
    }
    return r;
}

std::string reason(const CheckSpec& spec, std::string_view in, bool eof = true) {
    bool more = false;
    CheckResult r = classify(spec, in, eof, &more);
    return more ? "need more" : r.ok() ? "pass " + std::to_string(r.status) : r.reason();
}

CheckSpec with_body(std::string_view re, bool caseless = false) {
    CheckSpec s;
    auto rx = std::make_shared<http::Regex>();
    EXPECT_TRUE(http::Regex::compile(re, caseless, *rx).is_ok());
    s.body = rx;
    return s;
}

TEST(ResponseCheckTest, StatusAgainstExpect) {
    CheckSpec s;  // 200-399
    EXPECT_EQ(reason(s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), "pass 200");
    EXPECT_EQ(reason(s, "HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n", false), "pass 302");
    EXPECT_EQ(reason(s, "HTTP/1.0 503 Service Unavailable\r\n\r\n", false), "status 503");
    EXPECT_EQ(reason(s, "HTTP/1.1 404 Not Found\r\n\r\n"), "status 404");
    EXPECT_EQ(reason(s, "HTTP/1.1 199 Odd\r\n\r\n"), "status 199");
    s.expect = {{200, 200}, {301, 302}};
    EXPECT_EQ(reason(s, "HTTP/1.1 301 Moved\r\n\r\n"), "pass 301");
    EXPECT_EQ(reason(s, "HTTP/1.1 303 See Other\r\n\r\n"), "status 303");
    EXPECT_EQ(reason(s, "HTTP/1.1 204 No Content\r\n\r\n"), "status 204");
}

TEST(ResponseCheckTest, BrokenResponses) {
    CheckSpec s;
    EXPECT_EQ(reason(s, "garbage\r\n\r\n", false), "invalid response");
    EXPECT_EQ(reason(s, "\x16\x03\x01\x02\x00garbage"), "invalid response");  // TLS on http
    EXPECT_EQ(reason(s, "SSH-2.0-OpenSSH_9.2\r\n"), "invalid response");      // then closed
    EXPECT_EQ(reason(s, "HTTP/2.0 200 OK\r\n\r\n"), "invalid response");
    EXPECT_EQ(reason(s, "HTTP/1.1 2000 OK\r\n\r\n"), "invalid response");
    EXPECT_EQ(reason(s, "HTTP/1.1 200 OK\r\nBad Header\r\n\r\n"), "invalid response");
    EXPECT_EQ(reason(s, "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"), "invalid response");
    EXPECT_EQ(reason(s, std::string(CheckSpec::kMaxHead + 1, 'a'), false), "invalid response");
    EXPECT_EQ(reason(s, ""), "connection closed prematurely");
    EXPECT_EQ(reason(s, "HTT"), "connection closed prematurely");
    EXPECT_EQ(reason(s, "HTTP/1.1 200 OK\r\nContent-Le"), "connection closed prematurely");
    EXPECT_EQ(reason(s, "HTTP/1.1 200 OK\r\nContent-Le", false), "need more");
    EXPECT_EQ(reason(s, "", false), "need more");
}

TEST(ResponseCheckTest, BodyMatchWithContentLength) {
    CheckSpec s = with_body("\"status\": *\"up\"");
    std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n";
    EXPECT_EQ(reason(s, head + "{\"status\":\"up\"}\n"), "pass 200");
    EXPECT_EQ(reason(s, head + "{\"status\":\"dn\"}\n"), "body mismatch");
    EXPECT_EQ(reason(s, head + "{\"status\"", false), "need more");
    EXPECT_EQ(reason(s, head + "{\"status\""), "connection closed prematurely");
    // The status is judged first: no need to read the body of a 500.
    EXPECT_EQ(reason(s, "HTTP/1.1 500 Oops\r\nContent-Length: 9\r\n\r\n", false), "status 500");
    // Caseless.
    CheckSpec ci = with_body("ALIVE", true);
    EXPECT_EQ(reason(ci, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nalive"), "pass 200");
    EXPECT_EQ(reason(with_body("ALIVE"), "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nalive"),
              "body mismatch");
}

TEST(ResponseCheckTest, BodyMatchChunkedAndUntilClose) {
    CheckSpec s = with_body("^ok$");
    std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    EXPECT_EQ(reason(s, chunked + "1\r\no\r\n1\r\nk\r\n0\r\n\r\n"), "pass 200");
    EXPECT_EQ(reason(s, chunked + "2\r\nno\r\n0\r\n\r\n"), "body mismatch");
    EXPECT_EQ(reason(s, chunked + "1\r\no\r\n", false), "need more");
    EXPECT_EQ(reason(s, chunked + "1\r\no\r\n"), "connection closed prematurely");
    EXPECT_EQ(reason(s, chunked + "zz\r\nok\r\n0\r\n\r\n"), "invalid response");
    std::string close = "HTTP/1.0 200 OK\r\n\r\n";
    EXPECT_EQ(reason(s, close + "ok", false), "need more");
    EXPECT_EQ(reason(s, close + "ok"), "pass 200");
    EXPECT_EQ(reason(s, close + "okay"), "body mismatch");
    // 204 and 304 have no body: the regex sees an empty one.
    CheckSpec empty = with_body("^$");
    empty.expect = {{200, 399}};
    EXPECT_EQ(reason(empty, "HTTP/1.1 204 No Content\r\n\r\n", false), "pass 204");
}

TEST(ResponseCheckTest, OnlyTheFirst64KiBOfABodyAreMatched) {
    CheckSpec s = with_body("tail");
    std::string big(CheckSpec::kMaxBody, 'x');
    std::string head =
        "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(big.size() + 4) + "\r\n\r\n";
    // Decided once 64 KiB are in, without waiting for the rest.
    EXPECT_EQ(reason(s, head + big, false), "body mismatch");
    EXPECT_EQ(reason(with_body("^x+$"), head + big, false), "pass 200");
    EXPECT_EQ(reason(with_body("^x+$"), "HTTP/1.0 200 OK\r\n\r\n" + big, false), "pass 200");
}

TEST(ResponseCheckTest, ByteAtATimeGivesTheSameVerdict) {
    CheckSpec s = with_body("up");
    std::string resp =
        "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2\r\nup\r\n0\r\n\r\n";  // bare LFs
    ResponseCheck check(s);
    CheckResult r;
    size_t n = 1;
    for (; n <= resp.size(); n++) {
        if (check.feed(std::string_view(resp).substr(0, n), false, r) ==
            ResponseCheck::Verdict::kDone) {
            break;
        }
    }
    EXPECT_EQ(n, resp.size());
    EXPECT_TRUE(r.ok()) << r.reason();
}

// ---- tcp/udp replies ----

ReplyExpect prefix(std::string p) {
    return ReplyExpect{std::move(p), nullptr};
}

ReplyExpect regex(std::string_view re, bool caseless = false) {
    auto rx = std::make_shared<http::Regex>();
    EXPECT_TRUE(http::Regex::compile(re, caseless, *rx).is_ok());
    return ReplyExpect{{}, rx};
}

/// The verdict on `in` ("pass", a reason, or "need more").
std::string judge(const ReplyExpect& e, std::string_view in, bool eof = false,
                  bool datagram = false) {
    ReplyCheck check(e, datagram);
    CheckResult r;
    if (check.feed(in, eof, r) == ReplyCheck::Verdict::kNeedMore) {
        return "need more";
    }
    return r.ok() ? "pass" : r.reason();
}

TEST(ReplyCheckTest, PrefixIsDecidedAsSoonAsItCan) {
    ReplyExpect ok = prefix("+OK");
    EXPECT_EQ(judge(ok, "+OK\r\n"), "pass");
    EXPECT_EQ(judge(ok, "+OK"), "pass");
    EXPECT_EQ(judge(ok, "+O"), "need more");
    EXPECT_EQ(judge(ok, ""), "need more");
    EXPECT_EQ(judge(ok, "-"), "reply mismatch");  // the first byte that differs decides
    EXPECT_EQ(judge(ok, "-ERR unknown command\r\n"), "reply mismatch");
    EXPECT_EQ(judge(ok, "+ok\r\n"), "reply mismatch");  // case counts
    EXPECT_EQ(judge(ok, " +OK"), "reply mismatch");     // at the start only
    EXPECT_EQ(judge(ok, "+O", true), "connection closed prematurely");
    EXPECT_EQ(judge(ok, "", true), "connection closed prematurely");
    // Binary, with NULs.
    ReplyExpect bin = prefix(std::string("\x00\x2a", 2));
    EXPECT_EQ(judge(bin, std::string("\x00\x2a\x81", 3)), "pass");
    EXPECT_EQ(judge(bin, std::string("\x00\x2b", 2)), "reply mismatch");
    // A timeout with part of the prefix in is a timeout.
    EXPECT_EQ(ReplyCheck(ok, false).at_timeout("+O"), std::nullopt);
}

TEST(ReplyCheckTest, RegexPassesOnceItMatchesElseAtTheClose) {
    ReplyExpect pong = regex("^\\+PONG\r\n");
    EXPECT_EQ(judge(pong, "+PONG\r\n"), "pass");
    EXPECT_EQ(judge(pong, "+PO"), "need more");
    EXPECT_EQ(judge(pong, "-ERR\r\n"), "need more");  // more might come: decided at the close
    EXPECT_EQ(judge(pong, "-ERR\r\n", true), "reply mismatch");
    EXPECT_EQ(judge(pong, "", true), "connection closed prematurely");
    EXPECT_EQ(judge(regex("ready", true), "200 READY\r\n"), "pass");  // anywhere, caseless
    // Only the first kMaxReply bytes are looked at; decided once they are in.
    std::string big(CheckSpec::kMaxReply, 'x');
    EXPECT_EQ(judge(regex("tail"), big + "tail"), "reply mismatch");
    EXPECT_EQ(judge(regex("^x+$"), big + "y"), "pass");
    // At the timeout, what came and did not match is a mismatch; nothing at all, a timeout.
    ReplyCheck check(pong, false);
    std::optional<CheckResult> t = check.at_timeout("-ERR\r\n");
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(t->reason(), "reply mismatch");
    EXPECT_EQ(check.at_timeout(""), std::nullopt);
}

TEST(ReplyCheckTest, ADatagramIsJudgedWhole) {
    ReplyExpect id = prefix(std::string("\x12\x34", 2));
    EXPECT_EQ(judge(id, std::string("\x12\x34\x81\x80", 4), false, true), "pass");
    EXPECT_EQ(judge(id, "\x12", false, true), "reply mismatch");  // shorter than the prefix
    EXPECT_EQ(judge(id, "", false, true), "reply mismatch");      // an empty datagram
    EXPECT_EQ(judge(regex("pong"), "ping", false, true), "reply mismatch");
    EXPECT_EQ(judge(regex("^$"), "", false, true), "pass");
}

TEST(DecodeEscapesTest, NginxPlusMatchEscapes) {
    std::string out;
    std::string why;
    ASSERT_TRUE(decode_escapes("PING\\r\\n\\t\\\\\\x00\\xff\\x7E end", out, why)) << why;
    EXPECT_EQ(out, std::string("PING\r\n\t\\\x00\xff~ end", 15));
    ASSERT_TRUE(decode_escapes("plain\r\n", out, why));  // bytes decoded by the configuration
    EXPECT_EQ(out, "plain\r\n");
    EXPECT_FALSE(decode_escapes("a\\qb", out, why));
    EXPECT_EQ(why, "unknown escape \"\\q\": use \\r \\n \\t \\\\ or \\xHH");
    EXPECT_FALSE(decode_escapes("\\x4", out, why));
    EXPECT_EQ(why, "\\x needs two hex digits");
    EXPECT_FALSE(decode_escapes("\\x4g", out, why));
    EXPECT_FALSE(decode_escapes("end\\", out, why));
    EXPECT_EQ(why, "a lone \\ at the end");
}

// ---- reasons ----

TEST(CheckResultTest, Reasons) {
    EXPECT_EQ(CheckResult::fail(Failure::kConnectRefused).reason(), "connect() refused");
    EXPECT_EQ(CheckResult::fail(Failure::kConnectFailed, ENETUNREACH).reason(),
              "connect() failed (101: Network is unreachable)");
    CheckResult t = CheckResult::fail(Failure::kTimeout);
    t.timeout = 1s;
    EXPECT_EQ(t.reason(), "timeout after 1s");
    t.timeout = 150ms;
    EXPECT_EQ(t.reason(), "timeout after 150ms");
    t.timeout = 2min;
    EXPECT_EQ(t.reason(), "timeout after 2m");
    EXPECT_EQ((CheckResult{Failure::kStatus, 503}).reason(), "status 503");
    EXPECT_EQ(CheckResult::fail(Failure::kBodyMismatch).reason(), "body mismatch");
    EXPECT_EQ(CheckResult::fail(Failure::kReset).reason(), "connection reset");
    EXPECT_EQ(CheckResult::fail(Failure::kClosed).reason(), "connection closed prematurely");
    EXPECT_EQ(CheckResult::fail(Failure::kInvalidResponse).reason(), "invalid response");
    EXPECT_EQ(CheckResult::fail(Failure::kTls).reason(), "SSL handshake failed");
    EXPECT_EQ(CheckResult::fail(Failure::kReplyMismatch).reason(), "reply mismatch");
    EXPECT_EQ(CheckResult::fail(Failure::kRefused).reason(), "connection refused");
    EXPECT_EQ(CheckResult::pass().reason(), "ok");
    EXPECT_EQ(CheckResult::pass(200).reason(), "status 200");
}

// ---- the verdict in the balancer ----

TEST(HealthVerdictTest, ActiveAndPassiveBothKeepAServerOut) {
    std::vector<upstream::Server> servers(3);
    for (int i = 0; i < 3; i++) {
        servers[i].name = "127.0.0.1:" + std::to_string(8081 + i);
        servers[i].addr = *core::SockAddr::from_ip("127.0.0.1", static_cast<uint16_t>(8081 + i));
    }
    auto g = upstream::Group::make("app", servers);
    ASSERT_NE(g, nullptr);
    auto picks = [&](int64_t now) {
        std::string s;
        for (int i = 0; i < 6; i++) {
            upstream::PickContext ctx;
            ctx.now_ms = now;
            upstream::Peer p = g->acquire(ctx);
            if (p.index < 0) {
                s += '-';
                continue;
            }
            s += static_cast<char>('0' + p.index);
            g->release(p, upstream::Outcome::kOk, 1ms, now);
        }
        return s;
    };
    EXPECT_EQ(picks(1000), "012012");

    upstream::HealthInfo info;
    info.checked = 1;
    info.streak = 3;
    snprintf(info.reason, sizeof(info.reason), "status 503");
    g->set_health(1, true, info);  // the checker says 1 is down
    EXPECT_EQ(picks(1000), "020202");
    upstream::HealthInfo read;
    EXPECT_TRUE(g->health(1, read));
    EXPECT_STREQ(read.reason, "status 503");
    EXPECT_EQ(read.streak, 3u);
    EXPECT_FALSE(g->health(0, read));

    // Passive: 0 fails once (max_fails=1) and is out for fail_timeout, though checks pass.
    upstream::PickContext ctx;
    ctx.now_ms = 2000;
    upstream::Peer p = g->acquire(ctx);
    ASSERT_EQ(p.index, 0);
    g->release(p, upstream::Outcome::kFailed, 1ms, 2000);
    EXPECT_EQ(picks(2001), "222222");
    // Both verdicts clear: everyone is back.
    g->set_health(1, false, info);
    EXPECT_EQ(picks(2000 + 10001).find('1') != std::string::npos, true);
    EXPECT_EQ(picks(2000 + 10001).find('0') != std::string::npos, true);
    // Everyone down by the checker: nothing to pick (502).
    for (size_t i = 0; i < 3; i++) {
        g->set_health(i, true, info);
    }
    EXPECT_EQ(picks(30000), "------");
}

}  // namespace
}  // namespace mod::healthcheck
