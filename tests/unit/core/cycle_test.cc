// Cycle creation and reload: shared zones reused across Cycle::create(..., old, ...) when
// name, size and tag match; listening sockets handed from the old cycle to the new one by
// address; a failed new cycle leaves the old one whole; -g parameters.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/conf_context.h"
#include "core/cycle.h"
#include "core/module.h"
#include "core/shm.h"
#include "support/test_modules.h"

namespace core {
extern const Module kCoreModule;

namespace {

using ::testing::HasSubstr;

// ---- a module that declares shared zones: `test_zone name size [tag_b|fail];` ----

struct ZoneSpec {
    std::string name;
    size_t size = 0;
    bool tag_b = false;
    bool fail = false;
    std::string where;
};

struct ZoneConf : ConfBase {
    std::vector<ZoneSpec> zones;
};

struct ZoneRoot {
    int generation = 0;
    char note[32] = {};
};

struct InitRecord {
    std::string name;
    bool reused;
    int generation;
};
std::vector<InitRecord> g_inits;

const char kTagA = 0;
const char kTagB = 0;

Status set_zone(ConfContext& cf, ZoneConf& conf) {
    ZoneSpec z;
    z.name = cf.arg(0);
    auto size = parse_size(cf.arg(1));
    if (!size) {
        return cf.invalid_value(cf.arg(1));
    }
    z.size = size->bytes;
    for (size_t i = 2; i < cf.args().size(); i++) {
        z.tag_b |= cf.arg(i) == "tag_b";
        z.fail |= cf.arg(i) == "fail";
    }
    z.where = cf.node().where();
    conf.zones.push_back(z);
    return Status::ok();
}

Status zone_postconfiguration(Cycle& cycle) {
    for (const ZoneSpec& spec : cycle.conf<ZoneConf>().zones) {
        Status err = Status::ok();
        ShmZone* zone =
            cycle.add_shm_zone(spec.name, spec.size, spec.tag_b ? &kTagB : &kTagA, spec.where, err);
        if (zone == nullptr) {
            return err;
        }
        bool fail = spec.fail;
        zone->init = [fail](ShmZone& z, bool reused) -> Status {
            if (fail) {
                return Status::error("zone \"" + z.name + "\" init failed");
            }
            ShmPool& pool = z.pool();
            if (!reused) {
                EXPECT_EQ(pool.root, nullptr);
                pool.root = pool.alloc_object<ZoneRoot>();
            }
            auto* root = static_cast<ZoneRoot*>(pool.root);
            root->generation++;
            g_inits.push_back({z.name, reused, root->generation});
            return Status::ok();
        };
    }
    return Status::ok();
}

constexpr Directive kZoneDirectives[] = {
    {"test_zone", kCtxMain, Args{2, 3, false}, setter<&set_zone>()},
};
constexpr ConfHooks kZoneConfs[] = {conf_hooks<ZoneConf>(ConfLevel::kMain)};

const Module kZoneModule{
    .name = "test_zone",
    .type = ModuleType::kCore,
    .directives = kZoneDirectives,
    .confs = kZoneConfs,
    .postconfiguration = &zone_postconfiguration,
};

const Module* const kZoneModules[] = {&kCoreModule, &kZoneModule};

class CycleShmTest : public ::testing::Test {
  protected:
    CycleShmTest() : registry_(kZoneModules) { g_inits.clear(); }

    Status load(std::string_view conf, std::unique_ptr<Cycle>& out, Cycle* old = nullptr,
                bool test_only = false) {
        return support::load_cycle(registry_, dir_, conf, out, old, {}, test_only);
    }

