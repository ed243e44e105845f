// The libevent loop: timers, posted tasks, descriptors and signals. Real time is used with
// short delays; assertions are about order and outcome, never about how long things took.
#include "event/loop.h"
#include "support/event_wait.h"

#include "core/clock.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <string>
#include <thread>
#include <vector>

namespace ev {
namespace {

using namespace std::chrono_literals;

using halo_test::run_until;

struct SocketPair {
    int fd[2] = {-1, -1};
    SocketPair() { socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fd); }
    ~SocketPair() {
        for (int f : fd) {
            if (f >= 0) {
                close(f);
            }
        }
    }
};

TEST(LoopTest, NowIsTheSteadyClock) {
    Loop loop;
    TimePoint before = Clock::now();
    TimePoint now = loop.now();
    EXPECT_GE(now, before);
    EXPECT_LE(now, Clock::now());
}

TEST(LoopTest, ClockReadsInOneTurnShareOneReading) {
    Loop loop;
    std::vector<std::chrono::steady_clock::time_point> seen;
    auto t1 = loop.make_timer([&] {
        seen.push_back(core::steady_now());
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        seen.push_back(core::steady_now());
    });
    t1->arm(Duration(0));
    loop.run_once(Duration(1000));
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0], seen[1]);  // one turn: the reading after the wait
    auto outside = core::steady_now();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    EXPECT_GT(core::steady_now(), outside);  // outside a turn: fresh
    // The next turn reads the clock again.
    t1->arm(Duration(0));
    loop.run_once(Duration(1000));
    ASSERT_EQ(seen.size(), 4u);
    EXPECT_GT(seen[2], seen[1]);
    EXPECT_EQ(seen[2], seen[3]);
}

TEST(LoopTest, TimerFiresOnce) {
    Loop loop;
    int fired = 0;
    auto timer = loop.make_timer([&] { fired++; });
    EXPECT_FALSE(timer->armed());
    timer->arm(1ms);
    EXPECT_TRUE(timer->armed());
    ASSERT_TRUE(run_until(loop, [&] { return fired > 0; }));
    EXPECT_EQ(fired, 1);
    EXPECT_FALSE(timer->armed());
    loop.run_once(Duration(5));
    EXPECT_EQ(fired, 1);
}

TEST(LoopTest, TimersFireInDeadlineOrder) {
    Loop loop;
    std::string order;
    auto late = loop.make_timer([&] { order += 'b'; });
    auto early = loop.make_timer([&] { order += 'a'; });
    late->arm(30ms);
    early->arm(1ms);
    ASSERT_TRUE(run_until(loop, [&] { return order.size() == 2; }));
    EXPECT_EQ(order, "ab");
}

TEST(LoopTest, CancelledTimerDoesNotFire) {
    Loop loop;
    int fired = 0;
    int other = 0;
    auto timer = loop.make_timer([&] { fired++; });
    auto marker = loop.make_timer([&] { other++; });
    timer->arm(1ms);
    timer->cancel();
    EXPECT_FALSE(timer->armed());
    marker->arm(20ms);
    ASSERT_TRUE(run_until(loop, [&] { return other > 0; }));
    EXPECT_EQ(fired, 0);
}

TEST(LoopTest, DestroyedTimerDoesNotFire) {
    Loop loop;
    int fired = 0;
    int other = 0;
    auto timer = loop.make_timer([&] { fired++; });
    auto marker = loop.make_timer([&] { other++; });
    timer->arm(1ms);
    timer.reset();
    marker->arm(20ms);
    ASSERT_TRUE(run_until(loop, [&] { return other > 0; }));
    EXPECT_EQ(fired, 0);
}

TEST(LoopTest, TimerCanRearmItselfAndBeDestroyedInItsCallback) {
    Loop loop;
    int fired = 0;
    std::unique_ptr<Timer> timer;
    timer = loop.make_timer([&] {
        if (++fired < 3) {
            timer->arm(1ms);
        } else {
            timer.reset();
        }
    });
    timer->arm(1ms);
    ASSERT_TRUE(run_until(loop, [&] { return timer == nullptr; }));
    EXPECT_EQ(fired, 3);
}

