#pragma once

// Fakes for the vrrp helper's unit tests: a system without sockets or netlink (FakeIo), a
// launcher that records the scripts it is asked to run (FakeLauncher), and a fixture base that
// builds a Helper on them, with a FakeTime, from inline config text. No network, no root, no
// child process; adverts a test delivers reach an instance through a pipe watched by the
// helper's real loop (pump()).

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/cycle.h"
#include "modules/vrrp/vrrp_packet.h"
#include "modules/vrrp/vrrp_runtime.h"
#include "support/fake_time.h"
#include "support/test_modules.h"

namespace vrrp {

/// Lets the tests reach a Helper's trackers and slots without Helper::run() (which opens
/// netlink and installs signal handlers).
class HelperTestPeer {
  public:
    explicit HelperTestPeer(Helper& h) : h_(h) {}
    void claim_slots() { h_.claim_slots(); }
    /// As on SIGTERM (`hand_over` false) or when a reload replaced the helper (true).
    void stop(bool hand_over) { h_.stop(hand_over); }
    /// As after a link change: instances that could not be set up try again.
    void retry_setup() { h_.retry_setup(); }
    /// Makes the vrrp_script trackers, as run() does (not started).
    void make_scripts() {
        for (const ScriptConf& s : h_.conf_.scripts) {
            h_.scripts_.push_back(
                std::make_unique<ScriptTracker>(h_, s, s.user ? *s.user : h_.script_user()));
        }
    }
    void start_scripts() {
        for (auto& s : h_.scripts_) {
            s->start();
        }
    }
    std::vector<std::unique_ptr<Instance>>& instances() { return h_.instances_; }
    Instance& instance(const std::string& name) {
        for (auto& i : h_.instances_) {
            if (i->conf().name == name) {
                return *i;
            }
        }
        ADD_FAILURE() << "no instance " << name;
        return *h_.instances_.front();
    }
    void set_link(const std::string& name, bool up) { h_.link_state_[name] = up; }
    void set_workers_ok(Millis timeout, bool ok) { h_.workers_ok_[timeout.count()] = ok; }
    void set_upstream_ok(const std::string& name, bool ok) { h_.upstream_ok_[name] = ok; }
    /// The track_upstream trackers as run() starts them (each group assumed usable), then one
    /// poll: what the groups' shared peer state says now.
    void poll_upstreams() {
        for (const InstanceConf& i : h_.conf_.instances) {
            for (const TrackedName& t : i.track_upstreams) {
                h_.upstream_ok_.emplace(t.name, true);
            }
        }
        if (!h_.poll_timer_) {
            h_.poll_timer_ = h_.loop_.make_timer([] {});
        }
        h_.poll_trackers();
    }

  private:
    Helper& h_;
};

}  // namespace vrrp

namespace vrrp::test {

inline IpAddr ip(const char* s) {
    return *IpAddr::parse(s);
}

/// `message` (a VRRP message) behind a minimal IPv4 header from `src` to `dst` (TTL 255,
/// protocol 112), or an IPv6 header (hop limit 255, Next Header 112) when they are IPv6: what
/// the helper's socket reads.
inline std::vector<uint8_t> datagram(std::span<const uint8_t> message, IpAddr src, IpAddr dst,
                                     uint8_t ttl = kTtl) {
    if (src.is_v6()) {
        std::vector<uint8_t> d(kIp6HeaderSize, 0);
        d[0] = 0x60;
        d[4] = static_cast<uint8_t>(message.size() >> 8);
        d[5] = static_cast<uint8_t>(message.size());
        d[6] = kIpProtoVrrp;
        d[7] = ttl;
        std::copy_n(src.bytes.begin(), 16, d.begin() + 8);
        std::copy_n(dst.bytes.begin(), 16, d.begin() + 24);
        d.insert(d.end(), message.begin(), message.end());
        return d;
    }
    std::vector<uint8_t> d(kIpHeaderMin, 0);
    size_t total = d.size() + message.size();
    d[0] = 0x45;
    d[2] = static_cast<uint8_t>(total >> 8);
    d[3] = static_cast<uint8_t>(total);
    d[8] = ttl;
    d[9] = kIpProtoVrrp;
    std::copy_n(src.bytes.begin(), 4, d.begin() + 12);
    std::copy_n(dst.bytes.begin(), 4, d.begin() + 16);
    d.insert(d.end(), message.begin(), message.end());
    return d;
}

/// One advert an instance sent.
struct Sent {
    IpAddr dst;
    Advert advert;
};

/// A socket that records what is sent and gives back what a test delivers. Its descriptor is
/// a pipe made readable while a datagram waits, so the helper's IoWatcher sees it.
class FakeSocket final : public AdvertSocket {
  public:
    FakeSocket(IpAddr src, int version, std::vector<Sent>& sent)
        : src_(src), version_(version), sent_(sent) {
        if (pipe2(pipe_, O_NONBLOCK | O_CLOEXEC) != 0) {
            pipe_[0] = pipe_[1] = -1;
        }
    }
    ~FakeSocket() override {
        for (int fd : pipe_) {
            if (fd >= 0) {
                close(fd);
            }
        }
    }
    bool send(std::span<const uint8_t> message, IpAddr dst, std::string& error) override {
        Received r;
        std::vector<uint8_t> d = datagram(message, src_, dst);
        if (decode(d, version_, r) != DecodeError::kOk) {
            error = "the fake socket could not decode what was sent";
            return false;
        }
        sent_.push_back({dst, r.advert});
        return true;
    }
    ssize_t receive(std::span<uint8_t> buf) override {
        if (queue_.empty()) {
            return 0;
        }
        std::vector<uint8_t> d = std::move(queue_.front());
        queue_.pop_front();
        if (queue_.empty()) {
            char drain[16];
            while (read(pipe_[0], drain, sizeof(drain)) > 0) {
            }
        }
        size_t n = std::min(d.size(), buf.size());
        std::copy_n(d.begin(), n, buf.begin());
        return static_cast<ssize_t>(n);
    }
    int recv_fd() const override { return pipe_[0]; }

