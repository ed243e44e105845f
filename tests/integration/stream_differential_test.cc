// Differential tests of the `stream` module: Debian's nginx 1.22 stream module (the reference)
// and halo run the SAME configuration, one after the other, on the same ports and in front of
// the same backends; the same client actions go to each, and what can be observed is compared:
// the bytes the client and the backends received, whether the proxy closed the connection (and
// how), half-close, UDP replies and sessions, the PROXY header's shape, and the access log lines
// of one log_format of stream variables ($session_time left out: it is the one value that may
// differ). Running them one after the other (not side by side) keeps every address the same,
// so `$upstream_addr` compares as is and `hash ... consistent` places the same ring of points.
//
// A difference fails the test unless the scenario lists it as intended (halo's documented
// behaviour, docs/stream.md), with the reason. Skipped when nginx or its stream module
// (libnginx-mod-stream) is not installed.
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "stream_diff.h"

namespace halo_test {
namespace {

using namespace stream_diff;

// ---- TCP
// -----------------------------------------------------------------------------------------

TEST_F(StreamDifferentialTest, TcpEcho) {
    TcpEchoBackend e1("e1");
    uint16_t p = free_port();
    std::string big = pattern_bytes(300000);  // past the copy path: the splice one
    differential(
        {"    server { listen 127.0.0.1:" + port_text(p) + "; proxy_pass " + e1.address() + "; }\n",
         2, [&](Observed& o) {
             int before = static_cast<int>(e1.bytes());
             {
                 Client c(p);
                 o.emplace_back("greeting", c.read_until("\n"));
                 c.send("ping\n");
                 o.emplace_back("echo", c.read_until("ping\n"));
             }
             {
                 Client c(p);
                 c.read_until("\n");
                 c.send(big);
                 bool same = c.read_until(big).ends_with(big);
                 o.emplace_back("big echo", same ? "equal" : "differs");
             }
             wait_until([&] { return e1.open_connections() == 0; });
             o.emplace_back("backend bytes", std::to_string(static_cast<int>(e1.bytes()) - before));
         }});
}

/// The client half-closes: `proxy_half_close off` (nginx's default) ends the session once the
/// client's bytes are delivered; `on` passes the FIN on and waits for the backend's answer.
TEST_F(StreamDifferentialTest, ClientHalfClose) {
    ScriptBackend tally(ScriptBackend::Mode::kTally);
    uint16_t off = free_port(), on = free_port();
    std::string pass = "proxy_pass " + tally.address() + ";";
    differential({"    server { listen 127.0.0.1:" + port_text(off) + "; " + pass + " }\n" +
                      "    server { listen 127.0.0.1:" + port_text(on) + "; " + pass +
                      " proxy_half_close on; }\n",
                  2, [&](Observed& o) {
                      size_t before = tally.reads().size();
                      for (uint16_t port : {off, on}) {
                          std::string tag = port == off ? "off " : "on ";
                          Client c(port);
                          c.send("abc");
                          c.shutdown_write();
                          o.emplace_back(tag + "closed", c.wait_closed());
                          o.emplace_back(tag + "client got", c.got());
                          wait_until([&] { return tally.reads().size() > before; });
                          std::vector<std::string> r = tally.reads();
                          o.emplace_back(tag + "backend got",
                                         r.size() > before ? r[before] : "(nothing)");
                          before = r.size();
                      }
                  }});
}

/// The backend half-closes first ("bye", then FIN) and reads on: without proxy_half_close the
/// session ends; with it, what the client sends after the FIN still reaches the backend.
TEST_F(StreamDifferentialTest, UpstreamHalfClose) {
    ScriptBackend bye(ScriptBackend::Mode::kByeFirst);
    uint16_t off = free_port(), on = free_port();
    std::string pass = "proxy_pass " + bye.address() + ";";
    differential({"    server { listen 127.0.0.1:" + port_text(off) + "; " + pass + " }\n" +
                      "    server { listen 127.0.0.1:" + port_text(on) + "; " + pass +
                      " proxy_half_close on; }\n",
                  2, [&](Observed& o) {
                      size_t before = bye.reads().size();
                      for (uint16_t port : {off, on}) {
                          std::string tag = port == off ? "off " : "on ";
                          Client c(port);
                          o.emplace_back(tag + "closed", c.wait_closed());
                          o.emplace_back(tag + "client got", c.got());
                          c.send("late");
                          c.shutdown_write();
                          wait_until([&] { return bye.reads().size() > before; });
                          std::vector<std::string> r = bye.reads();
                          o.emplace_back(tag + "backend got",
                                         r.size() > before ? r[before] : "(nothing)");
                          before = r.size();
                      }
                  }});
}

/// The backend resets the connection: the session ends (nginx takes a failed recv() as the
/// end of that side: status 200, "upstream disconnected").
TEST_F(StreamDifferentialTest, UpstreamReset) {
    ScriptBackend reset(ScriptBackend::Mode::kReset);
    uint16_t p = free_port();
    differential({"    server { listen 127.0.0.1:" + port_text(p) + "; proxy_pass " +
                      reset.address() + "; }\n",
                  1, [&](Observed& o) {
                      Client c(p);
                      c.send("x\n");
                      o.emplace_back("closed", c.wait_closed());
                      o.emplace_back("client got", c.got());
                  }});
}

/// A refused connect tries the next server ($upstream_addr lists both, $upstream_bytes_* one
/// value each); when every server refuses, or with proxy_next_upstream off, the session ends
/// with 502.
TEST_F(StreamDifferentialTest, RefusedUpstreamNextAnd502) {
    TcpEchoBackend e1("e1");
    uint16_t refused1 = free_port(), refused2 = free_port();
    uint16_t next = free_port(), none = free_port(), off = free_port();
    auto addr = [](uint16_t port) { return "127.0.0.1:" + std::to_string(port); };
    differential({"    upstream next { server " + addr(refused1) + "; server " + e1.address() +
                      "; }\n"
                      "    upstream none { server " +
                      addr(refused1) + "; server " + addr(refused2) +
                      "; }\n"
                      "    upstream first { server " +
                      addr(refused1) + "; server " + e1.address() +
                      "; }\n"
                      "    server { listen 127.0.0.1:" +
                      port_text(next) +
                      "; proxy_pass next; }\n"
                      "    server { listen 127.0.0.1:" +
                      port_text(none) +
                      "; proxy_pass none; }\n"
                      "    server { listen 127.0.0.1:" +
                      port_text(off) + "; proxy_pass first; proxy_next_upstream off; }\n",
                  3, [&](Observed& o) {
                      {
                          Client c(next);
                          c.read_until("\n");
                          c.send("x\n");
                          o.emplace_back("next got", c.read_until("x\n"));
                      }
                      // (nothing sent: bytes the proxy has not read when it closes would make
                      // the close a reset or not depending on timing)
                      {
                          Client c(none);
                          o.emplace_back("none closed", c.wait_closed());
                          o.emplace_back("none got", c.got());
                      }
                      Client c(off);
                      o.emplace_back("next off closed", c.wait_closed());
                      o.emplace_back("next off got", c.got());
                  }});
}

/// proxy_connect_timeout: a connect that never completes (a full accept queue) times out and
/// the next server is tried.
TEST_F(StreamDifferentialTest, ConnectTimeoutToBlackhole) {
    Blackhole hole;
    if (!hole.holds()) {
        GTEST_SKIP() << "a full accept queue does not hold a connect here";
    }
    TcpEchoBackend e1("e1");
    uint16_t p = free_port();
    differential({"    upstream g { server " + hole.address() + "; server " + e1.address() +
                      "; }\n"
                      "    server { listen 127.0.0.1:" +
                      port_text(p) + "; proxy_pass g; proxy_connect_timeout 300ms; }\n",
                  1, [&](Observed& o) {
                      Client c(p);
                      o.emplace_back("greeting", c.read_until("\n", 10s));
                  }});
}

/// proxy_timeout: a session in which nothing moves is closed.
TEST_F(StreamDifferentialTest, ProxyTimeoutIdleClose) {
    TcpEchoBackend e1("e1");
    uint16_t p = free_port();
    differential({"    server { listen 127.0.0.1:" + port_text(p) + "; proxy_pass " + e1.address() +
                      "; proxy_timeout 300ms; }\n",
                  1, [&](Observed& o) {
                      Client c(p);
                      o.emplace_back("greeting", c.read_until("\n"));
                      o.emplace_back("closed", c.wait_closed(10s));
                      wait_until([&] { return e1.open_connections() == 0; });
                      o.emplace_back("backend open", std::to_string(e1.open_connections()));
                  }});
}

/// $bytes_received and the bytes read in the preread phase: nginx 1.22 reads them out of the
/// socket into a buffer it hands to the proxy without counting them, so its $bytes_received
/// leaves out the ClientHello (or whatever the client sent before the content phase). Since
/// 1.25.5 nginx peeks at them (recv MSG_PEEK, "Stream: socket peek in preread phase") and the
/// proxy reads and counts them like any other byte, as the variable is documented ("number of
/// bytes received from a client"). halo counts them once the proxy passes them on, as nginx
/// does now (docs/stream.md, Variables); bytes that never reach the proxy (a full preread
/// buffer, a refused PROXY header) count in neither.
constexpr char kPrereadReceived[] =
    "intended: halo's $bytes_received counts the bytes read in the preread phase, as nginx's "
    "documentation and nginx since 1.25.5 do; nginx 1.22 leaves them out";

/// ssl_preread with a client that sends nothing: once preread_timeout passes, the session ends
/// (status 200, no upstream, $ssl_preread_server_name not found); a client that sends
/// something other than a ClientHello goes on at once, to the map's default.
TEST_F(StreamDifferentialTest, PrereadTimeoutAndNotTls) {
    TcpEchoBackend dflt("default"), named("named");
    uint16_t p = free_port();
    Observations r = differential(
        {"    map $ssl_preread_server_name $be {\n"
         "        default " +
             dflt.address() + ";\n        a.example " + named.address() +
             ";\n    }\n"
             "    server { listen 127.0.0.1:" +
             port_text(p) + "; ssl_preread on; preread_timeout 300ms; proxy_pass $be; }\n",
         2,
         [&](Observed& o) {
             {
                 Client c(p);
                 o.emplace_back("silent client got", c.read_until("\n", 10s));
             }
             Client c(p);
             c.send("hello\n");
             o.emplace_back("plain client got", c.read_until("hello\n"));
         },
         {{"log field 4", kPrereadReceived}},
         {kBytesReceived}});
    EXPECT_EQ(r.halo["log field 4"], "0 ; 6");  // the plain client's 6 bytes, passed on
}

/// ssl_preread routing: a map on $ssl_preread_server_name picks the upstream; the client's
/// handshake reaches that backend (its certificate, its SNI).
TEST_F(StreamDifferentialTest, SslPrereadRoutesOnSni) {
    TlsPassthroughBackend a("a"), b("b"), dflt("d");
    if (a.port() == 0) {
        GTEST_SKIP() << "the TLS backend needs OpenSSL";
    }
    uint16_t p = free_port();
    const TlsPassthroughBackend* all[] = {&a, &b, &dflt};
    Observations r =
        differential({"    map $ssl_preread_server_name $be {\n"
                      "        a.example " +
                          a.address() + ";\n        b.example " + b.address() +
                          ";\n        default " + dflt.address() +
                          ";\n    }\n"
                          "    server { listen 127.0.0.1:" +
                          port_text(p) + "; ssl_preread on; proxy_pass $be; }\n",
                      3,
                      [&](Observed& o) {
                          for (const char* sni : {"a.example", "b.example", "other.example"}) {
                              std::string fp;
                              std::string got = tls_roundtrip(p, sni, &fp, "x\n");
                              o.emplace_back(std::string(sni) + " got", got);
                              std::string who = "(unknown certificate)";
                              for (const TlsPassthroughBackend* t : all) {
                                  if (t->fingerprint() == fp) {
                                      who = t->name() + " sni=" + t->last_server_name();
                                  }
                              }
                              o.emplace_back(std::string(sni) + " reached", who);
                          }
                      },
                      {{"log field 4", kPrereadReceived}},
                      {kBytesReceived},
                      {kBytesSent, kUpReceived}});
    // halo's count has the ClientHello on top of what nginx 1.22 counts
    std::istringstream n(r.nginx["log field 4"]), h(r.halo["log field 4"]);
    for (int i = 0; i < 3; i++) {
        std::string nv, hv, sep;
        n >> nv >> sep;
        h >> hv >> sep;
        EXPECT_GT(std::atoi(hv.c_str()), std::atoi(nv.c_str()) + 100) << i;
    }
}

/// allow/deny: a denied client is closed with status 403 and no upstream.
TEST_F(StreamDifferentialTest, AllowDeny) {
    TcpEchoBackend e1("e1");
    uint16_t denied = free_port(), allowed = free_port();
    std::string pass = " proxy_pass " + e1.address() + "; }\n";
    differential({"    server { listen 127.0.0.1:" + port_text(denied) +
                      "; deny 127.0.0.1; allow all;" + pass + "    server { listen 127.0.0.1:" +
                      port_text(allowed) + "; allow 127.0.0.1; deny all;" + pass,
                  2, [&](Observed& o) {
                      {
                          Client c(denied);
                          c.send("x\n");
                          o.emplace_back("denied closed", c.wait_closed());
                          o.emplace_back("denied got", c.got());
                      }
                      Client c(allowed);
                      o.emplace_back("allowed got", c.read_until("\n"));
                  }});
}

/// proxy_protocol on: the backend reads a PROXY v1 header of the client's and the listening
/// addresses (the client's port is compared by shape: it differs from run to run).
TEST_F(StreamDifferentialTest, ProxyProtocolToBackend) {
    ProxyProtocolBackend pp("pp");
    uint16_t p = free_port();
    differential({"    server { listen 127.0.0.1:" + port_text(p) + "; proxy_pass " + pp.address() +
                      "; proxy_protocol on; }\n",
                  1, [&](Observed& o) {
                      size_t before = pp.headers().size();
                      {
                          Client c(p);
                          c.send("hi");
                          o.emplace_back("echo", c.read_until("hi"));
                      }
                      wait_until([&] { return pp.headers().size() > before; });
                      std::vector<ProxyHeader> h = pp.headers();
                      if (h.size() <= before) {
                          o.emplace_back("header", "(none)");
                          return;
                      }
                      const ProxyHeader& x = h[before];
                      o.emplace_back("header", "v" + std::to_string(x.version) + " " + x.command +
                                                   " " + x.family + " " + x.src_addr + " " +
                                                   x.dst_addr + " dst_port " +
                                                   std::to_string(x.dst_port) + " src_port " +
                                                   (x.src_port != 0 ? "set" : "0") + x.error);
                  }});
}

/// listen ... proxy_protocol: the client's PROXY header gives $proxy_protocol_addr, and
/// `proxy_protocol on` sends the backend the connection's own addresses (nginx writes the
/// header from the connection, which only the realip module would change); a bad header ends
/// the session with 400.
TEST_F(StreamDifferentialTest, ProxyProtocolListen) {
    ProxyProtocolBackend pp("pp");
    uint16_t p = free_port();
    Observations r = differential(
        {"    server { listen 127.0.0.1:" + port_text(p) + " proxy_protocol; proxy_pass " +
             pp.address() + "; proxy_protocol on; }\n",
         2,
         [&](Observed& o) {
             size_t before = pp.headers().size();
             {
                 Client c(p);
                 c.send("PROXY TCP4 10.1.2.3 10.4.5.6 1111 2222\r\nhi");
                 o.emplace_back("echo", c.read_until("hi"));
             }
             wait_until([&] { return pp.headers().size() > before; });
             std::vector<ProxyHeader> h = pp.headers();
             o.emplace_back("header", h.size() > before
                                          ? h[before].family + " " + h[before].src_addr + " " +
                                                h[before].dst_addr
                                          : "(none)");
             Client c(p);
             c.send("GARBAGE\r\n");
             o.emplace_back("bad header closed", c.wait_closed());
             o.emplace_back("bad header got", c.got());
         },
         {{"bad header closed",
           "intended: nginx peeks at the PROXY header (MSG_PEEK) and closes with the "
           "bytes unread, so the kernel resets the connection; halo has read them, so "
           "its close is a FIN. Either way the session ends at once, with 400"}}});
    EXPECT_EQ(r.halo["bad header closed"], "eof");
}

/// ssl_preread with a ClientHello larger than preread_buffer_size: the session ends (400).
TEST_F(StreamDifferentialTest, PrereadBufferFull) {
    TlsPassthroughBackend t("t");
    if (t.port() == 0) {
        GTEST_SKIP() << "the TLS backend needs OpenSSL";
    }
    uint16_t p = free_port();
    differential({"    server { listen 127.0.0.1:" + port_text(p) +
                      "; ssl_preread on; preread_buffer_size 64; proxy_pass " + t.address() +
                      "; }\n",
                  1, [&](Observed& o) {
                      std::string fp;
                      o.emplace_back("got", tls_roundtrip(p, "a.example", &fp, "x\n"));
                      o.emplace_back("backend connections", std::to_string(t.connections()));
                  }});
}

/// hash (consistent or not): every connection of a client goes to one backend, the one nginx
/// picks: the same addresses give the same hash and the same ring of points. $remote_addr is
/// one key for every connection here; $remote_port, with clients bound to the same six source
/// ports for both proxies, spreads them over the three backends as nginx does.
TEST_F(StreamDifferentialTest, HashPicksAsNginx) {
    TcpEchoBackend e1("e1"), e2("e2"), e3("e3");
    uint16_t by_addr = free_port(), by_port = free_port(), by_port_plain = free_port();
    std::vector<uint16_t> sources;
    for (int i = 0; i < 6; i++) {
        sources.push_back(free_port());
    }
    std::string servers =
        " server " + e1.address() + "; server " + e2.address() + "; server " + e3.address() + ";";
    auto server = [](uint16_t port, const std::string& group) {
        return "    server { listen 127.0.0.1:" + std::to_string(port) + "; proxy_pass " + group +
               "; }\n";
    };
    differential({"    upstream a { hash $remote_addr consistent;" + servers + " }\n" +
                      "    upstream p { hash $remote_port consistent;" + servers + " }\n" +
                      "    upstream q { hash $remote_port;" + servers + " }\n" +
                      server(by_addr, "a") + server(by_port, "p") + server(by_port_plain, "q"),
                  15, [&](Observed& o) {
                      for (int i = 0; i < 3; i++) {
                          Client c(by_addr);
                          o.emplace_back("remote_addr " + std::to_string(i), c.read_until("\n"));
                      }
                      for (uint16_t port : {by_port, by_port_plain}) {
                          std::string tag =
                              port == by_port ? "remote_port consistent " : "remote_port hash ";
                          for (size_t i = 0; i < sources.size(); i++) {
                              Client c(port, sources[i]);
                              o.emplace_back(tag + std::to_string(i),
                                             c.connected() ? c.read_until("\n") : "(no connect)");
                          }
                      }
                  }});
}

/// The balancers pick the peers nginx picks, in the same order: smooth weighted round robin,
/// least_conn with connections held open, a backup server once the primary is refused, and a
/// `down` server never.
TEST_F(StreamDifferentialTest, BalancingAsNginx) {
    TcpEchoBackend e1("e1"), e2("e2"), e3("e3"), b1("b1");
    uint16_t refused = free_port();
    uint16_t wrr = free_port(), lc = free_port(), backup = free_port();
    auto server = [](uint16_t port, const std::string& group) {
        return "    server { listen 127.0.0.1:" + std::to_string(port) + "; proxy_pass " + group +
               "; }\n";
    };
    differential({"    upstream w { server " + e1.address() + " weight=5; server " + e2.address() +
                      "; server " + e3.address() + " weight=2; server " + b1.address() +
                      " down; }\n" + "    upstream l { least_conn; server " + e1.address() +
                      "; server " + e2.address() + "; server " + e3.address() + "; }\n" +
                      "    upstream b { server 127.0.0.1:" + std::to_string(refused) + "; server " +
                      b1.address() + " backup; }\n" + server(wrr, "w") + server(lc, "l") +
                      server(backup, "b"),
                  16, [&](Observed& o) {
                      for (int i = 0; i < 8; i++) {
                          Client c(wrr);
                          o.emplace_back("wrr " + std::to_string(i), c.read_until("\n"));
                      }
                      {
                          std::vector<std::unique_ptr<Client>> held;
                          for (int i = 0; i < 5; i++) {
                              held.push_back(std::make_unique<Client>(lc));
                              o.emplace_back("least_conn " + std::to_string(i),
                                             held.back()->read_until("\n"));
                              if (i == 2) {
                                  held[1].reset();  // e2's connection ends: it has the fewest now
                                  wait_until([&] { return e2.open_connections() == 0; });
                              }
                          }
                      }
                      for (int i = 0; i < 3; i++) {
                          Client c(backup);
                          o.emplace_back("backup " + std::to_string(i), c.read_until("\n"));
                      }
                  }});
}

// ---- UDP
// -----------------------------------------------------------------------------------------

/// UDP sessions: proxy_responses 1 (one reply per datagram ends the session), proxy_responses 0
/// (no reply expected: the session ends once the datagram is sent, and a reply has nowhere to
/// go), proxy_requests 2 (the session waits for the client's second datagram and its reply;
/// the third datagram starts a new session, which ends at proxy_timeout), and a backend that
/// never answers (proxy_timeout before the expected reply: 502).
///
/// Left out: a backend that sends two replies to a datagram with proxy_responses 1. nginx
/// reads every reply already queued on the upstream socket before it checks the count, so the
/// client gets one or both depending on how fast the second came; halo stops at the first.
TEST_F(StreamDifferentialTest, UdpResponsesAndRequests) {
    UdpEchoBackend one("one", 1), zero("zero", 1), req("req", 1), silent("silent", 0);
    uint16_t r1 = free_port(), r0 = free_port(), rq = free_port(), quiet = free_port();
    auto server = [](uint16_t port, const UdpEchoBackend& b, const std::string& more) {
        return "    server { listen 127.0.0.1:" + std::to_string(port) + " udp; proxy_pass " +
               b.address() + "; proxy_timeout 1s; " + more + " }\n";
    };
    differential({server(r1, one, "proxy_responses 1;") + server(r0, zero, "proxy_responses 0;") +
                      server(rq, req, "proxy_responses 1; proxy_requests 2;") +
                      server(quiet, silent, "proxy_responses 1;"),
                  5, [&](Observed& o) {
                      {
                          UdpClient c(r1);
                          c.send("q1");
                          o.emplace_back("responses 1: reply", c.receive());
                      }
                      {
                          int before = zero.datagrams();
                          UdpClient c(r0);
                          c.send("q0");
                          wait_until([&] { return zero.datagrams() > before; });
                          o.emplace_back("responses 0: backend datagrams",
                                         std::to_string(zero.datagrams() - before));
                          o.emplace_back("responses 0: reply", c.receive(300ms));
                      }
                      {
                          size_t sources = req.sources().size();
                          UdpClient c(rq);
                          for (const char* q : {"a", "b", "c"}) {
                              c.send(q);
                              o.emplace_back(std::string("requests 2: ") + q, c.receive());
                          }
                          o.emplace_back("requests 2: backend sessions",
                                         std::to_string(req.sources().size() - sources));
                      }
                      UdpClient c(quiet);
                      c.send("q");
                      o.emplace_back("silent: reply", c.receive(300ms));
                  }});
}

/// UDP and allow/deny: a denied datagram ends its session with 403, nothing forwarded.
TEST_F(StreamDifferentialTest, UdpDeny) {
    UdpEchoBackend live("live", 1);
    uint16_t denied = free_port();
    differential({"    server { listen 127.0.0.1:" + port_text(denied) +
                      " udp; deny 127.0.0.1; proxy_pass " + live.address() +
                      "; proxy_responses 1; }\n",
                  1, [&](Observed& o) {
                      int before = live.datagrams();
                      UdpClient c(denied);
                      c.send("d");
                      o.emplace_back("reply", c.receive(300ms));
                      o.emplace_back("forwarded", std::to_string(live.datagrams() - before));
                  }});
}

/// A UDP peer whose port is closed answers the first datagram with ICMP port unreachable.
/// nginx 1.22 takes the failed recv() as the end of the session ("recv() failed (111:
/// Connection refused) while proxying and reading from upstream", status 200): the client's
/// datagram is lost although the group has a live peer. halo fails that peer and resends the
/// datagram to the next one (docs/stream.md, How a session runs: UDP), as a TCP connect that
/// is refused goes to the next peer in both: intended, and asserted as such.
TEST_F(StreamDifferentialTest, UdpUnreachablePeerThenNext) {
    UdpEchoBackend live("live", 1), closed("closed", 1);
    closed.stop();  // its port answers with ICMP port unreachable
    uint16_t p = free_port();
    constexpr char kNext[] =
        "intended: halo sends the datagram to the next peer after an ICMP port unreachable "
        "(nginx 1.22 ends the session and the datagram is lost)";
    Observations r =
        differential({"    upstream g { server " + closed.address() + "; server " + live.address() +
                          "; }\n"
                          "    server { listen 127.0.0.1:" +
                          port_text(p) + " udp; proxy_pass g; proxy_responses 1; }\n",
                      1,
                      [&](Observed& o) {
                          UdpClient c(p);
                          c.send("g");
                          o.emplace_back("reply", c.receive());
                      },
                      {{"reply", kNext},
                       {"log field 3", kNext},
                       {"log field 5", kNext},
                       {"log field 6", kNext},
                       {"log field 7", kNext}},
                      {kBytesSent, kUpAddr, kUpSent, kUpReceived}});
    EXPECT_EQ(r.halo["reply"], "live:g");
    EXPECT_EQ(r.halo["log field 5"], closed.address() + ", " + live.address());
    EXPECT_EQ(r.halo["log field 7"], "0, 6");
}

}  // namespace
}  // namespace halo_test
