// How workers share the listening sockets: accept_mutex (only the holder accepts, a full
// worker lets the others take over), reuseport (the kernel spreads connections), and the
// worker_connections budget.
#include <memory>

#include "support/harness.h"

namespace halo_test {
namespace {

std::string conf(std::string_view events, std::string_view listen_params, int workers) {
    std::string c = "daemon off;\nworker_processes " + std::to_string(workers) +
                    ";\nerror_log logs/error.log notice;\n\nevents {\n";
    c += events;
    c += "}\n\nhttp {\n    server {\n        listen 127.0.0.1:%%PORT_0%%";
    c += listen_params;
    c += ";\n        location / {\n            return 200 \"ok\\n\";\n        }\n    }\n}\n";
    return c;
}

class AcceptTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_rewrite")) {
            GTEST_SKIP() << "the http_rewrite module is not compiled in";
        }
    }

    /// Opens `n` connections, one keepalive request on each (so each is accepted and idle).
    void open_idle(size_t n, std::vector<std::unique_ptr<HttpConnection>>& conns,
                   Millis timeout = 10s) {
        for (size_t i = 0; i < n; i++) {
            auto c = std::make_unique<HttpConnection>();
            ASSERT_TRUE(c->connect(halo_.port(0))) << "connection " << i << ": " << c->error();
            ASSERT_TRUE(c->send(get_request("/", "localhost", true)));
            auto r = c->read_response(timeout);
            ASSERT_TRUE(r) << "connection " << i << ": " << c->error();
            EXPECT_EQ(r->status, 200);
            EXPECT_EQ(r->header("connection"), "keep-alive");
            conns.push_back(std::move(c));
        }
    }

    /// A second request on every connection: all of them must still be served.
    void request_on_each(std::vector<std::unique_ptr<HttpConnection>>& conns) {
        for (size_t i = 0; i < conns.size(); i++) {
            ASSERT_TRUE(conns[i]->send(get_request("/", "localhost", true)));
            auto r = conns[i]->read_response(10s);
            ASSERT_TRUE(r) << "connection " << i << ": " << conns[i]->error();
            EXPECT_EQ(r->status, 200);
            EXPECT_EQ(r->body, "ok\n");
        }
    }

    std::vector<int> per_worker(const std::vector<pid_t>& workers) {
        std::vector<int> counts;
        for (pid_t w : workers) {
            counts.push_back(established_connections(w, halo_.port(0)));
        }
        return counts;
    }

    Halo halo_;
};

TEST_F(AcceptTest, AcceptMutexSecondWorkerTakesOverWhenFirstIsFull) {
    halo_.write_conf(conf("    accept_mutex on;\n    worker_connections 8;\n", "", 2));
    ASSERT_TRUE(halo_.start());
    auto workers = halo_.wait_workers(2);
    ASSERT_EQ(workers.size(), 2u);

    std::vector<std::unique_ptr<HttpConnection>> conns;
    open_idle(12, conns);
    ASSERT_EQ(conns.size(), 12u);
    request_on_each(conns);

    // 12 connections, at most 8 per worker: both workers hold some.
    std::vector<int> counts;
    ASSERT_TRUE(wait_until([&] {
        counts = per_worker(workers);
        return counts[0] + counts[1] == 12;
    })) << counts[0]
        << " + " << counts[1];
    EXPECT_LE(counts[0], 8);
    EXPECT_LE(counts[1], 8);
    EXPECT_GT(counts[0], 0);
    EXPECT_GT(counts[1], 0);
}

TEST_F(AcceptTest, WithoutAcceptMutexAFullWorkerLeavesConnectionsToTheOther) {
    halo_.write_conf(conf("    worker_connections 8;\n", "", 2));
    ASSERT_TRUE(halo_.start());
    auto workers = halo_.wait_workers(2);
    ASSERT_EQ(workers.size(), 2u);

    std::vector<std::unique_ptr<HttpConnection>> conns;
    open_idle(12, conns);
    ASSERT_EQ(conns.size(), 12u);
    request_on_each(conns);
    std::vector<int> counts = per_worker(workers);
    EXPECT_EQ(counts[0] + counts[1], 12);
    EXPECT_LE(counts[0], 8);
    EXPECT_LE(counts[1], 8);
}

TEST_F(AcceptTest, ReuseportSpreadsConnectionsOverWorkers) {
    halo_.write_conf(conf("    worker_connections 64;\n", " reuseport", 2));
    ASSERT_TRUE(halo_.start());
    auto workers = halo_.wait_workers(2);
    ASSERT_EQ(workers.size(), 2u);

    std::vector<std::unique_ptr<HttpConnection>> conns;
    open_idle(30, conns);
    ASSERT_EQ(conns.size(), 30u);

    std::vector<int> counts;
    ASSERT_TRUE(wait_until([&] {
        counts = per_worker(workers);
        return counts[0] + counts[1] == 30;
    })) << counts[0]
        << " + " << counts[1];
    // The kernel hashes connections over one socket per worker; with 30 connections all on
    // one worker is a 1 in 2^29 chance.
    EXPECT_GT(counts[0], 0);
    EXPECT_GT(counts[1], 0);
    request_on_each(conns);
}

TEST_F(AcceptTest, ReuseportWithAcceptMutexServes) {
    // nginx ignores accept_mutex for reuseport sockets: each worker has its own socket, and a
    // connection the kernel queued on a worker's socket can only be accepted by that worker.
    halo_.write_conf(conf("    accept_mutex on;\n    worker_connections 64;\n", " reuseport", 2));
    ASSERT_TRUE(halo_.start());
    ASSERT_EQ(halo_.wait_workers(2).size(), 2u);
    std::vector<std::unique_ptr<HttpConnection>> conns;
    open_idle(10, conns, 3s);
    ASSERT_EQ(conns.size(), 10u);
    request_on_each(conns);
}