    /// Queues `advert` as sent by `from` to `to` (multicast by default).
    void deliver(const Advert& advert, IpAddr from, IpAddr to = kMulticastGroup) {
        queue_.push_back(datagram(encode(advert, from, to), from, to));
        char one = 1;
        (void)!write(pipe_[1], &one, 1);
    }

  private:
    IpAddr src_;
    int version_;
    std::vector<Sent>& sent_;
    std::deque<std::vector<uint8_t>> queue_;
    int pipe_[2];
};

/// A host with links, their addresses and the virtual IPs on them, as text events.
class FakeIo final : public SystemIo {
  public:
    struct Link {
        unsigned index;
        bool up = true;
        std::optional<IpAddr> primary;
        std::array<uint8_t, 6> mac{2, 0, 0, 0, 0, 1};
        std::optional<IpAddr> link_local;  // the IPv6 primary
    };

    /// Adds link `name` with `primary` as its address; returns its index.
    unsigned add_link(const std::string& name, const char* primary) {
        unsigned index = static_cast<unsigned>(links.size()) + 2;
        links[name] = Link{index, true, ip(primary), {2, 0, 0, 0, 0, 1}, std::nullopt};
        return index;
    }

    unsigned if_index(const std::string& name) override {
        auto it = links.find(name);
        return it == links.end() ? 0 : it->second.index;
    }
    bool link_is_up(const std::string& name) override {
        auto it = links.find(name);
        return it != links.end() && it->second.up;
    }
    std::optional<IpAddr> primary_address(const std::string& name, int family,
                                          const std::vector<IpAddr>& skip) override {
        auto it = links.find(name);
        if (it == links.end()) {
            return std::nullopt;
        }
        return family == 6 ? it->second.link_local : it->second.primary;
    }
    std::optional<std::array<uint8_t, 6>> hw_address(const std::string& name) override {
        auto it = links.find(name);
        if (it == links.end()) {
            return std::nullopt;
        }
        return it->second.mac;
    }
    bool send_gratuitous_arp(unsigned ifindex, const std::array<uint8_t, 6>& mac, IpAddr addr,
                             std::string& error) override {
        events.push_back("garp " + addr.text() + " " + std::to_string(ifindex));
        return true;
    }
    bool send_unsolicited_na(unsigned ifindex, const std::array<uint8_t, 6>& mac, IpAddr addr,
                             std::string& error) override {
        events.push_back("na " + addr.text() + " " + std::to_string(ifindex));
        return true;
    }
    bool add_address(unsigned ifindex, IpAddr addr, uint8_t prefix, bool dad,
                     std::string& error) override {
        events.push_back("add " + addr.text() + "/" + std::to_string(prefix) + " " +
                         std::to_string(ifindex) + (dad ? " dad" : ""));
        vips.insert({ifindex, addr});
        return true;
    }
    bool del_address(unsigned ifindex, IpAddr addr, uint8_t prefix, std::string& error) override {
        // IPv6 removals name the prefix: the kernel matches it (IPv4 ones any prefix).
        events.push_back("del " + addr.text() +
                         (addr.is_v6() ? "/" + std::to_string(prefix) : std::string()) + " " +
                         std::to_string(ifindex));
        vips.erase({ifindex, addr});
        return true;
    }
    std::unique_ptr<AdvertSocket> open_socket(const std::string& ifname, unsigned ifindex,
                                              IpAddr src, bool multicast,
                                              std::string& error) override {
        if (fail_sockets) {
            error = "no socket (fake)";
            return nullptr;
        }
        auto s = std::make_unique<FakeSocket>(src, version, sent[ifname]);
        sockets[ifname] = s.get();
        return s;
    }

    /// Whether `addr` is on link `ifindex` now.
    bool has_vip(unsigned ifindex, const char* addr) const {
        return vips.count({ifindex, ip(addr)}) > 0;
    }
    /// The events since the last call, and forgets them.
    std::vector<std::string> take() {
        std::vector<std::string> out;
        out.swap(events);
        return out;
    }
    /// The priorities of the adverts sent on `ifname` since the last call, and forgets them.
    std::vector<int> take_priorities(const std::string& ifname) {
        std::vector<int> out;
        for (const Sent& s : sent[ifname]) {
            out.push_back(s.advert.priority);
        }
        sent[ifname].clear();
        return out;
    }

