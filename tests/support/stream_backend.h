#pragma once

// Test backends for layer-4 (stream) proxy tests: TCP echo, UDP request/response, TLS
// pass-through and PROXY protocol servers, each listening on a free loopback port of the test
// process (one thread per TCP connection, one for a UDP socket), with counters the tests read
// and a stop()/restart() on the same port (a backend killed mid-test). Plus the clients that
// talk to them (directly, or through a proxy in front of them). No server of the project is
// needed: tests/integration/stream_backend_test.cc checks them on their own.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace halo_test {

using StreamMillis = std::chrono::milliseconds;

/// A TCP listener on 127.0.0.1 that runs `serve(fd, index)` on a thread of its own for each
/// accepted connection (index: 0, 1, ... in accept order) and closes the descriptor after it.
/// The building block of the TCP backends below.
class TcpAcceptor {
  public:
    using Serve = std::function<void(int fd, int index)>;

    explicit TcpAcceptor(Serve serve) : serve_(std::move(serve)) {}
    /// Stops (joins every thread).
    ~TcpAcceptor();
    TcpAcceptor(const TcpAcceptor&) = delete;
    TcpAcceptor& operator=(const TcpAcceptor&) = delete;

    /// Listens on `port` (0: a free one); false when the port cannot be bound.
    bool listen(uint16_t port = 0);
    /// Stops accepting, and shuts down every open connection (the serving threads see EOF),
    /// then waits for them: a crashed backend, whose port refuses connections.
    void stop();
    /// Listens again on the port of the first listen().
    bool restart();

    uint16_t port() const { return port_; }
    /// Connections accepted since the start (restarts included).
    int accepted() const { return accepted_.load(); }
    /// Connections being served now.
    int open() const { return open_.load(); }

  private:
    void accept_loop();
    void run(int fd, int index);

    Serve serve_;
    std::mutex mu_;
    int listen_fd_ = -1;
    uint16_t port_ = 0;
    std::thread acceptor_;
    std::vector<std::thread> workers_;
    std::vector<int> conn_fds_;
    std::atomic<int> accepted_{0};
    std::atomic<int> open_{0};
    std::atomic<bool> stopping_{false};
};

/// Writes all of `data` to `fd`; false when the peer is gone.
bool send_all(int fd, std::string_view data);

/// TCP echo: writes "hello from NAME\n" first (unless greeting is off), then sends back every
/// byte it reads until the client closes.
class TcpEchoBackend {
  public:
    explicit TcpEchoBackend(std::string name, bool greeting = true);
    ~TcpEchoBackend() { acceptor_.stop(); }

    const std::string& name() const { return name_; }
    uint16_t port() const { return acceptor_.port(); }
    /// "127.0.0.1:PORT", as a `server` line takes it.
    std::string address() const { return "127.0.0.1:" + std::to_string(port()); }
    /// "hello from NAME\n": what a client reads first.
    std::string greeting() const { return "hello from " + name_ + "\n"; }
    int connections() const { return acceptor_.accepted(); }
    int open_connections() const { return acceptor_.open(); }
    /// Bytes echoed so far, over all connections.
    uint64_t bytes() const { return bytes_.load(); }
    /// Connections that were sent the greeting (a connection counts as open before that).
    int greeted() const { return greeted_.load(); }
    void stop() { acceptor_.stop(); }
    bool restart() { return acceptor_.restart(); }

  private:
    void serve(int fd);

    std::string name_;
    bool greeting_;
    std::atomic<uint64_t> bytes_{0};
    std::atomic<int> greeted_{0};
    TcpAcceptor acceptor_;  // last: its threads use the members above
};

/// UDP request/response (DNS-shaped): answers each datagram with `replies` datagrams, each
/// "NAME:" + the datagram, to its source. replies 0: reads and never answers.
class UdpEchoBackend {
  public:
    explicit UdpEchoBackend(std::string name, int replies = 1);
    ~UdpEchoBackend() { stop(); }
    UdpEchoBackend(const UdpEchoBackend&) = delete;
    UdpEchoBackend& operator=(const UdpEchoBackend&) = delete;

