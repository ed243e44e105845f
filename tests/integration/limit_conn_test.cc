// limit_conn through the real binary with two workers: requests in flight per client address
// (http, held by a backend that answers when told), the refusal's status (503, 429), dry run
// and $limit_conn_status in the access log, a location's own limits replacing the inherited
// ones, the count shared by both workers (a request held by one worker refuses one on the
// other: the connections are opened first and their worker read from /proc), and stream
// sessions (the second one closed before it reaches the backend). Config errors with
// file:line.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "support/backend.h"
#include "support/h2_client.h"
#include "support/harness.h"
#include "support/json.h"
#include "support/stream_backend.h"

namespace halo_test {
namespace {

constexpr std::string_view kHttpConf = R"(
daemon off;
worker_processes 2;
error_log logs/error.log info;

events {
    worker_connections 256;
}

http {
    log_format lc '$pid $status $limit_conn_status $uri';
    access_log logs/access.log lc;

    limit_conn_zone $binary_remote_addr zone=perip:1m;
    limit_conn_zone $binary_remote_addr zone=one:1m;
    limit_conn_zone $server_name zone=perserver:1m;
    limit_conn_zone $http_x_key zone=bykey:1m;

    server {
        listen 127.0.0.1:%%PORT_0%% reuseport;
        server_name lc;
        limit_conn perip 2;
        proxy_read_timeout 30s;

        location /slow/ {
            proxy_pass http://%%BACKEND%%;
        }
        location /429/ {
            limit_conn_status 429;
            proxy_pass http://%%BACKEND%%;
        }
        location /dry/ {
            limit_conn_dry_run on;
            proxy_pass http://%%BACKEND%%;
        }
        location /own/ {
            limit_conn perserver 100;
            proxy_pass http://%%BACKEND%%;
        }
        location /one/ {
            limit_conn one 1;
            proxy_pass http://%%BACKEND%%;
        }
        location /key/ {
            limit_conn bykey 1;
            proxy_pass http://%%BACKEND%%;
        }
    }
    server {
        listen 127.0.0.1:%%PORT_2%% http2;
        limit_conn perip 2;
        proxy_read_timeout 30s;
        location /slow/ {
            proxy_pass http://%%BACKEND%%;
        }
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        location = /status {
            status format=json;
        }
        location = /metrics {
            status format=prometheus;
        }
    }
}
)";

class LimitConnHttpTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_limit_conn") || !halo_has_module("http_proxy")) {
            GTEST_SKIP() << "http_limit_conn or http_proxy is not compiled in";
        }
        // Requests whose path has "/hold" wait until released; the others answer at once.
        backend_ = std::make_unique<Backend>("b", [this](BackendConn& c, const BackendRequest& r) {
            if (r.target.find("/hold") != std::string::npos) {
                held_++;
                while (!release_.load()) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(5));
                }
            }
            c.send(Backend::ok_response("ok " + r.target + "\n"));
        });
        std::string conf(kHttpConf);
        for (size_t at; (at = conf.find("%%BACKEND%%")) != std::string::npos;) {
            conf.replace(at, 11, backend_->address());
        }
        halo_.write_conf(conf);
        conf_ = conf;
        ASSERT_TRUE(halo_.start()) << halo_.error_log();
        workers_ = halo_.wait_workers(2);
        ASSERT_EQ(workers_.size(), 2u) << halo_.error_log();
    }
    void TearDown() override { release_all(); }

    /// Starts a request for `path` that the backend holds; returns once the backend has it.
    /// `x_key`: the value of an X-Key header (none when empty).
    void hold(const std::string& path, const std::string& x_key = {}) {
        int before = held_.load();
        threads_.emplace_back([this, path, x_key] {
            HttpConnection c;
            if (!c.connect(halo_.port(0))) {
                return;
            }
            std::string req = get_request(path, "lc");
            if (!x_key.empty()) {
                req.insert(req.size() - 2, "X-Key: " + x_key + "\r\n");
            }
            c.send(req);
            auto r = c.read_response(30s);
            std::lock_guard<std::mutex> lock(mu_);
            held_status_.push_back(r ? r->status : 0);
        });
        ASSERT_TRUE(wait_until([&] { return held_.load() > before; })) << halo_.error_log();
    }
    void release_all() {
        release_ = true;
        for (auto& t : threads_) {
            t.join();
        }
        threads_.clear();
    }
    int status_of(const std::string& path) {
        auto r = http_get(halo_.port(0), path, "lc");
        return r ? r->status : 0;
    }
    std::string access_log() { return read_file(halo_.path("logs/access.log")).value_or(""); }
    /// The keys zone `name` counts now, from the status page (-1 without it).
    int64_t zone_keys(std::string_view name) {
        auto j = Json::parse(get_body(halo_.port(1), "/status"));
        if (!j) {
            return -1;
        }
        const Json& zones = (*j)["limit_conns"];
        for (size_t i = 0; i < zones.size(); i++) {
            if (zones[i]["zone"].str() == name) {
                return zones[i]["keys"].integer();
            }
        }
        return -1;
    }
    /// Waits until the access log has a line matching `re` (the log is written when a request
    /// ends, so this is also how a test knows a request's counts were given back).
    bool wait_log(const std::string& re) {
        std::regex pattern(re);
        return wait_until([&] { return std::regex_search(access_log(), pattern); });
    }

    Halo halo_;
    std::string conf_;  // as written (the backend's address in it)
    std::unique_ptr<Backend> backend_;
    std::vector<pid_t> workers_;
    std::atomic<int> held_{0};
    std::atomic<bool> release_{false};
    std::vector<std::thread> threads_;
    std::mutex mu_;
    std::vector<int> held_status_;  // of the requests hold() started, as they ended
};