    support::TempDir dir_;
    ModuleRegistry registry_;
};

TEST_F(CycleShmTest, NewZoneIsFormattedAndInitialized) {
    std::unique_ptr<Cycle> c;
    Status s = load("test_zone one 64k;", c);
    ASSERT_TRUE(s.is_ok()) << s.message();
    ShmZone* z = c->find_shm_zone("one");
    ASSERT_NE(z, nullptr);
    EXPECT_EQ(c->find_shm_zone("two"), nullptr);
    EXPECT_FALSE(z->reused);
    ASSERT_NE(z->segment, nullptr);
    EXPECT_EQ(z->segment->size(), 64u * 1024);
    EXPECT_EQ(z->pool().capacity(), 64u * 1024);
    EXPECT_NE(z->pool().root, nullptr);
    EXPECT_EQ(z->where, dir_.file("halo.conf") + ":1");
    ASSERT_EQ(g_inits.size(), 1u);
    EXPECT_EQ(g_inits[0].name, "one");
    EXPECT_FALSE(g_inits[0].reused);
    EXPECT_EQ(g_inits[0].generation, 1);
}

TEST_F(CycleShmTest, ZoneReusedWhenNameSizeAndTagMatch) {
    std::unique_ptr<Cycle> a;
    ASSERT_TRUE(load("test_zone one 64k;\ntest_zone two 32k;", a).is_ok());
    ShmZone* za = a->find_shm_zone("one");
    auto* root = static_cast<ZoneRoot*>(za->pool().root);
    strcpy(root->note, "kept");
    void* base = za->segment->base();

    std::unique_ptr<Cycle> b;
    Status s = load("test_zone two 32k;\ntest_zone one 64k;", b, a.get());
    ASSERT_TRUE(s.is_ok()) << s.message();
    ShmZone* zb = b->find_shm_zone("one");
    ASSERT_NE(zb, nullptr);
    EXPECT_TRUE(zb->reused);
    EXPECT_EQ(zb->segment->base(), base);
    EXPECT_EQ(zb->pool().root, root);
    EXPECT_STREQ(static_cast<ZoneRoot*>(zb->pool().root)->note, "kept");
    EXPECT_EQ(static_cast<ZoneRoot*>(zb->pool().root)->generation, 2);
    EXPECT_TRUE(b->find_shm_zone("two")->reused);

    // The memory outlives the old cycle.
    a.reset();
    EXPECT_STREQ(static_cast<ZoneRoot*>(zb->pool().root)->note, "kept");

    // And survives another reload.
    std::unique_ptr<Cycle> c;
    ASSERT_TRUE(load("test_zone one 64k;", c, b.get()).is_ok());
    EXPECT_TRUE(c->find_shm_zone("one")->reused);
    EXPECT_EQ(static_cast<ZoneRoot*>(c->find_shm_zone("one")->pool().root)->generation, 3);
}

TEST_F(CycleShmTest, ZoneNotReusedWhenSizeChanges) {
    std::unique_ptr<Cycle> a;
    ASSERT_TRUE(load("test_zone one 64k;", a).is_ok());
    std::unique_ptr<Cycle> b;
    ASSERT_TRUE(load("test_zone one 128k;", b, a.get()).is_ok());
    ShmZone* z = b->find_shm_zone("one");
    EXPECT_FALSE(z->reused);
    EXPECT_NE(z->segment, a->find_shm_zone("one")->segment);
    EXPECT_EQ(z->segment->size(), 128u * 1024);
    EXPECT_EQ(static_cast<ZoneRoot*>(z->pool().root)->generation, 1);
}

TEST_F(CycleShmTest, ZoneNotReusedWhenTagChanges) {
    std::unique_ptr<Cycle> a;
    ASSERT_TRUE(load("test_zone one 64k;", a).is_ok());
    std::unique_ptr<Cycle> b;
    ASSERT_TRUE(load("test_zone one 64k tag_b;", b, a.get()).is_ok());
    EXPECT_FALSE(b->find_shm_zone("one")->reused);
    EXPECT_NE(b->find_shm_zone("one")->segment, a->find_shm_zone("one")->segment);
}

TEST_F(CycleShmTest, ZoneNotReusedWithoutOldCycleOrAfterAGap) {
    std::unique_ptr<Cycle> a;
    ASSERT_TRUE(load("test_zone one 64k;", a).is_ok());
    std::unique_ptr<Cycle> b;
    ASSERT_TRUE(load("test_zone other 64k;", b, a.get()).is_ok());
    EXPECT_EQ(b->find_shm_zone("one"), nullptr);
    std::unique_ptr<Cycle> c;
    ASSERT_TRUE(load("test_zone one 64k;", c, b.get()).is_ok());
    EXPECT_FALSE(c->find_shm_zone("one")->reused);
    std::unique_ptr<Cycle> d;
    ASSERT_TRUE(load("test_zone one 64k;", d).is_ok());
    EXPECT_FALSE(d->find_shm_zone("one")->reused);
}

TEST_F(CycleShmTest, DuplicateZone) {
    std::unique_ptr<Cycle> c;
    Status s = load("test_zone one 64k;\ntest_zone one 64k;", c);
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.message(), "duplicate zone \"one\" in " + dir_.file("halo.conf") + ":2");
}

TEST_F(CycleShmTest, FailedInitFailsTheCycleAndKeepsTheOld) {
    std::unique_ptr<Cycle> a;
    ASSERT_TRUE(load("test_zone one 64k;", a).is_ok());
    void* root = a->find_shm_zone("one")->pool().root;
    std::unique_ptr<Cycle> b;
    Status s = load("test_zone one 64k;\ntest_zone bad 64k fail;", b, a.get());
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.message(), "zone \"bad\" init failed");
    EXPECT_EQ(b, nullptr);
    EXPECT_EQ(a->find_shm_zone("one")->pool().root, root);
    EXPECT_EQ(static_cast<ZoneRoot*>(root)->generation, 2);  // the failed cycle did run init
    // The old cycle still lends its zone.
    std::unique_ptr<Cycle> c;
    ASSERT_TRUE(load("test_zone one 64k;", c, a.get()).is_ok());
    EXPECT_TRUE(c->find_shm_zone("one")->reused);
}