    const std::string& name() const { return name_; }
    uint16_t port() const { return port_; }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    void set_replies(int n) { replies_ = n; }
    /// Datagrams received so far.
    int datagrams() const { return datagrams_.load(); }
    /// The distinct source ports seen, in order of first appearance (a proxy's sessions).
    std::vector<uint16_t> sources() const;
    /// Closes the socket (datagrams sent to the port get ICMP port unreachable).
    void stop();
    bool restart();

  private:
    bool open(uint16_t port);
    void run();

    std::string name_;
    std::atomic<int> replies_;
    int fd_ = -1;
    uint16_t port_ = 0;
    std::atomic<int> datagrams_{0};
    std::atomic<bool> stop_{false};
    mutable std::mutex mu_;
    std::vector<uint16_t> sources_;
    std::thread thread_;
};

/// TLS server with a fresh self-signed certificate (CN=NAME, EC P-256) of its own: after the
/// handshake it writes "tls NAME\n", then echoes what it reads. It records the SNI each client
/// sent, so a test proves that the client's handshake reached this server: the client sees
/// this certificate (fingerprint()) and the server saw the client's SNI. Needs OpenSSL (when
/// halo is built without it, port() is 0).
class TlsPassthroughBackend {
  public:
    explicit TlsPassthroughBackend(std::string name);
    ~TlsPassthroughBackend();

    const std::string& name() const { return name_; }
    uint16_t port() const { return acceptor_->port(); }
    std::string address() const { return "127.0.0.1:" + std::to_string(port()); }
    /// SHA-256 of the certificate (DER), 64 lower-case hex digits.
    const std::string& fingerprint() const { return fingerprint_; }
    /// PEM files of the certificate and its key (for a client that trusts it).
    const std::string& cert_file() const { return cert_file_; }
    const std::string& key_file() const { return key_file_; }
    int connections() const { return acceptor_->accepted(); }
    /// Handshakes completed.
    int handshakes() const { return handshakes_.load(); }
    /// Of those, the ones that resumed an earlier session.
    int resumed() const { return resumed_.load(); }
    /// The SNI of every completed handshake, in order ("" when the client sent none).
    std::vector<std::string> server_names() const;
    /// The last one ("" when none yet).
    std::string last_server_name() const;
    /// The ALPN protocols each completed handshake offered, comma-separated ("h2,http/1.1";
    /// "" without the extension), in order. The server selects none.
    std::vector<std::string> alpn_offers() const;
    void stop() { acceptor_->stop(); }
    bool restart() { return acceptor_->restart(); }

  private:
    struct Tls;
    void serve(int fd);

    std::string name_;
    std::string dir_;
    std::string cert_file_, key_file_;
    std::string fingerprint_;
    std::unique_ptr<Tls> tls_;
    std::atomic<int> handshakes_{0};
    std::atomic<int> resumed_{0};
    mutable std::mutex mu_;
    std::vector<std::string> server_names_;
    std::vector<std::string> alpn_offers_;
    std::unique_ptr<TcpAcceptor> acceptor_;
};

/// What a PROXY protocol header said (http://www.haproxy.org/download/2.6/doc/proxy-protocol.txt).
struct ProxyHeader {
    int version = 0;       // 1 or 2; 0 when no valid header came (see error)
    std::string command;   // v2: "PROXY" or "LOCAL"; v1: "PROXY"
    std::string family;    // "TCP4", "TCP6", "UDP4", "UDP6" (v2) or "UNKNOWN"
    std::string src_addr;  // text form; empty for UNKNOWN/LOCAL
    uint16_t src_port = 0;
    std::string dst_addr;
    uint16_t dst_port = 0;
    std::string error;  // why the connection was refused, when it was
};