TEST_F(LimitConnHttpTest, TwoInFlightPassTheThirdIsRefusedUntilTheyEnd) {
    hold("/slow/hold1");
    hold("/slow/hold2");
    EXPECT_EQ(status_of("/slow/x"), 503);
    EXPECT_EQ(status_of("/429/x"), 429);  // the same key's count, another status
    EXPECT_EQ(backend_->requests(), 2);   // the refused ones never reached it
    EXPECT_NE(halo_.error_log().find("limiting connections by zone \"perip\""), std::string::npos)
        << halo_.error_log();
    release_all();
    EXPECT_EQ(held_status_, (std::vector<int>{200, 200}));
    ASSERT_TRUE(wait_log(" 200 PASSED /slow/hold2\n")) << access_log();
    ASSERT_TRUE(wait_log(" 200 PASSED /slow/hold1\n")) << access_log();
    // Both held requests ended: their counts are given back, the next ones pass.
    EXPECT_TRUE(wait_until([&] { return status_of("/slow/y") == 200; })) << halo_.error_log();
    EXPECT_EQ(status_of("/slow/z"), 200);
    std::string log = access_log();
    EXPECT_NE(log.find(" 503 REJECTED /slow/x\n"), std::string::npos) << log;
    EXPECT_NE(log.find(" 429 REJECTED /429/x\n"), std::string::npos) << log;

    // The status page counts the zone's refusals (both workers together): as many as the
    // access log shows, and no key held once every request ended.
    if (halo_has_module("http_status")) {
        auto count = [](const std::string& text, const std::string& what) {
            int n = 0;
            for (size_t at = text.find(what); at != std::string::npos;
                 at = text.find(what, at + 1)) {
                n++;
            }
            return n;
        };
        std::string body;
        std::optional<Json> j;
        ASSERT_TRUE(wait_until([&] {
            body = get_body(halo_.port(1), "/status");
            j = Json::parse(body);
            return j && (*j)["limit_conns"].size() == 4 &&
                   (*j)["limit_conns"][0]["keys"].integer() == 0;
        })) << body;
        const Json& zones = (*j)["limit_conns"];
        ASSERT_EQ(zones.size(), 4u) << body;
        EXPECT_EQ(zones[0]["zone"].str(), "perip");
        EXPECT_EQ(zones[0]["kind"].str(), "http");
        log = access_log();
        int rejected = count(log, " REJECTED /");
        EXPECT_GE(rejected, 2);
        EXPECT_EQ(zones[0]["rejected"].integer(), rejected) << body << log;
        EXPECT_EQ(zones[0]["passed"].integer(), count(log, " PASSED /")) << body << log;
        EXPECT_EQ(zones[0]["rejected_dry_run"].integer(), 0) << body;
        EXPECT_EQ(zones[0]["keys"].integer(), 0) << body;
        std::string metrics = get_body(halo_.port(1), "/metrics");
        EXPECT_NE(metrics.find("halo_limit_conn_rejected_total{zone=\"perip\",kind=\"http\"} " +
                               std::to_string(rejected) + "\n"),
                  std::string::npos)
            << metrics;
    }
}