TEST_F(CycleShmTest, TestOnlyCreatesNoSharedMemory) {
    std::unique_ptr<Cycle> c;
    ASSERT_TRUE(load("test_zone one 64k;", c, nullptr, true).is_ok());
    ASSERT_NE(c->find_shm_zone("one"), nullptr);
    EXPECT_EQ(c->find_shm_zone("one")->segment, nullptr);
    EXPECT_TRUE(g_inits.empty());
}

// ---- listening sockets (real http module) ----

int listening_port(int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof(a);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        return -1;
    }
    return ntohs(a.sin_port);
}

bool fd_is_open(int fd) {
    return fcntl(fd, F_GETFD) != -1;
}

/// A socket listening on 127.0.0.1:port (no SO_REUSEADDR), to make a bind() fail.
int blocker(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(fd, 1) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

class CycleListenTest : public ::testing::Test {
  protected:
    CycleListenTest() : registry_(compiled_modules()) {
        p1_ = support::free_port();
        p2_ = support::free_port();
        while (p2_ == p1_) {
            p2_ = support::free_port();
        }
    }

    Status load(std::string_view conf, std::unique_ptr<Cycle>& out, Cycle* old = nullptr,
                std::string params = {}) {
        return support::load_cycle(registry_, dir_, conf, out, old, std::move(params));
    }
    /// An http block listening on the given lines.
    std::string http_conf(const std::string& listens, const std::string& main = {}) const {
        return main + "http {\n  server {\n" + listens + "  }\n}\n";
    }
    std::string listen(uint16_t port, const std::string& opts = {}) const {
        return "    listen 127.0.0.1:" + std::to_string(port) + (opts.empty() ? "" : " " + opts) +
               ";\n";
    }
    Listening* find(Cycle& c, uint16_t port) {
        for (auto& l : c.listening()) {
            if (l->addr.port() == port) {
                return l.get();
            }
        }
        return nullptr;
    }

    support::TempDir dir_;
    ModuleRegistry registry_;
    uint16_t p1_ = 0;
    uint16_t p2_ = 0;
};

TEST_F(CycleListenTest, OpensListeningSockets) {
    ASSERT_NE(p1_, 0);
    std::unique_ptr<Cycle> a;
    Status s = load(http_conf(listen(p1_)), a);
    ASSERT_TRUE(s.is_ok()) << s.message();
    ASSERT_EQ(a->listening().size(), 1u);
    Listening& l = *a->listening()[0];
    ASSERT_EQ(l.fds.size(), 1u);
    EXPECT_EQ(listening_port(l.fds[0]), p1_);
    EXPECT_EQ(l.addr.text(), "127.0.0.1:" + std::to_string(p1_));
    EXPECT_EQ(l.where, dir_.file("halo.conf") + ":3");
    EXPECT_NE(l.handler, nullptr);
    EXPECT_TRUE(support::can_connect(p1_));
}

TEST_F(CycleListenTest, TestOnlyOpensNoSockets) {
    std::unique_ptr<Cycle> a;
    dir_.write("halo.conf", http_conf(listen(p1_)));
    CycleOptions o = support::cycle_options(dir_, {}, true);
    ASSERT_TRUE(Cycle::create(o, registry_, nullptr, a).is_ok());
    ASSERT_EQ(a->listening().size(), 1u);
    EXPECT_TRUE(a->listening()[0]->fds.empty());
}

TEST_F(CycleListenTest, NewCycleInheritsTheOldSockets) {
    std::unique_ptr<Cycle> a;
    ASSERT_TRUE(load(http_conf(listen(p1_)), a).is_ok());
    int fd = a->listening()[0]->fds[0];

    std::unique_ptr<Cycle> b;
    Status s = load(http_conf(listen(p1_, "backlog=100")), b, a.get());
    ASSERT_TRUE(s.is_ok()) << s.message();
    ASSERT_EQ(b->listening().size(), 1u);
    ASSERT_EQ(b->listening()[0]->fds.size(), 1u);
    EXPECT_EQ(b->listening()[0]->fds[0], fd);  // the very same socket
    EXPECT_TRUE(a->listening()[0]->fds.empty());
    a.reset();  // the old cycle goes away: the socket stays open in the new one
    EXPECT_TRUE(fd_is_open(fd));
    EXPECT_TRUE(support::can_connect(p1_));
}

TEST_F(CycleListenTest, NewAddressOpensAndDroppedAddressStaysWithTheOld) {
    std::unique_ptr<Cycle> a;
    ASSERT_TRUE(load(http_conf(listen(p1_)), a).is_ok());
    int fd1 = a->listening()[0]->fds[0];

    std::unique_ptr<Cycle> b;
    Status s = load(http_conf(listen(p2_)), b, a.get());
    ASSERT_TRUE(s.is_ok()) << s.message();
    ASSERT_EQ(b->listening().size(), 1u);
    int fd2 = b->listening()[0]->fds[0];
    EXPECT_NE(fd2, fd1);
    EXPECT_EQ(listening_port(fd2), p2_);
    // The old socket is not the new cycle's business.
    ASSERT_EQ(a->listening()[0]->fds.size(), 1u);
    EXPECT_EQ(a->listening()[0]->fds[0], fd1);
    a.reset();
    EXPECT_FALSE(support::can_connect(p1_));
    EXPECT_TRUE(support::can_connect(p2_));
}

TEST_F(CycleListenTest, FailedNewCycleLeavesOldSocketsIntact) {
    std::unique_ptr<Cycle> a;
    ASSERT_TRUE(load(http_conf(listen(p1_)), a).is_ok());
    int fd = a->listening()[0]->fds[0];
    int block = blocker(p2_);
    ASSERT_GE(block, 0);

    std::unique_ptr<Cycle> b;
    Status s = load(http_conf(listen(p1_) + listen(p2_)), b, a.get());
    close(block);
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.message(), "bind() to 127.0.0.1:" + std::to_string(p2_) +
                               " failed (98: Address already in use) in " + dir_.file("halo.conf") +
                               ":4");
    EXPECT_EQ(b, nullptr);
    ASSERT_EQ(a->listening()[0]->fds.size(), 1u);
    EXPECT_EQ(a->listening()[0]->fds[0], fd);
    EXPECT_TRUE(fd_is_open(fd));
    EXPECT_EQ(listening_port(fd), p1_);
    EXPECT_TRUE(support::can_connect(p1_));

    // The old cycle can still hand its socket to the next good config.
    std::unique_ptr<Cycle> c;
    s = load(http_conf(listen(p1_)), c, a.get());
    ASSERT_TRUE(s.is_ok()) << s.message();
    EXPECT_EQ(c->listening()[0]->fds[0], fd);
}