TEST(LoopTest, RearmMovesTheDeadline) {
    Loop loop;
    std::string order;
    auto a = loop.make_timer([&] { order += 'a'; });
    auto b = loop.make_timer([&] { order += 'b'; });
    a->arm(1ms);
    b->arm(20ms);
    a->arm(200ms);  // now later than b
    ASSERT_TRUE(run_until(loop, [&] { return order.size() == 2; }));
    EXPECT_EQ(order, "ba");
}

TEST(LoopTest, PostedTasksRunInOrderAfterTheCurrentCallback) {
    Loop loop;
    std::vector<int> seen;
    auto timer = loop.make_timer([&] {
        loop.post([&] { seen.push_back(2); });
        loop.post([&] {
            seen.push_back(3);
            loop.post([&] { seen.push_back(4); });  // posted while running posted tasks
        });
        seen.push_back(1);
    });
    timer->arm(0ms);
    ASSERT_TRUE(run_until(loop, [&] { return seen.size() == 4; }));
    EXPECT_EQ(seen, (std::vector<int>{1, 2, 3, 4}));
}

TEST(LoopTest, PostFromOutsideACallback) {
    Loop loop;
    int ran = 0;
    loop.post([&] { ran++; });
    loop.post([&] { ran++; });
    EXPECT_EQ(ran, 0);
    ASSERT_TRUE(run_until(loop, [&] { return ran == 2; }));
}

TEST(LoopTest, PostedTaskMayDestroyTheObjectWhoseCallbackPostedIt) {
    Loop loop;
    bool destroyed = false;
    struct Owner {
        std::unique_ptr<Timer> timer;
        bool* flag;
        ~Owner() { *flag = true; }
    };
    auto* owner = new Owner{nullptr, &destroyed};
    owner->timer = loop.make_timer([&] { loop.post([owner] { delete owner; }); });
    owner->timer->arm(0ms);
    ASSERT_TRUE(run_until(loop, [&] { return destroyed; }));
}

TEST(LoopTest, RunReturnsWhenNothingIsLeft) {
    Loop loop;
    int fired = 0;
    auto timer = loop.make_timer([&] { fired++; });
    timer->arm(1ms);
    loop.post([&] { fired++; });
    loop.run();  // returns once the timer and the task are done
    EXPECT_EQ(fired, 2);
}

TEST(LoopTest, ExitStopsRun) {
    Loop loop;
    SocketPair sp;
    ASSERT_GE(sp.fd[0], 0);
    // A watched descriptor keeps run() busy forever; exit() ends it.
    auto io = loop.make_io(sp.fd[0], kRead, false, [](uint32_t) {});
    io->enable();
    int ticks = 0;
    std::unique_ptr<Timer> timer;
    timer = loop.make_timer([&] {
        if (++ticks == 3) {
            loop.exit();
        } else {
            timer->arm(1ms);
        }
    });
    timer->arm(1ms);
    loop.run();
    EXPECT_EQ(ticks, 3);
}

TEST(LoopTest, RunOnceReturnsAfterMaxWaitWithoutEvents) {
    Loop loop;
    SocketPair sp;
    auto io = loop.make_io(sp.fd[0], kRead, false, [](uint32_t) {});
    io->enable();
    loop.run_once(Duration(1));  // returns: nothing to read, only the wake-up timer
    SUCCEED();
}

TEST(LoopTest, ReadWatcherSeesData) {
    Loop loop;
    SocketPair sp;
    std::string got;
    auto io = loop.make_io(sp.fd[0], kRead, false, [&](uint32_t ready) {
        EXPECT_TRUE(ready & kRead);
        char buf[64];
        ssize_t n;
        while ((n = read(sp.fd[0], buf, sizeof(buf))) > 0) {
            got.append(buf, static_cast<size_t>(n));
        }
    });
    EXPECT_FALSE(io->enabled());
    io->enable();
    io->enable();  // idempotent
    EXPECT_TRUE(io->enabled());
    ASSERT_EQ(write(sp.fd[1], "hello", 5), 5);
    ASSERT_TRUE(run_until(loop, [&] { return got == "hello"; }));
    ASSERT_EQ(write(sp.fd[1], " world", 6), 6);
    ASSERT_TRUE(run_until(loop, [&] { return got == "hello world"; }));
}