TEST_F(LimitConnHttpTest, DryRunPassesAndSaysSo) {
    hold("/slow/hold1");
    hold("/slow/hold2");
    EXPECT_EQ(status_of("/dry/x"), 200);
    ASSERT_TRUE(wait_log(" 200 REJECTED_DRY_RUN /dry/x\n")) << access_log();
    EXPECT_NE(halo_.error_log().find("limiting connections, dry run, by zone \"perip\""),
              std::string::npos)
        << halo_.error_log();
    release_all();
}

TEST_F(LimitConnHttpTest, ALocationsOwnLimitsReplaceTheInheritedOnes) {
    hold("/slow/hold1");
    hold("/slow/hold2");
    EXPECT_EQ(status_of("/slow/x"), 503);
    hold("/own/hold3");  // perserver 100 only: perip does not apply here
    EXPECT_EQ(status_of("/own/x"), 200);
    release_all();
}

TEST_F(LimitConnHttpTest, EmptyAndTooLongKeysAreNotCounted) {
    // As nginx, with `limit_conn bykey 1` keyed on X-Key: a request without the header (an
    // empty key) or with more than 255 bytes of it is not counted (an error line says so),
    // so a second one passes while the first is held; 255 bytes are counted.
    auto with_key = [&](const std::string& path, const std::string& key) {
        HttpConnection c;
        if (!c.connect(halo_.port(0))) {
            return 0;
        }
        std::string req = get_request(path, "lc");
        if (!key.empty()) {
            req.insert(req.size() - 2, "X-Key: " + key + "\r\n");
        }
        c.send(req);
        auto r = c.read_response(10s);
        return r ? r->status : 0;
    };
    std::string longest(255, 'k');
    std::string too_long(256, 'k');
    hold("/key/hold-none");
    hold("/key/hold-too-long", too_long);
    hold("/key/hold-longest", longest);
    EXPECT_EQ(with_key("/key/none", ""), 200);
    EXPECT_EQ(with_key("/key/too-long", too_long), 200);
    EXPECT_EQ(with_key("/key/longest", longest), 503);
    release_all();
    EXPECT_TRUE(wait_log(" 200 - /key/hold-none\n")) << access_log();
    EXPECT_TRUE(wait_log(" 200 - /key/none\n")) << access_log();
    EXPECT_TRUE(wait_log(" 200 - /key/too-long\n")) << access_log();
    EXPECT_TRUE(wait_log(" 200 PASSED /key/hold-longest\n")) << access_log();
    EXPECT_TRUE(wait_log(" 503 REJECTED /key/longest\n")) << access_log();
    EXPECT_NE(halo_.error_log().find("the value of the \"$http_x_key\" key is more than 255 "
                                     "bytes: \"" +
                                     too_long + "\""),
              std::string::npos)
        << halo_.error_log();
}

TEST_F(LimitConnHttpTest, AReloadKeepsTheCountsAndRefusesANewKey) {
    hold("/slow/hold1");
    hold("/slow/hold2");
    // Same zones: the new workers see the two requests the old ones still serve.
    ASSERT_TRUE(halo_.signal(SIGHUP));
    std::vector<pid_t> fresh = halo_.wait_new_workers(2, workers_);
    ASSERT_EQ(fresh.size(), 2u) << halo_.error_log();
    EXPECT_EQ(status_of("/slow/x"), 503);
    std::string pids = "(" + std::to_string(fresh[0]) + "|" + std::to_string(fresh[1]) + ")";
    EXPECT_TRUE(wait_log(pids + " 503 REJECTED /slow/x\n")) << access_log();
    release_all();
    EXPECT_EQ(held_status_, (std::vector<int>{200, 200}));
    EXPECT_TRUE(wait_until([&] { return status_of("/slow/y") == 200; })) << halo_.error_log();

    // A zone whose key changes is refused; the running configuration stays.
    std::string changed = conf_;
    std::string from = "limit_conn_zone $binary_remote_addr zone=perip:1m;";
    changed.replace(changed.find(from), from.size(), "limit_conn_zone $remote_addr zone=perip:1m;");
    halo_.write_conf(changed);
    ASSERT_TRUE(halo_.signal(SIGHUP));
    EXPECT_TRUE(wait_until([&] {
        return halo_.error_log().find(
                   "limit_conn_zone \"perip\" uses the \"$remote_addr\" key "
                   "while previously it used the \"$binary_remote_addr\" "
                   "key") != std::string::npos;
    })) << halo_.error_log();
    EXPECT_EQ(status_of("/slow/z"), 200);
}