    std::map<std::string, Link> links;
    std::set<std::pair<unsigned, IpAddr>> vips;
    std::vector<std::string> events;
    std::map<std::string, std::vector<Sent>> sent;  // by interface
    std::map<std::string, FakeSocket*> sockets;     // the last one opened, by interface
    int version = 3;                                // what the sockets decode
    bool fail_sockets = false;
};

/// Records the scripts the helper runs; a test finishes them with finish().
class FakeLauncher final : public Launcher {
  public:
    struct Run {
        std::string line;  // the command and its arguments, space separated
        pid_t pid;
        std::function<void(int)> done;
    };
    pid_t spawn(const std::string& cmd, const std::vector<std::string>& args,
                const std::string& user, std::function<void(int)> done) override {
        std::string line = cmd;
        for (const std::string& a : args) {
            line += " " + a;
        }
        started.push_back(line);
        if (next_pid < 0) {
            return -1;  // as a failed fork: `done` is never called
        }
        running.push_back({line, next_pid, std::move(done)});
        return next_pid++;
    }
    /// The oldest script still running exits with `code` (a wait() status of exit(code)).
    void finish(int code = 0) {
        ASSERT_FALSE(running.empty());
        Run r = std::move(running.front());
        running.pop_front();
        r.done(code << 8);
    }
    /// Finishes every script, those the finished ones start too.
    void finish_all() {
        while (!running.empty()) {
            finish(0);
        }
    }
    std::vector<std::string> take() {
        std::vector<std::string> out;
        out.swap(started);
        return out;
    }

    std::vector<std::string> started;
    std::deque<Run> running;
    // Far above any pid_max (2^22): a kill() a timeout sends to one of these finds no one.
    pid_t next_pid = 0x7fff0000;
};

/// A Helper on fakes, built from the text of a `vrrp { }` block.
class HelperFixture : public ::testing::Test {
  protected:
    HelperFixture() : registry_(core::compiled_modules()) {
        eth0_ = io_.add_link("eth0", "10.0.0.1");
        eth1_ = io_.add_link("eth1", "10.0.1.1");
    }
    ~HelperFixture() override { helper_.reset(); }

    /// Loads `vrrp_block` (a whole `vrrp { }`) and makes the helper; slots in `shared_`.
    /// `test_only` false: the cycle makes its shared zones (the upstream groups' peer state).
    void make(std::string_view vrrp_block, bool test_only = true) {
        helper_.reset();
        cycle_.reset();
        core::Status s =
            support::load_cycle(registry_, dir_, vrrp_block, cycle_, nullptr, {}, test_only);
        const VrrpConf* conf = s.is_ok() ? vrrp_conf(*cycle_) : nullptr;
        if (conf == nullptr) {
            // Ends the test (gtest reports it) rather than going on without a helper.
            throw std::runtime_error("the config does not load: " + s.message());
        }
        helper_ = std::make_unique<Helper>(*cycle_, *conf, shared_.get(),
                                           HelperSeams{&io_, &time_, &launcher_});
    }
    /// make() then claim the slots and start the instances, as Helper::run() does.
    void start(std::string_view vrrp_block) {
        make(vrrp_block);
        peer().make_scripts();
        peer().claim_slots();
        peer().start_scripts();
    }
    HelperTestPeer peer() { return HelperTestPeer(*helper_); }
    Instance& instance(const std::string& name) { return peer().instance(name); }
    /// Lets the helper's loop read what the fake sockets hold.
    void pump() {
        for (int i = 0; i < 3; i++) {
            helper_->loop().run_once(ev::Duration(0));
        }
    }
    /// Delivers an advert with `priority` from `from` (VRID 51, the addresses in
    /// `peer_addrs_`) to the instance on `ifname`, and lets the helper read it.
    void advert_from(const char* from, uint8_t priority, const std::string& ifname = "eth0",
                     uint8_t vrid = 51) {
        Advert a;
        a.version = 3;
        a.vrid = vrid;
        a.priority = priority;
        a.interval = std::chrono::seconds(1);
        a.addrs = peer_addrs_;
        ASSERT_NE(io_.sockets[ifname], nullptr);
        io_.sockets[ifname]->deliver(a, ip(from));
        pump();
    }
    Slot* slot(const std::string& name) {
        for (Slot& s : shared_->slots) {
            if (s.used && name == s.name) {
                return &s;
            }
        }
        return nullptr;
    }

    support::TempDir dir_;
    core::ModuleRegistry registry_;
    std::unique_ptr<core::Cycle> cycle_;
    std::unique_ptr<SharedState> shared_ = std::make_unique<SharedState>();
    FakeIo io_;
    support::FakeTime time_;
    FakeLauncher launcher_;
    std::unique_ptr<Helper> helper_;
    unsigned eth0_ = 0;
    unsigned eth1_ = 0;
    std::vector<IpAddr> peer_addrs_ = {ip("10.0.0.100"), ip("10.0.0.101")};  // in advert_from()
};

}  // namespace vrrp::test
