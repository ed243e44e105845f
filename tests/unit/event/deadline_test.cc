// Deadlines (timeouts kept inside their owners, one FIFO list per duration) and FdWatch (the
// allocation-free descriptor watch of connections), on the real loop with short delays.
// Assertions are about order and outcome, never about how long things took.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "event/loop.h"
#include "support/event_wait.h"

namespace ev {
namespace {

using namespace std::chrono_literals;

using halo_test::run_until;

/// A deadline that records its name when it fires.
struct Named {
    Named(std::vector<std::string>& log, std::string name)
        : log(log), name(std::move(name)), d(&Named::fire, this) {}
    static void fire(void* self) {
        auto* n = static_cast<Named*>(self);
        n->log.push_back(n->name);
        if (n->then) {
            n->then();
        }
    }
    std::vector<std::string>& log;
    std::string name;
    Deadline d;
    std::function<void()> then;
};

TEST(DeadlineTest, FiresOnceInDeadlineOrderAcrossDurations) {
    Loop loop;
    std::vector<std::string> log;
    Named a(log, "a"), b(log, "b"), c(log, "c");
    a.d.arm(loop, 30ms);
    b.d.arm(loop, 5ms);
    c.d.arm(loop, 30ms);
    EXPECT_TRUE(a.d.armed());
    ASSERT_TRUE(run_until(loop, [&] { return log.size() == 3; }));
    EXPECT_EQ(log, (std::vector<std::string>{"b", "a", "c"}));
    EXPECT_FALSE(a.d.armed());
    loop.run_once(Duration(40));
    EXPECT_EQ(log.size(), 3u);  // one-shot
}

TEST(DeadlineTest, RearmMovesBehindTheOthersAndCancelStopsIt) {
    Loop loop;
    std::vector<std::string> log;
    Named a(log, "a"), b(log, "b"), c(log, "c");
    a.d.arm(loop, 20ms);
    b.d.arm(loop, 20ms);
    c.d.arm(loop, 20ms);
    a.d.arm(loop, 20ms);  // renewed: now the last of its list
    c.d.cancel();
    EXPECT_FALSE(c.d.armed());
    ASSERT_TRUE(run_until(loop, [&] { return log.size() == 2; }));
    EXPECT_EQ(log, (std::vector<std::string>{"b", "a"}));
    loop.run_once(Duration(30));
    EXPECT_EQ(log.size(), 2u);
}

TEST(DeadlineTest, ChangingTheDurationMovesToAnotherList) {
    Loop loop;
    std::vector<std::string> log;
    Named a(log, "a"), b(log, "b");
    a.d.arm(loop, 10s);
    b.d.arm(loop, 30ms);
    a.d.arm(loop, 1ms);
    ASSERT_TRUE(run_until(loop, [&] { return log.size() == 2; }));
    EXPECT_EQ(log, (std::vector<std::string>{"a", "b"}));
}

TEST(DeadlineTest, CallbacksMayRearmCancelAndDestroyOthers) {
    Loop loop;
    std::vector<std::string> log;
    Named a(log, "a");
    auto b = std::make_unique<Named>(log, "b");
    Named c(log, "c");
    int rearmed = 0;
    // All three expire together; a's callback destroys b (due at the same time) and re-arms
    // itself once.
    a.then = [&] {
        b.reset();
        if (rearmed++ == 0) {
            a.d.arm(loop, 5ms);
        }
    };
    a.d.arm(loop, 5ms);
    b->d.arm(loop, 5ms);
    c.d.arm(loop, 5ms);
    ASSERT_TRUE(run_until(loop, [&] { return log.size() == 3; }));
    EXPECT_EQ(log, (std::vector<std::string>{"a", "c", "a"}));
}

TEST(DeadlineTest, DestroyedWhileArmedNeverFires) {
    Loop loop;
    std::vector<std::string> log;
    Named keep(log, "keep");
    {
        Named gone(log, "gone");
        gone.d.arm(loop, 1ms);
    }
    keep.d.arm(loop, 5ms);
    ASSERT_TRUE(run_until(loop, [&] { return log.size() == 1; }));
    EXPECT_EQ(log, (std::vector<std::string>{"keep"}));
}

TEST(DeadlineTest, ArmedDeadlinesMayOutliveTheirLoop) {
    std::vector<std::string> log;
    Named a(log, "a");
    {
        Loop loop;
        a.d.arm(loop, 10s);
    }
    EXPECT_FALSE(a.d.armed());  // the loop's lists let go of it
}

TEST(FdWatchTest, ReportsReadableAndWritableEdges) {
    Loop loop;
    int fd[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fd), 0);
    struct Seen {
        uint32_t bits = 0;
        int calls = 0;
    } seen;
    FdWatch w;
    w.start(
        loop, fd[0],
        [](void* s, uint32_t ready) {
            static_cast<Seen*>(s)->bits |= ready;
            static_cast<Seen*>(s)->calls++;
        },
        &seen);
    EXPECT_TRUE(w.started());
    ASSERT_TRUE(run_until(loop, [&] { return (seen.bits & kWrite) != 0; }));
    EXPECT_EQ(seen.bits & kRead, 0u);
    ASSERT_EQ(write(fd[1], "x", 1), 1);
    ASSERT_TRUE(run_until(loop, [&] { return (seen.bits & kRead) != 0; }));
    int calls = seen.calls;
    w.stop();
    ASSERT_EQ(write(fd[1], "y", 1), 1);
    loop.run_once(Duration(20));
    EXPECT_EQ(seen.calls, calls);  // stopped: no more callbacks
    close(fd[0]);
    close(fd[1]);
}

}  // namespace
}  // namespace ev