TEST_F(LimitConnHttpTest, EachHttp2StreamCountsAsARequest) {
    // One HTTP/2 connection: two streams held, the third refused, and once the two ended a
    // new stream on the same connection passes (the counts are the streams', not the
    // connection's), as nginx.
    if (!halo_has_module("http_v2")) {
        GTEST_SKIP() << "http_v2 is not compiled in";
    }
    h2::Client c;
    ASSERT_TRUE(c.connect(halo_.port(2)));
    ASSERT_TRUE(c.handshake()) << c.error();
    uint32_t s1 = c.next_stream();
    ASSERT_TRUE(c.send_headers(s1, h2::Client::request_headers("/slow/hold1"), true));
    ASSERT_TRUE(wait_until([&] { return held_.load() == 1; })) << halo_.error_log();
    uint32_t s3 = c.next_stream();
    ASSERT_TRUE(c.send_headers(s3, h2::Client::request_headers("/slow/hold2"), true));
    ASSERT_TRUE(wait_until([&] { return held_.load() == 2; })) << halo_.error_log();
    h2::Response refused = c.request(h2::Client::request_headers("/slow/x"));
    EXPECT_EQ(refused.status, 503) << refused.error;
    release_ = true;
    EXPECT_EQ(c.read_response(s1, 10s).status, 200);
    EXPECT_EQ(c.read_response(s3, 10s).status, 200);
    ASSERT_TRUE(wait_log(" 200 PASSED /slow/hold1\n")) << access_log();
    ASSERT_TRUE(wait_log(" 200 PASSED /slow/hold2\n")) << access_log();
    EXPECT_TRUE(wait_until([&] {
        return c.request(h2::Client::request_headers("/slow/y")).status == 200;
    })) << access_log();
    EXPECT_NE(access_log().find(" 503 REJECTED /slow/x\n"), std::string::npos) << access_log();
}