/// Reads a PROXY protocol header (v1 or v2) at the start of each connection and records it,
/// then echoes the bytes after it. A connection without a valid header is recorded (error
/// set) and closed, as a server that requires the header does.
class ProxyProtocolBackend {
  public:
    explicit ProxyProtocolBackend(std::string name);
    ~ProxyProtocolBackend() { acceptor_.stop(); }

    const std::string& name() const { return name_; }
    uint16_t port() const { return acceptor_.port(); }
    std::string address() const { return "127.0.0.1:" + std::to_string(port()); }
    int connections() const { return acceptor_.accepted(); }
    /// One entry per connection that sent a header or closed trying, in order of completion.
    std::vector<ProxyHeader> headers() const;
    void stop() { acceptor_.stop(); }
    bool restart() { return acceptor_.restart(); }

  private:
    void serve(int fd);

    std::string name_;
    mutable std::mutex mu_;
    std::vector<ProxyHeader> headers_;
    TcpAcceptor acceptor_;  // last: its threads use the members above
};

/// Parses a PROXY protocol header at the start of `data`: the header and the bytes it took
/// (0 while `data` may still be the start of a valid header: read more), or an error.
struct ProxyParse {
    ProxyHeader header;
    size_t length = 0;
    bool need_more = false;
};
ProxyParse parse_proxy_header(std::string_view data);

// ---- clients ----------------------------------------------------------------------------------

/// Connects to 127.0.0.1:port, sends `bytes` (reading at the same time, so a large echo does
/// not block), and reads until what it read ends with `until` (default: `bytes`, the end of an
/// echo; when both are empty, until a newline), the peer closes, or `timeout` passes. Returns
/// everything read ("" when the connection failed).
std::string tcp_roundtrip(uint16_t port, std::string_view bytes,
                          std::optional<std::string> until = std::nullopt,
                          StreamMillis timeout = StreamMillis(5000));

/// Sends `bytes` as one datagram from a fresh socket on 127.0.0.1 and returns the first
/// datagram that comes back ("" after `timeout`).
std::string udp_roundtrip(uint16_t port, std::string_view bytes,
                          StreamMillis timeout = StreamMillis(2000));
/// The same, collecting up to `count` answers (stops early when none comes for `timeout`).
std::vector<std::string> udp_roundtrip_all(uint16_t port, std::string_view bytes, int count,
                                           StreamMillis timeout = StreamMillis(2000));

/// A UDP socket connected to 127.0.0.1:port that keeps its source port: several requests from
/// one client, as a proxy's UDP session sees them (proxy_requests, proxy_responses).
class UdpClient {
  public:
    explicit UdpClient(uint16_t port);
    ~UdpClient();
    UdpClient(const UdpClient&) = delete;
    UdpClient& operator=(const UdpClient&) = delete;

    /// The local (source) port, 0 when the socket could not be made.
    uint16_t local_port() const { return local_port_; }
    /// Sends one datagram; false on error (e.g. ECONNREFUSED after an ICMP port unreachable).
    bool send(std::string_view bytes);
    /// The next datagram, "" after `timeout` or on error.
    std::string receive(StreamMillis timeout = StreamMillis(2000));

  private:
    int fd_ = -1;
    uint16_t local_port_ = 0;
};

/// A TLS handshake with 127.0.0.1:port sending `sni` (none when empty) and offering the ALPN
/// protocols `alpn` (none when empty), no verification; then sends `bytes` and reads until a
/// newline has come and the answer ends with `bytes`. Returns what it read ("" when the
/// handshake failed) and the peer certificate's SHA-256 (64 hex digits) in
/// `*peer_fingerprint` when not null.
std::string tls_roundtrip(uint16_t port, std::string_view sni, std::string* peer_fingerprint,
                          std::string_view bytes = {}, const std::vector<std::string>& alpn = {},
                          StreamMillis timeout = StreamMillis(5000));

}  // namespace halo_test