TEST_F(CycleListenTest, ConfigErrorLeavesOldSocketsIntact) {
    std::unique_ptr<Cycle> a;
    ASSERT_TRUE(load(http_conf(listen(p1_)), a).is_ok());
    int fd = a->listening()[0]->fds[0];
    std::unique_ptr<Cycle> b;
    ASSERT_FALSE(load(http_conf(listen(p1_) + "    bogus;\n"), b, a.get()).is_ok());
    EXPECT_EQ(a->listening()[0]->fds[0], fd);
    EXPECT_TRUE(support::can_connect(p1_));
}

TEST_F(CycleListenTest, ReuseportOpensOneSocketPerWorkerAndInheritsThem) {
    std::unique_ptr<Cycle> a;
    Status s = load(http_conf(listen(p1_, "reuseport"), "worker_processes 2;\n"), a);
    ASSERT_TRUE(s.is_ok()) << s.message();
    ASSERT_EQ(a->listening()[0]->fds.size(), 2u);
    std::vector<int> fds = a->listening()[0]->fds;
    EXPECT_EQ(a->listening()[0]->fd_for_worker(0), fds[0]);
    EXPECT_EQ(a->listening()[0]->fd_for_worker(1), fds[1]);
    EXPECT_EQ(a->listening()[0]->fd_for_worker(2), fds[0]);

    // Three workers now: both sockets are inherited, one more is opened.
    std::unique_ptr<Cycle> b;
    s = load(http_conf(listen(p1_, "reuseport"), "worker_processes 3;\n"), b, a.get());
    ASSERT_TRUE(s.is_ok()) << s.message();
    ASSERT_EQ(b->listening()[0]->fds.size(), 3u);
    EXPECT_EQ(b->listening()[0]->fds[0], fds[0]);
    EXPECT_EQ(b->listening()[0]->fds[1], fds[1]);
    EXPECT_TRUE(a->listening()[0]->fds.empty());
}

