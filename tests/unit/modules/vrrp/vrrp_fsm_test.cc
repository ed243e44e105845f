// The VRRP state machine with a fake clock: startup, Master_Down_Interval and Skew_Time in v2
// and v3, election, preemption, nopreempt, preempt_delay, priority 0, equal priorities, the
// owner, tracking weights, Fault, shutdown, resume after a reload, and a three-router cluster
// wired through a fake network (100/90/80, as the seed's cluster).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "modules/vrrp/vrrp_fsm.h"
#include "support/fake_time.h"

namespace vrrp {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;

IpAddr ip(const char* s) {
    return *IpAddr::parse(s);
}

/// Records what the state machine asks for, as text.
class Recorder : public FsmListener {
  public:
    bool may_become_master() override {
        asked++;
        return allow_master;
    }
    void send_advert(uint8_t priority) override {
        events.push_back("send " + std::to_string(priority));
    }
    void state_changed(State from, State to, Cause cause) override {
        events.push_back(std::string(state_name(from)) + "->" + std::string(state_name(to)));
        causes.push_back(cause);
    }
    std::vector<std::string> take() {
        std::vector<std::string> out;
        out.swap(events);
        return out;
    }
    std::vector<std::string> events;
    std::vector<Cause> causes;
    bool allow_master = true;  // what a vrrp_sync_group would answer
    int asked = 0;
};

Advert advert(uint8_t priority, Millis interval = 1s, int version = 3) {
    Advert a;
    a.version = version;
    a.vrid = 51;
    a.priority = priority;
    a.interval = interval;
    return a;
}

class FsmTest : public ::testing::Test {
  protected:
    /// A new Fsm; the one made before is destroyed (a reference to it dangles).
    Fsm& make(uint8_t priority, Millis advert_int = 1s, int version = 3, bool preempt = true,
              Millis preempt_delay = 0ms) {
        FsmConfig c;
        c.version = version;
        c.priority = priority;
        c.advert_int = advert_int;
        c.preempt = preempt;
        c.preempt_delay = preempt_delay;
        c.primary = ip("10.77.0.2");
        fsm_ = std::make_unique<Fsm>(time_, c, rec_);
        return *fsm_;
    }