TEST(LoopTest, DisabledWatcherIsSilent) {
    Loop loop;
    SocketPair sp;
    int calls = 0;
    int marker = 0;
    auto io = loop.make_io(sp.fd[0], kRead, false, [&](uint32_t) { calls++; });
    io->enable();
    io->disable();
    io->disable();  // idempotent
    EXPECT_FALSE(io->enabled());
    ASSERT_EQ(write(sp.fd[1], "x", 1), 1);
    auto timer = loop.make_timer([&] { marker++; });
    timer->arm(20ms);
    ASSERT_TRUE(run_until(loop, [&] { return marker > 0; }));
    EXPECT_EQ(calls, 0);
    io->enable();  // level-triggered: the pending byte is reported now
    ASSERT_TRUE(run_until(loop, [&] { return calls > 0; }));
}

TEST(LoopTest, WriteWatcherReportsWritable) {
    Loop loop;
    SocketPair sp;
    uint32_t seen = 0;
    auto io = loop.make_io(sp.fd[0], kRead | kWrite, true, [&](uint32_t ready) { seen |= ready; });
    io->enable();
    ASSERT_TRUE(run_until(loop, [&] { return (seen & kWrite) != 0; }));
    EXPECT_EQ(seen & kRead, 0u);
}

TEST(LoopTest, EdgeTriggeredReportsNewDataOnce) {
    Loop loop;
    SocketPair sp;
    int reads = 0;
    int marker = 0;
    auto io = loop.make_io(sp.fd[0], kRead, true, [&](uint32_t ready) {
        if (ready & kRead) {
            reads++;  // deliberately does not read the data
        }
    });
    io->enable();
    ASSERT_EQ(write(sp.fd[1], "x", 1), 1);
    ASSERT_TRUE(run_until(loop, [&] { return reads == 1; }));
    auto timer = loop.make_timer([&] { marker++; });
    timer->arm(20ms);
    ASSERT_TRUE(run_until(loop, [&] { return marker > 0; }));
    EXPECT_EQ(reads, 1);  // no new edge, no new event
    ASSERT_EQ(write(sp.fd[1], "y", 1), 1);
    ASSERT_TRUE(run_until(loop, [&] { return reads == 2; }));
}

TEST(LoopTest, PeerCloseIsReadable) {
    Loop loop;
    SocketPair sp;
    bool eof = false;
    auto io = loop.make_io(sp.fd[0], kRead, false, [&](uint32_t) {
        char c;
        if (read(sp.fd[0], &c, 1) == 0) {
            eof = true;
        }
    });
    io->enable();
    close(sp.fd[1]);
    sp.fd[1] = -1;
    ASSERT_TRUE(run_until(loop, [&] { return eof; }));
}

TEST(LoopTest, SignalRunsInLoopContext) {
    Loop loop;
    int got = 0;
    auto sig = loop.make_signal(SIGUSR2, [&] { got++; });
    raise(SIGUSR2);
    EXPECT_EQ(got, 0);  // not from the handler
    ASSERT_TRUE(run_until(loop, [&] { return got == 1; }));
    raise(SIGUSR2);
    ASSERT_TRUE(run_until(loop, [&] { return got == 2; }));
}

TEST(LoopTest, TwoLoopsAreIndependent) {
    Loop a;
    Loop b;
    int fa = 0;
    int fb = 0;
    auto ta = a.make_timer([&] { fa++; });
    auto tb = b.make_timer([&] { fb++; });
    ta->arm(0ms);
    tb->arm(0ms);
    ASSERT_TRUE(run_until(a, [&] { return fa == 1; }));
    EXPECT_EQ(fb, 0);
    ASSERT_TRUE(run_until(b, [&] { return fb == 1; }));
}

}  // namespace
}  // namespace ev