// nginx keeps serving when a reload adds or removes `reuseport` on an address (it reuses the
// socket and sets the option). A reload must not fail because the old cycle still listens.
TEST_F(CycleListenTest, ReloadAddingReuseportKeepsTheAddress) {
    std::unique_ptr<Cycle> a;
    ASSERT_TRUE(load(http_conf(listen(p1_)), a).is_ok());
    std::unique_ptr<Cycle> b;
    Status s = load(http_conf(listen(p1_, "reuseport")), b, a.get());
    EXPECT_TRUE(s.is_ok()) << s.message();
}

TEST_F(CycleListenTest, ReloadRemovingReuseportKeepsTheAddress) {
    std::unique_ptr<Cycle> a;
    ASSERT_TRUE(load(http_conf(listen(p1_, "reuseport")), a).is_ok());
    std::unique_ptr<Cycle> b;
    Status s = load(http_conf(listen(p1_)), b, a.get());
    EXPECT_TRUE(s.is_ok()) << s.message();
}

TEST_F(CycleListenTest, CloseListening) {
    std::unique_ptr<Cycle> a;
    ASSERT_TRUE(load(http_conf(listen(p1_)), a).is_ok());
    int fd = a->listening()[0]->fds[0];
    a->close_listening();
    EXPECT_TRUE(a->listening()[0]->fds.empty());
    EXPECT_FALSE(fd_is_open(fd));
    EXPECT_FALSE(support::can_connect(p1_));
}

// ---- loading ----