    support::FakeTime time_;
    Recorder rec_;
    std::unique_ptr<Fsm> fsm_;
};

TEST_F(FsmTest, TimersFollowTheRfcFormulas) {
    // v3 (RFC 5798 §6.1): Skew = ((256 - 100) * 1000) / 256 = 609.375 -> 609ms.
    Fsm& f = make(100);
    EXPECT_EQ(f.skew_time(), 609ms);
    EXPECT_EQ(f.master_down_interval(), 3609ms);
    // Skew scales with the interval in v3.
    EXPECT_EQ(make(100, 100ms).skew_time(), 60ms);
    EXPECT_EQ(make(100, 100ms).master_down_interval(), 360ms);
    EXPECT_EQ(make(254, 1s).skew_time(), 7ms);
    EXPECT_EQ(make(1, 1s).skew_time(), 996ms);
    // v2 (RFC 3768 §6.1): Skew = (256 - priority) / 256 seconds, whatever the interval.
    EXPECT_EQ(make(100, 2s, 2).skew_time(), 609ms);
    EXPECT_EQ(make(100, 2s, 2).master_down_interval(), 6609ms);
}

TEST_F(FsmTest, StartsInBackupAndBecomesMasterWhenNoOneAdvertises) {
    Fsm& f = make(100);
    f.start();
    EXPECT_THAT(rec_.take(), ElementsAre("INIT->BACKUP"));
    EXPECT_EQ(f.state(), State::kBackup);
    EXPECT_FALSE(f.master());
    time_.advance(3608ms);
    EXPECT_EQ(f.state(), State::kBackup);
    time_.advance(1ms);
    EXPECT_EQ(f.state(), State::kMaster);
    EXPECT_THAT(rec_.take(), ElementsAre("send 100", "BACKUP->MASTER"));
    EXPECT_EQ(rec_.causes.back(), Cause::kMasterDown);
    EXPECT_EQ(f.master(), ip("10.77.0.2"));
    // Then one advert per Advertisement_Interval.
    time_.advance(3s);
    EXPECT_THAT(rec_.take(), ElementsAre("send 100", "send 100", "send 100"));
    EXPECT_EQ(f.transitions(), 2u);
}

TEST_F(FsmTest, OwnerBecomesMasterAtOnce) {
    Fsm& f = make(255);
    f.start();
    EXPECT_THAT(rec_.take(), ElementsAre("send 255", "INIT->MASTER"));
    EXPECT_EQ(rec_.causes.back(), Cause::kOwner);
    // An owner discards adverts of others (check() says kLocalOwner before they get here);
    // even a fed advert with a lower priority keeps it master.
    f.on_advert(advert(254), ip("10.77.0.9"));
    EXPECT_EQ(f.state(), State::kMaster);
}

TEST_F(FsmTest, BackupStaysWhileABetterMasterAdvertises) {
    Fsm& f = make(90);
    f.start();
    rec_.take();
    for (int i = 0; i < 20; i++) {
        time_.advance(1s);
        f.on_advert(advert(100), ip("10.77.0.1"));
    }
    EXPECT_EQ(f.state(), State::kBackup);
    EXPECT_EQ(f.master(), ip("10.77.0.1"));
    EXPECT_TRUE(rec_.take().empty());
    // The master goes silent: takeover after Master_Down_Interval from its last advert.
    time_.advance(f.master_down_interval() - 1ms);
    EXPECT_EQ(f.state(), State::kBackup);
    time_.advance(1ms);
    EXPECT_EQ(f.state(), State::kMaster);
}

TEST_F(FsmTest, BackupAcceptsEqualPriority) {
    Fsm& f = make(100);
    f.start();
    for (int i = 0; i < 10; i++) {
        time_.advance(1s);
        f.on_advert(advert(100), ip("10.77.0.1"));  // lower address, equal priority
    }
    EXPECT_EQ(f.state(), State::kBackup);
}

TEST_F(FsmTest, PreemptsALowerPriorityMaster) {
    Fsm& f = make(100);
    f.start();
    time_.advance(500ms);
    f.on_advert(advert(90), ip("10.77.0.3"));
    // Lower adverts are discarded: the down timer from startup still runs.
    for (int i = 0; i < 3; i++) {
        time_.advance(1s);
        f.on_advert(advert(90), ip("10.77.0.3"));
    }
    EXPECT_EQ(f.state(), State::kBackup);
    time_.advance(109ms);  // 3609ms after start
    EXPECT_EQ(f.state(), State::kMaster);
    EXPECT_EQ(rec_.causes.back(), Cause::kMasterDown);
}

TEST_F(FsmTest, NopreemptKeepsALowerPriorityMaster) {
    Fsm& f = make(100, 1s, 3, /*preempt=*/false);
    f.start();
    for (int i = 0; i < 30; i++) {
        time_.advance(1s);
        f.on_advert(advert(90), ip("10.77.0.3"));
    }
    EXPECT_EQ(f.state(), State::kBackup);
    EXPECT_EQ(f.master(), ip("10.77.0.3"));
}

TEST_F(FsmTest, PreemptDelayWaitsBeforePreempting) {
    Fsm& f = make(100, 1s, 3, true, 5s);
    f.start();
    // A lower master advertises every second from t=1s: accepted until 5s after the first.
    for (int i = 1; i <= 5; i++) {
        time_.advance(1s);
        f.on_advert(advert(90), ip("10.77.0.3"));
        EXPECT_EQ(f.state(), State::kBackup) << i;
    }
    // t=5s: last accepted at t=5s (4s after the first); t=6s is 5s after: discarded.
    for (int i = 6; i <= 8; i++) {
        time_.advance(1s);
        f.on_advert(advert(90), ip("10.77.0.3"));
        EXPECT_EQ(f.state(), State::kBackup) << i;
    }
    // Master_Down_Interval after the last accepted advert (t=5s): t=8.609s.
    time_.advance(608ms);
    EXPECT_EQ(f.state(), State::kBackup);
    time_.advance(1ms);
    EXPECT_EQ(f.state(), State::kMaster);
}

TEST_F(FsmTest, PreemptDelayRestartsWhenABetterMasterIsSeen) {
    Fsm& f = make(100, 1s, 3, true, 3s);
    f.start();
    time_.advance(1s);
    f.on_advert(advert(90), ip("10.77.0.3"));
    time_.advance(1s);
    f.on_advert(advert(120), ip("10.77.0.4"));  // a better master: the delay starts over
    for (int i = 0; i < 3; i++) {
        time_.advance(1s);
        f.on_advert(advert(90), ip("10.77.0.3"));
    }
    EXPECT_EQ(f.state(), State::kBackup);
}

TEST_F(FsmTest, PriorityZeroMeansTakeOverAfterSkewTime) {
    Fsm& f = make(90);
    f.start();
    time_.advance(1s);
    f.on_advert(advert(100), ip("10.77.0.1"));
    time_.advance(200ms);
    f.on_advert(advert(0), ip("10.77.0.1"));
    Millis skew = f.skew_time();
    EXPECT_EQ(skew, 648ms);  // (256 - 90) * 1000 / 256
    time_.advance(skew - 1ms);
    EXPECT_EQ(f.state(), State::kBackup);
    time_.advance(1ms);
    EXPECT_EQ(f.state(), State::kMaster);
    EXPECT_EQ(rec_.causes.back(), Cause::kPriorityZero);
}

TEST_F(FsmTest, SyncGroupHoldsABackupThatWantsMasterUntilForced) {
    Fsm& f = make(100, 1s);
    rec_.allow_master = false;
    f.start();
    rec_.take();
    // Master_Down_Interval passes: it asks, is told to wait, wants Master, re-arms the timer.
    time_.advance(f.master_down_interval());
    EXPECT_EQ(rec_.asked, 1);
    EXPECT_EQ(f.state(), State::kBackup);
    EXPECT_TRUE(f.wants_master());
    EXPECT_TRUE(f.down_timer_armed());
    EXPECT_THAT(rec_.take(), ElementsAre());
    time_.advance(f.master_down_interval());
    EXPECT_EQ(rec_.asked, 2);
    EXPECT_EQ(f.state(), State::kBackup);
    // The group's last instance to want Master pulls it along: advert, then Master.
    f.force_master();
    EXPECT_EQ(f.state(), State::kMaster);
    EXPECT_FALSE(f.wants_master());
    EXPECT_THAT(rec_.take(), ElementsAre("send 100", "BACKUP->MASTER"));
    EXPECT_EQ(rec_.causes.back(), Cause::kSyncGroup);
    EXPECT_TRUE(f.adver_timer_armed());
    // Forced once more: already Master, nothing happens.
    f.force_master();
    EXPECT_THAT(rec_.take(), ElementsAre());
}

TEST_F(FsmTest, SyncGroupWaitEndsWhenAMasterIsHeard) {
    Fsm& f = make(100, 1s);
    rec_.allow_master = false;
    f.start();
    time_.advance(f.master_down_interval());
    EXPECT_TRUE(f.wants_master());
    f.on_advert(advert(110), ip("10.77.0.1"));
    EXPECT_FALSE(f.wants_master());
    // Allowed now, the timer fires as usual when the master goes silent.
    rec_.allow_master = true;
    time_.advance(f.master_down_interval());
    EXPECT_EQ(f.state(), State::kMaster);
    EXPECT_EQ(rec_.causes.back(), Cause::kMasterDown);
}

TEST_F(FsmTest, SyncGroupForcesAMasterBackAndNotAFaultOrResigned) {
    Fsm& f = make(100, 1s);
    f.start();
    time_.advance(f.master_down_interval());
    ASSERT_EQ(f.state(), State::kMaster);
    rec_.take();
    f.force_backup();
    EXPECT_EQ(f.state(), State::kBackup);
    EXPECT_EQ(rec_.causes.back(), Cause::kSyncGroup);
    EXPECT_FALSE(f.adver_timer_armed());
    EXPECT_TRUE(f.down_timer_armed());
    EXPECT_THAT(rec_.take(), ElementsAre("MASTER->BACKUP"));  // no advert: it just stops
    EXPECT_EQ(f.master(), std::nullopt);  // not us any more, the new one is not known yet
    f.force_backup();                     // already Backup
    EXPECT_THAT(rec_.take(), ElementsAre());
    // Fault is left only by its trackers.
    f.set_fault(true);
    rec_.take();
    f.force_master();
    f.force_backup();
    EXPECT_EQ(f.state(), State::kFault);
    EXPECT_THAT(rec_.take(), ElementsAre());
    // A resigned master (graceful stop) keeps its role until shutdown.
    f.set_fault(false);
    time_.advance(f.master_down_interval());
    ASSERT_EQ(f.state(), State::kMaster);
    ASSERT_TRUE(f.resign());
    rec_.take();
    f.force_backup();
    EXPECT_EQ(f.state(), State::kMaster);
    EXPECT_THAT(rec_.take(), ElementsAre());
}

TEST_F(FsmTest, V3BackupLearnsTheMastersInterval) {
    Fsm& f = make(90, 1s);
    f.start();
    f.on_advert(advert(100, 100ms), ip("10.77.0.1"));
    EXPECT_EQ(f.master_adver_interval(), 100ms);
    EXPECT_EQ(f.master_down_interval(), 364ms);  // 300 + (166 * 100) / 256
    time_.advance(363ms);
    EXPECT_EQ(f.state(), State::kBackup);
    time_.advance(1ms);
    EXPECT_EQ(f.state(), State::kMaster);
    // Its own adverts use its own interval.
    rec_.take();
    time_.advance(1s);
    EXPECT_EQ(rec_.take().size(), 1u);
}

TEST_F(FsmTest, V2KeepsItsOwnInterval) {
    Fsm& f = make(90, 1s, 2);
    f.start();
    f.on_advert(advert(100, 3s, 2), ip("10.77.0.1"));  // check() drops these; not learned
    EXPECT_EQ(f.master_adver_interval(), 1s);
}

TEST_F(FsmTest, MasterYieldsToAHigherPriority) {
    Fsm& f = make(100);
    f.start();
    time_.advance(4s);
    ASSERT_EQ(f.state(), State::kMaster);
    rec_.take();
    f.on_advert(advert(101), ip("10.77.0.1"));
    EXPECT_THAT(rec_.take(), ElementsAre("MASTER->BACKUP"));
    EXPECT_EQ(rec_.causes.back(), Cause::kHigherPriority);
    EXPECT_EQ(f.master(), ip("10.77.0.1"));
    EXPECT_FALSE(f.adver_timer_armed());
    EXPECT_TRUE(f.down_timer_armed());
}

TEST_F(FsmTest, EqualPriorityIsBrokenByTheHigherPrimaryAddress) {
    Fsm& f = make(100);  // primary 10.77.0.2
    f.start();
    time_.advance(4s);
    ASSERT_EQ(f.state(), State::kMaster);
    f.on_advert(advert(100), ip("10.77.0.1"));  // lower address: discarded
    EXPECT_EQ(f.state(), State::kMaster);
    f.on_advert(advert(99), ip("10.77.0.200"));  // lower priority: discarded
    EXPECT_EQ(f.state(), State::kMaster);
    f.on_advert(advert(100), ip("10.77.0.3"));  // higher address wins
    EXPECT_EQ(f.state(), State::kBackup);
    EXPECT_EQ(rec_.causes.back(), Cause::kHigherAddress);
}

TEST_F(FsmTest, MasterAnswersPriorityZeroAtOnce) {
    Fsm& f = make(100);
    f.start();
    time_.advance(3700ms);
    ASSERT_EQ(f.state(), State::kMaster);
    rec_.take();
    f.on_advert(advert(0), ip("10.77.0.9"));
    EXPECT_THAT(rec_.take(), ElementsAre("send 100"));
    // The Adver_Timer was reset: next advert a full interval later.
    time_.advance(999ms);
    EXPECT_TRUE(rec_.take().empty());
    time_.advance(1ms);
    EXPECT_THAT(rec_.take(), ElementsAre("send 100"));
}

TEST_F(FsmTest, PriorityChangeIsAdvertisedAtOnceByAMaster) {
    Fsm& f = make(100);
    f.start();
    time_.advance(3700ms);
    rec_.take();
    f.set_priority(50);
    EXPECT_THAT(rec_.take(), ElementsAre("send 50"));
    EXPECT_EQ(f.priority(), 50);
    f.set_priority(50);  // no change, no advert
    EXPECT_TRUE(rec_.take().empty());
    // Now a backup at 90 sees 50 and preempts (tracking weights moving the VIP).
    f.on_advert(advert(90), ip("10.77.0.1"));
    EXPECT_EQ(f.state(), State::kBackup);
}

TEST_F(FsmTest, TrackingRaisesABackupAboveTheMaster) {
    Fsm& f = make(80);
    f.start();
    f.on_advert(advert(90), ip("10.77.0.1"));
    f.set_priority(95);  // the master's adverts are lower now: discarded from here
    EXPECT_TRUE(rec_.take().size() == 1);  // only INIT->BACKUP
    for (int i = 0; i < 4; i++) {
        time_.advance(1s);
        f.on_advert(advert(90), ip("10.77.0.1"));
    }
    EXPECT_EQ(f.state(), State::kMaster);
}

TEST_F(FsmTest, FaultFromMasterSendsPriorityZero) {
    Fsm& f = make(100);
    f.start();
    time_.advance(3700ms);
    rec_.take();
    f.set_fault(true);
    EXPECT_THAT(rec_.take(), ElementsAre("send 0", "MASTER->FAULT"));
    EXPECT_FALSE(f.adver_timer_armed());
    EXPECT_FALSE(f.down_timer_armed());
    // Nothing happens in Fault: adverts are ignored, no timer runs.
    f.on_advert(advert(50), ip("10.77.0.1"));
    time_.advance(60s);
    EXPECT_TRUE(rec_.take().empty());
    EXPECT_EQ(f.state(), State::kFault);
    // Cleared: Backup, then master if still no one else.
    f.set_fault(false);
    EXPECT_THAT(rec_.take(), ElementsAre("FAULT->BACKUP"));
    EXPECT_EQ(rec_.causes.back(), Cause::kFaultCleared);
    time_.advance(3609ms);
    EXPECT_EQ(f.state(), State::kMaster);
}

TEST_F(FsmTest, FaultBeforeStartAndFromBackup) {
    Fsm& f = make(100);
    f.set_fault(true);
    f.start();
    EXPECT_THAT(rec_.take(), ElementsAre("INIT->FAULT"));
    f.set_fault(false);
    EXPECT_THAT(rec_.take(), ElementsAre("FAULT->BACKUP"));
    f.set_fault(true);
    EXPECT_THAT(rec_.take(), ElementsAre("BACKUP->FAULT"));  // a backup sends nothing
}

TEST_F(FsmTest, ShutdownOfAMasterSendsPriorityZero) {
    Fsm& f = make(100);
    f.start();
    time_.advance(3700ms);
    rec_.take();
    f.shutdown();
    EXPECT_THAT(rec_.take(), ElementsAre("send 0", "MASTER->INIT"));
    time_.advance(10s);
    EXPECT_TRUE(rec_.take().empty());
    // A backup just stops.
    Fsm& b = make(90);
    b.start();
    rec_.take();
    b.shutdown();
    EXPECT_THAT(rec_.take(), ElementsAre("BACKUP->INIT"));
    b.shutdown();
    EXPECT_TRUE(rec_.take().empty());
}

TEST_F(FsmTest, ResignSendsPriorityZeroOnceAndStaysMasterUntilShutdown) {
    Fsm& f = make(100, 100ms);
    f.start();
    time_.advance(400ms);
    ASSERT_EQ(f.state(), State::kMaster);
    rec_.take();
    EXPECT_TRUE(f.resign());
    EXPECT_THAT(rec_.take(), ElementsAre("send 0"));
    EXPECT_EQ(f.state(), State::kMaster);
    EXPECT_TRUE(f.resigned());
    // No more adverts, no reaction to adverts, priority or fault changes while leaving.
    time_.advance(1s);
    f.on_advert(advert(90, 100ms), ip("10.77.0.3"));
    f.on_advert(advert(200, 100ms), ip("10.77.0.3"));
    f.set_priority(50);
    f.set_fault(true);
    EXPECT_TRUE(rec_.take().empty());
    EXPECT_EQ(f.state(), State::kMaster);
    EXPECT_FALSE(f.resign());
    // Shutdown then goes to Initialize without a second priority 0.
    f.shutdown();
    EXPECT_THAT(rec_.take(), ElementsAre("MASTER->INIT"));
    // A backup cannot resign.
    Fsm& b = make(90);
    b.start();
    rec_.take();
    EXPECT_FALSE(b.resign());
    EXPECT_TRUE(rec_.take().empty());
}

TEST_F(FsmTest, ResumeKeepsTheStateWithoutAnElection) {
    // Taking an instance over is no change of state: the status page's count stays.
    Fsm& f = make(100);
    f.resume(State::kMaster, std::nullopt);
    EXPECT_THAT(rec_.take(), ElementsAre("send 100", "INIT->MASTER"));
    EXPECT_EQ(rec_.causes.back(), Cause::kResumed);
    EXPECT_EQ(f.transitions(), 0u);
    Fsm& b = make(90);  // destroys f
    b.resume(State::kBackup, ip("10.77.0.1"));
    EXPECT_THAT(rec_.take(), ElementsAre("INIT->BACKUP"));
    EXPECT_EQ(b.master(), ip("10.77.0.1"));
    EXPECT_TRUE(b.down_timer_armed());
    EXPECT_EQ(b.transitions(), 0u);
}

TEST_F(FsmTest, ResumeInFaultStaysThereUnlessTheFaultIsGone) {
    // The tracker still fails: Fault, taken over (no notify, no transition counted).
    Fsm& f = make(100);
    f.set_fault(true);
    f.resume(State::kFault, std::nullopt);
    EXPECT_EQ(f.state(), State::kFault);
    EXPECT_EQ(rec_.causes.back(), Cause::kResumed);
    EXPECT_EQ(f.transitions(), 0u);
    EXPECT_FALSE(f.down_timer_armed());
    // The new configuration has no failing tracker: Backup, a real transition.
    Fsm& b = make(100);
    b.resume(State::kFault, std::nullopt);
    EXPECT_EQ(b.state(), State::kBackup);
    EXPECT_EQ(rec_.causes.back(), Cause::kFaultCleared);
    EXPECT_EQ(b.transitions(), 1u);
    EXPECT_TRUE(b.down_timer_armed());
}

// ---- a cluster on a fake network ----

/// Routers whose adverts reach every other router 1ms later (a timer of the fake clock).
class Cluster {
  public:
    explicit Cluster(support::FakeTime& time) : time_(time) {}