TEST_F(LimitConnHttpTest, BothWorkersCountInTheSameZone) {
    // Connections first (no request yet): each is accepted by one worker, found in /proc by
    // the count of established connections each worker holds. Open until the first worker
    // has two and the second one.
    std::map<pid_t, int> before;
    for (pid_t w : workers_) {
        before[w] = established_connections(w, halo_.port(0));
    }
    std::map<pid_t, std::vector<std::unique_ptr<HttpConnection>>> by_worker;
    for (int i = 0; i < 64 && (by_worker[workers_[0]].size() < 2 || by_worker[workers_[1]].empty());
         i++) {
        auto c = std::make_unique<HttpConnection>();
        ASSERT_TRUE(c->connect(halo_.port(0)));
        pid_t owner = 0;
        ASSERT_TRUE(wait_until([&] {
            for (pid_t w : workers_) {
                if (established_connections(w, halo_.port(0)) > before[w]) {
                    owner = w;
                    return true;
                }
            }
            return false;
        }));
        before[owner]++;
        by_worker[owner].push_back(std::move(c));
    }
    ASSERT_GE(by_worker[workers_[0]].size(), 2u) << "the kernel gave every connection to one";
    ASSERT_FALSE(by_worker[workers_[1]].empty()) << "the kernel gave every connection to one";

    // `one 1` on /one/: a request held by the first worker refuses one on the second, and
    // the other way round once the first ended.
    HttpConnection& a = *by_worker[workers_[0]][0];
    HttpConnection& b = *by_worker[workers_[1]][0];
    ASSERT_TRUE(a.send(get_request("/one/hold-a", "lc")));
    ASSERT_TRUE(wait_until([&] { return held_.load() == 1; })) << halo_.error_log();
    ASSERT_TRUE(b.send(get_request("/one/b", "lc", true)));
    auto rb = b.read_response(10s);
    ASSERT_TRUE(rb);
    EXPECT_EQ(rb->status, 503);
    release_ = true;
    auto ra = a.read_response(10s);
    ASSERT_TRUE(ra);
    EXPECT_EQ(ra->status, 200);
    std::string pid_a = std::to_string(workers_[0]);
    std::string pid_b = std::to_string(workers_[1]);
    ASSERT_TRUE(wait_log(pid_a + " 200 PASSED /one/hold-a\n")) << access_log();
    EXPECT_TRUE(wait_log(pid_b + " 503 REJECTED /one/b\n")) << access_log();
    // The count was given back in the zone both share (a request gives it back as it is
    // freed, after its log line: the status page tells when), and b's worker lets the next
    // one through.
    if (halo_has_module("http_status")) {
        ASSERT_TRUE(wait_until([&] { return zone_keys("one") == 0; }));
    }
    release_ = false;
    held_ = 0;
    ASSERT_TRUE(b.send(get_request("/one/hold-b", "lc")));
    ASSERT_TRUE(wait_until([&] { return held_.load() == 1; })) << halo_.error_log();
    HttpConnection& a2 = *by_worker[workers_[0]][1];
    ASSERT_TRUE(a2.send(get_request("/one/a2", "lc")));
    auto r = a2.read_response(10s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_TRUE(wait_log(pid_a + " 503 REJECTED /one/a2\n")) << access_log();
    release_ = true;
    auto rb2 = b.read_response(10s);
    ASSERT_TRUE(rb2);
    EXPECT_EQ(rb2->status, 200);
}

TEST(LimitConnConfigTest, ErrorsNameFileAndLine) {
    if (!halo_has_module("http_limit_conn")) {
        GTEST_SKIP() << "http_limit_conn is not compiled in";
    }
    struct Case {
        std::string conf;
        std::string message;
        int line;
    };
    const std::string head = "events { }\nhttp {\n";
    const Case cases[] = {
        {head + " server { listen 127.0.0.1:1; limit_conn nozone 1; }\n}\n",
         "zero size shared memory zone \"nozone\"", 3},
        {head + " limit_conn_zone $binary_remote_addr zone=a;\n}\n", "invalid zone size \"zone=a\"",
         3},
        {head + " limit_conn_zone $binary_remote_addr zone=a:1m;\n limit_conn a many;\n}\n",
         "invalid number of connections \"many\"", 4},
    };
    for (const Case& c : cases) {
        Halo halo;
        halo.write_conf(c.conf);
        RunResult r = halo.run({"-t"});
        EXPECT_EQ(r.status, 1) << r;
        std::string want = "[emerg] " + c.message + " in " + halo.conf_path() + ":" +
                           std::to_string(c.line) + "\n";
        EXPECT_NE(r.err.find(want), std::string::npos) << "expected: " << want << r;
    }
}

// ---- stream ----

constexpr std::string_view kStreamConf = R"(
daemon off;
worker_processes 2;
error_log logs/error.log info;

events {
    worker_connections 256;
}

stream {
    log_format s '$pid $status $limit_conn_status $server_port';
    access_log logs/stream.log s;
    limit_conn_zone $binary_remote_addr zone=addr:1m;

    server {
        listen 127.0.0.1:%%PORT_0%% reuseport;
        limit_conn addr 1;
        proxy_pass %%BACKEND%%;
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        limit_conn addr 1;
        limit_conn_dry_run on;
        proxy_pass %%BACKEND%%;
    }
    server {
        listen 127.0.0.1:%%UDP%% udp reuseport;  # a client's datagrams stay with one worker
        limit_conn addr 1;
        proxy_pass %%UDP_BACKEND%%;
        proxy_timeout 30s;
    }
}
)";