TEST_F(AcceptTest, ConnectionBeyondBusyWorkerConnectionsWaitsForAFreeSlot) {
    halo_.write_conf(conf("    worker_connections 4;\n", "", 1));
    ASSERT_TRUE(halo_.start());
    ASSERT_EQ(halo_.wait_workers(1).size(), 1u);

    // Four connections in the middle of a request head: busy, not idle.
    std::vector<std::unique_ptr<HttpConnection>> conns;
    for (int i = 0; i < 4; i++) {
        auto c = std::make_unique<HttpConnection>();
        ASSERT_TRUE(c->connect(halo_.port(0)));
        ASSERT_TRUE(c->send("GET / HTTP/1.1\r\nHost: localhost\r\n"));
        conns.push_back(std::move(c));
    }
    ASSERT_TRUE(wait_until([&] {
        return halo_.error_log().find("are not enough") != std::string::npos ||
               established_connections(halo_.workers()[0], halo_.port(0)) == 4;
    }));

    // The fifth is accepted by the kernel only: no response while the worker is full.
    HttpConnection fifth;
    ASSERT_TRUE(fifth.connect(halo_.port(0)));
    ASSERT_TRUE(fifth.send(get_request("/", "localhost", false)));
    EXPECT_FALSE(fifth.read_response(1500ms)) << "served beyond worker_connections";
    EXPECT_NE(halo_.error_log().find("4 worker_connections are not enough"), std::string::npos);

    conns[0]->close();
    auto r = fifth.read_response(10s);
    ASSERT_TRUE(r) << fifth.error();
    EXPECT_EQ(r->status, 200);
    for (size_t i = 1; i < conns.size(); i++) {  // the busy ones were left alone
        ASSERT_TRUE(conns[i]->send("\r\n"));
        auto ri = conns[i]->read_response(10s);
        ASSERT_TRUE(ri) << "connection " << i << ": " << conns[i]->error();
        EXPECT_EQ(ri->status, 200);
    }
}

TEST_F(AcceptTest, ANewClientTakesTheSlotOfTheOldestIdleConnection) {
    halo_.write_conf(conf("    worker_connections 4;\n", "", 1));
    ASSERT_TRUE(halo_.start());
    ASSERT_EQ(halo_.wait_workers(1).size(), 1u);

    std::vector<std::unique_ptr<HttpConnection>> conns;
    open_idle(4, conns);
    ASSERT_EQ(conns.size(), 4u);

    // As nginx: the oldest idle keepalive connection is closed to serve the new client.
    HttpConnection fifth;
    ASSERT_TRUE(fifth.connect(halo_.port(0)));
    ASSERT_TRUE(fifth.send(get_request("/", "localhost", false)));
    auto r = fifth.read_response(10s);
    ASSERT_TRUE(r) << fifth.error();
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(conns[0]->wait_closed(5s));
    EXPECT_EQ(conns[0]->unread(), "");
    for (size_t i = 1; i < conns.size(); i++) {
        ASSERT_TRUE(conns[i]->send(get_request("/", "localhost", true)));
        auto ri = conns[i]->read_response(10s);
        ASSERT_TRUE(ri) << "connection " << i << ": " << conns[i]->error();
        EXPECT_EQ(ri->status, 200);
    }
    EXPECT_EQ(log_lines_with(halo_.error_log(),
                             "4 worker_connections are not enough, reusing connections")
                  .size(),
              1u)
        << halo_.error_log();
}

/// The lockout of issue 15: many more connections than worker_connections that send nothing
/// (or stay idle after a request) must not keep new clients out.
void every_new_client_is_answered(Halo& halo, bool keepalive_flood, bool accept_mutex) {
    std::string events = "    worker_connections 32;\n";
    if (accept_mutex) {
        events += "    accept_mutex on;\n";
    }
    halo.write_conf(conf(events, "", 2));
    ASSERT_TRUE(halo.start());
    ASSERT_EQ(halo.wait_workers(2).size(), 2u);

    std::vector<std::unique_ptr<HttpConnection>> flood;
    for (int i = 0; i < 200; i++) {
        auto c = std::make_unique<HttpConnection>();
        ASSERT_TRUE(c->connect(halo.port(0))) << i << ": " << c->error();
        if (keepalive_flood && i < 64) {  // the slots fill with idle keepalive connections
            ASSERT_TRUE(c->send(get_request("/", "localhost", true)));
            ASSERT_TRUE(c->read_response(10s)) << i << ": " << c->error();
        }
        flood.push_back(std::move(c));
    }
    int answered = 0;
    for (int i = 0; i < 12; i++) {
        HttpConnection c;
        ASSERT_TRUE(c.connect(halo.port(0)));
        ASSERT_TRUE(c.send(get_request("/", "localhost", false)));
        auto r = c.read_response(10s);
        if (r && r->status == 200 && r->body == "ok\n") {
            answered++;
        } else {
            ADD_FAILURE() << "new client " << i << ": " << c.error();
        }
    }
    EXPECT_EQ(answered, 12);
    EXPECT_FALSE(
        log_lines_with(halo.error_log(), "worker_connections are not enough, reusing").empty())
        << halo.error_log();
}

TEST_F(AcceptTest, SilentConnectionsDoNotLockNewClientsOut) {
    every_new_client_is_answered(halo_, false, false);
}

TEST_F(AcceptTest, IdleKeepaliveConnectionsDoNotLockNewClientsOut) {
    every_new_client_is_answered(halo_, true, false);
}

TEST_F(AcceptTest, SilentConnectionsDoNotLockNewClientsOutWithAcceptMutex) {
    every_new_client_is_answered(halo_, false, true);
}

}  // namespace
}  // namespace halo_test