    struct Node : FsmListener {
        Cluster* net = nullptr;
        size_t index = 0;
        IpAddr addr;
        std::unique_ptr<Fsm> fsm;
        bool up = false;
        void send_advert(uint8_t priority) override { net->send(index, priority); }
        void state_changed(State, State to, Cause) override {}
    };

    void add(uint8_t priority, const char* addr, bool preempt = true) {
        auto n = std::make_unique<Node>();
        n->net = this;
        n->index = nodes_.size();
        n->addr = ip(addr);
        FsmConfig c;
        c.priority = priority;
        c.primary = n->addr;
        c.preempt = preempt;
        n->fsm = std::make_unique<Fsm>(time_, c, *n);
        nodes_.push_back(std::move(n));
    }
    Fsm& fsm(size_t i) { return *nodes_[i]->fsm; }
    void start(size_t i) {
        nodes_[i]->up = true;
        nodes_[i]->fsm->start();
    }
    void stop(size_t i) {
        nodes_[i]->fsm->shutdown();
        nodes_[i]->up = false;
    }
    void crash(size_t i) {
        // Nothing sent: rebuild the node in Initialize.
        Node& n = *nodes_[i];
        n.up = false;
        FsmConfig c;
        c.priority = n.fsm->priority();
        c.primary = n.addr;
        n.fsm.reset();
        n.fsm = std::make_unique<Fsm>(time_, c, n);
    }
    /// Indexes of the routers in Master.
    std::vector<size_t> masters() const {
        std::vector<size_t> out;
        for (const auto& n : nodes_) {
            if (n->fsm->state() == State::kMaster) {
                out.push_back(n->index);
            }
        }
        return out;
    }

