#pragma once

// A small HTTP/1.1 origin server for proxy and health-check tests: listens on a loopback
// port in the test process, one thread per connection, and lets each test decide how to
// answer (normally, slowly, with garbage, never, or by closing). Counts connections and
// requests so tests can see keepalive reuse and the balancers' distribution.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace halo_test {

struct BackendRequest {
    std::string method;
    std::string target;
    std::string version;
    std::map<std::string, std::string> headers;  // lower-case names (last one wins)
    std::string body;                            // de-chunked
    bool chunked = false;                        // the body came chunked
    int connection = 0;                          // index of the connection it came on
};

/// One accepted connection, for handlers that answer by hand.
class BackendConn {
  public:
    explicit BackendConn(int fd) : fd_(fd) {}
    int fd() const { return fd_; }
    /// Writes all of `data`; false when the peer is gone.
    bool send(std::string_view data);
    /// Reads what is there (waits up to `ms`); empty on EOF/timeout. Bytes read past the
    /// request head (a head-only backend) come first.
    std::string read_some(int ms = 5000);
    void set_pending(std::string bytes) { pending_ = std::move(bytes); }
    /// After the handler: close instead of reading the next request.
    void close_after() { close_ = true; }
    bool closing() const { return close_; }

  private:
    int fd_;
    bool close_ = false;
    std::string pending_;
};

/// Where a Backend listens instead of a loopback port: a unix socket at `path`.
struct UnixSocket {
    std::string path;
};

class Backend {
  public:
    /// Answers one request; the default handler is ok_handler("name").
    using Handler = std::function<void(BackendConn&, const BackendRequest&)>;

    explicit Backend(std::string name, Handler h = {});
    /// A backend on a unix socket (the file is created, and removed by stop()).
    Backend(std::string name, UnixSocket socket, Handler h = {});
    /// A backend on another loopback address (`ip` such as "127.0.0.2") and `port` (0: any):
    /// what a name resolving to several addresses with one port needs.
    Backend(std::string name, std::string ip, uint16_t port, Handler h = {});
    ~Backend();
    Backend(const Backend&) = delete;
    Backend& operator=(const Backend&) = delete;

    uint16_t port() const { return port_; }
    /// "127.0.0.1:PORT", or "unix:PATH" (as nginx's `server` takes it).
    std::string address() const {
        return unix_path_.empty() ? ip_ + ":" + std::to_string(port_) : "unix:" + unix_path_;
    }
    const std::string& name() const { return name_; }
    void set_handler(Handler h);
    /// With `on`, the handler is called as soon as the request head is in (the body empty in
    /// the request): it reads the body itself with read_some(); the connection closes after.
    void set_head_only(bool on) { head_only_ = on; }
    /// Stops accepting and closes every connection (a crashed backend). restart() listens
    /// again on the same port.
    void stop();
    bool restart();

    int connections() const { return connections_.load(); }
    int requests() const { return requests_.load(); }
    /// Every request seen so far (copies).
    std::vector<BackendRequest> seen() const;

    /// A 200 response with body "<name>\n" (or `body`), keep-alive as the request allows.
    static std::string ok_response(const std::string& body, bool close = false,
                                   const std::string& extra_headers = {});

  private:
    bool listen_on(uint16_t port);
    bool listen_unix();
    void accept_loop();
    void serve(int fd, int index);

    std::string name_;
    Handler handler_;
    mutable std::mutex mu_;
    int listen_fd_ = -1;
    uint16_t port_ = 0;
    std::string unix_path_;
    std::string ip_ = "127.0.0.1";
    std::thread acceptor_;
    std::vector<std::thread> workers_;
    std::vector<int> conn_fds_;
    std::atomic<int> connections_{0};
    std::atomic<int> requests_{0};
    std::atomic<bool> stopping_{false};
    std::atomic<bool> head_only_{false};
    std::vector<BackendRequest> seen_;
};

}  // namespace halo_test