TEST_F(CycleListenTest, CommandLineDuplicateOfTheFile) {
    std::unique_ptr<Cycle> a;
    Status s = load("\ndaemon off;\n", a, nullptr, "daemon off;");
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.message(), "\"daemon\" directive is duplicate in " + dir_.file("halo.conf") + ":2");
}

TEST_F(CycleListenTest, CommandLineErrors) {
    std::unique_ptr<Cycle> a;
    Status s = load("", a, nullptr, "daemon off; bogus;");
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.message(), "unknown directive \"bogus\" in command line:1");
    s = load("", a, nullptr, "daemon maybe;");
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.message(),
              "invalid value \"maybe\" in \"daemon\" directive, it must be \"on\" or \"off\" in "
              "command line:1");
    s = load("", a, nullptr, "daemon off");
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.message(), "unexpected end of file, expecting \";\" or \"}\" in command line:1");
}

TEST_F(CycleListenTest, EveryUnknownDirectiveIsReportedInFileOrder) {
    // The command line comes first; an unknown block is named once and its body skipped.
    std::unique_ptr<Cycle> a;
    const std::string f = dir_.file("halo.conf");
    Status s = load("daemon off;\nfoo 1;\nevents {\n  bar;\n}\nbaz x {\n  qux;\n  quux { }\n}\n", a,
                    nullptr, "nope;");
    ASSERT_FALSE(s.is_ok());
    auto at = [&](int line) { return " in " + f + ":" + std::to_string(line); };
    EXPECT_EQ(s.message(),
              "unknown directive \"nope\" in command line:1\n"
              "unknown directive \"foo\"" +
                  at(2) + "\n" + "unknown directive \"bar\"" + at(4) + "\n" +
                  "unknown directive \"baz\"" + at(6));
    EXPECT_EQ(a, nullptr);
}

TEST_F(CycleListenTest, UnknownDirectivesThenTheFirstOtherError) {
    std::unique_ptr<Cycle> a;
    const std::string f = dir_.file("halo.conf");
    Status s = load("foo;\nworker_processes none;\nbar;\n", a);
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.message(), "unknown directive \"foo\" in " + f + ":1\n" +
                               "invalid value \"none\" in \"worker_processes\" directive, it must "
                               "be \"auto\" or 1..1024 in " +
                               f + ":2");
    // Without unknown directives an error is reported alone, as before.
    s = load("worker_processes none;\n", a);
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.message().find('\n'), std::string::npos) << s.message();
}

TEST_F(CycleListenTest, MissingConfigFile) {
    std::unique_ptr<Cycle> a;
    CycleOptions o = support::cycle_options(dir_);
    o.conf_file = dir_.file("absent.conf");
    Status s = Cycle::create(o, registry_, nullptr, a);
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.message(),
              "open() \"" + dir_.file("absent.conf") + "\" failed (2: No such file or directory)");
}

TEST_F(CycleListenTest, DocumentKeepsEveryFile) {
    dir_.write("conf.d/a.conf", "worker_processes 2;\n");
    std::unique_ptr<Cycle> a;
    Status s = load("include conf.d/*.conf;\n", a);
    ASSERT_TRUE(s.is_ok()) << s.message();
    ASSERT_EQ(a->document().files.size(), 2u);
    EXPECT_EQ(a->document().files[0].path, dir_.file("halo.conf"));
    EXPECT_EQ(a->document().files[1].path, dir_.file("conf.d/a.conf"));
    EXPECT_EQ(a->worker_count(), 2);
    EXPECT_EQ(a->conf_dir(), dir_.path());
    EXPECT_EQ(a->full_path("x"), dir_.prefix() + "x");
}

TEST_F(CycleListenTest, OpenFileIsSharedByPath) {
    std::unique_ptr<Cycle> a;
    ASSERT_TRUE(load("events {\n}\n", a).is_ok());
    auto f1 = a->open_file(dir_.file("logs/x.log"));
    auto f2 = a->open_file(dir_.file("logs/x.log"));
    EXPECT_EQ(f1, f2);
    auto f3 = a->open_file(dir_.file("logs/y.log"));
    EXPECT_NE(f1, f3);
}

}  // namespace
}  // namespace core