/// A TCP client of the test: connects, reads what comes within `ms` or until the peer closes.
class TcpClient {
  public:
    bool connect(uint16_t port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    }
    ~TcpClient() { close(); }
    void close() {
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }
    /// Reads until `want` bytes came, the peer closed (closed_ set) or `ms` passed.
    std::string read(size_t want, int ms = 10000) {
        std::string out;
        while (out.size() < want) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, ms) <= 0) {
                break;
            }
            char buf[512];
            ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
            if (n <= 0) {
                closed_ = true;
                break;
            }
            out.append(buf, static_cast<size_t>(n));
        }
        return out;
    }
    bool closed() const { return closed_; }

  private:
    int fd_ = -1;
    bool closed_ = false;
};

class LimitConnStreamTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("stream_limit_conn") || !halo_has_module("stream_proxy") ||
            !halo_has_module("stream_log")) {
            GTEST_SKIP() << "stream_limit_conn, stream_proxy or stream_log is not compiled in";
        }
        std::string conf(kStreamConf);
        for (size_t at; (at = conf.find("%%BACKEND%%")) != std::string::npos;) {
            conf.replace(at, 11, echo_.address());
        }
        udp_port_ = free_port();  // not a harness port: start() probes those with TCP
        conf.replace(conf.find("%%UDP%%"), 7, std::to_string(udp_port_));
        conf.replace(conf.find("%%UDP_BACKEND%%"), 15, udp_echo_.address());
        halo_.write_conf(conf);
        ASSERT_TRUE(halo_.start()) << halo_.error_log();
        workers_ = halo_.wait_workers(2);
        ASSERT_EQ(workers_.size(), 2u) << halo_.error_log();
        // start() probed each port with a connection: sessions of their own, which may hold
        // the client's count and reach the backend. Once their lines are logged they are over.
        ASSERT_TRUE(wait_until([&] { return count_lines("\n") >= 2; })) << log();
    }
    std::string log() { return read_file(halo_.path("logs/stream.log")).value_or(""); }
    /// Lines of the stream log matching `re`.
    int count_lines(const std::string& re) {
        std::regex pattern(re);
        std::string text = log();
        return static_cast<int>(std::distance(
            std::sregex_iterator(text.begin(), text.end(), pattern), std::sregex_iterator()));
    }

    TcpEchoBackend echo_{"e"};
    UdpEchoBackend udp_echo_{"u"};
    uint16_t udp_port_ = 0;
    Halo halo_;
    std::vector<pid_t> workers_;
};

TEST_F(LimitConnStreamTest, SecondSessionIsClosedUntilTheFirstEnds) {
    std::string port = std::to_string(halo_.port(0));
    // The first session (again while the count of a session of the harness's start-up probe
    // is still being given back: its log line comes just before).
    auto first = std::make_unique<TcpClient>();
    ASSERT_TRUE(wait_until([&] {
        first = std::make_unique<TcpClient>();
        return first->connect(halo_.port(0)) &&
               first->read(echo_.greeting().size()) == echo_.greeting();
    })) << log();
    int base_refused = count_lines(" 503 REJECTED " + port + "\n");
    int base_connections = echo_.connections();
    int base_passed = count_lines(" 200 PASSED " + port + "\n");

    // Refused sessions, until one was refused by the worker that does not hold the first (the
    // kernel spreads the connections of a reuseport listener): both count in one zone.
    pid_t holder = 0;
    for (pid_t w : workers_) {
        if (established_connections(w, halo_.port(0)) > 0) {
            holder = w;
        }
    }
    ASSERT_NE(holder, 0);
    pid_t other = workers_[0] == holder ? workers_[1] : workers_[0];
    std::string by_other = std::to_string(other) + " 503 REJECTED " + port + "\n";
    int refused = 0;
    for (int i = 0; i < 200 && count_lines(by_other) == 0; i++) {
        TcpClient second;
        ASSERT_TRUE(second.connect(halo_.port(0)));
        EXPECT_EQ(second.read(1), "");
        EXPECT_TRUE(second.closed());
        refused++;
        ASSERT_TRUE(wait_until([&] {
            return count_lines(" 503 REJECTED " + port + "\n") == base_refused + refused;
        })) << log();
    }
    EXPECT_GT(count_lines(by_other), 0) << log();
    EXPECT_EQ(echo_.connections(), base_connections);  // no refused session reached it
    EXPECT_NE(halo_.error_log().find("limiting connections by zone \"addr\""), std::string::npos)
        << halo_.error_log();

    // The first session ends: its count is given back as it is freed, after its log line.
    first->close();
    ASSERT_TRUE(wait_until([&] {
        return count_lines(" 200 PASSED " + port + "\n") == base_passed + 1;
    })) << log();
    bool passed = wait_until([&] {
        TcpClient next;
        return next.connect(halo_.port(0)) &&
               next.read(echo_.greeting().size()) == echo_.greeting();
    });
    EXPECT_TRUE(passed) << log();
    EXPECT_GT(echo_.connections(), base_connections);
}