  private:
    void send(size_t from, uint8_t priority) {
        Advert a = advert(priority);
        IpAddr src = nodes_[from]->addr;
        // Deliver 1ms later (timers made in callbacks fire within the same advance()). The
        // timers are kept until the cluster goes away (one per advert, a test sends few).
        auto t = time_.make_timer([this, a, src, from] {
            for (auto& n : nodes_) {
                if (n->index != from && n->up) {
                    n->fsm->on_advert(a, src);
                }
            }
        });
        t->arm(1ms);
        inflight_.push_back(std::move(t));
    }

    support::FakeTime& time_;
    std::vector<std::unique_ptr<Node>> nodes_;
    std::vector<std::unique_ptr<ev::Timer>> inflight_;
};

TEST(FsmClusterTest, ThreeNodesElectFailOverAndPreemptBack) {
    support::FakeTime time;
    Cluster c(time);
    c.add(100, "10.77.0.1");
    c.add(90, "10.77.0.2");
    c.add(80, "10.77.0.3");
    for (size_t i = 0; i < 3; i++) {
        c.start(i);
    }
    time.advance(10s);
    EXPECT_THAT(c.masters(), ElementsAre(0u));
    EXPECT_EQ(c.fsm(1).master(), ip("10.77.0.1"));

    // Graceful stop: priority 0, node 1 (skew 648ms < node 2's 687ms) takes over at once.
    c.stop(0);
    time.advance(649ms + 1ms);
    EXPECT_THAT(c.masters(), ElementsAre(1u));
    time.advance(10s);
    EXPECT_THAT(c.masters(), ElementsAre(1u));
    EXPECT_EQ(c.fsm(2).master(), ip("10.77.0.2"));

    // Node 0 back: it preempts.
    c.start(0);
    time.advance(10s);
    EXPECT_THAT(c.masters(), ElementsAre(0u));
    EXPECT_EQ(c.fsm(1).state(), State::kBackup);

    // Crash (no priority 0): a backup takes over after Master_Down_Interval.
    c.crash(0);
    // Its last advert was at most 1s ago: node 1 fires 3648ms after it, node 2 39ms later.
    time.advance(2600ms);
    EXPECT_TRUE(c.masters().empty());
    time.advance(1100ms);
    EXPECT_THAT(c.masters(), ElementsAre(1u));
}

TEST(FsmClusterTest, EqualPrioritiesElectTheHighestAddress) {
    support::FakeTime time;
    Cluster c(time);
    c.add(100, "10.77.0.1");
    c.add(100, "10.77.0.3");
    c.add(100, "10.77.0.2");
    for (size_t i = 0; i < 3; i++) {
        c.start(i);
    }
    time.advance(20s);
    EXPECT_THAT(c.masters(), ElementsAre(1u));
}

TEST(FsmClusterTest, NopreemptMasterKeepsTheRole) {
    support::FakeTime time;
    Cluster c(time);
    c.add(100, "10.77.0.1", /*preempt=*/false);
    c.add(90, "10.77.0.2", false);
    c.start(1);
    time.advance(10s);
    EXPECT_THAT(c.masters(), ElementsAre(1u));
    c.start(0);
    time.advance(30s);
    EXPECT_THAT(c.masters(), ElementsAre(1u));
}

}  // namespace
}  // namespace vrrp