TEST_F(LimitConnStreamTest, DryRunLetsTheSessionThrough) {
    std::string port = std::to_string(halo_.port(1));
    int base_connections = echo_.connections();
    TcpClient first;
    ASSERT_TRUE(first.connect(halo_.port(1)));
    ASSERT_EQ(first.read(echo_.greeting().size()), echo_.greeting());
    TcpClient second;
    ASSERT_TRUE(second.connect(halo_.port(1)));
    EXPECT_EQ(second.read(echo_.greeting().size()), echo_.greeting());
    EXPECT_EQ(echo_.connections(), base_connections + 2);
    second.close();
    EXPECT_TRUE(wait_until([&] {
        return count_lines(" 200 REJECTED_DRY_RUN " + port + "\n") >= 1;
    })) << log();
    EXPECT_NE(halo_.error_log().find("limiting connections, dry run, by zone \"addr\""),
              std::string::npos)
        << halo_.error_log();
}

TEST_F(LimitConnStreamTest, UdpSessionsCountToo) {
    // A UDP session (the datagrams of one client address and port) holds the client's count
    // until proxy_timeout: another client socket of the same address is refused, its
    // datagram never reaching the backend.
    std::string port = std::to_string(udp_port_);
    auto first = std::make_unique<UdpClient>(udp_port_);
    ASSERT_TRUE(wait_until([&] {
        first = std::make_unique<UdpClient>(udp_port_);
        return first->send("q1") && first->receive() == "u:q1";
    })) << log();
    int base_refused = count_lines(" 503 REJECTED " + port + "\n");
    int datagrams = udp_echo_.datagrams();
    UdpClient second(udp_port_);
    ASSERT_TRUE(second.send("q2"));
    EXPECT_TRUE(wait_until([&] {
        return count_lines(" 503 REJECTED " + port + "\n") == base_refused + 1;
    })) << log();
    EXPECT_EQ(udp_echo_.datagrams(), datagrams);
    // The first session goes on.
    ASSERT_TRUE(first->send("again"));
    EXPECT_EQ(first->receive(), "u:again");
}

TEST(LimitConnStreamConfigTest, ErrorsNameFileAndLine) {
    if (!halo_has_module("stream_limit_conn")) {
        GTEST_SKIP() << "stream_limit_conn is not compiled in";
    }
    struct Case {
        std::string conf;
        std::string message;
        int line;
    };
    const std::string head = "events { }\nstream {\n";
    const std::string server = " server { listen 127.0.0.1:1; proxy_pass 127.0.0.1:2;\n";
    const Case cases[] = {
        {head + server + "  limit_conn nozone 1;\n }\n}\n",
         "zero size shared memory zone \"nozone\"", 4},
        {head + " limit_conn_zone $binary_remote_addr zone=a;\n}\n", "invalid zone size \"zone=a\"",
         3},
        {head + " limit_conn_zone $binary_remote_addr zone=a:1m;\n" + server +
             "  limit_conn a 0;\n }\n}\n",
         "invalid number of connections \"0\"", 5},
        {head + " limit_conn_zone $binary_remote_addr zone=a:1m;\n" + server +
             "  limit_conn_status 429;\n }\n}\n",
         "\"limit_conn_status\" directive is not allowed here", 5},
    };
    for (const Case& c : cases) {
        Halo halo;
        halo.write_conf(c.conf);
        RunResult r = halo.run({"-t"});
        EXPECT_EQ(r.status, 1) << r;
        std::string want = "[emerg] " + c.message + " in " + halo.conf_path() + ":" +
                           std::to_string(c.line) + "\n";
        EXPECT_NE(r.err.find(want), std::string::npos) << "expected: " << want << r;
    }
}

}  // namespace
}  // namespace halo_test
